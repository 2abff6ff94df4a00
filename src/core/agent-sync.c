/* Keeping the node in sync with the control plane: reconcile cycles (agent.md §5.6), heartbeats
 * (§5.7), mesh key rotation (§5.8), the event stream's outcomes (§4.5) and re-authentication
 * (control-plane-api.md §2.9). */
#define LOG_COMPONENT "sync"

#include <malloc.h>
#include <stdio.h>

#include "config/config.h"
#include "controlplane/nonce-store.h"
#include "core/agent-internal.h"
#include "core/identity.h"
#include "core/manager.h"
#include "core/register.h"
#include "core/token.h"
#include "crypto/crypto.h"
#include "mesh/mesh.h"
#include "shared/encoding.h"
#include "shared/log.h"

#define ROTATION_MIN_GAP_USEC (60 * USEC_PER_SEC)
#define HEARTBEAT_OFFLINE_AFTER 3

static usec_t interval_usec(int64_t ns)
{
	return ns > 0 ? (usec_t)ns / 1000 : 60 * USEC_PER_SEC;
}

static int arm(struct agent *a, sd_event_source **s, usec_t delay, sd_event_time_handler_t cb)
{
	usec_t when = now_usec(CLOCK_MONOTONIC) + delay;
	int r;

	if (!*s)
		return sd_event_add_time(a->event, s, CLOCK_MONOTONIC, when, 0, cb, a);
	r = sd_event_source_set_time(*s, when);
	if (r >= 0)
		r = sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
	return r;
}

/* Derived from the stream, not remembered: "connected" means events are flowing now (a
 * heartbeat that succeeded before an outage says nothing about the present). */
void agent_update_control_state(struct agent *a)
{
	enum stream_state ss = a->stream ? stream_get_state(a->stream) : STREAM_STATE_STOPPED;

	if (a->reauth_running || a->credential_rejected || ss == STREAM_STATE_UNAUTHORIZED)
		a->control_state = CONTROL_STATE_UNAUTHORIZED;
	else if (ss == STREAM_STATE_POLLING)
		a->control_state = CONTROL_STATE_POLLING;
	else if (ss == STREAM_STATE_CONNECTED)
		a->control_state = CONTROL_STATE_CONNECTED;
	else
		a->control_state = CONTROL_STATE_OFFLINE;
}

static void update_control_state(struct agent *a)
{
	agent_update_control_state(a);
}

/* --- drift reports ------------------------------------------------------------------------ */

static void on_drift_sent(const struct api_result *r, void *userdata)
{
	if (r->kind != API_RESULT_OK)
		log_warning("drift report not delivered", "status=%ld detail=\"%s\"", r->status,
			    strempty(r->message));
}

void agent_send_drift(struct agent *a, struct drift_list *drift)
{
	_cleanup_free_ struct cp_drift_correction *c = NULL;

	if (drift->n == 0)
		return;
	c = calloc(drift->n, sizeof(*c));
	if (!c)
		return;
	for (size_t i = 0; i < drift->n; i++)
		c[i] = (struct cp_drift_correction){ drift->types[i], drift->details[i] };
	struct cp_drift_report rep = { .timestamp = timestamp_now(), .corrections = c,
				       .n_corrections = drift->n };
	if (api_drift(a->api, &rep, on_drift_sent, a, NULL) < 0)
		log_warning("cannot send drift report");
}

/* --- reconcile ---------------------------------------------------------------------------- */

static int on_reconcile_timer(sd_event_source *s, uint64_t usec, void *userdata);

static bool metadata_equal(const struct cp_metadata *a, const struct cp_metadata *b)
{
	if (a->n_items != b->n_items)
		return false;
	for (size_t i = 0; i < a->n_items; i++) {
		const char *v = cp_metadata_get(b, a->items[i].key);
		if (!v || !streq(v, a->items[i].value))
			return false;
	}
	return true;
}

static bool data_equal(const struct cp_data_list *a, const struct cp_data_list *b)
{
	if (a->n_entries != b->n_entries)
		return false;
	for (size_t i = 0; i < a->n_entries; i++) {
		bool found = false;
		for (size_t k = 0; k < b->n_entries && !found; k++)
			found = streq(a->entries[i].key, b->entries[k].key) &&
				a->entries[i].version == b->entries[k].version;
		if (!found)
			return false;
	}
	return true;
}

