/* plexcp admin CLI (cli.h). The CLI is a short-lived blocking client, so synchronous libcurl
 * is fine here; the server side never blocks. */
#define LOG_COMPONENT "plexcp"

#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plexcp/cli.h"
#include "shared/fileio.h"
#include "shared/json-util.h"
#include "shared/macro.h"
#include "shared/time-util.h"

#define RESPONSE_MAX ((size_t)64 * 1024 * 1024)

struct buf {
	char *data;
	size_t len;
};

static size_t on_write(char *p, size_t size, size_t n, void *userdata)
{
	struct buf *b = userdata;
	size_t add = size * n;
	char *d;

	if (b->len + add > RESPONSE_MAX)
		return 0;
	d = realloc(b->data, b->len + add + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, p, add);
	b->data = d;
	b->len += add;
	d[b->len] = 0;
	return add;
}

/* One admin request; consumes the reference of body. *ret gets the parsed JSON response of a
 * 2xx; errors are printed. Returns 0 on success, 1 on failure (the exit status). */
static int admin_call(const struct cli_context *ctx, const char *method, const char *path, json_t *body,
		      json_t **ret)
{
	_cleanup_free_ char *url = NULL, *text = NULL;
	struct buf b = {};
	struct curl_slist *hdr = NULL;
	long status = 0;
	CURLcode cc;
	CURL *c;
	json_t *j = NULL;
	int r = 1;

	c = curl_easy_init();
	if (!c || asprintf(&url, "http://localhost%s", path) < 0) {
		fprintf(stderr, "plexcp: out of memory\n");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, ctx->socket_path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	if (body) {
		text = json_dumps_compact(body);
		if (!text)
			goto out;
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	}
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		fprintf(stderr, "plexcp: cannot reach the admin socket %s: %s\n", ctx->socket_path,
			curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	j = b.data ? json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL) : NULL;
	if (status < 200 || status >= 300) {
		const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
		if (!msg && j)
			msg = json_string_value(json_object_get(j, "error"));
		fprintf(stderr, "plexcp: %s (HTTP %ld)\n", msg ? msg : (b.data ? b.data : "request failed"), status);
		goto out;
	}
	if (!j) {
		fprintf(stderr, "plexcp: malformed response from the server\n");
		goto out;
	}
	*ret = TAKE_PTR(j);
	r = 0;
out:
	json_decref(j);
	json_decref(body);
	curl_slist_free_all(hdr);
	if (c)
		curl_easy_cleanup(c);
	free(b.data);
	return r;
}

static char *escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *r = e ? strdup(e) : NULL;

	curl_free(e);
	return r;
}

static void print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (s)
		puts(s);
	free(s);
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

static int usage_error(const char *text)
{
	fprintf(stderr, "plexcp: %s\n", text);
	return 2;
}

/* Parses the subcommand's own options. optind is reset so getopt starts at argv[1]. */
#define GETOPT_RESET() (optind = 1, opterr = 1)

/* ---- token ---- */

static int cmd_token(const struct cli_context *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "ttl", required_argument, NULL, 't' },
					      { "count", required_argument, NULL, 'c' },
					      {} };
	_cleanup_json_ json_t *resp = NULL;
	int64_t ttl_ns = 3600 * NSEC_PER_SEC;
	long count = 1;
	size_t i;
	json_t *t;
	int c;

	if (argc < 2 || !streq(argv[1], "create"))
		return usage_error("usage: plexcp token create [--ttl DUR] [--count N]");
	argc--, argv++;
	GETOPT_RESET();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c == 't') {
			if (duration_parse(optarg, &ttl_ns) < 0 || ttl_ns < NSEC_PER_SEC)
				return usage_error("--ttl: expected a duration of at least 1s, e.g. 1h");
		} else if (c == 'c') {
			count = strtol(optarg, NULL, 10);
			if (count < 1 || count > 1000)
				return usage_error("--count: 1-1000");
		} else
			return 2;
	}
	if (admin_call(ctx, "POST", "/v1/admin/tokens",
		       json_pack("{s:I, s:I}", "ttl_sec", (json_int_t)(ttl_ns / NSEC_PER_SEC), "count",
				 (json_int_t)count) ?: json_null(),
		       &resp))
		return 1;
	if (ctx->json) {
		print_json(resp);
		return 0;
	}
	json_array_foreach(json_object_get(resp, "tokens"), i, t)
		printf("%s\texpires %s\n", jstr(t, "token"), jstr(t, "expires_at"));
	return 0;
}

