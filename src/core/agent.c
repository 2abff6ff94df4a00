/* The agent subsystem: identity (load or register), the mesh built from the desired state, and
 * the control-plane session (event stream, reconcile, heartbeat) — agent.md §4.1 steps 5–11.
 * The mesh comes up from cached state before any control-plane contact (§4.7). */
#define LOG_COMPONENT "agent"

#include <arpa/inet.h>
#include <stdio.h>

#include "config/config.h"
#include "controlplane/nonce-store.h"
#include "core/agent-internal.h"
#include "core/agent.h"
#include "core/control.h"
#include "core/identity.h"
#include "core/manager.h"
#include "core/register.h"
#include "crypto/crypto.h"
#include "bridge/relay.h"
#include "mesh/mesh.h"
#include "nat/nat.h"
#include "policy/compile.h"
#include "policy/firewall.h"
#include "policy/rule.h"
#include "policy/status.h"
#include "shared/encoding.h"
#include "shared/fileio.h"
#include "shared/log.h"
#include "shared/wire.h"

#define NONCE_CAPACITY 65536
#define ACTIVE_HANDSHAKE_SEC 180

static const char *const control_state_names[] = {
	[CONTROL_STATE_OFFLINE] = "offline",
	[CONTROL_STATE_CONNECTED] = "connected",
	[CONTROL_STATE_POLLING] = "polling",
	[CONTROL_STATE_UNAUTHORIZED] = "unauthorized",
};

const char *control_state_to_string(enum control_state s)
{
	return (size_t)s < ELEMENTSOF(control_state_names) ? control_state_names[s] : "unknown";
}

const struct config *agent_config(const struct agent *a)
{
	return manager_get_config(a->manager);
}

int agent_persist_peers(struct agent *a)
{
	return desired_save_peers(&a->desired, agent_config(a)->data_dir);
}

/* --- desired peers -> mesh -------------------------------------------------------------- */

/* String form of one peer for the mesh module, which validates it (§5.1 Peers 6/7). */
struct peer_strings {
	char key[45], psk[45], endpoint[INET6_ADDRSTRLEN + 8];
	char **allowed;
	size_t n_allowed;
};

static void peer_strings_done(struct peer_strings *s)
{
	for (size_t i = 0; i < s->n_allowed; i++)
		free(s->allowed[i]);
	free(s->allowed);
	explicit_bzero(s, sizeof(*s));
}

static int peer_strings_fill(const struct cp_peer *p, bool use_endpoint, struct peer_strings *s)
{
	key32_format(p->public_key, s->key);
	if (p->has_psk)
		key32_format(p->psk, s->psk);
	if (use_endpoint && p->endpoint.known &&
	    endpoint_format(&p->endpoint.addr, s->endpoint, sizeof s->endpoint) < 0)
		s->endpoint[0] = '\0';
	s->allowed = calloc(p->n_allowed_ips ? p->n_allowed_ips : 1, sizeof(char *));
	if (!s->allowed)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_allowed_ips; i++) {
		char buf[64];
		if (cp_prefix_format(&p->allowed_ips[i], buf, sizeof buf) < 0)
			continue;
		s->allowed[s->n_allowed] = strdup(buf);
		if (!s->allowed[s->n_allowed])
			return -ENOMEM;
		s->n_allowed++;
	}
	return 0;
}

/* The policy engine's view of the desired state: the local node, the known peers (sorted by id,
 * like desired.peers), the mesh prefix, and each peer's visibility (§5.5). */
struct policy_view {
	struct policy_node local;
	struct policy_node *peers;
	struct policy_nodes nodes;
	bool *visible;
	bool default_allow; /* policy.default: allow, or policy disabled */
};

static void policy_view_done(struct policy_view *v)
{
	free(v->peers);
	free(v->visible);
	*v = (struct policy_view){};
}

