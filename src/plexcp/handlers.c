/* plexcp node API (control-plane-api.md §3/§4, E1–E21) and the heartbeat monitor (§12.1).
 * Every handler validates the whole request before it changes state, and changes state in one
 * store transaction so that a failure leaves nothing behind. */
#define LOG_COMPONENT "api"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "crypto/crypto.h"
#include "httpd/httpd.h"
#include "plexcp/relay.h"
#include "plexcp/server.h"
#include "plexcp/validate.h"
#include "shared/encoding.h"
#include "shared/fileio.h"
#include "shared/json-util.h"
#include "shared/log.h"
#include "shared/random-util.h"
#include "shared/wire.h"

#define ARTIFACT_MAX ((size_t)512 * 1024 * 1024)
#define TLS_PEM_MAX ((size_t)1024 * 1024) /* a certificate chain or key file */

enum auth_kind {
	AUTH_NONE,
	AUTH_NODE_PATH, /* bearer must belong to {node_id} */
	AUTH_NODE,	/* any node; the handler checks the body */
};
static const enum auth_kind auth_none = AUTH_NONE, auth_path = AUTH_NODE_PATH, auth_node = AUTH_NODE;

/* ---- authentication ---- */

/* Maps the bearer value to a live node (§2.4). Replies 401/403 itself and returns < 0 then. */
static int request_node(struct server *s, struct httpd_request *req, struct store_node *ret)
{
	const char *h = httpd_request_header(req, "Authorization"), *tok;
	const struct httpd_route *route = httpd_request_route(req);
	const char *path_id;
	uint8_t hash[32];
	struct store_node n;
	int r;

	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		reply_json_error(req, 401, "unauthorized", "bearer token required");
		return -EACCES;
	}
	tok = h + 7;
	while (*tok == ' ')
		tok++;
	if (strlen(tok) < 32 || strlen(tok) > 256) {
		reply_json_error(req, 401, "unauthorized", "unknown credential");
		return -EACCES;
	}
	sha256_buf(tok, strlen(tok), hash);
	r = store_node_get_by_token(s->store, hash, &n);
	if (r == -ENOENT || (r >= 0 && !crypto_memeq(n.token_hash, hash, 32))) {
		if (r >= 0)
			store_node_done(&n);
		reply_json_error(req, 401, "unauthorized", "unknown credential");
		return -EACCES;
	}
	if (r < 0) {
		reply_json_error(req, 500, "internal", "store error");
		return r;
	}
	if (route && route->data && *(const enum auth_kind *)route->data == AUTH_NODE_PATH) {
		path_id = httpd_request_param(req, "node_id");
		if (!path_id || !streq(path_id, n.id)) {
			store_node_done(&n);
			reply_json_error(req, 403, "forbidden", "credential belongs to another node");
			return -EPERM;
		}
	}
	*ret = n;
	return 0;
}

static int api_authorize(struct httpd_request *req, const struct httpd_route *route, void *userdata)
{
	struct server *s = userdata;
	struct store_node n;
	int r;

	if (!route->data || *(const enum auth_kind *)route->data == AUTH_NONE)
		return 0;
	/* Rejects bad credentials before the body is read; the handler looks the node up again
	 * because httpd has no per-request user data. */
	r = request_node(s, req, &n);
	if (r < 0)
		return -1;
	store_node_done(&n);
	return 0;
}

#define NODE_OR_RETURN(s, req, n)                                                                  \
	do {                                                                                       \
		if (request_node((s), (req), (n)) < 0)                                             \
			return 0;                                                                  \
	} while (0)

static int reply_empty_object(struct httpd_request *req, unsigned status)
{
	return httpd_reply_json(req, status, json_object());
}

static int reply_internal(struct httpd_request *req, int r, const char *what)
{
	log_error_errno(r, "request failed", "op=%s err=%m", what);
	return reply_json_error(req, 500, "internal", "%s failed", what);
}

/* Parses the body as one JSON object; replies 400 on failure. */
static int body_object(struct httpd_request *req, json_t **ret)
{
	struct json_error e = {};
	const char *body;
	size_t len;

	body = httpd_request_body(req, &len);
	if (req_parse_object(body, len, ret, &e) < 0) {
		reply_json_error(req, 400, "bad_request", "%s", e.text);
		return -EINVAL;
	}
	return 0;
}

/* ---- E1 ---- */

