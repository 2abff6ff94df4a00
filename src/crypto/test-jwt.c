/* Unit tests for session JWTs: the control-plane-api.md §10 vector, every rejection reason,
 * key rotation, action patterns, and sign → verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "crypto/jwt.h"
#include "crypto/signing-keys.h"
#include "shared/encoding.h"
#include "shared/macro.h"

#define SEED_HEX  "85fba794bc042df7045907b8e467383dde7f453a51e5e4b59dd1d797c162097f"
#define PUB_KEY32 "VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ="

/* Verbatim from control-plane-api.md §10. */
#define JWT_HEADER_BYTES "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}"
#define JWT_CLAIMS_BYTES                                                                           \
	"{\"iss\":\"plexsphere\",\"sub\":\"user_abc123\",\"email\":\"admin@example.com\",\"node_"  \
	"id\":\"n_abc123\","                                                                       \
	"\"session_id\":\"sess_a1b2c3\",\"actions\":[\"diagnostics.*\",\"health.check\",\"hooks/"  \
	"backup\"],"                                                                               \
	"\"iat\":1705312200,\"exp\":1705341000}"
#define JWT_HEADER_B64U "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9"
#define JWT_SIG_B64U                                                                               \
	"QjyFCW8gs3Oe_F2Jg4vG7_0T6nNEqEDLEQRfAeh7JLJO2eHgGyGCGDBddCif8N2lmGa-62YF4MaZoZl3MuZaDw"
static const char JWT_TOKEN[] = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9."
				"eyJpc3MiOiJwbGV4c3BoZXJlIiwic3ViIjoidXNlcl9hYmMxMjMiLCJlbWFp"
				"bCI6ImFkbWluQGV4YW1wbGUuY29tIiwibm9kZV9pZCI6Im5fYWJjMTIzIiwic2Vzc2"
				"lvbl9pZCI6InNlc3NfYTFiMmMzIiwi"
				"YWN0aW9ucyI6WyJkaWFnbm9zdGljcy4qIiwiaGVhbHRoLmNoZWNrIiwiaG9va3MvYm"
				"Fja3VwIl0sImlhdCI6MTcwNTMxMjIw"
				"MCwiZXhwIjoxNzA1MzQxMDAwfQ.QjyFCW8gs3Oe_F2Jg4vG7_"
				"0T6nNEqEDLEQRfAeh7JLJO2eHgGyGCGDBddCif8N2lmGa-62Y"
				"F4MaZoZl3MuZaDw";

#define NOW 1705320000

static uint8_t seed[32];
static struct signing_keys keys;

static int setup(void **state)
{
	if (hex_decode_exact(SEED_HEX, strlen(SEED_HEX), seed, 32) < 0)
		return -1;
	keys = (struct signing_keys){};
	return key32_parse(PUB_KEY32, keys.current);
}

static struct timestamp ts(int64_t sec)
{
	return (struct timestamp){.sec = sec};
}

static bool revoked_set(const char *session_id, void *userdata)
{
	for (const char *const *p = userdata; *p; p++)
		if (streq(*p, session_id))
			return true;
	return false;
}

