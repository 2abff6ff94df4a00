/* Policy compiler: ordered rules -> entries per direction -> merged groups -> canonical nft
 * state. The merge rule and why it preserves first-match order are documented in compile.h. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy/compile.h"
#include "shared/macro.h"

static const char *const dir_names[_POLICY_DIR_MAX] = {
	[POLICY_DIR_IN] = "in",
	[POLICY_DIR_OUT] = "out",
};

const char *policy_dir_to_string(enum policy_dir d)
{
	return d < _POLICY_DIR_MAX ? dir_names[d] : NULL;
}

unsigned policy_key_shape(const struct policy_key *k)
{
	return (k->has_addr ? POLICY_SHAPE_ADDR : 0) | (k->proto ? POLICY_SHAPE_PROTO : 0) |
	       (k->port ? POLICY_SHAPE_PORT : 0);
}

bool policy_key_matches(const struct policy_key *k, struct in_addr addr, uint8_t proto,
			uint16_t dport)
{
	if (k->has_addr && !ipv4_prefix_contains(&k->addr, addr))
		return false;
	if (k->proto && k->proto != proto)
		return false;
	if (k->port && k->port != dport)
		return false;
	return true;
}

/* ---- open-addressing set of 64-bit keys, cleared in O(1) by bumping a generation ---- */

struct keyset {
	uint64_t *keys;
	uint32_t *gens;
	size_t cap, n;
	uint32_t gen;
};

static void keyset_done(struct keyset *s)
{
	free(s->keys);
	free(s->gens);
}

static size_t keyset_slot(uint64_t k, size_t cap)
{
	k ^= k >> 33;
	k *= UINT64_C(0xff51afd7ed558ccd);
	k ^= k >> 33;
	return (size_t)k & (cap - 1);
}

static bool keyset_has(const struct keyset *s, uint64_t k)
{
	if (s->cap == 0)
		return false;
	for (size_t i = keyset_slot(k, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (s->gens[i] != s->gen)
			return false;
		if (s->keys[i] == k)
			return true;
	}
}

static int keyset_add(struct keyset *s, uint64_t k)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		uint64_t *nk = calloc(ncap, sizeof(*nk));
		uint32_t *ng = calloc(ncap, sizeof(*ng));
		if (!nk || !ng) {
			free(nk);
			free(ng);
			return -ENOMEM;
		}
		/* New slots are generation 0; live generations start at 1. */
		for (size_t i = 0; i < s->cap; i++)
			if (s->gens[i] == s->gen) {
				size_t j = keyset_slot(s->keys[i], ncap);
				while (ng[j] == s->gen)
					j = (j + 1) & (ncap - 1);
				nk[j] = s->keys[i];
				ng[j] = s->gen;
			}
		free(s->keys);
		free(s->gens);
		s->keys = nk;
		s->gens = ng;
		s->cap = ncap;
	}
	for (size_t i = keyset_slot(k, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (s->gens[i] != s->gen) {
			s->gens[i] = s->gen;
			s->keys[i] = k;
			s->n++;
			return 0;
		}
		if (s->keys[i] == k)
			return 0;
	}
}

/* Room for n keys without growing. */
static int keyset_reserve(struct keyset *s, size_t n)
{
	size_t cap = 64;

	while (cap < 2 * n)
		cap *= 2;
	s->keys = calloc(cap, sizeof(*s->keys));
	s->gens = calloc(cap, sizeof(*s->gens));
	if (!s->keys || !s->gens)
		return -ENOMEM;
	s->cap = cap;
	return 0;
}

static void keyset_clear(struct keyset *s)
{
	s->gen++;
	s->n = 0;
}

static uint32_t mask_of(unsigned len)
{
	return len == 0 ? 0 : UINT32_MAX << (32 - len);
}

static uint64_t key_code(uint32_t addr_host, unsigned len, uint8_t proto, uint16_t port)
{
	return (uint64_t)(addr_host & mask_of(len)) << 32 | (uint64_t)(len & 0x3f) << 24 |
	       (uint64_t)proto << 16 | port;
}

/* ---- ruleset ---- */

