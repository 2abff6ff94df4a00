/* Control-plane endpoint calls (control-plane-api.md §3, §4): request building from typed structs,
 * response validation into typed structs and the uniform result classification of §2.7. */
#define LOG_COMPONENT "api"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/api.h"
#include "shared/encoding.h"
#include "shared/json-util.h"
#include "shared/log.h"
#include "shared/macro.h"
#include "shared/wire.h"

struct api_client {
	struct http_client *http;
	char *node_id;
	char *bearer; /* secret: wiped on replacement and free */
};

enum api_endpoint {
	EP_REGISTER,
	EP_HEARTBEAT,
	EP_DEREGISTER,
	EP_KEYS_ROTATE,
	EP_CAPABILITIES,
	EP_ENDPOINT,
	EP_STATE,
	EP_DRIFT,
	EP_SECRET,
	EP_REPORT,
	EP_EXECUTION_ACK,
	EP_EXECUTION_RESULT,
	EP_METRICS,
	EP_LOGS,
	EP_AUDIT,
	EP_TUNNEL_READY,
	EP_TUNNEL_CLOSED,
	EP_INTEGRITY,
	EP_PING,
};

static const char *const endpoint_names[] = {
	[EP_REGISTER] = "register",
	[EP_HEARTBEAT] = "heartbeat",
	[EP_DEREGISTER] = "deregister",
	[EP_KEYS_ROTATE] = "keys_rotate",
	[EP_CAPABILITIES] = "capabilities",
	[EP_ENDPOINT] = "endpoint",
	[EP_STATE] = "state",
	[EP_DRIFT] = "drift",
	[EP_SECRET] = "secret",
	[EP_REPORT] = "report",
	[EP_EXECUTION_ACK] = "execution_ack",
	[EP_EXECUTION_RESULT] = "execution_result",
	[EP_METRICS] = "metrics",
	[EP_LOGS] = "logs",
	[EP_AUDIT] = "audit",
	[EP_TUNNEL_READY] = "tunnel_ready",
	[EP_TUNNEL_CLOSED] = "tunnel_closed",
	[EP_INTEGRITY] = "integrity_violation",
	[EP_PING] = "ping",
};

union api_cb {
	api_done_fn done;
	api_register_fn reg;
	api_heartbeat_fn heartbeat;
	api_keys_rotate_fn keys_rotate;
	api_endpoint_fn endpoint;
	api_state_fn state;
	api_secret_fn secret;
};

struct api_call {
	enum api_endpoint ep;
	union api_cb cb; /* the member matching ep */
	void *userdata;
	char *expect_key; /* E10: the key the response must echo */
};

static void api_call_free(void *p)
{
	struct api_call *c = p;
	if (!c)
		return;
	free(c->expect_key);
	free(c);
}

const char *api_result_kind_to_string(enum api_result_kind k)
{
	static const char *const names[] = {
		[API_RESULT_OK] = "ok",
		[API_RESULT_PERMANENT] = "permanent",
		[API_RESULT_REAUTH] = "reauth",
		[API_RESULT_RATE_LIMITED] = "rate_limited",
		[API_RESULT_TRANSIENT] = "transient",
		[API_RESULT_INVALID_RESPONSE] = "invalid_response",
	};
	return (size_t)k < ELEMENTSOF(names) ? names[k] : NULL;
}

enum api_result_kind api_classify(long status, int error)
{
	if (error < 0 || status <= 0)
		return API_RESULT_TRANSIENT;
	if (status >= 200 && status < 300)
		return API_RESULT_OK;
	if (status == 401)
		return API_RESULT_REAUTH;
	if (status == 429)
		return API_RESULT_RATE_LIMITED;
	if (status >= 500)
		return API_RESULT_TRANSIENT;
	/* 400, 403, 404, 409, 413, 415 per §2.7; other 4xx and unexpected 1xx/3xx likewise
	 * mean "this request will not succeed as sent". */
	return API_RESULT_PERMANENT;
}

/* ---- client ---- */

int api_client_new(sd_event *event, const struct http_client_config *cfg, struct api_client **ret)
{
	struct api_client *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	r = http_client_new(event, cfg, &a->http);
	if (r < 0) {
		free(a);
		return r;
	}
	*ret = a;
	return 0;
}

