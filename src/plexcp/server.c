/* plexcp server lifecycle: the event loop, store, signing keys (seed files beside the database)
 * and the shared builders for peers, policies and node state used by the API and admin
 * handlers. */
#define LOG_COMPONENT "plexcp"

#include <arpa/inet.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/crypto.h"
#include "httpd/httpd.h"
#include "plexcp/relay.h"
#include "plexcp/server.h"
#include "shared/encoding.h"
#include "shared/fileio.h"
#include "shared/json-util.h"
#include "shared/log.h"
#include "shared/random-util.h"

void server_config_default(struct server_config *c)
{
	*c = (struct server_config){
		.heartbeat_interval = 30 * USEC_PER_SEC,
		.keepalive_interval = 15 * USEC_PER_SEC,
		.signing_transition = 24 * 3600 * USEC_PER_SEC,
		.retry_ms = 1000,
		.max_connections = 4096,
	};
	store_options_default(&c->store);
}

int64_t server_now(void)
{
	return (int64_t)now_usec(CLOCK_REALTIME);
}

char *format_mesh_ip(uint32_t ip, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xFF, (ip >> 8) & 0xFF, ip & 0xFF);
	return buf;
}

int random_id(const char *prefix, size_t nbytes, char *out, size_t size)
{
	uint8_t b[64];
	size_t pl = strlen(prefix);
	int r;

	if (nbytes > sizeof(b) || pl + nbytes * 2 + 1 > size)
		return -EINVAL;
	r = random_bytes(b, nbytes);
	if (r < 0)
		return r;
	memcpy(out, prefix, pl);
	hex_encode_to(b, nbytes, out + pl);
	explicit_bzero(b, sizeof(b));
	return 0;
}

int reply_json_error(struct httpd_request *req, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return httpd_reply_error(req, status, code, msg);
}

/* ---- transactions ---- */

int server_tx_begin(struct server *s)
{
	int r = store_begin(s->store);

	if (r >= 0)
		s->in_tx = true;
	return r;
}

int server_tx_commit(struct server *s)
{
	int r = store_commit(s->store);

	s->in_tx = false;
	if (r < 0) {
		deliveries_drop(s);
		return r;
	}
	deliveries_flush(s);
	return 0;
}

void server_tx_rollback(struct server *s)
{
	store_rollback(s->store);
	s->in_tx = false;
	deliveries_drop(s);
	relay_cache_invalidate(s);
}

/* ---- builders ---- */

static char *key_b64(const uint8_t k[32], char out[45])
{
	key32_format(k, out);
	return out;
}

json_t *server_peer_json(struct server *s, const char *viewer, const struct store_node *peer)
{
	char ip[16], cidr[24], pk[45], psk_b64[45];
	uint8_t psk[32];

	if (store_psk_get(s->store, viewer, peer->id, psk) < 0)
		return NULL;
	key_b64(psk, psk_b64);
	explicit_bzero(psk, sizeof(psk));
	format_mesh_ip(peer->mesh_ip, ip);
	snprintf(cidr, sizeof(cidr), "%s/32", ip);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:s}", "id", peer->id, "public_key",
			      key_b64(peer->public_key, pk), "mesh_ip", ip, "endpoint", strempty(peer->endpoint),
			      "allowed_ips", cidr, "psk", psk_b64);
	explicit_bzero(psk_b64, sizeof(psk_b64));
	/* A pair routed through a bridge relay sees the relay's endpoint (relay.c). */
	if (j && relay_peer_view(s, viewer, peer->id, j) < 0)
		j = (json_decref(j), NULL);
	return j;
}

static bool node_is_peer_candidate(const struct store_node *n)
{
	return n->status != NODE_STATUS_DEREGISTERED && n->status != NODE_STATUS_OFFLINE;
}

json_t *server_peers_json(struct server *s, const char *id)
{
	struct store_node *nodes = NULL;
	size_t n = 0;
	json_t *arr;

	if (store_node_list(s->store, false, &nodes, &n) < 0)
		return NULL;
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		if (streq(nodes[i].id, id) || !node_is_peer_candidate(&nodes[i]))
			continue;
		json_t *p = server_peer_json(s, id, &nodes[i]);
		if (!p || json_array_append_new(arr, p) < 0) {
			arr = (json_decref(arr), NULL);
			break;
		}
	}
	store_node_array_free(nodes, n);
	return arr;
}

