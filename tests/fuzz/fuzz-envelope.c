/* libFuzzer harness for the signed envelope (control-plane-api.md §6): the JSON member scanner
 * and validator, PAYLOAD() canonicalisation, and envelope_verify() with the §6.7 test key and a
 * fixed "now"; inputs that are valid JSON are also signed as a payload and must verify. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/envelope.h"
#include "controlplane/nonce-store.h"
#include "crypto/crypto.h"
#include "crypto/signing-keys.h"
#include "shared/macro.h"
#include "shared/wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* §6.7 test key. */
static const uint8_t test_seed[32] = {
	0x85, 0xfb, 0xa7, 0x94, 0xbc, 0x04, 0x2d, 0xf7, 0x04, 0x59, 0x07, 0xb8, 0xe4, 0x67, 0x38, 0x3d,
	0xde, 0x7f, 0x45, 0x3a, 0x51, 0xe5, 0xe4, 0xb5, 0x9d, 0xd1, 0xd7, 0x97, 0xc1, 0x62, 0x09, 0x7f,
};
static const uint8_t test_pub[32] = {
	0x54, 0x92, 0x26, 0xaa, 0x94, 0xcb, 0x24, 0x35, 0x4c, 0x08, 0xd4, 0xde, 0xeb, 0xc9, 0x76, 0x02,
	0x6a, 0x7a, 0x42, 0xcc, 0xb0, 0x84, 0x73, 0xbf, 0x6b, 0xf2, 0x8f, 0xa9, 0x51, 0xc1, 0xf1, 0xb4,
};
/* 2025-01-15T10:31:00Z: inside the window of both §6.7 vectors. */
static const struct timestamp fixed_now = { .sec = 1736937060, .nsec = 0 };

static enum json_scan_type type_of(char c)
{
	switch (c) {
	case 'n':
		return JSON_SCAN_NULL;
	case 'f':
		return JSON_SCAN_FALSE;
	case 't':
		return JSON_SCAN_TRUE;
	case '"':
		return JSON_SCAN_STRING;
	case '[':
		return JSON_SCAN_ARRAY;
	case '{':
		return JSON_SCAN_OBJECT;
	default:
		return JSON_SCAN_NUMBER;
	}
}

static void check_scanner(const char *s, size_t size)
{
	struct json_scan scan = {};
	int valid, r;

	valid = json_validate(s, size);
	CHECK(valid == 0 || valid == -EINVAL);

	r = json_scan_object_members(s, size, &scan);
	CHECK(r == 0 || r == -EINVAL || r == -ENOTUNIQ || r == -ENOMEM);
	if (valid < 0)
		CHECK(r == -EINVAL);
	if (r < 0) {
		CHECK(scan.n_members == 0);
		json_scan_done(&scan);
		return;
	}
	CHECK(valid == 0);
	for (size_t i = 0; i < scan.n_members; i++) {
		const struct json_member *m = &scan.members[i];
		size_t n = 0, n2 = 0;
		char *buf;

		CHECK(m->value >= s && m->value_len > 0 && m->value_len <= size &&
		      (size_t)(m->value - s) <= size - m->value_len);
		CHECK(m->name[m->name_len] == '\0');
		CHECK(json_validate(m->value, m->value_len) == 0);
		CHECK(m->type == type_of(m->value[0]));
		/* Names are unique, so a NUL-free one finds exactly this member. */
		if (strlen(m->name) == m->name_len)
			CHECK(json_scan_find(&scan, m->name) == m);
		for (size_t j = 0; j < i; j++)
			CHECK(scan.members[j].name_len != m->name_len ||
			      memcmp(scan.members[j].name, m->name, m->name_len) != 0);
		if (m->type == JSON_SCAN_STRING) {
			CHECK(json_string_unescape(m->value, m->value_len, NULL, 0, &n) == 0);
			buf = malloc(n + 1);
			CHECK(buf);
			CHECK(json_string_unescape(m->value, m->value_len, buf, n + 1, &n2) == 0);
			CHECK(n2 == n && buf[n] == '\0');
			free(buf);
		}
	}
	json_scan_done(&scan);
}

/* PAYLOAD() accepts exactly the valid JSON values, yields valid JSON and is idempotent. */
static void check_canonical_payload(const char *s, size_t size, int valid)
{
	char *c = NULL, *c2 = NULL;
	size_t n = 0, n2 = 0;
	int r;

	r = envelope_canonical_payload(s, size, &c, &n);
	CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r == -ENOMEM)
		return;
	CHECK((r == 0) == (valid == 0));
	if (r < 0)
		return;
	CHECK(c && c[n] == '\0');
	CHECK(json_validate(c, n) == 0);
	CHECK(envelope_canonical_payload(c, n, &c2, &n2) == 0);
	CHECK(n2 == n && memcmp(c, c2, n) == 0);
	free(c);
	free(c2);
}

static int verify(const char *s, size_t size, struct nonce_store *ns, struct envelope *e,
		  enum envelope_reject *reason)
{
	static const struct signing_keys keys_template = { .has_previous = false };
	struct signing_keys keys = keys_template;
	int r;

