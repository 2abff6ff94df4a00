/* Unit tests for wire.c: §1.2 scalar formats (id, header-safe, cidr, endpoint, host:port,
 * sha256hex). */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "shared/macro.h"
#include "shared/wire.h"

static void test_id(void **state)
{
	char max[129], over[130];

	memset(max, 'a', 128);
	max[128] = '\0';
	memset(over, 'a', 129);
	over[129] = '\0';

	static const char *const ok[] = {
		"n_abc123", "evt_000042", "a", "...", ".a", "a..b", "A-Z.a_z~0-9", "~", "_", "-",
	};
	static const char *const bad[] = {
		"", ".", "..", "a/b", "a b", "a%20", "é", "a\n", "a:b", "a+b", "a@b", "a,b", "../x",
	};
	for (size_t i = 0; i < ELEMENTSOF(ok); i++)
		assert_true(id_is_valid(ok[i]));
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_false(id_is_valid(bad[i]));
	assert_true(id_is_valid(max));
	assert_false(id_is_valid(over));
	assert_false(id_is_valid(NULL));

	/* Length-taking form: the same table, then bytes that are not NUL-terminated. */
	for (size_t i = 0; i < ELEMENTSOF(ok); i++)
		assert_true(id_is_valid_n(ok[i], strlen(ok[i])));
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_false(id_is_valid_n(bad[i], strlen(bad[i])));
	assert_true(id_is_valid_n(over, 128));
	assert_false(id_is_valid_n(over, 129));
	assert_true(id_is_valid_n("..x", 3));
	assert_false(id_is_valid_n("..x", 2)); /* ".." as a prefix of a longer buffer */
	assert_false(id_is_valid_n(".x", 1));
	assert_true(id_is_valid_n("ab/c", 2));
	assert_false(id_is_valid_n("ab\0c", 5));
	assert_false(id_is_valid_n("a\0", 2)); /* NUL within the length */
	assert_false(id_is_valid_n(NULL, 0));
}

static void test_header_safe(void **state)
{
	static const char *const ok[] = {
		"6f1c2a9be4d058731b0e4d2c9a7f3e15", "node_state_updated", " ~!#$%'()*+,-./:;=?@[]^_`{|}", "",
	};
	static const char *const bad[] = { "a\"b", "a\\b", "a<b", "a>b", "a&b", "a\tb", "a\x7f", "\xc3\xa9", "a\nb" };

	for (size_t i = 0; i < ELEMENTSOF(ok); i++)
		assert_true(header_safe(ok[i], strlen(ok[i])));
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_false(header_safe(bad[i], strlen(bad[i])));
	assert_false(header_safe("ab\0c", 4)); /* NUL within the length */
	assert_true(header_safe("ab\0c", 2));
}

static void test_ipv4_prefix(void **state)
{
	static const struct {
		const char *in;
		bool bare;
		const char *addr;
		unsigned len;
	} ok[] = {
		{ "10.100.1.5/32", false, "10.100.1.5", 32 },
		{ "10.100.0.0/16", false, "10.100.0.0", 16 },
		{ "0.0.0.0/0", false, "0.0.0.0", 0 },
		{ "10.100.1.5/16", false, "10.100.1.5", 16 }, /* host bits kept */
		{ "10.100.1.1", true, "10.100.1.1", 32 },
		{ "255.255.255.255/32", true, "255.255.255.255", 32 },
	};
	static const struct {
		const char *in;
		bool bare;
	} bad[] = {
		{ "10.100.1.1", false }, { "10.100.1.1/33", true },  { "10.100.1.1/", true },
		{ "10.100.1.1/-1", true }, { "10.100.1.1/08", true }, { "10.100.1.1/+8", true },
		{ "10.100.1/24", true },   { "10.100.1.256/24", true }, { "010.1.1.1/8", true },
		{ "10.1.1.1 /8", true },   { "/8", true },		{ "", true },
		{ "::1/128", true },	   { "10.1.1.1/8/8", true },   { "1.2.3.4.5/8", true },
		{ "0x0a.1.1.1", true },	   { "10.1.1.1/ 8", true },
	};

	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		struct ipv4_prefix p;
		char buf[INET_ADDRSTRLEN];
		assert_int_equal(ipv4_prefix_parse(ok[i].in, ok[i].bare, &p), 0);
		assert_non_null(inet_ntop(AF_INET, &p.addr, buf, sizeof buf));
		assert_string_equal(buf, ok[i].addr);
		assert_int_equal(p.len, ok[i].len);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct ipv4_prefix p = { .len = 99 };
		if (ipv4_prefix_parse(bad[i].in, bad[i].bare, &p) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i].in);
		assert_int_equal(p.len, 99);
	}
}

