/* WireGuard device model, the pure peer diff and desired peer set normalisation (§5.1). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/wg-device.h"
#include "shared/encoding.h"
#include "shared/macro.h"
#include "shared/wire.h"

static void *memdup(const void *p, size_t n)
{
	void *c = malloc(n);

	return c ? memcpy(c, p, n) : NULL;
}

static size_t prefix_addr_len(uint8_t family)
{
	return family == AF_INET ? 4 : 16;
}

static uint8_t prefix_max_cidr(uint8_t family)
{
	return family == AF_INET ? 32 : 128;
}

void wg_prefix_mask(struct wg_prefix *p)
{
	uint8_t *b = (uint8_t *)&p->addr;
	size_t len = prefix_addr_len(p->family);

	for (size_t i = 0; i < len; i++) {
		unsigned bit = (unsigned)i * 8;
		if (bit >= p->cidr)
			b[i] = 0;
		else if (p->cidr - bit < 8)
			b[i] &= (uint8_t)(0xffu << (8 - (p->cidr - bit)));
	}
	if (p->family == AF_INET)
		memset((uint8_t *)&p->addr + 4, 0, sizeof(p->addr) - 4);
}

int wg_prefix_parse(const char *s, struct wg_prefix *ret)
{
	char buf[INET6_ADDRSTRLEN + 1];
	struct wg_prefix p = {};
	const char *slash, *c;
	unsigned long cidr = 0;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(buf) || slash == s)
		return -EINVAL;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	/* Decimal only, no sign, no leading zeros beyond "0" itself, at most 3 digits. */
	c = slash + 1;
	if (!*c || strlen(c) > 3 || (c[0] == '0' && c[1]))
		return -EINVAL;
	for (; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		cidr = cidr * 10 + (unsigned long)(*c - '0');
	}
	if (inet_pton(AF_INET, buf, &p.addr.in) == 1)
		p.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &p.addr.in6) == 1)
		p.family = AF_INET6;
	else
		return -EINVAL;
	if (cidr > prefix_max_cidr(p.family))
		return -EINVAL;
	p.cidr = (uint8_t)cidr;
	wg_prefix_mask(&p);
	*ret = p;
	return 0;
}

int wg_prefix_format(const struct wg_prefix *p, char *out, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	int n;

	if (!inet_ntop(p->family, &p->addr, a, sizeof(a)))
		return -EAFNOSUPPORT;
	n = snprintf(out, size, "%s/%u", a, p->cidr);
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return n;
}

int wg_prefix_compare(const struct wg_prefix *a, const struct wg_prefix *b)
{
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	r = memcmp(&a->addr, &b->addr, prefix_addr_len(a->family));
	if (r != 0)
		return r < 0 ? -1 : 1;
	if (a->cidr != b->cidr)
		return a->cidr < b->cidr ? -1 : 1;
	return 0;
}

static int prefix_cmp_qsort(const void *a, const void *b)
{
	return wg_prefix_compare(a, b);
}

/* True if `outer` contains `inner` (outer no more specific, same network bits). */
static bool prefix_contains(const struct wg_prefix *outer, const struct wg_prefix *inner)
{
	struct wg_prefix t;

	if (outer->family != inner->family || outer->cidr > inner->cidr)
		return false;
	t = *inner;
	t.cidr = outer->cidr;
	wg_prefix_mask(&t);
	return memcmp(&t.addr, &outer->addr, prefix_addr_len(t.family)) == 0;
}

bool wg_prefix_overlaps(const struct wg_prefix *a, const struct wg_prefix *b)
{
	return prefix_contains(a, b) || prefix_contains(b, a);
}

bool wg_prefix_contains_v4(const struct wg_prefix *p, struct in_addr a)
{
	struct wg_prefix host = { .family = AF_INET, .cidr = 32, .addr.in = a };

	return prefix_contains(p, &host);
}

