/* Unit tests for ringbuf.c: FIFO order, drop-oldest on overflow with the free callback, wrap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "shared/macro.h"
#include "shared/ringbuf.h"

static unsigned freed;
static int freed_last;

static void count_free(void *p)
{
	freed++;
	freed_last = *(int *)p;
	free(p);
}

static int *num(int v)
{
	int *p = malloc(sizeof *p);
	assert_non_null(p);
	*p = v;
	return p;
}

static void test_fifo(void **state)
{
	struct ringbuf *r = NULL;
	int items[5] = { 0, 1, 2, 3, 4 };

	assert_int_equal(ringbuf_new(3, NULL, &r), 0);
	assert_int_equal(ringbuf_capacity(r), 3);
	assert_int_equal(ringbuf_len(r), 0);
	assert_null(ringbuf_pop(r));
	assert_null(ringbuf_peek(r, 0));

	/* Interleave push/pop so the indices wrap several times. */
	for (int round = 0; round < 10; round++) {
		assert_int_equal(ringbuf_push(r, &items[0]), 0);
		assert_int_equal(ringbuf_push(r, &items[1]), 0);
		assert_int_equal(ringbuf_len(r), 2);
		assert_ptr_equal(ringbuf_peek(r, 0), &items[0]);
		assert_ptr_equal(ringbuf_peek(r, 1), &items[1]);
		assert_null(ringbuf_peek(r, 2));
		assert_ptr_equal(ringbuf_pop(r), &items[0]);
		assert_ptr_equal(ringbuf_pop(r), &items[1]);
		assert_null(ringbuf_pop(r));
	}
	assert_int_equal(ringbuf_dropped(r), 0);
	r = ringbuf_free(r);
	assert_null(r);
	assert_null(ringbuf_free(NULL));
}

static void test_overflow(void **state)
{
	struct ringbuf *r = NULL;

	freed = 0;
	assert_int_equal(ringbuf_new(3, count_free, &r), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ringbuf_push(r, num(i)), 0);
	/* Full: each push drops (and frees) the oldest. */
	static const struct {
		int push;
		int dropped_value;
		int want[3];
	} steps[] = {
		{ 3, 0, { 1, 2, 3 } },
		{ 4, 1, { 2, 3, 4 } },
		{ 5, 2, { 3, 4, 5 } },
		{ 6, 3, { 4, 5, 6 } },
	};
	for (size_t s = 0; s < ELEMENTSOF(steps); s++) {
		assert_int_equal(ringbuf_push(r, num(steps[s].push)), 1);
		assert_int_equal(freed_last, steps[s].dropped_value);
		assert_int_equal(ringbuf_dropped(r), s + 1);
		assert_int_equal(ringbuf_len(r), 3);
		for (size_t i = 0; i < 3; i++)
			assert_int_equal(*(int *)ringbuf_peek(r, i), steps[s].want[i]);
	}
	assert_int_equal(freed, 4);

	int *v = ringbuf_pop(r);
	assert_int_equal(*v, 4);
	free(v); /* popped elements belong to the caller */
	assert_int_equal(ringbuf_push(r, num(7)), 0);
	assert_int_equal(*(int *)ringbuf_peek(r, 2), 7);

	/* ringbuf_free frees what is left. */
	freed = 0;
	ringbuf_free(r);
	assert_int_equal(freed, 3);
}

static void test_capacity_one_and_invalid(void **state)
{
	struct ringbuf *r = NULL;
	int a = 1, b = 2;

	assert_int_equal(ringbuf_new(0, NULL, &r), -EINVAL);
	assert_null(r);
	assert_int_equal(ringbuf_new(1, NULL, &r), 0);
	assert_int_equal(ringbuf_push(r, &a), 0);
	assert_int_equal(ringbuf_push(r, &b), 1);
	assert_ptr_equal(ringbuf_pop(r), &b);
	assert_int_equal(ringbuf_dropped(r), 1);
	ringbuf_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_capacity_one_and_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
