/* Incremental text/event-stream parser: splits bytes into lines (LF, CRLF, lone CR) across
 * arbitrary chunk boundaries and applies the W3C field rules (control-plane-api.md §5.2). */
#include "controlplane/sse.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/macro.h"

/* A growable byte buffer, kept NUL-terminated once allocated. */
struct sse_buf {
	char *data;
	size_t len;
	size_t alloc;
};

struct sse_parser {
	size_t max_line;
	size_t max_event;

	struct sse_buf line;  /* the partial line when a line spans chunks */
	struct sse_buf data;  /* data lines of the current block, joined with LF */
	struct sse_buf event; /* event type of the current block */
	struct sse_buf id;    /* last event ID buffer: persists across blocks */
	bool data_seen;

	/* The previous chunk ended in CR: an LF starting the next chunk is the same terminator. */
	bool skip_lf;
	/* Stream-start BOM detection, which may itself be split across chunks. */
	bool bom_done;
	uint8_t bom_matched;

	int error; /* sticky until reset */

	unsigned long long n_comments;
	unsigned long long n_events;
};

static const uint8_t utf8_bom[3] = { 0xEF, 0xBB, 0xBF };

/* Grows b so that it can hold need bytes plus a NUL. limit bounds need, so the allocation
 * stays below limit + 1 whatever the growth policy does. The buffers may carry key material
 * (a peer_added payload holds a PSK), so the old block is wiped instead of realloc'd. */
static int buf_reserve(struct sse_buf *b, size_t need, size_t limit)
{
	size_t n;
	char *d;

	if (need < b->alloc)
		return 0;
	n = b->alloc < 128 ? 128 : b->alloc;
	while (n <= need && n <= limit / 2)
		n *= 2;
	if (n <= need || n > limit)
		n = limit;
	n += 1;

	d = malloc(n);
	if (!d)
		return -ENOMEM;
	if (b->data) {
		memcpy(d, b->data, b->len);
		explicit_bzero(b->data, b->alloc);
		free(b->data);
	}
	d[b->len] = '\0';
	b->data = d;
	b->alloc = n;
	return 0;
}

static int buf_append(struct sse_buf *b, const void *s, size_t n, size_t limit)
{
	int r;

	if (n > limit || b->len > limit - n)
		return -E2BIG;
	r = buf_reserve(b, b->len + n, limit);
	if (r < 0)
		return r;
	if (n > 0)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static void buf_clear(struct sse_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static void buf_wipe(struct sse_buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->alloc);
	buf_clear(b);
}

static void buf_done(struct sse_buf *b)
{
	buf_wipe(b);
	b->data = mfree(b->data);
	b->alloc = 0;
}

static const char *buf_str(const struct sse_buf *b)
{
	return b->len > 0 ? b->data : "";
}

int sse_parser_new(size_t max_line, size_t max_event, struct sse_parser **ret)
{
	struct sse_parser *p;

	if (!ret || max_line == 0 || max_event == 0 || max_line == SIZE_MAX || max_event == SIZE_MAX)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->max_line = max_line;
	p->max_event = max_event;
	*ret = p;
	return 0;
}

struct sse_parser *sse_parser_free(struct sse_parser *p)
{
	if (!p)
		return NULL;
	buf_done(&p->line);
	buf_done(&p->data);
	buf_done(&p->event);
	buf_done(&p->id);
	free(p);
	return NULL;
}

void sse_parser_reset(struct sse_parser *p)
{
	if (!p)
		return;
	buf_wipe(&p->line);
	buf_wipe(&p->data);
	buf_clear(&p->event);
	buf_clear(&p->id);
	p->data_seen = false;
	p->skip_lf = false;
	p->bom_done = false;
	p->bom_matched = 0;
	p->error = 0;
}

unsigned long long sse_parser_comment_count(const struct sse_parser *p)
{
	return p ? p->n_comments : 0;
}

unsigned long long sse_parser_event_count(const struct sse_parser *p)
{
	return p ? p->n_events : 0;
}

static int field_data(struct sse_parser *p, const char *v, size_t n, const struct sse_callbacks *cb,
		      void *userdata)
{
	int r;

	/* Joining with LF is W3C's "append value and LF, drop the final LF at dispatch". */
	if (p->data_seen) {
		r = buf_append(&p->data, "\n", 1, p->max_event);
		if (r < 0)
			return r;
	}
	r = buf_append(&p->data, v, n, p->max_event);
	if (r < 0)
		return r;
	p->data_seen = true;
	return 0;
}

static int field_event(struct sse_parser *p, const char *v, size_t n, const struct sse_callbacks *cb,
		       void *userdata)
{
	buf_clear(&p->event);
	return buf_append(&p->event, v, n, p->max_line);
}

static int field_id(struct sse_parser *p, const char *v, size_t n, const struct sse_callbacks *cb,
		    void *userdata)
{
	/* W3C: an id containing NUL is ignored, the previous one stays. */
	if (memchr(v, '\0', n))
		return 0;
	buf_clear(&p->id);
	return buf_append(&p->id, v, n, p->max_line);
}

static int field_retry(struct sse_parser *p, const char *v, size_t n, const struct sse_callbacks *cb,
		       void *userdata)
{
	unsigned long ms = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (v[i] < '0' || v[i] > '9')
			return 0;
		d = (unsigned)(v[i] - '0');
		/* Saturate: the caller clamps to its range anyway, and a huge value means "slow". */
		ms = ms > (ULONG_MAX - d) / 10 ? ULONG_MAX : ms * 10 + d;
	}
	if (cb && cb->on_retry)
		cb->on_retry(ms, userdata);
	return 0;
}

