/* Status document of the policy subsystem and its text rendering. Counters come from the
 * read-back table: a single-entry group's own rule counter, or the per-element counter of the
 * entry's key in the group's verdict map. */
#include <arpa/inet.h>
#include <stdlib.h>

#include "policy/status.h"
#include "shared/macro.h"

static int elem_cmp(const void *key, const void *e)
{
	return strcmp(key, *(char *const *)e);
}

static uint64_t entry_packets(const struct policy_ruleset *rs, enum policy_dir d,
			      const struct policy_entry *e, const struct nft_table_state *installed)
{
	const struct policy_group *g = &rs->chains[d].groups[e->group];
	char buf[256];

	if (!installed || e->shadowed)
		return 0;
	if (g->n_kept > 1) {
		const struct nft_set_state *s = nft_table_state_find_set(installed, g->map);
		char **hit;
		if (!s || !s->elem_packets || policy_entry_element(e, g->shape, buf, sizeof buf) < 0)
			return 0;
		hit = bsearch(buf, s->elems, s->n_elems, sizeof(char *), elem_cmp);
		return hit ? s->elem_packets[hit - s->elems] : 0;
	} else {
		const struct nft_chain_state *c =
			nft_table_state_find_chain(installed, d == POLICY_DIR_IN ? "mesh-in" : "mesh-out");
		if (!c || !c->rule_packets || g->chain_rule >= c->n_rules ||
		    policy_entry_rule(e, d, buf, sizeof buf) < 0 || !streq(c->rules[g->chain_rule], buf))
			return 0;
		return c->rule_packets[g->chain_rule];
	}
}

/* "n_a [10.100.1.1]" for node ids, the text itself otherwise. */
static json_t *side_json(const char *text, const struct policy_nodes *nodes)
{
	char a[INET_ADDRSTRLEN], buf[300];
	const struct policy_node *n = NULL;
	ssize_t i;

	if (nodes && nodes->local && streq(text, nodes->local->id))
		n = nodes->local;
	else if (nodes && (i = policy_nodes_find(nodes, text)) >= 0)
		n = &nodes->peers[i];
	if (!n)
		return json_string(text);
	inet_ntop(AF_INET, &n->mesh_ip, a, sizeof a);
	snprintf(buf, sizeof buf, "%s [%s]", text, a);
	return json_string(buf);
}

int policy_status_to_json(const struct policy_ruleset *rs, const struct cp_policy *policies,
			  size_t n_policies, const struct policy_nodes *nodes,
			  const struct nft_table_state *installed, const char *firewall_state,
			  bool default_allow, json_t **ret)
{
	json_t *doc = json_object(), *pols = json_array(), *skipped = json_array();

	if (!doc || !pols || !skipped)
		goto oom;
	if (json_object_set_new(doc, "default", json_string(default_allow ? "allow" : "deny")) < 0 ||
	    json_object_set_new(doc, "firewall", json_string(rs ? strempty(firewall_state) : "disabled")) < 0 ||
	    json_object_set_new(doc, "log_denied", json_boolean(rs && rs->log_denied)) < 0)
		goto oom;
	for (size_t p = 0; rs && p < n_policies && p < rs->n_policies; p++) {
		json_t *po = json_object(), *rules = json_array();
		if (!po || !rules || json_array_append_new(pols, po) < 0 ||
		    json_object_set_new(po, "id", json_string(rs->policy_ids[p])) < 0 ||
		    json_object_set_new(po, "rules", rules) < 0) {
			json_decref(po);
			json_decref(rules);
			goto oom;
		}
	}
	/* Entries are in policy order within each chain; emit per policy, rule, direction. */
	for (size_t d = 0; rs && d < _POLICY_DIR_MAX; d++)
		for (size_t i = 0; i < rs->chains[d].n_entries; i++) {
			const struct policy_entry *e = &rs->chains[d].entries[i];
			const struct cp_policy_rule *cr;
			json_t *rules, *o;

			if (e->policy >= n_policies || e->rule >= policies[e->policy].n_rules)
				continue;
			cr = &policies[e->policy].rules[e->rule];
			rules = json_object_get(json_array_get(pols, e->policy), "rules");
			o = json_pack("{s:I, s:s, s:o, s:o, s:s, s:i, s:s, s:I, s:b}", "index",
				      (json_int_t)e->rule, "direction", policy_dir_to_string(d), "src",
				      side_json(strempty(cr->src), nodes), "dst",
				      side_json(strempty(cr->dst), nodes), "proto",
				      e->key.proto ? cp_protocol_to_string(cr->protocol) : "any", "port",
				      (int)e->key.port, "action", e->allow ? "allow" : "deny", "packets",
				      (json_int_t)entry_packets(rs, d, e, installed), "shadowed",
				      (int)e->shadowed);
			if (!o || json_array_append_new(rules, o) < 0)
				goto oom;
		}
	/* Restore rule order inside each policy (in-entries were appended before out-entries). */
	for (size_t p = 0; p < json_array_size(pols); p++) {
		json_t *rules = json_object_get(json_array_get(pols, p), "rules");
		size_t n = json_array_size(rules);
		for (size_t a = 1; a < n; a++)
			for (size_t b = a; b > 0; b--) {
				json_t *x = json_array_get(rules, b - 1), *y = json_array_get(rules, b);
				if (json_integer_value(json_object_get(x, "index")) <=
				    json_integer_value(json_object_get(y, "index")))
					break;
				json_incref(x);
				json_array_set(rules, b - 1, y);
				json_array_set_new(rules, b, x);
			}
	}
	for (size_t i = 0; rs && i < rs->n_skipped; i++) {
		json_t *o = json_pack("{s:s, s:I, s:s}", "policy", rs->skipped[i].policy_id, "index",
				      (json_int_t)rs->skipped[i].rule_index, "reason", rs->skipped[i].reason);
		if (!o || json_array_append_new(skipped, o) < 0)
			goto oom;
	}
	if (json_object_set_new(doc, "policies", pols) < 0) {
		pols = NULL;
		goto oom;
	}
	pols = NULL;
	if (json_object_set_new(doc, "skipped", skipped) < 0) {
		skipped = NULL;
		goto oom;
	}
	*ret = doc;
	return 0;
oom:
	json_decref(doc);
	json_decref(pols);
	json_decref(skipped);
	return -ENOMEM;
}

