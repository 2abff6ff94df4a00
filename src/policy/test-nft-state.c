/* Read-back parser (JSON listing -> canonical text, counters, foreign objects) and the diff
 * planner (none / create / replace / element-and-chain patch, exact command text). */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy/nft-state.h"

/* Shapes taken from `nft -j list table inet plexd` (nftables 1.0.6), plus objects of another
 * table that must be ignored. */
static const char *listing =
	"{\"nftables\":[{\"metainfo\":{\"version\":\"1.0.6\",\"json_schema_version\":1}},"
	"{\"table\":{\"family\":\"inet\",\"name\":\"foreign\",\"handle\":2}},"
	"{\"chain\":{\"family\":\"inet\",\"table\":\"foreign\",\"name\":\"x\",\"handle\":1}},"
	"{\"table\":{\"family\":\"inet\",\"name\":\"plexd\",\"handle\":1}},"
	"{\"set\":{\"family\":\"inet\",\"name\":\"visible4\",\"table\":\"plexd\",\"type\":\"ipv4_addr\",\"handle\":6,\"elem\":[\"10.100.0.3\",\"10.100.0.2\"]}},"
	"{\"set\":{\"family\":\"inet\",\"name\":\"access_tcp\",\"table\":\"plexd\",\"type\":\"inet_service\",\"handle\":7}},"
	"{\"map\":{\"family\":\"inet\",\"name\":\"in_0\",\"table\":\"plexd\",\"type\":[\"ipv4_addr\",\"inet_proto\",\"inet_service\"],\"handle\":8,\"map\":\"verdict\","
	"\"elem\":[[{\"elem\":{\"val\":{\"concat\":[\"10.100.0.3\",\"udp\",53]},\"counter\":{\"packets\":7,\"bytes\":700}}},{\"drop\":null}],"
	"[{\"elem\":{\"val\":{\"concat\":[\"10.100.0.2\",\"tcp\",22]},\"counter\":{\"packets\":3,\"bytes\":180}}},{\"accept\":null}]],\"stmt\":[{\"counter\":null}]}},"
	"{\"map\":{\"family\":\"inet\",\"name\":\"in_1\",\"table\":\"plexd\",\"type\":[\"ipv4_addr\",\"inet_proto\"],\"handle\":9,\"map\":\"verdict\",\"flags\":[\"interval\"],"
	"\"elem\":[[{\"elem\":{\"val\":{\"concat\":[{\"prefix\":{\"addr\":\"10.100.1.0\",\"len\":24}},\"tcp\"]},\"counter\":{\"packets\":0,\"bytes\":0}}},{\"accept\":null}]],\"stmt\":[{\"counter\":null}]}},"
	"{\"chain\":{\"family\":\"inet\",\"table\":\"plexd\",\"name\":\"input\",\"handle\":1,\"type\":\"filter\",\"hook\":\"input\",\"prio\":0,\"policy\":\"accept\"}},"
	"{\"chain\":{\"family\":\"inet\",\"table\":\"plexd\",\"name\":\"mesh-in\",\"handle\":4}},"
	"{\"rule\":{\"family\":\"inet\",\"table\":\"plexd\",\"chain\":\"input\",\"handle\":11,\"expr\":[{\"match\":{\"op\":\"==\",\"left\":{\"meta\":{\"key\":\"iifname\"}},\"right\":\"plexd0\"}},{\"jump\":{\"target\":\"mesh-in\"}}]}},"
	"{\"rule\":{\"family\":\"inet\",\"table\":\"plexd\",\"chain\":\"mesh-in\",\"handle\":15,\"expr\":[{\"match\":{\"op\":\"in\",\"left\":{\"ct\":{\"key\":\"state\"}},\"right\":[\"established\",\"related\"]}},{\"accept\":null}]}},"
	"{\"rule\":{\"family\":\"inet\",\"table\":\"plexd\",\"chain\":\"mesh-in\",\"handle\":17,\"expr\":[{\"match\":{\"op\":\"==\",\"left\":{\"meta\":{\"key\":\"nfproto\"}},\"right\":\"ipv6\"}},{\"drop\":null}]}},"
	"{\"rule\":{\"family\":\"inet\",\"table\":\"plexd\",\"chain\":\"mesh-in\",\"handle\":19,\"expr\":[{\"match\":{\"op\":\"==\",\"left\":{\"payload\":{\"protocol\":\"ip\",\"field\":\"saddr\"}},\"right\":\"@visible4\"}},{\"match\":{\"op\":\"==\",\"left\":{\"payload\":{\"protocol\":\"tcp\",\"field\":\"dport\"}},\"right\":\"@access_tcp\"}},{\"accept\":null}]}},"
	"{\"rule\":{\"family\":\"inet\",\"table\":\"plexd\",\"chain\":\"mesh-in\",\"handle\":21,\"expr\":[{\"match\":{\"op\":\"==\",\"left\":{\"payload\":{\"protocol\":\"ip\",\"field\":\"saddr\"}},\"right\":{\"prefix\":{\"addr\":\"10.100.0.0\",\"len\":24}}}},{\"match\":{\"op\":\"==\",\"left\":{\"meta\":{\"key\":\"l4proto\"}},\"right\":\"udp\"}},{\"counter\":{\"packets\":12,\"bytes\":1200}},{\"drop\":null}]}},"
	"{\"rule\":{\"family\":\"inet\",\"table\":\"plexd\",\"chain\":\"mesh-in\",\"handle\":23,\"expr\":[{\"vmap\":{\"key\":{\"concat\":[{\"payload\":{\"protocol\":\"ip\",\"field\":\"saddr\"}},{\"meta\":{\"key\":\"l4proto\"}},{\"payload\":{\"protocol\":\"th\",\"field\":\"dport\"}}]},\"data\":\"@in_0\"}}]}},"
	"{\"rule\":{\"family\":\"inet\",\"table\":\"plexd\",\"chain\":\"mesh-in\",\"handle\":27,\"expr\":[{\"limit\":{\"rate\":10,\"burst\":5,\"per\":\"second\"}},{\"log\":{\"prefix\":\"plexd-deny \",\"level\":\"debug\"}}]}},"
	"{\"rule\":{\"family\":\"inet\",\"table\":\"plexd\",\"chain\":\"mesh-in\",\"handle\":30,\"expr\":[{\"match\":{\"op\":\"!=\",\"left\":{\"payload\":{\"protocol\":\"tcp\",\"field\":\"dport\"}},\"right\":1}},{\"xt\":{\"type\":\"match\",\"name\":\"comment\"}},{\"accept\":null}]}},"
	"{\"rule\":{\"family\":\"inet\",\"table\":\"plexd\",\"chain\":\"mesh-in\",\"handle\":28,\"expr\":[{\"drop\":null}]}},"
	"{\"rule\":{\"family\":\"inet\",\"table\":\"foreign\",\"chain\":\"x\",\"handle\":2,\"expr\":[{\"drop\":null}]}},"
	"{\"flowtable\":{\"family\":\"inet\",\"name\":\"ft\",\"table\":\"plexd\",\"handle\":12}}"
	"]}";

