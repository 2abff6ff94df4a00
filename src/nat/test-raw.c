/* Unit tests for raw.c: UDP header/checksum builder and IPv4 parser (pure), and the raw socket
 * path on loopback when CAP_NET_RAW is available (skipped otherwise). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "nat/raw.h"
#include "nat/stun.h"
#include "shared/macro.h"

static const uint8_t stun_req[20] = {0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1,  2,
				     3, 4, 5, 6, 7,    8,    9,	   10,	 11, 12};

static struct sockaddr_in sin4(const char *ip, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

static void test_build(void **state)
{
	struct in_addr src;
	inet_pton(AF_INET, "192.0.2.10", &src);
	struct sockaddr_in dst = sin4("198.51.100.1", 3478);
	uint8_t out[64];
	/* Expected checksum computed independently (RFC 1071 over pseudo header + segment). */
	assert_int_equal(
	    raw_udp_build(src, 51820, &dst, stun_req, sizeof(stun_req), out, sizeof(out)), 28);
	static const uint8_t want_hdr[8] = {0xca, 0x6c, 0x0d, 0x96, 0x00, 0x1c, 0x51, 0xf4};
	assert_memory_equal(out, want_hdr, 8);
	assert_memory_equal(out + 8, stun_req, 20);

	/* Odd length pads with a zero byte for the sum only. */
	dst = sin4("198.51.100.1", 2000);
	assert_int_equal(raw_udp_build(src, 1000, &dst, "abc", 3, out, sizeof(out)), 11);
	assert_int_equal(out[6] << 8 | out[7], 0x437e);

	assert_int_equal(raw_udp_build(src, 1, &dst, stun_req, 20, out, 27), -ENOBUFS);
	assert_int_equal(raw_udp_build(src, 1, &dst, stun_req, 70000, out, sizeof(out)), -EMSGSIZE);
}

/* A 20-byte IPv4 header + UDP segment. */
static size_t mkpkt(uint8_t *p, uint16_t sport, uint16_t dport, const void *payload, size_t len)
{
	size_t tot = 28 + len;
	memset(p, 0, 28);
	p[0] = 0x45;
	p[2] = (uint8_t)(tot >> 8);
	p[3] = (uint8_t)tot;
	p[6] = 0x40; /* DF */
	p[8] = 64;
	p[9] = 17;
	p[12] = 203, p[13] = 0, p[14] = 113, p[15] = 5;
	p[16] = 10, p[17] = 0, p[18] = 0, p[19] = 2;
	p[20] = (uint8_t)(sport >> 8), p[21] = (uint8_t)sport;
	p[22] = (uint8_t)(dport >> 8), p[23] = (uint8_t)dport;
	p[24] = (uint8_t)((8 + len) >> 8), p[25] = (uint8_t)(8 + len);
	memcpy(p + 28, payload, len);
	return tot;
}