static bool refs_equal(const struct cp_secret_ref_list *a, const struct cp_secret_ref_list *b)
{
	if (a->n_refs != b->n_refs)
		return false;
	for (size_t i = 0; i < a->n_refs; i++) {
		bool found = false;
		for (size_t k = 0; k < b->n_refs && !found; k++)
			found = streq(a->refs[i].key, b->refs[k].key) &&
				a->refs[i].version == b->refs[k].version;
		if (!found)
			return false;
	}
	return true;
}

/* Folds a state response into the desired model; corrections land in drift. */
static int absorb_state(struct agent *a, struct cp_state_response *st, struct drift_list *drift)
{
	const struct config *c = agent_config(a);
	int r;

	for (size_t i = 0; i < st->peers.n_errors; i++)
		log_error("invalid peer in state, skipped", "error=\"%s\"", st->peers.errors[i].text);

	if (st->has_signing_keys && !signing_keys_equal(&st->signing_keys, &a->identity->signing_keys)) {
		a->identity->signing_keys = st->signing_keys;
		a->desired.signing_keys = st->signing_keys;
		r = identity_save_signing_keys(c->data_dir, &st->signing_keys);
		if (r < 0)
			return r;
		(void)drift_add(drift, "signing_keys_updated", "signing keys rotated");
	}
	r = desired_set_policies(&a->desired, &st->policies, drift);
	if (r < 0)
		return r;
	desired_set_peers(&a->desired, &st->peers, a->identity->node_id);

	if (st->has_metadata) {
		if (!metadata_equal(&st->metadata, &a->desired.metadata))
			(void)drift_add(drift, "metadata_updated", "metadata updated");
		cp_metadata_done(&a->desired.metadata);
		a->desired.metadata = st->metadata;
		st->metadata = (struct cp_metadata){};
	}
	if (st->has_data) {
		if (!data_equal(&st->data, &a->desired.data))
			(void)drift_add(drift, "data_updated", "data updated");
		cp_data_list_done(&a->desired.data);
		a->desired.data = st->data;
		st->data = (struct cp_data_list){};
	}
	if (st->has_secret_refs) {
		if (!refs_equal(&st->secret_refs, &a->desired.secret_refs))
			(void)drift_add(drift, "secret_refs_updated", "secret refs updated");
		cp_secret_ref_list_done(&a->desired.secret_refs);
		a->desired.secret_refs = st->secret_refs;
		st->secret_refs = (struct cp_secret_ref_list){};
	}
	if (st->relay_config)
		(void)agent_bridge_sync(a, st->relay_config, drift);
	(void)desired_save_policies(&a->desired, c->data_dir);
	(void)agent_persist_peers(a);
	return 0;
}

static void reconcile_done(struct agent *a, bool failed, size_t corrections, usec_t started)
{
	usec_t took = now_usec(CLOCK_MONOTONIC) - started;

	a->reconcile_count++;
	if (failed)
		a->reconcile_failures++;
	if (corrections > 0 || failed)
		log_info("reconcile cycle", "drift_count=%zu duration_ms=%llu failed=%s", corrections,
			 (unsigned long long)(took / 1000), failed ? "yes" : "no");
	else
		log_debug("reconcile cycle", "drift_count=0 duration_ms=%llu failed=no",
			  (unsigned long long)(took / 1000));
	/* §12.3: at most one extra cycle; the regular timer restarts after a triggered cycle. */
	if (a->reconcile_pending) {
		a->reconcile_pending = false;
		(void)arm(a, &a->reconcile_timer, 0, on_reconcile_timer);
	} else
		(void)arm(a, &a->reconcile_timer, interval_usec(agent_config(a)->reconcile.interval),
			  on_reconcile_timer);
}

struct reconcile_ctx {
	struct agent *a;
	usec_t started;
};

