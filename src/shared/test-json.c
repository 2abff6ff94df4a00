/* Unit tests for json-util.c: typed getters with their error texts, bounded parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "shared/json-util.h"
#include "shared/macro.h"

static json_t *load(const char *s)
{
	struct json_error e = {};
	json_t *j = NULL;
	int r = json_parse_bounded(s, strlen(s), &j, &e);
	if (r < 0)
		fail_msg("parse failed: %s", e.text);
	return j;
}

static const char doc[] = "{\"s\":\"text\",\"i\":42,\"neg\":-7,\"real\":8443.0,"
			  "\"exp\":1E3,\"big\":9223372036854775807,\"t\":true,\"f\":false,\"null\":null,"
			  "\"id\":\"n_abc123\",\"badid\":\"..\",\"key\":\"VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ=\","
			  "\"badkey\":\"Zm9v\",\"ts\":\"2025-01-15T12:30:00.25+02:00\",\"badts\":\"2025-02-29T00:00:00Z\","
			  "\"arr\":[1,2],\"obj\":{\"x\":1}}";

static void test_get_string(void **state)
{
	_cleanup_json_ json_t *j = NULL;
	struct json_error e = {};
	const char *s = "untouched";

	/* "nul" holds an escaped NUL, which flags 0 rejects at parse time; build it directly. */
	j = load("{\"s\":\"text\",\"i\":1,\"null\":null}");
	json_object_set_new(j, "nul", json_stringn("a\0b", 3));

	assert_int_equal(json_get_string(j, "s", true, &s, &e), 0);
	assert_string_equal(s, "text");
	s = "untouched";
	assert_int_equal(json_get_string(j, "missing", false, &s, &e), -ENOENT);
	assert_int_equal(json_get_string(j, "null", false, &s, &e), -ENOENT);
	assert_string_equal(s, "untouched");
	assert_int_equal(json_get_string(j, "missing", true, &s, &e), -EINVAL);
	assert_string_equal(e.text, "missing: is required");
	assert_int_equal(json_get_string(j, "null", true, &s, &e), -EINVAL);
	assert_string_equal(e.text, "null: is required");
	assert_int_equal(json_get_string(j, "i", true, &s, &e), -EINVAL);
	assert_string_equal(e.text, "i: expected string");
	assert_int_equal(json_get_string(j, "nul", true, &s, &e), -EINVAL);
	assert_string_equal(e.text, "nul: contains a NUL character");
	assert_string_equal(s, "untouched");

	_cleanup_json_ json_t *arr = json_array();
	assert_int_equal(json_get_string(arr, "s", false, &s, &e), -EINVAL);
	assert_string_equal(e.text, "s: parent is not an object");
}

static void test_get_typed(void **state)
{
	_cleanup_json_ json_t *j = load(doc);
	struct json_error e = {};
	int64_t i = 99;
	bool b = true;
	const char *s;
	uint8_t key[32];
	struct timestamp t;
	json_t *v;

	assert_int_equal(json_get_int(j, "i", true, 0, 65535, &i, &e), 0);
	assert_int_equal(i, 42);
	assert_int_equal(json_get_int(j, "neg", true, INT64_MIN, INT64_MAX, &i, &e), 0);
	assert_int_equal(i, -7);
	assert_int_equal(json_get_int(j, "big", true, INT64_MIN, INT64_MAX, &i, &e), 0);
	assert_int_equal(i, INT64_MAX);
	i = 99;
	assert_int_equal(json_get_int(j, "neg", true, 0, 65535, &i, &e), -EINVAL);
	assert_string_equal(e.text, "neg: must be between 0 and 65535, got -7");
	assert_int_equal(json_get_int(j, "real", true, 0, 65535, &i, &e), -EINVAL);
	assert_string_equal(e.text, "real: expected integer");
	assert_int_equal(json_get_int(j, "exp", true, 0, 65535, &i, &e), -EINVAL);
	assert_int_equal(json_get_int(j, "s", true, 0, 65535, &i, &e), -EINVAL);
	assert_int_equal(json_get_int(j, "missing", false, 0, 65535, &i, &e), -ENOENT);
	assert_int_equal(i, 99);

	assert_int_equal(json_get_bool(j, "t", &b, &e), 0);
	assert_true(b);
	assert_int_equal(json_get_bool(j, "f", &b, &e), 0);
	assert_false(b);
	b = true;
	assert_int_equal(json_get_bool(j, "missing", &b, &e), 0);
	assert_false(b);
	b = true;
	assert_int_equal(json_get_bool(j, "null", &b, &e), 0);
	assert_false(b);
	assert_int_equal(json_get_bool(j, "i", &b, &e), -EINVAL);
	assert_string_equal(e.text, "i: expected true or false");

	assert_int_equal(json_get_id(j, "id", true, &s, &e), 0);
	assert_string_equal(s, "n_abc123");
	assert_int_equal(json_get_id(j, "badid", true, &s, &e), -EINVAL);
	assert_string_equal(e.text, "badid: must be 1-128 characters of A-Z a-z 0-9 - . _ ~");

	assert_int_equal(json_get_key32(j, "key", true, key, &e), 0);
	assert_int_equal(key[0], 0x54);
	assert_int_equal(json_get_key32(j, "badkey", true, key, &e), -EINVAL);
	assert_string_equal(e.text, "badkey: must be base64 of 32 bytes");
	assert_int_equal(json_get_key32(j, "missing", false, key, &e), -ENOENT);

	assert_int_equal(json_get_timestamp(j, "ts", true, &t, &e), 0);
	assert_int_equal(t.sec, 1736937000);
	assert_int_equal(t.nsec, 250000000);
	assert_int_equal(json_get_timestamp(j, "badts", true, &t, &e), -EINVAL);
	assert_string_equal(e.text, "badts: must be an RFC 3339 timestamp");

	assert_int_equal(json_get_array(j, "arr", &v, &e), 0);
	assert_int_equal(json_array_size(v), 2);
	v = (json_t *)1;
	assert_int_equal(json_get_array(j, "missing", &v, &e), 0);
	assert_null(v);
	v = (json_t *)1;
	assert_int_equal(json_get_array(j, "null", &v, &e), 0);
	assert_null(v);
	assert_int_equal(json_get_array(j, "obj", &v, &e), -EINVAL);
	assert_string_equal(e.text, "obj: expected array");

	assert_int_equal(json_get_object(j, "obj", true, &v, &e), 0);
	assert_true(json_is_object(v));
	assert_int_equal(json_get_object(j, "arr", true, &v, &e), -EINVAL);
	assert_string_equal(e.text, "arr: expected object");
	assert_int_equal(json_get_object(j, "null", false, &v, &e), -ENOENT);
	assert_int_equal(json_get_object(j, "null", true, &v, &e), -EINVAL);
}

