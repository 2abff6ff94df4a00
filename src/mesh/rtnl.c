/* Netlink request/ack helper and rtnetlink link/address/route operations (see rtnl.h). */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "mesh/rtnl.h"
#include "shared/macro.h"

#define NL_TIMEOUT_SEC 5
/* libmnl 1.0.4 lacks NL_RECV_SIZE; dumps want more than a page per datagram. */
#define NL_RECV_SIZE 32768

struct nlsock {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	uint8_t buf[NL_RECV_SIZE];
};

int nlsock_open(int bus, struct nlsock **ret)
{
	struct timeval tv = { .tv_sec = NL_TIMEOUT_SEC };
	struct nlsock *s;
	int one = 1;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->nl = mnl_socket_open2(bus, SOCK_CLOEXEC);
	if (!s->nl) {
		int r = negative_errno();
		free(s);
		return r;
	}
	if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = negative_errno();
		nlsock_free(s);
		return r;
	}
	/* Extended ACKs and capped ACKs keep error replies small; failures are harmless. */
	(void)mnl_socket_setsockopt(s->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	(void)setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	s->portid = mnl_socket_get_portid(s->nl);
	s->seq = (uint32_t)time(NULL);
	*ret = s;
	return 0;
}

struct nlsock *nlsock_free(struct nlsock *s)
{
	if (!s)
		return NULL;
	if (s->nl)
		mnl_socket_close(s->nl);
	/* The buffer may have held WireGuard keys from a dump. */
	explicit_bzero(s->buf, sizeof(s->buf));
	free(s);
	return NULL;
}

uint32_t nlsock_next_seq(struct nlsock *s)
{
	return ++s->seq;
}

struct cb_adapter {
	int (*cb)(const struct nlmsghdr *nlh, void *userdata);
	void *userdata;
	int error;
};

static int adapter_cb(const struct nlmsghdr *nlh, void *data)
{
	struct cb_adapter *a = data;
	int r;

	if (!a->cb)
		return MNL_CB_OK;
	r = a->cb(nlh, a->userdata);
	if (r < 0) {
		a->error = r;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

/* One datagram into s->buf; the SO_RCVTIMEO timeout surfaces as EAGAIN and reads as -ETIMEDOUT. */
static ssize_t nlsock_recv(struct nlsock *s)
{
	ssize_t n = mnl_socket_recvfrom(s->nl, s->buf, sizeof(s->buf));

	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : negative_errno();
	return n;
}

int nlsock_request(struct nlsock *s, const struct nlmsghdr *nlh,
		   int (*cb)(const struct nlmsghdr *nlh, void *userdata), void *userdata)
{
	struct cb_adapter a = { cb, userdata, 0 };
	uint32_t seq = nlh->nlmsg_seq;

	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return negative_errno();
	for (;;) {
		ssize_t n = nlsock_recv(s);
		int r;

		if (n < 0)
			return (int)n;
		errno = 0;
		r = mnl_cb_run(s->buf, (size_t)n, seq, s->portid, adapter_cb, &a);
		if (r == MNL_CB_ERROR)
			return a.error < 0 ? a.error : negative_errno();
		if (r == MNL_CB_STOP)
			return 0;
	}
}

int nlsock_dump(struct nlsock *s, const struct nlmsghdr *nlh,
		int (*feed)(const void *buf, size_t len, void *userdata), void *userdata)
{
	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return negative_errno();
	for (;;) {
		ssize_t n = nlsock_recv(s);
		int r;

		if (n < 0)
			return (int)n;
		r = feed(s->buf, (size_t)n, userdata);
		if (r != 0)
			return r < 0 ? r : 0;
	}
}

/* Single requests are built in the first REQ_MAX bytes of s->buf (see request_copy). */
#define REQ_MAX 4096

/* Starts a request in a cleared s->buf (header in *ret_nlh) and returns its zeroed family header
 * of hdrlen bytes; NLM_F_REQUEST is implied, everything else (NLM_F_ACK, NLM_F_DUMP, ...) is in
 * flags. */
static void *msg_start(struct nlsock *s, uint16_t type, uint16_t flags, size_t hdrlen,
		       struct nlmsghdr **ret_nlh)
{
	struct nlmsghdr *nlh;

	memset(s->buf, 0, REQ_MAX);
	nlh = mnl_nlmsg_put_header(s->buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = nlsock_next_seq(s);
	*ret_nlh = nlh;
	return mnl_nlmsg_put_extra_header(nlh, hdrlen);
}

/* ---- links ---- */

static struct nlmsghdr *link_msg(struct nlsock *s, uint16_t type, uint16_t flags,
				 uint32_t ifindex)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;

	ifi = msg_start(s, type, NLM_F_ACK | flags, sizeof(*ifi), &nlh);
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	return nlh;
}

/* Requests are built in s->buf and replies land there too: copy the request out first. */
static int request_copy(struct nlsock *s, struct nlmsghdr *nlh,
			int (*cb)(const struct nlmsghdr *, void *), void *userdata)
{
	uint8_t req[REQ_MAX];

	memcpy(req, nlh, nlh->nlmsg_len);
	return nlsock_request(s, (const struct nlmsghdr *)req, cb, userdata);
}

static int linkinfo_cb(const struct nlattr *a, void *data)
{
	struct rtnl_link *l = data;

	if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_STRING) >= 0) {
		size_t n = MIN((size_t)mnl_attr_get_payload_len(a), sizeof(l->kind) - 1);
		memcpy(l->kind, mnl_attr_get_payload(a), n);
		l->kind[n] = '\0';
		l->kind[strnlen(l->kind, n)] = '\0';
	}
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	struct rtnl_link *l = data;

	switch (mnl_attr_get_type(a)) {
	case IFLA_MTU:
		if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
			l->mtu = mnl_attr_get_u32(a);
		break;
	case IFLA_LINKINFO:
		(void)mnl_attr_parse_nested(a, linkinfo_cb, l);
		break;
	}
	return MNL_CB_OK;
}

