/* Base64 (RFC 4648 §4 strict and §5 unpadded base64url) and hex. Decoders are strict so that
 * every accepted string has exactly one byte sequence and vice versa (signatures, keys). */
#include <stdlib.h>

#include "shared/encoding.h"
#include "shared/macro.h"

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_value(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static int b64_encode_common(const void *data, size_t len, bool url, char **ret)
{
	const uint8_t *in = data;
	const char *alpha = url ? b64_url : b64_std;
	size_t olen, i;
	char *out, *p;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return -ENOMEM;
	olen = url ? len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0) : (len + 2) / 3 * 4;
	out = malloc(olen + 1);
	if (!out)
		return -ENOMEM;

	p = out;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*p++ = alpha[v >> 18 & 63];
		*p++ = alpha[v >> 12 & 63];
		*p++ = alpha[v >> 6 & 63];
		*p++ = alpha[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*p++ = alpha[v >> 18 & 63];
		*p++ = alpha[v >> 12 & 63];
		if (!url) {
			*p++ = '=';
			*p++ = '=';
		}
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*p++ = alpha[v >> 18 & 63];
		*p++ = alpha[v >> 12 & 63];
		*p++ = alpha[v >> 6 & 63];
		if (!url)
			*p++ = '=';
	}
	*p = '\0';
	*ret = out;
	return 0;
}

int base64_encode(const void *data, size_t len, char **ret)
{
	return b64_encode_common(data, len, false, ret);
}

int base64url_encode(const void *data, size_t len, char **ret)
{
	return b64_encode_common(data, len, true, ret);
}

/* Decodes s[0..len) into out (which must hold len/4*3+2 bytes). Padded form: len % 4 == 0
 * and '=' only as the last one or two characters. Unpadded: no '=' at all, len % 4 != 1.
 * In both, the bits below the last full byte must be zero (canonical encoding). */
static int b64_decode_into(const char *s, size_t len, bool url, uint8_t *out, size_t *ret_len)
{
	size_t pad = 0, n, o = 0, i;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (!url) {
		if (len % 4 != 0)
			return -EINVAL;
		if (len >= 1 && s[len - 1] == '=')
			pad++;
		if (len >= 2 && s[len - 2] == '=')
			pad++;
	} else if (len % 4 == 1)
		return -EINVAL;
	n = len - pad;

	for (i = 0; i < n; i++) {
		int v = b64_value(s[i], url);
		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1U << bits) - 1;
		}
	}
	/* Leftover bits (2 or 4) belong to no byte; a canonical encoder writes them as zero. */
	if (acc != 0)
		return -EINVAL;
	*ret_len = o;
	return 0;
}

static int b64_decode_common(const char *s, size_t len, bool url, uint8_t **ret, size_t *ret_len)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t n;
	int r;

	if (!s && len > 0)
		return -EINVAL;
	buf = malloc(len / 4 * 3 + 3);
	if (!buf)
		return -ENOMEM;
	r = b64_decode_into(s, len, url, buf, &n);
	if (r < 0) {
		explicit_bzero(buf, len / 4 * 3 + 3);
		return r;
	}
	buf[n] = 0;
	*ret = TAKE_PTR(buf);
	*ret_len = n;
	return 0;
}

int base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
	return b64_decode_common(s, len, false, ret, ret_len);
}

int base64url_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
	return b64_decode_common(s, len, true, ret, ret_len);
}

int base64_decode_exact(const char *s, size_t len, uint8_t *out, size_t n)
{
	uint8_t tmp[258];
	size_t got;
	int r;

	/* Decoding straight into out could leave partial key material on failure; the expected
	 * length pins the encoded length, so a small stack buffer covers every key-sized use. */
	if (!s || len != (n + 2) / 3 * 4)
		return -EINVAL;
	if (n > sizeof tmp - 3) {
		_cleanup_free_ uint8_t *buf = NULL;
		r = base64_decode(s, len, &buf, &got);
		if (r < 0)
			return r;
		if (got != n) {
			explicit_bzero(buf, got);
			return -EINVAL;
		}
		memcpy(out, buf, n);
		explicit_bzero(buf, n);
		return 0;
	}
	r = b64_decode_into(s, len, false, tmp, &got);
	if (r >= 0 && got != n)
		r = -EINVAL;
	if (r >= 0)
		memcpy(out, tmp, n);
	explicit_bzero(tmp, sizeof tmp);
	return r;
}

int key32_parse(const char *s, uint8_t out[32])
{
	if (!s)
		return -EINVAL;
	return base64_decode_exact(s, strlen(s), out, 32);
}

void key32_format(const uint8_t key[32], char out[45])
{
	size_t i, o = 0;

	for (i = 0; i + 2 < 32; i += 3) {
		uint32_t v = (uint32_t)key[i] << 16 | (uint32_t)key[i + 1] << 8 | key[i + 2];
		out[o++] = b64_std[v >> 18 & 63];
		out[o++] = b64_std[v >> 12 & 63];
		out[o++] = b64_std[v >> 6 & 63];
		out[o++] = b64_std[v & 63];
	}
	/* 32 = 10 * 3 + 2: one final group of two bytes, one '='. */
	uint32_t v = (uint32_t)key[30] << 16 | (uint32_t)key[31] << 8;
	out[o++] = b64_std[v >> 18 & 63];
	out[o++] = b64_std[v >> 12 & 63];
	out[o++] = b64_std[v >> 6 & 63];
	out[o++] = '=';
	out[o] = '\0';
}

void hex_encode_to(const void *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *in = data;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int hex_encode(const void *data, size_t len, char **ret)
{
	char *out;

	if (len > (SIZE_MAX - 1) / 2)
		return -ENOMEM;
	out = malloc(2 * len + 1);
	if (!out)
		return -ENOMEM;
	hex_encode_to(data, len, out);
	*ret = out;
	return 0;
}

int hex_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex_decode_into(const char *s, size_t len, uint8_t *out)
{
	if (len % 2 != 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hex_digit_value(s[i]), lo = hex_digit_value(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int hex_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
	_cleanup_free_ uint8_t *buf = NULL;
	int r;

	if (!s && len > 0)
		return -EINVAL;
	buf = malloc(len / 2 + 1);
	if (!buf)
		return -ENOMEM;
	r = hex_decode_into(s, len, buf);
	if (r < 0)
		return r;
	buf[len / 2] = 0;
	*ret = TAKE_PTR(buf);
	*ret_len = len / 2;
	return 0;
}

int hex_decode_exact(const char *s, size_t len, uint8_t *out, size_t n)
{
	if (!s || n > SIZE_MAX / 2 || len != 2 * n)
		return -EINVAL;
	/* Validate before writing so that out is untouched on failure. */
	for (size_t i = 0; i < len; i++)
		if (hex_digit_value(s[i]) < 0)
			return -EINVAL;
	return hex_decode_into(s, len, out);
}
