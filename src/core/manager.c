/* The Manager: subsystem table lifecycle, signals (stop, drain, reload), sd_notify and the
 * status summary. */
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define LOG_COMPONENT "manager"
#include "shared/log.h"

#include "config/config.h"
#include "core/agent.h"
#include "core/control.h"
#include "core/manager.h"
#include "version.h"

#define DEFAULT_DRAIN_TIMEOUT (30 * USEC_PER_SEC)

const struct subsystem_ops *const manager_default_subsystems[] = {
    &control_subsystem_ops,
    &agent_subsystem_ops,
};
const size_t manager_n_default_subsystems = ELEMENTSOF(manager_default_subsystems);

struct subsystem {
	const struct subsystem_ops *ops;
	void *obj;
	enum subsystem_state state;
	bool draining;
};

struct manager {
	sd_event *event;
	struct config *config;

	/* reload sources */
	char *config_path;
	bool config_path_explicit;
	char *flag_api, *flag_mode, *flag_log_level;
	char **environ;

	struct subsystem *subsystems;
	size_t n_subsystems;

	usec_t started_mono;
	struct timestamp started_at;
	usec_t drain_timeout;

	sd_event_source *sigterm, *sigint, *sighup, *drain_timer;
	bool stopping;
	unsigned n_draining;
	int exit_error;
};

static const char *const subsystem_state_table[_SUBSYSTEM_STATE_MAX] = {
    [SUBSYSTEM_STATE_NONE] = "none",	   [SUBSYSTEM_STATE_CREATED] = "created",
    [SUBSYSTEM_STATE_RUNNING] = "running", [SUBSYSTEM_STATE_FAILED] = "failed",
    [SUBSYSTEM_STATE_STOPPED] = "stopped",
};

const char *subsystem_state_to_string(enum subsystem_state s)
{
	if ((unsigned)s >= ELEMENTSOF(subsystem_state_table))
		return NULL;
	return subsystem_state_table[s];
}