static int policy_view_build(struct agent *a, struct policy_view *v)
{
	const struct config *c = agent_config(a);
	const struct cp_peer_list *pl = &a->desired.peers;
	size_t n = pl->n_peers;
	int r;

	*v = (struct policy_view){
		.local = { .id = a->identity->node_id, .mesh_ip = a->identity->mesh_ip },
		.default_allow = !c->policy.enabled ||
				 c->policy.default_verdict == CONFIG_POLICY_VERDICT_ALLOW,
	};
	v->peers = calloc(n ? n : 1, sizeof(*v->peers));
	v->visible = calloc(n ? n : 1, sizeof(bool));
	if (!v->peers || !v->visible) {
		policy_view_done(v);
		return -ENOMEM;
	}
	/* desired peers are sorted by id already, which is what policy_nodes expects. */
	for (size_t i = 0; i < n; i++)
		v->peers[i] = (struct policy_node){ .id = pl->peers[i].id,
						    .mesh_ip = pl->peers[i].mesh_ip };
	v->nodes = (struct policy_nodes){ .local = &v->local, .peers = v->peers, .n_peers = n };
	r = ipv4_prefix_parse(c->mesh.cidr, false, &v->nodes.mesh_cidr);
	if (r >= 0)
		r = policy_compute_visibility(a->desired.policies.policies,
					      a->desired.policies.n_policies, &v->nodes,
					      v->default_allow, v->visible, NULL, NULL);
	if (r < 0)
		policy_view_done(v);
	return r;
}

static bool skipped_equal(const struct policy_ruleset *a, const struct policy_ruleset *b)
{
	if (!a || !b || a->n_skipped != b->n_skipped)
		return false;
	for (size_t i = 0; i < a->n_skipped; i++)
		if (!streq(a->skipped[i].policy_id, b->skipped[i].policy_id) ||
		    a->skipped[i].rule_index != b->skipped[i].rule_index ||
		    !streq(a->skipped[i].reason, b->skipped[i].reason))
			return false;
	return true;
}

/* §5.5 firewall: compile the policies for this node and apply the difference. */
static int apply_firewall(struct agent *a, const struct policy_view *v, struct drift_list *drift)
{
	const struct config *c = agent_config(a);
	struct policy_ruleset *rs = NULL;
	struct policy_apply_result res = {};
	int r;

	if (!a->firewall)
		return 0;
	struct policy_compile_input in = {
		.policies = a->desired.policies.policies,
		.n_policies = a->desired.policies.n_policies,
		.nodes = &v->nodes,
		.visible = v->visible,
		.ifname = c->mesh.interface,
		.default_allow = c->policy.default_verdict == CONFIG_POLICY_VERDICT_ALLOW,
		.log_denied = c->policy.log_denied,
		.bridge = c->mode == CONFIG_MODE_BRIDGE,
	};
	r = policy_compile(&in, &rs);
	if (r < 0) {
		a->degraded = true;
		return log_error_errno(r, "cannot compile policies", "err=%m");
	}
	if (!skipped_equal(rs, a->ruleset))
		for (size_t i = 0; i < rs->n_skipped; i++)
			log_warning("policy rule skipped", "policy=%s rule=%zu reason=\"%s\"",
				    rs->skipped[i].policy_id, rs->skipped[i].rule_index,
				    rs->skipped[i].reason);
	policy_ruleset_free(a->ruleset);
	a->ruleset = rs;

	r = policy_firewall_apply(a->firewall, rs, &res);
	if (r < 0) {
		/* §5.5 rule 9: the previous ruleset stays in force; retried at the next reconcile. */
		a->degraded = true;
		return log_error_errno(r, "firewall apply failed, previous ruleset stays in force",
				       "err=%m");
	}
	a->degraded = false;
	if (res.drift) {
		log_warning("firewall table repaired", "detail=\"%s\"", res.drift_detail);
		if (drift)
			(void)drift_add(drift, "firewall_restored", "%s", res.drift_detail);
		else {
			/* Repaired by an event-driven apply: still someone else's change, so it is
			 * reported now rather than lost to the next reconcile finding nothing. */
			struct drift_list now = {};
			if (drift_add(&now, "firewall_restored", "%s", res.drift_detail) >= 0)
				agent_send_drift(a, &now);
			drift_done(&now);
		}
	}
	if (res.elements_added || res.elements_deleted || res.chains_rewritten)
		log_info("firewall applied",
			 "elements_added=%zu elements_deleted=%zu chains_rewritten=%zu",
			 res.elements_added, res.elements_deleted, res.chains_rewritten);
	return 0;
}

