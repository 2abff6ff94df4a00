/* plexcp server: owns the event loop, the store, the signing keys, the node API and admin
 * HTTP servers, the event streams and the heartbeat monitor. Internal to src/plexcp. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "plexcp/store.h"
#include "shared/macro.h"
#include "shared/time-util.h"

struct httpd;
struct httpd_request;
struct stream;
struct delivery;
struct relay_cache;

#define SERVER_STREAM_BUCKETS 1024
#define SSE_LINE_MAX 65535 /* §5.2: longest line the CP may send */
#define BODY_MAX ((size_t)16 * 1024 * 1024)

struct server_config {
	const char *listen; /* host:port */
	const char *db_path;
	const char *tls_cert, *tls_key;
	bool insecure_http;
	const char *admin_socket; /* default: <db dir>/admin.sock */
	const char *artifacts_dir;
	usec_t heartbeat_interval; /* 30 s; unreachable after 3, offline after 10 intervals */
	usec_t keepalive_interval; /* 15 s */
	usec_t signing_transition; /* 24 h */
	unsigned retry_ms;	   /* retry: line of the event stream */
	unsigned max_connections;
	struct store_options store;
};

void server_config_default(struct server_config *c);

struct signing_state {
	uint8_t seed[32];
	uint8_t pub[32];
	bool has_previous;
	uint8_t previous[32];
	int64_t transition_expires;
};

struct server {
	sd_event *event;
	struct server_config cfg;
	char *data_dir;
	char *admin_path;
	struct store *store;
	struct signing_state keys;
	struct httpd *api;
	struct httpd *admin;
	struct stream *streams[SERVER_STREAM_BUCKETS];
	unsigned n_streams;
	/* Events emitted inside a transaction wait here until it commits. */
	struct delivery *pending_first, *pending_last;
	bool in_tx;
	sd_event_source *heartbeat_timer;
	sd_event_source *keepalive_timer;
	sd_event_source *prune_timer;
	sd_event_source *sigterm, *sigint;
	struct relay_cache *relay; /* relay.c: sessions of the store, cached */
};

int server_new(const struct server_config *cfg, struct server **ret);
struct server *server_free(struct server *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct server *, server_free)
int server_run(struct server *s);

/* Realtime clock in usec (the store's time base). */
int64_t server_now(void);

/* Transactions that also hold back event delivery until the commit is durable. */
int server_tx_begin(struct server *s);
int server_tx_commit(struct server *s);
void server_tx_rollback(struct server *s);

/* Signs, logs and delivers one event to node_id (payload reference is consumed). With seed
 * NULL the current signing key is used. */
int server_emit(struct server *s, const char *node_id, const char *event_type, json_t *payload);
int server_emit_signed_by(struct server *s, const char *node_id, const char *event_type, json_t *payload,
			  const uint8_t seed[32]);

/* The Peer object (§8.2) of peer as seen by viewer (pair PSK included). */
json_t *server_peer_json(struct server *s, const char *viewer, const struct store_node *peer);
/* Peer list of node id: every other live node that is not offline. */
json_t *server_peers_json(struct server *s, const char *id);
/* Sends a Peer event (peer_added, peer_key_rotated, peer_endpoint_changed) about subject to
 * every other live node. */
int server_fanout_peer_event(struct server *s, const struct store_node *subject, const char *type);
int server_fanout_peer_removed(struct server *s, const char *subject_id);
/* policy_updated with the full set to every live node. */
int server_fanout_policies(struct server *s);
json_t *server_policies_json(struct server *s);
json_t *server_signing_keys_json(struct server *s);
/* StateResponse (§4.8) of node id: peers and policies always present. */
json_t *server_state_json(struct server *s, const char *id);
/* node_state_updated / node_secrets_updated for one node. */
int server_emit_node_state(struct server *s, const char *id);
int server_emit_node_secrets(struct server *s, const char *id);
/* Signing key rotation (§6.6). */
int server_rotate_signing_key(struct server *s);
/* Removes a node: deregistration, peer_removed to the others, stream closed. */
int server_remove_node(struct server *s, const char *id);

/* Event streams (events.c). */
int stream_attach(struct server *s, struct httpd_request *req, const char *node_id,
		  const char *last_event_id);
void streams_close_node(struct server *s, const char *node_id);
void streams_free_all(struct server *s);
int streams_keepalive(struct server *s);
bool streams_connected(struct server *s, const char *node_id);
/* Writes one framed event (or queues it inside a transaction). */
void deliver_event(struct server *s, const char *node_id, const char *frame, size_t len);
void deliveries_flush(struct server *s);
void deliveries_drop(struct server *s);

/* Route tables (handlers.c, admin.c). */
int api_start(struct server *s);
int admin_start(struct server *s);
/* Heartbeat monitor tick (handlers.c). */
int heartbeat_monitor(struct server *s);

/* Helpers shared by handlers. */
int reply_json_error(struct httpd_request *req, unsigned status, const char *code, const char *fmt, ...)
	_printf_(4, 5);
char *format_mesh_ip(uint32_t ip, char buf[16]);
int random_id(const char *prefix, size_t nbytes, char *out, size_t size);