struct policy_ruleset *policy_ruleset_free(struct policy_ruleset *rs)
{
	if (!rs)
		return NULL;
	for (size_t d = 0; d < _POLICY_DIR_MAX; d++) {
		free(rs->chains[d].entries);
		free(rs->chains[d].groups);
	}
	for (size_t i = 0; rs->policy_ids && i < rs->n_policies; i++)
		free(rs->policy_ids[i]);
	free(rs->policy_ids);
	free(rs->visible);
	free(rs->access_tcp);
	policy_skipped_free(rs->skipped, rs->n_skipped);
	free(rs);
	return NULL;
}

static bool ifname_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n >= POLICY_IFNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)s[i]) || s[i] == '"' || s[i] == '\\' || s[i] == '/')
			return false;
	return true;
}

static void selector_to_key(const struct policy_selector *s, const struct policy_nodes *nodes,
			    struct policy_key *k)
{
	switch (s->kind) {
	case POLICY_SELECTOR_ANY:
		k->has_addr = false;
		break;
	case POLICY_SELECTOR_LOCAL:
		k->has_addr = true;
		k->addr = (struct ipv4_prefix){ .addr = nodes->local->mesh_ip, .len = 32 };
		break;
	case POLICY_SELECTOR_PEER:
		k->has_addr = true;
		k->addr = (struct ipv4_prefix){ .addr = nodes->peers[s->peer].mesh_ip, .len = 32 };
		break;
	case POLICY_SELECTOR_CIDR:
		k->has_addr = true;
		k->addr = s->cidr;
		break;
	}
}

/* Rules before the first group in mesh-in/mesh-out (see mesh_chain_fill). */
static size_t chain_base(enum policy_dir dir, bool default_allow)
{
	return dir == POLICY_DIR_IN ? (default_allow ? 4 : 5) : (default_allow ? 2 : 3);
}

static int chain_push(struct policy_chain *c, size_t *cap, const struct policy_entry *e)
{
	if (c->n_entries == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct policy_entry *t = reallocarray(c->entries, ncap, sizeof(*t));
		if (!t)
			return -ENOMEM;
		c->entries = t;
		*cap = ncap;
	}
	c->entries[c->n_entries++] = *e;
	return 0;
}

static int skipped_push(struct policy_ruleset *rs, size_t *cap, const char *id, size_t index,
			const char *reason)
{
	struct policy_skipped_rule *t = rs->skipped;

	if (rs->n_skipped == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		t = reallocarray(rs->skipped, ncap, sizeof(*t));
		if (!t)
			return -ENOMEM;
		rs->skipped = t;
		*cap = ncap;
	}
	t[rs->n_skipped] = (struct policy_skipped_rule){ .rule_index = index };
	t[rs->n_skipped].policy_id = strdup(strempty(id));
	if (!t[rs->n_skipped].policy_id)
		return -ENOMEM;
	snprintf(t[rs->n_skipped].reason, sizeof t[rs->n_skipped].reason, "%s", reason);
	rs->n_skipped++;
	return 0;
}

/* Cuts a chain's entries into groups (see compile.h). `exact` holds the kept keys of the
 * current group and `lens` their prefix lengths, so "is covered by a kept key" is one hash
 * lookup per length in use. "Covers a kept key" asks `below`, the proper ancestor prefixes of
 * the kept keys, which is filled lazily per length: only a new key of length L shorter than
 * some kept key needs ancestors at L. With host addresses only (the common case) nothing is
 * ever put into `below` and grouping is O(1) per entry; the worst case is 33 ancestors per
 * kept key, as with an eager set. */
