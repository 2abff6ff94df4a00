/* libmicrohttpd glued to sd-event: MHD runs in external epoll mode, its epoll fd is an io
 * source and a one-shot timer follows MHD_get_timeout. Requests are routed through a table,
 * bodies are bounded, deferred replies and streams park the connection with
 * MHD_suspend_connection until there is something to send. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define LOG_COMPONENT "httpd"
#include "shared/log.h"

#include "httpd/httpd-util.h"
#include "httpd/httpd.h"

#define HTTPD_MAX_HEADERS	      16
#define HTTPD_DEFAULT_MAX_CONNECTIONS 64U
#define HTTPD_DEFAULT_TIMEOUT_SEC     30U
#define HTTPD_DEFAULT_MAX_BODY	      ((size_t)1024 * 1024)
#define HTTPD_DEFAULT_STREAM_MAX      ((size_t)256 * 1024)
#define HTTPD_GZIP_MIN		      64 /* smaller bodies are not worth the gzip header */
/* §2.2 of the API contract: TLS 1.2 minimum, 1.3 preferred (listed first). */
#define HTTPD_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

enum request_state {
	REQUEST_RECEIVING, /* headers seen, reading the body */
	REQUEST_HANDLING,  /* inside authorize or the handler: replies are queued on return */
	REQUEST_DEFERRED,  /* suspended until the owner replies */
	REQUEST_REPLIED,   /* response built (and queued, or queued on the next call) */
	REQUEST_STREAMING,
};

struct httpd {
	sd_event *event;
	sd_event_source *io, *timer;
	struct MHD_Daemon *mhd;
	char *unix_path;
	char *tls_cert, *tls_key; /* MHD keeps pointers to them while it runs */
	int port;
	unsigned max_connections;
	size_t max_body, stream_max;
	int (*authorize)(struct httpd_request *, const struct httpd_route *, void *);
	const struct httpd_route *routes;
	size_t n_routes;
	void *userdata;
	struct httpd_request *requests; /* all live requests, for shutdown */
	bool freeing;
};

struct httpd_request {
	struct httpd *h;
	struct MHD_Connection *conn;
	struct httpd_request *prev, *next;
	int fd;
	const char *method, *path; /* owned by MHD for the request's lifetime */
	struct httpd_match match;
	enum request_state state;
	struct httpd_body body;
	size_t max_body;
	bool too_large;
	enum httpd_encoding encoding;
	bool have_cred;
	struct ucred cred;

	struct {
		char *name, *value;
	} headers[HTTPD_MAX_HEADERS];
	size_t n_headers;
	char **decoded; /* query values handed out, freed with the request */
	size_t n_decoded;

	struct MHD_Response *response; /* built, not yet queued */
	unsigned status;
	bool queued;
	bool suspended;
	bool aborted;
	sd_event_source *hup;

	void (*on_close)(struct httpd_request *, void *);
	void *close_userdata;
	struct httpd_stream *stream;
};

struct httpd_stream {
	struct httpd_request *req;
	char *buf;
	size_t start, end, allocated;
	size_t max;
	bool finished, failed;
	void (*on_close)(struct httpd_stream *, void *);
	void *userdata;
};

static void httpd_rearm(struct httpd *h)
{
	MHD_UNSIGNED_LONG_LONG ms;
	uint64_t now;

	if (MHD_get_timeout(h->mhd, &ms) != MHD_YES) {
		(void)sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
		return;
	}
	if (sd_event_now(h->event, CLOCK_MONOTONIC, &now) < 0)
		now = 0;
	ms = MIN(ms, (MHD_UNSIGNED_LONG_LONG)24 * 3600 * 1000);
	(void)sd_event_source_set_time(h->timer, now + (uint64_t)ms * 1000);
	(void)sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
}

/* Makes the loop call MHD_run soon, e.g. after a resume from outside MHD. */
static void httpd_kick(struct httpd *h)
{
	if (!h->timer)
		return;
	(void)sd_event_source_set_time(h->timer, 1);
	(void)sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
}

static void httpd_run(struct httpd *h)
{
	if (MHD_run(h->mhd) != MHD_YES)
		log_debug("MHD_run failed");
	httpd_rearm(h);
}

static int on_mhd_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	httpd_run(userdata);
	return 0;
}

