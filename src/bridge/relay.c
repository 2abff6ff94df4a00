/* Bridge NAT relay: session table, per-session and shared UDP sockets, forwarding with
 * recvmmsg/sendmmsg, latching, expiry (agent.md §5.21.2). */
#define LOG_COMPONENT "relay"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

#include "bridge/relay.h"
#include "shared/log.h"
#include "shared/macro.h"
#include "shared/wire.h"

#define RELAY_BATCH 32
/* WireGuard datagrams are MTU + 32 bytes; this also covers jumbo frames. Larger ones are
 * dropped (counted), never truncated. */
#define RELAY_MAX_DATAGRAM 9216

enum side {
	SIDE_A,
	SIDE_B,
	SIDE_NONE,
};

struct session {
	struct relay *relay;
	char *id;
	uint16_t port; /* 0: shared socket */
	int fd;
	sd_event_source *io;
	struct sockaddr_in assigned[2];
	struct sockaddr_in current[2];
	usec_t expiry;		       /* CLOCK_MONOTONIC */
	uint64_t packets[2], bytes[2]; /* indexed by the sending side */
	uint64_t latches[2];
};

struct relay {
	sd_event *event;
	struct relay_config cfg;
	int shared_fd;
	sd_event_source *shared_io;
	sd_event_source *expiry_timer;
	struct session **sessions;
	size_t n_sessions;
	uint64_t dropped, dropped_since_log;
	usec_t last_drop_log;
	/* Batch buffers, shared by all sockets (one loop, one callback at a time). */
	uint8_t (*bufs)[RELAY_MAX_DATAGRAM];
};

static bool sin_eq(const struct sockaddr_in *x, const struct sockaddr_in *y)
{
	return x->sin_addr.s_addr == y->sin_addr.s_addr && x->sin_port == y->sin_port;
}

static void fmt_ep(const struct sockaddr_in *a, char *out, size_t size)
{
	struct sockaddr_storage ss = {0};
	memcpy(&ss, a, sizeof(*a));
	if (endpoint_format(&ss, out, size) < 0)
		snprintf(out, size, "?");
}

int relay_lifetime(usec_t session_ttl, bool has_expires_at, struct timestamp expires_at,
		   struct timestamp now_real, usec_t *ret)
{
	if (!has_expires_at || timestamp_is_unset(expires_at)) {
		*ret = session_ttl;
		return 0;
	}
	int64_t ds = expires_at.sec - now_real.sec;
	int64_t dns = (int64_t)expires_at.nsec - (int64_t)now_real.nsec;
	if (ds < 0 || (ds == 0 && dns <= 0))
		return -ETIME;
	/* Far-future expiries are capped by the ttl anyway; avoid overflow first. */
	if ((uint64_t)ds > session_ttl / USEC_PER_SEC + 1) {
		*ret = session_ttl;
		return 0;
	}
	int64_t us = ds * (int64_t)USEC_PER_SEC + dns / 1000;
	if (us <= 0)
		return -ETIME;
	*ret = MIN((usec_t)us, session_ttl);
	return 0;
}

/* ---- matching and forwarding ----------------------------------------------------------------- */

/* Which peer sent src. Per-session sockets latch: a datagram from a peer's assigned IP with
 * another port moves that peer's current address there (symmetric NAT, re-mapping after a
 * conntrack flush). When both peers sit behind one public IP the IP says nothing, so only exact
 * matches count. */
static enum side session_match(struct session *s, const struct sockaddr_in *src, bool latch)
{
	for (int i = 0; i < 2; i++)
		if (sin_eq(&s->current[i], src))
			return (enum side)i;
	if (!latch || s->assigned[0].sin_addr.s_addr == s->assigned[1].sin_addr.s_addr)
		return SIDE_NONE;
	for (int i = 0; i < 2; i++)
		if (s->assigned[i].sin_addr.s_addr == src->sin_addr.s_addr) {
			char old[64], new[64];
			fmt_ep(&s->current[i], old, sizeof(old));
			fmt_ep(src, new, sizeof(new));
			/* info for the first latch of a peer; later moves at debug, as a peer
			 * (or someone sharing its IP) could flip it at packet rate. */
			log_full_errno(s->latches[i]++ == 0 ? LOG_INFO : LOG_DEBUG, 0,
				       "relay peer address latched",
				       "session=%s peer=%c old=%s new=%s", s->id, 'a' + i, old,
				       new);
			s->current[i] = *src;
			return (enum side)i;
		}
	return SIDE_NONE;
}