static int handle_register(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	_cleanup_json_ json_t *j = NULL;
	struct req_register rr = {};
	struct json_error e = {};
	struct store_node n = {};
	uint8_t thash[32], nsk[32];
	char node_token[4 + 64 + 1], ip[16], pk[45], nsk_b64[45];
	json_t *peers = NULL, *resp;
	int64_t now = server_now();
	int r;

	if (body_object(req, &j) < 0)
		return 0;
	if (req_register_parse(j, &rr, &e) < 0)
		return reply_json_error(req, 400, "bad_request", "%s", e.text);

	sha256_buf(rr.token, strlen(rr.token), thash);
	r = server_tx_begin(s);
	if (r < 0)
		goto fail;
	r = store_token_consume(s->store, thash, now);
	if (r == -ENOENT || r == -ETIME || r == -EALREADY) {
		server_tx_rollback(s);
		req_register_done(&rr);
		return reply_json_error(req, 401, "unauthorized", "bootstrap token unknown, expired or used");
	}
	if (r < 0)
		goto rollback;

	if ((r = random_id("n_", 8, n.id, sizeof(n.id))) < 0 || (r = random_bytes(nsk, 32)) < 0 ||
	    (r = random_id("pxn_", 32, node_token, sizeof(node_token))) < 0)
		goto rollback;
	r = store_ip_allocate(s->store, now, &n.mesh_ip);
	if (r < 0)
		goto rollback;
	n.hostname = (char *)rr.hostname;
	memcpy(n.public_key, rr.public_key, 32);
	n.metadata_json = rr.metadata_json;
	n.capabilities_json = rr.capabilities_json;
	sha256_buf(node_token, strlen(node_token), n.token_hash);
	memcpy(n.nsk, nsk, 32);
	n.registered_at = now;
	r = store_node_insert(s->store, &n);
	if (r == -EEXIST) {
		server_tx_rollback(s);
		req_register_done(&rr);
		return reply_json_error(req, 409, "conflict", "a live node with this hostname exists");
	}
	if (r < 0)
		goto rollback;

	peers = server_peers_json(s, n.id);
	if (!peers) {
		r = -ENOMEM;
		goto rollback;
	}
	r = server_fanout_peer_event(s, &n, "peer_added");
	if (r < 0)
		goto rollback;
	r = server_tx_commit(s);
	if (r < 0)
		goto fail;

	key32_format(nsk, nsk_b64);
	resp = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "node_id", n.id, "mesh_ip",
			 format_mesh_ip(n.mesh_ip, ip), "signing_public_key", (key32_format(s->keys.pub, pk), pk),
			 "node_secret_key", nsk_b64, "node_token", node_token, "peers", peers);
	peers = NULL;
	log_info("node registered", "node=%s hostname=%s mesh_ip=%s", n.id, rr.hostname, ip);
	explicit_bzero(nsk, sizeof(nsk));
	explicit_bzero(nsk_b64, sizeof(nsk_b64));
	explicit_bzero(node_token, sizeof(node_token));
	req_register_done(&rr);
	return httpd_reply_json(req, 201, resp);

rollback:
	server_tx_rollback(s);
fail:
	json_decref(peers);
	explicit_bzero(nsk, sizeof(nsk));
	explicit_bzero(node_token, sizeof(node_token));
	req_register_done(&rr);
	return reply_internal(req, r, "registration");
}

/* ---- E2 ---- */

static int handle_events(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	struct store_node n;
	int r;

	NODE_OR_RETURN(s, req, &n);
	r = stream_attach(s, req, n.id, httpd_request_header(req, "Last-Event-ID"));
	store_node_done(&n);
	if (r < 0)
		return reply_internal(req, r, "event stream");
	return 0;
}

/* ---- E3 ---- */

