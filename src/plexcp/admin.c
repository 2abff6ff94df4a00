/* plexcp administration API: JSON over a root-only unix socket (SO_PEERCRED), used by the
 * `plexcp token|node|policy|meta|data|secret|action|keys|signing-key|events|...` subcommands. */
#define LOG_COMPONENT "admin"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "httpd/httpd.h"
#include "plexcp/server.h"
#include "plexcp/validate.h"
#include "shared/encoding.h"
#include "shared/json-util.h"
#include "shared/log.h"
#include "shared/wire.h"

#define TOKENS_MAX 1000
#define DEFAULT_TOKEN_TTL_SEC 3600

static json_t *time_json(int64_t usec)
{
	char t[RFC3339_MAX];
	struct timestamp ts = { .sec = usec / 1000000, .nsec = (uint32_t)(usec % 1000000) * 1000 };

	if (usec <= 0 || rfc3339_format(ts, 3, t) < 0)
		return json_null();
	return json_string(t);
}

static json_t *node_summary_json(struct server *s, const struct store_node *n)
{
	char ip[16], pk[45];
	json_t *meta = json_loads(n->metadata_json, 0, NULL);
	json_t *caps = n->capabilities_json ? json_loads(n->capabilities_json, 0, NULL) : NULL;

	key32_format(n->public_key, pk);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o?, s:b, s:b, s:b}", "id",
			 n->id, "hostname", n->hostname, "mesh_ip", format_mesh_ip(n->mesh_ip, ip), "public_key", pk,
			 "status", node_status_to_string(n->status), "endpoint", strempty(n->endpoint), "nat_type",
			 strempty(n->nat_type), "last_heartbeat", time_json(n->last_heartbeat), "registered_at",
			 time_json(n->registered_at), "deregistered_at", time_json(n->deregistered_at), "metadata",
			 meta ? meta : json_object(), "capabilities", caps, "stream_connected",
			 streams_connected(s, n->id), "rotate_pending", n->rotate_pending, "reconcile_pending",
			 n->reconcile_pending);
}

/* A node by ID or by the host name of a live node. Replies 404 itself. */
static int resolve_node(struct server *s, struct httpd_request *req, const char *name, struct store_node *ret)
{
	struct store_node *nodes = NULL;
	size_t n = 0;
	int r;

	r = store_node_get(s->store, name, ret);
	if (r != -ENOENT) {
		if (r < 0)
			reply_json_error(req, 500, "internal", "store error");
		return r;
	}
	r = store_node_list(s->store, false, &nodes, &n);
	if (r >= 0) {
		r = -ENOENT;
		for (size_t i = 0; i < n; i++)
			if (streq(nodes[i].hostname, name)) {
				*ret = nodes[i];
				nodes[i] = (struct store_node){};
				r = 0;
				break;
			}
		store_node_array_free(nodes, n);
	}
	if (r == -ENOENT)
		reply_json_error(req, 404, "not_found", "no such node: %s", name);
	else if (r < 0)
		reply_json_error(req, 500, "internal", "store error");
	return r;
}

static int resolve_live_node(struct server *s, struct httpd_request *req, struct store_node *ret)
{
	int r = resolve_node(s, req, httpd_request_param(req, "node"), ret);

	if (r < 0)
		return r;
	if (ret->status == NODE_STATUS_DEREGISTERED) {
		store_node_done(ret);
		reply_json_error(req, 409, "conflict", "node is deregistered");
		return -ESTALE;
	}
	return 0;
}

static int body_json(struct httpd_request *req, json_t **ret)
{
	struct json_error e = {};
	const char *body;
	size_t len;

	body = httpd_request_body(req, &len);
	if (!body || len == 0) {
		reply_json_error(req, 400, "bad_request", "request body required");
		return -EINVAL;
	}
	if (json_parse_bounded(body, len, ret, &e) < 0) {
		reply_json_error(req, 400, "bad_request", "%s", e.text);
		return -EINVAL;
	}
	return 0;
}

static int reply_ok(struct httpd_request *req)
{
	return httpd_reply_json(req, 200, json_pack("{s:b}", "ok", true));
}

