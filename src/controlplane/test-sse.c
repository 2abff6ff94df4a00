/* Unit tests for the SSE parser: W3C examples, line endings, chunk boundaries, field rules,
 * limits, and the control-plane-api.md §5.2 example stream. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "controlplane/sse.h"
#include "shared/macro.h"

/* Everything the callbacks saw, serialized so that two runs compare with one memcmp:
 *   E<id>|<event>|<data>\n   an event (\n \r \0 \\ | escaped)
 *   R<ms>\n                  a retry
 *   C\n                      a comment
 *   !<r>\n                   the first error returned by sse_parser_feed() */
struct rec {
	char *s;
	size_t len;
	size_t alloc;
	int error;
	int abort_after; /* on_event returns -ECANCELED after this many events; 0 = never */
	int n_events;
};

static void rec_add(struct rec *r, const char *s, size_t n)
{
	if (r->len + n + 1 > r->alloc) {
		r->alloc = (r->len + n + 1) * 2;
		r->s = realloc(r->s, r->alloc);
		assert_non_null(r->s);
	}
	memcpy(r->s + r->len, s, n);
	r->len += n;
	r->s[r->len] = '\0';
}

static void rec_addf(struct rec *r, const char *fmt, ...) _printf_(2, 3);
static void rec_addf(struct rec *r, const char *fmt, ...)
{
	char buf[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	rec_add(r, buf, (size_t)n);
}

static void rec_escaped(struct rec *r, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '\n':
			rec_add(r, "\\n", 2);
			break;
		case '\r':
			rec_add(r, "\\r", 2);
			break;
		case '\0':
			rec_add(r, "\\0", 2);
			break;
		case '\\':
			rec_add(r, "\\\\", 2);
			break;
		case '|':
			rec_add(r, "\\|", 2);
			break;
		default:
			rec_add(r, &s[i], 1);
		}
	}
}

static int on_event(const struct sse_event *ev, void *userdata)
{
	struct rec *r = userdata;

	/* The documented string invariants. */
	assert_int_equal(strlen(ev->id), ev->id_len);
	assert_int_equal(ev->event[ev->event_len], '\0');
	assert_int_equal(ev->data[ev->data_len], '\0');

	rec_add(r, "E", 1);
	rec_escaped(r, ev->id, ev->id_len);
	rec_add(r, "|", 1);
	rec_escaped(r, ev->event, ev->event_len);
	rec_add(r, "|", 1);
	rec_escaped(r, ev->data, ev->data_len);
	rec_add(r, "\n", 1);
	if (r->abort_after > 0 && ++r->n_events >= r->abort_after)
		return -ECANCELED;
	return 0;
}

static void on_retry(unsigned long ms, void *userdata)
{
	rec_addf(userdata, "R%lu\n", ms);
}

static void on_comment(void *userdata)
{
	rec_add(userdata, "C\n", 2);
}

static const struct sse_callbacks callbacks = {
	.on_event = on_event,
	.on_retry = on_retry,
	.on_comment = on_comment,
};

struct sse_case {
	const char *name;
	const char *in;
	size_t in_len;
	size_t max_line; /* 0: SSE_LINE_MAX_DEFAULT */
	size_t max_event;
	const char *expect;
};

/* String literal with its exact length, so inputs may contain NUL. */
#define S(lit) lit, sizeof(lit) - 1