static void test_parse(void **state)
{
	struct nft_table_state *t = NULL;
	const struct nft_set_state *s;
	const struct nft_chain_state *c;
	static const char *const mesh_in[] = {
		"ct state established,related accept",
		"meta nfproto ipv6 drop",
		"ip saddr @visible4 tcp dport @access_tcp accept",
		"ip saddr 10.100.0.0/24 meta l4proto udp counter drop",
		"ip saddr . meta l4proto . th dport vmap @in_0",
		"limit rate 10/second log prefix \"plexd-deny \" level debug",
		"tcp dport != 1 ?{\"xt\":{\"name\":\"comment\",\"type\":\"match\"}} accept",
		"drop",
	};

	assert_int_equal(nft_table_state_from_json(listing, &t), 0);
	assert_int_equal(t->n_sets, 4);
	assert_int_equal(t->n_chains, 2);
	assert_int_equal(t->n_foreign, 1); /* the flowtable; the other table is ignored */

	s = nft_table_state_find_set(t, "visible4");
	assert_non_null(s);
	assert_string_equal(s->decl, "type ipv4_addr");
	assert_int_equal(s->n_elems, 2);
	assert_string_equal(s->elems[0], "10.100.0.2"); /* sorted */
	assert_string_equal(s->elems[1], "10.100.0.3");
	s = nft_table_state_find_set(t, "access_tcp");
	assert_int_equal(s->n_elems, 0);
	s = nft_table_state_find_set(t, "in_0");
	assert_true(s->is_map);
	assert_string_equal(s->decl, "type ipv4_addr . inet_proto . inet_service : verdict; counter");
	assert_string_equal(s->elems[0], "10.100.0.2 . tcp . 22 : accept");
	assert_int_equal(s->elem_packets[0], 3);
	assert_string_equal(s->elems[1], "10.100.0.3 . udp . 53 : drop");
	assert_int_equal(s->elem_packets[1], 7);
	s = nft_table_state_find_set(t, "in_1");
	assert_string_equal(s->decl, "type ipv4_addr . inet_proto : verdict; flags interval; counter");
	assert_string_equal(s->elems[0], "10.100.1.0/24 . tcp : accept");

	c = nft_table_state_find_chain(t, "input");
	assert_string_equal(c->decl, "type filter hook input priority 0; policy accept");
	assert_int_equal(c->n_rules, 1);
	assert_string_equal(c->rules[0], "iifname \"plexd0\" jump mesh-in");
	c = nft_table_state_find_chain(t, "mesh-in");
	assert_string_equal(c->decl, "");
	assert_int_equal(c->n_rules, ELEMENTSOF(mesh_in));
	for (size_t i = 0; i < ELEMENTSOF(mesh_in); i++)
		assert_string_equal(c->rules[i], mesh_in[i]);
	assert_int_equal(c->rule_handles[3], 21);
	assert_int_equal(c->rule_packets[3], 12);
	nft_table_state_free(t);
}

