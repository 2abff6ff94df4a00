/* libFuzzer harness for the WireGuard generic-netlink code (src/mesh/wg-genl.h). The input is
 * used twice: (1) as a buffer of netlink messages for the dump walker, the device-message and
 * the family parsers, whole and message by message (as datagrams arrive), which must agree;
 * (2) as a byte stream that describes a device and a message size limit: every change set
 * that writes that device is cut into WG_CMD_SET_DEVICE messages by wg_genl_build_set_device
 * and those messages, parsed back with wg_genl_parse_device_msg (which coalesces a peer
 * continued across messages), must give the device again. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/wg-genl.h"
#include "shared/macro.h"

#include "fuzz-wg-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAMILY 0x1d
#define SEQ 0x5eed

/* Everything the read side fills in, counters and handshake included. */
static void check_device_eq_full(const struct wg_device *a, const struct wg_device *b)
{
	CHECK(strcmp(a->ifname, b->ifname) == 0);
	CHECK(a->ifindex == b->ifindex);
	CHECK(a->has_public_key == b->has_public_key);
	CHECK(memcmp(a->public_key, b->public_key, WG_KEY_SIZE) == 0);
	fuzz_wg_check_device_eq(a, b);
	for (size_t i = 0; i < a->n_peers; i++) {
		const struct wg_peer *x = &a->peers[i], *y = &b->peers[i];

		CHECK(x->rx_bytes == y->rx_bytes && x->tx_bytes == y->tx_bytes);
		CHECK(x->last_handshake.tv_sec == y->last_handshake.tv_sec &&
		      x->last_handshake.tv_nsec == y->last_handshake.tv_nsec);
	}
}

static void check_device_sane(const struct wg_device *d)
{
	CHECK(memchr(d->ifname, '\0', sizeof(d->ifname)));
	CHECK(d->n_peers <= WG_PEERS_MAX);
	if (d->has_private_key)
		CHECK(!wg_key_is_zero(d->private_key));
	for (size_t i = 0; i < d->n_peers; i++) {
		const struct wg_peer *p = &d->peers[i];

		CHECK(!p->id);
		CHECK(p->n_allowed_ips <= WG_ALLOWED_IPS_PER_PEER_MAX);
		if (p->has_psk)
			CHECK(!wg_key_is_zero(p->preshared_key));
		if (p->has_endpoint)
			CHECK(p->endpoint.ss_family == AF_INET || p->endpoint.ss_family == AF_INET6);
		for (size_t k = 0; k < p->n_allowed_ips; k++) {
			struct wg_prefix m = p->allowed_ips[k];

			CHECK((m.family == AF_INET && m.cidr <= 32) || (m.family == AF_INET6 && m.cidr <= 128));
			wg_prefix_mask(&m);
			CHECK(wg_prefix_compare(&m, &p->allowed_ips[k]) == 0);
		}
	}
}

/* Part 1: the input as received datagrams. */
static void check_parsers(const uint8_t *data, size_t size)
{
	struct wg_device whole = {}, split = {};
	uint8_t *buf;
	uint32_t seq = 0;
	int r_whole, r_split = 0, rem;
	const struct nlmsghdr *nlh;

	/* Netlink buffers are aligned; the parsers may rely on it. */
	buf = malloc(size ? size : 1);
	CHECK(buf);
	memcpy(buf, data, size);
	if (size >= sizeof(struct nlmsghdr))
		seq = ((const struct nlmsghdr *)buf)->nlmsg_seq; /* mostly: every message parsed */

	r_whole = wg_genl_parse_dump(buf, size, seq, &whole);
	CHECK(r_whole <= 1);
	if (r_whole >= 0)
		check_device_sane(&whole);

	/* One message at a time, as if each came in its own datagram: same outcome. */
	rem = (int)MIN(size, (size_t)INT32_MAX);
	for (nlh = (const void *)buf; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
		size_t len = MIN((size_t)NLMSG_ALIGN(nlh->nlmsg_len), (size_t)rem);
		uint16_t id = 0;

		/* mnl_nlmsg_ok() lets lengths of 2^31 and more through (it compares as int), and
		 * NLMSG_ALIGN() of some of them wraps to 0: such a message ends the walk. */
		if (nlh->nlmsg_len > (uint32_t)rem) {
			if (r_split == 0)
				r_split = wg_genl_parse_dump(nlh, (size_t)rem, seq, &split);
			CHECK(r_split != 0);
			break;
		}

		/* The per-message parsers on a message that is whole (as libmnl hands them). */
		if (wg_genl_parse_family(nlh, &id) == 0)
			CHECK(id != 0);
		if (nlh->nlmsg_seq == seq && nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
			struct wg_device one = {};
			int r1 = wg_genl_parse_device_msg(nlh, &one);

			CHECK(r1 == 0 || r1 == -EBADMSG || r1 == -E2BIG || r1 == -ENOMEM);
			wg_device_done(&one);
		}
		if (r_split == 0)
			r_split = wg_genl_parse_dump(nlh, len, seq, &split);
	}
	/* The whole walk stops at a message the split walk also stops at, unless only the tail
	 * is malformed (which datagram boundaries hide). */
	if (r_whole != 0 && r_whole != -EBADMSG)
		CHECK(r_split == r_whole);
	if (r_whole == 1)
		check_device_eq_full(&whole, &split);
	wg_device_done(&whole);
	wg_device_done(&split);
	free(buf);
}