int agent_apply_mesh(struct agent *a, bool reconcile, struct drift_list *drift)
{
	const struct config *c = agent_config(a);
	const struct cp_peer_list *pl = &a->desired.peers;
	size_t n = pl->n_peers, k = 0;
	_cleanup_free_ struct wg_peer_input *in = NULL;
	_cleanup_free_ struct peer_strings *str = NULL;
	struct mesh_apply_result res = {};
	struct policy_view v;
	int r, fw;

	if (!a->mesh || !a->identity)
		return 0;
	in = calloc(n ? n : 1, sizeof(*in));
	str = calloc(n ? n : 1, sizeof(*str));
	if (!in || !str)
		return -ENOMEM;
	r = policy_view_build(a, &v);
	if (r < 0)
		return log_error_errno(r, "cannot compute peer visibility", "err=%m");

	/* §5.5 rule 8: firewall first, so a newly allowed peer never exists before its rules and
	 * a revoked peer loses traffic before it loses its tunnel. */
	fw = apply_firewall(a, &v, drift);

	for (size_t i = 0; i < n; i++) {
		const struct cp_peer *p = &pl->peers[i];
		/* §5.4: with fallback none a relayed endpoint is not applied. */
		bool use_ep = !(p->relayed && c->nat_traversal.fallback == CONFIG_NAT_FALLBACK_NONE);

		if (!v.visible[i])
			continue;
		r = peer_strings_fill(p, use_ep, &str[k]);
		if (r < 0)
			goto out;
		in[k] = (struct wg_peer_input){
			.id = p->id,
			.public_key = str[k].key,
			.psk = str[k].psk,
			.endpoint = str[k].endpoint,
			.allowed_ips = (const char *const *)str[k].allowed,
			.n_allowed_ips = str[k].n_allowed,
		};
		k++;
	}

	r = mesh_apply(a->mesh, in, k, reconcile, &res);
	if (r < 0) {
		log_error_errno(r, "cannot apply mesh configuration", "err=%m");
		goto out;
	}
	if (res.added || res.removed || res.updated)
		log_info("mesh applied", "added=%u removed=%u updated=%u visible=%zu known=%zu",
			 res.added, res.removed, res.updated, k, n);
	if (res.deferred > 0)
		agent_schedule_staggered_apply(a);
	for (size_t i = 0; drift && i < res.n_corrections; i++)
		(void)drift_add(drift, res.corrections[i].type, "%s", res.corrections[i].detail);
	r = res.failed || fw < 0 ? -EIO : 0;
out:
	mesh_apply_result_done(&res);
	for (size_t i = 0; i < n; i++)
		peer_strings_done(&str[i]);
	policy_view_done(&v);
	return r;
}

/* Fresh peers whose key sorts below ours were added without keepalive (mesh_set_stagger) so
 * that they initiate first; 300 ms later the keepalive is set — far more than a handshake takes
 * on a LAN, and the peer itself is configured (reachable) from the first apply. */
#define STAGGER_DELAY_USEC (300 * USEC_PER_MSEC)

static int on_stagger_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct agent *a = userdata;

	if (a->mesh)
		(void)agent_apply_mesh(a, false, NULL);
	return 0;
}

void agent_schedule_staggered_apply(struct agent *a)
{
	int r;

	if (a->stagger_timer) {
		r = sd_event_source_get_enabled(a->stagger_timer, NULL);
		if (r > 0)
			return; /* one follow-up covers every held-back peer */
		r = sd_event_source_set_time_relative(a->stagger_timer, STAGGER_DELAY_USEC);
		if (r >= 0)
			r = sd_event_source_set_enabled(a->stagger_timer, SD_EVENT_ONESHOT);
	} else
		r = sd_event_add_time_relative(a->event, &a->stagger_timer, CLOCK_MONOTONIC,
					       STAGGER_DELAY_USEC, 0, on_stagger_timer, a);
	if (r < 0)
		log_warning_errno(r, "cannot schedule held-back peers", "err=%m");
}

/* --- identity and start ----------------------------------------------------------------- */

static void on_mesh_daemon_exit(struct mesh *m, void *userdata)
{
	struct agent *a = userdata;
	log_error("WireGuard userspace daemon exited; recreating at the next reconcile");
	agent_reconcile_trigger(a);
}

