/* Rule validation and peer visibility: table-driven over policies written as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "policy/rule.h"

static struct policy_node local = { "n_local", { 0 } };
static struct policy_node peers[] = {
	{ "n_a", { 0 } }, { "n_b", { 0 } }, { "n_c", { 0 } }, { "n_d", { 0 } },
};

static void setup_nodes(struct policy_nodes *nodes)
{
	inet_pton(AF_INET, "10.100.0.1", &local.mesh_ip);
	inet_pton(AF_INET, "10.100.1.1", &peers[0].mesh_ip);
	inet_pton(AF_INET, "10.100.1.2", &peers[1].mesh_ip);
	inet_pton(AF_INET, "10.100.2.1", &peers[2].mesh_ip);
	inet_pton(AF_INET, "10.100.3.1", &peers[3].mesh_ip);
	policy_nodes_sort(peers, 4);
	*nodes = (struct policy_nodes){ .local = &local, .peers = peers, .n_peers = 4 };
	assert_int_equal(ipv4_prefix_parse("10.100.0.0/16", false, &nodes->mesh_cidr), 0);
}

struct vis_case {
	const char *policies;
	bool default_allow;
	const char *visible; /* one char per peer a..d: 1 visible, 0 hidden */
	size_t n_skipped;
	const char *first_reason;
};

static const struct vis_case vis_cases[] = {
	{ "[]", false, "0000", 0, NULL },
	{ "[]", true, "1111", 0, NULL },
	{ "[{\"id\":\"all\",\"rules\":[{\"src\":\"*\",\"dst\":\"*\",\"action\":\"allow\"}]}]", false,
	  "1111", 0, NULL },
	/* direction does not matter for visibility */
	{ "[{\"id\":\"p\",\"rules\":[{\"src\":\"n_a\",\"dst\":\"n_local\",\"port\":8080,"
	  "\"protocol\":\"tcp\",\"action\":\"allow\"}]}]",
	  false, "1000", 0, NULL },
	{ "[{\"id\":\"p\",\"rules\":[{\"src\":\"n_local\",\"dst\":\"n_c\",\"action\":\"allow\"}]}]",
	  false, "0010", 0, NULL },
	/* deny never grants visibility */
	{ "[{\"id\":\"p\",\"rules\":[{\"src\":\"*\",\"dst\":\"*\",\"action\":\"deny\"}]}]", false,
	  "0000", 0, NULL },
	/* rules between two other nodes do not concern us */
	{ "[{\"id\":\"p\",\"rules\":[{\"src\":\"n_a\",\"dst\":\"n_b\",\"action\":\"allow\"}]}]",
	  false, "0000", 0, NULL },
	/* CIDR selects by mesh IP */
	{ "[{\"id\":\"p\",\"rules\":[{\"src\":\"10.100.1.0/24\",\"dst\":\"n_local\",\"action\":"
	  "\"allow\"}]}]",
	  false, "1100", 0, NULL },
	/* local selected through a CIDR */
	{ "[{\"id\":\"p\",\"rules\":[{\"src\":\"10.100.0.0/24\",\"dst\":\"n_d\",\"action\":"
	  "\"allow\"}]}]",
	  false, "0001", 0, NULL },
	/* invalid rules are skipped, never widened; the valid rest applies */
	{ "[{\"id\":\"p\",\"rules\":[{\"src\":\"n_zz\",\"dst\":\"*\",\"action\":\"allow\"},"
	  "{\"src\":\"n_local\",\"dst\":\"n_b\",\"action\":\"allow\"}]}]",
	  false, "0100", 1, "src: unknown node n_zz" },
	{ "[{\"id\":\"p\",\"rules\":[{\"src\":\"10.200.0.0/16\",\"dst\":\"*\",\"action\":\"allow\"}]}]",
	  false, "0000", 1, "src 10.200.0.0/16 outside mesh prefix 10.100.0.0/16" },
	{ "[{\"id\":\"p\",\"rules\":[{\"src\":\"*\",\"dst\":\"*\",\"port\":22,\"action\":\"allow\"}]}]",
	  false, "0000", 1, "port without protocol" },
	{ "[{\"id\":\"p\",\"rules\":[{\"src\":\"*\",\"dst\":\"*\",\"protocol\":\"icmp\",\"action\":"
	  "\"allow\"}]}]",
	  false, "0000", 1, NULL },
	{ "[{\"id\":\"p\",\"rules\":[{\"src\":\"db.example.com\",\"dst\":\"*\",\"action\":\"allow\"}]}]",
	  false, "0000", 1, "src: unknown node db.example.com" },
};

static void test_visibility(void **state)
{
	struct policy_nodes nodes;
	setup_nodes(&nodes);

	for (size_t c = 0; c < sizeof(vis_cases) / sizeof(vis_cases[0]); c++) {
		const struct vis_case *vc = &vis_cases[c];
		struct cp_policy_list list = {};
		struct json_error je = {};
		struct policy_skipped_rule *skipped = NULL;
		size_t n_skipped = 0;
		bool visible[4];
		json_t *j = json_loads(vc->policies, 0, NULL);

		assert_non_null(j);
		assert_int_equal(cp_policy_list_from_json(j, "policies", &list, &je), 0);
		assert_int_equal(policy_compute_visibility(list.policies, list.n_policies, &nodes,
							   vc->default_allow, visible, &skipped,
							   &n_skipped),
				 0);
		for (size_t i = 0; i < 4; i++) {
			if (visible[i] != (vc->visible[i] == '1'))
				fail_msg("case %zu peer %zu: visible=%d", c, i, visible[i]);
		}
		assert_int_equal(n_skipped, vc->n_skipped);
		if (vc->first_reason)
			assert_string_equal(skipped[0].reason, vc->first_reason);
		policy_skipped_free(skipped, n_skipped);
		cp_policy_list_done(&list);
		json_decref(j);
	}
}

static void test_find(void **state)
{
	struct policy_nodes nodes;
	setup_nodes(&nodes);
	assert_int_equal(policy_nodes_find(&nodes, "n_a"), 0);
	assert_int_equal(policy_nodes_find(&nodes, "n_d"), 3);
	assert_int_equal(policy_nodes_find(&nodes, "n_e"), -1);
	assert_int_equal(policy_nodes_find(&nodes, ""), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_visibility),
		cmocka_unit_test(test_find),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
