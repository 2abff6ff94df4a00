/* Tests for the curl/sd-event HTTP client against a real local HTTP server (test-cp-server.h):
 * headers sent, gzip both ways, limits, Retry-After/Date, timeouts, cancel and streaming mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "controlplane/http.h"
#include "controlplane/test-cp-server.h"
#include "shared/macro.h"
#include "version.h"

struct result {
	bool done;
	long status;
	int error;
	char *body;
	size_t body_len;
	bool has_retry_after;
	usec_t retry_after;
	bool has_date;
	struct timestamp date;
	char *content_type;
	char *flavor; /* captured Metadata-Flavor */
	bool absent_captured; /* X-Absent was captured although the response had none */
	/* streaming */
	bool opened;
	char *data;
	size_t data_len;
	int data_calls;
	int freed;
};

static void result_clear(struct result *r)
{
	free(r->body);
	free(r->content_type);
	free(r->flavor);
	free(r->data);
	memset(r, 0, sizeof(*r));
}

static void on_done(struct http_request *req, const struct http_response *resp, void *userdata)
{
	struct result *r = userdata;
	r->done = true;
	r->status = resp->status;
	r->error = resp->error;
	r->body = malloc(resp->body_len + 1);
	memcpy(r->body, resp->body, resp->body_len + 1);
	r->body_len = resp->body_len;
	r->has_retry_after = resp->has_retry_after;
	r->retry_after = resp->retry_after;
	r->has_date = resp->has_date;
	r->date = resp->date;
	r->content_type = resp->content_type ? strdup(resp->content_type) : NULL;
}

static void on_free(void *userdata)
{
	((struct result *)userdata)->freed++;
}

static void on_open(struct http_request *req, void *userdata)
{
	((struct result *)userdata)->opened = true;
}

static int on_data(struct http_request *req, const void *buf, size_t len, void *userdata)
{
	struct result *r = userdata;
	r->data = realloc(r->data, r->data_len + len + 1);
	memcpy(r->data + r->data_len, buf, len);
	r->data_len += len;
	r->data[r->data_len] = 0;
	r->data_calls++;
	return 0;
}

struct fixture {
	sd_event *event;
	struct http_client *client;
	struct test_server ts;
};

static void fixture_start(struct fixture *f, const struct ts_conn *conns, size_t n, const char *suffix,
			  size_t max_body, usec_t request_timeout)
{
	char url[128];
	memset(f, 0, sizeof(*f));
	assert_int_equal(sd_event_new(&f->event), 0);
	assert_int_equal(ts_start(&f->ts, conns, n), 0);
	snprintf(url, sizeof(url), "%s%s", f->ts.url, suffix ? suffix : "");
	struct http_client_config cfg = {
		.base_url = url,
		.allow_insecure_http = true,
		.max_body = max_body,
		.request_timeout = request_timeout,
	};
	assert_int_equal(http_client_new(f->event, &cfg, &f->client), 0);
}

static void fixture_stop(struct fixture *f)
{
	f->client = http_client_free(f->client);
	ts_free(&f->ts);
	f->event = sd_event_unref(f->event);
}

static void run_get(struct fixture *f, const char *path, const char *bearer, struct result *r)
{
	struct http_request_opts o = {
		.method = "GET", .path = path, .bearer = bearer, .free_userdata = on_free };
	assert_int_equal(http_request_start(f->client, &o, on_done, r, NULL), 0);
	assert_true(ts_run_until(f->event, &r->done, 10000));
	ts_run_for(f->event, 1);
	assert_int_equal(r->freed, 1);
}

