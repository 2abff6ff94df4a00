/* libFuzzer harness for the policy compiler (src/policy/compile.h). The input is a byte stream
 * that picks nodes (mesh IPs, possibly colliding), policies (valid and invalid selectors,
 * protocols, ports, actions), compiler options and packets. Property: for every packet and
 * direction the compiled model (one lookup per merged group) decides like a naive first-match
 * walk over the rules in order (the evaluator of src/policy/test-compile.c), and the ruleset
 * turns into a table state and text without failing. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/types.h"
#include "policy/compile.h"
#include "policy/nft-state.h"
#include "policy/rule.h"
#include "shared/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define N_PEERS_MAX 8
#define MESH 0x0a640000U /* 10.100.0.0/16 */

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

static uint16_t take16(struct stream *s)
{
	uint16_t v = take8(s);

	return (uint16_t)(v << 8 | take8(s));
}

/* A mesh address from few bits, so that rules and packets collide often. */
static uint32_t small_addr(uint8_t b)
{
	return MESH | ((uint32_t)(b >> 4) << 8) | (b & 0x0f);
}

static const char *const peer_ids[N_PEERS_MAX] = { "n_a", "n_b", "n_c", "n_d", "n_e", "n_f", "n_g", "n_h" };

static json_t *side(struct stream *s, size_t n_peers)
{
	uint8_t k = take8(s);
	char buf[32];
	struct in_addr a;

	switch (k % 8) {
	case 0:
	case 1:
	case 2:
		return json_string(peer_ids[(k >> 3) % (n_peers ? n_peers : 1)]);
	case 3:
		return json_string("n_local");
	case 4:
		return json_string("*");
	case 5: /* a prefix inside (mostly) or outside the mesh */
		a.s_addr = htonl((k & 0x80) ? 0x0ac80000U | take8(s) : small_addr(take8(s)));
		snprintf(buf, sizeof buf, "%s/%u", inet_ntoa(a), 16 + take8(s) % 17);
		return json_string(buf);
	case 6: /* a bare address */
		a.s_addr = htonl(small_addr(take8(s)));
		return json_string(inet_ntoa(a));
	default:
		return json_string((k & 0x80) ? "n_unknown" : "");
	}
}

static json_t *make_policies(struct stream *s, size_t n_peers)
{
	static const char *const protos[] = { NULL, "tcp", "udp", "", "icmp" };
	static const int ports[] = { 0, 22, 53, 80, -1, 70000 };
	json_t *list = json_array(), *rules = NULL;
	size_t n_rules = take8(s) % 48, n_pol = 0;

	CHECK(list);
	for (size_t r = 0; r < n_rules; r++) {
		uint8_t k = take8(s);
		json_t *rule;

		if (!rules || (k & 0xe0) == 0xe0) {
			char id[16];

			snprintf(id, sizeof id, "p%zu", n_pol++);
			rules = json_array();
			json_array_append_new(list, json_pack("{s:s,s:o}", "id", id, "rules", rules));
		}
		rule = json_object();
		json_object_set_new(rule, "src", side(s, n_peers));
		json_object_set_new(rule, "dst", side(s, n_peers));
		if (protos[k % 5])
			json_object_set_new(rule, "protocol", json_string(protos[k % 5]));
		if ((k >> 3) % 6 != 0) {
			int port = ports[(k >> 3) % 6];

			if (port == -1)
				port = take16(s);
			json_object_set_new(rule, "port", json_integer(port));
		}
		json_object_set_new(rule, "action", json_string((k & 0x10) ? "allow" : (k & 0x80) ? "deny" : "deny"));
		if (take8(s) == 0xff)
			json_object_set_new(rule, "action", json_string("reject"));
		json_array_append_new(rules, rule);
	}
	return list;
}

/* Naive reference (test-compile.c): rules in order, the first match decides. */
static bool side_matches_addr(const struct policy_selector *sel, const struct policy_nodes *nodes,
			      struct in_addr a)
{
	switch (sel->kind) {
	case POLICY_SELECTOR_ANY:
		return true;
	case POLICY_SELECTOR_LOCAL:
		return a.s_addr == nodes->local->mesh_ip.s_addr;
	case POLICY_SELECTOR_PEER:
		return a.s_addr == nodes->peers[sel->peer].mesh_ip.s_addr;
	case POLICY_SELECTOR_CIDR:
		return ipv4_prefix_contains(&sel->cidr, a);
	}
	return false;
}

