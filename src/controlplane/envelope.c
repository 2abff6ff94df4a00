/* Signed event envelope (control-plane-api.md §6): exact JSON scanning of the received bytes,
 * PAYLOAD/TIME/SI construction (§6.3), verification in the order of §6.4, signing (§6.5). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/envelope.h"
#include "controlplane/nonce-store.h"
#include "crypto/crypto.h"
#include "crypto/signing-keys.h"
#include "shared/encoding.h"
#include "shared/macro.h"
#include "shared/wire.h"

/* ---- JSON scanner ------------------------------------------------------------------------ */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *d, size_t len, size_t pos)
{
	while (pos < len && is_ws(d[pos]))
		pos++;
	return pos;
}

/* Four hex digits at d[pos]; -1 when absent or malformed. */
static int32_t read_hex4(const char *d, size_t len, size_t pos)
{
	int32_t v = 0;

	if (len < 4 || pos > len - 4)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		int h = hex_digit_value(d[pos + i]);
		if (h < 0)
			return -1;
		v = (v << 4) | h;
	}
	return v;
}

/* Length of the well-formed UTF-8 sequence at d[pos] whose lead byte is >= 0x80, or 0
 * (overlong forms, UTF-16 surrogates and code points above U+10FFFF are refused). */
static size_t utf8_seq_len(const unsigned char *d, size_t len, size_t pos)
{
	unsigned char c = d[pos], lo = 0x80, hi = 0xBF;
	size_t n;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;

	if (len - pos < n)
		return 0;
	if (d[pos + 1] < lo || d[pos + 1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (d[pos + i] < 0x80 || d[pos + i] > 0xBF)
			return 0;
	return n;
}

/* Decodes the \u escape (and its low-surrogate partner) at d[pos] == '\\', d[pos+1] == 'u'.
 * Returns the number of input bytes consumed (6 or 12) and the code point, or 0. */
static size_t decode_u_escape(const char *d, size_t len, size_t pos, uint32_t *ret_cp)
{
	int32_t hi, lo;

	hi = read_hex4(d, len, pos + 2);
	if (hi < 0)
		return 0;
	if (hi >= 0xDC00 && hi <= 0xDFFF)
		return 0; /* lone low surrogate */
	if (hi < 0xD800 || hi > 0xDBFF) {
		*ret_cp = (uint32_t)hi;
		return 6;
	}
	if (len - pos < 12 || d[pos + 6] != '\\' || d[pos + 7] != 'u')
		return 0;
	lo = read_hex4(d, len, pos + 8);
	if (lo < 0xDC00 || lo > 0xDFFF)
		return 0;
	*ret_cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
	return 12;
}

/* String token starting at d[*pos] == '"'; on success *pos is just past the closing quote. */
static int scan_string(const char *d, size_t len, size_t *pos)
{
	const unsigned char *u = (const unsigned char *)d;
	size_t p = *pos;

	if (p >= len || d[p] != '"')
		return -EINVAL;
	p++;
	for (;;) {
		if (p >= len)
			return -EINVAL;
		unsigned char c = u[p];
		if (c == '"') {
			*pos = p + 1;
			return 0;
		}
		if (c < 0x20)
			return -EINVAL;
		if (c == '\\') {
			if (p + 1 >= len)
				return -EINVAL;
			switch (d[p + 1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				p += 2;
				break;
			case 'u': {
				uint32_t cp;
				size_t n = decode_u_escape(d, len, p, &cp);
				if (n == 0)
					return -EINVAL;
				p += n;
				break;
			}
			default:
				return -EINVAL;
			}
			continue;
		}
		if (c >= 0x80) {
			size_t n = utf8_seq_len(u, len, p);
			if (n == 0)
				return -EINVAL;
			p += n;
			continue;
		}
		p++;
	}
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(const char *d, size_t len, size_t *pos)
{
	size_t p = *pos;

	if (p < len && d[p] == '-')
		p++;
	if (p >= len || !is_digit(d[p]))
		return -EINVAL;
	if (d[p] == '0')
		p++;
	else
		while (p < len && is_digit(d[p]))
			p++;
	if (p < len && d[p] == '.') {
		p++;
		if (p >= len || !is_digit(d[p]))
			return -EINVAL;
		while (p < len && is_digit(d[p]))
			p++;
	}
	if (p < len && (d[p] == 'e' || d[p] == 'E')) {
		p++;
		if (p < len && (d[p] == '+' || d[p] == '-'))
			p++;
		if (p >= len || !is_digit(d[p]))
			return -EINVAL;
		while (p < len && is_digit(d[p]))
			p++;
	}
	*pos = p;
	return 0;
}

static int scan_literal(const char *d, size_t len, size_t *pos, const char *lit, size_t n)
{
	if (len - *pos < n || memcmp(d + *pos, lit, n) != 0)
		return -EINVAL;
	*pos += n;
	return 0;
}

/* A member name at d[*pos], then the colon; *pos ends on the value after it. */
static int scan_member_name(const char *d, size_t len, size_t *pos)
{
	size_t p = *pos;
	int r;

	r = scan_string(d, len, &p);
	if (r < 0)
		return r;
	p = skip_ws(d, len, p);
	if (p >= len || d[p] != ':')
		return -EINVAL;
	*pos = skip_ws(d, len, p + 1);
	return 0;
}

/* One value at d[*pos] (no leading whitespace), nested at most max_depth containers deep.
 * Iterative: the only state is a stack of container kinds, so hostile nesting costs nothing
 * beyond the fixed bound. */
static int scan_value(const char *d, size_t len, size_t *pos, unsigned max_depth,
		      enum json_scan_type *ret_type)
{
	char stack[JSON_SCAN_MAX_DEPTH];
	unsigned depth = 0;
	enum json_scan_type first = JSON_SCAN_NULL;
	bool have_first = false;
	size_t p = *pos;
	int r;

	if (max_depth > JSON_SCAN_MAX_DEPTH)
		max_depth = JSON_SCAN_MAX_DEPTH;

	for (;;) {
		enum json_scan_type t;

		/* Expecting a value at p. */
		if (p >= len)
			return -EINVAL;
		switch (d[p]) {
		case '{':
		case '[':
			if (depth >= max_depth)
				return -EINVAL;
			stack[depth++] = d[p];
			t = d[p] == '{' ? JSON_SCAN_OBJECT : JSON_SCAN_ARRAY;
			if (!have_first) {
				first = t;
				have_first = true;
			}
			p = skip_ws(d, len, p + 1);
			if (p < len && d[p] == (stack[depth - 1] == '{' ? '}' : ']')) {
				p++;
				depth--;
				r = 0;
				break; /* to "after a value" */
			}
			if (stack[depth - 1] == '{') {
				r = scan_member_name(d, len, &p);
				if (r < 0)
					return r;
			}
			continue; /* a value follows */
		case '"':
			t = JSON_SCAN_STRING;
			r = scan_string(d, len, &p);
			break;
		case 't':
			t = JSON_SCAN_TRUE;
			r = scan_literal(d, len, &p, "true", 4);
			break;
		case 'f':
			t = JSON_SCAN_FALSE;
			r = scan_literal(d, len, &p, "false", 5);
			break;
		case 'n':
			t = JSON_SCAN_NULL;
			r = scan_literal(d, len, &p, "null", 4);
			break;
		default:
			t = JSON_SCAN_NUMBER;
			r = scan_number(d, len, &p);
			break;
		}
		if (r < 0)
			return r;
		if (!have_first) {
			first = t;
			have_first = true;
		}

		/* After a value: close containers or move to the next element. */
		for (;;) {
			if (depth == 0) {
				*pos = p;
				if (ret_type)
					*ret_type = first;
				return 0;
			}
			p = skip_ws(d, len, p);
			if (p >= len)
				return -EINVAL;
			char close = stack[depth - 1] == '{' ? '}' : ']';
			if (d[p] == close) {
				p++;
				depth--;
				continue;
			}
			if (d[p] != ',')
				return -EINVAL;
			p = skip_ws(d, len, p + 1);
			if (stack[depth - 1] == '{') {
				r = scan_member_name(d, len, &p);
				if (r < 0)
					return r;
			}
			break; /* a value follows */
		}
	}
}

int json_validate(const char *data, size_t len)
{
	size_t p;
	int r;

	if (!data)
		return -EINVAL;
	p = skip_ws(data, len, 0);
	r = scan_value(data, len, &p, JSON_SCAN_MAX_DEPTH, NULL);
	if (r < 0)
		return r;
	return skip_ws(data, len, p) == len ? 0 : -EINVAL;
}

static void utf8_put(uint32_t cp, char *out, size_t size, size_t *n)
{
	unsigned char b[4];
	size_t k;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xC0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3F));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xE0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (unsigned char)(0x80 | (cp & 0x3F));
		k = 3;
	} else {
		b[0] = (unsigned char)(0xF0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (unsigned char)(0x80 | (cp & 0x3F));
		k = 4;
	}
	for (size_t i = 0; i < k; i++, (*n)++)
		if (size > 0 && *n < size - 1)
			out[*n] = (char)b[i];
}

int json_string_unescape(const char *s, size_t len, char *out, size_t size, size_t *ret_len)
{
	size_t end = 0, n = 0;

	/* Validate first, so the decoder below can trust the token's structure. */
	if (scan_string(s, len, &end) < 0 || end != len)
		return -EINVAL;

	for (size_t p = 1; p < len - 1;) {
		uint32_t cp;

		if (s[p] != '\\') {
			if (size > 0 && n < size - 1)
				out[n] = s[p];
			n++;
			p++;
			continue;
		}
		switch (s[p + 1]) {
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u': {
			size_t k = decode_u_escape(s, len, p, &cp);
			if (k == 0)
				return -EINVAL;
			utf8_put(cp, out, size, &n);
			p += k;
			continue;
		}
		default: /* " \ / */
			cp = (unsigned char)s[p + 1];
			break;
		}
		utf8_put(cp, out, size, &n);
		p += 2;
	}
	if (size > 0)
		out[MIN(n, size - 1)] = 0;
	*ret_len = n;
	return 0;
}

static int member_cmp(const void *a, const void *b)
{
	const struct json_member *x = *(const struct json_member *const *)a;
	const struct json_member *y = *(const struct json_member *const *)b;

	if (x->name_len != y->name_len)
		return x->name_len < y->name_len ? -1 : 1;
	return memcmp(x->name, y->name, x->name_len);
}

void json_scan_done(struct json_scan *s)
{
	if (!s)
		return;
	free(s->members);
	free(s->arena);
	*s = (struct json_scan){};
}

/* Sorting pointers keeps the duplicate check O(n log n) however many members a hostile
 * document carries. */
static int check_duplicates(const struct json_scan *s)
{
	_cleanup_free_ const struct json_member **v = NULL;

	if (s->n_members < 2)
		return 0;
	v = malloc(s->n_members * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_members; i++)
		v[i] = &s->members[i];
	qsort(v, s->n_members, sizeof(*v), member_cmp);
	for (size_t i = 1; i < s->n_members; i++)
		if (member_cmp(&v[i - 1], &v[i]) == 0)
			return -ENOTUNIQ;
	return 0;
}

int json_scan_object_members(const char *data, size_t len, struct json_scan *ret)
{
	struct json_scan s = {};
	size_t p, cap = 0, arena_used = 0;
	int r;

	*ret = (struct json_scan){};
	if (!data)
		return -EINVAL;

	p = skip_ws(data, len, 0);
	if (p >= len || data[p] != '{')
		return -EINVAL;
	/* Every unescaped name plus its NUL is no longer than its quoted token. */
	s.arena = malloc(len);
	if (!s.arena)
		return -ENOMEM;

	p = skip_ws(data, len, p + 1);
	if (p < len && data[p] == '}') {
		p++;
		goto done;
	}
	for (;;) {
		struct json_member m = {};
		size_t name_start = p, name_len;

		r = scan_string(data, len, &p);
		if (r < 0)
			goto fail;
		r = json_string_unescape(data + name_start, p - name_start, s.arena + arena_used,
					 len - arena_used, &name_len);
		if (r < 0)
			goto fail;
		m.name = s.arena + arena_used;
		m.name_len = name_len;
		arena_used += name_len + 1;

		p = skip_ws(data, len, p);
		if (p >= len || data[p] != ':') {
			r = -EINVAL;
			goto fail;
		}
		p = skip_ws(data, len, p + 1);
		m.value = data + p;
		/* The enclosing object counts against the depth bound. */
		r = scan_value(data, len, &p, JSON_SCAN_MAX_DEPTH - 1, &m.type);
		if (r < 0)
			goto fail;
		m.value_len = (size_t)(data + p - m.value);

		if (s.n_members == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct json_member *n = realloc(s.members, ncap * sizeof(*n));
			if (!n) {
				r = -ENOMEM;
				goto fail;
			}
			s.members = n;
			cap = ncap;
		}
		s.members[s.n_members++] = m;

		p = skip_ws(data, len, p);
		if (p >= len) {
			r = -EINVAL;
			goto fail;
		}
		if (data[p] == '}') {
			p++;
			break;
		}
		if (data[p] != ',') {
			r = -EINVAL;
			goto fail;
		}
		p = skip_ws(data, len, p + 1);
	}
done:
	if (skip_ws(data, len, p) != len) {
		r = -EINVAL;
		goto fail;
	}
	r = check_duplicates(&s);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	json_scan_done(&s);
	return r;
}

const struct json_member *json_scan_find(const struct json_scan *s, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < s->n_members; i++)
		if (s->members[i].name_len == n && memcmp(s->members[i].name, name, n) == 0)
			return &s->members[i];
	return NULL;
}

