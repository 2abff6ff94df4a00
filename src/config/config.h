/* Effective configuration (agent.md §1): built-in defaults, YAML file, PLEXD_* environment and
 * command-line flags merged into one validated, typed struct; diagnostics; reload diff. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Units used throughout this header:
 *   dur  -> int64_t nanoseconds (as duration_parse_config() produces)
 *   size -> uint64_t bytes
 *   cpu  -> uint64_t millicores, 0 = unlimited
 *   list<str> -> struct config_strv
 *   list<enum> of a fixed set -> unsigned bitmask (1U << enum value)
 * Every string pointer is owned by the config and never NULL after config_load(); "" means
 * "not set" where the schema default is "" (e.g. api_client.ca_file). config->api is NULL when
 * no layer supplied it (see config_require_api()). */

#define CONFIG_DEFAULT_PATH "/etc/plexd/config.yaml"
#define CONFIG_DIAG_PRINT_MAX 20

struct config_strv {
	char **v;
	size_t n;
};

/* Each enum has <name>_to_string() (NULL for out-of-range) and <name>_from_string() (the value,
 * or -EINVAL). Strings are exactly the schema spellings. */
#define CONFIG_DECLARE_ENUM_STRINGS(name)                                                          \
	const char *name##_to_string(enum name v);                                                 \
	int name##_from_string(const char *s)

enum config_mode {
	CONFIG_MODE_NODE,
	CONFIG_MODE_BRIDGE,
	_CONFIG_MODE_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_mode);

enum config_log_level {
	CONFIG_LOG_LEVEL_DEBUG,
	CONFIG_LOG_LEVEL_INFO,
	CONFIG_LOG_LEVEL_WARN,
	CONFIG_LOG_LEVEL_ERROR,
	_CONFIG_LOG_LEVEL_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_log_level);

enum config_metadata_provider {
	CONFIG_METADATA_PROVIDER_AUTO,
	CONFIG_METADATA_PROVIDER_AWS,
	CONFIG_METADATA_PROVIDER_GCP,
	CONFIG_METADATA_PROVIDER_AZURE,
	CONFIG_METADATA_PROVIDER_OPENSTACK,
	CONFIG_METADATA_PROVIDER_DIGITALOCEAN,
	CONFIG_METADATA_PROVIDER_GENERIC,
	_CONFIG_METADATA_PROVIDER_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_metadata_provider);

enum config_wg_backend {
	CONFIG_WG_BACKEND_AUTO,
	CONFIG_WG_BACKEND_KERNEL,
	CONFIG_WG_BACKEND_USERSPACE,
	_CONFIG_WG_BACKEND_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_wg_backend);

enum config_policy_verdict {
	CONFIG_POLICY_VERDICT_DENY,
	CONFIG_POLICY_VERDICT_ALLOW,
	_CONFIG_POLICY_VERDICT_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_policy_verdict);

enum config_nat_fallback {
	CONFIG_NAT_FALLBACK_RELAY,
	CONFIG_NAT_FALLBACK_NONE,
	_CONFIG_NAT_FALLBACK_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_nat_fallback);

/* observe.metrics bitmask bits */
enum config_metric {
	CONFIG_METRIC_NODE_RESOURCES,
	CONFIG_METRIC_TUNNEL_HEALTH,
	CONFIG_METRIC_PEER_LATENCY,
	CONFIG_METRIC_AGENT_STATS,
	_CONFIG_METRIC_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_metric);

/* audit.sources bitmask bits */
enum config_audit_source {
	CONFIG_AUDIT_SOURCE_AUDITD,
	CONFIG_AUDIT_SOURCE_KUBERNETES,
	_CONFIG_AUDIT_SOURCE_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_audit_source);

enum config_log_filter_kind {
	CONFIG_LOG_FILTER_UNIT,
	CONFIG_LOG_FILTER_PATH,
	CONFIG_LOG_FILTER_SEVERITY,
	_CONFIG_LOG_FILTER_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_log_filter_kind);

