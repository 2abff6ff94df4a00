/* Unit tests for time-util.c: §6.3 TIME canonicalization, RFC 3339 parsing, Go durations,
 * the config duration and size grammars. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "shared/macro.h"
#include "shared/time-util.h"

/* control-plane-api.md §6.3, the table verbatim, plus boundary cases. */
static const struct {
	const char *in;
	const char *canon;
} time_ok[] = {
	{ "2025-01-15T10:30:00Z", "2025-01-15T10:30:00Z" },
	{ "2025-01-15T10:30:00.250000Z", "2025-01-15T10:30:00.25Z" },
	{ "2025-01-15T10:30:00.000Z", "2025-01-15T10:30:00Z" },
	{ "2025-01-15T10:30:00+00:00", "2025-01-15T10:30:00Z" },
	{ "2025-01-15T12:30:00+02:00", "2025-01-15T12:30:00+02:00" },
	{ "2025-01-15T12:30:00.100200300400+02:00", "2025-01-15T12:30:00.1002003+02:00" },
	/* more */
	{ "2025-01-15T10:30:00-00:00", "2025-01-15T10:30:00Z" },
	{ "2025-01-15T10:30:00.1234567899Z", "2025-01-15T10:30:00.123456789Z" }, /* cut, not rounded */
	{ "2025-01-15T10:30:00.9999999999Z", "2025-01-15T10:30:00.999999999Z" },
	{ "2025-01-15T10:30:00.0000000001Z", "2025-01-15T10:30:00Z" },
	{ "2025-01-15T10:30:00.5-05:30", "2025-01-15T10:30:00.5-05:30" },
	{ "2025-01-15T10:30:00+00:01", "2025-01-15T10:30:00+00:01" },
	{ "2024-02-29T23:59:59+23:59", "2024-02-29T23:59:59+23:59" }, /* leap year */
	{ "2000-02-29T00:00:00Z", "2000-02-29T00:00:00Z" },	   /* divisible by 400 */
	{ "0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z" },
	{ "9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.999999999Z" },
	{ "2025-04-30T00:00:00Z", "2025-04-30T00:00:00Z" },
};

static const char *const time_bad[] = {
	"",
	"2025-01-15",
	"2025-01-15T10:30:00",		/* no zone */
	"2025-01-15t10:30:00Z",		/* lowercase t */
	"2025-01-15T10:30:00z",		/* lowercase z */
	"2025-01-15 10:30:00Z",
	"2025-01-15T10:30Z",
	"2025-01-15T10:30:00.Z",	/* empty fraction */
	"2025-01-15T10:30:00,5Z",
	"2025-01-15T10:30:00+0200",
	"2025-01-15T10:30:00+02",
	"2025-01-15T10:30:00+2:00",
	"2025-01-15T10:30:00+24:00",	/* offset hour */
	"2025-01-15T10:30:00+02:60",	/* offset minute */
	"2025-01-15T10:30:00Z ",
	" 2025-01-15T10:30:00Z",
	"2025-01-15T10:30:00ZZ",
	"2025-01-15T24:00:00Z",		/* hour */
	"2025-01-15T10:60:00Z",		/* minute */
	"2025-01-15T10:30:60Z",		/* second (no leap seconds) */
	"2025-00-15T10:30:00Z",		/* month */
	"2025-13-15T10:30:00Z",
	"2025-01-00T10:30:00Z",		/* day */
	"2025-01-32T10:30:00Z",
	"2025-02-29T10:30:00Z",		/* not a leap year */
	"1900-02-29T10:30:00Z",		/* divisible by 100 */
	"2025-04-31T10:30:00Z",
	"2025-06-31T10:30:00Z",
	"2025-09-31T10:30:00Z",
	"2025-11-31T10:30:00Z",
	"25-01-15T10:30:00Z",
	"+2025-01-15T10:30:00Z",
	"2025-1-15T10:30:00Z",
	"2025-01-15T1:30:00Z",
	"2025-01-15T10:30:0aZ",
	"2025-01-15T10:30:00.12a4Z",
	"2025-01-15T10:30:00.5",
	"2025-01-15T10:30:00+02:00Z",
	"2025-01-15T10:30:00+02:00:00",
	"2025-01-15T10:30:00+-2:00",
	"2025-01-15T10:30:00\342\210\22202:00", /* U+2212 minus sign */
};

