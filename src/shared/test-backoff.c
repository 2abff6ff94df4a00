/* Unit tests for backoff.c (control-plane-api.md §2.8) and random-util.c. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "shared/backoff.h"
#include "shared/macro.h"
#include "shared/random-util.h"

#define S USEC_PER_SEC

static void test_delay_table(void **state)
{
	/* B(1 s, 60 s): 1 2 4 8 16 32 60 60 ...; u = 0 -> ×0.75, 0.5 -> ×1, ->1 -> ×1.25. */
	static const struct {
		usec_t base, cap;
		unsigned n;
		double u;
		usec_t want;
	} v[] = {
		{ S, 60 * S, 0, 0.5, S },
		{ S, 60 * S, 1, 0.5, 2 * S },
		{ S, 60 * S, 2, 0.5, 4 * S },
		{ S, 60 * S, 5, 0.5, 32 * S },
		{ S, 60 * S, 6, 0.5, 60 * S },
		{ S, 60 * S, 7, 0.5, 60 * S },
		{ S, 60 * S, 63, 0.5, 60 * S },
		{ S, 60 * S, 64, 0.5, 60 * S },
		{ S, 60 * S, 1000, 0.5, 60 * S },
		{ S, 60 * S, 0, 0.0, 750000 },
		{ S, 60 * S, 6, 0.0, 45 * S },
		{ S, 60 * S, 3, 0.25, 7 * S },
		{ S, 300 * S, 8, 0.5, 256 * S },
		{ S, 300 * S, 9, 0.5, 300 * S },
		{ S, 300 * S, 9, 0.0, 225 * S },
		{ 5 * S, 60 * S, 2, 0.5, 20 * S },
		{ 100 * S, 60 * S, 0, 0.5, 60 * S }, /* base above cap */
		{ 0, 60 * S, 5, 0.5, 0 },
		{ UINT64_MAX / 2, UINT64_MAX, 1, 0.5, UINT64_MAX - 1 },
		{ S, 60 * S, 0, -1.0, 750000 },	/* out-of-range u is clamped */
	};
	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		usec_t d = backoff_delay(v[i].base, v[i].cap, v[i].n, v[i].u);
		if (d != v[i].want && !(v[i].want > UINT64_MAX / 2 && d >= v[i].want - 4096))
			fail_msg("case %zu: got %" PRIu64 " want %" PRIu64, i, d, v[i].want);
	}
	/* The factor never exceeds ×1.25 (the spec's closed interval). */
	usec_t hi = backoff_delay(S, 60 * S, 0, 0.999999999);
	assert_true(hi < 1250000 && hi >= 1249999);
	assert_int_equal(backoff_delay(S, 60 * S, 0, 1.0), 1250000);
	assert_int_equal(backoff_delay(S, 60 * S, 0, 5.0), 1250000);
	assert_int_equal(backoff_delay(S, 60 * S, 9, 1.0), 75 * S);
	assert_int_equal(backoff_delay(S, 60 * S, 0, __builtin_nan("")), 750000);
	/* Jitter may take a capped delay past the cap (the factor applies after min). */
	assert_true(backoff_delay(UINT64_MAX, UINT64_MAX, 0, 0.999) == UINT64_MAX);
}

static void test_state_machine(void **state)
{
	struct backoff b;
	static const usec_t nominal[] = { 1, 2, 4, 8, 16, 32, 60, 60, 60 };

	backoff_init(&b, S, 60 * S);
	for (size_t i = 0; i < ELEMENTSOF(nominal); i++) {
		usec_t peek = backoff_peek(&b);
		assert_int_equal(b.attempt, i); /* peek does not advance */
		usec_t d = backoff_next(&b);
		assert_int_equal(b.attempt, i + 1);
		for (usec_t x = peek, k = 0; k < 2; x = d, k++) {
			assert_true(x >= nominal[i] * S * 3 / 4);
			assert_true(x <= nominal[i] * S * 5 / 4);
		}
	}
	backoff_reset(&b);
	assert_int_equal(b.attempt, 0);
	usec_t d = backoff_next(&b);
	assert_true(d >= 750000 && d <= 1250000);

	/* The counter saturates instead of wrapping back to short delays. */
	b.attempt = UINT32_MAX;
	d = backoff_next(&b);
	assert_true(d >= 45 * S);
	assert_true(b.attempt >= 64);
}

static void test_jitter_spread(void **state)
{
	usec_t min = UINT64_MAX, max = 0;
	double sum = 0;

	/* 2000 draws: all within ±25 %, both halves of the range reached, mean near 1. */
	for (int i = 0; i < 2000; i++) {
		struct backoff b;
		backoff_init(&b, S, 60 * S);
		usec_t d = backoff_next(&b);
		min = MIN(min, d);
		max = MAX(max, d);
		sum += (double)d;
	}
	assert_true(min >= 750000);
	assert_true(max < 1250000);
	assert_true(min < 800000);
	assert_true(max > 1200000);
	assert_true(sum / 2000 > 0.95 * S && sum / 2000 < 1.05 * S);
}

static void test_random(void **state)
{
	uint8_t a[64] = {}, b[64] = {};

	assert_int_equal(random_bytes(a, sizeof a), 0);
	assert_int_equal(random_bytes(b, sizeof b), 0);
	assert_memory_not_equal(a, b, sizeof a);
	assert_int_equal(random_bytes(a, 0), 0);
	assert_true(random_u64() != random_u64());
	for (int i = 0; i < 1000; i++) {
		double u = random_unit();
		assert_true(u >= 0.0 && u < 1.0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_table),
		cmocka_unit_test(test_state_machine),
		cmocka_unit_test(test_jitter_spread),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
