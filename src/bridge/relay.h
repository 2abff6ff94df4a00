/* Bridge NAT relay (agent.md §5.21.2, decisions 21–22): forwards UDP datagrams between the two
 * peers of a CP-assigned session byte for byte, without decrypting them. One socket per session
 * on its relay port (with address latching for symmetric NATs), or the shared listen_port socket
 * for assignments without a port (exact source matching there). */
#pragma once

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "shared/time-util.h"

struct relay;

struct relay_config {
	uint16_t listen_port; /* shared socket (bridge.relay.listen_port); 0 = no shared socket */
	uint16_t session_port_base; /* per-session ports base … base + max_sessions − 1 */
	unsigned max_sessions;
	usec_t session_ttl;
	struct in_addr bind_address; /* INADDR_ANY in the daemon; tests bind loopback */
};

/* One RelaySessionAssignment (control-plane-api.md §8.16), already parsed. */
struct relay_assignment {
	const char *session_id;
	struct sockaddr_in peer_a, peer_b;
	bool has_expires_at;
	struct timestamp expires_at;
	uint16_t port; /* 0: shared socket on listen_port */
};

struct relay_session_stats {
	uint64_t packets_a_to_b, bytes_a_to_b;
	uint64_t packets_b_to_a, bytes_b_to_a;
	struct sockaddr_in current_a, current_b; /* after latching */
	usec_t expires_in;
};

int relay_new(sd_event *event, const struct relay_config *c, struct relay **ret);
/* Binds the shared socket (if listen_port != 0). */
int relay_start(struct relay *r);
/* Closes every socket and drops all sessions. */
void relay_stop(struct relay *r);
struct relay *relay_free(struct relay *r);

/* Adds a session (returns 0) or refreshes an existing id (returns 1: new expiry, endpoints and
 * port taken from the assignment; counters kept). Errors, the session table unchanged:
 *   -EINVAL      bad id, non-IPv4 or zero endpoints, peer_a == peer_b
 *   -ETIME       expires_at not in the future
 *   -ERANGE      port outside the announced range
 *   -ENOSPC      max_sessions active
 *   -EADDRINUSE  port used by another session, or (shared socket) an endpoint that already
 *                belongs to another shared session
 *   -ENOTCONN    port 0 but no shared socket
 *   other        socket/bind errors */
int relay_session_assign(struct relay *r, const struct relay_assignment *a);
/* -ENOENT when unknown. */
int relay_session_revoke(struct relay *r, const char *session_id);
/* RelayConfig.sessions is the complete desired set: assigns each entry and revokes sessions not
 * listed. Returns the number of entries that failed (each logged at error). */
int relay_sessions_sync(struct relay *r, const struct relay_assignment *a, size_t n);

size_t relay_session_count(const struct relay *r);
int relay_session_stats(const struct relay *r, const char *session_id,
			struct relay_session_stats *ret);
/* Datagrams dropped because their source matched no session (or no peer of the session). */
uint64_t relay_dropped(const struct relay *r);
/* {"listen_port":n,"active_sessions":n,"dropped_packets":n,"sessions":[{"session_id","port",
 *  "peer_a","peer_b","packets_a_to_b","bytes_a_to_b","packets_b_to_a","bytes_b_to_a",
 *  "expires_in_sec"}]} */
int relay_status_json(const struct relay *r, json_t **ret);

/* Pure: §5.21.2 rule 5 lifetime. now_real is wall-clock time. -ETIME when already expired. */
int relay_lifetime(usec_t session_ttl, bool has_expires_at, struct timestamp expires_at,
		   struct timestamp now_real, usec_t *ret);

static inline void relay_freep(struct relay **r)
{
	relay_free(*r);
}
