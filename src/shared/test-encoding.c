/* Unit tests for encoding.c: RFC 4648 §10 vectors, strictness of the decoders, key32 and hex. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "shared/encoding.h"
#include "shared/macro.h"

/* RFC 4648 §10 plus binary cases that exercise '+', '/', '-' and '_'. */
static const struct {
	const char *raw;
	size_t raw_len;
	const char *b64;
	const char *b64url;
	const char *hex;
} vectors[] = {
	{ "", 0, "", "", "" },
	{ "f", 1, "Zg==", "Zg", "66" },
	{ "fo", 2, "Zm8=", "Zm8", "666f" },
	{ "foo", 3, "Zm9v", "Zm9v", "666f6f" },
	{ "foob", 4, "Zm9vYg==", "Zm9vYg", "666f6f62" },
	{ "fooba", 5, "Zm9vYmE=", "Zm9vYmE", "666f6f6261" },
	{ "foobar", 6, "Zm9vYmFy", "Zm9vYmFy", "666f6f626172" },
	{ "\xfb\xff", 2, "+/8=", "-_8", "fbff" },
	{ "\xfb\xef\xbe", 3, "++++", "----", "fbefbe" },
	{ "\xff\xff\xff", 3, "////", "____", "ffffff" },
	{ "\x00\x00\x00\x00", 4, "AAAAAA==", "AAAAAA", "00000000" },
};

static void test_base64_vectors(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
		_cleanup_free_ char *enc = NULL, *encu = NULL, *hex = NULL;
		_cleanup_free_ uint8_t *dec = NULL, *decu = NULL, *dech = NULL;
		size_t n;

		assert_int_equal(base64_encode(vectors[i].raw, vectors[i].raw_len, &enc), 0);
		assert_string_equal(enc, vectors[i].b64);
		assert_int_equal(base64url_encode(vectors[i].raw, vectors[i].raw_len, &encu), 0);
		assert_string_equal(encu, vectors[i].b64url);
		assert_int_equal(hex_encode(vectors[i].raw, vectors[i].raw_len, &hex), 0);
		assert_string_equal(hex, vectors[i].hex);

		assert_int_equal(base64_decode(vectors[i].b64, strlen(vectors[i].b64), &dec, &n), 0);
		assert_int_equal(n, vectors[i].raw_len);
		assert_memory_equal(dec, vectors[i].raw, n + (n == 0));
		assert_int_equal(dec[n], 0);

		assert_int_equal(base64url_decode(vectors[i].b64url, strlen(vectors[i].b64url), &decu, &n), 0);
		assert_int_equal(n, vectors[i].raw_len);
		assert_memory_equal(decu, vectors[i].raw, n + (n == 0));

		assert_int_equal(hex_decode(vectors[i].hex, strlen(vectors[i].hex), &dech, &n), 0);
		assert_int_equal(n, vectors[i].raw_len);
		assert_memory_equal(dech, vectors[i].raw, n + (n == 0));
	}
}

static void test_base64_reject(void **state)
{
	static const char *const bad[] = {
		"Zg",		/* missing padding */
		"Zg=",		/* short padding */
		"Zm8",		/* missing padding */
		"Zh==",		/* non-canonical: low 4 bits set */
		"Zm9=",		/* non-canonical: low 2 bits set */
		"Zm9v\n",	/* line break */
		"Zm9v\r\n",
		" Zm9v",	/* whitespace */
		"Zm 9v",
		"Zm9vYg== ",
		"Zg==Zg==",	/* padding in the middle */
		"Z===",
		"====",
		"=Zm9",
		"Zm=v",
		"-_8=",		/* URL alphabet in standard base64 */
		"Zm9v-A==",
		"Zm9vYmE*",
		"\xc3\xa9\xc3\xa9",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		uint8_t *out = NULL;
		size_t n = 12345;
		assert_int_equal(base64_decode(bad[i], strlen(bad[i]), &out, &n), -EINVAL);
		assert_null(out);
		assert_int_equal(n, 12345);
	}
	/* An embedded NUL inside the given length is not part of the alphabet. */
	uint8_t *out = NULL;
	size_t n;
	assert_int_equal(base64_decode("Zm\0v", 4, &out, &n), -EINVAL);
}

static void test_base64url_reject(void **state)
{
	static const char *const bad[] = {
		"Zg==",	  /* padding not allowed */
		"Zg=",
		"Zm8=",
		"Z",	  /* impossible length */
		"Zm9vY",
		"Zh",	  /* non-canonical */
		"Zm9",	  /* non-canonical */
		"+/8",	  /* standard alphabet */
		"Zm9v YQ",
		"Zm9v\n",
		"Zm9v.",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		uint8_t *out = NULL;
		size_t n;
		assert_int_equal(base64url_decode(bad[i], strlen(bad[i]), &out, &n), -EINVAL);
		assert_null(out);
	}
}