static int naive(const struct cp_policy *pol, size_t n, const struct policy_nodes *nodes,
		 enum policy_dir dir, struct in_addr a, uint8_t proto, uint16_t port)
{
	for (size_t p = 0; p < n; p++)
		for (size_t k = 0; k < pol[p].n_rules; k++) {
			struct policy_rule_resolved rr;
			char reason[160];
			const struct policy_selector *me, *other;

			if (policy_rule_resolve(&pol[p].rules[k], nodes, &rr, reason, sizeof reason) < 0)
				continue;
			me = dir == POLICY_DIR_IN ? &rr.dst : &rr.src;
			other = dir == POLICY_DIR_IN ? &rr.src : &rr.dst;
			if (!policy_selector_matches(me, nodes, (size_t)-1) ||
			    !side_matches_addr(other, nodes, a))
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream s = { data, size };
	struct policy_node local = { "n_local", { 0 } }, peers[N_PEERS_MAX];
	struct policy_nodes nodes = {};
	struct cp_policy_list list = {};
	struct json_error e = {};
	struct policy_ruleset *rs = NULL;
	struct nft_table_state *st = NULL;
	bool visible[N_PEERS_MAX] = {};
	uint16_t access[3];
	size_t n_peers, n_access;
	uint8_t opts;
	char *text = NULL;
	json_t *j;

	opts = take8(&s);
	n_peers = take8(&s) % (N_PEERS_MAX + 1);
	local.mesh_ip.s_addr = htonl(small_addr(take8(&s)));
	for (size_t i = 0; i < n_peers; i++) {
		peers[i].id = peer_ids[i];
		peers[i].mesh_ip.s_addr = htonl(small_addr(take8(&s)));
	}
	policy_nodes_sort(peers, n_peers);
	nodes = (struct policy_nodes){ .local = &local, .peers = peers, .n_peers = n_peers };
	CHECK(ipv4_prefix_parse("10.100.0.0/16", false, &nodes.mesh_cidr) == 0);
	n_access = take8(&s) % 4;
	for (size_t i = 0; i < n_access; i++)
		access[i] = take16(&s);

	j = make_policies(&s, n_peers);
	CHECK(cp_policy_list_from_json(j, "policies", &list, &e) == 0);
	CHECK(policy_compute_visibility(list.policies, list.n_policies, &nodes, opts & 1, visible,
					NULL, NULL) == 0);

	struct policy_compile_input in = {
		.policies = list.policies, .n_policies = list.n_policies, .nodes = &nodes,
		.visible = visible, .ifname = "plexd0", .default_allow = opts & 1,
		.log_denied = opts & 2, .bridge = opts & 4, .access_tcp = access,
		.n_access_tcp = n_access,
	};
	{
		bool zero_port = false;
		int r = policy_compile(&in, &rs);

		for (size_t i = 0; i < n_access; i++)
			zero_port = zero_port || access[i] == 0;
		/* An access port 0 is a configuration error the compiler refuses. */
		CHECK(r == (zero_port ? -EINVAL : 0));
		if (r < 0) {
			cp_policy_list_done(&list);
			json_decref(j);
			return 0;
		}
	}

	/* Packets: the rest of the input, four bytes each (at least a few). */
	for (size_t pk = 0; pk < 64 && (pk < 8 || s.n >= 4); pk++) {
		static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_TCP };
		static const uint16_t ports[] = { 22, 53, 80, 443 };
		uint8_t k = take8(&s), b = take8(&s);
		uint16_t port = (k & 0x40) ? take16(&s) : ports[(k >> 2) & 3];
		enum policy_dir dir = (k & 0x80) ? POLICY_DIR_OUT : POLICY_DIR_IN;
		struct in_addr a;
		ssize_t hit;
		int want, got;

		switch ((k >> 4) & 3) {
		case 0:
			a = local.mesh_ip;
			break;
		case 1:
			a = n_peers ? peers[b % n_peers].mesh_ip : local.mesh_ip;
			break;
		case 2:
			a.s_addr = htonl(small_addr(b));
			break;
		default:
			a.s_addr = htonl(0x0ac80000U | b);
			break;
		}
		want = naive(list.policies, list.n_policies, &nodes, dir, a, protos[k & 3], port);
		hit = policy_ruleset_decide(rs, dir, a, protos[k & 3], port);
		CHECK(hit >= -1); /* -2: two keys of one group matched */
		CHECK(hit < (ssize_t)rs->chains[dir].n_entries);
		got = hit < 0 ? -1 : rs->chains[dir].entries[hit].allow ? 1 : 0;
		if (want != got) {
			char *dump = json_dumps(j, JSON_COMPACT);

			fprintf(stderr, "%s packet %s proto %u port %u: naive %d, compiled %d\n%s\n",
				policy_dir_to_string(dir), inet_ntoa(a), protos[k & 3], port, want, got,
				dump);
			free(dump);
			CHECK(want == got);
		}
	}

	/* Group bookkeeping the decision relies on. */
	for (size_t d = 0; d < _POLICY_DIR_MAX; d++) {
		const struct policy_chain *c = &rs->chains[d];
		size_t next = 0;

		for (size_t g = 0; g < c->n_groups; g++) {
			size_t kept = 0;

			CHECK(c->groups[g].first == next && c->groups[g].n > 0);
			next += c->groups[g].n;
			for (size_t i = c->groups[g].first; i < next; i++) {
				CHECK(c->entries[i].group == g);
				kept += !c->entries[i].shadowed;
			}
			CHECK(kept == c->groups[g].n_kept && kept > 0);
		}
		CHECK(next == c->n_entries);
	}

	CHECK(policy_ruleset_to_state(rs, &st) == 0);
	CHECK(nft_table_state_equal(st, st));
	CHECK(policy_ruleset_render(rs, &text) == 0 && text);
	free(text);
	nft_table_state_free(st);
	policy_ruleset_free(rs);
	cp_policy_list_done(&list);
	json_decref(j);
	return 0;
}