/* ---- node ---- */

static int cmd_node(const struct cli_context *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *resp = NULL;
	_cleanup_free_ char *path = NULL, *id = NULL;

	if (argc >= 2 && streq(argv[1], "list")) {
		bool all = argc >= 3 && streq(argv[2], "--all");
		json_t *n;
		size_t i;

		if (admin_call(ctx, "GET", all ? "/v1/admin/nodes?all=1" : "/v1/admin/nodes", NULL, &resp))
			return 1;
		if (ctx->json) {
			print_json(resp);
			return 0;
		}
		printf("%-20s %-24s %-15s %-12s %-22s %-6s %s\n", "ID", "HOSTNAME", "MESH_IP", "STATUS", "ENDPOINT",
		       "STREAM", "LAST_HEARTBEAT");
		json_array_foreach(json_object_get(resp, "nodes"), i, n) {
			const char *ep = jstr(n, "endpoint");
			printf("%-20s %-24s %-15s %-12s %-22s %-6s %s\n", jstr(n, "id"), jstr(n, "hostname"),
			       jstr(n, "mesh_ip"), jstr(n, "status"), *ep ? ep : "-",
			       json_is_true(json_object_get(n, "stream_connected")) ? "yes" : "no",
			       jstr(n, "last_heartbeat"));
		}
		return 0;
	}
	if (argc == 3 && (streq(argv[1], "show") || streq(argv[1], "remove"))) {
		bool show = streq(argv[1], "show");

		id = escape(argv[2]);
		if (!id || asprintf(&path, "/v1/admin/nodes/%s", id) < 0)
			return 1;
		if (admin_call(ctx, show ? "GET" : "DELETE", path, NULL, &resp))
			return 1;
		if (ctx->json || show) {
			/* A node is a nested document; JSON is the readable form for `show`. */
			print_json(resp);
			return 0;
		}
		printf("node %s removed\n", argv[2]);
		return 0;
	}
	return usage_error("usage: plexcp node list [--all] | node show NODE | node remove NODE");
}

/* ---- policy ---- */

static int cmd_policy(const struct cli_context *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *resp = NULL;

	if (argc >= 2 && streq(argv[1], "list")) {
		json_t *p, *r;
		size_t i, k;

		if (admin_call(ctx, "GET", "/v1/admin/policies", NULL, &resp))
			return 1;
		if (ctx->json) {
			print_json(json_object_get(resp, "policies"));
			return 0;
		}
		printf("%-20s %-5s %-20s %-20s %-6s %-5s %s\n", "POLICY", "RULE", "SRC", "DST", "PROTO", "PORT",
		       "ACTION");
		json_array_foreach(json_object_get(resp, "policies"), i, p) {
			json_array_foreach(json_object_get(p, "rules"), k, r) {
				json_int_t port = json_integer_value(json_object_get(r, "port"));
				const char *proto = json_string_value(json_object_get(r, "protocol"));
				printf("%-20s %-5zu %-20s %-20s %-6s %-5lld %s\n", jstr(p, "id"), k, jstr(r, "src"),
				       jstr(r, "dst"), isempty(proto) ? "any" : proto, (long long)port,
				       jstr(r, "action"));
			}
		}
		return 0;
	}
	if (argc == 4 && streq(argv[1], "set") && streq(argv[2], "-f")) {
		_cleanup_free_ char *text = NULL;
		_cleanup_json_ json_t *j = NULL;
		struct json_error e = {};
		size_t len;
		int r;

		r = read_file_full(argv[3], 16 * 1024 * 1024, &text, &len);
		if (r < 0) {
			fprintf(stderr, "plexcp: cannot read %s: %s\n", argv[3], strerror(-r));
			return 1;
		}
		if (json_parse_bounded(text, len, &j, &e) < 0) {
			fprintf(stderr, "plexcp: %s: %s\n", argv[3], e.text);
			return 1;
		}
		if (admin_call(ctx, "PUT", "/v1/admin/policies", json_incref(j), &resp))
			return 1;
		if (ctx->json)
			print_json(resp);
		else
			printf("policy set replaced (%zu policies)\n", json_array_size(j));
		return 0;
	}
	return usage_error("usage: plexcp policy set -f FILE | policy list");
}

/* ---- meta, data, secret ---- */

