/* Unit tests of the pure HTTP helpers: percent decoding, routing, body bounds, encodings, gzip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "httpd/httpd-util.h"

static void test_percent_decode(void **state)
{
	static const struct {
		const char *in;
		bool plus;
		int r;
		const char *out;
	} cases[] = {
	    {"abc", false, 0, "abc"},
	    {"a%2Fb", false, 0, "a/b"},
	    {"a%2fb", false, 0, "a/b"},
	    {"%41%42%43", false, 0, "ABC"},
	    {"%e2%82%ac", false, 0, "\xe2\x82\xac"},
	    {"a+b", false, 0, "a+b"},
	    {"a+b", true, 0, "a b"},
	    {"%2B", true, 0, "+"},
	    {"", false, 0, ""},
	    {"%", false, -EINVAL, NULL},
	    {"%4", false, -EINVAL, NULL},
	    {"ab%4", false, -EINVAL, NULL},
	    {"%G1", false, -EINVAL, NULL},
	    {"%1G", false, -EINVAL, NULL},
	    {"a%00b", false, -EINVAL, NULL},
	    {"%00", true, -EINVAL, NULL},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char *out = NULL;
		int r = httpd_percent_decode(cases[i].in, strlen(cases[i].in), cases[i].plus, &out);
		assert_int_equal(r, cases[i].r);
		if (r == 0) {
			assert_string_equal(out, cases[i].out);
			free(out);
		} else
			assert_null(out);
	}
	/* Length-bounded: the NUL terminator of the source is not read past len. */
	char *out;
	assert_int_equal(httpd_percent_decode("ab%41zz", 5, false, &out), 0);
	assert_string_equal(out, "abA");
	free(out);
	assert_int_equal(httpd_percent_decode("ab%41zz", 4, false, &out), -EINVAL);
}

static int h_dummy(struct httpd_request *req, void *u)
{
	return 0;
}

static const struct httpd_route routes[] = {
    {"GET", "/v1/status", h_dummy},
    {"GET", "/v1/state/data/{key}", h_dummy},
    {"PUT", "/v1/state/report/{key*}", h_dummy},
    {"GET", "/v1/state/report/{key*}", h_dummy},
    {"DELETE", "/v1/state/report/{key*}", h_dummy},
    {"POST", "/v1/nodes/{id}/keys/{kid}", h_dummy},
    {"GET", "/", h_dummy},
};

static void test_router(void **state)
{
	static const struct {
		const char *method, *path;
		int r;
		int route; /* index */
		const char *p1, *v1, *p2, *v2;
		const char *allow;
	} cases[] = {
	    {"GET", "/v1/status", 0, 0},
	    {"HEAD", "/v1/status", 0, 0},
	    {"POST", "/v1/status", -EOPNOTSUPP, -1, .allow = "GET, HEAD"},
	    {"GET", "/v1/status/", -ENOENT, -1},
	    {"GET", "/v1/statusx", -ENOENT, -1},
	    {"GET", "/v1", -ENOENT, -1},
	    {"GET", "/v1/state/data/foo", 0, 1, "key", "foo"},
	    {"GET", "/v1/state/data/a%2Fb", 0, 1, "key", "a/b"},
	    {"GET", "/v1/state/data/a%20b%25", 0, 1, "key", "a b%"},
	    {"GET", "/v1/state/data/a/b", -ENOENT, -1},
	    {"GET", "/v1/state/data/", -ENOENT, -1},
	    {"GET", "/v1/state/data/a%00b", -EINVAL, -1},
	    {"GET", "/v1/state/data/a%zz", -EINVAL, -1},
	    {"PUT", "/v1/state/report/x/y/z", 0, 2, "key", "x/y/z"},
	    {"GET", "/v1/state/report/x/y", 0, 3, "key", "x/y"},
	    {"DELETE", "/v1/state/report/k", 0, 4, "key", "k"},
	    {"POST", "/v1/state/report/k", -EOPNOTSUPP, -1, .allow = "PUT, GET, HEAD, DELETE"},
	    {"PUT", "/v1/state/report/", -ENOENT, -1},
	    {"POST", "/v1/nodes/n1/keys/k%2B2", 0, 5, "id", "n1", "kid", "k+2"},
	    {"POST", "/v1/nodes//keys/k", -ENOENT, -1},
	    {"GET", "/", 0, 6},
	    {"GET", "", -ENOENT, -1},
	    {"GET", "v1/status", -ENOENT, -1},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct httpd_match m;
		int r = httpd_router_find(routes, ELEMENTSOF(routes), cases[i].method,
					  cases[i].path, &m);
		assert_int_equal(r, cases[i].r);
		if (r == 0) {
			assert_ptr_equal(m.route, &routes[cases[i].route]);
			if (cases[i].p1)
				assert_string_equal(httpd_match_param(&m, cases[i].p1),
						    cases[i].v1);
			else
				assert_int_equal(m.n_params, 0);
			if (cases[i].p2)
				assert_string_equal(httpd_match_param(&m, cases[i].p2),
						    cases[i].v2);
			assert_null(httpd_match_param(&m, "nope"));
			httpd_match_done(&m);
		}
		if (r == -EOPNOTSUPP)
			assert_string_equal(m.allow, cases[i].allow);
	}
}