static int strdup_or_null(const char *s, char **ret)
{
	if (!s) {
		*ret = NULL;
		return 0;
	}
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

int manager_new(const struct manager_params *p, struct manager **ret)
{
	_cleanup_(manager_freep) struct manager *m = NULL;
	const struct subsystem_ops *const *table = p->subsystems ?: manager_default_subsystems;
	size_t n = p->subsystems ? p->n_subsystems : manager_n_default_subsystems;
	int r;

	m = calloc(1, sizeof *m);
	if (!m) {
		config_free(p->config);
		return -ENOMEM;
	}
	m->config = p->config;
	m->exit_error = 0;
	m->drain_timeout = p->drain_timeout ?: DEFAULT_DRAIN_TIMEOUT;
	if (!m->config)
		return -EINVAL;
	if (p->sources) {
		if (strdup_or_null(p->sources->config_path, &m->config_path) < 0 ||
		    strdup_or_null(p->sources->flag_api, &m->flag_api) < 0 ||
		    strdup_or_null(p->sources->flag_mode, &m->flag_mode) < 0 ||
		    strdup_or_null(p->sources->flag_log_level, &m->flag_log_level) < 0)
			return -ENOMEM;
		m->config_path_explicit = p->sources->config_path_explicit;
		m->environ = p->sources->environ;
	}
	m->subsystems = calloc(MAX(n, (size_t)1), sizeof *m->subsystems);
	if (!m->subsystems)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		m->subsystems[i].ops = table[i];
	m->n_subsystems = n;

	r = sd_event_new(&m->event);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(m);
	return 0;
}

static void manager_free_subsystems(struct manager *m)
{
	for (size_t i = m->n_subsystems; i-- > 0;) {
		struct subsystem *s = &m->subsystems[i];
		if (s->state == SUBSYSTEM_STATE_NONE)
			continue;
		if (s->ops->free)
			s->ops->free(s->obj);
		s->obj = NULL;
		s->state = SUBSYSTEM_STATE_NONE;
	}
}

struct manager *manager_free(struct manager *m)
{
	if (!m)
		return NULL;
	manager_stop(m);
	manager_free_subsystems(m);
	free(m->subsystems);
	m->sigterm = sd_event_source_disable_unref(m->sigterm);
	m->sigint = sd_event_source_disable_unref(m->sigint);
	m->sighup = sd_event_source_disable_unref(m->sighup);
	m->drain_timer = sd_event_source_disable_unref(m->drain_timer);
	sd_event_unref(m->event);
	config_free(m->config);
	free(m->config_path);
	free(m->flag_api);
	free(m->flag_mode);
	free(m->flag_log_level);
	free(m);
	return NULL;
}

int manager_start(struct manager *m)
{
	int r;

	m->started_mono = now_usec(CLOCK_MONOTONIC);
	m->started_at = timestamp_now();

	for (size_t i = 0; i < m->n_subsystems; i++) {
		struct subsystem *s = &m->subsystems[i];
		r = s->ops->new (m, &s->obj);
		if (r < 0) {
			log_error_errno(r, "cannot create subsystem", "subsystem=%s err=%m",
					s->ops->name);
			manager_free_subsystems(m);
			return r;
		}
		s->state = SUBSYSTEM_STATE_CREATED;
	}
	for (size_t i = 0; i < m->n_subsystems; i++) {
		struct subsystem *s = &m->subsystems[i];
		r = s->ops->start ? s->ops->start(s->obj) : 0;
		if (r < 0) {
			s->state = SUBSYSTEM_STATE_FAILED;
			log_error_errno(r, "cannot start subsystem", "subsystem=%s err=%m",
					s->ops->name);
			manager_stop(m);
			manager_free_subsystems(m);
			return r;
		}
		s->state = SUBSYSTEM_STATE_RUNNING;
		log_info("subsystem started", "subsystem=%s", s->ops->name);
	}
	return 0;
}

void manager_stop(struct manager *m)
{
	for (size_t i = m->n_subsystems; i-- > 0;) {
		struct subsystem *s = &m->subsystems[i];
		if (s->state != SUBSYSTEM_STATE_RUNNING)
			continue;
		if (s->ops->stop)
			s->ops->stop(s->obj);
		s->state = SUBSYSTEM_STATE_STOPPED;
		log_debug("subsystem stopped", "subsystem=%s", s->ops->name);
	}
}

static void manager_leave_loop(struct manager *m)
{
	m->drain_timer = sd_event_source_disable_unref(m->drain_timer);
	(void)sd_event_exit(m->event, m->exit_error);
}

static int on_drain_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	log_warning("drain timeout reached, stopping anyway", "pending=%u", m->n_draining);
	manager_leave_loop(m);
	return 0;
}

void manager_request_stop(struct manager *m, bool fast)
{
	int r;

	if (m->stopping) {
		if (m->n_draining > 0 || m->drain_timer)
			log_notice("second stop request, skipping the remaining drain");
		manager_leave_loop(m);
		return;
	}
	m->stopping = true;
	(void)sd_notify(false, "STOPPING=1");
	log_info("stopping");
	if (fast) {
		manager_leave_loop(m);
		return;
	}
	m->n_draining = 0;
	for (size_t i = m->n_subsystems; i-- > 0;) {
		struct subsystem *s = &m->subsystems[i];
		if (s->state != SUBSYSTEM_STATE_RUNNING || !s->ops->drain)
			continue;
		r = s->ops->drain(s->obj);
		if (r < 0)
			log_warning_errno(r, "drain failed, ignoring", "subsystem=%s err=%m",
					  s->ops->name);
		else if (r > 0) {
			s->draining = true;
			m->n_draining++;
		}
	}
	if (m->n_draining == 0) {
		manager_leave_loop(m);
		return;
	}
	log_info("draining", "pending=%u timeout_s=%llu", m->n_draining,
		 (unsigned long long)(m->drain_timeout / USEC_PER_SEC));
	r = sd_event_add_time_relative(m->event, &m->drain_timer, CLOCK_MONOTONIC, m->drain_timeout,
				       0, on_drain_timeout, m);
	if (r < 0)
		manager_leave_loop(m);
}

