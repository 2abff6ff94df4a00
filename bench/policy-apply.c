/* Policy benchmark (run inside a throwaway network namespace, see run-policy.sh): 10,000 rules
 * compiled and applied through libnftables vs `nft -f` of the same text vs one `add rule` per
 * rule, and a one-rule change applied incrementally vs as a full atomic replace. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "policy/firewall.h"

#define N_RULES 10000
#define N_PEERS 1000

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int nft_file(const char *text)
{
	char path[] = "/tmp/plexd-bench-XXXXXX";
	int fd = mkstemp(path), st = -1;
	size_t len = strlen(text);
	pid_t pid;

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		return -1;
	close(fd);
	pid = fork();
	if (pid == 0) {
		execlp("nft", "nft", "-f", path, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	unlink(path);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static struct policy_node local = { "n_local", { 0 } };
static struct policy_node peers[N_PEERS];
static char ids[N_PEERS][16];
static struct policy_nodes nodes;
static struct cp_policy pol;
static bool visible[N_PEERS];

static void generate(void)
{
	inet_pton(AF_INET, "10.100.0.1", &local.mesh_ip);
	for (size_t i = 0; i < N_PEERS; i++) {
		snprintf(ids[i], sizeof ids[i], "n_%04zu", i);
		peers[i].id = ids[i];
		peers[i].mesh_ip.s_addr = htonl(0x0a640000U | (uint32_t)((i / 250 + 1) << 8) | (uint32_t)(i % 250 + 1));
		visible[i] = true;
	}
	nodes = (struct policy_nodes){ .local = &local, .peers = peers, .n_peers = N_PEERS };
	ipv4_prefix_parse("10.100.0.0/16", false, &nodes.mesh_cidr);
	pol.id = (char *)"bench";
	pol.n_rules = N_RULES;
	pol.rules = calloc(N_RULES, sizeof(*pol.rules));
	for (size_t i = 0; i < N_RULES; i++)
		pol.rules[i] = (struct cp_policy_rule){
			.src = (char *)ids[i % N_PEERS], .dst = (char *)"n_local",
			.protocol = i % 2 ? CP_PROTOCOL_TCP : CP_PROTOCOL_UDP,
			.port = (int32_t)(1000 + i / N_PEERS),
			.action = i % 7 ? CP_ACTION_ALLOW : CP_ACTION_DENY,
		};
}

static struct policy_ruleset *compile(void)
{
	struct policy_ruleset *rs = NULL;
	struct policy_compile_input in = { .policies = &pol, .n_policies = 1, .nodes = &nodes,
					   .visible = visible, .ifname = "plexd0", .log_denied = true };
	if (policy_compile(&in, &rs) < 0)
		abort();
	return rs;
}

/* The naive form: every rule its own `add rule` line in a plain chain. */
static char *one_rule_per_line(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fputs("add table inet plexd\nadd chain inet plexd mesh-in\n", f);
	for (size_t i = 0; i < N_RULES; i++) {
		const struct cp_policy_rule *r = &pol.rules[i];
		const struct policy_node *p = &peers[i % N_PEERS];
		fprintf(f, "add rule inet plexd mesh-in ip saddr %s %s dport %d counter %s\n",
			inet_ntoa(p->mesh_ip), r->protocol == CP_PROTOCOL_TCP ? "tcp" : "udp", r->port,
			r->action == CP_ACTION_ALLOW ? "accept" : "drop");
	}
	fclose(f);
	return buf;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

#define ROUNDS 5
static double median(const double *v)
{
	double t[ROUNDS];

	memcpy(t, v, sizeof t);
	qsort(t, ROUNDS, sizeof(double), dbl_cmp);
	return t[ROUNDS / 2];
}

/* `policy-apply --incr N` / `--full N`: only N one-rule changes, or N compile + apply from
 * scratch (teardown not timed), for profilers (perf record, valgrind --tool=callgrind). */
static int profile(struct policy_firewall *fw, bool incr, int n)
{
	struct policy_apply_result res;
	double sum = 0;

	policy_firewall_teardown(fw);
	if (incr) {
		struct policy_ruleset *base = compile();
		if (policy_firewall_apply(fw, base, &res) < 0)
			return 1;
		policy_ruleset_free(base);
	}
	for (int k = 0; k < n; k++) {
		struct policy_ruleset *rs;
		double t0;

		if (incr)
			pol.rules[5001].port = 60000 + k % 1000;
		else
			policy_firewall_teardown(fw);
		t0 = now_ms();
		rs = compile();
		if (policy_firewall_apply(fw, rs, &res) < 0 ||
		    res.kind != (incr ? NFT_PLAN_PATCH : NFT_PLAN_CREATE))
			return 1;
		sum += now_ms() - t0;
		policy_ruleset_free(rs);
	}
	printf("%s: %.2f ms mean of %d\n", incr ? "one-rule change, incremental (e2e)"
					      : "compile + apply via libnftables", sum / n, n);
	policy_firewall_teardown(fw);
	return 0;
}

int main(int argc, char **argv)
{
	struct policy_firewall *fw = NULL;
	struct policy_apply_result res;
	double t0, t_compile[ROUNDS], t_apply[ROUNDS], t_nft[ROUNDS], t_lines[ROUNDS];
	double t_incr[ROUNDS], t_full[ROUNDS], t_read[ROUNDS], t_elem[ROUNDS];
	char *text, *lines;

	generate();
	if (policy_firewall_new(&fw) < 0) {
		fprintf(stderr, "cannot create nftables context\n");
		return 1;
	}
	if (argc == 3 && (strcmp(argv[1], "--incr") == 0 || strcmp(argv[1], "--full") == 0)) {
		int r = profile(fw, argv[1][2] == 'i', atoi(argv[2]));
		free(pol.rules);
		policy_firewall_free(fw);
		return r;
	}
	{
		struct policy_ruleset *rs = compile();
		policy_ruleset_render(rs, &text);
		printf("ruleset: %d rules -> %zu lookup(s) in mesh-in, %zu bytes of nft text\n", N_RULES,
		       rs->chains[POLICY_DIR_IN].n_groups, strlen(text));
		policy_ruleset_free(rs);
	}
	lines = one_rule_per_line();
	/* Interleaved rounds, so that load from other processes on the machine hits both sides
	 * alike instead of whichever block of runs it happens to coincide with. */
	for (int k = 0; k < ROUNDS; k++) {
		struct policy_ruleset *rs;

		policy_firewall_teardown(fw);
		t0 = now_ms();
		rs = compile();
		t_compile[k] = now_ms() - t0;
		if (policy_firewall_apply(fw, rs, &res) < 0 || res.kind != NFT_PLAN_CREATE) {
			fprintf(stderr, "apply failed: %s\n", policy_firewall_state(fw));
			return 1;
		}
		t_apply[k] = now_ms() - t0;
		policy_ruleset_free(rs);

		policy_firewall_teardown(fw);
		t0 = now_ms();
		if (nft_file(text) < 0)
			return 1;
		t_nft[k] = now_ms() - t0;

		policy_firewall_teardown(fw);
		t0 = now_ms();
		if (nft_file(lines) < 0)
			return 1;
		t_lines[k] = now_ms() - t0;
	}

	/* One rule changes in a 10,000-rule policy. */
	policy_firewall_teardown(fw);
	struct policy_ruleset *base = compile();
	policy_firewall_apply(fw, base, &res);
	for (int k = 0; k < ROUNDS; k++) {
		struct nft_table_state *st = NULL;
		t0 = now_ms();
		policy_firewall_read(fw, &st);
		t_read[k] = now_ms() - t0;
		nft_table_state_free(st);

		pol.rules[5001].port = 60000 + k;
		t0 = now_ms();
		struct policy_ruleset *rs = compile();
		if (policy_firewall_apply(fw, rs, &res) < 0 || res.kind != NFT_PLAN_PATCH ||
		    res.elements_added != 1 || res.chains_rewritten != 0) {
			fprintf(stderr, "incremental apply failed\n");
			return 1;
		}
		t_incr[k] = now_ms() - t0;
		policy_ruleset_free(rs);

		pol.rules[5001].port = 61000 + k;
		t0 = now_ms();
		rs = compile();
		if (policy_firewall_replace(fw, rs) < 0)
			return 1;
		t_full[k] = now_ms() - t0;
		policy_ruleset_free(rs);
	}
	/* The transaction alone, without compile/diff: what libnftables costs for one element. */
	for (int k = 0; k < ROUNDS; k++) {
		char cmd[256];
		snprintf(cmd, sizeof cmd, "add element inet plexd in_0 { 10.100.9.9 . tcp . %d : accept }\n", 100 + k);
		t0 = now_ms();
		if (policy_firewall_run(fw, cmd) < 0)
			return 1;
		t_elem[k] = now_ms() - t0;
	}
	policy_ruleset_free(base);
	policy_firewall_teardown(fw);

	double apply_ms = median(t_apply), nft_ms = median(t_nft), lines_ms = median(t_lines);
	double incr_ms = median(t_incr), full_ms = median(t_full);

	printf("median of %d runs, same process, same namespace (apply / nft -f interleaved):\n", ROUNDS);
	printf("  compile only                          %8.1f ms\n", median(t_compile));
	printf("  compile + apply via libnftables       %8.1f ms\n", apply_ms);
	printf("  nft -f of the same generated ruleset  %8.1f ms   ratio plexd/nft-f  = %.2f (target <= 1.10)\n",
	       nft_ms, apply_ms / nft_ms);
	printf("  nft -f, one add rule per rule         %8.1f ms   ratio plexd/per-line = %.3f\n",
	       lines_ms, apply_ms / lines_ms);
	printf("  read-back of the installed table      %8.1f ms\n", median(t_read));
	printf("  one-rule change, incremental (e2e)    %8.1f ms   (target <= 10 ms)\n", incr_ms);
	printf("  (of which libnftables element txn     %8.1f ms)\n", median(t_elem));
	printf("  one-rule change, full atomic replace  %8.1f ms   ratio incremental/full = %.2f\n",
	       full_ms, incr_ms / full_ms);
	free(text);
	free(lines);
	free(pol.rules);
	policy_firewall_free(fw);
	return 0;
}