static int handle_heartbeat(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	_cleanup_json_ json_t *j = NULL;
	_cleanup_free_ char *text = NULL;
	struct req_heartbeat hb;
	struct json_error e = {};
	struct store_node n;
	bool was_offline;
	json_t *resp;
	int r;

	NODE_OR_RETURN(s, req, &n);
	if (body_object(req, &j) < 0)
		goto out;
	if (req_heartbeat_parse(j, &hb, &e) < 0) {
		reply_json_error(req, 400, "bad_request", "%s", e.text);
		goto out;
	}
	if (!streq(hb.node_id, n.id)) {
		reply_json_error(req, 400, "bad_request", "node_id does not match the path");
		goto out;
	}
	text = json_dumps_compact(j);
	was_offline = n.status == NODE_STATUS_OFFLINE;

	r = server_tx_begin(s);
	if (r >= 0)
		r = store_node_heartbeat(s->store, n.id, server_now(), text);
	if (r >= 0)
		r = relay_node_heartbeat(s, n.id); /* keeps its relay sessions alive */
	if (r >= 0 && n.reconcile_pending)
		r = store_node_set_reconcile_pending(s->store, n.id, false);
	if (r >= 0 && was_offline)
		/* §12.1: back online -> the others get it as a peer again. */
		r = server_fanout_peer_event(s, &n, "peer_added");
	if (r < 0) {
		server_tx_rollback(s);
		reply_internal(req, r, "heartbeat");
		goto out;
	}
	r = server_tx_commit(s);
	if (r < 0) {
		reply_internal(req, r, "heartbeat");
		goto out;
	}
	if (was_offline)
		log_info("node back online", "node=%s", n.id);
	resp = json_pack("{s:b, s:b}", "reconcile", n.reconcile_pending, "rotate_keys", n.rotate_pending);
	httpd_reply_json(req, 200, resp);
out:
	store_node_done(&n);
	return 0;
}

/* ---- E4 ---- */

static int handle_deregister(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	struct store_node n;
	char id[STORE_ID_MAX + 1];
	int r;

	NODE_OR_RETURN(s, req, &n);
	snprintf(id, sizeof(id), "%s", n.id);
	store_node_done(&n);
	r = server_remove_node(s, id);
	if (r < 0)
		return reply_internal(req, r, "deregistration");
	return reply_empty_object(req, 200);
}

/* ---- E5 ---- */

static int handle_keys_rotate(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	_cleanup_json_ json_t *j = NULL;
	struct req_key_rotate kr;
	struct json_error e = {};
	struct store_node n, *nodes = NULL;
	size_t nn = 0;
	json_t *updated = NULL;
	int r;

	NODE_OR_RETURN(s, req, &n);
	if (body_object(req, &j) < 0)
		goto out;
	if (req_key_rotate_parse(j, &kr, &e) < 0) {
		reply_json_error(req, 400, "bad_request", "%s", e.text);
		goto out;
	}
	if (!streq(kr.node_id, n.id)) {
		reply_json_error(req, 403, "forbidden", "node_id is not the authenticated node");
		goto out;
	}

	r = server_tx_begin(s);
	if (r < 0) {
		reply_internal(req, r, "key rotation");
		goto out;
	}
	memcpy(n.public_key, kr.new_public_key, 32);
	r = store_node_set_public_key(s->store, n.id, kr.new_public_key);
	if (r >= 0)
		r = store_node_set_rotate_pending(s->store, n.id, false);
	if (r >= 0)
		r = store_node_list(s->store, false, &nodes, &nn);
	/* A fresh PSK for every pair involving the node (§4.5). */
	for (size_t i = 0; r >= 0 && i < nn; i++) {
		uint8_t psk[32];
		if (streq(nodes[i].id, n.id))
			continue;
		r = random_bytes(psk, sizeof(psk));
		if (r >= 0)
			r = store_psk_set(s->store, n.id, nodes[i].id, psk);
		explicit_bzero(psk, sizeof(psk));
	}
	if (r >= 0)
		r = server_fanout_peer_event(s, &n, "peer_key_rotated");
	if (r >= 0) {
		updated = server_peers_json(s, n.id);
		if (!updated)
			r = -ENOMEM;
	}
	if (r < 0) {
		json_decref(updated);
		server_tx_rollback(s);
		reply_internal(req, r, "key rotation");
		goto out;
	}
	r = server_tx_commit(s);
	if (r < 0) {
		json_decref(updated);
		reply_internal(req, r, "key rotation");
		goto out;
	}
	log_info("node rotated its key", "node=%s", n.id);
	httpd_reply_json(req, 200, json_pack("{s:o}", "updated_peers", updated));
out:
	store_node_array_free(nodes, nn);
	store_node_done(&n);
	return 0;
}

/* ---- E6 ---- */

static int handle_capabilities(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	_cleanup_json_ json_t *j = NULL;
	_cleanup_free_ char *text = NULL;
	struct json_error e = {};
	struct store_node n;
	int r;

	NODE_OR_RETURN(s, req, &n);
	if (body_object(req, &j) < 0)
		goto out;
	if (req_capabilities_parse(j, &e) < 0) {
		reply_json_error(req, 400, "bad_request", "%s", e.text);
		goto out;
	}
	text = json_dumps_compact(j);
	r = text ? store_node_set_capabilities(s->store, n.id, text) : -ENOMEM;
	if (r < 0)
		reply_internal(req, r, "capabilities");
	else
		reply_empty_object(req, 200);
out:
	store_node_done(&n);
	return 0;
}

