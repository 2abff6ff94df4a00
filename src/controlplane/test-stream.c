/* Tests for the event-stream state machine (§5.5) against a scripted local HTTP server:
 * events across odd chunks, Last-Event-ID on reconnect, backoff/429, reauth, forbidden,
 * idle timeout, polling mode, retry clamping. Delays are configured in milliseconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "controlplane/api.h"
#include "controlplane/stream.h"
#include "controlplane/test-cp-server.h"
#include "shared/macro.h"

#define MS USEC_PER_MSEC

static const char sse_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
			       "Cache-Control: no-cache\r\nConnection: close\r\n\r\n";

struct rec {
	char ids[16][32];
	char events[16][32];
	char data[16][64];
	unsigned n_events;
	unsigned connected, reconnected;
	unsigned reauth;
	long reauth_status;
	unsigned forbidden;
	unsigned polls;
	bool stop_flag;
	enum stream_state states_at_connect[16];
	usec_t delays[16]; /* pending delay observed after each failure */
	unsigned n_delays;
};

static void on_event(struct stream *s, const struct sse_event *ev, void *userdata)
{
	struct rec *r = userdata;
	if (r->n_events < 16) {
		snprintf(r->ids[r->n_events], 32, "%s", ev->id);
		snprintf(r->events[r->n_events], 32, "%s", ev->event);
		snprintf(r->data[r->n_events], 64, "%.*s", (int)ev->data_len, ev->data);
	}
	r->n_events++;
}

static void on_connected(struct stream *s, bool reconnected, void *userdata)
{
	struct rec *r = userdata;
	r->connected++;
	if (reconnected)
		r->reconnected++;
}

static void on_reauth(struct stream *s, long status, void *userdata)
{
	struct rec *r = userdata;
	r->reauth++;
	r->reauth_status = status;
	r->stop_flag = true;
}

static void on_forbidden(struct stream *s, void *userdata)
{
	struct rec *r = userdata;
	r->forbidden++;
	r->stop_flag = true;
}

static void on_poll(struct stream *s, void *userdata)
{
	((struct rec *)userdata)->polls++;
}

static const struct stream_callbacks cbs = {
	.on_event = on_event,
	.on_connected = on_connected,
	.on_reauth = on_reauth,
	.on_forbidden = on_forbidden,
	.on_poll = on_poll,
};

struct fixture {
	sd_event *event;
	struct api_client *api;
	struct stream *stream;
	struct test_server ts;
	struct rec rec;
};

static void fixture_start(struct fixture *f, const struct ts_conn *conns, size_t n, const struct stream_config *cfg)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(sd_event_new(&f->event), 0);
	assert_int_equal(ts_start(&f->ts, conns, n), 0);
	struct http_client_config hc = { .base_url = f->ts.url, .allow_insecure_http = true };
	assert_int_equal(api_client_new(f->event, &hc, &f->api), 0);
	assert_int_equal(api_client_set_identity(f->api, "n_abc123", "pxn_3q2bM4yZ0kQfW8v1Jr6tLc9HsA7uXe5GdN2pKo0TzVw",
						 NULL),
			 0);
	assert_int_equal(stream_new(f->api, cfg, &cbs, &f->rec, &f->stream), 0);
}

static void fixture_stop(struct fixture *f)
{
	f->stream = stream_free(f->stream);
	f->api = api_client_free(f->api);
	ts_free(&f->ts);
	f->event = sd_event_unref(f->event);
}

/* Runs until the stream's failure count reaches n, recording the delay chosen each time. */
static void run_failures(struct fixture *f, unsigned n, unsigned max_ms)
{
	usec_t end = now_usec(CLOCK_MONOTONIC) + (usec_t)max_ms * MS;
	unsigned seen = stream_get_failures(f->stream);
	while (stream_get_failures(f->stream) < n && now_usec(CLOCK_MONOTONIC) < end) {
		(void)sd_event_run(f->event, 5 * MS);
		if (stream_get_failures(f->stream) != seen) {
			seen = stream_get_failures(f->stream);
			if (f->rec.n_delays < 16)
				f->rec.delays[f->rec.n_delays++] = stream_get_pending_delay(f->stream);
		}
	}
	assert_int_equal(stream_get_failures(f->stream), n);
}

