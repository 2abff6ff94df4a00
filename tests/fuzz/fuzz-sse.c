/* libFuzzer harness for the SSE parser: the input is a byte stream, fed whole, byte by byte and
 * in pseudo-random chunks derived from the data; all must agree with each other and, when no
 * limit can trigger, with a simple whole-buffer reference parser written independently here. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/sse.h"
#include "shared/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Serialized callback trace: one record per callback, length-prefixed so it is unambiguous. */
struct trace {
	uint8_t *s;
	size_t len, alloc;
	size_t max_line, max_event;
	unsigned long long n_events, n_comments;
};

static void trace_add(struct trace *t, const void *p, size_t n)
{
	if (t->len + n > t->alloc) {
		size_t a = (t->len + n) * 2;
		uint8_t *s = realloc(t->s, a);

		CHECK(s);
		t->s = s;
		t->alloc = a;
	}
	if (n)
		memcpy(t->s + t->len, p, n);
	t->len += n;
}

static void trace_add_blob(struct trace *t, const char *p, size_t n)
{
	trace_add(t, &n, sizeof(n));
	trace_add(t, p, n);
}

static int on_event(const struct sse_event *ev, void *userdata)
{
	struct trace *t = userdata;

	CHECK(ev->id && ev->event && ev->data);
	CHECK(ev->data_len <= t->max_event);
	CHECK(ev->id_len <= t->max_line && ev->event_len <= t->max_line);
	CHECK(strlen(ev->id) == ev->id_len); /* an id never holds NUL */
	CHECK(ev->event[ev->event_len] == '\0' && ev->data[ev->data_len] == '\0');
	t->n_events++;
	trace_add(t, "E", 1);
	trace_add_blob(t, ev->id, ev->id_len);
	trace_add_blob(t, ev->event, ev->event_len);
	trace_add_blob(t, ev->data, ev->data_len);
	return 0;
}

static void on_retry(unsigned long ms, void *userdata)
{
	trace_add(userdata, "R", 1);
	trace_add(userdata, &ms, sizeof(ms));
}

static void on_comment(void *userdata)
{
	struct trace *t = userdata;

	t->n_comments++;
	trace_add(t, "C", 1);
}

static const struct sse_callbacks callbacks = {
	.on_event = on_event,
	.on_retry = on_retry,
	.on_comment = on_comment,
};

/* Feeds data in chunks of the given sizes (cycled); chunk 0 means "the rest". */
static int run(const uint8_t *data, size_t size, size_t max_line, size_t max_event, const size_t *chunks,
	       size_t n_chunks, struct trace *t)
{
	struct sse_parser *p = NULL;
	size_t off = 0, k = 0;
	int r = 0, first = 0;

	*t = (struct trace){ .max_line = max_line, .max_event = max_event };
	CHECK(sse_parser_new(max_line, max_event, &p) == 0);
	do {
		size_t n = size - off;

		if (n_chunks > 0 && chunks[k % n_chunks] > 0 && chunks[k % n_chunks] < n)
			n = chunks[k % n_chunks];
		k++;
		r = sse_parser_feed(p, data + off, n, &callbacks, t);
		if (first < 0)
			CHECK(r == first); /* sticky */
		else if (r < 0)
			first = r;
		off += n;
	} while (off < size);

	CHECK(first == 0 || first == -E2BIG);
	CHECK(sse_parser_event_count(p) == t->n_events);
	CHECK(sse_parser_comment_count(p) == t->n_comments);
	if (first < 0) {
		trace_add(t, "!", 1);
		trace_add(t, &first, sizeof(first));
	}

	/* Whatever happened, reset yields a parser that behaves like a fresh one. */
	{
		struct trace t2 = { .max_line = SIZE_MAX, .max_event = SIZE_MAX };

		sse_parser_reset(p);
		if (max_line >= 6 && max_event >= 1) {
			CHECK(sse_parser_feed(p, "data:x\n\n", 8, &callbacks, &t2) == 0);
			CHECK(t2.n_events == 1);
			CHECK(t2.len == 1 + 3 * sizeof(size_t) + 1);
		}
		free(t2.s);
	}
	sse_parser_free(p);
	return first;
}

