/* STUN Binding (RFC 8489, formerly 5389) as used by agent.md §5.2: a request builder and a strict,
 * bounded parser for Binding success responses. Pure: no I/O, no logging. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STUN_HEADER_SIZE	     20
#define STUN_TXID_SIZE		     12
#define STUN_MAGIC_COOKIE	     UINT32_C(0x2112A442)
#define STUN_BINDING_REQUEST	     0x0001
#define STUN_BINDING_SUCCESS	     0x0101
#define STUN_ATTR_MAPPED_ADDRESS     0x0001
#define STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define STUN_ATTR_FINGERPRINT	     0x8028
/* Upper bound of a response we look at; larger datagrams are not STUN answers to a Binding
 * request without attributes. */
#define STUN_MAX_MESSAGE 1280

/* Writes a 20-byte Binding Request (no attributes) with the given transaction id. */
void stun_build_binding_request(const uint8_t txid[STUN_TXID_SIZE], uint8_t out[STUN_HEADER_SIZE]);

/* Fills txid from the kernel CSPRNG. */
int stun_txid_random(uint8_t txid[STUN_TXID_SIZE]);

/* Cheap pre-check for demultiplexing: true when buf starts with a STUN header carrying the magic
 * cookie and this transaction id (any message type). */
bool stun_header_matches(const uint8_t *buf, size_t len, const uint8_t txid[STUN_TXID_SIZE]);

/* Parses a Binding success response to the transaction txid and returns the IPv4 mapped address
 * (XOR-MAPPED-ADDRESS preferred, MAPPED-ADDRESS otherwise), network byte order in *ret.
 * Errors:
 *   -EBADMSG      malformed: short, bad length/padding, attribute overrunning the message,
 *                 bad address attribute, FINGERPRINT not last or not matching
 *   -ESRCH        magic cookie or transaction id differs (not an answer to us)
 *   -ENOMSG       another message type (e.g. an error response 0x0111)
 *   -EPROTO       an unknown comprehension-required attribute (RFC 8489 §6.3.3: discard)
 *   -EAFNOSUPPORT only IPv6 mapped addresses
 *   -ENOENT       no mapped address attribute
 * Never reads outside buf[0..len). *ret is written only on success. */
int stun_parse_binding_response(const uint8_t *buf, size_t len, const uint8_t txid[STUN_TXID_SIZE],
				struct sockaddr_in *ret);
