/* Signed event envelope (control-plane-api.md §6): an exact JSON scanner over the received
 * bytes, the canonical signing input SI, verification in the order of §6.4, and signing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/time-util.h"

struct signing_keys;
struct nonce_store;

/* ---- JSON scanner ------------------------------------------------------------------------
 * Validates RFC 8259 JSON exactly (strict numbers, strings with valid escapes, paired
 * surrogate escapes, well-formed UTF-8, no control characters) without recursion, nesting at
 * most JSON_SCAN_MAX_DEPTH containers deep, never reading past len. */

#define JSON_SCAN_MAX_DEPTH 64

enum json_scan_type {
	JSON_SCAN_NULL,
	JSON_SCAN_FALSE,
	JSON_SCAN_TRUE,
	JSON_SCAN_NUMBER,
	JSON_SCAN_STRING,
	JSON_SCAN_ARRAY,
	JSON_SCAN_OBJECT,
};

struct json_member {
	const char *name; /* unescaped and NUL-terminated (may contain NUL: use name_len) */
	size_t name_len;
	const char *value; /* first byte of the value inside the scanned buffer */
	size_t value_len;  /* through its last byte (a string includes both quotes) */
	enum json_scan_type type;
};

struct json_scan {
	struct json_member *members; /* in document order */
	size_t n_members;
	char *arena; /* storage of the unescaped names */
};

/* data must be exactly one JSON value with optional surrounding whitespace.
 * 0, or -EINVAL (malformed, too deep). */
int json_validate(const char *data, size_t len);
/* data must be exactly one JSON object with optional surrounding whitespace. Fills *ret with its
 * members; on failure *ret is left empty. -EINVAL malformed or too deep, -ENOTUNIQ when a member
 * name occurs twice (compared after unescaping), -ENOMEM. Free with json_scan_done(). */
int json_scan_object_members(const char *data, size_t len, struct json_scan *ret);
void json_scan_done(struct json_scan *s);
/* Finds a member by (unescaped) name; NULL if absent. */
const struct json_member *json_scan_find(const struct json_scan *s, const char *name);
/* s/len: a string token including its quotes. Writes at most size-1 unescaped bytes plus a NUL
 * into out (out may be NULL when size is 0) and the full unescaped length into *ret_len, so
 * that a too-small buffer is detectable. -EINVAL on any malformed escape or byte. */
int json_string_unescape(const char *s, size_t len, char *out, size_t size, size_t *ret_len);

/* ---- Envelope ---------------------------------------------------------------------------- */

#define ENVELOPE_EVENT_TYPE_MAX 64
#define ENVELOPE_ID_MAX		128
#define ENVELOPE_NONCE_MAX	128
#define ENVELOPE_SKEW_SEC	300
/* The signature member is b64 of 64 bytes: 88 characters. */
#define ENVELOPE_SIGNATURE_B64_LEN 88

enum envelope_reject {
	ENVELOPE_REJECT_MALFORMED,
	ENVELOPE_REJECT_MISSING_FIELD,
	ENVELOPE_REJECT_NOT_HEADER_SAFE,
	ENVELOPE_REJECT_BAD_ID,
	ENVELOPE_REJECT_STALE,
	ENVELOPE_REJECT_FUTURE,
	ENVELOPE_REJECT_BAD_SIGNATURE_ENCODING,
	ENVELOPE_REJECT_BAD_SIGNATURE,
	ENVELOPE_REJECT_REPLAY,
	ENVELOPE_REJECT_NONCE_STORE_FULL,
	_ENVELOPE_REJECT_MAX,
};

/* "malformed", "missing_field", … ; NULL for values out of range. */
const char *envelope_reject_to_string(enum envelope_reject r);

struct envelope {
	char event_type[ENVELOPE_EVENT_TYPE_MAX + 1];
	char event_id[ENVELOPE_ID_MAX + 1];
	char nonce[ENVELOPE_NONCE_MAX + 1];
	struct timestamp issued_at; /* UTC */
	/* The payload value's raw bytes inside the verified input buffer (valid as long as it
	 * is); NULL/0 when the member is absent. */
	const char *payload;
	size_t payload_len;
	/* Verified with the previous key during its transition; the dispatcher must not accept
	 * signing_key_rotated signed that way (agent.md §5.9). */
	bool by_previous_key;
};


/* Verifies data exactly as §6.4 steps 1–9 (and records the nonce on success). 0 with *ret
 * filled; -EBADMSG with *ret_reason set when the envelope is rejected, and then only
 * ret->event_type/event_id are written: the validated values when the rejection came after
 * step 3, else empty strings (for the log line); -ENOMEM. */
int envelope_verify(const char *data, size_t len, const struct signing_keys *keys,
		    struct nonce_store *ns, struct timestamp now, struct envelope *ret,
		    enum envelope_reject *ret_reason);

/* PAYLOAD(p) of §6.3. p == NULL means "absent" and yields "null". p must be one complete JSON
 * value (surrounding whitespace allowed) else -EINVAL. *ret is malloc'd and NUL-terminated;
 * *ret_len excludes the NUL. */
int envelope_canonical_payload(const char *p, size_t len, char **ret, size_t *ret_len);

/* SI of §6.3. event_type, event_id, nonce must be header-safe (-EINVAL otherwise); issued_at
 * is any valid TIME input and is canonicalised here; payload as for
 * envelope_canonical_payload(). *ret malloc'd, NUL-terminated, *ret_len excludes the NUL. */
int envelope_signing_input(const char *event_type, const char *event_id, const char *nonce,
			   const char *issued_at, const char *payload, size_t payload_len,
			   char **ret, size_t *ret_len);

/* §6.5: builds SI, signs it with seed and returns the complete envelope text (SI with
 * ,"signature":"<b64>" before the final }). For plexcp and tests. */
int envelope_sign(const char *event_type, const char *event_id, const char *nonce,
		  const char *issued_at, const char *payload, size_t payload_len,
		  const uint8_t seed[32], char **ret, size_t *ret_len);
