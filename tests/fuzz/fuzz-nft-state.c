/* libFuzzer harness for the nftables read-back parser (src/policy/nft-state.h): the input is a
 * `nft -j list table inet plexd` listing. Properties: parsing is deterministic; handles,
 * counter values and objects of other tables never change the canonical state; element lists
 * come out sorted; the planner against a compiled desired table says "none" exactly when the
 * states are equal, and its element counts match an independent sorted diff. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/types.h"
#include "policy/compile.h"
#include "policy/nft-state.h"
#include "shared/macro.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct nft_table_state *desired;

/* A small compiled table (one merged map, one plain rule, visibility and access sets), so that
 * listings derived from the seeds can come close to it and reach the PATCH planner. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char policies[] =
		"[{\"id\":\"p\",\"rules\":["
		"{\"src\":\"n_a\",\"dst\":\"n_local\",\"protocol\":\"tcp\",\"port\":22,\"action\":\"allow\"},"
		"{\"src\":\"n_b\",\"dst\":\"n_local\",\"protocol\":\"udp\",\"port\":53,\"action\":\"deny\"},"
		"{\"src\":\"10.100.1.0/24\",\"dst\":\"n_local\",\"action\":\"deny\"}]}]";
	static struct policy_node local = { "n_local", { 0 } }, peers[2] = { { "n_a", { 0 } }, { "n_b", { 0 } } };
	static const bool visible[2] = { true, true };
	static const uint16_t access[] = { 22 };
	struct policy_nodes nodes = { .local = &local, .peers = peers, .n_peers = 2 };
	struct cp_policy_list list = {};
	struct json_error e = {};
	struct policy_ruleset *rs = NULL;
	json_t *j;

	(void)argc;
	(void)argv;
	local.mesh_ip.s_addr = htonl(0x0a640001);
	peers[0].mesh_ip.s_addr = htonl(0x0a640002);
	peers[1].mesh_ip.s_addr = htonl(0x0a640003);
	CHECK(ipv4_prefix_parse("10.100.0.0/16", false, &nodes.mesh_cidr) == 0);
	j = json_loads(policies, 0, NULL);
	CHECK(j && cp_policy_list_from_json(j, "policies", &list, &e) == 0);
	struct policy_compile_input in = {
		.policies = list.policies, .n_policies = list.n_policies, .nodes = &nodes,
		.visible = visible, .ifname = "plexd0", .access_tcp = access, .n_access_tcp = 1,
	};
	CHECK(policy_compile(&in, &rs) == 0);
	CHECK(policy_ruleset_to_state(rs, &desired) == 0);
	policy_ruleset_free(rs);
	cp_policy_list_done(&list);
	json_decref(j);
	return 0;
}

static bool names_unique(const struct nft_table_state *t)
{
	for (size_t i = 0; i < t->n_sets; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(t->sets[i].name, t->sets[k].name) == 0)
				return false;
	for (size_t i = 0; i < t->n_chains; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(t->chains[i].name, t->chains[k].name) == 0)
				return false;
	return true;
}

static void check_sane(const struct nft_table_state *t)
{
	for (size_t i = 0; i < t->n_sets; i++) {
		const struct nft_set_state *s = &t->sets[i];

		CHECK(s->name && s->decl && s->elems && s->elem_packets);
		CHECK(nft_table_state_find_set(t, s->name));
		for (size_t k = 0; k < s->n_elems; k++) {
			CHECK(s->elems[k]);
			CHECK(k == 0 || strcmp(s->elems[k - 1], s->elems[k]) <= 0);
		}
	}
	for (size_t i = 0; i < t->n_chains; i++) {
		const struct nft_chain_state *c = &t->chains[i];

		CHECK(c->name && c->decl);
		CHECK(nft_table_state_find_chain(t, c->name));
		CHECK(c->n_rules == 0 || (c->rules && c->rule_handles && c->rule_packets));
		for (size_t k = 0; k < c->n_rules; k++)
			CHECK(c->rules[k]);
	}
}

static void set_counter(json_t *c)
{
	if (!json_is_object(c))
		return;
	if (json_object_get(c, "packets"))
		json_object_set_new(c, "packets", json_integer(424242));
	if (json_object_get(c, "bytes"))
		json_object_set_new(c, "bytes", json_integer(17));
}

/* Drops the objects' handles and rewrites counter values where they are not content: counter
 * statements of rules and element counters (anything printed raw is content and left alone). */
