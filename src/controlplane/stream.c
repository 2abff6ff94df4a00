/* Event-stream connection state machine (control-plane-api.md §5.4, §5.5; agent.md §4.5). */
#define LOG_COMPONENT "stream"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "controlplane/api.h"
#include "controlplane/http.h"
#include "controlplane/stream.h"
#include "shared/backoff.h"
#include "shared/log.h"
#include "shared/macro.h"
#include "shared/wire.h"

#define RETRY_MIN_MS 1000UL
#define RETRY_MAX_MS 60000UL
/* A Last-Event-ID longer than any id (§1.2 allows 128) is not worth echoing. */
#define LAST_EVENT_ID_MAX 256

struct stream {
	struct api_client *api;
	sd_event *event;
	struct stream_config cfg;
	struct stream_callbacks cb;
	void *userdata;

	struct sse_parser *parser;
	struct http_request *req;
	sd_event_source *timer;
	usec_t pending_delay;

	enum stream_state state;
	struct backoff backoff;
	bool opened; /* the current request got 200 + text/event-stream */
	usec_t connected_at;
	usec_t streak_start; /* first failure of the current failure streak, 0 = none */
	char *last_event_id;

	unsigned connections;
	unsigned reconnects;
	unsigned failures;
};

static const char *const state_names[] = {
	[STREAM_STATE_STOPPED] = "stopped",
	[STREAM_STATE_OFFLINE] = "offline",
	[STREAM_STATE_CONNECTED] = "connected",
	[STREAM_STATE_POLLING] = "polling",
	[STREAM_STATE_UNAUTHORIZED] = "unauthorized",
	[STREAM_STATE_FORBIDDEN] = "forbidden",
};

const char *stream_state_to_string(enum stream_state s)
{
	return (size_t)s < ELEMENTSOF(state_names) ? state_names[s] : NULL;
}

usec_t stream_retry_clamp(unsigned long ms)
{
	return (usec_t)CLAMP(ms, RETRY_MIN_MS, RETRY_MAX_MS) * USEC_PER_MSEC;
}

static usec_t stream_now(struct stream *s)
{
	usec_t now;
	if (sd_event_now(s->event, CLOCK_MONOTONIC, &now) < 0)
		now = now_usec(CLOCK_MONOTONIC);
	return now;
}

static void stream_connect(struct stream *s);

/* ---- SSE parser callbacks ---- */

static int sse_on_event(const struct sse_event *ev, void *userdata)
{
	struct stream *s = userdata;

	/* The most recent non-empty id, whether or not the envelope later verifies (§5.4). It
	 * goes into a request header, so only header-safe values are kept. */
	if (ev->id_len > 0 && ev->id_len <= LAST_EVENT_ID_MAX && header_safe(ev->id, ev->id_len) &&
	    (!s->last_event_id || !streq(s->last_event_id, ev->id))) {
		char *id = strndup(ev->id, ev->id_len);
		if (!id)
			return -ENOMEM;
		free(s->last_event_id);
		s->last_event_id = id;
	}
	if (s->cb.on_event)
		s->cb.on_event(s, ev, s->userdata);
	/* The callback may have stopped the stream: deliver nothing more from this chunk. */
	return s->req ? 0 : -ECANCELED;
}

static void sse_on_retry(unsigned long ms, void *userdata)
{
	struct stream *s = userdata;
	s->backoff.base = stream_retry_clamp(ms);
}

static const struct sse_callbacks sse_cbs = {
	.on_event = sse_on_event,
	.on_retry = sse_on_retry,
};

/* ---- HTTP callbacks ---- */

static void on_open(struct http_request *req, void *userdata)
{
	struct stream *s = userdata;
	bool reconnected;

	s->opened = true;
	s->connected_at = stream_now(s);
	s->streak_start = 0;
	s->connections++;
	reconnected = s->connections > 1;
	if (reconnected)
		s->reconnects++;
	if (s->state == STREAM_STATE_POLLING)
		log_info("event stream back, leaving polling mode");
	s->state = STREAM_STATE_CONNECTED;
	log_debug("event stream connected", "reconnects=%u", s->reconnects);
	if (s->cb.on_connected)
		s->cb.on_connected(s, reconnected, s->userdata);
}

