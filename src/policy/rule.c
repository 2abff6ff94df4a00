/* Rule validation and visibility. Selectors are resolved once per rule so visibility costs
 * O(rules + matches), not O(rules × peers), except for CIDR selectors. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy/rule.h"
#include "shared/macro.h"

static int node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct policy_node *)a)->id, ((const struct policy_node *)b)->id);
}

void policy_nodes_sort(struct policy_node *peers, size_t n)
{
	if (n > 1)
		qsort(peers, n, sizeof(*peers), node_cmp);
}

ssize_t policy_nodes_find(const struct policy_nodes *nodes, const char *id)
{
	size_t lo = 0, hi = nodes->n_peers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(id, nodes->peers[mid].id);
		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static void prefix_format(const struct ipv4_prefix *p, char *out, size_t size)
{
	char a[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &p->addr, a, sizeof a);
	snprintf(out, size, "%s/%u", a, p->len);
}

static int selector_resolve(const char *side, const char *text, const struct policy_nodes *nodes,
			    struct policy_selector *ret, char *reason, size_t size)
{
	ssize_t idx;

	if (!text || !*text) {
		snprintf(reason, size, "%s: empty", side);
		return -EINVAL;
	}
	if (streq(text, "*")) {
		*ret = (struct policy_selector){ .kind = POLICY_SELECTOR_ANY };
		return 0;
	}
	if (nodes->local && streq(text, nodes->local->id)) {
		*ret = (struct policy_selector){ .kind = POLICY_SELECTOR_LOCAL };
		return 0;
	}
	idx = policy_nodes_find(nodes, text);
	if (idx >= 0) {
		*ret = (struct policy_selector){ .kind = POLICY_SELECTOR_PEER, .peer = (size_t)idx };
		return 0;
	}
	if (strchr(text, '.') && (strchr(text, '/') || strspn(text, "0123456789.") == strlen(text))) {
		struct ipv4_prefix p;
		char m[48], c[48];

		if (ipv4_prefix_parse(text, true, &p) < 0) {
			snprintf(reason, size, "%s: invalid address %s", side, text);
			return -EINVAL;
		}
		/* Clear host bits so matching is a plain mask compare. */
		if (p.len < 32)
			p.addr.s_addr &= htonl(p.len ? ~((UINT32_C(1) << (32 - p.len)) - 1) : 0);
		if (p.len < nodes->mesh_cidr.len ||
		    !ipv4_prefix_contains(&nodes->mesh_cidr, p.addr)) {
			prefix_format(&p, c, sizeof c);
			prefix_format(&nodes->mesh_cidr, m, sizeof m);
			snprintf(reason, size, "%s %s outside mesh prefix %s", side, c, m);
			return -EINVAL;
		}
		*ret = (struct policy_selector){ .kind = POLICY_SELECTOR_CIDR, .cidr = p };
		return 0;
	}
	snprintf(reason, size, "%s: unknown node %s", side, text);
	return -EINVAL;
}

int policy_rule_resolve(const struct cp_policy_rule *rule, const struct policy_nodes *nodes,
			struct policy_rule_resolved *ret, char *reason, size_t size)
{
	struct policy_rule_resolved r = {};
	int k;

	if (rule->invalid) {
		snprintf(reason, size, "%s", rule->invalid);
		return -EINVAL;
	}
	switch (rule->action) {
	case CP_ACTION_ALLOW:
		r.allow = true;
		break;
	case CP_ACTION_DENY:
		r.allow = false;
		break;
	case CP_ACTION_INVALID:
		snprintf(reason, size, "unknown action");
		return -EINVAL;
	}
	if (rule->protocol == CP_PROTOCOL_INVALID) {
		snprintf(reason, size, "unknown protocol");
		return -EINVAL;
	}
	if (rule->port < 0 || rule->port > 65535) {
		snprintf(reason, size, "port out of range");
		return -EINVAL;
	}
	if (rule->port != 0 && rule->protocol == CP_PROTOCOL_ANY) {
		snprintf(reason, size, "port without protocol");
		return -EINVAL;
	}
	r.protocol = rule->protocol;
	r.port = rule->port;
	k = selector_resolve("src", rule->src, nodes, &r.src, reason, size);
	if (k < 0)
		return k;
	k = selector_resolve("dst", rule->dst, nodes, &r.dst, reason, size);
	if (k < 0)
		return k;
	*ret = r;
	return 0;
}

