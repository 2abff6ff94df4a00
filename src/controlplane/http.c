/* libcurl multi_socket glue for sd-event plus the request conventions of control-plane-api.md §2:
 * headers, gzip bodies, bounded responses, timeouts, Retry-After/Date parsing, streaming mode. */
#define LOG_COMPONENT "http"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <zlib.h>

#include "controlplane/http.h"
#include "shared/log.h"
#include "shared/macro.h"
#include "shared/wire.h"
#include "version.h"

#define CONNECT_TIMEOUT_DEFAULT (10 * USEC_PER_SEC)
#define REQUEST_TIMEOUT_DEFAULT (30 * USEC_PER_SEC)
#define STREAM_HEADERS_TIMEOUT_DEFAULT (30 * USEC_PER_SEC)
#define STREAM_IDLE_TIMEOUT_DEFAULT (90 * USEC_PER_SEC)
#define TIMER_ACCURACY_USEC (1 * USEC_PER_MSEC)

struct http_client {
	sd_event *event;
	CURLM *multi;
	sd_event_source *timer;
	char *base_url;
	char *ca_file;
	char *user_agent;
	bool insecure_skip_verify;
	bool allow_insecure_http;
	bool local_service;
	usec_t connect_timeout;
	usec_t request_timeout;
	size_t max_body;
	struct http_request *requests; /* every live request, doubly linked */
	size_t n_requests;
	/* >0 while inside curl_multi_socket_action: curl forbids removing handles from its
	 * callbacks, so cancellation is deferred to a sweep afterwards. */
	unsigned in_curl;
	bool need_sweep;
	bool curl_global;
};

struct http_request {
	struct http_client *client;
	struct http_request *prev, *next;
	CURL *easy;
	struct curl_slist *headers;
	char *url;
	void *body;
	size_t body_len;
	char errbuf[CURL_ERROR_SIZE];

	http_done_fn done;
	void *userdata;
	void (*free_userdata)(void *userdata);
	bool cancelled;
	bool finishing;
	/* Started from inside a curl callback (e.g. an event handler running from a stream's
	 * data callback): curl refuses re-entrant curl_multi_add_handle, so the handle is added
	 * by the sweep once curl has returned. */
	bool pending_add;

	/* response */
	long status;
	bool headers_done;
	char *content_type;
	bool has_retry_after;
	usec_t retry_after;
	bool has_date;
	struct timestamp date;
	char *capture_names[HTTP_CAPTURE_MAX];
	char *capture_values[HTTP_CAPTURE_MAX];
	size_t n_capture;
	char *buf;
	size_t len, cap;
	size_t max_body; /* 0 = the client's */
	bool oversize; /* 2xx body over max_body: an error */
	bool truncated; /* error body cut at HTTP_ERROR_BODY_MAX: not an error */

	/* streaming */
	bool streaming;
	bool stream_open;
	int stream_error;
	usec_t idle_timeout;
	sd_event_source *headers_timer;
	sd_event_source *idle_timer;
	void (*on_open)(struct http_request *req, void *userdata);
	int (*on_data)(struct http_request *req, const void *buf, size_t len, void *userdata);
};

static void client_process(struct http_client *c);

/* ---- pure helpers ---- */

int http_escape_segment(const char *s, char **ret)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1), *p = out;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~')
			*p++ = (char)ch;
		else {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	*p = 0;
	*ret = out;
	return 0;
}

int http_parse_retry_after(const char *value, usec_t *ret)
{
	uint64_t v = 0;
	const char *p = value;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > UINT64_MAX / 10 / USEC_PER_SEC)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p)
		return -EINVAL;
	*ret = v * USEC_PER_SEC;
	return 0;
}

int http_gzip(const void *data, size_t len, void **ret, size_t *ret_len)
{
	z_stream z = {};
	uLong bound;
	void *out;

	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, (uLong)len);
	out = malloc(bound);
	if (!out) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)bound;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(out);
		return -EIO;
	}
	*ret_len = z.total_out;
	deflateEnd(&z);
	*ret = out;
	return 0;
}

