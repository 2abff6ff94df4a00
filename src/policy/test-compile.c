/* Policy compiler: exact nft text for small cases, the grouping rule, and a property test that
 * compares the compiled model's decision (one lookup per group) with a naive first-match
 * evaluator on many generated policies and packets. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy/compile.h"
#include "policy/nft-state.h"

static struct policy_node local = { "n_local", { 0 } };
static struct policy_node peers[8];
static char peer_ids[8][8];
static struct policy_nodes nodes;

static void setup_nodes(void)
{
	static const char *ips[8] = { "10.100.1.1", "10.100.1.2", "10.100.1.9",  "10.100.2.1",
				      "10.100.2.130", "10.100.3.1", "10.100.0.77", "10.100.200.5" };
	inet_pton(AF_INET, "10.100.0.1", &local.mesh_ip);
	for (size_t i = 0; i < 8; i++) {
		snprintf(peer_ids[i], sizeof peer_ids[i], "n_%c", (char)('a' + i));
		peers[i].id = peer_ids[i];
		inet_pton(AF_INET, ips[i], &peers[i].mesh_ip);
	}
	policy_nodes_sort(peers, 8);
	nodes = (struct policy_nodes){ .local = &local, .peers = peers, .n_peers = 8 };
	assert_int_equal(ipv4_prefix_parse("10.100.0.0/16", false, &nodes.mesh_cidr), 0);
}

struct opts {
	bool default_allow, log_denied, bridge;
};

static struct policy_ruleset *compile_text(const char *json, const struct opts *o)
{
	struct cp_policy_list list = {};
	struct json_error jerr = {};
	struct policy_ruleset *rs = NULL;
	bool visible[8];
	uint16_t access[] = { 2222, 22, 2222 };
	json_t *j = json_loads(json, 0, NULL);

	assert_non_null(j);
	assert_int_equal(cp_policy_list_from_json(j, "policies", &list, &jerr), 0);
	assert_int_equal(policy_compute_visibility(list.policies, list.n_policies, &nodes,
						   o->default_allow, visible, NULL, NULL), 0);
	struct policy_compile_input in = {
		.policies = list.policies, .n_policies = list.n_policies, .nodes = &nodes,
		.visible = visible, .ifname = "plexd0", .default_allow = o->default_allow,
		.log_denied = o->log_denied, .bridge = o->bridge, .access_tcp = access,
		.n_access_tcp = 3,
	};
	assert_int_equal(policy_compile(&in, &rs), 0);
	cp_policy_list_done(&list);
	json_decref(j);
	return rs;
}

static const char *small_policy =
	"[{\"id\":\"web\",\"rules\":["
	"{\"src\":\"n_a\",\"dst\":\"n_local\",\"protocol\":\"tcp\",\"port\":8080,\"action\":\"allow\"},"
	"{\"src\":\"n_a\",\"dst\":\"n_local\",\"protocol\":\"tcp\",\"port\":22,\"action\":\"deny\"},"
	"{\"src\":\"n_b\",\"dst\":\"n_local\",\"protocol\":\"tcp\",\"port\":8080,\"action\":\"allow\"},"
	"{\"src\":\"10.100.2.0/24\",\"dst\":\"*\",\"protocol\":\"udp\",\"action\":\"allow\"},"
	"{\"src\":\"n_local\",\"dst\":\"n_zz\",\"action\":\"allow\"},"
	"{\"src\":\"n_local\",\"dst\":\"n_c\",\"protocol\":\"udp\",\"port\":53,\"action\":\"allow\"}]},"
	"{\"id\":\"ops\",\"rules\":[{\"src\":\"n_local\",\"dst\":\"10.200.0.0/16\",\"action\":\"allow\"}]}]";

static const char *small_expected =
	"table inet plexd {\n"
	"\tset visible4 {\n"
	"\t\ttype ipv4_addr\n"
	"\t\telements = { 10.100.1.1,\n\t\t\t10.100.1.2,\n\t\t\t10.100.1.9,\n\t\t\t10.100.2.1,\n\t\t\t10.100.2.130 }\n"
	"\t}\n"
	"\tset access_tcp {\n"
	"\t\ttype inet_service\n"
	"\t\telements = { 22,\n\t\t\t2222 }\n"
	"\t}\n"
	"\tmap in_0 {\n"
	"\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n"
	"\t\tcounter\n"
	"\t\telements = { 10.100.1.1 . tcp . 22 : drop,\n"
	"\t\t\t10.100.1.1 . tcp . 8080 : accept,\n"
	"\t\t\t10.100.1.2 . tcp . 8080 : accept }\n"
	"\t}\n"
	"\tchain input {\n"
	"\t\ttype filter hook input priority filter; policy accept;\n"
	"\t\tiifname \"plexd0\" jump mesh-in\n"
	"\t}\n"
	"\tchain output {\n"
	"\t\ttype filter hook output priority filter; policy accept;\n"
	"\t\toifname \"plexd0\" jump mesh-out\n"
	"\t}\n"
	"\tchain forward {\n"
	"\t\ttype filter hook forward priority filter; policy accept;\n"
	"\t\tiifname \"plexd0\" drop\n"
	"\t\toifname \"plexd0\" drop\n"
	"\t}\n"
	"\tchain mesh-in {\n"
	"\t\tct state established,related accept\n"
	"\t\tct state invalid drop\n"
	"\t\tmeta nfproto ipv6 drop\n"
	"\t\tip saddr @visible4 icmp type echo-request accept\n"
	"\t\tip saddr @visible4 tcp dport @access_tcp accept\n"
	"\t\tip saddr . meta l4proto . th dport vmap @in_0\n"
	"\t\tip saddr 10.100.2.0/24 meta l4proto udp counter accept\n"
	"\t\tlimit rate 10/second log prefix \"plexd-deny \" level debug\n"
	"\t\tdrop\n"
	"\t}\n"
	"\tchain mesh-out {\n"
	"\t\tct state established,related accept\n"
	"\t\tmeta nfproto ipv6 drop\n"
	"\t\tip daddr @visible4 icmp type echo-request accept\n"
	"\t\tip daddr 10.100.1.9 udp dport 53 counter accept\n"
	"\t\tlimit rate 10/second log prefix \"plexd-deny \" level debug\n"
	"\t\tdrop\n"
	"\t}\n"
	"}\n";

static void test_small_exact(void **state)
{
	struct opts o = { .log_denied = true };
	struct policy_ruleset *rs = compile_text(small_policy, &o);
	char *text = NULL;

	assert_int_equal(policy_ruleset_render(rs, &text), 0);
	assert_string_equal(text, small_expected);
	/* Skipped with reasons, never widened. */
	assert_int_equal(rs->n_skipped, 2);
	assert_string_equal(rs->skipped[0].policy_id, "web");
	assert_int_equal(rs->skipped[0].rule_index, 4);
	assert_string_equal(rs->skipped[0].reason, "dst: unknown node n_zz");
	assert_string_equal(rs->skipped[1].policy_id, "ops");
	assert_string_equal(rs->skipped[1].reason,
			    "dst 10.200.0.0/16 outside mesh prefix 10.100.0.0/16");
	free(text);
	policy_ruleset_free(rs);
}