static void on_state(const struct api_result *res, struct cp_state_response *st, void *userdata)
{
	struct agent *a = userdata;
	struct drift_list drift = {};
	usec_t started = now_usec(CLOCK_MONOTONIC);
	bool failed = false;
	int r;

	a->state_request = NULL;
	if (res->kind != API_RESULT_OK) {
		log_warning("state fetch failed, cycle skipped", "status=%ld kind=%s detail=\"%s\"",
			    res->status, api_result_kind_to_string(res->kind), strempty(res->message));
		if (res->kind == API_RESULT_REAUTH)
			agent_reauth(a);
		/* Even without the CP the device is checked against the cached desired state, so
		 * manual changes are corrected while offline too. */
		r = agent_apply_mesh(a, true, &drift);
		drift_done(&drift);
		reconcile_done(a, true, 0, started);
		return;
	}
	r = absorb_state(a, st, &drift);
	cp_state_response_free(st);
	if (r < 0) {
		log_error_errno(r, "cannot absorb state", "err=%m");
		failed = true;
	}
	r = agent_apply_mesh(a, true, &drift);
	if (r < 0)
		failed = true;
	if (drift.n > 0) {
		for (size_t i = 0; i < drift.n; i++)
			log_info("drift corrected", "type=%s detail=\"%s\"", drift.types[i],
				 drift.details[i]);
		agent_send_drift(a, &drift);
	}
	reconcile_done(a, failed, drift.n, started);
	drift_done(&drift);
	/* A state document of thousands of peers is parsed into short-lived trees; hand the
	 * freed heap back so the daemon's resident memory tracks what it actually holds. */
	malloc_trim(0);
}

static void reconcile_run(struct agent *a)
{
	int r;

	if (!a->identity || !a->running)
		return;
	if (a->state_request) {
		a->reconcile_pending = true;
		return;
	}
	nonce_store_purge(a->nonces, timestamp_now());
	r = api_state(a->api, on_state, a, &a->state_request);
	if (r < 0) {
		log_warning_errno(r, "cannot start state fetch", "err=%m");
		(void)arm(a, &a->reconcile_timer, interval_usec(agent_config(a)->reconcile.interval),
			  on_reconcile_timer);
	}
}

static int on_reconcile_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	reconcile_run(userdata);
	return 0;
}

void agent_reconcile_trigger(struct agent *a)
{
	if (a->state_request)
		a->reconcile_pending = true;
	else
		(void)arm(a, &a->reconcile_timer, 0, on_reconcile_timer);
}

/* --- heartbeat ---------------------------------------------------------------------------- */

static int on_heartbeat_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* agent.md §4.5 rule 8: time checks use the local clock; a skew against the CP's Date header is
 * only reported, at most once an hour. */
static void check_clock_skew(struct agent *a, const struct api_result *res)
{
	int64_t skew;

	if (!res->has_date)
		return;
	skew = timestamp_now().sec - res->date.sec;
	if (skew > -60 && skew < 60)
		return;
	if (a->last_skew_warning &&
	    now_usec(CLOCK_MONOTONIC) - a->last_skew_warning < 3600 * USEC_PER_SEC)
		return;
	a->last_skew_warning = now_usec(CLOCK_MONOTONIC);
	log_warning("local clock differs from the control plane's; events will fail verification "
		    "beyond 5 minutes of skew, check NTP",
		    "skew_sec=%lld", (long long)skew);
}

static void on_heartbeat(const struct api_result *res, const struct cp_heartbeat_response *resp,
			 void *userdata)
{
	struct agent *a = userdata;

	a->heartbeat_request = NULL;
	check_clock_skew(a, res);
	switch (res->kind) {
	case API_RESULT_OK:
		if (a->heartbeat_failures >= HEARTBEAT_OFFLINE_AFTER)
			log_info("control plane reachable again");
		a->heartbeat_failures = 0;
		a->credential_rejected = false;
		a->last_heartbeat = timestamp_now();
		a->has_last_heartbeat = true;
		if (a->stream && stream_get_state(a->stream) == STREAM_STATE_UNAUTHORIZED &&
		    !a->reauth_running) {
			/* The CP accepts the credential again (restored CP, §2.9 step 3). */
			(void)stream_start(a->stream);
		}
		if (resp && resp->reconcile)
			agent_reconcile_trigger(a);
		if ((resp && resp->rotate_keys) || a->rotation_after_contact) {
			a->rotation_after_contact = false;
			agent_rotate_keys(a, resp && resp->rotate_keys ? "heartbeat flag"
								       : "interrupted rotation");
		}
		break;
	case API_RESULT_REAUTH:
		log_error("heartbeat: credential rejected by the control plane");
		agent_reauth(a);
		break;
	case API_RESULT_RATE_LIMITED:
		a->heartbeat_skip_until =
			now_usec(CLOCK_MONOTONIC) + (res->has_retry_after ? res->retry_after : 0);
		break;
	default:
		a->heartbeat_failures++;
		log_warning("heartbeat failed", "status=%ld detail=\"%s\" consecutive=%u", res->status,
			    strempty(res->message), a->heartbeat_failures);
		break;
	}
	update_control_state(a);
}

