/* Unit tests: peer diff (§5.1 Peers 4/5/8), desired peer set normalisation (rules 6/7),
 * prefix helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>

#include "mesh/wg-device.h"
#include "shared/macro.h"
#include "shared/wire.h"

#define NOW_SEC 1700000000

struct pspec {
	uint8_t key;
	uint8_t psk; /* 0 = none */
	const char *ep;
	uint16_t ka;
	const char *aips[4];
	int64_t hs_age; /* seconds before NOW_SEC; -1 = never */
};

static void build_peer(const struct pspec *s, struct wg_peer *p)
{
	memset(p, 0, sizeof(*p));
	memset(p->public_key, s->key, WG_KEY_SIZE);
	if (s->psk) {
		memset(p->preshared_key, s->psk, WG_KEY_SIZE);
		p->has_psk = true;
	}
	if (s->ep) {
		assert_int_equal(endpoint_parse(s->ep, &p->endpoint), 0);
		p->has_endpoint = true;
	}
	p->persistent_keepalive = s->ka;
	for (size_t i = 0; i < ELEMENTSOF(s->aips) && s->aips[i]; i++) {
		struct wg_prefix pf;
		assert_int_equal(wg_prefix_parse(s->aips[i], &pf), 0);
		assert_int_equal(wg_peer_add_allowed_ip(p, &pf), 0);
	}
	if (s->hs_age >= 0 && s->hs_age != 0)
		p->last_handshake.tv_sec = NOW_SEC - s->hs_age;
	if (s->hs_age == 0)
		p->last_handshake.tv_sec = NOW_SEC;
}

static void build_device(const struct pspec *specs, size_t n, struct wg_device *d)
{
	memset(d, 0, sizeof(*d));
	for (size_t i = 0; i < n; i++) {
		struct wg_peer *p = wg_device_add_peer(d);
		assert_non_null(p);
		build_peer(&specs[i], p);
	}
}

struct want_change {
	enum wg_peer_op op;
	uint8_t key;
	unsigned fields;
};

struct diff_case {
	const char *name;
	struct pspec desired[4];
	size_t n_desired;
	struct pspec actual[4];
	size_t n_actual;
	bool reconcile;
	struct want_change want[6];
	size_t n_want;
};

#define AIP WG_PEER_FIELD_ALLOWED_IPS
#define PSK WG_PEER_FIELD_PSK
#define EP WG_PEER_FIELD_ENDPOINT
#define KA WG_PEER_FIELD_KEEPALIVE
#define NEVER (-1)