static int cmd_meta(const struct cli_context *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *resp = NULL, *body = NULL;
	_cleanup_free_ char *path = NULL, *id = NULL;

	if (argc < 4 || !streq(argv[1], "set"))
		return usage_error("usage: plexcp meta set NODE key=value... (key alone deletes it)");
	body = json_object();
	for (int i = 3; body && i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		_cleanup_free_ char *k = eq ? strndup(argv[i], (size_t)(eq - argv[i])) : strdup(argv[i]);
		if (!k)
			return 1;
		json_object_set_new(body, k, eq ? json_string(eq + 1) : json_null());
	}
	id = escape(argv[2]);
	if (!body || !id || asprintf(&path, "/v1/admin/nodes/%s/metadata", id) < 0)
		return 1;
	if (admin_call(ctx, "PATCH", path, json_incref(body), &resp))
		return 1;
	if (ctx->json) {
		print_json(resp);
	} else {
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(resp, "metadata"), k, v)
			printf("%s=%s\n", k, json_string_value(v));
	}
	return 0;
}

static int cmd_data(const struct cli_context *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "file", required_argument, NULL, 'f' },
					      { "content-type", required_argument, NULL, 't' },
					      {} };
	_cleanup_json_ json_t *resp = NULL, *payload = NULL;
	_cleanup_free_ char *path = NULL, *id = NULL, *key = NULL, *text = NULL;
	const char *file = NULL, *ct = "application/json";
	struct json_error e = {};
	size_t len;
	int c, r;

	if (argc >= 4 && streq(argv[1], "delete")) {
		id = escape(argv[2]);
		key = escape(argv[3]);
		if (!id || !key || asprintf(&path, "/v1/admin/nodes/%s/data/%s", id, key) < 0)
			return 1;
		return admin_call(ctx, "DELETE", path, NULL, &resp);
	}
	if (argc < 4 || !streq(argv[1], "set"))
		return usage_error("usage: plexcp data set NODE KEY -f FILE [--content-type T] | data delete NODE KEY");
	argc -= 3, argv += 3; /* argv[0] = KEY */
	GETOPT_RESET();
	while ((c = getopt_long(argc, argv, "f:", opts, NULL)) >= 0) {
		if (c == 'f')
			file = optarg;
		else if (c == 't')
			ct = optarg;
		else
			return 2;
	}
	if (!file)
		return usage_error("data set: -f FILE is required");
	r = read_file_full(file, 8 * 1024 * 1024, &text, &len);
	if (r < 0) {
		fprintf(stderr, "plexcp: cannot read %s: %s\n", file, strerror(-r));
		return 1;
	}
	if (strstr(ct, "json")) {
		payload = json_loadb(text, len, JSON_DECODE_ANY, NULL);
		if (!payload) {
			(void)json_parse_bounded(text, len, &payload, &e);
			fprintf(stderr, "plexcp: %s is not valid JSON %s\n", file, e.text);
			return 1;
		}
	} else
		payload = json_stringn(text, len); /* text payloads travel as a JSON string */
	if (!payload) {
		fprintf(stderr, "plexcp: %s must be UTF-8 text\n", file);
		return 1;
	}
	id = escape(argv[-1]);
	key = escape(argv[0]);
	if (!id || !key || asprintf(&path, "/v1/admin/nodes/%s/data/%s", id, key) < 0)
		return 1;
	if (admin_call(ctx, "PUT", path, json_pack("{s:s, s:O}", "content_type", ct, "payload", payload), &resp))
		return 1;
	if (ctx->json)
		print_json(resp);
	return 0;
}

static int cmd_secret(const struct cli_context *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *resp = NULL;
	_cleanup_free_ char *path = NULL, *id = NULL, *key = NULL;
	char *value = NULL;
	size_t len = 0, cap = 0;
	int r;

	if (argc == 4 && streq(argv[1], "delete")) {
		id = escape(argv[2]);
		key = escape(argv[3]);
		if (!id || !key || asprintf(&path, "/v1/admin/nodes/%s/secrets/%s", id, key) < 0)
			return 1;
		return admin_call(ctx, "DELETE", path, NULL, &resp);
	}
	if (argc != 4 || !streq(argv[1], "set"))
		return usage_error("usage: plexcp secret set NODE KEY  (value on stdin) | secret delete NODE KEY");
	/* The value never appears on the command line (visible in /proc). */
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *n = realloc(value, cap + 8192);
			if (!n) {
				erase_and_free(value);
				return 1;
			}
			value = n;
			cap += 8192;
		}
		ssize_t k = read(STDIN_FILENO, value + len, 4096);
		if (k < 0) {
			erase_and_free(value);
			return 1;
		}
		if (k == 0)
			break;
		len += (size_t)k;
		if (len > 1024 * 1024) {
			erase_and_free(value);
			return usage_error("secret value larger than 1 MiB");
		}
	}
	if (!value)
		value = strdup("");
	if (!value)
		return 1;
	value[len] = 0;
	if (len > 0 && value[len - 1] == '\n')
		value[--len] = 0;
	id = escape(argv[2]);
	key = escape(argv[3]);
	json_t *body = json_pack("{s:s%}", "value", value, len); /* NULL unless UTF-8 */
	erase_and_free(value);
	if (!body) {
		fprintf(stderr, "plexcp: secret value must be UTF-8 text\n");
		return 1;
	}
	if (!id || !key || asprintf(&path, "/v1/admin/nodes/%s/secrets/%s", id, key) < 0)
		return 1;
	r = admin_call(ctx, "PUT", path, body, &resp);
	if (r == 0 && ctx->json)
		print_json(resp);
	return r;
}