enum { COL_POLICY, COL_DIR, COL_SRC, COL_DST, COL_PROTO, COL_PORT, COL_ACTION, COL_PACKETS, _COL_MAX };
static const char *const col_names[_COL_MAX] = { "POLICY", "DIRECTION", "SRC", "DST",
						  "PROTO", "PORT", "ACTION", "PACKETS" };

static void row_cells(json_t *pol, json_t *r, char cells[_COL_MAX][300])
{
	json_int_t port = json_integer_value(json_object_get(r, "port"));

	snprintf(cells[COL_POLICY], 300, "%s", strempty(json_string_value(json_object_get(pol, "id"))));
	snprintf(cells[COL_DIR], 300, "%s", strempty(json_string_value(json_object_get(r, "direction"))));
	snprintf(cells[COL_SRC], 300, "%s", strempty(json_string_value(json_object_get(r, "src"))));
	snprintf(cells[COL_DST], 300, "%s", strempty(json_string_value(json_object_get(r, "dst"))));
	snprintf(cells[COL_PROTO], 300, "%s", strempty(json_string_value(json_object_get(r, "proto"))));
	if (port)
		snprintf(cells[COL_PORT], 300, "%" JSON_INTEGER_FORMAT, port);
	else
		snprintf(cells[COL_PORT], 300, "any");
	snprintf(cells[COL_ACTION], 300, "%s%s", strempty(json_string_value(json_object_get(r, "action"))),
		 json_is_true(json_object_get(r, "shadowed")) ? " (shadowed)" : "");
	snprintf(cells[COL_PACKETS], 300, "%" JSON_INTEGER_FORMAT,
		 json_integer_value(json_object_get(r, "packets")));
}

static void put_cell(FILE *f, size_t c, size_t width, const char *text)
{
	if (c + 1 < _COL_MAX)
		fprintf(f, "%-*s  ", (int)width, text);
	else
		fprintf(f, "%s\n", text);
}

int policy_status_print(json_t *status, FILE *f)
{
	json_t *pols = json_object_get(status, "policies"), *skipped = json_object_get(status, "skipped");
	json_t *pol, *r;
	size_t width[_COL_MAX], i, k;
	char cells[_COL_MAX][300];

	if (!json_is_object(status) || !json_is_string(json_object_get(status, "default")) ||
	    !json_is_string(json_object_get(status, "firewall")) || !json_is_array(pols))
		return -EBADMSG;
	fprintf(f, "Default: %s\nFirewall: %s\n", json_string_value(json_object_get(status, "default")),
		json_string_value(json_object_get(status, "firewall")));
	for (size_t c = 0; c < _COL_MAX; c++)
		width[c] = strlen(col_names[c]);
	json_array_foreach(pols, i, pol)
		json_array_foreach(json_object_get(pol, "rules"), k, r) {
			row_cells(pol, r, cells);
			for (size_t c = 0; c < _COL_MAX; c++)
				width[c] = MAX(width[c], strlen(cells[c]));
		}
	for (size_t c = 0; c < _COL_MAX; c++)
		put_cell(f, c, width[c], col_names[c]);
	json_array_foreach(pols, i, pol)
		json_array_foreach(json_object_get(pol, "rules"), k, r) {
			row_cells(pol, r, cells);
			for (size_t c = 0; c < _COL_MAX; c++)
				put_cell(f, c, width[c], cells[c]);
		}
	if (json_array_size(skipped) > 0) {
		fputs("Skipped rules:\n", f);
		json_array_foreach(skipped, i, r)
			fprintf(f, "  %s #%" JSON_INTEGER_FORMAT ": %s\n",
				strempty(json_string_value(json_object_get(r, "policy"))),
				json_integer_value(json_object_get(r, "index")),
				strempty(json_string_value(json_object_get(r, "reason"))));
	}
	return ferror(f) ? -EIO : 0;
}
