/* Pure parts of the HTTP server (no I/O): percent decoding, route matching, body accumulation
 * with a bound, Content-Encoding / Accept-Encoding handling and bounded gzip coding. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "httpd/httpd.h"

#define HTTPD_MAX_PARAMS 8

/* Decodes %XX escapes (upper or lower hex); with plus_space '+' becomes ' '. -EINVAL on a
 * malformed escape or a decoded NUL. *ret is malloc'd and NUL-terminated. */
int httpd_percent_decode(const char *s, size_t len, bool plus_space, char **ret);

struct httpd_match {
	const struct httpd_route *route;
	size_t n_params;
	struct {
		const char *name; /* points into the pattern, not NUL-terminated */
		size_t name_len;
		char *value; /* decoded, malloc'd */
	} params[HTTPD_MAX_PARAMS];
	char allow[64]; /* on -EOPNOTSUPP: "GET, HEAD, POST" for the Allow header */
};

/* Finds the route for method+path (path raw, without query). 0 with *m filled (free with
 * httpd_match_done); -ENOENT no route has this path (404); -EOPNOTSUPP some route has the path
 * but not the method (405, m->allow set); -EINVAL a parameter does not decode (400). */
int httpd_router_find(const struct httpd_route *routes, size_t n, const char *method,
		      const char *path, struct httpd_match *m);
void httpd_match_done(struct httpd_match *m);
const char *httpd_match_param(const struct httpd_match *m, const char *name);

/* Growing body buffer that refuses to pass max bytes. */
struct httpd_body {
	char *data; /* NUL-terminated when non-NULL */
	size_t len, allocated;
};
/* -EFBIG when len + n > max (the buffer is left as it was), -ENOMEM. */
int httpd_body_append(struct httpd_body *b, const void *p, size_t n, size_t max);
void httpd_body_done(struct httpd_body *b);

enum httpd_encoding {
	HTTPD_ENCODING_IDENTITY,
	HTTPD_ENCODING_GZIP,
};
/* Content-Encoding of a request: NULL/""/"identity" → identity, "gzip"/"x-gzip" (any case) →
 * gzip, anything else (including lists) → -EOPNOTSUPP (415). */
int httpd_content_encoding_parse(const char *value, enum httpd_encoding *ret);
/* True when an Accept-Encoding value allows gzip (token gzip or *, q not 0). */
bool httpd_accepts_gzip(const char *accept_encoding);

/* gzip/zlib-wrapped inflate of in; -EFBIG when the output would exceed max, -EBADMSG when the
 * input is not a complete gzip stream. *ret NUL-terminated. */
int httpd_gunzip(const void *in, size_t len, size_t max, char **ret, size_t *ret_len);
/* gzip encode. */
int httpd_gzip(const void *in, size_t len, char **ret, size_t *ret_len);
