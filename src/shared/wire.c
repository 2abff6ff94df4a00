/* Scalar formats of the wire contract (control-plane-api.md §1.2): ids, header-safe strings,
 * IPv4 prefixes, endpoints, host:port and sha256hex. Pure validation, no name resolution. */
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>

#include "shared/encoding.h"
#include "shared/macro.h"
#include "shared/wire.h"

bool id_is_valid(const char *s)
{
	return s && id_is_valid_n(s, strlen(s));
}

bool id_is_valid_n(const char *s, size_t n)
{
	if (!s || n < 1 || n > 128 || (n == 1 && s[0] == '.') ||
	    (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_' || c == '~'))
			return false;
	}
	return true;
}

bool header_safe(const char *s, size_t len)
{
	if (!s)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&')
			return false;
	}
	return true;
}

/* Decimal without sign or leading zeros, value <= max. */
static int parse_decimal(const char *s, size_t len, unsigned long max, unsigned long *ret)
{
	unsigned long v = 0;

	if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int ipv4_addr_parse(const char *s, struct in_addr *ret)
{
	struct in_addr a;

	/* glibc's inet_pton takes exactly four decimal parts and rejects leading zeros, unlike
	 * inet_aton, which would read "010" as octal and "1.2" as 1.0.0.2. */
	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ret = a;
	return 0;
}

int ipv4_prefix_parse(const char *s, bool allow_bare, struct ipv4_prefix *ret)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash;
	unsigned long len = 32;
	struct in_addr a;
	size_t n;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash) {
		if (!allow_bare)
			return -EINVAL;
		n = strlen(s);
	} else {
		n = (size_t)(slash - s);
		if (parse_decimal(slash + 1, strlen(slash + 1), 32, &len) < 0)
			return -EINVAL;
	}
	if (n >= sizeof addr)
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (ipv4_addr_parse(addr, &a) < 0)
		return -EINVAL;
	*ret = (struct ipv4_prefix){ .addr = a, .len = (uint8_t)len };
	return 0;
}

static uint32_t prefix_mask(unsigned len)
{
	return len == 0 ? 0 : UINT32_MAX << (32 - len);
}

bool ipv4_prefix_contains(const struct ipv4_prefix *p, struct in_addr a)
{
	uint32_t m = prefix_mask(p->len);
	return (ntohl(p->addr.s_addr) & m) == (ntohl(a.s_addr) & m);
}

bool ipv4_prefix_overlaps(const struct ipv4_prefix *a, const struct ipv4_prefix *b)
{
	/* Two prefixes overlap iff they agree on the shorter one's bits. */
	uint32_t m = prefix_mask(MIN(a->len, b->len));
	return (ntohl(a->addr.s_addr) & m) == (ntohl(b->addr.s_addr) & m);
}

/* Splits "host:port" / "[v6]:port" into a NUL-terminated host copy (brackets removed) and the
 * port. *ret_bracketed tells whether the host was in brackets. */
static int split_hostport(const char *s, char *host, size_t host_size, bool *ret_bracketed,
			  uint16_t *ret_port)
{
	const char *colon, *hs, *he;
	unsigned long port;
	bool bracketed = false;

	if (isempty(s))
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		hs = s + 1;
		he = close;
		colon = close + 1;
		bracketed = true;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL; /* no port, or an unbracketed IPv6 literal */
		hs = s;
		he = colon;
	}
	if (he == hs || (size_t)(he - hs) >= host_size)
		return -EINVAL;
	if (parse_decimal(colon + 1, strlen(colon + 1), 65535, &port) < 0 || port == 0)
		return -EINVAL;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	*ret_bracketed = bracketed;
	*ret_port = (uint16_t)port;
	return 0;
}

int endpoint_parse(const char *s, struct sockaddr_storage *ret)
{
	char host[INET6_ADDRSTRLEN];
	struct sockaddr_storage ss = {};
	bool bracketed;
	uint16_t port;

	if (split_hostport(s, host, sizeof host, &bracketed, &port) < 0)
		return -EINVAL;
	if (bracketed) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
	}
	*ret = ss;
	return 0;
}

int endpoint_format(const struct sockaddr_storage *sa, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	int n;

	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		if (!inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host))
			return negative_errno();
		n = snprintf(out, size, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		if (!inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host))
			return negative_errno();
		n = snprintf(out, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else
		return -EAFNOSUPPORT;
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return n;
}

/* RFC 1123 host name: dot-separated labels of letters, digits and '-', 1-63 chars each, not
 * starting or ending with '-', at most 253 chars. An all-numeric last label is refused so
 * that a malformed IPv4 literal ("1.2.3.256") is not taken for a name. */
static bool hostname_is_valid(const char *s)
{
	size_t n = strlen(s), label = 0;
	bool last_numeric = true;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			if (c == '\0')
				break;
			label = 0;
			last_numeric = true;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (!(c >= '0' && c <= '9'))
			last_numeric = false;
		if (++label > 63)
			return false;
	}
	return !last_numeric;
}

int hostport_parse(const char *s, char **ret_host, uint16_t *ret_port)
{
	char host[256];
	bool bracketed;
	uint16_t port;
	char *dup;

	if (split_hostport(s, host, sizeof host, &bracketed, &port) < 0)
		return -EINVAL;
	if (bracketed) {
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return -EINVAL;
	} else {
		struct in_addr a4;
		if (inet_pton(AF_INET, host, &a4) != 1 && !hostname_is_valid(host))
			return -EINVAL;
	}
	dup = strdup(host);
	if (!dup)
		return -ENOMEM;
	*ret_host = dup;
	*ret_port = port;
	return 0;
}

int sha256hex_parse(const char *s, uint8_t out[32])
{
	if (!s)
		return -EINVAL;
	if (strneq(s, "sha256:", STRLEN("sha256:")))
		s += STRLEN("sha256:");
	return hex_decode_exact(s, strlen(s), out, 32);
}