/* key32 vectors from control-plane-api.md §1.2 and §6.7. */
static void test_key32(void **state)
{
	static const char pub_b64[] = "VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ=";
	static const uint8_t pub[32] = {
		0x54, 0x92, 0x26, 0xaa, 0x94, 0xcb, 0x24, 0x35, 0x4c, 0x08, 0xd4,
		0xde, 0xeb, 0xc9, 0x76, 0x02, 0x6a, 0x7a, 0x42, 0xcc, 0xb0, 0x84,
		0x73, 0xbf, 0x6b, 0xf2, 0x8f, 0xa9, 0x51, 0xc1, 0xf1, 0xb4,
	};
	uint8_t key[32];
	char out[45];

	assert_int_equal(key32_parse(pub_b64, key), 0);
	assert_memory_equal(key, pub, 32);
	key32_format(pub, out);
	assert_string_equal(out, pub_b64);

	assert_int_equal(key32_parse("VvIv3Flgc+aaBq2gpLRGHZKTKe/Ol15jnF8TnwgPRj8=", key), 0);
	key32_format(key, out);
	assert_string_equal(out, "VvIv3Flgc+aaBq2gpLRGHZKTKe/Ol15jnF8TnwgPRj8=");

	static const char *const bad[] = {
		"VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bR=", /* mutated: non-canonical */
		"VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ",	/* no padding */
		"VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8b==", /* 31 bytes */
		"VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ=\n",
		"VJImqpTLJDVMCNTe68l2Amp6QsywhHO_a_KPqVHB8bQ=", /* base64url alphabet */
		"Zm9v",
		"",
		"Fd5PAlen5BJkY4YHwnHB0rOGVrs/mH13KnEOZRjDTFpmdAh7OWs3bbhAxqL8ZZHegPxWWVCQ8uL/mozSnwtiCA==",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		memset(key, 0xaa, sizeof key);
		assert_int_equal(key32_parse(bad[i], key), -EINVAL);
		for (size_t j = 0; j < 32; j++)
			assert_int_equal(key[j], 0xaa); /* untouched on failure */
	}
	assert_int_equal(key32_parse(NULL, key), -EINVAL);
}

/* The §6.7 signature: 88 characters decode to exactly 64 bytes. */
static void test_base64_decode_exact(void **state)
{
	static const char sig_b64[] =
		"Fd5PAlen5BJkY4YHwnHB0rOGVrs/mH13KnEOZRjDTFpmdAh7OWs3bbhAxqL8ZZHegPxWWVCQ8uL/mozSnwtiCA==";
	static const char sig_hex[] = "15de4f0257a7e41264638607c271c1d2b38656bb3f987d772a710e6518c34c5a"
				      "6674087b396b376db840c6a2fc6591de80fc56595090f2e2ff9a8cd29f0b6208";
	uint8_t sig[64], want[64], big[300];

	assert_int_equal(hex_decode_exact(sig_hex, strlen(sig_hex), want, 64), 0);
	assert_int_equal(base64_decode_exact(sig_b64, strlen(sig_b64), sig, 64), 0);
	assert_memory_equal(sig, want, 64);
	assert_int_equal(base64_decode_exact(sig_b64, strlen(sig_b64), sig, 63), -EINVAL);
	assert_int_equal(base64_decode_exact(sig_b64, strlen(sig_b64), sig, 65), -EINVAL);
	assert_int_equal(base64_decode_exact(sig_b64, strlen(sig_b64) - 2, sig, 64), -EINVAL);

	/* Large buffers take the heap path. */
	_cleanup_free_ char *enc = NULL;
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(base64_encode(big, sizeof big, &enc), 0);
	uint8_t back[300];
	assert_int_equal(base64_decode_exact(enc, strlen(enc), back, sizeof back), 0);
	assert_memory_equal(back, big, sizeof big);
	assert_int_equal(base64_decode_exact(enc, strlen(enc), back, sizeof back - 1), -EINVAL);
}

static void test_hex(void **state)
{
	uint8_t out[4];
	uint8_t *buf = NULL;
	size_t n;
	char s[9];

	assert_int_equal(hex_decode_exact("DEADbeef", 8, out, 4), 0);
	assert_int_equal(out[0], 0xde);
	assert_int_equal(out[3], 0xef);
	hex_encode_to(out, 4, s);
	assert_string_equal(s, "deadbeef");

	static const char *const bad[] = { "dea", "deadbeeg", "de ad", "0x12", "dead\n", "zz" };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_int_equal(hex_decode(bad[i], strlen(bad[i]), &buf, &n), -EINVAL);
	assert_null(buf);
	memset(out, 0x55, sizeof out);
	assert_int_equal(hex_decode_exact("deadbeeg", 8, out, 4), -EINVAL);
	assert_int_equal(out[0], 0x55);
	assert_int_equal(hex_decode_exact("deadbe", 6, out, 4), -EINVAL);

	/* Every byte value: exactly 0-9, a-f and A-F are digits (the neighbours '/', ':', '@',
	 * 'G', '`', 'g' and bytes >= 0x80 are not). */
	for (int c = 0; c < 256; c++) {
		int want = c >= '0' && c <= '9' ? c - '0' :
			   c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			   c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		assert_int_equal(hex_digit_value((char)c), want);
	}
}

/* Round trip of every length 0..64 through all three codecs. */
static void test_roundtrip(void **state)
{
	uint8_t data[64];

	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(0xff - i * 13);
	for (size_t len = 0; len <= sizeof data; len++) {
		_cleanup_free_ char *a = NULL, *b = NULL;
		_cleanup_free_ uint8_t *x = NULL, *y = NULL;
		size_t nx, ny;

		assert_int_equal(base64_encode(data, len, &a), 0);
		assert_int_equal(strlen(a), (len + 2) / 3 * 4);
		assert_int_equal(base64_decode(a, strlen(a), &x, &nx), 0);
		assert_int_equal(nx, len);
		assert_true(len == 0 || memcmp(x, data, len) == 0);
		assert_int_equal(base64url_encode(data, len, &b), 0);
		assert_null(strchr(b, '='));
		assert_int_equal(base64url_decode(b, strlen(b), &y, &ny), 0);
		assert_int_equal(ny, len);
		assert_true(len == 0 || memcmp(y, data, len) == 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_vectors),	  cmocka_unit_test(test_base64_reject),
		cmocka_unit_test(test_base64url_reject),  cmocka_unit_test(test_key32),
		cmocka_unit_test(test_base64_decode_exact), cmocka_unit_test(test_hex),
		cmocka_unit_test(test_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