static int start_mesh(struct agent *a)
{
	const struct config *c = agent_config(a);
	struct mesh_config mc = {
		.ifname = c->mesh.interface,
		.listen_port = (uint16_t)c->mesh.listen_port,
		.mtu = (uint32_t)c->mesh.mtu,
		.keepalive = (uint16_t)(c->mesh.persistent_keepalive / 1000000000),
		.backend = c->mesh.backend == CONFIG_WG_BACKEND_KERNEL	   ? WG_BACKEND_KERNEL
			   : c->mesh.backend == CONFIG_WG_BACKEND_USERSPACE ? WG_BACKEND_USERSPACE
									    : WG_BACKEND_AUTO,
		.userspace_binary = c->mesh.userspace_binary,
	};
	int r;

	r = mesh_new(a->event, &mc, &a->mesh);
	if (r < 0)
		return log_error_errno(r, "cannot create mesh", "err=%m");
	mesh_set_exit_handler(a->mesh, on_mesh_daemon_exit, a);
	r = mesh_start(a->mesh, a->identity->private_key, a->identity->mesh_ip);
	if (r < 0)
		return log_error_errno(r, "cannot bring up the mesh interface", "interface=%s err=%m",
				       c->mesh.interface);
	mesh_set_stagger(a->mesh, a->identity->public_key, true);
	log_info("mesh interface up", "interface=%s backend=%s mesh_ip=%s port=%d",
		 c->mesh.interface, mesh_backend_name(a->mesh), a->identity->mesh_ip_str,
		 c->mesh.listen_port);
	return 0;
}

void agent_identity_ready(struct agent *a, struct identity *id, const struct cp_peer_list *peers)
{
	const struct config *c = agent_config(a);
	char path[4096];
	int r;

	a->identity = id;
	a->desired.signing_keys = id->signing_keys;
	r = api_client_set_identity(a->api, id->node_id, id->node_token, id->nsk);
	if (r < 0) {
		log_error_errno(r, "cannot set API identity", "err=%m");
		manager_exit(a->manager, r);
		return;
	}

	/* §4.1 step 6: cached desired state; a fresh registration seeds peers from its answer
	 * (configured only after the first state fetch brings policies, §4.1). */
	if (peers) {
		if (desired_set_peers_copy(&a->desired, peers, id->node_id) < 0)
			log_oom(); /* the first state fetch brings them again */
		else
			(void)agent_persist_peers(a);
	} else
		(void)desired_load_cache(&a->desired, c->data_dir, id->node_id);

	/* §4.1 step 7: firewall and mesh before any control-plane contact. */
	if (c->policy.enabled) {
		r = policy_firewall_new(&a->firewall);
		if (r < 0) {
			log_error_errno(r, "cannot open nftables", "err=%m");
			manager_exit(a->manager, r);
			return;
		}
	} else
		log_warning("policy disabled: every peer is visible and no firewall table is "
			    "installed (policy.enabled: false)");
	r = start_mesh(a);
	if (r < 0) {
		manager_exit(a->manager, r);
		return;
	}
	(void)agent_apply_mesh(a, false, NULL);

	/* §4.1 step 9: an interrupted rotation is redone after the first CP contact. */
	snprintf(path, sizeof path, "%s/private_key.new", c->data_dir);
	if (access(path, F_OK) == 0) {
		log_warning("interrupted key rotation found; rotating again after contact");
		a->rotation_after_contact = true;
	}

	/* §4.1 step 10: NAT discovery (its result triggers the endpoint report). */
	(void)agent_nat_start(a);
	(void)agent_bridge_start(a);

	r = agent_sync_start(a);
	if (r < 0)
		manager_exit(a->manager, r);
}

static void on_registration_done(int r, struct identity *id, const struct cp_peer_list *peers,
				 void *userdata)
{
	struct agent *a = userdata;

	a->registration = registration_free(a->registration);
	if (r < 0) {
		log_error_errno(r, "registration failed", "err=%m");
		manager_exit(a->manager, r);
		return;
	}
	agent_identity_ready(a, id, peers);
}

