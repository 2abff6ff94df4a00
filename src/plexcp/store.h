/* plexcp persistent state. The interface is backend-neutral (typed structs in and out, no SQL
 * and no sqlite types) so that another database can implement it; store.c is the SQLite one.
 * Every mutating call is durable when it returns (or when store_commit() returns inside an
 * explicit transaction), so a handler may acknowledge a request right after it.
 * Times are microseconds since the Unix epoch (CLOCK_REALTIME) and are passed in by the caller,
 * which keeps the store deterministic under test. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/macro.h"

#define STORE_ID_MAX 128
#define STORE_KEY_LEN 32

struct store;

struct store_options {
	/* A released mesh IP is not handed out again before this much time has passed. */
	int64_t ip_cooldown_usec;
	/* Event log: an event is pruned only when it is older than event_min_age_usec AND more
	 * than event_min_count newer events exist for the node (§5.4: ≥ 5 min and ≥ 256). */
	int64_t event_min_age_usec;
	unsigned event_min_count;
	/* metrics/logs/audit/drift/...: per node and kind keep at most record_max_count entries
	 * and none older than record_max_age_usec (0 = no age bound). */
	unsigned record_max_count;
	int64_t record_max_age_usec;
};

/* Defaults: cooldown 1 h, events 5 min / 256, records 10000 / 7 days. */
void store_options_default(struct store_options *o);

enum node_status {
	NODE_STATUS_REGISTERED,
	NODE_STATUS_ONLINE,
	NODE_STATUS_UNREACHABLE,
	NODE_STATUS_OFFLINE,
	NODE_STATUS_DEREGISTERED,
	_NODE_STATUS_MAX,
};
const char *node_status_to_string(enum node_status s);

struct store_node {
	char id[STORE_ID_MAX + 1];
	char *hostname;
	uint8_t public_key[STORE_KEY_LEN];
	uint32_t mesh_ip; /* host byte order */
	char *metadata_json;	 /* JSON object string->string, never NULL after a get ("{}") */
	char *capabilities_json; /* JSON object or NULL */
	uint8_t token_hash[STORE_KEY_LEN];
	uint8_t nsk[STORE_KEY_LEN];
	enum node_status status;
	int64_t last_heartbeat; /* 0 = never */
	char *heartbeat_json;	/* last heartbeat body, NULL if none */
	char *endpoint;		/* "" when unknown */
	char *nat_type;		/* "" when unknown */
	int64_t registered_at;
	int64_t deregistered_at; /* 0 while live */
	bool rotate_pending;	 /* a mesh key rotation was requested and E5 has not arrived */
	bool reconcile_pending;	 /* an event could not be delivered; tell the node to reconcile */
};

void store_node_done(struct store_node *n); /* frees members, wipes secrets */
void store_node_array_free(struct store_node *a, size_t n);

struct store_policy {
	char *id;
	char *rules_json; /* JSON array of PolicyRule */
};
void store_policy_array_free(struct store_policy *a, size_t n);

/* Data entries (CP -> node) and report entries (node -> CP) share the shape of §8.6. */
struct store_entry {
	char *key;
	char *content_type;
	char *payload_json;
	int64_t version;
	int64_t updated_at;
};
void store_entry_array_free(struct store_entry *a, size_t n);

struct store_secret_ref {
	char *key;
	int64_t version;
};
void store_secret_ref_array_free(struct store_secret_ref *a, size_t n);

enum execution_status {
	EXECUTION_PENDING,  /* sent, not acknowledged */
	EXECUTION_ACCEPTED, /* acked "accepted" */
	EXECUTION_REJECTED, /* acked "rejected" */
	EXECUTION_FINISHED, /* result stored */
	_EXECUTION_STATUS_MAX,
};
const char *execution_status_to_string(enum execution_status s);

struct store_execution {
	char id[STORE_ID_MAX + 1];
	char node_id[STORE_ID_MAX + 1];
	char *action;
	char *params_json; /* object string->string */
	enum execution_status status;
	char *ack_reason;  /* NULL until acked */
	char *result_json; /* NULL until finished */
	int64_t created_at;
	int64_t acked_at;
	int64_t finished_at;
};
void store_execution_done(struct store_execution *e);

enum record_kind {
	RECORD_METRIC,
	RECORD_LOG,
	RECORD_AUDIT,
	RECORD_DRIFT,
	RECORD_TUNNEL,
	RECORD_INTEGRITY,
	_RECORD_KIND_MAX,
};
const char *record_kind_to_string(enum record_kind k);

