/* Unit tests for the crypto module: spec vectors of control-plane-api.md §6.7, §9, §11 and the
 * signing key set (current/previous/transition). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "crypto/crypto.h"
#include "crypto/signing-keys.h"
#include "shared/encoding.h"
#include "shared/macro.h"

static const char VECTOR1_SI[] =
    "{\"event_type\":\"node_state_updated\",\"event_id\":\"evt_000042\",\"issued_at\":\"2025-01"
    "-15T10:30:00.25Z\",\"nonce\":\"6f1c2a9be4d058731b0e4d2c9a7f3e15\",\"payload\":{\"metadata\""
    ":{\"env\":\"prod\",\"owner\":\"ops \\u0026 sre \\u003cteam\\u003e\"},\"data\":[{\"key\":\""
    "app-config\",\"content_type\":\"application/json\",\"payload\":{\"port\":8443,\"tls\":true"
    "},\"version\":3,\"updated_at\":\"2025-01-15T10:29:59Z\"}]}}";

/* §6.7 key. */
#define SEED_HEX   "85fba794bc042df7045907b8e467383dde7f453a51e5e4b59dd1d797c162097f"
#define PUB_HEX	   "549226aa94cb24354c08d4deebc976026a7a42ccb08473bf6bf28fa951c1f1b4"
#define PUB_KEY32  "VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ="
#define SI1_SHA256 "e72dac63e49b462f14287ed4b45cd1bc1c36ee6b3c04585346efc8801ce40a43"
#define SIG1_HEX                                                                                   \
	"15de4f0257a7e41264638607c271c1d2b38656bb3f987d772a710e6518c34c5a6674087b396b376db840c6a2" \
	"fc6591de80fc56595090f2e2ff9a8cd29f0b6208"

static void unhex(const char *s, uint8_t *out, size_t n)
{
	assert_int_equal(hex_decode_exact(s, strlen(s), out, n), 0);
}

/* ---- §11 WireGuard keys ---- */

static const struct {
	const char *priv_hex;
	const char *priv_b64; /* NULL where the spec gives none */
	const char *pub_b64;
} wg_vectors[] = {
    {"889b48cfe0b2ccbb034314c83a40cc748355c3dd1cc72ad6436f94ac29047a7d",
     "iJtIz+CyzLsDQxTIOkDMdINVw90cxyrWQ2+UrCkEen0=",
     "VvIv3Flgc+aaBq2gpLRGHZKTKe/Ol15jnF8TnwgPRj8="},
    {"885baee931448adc58145f30e641b7b652f5004f76f2a8bff801d04eac0fac4d", NULL,
     "YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY="},
};

static void test_wg_public(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(wg_vectors); i++) {
		uint8_t priv[32], pub[32], want[32];
		char b64[45];

		unhex(wg_vectors[i].priv_hex, priv, 32);
		if (wg_vectors[i].priv_b64) {
			key32_format(priv, b64);
			assert_string_equal(b64, wg_vectors[i].priv_b64);
		}
		assert_int_equal(wg_key_public(priv, pub), 0);
		assert_int_equal(key32_parse(wg_vectors[i].pub_b64, want), 0);
		assert_memory_equal(pub, want, 32);
		/* A mutated private key gives another public key. */
		priv[5] ^= 0x01;
		assert_int_equal(wg_key_public(priv, pub), 0);
		assert_memory_not_equal(pub, want, 32);
	}
}

static void test_wg_generate_clamped(void **state)
{
	uint8_t prev[32] = {};

	for (int i = 0; i < 64; i++) {
		uint8_t priv[32], pub[32];

		assert_int_equal(wg_key_generate(priv), 0);
		assert_int_equal(priv[0] & 0x07, 0);
		assert_int_equal(priv[31] & 0x80, 0);
		assert_int_equal(priv[31] & 0x40, 0x40);
		assert_memory_not_equal(priv, prev, 32);
		assert_int_equal(wg_key_public(priv, pub), 0);
		memcpy(prev, priv, 32);
	}
}

/* ---- §6.7 Ed25519 ---- */