static void note_drop(struct relay *r, const struct sockaddr_in *src, uint16_t port)
{
	r->dropped++;
	r->dropped_since_log++;
	usec_t now = now_usec(CLOCK_MONOTONIC);
	if (now - r->last_drop_log < USEC_PER_SEC && r->last_drop_log != 0)
		return;
	char ep[64];
	fmt_ep(src, ep, sizeof(ep));
	log_debug("relay datagram from unknown source dropped", "source=%s port=%u dropped=%llu",
		  ep, port, (unsigned long long)r->dropped_since_log);
	r->last_drop_log = now;
	r->dropped_since_log = 0;
}

static struct session *shared_lookup(struct relay *r, const struct sockaddr_in *src,
				     enum side *ret_side)
{
	for (size_t i = 0; i < r->n_sessions; i++) {
		struct session *s = r->sessions[i];
		if (s->port != 0)
			continue;
		enum side side = session_match(s, src, false);
		if (side != SIDE_NONE) {
			*ret_side = side;
			return s;
		}
	}
	return NULL;
}

/* Drains up to a few batches from fd. sess is the socket's session, NULL for the shared one. */
static void forward(struct relay *r, int fd, struct session *sess, uint16_t port)
{
	struct mmsghdr in[RELAY_BATCH], out[RELAY_BATCH];
	struct iovec iov_in[RELAY_BATCH], iov_out[RELAY_BATCH];
	struct sockaddr_in from[RELAY_BATCH], to[RELAY_BATCH];
	struct session *owner[RELAY_BATCH];
	enum side owner_side[RELAY_BATCH];

	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < RELAY_BATCH; i++) {
			iov_in[i] =
			    (struct iovec){.iov_base = r->bufs[i], .iov_len = RELAY_MAX_DATAGRAM};
			in[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &from[i],
							     .msg_namelen = sizeof(from[i]),
							     .msg_iov = &iov_in[i],
							     .msg_iovlen = 1}};
		}
		int n = recvmmsg(fd, in, RELAY_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != ECONNREFUSED)
				log_debug_errno(negative_errno(), "relay receive failed",
						"port=%u err=%m", port);
			return;
		}
		int m = 0;
		for (int i = 0; i < n; i++) {
			if ((in[i].msg_hdr.msg_flags & MSG_TRUNC) ||
			    from[i].sin_family != AF_INET) {
				note_drop(r, &from[i], port);
				continue;
			}
			enum side side;
			struct session *s = sess;
			if (s)
				side = session_match(s, &from[i], true);
			else
				s = shared_lookup(r, &from[i], &side);
			if (!s || side == SIDE_NONE) {
				note_drop(r, &from[i], port);
				continue;
			}
			to[m] = s->current[1 - side];
			iov_out[m] =
			    (struct iovec){.iov_base = r->bufs[i], .iov_len = in[i].msg_len};
			out[m] = (struct mmsghdr){.msg_hdr = {.msg_name = &to[m],
							      .msg_namelen = sizeof(to[m]),
							      .msg_iov = &iov_out[m],
							      .msg_iovlen = 1}};
			owner[m] = s;
			owner_side[m] = side;
			m++;
		}
		bool retried = false;
		for (int k = 0; k < m;) {
			int sent = sendmmsg(fd, out + k, (unsigned)(m - k), MSG_DONTWAIT);
			if (sent <= 0) {
				/* A pending error (e.g. an earlier ICMP) can fail a good send once:
				 * retry it, then give up on this datagram only. */
				if (!retried) {
					retried = true;
					continue;
				}
				k++;
				retried = false;
				continue;
			}
			retried = false;
			for (int j = k; j < k + sent; j++) {
				owner[j]->packets[owner_side[j]]++;
				owner[j]->bytes[owner_side[j]] += out[j].msg_len;
			}
			k += sent;
		}
		if (n < RELAY_BATCH)
			return;
	}
}

static int on_session_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct session *s = userdata;
	forward(s->relay, fd, s, s->port);
	return 0;
}