static void test_error_prefix(void **state)
{
	struct json_error e;

	json_error_set(&e, "public_key: must be base64 of %d bytes", 32);
	json_error_prefix(&e, "peers", 3);
	assert_string_equal(e.text, "peers[3].public_key: must be base64 of 32 bytes");
	json_error_prefix(&e, "payload", -1);
	assert_string_equal(e.text, "payload.peers[3].public_key: must be base64 of 32 bytes");

	json_error_set(&e, "[2]: expected string");
	json_error_prefix(&e, "rules", -1);
	assert_string_equal(e.text, "rules[2]: expected string");

	/* Overlong text is truncated, never overflows. */
	char longtext[400];
	memset(longtext, 'x', sizeof longtext - 1);
	longtext[sizeof longtext - 1] = '\0';
	json_error_set(&e, "%s", longtext);
	assert_int_equal(strlen(e.text), sizeof e.text - 1);
	json_error_prefix(&e, "a", 1);
	assert_int_equal(strlen(e.text), sizeof e.text - 1);
	assert_true(strneq(e.text, "a[1].xxx", 8));
	json_error_set(NULL, "ignored");
	json_error_prefix(NULL, "a", 1);
}

static void test_parse_bounded(void **state)
{
	static const struct {
		const char *in;
		const char *err; /* NULL: must parse; else expected prefix of the error text */
	} v[] = {
		{ "{}", NULL },
		{ "[]", NULL },
		{ " {\"a\":[1,{\"b\":\"[[[[\"}]} \n", NULL },
		{ "{\"a\":1,\"a\":2}", NULL }, /* duplicates are the caller's business */
		{ "{\"a\":1}x", "line 1 column 8:" },
		{ "{\"a\":1}{}", "line 1 column 8:" },
		{ "{\"a\":\n  tru}", "line 2 column " },
		{ "{\"a\":1,}", "line 1 column " },
		{ "\"just a string\"", "line 1 column " },
		{ "42", "line 1 column " },
		{ "", "line 1 column " },
		{ "{\"a\":\"\\u0000\"}", "line 1 column " },
		{ "{\"a\":\"\xff\"}", "line 1 column " },
		{ "{\"a\":92233720368547758070}", "line 1 column " },
		{ "\xef\xbb\xbf{}", "line 1 column " },
	};
	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		struct json_error e = {};
		json_t *j = NULL;
		int r = json_parse_bounded(v[i].in, strlen(v[i].in), &j, &e);
		if (!v[i].err) {
			if (r != 0)
				fail_msg("\"%s\": %s", v[i].in, e.text);
			json_decref(j);
			continue;
		}
		assert_int_equal(r, -EINVAL);
		assert_null(j);
		if (!strneq(e.text, v[i].err, strlen(v[i].err)))
			fail_msg("\"%s\": got \"%s\", want prefix \"%s\"", v[i].in, e.text, v[i].err);
	}
	/* The length bounds the input: bytes after len are not read. */
	struct json_error e = {};
	json_t *j = NULL;
	assert_int_equal(json_parse_bounded("{}garbage", 2, &j, &e), 0);
	json_decref(j);
	j = NULL;
	assert_int_equal(json_parse_bounded("{\"a\":1}", 6, &j, &e), -EINVAL);
	assert_int_equal(json_parse_bounded("{\"a\":\0}", 7, &j, &e), -EINVAL);
	assert_null(j);
}

