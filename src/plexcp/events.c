/* plexcp event emission and SSE streams (control-plane-api.md §5, §6.5, §12.2): events are
 * signed, written to the per-node event log, and written to the node's stream once the
 * transaction that produced them has committed; Last-Event-ID replays the retained log. */
#define LOG_COMPONENT "events"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "controlplane/envelope.h"
#include "httpd/httpd.h"
#include "plexcp/server.h"
#include "shared/encoding.h"
#include "shared/json-util.h"
#include "shared/log.h"
#include "shared/random-util.h"

struct stream {
	struct server *srv;
	struct stream *next; /* hash chain; only while registered */
	struct httpd_stream *hs;
	bool registered;
	char node_id[STORE_ID_MAX + 1];
};

struct delivery {
	struct delivery *next;
	char node_id[STORE_ID_MAX + 1];
	size_t len;
	char frame[];
};

static unsigned bucket_of(const char *id)
{
	uint32_t h = 2166136261U; /* FNV-1a */

	for (const char *p = id; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619U;
	return h % SERVER_STREAM_BUCKETS;
}

static struct stream *stream_find(struct server *s, const char *node_id)
{
	for (struct stream *st = s->streams[bucket_of(node_id)]; st; st = st->next)
		if (streq(st->node_id, node_id))
			return st;
	return NULL;
}

static void stream_unregister(struct stream *st)
{
	struct stream **p;

	if (!st->registered)
		return;
	for (p = &st->srv->streams[bucket_of(st->node_id)]; *p; p = &(*p)->next)
		if (*p == st) {
			*p = st->next;
			break;
		}
	st->registered = false;
	st->next = NULL;
	st->srv->n_streams--;
}

bool streams_connected(struct server *s, const char *node_id)
{
	return stream_find(s, node_id) != NULL;
}

static void on_stream_close(struct httpd_stream *hs, void *userdata)
{
	struct stream *st = userdata;

	log_debug("event stream closed", "node=%s", st->node_id);
	stream_unregister(st);
	free(st);
}

static int stream_write(struct stream *st, const char *data, size_t len)
{
	int r = httpd_stream_write(st->hs, data, len);

	if (r < 0) {
		/* The stream is ending (on_close follows); stop addressing it now so that further
		 * events mark the node for reconciliation. */
		log_warning_errno(r, "event stream write failed, dropping stream", "node=%s", st->node_id);
		stream_unregister(st);
	}
	return r;
}

void streams_close_node(struct server *s, const char *node_id)
{
	struct stream *st = stream_find(s, node_id);

	if (!st)
		return;
	stream_unregister(st);
	(void)httpd_stream_finish(st->hs);
}

void streams_free_all(struct server *s)
{
	/* httpd_free() ends the streams and runs on_close, which frees them; only unlink here. */
	for (unsigned b = 0; b < SERVER_STREAM_BUCKETS; b++)
		while (s->streams[b])
			stream_unregister(s->streams[b]);
}

int streams_keepalive(struct server *s)
{
	static const char ka[] = ": keepalive\n\n";

	for (unsigned b = 0; b < SERVER_STREAM_BUCKETS; b++) {
		struct stream *st = s->streams[b], *next;
		for (; st; st = next) {
			next = st->next;
			(void)stream_write(st, ka, STRLEN(ka));
		}
	}
	return 0;
}

static int frame_event(uint64_t seq, const char *type, const char *envelope, char **ret, size_t *ret_len)
{
	char *f = NULL;
	int n = asprintf(&f, "id: evt_%010" PRIu64 "\nevent: %s\ndata: %s\n\n", seq, type, envelope);

	if (n < 0)
		return -ENOMEM;
	*ret = f;
	*ret_len = (size_t)n;
	return 0;
}

static bool deliver_write(struct server *s, const char *node_id, const char *frame, size_t len)
{
	struct stream *st = stream_find(s, node_id);

	return st && stream_write(st, frame, len) >= 0;
}

void deliver_event(struct server *s, const char *node_id, const char *frame, size_t len)
{
	struct delivery *d;

	/* §12.3: an event that cannot be delivered makes the next heartbeat ask for a
	 * reconciliation. Inside a transaction a node without a stream is marked right away, in
	 * the same transaction: a fan-out to N offline nodes is then one commit, not N. */
	if (!s->in_tx) {
		if (!deliver_write(s, node_id, frame, len))
			(void)store_node_set_reconcile_pending(s->store, node_id, true);
		return;
	}
	if (!streams_connected(s, node_id)) {
		(void)store_node_set_reconcile_pending(s->store, node_id, true);
		return;
	}
	d = malloc(sizeof(*d) + len + 1);
	if (!d) {
		(void)store_node_set_reconcile_pending(s->store, node_id, true);
		return;
	}
	d->next = NULL;
	snprintf(d->node_id, sizeof(d->node_id), "%s", node_id);
	memcpy(d->frame, frame, len + 1);
	d->len = len;
	if (s->pending_last)
		s->pending_last->next = d;
	else
		s->pending_first = d;
	s->pending_last = d;
}

void deliveries_flush(struct server *s)
{
	struct delivery *d = s->pending_first, *next, *failed = NULL;
	bool tx;

	s->pending_first = s->pending_last = NULL;
	for (; d; d = next) {
		next = d->next;
		if (deliver_write(s, d->node_id, d->frame, d->len)) {
			free(d);
			continue;
		}
		d->next = failed;
		failed = d;
	}
	if (!failed)
		return;
	/* Streams that broke since the commit: mark their nodes in one transaction. */
	tx = !s->in_tx && store_begin(s->store) >= 0;
	for (d = failed; d; d = next) {
		next = d->next;
		(void)store_node_set_reconcile_pending(s->store, d->node_id, true);
		free(d);
	}
	if (tx && store_commit(s->store) < 0)
		log_warning("cannot mark nodes for reconciliation, ignoring");
}

void deliveries_drop(struct server *s)
{
	struct delivery *d = s->pending_first, *next;

	s->pending_first = s->pending_last = NULL;
	for (; d; d = next) {
		next = d->next;
		free(d);
	}
}

static int sign_event(struct server *s, const char *event_id, const char *type, const char *payload,
		      const uint8_t seed[32], char **ret, size_t *ret_len)
{
	struct timestamp now = timestamp_now();
	uint8_t nb[16];
	char nonce[33], issued[RFC3339_MAX];
	int r;

	r = random_bytes(nb, sizeof(nb));
	if (r < 0)
		return r;
	hex_encode_to(nb, sizeof(nb), nonce);
	/* Millisecond precision; envelope_sign emits the canonical TIME form of it. */
	r = rfc3339_format(now, 3, issued);
	if (r < 0)
		return r;
	return envelope_sign(type, event_id, nonce, issued, payload, strlen(payload), seed, ret, ret_len);
}

int server_emit_signed_by(struct server *s, const char *node_id, const char *event_type, json_t *payload,
			  const uint8_t seed[32])
{
	_cleanup_free_ char *text = NULL, *env = NULL, *frame = NULL;
	char event_id[32];
	uint64_t seq;
	size_t env_len, frame_len;
	int r;

	text = json_dumps_compact(payload);
	json_decref(payload);
	if (!text)
		return -ENOMEM;

	r = store_event_next_seq(s->store, node_id, &seq);
	if (r < 0)
		return r;
	snprintf(event_id, sizeof(event_id), "evt_%010" PRIu64, seq);

	r = sign_event(s, event_id, event_type, text, seed ? seed : s->keys.seed, &env, &env_len);
	if (r < 0)
		return log_error_errno(r, "cannot sign event", "node=%s type=%s", node_id, event_type);
	if (env_len + STRLEN("data: ") > SSE_LINE_MAX) {
		/* §5.2/§12.3: too large for one SSE line; send a reconcile hint instead. */
		log_notice("event too large for the stream, sending a reconcile hint", "node=%s type=%s len=%zu",
			   node_id, event_type, env_len);
		env = mfree(env);
		event_type = "policy_updated";
		r = sign_event(s, event_id, event_type, "{}", seed ? seed : s->keys.seed, &env, &env_len);
		if (r < 0)
			return r;
		(void)store_node_set_reconcile_pending(s->store, node_id, true);
	}

	r = store_event_append(s->store, node_id, seq, event_type, env, server_now());
	if (r < 0)
		return r;
	r = frame_event(seq, event_type, env, &frame, &frame_len);
	if (r < 0)
		return r;
	log_debug("event emitted", "node=%s type=%s id=%s", node_id, event_type, event_id);
	deliver_event(s, node_id, frame, frame_len);
	return 0;
}

int server_emit(struct server *s, const char *node_id, const char *event_type, json_t *payload)
{
	return server_emit_signed_by(s, node_id, event_type, payload, NULL);
}

static bool parse_event_id(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || !strneq(s, "evt_", 4) || s[4] < '0' || s[4] > '9')
		return false;
	errno = 0;
	v = strtoull(s + 4, &end, 10);
	if (errno != 0 || *end != 0)
		return false;
	*ret = v;
	return true;
}

