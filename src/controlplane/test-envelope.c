/* Unit tests for the signed event envelope: every vector and negative check of
 * control-plane-api.md §6.7, the §6.4 rejection reasons and their order, PAYLOAD (§6.3), the
 * JSON scanner's strictness and bounds, and sign → verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "controlplane/envelope.h"
#include "controlplane/nonce-store.h"
#include "crypto/crypto.h"
#include "crypto/signing-keys.h"
#include "shared/encoding.h"
#include "shared/macro.h"
#include "shared/wire.h"

/* Verbatim from control-plane-api.md §6.7 and §5.2. */
static const char VECTOR1_ENVELOPE[] =
    "{\n"
    "  \"signature\": "
    "\"Fd5PAlen5BJkY4YHwnHB0rOGVrs/mH13KnEOZRjDTFpmdAh7OWs3bbhAxqL8ZZHegPxWWVCQ8uL/"
    "mozSnwtiCA==\",\n"
    "  \"event_id\": \"evt_000042\",\n"
    "  \"event_type\": \"node_state_updated\",\n"
    "  \"nonce\": \"6f1c2a9be4d058731b0e4d2c9a7f3e15\",\n"
    "  \"issued_at\": \"2025-01-15T10:30:00.250000Z\",\n"
    "  \"payload\": {\n"
    "    \"metadata\": { \"env\": \"prod\", \"owner\": \"ops & sre <team>\" },\n"
    "    \"data\": [\n"
    "      {\n"
    "        \"key\": \"app-config\",\n"
    "        \"content_type\": \"application/json\",\n"
    "        \"payload\": { \"port\": 8443, \"tls\": true },\n"
    "        \"version\": 3,\n"
    "        \"updated_at\": \"2025-01-15T10:29:59Z\"\n"
    "      }\n"
    "    ]\n"
    "  }\n"
    "}";

static const char VECTOR1_SI[] =
    "{\"event_type\":\"node_state_updated\",\"event_id\":\"evt_000042\",\"issued_at\":\"2025-01"
    "-15T10:30:00.25Z\",\"nonce\":\"6f1c2a9be4d058731b0e4d2c9a7f3e15\",\"payload\":{\"metadata\""
    ":{\"env\":\"prod\",\"owner\":\"ops \\u0026 sre \\u003cteam\\u003e\"},\"data\":[{\"key\":\""
    "app-config\",\"content_type\":\"application/json\",\"payload\":{\"port\":8443,\"tls\":true"
    "},\"version\":3,\"updated_at\":\"2025-01-15T10:29:59Z\"}]}}";

static const char VECTOR2_DATA[] =
    "{\"event_type\":\"peer_added\",\"event_id\":\"evt_000043\",\"issued_at\":\"2025-01-15T10:3"
    "0:05Z\",\"nonce\":\"0d3b8e51f2a94c67a1e0b5d7c3f29e84\",\"payload\":{\"id\":\"n_peer456\",\""
    "public_key\":\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\",\"mesh_ip\":\"10.100.1.5\",\""
    "endpoint\":\"203.0.113.10:51820\",\"allowed_ips\":[\"10.100.1.5/32\"],\"psk\":\"BY0lWFE3Na"
    "ekLVCSxBjjA5D5fik694dCChMkSy5so6c=\"},\"signature\":\"RZkUtTr8C7PQ4GV2/DY0k/HWpCZXi/pW6c4k"
    "n/EEjlqIgU2EU7dETIAxjd9H22MAvHW0QpthT6Mv3f9Uz+DYCA==\"}";

#define SEED_HEX   "85fba794bc042df7045907b8e467383dde7f453a51e5e4b59dd1d797c162097f"
#define PUB_KEY32  "VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ="
#define SI1_SHA256 "e72dac63e49b462f14287ed4b45cd1bc1c36ee6b3c04585346efc8801ce40a43"
#define SI2_SHA256 "8b1889f1ee65a3ffd901ea30deecbd2effa2ed16c4197769a649e66e26d227a7"
#define SIG2_B64                                                                                   \
	"RZkUtTr8C7PQ4GV2/DY0k/HWpCZXi/pW6c4kn/EEjlqIgU2EU7dETIAxjd9H22MAvHW0QpthT6Mv3f9Uz+DYCA=="
/* "now" inside the window of both vectors (§6.7). */
#define NOW_TEXT "2025-01-15T10:31:00Z"

static uint8_t seed[32];
static struct signing_keys keys;
static struct timestamp now;

static int setup(void **state)
{
	if (hex_decode_exact(SEED_HEX, strlen(SEED_HEX), seed, 32) < 0)
		return -1;
	keys = (struct signing_keys){};
	if (key32_parse(PUB_KEY32, keys.current) < 0)
		return -1;
	return rfc3339_parse(NOW_TEXT, strlen(NOW_TEXT), &now);
}

static struct timestamp at(const char *s)
{
	struct timestamp t;

	assert_int_equal(rfc3339_parse(s, strlen(s), &t), 0);
	return t;
}

/* Verifies a heap copy of exactly len bytes (so ASan catches any read past the end) with a
 * fresh nonce store. Returns 0 or the reject reason + 1000. */
static int verify_with(const char *data, size_t len, const struct signing_keys *k,
		       struct timestamp t, struct envelope *ret)
{
	_cleanup_(nonce_store_freep) struct nonce_store *ns = NULL;
	_cleanup_free_ char *copy = malloc(len ? len : 1);
	enum envelope_reject reason = _ENVELOPE_REJECT_MAX;
	struct envelope e;
	int r;

	assert_non_null(copy);
	memcpy(copy, data, len);
	assert_int_equal(nonce_store_new(0, &ns), 0);
	r = envelope_verify(copy, len, k, ns, t, &e, &reason);
	if (r == -EBADMSG) {
		assert_true(reason < _ENVELOPE_REJECT_MAX);
		return 1000 + (int)reason;
	}
	assert_int_equal(r, 0);
	/* The payload range points into the verified buffer; rebase onto the caller's. */
	if (e.payload)
		e.payload = data + (e.payload - copy);
	if (ret)
		*ret = e;
	return 0;
}

static int verify(const char *data)
{
	return verify_with(data, strlen(data), &keys, now, NULL);
}

#define REJ(x) (1000 + ENVELOPE_REJECT_##x)