static void test_vector(void **state)
{
	_cleanup_(jwt_session_freep) struct jwt_session *s = NULL;
	enum jwt_reject reason = _JWT_REJECT_MAX;
	_cleanup_free_ char *h = NULL, *signed_token = NULL;

	/* The header segment and the complete token are reproducible from the bytes. */
	assert_int_equal(base64url_encode(JWT_HEADER_BYTES, strlen(JWT_HEADER_BYTES), &h), 0);
	assert_string_equal(h, JWT_HEADER_B64U);
	assert_int_equal(jwt_sign(JWT_CLAIMS_BYTES, strlen(JWT_CLAIMS_BYTES), seed, &signed_token),
			 0);
	assert_string_equal(signed_token, JWT_TOKEN);
	assert_non_null(strstr(JWT_TOKEN, "." JWT_SIG_B64U));

	assert_int_equal(jwt_verify(JWT_TOKEN, strlen(JWT_TOKEN), &keys, "n_abc123", ts(NOW), NULL,
				    NULL, &s, &reason),
			 0);
	assert_string_equal(s->sub, "user_abc123");
	assert_string_equal(s->email, "admin@example.com");
	assert_string_equal(s->node_id, "n_abc123");
	assert_string_equal(s->session_id, "sess_a1b2c3");
	assert_int_equal(s->n_actions, 3);
	assert_string_equal(s->actions[0], "diagnostics.*");
	assert_int_equal(s->iat, 1705312200);
	assert_int_equal(s->exp, 1705341000);

	static const struct {
		const char *action;
		bool allowed;
	} acts[] = {
	    {"diagnostics.collect", true}, {"health.check", true},	   {"hooks/backup", true},
	    {"service.restart", false},	   {"hooks/deploy", false},	   {"diagnostics", false},
	    {"health.check2", false},	   {"hooks/diagnostics.x", false},
	};
	for (size_t i = 0; i < ELEMENTSOF(acts); i++)
		assert_int_equal(jwt_session_allows(s, acts[i].action), acts[i].allowed);
	assert_true(jwt_session_allows_hook(s, "backup"));
	assert_false(jwt_session_allows_hook(s, "deploy"));
}

static void test_sign_session_matches_vector(void **state)
{
	char *actions[] = {"diagnostics.*", "health.check", "hooks/backup"};
	struct jwt_session s = {
	    .sub = "user_abc123",
	    .email = "admin@example.com",
	    .node_id = "n_abc123",
	    .session_id = "sess_a1b2c3",
	    .actions = actions,
	    .n_actions = 3,
	    .iat = 1705312200,
	    .exp = 1705341000,
	};
	_cleanup_free_ char *t = NULL;

	assert_int_equal(jwt_sign_session(&s, seed, &t), 0);
	assert_string_equal(t, JWT_TOKEN);
}

