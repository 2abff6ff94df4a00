/* The event-stream connection (control-plane-api.md §5.5, agent.md §4.5): connect, parse SSE,
 * hand raw events to the caller, reconnect with backoff, fall back to polling, and report the
 * outcomes that need the caller (reauth, forbidden, reconnected). Envelope verification is the
 * caller's job: events are delivered as the parser produced them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "controlplane/sse.h"
#include "shared/time-util.h"

struct api_client;
struct stream;

/* Every zero field takes the default in brackets. */
struct stream_config {
	usec_t base_delay; /* [1 s] base of B(base, max_delay) until a `retry:` line sets another */
	usec_t max_delay; /* [60 s] */
	usec_t stable_after; /* [60 s] a stream up this long resets the backoff counter */
	usec_t polling_after; /* [5 min] failing this long switches to polling mode */
	usec_t poll_interval; /* [60 s] reconcile.interval: one stream attempt per interval */
	usec_t headers_timeout; /* [30 s] */
	usec_t idle_timeout; /* [90 s] api_client.sse_idle_timeout */
	size_t max_line; /* [SSE_LINE_MAX_DEFAULT] */
	size_t max_event; /* [SSE_EVENT_MAX_DEFAULT] */
};

enum stream_state {
	STREAM_STATE_STOPPED, /* not started, or stopped by the caller */
	STREAM_STATE_OFFLINE, /* connecting, or waiting to reconnect (failing for < polling_after) */
	STREAM_STATE_CONNECTED,
	STREAM_STATE_POLLING, /* failing for >= polling_after: one attempt per poll_interval */
	STREAM_STATE_UNAUTHORIZED, /* 401/404: stopped until stream_start() after re-authentication */
	STREAM_STATE_FORBIDDEN, /* 403: stopped until a restart or re-registration */
};
/* "stopped", "offline", "connected", "polling", "unauthorized", "forbidden". */
const char *stream_state_to_string(enum stream_state s);

/* Every member may be NULL. They run from the event loop; they may call stream_stop() and
 * stream_start(), never stream_free(). */
struct stream_callbacks {
	/* One dispatched event. ev->id is the parser's last event id ("" when none). */
	void (*on_event)(struct stream *s, const struct sse_event *ev, void *userdata);
	/* A connection succeeded (200 + text/event-stream). reconnected is true for every
	 * connection after the first since stream_new(): the caller reconciles (§5.5). */
	void (*on_connected)(struct stream *s, bool reconnected, void *userdata);
	/* 401 or 404 (status says which): stream stopped; re-authenticate (§2.9), then
	 * stream_start() again. */
	void (*on_reauth)(struct stream *s, long status, void *userdata);
	/* 403: stream stopped; reconciliation continues on its own schedule. */
	void (*on_forbidden)(struct stream *s, void *userdata);
	/* Polling mode: called when entering it and after each failed attempt in it, i.e. once per
	 * poll_interval before the next stream attempt: the caller runs a full reconcile. */
	void (*on_poll)(struct stream *s, void *userdata);
};

int stream_new(struct api_client *api, const struct stream_config *cfg, const struct stream_callbacks *cb,
	       void *userdata, struct stream **ret);
struct stream *stream_free(struct stream *s);

/* Connects now with a fresh backoff counter (after start or after re-authentication). The
 * identity comes from the api client at each attempt. */
int stream_start(struct stream *s);
/* Closes the connection and cancels any pending reconnect. */
void stream_stop(struct stream *s);

enum stream_state stream_get_state(const struct stream *s);
/* Successful connections after the first (the `sse_reconnects` of `plexd status`). */
unsigned stream_get_reconnects(const struct stream *s);
/* Attempts that failed since stream_new(). */
unsigned stream_get_failures(const struct stream *s);
/* The Last-Event-ID to send, NULL when none (memory only, §5.4). */
const char *stream_get_last_event_id(const struct stream *s);
/* Forgets it, e.g. after re-registration under a new node id. */
void stream_forget_last_event_id(struct stream *s);
/* Current base reconnect delay (1 s or the clamped `retry:` value). */
usec_t stream_get_base_delay(const struct stream *s);
/* Delay before the pending reconnect attempt, 0 when none is scheduled. */
usec_t stream_get_pending_delay(const struct stream *s);

/* `retry:` milliseconds clamped to [1000, 60000] (§5.2). */
usec_t stream_retry_clamp(unsigned long ms);