size_t wg_prefixes_normalise(struct wg_prefix *p, size_t n)
{
	size_t out = 0;

	if (n == 0)
		return 0;
	qsort(p, n, sizeof(*p), prefix_cmp_qsort);
	for (size_t i = 0; i < n; i++)
		if (out == 0 || wg_prefix_compare(&p[out - 1], &p[i]) != 0)
			p[out++] = p[i];
	return out;
}

int wg_prefixes_equal(const struct wg_prefix *a, size_t na, const struct wg_prefix *b, size_t nb)
{
	_cleanup_free_ struct wg_prefix *ca = NULL, *cb = NULL;

	if (na == 0 || nb == 0)
		return na == nb;
	/* Fast path without allocation: the same prefixes in the same order (the common case
	 * of a reconcile: one /32 per peer, or the device echoing the order it was given). */
	if (na == nb) {
		size_t i;
		for (i = 0; i < na; i++) {
			struct wg_prefix x = a[i], y = b[i];
			wg_prefix_mask(&x);
			wg_prefix_mask(&y);
			if (wg_prefix_compare(&x, &y) != 0)
				break;
		}
		if (i == na)
			return 1;
	}
	ca = memdup(a, na * sizeof(*a));
	cb = memdup(b, nb * sizeof(*b));
	if (!ca || !cb)
		return -ENOMEM;
	for (size_t i = 0; i < na; i++)
		wg_prefix_mask(&ca[i]);
	for (size_t i = 0; i < nb; i++)
		wg_prefix_mask(&cb[i]);
	na = wg_prefixes_normalise(ca, na);
	nb = wg_prefixes_normalise(cb, nb);
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (wg_prefix_compare(&ca[i], &cb[i]) != 0)
			return 0;
	return 1;
}

bool wg_sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0 &&
		       x->sin6_scope_id == y->sin6_scope_id;
	}
	return false;
}

bool wg_key_is_zero(const uint8_t key[WG_KEY_SIZE])
{
	uint8_t acc = 0;

	for (size_t i = 0; i < WG_KEY_SIZE; i++)
		acc |= key[i];
	return acc == 0;
}

void wg_peer_done(struct wg_peer *p)
{
	if (!p)
		return;
	free(p->id);
	free(p->allowed_ips);
	explicit_bzero(p, sizeof(*p));
}

void wg_device_done(struct wg_device *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_peers; i++)
		wg_peer_done(&d->peers[i]);
	free(d->peers);
	explicit_bzero(d, sizeof(*d));
}

int wg_peer_copy(const struct wg_peer *src, struct wg_peer *dst)
{
	struct wg_peer p = *src;

	p.id = NULL;
	p.allowed_ips = NULL;
	if (src->id) {
		p.id = strdup(src->id);
		if (!p.id)
			return -ENOMEM;
	}
	if (src->n_allowed_ips > 0) {
		p.allowed_ips = memdup(src->allowed_ips, src->n_allowed_ips * sizeof(*p.allowed_ips));
		if (!p.allowed_ips) {
			free(p.id);
			return -ENOMEM;
		}
	}
	*dst = p;
	return 0;
}

struct wg_peer *wg_device_add_peer(struct wg_device *d)
{
	struct wg_peer *n;

	if (d->n_peers >= WG_PEERS_MAX)
		return NULL;
	/* Grow geometrically; reallocarray keeps overflow checks. */
	if ((d->n_peers & (d->n_peers - 1)) == 0) {
		size_t cap = d->n_peers ? d->n_peers * 2 : 4;
		n = reallocarray(d->peers, cap, sizeof(*n));
		if (!n)
			return NULL;
		d->peers = n;
	}
	n = &d->peers[d->n_peers++];
	memset(n, 0, sizeof(*n));
	return n;
}

