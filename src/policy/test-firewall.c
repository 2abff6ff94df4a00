/* Root integration test of the firewall edge in a private network namespace: a foreign table
 * stays byte-identical through create, incremental change, drift repair and teardown; the
 * read-back of what we installed equals what we compiled; counters come back. Exit 77 when not
 * root. Tests run in order and share one namespace. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "policy/firewall.h"
#include "policy/status.h"

static char netns[64];
static char foreign_before[8192];
static struct policy_firewall *fw;

static struct policy_node local = { "n_local", { 0 } };
static struct policy_node peers[] = { { "n_peer", { 0 } }, { "n_other", { 0 } } };
static struct policy_nodes nodes;

/* Runs argv, captures stdout (NUL-terminated) when out != NULL. Returns the exit status. */
static int run(char *out, size_t size, const char *const *argv)
{
	int pfd[2], st;
	pid_t pid;
	size_t n = 0;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		char tmp[4096];
		ssize_t k = read(pfd[0], tmp, sizeof tmp);
		if (k <= 0)
			break;
		for (ssize_t i = 0; out && i < k && n + 1 < size; i++)
			out[n++] = tmp[i];
	}
	close(pfd[0]);
	if (out)
		out[n] = '\0';
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `nft -f` of a script, like an administrator would do it. */
static int nft(const char *script)
{
	char path[] = "/tmp/plexd-test-nft-XXXXXX";
	int fd = mkstemp(path), r;

	if (fd < 0)
		return -1;
	r = write(fd, script, strlen(script)) == (ssize_t)strlen(script) ? 0 : -1;
	close(fd);
	if (r == 0)
		r = run(NULL, 0, (const char *const[]){ "nft", "-f", path, NULL });
	unlink(path);
	return r;
}

static void list_foreign(char *out, size_t size)
{
	assert_int_equal(run(out, size, (const char *const[]){ "nft", "list", "table", "inet", "foreign", NULL }), 0);
}

static const char *policies_json =
	"[{\"id\":\"web\",\"rules\":["
	"{\"src\":\"n_peer\",\"dst\":\"n_local\",\"protocol\":\"tcp\",\"port\":5000,\"action\":\"allow\"},"
	"{\"src\":\"n_peer\",\"dst\":\"n_local\",\"protocol\":\"tcp\",\"port\":22,\"action\":\"deny\"},"
	"{\"src\":\"n_peer\",\"dst\":\"n_local\",\"protocol\":\"tcp\",\"port\":5001,\"action\":\"allow\"},"
	"{\"src\":\"n_other\",\"dst\":\"n_local\",\"protocol\":\"udp\",\"action\":\"allow\"},"
	"{\"src\":\"127.0.0.0/24\",\"dst\":\"n_local\",\"protocol\":\"udp\",\"action\":\"deny\"},"
	"{\"src\":\"*\",\"dst\":\"*\",\"protocol\":\"tcp\",\"action\":\"allow\"}]}]";

static struct policy_ruleset *compile_json(const char *text)
{
	struct cp_policy_list list = {};
	struct json_error jerr = {};
	struct policy_ruleset *rs = NULL;
	bool visible[2];
	json_t *j = json_loads(text, 0, NULL);
	uint16_t access[] = { 2222 };

	assert_non_null(j);
	assert_int_equal(cp_policy_list_from_json(j, "policies", &list, &jerr), 0);
	assert_int_equal(policy_compute_visibility(list.policies, list.n_policies, &nodes, false,
						   visible, NULL, NULL), 0);
	struct policy_compile_input in = {
		.policies = list.policies, .n_policies = list.n_policies, .nodes = &nodes,
		.visible = visible, .ifname = "lo", .log_denied = true,
		.access_tcp = access, .n_access_tcp = 1,
	};
	assert_int_equal(policy_compile(&in, &rs), 0);
	cp_policy_list_done(&list);
	json_decref(j);
	return rs;
}

static char *replace_port(const char *from, const char *to)
{
	const char *p = strstr(policies_json, from);
	char *s;

	assert_non_null(p);
	assert_true(asprintf(&s, "%.*s%s%s", (int)(p - policies_json), policies_json, to,
			     p + strlen(from)) > 0);
	return s;
}