static void test_parse_bad(void **state)
{
	struct nft_table_state *t = NULL;

	assert_int_equal(nft_table_state_from_json("not json", &t), -EBADMSG);
	assert_int_equal(nft_table_state_from_json("{\"x\":[]}", &t), -EBADMSG);
	assert_null(t);
	/* A non-default burst or an unknown log option must not compare equal to ours. */
	assert_int_equal(nft_table_state_from_json(
		"{\"nftables\":[{\"chain\":{\"family\":\"inet\",\"table\":\"plexd\",\"name\":\"c\"}},"
		"{\"rule\":{\"family\":\"inet\",\"table\":\"plexd\",\"chain\":\"c\",\"expr\":["
		"{\"limit\":{\"rate\":10,\"burst\":50,\"per\":\"second\"}},"
		"{\"log\":{\"prefix\":\"plexd-deny \",\"level\":\"debug\",\"group\":2}}]}}]}", &t), 0);
	assert_string_equal(t->chains[0].rules[0],
			    "limit rate 10/second burst 50 packets "
			    "?{\"log\":{\"group\":2,\"level\":\"debug\",\"prefix\":\"plexd-deny \"}}");
	nft_table_state_free(t);
}

/* ---- planner, on states produced by the compiler ---- */

static struct policy_node local = { "n_local", { 0 } };
static struct policy_node peers[] = { { "n_a", { 0 } }, { "n_b", { 0 } } };
static struct policy_nodes nodes;

/* Which form state_of() builds: text elements, or the firewall's binary codes. */
static bool binary_form;

static struct nft_table_state *state_of(const char *policies, bool log_denied)
{
	struct cp_policy_list list = {};
	struct json_error jerr = {};
	struct policy_ruleset *rs = NULL;
	struct nft_table_state *t = NULL;
	bool visible[2] = { true, true };
	json_t *j = json_loads(policies, 0, NULL);

	assert_non_null(j);
	assert_int_equal(cp_policy_list_from_json(j, "policies", &list, &jerr), 0);
	struct policy_compile_input in = { .policies = list.policies, .n_policies = list.n_policies,
					   .nodes = &nodes, .visible = visible, .ifname = "plexd0",
					   .log_denied = log_denied };
	assert_int_equal(policy_compile(&in, &rs), 0);
	if (binary_form)
		assert_int_equal(policy_ruleset_to_desired(rs, &t), 0);
	else
		assert_int_equal(policy_ruleset_to_state(rs, &t), 0);
	policy_ruleset_free(rs);
	cp_policy_list_done(&list);
	json_decref(j);
	return t;
}

#define R(src, port, act)                                                                          \
	"{\"src\":\"" src "\",\"dst\":\"n_local\",\"protocol\":\"tcp\",\"port\":" #port                   \
	",\"action\":\"" act "\"}"
#define POL(rules) "[{\"id\":\"p\",\"rules\":[" rules "]}]"