static int chain_group(struct policy_chain *c, enum policy_dir dir)
{
	struct keyset exact = { .gen = 1 }, below = { .gen = 1 };
	struct policy_group *g = NULL;
	uint64_t lens = 0, below_lens = 0; /* bit l: some kept key / all ancestors at length l */
	size_t n_maps = 0;
	int r = 0;

	if (c->n_entries == 0)
		return 0;
	c->groups = calloc(c->n_entries, sizeof(*c->groups));
	if (!c->groups)
		return -ENOMEM;
	/* A group never holds more kept keys than the chain has entries. */
	r = keyset_reserve(&exact, c->n_entries);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < c->n_entries; i++) {
		struct policy_entry *e = &c->entries[i];
		const struct policy_key *k = &e->key;
		unsigned shape = policy_key_shape(k);
		uint32_t a = k->has_addr ? ntohl(k->addr.addr.s_addr) : 0;
		unsigned len = k->has_addr ? k->addr.len : 0;
		bool covered = false;

		if (g && g->shape == shape) {
			/* Without an address every key has length 0: only l == len applies. */
			for (uint64_t m = lens & (UINT64_MAX >> (63 - len)); m && !covered; m &= m - 1) {
				unsigned l = (unsigned)__builtin_ctzll(m);
				if (keyset_has(&exact, key_code(a, l, k->proto, k->port)))
					covered = true;
			}
			if (covered) {
				e->shadowed = true;
				e->group = (size_t)(g - c->groups);
				g->n++;
				continue;
			}
			if (!(lens >> len >> 1))
				goto add; /* no kept key is longer: e covers none */
			if (!(below_lens & UINT64_C(1) << len)) {
				for (size_t j = g->first; r >= 0 && j < i; j++) {
					const struct policy_key *o = &c->entries[j].key;
					if (!c->entries[j].shadowed && o->addr.len > len)
						r = keyset_add(&below, key_code(ntohl(o->addr.addr.s_addr), len,
										o->proto, o->port));
				}
				if (r < 0)
					goto out;
				below_lens |= UINT64_C(1) << len;
			}
			if (!keyset_has(&below, key_code(a, len, k->proto, k->port)))
				goto add;
		}
		g = g ? g + 1 : c->groups;
		*g = (struct policy_group){ .first = i, .shape = shape };
		c->n_groups++;
		keyset_clear(&exact);
		keyset_clear(&below);
		lens = below_lens = 0;
	add:
		e->group = (size_t)(g - c->groups);
		g->n++;
		g->n_kept++;
		if (k->has_addr && len < 32)
			g->interval = true;
		lens |= UINT64_C(1) << len;
		r = keyset_add(&exact, key_code(a, len, k->proto, k->port));
		for (uint64_t m = below_lens & ((UINT64_C(1) << len) - 1); r >= 0 && m; m &= m - 1)
			r = keyset_add(&below, key_code(a, (unsigned)__builtin_ctzll(m), k->proto, k->port));
		if (r < 0)
			goto out;
	}
	for (size_t j = 0; j < c->n_groups; j++)
		if (c->groups[j].n_kept > 1)
			snprintf(c->groups[j].map, sizeof c->groups[j].map, "%s_%zu", dir_names[dir],
				 n_maps++);
out:
	keyset_done(&exact);
	keyset_done(&below);
	return r;
}

static int addr_cmp(const void *a, const void *b)
{
	uint32_t x = ntohl(((const struct in_addr *)a)->s_addr);
	uint32_t y = ntohl(((const struct in_addr *)b)->s_addr);
	return (x > y) - (x < y);
}

