/* Registration state machine. States: waiting for the lock, waiting for a token, request in
 * flight, backing off. Every wait is a timer on the loop; nothing blocks. */
#define LOG_COMPONENT "register"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/utsname.h>

#include "config/config.h"
#include "controlplane/api.h"
#include "controlplane/types.h"
#include "core/identity.h"
#include "core/register.h"
#include "core/token.h"
#include "core/token-metadata.h"
#include "crypto/crypto.h"
#include "shared/backoff.h"
#include "shared/encoding.h"
#include "shared/log.h"
#include "version.h"

#define TOKEN_RECHECK_USEC (10 * USEC_PER_SEC)
#define LOCK_RETRY_USEC (1 * USEC_PER_SEC)
#define WAIT_WARN_USEC (60 * USEC_PER_SEC)

struct registration {
	sd_event *event;
	const struct config *config;
	struct api_client *api;
	char *token_file;
	bool join;
	bool replace;
	registration_done_fn done;
	void *userdata;

	int lock_fd;
	sd_event_source *timer;
	struct http_request *request;
	struct metadata_fetch *metadata; /* cloud metadata source in flight (§4.2 source 4) */
	struct backoff backoff;
	usec_t started;      /* CLOCK_MONOTONIC, for the join retry budget */
	usec_t last_warning; /* "waiting for bootstrap token" at most once a minute */

	char *token;
	enum token_source token_source;
	uint8_t rejected_token_hash[SHA256_LEN]; /* up: wait for a different token */
	bool has_rejected;
	uint8_t private_key[WG_KEY_LEN];
	uint8_t public_key[WG_KEY_LEN];
};

static void registration_step(struct registration *reg);

static void finish(struct registration *reg, int r, struct identity *id,
		   const struct cp_peer_list *peers)
{
	if (reg->lock_fd >= 0) {
		(void)flock(reg->lock_fd, LOCK_UN);
		reg->lock_fd = safe_close(reg->lock_fd);
	}
	reg->timer = sd_event_source_disable_unref(reg->timer);
	reg->done(r, id, peers, reg->userdata);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	registration_step(userdata);
	return 0;
}

static int arm_timer(struct registration *reg, usec_t delay)
{
	usec_t when = now_usec(CLOCK_MONOTONIC) + delay;
	int r;

	if (!reg->timer)
		return sd_event_add_time(reg->event, &reg->timer, CLOCK_MONOTONIC, when, 0, on_timer,
					 reg);
	r = sd_event_source_set_time(reg->timer, when);
	if (r >= 0)
		r = sd_event_source_set_enabled(reg->timer, SD_EVENT_ONESHOT);
	return r;
}

/* Non-blocking flock retried on a timer: `plexd join` may hold the lock for a while and the
 * daemon's loop must keep serving signals meanwhile. */