/* Reference: the WHATWG algorithm applied to the complete buffer, without limits. */
static void reference(const uint8_t *data, size_t size, struct trace *t)
{
	const char *s = (const char *)data, *end = s + size;
	char *buf = NULL, *idb = NULL, *evb = NULL;
	size_t buf_len = 0, id_len = 0, ev_len = 0;
	bool have_data = false;

	*t = (struct trace){ .max_line = SIZE_MAX, .max_event = SIZE_MAX };
	buf = malloc(size + 2);
	idb = malloc(size + 1);
	evb = malloc(size + 1);
	CHECK(buf && idb && evb);

	if (size >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (s < end) {
		const char *eol = s, *colon, *v;
		size_t n, name_len, vn;

		while (eol < end && *eol != '\r' && *eol != '\n')
			eol++;
		if (eol == end)
			break; /* unterminated last line: discarded */
		n = (size_t)(eol - s);

		if (n == 0) {
			if (have_data) {
				struct sse_event ev = { idb, id_len, evb, ev_len, buf, buf_len };

				idb[id_len] = evb[ev_len] = buf[buf_len] = '\0';
				on_event(&ev, t);
			}
			buf_len = ev_len = 0;
			have_data = false;
		} else if (s[0] == ':') {
			on_comment(t);
		} else {
			colon = memchr(s, ':', n);
			name_len = colon ? (size_t)(colon - s) : n;
			v = colon ? colon + 1 : eol;
			vn = (size_t)(eol - v);
			if (vn && *v == ' ')
				v++, vn--;
			if (name_len == 4 && !memcmp(s, "data", 4)) {
				if (have_data)
					buf[buf_len++] = '\n';
				memcpy(buf + buf_len, v, vn);
				buf_len += vn;
				have_data = true;
			} else if (name_len == 5 && !memcmp(s, "event", 5)) {
				memcpy(evb, v, vn);
				ev_len = vn;
			} else if (name_len == 2 && !memcmp(s, "id", 2)) {
				if (!memchr(v, '\0', vn)) {
					memcpy(idb, v, vn);
					id_len = vn;
				}
			} else if (name_len == 5 && !memcmp(s, "retry", 5) && vn > 0) {
				unsigned long ms = 0;
				size_t i;

				for (i = 0; i < vn && v[i] >= '0' && v[i] <= '9'; i++)
					if (__builtin_mul_overflow(ms, 10UL, &ms) ||
					    __builtin_add_overflow(ms, (unsigned long)(v[i] - '0'), &ms))
						ms = ULONG_MAX;
				if (i == vn)
					on_retry(ms, t);
			}
		}
		s = eol + 1;
		if (*eol == '\r' && s < end && *s == '\n')
			s++;
	}
	free(buf);
	free(idb);
	free(evb);
}

static bool trace_eq(const struct trace *a, const struct trace *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->s, b->s, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace whole, other;
	size_t chunks[16];
	uint64_t h = 1469598103934665603ULL; /* FNV-1a of the input seeds chunking and limits */
	size_t small_line, small_event;
	int r_whole;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	for (size_t i = 0; i < ELEMENTSOF(chunks); i++) {
		h ^= h >> 29;
		h *= 0xbf58476d1ce4e5b9ULL;
		chunks[i] = 1 + (size_t)(h >> 59); /* 1..32 */
	}
	small_line = 1 + (size_t)(h % 97);
	small_event = 1 + (size_t)((h >> 16) % 301);

	/* Default limits: no limit can trigger with fuzzer-sized inputs, so the reference holds. */
	r_whole = run(data, size, SSE_LINE_MAX_DEFAULT, SSE_EVENT_MAX_DEFAULT, NULL, 0, &whole);
	if (size < SSE_LINE_MAX_DEFAULT) {
		CHECK(r_whole == 0);
		reference(data, size, &other);
		CHECK(trace_eq(&whole, &other));
		free(other.s);
	}
	run(data, size, SSE_LINE_MAX_DEFAULT, SSE_EVENT_MAX_DEFAULT, chunks, ELEMENTSOF(chunks), &other);
	CHECK(trace_eq(&whole, &other));
	free(other.s);
	free(whole.s);

	/* Small limits: the error paths, still independent of chunking. */
	run(data, size, small_line, small_event, NULL, 0, &whole);
	run(data, size, small_line, small_event, chunks, ELEMENTSOF(chunks), &other);
	CHECK(trace_eq(&whole, &other));
	free(other.s);
	if (size <= 4096) {
		const size_t one = 1;

		run(data, size, small_line, small_event, &one, 1, &other);
		CHECK(trace_eq(&whole, &other));
		free(other.s);
	}
	free(whole.s);
	return 0;
}