struct store_record {
	int64_t seq;
	int64_t received_at;
	char *body_json;
};
void store_record_array_free(struct store_record *a, size_t n);

struct store_event {
	uint64_t seq; /* event_id is "evt_" + seq zero-padded to 10 digits */
	char *event_type;
	char *envelope; /* byte-exact JSON envelope as transmitted */
	int64_t emitted_at;
};
void store_event_array_free(struct store_event *a, size_t n);

struct store_signing_keys {
	uint8_t current[STORE_KEY_LEN];
	bool has_previous;
	uint8_t previous[STORE_KEY_LEN];
	int64_t transition_expires; /* usec; meaningful with has_previous */
};

/* Opens (creating when missing) and migrates the database. -errno or -EIO on failure;
 * -EPROTO when the file's schema is newer than this binary knows. */
int store_open(const char *path, const struct store_options *opts, struct store **ret);
struct store *store_free(struct store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct store *, store_free)
/* Schema version after migration (PRAGMA user_version). */
int store_schema_version(struct store *s);

/* Explicit transactions group several calls into one durable step (nesting is not allowed:
 * -EBUSY). Calls outside a transaction commit on their own. */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);

/* Bootstrap tokens: only the SHA-256 of the token text is stored. */
int store_token_add(struct store *s, const uint8_t hash[STORE_KEY_LEN], int64_t created_at,
		    int64_t expires_at);
/* Marks the token used. -ENOENT unknown, -ETIME expired (now >= expires_at), -EALREADY used. */
int store_token_consume(struct store *s, const uint8_t hash[STORE_KEY_LEN], int64_t now);

/* Lowest free address of 10.100.0.0/16 (host byte order): not held by a live node, not released
 * within the cooldown, last octet neither 0 nor 255. -ENOSPC when exhausted. */
int store_ip_allocate(struct store *s, int64_t now, uint32_t *ret);

/* Inserts a new node (id, hostname, public_key, mesh_ip, metadata, capabilities, token_hash,
 * nsk, registered_at are used; status starts REGISTERED). -EEXIST when a live node already has
 * this hostname, id or mesh IP. */
int store_node_insert(struct store *s, const struct store_node *n);
/* -ENOENT when unknown. Deregistered nodes are returned too (status tells). */
int store_node_get(struct store *s, const char *id, struct store_node *ret);
/* Live nodes only; -ENOENT otherwise. */
int store_node_get_by_token(struct store *s, const uint8_t token_hash[STORE_KEY_LEN],
			    struct store_node *ret);
/* All live nodes ordered by registration (include_dead adds deregistered ones). */
int store_node_list(struct store *s, bool include_dead, struct store_node **ret, size_t *ret_n);
int store_node_set_status(struct store *s, const char *id, enum node_status status);
int store_node_heartbeat(struct store *s, const char *id, int64_t now, const char *heartbeat_json);
int store_node_set_public_key(struct store *s, const char *id, const uint8_t key[STORE_KEY_LEN]);
/* Returns 1 when the stored endpoint or nat type changed, 0 when equal. */
int store_node_set_endpoint(struct store *s, const char *id, const char *endpoint, const char *nat_type);
int store_node_set_capabilities(struct store *s, const char *id, const char *json);
int store_node_set_metadata(struct store *s, const char *id, const char *json);
int store_node_set_rotate_pending(struct store *s, const char *id, bool pending);
int store_node_set_reconcile_pending(struct store *s, const char *id, bool pending);
/* Marks the node deregistered, revokes its bearer token, starts the IP cooldown and drops its
 * PSKs. -ENOENT when not live. */
int store_node_deregister(struct store *s, const char *id, int64_t now);

/* PSK of the unordered pair {a, b}: created from the CSPRNG on first use, identical for both
 * orders. */
int store_psk_get(struct store *s, const char *a, const char *b, uint8_t out[STORE_KEY_LEN]);
int store_psk_set(struct store *s, const char *a, const char *b, const uint8_t psk[STORE_KEY_LEN]);

/* Ordered policy set, replaced as a whole. */
int store_policies_set(struct store *s, const struct store_policy *p, size_t n);
int store_policies_get(struct store *s, struct store_policy **ret, size_t *ret_n);

/* Data entries: set bumps the version (1 for a new key). */
int store_data_set(struct store *s, const char *node, const char *key, const char *content_type,
		   const char *payload_json, int64_t now);
int store_data_delete(struct store *s, const char *node, const char *key); /* -ENOENT */
int store_data_list(struct store *s, const char *node, struct store_entry **ret, size_t *ret_n);

