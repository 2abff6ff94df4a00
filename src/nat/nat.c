/* NAT discovery state machine on sd-event (agent.md §5.2 rules 3–9, decisions 19–20). */
#define LOG_COMPONENT "nat"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "nat/nat.h"
#include "nat/raw.h"
#include "nat/stun.h"
#include "shared/fileio.h"
#include "shared/json-util.h"
#include "shared/log.h"
#include "shared/wire.h"

#define NAT_MAX_SERVERS 8
#define NAT_MAX_LOCAL	64

/* §5.2 rule 3: sends at 0, 500 ms, 1.5 s, 3.5 s after the first, then wait for the timeout. */
static const usec_t retransmit_at[] = {0, 500 * USEC_PER_MSEC, 1500 * USEC_PER_MSEC,
				       3500 * USEC_PER_MSEC};

enum transport_mode {
	MODE_OFF,
	MODE_RAW,
	MODE_UDP,
};

struct server {
	char *spec; /* as configured, for logs */
	char *host;
	uint16_t port;
	bool numeric;
	bool skip; /* IPv6 literal */
	struct sockaddr_in addr;
};

/* One getaddrinfo_a() request. glibc completes it on a thread of its own; the notification
 * writes the eventfd that the loop watches. If the loop gives up first it hands the ticket to
 * the notification, which then frees it: state is the only shared field. */
enum ticket_state {
	TICKET_PENDING,
	TICKET_DONE,
	TICKET_ORPHANED,
};
struct ticket {
	_Atomic int state;
	int efd;
	struct gaicb req;
	struct addrinfo hints;
	char *host;
	char service[8];
};

struct nat {
	sd_event *event;
	nat_result_fn cb;
	void *userdata;

	uint16_t listen_port;
	struct server servers[NAT_MAX_SERVERS];
	size_t n_servers;
	usec_t timeout, refresh_interval;
	char *cache_path;
	enum nat_transport transport;
	struct in_addr *local;
	size_t n_local;
	bool local_override;

	enum transport_mode mode;
	bool started;
	int fd;
	sd_event_source *io;
	sd_event_source *timer;	  /* retransmission / per-server deadline */
	sd_event_source *refresh; /* next cycle */
	sd_event_source *resolve_io;
	struct ticket *ticket;

	/* The running cycle. */
	bool in_cycle;
	usec_t cycle_start;
	size_t idx;  /* server being asked */
	bool have_a; /* phase: looking for B */
	struct sockaddr_in a;
	usec_t server_deadline;
	bool querying; /* request sent to cur (else resolving) */
	usec_t query_start;
	unsigned n_sent;
	uint8_t txid[STUN_TXID_SIZE];
	struct sockaddr_in cur;

	bool have_result;
	struct nat_result result;
};

static const char *const nat_type_table[_NAT_TYPE_MAX] = {
    [NAT_TYPE_NONE] = "none",
    [NAT_TYPE_FULL_CONE] = "full_cone",
    [NAT_TYPE_SYMMETRIC] = "symmetric",
    [NAT_TYPE_UNKNOWN] = "unknown",
};

const char *nat_type_to_string(enum nat_type t)
{
	return (unsigned)t < _NAT_TYPE_MAX ? nat_type_table[t] : NULL;
}

int nat_type_from_string(const char *s, enum nat_type *ret)
{
	for (size_t i = 0; s && i < _NAT_TYPE_MAX; i++)
		if (streq(s, nat_type_table[i])) {
			*ret = (enum nat_type)i;
			return 0;
		}
	return -EINVAL;
}

static bool sin_eq(const struct sockaddr_in *x, const struct sockaddr_in *y)
{
	return x->sin_addr.s_addr == y->sin_addr.s_addr && x->sin_port == y->sin_port;
}

enum nat_type nat_classify(const struct sockaddr_in *a, const struct sockaddr_in *b,
			   uint16_t listen_port, const struct in_addr *local, size_t n_local)
{
	if (ntohs(a->sin_port) == listen_port)
		for (size_t i = 0; i < n_local; i++)
			if (local[i].s_addr == a->sin_addr.s_addr)
				return NAT_TYPE_NONE;
	if (!b)
		return NAT_TYPE_UNKNOWN;
	return sin_eq(a, b) ? NAT_TYPE_FULL_CONE : NAT_TYPE_SYMMETRIC;
}