/* ---- E7 ---- */

static int handle_endpoint(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	_cleanup_json_ json_t *j = NULL;
	struct req_endpoint ep;
	struct json_error e = {};
	struct store_node n, *nodes = NULL;
	size_t nn = 0;
	json_t *list;
	int r;

	NODE_OR_RETURN(s, req, &n);
	if (body_object(req, &j) < 0)
		goto out;
	if (req_endpoint_parse(j, &ep, &e) < 0) {
		reply_json_error(req, 400, "bad_request", "%s", e.text);
		goto out;
	}
	r = server_tx_begin(s);
	if (r < 0) {
		reply_internal(req, r, "endpoint");
		goto out;
	}
	r = store_node_set_endpoint(s->store, n.id, ep.public_endpoint, ep.nat_type);
	if (r >= 0) {
		/* Relay assignment first, so the fan-out below already sees relayed pairs. */
		int q = relay_node_reported(s, n.id);
		if (q < 0)
			r = q;
	}
	if (r > 0 && !streq(n.endpoint, ep.public_endpoint)) {
		free(n.endpoint);
		n.endpoint = strdup(ep.public_endpoint);
		r = n.endpoint ? server_fanout_peer_event(s, &n, "peer_endpoint_changed") : -ENOMEM;
	}
	if (r >= 0)
		r = store_node_list(s->store, false, &nodes, &nn);
	if (r < 0) {
		server_tx_rollback(s);
		reply_internal(req, r, "endpoint");
		goto out;
	}
	r = server_tx_commit(s);
	if (r < 0) {
		reply_internal(req, r, "endpoint");
		goto out;
	}
	list = json_array();
	for (size_t i = 0; list && i < nn; i++) {
		/* Relayed pairs are left out: the answer has no relayed flag (relay.c). */
		if (streq(nodes[i].id, n.id) || isempty(nodes[i].endpoint) ||
		    nodes[i].status == NODE_STATUS_OFFLINE || relay_pair_active(s, n.id, nodes[i].id))
			continue;
		json_array_append_new(list, json_pack("{s:s, s:s}", "peer_id", nodes[i].id, "endpoint",
						      nodes[i].endpoint));
	}
	httpd_reply_json(req, 200, list ? json_pack("{s:o}", "peer_endpoints", list) : NULL);
out:
	store_node_array_free(nodes, nn);
	store_node_done(&n);
	return 0;
}

/* ---- E8 ---- */

static int handle_state(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	struct store_node n;
	json_t *st;

	NODE_OR_RETURN(s, req, &n);
	st = server_state_json(s, n.id);
	store_node_done(&n);
	if (!st)
		return reply_internal(req, -ENOMEM, "state");
	return httpd_reply_json(req, 200, st);
}

/* ---- records: E9, E18–E20 ---- */

static int store_one_record(struct server *s, struct httpd_request *req, const char *node, enum record_kind kind,
			    json_t *j, const char *extra_key, const char *extra_value)
{
	_cleanup_free_ char *text = NULL;
	int r;

	if (extra_key)
		json_object_set_new(j, extra_key, json_string(extra_value));
	text = json_dumps_compact(j);
	if (!text)
		return reply_internal(req, -ENOMEM, "record");
	r = store_records_append(s->store, node, kind, &text, 1, server_now());
	if (r < 0)
		return reply_internal(req, r, "record");
	return reply_empty_object(req, 200);
}

typedef int (*simple_validator)(json_t *j, struct json_error *e);

static int handle_simple_record(struct httpd_request *req, struct server *s, enum record_kind kind,
				simple_validator validate, const char *extra_key)
{
	_cleanup_json_ json_t *j = NULL;
	struct json_error e = {};
	struct store_node n;
	const char *extra = extra_key ? httpd_request_param(req, extra_key) : NULL;

	NODE_OR_RETURN(s, req, &n);
	if (body_object(req, &j) < 0)
		goto out;
	if (validate(j, &e) < 0) {
		reply_json_error(req, 400, "bad_request", "%s", e.text);
		goto out;
	}
	if (extra_key && (!extra || !id_is_valid(extra))) {
		reply_json_error(req, 400, "bad_request", "%s: invalid id", extra_key);
		goto out;
	}
	store_one_record(s, req, n.id, kind, j, extra_key, extra);
out:
	store_node_done(&n);
	return 0;
}

