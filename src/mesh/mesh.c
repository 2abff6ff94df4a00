/* Mesh facade: interface lifecycle, peer apply and route sync over a WireGuard backend. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_COMPONENT "mesh"
#include "mesh/mesh.h"
#include "mesh/rtnl.h"
#include "shared/log.h"

/* Public key → peer id of the last applied desired set, so removals can be named by id
 * (keys are never logged, §5.1 Peers 10). */
struct key_id {
	uint8_t key[WG_KEY_SIZE];
	char *id;
};

struct mesh {
	sd_event *event;
	char ifname[IFNAMSIZ];
	uint16_t listen_port;
	uint32_t mtu;
	uint16_t keepalive;
	enum wg_backend_kind backend_kind;
	char *binary;
	void (*exit_handler)(struct mesh *m, void *userdata);
	void *exit_userdata;

	struct wg_backend *backend;
	struct nlsock *rtnl;
	uint8_t private_key[WG_KEY_SIZE];
	struct in_addr mesh_ip;
	uint32_t ifindex;
	bool started;
	struct key_id *known;
	size_t n_known;
	uint8_t own_public_key[WG_KEY_SIZE];
	bool stagger;
};

static int64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void known_clear(struct mesh *m)
{
	for (size_t i = 0; i < m->n_known; i++)
		free(m->known[i].id);
	free(m->known);
	m->known = NULL;
	m->n_known = 0;
}

static const char *known_id(const struct mesh *m, const uint8_t key[WG_KEY_SIZE])
{
	for (size_t i = 0; i < m->n_known; i++)
		if (memcmp(m->known[i].key, key, WG_KEY_SIZE) == 0)
			return m->known[i].id;
	return NULL;
}

static int known_set(struct mesh *m, const struct wg_peer *peers, size_t n)
{
	struct key_id *k = n ? calloc(n, sizeof(*k)) : NULL;

	if (n && !k)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		memcpy(k[i].key, peers[i].public_key, WG_KEY_SIZE);
		k[i].id = strdup(peers[i].id ? peers[i].id : "unknown");
		if (!k[i].id) {
			for (size_t j = 0; j < i; j++)
				free(k[j].id);
			free(k);
			return -ENOMEM;
		}
	}
	known_clear(m);
	m->known = k;
	m->n_known = n;
	return 0;
}

int mesh_new(sd_event *event, const struct mesh_config *cfg, struct mesh **ret)
{
	_cleanup_(mesh_freep) struct mesh *m = NULL;

	if (!cfg || isempty(cfg->ifname) || strlen(cfg->ifname) >= IFNAMSIZ)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->event = event ? sd_event_ref(event) : NULL;
	strcpy(m->ifname, cfg->ifname);
	m->listen_port = cfg->listen_port;
	m->mtu = cfg->mtu;
	m->keepalive = cfg->keepalive;
	m->backend_kind = cfg->backend;
	m->binary = strdup(isempty(cfg->userspace_binary) ? "wireguard-go" : cfg->userspace_binary);
	if (!m->binary)
		return -ENOMEM;
	*ret = TAKE_PTR(m);
	return 0;
}

void mesh_set_exit_handler(struct mesh *m, void (*handler)(struct mesh *m, void *userdata),
			   void *userdata)
{
	m->exit_handler = handler;
	m->exit_userdata = userdata;
}

static void on_backend_exit(struct wg_backend *b, int code, int status, void *userdata)
{
	struct mesh *m = userdata;

	if (m->exit_handler)
		m->exit_handler(m, m->exit_userdata);
}