int nat_result_to_json(const struct nat_result *r, char **ret)
{
	char ep[64], ts[RFC3339_MAX];
	struct sockaddr_storage ss = {0};
	memcpy(&ss, &r->endpoint, sizeof(r->endpoint));
	if (endpoint_format(&ss, ep, sizeof(ep)) < 0 || !nat_type_to_string(r->type) ||
	    rfc3339_format(r->discovered_at, 0, ts) < 0)
		return -EINVAL;
	json_t *j = json_pack("{s:s, s:s, s:s}", "endpoint", ep, "nat_type",
			      nat_type_to_string(r->type), "discovered_at", ts);
	if (!j)
		return -ENOMEM;
	char *s = json_dumps_compact(j);
	json_decref(j);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int nat_result_from_json(const char *s, size_t len, struct nat_result *ret)
{
	struct json_error e;
	_cleanup_json_ json_t *j = NULL;
	const char *ep, *type, *ts;
	struct nat_result r = {0};
	struct sockaddr_storage ss;

	if (json_parse_bounded_size(s, len, 4096, &j, &e) < 0 || !json_is_object(j))
		return -EINVAL;
	if (json_get_string(j, "endpoint", true, &ep, &e) < 0 ||
	    json_get_string(j, "nat_type", true, &type, &e) < 0 ||
	    json_get_string(j, "discovered_at", true, &ts, &e) < 0)
		return -EINVAL;
	if (endpoint_parse(ep, &ss) < 0 || ss.ss_family != AF_INET)
		return -EINVAL;
	memcpy(&r.endpoint, &ss, sizeof(r.endpoint));
	if (nat_type_from_string(type, &r.type) < 0 ||
	    rfc3339_parse(ts, strlen(ts), &r.discovered_at) < 0)
		return -EINVAL;
	*ret = r;
	return 0;
}

/* ---- resolution ---------------------------------------------------------------------------- */

static void ticket_destroy(struct ticket *t)
{
	if (!t)
		return;
	if (t->req.ar_result)
		freeaddrinfo(t->req.ar_result);
	safe_close(t->efd);
	free(t->host);
	free(t);
}

static void ticket_notify(union sigval sv)
{
	struct ticket *t = sv.sival_ptr;
	uint64_t one = 1;
	/* Write first: once state says DONE the loop may free the ticket. */
	(void)!write(t->efd, &one, sizeof(one));
	if (atomic_exchange(&t->state, TICKET_DONE) == TICKET_ORPHANED)
		ticket_destroy(t);
}

static void resolve_cancel(struct nat *n)
{
	n->resolve_io = sd_event_source_disable_unref(n->resolve_io);
	if (!n->ticket)
		return;
	struct ticket *t = TAKE_PTR(n->ticket);
	(void)gai_cancel(&t->req);
	if (atomic_exchange(&t->state, TICKET_ORPHANED) == TICKET_DONE)
		ticket_destroy(t);
}

static int send_request(struct nat *n);
static void server_next(struct nat *n);
static int arm_timer(struct nat *n);

static int on_resolved(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct nat *n = userdata;
	struct ticket *t = n->ticket;
	struct server *sv = &n->servers[n->idx];

	/* The notifier writes the eventfd just before it marks the ticket DONE, so the loop can
	 * wake in between: keep the (level-triggered) source and look again on the next
	 * iteration. Dropping it here lost the result and the server timed out. */
	if (!t || atomic_load(&t->state) != TICKET_DONE)
		return 0;
	n->resolve_io = sd_event_source_disable_unref(n->resolve_io);
	n->ticket = NULL;
	int r = gai_error(&t->req);
	bool found = false;
	if (r == 0)
		for (struct addrinfo *ai = t->req.ar_result; ai; ai = ai->ai_next)
			if (ai->ai_family == AF_INET &&
			    ai->ai_addrlen >= sizeof(struct sockaddr_in)) {
				memcpy(&sv->addr, ai->ai_addr, sizeof(sv->addr));
				sv->addr.sin_port = htons(sv->port);
				found = true;
				break;
			}
	ticket_destroy(t);
	if (!found) {
		log_warning("STUN server not resolvable to IPv4, skipping", "server=%s error=%s",
			    sv->spec, r == 0 ? "no IPv4 address" : gai_strerror(r));
		server_next(n);
		return 0;
	}
	n->cur = sv->addr;
	if (send_request(n) < 0)
		server_next(n);
	return 0;
}

static int resolve_start(struct nat *n, struct server *sv)
{
	struct ticket *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	atomic_init(&t->state, TICKET_PENDING);
	t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	t->host = strdup(sv->host);
	if (t->efd < 0 || !t->host) {
		int r = t->efd < 0 ? negative_errno() : -ENOMEM;
		ticket_destroy(t);
		return r;
	}
	snprintf(t->service, sizeof(t->service), "%u", sv->port);
	t->hints = (struct addrinfo){.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM};
	t->req =
	    (struct gaicb){.ar_name = t->host, .ar_service = t->service, .ar_request = &t->hints};
	int r = sd_event_add_io(n->event, &n->resolve_io, t->efd, EPOLLIN, on_resolved, n);
	if (r < 0) {
		ticket_destroy(t);
		return r;
	}
	struct sigevent sev = {
	    .sigev_notify = SIGEV_THREAD,
	    .sigev_value.sival_ptr = t,
	    .sigev_notify_function = ticket_notify,
	};
	struct gaicb *list[] = {&t->req};
	r = getaddrinfo_a(GAI_NOWAIT, list, 1, &sev);
	if (r != 0) {
		n->resolve_io = sd_event_source_disable_unref(n->resolve_io);
		ticket_destroy(t);
		return r == EAI_MEMORY ? -ENOMEM : -EAGAIN;
	}
	n->ticket = t;
	return 0;
}

/* ---- cycle ----------------------------------------------------------------------------------- */

static int load_local_addresses(struct nat *n)
{
	if (n->local_override)
		return 0;
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) < 0)
		return negative_errno();
	n->n_local = 0;
	for (struct ifaddrs *i = ifa; i && n->n_local < NAT_MAX_LOCAL; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET)
			n->local[n->n_local++] = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
	freeifaddrs(ifa);
	return 0;
}

