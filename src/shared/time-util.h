/* Time: RFC 3339 timestamps, the TIME canonicalization of control-plane-api.md §6.3,
 * Go-style durations (§1.2) and the config duration grammar (agent.md §1.2), sizes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;
#define USEC_PER_SEC ((usec_t)1000000ULL)
#define USEC_PER_MSEC ((usec_t)1000ULL)
#define NSEC_PER_SEC INT64_C(1000000000)
#define NSEC_PER_MSEC INT64_C(1000000)
#define NSEC_PER_USEC INT64_C(1000)

/* A point in time: seconds since the Unix epoch (UTC, may be negative) plus nanoseconds. */
struct timestamp {
	int64_t sec;
	uint32_t nsec;
};

#define RFC3339_MAX 40 /* buffer size for any formatted or canonical timestamp */

/* Parses YYYY-MM-DDTHH:MM:SS[.D+](Z|±HH:MM) exactly as control-plane-api.md §6.3 TIME
 * (uppercase T/Z, valid calendar day, any number of fraction digits, the first 9 used).
 * The offset is applied, so the result is UTC. -EINVAL on any deviation. */
int rfc3339_parse(const char *s, size_t len, struct timestamp *ret);
/* TIME(t) of §6.3: writes the canonical form of s into out (NUL-terminated). Validates like
 * rfc3339_parse. Returns the length written; -EINVAL on malformed input, -ENOBUFS if out
 * is too small (RFC3339_MAX always suffices). */
int rfc3339_canonicalize(const char *s, size_t len, char *out, size_t size);
/* Formats in UTC with 'Z'; frac_digits is 0, 3 (ms) or 9 (ns), truncating. Returns the length;
 * -EINVAL for other digit counts, -ERANGE outside years 0000-9999. */
int rfc3339_format(struct timestamp t, unsigned frac_digits, char out[RFC3339_MAX]);
/* True for 0001-01-01T00:00:00Z, the wire's "unset" value. */
bool timestamp_is_unset(struct timestamp t);
struct timestamp timestamp_now(void);

/* Go time.ParseDuration grammar (units h m s ms us µs ns, fractions, optional sign, "0").
 * Result in nanoseconds; -ERANGE on overflow, -EINVAL on syntax. */
int duration_parse(const char *s, int64_t *ret_ns);
/* Config grammar (agent.md §1.2): units ms s m h only, no sign, "0" alone allowed,
 * no bare numbers. */
int duration_parse_config(const char *s, int64_t *ret_ns);
/* Go-style with h, m, s only: "72h15m3s", "2.34s", "1m30s", "0s". Fractional seconds keep up
 * to 9 digits with trailing zeros removed. Negative values get a leading '-'. */
int duration_format(int64_t ns, char *out, size_t size); /* length, or -ENOBUFS */

/* Sizes: integer bytes, or integer/decimal with K M G or Ki Mi Gi (all powers of 1024);
 * fractional bytes are rounded down. -EINVAL on syntax, -ERANGE above UINT64_MAX. */
int size_parse(const char *s, uint64_t *ret);

usec_t now_usec(clockid_t clock);