static const struct sse_case cases[] = {
	/* WHATWG HTML "9.2.6 Interpreting an event stream" / "9.2.5 Parsing" examples. */
	{ "w3c-yhoo", S("data: YHOO\ndata: +2\ndata: 10\n\n"), 0, 0, "E||YHOO\\n+2\\n10\n" },
	{ "w3c-test-stream", S(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"), 0, 0,
	  "C\nE1||first event\nE||second event\nE|| third event\n" },
	/* As printed in the spec: the last block has no blank line after it and is not fired. */
	{ "w3c-test-stream-unterminated", S(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n"), 0, 0,
	  "C\nE1||first event\nE||second event\n" },
	{ "w3c-empty-data", S("data\n\ndata\ndata\n\ndata:"), 0, 0, "E||\nE||\\n\n" },
	{ "w3c-space-after-colon", S("data:test\n\ndata: test\n\n"), 0, 0, "E||test\nE||test\n" },
	{ "w3c-event-types", S("event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n"), 0, 0,
	  "E|add|73857293\nE|remove|2153\nE|add|113411\n" },

	/* Line endings. */
	{ "crlf", S(": test stream\r\n\r\ndata: first event\r\nid: 1\r\n\r\ndata:second event\r\nid\r\n\r\n"), 0, 0,
	  "C\nE1||first event\nE||second event\n" },
	{ "lone-cr", S(": test stream\r\rdata: first event\rid: 1\r\rdata:second event\rid\r\r"), 0, 0,
	  "C\nE1||first event\nE||second event\n" },
	{ "mixed", S("data: a\r\ndata: b\rdata: c\n\r\n"), 0, 0, "E||a\\nb\\nc\n" },
	{ "cr-cr-lf-is-two-lines", S("data: x\r\r\ndata: y\r\n\r\n"), 0, 0, "E||x\nE||y\n" },
	{ "lf-cr-is-two-lines", S("data: x\n\rdata: y\n\n"), 0, 0, "E||x\nE||y\n" },
	{ "crlf-crlf-after-data", S("data: x\r\n\r\n\r\n\r\n"), 0, 0, "E||x\n" },
	{ "no-final-terminator", S("data: x\n\ndata: y\n"), 0, 0, "E||x\n" },
	{ "cr-in-value-splits", S("data: a\rb\n\n"), 0, 0, "E||a\n" },

	/* Field rules. */
	{ "colon-in-value", S("data: a:b: c\n\n"), 0, 0, "E||a:b: c\n" },
	{ "one-space-stripped", S("data:  two\ndata:\tx\ndata: \n\n"), 0, 0, "E|| two\\n\tx\\n\n" },
	{ "unknown-fields", S("foo: bar\nDATA: x\ndata : y\nData:z\nevents: e\nretryx: 5\nid : 3\ndata:ok\n\n"), 0, 0, "E||ok\n" },
	{ "no-colon-event-and-id", S("id: 5\nevent: a\nevent\nid\ndata:v\n\n"), 0, 0, "E||v\n" },
	{ "last-event-line-wins", S("event: a\nevent: b\ndata: v\n\n"), 0, 0, "E|b|v\n" },
	{ "event-reset-after-dispatch", S("event: a\ndata: 1\n\ndata: 2\n\n"), 0, 0, "E|a|1\nE||2\n" },
	{ "event-without-data-dropped", S("event: a\nid: 9\n\ndata: 2\n\n"), 0, 0, "E9||2\n" },
	{ "comments", S(": connected\n:\n::\n:data: x\n\n"), 0, 0, "C\nC\nC\nC\n" },
	{ "comment-inside-event", S("data: a\n: keepalive\ndata: b\n\n"), 0, 0, "C\nE||a\\nb\n" },
	{ "data-with-nul", S("data: a\0b\n\n"), 0, 0, "E||a\\0b\n" },
	{ "event-with-nul", S("event: a\0b\ndata: x\n\n"), 0, 0, "E|a\\0b|x\n" },
	{ "field-name-with-nul", S("da\0ta: x\ndata: y\n\n"), 0, 0, "E||y\n" },
	{ "binary-value", S("data: \xff\xfe\x01\n\n"), 0, 0, "E||\xff\xfe\x01\n" },

	/* id: persistence, clearing, NUL. */
	{ "id-persists", S("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 2\n\ndata: d\n\n"), 0, 0,
	  "E1||a\nE1||b\nE||c\nE2||d\n" },
	{ "id-after-data-applies", S("data: a\nid: 7\n\n"), 0, 0, "E7||a\n" },
	{ "id-with-nul-ignored", S("id: 1\ndata: a\n\nid: x\0y\ndata: b\n\nid: \0\ndata: c\n\n"), 0, 0,
	  "E1||a\nE1||b\nE1||c\n" },
	{ "id-keeps-spaces", S("id:  a b \ndata: x\n\n"), 0, 0, "E a b ||x\n" },

	/* retry: */
	{ "retry-valid", S("retry: 1500\nretry:0\nretry: 0042\n"), 0, 0, "R1500\nR0\nR42\n" },
	{ "retry-invalid", S("retry: 15s\nretry: -1\nretry: \nretry\nretry:  10\nretry: 1.5\nretry: +5\nretry: 1 \nretry: \xd9\xa1\n"), 0, 0, "" },
	{ "retry-with-event", S("retry: 10\ndata: x\n\n"), 0, 0, "R10\nE||x\n" },

	/* Byte order mark: one, at stream start only. */
	{ "bom", S("\xEF\xBB\xBF" "data: x\n\n"), 0, 0, "E||x\n" },
	{ "bom-then-crlf", S("\xEF\xBB\xBF\r\ndata: x\r\n\r\n"), 0, 0, "E||x\n" },
	{ "bom-then-comment", S("\xEF\xBB\xBF: hi\n"), 0, 0, "C\n" },
	{ "bom-twice", S("\xEF\xBB\xBF\xEF\xBB\xBF" "data: x\n\ndata: y\n\n"), 0, 0, "E||y\n" },
	{ "bom-partial", S("\xEF\xBB" "data: x\n\ndata: y\n\n"), 0, 0, "E||y\n" },
	{ "bom-partial-then-lf", S("\xEF\ndata: y\n\n"), 0, 0, "E||y\n" },
	{ "bom-partial-then-cr", S("\xEF\xBB\rdata: y\r\r"), 0, 0, "E||y\n" },
	{ "bom-not-at-start", S("data: x\n\xEF\xBB\xBF" "data: y\n\n"), 0, 0, "E||x\n" },
	{ "bom-in-value", S("data: \xEF\xBB\xBF\n\n"), 0, 0, "E||\xEF\xBB\xBF\n" },

	/* Limits. "data: 12" is exactly 8 bytes. */
	{ "line-at-limit", S("data: 12\n\n"), 8, 0, "E||12\n" },
	{ "line-at-limit-crlf", S("data: 12\r\n\r\n"), 8, 0, "E||12\n" },
	{ "line-over-limit", S("data: 123\n\n"), 8, 0, "!-7\n" },
	{ "line-over-limit-unterminated", S("data: 123456"), 8, 0, "!-7\n" },
	{ "line-over-limit-after-event", S("data: a\n\ndata: 123456789\n\ndata: b\n\n"), 8, 0, "E||a\n!-7\n" },
	{ "comment-over-limit", S(": 123456789\n"), 8, 0, "!-7\n" },
	{ "partial-bom-counts-toward-line", S("\xEF\xBBxy\n"), 3, 0, "!-7\n" },
	{ "full-bom-does-not-count", S("\xEF\xBB\xBFxyz\n: c\n"), 3, 0, "C\n" },
	{ "event-at-limit", S("data: abc\ndata: d\n\n"), 0, 5, "E||abc\\nd\n" },
	{ "event-over-limit", S("data: abc\ndata: de\n\n"), 0, 5, "!-7\n" },
	{ "event-over-limit-by-join", S("data: abcde\ndata:\n\n"), 0, 5, "!-7\n" },
	{ "event-limit-per-event", S("data: abcde\n\ndata: fghij\n\n"), 0, 5, "E||abcde\nE||fghij\n" },
	{ "event-over-limit-after-event", S("data: ab\n\ndata: abcdef\n\ndata: x\n\n"), 0, 5, "E||ab\n!-7\n" },
};

/* Feeds c->in cut at the given offsets (ascending, each in [0, len]) and records the result.
 * Once a feed fails, every later chunk must return the same error. */
static void run_cuts(const struct sse_case *c, const size_t *cuts, size_t n_cuts, struct rec *out)
{
	struct sse_parser *p = NULL;
	size_t start = 0;

	assert_int_equal(sse_parser_new(c->max_line ?: SSE_LINE_MAX_DEFAULT,
					c->max_event ?: SSE_EVENT_MAX_DEFAULT, &p),
			 0);
	for (size_t k = 0; k <= n_cuts; k++) {
		size_t end = k < n_cuts ? cuts[k] : c->in_len;
		int r;

		assert_true(end >= start && end <= c->in_len);
		r = sse_parser_feed(p, c->in + start, end - start, &callbacks, out);
		if (out->error < 0)
			assert_int_equal(r, out->error);
		else if (r < 0) {
			out->error = r;
			rec_addf(out, "!%d\n", r);
		}
		start = end;
	}
	sse_parser_free(p);
}

static void expect_rec(const struct sse_case *c, const struct rec *got, const char *how)
{
	const char *s = got->s ?: "";

	if (strcmp(s, c->expect) != 0) {
		print_error("case %s (%s):\n  expected: %s\n  got:      %s\n", c->name, how, c->expect, s);
		fail();
	}
}

static void test_cases_whole(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct rec r = {};

		run_cuts(&cases[i], NULL, 0, &r);
		expect_rec(&cases[i], &r, "whole");
		free(r.s);
	}
}

static void test_cases_bytewise(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		const struct sse_case *c = &cases[i];
		struct rec r = {};
		size_t *cuts = calloc(c->in_len + 1, sizeof(size_t));

		assert_non_null(cuts);
		for (size_t k = 0; k < c->in_len; k++)
			cuts[k] = k;
		run_cuts(c, cuts, c->in_len, &r);
		expect_rec(c, &r, "byte by byte");
		free(r.s);
		free(cuts);
	}
}