static void close_transport(struct nat *n)
{
	n->io = sd_event_source_disable_unref(n->io);
	n->fd = safe_close(n->fd);
}

static void persist(struct nat *n)
{
	if (!n->cache_path)
		return;
	_cleanup_free_ char *s = NULL;
	int r = nat_result_to_json(&n->result, &s);
	if (r >= 0)
		r = write_file_atomic(n->cache_path, s, strlen(s), 0600);
	if (r < 0)
		log_warning_errno(r, "cannot write NAT cache, ignoring", "path=%s err=%m",
				  n->cache_path);
}

static int on_refresh(sd_event_source *s, uint64_t usec, void *userdata);
static void cycle_begin(struct nat *n);

static void schedule_refresh(struct nat *n)
{
	if (n->mode != MODE_RAW)
		return;
	usec_t now = now_usec(CLOCK_MONOTONIC);
	usec_t at = MAX(n->cycle_start + n->refresh_interval, now);
	int r;
	if (n->refresh)
		r = sd_event_source_set_time(n->refresh, at) < 0
			? -EIO
			: sd_event_source_set_enabled(n->refresh, SD_EVENT_ONESHOT);
	else
		r = sd_event_add_time(n->event, &n->refresh, CLOCK_MONOTONIC, at, 0, on_refresh, n);
	if (r < 0)
		log_error_errno(r, "cannot schedule NAT refresh", "err=%m");
}

