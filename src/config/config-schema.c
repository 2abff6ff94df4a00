/* The configuration schema of agent.md §1.4 as data: key paths, types, defaults, ranges and
 * the hot-reload subset (§1.6). Loading, printing and the reload diff all walk this table. */
#include <stddef.h>

#include "config/config-internal.h"
#include "shared/macro.h"

#define S 1000000000LL /* ns per second */
#define MS 1000000LL
#define MINUTE (60 * S)

/* Sizes in the same unit the table stores. */
#define KIB 1024LL
#define MIB (1024LL * 1024)

#define CF(path, t, member, ...)                                                                   \
	{ .name = path, .type = t, .offset = offsetof(struct config, member), __VA_ARGS__ }
#define SEC(path) { .name = path, .type = FT_SECTION }

#define ENUM_STRINGS(name, ...)                                                                    \
	static const char *const name##_names[] = { __VA_ARGS__, NULL };                          \
	const char *name##_to_string(enum name v)                                                  \
	{                                                                                          \
		if ((int)v < 0 || (size_t)v >= ELEMENTSOF(name##_names) - 1)                      \
			return NULL;                                                               \
		return name##_names[v];                                                            \
	}                                                                                          \
	int name##_from_string(const char *s)                                                      \
	{                                                                                          \
		if (!s)                                                                            \
			return -EINVAL;                                                            \
		for (size_t i = 0; name##_names[i]; i++)                                           \
			if (streq(name##_names[i], s))                                             \
				return (int)i;                                                     \
		return -EINVAL;                                                                    \
	}

ENUM_STRINGS(config_mode, "node", "bridge")
ENUM_STRINGS(config_log_level, "debug", "info", "warn", "error")
ENUM_STRINGS(config_metadata_provider, "auto", "aws", "gcp", "azure", "openstack", "digitalocean", "generic")
ENUM_STRINGS(config_wg_backend, "auto", "kernel", "userspace")
ENUM_STRINGS(config_policy_verdict, "deny", "allow")
ENUM_STRINGS(config_nat_fallback, "relay", "none")
ENUM_STRINGS(config_metric, "node_resources", "tunnel_health", "peer_latency", "agent_stats")
ENUM_STRINGS(config_audit_source, "auditd", "kubernetes")
ENUM_STRINGS(config_log_filter_kind, "unit", "path", "severity")
ENUM_STRINGS(config_hook_param_type, "string", "bool", "int")
ENUM_STRINGS(config_sandbox, "none", "namespaced", "container")
ENUM_STRINGS(config_sandbox_network, "none", "host")
ENUM_STRINGS(config_tristate, "auto", "false", "true")
ENUM_STRINGS(config_access_type, "tailscale", "netbird", "wireguard")
ENUM_STRINGS(config_s2s_type, "wireguard", "ipsec", "openvpn")

/* Enums are stored through int pointers by the generic parser. */
_Static_assert(sizeof(enum config_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_tristate) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_metadata_provider) == sizeof(int), "enum size");


#define R F_RELOAD

const struct field config_fields[] = {
	CF("api", FT_STR, api, .def = NULL),
	CF("mode", FT_ENUM, mode, .enums = config_mode_names, .def = "node"),
	CF("log_level", FT_ENUM, log_level, .enums = config_log_level_names, .def = "info", .flags = R),
	CF("data_dir", FT_STR, data_dir, .def = "/var/lib/plexd"),
	CF("hostname", FT_STR, hostname),
	CF("deregister_on_shutdown", FT_BOOL, deregister_on_shutdown, .def = "false", .flags = R),

	SEC("api_client"),
	CF("api_client.ca_file", FT_STR, api_client.ca_file),
	CF("api_client.insecure_skip_verify", FT_BOOL, api_client.insecure_skip_verify, .def = "false"),
	CF("api_client.allow_insecure_http", FT_BOOL, api_client.allow_insecure_http, .def = "false"),
	CF("api_client.connect_timeout", FT_DUR, api_client.connect_timeout, .def = "10s", .min = S, .max = 60 * S),
	CF("api_client.request_timeout", FT_DUR, api_client.request_timeout, .def = "30s", .min = S, .max = 300 * S),
	CF("api_client.sse_idle_timeout", FT_DUR, api_client.sse_idle_timeout, .def = "90s", .min = 10 * S,
	   .flags = F_NOMAX),

	SEC("registration"),
	{ .name = "registration.metadata", .type = FT_SPECIAL, .offset = offsetof(struct config, registration),
	  .parse = config_parse_metadata, .to_json = config_metadata_to_json },
	CF("registration.max_retry", FT_DUR, registration.max_retry, .def = "5m", .min = 10 * S, .flags = F_NOMAX),

	SEC("token"),
	CF("token.file", FT_STR, token.file, .def = "/etc/plexd/bootstrap-token"),
	CF("token.env", FT_STR, token.env, .def = "PLEXD_BOOTSTRAP_TOKEN"),
	CF("token.metadata", FT_BOOL, token.metadata, .def = "false"),
	CF("token.metadata_provider", FT_ENUM, token.metadata_provider, .enums = config_metadata_provider_names,
	   .def = "auto"),
	CF("token.metadata_path", FT_STR, token.metadata_path, .def = "/plexd/bootstrap-token"),
	CF("token.metadata_timeout", FT_DUR, token.metadata_timeout, .def = "2s", .min = 100 * MS, .max = 30 * S),

	SEC("mesh"),
	CF("mesh.interface", FT_STR, mesh.interface, .def = "plexd0"),
	CF("mesh.listen_port", FT_INT, mesh.listen_port, .def = "51820", .min = 1, .max = 65535),
	CF("mesh.mtu", FT_INT, mesh.mtu, .def = "0", .min = 1280, .max = 9000, .flags = F_ZERO),
	CF("mesh.persistent_keepalive", FT_DUR, mesh.persistent_keepalive, .def = "25s", .min = S, .max = 65535 * S,
	   .flags = F_ZERO | F_WHOLE_SEC),
	CF("mesh.cidr", FT_STR, mesh.cidr, .def = "10.100.0.0/16"),
	CF("mesh.backend", FT_ENUM, mesh.backend, .enums = config_wg_backend_names, .def = "auto"),
	CF("mesh.userspace_binary", FT_STR, mesh.userspace_binary, .def = "wireguard-go"),

	SEC("reconcile"),
	CF("reconcile.interval", FT_DUR, reconcile.interval, .def = "60s", .min = 5 * S, .flags = R | F_NOMAX),

	SEC("policy"),
	CF("policy.enabled", FT_BOOL, policy.enabled, .def = "true"),
	CF("policy.default", FT_ENUM, policy.default_verdict, .enums = config_policy_verdict_names, .def = "deny",
	   .flags = R),
	CF("policy.log_denied", FT_BOOL, policy.log_denied, .def = "true", .flags = R),

	SEC("nat_traversal"),
	CF("nat_traversal.enabled", FT_BOOL, nat_traversal.enabled, .def = "true", .flags = R),
	CF("nat_traversal.stun_servers", FT_STRV, nat_traversal.stun_servers,
	   .def = "stun.l.google.com:19302,stun.cloudflare.com:3478", .flags = R),
	CF("nat_traversal.refresh_interval", FT_DUR, nat_traversal.refresh_interval, .def = "60s", .min = 10 * S,
	   .flags = R | F_NOMAX),
	CF("nat_traversal.timeout", FT_DUR, nat_traversal.timeout, .def = "5s", .min = S, .max = 30 * S, .flags = R),
	CF("nat_traversal.fallback", FT_ENUM, nat_traversal.fallback, .enums = config_nat_fallback_names,
	   .def = "relay", .flags = R),

	SEC("heartbeat"),
	CF("heartbeat.interval", FT_DUR, heartbeat.interval, .def = "30s", .min = 5 * S, .max = 10 * MINUTE, .flags = R),

	SEC("observe"),
	CF("observe.enabled", FT_BOOL, observe.enabled, .def = "true", .flags = R),
	CF("observe.interval", FT_DUR, observe.interval, .def = "15s", .min = 5 * S, .flags = R | F_NOMAX),
	CF("observe.batch_interval", FT_DUR, observe.batch_interval, .def = "10s", .min = S, .flags = R | F_NOMAX),
	CF("observe.batch_max_size", FT_INT, observe.batch_max_size, .def = "500", .min = 1, .max = 10000, .flags = R),
	CF("observe.buffer_size", FT_INT, observe.buffer_size, .def = "5000", .min = 1, .flags = R | F_NOMAX),
	CF("observe.metrics", FT_ENUMSET, observe.metrics, .enums = config_metric_names,
	   .def = "node_resources,tunnel_health,peer_latency,agent_stats", .flags = R),
	CF("observe.disk_paths", FT_STRV, observe.disk_paths, .def = "/", .flags = R),

	SEC("logs"),
	CF("logs.enabled", FT_BOOL, logs.enabled, .def = "true", .flags = R),
	CF("logs.sources", FT_STRV, logs.sources, .def = "journald", .flags = R),
	{ .name = "logs.filters", .type = FT_SPECIAL, .offset = offsetof(struct config, logs), .flags = R,
	  .parse = config_parse_log_filters, .to_json = config_log_filters_to_json },
	CF("logs.batch_interval", FT_DUR, logs.batch_interval, .def = "10s", .min = S, .flags = R | F_NOMAX),
	CF("logs.batch_max_size", FT_INT, logs.batch_max_size, .def = "1000", .min = 1, .max = 10000, .flags = R),
	CF("logs.buffer_size", FT_INT, logs.buffer_size, .def = "10000", .min = 1, .flags = R | F_NOMAX),
	CF("logs.max_line_size", FT_SIZE, logs.max_line_size, .def = "16384", .min = KIB, .max = MIB, .flags = R),

	SEC("audit"),
	CF("audit.enabled", FT_BOOL, audit.enabled, .def = "true", .flags = R),
	CF("audit.sources", FT_ENUMSET, audit.sources, .enums = config_audit_source_names, .def = "auditd",
	   .flags = R),
	CF("audit.kubernetes_log_path", FT_STR, audit.kubernetes_log_path, .flags = R),
	CF("audit.batch_interval", FT_DUR, audit.batch_interval, .def = "10s", .min = S, .flags = R | F_NOMAX),
	CF("audit.batch_max_size", FT_INT, audit.batch_max_size, .def = "500", .min = 1, .max = 10000, .flags = R),
	CF("audit.buffer_size", FT_INT, audit.buffer_size, .def = "10000", .min = 1, .flags = R | F_NOMAX),

	SEC("access"),
	SEC("access.ssh"),
	CF("access.ssh.enabled", FT_BOOL, access.ssh.enabled, .def = "true"),
	CF("access.ssh.host_key_file", FT_STR, access.ssh.host_key_file),
	CF("access.ssh.idle_timeout", FT_DUR, access.ssh.idle_timeout, .def = "30m", .min = MINUTE, .flags = R | F_NOMAX),
	CF("access.ssh.max_sessions", FT_INT, access.ssh.max_sessions, .def = "10", .min = 1, .max = 100, .flags = R),
	CF("access.ssh.listen_port", FT_INT, access.ssh.listen_port, .def = "0", .min = 1, .max = 65535,
	   .flags = F_ZERO),
	CF("access.ssh.allow_root", FT_BOOL, access.ssh.allow_root, .def = "false"),
	SEC("access.kubernetes"),
	CF("access.kubernetes.enabled", FT_BOOL, access.kubernetes.enabled, .def = "false"),
	CF("access.kubernetes.api_server", FT_STR, access.kubernetes.api_server),
	CF("access.kubernetes.listen_port", FT_INT, access.kubernetes.listen_port, .def = "16443", .min = 1,
	   .max = 65535),
	CF("access.kubernetes.idle_timeout", FT_DUR, access.kubernetes.idle_timeout, .def = "15m", .min = MINUTE,
	   .flags = F_NOMAX),

	SEC("actions"),
	CF("actions.enabled", FT_BOOL, actions.enabled, .def = "true", .flags = R),
	CF("actions.max_concurrent", FT_INT, actions.max_concurrent, .def = "5", .min = 1, .max = 64, .flags = R),
	CF("actions.socket", FT_STR, actions.socket, .def = "/var/run/plexd.sock"),
	CF("actions.default_timeout", FT_DUR, actions.default_timeout, .def = "30s", .min = S, .flags = R | F_NOMAX),
	CF("actions.max_timeout", FT_DUR, actions.max_timeout, .def = "10m", .min = 10 * S, .flags = R | F_NOMAX),
	SEC("actions.local_auth"),
	CF("actions.local_auth.require_root", FT_BOOL, actions.local_auth.require_root, .def = "true", .flags = R),

	SEC("hooks"),
	CF("hooks.enabled", FT_BOOL, hooks.enabled, .def = "true", .flags = R),
	CF("hooks.dir", FT_STR, hooks.dir, .def = "/etc/plexd/hooks.d", .flags = R),
	{ .name = "hooks.definitions", .type = FT_SPECIAL, .offset = offsetof(struct config, hooks), .flags = R,
	  .parse = config_parse_hooks, .to_json = config_hooks_to_json },

	SEC("node_api"),
	CF("node_api.enabled", FT_BOOL, node_api.enabled, .def = "true"),
	CF("node_api.socket", FT_STR, node_api.socket, .def = "/var/run/plexd/api.sock"),
	CF("node_api.debounce", FT_DUR, node_api.debounce, .def = "5s", .min = 100 * MS, .max = 5 * MINUTE, .flags = R),
	SEC("node_api.http"),
	CF("node_api.http.enabled", FT_BOOL, node_api.http.enabled, .def = "false"),
	CF("node_api.http.listen", FT_STR, node_api.http.listen, .def = "127.0.0.1:9100"),
	CF("node_api.http.token_file", FT_STR, node_api.http.token_file, .def = "/etc/plexd/node-api-token"),

	SEC("integrity"),
	CF("integrity.enabled", FT_BOOL, integrity.enabled, .def = "true"),
	CF("integrity.verify_interval", FT_DUR, integrity.verify_interval, .def = "5m", .min = 30 * S,
	   .flags = R | F_NOMAX),
	CF("integrity.binary_path", FT_STR, integrity.binary_path),

	SEC("kubernetes"),
	CF("kubernetes.enabled", FT_ENUM, kubernetes.enabled, .enums = config_tristate_names, .def = "auto"),
	CF("kubernetes.namespace", FT_STR, kubernetes.namespace),
	CF("kubernetes.crd_sync_interval", FT_DUR, kubernetes.crd_sync_interval, .def = "10s", .min = S,
	   .flags = F_NOMAX),
	CF("kubernetes.hook_service_account", FT_STR, kubernetes.hook_service_account, .def = "plexd-hook-runner"),
	CF("kubernetes.hook_job_ttl", FT_DUR, kubernetes.hook_job_ttl, .def = "1h", .min = MINUTE, .flags = F_NOMAX),
	CF("kubernetes.secret_access", FT_STRV, kubernetes.secret_access),

	SEC("bridge"),
	CF("bridge.access_interface", FT_STR, bridge.access_interface),
	CF("bridge.access_subnets", FT_STRV, bridge.access_subnets),
	CF("bridge.masquerade", FT_BOOL, bridge.masquerade, .def = "true"),
	{ .name = "bridge.access", .type = FT_SPECIAL, .offset = offsetof(struct config, bridge),
	  .parse = config_parse_bridge_access, .to_json = config_bridge_access_to_json },
	SEC("bridge.ingress"),
	CF("bridge.ingress.enabled", FT_BOOL, bridge.ingress.enabled, .def = "false"),
	CF("bridge.ingress.listen", FT_STR, bridge.ingress.listen, .def = "0.0.0.0:443"),
	CF("bridge.ingress.max_rules", FT_INT, bridge.ingress.max_rules, .def = "20", .min = 1, .max = 1000),
	CF("bridge.ingress.dial_timeout", FT_DUR, bridge.ingress.dial_timeout, .def = "10s", .min = S, .flags = F_NOMAX),
	SEC("bridge.ingress.acme"),
	CF("bridge.ingress.acme.enabled", FT_BOOL, bridge.ingress.acme.enabled, .def = "false"),
	CF("bridge.ingress.acme.email", FT_STR, bridge.ingress.acme.email),
	CF("bridge.ingress.acme.directory_url", FT_STR, bridge.ingress.acme.directory_url,
	   .def = "https://acme-v02.api.letsencrypt.org/directory"),
	CF("bridge.ingress.acme.cache_dir", FT_STR, bridge.ingress.acme.cache_dir),
	SEC("bridge.relay"),
	CF("bridge.relay.enabled", FT_BOOL, bridge.relay.enabled, .def = "true"),
	CF("bridge.relay.listen_port", FT_INT, bridge.relay.listen_port, .def = "51821", .min = 1, .max = 65535),
	CF("bridge.relay.session_port_base", FT_INT, bridge.relay.session_port_base, .def = "52000", .min = 1024,
	   .max = 65535),
	CF("bridge.relay.max_sessions", FT_INT, bridge.relay.max_sessions, .def = "100", .min = 1, .max = 10000),
	CF("bridge.relay.session_ttl", FT_DUR, bridge.relay.session_ttl, .def = "5m", .min = 30 * S, .flags = F_NOMAX),
	{ .name = "bridge.site_to_site", .type = FT_SPECIAL, .offset = offsetof(struct config, bridge),
	  .parse = config_parse_site_to_site, .to_json = config_site_to_site_to_json },
	SEC("bridge.site_to_site_limits"),
	CF("bridge.site_to_site_limits.interface_prefix", FT_STR, bridge.site_to_site_limits.interface_prefix,
	   .def = "wg-s2s-"),
	CF("bridge.site_to_site_limits.base_listen_port", FT_INT, bridge.site_to_site_limits.base_listen_port,
	   .def = "51823", .min = 1, .max = 65535),
	CF("bridge.site_to_site_limits.max_tunnels", FT_INT, bridge.site_to_site_limits.max_tunnels, .def = "10",
	   .min = 1, .max = 100),
};

const size_t config_n_fields = ELEMENTSOF(config_fields);

/* Fields of list entries; offsets are relative to the entry struct. */
#define EF(st, path, t, member, ...)                                                               \
	{ .name = path, .type = t, .offset = offsetof(struct st, member), __VA_ARGS__ }

const struct field config_hook_fields[] = {
	EF(config_hook, "name", FT_STR, name),
	EF(config_hook, "path", FT_STR, path),
	EF(config_hook, "description", FT_STR, description),
	{ .name = "parameters", .type = FT_SPECIAL, .offset = 0, .parse = config_parse_hook_params },
	EF(config_hook, "timeout", FT_DUR, timeout),
	EF(config_hook, "user", FT_STR, user, .def = "root"),
	EF(config_hook, "sandbox", FT_ENUM, sandbox, .enums = config_sandbox_names, .def = "none"),
	SEC("resources"),
	EF(config_hook, "resources.cpu", FT_CPU, resources.cpu_millicores, .def = "0"),
	EF(config_hook, "resources.memory", FT_SIZE, resources.memory, .def = "0", .min = 4 * MIB, .flags = F_NOMAX),
	EF(config_hook, "resources.pids", FT_INT, resources.pids, .def = "512", .min = 1, .max = 65536),
	SEC("sandbox_options"),
	EF(config_hook, "sandbox_options.writable_paths", FT_STRV, sandbox_options.writable_paths, .def = "/tmp"),
	EF(config_hook, "sandbox_options.mount_proc", FT_BOOL, sandbox_options.mount_proc, .def = "true"),
	EF(config_hook, "sandbox_options.allowed_devices", FT_STRV, sandbox_options.allowed_devices),
	EF(config_hook, "sandbox_options.image", FT_STR, sandbox_options.image),
	EF(config_hook, "sandbox_options.network", FT_ENUM, sandbox_options.network,
	   .enums = config_sandbox_network_names, .def = "none"),
	EF(config_hook, "sandbox_options.capabilities", FT_STRV, sandbox_options.capabilities),
};
const size_t config_n_hook_fields = ELEMENTSOF(config_hook_fields);

const struct field config_hook_param_fields[] = {
	EF(config_hook_param, "name", FT_STR, name),
	EF(config_hook_param, "type", FT_ENUM, type, .enums = config_hook_param_type_names, .def = "string"),
	EF(config_hook_param, "required", FT_BOOL, required, .def = "false"),
	EF(config_hook_param, "default", FT_STR, default_value),
	EF(config_hook_param, "description", FT_STR, description),
};
const size_t config_n_hook_param_fields = ELEMENTSOF(config_hook_param_fields);

const struct field config_access_fields[] = {
	EF(config_bridge_access, "type", FT_ENUM, type, .enums = config_access_type_names, .def = "tailscale"),
	EF(config_bridge_access, "auth_key_env", FT_STR, auth_key_env, .def = "TS_AUTHKEY"),
	EF(config_bridge_access, "setup_key_env", FT_STR, setup_key_env, .def = "NB_SETUP_KEY"),
	EF(config_bridge_access, "interface", FT_STR, interface, .def = "wg-access"),
	EF(config_bridge_access, "listen_port", FT_INT, listen_port, .def = "51822", .min = 1, .max = 65535),
	EF(config_bridge_access, "max_peers", FT_INT, max_peers, .def = "50", .min = 1, .max = 10000),
};
const size_t config_n_access_fields = ELEMENTSOF(config_access_fields);

const struct field config_s2s_fields[] = {
	EF(config_site_to_site, "name", FT_STR, name),
	EF(config_site_to_site, "type", FT_ENUM, type, .enums = config_s2s_type_names, .def = "wireguard"),
	EF(config_site_to_site, "remote_endpoint", FT_STR, remote_endpoint),
	EF(config_site_to_site, "remote_subnets", FT_STRV, remote_subnets),
	EF(config_site_to_site, "local_subnets", FT_STRV, local_subnets),
	EF(config_site_to_site, "remote_public_key", FT_STR, remote_public_key),
	EF(config_site_to_site, "psk_file", FT_STR, psk_file),
	EF(config_site_to_site, "listen_port", FT_INT, listen_port, .def = "0", .min = 1, .max = 65535),
	EF(config_site_to_site, "config_file", FT_STR, config_file),
};
const size_t config_n_s2s_fields = ELEMENTSOF(config_s2s_fields);