static int take_lock(struct registration *reg)
{
	char path[4096];

	if (reg->lock_fd >= 0)
		return 1;
	snprintf(path, sizeof path, "%s/.register.lock", reg->config->data_dir);
	reg->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (reg->lock_fd < 0)
		return log_error_errno(-errno, "cannot open registration lock", "path=%s err=%m",
				       path);
	if (flock(reg->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		reg->lock_fd = safe_close(reg->lock_fd);
		if (e == EWOULDBLOCK)
			return 0;
		return log_error_errno(-e, "cannot lock registration", "path=%s err=%m", path);
	}
	return 1;
}

/* The metadata source is consulted only when the synchronous ones gave nothing, and never
 * for re-authentication (decision 12: a new token, not the one this node already used). */
static bool metadata_enabled(const struct registration *reg)
{
	return reg->config->token.metadata && !reg->replace;
}

static const char *sources_checked(const struct registration *reg, char *buf, size_t size)
{
	char md[256] = "";

	if (metadata_enabled(reg))
		snprintf(md, sizeof md, ", metadata %s provider=%s", reg->config->token.metadata_path,
			 config_metadata_provider_to_string(reg->config->token.metadata_provider));
	snprintf(buf, size, "file %s, environment %s%s%s", reg->token_file, reg->config->token.env,
		 reg->join && isatty(STDIN_FILENO) ? ", prompt" : "", md);
	return buf;
}

/* The CP refused this exact token before (up): wait for a different one. */
static bool token_was_rejected(const struct registration *reg, const char *token)
{
	uint8_t h[SHA256_LEN];

	if (!reg->has_rejected)
		return false;
	sha256_buf(token, strlen(token), h);
	return crypto_memeq(h, reg->rejected_token_hash, sizeof h);
}

/* Resolves the token from the sources in order. 1 found, 0 none, negative on a bad source. */
static int resolve_token(struct registration *reg)
{
	int r;

	reg->token = mfree(reg->token);
	r = token_from_file(reg->token_file, &reg->token);
	if (r == 0)
		reg->token_source = TOKEN_SOURCE_FILE;
	else if (r == -EINVAL)
		return log_error_errno(r, "bootstrap token is invalid", "source=file path=%s",
				       reg->token_file);
	else if (r != -ENOENT)
		return log_error_errno(r, "cannot read bootstrap token", "source=file path=%s err=%m",
				       reg->token_file);

	if (!reg->token) {
		r = token_from_env(reg->config->token.env, &reg->token);
		if (r == 0)
			reg->token_source = TOKEN_SOURCE_ENV;
		else if (r == -EINVAL)
			return log_error_errno(r, "bootstrap token is invalid", "source=env name=%s",
					       reg->config->token.env);
	}
	if (!reg->token && reg->join) {
		r = token_from_prompt(&reg->token);
		if (r == 0)
			reg->token_source = TOKEN_SOURCE_PROMPT;
		else if (r == -EINVAL)
			return log_error_errno(r, "bootstrap token is invalid", "source=prompt");
	}
	if (!reg->token)
		return 0;
	if (token_was_rejected(reg, reg->token)) {
		reg->token = mfree(reg->token);
		return 0;
	}
	return 1;
}

int registration_build_metadata(const struct config *c, struct cp_metadata *ret)
{
	struct cp_metadata m = {};
	struct utsname u;
	int r = 0;

	if (uname(&u) < 0)
		return -errno;
	r = cp_metadata_set(&m, "os", "linux");
	if (r >= 0)
		r = cp_metadata_set(&m, "arch",
				    streq(u.machine, "x86_64")    ? "amd64"
				    : streq(u.machine, "aarch64") ? "arm64"
								  : u.machine);
	if (r >= 0)
		r = cp_metadata_set(&m, "kernel", u.release);
	if (r >= 0)
		r = cp_metadata_set(&m, "version", PLEXD_VERSION);
	if (r >= 0)
		r = cp_metadata_set(&m, "mode", config_mode_to_string(c->mode));
	/* §8.12: bridge facts the CP plans relays with. relay_session_port_base and
	 * relay_max_sessions are extensions: the per-session port range of agent.md §5.21.2. */
	if (r >= 0 && c->mode == CONFIG_MODE_BRIDGE) {
		char buf[32];
		r = cp_metadata_set(&m, "bridge", "true");
		if (r >= 0 && !isempty(c->bridge.access_interface))
			r = cp_metadata_set(&m, "access_interface", c->bridge.access_interface);
		for (size_t i = 0; r >= 0 && i < c->bridge.access_subnets.n; i++) {
			char key[48];
			snprintf(key, sizeof key, "access_subnet_%zu", i);
			r = cp_metadata_set(&m, key, c->bridge.access_subnets.v[i]);
		}
		if (r >= 0 && c->bridge.relay.enabled) {
			r = cp_metadata_set(&m, "relay", "true");
			snprintf(buf, sizeof buf, "%d", c->bridge.relay.listen_port);
			if (r >= 0)
				r = cp_metadata_set(&m, "relay_listen_port", buf);
			snprintf(buf, sizeof buf, "%d", c->bridge.relay.session_port_base);
			if (r >= 0)
				r = cp_metadata_set(&m, "relay_session_port_base", buf);
			snprintf(buf, sizeof buf, "%d", c->bridge.relay.max_sessions);
			if (r >= 0)
				r = cp_metadata_set(&m, "relay_max_sessions", buf);
		}
	}
	for (size_t i = 0; r >= 0 && i < c->registration.n_metadata; i++)
		r = cp_metadata_set(&m, c->registration.metadata[i].key,
				    c->registration.metadata[i].value);
	if (r < 0) {
		cp_metadata_done(&m);
		return r;
	}
	*ret = m;
	return 0;
}

static void on_registered(const struct api_result *res, struct cp_register_response *resp,
			  void *userdata);

static int send_request(struct registration *reg)
{
	struct cp_metadata md = {};
	struct cp_capabilities caps = { .has_binary = true, .binary_version = PLEXD_VERSION };
	char hostname[256];
	int r;

	r = wg_key_generate(reg->private_key);
	if (r >= 0)
		r = wg_key_public(reg->private_key, reg->public_key);
	if (r < 0)
		return log_error_errno(r, "cannot generate WireGuard key", "err=%m");
	r = registration_build_metadata(reg->config, &md);
	if (r < 0)
		return r;
	if (sha256_file("/proc/self/exe", caps.binary_checksum) < 0)
		caps.has_binary = false;
	snprintf(hostname, sizeof hostname, "%s", reg->config->hostname);

	struct cp_register_request req = {
		.token = reg->token,
		.hostname = hostname,
		.metadata = &md,
		.capabilities = &caps,
	};
	memcpy(req.public_key, reg->public_key, sizeof req.public_key);
	r = api_register(reg->api, &req, on_registered, reg, &reg->request);
	cp_metadata_done(&md);
	if (r < 0)
		return log_error_errno(r, "cannot send registration", "err=%m");
	log_info("registering with the control plane", "hostname=%s token_source=%s", hostname,
		 token_source_to_string(reg->token_source));
	return 0;
}

static int persist(struct registration *reg, struct cp_register_response *resp,
		   struct identity **ret)
{
	_cleanup_(identity_freep) struct identity *id = NULL;
	int r;

	r = identity_new(&id);
	if (r < 0)
		return r;
	snprintf(id->node_id, sizeof id->node_id, "%s", resp->node_id);
	id->mesh_ip = resp->mesh_ip;
	inet_ntop(AF_INET, &id->mesh_ip, id->mesh_ip_str, sizeof id->mesh_ip_str);
	memcpy(id->private_key, reg->private_key, WG_KEY_LEN);
	memcpy(id->public_key, reg->public_key, WG_KEY_LEN);
	memcpy(id->nsk, resp->node_secret_key, sizeof id->nsk);
	key32_format(resp->node_secret_key, id->node_secret_key);
	if (resp->node_token) {
		id->node_token = strdup(resp->node_token);
		if (!id->node_token)
			return -ENOMEM;
	}
	memcpy(id->signing_keys.current, resp->signing_public_key, ED25519_KEY_LEN);
	id->registered_at = timestamp_now();

	r = identity_save(reg->config->data_dir, id);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(id);
	return 0;
}

static void forget_token(struct registration *reg)
{
	if (reg->token_source == TOKEN_SOURCE_FILE) {
		if (unlink(reg->token_file) < 0 && errno != ENOENT)
			log_warning("cannot delete bootstrap token file", "path=%s err=%m",
				    reg->token_file);
		else
			log_info("bootstrap token file deleted", "path=%s", reg->token_file);
	} else if (reg->token_source == TOKEN_SOURCE_ENV)
		log_info("registered; remove the bootstrap token from the environment", "name=%s",
			 reg->config->token.env);
	erase_and_free(reg->token);
	reg->token = NULL;
}

static bool budget_exhausted(const struct registration *reg, usec_t next_delay)
{
	usec_t budget = (usec_t)reg->config->registration.max_retry / 1000;
	return reg->join && now_usec(CLOCK_MONOTONIC) + next_delay - reg->started > budget;
}

static void on_registered(const struct api_result *res, struct cp_register_response *resp,
			  void *userdata)
{
	struct registration *reg = userdata;
	struct identity *id = NULL;
	usec_t delay;
	int r;

	reg->request = NULL;
	switch (res->kind) {
	case API_RESULT_OK:
		r = persist(reg, resp, &id);
		if (r < 0) {
			log_error_errno(r, "cannot persist identity", "err=%m");
			cp_register_response_free(resp);
			finish(reg, r, NULL, NULL);
			return;
		}
		explicit_bzero(reg->private_key, sizeof reg->private_key);
		log_info("registered", "node_id=%s mesh_ip=%s peers=%zu", id->node_id,
			 id->mesh_ip_str, resp->peers.n_peers);
		forget_token(reg);
		finish(reg, 0, id, &resp->peers);
		cp_register_response_free(resp);
		return;
	case API_RESULT_PERMANENT:
	case API_RESULT_REAUTH:
	case API_RESULT_INVALID_RESPONSE:
		log_error("registration rejected", "status=%ld source=%s detail=\"%s\"", res->status,
			  token_source_to_string(reg->token_source), strempty(res->message));
		if (reg->join) {
			finish(reg, -EPERM, NULL, NULL);
			return;
		}
		sha256_buf(reg->token, strlen(reg->token), reg->rejected_token_hash);
		reg->has_rejected = true;
		reg->token = mfree(reg->token);
		(void)arm_timer(reg, TOKEN_RECHECK_USEC);
		return;
	case API_RESULT_RATE_LIMITED:
		delay = res->has_retry_after ? res->retry_after : backoff_peek(&reg->backoff);
		break;
	case API_RESULT_TRANSIENT:
	default:
		delay = backoff_next(&reg->backoff);
		break;
	}
	if (budget_exhausted(reg, delay)) {
		log_error("registration retry budget exhausted", "status=%ld detail=\"%s\"",
			  res->status, strempty(res->message));
		finish(reg, -ETIMEDOUT, NULL, NULL);
		return;
	}
	log_warning("registration failed, retrying", "status=%ld detail=\"%s\" retry_in_ms=%llu",
		    res->status, strempty(res->message), (unsigned long long)(delay / 1000));
	(void)arm_timer(reg, delay);
}

static void no_token(struct registration *reg, int r);

static void on_metadata(int r, char *token, enum metadata_provider used, void *userdata)
{
	struct registration *reg = userdata;

	reg->metadata = metadata_fetch_free(reg->metadata);
	if (r == 0 && token_was_rejected(reg, token))
		r = -ENOENT;
	if (r < 0) {
		erase_and_free(token);
		log_debug("no bootstrap token from cloud metadata", "provider=%s",
			  used < _METADATA_PROVIDER_MAX ? metadata_provider_to_string(used) : "none");
		no_token(reg, 0);
		return;
	}
	log_info("bootstrap token found in cloud metadata", "provider=%s",
		 metadata_provider_to_string(used));
	reg->token = token;
	reg->token_source = TOKEN_SOURCE_METADATA;
	/* Back through the step: it re-takes the lock and re-checks the identity first. */
	registration_step(reg);
}

/* The last source, asynchronous: HTTP with per-request timeouts that can add up to several
 * seconds. The lock is released meanwhile (as while waiting) so `plexd join` is not held up. */
static int start_metadata(struct registration *reg)
{
	const struct config *c = reg->config;
	struct metadata_fetch_params p = {
		.path = c->token.metadata_path,
		.timeout = (usec_t)c->token.metadata_timeout / 1000,
		.done = on_metadata,
		.userdata = reg,
	};
	int r;

	metadata_provider_from_config(c->token.metadata_provider, &p.auto_detect, &p.provider);
	if (reg->lock_fd >= 0) {
		(void)flock(reg->lock_fd, LOCK_UN);
		reg->lock_fd = safe_close(reg->lock_fd);
	}
	log_debug("asking cloud metadata for a bootstrap token", "provider=%s path=%s",
		  config_metadata_provider_to_string(c->token.metadata_provider),
		  c->token.metadata_path);
	r = metadata_fetch_start(reg->event, &p, &reg->metadata);
	if (r < 0)
		return log_debug_errno(r, "cannot query cloud metadata", "err=%m");
	return 0;
}

static void registration_step(struct registration *reg)
{
	struct identity *id = NULL;
	int r;

	r = take_lock(reg);
	if (r < 0) {
		finish(reg, r, NULL, NULL);
		return;
	}
	if (r == 0) {
		(void)arm_timer(reg, LOCK_RETRY_USEC);
		return;
	}
	/* Someone (plexd join) may have registered while we waited. */
	r = reg->replace ? -ENOENT : identity_load(reg->config->data_dir, &id);
	if (r == 0) {
		finish(reg, 0, id, NULL);
		return;
	}
	if (r != -ENOENT) {
		finish(reg, r, NULL, NULL);
		return;
	}
	if (reg->token) {
		r = send_request(reg);
		if (r < 0)
			finish(reg, r, NULL, NULL);
		return;
	}
	r = resolve_token(reg);
	if (r > 0) {
		r = send_request(reg);
		if (r < 0)
			finish(reg, r, NULL, NULL);
		return;
	}
	if (r == 0 && metadata_enabled(reg)) {
		r = start_metadata(reg);
		if (r >= 0)
			return;
		r = 0; /* the source is unavailable, like any other metadata failure */
	}
	no_token(reg, r);
}

/* No token from any source (r == 0) or a bad source (r < 0): join gives up, up waits. */
static void no_token(struct registration *reg, int r)
{
	char sources[768];

	if (reg->join || reg->replace) {
		if (reg->replace) {
			finish(reg, -ENOENT, NULL, NULL);
			return;
		}
		log_error("no bootstrap token found", "checked=\"%s\"",
			  sources_checked(reg, sources, sizeof sources));
		finish(reg, r < 0 ? r : -ENOENT, NULL, NULL);
		return;
	}
	/* up: release the lock while waiting so `plexd join` can register meanwhile. */
	(void)flock(reg->lock_fd, LOCK_UN);
	reg->lock_fd = safe_close(reg->lock_fd);
	if (reg->last_warning == 0 ||
	    now_usec(CLOCK_MONOTONIC) - reg->last_warning >= WAIT_WARN_USEC) {
		reg->last_warning = now_usec(CLOCK_MONOTONIC);
		log_warning("waiting for bootstrap token", "checked=\"%s\"",
			    sources_checked(reg, sources, sizeof sources));
	}
	(void)arm_timer(reg, TOKEN_RECHECK_USEC);
}

int registration_start(sd_event *event, const struct registration_params *p,
		       struct registration **ret)
{
	struct registration *reg;
	int r;

	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return -ENOMEM;
	*reg = (struct registration){
		.event = sd_event_ref(event),
		.config = p->config,
		.api = p->api,
		.join = p->join,
		.replace = p->replace,
		.done = p->done,
		.userdata = p->userdata,
		.lock_fd = -EBADF,
		.started = now_usec(CLOCK_MONOTONIC),
	};
	backoff_init(&reg->backoff, USEC_PER_SEC, 60 * USEC_PER_SEC);
	reg->token_file = strdup(p->token_file ? p->token_file : p->config->token.file);
	if (!reg->token_file) {
		registration_free(reg);
		return -ENOMEM;
	}
	/* First step from the loop, so the caller's state is fully set up when done() runs. */
	r = arm_timer(reg, 0);
	if (r < 0) {
		registration_free(reg);
		return r;
	}
	*ret = reg;
	return 0;
}

struct registration *registration_free(struct registration *reg)
{
	if (!reg)
		return NULL;
	if (reg->request)
		http_request_cancel(reg->request);
	metadata_fetch_free(reg->metadata);
	sd_event_source_disable_unref(reg->timer);
	if (reg->lock_fd >= 0) {
		(void)flock(reg->lock_fd, LOCK_UN);
		safe_close(reg->lock_fd);
	}
	erase_and_free(reg->token);
	free(reg->token_file);
	sd_event_unref(reg->event);
	explicit_bzero(reg, sizeof(*reg));
	free(reg);
	return NULL;
}