static void test_get_json_headers(void **state)
{
	_cleanup_free_ char *resp = ts_response("200 OK",
						"Content-Type: application/json\r\n"
						"Date: Wed, 15 Jan 2025 10:30:00 GMT\r\n",
						"{\"status\":\"ok\"}");
	struct ts_conn conns[] = { { .response = resp } };
	struct fixture f;
	struct result r = {};

	/* Trailing slashes of the base URL are removed; the path prefix stays. */
	fixture_start(&f, conns, 1, "/plex//", 0, 0);
	run_get(&f, "/v1/ping", "tok-123", &r);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"status\":\"ok\"}");
	assert_string_equal(r.content_type, "application/json");
	assert_true(r.has_date);
	assert_int_equal(r.date.sec, 1736937000);
	assert_false(r.has_retry_after);
	ts_stop(&f.ts);
	assert_int_equal(f.ts.n_requests, 1);
	const char *q = f.ts.requests[0];
	assert_string_equal(ts_request_line(q), "GET /plex/v1/ping HTTP/1.1");
	assert_string_equal(ts_header(q, "Authorization"), "Bearer tok-123");
	assert_string_equal(ts_header(q, "User-Agent"), "plexd/" PLEXD_VERSION);
	assert_string_equal(ts_header(q, "Accept"), "application/json");
	assert_string_equal(ts_header(q, "Accept-Encoding"), "gzip");
	assert_null(ts_header(q, "Content-Type"));
	assert_null(ts_header(q, "Last-Event-ID"));
	result_clear(&r);
	fixture_stop(&f);
}

static void test_gzip_response(void **state)
{
	const char *json = "{\"peers\":[],\"policies\":[],\"padding\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}";
	_cleanup_free_ void *gz = NULL;
	size_t gz_len, resp_len;
	assert_int_equal(http_gzip(json, strlen(json), &gz, &gz_len), 0);
	_cleanup_free_ char *resp = ts_response_len("200 OK",
						    "Content-Type: application/json\r\nContent-Encoding: gzip\r\n",
						    gz, gz_len, &resp_len);
	struct ts_conn conns[] = { { .response = resp, .response_len = resp_len } };
	struct fixture f;
	struct result r = {};

	fixture_start(&f, conns, 1, NULL, 0, 0);
	run_get(&f, "/v1/nodes/n1/state", NULL, &r);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, strlen(json));
	assert_string_equal(r.body, json);
	ts_stop(&f.ts);
	assert_null(ts_header(f.ts.requests[0], "Authorization"));
	result_clear(&r);
	fixture_stop(&f);
}

static void test_status_codes(void **state)
{
	_cleanup_free_ char *r429 = ts_response("429 Too Many Requests", "Retry-After: 7\r\n", "{}");
	_cleanup_free_ char *r429d = ts_response("429 Too Many Requests",
						 "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n", "{}");
	_cleanup_free_ char *r401 = ts_response("401 Unauthorized", "Content-Type: application/json\r\n",
						"{\"error\":\"unauthorized\",\"message\":\"unknown token\"}");
	_cleanup_free_ char *r500 = ts_response("500 Internal Server Error", NULL, "boom");
	struct ts_conn conns[] = {
		{ .response = r429 }, { .response = r429d }, { .response = r401 }, { .response = r500 } };
	struct fixture f;
	struct result r = {};

	fixture_start(&f, conns, ELEMENTSOF(conns), NULL, 0, 0);
	run_get(&f, "/a", NULL, &r);
	assert_int_equal(r.status, 429);
	assert_int_equal(r.error, 0);
	assert_true(r.has_retry_after);
	assert_int_equal(r.retry_after, 7 * USEC_PER_SEC);
	result_clear(&r);

	/* The HTTP-date form is not understood (§2.7). */
	run_get(&f, "/a", NULL, &r);
	assert_int_equal(r.status, 429);
	assert_false(r.has_retry_after);
	result_clear(&r);

	run_get(&f, "/a", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_int_equal(r.error, 0);
	assert_string_equal(r.body, "{\"error\":\"unauthorized\",\"message\":\"unknown token\"}");
	result_clear(&r);

	run_get(&f, "/a", NULL, &r);
	assert_int_equal(r.status, 500);
	assert_string_equal(r.body, "boom");
	result_clear(&r);
	fixture_stop(&f);
}

static void test_error_body_truncated(void **state)
{
	size_t n = 100000;
	char *big = malloc(n + 1);
	memset(big, 'e', n);
	big[n] = 0;
	_cleanup_free_ char *resp = ts_response("503 Service Unavailable", NULL, big);
	free(big);
	struct ts_conn conns[] = { { .response = resp } };
	struct fixture f;
	struct result r = {};

	fixture_start(&f, conns, 1, NULL, 0, 0);
	run_get(&f, "/a", NULL, &r);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.body_len, HTTP_ERROR_BODY_MAX);
	result_clear(&r);
	fixture_stop(&f);
}