static int on_shared_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct relay *r = userdata;
	forward(r, fd, NULL, r->cfg.listen_port);
	return 0;
}

/* ---- sockets --------------------------------------------------------------------------------- */

static int open_socket(struct relay *r, uint16_t port, int *ret_fd)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = r->cfg.bind_address};
	int big = 4 * 1024 * 1024;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = negative_errno();
		safe_close(fd);
		return e;
	}
	*ret_fd = fd;
	return 0;
}

/* ---- table ------------------------------------------------------------------------------------
 */

static struct session *session_free(struct session *s)
{
	if (!s)
		return NULL;
	s->io = sd_event_source_disable_unref(s->io);
	safe_close(s->fd);
	free(s->id);
	free(s);
	return NULL;
}

static struct session *find(const struct relay *r, const char *id, size_t *ret_idx)
{
	for (size_t i = 0; i < r->n_sessions; i++)
		if (streq(r->sessions[i]->id, id)) {
			if (ret_idx)
				*ret_idx = i;
			return r->sessions[i];
		}
	return NULL;
}

static int on_expiry(sd_event_source *src, uint64_t usec, void *userdata);

static void rearm_expiry(struct relay *r)
{
	usec_t next = UINT64_MAX;
	for (size_t i = 0; i < r->n_sessions; i++)
		next = MIN(next, r->sessions[i]->expiry);
	if (next == UINT64_MAX) {
		if (r->expiry_timer)
			(void)sd_event_source_set_enabled(r->expiry_timer, SD_EVENT_OFF);
		return;
	}
	int e;
	if (r->expiry_timer) {
		e = sd_event_source_set_time(r->expiry_timer, next);
		if (e >= 0)
			e = sd_event_source_set_enabled(r->expiry_timer, SD_EVENT_ONESHOT);
	} else
		e = sd_event_add_time(r->event, &r->expiry_timer, CLOCK_MONOTONIC, next, 0,
				      on_expiry, r);
	if (e < 0)
		log_error_errno(e, "cannot arm relay expiry timer", "err=%m");
}

static void remove_at(struct relay *r, size_t idx)
{
	session_free(r->sessions[idx]);
	r->sessions[idx] = r->sessions[--r->n_sessions];
}

static int on_expiry(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct relay *r = userdata;
	usec_t now = now_usec(CLOCK_MONOTONIC);
	for (size_t i = 0; i < r->n_sessions;) {
		struct session *s = r->sessions[i];
		if (s->expiry <= now) {
			log_info("relay session expired", "session=%s", s->id);
			remove_at(r, i);
		} else
			i++;
	}
	rearm_expiry(r);
	return 0;
}

static bool endpoint_valid(const struct sockaddr_in *a)
{
	return a->sin_family == AF_INET && a->sin_port != 0 && a->sin_addr.s_addr != INADDR_ANY &&
	       a->sin_addr.s_addr != INADDR_BROADCAST;
}