struct api_client *api_client_free(struct api_client *a)
{
	if (!a)
		return NULL;
	http_client_free(a->http);
	free(a->node_id);
	erase_and_free(a->bearer);
	free(a);
	return NULL;
}

struct http_client *api_client_get_http(struct api_client *a)
{
	return a->http;
}

int api_client_set_identity(struct api_client *a, const char *node_id, const char *node_token,
			    const uint8_t *node_secret_key)
{
	_cleanup_free_ char *id = NULL;
	char *bearer;

	if (!node_id || !id_is_valid(node_id))
		return -EINVAL;
	if (!isempty(node_token)) {
		for (const char *p = node_token; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				return -EINVAL;
		bearer = strdup(node_token);
	} else if (node_secret_key) {
		char buf[45];
		key32_format(node_secret_key, buf);
		bearer = strdup(buf);
		explicit_bzero(buf, sizeof(buf));
	} else
		return -EINVAL;
	if (!bearer)
		return -ENOMEM;
	id = strdup(node_id);
	if (!id) {
		erase_and_free(bearer);
		return -ENOMEM;
	}
	free(a->node_id);
	a->node_id = TAKE_PTR(id);
	erase_and_free(a->bearer);
	a->bearer = bearer;
	return 0;
}

const char *api_client_node_id(const struct api_client *a)
{
	return a->node_id;
}

bool api_client_has_identity(const struct api_client *a)
{
	return a->node_id && a->bearer;
}

/* ---- completion ---- */

/* Copies the error body for logging: printable ASCII kept, everything else '?'. */
static void sanitize_body(const char *body, size_t len, char *out, size_t size)
{
	size_t n = MIN(len, size - 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)body[i];
		out[i] = ch >= 0x20 && ch <= 0x7e ? (char)ch : '?';
	}
	out[n] = 0;
}

static int parse_body(const struct http_response *resp, json_t **ret, struct json_error *e)
{
	return json_parse_bounded_size(resp->body, resp->body_len, HTTP_BODY_MAX_DEFAULT, ret, e);
}

static void deliver(struct api_call *call, const struct api_result *r, void *resp)
{
	switch (call->ep) {
	case EP_REGISTER:
		call->cb.reg(r, resp, call->userdata);
		break;
	case EP_HEARTBEAT:
		call->cb.heartbeat(r, resp, call->userdata);
		break;
	case EP_KEYS_ROTATE:
		call->cb.keys_rotate(r, resp, call->userdata);
		break;
	case EP_ENDPOINT:
		call->cb.endpoint(r, resp, call->userdata);
		break;
	case EP_STATE:
		call->cb.state(r, resp, call->userdata);
		break;
	case EP_SECRET:
		call->cb.secret(r, resp, call->userdata);
		break;
	case EP_DEREGISTER:
	case EP_CAPABILITIES:
	case EP_DRIFT:
	case EP_REPORT:
	case EP_EXECUTION_ACK:
	case EP_EXECUTION_RESULT:
	case EP_METRICS:
	case EP_LOGS:
	case EP_AUDIT:
	case EP_TUNNEL_READY:
	case EP_TUNNEL_CLOSED:
	case EP_INTEGRITY:
	case EP_PING:
		call->cb.done(r, call->userdata);
		break;
	}
}

/* Validates the body of a 2xx into the endpoint's typed response. 0, or -EBADMSG with e set. */
static int parse_response(struct api_call *call, const struct http_response *hr, void **ret,
			  struct cp_heartbeat_response *hb, struct json_error *e)
{
	_cleanup_json_ json_t *j = NULL;
	int r;

	switch (call->ep) {
	case EP_REGISTER:
	case EP_HEARTBEAT:
	case EP_KEYS_ROTATE:
	case EP_ENDPOINT:
	case EP_STATE:
	case EP_SECRET:
	case EP_PING:
		break;
	case EP_DEREGISTER:
	case EP_CAPABILITIES:
	case EP_DRIFT:
	case EP_REPORT:
	case EP_EXECUTION_ACK:
	case EP_EXECUTION_RESULT:
	case EP_METRICS:
	case EP_LOGS:
	case EP_AUDIT:
	case EP_TUNNEL_READY:
	case EP_TUNNEL_CLOSED:
	case EP_INTEGRITY:
		return 0; /* "ignored" bodies (§3) are not read */
	}

	r = parse_body(hr, &j, e);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;