static int link_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rtnl_link *l = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	l->ifindex = (uint32_t)ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	return mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, l) < 0 ? -EBADMSG : 0;
}

int rtnl_link_get(struct nlsock *s, const char *ifname, struct rtnl_link *ret)
{
	struct rtnl_link l = {};
	struct nlmsghdr *nlh;
	int r;

	if (strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	/* With NLM_F_ACK the kernel follows the RTM_NEWLINK reply with an ACK, which ends the
	 * exchange in nlsock_request. */
	nlh = link_msg(s, RTM_GETLINK, 0, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	r = request_copy(s, nlh, link_reply_cb, &l);
	if (r < 0)
		return r;
	if (l.ifindex == 0)
		return -ENODEV;
	*ret = l;
	return 0;
}

int rtnl_link_create_wireguard(struct nlsock *s, const char *ifname)
{
	struct nlmsghdr *nlh;
	struct nlattr *info;

	if (strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	nlh = link_msg(s, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "wireguard");
	mnl_attr_nest_end(nlh, info);
	return request_copy(s, nlh, NULL, NULL);
}

int rtnl_link_delete(struct nlsock *s, uint32_t ifindex)
{
	struct nlmsghdr *nlh = link_msg(s, RTM_DELLINK, 0, ifindex);

	return request_copy(s, nlh, NULL, NULL);
}

int rtnl_link_configure(struct nlsock *s, uint32_t ifindex, uint32_t mtu)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct nlattr *spec, *af;
	int r;

	/* Separate request: it fails with IPv6 disabled, which must not stop the link coming up. */
	nlh = link_msg(s, RTM_NEWLINK, 0, ifindex);
	spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	af = mnl_attr_nest_start(nlh, AF_INET6);
	mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
	mnl_attr_nest_end(nlh, af);
	mnl_attr_nest_end(nlh, spec);
	(void)request_copy(s, nlh, NULL, NULL);

	nlh = link_msg(s, RTM_NEWLINK, 0, ifindex);
	ifi = mnl_nlmsg_get_payload(nlh);
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = IFF_UP;
	if (mtu > 0)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	r = request_copy(s, nlh, NULL, NULL);
	return r;
}

/* ---- addresses ---- */

struct addr_entry {
	uint8_t family, prefixlen;
	uint8_t addr[16];
	bool is_target;
};

struct addr_list {
	uint32_t ifindex;
	struct in_addr target;
	struct addr_entry *e;
	size_t n;
};

/* Indexes a message's attributes by type into tb[0..max]; unknown (newer) types are skipped. */
struct attr_table {
	const struct nlattr **tb;
	uint16_t max;
};

static int attr_table_cb(const struct nlattr *a, void *data)
{
	const struct attr_table *t = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= t->max)
		t->tb[type] = a;
	return MNL_CB_OK;
}

static int addr_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_list *l = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1] = {};
	const struct nlattr *a;
	struct addr_entry *ne, e = {};
	size_t alen;

	if (nlh->nlmsg_type != RTM_NEWADDR || ifa->ifa_index != l->ifindex)
		return 0;
	if (mnl_attr_parse(nlh, sizeof(*ifa), attr_table_cb,
			   &(struct attr_table){ tb, IFA_MAX }) < 0)
		return -EBADMSG;
	/* IPv4 keeps the own address in IFA_LOCAL (IFA_ADDRESS is the peer on p2p links). */
	a = ifa->ifa_family == AF_INET && tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	alen = ifa->ifa_family == AF_INET ? 4 : 16;
	if (!a || mnl_attr_get_payload_len(a) != alen)
		return 0;
	e.family = ifa->ifa_family;
	e.prefixlen = ifa->ifa_prefixlen;
	memcpy(e.addr, mnl_attr_get_payload(a), alen);
	e.is_target = e.family == AF_INET && e.prefixlen == 32 &&
		      memcmp(e.addr, &l->target, 4) == 0 &&
		      (!tb[IFA_ADDRESS] || memcmp(mnl_attr_get_payload(tb[IFA_ADDRESS]), &l->target,
						  4) == 0);
	ne = reallocarray(l->e, l->n + 1, sizeof(*ne));
	if (!ne)
		return -ENOMEM;
	l->e = ne;
	l->e[l->n++] = e;
	return 0;
}