void manager_drained(struct manager *m)
{
	if (m->n_draining == 0)
		return;
	if (--m->n_draining == 0 && m->stopping)
		manager_leave_loop(m);
}

void manager_exit(struct manager *m, int error)
{
	m->exit_error = error < 0 ? error : -EIO;
	if (!m->stopping) {
		m->stopping = true;
		(void)sd_notify(false, "STOPPING=1");
	}
	manager_leave_loop(m);
}

bool manager_is_stopping(const struct manager *m)
{
	return m->stopping;
}

static int on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;

	log_info("signal received", "signal=%s", si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	manager_request_stop(m, false);
	return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;

	log_info("signal received, reloading configuration", "signal=SIGHUP");
	(void)manager_reload(m, NULL);
	return 0;
}

static void log_changed_config(const struct config *c)
{
	log_info("configuration reloaded", "log_level=%s config=%s",
		 config_log_level_to_string(c->log_level), c->config_path ?: "none");
}

int manager_reload(struct manager *m, char ***ret_restart_keys)
{
	struct config_sources src = {
	    .config_path = m->config_path,
	    .config_path_explicit = m->config_path_explicit,
	    .flag_api = m->flag_api,
	    .flag_mode = m->flag_mode,
	    .flag_log_level = m->flag_log_level,
	    .environ = m->environ,
	};
	struct config_diag diag = {};
	struct config *new = NULL, *old;
	char **keys = NULL;
	int r, n, level;

	(void)sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu",
			 (unsigned long long)now_usec(CLOCK_MONOTONIC));
	r = config_load(&src, &new, &diag);
	if (r < 0) {
		for (size_t i = 0; i < diag.n; i++)
			log_error(
			    "configuration reload rejected, keeping the running configuration",
			    "problem=\"%s\"", diag.lines[i]);
		if (diag.n == 0)
			log_error_errno(
			    r, "configuration reload failed, keeping the running configuration",
			    "err=%m");
		config_diag_done(&diag);
		(void)sd_notify(false, "READY=1");
		return r;
	}
	config_diag_done(&diag);

	n = config_reload_diff(m->config, new, &keys);
	if (n < 0) {
		config_free(new);
		(void)sd_notify(false, "READY=1");
		return log_error_errno(n, "cannot compare configurations", "err=%m");
	}
	for (int i = 0; i < n; i++)
		log_warning("restart required to apply changed key, not applied", "key=%s",
			    keys[i]);

	old = m->config;
	m->config = new;
	level = log_level_from_string(config_log_level_to_string(new->log_level));
	if (level >= 0)
		log_set_max_level(level);
	for (size_t i = 0; i < m->n_subsystems; i++) {
		struct subsystem *s = &m->subsystems[i];
		if (s->state != SUBSYSTEM_STATE_RUNNING || !s->ops->reload)
			continue;
		r = s->ops->reload(s->obj, old, new);
		if (r < 0)
			log_error_errno(r, "subsystem reload failed", "subsystem=%s err=%m",
					s->ops->name);
	}
	config_free(old);
	log_changed_config(new);
	(void)sd_notify(false, "READY=1");
	if (ret_restart_keys)
		*ret_restart_keys = keys;
	else
		config_strv_free(keys);
	return 0;
}

