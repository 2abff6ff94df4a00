/* NAT discovery and classification on sd-event (agent.md §5.2): STUN Binding requests from the
 * WireGuard listen port, retransmission, two-server classification, periodic refresh, the
 * cache/nat.json file and the status block. The caller gets each result through a callback and
 * does the endpoint report (E7) and peer endpoint application itself. */
#pragma once

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "shared/time-util.h"

struct nat;

/* Same order and strings as the wire's nat_type (control-plane-api.md §8.9). */
enum nat_type {
	NAT_TYPE_NONE,
	NAT_TYPE_FULL_CONE,
	NAT_TYPE_SYMMETRIC,
	NAT_TYPE_UNKNOWN,
	_NAT_TYPE_MAX,
};
const char *nat_type_to_string(enum nat_type t);
int nat_type_from_string(const char *s, enum nat_type *ret);

/* How requests leave from the listen port. */
enum nat_transport {
	NAT_TRANSPORT_AUTO, /* raw; if raw sockets are refused, a plain UDP socket once */
	NAT_TRANSPORT_RAW,  /* raw only (§5.2 rule 2); failure to open is an error */
	NAT_TRANSPORT_UDP,  /* a UDP socket bound to the listen port: one discovery, no refresh */
};

struct nat_result {
	struct sockaddr_in endpoint; /* address A of §5.2 rule 4 */
	enum nat_type type;
	struct timestamp discovered_at;
};

struct nat_config {
	uint16_t listen_port;
	/* "host:port" (agent.md §1.2), at most 8. IPv4 literals are used as they are; host names
	 * are resolved asynchronously (getaddrinfo_a, AF_INET) at every discovery, bounded by
	 * timeout; IPv6 literals and names without an IPv4 address are skipped. */
	char *const *stun_servers;
	size_t n_stun_servers;
	usec_t timeout;		 /* per server, resolution included */
	usec_t refresh_interval; /* start to start */
	const char *cache_path;	 /* <data_dir>/cache/nat.json, or NULL */
	enum nat_transport transport;
	/* Tests: use these as the node's own addresses instead of getifaddrs(). */
	const struct in_addr *local_addresses;
	size_t n_local_addresses;
};

/* Called after every discovery cycle. error == 0: r is the new result, changed says whether
 * endpoint or type differ from the previous one (first result counts as changed); the caller
 * sends E7 now. error < 0: all servers failed; r is the kept previous result or NULL.
 * The callback may call nat_stop() or nat_refresh_now(), but must not free the object. */
typedef void (*nat_result_fn)(struct nat *n, int error, const struct nat_result *r, bool changed,
			      void *userdata);

/* Validates and copies the configuration; loads a previous result from cache_path if present. */
int nat_new(sd_event *event, const struct nat_config *c, nat_result_fn cb, void *userdata,
	    struct nat **ret);
/* Opens the transport and starts the first discovery at once. With NAT_TRANSPORT_AUTO and no
 * CAP_NET_RAW this binds a UDP socket to the listen port, so call it before WireGuard binds the
 * port; the socket is closed after that single discovery (warning: refresh disabled). */
int nat_start(struct nat *n);
/* Stops timers and I/O; a result is kept. nat_start() may be called again. */
void nat_stop(struct nat *n);
struct nat *nat_free(struct nat *n);
/* Runs a discovery now unless one is in progress (e.g. after a network change). */
int nat_refresh_now(struct nat *n);
/* True while the UDP fallback socket holds the listen port (NAT_TRANSPORT_AUTO without
 * CAP_NET_RAW, or NAT_TRANSPORT_UDP): bring WireGuard up only after the first callback. */
bool nat_holds_listen_port(const struct nat *n);
/* -ENODATA until a discovery (or the cache) produced a result. */
int nat_get_result(const struct nat *n, struct nat_result *ret);
/* {"endpoint": "ip:port"|null, "type": "..."|null, "discovered_at": "..."|null,
 *  "transport": "raw"|"udp"|"off", "refresh": bool} */
int nat_status_json(const struct nat *n, json_t **ret);

/* Pure: §5.2 rule 5 / decision 19. b is NULL when no second server answered. */
enum nat_type nat_classify(const struct sockaddr_in *a, const struct sockaddr_in *b,
			   uint16_t listen_port, const struct in_addr *local, size_t n_local);
/* Pure: nat.json content ({endpoint, nat_type, discovered_at}) and its parser. */
int nat_result_to_json(const struct nat_result *r, char **ret);
int nat_result_from_json(const char *s, size_t len, struct nat_result *ret);

static inline void nat_freep(struct nat **n)
{
	nat_free(*n);
}
