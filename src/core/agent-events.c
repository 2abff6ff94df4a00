/* Event handling (agent.md §4.5): every event is verified (control-plane-api.md §6.4) before a
 * handler from the dispatch table sees it; payloads are parsed into typed structs at the edge.
 * A handler failure is logged and never closes the stream. */
#define LOG_COMPONENT "events"

#include <jansson.h>

#include "config/config.h"
#include "controlplane/envelope.h"
#include "controlplane/nonce-store.h"
#include "core/agent-internal.h"
#include "core/identity.h"
#include "shared/json-util.h"
#include "shared/log.h"
#include "shared/wire.h"

struct event_handler {
	const char *type;
	int (*handle)(struct agent *a, json_t *payload);
	bool bridge_only;
};

/* The device first: an event's latency is the time until the tunnel changes; the cache
 * write (with its fsyncs) follows, and a crash in between is healed by the next reconcile. */
static int persist_and_apply(struct agent *a)
{
	int k = agent_apply_mesh(a, false, NULL);
	int r = agent_persist_peers(a);
	return k < 0 ? k : r;
}

static int on_peer_upsert(struct agent *a, json_t *payload)
{
	struct cp_peer p = {};
	struct json_error e = {};
	int r;

	r = cp_peer_from_json(payload, &p, &e);
	if (r < 0)
		return log_warning_errno(r, "invalid peer in event, ignoring", "error=\"%s\"", e.text);
	if (a->identity && streq(p.id, a->identity->node_id)) {
		cp_peer_done(&p);
		return 0;
	}
	r = desired_peer_upsert(&a->desired, &p);
	log_info("peer updated from event", "peer=%s changed=%s", p.id, r > 0 ? "yes" : "no");
	cp_peer_done(&p);
	if (r <= 0)
		return r;
	return persist_and_apply(a);
}

static const char *peer_id_of(json_t *payload)
{
	const char *id = json_string_value(json_object_get(payload, "peer_id"));
	if (!id)
		id = json_string_value(json_object_get(payload, "id"));
	return id && id_is_valid(id) ? id : NULL;
}

static int on_peer_removed(struct agent *a, json_t *payload)
{
	const char *id = peer_id_of(payload);

	if (!id)
		return log_warning_errno(-EINVAL, "peer_removed without a valid peer_id, ignoring");
	if (desired_peer_remove(&a->desired, id) <= 0)
		return 0;
	log_info("peer removed from event", "peer=%s", id);
	return persist_and_apply(a);
}

/* §7.2 / A5: only the endpoint of a known peer changes; other fields are ignored. */
static int on_peer_endpoint_changed(struct agent *a, json_t *payload)
{
	const char *id = peer_id_of(payload);
	const char *ep = json_string_value(json_object_get(payload, "endpoint"));
	struct cp_peer *p;
	struct sockaddr_storage sa;

	if (!id || !ep)
		return log_warning_errno(-EINVAL, "peer_endpoint_changed without id/endpoint, ignoring");
	p = desired_peer_find(&a->desired, id);
	if (!p || !*ep) {
		log_debug("endpoint for unknown peer or empty endpoint, ignoring", "peer=%s", id);
		return 0;
	}
	if (endpoint_parse(ep, &sa) < 0)
		return log_warning_errno(-EINVAL, "peer endpoint is not IP:port, ignoring",
					 "peer=%s endpoint=%s", id, ep);
	p->endpoint.known = true;
	p->endpoint.addr = sa;
	p->relayed = json_is_true(json_object_get(payload, "relayed"));
	log_info("peer endpoint changed", "peer=%s endpoint=%s relayed=%s", id, ep,
		 p->relayed ? "yes" : "no");
	return persist_and_apply(a);
}

static int on_policy_updated(struct agent *a, json_t *payload)
{
	json_t *arr = json_object_get(payload, "policies");
	struct cp_policy_list l = {};
	struct json_error e = {};
	int r;

	if (!arr || json_is_null(arr)) {
		agent_reconcile_trigger(a);
		return 0;
	}
	r = cp_policy_list_from_json(arr, "policies", &l, &e);
	if (r < 0) {
		log_warning("unparsable policy_updated payload, reconciling instead", "error=\"%s\"",
			    e.text);
		agent_reconcile_trigger(a);
		return 0;
	}
	r = desired_set_policies(&a->desired, &l, NULL);
	if (r < 0)
		return r;
	log_info("policies updated from event", "count=%zu", a->desired.policies.n_policies);
	(void)desired_save_policies(&a->desired, agent_config(a)->data_dir);
	return agent_apply_mesh(a, false, NULL);
}

static int on_rotate_keys(struct agent *a, json_t *payload)
{
	const char *why = json_string_value(json_object_get(payload, "reason"));
	agent_rotate_keys(a, why ? why : "rotate_keys event");
	return 0;
}

