/* plexcp relay assignment: which pairs go through a bridge relay (relay_plan, pure) and the glue
 * that persists sessions, keeps them alive and tells the bridge and both peers (§7.3, §8.16).
 * Sessions are cached in memory (struct relay_cache) because the peer builders consult them for
 * every Peer object; the store stays the source of truth and the cache is rebuilt after a
 * rolled-back transaction. */
#define LOG_COMPONENT "relay"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plexcp/relay.h"
#include "plexcp/server.h"
#include "shared/log.h"
#include "shared/time-util.h"

struct relay_cache {
	bool loaded;
	struct store_relay_session *v;
	size_t n;
};

/* ---- pure planning ---- */

static bool streq_ptr(const char *a, const char *b)
{
	return a && b && streq(a, b);
}

bool relay_pair_needed(const char *nat_a, const char *nat_b)
{
	return nat_a && nat_b && streq(nat_a, "symmetric") && streq(nat_b, "symmetric");
}

static bool node_live(const struct store_node *n)
{
	return n->status != NODE_STATUS_DEREGISTERED && n->status != NODE_STATUS_OFFLINE;
}

static int meta_port(json_t *meta, const char *key, unsigned max, unsigned *ret)
{
	const char *v = json_string_value(json_object_get(meta, key));
	char *end;
	unsigned long x;

	if (!v || !*v)
		return -ENOENT;
	x = strtoul(v, &end, 10);
	if (*end || x > max)
		return -EINVAL;
	*ret = (unsigned)x;
	return 0;
}

int relay_bridge_from_node(const struct store_node *node, struct relay_bridge *ret)
{
	struct relay_bridge b = { .id = node->id };
	json_t *meta;
	const char *colon;
	unsigned listen = 0, base = 0, max = 0;
	size_t iplen;
	int r = -ENOENT;

	if (!node_live(node) || isempty(node->endpoint) || !node->metadata_json ||
	    streq_ptr(node->nat_type, "symmetric"))
		return -ENOENT;
	colon = strrchr(node->endpoint, ':');
	iplen = colon ? (size_t)(colon - node->endpoint) : 0;
	if (iplen == 0 || iplen >= sizeof(b.ip))
		return -ENOENT;
	meta = json_loads(node->metadata_json, 0, NULL);
	if (!meta)
		return -ENOENT;
	if (!streq_ptr(json_string_value(json_object_get(meta, "relay")), "true"))
		goto out;
	if (meta_port(meta, "relay_listen_port", 65535, &listen) < 0)
		listen = 51821; /* §8.12 default */
	/* The per-session range is an extension; without it only the shared socket exists. */
	if (meta_port(meta, "relay_session_port_base", 65535, &base) < 0 ||
	    meta_port(meta, "relay_max_sessions", 65535, &max) < 0 || base == 0 || max == 0 ||
	    base + max - 1 > 65535)
		base = max = 0;
	memcpy(b.ip, node->endpoint, iplen);
	b.ip[iplen] = 0;
	b.listen_port = (uint16_t)listen;
	b.port_base = (uint16_t)base;
	b.max_sessions = max;
	*ret = b;
	r = 0;
out:
	json_decref(meta);
	return r;
}

int relay_port_pick(const struct relay_bridge *b, const struct store_relay_session *sessions, size_t n_sessions,
		    const uint16_t *extra, size_t n_extra, uint16_t *ret)
{
	if (b->port_base == 0 || b->max_sessions == 0)
		return -EOPNOTSUPP;
	for (unsigned k = 0; k < b->max_sessions; k++) {
		uint16_t port = (uint16_t)(b->port_base + k);
		bool used = false;
		for (size_t i = 0; !used && i < n_sessions; i++)
			used = streq(sessions[i].bridge_id, b->id) && sessions[i].port == port;
		for (size_t i = 0; !used && i < n_extra; i++)
			used = extra[i] == port;
		if (!used) {
			*ret = port;
			return 0;
		}
	}
	return -ENOSPC;
}

static ssize_t node_index(const struct store_node *nodes, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (streq(nodes[i].id, id))
			return (ssize_t)i;
	return -1;
}

static bool pair_is(const struct store_relay_session *s, const char *a, const char *b)
{
	return (streq(s->a_id, a) && streq(s->b_id, b)) || (streq(s->a_id, b) && streq(s->b_id, a));
}