	memcpy(keys.current, test_pub, sizeof(test_pub));
	r = envelope_verify(s, size, &keys, ns, fixed_now, e, reason);
	CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM);
	if (r == -EBADMSG)
		CHECK((unsigned)*reason < _ENVELOPE_REJECT_MAX && envelope_reject_to_string(*reason));
	if (r == 0) {
		CHECK(header_safe(e->event_type, strlen(e->event_type)));
		CHECK(id_is_valid_n(e->event_id, strlen(e->event_id)));
		CHECK(header_safe(e->nonce, strlen(e->nonce)));
		CHECK(!e->payload || (e->payload >= s && (size_t)(e->payload - s) + e->payload_len <= size));
		CHECK(nonce_store_contains(ns, e->nonce));
	}
	return r;
}

/* The input as a payload: signed with the test key it must verify, once. */
static void check_sign_verify(const char *s, size_t size)
{
	struct nonce_store *ns = NULL;
	enum envelope_reject reason;
	struct envelope e;
	char *env = NULL, *c = NULL;
	size_t env_len = 0, c_len = 0;
	int r;

	r = envelope_sign("node_state_updated", "evt_000042", "6f1c2a9be4d058731b0e4d2c9a7f3e15",
			  "2025-01-15T12:30:30.5+02:00", s, size, test_seed, &env, &env_len);
	if (r == -ENOMEM)
		return;
	CHECK(r == 0);
	CHECK(envelope_canonical_payload(s, size, &c, &c_len) == 0);
	CHECK(nonce_store_new(4, &ns) == 0);

	r = verify(env, env_len, ns, &e, &reason);
	if (r != -ENOMEM) {
		CHECK(r == 0);
		CHECK(strcmp(e.event_type, "node_state_updated") == 0 && strcmp(e.event_id, "evt_000042") == 0);
		CHECK(e.issued_at.sec == 1736937030 && e.issued_at.nsec == 500000000);
		/* The signed text carries PAYLOAD(p) verbatim. */
		CHECK(e.payload && e.payload_len == c_len && memcmp(e.payload, c, c_len) == 0);
		CHECK(verify(env, env_len, ns, &e, &reason) == -EBADMSG && reason == ENVELOPE_REJECT_REPLAY);

		/* One flipped signature character (mid-string: no padding-bit effects). */
		{
			/* envelope_sign() appends ,"signature":"<88 chars>"} (the payload may hold
			 * a "signature" member of its own, so search from the end). */
			char *sig = env + env_len - 2 - ENVELOPE_SIGNATURE_B64_LEN;

			CHECK(env_len > 2 + ENVELOPE_SIGNATURE_B64_LEN && sig[-1] == '"');
			sig += 40;
			*sig = *sig == 'A' ? 'B' : 'A';
			nonce_store_free(ns);
			CHECK(nonce_store_new(4, &ns) == 0);
			CHECK(verify(env, env_len, ns, &e, &reason) == -EBADMSG &&
			      reason == ENVELOPE_REJECT_BAD_SIGNATURE);
		}
	}
	nonce_store_free(ns);
	free(env);
	free(c);
}

/* The harness is only useful if its key and clock accept a real signed event: §6.7 vector 2. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char vector2[] =
		"{\"event_type\":\"peer_added\",\"event_id\":\"evt_000043\",\"issued_at\":\"2025-01-15T10:30:05Z\",\"nonce\":\"0d3b8e51f2a94c67a1e0b5d7c3f29e84\",\"payload\":{\"id\":\"n_peer456\",\"public_key\":\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\",\"mesh_ip\":\"10.100.1.5\",\"endpoint\":\"203.0.113.10:51820\",\"allowed_ips\":[\"10.100.1.5/32\"],\"psk\":\"BY0lWFE3NaekLVCSxBjjA5D5fik694dCChMkSy5so6c=\"},\"signature\":\"RZkUtTr8C7PQ4GV2/DY0k/HWpCZXi/pW6c4kn/EEjlqIgU2EU7dETIAxjd9H22MAvHW0QpthT6Mv3f9Uz+DYCA==\"}";
	struct nonce_store *ns = NULL;
	enum envelope_reject reason;
	struct envelope e;
	uint8_t pub[32];

	CHECK(ed25519_public_from_seed(test_seed, pub) == 0 && memcmp(pub, test_pub, 32) == 0);
	CHECK(nonce_store_new(4, &ns) == 0);
	CHECK(verify(vector2, STRLEN(vector2), ns, &e, &reason) == 0);
	CHECK(strcmp(e.event_id, "evt_000043") == 0);
	nonce_store_free(ns);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct nonce_store *ns = NULL;
	enum envelope_reject reason;
	struct envelope e;
	int valid;

	if (size > 65536)
		return 0;
	check_scanner(s, size);
	valid = json_validate(s, size);
	check_canonical_payload(s, size, valid);

	CHECK(nonce_store_new(4, &ns) == 0);
	verify(s, size, ns, &e, &reason);
	nonce_store_free(ns);

	if (valid == 0)
		check_sign_verify(s, size);
	return 0;
}