static void test_plan(void **state)
{
	struct nft_table_state *a = state_of(POL(R("n_a", 22, "allow") "," R("n_b", 22, "deny")), true);
	struct nft_table_state *b = state_of(POL(R("n_a", 2222, "allow") "," R("n_b", 22, "deny")), true);
	struct nft_table_state *c = state_of(POL(R("n_a", 22, "allow") "," R("n_b", 22, "deny")), false);
	struct nft_table_state *d = state_of(POL(R("n_a", 22, "allow")), true);
	struct nft_plan p = {};
	char *full = NULL;

	/* identical */
	assert_int_equal(nft_table_state_plan(a, a, &p), 0);
	assert_int_equal(p.kind, NFT_PLAN_NONE);
	assert_null(p.commands);

	/* missing: plain create */
	assert_int_equal(nft_table_state_plan(NULL, a, &p), 0);
	assert_int_equal(p.kind, NFT_PLAN_CREATE);
	assert_int_equal(nft_table_state_render(a, &full), 0);
	assert_string_equal(p.commands, full);
	free(full);
	nft_plan_done(&p);

	/* one key changed: elements only */
	assert_int_equal(nft_table_state_plan(a, b, &p), 0);
	assert_int_equal(p.kind, NFT_PLAN_PATCH);
	assert_string_equal(p.commands,
			    "delete element inet plexd in_0 { 10.100.0.2 . tcp . 22 }\n"
			    "add element inet plexd in_0 { 10.100.0.2 . tcp . 2222 : accept }\n");
	assert_int_equal(p.elements_added, 1);
	assert_int_equal(p.elements_deleted, 1);
	assert_int_equal(p.chains_rewritten, 0);
	nft_plan_done(&p);

	/* a chain differs: that chain is rewritten in the same batch */
	assert_int_equal(nft_table_state_plan(a, c, &p), 0);
	assert_int_equal(p.kind, NFT_PLAN_PATCH);
	assert_int_equal(p.chains_rewritten, 2);
	assert_true(strncmp(p.commands, "flush chain inet plexd mesh-in\nadd rule inet plexd mesh-in ct state established,related accept\n", 95) == 0);
	assert_null(strstr(p.commands, "log prefix"));
	assert_null(strstr(p.commands, "element"));
	nft_plan_done(&p);

	/* the map disappears (one rule left): full replace, atomic */
	assert_int_equal(nft_table_state_plan(a, d, &p), 0);
	assert_int_equal(p.kind, NFT_PLAN_REPLACE);
	assert_true(strncmp(p.commands, "add table inet plexd\ndelete table inet plexd\ntable inet plexd {\n", 63) == 0);
	assert_non_null(strstr(p.commands, "ip saddr 10.100.0.2 tcp dport 22 counter accept\n"));
	nft_plan_done(&p);

	/* foreign objects in our table force a replace */
	a->n_foreign = 1;
	assert_false(nft_table_state_equal(a, a));
	assert_int_equal(nft_table_state_plan(a, b, &p), 0);
	assert_int_equal(p.kind, NFT_PLAN_REPLACE);
	nft_plan_done(&p);
	a->n_foreign = 0;
	assert_true(nft_table_state_equal(a, a));
	assert_false(nft_table_state_equal(a, b));
	assert_false(nft_table_state_equal(a, NULL));
	assert_true(nft_table_state_equal(NULL, NULL));

	nft_table_state_free(a);
	nft_table_state_free(b);
	nft_table_state_free(c);
	nft_table_state_free(d);
}

/* The planner gives the same exact commands when both sides carry binary codes. */
static void test_plan_binary(void **state)
{
	binary_form = true;
	test_plan(state);
	binary_form = false;
}

