/* Test helper (header-only, for test-http.c, test-api.c, test-stream.c): a scripted HTTP/1.1
 * server on 127.0.0.1 in a forked child. Connection i is answered with script entry i; the
 * raw request bytes of every connection are recorded and handed back to the parent. The child
 * blocks and sleeps freely: it is the test's peer, not code under test. */
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <unistd.h>
#include <zlib.h>

#include "shared/time-util.h"

#pragma GCC diagnostic ignored "-Wunused-function"

struct ts_chunk {
	const char *data;
	size_t len; /* 0 = strlen(data) */
	unsigned delay_ms; /* sleep before sending */
};

struct ts_conn {
	const char *response; /* sent at once after the request was read; may be NULL */
	size_t response_len; /* 0 = strlen(response) */
	const struct ts_chunk *chunks; /* then these, one write each */
	size_t n_chunks;
	unsigned hold_ms; /* keep the connection open this long (or until the client closes) */
};

struct test_server {
	pid_t pid;
	uint16_t port;
	int rec_fd;
	char url[64]; /* http://127.0.0.1:<port> */
	char **requests;
	size_t n_requests;
};

static bool ts_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t k = write(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		c += k;
		n -= (size_t)k;
	}
	return true;
}

/* Reads one request (headers plus Content-Length body) into a malloc'd buffer. */
static char *ts_read_request(int fd, size_t *ret_len)
{
	size_t cap = 65536, len = 0, need = SIZE_MAX;
	char *buf = malloc(cap + 1);

	while (buf && len < need) {
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			if (!buf)
				break;
		}
		ssize_t k = read(fd, buf + len, cap - len);
		if (k <= 0)
			break;
		len += (size_t)k;
		buf[len] = 0;
		char *end = strstr(buf, "\r\n\r\n");
		if (end && need == SIZE_MAX) {
			size_t hl = (size_t)(end - buf) + 4, cl = 0;
			for (char *l = buf; l < end; l = strstr(l, "\r\n") + 2)
				if (strncasecmp(l, "Content-Length:", 15) == 0)
					cl = strtoul(l + 15, NULL, 10);
			need = hl + cl;
		}
	}
	if (buf)
		buf[len] = 0;
	*ret_len = len;
	return buf;
}

static void ts_child(int lfd, int rec, const struct ts_conn *conns, size_t n)
{
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < n; i++) {
		const struct ts_conn *c = &conns[i];
		size_t len;
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			_exit(2);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		char *req = ts_read_request(fd, &len);
		uint32_t l32 = (uint32_t)len;
		ts_write_all(rec, &l32, sizeof(l32));
		ts_write_all(rec, req, len);
		free(req);
		if (c->response)
			ts_write_all(fd, c->response, c->response_len ? c->response_len : strlen(c->response));
		for (size_t k = 0; k < c->n_chunks; k++) {
			if (c->chunks[k].delay_ms)
				usleep(c->chunks[k].delay_ms * 1000);
			ts_write_all(fd, c->chunks[k].data, c->chunks[k].len ? c->chunks[k].len : strlen(c->chunks[k].data));
		}
		if (c->hold_ms) {
			/* Until the client hangs up (read returns 0) or the time is over. */
			struct pollfd p = { .fd = fd, .events = POLLIN };
			char sink[4096];
			usec_t end = now_usec(CLOCK_MONOTONIC) + (usec_t)c->hold_ms * 1000;
			for (;;) {
				usec_t now = now_usec(CLOCK_MONOTONIC);
				if (now >= end)
					break;
				if (poll(&p, 1, (int)((end - now) / 1000) + 1) > 0 && read(fd, sink, sizeof(sink)) <= 0)
					break;
			}
		}
		shutdown(fd, SHUT_WR);
		close(fd);
	}
	_exit(0);
}

static int ts_start(struct test_server *ts, const struct ts_conn *conns, size_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int lfd, p[2];

	memset(ts, 0, sizeof(*ts));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		return -errno;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	(void)fcntl(p[1], F_SETPIPE_SZ, 1024 * 1024);
	ts->port = ntohs(sa.sin_port);
	snprintf(ts->url, sizeof(ts->url), "http://127.0.0.1:%u", ts->port);
	fflush(NULL);
	ts->pid = fork();
	if (ts->pid < 0)
		return -errno;
	if (ts->pid == 0) {
		close(p[0]);
		ts_child(lfd, p[1], conns, n);
	}
	/* Only the child listens: once it has served its script, connecting fails fast. */
	close(lfd);
	close(p[1]);
	ts->rec_fd = p[0];
	return 0;
}

