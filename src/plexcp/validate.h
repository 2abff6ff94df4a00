/* Validation of plexd -> plexcp request bodies (control-plane-api.md §4, §8) into typed
 * structs. Pure: no I/O, no store, no logging. Strings in the structs point into the jansson
 * document the caller passed in and live as long as it does. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "plexcp/store.h"
#include "shared/json-util.h"

/* Parses a body that must be one JSON object. -EINVAL (e filled) otherwise. */
int req_parse_object(const char *body, size_t len, json_t **ret, struct json_error *e);

struct req_register {
	const char *token;
	uint8_t public_key[32];
	const char *hostname;
	char *metadata_json;	 /* compact object string->string, "{}" when absent; malloc'd */
	char *capabilities_json; /* compact Capabilities or NULL; malloc'd */
};
int req_register_parse(json_t *j, struct req_register *ret, struct json_error *e);
void req_register_done(struct req_register *r);

struct req_heartbeat {
	const char *node_id;
	const char *status;
};
int req_heartbeat_parse(json_t *j, struct req_heartbeat *ret, struct json_error *e);

struct req_key_rotate {
	const char *node_id;
	uint8_t new_public_key[32];
};
int req_key_rotate_parse(json_t *j, struct req_key_rotate *ret, struct json_error *e);

int req_capabilities_parse(json_t *j, struct json_error *e);

struct req_endpoint {
	const char *public_endpoint; /* "" = unknown */
	const char *nat_type;
};
int req_endpoint_parse(json_t *j, struct req_endpoint *ret, struct json_error *e);

int req_drift_parse(json_t *j, struct json_error *e);

/* Report sync: entries (validated, shape of §8.6) then deleted keys. */
struct req_report {
	size_t n_entries;
	struct store_entry *entries; /* malloc'd array; key/content_type point into j, payload_json
					malloc'd */
	size_t n_deleted;
	const char **deleted; /* malloc'd array of pointers into j */
};
int req_report_parse(json_t *j, struct req_report *ret, struct json_error *e);
void req_report_done(struct req_report *r);

struct req_ack {
	const char *execution_id;
	bool accepted;
	const char *reason;
};
int req_ack_parse(json_t *j, struct req_ack *ret, struct json_error *e);

struct req_result {
	const char *execution_id;
	const char *status;
	const char *triggered_by_type; /* "control_plane" when absent */
};
int req_result_parse(json_t *j, struct req_result *ret, struct json_error *e);

int req_tunnel_ready_parse(json_t *j, struct json_error *e);
int req_tunnel_closed_parse(json_t *j, struct json_error *e);
int req_integrity_parse(json_t *j, struct json_error *e);

/* Observability batch (E14–E16): a JSON array or JSON Lines, chosen by the Content-Type
 * (application/x-ndjson, application/jsonl, application/json-lines -> lines; anything else ->
 * array). Every record is validated against its type. *ret is a JSON array of the records. */
int req_batch_parse(enum record_kind kind, const char *content_type, const char *body, size_t len,
		    json_t **ret, struct json_error *e);

/* Admin input: a JSON array of Policy (§8.3). Rules are checked for shape and values. */
int req_policies_parse(json_t *j, struct json_error *e);

/* Object of string -> string with id-format keys (metadata, action parameters). */
int req_string_map_check(json_t *j, const char *what, bool id_keys, struct json_error *e);