static bool session_involves(const struct store_relay_session *s, const char *id)
{
	return streq(s->a_id, id) || streq(s->b_id, id);
}

/* Both peers known, reachable and on distinct public endpoints (§8.16: they MUST differ). */
static bool pair_relayable(const struct store_node *x, const struct store_node *y)
{
	return node_live(x) && node_live(y) && !isempty(x->endpoint) && !isempty(y->endpoint) &&
	       !streq(x->endpoint, y->endpoint) && relay_pair_needed(x->nat_type, y->nat_type);
}

static int push(struct relay_action **a, size_t *n, struct relay_action x)
{
	struct relay_action *na = reallocarray(*a, *n + 1, sizeof(**a));

	if (!na)
		return -ENOMEM;
	na[(*n)++] = x;
	*a = na;
	return 0;
}

int relay_plan(const struct store_node *nodes, size_t n_nodes, const struct relay_bridge *bridges, size_t n_bridges,
	       const struct store_relay_session *sessions, size_t n_sessions, const char *focus, int64_t now,
	       struct relay_action **ret, size_t *ret_n)
{
	_cleanup_free_ bool *kept = calloc(n_sessions + 1, sizeof(bool));
	_cleanup_free_ uint16_t *promised = NULL;
	_cleanup_free_ size_t *promised_bridge = NULL;
	struct relay_action *a = NULL;
	size_t n = 0, n_promised = 0;
	int r = 0;

	if (!kept)
		return -ENOMEM;
	for (size_t i = 0; r >= 0 && i < n_sessions; i++) {
		const struct store_relay_session *s = &sessions[i];
		ssize_t ia = node_index(nodes, n_nodes, s->a_id), ib = node_index(nodes, n_nodes, s->b_id);
		bool bridge_ok = false;

		for (size_t k = 0; k < n_bridges; k++)
			bridge_ok |= streq(bridges[k].id, s->bridge_id);
		if (ia < 0 || ib < 0 || !bridge_ok || s->expires_at <= now ||
		    !pair_relayable(&nodes[ia], &nodes[ib])) {
			r = push(&a, &n, (struct relay_action){ .kind = RELAY_ACTION_WITHDRAW, .session = i });
			continue;
		}
		kept[i] = true;
		if (focus && !session_involves(s, focus))
			continue;
		if (!streq(s->a_endpoint, nodes[ia].endpoint) || !streq(s->b_endpoint, nodes[ib].endpoint) ||
		    s->expires_at - now <= RELAY_SESSION_LIFETIME_USEC - RELAY_REFRESH_AFTER_USEC)
			r = push(&a, &n,
				 (struct relay_action){ .kind = RELAY_ACTION_REFRESH, .session = i,
							.a = (size_t)ia, .b = (size_t)ib });
	}