static void test_body_limit(void **state)
{
	char body[1001];
	memset(body, 'x', 1000);
	body[1000] = 0;
	_cleanup_free_ char *exact = ts_response("200 OK", NULL, body);
	body[999] = 0;
	_cleanup_free_ char *under = ts_response("200 OK", NULL, body);
	body[999] = 'x';
	char over_body[1002];
	memset(over_body, 'x', 1001);
	over_body[1001] = 0;
	_cleanup_free_ char *over = ts_response("200 OK", NULL, over_body);
	struct ts_conn conns[] = { { .response = under }, { .response = exact }, { .response = over } };
	struct fixture f;
	struct result r = {};

	fixture_start(&f, conns, 3, NULL, 1000, 0);
	run_get(&f, "/a", NULL, &r);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.body_len, 999);
	result_clear(&r);
	run_get(&f, "/a", NULL, &r);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.body_len, 1000);
	result_clear(&r);
	run_get(&f, "/a", NULL, &r);
	assert_int_equal(r.error, -EFBIG);
	result_clear(&r);
	fixture_stop(&f);
}

static void test_body_limit_default_gzip(void **state)
{
	/* 10 MiB + 1 decompressed, sent as a small gzip: the limit applies after decompression. */
	size_t n = HTTP_BODY_MAX_DEFAULT + 1, gz_len, resp_len;
	char *big = malloc(n);
	_cleanup_free_ void *gz = NULL;
	memset(big, ' ', n);
	assert_int_equal(http_gzip(big, n, &gz, &gz_len), 0);
	free(big);
	_cleanup_free_ char *resp = ts_response_len("200 OK", "Content-Encoding: gzip\r\n", gz, gz_len, &resp_len);
	struct ts_conn conns[] = { { .response = resp, .response_len = resp_len } };
	struct fixture f;
	struct result r = {};

	fixture_start(&f, conns, 1, NULL, 0, 0);
	run_get(&f, "/a", NULL, &r);
	assert_int_equal(r.error, -EFBIG);
	result_clear(&r);
	fixture_stop(&f);
}

static void test_post_bodies(void **state)
{
	_cleanup_free_ char *ok1 = ts_response("200 OK", NULL, "{}");
	_cleanup_free_ char *ok2 = ts_response("200 OK", NULL, "{}");
	_cleanup_free_ char *ok3 = ts_response("200 OK", NULL, "{}");
	_cleanup_free_ char *ok4 = ts_response("202 Accepted", NULL, "{}");
	struct ts_conn conns[] = { { .response = ok1 }, { .response = ok2 }, { .response = ok3 }, { .response = ok4 } };
	struct fixture f;
	struct result r = {};
	char big[2048];
	const char *small = "{\"a\":1}";

	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	fixture_start(&f, conns, ELEMENTSOF(conns), NULL, 0, 0);

	struct http_request_opts o = { .method = "POST", .path = "/small", .body = small, .body_len = strlen(small) };
	assert_int_equal(http_request_start(f.client, &o, on_done, &r, NULL), 0);
	assert_true(ts_run_until(f.event, &r.done, 10000));
	result_clear(&r);

	o = (struct http_request_opts){ .method = "PUT", .path = "/big", .body = big, .body_len = strlen(big) };
	assert_int_equal(http_request_start(f.client, &o, on_done, &r, NULL), 0);
	assert_true(ts_run_until(f.event, &r.done, 10000));
	result_clear(&r);

	o = (struct http_request_opts){ .method = "POST", .path = "/empty" };
	assert_int_equal(http_request_start(f.client, &o, on_done, &r, NULL), 0);
	assert_true(ts_run_until(f.event, &r.done, 10000));
	result_clear(&r);

	o = (struct http_request_opts){ .method = "POST", .path = "/forced", .body = small, .body_len = strlen(small),
					.gzip = true, .content_type = "application/x-ndjson" };
	assert_int_equal(http_request_start(f.client, &o, on_done, &r, NULL), 0);
	assert_true(ts_run_until(f.event, &r.done, 10000));
	assert_int_equal(r.status, 202);
	result_clear(&r);

	ts_stop(&f.ts);
	assert_int_equal(f.ts.n_requests, 4);
	size_t len;
	char *b;

	const char *q = f.ts.requests[0];
	assert_string_equal(ts_request_line(q), "POST /small HTTP/1.1");
	assert_string_equal(ts_header(q, "Content-Type"), "application/json");
	assert_null(ts_header(q, "Content-Encoding"));
	assert_null(ts_header(q, "Expect"));
	b = ts_body(q, &len);
	assert_string_equal(b, small);
	free(b);

	q = f.ts.requests[1];
	assert_string_equal(ts_request_line(q), "PUT /big HTTP/1.1");
	assert_string_equal(ts_header(q, "Content-Encoding"), "gzip");
	assert_string_equal(ts_header(q, "Content-Type"), "application/json");
	b = ts_body(q, &len);
	assert_non_null(b);
	assert_int_equal(len, strlen(big));
	assert_string_equal(b, big);
	free(b);

	q = f.ts.requests[2];
	assert_string_equal(ts_request_line(q), "POST /empty HTTP/1.1");
	assert_string_equal(ts_header(q, "Content-Length"), "0");
	assert_null(ts_header(q, "Content-Type"));

	q = f.ts.requests[3];
	assert_string_equal(ts_header(q, "Content-Encoding"), "gzip");
	assert_string_equal(ts_header(q, "Content-Type"), "application/x-ndjson");
	b = ts_body(q, &len);
	assert_string_equal(b, small);
	free(b);
	fixture_stop(&f);
}

