/* Typed wire types of the control-plane API (control-plane-api.md §4, §8): strict parsers for
 * what the CP sends and serializers for what plexd sends. Pure: no I/O, no logging. */
#pragma once

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "crypto/signing-keys.h"
#include "shared/json-util.h"
#include "shared/time-util.h"

/* Input bounds: exceeding one rejects the document (a clear error, not a truncation). */
#define CP_PEERS_MAX 10000
#define CP_ALLOWED_IPS_MAX 1024
#define CP_POLICIES_MAX 10000
#define CP_RULES_MAX 100000 /* per policy */
#define CP_METADATA_MAX 10000
#define CP_DATA_MAX 10000
#define CP_SECRET_REFS_MAX 10000
#define CP_NODE_TOKEN_MIN 32
#define CP_NODE_TOKEN_MAX 256
#define CP_BOOTSTRAP_TOKEN_MAX 512
#define CP_HOSTNAME_MAX 253
#define CP_SECRET_CIPHERTEXT_MAX ((size_t)4 * 1024 * 1024)

/* An IPv4 or IPv6 prefix "addr/len" (allowed IPs may name routed IPv6 subnets on bridges). */
struct cp_prefix {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr in;
		struct in6_addr in6;
	} addr;
	uint8_t len;
};
int cp_prefix_parse(const char *s, struct cp_prefix *ret);
int cp_prefix_format(const struct cp_prefix *p, char *out, size_t size);

/* §1.2 endpoint with the empty string meaning "unknown". */
struct cp_endpoint {
	bool known;
	struct sockaddr_storage addr;
};

/* One failed element of a list whose other elements are still usable (agent.md §5.1 rule 6). */
struct cp_item_error {
	size_t index;
	char text[256]; /* "peers[2].public_key: must be base64 of 32 bytes" */
};

/* §8.2 */
struct cp_peer {
	char *id;
	uint8_t public_key[32];
	struct in_addr mesh_ip;
	struct cp_endpoint endpoint;
	struct cp_prefix *allowed_ips;
	size_t n_allowed_ips;
	bool has_psk; /* "" = none */
	uint8_t psk[32];
	bool relayed;
};
/* Frees the members (wiping the PSK), leaves *p zeroed. */
void cp_peer_done(struct cp_peer *p);
/* Accepts `peer_id` as an alias of `id` (§7.2). On failure *ret is untouched. */
int cp_peer_from_json(json_t *j, struct cp_peer *ret, struct json_error *e);
int cp_peer_to_json(const struct cp_peer *p, json_t **ret);

struct cp_peer_list {
	struct cp_peer *peers;
	size_t n_peers;
	/* Elements that failed validation and were left out; duplicates of an earlier id too. */
	struct cp_item_error *errors;
	size_t n_errors;
};
void cp_peer_list_done(struct cp_peer_list *l);
/* arr NULL or JSON null = empty (§1.1). -EINVAL (e names `field`) only when arr is neither an
 * array nor null, or holds more than CP_PEERS_MAX elements; a bad element lands in errors. */
int cp_peer_list_from_json(json_t *arr, const char *field, struct cp_peer_list *ret, struct json_error *e);
int cp_peer_list_to_json(const struct cp_peer *peers, size_t n, json_t **ret);

/* §8.3 — structural parse only. Semantic validity (selectors naming known nodes, CIDRs inside
 * the mesh prefix, port needing a protocol) is decided by the policy module, which skips a
 * rule whose `invalid` is set without widening anything. */
enum cp_protocol {
	CP_PROTOCOL_ANY, /* "" or omitted */
	CP_PROTOCOL_TCP,
	CP_PROTOCOL_UDP,
	CP_PROTOCOL_INVALID,
};
enum cp_action {
	CP_ACTION_ALLOW,
	CP_ACTION_DENY,
	CP_ACTION_INVALID,
};
struct cp_policy_rule {
	char *src; /* node id, "*" or a CIDR, as sent; NULL only when invalid */
	char *dst;
	int32_t port; /* 0 = any; -1 when not an integer in 0–65535 (then invalid is set) */
	enum cp_protocol protocol;
	enum cp_action action;
	char *invalid; /* NULL when structurally sound, else the reason naming the field */
};
struct cp_policy {
	char *id;
	struct cp_policy_rule *rules;
	size_t n_rules;
};
struct cp_policy_list {
	struct cp_policy *policies;
	size_t n_policies;
};
void cp_policy_done(struct cp_policy *p);
void cp_policy_list_done(struct cp_policy_list *l);
/* Unlike peers, a policy with a bad id or a non-array `rules` rejects the whole list: dropping
 * one policy could silently remove a deny rule. Bad rules are kept and marked. */