static int agent_start(void *userdata)
{
	struct agent *a = userdata;
	const struct config *c = agent_config(a);
	struct identity *id = NULL;
	int r;

	a->started = now_usec(CLOCK_MONOTONIC);
	a->has_binary_checksum = sha256_file("/proc/self/exe", a->binary_checksum) >= 0;
	a->running = true;

	r = identity_load(c->data_dir, &id);
	if (r == 0) {
		log_info("identity loaded", "node_id=%s mesh_ip=%s", id->node_id, id->mesh_ip_str);
		agent_identity_ready(a, id, NULL);
		return 0;
	}
	if (r != -ENOENT)
		return log_error_errno(r, "identity unusable", "data_dir=%s err=%m", c->data_dir);

	struct registration_params p = {
		.config = c,
		.api = a->api,
		.done = on_registration_done,
		.userdata = a,
	};
	r = registration_start(a->event, &p, &a->registration);
	if (r < 0)
		return log_error_errno(r, "cannot start registration", "err=%m");
	return 0;
}

static void agent_stop(void *userdata)
{
	struct agent *a = userdata;

	a->running = false;
	a->registration = registration_free(a->registration);
	agent_sync_stop(a);
	agent_nat_stop(a);
	agent_bridge_stop(a);
	/* agent.md §4.6 step 4 / decision 10: a stop tears the mesh down (fail closed). */
	if (a->mesh) {
		int r = mesh_stop(a->mesh, true);
		if (r < 0)
			log_warning_errno(r, "mesh teardown incomplete", "err=%m");
		else
			log_info("mesh interface removed", "interface=%s",
				 agent_config(a)->mesh.interface);
	}
	if (a->firewall) {
		int r = policy_firewall_teardown(a->firewall);
		if (r < 0)
			log_warning_errno(r, "cannot delete the firewall table", "err=%m");
	}
	/* §4.6 step 7 (D): the identity is now invalid; --purge removes all local data. */
	if (a->deregistered) {
		const struct config *c = agent_config(a);
		(void)identity_remove(c->data_dir);
		if (a->purge) {
			(void)rm_rf(c->data_dir);
			(void)unlink(c->token.file);
			log_info("local data purged", "data_dir=%s", c->data_dir);
		}
	}
}

/* --- status and peers endpoints ---------------------------------------------------------- */

static const char *peer_state(const struct cp_peer *p, const struct wg_peer *dev, bool visible,
			      time_t now)
{
	if (!visible)
		return "hidden";
	if (p->relayed)
		return "relayed";
	if (!dev || dev->last_handshake.tv_sec == 0)
		return "never";
	return now - dev->last_handshake.tv_sec < ACTIVE_HANDSHAKE_SEC ? "active" : "stale";
}

static const struct wg_peer *device_peer(const struct wg_device *d, const uint8_t key[32])
{
	for (size_t i = 0; d && i < d->n_peers; i++)
		if (memcmp(d->peers[i].public_key, key, 32) == 0)
			return &d->peers[i];
	return NULL;
}

static int peers_json(struct agent *a, json_t **ret)
{
	const struct cp_peer_list *pl = &a->desired.peers;
	struct wg_device dev = {};
	struct policy_view v = {};
	time_t now = time(NULL);
	json_t *arr;
	bool have_dev;

	if (!a->identity) {
		*ret = json_array();
		return *ret ? 0 : -ENOMEM;
	}
	if (policy_view_build(a, &v) < 0)
		return -ENOMEM;
	bool *visible = v.visible;
	arr = json_array();
	if (!arr) {
		policy_view_done(&v);
		return -ENOMEM;
	}
	have_dev = a->mesh && mesh_get_device(a->mesh, &dev) >= 0;
	for (size_t i = 0; i < pl->n_peers; i++) {
		const struct cp_peer *p = &pl->peers[i];
		const struct wg_peer *d = have_dev ? device_peer(&dev, p->public_key) : NULL;
		char ip[INET_ADDRSTRLEN], ep[INET6_ADDRSTRLEN + 8] = "", hs[RFC3339_MAX] = "";
		const struct sockaddr_storage *sa = d && d->has_endpoint ? &d->endpoint
						    : p->endpoint.known   ? &p->endpoint.addr
									  : NULL;

		inet_ntop(AF_INET, &p->mesh_ip, ip, sizeof ip);
		if (sa)
			(void)endpoint_format(sa, ep, sizeof ep);
		if (d && d->last_handshake.tv_sec)
			rfc3339_format((struct timestamp){ .sec = d->last_handshake.tv_sec }, 0, hs);
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:s, s:s?, s:I, s:I, s:s, s:b, s:b, s:b}", "id", p->id,
				       "mesh_ip", ip, "endpoint", ep, "last_handshake",
				       *hs ? hs : NULL, "rx_bytes", (json_int_t)(d ? d->rx_bytes : 0),
				       "tx_bytes", (json_int_t)(d ? d->tx_bytes : 0), "state",
				       peer_state(p, d, visible[i], now), "visible", visible[i],
				       "configured", d != NULL, "relayed", p->relayed));
	}
	wg_device_done(&dev);
	policy_view_done(&v);
	*ret = arr;
	return 0;
}