static void scrub(json_t *arr)
{
	json_t *item, *o, *x;
	const char *kind;
	size_t i, k;

	json_array_foreach(arr, i, item) {
		if (json_object_size(item) != 1)
			continue;
		json_object_foreach(item, kind, o) {
			if (!json_is_object(o))
				continue;
			json_object_del(o, "handle");
			if (strcmp(kind, "rule") == 0) {
				json_array_foreach(json_object_get(o, "expr"), k, x)
					if (json_object_size(x) == 1)
						set_counter(json_object_get(x, "counter"));
			} else if (strcmp(kind, "set") == 0 || strcmp(kind, "map") == 0) {
				json_array_foreach(json_object_get(o, "elem"), k, x) {
					json_t *key = strcmp(kind, "map") == 0 && json_is_array(x)
							      ? json_array_get(x, 0)
							      : x;
					json_t *eo = json_object_get(key, "elem");

					if (eo)
						set_counter(json_object_get(eo, "counter"));
				}
			}
		}
	}
}

/* The same listing after an edit; NULL when the input is not the expected shape. */
static struct nft_table_state *reparse(json_t *root)
{
	struct nft_table_state *t = NULL;
	char *s = json_dumps(root, JSON_COMPACT);

	CHECK(s);
	CHECK(nft_table_state_from_json(s, &t) == 0);
	free(s);
	return t;
}

static size_t sorted_only_in(const struct nft_set_state *a, const struct nft_set_state *b)
{
	size_t i = 0, j = 0, n = 0;

	while (i < a->n_elems) {
		int c = j >= b->n_elems ? -1 : strcmp(a->elems[i], b->elems[j]);
		if (c == 0)
			i++, j++;
		else if (c < 0)
			i++, n++;
		else
			j++;
	}
	return n;
}

static void check_plan(const struct nft_table_state *t)
{
	struct nft_plan p = {};

	CHECK(nft_table_state_plan(t, desired, &p) == 0);
	CHECK(nft_plan_kind_to_string(p.kind));
	CHECK((p.kind == NFT_PLAN_NONE) == nft_table_state_equal(t, desired));
	CHECK((p.kind == NFT_PLAN_NONE) == !p.commands);
	if (p.kind == NFT_PLAN_PATCH) {
		size_t add = 0, del = 0, rewritten = 0;

		for (size_t i = 0; i < desired->n_sets; i++) {
			const struct nft_set_state *have = nft_table_state_find_set(t, desired->sets[i].name);

			CHECK(have);
			add += sorted_only_in(&desired->sets[i], have);
			del += sorted_only_in(have, &desired->sets[i]);
		}
		for (size_t i = 0; i < desired->n_chains; i++) {
			const struct nft_chain_state *have =
				nft_table_state_find_chain(t, desired->chains[i].name);
			bool same = have->n_rules == desired->chains[i].n_rules;

			for (size_t k = 0; same && k < have->n_rules; k++)
				same = strcmp(have->rules[k], desired->chains[i].rules[k]) == 0;
			rewritten += !same;
		}
		CHECK(p.elements_added == add && p.elements_deleted == del && p.chains_rewritten == rewritten);
		CHECK(add + del + rewritten > 0);
	}
	nft_plan_done(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nft_table_state *t = NULL, *t2 = NULL;
	char *s;
	json_t *root;
	int r;

	s = malloc(size + 1);
	CHECK(s);
	memcpy(s, data, size);
	s[size] = '\0';
	r = nft_table_state_from_json(s, &t);
	CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM);
	if (r < 0) {
		CHECK(!t);
		free(s);
		return 0;
	}
	check_sane(t);
	CHECK(nft_table_state_from_json(s, &t2) == 0);
	if (t->n_foreign == 0 && names_unique(t))
		CHECK(nft_table_state_equal(t, t2) && nft_table_state_equal(t2, t));
	CHECK(nft_table_state_equal(t, t2) == nft_table_state_equal(t2, t));
	t2 = nft_table_state_free(t2);
	check_plan(t);

	/* Handles and counters are not content; nor are objects of another table. */
	root = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	CHECK(root);
	if (t->n_foreign == 0 && names_unique(t)) {
		json_t *arr = json_object_get(root, "nftables");

		scrub(arr);
		json_array_append_new(arr, json_pack("{s{sssssi}}", "table", "family", "ip", "name",
						     "plexd", "handle", 9));
		json_array_append_new(arr, json_pack("{s{ssssssi}}", "set", "family", "inet", "table",
						     "other", "name", "x", "handle", 3));
		json_array_append_new(arr, json_pack("{s{ssssss}}", "chain", "family", "ip", "table",
						     "plexd", "name", "input"));
		t2 = reparse(root);
		CHECK(t2->n_foreign == 0 && t2->n_sets == t->n_sets && t2->n_chains == t->n_chains);
		CHECK(nft_table_state_equal(t, t2));
		t2 = nft_table_state_free(t2);
	}
	json_decref(root);
	nft_table_state_free(t);
	free(s);
	return 0;
}