int manager_run(struct manager *m)
{
	sigset_t ss;
	int r;

	/* sd-event delivers these through a signalfd, which needs them blocked. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
		return log_error_errno(negative_errno(), "cannot block signals", "err=%m");
	/* Peers closing sockets must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);

	if ((r = sd_event_add_signal(m->event, &m->sigterm, SIGTERM, on_stop_signal, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, &m->sigint, SIGINT, on_stop_signal, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, &m->sighup, SIGHUP, on_sighup, m)) < 0)
		return log_error_errno(r, "cannot watch signals", "err=%m");
	/* Only active when systemd set WATCHDOG_USEC for us. */
	r = sd_event_set_watchdog(m->event, true);
	if (r < 0)
		log_warning_errno(r, "cannot enable the watchdog, ignoring", "err=%m");

	r = manager_start(m);
	if (r < 0)
		return r;

	log_info("plexd running", "version=%s pid=%d subsystems=%zu", PLEXD_VERSION, (int)getpid(),
		 m->n_subsystems);
	(void)sd_notifyf(false, "READY=1\nSTATUS=running\nMAINPID=%d", (int)getpid());

	r = sd_event_loop(m->event);
	manager_stop(m);
	if (r < 0) {
		log_error_errno(r, "event loop failed", "err=%m");
		return r;
	}
	if (m->exit_error < 0)
		return m->exit_error;
	log_info("stopped");
	return 0;
}

sd_event *manager_get_event(const struct manager *m)
{
	return m->event;
}

const struct config *manager_get_config(const struct manager *m)
{
	return m->config;
}

static const struct subsystem *find_subsystem(const struct manager *m, const char *name)
{
	for (size_t i = 0; i < m->n_subsystems; i++)
		if (streq(m->subsystems[i].ops->name, name))
			return &m->subsystems[i];
	return NULL;
}

void *manager_get_subsystem(const struct manager *m, const char *name)
{
	const struct subsystem *s = find_subsystem(m, name);
	return s && s->state != SUBSYSTEM_STATE_NONE ? s->obj : NULL;
}

enum subsystem_state manager_get_subsystem_state(const struct manager *m, const char *name)
{
	const struct subsystem *s = find_subsystem(m, name);
	return s ? s->state : SUBSYSTEM_STATE_NONE;
}

usec_t manager_get_uptime(const struct manager *m)
{
	if (m->started_mono == 0)
		return 0;
	return now_usec(CLOCK_MONOTONIC) - m->started_mono;
}

int manager_status_json(struct manager *m, json_t **ret)
{
	json_t *status = NULL, *subs;
	char uptime[64], started[RFC3339_MAX];
	usec_t up = manager_get_uptime(m);
	int r;

	r = duration_format((int64_t)(up / USEC_PER_SEC) * NSEC_PER_SEC, uptime, sizeof uptime);
	if (r < 0)
		return r;
	r = rfc3339_format(m->started_at, 0, started);
	if (r < 0)
		return r;
	subs = json_array();
	status = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:s?, s:s, s:s, s:o}", "version",
			   PLEXD_VERSION, "commit", PLEXD_COMMIT, "pid", (json_int_t)getpid(),
			   "uptime", uptime, "uptime_sec", (json_int_t)(up / USEC_PER_SEC),
			   "started_at", started, "mode", config_mode_to_string(m->config->mode),
			   "config_path", m->config->config_path, "data_dir", m->config->data_dir,
			   "state", m->stopping ? "stopping" : "running", "subsystems", subs);
	if (!status)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_subsystems; i++) {
		struct subsystem *s = &m->subsystems[i];
		if (json_array_append_new(subs,
					  json_pack("{s:s, s:s}", "name", s->ops->name, "state",
						    subsystem_state_to_string(s->state))) < 0) {
			json_decref(status);
			return -ENOMEM;
		}
		if (s->state == SUBSYSTEM_STATE_RUNNING && s->ops->status) {
			r = s->ops->status(s->obj, status);
			if (r < 0)
				log_warning_errno(r, "status block failed, ignoring",
						  "subsystem=%s err=%m", s->ops->name);
		}
	}
	*ret = status;
	return 0;
}
