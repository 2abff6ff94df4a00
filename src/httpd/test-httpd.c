/* Integration test of the HTTP server: a real server on an sd-event loop in the main thread and
 * a libcurl client in a second thread, over a unix socket, over TCP and over TLS (with a
 * certificate made by the openssl CLI at test time). */
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>
#include <zlib.h>

#include "httpd/httpd-util.h"
#include "httpd/httpd.h"
#include "shared/fileio.h"
#include "shared/log.h"

/* --- server side state --- */
struct server {
	sd_event *event;
	struct httpd *h;
	struct httpd_stream *stream;
	int stream_closed;
	int chunks_sent;
	int chunks_total;
	bool stream_overflow; /* the test writes more than the bound at once */
	int stream_write_result;
	struct httpd_request *deferred;
	int deferred_closed;
	int deferred_replied;
	sd_event_source *timer;
};

static struct server srv;

static int h_echo(struct httpd_request *req, void *u)
{
	json_t *body = NULL;
	uid_t uid = (uid_t)-1;
	int r = httpd_request_body_json(req, &body);
	if (r < 0)
		return httpd_reply_error(req, 400, "invalid JSON body", NULL);
	(void)httpd_request_peer(req, NULL, &uid, NULL);
	const char *q = httpd_request_query(req, "q");
	(void)httpd_request_add_header(req, "X-Test", "yes");
	return httpd_reply_json(
	    req, 201,
	    json_pack("{s:o, s:s, s:s?, s:I, s:b, s:s?}", "got", body, "name",
		      httpd_request_param(req, "name"), "q", q, "uid",
		      (json_int_t)(httpd_request_is_unix(req) ? (long long)uid : -1), "unix",
		      httpd_request_is_unix(req), "ua", httpd_request_header(req, "user-agent")));
}

static int h_big(struct httpd_request *req, void *u)
{
	char buf[4000];
	memset(buf, 'z', sizeof buf);
	return httpd_reply(req, 200, "text/plain", buf, sizeof buf);
}

static int h_fail(struct httpd_request *req, void *u)
{
	return -EIO;
}

static void on_stream_close(struct httpd_stream *s, void *u)
{
	assert_ptr_equal(s, srv.stream);
	srv.stream = NULL;
	srv.stream_closed++;
}