static int reply_internal(struct httpd_request *req, int r, const char *what)
{
	log_error_errno(r, "admin request failed", "op=%s err=%m", what);
	return reply_json_error(req, 500, "internal", "%s failed", what);
}

/* ---- tokens ---- */

static int admin_token_create(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	_cleanup_json_ json_t *j = NULL;
	int64_t ttl = DEFAULT_TOKEN_TTL_SEC, count = 1, now = server_now();
	struct json_error e = {};
	json_t *list;
	int r;

	if (body_json(req, &j) < 0)
		return 0;
	if (!json_is_object(j))
		return reply_json_error(req, 400, "bad_request", "expected object");
	r = json_get_int(j, "ttl_sec", false, 1, INT64_C(10) * 365 * 86400, &ttl, &e);
	if (r < 0 && r != -ENOENT)
		return reply_json_error(req, 400, "bad_request", "%s", e.text);
	r = json_get_int(j, "count", false, 1, TOKENS_MAX, &count, &e);
	if (r < 0 && r != -ENOENT)
		return reply_json_error(req, 400, "bad_request", "%s", e.text);

	list = json_array();
	r = list ? server_tx_begin(s) : -ENOMEM;
	for (int64_t i = 0; r >= 0 && i < count; i++) {
		char tok[11 + 32 + 1];
		uint8_t h[32];

		/* §11: plx_enroll_ + 32 lowercase hex (128 random bits). */
		r = random_id("plx_enroll_", 16, tok, sizeof(tok));
		if (r < 0)
			break;
		sha256_buf(tok, strlen(tok), h);
		r = store_token_add(s->store, h, now, now + ttl * 1000000);
		if (r >= 0)
			r = json_array_append_new(list, json_pack("{s:s, s:o}", "token", tok, "expires_at",
								  time_json(now + ttl * 1000000)));
		explicit_bzero(tok, sizeof(tok));
	}
	if (r < 0) {
		if (list)
			server_tx_rollback(s);
		json_decref(list);
		return reply_internal(req, r, "token creation");
	}
	r = server_tx_commit(s);
	if (r < 0) {
		json_decref(list);
		return reply_internal(req, r, "token creation");
	}
	log_info("bootstrap tokens created", "count=%" PRId64 " ttl_s=%" PRId64, count, ttl);
	return httpd_reply_json(req, 201, json_pack("{s:o}", "tokens", list));
}

/* ---- nodes ---- */

static int admin_node_list(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	const char *all = httpd_request_query(req, "all");
	struct store_node *nodes = NULL;
	size_t n = 0;
	json_t *arr;
	int r;

	r = store_node_list(s->store, all != NULL, &nodes, &n);
	if (r < 0)
		return reply_internal(req, r, "node list");
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, node_summary_json(s, &nodes[i]));
	store_node_array_free(nodes, n);
	return httpd_reply_json(req, 200, json_pack("{s:o}", "nodes", arr));
}

static json_t *entries_json(const struct store_entry *e, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		json_t *payload = json_loads(e[i].payload_json, JSON_DECODE_ANY, NULL);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o?, s:I, s:o}", "key", e[i].key, "content_type",
						     e[i].content_type, "payload", payload, "version",
						     (json_int_t)e[i].version, "updated_at",
						     time_json(e[i].updated_at)));
	}
	return arr;
}

static int admin_node_show(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	struct store_node n;
	struct store_entry *data = NULL, *rep = NULL;
	struct store_secret_ref *refs = NULL;
	size_t nd = 0, nr = 0, ns = 0;
	json_t *o, *secrets;

	if (resolve_node(s, req, httpd_request_param(req, "node"), &n) < 0)
		return 0;
	o = node_summary_json(s, &n);
	(void)store_data_list(s->store, n.id, &data, &nd);
	(void)store_report_list(s->store, n.id, &rep, &nr);
	(void)store_secret_list(s->store, n.id, &refs, &ns);
	secrets = json_array();
	for (size_t i = 0; secrets && i < ns; i++)
		json_array_append_new(secrets, json_pack("{s:s, s:I}", "key", refs[i].key, "version",
							 (json_int_t)refs[i].version));
	if (o) {
		json_object_set_new(o, "data", entries_json(data, nd));
		json_object_set_new(o, "reports", entries_json(rep, nr));
		json_object_set_new(o, "secret_refs", secrets);
		json_object_set_new(o, "heartbeat",
				    n.heartbeat_json ? json_loads(n.heartbeat_json, 0, NULL) : json_null());
	} else
		json_decref(secrets);
	store_entry_array_free(data, nd);
	store_entry_array_free(rep, nr);
	store_secret_ref_array_free(refs, ns);
	store_node_done(&n);
	return httpd_reply_json(req, 200, o);
}