static void test_time_canonicalize(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(time_ok); i++) {
		char out[RFC3339_MAX];
		int r = rfc3339_canonicalize(time_ok[i].in, strlen(time_ok[i].in), out, sizeof out);
		assert_int_equal(r, (int)strlen(time_ok[i].canon));
		assert_string_equal(out, time_ok[i].canon);
		/* Canonical form is a fixed point. */
		char again[RFC3339_MAX];
		assert_int_equal(rfc3339_canonicalize(out, strlen(out), again, sizeof again), r);
		assert_string_equal(again, out);
	}
	for (size_t i = 0; i < ELEMENTSOF(time_bad); i++) {
		char out[RFC3339_MAX] = "untouched";
		struct timestamp t = { 7, 7 };
		assert_int_equal(rfc3339_canonicalize(time_bad[i], strlen(time_bad[i]), out, sizeof out),
				 -EINVAL);
		assert_string_equal(out, "untouched");
		assert_int_equal(rfc3339_parse(time_bad[i], strlen(time_bad[i]), &t), -EINVAL);
		assert_int_equal(t.sec, 7);
	}
}

static void test_time_canonicalize_bounds(void **state)
{
	const char *s = "2025-01-15T12:30:00.100200300400+02:00";
	char small[33];
	char exact[34];

	/* "2025-01-15T12:30:00.1002003+02:00" is 33 chars + NUL. */
	assert_int_equal(rfc3339_canonicalize(s, strlen(s), small, sizeof small), -ENOBUFS);
	assert_int_equal(rfc3339_canonicalize(s, strlen(s), exact, sizeof exact), 33);
	/* len limits the input: a valid prefix followed by garbage outside len is fine. */
	assert_int_equal(rfc3339_canonicalize("2025-01-15T10:30:00Zjunk", 20, exact, sizeof exact), 20);
	assert_string_equal(exact, "2025-01-15T10:30:00Z");
	/* ...but a truncated length is not. */
	assert_int_equal(rfc3339_canonicalize("2025-01-15T10:30:00Z", 19, exact, sizeof exact), -EINVAL);
	assert_int_equal(rfc3339_canonicalize(NULL, 0, exact, sizeof exact), -EINVAL);
}

static void test_time_parse(void **state)
{
	static const struct {
		const char *in;
		int64_t sec;
		uint32_t nsec;
	} v[] = {
		{ "1970-01-01T00:00:00Z", 0, 0 },
		{ "2025-01-15T10:30:00.25Z", 1736937000, 250000000 },
		{ "2025-01-15T12:30:00.25+02:00", 1736937000, 250000000 },
		{ "2025-01-15T05:00:00.25-05:30", 1736937000, 250000000 },
		{ "2025-01-15T10:30:00.1234567899Z", 1736937000, 123456789 },
		{ "1969-12-31T23:59:59.5Z", -1, 500000000 },
		{ "2000-03-01T00:00:00Z", 951868800, 0 },
		{ "2024-02-29T12:00:00Z", 1709208000, 0 },
		{ "0001-01-01T00:00:00Z", INT64_C(-62135596800), 0 },
		{ "9999-12-31T23:59:59Z", INT64_C(253402300799), 0 },
	};
	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		struct timestamp t;
		assert_int_equal(rfc3339_parse(v[i].in, strlen(v[i].in), &t), 0);
		assert_int_equal(t.sec, v[i].sec);
		assert_int_equal(t.nsec, v[i].nsec);
	}

	struct timestamp t;
	assert_int_equal(rfc3339_parse("0001-01-01T00:00:00Z", 20, &t), 0);
	assert_true(timestamp_is_unset(t));
	assert_int_equal(rfc3339_parse("0001-01-01T00:00:00.000Z", 24, &t), 0);
	assert_true(timestamp_is_unset(t));
	assert_int_equal(rfc3339_parse("0001-01-01T00:00:00.000000001Z", 30, &t), 0);
	assert_false(timestamp_is_unset(t));
	assert_int_equal(rfc3339_parse("0001-01-01T00:00:01Z", 20, &t), 0);
	assert_false(timestamp_is_unset(t));
	assert_false(timestamp_is_unset(timestamp_now()));
}

