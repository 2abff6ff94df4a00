/* Typed extraction from jansson objects. Errors name the offending member so that a rejected
 * event or response can be logged precisely ("peers[3].public_key: ..."). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "shared/encoding.h"
#include "shared/json-util.h"
#include "shared/macro.h"
#include "shared/wire.h"

void json_error_set(struct json_error *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof e->text, fmt, ap);
	va_end(ap);
}

void json_error_prefix(struct json_error *e, const char *field, long index)
{
	char buf[sizeof e->text];
	const char *sep;
	int n;

	if (!e)
		return;
	/* "[2]: x" needs no dot in "a[2]: x"; "b: x" becomes "a.b: x". */
	sep = e->text[0] == '[' || e->text[0] == '\0' ? "" : ".";
	/* Truncation is acceptable for a diagnostic; the result is always NUL-terminated. */
	if (index >= 0)
		n = snprintf(buf, sizeof buf, "%s[%ld]%s%s", strempty(field), index, sep, e->text);
	else
		n = snprintf(buf, sizeof buf, "%s%s%s", strempty(field), sep, e->text);
	if (n < 0)
		return;
	memcpy(e->text, buf, sizeof buf);
}

/* Looks up key; 0 with *ret set when present and not null, -ENOENT when absent/null and
 * optional, -EINVAL (e filled) when required or obj is not an object. */