/* Tokens built from claims with the vector key, checked against one expected outcome. */
static const struct {
	const char *name;
	const char *claims;
	int64_t now;
	const char *node;
	int want;
	enum jwt_reject reason;
} claim_cases[] = {
    {"vector", JWT_CLAIMS_BYTES, NOW, "n_abc123", 0, 0},
    {"wrong node", JWT_CLAIMS_BYTES, NOW, "n_other", -EBADMSG, JWT_REJECT_WRONG_NODE},
    {"expired (exp+60)", JWT_CLAIMS_BYTES, 1705341000 + 60, "n_abc123", -EBADMSG,
     JWT_REJECT_EXPIRED},
    {"within exp leeway", JWT_CLAIMS_BYTES, 1705341000 + 59, "n_abc123", 0, 0},
    {"iat in future beyond leeway", JWT_CLAIMS_BYTES, 1705312200 - 61, "n_abc123", -EBADMSG,
     JWT_REJECT_NOT_YET_VALID},
    {"iat within leeway", JWT_CLAIMS_BYTES, 1705312200 - 60, "n_abc123", 0, 0},
    {"bad issuer",
     "{\"iss\":\"other\",\"sub\":\"u\",\"node_id\":\"n_abc123\",\"session_id\":\"s\",\"actions\":[]"
     ",\"iat\":1705312200,\"exp\":1705341000}",
     NOW, "n_abc123", -EBADMSG, JWT_REJECT_BAD_ISSUER},
    {"lifetime 86401",
     "{\"iss\":\"plexsphere\",\"sub\":\"u\",\"node_id\":\"n_abc123\",\"session_id\":\"s\","
     "\"actions\":[],\"iat\":1705312200,\"exp\":1705398601}",
     NOW, "n_abc123", -EBADMSG, JWT_REJECT_LIFETIME},
    {"lifetime 86400",
     "{\"iss\":\"plexsphere\",\"sub\":\"u\",\"node_id\":\"n_abc123\",\"session_id\":\"s\","
     "\"actions\":[],\"iat\":1705312200,\"exp\":1705398600}",
     NOW, "n_abc123", 0, 0},
    {"missing sub",
     "{\"iss\":\"plexsphere\",\"node_id\":\"n_abc123\",\"session_id\":\"s\",\"actions\":[],\"iat\":"
     "1705312200,\"exp\":1705341000}",
     NOW, "n_abc123", -EBADMSG, JWT_REJECT_MALFORMED},
    {"missing actions",
     "{\"iss\":\"plexsphere\",\"sub\":\"u\",\"node_id\":\"n_abc123\",\"session_id\":\"s\",\"iat\":"
     "1705312200,\"exp\":1705341000}",
     NOW, "n_abc123", -EBADMSG, JWT_REJECT_MALFORMED},
    {"fractional iat",
     "{\"iss\":\"plexsphere\",\"sub\":\"u\",\"node_id\":\"n_abc123\",\"session_id\":\"s\","
     "\"actions\":[],\"iat\":1705312200.0,\"exp\":1705341000}",
     NOW, "n_abc123", -EBADMSG, JWT_REJECT_MALFORMED},
    {"bad session id",
     "{\"iss\":\"plexsphere\",\"sub\":\"u\",\"node_id\":\"n_abc123\",\"session_id\":\"a/"
     "b\",\"actions\":[],\"iat\":1705312200,\"exp\":1705341000}",
     NOW, "n_abc123", -EBADMSG, JWT_REJECT_MALFORMED},
    {"duplicate claim",
     "{\"iss\":\"plexsphere\",\"iss\":\"plexsphere\",\"sub\":\"u\",\"node_id\":\"n_abc123\","
     "\"session_id\":\"s\",\"actions\":[],\"iat\":1705312200,\"exp\":1705341000}",
     NOW, "n_abc123", -EBADMSG, JWT_REJECT_MALFORMED},
    {"huge exp does not overflow",
     "{\"iss\":\"plexsphere\",\"sub\":\"u\",\"node_id\":\"n_abc123\",\"session_id\":\"s\","
     "\"actions\":[],\"iat\":-9223372036854775807,\"exp\":9223372036854775807}",
     NOW, "n_abc123", -EBADMSG, JWT_REJECT_LIFETIME},
};

static void test_claims(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(claim_cases); i++) {
		_cleanup_(jwt_session_freep) struct jwt_session *s = NULL;
		_cleanup_free_ char *t = NULL;
		enum jwt_reject reason = _JWT_REJECT_MAX;
		int r;

		assert_int_equal(
		    jwt_sign(claim_cases[i].claims, strlen(claim_cases[i].claims), seed, &t), 0);
		r = jwt_verify(t, strlen(t), &keys, claim_cases[i].node, ts(claim_cases[i].now),
			       NULL, NULL, &s, &reason);
		if (r != claim_cases[i].want || (r < 0 && reason != claim_cases[i].reason))
			fail_msg("case '%s': r=%d reason=%s", claim_cases[i].name, r,
				 strempty(jwt_reject_to_string(reason)));
		assert_true(r < 0 ? s == NULL : s != NULL);
	}
}

static void test_revoked(void **state)
{
	const char *revoked[] = {"sess_x", "sess_a1b2c3", NULL};
	const char *others[] = {"sess_x", NULL};
	struct jwt_session *s = NULL;
	enum jwt_reject reason;

	assert_int_equal(jwt_verify(JWT_TOKEN, strlen(JWT_TOKEN), &keys, "n_abc123", ts(NOW),
				    revoked_set, revoked, &s, &reason),
			 -EBADMSG);
	assert_int_equal(reason, JWT_REJECT_REVOKED);
	assert_string_equal(jwt_reject_to_string(reason), "revoked");
	assert_int_equal(jwt_verify(JWT_TOKEN, strlen(JWT_TOKEN), &keys, "n_abc123", ts(NOW),
				    revoked_set, others, &s, &reason),
			 0);
	jwt_session_free(s);
}