static void test_ed25519_vector(void **state)
{
	uint8_t seed[32], pub[32], want_pub[32], sig[64], want_sig[64];
	char b64[45];

	unhex(SEED_HEX, seed, 32);
	unhex(PUB_HEX, want_pub, 32);
	unhex(SIG1_HEX, want_sig, 64);
	assert_int_equal(ed25519_public_from_seed(seed, pub), 0);
	assert_memory_equal(pub, want_pub, 32);
	key32_format(pub, b64);
	assert_string_equal(b64, PUB_KEY32);

	/* Ed25519 is deterministic: signing SI reproduces the published signature. */
	assert_int_equal(strlen(VECTOR1_SI), 367);
	assert_int_equal(ed25519_sign(seed, VECTOR1_SI, strlen(VECTOR1_SI), sig), 0);
	assert_memory_equal(sig, want_sig, 64);
	assert_int_equal(ed25519_verify(pub, VECTOR1_SI, strlen(VECTOR1_SI), want_sig), 0);
}

static void test_ed25519_mutations(void **state)
{
	uint8_t pub[32], sig[64];
	char si[sizeof(VECTOR1_SI)];

	unhex(PUB_HEX, pub, 32);
	unhex(SIG1_HEX, sig, 64);
	/* Every single-bit flip of the signature fails; so does one of the message. */
	for (size_t i = 0; i < 64; i++) {
		sig[i] ^= 0x01;
		assert_int_equal(ed25519_verify(pub, VECTOR1_SI, strlen(VECTOR1_SI), sig),
				 -EBADMSG);
		sig[i] ^= 0x01;
	}
	memcpy(si, VECTOR1_SI, sizeof(si));
	si[100] ^= 0x01;
	assert_int_equal(ed25519_verify(pub, si, strlen(si), sig), -EBADMSG);
	assert_int_equal(ed25519_verify(pub, VECTOR1_SI, strlen(VECTOR1_SI) - 1, sig), -EBADMSG);
	pub[0] ^= 0x01;
	assert_int_not_equal(ed25519_verify(pub, VECTOR1_SI, strlen(VECTOR1_SI), sig), 0);
}

static void test_ed25519_roundtrip(void **state)
{
	uint8_t seed[32], pub[32], pub2[32], sig[64];

	assert_int_equal(ed25519_generate(seed, pub), 0);
	assert_int_equal(ed25519_public_from_seed(seed, pub2), 0);
	assert_memory_equal(pub, pub2, 32);
	assert_int_equal(ed25519_sign(seed, "", 0, sig), 0);
	assert_int_equal(ed25519_verify(pub, "", 0, sig), 0);
	assert_int_equal(ed25519_sign(seed, "hello", 5, sig), 0);
	assert_int_equal(ed25519_verify(pub, "hello", 5, sig), 0);
	assert_int_equal(ed25519_verify(pub, "hellO", 5, sig), -EBADMSG);
}

/* ---- §9 AES-256-GCM ---- */

#define NSK_HEX	      "ca126f89ec41daa5353e80595fb734bbf3605037c4dfdfc921f6997a8b367d92"
#define NSK_KEY32     "yhJviexB2qU1PoBZX7c0u/NgUDfE39/JIfaZeos2fZI="
#define GCM_NONCE_HEX "11d3647a36a7122edccf0261"
#define GCM_NONCE_B64 "EdNkejanEi7czwJh"
#define GCM_PLAINTEXT "postgres://app:S3cr3t!@db.internal:5432/app"
#define GCM_ENC_HEX                                                                                \
	"cb5c68533d00c6fa0602b5f087e163c21fa844daa2dcf45dbb06a0763407f52d2b27b0536494f5e93bcc4a"
#define GCM_TAG_HEX "8f2dd0f514d5b52446d091606460fe13"
#define GCM_CT_B64                                                                                 \
	"y1xoUz0AxvoGArXwh+Fjwh+oRNqi3PRduwagdjQH9S0rJ7BTZJT16TvMSo8t0PUU1bUkRtCRYGRg/hM="

struct gcm_fixture {
	uint8_t key[32];
	uint8_t nonce[12];
	uint8_t *ct;
	size_t ct_len;
};