static int admin_node_remove(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	struct store_node n;
	int r;

	if (resolve_live_node(s, req, &n) < 0)
		return 0;
	r = server_remove_node(s, n.id);
	store_node_done(&n);
	if (r < 0)
		return reply_internal(req, r, "node removal");
	return reply_ok(req);
}

/* ---- policies ---- */

static int admin_policy_get(struct httpd_request *req, void *userdata)
{
	json_t *p = server_policies_json(userdata);

	if (!p)
		return reply_internal(req, -ENOMEM, "policy list");
	return httpd_reply_json(req, 200, json_pack("{s:o}", "policies", p));
}

static int admin_policy_set(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	_cleanup_json_ json_t *j = NULL;
	struct store_policy *p = NULL;
	struct json_error e = {};
	size_t n, i;
	json_t *pol;
	int r;

	if (body_json(req, &j) < 0)
		return 0;
	if (req_policies_parse(j, &e) < 0)
		return reply_json_error(req, 400, "bad_request", "%s", e.text);
	n = json_array_size(j);
	p = calloc(n + 1, sizeof(*p));
	if (!p)
		return reply_internal(req, -ENOMEM, "policy set");
	r = 0;
	json_array_foreach(j, i, pol) {
		json_t *rules = json_object_get(pol, "rules");
		p[i].id = strdup(json_string_value(json_object_get(pol, "id")));
		p[i].rules_json = rules && !json_is_null(rules) ? json_dumps_compact(rules) : strdup("[]");
		if (!p[i].id || !p[i].rules_json)
			r = -ENOMEM;
	}
	if (r >= 0)
		r = server_tx_begin(s);
	if (r >= 0) {
		r = store_policies_set(s->store, p, n);
		if (r >= 0)
			r = server_fanout_policies(s);
		if (r >= 0)
			r = server_tx_commit(s);
		else
			server_tx_rollback(s);
	}
	store_policy_array_free(p, n);
	if (r < 0)
		return reply_internal(req, r, "policy set");
	log_info("policy set replaced", "policies=%zu", n);
	return reply_ok(req);
}

/* ---- metadata, data, secrets ---- */

static int admin_meta_set(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	_cleanup_json_ json_t *j = NULL, *meta = NULL;
	_cleanup_free_ char *text = NULL;
	struct store_node n;
	const char *k;
	json_t *v;
	int r;

	if (body_json(req, &j) < 0)
		return 0;
	if (!json_is_object(j))
		return reply_json_error(req, 400, "bad_request", "expected object");
	/* null deletes a key; everything else must be a string. */
	json_object_foreach(j, k, v) {
		if (!id_is_valid(k) || (!json_is_string(v) && !json_is_null(v)))
			return reply_json_error(req, 400, "bad_request", "metadata: keys are ids, values strings");
	}
	if (resolve_live_node(s, req, &n) < 0)
		return 0;
	meta = json_loads(n.metadata_json, 0, NULL);
	if (!meta)
		meta = json_object();
	json_object_foreach(j, k, v) {
		if (json_is_null(v))
			json_object_del(meta, k);
		else
			json_object_set(meta, k, v);
	}
	text = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
	r = text ? server_tx_begin(s) : -ENOMEM;
	if (r >= 0) {
		r = store_node_set_metadata(s->store, n.id, text);
		if (r >= 0)
			r = server_emit_node_state(s, n.id);
		if (r >= 0)
			r = server_tx_commit(s);
		else
			server_tx_rollback(s);
	}
	store_node_done(&n);
	if (r < 0)
		return reply_internal(req, r, "metadata");
	return httpd_reply_json(req, 200, json_pack("{s:O}", "metadata", meta));
}

