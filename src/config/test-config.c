/* Unit tests for src/config: defaults, layering, environment mapping, every validation family,
 * exact diagnostic lines, printing and the reload diff. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "config/config-internal.h"
#include "config/config.h"
#include "shared/macro.h"

#define FILE_NAME "/etc/plexd/config.yaml"
#define S 1000000000LL

static char tmpdir[] = "/tmp/plexd-test-config-XXXXXX";

/* Loads yaml (from memory, named FILE_NAME) with the given NULL-terminated environment. */
static int load(const char *yaml, char **env, struct config **ret, struct config_diag *d)
{
	struct config_sources src = { .environ = env };
	return config_load_buffer(yaml, strlen(yaml), FILE_NAME, &src, ret, d);
}

static int load_flags(const char *yaml, char **env, const char *api, const char *mode, const char *level,
		      struct config **ret, struct config_diag *d)
{
	struct config_sources src = { .environ = env, .flag_api = api, .flag_mode = mode, .flag_log_level = level };
	return config_load_buffer(yaml, strlen(yaml), FILE_NAME, &src, ret, d);
}

static void dump_diag(const struct config_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "  diag[%zu]: %s\n", i, d->lines[i]);
}

/* Asserts that loading fails with exactly the given lines (NULL-terminated). */
static void expect_errors(const char *yaml, char **env, const char *const *lines)
{
	struct config_diag d = {};
	struct config *c = NULL;
	size_t n = 0;
	int r;

	r = load(yaml, env, &c, &d);
	while (lines[n])
		n++;
	if (r != -EINVAL || d.n != n)
		dump_diag(&d);
	assert_int_equal(r, -EINVAL);
	assert_null(c);
	assert_int_equal(d.n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(d.lines[i], lines[i]);
	config_diag_done(&d);
}

static struct config *expect_ok(const char *yaml, char **env)
{
	struct config_diag d = {};
	struct config *c = NULL;
	int r = load(yaml, env, &c, &d);
	if (r != 0)
		dump_diag(&d);
	assert_int_equal(r, 0);
	assert_int_equal(d.n, 0);
	config_diag_done(&d);
	return c;
}

static void test_defaults(void **state)
{
	char *env[] = { NULL };
	struct config *c = expect_ok("", env);

	assert_null(c->api);
	assert_int_equal(c->mode, CONFIG_MODE_NODE);
	assert_int_equal(c->log_level, CONFIG_LOG_LEVEL_INFO);
	assert_string_equal(c->data_dir, "/var/lib/plexd");
	assert_true(strlen(c->hostname) > 0);
	assert_false(c->deregister_on_shutdown);
	assert_string_equal(c->api_client.ca_file, "");
	assert_int_equal(c->api_client.connect_timeout, 10 * S);
	assert_int_equal(c->api_client.request_timeout, 30 * S);
	assert_int_equal(c->api_client.sse_idle_timeout, 90 * S);
	assert_int_equal(c->registration.n_metadata, 0);
	assert_int_equal(c->registration.max_retry, 300 * S);
	assert_string_equal(c->token.file, "/etc/plexd/bootstrap-token");
	assert_string_equal(c->token.env, "PLEXD_BOOTSTRAP_TOKEN");
	assert_int_equal(c->token.metadata_provider, CONFIG_METADATA_PROVIDER_AUTO);
	assert_string_equal(c->token.metadata_path, "/plexd/bootstrap-token");
	assert_int_equal(c->token.metadata_timeout, 2 * S);
	assert_string_equal(c->mesh.interface, "plexd0");
	assert_int_equal(c->mesh.listen_port, 51820);
	assert_int_equal(c->mesh.mtu, 0);
	assert_int_equal(c->mesh.persistent_keepalive, 25 * S);
	assert_string_equal(c->mesh.cidr, "10.100.0.0/16");
	assert_int_equal(c->mesh.backend, CONFIG_WG_BACKEND_AUTO);
	assert_string_equal(c->mesh.userspace_binary, "wireguard-go");
	assert_int_equal(c->reconcile.interval, 60 * S);
	assert_true(c->policy.enabled);
	assert_int_equal(c->policy.default_verdict, CONFIG_POLICY_VERDICT_DENY);
	assert_true(c->policy.log_denied);
	assert_true(c->nat_traversal.enabled);
	assert_int_equal(c->nat_traversal.stun_servers.n, 2);
	assert_string_equal(c->nat_traversal.stun_servers.v[0], "stun.l.google.com:19302");
	assert_string_equal(c->nat_traversal.stun_servers.v[1], "stun.cloudflare.com:3478");
	assert_int_equal(c->nat_traversal.refresh_interval, 60 * S);
	assert_int_equal(c->nat_traversal.timeout, 5 * S);
	assert_int_equal(c->nat_traversal.fallback, CONFIG_NAT_FALLBACK_RELAY);
	assert_int_equal(c->heartbeat.interval, 30 * S);
	assert_int_equal(c->observe.interval, 15 * S);
	assert_int_equal(c->observe.batch_interval, 10 * S);
	assert_int_equal(c->observe.batch_max_size, 500);
	assert_int_equal(c->observe.buffer_size, 5000);
	assert_int_equal(c->observe.metrics, 0xf);
	assert_int_equal(c->observe.disk_paths.n, 1);
	assert_string_equal(c->observe.disk_paths.v[0], "/");
	assert_int_equal(c->logs.sources.n, 1);
	assert_string_equal(c->logs.sources.v[0], "journald");
	assert_int_equal(c->logs.batch_max_size, 1000);
	assert_int_equal(c->logs.buffer_size, 10000);
	assert_int_equal(c->logs.max_line_size, 16384);
	assert_int_equal(c->audit.sources, 1U << CONFIG_AUDIT_SOURCE_AUDITD);
	assert_int_equal(c->audit.batch_max_size, 500);
	assert_int_equal(c->audit.buffer_size, 10000);
	assert_true(c->access.ssh.enabled);
	assert_string_equal(c->access.ssh.host_key_file, "/var/lib/plexd/ssh_host_key");
	assert_int_equal(c->access.ssh.idle_timeout, 1800 * S);
	assert_int_equal(c->access.ssh.max_sessions, 10);
	assert_int_equal(c->access.ssh.listen_port, 0);
	assert_false(c->access.ssh.allow_root);
	assert_false(c->access.kubernetes.enabled);
	assert_int_equal(c->access.kubernetes.listen_port, 16443);
	assert_int_equal(c->access.kubernetes.idle_timeout, 900 * S);
	assert_true(c->actions.enabled);
	assert_int_equal(c->actions.max_concurrent, 5);
	assert_string_equal(c->actions.socket, "/var/run/plexd.sock");
	assert_int_equal(c->actions.default_timeout, 30 * S);
	assert_int_equal(c->actions.max_timeout, 600 * S);
	assert_true(c->actions.local_auth.require_root);
	assert_true(c->hooks.enabled);
	assert_string_equal(c->hooks.dir, "/etc/plexd/hooks.d");
	assert_int_equal(c->hooks.n_definitions, 0);
	assert_true(c->node_api.enabled);
	assert_string_equal(c->node_api.socket, "/var/run/plexd/api.sock");
	assert_int_equal(c->node_api.debounce, 5 * S);
	assert_false(c->node_api.http.enabled);
	assert_string_equal(c->node_api.http.listen, "127.0.0.1:9100");
	assert_string_equal(c->node_api.http.token_file, "/etc/plexd/node-api-token");
	assert_int_equal(c->integrity.verify_interval, 300 * S);
	assert_string_equal(c->integrity.binary_path, "");
	assert_int_equal(c->kubernetes.enabled, CONFIG_TRISTATE_AUTO);
	assert_int_equal(c->kubernetes.crd_sync_interval, 10 * S);
	assert_string_equal(c->kubernetes.hook_service_account, "plexd-hook-runner");
	assert_int_equal(c->kubernetes.hook_job_ttl, 3600 * S);
	assert_true(c->bridge.masquerade);
	assert_false(c->bridge.ingress.enabled);
	assert_string_equal(c->bridge.ingress.listen, "0.0.0.0:443");
	assert_int_equal(c->bridge.ingress.max_rules, 20);
	assert_string_equal(c->bridge.ingress.acme.directory_url, "https://acme-v02.api.letsencrypt.org/directory");
	assert_string_equal(c->bridge.ingress.acme.cache_dir, "/var/lib/plexd/acme");
	assert_true(c->bridge.relay.enabled);
	assert_int_equal(c->bridge.relay.listen_port, 51821);
	assert_int_equal(c->bridge.relay.session_port_base, 52000);
	assert_int_equal(c->bridge.relay.max_sessions, 100);
	assert_int_equal(c->bridge.relay.session_ttl, 300 * S);
	assert_string_equal(c->bridge.site_to_site_limits.interface_prefix, "wg-s2s-");
	assert_int_equal(c->bridge.site_to_site_limits.base_listen_port, 51823);
	assert_int_equal(c->bridge.site_to_site_limits.max_tunnels, 10);
	assert_false(config_bridge_keys_set(c));
	assert_string_equal(config_key_source(c, "mesh.listen_port"), "default");
	assert_null(config_key_source(c, "mesh"));
	assert_null(config_key_source(c, "nope"));
	config_free(c);
}

static void test_kubernetes_defaults(void **state)
{
	char *env[] = { "KUBERNETES_SERVICE_HOST=10.96.0.1", NULL };
	struct config *c = expect_ok("data_dir: /data\n", env);

	assert_true(c->in_kubernetes);
	assert_false(c->access.ssh.enabled);
	assert_true(c->access.kubernetes.enabled);
	assert_int_equal(c->audit.sources, (1U << CONFIG_AUDIT_SOURCE_AUDITD) | (1U << CONFIG_AUDIT_SOURCE_KUBERNETES));
	assert_string_equal(c->access.ssh.host_key_file, "/data/ssh_host_key");
	assert_string_equal(c->bridge.ingress.acme.cache_dir, "/data/acme");
	config_free(c);
}

static void test_layers(void **state)
{
	const char *yaml = "api: https://cp.example.com/base\n"
			   "log_level: warn\n"
			   "mesh:\n"
			   "  listen_port: 51000\n"
			   "  mtu: 1400\n";
	char *env[] = { "PLEXD_MESH_LISTEN_PORT=52000", "PLEXD_LOG_LEVEL=error", "PLEXD_API=https://env.example.com", NULL };
	struct config_diag d = {};
	struct config *c = NULL;

	/* file over defaults */
	c = expect_ok(yaml, NULL);
	assert_int_equal(c->mesh.listen_port, 51000);
	assert_int_equal(c->mesh.mtu, 1400);
	assert_int_equal(c->log_level, CONFIG_LOG_LEVEL_WARN);
	assert_string_equal(config_key_source(c, "mesh.listen_port"), "file:" FILE_NAME ":4");
	assert_string_equal(config_key_source(c, "mesh.mtu"), "file:" FILE_NAME ":5");
	c = config_free(c);

	/* env over file */
	c = expect_ok(yaml, env);
	assert_int_equal(c->mesh.listen_port, 52000);
	assert_int_equal(c->mesh.mtu, 1400);
	assert_int_equal(c->log_level, CONFIG_LOG_LEVEL_ERROR);
	assert_string_equal(c->api, "https://env.example.com");
	assert_string_equal(config_key_source(c, "mesh.listen_port"), "env PLEXD_MESH_LISTEN_PORT");
	c = config_free(c);

	/* flags over env */
	assert_int_equal(load_flags(yaml, env, "https://flag.example.com:8443/x", NULL, "debug", &c, &d), 0);
	assert_string_equal(c->api, "https://flag.example.com:8443/x");
	assert_int_equal(c->log_level, CONFIG_LOG_LEVEL_DEBUG);
	assert_string_equal(config_key_source(c, "api"), "flag --api");
	assert_string_equal(config_key_source(c, "log_level"), "flag --log-level");
	assert_int_equal(config_require_api(c, &d), 0);
	c = config_free(c);

	/* bad flag values are config errors naming the flag */
	assert_int_equal(load_flags("", NULL, NULL, "relay", "loud", &c, &d), -EINVAL);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.lines[0], "plexd: config: mode: expected one of node, bridge, got \"relay\" (flag --mode)");
	assert_string_equal(d.lines[1],
			    "plexd: config: log_level: expected one of debug, info, warn, error, got \"loud\" (flag --log-level)");
	config_diag_done(&d);

	/* api is optional at load time, required by CP commands */
	c = expect_ok("", NULL);
	assert_int_equal(config_require_api(c, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.lines[0], "plexd: config: api: required, set it in the config file, PLEXD_API or --api (default)");
	config_diag_done(&d);
	config_free(c);
}

static void test_list_replacement(void **state)
{
	const char *yaml = "nat_traversal:\n"
			   "  stun_servers: [a.example:1, b.example:2, c.example:3]\n"
			   "observe:\n"
			   "  metrics:\n"
			   "    - agent_stats\n"
			   "    - peer_latency\n";
	char *env[] = { "PLEXD_NAT_TRAVERSAL_STUN_SERVERS= x.example:7 ,[2001:db8::1]:3478", NULL };
	struct config *c;

	c = expect_ok(yaml, NULL);
	assert_int_equal(c->nat_traversal.stun_servers.n, 3);
	assert_string_equal(c->nat_traversal.stun_servers.v[2], "c.example:3");
	assert_int_equal(c->observe.metrics, (1U << CONFIG_METRIC_AGENT_STATS) | (1U << CONFIG_METRIC_PEER_LATENCY));
	config_free(c);

	c = expect_ok(yaml, env);
	assert_int_equal(c->nat_traversal.stun_servers.n, 2);
	assert_string_equal(c->nat_traversal.stun_servers.v[0], "x.example:7");
	assert_string_equal(c->nat_traversal.stun_servers.v[1], "[2001:db8::1]:3478");
	config_free(c);

	/* an empty env value means an empty list */
	{
		char *env2[] = { "PLEXD_NAT_TRAVERSAL_STUN_SERVERS=", "PLEXD_NAT_TRAVERSAL_ENABLED=false", NULL };
		c = expect_ok(yaml, env2);
		assert_int_equal(c->nat_traversal.stun_servers.n, 0);
		config_free(c);
	}
}

static void test_env_mapping(void **state)
{
	static const struct {
		const char *var;
		const char *key;
		const char *json; /* value as config_print shows it */
	} cases[] = {
		{ "PLEXD_API=https://cp.example", "api", "\"https://cp.example\"" },
		{ "PLEXD_MODE=bridge", "mode", "\"bridge\"" },
		{ "PLEXD_DATA_DIR=/srv/plexd", "data_dir", "\"/srv/plexd\"" },
		{ "PLEXD_DEREGISTER_ON_SHUTDOWN=true", "deregister_on_shutdown", "true" },
		{ "PLEXD_API_CLIENT_CONNECT_TIMEOUT=1m", "api_client.connect_timeout", "\"1m\"" },
		{ "PLEXD_TOKEN_METADATA_PROVIDER=digitalocean", "token.metadata_provider", "\"digitalocean\"" },
		{ "PLEXD_TOKEN_METADATA_TIMEOUT=500ms", "token.metadata_timeout", "\"500ms\"" },
		{ "PLEXD_MESH_PERSISTENT_KEEPALIVE=0", "mesh.persistent_keepalive", "\"0s\"" },
		{ "PLEXD_POLICY_DEFAULT=allow", "policy.default", "\"allow\"" },
		{ "PLEXD_OBSERVE_METRICS=tunnel_health, agent_stats", "observe.metrics", "[\"tunnel_health\",\"agent_stats\"]" },
		{ "PLEXD_LOGS_MAX_LINE_SIZE=64K", "logs.max_line_size", "65536" },
		{ "PLEXD_AUDIT_SOURCES=kubernetes", "audit.sources", "[\"kubernetes\"]" },
		{ "PLEXD_ACCESS_SSH_LISTEN_PORT=2222", "access.ssh.listen_port", "2222" },
		{ "PLEXD_ACTIONS_ENABLED=false", "actions.enabled", "false" },
		{ "PLEXD_ACTIONS_MAX_CONCURRENT=7", "actions.max_concurrent", "7" },
		{ "PLEXD_ACTIONS_LOCAL_AUTH_REQUIRE_ROOT=false", "actions.local_auth.require_root", "false" },
		{ "PLEXD_HOOKS_ENABLED=false", "hooks.enabled", "false" },
		{ "PLEXD_HOOKS_DIR=/opt/hooks", "hooks.dir", "\"/opt/hooks\"" },
		{ "PLEXD_NODE_API_ENABLED=false", "node_api.enabled", "false" },
		{ "PLEXD_NODE_API_SOCKET=/run/x.sock", "node_api.socket", "\"/run/x.sock\"" },
		{ "PLEXD_NODE_API_HTTP_LISTEN=0.0.0.0:9200", "node_api.http.listen", "\"0.0.0.0:9200\"" },
		{ "PLEXD_KUBERNETES_ENABLED=true", "kubernetes.enabled", "\"true\"" },
		{ "PLEXD_KUBERNETES_SECRET_ACCESS=default:*,ops:runner", "kubernetes.secret_access", "[\"default:*\",\"ops:runner\"]" },
		{ "PLEXD_TOKEN_FILE=/run/token", "token.file", "\"/run/token\"" },
		{ "PLEXD_BOOTSTRAP_TOKEN_FILE=/run/alias", "token.file", "\"/run/alias\"" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		/* also present: things that are not keys and must be ignored */
		char *env[] = { (char *)cases[i].var, "PLEXD_BOOTSTRAP_TOKEN=not-a-key", "PLEXD_NO_SUCH_KEY=1",
				"PLEXD_HOOKS_DEFINITIONS=[]", "PLEXD_CONFIG=/nonexistent", NULL };
		struct config *c = expect_ok("", env);
		ssize_t k = -1;
		_cleanup_free_ char *s = NULL;
		json_t *v;
		char expected_src[128];
		const char *eq = strchr(cases[i].var, '=');

		for (size_t j = 0; j < config_n_fields; j++)
			if (streq(config_fields[j].name, cases[i].key))
				k = (ssize_t)j;
		assert_true(k >= 0);
		v = config_field_to_json(&config_fields[k], c);
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(v);
		assert_string_equal(s, cases[i].json);
		snprintf(expected_src, sizeof expected_src, "env %.*s", (int)(eq - cases[i].var), cases[i].var);
		assert_string_equal(config_key_source(c, cases[i].key), expected_src);
		config_free(c);
	}

	/* PLEXD_TOKEN_FILE wins over the alias */
	{
		char *env[] = { "PLEXD_BOOTSTRAP_TOKEN_FILE=/run/alias", "PLEXD_TOKEN_FILE=/run/real", NULL };
		struct config *c = expect_ok("token:\n  file: /etc/x\n", env);
		assert_string_equal(c->token.file, "/run/real");
		assert_string_equal(config_key_source(c, "token.file"), "env PLEXD_TOKEN_FILE");
		config_free(c);
	}
	/* the alias still overrides the file */
	{
		char *env[] = { "PLEXD_BOOTSTRAP_TOKEN_FILE=/run/alias", NULL };
		struct config *c = expect_ok("token:\n  file: /etc/x\n", env);
		assert_string_equal(c->token.file, "/run/alias");
		config_free(c);
	}
}

/* §1.5: no two keys share a variable, and none collides with the named non-key variables. */
static void test_env_names_unique(void **state)
{
	static const char *const reserved[] = { "PLEXD_CONFIG", "PLEXD_BOOTSTRAP_TOKEN", "PLEXD_BOOTSTRAP_TOKEN_FILE",
						"PLEXD_SESSION_TOKEN" };
	char a[128], b[128];
	size_t n_env = 0;

	for (size_t i = 0; i < config_n_fields; i++) {
		if (config_fields[i].type == FT_SECTION || config_fields[i].type == FT_SPECIAL)
			continue;
		n_env++;
		config_env_name(config_fields[i].name, a, sizeof a);
		for (size_t r = 0; r < ELEMENTSOF(reserved); r++)
			assert_string_not_equal(a, reserved[r]);
		for (size_t j = 0; j < i; j++) {
			if (config_fields[j].type == FT_SECTION || config_fields[j].type == FT_SPECIAL)
				continue;
			config_env_name(config_fields[j].name, b, sizeof b);
			assert_string_not_equal(a, b);
		}
	}
	config_env_name("node_api.http.listen", a, sizeof a);
	assert_string_equal(a, "PLEXD_NODE_API_HTTP_LISTEN");
	assert_true(n_env > 100);
}

/* One bad value per row; the single expected line. */
static void test_validation_families(void **state)
{
	static const struct {
		const char *yaml;
		const char *env; /* optional single variable */
		const char *line;
	} cases[] = {
		/* types */
		{ "mesh:\n  listen_port: 70000\n", NULL,
		  "mesh.listen_port: must be between 1 and 65535, got 70000 (file:" FILE_NAME ":2)" },
		{ "", "PLEXD_ACTIONS_MAX_CONCURRENT=five",
		  "actions.max_concurrent: expected integer, got \"five\" (env PLEXD_ACTIONS_MAX_CONCURRENT)" },
		{ "actions:\n  max_concurrent: five\n", NULL,
		  "actions.max_concurrent: expected integer, got \"five\" (file:" FILE_NAME ":2)" },
		{ "policy:\n  enabled: yes\n", NULL, "policy.enabled: expected true or false, got \"yes\" (file:" FILE_NAME ":2)" },
		{ "policy:\n  log_denied: off\n", NULL,
		  "policy.log_denied: expected true or false, got \"off\" (file:" FILE_NAME ":2)" },
		{ "", "PLEXD_HOOKS_ENABLED=no", "hooks.enabled: expected true or false, got \"no\" (env PLEXD_HOOKS_ENABLED)" },
		{ "reconcile:\n  interval: 30\n", NULL,
		  "reconcile.interval: expected duration (e.g. 500ms, 30s, 1h30m), got \"30\" (file:" FILE_NAME ":2)" },
		{ "reconcile:\n  interval: 1d\n", NULL,
		  "reconcile.interval: expected duration (e.g. 500ms, 30s, 1h30m), got \"1d\" (file:" FILE_NAME ":2)" },
		{ "reconcile:\n  interval: -5s\n", NULL,
		  "reconcile.interval: expected duration (e.g. 500ms, 30s, 1h30m), got \"-5s\" (file:" FILE_NAME ":2)" },
		{ "logs:\n  max_line_size: 1T\n", NULL,
		  "logs.max_line_size: expected size (e.g. 16384, 512K, 1M), got \"1T\" (file:" FILE_NAME ":2)" },
		{ "mode: relay\n", NULL, "mode: expected one of node, bridge, got \"relay\" (file:" FILE_NAME ":1)" },
		{ "mesh: 5\n", NULL, "mesh: expected mapping, got scalar (file:" FILE_NAME ":1)" },
		{ "mesh:\n  interface: [a]\n", NULL, "mesh.interface: expected string, got list (file:" FILE_NAME ":2)" },
		{ "data_dir:\n", NULL, "data_dir: expected string, got null (file:" FILE_NAME ":1)" },
		{ "observe:\n  disk_paths: /\n", NULL, "observe.disk_paths: expected list, got scalar (file:" FILE_NAME ":2)" },
		{ "observe:\n  metrics: [agent_stats, agent_stats]\n", NULL,
		  "observe.metrics[1]: duplicate value \"agent_stats\" (file:" FILE_NAME ":2)" },
		{ "observe:\n  metrics:\n    - cpu\n", NULL,
		  "observe.metrics[0]: expected one of node_resources, tunnel_health, peer_latency, agent_stats, got \"cpu\" (file:" FILE_NAME
		  ":3)" },
		{ "mesh:\n  interfce: x\n", NULL, "mesh.interfce: unknown key (file:" FILE_NAME ":2)" },
		{ "colour: blue\n", NULL, "colour: unknown key (file:" FILE_NAME ":1)" },
		{ "mesh:\n  mtu: 1400\n  mtu: 1500\n", NULL, "mesh.mtu: duplicate key, first set on line 2 (file:" FILE_NAME ":3)" },
		/* ranges */
		{ "mesh:\n  mtu: 1000\n", NULL, "mesh.mtu: must be 0 or between 1280 and 9000, got 1000 (file:" FILE_NAME ":2)" },
		{ "mesh:\n  persistent_keepalive: 1500ms\n", NULL,
		  "mesh.persistent_keepalive: must be whole seconds, got 1.5s (file:" FILE_NAME ":2)" },
		{ "api_client:\n  connect_timeout: 2m\n", NULL,
		  "api_client.connect_timeout: must be between 1s and 1m, got 2m (file:" FILE_NAME ":2)" },
		{ "", "PLEXD_HEARTBEAT_INTERVAL=1s", "heartbeat.interval: must be between 5s and 10m, got 1s (env PLEXD_HEARTBEAT_INTERVAL)" },
		{ "reconcile:\n  interval: 1s\n", NULL, "reconcile.interval: must be at least 5s, got 1s (file:" FILE_NAME ":2)" },
		{ "logs:\n  max_line_size: 2M\n", NULL,
		  "logs.max_line_size: must be between 1K and 1M, got 2M (file:" FILE_NAME ":2)" },
		{ "token:\n  metadata_timeout: 50ms\n", NULL,
		  "token.metadata_timeout: must be between 100ms and 30s, got 50ms (file:" FILE_NAME ":2)" },
		/* cross-field */
		{ "nat_traversal:\n  refresh_interval: 20s\n  timeout: 20s\n", NULL,
		  "nat_traversal.timeout: must be less than nat_traversal.refresh_interval (20s), got 20s (file:" FILE_NAME ":3)" },
		{ "actions:\n  default_timeout: 20m\n", NULL,
		  "actions.default_timeout: must be at most actions.max_timeout (10m), got 20m (file:" FILE_NAME ":2)" },
		{ "observe:\n  batch_max_size: 6000\n", NULL, "observe.buffer_size: must be at least observe.batch_max_size (6000), got 5000 (default)" },
		{ "logs:\n  buffer_size: 10\n", NULL, "logs.buffer_size: must be at least logs.batch_max_size (1000), got 10 (file:" FILE_NAME ":2)" },
		{ "audit:\n  buffer_size: 10\n", NULL, "audit.buffer_size: must be at least audit.batch_max_size (500), got 10 (file:" FILE_NAME ":2)" },
		{ "node_api:\n  socket: /var/run/plexd.sock\n", NULL,
		  "node_api.socket: must differ from actions.socket (/var/run/plexd.sock) (file:" FILE_NAME ":2)" },
		{ "nat_traversal:\n  stun_servers: []\n", NULL,
		  "nat_traversal.stun_servers: must not be empty when nat_traversal.enabled is true (file:" FILE_NAME ":2)" },
		{ "nat_traversal:\n  stun_servers: [a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9]\n", NULL,
		  "nat_traversal.stun_servers: at most 8 servers allowed, got 9 (file:" FILE_NAME ":2)" },
		{ "nat_traversal:\n  stun_servers: [\"stun.example\"]\n", NULL,
		  "nat_traversal.stun_servers: expected host:port, got \"stun.example\" (file:" FILE_NAME ":2)" },
		/* ports */
		{ "access:\n  ssh:\n    listen_port: 51820\n", NULL,
		  "access.ssh.listen_port: port 51820 clashes with mesh.listen_port (port 51820) (file:" FILE_NAME ":3)" },
		{ "mode: bridge\nmesh:\n  listen_port: 52050\n", NULL,
		  "bridge.relay.session_port_base: ports 52000-52099 clashes with mesh.listen_port (port 52050) (default)" },
		{ "mode: bridge\nbridge:\n  relay:\n    listen_port: 16443\naccess:\n  kubernetes:\n    enabled: true\n", NULL,
		  "bridge.relay.listen_port: port 16443 clashes with access.kubernetes.listen_port (port 16443) (file:" FILE_NAME ":4)" },
		{ "mode: bridge\nbridge:\n  relay:\n    session_port_base: 65500\n", NULL,
		  "bridge.relay.session_port_base: session ports 65500-65599 (bridge.relay.max_sessions 100) must end below 65536 (file:" FILE_NAME
		  ":4)" },
		/* strings */
		{ "api: http://cp.example\n", NULL,
		  "api: scheme http requires api_client.allow_insecure_http: true, got \"http://cp.example\" (file:" FILE_NAME ":1)" },
		{ "api: cp.example\n", NULL, "api: must be an absolute https:// URL, got \"cp.example\" (file:" FILE_NAME ":1)" },
		{ "api: https://cp.example/x?y=1\n", NULL,
		  "api: must not contain a query or fragment, got \"https://cp.example/x?y=1\" (file:" FILE_NAME ":1)" },
		{ "api: https://cp.example#frag\n", NULL,
		  "api: must not contain a query or fragment, got \"https://cp.example#frag\" (file:" FILE_NAME ":1)" },
		{ "api: https:///path\n", NULL, "api: must name a host, got \"https:///path\" (file:" FILE_NAME ":1)" },
		{ "api: https://cp.example:99999\n", NULL, "api: invalid port, got \"https://cp.example:99999\" (file:" FILE_NAME ":1)" },
		{ "data_dir: var/lib\n", NULL, "data_dir: must be an absolute path, got \"var/lib\" (file:" FILE_NAME ":1)" },
		{ "mesh:\n  interface: averyveryverylongname\n", NULL,
		  "mesh.interface: must be 1-15 characters of [A-Za-z0-9_.-], not . or .., got \"averyveryverylongname\" (file:" FILE_NAME ":2)" },
		{ "mesh:\n  interface: ..\n", NULL,
		  "mesh.interface: must be 1-15 characters of [A-Za-z0-9_.-], not . or .., got \"..\" (file:" FILE_NAME ":2)" },
		{ "mesh:\n  cidr: 10.0.0.0\n", NULL, "mesh.cidr: expected IPv4 CIDR (a.b.c.d/n), got \"10.0.0.0\" (file:" FILE_NAME ":2)" },
		{ "token:\n  env: lower\n", NULL,
		  "token.env: must be an environment variable name ([A-Z_][A-Z0-9_]*), got \"lower\" (file:" FILE_NAME ":2)" },
		{ "token:\n  metadata_path: x\n", NULL, "token.metadata_path: must start with /, got \"x\" (file:" FILE_NAME ":2)" },
		{ "logs:\n  sources: [journald, syslog]\n", NULL,
		  "logs.sources: each source must be journald or an absolute path, got \"syslog\" (file:" FILE_NAME ":2)" },
		{ "logs:\n  filters:\n    - unit: a\n      path: /b\n", NULL,
		  "logs.filters[0]: must have exactly one of unit, path, severity (file:" FILE_NAME ":3)" },
		{ "logs:\n  filters:\n    - severity: warn\n    - severity: error\n", NULL,
		  "logs.filters[1].severity: at most one severity filter allowed (file:" FILE_NAME ":4)" },
		{ "logs:\n  filters:\n    - level: warn\n", NULL, "logs.filters[0].level: unknown key (file:" FILE_NAME ":3)" },
		{ "observe:\n  disk_paths: []\n", NULL, "observe.disk_paths: must have 1-16 entries, got 0 (file:" FILE_NAME ":2)" },
		{ "access:\n  kubernetes:\n    api_server: https://k8s\n", NULL,
		  "access.kubernetes.api_server: must be https://host:port, got \"https://k8s\" (file:" FILE_NAME ":3)" },
		{ "kubernetes:\n  namespace: Bad_NS\n", NULL,
		  "kubernetes.namespace: must be a DNS-1123 label, got \"Bad_NS\" (file:" FILE_NAME ":2)" },
		{ "kubernetes:\n  enabled: maybe\n", NULL,
		  "kubernetes.enabled: expected one of auto, false, true, got \"maybe\" (file:" FILE_NAME ":2)" },
		{ "kubernetes:\n  secret_access: [default]\n", NULL,
		  "kubernetes.secret_access: each entry must be namespace:serviceaccount or namespace:*, got \"default\" (file:" FILE_NAME ":2)" },
		{ "registration:\n  metadata:\n    Rack: a1\n", NULL,
		  "registration.metadata.Rack: key must be 1-63 characters of [a-z0-9_.-] (file:" FILE_NAME ":3)" },
		{ "node_api:\n  http:\n    enabled: true\n    token_file: /nonexistent/token\n", NULL,
		  "node_api.http.token_file: must exist and be non-empty when node_api.http.enabled is true (/nonexistent/token) "
		  "(file:" FILE_NAME ":4)" },
		{ "api_client:\n  ca_file: /nonexistent/ca.pem\n", NULL,
		  "api_client.ca_file: cannot read /nonexistent/ca.pem: No such file or directory (file:" FILE_NAME ":2)" },
		/* bridge */
		{ "bridge:\n  relay:\n    enabled: false\n", NULL, "bridge.relay.enabled: requires mode: bridge (file:" FILE_NAME ":3)" },
		{ "", "PLEXD_BRIDGE_MASQUERADE=false", "bridge.masquerade: requires mode: bridge (env PLEXD_BRIDGE_MASQUERADE)" },
		{ "bridge:\n  access:\n    - type: netbird\n", NULL, "bridge.access: requires mode: bridge (file:" FILE_NAME ":2)" },
		{ "mode: bridge\nbridge:\n  access_subnets: [10.100.5.0/24]\n  access_interface: eth1\n", NULL,
		  "bridge.access_subnets: 10.100.5.0/24 overlaps mesh.cidr (10.100.0.0/16) (file:" FILE_NAME ":3)" },
		{ "mode: bridge\nbridge:\n  access_subnets: [192.168.0.0/24]\n", NULL,
		  "bridge.access_interface: required when bridge.access_subnets is not empty (default)" },
		{ "mode: bridge\nbridge:\n  ingress:\n    acme:\n      enabled: true\n", NULL,
		  "bridge.ingress.acme.email: required when bridge.ingress.acme.enabled is true (default)" },
		{ "mode: bridge\nbridge:\n  ingress:\n    acme:\n      email: nobody\n", NULL,
		  "bridge.ingress.acme.email: must contain @, got \"nobody\" (file:" FILE_NAME ":5)" },
		{ "mode: bridge\nbridge:\n  access:\n    - type: netbird\n      listen_port: 5000\n", NULL,
		  "bridge.access[0].listen_port: only valid for type wireguard (file:" FILE_NAME ":5)" },
		{ "mode: bridge\nbridge:\n  access:\n    - type: wireguard\n    - type: wireguard\n      listen_port: 5000\n", NULL,
		  "bridge.access[1].type: type wireguard given more than once (file:" FILE_NAME ":5)" },
		{ "mode: bridge\nbridge:\n  access:\n    - type: wireguard\n      listen_port: 51820\n", NULL,
		  "bridge.access[0].listen_port: port 51820 clashes with mesh.listen_port (port 51820) (file:" FILE_NAME ":5)" },
		{ "mode: bridge\nbridge:\n  site_to_site:\n    - name: dc1\n      type: openvpn\n      remote_subnets: [192.168.1.0/24]\n", NULL,
		  "bridge.site_to_site[0]: config_file is required for type openvpn (file:" FILE_NAME ":4)" },
		{ "mode: bridge\nbridge:\n  site_to_site:\n    - name: DC1\n      type: openvpn\n      config_file: /etc/x.ovpn\n"
		  "      remote_subnets: [192.168.1.0/24]\n",
		  NULL, "bridge.site_to_site[0].name: must match ^[a-z0-9][a-z0-9-]{0,31}$, got \"DC1\" (file:" FILE_NAME ":4)" },
		{ "mode: bridge\nbridge:\n  site_to_site:\n    - name: dc1\n      remote_endpoint: 1.2.3.4:51820\n"
		  "      remote_public_key: AAAA\n      remote_subnets: [192.168.1.0/24]\n",
		  NULL, "bridge.site_to_site[0].remote_public_key: must be base64 of 32 bytes (file:" FILE_NAME ":6)" },
		{ "mode: bridge\nbridge:\n  site_to_site:\n    - name: dc1\n      type: ipsec\n      config_file: /etc/s.conf\n"
		  "      remote_endpoint: 1.2.3.4:500\n      remote_subnets: [10.100.1.0/24]\n",
		  NULL, "bridge.site_to_site[0].remote_subnets: 10.100.1.0/24 overlaps mesh.cidr (10.100.0.0/16) (file:" FILE_NAME ":8)" },
		{ "mode: bridge\nbridge:\n  site_to_site:\n    - name: dc1\n      type: ipsec\n      config_file: /etc/s.conf\n"
		  "      remote_endpoint: 1.2.3.4:500\n      remote_subnets: [192.168.0.0/16, 192.168.4.0/24]\n",
		  NULL,
		  "bridge.site_to_site[0].remote_subnets[1]: 192.168.4.0/24 overlaps bridge.site_to_site[0].remote_subnets[0] (192.168.0.0/16) "
		  "(file:" FILE_NAME ":8)" },
		/* hooks (entry-level checks) */
		{ "hooks:\n  definitions:\n    - name: Bad\n      path: /etc/plexd/hooks.d/x\n", NULL,
		  "hooks.definitions[0].name: must match ^[a-z0-9][a-z0-9_-]{0,62}$, got \"Bad\" (file:" FILE_NAME ":3)" },
		{ "hooks:\n  definitions:\n    - name: a\n", NULL, "hooks.definitions[0]: path is required (file:" FILE_NAME ":3)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n    - name: a\n      path: /etc/plexd/hooks.d/b\n",
		  NULL, "hooks.definitions[1].name: duplicate hook name \"a\" (also hooks.definitions[0]) (file:" FILE_NAME ":5)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /usr/bin/id\n", NULL,
		  "hooks.definitions[0].path: must lie inside hooks.dir (/etc/plexd/hooks.d), got \"/usr/bin/id\" (file:" FILE_NAME ":4)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/../../../usr/bin/id\n", NULL,
		  "hooks.definitions[0].path: must lie inside hooks.dir (/etc/plexd/hooks.d), \"/etc/plexd/hooks.d/../../../usr/bin/id\" "
		  "resolves to /usr/bin/id (file:" FILE_NAME ":4)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      timeout: 11m\n", NULL,
		  "hooks.definitions[0].timeout: must be at most actions.max_timeout (10m), got 11m (file:" FILE_NAME ":5)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      user: no-such-user-plexd\n", NULL,
		  "hooks.definitions[0].user: no such local user \"no-such-user-plexd\" (file:" FILE_NAME ":5)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      sandbox_options:\n        image: alpine\n",
		  NULL, "hooks.definitions[0].sandbox_options.image: only valid with sandbox: container, got sandbox: none (file:" FILE_NAME
			":6)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      sandbox: container\n"
		  "      sandbox_options:\n        mount_proc: false\n",
		  NULL, "hooks.definitions[0].sandbox_options.mount_proc: only valid with sandbox: namespaced, got sandbox: container "
			"(file:" FILE_NAME ":7)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      sandbox: namespaced\n"
		  "      sandbox_options:\n        allowed_devices: [/dev/../etc/shadow]\n",
		  NULL, "hooks.definitions[0].sandbox_options.allowed_devices[0]: must be a path under /dev, got \"/dev/../etc/shadow\" "
			"(file:" FILE_NAME ":7)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      sandbox: container\n"
		  "      sandbox_options:\n        capabilities: [CAP_NET_ADMIN]\n",
		  NULL, "hooks.definitions[0].sandbox_options.capabilities[0]: unknown capability \"CAP_NET_ADMIN\" (use names like "
			"NET_ADMIN, without CAP_) (file:" FILE_NAME ":7)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      resources:\n        memory: 1M\n", NULL,
		  "hooks.definitions[0].resources.memory: must be at least 4M, got 1M (file:" FILE_NAME ":6)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      resources:\n        cpu: 0m\n", NULL,
		  "hooks.definitions[0].resources.cpu: must be greater than 0 and at most %d (4 x CPUs), got 0m (file:" FILE_NAME ":6)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      resources:\n        cpu: half\n", NULL,
		  "hooks.definitions[0].resources.cpu: expected CPU quantity (e.g. 0.5, 2, 500m), got \"half\" (file:" FILE_NAME ":6)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      parameters:\n        - name: 1x\n          type: int\n",
		  NULL, "hooks.definitions[0].parameters[0].name: must match ^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$, got \"1x\" (file:" FILE_NAME
			":6)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      parameters:\n        - name: x\n",
		  NULL, "hooks.definitions[0].parameters[0]: type is required (file:" FILE_NAME ":6)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      parameters:\n"
		  "        - {name: my.key, type: string}\n        - {name: my-key, type: string}\n",
		  NULL, "hooks.definitions[0].parameters[1].name: maps to PLEXD_PARAM_MY_KEY like parameter \"my.key\" (names must be unique) "
			"(file:" FILE_NAME ":7)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      parameters:\n"
		  "        - {name: n, type: int, default: ten}\n",
		  NULL, "hooks.definitions[0].parameters[0].default: must parse as int, got \"ten\" (file:" FILE_NAME ":6)" },
		{ "hooks:\n  definitions:\n    - name: a\n      path: /etc/plexd/hooks.d/a\n      parameters:\n"
		  "        - {name: n, type: bool, default: \"yes\"}\n",
		  NULL, "hooks.definitions[0].parameters[0].default: must parse as bool, got \"yes\" (file:" FILE_NAME ":6)" },
	};
	char cpu_line[256];

	snprintf(cpu_line, sizeof cpu_line,
		 "hooks.definitions[0].resources.cpu: must be greater than 0 and at most %ld (4 x CPUs), got 0m (file:" FILE_NAME ":6)",
		 sysconf(_SC_NPROCESSORS_ONLN) * 4);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char *env[] = { (char *)cases[i].env, NULL };
		char want[1024];
		const char *lines[] = { want, NULL };
		const char *l = cases[i].line;

		if (strstr(l, "%d (4 x CPUs)"))
			l = cpu_line;
		snprintf(want, sizeof want, "plexd: config: %s", l);
		expect_errors(cases[i].yaml, env, lines);
	}
}

/* Valid values near every boundary load cleanly (the mutated rows above must fail). */
static void test_valid_edges(void **state)
{
	const char *yaml = "api: http://127.0.0.1:8080/api\n"
			   "api_client:\n  allow_insecure_http: true\n  connect_timeout: 1m\n"
			   "mesh:\n  mtu: 1280\n  persistent_keepalive: 0\n  listen_port: 1\n"
			   "nat_traversal:\n  enabled: false\n  stun_servers: []\n"
			   "logs:\n  max_line_size: 1Mi\n  filters:\n    - unit: sshd.service\n    - path: /var/log/*.log\n"
			   "    - severity: warn\n"
			   "registration:\n  metadata:\n    rack: a1\n    zone.id: \"7\"\n"
			   "kubernetes:\n  enabled: true\n  namespace: plexd\n  secret_access: [\"default:*\", \"ops:runner.sa\"]\n"
			   "hooks:\n  definitions:\n"
			   "    - name: backup\n      path: /etc/plexd/hooks.d/backup.sh\n      timeout: 10m\n      sandbox: container\n"
			   "      resources: {cpu: \"0.5\", memory: 512M, pids: 64}\n"
			   "      sandbox_options:\n        image: docker.io/library/alpine:3.19\n        network: host\n"
			   "        capabilities: [NET_ADMIN]\n        writable_paths: [/var/backup]\n"
			   "      parameters:\n        - {name: target, type: string, required: true}\n"
			   "        - {name: verbose, type: bool, default: \"false\"}\n"
			   "    - name: ns\n      path: /etc/plexd/hooks.d/ns\n      sandbox: namespaced\n"
			   "      sandbox_options: {mount_proc: false, allowed_devices: [/dev/null]}\n";
	struct config *c = expect_ok(yaml, NULL);

	assert_string_equal(c->api, "http://127.0.0.1:8080/api");
	assert_int_equal(c->logs.max_line_size, 1048576);
	assert_int_equal(c->logs.n_filters, 3);
	assert_int_equal(c->logs.filters[0].kind, CONFIG_LOG_FILTER_UNIT);
	assert_string_equal(c->logs.filters[1].value, "/var/log/*.log");
	assert_int_equal(c->logs.filters[2].severity, CONFIG_LOG_LEVEL_WARN);
	assert_int_equal(c->registration.n_metadata, 2);
	assert_string_equal(c->registration.metadata[1].key, "zone.id");
	assert_string_equal(c->registration.metadata[1].value, "7");
	assert_int_equal(c->kubernetes.enabled, CONFIG_TRISTATE_TRUE);
	assert_int_equal(c->hooks.n_definitions, 2);
	assert_int_equal(c->hooks.definitions[0].timeout, 600 * S);
	assert_int_equal(c->hooks.definitions[0].resources.cpu_millicores, 500);
	assert_int_equal(c->hooks.definitions[0].resources.memory, 512ULL << 20);
	assert_int_equal(c->hooks.definitions[0].resources.pids, 64);
	assert_int_equal(c->hooks.definitions[0].sandbox_options.network, CONFIG_SANDBOX_NETWORK_HOST);
	assert_int_equal(c->hooks.definitions[0].n_parameters, 2);
	assert_true(c->hooks.definitions[0].parameters[0].required);
	assert_null(c->hooks.definitions[0].parameters[0].default_value);
	assert_string_equal(c->hooks.definitions[0].parameters[1].default_value, "false");
	assert_string_equal(c->hooks.definitions[0].user, "root");
	assert_int_equal(c->hooks.definitions[1].timeout, 30 * S); /* actions.default_timeout */
	assert_int_equal(c->hooks.definitions[1].resources.pids, 512);
	assert_false(c->hooks.definitions[1].sandbox_options.mount_proc);
	assert_string_equal(c->hooks.definitions[1].sandbox_options.writable_paths.v[0], "/tmp");
	config_free(c);
}

static void test_bridge_mode(void **state)
{
	const char *yaml = "mode: bridge\n"
			   "bridge:\n"
			   "  access_interface: eth1\n"
			   "  access_subnets: [192.168.10.0/24]\n"
			   "  access:\n"
			   "    - type: tailscale\n"
			   "    - type: wireguard\n"
			   "      listen_port: 51840\n"
			   "  ingress:\n"
			   "    enabled: true\n"
			   "    acme: {enabled: true, email: ops@example.com}\n"
			   "  site_to_site:\n"
			   "    - name: dc1\n"
			   "      remote_endpoint: vpn.example.com:51820\n"
			   "      remote_public_key: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
			   "      remote_subnets: [172.16.0.0/16]\n"
			   "    - name: dc2\n"
			   "      type: openvpn\n"
			   "      config_file: /etc/plexd/dc2.ovpn\n"
			   "      remote_subnets: [172.17.0.0/16]\n"
			   "      listen_port: 40000\n";
	struct config *c = expect_ok(yaml, NULL);

	assert_int_equal(c->mode, CONFIG_MODE_BRIDGE);
	assert_true(config_bridge_keys_set(c));
	assert_int_equal(c->bridge.n_access, 2);
	assert_string_equal(c->bridge.access[0].auth_key_env, "TS_AUTHKEY");
	assert_int_equal(c->bridge.access[1].listen_port, 51840);
	assert_int_equal(c->bridge.n_site_to_site, 2);
	assert_int_equal(c->bridge.site_to_site[0].listen_port, 51823);
	assert_int_equal(c->bridge.site_to_site[1].listen_port, 40000);
	assert_int_equal(c->bridge.site_to_site[0].local_subnets.n, 1);
	assert_string_equal(c->bridge.site_to_site[0].local_subnets.v[0], "10.100.0.0/16");
	config_free(c);

	/* the same bridge section with --mode node (flag) is rejected key by key */
	{
		struct config_diag d = {};
		assert_int_equal(load_flags(yaml, NULL, NULL, "node", NULL, &c, &d), -EINVAL);
		assert_int_equal(d.n, 7);
		assert_string_equal(d.lines[0], "plexd: config: bridge.access_interface: requires mode: bridge (file:" FILE_NAME ":3)");
		assert_string_equal(d.lines[6], "plexd: config: bridge.site_to_site: requires mode: bridge (file:" FILE_NAME ":12)");
		config_diag_done(&d);
	}
}

/* A file with several mistakes: one precise line each, in file order, then env, then cross-field. */
static void test_many_mistakes(void **state)
{
	const char *yaml = "api: https://cp.example.com\n"        /* 1 */
			   "mode: node\n"                          /* 2 */
			   "log_level: verbose\n"                  /* 3 */
			   "mesh:\n"                               /* 4 */
			   "  interfce: plexd1\n"                  /* 5 */
			   "  listen_port: 70000\n"                /* 6 */
			   "  persistent_keepalive: 10d\n"         /* 7 */
			   "policy:\n"                             /* 8 */
			   "  enabled: on\n"                       /* 9 */
			   "nat_traversal:\n"                      /* 10 */
			   "  refresh_interval: 10s\n"             /* 11 */
			   "  timeout: 15s\n"                      /* 12 */
			   "actions:\n"                            /* 13 */
			   "  max_concurrent: 100\n"               /* 14 */
			   "bridge:\n"                             /* 15 */
			   "  relay:\n"                            /* 16 */
			   "    enabled: true\n";                  /* 17 */
	char *env[] = { "PLEXD_OBSERVE_BATCH_MAX_SIZE=many", NULL };
	static const char *const lines[] = {
		"plexd: config: log_level: expected one of debug, info, warn, error, got \"verbose\" (file:" FILE_NAME ":3)",
		"plexd: config: mesh.interfce: unknown key (file:" FILE_NAME ":5)",
		"plexd: config: mesh.persistent_keepalive: expected duration (e.g. 500ms, 30s, 1h30m), got \"10d\" (file:" FILE_NAME
		":7)",
		"plexd: config: policy.enabled: expected true or false, got \"on\" (file:" FILE_NAME ":9)",
		"plexd: config: observe.batch_max_size: expected integer, got \"many\" (env PLEXD_OBSERVE_BATCH_MAX_SIZE)",
		"plexd: config: bridge.relay.enabled: requires mode: bridge (file:" FILE_NAME ":17)",
		"plexd: config: mesh.listen_port: must be between 1 and 65535, got 70000 (file:" FILE_NAME ":6)",
		"plexd: config: actions.max_concurrent: must be between 1 and 64, got 100 (file:" FILE_NAME ":14)",
		"plexd: config: nat_traversal.timeout: must be less than nat_traversal.refresh_interval (10s), got 15s (file:" FILE_NAME
		":12)",
		NULL,
	};
	expect_errors(yaml, env, lines);
}

static void test_yaml_syntax(void **state)
{
	static const struct {
		const char *yaml;
		const char *line;
	} cases[] = {
		{ "mesh:\n\tlisten_port: 5\n", FILE_NAME ":2:1: tab character used for indentation (YAML allows spaces only)" },
		{ "mesh:\n  mtu: 0\n  \tlisten_port: 5\n", FILE_NAME ":3:3: tab character used for indentation (YAML allows spaces only)" },
		{ "mesh:\n  listen_port: [1,\n", FILE_NAME ":3:1: while parsing a flow node, did not find expected node content" },
		{ "mesh: {a: 1\n", FILE_NAME ":2:1: while parsing a flow mapping, did not find expected ',' or '}'" },
		{ "a: *nope\n", FILE_NAME ":1:4: found undefined alias" },
		{ "mesh:\n  mtu: 0\n---\nmesh: {}\n", FILE_NAME ":3:1: expected a single YAML document" },
		{ "- a\n- b\n", FILE_NAME ":1:1: top level must be a mapping, got list" },
		{ "just text\n", FILE_NAME ":1:1: top level must be a mapping, got scalar" },
		{ "a: \"\xff\"\n", FILE_NAME ":1:5: invalid leading UTF-8 octet" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char want[512];
		const char *lines[] = { want, NULL };
		snprintf(want, sizeof want, "plexd: config: %s", cases[i].line);
		expect_errors(cases[i].yaml, NULL, lines);
	}
}

/* A key repeated after its first value was rejected is still a duplicate (fuzzer finding:
 * the parameter list used to be parsed twice). */
static void test_duplicate_after_error(void **state)
{
	static const char *const lines[] = {
		"plexd: config: hooks.definitions[0].parameters[0].type: expected one of string, bool, int, got \"bad\" (file:" FILE_NAME ":5)",
		"plexd: config: hooks.definitions[0].parameters: duplicate key, first set on line 4 (file:" FILE_NAME ":6)",
		"plexd: config: mesh.mtu: expected integer, got \"x\" (file:" FILE_NAME ":8)",
		"plexd: config: mesh.mtu: duplicate key, first set on line 8 (file:" FILE_NAME ":9)",
		NULL,
	};
	expect_errors("hooks:\n  definitions:\n    - {name: a, path: /etc/plexd/hooks.d/a,\n       parameters:\n"
		      "         [{name: t, type: bad}],\n       parameters: [{name: u, type: int}]}\n"
		      "mesh:\n  mtu: x\n  mtu: 1400\n",
		      NULL, lines);
}

static void test_anchors(void **state)
{
	const char *yaml = "defaults: &d\n  x: 1\n";
	static const char *const lines[] = { "plexd: config: defaults: unknown key (file:" FILE_NAME ":1)", NULL };
	struct config *c;

	expect_errors(yaml, NULL, lines);
	/* aliases of scalars and lists are fine */
	c = expect_ok("observe:\n  interval: &iv 20s\n  batch_interval: *iv\n"
		      "nat_traversal:\n  stun_servers: &s [a.example:1]\n"
		      "kubernetes:\n  crd_sync_interval: *iv\n",
		      NULL);
	assert_int_equal(c->observe.batch_interval, 20 * S);
	assert_int_equal(c->kubernetes.crd_sync_interval, 20 * S);
	config_free(c);
	/* a self-referencing alias cannot loop: the schema bounds the walk */
	{
		struct config_diag d = {};
		assert_int_equal(load("mesh: &m\n  mesh: *m\n", NULL, &c, &d), -EINVAL);
		assert_true(d.n >= 1);
		config_diag_done(&d);
	}
}

static char *write_tmp(const char *name, const char *content, mode_t mode)
{
	char *p;
	FILE *f;

	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

static void test_files(void **state)
{
	_cleanup_free_ char *path = write_tmp("config.yaml", "mesh:\n  listen_port: 40000\n", 0644);
	_cleanup_free_ char *missing = NULL;
	struct config_diag d = {};
	struct config *c = NULL;
	char line[512];

	assert_true(asprintf(&missing, "%s/missing.yaml", tmpdir) > 0);

	/* --config */
	{
		struct config_sources src = { .config_path = path, .config_path_explicit = true };
		assert_int_equal(config_load(&src, &c, &d), 0);
		assert_int_equal(c->mesh.listen_port, 40000);
		assert_string_equal(c->config_path, path);
		snprintf(line, sizeof line, "file:%s:2", path);
		assert_string_equal(config_key_source(c, "mesh.listen_port"), line);
		c = config_free(c);
	}
	/* PLEXD_CONFIG */
	{
		char *envv;
		assert_true(asprintf(&envv, "PLEXD_CONFIG=%s", path) > 0);
		char *env[] = { envv, NULL };
		struct config_sources src = { .environ = env };
		assert_int_equal(config_load(&src, &c, &d), 0);
		assert_int_equal(c->mesh.listen_port, 40000);
		c = config_free(c);
		free(envv);
	}
	/* explicit path missing: error */
	{
		struct config_sources src = { .config_path = missing, .config_path_explicit = true };
		assert_int_equal(config_load(&src, &c, &d), -ENOENT);
		assert_null(c);
		assert_int_equal(d.n, 1);
		snprintf(line, sizeof line, "plexd: config: %s: cannot read config file: No such file or directory", missing);
		assert_string_equal(d.lines[0], line);
		config_diag_done(&d);
	}
	/* default path missing: defaults */
	{
		struct config_sources src = { .config_path = missing, .config_path_explicit = false };
		assert_int_equal(config_load(&src, &c, &d), 0);
		assert_int_equal(c->mesh.listen_port, 51820);
		assert_null(c->config_path);
		c = config_free(c);
	}
	/* ownership and mode (plexd up) */
	assert_int_equal(config_check_file_owner(path, getuid(), &d), 0);
	assert_int_equal(d.n, 0);
	if (getuid() != 0) {
		assert_int_equal(config_check_file_owner(path, getuid() + 1, &d), -EPERM);
		assert_int_equal(d.n, 1);
		config_diag_done(&d);
	}
	assert_int_equal(chmod(path, 0664), 0);
	assert_int_equal(config_check_file_owner(path, getuid(), &d), -EPERM);
	snprintf(line, sizeof line, "plexd: config: %s: config file must not be writable by group or others (mode 0664)", path);
	assert_string_equal(d.lines[0], line);
	config_diag_done(&d);
	assert_int_equal(chmod(path, 0646), 0);
	assert_int_equal(config_check_file_owner(path, getuid(), &d), -EPERM);
	config_diag_done(&d);
	assert_int_equal(config_check_file_owner(missing, getuid(), &d), -ENOENT);
	config_diag_done(&d);
}

/* hooks.dir resolution: symlinks count when the files exist. */
static void test_hook_paths(void **state)
{
	_cleanup_free_ char *dir = NULL, *outside = NULL, *link = NULL, *yaml = NULL, *inside = NULL, *dirlink = NULL;
	struct config_diag d = {};
	struct config *c = NULL;
	char want[1024];

	assert_true(asprintf(&dir, "%s/hooks.d", tmpdir) > 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	inside = write_tmp("hooks.d/ok.sh", "#!/bin/sh\n", 0755);
	outside = write_tmp("evil.sh", "#!/bin/sh\n", 0755);
	assert_true(asprintf(&link, "%s/hooks.d/link.sh", tmpdir) > 0);
	assert_int_equal(symlink(outside, link), 0);
	assert_true(asprintf(&dirlink, "%s/hooks-link", tmpdir) > 0);
	assert_int_equal(symlink(dir, dirlink), 0);

	/* hooks.dir given through a symlink, path through the real directory: accepted */
	assert_true(asprintf(&yaml, "hooks:\n  dir: %s\n  definitions:\n    - name: ok\n      path: %s\n", dirlink, inside) > 0);
	c = expect_ok(yaml, NULL);
	config_free(c);
	free(yaml);

	/* a symlink inside the directory pointing outside: rejected */
	assert_true(asprintf(&yaml, "hooks:\n  dir: %s\n  definitions:\n    - name: ev\n      path: %s\n", dir, link) > 0);
	assert_int_equal(load(yaml, NULL, &c, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	snprintf(want, sizeof want,
		 "plexd: config: hooks.definitions[0].path: must lie inside hooks.dir (%s), \"%s\" resolves to %s (file:" FILE_NAME ":5)",
		 dir, link, outside);
	assert_string_equal(d.lines[0], want);
	config_diag_done(&d);
	free(yaml);

	/* hooks.dir from the environment applies to paths from the file */
	{
		char *envv;
		assert_true(asprintf(&envv, "PLEXD_HOOKS_DIR=%s", dir) > 0);
		char *env[] = { envv, NULL };
		assert_true(asprintf(&yaml, "hooks:\n  definitions:\n    - name: ok\n      path: %s\n", inside) > 0);
		c = expect_ok(yaml, env);
		config_free(c);
		free(envv);
	}
}

static void test_print(void **state)
{
	const char *yaml = "api: https://cp.example.com\n"
			   "hostname: node-1\n"
			   "mesh:\n"
			   "  listen_port: 51000\n"
			   "observe:\n"
			   "  metrics: [agent_stats, node_resources]\n"
			   "hooks:\n"
			   "  definitions:\n"
			   "    - name: hello\n"
			   "      path: /etc/plexd/hooks.d/hello\n";
	char *env[] = { "PLEXD_LOG_LEVEL=debug", NULL };
	struct config *c = expect_ok(yaml, env);
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	json_t *j;
	json_error_t je;

	f = open_memstream(&buf, &len);
	assert_int_equal(config_print(c, f, false), 0);
	fclose(f);
	assert_non_null(strstr(buf, "# config file: " FILE_NAME "\n"));
	assert_non_null(strstr(buf, "\napi = \"https://cp.example.com\"  # file:" FILE_NAME ":1\n"));
	assert_non_null(strstr(buf, "\nlog_level = \"debug\"  # env PLEXD_LOG_LEVEL\n"));
	assert_non_null(strstr(buf, "\nmesh.listen_port = 51000  # file:" FILE_NAME ":4\n"));
	assert_non_null(strstr(buf, "\nmesh.persistent_keepalive = \"25s\"  # default\n"));
	assert_non_null(strstr(buf, "\nobserve.metrics = [\"node_resources\",\"agent_stats\"]  # file:" FILE_NAME ":6\n"));
	assert_non_null(strstr(buf, "\napi_client.sse_idle_timeout = \"1m30s\"  # default\n"));
	assert_non_null(strstr(buf, "\nhooks.definitions = [{\"name\":\"hello\",\"path\":\"/etc/plexd/hooks.d/hello\","));
	assert_non_null(strstr(buf, "\"timeout\":\"30s\""));
	/* every non-section key has exactly one line */
	{
		size_t lines = 0;
		for (char *p = buf; *p; p++)
			lines += *p == '\n';
		size_t keys = 0;
		for (size_t i = 0; i < config_n_fields; i++)
			keys += config_fields[i].type != FT_SECTION;
		assert_int_equal(lines, keys + 1);
	}
	free(buf);

	f = open_memstream(&buf, &len);
	assert_int_equal(config_print(c, f, true), 0);
	fclose(f);
	j = json_loads(buf, 0, &je);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "mesh"), "listen_port")), 51000);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "policy"), "default")), "deny");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(json_object_get(json_object_get(j, "bridge"), "ingress"), "acme"),
						  "directory_url")),
		"https://acme-v02.api.letsencrypt.org/directory");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(j, "access"), "ssh"), "idle_timeout")),
			    "30m");
	json_decref(j);
	free(buf);
	config_free(c);
}