/* Link up with the right address, key and port. *ret_changes counts what had to change. */
static int mesh_setup_interface(struct mesh *m, unsigned *ret_changes)
{
	struct rtnl_link l;
	unsigned changes = 0;
	int r;

	r = rtnl_link_get(m->rtnl, m->ifname, &l);
	if (r < 0)
		return log_error_errno(r, "cannot look up mesh interface", "iface=%s err=%m",
				       m->ifname);
	m->ifindex = l.ifindex;
	if (!(l.flags & IFF_UP) || (m->mtu > 0 && l.mtu != m->mtu))
		changes++;
	r = rtnl_link_configure(m->rtnl, l.ifindex, m->mtu);
	if (r < 0)
		return log_error_errno(r, "cannot bring mesh interface up", "iface=%s err=%m",
				       m->ifname);
	r = rtnl_addr_sync(m->rtnl, l.ifindex, m->mesh_ip, &changes);
	if (r < 0)
		return log_error_errno(r, "cannot set mesh address", "iface=%s err=%m", m->ifname);
	if (ret_changes)
		*ret_changes += changes;
	return 0;
}

int mesh_start(struct mesh *m, const uint8_t private_key[WG_KEY_SIZE], struct in_addr mesh_ip)
{
	struct wg_device desired = { .has_private_key = true, .listen_port = m->listen_port };
	struct wg_device actual = {};
	struct wg_change_set cs = {};
	struct timespec now;
	int r;

	if (m->started)
		return -EALREADY;
	if (!m->rtnl) {
		r = nlsock_open(NETLINK_ROUTE, &m->rtnl);
		if (r < 0)
			return log_error_errno(r, "cannot open rtnetlink", "err=%m");
	}
	memcpy(m->private_key, private_key, WG_KEY_SIZE);
	m->mesh_ip = mesh_ip;
	r = wg_backend_open(m->backend_kind, m->event, m->ifname, m->binary, on_backend_exit, m,
			    &m->backend);
	if (r < 0)
		return r;

	/* Device settings (§5.1 interface 3) through the same diff as everything else, so an
	 * adopted device that already matches sees no write. Existing peers stay until the
	 * first apply decides about them. */
	memcpy(desired.private_key, private_key, WG_KEY_SIZE);
	r = wg_backend_get_device(m->backend, &actual);
	if (r < 0) {
		log_error_errno(r, "cannot read WireGuard device", "iface=%s err=%m", m->ifname);
		goto fail;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	desired.peers = actual.peers; /* peers equal on both sides: device fields only */
	desired.n_peers = actual.n_peers;
	r = wg_diff(&desired, &actual, now, false, &cs);
	desired.peers = NULL;
	desired.n_peers = 0;
	if (r >= 0)
		r = wg_backend_apply(m->backend, &cs);
	wg_change_set_done(&cs);
	wg_device_done(&actual);
	explicit_bzero(&desired, sizeof(desired));
	if (r < 0) {
		log_error_errno(r, "cannot configure WireGuard device", "iface=%s err=%m", m->ifname);
		goto fail;
	}
	r = mesh_setup_interface(m, NULL);
	if (r < 0)
		goto fail;
	m->started = true;
	log_info("mesh interface up", "iface=%s backend=%s ifindex=%u", m->ifname,
		 m->backend->ops->name, m->ifindex);
	return 0;
fail:
	/* Leave a freshly created interface behind? No: a half-configured mesh is worse than none
	 * and the next start recreates it. An adopted one is left alone. */
	if (m->backend->created)
		(void)wg_backend_delete(m->backend);
	m->backend = wg_backend_free(m->backend);
	return r;
}

static int add_correction(struct mesh_apply_result *res, const char *type, const char *fmt, ...)
	_printf_(3, 4);
static int add_correction(struct mesh_apply_result *res, const char *type, const char *fmt, ...)
{
	struct mesh_correction *n;
	char *detail;
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vasprintf(&detail, fmt, ap);
	va_end(ap);
	if (k < 0)
		return -ENOMEM;
	n = reallocarray(res->corrections, res->n_corrections + 1, sizeof(*n));
	if (!n) {
		free(detail);
		return -ENOMEM;
	}
	res->corrections = n;
	n[res->n_corrections++] = (struct mesh_correction){ type, detail };
	return 0;
}

void mesh_apply_result_done(struct mesh_apply_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_corrections; i++)
		free(r->corrections[i].detail);
	free(r->corrections);
	for (size_t i = 0; i < r->n_errors; i++) {
		free(r->errors[i].id);
		free(r->errors[i].reason);
	}
	free(r->errors);
	*r = (struct mesh_apply_result){};
}