/* ---- action ---- */

static int cmd_action(const struct cli_context *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "param", required_argument, NULL, 'p' },
					      { "timeout", required_argument, NULL, 't' },
					      { "wait", no_argument, NULL, 'w' },
					      { "wait-timeout", required_argument, NULL, 'W' },
					      {} };
	_cleanup_json_ json_t *resp = NULL, *params = json_object();
	_cleanup_free_ char *path = NULL, *id = NULL;
	const char *timeout = NULL, *node, *action;
	int64_t wait_ns = 600 * NSEC_PER_SEC, dummy;
	bool wait = false;
	int c;

	if (argc < 4 || !streq(argv[1], "run"))
		return usage_error("usage: plexcp action run NODE ACTION [--param k=v]... [--timeout DUR] [--wait]");
	node = argv[2];
	action = argv[3];
	argc -= 3, argv += 3;
	GETOPT_RESET();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c == 'p') {
			char *eq = strchr(optarg, '=');
			if (!eq)
				return usage_error("--param: expected k=v");
			*eq = 0;
			json_object_set_new(params, optarg, json_string(eq + 1));
		} else if (c == 't') {
			if (duration_parse(optarg, &dummy) < 0)
				return usage_error("--timeout: expected a duration");
			timeout = optarg;
		} else if (c == 'w')
			wait = true;
		else if (c == 'W') {
			if (duration_parse(optarg, &wait_ns) < 0)
				return usage_error("--wait-timeout: expected a duration");
		} else
			return 2;
	}
	id = escape(node);
	if (!id || asprintf(&path, "/v1/admin/nodes/%s/actions", id) < 0)
		return 1;
	json_t *body = json_pack("{s:s, s:O}", "action", action, "parameters", params);
	if (body && timeout)
		json_object_set_new(body, "timeout", json_string(timeout));
	if (admin_call(ctx, "POST", path, body, &resp))
		return 1;
	const char *xid = json_string_value(json_object_get(resp, "execution_id"));
	if (!wait) {
		if (ctx->json)
			print_json(resp);
		else
			printf("%s\n", xid);
		return 0;
	}

	/* Poll until the result arrives (the node acks within 5 s and posts the result once). */
	_cleanup_free_ char *xpath = NULL, *xe = escape(xid ? xid : "");
	usec_t deadline = now_usec(CLOCK_MONOTONIC) + (usec_t)wait_ns / 1000;
	if (!xe || asprintf(&xpath, "/v1/admin/executions/%s", xe) < 0)
		return 1;
	for (;;) {
		_cleanup_json_ json_t *x = NULL;
		const char *st;

		if (admin_call(ctx, "GET", xpath, NULL, &x))
			return 1;
		st = jstr(x, "status");
		if (streq(st, "finished") || streq(st, "rejected")) {
			json_t *res = json_object_get(x, "result");
			if (ctx->json) {
				print_json(x);
			} else if (streq(st, "rejected")) {
				printf("execution %s rejected: %s\n", xid, jstr(x, "ack_reason"));
			} else {
				printf("execution %s: %s (exit code %lld, %s)\n", xid, jstr(res, "status"),
				       (long long)json_integer_value(json_object_get(res, "exit_code")),
				       jstr(res, "duration"));
				fputs(jstr(res, "stdout"), stdout);
				if (!isempty(json_string_value(json_object_get(res, "stderr"))))
					fprintf(stderr, "%s", jstr(res, "stderr"));
			}
			if (streq(st, "rejected"))
				return 1;
			return streq(jstr(res, "status"), "success") ? 0 : 1;
		}
		if (now_usec(CLOCK_MONOTONIC) > deadline) {
			fprintf(stderr, "plexcp: no result for %s yet (status %s)\n", xid, st);
			return 1;
		}
		usleep(300 * 1000);
	}
}