static bool in_range(usec_t v, usec_t nominal)
{
	return v >= nominal * 3 / 4 && v <= nominal * 5 / 4 + 1;
}

static void test_lifecycle(void **state)
{
	static const struct ts_chunk c1[] = {
		{ ": connected\n\n" },
		{ "id: evt_000043\nevent: peer_ad", 0, 20 },
		{ "ded\r\ndata: {\"a\":", 0, 20 },
		{ "1}\r\n\r", 0, 20 },
		{ "\n: keepalive\n\nid: evt_000044\ndata: x\n", 0, 20 },
		{ "data: y\n\nid:\ndata: z\n\n", 0, 20 },
	};
	static const struct ts_chunk c4[] = { { ": hi\n\nid: evt_000050\ndata: w\n\n" } };
	_cleanup_free_ char *r500 = ts_response("500 Internal Server Error", NULL, "");
	_cleanup_free_ char *r429 = ts_response("429 Too Many Requests", "Retry-After: 0\r\n", "");
	_cleanup_free_ char *r503 = ts_response("503 Service Unavailable", NULL, "");
	_cleanup_free_ char *r401 = ts_response("401 Unauthorized", NULL, "{}");
	struct ts_conn conns[] = {
		{ .response = sse_head, .chunks = c1, .n_chunks = ELEMENTSOF(c1) }, /* then clean EOF */
		{ .response = r500 },
		{ .response = r429 },
		{ .response = r503 },
		{ .response = sse_head, .chunks = c4, .n_chunks = 1 },
		{ .response = r401 },
	};
	struct stream_config cfg = { .base_delay = 40 * MS, .max_delay = 1000 * MS };
	struct fixture f;

	fixture_start(&f, conns, ELEMENTSOF(conns), &cfg);
	assert_int_equal(stream_get_state(f.stream), STREAM_STATE_STOPPED);
	assert_int_equal(stream_start(f.stream), 0);
	assert_int_equal(stream_get_state(f.stream), STREAM_STATE_OFFLINE);

	assert_true(ts_run_until(f.event, &f.rec.stop_flag, 10000));
	assert_int_equal(stream_get_state(f.stream), STREAM_STATE_UNAUTHORIZED);
	assert_int_equal(f.rec.reauth, 1);
	assert_int_equal(f.rec.reauth_status, 401);

	/* Events as dispatched, the id persisting per W3C; "id:" empty clears it for the parser. */
	assert_int_equal(f.rec.n_events, 4);
	assert_string_equal(f.rec.ids[0], "evt_000043");
	assert_string_equal(f.rec.events[0], "peer_added");
	assert_string_equal(f.rec.data[0], "{\"a\":1}");
	assert_string_equal(f.rec.ids[1], "evt_000044");
	assert_string_equal(f.rec.data[1], "x\ny");
	assert_string_equal(f.rec.ids[2], "");
	assert_string_equal(f.rec.data[2], "z");
	assert_string_equal(f.rec.data[3], "w");
	assert_string_equal(stream_get_last_event_id(f.stream), "evt_000050");

	/* Two successful connections: the second is a reconnect. */
	assert_int_equal(f.rec.connected, 2);
	assert_int_equal(f.rec.reconnected, 1);
	assert_int_equal(stream_get_reconnects(f.stream), 1);
	assert_int_equal(stream_get_failures(f.stream), 3); /* 500, 429, 503 */

	ts_stop(&f.ts);
	assert_int_equal(f.ts.n_requests, 6);
	assert_null(ts_header(f.ts.requests[0], "Last-Event-ID"));
	/* Most recent non-empty id, kept although the last block cleared the parser's. */
	for (size_t i = 1; i <= 4; i++)
		assert_string_equal(ts_header(f.ts.requests[i], "Last-Event-ID"), "evt_000044");
	assert_string_equal(ts_header(f.ts.requests[5], "Last-Event-ID"), "evt_000050");
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(ts_request_line(f.ts.requests[i]), "GET /v1/nodes/n_abc123/events HTTP/1.1");
		assert_string_equal(ts_header(f.ts.requests[i], "Accept"), "text/event-stream");
		assert_string_equal(ts_header(f.ts.requests[i], "Authorization"),
				    "Bearer pxn_3q2bM4yZ0kQfW8v1Jr6tLc9HsA7uXe5GdN2pKo0TzVw");
	}
	fixture_stop(&f);
}

