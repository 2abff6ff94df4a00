/* Randomness from the kernel CSPRNG. getrandom(2) without flags blocks only until the pool is
 * initialised once at boot, and never returns short reads for requests up to 256 bytes. */
#include <stdlib.h>
#include <sys/random.h>

#include "shared/macro.h"
#include "shared/random-util.h"

int random_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t k = getrandom(p, n, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

uint64_t random_u64(void)
{
	uint64_t v;

	/* Failure means a kernel without getrandom (< 3.17), which plexd does not support; there
	 * is no safe value to return instead, so this is the one place that aborts. */
	if (random_bytes(&v, sizeof v) < 0)
		abort();
	return v;
}

double random_unit(void)
{
	/* The top 53 bits fill the double mantissa exactly: uniform in [0, 1), never 1.0. */
	return (double)(random_u64() >> 11) * 0x1.0p-53;
}
