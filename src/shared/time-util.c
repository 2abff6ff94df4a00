/* Time parsing and formatting: RFC 3339 timestamps and their §6.3 canonical form, Go
 * durations, the config duration and size grammars. Pure functions apart from the clocks. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shared/macro.h"
#include "shared/time-util.h"

__extension__ typedef unsigned __int128 u128;

/* Seconds from 0001-01-01T00:00:00Z to the Unix epoch. */
#define UNSET_SEC INT64_C(-62135596800)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *ret_y, int *ret_m, int *ret_d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*ret_y = yoe + era * 400 + (m <= 2);
	*ret_m = m;
	*ret_d = d;
}

struct rfc3339 {
	int year, mon, day, hour, min, sec;
	const char *frac; /* digits after '.', frac_len of them (0 when absent) */
	size_t frac_len;
	int off_sign; /* 0 for 'Z', else +1 / -1 */
	int off_hour, off_min;
	const char *zone; /* points at 'Z' or the sign */
};

static int num(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* YYYY-MM-DDTHH:MM:SS[.D+](Z|+HH:MM|-HH:MM), the whole of s[0..len), nothing else. */
static int rfc3339_split(const char *s, size_t len, struct rfc3339 *t)
{
	size_t p;

	if (!s || len < 20)
		return -EINVAL;
	if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return -EINVAL;
	t->year = num(s, 4);
	t->mon = num(s + 5, 2);
	t->day = num(s + 8, 2);
	t->hour = num(s + 11, 2);
	t->min = num(s + 14, 2);
	t->sec = num(s + 17, 2);
	if (t->year < 0 || t->mon < 1 || t->mon > 12 || t->day < 1 ||
	    t->day > days_in_month(t->year, t->mon) || t->hour < 0 || t->hour > 23 || t->min < 0 ||
	    t->min > 59 || t->sec < 0 || t->sec > 59)
		return -EINVAL;

	p = 19;
	t->frac = NULL;
	t->frac_len = 0;
	if (s[p] == '.') {
		p++;
		t->frac = s + p;
		while (p < len && is_digit(s[p]))
			p++;
		t->frac_len = (size_t)(s + p - t->frac);
		if (t->frac_len == 0)
			return -EINVAL;
	}
	if (p >= len)
		return -EINVAL;
	t->zone = s + p;
	if (s[p] == 'Z') {
		if (p + 1 != len)
			return -EINVAL;
		t->off_sign = 0;
		t->off_hour = t->off_min = 0;
		return 0;
	}
	if ((s[p] != '+' && s[p] != '-') || len - p != 6 || s[p + 3] != ':')
		return -EINVAL;
	t->off_sign = s[p] == '+' ? 1 : -1;
	t->off_hour = num(s + p + 1, 2);
	t->off_min = num(s + p + 4, 2);
	if (t->off_hour < 0 || t->off_hour > 23 || t->off_min < 0 || t->off_min > 59)
		return -EINVAL;
	return 0;
}

int rfc3339_parse(const char *s, size_t len, struct timestamp *ret)
{
	struct rfc3339 t;
	uint32_t nsec = 0;
	int64_t sec;
	int r;

	r = rfc3339_split(s, len, &t);
	if (r < 0)
		return r;
	for (size_t i = 0; i < 9; i++)
		nsec = nsec * 10 + (uint32_t)(i < t.frac_len ? t.frac[i] - '0' : 0);
	sec = days_from_civil(t.year, t.mon, t.day) * 86400 + t.hour * 3600 + t.min * 60 + t.sec;
	sec -= (int64_t)t.off_sign * (t.off_hour * 3600 + t.off_min * 60);
	*ret = (struct timestamp){ .sec = sec, .nsec = nsec };
	return 0;
}

int rfc3339_canonicalize(const char *s, size_t len, char *out, size_t size)
{
	char buf[RFC3339_MAX];
	struct rfc3339 t;
	size_t n, k;
	int r;

	r = rfc3339_split(s, len, &t);
	if (r < 0)
		return r;
	memcpy(buf, s, 19);
	n = 19;
	/* Cut (not round) to 9 digits, then drop trailing zeros. */
	k = MIN(t.frac_len, (size_t)9);
	while (k > 0 && t.frac[k - 1] == '0')
		k--;
	if (k > 0) {
		buf[n++] = '.';
		memcpy(buf + n, t.frac, k);
		n += k;
	}
	if (t.off_hour == 0 && t.off_min == 0)
		buf[n++] = 'Z';
	else {
		memcpy(buf + n, t.zone, 6);
		n += 6;
	}
	if (n + 1 > size)
		return -ENOBUFS;
	memcpy(out, buf, n);
	out[n] = '\0';
	return (int)n;
}

int rfc3339_format(struct timestamp t, unsigned frac_digits, char out[RFC3339_MAX])
{
	int64_t days, secs, y;
	int m, d, n;

	if ((frac_digits != 0 && frac_digits != 3 && frac_digits != 9) || t.nsec >= NSEC_PER_SEC)
		return -EINVAL;
	days = t.sec / 86400;
	secs = t.sec % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return -ERANGE;
	n = snprintf(out, RFC3339_MAX, "%04d-%02d-%02dT%02d:%02d:%02d", (int)y, m, d,
		     (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
	if (frac_digits == 3)
		n += snprintf(out + n, RFC3339_MAX - (size_t)n, ".%03u", t.nsec / 1000000);
	else if (frac_digits == 9)
		n += snprintf(out + n, RFC3339_MAX - (size_t)n, ".%09u", t.nsec);
	out[n++] = 'Z';
	out[n] = '\0';
	return n;
}

bool timestamp_is_unset(struct timestamp t)
{
	return t.sec == UNSET_SEC && t.nsec == 0;
}

struct timestamp timestamp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (struct timestamp){ .sec = ts.tv_sec, .nsec = (uint32_t)ts.tv_nsec };
}

usec_t now_usec(clockid_t clock)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts) < 0)
		return 0;
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