/* ---- keys ---- */

static int cmd_keys(const struct cli_context *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *resp = NULL;
	_cleanup_free_ char *path = NULL, *id = NULL;

	if (argc != 3 || !streq(argv[1], "rotate"))
		return usage_error("usage: plexcp keys rotate NODE|--all");
	if (streq(argv[2], "--all")) {
		if (admin_call(ctx, "POST", "/v1/admin/rotate-keys", NULL, &resp))
			return 1;
	} else {
		id = escape(argv[2]);
		if (!id || asprintf(&path, "/v1/admin/nodes/%s/rotate-keys", id) < 0)
			return 1;
		if (admin_call(ctx, "POST", path, NULL, &resp))
			return 1;
	}
	if (ctx->json)
		print_json(resp);
	else
		printf("key rotation requested\n");
	return 0;
}

static int cmd_signing_key(const struct cli_context *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *resp = NULL;
	json_t *k;

	if (argc != 2 || !streq(argv[1], "rotate"))
		return usage_error("usage: plexcp signing-key rotate");
	if (admin_call(ctx, "POST", "/v1/admin/signing-key/rotate", NULL, &resp))
		return 1;
	if (ctx->json) {
		print_json(resp);
		return 0;
	}
	k = json_object_get(resp, "signing_keys");
	printf("current:            %s\nprevious:           %s\ntransition_expires: %s\n", jstr(k, "current"),
	       jstr(k, "previous"), jstr(k, "transition_expires"));
	return 0;
}

/* ---- events ---- */

static int cmd_events(const struct cli_context *ctx, int argc, char **argv)
{
	_cleanup_free_ char *id = NULL;
	long long after = -1;
	long limit = 20;
	bool follow = true;

	if (argc < 3 || !streq(argv[1], "tail"))
		return usage_error("usage: plexcp events tail NODE [-n N] [--no-follow]");
	for (int i = 3; i < argc; i++) {
		if (streq(argv[i], "--no-follow"))
			follow = false;
		else if (streq(argv[i], "-n") && i + 1 < argc)
			limit = strtol(argv[++i], NULL, 10);
		else
			return usage_error("events tail: unknown option");
	}
	id = escape(argv[2]);
	if (!id)
		return 1;
	for (;;) {
		_cleanup_json_ json_t *resp = NULL;
		_cleanup_free_ char *path = NULL;
		json_t *ev;
		size_t i;

		if (after >= 0 ? asprintf(&path, "/v1/admin/nodes/%s/events?after=%lld&limit=1000", id, after) < 0
			       : asprintf(&path, "/v1/admin/nodes/%s/events?limit=%ld", id, limit) < 0)
			return 1;
		if (admin_call(ctx, "GET", path, NULL, &resp))
			return 1;
		json_array_foreach(json_object_get(resp, "events"), i, ev) {
			if (ctx->json)
				puts(jstr(ev, "envelope"));
			else
				printf("%s evt_%010lld %-24s %s\n", jstr(ev, "emitted_at"),
				       (long long)json_integer_value(json_object_get(ev, "seq")), jstr(ev, "event_type"),
				       jstr(ev, "envelope"));
			after = json_integer_value(json_object_get(ev, "seq"));
		}
		fflush(stdout);
		if (!follow)
			return 0;
		if (after < 0)
			after = 0;
		sleep(1);
	}
}

/* ---- metrics / logs / audit ---- */

