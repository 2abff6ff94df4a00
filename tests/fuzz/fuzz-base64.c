/* libFuzzer harness for src/shared/encoding: strict base64/base64url/hex decoding must be the
 * exact inverse of encoding (decode→encode reproduces the input; encode→decode the data). */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/encoding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

typedef int (*decode_fn)(const char *s, size_t len, uint8_t **ret, size_t *ret_len);
typedef int (*encode_fn)(const void *data, size_t len, char **ret);

/* The input as text: a successful decode re-encodes to exactly the input (strictness means
 * there is one encoding per byte string). */
static void check_decode(decode_fn dec, encode_fn enc, const char *s, size_t len)
{
	uint8_t *out = NULL;
	size_t out_len = 0;
	char *back = NULL;
	int r;

	r = dec(s, len, &out, &out_len);
	CHECK(r == 0 || r == -EINVAL);
	if (r < 0) {
		CHECK(!out);
		return;
	}
	CHECK(out);
	CHECK(enc(out, out_len, &back) == 0);
	CHECK(strlen(back) == len && memcmp(back, s, len) == 0);
	free(back);
	free(out);
}

/* The input as data: encode then decode gives it back. */
static void check_encode(decode_fn dec, encode_fn enc, const uint8_t *data, size_t size)
{
	uint8_t *out = NULL;
	size_t out_len = 0;
	char *text = NULL;

	CHECK(enc(data, size, &text) == 0);
	CHECK(dec(text, strlen(text), &out, &out_len) == 0);
	CHECK(out_len == size && (size == 0 || memcmp(out, data, size) == 0));
	free(out);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	uint8_t *out = NULL, exact[64];
	size_t out_len = 0;
	char *text = NULL;

	if (size > 16384)
		return 0;

	check_decode(base64_decode, base64_encode, s, size);
	check_decode(base64url_decode, base64url_encode, s, size);
	check_encode(base64_decode, base64_encode, data, size);
	check_encode(base64url_decode, base64url_encode, data, size);

	/* decode_exact agrees with decode on both success and length. */
	if (base64_decode(s, size, &out, &out_len) == 0) {
		if (out_len <= sizeof(exact)) {
			CHECK(base64_decode_exact(s, size, exact, out_len) == 0);
			CHECK(out_len == 0 || memcmp(exact, out, out_len) == 0);
		}
		CHECK(base64_decode_exact(s, size, exact, out_len == 0 ? 1 : out_len - 1) == -EINVAL);
		free(out);
	} else
		CHECK(base64_decode_exact(s, size, exact, sizeof(exact)) == -EINVAL);

	/* key32: the input as a C string. */
	{
		char *str = strndup(s, size), formatted[45];
		uint8_t key[32];

		CHECK(str);
		if (key32_parse(str, key) == 0) {
			key32_format(key, formatted);
			CHECK(strcmp(formatted, str) == 0);
		}
		free(str);
	}

	/* hex: case-insensitive decoding, lowercase encoding. */
	out = NULL;
	if (hex_decode(s, size, &out, &out_len) == 0) {
		CHECK(out_len * 2 == size);
		CHECK(hex_encode(out, out_len, &text) == 0);
		for (size_t i = 0; i < size; i++)
			CHECK(text[i] == tolower((unsigned char)s[i]));
		free(text);
		free(out);
	}
	CHECK(hex_encode(data, size, &text) == 0);
	CHECK(hex_decode(text, strlen(text), &out, &out_len) == 0);
	CHECK(out_len == size && (size == 0 || memcmp(out, data, size) == 0));
	free(out);
	free(text);
	return 0;
}