static char *replace_segment(const char *token, int which, const char *with)
{
	const char *d1 = strchr(token, '.'), *d2 = strchr(d1 + 1, '.');
	char *out = NULL;

	if (which == 0)
		assert_true(asprintf(&out, "%s%s", with, d1) > 0);
	else if (which == 1)
		assert_true(asprintf(&out, "%.*s.%s%s", (int)(d1 - token), token, with, d2) > 0);
	else
		assert_true(asprintf(&out, "%.*s.%s", (int)(d2 - token), token, with) > 0);
	return out;
}

static void test_malformed_and_alg(void **state)
{
	struct jwt_session *s = NULL;
	enum jwt_reject reason;
	_cleanup_free_ char *b64 = NULL, *none = NULL, *hs = NULL, *nalg = NULL, *padded = NULL,
			    *trunc_sig = NULL;
	char mutated[sizeof(JWT_TOKEN)];

	static const struct {
		const char *token;
		enum jwt_reject reason;
	} bad[] = {
	    {"", JWT_REJECT_MALFORMED},
	    {"abc", JWT_REJECT_MALFORMED},
	    {"a.b", JWT_REJECT_MALFORMED},
	    {"a.b.c.d", JWT_REJECT_MALFORMED},
	    {"..", JWT_REJECT_MALFORMED},
	    {"!!!.e30.AAAA", JWT_REJECT_MALFORMED},
	    {"e30.e30.AAAA", JWT_REJECT_BAD_ALG}, /* header {} */
	    /* The signature is checked before the claims are looked at. */
	    {JWT_HEADER_B64U "..", JWT_REJECT_BAD_SIGNATURE},
	    {JWT_HEADER_B64U ".e30." JWT_SIG_B64U, JWT_REJECT_BAD_SIGNATURE},
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		assert_int_equal(jwt_verify(bad[i].token, strlen(bad[i].token), &keys, "n_abc123",
					    ts(NOW), NULL, NULL, &s, &reason),
				 -EBADMSG);
		assert_int_equal(reason, bad[i].reason);
	}

	/* alg none / HS256 / missing, all with the vector's claims and signature. */
	assert_int_equal(base64url_encode("{\"alg\":\"none\",\"typ\":\"JWT\"}", 26, &b64), 0);
	none = replace_segment(JWT_TOKEN, 0, b64);
	free(b64);
	assert_int_equal(base64url_encode("{\"alg\":\"HS256\"}", 15, &b64), 0);
	hs = replace_segment(JWT_TOKEN, 0, b64);
	free(b64);
	assert_int_equal(base64url_encode("{\"typ\":\"JWT\"}", 13, &b64), 0);
	nalg = replace_segment(JWT_TOKEN, 0, b64);
	const char *algs[] = {none, hs, nalg};
	for (size_t i = 0; i < ELEMENTSOF(algs); i++) {
		assert_int_equal(jwt_verify(algs[i], strlen(algs[i]), &keys, "n_abc123", ts(NOW),
					    NULL, NULL, &s, &reason),
				 -EBADMSG);
		assert_int_equal(reason, JWT_REJECT_BAD_ALG);
	}

	/* Padded or truncated signature segments are not 64 bytes of base64url. */
	padded = replace_segment(JWT_TOKEN, 2, JWT_SIG_B64U "==");
	trunc_sig = replace_segment(JWT_TOKEN, 2, "QjyFCW8gs3Oe");
	const char *sigs[] = {padded, trunc_sig};
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
		assert_int_equal(jwt_verify(sigs[i], strlen(sigs[i]), &keys, "n_abc123", ts(NOW),
					    NULL, NULL, &s, &reason),
				 -EBADMSG);
		assert_int_equal(reason, JWT_REJECT_BAD_SIGNATURE);
	}

	/* Any changed character of the claims segment breaks the signature (or decoding). */
	for (size_t i = strlen(JWT_HEADER_B64U) + 1;
	     i < strlen(JWT_TOKEN) - strlen(JWT_SIG_B64U) - 1; i += 7) {
		memcpy(mutated, JWT_TOKEN, sizeof(mutated));
		mutated[i] = mutated[i] == 'A' ? 'B' : 'A';
		assert_int_equal(jwt_verify(mutated, strlen(mutated), &keys, "n_abc123", ts(NOW),
					    NULL, NULL, &s, &reason),
				 -EBADMSG);
		assert_true(reason == JWT_REJECT_BAD_SIGNATURE || reason == JWT_REJECT_MALFORMED);
	}
}