static void test_variants(void **state)
{
	struct opts allow = { .default_allow = true, .log_denied = true, .bridge = true };
	struct opts nolog = { .log_denied = false };
	struct policy_ruleset *rs;
	char *text = NULL;

	/* default allow: final accept, no log even when log_denied, no IPv6 drop; bridge: forward
	 * accepted. */
	rs = compile_text("[]", &allow);
	assert_int_equal(policy_ruleset_render(rs, &text), 0);
	assert_non_null(strstr(text, "\t\tiifname \"plexd0\" accept\n\t\toifname \"plexd0\" accept\n"));
	assert_null(strstr(text, "log prefix"));
	assert_null(strstr(text, "nfproto ipv6"));
	assert_non_null(strstr(text, "ip daddr @visible4 icmp type echo-request accept\n\t\taccept\n\t}"));
	/* every peer visible */
	assert_non_null(strstr(text, "10.100.200.5"));
	free(text);
	policy_ruleset_free(rs);

	/* empty policy set + deny: nothing visible, everything dropped, no log without log_denied */
	rs = compile_text("[]", &nolog);
	assert_int_equal(policy_ruleset_render(rs, &text), 0);
	assert_non_null(strstr(text, "\tset visible4 {\n\t\ttype ipv4_addr\n\t}\n"));
	assert_null(strstr(text, "log prefix"));
	assert_non_null(strstr(text, "tcp dport @access_tcp accept\n\t\tdrop\n\t}"));
	free(text);
	policy_ruleset_free(rs);

	/* A rule naming the local node on both sides yields an inbound and an outbound rule. */
	rs = compile_text("[{\"id\":\"p\",\"rules\":[{\"src\":\"*\",\"dst\":\"*\",\"protocol\":\"tcp\","
			  "\"port\":443,\"action\":\"allow\"}]}]",
			  &nolog);
	assert_int_equal(policy_ruleset_render(rs, &text), 0);
	assert_non_null(strstr(text, "tcp dport @access_tcp accept\n\t\ttcp dport 443 counter accept\n"));
	assert_non_null(strstr(text, "echo-request accept\n\t\ttcp dport 443 counter accept\n\t\tdrop\n"));
	free(text);
	policy_ruleset_free(rs);
}