int server_fanout_peer_event(struct server *s, const struct store_node *subject, const char *type)
{
	struct store_node *nodes = NULL;
	size_t n = 0;
	int r;

	r = store_node_list(s->store, false, &nodes, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		if (streq(nodes[i].id, subject->id))
			continue;
		json_t *p = server_peer_json(s, nodes[i].id, subject);
		r = p ? server_emit(s, nodes[i].id, type, p) : -ENOMEM;
	}
	store_node_array_free(nodes, n);
	return r;
}

int server_fanout_peer_removed(struct server *s, const char *subject_id)
{
	struct store_node *nodes = NULL;
	size_t n = 0;
	int r;

	r = store_node_list(s->store, false, &nodes, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		if (streq(nodes[i].id, subject_id))
			continue;
		json_t *p = json_pack("{s:s}", "peer_id", subject_id);
		r = p ? server_emit(s, nodes[i].id, "peer_removed", p) : -ENOMEM;
	}
	store_node_array_free(nodes, n);
	return r;
}

json_t *server_policies_json(struct server *s)
{
	struct store_policy *p = NULL;
	size_t n = 0;
	json_t *arr;

	if (store_policies_get(s->store, &p, &n) < 0)
		return NULL;
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		json_t *rules = json_loads(p[i].rules_json, JSON_DECODE_ANY, NULL);
		json_t *o = rules ? json_pack("{s:s, s:o}", "id", p[i].id, "rules", rules) : NULL;
		if (!o || json_array_append_new(arr, o) < 0) {
			arr = (json_decref(arr), NULL);
			break;
		}
	}
	store_policy_array_free(p, n);
	return arr;
}

int server_fanout_policies(struct server *s)
{
	struct store_node *nodes = NULL;
	json_t *pol;
	size_t n = 0;
	int r;

	pol = server_policies_json(s);
	if (!pol)
		return -ENOMEM;
	r = store_node_list(s->store, false, &nodes, &n);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		json_t *p = json_pack("{s:O}", "policies", pol);
		r = p ? server_emit(s, nodes[i].id, "policy_updated", p) : -ENOMEM;
	}
	json_decref(pol);
	store_node_array_free(nodes, n);
	return r;
}

json_t *server_signing_keys_json(struct server *s)
{
	char cur[45], prev[45], t[RFC3339_MAX];
	int64_t now = server_now();

	key_b64(s->keys.pub, cur);
	if (s->keys.has_previous && now < s->keys.transition_expires) {
		struct timestamp ts = { .sec = s->keys.transition_expires / 1000000,
					.nsec = (uint32_t)(s->keys.transition_expires % 1000000) * 1000 };
		if (rfc3339_format(ts, 0, t) < 0)
			return NULL;
		return json_pack("{s:s, s:s, s:s}", "current", cur, "previous", key_b64(s->keys.previous, prev),
				 "transition_expires", t);
	}
	return json_pack("{s:s}", "current", cur);
}

static json_t *node_data_json(struct server *s, const char *id)
{
	struct store_entry *e = NULL;
	size_t n = 0;
	json_t *arr;

	if (store_data_list(s->store, id, &e, &n) < 0)
		return NULL;
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		char t[RFC3339_MAX];
		struct timestamp ts = { .sec = e[i].updated_at / 1000000,
					.nsec = (uint32_t)(e[i].updated_at % 1000000) * 1000 };
		json_t *payload = json_loads(e[i].payload_json, JSON_DECODE_ANY, NULL);
		json_t *o = payload && rfc3339_format(ts, 0, t) >= 0
				    ? json_pack("{s:s, s:s, s:o, s:I, s:s}", "key", e[i].key, "content_type",
						e[i].content_type, "payload", payload, "version",
						(json_int_t)e[i].version, "updated_at", t)
				    : NULL;
		if (!o || json_array_append_new(arr, o) < 0) {
			arr = (json_decref(arr), NULL);
			break;
		}
	}
	store_entry_array_free(e, n);
	return arr;
}

static json_t *node_secret_refs_json(struct server *s, const char *id)
{
	struct store_secret_ref *refs = NULL;
	size_t n = 0;
	json_t *arr;

	if (store_secret_list(s->store, id, &refs, &n) < 0)
		return NULL;
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		json_t *o = json_pack("{s:s, s:I}", "key", refs[i].key, "version", (json_int_t)refs[i].version);
		if (!o || json_array_append_new(arr, o) < 0) {
			arr = (json_decref(arr), NULL);
			break;
		}
	}
	store_secret_ref_array_free(refs, n);
	return arr;
}