bool policy_selector_matches(const struct policy_selector *s, const struct policy_nodes *nodes,
			     size_t peer)
{
	bool local = peer == (size_t)-1;
	struct in_addr ip;

	switch (s->kind) {
	case POLICY_SELECTOR_ANY:
		return true;
	case POLICY_SELECTOR_LOCAL:
		return local;
	case POLICY_SELECTOR_PEER:
		return !local && s->peer == peer;
	case POLICY_SELECTOR_CIDR:
		ip = local ? nodes->local->mesh_ip : nodes->peers[peer].mesh_ip;
		return ipv4_prefix_contains(&s->cidr, ip);
	}
	return false;
}

/* Marks every peer matched by sel. */
static void mark_selected(const struct policy_selector *sel, const struct policy_nodes *nodes,
			  bool *visible)
{
	switch (sel->kind) {
	case POLICY_SELECTOR_ANY:
		for (size_t i = 0; i < nodes->n_peers; i++)
			visible[i] = true;
		break;
	case POLICY_SELECTOR_LOCAL:
		break;
	case POLICY_SELECTOR_PEER:
		visible[sel->peer] = true;
		break;
	case POLICY_SELECTOR_CIDR:
		for (size_t i = 0; i < nodes->n_peers; i++)
			if (ipv4_prefix_contains(&sel->cidr, nodes->peers[i].mesh_ip))
				visible[i] = true;
		break;
	}
}

void policy_skipped_free(struct policy_skipped_rule *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i].policy_id);
	free(s);
}

static int skipped_add(struct policy_skipped_rule **s, size_t *n, const char *policy_id,
		       size_t index, const char *reason)
{
	struct policy_skipped_rule *t = reallocarray(*s, *n + 1, sizeof(**s));
	if (!t)
		return -ENOMEM;
	*s = t;
	t[*n] = (struct policy_skipped_rule){ .rule_index = index };
	t[*n].policy_id = strdup(policy_id ? policy_id : "");
	if (!t[*n].policy_id)
		return -ENOMEM;
	snprintf(t[*n].reason, sizeof t[*n].reason, "%s", reason);
	(*n)++;
	return 0;
}

int policy_compute_visibility(const struct cp_policy *policies, size_t n_policies,
			      const struct policy_nodes *nodes, bool default_allow, bool *visible,
			      struct policy_skipped_rule **ret_skipped, size_t *ret_n_skipped)
{
	struct policy_skipped_rule *skipped = NULL;
	size_t n_skipped = 0;
	int r;

	for (size_t i = 0; i < nodes->n_peers; i++)
		visible[i] = default_allow;

	for (size_t p = 0; p < n_policies; p++)
		for (size_t k = 0; k < policies[p].n_rules; k++) {
			struct policy_rule_resolved rr;
			char reason[160];

			if (policy_rule_resolve(&policies[p].rules[k], nodes, &rr, reason,
						sizeof reason) < 0) {
				if (ret_skipped) {
					r = skipped_add(&skipped, &n_skipped, policies[p].id, k,
							reason);
					if (r < 0) {
						policy_skipped_free(skipped, n_skipped);
						return r;
					}
				}
				continue;
			}
			if (!rr.allow || default_allow)
				continue;
			if (policy_selector_matches(&rr.src, nodes, (size_t)-1))
				mark_selected(&rr.dst, nodes, visible);
			if (policy_selector_matches(&rr.dst, nodes, (size_t)-1))
				mark_selected(&rr.src, nodes, visible);
		}

	if (ret_skipped) {
		*ret_skipped = skipped;
		*ret_n_skipped = n_skipped;
	}
	return 0;
}