static void test_reload_diff(void **state)
{
	const char *a = "mesh:\n  listen_port: 51000\nheartbeat:\n  interval: 30s\nlog_level: info\n"
			"actions:\n  socket: /run/a.sock\n";
	const char *b = "mesh:\n  listen_port: 51001\nheartbeat:\n  interval: 45s\nlog_level: debug\n"
			"actions:\n  socket: /run/b.sock\n  max_timeout: 20m\n"
			"policy:\n  enabled: false\n  default: allow\n"
			"access:\n  ssh:\n    max_sessions: 3\n    allow_root: true\n"
			"hooks:\n  definitions:\n    - {name: x, path: /etc/plexd/hooks.d/x}\n";
	struct config *ca = expect_ok(a, NULL), *cb = expect_ok(b, NULL);
	char **keys = NULL;
	static const char *const want[] = { "mesh.listen_port", "policy.enabled", "access.ssh.allow_root", "actions.socket" };

	assert_int_equal(config_reload_diff(ca, cb, &keys), (int)ELEMENTSOF(want));
	for (size_t i = 0; i < ELEMENTSOF(want); i++)
		assert_string_equal(keys[i], want[i]);
	assert_null(keys[ELEMENTSOF(want)]);
	config_strv_free(keys);
	assert_true(config_hooks_changed(ca, cb));
	assert_false(config_hooks_changed(ca, ca));

	assert_int_equal(config_reload_diff(ca, ca, &keys), 0);
	assert_null(keys[0]);
	config_strv_free(keys);
	assert_int_equal(config_reload_diff(cb, ca, NULL), (int)ELEMENTSOF(want));
	config_free(ca);
	config_free(cb);
}