static int on_mhd_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	httpd_run(userdata);
	return 0;
}

static int on_client_hup(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static void request_suspend(struct httpd_request *req)
{
	int r;

	MHD_suspend_connection(req->conn);
	req->suspended = true;
	/* MHD does not watch a suspended connection, so a client that leaves would go unnoticed
	 * until the next write. */
	r = sd_event_add_io(req->h->event, &req->hup, req->fd, EPOLLRDHUP, on_client_hup, req);
	if (r < 0)
		log_debug_errno(r, "cannot watch suspended connection, ignoring", "err=%m");
}

static void request_resume(struct httpd_request *req)
{
	if (!req->suspended)
		return;
	req->hup = sd_event_source_disable_unref(req->hup);
	req->suspended = false;
	MHD_resume_connection(req->conn);
	httpd_kick(req->h);
}

static int on_client_hup(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct httpd_request *req = userdata;

	log_debug("client left while suspended", "path=%s", req->path);
	req->aborted = true;
	if (req->stream)
		req->stream->failed = true;
	request_resume(req);
	return 0;
}

static void stream_free(struct httpd_stream *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s);
}

static void request_free(struct httpd_request *req)
{
	if (!req)
		return;
	req->hup = sd_event_source_disable_unref(req->hup);
	if (req->prev)
		req->prev->next = req->next;
	else if (req->h->requests == req)
		req->h->requests = req->next;
	if (req->next)
		req->next->prev = req->prev;
	httpd_match_done(&req->match);
	httpd_body_done(&req->body);
	for (size_t i = 0; i < req->n_headers; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	for (size_t i = 0; i < req->n_decoded; i++)
		free(req->decoded[i]);
	free(req->decoded);
	if (req->response)
		MHD_destroy_response(req->response);
	stream_free(req->stream);
	free(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct httpd_request *req = *con_cls;

	if (!req)
		return;
	*con_cls = NULL;
	log_debug("request finished", "method=%s path=%s status=%u toe=%d", req->method, req->path,
		  req->status, (int)toe);
	if (req->stream && req->stream->on_close)
		req->stream->on_close(req->stream, req->stream->userdata);
	if (req->on_close)
		req->on_close(req, req->close_userdata);
	request_free(req);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) _printf_(2, 0);
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t l;

	vsnprintf(buf, sizeof buf, fmt, ap);
	l = strlen(buf);
	while (l > 0 && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
		buf[--l] = '\0';
	log_debug("microhttpd", "text=\"%s\"", buf);
}

/* The router decodes parameters itself, per segment, so MHD must leave the path encoded
 * (a decoded %2F would otherwise split a segment and %00 would truncate the path). */
static size_t on_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

/* --- replies --- */

static int request_set_response(struct httpd_request *req, unsigned status,
				struct MHD_Response *resp)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (MHD_add_response_header(resp, req->headers[i].name, req->headers[i].value) !=
		    MHD_YES) {
			MHD_destroy_response(resp);
			return -EINVAL;
		}
	req->response = resp;
	req->status = status;
	if (req->state == REQUEST_DEFERRED) {
		req->state = REQUEST_REPLIED;
		request_resume(req);
	} else
		req->state = REQUEST_REPLIED;
	return 0;
}

static bool request_can_reply(const struct httpd_request *req)
{
	return !req->response && !req->queued &&
	       (req->state == REQUEST_HANDLING || req->state == REQUEST_DEFERRED ||
		req->state == REQUEST_RECEIVING);
}

int httpd_reply(struct httpd_request *req, unsigned status, const char *content_type,
		const void *body, size_t len)
{
	const struct httpd_route *route = req->match.route;
	_cleanup_free_ char *gz = NULL;
	struct MHD_Response *resp;
	bool gzip = false;
	int r;

	if (!request_can_reply(req))
		return -EALREADY;
	if (route && (route->flags & HTTPD_ROUTE_GZIP_RESPONSE) && len >= HTTPD_GZIP_MIN &&
	    httpd_accepts_gzip(httpd_request_header(req, "Accept-Encoding"))) {
		size_t gzlen;
		r = httpd_gzip(body, len, &gz, &gzlen);
		if (r >= 0) {
			body = gz;
			len = gzlen;
			gzip = true;
		}
	}
	resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)(body ?: ""),
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return -ENOMEM;
	if ((content_type &&
	     MHD_add_response_header(resp, "Content-Type", content_type) != MHD_YES) ||
	    (gzip && MHD_add_response_header(resp, "Content-Encoding", "gzip") != MHD_YES) ||
	    (route && (route->flags & HTTPD_ROUTE_GZIP_RESPONSE) &&
	     MHD_add_response_header(resp, "Vary", "Accept-Encoding") != MHD_YES)) {
		MHD_destroy_response(resp);
		return -ENOMEM;
	}
	return request_set_response(req, status, resp);
}

