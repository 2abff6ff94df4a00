/* libnftables glue. Two contexts: one parses our text commands, one lists in JSON (a JSON
 * output context would try to parse input as JSON first). Every write is one
 * nft_run_cmd_from_buffer() call, i.e. one netlink batch, i.e. one kernel transaction. */
#define LOG_COMPONENT "policy"

#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy/firewall.h"
#include "shared/log.h"
#include "shared/macro.h"

struct policy_firewall {
	struct nft_ctx *cmd, *list;
	struct nft_table_state *last; /* what we last applied successfully */
	bool applied;
	char error[256];
	bool failed;     /* the last apply failed */
	char state[300]; /* "error: <msg>" when failed */
};

struct policy_firewall *policy_firewall_free(struct policy_firewall *fw)
{
	if (!fw)
		return NULL;
	if (fw->cmd)
		nft_ctx_free(fw->cmd);
	if (fw->list)
		nft_ctx_free(fw->list);
	nft_table_state_free(fw->last);
	free(fw);
	return NULL;
}

int policy_firewall_new(struct policy_firewall **ret)
{
	_cleanup_(policy_firewall_freep) struct policy_firewall *fw = calloc(1, sizeof(*fw));

	if (!fw)
		return -ENOMEM;
	fw->cmd = nft_ctx_new(NFT_CTX_DEFAULT);
	fw->list = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!fw->cmd || !fw->list)
		return -ENOMEM;
	if (nft_ctx_buffer_output(fw->cmd) < 0 || nft_ctx_buffer_error(fw->cmd) < 0 ||
	    nft_ctx_buffer_output(fw->list) < 0 || nft_ctx_buffer_error(fw->list) < 0)
		return -ENOMEM;
	nft_ctx_output_set_flags(fw->list, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
	*ret = TAKE_PTR(fw);
	return 0;
}

/* First line of libnftables' error buffer, for logs and `plexd policies`. */
static void keep_error(struct policy_firewall *fw, struct nft_ctx *ctx)
{
	const char *e = nft_ctx_get_error_buffer(ctx);
	size_t n = e ? strcspn(e, "\n") : 0;

	snprintf(fw->error, sizeof fw->error, "%.*s", (int)n, n ? e : "nftables transaction failed");
}

int policy_firewall_run(struct policy_firewall *fw, const char *commands)
{
	if (nft_run_cmd_from_buffer(fw->cmd, commands) != 0) {
		keep_error(fw, fw->cmd);
		return -EIO;
	}
	return 0;
}

static int table_exists(struct policy_firewall *fw)
{
	json_t *root, *arr, *it;
	json_error_t err;
	size_t i;
	int found = 0;

	if (nft_run_cmd_from_buffer(fw->list, "list tables inet") != 0) {
		keep_error(fw, fw->list);
		return -EIO;
	}
	root = json_loads(nft_ctx_get_output_buffer(fw->list), 0, &err);
	if (!root)
		return -EBADMSG;
	arr = json_object_get(root, "nftables");
	json_array_foreach(arr, i, it) {
		json_t *t = json_object_get(it, "table");
		const char *name = json_string_value(json_object_get(t, "name"));
		if (name && streq(name, "plexd"))
			found = 1;
	}
	json_decref(root);
	return found;
}

int policy_firewall_read(struct policy_firewall *fw, struct nft_table_state **ret)
{
	int r;

	if (nft_run_cmd_from_buffer(fw->list, "list table inet plexd") != 0) {
		r = table_exists(fw);
		if (r == 0) {
			*ret = NULL;
			return 0;
		}
		keep_error(fw, fw->list);
		return r < 0 ? r : -EIO;
	}
	return nft_table_state_from_json(nft_ctx_get_output_buffer(fw->list), ret);
}

static int remember(struct policy_firewall *fw, struct nft_table_state *desired)
{
	nft_table_state_free(fw->last);
	fw->last = desired;
	fw->applied = true;
	fw->failed = false;
	fw->error[0] = '\0';
	return 0;
}

int policy_firewall_apply(struct policy_firewall *fw, const struct policy_ruleset *rs,
			  struct policy_apply_result *ret)
{
	_cleanup_(nft_table_state_freep) struct nft_table_state *desired = NULL, *installed = NULL;
	struct policy_apply_result res = {};
	struct nft_plan plan = {};
	int r;

	r = policy_ruleset_to_state(rs, &desired);
	if (r < 0)
		return r;
	r = policy_firewall_read(fw, &installed);
	if (r < 0) {
		fw->failed = true;
		snprintf(fw->state, sizeof fw->state, "error: %s", fw->error);
		return log_warning_errno(r, "cannot read nftables table", "table=inet/plexd err=%s",
					 fw->error);
	}
	if (fw->last && !installed) {
		res.drift = true;
		snprintf(res.drift_detail, sizeof res.drift_detail, "table missing");
	} else if (fw->last && !nft_table_state_equal(installed, fw->last)) {
		res.drift = true;
		snprintf(res.drift_detail, sizeof res.drift_detail, "table modified");
	}
	r = nft_table_state_plan(installed, desired, &plan);
	if (r < 0)
		return r;
	res.kind = plan.kind;
	res.elements_added = plan.elements_added;
	res.elements_deleted = plan.elements_deleted;
	res.chains_rewritten = plan.chains_rewritten;
	if (plan.commands) {
		r = policy_firewall_run(fw, plan.commands);
		if (r < 0) {
			fw->failed = true;
			snprintf(fw->state, sizeof fw->state, "error: %s", fw->error);
			log_warning_errno(r, "nftables transaction failed, previous ruleset stays",
					  "plan=%s err=%s", nft_plan_kind_to_string(plan.kind), fw->error);
			nft_plan_done(&plan);
			return r;
		}
		log_debug("firewall applied", "plan=%s added=%zu deleted=%zu chains=%zu",
			  nft_plan_kind_to_string(plan.kind), plan.elements_added,
			  plan.elements_deleted, plan.chains_rewritten);
	}
	nft_plan_done(&plan);
	remember(fw, TAKE_PTR(desired));
	if (ret)
		*ret = res;
	return 0;
}

int policy_firewall_replace(struct policy_firewall *fw, const struct policy_ruleset *rs)
{
	_cleanup_(nft_table_state_freep) struct nft_table_state *desired = NULL;
	_cleanup_free_ char *cmds = NULL;
	int r;

	r = policy_ruleset_to_state(rs, &desired);
	if (r < 0)
		return r;
	r = nft_table_state_replace_commands(desired, &cmds);
	if (r < 0)
		return r;
	r = policy_firewall_run(fw, cmds);
	if (r < 0)
		return r;
	return remember(fw, TAKE_PTR(desired));
}

int policy_firewall_teardown(struct policy_firewall *fw)
{
	int r = policy_firewall_run(fw, "add table inet plexd\ndelete table inet plexd\n");

	if (r < 0)
		return log_warning_errno(r, "cannot delete nftables table", "table=inet/plexd err=%s",
					 fw->error);
	fw->last = nft_table_state_free(fw->last);
	fw->applied = false;
	return 0;
}

const char *policy_firewall_state(const struct policy_firewall *fw)
{
	if (fw->failed)
		return fw->state;
	return fw->applied ? "applied" : "not applied";
}