enum config_hook_param_type {
	CONFIG_HOOK_PARAM_STRING,
	CONFIG_HOOK_PARAM_BOOL,
	CONFIG_HOOK_PARAM_INT,
	_CONFIG_HOOK_PARAM_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_hook_param_type);

enum config_sandbox {
	CONFIG_SANDBOX_NONE,
	CONFIG_SANDBOX_NAMESPACED,
	CONFIG_SANDBOX_CONTAINER,
	_CONFIG_SANDBOX_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_sandbox);

enum config_sandbox_network {
	CONFIG_SANDBOX_NETWORK_NONE,
	CONFIG_SANDBOX_NETWORK_HOST,
	_CONFIG_SANDBOX_NETWORK_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_sandbox_network);

/* kubernetes.enabled: "auto", "true" or "false" */
enum config_tristate {
	CONFIG_TRISTATE_AUTO,
	CONFIG_TRISTATE_FALSE,
	CONFIG_TRISTATE_TRUE,
	_CONFIG_TRISTATE_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_tristate);

enum config_access_type {
	CONFIG_ACCESS_TAILSCALE,
	CONFIG_ACCESS_NETBIRD,
	CONFIG_ACCESS_WIREGUARD,
	_CONFIG_ACCESS_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_access_type);

enum config_s2s_type {
	CONFIG_S2S_WIREGUARD,
	CONFIG_S2S_IPSEC,
	CONFIG_S2S_OPENVPN,
	_CONFIG_S2S_MAX,
};
CONFIG_DECLARE_ENUM_STRINGS(config_s2s_type);

struct config_kv {
	char *key;
	char *value;
};

/* logs.filters entry: exactly one of unit/path/severity. */
struct config_log_filter {
	enum config_log_filter_kind kind;
	char *value;                     /* unit name or path glob; "" for severity */
	enum config_log_level severity;  /* CONFIG_LOG_FILTER_SEVERITY only */
	unsigned line;                   /* file line of the entry (diagnostics) */
};

struct config_hook_param {
	char *name;
	enum config_hook_param_type type;
	bool required;
	char *default_value; /* NULL when no default was given */
	char *description;
};

struct config_hook {
	char *name;
	char *path; /* as written in the file (absolute) */
	char *description;
	struct config_hook_param *parameters;
	size_t n_parameters;
	int64_t timeout; /* defaults to actions.default_timeout */
	char *user;      /* "root" by default; exists (getpwnam) at load time */
	enum config_sandbox sandbox;
	struct {
		uint64_t cpu_millicores; /* 0 = unlimited */
		uint64_t memory;         /* bytes, 0 = unlimited */
		int pids;
	} resources;
	struct {
		struct config_strv writable_paths; /* ["/tmp"] */
		bool mount_proc;
		struct config_strv allowed_devices;
		char *image;
		enum config_sandbox_network network;
		struct config_strv capabilities; /* without CAP_ prefix, as written */
	} sandbox_options;
	/* private: source lines for diagnostics */
	unsigned line, path_line, timeout_line;
};

struct config_bridge_access {
	enum config_access_type type;
	char *auth_key_env;  /* tailscale: "TS_AUTHKEY" */
	char *setup_key_env; /* netbird: "NB_SETUP_KEY" */
	char *interface;     /* wireguard: "wg-access" */
	int listen_port;     /* wireguard: 51822 */
	int max_peers;       /* wireguard: 50 */
	unsigned line, listen_port_line;
};

struct config_site_to_site {
	char *name;
	enum config_s2s_type type;
	char *remote_endpoint; /* host:port or "" */
	struct config_strv remote_subnets;
	struct config_strv local_subnets; /* defaults to [mesh.cidr] */
	char *remote_public_key;          /* base64 of 32 bytes, wireguard only, else "" */
	char *psk_file;
	int listen_port; /* defaults to site_to_site_limits.base_listen_port + index */
	char *config_file;
	unsigned line, remote_subnets_line, listen_port_line;
	bool listen_port_set;
};

struct config_meta;