/* metadata + data of §7.4, shared by E8 and node_state_updated. */
static int node_state_parts(struct server *s, const char *id, json_t **ret_meta, json_t **ret_data)
{
	struct store_node n;
	json_t *meta, *data;
	int r;

	r = store_node_get(s->store, id, &n);
	if (r < 0)
		return r;
	meta = json_loads(n.metadata_json, 0, NULL);
	store_node_done(&n);
	data = node_data_json(s, id);
	if (!meta || !data) {
		json_decref(meta);
		json_decref(data);
		return -ENOMEM;
	}
	*ret_meta = meta;
	*ret_data = data;
	return 0;
}

json_t *server_state_json(struct server *s, const char *id)
{
	json_t *meta = NULL, *data = NULL;
	json_t *peers = server_peers_json(s, id);
	json_t *pol = server_policies_json(s);
	json_t *keys = server_signing_keys_json(s);
	json_t *refs = node_secret_refs_json(s, id);

	if (!peers || !pol || !keys || !refs || node_state_parts(s, id, &meta, &data) < 0) {
		json_decref(peers);
		json_decref(pol);
		json_decref(keys);
		json_decref(refs);
		return NULL;
	}
	json_t *st = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "peers", peers, "policies", pol, "signing_keys",
			       keys, "metadata", meta, "data", data, "secret_refs", refs);
	if (st && relay_state_extend(s, id, st) < 0)
		st = (json_decref(st), NULL);
	return st;
}

int server_emit_node_state(struct server *s, const char *id)
{
	json_t *meta, *data;
	int r = node_state_parts(s, id, &meta, &data);

	if (r < 0)
		return r;
	return server_emit(s, id, "node_state_updated",
			   json_pack("{s:o, s:o}", "metadata", meta, "data", data));
}

int server_emit_node_secrets(struct server *s, const char *id)
{
	json_t *refs = node_secret_refs_json(s, id);

	if (!refs)
		return -ENOMEM;
	return server_emit(s, id, "node_secrets_updated", json_pack("{s:o}", "secret_refs", refs));
}

int server_remove_node(struct server *s, const char *id)
{
	int r;

	r = server_tx_begin(s);
	if (r < 0)
		return r;
	r = store_node_deregister(s->store, id, server_now());
	if (r >= 0)
		r = server_fanout_peer_removed(s, id);
	if (r < 0) {
		server_tx_rollback(s);
		return r;
	}
	r = server_tx_commit(s);
	if (r < 0)
		return r;
	streams_close_node(s, id);
	log_info("node removed", "node=%s", id);
	return 0;
}

/* ---- signing keys ---- */

static char *data_path(struct server *s, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", s->data_dir, name) < 0)
		return NULL;
	return p;
}

static int read_seed(const char *path, uint8_t seed[32])
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	r = read_file_full(path, 64, &buf, &len);
	if (r < 0)
		return r;
	if (len != 32) {
		explicit_bzero(buf, len);
		return -EBADMSG;
	}
	memcpy(seed, buf, 32);
	explicit_bzero(buf, len);
	return 0;
}

static int signing_keys_load(struct server *s)
{
	_cleanup_free_ char *path = data_path(s, "signing_key"), *next = data_path(s, "signing_key.next");
	struct store_signing_keys sk;
	uint8_t seed[32], pub[32];
	int r, have_db;

	if (!path || !next)
		return -ENOMEM;
	have_db = store_signing_keys_get(s->store, &sk);
	if (have_db < 0 && have_db != -ENOENT)
		return have_db;

	r = read_seed(path, seed);
	if (r == -ENOENT) {
		if (have_db >= 0)
			return log_error_errno(ENOENT, "signing key file missing but the database has a key",
					       "path=%s", path);
		r = ed25519_generate(seed, pub);
		if (r < 0)
			return r;
		r = write_file_atomic(path, seed, 32, 0600);
		if (r < 0)
			return log_error_errno(r, "cannot write signing key", "path=%s", path);
		sk = (struct store_signing_keys){};
		memcpy(sk.current, pub, 32);
		r = store_signing_keys_set(s->store, &sk);
		if (r < 0)
			return r;
		have_db = 0;
		log_info("generated signing key", "path=%s", path);
	} else if (r < 0)
		return log_error_errno(r, "cannot read signing key", "path=%s", path);
	(void)file_tighten_mode(path);

	r = ed25519_public_from_seed(seed, pub);
	if (r < 0)
		return r;
	if (have_db == -ENOENT) {
		sk = (struct store_signing_keys){};
		memcpy(sk.current, pub, 32);
		r = store_signing_keys_set(s->store, &sk);
		if (r < 0)
			return r;
	} else if (memcmp(sk.current, pub, 32) != 0) {
		/* A rotation that committed but crashed before the seed file was replaced. */
		uint8_t nseed[32], npub[32];
		if (read_seed(next, nseed) < 0 || ed25519_public_from_seed(nseed, npub) < 0 ||
		    memcmp(npub, sk.current, 32) != 0)
			return log_error_errno(EBADMSG, "signing key file does not match the database",
					       "path=%s", path);
		r = write_file_atomic(path, nseed, 32, 0600);
		if (r < 0)
			return r;
		memcpy(seed, nseed, 32);
		memcpy(pub, npub, 32);
		explicit_bzero(nseed, sizeof(nseed));
		log_notice("completed interrupted signing key rotation");
	}
	(void)unlink(next);

	memcpy(s->keys.seed, seed, 32);
	memcpy(s->keys.pub, pub, 32);
	s->keys.has_previous = sk.has_previous;
	memcpy(s->keys.previous, sk.previous, 32);
	s->keys.transition_expires = sk.transition_expires;
	explicit_bzero(seed, sizeof(seed));
	return 0;
}