static char *replace(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	size_t n = strlen(s), nf = strlen(from), nt = strlen(to), off;
	char *out;

	assert_non_null(p);
	off = (size_t)(p - s);
	out = malloc(n - nf + nt + 1);
	assert_non_null(out);
	memcpy(out, s, off);
	memcpy(out + off, to, nt);
	memcpy(out + off + nt, s + off + nf, n - off - nf + 1);
	return out;
}

static void sha_hex(const char *s, size_t n, char out[65])
{
	uint8_t d[32];

	assert_int_equal(sha256_buf(s, n, d), 0);
	hex_encode_to(d, 32, out);
}

/* ---- §6.7 vectors ---- */

static void test_vector1(void **state)
{
	_cleanup_free_ char *si = NULL;
	struct envelope e;
	size_t si_len;
	char h[65];

	assert_int_equal(verify_with(VECTOR1_ENVELOPE, strlen(VECTOR1_ENVELOPE), &keys, now, &e),
			 0);
	assert_string_equal(e.event_type, "node_state_updated");
	assert_string_equal(e.event_id, "evt_000042");
	assert_string_equal(e.nonce, "6f1c2a9be4d058731b0e4d2c9a7f3e15");
	assert_true(e.issued_at.sec == at("2025-01-15T10:30:00Z").sec &&
		    e.issued_at.nsec == 250000000);
	assert_non_null(e.payload);
	assert_true(e.payload > VECTOR1_ENVELOPE &&
		    e.payload + e.payload_len < VECTOR1_ENVELOPE + strlen(VECTOR1_ENVELOPE));
	assert_true(strncmp(e.payload, "{\n    \"metadata\"", 16) == 0);
	assert_int_equal(e.payload[e.payload_len - 1], '}');

	/* SI from the received pieces is byte-identical to the published one. */
	assert_int_equal(envelope_signing_input(
			     "node_state_updated", "evt_000042", "6f1c2a9be4d058731b0e4d2c9a7f3e15",
			     "2025-01-15T10:30:00.250000Z", e.payload, e.payload_len, &si, &si_len),
			 0);
	assert_int_equal(si_len, 367);
	assert_int_equal(strlen(VECTOR1_SI), 367);
	assert_string_equal(si, VECTOR1_SI);
	sha_hex(si, si_len, h);
	assert_string_equal(h, SI1_SHA256);
}

static void test_vector2(void **state)
{
	_cleanup_free_ char *si = NULL, *expected_si = NULL;
	struct envelope e;
	size_t si_len;
	char h[65];

	assert_int_equal(verify_with(VECTOR2_DATA, strlen(VECTOR2_DATA), &keys, now, &e), 0);
	assert_string_equal(e.event_type, "peer_added");
	assert_string_equal(e.event_id, "evt_000043");
	assert_int_equal(envelope_signing_input(e.event_type, e.event_id, e.nonce,
						"2025-01-15T10:30:05Z", e.payload, e.payload_len,
						&si, &si_len),
			 0);
	/* Canonical on the wire: SI is the data line without its signature member. */
	expected_si = replace(VECTOR2_DATA, ",\"signature\":\"" SIG2_B64 "\"", "");
	assert_int_equal(si_len, 358);
	assert_string_equal(si, expected_si);
	sha_hex(si, si_len, h);
	assert_string_equal(h, SI2_SHA256);
}

static void test_vector_negatives(void **state)
{
	_cleanup_free_ char *num = NULL, *esc = NULL, *payload_esc = NULL, *swapped = NULL;

	/* §6.7: number spelling and escape changes break the signature. */
	num = replace(VECTOR1_ENVELOPE, "8443", "8443.0");
	assert_int_equal(verify(num), REJ(BAD_SIGNATURE));
	esc = replace(VECTOR1_ENVELOPE, "\"env\"", "\"\\u0065nv\"");
	assert_int_equal(verify(esc), REJ(BAD_SIGNATURE));
	/* Pre-escaping exactly as the transformation does gives the same SI (§6.5: the wire
	 * payload need not be pre-escaped, but may be); any other spelling does not. */
	payload_esc = replace(VECTOR1_ENVELOPE, "ops & sre <team>", "ops \\u0026 sre \\u003cteam>");
	assert_int_equal(verify(payload_esc), 0);
	free(payload_esc);
	payload_esc = replace(VECTOR1_ENVELOPE, "<team>", "\\u003Cteam>");
	assert_int_equal(verify(payload_esc), REJ(BAD_SIGNATURE));
	/* Member order inside the payload is signed. */
	swapped = replace(VECTOR1_ENVELOPE, "{ \"port\": 8443, \"tls\": true }",
			  "{ \"tls\": true, \"port\": 8443 }");
	assert_int_equal(verify(swapped), REJ(BAD_SIGNATURE));
}

/* Re-indentation variants of vector 1 must all verify: strip every whitespace byte outside
 * strings, or replace each newline with CRLF, tabs, or nothing. */
static char *reformat(const char *s, const char *nl)
{
	size_t n = strlen(s), cap = n * 8 + 1, k = 0;
	char *out = malloc(cap);
	bool in_str = false;

	assert_non_null(out);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			out[k++] = c;
			if (c == '\\')
				out[k++] = s[++i];
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		if (c == '\n') {
			k += (size_t)sprintf(out + k, "%s", nl);
			continue;
		}
		if (c == ' ' && !*nl)
			continue;
		out[k++] = c;
	}
	out[k] = 0;
	return out;
}

static void test_vector_reindent(void **state)
{
	static const char *const nls[] = {"", "\r\n", "\n\t\t", " \t \r\n  "};

	for (size_t i = 0; i < ELEMENTSOF(nls); i++) {
		_cleanup_free_ char *v = reformat(VECTOR1_ENVELOPE, nls[i]);
		assert_int_equal(verify(v), 0);
	}
	/* Leading and trailing whitespace around the object. */
	_cleanup_free_ char *padded = NULL;
	assert_true(asprintf(&padded, " \r\n\t%s\n\n", VECTOR1_ENVELOPE) > 0);
	assert_int_equal(verify(padded), 0);
}

