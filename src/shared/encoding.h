/* Base64 (RFC 4648 §4 strict, and §5 base64url without padding) and lowercase hex. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Returns a malloc'd NUL-terminated string through *ret. 0 or -ENOMEM. */
int base64_encode(const void *data, size_t len, char **ret);
/* Strict decoding: standard alphabet, '=' padding required, no whitespace, canonical trailing
 * bits. *ret is malloc'd (NUL-terminated for convenience, not counted in *ret_len).
 * -EINVAL on malformed input, -ENOMEM. */
int base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len);
/* Decodes into a caller buffer; fails with -EINVAL unless the result is exactly n bytes. */
int base64_decode_exact(const char *s, size_t len, uint8_t *out, size_t n);
/* key32: base64 of exactly 32 bytes (44 characters). */
int key32_parse(const char *s, uint8_t out[32]);
/* Writes the 44-char key32 form plus NUL into out[45]. */
void key32_format(const uint8_t key[32], char out[45]);

int base64url_encode(const void *data, size_t len, char **ret);
/* Unpadded base64url; rejects '=' and characters outside the URL-safe alphabet. */
int base64url_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len);

/* Value of one hex digit of either case, or -1. */
int hex_digit_value(char c);

/* Lowercase hex into out (2*len+1 bytes). */
void hex_encode_to(const void *data, size_t len, char *out);
int hex_encode(const void *data, size_t len, char **ret);
/* Accepts upper and lower case; -EINVAL on odd length or non-hex. */
int hex_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len);
int hex_decode_exact(const char *s, size_t len, uint8_t *out, size_t n);