static int admin_data_set(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	const char *key = httpd_request_param(req, "key"), *ct = "application/json";
	_cleanup_json_ json_t *j = NULL;
	_cleanup_free_ char *payload = NULL;
	struct json_error e = {};
	struct store_node n;
	json_t *p;
	int r;

	if (!key || !id_is_valid(key))
		return reply_json_error(req, 400, "bad_request", "key must be an id");
	if (body_json(req, &j) < 0)
		return 0;
	if (!json_is_object(j))
		return reply_json_error(req, 400, "bad_request", "expected object");
	r = json_get_string(j, "content_type", false, &ct, &e);
	if (r < 0 && r != -ENOENT)
		return reply_json_error(req, 400, "bad_request", "%s", e.text);
	p = json_object_get(j, "payload");
	if (!p)
		return reply_json_error(req, 400, "bad_request", "payload: required");
	payload = json_dumps_compact(p);
	if (resolve_live_node(s, req, &n) < 0)
		return 0;
	r = payload ? server_tx_begin(s) : -ENOMEM;
	if (r >= 0) {
		r = store_data_set(s->store, n.id, key, ct, payload, server_now());
		if (r >= 0)
			r = server_emit_node_state(s, n.id);
		if (r >= 0)
			r = server_tx_commit(s);
		else
			server_tx_rollback(s);
	}
	store_node_done(&n);
	if (r < 0)
		return reply_internal(req, r, "data set");
	return reply_ok(req);
}

/* DELETE of one keyed entry (data or secret) of a live node: the removal and the event that
 * tells the node about it go in one transaction, so neither is seen without the other. */
static int node_entry_delete(struct httpd_request *req, struct server *s,
			     int (*delete_entry)(struct store *st, const char *node, const char *key),
			     int (*emit)(struct server *srv, const char *id), const char *not_found, const char *what)
{
	struct store_node n;
	int r;

	if (resolve_live_node(s, req, &n) < 0)
		return 0;
	r = server_tx_begin(s);
	if (r >= 0) {
		r = delete_entry(s->store, n.id, httpd_request_param(req, "key"));
		if (r >= 0)
			r = emit(s, n.id);
		if (r >= 0)
			r = server_tx_commit(s);
		else
			server_tx_rollback(s);
	}
	store_node_done(&n);
	if (r == -ENOENT)
		return reply_json_error(req, 404, "not_found", "%s", not_found);
	if (r < 0)
		return reply_internal(req, r, what);
	return reply_ok(req);
}

static int admin_data_delete(struct httpd_request *req, void *userdata)
{
	return node_entry_delete(req, userdata, store_data_delete, server_emit_node_state, "no such data entry",
				 "data delete");
}

static int admin_secret_set(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	const char *key = httpd_request_param(req, "key"), *value;
	_cleanup_json_ json_t *j = NULL;
	struct json_error e = {};
	struct store_node n;
	int r;

	if (!key || !id_is_valid(key))
		return reply_json_error(req, 400, "bad_request", "key must be an id");
	if (body_json(req, &j) < 0)
		return 0;
	if (!json_is_object(j) || json_get_string(j, "value", true, &value, &e) < 0)
		return reply_json_error(req, 400, "bad_request", "expected {\"value\": string}");
	if (resolve_live_node(s, req, &n) < 0)
		return 0;
	r = server_tx_begin(s);
	if (r >= 0) {
		r = store_secret_set(s->store, n.id, key, value, json_string_length(json_object_get(j, "value")),
				     server_now());
		if (r >= 0)
			r = server_emit_node_secrets(s, n.id);
		if (r >= 0)
			r = server_tx_commit(s);
		else
			server_tx_rollback(s);
	}
	store_node_done(&n);
	if (r < 0)
		return reply_internal(req, r, "secret set");
	return reply_ok(req);
}