int httpd_reply_json(struct httpd_request *req, unsigned status, json_t *body)
{
	_cleanup_free_ char *text = NULL;

	if (!body)
		return httpd_reply_error(req, 500, "internal_error", "internal error");
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text)
		return httpd_reply_error(req, 500, "internal_error", "internal error");
	return httpd_reply(req, status, "application/json", text, strlen(text));
}

int httpd_reply_error(struct httpd_request *req, unsigned status, const char *error,
		      const char *message)
{
	json_t *j = message ? json_pack("{s:s, s:s}", "error", error, "message", message)
			    : json_pack("{s:s}", "error", error);
	_cleanup_free_ char *text = NULL;

	if (!j)
		return -ENOMEM;
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		return -ENOMEM;
	return httpd_reply(req, status, "application/json", text, strlen(text));
}

int httpd_reply_empty(struct httpd_request *req, unsigned status)
{
	return httpd_reply(req, status, NULL, NULL, 0);
}

int httpd_request_defer(struct httpd_request *req, void (*on_close)(struct httpd_request *, void *),
			void *userdata)
{
	if (req->state != REQUEST_HANDLING || req->response)
		return -EALREADY;
	req->state = REQUEST_DEFERRED;
	req->on_close = on_close;
	req->close_userdata = userdata;
	return 0;
}

/* --- streams --- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct httpd_stream *s = cls;
	size_t n;

	if (s->failed || s->req->h->freeing)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (s->start == s->end) {
		if (s->finished)
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* Nothing to send: park the connection until httpd_stream_write resumes it
		 * (returning 0 without suspending would make MHD poll us in a busy loop). */
		request_suspend(s->req);
		return 0;
	}
	n = MIN(max, s->end - s->start);
	memcpy(buf, s->buf + s->start, n);
	s->start += n;
	if (s->start == s->end)
		s->start = s->end = 0;
	return (ssize_t)n;
}

int httpd_reply_stream(struct httpd_request *req, unsigned status, const char *content_type,
		       void (*on_close)(struct httpd_stream *, void *), void *userdata,
		       struct httpd_stream **ret)
{
	struct httpd_stream *s;
	struct MHD_Response *resp;
	int r;

	if (!request_can_reply(req))
		return -EALREADY;
	s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->req = req;
	s->max = req->h->stream_max;
	s->on_close = on_close;
	s->userdata = userdata;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, s, NULL);
	if (!resp) {
		free(s);
		return -ENOMEM;
	}
	if ((content_type &&
	     MHD_add_response_header(resp, "Content-Type", content_type) != MHD_YES) ||
	    MHD_add_response_header(resp, "Cache-Control", "no-cache") != MHD_YES) {
		MHD_destroy_response(resp);
		free(s);
		return -ENOMEM;
	}
	req->stream = s;
	r = request_set_response(req, status, resp);
	if (r < 0) {
		req->stream = NULL;
		free(s);
		return r;
	}
	req->state = REQUEST_STREAMING;
	*ret = s;
	return 0;
}

int httpd_stream_write(struct httpd_stream *s, const void *data, size_t len)
{
	if (s->failed || s->finished)
		return -EPIPE;
	if (len > s->max || s->end - s->start > s->max - len) {
		log_warning("stream client too slow, dropping stream", "path=%s queued=%zu",
			    s->req->path, s->end - s->start);
		s->failed = true;
		s->buf = mfree(s->buf);
		s->start = s->end = s->allocated = 0;
		request_resume(s->req);
		return -ENOBUFS;
	}
	if (s->end + len > s->allocated) {
		/* Compact first; grow only when the live bytes need it. */
		if (s->start > 0) {
			memmove(s->buf, s->buf + s->start, s->end - s->start);
			s->end -= s->start;
			s->start = 0;
		}
		if (s->end + len > s->allocated) {
			size_t a = MAX(s->allocated * 2, s->end + len);
			char *b = realloc(s->buf, MAX(a, (size_t)4096));
			if (!b)
				return -ENOMEM;
			s->buf = b;
			s->allocated = MAX(a, (size_t)4096);
		}
	}
	memcpy(s->buf + s->end, data, len);
	s->end += len;
	request_resume(s->req);
	return 0;
}

