/* `GET /v1/policies` document and the `plexd policies` table printer (agent.md §3.3). */
#pragma once

#include <jansson.h>
#include <stdio.h>

#include "policy/compile.h"

/* Builds {"default","firewall","log_denied","policies":[{"id","rules":[{"index","direction",
 * "src","dst","proto","port","action","packets","shadowed"}]}],"skipped":[{"policy","index",
 * "reason"}]}. rs NULL = policy disabled (firewall "disabled", no rules). installed may be NULL
 * (counters 0). Rules are listed per policy in evaluation order; node ids are shown as
 * "n_x [10.100.0.2]". */
int policy_status_to_json(const struct policy_ruleset *rs, const struct cp_policy *policies,
			  size_t n_policies, const struct policy_nodes *nodes,
			  const struct nft_table_state *installed, const char *firewall_state,
			  bool default_allow, json_t **ret);

/* Prints the document above as `plexd policies` does. -EBADMSG when it is not one. */
int policy_status_print(json_t *status, FILE *f);