static int handle_peers(struct httpd_request *req, void *userdata)
{
	json_t *arr = NULL;
	int r = peers_json(userdata, &arr);
	if (r < 0)
		return r;
	return httpd_reply_json(req, 200, json_pack("{s:o}", "peers", arr));
}

/* --- deregistration (§4.6, D steps) ------------------------------------------------------- */

#define DEREG_ATTEMPTS 3
#define DEREG_RETRY_USEC (3 * USEC_PER_SEC)

static void dereg_send(struct agent *a);

static int on_dereg_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	dereg_send(userdata);
	return 0;
}

static void on_dereg_done(const struct api_result *res, void *userdata)
{
	struct agent *a = userdata;
	bool ok = res->kind == API_RESULT_OK || res->status == 401 || res->status == 404;

	if (!a->dereg_request && !a->dereg_on_shutdown)
		return;
	if (!ok && ++a->dereg_attempts < DEREG_ATTEMPTS &&
	    (res->kind == API_RESULT_TRANSIENT || res->kind == API_RESULT_RATE_LIMITED)) {
		(void)sd_event_add_time_relative(a->event, &a->dereg_timer, CLOCK_MONOTONIC,
						 DEREG_RETRY_USEC, 0, on_dereg_timer, a);
		return;
	}
	if (!ok) {
		log_error("deregistration failed; node stays registered", "status=%ld detail=\"%s\"",
			  res->status, strempty(res->message));
		if (a->dereg_on_shutdown) {
			/* §4.6 step 3: a shutdown-triggered deregistration continues as a plain
			 * stop and keeps the identity. */
			a->dereg_on_shutdown = false;
			manager_drained(a->manager);
			return;
		}
		(void)httpd_reply_error(a->dereg_request, 502, "control plane unreachable", NULL);
		a->dereg_request = NULL;
		return;
	}
	if (res->kind != API_RESULT_OK)
		log_warning("control plane does not know this node; cleaning up locally");
	log_info("deregistered", "node_id=%s purge=%s", a->identity->node_id, a->purge ? "yes" : "no");
	a->deregistered = true;
	if (a->dereg_on_shutdown) {
		a->dereg_on_shutdown = false;
		manager_drained(a->manager);
		return;
	}
	(void)httpd_reply_json(a->dereg_request, 200,
			       json_pack("{s:s, s:b}", "node_id", a->identity->node_id, "purged",
					 a->purge));
	/* The stop follows once the answer has left (on_dereg_request_closed): stopping now would
	 * tear down the control socket under the reply. */
}

static void dereg_send(struct agent *a)
{
	a->dereg_timer = sd_event_source_disable_unref(a->dereg_timer);
	if (api_deregister(a->api, on_dereg_done, a, NULL) < 0) {
		if (a->dereg_on_shutdown) {
			a->dereg_on_shutdown = false;
			manager_drained(a->manager);
			return;
		}
		(void)httpd_reply_error(a->dereg_request, 500, "cannot send deregistration", NULL);
		a->dereg_request = NULL;
	}
}

/* §4.6: a stop with deregister_on_shutdown: true deregisters first (bounded by the drain). */
static int agent_drain(void *userdata)
{
	struct agent *a = userdata;

	if (!agent_config(a)->deregister_on_shutdown || !a->identity || a->deregistered ||
	    a->dereg_request)
		return 0;
	log_info("deregistering on shutdown (deregister_on_shutdown: true)");
	a->dereg_on_shutdown = true;
	a->dereg_attempts = 0;
	dereg_send(a);
	return a->dereg_on_shutdown ? 1 : 0;
}