int httpd_stream_finish(struct httpd_stream *s)
{
	if (s->failed || s->finished)
		return -EPIPE;
	s->finished = true;
	request_resume(s->req);
	return 0;
}

size_t httpd_stream_queued(const struct httpd_stream *s)
{
	return s->end - s->start;
}

struct httpd_request *httpd_stream_request(struct httpd_stream *s)
{
	return s->req;
}

/* --- request accessors --- */

const char *httpd_request_method(const struct httpd_request *req)
{
	return req->method;
}

const char *httpd_request_path(const struct httpd_request *req)
{
	return req->path;
}

const struct httpd_route *httpd_request_route(const struct httpd_request *req)
{
	return req->match.route;
}

const char *httpd_request_param(const struct httpd_request *req, const char *name)
{
	return httpd_match_param(&req->match, name);
}

const char *httpd_request_header(const struct httpd_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *httpd_request_query(struct httpd_request *req, const char *name)
{
	const char *v = NULL;
	size_t vlen = 0;
	char *d, **a;

	if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
					  &vlen) != MHD_YES)
		return NULL;
	if (!v)
		return "";
	if (httpd_percent_decode(v, vlen, true, &d) < 0)
		return NULL;
	a = realloc(req->decoded, (req->n_decoded + 1) * sizeof *a);
	if (!a) {
		free(d);
		return NULL;
	}
	req->decoded = a;
	req->decoded[req->n_decoded++] = d;
	return d;
}

const char *httpd_request_body(const struct httpd_request *req, size_t *ret_len)
{
	if (ret_len)
		*ret_len = req->body.len;
	return req->body.data ?: "";
}

int httpd_request_body_json(const struct httpd_request *req, json_t **ret)
{
	json_error_t err;
	json_t *j;

	if (req->body.len == 0)
		return -ENODATA;
	j = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		return -EINVAL;
	*ret = j;
	return 0;
}

bool httpd_request_is_unix(const struct httpd_request *req)
{
	return req->h->unix_path != NULL;
}

int httpd_request_peer(const struct httpd_request *req, pid_t *ret_pid, uid_t *ret_uid,
		       gid_t *ret_gid)
{
	if (!req->have_cred)
		return -ENODATA;
	if (ret_pid)
		*ret_pid = req->cred.pid;
	if (ret_uid)
		*ret_uid = req->cred.uid;
	if (ret_gid)
		*ret_gid = req->cred.gid;
	return 0;
}