/* Durations. Units in nanoseconds; the micro sign appears as U+00B5 and U+03BC as in Go. */
struct duration_unit {
	const char *name;
	uint64_t ns;
	bool config; /* allowed by the config grammar */
};

static const struct duration_unit duration_units[] = {
	{ "ns", 1, false },
	{ "us", 1000, false },
	{ "\xc2\xb5s", 1000, false },
	{ "\xce\xbcs", 1000, false },
	{ "ms", 1000000, true },
	{ "s", 1000000000ULL, true },
	{ "m", 60ULL * 1000000000ULL, true },
	{ "h", 3600ULL * 1000000000ULL, true },
};

#define DURATION_LIMIT ((uint64_t)1 << 63) /* |INT64_MIN| */

/* Go's time.ParseDuration grammar [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ and "0". The config variant
 * (agent.md §1.2) drops the sign, the units below ms, and requires digits on both sides of
 * a decimal point. Fractions are exact (128-bit) and truncated to the nanosecond. */
static int duration_parse_full(const char *s, bool config, int64_t *ret_ns)
{
	uint64_t total = 0;
	bool neg = false;

	if (!s)
		return -EINVAL;
	if (!config && (*s == '-' || *s == '+')) {
		neg = *s == '-';
		s++;
	}
	if (streq(s, "0")) {
		*ret_ns = 0;
		return 0;
	}
	if (!*s)
		return -EINVAL;

	while (*s) {
		uint64_t v = 0, f = 0, scale = 1;
		bool pre = false, post = false, overflow = false;
		const struct duration_unit *unit = NULL;
		size_t ulen = 0;

		if (!is_digit(*s) && *s != '.')
			return -EINVAL;
		for (; is_digit(*s); s++) {
			uint64_t digit = (uint64_t)(*s - '0');
			pre = true;
			if (v > (DURATION_LIMIT - digit) / 10)
				overflow = true;
			else
				v = v * 10 + digit;
		}
		if (*s == '.') {
			s++;
			for (; is_digit(*s); s++) {
				post = true;
				/* Digits beyond 10^19 cannot change a nanosecond count. */
				if (scale <= UINT64_MAX / 10 / 10) {
					f = f * 10 + (uint64_t)(*s - '0');
					scale *= 10;
				}
			}
			if (config && !post)
				return -EINVAL;
		}
		if (!pre && (config || !post))
			return -EINVAL;

		while (s[ulen] && s[ulen] != '.' && !is_digit(s[ulen]))
			ulen++;
		for (size_t i = 0; i < ELEMENTSOF(duration_units); i++)
			if (strlen(duration_units[i].name) == ulen &&
			    strneq(duration_units[i].name, s, ulen)) {
				unit = &duration_units[i];
				break;
			}
		if (!unit || (config && !unit->config))
			return -EINVAL;
		s += ulen;
		if (overflow)
			return -ERANGE;

		u128 part = (u128)v * unit->ns + (u128)f * unit->ns / scale;
		if (part > DURATION_LIMIT || total + part > DURATION_LIMIT)
			return -ERANGE;
		total += (uint64_t)part;
	}
	if (!neg && total > (uint64_t)INT64_MAX)
		return -ERANGE;
	*ret_ns = neg ? (total == DURATION_LIMIT ? INT64_MIN : -(int64_t)total) : (int64_t)total;
	return 0;
}