static void test_cases_split2(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		const struct sse_case *c = &cases[i];

		for (size_t a = 0; a <= c->in_len; a++) {
			struct rec r = {};
			char how[32];

			run_cuts(c, &a, 1, &r);
			snprintf(how, sizeof(how), "split at %zu", a);
			expect_rec(c, &r, how);
			free(r.s);
		}
	}
}

static void test_cases_split3(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		const struct sse_case *c = &cases[i];

		if (c->in_len > 64)
			continue;
		for (size_t a = 0; a <= c->in_len; a++)
			for (size_t b = a; b <= c->in_len; b++) {
				const size_t cuts[2] = { a, b };
				struct rec r = {};
				char how[48];

				run_cuts(c, cuts, 2, &r);
				snprintf(how, sizeof(how), "split at %zu,%zu", a, b);
				expect_rec(c, &r, how);
				free(r.s);
			}
	}
}

/* control-plane-api.md §5.2 example, verbatim. */
static const char spec_example[] =
	": connected\n"
	"\n"
	"id: evt_000043\n"
	"event: peer_added\n"
	"data: {\"event_type\":\"peer_added\",\"event_id\":\"evt_000043\",\"issued_at\":\"2025-01-15T10:30:05Z\",\"nonce\":\"0d3b8e51f2a94c67a1e0b5d7c3f29e84\",\"payload\":{\"id\":\"n_peer456\",\"public_key\":\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\",\"mesh_ip\":\"10.100.1.5\",\"endpoint\":\"203.0.113.10:51820\",\"allowed_ips\":[\"10.100.1.5/32\"],\"psk\":\"BY0lWFE3NaekLVCSxBjjA5D5fik694dCChMkSy5so6c=\"},\"signature\":\"RZkUtTr8C7PQ4GV2/DY0k/HWpCZXi/pW6c4kn/EEjlqIgU2EU7dETIAxjd9H22MAvHW0QpthT6Mv3f9Uz+DYCA==\"}\n"
	"\n"
	": keepalive\n"
	"\n";