static void on_dereg_request_closed(struct httpd_request *req, void *userdata)
{
	struct agent *a = userdata;
	if (a->dereg_request == req)
		a->dereg_request = NULL;
	if (a->deregistered)
		manager_request_stop(a->manager, false);
}

static int handle_deregister(struct httpd_request *req, void *userdata)
{
	struct agent *a = userdata;
	json_t *body = NULL;
	int r;

	if (!a->identity)
		return httpd_reply_error(req, 409, "node is not registered", NULL);
	if (a->dereg_request || a->deregistered)
		return httpd_reply_error(req, 409, "deregistration already running", NULL);
	r = httpd_request_body_json(req, &body);
	if (r == -EINVAL || (body && !json_is_object(body))) {
		json_decref(body);
		return httpd_reply_error(req, 400, "invalid JSON body", NULL);
	}
	a->purge = body && json_is_true(json_object_get(body, "purge"));
	json_decref(body);
	r = httpd_request_defer(req, on_dereg_request_closed, a);
	if (r < 0)
		return r;
	a->dereg_request = req;
	a->dereg_attempts = 0;
	dereg_send(a);
	return 0;
}

static int handle_policies(struct httpd_request *req, void *userdata)
{
	struct agent *a = userdata;
	const struct config *c = agent_config(a);
	_cleanup_(nft_table_state_freep) struct nft_table_state *installed = NULL;
	struct policy_view v = {};
	json_t *j = NULL;
	int r;

	if (!a->identity)
		return httpd_reply_error(req, 503, "node is not registered", NULL);
	r = policy_view_build(a, &v);
	if (r < 0)
		return r;
	if (a->firewall)
		(void)policy_firewall_read(a->firewall, &installed);
	r = policy_status_to_json(c->policy.enabled ? a->ruleset : NULL,
				  a->desired.policies.policies, a->desired.policies.n_policies,
				  &v.nodes, installed,
				  a->firewall ? policy_firewall_state(a->firewall) : "disabled",
				  c->policy.default_verdict == CONFIG_POLICY_VERDICT_ALLOW, &j);
	policy_view_done(&v);
	if (r < 0)
		return r;
	return httpd_reply_json(req, 200, j);
}

static const struct httpd_route agent_routes[] = {
	{ "GET", "/v1/policies", handle_policies, 0, 0, CONTROL_AUTH(PLEXD) },
	{ "GET", "/v1/peers", handle_peers, 0, 0, CONTROL_AUTH(PLEXD) },
	{ "POST", "/v1/deregister", handle_deregister, 0, 0, CONTROL_AUTH(ROOT) },
};

static int agent_status(void *userdata, json_t *status)
{
	struct agent *a = userdata;
	const struct config *c = agent_config(a);
	struct wg_device dev = {};
	size_t configured = 0, active = 0;
	char hb[RFC3339_MAX] = "never";
	time_t now = time(NULL);

	if (!a->identity) {
		json_object_set_new(status, "node", json_pack("{s:b}", "registered", false));
		return 0;
	}
	json_object_set_new(status, "node",
			    json_pack("{s:s, s:s, s:b}", "node_id", a->identity->node_id, "mesh_ip",
				      a->identity->mesh_ip_str, "registered", true));
	if (a->has_last_heartbeat)
		rfc3339_format(a->last_heartbeat, 0, hb);
	agent_update_control_state(a);
	json_object_set_new(status, "control",
			    json_pack("{s:s, s:s, s:i, s:i, s:i}", "state",
				      control_state_to_string(a->control_state), "last_heartbeat", hb,
				      "sse_reconnects", a->stream ? stream_get_reconnects(a->stream) : 0,
				      "events_accepted", a->events_accepted, "events_rejected",
				      a->events_rejected));
	if (a->mesh && mesh_get_device(a->mesh, &dev) >= 0) {
		configured = dev.n_peers;
		for (size_t i = 0; i < dev.n_peers; i++)
			if (dev.peers[i].last_handshake.tv_sec &&
			    now - dev.peers[i].last_handshake.tv_sec < ACTIVE_HANDSHAKE_SEC)
				active++;
	}
	wg_device_done(&dev);
	json_object_set_new(status, "mesh",
			    json_pack("{s:s, s:i, s:I, s:I, s:I, s:s?}", "interface", c->mesh.interface,
				      "port", c->mesh.listen_port, "peers_configured",
				      (json_int_t)configured, "peers_desired",
				      (json_int_t)a->desired.peers.n_peers, "peers_active",
				      (json_int_t)active, "backend",
				      a->mesh ? mesh_backend_name(a->mesh) : NULL));
	(void)agent_nat_status(a, status);
	(void)agent_bridge_status(a, status);
	{
		size_t n_rules = 0;
		for (size_t i = 0; i < a->desired.policies.n_policies; i++)
			n_rules += a->desired.policies.policies[i].n_rules;
		json_object_set_new(status, "policies",
				    json_pack("{s:I, s:I, s:s}", "policies",
					      (json_int_t)a->desired.policies.n_policies, "rules",
					      (json_int_t)n_rules, "firewall",
					      a->firewall ? policy_firewall_state(a->firewall)
							  : "disabled"));
	}
	json_object_set_new(status, "state",
			    json_pack("{s:I, s:I, s:I, s:i, s:i}", "metadata",
				      (json_int_t)a->desired.metadata.n_items, "data",
				      (json_int_t)a->desired.data.n_entries, "secrets",
				      (json_int_t)a->desired.secret_refs.n_refs, "reports", 0,
				      "pending_sync", 0));
	return 0;
}