int cp_policy_list_from_json(json_t *arr, const char *field, struct cp_policy_list *ret,
			     struct json_error *e);
int cp_policy_list_to_json(const struct cp_policy *p, size_t n, json_t **ret);
const char *cp_protocol_to_string(enum cp_protocol p);
const char *cp_action_to_string(enum cp_action a);

/* §8.5: string→string, keys in id format. */
struct cp_kv {
	char *key;
	char *value;
};
struct cp_metadata {
	struct cp_kv *items;
	size_t n_items;
};
void cp_metadata_done(struct cp_metadata *m);
int cp_metadata_from_json(json_t *obj, const char *field, struct cp_metadata *ret, struct json_error *e);
int cp_metadata_to_json(const struct cp_metadata *m, json_t **ret);
const char *cp_metadata_get(const struct cp_metadata *m, const char *key);
/* Appends or replaces; copies key and value. -EINVAL for a key that is not an id. */
int cp_metadata_set(struct cp_metadata *m, const char *key, const char *value);

/* §8.6 — DataEntry (CP→node) and ReportEntry (node→CP) share the shape. */
struct cp_data_entry {
	char *key;
	char *content_type;
	json_t *payload; /* opaque, one reference owned */
	int64_t version; /* >= 1 */
	struct timestamp updated_at;
};
struct cp_data_list {
	struct cp_data_entry *entries;
	size_t n_entries;
};
void cp_data_entry_done(struct cp_data_entry *d);
void cp_data_list_done(struct cp_data_list *l);
int cp_data_entry_from_json(json_t *j, struct cp_data_entry *ret, struct json_error *e);
int cp_data_entry_to_json(const struct cp_data_entry *d, json_t **ret);
/* A bad entry rejects the list: data is a full replacement, skipping would delete it locally. */
int cp_data_list_from_json(json_t *arr, const char *field, struct cp_data_list *ret, struct json_error *e);

/* §8.7 */
struct cp_secret_ref {
	char *key;
	int64_t version;
};
struct cp_secret_ref_list {
	struct cp_secret_ref *refs;
	size_t n_refs;
};
void cp_secret_ref_list_done(struct cp_secret_ref_list *l);
int cp_secret_ref_list_from_json(json_t *arr, const char *field, struct cp_secret_ref_list *ret,
				 struct json_error *e);

/* §4.8. peers/policies absent = empty. Optional members carry has_* flags; bridge-side configs
 * stay opaque JSON objects (NULL = absent = leave unchanged) until their modules type them. */
struct cp_state_response {
	struct cp_peer_list peers;
	struct cp_policy_list policies;
	bool has_signing_keys;
	struct signing_keys signing_keys;
	bool has_metadata;
	struct cp_metadata metadata;
	bool has_data;
	struct cp_data_list data;
	bool has_secret_refs;
	struct cp_secret_ref_list secret_refs;
	json_t *bridge_config;
	json_t *relay_config;
	json_t *user_access_config;
	json_t *ingress_config;
	json_t *site_to_site_config;
};
int cp_state_response_from_json(json_t *j, struct cp_state_response **ret, struct json_error *e);
struct cp_state_response *cp_state_response_free(struct cp_state_response *s);

