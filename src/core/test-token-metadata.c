/* Tests for the cloud metadata token source (agent.md §4.2): URL splitting and the config
 * mapping (pure), and the fetch state machine against the scripted local HTTP server of the
 * controlplane tests, every provider URL redirected to it (probe order, exclusive use of the
 * first answering provider, IMDSv2 session and its IMDSv1 fallback, body bounds, timeouts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "controlplane/test-cp-server.h"
#include "core/token-metadata.h"
#include "shared/macro.h"

static void test_url_split(void **state)
{
	static const struct {
		const char *url, *base, *path;
		int r;
	} cases[] = {
		{ "http://169.254.169.254/latest/api/token", "http://169.254.169.254", "/latest/api/token", 0 },
		{ "http://metadata.google.internal/computeMetadata/v1/", "http://metadata.google.internal",
		  "/computeMetadata/v1/", 0 },
		{ "http://169.254.169.254/metadata/instance?api-version=2021-02-01", "http://169.254.169.254",
		  "/metadata/instance?api-version=2021-02-01", 0 },
		{ "HTTPS://h:8443/x", "HTTPS://h:8443", "/x", 0 },
		{ "http://h", "http://h", "/", 0 },
		{ "http://h?q=1", "http://h", "/", 0 },
		{ "http:///x", NULL, NULL, -EINVAL },
		{ "ftp://h/x", NULL, NULL, -EINVAL },
		{ "169.254.169.254/x", NULL, NULL, -EINVAL },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char *base = NULL;
		const char *path = NULL;
		int r = metadata_url_split(cases[i].url, &base, &path);
		assert_int_equal(r, cases[i].r);
		if (r < 0) {
			assert_null(base);
			continue;
		}
		assert_string_equal(base, cases[i].base);
		assert_string_equal(path, cases[i].path);
		free(base);
	}
}

static void test_provider_from_config(void **state)
{
	static const struct {
		enum config_metadata_provider c;
		bool is_auto;
		enum metadata_provider p;
	} cases[] = {
		{ CONFIG_METADATA_PROVIDER_AUTO, true, METADATA_AWS },
		{ CONFIG_METADATA_PROVIDER_AWS, false, METADATA_AWS },
		{ CONFIG_METADATA_PROVIDER_GCP, false, METADATA_GCP },
		{ CONFIG_METADATA_PROVIDER_AZURE, false, METADATA_AZURE },
		{ CONFIG_METADATA_PROVIDER_OPENSTACK, false, METADATA_OPENSTACK },
		{ CONFIG_METADATA_PROVIDER_DIGITALOCEAN, false, METADATA_DIGITALOCEAN },
		{ CONFIG_METADATA_PROVIDER_GENERIC, false, METADATA_GENERIC },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		bool a;
		enum metadata_provider p;
		metadata_provider_from_config(cases[i].c, &a, &p);
		assert_int_equal(a, cases[i].is_auto);
		assert_int_equal(p, cases[i].p);
	}
}

/* ---- the fetch against a scripted server ---- */

struct outcome {
	bool done;
	int calls;
	int r;
	char *token;
	enum metadata_provider used;
};

static void on_fetched(int r, char *token, enum metadata_provider used, void *userdata)
{
	struct outcome *o = userdata;
	o->done = true;
	o->calls++;
	o->r = r;
	o->token = token;
	o->used = used;
}

struct scenario {
	bool auto_detect;
	enum metadata_provider provider;
	usec_t timeout;
	const char *const *responses; /* one per connection, NULL-terminated; "" = hold, no reply */
	/* expected */
	int r;
	const char *token;
	enum metadata_provider used;
	const char *const *request_lines; /* NULL-terminated, exactly these in this order */
};

#define PATH "/plexd/bootstrap-token"

