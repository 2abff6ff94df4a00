/* Unit tests: cross-platform UAPI set serializer, get/errno parsers, round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "mesh/wg-uapi.h"
#include "shared/macro.h"
#include "shared/wire.h"

#define HEX(b) b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b

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

static void test_build_set(void **state)
{
	static const char *aips_upd[] = { "10.100.1.2/32" };
	static const char *aips_add[] = { "10.100.1.3/32", "fd00:1::/64" };
	struct wg_device desired = {};
	struct wg_peer removed, upd, add;
	struct wg_peer_change ch[3];
	struct wg_change_set cs;
	char *text = NULL;
	size_t len;

	memset(desired.private_key, 0xab, 32);
	desired.listen_port = 51820;
	peer_from(&removed, 0x01, 0, NULL, 0, NULL, 0);
	peer_from(&upd, 0x02, 0, "192.0.2.7:51821", 25, aips_upd, 1);
	peer_from(&add, 0x03, 0x33, "[2001:db8::3]:51820", 25, aips_add, 2);
	ch[0] = (struct wg_peer_change){ WG_PEER_OP_REMOVE, 0, &removed };
	ch[1] = (struct wg_peer_change){ WG_PEER_OP_UPDATE,
					 WG_PEER_FIELD_PSK | WG_PEER_FIELD_ENDPOINT |
						 WG_PEER_FIELD_ALLOWED_IPS,
					 &upd };
	ch[2] = (struct wg_peer_change){ WG_PEER_OP_ADD,
					 WG_PEER_FIELD_PSK | WG_PEER_FIELD_ENDPOINT |
						 WG_PEER_FIELD_KEEPALIVE | WG_PEER_FIELD_ALLOWED_IPS,
					 &add };
	cs = (struct wg_change_set){ &desired,
				     WG_DEVICE_FIELD_PRIVATE_KEY | WG_DEVICE_FIELD_LISTEN_PORT |
					     WG_DEVICE_FIELD_FWMARK,
				     ch, 3 };
	assert_int_equal(wg_uapi_build_set(&cs, &text, &len), 0);
	assert_string_equal(text, "set=1\n"
				  "private_key=" HEX("ab") "\n"
				  "listen_port=51820\n"
				  "fwmark=0\n"
				  "public_key=" HEX("01") "\n"
				  "remove=true\n"
				  "public_key=" HEX("02") "\n"
				  "update_only=true\n"
				  "preshared_key=" HEX("00") "\n"
				  "endpoint=192.0.2.7:51821\n"
				  "replace_allowed_ips=true\n"
				  "allowed_ip=10.100.1.2/32\n"
				  "public_key=" HEX("03") "\n"
				  "preshared_key=" HEX("33") "\n"
				  "endpoint=[2001:db8::3]:51820\n"
				  "persistent_keepalive_interval=25\n"
				  "replace_allowed_ips=true\n"
				  "allowed_ip=10.100.1.3/32\n"
				  "allowed_ip=fd00:1::/64\n"
				  "\n");
	assert_int_equal(len, strlen(text));
	erase_and_free(text);

	/* empty change set: just the frame */
	cs = (struct wg_change_set){ &desired, 0, NULL, 0 };
	assert_int_equal(wg_uapi_build_set(&cs, &text, &len), 0);
	assert_string_equal(text, "set=1\n\n");
	free(text);
	wg_peer_done(&removed);
	wg_peer_done(&upd);
	wg_peer_done(&add);
}

/* As printed by wireguard-go 0.0.20220316 (IpcGetOperation). */
static const char get_reply[] = "private_key=" HEX("11") "\n"
				"listen_port=51820\n"
				"public_key=" HEX("a1") "\n"
				"preshared_key=" HEX("00") "\n"
				"protocol_version=1\n"
				"endpoint=198.51.100.7:40000\n"
				"last_handshake_time_sec=1700000000\n"
				"last_handshake_time_nsec=42\n"
				"tx_bytes=100\n"
				"rx_bytes=18446744073709551615\n"
				"persistent_keepalive_interval=25\n"
				"allowed_ip=10.100.1.1/32\n"
				"allowed_ip=fd00::/64\n"
				"public_key=" HEX("b2") "\n"
				"preshared_key=" HEX("77") "\n"
				"protocol_version=1\n"
				"endpoint=[2001:db8::9]:4000\n"
				"last_handshake_time_sec=0\n"
				"last_handshake_time_nsec=0\n"
				"tx_bytes=0\n"
				"rx_bytes=0\n"
				"persistent_keepalive_interval=0\n"
				"some_future_key=whatever\n"
				"errno=0\n"
				"\n";