static int on_data(struct http_request *req, const void *buf, size_t len, void *userdata)
{
	struct stream *s = userdata;
	int r = sse_parser_feed(s->parser, buf, len, &sse_cbs, s);
	return r < 0 ? r : 0;
}

static int timer_fired(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct stream *s = userdata;
	s->pending_delay = 0;
	stream_connect(s);
	return 0;
}

static void schedule(struct stream *s, usec_t delay)
{
	int r;

	if (!s->timer) {
		r = sd_event_add_time_relative(s->event, &s->timer, CLOCK_MONOTONIC, delay, USEC_PER_MSEC, timer_fired,
					       s);
		if (r >= 0)
			(void)sd_event_source_set_description(s->timer, "stream-reconnect");
	} else {
		r = sd_event_source_set_time_relative(s->timer, delay);
		if (r >= 0)
			r = sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
	}
	if (r < 0) {
		/* Without a timer the stream would silently stay down: say so loudly. */
		log_error_errno(r, "cannot schedule event stream reconnect", "err=%m");
		return;
	}
	s->pending_delay = delay;
}

/* A failed attempt or a dropped connection: backoff, or polling after polling_after. */
static void handle_failure(struct stream *s, usec_t delay)
{
	usec_t now = stream_now(s);

	s->failures++;
	if (s->streak_start == 0)
		s->streak_start = now;
	if (s->state != STREAM_STATE_POLLING && now - s->streak_start >= s->cfg.polling_after) {
		log_warning("event stream down too long, polling the full state", "since_sec=%llu",
			    (unsigned long long)((now - s->streak_start) / USEC_PER_SEC));
		s->state = STREAM_STATE_POLLING;
	}
	if (s->state == STREAM_STATE_POLLING) {
		delay = MAX(delay, s->cfg.poll_interval);
		if (s->cb.on_poll)
			s->cb.on_poll(s, s->userdata);
		if (s->state != STREAM_STATE_POLLING)
			return; /* the callback stopped us */
	} else
		s->state = STREAM_STATE_OFFLINE;
	schedule(s, delay);
}

static void on_done(struct http_request *req, const struct http_response *resp, void *userdata)
{
	struct stream *s = userdata;
	long status = resp->error < 0 ? 0 : resp->status;
	usec_t delay;

	s->req = NULL;
	if (s->opened) {
		usec_t up = stream_now(s) - s->connected_at;

		s->opened = false;
		if (resp->error == 0) {
			/* Clean EOF after a successful connection: fresh counter, base delay. */
			log_info("event stream closed by the control plane, reconnecting");
			backoff_reset(&s->backoff);
			s->state = STREAM_STATE_OFFLINE;
			schedule(s, backoff_peek(&s->backoff));
			return;
		}
		log_warning("event stream lost", "error=\"%s\" up_sec=%llu", resp->error_text,
			    (unsigned long long)(up / USEC_PER_SEC));
		if (up >= s->cfg.stable_after)
			backoff_reset(&s->backoff);
		handle_failure(s, backoff_next(&s->backoff));
		return;
	}

	switch (status) {
	case 401:
	case 404:
		/* 404 means "unknown node" on this endpoint: same as 401 (§2.7). */
		log_error("event stream refused, re-authentication needed", "status=%ld", status);
		s->state = STREAM_STATE_UNAUTHORIZED;
		if (s->cb.on_reauth)
			s->cb.on_reauth(s, status, s->userdata);
		return;
	case 403:
		log_error("event stream forbidden for this node, streaming stopped", "status=403");
		s->state = STREAM_STATE_FORBIDDEN;
		if (s->cb.on_forbidden)
			s->cb.on_forbidden(s, s->userdata);
		return;
	case 429:
		delay = resp->has_retry_after ? resp->retry_after : backoff_peek(&s->backoff);
		log_warning("event stream rate limited", "retry_after_ms=%llu",
			    (unsigned long long)(delay / USEC_PER_MSEC));
		handle_failure(s, delay);
		return;
	default:
		if (resp->error < 0)
			log_warning("event stream connection failed", "error=\"%s\"", resp->error_text);
		else
			log_warning("event stream connection failed", "status=%ld", status);
		handle_failure(s, backoff_next(&s->backoff));
		return;
	}
}