/* Runs one fetch; returns the recorded requests in ts (caller frees). */
static void run_scenario(const struct scenario *s, struct test_server *ts)
{
	struct ts_conn conns[16] = {};
	size_t n = 0;
	sd_event *e;
	struct metadata_fetch *f = NULL;
	struct outcome o = {};

	for (; s->responses[n]; n++) {
		assert_true(n < ELEMENTSOF(conns));
		if (s->responses[n][0] == 0)
			conns[n].hold_ms = 3000;
		else
			conns[n].response = s->responses[n];
	}
	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(ts_start(ts, conns, n), 0);
	struct metadata_fetch_params p = {
		.auto_detect = s->auto_detect,
		.provider = s->provider,
		.path = PATH,
		.timeout = s->timeout ? s->timeout : 2 * USEC_PER_SEC,
		.base_url_override = ts->url,
		.done = on_fetched,
		.userdata = &o,
	};
	assert_int_equal(metadata_fetch_start(e, &p, &f), 0);
	/* Never synchronously from start. */
	assert_false(o.done);
	assert_true(ts_run_until(e, &o.done, 20000));
	ts_run_for(e, 20);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.r, s->r);
	if (s->token) {
		assert_non_null(o.token);
		assert_string_equal(o.token, s->token);
	} else
		assert_null(o.token);
	assert_int_equal(o.used, s->used);
	erase_and_free(o.token);
	metadata_fetch_free(f);
	ts_stop(ts);
	size_t want = 0;
	while (s->request_lines[want])
		want++;
	for (size_t i = 0; i < MIN(want, ts->n_requests); i++)
		assert_string_equal(ts_request_line(ts->requests[i]), s->request_lines[i]);
	assert_int_equal(ts->n_requests, want);
	sd_event_unref(e);
}