/* ---- PAYLOAD, TIME, SI ------------------------------------------------------------------- */

/* One pass of the §6.3 table. With out == NULL only counts; returns the output length. */
static size_t payload_transform(const char *p, size_t len, char *out)
{
	const unsigned char *u = (const unsigned char *)p;
	bool in_string = false;
	size_t n = 0;

#define EMIT(s, k)                                                                                 \
	do {                                                                                       \
		if (out)                                                                           \
			memcpy(out + n, (s), (k));                                                 \
		n += (k);                                                                          \
	} while (0)

	for (size_t i = 0; i < len; i++) {
		unsigned char c = u[i];

		if (!in_string) {
			if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
				continue;
			if (c == '"')
				in_string = true;
			EMIT(&p[i], 1);
			continue;
		}
		if (c == '\\') {
			/* Escapes are copied verbatim; the input is validated, so a byte follows.
			 */
			EMIT(&p[i], i + 1 < len ? 2 : 1);
			i++;
			continue;
		}
		if (c == '"') {
			in_string = false;
			EMIT(&p[i], 1);
		} else if (c == '<')
			EMIT("\\u003c", 6);
		else if (c == '>')
			EMIT("\\u003e", 6);
		else if (c == '&')
			EMIT("\\u0026", 6);
		else if (c == 0xE2 && i + 2 < len && u[i + 1] == 0x80 &&
			 (u[i + 2] == 0xA8 || u[i + 2] == 0xA9)) {
			EMIT(u[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
			i += 2;
		} else
			EMIT(&p[i], 1);
	}
#undef EMIT
	return n;
}

int envelope_canonical_payload(const char *p, size_t len, char **ret, size_t *ret_len)
{
	char *buf;
	size_t n;
	int r;

	if (!p) {
		buf = strdup("null");
		if (!buf)
			return -ENOMEM;
		*ret = buf;
		*ret_len = 4;
		return 0;
	}
	r = json_validate(p, len);
	if (r < 0)
		return r;
	n = payload_transform(p, len, NULL);
	buf = malloc(n + 1);
	if (!buf)
		return -ENOMEM;
	payload_transform(p, len, buf);
	buf[n] = 0;
	*ret = buf;
	*ret_len = n;
	return 0;
}

/* SI from already checked header-safe values and a canonical TIME string. */
static int build_si(const char *event_type, const char *event_id, const char *time,
		    const char *nonce, const char *payload, size_t payload_len, char **ret,
		    size_t *ret_len)
{
	_cleanup_free_ char *pl = NULL, *si = NULL;
	size_t pl_len, n;
	int r, k;

	r = envelope_canonical_payload(payload, payload_len, &pl, &pl_len);
	if (r < 0)
		return r;
	n = STRLEN("{\"event_type\":\"\",\"event_id\":\"\",\"issued_at\":\"\",\"nonce\":\"\","
		   "\"payload\":}") +
	    strlen(event_type) + strlen(event_id) + strlen(time) + strlen(nonce) + pl_len;
	si = malloc(n + 1);
	if (!si)
		return -ENOMEM;
	k = snprintf(si, n + 1,
		     "{\"event_type\":\"%s\",\"event_id\":\"%s\",\"issued_at\":\"%s\",\"nonce\":\"%"
		     "s\",\"payload\":",
		     event_type, event_id, time, nonce);
	if (k < 0 || (size_t)k + pl_len + 1 != n)
		return -EINVAL;
	memcpy(si + k, pl, pl_len);
	si[n - 1] = '}';
	si[n] = 0;
	*ret = TAKE_PTR(si);
	*ret_len = n;
	return 0;
}

int envelope_signing_input(const char *event_type, const char *event_id, const char *nonce,
			   const char *issued_at, const char *payload, size_t payload_len,
			   char **ret, size_t *ret_len)
{
	char time[RFC3339_MAX];
	int r;

	if (!event_type || !event_id || !nonce || !issued_at)
		return -EINVAL;
	if (!header_safe(event_type, strlen(event_type)) ||
	    !header_safe(event_id, strlen(event_id)) ||
	    !header_safe(nonce, strlen(nonce)))
		return -EINVAL;
	r = rfc3339_canonicalize(issued_at, strlen(issued_at), time, sizeof(time));
	if (r < 0)
		return r;
	return build_si(event_type, event_id, time, nonce, payload, payload_len, ret, ret_len);
}

int envelope_sign(const char *event_type, const char *event_id, const char *nonce,
		  const char *issued_at, const char *payload, size_t payload_len,
		  const uint8_t seed[32], char **ret, size_t *ret_len)
{
	_cleanup_free_ char *si = NULL, *b64 = NULL, *out = NULL;
	uint8_t sig[ED25519_SIG_LEN];
	size_t si_len, n;
	int r;

	r = envelope_signing_input(event_type, event_id, nonce, issued_at, payload, payload_len,
				   &si, &si_len);
	if (r < 0)
		return r;
	r = ed25519_sign(seed, si, si_len, sig);
	if (r < 0)
		return r;
	r = base64_encode(sig, sizeof(sig), &b64);
	if (r < 0)
		return r;
	/* SI without its final '}' + ,"signature":"<b64>"} */
	n = si_len - 1 + STRLEN(",\"signature\":\"\"}") + strlen(b64);
	out = malloc(n + 1);
	if (!out)
		return -ENOMEM;
	memcpy(out, si, si_len - 1);
	snprintf(out + si_len - 1, n + 1 - (si_len - 1), ",\"signature\":\"%s\"}", b64);
	*ret = TAKE_PTR(out);
	if (ret_len)
		*ret_len = n;
	return 0;
}

/* ---- Verification (§6.4) ----------------------------------------------------------------- */

static const char *const reject_table[_ENVELOPE_REJECT_MAX] = {
    [ENVELOPE_REJECT_MALFORMED] = "malformed",
    [ENVELOPE_REJECT_MISSING_FIELD] = "missing_field",
    [ENVELOPE_REJECT_NOT_HEADER_SAFE] = "not_header_safe",
    [ENVELOPE_REJECT_BAD_ID] = "bad_id",
    [ENVELOPE_REJECT_STALE] = "stale",
    [ENVELOPE_REJECT_FUTURE] = "future",
    [ENVELOPE_REJECT_BAD_SIGNATURE_ENCODING] = "bad_signature_encoding",
    [ENVELOPE_REJECT_BAD_SIGNATURE] = "bad_signature",
    [ENVELOPE_REJECT_REPLAY] = "replay",
    [ENVELOPE_REJECT_NONCE_STORE_FULL] = "nonce_store_full",
};

const char *envelope_reject_to_string(enum envelope_reject r)
{
	if ((unsigned)r >= _ENVELOPE_REJECT_MAX)
		return NULL;
	return reject_table[r];
}

enum field_state {
	FIELD_OK,
	FIELD_ABSENT, /* absent, null or "" */
	FIELD_BAD_TYPE,
};

/* A string member, unescaped into a malloc'd buffer sized from its token, so every later
 * check sees the complete value however long it is. */
static int get_field(const struct json_scan *s, const char *name, char **ret, size_t *ret_len,
		     enum field_state *ret_state)
{
	const struct json_member *m = json_scan_find(s, name);
	char *buf;

	*ret_len = 0;
	if (!m || m->type == JSON_SCAN_NULL) {
		*ret_state = FIELD_ABSENT;
		return 0;
	}
	if (m->type != JSON_SCAN_STRING) {
		*ret_state = FIELD_BAD_TYPE;
		return 0;
	}
	buf = malloc(m->value_len);
	if (!buf)
		return -ENOMEM;
	if (json_string_unescape(m->value, m->value_len, buf, m->value_len, ret_len) < 0) {
		free(buf); /* cannot happen: the scanner validated the token */
		*ret_state = FIELD_BAD_TYPE;
		return 0;
	}
	*ret = buf;
	*ret_state = *ret_len == 0 ? FIELD_ABSENT : FIELD_OK;
	return 0;
}

/* Signed difference a - b > limit seconds, without overflow for any year 0001–9999. */
static bool later_by_more_than(struct timestamp a, struct timestamp b, int64_t limit_sec)
{
	int64_t ds = a.sec - b.sec, dn = (int64_t)a.nsec - (int64_t)b.nsec;

	if (dn < 0) {
		ds--;
		dn += NSEC_PER_SEC;
	}
	return ds > limit_sec || (ds == limit_sec && dn > 0);
}

#define REJECT(reason)                                                                             \
	do {                                                                                       \
		*ret_reason = (reason);                                                            \
		r = -EBADMSG;                                                                      \
		goto out;                                                                          \
	} while (0)

int envelope_verify(const char *data, size_t len, const struct signing_keys *keys,
		    struct nonce_store *ns, struct timestamp now, struct envelope *ret,
		    enum envelope_reject *ret_reason)
{
	struct json_scan s = {};
	struct envelope e = {};
	char time[RFC3339_MAX];
	_cleanup_free_ char *et = NULL, *id = NULL, *nonce = NULL, *sig_b64 = NULL, *issued = NULL,
			    *si = NULL;
	size_t et_len, id_len, nonce_len, sig_len, issued_len, si_len;
	uint8_t sig[ED25519_SIG_LEN];
	const struct json_member *m;
	enum field_state fs[3];
	int r;

	/* 1. A JSON object without duplicate top-level members; event_type and event_id. */
	r = json_scan_object_members(data, len, &s);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		REJECT(ENVELOPE_REJECT_MALFORMED);
	if ((r = get_field(&s, "event_type", &et, &et_len, &fs[0])) < 0 ||
	    (r = get_field(&s, "event_id", &id, &id_len, &fs[1])) < 0)
		goto out;
	if (fs[0] == FIELD_BAD_TYPE || fs[1] == FIELD_BAD_TYPE)
		REJECT(ENVELOPE_REJECT_MALFORMED);
	if (fs[0] == FIELD_ABSENT || fs[1] == FIELD_ABSENT)
		REJECT(ENVELOPE_REJECT_MISSING_FIELD);

	/* 2. signature, nonce, issued_at (not the unset value). */
	if ((r = get_field(&s, "signature", &sig_b64, &sig_len, &fs[0])) < 0 ||
	    (r = get_field(&s, "nonce", &nonce, &nonce_len, &fs[1])) < 0 ||
	    (r = get_field(&s, "issued_at", &issued, &issued_len, &fs[2])) < 0)
		goto out;
	if (fs[0] == FIELD_BAD_TYPE || fs[1] == FIELD_BAD_TYPE || fs[2] == FIELD_BAD_TYPE)
		REJECT(ENVELOPE_REJECT_MALFORMED);
	if (fs[0] == FIELD_ABSENT || fs[1] == FIELD_ABSENT || fs[2] == FIELD_ABSENT)
		REJECT(ENVELOPE_REJECT_MISSING_FIELD);
	if (rfc3339_parse(issued, issued_len, &e.issued_at) < 0 ||
	    rfc3339_canonicalize(issued, issued_len, time, sizeof(time)) < 0)
		REJECT(ENVELOPE_REJECT_MALFORMED);
	if (timestamp_is_unset(e.issued_at))
		REJECT(ENVELOPE_REJECT_MISSING_FIELD);

	/* 3. Header-safe strings, event_id in id format. event_type and nonce beyond their
	 * §6.1 length limits count as not header-safe. */
	if (et_len > ENVELOPE_EVENT_TYPE_MAX || !header_safe(et, et_len) ||
	    !header_safe(id, id_len) || nonce_len > ENVELOPE_NONCE_MAX ||
	    !header_safe(nonce, nonce_len))
		REJECT(ENVELOPE_REJECT_NOT_HEADER_SAFE);
	if (!id_is_valid_n(id, id_len))
		REJECT(ENVELOPE_REJECT_BAD_ID);
	memcpy(e.event_type, et, et_len + 1);
	memcpy(e.event_id, id, id_len + 1);
	memcpy(e.nonce, nonce, nonce_len + 1);

	/* 4. Staleness in both directions; exactly 300 s is accepted. */
	if (later_by_more_than(now, e.issued_at, ENVELOPE_SKEW_SEC))
		REJECT(ENVELOPE_REJECT_STALE);
	if (later_by_more_than(e.issued_at, now, ENVELOPE_SKEW_SEC))
		REJECT(ENVELOPE_REJECT_FUTURE);

	/* 5. Exactly 64 signature bytes. */
	if (sig_len != ENVELOPE_SIGNATURE_B64_LEN ||
	    base64_decode_exact(sig_b64, sig_len, sig, sizeof(sig)) < 0)
		REJECT(ENVELOPE_REJECT_BAD_SIGNATURE_ENCODING);

	/* 6. SI from the received values and payload bytes. */
	m = json_scan_find(&s, "payload");
	if (m) {
		e.payload = m->value;
		e.payload_len = m->value_len;
	}
	r = build_si(e.event_type, e.event_id, time, e.nonce, e.payload, e.payload_len, &si,
		     &si_len);
	if (r == -ENOMEM)
		goto out;
	if (r < 0)
		REJECT(ENVELOPE_REJECT_MALFORMED);

	/* 7./8. Current key, or previous during its transition. */
	if (signing_keys_verify_which(keys, now, si, si_len, sig, &e.by_previous_key) < 0)
		REJECT(ENVELOPE_REJECT_BAD_SIGNATURE);

	/* 9. Only now may the nonce enter the store, so forgeries cannot fill it. */
	r = nonce_store_record(ns, e.nonce, e.issued_at, now);
	if (r == -EEXIST)
		REJECT(ENVELOPE_REJECT_REPLAY);
	if (r == -ENOSPC)
		REJECT(ENVELOPE_REJECT_NONCE_STORE_FULL);
	if (r < 0)
		goto out;

	*ret = e;
	r = 0;
out:
	if (r < 0) {
		/* Rejections past step 3 still name the event in the caller's log line
		 * (agent.md §4.5); before that, the values are not trustworthy text. */
		memcpy(ret->event_type, e.event_type, sizeof(e.event_type));
		memcpy(ret->event_id, e.event_id, sizeof(e.event_id));
	}
	json_scan_done(&s);
	return r;
}