static void test_parse(void **state)
{
	uint8_t p[128];
	size_t n = mkpkt(p, 3478, 51820, stun_req, sizeof(stun_req));
	struct sockaddr_in src = {0};
	const uint8_t *pl;
	size_t plen;

	assert_int_equal(raw_ipv4_udp_parse(p, n, 51820, &src, &pl, &plen), 0);
	assert_int_equal(ntohs(src.sin_port), 3478);
	assert_int_equal(ntohl(src.sin_addr.s_addr), 0xcb007105);
	assert_int_equal(plen, 20);
	assert_ptr_equal(pl, p + 28);

	/* Trailing bytes beyond the IP total length (e.g. Ethernet padding) are ignored. */
	assert_int_equal(raw_ipv4_udp_parse(p, n + 10, 51820, &src, &pl, &plen), 0);
	assert_int_equal(plen, 20);

	assert_int_equal(raw_ipv4_udp_parse(p, n, 51821, &src, &pl, &plen),
			 -ENOMSG);     /* other port */
	for (size_t k = 0; k < n; k++) /* truncated copies never read past the end */
		assert_true(raw_ipv4_udp_parse(p, k, 51820, &src, &pl, &plen) < 0);

	static const struct {
		size_t off;
		uint8_t val;
		int want;
	} bad[] = {
	    {0, 0x65, -EBADMSG}, /* IPv6 version nibble */
	    {0, 0x44, -EBADMSG}, /* IHL 16 bytes */
	    {0, 0x4f, -EBADMSG}, /* IHL beyond total length */
	    {3, 20, -EBADMSG},	 /* total length without UDP header */
	    {3, 200, -EBADMSG},	 /* total length beyond buffer */
	    {9, 6, -ENOMSG},	 /* TCP */
	    {6, 0x20, -ENOMSG},	 /* more fragments */
	    {7, 0x01, -ENOMSG},	 /* fragment offset */
	    {25, 7, -EBADMSG},	 /* UDP length below header */
	    {25, 60, -EBADMSG},	 /* UDP length beyond IP payload */
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		uint8_t q[128];
		memcpy(q, p, n);
		q[bad[i].off] = bad[i].val;
		int r = raw_ipv4_udp_parse(q, n, 51820, &src, &pl, &plen);
		if (r != bad[i].want)
			fail_msg("case %zu: got %d want %d", i, r, bad[i].want);
	}
	/* A UDP length shorter than the IP payload bounds the payload. */
	p[25] = 8 + 4;
	assert_int_equal(raw_ipv4_udp_parse(p, n, 51820, &src, &pl, &plen), 0);
	assert_int_equal(plen, 4);
}

static int udp_bound(const char *ip, uint16_t port, uint16_t *ret_port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = sin4(ip, port);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t sl = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &sl), 0);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

static bool readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, ms) == 1;
}

/* Sends from a port another socket holds and reads the answer as a raw copy. */
static void test_loopback(void **state)
{
	uint16_t held_port, peer_port;
	int held = udp_bound("127.0.0.1", 0, &held_port); /* stands in for WireGuard */
	int peer = udp_bound("127.0.0.1", 0, &peer_port); /* stands in for a STUN server */
	int fd;
	int r = raw_udp_open(held_port, &fd);
	if (r == -EPERM || r == -EACCES) {
		close(held);
		close(peer);
		skip();
	}
	assert_int_equal(r, 0);

	struct sockaddr_in to = sin4("127.0.0.1", peer_port);
	assert_int_equal(raw_udp_send(fd, held_port, &to, stun_req, sizeof(stun_req)), 0);
	uint8_t buf[256];
	struct sockaddr_in from;
	socklen_t sl = sizeof(from);
	assert_true(readable(peer, 2000));
	assert_int_equal(recvfrom(peer, buf, sizeof(buf), 0, (struct sockaddr *)&from, &sl), 20);
	assert_memory_equal(buf, stun_req, 20);
	assert_int_equal(ntohs(from.sin_port),
			 held_port); /* the kernel accepted our checksum too */

	/* Not STUN: the BPF filter keeps it away from the raw socket. */
	assert_int_equal(sendto(peer, "hello", 5, 0, (struct sockaddr *)&from, sizeof(from)), 5);
	assert_true(readable(held, 2000));
	/* STUN-looking answer: delivered to the holder and copied to us. */
	assert_int_equal(sendto(peer, stun_req, 20, 0, (struct sockaddr *)&from, sizeof(from)), 20);
	assert_true(readable(fd, 2000));
	struct sockaddr_in src;
	ssize_t n = raw_udp_recv(fd, held_port, &src, buf, sizeof(buf));
	assert_int_equal(n, 20);
	assert_memory_equal(buf, stun_req, 20);
	assert_int_equal(ntohs(src.sin_port), peer_port);
	assert_int_equal(raw_udp_recv(fd, held_port, &src, buf, sizeof(buf)), -EAGAIN);

	/* The holder got both datagrams: the raw path does not steal them. */
	assert_int_equal(recv(held, buf, sizeof(buf), MSG_DONTWAIT), 5);
	assert_int_equal(recv(held, buf, sizeof(buf), MSG_DONTWAIT), 20);
	close(fd);
	close(held);
	close(peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