/* Secrets: the value is kept in the database; set bumps the version. */
int store_secret_set(struct store *s, const char *node, const char *key, const void *value,
		     size_t len, int64_t now);
int store_secret_delete(struct store *s, const char *node, const char *key); /* -ENOENT */
/* *ret is malloc'd (NUL-terminated for convenience). -ENOENT when unknown. */
int store_secret_get(struct store *s, const char *node, const char *key, uint8_t **ret,
		     size_t *ret_len, int64_t *ret_version);
int store_secret_list(struct store *s, const char *node, struct store_secret_ref **ret, size_t *ret_n);

/* Report entries: returns 1 applied, 0 ignored because the stored version is higher. */
int store_report_upsert(struct store *s, const char *node, const struct store_entry *e);
int store_report_delete(struct store *s, const char *node, const char *key); /* missing: 0 */
int store_report_list(struct store *s, const char *node, struct store_entry **ret, size_t *ret_n);

/* Executions. */
int store_execution_create(struct store *s, const struct store_execution *e);
int store_execution_get(struct store *s, const char *id, struct store_execution *ret);
/* Idempotent; -ENOENT unknown id, -EPERM id belongs to another node. Returns 1 when recorded,
 * 0 for a repeat. */
int store_execution_ack(struct store *s, const char *node, const char *id, bool accepted,
			const char *reason, int64_t now);
/* Keeps the first result. Unknown ids are inserted only when allow_unknown (results of locally
 * triggered executions), else -ENOENT. -EPERM when the id belongs to another node. Returns 1
 * when stored, 0 for a repeat. */
int store_execution_result(struct store *s, const char *node, const char *id, const char *result_json,
			   bool allow_unknown, int64_t now);

/* Observability and report records with retention (count/age bounds of store_options). */
int store_records_append(struct store *s, const char *node, enum record_kind kind,
			 char *const *bodies, size_t n, int64_t now);
/* Records received at or after since, oldest first, at most limit (0 = all). */
int store_records_query(struct store *s, const char *node, enum record_kind kind, int64_t since,
			size_t limit, struct store_record **ret, size_t *ret_n);

/* Event log. next_seq reserves the next per-node sequence number (durably, so IDs increase
 * across restarts); append stores the envelope and prunes past the retention bound. */
int store_event_next_seq(struct store *s, const char *node, uint64_t *ret);
int store_event_append(struct store *s, const char *node, uint64_t seq, const char *event_type,
		       const char *envelope, int64_t now);
/* Events after after_seq, in order. -ENOENT when after_seq is not retained (unknown/expired). */
int store_event_since(struct store *s, const char *node, uint64_t after_seq, struct store_event **ret,
		      size_t *ret_n);
/* The newest limit events (for `events tail`). */
int store_event_last(struct store *s, const char *node, size_t limit, struct store_event **ret,
		     size_t *ret_n);
/* Applies the retention bound to every node's log (called periodically). */
int store_event_prune(struct store *s, int64_t now);

/* Signing key public halves (the private seeds are files beside the database). -ENOENT when
 * none is stored yet. */
int store_signing_keys_get(struct store *s, struct store_signing_keys *ret);
int store_signing_keys_set(struct store *s, const struct store_signing_keys *k);

/* Small key/value table for server bookkeeping (e.g. policy set revision). */
int store_kv_get_int(struct store *s, const char *key, int64_t *ret); /* -ENOENT */
int store_kv_set_int(struct store *s, const char *key, int64_t value);

/* Relay sessions (relay.c): one row per pair routed through a bridge relay. */
#define STORE_ENDPOINT_MAX 64
struct store_relay_session {
	char id[STORE_ID_MAX + 1];
	char bridge_id[STORE_ID_MAX + 1];
	char a_id[STORE_ID_MAX + 1];
	char a_endpoint[STORE_ENDPOINT_MAX];
	char b_id[STORE_ID_MAX + 1];
	char b_endpoint[STORE_ENDPOINT_MAX];
	uint16_t port;				    /* per-session relay port; 0 = shared socket */
	char relay_endpoint[STORE_ENDPOINT_MAX];    /* <bridge public IP>:<port> given to A and B */
	int64_t expires_at;
};
/* Inserts or replaces by id. */
int store_relay_session_put(struct store *s, const struct store_relay_session *r);
/* Missing id: 0. */
int store_relay_session_delete(struct store *s, const char *id);
/* All sessions ordered by id; *ret is one malloc'd array (free()). */
int store_relay_session_list(struct store *s, struct store_relay_session **ret, size_t *ret_n);