static int on_signing_key_rotated(struct agent *a, json_t *payload)
{
	struct signing_keys k;
	char err[256];
	int r;

	r = signing_keys_from_json(payload, &k, err, sizeof err);
	if (r < 0)
		return log_warning_errno(r, "invalid signing_key_rotated payload, ignoring",
					 "error=\"%s\"", err);
	/* §6.6 step 5: previous is the key being replaced — never whatever the payload names —
	 * and it stays valid only until transition_expires (without one: never). */
	if (memcmp(k.current, a->identity->signing_keys.current, sizeof k.current) != 0) {
		memcpy(k.previous, a->identity->signing_keys.current, sizeof k.previous);
		k.has_previous = true;
	} else {
		k.has_previous = a->identity->signing_keys.has_previous;
		memcpy(k.previous, a->identity->signing_keys.previous, sizeof k.previous);
	}
	a->identity->signing_keys = k;
	a->desired.signing_keys = k;
	r = identity_save_signing_keys(agent_config(a)->data_dir, &k);
	if (r < 0)
		return r;
	log_info("signing key rotated", "has_previous=%s", k.has_previous ? "yes" : "no");
	return 0;
}

static int on_node_state_updated(struct agent *a, json_t *payload)
{
	struct cp_metadata m = {};
	struct cp_data_list d = {};
	struct json_error e = {};
	int r;

	r = cp_metadata_from_json(json_object_get(payload, "metadata"), "metadata", &m, &e);
	if (r >= 0)
		r = cp_data_list_from_json(json_object_get(payload, "data"), "data", &d, &e);
	if (r < 0) {
		cp_metadata_done(&m);
		return log_warning_errno(r, "invalid node_state_updated payload, ignoring",
					 "error=\"%s\"", e.text);
	}
	cp_metadata_done(&a->desired.metadata);
	cp_data_list_done(&a->desired.data);
	a->desired.metadata = m;
	a->desired.data = d;
	log_info("node state updated", "metadata=%zu data=%zu", m.n_items, d.n_entries);
	return 0;
}

static int on_node_secrets_updated(struct agent *a, json_t *payload)
{
	struct cp_secret_ref_list l = {};
	struct json_error e = {};
	int r;

	r = cp_secret_ref_list_from_json(json_object_get(payload, "secret_refs"), "secret_refs", &l,
					 &e);
	if (r < 0)
		return log_warning_errno(r, "invalid node_secrets_updated payload, ignoring",
					 "error=\"%s\"", e.text);
	cp_secret_ref_list_done(&a->desired.secret_refs);
	a->desired.secret_refs = l;
	log_info("secret index updated", "count=%zu", l.n_refs);
	return 0;
}

/* Actions are not part of this build: answer every request with a rejection so the CP does
 * not wait for a result that will never come (§8.11: a rejected execution gets no result).
 * The ack is retried twice, 2 s apart (control-plane-api.md §2.8: 3 attempts within 10 s). */
struct ack_ctx {
	struct agent *agent;
	char execution_id[129];
	unsigned attempt;
	sd_event_source *timer;
};

static int ack_send(struct ack_ctx *x);

static void ack_ctx_free(struct ack_ctx *x)
{
	sd_event_source_disable_unref(x->timer);
	free(x);
}

static int on_ack_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct ack_ctx *x = userdata;
	if (ack_send(x) < 0)
		ack_ctx_free(x);
	return 0;
}

static void on_ack_sent(const struct api_result *r, void *userdata)
{
	struct ack_ctx *x = userdata;

	if (r->kind == API_RESULT_OK || r->kind == API_RESULT_PERMANENT || ++x->attempt >= 3) {
		if (r->kind != API_RESULT_OK)
			log_warning("execution ack not delivered", "execution_id=%s status=%ld",
				    x->execution_id, r->status);
		ack_ctx_free(x);
		return;
	}
	x->timer = sd_event_source_disable_unref(x->timer);
	if (sd_event_add_time_relative(x->agent->event, &x->timer, CLOCK_MONOTONIC,
				       2 * USEC_PER_SEC, 0, on_ack_timer, x) < 0)
		ack_ctx_free(x);
}

static int ack_send(struct ack_ctx *x)
{
	struct cp_execution_ack ack = { .execution_id = x->execution_id, .accepted = false,
					.reason = "actions_disabled" };
	return api_execution_ack(x->agent->api, &ack, on_ack_sent, x, NULL);
}

static int on_action_request(struct agent *a, json_t *payload)
{
	const char *exec_id = json_string_value(json_object_get(payload, "execution_id"));
	struct ack_ctx *x;
	int r;

	if (!exec_id || !id_is_valid(exec_id)) {
		log_error("action_request without a valid execution_id, ignoring");
		return -EINVAL;
	}
	log_warning("action request rejected: actions are not available in this build",
		    "execution_id=%s", exec_id);
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->agent = a;
	snprintf(x->execution_id, sizeof x->execution_id, "%s", exec_id);
	r = ack_send(x);
	if (r < 0)
		ack_ctx_free(x);
	return r;
}