#define R200(body) "HTTP/1.1 200 OK\r\nContent-Length: " #body "\r\nConnection: close\r\n\r\n"
static const char r404[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char r405[] = "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char gcp_ok[] = "HTTP/1.1 200 OK\r\nMetadata-Flavor: Google\r\nContent-Length: 5\r\n"
			     "Connection: close\r\n\r\nv1/\r\n";
static const char gcp_no_flavor[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nv1/\r\n";
static const char session[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsess-1";
static const char tok_aws[] = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntok-aws\n";
static const char tok_gcp[] = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\ntok-gcp";
static const char tok_gen[] = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\ntok-gen";
static const char empty200[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char json_ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
static const char not_json[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope";
static const char azure_tags[] =
	"HTTP/1.1 200 OK\r\nContent-Length: 80\r\nConnection: close\r\n\r\n"
	"[{\"name\":\"other\",\"value\":\"x\"},{\"name\":\"plexd-bootstrap-token\",\"value\":\"tok-az\"}]";
static const char openstack_doc[] =
	"HTTP/1.1 200 OK\r\nContent-Length: 59\r\nConnection: close\r\n\r\n"
	"{\"uuid\":\"u\",\"meta\":{\"plexd/bootstrap-token\":\"tok-os\"}}     ";

static const char put_line[] = "PUT /latest/api/token HTTP/1.1";
static const char gcp_probe_line[] = "GET /computeMetadata/v1/ HTTP/1.1";
static const char azure_probe_line[] = "GET /metadata/instance?api-version=2021-02-01 HTTP/1.1";
static const char os_line[] = "GET /openstack/latest/meta_data.json HTTP/1.1";
static const char do_probe_line[] = "GET /metadata/v1/id HTTP/1.1";
static const char generic_line[] = "GET " PATH " HTTP/1.1";

static void test_auto_aws_imdsv2(void **state)
{
	const char *resp[] = { session, tok_aws, NULL };
	const char *lines[] = { put_line, generic_line, NULL };
	struct scenario s = { .auto_detect = true, .responses = resp, .r = 0, .token = "tok-aws",
			      .used = METADATA_AWS, .request_lines = lines };
	struct test_server ts;

	run_scenario(&s, &ts);
	assert_string_equal(ts_header(ts.requests[0], "X-aws-ec2-metadata-token-ttl-seconds"), "21600");
	assert_string_equal(ts_header(ts.requests[0], "Content-Length"), "0");
	assert_string_equal(ts_header(ts.requests[1], "X-aws-ec2-metadata-token"), "sess-1");
	ts_free(&ts);
}

static void test_auto_gcp(void **state)
{
	const char *resp[] = { r405, gcp_ok, tok_gcp, NULL };
	const char *lines[] = { put_line, gcp_probe_line, "GET /computeMetadata/v1" PATH " HTTP/1.1", NULL };
	struct scenario s = { .auto_detect = true, .responses = resp, .r = 0, .token = "tok-gcp",
			      .used = METADATA_GCP, .request_lines = lines };
	struct test_server ts;

	run_scenario(&s, &ts);
	assert_string_equal(ts_header(ts.requests[1], "Metadata-Flavor"), "Google");
	assert_string_equal(ts_header(ts.requests[2], "Metadata-Flavor"), "Google");
	ts_free(&ts);
}

/* A 200 without Metadata-Flavor is not GCP; an AWS 200 with an empty session is no session. */
static void test_auto_azure(void **state)
{
	const char *resp[] = { empty200, gcp_no_flavor, json_ok, azure_tags, NULL };
	const char *lines[] = { put_line, gcp_probe_line, azure_probe_line,
				"GET /metadata/instance/compute/tagsList?api-version=2021-02-01 HTTP/1.1", NULL };
	struct scenario s = { .auto_detect = true, .responses = resp, .r = 0, .token = "tok-az",
			      .used = METADATA_AZURE, .request_lines = lines };
	struct test_server ts;

	run_scenario(&s, &ts);
	assert_string_equal(ts_header(ts.requests[2], "Metadata"), "true");
	assert_string_equal(ts_header(ts.requests[3], "Metadata"), "true");
	ts_free(&ts);
}

/* OpenStack's token request is its probe document: four requests, not five. Azure's probe
 * answered 200 but not with JSON, so it is skipped. */
static void test_auto_openstack(void **state)
{
	const char *resp[] = { r404, r404, not_json, openstack_doc, NULL };
	const char *lines[] = { put_line, gcp_probe_line, azure_probe_line, os_line, NULL };
	struct scenario s = { .auto_detect = true, .responses = resp, .r = 0, .token = "tok-os",
			      .used = METADATA_OPENSTACK, .request_lines = lines };
	struct test_server ts;

	run_scenario(&s, &ts);
	ts_free(&ts);
}

static void test_auto_generic_last_resort(void **state)
{
	const char *resp[] = { r404, r404, r404, r404, r404, tok_gen, NULL };
	const char *lines[] = { put_line, gcp_probe_line, azure_probe_line, os_line, do_probe_line,
				generic_line, NULL };
	struct scenario s = { .auto_detect = true, .responses = resp, .r = 0, .token = "tok-gen",
			      .used = METADATA_GENERIC, .request_lines = lines };
	struct test_server ts;

	run_scenario(&s, &ts);
	ts_free(&ts);
}

/* The first provider that answers is used exclusively: its missing token ends the search. */
static void test_auto_exclusive(void **state)
{
	const char *resp[] = { r404, r404, r404, r404, R200(2) "42", r404, tok_gen, NULL };
	const char *lines[] = { put_line, gcp_probe_line, azure_probe_line, os_line, do_probe_line,
				"GET /metadata/v1" PATH " HTTP/1.1", NULL };
	struct scenario s = { .auto_detect = true, .responses = resp, .r = -ENOENT,
			      .used = METADATA_DIGITALOCEAN, .request_lines = lines };
	struct test_server ts;

	run_scenario(&s, &ts);
	ts_free(&ts);
}

/* Forced aws whose session PUT fails: the GET goes out without the session header (IMDSv1). */
static void test_forced_aws_imdsv1(void **state)
{
	const char *resp[] = { "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			       tok_aws, NULL };
	const char *lines[] = { put_line, generic_line, NULL };
	struct scenario s = { .provider = METADATA_AWS, .responses = resp, .r = 0, .token = "tok-aws",
			      .used = METADATA_AWS, .request_lines = lines };
	struct test_server ts;

	run_scenario(&s, &ts);
	assert_null(ts_header(ts.requests[1], "X-aws-ec2-metadata-token"));
	ts_free(&ts);
}

/* Forced non-aws providers are asked directly, without a probe. */
static void test_forced_no_probe(void **state)
{
	const char *resp[] = { tok_gen, NULL };
	const char *lines[] = { "GET /metadata/v1" PATH " HTTP/1.1", NULL };
	struct scenario s = { .provider = METADATA_DIGITALOCEAN, .responses = resp, .r = 0,
			      .token = "tok-gen", .used = METADATA_DIGITALOCEAN, .request_lines = lines };
	struct test_server ts;

	run_scenario(&s, &ts);
	ts_free(&ts);
}

/* §4.2: up to 513 bytes are read (512-byte token plus newline); a longer body is an error, an
 * empty body no token, a non-200 no token. */
static void test_body_bounds(void **state)
{
	char ok_body[514], long_body[515];
	_cleanup_free_ char *ok = NULL, *too_long = NULL;
	const char *lines[] = { generic_line, NULL };
	struct test_server ts;

	memset(ok_body, 'a', 512);
	ok_body[512] = '\n';
	ok_body[513] = 0;
	memset(long_body, 'a', 514);
	long_body[514] = 0;
	assert_true(asprintf(&ok, "HTTP/1.1 200 OK\r\nContent-Length: 513\r\nConnection: close\r\n\r\n%s",
			     ok_body) > 0);
	assert_true(asprintf(&too_long, "HTTP/1.1 200 OK\r\nContent-Length: 514\r\nConnection: close\r\n\r\n%s",
			     long_body) > 0);
	ok_body[512] = 0;

	const char *r1[] = { ok, NULL };
	struct scenario s = { .provider = METADATA_GENERIC, .responses = r1, .r = 0, .token = ok_body,
			      .used = METADATA_GENERIC, .request_lines = lines };
	run_scenario(&s, &ts);
	ts_free(&ts);

	const char *r2[] = { too_long, NULL };
	s = (struct scenario){ .provider = METADATA_GENERIC, .responses = r2, .r = -ENOENT,
			       .used = METADATA_GENERIC, .request_lines = lines };
	run_scenario(&s, &ts);
	ts_free(&ts);

	const char *r3[] = { empty200, NULL };
	s.responses = r3;
	run_scenario(&s, &ts);
	ts_free(&ts);

	const char *r4[] = { "HTTP/1.1 500 Oops\r\nContent-Length: 7\r\nConnection: close\r\n\r\ntok-gen", NULL };
	s.responses = r4;
	run_scenario(&s, &ts);
	ts_free(&ts);

	/* A token with a control byte is no token either. */
	const char *r5[] = { "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\na\001b", NULL };
	s.responses = r5;
	run_scenario(&s, &ts);
	ts_free(&ts);
}

/* A probe that never answers costs one metadata_timeout; the search goes on. Once the script
 * is served the server refuses connections, so everything after fails fast. */
static void test_probe_timeout(void **state)
{
	const char *resp[] = { "", gcp_ok, tok_gcp, NULL };
	const char *lines[] = { put_line, gcp_probe_line, "GET /computeMetadata/v1" PATH " HTTP/1.1", NULL };
	struct scenario s = { .auto_detect = true, .timeout = 300 * USEC_PER_MSEC, .responses = resp,
			      .r = 0, .token = "tok-gcp", .used = METADATA_GCP, .request_lines = lines };
	struct test_server ts;
	usec_t t0 = now_usec(CLOCK_MONOTONIC);

	run_scenario(&s, &ts);
	assert_true(now_usec(CLOCK_MONOTONIC) - t0 >= 250 * USEC_PER_MSEC);
	assert_true(now_usec(CLOCK_MONOTONIC) - t0 < 2500 * USEC_PER_MSEC);
	ts_free(&ts);
}

static void test_nothing_answers(void **state)
{
	const char *resp[] = { r404, r404, r404, r404, r404, r404, NULL };
	const char *lines[] = { put_line, gcp_probe_line, azure_probe_line, os_line, do_probe_line,
				generic_line, NULL };
	struct scenario s = { .auto_detect = true, .responses = resp, .r = -ENOENT,
			      .used = METADATA_GENERIC, .request_lines = lines };
	struct test_server ts;

	run_scenario(&s, &ts);
	ts_free(&ts);
}

static void test_free_in_flight(void **state)
{
	struct ts_conn conns[] = { { .hold_ms = 2000 } };
	struct test_server ts;
	struct metadata_fetch *f = NULL;
	struct outcome o = {};
	sd_event *e;

	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(ts_start(&ts, conns, 1), 0);
	struct metadata_fetch_params p = { .auto_detect = true, .path = PATH, .base_url_override = ts.url,
					   .done = on_fetched, .userdata = &o };
	assert_int_equal(metadata_fetch_start(e, &p, &f), 0);
	ts_run_for(e, 100);
	metadata_fetch_free(f);
	ts_run_for(e, 100);
	assert_int_equal(o.calls, 0);
	p.path = "no-slash";
	assert_int_equal(metadata_fetch_start(e, &p, &f), -EINVAL);
	ts_free(&ts);
	sd_event_unref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_split),
		cmocka_unit_test(test_provider_from_config),
		cmocka_unit_test(test_auto_aws_imdsv2),
		cmocka_unit_test(test_auto_gcp),
		cmocka_unit_test(test_auto_azure),
		cmocka_unit_test(test_auto_openstack),
		cmocka_unit_test(test_auto_generic_last_resort),
		cmocka_unit_test(test_auto_exclusive),
		cmocka_unit_test(test_forced_aws_imdsv1),
		cmocka_unit_test(test_forced_no_probe),
		cmocka_unit_test(test_body_bounds),
		cmocka_unit_test(test_probe_timeout),
		cmocka_unit_test(test_nothing_answers),
		cmocka_unit_test(test_free_in_flight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