int relay_session_assign(struct relay *r, const struct relay_assignment *a)
{
	if (!a->session_id || !id_is_valid(a->session_id) || !endpoint_valid(&a->peer_a) ||
	    !endpoint_valid(&a->peer_b) || sin_eq(&a->peer_a, &a->peer_b))
		return -EINVAL;
	usec_t lifetime;
	int e = relay_lifetime(r->cfg.session_ttl, a->has_expires_at, a->expires_at,
			       timestamp_now(), &lifetime);
	if (e < 0)
		return e;
	if (a->port != 0 && (a->port < r->cfg.session_port_base ||
			     (unsigned)a->port - r->cfg.session_port_base >= r->cfg.max_sessions))
		return -ERANGE;
	if (a->port == 0 && r->shared_fd < 0)
		return -ENOTCONN;

	struct session *existing = find(r, a->session_id, NULL);
	if (!existing && r->n_sessions >= r->cfg.max_sessions)
		return -ENOSPC;
	for (size_t i = 0; i < r->n_sessions; i++) {
		struct session *o = r->sessions[i];
		if (o == existing)
			continue;
		if (a->port != 0 && o->port == a->port)
			return -EADDRINUSE;
		if (a->port == 0 && o->port == 0)
			for (int k = 0; k < 2; k++)
				if (sin_eq(&o->current[k], &a->peer_a) ||
				    sin_eq(&o->current[k], &a->peer_b) ||
				    sin_eq(&o->assigned[k], &a->peer_a) ||
				    sin_eq(&o->assigned[k], &a->peer_b))
					return -EADDRINUSE;
	}

	/* Open the new socket before touching anything, so a failure leaves the table as it was. */
	int fd = -EBADF;
	sd_event_source *io = NULL;
	bool new_socket = a->port != 0 && (!existing || existing->port != a->port);
	if (new_socket) {
		e = open_socket(r, a->port, &fd);
		if (e < 0)
			return e;
	}

	struct session *s = existing;
	if (!s) {
		s = calloc(1, sizeof(*s));
		struct session **arr = reallocarray(r->sessions, r->n_sessions + 1, sizeof(*arr));
		if (arr)
			r->sessions = arr;
		if (!s || !arr || !(s->id = strdup(a->session_id))) {
			free(s);
			safe_close(fd);
			return -ENOMEM;
		}
		s->relay = r;
		s->fd = -EBADF;
	}
	if (new_socket) {
		e = sd_event_add_io(r->event, &io, fd, EPOLLIN, on_session_io, s);
		if (e < 0) {
			safe_close(fd);
			if (!existing)
				session_free(s);
			return e;
		}
	}
	if (new_socket || a->port == 0) {
		/* Moved (or to the shared socket): the old per-session socket goes. */
		s->io = sd_event_source_disable_unref(s->io);
		s->fd = safe_close(s->fd);
		if (new_socket) {
			s->fd = fd;
			s->io = io;
		}
	}
	if (!existing || !sin_eq(&s->assigned[0], &a->peer_a) ||
	    !sin_eq(&s->assigned[1], &a->peer_b)) {
		s->assigned[0] = s->current[0] = a->peer_a;
		s->assigned[1] = s->current[1] = a->peer_b;
	}
	s->port = a->port;
	s->expiry = now_usec(CLOCK_MONOTONIC) + lifetime;
	if (!existing)
		r->sessions[r->n_sessions++] = s;
	rearm_expiry(r);

	char ea[64], eb[64];
	fmt_ep(&a->peer_a, ea, sizeof(ea));
	fmt_ep(&a->peer_b, eb, sizeof(eb));
	if (existing)
		log_debug("relay session refreshed", "session=%s port=%u lifetime_s=%llu", s->id,
			  s->port ? s->port : r->cfg.listen_port,
			  (unsigned long long)(lifetime / USEC_PER_SEC));
	else
		log_info("relay session added",
			 "session=%s port=%u peer_a=%s peer_b=%s lifetime_s=%llu", s->id,
			 s->port ? s->port : r->cfg.listen_port, ea, eb,
			 (unsigned long long)(lifetime / USEC_PER_SEC));
	return existing ? 1 : 0;
}

int relay_session_revoke(struct relay *r, const char *session_id)
{
	size_t idx;
	if (!session_id || !find(r, session_id, &idx))
		return -ENOENT;
	log_info("relay session removed", "session=%s", session_id);
	remove_at(r, idx);
	rearm_expiry(r);
	return 0;
}

int relay_sessions_sync(struct relay *r, const struct relay_assignment *a, size_t n)
{
	for (size_t i = 0; i < r->n_sessions;) {
		bool wanted = false;
		for (size_t k = 0; k < n && !wanted; k++)
			wanted = a[k].session_id && streq(a[k].session_id, r->sessions[i]->id);
		if (!wanted) {
			log_info("relay session removed (not in relay_config)", "session=%s",
				 r->sessions[i]->id);
			remove_at(r, i);
		} else
			i++;
	}
	int failed = 0;
	for (size_t k = 0; k < n; k++) {
		int e = relay_session_assign(r, &a[k]);
		if (e < 0) {
			log_error_errno(e, "relay session rejected", "session=%s err=%m",
					strempty(a[k].session_id));
			failed++;
		}
	}
	rearm_expiry(r);
	return failed;
}

size_t relay_session_count(const struct relay *r)
{
	return r->n_sessions;
}

uint64_t relay_dropped(const struct relay *r)
{
	return r->dropped;
}