static void test_backoff_sequence(void **state)
{
	_cleanup_free_ char *r500 = ts_response("500 Internal Server Error", NULL, "");
	_cleanup_free_ char *r429 = ts_response("429 Too Many Requests", "Retry-After: 0\r\n", "");
	_cleanup_free_ char *r429n = ts_response("429 Too Many Requests", NULL, "");
	struct ts_conn conns[] = {
		{ .response = r500 }, { .response = r500 }, { .response = r429 }, { .response = r429n },
		{ .response = r500 }, { .response = r500 },
	};
	struct stream_config cfg = { .base_delay = 20 * MS, .max_delay = 70 * MS };
	struct fixture f;

	fixture_start(&f, conns, ELEMENTSOF(conns), &cfg);
	assert_int_equal(stream_start(f.stream), 0);
	run_failures(&f, 6, 5000);
	/* attempt 0: 20, attempt 1: 40, 429 Retry-After 0: 0, 429 without: current (80→cap 70)
	 * without advancing, then 70 (capped) twice. */
	assert_int_equal(f.rec.n_delays, 6);
	assert_true(in_range(f.rec.delays[0], 20 * MS));
	assert_true(in_range(f.rec.delays[1], 40 * MS));
	assert_int_equal(f.rec.delays[2], 0);
	assert_true(in_range(f.rec.delays[3], 70 * MS));
	assert_true(in_range(f.rec.delays[4], 70 * MS));
	assert_true(in_range(f.rec.delays[5], 70 * MS));
	assert_int_equal(stream_get_state(f.stream), STREAM_STATE_OFFLINE);
	stream_stop(f.stream);
	assert_int_equal(stream_get_state(f.stream), STREAM_STATE_STOPPED);
	assert_int_equal(stream_get_pending_delay(f.stream), 0);
	fixture_stop(&f);
}

static void test_forbidden_and_404(void **state)
{
	_cleanup_free_ char *r403 = ts_response("403 Forbidden", NULL, "{}");
	_cleanup_free_ char *r404 = ts_response("404 Not Found", NULL, "{}");
	struct ts_conn conns[] = { { .response = r403 }, { .response = r404 } };
	struct fixture f;

	fixture_start(&f, conns, 2, NULL);
	assert_int_equal(stream_start(f.stream), 0);
	assert_true(ts_run_until(f.event, &f.rec.stop_flag, 5000));
	assert_int_equal(f.rec.forbidden, 1);
	assert_int_equal(stream_get_state(f.stream), STREAM_STATE_FORBIDDEN);
	/* Stopped: nothing is retried on its own. */
	ts_run_for(f.event, 200);
	assert_int_equal(stream_get_pending_delay(f.stream), 0);

	/* A restart (after re-registration) connects again; 404 counts as 401 here. */
	f.rec.stop_flag = false;
	assert_int_equal(stream_start(f.stream), 0);
	assert_true(ts_run_until(f.event, &f.rec.stop_flag, 5000));
	assert_int_equal(f.rec.reauth, 1);
	assert_int_equal(f.rec.reauth_status, 404);
	assert_int_equal(stream_get_state(f.stream), STREAM_STATE_UNAUTHORIZED);
	assert_int_equal(f.rec.connected, 0);
	fixture_stop(&f);
}