int wg_peer_add_allowed_ip(struct wg_peer *p, const struct wg_prefix *prefix)
{
	struct wg_prefix *n;

	if (p->n_allowed_ips >= WG_ALLOWED_IPS_PER_PEER_MAX)
		return -E2BIG;
	if ((p->n_allowed_ips & (p->n_allowed_ips - 1)) == 0) {
		size_t cap = p->n_allowed_ips ? p->n_allowed_ips * 2 : 2;
		n = reallocarray(p->allowed_ips, cap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		p->allowed_ips = n;
	}
	p->allowed_ips[p->n_allowed_ips++] = *prefix;
	return 0;
}

/* ---- diff ---- */

static int peer_ptr_cmp(const void *a, const void *b)
{
	const struct wg_peer *const *x = a, *const *y = b;

	return memcmp((*x)->public_key, (*y)->public_key, WG_KEY_SIZE);
}

static bool handshake_recent(const struct wg_peer *p, struct timespec now)
{
	int64_t age;

	if (p->last_handshake.tv_sec == 0 && p->last_handshake.tv_nsec == 0)
		return false;
	age = (int64_t)now.tv_sec - (int64_t)p->last_handshake.tv_sec;
	/* A handshake stamped slightly in the future (clock step) still counts as recent. */
	return age <= WG_ROAMING_WINDOW_SEC;
}

static int peer_fields_differ(const struct wg_peer *want, const struct wg_peer *have,
			      struct timespec now, bool reconcile, unsigned *ret)
{
	unsigned f = 0;
	int r;

	if (want->has_psk != have->has_psk ||
	    (want->has_psk && memcmp(want->preshared_key, have->preshared_key, WG_KEY_SIZE) != 0))
		f |= WG_PEER_FIELD_PSK;
	if (want->persistent_keepalive != have->persistent_keepalive)
		f |= WG_PEER_FIELD_KEEPALIVE;
	r = wg_prefixes_equal(want->allowed_ips, want->n_allowed_ips, have->allowed_ips,
			      have->n_allowed_ips);
	if (r < 0)
		return r;
	if (r == 0)
		f |= WG_PEER_FIELD_ALLOWED_IPS;
	if (want->has_endpoint &&
	    (!have->has_endpoint || !wg_sockaddr_equal(&want->endpoint, &have->endpoint))) {
		bool roamed = reconcile && have->has_endpoint && handshake_recent(have, now);
		if (!roamed)
			f |= WG_PEER_FIELD_ENDPOINT;
	}
	*ret = f;
	return 0;
}

int wg_diff(const struct wg_device *desired, const struct wg_device *actual, struct timespec now,
	    bool reconcile, struct wg_change_set *ret)
{
	_cleanup_free_ const struct wg_peer **want = NULL, **have = NULL;
	_cleanup_free_ bool *seen = NULL;
	_cleanup_free_ struct wg_peer_change *ch = NULL;
	struct wg_change_set cs = { .desired = desired };
	size_t n = 0, nw = desired->n_peers, nh = actual->n_peers;
	int r;

	if (nw > 0) {
		want = calloc(nw, sizeof(*want));
		if (!want)
			return -ENOMEM;
	}
	if (nh > 0) {
		have = calloc(nh, sizeof(*have));
		seen = calloc(nh, sizeof(*seen));
		if (!have || !seen)
			return -ENOMEM;
	}
	if (nw + nh > 0) {
		ch = calloc(nw + nh, sizeof(*ch));
		if (!ch)
			return -ENOMEM;
	}
	for (size_t i = 0; i < nw; i++)
		want[i] = &desired->peers[i];
	for (size_t i = 0; i < nh; i++)
		have[i] = &actual->peers[i];
	if (nw > 1) {
		qsort(want, nw, sizeof(*want), peer_ptr_cmp);
		for (size_t i = 1; i < nw; i++)
			if (peer_ptr_cmp(&want[i - 1], &want[i]) == 0)
				return -EINVAL; /* keys must be unique: wg_peer_set_build ensures it */
	}
	if (nh > 1)
		qsort(have, nh, sizeof(*have), peer_ptr_cmp);

	if (desired->has_private_key &&
	    (!actual->has_private_key ||
	     memcmp(desired->private_key, actual->private_key, WG_KEY_SIZE) != 0))
		cs.device_fields |= WG_DEVICE_FIELD_PRIVATE_KEY;
	if (desired->listen_port != 0 && desired->listen_port != actual->listen_port)
		cs.device_fields |= WG_DEVICE_FIELD_LISTEN_PORT;
	if (desired->fwmark != actual->fwmark)
		cs.device_fields |= WG_DEVICE_FIELD_FWMARK;

	/* Pass 1 marks device peers that are desired and records updates; pass order below
	 * emits removals, then updates, then additions. */
	_cleanup_free_ unsigned *upd = NULL;
	_cleanup_free_ const struct wg_peer **match = NULL;
	if (nw > 0) {
		upd = calloc(nw, sizeof(*upd));
		match = calloc(nw, sizeof(*match));
		if (!upd || !match)
			return -ENOMEM;
	}
	for (size_t i = 0; i < nw; i++) {
		const struct wg_peer *w = &desired->peers[i], **hit;

		hit = nh > 0 ? bsearch(&w, have, nh, sizeof(*have), peer_ptr_cmp) : NULL;
		if (!hit)
			continue;
		match[i] = *hit;
		seen[hit - have] = true;
		r = peer_fields_differ(w, *hit, now, reconcile, &upd[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < nh; i++)
		if (!seen[i])
			ch[n++] = (struct wg_peer_change){ .op = WG_PEER_OP_REMOVE, .peer = have[i] };
	for (size_t i = 0; i < nw; i++)
		if (match[i] && upd[i])
			ch[n++] = (struct wg_peer_change){ .op = WG_PEER_OP_UPDATE,
							   .fields = upd[i],
							   .peer = &desired->peers[i] };
	for (size_t i = 0; i < nw; i++) {
		const struct wg_peer *w = &desired->peers[i];
		unsigned f = WG_PEER_FIELD_ALLOWED_IPS;

		if (match[i])
			continue;
		if (w->has_psk)
			f |= WG_PEER_FIELD_PSK;
		if (w->has_endpoint)
			f |= WG_PEER_FIELD_ENDPOINT;
		if (w->persistent_keepalive)
			f |= WG_PEER_FIELD_KEEPALIVE;
		ch[n++] = (struct wg_peer_change){ .op = WG_PEER_OP_ADD, .fields = f, .peer = w };
	}
	cs.n_changes = n;
	cs.changes = n > 0 ? TAKE_PTR(ch) : NULL;
	*ret = cs;
	return 0;
}

bool wg_change_set_is_empty(const struct wg_change_set *cs)
{
	return cs->device_fields == 0 && cs->n_changes == 0;
}

void wg_change_set_done(struct wg_change_set *cs)
{
	if (!cs)
		return;
	free(cs->changes);
	*cs = (struct wg_change_set){};
}

void wg_peer_fields_format(unsigned fields, char *out, size_t size)
{
	static const struct {
		unsigned flag;
		const char *name;
	} names[] = {
		{ WG_PEER_FIELD_PSK, "psk" },
		{ WG_PEER_FIELD_ENDPOINT, "endpoint" },
		{ WG_PEER_FIELD_KEEPALIVE, "keepalive" },
		{ WG_PEER_FIELD_ALLOWED_IPS, "allowed_ips" },
	};
	size_t pos = 0;

	if (size == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		int k;
		if (!(fields & names[i].flag))
			continue;
		k = snprintf(out + pos, size - pos, "%s%s", pos ? "," : "", names[i].name);
		if (k < 0 || (size_t)k >= size - pos)
			return;
		pos += (size_t)k;
	}
}

/* ---- desired peer set ---- */

/* Binary trie over prefix bits of prefixes already kept by smaller-id peers; answers "does
 * this prefix overlap any kept one" in O(prefix length), so rule 7 stays linear in the number
 * of prefixes even at WG_PEERS_MAX. Nodes live in one array, index 0 = none. */
struct trie_node {
	uint32_t child[2];
	bool kept;  /* a kept prefix ends exactly here */
	bool below; /* a kept prefix ends here or deeper */
};

struct trie {
	struct trie_node *nodes;
	size_t n, cap;
	uint32_t root[2]; /* per family: [0] IPv4, [1] IPv6 */
};

static int trie_node_new(struct trie *t, uint32_t *ret)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct trie_node *nn = reallocarray(t->nodes, cap, sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		t->nodes = nn;
		t->cap = cap;
		if (t->n == 0)
			t->n = 1; /* reserve index 0 as "none" */
	}
	t->nodes[t->n] = (struct trie_node){};
	*ret = (uint32_t)t->n++;
	return 0;
}

static unsigned prefix_bit(const struct wg_prefix *p, unsigned i)
{
	const uint8_t *b = (const uint8_t *)&p->addr;

	return (b[i / 8] >> (7 - i % 8)) & 1;
}

static bool trie_overlaps(const struct trie *t, const struct wg_prefix *p)
{
	uint32_t cur = t->root[p->family == AF_INET6];

	for (unsigned i = 0; cur; i++) {
		if (t->nodes[cur].kept)
			return true; /* a kept prefix contains p */
		if (i == p->cidr)
			return t->nodes[cur].below; /* p contains a kept prefix */
		cur = t->nodes[cur].child[prefix_bit(p, i)];
	}
	return false;
}

static int trie_insert(struct trie *t, const struct wg_prefix *p)
{
	unsigned fam = p->family == AF_INET6;
	uint32_t cur;
	int r;

	if (!t->root[fam]) {
		r = trie_node_new(t, &cur);
		if (r < 0)
			return r;
		t->root[fam] = cur;
	}
	cur = t->root[fam];
	for (unsigned i = 0;; i++) {
		uint32_t next;
		t->nodes[cur].below = true;
		if (i == p->cidr) {
			t->nodes[cur].kept = true;
			return 0;
		}
		next = t->nodes[cur].child[prefix_bit(p, i)];
		if (!next) {
			r = trie_node_new(t, &next);
			if (r < 0)
				return r;
			t->nodes[cur].child[prefix_bit(p, i)] = next;
		}
		cur = next;
	}
}

static int add_error(struct wg_peer_set *s, const char *id, bool skipped, const char *fmt, ...)
	_printf_(4, 5);
static int add_error(struct wg_peer_set *s, const char *id, bool skipped, const char *fmt, ...)
{
	struct wg_peer_error *n;
	char *reason = NULL;
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vasprintf(&reason, fmt, ap);
	va_end(ap);
	if (k < 0)
		return -ENOMEM;
	n = reallocarray(s->errors, s->n_errors + 1, sizeof(*n));
	if (!n) {
		free(reason);
		return -ENOMEM;
	}
	s->errors = n;
	n[s->n_errors].id = strdup(id ? id : "(none)");
	if (!n[s->n_errors].id) {
		free(reason);
		return -ENOMEM;
	}
	n[s->n_errors].reason = reason;
	n[s->n_errors].skipped = skipped;
	s->n_errors++;
	return 0;
}

static int input_cmp(const void *a, const void *b, void *userdata)
{
	const struct wg_peer_input *in = userdata;
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
	const char *x = in[ia].id, *y = in[ib].id;
	int r;

	/* Missing ids sort last; equal ids keep input order so "first wins" is deterministic. */
	if (!x || !y)
		r = (int)!x - (int)!y;
	else
		r = strcmp(x, y);
	if (r == 0)
		r = ia < ib ? -1 : ia > ib;
	return r;
}

struct key_rank {
	uint8_t key[WG_KEY_SIZE];
	size_t rank; /* position in id order */
	size_t index;
};

static int key_rank_cmp(const void *a, const void *b)
{
	const struct key_rank *x = a, *y = b;
	int r = memcmp(x->key, y->key, WG_KEY_SIZE);

	if (r != 0)
		return r;
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* A public key used by several ids: every holder but the smallest id is marked (sorting
 * instead of pairwise comparison keeps this O(n log n) at WG_PEERS_MAX). The decoded keys are
 * handed back (ret_keys[input index], ret_key_ok) so that each key is parsed only once. */
static int mark_duplicate_keys(const struct wg_peer_input *in, const size_t *order, size_t n,
			       bool **ret, uint8_t (**ret_keys)[WG_KEY_SIZE], bool **ret_key_ok)
{
	_cleanup_free_ struct key_rank *kr = NULL;
	_cleanup_free_ bool *dup = NULL, *ok = NULL;
	_cleanup_free_ uint8_t (*keys)[WG_KEY_SIZE] = NULL;
	size_t m = 0;

	if (n == 0) {
		*ret = NULL;
		*ret_keys = NULL;
		*ret_key_ok = NULL;
		return 0;
	}
	kr = calloc(n, sizeof(*kr));
	dup = calloc(n, sizeof(*dup));
	ok = calloc(n, sizeof(*ok));
	keys = calloc(n, sizeof(*keys));
	if (!kr || !dup || !ok || !keys)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		const struct wg_peer_input *pi = &in[order[k]];
		if (!pi->public_key || key32_parse(pi->public_key, kr[m].key) < 0)
			continue;
		memcpy(keys[order[k]], kr[m].key, WG_KEY_SIZE);
		ok[order[k]] = true;
		kr[m].rank = k;
		kr[m].index = order[k];
		m++;
	}
	if (m > 1)
		qsort(kr, m, sizeof(*kr), key_rank_cmp);
	for (size_t i = 1; i < m; i++)
		if (memcmp(kr[i - 1].key, kr[i].key, WG_KEY_SIZE) == 0)
			dup[kr[i].index] = true;
	*ret = TAKE_PTR(dup);
	*ret_keys = TAKE_PTR(keys);
	*ret_key_ok = TAKE_PTR(ok);
	return 0;
}

/* Parses one input into *p; on invalid data returns 0 with *ret_reason set (static text or
 * a buffer in reason_buf). */
static int peer_parse(const struct wg_peer_input *in, const uint8_t *key, struct in_addr mesh_ip,
		      uint16_t keepalive, struct wg_peer *p, char *reason_buf, size_t reason_size,
		      const char **ret_reason)
{
	int r;

	*ret_reason = NULL;
	if (!in->id || !id_is_valid(in->id)) {
		*ret_reason = "invalid peer id";
		return 0;
	}
	if (!key) { /* decoded by mark_duplicate_keys */
		*ret_reason = "public key is not base64 of 32 bytes";
		return 0;
	}
	memcpy(p->public_key, key, WG_KEY_SIZE);
	if (!isempty(in->psk)) {
		if (key32_parse(in->psk, p->preshared_key) < 0) {
			*ret_reason = "psk is not base64 of 32 bytes";
			return 0;
		}
		p->has_psk = true;
	}
	if (!isempty(in->endpoint)) {
		if (endpoint_parse(in->endpoint, &p->endpoint) < 0) {
			*ret_reason = "endpoint is not ip:port";
			return 0;
		}
		p->has_endpoint = true;
	}
	if (in->n_allowed_ips > WG_ALLOWED_IPS_PER_PEER_MAX) {
		*ret_reason = "too many allowed IPs";
		return 0;
	}
	for (size_t i = 0; i < in->n_allowed_ips; i++) {
		struct wg_prefix pf;
		if (wg_prefix_parse(in->allowed_ips[i], &pf) < 0) {
			snprintf(reason_buf, reason_size, "allowed IP %zu is not an IPv4/IPv6 prefix", i);
			*ret_reason = reason_buf;
			return 0;
		}
		if (pf.family == AF_INET && wg_prefix_contains_v4(&pf, mesh_ip)) {
			char t[WG_PREFIX_STRLEN];
			(void)wg_prefix_format(&pf, t, sizeof(t));
			snprintf(reason_buf, reason_size, "allowed IP %s covers own mesh IP", t);
			*ret_reason = reason_buf;
			return 0;
		}
		r = wg_peer_add_allowed_ip(p, &pf);
		if (r < 0)
			return r;
	}
	p->n_allowed_ips = wg_prefixes_normalise(p->allowed_ips, p->n_allowed_ips);
	p->persistent_keepalive = keepalive;
	return 0;
}

int wg_peer_set_build(const struct wg_peer_input *in, size_t n, struct in_addr mesh_ip,
		      uint16_t keepalive, struct wg_peer_set *ret)
{
	struct wg_peer_set s = {};
	struct wg_device acc = {}; /* reuses the peer array growth */
	_cleanup_free_ size_t *order = NULL;
	_cleanup_free_ bool *key_dup = NULL, *key_ok = NULL;
	_cleanup_free_ uint8_t (*keys)[WG_KEY_SIZE] = NULL;
	struct trie t = {};
	int r = 0;

	if (n > WG_PEERS_MAX)
		return -E2BIG;
	if (n > 0) {
		order = calloc(n, sizeof(*order));
		if (!order)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	if (n > 1)
		qsort_r(order, n, sizeof(*order), input_cmp, (void *)in);
	r = mark_duplicate_keys(in, order, n, &key_dup, &keys, &key_ok);
	if (r < 0)
		return r;

	for (size_t k = 0; k < n; k++) {
		const struct wg_peer_input *pi = &in[order[k]];
		struct wg_peer p = {};
		const char *reason;
		char reason_buf[128];
		size_t kept = 0;

		r = peer_parse(pi, key_ok[order[k]] ? keys[order[k]] : NULL, mesh_ip, keepalive, &p,
			       reason_buf, sizeof(reason_buf), &reason);
		if (r < 0) {
			wg_peer_done(&p);
			goto fail;
		}
		if (!reason && k > 0 && in[order[k - 1]].id && streq(in[order[k - 1]].id, pi->id))
			reason = "duplicate peer id";
		if (!reason && key_dup[order[k]])
			reason = "public key also used by a peer with a smaller id";
		if (reason) {
			wg_peer_done(&p);
			r = add_error(&s, pi->id, true, "%s", reason);
			if (r < 0)
				goto fail;
			continue;
		}
		/* Rule 7: a prefix overlapping one kept by a smaller id is dropped from this peer.
		 * Checks run against the trie before this peer's own prefixes enter it, so a
		 * peer's own overlapping prefixes never conflict with each other. */
		for (size_t i = 0; i < p.n_allowed_ips; i++) {
			if (trie_overlaps(&t, &p.allowed_ips[i])) {
				char pf[WG_PREFIX_STRLEN];
				(void)wg_prefix_format(&p.allowed_ips[i], pf, sizeof(pf));
				r = add_error(&s, pi->id, false,
					      "allowed IP %s overlaps a peer with a smaller id, dropped",
					      pf);
				if (r < 0) {
					wg_peer_done(&p);
					goto fail;
				}
				continue;
			}
			p.allowed_ips[kept++] = p.allowed_ips[i];
		}
		p.n_allowed_ips = kept;
		for (size_t i = 0; i < p.n_allowed_ips; i++) {
			r = trie_insert(&t, &p.allowed_ips[i]);
			if (r < 0) {
				wg_peer_done(&p);
				goto fail;
			}
		}
		p.id = strdup(pi->id);
		struct wg_peer *slot = p.id ? wg_device_add_peer(&acc) : NULL;
		if (!slot) {
			wg_peer_done(&p);
			r = -ENOMEM;
			goto fail;
		}
		*slot = p;
	}
	free(t.nodes);
	s.peers = acc.peers;
	s.n_peers = acc.n_peers;
	*ret = s;
	return 0;
fail:
	free(t.nodes);
	wg_device_done(&acc);
	wg_peer_set_done(&s);
	return r;
}

void wg_peer_set_done(struct wg_peer_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_peers; i++)
		wg_peer_done(&s->peers[i]);
	free(s->peers);
	for (size_t i = 0; i < s->n_errors; i++) {
		free(s->errors[i].id);
		free(s->errors[i].reason);
	}
	free(s->errors);
	*s = (struct wg_peer_set){};
}
