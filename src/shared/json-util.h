/* Typed extraction from jansson objects with errors that name the offending field. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "shared/time-util.h"

/* Filled on failure: "peers[3].public_key: must be base64 of 32 bytes". */
struct json_error {
	char text[256];
};

void json_error_set(struct json_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the existing text with "prefix." or "prefix[i]." */
void json_error_prefix(struct json_error *e, const char *field, long index);

/* Each returns 0 on success, -ENOENT when absent/null and !required (output untouched),
 * -EINVAL with e filled otherwise. Returned strings point into the json object. */
int json_get_string(json_t *obj, const char *key, bool required, const char **ret, struct json_error *e);
int json_get_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max, int64_t *ret,
		 struct json_error *e);
int json_get_bool(json_t *obj, const char *key, bool *ret, struct json_error *e); /* absent = false */
/* §1.2 id format. */
int json_get_id(json_t *obj, const char *key, bool required, const char **ret, struct json_error *e);
int json_get_key32(json_t *obj, const char *key, bool required, uint8_t out[32], struct json_error *e);
int json_get_timestamp(json_t *obj, const char *key, bool required, struct timestamp *ret,
		       struct json_error *e);
/* Arrays: absent and null read as an empty array (§1.1); returns the array or NULL with e set
 * when the member has another type. *ret may be NULL for "empty". */
int json_get_array(json_t *obj, const char *key, json_t **ret, struct json_error *e);
int json_get_object(json_t *obj, const char *key, bool required, json_t **ret, struct json_error *e);

/* Compact serialisation (no spaces), malloc'd. NULL on failure. */
char *json_dumps_compact(const json_t *j);
/* Limits of json_parse_bounded(): input size in bytes and nesting depth of arrays/objects. */
#define JSON_PARSE_MAX_SIZE ((size_t)16 * 1024 * 1024)
#define JSON_PARSE_MAX_DEPTH 64

/* Parses with a depth and size bound; the top level must be an object or array, trailing
 * data is rejected, duplicate members are not (the caller decides). -EINVAL with e filled
 * ("line L column C: ...") on syntax errors and excessive depth, -E2BIG when len > limit. */
int json_parse_bounded(const char *buf, size_t len, json_t **ret, struct json_error *e);
/* Same with a caller-chosen size limit (bodies with a smaller bound of their own). */
int json_parse_bounded_size(const char *buf, size_t len, size_t max_size, json_t **ret,
			    struct json_error *e);

/* json_decrefp() comes from jansson >= 2.11 itself (GCC/clang builds); defining it here
 * again is a redefinition error. */
#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))