static void cycle_end(struct nat *n, bool have_b, const struct sockaddr_in *b)
{
	n->in_cycle = false;
	n->timer = sd_event_source_disable_unref(n->timer);
	resolve_cancel(n);

	if (!n->have_a) {
		if (n->have_result)
			log_warning(
			    "STUN discovery failed on all servers, keeping previous result");
		else
			log_warning("STUN discovery failed on all servers");
		if (n->mode == MODE_UDP) {
			close_transport(n);
			n->mode = MODE_OFF;
		}
		schedule_refresh(n);
		if (n->cb)
			n->cb(n, -EHOSTUNREACH, n->have_result ? &n->result : NULL, false,
			      n->userdata);
		return;
	}

	if (load_local_addresses(n) < 0)
		n->n_local = 0;
	struct nat_result res = {
	    .endpoint = n->a,
	    .type = nat_classify(&n->a, have_b ? b : NULL, n->listen_port, n->local, n->n_local),
	    .discovered_at = timestamp_now(),
	};
	bool changed = !n->have_result || !sin_eq(&res.endpoint, &n->result.endpoint) ||
		       res.type != n->result.type;
	char new_ep[INET_ADDRSTRLEN + 8], old_ep[INET_ADDRSTRLEN + 8] = "";
	struct sockaddr_storage ss = {0};
	memcpy(&ss, &res.endpoint, sizeof(res.endpoint));
	(void)endpoint_format(&ss, new_ep, sizeof(new_ep));
	if (n->have_result && !sin_eq(&res.endpoint, &n->result.endpoint)) {
		memcpy(&ss, &n->result.endpoint, sizeof(n->result.endpoint));
		(void)endpoint_format(&ss, old_ep, sizeof(old_ep));
		log_info("public endpoint changed", "old=%s new=%s nat_type=%s", old_ep, new_ep,
			 nat_type_to_string(res.type));
	} else if (changed)
		log_info("NAT discovered", "endpoint=%s nat_type=%s", new_ep,
			 nat_type_to_string(res.type));
	else
		log_debug("NAT unchanged", "endpoint=%s nat_type=%s", new_ep,
			  nat_type_to_string(res.type));
	n->result = res;
	n->have_result = true;
	persist(n);

	if (n->mode == MODE_UDP) {
		/* The listen port must be free for WireGuard now (§5.2 rule 2 fallback). */
		close_transport(n);
		n->mode = MODE_OFF;
	}
	schedule_refresh(n);
	if (n->cb)
		n->cb(n, 0, &n->result, changed, n->userdata);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct nat *n = userdata;
	usec_t now = now_usec(CLOCK_MONOTONIC);
	if (now >= n->server_deadline) {
		log_debug("STUN server did not answer", "server=%s sent=%u",
			  n->servers[n->idx].spec, n->n_sent);
		server_next(n);
		return 0;
	}
	if (n->querying && n->n_sent < ELEMENTSOF(retransmit_at) &&
	    now >= n->query_start + retransmit_at[n->n_sent]) {
		uint8_t req[STUN_HEADER_SIZE];
		stun_build_binding_request(n->txid, req);
		int r = n->mode == MODE_RAW
			    ? raw_udp_send(n->fd, n->listen_port, &n->cur, req, sizeof(req))
			    : (sendto(n->fd, req, sizeof(req), 0, (const struct sockaddr *)&n->cur,
				      sizeof(n->cur)) < 0
				   ? negative_errno()
				   : 0);
		if (r < 0)
			log_debug_errno(r, "STUN retransmission failed", "server=%s err=%m",
					n->servers[n->idx].spec);
		n->n_sent++;
	}
	if (arm_timer(n) < 0)
		server_next(n);
	return 0;
}

static int arm_timer(struct nat *n)
{
	usec_t at = n->server_deadline;
	if (n->querying && n->n_sent < ELEMENTSOF(retransmit_at))
		at = MIN(at, n->query_start + retransmit_at[n->n_sent]);
	if (n->timer) {
		int r = sd_event_source_set_time(n->timer, at);
		if (r < 0)
			return r;
		return sd_event_source_set_enabled(n->timer, SD_EVENT_ONESHOT);
	}
	return sd_event_add_time(n->event, &n->timer, CLOCK_MONOTONIC, at, 0, on_timer, n);
}

/* First transmission to n->cur with a fresh transaction id; the timer does the rest. */
static int send_request(struct nat *n)
{
	int r = stun_txid_random(n->txid);
	if (r < 0)
		return r;
	n->querying = true;
	n->n_sent = 0;
	n->query_start = now_usec(CLOCK_MONOTONIC);
	return on_timer(n->timer, 0, n) < 0 ? -EIO : 0;
}

/* Starts on server n->idx, or ends the cycle when the list is exhausted. */
static void server_try(struct nat *n)
{
	for (; n->idx < n->n_servers; n->idx++) {
		struct server *sv = &n->servers[n->idx];
		if (sv->skip)
			continue;
		n->querying = false;
		n->server_deadline = now_usec(CLOCK_MONOTONIC) + n->timeout;
		int r;
		if (sv->numeric) {
			n->cur = sv->addr;
			r = arm_timer(n);
			if (r >= 0)
				r = send_request(n);
		} else {
			r = resolve_start(n, sv);
			if (r >= 0)
				r = arm_timer(n);
		}
		if (r >= 0)
			return;
		resolve_cancel(n);
		log_warning_errno(r, "cannot query STUN server, skipping", "server=%s err=%m",
				  sv->spec);
	}
	cycle_end(n, false, NULL);
}

static void server_next(struct nat *n)
{
	resolve_cancel(n);
	n->querying = false;
	n->idx++;
	server_try(n);
}

