/* The control plane's Ed25519 signing key set: current, and previous while its transition lasts
 * (control-plane-api.md §6.6, agent.md §5.9). Pure data + verification; persistence is the
 * caller's. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "shared/time-util.h"

struct signing_keys {
	uint8_t current[ED25519_KEY_LEN];
	bool has_previous;
	uint8_t previous[ED25519_KEY_LEN];
	bool has_expiry;
	struct timestamp transition_expires;
};

/* Verifies with current; on failure with previous when held and now < transition_expires
 * (previous without expiry is never used). 0, or -EBADMSG. */
int signing_keys_verify(const struct signing_keys *k, struct timestamp now, const void *msg,
			size_t len, const uint8_t sig[ED25519_SIG_LEN]);
/* As signing_keys_verify(), and tells which key verified: *ret_by_previous is set on success
 * (agent.md §5.9: signing_key_rotated must verify under the current key). */
int signing_keys_verify_which(const struct signing_keys *k, struct timestamp now, const void *msg,
			      size_t len, const uint8_t sig[ED25519_SIG_LEN],
			      bool *ret_by_previous);
/* Drops previous (and the expiry) once now >= transition_expires; a previous key without expiry
 * is left alone (it is never used). Returns true when something changed. */
bool signing_keys_expire(struct signing_keys *k, struct timestamp now);
bool signing_keys_equal(const struct signing_keys *a, const struct signing_keys *b);
/* JSON {current, previous?, transition_expires?} as in §8.4, both directions. */
struct json_t;
int signing_keys_from_json(struct json_t *j, struct signing_keys *ret, char *err, size_t errlen);
struct json_t *signing_keys_to_json(const struct signing_keys *k);