static int admin_secret_delete(struct httpd_request *req, void *userdata)
{
	return node_entry_delete(req, userdata, store_secret_delete, server_emit_node_secrets, "no such secret",
				 "secret delete");
}

/* ---- actions ---- */

static int admin_action_run(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	_cleanup_json_ json_t *j = NULL, *no_params = NULL;
	_cleanup_free_ char *params_text = NULL;
	struct store_execution x = {};
	struct json_error e = {};
	struct store_node n;
	const char *action, *timeout = NULL;
	json_t *params = NULL, *payload;
	int64_t ns;
	int r;

	if (body_json(req, &j) < 0)
		return 0;
	if (!json_is_object(j) || json_get_string(j, "action", true, &action, &e) < 0 || !*action ||
	    strlen(action) > 128)
		return reply_json_error(req, 400, "bad_request", "action: required");
	r = json_get_object(j, "parameters", false, &params, &e);
	if ((r < 0 && r != -ENOENT) || (params && req_string_map_check(params, "parameters", false, &e) < 0))
		return reply_json_error(req, 400, "bad_request", "%s", e.text);
	r = json_get_string(j, "timeout", false, &timeout, &e);
	if ((r < 0 && r != -ENOENT) || (timeout && duration_parse(timeout, &ns) < 0))
		return reply_json_error(req, 400, "bad_request", "timeout: must be a duration");
	if (resolve_live_node(s, req, &n) < 0)
		return 0;

	/* Absent parameters are sent as {}; one owned empty object serves both uses below
	 * (a fresh json_object() per use leaked, "O" takes its own reference). */
	if (!params)
		params = no_params = json_object();
	params_text = params ? json_dumps_compact(params) : NULL;
	r = random_id("x_", 8, x.id, sizeof(x.id));
	snprintf(x.node_id, sizeof(x.node_id), "%s", n.id);
	x.action = (char *)action;
	x.params_json = params_text;
	x.created_at = server_now();
	payload = json_pack("{s:s, s:s, s:O, s:{s:s, s:s, s:s, s:s}}", "execution_id", x.id, "action", action,
			    "parameters", params, "triggered_by", "type", "control_plane",
			    "session_id", "", "user_id", "", "email", "");
	if (payload && timeout)
		json_object_set_new(payload, "timeout", json_string(timeout));
	if (r >= 0 && (!payload || !params_text))
		r = -ENOMEM;
	if (r >= 0)
		r = server_tx_begin(s);
	if (r >= 0) {
		r = store_execution_create(s->store, &x);
		if (r >= 0) {
			r = server_emit(s, n.id, "action_request", payload);
			payload = NULL;
		}
		if (r >= 0)
			r = server_tx_commit(s);
		else
			server_tx_rollback(s);
	}
	json_decref(payload);
	store_node_done(&n);
	if (r < 0)
		return reply_internal(req, r, "action");
	log_info("action requested", "node=%s action=%s execution=%s", x.node_id, action, x.id);
	return httpd_reply_json(req, 201, json_pack("{s:s}", "execution_id", x.id));
}

static int admin_execution_get(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	struct store_execution x;
	json_t *o;
	int r;

	r = store_execution_get(s->store, httpd_request_param(req, "id"), &x);
	if (r == -ENOENT)
		return reply_json_error(req, 404, "not_found", "no such execution");
	if (r < 0)
		return reply_internal(req, r, "execution");
	o = json_pack("{s:s, s:s, s:s, s:o?, s:s, s:s?, s:o?, s:o, s:o, s:o}", "execution_id", x.id, "node_id",
		      x.node_id, "action", x.action, "parameters", json_loads(x.params_json, 0, NULL), "status",
		      execution_status_to_string(x.status), "ack_reason", x.ack_reason, "result",
		      x.result_json ? json_loads(x.result_json, 0, NULL) : NULL, "created_at", time_json(x.created_at),
		      "acked_at", time_json(x.acked_at), "finished_at", time_json(x.finished_at));
	store_execution_done(&x);
	return httpd_reply_json(req, 200, o);
}

/* ---- keys ---- */