static int handle_drift(struct httpd_request *req, void *userdata)
{
	return handle_simple_record(req, userdata, RECORD_DRIFT, req_drift_parse, NULL);
}

static int tunnel_ready_tagged(json_t *j, struct json_error *e)
{
	int r = req_tunnel_ready_parse(j, e);
	if (r >= 0)
		json_object_set_new(j, "event", json_string("ready"));
	return r;
}

static int tunnel_closed_tagged(json_t *j, struct json_error *e)
{
	int r = req_tunnel_closed_parse(j, e);
	if (r >= 0)
		json_object_set_new(j, "event", json_string("closed"));
	return r;
}

static int handle_tunnel_ready(struct httpd_request *req, void *userdata)
{
	return handle_simple_record(req, userdata, RECORD_TUNNEL, tunnel_ready_tagged, "session_id");
}

static int handle_tunnel_closed(struct httpd_request *req, void *userdata)
{
	return handle_simple_record(req, userdata, RECORD_TUNNEL, tunnel_closed_tagged, "session_id");
}

static int handle_integrity(struct httpd_request *req, void *userdata)
{
	return handle_simple_record(req, userdata, RECORD_INTEGRITY, req_integrity_parse, NULL);
}

/* ---- E10 ---- */

static int handle_secret(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	const char *key = httpd_request_param(req, "key");
	_cleanup_free_ char *ct_b64 = NULL, *nonce_b64 = NULL;
	_cleanup_free_ uint8_t *ct = NULL;
	uint8_t *value = NULL, nonce[AES_GCM_NONCE_LEN];
	struct store_node n;
	size_t len = 0;
	int64_t version;
	int r;

	NODE_OR_RETURN(s, req, &n);
	if (!key || !id_is_valid(key)) {
		reply_json_error(req, 404, "not_found", "no such secret");
		goto out;
	}
	r = store_secret_get(s->store, n.id, key, &value, &len, &version);
	if (r == -ENOENT) {
		reply_json_error(req, 404, "not_found", "no such secret");
		goto out;
	}
	if (r < 0) {
		reply_internal(req, r, "secret");
		goto out;
	}
	/* §9: a fresh nonce for every response. */
	ct = malloc(len + AES_GCM_TAG_LEN);
	r = ct ? random_bytes(nonce, sizeof(nonce)) : -ENOMEM;
	if (r >= 0)
		r = aes256gcm_encrypt(n.nsk, nonce, value, len, ct);
	if (r >= 0)
		r = base64_encode(ct, len + AES_GCM_TAG_LEN, &ct_b64);
	if (r >= 0)
		r = base64_encode(nonce, sizeof(nonce), &nonce_b64);
	explicit_bzero(value, len);
	free(value);
	if (r < 0) {
		reply_internal(req, r, "secret encryption");
		goto out;
	}
	httpd_reply_json(req, 200,
			 json_pack("{s:s, s:s, s:s, s:I}", "key", key, "ciphertext", ct_b64, "nonce", nonce_b64,
				   "version", (json_int_t)version));
out:
	store_node_done(&n);
	return 0;
}

/* ---- E11 ---- */

static int handle_report(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	_cleanup_json_ json_t *j = NULL;
	struct req_report rep = {};
	struct json_error e = {};
	struct store_node n;
	int r;

	NODE_OR_RETURN(s, req, &n);
	if (body_object(req, &j) < 0)
		goto out;
	if (req_report_parse(j, &rep, &e) < 0) {
		reply_json_error(req, 400, "bad_request", "%s", e.text);
		goto out;
	}
	r = server_tx_begin(s);
	if (r < 0) {
		/* Nothing begun, so nothing to roll back. */
		reply_internal(req, r, "report");
		goto out;
	}
	for (size_t i = 0; r >= 0 && i < rep.n_entries; i++)
		r = store_report_upsert(s->store, n.id, &rep.entries[i]);
	for (size_t i = 0; r >= 0 && i < rep.n_deleted; i++)
		r = store_report_delete(s->store, n.id, rep.deleted[i]);
	if (r < 0) {
		server_tx_rollback(s);
		reply_internal(req, r, "report");
		goto out;
	}
	r = server_tx_commit(s);
	if (r < 0)
		reply_internal(req, r, "report");
	else
		reply_empty_object(req, 200);
out:
	req_report_done(&rep);
	store_node_done(&n);
	return 0;
}

/* ---- E12, E13 ---- */