static int lookup(json_t *obj, const char *key, bool required, json_t **ret, struct json_error *e)
{
	json_t *v;

	if (!json_is_object(obj)) {
		json_error_set(e, "%s: parent is not an object", key);
		return -EINVAL;
	}
	v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		if (!required)
			return -ENOENT;
		json_error_set(e, "%s: is required", key);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

#define TYPE_BIT(t) (1u << (t))

/* lookup() plus a type check: types is a mask of TYPE_BIT(JSON_x); expected completes
 * "<key>: expected ..." so every getter reports a wrong type the same way. */
static int lookup_typed(json_t *obj, const char *key, bool required, unsigned types,
			const char *expected, json_t **ret, struct json_error *e)
{
	json_t *v;
	int r;

	r = lookup(obj, key, required, &v, e);
	if (r < 0)
		return r;
	if (!(TYPE_BIT(json_typeof(v)) & types)) {
		json_error_set(e, "%s: expected %s", key, expected);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int get_string(json_t *obj, const char *key, bool required, const char **ret,
		      struct json_error *e)
{
	json_t *v;
	int r;

	r = lookup_typed(obj, key, required, TYPE_BIT(JSON_STRING), "string", &v, e);
	if (r < 0)
		return r;
	/* A "\u0000" would silently truncate the C string; refuse it. */
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		json_error_set(e, "%s: contains a NUL character", key);
		return -EINVAL;
	}
	*ret = json_string_value(v);
	return 0;
}

int json_get_string(json_t *obj, const char *key, bool required, const char **ret,
		    struct json_error *e)
{
	return get_string(obj, key, required, ret, e);
}

int json_get_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max, int64_t *ret,
		 struct json_error *e)
{
	json_int_t i;
	json_t *v;
	int r;

	/* jansson keeps 8443.0 and 1E3 as reals: integers have no fraction or exponent (§1.1). */
	r = lookup_typed(obj, key, required, TYPE_BIT(JSON_INTEGER), "integer", &v, e);
	if (r < 0)
		return r;
	i = json_integer_value(v);
	if (i < min || i > max) {
		json_error_set(e, "%s: must be between %" PRId64 " and %" PRId64 ", got %lld", key, min,
			       max, (long long)i);
		return -EINVAL;
	}
	*ret = (int64_t)i;
	return 0;
}

int json_get_bool(json_t *obj, const char *key, bool *ret, struct json_error *e)
{
	json_t *v;
	int r;

	r = lookup_typed(obj, key, false, TYPE_BIT(JSON_TRUE) | TYPE_BIT(JSON_FALSE),
			 "true or false", &v, e);
	if (r == -ENOENT) {
		*ret = false;
		return 0;
	}
	if (r < 0)
		return r;
	*ret = json_is_true(v);
	return 0;
}

int json_get_id(json_t *obj, const char *key, bool required, const char **ret, struct json_error *e)
{
	const char *s;
	int r;

	r = get_string(obj, key, required, &s, e);
	if (r < 0)
		return r;
	if (!id_is_valid(s)) {
		json_error_set(e, "%s: must be 1-128 characters of A-Z a-z 0-9 - . _ ~", key);
		return -EINVAL;
	}
	*ret = s;
	return 0;
}

int json_get_key32(json_t *obj, const char *key, bool required, uint8_t out[32], struct json_error *e)
{
	const char *s;
	int r;

	r = get_string(obj, key, required, &s, e);
	if (r < 0)
		return r;
	if (key32_parse(s, out) < 0) {
		json_error_set(e, "%s: must be base64 of 32 bytes", key);
		return -EINVAL;
	}
	return 0;
}

int json_get_timestamp(json_t *obj, const char *key, bool required, struct timestamp *ret,
		       struct json_error *e)
{
	const char *s;
	int r;

	r = get_string(obj, key, required, &s, e);
	if (r < 0)
		return r;
	if (rfc3339_parse(s, strlen(s), ret) < 0) {
		json_error_set(e, "%s: must be an RFC 3339 timestamp", key);
		return -EINVAL;
	}
	return 0;
}

int json_get_array(json_t *obj, const char *key, json_t **ret, struct json_error *e)
{
	json_t *v;
	int r;

	r = lookup_typed(obj, key, false, TYPE_BIT(JSON_ARRAY), "array", &v, e);
	if (r == -ENOENT) {
		*ret = NULL; /* omitted, null and [] are the same (§1.1) */
		return 0;
	}
	if (r < 0)
		return r;
	*ret = v;
	return 0;
}

int json_get_object(json_t *obj, const char *key, bool required, json_t **ret, struct json_error *e)
{
	return lookup_typed(obj, key, required, TYPE_BIT(JSON_OBJECT), "object", ret, e);
}

char *json_dumps_compact(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Nesting depth of buf, stopping as soon as max is exceeded; strings are skipped so that
 * brackets inside them do not count. Reports where the limit was crossed. */
static bool depth_exceeds(const char *buf, size_t len, unsigned max, int *ret_line, int *ret_col)
{
	unsigned depth = 0;
	bool in_string = false;
	int line = 1, col = 0;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		col++;
		if (in_string) {
			if (c == '\\')
				i++, col++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '\n') {
			line++;
			col = 0;
		} else if (c == '"')
			in_string = true;
		else if (c == '[' || c == '{') {
			if (++depth > max) {
				*ret_line = line;
				*ret_col = col;
				return true;
			}
		} else if ((c == ']' || c == '}') && depth > 0)
			depth--;
	}
	return false;
}

int json_parse_bounded_size(const char *buf, size_t len, size_t max_size, json_t **ret,
			    struct json_error *e)
{
	json_error_t err;
	json_t *j;
	int line, col;

	if (!buf) {
		json_error_set(e, "no input");
		return -EINVAL;
	}
	if (len > max_size) {
		json_error_set(e, "document too large: %zu bytes, limit %zu", len, max_size);
		return -E2BIG;
	}
	/* Checked before jansson sees the text: its recursive descent must never go deep. */
	if (depth_exceeds(buf, len, JSON_PARSE_MAX_DEPTH, &line, &col)) {
		json_error_set(e, "line %d column %d: nesting deeper than %d", line, col,
			       JSON_PARSE_MAX_DEPTH);
		return -EINVAL;
	}
	/* Flags 0: top level must be an object or array, trailing data is an error, duplicate
	 * members are left to the caller (jansson keeps the last). */
	j = json_loadb(buf, len, 0, &err);
	if (!j) {
		json_error_set(e, "line %d column %d: %s", err.line, err.column, err.text);
		return -EINVAL;
	}
	*ret = j;
	return 0;
}

int json_parse_bounded(const char *buf, size_t len, json_t **ret, struct json_error *e)
{
	return json_parse_bounded_size(buf, len, JSON_PARSE_MAX_SIZE, ret, e);
}