static void test_network_errors(void **state)
{
	struct ts_conn conns[] = { { .hold_ms = 3000 } };
	struct fixture f;
	struct result r = {};

	fixture_start(&f, conns, 1, NULL, 0, 300 * USEC_PER_MSEC);
	/* The server reads the request and never answers: total timeout. */
	run_get(&f, "/slow", NULL, &r);
	assert_int_equal(r.error, -ETIMEDOUT);
	assert_int_equal(r.status, 0);
	result_clear(&r);
	/* The script is exhausted and the child gone: nobody listens any more. */
	ts_stop(&f.ts);
	run_get(&f, "/refused", NULL, &r);
	assert_int_equal(r.error, -ECONNREFUSED);
	result_clear(&r);
	fixture_stop(&f);
}

static void test_cancel(void **state)
{
	_cleanup_free_ char *ok = ts_response("200 OK", NULL, "{}");
	struct ts_conn conns[] = { { .hold_ms = 2000 }, { .response = ok } };
	struct fixture f;
	struct result r1 = {}, r2 = {};
	struct http_request *req;

	fixture_start(&f, conns, 2, NULL, 0, 0);
	struct http_request_opts o = { .method = "GET", .path = "/a", .free_userdata = on_free };
	assert_int_equal(http_request_start(f.client, &o, on_done, &r1, &req), 0);
	assert_int_equal(http_client_pending(f.client), 1);
	ts_run_for(f.event, 100);
	http_request_cancel(req);
	assert_int_equal(r1.freed, 1);
	assert_int_equal(http_client_pending(f.client), 0);
	/* The client still works afterwards. */
	run_get(&f, "/b", NULL, &r2);
	assert_int_equal(r2.status, 200);
	assert_false(r1.done);
	result_clear(&r1);
	result_clear(&r2);

	/* A pending request is released without callback when the client goes away. */
	struct result r3 = {};
	assert_int_equal(http_request_start(f.client, &o, on_done, &r3, NULL), 0);
	f.client = http_client_free(f.client);
	assert_int_equal(r3.freed, 1);
	assert_false(r3.done);
	fixture_stop(&f);
}

