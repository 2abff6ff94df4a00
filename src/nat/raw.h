/* UDP from a port another socket owns (agent.md §5.2 rule 2): datagrams are sent through a raw
 * IPv4 socket with a chosen source port, and answers are read as the copies of inbound UDP
 * datagrams that the kernel hands to raw sockets. Works whether kernel WireGuard or wireguard-go
 * holds the port. Needs CAP_NET_RAW. The packet builder and parser are pure. */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RAW_UDP_HEADER 8
#define RAW_MAX_PACKET 2048

/* Opens a non-blocking, close-on-exec SOCK_RAW/IPPROTO_UDP socket and attaches a classic BPF
 * filter that passes only UDP datagrams to local_port whose payload carries the STUN magic
 * cookie. -EPERM/-EACCES without CAP_NET_RAW. */
int raw_udp_open(uint16_t local_port, int *ret_fd);

/* Sends payload to dst with UDP source port src_port. The source address is the one the kernel
 * would choose for dst (route lookup via a connected datagram socket), which the checksum needs. */
int raw_udp_send(int fd, uint16_t src_port, const struct sockaddr_in *dst, const void *payload,
		 size_t len);

/* Reads one datagram copy; returns the payload length and its sender, -EAGAIN when nothing is
 * queued, -ENOMSG for a packet that is not UDP to local_port (skip it and read again). */
ssize_t raw_udp_recv(int fd, uint16_t local_port, struct sockaddr_in *ret_src, void *buf,
		     size_t size);

/* Pure: UDP header + payload with the checksum over the IPv4 pseudo header (src/dst in network
 * order). Returns the bytes written, -ENOBUFS if out is too small, -EMSGSIZE above 65507. */
ssize_t raw_udp_build(struct in_addr src, uint16_t src_port, const struct sockaddr_in *dst,
		      const void *payload, size_t len, uint8_t *out, size_t out_size);

/* Pure: parses an IPv4 packet as a raw socket returns it. Accepts only unfragmented UDP to
 * want_dport with consistent lengths. The UDP checksum is not verified: with checksum offload
 * (veth, local traffic) the copy may carry only a partial sum; STUN transaction matching
 * protects the caller instead. Returns 0 and points *ret_payload into pkt. */
int raw_ipv4_udp_parse(const uint8_t *pkt, size_t len, uint16_t want_dport,
		       struct sockaddr_in *ret_src, const uint8_t **ret_payload, size_t *ret_len);

/* RFC 1071 checksum of the UDP pseudo header + segment. */
uint16_t raw_udp_checksum(struct in_addr src, struct in_addr dst, const uint8_t *udp, size_t len);