static void assert_installed_is(const struct policy_ruleset *rs)
{
	struct nft_table_state *want = NULL, *have = NULL;

	assert_int_equal(policy_ruleset_to_state(rs, &want), 0);
	assert_int_equal(policy_firewall_read(fw, &have), 0);
	assert_non_null(have);
	if (!nft_table_state_equal(have, want)) {
		for (size_t i = 0; i < have->n_chains; i++)
			for (size_t k = 0; k < have->chains[i].n_rules; k++)
				fprintf(stderr, "have %s: %s\n", have->chains[i].name, have->chains[i].rules[k]);
		for (size_t i = 0; i < have->n_sets; i++)
			fprintf(stderr, "have set %s: %s (%zu elems)\n", have->sets[i].name,
				have->sets[i].decl, have->sets[i].n_elems);
		fail_msg("installed table differs from the compiled one");
	}
	nft_table_state_free(want);
	nft_table_state_free(have);
}

static void assert_foreign_unchanged(void)
{
	char now[sizeof foreign_before];
	list_foreign(now, sizeof now);
	assert_string_equal(now, foreign_before);
}

static int group_setup(void **state)
{
	int fd;

	snprintf(netns, sizeof netns, "plexdtest-pol-%d", (int)getpid());
	if (run(NULL, 0, (const char *const[]){ "ip", "netns", "add", netns, NULL }) != 0)
		return -1;
	char path[128];
	snprintf(path, sizeof path, "/run/netns/%s", netns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		return -1;
	close(fd);
	if (run(NULL, 0, (const char *const[]){ "ip", "link", "set", "lo", "up", NULL }) != 0)
		return -1;
	/* The foreign table exists first and must never change. */
	if (nft("table inet foreign { set s { type ipv4_addr; elements = { 1.2.3.4 } }\n"
		"chain c { type filter hook input priority -10; policy accept;\n"
		"tcp dport 9999 counter accept\nip saddr @s drop\n}\n}\n") != 0)
		return -1;
	list_foreign(foreign_before, sizeof foreign_before);

	inet_pton(AF_INET, "127.0.0.1", &local.mesh_ip);
	inet_pton(AF_INET, "127.0.0.2", &peers[0].mesh_ip);
	inet_pton(AF_INET, "127.0.0.3", &peers[1].mesh_ip);
	policy_nodes_sort(peers, 2);
	nodes = (struct policy_nodes){ .local = &local, .peers = peers, .n_peers = 2 };
	ipv4_prefix_parse("127.0.0.0/8", false, &nodes.mesh_cidr);
	return policy_firewall_new(&fw);
}

static int group_teardown(void **state)
{
	fw = policy_firewall_free(fw);
	run(NULL, 0, (const char *const[]){ "ip", "netns", "del", netns, NULL });
	return 0;
}

static void test_create_and_idempotent(void **state)
{
	struct policy_ruleset *rs = compile_json(policies_json);
	struct policy_apply_result res;

	assert_int_equal(policy_firewall_apply(fw, rs, &res), 0);
	assert_int_equal(res.kind, NFT_PLAN_CREATE);
	assert_false(res.drift);
	assert_string_equal(policy_firewall_state(fw), "applied");
	assert_installed_is(rs);
	/* Identical: nothing is sent. */
	assert_int_equal(policy_firewall_apply(fw, rs, &res), 0);
	assert_int_equal(res.kind, NFT_PLAN_NONE);
	assert_false(res.drift);
	assert_foreign_unchanged();
	policy_ruleset_free(rs);
}

static void test_counters(void **state)
{
	struct policy_ruleset *rs = compile_json(policies_json);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(5001) };
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct nft_table_state *have = NULL;
	struct cp_policy_list list = {};
	struct json_error jerr = {};
	json_t *doc, *j = json_loads(policies_json, 0, NULL);
	int ls, cs;

	/* A real connection from the peer's address to an allowed port of a vmap group. */
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	inet_pton(AF_INET, "127.0.0.2", &src.sin_addr);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int)), 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(ls, 1), 0);
	cs = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(cs, (struct sockaddr *)&src, sizeof src), 0);
	assert_int_equal(connect(cs, (struct sockaddr *)&a, sizeof a), 0);
	close(cs);
	close(ls);

	assert_int_equal(policy_firewall_read(fw, &have), 0);
	assert_int_equal(cp_policy_list_from_json(j, "policies", &list, &jerr), 0);
	assert_int_equal(policy_status_to_json(rs, list.policies, list.n_policies, &nodes, have,
					       policy_firewall_state(fw), false, &doc), 0);
	json_t *r2 = json_array_get(json_object_get(json_array_get(json_object_get(doc, "policies"), 0), "rules"), 2);
	assert_int_equal(json_integer_value(json_object_get(r2, "index")), 2);
	assert_int_equal(json_integer_value(json_object_get(r2, "port")), 5001);
	assert_true(json_integer_value(json_object_get(r2, "packets")) >= 1);
	policy_status_print(doc, stderr);
	json_decref(doc);
	json_decref(j);
	cp_policy_list_done(&list);
	nft_table_state_free(have);
	policy_ruleset_free(rs);
}