struct config {
	char *api; /* NULL when unset */
	enum config_mode mode;
	enum config_log_level log_level;
	char *data_dir;
	char *hostname; /* system hostname when unset */
	bool deregister_on_shutdown;

	struct {
		char *ca_file;
		bool insecure_skip_verify;
		bool allow_insecure_http;
		int64_t connect_timeout;
		int64_t request_timeout;
		int64_t sse_idle_timeout;
	} api_client;

	struct {
		struct config_kv *metadata;
		size_t n_metadata;
		int64_t max_retry;
	} registration;

	struct {
		char *file;
		char *env;
		bool metadata;
		enum config_metadata_provider metadata_provider;
		char *metadata_path;
		int64_t metadata_timeout;
	} token;

	struct {
		char *interface;
		int listen_port;
		int mtu;
		int64_t persistent_keepalive;
		char *cidr;
		enum config_wg_backend backend;
		char *userspace_binary;
	} mesh;

	struct {
		int64_t interval;
	} reconcile;

	struct {
		bool enabled;
		enum config_policy_verdict default_verdict; /* key "policy.default" */
		bool log_denied;
	} policy;

	struct {
		bool enabled;
		struct config_strv stun_servers;
		int64_t refresh_interval;
		int64_t timeout;
		enum config_nat_fallback fallback;
	} nat_traversal;

	struct {
		int64_t interval;
	} heartbeat;

	struct {
		bool enabled;
		int64_t interval;
		int64_t batch_interval;
		int batch_max_size;
		int buffer_size;
		unsigned metrics; /* 1U << enum config_metric */
		struct config_strv disk_paths;
	} observe;

	struct {
		bool enabled;
		struct config_strv sources;
		struct config_log_filter *filters;
		size_t n_filters;
		int64_t batch_interval;
		int batch_max_size;
		int buffer_size;
		uint64_t max_line_size;
	} logs;

	struct {
		bool enabled;
		unsigned sources; /* 1U << enum config_audit_source */
		char *kubernetes_log_path;
		int64_t batch_interval;
		int batch_max_size;
		int buffer_size;
	} audit;

	struct {
		struct {
			bool enabled;
			char *host_key_file; /* <data_dir>/ssh_host_key */
			int64_t idle_timeout;
			int max_sessions;
			int listen_port; /* 0 = ephemeral */
			bool allow_root;
		} ssh;
		struct {
			bool enabled;
			char *api_server;
			int listen_port;
			int64_t idle_timeout;
		} kubernetes;
	} access;

	struct {
		bool enabled;
		int max_concurrent;
		char *socket;
		int64_t default_timeout;
		int64_t max_timeout;
		struct {
			bool require_root;
		} local_auth;
	} actions;

	struct {
		bool enabled;
		char *dir;
		struct config_hook *definitions;
		size_t n_definitions;
	} hooks;

	struct {
		bool enabled;
		char *socket;
		int64_t debounce;
		struct {
			bool enabled;
			char *listen;
			char *token_file;
		} http;
	} node_api;

	struct {
		bool enabled;
		int64_t verify_interval;
		char *binary_path; /* "" = resolved path of the running executable */
	} integrity;

	struct {
		enum config_tristate enabled;
		char *namespace; /* "" = service-account namespace */
		int64_t crd_sync_interval;
		char *hook_service_account;
		int64_t hook_job_ttl;
		struct config_strv secret_access;
	} kubernetes;

	struct {
		char *access_interface;
		struct config_strv access_subnets;
		bool masquerade;
		struct config_bridge_access *access;
		size_t n_access;
		struct {
			bool enabled;
			char *listen;
			int max_rules;
			int64_t dial_timeout;
			struct {
				bool enabled;
				char *email;
				char *directory_url;
				char *cache_dir; /* <data_dir>/acme */
			} acme;
		} ingress;
		struct {
			bool enabled;
			int listen_port;
			int session_port_base;
			int max_sessions;
			int64_t session_ttl;
		} relay;
		struct config_site_to_site *site_to_site;
		size_t n_site_to_site;
		struct {
			char *interface_prefix;
			int base_listen_port;
			int max_tunnels;
		} site_to_site_limits;
	} bridge;

