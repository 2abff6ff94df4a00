/* Session JWTs (control-plane-api.md §10): EdDSA compact JWS verified offline with the
 * signing key set, claims checks with 60 s leeway, and action pattern matching. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/time-util.h"

struct signing_keys;

#define JWT_MAX_LEN	     16384
#define JWT_LEEWAY_SEC	     60
#define JWT_MAX_LIFETIME_SEC 86400

enum jwt_reject {
	JWT_REJECT_MALFORMED, /* not three base64url segments of JSON objects, bad claim types */
	JWT_REJECT_BAD_ALG,   /* header alg is not EdDSA */
	JWT_REJECT_BAD_SIGNATURE, /* not 64 bytes, or no usable key verifies it */
	JWT_REJECT_BAD_ISSUER,	  /* iss != plexsphere */
	JWT_REJECT_WRONG_NODE,	  /* node_id is not the local node */
	JWT_REJECT_NOT_YET_VALID, /* iat > now + 60 */
	JWT_REJECT_EXPIRED,	  /* now >= exp + 60 */
	JWT_REJECT_LIFETIME,	  /* exp - iat > 86400 */
	JWT_REJECT_REVOKED,	  /* session_id is revoked */
	_JWT_REJECT_MAX,
};

const char *jwt_reject_to_string(enum jwt_reject r);

/* The validated claims; all strings malloc'd. */
struct jwt_session {
	char *sub;
	char *email; /* NULL when absent */
	char *node_id;
	char *session_id;
	char **actions;
	size_t n_actions;
	int64_t iat;
	int64_t exp;
};

struct jwt_session *jwt_session_free(struct jwt_session *s);
static inline void jwt_session_freep(struct jwt_session **s)
{
	jwt_session_free(*s);
}

/* Returns true when session_id is revoked. */
typedef bool (*jwt_revoked_fn)(const char *session_id, void *userdata);

/* Verifies token (len bytes) per §10 for local_node_id at now (seconds are used). is_revoked may
 * be NULL (nothing revoked). 0 with *ret set; -EBADMSG with *ret_reason set on rejection
 * (*ret_reason may be NULL); -ENOMEM. */
int jwt_verify(const char *token, size_t len, const struct signing_keys *keys,
	       const char *local_node_id, struct timestamp now, jwt_revoked_fn is_revoked,
	       void *userdata, struct jwt_session **ret, enum jwt_reject *ret_reason);

/* §10 pattern match: "*"; "hooks/" + "*" (every name starting with hooks/); "<prefix>.*"
 * (built-ins, names not starting with hooks/, that start with "<prefix>."), otherwise exact. */
bool jwt_action_pattern_match(const char *pattern, const char *action);
/* True when any of the session's patterns matches action (hooks named "hooks/<name>"). */
bool jwt_session_allows(const struct jwt_session *s, const char *action);
/* Convenience for a hook given by its bare name. */
bool jwt_session_allows_hook(const struct jwt_session *s, const char *hook_name);

/* Signs claims (the exact JSON bytes) with the header {"alg":"EdDSA","typ":"JWT"}; *ret is
 * the malloc'd compact token. For plexcp and tests. */
int jwt_sign(const char *claims, size_t len, const uint8_t seed[32], char **ret);
/* Serialises s as claims in the member order of the §10 vector (iss, sub, email?, node_id,
 * session_id, actions, iat, exp), compact, and signs them. */
int jwt_sign_session(const struct jwt_session *s, const uint8_t seed[32], char **ret);
