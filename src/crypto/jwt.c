/* Session JWT verification and signing (control-plane-api.md §10, agent.md §5.10). */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/jwt.h"
#include "crypto/signing-keys.h"
#include "shared/encoding.h"
#include "shared/json-util.h"
#include "shared/macro.h"
#include "shared/wire.h"

#define JWT_HEADER  "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}"
#define HOOK_PREFIX "hooks/"

static const char *const reject_table[_JWT_REJECT_MAX] = {
    [JWT_REJECT_MALFORMED] = "malformed",
    [JWT_REJECT_BAD_ALG] = "bad_alg",
    [JWT_REJECT_BAD_SIGNATURE] = "bad_signature",
    [JWT_REJECT_BAD_ISSUER] = "bad_issuer",
    [JWT_REJECT_WRONG_NODE] = "wrong_node",
    [JWT_REJECT_NOT_YET_VALID] = "not_yet_valid",
    [JWT_REJECT_EXPIRED] = "expired",
    [JWT_REJECT_LIFETIME] = "lifetime",
    [JWT_REJECT_REVOKED] = "revoked",
};

const char *jwt_reject_to_string(enum jwt_reject r)
{
	if ((unsigned)r >= _JWT_REJECT_MAX)
		return NULL;
	return reject_table[r];
}

struct jwt_session *jwt_session_free(struct jwt_session *s)
{
	if (!s)
		return NULL;
	free(s->sub);
	free(s->email);
	free(s->node_id);
	free(s->session_id);
	for (size_t i = 0; i < s->n_actions; i++)
		free(s->actions[i]);
	free(s->actions);
	free(s);
	return NULL;
}

/* base64url segment -> JSON object; duplicate members are refused. */
static json_t *segment_json(const char *s, size_t len)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t n;
	json_t *j;

	if (len == 0 || base64url_decode(s, len, &buf, &n) < 0)
		return NULL;
	j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int dup_string(json_t *obj, const char *key, bool required, char **ret)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		*ret = NULL;
		return required ? -EINVAL : 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

/* Claims -> typed struct, types only; the caller decides acceptance. */
static int parse_claims(json_t *c, struct jwt_session **ret)
{
	_cleanup_(jwt_session_freep) struct jwt_session *s = NULL;
	json_t *v, *a;
	size_t i;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if ((r = dup_string(c, "sub", true, &s->sub)) < 0 ||
	    (r = dup_string(c, "email", false, &s->email)) < 0 ||
	    (r = dup_string(c, "node_id", true, &s->node_id)) < 0 ||
	    (r = dup_string(c, "session_id", true, &s->session_id)) < 0)
		return r;
	if (isempty(s->sub) || !id_is_valid(s->node_id) || !id_is_valid(s->session_id))
		return -EINVAL;

	/* §1.1: null reads as an empty list, which allows nothing. */
	a = json_object_get(c, "actions");
	if (!a || (!json_is_array(a) && !json_is_null(a)))
		return -EINVAL;
	if (json_is_array(a) && json_array_size(a) > 0) {
		s->actions = calloc(json_array_size(a), sizeof(char *));
		if (!s->actions)
			return -ENOMEM;
		json_array_foreach(a, i, v)
		{
			if (!json_is_string(v))
				return -EINVAL;
			s->actions[i] = strdup(json_string_value(v));
			if (!s->actions[i])
				return -ENOMEM;
			s->n_actions = i + 1;
		}
	}

	v = json_object_get(c, "iat");
	if (!json_is_integer(v))
		return -EINVAL;
	s->iat = json_integer_value(v);
	v = json_object_get(c, "exp");
	if (!json_is_integer(v))
		return -EINVAL;
	s->exp = json_integer_value(v);

	*ret = TAKE_PTR(s);
	return 0;
}

#define REJECT(reason)                                                                             \
	do {                                                                                       \
		if (ret_reason)                                                                    \
			*ret_reason = (reason);                                                    \
		return -EBADMSG;                                                                   \
	} while (0)