static int port_cmp(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

int policy_compile(const struct policy_compile_input *in, struct policy_ruleset **ret)
{
	_cleanup_(policy_ruleset_freep) struct policy_ruleset *rs = NULL;
	const struct policy_nodes *nodes = in->nodes;
	size_t cap[_POLICY_DIR_MAX] = {}, cap_skipped = 0;
	int r;

	if (!nodes || !nodes->local || !ifname_valid(in->ifname))
		return -EINVAL;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	snprintf(rs->ifname, sizeof rs->ifname, "%s", in->ifname);
	rs->default_allow = in->default_allow;
	rs->log_denied = in->log_denied;
	rs->bridge = in->bridge;
	rs->local_ip = nodes->local->mesh_ip;

	if (nodes->n_peers > 0) {
		rs->visible = calloc(nodes->n_peers, sizeof(*rs->visible));
		if (!rs->visible)
			return -ENOMEM;
	}
	for (size_t i = 0; i < nodes->n_peers; i++)
		if (in->visible && in->visible[i])
			rs->visible[rs->n_visible++] = nodes->peers[i].mesh_ip;
	if (rs->n_visible > 1)
		qsort(rs->visible, rs->n_visible, sizeof(*rs->visible), addr_cmp);
	/* Two peers with one mesh IP would be a duplicate set element. */
	if (rs->n_visible > 1) {
		size_t j = 1;
		for (size_t i = 1; i < rs->n_visible; i++)
			if (rs->visible[i].s_addr != rs->visible[j - 1].s_addr)
				rs->visible[j++] = rs->visible[i];
		rs->n_visible = j;
	}

	if (in->n_access_tcp > 0) {
		rs->access_tcp = calloc(in->n_access_tcp, sizeof(*rs->access_tcp));
		if (!rs->access_tcp)
			return -ENOMEM;
		for (size_t i = 0; i < in->n_access_tcp; i++) {
			if (in->access_tcp[i] == 0)
				return -EINVAL;
			rs->access_tcp[i] = in->access_tcp[i];
		}
		qsort(rs->access_tcp, in->n_access_tcp, sizeof(uint16_t), port_cmp);
		rs->n_access_tcp = 1;
		for (size_t i = 1; i < in->n_access_tcp; i++)
			if (rs->access_tcp[i] != rs->access_tcp[rs->n_access_tcp - 1])
				rs->access_tcp[rs->n_access_tcp++] = rs->access_tcp[i];
	}

	if (in->n_policies > 0) {
		rs->policy_ids = calloc(in->n_policies, sizeof(char *));
		if (!rs->policy_ids)
			return -ENOMEM;
	}
	rs->n_policies = in->n_policies;
	for (size_t p = 0; p < in->n_policies; p++) {
		const struct cp_policy *pol = &in->policies[p];

		rs->policy_ids[p] = strdup(strempty(pol->id));
		if (!rs->policy_ids[p])
			return -ENOMEM;
		for (size_t k = 0; k < pol->n_rules; k++) {
			struct policy_rule_resolved rr;
			struct policy_entry e = { .policy = p, .rule = k };
			char reason[160];

			if (policy_rule_resolve(&pol->rules[k], nodes, &rr, reason, sizeof reason) < 0) {
				r = skipped_push(rs, &cap_skipped, pol->id, k, reason);
				if (r < 0)
					return r;
				continue;
			}
			e.allow = rr.allow;
			e.key.proto = rr.protocol == CP_PROTOCOL_TCP   ? IPPROTO_TCP
				      : rr.protocol == CP_PROTOCOL_UDP ? IPPROTO_UDP
								       : 0;
			e.key.port = (uint16_t)rr.port;
			if (policy_selector_matches(&rr.dst, nodes, (size_t)-1)) {
				selector_to_key(&rr.src, nodes, &e.key);
				r = chain_push(&rs->chains[POLICY_DIR_IN], &cap[POLICY_DIR_IN], &e);
				if (r < 0)
					return r;
			}
			if (policy_selector_matches(&rr.src, nodes, (size_t)-1)) {
				selector_to_key(&rr.dst, nodes, &e.key);
				r = chain_push(&rs->chains[POLICY_DIR_OUT], &cap[POLICY_DIR_OUT], &e);
				if (r < 0)
					return r;
			}
		}
	}
	for (size_t d = 0; d < _POLICY_DIR_MAX; d++) {
		r = chain_group(&rs->chains[d], d);
		if (r < 0)
			return r;
		for (size_t g = 0; g < rs->chains[d].n_groups; g++)
			rs->chains[d].groups[g].chain_rule = chain_base(d, rs->default_allow) + g;
	}
	*ret = TAKE_PTR(rs);
	return 0;
}

ssize_t policy_ruleset_decide(const struct policy_ruleset *rs, enum policy_dir dir,
			      struct in_addr addr, uint8_t proto, uint16_t dport)
{
	const struct policy_chain *c = &rs->chains[dir];

	for (size_t g = 0; g < c->n_groups; g++) {
		const struct policy_group *grp = &c->groups[g];
		ssize_t hit = -1;

		/* One lookup: the kept keys are disjoint, so at most one can match; finding two
		 * would be a compiler bug, reported as -2. */
		for (size_t i = grp->first; i < grp->first + grp->n; i++) {
			const struct policy_entry *e = &c->entries[i];
			if (e->shadowed || !policy_key_matches(&e->key, addr, proto, dport))
				continue;
			if (hit >= 0)
				return -2;
			hit = (ssize_t)i;
		}
		if (hit >= 0)
			return hit;
	}
	return -1;
}

/* ---- canonical text ---- */

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : "?";
}

static void prefix_text(const struct ipv4_prefix *p, char *out, size_t size)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &p->addr, a, sizeof a);
	if (p->len == 32)
		snprintf(out, size, "%s", a);
	else
		snprintf(out, size, "%s/%u", a, p->len);
}

static char *put_uint(char *p, unsigned v)
{
	char t[12];
	size_t n = 0;

	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	while (n > 0)
		*p++ = t[--n];
	return p;
}

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return p + n;
}