static int addr_request(struct nlsock *s, uint16_t type, uint16_t flags, uint32_t ifindex,
			const struct addr_entry *e)
{
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	size_t alen = e->family == AF_INET ? 4 : 16;

	ifa = msg_start(s, type, NLM_F_ACK | flags, sizeof(*ifa), &nlh);
	ifa->ifa_family = e->family;
	ifa->ifa_prefixlen = e->prefixlen;
	ifa->ifa_index = ifindex;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	if (e->family == AF_INET)
		mnl_attr_put(nlh, IFA_LOCAL, alen, e->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, alen, e->addr);
	return request_copy(s, nlh, NULL, NULL);
}

int rtnl_addr_sync(struct nlsock *s, uint32_t ifindex, struct in_addr addr, unsigned *ret_changes)
{
	struct addr_list l = { .ifindex = ifindex, .target = addr };
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	bool have = false;
	unsigned changes = 0;
	int r;

	ifa = msg_start(s, RTM_GETADDR, NLM_F_DUMP, sizeof(*ifa), &nlh);
	ifa->ifa_family = AF_UNSPEC;
	r = request_copy(s, nlh, addr_dump_cb, &l);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		if (l.e[i].is_target) {
			have = true;
			continue;
		}
		r = addr_request(s, RTM_DELADDR, 0, ifindex, &l.e[i]);
		if (r < 0 && r != -EADDRNOTAVAIL)
			goto out;
		changes++;
	}
	if (!have) {
		struct addr_entry e = { .family = AF_INET, .prefixlen = 32 };
		memcpy(e.addr, &addr, 4);
		r = addr_request(s, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, &e);
		if (r < 0)
			goto out;
		changes++;
	}
	r = 0;
	if (ret_changes)
		*ret_changes = changes;
out:
	free(l.e);
	return r;
}

/* ---- routes ---- */

struct route_list {
	uint32_t ifindex;
	uint8_t proto;
	struct wg_prefix *p;
	size_t n;
};