/* Stops the child (our own pid only) and collects the recorded requests. */
static void ts_stop(struct test_server *ts)
{
	if (ts->pid > 0) {
		kill(ts->pid, SIGTERM);
		waitpid(ts->pid, NULL, 0);
		ts->pid = 0;
	}
	if (ts->rec_fd >= 0) {
		uint32_t l;
		while (read(ts->rec_fd, &l, sizeof(l)) == (ssize_t)sizeof(l)) {
			char *r = malloc((size_t)l + 1);
			size_t got = 0;
			while (got < l) {
				ssize_t k = read(ts->rec_fd, r + got, l - got);
				if (k <= 0)
					break;
				got += (size_t)k;
			}
			r[got] = 0;
			ts->requests = realloc(ts->requests, (ts->n_requests + 1) * sizeof(char *));
			ts->requests[ts->n_requests++] = r;
		}
		close(ts->rec_fd);
		ts->rec_fd = -1;
	}
}

static void ts_free(struct test_server *ts)
{
	ts_stop(ts);
	for (size_t i = 0; i < ts->n_requests; i++)
		free(ts->requests[i]);
	free(ts->requests);
	ts->requests = NULL;
	ts->n_requests = 0;
}

/* Value of header name in a recorded request (static buffer), NULL when absent. */
static const char *ts_header(const char *req, const char *name)
{
	static char val[2048];
	const char *end = strstr(req, "\r\n\r\n");
	size_t nl = strlen(name);

	for (const char *l = strstr(req, "\r\n"); l && l < end; l = strstr(l, "\r\n")) {
		l += 2;
		if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
			const char *v = l + nl + 1, *e = strstr(v, "\r\n");
			while (*v == ' ')
				v++;
			snprintf(val, sizeof(val), "%.*s", (int)(e - v), v);
			return val;
		}
	}
	return NULL;
}

/* The request line ("POST /path HTTP/1.1"), static buffer. */
static const char *ts_request_line(const char *req)
{
	static char line[1024];
	const char *e = strstr(req, "\r\n");
	snprintf(line, sizeof(line), "%.*s", e ? (int)(e - req) : 0, req);
	return line;
}

/* The body of a recorded request, gunzipped when Content-Encoding: gzip; malloc'd. */
static char *ts_body(const char *req, size_t *ret_len)
{
	const char *b = strstr(req, "\r\n\r\n");
	const char *cl = ts_header(req, "Content-Length");
	size_t len = cl ? strtoul(cl, NULL, 10) : 0;
	const char *ce = ts_header(req, "Content-Encoding"); /* same static buffer: read last */

	b = b ? b + 4 : req + strlen(req);
	if (!ce || strcmp(ce, "gzip") != 0) {
		char *r = malloc(len + 1);
		memcpy(r, b, len);
		r[len] = 0;
		*ret_len = len;
		return r;
	}
	size_t cap = 1 << 24;
	char *out = malloc(cap + 1);
	z_stream z = { .next_in = (Bytef *)b, .avail_in = (uInt)len, .next_out = (Bytef *)out, .avail_out = (uInt)cap };
	if (inflateInit2(&z, 15 + 16) != Z_OK || inflate(&z, Z_FINISH) != Z_STREAM_END) {
		inflateEnd(&z);
		free(out);
		*ret_len = 0;
		return NULL;
	}
	*ret_len = z.total_out;
	out[z.total_out] = 0;
	inflateEnd(&z);
	return out;
}

/* Runs the loop until *flag or the deadline; returns whether the flag was set. */
static bool ts_run_until(sd_event *e, const bool *flag, unsigned max_ms)
{
	usec_t end = now_usec(CLOCK_MONOTONIC) + (usec_t)max_ms * 1000;
	while (!*flag && now_usec(CLOCK_MONOTONIC) < end)
		(void)sd_event_run(e, 20 * 1000);
	return *flag;
}

/* Runs the loop for a fixed time. */
static void ts_run_for(sd_event *e, unsigned ms)
{
	bool never = false;
	(void)ts_run_until(e, &never, ms);
}

/* "HTTP/1.1 <status>\r\n<headers>Content-Length: n\r\nConnection: close\r\n\r\n<body>". */
static char *ts_response_len(const char *status, const char *headers, const char *body, size_t body_len,
			     size_t *ret_len)
{
	char *r = NULL;
	size_t hl;
	if (!body_len && body)
		body_len = strlen(body);
	if (asprintf(&r, "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
		     headers ? headers : "", body_len) < 0)
		return NULL;
	hl = strlen(r);
	r = realloc(r, hl + body_len + 1);
	if (body_len)
		memcpy(r + hl, body, body_len);
	r[hl + body_len] = 0;
	if (ret_len)
		*ret_len = hl + body_len;
	return r;
}

static char *ts_response(const char *status, const char *headers, const char *body)
{
	return ts_response_len(status, headers, body, 0, NULL);
}