static void gcm_load(struct gcm_fixture *f)
{
	uint8_t key2[32], nonce2[12], enc[43], tag[16];

	unhex(NSK_HEX, f->key, 32);
	assert_int_equal(key32_parse(NSK_KEY32, key2), 0);
	assert_memory_equal(f->key, key2, 32);
	unhex(GCM_NONCE_HEX, f->nonce, 12);
	assert_int_equal(base64_decode_exact(GCM_NONCE_B64, strlen(GCM_NONCE_B64), nonce2, 12), 0);
	assert_memory_equal(f->nonce, nonce2, 12);
	assert_int_equal(base64_decode(GCM_CT_B64, strlen(GCM_CT_B64), &f->ct, &f->ct_len), 0);
	assert_int_equal(f->ct_len, 59);
	unhex(GCM_ENC_HEX, enc, sizeof(enc));
	unhex(GCM_TAG_HEX, tag, sizeof(tag));
	assert_memory_equal(f->ct, enc, 43);
	assert_memory_equal(f->ct + 43, tag, 16);
}

static void test_aes_gcm_vector(void **state)
{
	struct gcm_fixture f;
	uint8_t out[59];

	gcm_load(&f);
	assert_int_equal(aes256gcm_decrypt(f.key, f.nonce, f.ct, f.ct_len, out), 0);
	assert_int_equal(strlen(GCM_PLAINTEXT), 43);
	assert_memory_equal(out, GCM_PLAINTEXT, 43);

	/* Encryption with the same key and nonce reproduces ciphertext || tag. */
	assert_int_equal(aes256gcm_encrypt(f.key, f.nonce, (const uint8_t *)GCM_PLAINTEXT, 43, out),
			 0);
	assert_memory_equal(out, f.ct, 59);
	free(f.ct);
}

static void test_aes_gcm_tamper(void **state)
{
	struct gcm_fixture f;
	uint8_t out[59];

	gcm_load(&f);
	/* Any flipped ciphertext or tag bit, wrong nonce or wrong key: -EBADMSG. */
	for (size_t i = 0; i < f.ct_len; i++) {
		f.ct[i] ^= 0x80;
		assert_int_equal(aes256gcm_decrypt(f.key, f.nonce, f.ct, f.ct_len, out), -EBADMSG);
		f.ct[i] ^= 0x80;
	}
	f.nonce[11] ^= 1;
	assert_int_equal(aes256gcm_decrypt(f.key, f.nonce, f.ct, f.ct_len, out), -EBADMSG);
	f.nonce[11] ^= 1;
	f.key[0] ^= 1;
	assert_int_equal(aes256gcm_decrypt(f.key, f.nonce, f.ct, f.ct_len, out), -EBADMSG);
	f.key[0] ^= 1;
	/* Truncation: shorter than a tag is a length error, dropping a byte is a tag error. */
	assert_int_equal(aes256gcm_decrypt(f.key, f.nonce, f.ct, 15, out), -EINVAL);
	assert_int_equal(aes256gcm_decrypt(f.key, f.nonce, f.ct, f.ct_len - 1, out), -EBADMSG);
	assert_int_equal(aes256gcm_decrypt(f.key, f.nonce, f.ct, f.ct_len, out), 0);
	free(f.ct);
}

static void test_aes_gcm_empty(void **state)
{
	uint8_t key[32] = {1}, nonce[12] = {2}, ct[16], out[1];

	assert_int_equal(aes256gcm_encrypt(key, nonce, NULL, 0, ct), 0);
	assert_int_equal(aes256gcm_decrypt(key, nonce, ct, 16, out), 0);
	ct[0] ^= 1;
	assert_int_equal(aes256gcm_decrypt(key, nonce, ct, 16, out), -EBADMSG);
}

/* ---- SHA-256 ---- */

static const struct {
	const char *data;
	const char *hex;
} sha_vectors[] = {
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {VECTOR1_SI, SI1_SHA256},
};

static void test_sha256(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(sha_vectors); i++) {
		uint8_t d[32];
		char fmt[72], want[72];
		char path[] = "/tmp/plexd-test-sha-XXXXXX";
		int fd;

		assert_int_equal(sha256_buf(sha_vectors[i].data, strlen(sha_vectors[i].data), d),
				 0);
		sha256_format(d, fmt);
		snprintf(want, sizeof(want), "sha256:%s", sha_vectors[i].hex);
		assert_string_equal(fmt, want);

		fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, sha_vectors[i].data, strlen(sha_vectors[i].data)),
				 (ssize_t)strlen(sha_vectors[i].data));
		close(fd);
		memset(d, 0, sizeof(d));
		assert_int_equal(sha256_file(path, d), 0);
		sha256_format(d, fmt);
		assert_string_equal(fmt, want);
		unlink(path);
		assert_int_equal(sha256_file(path, d), -ENOENT);
	}
}