bool httpd_request_peer_in_group(const struct httpd_request *req, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof groups;

	if (!req->have_cred)
		return false;
	if (req->cred.gid == gid)
		return true;
	/* SO_PEERGROUPS reports the supplementary groups the peer had at connect(). ERANGE
	 * (more than 256 groups) is treated as "not a member". */
	if (getsockopt(req->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

int httpd_request_add_header(struct httpd_request *req, const char *name, const char *value)
{
	char *n, *v;

	if (req->n_headers >= HTTPD_MAX_HEADERS)
		return -E2BIG;
	n = strdup(name);
	v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		return -ENOMEM;
	}
	req->headers[req->n_headers].name = n;
	req->headers[req->n_headers].value = v;
	req->n_headers++;
	return 0;
}

/* --- the MHD access handler --- */

static enum MHD_Result request_queue(struct httpd_request *req)
{
	enum MHD_Result r;

	if (!req->response)
		return MHD_NO;
	r = MHD_queue_response(req->conn, req->status, req->response);
	MHD_destroy_response(req->response);
	req->response = NULL;
	req->queued = r == MHD_YES;
	if (r != MHD_YES)
		log_debug("cannot queue response", "path=%s status=%u", req->path, req->status);
	return r;
}

static enum MHD_Result request_reply_now(struct httpd_request *req, unsigned status,
					 const char *error, const char *message)
{
	if (httpd_reply_error(req, status, error, message) < 0)
		return MHD_NO;
	return request_queue(req);
}

static enum MHD_Result request_begin(struct httpd_request *req)
{
	struct httpd *h = req->h;
	const char *v;
	int r;

	r = httpd_router_find(h->routes, h->n_routes, req->method, req->path, &req->match);
	if (r == -ENOENT)
		return request_reply_now(req, 404, "not_found", "no such resource");
	if (r == -EOPNOTSUPP) {
		(void)httpd_request_add_header(req, "Allow", req->match.allow);
		return request_reply_now(req, 405, "method_not_allowed", "method not allowed on this path");
	}
	if (r == -EINVAL)
		return request_reply_now(req, 400, "bad_request", "invalid path encoding");
	if (r < 0)
		return MHD_NO;

	req->max_body = req->match.route->max_body ?: h->max_body;
	r = httpd_content_encoding_parse(httpd_request_header(req, "Content-Encoding"),
					 &req->encoding);
	if (r < 0 || (req->encoding == HTTPD_ENCODING_GZIP &&
		      !(req->match.route->flags & HTTPD_ROUTE_GZIP_BODY)))
		return request_reply_now(req, 415, "unsupported_encoding", "unsupported Content-Encoding");
	v = httpd_request_header(req, "Content-Length");
	if (v) {
		char *end;
		errno = 0;
		unsigned long long cl = strtoull(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || cl > req->max_body)
			return request_reply_now(req, 413, "body_too_large", "request body too large");
	}

	if (h->authorize) {
		req->state = REQUEST_HANDLING;
		r = h->authorize(req, req->match.route, h->userdata);
		if (r != 0) {
			if (req->response)
				return request_queue(req);
			return request_reply_now(req, 403, "forbidden", "not permitted");
		}
		if (req->response) /* replied but allowed: treat the reply as final */
			return request_queue(req);
	}
	req->state = REQUEST_RECEIVING;
	return MHD_YES;
}

static enum MHD_Result request_dispatch(struct httpd_request *req)
{
	struct httpd *h = req->h;
	int r;

	if (req->too_large)
		return request_reply_now(req, 413, "body_too_large", "request body too large");
	if (req->encoding == HTTPD_ENCODING_GZIP && req->body.len > 0) {
		char *plain;
		size_t plen;
		r = httpd_gunzip(req->body.data, req->body.len, req->max_body, &plain, &plen);
		if (r == -EFBIG)
			return request_reply_now(req, 413, "body_too_large", "request body too large");
		if (r < 0)
			return request_reply_now(req, 400, "bad_request", "invalid gzip body");
		httpd_body_done(&req->body);
		req->body.data = plain;
		req->body.len = plen;
		req->body.allocated = plen + 1;
	}

	req->state = REQUEST_HANDLING;
	r = req->match.route->handler(req, h->userdata);
	if (req->response)
		return request_queue(req);
	if (req->state == REQUEST_DEFERRED) {
		request_suspend(req);
		return MHD_YES;
	}
	if (r < 0)
		log_error_errno(r, "request handler failed", "method=%s path=%s err=%m",
				req->method, req->path);
	else
		log_error("request handler gave no reply", "method=%s path=%s", req->method,
			  req->path);
	req->state = REQUEST_HANDLING;
	return request_reply_now(req, 500, "internal_error", "internal error");
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct httpd *h = cls;
	struct httpd_request *req = *con_cls;
	const union MHD_ConnectionInfo *ci;
	int r;

	if (!req) {
		if (h->freeing)
			return MHD_NO;
		req = calloc(1, sizeof *req);
		if (!req)
			return MHD_NO;
		req->h = h;
		req->conn = conn;
		req->method = method;
		req->path = url;
		req->fd = -EBADF;
		req->state = REQUEST_RECEIVING;
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci)
			req->fd = ci->connect_fd;
		if (h->unix_path && req->fd >= 0) {
			socklen_t l = sizeof req->cred;
			req->have_cred =
			    getsockopt(req->fd, SOL_SOCKET, SO_PEERCRED, &req->cred, &l) >= 0;
		}
		req->next = h->requests;
		if (h->requests)
			h->requests->prev = req;
		h->requests = req;
		*con_cls = req;
		return request_begin(req);
	}

	if (*upload_data_size > 0) {
		if (req->state == REQUEST_RECEIVING && !req->too_large) {
			r = httpd_body_append(&req->body, upload_data, *upload_data_size,
					      req->max_body);
			if (r == -EFBIG) {
				/* Keep reading and discarding, so the 413 reaches a client that
				 * is still sending. */
				req->too_large = true;
				httpd_body_done(&req->body);
			} else if (r < 0)
				return MHD_NO;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	if (req->aborted || h->freeing)
		return MHD_NO;
	switch (req->state) {
	case REQUEST_RECEIVING:
		return request_dispatch(req);
	case REQUEST_REPLIED:
	case REQUEST_STREAMING:
		if (req->response)
			return request_queue(req);
		return req->queued ? MHD_YES : MHD_NO;
	case REQUEST_HANDLING:
	case REQUEST_DEFERRED:
		break;
	}
	return MHD_NO;
}

/* --- listeners --- */

static int listen_unix(const struct httpd_config *c, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	mode_t old;
	int r;

	if (strlen(c->unix_path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, c->unix_path);
	if (lstat(c->unix_path, &st) >= 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		if (unlink(c->unix_path) < 0)
			return negative_errno();
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return negative_errno();
	/* Bind under a tight umask so the socket is never reachable with looser permissions
	 * than requested, even between bind and chmod. */
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (r < 0)
		return negative_errno();
	if (chmod(c->unix_path, c->unix_mode ?: 0600) < 0 ||
	    (c->unix_set_owner && chown(c->unix_path, c->unix_uid, c->unix_gid) < 0) ||
	    listen(fd, SOMAXCONN) < 0) {
		r = negative_errno();
		(void)unlink(c->unix_path);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int listen_tcp(const char *listen_addr, int *ret_fd, int *ret_port)
{
	_cleanup_free_ char *host = NULL;
	const char *colon, *port;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	_cleanup_close_ int fd = -EBADF;
	int one = 1, r;

	if (listen_addr[0] == '[') {
		const char *e = strchr(listen_addr, ']');
		if (!e || e[1] != ':')
			return -EINVAL;
		host = strndup(listen_addr + 1, (size_t)(e - listen_addr - 1));
		port = e + 2;
	} else {
		colon = strrchr(listen_addr, ':');
		if (!colon)
			return -EINVAL;
		host = strndup(listen_addr, (size_t)(colon - listen_addr));
		port = colon + 1;
	}
	if (!host)
		return -ENOMEM;
	if (*port == '\0' || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
	    atoi(port) > 65535)
		return -EINVAL;
	r = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
	if (r != 0)
		return r == EAI_SYSTEM ? negative_errno() : -EADDRNOTAVAIL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = negative_errno();
		goto out;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		r = negative_errno();
		goto out;
	}
	*ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	*ret_fd = TAKE_FD(fd);
	r = 0;
out:
	freeaddrinfo(ai);
	return r;
}

int httpd_new(sd_event *event, const struct httpd_config *c, struct httpd **ret)
{
	_cleanup_(httpd_freep) struct httpd *h = NULL;
	const union MHD_DaemonInfo *di;
	int fd = -EBADF, r;

	if (!event || !c || !!c->unix_path == !!c->tcp_listen || (!c->routes && c->n_routes) ||
	    !!c->tls_cert_pem != !!c->tls_key_pem || (c->tls_cert_pem && c->unix_path))
		return -EINVAL;
	if (c->tls_cert_pem && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return log_debug_errno(-EOPNOTSUPP, "libmicrohttpd was built without TLS support");
	h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->event = sd_event_ref(event);
	h->port = -1;
	h->max_connections = c->max_connections ?: HTTPD_DEFAULT_MAX_CONNECTIONS;
	h->max_body = c->max_body ?: HTTPD_DEFAULT_MAX_BODY;
	h->stream_max = c->stream_buffer_max ?: HTTPD_DEFAULT_STREAM_MAX;
	h->authorize = c->authorize;
	h->routes = c->routes;
	h->n_routes = c->n_routes;
	h->userdata = c->userdata;
	if (c->tls_cert_pem) {
		h->tls_cert = strdup(c->tls_cert_pem);
		h->tls_key = strdup(c->tls_key_pem);
		if (!h->tls_cert || !h->tls_key)
			return -ENOMEM;
	}

	if (c->unix_path) {
		r = listen_unix(c, &fd);
		if (r < 0)
			return log_debug_errno(r, "cannot bind unix socket", "path=%s err=%m",
					       c->unix_path);
		h->unix_path = strdup(c->unix_path);
		if (!h->unix_path) {
			safe_close(fd);
			(void)unlink(c->unix_path);
			return -ENOMEM;
		}
	} else {
		r = listen_tcp(c->tcp_listen, &fd, &h->port);
		if (r < 0)
			return log_debug_errno(r, "cannot bind tcp socket", "listen=%s err=%m",
					       c->tcp_listen);
	}

	/* With TLS, MHD (GnuTLS) decrypts inside MHD_run; the epoll glue, timeouts and
	 * suspend/resume below are the same for both. */
	struct MHD_OptionItem tls_options[] = {
	    {MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert},
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key},
	    {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)(uintptr_t)HTTPD_TLS_PRIORITIES},
	    {MHD_OPTION_END, 0, NULL},
	};
	if (!h->tls_cert)
		tls_options[0].option = MHD_OPTION_END;

	/* MHD takes the listen socket and closes it in MHD_stop_daemon. */
	h->mhd = MHD_start_daemon(
	    MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
		(h->tls_cert ? MHD_USE_TLS : 0),
	    0, NULL, NULL, on_access, h, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_CONNECTION_LIMIT, h->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
	    c->connection_timeout_sec ?: HTTPD_DEFAULT_TIMEOUT_SEC, MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
	    MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, h, MHD_OPTION_ARRAY, tls_options,
	    c->tcp_listen && c->per_ip_connections ? MHD_OPTION_PER_IP_CONNECTION_LIMIT
						   : MHD_OPTION_END,
	    c->per_ip_connections, MHD_OPTION_END);
	if (!h->mhd) {
		safe_close(fd);
		/* The listener was bound above, so with TLS the likely cause is the PEM input
		 * (details at debug level from microhttpd). */
		return log_debug_errno(h->tls_cert ? -EBADMSG : -EIO, "cannot start microhttpd",
				       "tls=%s", h->tls_cert ? "yes" : "no");
	}

	di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!di)
		return -EIO;
	r = sd_event_add_io(event, &h->io, di->epoll_fd, EPOLLIN, on_mhd_io, h);
	if (r < 0)
		return r;
	/* Accuracy 1 µs: MHD asks for 0 when it has buffered work, which must not wait 250 ms. */
	r = sd_event_add_time(event, &h->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_mhd_timer, h);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(h->io, "httpd-io");
	(void)sd_event_source_set_description(h->timer, "httpd-timer");
	httpd_rearm(h);
	*ret = TAKE_PTR(h);
	return 0;
}

struct httpd *httpd_free(struct httpd *h)
{
	if (!h)
		return NULL;
	h->freeing = true;
	h->io = sd_event_source_disable_unref(h->io);
	h->timer = sd_event_source_disable_unref(h->timer);
	if (h->mhd) {
		/* MHD_stop_daemon must not see suspended connections: resume them so that
		 * streams end with an error and deferred requests are dropped. */
		for (struct httpd_request *req = h->requests; req; req = req->next) {
			req->aborted = true;
			if (req->stream)
				req->stream->failed = true;
			if (req->suspended) {
				req->hup = sd_event_source_disable_unref(req->hup);
				req->suspended = false;
				MHD_resume_connection(req->conn);
			}
		}
		(void)MHD_run(h->mhd);
		MHD_stop_daemon(h->mhd);
	}
	if (h->unix_path)
		(void)unlink(h->unix_path);
	free(h->unix_path);
	free(h->tls_cert);
	if (h->tls_key) {
		explicit_bzero(h->tls_key, strlen(h->tls_key));
		free(h->tls_key);
	}
	sd_event_unref(h->event);
	free(h);
	return NULL;
}

int httpd_get_port(const struct httpd *h)
{
	return h->port >= 0 ? h->port : -EAFNOSUPPORT;
}

unsigned httpd_get_connection_count(const struct httpd *h)
{
	const union MHD_DaemonInfo *di =
	    MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return di ? di->num_connections : 0;
}