/* "text/event-stream" with optional parameters, case-insensitive. */
static bool is_event_stream(const char *ct)
{
	static const char want[] = "text/event-stream";
	if (!ct || strncasecmp(ct, want, STRLEN(want)) != 0)
		return false;
	ct += STRLEN(want);
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == 0 || *ct == ';';
}

/* ---- request lifetime ---- */

static void slist_free_wiped(struct curl_slist *l)
{
	/* The Authorization header lives here; wipe it before handing the memory back. */
	for (struct curl_slist *i = l; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

static void request_free(struct http_request *req)
{
	struct http_client *c = req->client;

	req->headers_timer = sd_event_source_disable_unref(req->headers_timer);
	req->idle_timer = sd_event_source_disable_unref(req->idle_timer);
	if (req->easy) {
		curl_multi_remove_handle(c->multi, req->easy);
		curl_easy_cleanup(req->easy);
	}
	if (req->prev)
		req->prev->next = req->next;
	else if (c->requests == req)
		c->requests = req->next;
	if (req->next)
		req->next->prev = req->prev;
	c->n_requests--;

	slist_free_wiped(req->headers);
	free(req->url);
	if (req->body) {
		explicit_bzero(req->body, req->body_len);
		free(req->body);
	}
	free(req->buf);
	free(req->content_type);
	for (size_t i = 0; i < req->n_capture; i++) {
		free(req->capture_names[i]);
		free(req->capture_values[i]);
	}
	if (req->free_userdata)
		req->free_userdata(req->userdata);
	free(req);
}

static int errno_from_curl(CURLcode code)
{
	switch (code) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_BAD_CONTENT_ENCODING:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

/* Delivers the result (unless cancelled) and frees the request. forced < 0 overrides the
 * curl result (our own timers). */
static void request_complete(struct http_request *req, CURLcode code, int forced, const char *forced_text)
{
	struct http_response resp = {};
	int error;

	if (forced < 0)
		error = forced;
	else if (req->stream_error < 0)
		error = req->stream_error;
	else if (req->oversize)
		error = -EFBIG;
	else if (code == CURLE_WRITE_ERROR && req->truncated)
		error = 0;
	else
		error = errno_from_curl(code);

	resp.status = req->status;
	resp.error = error;
	if (error == 0)
		resp.error_text = "";
	else if (forced_text)
		resp.error_text = forced_text;
	else if (error == -EFBIG)
		resp.error_text = "response body too large";
	else if (error == -EPROTO)
		resp.error_text = "response is not text/event-stream";
	else if (req->errbuf[0])
		resp.error_text = req->errbuf;
	else
		resp.error_text = curl_easy_strerror(code);
	resp.body = req->buf ? req->buf : "";
	resp.body_len = req->len;
	resp.content_type = req->content_type;
	resp.has_retry_after = req->has_retry_after;
	resp.retry_after = req->retry_after;
	resp.has_date = req->has_date;
	resp.date = req->date;
	resp.captured_names = (const char *const *)req->capture_names;
	resp.captured_values = (const char *const *)req->capture_values;
	resp.n_captured = req->n_capture;

	req->finishing = true;
	req->headers_timer = sd_event_source_disable_unref(req->headers_timer);
	req->idle_timer = sd_event_source_disable_unref(req->idle_timer);
	if (!req->cancelled && req->done)
		req->done(req, &resp, req->userdata);
	request_free(req);
}

void http_request_cancel(struct http_request *req)
{
	if (!req || req->cancelled)
		return;
	req->cancelled = true;
	if (req->headers_timer)
		(void)sd_event_source_set_enabled(req->headers_timer, SD_EVENT_OFF);
	if (req->idle_timer)
		(void)sd_event_source_set_enabled(req->idle_timer, SD_EVENT_OFF);
	if (req->finishing)
		return; /* request_complete() frees it after the callback */
	if (req->client->in_curl > 0) {
		req->client->need_sweep = true;
		return;
	}
	request_free(req);
}

/* ---- curl callbacks ---- */

static int buf_append(struct http_request *req, const char *p, size_t n)
{
	if (req->len + n + 1 > req->cap) {
		size_t cap = MAX(req->cap * 2, req->len + n + 1);
		cap = MAX(cap, (size_t)4096);
		char *b = realloc(req->buf, cap);
		if (!b)
			return -ENOMEM;
		req->buf = b;
		req->cap = cap;
	}
	memcpy(req->buf + req->len, p, n);
	req->len += n;
	req->buf[req->len] = 0;
	return 0;
}

static void idle_timer_rearm(struct http_request *req)
{
	usec_t now;
	if (!req->idle_timer || sd_event_now(req->client->event, CLOCK_MONOTONIC, &now) < 0)
		return;
	(void)sd_event_source_set_time(req->idle_timer, now + req->idle_timeout);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct http_request *req = userdata;
	size_t n = size * nmemb, limit;

	if (req->cancelled)
		return CURL_WRITEFUNC_ERROR;

	if (req->stream_open) {
		idle_timer_rearm(req);
		int r = req->on_data ? req->on_data(req, ptr, n, req->userdata) : 0;
		if (r < 0) {
			req->stream_error = r;
			return CURL_WRITEFUNC_ERROR;
		}
		return req->cancelled ? CURL_WRITEFUNC_ERROR : n;
	}

	bool success = req->status >= 200 && req->status < 300 && !req->streaming;
	limit = !success		 ? HTTP_ERROR_BODY_MAX
		: req->max_body > 0 ? req->max_body
				    : req->client->max_body;
	if (req->len + n > limit) {
		if (success) {
			req->oversize = true;
			return CURL_WRITEFUNC_ERROR;
		}
		/* Error bodies are only read for logging: keep the head, stop the transfer. */
		if (buf_append(req, ptr, limit - req->len) < 0)
			return CURL_WRITEFUNC_ERROR;
		req->truncated = true;
		return CURL_WRITEFUNC_ERROR;
	}
	if (buf_append(req, ptr, n) < 0) {
		req->stream_error = -ENOMEM;
		return CURL_WRITEFUNC_ERROR;
	}
	return n;
}

static void header_value(struct http_request *req, const char *name, const char *value)
{
	if (strcasecmp(name, "content-type") == 0) {
		free(req->content_type);
		req->content_type = strdup(value);
	} else if (strcasecmp(name, "retry-after") == 0) {
		req->has_retry_after = http_parse_retry_after(value, &req->retry_after) >= 0;
	} else if (strcasecmp(name, "date") == 0) {
		time_t t = curl_getdate(value, NULL);
		if (t != (time_t)-1) {
			req->has_date = true;
			req->date = (struct timestamp){ .sec = (int64_t)t };
		}
	}
	for (size_t i = 0; i < req->n_capture; i++)
		if (strcasecmp(name, req->capture_names[i]) == 0) {
			free(req->capture_values[i]);
			req->capture_values[i] = strdup(value);
		}
}

static void captured_reset(struct http_request *req)
{
	for (size_t i = 0; i < req->n_capture; i++)
		req->capture_values[i] = mfree(req->capture_values[i]);
}

const char *http_response_header(const struct http_response *resp, const char *name)
{
	for (size_t i = 0; i < resp->n_captured; i++)
		if (strcasecmp(name, resp->captured_names[i]) == 0)
			return resp->captured_values[i];
	return NULL;
}

static bool stream_headers_done(struct http_request *req)
{
	if (req->status != 200 || !is_event_stream(req->content_type)) {
		if (req->status == 200) {
			req->stream_error = -EPROTO;
			return false; /* abort now: nothing of this body is wanted */
		}
		return true; /* read the (bounded) error body, then report the status */
	}
	req->stream_open = true;
	req->headers_timer = sd_event_source_disable_unref(req->headers_timer);
	if (req->idle_timer) {
		idle_timer_rearm(req);
		(void)sd_event_source_set_enabled(req->idle_timer, SD_EVENT_ONESHOT);
	}
	if (req->on_open)
		req->on_open(req, req->userdata);
	return !req->cancelled;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct http_request *req = userdata;
	size_t n = size * nitems, l = n;
	char line[1024];

	if (req->cancelled)
		return 0;
	while (l > 0 && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
		l--;

	if (l >= 5 && strneq(buf, "HTTP/", 5)) {
		/* A new response block (after 1xx, or the first): forget earlier headers. */
		const char *sp = memchr(buf, ' ', l);
		req->status = 0;
		if (sp && (size_t)(sp - buf) + 4 <= l && isdigit((unsigned char)sp[1]) &&
		    isdigit((unsigned char)sp[2]) && isdigit((unsigned char)sp[3]))
			req->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
		req->content_type = mfree(req->content_type);
		req->has_retry_after = false;
		req->has_date = false;
		captured_reset(req);
		req->headers_done = false;
		return n;
	}
	if (l == 0) {
		if (req->status >= 100 && req->status < 200)
			return n;
		req->headers_done = true;
		if (req->streaming && !stream_headers_done(req))
			return 0;
		return n;
	}
	if (l >= sizeof(line))
		return n; /* no header we read is that long */
	memcpy(line, buf, l);
	line[l] = 0;
	char *colon = strchr(line, ':');
	if (!colon)
		return n;
	*colon = 0;
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	char *end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = 0;
	header_value(req, line, v);
	return n;
}

/* ---- sd-event glue ---- */

static void client_action(struct http_client *c, curl_socket_t fd, int flags)
{
	int running;

	c->in_curl++;
	(void)curl_multi_socket_action(c->multi, fd, flags, &running);
	c->in_curl--;
	client_process(c);
}

static void client_sweep(struct http_client *c)
{
	struct http_request *req, *next;

	if (!c->need_sweep)
		return;
	c->need_sweep = false;
	for (req = c->requests; req; req = next) {
		next = req->next;
		if (req->cancelled && !req->finishing)
			request_free(req);
	}
	for (req = c->requests; req; req = next) {
		next = req->next;
		if (!req->pending_add || req->cancelled)
			continue;
		req->pending_add = false;
		if (curl_multi_add_handle(c->multi, req->easy) != CURLM_OK)
			request_complete(req, CURLE_OUT_OF_MEMORY, -ENOMEM, "cannot start request");
	}
}

static void client_process(struct http_client *c)
{
	CURLMsg *msg;
	int left;

	client_sweep(c);
	while ((msg = curl_multi_info_read(c->multi, &left))) {
		struct http_request *req;
		void *p = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &p);
		req = p;
		if (!req)
			continue;
		request_complete(req, msg->data.result, 0, NULL);
		client_sweep(c);
	}
}

static int io_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct http_client *c = userdata;
	int flags = 0;

	if (revents & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (revents & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (revents & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	client_action(c, fd, flags);
	return 0;
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	sd_event_source *src = socketp;
	uint32_t events = 0;
	int r;

	if (what == CURL_POLL_REMOVE) {
		if (src) {
			sd_event_source_disable_unref(src);
			curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		events |= EPOLLOUT;

	if (src) {
		r = sd_event_source_set_io_events(src, events);
		if (r >= 0)
			r = sd_event_source_set_enabled(src, SD_EVENT_ON);
	} else {
		r = sd_event_add_io(c->event, &src, fd, events, io_cb, c);
		if (r >= 0) {
			(void)sd_event_source_set_description(src, "curl-socket");
			curl_multi_assign(c->multi, fd, src);
		}
	}
	if (r < 0) {
		log_warning_errno(r, "cannot watch curl socket", "fd=%d err=%m", fd);
		return -1;
	}
	return 0;
}

static int timer_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
	client_action(userdata, CURL_SOCKET_TIMEOUT, 0);
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;
	usec_t now;

	if (timeout_ms < 0)
		return sd_event_source_set_enabled(c->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
	if (sd_event_now(c->event, CLOCK_MONOTONIC, &now) < 0)
		now = now_usec(CLOCK_MONOTONIC);
	if (sd_event_source_set_time(c->timer, now + (usec_t)timeout_ms * USEC_PER_MSEC) < 0 ||
	    sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT) < 0)
		return -1;
	return 0;
}

/* ---- client ---- */

int http_client_new(sd_event *event, const struct http_client_config *cfg, struct http_client **ret)
{
	struct http_client *c;
	size_t l;
	int r;

	if (!event || !cfg || isempty(cfg->base_url))
		return -EINVAL;
	if (strncasecmp(cfg->base_url, "https://", 8) != 0) {
		if (strncasecmp(cfg->base_url, "http://", 7) != 0)
			return -EINVAL;
		if (!cfg->allow_insecure_http && !cfg->local_service)
			return -EPERM;
	}

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->event = sd_event_ref(event);
	c->insecure_skip_verify = cfg->insecure_skip_verify;
	c->allow_insecure_http = cfg->allow_insecure_http || cfg->local_service;
	c->local_service = cfg->local_service;
	c->connect_timeout = cfg->connect_timeout ? cfg->connect_timeout : CONNECT_TIMEOUT_DEFAULT;
	c->request_timeout = cfg->request_timeout ? cfg->request_timeout : REQUEST_TIMEOUT_DEFAULT;
	c->max_body = cfg->max_body ? cfg->max_body : HTTP_BODY_MAX_DEFAULT;

	c->base_url = strdup(cfg->base_url);
	c->user_agent = strdup(cfg->user_agent ? cfg->user_agent : "plexd/" PLEXD_VERSION);
	if (!isempty(cfg->ca_file))
		c->ca_file = strdup(cfg->ca_file);
	if (!c->base_url || !c->user_agent || (!isempty(cfg->ca_file) && !c->ca_file)) {
		r = -ENOMEM;
		goto fail;
	}
	l = strlen(c->base_url);
	while (l > 0 && c->base_url[l - 1] == '/')
		c->base_url[--l] = 0;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		r = -EIO;
		goto fail;
	}
	c->curl_global = true;
	c->multi = curl_multi_init();
	if (!c->multi) {
		r = -ENOMEM;
		goto fail;
	}
	r = sd_event_add_time(event, &c->timer, CLOCK_MONOTONIC, UINT64_MAX, TIMER_ACCURACY_USEC, timer_fired, c);
	if (r < 0)
		goto fail;
	(void)sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
	(void)sd_event_source_set_description(c->timer, "curl-timer");

	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);

	if (c->insecure_skip_verify)
		log_warning("TLS certificate verification is disabled (insecure_skip_verify)");
	if (strncasecmp(c->base_url, "http://", 7) == 0 && !c->local_service)
		log_warning("control plane reached over plain HTTP (allow_insecure_http)", "url=%s", c->base_url);

	*ret = c;
	return 0;
fail:
	http_client_free(c);
	return r;
}

struct http_client *http_client_free(struct http_client *c)
{
	if (!c)
		return NULL;
	while (c->requests) {
		c->requests->cancelled = true;
		request_free(c->requests);
	}
	if (c->multi)
		curl_multi_cleanup(c->multi);
	c->timer = sd_event_source_disable_unref(c->timer);
	if (c->curl_global)
		curl_global_cleanup();
	sd_event_unref(c->event);
	free(c->base_url);
	free(c->ca_file);
	free(c->user_agent);
	free(c);
	return NULL;
}

sd_event *http_client_get_event(struct http_client *c)
{
	return c->event;
}

size_t http_client_pending(const struct http_client *c)
{
	return c->n_requests;
}

static int add_header(struct http_request *req, const char *name, const char *value)
{
	_cleanup_free_ char *h = NULL;
	struct curl_slist *l;

	/* Values come from our own state, but a CR/LF would let them forge headers. */
	if (!header_safe(value, strlen(value)) && strcasecmp(name, "authorization") != 0)
		return -EINVAL;
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return -EINVAL;
	if (asprintf(&h, "%s: %s", name, value) < 0)
		return -ENOMEM;
	l = curl_slist_append(req->headers, h);
	explicit_bzero(h, strlen(h));
	if (!l)
		return -ENOMEM;
	req->headers = l;
	return 0;
}

static int add_raw_header(struct http_request *req, const char *h)
{
	struct curl_slist *l = curl_slist_append(req->headers, h);
	if (!l)
		return -ENOMEM;
	req->headers = l;
	return 0;
}

/* A caller's "Name: value" line: the name must be a token, the value header-safe. */
static int add_custom_header(struct http_request *req, const char *h)
{
	const char *colon = strchr(h, ':');

	if (!colon || colon == h)
		return -EINVAL;
	for (const char *p = h; p < colon; p++)
		if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
			return -EINVAL;
	for (const char *p = colon + 1; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			if (*p != '\t')
				return -EINVAL;
	return add_raw_header(req, h);
}

/* Creates the easy handle with the options every request shares. */
static int request_new(struct http_client *c, const char *path, const char *bearer, struct http_request **ret)
{
	struct http_request *req;
	int r;

	if (!path || path[0] != '/')
		return -EINVAL;
	req = calloc(1, sizeof(*req));
	if (!req)
		return -ENOMEM;
	req->client = c;
	req->next = c->requests;
	if (c->requests)
		c->requests->prev = req;
	c->requests = req;
	c->n_requests++;

	if (asprintf(&req->url, "%s%s", c->base_url, path) < 0) {
		req->url = NULL;
		r = -ENOMEM;
		goto fail;
	}
	req->easy = curl_easy_init();
	if (!req->easy) {
		r = -ENOMEM;
		goto fail;
	}
	if (bearer) {
		_cleanup_erase_ char *v = NULL;
		if (asprintf(&v, "Bearer %s", bearer) < 0) {
			v = NULL;
			r = -ENOMEM;
			goto fail;
		}
		r = add_header(req, "Authorization", v);
		if (r < 0)
			goto fail;
	}
	/* curl adds "Expect: 100-continue" to large bodies; the CP contract has no use for it. */
	r = add_raw_header(req, "Expect:");
	if (r < 0)
		goto fail;

	CURL *e = req->easy;
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, req);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->connect_timeout / USEC_PER_MSEC));
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, c->allow_insecure_http ? "http,https" : "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (c->local_service)
		curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->insecure_skip_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	*ret = req;
	return 0;
fail:
	request_free(req);
	return r;
}

static int request_add(struct http_request *req, struct http_request **ret)
{
	struct http_client *c = req->client;

	curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
	if (c->in_curl > 0) {
		req->pending_add = true;
		c->need_sweep = true;
		if (ret)
			*ret = req;
		return 0;
	}
	if (curl_multi_add_handle(c->multi, req->easy) != CURLM_OK) {
		req->free_userdata = NULL; /* the caller keeps ownership on failure */
		request_free(req);
		return -ENOMEM;
	}
	if (ret)
		*ret = req;
	return 0;
}

int http_request_start(struct http_client *c, const struct http_request_opts *o, http_done_fn done,
		       void *userdata, struct http_request **ret)
{
	struct http_request *req;
	bool has_body = o->body != NULL;
	int r;

	if (!o->method || !done)
		return -EINVAL;
	r = request_new(c, o->path, o->bearer, &req);
	if (r < 0)
		return r;
	CURL *e = req->easy;

	r = add_header(req, "Accept", "application/json");
	if (r < 0)
		goto fail;
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
	for (size_t i = 0; o->headers && o->headers[i]; i++) {
		r = add_custom_header(req, o->headers[i]);
		if (r < 0)
			goto fail;
	}
	for (size_t i = 0; o->capture_headers && o->capture_headers[i]; i++) {
		if (req->n_capture == HTTP_CAPTURE_MAX) {
			r = -E2BIG;
			goto fail;
		}
		req->capture_names[req->n_capture] = strdup(o->capture_headers[i]);
		if (!req->capture_names[req->n_capture]) {
			r = -ENOMEM;
			goto fail;
		}
		req->n_capture++;
	}
	req->max_body = o->max_body;
	usec_t timeout = o->timeout ? o->timeout : c->request_timeout;
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout / USEC_PER_MSEC));

	if (streq(o->method, "GET")) {
		if (has_body) {
			r = -EINVAL;
			goto fail;
		}
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (streq(o->method, "POST") || streq(o->method, "PUT")) {
		if (has_body && (o->gzip || o->body_len > HTTP_GZIP_THRESHOLD)) {
			r = http_gzip(o->body, o->body_len, &req->body, &req->body_len);
			if (r < 0)
				goto fail;
			r = add_header(req, "Content-Encoding", "gzip");
			if (r < 0)
				goto fail;
		} else if (has_body) {
			req->body = malloc(MAX(o->body_len, (size_t)1));
			if (!req->body) {
				r = -ENOMEM;
				goto fail;
			}
			memcpy(req->body, o->body, o->body_len);
			req->body_len = o->body_len;
		}
		if (has_body)
			r = add_header(req, "Content-Type", o->content_type ? o->content_type : "application/json");
		else
			r = add_raw_header(req, "Content-Type:"); /* suppress curl's form default */
		if (r < 0)
			goto fail;
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? (char *)req->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		if (streq(o->method, "PUT"))
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
	} else {
		r = -EINVAL;
		goto fail;
	}

	req->done = done;
	req->userdata = userdata;
	req->free_userdata = o->free_userdata;
	return request_add(req, ret);
fail:
	request_free(req);
	return r;
}

static int stream_timer_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct http_request *req = userdata;
	bool idle = s == req->idle_timer;

	/* Not inside curl here, so the transfer can be torn down at once. */
	request_complete(req, CURLE_OK, -ETIMEDOUT,
			 idle ? "event stream idle timeout" : "no response headers in time");
	return 0;
}