static void got_answer(struct nat *n, const struct sockaddr_in *mapped)
{
	if (!n->have_a) {
		n->a = *mapped;
		n->have_a = true;
		server_next(n);
		return;
	}
	cycle_end(n, true, mapped);
}

static int on_readable(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct nat *n = userdata;
	uint8_t buf[STUN_MAX_MESSAGE];
	/* Bounded per wakeup: the raw socket sees every STUN datagram to the port. */
	for (int i = 0; i < 64 && n->fd >= 0; i++) {
		struct sockaddr_in src = {0};
		ssize_t len;
		if (n->mode == MODE_RAW)
			len = raw_udp_recv(n->fd, n->listen_port, &src, buf, sizeof(buf));
		else {
			socklen_t sl = sizeof(src);
			len = recvfrom(n->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC,
				       (struct sockaddr *)&src, &sl);
			if (len < 0)
				len = negative_errno();
			else if ((size_t)len > sizeof(buf))
				len = -ENOMSG;
		}
		if (len == -EAGAIN || len == -EWOULDBLOCK)
			break;
		if (len == -ENOMSG || len == -ECONNREFUSED)
			continue;
		if (len < 0) {
			log_debug_errno((int)len, "STUN receive failed", "err=%m");
			break;
		}
		if (!n->in_cycle || !n->querying)
			continue;
		struct sockaddr_in mapped;
		int r = stun_parse_binding_response(buf, (size_t)len, n->txid, &mapped);
		if (r == -ESRCH)
			continue; /* not ours: a stale transaction or someone else's */
		if (r < 0) {
			log_debug_errno(r, "STUN response rejected", "server=%s err=%m",
					n->servers[n->idx].spec);
			continue;
		}
		got_answer(n, &mapped);
		/* got_answer may have started the next transaction; keep reading for it. */
	}
	return 0;
}

static void cycle_begin(struct nat *n)
{
	if (n->in_cycle || n->mode == MODE_OFF)
		return;
	n->in_cycle = true;
	n->cycle_start = now_usec(CLOCK_MONOTONIC);
	n->have_a = false;
	n->idx = 0;
	server_try(n);
}

static int on_refresh(sd_event_source *s, uint64_t usec, void *userdata)
{
	cycle_begin(userdata);
	return 0;
}