static int cmd_records(const struct cli_context *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *resp = NULL;
	_cleanup_free_ char *path = NULL, *id = NULL;
	int64_t since_ns = 0, since = 0;
	long limit = 1000;
	json_t *rec;
	size_t i;

	if (argc < 3 || !streq(argv[1], "query"))
		return usage_error("usage: plexcp metrics|logs|audit query NODE [--since DUR] [--limit N]");
	for (int k = 3; k < argc; k++) {
		if (streq(argv[k], "--since") && k + 1 < argc) {
			if (duration_parse(argv[++k], &since_ns) < 0 || since_ns < 0)
				return usage_error("--since: expected a duration, e.g. 1h");
		} else if (streq(argv[k], "--limit") && k + 1 < argc)
			limit = strtol(argv[++k], NULL, 10);
		else
			return usage_error("query: unknown option");
	}
	if (since_ns > 0)
		since = (int64_t)now_usec(CLOCK_REALTIME) - since_ns / 1000;
	id = escape(argv[2]);
	if (!id || asprintf(&path, "/v1/admin/nodes/%s/records/%s?since=%" PRId64 "&limit=%ld", id, argv[0], since,
			    limit < 0 ? 0 : limit) < 0)
		return 1;
	if (admin_call(ctx, "GET", path, NULL, &resp))
		return 1;
	if (ctx->json) {
		print_json(json_object_get(resp, "records"));
		return 0;
	}
	json_array_foreach(json_object_get(resp, "records"), i, rec) {
		json_t *r = json_object_get(rec, "record");
		_cleanup_free_ char *line = NULL;

		if (streq(argv[0], "logs")) {
			printf("%s %-5s %s %s: %s\n", jstr(r, "timestamp"), jstr(r, "severity"), jstr(r, "hostname"),
			       jstr(r, "unit"), jstr(r, "message"));
			continue;
		}
		if (streq(argv[0], "metrics"))
			line = json_dumps(json_object_get(r, "data"), JSON_COMPACT);
		else
			line = json_dumps(r, JSON_COMPACT);
		printf("%s %s %s\n", jstr(r, "timestamp"),
		       streq(argv[0], "metrics") ? jstr(r, "group") : jstr(r, "event_type"), line ? line : "");
	}
	return 0;
}

struct cli_command {
	const char *name;
	int (*run)(const struct cli_context *ctx, int argc, char **argv);
};

static const struct cli_command commands[] = {
	{ "token", cmd_token },	  { "node", cmd_node },	    { "policy", cmd_policy },
	{ "meta", cmd_meta },	  { "data", cmd_data },	    { "secret", cmd_secret },
	{ "action", cmd_action }, { "keys", cmd_keys },	    { "signing-key", cmd_signing_key },
	{ "events", cmd_events }, { "metrics", cmd_records }, { "logs", cmd_records },
	{ "audit", cmd_records },
};

int cli_dispatch(const struct cli_context *ctx, int argc, char **argv)
{
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		if (streq(commands[i].name, argv[0])) {
			int r;
			curl_global_init(CURL_GLOBAL_DEFAULT);
			r = commands[i].run(ctx, argc, argv);
			curl_global_cleanup();
			return r;
		}
	return -ENOENT;
}

void cli_usage(void)
{
	fputs("usage: plexcp [--db PATH | --admin-socket PATH] [--json] COMMAND ...\n"
	      "\n"
	      "  serve --listen ADDR:PORT --db PATH [--tls-cert PEM --tls-key PEM | --insecure-http]\n"
	      "        [--admin-socket PATH] [--artifacts DIR] [--heartbeat-interval DUR]\n"
	      "        [--keepalive-interval DUR] [--event-retention DUR] [--event-retention-count N]\n"
	      "        [--ip-cooldown DUR] [--record-max-count N] [--record-max-age DUR]\n"
	      "        [--signing-transition DUR] [--retry-ms MS] [--log-level LEVEL]\n"
	      "  token create [--ttl DUR] [--count N]\n"
	      "  node list [--all] | node show NODE | node remove NODE\n"
	      "  policy set -f FILE | policy list\n"
	      "  meta set NODE key=value... (key alone deletes)\n"
	      "  data set NODE KEY -f FILE [--content-type T] | data delete NODE KEY\n"
	      "  secret set NODE KEY (value from stdin) | secret delete NODE KEY\n"
	      "  action run NODE ACTION [--param k=v]... [--timeout DUR] [--wait] [--wait-timeout DUR]\n"
	      "  keys rotate NODE|--all\n"
	      "  signing-key rotate\n"
	      "  events tail NODE [-n N] [--no-follow]\n"
	      "  metrics|logs|audit query NODE [--since DUR] [--limit N]\n"
	      "\n"
	      "serve: --tls-cert/--tls-key are PEM files (certificate chain, unencrypted key); TLS 1.2\n"
	      "  minimum. --insecure-http serves plain HTTP, for tests and demos only.\n"
	      "Admin commands talk to the server over its admin socket (default <db dir>/admin.sock,\n"
	      "  or PLEXCP_ADMIN_SOCKET). The socket is mode 0600 and the server accepts only callers\n"
	      "  whose uid (SO_PEERCRED) is 0 or the uid the server runs as, so an unprivileged test\n"
	      "  deployment is administered by its own user.\n",
	      stderr);
}