int http_stream_start(struct http_client *c, const struct http_stream_opts *o, http_done_fn done,
		      void *userdata, struct http_request **ret)
{
	struct http_request *req;
	usec_t now, headers_timeout;
	int r;

	if (!done)
		return -EINVAL;
	r = request_new(c, o->path, o->bearer, &req);
	if (r < 0)
		return r;
	req->streaming = true;
	req->idle_timeout = o->idle_timeout ? o->idle_timeout : STREAM_IDLE_TIMEOUT_DEFAULT;
	headers_timeout = o->headers_timeout ? o->headers_timeout : STREAM_HEADERS_TIMEOUT_DEFAULT;

	if ((r = add_header(req, "Accept", "text/event-stream")) < 0 ||
	    (r = add_header(req, "Cache-Control", "no-cache")) < 0)
		goto fail;
	if (!isempty(o->last_event_id) && (r = add_header(req, "Last-Event-ID", o->last_event_id)) < 0)
		goto fail;
	curl_easy_setopt(req->easy, CURLOPT_HTTPGET, 1L);
	/* TCP keepalive lets the kernel notice a dead peer; the idle timer is the real bound. */
	curl_easy_setopt(req->easy, CURLOPT_TCP_KEEPALIVE, 1L);

	if (sd_event_now(c->event, CLOCK_MONOTONIC, &now) < 0)
		now = now_usec(CLOCK_MONOTONIC);
	r = sd_event_add_time(c->event, &req->headers_timer, CLOCK_MONOTONIC, now + headers_timeout,
			      TIMER_ACCURACY_USEC, stream_timer_fired, req);
	if (r < 0)
		goto fail;
	r = sd_event_add_time(c->event, &req->idle_timer, CLOCK_MONOTONIC, UINT64_MAX, TIMER_ACCURACY_USEC,
			      stream_timer_fired, req);
	if (r < 0)
		goto fail;
	(void)sd_event_source_set_enabled(req->idle_timer, SD_EVENT_OFF);

	req->on_open = o->on_open;
	req->on_data = o->on_data;
	req->done = done;
	req->userdata = userdata;
	req->free_userdata = o->free_userdata;
	return request_add(req, ret);
fail:
	request_free(req);
	return r;
}