static const struct diff_case diff_cases[] = {
	{ "identical",
	  { { 1, 9, "192.0.2.1:51820", 25, { "10.100.1.1/32" }, 5 } }, 1,
	  { { 1, 9, "192.0.2.1:51820", 25, { "10.100.1.1/32" }, 5 } }, 1,
	  false, {}, 0 },
	{ "missing peer is added with every set field",
	  { { 1, 9, "192.0.2.1:51820", 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  {}, 0, false,
	  { { WG_PEER_OP_ADD, 1, AIP | PSK | EP | KA } }, 1 },
	{ "added peer without psk/endpoint/keepalive writes only allowed IPs",
	  { { 1, 0, NULL, 0, { "10.100.1.1/32" }, NEVER } }, 1,
	  {}, 0, false,
	  { { WG_PEER_OP_ADD, 1, AIP } }, 1 },
	{ "extra device peer is removed",
	  {}, 0,
	  { { 2, 0, NULL, 0, { "10.100.1.2/32" }, NEVER } }, 1, true,
	  { { WG_PEER_OP_REMOVE, 2, 0 } }, 1 },
	{ "allowed IPs compare as sets",
	  { { 1, 0, NULL, 25, { "10.0.0.0/24", "10.100.1.1/32", "fd00::/64" }, NEVER } }, 1,
	  { { 1, 0, NULL, 25, { "fd00::/64", "10.100.1.1/32", "10.0.0.0/24", "10.100.1.1/32" }, NEVER } }, 1,
	  false, {}, 0 },
	{ "allowed IPs differ",
	  { { 1, 0, NULL, 25, { "10.100.1.1/32", "10.0.0.0/24" }, NEVER } }, 1,
	  { { 1, 0, NULL, 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  false, { { WG_PEER_OP_UPDATE, 1, AIP } }, 1 },
	{ "psk added",
	  { { 1, 7, NULL, 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  { { 1, 0, NULL, 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  false, { { WG_PEER_OP_UPDATE, 1, PSK } }, 1 },
	{ "psk removed",
	  { { 1, 0, NULL, 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  { { 1, 7, NULL, 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  false, { { WG_PEER_OP_UPDATE, 1, PSK } }, 1 },
	{ "psk changed",
	  { { 1, 8, NULL, 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  { { 1, 7, NULL, 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  false, { { WG_PEER_OP_UPDATE, 1, PSK } }, 1 },
	{ "keepalive differs",
	  { { 1, 0, NULL, 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  { { 1, 0, NULL, 0, { "10.100.1.1/32" }, NEVER } }, 1,
	  false, { { WG_PEER_OP_UPDATE, 1, KA } }, 1 },
	{ "roaming: reconcile keeps endpoint after recent handshake",
	  { { 1, 0, "192.0.2.1:51820", 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  { { 1, 0, "198.51.100.7:40000", 25, { "10.100.1.1/32" }, 10 } }, 1,
	  true, {}, 0 },
	{ "roaming: handshake exactly 180 s ago still counts",
	  { { 1, 0, "192.0.2.1:51820", 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  { { 1, 0, "198.51.100.7:40000", 25, { "10.100.1.1/32" }, 180 } }, 1,
	  true, {}, 0 },
	{ "roaming: handshake 181 s ago is stale, endpoint written",
	  { { 1, 0, "192.0.2.1:51820", 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  { { 1, 0, "198.51.100.7:40000", 25, { "10.100.1.1/32" }, 181 } }, 1,
	  true, { { WG_PEER_OP_UPDATE, 1, EP } }, 1 },
	{ "roaming: never handshaked, endpoint written",
	  { { 1, 0, "192.0.2.1:51820", 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  { { 1, 0, "198.51.100.7:40000", 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  true, { { WG_PEER_OP_UPDATE, 1, EP } }, 1 },
	{ "roaming rule off outside reconcile (event apply writes endpoint)",
	  { { 1, 0, "192.0.2.1:51820", 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  { { 1, 0, "198.51.100.7:40000", 25, { "10.100.1.1/32" }, 10 } }, 1,
	  false, { { WG_PEER_OP_UPDATE, 1, EP } }, 1 },
	{ "device without endpoint gets the desired one even in reconcile",
	  { { 1, 0, "192.0.2.1:51820", 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  { { 1, 0, NULL, 25, { "10.100.1.1/32" }, 10 } }, 1,
	  true, { { WG_PEER_OP_UPDATE, 1, EP } }, 1 },
	{ "desired without endpoint leaves the device endpoint alone",
	  { { 1, 0, NULL, 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  { { 1, 0, "198.51.100.7:40000", 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  false, {}, 0 },
	{ "ipv6 endpoint port differs",
	  { { 1, 0, "[2001:db8::1]:51820", 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  { { 1, 0, "[2001:db8::1]:51821", 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  false, { { WG_PEER_OP_UPDATE, 1, EP } }, 1 },
	{ "key change: old removed before new added, one batch",
	  { { 3, 0, NULL, 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  { { 2, 0, NULL, 25, { "10.100.1.1/32" }, NEVER } }, 1,
	  true, { { WG_PEER_OP_REMOVE, 2, 0 }, { WG_PEER_OP_ADD, 3, AIP | KA } }, 2 },
	{ "order: removals, updates, additions; several fields at once",
	  { { 5, 0, NULL, 25, { "10.100.1.5/32" }, NEVER },
	    { 1, 4, "192.0.2.1:1", 0, { "10.100.1.1/32", "10.9.0.0/16" }, NEVER },
	    { 3, 0, NULL, 25, { "10.100.1.3/32" }, NEVER } }, 3,
	  { { 3, 0, NULL, 25, { "10.100.1.3/32" }, NEVER },
	    { 1, 0, "192.0.2.2:1", 25, { "10.100.1.1/32" }, NEVER },
	    { 2, 0, NULL, 25, { "10.100.1.2/32" }, NEVER } }, 3,
	  true,
	  { { WG_PEER_OP_REMOVE, 2, 0 }, { WG_PEER_OP_UPDATE, 1, PSK | EP | KA | AIP },
	    { WG_PEER_OP_ADD, 5, AIP | KA } }, 3 },
};

/* Set equality, including the allocation-free fast path (same order) and its fallbacks. */
static void test_prefixes_equal(void **state)
{
	static const struct {
		const char *a[3];
		size_t na;
		const char *b[3];
		size_t nb;
		int want;
	} cases[] = {
		{ { "10.0.0.1/32" }, 1, { "10.0.0.1/32" }, 1, 1 },
		{ { "10.0.0.1/32" }, 1, { "10.0.0.2/32" }, 1, 0 },
		{ { "10.0.0.1/32", "fd00::/64" }, 2, { "10.0.0.1/32", "fd00::/64" }, 2, 1 },
		{ { "10.0.0.1/32", "fd00::/64" }, 2, { "fd00::/64", "10.0.0.1/32" }, 2, 1 },
		{ { "10.0.0.1/32", "fd00::/64" }, 2, { "10.0.0.1/32", "fd00::/63" }, 2, 0 },
		{ { "10.0.0.1/32", "10.0.0.1/32" }, 2, { "10.0.0.1/32" }, 1, 1 },
		{ { "10.0.0.1/32", "10.0.0.2/32" }, 2, { "10.0.0.1/32", "10.0.0.1/32" }, 2, 0 },
		{ { "10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24" }, 3,
		  { "10.0.2.0/24", "10.0.0.0/24", "10.0.1.0/24" }, 3, 1 },
		{ {}, 0, {}, 0, 1 },
		{ {}, 0, { "10.0.0.1/32" }, 1, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct wg_prefix a[3], b[3];
		for (size_t j = 0; j < cases[i].na; j++)
			assert_int_equal(wg_prefix_parse(cases[i].a[j], &a[j]), 0);
		for (size_t j = 0; j < cases[i].nb; j++)
			assert_int_equal(wg_prefix_parse(cases[i].b[j], &b[j]), 0);
		assert_int_equal(wg_prefixes_equal(a, cases[i].na, b, cases[i].nb), cases[i].want);
		assert_int_equal(wg_prefixes_equal(b, cases[i].nb, a, cases[i].na), cases[i].want);
	}

	/* Host bits set behind the parser's back compare as the masked prefix. */
	struct wg_prefix x, y;
	assert_int_equal(wg_prefix_parse("10.1.2.0/24", &x), 0);
	y = x;
	y.addr.in.s_addr |= htonl(0x7f);
	assert_int_equal(wg_prefixes_equal(&x, 1, &y, 1), 1);
	y.cidr = 23;
	assert_int_equal(wg_prefixes_equal(&x, 1, &y, 1), 0);
}

static void test_diff_table(void **state)
{
	struct timespec now = { .tv_sec = NOW_SEC };

	for (size_t i = 0; i < ELEMENTSOF(diff_cases); i++) {
		const struct diff_case *c = &diff_cases[i];
		struct wg_device want, have;
		struct wg_change_set cs;

		print_message("case: %s\n", c->name);
		build_device(c->desired, c->n_desired, &want);
		build_device(c->actual, c->n_actual, &have);
		assert_int_equal(wg_diff(&want, &have, now, c->reconcile, &cs), 0);
		assert_int_equal(cs.device_fields, 0);
		assert_int_equal(cs.n_changes, c->n_want);
		assert_int_equal(wg_change_set_is_empty(&cs), c->n_want == 0);
		for (size_t k = 0; k < c->n_want; k++) {
			assert_int_equal(cs.changes[k].op, c->want[k].op);
			assert_int_equal(cs.changes[k].peer->public_key[0], c->want[k].key);
			assert_int_equal(cs.changes[k].fields, c->want[k].fields);
			/* REMOVE points at the device peer, the others at the desired one. */
			if (c->want[k].op == WG_PEER_OP_REMOVE)
				assert_true(cs.changes[k].peer >= have.peers &&
					    cs.changes[k].peer < have.peers + have.n_peers);
			else
				assert_true(cs.changes[k].peer >= want.peers &&
					    cs.changes[k].peer < want.peers + want.n_peers);
		}
		wg_change_set_done(&cs);
		wg_device_done(&want);
		wg_device_done(&have);
	}
}

static void test_diff_device_fields(void **state)
{
	struct wg_device want = {}, have = {};
	struct wg_change_set cs;
	struct timespec now = { .tv_sec = NOW_SEC };

	memset(want.private_key, 0x11, WG_KEY_SIZE);
	want.has_private_key = true;
	want.listen_port = 51820;
	memcpy(have.private_key, want.private_key, WG_KEY_SIZE);
	have.has_private_key = true;
	have.listen_port = 51820;
	assert_int_equal(wg_diff(&want, &have, now, true, &cs), 0);
	assert_true(wg_change_set_is_empty(&cs));

	have.private_key[31] ^= 1;
	have.listen_port = 1234;
	have.fwmark = 0x51;
	assert_int_equal(wg_diff(&want, &have, now, true, &cs), 0);
	assert_int_equal(cs.device_fields, WG_DEVICE_FIELD_PRIVATE_KEY |
						   WG_DEVICE_FIELD_LISTEN_PORT |
						   WG_DEVICE_FIELD_FWMARK);
	assert_false(wg_change_set_is_empty(&cs));
	wg_change_set_done(&cs);

	/* A device without a key gets one; desired port 0 means "don't care". */
	have = (struct wg_device){ .listen_port = 4242 };
	want.listen_port = 0;
	assert_int_equal(wg_diff(&want, &have, now, true, &cs), 0);
	assert_int_equal(cs.device_fields, WG_DEVICE_FIELD_PRIVATE_KEY);
	wg_change_set_done(&cs);
}

static void test_diff_rejects_duplicate_desired_keys(void **state)
{
	static const struct pspec specs[] = { { 1, 0, NULL, 0, { "10.0.0.1/32" }, NEVER },
					      { 1, 0, NULL, 0, { "10.0.0.2/32" }, NEVER } };
	struct wg_device want, have = {};
	struct wg_change_set cs;

	build_device(specs, 2, &want);
	assert_int_equal(wg_diff(&want, &have, (struct timespec){}, false, &cs), -EINVAL);
	wg_device_done(&want);
}

/* ---- prefixes ---- */

static void test_prefix_parse(void **state)
{
	static const struct {
		const char *in;
		int r;
		const char *out;
	} cases[] = {
		{ "10.100.1.5/32", 0, "10.100.1.5/32" },
		{ "10.100.1.5/24", 0, "10.100.1.0/24" },
		{ "10.100.1.5/0", 0, "0.0.0.0/0" },
		{ "10.255.255.255/9", 0, "10.128.0.0/9" },
		{ "fd00::1/64", 0, "fd00::/64" },
		{ "fd00:ffff::1/17", 0, "fd00:8000::/17" },
		{ "::/0", 0, "::/0" },
		{ "10.100.1.5", -EINVAL, NULL },
		{ "10.100.1.5/33", -EINVAL, NULL },
		{ "fd00::/129", -EINVAL, NULL },
		{ "10.100.1.5/032", -EINVAL, NULL },
		{ "10.100.1.5/+3", -EINVAL, NULL },
		{ "10.100.1.5/", -EINVAL, NULL },
		{ "/24", -EINVAL, NULL },
		{ "10.100.1/24", -EINVAL, NULL },
		{ "host.example/24", -EINVAL, NULL },
		{ "10.100.1.5/24 ", -EINVAL, NULL },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct wg_prefix p;
		char buf[WG_PREFIX_STRLEN];

		print_message("prefix: %s\n", cases[i].in);
		assert_int_equal(wg_prefix_parse(cases[i].in, &p), cases[i].r);
		if (cases[i].r < 0)
			continue;
		assert_true(wg_prefix_format(&p, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, cases[i].out);
	}
}

static void test_prefix_overlap(void **state)
{
	static const struct {
		const char *a, *b;
		bool overlap;
	} cases[] = {
		{ "10.0.0.0/16", "10.0.1.0/24", true },	 { "10.0.1.0/24", "10.0.0.0/16", true },
		{ "10.0.0.0/24", "10.0.1.0/24", false }, { "10.0.0.0/24", "10.0.0.0/24", true },
		{ "0.0.0.0/0", "192.0.2.1/32", true },	 { "fd00::/8", "fd12::/16", true },
		{ "fd00::/16", "fd01::/16", false },	 { "10.0.0.0/8", "::/0", false },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct wg_prefix a, b;
		assert_int_equal(wg_prefix_parse(cases[i].a, &a), 0);
		assert_int_equal(wg_prefix_parse(cases[i].b, &b), 0);
		assert_int_equal(wg_prefix_overlaps(&a, &b), cases[i].overlap);
	}
}

/* ---- peer set (rules 6, 7) ---- */

#define K1 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define K2 "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
#define K3 "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="
#define K4 "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ="
#define K5 "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU="

struct set_case {
	const char *name;
	struct {
		const char *id, *key, *psk, *ep;
		const char *aips[4];
	} in[5];
	size_t n;
	/* expected kept peers in order: id and its prefixes */
	struct {
		const char *id;
		const char *aips[4];
	} out[5];
	size_t n_out;
	/* expected errors: id and skipped flag, in order */
	struct {
		const char *id;
		bool skipped;
		const char *reason_part;
	} err[5];
	size_t n_err;
};

static const struct set_case set_cases[] = {
	{ "valid peers come out sorted by id, prefixes normalised",
	  { { "n_b", K2, "", "192.0.2.2:51820", { "10.100.1.2/32", "10.7.0.9/16" } },
	    { "n_a", K1, K5, NULL, { "10.100.1.1/32", "fd00::1/64", "10.100.1.1/32" } } }, 2,
	  { { "n_a", { "10.100.1.1/32", "fd00::/64" } }, { "n_b", { "10.7.0.0/16", "10.100.1.2/32" } } }, 2,
	  {}, 0 },
	{ "rule 6: invalid peers skipped, others applied",
	  { { "n_a", "not-a-key", NULL, NULL, { "10.100.1.1/32" } },
	    { "n_b", K2, "AAAA", NULL, { "10.100.1.2/32" } },
	    { "n_c", K3, NULL, "example.com:51820", { "10.100.1.3/32" } },
	    { "n_d", K4, NULL, NULL, { "10.100.1.4/32", "10.100.1.300/32" } },
	    { "n_e", K5, NULL, NULL, { "10.100.1.5/32" } } }, 5,
	  { { "n_e", { "10.100.1.5/32" } } }, 1,
	  { { "n_a", true, "public key" }, { "n_b", true, "psk" }, { "n_c", true, "endpoint" },
	    { "n_d", true, "allowed IP 1" } }, 4 },
	{ "rule 6: prefix covering own mesh IP skips the peer",
	  { { "n_a", K1, NULL, NULL, { "10.100.1.1/32", "10.100.0.0/16" } },
	    { "n_b", K2, NULL, NULL, { "10.100.0.9/32" } } }, 2,
	  { { "n_b", { "10.100.0.9/32" } } }, 1,
	  { { "n_a", true, "covers own mesh IP" } }, 1 },
	{ "rule 7: smaller id keeps an overlapping prefix (input order irrelevant)",
	  { { "n_b", K2, NULL, NULL, { "10.100.1.2/32", "10.50.0.0/24" } },
	    { "n_a", K1, NULL, NULL, { "10.100.1.1/32", "10.50.0.0/16" } } }, 2,
	  { { "n_a", { "10.50.0.0/16", "10.100.1.1/32" } }, { "n_b", { "10.100.1.2/32" } } }, 2,
	  { { "n_b", false, "10.50.0.0/24 overlaps" } }, 1 },
	{ "rule 7: the more specific prefix of the smaller id wins too",
	  { { "n_a", K1, NULL, NULL, { "10.50.1.0/24" } },
	    { "n_b", K2, NULL, NULL, { "10.50.0.0/16", "10.100.1.2/32" } } }, 2,
	  { { "n_a", { "10.50.1.0/24" } }, { "n_b", { "10.100.1.2/32" } } }, 2,
	  { { "n_b", false, "10.50.0.0/16 overlaps" } }, 1 },
	{ "rule 7: a prefix lost by b no longer blocks c",
	  { { "n_c", K3, NULL, NULL, { "10.50.1.0/24" } },
	    { "n_b", K2, NULL, NULL, { "10.50.0.0/16" } },
	    { "n_a", K1, NULL, NULL, { "10.50.0.0/24" } } }, 3,
	  { { "n_a", { "10.50.0.0/24" } }, { "n_b", {} }, { "n_c", { "10.50.1.0/24" } } }, 3,
	  { { "n_b", false, "overlaps" } }, 1 },
	{ "duplicate id and duplicate key: larger/second skipped",
	  { { "n_a", K1, NULL, NULL, { "10.100.1.1/32" } },
	    { "n_a", K2, NULL, NULL, { "10.100.1.2/32" } },
	    { "n_c", K1, NULL, NULL, { "10.100.1.3/32" } } }, 3,
	  { { "n_a", { "10.100.1.1/32" } } }, 1,
	  { { "n_a", true, "duplicate peer id" }, { "n_c", true, "public key also used" } }, 2 },
};

static void test_peer_set_table(void **state)
{
	struct in_addr mesh_ip;

	assert_int_equal(inet_pton(AF_INET, "10.100.0.1", &mesh_ip), 1);
	for (size_t i = 0; i < ELEMENTSOF(set_cases); i++) {
		const struct set_case *c = &set_cases[i];
		struct wg_peer_input in[5] = {};
		struct wg_peer_set s;

		print_message("case: %s\n", c->name);
		for (size_t k = 0; k < c->n; k++) {
			size_t na = 0;
			while (na < 4 && c->in[k].aips[na])
				na++;
			in[k] = (struct wg_peer_input){ .id = c->in[k].id,
							.public_key = c->in[k].key,
							.psk = c->in[k].psk,
							.endpoint = c->in[k].ep,
							.allowed_ips = c->in[k].aips,
							.n_allowed_ips = na };
		}
		assert_int_equal(wg_peer_set_build(in, c->n, mesh_ip, 25, &s), 0);
		assert_int_equal(s.n_peers, c->n_out);
		for (size_t k = 0; k < c->n_out; k++) {
			size_t na = 0;
			assert_string_equal(s.peers[k].id, c->out[k].id);
			assert_int_equal(s.peers[k].persistent_keepalive, 25);
			while (na < 4 && c->out[k].aips[na]) {
				char buf[WG_PREFIX_STRLEN];
				assert_true(na < s.peers[k].n_allowed_ips);
				wg_prefix_format(&s.peers[k].allowed_ips[na], buf, sizeof(buf));
				assert_string_equal(buf, c->out[k].aips[na]);
				na++;
			}
			assert_int_equal(s.peers[k].n_allowed_ips, na);
		}
		assert_int_equal(s.n_errors, c->n_err);
		for (size_t k = 0; k < c->n_err; k++) {
			assert_string_equal(s.errors[k].id, c->err[k].id);
			assert_int_equal(s.errors[k].skipped, c->err[k].skipped);
			assert_non_null(strstr(s.errors[k].reason, c->err[k].reason_part));
		}
		wg_peer_set_done(&s);
	}
}

static void test_peer_set_values(void **state)
{
	static const char *aips[] = { "10.100.1.1/32" };
	struct wg_peer_input in = { .id = "n_a", .public_key = K1, .psk = K5,
				    .endpoint = "[2001:db8::5]:51820", .allowed_ips = aips,
				    .n_allowed_ips = 1 };
	struct in_addr mesh_ip = { htonl(0x0a640001) };
	struct wg_peer_set s;
	const struct sockaddr_in6 *sin6;

	assert_int_equal(wg_peer_set_build(&in, 1, mesh_ip, 0, &s), 0);
	assert_int_equal(s.n_peers, 1);
	for (size_t i = 0; i < WG_KEY_SIZE; i++) {
		assert_int_equal(s.peers[0].public_key[i], 1);
		assert_int_equal(s.peers[0].preshared_key[i], 5);
	}
	assert_true(s.peers[0].has_psk);
	assert_true(s.peers[0].has_endpoint);
	sin6 = (const void *)&s.peers[0].endpoint;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 51820);
	assert_int_equal(s.peers[0].persistent_keepalive, 0);
	wg_peer_set_done(&s);
	assert_int_equal(wg_peer_set_build(&in, WG_PEERS_MAX + 1, mesh_ip, 0, &s), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefixes_equal),
		cmocka_unit_test(test_diff_table),
		cmocka_unit_test(test_diff_device_fields),
		cmocka_unit_test(test_diff_rejects_duplicate_desired_keys),
		cmocka_unit_test(test_prefix_parse),
		cmocka_unit_test(test_prefix_overlap),
		cmocka_unit_test(test_peer_set_table),
		cmocka_unit_test(test_peer_set_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