static void test_sign_reproduces_vectors(void **state)
{
	_cleanup_free_ char *env1 = NULL, *env2 = NULL, *want1 = NULL, *payload1 = NULL;
	size_t len;
	const char *p1 = strstr(VECTOR1_SI, "\"payload\":") + 10;

	/* Signing the vector's canonical payload gives SI plus the published signature. */
	payload1 = strndup(p1, strlen(p1) - 1);
	assert_int_equal(
	    envelope_sign("node_state_updated", "evt_000042", "6f1c2a9be4d058731b0e4d2c9a7f3e15",
			  "2025-01-15T10:30:00.25Z", payload1, strlen(payload1), seed, &env1, &len),
	    0);
	assert_int_equal(len, strlen(env1));
	assert_true(asprintf(&want1, "%.*s,\"signature\":\"%s\"}", 366, VECTOR1_SI,
			     "Fd5PAlen5BJkY4YHwnHB0rOGVrs/"
			     "mH13KnEOZRjDTFpmdAh7OWs3bbhAxqL8ZZHegPxWWVCQ8uL/mozSnwtiCA==") > 0);
	assert_string_equal(env1, want1);
	assert_int_equal(verify(env1), 0);

	/* Vector 2 is transmitted canonical: signing its pieces reproduces the data line. */
	const char *p2 = strstr(VECTOR2_DATA, "\"payload\":") + 10,
		   *p2_end = strstr(VECTOR2_DATA, ",\"signature\"");
	assert_int_equal(envelope_sign("peer_added", "evt_000043",
				       "0d3b8e51f2a94c67a1e0b5d7c3f29e84", "2025-01-15T10:30:05Z",
				       p2, (size_t)(p2_end - p2), seed, &env2, &len),
			 0);
	assert_string_equal(env2, VECTOR2_DATA);
}

/* ---- §6.4 rejections ---- */

/* A fresh envelope signed with the vector key; issued_at and fields as given. */
static char *make(const char *type, const char *id, const char *nonce, const char *issued,
		  const char *payload)
{
	char *out = NULL;
	size_t len;

	assert_int_equal(envelope_sign(type, id, nonce, issued, payload,
				       payload ? strlen(payload) : 0, seed, &out, &len),
			 0);
	return out;
}

static const struct {
	const char *issued_at;
	int want;
} time_cases[] = {
    {"2025-01-15T10:26:00Z", 0},		    /* exactly 300 s old */
    {"2025-01-15T10:25:59Z", REJ(STALE)},	    /* 301 s */
    {"2025-01-15T10:25:59.999999999Z", REJ(STALE)}, /* 300.000000001 s */
    {"2025-01-15T10:36:00Z", 0},		    /* exactly 300 s ahead */
    {"2025-01-15T10:36:00.000000001Z", REJ(FUTURE)},
    {"2025-01-15T10:36:01Z", REJ(FUTURE)},
    {"2025-01-15T12:31:00+02:00", 0}, /* offset applied */
    {"2025-01-15T10:31:00-00:00", 0},
    {"2025-01-15T12:31:00Z", REJ(FUTURE)},
    {"2025-01-15T08:31:00Z", REJ(STALE)},
    {"1970-01-01T00:00:00Z", REJ(STALE)},
    {"9999-12-31T23:59:59.999999999Z", REJ(FUTURE)},
};

static void test_staleness(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(time_cases); i++) {
		_cleanup_free_ char *env =
		    make("peer_removed", "evt_1", "n1", time_cases[i].issued_at, "{}");
		int r = verify(env);
		if (r != time_cases[i].want)
			fail_msg("issued_at %s: got %d want %d", time_cases[i].issued_at, r,
				 time_cases[i].want);
	}
}

static void test_replay(void **state)
{
	_cleanup_(nonce_store_freep) struct nonce_store *ns = NULL;
	_cleanup_free_ char *a =
	    make("peer_removed", "evt_1", "nonce-1", "2025-01-15T10:30:00Z", "{\"peer_id\":\"x\"}");
	_cleanup_free_ char *b =
	    make("peer_removed", "evt_2", "nonce-1", "2025-01-15T10:30:01Z", "{}");
	_cleanup_free_ char *forged = replace(a, "evt_1", "evt_9");
	enum envelope_reject reason;
	struct envelope e;

	assert_int_equal(nonce_store_new(0, &ns), 0);
	/* A forged envelope with a fresh nonce does not enter the store. */
	_cleanup_free_ char *forged_fresh = replace(forged, "nonce-1", "nonce-2");
	assert_int_equal(
	    envelope_verify(forged_fresh, strlen(forged_fresh), &keys, ns, now, &e, &reason),
	    -EBADMSG);
	assert_int_equal(reason, ENVELOPE_REJECT_BAD_SIGNATURE);
	assert_false(nonce_store_contains(ns, "nonce-2"));

	assert_int_equal(envelope_verify(a, strlen(a), &keys, ns, now, &e, &reason), 0);
	assert_true(nonce_store_contains(ns, "nonce-1"));
	assert_int_equal(envelope_verify(a, strlen(a), &keys, ns, now, &e, &reason), -EBADMSG);
	assert_int_equal(reason, ENVELOPE_REJECT_REPLAY);
	/* Another validly signed event reusing the nonce is a replay as well. */
	assert_int_equal(envelope_verify(b, strlen(b), &keys, ns, now, &e, &reason), -EBADMSG);
	assert_int_equal(reason, ENVELOPE_REJECT_REPLAY);
	assert_string_equal(envelope_reject_to_string(reason), "replay");
}

static void test_nonce_store_full(void **state)
{
	_cleanup_(nonce_store_freep) struct nonce_store *ns = NULL;
	_cleanup_free_ char *a = make("x", "evt_1", "n-a", "2025-01-15T10:30:00Z", "{}");
	_cleanup_free_ char *b = make("x", "evt_2", "n-b", "2025-01-15T10:30:00Z", "{}");
	enum envelope_reject reason;
	struct envelope e;

	assert_int_equal(nonce_store_new(1, &ns), 0);
	assert_int_equal(envelope_verify(a, strlen(a), &keys, ns, now, &e, &reason), 0);
	assert_int_equal(envelope_verify(b, strlen(b), &keys, ns, now, &e, &reason), -EBADMSG);
	assert_int_equal(reason, ENVELOPE_REJECT_NONCE_STORE_FULL);
}