static void test_idle_timeout_and_stable_reset(void **state)
{
	static const struct ts_chunk ka[] = { { ": hi\n\n" } };
	_cleanup_free_ char *r500 = ts_response("500 Internal Server Error", NULL, "");
	struct ts_conn conns[] = {
		{ .response = r500 },
		{ .response = r500 },
		{ .response = r500 },
		{ .response = sse_head, .chunks = ka, .n_chunks = 1, .hold_ms = 5000 }, /* stalls */
		{ .response = r500 },
	};
	/* Counter at 3 after three failures; the stalled stream stays up 250 ms >= stable_after. */
	struct stream_config cfg = { .base_delay = 20 * MS, .max_delay = 10000 * MS, .stable_after = 100 * MS,
				     .idle_timeout = 250 * MS };
	struct fixture f;

	fixture_start(&f, conns, ELEMENTSOF(conns), &cfg);
	assert_int_equal(stream_start(f.stream), 0);
	run_failures(&f, 3, 5000);
	assert_true(in_range(f.rec.delays[2], 80 * MS));
	run_failures(&f, 4, 5000); /* the idle timeout */
	assert_int_equal(f.rec.connected, 1);
	/* Reset because the stream had stayed up long enough: attempt 0 again. */
	assert_true(in_range(f.rec.delays[3], 20 * MS));
	run_failures(&f, 5, 5000);
	assert_true(in_range(f.rec.delays[4], 40 * MS));
	fixture_stop(&f);
}

static void test_short_lived_stream_keeps_counter(void **state)
{
	static const struct ts_chunk ka[] = { { ": hi\n\n" } };
	_cleanup_free_ char *r500 = ts_response("500 Internal Server Error", NULL, "");
	struct ts_conn conns[] = {
		{ .response = r500 },
		{ .response = r500 },
		{ .response = sse_head, .chunks = ka, .n_chunks = 1, .hold_ms = 5000 },
		{ .response = r500 },
	};
	struct stream_config cfg = { .base_delay = 20 * MS, .max_delay = 10000 * MS, .stable_after = 60000 * MS,
				     .idle_timeout = 150 * MS };
	struct fixture f;

	fixture_start(&f, conns, ELEMENTSOF(conns), &cfg);
	assert_int_equal(stream_start(f.stream), 0);
	run_failures(&f, 3, 5000);
	/* Up only 150 ms: the counter continues (20, 40, then 80). */
	assert_true(in_range(f.rec.delays[2], 80 * MS));
	run_failures(&f, 4, 5000);
	assert_true(in_range(f.rec.delays[3], 160 * MS));
	fixture_stop(&f);
}

static void test_polling_mode(void **state)
{
	static const struct ts_chunk ok[] = { { ": connected\n\n" } };
	_cleanup_free_ char *r500 = ts_response("500 Internal Server Error", NULL, "");
	struct ts_conn conns[] = {
		{ .response = r500 }, { .response = r500 }, { .response = r500 }, { .response = r500 },
		{ .response = r500 }, { .response = r500 }, { .response = r500 }, { .response = r500 },
		{ .response = sse_head, .chunks = ok, .n_chunks = 1, .hold_ms = 3000 },
	};
	struct stream_config cfg = { .base_delay = 20 * MS, .max_delay = 40 * MS, .polling_after = 200 * MS,
				     .poll_interval = 150 * MS };
	struct fixture f;
	bool connected = false;

	fixture_start(&f, conns, ELEMENTSOF(conns), &cfg);
	assert_int_equal(stream_start(f.stream), 0);
	usec_t end = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
	bool seen_polling = false;
	usec_t last_poll_delay = 0;
	while (!connected && now_usec(CLOCK_MONOTONIC) < end) {
		(void)sd_event_run(f.event, 5 * MS);
		if (stream_get_state(f.stream) == STREAM_STATE_POLLING) {
			seen_polling = true;
			if (stream_get_pending_delay(f.stream))
				last_poll_delay = stream_get_pending_delay(f.stream);
		}
		connected = stream_get_state(f.stream) == STREAM_STATE_CONNECTED;
	}
	assert_true(connected);
	assert_true(seen_polling);
	/* In polling mode one attempt per poll interval, and the caller reconciles each time. */
	assert_int_equal(last_poll_delay, 150 * MS);
	assert_true(f.rec.polls >= 1);
	assert_int_equal(f.rec.connected, 1);
	assert_int_equal(f.rec.reconnected, 0); /* first connection since start */
	fixture_stop(&f);
}

