/* Test tool: compiles a policy list (control-plane-api.md §8.3 JSON array) for the node
 * described by a nodes file and prints the `nft -f` text of table inet plexd. Lets the
 * end-to-end tests check the compiled ruleset with real packets.
 *
 *   policy-compile POLICIES.json NODES.json
 *   NODES.json: {"local":{"id":..,"mesh_ip":..},"peers":[{"id":..,"mesh_ip":..}],
 *                "mesh_cidr":"10.100.0.0/16","interface":"plexd0","default":"deny",
 *                "log_denied":true,"mode":"node","access_tcp":[2222]}            */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy/compile.h"
#include "shared/macro.h"

static int fail(const char *what)
{
	fprintf(stderr, "policy-compile: %s\n", what);
	return 1;
}

static int node_from_json(json_t *o, struct policy_node *n)
{
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *ip = json_string_value(json_object_get(o, "mesh_ip"));

	if (!id || !ip || inet_pton(AF_INET, ip, &n->mesh_ip) != 1)
		return -EINVAL;
	n->id = id;
	return 0;
}

int main(int argc, char **argv)
{
	struct cp_policy_list list = {};
	struct json_error jerr = {};
	struct policy_node local, *peers = NULL;
	struct policy_nodes nodes = {};
	uint16_t *ports = NULL;
	bool *visible = NULL;
	struct policy_ruleset *rs = NULL;
	json_t *pj, *nj, *x;
	json_error_t err;
	char *text = NULL;
	size_t n_peers, i;
	int ret = 1;

	if (argc != 3)
		return fail("usage: policy-compile POLICIES.json NODES.json");
	pj = json_load_file(argv[1], 0, &err);
	nj = json_load_file(argv[2], 0, &err);
	if (!pj || !nj)
		return fail(err.text);
	if (cp_policy_list_from_json(pj, "policies", &list, &jerr) < 0)
		return fail("bad policies");
	if (node_from_json(json_object_get(nj, "local"), &local) < 0)
		return fail("bad local node");
	n_peers = json_array_size(json_object_get(nj, "peers"));
	peers = calloc(n_peers + 1, sizeof(*peers));
	visible = calloc(n_peers + 1, sizeof(*visible));
	ports = calloc(json_array_size(json_object_get(nj, "access_tcp")) + 1, sizeof(*ports));
	if (!peers || !visible || !ports)
		return fail("out of memory");
	json_array_foreach(json_object_get(nj, "peers"), i, x)
		if (node_from_json(x, &peers[i]) < 0)
			return fail("bad peer");
	policy_nodes_sort(peers, n_peers);
	nodes = (struct policy_nodes){ .local = &local, .peers = peers, .n_peers = n_peers };
	if (ipv4_prefix_parse(strempty(json_string_value(json_object_get(nj, "mesh_cidr"))), false,
			      &nodes.mesh_cidr) < 0)
		return fail("bad mesh_cidr");
	bool default_allow = streq(strempty(json_string_value(json_object_get(nj, "default"))), "allow");
	json_array_foreach(json_object_get(nj, "access_tcp"), i, x)
		ports[i] = (uint16_t)json_integer_value(x);
	if (policy_compute_visibility(list.policies, list.n_policies, &nodes, default_allow, visible,
				      NULL, NULL) < 0)
		return fail("visibility");
	struct policy_compile_input in = {
		.policies = list.policies,
		.n_policies = list.n_policies,
		.nodes = &nodes,
		.visible = visible,
		.ifname = json_string_value(json_object_get(nj, "interface")),
		.default_allow = default_allow,
		.log_denied = json_is_true(json_object_get(nj, "log_denied")),
		.bridge = streq(strempty(json_string_value(json_object_get(nj, "mode"))), "bridge"),
		.access_tcp = ports,
		.n_access_tcp = json_array_size(json_object_get(nj, "access_tcp")),
	};
	if (policy_compile(&in, &rs) < 0 || policy_ruleset_render(rs, &text) < 0)
		return fail("compile failed");
	for (i = 0; i < rs->n_skipped; i++)
		fprintf(stderr, "skipped policy=%s rule=%zu reason=%s\n", rs->skipped[i].policy_id,
			rs->skipped[i].rule_index, rs->skipped[i].reason);
	fputs(text, stdout);
	ret = fflush(stdout) == 0 ? 0 : 1;
	free(text);
	policy_ruleset_free(rs);
	free(peers);
	free(visible);
	free(ports);
	cp_policy_list_done(&list);
	json_decref(pj);
	json_decref(nj);
	return ret;
}
