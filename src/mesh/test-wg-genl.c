/* Unit tests: WireGuard generic-netlink builders byte for byte (expected bytes built here by
 * hand, without libmnl) and the GET_DEVICE dump parser against hand-built replies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <string.h>

#include "mesh/wg-genl.h"
#include "shared/macro.h"
#include "shared/wire.h"

#define FAMILY 0x1b
#define SEQ 0x01020304

/* ---- independent encoder: explicit little-endian host layout of netlink ---- */

struct bb {
	uint8_t b[16384];
	size_t len;
};

static void bb_raw(struct bb *x, const void *d, size_t n)
{
	memcpy(x->b + x->len, d, n);
	x->len += n;
}

static void bb_pad(struct bb *x)
{
	while (x->len % 4)
		x->b[x->len++] = 0;
}

static void bb_u16(struct bb *x, uint16_t v)
{
	bb_raw(x, &v, 2);
}

static void bb_u32(struct bb *x, uint32_t v)
{
	bb_raw(x, &v, 4);
}

static void bb_attr(struct bb *x, uint16_t type, const void *d, size_t n)
{
	bb_u16(x, (uint16_t)(4 + n));
	bb_u16(x, type);
	bb_raw(x, d, n);
	bb_pad(x);
}

static void bb_attr_u8(struct bb *x, uint16_t type, uint8_t v)
{
	bb_attr(x, type, &v, 1);
}
static void bb_attr_u16(struct bb *x, uint16_t type, uint16_t v)
{
	bb_attr(x, type, &v, 2);
}
static void bb_attr_u32(struct bb *x, uint16_t type, uint32_t v)
{
	bb_attr(x, type, &v, 4);
}
static void bb_attr_u64(struct bb *x, uint16_t type, uint64_t v)
{
	bb_attr(x, type, &v, 8);
}

static size_t bb_nest(struct bb *x, uint16_t type)
{
	size_t at = x->len;
	bb_u16(x, 0);
	bb_u16(x, (uint16_t)(type | NLA_F_NESTED));
	return at;
}

static void bb_nest_end(struct bb *x, size_t at)
{
	uint16_t len = (uint16_t)(x->len - at);
	memcpy(x->b + at, &len, 2);
}

static size_t bb_msg(struct bb *x, uint16_t type, uint16_t flags, uint32_t seq, uint8_t cmd,
		     uint8_t version)
{
	size_t at = x->len;
	bb_u32(x, 0); /* length, patched */
	bb_u16(x, type);
	bb_u16(x, flags);
	bb_u32(x, seq);
	bb_u32(x, 0); /* pid */
	x->b[x->len++] = cmd;
	x->b[x->len++] = version;
	bb_u16(x, 0);
	return at;
}

static void bb_msg_end(struct bb *x, size_t at)
{
	uint32_t len = (uint32_t)(x->len - at);
	memcpy(x->b + at, &len, 4);
}

static void assert_bytes(const void *got, size_t got_len, const struct bb *want)
{
	if (got_len != want->len || memcmp(got, want->b, got_len) != 0) {
		const uint8_t *g = got;
		for (size_t i = 0; i < MAX(got_len, want->len); i++)
			if (i >= got_len || i >= want->len || g[i] != want->b[i]) {
				print_error("first difference at byte %zu (got len %zu, want %zu)\n", i,
					    got_len, want->len);
				break;
			}
		fail();
	}
}

/* ---- builders ---- */

static void test_getfamily(void **state)
{
	uint8_t buf[256];
	struct bb w = {};
	size_t m;
	int n;

	n = wg_genl_build_getfamily(buf, sizeof(buf), SEQ);
	m = bb_msg(&w, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, SEQ, CTRL_CMD_GETFAMILY, 1);
	bb_attr(&w, CTRL_ATTR_FAMILY_NAME, "wireguard", 10);
	bb_msg_end(&w, m);
	assert_true(n > 0);
	assert_bytes(buf, (size_t)n, &w);
	assert_int_equal(wg_genl_build_getfamily(buf, 30, SEQ), -EMSGSIZE);
}