static void test_ipv4_contains_overlaps(void **state)
{
	static const struct {
		const char *a, *b;
		bool overlap;
	} v[] = {
		{ "10.100.0.0/16", "10.100.1.5/32", true },  { "10.100.0.0/16", "10.101.0.0/16", false },
		{ "10.0.0.0/8", "10.100.0.0/16", true },     { "0.0.0.0/0", "192.168.1.0/24", true },
		{ "192.168.1.0/25", "192.168.1.128/25", false }, { "192.168.1.0/24", "192.168.1.128/25", true },
		{ "10.100.1.5/32", "10.100.1.6/32", false }, { "10.100.1.5/32", "10.100.1.5/32", true },
	};
	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		struct ipv4_prefix a, b;
		assert_int_equal(ipv4_prefix_parse(v[i].a, false, &a), 0);
		assert_int_equal(ipv4_prefix_parse(v[i].b, false, &b), 0);
		assert_int_equal(ipv4_prefix_overlaps(&a, &b), v[i].overlap);
		assert_int_equal(ipv4_prefix_overlaps(&b, &a), v[i].overlap);
	}

	struct ipv4_prefix p;
	struct in_addr x;
	assert_int_equal(ipv4_prefix_parse("10.100.0.0/16", false, &p), 0);
	assert_int_equal(ipv4_addr_parse("10.100.255.1", &x), 0);
	assert_true(ipv4_prefix_contains(&p, x));
	assert_int_equal(ipv4_addr_parse("10.101.0.1", &x), 0);
	assert_false(ipv4_prefix_contains(&p, x));
	assert_int_equal(ipv4_prefix_parse("0.0.0.0/0", false, &p), 0);
	assert_true(ipv4_prefix_contains(&p, x));
	assert_int_equal(ipv4_addr_parse("10.1.1", &x), -EINVAL);
	assert_int_equal(ipv4_addr_parse("10.1.1.1/32", &x), -EINVAL);
}

static void test_endpoint(void **state)
{
	static const struct {
		const char *in;
		int family;
		const char *out;
	} ok[] = {
		{ "203.0.113.10:51820", AF_INET, "203.0.113.10:51820" },
		{ "1.2.3.4:1", AF_INET, "1.2.3.4:1" },
		{ "1.2.3.4:65535", AF_INET, "1.2.3.4:65535" },
		{ "[2001:db8::1]:51820", AF_INET6, "[2001:db8::1]:51820" },
		{ "[2001:DB8:0:0:0:0:0:1]:443", AF_INET6, "[2001:db8::1]:443" },
		{ "[::1]:8080", AF_INET6, "[::1]:8080" },
	};
	static const char *const bad[] = {
		"",		  "1.2.3.4",	    "1.2.3.4:",	       "1.2.3.4:0",	   "1.2.3.4:65536",
		"1.2.3.4:-1",	  "1.2.3.4:051820", "1.2.3.4:+80",     "1.2.3.4:80x",	   "1.2.3.4: 80",
		"2001:db8::1:80", "[2001:db8::1]",  "[2001:db8::1]80", "[1.2.3.4]:80",	   "[::1:80",
		"example.com:80", "1.2.3:80",	    ":80",	       "[fe80::1%eth0]:80", "1.2.3.4:80:80",
		"[]:80",
	};
	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		struct sockaddr_storage ss;
		char out[64];
		assert_int_equal(endpoint_parse(ok[i].in, &ss), 0);
		assert_int_equal(ss.ss_family, ok[i].family);
		assert_int_equal(endpoint_format(&ss, out, sizeof out), (int)strlen(ok[i].out));
		assert_string_equal(out, ok[i].out);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct sockaddr_storage ss = { .ss_family = 77 };
		if (endpoint_parse(bad[i], &ss) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(ss.ss_family, 77);
	}
	struct sockaddr_storage ss;
	char small[8];
	assert_int_equal(endpoint_parse("203.0.113.10:51820", &ss), 0);
	assert_int_equal(endpoint_format(&ss, small, sizeof small), -ENOBUFS);
	ss.ss_family = AF_UNIX;
	assert_int_equal(endpoint_format(&ss, small, sizeof small), -EAFNOSUPPORT);
}