int relay_session_stats(const struct relay *r, const char *session_id,
			struct relay_session_stats *ret)
{
	struct session *s = find(r, session_id, NULL);
	if (!s)
		return -ENOENT;
	usec_t now = now_usec(CLOCK_MONOTONIC);
	*ret = (struct relay_session_stats){
	    .packets_a_to_b = s->packets[SIDE_A],
	    .bytes_a_to_b = s->bytes[SIDE_A],
	    .packets_b_to_a = s->packets[SIDE_B],
	    .bytes_b_to_a = s->bytes[SIDE_B],
	    .current_a = s->current[SIDE_A],
	    .current_b = s->current[SIDE_B],
	    .expires_in = s->expiry > now ? s->expiry - now : 0,
	};
	return 0;
}

int relay_status_json(const struct relay *r, json_t **ret)
{
	json_t *arr = json_array();
	if (!arr)
		return -ENOMEM;
	usec_t now = now_usec(CLOCK_MONOTONIC);
	for (size_t i = 0; i < r->n_sessions; i++) {
		struct session *s = r->sessions[i];
		char ea[64], eb[64];
		fmt_ep(&s->current[0], ea, sizeof(ea));
		fmt_ep(&s->current[1], eb, sizeof(eb));
		json_t *o = json_pack(
		    "{s:s, s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "session_id", s->id, "port",
		    (int)(s->port ? s->port : r->cfg.listen_port), "peer_a", ea, "peer_b", eb,
		    "packets_a_to_b", (json_int_t)s->packets[0], "bytes_a_to_b",
		    (json_int_t)s->bytes[0], "packets_b_to_a", (json_int_t)s->packets[1],
		    "bytes_b_to_a", (json_int_t)s->bytes[1], "expires_in_sec",
		    (json_int_t)(s->expiry > now ? (s->expiry - now) / USEC_PER_SEC : 0));
		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return -ENOMEM;
		}
	}
	json_t *j = json_pack("{s:i, s:I, s:I, s:o}", "listen_port", (int)r->cfg.listen_port,
			      "active_sessions", (json_int_t)r->n_sessions, "dropped_packets",
			      (json_int_t)r->dropped, "sessions", arr);
	if (!j)
		return -ENOMEM;
	*ret = j;
	return 0;
}

/* ---- lifecycle --------------------------------------------------------------------------------
 */

int relay_new(sd_event *event, const struct relay_config *c, struct relay **ret)
{
	if (!event || !c || c->max_sessions == 0 || c->session_ttl == 0 ||
	    (c->session_port_base != 0 &&
	     (unsigned)c->session_port_base + c->max_sessions - 1 > 65535))
		return -EINVAL;
	struct relay *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->bufs = calloc(RELAY_BATCH, sizeof(*r->bufs));
	if (!r->bufs) {
		free(r);
		return -ENOMEM;
	}
	r->event = sd_event_ref(event);
	r->cfg = *c;
	r->shared_fd = -EBADF;
	*ret = r;
	return 0;
}

int relay_start(struct relay *r)
{
	if (r->shared_fd >= 0 || r->cfg.listen_port == 0)
		return 0;
	int e = open_socket(r, r->cfg.listen_port, &r->shared_fd);
	if (e < 0)
		return log_error_errno(e, "cannot bind relay listen port", "port=%u err=%m",
				       r->cfg.listen_port);
	e = sd_event_add_io(r->event, &r->shared_io, r->shared_fd, EPOLLIN, on_shared_io, r);
	if (e < 0) {
		r->shared_fd = safe_close(r->shared_fd);
		return e;
	}
	return 0;
}

void relay_stop(struct relay *r)
{
	if (!r)
		return;
	while (r->n_sessions > 0)
		remove_at(r, r->n_sessions - 1);
	r->expiry_timer = sd_event_source_disable_unref(r->expiry_timer);
	r->shared_io = sd_event_source_disable_unref(r->shared_io);
	r->shared_fd = safe_close(r->shared_fd);
}

struct relay *relay_free(struct relay *r)
{
	if (!r)
		return NULL;
	relay_stop(r);
	free(r->sessions);
	free(r->bufs);
	sd_event_unref(r->event);
	free(r);
	return NULL;
}