static const struct {
	const char *name;
	size_t len;
	int (*handle)(struct sse_parser *p, const char *v, size_t n, const struct sse_callbacks *cb,
		      void *userdata);
} sse_fields[] = {
	{ "data", STRLEN("data"), field_data },
	{ "event", STRLEN("event"), field_event },
	{ "id", STRLEN("id"), field_id },
	{ "retry", STRLEN("retry"), field_retry },
};

static int dispatch(struct sse_parser *p, const struct sse_callbacks *cb, void *userdata)
{
	int r = 0;

	if (p->data_seen) {
		const struct sse_event ev = {
			.id = buf_str(&p->id),
			.id_len = p->id.len,
			.event = buf_str(&p->event),
			.event_len = p->event.len,
			.data = buf_str(&p->data),
			.data_len = p->data.len,
		};

		p->n_events++;
		if (cb && cb->on_event)
			r = cb->on_event(&ev, userdata);
	}
	/* The id buffer deliberately survives: W3C's last event ID persists across blocks. */
	buf_clear(&p->data);
	buf_clear(&p->event);
	p->data_seen = false;
	return r < 0 ? r : 0;
}

static int process_line(struct sse_parser *p, const char *line, size_t n, const struct sse_callbacks *cb,
			void *userdata)
{
	const char *colon, *v;
	size_t name_len, vn;

	if (n == 0)
		return dispatch(p, cb, userdata);

	if (line[0] == ':') {
		p->n_comments++;
		if (cb && cb->on_comment)
			cb->on_comment(userdata);
		return 0;
	}

	colon = memchr(line, ':', n);
	if (colon) {
		name_len = (size_t)(colon - line);
		v = colon + 1;
		vn = n - name_len - 1;
		if (vn > 0 && v[0] == ' ') {
			v++;
			vn--;
		}
	} else {
		name_len = n;
		v = line + n;
		vn = 0;
	}

	for (size_t i = 0; i < ELEMENTSOF(sse_fields); i++)
		if (sse_fields[i].len == name_len && memcmp(sse_fields[i].name, line, name_len) == 0)
			return sse_fields[i].handle(p, v, vn, cb, userdata);
	return 0; /* unknown field */
}

static int fail(struct sse_parser *p, int r)
{
	p->error = r;
	return r;
}

int sse_parser_feed(struct sse_parser *p, const void *buf, size_t len, const struct sse_callbacks *cb,
		    void *userdata)
{
	const char *s = buf;
	size_t i = 0;
	int r;

	if (!p || (!buf && len > 0))
		return -EINVAL;
	if (p->error < 0)
		return p->error;

	while (i < len) {
		const char *line;
		size_t j, n;

		if (!p->bom_done) {
			if ((uint8_t)s[i] == utf8_bom[p->bom_matched]) {
				i++;
				if (++p->bom_matched == sizeof(utf8_bom))
					p->bom_done = true;
				continue;
			}
			p->bom_done = true;
			/* Not a BOM after all: the bytes matched so far are ordinary line content. */
			r = buf_append(&p->line, utf8_bom, p->bom_matched, p->max_line);
			if (r < 0)
				return fail(p, r);
		}

		if (p->skip_lf) {
			p->skip_lf = false;
			if (s[i] == '\n') {
				i++;
				continue;
			}
		}

		for (j = i; j < len && s[j] != '\n' && s[j] != '\r'; j++)
			;
		if (j == len) {
			r = buf_append(&p->line, s + i, len - i, p->max_line);
			if (r < 0)
				return fail(p, r);
			break;
		}

		if (p->line.len == 0) {
			/* Whole line inside this chunk: parse it in place, no copy. */
			line = s + i;
			n = j - i;
			if (n > p->max_line)
				return fail(p, -E2BIG);
		} else {
			r = buf_append(&p->line, s + i, j - i, p->max_line);
			if (r < 0)
				return fail(p, r);
			line = p->line.data;
			n = p->line.len;
		}
		p->skip_lf = s[j] == '\r';
		i = j + 1;

		r = process_line(p, line, n, cb, userdata);
		/* line may point into p->line; nothing reads it after process_line. */
		buf_clear(&p->line);
		if (r < 0)
			return fail(p, r);
	}
	return 0;
}
