/* Raw-socket UDP for STUN from the WireGuard listen port (agent.md §5.2 rule 2, decision 20). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/ip.h>
#include <string.h>
#include <sys/socket.h>

#include "nat/raw.h"
#include "nat/stun.h"
#include "shared/macro.h"

uint16_t raw_udp_checksum(struct in_addr src, struct in_addr dst, const uint8_t *udp, size_t len)
{
	uint32_t sum = 0;
	const uint8_t *s = (const uint8_t *)&src.s_addr, *d = (const uint8_t *)&dst.s_addr;
	sum += (uint32_t)(s[0] << 8 | s[1]) + (uint32_t)(s[2] << 8 | s[3]);
	sum += (uint32_t)(d[0] << 8 | d[1]) + (uint32_t)(d[2] << 8 | d[3]);
	sum += IPPROTO_UDP;
	sum += (uint32_t)len;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(udp[i] << 8 | udp[i + 1]);
	if (len & 1)
		sum += (uint32_t)udp[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	uint16_t c = (uint16_t)~sum;
	/* RFC 768: a computed zero is sent as all ones (zero means "no checksum"). */
	return c == 0 ? 0xffff : c;
}

ssize_t raw_udp_build(struct in_addr src, uint16_t src_port, const struct sockaddr_in *dst,
		      const void *payload, size_t len, uint8_t *out, size_t out_size)
{
	if (len > 65507)
		return -EMSGSIZE;
	size_t total = RAW_UDP_HEADER + len;
	if (out_size < total)
		return -ENOBUFS;
	uint16_t dport = ntohs(dst->sin_port);
	out[0] = (uint8_t)(src_port >> 8);
	out[1] = (uint8_t)src_port;
	out[2] = (uint8_t)(dport >> 8);
	out[3] = (uint8_t)dport;
	out[4] = (uint8_t)(total >> 8);
	out[5] = (uint8_t)total;
	out[6] = 0;
	out[7] = 0;
	if (len > 0)
		memcpy(out + RAW_UDP_HEADER, payload, len);
	uint16_t c = raw_udp_checksum(src, dst->sin_addr, out, total);
	out[6] = (uint8_t)(c >> 8);
	out[7] = (uint8_t)c;
	return (ssize_t)total;
}

int raw_ipv4_udp_parse(const uint8_t *pkt, size_t len, uint16_t want_dport,
		       struct sockaddr_in *ret_src, const uint8_t **ret_payload, size_t *ret_len)
{
	if (len < 20 || (pkt[0] >> 4) != 4)
		return -EBADMSG;
	size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
	size_t tot = (size_t)pkt[2] << 8 | pkt[3];
	if (ihl < 20 || tot < ihl || tot > len)
		return -EBADMSG;
	if (pkt[9] != IPPROTO_UDP)
		return -ENOMSG;
	/* More-fragments flag or a fragment offset: the kernel reassembles before raw delivery,
	 * so this is not expected; refuse rather than read a partial datagram. */
	if (((pkt[6] & 0x3f) | pkt[7]) != 0)
		return -ENOMSG;
	if (tot - ihl < RAW_UDP_HEADER)
		return -EBADMSG;
	const uint8_t *udp = pkt + ihl;
	size_t ulen = (size_t)udp[4] << 8 | udp[5];
	if (ulen < RAW_UDP_HEADER || ulen > tot - ihl)
		return -EBADMSG;
	uint16_t dport = (uint16_t)(udp[2] << 8 | udp[3]);
	if (dport != want_dport)
		return -ENOMSG;
	struct sockaddr_in src = {
	    .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)(udp[0] << 8 | udp[1])),
	};
	memcpy(&src.sin_addr.s_addr, pkt + 12, 4);
	*ret_src = src;
	*ret_payload = udp + RAW_UDP_HEADER;
	*ret_len = ulen - RAW_UDP_HEADER;
	return 0;
}

/* Classic BPF over the IPv4 packet a raw socket sees: UDP, not a fragment, destination port
 * local_port, STUN magic cookie at payload offset 4. Everything else stays in the kernel. */
static int attach_filter(int fd, uint16_t local_port)
{
	struct sock_filter code[] = {
	    /* 0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
	    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 8),
	    /* 2 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
	    /* 3 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 6, 0),
	    /* 4 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
	    /* 5 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
	    /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, local_port, 0, 3),
	    /* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_IND, RAW_UDP_HEADER + 4),
	    /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, STUN_MAGIC_COOKIE, 0, 1),
	    /* 9 */ BPF_STMT(BPF_RET | BPF_K, 0xffff),
	    /* 10 */ BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = {.len = ELEMENTSOF(code), .filter = code};
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		return negative_errno();
	return 0;
}

int raw_udp_open(uint16_t local_port, int *ret_fd)
{
	int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return negative_errno();
	int r = attach_filter(fd, local_port);
	if (r < 0) {
		safe_close(fd);
		return r;
	}
	/* Datagrams queued between socket() and the filter did not pass it; drop them. */
	uint8_t junk[RAW_MAX_PACKET];
	while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) >= 0)
		;
	*ret_fd = fd;
	return 0;
}

/* The source address the kernel would use towards dst. */
static int route_source(const struct sockaddr_in *dst, struct in_addr *ret)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	struct sockaddr_in local;
	socklen_t sl = sizeof(local);
	int r = 0;
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&local, &sl) < 0)
		r = negative_errno();
	safe_close(fd);
	if (r < 0)
		return r;
	*ret = local.sin_addr;
	return 0;
}

int raw_udp_send(int fd, uint16_t src_port, const struct sockaddr_in *dst, const void *payload,
		 size_t len)
{
	struct in_addr src;
	int r = route_source(dst, &src);
	if (r < 0)
		return r;
	uint8_t pkt[RAW_MAX_PACKET];
	ssize_t n = raw_udp_build(src, src_port, dst, payload, len, pkt, sizeof(pkt));
	if (n < 0)
		return (int)n;
	/* For SOCK_RAW the port in the destination address is ignored; the UDP header has it. */
	if (sendto(fd, pkt, (size_t)n, 0, (const struct sockaddr *)dst, sizeof(*dst)) < 0)
		return negative_errno();
	return 0;
}

ssize_t raw_udp_recv(int fd, uint16_t local_port, struct sockaddr_in *ret_src, void *buf,
		     size_t size)
{
	uint8_t pkt[RAW_MAX_PACKET];
	ssize_t n = recv(fd, pkt, sizeof(pkt), MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0)
		return negative_errno();
	if ((size_t)n > sizeof(pkt))
		return -ENOMSG; /* larger than any STUN answer we wait for */
	const uint8_t *payload;
	size_t plen;
	int r = raw_ipv4_udp_parse(pkt, (size_t)n, local_port, ret_src, &payload, &plen);
	if (r < 0)
		return -ENOMSG;
	if (plen > size)
		return -ENOMSG;
	memcpy(buf, payload, plen);
	return (ssize_t)plen;
}