static void stream_connect(struct stream *s)
{
	int r;

	sse_parser_reset(s->parser);
	s->opened = false;
	r = api_events_open(s->api, s->last_event_id, s->cfg.headers_timeout, s->cfg.idle_timeout, on_open, on_data,
			    on_done, s, &s->req);
	if (r < 0) {
		s->req = NULL;
		log_warning_errno(r, "cannot open event stream", "err=%m");
		handle_failure(s, backoff_next(&s->backoff));
	}
}

/* ---- public ---- */

int stream_new(struct api_client *api, const struct stream_config *cfg, const struct stream_callbacks *cb,
	       void *userdata, struct stream **ret)
{
	struct stream *s;
	int r;

	if (!api)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->api = api;
	s->event = sd_event_ref(http_client_get_event(api_client_get_http(api)));
	if (cfg)
		s->cfg = *cfg;
	if (!s->cfg.base_delay)
		s->cfg.base_delay = 1 * USEC_PER_SEC;
	if (!s->cfg.max_delay)
		s->cfg.max_delay = 60 * USEC_PER_SEC;
	if (!s->cfg.stable_after)
		s->cfg.stable_after = 60 * USEC_PER_SEC;
	if (!s->cfg.polling_after)
		s->cfg.polling_after = 5 * 60 * USEC_PER_SEC;
	if (!s->cfg.poll_interval)
		s->cfg.poll_interval = 60 * USEC_PER_SEC;
	if (!s->cfg.headers_timeout)
		s->cfg.headers_timeout = 30 * USEC_PER_SEC;
	if (!s->cfg.idle_timeout)
		s->cfg.idle_timeout = 90 * USEC_PER_SEC;
	if (cb)
		s->cb = *cb;
	s->userdata = userdata;
	backoff_init(&s->backoff, s->cfg.base_delay, s->cfg.max_delay);

	r = sse_parser_new(s->cfg.max_line ? s->cfg.max_line : SSE_LINE_MAX_DEFAULT,
			   s->cfg.max_event ? s->cfg.max_event : SSE_EVENT_MAX_DEFAULT, &s->parser);
	if (r < 0) {
		stream_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct stream *stream_free(struct stream *s)
{
	if (!s)
		return NULL;
	stream_stop(s);
	s->timer = sd_event_source_disable_unref(s->timer);
	sse_parser_free(s->parser);
	free(s->last_event_id);
	sd_event_unref(s->event);
	free(s);
	return NULL;
}

int stream_start(struct stream *s)
{
	if (!api_client_has_identity(s->api))
		return -ENOKEY;
	stream_stop(s);
	backoff_reset(&s->backoff);
	s->streak_start = 0;
	s->state = STREAM_STATE_OFFLINE;
	stream_connect(s);
	return 0;
}

void stream_stop(struct stream *s)
{
	if (!s)
		return;
	if (s->req) {
		http_request_cancel(s->req);
		s->req = NULL;
	}
	if (s->timer)
		(void)sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
	s->pending_delay = 0;
	s->opened = false;
	s->state = STREAM_STATE_STOPPED;
}

enum stream_state stream_get_state(const struct stream *s)
{
	return s->state;
}

unsigned stream_get_reconnects(const struct stream *s)
{
	return s->reconnects;
}

unsigned stream_get_failures(const struct stream *s)
{
	return s->failures;
}

const char *stream_get_last_event_id(const struct stream *s)
{
	return s->last_event_id;
}

void stream_forget_last_event_id(struct stream *s)
{
	s->last_event_id = mfree(s->last_event_id);
}

usec_t stream_get_base_delay(const struct stream *s)
{
	return s->backoff.base;
}

usec_t stream_get_pending_delay(const struct stream *s)
{
	return s->pending_delay;
}
