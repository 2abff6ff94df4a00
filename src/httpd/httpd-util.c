/* Pure helpers of the HTTP server: percent decoding, routing, bounded bodies and gzip. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "httpd/httpd-util.h"
#include "shared/encoding.h"

int httpd_percent_decode(const char *s, size_t len, bool plus_space, char **ret)
{
	_cleanup_free_ char *out = malloc(len + 1);
	size_t j = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= len)
				return -EINVAL;
			hi = hex_digit_value(s[i + 1]);
			lo = hex_digit_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_space)
			c = ' ';
		if (c == '\0')
			return -EINVAL;
		out[j++] = c;
	}
	out[j] = '\0';
	*ret = TAKE_PTR(out);
	return 0;
}

void httpd_match_done(struct httpd_match *m)
{
	for (size_t i = 0; i < m->n_params; i++)
		m->params[i].value = mfree(m->params[i].value);
	m->n_params = 0;
	m->route = NULL;
}

const char *httpd_match_param(const struct httpd_match *m, const char *name)
{
	size_t l = strlen(name);
	for (size_t i = 0; i < m->n_params; i++)
		if (m->params[i].name_len == l && strneq(m->params[i].name, name, l))
			return m->params[i].value;
	return NULL;
}

/* Length of the '/'-separated segment starting at s. */
static size_t segment_len(const char *s)
{
	const char *e = strchr(s, '/');
	return e ? (size_t)(e - s) : strlen(s);
}

/* Matches one pattern against path; on success fills m's params (decoded). Returns 1 match,
 * 0 no match, -EINVAL undecodable param, -ENOMEM. */
static int route_match(const char *pattern, const char *path, struct httpd_match *m)
{
	const char *p = pattern, *q = path;
	int r;

	m->n_params = 0;
	if (*p != '/' || *q != '/')
		return 0;
	while (*p == '/' && *q == '/') {
		size_t pl, ql;
		p++;
		q++;
		pl = segment_len(p);
		ql = segment_len(q);
		if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
			bool rest = pl >= 3 && p[pl - 2] == '*';
			size_t nl = pl - 2 - (rest ? 1 : 0);
			if (rest)
				ql = strlen(q);
			if (ql == 0 || m->n_params >= HTTPD_MAX_PARAMS)
				goto nomatch;
			m->params[m->n_params].name = p + 1;
			m->params[m->n_params].name_len = nl;
			r = httpd_percent_decode(q, ql, false, &m->params[m->n_params].value);
			if (r < 0) {
				httpd_match_done(m);
				return r;
			}
			m->n_params++;
		} else if (pl != ql || !strneq(p, q, pl))
			goto nomatch;
		p += pl;
		q += ql;
	}
	if (*p == '\0' && *q == '\0')
		return 1;
nomatch:
	httpd_match_done(m);
	return 0;
}

static bool method_matches(const char *route_method, const char *method)
{
	return streq(route_method, method) || (streq(method, "HEAD") && streq(route_method, "GET"));
}

int httpd_router_find(const struct httpd_route *routes, size_t n, const char *method,
		      const char *path, struct httpd_match *m)
{
	bool path_seen = false;
	int r;

	memset(m, 0, sizeof *m);
	for (size_t i = 0; i < n; i++) {
		r = route_match(routes[i].pattern, path, m);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		if (method_matches(routes[i].method, method)) {
			m->route = &routes[i];
			return 0;
		}
		httpd_match_done(m);
		/* Collect the Allow list over all routes with this path. */
		if (!strstr(m->allow, routes[i].method)) {
			size_t l = strlen(m->allow);
			snprintf(m->allow + l, sizeof m->allow - l, "%s%s%s", l ? ", " : "",
				 routes[i].method, streq(routes[i].method, "GET") ? ", HEAD" : "");
		}
		path_seen = true;
	}
	return path_seen ? -EOPNOTSUPP : -ENOENT;
}

int httpd_body_append(struct httpd_body *b, const void *p, size_t n, size_t max)
{
	if (n > max || b->len > max - n)
		return -EFBIG;
	if (b->len + n + 1 > b->allocated) {
		size_t a = MAX(b->allocated * 2, b->len + n + 1);
		a = MIN(a, max + 1);
		char *d = realloc(b->data, MAX(a, b->len + n + 1));
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->allocated = MAX(a, b->len + n + 1);
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void httpd_body_done(struct httpd_body *b)
{
	b->data = mfree(b->data);
	b->len = b->allocated = 0;
}

int httpd_content_encoding_parse(const char *value, enum httpd_encoding *ret)
{
	if (isempty(value) || strcasecmp(value, "identity") == 0)
		*ret = HTTPD_ENCODING_IDENTITY;
	else if (strcasecmp(value, "gzip") == 0 || strcasecmp(value, "x-gzip") == 0)
		*ret = HTTPD_ENCODING_GZIP;
	else
		return -EOPNOTSUPP;
	return 0;
}

bool httpd_accepts_gzip(const char *ae)
{
	const char *p = ae;

	if (!ae)
		return false;
	while (*p) {
		const char *tok, *end;
		size_t tl;
		double q = 1.0;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		tok = p;
		while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		tl = (size_t)(p - tok);
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		/* Parameters: only q matters. */
		for (const char *s = p; s < end; s++)
			if (*s == ';') {
				const char *v = s + 1;
				while (*v == ' ' || *v == '\t')
					v++;
				if ((*v == 'q' || *v == 'Q') && v[1] == '=')
					q = strtod(v + 2, NULL);
			}
		if (tl > 0 &&
		    ((tl == 4 && strncasecmp(tok, "gzip", 4) == 0) || (tl == 1 && *tok == '*')))
			return q > 0.0;
		p = end;
	}
	return false;
}

int httpd_gunzip(const void *in, size_t len, size_t max, char **ret, size_t *ret_len)
{
	struct httpd_body out = {};
	z_stream z = {};
	char buf[16384];
	int r, zr;

	/* 15 + 32: accept gzip and zlib headers. */
	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	if ((size_t)z.avail_in != len) {
		r = -EFBIG;
		goto out;
	}
	do {
		z.next_out = (Bytef *)buf;
		z.avail_out = sizeof buf;
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END) {
			r = zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
			goto out;
		}
		r = httpd_body_append(&out, buf, sizeof buf - z.avail_out, max);
		if (r < 0)
			goto out;
		if (zr == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
			/* Input ended before the gzip trailer. */
			r = -EBADMSG;
			goto out;
		}
	} while (zr != Z_STREAM_END);
	/* Trailing garbage after the stream is not a valid body either. */
	if (z.avail_in != 0) {
		r = -EBADMSG;
		goto out;
	}
	if (!out.data) {
		r = httpd_body_append(&out, "", 0, max);
		if (r < 0)
			goto out;
	}
	*ret_len = out.len;
	*ret = TAKE_PTR(out.data);
	r = 0;
out:
	inflateEnd(&z);
	httpd_body_done(&out);
	return r;
}

int httpd_gzip(const void *in, size_t len, char **ret, size_t *ret_len)
{
	z_stream z = {};
	uLong bound;
	_cleanup_free_ char *out = NULL;
	int r;

	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, (uLong)len) + 32;
	out = malloc(bound);
	if (!out) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)bound;
	r = deflate(&z, Z_FINISH);
	if (r != Z_STREAM_END) {
		deflateEnd(&z);
		return -EIO;
	}
	*ret_len = z.total_out;
	deflateEnd(&z);
	*ret = TAKE_PTR(out);
	return 0;
}