static void test_hostport(void **state)
{
	static const struct {
		const char *in;
		const char *host;
		uint16_t port;
	} ok[] = {
		{ "1.2.3.4:443", "1.2.3.4", 443 },
		{ "[2001:db8::1]:443", "2001:db8::1", 443 },
		{ "stun.l.google.com:19302", "stun.l.google.com", 19302 },
		{ "localhost:1", "localhost", 1 },
		{ "a-b.example:65535", "a-b.example", 65535 },
		{ "123.example:80", "123.example", 80 },
		{ "x1:80", "x1", 80 },
	};
	static const char *const bad[] = {
		"example.com",	     "example.com:0",	    "example.com:65536", ":443",
		"-a.example:80",     "a-.example:80",	    "a..b:80",		 ".example:80",
		"example.com.:80",   "exa mple:80",	    "exa_mple:80",	 "1.2.3.256:80",
		"1.2.3:80",	     "2001:db8::1:80",	    "[example.com]:80",	 "[::1]",
		"http://x:80",	     "example.com:80/",     "",
	};
	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		_cleanup_free_ char *host = NULL;
		uint16_t port;
		assert_int_equal(hostport_parse(ok[i].in, &host, &port), 0);
		assert_string_equal(host, ok[i].host);
		assert_int_equal(port, ok[i].port);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char *host = NULL;
		uint16_t port = 7;
		if (hostport_parse(bad[i], &host, &port) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_null(host);
		assert_int_equal(port, 7);
	}
	/* Label and name length limits. */
	char name[300];
	_cleanup_free_ char *host = NULL;
	uint16_t port;
	memset(name, 'a', 63);
	strcpy(name + 63, ".x:80");
	assert_int_equal(hostport_parse(name, &host, &port), 0);
	memset(name, 'a', 64);
	strcpy(name + 64, ".x:80");
	assert_int_equal(hostport_parse(name, &(char *){ NULL }, &port), -EINVAL);
}

static void test_sha256hex(void **state)
{
	static const char digest[] = "e72dac63e49b462f14287ed4b45cd1bc1c36ee6b3c04585346efc8801ce40a43";
	uint8_t a[32], b[32], c[32];
	char upper[sizeof digest], prefixed[80];

	for (size_t i = 0; i < sizeof digest; i++)
		upper[i] = (char)(digest[i] >= 'a' && digest[i] <= 'f' ? digest[i] - 32 : digest[i]);
	snprintf(prefixed, sizeof prefixed, "sha256:%s", digest);

	assert_int_equal(sha256hex_parse(digest, a), 0);
	assert_int_equal(sha256hex_parse(upper, b), 0);
	assert_int_equal(sha256hex_parse(prefixed, c), 0);
	assert_memory_equal(a, b, 32);
	assert_memory_equal(a, c, 32);
	assert_int_equal(a[0], 0xe7);
	assert_int_equal(a[31], 0x43);

	static const char *const bad[] = {
		"sha256:",
		"e72dac63e49b462f14287ed4b45cd1bc1c36ee6b3c04585346efc8801ce40a4",
		"e72dac63e49b462f14287ed4b45cd1bc1c36ee6b3c04585346efc8801ce40a430",
		"e72dac63e49b462f14287ed4b45cd1bc1c36ee6b3c04585346efc8801ce40a4g",
		"sha512:e72dac63e49b462f14287ed4b45cd1bc1c36ee6b3c04585346efc8801ce40a43",
		"sha256: e72dac63e49b462f14287ed4b45cd1bc1c36ee6b3c04585346efc8801ce40a4",
		"sha256:sha256:e72dac63e49b462f14287ed4b45cd1bc1c36ee6b3c04585346efc8801ce40a43",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_int_equal(sha256hex_parse(bad[i], a), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id),	  cmocka_unit_test(test_header_safe),
		cmocka_unit_test(test_ipv4_prefix), cmocka_unit_test(test_ipv4_contains_overlaps),
		cmocka_unit_test(test_endpoint),  cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_sha256hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
