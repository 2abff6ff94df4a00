/* Cryptographic primitives over OpenSSL 3 EVP: X25519 WireGuard keys, Ed25519 sign/verify,
 * AES-256-GCM without AAD (control-plane-api.md §9), SHA-256 of buffers and files. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "shared/macro.h"
#include "shared/random-util.h"

static void evp_pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}
static void evp_md_ctx_freep(EVP_MD_CTX **p)
{
	EVP_MD_CTX_free(*p);
}
static void evp_cipher_ctx_freep(EVP_CIPHER_CTX **p)
{
	EVP_CIPHER_CTX_free(*p);
}

int wg_key_generate(uint8_t priv[WG_KEY_LEN])
{
	uint8_t k[WG_KEY_LEN];
	int r;

	r = random_bytes(k, sizeof(k));
	if (r < 0)
		return r;
	/* RFC 7748 clamping, as wg(8) does, so the stored key is the one actually used. */
	k[0] &= 0xF8;
	k[31] &= 0x7F;
	k[31] |= 0x40;
	memcpy(priv, k, sizeof(k));
	OPENSSL_cleanse(k, sizeof(k));
	return 0;
}

static int raw_public(int type, const uint8_t priv[32], uint8_t pub[32])
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *pkey = NULL;
	size_t len = 32;

	pkey = EVP_PKEY_new_raw_private_key(type, NULL, priv, 32);
	if (!pkey)
		return -EINVAL;
	if (EVP_PKEY_get_raw_public_key(pkey, pub, &len) != 1 || len != 32)
		return -EIO;
	return 0;
}

int wg_key_public(const uint8_t priv[WG_KEY_LEN], uint8_t pub[WG_KEY_LEN])
{
	return raw_public(EVP_PKEY_X25519, priv, pub);
}

int ed25519_public_from_seed(const uint8_t seed[ED25519_KEY_LEN], uint8_t pub[ED25519_KEY_LEN])
{
	return raw_public(EVP_PKEY_ED25519, seed, pub);
}

int ed25519_generate(uint8_t seed[ED25519_KEY_LEN], uint8_t pub[ED25519_KEY_LEN])
{
	uint8_t s[ED25519_KEY_LEN];
	int r;

	r = random_bytes(s, sizeof(s));
	if (r < 0)
		goto out;
	r = ed25519_public_from_seed(s, pub);
	if (r < 0)
		goto out;
	memcpy(seed, s, sizeof(s));
out:
	OPENSSL_cleanse(s, sizeof(s));
	return r;
}

int ed25519_verify(const uint8_t pub[ED25519_KEY_LEN], const void *msg, size_t len,
		   const uint8_t sig[ED25519_SIG_LEN])
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *pkey = NULL;
	_cleanup_(evp_md_ctx_freep) EVP_MD_CTX *ctx = NULL;
	int r;

	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, ED25519_KEY_LEN);
	if (!pkey)
		return -EINVAL;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1)
		return -EIO;
	/* msg may be NULL with len 0; OpenSSL wants a valid pointer. */
	r = EVP_DigestVerify(ctx, sig, ED25519_SIG_LEN, msg ? msg : (const void *)"", len);
	/* OpenSSL reports some malformed signatures (s >= L, bad point) as errors rather than 0;
	 * for the caller every outcome but 1 means "not verified". */
	return r == 1 ? 0 : -EBADMSG;
}

int ed25519_sign(const uint8_t seed[ED25519_KEY_LEN], const void *msg, size_t len,
		 uint8_t sig[ED25519_SIG_LEN])
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *pkey = NULL;
	_cleanup_(evp_md_ctx_freep) EVP_MD_CTX *ctx = NULL;
	size_t siglen = ED25519_SIG_LEN;

	/* The EVP_PKEY holds its own copy of the seed and cleanses it in EVP_PKEY_free(). */
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, ED25519_KEY_LEN);
	if (!pkey)
		return -EINVAL;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1)
		return -EIO;
	if (EVP_DigestSign(ctx, sig, &siglen, msg ? msg : (const void *)"", len) != 1 ||
	    siglen != ED25519_SIG_LEN)
		return -EIO;
	return 0;
}