/* Group structure as text: one letter per group, 'v' = verdict map, 'r' = plain rule, followed
 * by the number of shadowed entries when nonzero. */
static void groups_text(const struct policy_chain *c, char *out, size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t g = 0; g < c->n_groups && n + 4 < size; g++) {
		const struct policy_group *grp = &c->groups[g];
		n += (size_t)snprintf(out + n, size - n, "%c", grp->n_kept > 1 ? 'v' : 'r');
		if (grp->n != grp->n_kept)
			n += (size_t)snprintf(out + n, size - n, "%zu", grp->n - grp->n_kept);
	}
}

struct group_case {
	const char *rules; /* inner JSON of the rules array, all inbound */
	const char *groups;
};

#define IN(src, extra, act) "{\"src\":\"" src "\",\"dst\":\"n_local\"" extra ",\"action\":\"" act "\"}"
#define TCP(p) ",\"protocol\":\"tcp\",\"port\":" #p

static const struct group_case group_cases[] = {
	/* disjoint, same shape, mixed verdicts: one map */
	{ IN("n_a", TCP(22), "allow") "," IN("n_b", TCP(22), "deny") "," IN("n_a", TCP(80), "deny"), "v" },
	/* identical key later: shadowed, stays in the group */
	{ IN("n_a", TCP(22), "allow") "," IN("n_b", TCP(22), "deny") "," IN("n_a", TCP(22), "deny"), "v1" },
	/* shape change cuts the run */
	{ IN("n_a", TCP(22), "allow") "," IN("n_b", TCP(22), "deny") "," IN("*", TCP(22), "deny") ","
	  IN("n_c", TCP(22), "allow") "," IN("n_d", TCP(22), "allow"), "vrv" },
	/* a later key covered by an earlier prefix is shadowed */
	{ IN("10.100.1.0/24", TCP(22), "deny") "," IN("n_a", TCP(22), "allow") "," IN("n_d", TCP(22), "allow"), "v1" },
	/* a later prefix covering an earlier key overlaps it: new group, order kept */
	{ IN("n_a", TCP(22), "allow") "," IN("10.100.1.0/24", TCP(22), "deny") "," IN("n_d", TCP(22), "allow"), "rv" },
	/* same address, different ports do not overlap */
	{ IN("10.100.1.0/24", TCP(22), "deny") "," IN("10.100.1.0/24", TCP(80), "allow"), "v" },
	/* any-any: the second is shadowed */
	{ IN("*", "", "allow") "," IN("*", "", "deny"), "r1" },
};

static void test_groups(void **state)
{
	struct opts o = {};

	for (size_t i = 0; i < ELEMENTSOF(group_cases); i++) {
		char json[2048], got[64];
		struct policy_ruleset *rs;

		snprintf(json, sizeof json, "[{\"id\":\"p\",\"rules\":[%s]}]", group_cases[i].rules);
		rs = compile_text(json, &o);
		groups_text(&rs->chains[POLICY_DIR_IN], got, sizeof got);
		if (!streq(got, group_cases[i].groups))
			fail_msg("case %zu: groups %s, want %s", i, got, group_cases[i].groups);
		policy_ruleset_free(rs);
	}
}

/* ---- property test ---- */

/* Does key x contain key y (same shape assumed)? */
static bool key_contains(const struct policy_key *x, const struct policy_key *y)
{
	if (x->proto != y->proto || x->port != y->port)
		return false;
	if (!x->has_addr)
		return true;
	return x->addr.len <= y->addr.len && ipv4_prefix_contains(&x->addr, y->addr.addr);
}

/* The merge rule of compile.h evaluated the obvious O(n^2) way: groups and shadowed flags
 * must come out exactly as the compiler's hash-based cut. */