int stream_attach(struct server *s, struct httpd_request *req, const char *node_id,
		  const char *last_event_id)
{
	struct store_event *ev = NULL;
	struct stream *st, *old;
	size_t n_ev = 0;
	uint64_t after;
	char hello[64];
	int r, n;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->srv = s;
	snprintf(st->node_id, sizeof(st->node_id), "%s", node_id);

	/* Read the replay set before replying so that a store error can still be a 500. */
	if (parse_event_id(last_event_id, &after)) {
		r = store_event_since(s->store, node_id, after, &ev, &n_ev);
		if (r == -ENOENT)
			log_debug("Last-Event-ID not retained, live events only", "node=%s id=%s", node_id,
				  last_event_id);
		else if (r < 0) {
			free(st);
			return r;
		}
	}

	r = httpd_reply_stream(req, 200, "text/event-stream", on_stream_close, st, &st->hs);
	if (r < 0) {
		store_event_array_free(ev, n_ev);
		free(st);
		return r;
	}

	/* §5.1: at most one stream per node; the newer one wins. */
	old = stream_find(s, node_id);
	if (old) {
		log_info("replacing older event stream", "node=%s", node_id);
		stream_unregister(old);
		(void)httpd_stream_finish(old->hs);
	}
	st->registered = true;
	st->next = s->streams[bucket_of(node_id)];
	s->streams[bucket_of(node_id)] = st;
	s->n_streams++;

	n = snprintf(hello, sizeof(hello), ": connected\n\nretry: %u\n\n", s->cfg.retry_ms);
	r = stream_write(st, hello, (size_t)n);
	for (size_t i = 0; r >= 0 && i < n_ev; i++) {
		_cleanup_free_ char *frame = NULL;
		size_t len;

		r = frame_event(ev[i].seq, ev[i].event_type, ev[i].envelope, &frame, &len);
		if (r >= 0)
			r = stream_write(st, frame, len);
	}
	log_info("event stream connected", "node=%s last_event_id=%s replayed=%zu streams=%u", node_id,
		 isempty(last_event_id) ? "-" : last_event_id, n_ev, s->n_streams);
	store_event_array_free(ev, n_ev);
	return 0;
}