/* §5.6 interface row: link present (recreated if not, e.g. the userspace daemon died), up,
 * exactly the mesh address. */
static int mesh_check_interface(struct mesh *m, struct mesh_apply_result *res)
{
	struct rtnl_link l;
	unsigned changes = 0;
	int r;

	r = rtnl_link_get(m->rtnl, m->ifname, &l);
	if (r == -ENODEV) {
		log_warning("mesh interface missing, recreating", "iface=%s", m->ifname);
		r = m->backend->ops->open(m->backend);
		if (r < 0)
			return log_error_errno(r, "cannot recreate mesh interface", "iface=%s err=%m",
					       m->ifname);
		r = mesh_setup_interface(m, NULL);
		if (r < 0)
			return r;
		return add_correction(res, "interface_restored", "%s recreated", m->ifname);
	}
	if (r < 0)
		return r;
	r = mesh_setup_interface(m, &changes);
	if (r < 0)
		return r;
	if (changes > 0)
		return add_correction(res, "interface_restored", "%s address/state restored",
				      m->ifname);
	return 0;
}

static const char *change_id(const struct mesh *m, const struct wg_peer_change *c)
{
	const char *id = c->peer->id ? c->peer->id : known_id(m, c->peer->public_key);

	return id ? id : "unknown";
}

static int record_change(struct mesh *m, const struct wg_peer_change *c,
			 struct mesh_apply_result *res)
{
	char fields[64];

	switch (c->op) {
	case WG_PEER_OP_ADD:
		res->added++;
		log_info("peer added", "iface=%s peer=%s", m->ifname, change_id(m, c));
		return add_correction(res, "peer_added", "peer %s missing from %s", change_id(m, c),
				      m->ifname);
	case WG_PEER_OP_REMOVE:
		res->removed++;
		log_info("peer removed", "iface=%s peer=%s", m->ifname, change_id(m, c));
		return add_correction(res, "peer_removed", "peer %s not desired on %s",
				      change_id(m, c), m->ifname);
	case WG_PEER_OP_UPDATE:
		res->updated++;
		wg_peer_fields_format(c->fields, fields, sizeof(fields));
		log_info("peer updated", "iface=%s peer=%s fields=%s", m->ifname, change_id(m, c),
			 fields);
		return add_correction(res, "peer_updated", "peer %s %s differ on %s",
				      change_id(m, c), fields, m->ifname);
	}
	return 0;
}

/* Route sync (§5.1 interface 5) as a resumable job, so that mesh_apply can run it while the
 * userspace daemon digests a peer batch (wg_backend_apply_overlapped). */
struct route_sync {
	struct mesh *m;
	const struct wg_peer *peers;
	size_t n_peers;
	struct mesh_apply_result *res;
	struct wg_prefix *add, *del;
	size_t na, nd, next;
	bool planned;
	int error; /* -ENOMEM aborts the apply; other errors are counted in res->failed */
};

static int route_sync_plan(struct route_sync *rs)
{
	struct mesh *m = rs->m;
	_cleanup_free_ struct wg_prefix *want = NULL, *have = NULL;
	size_t nw = 0, nh = 0;
	int r;

	for (size_t i = 0; i < rs->n_peers; i++)
		nw += rs->peers[i].n_allowed_ips;
	if (nw > 0) {
		want = calloc(nw, sizeof(*want));
		if (!want)
			return -ENOMEM;
		nw = 0;
		for (size_t i = 0; i < rs->n_peers; i++)
			for (size_t j = 0; j < rs->peers[i].n_allowed_ips; j++)
				want[nw++] = rs->peers[i].allowed_ips[j];
	}
	r = rtnl_route_list(m->rtnl, m->ifindex, RTPROT_PLEXD, &have, &nh);
	if (r < 0) {
		rs->res->failed++;
		return log_error_errno(r, "cannot list routes", "iface=%s err=%m", m->ifname);
	}
	return route_diff(want, nw, have, nh, &rs->add, &rs->na, &rs->del, &rs->nd);
}

