/* Bridge mode (agent.md §5.21): the NAT relay of §5.21.2, fed by relay_session_assigned /
 * relay_session_revoked events and the state's relay_config, and the bridge heartbeat and
 * status blocks. Other bridge components (user access, ingress, site-to-site) are not part of
 * this build. */
#define LOG_COMPONENT "bridge"

#include <stdio.h>

#include "bridge/relay.h"
#include "config/config.h"
#include "core/agent-internal.h"
#include "shared/json-util.h"
#include "shared/log.h"
#include "shared/wire.h"

/* RelaySessionAssignment (control-plane-api.md §8.16) at the edge. `relay_port` is an
 * extension of this implementation: the per-session port the CP picked from the range the
 * bridge announced (agent.md §5.21.2 rule 2); absent = the shared socket. */
static int parse_assignment(json_t *j, struct relay_assignment *ret, struct json_error *e)
{
	struct relay_assignment x = {};
	const char *a, *b, *id;
	struct sockaddr_storage sa, sb;
	int64_t port = 0;
	int r;

	if (!json_is_object(j)) {
		json_error_set(e, "must be an object");
		return -EINVAL;
	}
	if (json_get_id(j, "session_id", true, &id, e) < 0 ||
	    json_get_string(j, "peer_a_endpoint", true, &a, e) < 0 ||
	    json_get_string(j, "peer_b_endpoint", true, &b, e) < 0)
		return -EINVAL;
	if (endpoint_parse(a, &sa) < 0 || sa.ss_family != AF_INET) {
		json_error_set(e, "peer_a_endpoint: must be IPv4:port");
		return -EINVAL;
	}
	if (endpoint_parse(b, &sb) < 0 || sb.ss_family != AF_INET) {
		json_error_set(e, "peer_b_endpoint: must be IPv4:port");
		return -EINVAL;
	}
	r = json_get_timestamp(j, "expires_at", false, &x.expires_at, e);
	if (r < 0 && r != -ENOENT)
		return -EINVAL;
	x.has_expires_at = r == 0;
	r = json_get_int(j, "relay_port", false, 0, 65535, &port, e);
	if (r < 0 && r != -ENOENT)
		return -EINVAL;
	x.session_id = id;
	memcpy(&x.peer_a, &sa, sizeof x.peer_a);
	memcpy(&x.peer_b, &sb, sizeof x.peer_b);
	x.port = (uint16_t)port;
	*ret = x;
	return 0;
}

int agent_bridge_start(struct agent *a)
{
	const struct config *c = agent_config(a);
	int r;

	if (c->mode != CONFIG_MODE_BRIDGE)
		return 0;
	if (!c->bridge.relay.enabled) {
		log_info("bridge mode without relay (bridge.relay.enabled: false)");
		return 0;
	}
	struct relay_config rc = {
		.listen_port = (uint16_t)c->bridge.relay.listen_port,
		.session_port_base = (uint16_t)c->bridge.relay.session_port_base,
		.max_sessions = (unsigned)c->bridge.relay.max_sessions,
		.session_ttl = (usec_t)c->bridge.relay.session_ttl / 1000,
	};
	r = relay_new(a->event, &rc, &a->relay);
	if (r >= 0)
		r = relay_start(a->relay);
	if (r < 0) {
		/* §5.21: components fail independently; the mesh keeps running. */
		a->relay = relay_free(a->relay);
		a->degraded = true;
		return log_error_errno(r, "relay unavailable", "port=%d err=%m",
				       c->bridge.relay.listen_port);
	}
	log_info("relay listening", "port=%d session_ports=%d+%d", c->bridge.relay.listen_port,
		 c->bridge.relay.session_port_base, c->bridge.relay.max_sessions);
	return 0;
}

void agent_bridge_stop(struct agent *a)
{
	if (a->relay)
		relay_stop(a->relay);
}

int agent_bridge_relay_assigned(struct agent *a, json_t *payload)
{
	struct relay_assignment x;
	struct json_error e = {};
	int r;

	if (!a->relay)
		return log_warning_errno(-ENOTCONN, "relay session assigned but the relay is off");
	r = parse_assignment(payload, &x, &e);
	if (r < 0)
		return log_error_errno(r, "invalid relay session assignment", "error=\"%s\"", e.text);
	r = relay_session_assign(a->relay, &x);
	if (r < 0)
		return log_error_errno(r, "relay session rejected", "session=%s err=%m",
				       x.session_id);
	log_info(r == 0 ? "relay session added" : "relay session refreshed", "session=%s port=%u",
		 x.session_id, x.port);
	return 0;
}

int agent_bridge_relay_revoked(struct agent *a, json_t *payload)
{
	const char *id = json_string_value(json_object_get(payload, "session_id"));

	if (!id || !id_is_valid(id))
		return log_warning_errno(-EINVAL, "relay_session_revoked without a session_id");
	if (a->relay && relay_session_revoke(a->relay, id) >= 0)
		log_info("relay session removed", "session=%s", id);
	return 0; /* unknown ids are no-ops (§7.1) */
}

/* state relay_config: the complete desired session set. */
int agent_bridge_sync(struct agent *a, json_t *relay_config, struct drift_list *drift)
{
	json_t *arr, *el;
	struct relay_assignment *x = NULL;
	size_t n = 0, i, before;
	int failed;

	if (!a->relay || !relay_config)
		return 0;
	arr = json_object_get(relay_config, "sessions");
	if (arr && !json_is_array(arr) && !json_is_null(arr))
		return log_warning_errno(-EINVAL, "relay_config.sessions is not an array, ignoring");
	x = calloc(json_array_size(arr) + 1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	json_array_foreach(arr, i, el)
	{
		struct json_error e = {};
		if (parse_assignment(el, &x[n], &e) < 0) {
			log_error("invalid relay session in state, skipped", "index=%zu error=\"%s\"",
				  i, e.text);
			continue;
		}
		n++;
	}
	before = relay_session_count(a->relay);
	failed = relay_sessions_sync(a->relay, x, n);
	free(x);
	if (drift && relay_session_count(a->relay) != before)
		(void)drift_add(drift, relay_session_count(a->relay) > before ? "relay_session_added"
									       : "relay_session_removed",
				"relay sessions %zu -> %zu", before, relay_session_count(a->relay));
	return failed > 0 ? -EIO : 0;
}

bool agent_bridge_info(struct agent *a, struct cp_bridge_info *ret)
{
	const struct config *c = agent_config(a);

	if (c->mode != CONFIG_MODE_BRIDGE)
		return false;
	*ret = (struct cp_bridge_info){
		.enabled = true,
		.access_interface = c->bridge.access_interface,
		.relay_enabled = a->relay != NULL,
		.active_relay_sessions = a->relay ? (int64_t)relay_session_count(a->relay) : 0,
	};
	return true;
}

int agent_bridge_status(struct agent *a, json_t *status)
{
	json_t *relay = NULL;

	if (agent_config(a)->mode != CONFIG_MODE_BRIDGE)
		return 0;
	if (a->relay && relay_status_json(a->relay, &relay) < 0)
		return -ENOMEM;
	return json_object_set_new(status, "bridge",
				   json_pack("{s:I, s:i, s:i, s:i, s:o?}", "relay_sessions",
					     (json_int_t)(a->relay ? relay_session_count(a->relay)
								   : 0),
					     "user_access_peers", 0, "ingress_rules", 0,
					     "s2s_tunnels", 0, "relay", relay));
}