static int on_stream_tick(sd_event_source *s, uint64_t usec, void *u)
{
	char line[64];

	if (!srv.stream)
		return 0;
	if (srv.chunks_sent == srv.chunks_total) {
		assert_int_equal(httpd_stream_finish(srv.stream), 0);
		assert_int_equal(httpd_stream_write(srv.stream, "x", 1), -EPIPE);
		return 0;
	}
	snprintf(line, sizeof line, "data: chunk %d\n\n", ++srv.chunks_sent);
	assert_int_equal(httpd_stream_write(srv.stream, line, strlen(line)), 0);
	sd_event_source_set_time_relative(s, 20 * 1000);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int h_stream(struct httpd_request *req, void *u)
{
	int r =
	    httpd_reply_stream(req, 200, "text/event-stream", on_stream_close, NULL, &srv.stream);
	if (r < 0)
		return r;
	if (srv.stream_overflow) {
		static char big[8192];
		memset(big, 'o', sizeof big);
		/* Under the bound first, then past it. */
		assert_int_equal(httpd_stream_write(srv.stream, big, 1000), 0);
		srv.stream_write_result = httpd_stream_write(srv.stream, big, sizeof big);
		return 0;
	}
	if (srv.chunks_total > 0)
		return sd_event_add_time_relative(srv.event, &srv.timer, CLOCK_MONOTONIC, 20 * 1000,
						  0, on_stream_tick, NULL);
	return httpd_stream_write(srv.stream, ": hello\n\n", 9);
}

static void on_deferred_close(struct httpd_request *req, void *u)
{
	srv.deferred = NULL;
	srv.deferred_closed++;
}

static int on_deferred_timer(sd_event_source *s, uint64_t usec, void *u)
{
	if (srv.deferred && ++srv.deferred_replied)
		assert_int_equal(
		    httpd_reply_json(srv.deferred, 200, json_pack("{s:s}", "late", "yes")), 0);
	return 0;
}

static int h_deferred(struct httpd_request *req, void *u)
{
	int r = httpd_request_defer(req, on_deferred_close, NULL);
	if (r < 0)
		return r;
	srv.deferred = req;
	return sd_event_add_time_relative(srv.event, &srv.timer, CLOCK_MONOTONIC, 50 * 1000, 0,
					  on_deferred_timer, NULL);
}

static int authorize(struct httpd_request *req, const struct httpd_route *route, void *u)
{
	if (route->data && streq(route->data, "deny"))
		return httpd_reply_error(req, 403, "forbidden", "denied by test") < 0 ? -1 : 1;
	return 0;
}

static const struct httpd_route routes[] = {
    {"POST", "/echo/{name}", h_echo},
    {"POST", "/gz/{name}", h_echo, HTTPD_ROUTE_GZIP_BODY},
    {"GET", "/big", h_big, HTTPD_ROUTE_GZIP_RESPONSE},
    {"GET", "/fail", h_fail},
    {"GET", "/stream", h_stream},
    {"GET", "/deferred", h_deferred},
    {"GET", "/secret", h_big, 0, 0, "deny"},
};

/* --- client thread --- */
struct client_result {
	long status;
	CURLcode code;
	char *body;
	size_t len;
	char headers[2048];
	size_t abort_after; /* write callback aborts once this many bytes arrived */
};

struct client_job {
	char url[256];
	const char *unix_path;
	const char *method;
	const void *body;
	size_t body_len;
	bool chunked_upload;
	size_t upload_pos;
	struct curl_slist *headers;
	const char *accept_encoding;
	long timeout_ms;
	const char *ca_file; /* https: trust only this CA; NULL: the system store */
	long ssl_version;    /* CURLOPT_SSLVERSION, 0: default */
	struct client_result res;
	int done_fd;
};

static size_t on_write(char *p, size_t sz, size_t n, void *u)
{
	struct client_result *r = u;
	char *b = realloc(r->body, r->len + sz * n + 1);
	assert_non_null(b);
	memcpy(b + r->len, p, sz * n);
	r->len += sz * n;
	b[r->len] = '\0';
	r->body = b;
	if (r->abort_after && r->len >= r->abort_after)
		return 0;
	return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *u)
{
	struct client_result *r = u;
	size_t l = strlen(r->headers);
	snprintf(r->headers + l, sizeof r->headers - l, "%.*s", (int)(sz * n), p);
	return sz * n;
}

static size_t on_read(char *buf, size_t sz, size_t n, void *u)
{
	struct client_job *j = u;
	size_t k = MIN(sz * n, j->body_len - j->upload_pos);
	k = MIN(k, (size_t)700);
	memcpy(buf, (const char *)j->body + j->upload_pos, k);
	j->upload_pos += k;
	return k;
}

static void *client_main(void *u)
{
	struct client_job *j = u;
	CURL *c = curl_easy_init();
	uint64_t one = 1;

	curl_easy_setopt(c, CURLOPT_URL, j->url);
	if (j->unix_path)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, j->unix_path);
	if (j->method)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, j->method);
	if (j->chunked_upload) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, j);
		j->headers = curl_slist_append(j->headers, "Transfer-Encoding: chunked");
	} else if (j->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)j->body_len);
	}
	if (j->accept_encoding)
		curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, j->accept_encoding);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, j->headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &j->res);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &j->res);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "test-httpd");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (j->timeout_ms)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, j->timeout_ms);
	if (j->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, j->ca_file);
	if (j->ssl_version)
		curl_easy_setopt(c, CURLOPT_SSLVERSION, j->ssl_version);
	j->res.code = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &j->res.status);
	curl_easy_cleanup(c);
	curl_slist_free_all(j->headers);
	j->headers = NULL;
	(void)!write(j->done_fd, &one, sizeof one);
	return NULL;
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *u)
{
	uint64_t v;
	(void)!read(fd, &v, sizeof v);
	*(bool *)u = true;
	return 0;
}