/* Text read-back against a binary desired state (the firewall's drift path), both ways. */
static void test_plan_mixed(void **state)
{
	struct nft_table_state *a, *b, *ab, *bb;
	struct nft_plan p = {};

	a = state_of(POL(R("n_a", 22, "allow") "," R("n_b", 22, "deny")), true);
	b = state_of(POL(R("n_a", 2222, "allow") "," R("n_b", 22, "deny")), true);
	binary_form = true;
	ab = state_of(POL(R("n_a", 22, "allow") "," R("n_b", 22, "deny")), true);
	bb = state_of(POL(R("n_a", 2222, "allow") "," R("n_b", 22, "deny")), true);
	binary_form = false;
	assert_true(nft_table_state_equal(a, ab) && nft_table_state_equal(ab, a));
	assert_false(nft_table_state_equal(a, bb) || nft_table_state_equal(bb, a));
	assert_int_equal(nft_table_state_plan(a, ab, &p), 0);
	assert_int_equal(p.kind, NFT_PLAN_NONE);
	assert_int_equal(nft_table_state_plan(a, bb, &p), 0);
	assert_int_equal(p.kind, NFT_PLAN_PATCH);
	assert_string_equal(p.commands,
			    "delete element inet plexd in_0 { 10.100.0.2 . tcp . 22 }\n"
			    "add element inet plexd in_0 { 10.100.0.2 . tcp . 2222 : accept }\n");
	nft_plan_done(&p);
	assert_int_equal(nft_table_state_plan(bb, a, &p), 0);
	assert_string_equal(p.commands,
			    "delete element inet plexd in_0 { 10.100.0.2 . tcp . 2222 }\n"
			    "add element inet plexd in_0 { 10.100.0.2 . tcp . 22 : accept }\n");
	nft_plan_done(&p);
	nft_table_state_free(a);
	nft_table_state_free(b);
	nft_table_state_free(ab);
	nft_table_state_free(bb);
}

static void test_elem_code_text(void **state)
{
	const struct {
		uint64_t code;
		unsigned shape;
		bool is_map, key_only;
		const char *text;
	} v[] = {
		{ nft_elem_code(0x0a640002, 32, IPPROTO_TCP, 22, true),
		  POLICY_SHAPE_ADDR | POLICY_SHAPE_PROTO | POLICY_SHAPE_PORT, true, false,
		  "10.100.0.2 . tcp . 22 : accept" },
		{ nft_elem_code(0x0a640002, 32, IPPROTO_TCP, 22, true),
		  POLICY_SHAPE_ADDR | POLICY_SHAPE_PROTO | POLICY_SHAPE_PORT, true, true,
		  "10.100.0.2 . tcp . 22" },
		{ nft_elem_code(0x0a640100, 24, IPPROTO_UDP, 0, false),
		  POLICY_SHAPE_ADDR | POLICY_SHAPE_PROTO, true, false, "10.100.1.0/24 . udp : drop" },
		{ nft_elem_code(0xffffffff, 32, IPPROTO_UDP, 65535, false),
		  POLICY_SHAPE_ADDR | POLICY_SHAPE_PROTO | POLICY_SHAPE_PORT, true, false,
		  "255.255.255.255 . udp . 65535 : drop" },
		{ nft_elem_code(0, 0, 0, 0, true), POLICY_SHAPE_ADDR, true, false, "0.0.0.0/0 : accept" },
		{ nft_elem_code(0, 0, IPPROTO_TCP, 8080, false), POLICY_SHAPE_PROTO | POLICY_SHAPE_PORT,
		  true, false, "tcp . 8080 : drop" },
		{ nft_elem_code(0, 0, IPPROTO_UDP, 0, true), POLICY_SHAPE_PROTO, true, false, "udp : accept" },
		{ nft_elem_code(0x0a640203, 32, 0, 0, false), POLICY_SHAPE_ADDR, false, false, "10.100.2.3" },
		{ nft_elem_code(0, 0, 0, 2222, false), POLICY_SHAPE_PORT, false, false, "2222" },
	};

	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		char buf[NFT_ELEM_TEXT_MAX];
		size_t n = nft_elem_code_text(v[i].code, v[i].shape, v[i].is_map, v[i].key_only, buf);
		assert_string_equal(buf, v[i].text);
		assert_int_equal(n, strlen(v[i].text));
	}
	/* Codes order like the fields: address, then length, protocol, port; verdict apart. */
	assert_true(nft_elem_code(0x0a640002, 32, 6, 22, false) < nft_elem_code(0x0a640003, 32, 6, 1, false));
	assert_true(nft_elem_code(0x0a640002, 32, 6, 22, false) != nft_elem_code(0x0a640002, 32, 6, 22, true));
}

static int setup(void **state)
{
	inet_pton(AF_INET, "10.100.0.1", &local.mesh_ip);
	inet_pton(AF_INET, "10.100.0.2", &peers[0].mesh_ip);
	inet_pton(AF_INET, "10.100.0.3", &peers[1].mesh_ip);
	nodes = (struct policy_nodes){ .local = &local, .peers = peers, .n_peers = 2 };
	return ipv4_prefix_parse("10.100.0.0/16", false, &nodes.mesh_cidr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_plan_binary),
		cmocka_unit_test(test_plan_mixed),
		cmocka_unit_test(test_elem_code_text),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