	for (size_t x = 0; r >= 0 && x < n_nodes; x++) {
		for (size_t y = x + 1; r >= 0 && y < n_nodes; y++) {
			bool have = false;

			if (focus && !streq(nodes[x].id, focus) && !streq(nodes[y].id, focus))
				continue;
			if (!pair_relayable(&nodes[x], &nodes[y]))
				continue;
			for (size_t i = 0; !have && i < n_sessions; i++)
				have = kept[i] && pair_is(&sessions[i], nodes[x].id, nodes[y].id);
			if (have)
				continue;
			for (size_t k = 0; k < n_bridges; k++) {
				const struct relay_bridge *b = &bridges[k];
				_cleanup_free_ uint16_t *mine = calloc(n_promised + 1, sizeof(uint16_t));
				size_t n_mine = 0;
				uint16_t port;

				if (!mine) {
					r = -ENOMEM;
					break;
				}
				if (streq(b->id, nodes[x].id) || streq(b->id, nodes[y].id))
					continue;
				for (size_t p = 0; p < n_promised; p++)
					if (promised_bridge[p] == k)
						mine[n_mine++] = promised[p];
				if (relay_port_pick(b, sessions, n_sessions, mine, n_mine, &port) < 0)
					continue;
				uint16_t *np = reallocarray(promised, n_promised + 1, sizeof(*np));
				if (np)
					promised = np;
				size_t *nb = reallocarray(promised_bridge, n_promised + 1, sizeof(*nb));
				if (nb)
					promised_bridge = nb;
				if (!np || !nb) {
					r = -ENOMEM;
					break;
				}
				promised[n_promised] = port;
				promised_bridge[n_promised++] = k;
				r = push(&a, &n,
					 (struct relay_action){ .kind = RELAY_ACTION_CREATE, .a = x, .b = y,
								.bridge = k, .port = port });
				break;
			}
		}
	}
	if (r < 0) {
		free(a);
		return r;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

/* ---- session cache ---- */

static struct relay_cache *cache_get(struct server *s)
{
	struct relay_cache *c = s->relay;
	int r;

	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		s->relay = c;
	}
	if (!c->loaded) {
		c->v = mfree(c->v);
		c->n = 0;
		r = store_relay_session_list(s->store, &c->v, &c->n);
		if (r < 0) {
			log_error_errno(r, "cannot load relay sessions", "err=%m");
			return NULL;
		}
		c->loaded = true;
	}
	return c;
}

void relay_cache_invalidate(struct server *s)
{
	if (s->relay)
		s->relay->loaded = false;
}

void relay_cache_free(struct server *s)
{
	if (!s->relay)
		return;
	free(s->relay->v);
	s->relay = mfree(s->relay);
}

static const struct store_relay_session *cache_find_pair(struct server *s, const char *a, const char *b)
{
	struct relay_cache *c = cache_get(s);
	int64_t now = server_now();

	for (size_t i = 0; c && i < c->n; i++)
		if (c->v[i].expires_at > now && pair_is(&c->v[i], a, b))
			return &c->v[i];
	return NULL;
}

bool relay_pair_active(struct server *s, const char *a, const char *b)
{
	return cache_find_pair(s, a, b) != NULL;
}

int relay_peer_view(struct server *s, const char *viewer, const char *peer_id, json_t *peer)
{
	const struct store_relay_session *rs;

	if (s->relay && s->relay->loaded && s->relay->n == 0)
		return 0; /* the common case: no relays at all */
	rs = cache_find_pair(s, viewer, peer_id);
	if (!rs)
		return 0;
	if (json_object_set_new(peer, "endpoint", json_string(rs->relay_endpoint)) < 0 ||
	    json_object_set_new(peer, "relayed", json_true()) < 0)
		return -ENOMEM;
	return 0;
}

/* ---- events ---- */

static json_t *assignment_json(const struct store_relay_session *rs)
{
	struct timestamp ts = { .sec = rs->expires_at / 1000000, .nsec = (uint32_t)(rs->expires_at % 1000000) * 1000 };
	char t[RFC3339_MAX];
	json_t *j;

	if (rfc3339_format(ts, 0, t) < 0)
		return NULL;
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "session_id", rs->id, "peer_a_id", rs->a_id,
		      "peer_a_endpoint", rs->a_endpoint, "peer_b_id", rs->b_id, "peer_b_endpoint", rs->b_endpoint,
		      "expires_at", t);
	/* relay_port is this implementation's extension (agent-bridge.c): absent = shared socket. */
	if (j && rs->port && json_object_set_new(j, "relay_port", json_integer(rs->port)) < 0)
		j = (json_decref(j), NULL);
	return j;
}

/* peer_endpoint_changed to viewer about subject, as server_peer_json sees the pair now. */
static int emit_endpoint(struct server *s, const char *viewer, const struct store_node *subject, bool force_direct)
{
	json_t *p = server_peer_json(s, viewer, subject);

	if (!p)
		return -ENOMEM;
	if (force_direct && json_object_set_new(p, "relayed", json_false()) < 0) {
		json_decref(p);
		return -ENOMEM;
	}
	return server_emit(s, viewer, "peer_endpoint_changed", p);
}