static void test_config_rejects(void **state)
{
	sd_event *e;
	struct http_client *c = NULL;
	assert_int_equal(sd_event_new(&e), 0);
	struct http_client_config cfg = { .base_url = "http://127.0.0.1:1" };
	assert_int_equal(http_client_new(e, &cfg, &c), -EPERM);
	cfg.base_url = "ftp://example.net";
	cfg.allow_insecure_http = true;
	assert_int_equal(http_client_new(e, &cfg, &c), -EINVAL);
	cfg.base_url = "https://cp.example.net/plex/";
	assert_int_equal(http_client_new(e, &cfg, &c), 0);
	/* Header injection through a credential is refused before anything is sent. */
	struct result r = {};
	struct http_request_opts o = { .method = "GET", .path = "/a", .bearer = "x\r\nX-Evil: 1" };
	assert_int_equal(http_request_start(c, &o, on_done, &r, NULL), -EINVAL);
	o = (struct http_request_opts){ .method = "GET", .path = "no-slash" };
	assert_int_equal(http_request_start(c, &o, on_done, &r, NULL), -EINVAL);
	o = (struct http_request_opts){ .method = "DELETE", .path = "/a" };
	assert_int_equal(http_request_start(c, &o, on_done, &r, NULL), -EINVAL);
	assert_int_equal(http_client_pending(c), 0);
	http_client_free(c);
	sd_event_unref(e);
}

/* ---- extra request headers, captured response headers, per-request body bound ---- */

static void on_done_capture(struct http_request *req, const struct http_response *resp, void *userdata)
{
	struct result *r = userdata;
	const char *v = http_response_header(resp, "metadata-flavor");

	on_done(req, resp, userdata);
	r->flavor = v ? strdup(v) : NULL;
	r->absent_captured = http_response_header(resp, "X-Absent") != NULL;
	/* Only headers the request named are visible. */
	assert_null(http_response_header(resp, "X-Other"));
}

