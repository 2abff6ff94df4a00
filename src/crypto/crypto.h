/* Cryptographic primitives over OpenSSL 3: X25519 WireGuard keys, Ed25519, AES-256-GCM,
 * SHA-256. Private key material passed in is never copied into long-lived buffers here. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define WG_KEY_LEN	  32
#define ED25519_KEY_LEN	  32
#define ED25519_SIG_LEN	  64
#define AES_GCM_NONCE_LEN 12
#define AES_GCM_TAG_LEN	  16
#define SHA256_LEN	  32

/* 32 random bytes from the kernel CSPRNG, clamped (control-plane-api.md §11). */
int wg_key_generate(uint8_t priv[WG_KEY_LEN]);
/* X25519(priv, 9). */
int wg_key_public(const uint8_t priv[WG_KEY_LEN], uint8_t pub[WG_KEY_LEN]);

/* 0 if sig verifies, -EBADMSG if not, other negative errno on internal failure. */
int ed25519_verify(const uint8_t pub[ED25519_KEY_LEN], const void *msg, size_t len,
		   const uint8_t sig[ED25519_SIG_LEN]);
int ed25519_sign(const uint8_t seed[ED25519_KEY_LEN], const void *msg, size_t len,
		 uint8_t sig[ED25519_SIG_LEN]);
int ed25519_public_from_seed(const uint8_t seed[ED25519_KEY_LEN], uint8_t pub[ED25519_KEY_LEN]);
int ed25519_generate(uint8_t seed[ED25519_KEY_LEN], uint8_t pub[ED25519_KEY_LEN]);

/* ct_len includes the 16-byte tag; out receives ct_len-16 bytes. -EBADMSG on tag mismatch,
 * -EINVAL on bad lengths. No AAD (§9). */
int aes256gcm_decrypt(const uint8_t key[32], const uint8_t nonce[AES_GCM_NONCE_LEN],
		      const uint8_t *ct, size_t ct_len, uint8_t *out);
/* out receives len+16 bytes (ciphertext || tag). */
int aes256gcm_encrypt(const uint8_t key[32], const uint8_t nonce[AES_GCM_NONCE_LEN],
		      const uint8_t *pt, size_t len, uint8_t *out);

/* 0, or -ENOMEM when OpenSSL cannot allocate its context. */
int sha256_buf(const void *data, size_t len, uint8_t out[SHA256_LEN]);
int sha256_file(const char *path, uint8_t out[SHA256_LEN]);
/* "sha256:<64 lowercase hex>" into out[72]. */
void sha256_format(const uint8_t digest[SHA256_LEN], char out[72]);

/* Constant-time comparison: 1 when the n bytes are equal, 0 otherwise. */
int crypto_memeq(const void *a, const void *b, size_t n);
