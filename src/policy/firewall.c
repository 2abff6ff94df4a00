/* libnftables glue. Three contexts: two parse our text commands, one lists in JSON (a JSON
 * output context would try to parse input as JSON first). Every write is one
 * nft_run_cmd_from_buffer() call, i.e. one netlink batch, i.e. one kernel transaction.
 * Whole-table writes (create, replace, delete) go through their own context: libnftables
 * keeps the objects of the last input in the context's cache and frees them at the start of
 * the next command, which for a 10,000-element table is ~5 ms that a one-element patch on the
 * same context would pay. On the bulk context that cost lands on the next whole-table write. */
#define LOG_COMPONENT "policy"

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>

#include "policy/firewall.h"
#include "shared/log.h"
#include "shared/macro.h"

struct policy_firewall {
	struct nft_ctx *cmd, *bulk, *list;
	struct nft_table_state *last; /* what we last applied successfully */
	/* Ruleset generation at which `last` is known to be installed (0 = unknown). The kernel
	 * bumps the generation once per committed transaction in the namespace, so an unchanged
	 * generation proves nobody touched any table and the read-back can be skipped. */
	struct mnl_socket *nl;
	uint32_t known_gen;
	uint32_t seq;
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
	if (fw->bulk)
		nft_ctx_free(fw->bulk);
	if (fw->list)
		nft_ctx_free(fw->list);
	nft_table_state_free(fw->last);
	if (fw->nl)
		mnl_socket_close(fw->nl);
	free(fw);
	return NULL;
}

int policy_firewall_new(struct policy_firewall **ret)
{
	_cleanup_(policy_firewall_freep) struct policy_firewall *fw = calloc(1, sizeof(*fw));

	if (!fw)
		return -ENOMEM;
	fw->cmd = nft_ctx_new(NFT_CTX_DEFAULT);
	fw->bulk = nft_ctx_new(NFT_CTX_DEFAULT);
	fw->list = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!fw->cmd || !fw->bulk || !fw->list)
		return -ENOMEM;
	if (nft_ctx_buffer_output(fw->cmd) < 0 || nft_ctx_buffer_error(fw->cmd) < 0 ||
	    nft_ctx_buffer_output(fw->bulk) < 0 || nft_ctx_buffer_error(fw->bulk) < 0 ||
	    nft_ctx_buffer_output(fw->list) < 0 || nft_ctx_buffer_error(fw->list) < 0)
		return -ENOMEM;
	nft_ctx_output_set_flags(fw->list, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
	fw->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!fw->nl)
		return negative_errno();
	if (mnl_socket_bind(fw->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return negative_errno();
	fw->seq = (uint32_t)time(NULL);
	*ret = TAKE_PTR(fw);
	return 0;
}

static int gen_attr_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == NFTA_GEN_ID && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
		*(uint32_t *)data = ntohl(mnl_attr_get_u32(a));
	return MNL_CB_OK;
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct nfgenmsg), gen_attr_cb, data) < 0 ? MNL_CB_ERROR
										      : MNL_CB_OK;
}

/* NFT_MSG_GETGEN: the namespace's nftables ruleset generation. One small netlink round trip. */
static int ruleset_generation(struct policy_firewall *fw, uint32_t *ret)
{
	char buf[8192];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	uint32_t gen = 0, seq = ++fw->seq;
	ssize_t n;
	int r;

	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	if (mnl_socket_sendto(fw->nl, nlh, nlh->nlmsg_len) < 0)
		return negative_errno();
	n = mnl_socket_recvfrom(fw->nl, buf, sizeof buf);
	if (n < 0)
		return negative_errno();
	r = mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(fw->nl), gen_cb, &gen);
	if (r < 0)
		return negative_errno();
	if (gen == 0)
		return -EPROTO;
	*ret = gen;
	return 0;
}

/* First line of libnftables' error buffer, for logs and `plexd policies`. */
static void keep_error(struct policy_firewall *fw, struct nft_ctx *ctx)
{
	const char *e = nft_ctx_get_error_buffer(ctx);
	size_t n = e ? strcspn(e, "\n") : 0;

	snprintf(fw->error, sizeof fw->error, "%.*s", (int)n, n ? e : "nftables transaction failed");
}

static int run_on(struct policy_firewall *fw, struct nft_ctx *ctx, const char *commands)
{
	fw->known_gen = 0;
	if (nft_run_cmd_from_buffer(ctx, commands) != 0) {
		keep_error(fw, ctx);
		return -EIO;
	}
	return 0;
}

int policy_firewall_run(struct policy_firewall *fw, const char *commands)
{
	return run_on(fw, fw->cmd, commands);
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

	uint32_t gen_before = 0, gen_after = 0;
	const struct nft_table_state *have;

	r = policy_ruleset_to_desired(rs, &desired);
	if (r < 0)
		return r;
	if (ruleset_generation(fw, &gen_before) < 0)
		gen_before = 0;
	if (fw->last && gen_before != 0 && gen_before == fw->known_gen) {
		/* Nothing was committed since we installed `last`: it is what is installed. */
		have = fw->last;
		goto plan;
	}
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
	have = installed;
plan:
	r = nft_table_state_plan(have, desired, &plan);
	if (r < 0)
		return r;
	res.kind = plan.kind;
	res.elements_added = plan.elements_added;
	res.elements_deleted = plan.elements_deleted;
	res.chains_rewritten = plan.chains_rewritten;
	if (plan.commands) {
		r = run_on(fw, plan.kind == NFT_PLAN_PATCH ? fw->cmd : fw->bulk, plan.commands);
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
	/* Exactly one commit (ours) since gen_before: what we planned against was installed, so
	 * the table now equals `desired` at gen_after. Anything else: unknown, read back next time. */
	if (ruleset_generation(fw, &gen_after) < 0)
		gen_after = 0;
	fw->known_gen = gen_before != 0 && gen_after == gen_before + !!plan.commands ? gen_after : 0;
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

	r = policy_ruleset_to_desired(rs, &desired);
	if (r < 0)
		return r;
	r = nft_table_state_replace_commands(desired, &cmds);
	if (r < 0)
		return r;
	uint32_t gen_before = 0, gen_after = 0;
	if (ruleset_generation(fw, &gen_before) < 0)
		gen_before = 0;
	r = run_on(fw, fw->bulk, cmds);
	if (r < 0)
		return r;
	if (ruleset_generation(fw, &gen_after) < 0)
		gen_after = 0;
	fw->known_gen = gen_before != 0 && gen_after == gen_before + 1 ? gen_after : 0;
	return remember(fw, TAKE_PTR(desired));
}

int policy_firewall_teardown(struct policy_firewall *fw)
{
	int r = run_on(fw, fw->bulk, "add table inet plexd\ndelete table inet plexd\n");

	if (r < 0)
		return log_warning_errno(r, "cannot delete nftables table", "table=inet/plexd err=%s",
					 fw->error);
	fw->last = nft_table_state_free(fw->last);
	fw->known_gen = 0;
	fw->applied = false;
	return 0;
}

const char *policy_firewall_state(const struct policy_firewall *fw)
{
	if (fw->failed)
		return fw->state;
	return fw->applied ? "applied" : "not applied";
}