static void test_custom_headers_capture(void **state)
{
	_cleanup_free_ char *flav = ts_response("200 OK", "Metadata-Flavor:  Google \r\nX-Other: 1\r\n", "ok");
	_cleanup_free_ char *put = ts_response("200 OK", NULL, "session-abc");
	_cleanup_free_ char *big = ts_response("200 OK", NULL, "0123456789");
	/* A 1xx block before the final response: its headers must not leak into the result. */
	_cleanup_free_ char *cont = NULL;
	_cleanup_free_ char *fin = ts_response("200 OK", NULL, "x");
	assert_true(asprintf(&cont, "HTTP/1.1 100 Continue\r\nMetadata-Flavor: Stale\r\n\r\n%s", fin) > 0);
	struct ts_conn conns[] = { { .response = flav }, { .response = put }, { .response = big },
				   { .response = cont } };
	const char *get_headers[] = { "Metadata-Flavor: Google", "X-aws-ec2-metadata-token: s3cr3t", NULL };
	const char *capture[] = { "Metadata-Flavor", "X-Absent", NULL };
	const char *put_headers[] = { "X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL };
	struct fixture f;
	struct result r = {};
	struct http_client_config cfg = { .local_service = true };
	char url[64];

	/* A local service client: plain http without allow_insecure_http. */
	memset(&f, 0, sizeof(f));
	assert_int_equal(sd_event_new(&f.event), 0);
	assert_int_equal(ts_start(&f.ts, conns, ELEMENTSOF(conns)), 0);
	snprintf(url, sizeof url, "%s", f.ts.url);
	cfg.base_url = url;
	assert_int_equal(http_client_new(f.event, &cfg, &f.client), 0);

	struct http_request_opts o = { .method = "GET", .path = "/computeMetadata/v1/",
				       .headers = get_headers, .capture_headers = capture };
	assert_int_equal(http_request_start(f.client, &o, on_done_capture, &r, NULL), 0);
	assert_true(ts_run_until(f.event, &r.done, 10000));
	assert_int_equal(r.status, 200);
	assert_string_equal(r.flavor, "Google");
	assert_false(r.absent_captured);
	result_clear(&r);

	/* PUT without a body (the AWS IMDSv2 session request). */
	o = (struct http_request_opts){ .method = "PUT", .path = "/latest/api/token", .headers = put_headers,
					.capture_headers = capture };
	assert_int_equal(http_request_start(f.client, &o, on_done_capture, &r, NULL), 0);
	assert_true(ts_run_until(f.event, &r.done, 10000));
	assert_int_equal(r.error, 0);
	assert_string_equal(r.body, "session-abc");
	assert_null(r.flavor);
	result_clear(&r);

	/* The per-request bound overrides the client's (10 MiB default): 10 bytes > 9. */
	o = (struct http_request_opts){ .method = "GET", .path = "/big", .max_body = 9 };
	assert_int_equal(http_request_start(f.client, &o, on_done, &r, NULL), 0);
	assert_true(ts_run_until(f.event, &r.done, 10000));
	assert_int_equal(r.error, -EFBIG);
	result_clear(&r);

	o = (struct http_request_opts){ .method = "GET", .path = "/cont", .capture_headers = capture };
	assert_int_equal(http_request_start(f.client, &o, on_done_capture, &r, NULL), 0);
	assert_true(ts_run_until(f.event, &r.done, 10000));
	assert_int_equal(r.status, 200);
	assert_null(r.flavor);
	result_clear(&r);

	/* Refused before anything is sent. */
	const char *crlf[] = { "X-A: 1\r\nX-Evil: 2", NULL };
	const char *nocolon[] = { "X-A 1", NULL };
	const char *badname[] = { "X A: 1", NULL };
	const char *many[] = { "a", "b", "c", "d", "e", NULL };
	o = (struct http_request_opts){ .method = "GET", .path = "/a", .headers = crlf };
	assert_int_equal(http_request_start(f.client, &o, on_done, &r, NULL), -EINVAL);
	o.headers = nocolon;
	assert_int_equal(http_request_start(f.client, &o, on_done, &r, NULL), -EINVAL);
	o.headers = badname;
	assert_int_equal(http_request_start(f.client, &o, on_done, &r, NULL), -EINVAL);
	o = (struct http_request_opts){ .method = "GET", .path = "/a", .capture_headers = many };
	assert_int_equal(http_request_start(f.client, &o, on_done, &r, NULL), -E2BIG);
	assert_int_equal(http_client_pending(f.client), 0);

	ts_stop(&f.ts);
	assert_int_equal(f.ts.n_requests, 4);
	const char *q = f.ts.requests[0];
	assert_string_equal(ts_request_line(q), "GET /computeMetadata/v1/ HTTP/1.1");
	assert_string_equal(ts_header(q, "Metadata-Flavor"), "Google");
	assert_string_equal(ts_header(q, "X-aws-ec2-metadata-token"), "s3cr3t");
	q = f.ts.requests[1];
	assert_string_equal(ts_request_line(q), "PUT /latest/api/token HTTP/1.1");
	assert_string_equal(ts_header(q, "X-aws-ec2-metadata-token-ttl-seconds"), "21600");
	assert_string_equal(ts_header(q, "Content-Length"), "0");
	assert_null(ts_header(q, "Content-Type"));
	fixture_stop(&f);
}

/* ---- streaming ---- */

static const char sse_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
			       "Cache-Control: no-cache\r\nConnection: close\r\n\r\n";

static void start_stream(struct fixture *f, struct result *r, const char *last_id, usec_t headers_to, usec_t idle_to)
{
	struct http_stream_opts o = {
		.path = "/v1/nodes/n1/events",
		.bearer = "tok",
		.last_event_id = last_id,
		.headers_timeout = headers_to,
		.idle_timeout = idle_to,
		.on_open = on_open,
		.on_data = on_data,
		.free_userdata = on_free,
	};
	assert_int_equal(http_stream_start(f->client, &o, on_done, r, NULL), 0);
	assert_true(ts_run_until(f->event, &r->done, 10000));
	ts_run_for(f->event, 1);
	assert_int_equal(r->freed, 1);
}

static void test_stream_chunks_eof(void **state)
{
	static const struct ts_chunk chunks[] = {
		{ ": connected\n\n" }, { "id: evt_1\nev", 0, 30 }, { "ent: peer_added\r\nda", 0, 30 },
		{ "ta: {}\n\n", 0, 30 }, { "\n", 0, 30 },
	};
	struct ts_conn conns[] = { { .response = sse_head, .chunks = chunks, .n_chunks = ELEMENTSOF(chunks) } };
	struct fixture f;
	struct result r = {};

	fixture_start(&f, conns, 1, NULL, 0, 0);
	start_stream(&f, &r, "evt_0", 0, 0);
	assert_true(r.opened);
	assert_int_equal(r.error, 0); /* clean EOF */
	assert_int_equal(r.status, 200);
	assert_string_equal(r.data, ": connected\n\nid: evt_1\nevent: peer_added\r\ndata: {}\n\n\n");
	assert_true(r.data_calls >= 2);
	ts_stop(&f.ts);
	const char *q = f.ts.requests[0];
	assert_string_equal(ts_request_line(q), "GET /v1/nodes/n1/events HTTP/1.1");
	assert_string_equal(ts_header(q, "Accept"), "text/event-stream");
	assert_string_equal(ts_header(q, "Cache-Control"), "no-cache");
	assert_string_equal(ts_header(q, "Last-Event-ID"), "evt_0");
	assert_string_equal(ts_header(q, "Authorization"), "Bearer tok");
	assert_null(ts_header(q, "Accept-Encoding"));
	result_clear(&r);
	fixture_stop(&f);
}

static void test_stream_refusals(void **state)
{
	_cleanup_free_ char *json = ts_response("200 OK", "Content-Type: application/json\r\n", "{\"a\":1}");
	_cleanup_free_ char *r401 = ts_response("401 Unauthorized", "Content-Type: application/json\r\n", "{}");
	_cleanup_free_ char *r429 = ts_response("429 Too Many Requests", "Retry-After: 3\r\n", "");
	struct ts_conn conns[] = { { .response = json }, { .response = r401 }, { .response = r429 } };
	struct fixture f;
	struct result r = {};

	fixture_start(&f, conns, 3, NULL, 0, 0);
	start_stream(&f, &r, NULL, 0, 0);
	assert_false(r.opened);
	assert_int_equal(r.error, -EPROTO);
	assert_int_equal(r.data_len, 0);
	result_clear(&r);

	start_stream(&f, &r, NULL, 0, 0);
	assert_false(r.opened);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.status, 401);
	assert_int_equal(r.data_len, 0);
	result_clear(&r);

	start_stream(&f, &r, NULL, 0, 0);
	assert_int_equal(r.status, 429);
	assert_true(r.has_retry_after);
	assert_int_equal(r.retry_after, 3 * USEC_PER_SEC);
	result_clear(&r);
	fixture_stop(&f);
}