/* wg_backend_step_t: first the plan, then one batch of route changes per call. */
static int route_sync_step(void *userdata)
{
	struct route_sync *rs = userdata;
	struct mesh *m = rs->m;
	struct mesh_apply_result *res = rs->res;
	int r;

	if (!rs->planned) {
		rs->planned = true;
		rs->error = route_sync_plan(rs);
		return rs->error < 0 || rs->na + rs->nd == 0 ? 1 : 0;
	}
	struct rtnl_route_op ops[RTNL_ROUTE_BATCH_MAX] = {};
	int results[RTNL_ROUTE_BATCH_MAX];
	size_t base = rs->next, n = MIN(rs->nd + rs->na - base, (size_t)RTNL_ROUTE_BATCH_MAX);

	for (size_t k = 0; k < n; k++) {
		size_t i = base + k;
		ops[k].add = i >= rs->nd;
		ops[k].prefix = ops[k].add ? &rs->add[i - rs->nd] : &rs->del[i];
	}
	/* One datagram per slice; if the exchange itself fails every change in it failed. */
	r = rtnl_route_batch(m->rtnl, m->ifindex, RTPROT_PLEXD, ops, n, results);
	for (size_t k = 0; k < n; k++) {
		bool adding = ops[k].add;
		char pf[WG_PREFIX_STRLEN];
		int e = r < 0 ? r : results[k];

		(void)wg_prefix_format(ops[k].prefix, pf, sizeof(pf));
		if (e < 0) {
			res->failed++;
			log_error_errno(e, "cannot change route", "iface=%s route=%s op=%s err=%m",
					m->ifname, pf, adding ? "add" : "del");
			continue;
		}
		if (adding) {
			res->routes_added++;
			e = add_correction(res, "route_added", "route %s missing on %s", pf,
					   m->ifname);
		} else {
			res->routes_removed++;
			e = add_correction(res, "route_removed", "route %s not needed on %s", pf,
					   m->ifname);
		}
		if (e < 0) {
			rs->error = e;
			return e;
		}
	}
	rs->next = base + n;
	return rs->next >= rs->nd + rs->na ? 1 : 0;
}

static void route_sync_done(struct route_sync *rs)
{
	free(rs->add);
	free(rs->del);
	rs->add = rs->del = NULL;
}

/* Applies cs; when the batch fails, retries each part alone so that only the bad ones fail
 * (§5.1 Peers 9). `rs` is driven to completion in any case. */
static int mesh_apply_changes(struct mesh *m, const struct wg_change_set *cs,
			      struct mesh_apply_result *res, struct route_sync *rs)
{
	int r;

	/* Routes are synced while the batch is in flight (they depend only on the desired set,
	 * not on the outcome); an empty set does no device I/O and just syncs them. */
	r = wg_backend_apply_overlapped(m->backend, cs, route_sync_step, rs);
	if (wg_change_set_is_empty(cs))
		return 0;
	if (r >= 0) {
		for (size_t i = 0; i < cs->n_changes; i++) {
			r = record_change(m, &cs->changes[i], res);
			if (r < 0)
				return r;
		}
		return 0;
	}
	log_warning_errno(r, "batched WireGuard update failed, applying one by one",
			  "iface=%s changes=%zu err=%m", m->ifname, cs->n_changes);
	if (cs->device_fields) {
		struct wg_change_set one = { .desired = cs->desired,
					     .device_fields = cs->device_fields };
		r = wg_backend_apply(m->backend, &one);
		if (r < 0) {
			res->failed++;
			log_error_errno(r, "cannot set WireGuard device", "iface=%s err=%m",
					m->ifname);
		}
	}
	for (size_t i = 0; i < cs->n_changes; i++) {
		struct wg_change_set one = { .desired = cs->desired,
					     .changes = &cs->changes[i],
					     .n_changes = 1 };
		r = wg_backend_apply(m->backend, &one);
		if (r < 0) {
			res->failed++;
			log_error_errno(r, "cannot apply peer", "iface=%s peer=%s err=%m", m->ifname,
					change_id(m, &cs->changes[i]));
			continue;
		}
		r = record_change(m, &cs->changes[i], res);
		if (r < 0)
			return r;
	}
	return 0;
}