static const char spec_example_data[] =
	"{\"event_type\":\"peer_added\",\"event_id\":\"evt_000043\",\"issued_at\":\"2025-01-15T10:30:05Z\",\"nonce\":\"0d3b8e51f2a94c67a1e0b5d7c3f29e84\",\"payload\":{\"id\":\"n_peer456\",\"public_key\":\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\",\"mesh_ip\":\"10.100.1.5\",\"endpoint\":\"203.0.113.10:51820\",\"allowed_ips\":[\"10.100.1.5/32\"],\"psk\":\"BY0lWFE3NaekLVCSxBjjA5D5fik694dCChMkSy5so6c=\"},\"signature\":\"RZkUtTr8C7PQ4GV2/DY0k/HWpCZXi/pW6c4kn/EEjlqIgU2EU7dETIAxjd9H22MAvHW0QpthT6Mv3f9Uz+DYCA==\"}";

struct example_seen {
	int n;
	int comments;
};

static int example_on_event(const struct sse_event *ev, void *userdata)
{
	struct example_seen *seen = userdata;

	seen->n++;
	assert_string_equal(ev->id, "evt_000043");
	assert_int_equal(ev->id_len, STRLEN("evt_000043"));
	assert_string_equal(ev->event, "peer_added");
	assert_int_equal(ev->event_len, STRLEN("peer_added"));
	assert_int_equal(ev->data_len, STRLEN(spec_example_data));
	assert_memory_equal(ev->data, spec_example_data, ev->data_len);
	return 0;
}

static void example_on_comment(void *userdata)
{
	((struct example_seen *)userdata)->comments++;
}