	switch (call->ep) {
	case EP_REGISTER:
		r = cp_register_response_from_json(j, (struct cp_register_response **)ret, e);
		break;
	case EP_HEARTBEAT:
		r = cp_heartbeat_response_from_json(j, hb, e);
		if (r >= 0)
			*ret = hb;
		break;
	case EP_KEYS_ROTATE:
		r = cp_key_rotate_response_from_json(j, (struct cp_key_rotate_response **)ret, e);
		break;
	case EP_ENDPOINT:
		r = cp_endpoint_response_from_json(j, (struct cp_endpoint_response **)ret, e);
		break;
	case EP_STATE:
		r = cp_state_response_from_json(j, (struct cp_state_response **)ret, e);
		break;
	case EP_SECRET: {
		struct cp_secret_response *s = NULL;
		r = cp_secret_response_from_json(j, &s, e);
		if (r >= 0 && !streq(s->key, call->expect_key)) {
			json_error_set(e, "key: does not match the requested key");
			cp_secret_response_free(s);
			r = -EINVAL;
		} else if (r >= 0)
			*ret = s;
		break;
	}
	case EP_PING: {
		const char *st;
		r = json_get_string(j, "status", true, &st, e);
		if (r >= 0 && !streq(st, "ok")) {
			json_error_set(e, "status: expected \"ok\"");
			r = -EINVAL;
		}
		break;
	}
	default:
		r = 0;
		break;
	}
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	return 0;
}

static void call_done(struct http_request *req, const struct http_response *hr, void *userdata)
{
	struct api_call *call = userdata;
	struct api_result r = {
		.status = hr->error < 0 ? 0 : hr->status,
		.error = hr->error,
		.has_retry_after = hr->has_retry_after,
		.retry_after = hr->retry_after,
		.has_date = hr->has_date,
		.date = hr->date,
	};
	struct cp_heartbeat_response hb = {};
	struct json_error e = {};
	char msg[HTTP_ERROR_BODY_MAX + 1] = "";
	void *resp = NULL;

	r.kind = api_classify(r.status, r.error);
	if (r.error < 0)
		snprintf(msg, sizeof(msg), "%s", hr->error_text);
	else if (r.kind != API_RESULT_OK)
		sanitize_body(hr->body, hr->body_len, msg, sizeof(msg));
	else {
		int k = parse_response(call, hr, &resp, &hb, &e);
		if (k < 0) {
			r.kind = API_RESULT_INVALID_RESPONSE;
			r.error = k;
			snprintf(msg, sizeof(msg), "%s", k == -ENOMEM ? "out of memory" : e.text);
			resp = NULL;
		}
	}
	r.message = msg;
	log_debug("control plane call finished", "endpoint=%s status=%ld result=%s", endpoint_names[call->ep],
		  r.status, api_result_kind_to_string(r.kind));
	deliver(call, &r, resp);
}

/* ---- request plumbing ---- */

static int path_node(struct api_client *a, const char *suffix, char **ret)
{
	_cleanup_free_ char *id = NULL;
	char *p;

	if (!api_client_has_identity(a))
		return -ENOKEY;
	if (http_escape_segment(a->node_id, &id) < 0)
		return -ENOMEM;
	if (asprintf(&p, "/v1/nodes/%s%s", id, suffix) < 0)
		return -ENOMEM;
	*ret = p;
	return 0;
}

/* "/v1/nodes/{node}/<mid>/{param}/<tail>" with param percent-encoded. */
static int path_node_param(struct api_client *a, const char *mid, const char *param, const char *tail,
			   char **ret)
{
	_cleanup_free_ char *enc = NULL, *suffix = NULL;

	if (isempty(param))
		return -EINVAL;
	if (http_escape_segment(param, &enc) < 0)
		return -ENOMEM;
	if (asprintf(&suffix, "/%s/%s%s", mid, enc, tail) < 0) {
		suffix = NULL;
		return -ENOMEM;
	}
	return path_node(a, suffix, ret);
}

struct call_opts {
	enum api_endpoint ep;
	union api_cb cb;
	void *userdata;
	const char *method;
	const char *path;
	const char *bearer;
	json_t *body; /* serialized compactly, or */
	const char *body_text; /* a prepared body */
	size_t body_len;
	const char *content_type;
	bool gzip;
	const char *expect_key;
};