static int request_rotation(struct server *s, const char *id)
{
	int r = store_node_set_rotate_pending(s->store, id, true);

	if (r < 0)
		return r;
	return server_emit(s, id, "rotate_keys", json_pack("{s:s}", "reason", "administrator request"));
}

static int admin_keys_rotate_node(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	struct store_node n;
	int r;

	if (resolve_live_node(s, req, &n) < 0)
		return 0;
	r = server_tx_begin(s);
	if (r >= 0) {
		r = request_rotation(s, n.id);
		if (r >= 0)
			r = server_tx_commit(s);
		else
			server_tx_rollback(s);
	}
	store_node_done(&n);
	if (r < 0)
		return reply_internal(req, r, "key rotation");
	return reply_ok(req);
}

static int admin_keys_rotate_all(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	struct store_node *nodes = NULL;
	size_t n = 0;
	int r;

	r = server_tx_begin(s);
	if (r >= 0) {
		r = store_node_list(s->store, false, &nodes, &n);
		for (size_t i = 0; r >= 0 && i < n; i++)
			r = request_rotation(s, nodes[i].id);
		if (r >= 0)
			r = server_tx_commit(s);
		else
			server_tx_rollback(s);
	}
	store_node_array_free(nodes, n);
	if (r < 0)
		return reply_internal(req, r, "key rotation");
	return httpd_reply_json(req, 200, json_pack("{s:b, s:I}", "ok", true, "nodes", (json_int_t)n));
}

static int admin_signing_rotate(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	int r = server_rotate_signing_key(s);

	if (r < 0)
		return reply_internal(req, r, "signing key rotation");
	return httpd_reply_json(req, 200, json_pack("{s:o}", "signing_keys", server_signing_keys_json(s)));
}

/* ---- events and records ---- */

static int query_int(struct httpd_request *req, const char *name, int64_t def, int64_t *ret)
{
	const char *v = httpd_request_query(req, name);
	char *end;
	long long x;

	if (!v) {
		*ret = def;
		return 0;
	}
	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != 0 || x < 0)
		return -EINVAL;
	*ret = x;
	return 0;
}

static int admin_events(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	struct store_event *ev = NULL;
	struct store_node n;
	size_t nev = 0;
	int64_t after, limit;
	json_t *arr;
	int r;

	if (query_int(req, "after", -1, &after) < 0 || query_int(req, "limit", 20, &limit) < 0)
		return reply_json_error(req, 400, "bad_request", "after/limit must be integers");
	if (httpd_request_query(req, "after") == NULL)
		after = -1;
	if (resolve_node(s, req, httpd_request_param(req, "node"), &n) < 0)
		return 0;
	if (after >= 0) {
		r = store_event_since(s->store, n.id, (uint64_t)after, &ev, &nev);
		if (r == -ENOENT) /* pruned or not yet emitted: fall back to the newest */
			r = store_event_last(s->store, n.id, (size_t)limit, &ev, &nev);
	} else
		r = store_event_last(s->store, n.id, (size_t)limit, &ev, &nev);
	store_node_done(&n);
	if (r < 0)
		return reply_internal(req, r, "events");
	arr = json_array();
	for (size_t i = 0; arr && i < nev; i++) {
		if (after >= 0 && ev[i].seq <= (uint64_t)after)
			continue;
		json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:o}", "seq", (json_int_t)ev[i].seq, "event_type",
						     ev[i].event_type, "envelope", ev[i].envelope, "emitted_at",
						     time_json(ev[i].emitted_at)));
	}
	store_event_array_free(ev, nev);
	return httpd_reply_json(req, 200, json_pack("{s:o}", "events", arr));
}