static void test_parse_get(void **state)
{
	struct wg_device d;
	char buf[WG_PREFIX_STRLEN];

	assert_true(wg_uapi_response_complete(get_reply, strlen(get_reply)));
	assert_false(wg_uapi_response_complete(get_reply, strlen(get_reply) - 1));
	assert_int_equal(wg_uapi_parse_get(get_reply, strlen(get_reply), &d), 0);
	assert_true(d.has_private_key);
	assert_int_equal(d.private_key[0], 0x11);
	assert_int_equal(d.listen_port, 51820);
	assert_int_equal(d.n_peers, 2);
	assert_int_equal(d.peers[0].public_key[31], 0xa1);
	assert_false(d.peers[0].has_psk);
	assert_true(d.peers[0].has_endpoint);
	assert_int_equal(d.peers[0].last_handshake.tv_sec, 1700000000);
	assert_int_equal(d.peers[0].last_handshake.tv_nsec, 42);
	assert_int_equal(d.peers[0].tx_bytes, 100);
	assert_true(d.peers[0].rx_bytes == UINT64_MAX);
	assert_int_equal(d.peers[0].persistent_keepalive, 25);
	assert_int_equal(d.peers[0].n_allowed_ips, 2);
	wg_prefix_format(&d.peers[0].allowed_ips[1], buf, sizeof(buf));
	assert_string_equal(buf, "fd00::/64");
	assert_true(d.peers[1].has_psk);
	assert_int_equal(d.peers[1].preshared_key[3], 0x77);
	assert_int_equal(d.peers[1].endpoint.ss_family, AF_INET6);
	assert_int_equal(d.peers[1].n_allowed_ips, 0);
	wg_device_done(&d);

	/* empty device */
	assert_int_equal(wg_uapi_parse_get("errno=0\n\n", 9, &d), 0);
	assert_int_equal(d.n_peers, 0);
	assert_false(d.has_private_key);
	wg_device_done(&d);
}

/* Streaming parser: a reply cut into pieces of every size gives exactly the one-shot result;
 * the cases of test_parse_get_errors fail alike when fed in one-byte pieces. */
static int feed_in_pieces(const char *text, size_t piece, struct wg_device *ret)
{
	struct wg_uapi_get_parser *p = NULL;
	char buf[4096];
	size_t len = 0, total = strlen(text), off = 0;
	int r = 0;

	assert_int_equal(wg_uapi_get_parser_new(&p), 0);
	while (off < total && r >= 0) {
		size_t n = MIN(piece, total - off), used;
		memcpy(buf + len, text + off, n);
		len += n;
		off += n;
		r = wg_uapi_get_parser_feed(p, buf, len, &used);
		if (r >= 0) {
			memmove(buf, buf + used, len - used);
			len -= used;
			if (wg_uapi_get_parser_done(p) && len > 0)
				r = -EBADMSG; /* what the backend does with trailing bytes */
		}
	}
	if (r >= 0)
		r = wg_uapi_get_parser_finish(p, ret);
	wg_uapi_get_parser_free(p);
	return r;
}

static void test_parse_get_streaming(void **state)
{
	static const char *const errors[] = {
		"listen_port=1\n\n", "errno=0\n", "errno=0\nlisten_port=1\n\n", "errno=0\n\nextra",
		"public_key=" HEX("zz") "\nerrno=0\n\n", "=x\nerrno=0\n\n", "errno=22\n\n",
	};
	struct wg_device want, got;

	assert_int_equal(wg_uapi_parse_get(get_reply, strlen(get_reply), &want), 0);
	for (size_t piece = 1; piece <= strlen(get_reply); piece++) {
		assert_int_equal(feed_in_pieces(get_reply, piece, &got), 0);
		assert_int_equal(got.n_peers, want.n_peers);
		assert_memory_equal(got.private_key, want.private_key, WG_KEY_SIZE);
		assert_int_equal(got.listen_port, want.listen_port);
		for (size_t i = 0; i < want.n_peers; i++) {
			const struct wg_peer *a = &want.peers[i], *b = &got.peers[i];
			assert_memory_equal(a->public_key, b->public_key, WG_KEY_SIZE);
			assert_memory_equal(a->preshared_key, b->preshared_key, WG_KEY_SIZE);
			assert_int_equal(a->has_psk, b->has_psk);
			assert_true(wg_sockaddr_equal(&a->endpoint, &b->endpoint));
			assert_int_equal(a->persistent_keepalive, b->persistent_keepalive);
			assert_true(a->rx_bytes == b->rx_bytes && a->tx_bytes == b->tx_bytes);
			assert_int_equal(wg_prefixes_equal(a->allowed_ips, a->n_allowed_ips,
							   b->allowed_ips, b->n_allowed_ips), 1);
		}
		wg_device_done(&got);
	}
	wg_device_done(&want);
	for (size_t i = 0; i < ELEMENTSOF(errors); i++) {
		struct wg_device d = {};
		int one = wg_uapi_parse_get(errors[i], strlen(errors[i]), &d);
		wg_device_done(&d);
		assert_true(one < 0);
		assert_int_equal(feed_in_pieces(errors[i], 1, &d), one);
	}
}