static void test_keys(void **state)
{
	_cleanup_free_ char *env =
	    make("peer_removed", "evt_1", "n1", "2025-01-15T10:30:00Z", "{}");
	struct signing_keys k = {};
	struct envelope e;
	uint8_t seed2[32];

	/* Unknown key. */
	assert_int_equal(ed25519_generate(seed2, k.current), 0);
	assert_int_equal(verify_with(env, strlen(env), &k, now, NULL), REJ(BAD_SIGNATURE));

	/* Vector key as previous: only with an expiry, only before it. */
	memcpy(k.previous, keys.current, 32);
	k.has_previous = true;
	assert_int_equal(verify_with(env, strlen(env), &k, now, NULL), REJ(BAD_SIGNATURE));
	k.has_expiry = true;
	k.transition_expires = at("2025-01-15T10:31:00.000000001Z");
	assert_int_equal(verify_with(env, strlen(env), &k, now, &e), 0);
	assert_true(e.by_previous_key);
	k.transition_expires = at(NOW_TEXT);
	assert_int_equal(verify_with(env, strlen(env), &k, now, NULL), REJ(BAD_SIGNATURE));
	k.transition_expires = at("2025-01-15T10:00:00Z");
	assert_int_equal(verify_with(env, strlen(env), &k, now, NULL), REJ(BAD_SIGNATURE));

	/* Current key still verifies while a previous one is held. */
	memcpy(k.current, keys.current, 32);
	assert_int_equal(ed25519_public_from_seed(seed2, k.previous), 0);
	assert_int_equal(verify_with(env, strlen(env), &k, now, &e), 0);
	assert_false(e.by_previous_key);
}

#define SIG88                                                                                      \
	"Fd5PAlen5BJkY4YHwnHB0rOGVrs/mH13KnEOZRjDTFpmdAh7OWs3bbhAxqL8ZZHegPxWWVCQ8uL/mozSnwtiCA=="
#define ENV(members) "{" members "}"
#define GOOD_HEAD                                                                                  \
	"\"event_type\":\"t\",\"event_id\":\"evt_1\",\"nonce\":\"n\",\"issued_at\":\"2025-01-"     \
	"15T10:30:00Z\""