static int cache_put(struct relay_cache *c, const struct store_relay_session *rs)
{
	struct store_relay_session *nv;

	for (size_t i = 0; i < c->n; i++)
		if (streq(c->v[i].id, rs->id)) {
			c->v[i] = *rs;
			return 0;
		}
	nv = reallocarray(c->v, c->n + 1, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	nv[c->n++] = *rs;
	c->v = nv;
	return 0;
}

static void cache_del(struct relay_cache *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (streq(c->v[i].id, id)) {
			c->v[i] = c->v[--c->n];
			return;
		}
}

static int do_create(struct server *s, struct relay_cache *c, const struct store_node *x, const struct store_node *y,
		     const struct relay_bridge *b, uint16_t port, int64_t now)
{
	struct store_relay_session rs = { .port = port, .expires_at = now + RELAY_SESSION_LIFETIME_USEC };
	json_t *j;
	int r;

	r = random_id("rs_", 8, rs.id, sizeof(rs.id));
	if (r < 0)
		return r;
	snprintf(rs.bridge_id, sizeof(rs.bridge_id), "%s", b->id);
	snprintf(rs.a_id, sizeof(rs.a_id), "%s", x->id);
	snprintf(rs.a_endpoint, sizeof(rs.a_endpoint), "%s", x->endpoint);
	snprintf(rs.b_id, sizeof(rs.b_id), "%s", y->id);
	snprintf(rs.b_endpoint, sizeof(rs.b_endpoint), "%s", y->endpoint);
	if (strlen(b->ip) + 7 > sizeof(rs.relay_endpoint))
		return -EINVAL;
	memcpy(rs.relay_endpoint, b->ip, strlen(b->ip));
	snprintf(rs.relay_endpoint + strlen(b->ip), 7, ":%u", (unsigned)port);
	r = store_relay_session_put(s->store, &rs);
	if (r >= 0)
		r = cache_put(c, &rs);
	if (r < 0)
		return r;
	j = assignment_json(&rs);
	r = j ? server_emit(s, b->id, "relay_session_assigned", j) : -ENOMEM;
	/* Both peers now see each other at the relay (relay_peer_view). */
	if (r >= 0)
		r = emit_endpoint(s, x->id, y, false);
	if (r >= 0)
		r = emit_endpoint(s, y->id, x, false);
	if (r >= 0)
		log_info("relay session assigned", "session=%s bridge=%s peer_a=%s peer_b=%s relay=%s", rs.id,
			 b->id, x->id, y->id, rs.relay_endpoint);
	return r;
}

static int do_refresh(struct server *s, struct relay_cache *c, struct store_relay_session rs,
		      const struct store_node *x, const struct store_node *y, int64_t now)
{
	json_t *j;
	int r;

	snprintf(rs.a_endpoint, sizeof(rs.a_endpoint), "%s", x->endpoint);
	snprintf(rs.b_endpoint, sizeof(rs.b_endpoint), "%s", y->endpoint);
	rs.expires_at = now + RELAY_SESSION_LIFETIME_USEC;
	r = store_relay_session_put(s->store, &rs);
	if (r >= 0)
		r = cache_put(c, &rs);
	if (r < 0)
		return r;
	/* Re-assignment of the same id refreshes the bridge's expiry and keeps its latching. */
	j = assignment_json(&rs);
	r = j ? server_emit(s, rs.bridge_id, "relay_session_assigned", j) : -ENOMEM;
	if (r >= 0)
		log_debug("relay session refreshed", "session=%s", rs.id);
	return r;
}

static int do_withdraw(struct server *s, struct relay_cache *c, struct store_relay_session rs,
		       const struct store_node *nodes, size_t n_nodes)
{
	ssize_t ia = node_index(nodes, n_nodes, rs.a_id), ib = node_index(nodes, n_nodes, rs.b_id);
	struct store_node bridge;
	int r;

	r = store_relay_session_delete(s->store, rs.id);
	if (r < 0)
		return r;
	cache_del(c, rs.id);
	if (store_node_get(s->store, rs.bridge_id, &bridge) >= 0) {
		if (bridge.status != NODE_STATUS_DEREGISTERED)
			r = server_emit(s, rs.bridge_id, "relay_session_revoked",
					json_pack("{s:s}", "session_id", rs.id));
		store_node_done(&bridge);
	}
	/* Direct endpoints again, for peers that are still around. */
	if (r >= 0 && ia >= 0 && ib >= 0 && node_live(&nodes[ia]) && node_live(&nodes[ib])) {
		r = emit_endpoint(s, rs.a_id, &nodes[ib], true);
		if (r >= 0)
			r = emit_endpoint(s, rs.b_id, &nodes[ia], true);
	}
	if (r >= 0)
		log_info("relay session withdrawn", "session=%s peer_a=%s peer_b=%s", rs.id, rs.a_id, rs.b_id);
	return r;
}

static int relay_evaluate(struct server *s, const char *focus)
{
	struct relay_cache *c = cache_get(s);
	struct store_node *nodes = NULL;
	_cleanup_free_ struct relay_bridge *bridges = NULL;
	_cleanup_free_ struct store_relay_session *snap = NULL;
	_cleanup_free_ struct relay_action *act = NULL;
	size_t nn = 0, nb = 0, na = 0, ns;
	int64_t now = server_now();
	int r;

	if (!c)
		return -ENOMEM;
	r = store_node_list(s->store, false, &nodes, &nn);
	if (r < 0)
		return r;
	bridges = calloc(nn + 1, sizeof(*bridges));
	/* The plan indexes a snapshot: executing it changes the cache. */
	ns = c->n;
	snap = calloc(ns + 1, sizeof(*snap));
	if (!bridges || !snap) {
		r = -ENOMEM;
		goto out;
	}
	if (ns)
		memcpy(snap, c->v, ns * sizeof(*snap));
	for (size_t i = 0; i < nn; i++)
		if (relay_bridge_from_node(&nodes[i], &bridges[nb]) >= 0)
			nb++;
	r = relay_plan(nodes, nn, bridges, nb, snap, ns, focus, now, &act, &na);
	for (size_t i = 0; r >= 0 && i < na; i++) {
		switch (act[i].kind) {
		case RELAY_ACTION_CREATE:
			r = do_create(s, c, &nodes[act[i].a], &nodes[act[i].b], &bridges[act[i].bridge], act[i].port,
				      now);
			break;
		case RELAY_ACTION_REFRESH:
			r = do_refresh(s, c, snap[act[i].session], &nodes[act[i].a], &nodes[act[i].b], now);
			break;
		case RELAY_ACTION_WITHDRAW:
			r = do_withdraw(s, c, snap[act[i].session], nodes, nn);
			break;
		}
	}
	if (r < 0)
		relay_cache_invalidate(s);
out:
	store_node_array_free(nodes, nn);
	return r;
}

static bool node_has_session(struct relay_cache *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (session_involves(&c->v[i], id) || streq(c->v[i].bridge_id, id))
			return true;
	return false;
}

int relay_node_reported(struct server *s, const char *node_id)
{
	struct relay_cache *c = cache_get(s);
	struct store_node n;
	struct relay_bridge b;
	bool symmetric, bridge;
	int r;

	if (!c)
		return -ENOMEM;
	r = store_node_get(s->store, node_id, &n);
	if (r < 0)
		return r;
	symmetric = streq_ptr(n.nat_type, "symmetric");
	bridge = relay_bridge_from_node(&n, &b) >= 0;
	store_node_done(&n);
	/* Fast path: a node that neither needs a relay, holds one nor offers one changes nothing. */
	if (!symmetric && !bridge && !node_has_session(c, node_id))
		return 0;
	/* A bridge's report may make relays possible for every waiting pair. */
	return relay_evaluate(s, bridge ? NULL : node_id);
}

int relay_node_heartbeat(struct server *s, const char *node_id)
{
	struct relay_cache *c = cache_get(s);

	if (!c)
		return -ENOMEM;
	if (!node_has_session(c, node_id))
		return 0;
	return relay_evaluate(s, node_id);
}

int relay_state_extend(struct server *s, const char *node_id, json_t *state)
{
	struct relay_cache *c;
	struct store_node n;
	struct relay_bridge b;
	int64_t now = server_now();
	json_t *arr;
	int r;

	r = store_node_get(s->store, node_id, &n);
	if (r < 0)
		return r;
	r = relay_bridge_from_node(&n, &b);
	store_node_done(&n);
	if (r < 0)
		return 0; /* not a relay bridge: relay_config absent = unchanged */
	c = cache_get(s);
	arr = json_array();
	if (!c || !arr) {
		json_decref(arr);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n; i++) {
		json_t *j;
		if (!streq(c->v[i].bridge_id, node_id) || c->v[i].expires_at <= now)
			continue;
		j = assignment_json(&c->v[i]);
		if (!j || json_array_append_new(arr, j) < 0) {
			json_decref(arr);
			return -ENOMEM;
		}
	}
	return json_object_set_new(state, "relay_config", json_pack("{s:o}", "sessions", arr));
}