	/* Whether the process runs in Kubernetes (KUBERNETES_SERVICE_HOST in the environment);
	 * decides the environment-dependent defaults of access.* and audit.sources. */
	bool in_kubernetes;
	/* The file actually read, NULL if none (default path absent). */
	char *config_path;

	struct config_meta *meta; /* private: where each value came from */
};

/* What config_load() reads. */
struct config_sources {
	/* --config value, or NULL. When NULL, PLEXD_CONFIG from environ is used, else
	 * CONFIG_DEFAULT_PATH. A path from --config or PLEXD_CONFIG must exist. */
	const char *config_path;
	/* Tests/tools: set to false with a config_path to treat it like the default path
	 * (missing file is fine). Ignored when config_path is NULL. */
	bool config_path_explicit;
	const char *flag_api;       /* --api or NULL */
	const char *flag_mode;      /* --mode or NULL */
	const char *flag_log_level; /* --log-level or NULL */
	char **environ;             /* NULL-terminated KEY=value array; NULL = empty environment */
};

/* Collected problems. Lines are complete: "plexd: config: <key.path>: <problem> (<source>)" or
 * "plexd: config: <path>:<line>:<col>: <parser message>", without newline. */
struct config_diag {
	char **lines;
	size_t n;
	size_t allocated;
};

void config_diag_done(struct config_diag *d);
/* Prints up to CONFIG_DIAG_PRINT_MAX lines, one per line, plus a summary of how many were
 * left out. */
void config_diag_print(const struct config_diag *d, FILE *f);

/* Builds the effective configuration. Returns 0 and *ret on success; -EINVAL when the
 * configuration is invalid (every problem appended to diag); -ENOMEM, or another negative
 * errno (then also one diag line) for I/O problems reading the file. diag may be NULL. No side
 * effects beyond reading the file, getpwnam() and realpath() (hooks). */
int config_load(const struct config_sources *src, struct config **ret, struct config_diag *diag);
/* Same, but the YAML text comes from memory; name is used as the file path in messages.
 * PLEXD_CONFIG and src->config_path are ignored. */
int config_load_buffer(const char *data, size_t len, const char *name, const struct config_sources *src,
		       struct config **ret, struct config_diag *diag);

struct config *config_free(struct config *c);
static inline void config_freep(struct config **c)
{
	if (*c)
		config_free(*c);
}

/* Adds "api: required, not set in file, environment (PLEXD_API) or flags (--api) (default)"
 * and returns -EINVAL when api is unset; commands that contact the CP call this. */
int config_require_api(const struct config *c, struct config_diag *diag);

/* agent.md §1.1 rule 4, for `plexd up`: the file (symlinks followed) is owned by root or uid
 * and not writable by group or others. 0, or -EPERM with a diag line; -errno from stat. */
int config_check_file_owner(const char *path, uid_t uid, struct config_diag *diag);

/* True when any key under bridge.* was set explicitly (file or environment). */
bool config_bridge_keys_set(const struct config *c);

/* Source of a key's value, e.g. "default", "file:/etc/plexd/config.yaml:7", "env PLEXD_API",
 * "flag --api". key is a schema path ("mesh.listen_port"). NULL for unknown keys. */
const char *config_key_source(const struct config *c, const char *key);

/* `plexd config check`: the effective configuration. Text: one "key = value  # source" line per
 * key; json: one JSON object mirroring the schema. 0 or negative errno. */
int config_print(const struct config *c, FILE *f, bool json);

/* SIGHUP (§1.6): the keys whose value differs between old and new and that are not
 * hot-reloadable. Returns their number (>= 0) and, if ret_keys is non-NULL, a malloc'd
 * NULL-terminated array of malloc'd key paths (free with config_strv_free()). */
int config_reload_diff(const struct config *old, const struct config *new, char ***ret_keys);
/* True when anything under hooks.* differs (a hook reload is due, 5.12). */
bool config_hooks_changed(const struct config *old, const struct config *new);

char **config_strv_free(char **l);