static void heartbeat_send(struct agent *a)
{
	const struct config *c = agent_config(a);
	struct wg_device dev = {};
	struct cp_mesh_info mesh = { .interface = c->mesh.interface, .listen_port = c->mesh.listen_port };
	struct cp_nat_info nat;
	struct cp_heartbeat_request req = {
		.node_id = a->identity->node_id,
		.timestamp = timestamp_now(),
		.uptime_ns = (int64_t)(now_usec(CLOCK_MONOTONIC) - a->started) * 1000,
		.mesh = &mesh,
	};
	bool device_ok;
	int r;

	struct cp_bridge_info bridge;
	if (agent_nat_info(a, &nat))
		req.nat = &nat;
	if (agent_bridge_info(a, &bridge))
		req.bridge = &bridge;
	if (a->heartbeat_request || now_usec(CLOCK_MONOTONIC) < a->heartbeat_skip_until)
		return;
	device_ok = a->mesh && mesh_get_device(a->mesh, &dev) >= 0;
	mesh.peer_count = device_ok ? (int64_t)dev.n_peers : 0;
	wg_device_done(&dev);
	req.status = !device_ok ? CP_HEALTH_UNHEALTHY : a->degraded ? CP_HEALTH_DEGRADED
								   : CP_HEALTH_HEALTHY;
	memcpy(req.binary_checksum, a->binary_checksum, sizeof req.binary_checksum);
	r = api_heartbeat(a->api, &req, on_heartbeat, a, &a->heartbeat_request);
	if (r < 0)
		log_warning_errno(r, "cannot send heartbeat", "err=%m");
}

static int on_heartbeat_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct agent *a = userdata;

	heartbeat_send(a);
	(void)arm(a, &a->heartbeat_timer, interval_usec(agent_config(a)->heartbeat.interval),
		  on_heartbeat_timer);
	return 0;
}

/* --- mesh key rotation (§5.8) ------------------------------------------------------------- */

static int on_rotate_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void key_path(struct agent *a, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", agent_config(a)->data_dir, name);
}

static void rotation_finish(struct agent *a)
{
	char path[4096];

	a->rotation_pending = false;
	a->last_rotation = now_usec(CLOCK_MONOTONIC);
	explicit_bzero(a->pending_private_key, sizeof a->pending_private_key);
	key_path(a, "private_key.new", path, sizeof path);
	(void)unlink(path);
}

static int rotation_commit(struct agent *a, struct cp_key_rotate_response *resp)
{
	const struct config *c = agent_config(a);
	int r;

	/* Persist first: a crash after this point restarts with the key the CP now knows. */
	r = identity_save_private_key(c->data_dir, "private_key", a->pending_private_key);
	if (r < 0)
		return r;
	memcpy(a->identity->private_key, a->pending_private_key, 32);
	(void)wg_key_public(a->identity->private_key, a->identity->public_key);
	r = mesh_set_private_key(a->mesh, a->identity->private_key);
	if (r < 0)
		log_error_errno(r, "cannot set the new private key on the interface", "err=%m");
	mesh_set_stagger(a->mesh, a->identity->public_key, true);
	if (resp->has_node_secret_key) {
		char b64[45];
		key32_format(resp->node_secret_key, b64);
		r = identity_save_nsk(c->data_dir, b64);
		if (r >= 0) {
			memcpy(a->identity->nsk, resp->node_secret_key, 32);
			memcpy(a->identity->node_secret_key, b64, sizeof b64);
			(void)api_client_set_identity(a->api, a->identity->node_id,
						      a->identity->node_token, a->identity->nsk);
		}
		explicit_bzero(b64, sizeof b64);
	}
	desired_set_peers(&a->desired, &resp->updated_peers, a->identity->node_id);
	(void)agent_persist_peers(a);
	(void)agent_apply_mesh(a, false, NULL);
	return 0;
}