static int route_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_list *l = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = {};
	struct wg_prefix pf = {};
	struct wg_prefix *np;
	uint32_t table;
	size_t alen;

	if (nlh->nlmsg_type != RTM_NEWROUTE || rtm->rtm_protocol != l->proto ||
	    (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6))
		return 0;
	if (mnl_attr_parse(nlh, sizeof(*rtm), attr_table_cb,
			   &(struct attr_table){ tb, RTA_MAX }) < 0)
		return -EBADMSG;
	table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (table != RT_TABLE_MAIN || !tb[RTA_OIF] || mnl_attr_get_u32(tb[RTA_OIF]) != l->ifindex)
		return 0;
	alen = rtm->rtm_family == AF_INET ? 4 : 16;
	pf.family = rtm->rtm_family;
	pf.cidr = rtm->rtm_dst_len;
	if (pf.cidr > alen * 8)
		return -EBADMSG;
	if (tb[RTA_DST]) {
		if (mnl_attr_get_payload_len(tb[RTA_DST]) != alen)
			return -EBADMSG;
		memcpy(&pf.addr, mnl_attr_get_payload(tb[RTA_DST]), alen);
	}
	wg_prefix_mask(&pf);
	np = reallocarray(l->p, l->n + 1, sizeof(*np));
	if (!np)
		return -ENOMEM;
	l->p = np;
	l->p[l->n++] = pf;
	return 0;
}

int rtnl_route_list(struct nlsock *s, uint32_t ifindex, uint8_t proto, struct wg_prefix **ret,
		    size_t *ret_n)
{
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	struct route_list l = { .ifindex = ifindex, .proto = proto };

	for (size_t i = 0; i < ELEMENTSOF(families); i++) {
		struct nlmsghdr *nlh;
		struct rtmsg *rtm;
		int r;

		rtm = msg_start(s, RTM_GETROUTE, NLM_F_DUMP, sizeof(*rtm), &nlh);
		rtm->rtm_family = families[i];
		r = request_copy(s, nlh, route_dump_cb, &l);
		/* No IPv6 in this kernel: nothing to list there. */
		if (r == -EAFNOSUPPORT)
			continue;
		if (r < 0) {
			free(l.p);
			return r;
		}
	}
	*ret = l.p;
	*ret_n = l.n;
	return 0;
}

/* Fills one route request at nlh (an already put header); shared by single and batched use. */
static void route_msg_fill(struct nlmsghdr *nlh, uint16_t type, uint16_t flags, uint32_t seq,
			   uint32_t ifindex, const struct wg_prefix *p, uint8_t proto)
{
	struct rtmsg *rtm;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = p->family;
	rtm->rtm_dst_len = p->cidr;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = proto;
	/* IPv6 has no link scope for routes; the kernel stores universe there. */
	rtm->rtm_scope = p->family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	if (p->cidr > 0)
		mnl_attr_put(nlh, RTA_DST, p->family == AF_INET ? 4 : 16, &p->addr);
	mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
}

static int route_request(struct nlsock *s, uint16_t type, uint16_t flags, uint32_t ifindex,
			 const struct wg_prefix *p, uint8_t proto)
{
	struct nlmsghdr *nlh;

	memset(s->buf, 0, REQ_MAX);
	nlh = mnl_nlmsg_put_header(s->buf);
	route_msg_fill(nlh, type, NLM_F_ACK | flags, nlsock_next_seq(s), ifindex, p, proto);
	return request_copy(s, nlh, NULL, NULL);
}