int nat_refresh_now(struct nat *n)
{
	if (!n->started || n->mode == MODE_OFF)
		return -ESHUTDOWN;
	if (n->in_cycle)
		return -EBUSY;
	cycle_begin(n);
	return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static int open_udp(uint16_t port, int *ret_fd)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = negative_errno();
		safe_close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int nat_start(struct nat *n)
{
	if (n->started)
		return 0;
	int r = -EPERM;
	if (n->transport != NAT_TRANSPORT_UDP) {
		r = raw_udp_open(n->listen_port, &n->fd);
		if (r >= 0)
			n->mode = MODE_RAW;
		else if (n->transport == NAT_TRANSPORT_RAW || (r != -EPERM && r != -EACCES))
			return log_error_errno(r, "cannot open raw socket for STUN", "err=%m");
	}
	if (n->mode == MODE_OFF) {
		r = open_udp(n->listen_port, &n->fd);
		if (r < 0)
			return log_error_errno(r, "cannot bind the listen port for STUN",
					       "port=%u err=%m", n->listen_port);
		n->mode = MODE_UDP;
		if (n->transport == NAT_TRANSPORT_AUTO)
			log_warning("raw sockets unavailable (no CAP_NET_RAW): one STUN discovery "
				    "at start, refresh is disabled");
	}
	r = sd_event_add_io(n->event, &n->io, n->fd, EPOLLIN, on_readable, n);
	if (r < 0) {
		close_transport(n);
		n->mode = MODE_OFF;
		return log_error_errno(r, "cannot watch STUN socket", "err=%m");
	}
	n->started = true;
	cycle_begin(n);
	return 0;
}

void nat_stop(struct nat *n)
{
	if (!n)
		return;
	n->timer = sd_event_source_disable_unref(n->timer);
	n->refresh = sd_event_source_disable_unref(n->refresh);
	resolve_cancel(n);
	close_transport(n);
	n->mode = MODE_OFF;
	n->in_cycle = false;
	n->started = false;
}

struct nat *nat_free(struct nat *n)
{
	if (!n)
		return NULL;
	nat_stop(n);
	for (size_t i = 0; i < n->n_servers; i++) {
		free(n->servers[i].spec);
		free(n->servers[i].host);
	}
	free(n->local);
	free(n->cache_path);
	sd_event_unref(n->event);
	free(n);
	return NULL;
}

static void load_cache(struct nat *n)
{
	_cleanup_free_ char *s = NULL;
	size_t len;
	int r = read_file_full(n->cache_path, 4096, &s, &len);
	if (r == -ENOENT)
		return;
	if (r >= 0)
		r = nat_result_from_json(s, len, &n->result);
	if (r < 0) {
		log_warning_errno(r, "NAT cache unreadable, ignoring", "path=%s err=%m",
				  n->cache_path);
		(void)file_move_corrupt(n->cache_path);
		return;
	}
	n->have_result = true;
}

int nat_new(sd_event *event, const struct nat_config *c, nat_result_fn cb, void *userdata,
	    struct nat **ret)
{
	if (!event || !c || !ret || c->listen_port == 0 || c->n_stun_servers == 0 ||
	    c->n_stun_servers > NAT_MAX_SERVERS || c->timeout == 0 || c->refresh_interval == 0 ||
	    c->n_local_addresses > NAT_MAX_LOCAL)
		return -EINVAL;
	_cleanup_(nat_freep) struct nat *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->event = sd_event_ref(event);
	n->fd = -EBADF;
	n->cb = cb;
	n->userdata = userdata;
	n->listen_port = c->listen_port;
	n->timeout = c->timeout;
	n->refresh_interval = c->refresh_interval;
	n->transport = c->transport;
	n->local = calloc(NAT_MAX_LOCAL, sizeof(*n->local));
	if (!n->local)
		return -ENOMEM;
	if (c->local_addresses) {
		memcpy(n->local, c->local_addresses, c->n_local_addresses * sizeof(*n->local));
		n->n_local = c->n_local_addresses;
		n->local_override = true;
	}
	for (size_t i = 0; i < c->n_stun_servers; i++) {
		struct server *sv = &n->servers[n->n_servers++];
		if (!c->stun_servers[i])
			return -EINVAL;
		sv->spec = strdup(c->stun_servers[i]);
		if (!sv->spec)
			return -ENOMEM;
		int r = hostport_parse(c->stun_servers[i], &sv->host, &sv->port);
		if (r < 0)
			return r == -ENOMEM ? r : -EINVAL;
		struct in_addr a4;
		struct in6_addr a6;
		if (inet_pton(AF_INET, sv->host, &a4) == 1) {
			sv->numeric = true;
			sv->addr = (struct sockaddr_in){
			    .sin_family = AF_INET, .sin_port = htons(sv->port), .sin_addr = a4};
		} else if (inet_pton(AF_INET6, sv->host, &a6) == 1)
			sv->skip = true; /* §5.2 rule 1: IPv4 only */
	}
	if (c->cache_path) {
		n->cache_path = strdup(c->cache_path);
		if (!n->cache_path)
			return -ENOMEM;
		load_cache(n);
	}
	*ret = TAKE_PTR(n);
	return 0;
}

bool nat_holds_listen_port(const struct nat *n)
{
	return n->mode == MODE_UDP;
}

int nat_get_result(const struct nat *n, struct nat_result *ret)
{
	if (!n->have_result)
		return -ENODATA;
	*ret = n->result;
	return 0;
}

int nat_status_json(const struct nat *n, json_t **ret)
{
	static const char *const mode_str[] = {
	    [MODE_OFF] = "off", [MODE_RAW] = "raw", [MODE_UDP] = "udp"};
	json_t *ep = json_null(), *type = json_null(), *at = json_null();
	if (n->have_result) {
		char buf[64], ts[RFC3339_MAX];
		struct sockaddr_storage ss = {0};
		memcpy(&ss, &n->result.endpoint, sizeof(n->result.endpoint));
		if (endpoint_format(&ss, buf, sizeof(buf)) >= 0)
			ep = json_string(buf);
		type = json_string(nat_type_to_string(n->result.type));
		if (rfc3339_format(n->result.discovered_at, 0, ts) >= 0)
			at = json_string(ts);
	}
	json_t *j =
	    json_pack("{s:o?, s:o?, s:o?, s:s, s:b}", "endpoint", ep, "type", type, "discovered_at",
		      at, "transport", mode_str[n->mode], "refresh", n->mode == MODE_RAW);
	if (!j)
		return -ENOMEM;
	*ret = j;
	return 0;
}