/* Envelopes with a defect each; the expected reason follows the §6.4 order. */
static const struct {
	const char *name;
	const char *data;
	int want;
} reject_cases[] = {
    {"empty", "", REJ(MALFORMED)},
    {"array", "[]", REJ(MALFORMED)},
    {"string", "\"x\"", REJ(MALFORMED)},
    {"trailing garbage", ENV(GOOD_HEAD ",\"signature\":\"" SIG88 "\"") "x", REJ(MALFORMED)},
    {"two objects", ENV(GOOD_HEAD) ENV(GOOD_HEAD), REJ(MALFORMED)},
    {"BOM", "\xEF\xBB\xBF" ENV(GOOD_HEAD ",\"signature\":\"" SIG88 "\""), REJ(MALFORMED)},
    {"trailing comma", ENV(GOOD_HEAD ",\"signature\":\"" SIG88 "\","), REJ(MALFORMED)},
    {"duplicate signature",
     ENV(GOOD_HEAD ",\"signature\":\"" SIG88 "\",\"signature\":\"" SIG88 "\""), REJ(MALFORMED)},
    {"duplicate via escape", ENV(GOOD_HEAD ",\"signature\":\"" SIG88 "\",\"\\u006eonce\":\"n\""),
     REJ(MALFORMED)},
    {"duplicate payload",
     ENV(GOOD_HEAD ",\"signature\":\"" SIG88 "\",\"payload\":{},\"payload\":{}"), REJ(MALFORMED)},
    {"duplicate unknown member", ENV(GOOD_HEAD ",\"signature\":\"" SIG88 "\",\"x\":1,\"x\":1"),
     REJ(MALFORMED)},
    {"bad payload json", ENV(GOOD_HEAD ",\"signature\":\"" SIG88 "\",\"payload\":{\"a\":01}"),
     REJ(MALFORMED)},
    {"invalid utf8 in payload",
     ENV(GOOD_HEAD ",\"signature\":\"" SIG88 "\",\"payload\":\"\xC0\xAF\""), REJ(MALFORMED)},
    {"lone surrogate", ENV(GOOD_HEAD ",\"signature\":\"" SIG88 "\",\"payload\":\"\\ud800\""),
     REJ(MALFORMED)},
    {"no event_type",
     ENV("\"event_id\":\"evt_1\",\"nonce\":\"n\",\"issued_at\":\"2025-01-15T10:30:00Z\","
	 "\"signature\":\"" SIG88 "\""),
     REJ(MISSING_FIELD)},
    {"null event_id",
     ENV("\"event_type\":\"t\",\"event_id\":null,\"nonce\":\"n\",\"issued_at\":\"2025-01-15T10:30:"
	 "00Z\",\"signature\":\"" SIG88 "\""),
     REJ(MISSING_FIELD)},
    {"empty event_id",
     ENV("\"event_type\":\"t\",\"event_id\":\"\",\"nonce\":\"n\",\"issued_at\":\"2025-01-15T10:30:"
	 "00Z\",\"signature\":\"" SIG88 "\""),
     REJ(MISSING_FIELD)},
    {"numeric event_type",
     ENV("\"event_type\":1,\"event_id\":\"evt_1\",\"nonce\":\"n\",\"issued_at\":\"2025-01-15T10:30:"
	 "00Z\",\"signature\":\"" SIG88 "\""),
     REJ(MALFORMED)},
    {"no signature", ENV(GOOD_HEAD), REJ(MISSING_FIELD)},
    {"empty signature", ENV(GOOD_HEAD ",\"signature\":\"\""), REJ(MISSING_FIELD)},
    {"signature object", ENV(GOOD_HEAD ",\"signature\":{}"), REJ(MALFORMED)},
    {"no nonce",
     ENV("\"event_type\":\"t\",\"event_id\":\"evt_1\",\"issued_at\":\"2025-01-15T10:30:00Z\","
	 "\"signature\":\"" SIG88 "\""),
     REJ(MISSING_FIELD)},
    {"no issued_at",
     ENV("\"event_type\":\"t\",\"event_id\":\"evt_1\",\"nonce\":\"n\",\"signature\":\"" SIG88 "\""),
     REJ(MISSING_FIELD)},
    {"unset issued_at",
     ENV("\"event_type\":\"t\",\"event_id\":\"evt_1\",\"nonce\":\"n\",\"issued_at\":\"0001-01-"
	 "01T00:00:00Z\",\"signature\":\"" SIG88 "\""),
     REJ(MISSING_FIELD)},
    {"unset issued_at, fraction",
     ENV("\"event_type\":\"t\",\"event_id\":\"evt_1\",\"nonce\":\"n\",\"issued_at\":\"0001-01-"
	 "01T00:00:00.000Z\",\"signature\":\"" SIG88 "\""),
     REJ(MISSING_FIELD)},
    {"lowercase t in issued_at",
     ENV("\"event_type\":\"t\",\"event_id\":\"evt_1\",\"nonce\":\"n\",\"issued_at\":\"2025-01-"
	 "15t10:30:00Z\",\"signature\":\"" SIG88 "\""),
     REJ(MALFORMED)},
    {"Feb 30",
     ENV("\"event_type\":\"t\",\"event_id\":\"evt_1\",\"nonce\":\"n\",\"issued_at\":\"2025-02-"
	 "30T10:30:00Z\",\"signature\":\"" SIG88 "\""),
     REJ(MALFORMED)},
    {"event_id with <",
     ENV("\"event_type\":\"t\",\"event_id\":\"evt<1\",\"nonce\":\"n\",\"issued_at\":\"2025-01-"
	 "15T10:30:00Z\",\"signature\":\"" SIG88 "\""),
     REJ(NOT_HEADER_SAFE)},
    {"nonce with &",
     ENV("\"event_type\":\"t\",\"event_id\":\"evt_1\",\"nonce\":\"a&b\",\"issued_at\":\"2025-01-"
	 "15T10:30:00Z\",\"signature\":\"" SIG88 "\""),
     REJ(NOT_HEADER_SAFE)},
    {"nonce with escaped quote",
     ENV("\"event_type\":\"t\",\"event_id\":\"evt_1\",\"nonce\":\"a\\\"b\",\"issued_at\":\"2025-01-"
	 "15T10:30:00Z\",\"signature\":\"" SIG88 "\""),
     REJ(NOT_HEADER_SAFE)},
    {"nonce with NUL escape",
     ENV("\"event_type\":\"t\",\"event_id\":\"evt_1\",\"nonce\":\"a\\u0000b\",\"issued_at\":\"2025-"
	 "01-15T10:30:00Z\",\"signature\":\"" SIG88 "\""),
     REJ(NOT_HEADER_SAFE)},
    {"event_type with e-acute",
     ENV("\"event_type\":\"\\u00e9\",\"event_id\":\"evt_1\",\"nonce\":\"n\",\"issued_at\":\"2025-"
	 "01-15T10:30:00Z\",\"signature\":\"" SIG88 "\""),
     REJ(NOT_HEADER_SAFE)},
    {"event_type with tab",
     ENV("\"event_type\":\"a\\tb\",\"event_id\":\"evt_1\",\"nonce\":\"n\",\"issued_at\":\"2025-01-"
	 "15T10:30:00Z\",\"signature\":\"" SIG88 "\""),
     REJ(NOT_HEADER_SAFE)},
    {"event_id slash",
     ENV("\"event_type\":\"t\",\"event_id\":\"evt/"
	 "1\",\"nonce\":\"n\",\"issued_at\":\"2025-01-15T10:30:00Z\",\"signature\":\"" SIG88 "\""),
     REJ(BAD_ID)},
    {"event_id dotdot",
     ENV("\"event_type\":\"t\",\"event_id\":\"..\",\"nonce\":\"n\",\"issued_at\":\"2025-01-15T10:"
	 "30:00Z\",\"signature\":\"" SIG88 "\""),
     REJ(BAD_ID)},
    {"event_id space",
     ENV("\"event_type\":\"t\",\"event_id\":\"evt "
	 "1\",\"nonce\":\"n\",\"issued_at\":\"2025-01-15T10:30:00Z\",\"signature\":\"" SIG88 "\""),
     REJ(BAD_ID)},
    {"bad id before stale",
     ENV("\"event_type\":\"t\",\"event_id\":\"e:1\",\"nonce\":\"n\",\"issued_at\":\"2020-01-15T10:"
	 "30:00Z\",\"signature\":\"x\""),
     REJ(BAD_ID)},
    {"stale before signature encoding",
     ENV("\"event_type\":\"t\",\"event_id\":\"e1\",\"nonce\":\"n\",\"issued_at\":\"2020-01-15T10:"
	 "30:00Z\",\"signature\":\"x\""),
     REJ(STALE)},
    {"signature short", ENV(GOOD_HEAD ",\"signature\":\"Fd5PAlen\""), REJ(BAD_SIGNATURE_ENCODING)},
    {"signature 63 bytes",
     ENV(GOOD_HEAD ",\"signature\":\"Fd5PAlen5BJkY4YHwnHB0rOGVrs/"
		   "mH13KnEOZRjDTFpmdAh7OWs3bbhAxqL8ZZHegPxWWVCQ8uL/mozSnwti\""),
     REJ(BAD_SIGNATURE_ENCODING)},
    {"signature base64url",
     ENV(GOOD_HEAD ",\"signature\":\"Fd5PAlen5BJkY4YHwnHB0rOGVrs_"
		   "mH13KnEOZRjDTFpmdAh7OWs3bbhAxqL8ZZHegPxWWVCQ8uL_mozSnwtiCA==\""),
     REJ(BAD_SIGNATURE_ENCODING)},
    {"signature unpadded",
     ENV(GOOD_HEAD ",\"signature\":\"Fd5PAlen5BJkY4YHwnHB0rOGVrs/"
		   "mH13KnEOZRjDTFpmdAh7OWs3bbhAxqL8ZZHegPxWWVCQ8uL/mozSnwtiCA\""),
     REJ(BAD_SIGNATURE_ENCODING)},
    {"signature escaped slash ok",
     ENV(GOOD_HEAD ",\"signature\":\"Fd5PAlen5BJkY4YHwnHB0rOGVrs\\/"
		   "mH13KnEOZRjDTFpmdAh7OWs3bbhAxqL8ZZHegPxWWVCQ8uL/mozSnwtiCA==\""),
     REJ(BAD_SIGNATURE)},
    {"wrong signature", ENV(GOOD_HEAD ",\"signature\":\"" SIG88 "\""), REJ(BAD_SIGNATURE)},
};

static void test_rejections(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(reject_cases); i++) {
		int r = verify(reject_cases[i].data);
		if (r != reject_cases[i].want)
			fail_msg("case '%s': got %d (%s) want %d (%s)", reject_cases[i].name, r,
				 strempty(envelope_reject_to_string(r - 1000)),
				 reject_cases[i].want,
				 envelope_reject_to_string(reject_cases[i].want - 1000));
	}
}