static int on_reconcile_hint(struct agent *a, json_t *payload)
{
	agent_reconcile_trigger(a);
	return 0;
}

static int on_unsupported(struct agent *a, json_t *payload)
{
	log_warning("event type not supported by this build, ignoring");
	return 0;
}

static const struct event_handler handlers[] = {
	{ "peer_added", on_peer_upsert, false },
	{ "peer_key_rotated", on_peer_upsert, false },
	{ "peer_removed", on_peer_removed, false },
	{ "peer_endpoint_changed", on_peer_endpoint_changed, false },
	{ "policy_updated", on_policy_updated, false },
	{ "rotate_keys", on_rotate_keys, false },
	{ "signing_key_rotated", on_signing_key_rotated, false },
	{ "node_state_updated", on_node_state_updated, false },
	{ "node_secrets_updated", on_node_secrets_updated, false },
	{ "action_request", on_action_request, false },
	{ "ssh_session_setup", on_unsupported, false },
	{ "session_revoked", on_unsupported, false },
	{ "bridge_config_updated", on_reconcile_hint, true },
	{ "user_access_config_updated", on_reconcile_hint, true },
	{ "ingress_config_updated", on_reconcile_hint, true },
	{ "site_to_site_config_updated", on_reconcile_hint, true },
	{ "relay_session_assigned", agent_bridge_relay_assigned, true },
	{ "relay_session_revoked", agent_bridge_relay_revoked, true },
	{ "user_access_peer_assigned", on_unsupported, true },
	{ "user_access_peer_revoked", on_unsupported, true },
	{ "ingress_rule_assigned", on_unsupported, true },
	{ "ingress_rule_revoked", on_unsupported, true },
	{ "site_to_site_tunnel_assigned", on_unsupported, true },
	{ "site_to_site_tunnel_revoked", on_unsupported, true },
};

static const struct event_handler *handler_find(const char *type)
{
	for (size_t i = 0; i < ELEMENTSOF(handlers); i++)
		if (streq(handlers[i].type, type))
			return &handlers[i];
	return NULL;
}

int agent_handle_envelope(struct agent *a, const char *data, size_t len)
{
	struct signing_keys keys = a->identity->signing_keys;
	const struct event_handler *h;
	enum envelope_reject why;
	struct envelope env = {};
	json_t *payload;
	json_error_t jerr;
	int r;

	if (signing_keys_expire(&a->identity->signing_keys, timestamp_now()))
		keys = a->identity->signing_keys;

	r = envelope_verify(data, len, &keys, a->nonces, timestamp_now(), &env, &why);
	if (r < 0) {
		a->events_rejected++;
		log_warning("event rejected", "reason=%s event_type=%.64s event_id=%.128s",
			    envelope_reject_to_string(why), env.event_type, env.event_id);
		return r;
	}
	/* §5.9 rule 2: a key rotation must verify under the current key, not the previous. */
	if (env.by_previous_key && streq(env.event_type, "signing_key_rotated")) {
		a->events_rejected++;
		log_warning("event rejected", "reason=signed_by_previous_key event_type=%s event_id=%s",
			    env.event_type, env.event_id);
		return -EBADMSG;
	}
	a->events_accepted++;
	h = handler_find(env.event_type);
	if (!h) {
		log_debug("unknown event type, ignoring", "event_type=%s event_id=%s",
			  env.event_type, env.event_id);
		return 0;
	}
	if (h->bridge_only && agent_config(a)->mode != CONFIG_MODE_BRIDGE) {
		log_debug("bridge event on a node, ignoring", "event_type=%s", env.event_type);
		return 0;
	}
	payload = env.payload ? json_loadb(env.payload, env.payload_len, 0, &jerr) : json_object();
	if (!payload || !json_is_object(payload)) {
		json_decref(payload);
		log_warning("event payload is not an object, ignoring", "event_type=%s event_id=%s",
			    env.event_type, env.event_id);
		return -EINVAL;
	}
	log_debug("event", "event_type=%s event_id=%s", env.event_type, env.event_id);
	r = h->handle(a, payload);
	json_decref(payload);
	if (r < 0)
		log_warning("event handler failed", "event_type=%s event_id=%s err=%d",
			    env.event_type, env.event_id, r);
	return 0;
}

void agent_on_stream_event(struct stream *s, const struct sse_event *ev, void *userdata)
{
	struct agent *a = userdata;

	if (!a->identity)
		return;
	(void)agent_handle_envelope(a, ev->data, ev->data_len);
}