static void test_time_format(void **state)
{
	static const struct {
		int64_t sec;
		uint32_t nsec;
		unsigned digits;
		const char *out;
	} v[] = {
		{ 0, 0, 0, "1970-01-01T00:00:00Z" },
		{ 1736937000, 250000000, 3, "2025-01-15T10:30:00.250Z" },
		{ 1736937000, 250999999, 3, "2025-01-15T10:30:00.250Z" }, /* truncated */
		{ 1736937000, 250000001, 9, "2025-01-15T10:30:00.250000001Z" },
		{ 1736937000, 250000000, 0, "2025-01-15T10:30:00Z" },
		{ -1, 500000000, 3, "1969-12-31T23:59:59.500Z" },
		{ 1709208000, 0, 0, "2024-02-29T12:00:00Z" },
		{ INT64_C(-62135596800), 0, 0, "0001-01-01T00:00:00Z" },
		{ INT64_C(253402300799), 999999999, 9, "9999-12-31T23:59:59.999999999Z" },
	};
	char out[RFC3339_MAX];

	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		struct timestamp t = { v[i].sec, v[i].nsec }, back;
		assert_int_equal(rfc3339_format(t, v[i].digits, out), (int)strlen(v[i].out));
		assert_string_equal(out, v[i].out);
		assert_int_equal(rfc3339_parse(out, strlen(out), &back), 0);
		assert_int_equal(back.sec, v[i].sec);
	}
	assert_int_equal(rfc3339_format((struct timestamp){ 0, 0 }, 6, out), -EINVAL);
	assert_int_equal(rfc3339_format((struct timestamp){ 0, 1000000000 }, 0, out), -EINVAL);
	assert_int_equal(rfc3339_format((struct timestamp){ INT64_C(253402300800), 0 }, 0, out), -ERANGE);
	assert_int_equal(rfc3339_format((struct timestamp){ INT64_C(-62167219201), 0 }, 0, out), -ERANGE);
	assert_int_equal(rfc3339_format((struct timestamp){ INT64_C(-62167219200), 0 }, 0, out),
			 20); /* 0000-01-01 */
	assert_string_equal(out, "0000-01-01T00:00:00Z");
}

/* Go's time.ParseDuration results. */
static const struct {
	const char *in;
	int64_t ns;
} dur_ok[] = {
	{ "0", 0 },
	{ "-0", 0 },
	{ "+0", 0 },
	{ "0s", 0 },
	{ "30s", 30 * NSEC_PER_SEC },
	{ "1m30s", 90 * NSEC_PER_SEC },
	{ "2.34s", 2340 * NSEC_PER_MSEC },
	{ "72h15m3s", (72 * 3600 + 15 * 60 + 3) * NSEC_PER_SEC },
	{ "1h0m0s", 3600 * NSEC_PER_SEC },
	{ "-1.5h", -5400 * NSEC_PER_SEC },
	{ "+5s", 5 * NSEC_PER_SEC },
	{ "1ns", 1 },
	{ "1.1ns", 1 },
	{ "1us", 1000 },
	{ "1\xc2\xb5s", 1000 }, /* U+00B5 micro sign */
	{ "1\xce\xbcs", 1000 }, /* U+03BC Greek mu */
	{ "1.5ms", 1500000 },
	{ ".5s", 500 * NSEC_PER_MSEC },
	{ "1.s", NSEC_PER_SEC },
	{ "1h1m1s1ms1us1ns", 3661001001001 },
	{ "3s3s", 6 * NSEC_PER_SEC }, /* Go allows repeated units */
	{ "0.1h", 360 * NSEC_PER_SEC },
	{ "0.333333333333333333333h", 1199999999999 },
	{ "9223372036854775807ns", INT64_MAX },
	{ "-9223372036854775808ns", INT64_MIN },
	{ "2562047h47m16.854775807s", INT64_MAX },
	{ "-2562047h47m16.854775808s", INT64_MIN },
	{ "0.000000001s", 1 },
	{ "0.0000000009s", 0 },
	{ "00012s", 12 * NSEC_PER_SEC },
};