static int call_start(struct api_client *a, const struct call_opts *co, struct http_request **ret)
{
	_cleanup_free_ char *dump = NULL;
	const char *body_text = co->body_text;
	size_t body_len = co->body_len;
	struct api_call *call;
	int r;

	if (!co->cb.done)
		return -EINVAL;
	if (co->body) {
		dump = json_dumps_compact(co->body);
		if (!dump)
			return -ENOMEM;
		body_text = dump;
		body_len = strlen(dump);
	}
	call = calloc(1, sizeof(*call));
	if (!call)
		return -ENOMEM;
	call->ep = co->ep;
	call->cb = co->cb;
	call->userdata = co->userdata;
	if (co->expect_key) {
		call->expect_key = strdup(co->expect_key);
		if (!call->expect_key) {
			api_call_free(call);
			return -ENOMEM;
		}
	}

	struct http_request_opts o = {
		.method = co->method,
		.path = co->path,
		.bearer = co->bearer,
		.content_type = co->content_type,
		.body = body_text,
		.body_len = body_len,
		.gzip = co->gzip,
		.free_userdata = api_call_free,
	};
	r = http_request_start(a->http, &o, call_done, call, ret);
	if (dump)
		explicit_bzero(dump, body_len); /* may hold the bootstrap token */
	if (r < 0) {
		api_call_free(call);
		return r;
	}
	return 0;
}

/* Node-authenticated call with an optional JSON body. */
static int call_node_json(struct api_client *a, enum api_endpoint ep, union api_cb cb, void *userdata,
			  const char *method, const char *path, json_t *body, struct http_request **ret)
{
	struct call_opts co = {
		.ep = ep,
		.cb = cb,
		.userdata = userdata,
		.method = method,
		.path = path,
		.bearer = a->bearer,
		.body = body,
	};
	return call_start(a, &co, ret);
}

int api_register(struct api_client *a, const struct cp_register_request *req, api_register_fn cb, void *userdata,
		 struct http_request **ret)
{
	_cleanup_json_ json_t *body = NULL;
	int r = cp_register_request_to_json(req, &body);
	if (r < 0)
		return r;
	struct call_opts co = {
		.ep = EP_REGISTER,
		.cb.reg = cb,
		.userdata = userdata,
		.method = "POST",
		.path = "/v1/register",
		.bearer = req->token,
		.body = body,
	};
	return call_start(a, &co, ret);
}

int api_heartbeat(struct api_client *a, const struct cp_heartbeat_request *req, api_heartbeat_fn cb,
		  void *userdata, struct http_request **ret)
{
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	r = path_node(a, "/heartbeat", &path);
	if (r < 0)
		return r;
	if (!req->node_id || !streq(req->node_id, a->node_id))
		return -EINVAL;
	r = cp_heartbeat_request_to_json(req, &body);
	if (r < 0)
		return r;
	return call_node_json(a, EP_HEARTBEAT, (union api_cb){ .heartbeat = cb }, userdata, "POST", path, body, ret);
}

int api_deregister(struct api_client *a, api_done_fn cb, void *userdata, struct http_request **ret)
{
	_cleanup_free_ char *path = NULL;
	int r = path_node(a, "/deregister", &path);
	if (r < 0)
		return r;
	return call_node_json(a, EP_DEREGISTER, (union api_cb){ .done = cb }, userdata, "POST", path, NULL, ret);
}

int api_keys_rotate(struct api_client *a, const struct cp_key_rotate_request *req, api_keys_rotate_fn cb,
		    void *userdata, struct http_request **ret)
{
	_cleanup_json_ json_t *body = NULL;
	int r;

	if (!api_client_has_identity(a))
		return -ENOKEY;
	r = cp_key_rotate_request_to_json(req, &body);
	if (r < 0)
		return r;
	return call_node_json(a, EP_KEYS_ROTATE, (union api_cb){ .keys_rotate = cb }, userdata, "POST", "/v1/keys/rotate", body, ret);
}

int api_capabilities(struct api_client *a, const struct cp_capabilities *caps, api_done_fn cb, void *userdata,
		     struct http_request **ret)
{
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	r = path_node(a, "/capabilities", &path);
	if (r < 0)
		return r;
	r = cp_capabilities_to_json(caps, &body);
	if (r < 0)
		return r;
	return call_node_json(a, EP_CAPABILITIES, (union api_cb){ .done = cb }, userdata, "PUT", path, body, ret);
}