/* ---- part 2: builder → parser ---- */

struct stream {
	const uint8_t *p;
	size_t n;
};

static uint8_t take8(struct stream *s)
{
	uint8_t v = 0;

	if (s->n) {
		v = *s->p++;
		s->n--;
	}
	return v;
}

static void take(struct stream *s, void *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		((uint8_t *)out)[i] = take8(s);
}

static uint16_t take16(struct stream *s)
{
	uint16_t v = take8(s);

	return (uint16_t)(v << 8 | take8(s));
}

static void derive_device(struct stream *s, struct wg_device *d)
{
	size_t n_peers = take8(s) % 9;

	take(s, d->private_key, WG_KEY_SIZE);
	d->has_private_key = !wg_key_is_zero(d->private_key);
	d->listen_port = take16(s);
	take(s, &d->fwmark, sizeof(d->fwmark));
	for (size_t i = 0; i < n_peers; i++) {
		struct wg_peer *p = wg_device_add_peer(d);
		uint8_t flags = take8(s);
		size_t n_aips;

		CHECK(p);
		take(s, p->public_key, WG_KEY_SIZE);
		p->public_key[0] = (uint8_t)i; /* consecutive peers differ: no accidental coalescing */
		if (flags & 1) {
			take(s, p->preshared_key, WG_KEY_SIZE);
			p->preshared_key[1] |= 1;
			p->has_psk = true;
		}
		if (flags & 2) {
			struct sockaddr_in *in = (struct sockaddr_in *)&p->endpoint;

			in->sin_family = AF_INET;
			in->sin_port = take16(s);
			take(s, &in->sin_addr, 4);
			p->has_endpoint = true;
		} else if (flags & 4) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&p->endpoint;

			in6->sin6_family = AF_INET6;
			in6->sin6_port = take16(s);
			take(s, &in6->sin6_addr, 16);
			in6->sin6_scope_id = take8(s);
			p->has_endpoint = true;
		}
		p->persistent_keepalive = (flags & 8) ? take16(s) : 0;
		n_aips = take8(s);
		if (flags & 16)
			n_aips *= 4; /* sometimes many: one peer over several messages */
		for (size_t k = 0; k < n_aips; k++) {
			struct wg_prefix pf = {};
			uint8_t b = take8(s);

			pf.family = (b & 1) ? AF_INET6 : AF_INET;
			pf.cidr = (uint8_t)((b >> 1) % (pf.family == AF_INET ? 33 : 129));
			take(s, &pf.addr, pf.family == AF_INET ? 4 : 16);
			wg_prefix_mask(&pf);
			CHECK(wg_peer_add_allowed_ip(p, &pf) == 0);
		}
	}
}

static void check_build_parse(const struct wg_device *dev, size_t msg_size)
{
	struct wg_genl_cursor cur = {};
	struct wg_change_set cs;
	struct wg_device back = {};
	uint8_t *buf;
	size_t n_msgs = 0;
	int r;

	fuzz_wg_full_change_set(dev, &cs);
	buf = malloc(msg_size);
	CHECK(buf);
	do {
		const struct nlmsghdr *nlh = (const void *)buf;
		size_t len = 0;
		int rem;

		r = wg_genl_build_set_device(buf, msg_size, FAMILY, SEQ, "wg0", &cs, &cur, &len);
		if (r == -EMSGSIZE) {
			/* Only a limit below one element's size may refuse. */
			CHECK(msg_size < 256);
			goto out;
		}
		CHECK(r == 0 || r == 1);
		CHECK(++n_msgs <= 1 + 2 * (cs.n_changes + 1) * (WG_ALLOWED_IPS_PER_PEER_MAX + 1));
		CHECK(len <= msg_size && len == nlh->nlmsg_len);
		rem = (int)len;
		CHECK(mnl_nlmsg_ok(nlh, rem));
		CHECK(nlh->nlmsg_type == FAMILY && nlh->nlmsg_seq == SEQ);
		CHECK(nlh->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK));
		CHECK(((const struct genlmsghdr *)mnl_nlmsg_get_payload(nlh))->cmd == WG_CMD_SET_DEVICE);
		CHECK(wg_genl_parse_device_msg(nlh, &back) == 0);
		CHECK(strcmp(back.ifname, "wg0") == 0);
	} while (r == 1);
	CHECK(cur.change == cs.n_changes);
	fuzz_wg_check_device_eq(dev, &back);
out:
	wg_change_set_done(&cs);
	wg_device_done(&back);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream s = { data, size };
	struct wg_device dev = {};
	size_t msg_size;

	check_parsers(data, size);

	msg_size = 64 + take16(&s) % 4033; /* 64..4096 bytes */
	derive_device(&s, &dev);
	check_build_parse(&dev, msg_size);
	/* The receiver's usual limit: everything in few messages. */
	check_build_parse(&dev, 32768);
	wg_device_done(&dev);
	return 0;
}