int rtnl_route_batch(struct nlsock *s, uint32_t ifindex, uint8_t proto,
		     const struct rtnl_route_op *ops, size_t n, int *results)
{
	/* Every message is at most 16 + 12 + 20 + 8 bytes; 64 bytes each is plenty. */
	_Alignas(struct nlmsghdr) uint8_t req[RTNL_ROUTE_BATCH_MAX * 64];
	uint32_t first, last;
	size_t len = 0;

	if (n == 0)
		return 0;
	if (n > RTNL_ROUTE_BATCH_MAX)
		return -E2BIG;
	memset(req, 0, sizeof(req));
	first = s->seq + 1;
	for (size_t i = 0; i < n; i++) {
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(req + len);
		/* Only the last message asks for an ACK: successes stay silent, failures still
		 * answer with an error, and the final ACK says everything before it is done. */
		uint16_t flags = (ops[i].add ? NLM_F_CREATE | NLM_F_EXCL : 0) |
				 (i == n - 1 ? NLM_F_ACK : 0);

		route_msg_fill(nlh, ops[i].add ? RTM_NEWROUTE : RTM_DELROUTE, flags,
			       nlsock_next_seq(s), ifindex, ops[i].prefix, proto);
		len += NLMSG_ALIGN(nlh->nlmsg_len);
		results[i] = 0;
	}
	last = s->seq;
	if (mnl_socket_sendto(s->nl, req, len) < 0)
		return negative_errno();
	for (;;) {
		ssize_t got = nlsock_recv(s);
		int k;

		if (got < 0)
			return (int)got;
		k = (int)got;
		for (const struct nlmsghdr *nlh = (const void *)s->buf; mnl_nlmsg_ok(nlh, k);
		     nlh = mnl_nlmsg_next(nlh, &k)) {
			const struct nlmsgerr *e;
			size_t i;
			int r;

			/* mnl_nlmsg_ok() compares (int)nlmsg_len: refuse lengths beyond what was
			 * received (see wg_genl_parse_dump) instead of walking past the buffer. */
			if (nlh->nlmsg_len > (uint32_t)k)
				return -EBADMSG;
			if (nlh->nlmsg_pid != s->portid || nlh->nlmsg_type != NLMSG_ERROR ||
			    nlh->nlmsg_seq - first > last - first)
				continue; /* not an answer to this batch */
			if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(e->error)))
				return -EBADMSG; /* an error message too short to hold the error */
			e = mnl_nlmsg_get_payload(nlh);
			i = nlh->nlmsg_seq - first;
			r = e->error;
			if ((ops[i].add && r == -EEXIST) || (!ops[i].add && r == -ESRCH))
				r = 0;
			results[i] = r;
			if (nlh->nlmsg_seq == last)
				return 0;
		}
	}
}

int rtnl_route_add(struct nlsock *s, uint32_t ifindex, const struct wg_prefix *p, uint8_t proto)
{
	int r = route_request(s, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ifindex, p, proto);

	return r == -EEXIST ? 0 : r;
}

int rtnl_route_del(struct nlsock *s, uint32_t ifindex, const struct wg_prefix *p, uint8_t proto)
{
	int r = route_request(s, RTM_DELROUTE, 0, ifindex, p, proto);

	return r == -ESRCH ? 0 : r;
}

static int sorted_copy(const struct wg_prefix *in, size_t n, struct wg_prefix **ret, size_t *ret_n)
{
	struct wg_prefix *c = NULL;

	if (n > 0) {
		c = calloc(n, sizeof(*c));
		if (!c)
			return -ENOMEM;
		memcpy(c, in, n * sizeof(*c));
		for (size_t i = 0; i < n; i++)
			wg_prefix_mask(&c[i]);
	}
	*ret_n = wg_prefixes_normalise(c, n);
	*ret = c;
	return 0;
}

int route_diff(const struct wg_prefix *want, size_t n_want, const struct wg_prefix *have,
	       size_t n_have, struct wg_prefix **ret_add, size_t *ret_n_add,
	       struct wg_prefix **ret_del, size_t *ret_n_del)
{
	_cleanup_free_ struct wg_prefix *w = NULL, *h = NULL, *add = NULL, *del = NULL;
	size_t nw, nh, na = 0, nd = 0, i = 0, j = 0;
	int r;

	r = sorted_copy(want, n_want, &w, &nw);
	if (r < 0)
		return r;
	r = sorted_copy(have, n_have, &h, &nh);
	if (r < 0)
		return r;
	add = calloc(MAX(nw, (size_t)1), sizeof(*add));
	del = calloc(MAX(nh, (size_t)1), sizeof(*del));
	if (!add || !del)
		return -ENOMEM;
	/* Merge walk over the two sorted sets. */
	while (i < nw || j < nh) {
		int c = i >= nw ? 1 : j >= nh ? -1 : wg_prefix_compare(&w[i], &h[j]);
		if (c < 0)
			add[na++] = w[i++];
		else if (c > 0)
			del[nd++] = h[j++];
		else
			i++, j++;
	}
	*ret_add = TAKE_PTR(add);
	*ret_n_add = na;
	*ret_del = TAKE_PTR(del);
	*ret_n_del = nd;
	return 0;
}