int api_endpoint(struct api_client *a, const struct cp_endpoint_report *req, api_endpoint_fn cb, void *userdata,
		 struct http_request **ret)
{
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	r = path_node(a, "/endpoint", &path);
	if (r < 0)
		return r;
	r = cp_endpoint_report_to_json(req, &body);
	if (r < 0)
		return r;
	return call_node_json(a, EP_ENDPOINT, (union api_cb){ .endpoint = cb }, userdata, "PUT", path, body, ret);
}

int api_state(struct api_client *a, api_state_fn cb, void *userdata, struct http_request **ret)
{
	_cleanup_free_ char *path = NULL;
	int r = path_node(a, "/state", &path);
	if (r < 0)
		return r;
	return call_node_json(a, EP_STATE, (union api_cb){ .state = cb }, userdata, "GET", path, NULL, ret);
}

int api_drift(struct api_client *a, const struct cp_drift_report *req, api_done_fn cb, void *userdata,
	      struct http_request **ret)
{
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	r = path_node(a, "/drift", &path);
	if (r < 0)
		return r;
	r = cp_drift_report_to_json(req, &body);
	if (r < 0)
		return r;
	return call_node_json(a, EP_DRIFT, (union api_cb){ .done = cb }, userdata, "POST", path, body, ret);
}

int api_secret(struct api_client *a, const char *key, api_secret_fn cb, void *userdata, struct http_request **ret)
{
	_cleanup_free_ char *path = NULL;
	int r;

	if (!key || !id_is_valid(key))
		return -EINVAL;
	r = path_node_param(a, "secrets", key, "", &path);
	if (r < 0)
		return r;
	struct call_opts co = {
		.ep = EP_SECRET,
		.cb.secret = cb,
		.userdata = userdata,
		.method = "GET",
		.path = path,
		.bearer = a->bearer,
		.expect_key = key,
	};
	return call_start(a, &co, ret);
}

int api_report(struct api_client *a, const struct cp_report_sync *req, api_done_fn cb, void *userdata,
	       struct http_request **ret)
{
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	r = path_node(a, "/report", &path);
	if (r < 0)
		return r;
	r = cp_report_sync_to_json(req, &body);
	if (r < 0)
		return r;
	return call_node_json(a, EP_REPORT, (union api_cb){ .done = cb }, userdata, "POST", path, body, ret);
}

int api_execution_ack(struct api_client *a, const struct cp_execution_ack *req, api_done_fn cb, void *userdata,
		      struct http_request **ret)
{
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	r = cp_execution_ack_to_json(req, &body);
	if (r < 0)
		return r;
	r = path_node_param(a, "executions", req->execution_id, "/ack", &path);
	if (r < 0)
		return r;
	return call_node_json(a, EP_EXECUTION_ACK, (union api_cb){ .done = cb }, userdata, "POST", path, body, ret);
}

int api_execution_result(struct api_client *a, const struct cp_execution_result *req, api_done_fn cb,
			 void *userdata, struct http_request **ret)
{
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	r = cp_execution_result_to_json(req, &body);
	if (r < 0)
		return r;
	r = path_node_param(a, "executions", req->execution_id, "/result", &path);
	if (r < 0)
		return r;
	return call_node_json(a, EP_EXECUTION_RESULT, (union api_cb){ .done = cb }, userdata, "POST", path, body, ret);
}