/* An execution that does not exist and one that belongs to another node look the same to the
 * caller (§E12/E13), so that node IDs cannot probe foreign execution IDs. */
static void reply_execution_update(struct httpd_request *req, int r, const char *what)
{
	if (r == -ENOENT || r == -EPERM)
		reply_json_error(req, 404, "not_found", "unknown execution");
	else if (r < 0)
		reply_internal(req, r, what);
	else
		reply_empty_object(req, 200);
}

static int handle_ack(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	const char *xid = httpd_request_param(req, "execution_id");
	_cleanup_json_ json_t *j = NULL;
	struct json_error e = {};
	struct store_node n;
	struct req_ack a;
	int r;

	NODE_OR_RETURN(s, req, &n);
	if (body_object(req, &j) < 0)
		goto out;
	if (req_ack_parse(j, &a, &e) < 0) {
		reply_json_error(req, 400, "bad_request", "%s", e.text);
		goto out;
	}
	if (!xid || !streq(xid, a.execution_id)) {
		reply_json_error(req, 400, "bad_request", "execution_id does not match the path");
		goto out;
	}
	r = store_execution_ack(s->store, n.id, xid, a.accepted, a.reason, server_now());
	reply_execution_update(req, r, "execution ack");
out:
	store_node_done(&n);
	return 0;
}

static int handle_result(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	const char *xid = httpd_request_param(req, "execution_id");
	_cleanup_json_ json_t *j = NULL;
	_cleanup_free_ char *text = NULL;
	struct json_error e = {};
	struct req_result res;
	struct store_node n;
	int r;

	NODE_OR_RETURN(s, req, &n);
	if (body_object(req, &j) < 0)
		goto out;
	if (req_result_parse(j, &res, &e) < 0) {
		reply_json_error(req, 400, "bad_request", "%s", e.text);
		goto out;
	}
	if (!xid || !streq(xid, res.execution_id)) {
		reply_json_error(req, 400, "bad_request", "execution_id does not match the path");
		goto out;
	}
	text = json_dumps_compact(j);
	r = text ? store_execution_result(s->store, n.id, xid, text, !streq(res.triggered_by_type, "control_plane"),
					  server_now())
		 : -ENOMEM;
	reply_execution_update(req, r, "execution result");
out:
	store_node_done(&n);
	return 0;
}

/* ---- E14–E16 ---- */

static int handle_batch(struct httpd_request *req, struct server *s, enum record_kind kind)
{
	_cleanup_json_ json_t *arr = NULL;
	struct json_error e = {};
	struct store_node n;
	const char *body;
	char **texts = NULL;
	size_t len, cnt = 0;
	json_t *item;
	size_t i;
	int r;

	NODE_OR_RETURN(s, req, &n);
	body = httpd_request_body(req, &len);
	if (req_batch_parse(kind, httpd_request_header(req, "Content-Type"), body, len, &arr, &e) < 0) {
		reply_json_error(req, 400, "bad_request", "%s", e.text);
		goto out;
	}
	texts = calloc(json_array_size(arr) + 1, sizeof(char *));
	r = texts ? 0 : -ENOMEM;
	json_array_foreach(arr, i, item) {
		if (r < 0)
			break;
		texts[i] = json_dumps_compact(item);
		if (!texts[i])
			r = -ENOMEM;
		else
			cnt = i + 1;
	}
	if (r >= 0)
		r = store_records_append(s->store, n.id, kind, texts, cnt, server_now());
	if (r < 0)
		reply_internal(req, r, record_kind_to_string(kind));
	else
		reply_empty_object(req, 202);
	for (i = 0; texts && i < cnt; i++)
		free(texts[i]);
	free(texts);
out:
	store_node_done(&n);
	return 0;
}

static int handle_metrics(struct httpd_request *req, void *userdata)
{
	return handle_batch(req, userdata, RECORD_METRIC);
}

static int handle_logs(struct httpd_request *req, void *userdata)
{
	return handle_batch(req, userdata, RECORD_LOG);
}

static int handle_audit(struct httpd_request *req, void *userdata)
{
	return handle_batch(req, userdata, RECORD_AUDIT);
}

/* ---- E17 ---- */

/* One path segment of an artifact name: no separators, no dot-only names, no hidden files. */
static bool artifact_segment_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 64 || s[0] == '.')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '-' || *p == '_' || *p == '+'))
			return false;
	return true;
}

