/* Internal state of the agent subsystem, shared by agent.c (lifecycle, mesh, status),
 * agent-events.c (event verification and dispatch) and agent-sync.c (reconcile, heartbeat,
 * key rotation, re-authentication). Not for other modules. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "controlplane/api.h"
#include "controlplane/stream.h"
#include "core/desired.h"
#include "core/drift.h"
#include "shared/backoff.h"

struct config;
struct identity;
struct manager;
struct mesh;
struct nat;
struct relay;
struct policy_firewall;
struct policy_ruleset;
struct nonce_store;
struct registration;
struct control;
struct httpd_request;

enum control_state {
	CONTROL_STATE_OFFLINE,
	CONTROL_STATE_CONNECTED,
	CONTROL_STATE_POLLING,
	CONTROL_STATE_UNAUTHORIZED,
};
const char *control_state_to_string(enum control_state s);

struct agent {
	struct manager *manager;
	sd_event *event;
	struct api_client *api;
	struct registration *registration;
	struct identity *identity;
	struct nonce_store *nonces;
	struct stream *stream;
	struct mesh *mesh;
	struct nat *nat; /* NULL with nat_traversal.enabled: false */
	struct relay *relay; /* bridge mode with bridge.relay.enabled */
	struct http_request *endpoint_request;
	struct desired desired;
	sd_event_source *stagger_timer; /* follow-up apply of held-back peers */
	struct policy_firewall *firewall; /* NULL with policy.enabled: false */
	struct policy_ruleset *ruleset;   /* last compiled ruleset (status, skipped rules) */
	bool running;

	/* reconcile (agent.md §5.6): single flight, triggers coalesce into one follow-up */
	sd_event_source *reconcile_timer;
	struct http_request *state_request;
	bool reconcile_pending;
	unsigned reconcile_count;
	unsigned reconcile_failures;

	/* heartbeat (§5.7) */
	sd_event_source *heartbeat_timer;
	struct http_request *heartbeat_request;
	unsigned heartbeat_failures;
	usec_t heartbeat_skip_until; /* 429: CLOCK_MONOTONIC */
	struct timestamp last_heartbeat;
	bool has_last_heartbeat;
	enum control_state control_state;
	bool credential_rejected; /* 401 without a bootstrap token to re-register with */
	bool degraded;
	usec_t last_skew_warning; /* CLOCK_MONOTONIC */

	/* mesh key rotation (§5.8) */
	struct http_request *rotate_request;
	sd_event_source *rotate_timer;
	struct backoff rotate_backoff;
	uint8_t pending_private_key[32];
	bool rotation_pending;     /* private_key.new exists / rotation in progress */
	bool rotation_after_contact; /* leftover private_key.new at start (§4.1 step 9) */
	usec_t last_rotation;      /* CLOCK_MONOTONIC of the last finished rotation */

	/* re-authentication (control-plane-api.md §2.9) */
	bool reauth_running;

	/* events */
	unsigned events_accepted;
	unsigned events_rejected;

	/* drift reports in flight are fire-and-forget */
	struct http_request *drift_request;

	/* explicit deregistration (§4.6) via the control socket */
	struct httpd_request *dereg_request;
	sd_event_source *dereg_timer;
	unsigned dereg_attempts;
	bool deregistered;
	bool dereg_on_shutdown;
	bool purge;

	/* binary checksum for heartbeats */
	uint8_t binary_checksum[32];
	bool has_binary_checksum;
	usec_t started;
};

/* agent.c */
int agent_apply_mesh(struct agent *a, bool reconcile, struct drift_list *drift);
void agent_schedule_staggered_apply(struct agent *a);
void agent_update_control_state(struct agent *a);
int agent_persist_peers(struct agent *a);
void agent_identity_ready(struct agent *a, struct identity *id, const struct cp_peer_list *peers);
const struct config *agent_config(const struct agent *a);

/* agent-events.c */
void agent_on_stream_event(struct stream *s, const struct sse_event *ev, void *userdata);
/* Verifies and dispatches one envelope; exposed for tests. 0 when dispatched. */
int agent_handle_envelope(struct agent *a, const char *data, size_t len);

/* agent-nat.c */
int agent_nat_start(struct agent *a);
void agent_nat_stop(struct agent *a);
int agent_nat_status(struct agent *a, json_t *status);
/* NULL before the first discovery. */
bool agent_nat_info(struct agent *a, struct cp_nat_info *ret);

/* agent-bridge.c */
int agent_bridge_start(struct agent *a);
void agent_bridge_stop(struct agent *a);
int agent_bridge_relay_assigned(struct agent *a, json_t *payload);
int agent_bridge_relay_revoked(struct agent *a, json_t *payload);
int agent_bridge_sync(struct agent *a, json_t *relay_config, struct drift_list *drift);
bool agent_bridge_info(struct agent *a, struct cp_bridge_info *ret);
int agent_bridge_status(struct agent *a, json_t *status);

/* agent-sync.c */
void agent_reconcile_trigger(struct agent *a);
int agent_sync_start(struct agent *a);
void agent_sync_stop(struct agent *a);
void agent_rotate_keys(struct agent *a, const char *why);
void agent_reauth(struct agent *a);
void agent_send_drift(struct agent *a, struct drift_list *drift);
extern const struct stream_callbacks agent_stream_callbacks;