int jwt_verify(const char *token, size_t len, const struct signing_keys *keys,
	       const char *local_node_id, struct timestamp now, jwt_revoked_fn is_revoked,
	       void *userdata, struct jwt_session **ret, enum jwt_reject *ret_reason)
{
	_cleanup_(jwt_session_freep) struct jwt_session *s = NULL;
	_cleanup_json_ json_t *header = NULL, *claims = NULL;
	_cleanup_free_ uint8_t *sig = NULL;
	const char *dot1, *dot2, *alg;
	size_t sig_len;
	int64_t lifetime;
	int r;

	/* Three segments: exactly two dots, no NUL bytes, bounded size. */
	if (!token || len == 0 || len > JWT_MAX_LEN || memchr(token, 0, len))
		REJECT(JWT_REJECT_MALFORMED);
	dot1 = memchr(token, '.', len);
	if (!dot1)
		REJECT(JWT_REJECT_MALFORMED);
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
	if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
		REJECT(JWT_REJECT_MALFORMED);

	header = segment_json(token, (size_t)(dot1 - token));
	if (!header)
		REJECT(JWT_REJECT_MALFORMED);
	alg = json_string_value(json_object_get(header, "alg"));
	if (!alg || !streq(alg, "EdDSA"))
		REJECT(JWT_REJECT_BAD_ALG);

	if (base64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), &sig, &sig_len) < 0 ||
	    sig_len != ED25519_SIG_LEN)
		REJECT(JWT_REJECT_BAD_SIGNATURE);
	/* The signing input is the ASCII text up to the second dot. */
	if (signing_keys_verify(keys, now, token, (size_t)(dot2 - token), sig) < 0)
		REJECT(JWT_REJECT_BAD_SIGNATURE);

	claims = segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (!claims)
		REJECT(JWT_REJECT_MALFORMED);
	r = parse_claims(claims, &s);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		REJECT(JWT_REJECT_MALFORMED);

	{
		const char *iss = json_string_value(json_object_get(claims, "iss"));
		if (!iss || !streq(iss, "plexsphere"))
			REJECT(JWT_REJECT_BAD_ISSUER);
	}
	if (!local_node_id || !streq(s->node_id, local_node_id))
		REJECT(JWT_REJECT_WRONG_NODE);
	/* Leeway arithmetic on the "now" side, which is sane, so hostile claims cannot overflow. */
	if (s->iat > now.sec + JWT_LEEWAY_SEC)
		REJECT(JWT_REJECT_NOT_YET_VALID);
	if (now.sec - JWT_LEEWAY_SEC >= s->exp)
		REJECT(JWT_REJECT_EXPIRED);
	if (__builtin_sub_overflow(s->exp, s->iat, &lifetime) || lifetime > JWT_MAX_LIFETIME_SEC)
		REJECT(JWT_REJECT_LIFETIME);
	if (is_revoked && is_revoked(s->session_id, userdata))
		REJECT(JWT_REJECT_REVOKED);

	*ret = TAKE_PTR(s);
	return 0;
}

bool jwt_action_pattern_match(const char *pattern, const char *action)
{
	size_t n;

	if (!pattern || !action || !*action)
		return false;
	if (streq(pattern, "*"))
		return true;
	if (streq(pattern, HOOK_PREFIX "*"))
		return strneq(action, HOOK_PREFIX, STRLEN(HOOK_PREFIX)) &&
		       action[STRLEN(HOOK_PREFIX)] != 0;
	n = strlen(pattern);
	/* "<prefix>.*" with a non-empty prefix covers built-ins only, never hooks. */
	if (n >= 3 && pattern[n - 2] == '.' && pattern[n - 1] == '*') {
		if (strneq(action, HOOK_PREFIX, STRLEN(HOOK_PREFIX)))
			return false;
		return strncmp(action, pattern, n - 1) == 0;
	}
	return streq(pattern, action);
}

bool jwt_session_allows(const struct jwt_session *s, const char *action)
{
	if (!s)
		return false;
	for (size_t i = 0; i < s->n_actions; i++)
		if (jwt_action_pattern_match(s->actions[i], action))
			return true;
	return false;
}

bool jwt_session_allows_hook(const struct jwt_session *s, const char *hook_name)
{
	_cleanup_free_ char *name = NULL;

	if (isempty(hook_name) || asprintf(&name, HOOK_PREFIX "%s", hook_name) < 0)
		return false;
	return jwt_session_allows(s, name);
}

int jwt_sign(const char *claims, size_t len, const uint8_t seed[32], char **ret)
{
	_cleanup_free_ char *h = NULL, *c = NULL, *sig64 = NULL, *input = NULL, *out = NULL;
	uint8_t sig[ED25519_SIG_LEN];
	int r;

	r = base64url_encode(JWT_HEADER, STRLEN(JWT_HEADER), &h);
	if (r < 0)
		return r;
	r = base64url_encode(claims, len, &c);
	if (r < 0)
		return r;
	if (asprintf(&input, "%s.%s", h, c) < 0)
		return -ENOMEM;
	r = ed25519_sign(seed, input, strlen(input), sig);
	if (r < 0)
		return r;
	r = base64url_encode(sig, sizeof(sig), &sig64);
	if (r < 0)
		return r;
	if (asprintf(&out, "%s.%s", input, sig64) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

int jwt_sign_session(const struct jwt_session *s, const uint8_t seed[32], char **ret)
{
	_cleanup_json_ json_t *c = NULL;
	_cleanup_free_ char *text = NULL;
	json_t *a;

	c = json_object();
	if (!c)
		return -ENOMEM;
	/* Insertion order is serialisation order: that of the §10 vector. The _new setters
	 * consume their value even when they fail. */
	if (json_object_set_new(c, "iss", json_string("plexsphere")) < 0 ||
	    json_object_set_new(c, "sub", json_string(strempty(s->sub))) < 0 ||
	    (s->email && json_object_set_new(c, "email", json_string(s->email)) < 0) ||
	    json_object_set_new(c, "node_id", json_string(strempty(s->node_id))) < 0 ||
	    json_object_set_new(c, "session_id", json_string(strempty(s->session_id))) < 0 ||
	    json_object_set_new(c, "actions", json_array()) < 0)
		return -ENOMEM;
	a = json_object_get(c, "actions");
	for (size_t i = 0; i < s->n_actions; i++)
		if (json_array_append_new(a, json_string(s->actions[i])) < 0)
			return -ENOMEM;
	if (json_object_set_new(c, "iat", json_integer(s->iat)) < 0 ||
	    json_object_set_new(c, "exp", json_integer(s->exp)) < 0)
		return -ENOMEM;
	text = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text)
		return -ENOMEM;
	return jwt_sign(text, strlen(text), seed, ret);
}