static int admin_records(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	const char *kind_s = httpd_request_param(req, "kind");
	struct store_record *rec = NULL;
	struct store_node n;
	size_t nrec = 0;
	int64_t since, limit;
	int kind = -1, r;
	json_t *arr;

	for (int k = 0; k < _RECORD_KIND_MAX; k++)
		if (kind_s && streq(kind_s, record_kind_to_string((enum record_kind)k)))
			kind = k;
	if (kind < 0)
		return reply_json_error(req, 404, "not_found", "unknown record kind");
	if (query_int(req, "since", 0, &since) < 0 || query_int(req, "limit", 1000, &limit) < 0)
		return reply_json_error(req, 400, "bad_request", "since/limit must be integers");
	if (resolve_node(s, req, httpd_request_param(req, "node"), &n) < 0)
		return 0;
	r = store_records_query(s->store, n.id, (enum record_kind)kind, since, (size_t)limit, &rec, &nrec);
	store_node_done(&n);
	if (r < 0)
		return reply_internal(req, r, "records");
	arr = json_array();
	for (size_t i = 0; arr && i < nrec; i++)
		json_array_append_new(arr, json_pack("{s:o, s:o?}", "received_at", time_json(rec[i].received_at),
						     "record", json_loads(rec[i].body_json, 0, NULL)));
	store_record_array_free(rec, nrec);
	return httpd_reply_json(req, 200, json_pack("{s:o}", "records", arr));
}

/* ---- routes ---- */

static int admin_authorize(struct httpd_request *req, const struct httpd_route *route, void *userdata)
{
	uid_t uid;
	int r;

	r = httpd_request_peer(req, NULL, &uid, NULL);
	/* Root, or the (unprivileged) user the server itself runs as in tests and demos. */
	if (r < 0 || (uid != 0 && uid != geteuid())) {
		httpd_reply_error(req, 403, "forbidden", "administration requires root or the server's user");
		return -1;
	}
	return 0;
}

static const struct httpd_route admin_routes[] = {
	{ "POST", "/v1/admin/tokens", admin_token_create, 0, 0, NULL },
	{ "GET", "/v1/admin/nodes", admin_node_list, 0, 0, NULL },
	{ "GET", "/v1/admin/nodes/{node}", admin_node_show, 0, 0, NULL },
	{ "DELETE", "/v1/admin/nodes/{node}", admin_node_remove, 0, 0, NULL },
	{ "GET", "/v1/admin/policies", admin_policy_get, 0, 0, NULL },
	{ "PUT", "/v1/admin/policies", admin_policy_set, 0, 0, NULL },
	{ "PATCH", "/v1/admin/nodes/{node}/metadata", admin_meta_set, 0, 0, NULL },
	{ "PUT", "/v1/admin/nodes/{node}/data/{key}", admin_data_set, 0, 0, NULL },
	{ "DELETE", "/v1/admin/nodes/{node}/data/{key}", admin_data_delete, 0, 0, NULL },
	{ "PUT", "/v1/admin/nodes/{node}/secrets/{key}", admin_secret_set, 0, 0, NULL },
	{ "DELETE", "/v1/admin/nodes/{node}/secrets/{key}", admin_secret_delete, 0, 0, NULL },
	{ "POST", "/v1/admin/nodes/{node}/actions", admin_action_run, 0, 0, NULL },
	{ "GET", "/v1/admin/executions/{id}", admin_execution_get, 0, 0, NULL },
	{ "POST", "/v1/admin/nodes/{node}/rotate-keys", admin_keys_rotate_node, 0, 0, NULL },
	{ "POST", "/v1/admin/rotate-keys", admin_keys_rotate_all, 0, 0, NULL },
	{ "POST", "/v1/admin/signing-key/rotate", admin_signing_rotate, 0, 0, NULL },
	{ "GET", "/v1/admin/nodes/{node}/events", admin_events, 0, 0, NULL },
	{ "GET", "/v1/admin/nodes/{node}/records/{kind}", admin_records, 0, 0, NULL },
};

int admin_start(struct server *s)
{
	struct httpd_config c = {
		.unix_path = s->admin_path,
		.unix_mode = 0600,
		.max_connections = 64,
		.max_body = BODY_MAX,
		.authorize = admin_authorize,
		.routes = admin_routes,
		.n_routes = ELEMENTSOF(admin_routes),
		.userdata = s,
	};
	int r = httpd_new(s->event, &c, &s->admin);

	if (r < 0)
		return log_error_errno(r, "cannot listen on admin socket", "path=%s err=%m", s->admin_path);
	log_info("admin socket listening", "path=%s", s->admin_path);
	return 0;
}