static void on_rotated(const struct api_result *res, struct cp_key_rotate_response *resp,
		       void *userdata)
{
	struct agent *a = userdata;
	usec_t delay;
	int r;

	a->rotate_request = NULL;
	switch (res->kind) {
	case API_RESULT_OK:
		r = rotation_commit(a, resp);
		cp_key_rotate_response_free(resp);
		if (r < 0) {
			log_error_errno(r, "key rotation could not be persisted", "err=%m");
			return;
		}
		rotation_finish(a);
		log_info("mesh key rotated", "peers=%zu", a->desired.peers.n_peers);
		return;
	case API_RESULT_REAUTH:
		agent_reauth(a);
		return;
	case API_RESULT_PERMANENT:
	case API_RESULT_INVALID_RESPONSE:
		log_error("key rotation rejected; keeping the old key", "status=%ld detail=\"%s\"",
			  res->status, strempty(res->message));
		rotation_finish(a);
		return;
	case API_RESULT_RATE_LIMITED:
	case API_RESULT_TRANSIENT:
		break;
	}
	delay = res->kind == API_RESULT_RATE_LIMITED && res->has_retry_after
			? res->retry_after
			: backoff_next(&a->rotate_backoff);
	log_warning("key rotation failed, retrying with the same key", "status=%ld retry_in_ms=%llu",
		    res->status, (unsigned long long)(delay / 1000));
	(void)arm(a, &a->rotate_timer, delay, on_rotate_timer);
}

static void rotation_send(struct agent *a)
{
	struct cp_key_rotate_request req = { .node_id = a->identity->node_id };
	int r;

	r = wg_key_public(a->pending_private_key, req.new_public_key);
	if (r >= 0)
		r = api_keys_rotate(a->api, &req, on_rotated, a, &a->rotate_request);
	if (r < 0)
		log_error_errno(r, "cannot send key rotation", "err=%m");
}

static int on_rotate_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct agent *a = userdata;
	if (a->rotation_pending && !a->rotate_request)
		rotation_send(a);
	return 0;
}

void agent_rotate_keys(struct agent *a, const char *why)
{
	int r;

	if (!a->identity || a->rotation_pending) {
		log_debug("key rotation already running, ignoring trigger", "trigger=\"%s\"", why);
		return;
	}
	if (a->last_rotation && now_usec(CLOCK_MONOTONIC) - a->last_rotation < ROTATION_MIN_GAP_USEC) {
		log_debug("key rotation finished less than 60 s ago, ignoring", "trigger=\"%s\"", why);
		return;
	}
	r = wg_key_generate(a->pending_private_key);
	if (r >= 0)
		r = identity_save_private_key(agent_config(a)->data_dir, "private_key.new",
					      a->pending_private_key);
	if (r < 0) {
		log_error_errno(r, "cannot prepare key rotation", "err=%m");
		return;
	}
	log_info("rotating mesh key", "trigger=\"%s\"", why);
	a->rotation_pending = true;
	backoff_init(&a->rotate_backoff, 5 * USEC_PER_SEC, 300 * USEC_PER_SEC);
	rotation_send(a);
}

/* --- re-authentication (§2.9) ------------------------------------------------------------- */

static void on_reregistered(int r, struct identity *id, const struct cp_peer_list *peers,
			    void *userdata)
{
	struct agent *a = userdata;
	bool ip_changed;

	a->registration = registration_free(a->registration);
	a->reauth_running = false;
	if (r < 0) {
		log_error("re-registration failed; keeping the stored identity", "err=%d", r);
		update_control_state(a);
		return;
	}
	ip_changed = id->mesh_ip.s_addr != a->identity->mesh_ip.s_addr;
	identity_free(a->identity);
	a->identity = id;
	(void)api_client_set_identity(a->api, id->node_id, id->node_token, id->nsk);
	stream_forget_last_event_id(a->stream);
	if (ip_changed) {
		/* A new mesh IP means a new interface address: rebuild the interface. */
		(void)mesh_stop(a->mesh, true);
		(void)mesh_start(a->mesh, id->private_key, id->mesh_ip);
	} else
		(void)mesh_set_private_key(a->mesh, id->private_key);
	mesh_set_stagger(a->mesh, id->public_key, true);
	if (peers) {
		if (desired_set_peers_copy(&a->desired, peers, id->node_id) < 0)
			log_oom(); /* the reconcile triggered below brings them again */
		else
			(void)agent_persist_peers(a);
	}
	log_info("re-registered", "node_id=%s mesh_ip=%s", id->node_id, id->mesh_ip_str);
	(void)stream_start(a->stream);
	heartbeat_send(a);
	agent_reconcile_trigger(a);
	update_control_state(a);
}