static void test_body_limit(void **state)
{
	struct httpd_body b = {};

	assert_int_equal(httpd_body_append(&b, "hello", 5, 10), 0);
	assert_int_equal(httpd_body_append(&b, "world", 5, 10), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "helloworld");
	assert_int_equal(httpd_body_append(&b, "!", 1, 10), -EFBIG);
	assert_int_equal(b.len, 10);
	assert_int_equal(httpd_body_append(&b, "", 0, 10), 0);
	httpd_body_done(&b);
	assert_null(b.data);
	assert_int_equal(httpd_body_append(&b, "0123456789A", 11, 10), -EFBIG);
	assert_int_equal(httpd_body_append(&b, "x", SIZE_MAX, 10), -EFBIG);
	assert_null(b.data);
	httpd_body_done(&b);
}

static void test_encodings(void **state)
{
	static const struct {
		const char *v;
		int r;
		enum httpd_encoding e;
	} ce[] = {
	    {NULL, 0, HTTPD_ENCODING_IDENTITY},
	    {"", 0, HTTPD_ENCODING_IDENTITY},
	    {"identity", 0, HTTPD_ENCODING_IDENTITY},
	    {"gzip", 0, HTTPD_ENCODING_GZIP},
	    {"GZip", 0, HTTPD_ENCODING_GZIP},
	    {"x-gzip", 0, HTTPD_ENCODING_GZIP},
	    {"deflate", -EOPNOTSUPP},
	    {"br", -EOPNOTSUPP},
	    {"gzip, identity", -EOPNOTSUPP},
	};
	for (size_t i = 0; i < ELEMENTSOF(ce); i++) {
		enum httpd_encoding e = 99;
		assert_int_equal(httpd_content_encoding_parse(ce[i].v, &e), ce[i].r);
		if (ce[i].r == 0)
			assert_int_equal(e, ce[i].e);
	}
	static const struct {
		const char *v;
		bool yes;
	} ae[] = {
	    {NULL, false},
	    {"", false},
	    {"gzip", true},
	    {"deflate, gzip", true},
	    {"deflate, gzip;q=0.5", true},
	    {"gzip;q=0", false},
	    {"gzip; q=0.0, deflate", false},
	    {"*", true},
	    {"*;q=0", false},
	    {"deflate, br", false},
	    {"gzipx", false},
	    {"GZIP", true},
	};
	for (size_t i = 0; i < ELEMENTSOF(ae); i++)
		assert_int_equal(httpd_accepts_gzip(ae[i].v), ae[i].yes);
}

static void test_gzip(void **state)
{
	char src[5000], *gz, *plain;
	size_t gzlen, plen;

	for (size_t i = 0; i < sizeof src; i++)
		src[i] = (char)('a' + i % 7);
	assert_int_equal(httpd_gzip(src, sizeof src, &gz, &gzlen), 0);
	assert_true(gzlen < sizeof src);
	assert_int_equal((unsigned char)gz[0], 0x1f);
	assert_int_equal((unsigned char)gz[1], 0x8b);

	assert_int_equal(httpd_gunzip(gz, gzlen, sizeof src, &plain, &plen), 0);
	assert_int_equal(plen, sizeof src);
	assert_memory_equal(plain, src, sizeof src);
	assert_int_equal(plain[plen], '\0');
	free(plain);

	/* Decompression bomb bound: one byte less than the content is refused. */
	assert_int_equal(httpd_gunzip(gz, gzlen, sizeof src - 1, &plain, &plen), -EFBIG);
	/* Truncated stream, trailing garbage, corrupted data. */
	assert_int_equal(httpd_gunzip(gz, gzlen - 4, sizeof src, &plain, &plen), -EBADMSG);
	char *junk = malloc(gzlen + 3);
	memcpy(junk, gz, gzlen);
	memcpy(junk + gzlen, "xyz", 3);
	assert_int_equal(httpd_gunzip(junk, gzlen + 3, sizeof src, &plain, &plen), -EBADMSG);
	free(junk);
	assert_int_equal(httpd_gunzip("not gzip at all", 15, 100, &plain, &plen), -EBADMSG);
	free(gz);

	/* Empty payload round trip. */
	assert_int_equal(httpd_gzip("", 0, &gz, &gzlen), 0);
	assert_int_equal(httpd_gunzip(gz, gzlen, 0, &plain, &plen), 0);
	assert_int_equal(plen, 0);
	assert_string_equal(plain, "");
	free(plain);
	free(gz);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_percent_decode), cmocka_unit_test(test_router),
	    cmocka_unit_test(test_body_limit),	   cmocka_unit_test(test_encodings),
	    cmocka_unit_test(test_gzip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