static char *nested(unsigned depth, char open, char close, const char *inner)
{
	size_t n = strlen(inner);
	char *s = malloc(2 * depth + n + 1);
	assert_non_null(s);
	memset(s, open, depth);
	memcpy(s + depth, inner, n);
	memset(s + depth + n, close, depth);
	s[2 * depth + n] = '\0';
	return s;
}

static void test_parse_depth(void **state)
{
	struct json_error e = {};
	json_t *j = NULL;

	_cleanup_free_ char *ok = nested(64, '[', ']', "");
	assert_int_equal(json_parse_bounded(ok, strlen(ok), &j, &e), 0);
	json_decref(j);
	j = NULL;

	_cleanup_free_ char *deep = nested(65, '[', ']', "");
	assert_int_equal(json_parse_bounded(deep, strlen(deep), &j, &e), -EINVAL);
	assert_string_equal(e.text, "line 1 column 65: nesting deeper than 64");
	assert_null(j);

	/* Objects count too, and a huge depth is refused without recursion. */
	_cleanup_free_ char *huge = nested(100000, '[', ']', "");
	assert_int_equal(json_parse_bounded(huge, strlen(huge), &j, &e), -EINVAL);

	/* Brackets inside strings, including escaped quotes, do not count. */
	char buf[512];
	_cleanup_free_ char *brackets = nested(200, '[', ']', "");
	snprintf(buf, sizeof buf, "{\"a\":\"\\\"%s\"}", brackets);
	assert_int_equal(json_parse_bounded(buf, strlen(buf), &j, &e), 0);
	json_decref(j);
	j = NULL;

	/* 63 objects plus one array: 64 levels. */
	char objs[1024] = "", *p = objs;
	for (int i = 0; i < 63; i++)
		p += sprintf(p, "{\"k\":");
	p += sprintf(p, "[1]");
	for (int i = 0; i < 63; i++)
		*p++ = '}';
	*p = '\0';
	assert_int_equal(json_parse_bounded(objs, strlen(objs), &j, &e), 0);
	json_decref(j);
	j = NULL;
	/* 64 objects plus one array: 65 levels. */
	p = objs;
	for (int i = 0; i < 64; i++)
		p += sprintf(p, "{\"k\":");
	p += sprintf(p, "[1]");
	for (int i = 0; i < 64; i++)
		*p++ = '}';
	*p = '\0';
	assert_int_equal(json_parse_bounded(objs, strlen(objs), &j, &e), -EINVAL);
	assert_string_equal(e.text, "line 1 column 321: nesting deeper than 64");
	_cleanup_free_ char *deep_obj = nested(65, '[', ']', "{}");
	assert_int_equal(json_parse_bounded(deep_obj, strlen(deep_obj), &j, &e), -EINVAL);
}

static void test_parse_size(void **state)
{
	struct json_error e = {};
	json_t *j = NULL;

	assert_int_equal(json_parse_bounded_size("[1,2,3]", 7, 6, &j, &e), -E2BIG);
	assert_string_equal(e.text, "document too large: 7 bytes, limit 6");
	assert_null(j);
	assert_int_equal(json_parse_bounded_size("[1,2,3]", 7, 7, &j, &e), 0);
	json_decref(j);
	j = NULL;
	assert_int_equal(json_parse_bounded("[]", JSON_PARSE_MAX_SIZE + 1, &j, &e), -E2BIG);
	assert_int_equal(json_parse_bounded(NULL, 0, &j, &e), -EINVAL);
}

static void test_dumps_compact(void **state)
{
	_cleanup_json_ json_t *j = load("{ \"b\" : [ 1 , 2 ], \"a\" : { \"x\" : \"<&>\" }, \"n\": null }");
	_cleanup_free_ char *s = json_dumps_compact(j);
	assert_string_equal(s, "{\"b\":[1,2],\"a\":{\"x\":\"<&>\"},\"n\":null}");
	_cleanup_json_ json_t *str = json_string("x");
	_cleanup_free_ char *s2 = json_dumps_compact(str);
	assert_string_equal(s2, "\"x\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_string),    cmocka_unit_test(test_get_typed),
		cmocka_unit_test(test_error_prefix),  cmocka_unit_test(test_parse_bounded),
		cmocka_unit_test(test_parse_depth),   cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_dumps_compact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