static void test_long_fields(void **state)
{
	char type65[66], nonce129[130], id129[130];
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *ok = NULL;

	memset(type65, 'a', 65);
	type65[65] = 0;
	memset(nonce129, 'n', 129);
	nonce129[129] = 0;
	memset(id129, 'i', 129);
	id129[129] = 0;
	a = make(type65, "evt_1", "n", "2025-01-15T10:30:00Z", "{}");
	assert_int_equal(verify(a), REJ(NOT_HEADER_SAFE));
	b = make("t", "evt_1", nonce129, "2025-01-15T10:30:00Z", "{}");
	assert_int_equal(verify(b), REJ(NOT_HEADER_SAFE));
	c = make("t", id129, "n", "2025-01-15T10:30:00Z", "{}");
	assert_int_equal(verify(c), REJ(BAD_ID));
	/* At the limits: accepted, and NUL-terminated copies are complete. */
	type65[64] = 0;
	nonce129[128] = 0;
	id129[128] = 0;
	ok = make(type65, id129, nonce129, "2025-01-15T10:30:00Z", "{}");
	struct envelope e;
	assert_int_equal(verify_with(ok, strlen(ok), &keys, now, &e), 0);
	assert_string_equal(e.event_type, type65);
	assert_string_equal(e.event_id, id129);
	assert_string_equal(e.nonce, nonce129);
}

static void test_escaped_header_fields(void **state)
{
	/* STR(v) uses the unescaped value: escapes in the received header fields verify. */
	_cleanup_free_ char *env =
	    make("peer_removed", "evt_1", "n1", "2025-01-15T10:30:00.000Z", "{}");
	_cleanup_free_ char *e1 = replace(env, "\"evt_1\"", "\"\\u0065vt_1\"");
	_cleanup_free_ char *e2 = replace(e1, "\"peer_removed\"", "\"peer\\u005fremoved\"");
	_cleanup_free_ char *e3 =
	    replace(e2, "\"2025-01-15T10:30:00Z\"", "\"2025-01-15T10:30:00.000000000000\\u005a\"");
	struct envelope e;

	assert_int_equal(verify_with(e3, strlen(e3), &keys, now, &e), 0);
	assert_string_equal(e.event_id, "evt_1");
	assert_string_equal(e.event_type, "peer_removed");
}

static void test_absent_payload(void **state)
{
	_cleanup_free_ char *env = make("rotate_keys", "evt_7", "n7", "2025-01-15T10:30:00Z", NULL);
	_cleanup_free_ char *si = NULL, *with_null = NULL;
	struct envelope e;
	size_t n;

	assert_non_null(strstr(env, ",\"payload\":null,"));
	assert_int_equal(envelope_signing_input("rotate_keys", "evt_7", "n7",
						"2025-01-15T10:30:00Z", NULL, 0, &si, &n),
			 0);
	assert_string_equal(si, "{\"event_type\":\"rotate_keys\",\"event_id\":\"evt_7\",\"issued_"
				"at\":\"2025-01-15T10:30:00Z\",\"nonce\":\"n7\",\"payload\":null}");
	/* envelope_sign puts SI on the wire, which carries "payload":null. */
	assert_int_equal(verify_with(env, strlen(env), &keys, now, &e), 0);
	assert_non_null(e.payload);
	assert_int_equal(e.payload_len, 4);
	/* Without the member the SI is the same, so the signature still holds. */
	with_null = replace(env, ",\"payload\":null", "");
	assert_int_equal(verify_with(with_null, strlen(with_null), &keys, now, &e), 0);
	assert_null(e.payload);
	assert_int_equal(e.payload_len, 0);
}

static void test_every_prefix_rejected(void **state)
{
	/* Truncations at every byte: never accepted, never read past the (exact) buffer. */
	for (size_t n = 0; n < strlen(VECTOR1_ENVELOPE); n++) {
		int r = verify_with(VECTOR1_ENVELOPE, n, &keys, now, NULL);
		assert_int_equal(r, REJ(MALFORMED));
	}
	for (size_t n = 0; n < strlen(VECTOR2_DATA); n++)
		assert_int_equal(verify_with(VECTOR2_DATA, n, &keys, now, NULL), REJ(MALFORMED));
}

static void test_every_byte_flip_rejected(void **state)
{
	/* Flipping a byte anywhere in vector 2 (canonical, no whitespace) never verifies. */
	char buf[sizeof(VECTOR2_DATA)];

	for (size_t i = 0; i < strlen(VECTOR2_DATA); i++) {
		memcpy(buf, VECTOR2_DATA, sizeof(buf));
		buf[i] ^= 0x01;
		assert_int_not_equal(verify_with(buf, strlen(VECTOR2_DATA), &keys, now, NULL), 0);
	}
}

/* ---- PAYLOAD (§6.3) ---- */

static const struct {
	const char *in;
	const char *out; /* NULL: rejected */
} payload_cases[] = {
    {"{}", "{}"},
    {" { \"a\" : [ 1 , 2 ] }\r\n\t", "{\"a\":[1,2]}"},
    {"{\"a\":\"x y\\t\"}", "{\"a\":\"x y\\t\"}"},
    {"\"<>&\"", "\"\\u003c\\u003e\\u0026\""},
    {"[\"<\",\"a\\\"<\\\\\",\"&\"]", "[\"\\u003c\",\"a\\\"\\u003c\\\\\",\"\\u0026\"]"},
    {"\"\xE2\x80\xA8\xE2\x80\xA9\"", "\"\\u2028\\u2029\""},
    {"\"\xE2\x80\xA7\xC3\xA9\xF0\x9F\x98\x80\"", "\"\xE2\x80\xA7\xC3\xA9\xF0\x9F\x98\x80\""},
    {"\"\\/\\u00e9\\u003C\\uD83D\\uDE00\"", "\"\\/\\u00e9\\u003C\\uD83D\\uDE00\""},
    {"[2.50, 1E+3, -0.0, 0, -1e-7]", "[2.50,1E+3,-0.0,0,-1e-7]"},
    {"null", "null"},
    {" true ", "true"},
    {"{\"b\":1,\"a\":2}", "{\"b\":1,\"a\":2}"},
    {"{\"k<\":\"v\"}", "{\"k\\u003c\":\"v\"}"},
    {"", NULL},
    {" ", NULL},
    {"{", NULL},
    {"{\"a\":1,}", NULL},
    {"[1,]", NULL},
    {"1 2", NULL},
    {"01", NULL},
    {"1.", NULL},
    {".5", NULL},
    {"+1", NULL},
    {"1e", NULL},
    {"-", NULL},
    {"NaN", NULL},
    {"tru", NULL},
    {"nul", NULL},
    {"'a'", NULL},
    {"\"a", NULL},
    {"\"\\x\"", NULL},
    {"\"\\u12\"", NULL},
    {"\"\\u12G4\"", NULL},
    {"\"\\udc00\"", NULL},
    {"\"\\ud800x\"", NULL},
    {"\"\\ud800\\u0041\"", NULL},
    {"\"\t\"", NULL},
    {"\"\x7f\"", "\"\x7f\""},
    {"\"\x80\"", NULL},
    {"\"\xC3\"", NULL},
    {"\"\xE0\x80\xAF\"", NULL},
    {"\"\xED\xA0\x80\"", NULL},
    {"\"\xF4\x90\x80\x80\"", NULL},
    {"\"\xF5\x80\x80\x80\"", NULL},
    {"{\"a\" 1}", NULL},
    {"{1:2}", NULL},
    {"[1 2]", NULL},
    {"{\"a\":1 \"b\":2}", NULL},
    {"\xC2\xA0{}", NULL},
};