static void check_groups_reference(const struct policy_chain *c, const char *json)
{
	size_t first = 0, group = 0;

	for (size_t i = 0; i < c->n_entries; i++) {
		const struct policy_key *k = &c->entries[i].key;
		bool covered = false, covers = false;
		bool same = i > 0 && policy_key_shape(k) == policy_key_shape(&c->entries[first].key);

		for (size_t j = first; same && j < i; j++) {
			if (c->entries[j].shadowed)
				continue;
			covered = covered || key_contains(&c->entries[j].key, k);
			covers = covers || key_contains(k, &c->entries[j].key);
		}
		if (i > 0 && (!same || (!covered && covers))) {
			first = i;
			group++;
			covered = false;
		}
		if (c->entries[i].group != group || c->entries[i].shadowed != covered)
			fail_msg("entry %zu: group %zu shadowed %d, reference %zu %d\n%s", i,
				 c->entries[i].group, c->entries[i].shadowed, group, covered, json);
	}
	assert_int_equal(c->n_groups, c->n_entries ? group + 1 : 0);
}

/* The binary desired state (what the firewall diffs) against the text state: the same table,
 * and plans between two rulesets agree in kind and element counts whichever form each side
 * has. */
static void check_binary_state(const struct policy_ruleset *prev, const struct policy_ruleset *rs)
{
	struct nft_table_state *t = NULL, *d = NULL, *pt = NULL, *pd = NULL;
	struct nft_plan ptext = {}, pbin = {}, pmixed = {};

	assert_int_equal(policy_ruleset_to_state(rs, &t), 0);
	assert_int_equal(policy_ruleset_to_desired(rs, &d), 0);
	assert_int_equal(policy_ruleset_to_state(prev, &pt), 0);
	assert_int_equal(policy_ruleset_to_desired(prev, &pd), 0);
	assert_true(nft_table_state_equal(t, d) && nft_table_state_equal(d, t));
	assert_true(nft_table_state_equal(d, d));
	assert_true(nft_table_state_equal(pt, d) == nft_table_state_equal(pt, t));
	assert_true(nft_table_state_equal(pd, d) == nft_table_state_equal(pt, t));
	for (size_t i = 0; i < d->n_sets; i++) {
		char buf[NFT_ELEM_TEXT_MAX];
		assert_non_null(d->sets[i].codes);
		assert_null(d->sets[i].elems);
		for (size_t k = 1; k < d->sets[i].n_elems; k++)
			assert_true(d->sets[i].codes[k - 1] < d->sets[i].codes[k]);
		for (size_t k = 0; k < d->sets[i].n_elems; k++)
			assert_true(nft_elem_code_text(d->sets[i].codes[k], d->sets[i].shape,
						       d->sets[i].is_map, false, buf) < sizeof buf);
	}
	assert_int_equal(nft_table_state_plan(pt, t, &ptext), 0);
	assert_int_equal(nft_table_state_plan(pd, d, &pbin), 0);
	assert_int_equal(nft_table_state_plan(pt, d, &pmixed), 0);
	assert_int_equal(pbin.kind, ptext.kind);
	assert_int_equal(pmixed.kind, ptext.kind);
	assert_int_equal(pbin.elements_added, ptext.elements_added);
	assert_int_equal(pbin.elements_deleted, ptext.elements_deleted);
	assert_int_equal(pbin.chains_rewritten, ptext.chains_rewritten);
	assert_int_equal(pmixed.elements_added, ptext.elements_added);
	assert_int_equal(pmixed.elements_deleted, ptext.elements_deleted);
	/* Same commands up to the order of elements inside one command: same length. */
	if (ptext.commands)
		assert_int_equal(strlen(pbin.commands), strlen(ptext.commands));
	nft_plan_done(&ptext);
	nft_plan_done(&pbin);
	nft_plan_done(&pmixed);
	nft_table_state_free(t);
	nft_table_state_free(d);
	nft_table_state_free(pt);
	nft_table_state_free(pd);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static const char *const cidrs[] = { "10.100.1.0/24", "10.100.1.0/30", "10.100.1.8/29",
				     "10.100.2.128/25", "10.100.0.0/16", "10.100.0.0/24",
				     "10.100.1.2/32", "10.100.2.0/23" };
static const int ports[] = { 22, 80, 443 };

static void random_side(char *out, size_t size)
{
	uint32_t k = rnd(10);
	if (k < 4)
		snprintf(out, size, "%s", peers[rnd(8)].id);
	else if (k < 6)
		snprintf(out, size, "n_local");
	else if (k < 7)
		snprintf(out, size, "*");
	else
		snprintf(out, size, "%s", cidrs[rnd(ELEMENTSOF(cidrs))]);
}

/* Naive reference: rules in order, first match decides (§5.5 rules 2-4). */
static bool side_matches_addr(const struct policy_selector *s, struct in_addr a)
{
	switch (s->kind) {
	case POLICY_SELECTOR_ANY:
		return true;
	case POLICY_SELECTOR_LOCAL:
		return a.s_addr == local.mesh_ip.s_addr;
	case POLICY_SELECTOR_PEER:
		return a.s_addr == nodes.peers[s->peer].mesh_ip.s_addr;
	case POLICY_SELECTOR_CIDR:
		return ipv4_prefix_contains(&s->cidr, a);
	}
	return false;
}

static int naive(const struct cp_policy *pol, size_t n, enum policy_dir dir, struct in_addr a,
		 uint8_t proto, uint16_t port)
{
	for (size_t p = 0; p < n; p++)
		for (size_t k = 0; k < pol[p].n_rules; k++) {
			struct policy_rule_resolved rr;
			char reason[160];
			const struct policy_selector *me, *other;

			if (policy_rule_resolve(&pol[p].rules[k], &nodes, &rr, reason, sizeof reason) < 0)
				continue;
			me = dir == POLICY_DIR_IN ? &rr.dst : &rr.src;
			other = dir == POLICY_DIR_IN ? &rr.src : &rr.dst;
			if (!policy_selector_matches(me, &nodes, (size_t)-1) || !side_matches_addr(other, a))
				continue;
			if (rr.protocol == CP_PROTOCOL_TCP && proto != IPPROTO_TCP)
				continue;
			if (rr.protocol == CP_PROTOCOL_UDP && proto != IPPROTO_UDP)
				continue;
			if (rr.port && rr.port != port)
				continue;
			return rr.allow ? 1 : 0;
		}
	return -1;
}

static void test_property_first_match(void **state)
{
	size_t total_groups = 0, total_entries = 0;
	struct policy_ruleset *prev = NULL;

	for (int iter = 0; iter < 400; iter++) {
		char json[65536];
		size_t n = 0;
		int n_rules = 1 + (int)rnd(iter < 200 ? 12 : 60);
		/* Bias towards one shape so that real groups form. */
		uint32_t favourite = rnd(3);
		struct cp_policy_list list = {};
		struct json_error jerr = {};
		struct policy_ruleset *rs = NULL;
		json_t *j;

		n += (size_t)snprintf(json + n, sizeof json - n, "[{\"id\":\"p0\",\"rules\":[");
		for (int r = 0; r < n_rules; r++) {
			char src[32], dst[32], extra[64] = "";
			uint32_t shape = rnd(4) == 0 ? rnd(3) : favourite;
			if (r > 0 && rnd(7) == 0)
				n += (size_t)snprintf(json + n, sizeof json - n, "]},{\"id\":\"p%d\",\"rules\":[", r);
			else if (r > 0)
				json[n++] = ',';
			random_side(src, sizeof src);
			random_side(dst, sizeof dst);
			/* Mostly peer <-> local rules of the favourite shape, so that runs merge. */
			if (rnd(10) < 6) {
				snprintf(src, sizeof src, "%s", peers[rnd(8)].id);
				snprintf(dst, sizeof dst, "n_local");
				if (rnd(2))
					snprintf(src, sizeof src, "n_local"),
						snprintf(dst, sizeof dst, "%s", peers[rnd(8)].id);
				shape = favourite;
			}
			if (shape == 1)
				snprintf(extra, sizeof extra, ",\"protocol\":\"%s\"", rnd(2) ? "tcp" : "udp");
			else if (shape == 2)
				snprintf(extra, sizeof extra, ",\"protocol\":\"%s\",\"port\":%d",
					 rnd(2) ? "tcp" : "udp", ports[rnd(3)]);
			n += (size_t)snprintf(json + n, sizeof json - n,
					      "{\"src\":\"%s\",\"dst\":\"%s\"%s,\"action\":\"%s\"}", src,
					      dst, extra, rnd(2) ? "allow" : "deny");
		}
		n += (size_t)snprintf(json + n, sizeof json - n, "]}]");
		assert_true(n < sizeof json);
		j = json_loads(json, 0, NULL);
		assert_non_null(j);
		assert_int_equal(cp_policy_list_from_json(j, "policies", &list, &jerr), 0);
		struct policy_compile_input in = {
			.policies = list.policies, .n_policies = list.n_policies, .nodes = &nodes,
			.ifname = "plexd0",
		};
		assert_int_equal(policy_compile(&in, &rs), 0);

		for (int pk = 0; pk < 300; pk++) {
			enum policy_dir dir = rnd(2) ? POLICY_DIR_IN : POLICY_DIR_OUT;
			struct in_addr a;
			uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP };
			uint8_t proto = protos[rnd(3)];
			uint16_t port = (uint16_t)(rnd(4) == 0 ? 1000 : ports[rnd(3)]);
			uint32_t k = rnd(4);
			ssize_t hit;
			int want, got;

			if (k == 0)
				a = local.mesh_ip;
			else if (k == 1)
				a.s_addr = htonl(0x0a640000U | rnd(1U << 16));
			else
				a = nodes.peers[rnd(8)].mesh_ip;
			want = naive(list.policies, list.n_policies, dir, a, proto, port);
			hit = policy_ruleset_decide(rs, dir, a, proto, port);
			assert_true(hit >= -1); /* -2: two keys of one group matched */
			got = hit < 0 ? -1 : rs->chains[dir].entries[hit].allow ? 1 : 0;
			if (want != got)
				fail_msg("iter %d: %s packet %s proto %u port %u: naive %d, compiled %d\n%s",
					 iter, policy_dir_to_string(dir), inet_ntoa(a), proto, port,
					 want, got, json);
		}
		for (size_t d = 0; d < _POLICY_DIR_MAX; d++) {
			total_groups += rs->chains[d].n_groups;
			total_entries += rs->chains[d].n_entries;
			check_groups_reference(&rs->chains[d], json);
		}
		if (prev)
			check_binary_state(prev, rs);
		policy_ruleset_free(prev);
		prev = rs;
		cp_policy_list_done(&list);
		json_decref(j);
	}
	policy_ruleset_free(prev);
	/* The generator must actually exercise merging, or the test proves nothing. */
	print_message("entries %zu, groups %zu\n", total_entries, total_groups);
	assert_true(total_groups * 2 < total_entries);
}