/* §8.8 (plexd → CP only). */
struct cp_parameter_def {
	const char *name;
	const char *type; /* string, bool, int */
	bool required;
	const char *description;
	const char *default_value; /* NULL = omitted */
};
struct cp_action_capability {
	const char *name;
	const char *description;
	const struct cp_parameter_def *parameters;
	size_t n_parameters;
};
struct cp_hook_capability {
	const char *name;
	const char *description;
	const char *source; /* local, script, crd */
	uint8_t checksum[32];
	const struct cp_parameter_def *parameters;
	size_t n_parameters;
	int64_t timeout_ns; /* 0 = "" (none declared) */
	const char *sandbox; /* none, namespaced, container or "" */
	bool privileged;
};
struct cp_capabilities {
	bool has_binary;
	const char *binary_version;
	uint8_t binary_checksum[32];
	const struct cp_action_capability *builtin_actions;
	size_t n_builtin_actions;
	const struct cp_hook_capability *hooks;
	size_t n_hooks;
};
int cp_capabilities_to_json(const struct cp_capabilities *c, json_t **ret);

/* §4.1 */
struct cp_register_request {
	const char *token; /* 1–512 printable ASCII */
	uint8_t public_key[32];
	const char *hostname; /* 1–253 */
	const struct cp_metadata *metadata; /* NULL or empty = omitted */
	const struct cp_capabilities *capabilities; /* NULL = omitted */
};
int cp_register_request_to_json(const struct cp_register_request *r, json_t **ret);

struct cp_register_response {
	char *node_id;
	struct in_addr mesh_ip;
	uint8_t signing_public_key[32];
	uint8_t node_secret_key[32];
	char *node_token; /* NULL when the CP sent none (older CPs, §13 A1) */
	struct cp_peer_list peers;
};
int cp_register_response_from_json(json_t *j, struct cp_register_response **ret, struct json_error *e);
struct cp_register_response *cp_register_response_free(struct cp_register_response *r);

/* §8.9 */
enum cp_health {
	CP_HEALTH_HEALTHY,
	CP_HEALTH_DEGRADED,
	CP_HEALTH_UNHEALTHY,
};
enum cp_nat_type {
	CP_NAT_NONE,
	CP_NAT_FULL_CONE,
	CP_NAT_SYMMETRIC,
	CP_NAT_UNKNOWN,
};
const char *cp_health_to_string(enum cp_health h);
const char *cp_nat_type_to_string(enum cp_nat_type t);
int cp_nat_type_from_string(const char *s, enum cp_nat_type *ret);

struct cp_mesh_info {
	const char *interface;
	int64_t peer_count;
	int64_t listen_port;
};
struct cp_nat_info {
	struct sockaddr_storage public_endpoint;
	enum cp_nat_type type;
};
struct cp_bridge_info {
	bool enabled;
	const char *access_interface;
	int64_t active_routes;
	bool relay_enabled;
	int64_t active_relay_sessions;
	bool ingress_enabled;
	int64_t active_ingress_rules;
	bool site_to_site_enabled;
	int64_t active_site_to_site_tunnels;
};
struct cp_user_access_info {
	bool enabled;
	const char *interface_name;
	int64_t peer_count;
	int64_t listen_port;
};
struct cp_ingress_info {
	bool enabled;
	int64_t rule_count;
	int64_t connection_count;
};
struct cp_site_to_site_info {
	bool enabled;
	int64_t tunnel_count;
};

/* §4.3; the block pointers are NULL when omitted. */
struct cp_heartbeat_request {
	const char *node_id;
	struct timestamp timestamp;
	enum cp_health status;
	int64_t uptime_ns;
	uint8_t binary_checksum[32];
	const struct cp_mesh_info *mesh;
	const struct cp_nat_info *nat;
	const struct cp_bridge_info *bridge;
	const struct cp_user_access_info *user_access;
	const struct cp_ingress_info *ingress;
	const struct cp_site_to_site_info *site_to_site;
};
int cp_heartbeat_request_to_json(const struct cp_heartbeat_request *r, json_t **ret);

struct cp_heartbeat_response {
	bool reconcile;
	bool rotate_keys;
};
/* The response MUST be a JSON object ({} allowed). */
int cp_heartbeat_response_from_json(json_t *j, struct cp_heartbeat_response *ret, struct json_error *e);

/* §4.5 */
struct cp_key_rotate_request {
	const char *node_id;
	uint8_t new_public_key[32];
};
int cp_key_rotate_request_to_json(const struct cp_key_rotate_request *r, json_t **ret);