static void test_get_device(void **state)
{
	uint8_t buf[256];
	struct bb w = {};
	size_t m;
	int n;

	n = wg_genl_build_get_device(buf, sizeof(buf), FAMILY, SEQ, "plexd0");
	m = bb_msg(&w, FAMILY, NLM_F_REQUEST | NLM_F_DUMP, SEQ, WG_CMD_GET_DEVICE, 1);
	bb_attr(&w, WGDEVICE_A_IFNAME, "plexd0", 7);
	bb_msg_end(&w, m);
	assert_true(n > 0);
	assert_bytes(buf, (size_t)n, &w);
	assert_int_equal(wg_genl_build_get_device(buf, sizeof(buf), FAMILY, SEQ,
						  "sixteen-chars-xx"),
			 -EINVAL);
}

static void peer_from(struct wg_peer *p, uint8_t key, uint8_t psk, const char *ep, uint16_t ka,
		      const char *const *aips, size_t n)
{
	memset(p, 0, sizeof(*p));
	memset(p->public_key, key, WG_KEY_SIZE);
	if (psk) {
		memset(p->preshared_key, psk, WG_KEY_SIZE);
		p->has_psk = true;
	}
	if (ep) {
		assert_int_equal(endpoint_parse(ep, &p->endpoint), 0);
		p->has_endpoint = true;
	}
	p->persistent_keepalive = ka;
	for (size_t i = 0; i < n; i++) {
		struct wg_prefix pf;
		assert_int_equal(wg_prefix_parse(aips[i], &pf), 0);
		assert_int_equal(wg_peer_add_allowed_ip(p, &pf), 0);
	}
}

static void bb_aip(struct bb *w, uint16_t idx, const char *s)
{
	struct wg_prefix pf;
	size_t n;

	assert_int_equal(wg_prefix_parse(s, &pf), 0);
	n = bb_nest(w, idx);
	bb_attr_u16(w, WGALLOWEDIP_A_FAMILY, pf.family);
	bb_attr(w, WGALLOWEDIP_A_IPADDR, &pf.addr, pf.family == AF_INET ? 4 : 16);
	bb_attr_u8(w, WGALLOWEDIP_A_CIDR_MASK, pf.cidr);
	bb_nest_end(w, n);
}

