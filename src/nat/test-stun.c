/* Unit tests for stun.c: RFC 5769 §2.2 vector, request layout, and malformed responses. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nat/stun.h"
#include "shared/macro.h"

/* RFC 5769 §2.2 "Sample IPv4 Response", verbatim: SOFTWARE "test vector", XOR-MAPPED-ADDRESS
 * 192.0.2.1:32853, MESSAGE-INTEGRITY, FINGERPRINT. */
static const uint8_t rfc5769_v4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};
static const uint8_t rfc5769_txid[12] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
					 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

static void test_rfc5769_ipv4_response(void **state)
{
	struct sockaddr_in a;
	assert_int_equal(sizeof(rfc5769_v4), 80);
	assert_int_equal(
	    stun_parse_binding_response(rfc5769_v4, sizeof(rfc5769_v4), rfc5769_txid, &a), 0);
	assert_int_equal(a.sin_family, AF_INET);
	assert_int_equal(ntohs(a.sin_port), 32853);
	assert_int_equal(ntohl(a.sin_addr.s_addr), 0xc0000201); /* 192.0.2.1 */
	assert_true(stun_header_matches(rfc5769_v4, sizeof(rfc5769_v4), rfc5769_txid));
}

/* Every single-bit mutation of the vector fails (inside the opaque SOFTWARE/MI values and the
 * address it is FINGERPRINT that catches it); none may yield a different address. */
static void test_rfc5769_mutations(void **state)
{
	uint8_t m[sizeof(rfc5769_v4)];
	for (size_t i = 0; i < sizeof(m); i++) {
		memcpy(m, rfc5769_v4, sizeof(m));
		m[i] ^= 0x01;
		struct sockaddr_in a;
		uint8_t txid[12];
		memcpy(txid, rfc5769_txid, 12);
		int r = stun_parse_binding_response(m, sizeof(m), txid, &a);
		if (i >= 76)
			assert_int_equal(r, -EBADMSG); /* the CRC value itself */
		else if (r == 0) {
			/* Only the FINGERPRINT attribute type can be turned into another,
			 * comprehension-optional type; the address must still be the same. */
			if (i != 72 && i != 73)
				fail_msg("mutation at byte %zu accepted", i);
			assert_int_equal(ntohl(a.sin_addr.s_addr), 0xc0000201);
			assert_int_equal(ntohs(a.sin_port), 32853);
		}
	}
}

static void test_truncations(void **state)
{
	struct sockaddr_in a = {0};
	for (size_t n = 0; n < sizeof(rfc5769_v4); n++) {
		int r = stun_parse_binding_response(rfc5769_v4, n, rfc5769_txid, &a);
		assert_int_equal(r, -EBADMSG);
	}
	assert_int_equal(a.sin_family, 0); /* untouched on failure */
	assert_int_equal(stun_parse_binding_response(NULL, 0, rfc5769_txid, &a), -EBADMSG);
}

static void test_build_request(void **state)
{
	static const uint8_t want[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1,  2,
					 3,    4,    5,	   6,	 7,    8,    9,	   10,	 11, 12};
	const uint8_t txid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	uint8_t out[20];
	stun_build_binding_request(txid, out);
	assert_memory_equal(out, want, 20);

	uint8_t t1[12], t2[12];
	assert_int_equal(stun_txid_random(t1), 0);
	assert_int_equal(stun_txid_random(t2), 0);
	assert_memory_not_equal(t1, t2, 12);
}

/* Builds header + attributes into buf; returns the total length. */
static size_t mk(uint8_t *buf, uint16_t type, const uint8_t *attrs, size_t alen)
{
	buf[0] = type >> 8;
	buf[1] = type & 0xff;
	buf[2] = (uint8_t)(alen >> 8);
	buf[3] = (uint8_t)alen;
	buf[4] = 0x21;
	buf[5] = 0x12;
	buf[6] = 0xa4;
	buf[7] = 0x42;
	memcpy(buf + 8, rfc5769_txid, 12);
	memcpy(buf + 20, attrs, alen);
	return 20 + alen;
}

#define XMA_192_0_2_1 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43
/* MAPPED-ADDRESS 198.51.100.7:4000 (plain) */
#define MA_198_51_100_7 0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x0f, 0xa0, 198, 51, 100, 7

