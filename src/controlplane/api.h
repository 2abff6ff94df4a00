/* Control-plane API client: one call per endpoint of control-plane-api.md §3 (E1–E21 as used by
 * plexd), typed requests in, typed responses out, results classified per §2.7. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "controlplane/http.h"
#include "controlplane/types.h"

struct api_client;

enum api_result_kind {
	API_RESULT_OK, /* 2xx, body (if the endpoint defines one) valid */
	API_RESULT_PERMANENT, /* 400, 403, 404, 409, 413, 415 (and other 4xx): do not resend */
	API_RESULT_REAUTH, /* 401: re-authentication procedure (§2.9) */
	API_RESULT_RATE_LIMITED, /* 429: wait retry_after (or the current backoff when absent) */
	API_RESULT_TRANSIENT, /* 5xx, network, TLS, timeout: retry per §2.8 */
	API_RESULT_INVALID_RESPONSE, /* 2xx whose body failed validation; message names the field */
};

struct api_result {
	enum api_result_kind kind;
	long status; /* 0 without an HTTP response */
	int error; /* negative errno for network/validation failures, else 0 */
	bool has_retry_after;
	usec_t retry_after;
	bool has_date; /* server Date header (clock-skew warning) */
	struct timestamp date;
	/* For logs: the transport error, the validation error, or the start of the CP's error
	 * body (at most 4096 bytes, non-printable bytes replaced). Valid during the callback. */
	const char *message;
};

const char *api_result_kind_to_string(enum api_result_kind k);
/* Pure classification of §2.7 (status 0 = no response). */
enum api_result_kind api_classify(long status, int error);

/* Callbacks own the typed response (NULL unless kind == API_RESULT_OK) and free it with the
 * matching cp_*_free(). */
typedef void (*api_done_fn)(const struct api_result *r, void *userdata);
typedef void (*api_register_fn)(const struct api_result *r, struct cp_register_response *resp, void *userdata);
typedef void (*api_heartbeat_fn)(const struct api_result *r, const struct cp_heartbeat_response *resp,
				 void *userdata);
typedef void (*api_keys_rotate_fn)(const struct api_result *r, struct cp_key_rotate_response *resp,
				   void *userdata);
typedef void (*api_endpoint_fn)(const struct api_result *r, struct cp_endpoint_response *resp, void *userdata);
typedef void (*api_state_fn)(const struct api_result *r, struct cp_state_response *resp, void *userdata);
typedef void (*api_secret_fn)(const struct api_result *r, struct cp_secret_response *resp, void *userdata);

int api_client_new(sd_event *event, const struct http_client_config *cfg, struct api_client **ret);
/* Cancels pending calls without callbacks. */
struct api_client *api_client_free(struct api_client *a);
struct http_client *api_client_get_http(struct api_client *a);

/* Identity used by node-authenticated calls: node_id plus the bearer value, which is node_token
 * or, only when node_token is NULL/"", the base64 text of the Node Secret Key (§2.4). Copies
 * are kept (and wiped on replacement). nsk may be NULL when node_token is set. */
int api_client_set_identity(struct api_client *a, const char *node_id, const char *node_token,
			    const uint8_t *node_secret_key);
const char *api_client_node_id(const struct api_client *a);
bool api_client_has_identity(const struct api_client *a);

/* Every call returns 0 once the request is in flight (the callback then runs exactly once,
 * unless the call is cancelled with http_request_cancel(*ret) or the client is freed), or a
 * negative errno without calling back: -EINVAL for invalid input, -ENOKEY without identity.
 * ret is optional. */

/* E1: bearer = the bootstrap token of the request (§2.4). */
int api_register(struct api_client *a, const struct cp_register_request *req, api_register_fn cb, void *userdata,
		 struct http_request **ret);
/* E3 */
int api_heartbeat(struct api_client *a, const struct cp_heartbeat_request *req, api_heartbeat_fn cb,
		  void *userdata, struct http_request **ret);
/* E4: no body. */
int api_deregister(struct api_client *a, api_done_fn cb, void *userdata, struct http_request **ret);
/* E5 */
int api_keys_rotate(struct api_client *a, const struct cp_key_rotate_request *req, api_keys_rotate_fn cb,
		    void *userdata, struct http_request **ret);
/* E6 */
int api_capabilities(struct api_client *a, const struct cp_capabilities *caps, api_done_fn cb, void *userdata,
		     struct http_request **ret);
/* E7 */
int api_endpoint(struct api_client *a, const struct cp_endpoint_report *req, api_endpoint_fn cb, void *userdata,
		 struct http_request **ret);
/* E8 */
int api_state(struct api_client *a, api_state_fn cb, void *userdata, struct http_request **ret);
/* E9 */
int api_drift(struct api_client *a, const struct cp_drift_report *req, api_done_fn cb, void *userdata,
	      struct http_request **ret);
/* E10: the response's key must equal the requested one. */
int api_secret(struct api_client *a, const char *key, api_secret_fn cb, void *userdata, struct http_request **ret);
/* E11 */
int api_report(struct api_client *a, const struct cp_report_sync *req, api_done_fn cb, void *userdata,
	       struct http_request **ret);
/* E12, E13 (path from the struct's execution_id). */
int api_execution_ack(struct api_client *a, const struct cp_execution_ack *req, api_done_fn cb, void *userdata,
		      struct http_request **ret);
int api_execution_result(struct api_client *a, const struct cp_execution_result *req, api_done_fn cb,
			 void *userdata, struct http_request **ret);

/* E14–E16: records is a JSON array of MetricPoint/LogEntry/AuditEntry objects, sent as a JSON
 * array (metrics) or JSON Lines (logs, audit), always gzipped (§4.14). */
enum api_batch_kind {
	API_BATCH_METRICS,
	API_BATCH_LOGS,
	API_BATCH_AUDIT,
};
int api_observe_batch(struct api_client *a, enum api_batch_kind kind, json_t *records, api_done_fn cb,
		      void *userdata, struct http_request **ret);

/* E18, E19 */
int api_tunnel_ready(struct api_client *a, const char *session_id, const struct cp_tunnel_ready *req,
		     api_done_fn cb, void *userdata, struct http_request **ret);
int api_tunnel_closed(struct api_client *a, const char *session_id, const struct cp_tunnel_closed *req,
		      api_done_fn cb, void *userdata, struct http_request **ret);
/* E20 */
int api_integrity_violation(struct api_client *a, const struct cp_integrity_violation *req, api_done_fn cb,
			    void *userdata, struct http_request **ret);
/* E21: OK only for {"status":"ok"}; sends the bearer when an identity is set. */
int api_ping(struct api_client *a, api_done_fn cb, void *userdata, struct http_request **ret);

/* E2: opens the event stream (streaming mode of http.h) for the current identity. */
int api_events_open(struct api_client *a, const char *last_event_id, usec_t headers_timeout, usec_t idle_timeout,
		    void (*on_open)(struct http_request *req, void *userdata),
		    int (*on_data)(struct http_request *req, const void *buf, size_t len, void *userdata),
		    http_done_fn done, void *userdata, struct http_request **ret);