static void test_retry_and_bounds(void **state)
{
	static const struct ts_chunk retry_low[] = { { "retry: 5\n\n" } };
	static const struct ts_chunk long_line[] = { { "data: 0123456789012345678901234567890123456789"
						       "0123456789012345678901234567890123456789\n\n" } };
	struct ts_conn conns[] = {
		{ .response = sse_head, .chunks = long_line, .n_chunks = 1, .hold_ms = 3000 },
		{ .response = sse_head, .chunks = retry_low, .n_chunks = 1 },
	};
	struct stream_config cfg = { .base_delay = 20 * MS, .max_line = 64 };
	struct fixture f;

	assert_int_equal(stream_retry_clamp(0), 1000 * MS);
	assert_int_equal(stream_retry_clamp(5), 1000 * MS);
	assert_int_equal(stream_retry_clamp(1500), 1500 * MS);
	assert_int_equal(stream_retry_clamp(60000), 60000 * MS);
	assert_int_equal(stream_retry_clamp(999999999UL), 60000 * MS);

	fixture_start(&f, conns, ELEMENTSOF(conns), &cfg);
	assert_int_equal(stream_get_base_delay(f.stream), 20 * MS);
	assert_int_equal(stream_start(f.stream), 0);
	/* A line over max_line ends the connection as a failure (the position is lost). */
	run_failures(&f, 1, 5000);
	assert_int_equal(f.rec.connected, 1);
	assert_int_equal(f.rec.n_events, 0);
	/* Second connection: "retry: 5" (clamped to 1 s) then EOF: reconnect after ~1 s. */
	usec_t end = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
	while (f.rec.connected < 2 && now_usec(CLOCK_MONOTONIC) < end)
		(void)sd_event_run(f.event, 5 * MS);
	ts_run_for(f.event, 100);
	assert_int_equal(stream_get_base_delay(f.stream), 1000 * MS);
	assert_true(in_range(stream_get_pending_delay(f.stream), 1000 * MS));
	assert_int_equal(stream_get_state(f.stream), STREAM_STATE_OFFLINE);
	assert_int_equal(stream_get_failures(f.stream), 1); /* clean EOF is not a failure */
	fixture_stop(&f);
}

static void test_no_identity(void **state)
{
	sd_event *e;
	struct api_client *api;
	struct stream *s;
	struct http_client_config hc = { .base_url = "https://cp.example.net" };

	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(api_client_new(e, &hc, &api), 0);
	assert_int_equal(stream_new(api, NULL, NULL, NULL, &s), 0);
	assert_int_equal(stream_start(s), -ENOKEY);
	assert_string_equal(stream_state_to_string(stream_get_state(s)), "stopped");
	assert_string_equal(stream_state_to_string(STREAM_STATE_POLLING), "polling");
	assert_string_equal(stream_state_to_string(STREAM_STATE_UNAUTHORIZED), "unauthorized");
	assert_null(stream_get_last_event_id(s));
	stream_free(s);
	api_client_free(api);
	sd_event_unref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_identity),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_backoff_sequence),
		cmocka_unit_test(test_forbidden_and_404),
		cmocka_unit_test(test_idle_timeout_and_stable_reset),
		cmocka_unit_test(test_short_lived_stream_keeps_counter),
		cmocka_unit_test(test_polling_mode),
		cmocka_unit_test(test_retry_and_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