static void test_sha256_file_large(void **state)
{
	/* Larger than the read buffer, so several updates are hashed. */
	size_t n = 200000;
	_cleanup_free_ uint8_t *buf = malloc(n);
	uint8_t a[32], b[32];
	char path[] = "/tmp/plexd-test-sha-XXXXXX";
	int fd;

	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 7);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
	assert_int_equal(sha256_buf(buf, n, a), 0);
	assert_int_equal(sha256_file(path, b), 0);
	assert_memory_equal(a, b, 32);
	unlink(path);
}

static void test_memeq(void **state)
{
	assert_true(crypto_memeq("abcd", "abcd", 4));
	assert_false(crypto_memeq("abcd", "abce", 4));
	assert_true(crypto_memeq("x", "y", 0));
}

/* ---- Signing key set (§6.6) ---- */

static struct timestamp ts(int64_t sec)
{
	return (struct timestamp){.sec = sec};
}

/* K1 = §6.7 key, K2 = a fresh key; msg signed by both. */
struct keyset_fixture {
	uint8_t seed1[32], pub1[32], seed2[32], pub2[32];
	uint8_t sig1[64], sig2[64];
};

static void keyset_load(struct keyset_fixture *f)
{
	unhex(SEED_HEX, f->seed1, 32);
	assert_int_equal(ed25519_public_from_seed(f->seed1, f->pub1), 0);
	assert_int_equal(ed25519_generate(f->seed2, f->pub2), 0);
	assert_int_equal(ed25519_sign(f->seed1, "m", 1, f->sig1), 0);
	assert_int_equal(ed25519_sign(f->seed2, "m", 1, f->sig2), 0);
}

static void test_signing_keys_verify(void **state)
{
	struct keyset_fixture f;
	const int64_t T = 1736936400;
	struct {
		bool has_previous, has_expiry;
		int64_t now;
		int want_k1; /* result for a K1 signature with current = K2, previous = K1 */
	} cases[] = {
	    {true, true, T - 86400, 0},
	    {true, true, T - 1, 0},
	    {true, true, T, -EBADMSG}, /* now < T required */
	    {true, true, T + 1, -EBADMSG},
	    {true, false, T - 86400, -EBADMSG}, /* previous without expiry: never */
	    {false, true, T - 1, -EBADMSG},
	};

	keyset_load(&f);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct signing_keys k = {.has_previous = cases[i].has_previous,
					 .has_expiry = cases[i].has_expiry,
					 .transition_expires = ts(T)};
		memcpy(k.current, f.pub2, 32);
		if (k.has_previous)
			memcpy(k.previous, f.pub1, 32);
		assert_int_equal(signing_keys_verify(&k, ts(cases[i].now), "m", 1, f.sig1),
				 cases[i].want_k1);
		bool by_prev = !cases[i].want_k1;
		assert_int_equal(
		    signing_keys_verify_which(&k, ts(cases[i].now), "m", 1, f.sig1, &by_prev),
		    cases[i].want_k1);
		if (cases[i].want_k1 == 0)
			assert_true(by_prev);
		assert_int_equal(
		    signing_keys_verify_which(&k, ts(cases[i].now), "m", 1, f.sig2, &by_prev), 0);
		assert_false(by_prev);
		/* The current key always verifies; neither verifies a wrong message. */
		assert_int_equal(signing_keys_verify(&k, ts(cases[i].now), "m", 1, f.sig2), 0);
		assert_int_equal(signing_keys_verify(&k, ts(cases[i].now), "n", 1, f.sig2),
				 -EBADMSG);
	}
}

