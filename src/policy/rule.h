/* Semantic validation of policy rules and peer visibility (agent.md §5.5, control-plane-api.md
 * §8.3). Pure: policies and peers in, decisions out. The firewall compiler builds on the same
 * resolved selectors. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "controlplane/types.h"
#include "shared/wire.h"

/* A node known to the policy engine: the local node or a peer. */
struct policy_node {
	const char *id;
	struct in_addr mesh_ip;
};

/* The set of known nodes, sorted by id for lookups. Borrowed pointers. */
struct policy_nodes {
	const struct policy_node *local;
	const struct policy_node *peers; /* sorted by id (policy_nodes_sort) */
	size_t n_peers;
	struct ipv4_prefix mesh_cidr;
};
/* Sorts peers in place by id (strcmp). */
void policy_nodes_sort(struct policy_node *peers, size_t n);
/* Index of the peer with this id, or -1. */
ssize_t policy_nodes_find(const struct policy_nodes *nodes, const char *id);

enum policy_selector_kind {
	POLICY_SELECTOR_ANY,   /* "*" */
	POLICY_SELECTOR_LOCAL, /* the local node's id */
	POLICY_SELECTOR_PEER,  /* a known peer's id */
	POLICY_SELECTOR_CIDR,  /* an IPv4 address/prefix inside the mesh prefix */
};
struct policy_selector {
	enum policy_selector_kind kind;
	size_t peer;             /* POLICY_SELECTOR_PEER: index into nodes->peers */
	struct ipv4_prefix cidr; /* POLICY_SELECTOR_CIDR; host bits cleared */
};

/* A rule that passed validation, with resolved selectors. */
struct policy_rule_resolved {
	struct policy_selector src, dst;
	enum cp_protocol protocol;
	int port; /* 0 = any */
	bool allow;
};

/* Validates one rule (§8.3 "Invalid rules"); on failure writes the reason ("unknown
 * protocol", "port without protocol", "dst 10.200.0.0/16 outside mesh prefix 10.100.0.0/16",
 * "unknown node n_x", …) and returns -EINVAL. Never widens: an unknown id is an error, not "any". */
int policy_rule_resolve(const struct cp_policy_rule *rule, const struct policy_nodes *nodes,
			struct policy_rule_resolved *ret, char *reason, size_t reason_size);

/* Does the selector match this node (peer index, or (size_t)-1 for the local node)? */
bool policy_selector_matches(const struct policy_selector *s, const struct policy_nodes *nodes,
			     size_t peer);

struct policy_skipped_rule {
	char *policy_id;
	size_t rule_index;
	char reason[160];
};
void policy_skipped_free(struct policy_skipped_rule *s, size_t n);

/* Peer visibility (§5.5): with default_allow every peer is visible; otherwise a peer is visible
 * iff some valid allow rule names the local node on one side and the peer on the other, in
 * either direction. visible[i] is set for nodes->peers[i]. Skipped rules are returned (may be
 * NULL when the caller does not want them). */
int policy_compute_visibility(const struct cp_policy *policies, size_t n_policies,
			      const struct policy_nodes *nodes, bool default_allow, bool *visible,
			      struct policy_skipped_rule **ret_skipped, size_t *ret_n_skipped);