static void test_stream_timeouts(void **state)
{
	static const struct ts_chunk ka[] = { { ": hi\n\n" }, { ": again\n\n", 0, 150 } };
	struct ts_conn conns[] = {
		{ .response = sse_head, .chunks = ka, .n_chunks = 2, .hold_ms = 5000 }, /* stalls after bytes */
		{ .hold_ms = 5000 }, /* never answers */
	};
	struct fixture f;
	struct result r = {};
	usec_t t0;

	fixture_start(&f, conns, 2, NULL, 0, 0);
	t0 = now_usec(CLOCK_MONOTONIC);
	start_stream(&f, &r, NULL, 0, 300 * USEC_PER_MSEC);
	/* The keepalive after 150 ms pushed the idle deadline: >= 450 ms in total. */
	assert_true(now_usec(CLOCK_MONOTONIC) - t0 >= 440 * USEC_PER_MSEC);
	assert_true(now_usec(CLOCK_MONOTONIC) - t0 < 3 * USEC_PER_SEC);
	assert_true(r.opened);
	assert_int_equal(r.error, -ETIMEDOUT);
	assert_string_equal(r.data, ": hi\n\n: again\n\n");
	result_clear(&r);

	t0 = now_usec(CLOCK_MONOTONIC);
	start_stream(&f, &r, NULL, 300 * USEC_PER_MSEC, 0);
	assert_false(r.opened);
	assert_int_equal(r.error, -ETIMEDOUT);
	assert_true(now_usec(CLOCK_MONOTONIC) - t0 < 3 * USEC_PER_SEC);
	result_clear(&r);
	fixture_stop(&f);
}

static int data_abort(struct http_request *req, const void *buf, size_t len, void *userdata)
{
	on_data(req, buf, len, userdata);
	return -E2BIG;
}

static int data_cancel(struct http_request *req, const void *buf, size_t len, void *userdata)
{
	on_data(req, buf, len, userdata);
	http_request_cancel(req);
	return 0;
}