static void test_payload_transform(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(payload_cases); i++) {
		_cleanup_free_ char *copy = malloc(strlen(payload_cases[i].in) + 1), *out = NULL;
		size_t n;
		int r;

		memcpy(copy, payload_cases[i].in, strlen(payload_cases[i].in));
		r = envelope_canonical_payload(copy, strlen(payload_cases[i].in), &out, &n);
		if (!payload_cases[i].out) {
			if (r != -EINVAL)
				fail_msg("case %zu '%s': accepted", i, payload_cases[i].in);
			continue;
		}
		if (r != 0)
			fail_msg("case %zu '%s': rejected (%d)", i, payload_cases[i].in, r);
		assert_string_equal(out, payload_cases[i].out);
		assert_int_equal(n, strlen(payload_cases[i].out));
	}
}

/* ---- scanner ---- */

static char *nested(size_t depth, const char *open, const char *close, const char *inner)
{
	size_t lo = strlen(open), lc = strlen(close), li = strlen(inner);
	char *s = malloc(depth * (lo + lc) + li + 1), *p = s;

	for (size_t i = 0; i < depth; i++, p += lo)
		memcpy(p, open, lo);
	memcpy(p, inner, li);
	p += li;
	for (size_t i = 0; i < depth; i++, p += lc)
		memcpy(p, close, lc);
	*p = 0;
	return s;
}

static void test_depth_bound(void **state)
{
	_cleanup_free_ char *a64 = nested(64, "[", "]", "1"), *a65 = nested(65, "[", "]", "1");
	_cleanup_free_ char *o64 = nested(64, "{\"a\":", "}", "[]"),
			    *o65 = nested(64, "{\"a\":", "}", "[[]]");
	_cleanup_free_ char *huge = nested(100000, "[", "]", "");
	struct json_scan s;

	assert_int_equal(json_validate(a64, strlen(a64)), 0);
	assert_int_equal(json_validate(a65, strlen(a65)), -EINVAL);
	assert_int_equal(json_validate(o64, strlen(o64)), -EINVAL); /* 65 containers */
	assert_int_equal(json_validate(o65, strlen(o65)), -EINVAL);
	assert_int_equal(json_validate(huge, strlen(huge)), -EINVAL);
	/* Members of the top-level object may nest 63 more levels. */
	_cleanup_free_ char *p63 = nested(63, "[", "]", ""), *p64 = nested(64, "[", "]", "");
	_cleanup_free_ char *d63 = NULL, *d64 = NULL;
	assert_true(asprintf(&d63, "{\"payload\":%s}", p63) > 0);
	assert_true(asprintf(&d64, "{\"payload\":%s}", p64) > 0);
	assert_int_equal(json_scan_object_members(d63, strlen(d63), &s), 0);
	json_scan_done(&s);
	assert_int_equal(json_scan_object_members(d64, strlen(d64), &s), -EINVAL);
	assert_int_equal(s.n_members, 0);
}

static void test_scan_members(void **state)
{
	static const char doc[] =
	    " {\"a\" : 1, \"b\\u0000c\":[true,{\"a\":2}] ,\"s\":\"x\\\"}\" , \"n\":null}  ";
	struct json_scan s;
	const struct json_member *m;

	assert_int_equal(json_scan_object_members(doc, strlen(doc), &s), 0);
	assert_int_equal(s.n_members, 4);
	assert_string_equal(s.members[0].name, "a");
	assert_int_equal(s.members[0].type, JSON_SCAN_NUMBER);
	assert_int_equal(s.members[0].value_len, 1);
	assert_int_equal(s.members[1].name_len, 3);
	assert_memory_equal(s.members[1].name, "b\0c", 3);
	assert_int_equal(s.members[1].type, JSON_SCAN_ARRAY);
	assert_int_equal(s.members[1].value_len, strlen("[true,{\"a\":2}]"));
	assert_memory_equal(s.members[1].value, "[true,{\"a\":2}]", s.members[1].value_len);
	m = json_scan_find(&s, "s");
	assert_non_null(m);
	assert_int_equal(m->type, JSON_SCAN_STRING);
	assert_memory_equal(m->value, "\"x\\\"}\"", m->value_len);
	assert_int_equal(json_scan_find(&s, "n")->type, JSON_SCAN_NULL);
	assert_null(json_scan_find(&s, "b"));
	json_scan_done(&s);

	/* Many members: duplicates found however far apart. */
	size_t n = 5000;
	_cleanup_free_ char *big = malloc(n * 16 + 16);
	char *p = big;
	*p++ = '{';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s\"k%zu\":%zu", i ? "," : "", i, i);
	strcpy(p, "}");
	assert_int_equal(json_scan_object_members(big, strlen(big), &s), 0);
	assert_int_equal(s.n_members, n);
	json_scan_done(&s);
	strcpy(p, ",\"k17\":0}");
	assert_int_equal(json_scan_object_members(big, strlen(big), &s), -ENOTUNIQ);
}