int server_rotate_signing_key(struct server *s)
{
	_cleanup_free_ char *path = data_path(s, "signing_key"), *next = data_path(s, "signing_key.next"),
			    *prev_path = data_path(s, "signing_key.previous");
	struct store_signing_keys sk = {};
	struct store_node *nodes = NULL;
	uint8_t seed[32], pub[32], old_seed[32];
	char cur_b64[45], prev_b64[45], t[RFC3339_MAX];
	int64_t expires = server_now() + (int64_t)s->cfg.signing_transition;
	struct timestamp ts = { .sec = expires / 1000000, .nsec = 0 };
	size_t n = 0;
	int r;

	if (!path || !next || !prev_path)
		return -ENOMEM;
	expires = ts.sec * 1000000; /* whole seconds, as transmitted */
	r = ed25519_generate(seed, pub);
	if (r < 0)
		return r;
	/* 1. the new seed is durable before the database names it current. */
	r = write_file_atomic(next, seed, 32, 0600);
	if (r < 0)
		goto out;
	r = write_file_atomic(prev_path, s->keys.seed, 32, 0600);
	if (r < 0)
		goto out;

	memcpy(sk.current, pub, 32);
	sk.has_previous = true;
	memcpy(sk.previous, s->keys.pub, 32);
	sk.transition_expires = expires;
	if (rfc3339_format(ts, 0, t) < 0) {
		r = -EINVAL;
		goto out;
	}
	key32_format(pub, cur_b64);
	key32_format(s->keys.pub, prev_b64);

	/* 2. database + signing_key_rotated to every node, signed with the OLD key (§6.6). */
	r = server_tx_begin(s);
	if (r < 0)
		goto out;
	r = store_signing_keys_set(s->store, &sk);
	if (r >= 0)
		r = store_node_list(s->store, false, &nodes, &n);
	memcpy(old_seed, s->keys.seed, 32);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = server_emit_signed_by(s, nodes[i].id, "signing_key_rotated",
					  json_pack("{s:s, s:s, s:s}", "current", cur_b64, "previous", prev_b64,
						    "transition_expires", t),
					  old_seed);
	store_node_array_free(nodes, n);
	explicit_bzero(old_seed, sizeof(old_seed));
	if (r < 0) {
		server_tx_rollback(s);
		goto out;
	}
	r = server_tx_commit(s);
	if (r < 0)
		goto out;
	/* 3. the seed file follows the database; a crash in between is healed at start from
	 * signing_key.next. */
	r = write_file_atomic(path, seed, 32, 0600);
	if (r < 0)
		log_error_errno(r, "cannot replace signing key file, signing_key.next kept", "path=%s", path);
	else
		(void)unlink(next);
	r = 0;

	memcpy(s->keys.previous, s->keys.pub, 32);
	s->keys.has_previous = true;
	s->keys.transition_expires = expires;
	memcpy(s->keys.seed, seed, 32);
	memcpy(s->keys.pub, pub, 32);
	log_info("signing key rotated", "current=%s transition_expires=%s", cur_b64, t);
out:
	explicit_bzero(seed, sizeof(seed));
	return r;
}

/* ---- timers ---- */

static int on_heartbeat_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;
	uint64_t period = MAX(s->cfg.heartbeat_interval / 3, 100 * USEC_PER_MSEC);

	(void)heartbeat_monitor(s);
	(void)sd_event_source_set_time(es, usec + period);
	return 0;
}

static int on_keepalive_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;

	(void)streams_keepalive(s);
	(void)sd_event_source_set_time(es, usec + s->cfg.keepalive_interval);
	return 0;
}