static void test_table(void **state)
{
	static const struct {
		const char *name;
		uint16_t type;
		uint8_t attrs[64];
		size_t alen;
		int want;
		uint32_t ip;
		uint16_t port;
	} v[] = {
	    {"xor only", 0x0101, {XMA_192_0_2_1}, 12, 0, 0xc0000201, 32853},
	    {"mapped only", 0x0101, {MA_198_51_100_7}, 12, 0, 0xc6336407, 4000},
	    {"xor preferred after mapped",
	     0x0101,
	     {MA_198_51_100_7, XMA_192_0_2_1},
	     24,
	     0,
	     0xc0000201,
	     32853},
	    {"xor preferred before mapped",
	     0x0101,
	     {XMA_192_0_2_1, MA_198_51_100_7},
	     24,
	     0,
	     0xc0000201,
	     32853},
	    {"no attributes", 0x0101, {0}, 0, -ENOENT, 0, 0},
	    {"only software", 0x0101, {0x80, 0x22, 0x00, 0x01, 'x', 0, 0, 0}, 8, -ENOENT, 0, 0},
	    {"error response", 0x0111, {XMA_192_0_2_1}, 12, -ENOMSG, 0, 0},
	    {"binding request", 0x0001, {0}, 0, -ENOMSG, 0, 0},
	    {"indication", 0x0011, {0}, 0, -ENOMSG, 0, 0},
	    {"leading bits", 0x4101, {XMA_192_0_2_1}, 12, -EBADMSG, 0, 0},
	    {"xor ipv4 short",
	     0x0101,
	     {0x00, 0x20, 0x00, 0x04, 0x00, 0x01, 0xa1, 0x47},
	     8,
	     -EBADMSG,
	     0,
	     0},
	    {"xor ipv4 long",
	     0x0101,
	     {0x00, 0x20, 0x00, 0x0c, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0, 0, 0, 0},
	     16,
	     -EBADMSG,
	     0,
	     0},
	    {"bad family",
	     0x0101,
	     {0x00, 0x20, 0x00, 0x08, 0x00, 0x03, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43},
	     12,
	     -EBADMSG,
	     0,
	     0},
	    {"tiny address", 0x0101, {0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0, 0}, 8, -EBADMSG, 0, 0},
	    {"attr overruns",
	     0x0101,
	     {0x00, 0x20, 0x00, 0x10, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43},
	     12,
	     -EBADMSG,
	     0,
	     0},
	    {"padding overruns",
	     0x0101,
	     {0x80, 0x22, 0x00, 0x05, 'a', 'b', 'c', 'd'},
	     8,
	     -EBADMSG,
	     0,
	     0},
	    {"dangling header bytes",
	     0x0101,
	     {XMA_192_0_2_1, 0x80, 0x22, 0, 0},
	     16,
	     0,
	     0xc0000201,
	     32853},
	    {"unknown comprehension-required",
	     0x0101,
	     {0x00, 0x77, 0x00, 0x00, XMA_192_0_2_1},
	     16,
	     -EPROTO,
	     0,
	     0},
	    {"unknown optional skipped",
	     0x0101,
	     {0xc0, 0x57, 0x00, 0x03, 1, 2, 3, 0, XMA_192_0_2_1},
	     20,
	     0,
	     0xc0000201,
	     32853},
	    {"ipv6 only",
	     0x0101,
	     {0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
	      0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9},
	     24,
	     -EAFNOSUPPORT,
	     0,
	     0},
	    {"ipv6 xor then ipv4 mapped",
	     0x0101,
	     {0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1,		  0x47, 0x01,
	      0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79,		  0xbc, 0x25,
	      0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, MA_198_51_100_7},
	     36,
	     0,
	     0xc6336407,
	     4000},
	    {"ipv6 wrong length",
	     0x0101,
	     {0x00, 0x20, 0x00, 0x08, 0x00, 0x02, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43},
	     12,
	     -EBADMSG,
	     0,
	     0},
	    {"fingerprint not last",
	     0x0101,
	     {0x80, 0x28, 0x00, 0x04, 0, 0, 0, 0, XMA_192_0_2_1},
	     20,
	     -EBADMSG,
	     0,
	     0},
	    {"fingerprint wrong size",
	     0x0101,
	     {XMA_192_0_2_1, 0x80, 0x28, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 0},
	     24,
	     -EBADMSG,
	     0,
	     0},
	    {"fingerprint wrong value",
	     0x0101,
	     {XMA_192_0_2_1, 0x80, 0x28, 0x00, 0x04, 0, 0, 0, 0},
	     20,
	     -EBADMSG,
	     0,
	     0},
	};
	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		uint8_t buf[128];
		size_t n = mk(buf, v[i].type, v[i].attrs, v[i].alen);
		struct sockaddr_in a = {0};
		int r = stun_parse_binding_response(buf, n, rfc5769_txid, &a);
		if (r != v[i].want)
			fail_msg("case %zu (%s): got %d want %d", i, v[i].name, r, v[i].want);
		if (r == 0) {
			assert_int_equal(ntohl(a.sin_addr.s_addr), v[i].ip);
			assert_int_equal(ntohs(a.sin_port), v[i].port);
		} else
			assert_int_equal(a.sin_family, 0);
	}
}

static void test_header_mismatch(void **state)
{
	uint8_t buf[128];
	struct sockaddr_in a;
	const uint8_t x[] = {XMA_192_0_2_1};
	size_t n = mk(buf, 0x0101, x, sizeof(x));

	uint8_t other[12];
	memcpy(other, rfc5769_txid, 12);
	other[11] ^= 0x80;
	assert_int_equal(stun_parse_binding_response(buf, n, other, &a), -ESRCH);
	assert_false(stun_header_matches(buf, n, other));

	buf[4] = 0x22; /* cookie */
	assert_int_equal(stun_parse_binding_response(buf, n, rfc5769_txid, &a), -ESRCH);
	assert_false(stun_header_matches(buf, n, rfc5769_txid));
	buf[4] = 0x21;

	/* Length field not a multiple of 4, or not matching the datagram. */
	buf[3] = 11;
	assert_int_equal(stun_parse_binding_response(buf, n, rfc5769_txid, &a), -EBADMSG);
	buf[3] = 16;
	assert_int_equal(stun_parse_binding_response(buf, n, rfc5769_txid, &a), -EBADMSG);
	buf[3] = 8;
	assert_int_equal(stun_parse_binding_response(buf, n, rfc5769_txid, &a), -EBADMSG);
	buf[3] = 12;
	assert_int_equal(stun_parse_binding_response(buf, n + 4, rfc5769_txid, &a),
			 -EBADMSG); /* trailing */
	assert_int_equal(stun_parse_binding_response(buf, n, rfc5769_txid, &a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc5769_ipv4_response),
	    cmocka_unit_test(test_rfc5769_mutations),
	    cmocka_unit_test(test_truncations),
	    cmocka_unit_test(test_build_request),
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_header_mismatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