static int handle_artifact(struct httpd_request *req, void *userdata)
{
	struct server *s = userdata;
	const char *ver = httpd_request_param(req, "version"), *os = httpd_request_param(req, "os"),
		   *arch = httpd_request_param(req, "arch");
	_cleanup_free_ char *path = NULL, *data = NULL;
	struct store_node n;
	size_t len = 0;
	int r;

	NODE_OR_RETURN(s, req, &n);
	store_node_done(&n);
	if (!s->cfg.artifacts_dir || !artifact_segment_ok(ver) || !artifact_segment_ok(os) ||
	    !artifact_segment_ok(arch))
		return reply_json_error(req, 404, "not_found", "unknown artifact");
	if (asprintf(&path, "%s/plexd/%s/%s/%s", s->cfg.artifacts_dir, ver, os, arch) < 0)
		return reply_internal(req, -ENOMEM, "artifact");
	r = read_file_full(path, ARTIFACT_MAX, &data, &len);
	if (r == -ENOENT || r == -EISDIR || r == -ENOTDIR || r == -ELOOP)
		return reply_json_error(req, 404, "not_found", "unknown artifact");
	if (r < 0)
		return reply_internal(req, r, "artifact");
	return httpd_reply(req, 200, "application/octet-stream", data, len);
}

/* ---- E21 ---- */

static int handle_ping(struct httpd_request *req, void *userdata)
{
	return httpd_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

/* ---- heartbeat monitor (§12.1) ---- */

int heartbeat_monitor(struct server *s)
{
	struct store_node *nodes = NULL;
	size_t n = 0;
	int64_t now = server_now(), iv = (int64_t)s->cfg.heartbeat_interval;
	int r;

	r = store_node_list(s->store, false, &nodes, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct store_node *nd = &nodes[i];
		int64_t last = nd->last_heartbeat ? nd->last_heartbeat : nd->registered_at;
		int64_t age = now - last;

		if (age > 10 * iv && nd->status != NODE_STATUS_OFFLINE) {
			r = server_tx_begin(s);
			if (r >= 0)
				r = store_node_set_status(s->store, nd->id, NODE_STATUS_OFFLINE);
			if (r >= 0)
				r = server_fanout_peer_removed(s, nd->id);
			if (r >= 0)
				r = server_tx_commit(s);
			else
				server_tx_rollback(s);
			if (r >= 0)
				log_notice("node offline", "node=%s last_heartbeat_age_s=%lld", nd->id,
					   (long long)(age / 1000000));
		} else if (age > 3 * iv && age <= 10 * iv &&
			   (nd->status == NODE_STATUS_ONLINE || nd->status == NODE_STATUS_REGISTERED)) {
			if (store_node_set_status(s->store, nd->id, NODE_STATUS_UNREACHABLE) >= 0)
				log_notice("node unreachable", "node=%s", nd->id);
		}
	}
	store_node_array_free(nodes, n);
	return 0;
}

/* ---- routes ---- */

#define GZ HTTPD_ROUTE_GZIP_BODY
static const struct httpd_route api_routes[] = {
	{ "POST", "/v1/register", handle_register, GZ, 0, &auth_none },
	{ "GET", "/v1/nodes/{node_id}/events", handle_events, 0, 0, &auth_path },
	{ "POST", "/v1/nodes/{node_id}/heartbeat", handle_heartbeat, GZ, 0, &auth_path },
	{ "POST", "/v1/nodes/{node_id}/deregister", handle_deregister, GZ, 0, &auth_path },
	{ "POST", "/v1/keys/rotate", handle_keys_rotate, GZ, 0, &auth_node },
	{ "PUT", "/v1/nodes/{node_id}/capabilities", handle_capabilities, GZ, 0, &auth_path },
	{ "PUT", "/v1/nodes/{node_id}/endpoint", handle_endpoint, GZ, 0, &auth_path },
	{ "GET", "/v1/nodes/{node_id}/state", handle_state, 0, 0, &auth_path },
	{ "POST", "/v1/nodes/{node_id}/drift", handle_drift, GZ, 0, &auth_path },
	{ "GET", "/v1/nodes/{node_id}/secrets/{key}", handle_secret, 0, 0, &auth_path },
	{ "POST", "/v1/nodes/{node_id}/report", handle_report, GZ, 0, &auth_path },
	{ "POST", "/v1/nodes/{node_id}/executions/{execution_id}/ack", handle_ack, GZ, 0, &auth_path },
	{ "POST", "/v1/nodes/{node_id}/executions/{execution_id}/result", handle_result, GZ, 0, &auth_path },
	{ "POST", "/v1/nodes/{node_id}/metrics", handle_metrics, GZ, 0, &auth_path },
	{ "POST", "/v1/nodes/{node_id}/logs", handle_logs, GZ, 0, &auth_path },
	{ "POST", "/v1/nodes/{node_id}/audit", handle_audit, GZ, 0, &auth_path },
	{ "GET", "/v1/artifacts/plexd/{version}/{os}/{arch}", handle_artifact, 0, 0, &auth_node },
	{ "POST", "/v1/nodes/{node_id}/tunnels/{session_id}/ready", handle_tunnel_ready, GZ, 0, &auth_path },
	{ "POST", "/v1/nodes/{node_id}/tunnels/{session_id}/closed", handle_tunnel_closed, GZ, 0, &auth_path },
	{ "POST", "/v1/nodes/{node_id}/integrity/violations", handle_integrity, GZ, 0, &auth_path },
	{ "GET", "/v1/ping", handle_ping, 0, 0, &auth_none },
};
#undef GZ

/* Reads --tls-cert/--tls-key and checks them with OpenSSL before microhttpd (GnuTLS) sees
 * them, so that an error names the file at fault instead of a generic start failure. */
static int tls_load(const char *cert_path, const char *key_path, char **ret_cert, char **ret_key)
{
	_cleanup_free_ char *cert = NULL;
	char *key = NULL;
	size_t cert_len = 0, key_len = 0;
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	BIO *b;
	int r;

	r = read_file_full(cert_path, TLS_PEM_MAX, &cert, &cert_len);
	if (r < 0)
		return log_error_errno(r, "cannot read TLS certificate", "path=%s err=%m", cert_path);
	r = read_file_full(key_path, TLS_PEM_MAX, &key, &key_len);
	if (r < 0)
		return log_error_errno(r, "cannot read TLS key", "path=%s err=%m", key_path);

	b = BIO_new_mem_buf(cert, (int)cert_len);
	x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!x) {
		r = log_error_errno(EBADMSG, "TLS certificate file holds no PEM certificate", "path=%s",
				    cert_path);
		goto out;
	}
	/* No passphrase callback: an encrypted key fails here rather than prompting. */
	b = BIO_new_mem_buf(key, (int)key_len);
	pk = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"") : NULL;
	BIO_free(b);
	if (!pk) {
		r = log_error_errno(EBADMSG, "TLS key file holds no unencrypted PEM private key", "path=%s",
				    key_path);
		goto out;
	}
	if (X509_check_private_key(x, pk) != 1) {
		r = log_error_errno(EBADMSG, "TLS key does not belong to the certificate", "cert=%s key=%s",
				    cert_path, key_path);
		goto out;
	}
	*ret_cert = TAKE_PTR(cert);
	*ret_key = TAKE_PTR(key);
	r = 0;
