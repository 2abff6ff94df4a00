/* WireGuard generic-netlink message builders and dump parser (pure, see wg-genl.h). */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <string.h>

#include "mesh/wg-genl.h"
#include "shared/macro.h"

/* Matches struct __kernel_timespec without pulling in linux/time_types.h. */
struct kernel_timespec {
	int64_t tv_sec;
	long long tv_nsec;
};

static struct nlmsghdr *genl_put_header(void *buf, size_t size, uint16_t type, uint16_t flags,
					uint32_t seq, uint8_t cmd, uint8_t version)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;

	if (size < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct genlmsghdr)))
		return NULL;
	/* libmnl leaves attribute padding as it finds it; zero everything so messages are
	 * deterministic and carry no stale bytes (previous messages held keys). */
	memset(buf, 0, size);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = version;
	return nlh;
}

int wg_genl_build_getfamily(void *buf, size_t size, uint32_t seq)
{
	struct nlmsghdr *nlh = genl_put_header(buf, size, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK,
					       seq, CTRL_CMD_GETFAMILY, 1);

	if (!nlh || !mnl_attr_put_strz_check(nlh, size, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME))
		return -EMSGSIZE;
	return (int)nlh->nlmsg_len;
}

static int family_attr_cb(const struct nlattr *a, void *data)
{
	uint16_t *id = data;

	if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_validate(a, MNL_TYPE_U16) >= 0)
		*id = mnl_attr_get_u16(a);
	return MNL_CB_OK;
}

int wg_genl_parse_family(const struct nlmsghdr *nlh, uint16_t *ret_id)
{
	uint16_t id = 0;

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(struct genlmsghdr))
		return -EBADMSG;
	if (mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr_cb, &id) < 0 || id == 0)
		return -EBADMSG;
	*ret_id = id;
	return 0;
}

