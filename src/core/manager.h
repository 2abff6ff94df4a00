/* The Manager: owns the sd-event loop, the validated configuration and the ordered table of
 * subsystems; runs the daemon lifecycle (agent.md §4.1 start, §4.6 stop, §1.6 SIGHUP reload). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "shared/macro.h"
#include "shared/time-util.h"

struct config;
struct config_sources;
struct manager;

/* One entry of the subsystem table. The manager creates every subsystem in table order
 * (new), then starts them in table order; it stops them in reverse order and frees them in
 * reverse order. new() of a later subsystem may look up an earlier one with
 * manager_get_subsystem(). Callbacks return >= 0 or a negative errno. */
struct subsystem_ops {
	const char *name;
	int (*new)(struct manager *m, void **ret);
	int (*start)(void *s);
	/* Synchronous; releases what start acquired. Runs only for subsystems whose start
	 * succeeded, so start must clean up after itself when it fails. */
	void (*stop)(void *s);
	void *(*free)(void *s);
	/* Optional (§1.6): the configuration was reloaded; apply the hot-reloadable keys that
	 * concern this subsystem. old is freed after all reload callbacks ran. A failure is
	 * logged and does not undo the reload. */
	int (*reload)(void *s, const struct config *old, const struct config *new);
	/* Optional (§4.6 step 1-2): stop intake and start draining. Return 0 when nothing is
	 * pending, 1 when the subsystem will call manager_drained() once done. */
	int (*drain)(void *s);
	/* Optional: add this subsystem's block(s) to the GET /v1/status object. */
	int (*status)(void *s, json_t *status);
};

enum subsystem_state {
	SUBSYSTEM_STATE_NONE,	 /* not created */
	SUBSYSTEM_STATE_CREATED, /* new() done */
	SUBSYSTEM_STATE_RUNNING, /* start() done */
	SUBSYSTEM_STATE_FAILED,	 /* start() failed */
	SUBSYSTEM_STATE_STOPPED,
	_SUBSYSTEM_STATE_MAX,
};
const char *subsystem_state_to_string(enum subsystem_state s);

/* The daemon's table, in start order. */
extern const struct subsystem_ops *const manager_default_subsystems[];
extern const size_t manager_n_default_subsystems;

struct manager_params {
	/* The effective configuration; the manager takes ownership (also on failure). */
	struct config *config;
	/* What to re-read on reload: config path (NULL = the default rules), whether it was
	 * explicit, the flag overrides and the environment. Copied. */
	const struct config_sources *sources;
	/* NULL: manager_default_subsystems. */
	const struct subsystem_ops *const *subsystems;
	size_t n_subsystems;
	/* Drain budget on the first SIGTERM/SIGINT (§4.6: 30 s); 0 → 30 s. */
	usec_t drain_timeout;
};

int manager_new(const struct manager_params *p, struct manager **ret);
struct manager *manager_free(struct manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct manager *, manager_free)

/* Creates then starts all subsystems. On failure everything already started is stopped in
 * reverse order, everything created is freed, and the error is returned. */
int manager_start(struct manager *m);
/* Stops all running subsystems in reverse order (idempotent). */
void manager_stop(struct manager *m);
/* The daemon: installs SIGTERM/SIGINT/SIGHUP handlers, starts, notifies READY=1 (systemd),
 * runs the loop until a stop, stops. 0 after a clean stop, negative errno on a start failure
 * or a fatal runtime error (manager_exit). */
int manager_run(struct manager *m);

/* Begins the stop sequence: first call drains (bounded by drain_timeout), a second call (or
 * fast) skips what is left of the drain. */
void manager_request_stop(struct manager *m, bool fast);
/* Fatal runtime error: stop and make manager_run return error. */
void manager_exit(struct manager *m, int error);
/* A subsystem that returned 1 from drain() reports that it is done. */
void manager_drained(struct manager *m);
bool manager_is_stopping(const struct manager *m);

/* SIGHUP: re-read file + environment, validate. Invalid → every problem logged at error, the
 * running configuration stays, -EINVAL. Valid → the manager's configuration is replaced,
 * log_level applied, each subsystem's reload() called, and every changed key outside the
 * hot-reloadable set of §1.6 logged as "restart required" (those values are in the new
 * config object but not in effect: subsystems copy what they cannot change at start).
 * If ret_restart_keys is non-NULL it receives the restart-required keys (config_strv_free). */
int manager_reload(struct manager *m, char ***ret_restart_keys);

sd_event *manager_get_event(const struct manager *m);
const struct config *manager_get_config(const struct manager *m);
void *manager_get_subsystem(const struct manager *m, const char *name);
enum subsystem_state manager_get_subsystem_state(const struct manager *m, const char *name);
usec_t manager_get_uptime(const struct manager *m);

/* The GET /v1/status object: version, commit, pid, uptime, started_at, mode, config_path,
 * data_dir, state (running|stopping), subsystems [{name, state}], plus every subsystem's
 * status() block. Blocks the CLI knows: node {node_id, mesh_ip}, control {state,
 * last_heartbeat, sse_reconnects}, nat {endpoint, type}, mesh {interface, port,
 * peers_configured, peers_desired, peers_active}, policies {policies, rules, firewall}, state
 * {metadata, data, secrets, reports, pending_sync}, integrity {binary, status}, bridge
 * {relay_sessions, user_access_peers, ingress_rules, s2s_tunnels}. */
int manager_status_json(struct manager *m, json_t **ret);
