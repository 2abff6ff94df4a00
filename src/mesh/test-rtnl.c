/* Unit tests: route diff between the allowed-IP prefixes of configured peers and the plexd
 * routes found on the interface (§5.1 interface 5). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_diff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