static void test_set_device_one_message(void **state)
{
	static const char *aips_upd[] = { "10.100.1.2/32", "10.20.0.0/16" };
	static const char *aips_add[] = { "10.100.1.3/32", "fd00:1::/64" };
	struct wg_device desired = {};
	struct wg_peer removed, upd, add;
	uint8_t key[32], zero[32] = {};
	struct wg_peer_change ch[3];
	struct wg_change_set cs;
	struct wg_genl_cursor cur = {};
	uint8_t buf[4096];
	struct bb w = {};
	size_t len, m, peers, p, a;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	memset(desired.private_key, 0x42, 32);
	desired.has_private_key = true;
	desired.listen_port = 51820;
	peer_from(&removed, 0xa1, 0, NULL, 0, NULL, 0);
	peer_from(&upd, 0xa2, 0, "192.0.2.7:51821", 25, aips_upd, 2);
	peer_from(&add, 0xa3, 0x33, "[2001:db8::3]:51820", 25, aips_add, 2);
	ch[0] = (struct wg_peer_change){ WG_PEER_OP_REMOVE, 0, &removed };
	ch[1] = (struct wg_peer_change){ WG_PEER_OP_UPDATE,
					 WG_PEER_FIELD_PSK | WG_PEER_FIELD_ENDPOINT |
						 WG_PEER_FIELD_KEEPALIVE | WG_PEER_FIELD_ALLOWED_IPS,
					 &upd };
	ch[2] = (struct wg_peer_change){ WG_PEER_OP_ADD,
					 WG_PEER_FIELD_PSK | WG_PEER_FIELD_ENDPOINT |
						 WG_PEER_FIELD_KEEPALIVE | WG_PEER_FIELD_ALLOWED_IPS,
					 &add };
	cs = (struct wg_change_set){ &desired,
				     WG_DEVICE_FIELD_PRIVATE_KEY | WG_DEVICE_FIELD_LISTEN_PORT |
					     WG_DEVICE_FIELD_FWMARK,
				     ch, 3 };

	assert_int_equal(wg_genl_build_set_device(buf, sizeof(buf), FAMILY, SEQ, "plexd0", &cs,
						  &cur, &len),
			 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(51821);
	sin.sin_addr.s_addr = htonl(0xc0000207);
	m = bb_msg(&w, FAMILY, NLM_F_REQUEST | NLM_F_ACK, SEQ, WG_CMD_SET_DEVICE, 1);
	bb_attr(&w, WGDEVICE_A_IFNAME, "plexd0", 7);
	memset(key, 0x42, 32);
	bb_attr(&w, WGDEVICE_A_PRIVATE_KEY, key, 32);
	bb_attr_u16(&w, WGDEVICE_A_LISTEN_PORT, 51820);
	bb_attr_u32(&w, WGDEVICE_A_FWMARK, 0);
	peers = bb_nest(&w, WGDEVICE_A_PEERS);
	p = bb_nest(&w, 0);
	memset(key, 0xa1, 32);
	bb_attr(&w, WGPEER_A_PUBLIC_KEY, key, 32);
	bb_attr_u32(&w, WGPEER_A_FLAGS, WGPEER_F_REMOVE_ME);
	bb_nest_end(&w, p);
	p = bb_nest(&w, 1);
	memset(key, 0xa2, 32);
	bb_attr(&w, WGPEER_A_PUBLIC_KEY, key, 32);
	bb_attr_u32(&w, WGPEER_A_FLAGS, WGPEER_F_UPDATE_ONLY | WGPEER_F_REPLACE_ALLOWEDIPS);
	bb_attr(&w, WGPEER_A_PRESHARED_KEY, zero, 32);
	bb_attr(&w, WGPEER_A_ENDPOINT, &sin, sizeof(sin));
	bb_attr_u16(&w, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
	a = bb_nest(&w, WGPEER_A_ALLOWEDIPS);
	bb_aip(&w, 0, "10.100.1.2/32");
	bb_aip(&w, 1, "10.20.0.0/16");
	bb_nest_end(&w, a);
	bb_nest_end(&w, p);
	/* add: PSK, v6 endpoint, keepalive, REPLACE_ALLOWEDIPS */
	p = bb_nest(&w, 2);
	memset(key, 0xa3, 32);
	bb_attr(&w, WGPEER_A_PUBLIC_KEY, key, 32);
	bb_attr_u32(&w, WGPEER_A_FLAGS, WGPEER_F_REPLACE_ALLOWEDIPS);
	memset(key, 0x33, 32);
	bb_attr(&w, WGPEER_A_PRESHARED_KEY, key, 32);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(51820);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::3", &sin6.sin6_addr), 1);
	bb_attr(&w, WGPEER_A_ENDPOINT, &sin6, sizeof(sin6));
	bb_attr_u16(&w, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
	a = bb_nest(&w, WGPEER_A_ALLOWEDIPS);
	bb_aip(&w, 0, "10.100.1.3/32");
	bb_aip(&w, 1, "fd00:1::/64");
	bb_nest_end(&w, a);
	bb_nest_end(&w, p);
	bb_nest_end(&w, peers);
	bb_msg_end(&w, m);
	assert_bytes(buf, len, &w);

	wg_peer_done(&removed);
	wg_peer_done(&upd);
	wg_peer_done(&add);
}

/* Expected message of a split batch: continuation peers carry only key, flags, allowed IPs. */
static void want_fragment(struct bb *w, uint8_t keybyte, bool with_flags, uint32_t flags,
			  bool head_ka, const char *const *aips, size_t from, size_t to,
			  bool second_peer)
{
	uint8_t key[32];
	size_t m, peers, p, a;

	w->len = 0;
	m = bb_msg(w, FAMILY, NLM_F_REQUEST | NLM_F_ACK, SEQ, WG_CMD_SET_DEVICE, 1);
	bb_attr(w, WGDEVICE_A_IFNAME, "wgt0", 5);
	peers = bb_nest(w, WGDEVICE_A_PEERS);
	p = bb_nest(w, 0);
	memset(key, keybyte, 32);
	bb_attr(w, WGPEER_A_PUBLIC_KEY, key, 32);
	if (with_flags)
		bb_attr_u32(w, WGPEER_A_FLAGS, flags);
	if (head_ka)
		bb_attr_u16(w, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
	if (to > from) {
		a = bb_nest(w, WGPEER_A_ALLOWEDIPS);
		for (size_t i = from; i < to; i++)
			bb_aip(w, (uint16_t)(i - from), aips[i]);
		bb_nest_end(w, a);
	}
	bb_nest_end(w, p);
	if (second_peer) {
		p = bb_nest(w, 1);
		memset(key, 0xee, 32);
		bb_attr(w, WGPEER_A_PUBLIC_KEY, key, 32);
		bb_attr_u32(w, WGPEER_A_FLAGS, WGPEER_F_REMOVE_ME);
		bb_nest_end(w, p);
	}
	bb_nest_end(w, peers);
	bb_msg_end(w, m);
}

static void test_set_device_split(void **state)
{
	static const char *aips[] = { "10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24",
				      "10.0.4.0/24", "10.0.5.0/24", "10.0.6.0/24" };
	/* 20 header + 12 ifname + 4 peers + 4 peer + 36 key + 8 flags + 4 aips = 88, and 28 per
	 * IPv4 allowed IP: three fit in the first message. */
	const size_t size = 88 + 3 * 28;
	struct wg_device desired = {};
	struct wg_peer p, gone;
	struct wg_peer_change ch[2];
	struct wg_change_set cs;
	struct wg_genl_cursor cur = {};
	uint8_t buf[512];
	struct bb w;
	size_t len;

	for (int op = 0; op < 2; op++) {
		bool update = op == 1;
		uint32_t first = WGPEER_F_REPLACE_ALLOWEDIPS | (update ? WGPEER_F_UPDATE_ONLY : 0);

		print_message("split %s\n", update ? "update" : "add");
		peer_from(&p, 0xc1, 0, NULL, 0, aips, 7);
		peer_from(&gone, 0xee, 0, NULL, 0, NULL, 0);
		ch[0] = (struct wg_peer_change){ update ? WG_PEER_OP_UPDATE : WG_PEER_OP_ADD,
						 WG_PEER_FIELD_ALLOWED_IPS, &p };
		ch[1] = (struct wg_peer_change){ WG_PEER_OP_REMOVE, 0, &gone };
		cs = (struct wg_change_set){ &desired, 0, ch, 2 };
		cur = (struct wg_genl_cursor){};

		assert_int_equal(wg_genl_build_set_device(buf, size, FAMILY, SEQ, "wgt0", &cs, &cur,
							  &len),
				 1);
		want_fragment(&w, 0xc1, true, first, false, aips, 0, 3, false);
		assert_bytes(buf, len, &w);
		/* Continuations: no REPLACE_ALLOWEDIPS; updates keep UPDATE_ONLY. */
		assert_int_equal(wg_genl_build_set_device(buf, size, FAMILY, SEQ, "wgt0", &cs, &cur,
							  &len),
				 1);
		want_fragment(&w, 0xc1, update, WGPEER_F_UPDATE_ONLY, false, aips, 3, 6, false);
		assert_bytes(buf, len, &w);
		/* last prefix, and the removal fits beside it */
		assert_int_equal(wg_genl_build_set_device(buf, size, FAMILY, SEQ, "wgt0", &cs, &cur,
							  &len),
				 0);
		want_fragment(&w, 0xc1, update, WGPEER_F_UPDATE_ONLY, false, aips, 6, 7, true);
		assert_bytes(buf, len, &w);
		wg_peer_done(&p);
		wg_peer_done(&gone);
	}
	/* Too small for a single allowed IP. */
	peer_from(&p, 0xc1, 0, NULL, 0, aips, 7);
	ch[0] = (struct wg_peer_change){ WG_PEER_OP_ADD, WG_PEER_FIELD_ALLOWED_IPS, &p };
	cs = (struct wg_change_set){ &desired, 0, ch, 1 };
	cur = (struct wg_genl_cursor){};
	/* 100 bytes: the first fragment (key, flags) fits without any prefix, which is progress;
	 * the continuation cannot carry one prefix (needs 108) and fails. */
	assert_int_equal(wg_genl_build_set_device(buf, 100, FAMILY, SEQ, "wgt0", &cs, &cur, &len), 1);
	assert_int_equal(len, 84);
	assert_int_equal(wg_genl_build_set_device(buf, 100, FAMILY, SEQ, "wgt0", &cs, &cur, &len),
			 -EMSGSIZE);
	cur = (struct wg_genl_cursor){};
	assert_int_equal(wg_genl_build_set_device(buf, 60, FAMILY, SEQ, "wgt0", &cs, &cur, &len),
			 -EMSGSIZE);
	wg_peer_done(&p);
}

/* ---- dump parser ---- */

static void dump_peer_a_head(struct bb *w, uint16_t idx)
{
	uint8_t key[32], zero[32] = {};
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(51820) };
	struct {
		int64_t s;
		long long ns;
	} ts = { 1700000000, 5 };
	size_t p, a;

	sin.sin_addr.s_addr = htonl(0xc6336407);
	p = bb_nest(w, idx);
	memset(key, 0xa1, 32);
	bb_attr(w, WGPEER_A_PUBLIC_KEY, key, 32);
	bb_attr(w, WGPEER_A_PRESHARED_KEY, zero, 32);
	bb_attr(w, WGPEER_A_ENDPOINT, &sin, sizeof(sin));
	bb_attr_u16(w, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
	bb_attr(w, WGPEER_A_LAST_HANDSHAKE_TIME, &ts, sizeof(ts));
	bb_attr_u64(w, WGPEER_A_RX_BYTES, 1000);
	bb_attr_u64(w, WGPEER_A_TX_BYTES, 2000);
	bb_attr_u32(w, WGPEER_A_PROTOCOL_VERSION, 1);
	a = bb_nest(w, WGPEER_A_ALLOWEDIPS);
	bb_aip(w, 0, "10.100.1.1/32");
	bb_aip(w, 1, "10.20.0.0/16");
	bb_nest_end(w, a);
	bb_nest_end(w, p);
}

static void build_dump(struct bb *w, int done_err)
{
	uint8_t key[32];
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(4000) };
	size_t m, peers, p, a;
	int32_t err = done_err;

	w->len = 0;
	m = bb_msg(w, FAMILY, NLM_F_MULTI, SEQ, WG_CMD_GET_DEVICE, 1);
	bb_attr_u32(w, WGDEVICE_A_IFINDEX, 7);
	bb_attr(w, WGDEVICE_A_IFNAME, "plexd0", 7);
	memset(key, 0x42, 32);
	bb_attr(w, WGDEVICE_A_PRIVATE_KEY, key, 32);
	memset(key, 0x43, 32);
	bb_attr(w, WGDEVICE_A_PUBLIC_KEY, key, 32);
	bb_attr_u16(w, WGDEVICE_A_LISTEN_PORT, 51820);
	bb_attr_u32(w, WGDEVICE_A_FWMARK, 0);
	peers = bb_nest(w, WGDEVICE_A_PEERS);
	dump_peer_a_head(w, 0);
	bb_nest_end(w, peers);
	bb_msg_end(w, m);
	/* second message: peer A continued with one more prefix, then peer B */
	m = bb_msg(w, FAMILY, NLM_F_MULTI, SEQ, WG_CMD_GET_DEVICE, 1);
	bb_attr(w, WGDEVICE_A_IFNAME, "plexd0", 7);
	peers = bb_nest(w, WGDEVICE_A_PEERS);
	p = bb_nest(w, 0);
	memset(key, 0xa1, 32);
	bb_attr(w, WGPEER_A_PUBLIC_KEY, key, 32);
	a = bb_nest(w, WGPEER_A_ALLOWEDIPS);
	bb_aip(w, 0, "fd00::/64");
	bb_nest_end(w, a);
	bb_nest_end(w, p);
	p = bb_nest(w, 1);
	memset(key, 0xb2, 32);
	bb_attr(w, WGPEER_A_PUBLIC_KEY, key, 32);
	memset(key, 0x77, 32);
	bb_attr(w, WGPEER_A_PRESHARED_KEY, key, 32);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::9", &sin6.sin6_addr), 1);
	bb_attr(w, WGPEER_A_ENDPOINT, &sin6, sizeof(sin6));
	bb_nest_end(w, p);
	bb_nest_end(w, peers);
	bb_msg_end(w, m);
	/* NLMSG_DONE carrying an int error */
	m = w->len;
	bb_u32(w, 20);
	bb_u16(w, NLMSG_DONE);
	bb_u16(w, NLM_F_MULTI);
	bb_u32(w, SEQ);
	bb_u32(w, 0);
	bb_raw(w, &err, 4);
}

static void test_dump_parse(void **state)
{
	struct bb w;
	struct wg_device d = {};
	char buf[WG_PREFIX_STRLEN];
	const struct sockaddr_in *sin;

	build_dump(&w, 0);
	assert_int_equal(wg_genl_parse_dump(w.b, w.len, SEQ, &d), 1);
	assert_int_equal(d.ifindex, 7);
	assert_string_equal(d.ifname, "plexd0");
	assert_true(d.has_private_key);
	assert_int_equal(d.private_key[0], 0x42);
	assert_int_equal(d.public_key[31], 0x43);
	assert_int_equal(d.listen_port, 51820);
	assert_int_equal(d.n_peers, 2); /* A coalesced across messages */
	assert_int_equal(d.peers[0].public_key[0], 0xa1);
	assert_false(d.peers[0].has_psk); /* all-zero PSK = none */
	assert_true(d.peers[0].has_endpoint);
	sin = (const void *)&d.peers[0].endpoint;
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc6336407);
	assert_int_equal(ntohs(sin->sin_port), 51820);
	assert_int_equal(d.peers[0].persistent_keepalive, 25);
	assert_int_equal(d.peers[0].last_handshake.tv_sec, 1700000000);
	assert_int_equal(d.peers[0].last_handshake.tv_nsec, 5);
	assert_int_equal(d.peers[0].rx_bytes, 1000);
	assert_int_equal(d.peers[0].tx_bytes, 2000);
	assert_int_equal(d.peers[0].n_allowed_ips, 3);
	wg_prefix_format(&d.peers[0].allowed_ips[2], buf, sizeof(buf));
	assert_string_equal(buf, "fd00::/64");
	assert_int_equal(d.peers[1].public_key[0], 0xb2);
	assert_true(d.peers[1].has_psk);
	assert_int_equal(d.peers[1].preshared_key[5], 0x77);
	assert_int_equal(d.peers[1].endpoint.ss_family, AF_INET6);
	assert_int_equal(d.peers[1].n_allowed_ips, 0);
	wg_device_done(&d);

	/* incremental: without the DONE message more data is needed */
	build_dump(&w, 0);
	assert_int_equal(wg_genl_parse_dump(w.b, w.len - 20, SEQ, &d), 0);
	assert_int_equal(wg_genl_parse_dump(w.b + w.len - 20, 20, SEQ, &d), 1);
	assert_int_equal(d.n_peers, 2);
	wg_device_done(&d);

	build_dump(&w, -ENODEV);
	assert_int_equal(wg_genl_parse_dump(w.b, w.len, SEQ, &d), -ENODEV);
	wg_device_done(&d);

	build_dump(&w, 0);
	assert_int_equal(wg_genl_parse_dump(w.b, w.len, SEQ + 1, &d), -EPROTO);
	wg_device_done(&d);
}

static void test_dump_malformed(void **state)
{
	struct bb w = {};
	struct wg_device d = {};
	uint8_t key[31] = {};
	size_t m, peers, p;

	/* public key of 31 bytes */
	m = bb_msg(&w, FAMILY, NLM_F_MULTI, SEQ, WG_CMD_GET_DEVICE, 1);
	peers = bb_nest(&w, WGDEVICE_A_PEERS);
	p = bb_nest(&w, 0);
	bb_attr(&w, WGPEER_A_PUBLIC_KEY, key, 31);
	bb_nest_end(&w, p);
	bb_nest_end(&w, peers);
	bb_msg_end(&w, m);
	assert_int_equal(wg_genl_parse_dump(w.b, w.len, SEQ, &d), -EBADMSG);
	wg_device_done(&d);

	/* allowed IP with cidr 33 */
	w.len = 0;
	m = bb_msg(&w, FAMILY, NLM_F_MULTI, SEQ, WG_CMD_GET_DEVICE, 1);
	peers = bb_nest(&w, WGDEVICE_A_PEERS);
	p = bb_nest(&w, 0);
	uint8_t k32[32] = { 1 };
	bb_attr(&w, WGPEER_A_PUBLIC_KEY, k32, 32);
	size_t a = bb_nest(&w, WGPEER_A_ALLOWEDIPS), e = bb_nest(&w, 0);
	uint32_t addr = 0;
	bb_attr_u16(&w, WGALLOWEDIP_A_FAMILY, AF_INET);
	bb_attr(&w, WGALLOWEDIP_A_IPADDR, &addr, 4);
	bb_attr_u8(&w, WGALLOWEDIP_A_CIDR_MASK, 33);
	bb_nest_end(&w, e);
	bb_nest_end(&w, a);
	bb_nest_end(&w, p);
	bb_nest_end(&w, peers);
	bb_msg_end(&w, m);
	assert_int_equal(wg_genl_parse_dump(w.b, w.len, SEQ, &d), -EBADMSG);
	wg_device_done(&d);

	/* truncated datagram */
	assert_int_equal(wg_genl_parse_dump(w.b, w.len - 3, SEQ, &d), -EBADMSG);
	wg_device_done(&d);

	/* A length of 2^31 or more passes mnl_nlmsg_ok() (it compares as int): must be refused,
	 * not walked past the buffer (device message) nor looped on forever (NLMSG_NOOP, whose
	 * aligned length wraps to 0). Found by tests/fuzz/fuzz-wg-genl. */
	static const uint32_t huge[] = { 0xffffffffU, 0x80000000U, 0xfffffffdU };
	static const uint16_t types[] = { NLMSG_NOOP, FAMILY };
	for (size_t i = 0; i < ELEMENTSOF(huge); i++)
		for (size_t t = 0; t < ELEMENTSOF(types); t++) {
			w.len = 0;
			m = bb_msg(&w, NLMSG_NOOP, 0, SEQ, 0, 0);
			bb_msg_end(&w, m);
			m = bb_msg(&w, types[t], NLM_F_MULTI, SEQ, WG_CMD_GET_DEVICE, 1);
			bb_attr_u32(&w, WGDEVICE_A_IFINDEX, 7);
			memcpy(w.b + m, &huge[i], 4);
			assert_int_equal(wg_genl_parse_dump(w.b, w.len, SEQ, &d), -EBADMSG);
			assert_int_equal(d.ifindex, 0);
			wg_device_done(&d);
		}
}

static void test_family_reply(void **state)
{
	struct bb w = {};
	uint16_t id = 0;
	size_t m;

	m = bb_msg(&w, GENL_ID_CTRL, 0, SEQ, CTRL_CMD_NEWFAMILY, 2);
	bb_attr(&w, CTRL_ATTR_FAMILY_NAME, "wireguard", 10);
	bb_attr_u16(&w, CTRL_ATTR_FAMILY_ID, 0x1b);
	bb_msg_end(&w, m);
	assert_int_equal(wg_genl_parse_family((const struct nlmsghdr *)w.b, &id), 0);
	assert_int_equal(id, 0x1b);

	w.len = 0;
	m = bb_msg(&w, GENL_ID_CTRL, 0, SEQ, CTRL_CMD_NEWFAMILY, 2);
	bb_attr(&w, CTRL_ATTR_FAMILY_NAME, "wireguard", 10);
	bb_msg_end(&w, m);
	assert_int_equal(wg_genl_parse_family((const struct nlmsghdr *)w.b, &id), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_getfamily),
		cmocka_unit_test(test_get_device),
		cmocka_unit_test(test_set_device_one_message),
		cmocka_unit_test(test_set_device_split),
		cmocka_unit_test(test_dump_parse),
		cmocka_unit_test(test_dump_malformed),
		cmocka_unit_test(test_family_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