static void test_duration_parse(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(dur_ok); i++) {
		int64_t ns = -42;
		int r = duration_parse(dur_ok[i].in, &ns);
		if (r != 0)
			fail_msg("duration_parse(\"%s\") = %d", dur_ok[i].in, r);
		assert_int_equal(ns, dur_ok[i].ns);
	}
	static const struct {
		const char *in;
		int err;
	} bad[] = {
		{ "", -EINVAL },
		{ "-", -EINVAL },
		{ "+", -EINVAL },
		{ "1", -EINVAL },	/* bare number */
		{ "00", -EINVAL },
		{ "-1", -EINVAL },
		{ "s", -EINVAL },
		{ ".s", -EINVAL },
		{ "1d", -EINVAL },
		{ "1w", -EINVAL },
		{ "1S", -EINVAL },
		{ "1 s", -EINVAL },
		{ " 1s", -EINVAL },
		{ "1s ", -EINVAL },
		{ "1sm", -EINVAL },
		{ "1s-1s", -EINVAL },
		{ "--1s", -EINVAL },
		{ "1e3s", -EINVAL },
		{ "1..5s", -EINVAL },
		{ "1.5.5s", -EINVAL },
		{ "0x10s", -EINVAL },
		{ "\xc2\xb5s", -EINVAL },
		{ "1\xc2s", -EINVAL },
		{ "9223372036854775808ns", -ERANGE },
		{ "-9223372036854775809ns", -ERANGE },
		{ "2562047h47m16.854775808s", -ERANGE },
		{ "2562048h", -ERANGE },
		{ "9223372036854775807ns1ns", -ERANGE },
		{ "-2562048h", -ERANGE },
		{ "-9223372036854775808ns1ns", -ERANGE },
		{ "5000000000000000000ns5000000000000000000ns5000000000000000000ns5000000000000000000ns", -ERANGE },
		{ "99999999999999999999999s", -ERANGE },
		{ "100000000000000000000000000000000000000000000000000.5ns", -ERANGE },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		int64_t ns = -42;
		int r = duration_parse(bad[i].in, &ns);
		if (r != bad[i].err)
			fail_msg("duration_parse(\"%s\") = %d, want %d", bad[i].in, r, bad[i].err);
		assert_int_equal(ns, -42);
	}
	assert_int_equal(duration_parse(NULL, &(int64_t){ 0 }), -EINVAL);
}

static void test_duration_parse_config(void **state)
{
	static const struct {
		const char *in;
		int64_t ns;
	} ok[] = {
		{ "0", 0 },
		{ "0s", 0 },
		{ "500ms", 500 * NSEC_PER_MSEC },
		{ "30s", 30 * NSEC_PER_SEC },
		{ "1.5h", 5400 * NSEC_PER_SEC },
		{ "1h30m", 5400 * NSEC_PER_SEC },
		{ "2m", 120 * NSEC_PER_SEC },
		{ "0.5s", 500 * NSEC_PER_MSEC },
		{ "1h1m1s1ms", 3661001 * NSEC_PER_MSEC },
	};
	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		int64_t ns = -1;
		assert_int_equal(duration_parse_config(ok[i].in, &ns), 0);
		assert_int_equal(ns, ok[i].ns);
	}
	static const char *const bad[] = {
		"",    "10",  "1.5",	"-1s",	"+1s",	"-0",  "1d",	"2w",	 "1us", "1ns",
		"1\xc2\xb5s", ".5s", "1.s", "1 s", "1h ", "00", "s", "1S", "1M",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		int64_t ns = -42;
		if (duration_parse_config(bad[i], &ns) != -EINVAL)
			fail_msg("duration_parse_config(\"%s\") accepted", bad[i]);
		assert_int_equal(ns, -42);
	}
	int64_t ns;
	assert_int_equal(duration_parse_config("2562048h", &ns), -ERANGE);
	assert_int_equal(duration_parse_config("99999999999999999999h", &ns), -ERANGE);
}