static int aes256gcm_ctx(const uint8_t key[32], const uint8_t nonce[AES_GCM_NONCE_LEN], int enc,
			 EVP_CIPHER_CTX **ret)
{
	_cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *ctx = NULL;

	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, AES_GCM_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1)
		return -EIO;
	*ret = TAKE_PTR(ctx);
	return 0;
}

/* EVP_*Update takes int lengths; secrets are small, but never truncate silently. */
#define AES_GCM_MAX_LEN ((size_t)INT32_MAX - 64)

int aes256gcm_decrypt(const uint8_t key[32], const uint8_t nonce[AES_GCM_NONCE_LEN],
		      const uint8_t *ct, size_t ct_len, uint8_t *out)
{
	_cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *ctx = NULL;
	uint8_t tag[AES_GCM_TAG_LEN];
	size_t len;
	int outl = 0, finl = 0, r;

	if (ct_len < AES_GCM_TAG_LEN || ct_len > AES_GCM_MAX_LEN)
		return -EINVAL;
	len = ct_len - AES_GCM_TAG_LEN;
	memcpy(tag, ct + len, AES_GCM_TAG_LEN);

	r = aes256gcm_ctx(key, nonce, 0, &ctx);
	if (r < 0)
		return r;
	if (len > 0 && EVP_DecryptUpdate(ctx, out, &outl, ct, (int)len) != 1)
		return -EIO;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AES_GCM_TAG_LEN, tag) != 1)
		return -EIO;
	if (EVP_DecryptFinal_ex(ctx, out + outl, &finl) != 1) {
		/* Never hand out unauthenticated plaintext. */
		if (len > 0)
			OPENSSL_cleanse(out, len);
		return -EBADMSG;
	}
	return 0;
}

int aes256gcm_encrypt(const uint8_t key[32], const uint8_t nonce[AES_GCM_NONCE_LEN],
		      const uint8_t *pt, size_t len, uint8_t *out)
{
	_cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *ctx = NULL;
	int outl = 0, finl = 0, r;

	if (len > AES_GCM_MAX_LEN)
		return -EINVAL;
	r = aes256gcm_ctx(key, nonce, 1, &ctx);
	if (r < 0)
		return r;
	if (len > 0 && EVP_EncryptUpdate(ctx, out, &outl, pt, (int)len) != 1)
		return -EIO;
	if (EVP_EncryptFinal_ex(ctx, out + outl, &finl) != 1)
		return -EIO;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AES_GCM_TAG_LEN, out + len) != 1)
		return -EIO;
	return 0;
}

int sha256_buf(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	unsigned outl = 0;

	if (EVP_Digest(data ? data : (const void *)"", len, out, &outl, EVP_sha256(), NULL) != 1 ||
	    outl != SHA256_LEN)
		return -ENOMEM;
	return 0;
}

int sha256_file(const char *path, uint8_t out[SHA256_LEN])
{
	_cleanup_(evp_md_ctx_freep) EVP_MD_CTX *ctx = NULL;
	_cleanup_close_ int fd = -EBADF;
	uint8_t buf[65536];
	unsigned outl = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		return -EIO;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			return -EIO;
	}
	if (EVP_DigestFinal_ex(ctx, out, &outl) != 1 || outl != SHA256_LEN)
		return -EIO;
	return 0;
}

void sha256_format(const uint8_t digest[SHA256_LEN], char out[72])
{
	static const char hex[] = "0123456789abcdef";
	char *p = out;

	memcpy(p, "sha256:", 7);
	p += 7;
	for (size_t i = 0; i < SHA256_LEN; i++) {
		*p++ = hex[digest[i] >> 4];
		*p++ = hex[digest[i] & 15];
	}
	*p = 0;
}

int crypto_memeq(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