static void test_spec_example(void **state)
{
	static const struct sse_callbacks cb = {
		.on_event = example_on_event,
		.on_comment = example_on_comment,
	};
	const size_t len = STRLEN(spec_example);
	/* Whole, then every 2-way split. */
	for (size_t a = 0; a <= len; a++) {
		struct example_seen seen = {};
		struct sse_parser *p = NULL;

		assert_int_equal(sse_parser_new(SSE_LINE_MAX_DEFAULT, SSE_EVENT_MAX_DEFAULT, &p), 0);
		assert_int_equal(sse_parser_feed(p, spec_example, a, &cb, &seen), 0);
		assert_int_equal(sse_parser_feed(p, spec_example + a, len - a, &cb, &seen), 0);
		assert_int_equal(seen.n, 1);
		assert_int_equal(seen.comments, 2);
		assert_int_equal(sse_parser_event_count(p), 1);
		assert_int_equal(sse_parser_comment_count(p), 2);
		sse_parser_free(p);
	}
}

/* plexd must accept lines of at least 1 MiB; one byte more is refused with -E2BIG. */
static void test_mib_line(void **state)
{
	const size_t prefix = STRLEN("data:");

	for (int over = 0; over <= 1; over++) {
		size_t n = SSE_LINE_MAX_DEFAULT + (size_t)over; /* line length, terminator excluded */
		char *in = malloc(n + 2);
		struct rec r = {};
		struct sse_parser *p = NULL;
		int ret = 0;

		assert_non_null(in);
		memcpy(in, "data:", prefix);
		for (size_t i = prefix; i < n; i++)
			in[i] = (char)('a' + i % 26);
		in[n] = '\n';
		in[n + 1] = '\n';

		/* Whole, and in 4 KiB chunks (the partial-line path). */
		for (size_t chunk = n + 2; chunk >= 4096; chunk = chunk == 4096 ? 0 : 4096) {
			assert_int_equal(sse_parser_new(SSE_LINE_MAX_DEFAULT, SSE_EVENT_MAX_DEFAULT, &p), 0);
			ret = 0;
			for (size_t off = 0; off < n + 2 && ret == 0; off += chunk)
				ret = sse_parser_feed(p, in + off, MIN(chunk, n + 2 - off), &callbacks, &r);
			if (over) {
				assert_int_equal(ret, -E2BIG);
				assert_null(r.s);
			} else {
				assert_int_equal(ret, 0);
				assert_int_equal(sse_parser_event_count(p), 1);
				/* "E||" + data + "\n" */
				assert_int_equal(r.len, 3 + (n - prefix) + 1);
				assert_memory_equal(r.s + 3, in + prefix, n - prefix);
			}
			p = sse_parser_free(p);
			free(r.s);
			r = (struct rec){};
		}
		free(in);
	}
}

static void test_sticky_error_and_reset(void **state)
{
	struct sse_parser *p = NULL;
	struct rec r = {};

	assert_int_equal(sse_parser_new(8, 16, &p), 0);
	assert_int_equal(sse_parser_feed(p, S("id: 1\ndata: a\n\ndata: 123456789\n"), &callbacks, &r), -E2BIG);
	assert_string_equal(r.s, "E1||a\n");
	/* Refused until reset, even valid input. */
	assert_int_equal(sse_parser_feed(p, S("data: b\n\n"), &callbacks, &r), -E2BIG);
	assert_int_equal(sse_parser_feed(p, NULL, 0, &callbacks, &r), -E2BIG);
	assert_string_equal(r.s, "E1||a\n");

	/* Reset: a fresh stream. The id is forgotten and a BOM is skipped again. */
	sse_parser_reset(p);
	assert_int_equal(sse_parser_feed(p, S("\xEF\xBB\xBF" "data: b\n\n"), &callbacks, &r), 0);
	assert_string_equal(r.s, "E1||a\nE||b\n");
	assert_int_equal(sse_parser_event_count(p), 2); /* counters survive reset */
	sse_parser_free(p);
	free(r.s);
}