static const struct {
	const char *token;
	const char *value; /* NULL: rejected */
	size_t len;
} unescape_cases[] = {
    {"\"\"", "", 0},
    {"\"\\u0065vt_1\"", "evt_1", 5},
    {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
    {"\"\\u00e9\"", "\xC3\xA9", 2},
    {"\"\\u20AC\"", "\xE2\x82\xAC", 3},
    {"\"\\uD83D\\uDE00\"", "\xF0\x9F\x98\x80", 4},
    {"\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80", 4},
    {"\"\\uDE00\"", NULL, 0},
    {"\"\\uD83D\"", NULL, 0},
    {"\"\\uD83D\\n\"", NULL, 0},
    {"\"abc", NULL, 0},
    {"\"a\"b", NULL, 0},
    {"abc", NULL, 0},
};

static void test_unescape(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(unescape_cases); i++) {
		char out[16];
		size_t n = 99;
		int r = json_string_unescape(unescape_cases[i].token,
					     strlen(unescape_cases[i].token), out, sizeof(out), &n);
		if (!unescape_cases[i].value) {
			assert_int_equal(r, -EINVAL);
			continue;
		}
		assert_int_equal(r, 0);
		assert_int_equal(n, unescape_cases[i].len);
		assert_memory_equal(out, unescape_cases[i].value, n);
		assert_int_equal(out[n], 0);
	}
	/* A short buffer keeps a prefix and reports the full length. */
	char small[4];
	size_t n;
	assert_int_equal(json_string_unescape("\"abcdef\"", 8, small, sizeof(small), &n), 0);
	assert_int_equal(n, 6);
	assert_string_equal(small, "abc");
	assert_int_equal(json_string_unescape("\"abcdef\"", 8, NULL, 0, &n), 0);
	assert_int_equal(n, 6);
}

static void test_header_safe_and_id(void **state)
{
	assert_true(header_safe("abc ~!#$%'()*+,-./:;=?@[]^_`{|}", 31));
	assert_false(header_safe("a\"", 2));
	assert_false(header_safe("a\\", 2));
	assert_false(header_safe("<", 1));
	assert_false(header_safe(">", 1));
	assert_false(header_safe("&", 1));
	assert_false(header_safe("\x7f", 1));
	assert_false(header_safe("\x1f", 1));
	assert_true(id_is_valid_n("n_abc-1.2~X", 11));
	assert_true(id_is_valid_n("...", 3));
	assert_false(id_is_valid_n(".", 1));
	assert_false(id_is_valid_n("..", 2));
	assert_false(id_is_valid_n("", 0));
	assert_false(id_is_valid_n("a+b", 3));
	/* SI refuses non-header-safe values rather than mis-encoding them. */
	char *si = NULL;
	size_t n;
	assert_int_equal(
	    envelope_signing_input("t", "e<1", "n", "2025-01-15T10:30:00Z", "{}", 2, &si, &n),
	    -EINVAL);
	assert_int_equal(
	    envelope_signing_input("t", "e1", "n", "2025-01-15 10:30:00Z", "{}", 2, &si, &n),
	    -EINVAL);
	assert_int_equal(
	    envelope_signing_input("t", "e1", "n", "2025-01-15T10:30:00Z", "{", 1, &si, &n),
	    -EINVAL);
	assert_null(si);
}

static void test_time_in_si(void **state)
{
	/* The TIME table of §6.3, observed through SI. */
	static const char *const tt[][2] = {
	    {"2025-01-15T10:30:00Z", "2025-01-15T10:30:00Z"},
	    {"2025-01-15T10:30:00.250000Z", "2025-01-15T10:30:00.25Z"},
	    {"2025-01-15T10:30:00.000Z", "2025-01-15T10:30:00Z"},
	    {"2025-01-15T10:30:00+00:00", "2025-01-15T10:30:00Z"},
	    {"2025-01-15T12:30:00+02:00", "2025-01-15T12:30:00+02:00"},
	    {"2025-01-15T12:30:00.100200300400+02:00", "2025-01-15T12:30:00.1002003+02:00"},
	};
	for (size_t i = 0; i < ELEMENTSOF(tt); i++) {
		_cleanup_free_ char *si = NULL, *want = NULL;
		size_t n;
		assert_int_equal(envelope_signing_input("t", "e", "n", tt[i][0], "{}", 2, &si, &n),
				 0);
		assert_true(asprintf(&want,
				     "{\"event_type\":\"t\",\"event_id\":\"e\",\"issued_at\":\"%"
				     "s\",\"nonce\":\"n\",\"payload\":{}}",
				     tt[i][1]) > 0);
		assert_string_equal(si, want);
	}
}

static void test_roundtrip(void **state)
{
	static const char *const payloads[] = {
	    "{}",
	    "{\"metadata\":{\"owner\":\"a <b> & c \xE2\x80\xA8\"},\"n\":[1,2.50,-0.0,1E+3]}",
	    "  {\n \"x\" : \"\\u003c\" }  ",
	    "[]",
	    "\"just a string\"",
	};
	for (size_t i = 0; i < ELEMENTSOF(payloads); i++) {
		_cleanup_free_ char *env = make("node_state_updated", "evt_9", "abc",
						"2025-01-15T10:30:59.5+00:00", payloads[i]);
		assert_int_equal(verify(env), 0);
	}
}

static void test_reject_strings(void **state)
{
	static const char *const names[] = {
	    "malformed", "missing_field",	   "not_header_safe", "bad_id", "stale",
	    "future",	 "bad_signature_encoding", "bad_signature",   "replay", "nonce_store_full"};
	assert_int_equal(ELEMENTSOF(names), _ENVELOPE_REJECT_MAX);
	for (int r = 0; r < _ENVELOPE_REJECT_MAX; r++)
		assert_string_equal(envelope_reject_to_string(r), names[r]);
	assert_null(envelope_reject_to_string(_ENVELOPE_REJECT_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vector1),
	    cmocka_unit_test(test_vector2),
	    cmocka_unit_test(test_vector_negatives),
	    cmocka_unit_test(test_vector_reindent),
	    cmocka_unit_test(test_sign_reproduces_vectors),
	    cmocka_unit_test(test_staleness),
	    cmocka_unit_test(test_replay),
	    cmocka_unit_test(test_nonce_store_full),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_rejections),
	    cmocka_unit_test(test_long_fields),
	    cmocka_unit_test(test_escaped_header_fields),
	    cmocka_unit_test(test_absent_payload),
	    cmocka_unit_test(test_every_prefix_rejected),
	    cmocka_unit_test(test_every_byte_flip_rejected),
	    cmocka_unit_test(test_payload_transform),
	    cmocka_unit_test(test_depth_bound),
	    cmocka_unit_test(test_scan_members),
	    cmocka_unit_test(test_unescape),
	    cmocka_unit_test(test_header_safe_and_id),
	    cmocka_unit_test(test_time_in_si),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_reject_strings),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