/* JSON Lines: one compact object per line, each ending in LF (§4.14). */
static int ndjson(json_t *records, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	json_t *v;
	size_t i;

	json_array_foreach (records, i, v) {
		_cleanup_free_ char *line = NULL;
		size_t l;

		if (!json_is_object(v)) {
			free(buf);
			return -EINVAL;
		}
		line = json_dumps_compact(v);
		if (!line) {
			free(buf);
			return -ENOMEM;
		}
		l = strlen(line);
		if (len + l + 2 > cap) {
			size_t ncap = MAX(cap * 2, len + l + 2);
			char *n = realloc(buf, ncap);
			if (!n) {
				free(buf);
				return -ENOMEM;
			}
			buf = n;
			cap = ncap;
		}
		memcpy(buf + len, line, l);
		len += l;
		buf[len++] = '\n';
		buf[len] = 0;
	}
	if (!buf) {
		buf = strdup("");
		if (!buf)
			return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

int api_observe_batch(struct api_client *a, enum api_batch_kind kind, json_t *records, api_done_fn cb,
		      void *userdata, struct http_request **ret)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	enum api_endpoint ep;
	const char *suffix;
	size_t len;
	int r;

	switch (kind) {
	case API_BATCH_METRICS:
		ep = EP_METRICS;
		suffix = "/metrics";
		break;
	case API_BATCH_LOGS:
		ep = EP_LOGS;
		suffix = "/logs";
		break;
	case API_BATCH_AUDIT:
		ep = EP_AUDIT;
		suffix = "/audit";
		break;
	default:
		return -EINVAL;
	}
	if (!json_is_array(records))
		return -EINVAL;
	r = path_node(a, suffix, &path);
	if (r < 0)
		return r;
	struct call_opts co = {
		.ep = ep,
		.cb.done = cb,
		.userdata = userdata,
		.method = "POST",
		.path = path,
		.bearer = a->bearer,
		.gzip = true, /* always, whatever the size (§2.5) */
	};
	if (kind == API_BATCH_METRICS) {
		co.body = records;
		co.content_type = "application/json";
	} else {
		r = ndjson(records, &text, &len);
		if (r < 0)
			return r;
		co.body_text = text;
		co.body_len = len;
		co.content_type = "application/x-ndjson";
	}
	return call_start(a, &co, ret);
}

int api_tunnel_ready(struct api_client *a, const char *session_id, const struct cp_tunnel_ready *req,
		     api_done_fn cb, void *userdata, struct http_request **ret)
{
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	if (!session_id || !id_is_valid(session_id))
		return -EINVAL;
	r = cp_tunnel_ready_to_json(req, &body);
	if (r < 0)
		return r;
	r = path_node_param(a, "tunnels", session_id, "/ready", &path);
	if (r < 0)
		return r;
	return call_node_json(a, EP_TUNNEL_READY, (union api_cb){ .done = cb }, userdata, "POST", path, body, ret);
}

int api_tunnel_closed(struct api_client *a, const char *session_id, const struct cp_tunnel_closed *req,
		      api_done_fn cb, void *userdata, struct http_request **ret)
{
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	if (!session_id || !id_is_valid(session_id))
		return -EINVAL;
	r = cp_tunnel_closed_to_json(req, &body);
	if (r < 0)
		return r;
	r = path_node_param(a, "tunnels", session_id, "/closed", &path);
	if (r < 0)
		return r;
	return call_node_json(a, EP_TUNNEL_CLOSED, (union api_cb){ .done = cb }, userdata, "POST", path, body, ret);
}

int api_integrity_violation(struct api_client *a, const struct cp_integrity_violation *req, api_done_fn cb,
			    void *userdata, struct http_request **ret)
{
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	r = path_node(a, "/integrity/violations", &path);
	if (r < 0)
		return r;
	r = cp_integrity_violation_to_json(req, &body);
	if (r < 0)
		return r;
	return call_node_json(a, EP_INTEGRITY, (union api_cb){ .done = cb }, userdata, "POST", path, body, ret);
}

int api_ping(struct api_client *a, api_done_fn cb, void *userdata, struct http_request **ret)
{
	struct call_opts co = {
		.ep = EP_PING,
		.cb.done = cb,
		.userdata = userdata,
		.method = "GET",
		.path = "/v1/ping",
		.bearer = a->bearer, /* optional for ping; sent when known */
	};
	return call_start(a, &co, ret);
}

int api_events_open(struct api_client *a, const char *last_event_id, usec_t headers_timeout, usec_t idle_timeout,
		    void (*on_open)(struct http_request *req, void *userdata),
		    int (*on_data)(struct http_request *req, const void *buf, size_t len, void *userdata),
		    http_done_fn done, void *userdata, struct http_request **ret)
{
	_cleanup_free_ char *path = NULL;
	int r;

	r = path_node(a, "/events", &path);
	if (r < 0)
		return r;
	struct http_stream_opts o = {
		.path = path,
		.bearer = a->bearer,
		.last_event_id = last_event_id,
		.headers_timeout = headers_timeout,
		.idle_timeout = idle_timeout,
		.on_open = on_open,
		.on_data = on_data,
	};
	return http_stream_start(a->http, &o, done, userdata, ret);
}
