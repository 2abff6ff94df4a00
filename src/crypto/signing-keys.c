/* The control plane's Ed25519 signing key set (control-plane-api.md §6.6, §8.4): verification
 * with current/previous, transition expiry, and the JSON form used by state and the cache. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "crypto/signing-keys.h"
#include "shared/encoding.h"
#include "shared/macro.h"

static int timestamp_cmp(struct timestamp a, struct timestamp b)
{
	if (a.sec != b.sec)
		return a.sec < b.sec ? -1 : 1;
	if (a.nsec != b.nsec)
		return a.nsec < b.nsec ? -1 : 1;
	return 0;
}

/* A previous key without an expiry is never trusted (§6.6 step 6, A21). */
static bool previous_usable(const struct signing_keys *k, struct timestamp now)
{
	return k->has_previous && k->has_expiry && timestamp_cmp(now, k->transition_expires) < 0;
}

int signing_keys_verify_which(const struct signing_keys *k, struct timestamp now, const void *msg,
			      size_t len, const uint8_t sig[ED25519_SIG_LEN], bool *ret_by_previous)
{
	if (ed25519_verify(k->current, msg, len, sig) == 0) {
		if (ret_by_previous)
			*ret_by_previous = false;
		return 0;
	}
	if (previous_usable(k, now) && ed25519_verify(k->previous, msg, len, sig) == 0) {
		if (ret_by_previous)
			*ret_by_previous = true;
		return 0;
	}
	return -EBADMSG;
}

int signing_keys_verify(const struct signing_keys *k, struct timestamp now, const void *msg,
			size_t len, const uint8_t sig[ED25519_SIG_LEN])
{
	return signing_keys_verify_which(k, now, msg, len, sig, NULL);
}

bool signing_keys_expire(struct signing_keys *k, struct timestamp now)
{
	/* Only an expiry that has passed removes anything. A previous key without expiry is
	 * kept as received (it is never used for verification), so that the held set stays
	 * equal to the control plane's view and reconciliation does not rewrite it each pass. */
	if (!k->has_expiry || timestamp_cmp(now, k->transition_expires) < 0)
		return false;
	explicit_bzero(k->previous, sizeof(k->previous));
	k->has_previous = false;
	k->has_expiry = false;
	k->transition_expires = (struct timestamp){0};
	return true;
}

bool signing_keys_equal(const struct signing_keys *a, const struct signing_keys *b)
{
	if (memcmp(a->current, b->current, ED25519_KEY_LEN) != 0)
		return false;
	if (a->has_previous != b->has_previous)
		return false;
	if (a->has_previous && memcmp(a->previous, b->previous, ED25519_KEY_LEN) != 0)
		return false;
	if (a->has_expiry != b->has_expiry)
		return false;
	if (a->has_expiry && timestamp_cmp(a->transition_expires, b->transition_expires) != 0)
		return false;
	return true;
}

static int key_member(json_t *j, const char *name, bool required, uint8_t out[ED25519_KEY_LEN],
		      bool *ret_has, char *err, size_t errlen)
{
	json_t *v = json_object_get(j, name);

	if (!v || json_is_null(v)) {
		if (required) {
			snprintf(err, errlen, "%s: missing", name);
			return -EINVAL;
		}
		*ret_has = false;
		return 0;
	}
	if (!json_is_string(v) || key32_parse(json_string_value(v), out) < 0) {
		snprintf(err, errlen, "%s: must be base64 of 32 bytes", name);
		return -EINVAL;
	}
	*ret_has = true;
	return 0;
}

int signing_keys_from_json(struct json_t *j, struct signing_keys *ret, char *err, size_t errlen)
{
	struct signing_keys k = {};
	bool has_current;
	json_t *v;
	int r;

	if (!json_is_object(j)) {
		snprintf(err, errlen, "signing_keys: must be an object");
		return -EINVAL;
	}
	r = key_member(j, "current", true, k.current, &has_current, err, errlen);
	if (r < 0)
		return r;
	r = key_member(j, "previous", false, k.previous, &k.has_previous, err, errlen);
	if (r < 0)
		return r;

	v = json_object_get(j, "transition_expires");
	if (v && !json_is_null(v)) {
		const char *s = json_string_value(v);
		if (!s || rfc3339_parse(s, strlen(s), &k.transition_expires) < 0) {
			snprintf(err, errlen, "transition_expires: must be an RFC 3339 timestamp");
			return -EINVAL;
		}
		/* 0001-01-01T00:00:00Z is the wire's "unset" (§1.2). */
		k.has_expiry = !timestamp_is_unset(k.transition_expires);
		if (!k.has_expiry)
			k.transition_expires = (struct timestamp){0};
	}
	*ret = k;
	return 0;
}

struct json_t *signing_keys_to_json(const struct signing_keys *k)
{
	json_t *j;
	char key[45];

	j = json_object();
	if (!j)
		return NULL;
	key32_format(k->current, key);
	if (json_object_set_new(j, "current", json_string(key)) < 0)
		goto fail;
	if (k->has_previous) {
		key32_format(k->previous, key);
		if (json_object_set_new(j, "previous", json_string(key)) < 0)
			goto fail;
	}
	if (k->has_expiry) {
		char t[RFC3339_MAX];
		if (rfc3339_format(k->transition_expires, k->transition_expires.nsec ? 9 : 0, t) <
			0 ||
		    json_object_set_new(j, "transition_expires", json_string(t)) < 0)
			goto fail;
	}
	return j;
fail:
	json_decref(j);
	return NULL;
}