/* Hand-rolled rather than snprintf/inet_ntop: it runs for every element of a full apply. */
size_t nft_elem_code_text(uint64_t code, unsigned shape, bool is_map, bool key_only,
			  char out[static NFT_ELEM_TEXT_MAX])
{
	uint32_t a = (uint32_t)(code >> 32);
	unsigned len = (unsigned)(code >> 24) & 0x3f;
	char *p = out;

	if (shape & POLICY_SHAPE_ADDR) {
		for (int sh = 24; sh >= 0; sh -= 8) {
			p = put_uint(p, (a >> sh) & 0xff);
			if (sh)
				*p++ = '.';
		}
		if (len != 32) {
			*p++ = '/';
			p = put_uint(p, len);
		}
	}
	if (shape & POLICY_SHAPE_PROTO) {
		if (p != out)
			p = put_str(p, " . ");
		p = put_str(p, proto_name((uint8_t)(code >> 16)));
	}
	if (shape & POLICY_SHAPE_PORT) {
		if (p != out)
			p = put_str(p, " . ");
		p = put_uint(p, (uint16_t)code);
	}
	if (is_map && !key_only)
		p = put_str(p, code & UINT64_C(1) << 30 ? " : accept" : " : drop");
	*p = '\0';
	return (size_t)(p - out);
}

static uint64_t entry_code(const struct policy_entry *e, unsigned shape)
{
	bool addr = shape & POLICY_SHAPE_ADDR;

	return nft_elem_code(addr ? ntohl(e->key.addr.addr.s_addr) : 0, addr ? e->key.addr.len : 0,
			     shape & POLICY_SHAPE_PROTO ? e->key.proto : 0,
			     shape & POLICY_SHAPE_PORT ? e->key.port : 0, e->allow);
}

int policy_entry_element(const struct policy_entry *e, unsigned shape, char *out, size_t size)
{
	char buf[NFT_ELEM_TEXT_MAX];
	size_t n = nft_elem_code_text(entry_code(e, shape), shape, true, false, buf);

	if (n >= size)
		return -ENOBUFS;
	memcpy(out, buf, n + 1);
	return 0;
}

static const char *addr_field(enum policy_dir dir)
{
	return dir == POLICY_DIR_IN ? "ip saddr" : "ip daddr";
}

int policy_entry_rule(const struct policy_entry *e, enum policy_dir dir, char *out, size_t size)
{
	char a[INET_ADDRSTRLEN + 4], m[64] = "", p[32] = "";
	int n;

	if (e->key.has_addr) {
		prefix_text(&e->key.addr, a, sizeof a);
		snprintf(m, sizeof m, "%s %s ", addr_field(dir), a);
	}
	/* nft lists `meta l4proto tcp th dport 22` as `tcp dport 22`; we write what it lists. */
	if (e->key.proto && e->key.port)
		snprintf(p, sizeof p, "%s dport %u ", proto_name(e->key.proto), e->key.port);
	else if (e->key.proto)
		snprintf(p, sizeof p, "meta l4proto %s ", proto_name(e->key.proto));
	n = snprintf(out, size, "%s%scounter %s", m, p, e->allow ? "accept" : "drop");
	return n < 0 || (size_t)n >= size ? -ENOBUFS : 0;
}

static void group_key_expr(unsigned shape, enum policy_dir dir, char *out, size_t size)
{
	snprintf(out, size, "%s%s%s%s", (shape & POLICY_SHAPE_ADDR) ? addr_field(dir) : "",
		 (shape & POLICY_SHAPE_ADDR) && (shape & POLICY_SHAPE_PROTO) ? " . " : "",
		 (shape & POLICY_SHAPE_PROTO) ? "meta l4proto" : "",
		 (shape & POLICY_SHAPE_PORT) ? " . th dport" : "");
}

static void group_key_type(unsigned shape, char *out, size_t size)
{
	snprintf(out, size, "%s%s%s%s", (shape & POLICY_SHAPE_ADDR) ? "ipv4_addr" : "",
		 (shape & POLICY_SHAPE_ADDR) && (shape & POLICY_SHAPE_PROTO) ? " . " : "",
		 (shape & POLICY_SHAPE_PROTO) ? "inet_proto" : "",
		 (shape & POLICY_SHAPE_PORT) ? " . inet_service" : "");
}

static void set_state_done(struct nft_set_state *s)
{
	free(s->name);
	free(s->decl);
	for (size_t i = 0; s->elems && i < s->n_elems; i++)
		free(s->elems[i]);
	free(s->elems);
	free(s->elem_packets);
	free(s->codes);
}