/* --- subsystem plumbing ------------------------------------------------------------------ */

static int agent_new(struct manager *m, void **ret)
{
	const struct config *c = manager_get_config(m);
	struct agent *a;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->manager = m;
	a->event = sd_event_ref(manager_get_event(m));

	if (!c->api) {
		log_error("config: api: required to run the agent");
		free(a);
		return -EINVAL;
	}
	struct http_client_config hc = {
		.base_url = c->api,
		.ca_file = c->api_client.ca_file,
		.insecure_skip_verify = c->api_client.insecure_skip_verify,
		.allow_insecure_http = c->api_client.allow_insecure_http,
		.connect_timeout = (usec_t)c->api_client.connect_timeout / 1000,
		.request_timeout = (usec_t)c->api_client.request_timeout / 1000,
	};
	if (c->api_client.insecure_skip_verify)
		log_warning("TLS certificate verification is disabled (api_client.insecure_skip_verify)");

	r = api_client_new(a->event, &hc, &a->api);
	if (r >= 0)
		r = nonce_store_new(NONCE_CAPACITY, &a->nonces);
	if (r >= 0) {
		struct control *ctl = manager_get_subsystem(m, "control");
		if (ctl)
			r = control_add_routes(ctl, agent_routes, ELEMENTSOF(agent_routes), a);
	}
	if (r < 0) {
		api_client_free(a->api);
		nonce_store_free(a->nonces);
		sd_event_unref(a->event);
		free(a);
		return r;
	}
	*ret = a;
	return 0;
}

static void *agent_free(void *userdata)
{
	struct agent *a = userdata;

	if (!a)
		return NULL;
	registration_free(a->registration);
	agent_sync_stop(a);
	sd_event_source_disable_unref(a->dereg_timer);
	sd_event_source_disable_unref(a->stagger_timer);
	agent_nat_stop(a);
	nat_free(a->nat);
	relay_free(a->relay);
	policy_ruleset_free(a->ruleset);
	policy_firewall_free(a->firewall);
	stream_free(a->stream);
	mesh_free(a->mesh);
	api_client_free(a->api);
	nonce_store_free(a->nonces);
	desired_done(&a->desired);
	identity_free(a->identity);
	sd_event_unref(a->event);
	explicit_bzero(a->pending_private_key, sizeof a->pending_private_key);
	free(a);
	return NULL;
}

static int agent_reload(void *userdata, const struct config *old, const struct config *new)
{
	struct agent *a = userdata;

	/* reconcile/heartbeat intervals and policy.default are hot-reloadable (§1.6): re-apply
	 * visibility and let the timers pick up the new intervals on their next arm. */
	if (old->policy.default_verdict != new->policy.default_verdict)
		(void)agent_apply_mesh(a, false, NULL);
	return 0;
}

const struct subsystem_ops agent_subsystem_ops = {
	.name = "agent",
	.new = agent_new,
	.start = agent_start,
	.stop = agent_stop,
	.free = agent_free,
	.reload = agent_reload,
	.drain = agent_drain,
	.status = agent_status,
};