int duration_parse(const char *s, int64_t *ret_ns)
{
	return duration_parse_full(s, false, ret_ns);
}

int duration_parse_config(const char *s, int64_t *ret_ns)
{
	return duration_parse_full(s, true, ret_ns);
}

int duration_format(int64_t ns, char *out, size_t size)
{
	char buf[48];
	uint64_t u = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;
	uint64_t secs = u / 1000000000ULL, frac = u % 1000000000ULL;
	size_t n = 0;
	int k;

	if (ns < 0)
		buf[n++] = '-';
	/* Go's Duration.String() above one second; below it plexd keeps to seconds. */
	if (secs >= 3600)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%" PRIu64 "h%" PRIu64 "m",
				      secs / 3600, secs / 60 % 60);
	else if (secs >= 60)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%" PRIu64 "m", secs / 60);
	n += (size_t)snprintf(buf + n, sizeof buf - n, "%" PRIu64, secs % 60);
	if (frac > 0) {
		char digits[10];
		snprintf(digits, sizeof digits, "%09" PRIu64, frac);
		k = 9;
		while (digits[k - 1] == '0')
			k--;
		n += (size_t)snprintf(buf + n, sizeof buf - n, ".%.*s", k, digits);
	}
	buf[n++] = 's';
	buf[n] = '\0';
	if (n + 1 > size)
		return -ENOBUFS;
	memcpy(out, buf, n + 1);
	return (int)n;
}

int size_parse(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} suffixes[] = {
		{ "K", 1ULL << 10 }, { "M", 1ULL << 20 }, { "G", 1ULL << 30 },
		{ "Ki", 1ULL << 10 }, { "Mi", 1ULL << 20 }, { "Gi", 1ULL << 30 },
	};
	uint64_t v = 0, f = 0, scale = 1, mult = 0;
	bool overflow = false;
	const char *p = s;

	if (!s || !is_digit(*p))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		uint64_t digit = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - digit) / 10)
			overflow = true;
		else
			v = v * 10 + digit;
	}
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return -EINVAL;
		for (; is_digit(*p); p++)
			if (scale <= UINT64_MAX / 100) {
				f = f * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
	}
	if (*p) {
		for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
			if (streq(p, suffixes[i].suffix))
				mult = suffixes[i].mult;
		if (mult == 0)
			return -EINVAL;
	} else if (scale > 1)
		return -EINVAL; /* a decimal needs a unit: "1.5" bytes is meaningless */
	else
		mult = 1;
	if (overflow)
		return -ERANGE;

	/* Fractions of a unit are rounded down to whole bytes. */
	u128 total = (u128)v * mult + (u128)f * mult / scale;
	if (total > UINT64_MAX)
		return -ERANGE;
	*ret = (uint64_t)total;
	return 0;
}