static void test_reset_forgets_partial_state(void **state)
{
	struct sse_parser *p = NULL;
	struct rec r = {};

	assert_int_equal(sse_parser_new(64, 64, &p), 0);
	/* Partial event, a CR waiting for its LF, a pending event type. */
	assert_int_equal(sse_parser_feed(p, S("id: 7\nevent: e\ndata: a\r"), &callbacks, &r), 0);
	sse_parser_reset(p);
	/* The LF is not swallowed as the CR's partner: it is an empty line (no data, no event). */
	assert_int_equal(sse_parser_feed(p, S("\ndata: b\n\n"), &callbacks, &r), 0);
	assert_string_equal(r.s, "E||b\n");

	/* Partial line and partial BOM. */
	sse_parser_reset(p);
	assert_int_equal(sse_parser_feed(p, S("\xEF\xBB"), &callbacks, &r), 0);
	sse_parser_reset(p);
	assert_int_equal(sse_parser_feed(p, S("\xEF\xBB\xBF" "data: c\n\ndata: partial"), &callbacks, &r), 0);
	sse_parser_reset(p);
	assert_int_equal(sse_parser_feed(p, S("data: d\n\n"), &callbacks, &r), 0);
	assert_string_equal(r.s, "E||b\nE||c\nE||d\n");
	sse_parser_free(p);
	free(r.s);
}

static void test_callback_abort(void **state)
{
	struct sse_parser *p = NULL;
	struct rec r = { .abort_after = 1 };

	assert_int_equal(sse_parser_new(64, 64, &p), 0);
	assert_int_equal(sse_parser_feed(p, S("data: a\n\ndata: b\n\n"), &callbacks, &r), -ECANCELED);
	assert_string_equal(r.s, "E||a\n");
	assert_int_equal(sse_parser_feed(p, S("data: c\n\n"), &callbacks, &r), -ECANCELED);
	sse_parser_reset(p);
	r.abort_after = 0;
	assert_int_equal(sse_parser_feed(p, S("data: c\n\n"), &callbacks, &r), 0);
	assert_string_equal(r.s, "E||a\nE||c\n");
	sse_parser_free(p);
	free(r.s);
}

static void test_retry_saturates(void **state)
{
	struct rec r = {};
	struct sse_parser *p = NULL;
	char expect[64];

	assert_int_equal(sse_parser_new(64, 64, &p), 0);
	assert_int_equal(sse_parser_feed(p, S("retry: 99999999999999999999999999999\nretry: 60000\n"), &callbacks, &r), 0);
	snprintf(expect, sizeof(expect), "R%lu\nR60000\n", ULONG_MAX);
	assert_string_equal(r.s, expect);
	sse_parser_free(p);
	free(r.s);
}

static void test_null_callbacks_and_counters(void **state)
{
	struct sse_parser *p = NULL;
	static const struct sse_callbacks none = {};

	assert_int_equal(sse_parser_new(64, 64, &p), 0);
	assert_int_equal(sse_parser_feed(p, S(": a\ndata: x\nretry: 5\n\n: b\n"), NULL, NULL), 0);
	assert_int_equal(sse_parser_feed(p, S("data: y\n\n"), &none, NULL), 0);
	assert_int_equal(sse_parser_comment_count(p), 2);
	assert_int_equal(sse_parser_event_count(p), 2);
	sse_parser_free(p);
}

static void test_new_and_free(void **state)
{
	struct sse_parser *p = NULL;

	assert_int_equal(sse_parser_new(0, 10, &p), -EINVAL);
	assert_int_equal(sse_parser_new(10, 0, &p), -EINVAL);
	assert_int_equal(sse_parser_new(SIZE_MAX, 10, &p), -EINVAL);
	assert_int_equal(sse_parser_new(10, 10, NULL), -EINVAL);
	assert_null(p);
	assert_null(sse_parser_free(NULL));
	sse_parser_reset(NULL);
	assert_int_equal(sse_parser_feed(NULL, "x", 1, NULL, NULL), -EINVAL);

	assert_int_equal(sse_parser_new(1, 1, &p), 0);
	assert_int_equal(sse_parser_feed(p, NULL, 1, NULL, NULL), -EINVAL);
	/* The smallest limits still parse a one-byte-line stream. */
	assert_int_equal(sse_parser_feed(p, S(":\n\n"), NULL, NULL), 0);
	assert_int_equal(sse_parser_comment_count(p), 1);
	assert_null(sse_parser_free(p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases_whole),
		cmocka_unit_test(test_cases_bytewise),
		cmocka_unit_test(test_cases_split2),
		cmocka_unit_test(test_cases_split3),
		cmocka_unit_test(test_spec_example),
		cmocka_unit_test(test_mib_line),
		cmocka_unit_test(test_sticky_error_and_reset),
		cmocka_unit_test(test_reset_forgets_partial_state),
		cmocka_unit_test(test_callback_abort),
		cmocka_unit_test(test_retry_saturates),
		cmocka_unit_test(test_null_callbacks_and_counters),
		cmocka_unit_test(test_new_and_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
