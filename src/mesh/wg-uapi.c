/* Cross-platform WireGuard configuration protocol: set=1 serializer, get=1/errno parsers. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/wg-uapi.h"
#include "shared/encoding.h"
#include "shared/macro.h"
#include "shared/wire.h"

/* Growable text buffer that wipes the old block when it grows: the set message carries the
 * private key and PSKs, so no stale copy may stay behind in freed heap memory. */
struct textbuf {
	char *p;
	size_t len, cap;
};

static int textbuf_printf(struct textbuf *b, const char *fmt, ...) _printf_(2, 3);
static int textbuf_printf(struct textbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = MAX(b->cap * 2, b->len + (size_t)n + 1);
		char *np = malloc(MAX(cap, (size_t)256));
		if (!np)
			return -ENOMEM;
		if (b->p) {
			memcpy(np, b->p, b->len);
			explicit_bzero(b->p, b->cap);
			free(b->p);
		}
		b->p = np;
		b->cap = MAX(cap, (size_t)256);
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

static int put_key(struct textbuf *b, const char *name, const uint8_t key[WG_KEY_SIZE])
{
	char hex[2 * WG_KEY_SIZE + 1];
	int r;

	hex_encode_to(key, WG_KEY_SIZE, hex);
	r = textbuf_printf(b, "%s=%s\n", name, hex);
	explicit_bzero(hex, sizeof(hex));
	return r;
}

static int put_change(struct textbuf *b, const struct wg_peer_change *c)
{
	static const uint8_t zero[WG_KEY_SIZE];
	const struct wg_peer *p = c->peer;
	int r;

	r = put_key(b, "public_key", p->public_key);
	if (r < 0)
		return r;
	switch (c->op) {
	case WG_PEER_OP_REMOVE:
		return textbuf_printf(b, "remove=true\n");
	case WG_PEER_OP_UPDATE:
		/* Must directly follow public_key: wireguard-go drops a peer it just created. */
		r = textbuf_printf(b, "update_only=true\n");
		break;
	case WG_PEER_OP_ADD:
		break;
	}
	if (r < 0)
		return r;
	if (c->fields & WG_PEER_FIELD_PSK) {
		r = put_key(b, "preshared_key", p->has_psk ? p->preshared_key : zero);
		if (r < 0)
			return r;
	}
	if ((c->fields & WG_PEER_FIELD_ENDPOINT) && p->has_endpoint) {
		char ep[INET6_ADDRSTRLEN + 16];
		r = endpoint_format(&p->endpoint, ep, sizeof(ep));
		if (r < 0)
			return r;
		r = textbuf_printf(b, "endpoint=%s\n", ep);
		if (r < 0)
			return r;
	}
	if (c->fields & WG_PEER_FIELD_KEEPALIVE) {
		r = textbuf_printf(b, "persistent_keepalive_interval=%u\n", p->persistent_keepalive);
		if (r < 0)
			return r;
	}
	if (c->fields & WG_PEER_FIELD_ALLOWED_IPS) {
		r = textbuf_printf(b, "replace_allowed_ips=true\n");
		if (r < 0)
			return r;
		for (size_t i = 0; i < p->n_allowed_ips; i++) {
			char pf[WG_PREFIX_STRLEN];
			r = wg_prefix_format(&p->allowed_ips[i], pf, sizeof(pf));
			if (r < 0)
				return r;
			r = textbuf_printf(b, "allowed_ip=%s\n", pf);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int wg_uapi_build_set(const struct wg_change_set *cs, char **ret, size_t *ret_len)
{
	const struct wg_device *d = cs->desired;
	struct textbuf b = {};
	int r;

	r = textbuf_printf(&b, "set=1\n");
	if (r >= 0 && (cs->device_fields & WG_DEVICE_FIELD_PRIVATE_KEY))
		r = put_key(&b, "private_key", d->private_key);
	if (r >= 0 && (cs->device_fields & WG_DEVICE_FIELD_LISTEN_PORT))
		r = textbuf_printf(&b, "listen_port=%u\n", d->listen_port);
	if (r >= 0 && (cs->device_fields & WG_DEVICE_FIELD_FWMARK))
		r = textbuf_printf(&b, "fwmark=%" PRIu32 "\n", d->fwmark);
	for (size_t i = 0; r >= 0 && i < cs->n_changes; i++)
		r = put_change(&b, &cs->changes[i]);
	if (r >= 0)
		r = textbuf_printf(&b, "\n");
	if (r < 0) {
		if (b.p)
			explicit_bzero(b.p, b.cap);
		free(b.p);
		return r;
	}
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}

bool wg_uapi_response_complete(const char *buf, size_t len)
{
	/* Every line ends in '\n' and only the terminator is empty. */
	if (len == 1 && buf[0] == '\n')
		return true;
	return len >= 2 && buf[len - 1] == '\n' && buf[len - 2] == '\n';
}

static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		unsigned d;
		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	if (v > max)
		return -EBADMSG;
	*ret = v;
	return 0;
}

/* "key=value\n" lines up to the empty terminator line, fed in any pieces. The errno line is
 * handled here, everything else goes to cb. */
typedef int (*line_cb_t)(const char *key, size_t klen, const char *val, size_t vlen, void *ud);

struct line_parser {
	line_cb_t cb;
	void *ud;
	bool have_errno, done;
	uint64_t err;
	size_t total;
};

/* One line without its '\n'. */
static int parse_line(struct line_parser *lp, const char *line, size_t llen)
{
	const char *eq;
	int r;

	if (lp->done)
		return -EBADMSG; /* data after the terminator */
	if (llen == 0) {
		if (!lp->have_errno)
			return -EBADMSG;
		lp->done = true;
		return 0;
	}
	if (lp->have_errno)
		return -EBADMSG; /* errno is the last line */
	eq = memchr(line, '=', llen);
	if (!eq || eq == line)
		return -EBADMSG;
	if ((size_t)(eq - line) == STRLEN("errno") && strneq(line, "errno", STRLEN("errno"))) {
		r = parse_u64(eq + 1, llen - STRLEN("errno="), INT32_MAX, &lp->err);
		if (r < 0)
			return r;
		lp->have_errno = true;
		return 0;
	}
	if (lp->cb)
		return lp->cb(line, (size_t)(eq - line), eq + 1, (size_t)(line + llen - eq - 1), lp->ud);
	return 0;
}

/* Consumes the complete lines of buf; *ret_used = bytes consumed (a partial last line stays
 * for the next call). */
static int parse_feed(struct line_parser *lp, const char *buf, size_t len, size_t *ret_used)
{
	size_t pos = 0;
	int r;

	while (pos < len) {
		const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
		size_t llen;

		if (!nl)
			break;
		llen = (size_t)(nl - line);
		r = parse_line(lp, line, llen);
		if (r < 0)
			return r;
		pos += llen + 1;
	}
	lp->total += pos;
	if (lp->total > WG_UAPI_RESPONSE_MAX)
		return -E2BIG;
	*ret_used = pos;
	return 0;
}

static int parse_result(const struct line_parser *lp)
{
	if (!lp->done)
		return -EBADMSG; /* no terminator */
	return lp->err == 0 ? 0 : -(int)MIN(lp->err, (uint64_t)INT32_MAX);
}

static int parse_lines(const char *buf, size_t len, line_cb_t cb, void *ud)
{
	struct line_parser lp = { .cb = cb, .ud = ud };
	size_t used;
	int r;

	if (len > WG_UAPI_RESPONSE_MAX)
		return -E2BIG;
	r = parse_feed(&lp, buf, len, &used);
	if (r < 0)
		return r;
	if (used != len)
		return -EBADMSG; /* last line without '\n' */
	return parse_result(&lp);
}

static bool key_is(const char *k, size_t klen, const char *want)
{
	return klen == strlen(want) && strneq(k, want, klen);
}

static int hex_nibble(unsigned char c)
{
	if ((unsigned)(c - '0') < 10)
		return c - '0';
	c |= 0x20; /* lower case */
	if ((unsigned)(c - 'a') < 6)
		return c - 'a' + 10;
	return -1;
}

/* One pass into a scratch copy (a get reply carries two keys per peer, thousands of peers):
 * out stays untouched on failure and the scratch copy is wiped (it may be a PSK). */
static int parse_hex_key(const char *v, size_t vlen, uint8_t out[WG_KEY_SIZE])
{
	uint8_t k[WG_KEY_SIZE];
	int bad = 0;

	if (vlen != 2 * WG_KEY_SIZE)
		return -EBADMSG;
	for (size_t i = 0; i < WG_KEY_SIZE; i++) {
		int hi = hex_nibble((unsigned char)v[2 * i]), lo = hex_nibble((unsigned char)v[2 * i + 1]);
		bad |= hi | lo; /* negative when either is not a hex digit */
		k[i] = (uint8_t)((hi & 0xf) << 4 | (lo & 0xf));
	}
	if (bad < 0) {
		explicit_bzero(k, sizeof(k));
		return -EBADMSG;
	}
	memcpy(out, k, WG_KEY_SIZE);
	explicit_bzero(k, sizeof(k));
	return 0;
}

struct get_state {
	struct wg_device *dev;
	struct wg_peer *peer;
};

static int device_line(struct get_state *st, const char *k, size_t kl, const char *v, size_t vl)
{
	struct wg_device *d = st->dev;
	uint64_t n = 0;
	int r;

	if (key_is(k, kl, "private_key")) {
		r = parse_hex_key(v, vl, d->private_key);
		d->has_private_key = r >= 0 && !wg_key_is_zero(d->private_key);
		return r;
	}
	if (key_is(k, kl, "listen_port")) {
		r = parse_u64(v, vl, UINT16_MAX, &n);
		d->listen_port = (uint16_t)n;
		return r;
	}
	if (key_is(k, kl, "fwmark")) {
		r = parse_u64(v, vl, UINT32_MAX, &n);
		d->fwmark = (uint32_t)n;
		return r;
	}
	return 0; /* forward compatible: unknown device keys are ignored */
}

static int peer_line(struct get_state *st, const char *k, size_t kl, const char *v, size_t vl)
{
	struct wg_peer *p = st->peer;
	char tmp[WG_PREFIX_STRLEN + 16];
	uint64_t n = 0;
	int r;

	if (key_is(k, kl, "preshared_key")) {
		r = parse_hex_key(v, vl, p->preshared_key);
		p->has_psk = r >= 0 && !wg_key_is_zero(p->preshared_key);
		return r;
	}
	if (key_is(k, kl, "endpoint")) {
		if (vl >= sizeof(tmp))
			return -EBADMSG;
		memcpy(tmp, v, vl);
		tmp[vl] = '\0';
		/* A scoped IPv6 endpoint is not representable in the wire format; leave the
		 * peer without endpoint rather than refusing the whole device. */
		p->has_endpoint = endpoint_parse(tmp, &p->endpoint) >= 0;
		return 0;
	}
	if (key_is(k, kl, "persistent_keepalive_interval")) {
		r = parse_u64(v, vl, UINT16_MAX, &n);
		p->persistent_keepalive = (uint16_t)n;
		return r;
	}
	if (key_is(k, kl, "last_handshake_time_sec")) {
		r = parse_u64(v, vl, INT64_MAX, &n);
		p->last_handshake.tv_sec = (time_t)n;
		return r;
	}
	if (key_is(k, kl, "last_handshake_time_nsec")) {
		r = parse_u64(v, vl, 999999999, &n);
		p->last_handshake.tv_nsec = (long)n;
		return r;
	}
	if (key_is(k, kl, "rx_bytes"))
		return parse_u64(v, vl, UINT64_MAX, &p->rx_bytes);
	if (key_is(k, kl, "tx_bytes"))
		return parse_u64(v, vl, UINT64_MAX, &p->tx_bytes);
	if (key_is(k, kl, "allowed_ip")) {
		struct wg_prefix pf;
		if (vl >= sizeof(tmp))
			return -EBADMSG;
		memcpy(tmp, v, vl);
		tmp[vl] = '\0';
		if (wg_prefix_parse(tmp, &pf) < 0)
			return -EBADMSG;
		return wg_peer_add_allowed_ip(p, &pf);
	}
	return 0;
}

static int get_line(const char *k, size_t kl, const char *v, size_t vl, void *ud)
{
	struct get_state *st = ud;
	int r;

	if (key_is(k, kl, "public_key")) {
		uint8_t key[WG_KEY_SIZE];
		r = parse_hex_key(v, vl, key);
		if (r < 0)
			return r;
		st->peer = wg_device_add_peer(st->dev);
		if (!st->peer)
			return st->dev->n_peers >= WG_PEERS_MAX ? -E2BIG : -ENOMEM;
		memcpy(st->peer->public_key, key, WG_KEY_SIZE);
		return 0;
	}
	return st->peer ? peer_line(st, k, kl, v, vl) : device_line(st, k, kl, v, vl);
}

int wg_uapi_parse_get(const char *buf, size_t len, struct wg_device *ret)
{
	struct wg_device d = {};
	struct get_state st = { .dev = &d };
	int r;

	r = parse_lines(buf, len, get_line, &st);
	if (r < 0) {
		wg_device_done(&d);
		return r;
	}
	*ret = d;
	return 0;
}

struct wg_uapi_get_parser {
	struct wg_device dev;
	struct get_state st;
	struct line_parser lp;
};

int wg_uapi_get_parser_new(struct wg_uapi_get_parser **ret)
{
	struct wg_uapi_get_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->st.dev = &p->dev;
	p->lp = (struct line_parser){ .cb = get_line, .ud = &p->st };
	*ret = p;
	return 0;
}

int wg_uapi_get_parser_feed(struct wg_uapi_get_parser *p, const char *buf, size_t len,
			    size_t *ret_used)
{
	return parse_feed(&p->lp, buf, len, ret_used);
}

bool wg_uapi_get_parser_done(const struct wg_uapi_get_parser *p)
{
	return p->lp.done;
}

int wg_uapi_get_parser_finish(struct wg_uapi_get_parser *p, struct wg_device *ret)
{
	int r = parse_result(&p->lp);

	if (r < 0)
		return r;
	*ret = p->dev;
	p->dev = (struct wg_device){};
	return 0;
}

struct wg_uapi_get_parser *wg_uapi_get_parser_free(struct wg_uapi_get_parser *p)
{
	if (!p)
		return NULL;
	wg_device_done(&p->dev);
	explicit_bzero(p, sizeof(*p));
	free(p);
	return NULL;
}

int wg_uapi_parse_errno(const char *buf, size_t len)
{
	return parse_lines(buf, len, NULL, NULL);
}
