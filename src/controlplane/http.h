/* HTTP client for the control-plane API: libcurl's multi_socket interface driven by sd-event
 * (control-plane-api.md §2). Nothing here blocks; results arrive through callbacks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "shared/time-util.h"

#define HTTP_BODY_MAX_DEFAULT ((size_t)10 * 1024 * 1024) /* §2.5, decompressed */
#define HTTP_ERROR_BODY_MAX ((size_t)4096)                /* §2.7: error bodies read for logging */
#define HTTP_GZIP_THRESHOLD ((size_t)1024)                /* §2.5: larger request bodies are gzipped */
#define HTTP_CAPTURE_MAX 4 /* response headers a request may ask to see (http_response_header) */

struct http_client;
struct http_request;

struct http_client_config {
	const char *base_url; /* trailing '/' removed; https unless allow_insecure_http */
	const char *ca_file; /* NULL/"" = system trust store */
	bool insecure_skip_verify;
	bool allow_insecure_http;
	usec_t connect_timeout; /* 0 = 10 s */
	usec_t request_timeout; /* 0 = 30 s; ordinary requests, total */
	size_t max_body; /* 0 = HTTP_BODY_MAX_DEFAULT */
	const char *user_agent; /* NULL = "plexd/<version>" */
	/* A link-local service (cloud metadata, agent.md §4.2) rather than the CP: plain http is
	 * expected (permitted without allow_insecure_http, no warning) and proxies from the
	 * environment are never used for it. */
	bool local_service;
};

struct http_response {
	/* 0 when no HTTP response was completed (then error says why). */
	long status;
	/* 0 when the exchange completed at the HTTP level (any status). Otherwise a negative errno:
	 * -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -EFBIG (body over the limit), -EPROTO (stream
	 * without text/event-stream), -ECONNRESET, -EIO (other curl/TLS failure), -ENOMEM. */
	int error;
	/* curl's error text or our own; "" when error == 0. Never contains credentials. */
	const char *error_text;
	/* Decompressed body, NUL-terminated (not counted). For non-2xx at most
	 * HTTP_ERROR_BODY_MAX bytes are kept. Streams: only the body of a refused stream. */
	const char *body;
	size_t body_len;
	const char *content_type; /* NULL when absent */
	bool has_retry_after; /* integer seconds only (§2.7) */
	usec_t retry_after;
	bool has_date; /* the Date header, for the clock-skew warning (agent.md §4.5 rule 8) */
	struct timestamp date;
	/* Headers named in http_request_opts.capture_headers; read with http_response_header(). */
	const char *const *captured_names;
	const char *const *captured_values; /* NULL where the header was absent */
	size_t n_captured;
};

/* Value of a response header the request named in capture_headers (case-insensitive name,
 * surrounding blanks removed; the last occurrence wins). NULL when absent or not captured. */
const char *http_response_header(const struct http_response *resp, const char *name);

/* Called exactly once per started request unless it was cancelled first. resp and everything
 * it points to are valid only during the call. The request is freed after the callback
 * returns; the callback may start new requests and cancel other ones. */
typedef void (*http_done_fn)(struct http_request *req, const struct http_response *resp, void *userdata);

struct http_request_opts {
	const char *method; /* GET, POST, PUT */
	const char *path; /* starts with '/', already percent-encoded */
	const char *bearer; /* NULL = no Authorization header */
	const char *content_type; /* for bodies; NULL = application/json */
	const void *body; /* NULL = no body (POST without body sends Content-Length: 0) */
	size_t body_len;
	bool gzip; /* force gzip (observability batches); bodies > 1024 bytes always are */
	usec_t timeout; /* 0 = client request_timeout */
	/* Extra request headers, "Name: value", NULL-terminated; NULL = none. Values are wiped
	 * when the request is freed (they may carry credentials). CR/LF is rejected. */
	const char *const *headers;
	/* Response header names to capture for http_response_header(), NULL-terminated, at most
	 * HTTP_CAPTURE_MAX (more is -E2BIG); each value is kept up to 1023 bytes. */
	const char *const *capture_headers;
	size_t max_body; /* 0 = the client's max_body; bound for 2xx bodies (-EFBIG above) */
	/* Called when the request is freed (after done or on cancel), to release userdata. */
	void (*free_userdata)(void *userdata);
};

int http_client_new(sd_event *event, const struct http_client_config *cfg, struct http_client **ret);
/* Cancels outstanding requests without calling their callbacks. Not from inside a callback. */
struct http_client *http_client_free(struct http_client *c);
sd_event *http_client_get_event(struct http_client *c);
size_t http_client_pending(const struct http_client *c);

/* Starts a request. *ret (optional) stays valid until the done callback has returned or
 * http_request_cancel() was called. */
int http_request_start(struct http_client *c, const struct http_request_opts *o, http_done_fn done,
		       void *userdata, struct http_request **ret);

/* Streaming mode (event stream, §2.6 and §5.1): no total timeout; response headers within
 * headers_timeout; after that, idle_timeout without a byte aborts with -ETIMEDOUT. on_open runs
 * once a 200 with Content-Type text/event-stream arrived; only then are body bytes passed to
 * on_data (a negative return aborts the transfer with that error). Any other response ends in
 * done with its status (body up to 4096 bytes), a 200 of another type with -EPROTO. */
struct http_stream_opts {
	const char *path;
	const char *bearer;
	const char *last_event_id; /* NULL/"" = no Last-Event-ID */
	usec_t headers_timeout; /* 0 = 30 s */
	usec_t idle_timeout; /* 0 = 90 s */
	void (*on_open)(struct http_request *req, void *userdata);
	int (*on_data)(struct http_request *req, const void *buf, size_t len, void *userdata);
	void (*free_userdata)(void *userdata);
};
int http_stream_start(struct http_client *c, const struct http_stream_opts *o, http_done_fn done,
		      void *userdata, struct http_request **ret);

/* No callback runs for the request afterwards (free_userdata still does). Safe to call from
 * any callback, including the request's own on_data. NULL is a no-op. */
void http_request_cancel(struct http_request *req);

/* Appends s percent-encoded as one RFC 3986 path segment (everything outside the unreserved
 * set is %XX-encoded, so '/' becomes %2F). Returns a malloc'd string. */
int http_escape_segment(const char *s, char **ret);

/* Pure helpers, exposed for tests. */
/* Retry-After as integer seconds (§2.7): digits only, optional surrounding blanks. */
int http_parse_retry_after(const char *value, usec_t *ret);
/* gzip (RFC 1952) of data into a malloc'd buffer. */
int http_gzip(const void *data, size_t len, void **ret, size_t *ret_len);