static void test_enum_strings(void **state)
{
	assert_string_equal(config_mode_to_string(CONFIG_MODE_BRIDGE), "bridge");
	assert_int_equal(config_mode_from_string("node"), CONFIG_MODE_NODE);
	assert_int_equal(config_mode_from_string("Node"), -EINVAL);
	assert_null(config_mode_to_string(_CONFIG_MODE_MAX));
	assert_string_equal(config_log_level_to_string(CONFIG_LOG_LEVEL_WARN), "warn");
	assert_string_equal(config_metadata_provider_to_string(CONFIG_METADATA_PROVIDER_DIGITALOCEAN), "digitalocean");
	assert_string_equal(config_s2s_type_to_string(CONFIG_S2S_OPENVPN), "openvpn");
	assert_int_equal(config_sandbox_from_string("namespaced"), CONFIG_SANDBOX_NAMESPACED);
	assert_int_equal(config_tristate_from_string("auto"), CONFIG_TRISTATE_AUTO);
	assert_int_equal(config_metric_from_string("peer_latency"), CONFIG_METRIC_PEER_LATENCY);
}

static void test_diag_print(void **state)
{
	struct config_diag d = {};
	struct config *c = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	char yaml[4096] = "";

	for (int i = 0; i < 25; i++)
		snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml), "bad%d: 1\n", i);
	assert_int_equal(load(yaml, NULL, &c, &d), -EINVAL);
	assert_int_equal(d.n, 25);
	f = open_memstream(&buf, &len);
	config_diag_print(&d, f);
	fclose(f);
	assert_non_null(strstr(buf, "plexd: config: bad19: unknown key (file:" FILE_NAME ":20)\n"
				    "plexd: config: 5 more problems not shown\n"));
	assert_null(strstr(buf, "bad20"));
	free(buf);
	config_diag_done(&d);
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_kubernetes_defaults),
		cmocka_unit_test(test_layers),
		cmocka_unit_test(test_list_replacement),
		cmocka_unit_test(test_env_mapping),
		cmocka_unit_test(test_env_names_unique),
		cmocka_unit_test(test_validation_families),
		cmocka_unit_test(test_valid_edges),
		cmocka_unit_test(test_bridge_mode),
		cmocka_unit_test(test_many_mistakes),
		cmocka_unit_test(test_yaml_syntax),
		cmocka_unit_test(test_anchors),
		cmocka_unit_test(test_duplicate_after_error),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_hook_paths),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_reload_diff),
		cmocka_unit_test(test_enum_strings),
		cmocka_unit_test(test_diag_print),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
