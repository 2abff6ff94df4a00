/* The edge that talks to the kernel: applies a compiled ruleset to table inet plexd through
 * libnftables in one transaction, reads the table back for drift detection and counters, and
 * deletes it on teardown. No other table is ever listed, changed or deleted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "policy/compile.h"
#include "policy/nft-state.h"

struct policy_firewall;

int policy_firewall_new(struct policy_firewall **ret);
struct policy_firewall *policy_firewall_free(struct policy_firewall *fw);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct policy_firewall *, policy_firewall_free);

struct policy_apply_result {
	enum nft_plan_kind kind;
	/* The installed table differed from what this object last applied: someone deleted,
	 * flushed or edited it. Report as drift `firewall_restored` with drift_detail. */
	bool drift;
	char drift_detail[64]; /* "table missing" | "table modified" */
	size_t elements_added, elements_deleted, chains_rewritten;
};

/* Reads the table back, compares with the ruleset and sends the difference in one transaction
 * (nothing when identical). On failure the previous ruleset stays in force and the error is
 * kept for policy_firewall_state(). */
int policy_firewall_apply(struct policy_firewall *fw, const struct policy_ruleset *rs,
			  struct policy_apply_result *ret);
/* Full atomic replace regardless of what is installed (benchmarks, forced repair). */
int policy_firewall_replace(struct policy_firewall *fw, const struct policy_ruleset *rs);
/* Installed table (with counters and handles); *ret = NULL when the table does not exist. */
int policy_firewall_read(struct policy_firewall *fw, struct nft_table_state **ret);
/* Deletes table inet plexd if it exists. */
int policy_firewall_teardown(struct policy_firewall *fw);
/* Runs nft commands in one transaction on this object's context (tests, benchmarks). */
int policy_firewall_run(struct policy_firewall *fw, const char *commands);

/* "applied", "error: <msg>", or "not applied" before the first apply. */
const char *policy_firewall_state(const struct policy_firewall *fw);