void mesh_set_stagger(struct mesh *m, const uint8_t own_public_key[WG_KEY_SIZE], bool enabled)
{
	if (own_public_key)
		memcpy(m->own_public_key, own_public_key, WG_KEY_SIZE);
	m->stagger = enabled && !wg_key_is_zero(m->own_public_key);
}

/* Fresh peers whose key sorts below ours are added without their persistent keepalive (see
 * mesh_set_stagger): the device then does not initiate a handshake on its own, the peer's
 * initiation is answered, and the keepalive follows with the next apply. Peers already known
 * are untouched: re-adding one is drift repair, not a fresh pairing. */
static unsigned stagger_filter(const struct mesh *m, struct wg_change_set *cs)
{
	unsigned held = 0;

	for (size_t i = 0; i < cs->n_changes; i++) {
		struct wg_peer_change *c = &cs->changes[i];
		if (c->op != WG_PEER_OP_ADD || !(c->fields & WG_PEER_FIELD_KEEPALIVE) ||
		    known_id(m, c->peer->public_key) ||
		    memcmp(c->peer->public_key, m->own_public_key, WG_KEY_SIZE) >= 0)
			continue;
		c->fields &= ~WG_PEER_FIELD_KEEPALIVE;
		log_debug("peer added without keepalive so the peer initiates first", "iface=%s peer=%s",
			  m->ifname, c->peer->id ? c->peer->id : "unknown");
		held++;
	}
	return held;
}

int mesh_apply(struct mesh *m, const struct wg_peer_input *peers, size_t n_peers, bool reconcile,
	       struct mesh_apply_result *ret)
{
	struct mesh_apply_result res = {};
	struct wg_peer_set set = {};
	struct wg_device desired = { .has_private_key = true, .listen_port = m->listen_port };
	struct wg_device actual = {};
	struct wg_change_set cs = {};
	struct route_sync rs = {};
	struct timespec now;
	int64_t t0 = now_usec(), t_build, t_read, t_diff, t_write;
	int r;

	if (!m->started)
		return -ENOTCONN;
	if (reconcile) {
		r = mesh_check_interface(m, &res);
		if (r == -ENOMEM)
			goto out;
		if (r < 0)
			res.failed++;
	}
	r = wg_peer_set_build(peers, n_peers, m->mesh_ip, m->keepalive, &set);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < set.n_errors; i++)
		log_error(set.errors[i].skipped ? "peer skipped" : "peer allowed IP dropped",
			  "iface=%s peer=%s reason=\"%s\"", m->ifname, set.errors[i].id,
			  set.errors[i].reason);
	res.errors = TAKE_PTR(set.errors);
	res.n_errors = set.n_errors;
	set.n_errors = 0;
	t_build = now_usec();

	memcpy(desired.private_key, m->private_key, WG_KEY_SIZE);
	desired.peers = set.peers;
	desired.n_peers = set.n_peers;
	r = wg_backend_get_device(m->backend, &actual);
	if (r < 0) {
		log_error_errno(r, "cannot read WireGuard device", "iface=%s err=%m", m->ifname);
		goto out;
	}
	t_read = now_usec();
	clock_gettime(CLOCK_REALTIME, &now);
	r = wg_diff(&desired, &actual, now, reconcile, &cs);
	if (r < 0)
		goto out;
	t_diff = now_usec();
	if (m->stagger)
		res.deferred = stagger_filter(m, &cs);
	if (cs.device_fields) {
		r = add_correction(&res, "interface_restored", "%s key/port/fwmark restored",
				   m->ifname);
		if (r < 0)
			goto out;
	}
	rs = (struct route_sync){ .m = m, .peers = set.peers, .n_peers = set.n_peers, .res = &res };
	r = mesh_apply_changes(m, &cs, &res, &rs);
	if (r < 0)
		goto out;
	if (rs.error == -ENOMEM) {
		r = rs.error;
		goto out;
	}
	t_write = now_usec();
	r = known_set(m, set.peers, set.n_peers);
	if (r < 0)
		goto out;
	/* Where an apply spends its time (benchmarks, slow-apply reports); write includes the
	 * route sync that overlaps it. */
	log_debug("mesh apply timing",
		  "iface=%s peers=%zu changes=%zu build_us=%" PRId64 " read_us=%" PRId64
		  " diff_us=%" PRId64 " write_routes_us=%" PRId64 " total_us=%" PRId64,
		  m->ifname, set.n_peers, cs.n_changes, t_build - t0, t_read - t_build,
		  t_diff - t_read, t_write - t_diff, now_usec() - t0);
	if (res.failed > 0)
		log_warning("mesh apply had failures", "iface=%s failed=%u", m->ifname, res.failed);
	*ret = res;
	res = (struct mesh_apply_result){};
	r = 0;