static void test_stream_abort_and_cancel(void **state)
{
	static const struct ts_chunk c[] = { { "data: x\n\n" }, { "data: y\n\n", 0, 100 } };
	struct ts_conn conns[] = {
		{ .response = sse_head, .chunks = c, .n_chunks = 2, .hold_ms = 3000 },
		{ .response = sse_head, .chunks = c, .n_chunks = 2, .hold_ms = 3000 },
	};
	struct fixture f;
	struct result r = {};

	fixture_start(&f, conns, 2, NULL, 0, 0);
	struct http_stream_opts o = { .path = "/e", .on_open = on_open, .on_data = data_abort, .free_userdata = on_free };
	assert_int_equal(http_stream_start(f.client, &o, on_done, &r, NULL), 0);
	assert_true(ts_run_until(f.event, &r.done, 5000));
	assert_int_equal(r.error, -E2BIG);
	assert_int_equal(r.data_calls, 1);
	result_clear(&r);

	/* Cancelling from inside on_data: no done callback, userdata released. */
	o.on_data = data_cancel;
	assert_int_equal(http_stream_start(f.client, &o, on_done, &r, NULL), 0);
	bool never = false;
	ts_run_until(f.event, &never, 400);
	assert_false(r.done);
	assert_int_equal(r.data_calls, 1);
	assert_int_equal(r.freed, 1);
	assert_int_equal(http_client_pending(f.client), 0);
	result_clear(&r);
	fixture_stop(&f);
}

/* ---- pure helpers ---- */

static void test_escape_segment(void **state)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{ "n_abc123", "n_abc123" },
		{ "A-Z.a_z~09", "A-Z.a_z~09" },
		{ "a/b", "a%2Fb" },
		{ "a b", "a%20b" },
		{ "..", ".." },
		{ "%", "%25" },
		{ "\xc3\xa9", "%C3%A9" },
		{ "", "" },
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		char *o;
		assert_int_equal(http_escape_segment(t[i].in, &o), 0);
		assert_string_equal(o, t[i].out);
		free(o);
	}
}

static void test_retry_after_parse(void **state)
{
	static const struct {
		const char *in;
		int r;
		usec_t v;
	} t[] = {
		{ "0", 0, 0 },
		{ "7", 0, 7 * USEC_PER_SEC },
		{ " 120 ", 0, 120 * USEC_PER_SEC },
		{ "", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "1.5", -EINVAL, 0 },
		{ "Wed, 21 Oct 2015 07:28:00 GMT", -EINVAL, 0 },
		{ "99999999999999999999", -ERANGE, 0 },
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		usec_t v = 12345;
		assert_int_equal(http_parse_retry_after(t[i].in, &v), t[i].r);
		if (t[i].r == 0)
			assert_int_equal(v, t[i].v);
	}
}

static void test_gzip_roundtrip(void **state)
{
	const char *in = "hello hello hello hello";
	void *gz;
	size_t len;
	char out[64];

	assert_int_equal(http_gzip(in, strlen(in), &gz, &len), 0);
	const unsigned char *g = gz;
	assert_true(len > 18);
	assert_int_equal(g[0], 0x1f); /* RFC 1952 magic */
	assert_int_equal(g[1], 0x8b);
	z_stream z = { .next_in = gz, .avail_in = (uInt)len, .next_out = (Bytef *)out, .avail_out = sizeof(out) };
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(z.total_out, strlen(in));
	assert_memory_equal(out, in, strlen(in));
	inflateEnd(&z);
	free(gz);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_segment),
		cmocka_unit_test(test_retry_after_parse),
		cmocka_unit_test(test_gzip_roundtrip),
		cmocka_unit_test(test_config_rejects),
		cmocka_unit_test(test_get_json_headers),
		cmocka_unit_test(test_gzip_response),
		cmocka_unit_test(test_status_codes),
		cmocka_unit_test(test_error_body_truncated),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_body_limit_default_gzip),
		cmocka_unit_test(test_post_bodies),
		cmocka_unit_test(test_network_errors),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_custom_headers_capture),
		cmocka_unit_test(test_stream_chunks_eof),
		cmocka_unit_test(test_stream_refusals),
		cmocka_unit_test(test_stream_timeouts),
		cmocka_unit_test(test_stream_abort_and_cancel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