static void chain_state_done(struct nft_chain_state *c)
{
	free(c->name);
	free(c->decl);
	free(c->header);
	for (size_t i = 0; c->rules && i < c->n_rules; i++)
		free(c->rules[i]);
	free(c->rules);
	free(c->rule_handles);
	free(c->rule_packets);
}

struct nft_table_state *nft_table_state_free(struct nft_table_state *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n_sets; i++)
		set_state_done(&t->sets[i]);
	free(t->sets);
	for (size_t i = 0; i < t->n_chains; i++)
		chain_state_done(&t->chains[i]);
	free(t->chains);
	free(t);
	return NULL;
}

const struct nft_set_state *nft_table_state_find_set(const struct nft_table_state *t,
						     const char *name)
{
	for (size_t i = 0; t && i < t->n_sets; i++)
		if (streq(t->sets[i].name, name))
			return &t->sets[i];
	return NULL;
}

const struct nft_chain_state *nft_table_state_find_chain(const struct nft_table_state *t,
							 const char *name)
{
	for (size_t i = 0; t && i < t->n_chains; i++)
		if (streq(t->chains[i].name, name))
			return &t->chains[i];
	return NULL;
}

static int strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct nft_set_state *state_add_set(struct nft_table_state *t, const char *name,
					   const char *decl, bool is_map, unsigned shape,
					   size_t n_elems)
{
	struct nft_set_state *s = &t->sets[t->n_sets];

	*s = (struct nft_set_state){ .is_map = is_map, .shape = shape };
	t->n_sets++;
	s->name = strdup(name);
	s->decl = strdup(decl);
	s->codes = malloc((n_elems ? n_elems : 1) * sizeof(uint64_t));
	if (!s->name || !s->decl || !s->codes)
		return NULL;
	return s;
}

/* LSD radix sort, one byte per pass; passes over a byte that is the same in every code (the
 * prefix length, an absent protocol, ...) are skipped. Several times faster than qsort for the
 * 10,000-element maps every apply builds. */
