/* Randomness from the kernel CSPRNG (getrandom). */
#pragma once

#include <stddef.h>
#include <stdint.h>

int random_bytes(void *buf, size_t n);
uint64_t random_u64(void);
/* Uniform in [0, 1). */
double random_unit(void);
