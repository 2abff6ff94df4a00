/* libFuzzer harness for src/shared/time-util: RFC 3339 parse/canonicalize/format, Go and config
 * durations, sizes. Checks the algebra between them, not just absence of crashes. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/time-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool ts_eq(struct timestamp a, struct timestamp b)
{
	return a.sec == b.sec && a.nsec == b.nsec;
}

/* format(t) parses back to t (up to the requested precision) whenever it formats at all. */
static void check_format(struct timestamp t)
{
	static const unsigned digits[] = { 0, 3, 9 };
	char out[RFC3339_MAX];
	struct timestamp back;

	for (size_t i = 0; i < sizeof(digits) / sizeof(digits[0]); i++) {
		int n = rfc3339_format(t, digits[i], out);

		if (t.nsec >= NSEC_PER_SEC) {
			CHECK(n == -EINVAL);
			continue;
		}
		if (n == -ERANGE)
			continue; /* outside years 0000-9999 */
		CHECK(n > 0 && (size_t)n < RFC3339_MAX && strlen(out) == (size_t)n);
		CHECK(rfc3339_parse(out, (size_t)n, &back) == 0);
		CHECK(back.sec == t.sec);
		if (digits[i] == 0)
			CHECK(back.nsec == 0);
		else if (digits[i] == 3)
			CHECK(back.nsec == t.nsec / 1000000 * 1000000);
		else
			CHECK(back.nsec == t.nsec);
	}
}

static void check_rfc3339(const char *s, size_t len)
{
	char canon[RFC3339_MAX], again[RFC3339_MAX];
	struct timestamp t, tc;
	int r, n;

	r = rfc3339_parse(s, len, &t);
	n = rfc3339_canonicalize(s, len, canon, sizeof(canon));
	CHECK(r == 0 || r == -EINVAL);
	/* Both validate with the same grammar. */
	CHECK((r == 0) == (n >= 0));
	if (r < 0) {
		CHECK(n == -EINVAL);
		return;
	}
	CHECK((size_t)n == strlen(canon));
	CHECK(t.nsec < NSEC_PER_SEC);

	/* Canonical form: a fixed point, the same instant, and an exact size requirement. */
	CHECK(rfc3339_canonicalize(canon, (size_t)n, again, sizeof(again)) == n);
	CHECK(memcmp(canon, again, (size_t)n + 1) == 0);
	CHECK(rfc3339_parse(canon, (size_t)n, &tc) == 0);
	CHECK(ts_eq(t, tc));
	CHECK(rfc3339_canonicalize(s, len, again, (size_t)n + 1) == n);
	CHECK(rfc3339_canonicalize(s, len, again, (size_t)n) == -ENOBUFS);

	check_format(t);
}

static void check_duration(const char *s)
{
	int64_t ns, ns2, nc;
	char out[64];
	int r, rc, n;

	r = duration_parse(s, &ns);
	CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
	if (r == 0) {
		n = duration_format(ns, out, sizeof(out));
		CHECK(n > 0 && (size_t)n == strlen(out));
		CHECK(duration_parse(out, &ns2) == 0);
		CHECK(ns2 == ns);
		/* plexd's output (h, m, s, no sign when positive) is valid config syntax too. */
		if (ns >= 0) {
			CHECK(duration_parse_config(out, &ns2) == 0);
			CHECK(ns2 == ns);
		}
		CHECK(duration_format(ns, out, (size_t)n) == -ENOBUFS);
	}

	/* The config grammar is a subset of Go's with the same values. */
	rc = duration_parse_config(s, &nc);
	CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
	if (rc == 0) {
		CHECK(r == 0 && nc == ns);
		CHECK(nc >= 0);
	}
}

static void check_size(const char *s)
{
	uint64_t v;
	int r = size_parse(s, &v);

	CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
	if (r == 0 && strspn(s, "0123456789") == strlen(s)) {
		errno = 0;
		CHECK(strtoull(s, NULL, 10) == v && errno == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size > 4096)
		return 0;
	check_rfc3339((const char *)data, size);

	s = malloc(size + 1);
	CHECK(s);
	memcpy(s, data, size);
	s[size] = '\0';
	check_duration(s);
	check_size(s);
	free(s);

	/* The raw bytes as a timestamp: format must round-trip for every representable one. */
	if (size >= 12) {
		struct timestamp t;
		uint32_t nsec;

		memcpy(&t.sec, data, 8);
		memcpy(&nsec, data + 8, 4);
		t.nsec = nsec;
		check_format(t);
		t.nsec = nsec % (uint32_t)NSEC_PER_SEC;
		t.sec %= INT64_C(400) * 366 * 86400 * 30; /* a range that reaches years 0000-9999 */
		check_format(t);
	}
	return 0;
}
