/* Exponential backoff with ±25 % jitter (control-plane-api.md §2.8). The delay computation is
 * pure so that tests can pin the jitter; only backoff_next/peek draw randomness. */
#include "shared/backoff.h"
#include "shared/macro.h"
#include "shared/random-util.h"

void backoff_init(struct backoff *b, usec_t base, usec_t cap)
{
	*b = (struct backoff){ .base = base, .cap = cap, .attempt = 0 };
}

void backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}

usec_t backoff_delay(usec_t base, usec_t cap, unsigned n, double u)
{
	usec_t d;
	double f, r;

	/* min(base × 2^n, cap) without overflowing the shift. */
	if (n >= 64 || base > (cap >> n))
		d = cap;
	else
		d = base << n;
	if (!(u >= 0.0)) /* also catches NaN */
		u = 0.0;
	if (u > 1.0)
		u = 1.0;
	f = 0.75 + 0.5 * u;
	r = (double)d * f;
	if (r >= 0x1p64)
		return UINT64_MAX;
	return (usec_t)r;
}

usec_t backoff_peek(const struct backoff *b)
{
	return backoff_delay(b->base, b->cap, b->attempt, random_unit());
}

usec_t backoff_next(struct backoff *b)
{
	usec_t d = backoff_peek(b);

	/* Saturate: past 64 doublings the delay is pinned at cap anyway. */
	if (b->attempt < 64)
		b->attempt++;
	return d;
}