static uint64_t mono_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void loop_until(const bool *flag, const int *counter, int want)
{
	uint64_t deadline = mono_usec() + 15 * 1000000;
	while (!(flag && *flag) && !(counter && *counter >= want)) {
		assert_true(mono_usec() < deadline);
		assert_true(sd_event_run(srv.event, 100 * 1000) >= 0);
	}
}

/* Runs one client request against the live server and returns when it is done. */
static void perform(struct client_job *j)
{
	pthread_t t;
	sd_event_source *s = NULL;
	bool done = false;

	j->done_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(j->done_fd >= 0);
	assert_int_equal(sd_event_add_io(srv.event, &s, j->done_fd, EPOLLIN, on_done, &done), 0);
	assert_int_equal(pthread_create(&t, NULL, client_main, j), 0);
	loop_until(&done, NULL, 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	sd_event_source_disable_unref(s);
	close(j->done_fd);
}

static char sock_path[108];
static char base_url[128];
static const char *base_unix;

/* TLS material, made once by tls_setup(). */
static char tls_dir[64], tls_cert_path[128], tls_other_path[128];
static char *tls_cert_pem, *tls_key_pem, *tls_other_key_pem;
static bool use_tls;

static void server_start(bool unix_sock, size_t max_body, size_t stream_max)
{
	struct httpd_config c = {
	    .max_body = max_body,
	    .stream_buffer_max = stream_max,
	    .routes = routes,
	    .n_routes = ELEMENTSOF(routes),
	    .authorize = authorize,
	    .connection_timeout_sec = 5,
	};

	memset(&srv, 0, sizeof srv);
	assert_int_equal(sd_event_new(&srv.event), 0);
	if (unix_sock) {
		snprintf(sock_path, sizeof sock_path, "/tmp/test-httpd-%d.sock", getpid());
		c.unix_path = sock_path;
		c.unix_mode = 0640;
		/* A stale socket file from an earlier run is replaced. */
		assert_int_equal(httpd_new(srv.event, &c, &srv.h), 0);
		srv.h = httpd_free(srv.h);
		assert_int_equal(access(sock_path, F_OK), -1);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		strcpy(sa.sun_path, sock_path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
		close(fd);
		assert_int_equal(httpd_new(srv.event, &c, &srv.h), 0);
		struct stat st;
		assert_int_equal(stat(sock_path, &st), 0);
		assert_true(S_ISSOCK(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0640);
		assert_int_equal(httpd_get_port(srv.h), -EAFNOSUPPORT);
		snprintf(base_url, sizeof base_url, "http://localhost");
		base_unix = sock_path;
	} else {
		c.tcp_listen = "127.0.0.1:0";
		if (use_tls) {
			c.tls_cert_pem = tls_cert_pem;
			c.tls_key_pem = tls_key_pem;
		}
		assert_int_equal(httpd_new(srv.event, &c, &srv.h), 0);
		int port = httpd_get_port(srv.h);
		assert_true(port > 0 && port < 65536);
		snprintf(base_url, sizeof base_url, "%s://127.0.0.1:%d", use_tls ? "https" : "http",
			 port);
		base_unix = NULL;
	}
}

static void server_stop(void)
{
	srv.h = httpd_free(srv.h);
	srv.timer = sd_event_source_disable_unref(srv.timer);
	if (base_unix)
		assert_int_equal(access(sock_path, F_OK), -1);
	srv.event = sd_event_unref(srv.event);
}

static void job_init(struct client_job *j, const char *path)
{
	memset(j, 0, sizeof *j);
	snprintf(j->url, sizeof j->url, "%s%s", base_url, path);
	j->unix_path = base_unix;
	if (use_tls)
		j->ca_file = tls_cert_path;
}

static void job_done(struct client_job *j)
{
	free(j->res.body);
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void round_trip(bool unix_sock)
{
	struct client_job j;
	const char *payload = "{\"hello\":\"world\",\"n\":[1,2,3]}";
	int fds = count_fds();

	server_start(unix_sock, 1024, 0);

	job_init(&j, "/echo/a%2Fb%20c?q=x%26y+z&other");
	j.body = payload;
	j.body_len = strlen(payload);
	j.headers = curl_slist_append(NULL, "Content-Type: application/json");
	perform(&j);
	assert_int_equal(j.res.code, CURLE_OK);
	assert_int_equal(j.res.status, 201);
	json_t *got = json_loads(j.res.body, 0, NULL);
	assert_non_null(got);
	assert_string_equal(json_string_value(json_object_get(got, "name")), "a/b c");
	assert_string_equal(json_string_value(json_object_get(got, "q")), "x&y z");
	assert_string_equal(json_string_value(json_object_get(got, "ua")), "test-httpd");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(got, "got"), "hello")), "world");
	assert_int_equal(json_is_true(json_object_get(got, "unix")), unix_sock);
	if (unix_sock)
		assert_int_equal(json_integer_value(json_object_get(got, "uid")), getuid());
	json_decref(got);
	assert_non_null(strcasestr(j.res.headers, "x-test: yes"));
	assert_non_null(strcasestr(j.res.headers, "content-type: application/json"));
	job_done(&j);

	/* Invalid JSON body reaches the handler, which answers 400. */
	job_init(&j, "/echo/x");
	j.body = "{nope";
	j.body_len = 5;
	perform(&j);
	assert_int_equal(j.res.status, 400);
	assert_string_equal(j.res.body, "{\"error\":\"invalid JSON body\"}");
	job_done(&j);

	/* Routing errors. */
	job_init(&j, "/nope");
	perform(&j);
	assert_int_equal(j.res.status, 404);
	assert_string_equal(j.res.body, "{\"error\":\"not_found\",\"message\":\"no such resource\"}");
	job_done(&j);

	job_init(&j, "/echo/x");
	perform(&j); /* GET on a POST route */
	assert_int_equal(j.res.status, 405);
	assert_non_null(strcasestr(j.res.headers, "allow: POST"));
	job_done(&j);

	job_init(&j, "/echo/a%00b");
	j.body = "{}";
	j.body_len = 2;
	perform(&j);
	assert_int_equal(j.res.status, 400);
	job_done(&j);

	/* A handler failing without a reply gives 500. */
	job_init(&j, "/fail");
	perform(&j);
	assert_int_equal(j.res.status, 500);
	assert_string_equal(j.res.body, "{\"error\":\"internal_error\",\"message\":\"internal error\"}");
	job_done(&j);

	/* authorize rejects with its own reply. */
	job_init(&j, "/secret");
	perform(&j);
	assert_int_equal(j.res.status, 403);
	assert_string_equal(j.res.body, "{\"error\":\"forbidden\",\"message\":\"denied by test\"}");
	job_done(&j);

	server_stop();
	/* The listen socket, MHD's epoll fd and every connection are closed again. */
	assert_int_equal(count_fds(), fds);
}

static void test_unix_round_trip(void **state)
{
	round_trip(true);
}

static void test_tcp_round_trip(void **state)
{
	round_trip(false);
}

static void test_body_limits(void **state)
{
	struct client_job j;
	static char big[3000];

	memset(big, '1', sizeof big);
	server_start(true, 1024, 0);

	/* Exactly at the limit passes the size check and reaches the handler (which rejects
	 * the 1024-digit number as JSON it cannot represent). */
	job_init(&j, "/echo/x");
	j.body = big;
	j.body_len = 1024;
	perform(&j);
	assert_int_equal(j.res.status, 400);
	assert_string_equal(j.res.body, "{\"error\":\"invalid JSON body\"}");
	job_done(&j);

	/* Content-Length over the limit: refused before the body is read. */
	job_init(&j, "/echo/x");
	j.body = big;
	j.body_len = 1025;
	j.headers = curl_slist_append(NULL, "Expect: 100-continue");
	perform(&j);
	assert_int_equal(j.res.status, 413);
	assert_string_equal(j.res.body,
			    "{\"error\":\"body_too_large\",\"message\":\"request body too large\"}");
	job_done(&j);

	/* Chunked upload over the limit: read, discarded, then 413. */
	job_init(&j, "/echo/x");
	j.body = big;
	j.body_len = sizeof big;
	j.chunked_upload = true;
	perform(&j);
	assert_int_equal(j.res.code, CURLE_OK);
	assert_int_equal(j.res.status, 413);
	job_done(&j);

	/* Chunked under the limit works. */
	job_init(&j, "/echo/x");
	j.body = "[1,2]";
	j.body_len = 5;
	j.chunked_upload = true;
	perform(&j);
	assert_int_equal(j.res.status, 201);
	job_done(&j);

	/* gzip body: accepted on the gzip route, 415 elsewhere, 415 for other encodings. */
	char *gz;
	size_t gzlen;
	const char *payload = "{\"compressed\":true}";
	assert_int_equal(httpd_gzip(payload, strlen(payload), &gz, &gzlen), 0);
	job_init(&j, "/gz/x");
	j.body = gz;
	j.body_len = gzlen;
	j.headers = curl_slist_append(NULL, "Content-Encoding: gzip");
	perform(&j);
	assert_int_equal(j.res.status, 201);
	assert_non_null(strstr(j.res.body, "\"got\":{\"compressed\":true}"));
	job_done(&j);

	job_init(&j, "/echo/x");
	j.body = gz;
	j.body_len = gzlen;
	j.headers = curl_slist_append(NULL, "Content-Encoding: gzip");
	perform(&j);
	assert_int_equal(j.res.status, 415);
	job_done(&j);

	job_init(&j, "/gz/x");
	j.body = gz;
	j.body_len = gzlen;
	j.headers = curl_slist_append(NULL, "Content-Encoding: br");
	perform(&j);
	assert_int_equal(j.res.status, 415);
	job_done(&j);
	free(gz);

	/* A small gzip body that inflates past the limit: 413 (bomb bound). */
	static char zeros[100000];
	assert_int_equal(httpd_gzip(zeros, sizeof zeros, &gz, &gzlen), 0);
	assert_true(gzlen < 1024);
	job_init(&j, "/gz/x");
	j.body = gz;
	j.body_len = gzlen;
	j.headers = curl_slist_append(NULL, "Content-Encoding: gzip");
	perform(&j);
	assert_int_equal(j.res.status, 413);
	job_done(&j);
	free(gz);

	/* Corrupt gzip: 400. */
	job_init(&j, "/gz/x");
	j.body = "garbage!";
	j.body_len = 8;
	j.headers = curl_slist_append(NULL, "Content-Encoding: gzip");
	perform(&j);
	assert_int_equal(j.res.status, 400);
	job_done(&j);

	/* Response gzip when accepted (curl decodes it), identity otherwise. */
	job_init(&j, "/big");
	j.accept_encoding = "gzip";
	perform(&j);
	assert_int_equal(j.res.status, 200);
	assert_non_null(strcasestr(j.res.headers, "content-encoding: gzip"));
	assert_int_equal(j.res.len, 4000);
	job_done(&j);
	job_init(&j, "/big");
	perform(&j);
	assert_int_equal(j.res.status, 200);
	assert_null(strcasestr(j.res.headers, "content-encoding"));
	assert_int_equal(j.res.len, 4000);
	job_done(&j);

	server_stop();
}

static void test_stream(void **state)
{
	struct client_job j;
	char want[512] = "";

	for (int tcp = 0; tcp < 2; tcp++) {
		server_start(!tcp, 0, 0);
		srv.chunks_total = 5;
		job_init(&j, "/stream");
		perform(&j);
		assert_int_equal(j.res.code, CURLE_OK);
		assert_int_equal(j.res.status, 200);
		want[0] = '\0';
		for (int i = 1; i <= 5; i++)
			snprintf(want + strlen(want), sizeof want - strlen(want),
				 "data: chunk %d\n\n", i);
		assert_string_equal(j.res.body, want);
		assert_non_null(strcasestr(j.res.headers, "content-type: text/event-stream"));
		assert_non_null(strcasestr(j.res.headers, "transfer-encoding: chunked"));
		loop_until(NULL, &srv.stream_closed, 1);
		assert_int_equal(srv.stream_closed, 1);
		job_done(&j);
		server_stop();
	}
}

static void test_stream_client_leaves(void **state)
{
	struct client_job j;

	server_start(true, 0, 0);
	srv.chunks_total = 0; /* handler writes one comment, then the stream idles */
	job_init(&j, "/stream");
	j.res.abort_after = 1;
	perform(&j);
	assert_int_equal(j.res.code, CURLE_WRITE_ERROR);
	/* The suspended, idle stream notices the hang-up without any further write. */
	loop_until(NULL, &srv.stream_closed, 1);
	assert_null(srv.stream);
	job_done(&j);
	server_stop();
}

static void test_stream_overflow(void **state)
{
	struct client_job j;

	server_start(true, 0, 4096);
	srv.stream_overflow = true;
	job_init(&j, "/stream");
	perform(&j);
	assert_int_equal(srv.stream_write_result, -ENOBUFS);
	assert_int_not_equal(j.res.code, CURLE_OK); /* chunked body never terminated */
	loop_until(NULL, &srv.stream_closed, 1);
	job_done(&j);
	server_stop();
}

static void test_deferred(void **state)
{
	struct client_job j;

	server_start(false, 0, 0);
	job_init(&j, "/deferred");
	perform(&j);
	assert_int_equal(j.res.status, 200);
	assert_string_equal(j.res.body, "{\"late\":\"yes\"}");
	loop_until(NULL, &srv.deferred_closed, 1);
	assert_null(srv.deferred);
	job_done(&j);
	server_stop();
}

/* A client that gives up while its request is deferred: on_close runs without a reply. */
static void test_deferred_client_leaves(void **state)
{
	struct client_job j;

	server_start(true, 0, 0);
	job_init(&j, "/deferred");
	j.timeout_ms = 10; /* the reply comes after 50 ms */
	perform(&j);
	assert_int_equal(j.res.code, CURLE_OPERATION_TIMEDOUT);
	loop_until(NULL, &srv.deferred_closed, 1);
	assert_null(srv.deferred);
	/* Let the reply timer fire: it finds no request and does nothing. */
	for (int i = 0; i < 10; i++)
		(void)sd_event_run(srv.event, 10 * 1000);
	assert_int_equal(srv.deferred_closed, 1);
	/* Noticed through the hang-up, not through the late reply. */
	assert_int_equal(srv.deferred_replied, 0);
	job_done(&j);
	server_stop();
}

/* Freeing the server with a suspended stream ends it through its close callback. */
static void *idle_client(void *u)
{
	struct client_job *j = u;
	client_main(j);
	return NULL;
}

static void test_free_with_open_stream(void **state)
{
	struct client_job j;
	pthread_t t;
	int done_fd;

	server_start(true, 0, 0);
	job_init(&j, "/stream");
	done_fd = eventfd(0, EFD_CLOEXEC);
	j.done_fd = done_fd;
	assert_int_equal(pthread_create(&t, NULL, idle_client, &j), 0);
	while (!srv.stream)
		assert_true(sd_event_run(srv.event, 100 * 1000) >= 0);
	/* Let the first bytes go out so the stream is parked (suspended). */
	for (int i = 0; i < 5; i++)
		(void)sd_event_run(srv.event, 20 * 1000);
	srv.h = httpd_free(srv.h);
	assert_int_equal(srv.stream_closed, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_not_equal(j.res.code, CURLE_OK);
	close(done_fd);
	job_done(&j);
	server_stop();
}

/* An idle stream parks its connection: the loop must sleep, not spin (MHD returning 0 from
 * the content reader without suspension would wake us continuously). */
static void test_idle_stream_no_busy_loop(void **state)
{
	struct client_job j;
	sd_event_source *s = NULL;
	pthread_t t;
	bool done = false;
	int dispatched = 0;
	uint64_t until;

	server_start(false, 0, 0);
	job_init(&j, "/stream");
	j.done_fd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(sd_event_add_io(srv.event, &s, j.done_fd, EPOLLIN, on_done, &done), 0);
	assert_int_equal(pthread_create(&t, NULL, client_main, &j), 0);
	while (!srv.stream)
		assert_true(sd_event_run(srv.event, 10 * 1000) >= 0);
	/* Settle: the first chunk is out and the stream is suspended. */
	for (int i = 0; i < 5; i++)
		(void)sd_event_run(srv.event, 20 * 1000);
	until = mono_usec() + 500 * 1000;
	while (mono_usec() < until) {
		int r = sd_event_run(srv.event, 50 * 1000);
		assert_true(r >= 0);
		dispatched += r > 0;
	}
	assert_true(dispatched <= 3);
	assert_int_equal(httpd_stream_write(srv.stream, "data: bye\n\n", 11), 0);
	assert_int_equal(httpd_stream_finish(srv.stream), 0);
	loop_until(&done, NULL, 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_string_equal(j.res.body, ": hello\n\ndata: bye\n\n");
	sd_event_source_disable_unref(s);
	close(j.done_fd);
	loop_until(NULL, &srv.stream_closed, 1);
	job_done(&j);
	server_stop();
}

/* --- TLS --- */

static int run_quiet(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Self-signed P-256 certificates for localhost/127.0.0.1: cert.pem + key.pem serve, other.pem +
 * other-key.pem are an unrelated CA and key. */
static int tls_setup(void **state)
{
	char key[160], other_key[160], san[] = "subjectAltName=DNS:localhost,IP:127.0.0.1";
	size_t len;

	snprintf(tls_dir, sizeof tls_dir, "/tmp/test-httpd-tls-XXXXXX");
	if (!mkdtemp(tls_dir))
		return -1;
	snprintf(tls_cert_path, sizeof tls_cert_path, "%s/cert.pem", tls_dir);
	snprintf(key, sizeof key, "%s/key.pem", tls_dir);
	snprintf(tls_other_path, sizeof tls_other_path, "%s/other.pem", tls_dir);
	snprintf(other_key, sizeof other_key, "%s/other-key.pem", tls_dir);
	for (int i = 0; i < 2; i++) {
		char *argv[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
				"ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
				"/CN=localhost", "-addext", san, "-keyout", i ? other_key : key,
				"-out", i ? tls_other_path : tls_cert_path, NULL};
		if (run_quiet(argv) != 0)
			return -1;
	}
	if (read_file_full(tls_cert_path, 65536, &tls_cert_pem, &len) < 0 ||
	    read_file_full(key, 65536, &tls_key_pem, &len) < 0 ||
	    read_file_full(other_key, 65536, &tls_other_key_pem, &len) < 0)
		return -1;
	return 0;
}

static int tls_teardown(void **state)
{
	char *argv[] = {"rm", "-rf", tls_dir, NULL};

	free(tls_cert_pem);
	free(tls_key_pem);
	free(tls_other_key_pem);
	if (tls_dir[0])
		(void)run_quiet(argv);
	use_tls = false;
	return 0;
}

static void test_tls_round_trip(void **state)
{
	struct client_job j;

	use_tls = true;
	round_trip(false);

	/* TLS 1.2 is still accepted (§2.2 minimum); TLS 1.0/1.1 are not. */
	server_start(false, 0, 0);
	job_init(&j, "/big");
	j.ssl_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
	perform(&j);
	assert_int_equal(j.res.code, CURLE_OK);
	assert_int_equal(j.res.status, 200);
	assert_int_equal(j.res.len, 4000);
	job_done(&j);

	job_init(&j, "/big");
	j.ssl_version = CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_1;
	perform(&j);
	assert_int_not_equal(j.res.code, CURLE_OK);
	assert_int_equal(j.res.status, 0);
	job_done(&j);
	server_stop();
	use_tls = false;
}

static void test_tls_rejects(void **state)
{
	struct client_job j;
	char url[160];

	use_tls = true;
	server_start(false, 0, 0);

	/* A client that trusts another CA fails verification. */
	job_init(&j, "/big");
	j.ca_file = tls_other_path;
	perform(&j);
	assert_int_equal(j.res.code, CURLE_PEER_FAILED_VERIFICATION);
	job_done(&j);

	/* Plain HTTP to the TLS port gets no HTTP answer. */
	job_init(&j, "/big");
	snprintf(url, sizeof url, "http%s/big", base_url + strlen("https"));
	snprintf(j.url, sizeof j.url, "%s", url);
	perform(&j);
	assert_int_not_equal(j.res.code, CURLE_OK);
	assert_int_not_equal(j.res.status, 200);
	job_done(&j);

	/* The server still serves a proper client afterwards. */
	job_init(&j, "/big");
	perform(&j);
	assert_int_equal(j.res.code, CURLE_OK);
	assert_int_equal(j.res.status, 200);
	job_done(&j);
	server_stop();
	use_tls = false;
}

static void test_tls_config(void **state)
{
	sd_event *e = NULL;
	struct httpd *h = NULL;
	struct httpd_config c = {.tcp_listen = "127.0.0.1:0", .routes = routes,
				 .n_routes = ELEMENTSOF(routes)};

	assert_int_equal(sd_event_new(&e), 0);
	/* Both or neither. */
	c.tls_cert_pem = tls_cert_pem;
	assert_int_equal(httpd_new(e, &c, &h), -EINVAL);
	c.tls_cert_pem = NULL;
	c.tls_key_pem = tls_key_pem;
	assert_int_equal(httpd_new(e, &c, &h), -EINVAL);
	/* Not on a unix socket. */
	c.tls_cert_pem = tls_cert_pem;
	c.tcp_listen = NULL;
	c.unix_path = "/tmp/test-httpd-tls.sock";
	assert_int_equal(httpd_new(e, &c, &h), -EINVAL);
	c.unix_path = NULL;
	c.tcp_listen = "127.0.0.1:0";
	/* Garbage, and a key that does not belong to the certificate. */
	c.tls_key_pem = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n";
	assert_int_equal(httpd_new(e, &c, &h), -EBADMSG);
	c.tls_key_pem = tls_other_key_pem;
	assert_int_equal(httpd_new(e, &c, &h), -EBADMSG);
	assert_null(h);
	c.tls_key_pem = tls_key_pem;
	assert_int_equal(httpd_new(e, &c, &h), 0);
	h = httpd_free(h);
	sd_event_unref(e);
}

/* Streams over TLS: every write resumes a suspended connection whose bytes GnuTLS encrypts
 * inside MHD_run. */
static void test_tls_stream(void **state)
{
	struct client_job j;
	char want[512] = "";

	use_tls = true;
	server_start(false, 0, 0);
	srv.chunks_total = 5;
	job_init(&j, "/stream");
	perform(&j);
	assert_int_equal(j.res.code, CURLE_OK);
	assert_int_equal(j.res.status, 200);
	for (int i = 1; i <= 5; i++)
		snprintf(want + strlen(want), sizeof want - strlen(want), "data: chunk %d\n\n", i);
	assert_string_equal(j.res.body, want);
	assert_non_null(strcasestr(j.res.headers, "content-type: text/event-stream"));
	loop_until(NULL, &srv.stream_closed, 1);
	job_done(&j);
	server_stop();

	/* A TLS client leaving an idle (suspended) stream is noticed without a write. */
	server_start(false, 0, 0);
	job_init(&j, "/stream");
	j.res.abort_after = 1;
	perform(&j);
	assert_int_equal(j.res.code, CURLE_WRITE_ERROR);
	loop_until(NULL, &srv.stream_closed, 1);
	assert_null(srv.stream);
	job_done(&j);
	server_stop();
	use_tls = false;
}

static void test_tls_idle_stream_no_busy_loop(void **state)
{
	use_tls = true;
	test_idle_stream_no_busy_loop(state);
	use_tls = false;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unix_round_trip),
	    cmocka_unit_test(test_tcp_round_trip),
	    cmocka_unit_test(test_body_limits),
	    cmocka_unit_test(test_stream),
	    cmocka_unit_test(test_stream_client_leaves),
	    cmocka_unit_test(test_stream_overflow),
	    cmocka_unit_test(test_deferred),
	    cmocka_unit_test(test_free_with_open_stream),
	    cmocka_unit_test(test_idle_stream_no_busy_loop),
	    cmocka_unit_test(test_deferred_client_leaves),
	};
	const struct CMUnitTest tls_tests[] = {
	    cmocka_unit_test(test_tls_config),
	    cmocka_unit_test(test_tls_round_trip),
	    cmocka_unit_test(test_tls_rejects),
	    cmocka_unit_test(test_tls_stream),
	    cmocka_unit_test(test_tls_idle_stream_no_busy_loop),
	};
	if (getenv("TEST_HTTPD_DEBUG"))
		log_set_max_level(LOG_DEBUG);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	r += cmocka_run_group_tests_name("tls", tls_tests, tls_setup, tls_teardown);
	curl_global_cleanup();
	return r;
}