static int codes_sort(uint64_t *v, size_t n)
{
	size_t count[8][256] = {};
	uint64_t *tmp, *src = v, *dst;

	if (n < 2)
		return 0;
	tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	dst = tmp;
	for (size_t i = 0; i < n; i++)
		for (unsigned b = 0; b < 8; b++)
			count[b][(v[i] >> (8 * b)) & 0xff]++;
	for (unsigned b = 0; b < 8; b++) {
		size_t *c = count[b], sum = 0;

		if (c[(v[0] >> (8 * b)) & 0xff] == n)
			continue;
		for (unsigned d = 0; d < 256; d++) {
			size_t k = c[d];
			c[d] = sum;
			sum += k;
		}
		for (size_t i = 0; i < n; i++)
			dst[c[(src[i] >> (8 * b)) & 0xff]++] = src[i];
		uint64_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
	free(tmp);
	return 0;
}

static struct nft_chain_state *state_add_chain(struct nft_table_state *t, const char *name,
					       const char *decl, const char *header,
					       size_t max_rules)
{
	struct nft_chain_state *c = &t->chains[t->n_chains];

	*c = (struct nft_chain_state){};
	t->n_chains++;
	c->name = strdup(name);
	c->decl = strdup(decl);
	c->header = strdup(header);
	c->rules = calloc(max_rules, sizeof(char *));
	if (!c->name || !c->decl || !c->header || !c->rules)
		return NULL;
	return c;
}

static int chain_add_rule(struct nft_chain_state *c, const char *text)
{
	c->rules[c->n_rules] = strdup(text);
	if (!c->rules[c->n_rules])
		return -ENOMEM;
	c->n_rules++;
	return 0;
}

static int mesh_chain_fill(const struct policy_ruleset *rs, enum policy_dir dir,
			   struct nft_chain_state *c)
{
	const struct policy_chain *pc = &rs->chains[dir];
	const char *af = addr_field(dir);
	char buf[256];
	int r;

	r = chain_add_rule(c, "ct state established,related accept");
	if (r >= 0 && dir == POLICY_DIR_IN)
		r = chain_add_rule(c, "ct state invalid drop");
	/* The mesh is IPv4-only; IPv6 would otherwise slip through rules without an address. */
	if (r >= 0 && !rs->default_allow)
		r = chain_add_rule(c, "meta nfproto ipv6 drop");
	if (r >= 0) {
		snprintf(buf, sizeof buf, "%s @visible4 icmp type echo-request accept", af);
		r = chain_add_rule(c, buf);
	}
	if (r >= 0 && dir == POLICY_DIR_IN)
		r = chain_add_rule(c, "ip saddr @visible4 tcp dport @access_tcp accept");
	for (size_t g = 0; r >= 0 && g < pc->n_groups; g++) {
		const struct policy_group *grp = &pc->groups[g];
		char key[96];

		if (grp->chain_rule != c->n_rules)
			return -EPROTO; /* chain_base() out of step with this function */
		if (grp->n_kept > 1) {
			group_key_expr(grp->shape, dir, key, sizeof key);
			snprintf(buf, sizeof buf, "%s vmap @%s", key, grp->map);
		} else {
			const struct policy_entry *e = &pc->entries[grp->first];
			r = policy_entry_rule(e, dir, buf, sizeof buf);
			if (r < 0)
				return r;
		}
		r = chain_add_rule(c, buf);
	}
	if (r >= 0 && rs->log_denied && !rs->default_allow)
		r = chain_add_rule(c, "limit rate 10/second log prefix \"plexd-deny \" level debug");
	if (r >= 0)
		r = chain_add_rule(c, rs->default_allow ? "accept" : "drop");
	return r;
}

int policy_ruleset_to_desired(const struct policy_ruleset *rs, struct nft_table_state **ret)
{
	_cleanup_(nft_table_state_freep) struct nft_table_state *t = NULL;
	struct nft_set_state *s;
	struct nft_chain_state *c;
	size_t n_maps = 0;
	char buf[256];
	int r;

	for (size_t d = 0; d < _POLICY_DIR_MAX; d++)
		for (size_t g = 0; g < rs->chains[d].n_groups; g++)
			n_maps += rs->chains[d].groups[g].n_kept > 1;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->sets = calloc(2 + n_maps, sizeof(*t->sets));
	t->chains = calloc(5, sizeof(*t->chains));
	if (!t->sets || !t->chains)
		return -ENOMEM;

	/* visible and access_tcp are sorted and unique, so their codes come out sorted. */
	s = state_add_set(t, "visible4", "type ipv4_addr", false, POLICY_SHAPE_ADDR, rs->n_visible);
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < rs->n_visible; i++)
		s->codes[s->n_elems++] = nft_elem_code(ntohl(rs->visible[i].s_addr), 32, 0, 0, false);
	s = state_add_set(t, "access_tcp", "type inet_service", false, POLICY_SHAPE_PORT,
			  rs->n_access_tcp);
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < rs->n_access_tcp; i++)
		s->codes[s->n_elems++] = nft_elem_code(0, 0, 0, rs->access_tcp[i], false);

	for (size_t d = 0; d < _POLICY_DIR_MAX; d++) {
		const struct policy_chain *pc = &rs->chains[d];
		for (size_t g = 0; g < pc->n_groups; g++) {
			const struct policy_group *grp = &pc->groups[g];
			char type[96], decl[160];

			if (grp->n_kept <= 1)
				continue;
			group_key_type(grp->shape, type, sizeof type);
			snprintf(decl, sizeof decl, "type %s : verdict%s; counter", type,
				 grp->interval ? "; flags interval" : "");
			s = state_add_set(t, grp->map, decl, true, grp->shape, grp->n_kept);
			if (!s)
				return -ENOMEM;
			for (size_t i = grp->first; i < grp->first + grp->n; i++)
				if (!pc->entries[i].shadowed)
					s->codes[s->n_elems++] = entry_code(&pc->entries[i], grp->shape);
			r = codes_sort(s->codes, s->n_elems);
			if (r < 0)
				return r;
		}
	}

	static const struct {
		const char *name, *hook, *match, *target;
	} base[] = {
		{ "input", "input", "iifname", "mesh-in" },
		{ "output", "output", "oifname", "mesh-out" },
	};
	for (size_t i = 0; i < ELEMENTSOF(base); i++) {
		char decl[96], header[96];
		snprintf(decl, sizeof decl, "type filter hook %s priority 0; policy accept", base[i].hook);
		snprintf(header, sizeof header, "type filter hook %s priority filter; policy accept;",
			 base[i].hook);
		c = state_add_chain(t, base[i].name, decl, header, 1);
		if (!c)
			return -ENOMEM;
		snprintf(buf, sizeof buf, "%s \"%s\" jump %s", base[i].match, rs->ifname, base[i].target);
		r = chain_add_rule(c, buf);
		if (r < 0)
			return r;
	}
	c = state_add_chain(t, "forward", "type filter hook forward priority 0; policy accept",
			    "type filter hook forward priority filter; policy accept;", 2);
	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < 2; i++) {
		snprintf(buf, sizeof buf, "%s \"%s\" %s", i == 0 ? "iifname" : "oifname", rs->ifname,
			 rs->bridge ? "accept" : "drop");
		r = chain_add_rule(c, buf);
		if (r < 0)
			return r;
	}
	for (size_t d = 0; d < _POLICY_DIR_MAX; d++) {
		c = state_add_chain(t, d == POLICY_DIR_IN ? "mesh-in" : "mesh-out", "", "",
				    8 + rs->chains[d].n_groups);
		if (!c)
			return -ENOMEM;
		r = mesh_chain_fill(rs, d, c);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(t);
	return 0;
}