static void test_duration_format(void **state)
{
	static const struct {
		int64_t ns;
		const char *out;
	} v[] = {
		{ 0, "0s" },
		{ 1, "0.000000001s" },
		{ 500 * NSEC_PER_MSEC, "0.5s" },
		{ -500 * NSEC_PER_MSEC, "-0.5s" },
		{ 999999999, "0.999999999s" },
		{ NSEC_PER_SEC, "1s" },
		{ 2340 * NSEC_PER_MSEC, "2.34s" },
		{ 30 * NSEC_PER_SEC, "30s" },
		{ 59 * NSEC_PER_SEC, "59s" },
		{ 60 * NSEC_PER_SEC, "1m0s" },
		{ 90 * NSEC_PER_SEC, "1m30s" },
		{ 3600 * NSEC_PER_SEC, "1h0m0s" },
		{ 5400 * NSEC_PER_SEC, "1h30m0s" },
		{ (72 * 3600 + 15 * 60 + 3) * NSEC_PER_SEC, "72h15m3s" },
		{ -(90 * NSEC_PER_SEC), "-1m30s" },
		{ 3661001001001, "1h1m1.001001001s" },
		{ INT64_MAX, "2562047h47m16.854775807s" },
		{ INT64_MIN, "-2562047h47m16.854775808s" },
	};
	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		char out[64];
		int64_t back;
		assert_int_equal(duration_format(v[i].ns, out, sizeof out), (int)strlen(v[i].out));
		assert_string_equal(out, v[i].out);
		/* Whatever plexd emits, a receiver parses back to the same value. */
		assert_int_equal(duration_parse(out, &back), 0);
		assert_int_equal(back, v[i].ns);
	}
	char small[4];
	assert_int_equal(duration_format(90 * NSEC_PER_SEC, small, sizeof small), -ENOBUFS);
	assert_int_equal(duration_format(NSEC_PER_SEC, small, sizeof small), 2);
	assert_string_equal(small, "1s");
}

static void test_size_parse(void **state)
{
	static const struct {
		const char *in;
		uint64_t v;
	} ok[] = {
		{ "0", 0 },
		{ "16384", 16384 },
		{ "1K", 1024 },
		{ "1Ki", 1024 },
		{ "512M", 512ULL << 20 },
		{ "512Mi", 512ULL << 20 },
		{ "1G", 1ULL << 30 },
		{ "1Gi", 1ULL << 30 },
		{ "1.5G", 3ULL << 29 },
		{ "0.5K", 512 },
		{ "0.1K", 102 }, /* rounded down to whole bytes */
		{ "18446744073709551615", UINT64_MAX },
		{ "17179869183G", 17179869183ULL << 30 },
	};
	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		uint64_t v = 1;
		if (size_parse(ok[i].in, &v) != 0)
			fail_msg("size_parse(\"%s\") failed", ok[i].in);
		assert_int_equal(v, ok[i].v);
	}
	static const struct {
		const char *in;
		int err;
	} bad[] = {
		{ "", -EINVAL },     { "-1", -EINVAL },	    { "+1", -EINVAL },	 { "1.5", -EINVAL },
		{ "1k", -EINVAL },   { "1KB", -EINVAL },    { "1T", -EINVAL },	 { "1 K", -EINVAL },
		{ "K", -EINVAL },    { ".5K", -EINVAL },    { "1.K", -EINVAL },	 { "1Kii", -EINVAL },
		{ "1e3", -EINVAL },  { " 1", -EINVAL },	    { "1 ", -EINVAL },	 { "1B", -EINVAL },
		{ "18446744073709551616", -ERANGE },	    { "17179869184G", -ERANGE },
		{ "99999999999999999999999K", -ERANGE },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		uint64_t v = 42;
		if (size_parse(bad[i].in, &v) != bad[i].err)
			fail_msg("size_parse(\"%s\") != %d", bad[i].in, bad[i].err);
		assert_int_equal(v, 42);
	}
}

static void test_clock(void **state)
{
	usec_t a = now_usec(CLOCK_MONOTONIC), b = now_usec(CLOCK_MONOTONIC);
	assert_true(a > 0);
	assert_true(b >= a);
	struct timestamp t = timestamp_now();
	assert_true(t.sec > 1700000000);
	assert_true(t.nsec < 1000000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_canonicalize),
		cmocka_unit_test(test_time_canonicalize_bounds),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_duration_parse_config),
		cmocka_unit_test(test_duration_format),
		cmocka_unit_test(test_size_parse),
		cmocka_unit_test(test_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