int wg_genl_build_get_device(void *buf, size_t size, uint16_t family, uint32_t seq,
			     const char *ifname)
{
	struct nlmsghdr *nlh;

	if (!ifname || strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	nlh = genl_put_header(buf, size, family, NLM_F_REQUEST | NLM_F_DUMP, seq,
			      WG_CMD_GET_DEVICE, WG_GENL_VERSION);
	if (!nlh || !mnl_attr_put_strz_check(nlh, size, WGDEVICE_A_IFNAME, ifname))
		return -EMSGSIZE;
	return (int)nlh->nlmsg_len;
}

static bool put_device_fields(struct nlmsghdr *nlh, size_t size, const struct wg_change_set *cs)
{
	const struct wg_device *d = cs->desired;

	if ((cs->device_fields & WG_DEVICE_FIELD_PRIVATE_KEY) &&
	    !mnl_attr_put_check(nlh, size, WGDEVICE_A_PRIVATE_KEY, WG_KEY_SIZE, d->private_key))
		return false;
	if ((cs->device_fields & WG_DEVICE_FIELD_LISTEN_PORT) &&
	    !mnl_attr_put_u16_check(nlh, size, WGDEVICE_A_LISTEN_PORT, d->listen_port))
		return false;
	if ((cs->device_fields & WG_DEVICE_FIELD_FWMARK) &&
	    !mnl_attr_put_u32_check(nlh, size, WGDEVICE_A_FWMARK, d->fwmark))
		return false;
	return true;
}

/* The part of a peer written only in its first fragment. */
static bool put_peer_head(struct nlmsghdr *nlh, size_t size, const struct wg_peer_change *c)
{
	static const uint8_t zero[WG_KEY_SIZE];
	const struct wg_peer *p = c->peer;

	if (c->fields & WG_PEER_FIELD_PSK) {
		if (!mnl_attr_put_check(nlh, size, WGPEER_A_PRESHARED_KEY, WG_KEY_SIZE,
					p->has_psk ? p->preshared_key : zero))
			return false;
	}
	if ((c->fields & WG_PEER_FIELD_ENDPOINT) && p->has_endpoint) {
		size_t len = p->endpoint.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							       : sizeof(struct sockaddr_in);
		if (!mnl_attr_put_check(nlh, size, WGPEER_A_ENDPOINT, len, &p->endpoint))
			return false;
	}
	if ((c->fields & WG_PEER_FIELD_KEEPALIVE) &&
	    !mnl_attr_put_u16_check(nlh, size, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
				    p->persistent_keepalive))
		return false;
	return true;
}

static uint32_t peer_flags(const struct wg_peer_change *c, bool continuation)
{
	switch (c->op) {
	case WG_PEER_OP_REMOVE:
		return WGPEER_F_REMOVE_ME;
	case WG_PEER_OP_UPDATE:
		/* UPDATE_ONLY: a peer removed behind our back is not recreated half-configured;
		 * the next reconcile adds it whole. */
		return WGPEER_F_UPDATE_ONLY |
		       (!continuation && (c->fields & WG_PEER_FIELD_ALLOWED_IPS)
				? WGPEER_F_REPLACE_ALLOWEDIPS
				: 0);
	case WG_PEER_OP_ADD:
		return continuation ? 0 : WGPEER_F_REPLACE_ALLOWEDIPS;
	}
	return 0;
}

static bool put_allowed_ip(struct nlmsghdr *nlh, size_t size, uint16_t index,
			   const struct wg_prefix *a)
{
	struct nlattr *nest = mnl_attr_nest_start_check(nlh, size, index);

	if (!nest)
		return false;
	if (!mnl_attr_put_u16_check(nlh, size, WGALLOWEDIP_A_FAMILY, a->family) ||
	    !mnl_attr_put_check(nlh, size, WGALLOWEDIP_A_IPADDR, a->family == AF_INET ? 4 : 16,
				&a->addr) ||
	    !mnl_attr_put_u8_check(nlh, size, WGALLOWEDIP_A_CIDR_MASK, a->cidr)) {
		mnl_attr_nest_cancel(nlh, nest);
		return false;
	}
	mnl_attr_nest_end(nlh, nest);
	return true;
}

int wg_genl_build_set_device(void *buf, size_t size, uint16_t family, uint32_t seq,
			     const char *ifname, const struct wg_change_set *cs,
			     struct wg_genl_cursor *cur, size_t *ret_len)
{
	struct nlattr *peers, *peer = NULL, *aips = NULL;
	struct nlmsghdr *nlh;
	bool progress = false;
	uint16_t idx = 0;

	if (!ifname || strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	nlh = genl_put_header(buf, size, family, NLM_F_REQUEST | NLM_F_ACK, seq,
			      WG_CMD_SET_DEVICE, WG_GENL_VERSION);
	if (!nlh || !mnl_attr_put_strz_check(nlh, size, WGDEVICE_A_IFNAME, ifname))
		return -EMSGSIZE;
	if (!cur->device_done) {
		if (!put_device_fields(nlh, size, cs))
			return -EMSGSIZE;
		cur->device_done = true;
		progress = cs->device_fields != 0;
	}
	if (cur->change >= cs->n_changes)
		goto done;

	peers = mnl_attr_nest_start_check(nlh, size, WGDEVICE_A_PEERS);
	if (!peers)
		goto full;
	for (; cur->change < cs->n_changes; idx++) {
		const struct wg_peer_change *c = &cs->changes[cur->change];
		const struct wg_peer *p = c->peer;
		bool cont = cur->peer_begun;
		uint32_t flags = peer_flags(c, cont);
		uint16_t j = 0;

		peer = mnl_attr_nest_start_check(nlh, size, idx);
		if (!peer)
			goto full_peer;
		if (!mnl_attr_put_check(nlh, size, WGPEER_A_PUBLIC_KEY, WG_KEY_SIZE, p->public_key) ||
		    (flags && !mnl_attr_put_u32_check(nlh, size, WGPEER_A_FLAGS, flags)) ||
		    (!cont && !put_peer_head(nlh, size, c)))
			goto full_peer;
		if ((c->fields & WG_PEER_FIELD_ALLOWED_IPS) && cur->aip < p->n_allowed_ips) {
			aips = mnl_attr_nest_start_check(nlh, size, WGPEER_A_ALLOWEDIPS);
			if (!aips)
				goto full_aips;
			for (; cur->aip < p->n_allowed_ips; cur->aip++, j++)
				if (!put_allowed_ip(nlh, size, j, &p->allowed_ips[cur->aip]))
					goto full_aips;
			mnl_attr_nest_end(nlh, aips);
			aips = NULL;
		}
		mnl_attr_nest_end(nlh, peer);
		peer = NULL;
		progress = true;
		cur->change++;
		cur->aip = 0;
		cur->peer_begun = false;
		continue;

	full_aips:
		/* Keep what fit of this peer; continue it in the next message. A continuation
		 * that could not add a single allowed IP made no progress and is dropped. */
		if (aips && j == 0) {
			mnl_attr_nest_cancel(nlh, aips);
			aips = NULL;
		}
		if (j == 0 && cont)
			goto full_peer;
		if (aips)
			mnl_attr_nest_end(nlh, aips);
		mnl_attr_nest_end(nlh, peer);
		cur->peer_begun = true;
		mnl_attr_nest_end(nlh, peers);
		*ret_len = nlh->nlmsg_len;
		return 1;
	}
	mnl_attr_nest_end(nlh, peers);
done:
	*ret_len = nlh->nlmsg_len;
	return 0;

full_peer:
	if (peer)
		mnl_attr_nest_cancel(nlh, peer);
	if (idx == 0)
		mnl_attr_nest_cancel(nlh, peers);
	else
		mnl_attr_nest_end(nlh, peers);
	progress = progress || idx > 0;
full:
	if (!progress)
		return -EMSGSIZE;
	*ret_len = nlh->nlmsg_len;
	return 1;
}

/* ---- parsing ---- */

struct attr_table {
	const struct nlattr *tb[16];
};

static int table_cb(const struct nlattr *a, void *data)
{
	struct attr_table *t = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type < ELEMENTSOF(t->tb))
		t->tb[type] = a;
	return MNL_CB_OK;
}

static bool attr_len_is(const struct nlattr *a, size_t len)
{
	return mnl_attr_get_payload_len(a) == len;
}

static int parse_allowed_ip(const struct nlattr *nest, struct wg_peer *p)
{
	struct attr_table t = {};
	struct wg_prefix pf = {};
	uint16_t fam;

	if (mnl_attr_parse_nested(nest, table_cb, &t) < 0)
		return -EBADMSG;
	if (!t.tb[WGALLOWEDIP_A_FAMILY] || !t.tb[WGALLOWEDIP_A_IPADDR] ||
	    !t.tb[WGALLOWEDIP_A_CIDR_MASK] || !attr_len_is(t.tb[WGALLOWEDIP_A_FAMILY], 2) ||
	    !attr_len_is(t.tb[WGALLOWEDIP_A_CIDR_MASK], 1))
		return -EBADMSG;
	fam = mnl_attr_get_u16(t.tb[WGALLOWEDIP_A_FAMILY]);
	pf.cidr = mnl_attr_get_u8(t.tb[WGALLOWEDIP_A_CIDR_MASK]);
	if (fam == AF_INET && attr_len_is(t.tb[WGALLOWEDIP_A_IPADDR], 4) && pf.cidr <= 32)
		pf.family = AF_INET;
	else if (fam == AF_INET6 && attr_len_is(t.tb[WGALLOWEDIP_A_IPADDR], 16) && pf.cidr <= 128)
		pf.family = AF_INET6;
	else
		return -EBADMSG;
	memcpy(&pf.addr, mnl_attr_get_payload(t.tb[WGALLOWEDIP_A_IPADDR]),
	       pf.family == AF_INET ? 4 : 16);
	wg_prefix_mask(&pf);
	return wg_peer_add_allowed_ip(p, &pf);
}

static int parse_peer(const struct nlattr *nest, struct wg_device *dev)
{
	struct attr_table t = {};
	const struct nlattr *a;
	struct wg_peer *p;
	int r;

	if (mnl_attr_parse_nested(nest, table_cb, &t) < 0)
		return -EBADMSG;
	a = t.tb[WGPEER_A_PUBLIC_KEY];
	if (!a || !attr_len_is(a, WG_KEY_SIZE))
		return -EBADMSG;
	if (dev->n_peers > 0 &&
	    memcmp(dev->peers[dev->n_peers - 1].public_key, mnl_attr_get_payload(a), WG_KEY_SIZE) == 0)
		p = &dev->peers[dev->n_peers - 1]; /* continued from the previous message */
	else {
		p = wg_device_add_peer(dev);
		if (!p)
			return dev->n_peers >= WG_PEERS_MAX ? -E2BIG : -ENOMEM;
		memcpy(p->public_key, mnl_attr_get_payload(a), WG_KEY_SIZE);
	}
	if ((a = t.tb[WGPEER_A_PRESHARED_KEY])) {
		if (!attr_len_is(a, WG_KEY_SIZE))
			return -EBADMSG;
		memcpy(p->preshared_key, mnl_attr_get_payload(a), WG_KEY_SIZE);
		p->has_psk = !wg_key_is_zero(p->preshared_key);
	}
	if ((a = t.tb[WGPEER_A_ENDPOINT])) {
		const struct sockaddr *sa = mnl_attr_get_payload(a);
		size_t len = mnl_attr_get_payload_len(a);
		if (len < sizeof(sa_family_t))
			return -EBADMSG;
		if (sa->sa_family == AF_INET && len == sizeof(struct sockaddr_in))
			memcpy(&p->endpoint, sa, len);
		else if (sa->sa_family == AF_INET6 && len == sizeof(struct sockaddr_in6))
			memcpy(&p->endpoint, sa, len);
		else
			return -EBADMSG;
		p->has_endpoint = true;
	}
	if ((a = t.tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL])) {
		if (!attr_len_is(a, 2))
			return -EBADMSG;
		p->persistent_keepalive = mnl_attr_get_u16(a);
	}
	if ((a = t.tb[WGPEER_A_LAST_HANDSHAKE_TIME])) {
		struct kernel_timespec ts;
		if (!attr_len_is(a, sizeof(ts)))
			return -EBADMSG;
		memcpy(&ts, mnl_attr_get_payload(a), sizeof(ts));
		p->last_handshake.tv_sec = (time_t)ts.tv_sec;
		p->last_handshake.tv_nsec = (long)ts.tv_nsec;
	}
	if ((a = t.tb[WGPEER_A_RX_BYTES])) {
		if (!attr_len_is(a, 8))
			return -EBADMSG;
		p->rx_bytes = mnl_attr_get_u64(a);
	}
	if ((a = t.tb[WGPEER_A_TX_BYTES])) {
		if (!attr_len_is(a, 8))
			return -EBADMSG;
		p->tx_bytes = mnl_attr_get_u64(a);
	}
	if ((a = t.tb[WGPEER_A_ALLOWEDIPS])) {
		const struct nlattr *aip;
		mnl_attr_for_each_nested(aip, a)
		{
			r = parse_allowed_ip(aip, p);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int wg_genl_parse_device_msg(const struct nlmsghdr *nlh, struct wg_device *dev)
{
	struct attr_table t = {};
	const struct nlattr *a;
	int r;

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(struct genlmsghdr))
		return -EBADMSG;
	if (mnl_attr_parse(nlh, sizeof(struct genlmsghdr), table_cb, &t) < 0)
		return -EBADMSG;
	if ((a = t.tb[WGDEVICE_A_IFINDEX])) {
		if (!attr_len_is(a, 4))
			return -EBADMSG;
		dev->ifindex = mnl_attr_get_u32(a);
	}
	if ((a = t.tb[WGDEVICE_A_IFNAME])) {
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0 ||
		    strlen(mnl_attr_get_str(a)) >= sizeof(dev->ifname))
			return -EBADMSG;
		strcpy(dev->ifname, mnl_attr_get_str(a));
	}
	if ((a = t.tb[WGDEVICE_A_PRIVATE_KEY])) {
		if (!attr_len_is(a, WG_KEY_SIZE))
			return -EBADMSG;
		memcpy(dev->private_key, mnl_attr_get_payload(a), WG_KEY_SIZE);
		dev->has_private_key = !wg_key_is_zero(dev->private_key);
	}
	if ((a = t.tb[WGDEVICE_A_PUBLIC_KEY])) {
		if (!attr_len_is(a, WG_KEY_SIZE))
			return -EBADMSG;
		memcpy(dev->public_key, mnl_attr_get_payload(a), WG_KEY_SIZE);
		dev->has_public_key = !wg_key_is_zero(dev->public_key);
	}
	if ((a = t.tb[WGDEVICE_A_LISTEN_PORT])) {
		if (!attr_len_is(a, 2))
			return -EBADMSG;
		dev->listen_port = mnl_attr_get_u16(a);
	}
	if ((a = t.tb[WGDEVICE_A_FWMARK])) {
		if (!attr_len_is(a, 4))
			return -EBADMSG;
		dev->fwmark = mnl_attr_get_u32(a);
	}
	if ((a = t.tb[WGDEVICE_A_PEERS])) {
		const struct nlattr *peer;
		mnl_attr_for_each_nested(peer, a)
		{
			r = parse_peer(peer, dev);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int wg_genl_parse_dump(const void *buf, size_t len, uint32_t seq, struct wg_device *dev)
{
	const struct nlmsghdr *nlh = buf;
	int rem = (int)MIN(len, (size_t)INT32_MAX);
	int r;

	for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
		/* mnl_nlmsg_ok() compares (int)nlmsg_len, so a length of 2^31 or more passes it:
		 * the attribute walk would then read past the buffer, and NLMSG_ALIGN() wrapping
		 * to 0 would make mnl_nlmsg_next() return the same message forever. */
		if (nlh->nlmsg_len > (uint32_t)rem)
			return -EBADMSG;
		if (nlh->nlmsg_seq != seq)
			return -EPROTO;
		if (nlh->nlmsg_type == NLMSG_NOOP)
			continue;
		if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR) {
			int err = 0;
			/* NLMSG_DONE of a dump carries an int error; NLMSG_ERROR an nlmsgerr whose
			 * first member is that int too. */
			if (nlh->nlmsg_len >= MNL_NLMSG_HDRLEN + sizeof(int))
				memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
			if (err < 0)
				return err;
			if (nlh->nlmsg_type == NLMSG_ERROR)
				continue; /* an ACK before the dump ends */
			return 1;
		}
		r = wg_genl_parse_device_msg(nlh, dev);
		if (r < 0)
			return r;
	}
	if (rem != 0)
		return -EBADMSG;
	return 0;
}
