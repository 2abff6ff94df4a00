/* Tests for the endpoint calls against a scripted local HTTP server: paths, bearer choice,
 * bodies sent, typed responses, and the §2.7 classification of every outcome. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "controlplane/api.h"
#include "controlplane/test-cp-server.h"
#include "shared/encoding.h"
#include "shared/macro.h"
#include "shared/wire.h"

#define TOKEN "pxn_3q2bM4yZ0kQfW8v1Jr6tLc9HsA7uXe5GdN2pKo0TzVw"
#define NSK "yhJviexB2qU1PoBZX7c0u/NgUDfE39/JIfaZeos2fZI="

static const char register_body[] =
	"{\"node_id\":\"n_abc123\",\"mesh_ip\":\"10.100.1.1\","
	"\"signing_public_key\":\"VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ=\","
	"\"node_secret_key\":\"yhJviexB2qU1PoBZX7c0u/NgUDfE39/JIfaZeos2fZI=\",\"node_token\":\"" TOKEN "\","
	"\"peers\":[{\"id\":\"n_peer456\",\"public_key\":\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\","
	"\"mesh_ip\":\"10.100.1.5\",\"endpoint\":\"203.0.113.10:51820\",\"allowed_ips\":[\"10.100.1.5/32\"],"
	"\"psk\":\"BY0lWFE3NaekLVCSxBjjA5D5fik694dCChMkSy5so6c=\"},{\"id\":\"n_bad\",\"public_key\":\"x\"}]}";

struct out {
	bool done;
	struct api_result r;
	char message[4200];
	void *resp;
	struct cp_heartbeat_response hb;
};

static void keep(struct out *o, const struct api_result *r)
{
	o->done = true;
	o->r = *r;
	snprintf(o->message, sizeof(o->message), "%s", r->message);
	o->r.message = o->message;
}

static void done_cb(const struct api_result *r, void *ud)
{
	keep(ud, r);
}
static void register_cb(const struct api_result *r, struct cp_register_response *resp, void *ud)
{
	keep(ud, r);
	((struct out *)ud)->resp = resp;
}
static void state_cb(const struct api_result *r, struct cp_state_response *resp, void *ud)
{
	keep(ud, r);
	((struct out *)ud)->resp = resp;
}
static void heartbeat_cb(const struct api_result *r, const struct cp_heartbeat_response *resp, void *ud)
{
	struct out *o = ud;
	keep(o, r);
	if (resp)
		o->hb = *resp;
	o->resp = (void *)resp;
}
static void secret_cb(const struct api_result *r, struct cp_secret_response *resp, void *ud)
{
	keep(ud, r);
	((struct out *)ud)->resp = resp;
}
static void endpoint_cb(const struct api_result *r, struct cp_endpoint_response *resp, void *ud)
{
	keep(ud, r);
	((struct out *)ud)->resp = resp;
}
static void rotate_cb(const struct api_result *r, struct cp_key_rotate_response *resp, void *ud)
{
	keep(ud, r);
	((struct out *)ud)->resp = resp;
}

struct fixture {
	sd_event *event;
	struct api_client *api;
	struct test_server ts;
};

static void fixture_start(struct fixture *f, const struct ts_conn *conns, size_t n)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(sd_event_new(&f->event), 0);
	assert_int_equal(ts_start(&f->ts, conns, n), 0);
	struct http_client_config hc = { .base_url = f->ts.url, .allow_insecure_http = true };
	assert_int_equal(api_client_new(f->event, &hc, &f->api), 0);
}

static void fixture_stop(struct fixture *f)
{
	f->api = api_client_free(f->api);
	ts_free(&f->ts);
	f->event = sd_event_unref(f->event);
}

static void wait_done(struct fixture *f, struct out *o)
{
	assert_true(ts_run_until(f->event, &o->done, 10000));
}

static void test_classify(void **state)
{
	static const struct {
		long status;
		int error;
		enum api_result_kind k;
	} t[] = {
		{ 200, 0, API_RESULT_OK }, { 201, 0, API_RESULT_OK }, { 202, 0, API_RESULT_OK }, { 204, 0, API_RESULT_OK },
		{ 400, 0, API_RESULT_PERMANENT }, { 403, 0, API_RESULT_PERMANENT }, { 404, 0, API_RESULT_PERMANENT },
		{ 409, 0, API_RESULT_PERMANENT }, { 413, 0, API_RESULT_PERMANENT }, { 415, 0, API_RESULT_PERMANENT },
		{ 401, 0, API_RESULT_REAUTH }, { 429, 0, API_RESULT_RATE_LIMITED }, { 500, 0, API_RESULT_TRANSIENT },
		{ 502, 0, API_RESULT_TRANSIENT }, { 503, 0, API_RESULT_TRANSIENT }, { 0, -ECONNREFUSED, API_RESULT_TRANSIENT },
		{ 0, -ETIMEDOUT, API_RESULT_TRANSIENT }, { 200, -ECONNRESET, API_RESULT_TRANSIENT },
		{ 200, -EFBIG, API_RESULT_TRANSIENT },
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++)
		assert_int_equal(api_classify(t[i].status, t[i].error), t[i].k);
	assert_string_equal(api_result_kind_to_string(API_RESULT_RATE_LIMITED), "rate_limited");
}

static void test_register_and_state(void **state)
{
	_cleanup_free_ char *reg = ts_response("201 Created", "Content-Type: application/json\r\n", register_body);
	_cleanup_free_ char *st = ts_response("200 OK", "Content-Type: application/json\r\n",
					      "{\"peers\":[],\"policies\":[{\"id\":\"default-allow\",\"rules\":"
					      "[{\"src\":\"*\",\"dst\":\"*\",\"action\":\"allow\"}]}]}");
	struct ts_conn conns[] = { { .response = reg }, { .response = st } };
	struct fixture f;
	struct out o = {};

	fixture_start(&f, conns, 2);
	struct cp_register_request rr = { .token = "boot-token-1", .hostname = "node-1" };
	assert_int_equal(key32_parse("YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=", rr.public_key), 0);
	/* No identity yet: node calls are refused locally. */
	assert_int_equal(api_state(f.api, state_cb, &o, NULL), -ENOKEY);
	assert_int_equal(api_register(f.api, &rr, register_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_OK);
	assert_int_equal(o.r.status, 201);
	struct cp_register_response *resp = o.resp;
	assert_non_null(resp);
	assert_string_equal(resp->node_id, "n_abc123");
	assert_int_equal(resp->peers.n_peers, 1);
	assert_int_equal(resp->peers.n_errors, 1); /* the bad peer is skipped, not the document */
	assert_string_equal(resp->peers.errors[0].text, "peers[1].public_key: must be base64 of 32 bytes");
	assert_int_equal(api_client_set_identity(f.api, resp->node_id, resp->node_token, resp->node_secret_key), 0);
	cp_register_response_free(resp);

	o = (struct out){};
	assert_int_equal(api_state(f.api, state_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_OK);
	struct cp_state_response *s = o.resp;
	assert_int_equal(s->policies.n_policies, 1);
	assert_string_equal(s->policies.policies[0].id, "default-allow");
	cp_state_response_free(s);

	ts_stop(&f.ts);
	const char *q = f.ts.requests[0];
	assert_string_equal(ts_request_line(q), "POST /v1/register HTTP/1.1");
	assert_string_equal(ts_header(q, "Authorization"), "Bearer boot-token-1");
	assert_string_equal(ts_header(q, "Content-Type"), "application/json");
	size_t len;
	char *b = ts_body(q, &len);
	assert_string_equal(b, "{\"token\":\"boot-token-1\",\"public_key\":\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\","
			       "\"hostname\":\"node-1\"}");
	free(b);
	q = f.ts.requests[1];
	assert_string_equal(ts_request_line(q), "GET /v1/nodes/n_abc123/state HTTP/1.1");
	assert_string_equal(ts_header(q, "Authorization"), "Bearer " TOKEN);
	assert_string_equal(ts_header(q, "Accept"), "application/json");
	fixture_stop(&f);
}

static void test_heartbeat_and_fallback_bearer(void **state)
{
	_cleanup_free_ char *hb = ts_response("200 OK", NULL, "{\"reconcile\":true}");
	_cleanup_free_ char *dr = ts_response("200 OK", NULL, "{}");
	struct ts_conn conns[] = { { .response = hb }, { .response = dr } };
	struct fixture f;
	struct out o = {};
	uint8_t nsk[32];

	fixture_start(&f, conns, 2);
	assert_int_equal(key32_parse(NSK, nsk), 0);
	/* An older CP without node_token: the NSK text is the bearer (§2.4). */
	assert_int_equal(api_client_set_identity(f.api, "n_abc123", NULL, nsk), 0);
	struct cp_heartbeat_request req = { .node_id = "n_abc123", .timestamp = { 1736937005, 0 },
					    .status = CP_HEALTH_HEALTHY, .uptime_ns = 3 * NSEC_PER_SEC };
	assert_int_equal(api_heartbeat(f.api, &req, heartbeat_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_OK);
	assert_true(o.hb.reconcile);
	assert_false(o.hb.rotate_keys);
	/* node_id in the body must match the identity. */
	req.node_id = "n_other";
	assert_int_equal(api_heartbeat(f.api, &req, heartbeat_cb, &o, NULL), -EINVAL);

	o = (struct out){};
	assert_int_equal(api_client_set_identity(f.api, "n_abc123", TOKEN, nsk), 0);
	assert_int_equal(api_deregister(f.api, done_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_OK);

	ts_stop(&f.ts);
	const char *q = f.ts.requests[0];
	assert_string_equal(ts_request_line(q), "POST /v1/nodes/n_abc123/heartbeat HTTP/1.1");
	assert_string_equal(ts_header(q, "Authorization"), "Bearer " NSK);
	size_t len;
	char *b = ts_body(q, &len);
	assert_string_equal(b, "{\"node_id\":\"n_abc123\",\"timestamp\":\"2025-01-15T10:30:05Z\",\"status\":\"healthy\","
			       "\"uptime\":\"3s\",\"binary_checksum\":\"sha256:"
			       "0000000000000000000000000000000000000000000000000000000000000000\"}");
	free(b);
	q = f.ts.requests[1];
	assert_string_equal(ts_request_line(q), "POST /v1/nodes/n_abc123/deregister HTTP/1.1");
	assert_string_equal(ts_header(q, "Authorization"), "Bearer " TOKEN);
	assert_null(ts_header(q, "Content-Type"));
	assert_string_equal(ts_header(q, "Content-Length"), "0");
	fixture_stop(&f);
}

static void test_outcomes(void **state)
{
	_cleanup_free_ char *r401 = ts_response("401 Unauthorized", "Content-Type: application/json\r\n",
						"{\"error\":\"unauthorized\",\"message\":\"unknown\x01" "token\"}");
	_cleanup_free_ char *r429 = ts_response("429 Too Many Requests", "Retry-After: 30\r\n", "{}");
	_cleanup_free_ char *r503 = ts_response("503 Service Unavailable", NULL, "down");
	_cleanup_free_ char *r409 = ts_response("409 Conflict", NULL, "{\"error\":\"conflict\"}");
	_cleanup_free_ char *bad = ts_response("200 OK", NULL, "{\"peers\":{}}");
	_cleanup_free_ char *notjson = ts_response("200 OK", NULL, "<html>");
	_cleanup_free_ char *hbarr = ts_response("200 OK", NULL, "[]");
	struct ts_conn conns[] = { { .response = r401 }, { .response = r429 }, { .response = r503 }, { .response = r409 },
				   { .response = bad },  { .response = notjson }, { .response = hbarr } };
	struct fixture f;
	struct out o = {};

	fixture_start(&f, conns, ELEMENTSOF(conns));
	assert_int_equal(api_client_set_identity(f.api, "n_abc123", TOKEN, NULL), 0);

	assert_int_equal(api_state(f.api, state_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_REAUTH);
	assert_int_equal(o.r.status, 401);
	assert_null(o.resp);
	/* The error body is logged sanitized. */
	assert_string_equal(o.message, "{\"error\":\"unauthorized\",\"message\":\"unknown?token\"}");

	o = (struct out){};
	assert_int_equal(api_state(f.api, state_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_RATE_LIMITED);
	assert_true(o.r.has_retry_after);
	assert_int_equal(o.r.retry_after, 30 * USEC_PER_SEC);

	o = (struct out){};
	assert_int_equal(api_state(f.api, state_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_TRANSIENT);
	assert_string_equal(o.message, "down");

	o = (struct out){};
	assert_int_equal(api_state(f.api, state_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_PERMANENT);
	assert_int_equal(o.r.status, 409);

	o = (struct out){};
	assert_int_equal(api_state(f.api, state_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_INVALID_RESPONSE);
	assert_int_equal(o.r.error, -EBADMSG);
	assert_string_equal(o.message, "peers: must be an array");
	assert_null(o.resp);

	o = (struct out){};
	assert_int_equal(api_state(f.api, state_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_INVALID_RESPONSE);

	o = (struct out){};
	struct cp_heartbeat_request req = { .node_id = "n_abc123", .status = CP_HEALTH_HEALTHY };
	assert_int_equal(api_heartbeat(f.api, &req, heartbeat_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_INVALID_RESPONSE);
	assert_string_equal(o.message, "heartbeat response: must be an object");
	assert_null(o.resp);

	/* Nobody listens any more: network error, transient. */
	ts_stop(&f.ts);
	o = (struct out){};
	assert_int_equal(api_ping(f.api, done_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_TRANSIENT);
	assert_int_equal(o.r.status, 0);
	assert_int_equal(o.r.error, -ECONNREFUSED);
	fixture_stop(&f);
}

static void test_other_endpoints(void **state)
{
	_cleanup_free_ char *sec = ts_response("200 OK", NULL,
					       "{\"key\":\"tls-cert\",\"ciphertext\":\"AAECAwQFBgcICQoLDA0ODxAR\","
					       "\"nonce\":\"AAECAwQFBgcICQoL\",\"version\":2}");
	_cleanup_free_ char *sec2 = ts_response("200 OK", NULL,
						"{\"key\":\"other\",\"ciphertext\":\"AAECAwQFBgcICQoLDA0ODxAR\","
						"\"nonce\":\"AAECAwQFBgcICQoL\",\"version\":2}");
	_cleanup_free_ char *ep = ts_response("200 OK", NULL,
					      "{\"peer_endpoints\":[{\"peer_id\":\"n_a\",\"endpoint\":\"198.51.100.7:51820\"}]}");
	_cleanup_free_ char *rot = ts_response("200 OK", NULL, "{\"updated_peers\":[]}");
	_cleanup_free_ char *ok = ts_response("200 OK", NULL, "{}");
	_cleanup_free_ char *acc = ts_response("202 Accepted", NULL, "{}");
	_cleanup_free_ char *ping = ts_response("200 OK", NULL, "{\"status\":\"ok\"}");
	struct ts_conn conns[] = {
		{ .response = sec }, { .response = sec2 }, { .response = ep },  { .response = rot },
		{ .response = ok },  { .response = ok },   { .response = ok },  { .response = acc },
		{ .response = acc }, { .response = ok },   { .response = ok },  { .response = ok },
		{ .response = ok },  { .response = ok },   { .response = ping },
	};
	struct fixture f;
	struct out o = {};
	struct timestamp ts = { 1736937005, 0 };

	fixture_start(&f, conns, ELEMENTSOF(conns));
	assert_int_equal(api_client_set_identity(f.api, "n_abc123", TOKEN, NULL), 0);

	assert_int_equal(api_secret(f.api, "tls-cert", secret_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_OK);
	assert_int_equal(((struct cp_secret_response *)o.resp)->version, 2);
	cp_secret_response_free(o.resp);
	o = (struct out){};
	assert_int_equal(api_secret(f.api, "tls-cert", secret_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_INVALID_RESPONSE);
	assert_string_equal(o.message, "key: does not match the requested key");
	assert_int_equal(api_secret(f.api, "../x", secret_cb, &o, NULL), -EINVAL);

	o = (struct out){};
	struct cp_endpoint_report er = { .nat_type = CP_NAT_FULL_CONE };
	assert_int_equal(endpoint_parse("203.0.113.10:51820", &er.public_endpoint), 0);
	assert_int_equal(api_endpoint(f.api, &er, endpoint_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_OK);
	assert_int_equal(((struct cp_endpoint_response *)o.resp)->n_peer_endpoints, 1);
	cp_endpoint_response_free(o.resp);

	o = (struct out){};
	struct cp_key_rotate_request kr = { .node_id = "n_abc123" };
	assert_int_equal(api_keys_rotate(f.api, &kr, rotate_cb, &o, NULL), 0);
	wait_done(&f, &o);
	assert_int_equal(o.r.kind, API_RESULT_OK);
	cp_key_rotate_response_free(o.resp);

	struct cp_capabilities caps = {};
	struct cp_drift_correction corr[] = { { "peer_added", "peer n_a" } };
	struct cp_drift_report dr = { ts, corr, 1 };
	struct cp_report_sync rs = {};
	struct cp_execution_ack ack = { "ex_1", true, NULL };
	struct cp_execution_result xr = { .execution_id = "ex_1", .exit_code = 0, .finished_at = ts,
					  .triggered_by = { .type = "control_plane" } };
	struct cp_tunnel_ready tr = { .timestamp = ts };
	assert_int_equal(endpoint_parse("10.100.1.1:40001", &tr.listen_addr), 0);
	struct cp_tunnel_closed tc = { "closed", NSEC_PER_SEC, ts };
	struct cp_integrity_violation iv = { .type = "binary", .path = "/usr/bin/plexd", .detail = "x", .timestamp = ts };
	json_t *metrics = json_pack("[{s:s,s:s,s:{}}]", "timestamp", "2025-01-15T10:30:05Z", "group", "agent_stats", "data");
	json_t *logs = json_pack("[{s:s},{s:s}]", "message", "a", "message", "b");

	struct out outs[11] = {};
	assert_int_equal(api_capabilities(f.api, &caps, done_cb, &outs[0], NULL), 0);
	wait_done(&f, &outs[0]);
	assert_int_equal(api_drift(f.api, &dr, done_cb, &outs[1], NULL), 0);
	wait_done(&f, &outs[1]);
	assert_int_equal(api_report(f.api, &rs, done_cb, &outs[2], NULL), 0);
	wait_done(&f, &outs[2]);
	assert_int_equal(api_observe_batch(f.api, API_BATCH_METRICS, metrics, done_cb, &outs[3], NULL), 0);
	wait_done(&f, &outs[3]);
	assert_int_equal(api_observe_batch(f.api, API_BATCH_LOGS, logs, done_cb, &outs[4], NULL), 0);
	wait_done(&f, &outs[4]);
	assert_int_equal(api_execution_ack(f.api, &ack, done_cb, &outs[5], NULL), 0);
	wait_done(&f, &outs[5]);
	assert_int_equal(api_execution_result(f.api, &xr, done_cb, &outs[6], NULL), 0);
	wait_done(&f, &outs[6]);
	assert_int_equal(api_tunnel_ready(f.api, "sess_1", &tr, done_cb, &outs[7], NULL), 0);
	wait_done(&f, &outs[7]);
	assert_int_equal(api_tunnel_closed(f.api, "sess_1", &tc, done_cb, &outs[8], NULL), 0);
	wait_done(&f, &outs[8]);
	assert_int_equal(api_integrity_violation(f.api, &iv, done_cb, &outs[9], NULL), 0);
	wait_done(&f, &outs[9]);
	assert_int_equal(api_ping(f.api, done_cb, &outs[10], NULL), 0);
	wait_done(&f, &outs[10]);
	for (size_t i = 0; i < ELEMENTSOF(outs); i++)
		assert_int_equal(outs[i].r.kind, API_RESULT_OK);
	json_decref(metrics);
	json_decref(logs);

	ts_stop(&f.ts);
	assert_int_equal(f.ts.n_requests, ELEMENTSOF(conns));
	static const char *const lines[] = {
		"GET /v1/nodes/n_abc123/secrets/tls-cert HTTP/1.1",
		"GET /v1/nodes/n_abc123/secrets/tls-cert HTTP/1.1",
		"PUT /v1/nodes/n_abc123/endpoint HTTP/1.1",
		"POST /v1/keys/rotate HTTP/1.1",
		"PUT /v1/nodes/n_abc123/capabilities HTTP/1.1",
		"POST /v1/nodes/n_abc123/drift HTTP/1.1",
		"POST /v1/nodes/n_abc123/report HTTP/1.1",
		"POST /v1/nodes/n_abc123/metrics HTTP/1.1",
		"POST /v1/nodes/n_abc123/logs HTTP/1.1",
		"POST /v1/nodes/n_abc123/executions/ex_1/ack HTTP/1.1",
		"POST /v1/nodes/n_abc123/executions/ex_1/result HTTP/1.1",
		"POST /v1/nodes/n_abc123/tunnels/sess_1/ready HTTP/1.1",
		"POST /v1/nodes/n_abc123/tunnels/sess_1/closed HTTP/1.1",
		"POST /v1/nodes/n_abc123/integrity/violations HTTP/1.1",
		"GET /v1/ping HTTP/1.1",
	};
	for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
		assert_string_equal(ts_request_line(f.ts.requests[i]), lines[i]);
		assert_string_equal(ts_header(f.ts.requests[i], "Authorization"), "Bearer " TOKEN);
	}
	/* Observability batches: always gzip; metrics as a JSON array, logs as JSON Lines. */
	size_t len;
	const char *m = f.ts.requests[7];
	assert_string_equal(ts_header(m, "Content-Encoding"), "gzip");
	assert_string_equal(ts_header(m, "Content-Type"), "application/json");
	char *b = ts_body(m, &len);
	assert_string_equal(b, "[{\"timestamp\":\"2025-01-15T10:30:05Z\",\"group\":\"agent_stats\",\"data\":{}}]");
	free(b);
	const char *l = f.ts.requests[8];
	assert_string_equal(ts_header(l, "Content-Encoding"), "gzip");
	assert_string_equal(ts_header(l, "Content-Type"), "application/x-ndjson");
	b = ts_body(l, &len);
	assert_string_equal(b, "{\"message\":\"a\"}\n{\"message\":\"b\"}\n");
	free(b);
	/* Small ordinary bodies are not compressed. */
	assert_null(ts_header(f.ts.requests[5], "Content-Encoding"));
	b = ts_body(f.ts.requests[9], &len);
	assert_string_equal(b, "{\"execution_id\":\"ex_1\",\"status\":\"accepted\",\"reason\":\"\"}");
	free(b);
	fixture_stop(&f);
}

static void test_identity_rules(void **state)
{
	sd_event *e;
	struct api_client *a;
	struct http_client_config hc = { .base_url = "https://cp.example.net" };
	uint8_t nsk[32] = {};

	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(api_client_new(e, &hc, &a), 0);
	assert_false(api_client_has_identity(a));
	assert_int_equal(api_client_set_identity(a, "n/1", TOKEN, NULL), -EINVAL);
	assert_int_equal(api_client_set_identity(a, "n_1", NULL, NULL), -EINVAL);
	assert_int_equal(api_client_set_identity(a, "n_1", "tok\nx", NULL), -EINVAL);
	assert_false(api_client_has_identity(a));
	assert_int_equal(api_client_set_identity(a, "n_1", "", nsk), 0);
	assert_true(api_client_has_identity(a));
	assert_string_equal(api_client_node_id(a), "n_1");
	struct out o = {};
	assert_int_equal(api_tunnel_ready(a, "bad/id", &(struct cp_tunnel_ready){}, done_cb, &o, NULL), -EINVAL);
	/* Pending calls are released without callback when the client is freed. */
	assert_int_equal(api_ping(a, done_cb, &o, NULL), 0);
	api_client_free(a);
	assert_false(o.done);
	sd_event_unref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_identity_rules),
		cmocka_unit_test(test_register_and_state),
		cmocka_unit_test(test_heartbeat_and_fallback_bearer),
		cmocka_unit_test(test_outcomes),
		cmocka_unit_test(test_other_endpoints),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
