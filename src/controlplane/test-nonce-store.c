/* Unit tests for the nonce store: replay detection, TTL, purge rate limit, capacity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "controlplane/nonce-store.h"
#include "shared/macro.h"

static struct timestamp ts(int64_t sec, uint32_t nsec)
{
	return (struct timestamp){.sec = sec, .nsec = nsec};
}

#define T0 1736937000

static void test_replay(void **state)
{
	_cleanup_(nonce_store_freep) struct nonce_store *s = NULL;

	assert_int_equal(nonce_store_new(0, &s), 0);
	assert_int_equal(nonce_store_capacity(s), 65536);
	assert_int_equal(nonce_store_record(s, "a", ts(T0, 0), ts(T0, 0)), 0);
	assert_int_equal(nonce_store_record(s, "b", ts(T0, 0), ts(T0, 0)), 0);
	assert_int_equal(nonce_store_record(s, "a", ts(T0, 0), ts(T0 + 1, 0)), -EEXIST);
	assert_true(nonce_store_contains(s, "a"));
	assert_false(nonce_store_contains(s, "c"));
	assert_int_equal(nonce_store_size(s), 2);
	assert_int_equal(nonce_store_record(s, "", ts(T0, 0), ts(T0, 0)), -EINVAL);
	char longn[130];
	memset(longn, 'x', 129);
	longn[129] = 0;
	assert_int_equal(nonce_store_record(s, longn, ts(T0, 0), ts(T0, 0)), -EINVAL);
	longn[128] = 0;
	assert_int_equal(nonce_store_record(s, longn, ts(T0, 0), ts(T0, 0)), 0);
}

static void test_ttl_boundary(void **state)
{
	_cleanup_(nonce_store_freep) struct nonce_store *s = NULL;

	assert_int_equal(nonce_store_new(0, &s), 0);
	assert_int_equal(nonce_store_record(s, "a", ts(T0, 500), ts(T0, 500)), 0);
	/* Exactly 300 s in the past: kept. */
	assert_int_equal(nonce_store_purge(s, ts(T0 + 300, 500)), 0);
	assert_true(nonce_store_contains(s, "a"));
	/* 300 s + 1 ns: dropped. */
	assert_int_equal(nonce_store_purge(s, ts(T0 + 300, 501)), 1);
	assert_false(nonce_store_contains(s, "a"));
	assert_int_equal(nonce_store_size(s), 0);
}

static void test_capacity_and_purge_interval(void **state)
{
	_cleanup_(nonce_store_freep) struct nonce_store *s = NULL;
	char n[16];

	assert_int_equal(nonce_store_new(4, &s), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(n, sizeof(n), "n%d", i);
		assert_int_equal(nonce_store_record(s, n, ts(T0, 0), ts(T0, 0)), 0);
	}
	/* Full; an unexpired entry is never evicted. A replay is still reported as such. */
	assert_int_equal(nonce_store_record(s, "x", ts(T0 + 10, 0), ts(T0 + 10, 0)), -ENOSPC);
	assert_int_equal(nonce_store_record(s, "n1", ts(T0, 0), ts(T0 + 10, 0)), -EEXIST);
	/* Entries expired at T0+301, but the last purge (first record, at T0) is within 60 s
	 * only until T0+60; at T0+301 a purge is due and frees the space. */
	assert_int_equal(nonce_store_record(s, "x", ts(T0 + 301, 0), ts(T0 + 301, 0)), 0);
	assert_int_equal(nonce_store_size(s), 1);
	assert_false(nonce_store_contains(s, "n0"));

	/* Fill again at T0+301; those expire at T0+602. A purge ran at T0+301, so at T0+602
	 * (301 s later) another is due; but fill at T0+340 first: the purge at T0+301 blocks
	 * one at T0+340 (< 60 s) so a full store stays full then. */
	for (int i = 0; i < 3; i++) {
		snprintf(n, sizeof(n), "m%d", i);
		assert_int_equal(nonce_store_record(s, n, ts(T0 + 301, 0), ts(T0 + 301, 0)), 0);
	}
	assert_int_equal(nonce_store_record(s, "y", ts(T0 + 340, 0), ts(T0 + 340, 0)), -ENOSPC);
}

static void test_purge_rate_limited(void **state)
{
	_cleanup_(nonce_store_freep) struct nonce_store *s = NULL;

	assert_int_equal(nonce_store_new(2, &s), 0);
	/* First record purges (at T0+500) and stores an old entry (issued T0, expired). */
	assert_int_equal(nonce_store_record(s, "old", ts(T0, 0), ts(T0 + 500, 0)), 0);
	assert_int_equal(nonce_store_record(s, "b", ts(T0 + 500, 0), ts(T0 + 500, 0)), 0);
	/* Full; "old" is expired but the last purge was 59 s ago: no purge, rejected. */
	assert_int_equal(nonce_store_record(s, "c", ts(T0 + 559, 0), ts(T0 + 559, 0)), -ENOSPC);
	/* 60 s after the last purge: purge runs, "old" goes, "c" fits. */
	assert_int_equal(nonce_store_record(s, "c", ts(T0 + 560, 0), ts(T0 + 560, 0)), 0);
	assert_false(nonce_store_contains(s, "old"));
	assert_true(nonce_store_contains(s, "b"));
}

static void test_default_capacity_fills(void **state)
{
	_cleanup_(nonce_store_freep) struct nonce_store *s = NULL;
	char n[40];

	assert_int_equal(nonce_store_new(0, &s), 0);
	for (int i = 0; i < 65536; i++) {
		snprintf(n, sizeof(n), "%032x", (unsigned)i * 2654435761u);
		assert_int_equal(nonce_store_record(s, n, ts(T0, 0), ts(T0 + 1, 0)), 0);
	}
	assert_int_equal(nonce_store_size(s), 65536);
	assert_int_equal(nonce_store_record(s, "one-more", ts(T0, 0), ts(T0 + 2, 0)), -ENOSPC);
	for (int i = 0; i < 65536; i += 997) {
		snprintf(n, sizeof(n), "%032x", (unsigned)i * 2654435761u);
		assert_true(nonce_store_contains(s, n));
		assert_int_equal(nonce_store_record(s, n, ts(T0, 0), ts(T0 + 2, 0)), -EEXIST);
	}
	/* All expire together. */
	assert_int_equal(nonce_store_purge(s, ts(T0 + 301, 0)), 65536);
	assert_int_equal(nonce_store_record(s, "one-more", ts(T0 + 301, 0), ts(T0 + 301, 0)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replay),
	    cmocka_unit_test(test_ttl_boundary),
	    cmocka_unit_test(test_capacity_and_purge_interval),
	    cmocka_unit_test(test_purge_rate_limited),
	    cmocka_unit_test(test_default_capacity_fills),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