/* Replaces a set's codes by its sorted element texts. */
static int set_expand(struct nft_set_state *s)
{
	char buf[NFT_ELEM_TEXT_MAX];
	char **elems;

	if (!s->codes)
		return 0;
	elems = calloc(s->n_elems ? s->n_elems : 1, sizeof(char *));
	if (!elems)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_elems; i++) {
		nft_elem_code_text(s->codes[i], s->shape, s->is_map, false, buf);
		elems[i] = strdup(buf);
		if (!elems[i]) {
			for (size_t k = 0; k < i; k++)
				free(elems[k]);
			free(elems);
			return -ENOMEM;
		}
	}
	qsort(elems, s->n_elems, sizeof(char *), strcmp_p);
	s->elems = elems;
	s->codes = mfree(s->codes);
	return 0;
}

int policy_ruleset_to_state(const struct policy_ruleset *rs, struct nft_table_state **ret)
{
	_cleanup_(nft_table_state_freep) struct nft_table_state *t = NULL;
	int r = policy_ruleset_to_desired(rs, &t);

	for (size_t i = 0; r >= 0 && i < t->n_sets; i++)
		r = set_expand(&t->sets[i]);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(t);
	return 0;
}

/* Writes decl "a; b; c" as one statement per line. */
static void put_decl(FILE *f, const char *decl)
{
	const char *p = decl;

	while (*p) {
		const char *e = strstr(p, "; ");
		size_t n = e ? (size_t)(e - p) : strlen(p);
		fprintf(f, "\t\t%.*s\n", (int)n, p);
		p += n + (e ? 2 : 0);
	}
}

int nft_table_state_render(const struct nft_table_state *t, char **ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	fputs("table inet plexd {\n", f);
	for (size_t i = 0; i < t->n_sets; i++) {
		const struct nft_set_state *s = &t->sets[i];
		fprintf(f, "\t%s %s {\n", s->is_map ? "map" : "set", s->name);
		put_decl(f, s->decl);
		if (s->n_elems > 0) {
			fputs("\t\telements = { ", f);
			for (size_t k = 0; k < s->n_elems; k++) {
				char e[NFT_ELEM_TEXT_MAX];
				if (k)
					fputs(",\n\t\t\t", f);
				if (s->codes)
					fwrite(e, 1, nft_elem_code_text(s->codes[k], s->shape, s->is_map, false, e), f);
				else
					fputs(s->elems[k], f);
			}
			fputs(" }\n", f);
		}
		fputs("\t}\n", f);
	}
	for (size_t i = 0; i < t->n_chains; i++) {
		const struct nft_chain_state *c = &t->chains[i];
		fprintf(f, "\tchain %s {\n", c->name);
		if (c->header && *c->header)
			fprintf(f, "\t\t%s\n", c->header);
		for (size_t k = 0; k < c->n_rules; k++)
			fprintf(f, "\t\t%s\n", c->rules[k]);
		fputs("\t}\n", f);
	}
	fputs("}\n", f);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return -ENOMEM;
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

int policy_ruleset_render(const struct policy_ruleset *rs, char **ret)
{
	_cleanup_(nft_table_state_freep) struct nft_table_state *t = NULL;
	int r = policy_ruleset_to_state(rs, &t);
	if (r < 0)
		return r;
	return nft_table_state_render(t, ret);
}
