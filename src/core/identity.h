/* The node's persistent identity in data_dir (agent.md §2.2): node id, mesh IP, WireGuard key,
 * Node Secret Key, bearer token and the CP signing key set. Loading validates every file;
 * saving follows the multi-file rule of §2.3 (identity.json written last). */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "crypto/signing-keys.h"
#include "shared/time-util.h"

struct identity {
	char node_id[129];
	struct in_addr mesh_ip;
	char mesh_ip_str[INET_ADDRSTRLEN];
	uint8_t private_key[WG_KEY_LEN];
	uint8_t public_key[WG_KEY_LEN];
	char node_secret_key[45]; /* base64 text exactly as delivered */
	uint8_t nsk[32];          /* its decoding: the AES-256-GCM key */
	char *node_token;         /* NULL for a CP that sent none (fallback to the NSK text) */
	struct signing_keys signing_keys;
	struct timestamp registered_at;
};

int identity_new(struct identity **ret);
/* Wipes all key material. */
struct identity *identity_free(struct identity *id);
static inline void identity_freep(struct identity **id)
{
	identity_free(*id);
}

/* -ENOENT when no identity.json exists. A corrupt identity.json is moved to
 * identity.json.corrupt and -ENOENT is returned as well (the node counts as unregistered);
 * a missing or corrupt companion file gives -EBADMSG with a log line naming the file. */
int identity_load(const char *data_dir, struct identity **ret);
int identity_save(const char *data_dir, const struct identity *id);
/* Persists signing_keys.json and its signing_public_key mirror. */
int identity_save_signing_keys(const char *data_dir, const struct signing_keys *keys);
/* Persists the WireGuard private key (rotation step 4) and the NSK when nsk_b64 != NULL. */
int identity_save_private_key(const char *data_dir, const char *name, const uint8_t key[WG_KEY_LEN]);
int identity_save_nsk(const char *data_dir, const char *nsk_b64);
/* Removes the identity files of §2.2 (identity.json first so a crash leaves "unregistered"). */
int identity_remove(const char *data_dir);

/* The bearer value of control-plane-api.md §2.4. */
const char *identity_bearer(const struct identity *id);