out:
	route_sync_done(&rs);
	wg_change_set_done(&cs);
	wg_device_done(&actual);
	explicit_bzero(desired.private_key, sizeof(desired.private_key));
	wg_peer_set_done(&set);
	mesh_apply_result_done(&res);
	return r;
}

int mesh_get_device(struct mesh *m, struct wg_device *ret)
{
	if (!m->backend)
		return -ENOTCONN;
	return wg_backend_get_device(m->backend, ret);
}

int mesh_set_private_key(struct mesh *m, const uint8_t private_key[WG_KEY_SIZE])
{
	int r;

	if (!m->backend)
		return -ENOTCONN;
	r = wg_backend_set_device(m->backend, private_key, 0);
	if (r < 0)
		return log_error_errno(r, "cannot set private key", "iface=%s err=%m", m->ifname);
	memcpy(m->private_key, private_key, WG_KEY_SIZE);
	return 0;
}

static int mesh_teardown(struct mesh *m)
{
	struct wg_device empty = {}, actual = {};
	struct wg_change_set cs = {};
	_cleanup_free_ struct wg_prefix *routes = NULL;
	size_t n_routes = 0;
	int r, ret = 0;

	/* Peers first, so no traffic flows while routes go away. */
	r = wg_backend_get_device(m->backend, &actual);
	if (r >= 0) {
		empty.listen_port = actual.listen_port;
		r = wg_diff(&empty, &actual, (struct timespec){}, false, &cs);
		if (r >= 0) {
			cs.device_fields = 0;
			r = wg_backend_apply(m->backend, &cs);
		}
		wg_change_set_done(&cs);
		wg_device_done(&actual);
	}
	if (r < 0 && r != -ENODEV)
		ret = log_warning_errno(r, "cannot remove peers", "iface=%s err=%m", m->ifname);
	if (m->ifindex > 0 && rtnl_route_list(m->rtnl, m->ifindex, RTPROT_PLEXD, &routes, &n_routes) >= 0)
		for (size_t i = 0; i < n_routes; i++)
			(void)rtnl_route_del(m->rtnl, m->ifindex, &routes[i], RTPROT_PLEXD);
	r = wg_backend_delete(m->backend);
	if (r < 0)
		ret = log_error_errno(r, "cannot delete mesh interface", "iface=%s err=%m",
				      m->ifname);
	else
		log_info("mesh interface removed", "iface=%s", m->ifname);
	return ret;
}

int mesh_stop(struct mesh *m, bool teardown)
{
	int r = 0;

	if (!m || !m->backend)
		return 0;
	if (teardown)
		r = mesh_teardown(m);
	m->backend = wg_backend_free(m->backend);
	m->started = false;
	return r;
}

struct mesh *mesh_free(struct mesh *m)
{
	if (!m)
		return NULL;
	/* Free without stop leaves the interface for the next start to adopt. */
	m->backend = wg_backend_free(m->backend);
	nlsock_free(m->rtnl);
	known_clear(m);
	sd_event_unref(m->event);
	free(m->binary);
	explicit_bzero(m, sizeof(*m));
	free(m);
	return NULL;
}

const char *mesh_backend_name(const struct mesh *m)
{
	return m->backend ? m->backend->ops->name : NULL;
}

uint64_t mesh_device_writes(const struct mesh *m)
{
	return m->backend ? m->backend->n_writes : 0;
}