/* 10,000 rules of one shape compile into a single lookup. */
static void test_large_single_group(void **state)
{
	struct cp_policy pol = { .id = (char *)"big" };
	struct policy_ruleset *rs = NULL;
	char *texts = calloc(10000, 16);

	pol.rules = calloc(10000, sizeof(*pol.rules));
	pol.n_rules = 10000;
	assert_non_null(texts);
	assert_non_null(pol.rules);
	for (size_t i = 0; i < 10000; i++) {
		pol.rules[i] = (struct cp_policy_rule){ .src = (char *)peers[i % 8].id,
							.dst = (char *)"n_local",
							.protocol = CP_PROTOCOL_TCP,
							.port = (int32_t)(1 + i / 8),
							.action = i % 3 ? CP_ACTION_ALLOW : CP_ACTION_DENY };
	}
	struct policy_compile_input in = { .policies = &pol, .n_policies = 1, .nodes = &nodes,
					   .ifname = "plexd0" };
	assert_int_equal(policy_compile(&in, &rs), 0);
	assert_int_equal(rs->chains[POLICY_DIR_IN].n_entries, 10000);
	assert_int_equal(rs->chains[POLICY_DIR_IN].n_groups, 1);
	assert_int_equal(rs->chains[POLICY_DIR_IN].groups[0].n_kept, 10000);
	policy_ruleset_free(rs);
	free(pol.rules);
	free(texts);
}

static void test_bad_input(void **state)
{
	struct policy_ruleset *rs = NULL;
	struct policy_compile_input in = { .nodes = &nodes, .ifname = "bad\"name" };
	uint16_t zero = 0;

	assert_int_equal(policy_compile(&in, &rs), -EINVAL);
	in.ifname = "averyveryverylongname";
	assert_int_equal(policy_compile(&in, &rs), -EINVAL);
	in.ifname = "plexd0";
	in.access_tcp = &zero;
	in.n_access_tcp = 1;
	assert_int_equal(policy_compile(&in, &rs), -EINVAL);
	assert_null(rs);
}

static int setup(void **state)
{
	setup_nodes();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_exact),
		cmocka_unit_test(test_variants),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_property_first_match),
		cmocka_unit_test(test_large_single_group),
		cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