void agent_reauth(struct agent *a)
{
	const struct config *c = agent_config(a);
	char *tok = NULL;
	bool have_token;

	if (a->reauth_running)
		return;
	stream_stop(a->stream);
	have_token = token_from_file(c->token.file, &tok) == 0 || token_from_env(c->token.env, &tok) == 0;
	erase_and_free(tok);
	if (!have_token) {
		log_error("control plane rejected the node credential and no bootstrap token is "
			  "available; keeping the stored identity");
		a->credential_rejected = true;
		update_control_state(a);
		return;
	}
	struct registration_params p = {
		.config = c, .api = a->api, .replace = true, .done = on_reregistered, .userdata = a,
	};
	a->reauth_running = true;
	update_control_state(a);
	if (registration_start(a->event, &p, &a->registration) < 0)
		a->reauth_running = false;
}

/* --- event stream callbacks ---------------------------------------------------------------- */

static void on_stream_connected(struct stream *s, bool reconnected, void *userdata)
{
	struct agent *a = userdata;

	log_info("event stream connected", "reconnected=%s", reconnected ? "yes" : "no");
	if (reconnected)
		agent_reconcile_trigger(a);
	update_control_state(a);
}

static void on_stream_reauth(struct stream *s, long status, void *userdata)
{
	log_error("event stream: credential rejected", "status=%ld", status);
	agent_reauth(userdata);
}

static void on_stream_forbidden(struct stream *s, void *userdata)
{
	log_error("event stream forbidden (403); continuing with periodic reconciliation");
	update_control_state(userdata);
}

static void on_stream_poll(struct stream *s, void *userdata)
{
	struct agent *a = userdata;

	update_control_state(a);
	agent_reconcile_trigger(a);
}

const struct stream_callbacks agent_stream_callbacks = {
	.on_event = agent_on_stream_event,
	.on_connected = on_stream_connected,
	.on_reauth = on_stream_reauth,
	.on_forbidden = on_stream_forbidden,
	.on_poll = on_stream_poll,
};

/* --- start / stop ----------------------------------------------------------------------- */

int agent_sync_start(struct agent *a)
{
	const struct config *c = agent_config(a);
	struct stream_config sc = {
		.poll_interval = interval_usec(c->reconcile.interval),
		.idle_timeout = (usec_t)c->api_client.sse_idle_timeout / 1000,
	};
	int r;

	r = stream_new(a->api, &sc, &agent_stream_callbacks, a, &a->stream);
	if (r < 0)
		return log_error_errno(r, "cannot create event stream", "err=%m");
	r = stream_start(a->stream);
	if (r < 0)
		return log_error_errno(r, "cannot start event stream", "err=%m");
	r = arm(a, &a->heartbeat_timer, 0, on_heartbeat_timer);
	if (r >= 0)
		r = arm(a, &a->reconcile_timer, 0, on_reconcile_timer);
	if (r < 0)
		return log_error_errno(r, "cannot arm timers", "err=%m");
	return 0;
}

void agent_sync_stop(struct agent *a)
{
	if (a->stream)
		stream_stop(a->stream);
	a->reconcile_timer = sd_event_source_disable_unref(a->reconcile_timer);
	a->heartbeat_timer = sd_event_source_disable_unref(a->heartbeat_timer);
	a->rotate_timer = sd_event_source_disable_unref(a->rotate_timer);
	if (a->state_request)
		http_request_cancel(a->state_request);
	if (a->heartbeat_request)
		http_request_cancel(a->heartbeat_request);
	if (a->rotate_request)
		http_request_cancel(a->rotate_request);
	a->state_request = a->heartbeat_request = a->rotate_request = NULL;
}