out:
	X509_free(x);
	EVP_PKEY_free(pk);
	if (key) {
		explicit_bzero(key, key_len);
		free(key);
	}
	return r;
}

int api_start(struct server *s)
{
	_cleanup_free_ char *cert = NULL;
	char *key = NULL;
	struct httpd_config c = {
		.tcp_listen = s->cfg.listen,
		.max_connections = s->cfg.max_connections,
		.connection_timeout_sec = 0,
		.max_body = BODY_MAX,
		.stream_buffer_max = 8 * 1024 * 1024,
		.authorize = api_authorize,
		.routes = api_routes,
		.n_routes = ELEMENTSOF(api_routes),
		.userdata = s,
	};
	int r;

	if (!s->cfg.insecure_http) {
		r = tls_load(s->cfg.tls_cert, s->cfg.tls_key, &cert, &key);
		if (r < 0)
			return r;
		c.tls_cert_pem = cert;
		c.tls_key_pem = key;
	}
	r = httpd_new(s->event, &c, &s->api);
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	if (r == -EOPNOTSUPP)
		return log_error_errno(r, "TLS is not available: libmicrohttpd was built without it");
	if (r == -EBADMSG)
		return log_error_errno(r, "TLS certificate or key rejected by libmicrohttpd (GnuTLS)",
				       "cert=%s key=%s", s->cfg.tls_cert, s->cfg.tls_key);
	if (r < 0)
		return log_error_errno(r, "cannot listen", "address=%s err=%m", s->cfg.listen);
	log_info("node API listening", "address=%s port=%d tls=%s", s->cfg.listen, httpd_get_port(s->api),
		 s->cfg.insecure_http ? "no" : "yes");
	return 0;
}