static void test_signing_keys_expire_equal(void **state)
{
	struct keyset_fixture f;
	struct signing_keys k = {.has_previous = true,
				 .has_expiry = true,
				 .transition_expires = ts(1000)},
			    k2;

	keyset_load(&f);
	memcpy(k.current, f.pub2, 32);
	memcpy(k.previous, f.pub1, 32);
	k2 = k;
	assert_true(signing_keys_equal(&k, &k2));
	assert_false(signing_keys_expire(&k, ts(999)));
	assert_true(k.has_previous);
	assert_true(signing_keys_expire(&k, ts(1000)));
	assert_false(k.has_previous);
	assert_false(k.has_expiry);
	assert_false(signing_keys_equal(&k, &k2));
	assert_false(signing_keys_expire(&k, ts(2000)));

	/* Previous without expiry is kept (never used, see signing_keys_verify). */
	k2.has_expiry = false;
	assert_false(signing_keys_expire(&k2, ts(5000)));
	assert_true(k2.has_previous);

	k = k2;
	k.current[0] ^= 1;
	assert_false(signing_keys_equal(&k, &k2));
}

static const struct {
	const char *json;
	int want;
	bool has_previous, has_expiry;
} keys_json_cases[] = {
    {"{\"current\":\"" PUB_KEY32 "\"}", 0, false, false},
    {"{\"current\":\"" PUB_KEY32 "\",\"previous\":null,\"transition_expires\":null}", 0, false,
     false},
    {"{\"current\":\"" PUB_KEY32 "\",\"previous\":\"" PUB_KEY32
     "\",\"transition_expires\":\"2025-01-16T10:30:00Z\"}",
     0, true, true},
    {"{\"current\":\"" PUB_KEY32 "\",\"previous\":\"" PUB_KEY32 "\"}", 0, true, false},
    {"{\"current\":\"" PUB_KEY32 "\",\"previous\":\"" PUB_KEY32
     "\",\"transition_expires\":\"0001-01-01T00:00:00Z\"}",
     0, true, false},
    {"{}", -EINVAL, false, false},
    {"{\"current\":null}", -EINVAL, false, false},
    {"{\"current\":\"VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8b==\"}", -EINVAL, false, false},
    {"{\"current\":\"VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ\"}", -EINVAL, false, false},
    {"{\"current\":42}", -EINVAL, false, false},
    {"{\"current\":\"" PUB_KEY32 "\",\"previous\":\"x\"}", -EINVAL, false, false},
    {"{\"current\":\"" PUB_KEY32 "\",\"transition_expires\":\"2025-01-16 10:30:00Z\"}", -EINVAL,
     false, false},
    {"[]", -EINVAL, false, false},
};

static void test_signing_keys_json(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(keys_json_cases); i++) {
		json_t *j = json_loads(keys_json_cases[i].json, 0, NULL), *out;
		struct signing_keys k, k2;
		char err[128] = "";
		int r;

		assert_non_null(j);
		r = signing_keys_from_json(j, &k, err, sizeof(err));
		assert_int_equal(r, keys_json_cases[i].want);
		if (r < 0) {
			assert_true(err[0] != 0);
			json_decref(j);
			continue;
		}
		assert_int_equal(k.has_previous, keys_json_cases[i].has_previous);
		assert_int_equal(k.has_expiry, keys_json_cases[i].has_expiry);
		/* Round trip through to_json. */
		out = signing_keys_to_json(&k);
		assert_non_null(out);
		assert_int_equal(signing_keys_from_json(out, &k2, err, sizeof(err)), 0);
		assert_true(signing_keys_equal(&k, &k2));
		assert_string_equal(json_string_value(json_object_get(out, "current")), PUB_KEY32);
		json_decref(out);
		json_decref(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wg_public),
	    cmocka_unit_test(test_wg_generate_clamped),
	    cmocka_unit_test(test_ed25519_vector),
	    cmocka_unit_test(test_ed25519_mutations),
	    cmocka_unit_test(test_ed25519_roundtrip),
	    cmocka_unit_test(test_aes_gcm_vector),
	    cmocka_unit_test(test_aes_gcm_tamper),
	    cmocka_unit_test(test_aes_gcm_empty),
	    cmocka_unit_test(test_sha256),
	    cmocka_unit_test(test_sha256_file_large),
	    cmocka_unit_test(test_memeq),
	    cmocka_unit_test(test_signing_keys_verify),
	    cmocka_unit_test(test_signing_keys_expire_equal),
	    cmocka_unit_test(test_signing_keys_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