static void test_parse_get_errors(void **state)
{
	static const struct {
		const char *text;
		int r;
	} cases[] = {
		{ "errno=0\n\n", 0 },
		{ "errno=22\n\n", -22 },
		{ "listen_port=1\nerrno=2\n\n", -2 },
		{ "listen_port=65536\nerrno=0\n\n", -EBADMSG },
		{ "listen_port=-1\nerrno=0\n\n", -EBADMSG },
		{ "listen_port=1\n\n", -EBADMSG },		 /* no errno line */
		{ "errno=0\n", -EBADMSG },			 /* no terminator */
		{ "errno=0\nlisten_port=1\n\n", -EBADMSG },	 /* errno not last */
		{ "errno=0\n\nextra", -EBADMSG },		 /* data after terminator */
		{ "private_key=abc\nerrno=0\n\n", -EBADMSG },	 /* short key */
		{ "public_key=" HEX("zz") "\nerrno=0\n\n", -EBADMSG },
		{ "public_key=" HEX("01") "\nallowed_ip=10.0.0.1\nerrno=0\n\n", -EBADMSG },
		{ "public_key=" HEX("01") "\nlast_handshake_time_nsec=1000000000\nerrno=0\n\n",
		  -EBADMSG },
		{ "novalue\nerrno=0\n\n", -EBADMSG },
		{ "=x\nerrno=0\n\n", -EBADMSG },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct wg_device d = {};
		print_message("get: %zu\n", i);
		assert_int_equal(wg_uapi_parse_get(cases[i].text, strlen(cases[i].text), &d),
				 cases[i].r);
		wg_device_done(&d);
	}
	assert_int_equal(wg_uapi_parse_errno("errno=0\n\n", 9), 0);
	assert_int_equal(wg_uapi_parse_errno("errno=1\n\n", 9), -1);
	assert_int_equal(wg_uapi_parse_errno("errno=x\n\n", 9), -EBADMSG);
	assert_int_equal(wg_uapi_parse_errno("", 0), -EBADMSG);
}

/* A set message adding every peer, turned into get syntax (drop "set=1", the write-only
 * replace_allowed_ips line, add errno) must parse back into the same device: the serializer
 * and the parser agree on every field's spelling and format. */
static void test_round_trip(void **state)
{
	static const char *a1[] = { "10.100.1.1/32", "10.20.0.0/16", "fd00:1::/64" };
	static const char *a2[] = { "10.100.1.2/32" };
	struct wg_device desired = {}, empty = {}, back;
	struct wg_change_set cs;
	struct timespec now = { 1700000000, 0 };
	char *text = NULL, *conv, *out;
	size_t len;
	const char *line;

	memset(desired.private_key, 0x5a, 32);
	desired.has_private_key = true;
	desired.listen_port = 40000;
	peer_from(wg_device_add_peer(&desired), 0x10, 0x20, "203.0.113.10:51820", 25, a1, 3);
	peer_from(wg_device_add_peer(&desired), 0x11, 0, "[2001:db8::1]:1", 0, a2, 1);
	assert_int_equal(wg_diff(&desired, &empty, now, false, &cs), 0);
	assert_int_equal(wg_uapi_build_set(&cs, &text, &len), 0);
	wg_change_set_done(&cs);

	conv = calloc(len + 16, 1);
	assert_non_null(conv);
	out = conv;
	for (line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t l = (size_t)(nl - line) + 1;
		if (l > 1 && !strneq(line, "set=1", 5) && !strneq(line, "replace_allowed_ips", 19)) {
			memcpy(out, line, l);
			out += l;
		}
		line = nl + 1;
	}
	strcpy(out, "errno=0\n\n");
	assert_int_equal(wg_uapi_parse_get(conv, strlen(conv), &back), 0);
	assert_int_equal(wg_diff(&desired, &back, now, false, &cs), 0);
	assert_true(wg_change_set_is_empty(&cs));
	assert_int_equal(back.n_peers, 2);
	wg_change_set_done(&cs);
	wg_device_done(&back);
	wg_device_done(&desired);
	erase_and_free(text);
	free(conv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_set),
		cmocka_unit_test(test_parse_get),
		cmocka_unit_test(test_parse_get_errors),
		cmocka_unit_test(test_parse_get_streaming),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
