/* Exponential backoff B(base, cap) with ±25 % jitter (control-plane-api.md §2.8):
 * delay_n = min(base × 2^n, cap) × U[0.75, 1.25]. */
#pragma once

#include "shared/time-util.h"

struct backoff {
	usec_t base;
	usec_t cap;
	unsigned attempt;
};

void backoff_init(struct backoff *b, usec_t base, usec_t cap);
void backoff_reset(struct backoff *b);
/* Pure: the delay for attempt n with jitter u in [0, 1] mapped to a factor in [0.75, 1.25]
 * (u outside [0, 1] or NaN is clamped). */
usec_t backoff_delay(usec_t base, usec_t cap, unsigned n, double u);
/* Delay for the current attempt (random jitter), then advances the attempt counter. */
usec_t backoff_next(struct backoff *b);
/* Same delay without advancing (429 without Retry-After). */
usec_t backoff_peek(const struct backoff *b);
