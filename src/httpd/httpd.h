/* Embedded HTTP/1.1 server: libmicrohttpd driven by sd-event (no threads), a route table with
 * {param} segments, bounded bodies, JSON replies and suspended streaming responses (SSE). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "shared/macro.h"

struct httpd;
struct httpd_request;
struct httpd_stream;

/* Route flags. */
#define HTTPD_ROUTE_GZIP_BODY	  (1U << 0) /* accept a gzip Content-Encoding request body */
#define HTTPD_ROUTE_GZIP_RESPONSE (1U << 1) /* gzip replies when the client accepts gzip */

/* One entry of the dispatch table. pattern segments are literals, "{name}" (exactly one
 * non-empty segment) or, as the last segment only, "{name*}" (the non-empty rest of the path,
 * slashes included). Literal segments are compared with the raw (still encoded) path; params
 * are percent-decoded and may not contain NUL. A GET route also answers HEAD. */
struct httpd_route {
	const char *method; /* "GET", "POST", "PUT", "DELETE", "PATCH" */
	const char *pattern;
	/* Must answer with one httpd_reply_*() call, or create a stream, or defer. A negative
	 * return without an answer becomes 500 {"error":"internal error"}. */
	int (*handler)(struct httpd_request *req, void *userdata);
	unsigned flags;
	size_t max_body;  /* 0: the server's max_body */
	const void *data; /* opaque per-route data (e.g. an authorization level) */
};

struct httpd_config {
	/* Exactly one of unix_path and tcp_listen. */
	const char *unix_path; /* stale socket file is unlinked; parent directory must exist */
	mode_t unix_mode;      /* applied with chmod after bind; 0 → 0600 */
	bool unix_set_owner;   /* chown(unix_path, unix_uid, unix_gid) after bind */
	uid_t unix_uid;
	gid_t unix_gid;
	const char *tcp_listen; /* "host:port", "[v6]:port"; port 0 picks a free port */

	/* TLS (TCP only): PEM text of the certificate chain and of its unencrypted private key,
	 * both or neither. The caller reads the files; the strings are copied. TLS 1.2 is the
	 * minimum, 1.3 preferred. -EOPNOTSUPP when libmicrohttpd was built without TLS. */
	const char *tls_cert_pem;
	const char *tls_key_pem;

	unsigned max_connections;	 /* 0 → 64 */
	unsigned per_ip_connections;	 /* TCP only; 0 → unlimited */
	unsigned connection_timeout_sec; /* idle timeout; 0 → 30 s */
	size_t max_body;		 /* 0 → 1 MiB; also the bound after gzip decoding */
	size_t stream_buffer_max;	 /* per stream queued bytes; 0 → 256 KiB */

	/* Optional; runs after routing, before the body is read. Return 0 to continue; anything
	 * else rejects the request — with the reply the callback gave, else 403 forbidden. */
	int (*authorize)(struct httpd_request *req, const struct httpd_route *route,
			 void *userdata);

	const struct httpd_route *routes;
	size_t n_routes;
	void *userdata; /* passed to handlers and authorize */
};

/* Binds the listener and attaches to the loop. The route table must outlive the server.
 * -EINVAL for an inconsistent config, -EBADMSG when TLS is on and microhttpd refuses the
 * certificate or key. */
int httpd_new(sd_event *event, const struct httpd_config *config, struct httpd **ret);
/* Ends all streams and deferred requests (their close callbacks run), stops the daemon,
 * unlinks the unix socket file. Not from inside a handler or close callback of the same server
 * (MHD is running then): schedule it on the loop instead. */
struct httpd *httpd_free(struct httpd *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct httpd *, httpd_free)
/* Bound TCP port (useful with port 0); -EAFNOSUPPORT for a unix socket server. */
int httpd_get_port(const struct httpd *h);
unsigned httpd_get_connection_count(const struct httpd *h);

/* --- request accessors (valid until the request's close callback / end of handler) --- */
const char *httpd_request_method(const struct httpd_request *req);
const char *httpd_request_path(const struct httpd_request *req); /* raw, undecoded */
const struct httpd_route *httpd_request_route(const struct httpd_request *req);
/* Decoded path parameter by name; NULL if the route has no such param. */
const char *httpd_request_param(const struct httpd_request *req, const char *name);
/* Case-insensitive header lookup; NULL when absent. */
const char *httpd_request_header(const struct httpd_request *req, const char *name);
/* Percent-decoded query argument ("" when given without '='); NULL when absent or when the
 * value does not decode (bad escape or NUL). */
const char *httpd_request_query(struct httpd_request *req, const char *name);
/* Whole body (after gzip decoding), NUL-terminated for convenience; len 0 when none. */
const char *httpd_request_body(const struct httpd_request *req, size_t *ret_len);
/* Parses the body as JSON: -ENODATA when empty, -EINVAL when not valid JSON. */
int httpd_request_body_json(const struct httpd_request *req, json_t **ret);
bool httpd_request_is_unix(const struct httpd_request *req);
/* SO_PEERCRED of a unix socket caller; -ENODATA for TCP. */
int httpd_request_peer(const struct httpd_request *req, pid_t *ret_pid, uid_t *ret_uid,
		       gid_t *ret_gid);
/* True when the unix socket caller has gid as primary or supplementary group (SO_PEERGROUPS). */
bool httpd_request_peer_in_group(const struct httpd_request *req, gid_t gid);
/* Adds a header to whatever reply this request gets. -E2BIG beyond 16 headers. */
int httpd_request_add_header(struct httpd_request *req, const char *name, const char *value);

/* --- replies: exactly one per request --- */
int httpd_reply(struct httpd_request *req, unsigned status, const char *content_type,
		const void *body, size_t len);
/* Takes the reference of body (NULL → 500). Serialised compact, Content-Type
 * application/json. */
int httpd_reply_json(struct httpd_request *req, unsigned status, json_t *body);
/* {"error": error} or {"error": error, "message": message}. */
int httpd_reply_error(struct httpd_request *req, unsigned status, const char *error,
		      const char *message);
int httpd_reply_empty(struct httpd_request *req, unsigned status);

/* Deferred reply: after this the handler returns and the request waits (suspended, no timeout)
 * until a httpd_reply_*() call from anywhere in the loop. on_close runs exactly once when the
 * request ends for any reason (reply sent, client gone, server freed); req is invalid after
 * it. A client that disconnects while waiting is noticed (EPOLLRDHUP). */
int httpd_request_defer(struct httpd_request *req,
			void (*on_close)(struct httpd_request *req, void *userdata),
			void *userdata);

/* Streaming reply (chunked, e.g. text/event-stream with Cache-Control: no-cache). on_close
 * runs exactly once when the stream ends (client gone, buffer overflow, finish flushed, server
 * freed), never from inside httpd_stream_write/finish; the stream is invalid after it. */
int httpd_reply_stream(struct httpd_request *req, unsigned status, const char *content_type,
		       void (*on_close)(struct httpd_stream *s, void *userdata), void *userdata,
		       struct httpd_stream **ret);
/* Queues bytes. -ENOBUFS when the bound would be exceeded: the stream is dropped (the client
 * sees a truncated chunked body) and on_close follows. -EPIPE once the stream is ending. */
int httpd_stream_write(struct httpd_stream *s, const void *data, size_t len);
/* Ends the stream cleanly after the queued bytes are sent. */
int httpd_stream_finish(struct httpd_stream *s);
size_t httpd_stream_queued(const struct httpd_stream *s);
struct httpd_request *httpd_stream_request(struct httpd_stream *s);
