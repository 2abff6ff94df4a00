/* Unit tests: route diff between the allowed-IP prefixes of configured peers and the plexd
 * routes found on the interface (§5.1 interface 5). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mesh/rtnl.h"
#include "shared/macro.h"

struct route_case {
	const char *name;
	const char *want[6];
	const char *have[6];
	const char *add[6]; /* sorted: IPv4 before IPv6, then address, then length */
	const char *del[6];
};

static const struct route_case cases[] = {
	{ "empty", {}, {}, {}, {} },
	{ "all new", { "10.100.1.1/32", "10.20.0.0/16" }, {}, { "10.20.0.0/16", "10.100.1.1/32" }, {} },
	{ "all stale", {}, { "10.100.1.1/32", "fd00::/64" }, {}, { "10.100.1.1/32", "fd00::/64" } },
	{ "identical sets in other order with duplicates",
	  { "10.100.1.1/32", "fd00::/64", "10.100.1.1/32" },
	  { "fd00::/64", "10.100.1.1/32" }, {}, {} },
	{ "mixed", { "10.100.1.1/32", "10.100.1.2/32", "fd00:1::/64" },
	  { "10.100.1.2/32", "10.100.1.3/32", "fd00:2::/64" },
	  { "10.100.1.1/32", "fd00:1::/64" }, { "10.100.1.3/32", "fd00:2::/64" } },
	{ "same address, other length is another route", { "10.0.0.0/16" }, { "10.0.0.0/24" },
	  { "10.0.0.0/16" }, { "10.0.0.0/24" } },
	{ "default route prefix", { "0.0.0.0/0" }, {}, { "0.0.0.0/0" }, {} },
};

static size_t parse_list(const char *const *s, struct wg_prefix *out)
{
	size_t n = 0;

	while (n < 6 && s[n]) {
		assert_int_equal(wg_prefix_parse(s[n], &out[n]), 0);
		n++;
	}
	return n;
}

static void assert_list(const struct wg_prefix *got, size_t n, const char *const *want)
{
	size_t k = 0;

	while (k < 6 && want[k]) {
		char buf[WG_PREFIX_STRLEN];
		assert_true(k < n);
		assert_true(wg_prefix_format(&got[k], buf, sizeof(buf)) > 0);
		assert_string_equal(buf, want[k]);
		k++;
	}
	assert_int_equal(n, k);
}

static void test_route_diff(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct wg_prefix want[6], have[6], *add = NULL, *del = NULL;
		size_t nw, nh, na, nd;

		print_message("case: %s\n", cases[i].name);
		nw = parse_list(cases[i].want, want);
		nh = parse_list(cases[i].have, have);
		assert_int_equal(route_diff(want, nw, have, nh, &add, &na, &del, &nd), 0);
		assert_list(add, na, cases[i].add);
		assert_list(del, nd, cases[i].del);
		free(add);
		free(del);
	}
}

/* Batched route changes against the real kernel, in a private network namespace of a child
 * (root only, else skipped): each result maps to its own change by sequence number. */
static int batch_in_netns(void)
{
	struct nlsock *s = NULL;
	struct wg_prefix p[6], *have = NULL;
	size_t n_have = 0;
	int results[6], r;

	if (unshare(CLONE_NEWNET) < 0)
		return 77;
	if (nlsock_open(NETLINK_ROUTE, &s) < 0 || rtnl_link_configure(s, 1, 0) < 0)
		return 10;
	for (size_t i = 0; i < 5; i++) {
		char buf[32];
		snprintf(buf, sizeof(buf), "10.9.%zu.0/24", i);
		if (wg_prefix_parse(buf, &p[i]) < 0)
			return 11;
	}
	p[5] = p[1];
	p[5].cidr = 33; /* the kernel refuses this one alone */
	const struct rtnl_route_op ops[] = {
		{ &p[0], true }, { &p[1], true }, { &p[5], true },
		{ &p[0], true },  /* already there: EEXIST counts as success */
		{ &p[4], false }, /* not there: ESRCH counts as success */
		{ &p[2], true },
	};
	r = rtnl_route_batch(s, 1, RTPROT_PLEXD, ops, ELEMENTSOF(ops), results);
	if (r < 0)
		return 12;
	if (results[0] || results[1] || results[2] != -EINVAL || results[3] || results[4] ||
	    results[5])
		return 13;
	if (rtnl_route_list(s, 1, RTPROT_PLEXD, &have, &n_have) < 0 || n_have != 3)
		return 14;
	free(have);
	/* A whole batch against a missing link fails change by change. */
	r = rtnl_route_batch(s, 999999, RTPROT_PLEXD, ops, 2, results);
	if (r < 0 || results[0] >= 0 || results[1] >= 0)
		return 15;
	if (rtnl_route_batch(s, 1, RTPROT_PLEXD, ops, RTNL_ROUTE_BATCH_MAX + 1, results) != -E2BIG)
		return 16;
	/* Deleting in a batch, the last change being the ACKed one. */
	const struct rtnl_route_op dels[] = { { &p[0], false }, { &p[1], false }, { &p[2], false } };
	if (rtnl_route_batch(s, 1, RTPROT_PLEXD, dels, 3, results) < 0 || results[0] ||
	    results[1] || results[2])
		return 17;
	if (rtnl_route_list(s, 1, RTPROT_PLEXD, &have, &n_have) < 0 || n_have != 0)
		return 18;
	free(have);
	nlsock_free(s);
	return 0;
}

static void test_route_batch(void **state)
{
	int status = 0;
	pid_t pid;

	if (geteuid() != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(batch_in_netns());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_diff),
		cmocka_unit_test(test_route_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
