/* Incremental text/event-stream parser (control-plane-api.md §5.2, W3C/WHATWG event-stream
 * interpretation rules). Pure: no I/O, no logging; the caller feeds bytes as they arrive. */
#pragma once

#include <stddef.h>

/* plexd must accept lines of at least 1 MiB (§5.2); events are one data line in practice. */
#define SSE_LINE_MAX_DEFAULT ((size_t)1024 * 1024)
#define SSE_EVENT_MAX_DEFAULT ((size_t)1024 * 1024)

struct sse_parser;

/* A dispatched event. Every pointer is valid only during the on_event call. All strings are
 * NUL-terminated; the lengths exclude the terminator. */
struct sse_event {
	/* The parser's last-event-id buffer at dispatch time: persists across events until an
	 * "id" line changes it (an empty "id" clears it). "" when none was seen. Never holds NUL. */
	const char *id;
	size_t id_len;
	/* Value of this block's last "event" line, "" when the block had none (a W3C client would
	 * call that "message"). May contain NUL bytes; use event_len. */
	const char *event;
	size_t event_len;
	/* The block's "data" lines joined with LF. May contain NUL bytes; use data_len. */
	const char *data;
	size_t data_len;
};

struct sse_callbacks {
	/* A negative return aborts sse_parser_feed(), which returns that value. */
	int (*on_event)(const struct sse_event *ev, void *userdata);
	/* A "retry" line whose value is 1+ ASCII digits; values beyond ULONG_MAX saturate.
	 * Clamping to a sane range is the caller's policy. */
	void (*on_retry)(unsigned long ms, void *userdata);
	/* A comment line (keepalive activity). */
	void (*on_comment)(void *userdata);
};

/* max_line bounds one line (field name included, terminator excluded); max_event bounds the
 * joined data of one event. Both must be > 0. -EINVAL, -ENOMEM. */
int sse_parser_new(size_t max_line, size_t max_event, struct sse_parser **ret);
struct sse_parser *sse_parser_free(struct sse_parser *p);
/* Back to the state of a fresh stream (new connection): forgets partial lines and events,
 * the last event ID, the BOM position and any error. Keeps buffers for reuse and the
 * counters. */
void sse_parser_reset(struct sse_parser *p);

/* Consumes len bytes. Callbacks (cb and any member may be NULL) run synchronously and must
 * not call back into this parser. Returns 0, or:
 *   -E2BIG   a line longer than max_line or an event's data longer than max_event;
 *   -ENOMEM  a buffer could not grow;
 *   <0       whatever on_event returned.
 * After an error the rest of buf is not consumed and every further feed returns the same
 * error until sse_parser_reset(): the stream position is lost, so the caller reconnects. */
int sse_parser_feed(struct sse_parser *p, const void *buf, size_t len, const struct sse_callbacks *cb,
		    void *userdata);

/* Lifetime counters (not cleared by reset): comment lines and dispatched events. */
unsigned long long sse_parser_comment_count(const struct sse_parser *p);
unsigned long long sse_parser_event_count(const struct sse_parser *p);