struct cp_key_rotate_response {
	struct cp_peer_list updated_peers;
	bool has_node_secret_key;
	uint8_t node_secret_key[32];
};
int cp_key_rotate_response_from_json(json_t *j, struct cp_key_rotate_response **ret, struct json_error *e);
struct cp_key_rotate_response *cp_key_rotate_response_free(struct cp_key_rotate_response *r);

/* §4.7 */
struct cp_endpoint_report {
	struct sockaddr_storage public_endpoint;
	enum cp_nat_type nat_type;
};
int cp_endpoint_report_to_json(const struct cp_endpoint_report *r, json_t **ret);

struct cp_peer_endpoint {
	char *peer_id;
	struct sockaddr_storage endpoint;
};
struct cp_endpoint_response {
	/* Entries with an empty endpoint are dropped silently (§4.7); bad ones land in errors. */
	struct cp_peer_endpoint *peer_endpoints;
	size_t n_peer_endpoints;
	struct cp_item_error *errors;
	size_t n_errors;
};
int cp_endpoint_response_from_json(json_t *j, struct cp_endpoint_response **ret, struct json_error *e);
struct cp_endpoint_response *cp_endpoint_response_free(struct cp_endpoint_response *r);

/* §4.9, §8.10 */
struct cp_drift_correction {
	const char *type;
	const char *detail;
};
struct cp_drift_report {
	struct timestamp timestamp;
	const struct cp_drift_correction *corrections;
	size_t n_corrections; /* >= 1 */
};
int cp_drift_report_to_json(const struct cp_drift_report *r, json_t **ret);

/* §4.10 */
struct cp_secret_response {
	char *key;
	uint8_t *ciphertext; /* includes the 16-byte GCM tag */
	size_t ciphertext_len;
	uint8_t nonce[12];
	int64_t version;
};
int cp_secret_response_from_json(json_t *j, struct cp_secret_response **ret, struct json_error *e);
struct cp_secret_response *cp_secret_response_free(struct cp_secret_response *r);

/* §4.11 */
struct cp_report_sync {
	const struct cp_data_entry *entries;
	size_t n_entries;
	const char *const *deleted;
	size_t n_deleted;
};
int cp_report_sync_to_json(const struct cp_report_sync *r, json_t **ret);

/* §8.11 */
struct cp_triggered_by {
	const char *type; /* control_plane, session, direct_access, local_emergency */
	const char *session_id; /* NULL = "" */
	const char *user_id;
	const char *email;
};
struct cp_execution_ack {
	const char *execution_id;
	bool accepted;
	const char *reason; /* "" / NULL when accepted */
};
int cp_execution_ack_to_json(const struct cp_execution_ack *a, json_t **ret);

enum cp_execution_status {
	CP_EXECUTION_SUCCESS,
	CP_EXECUTION_FAILURE,
	CP_EXECUTION_TIMEOUT,
	CP_EXECUTION_CANCELLED,
};
struct cp_execution_result {
	const char *execution_id;
	enum cp_execution_status status;
	int64_t exit_code;
	const char *stdout_text; /* already UTF-8 sanitized and truncated by the actions module */
	const char *stderr_text;
	int64_t duration_ns;
	struct timestamp finished_at;
	struct cp_triggered_by triggered_by;
};
int cp_execution_result_to_json(const struct cp_execution_result *r, json_t **ret);

/* §4.16–§4.18 */
struct cp_tunnel_ready {
	struct sockaddr_storage listen_addr;
	struct timestamp timestamp;
};
int cp_tunnel_ready_to_json(const struct cp_tunnel_ready *r, json_t **ret);

struct cp_tunnel_closed {
	const char *reason; /* revoked, expired, idle_timeout, closed, error, shutdown */
	int64_t duration_ns;
	struct timestamp timestamp;
};
int cp_tunnel_closed_to_json(const struct cp_tunnel_closed *r, json_t **ret);

struct cp_integrity_violation {
	const char *type; /* binary or hook */
	const char *path;
	uint8_t expected_checksum[32];
	uint8_t actual_checksum[32];
	const char *detail;
	struct timestamp timestamp;
};
int cp_integrity_violation_to_json(const struct cp_integrity_violation *v, json_t **ret);

/* Formats a timestamp the way plexd emits them (UTC, Z, fraction only when non-zero). */
int cp_timestamp_to_json(struct timestamp t, json_t **ret);
