/* Scalar formats of the wire contract (control-plane-api.md §1.2) and agent.md host:port. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 1–128 chars of A-Z a-z 0-9 - . _ ~, never "." or "..". */
bool id_is_valid(const char *s);
/* The same for s[0..n) (received bytes, not NUL-terminated; a NUL inside is refused). */
bool id_is_valid_n(const char *s, size_t n);
/* Every char in 0x20–0x7E, none of " \ < > & (§6.1). */
bool header_safe(const char *s, size_t len);

struct ipv4_prefix {
	struct in_addr addr; /* network byte order, host bits kept as given */
	uint8_t len;
};
/* "a.b.c.d/n" (n 0–32); "a.b.c.d" alone when allow_bare (len 32). */
int ipv4_prefix_parse(const char *s, bool allow_bare, struct ipv4_prefix *ret);
bool ipv4_prefix_contains(const struct ipv4_prefix *p, struct in_addr a);
bool ipv4_prefix_overlaps(const struct ipv4_prefix *a, const struct ipv4_prefix *b);
int ipv4_addr_parse(const char *s, struct in_addr *ret);

/* endpoint: "1.2.3.4:51820" or "[v6]:port"; port 1–65535. Fills a sockaddr_storage
 * (sockaddr_in or sockaddr_in6). Host names are rejected (-EINVAL), and so is the empty
 * string, which the wire uses for "unknown": callers test for "" first. */
struct sockaddr_storage;
int endpoint_parse(const char *s, struct sockaddr_storage *ret);
/* Writes "ip:port" / "[ip]:port". */
int endpoint_format(const struct sockaddr_storage *sa, char *out, size_t size);

/* host:port of agent.md §1.2: IPv4 literal, [IPv6], or a host name; port 1–65535.
 * *ret_host is malloc'd without brackets. */
int hostport_parse(const char *s, char **ret_host, uint16_t *ret_port);

/* sha256hex: accepts "sha256:<64 hex>" or bare 64 hex, any case. */
int sha256hex_parse(const char *s, uint8_t out[32]);
