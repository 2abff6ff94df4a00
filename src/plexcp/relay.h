/* plexcp relay assignment (control-plane-api.md §7.3, §8.16; agent.md §5.4, §5.21.2): pairs of
 * nodes that both sit behind symmetric NATs are routed through a bridge relay. Pure planning
 * (which pairs need a relay, which port) plus the glue that persists sessions and emits events. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plexcp/store.h"

struct server;

/* Sessions live this long after their last refresh (§8.16: the bridge keeps at most 5 min). */
#define RELAY_SESSION_LIFETIME_USEC (INT64_C(300) * 1000000)
/* A session is refreshed (and re-announced to its bridge) at most this often. */
#define RELAY_REFRESH_AFTER_USEC (INT64_C(60) * 1000000)

/* A registered bridge that can relay: metadata relay=true and a reported public endpoint. */
struct relay_bridge {
	const char *id;
	char ip[STORE_ENDPOINT_MAX]; /* public address of its E7 endpoint, without the port */
	uint16_t listen_port;	     /* shared socket (relay_listen_port) */
	uint16_t port_base;	     /* relay_session_port_base; 0 = per-session ports unsupported */
	unsigned max_sessions;	     /* relay_max_sessions */
};

enum relay_action_kind {
	RELAY_ACTION_CREATE,   /* nodes[a] and nodes[b] through bridges[bridge] on port */
	RELAY_ACTION_REFRESH,  /* sessions[session]: new endpoints of its peers and a new expiry */
	RELAY_ACTION_WITHDRAW, /* sessions[session] is no longer needed (or no longer possible) */
};

struct relay_action {
	enum relay_action_kind kind;
	size_t session;
	size_t a, b, bridge;
	uint16_t port;
};

/* Pure. True when a direct path between the two NAT types is hopeless: both symmetric. */
bool relay_pair_needed(const char *nat_a, const char *nat_b);
/* Pure. node is a relay-capable bridge (metadata relay/relay_* keys, live, endpoint known, not
 * itself behind a symmetric NAT): fills ret (ret->id points into node). -ENOENT otherwise. */
int relay_bridge_from_node(const struct store_node *node, struct relay_bridge *ret);
/* Pure. The lowest free per-session port of bridge b, given the sessions in use (only those of
 * b count) and extra ports already promised (extra may be NULL). -ENOSPC when the range is full,
 * -EOPNOTSUPP when b has no per-session range. */
int relay_port_pick(const struct relay_bridge *b, const struct store_relay_session *sessions, size_t n_sessions,
		    const uint16_t *extra, size_t n_extra, uint16_t *ret);
/* Pure. Decides what to do at time now:
 *  - every session whose peers are gone, no longer both symmetric, whose bridge is gone or
 *    which expired is withdrawn;
 *  - a surviving session involving focus (every session when focus is NULL) is refreshed when
 *    a peer endpoint changed or it was last refreshed RELAY_REFRESH_AFTER_USEC ago;
 *  - every live pair involving focus (every pair when NULL) that needs a relay and has none gets
 *    one on the first bridge with a free port (no bridge: nothing, the next report retries).
 * nodes are the live nodes (status tells offline). *ret is malloc'd (may be NULL when *ret_n is 0). */
int relay_plan(const struct store_node *nodes, size_t n_nodes, const struct relay_bridge *bridges, size_t n_bridges,
	       const struct store_relay_session *sessions, size_t n_sessions, const char *focus, int64_t now,
	       struct relay_action **ret, size_t *ret_n);

/* Glue, called inside the handler's transaction. */
/* After E7 stored node_id's endpoint and NAT type: assign, refresh or withdraw its sessions. */
int relay_node_reported(struct server *s, const char *node_id);
/* After a heartbeat: keeps node_id's sessions alive (no work when it has none). */
int relay_node_heartbeat(struct server *s, const char *node_id);
/* True when the pair {a, b} currently goes through a relay (E7 answers then leave it out). */
bool relay_pair_active(struct server *s, const char *a, const char *b);
/* Peer object hook: when viewer reaches peer_id through a relay, endpoint := relay endpoint and
 * relayed := true. */
int relay_peer_view(struct server *s, const char *viewer, const char *peer_id, json_t *peer);
/* State hook: relay_config (the complete session set) for relay-capable bridges. */
int relay_state_extend(struct server *s, const char *node_id, json_t *state);
/* The in-memory session cache is rebuilt from the store at the next use (after a rollback). */
void relay_cache_invalidate(struct server *s);
void relay_cache_free(struct server *s);