static int on_prune_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;

	(void)store_event_prune(s->store, server_now());
	if (s->keys.has_previous && server_now() >= s->keys.transition_expires) {
		struct store_signing_keys sk = {};
		memcpy(sk.current, s->keys.pub, 32);
		if (store_signing_keys_set(s->store, &sk) >= 0) {
			_cleanup_free_ char *prev = data_path(s, "signing_key.previous");
			s->keys.has_previous = false;
			if (prev)
				(void)unlink(prev);
			log_info("signing key transition ended");
		}
	}
	(void)sd_event_source_set_time(es, usec + 60 * USEC_PER_SEC);
	return 0;
}

static int on_signal(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata)
{
	struct server *s = userdata;

	log_info("stopping", "signal=%u", si->ssi_signo);
	return sd_event_exit(s->event, 0);
}

/* ---- lifecycle ---- */

int server_new(const struct server_config *cfg, struct server **ret)
{
	_cleanup_(server_freep) struct server *s = NULL;
	_cleanup_free_ char *dbcopy = NULL;
	uint64_t now;
	sigset_t mask;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;

	dbcopy = strdup(cfg->db_path);
	if (!dbcopy)
		return -ENOMEM;
	s->data_dir = strdup(dirname(dbcopy));
	if (!s->data_dir)
		return -ENOMEM;
	r = mkdir_p(s->data_dir, 0700);
	if (r < 0)
		return log_error_errno(r, "cannot create database directory", "path=%s", s->data_dir);
	if (cfg->admin_socket)
		s->admin_path = strdup(cfg->admin_socket);
	else
		s->admin_path = data_path(s, "admin.sock");
	if (!s->admin_path)
		return -ENOMEM;

	r = store_open(cfg->db_path, &cfg->store, &s->store);
	if (r < 0)
		return r;
	(void)file_tighten_mode(cfg->db_path);
	r = signing_keys_load(s);
	if (r < 0)
		return r;

	r = sd_event_new(&s->event);
	if (r < 0)
		return r;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = sd_event_add_signal(s->event, &s->sigterm, SIGTERM, on_signal, s);
	if (r >= 0)
		r = sd_event_add_signal(s->event, &s->sigint, SIGINT, on_signal, s);
	if (r < 0)
		return r;

	r = api_start(s);
	if (r < 0)
		return r;
	r = admin_start(s);
	if (r < 0)
		return r;

	(void)sd_event_now(s->event, CLOCK_MONOTONIC, &now);
	r = sd_event_add_time(s->event, &s->heartbeat_timer, CLOCK_MONOTONIC,
			      now + MAX(s->cfg.heartbeat_interval / 3, 100 * USEC_PER_MSEC), 10 * USEC_PER_MSEC,
			      on_heartbeat_timer, s);
	if (r >= 0)
		r = sd_event_source_set_enabled(s->heartbeat_timer, SD_EVENT_ON);
	if (r >= 0)
		r = sd_event_add_time(s->event, &s->keepalive_timer, CLOCK_MONOTONIC,
				      now + s->cfg.keepalive_interval, 100 * USEC_PER_MSEC, on_keepalive_timer, s);
	if (r >= 0)
		r = sd_event_source_set_enabled(s->keepalive_timer, SD_EVENT_ON);
	if (r >= 0)
		r = sd_event_add_time(s->event, &s->prune_timer, CLOCK_MONOTONIC, now + 60 * USEC_PER_SEC,
				      USEC_PER_SEC, on_prune_timer, s);
	if (r >= 0)
		r = sd_event_source_set_enabled(s->prune_timer, SD_EVENT_ON);
	if (r < 0)
		return r;

	*ret = TAKE_PTR(s);
	return 0;
}

int server_run(struct server *s)
{
	return sd_event_loop(s->event);
}

struct server *server_free(struct server *s)
{
	if (!s)
		return NULL;
	s->heartbeat_timer = sd_event_source_disable_unref(s->heartbeat_timer);
	s->keepalive_timer = sd_event_source_disable_unref(s->keepalive_timer);
	s->prune_timer = sd_event_source_disable_unref(s->prune_timer);
	s->sigterm = sd_event_source_disable_unref(s->sigterm);
	s->sigint = sd_event_source_disable_unref(s->sigint);
	streams_free_all(s);
	s->api = httpd_free(s->api);
	s->admin = httpd_free(s->admin);
	deliveries_drop(s);
	relay_cache_free(s);
	s->store = store_free(s->store);
	s->event = sd_event_unref(s->event);
	explicit_bzero(&s->keys, sizeof(s->keys));
	free(s->data_dir);
	free(s->admin_path);
	free(s);
	return NULL;
}