static void test_incremental(void **state)
{
	_cleanup_free_ char *changed = replace_port("\"port\":5001", "\"port\":5002");
	struct policy_ruleset *rs = compile_json(changed);
	struct policy_apply_result res;

	assert_int_equal(policy_firewall_apply(fw, rs, &res), 0);
	assert_int_equal(res.kind, NFT_PLAN_PATCH);
	assert_int_equal(res.elements_added, 1);
	assert_int_equal(res.elements_deleted, 1);
	assert_int_equal(res.chains_rewritten, 0);
	assert_false(res.drift);
	assert_installed_is(rs);
	assert_foreign_unchanged();
	policy_ruleset_free(rs);

	/* A verdict change of one key is also element-only. */
	_cleanup_free_ char *verdict = replace_port("\"port\":22,\"action\":\"deny\"",
						    "\"port\":22,\"action\":\"allow\"");
	rs = compile_json(verdict);
	assert_int_equal(policy_firewall_apply(fw, rs, &res), 0);
	assert_int_equal(res.kind, NFT_PLAN_PATCH);
	assert_int_equal(res.chains_rewritten, 0);
	assert_installed_is(rs);
	policy_ruleset_free(rs);
}

static void test_drift(void **state)
{
	struct policy_ruleset *rs = compile_json(policies_json);
	struct policy_apply_result res;

	assert_int_equal(policy_firewall_apply(fw, rs, &res), 0);
	assert_false(res.drift);

	assert_int_equal(nft("delete table inet plexd"), 0);
	assert_int_equal(policy_firewall_apply(fw, rs, &res), 0);
	assert_true(res.drift);
	assert_string_equal(res.drift_detail, "table missing");
	assert_int_equal(res.kind, NFT_PLAN_CREATE);
	assert_installed_is(rs);

	assert_int_equal(nft("flush table inet plexd"), 0);
	assert_int_equal(policy_firewall_apply(fw, rs, &res), 0);
	assert_true(res.drift);
	assert_string_equal(res.drift_detail, "table modified");
	assert_installed_is(rs);

	/* A rule slipped into our chain is removed. */
	assert_int_equal(nft("insert rule inet plexd mesh-in tcp dport 1 accept"), 0);
	assert_int_equal(policy_firewall_apply(fw, rs, &res), 0);
	assert_true(res.drift);
	assert_int_equal(res.kind, NFT_PLAN_PATCH);
	assert_int_equal(res.chains_rewritten, 1);
	assert_installed_is(rs);

	/* A chain added to our table is removed (full replace). */
	assert_int_equal(nft("add chain inet plexd intruder"), 0);
	assert_int_equal(policy_firewall_apply(fw, rs, &res), 0);
	assert_true(res.drift);
	assert_int_equal(res.kind, NFT_PLAN_REPLACE);
	assert_installed_is(rs);

	/* A map element removed by hand comes back. */
	assert_int_equal(nft("delete element inet plexd in_0 { 127.0.0.2 . tcp . 22 }"), 0);
	assert_int_equal(policy_firewall_apply(fw, rs, &res), 0);
	assert_true(res.drift);
	assert_int_equal(res.elements_added, 1);
	assert_installed_is(rs);
	assert_foreign_unchanged();
	policy_ruleset_free(rs);
}

static void test_failed_transaction_keeps_previous(void **state)
{
	struct policy_ruleset *rs = compile_json(policies_json);

	/* The element add would succeed alone; the bad rule fails the batch, so neither lands. */
	assert_int_not_equal(policy_firewall_run(fw, "add element inet plexd in_0 { 127.0.0.2 . tcp . 7 : accept }\n"
						     "add rule inet plexd no-such-chain accept\n"), 0);
	assert_installed_is(rs);
	assert_foreign_unchanged();
	policy_ruleset_free(rs);
}

static void test_teardown(void **state)
{
	struct nft_table_state *have = (void *)1;

	assert_int_equal(policy_firewall_teardown(fw), 0);
	assert_int_equal(policy_firewall_read(fw, &have), 0);
	assert_null(have);
	/* Teardown of a missing table is fine too. */
	assert_int_equal(policy_firewall_teardown(fw), 0);
	assert_foreign_unchanged();
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skipping: needs root\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_idempotent),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_drift),
		cmocka_unit_test(test_failed_transaction_keeps_previous),
		cmocka_unit_test(test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