static void test_key_rotation(void **state)
{
	struct signing_keys k = {};
	struct jwt_session *s = NULL;
	enum jwt_reject reason;
	uint8_t seed2[32];

	/* current = a new key, previous = the vector's key. */
	assert_int_equal(ed25519_generate(seed2, k.current), 0);
	memcpy(k.previous, keys.current, 32);
	k.has_previous = true;

	/* Without expiry: never. */
	assert_int_equal(jwt_verify(JWT_TOKEN, strlen(JWT_TOKEN), &k, "n_abc123", ts(NOW), NULL,
				    NULL, &s, &reason),
			 -EBADMSG);
	assert_int_equal(reason, JWT_REJECT_BAD_SIGNATURE);
	k.has_expiry = true;
	k.transition_expires = ts(NOW + 1);
	assert_int_equal(jwt_verify(JWT_TOKEN, strlen(JWT_TOKEN), &k, "n_abc123", ts(NOW), NULL,
				    NULL, &s, &reason),
			 0);
	s = jwt_session_free(s);
	k.transition_expires = ts(NOW);
	assert_int_equal(jwt_verify(JWT_TOKEN, strlen(JWT_TOKEN), &k, "n_abc123", ts(NOW), NULL,
				    NULL, &s, &reason),
			 -EBADMSG);
	assert_int_equal(reason, JWT_REJECT_BAD_SIGNATURE);
	/* An unknown key alone: rejected. */
	k.has_previous = false;
	k.has_expiry = false;
	assert_int_equal(jwt_verify(JWT_TOKEN, strlen(JWT_TOKEN), &k, "n_abc123", ts(NOW), NULL,
				    NULL, &s, &reason),
			 -EBADMSG);
}

static const struct {
	const char *pattern;
	const char *action;
	bool match;
} pattern_cases[] = {
    {"*", "service.restart", true},
    {"*", "hooks/deploy", true},
    {"hooks/*", "hooks/deploy", true},
    {"hooks/*", "hooks/", false},
    {"hooks/*", "service.restart", false},
    {"diagnostics.*", "diagnostics.collect", true},
    {"diagnostics.*", "diagnostics.", true},
    {"diagnostics.*", "diagnostics", false},
    {"diagnostics.*", "diagnosticsX.collect", false},
    {"diagnostics.*", "hooks/diagnostics.collect", false},
    {"hooks/ba.*", "hooks/ba.x", false},
    {"health.check", "health.check", true},
    {"health.check", "health.checks", false},
    {"health.*.x", "health.a.x", false},
    {".*", ".x", false},
    {"hooks/backup", "hooks/backup", true},
    {"hooks/backup", "backup", false},
    {"*", "", false},
};

static void test_patterns(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(pattern_cases); i++)
		if (jwt_action_pattern_match(pattern_cases[i].pattern, pattern_cases[i].action) !=
		    pattern_cases[i].match)
			fail_msg("pattern '%s' action '%s': want %d", pattern_cases[i].pattern,
				 pattern_cases[i].action, pattern_cases[i].match);
}

static void test_reject_strings(void **state)
{
	for (int r = 0; r < _JWT_REJECT_MAX; r++)
		assert_non_null(jwt_reject_to_string(r));
	assert_null(jwt_reject_to_string(_JWT_REJECT_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vector),
	    cmocka_unit_test(test_sign_session_matches_vector),
	    cmocka_unit_test(test_claims),
	    cmocka_unit_test(test_revoked),
	    cmocka_unit_test(test_malformed_and_alg),
	    cmocka_unit_test(test_key_rotation),
	    cmocka_unit_test(test_patterns),
	    cmocka_unit_test(test_reject_strings),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
