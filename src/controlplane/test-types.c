/* Tests for the wire type parsers and serializers: spec examples verbatim (§4.1, §4.8), each
 * invalid-field family with the field named, aliases, null/absent arrays, exact serializations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>

#include "controlplane/types.h"
#include "shared/encoding.h"
#include "shared/json-util.h"
#include "shared/macro.h"
#include "shared/wire.h"

/* control-plane-api.md §4.1, verbatim. */
static const char register_example[] =
	"{\n"
	"  \"node_id\": \"n_abc123\",\n"
	"  \"mesh_ip\": \"10.100.1.1\",\n"
	"  \"signing_public_key\": \"VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ=\",\n"
	"  \"node_secret_key\": \"yhJviexB2qU1PoBZX7c0u/NgUDfE39/JIfaZeos2fZI=\",\n"
	"  \"node_token\": \"pxn_3q2bM4yZ0kQfW8v1Jr6tLc9HsA7uXe5GdN2pKo0TzVw\",\n"
	"  \"peers\": [\n"
	"    {\n"
	"      \"id\": \"n_peer456\",\n"
	"      \"public_key\": \"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\",\n"
	"      \"mesh_ip\": \"10.100.1.5\",\n"
	"      \"endpoint\": \"203.0.113.10:51820\",\n"
	"      \"allowed_ips\": [\"10.100.1.5/32\"],\n"
	"      \"psk\": \"BY0lWFE3NaekLVCSxBjjA5D5fik694dCChMkSy5so6c=\"\n"
	"    }\n"
	"  ]\n"
	"}\n";

/* control-plane-api.md §4.8, verbatim. */
static const char state_example[] =
	"{\n"
	"  \"peers\": [\n"
	"    {\"id\": \"n_peer456\", \"public_key\": \"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\",\n"
	"     \"mesh_ip\": \"10.100.1.5\", \"endpoint\": \"203.0.113.10:51820\",\n"
	"     \"allowed_ips\": [\"10.100.1.5/32\"], \"psk\": \"BY0lWFE3NaekLVCSxBjjA5D5fik694dCChMkSy5so6c=\"}\n"
	"  ],\n"
	"  \"policies\": [\n"
	"    {\"id\": \"pol_web\", \"rules\": [\n"
	"      {\"src\": \"n_peer456\", \"dst\": \"n_abc123\", \"port\": 443, \"protocol\": \"tcp\", \"action\": \"allow\"}\n"
	"    ]}\n"
	"  ],\n"
	"  \"signing_keys\": {\"current\": \"VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ=\"},\n"
	"  \"metadata\": {\"environment\": \"production\", \"region\": \"eu-west-1\"},\n"
	"  \"data\": [\n"
	"    {\"key\": \"app-config\", \"content_type\": \"application/json\",\n"
	"     \"payload\": {\"port\": 8443}, \"version\": 3, \"updated_at\": \"2025-01-15T10:29:59Z\"}\n"
	"  ],\n"
	"  \"secret_refs\": [{\"key\": \"tls-cert\", \"version\": 2}]\n"
	"}\n";

static const char peer_ok[] = "{\"id\":\"n_peer456\",\"public_key\":\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\","
			      "\"mesh_ip\":\"10.100.1.5\",\"endpoint\":\"203.0.113.10:51820\","
			      "\"allowed_ips\":[\"10.100.1.5/32\"],"
			      "\"psk\":\"BY0lWFE3NaekLVCSxBjjA5D5fik694dCChMkSy5so6c=\"}";

static json_t *parse(const char *s)
{
	json_t *j = NULL;
	struct json_error e = {};
	if (json_parse_bounded(s, strlen(s), &j, &e) < 0)
		fail_msg("test JSON does not parse: %s: %s", e.text, s);
	return j;
}

static json_t *parse_any(const char *s)
{
	json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
	assert_non_null(j);
	return j;
}

static void key_eq(const uint8_t k[32], const char *b64)
{
	char buf[45];
	key32_format(k, buf);
	assert_string_equal(buf, b64);
}

static void check_spec_peer(const struct cp_peer *p)
{
	char buf[64];
	assert_string_equal(p->id, "n_peer456");
	key_eq(p->public_key, "YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=");
	assert_string_equal(inet_ntop(AF_INET, &p->mesh_ip, buf, sizeof(buf)), "10.100.1.5");
	assert_true(p->endpoint.known);
	assert_true(endpoint_format(&p->endpoint.addr, buf, sizeof(buf)) >= 0);
	assert_string_equal(buf, "203.0.113.10:51820");
	assert_int_equal(p->n_allowed_ips, 1);
	assert_int_equal(cp_prefix_format(&p->allowed_ips[0], buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.100.1.5/32");
	assert_true(p->has_psk);
	key_eq(p->psk, "BY0lWFE3NaekLVCSxBjjA5D5fik694dCChMkSy5so6c=");
	assert_false(p->relayed);
}

static void test_register_example(void **state)
{
	json_t *j = parse(register_example);
	struct cp_register_response *r = NULL;
	struct json_error e = {};
	char buf[32];

	assert_int_equal(cp_register_response_from_json(j, &r, &e), 0);
	assert_string_equal(r->node_id, "n_abc123");
	assert_string_equal(inet_ntop(AF_INET, &r->mesh_ip, buf, sizeof(buf)), "10.100.1.1");
	key_eq(r->signing_public_key, "VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ=");
	key_eq(r->node_secret_key, "yhJviexB2qU1PoBZX7c0u/NgUDfE39/JIfaZeos2fZI=");
	assert_string_equal(r->node_token, "pxn_3q2bM4yZ0kQfW8v1Jr6tLc9HsA7uXe5GdN2pKo0TzVw");
	assert_int_equal(r->peers.n_peers, 1);
	assert_int_equal(r->peers.n_errors, 0);
	check_spec_peer(&r->peers.peers[0]);
	cp_register_response_free(r);

	/* Older CP without node_token; peers null. */
	json_object_del(j, "node_token");
	json_object_set_new(j, "peers", json_null());
	assert_int_equal(cp_register_response_from_json(j, &r, &e), 0);
	assert_null(r->node_token);
	assert_int_equal(r->peers.n_peers, 0);
	cp_register_response_free(r);

	static const struct {
		const char *field;
		json_t *(*value)(void);
		const char *err;
	} bad[] = {
		{ "node_id", NULL, "node_id: is required" },
		{ "mesh_ip", NULL, "mesh_ip: is required" },
		{ "signing_public_key", NULL, "signing_public_key: is required" },
		{ "node_secret_key", NULL, "node_secret_key: is required" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		json_t *c = json_deep_copy(j);
		json_object_del(c, bad[i].field);
		r = NULL;
		assert_int_equal(cp_register_response_from_json(c, &r, &e), -EINVAL);
		assert_null(r);
		assert_string_equal(e.text, bad[i].err);
		json_decref(c);
	}
	static const struct {
		const char *field, *value, *err;
	} badv[] = {
		{ "node_id", "..", "node_id: must be 1-128 characters of A-Z a-z 0-9 - . _ ~" },
		{ "mesh_ip", "10.100.1.1/32", "mesh_ip: must be a bare IPv4 address" },
		{ "signing_public_key", "VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8b=",
		  "signing_public_key: must be base64 of 32 bytes" },
		{ "node_secret_key", "yhJviexB2qU1PoBZX7c0u/NgUDfE39/JIfaZeos2fZ", "node_secret_key: must be base64 of 32 bytes" },
		{ "node_token", "short", "node_token: must be 32-256 printable ASCII characters" },
		{ "node_token", "pxn_3q2bM4yZ0kQfW8v1Jr6tLc9HsA7uX\r\nevil: header", "node_token: must be 32-256 printable ASCII characters" },
	};
	for (size_t i = 0; i < ELEMENTSOF(badv); i++) {
		json_t *c = json_deep_copy(j);
		json_object_set_new(c, badv[i].field, json_string(badv[i].value));
		assert_int_equal(cp_register_response_from_json(c, &r, &e), -EINVAL);
		assert_string_equal(e.text, badv[i].err);
		json_decref(c);
	}
	/* Top-level shape wrong. */
	json_t *c = json_deep_copy(j);
	json_object_set_new(c, "peers", json_string("n_peer456"));
	assert_int_equal(cp_register_response_from_json(c, &r, &e), -EINVAL);
	assert_string_equal(e.text, "peers: must be an array");
	json_decref(c);
	c = json_array();
	assert_int_equal(cp_register_response_from_json(c, &r, &e), -EINVAL);
	json_decref(c);
	json_decref(j);
}

static void test_state_example(void **state)
{
	json_t *j = parse(state_example);
	struct cp_state_response *s = NULL;
	struct json_error e = {};

	assert_int_equal(cp_state_response_from_json(j, &s, &e), 0);
	assert_int_equal(s->peers.n_peers, 1);
	check_spec_peer(&s->peers.peers[0]);
	assert_int_equal(s->policies.n_policies, 1);
	const struct cp_policy *p = &s->policies.policies[0];
	assert_string_equal(p->id, "pol_web");
	assert_int_equal(p->n_rules, 1);
	assert_string_equal(p->rules[0].src, "n_peer456");
	assert_string_equal(p->rules[0].dst, "n_abc123");
	assert_int_equal(p->rules[0].port, 443);
	assert_int_equal(p->rules[0].protocol, CP_PROTOCOL_TCP);
	assert_int_equal(p->rules[0].action, CP_ACTION_ALLOW);
	assert_null(p->rules[0].invalid);
	assert_true(s->has_signing_keys);
	key_eq(s->signing_keys.current, "VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ=");
	assert_false(s->signing_keys.has_previous);
	assert_true(s->has_metadata);
	assert_int_equal(s->metadata.n_items, 2);
	assert_string_equal(cp_metadata_get(&s->metadata, "environment"), "production");
	assert_string_equal(cp_metadata_get(&s->metadata, "region"), "eu-west-1");
	assert_null(cp_metadata_get(&s->metadata, "zone"));
	assert_true(s->has_data);
	assert_int_equal(s->data.n_entries, 1);
	const struct cp_data_entry *d = &s->data.entries[0];
	assert_string_equal(d->key, "app-config");
	assert_string_equal(d->content_type, "application/json");
	assert_int_equal(json_integer_value(json_object_get(d->payload, "port")), 8443);
	assert_int_equal(d->version, 3);
	assert_int_equal(d->updated_at.sec, 1736936999);
	assert_true(s->has_secret_refs);
	assert_int_equal(s->secret_refs.n_refs, 1);
	assert_string_equal(s->secret_refs.refs[0].key, "tls-cert");
	assert_int_equal(s->secret_refs.refs[0].version, 2);
	assert_null(s->bridge_config);
	cp_state_response_free(s);
	json_decref(j);

	/* Absent peers/policies = empty (§4.8); optional members absent = has_* false. */
	j = parse("{}");
	assert_int_equal(cp_state_response_from_json(j, &s, &e), 0);
	assert_int_equal(s->peers.n_peers, 0);
	assert_int_equal(s->policies.n_policies, 0);
	assert_false(s->has_signing_keys || s->has_metadata || s->has_data || s->has_secret_refs);
	cp_state_response_free(s);
	json_decref(j);

	j = parse("{\"peers\":null,\"policies\":null,\"data\":[],\"bridge_config\":{\"enabled\":true},"
		  "\"site_to_site_config\":null}");
	assert_int_equal(cp_state_response_from_json(j, &s, &e), 0);
	assert_int_equal(s->peers.n_peers, 0);
	assert_true(s->has_data);
	assert_int_equal(s->data.n_entries, 0);
	assert_true(json_is_true(json_object_get(s->bridge_config, "enabled")));
	assert_null(s->site_to_site_config);
	cp_state_response_free(s);
	json_decref(j);

	static const struct {
		const char *doc, *err;
	} bad[] = {
		{ "[]", "state: must be an object" },
		{ "{\"peers\":{}}", "peers: must be an array" },
		{ "{\"policies\":\"x\"}", "policies: must be an array" },
		{ "{\"policies\":[{\"id\":\"..\",\"rules\":[]}]}", "policies[0].id: must be 1-128 characters of A-Z a-z 0-9 - . _ ~" },
		{ "{\"policies\":[{\"id\":\"p\",\"rules\":{}}]}", "policies[0].rules: must be an array" },
		{ "{\"policies\":[7]}", "policies[0]: must be an object" },
		{ "{\"signing_keys\":{\"current\":\"abc\"}}", NULL },
		{ "{\"metadata\":{\"a b\":\"x\"}}", "metadata: key \"a b\" is not a valid id" },
		{ "{\"metadata\":{\"region\":5}}", "metadata.region: must be a string" },
		{ "{\"metadata\":[]}", "metadata: must be an object" },
		{ "{\"data\":[{\"key\":\"k\",\"content_type\":\"t\",\"payload\":1,\"version\":0,\"updated_at\":\"2025-01-15T10:29:59Z\"}]}",
		  "data[0].version: must be between 1 and 9223372036854775807, got 0" },
		{ "{\"data\":[{\"key\":\"k\",\"content_type\":\"t\",\"version\":1,\"updated_at\":\"2025-01-15T10:29:59Z\"}]}",
		  "data[0].payload: is required" },
		{ "{\"data\":[{\"key\":\"k\",\"content_type\":\"t\",\"payload\":1,\"version\":1,\"updated_at\":\"2025-01-15 10:29:59Z\"}]}",
		  "data[0].updated_at: must be an RFC 3339 timestamp" },
		{ "{\"data\":[{\"key\":\"k\",\"content_type\":\"t\",\"payload\":1,\"version\":1,\"updated_at\":\"2025-01-15T10:29:59Z\"},"
		  "{\"key\":\"k\",\"content_type\":\"t\",\"payload\":2,\"version\":2,\"updated_at\":\"2025-01-15T10:29:59Z\"}]}",
		  "data[1].key: duplicate" },
		{ "{\"secret_refs\":[{\"key\":\"a/b\",\"version\":1}]}",
		  "secret_refs[0].key: must be 1-128 characters of A-Z a-z 0-9 - . _ ~" },
		{ "{\"secret_refs\":[{\"key\":\"a\"}]}", "secret_refs[0].version: is required" },
		{ "{\"bridge_config\":[1]}", "bridge_config: must be an object" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		j = parse(bad[i].doc);
		s = NULL;
		memset(&e, 0, sizeof(e));
		assert_int_equal(cp_state_response_from_json(j, &s, &e), -EINVAL);
		assert_null(s);
		if (bad[i].err)
			assert_string_equal(e.text, bad[i].err);
		else
			assert_true(strncmp(e.text, "signing_keys: ", 14) == 0);
		json_decref(j);
	}
}

static void test_peer_alias_and_fields(void **state)
{
	struct cp_peer p;
	struct json_error e = {};
	json_t *j = parse(peer_ok);

	json_object_del(j, "id");
	json_object_set_new(j, "peer_id", json_string("n_alias"));
	json_object_set_new(j, "endpoint", json_string(""));
	json_object_set_new(j, "psk", json_string(""));
	json_object_set_new(j, "relayed", json_true());
	json_object_set_new(j, "allowed_ips", json_pack("[sss]", "10.100.1.5/32", "192.168.0.0/16", "fd00::/64"));
	json_object_set_new(j, "unknown_member", json_string("ignored"));
	assert_int_equal(cp_peer_from_json(j, &p, &e), 0);
	assert_string_equal(p.id, "n_alias");
	assert_false(p.endpoint.known);
	assert_false(p.has_psk);
	assert_true(p.relayed);
	assert_int_equal(p.n_allowed_ips, 3);
	assert_int_equal(p.allowed_ips[2].family, AF_INET6);
	assert_int_equal(p.allowed_ips[2].len, 64);
	assert_int_equal(p.allowed_ips[1].len, 16);
	cp_peer_done(&p);

	/* `id` wins over the alias when both are given. */
	json_object_set_new(j, "id", json_string("n_main"));
	assert_int_equal(cp_peer_from_json(j, &p, &e), 0);
	assert_string_equal(p.id, "n_main");
	cp_peer_done(&p);

	/* allowed_ips null or absent = empty. */
	json_object_set_new(j, "allowed_ips", json_null());
	assert_int_equal(cp_peer_from_json(j, &p, &e), 0);
	assert_int_equal(p.n_allowed_ips, 0);
	cp_peer_done(&p);
	json_decref(j);

	/* IPv6 endpoint. */
	j = parse(peer_ok);
	json_object_set_new(j, "endpoint", json_string("[2001:db8::1]:51820"));
	assert_int_equal(cp_peer_from_json(j, &p, &e), 0);
	assert_int_equal(p.endpoint.addr.ss_family, AF_INET6);
	cp_peer_done(&p);
	json_decref(j);
}

/* Each invalid-field family: the element is skipped with an error naming its index and field,
 * the rest of the list survives. */
static void test_peer_list_per_element(void **state)
{
	static const struct {
		const char *field;
		const char *value; /* JSON text; NULL = delete the member */
		const char *err;
	} t[] = {
		{ "id", NULL, "peers[1].id: is required" },
		{ "id", "\"a/b\"", "peers[1].id: must be 1-128 characters of A-Z a-z 0-9 - . _ ~" },
		{ "id", "\".\"", "peers[1].id: must be 1-128 characters of A-Z a-z 0-9 - . _ ~" },
		{ "public_key", "\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY\"", "peers[1].public_key: must be base64 of 32 bytes" },
		{ "public_key", "\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzZ=\"", "peers[1].public_key: must be base64 of 32 bytes" },
		{ "public_key", NULL, "peers[1].public_key: is required" },
		{ "mesh_ip", "\"10.100.1.256\"", "peers[1].mesh_ip: must be a bare IPv4 address" },
		{ "mesh_ip", "\"10.100.1.5/32\"", "peers[1].mesh_ip: must be a bare IPv4 address" },
		{ "mesh_ip", "5", "peers[1].mesh_ip: expected string" },
		{ "endpoint", "\"203.0.113.10\"", "peers[1].endpoint: must be ip:port or [ipv6]:port" },
		{ "endpoint", "\"203.0.113.10:0\"", "peers[1].endpoint: must be ip:port or [ipv6]:port" },
		{ "endpoint", "\"cp.example.net:51820\"", "peers[1].endpoint: must be ip:port or [ipv6]:port" },
		{ "endpoint", NULL, "peers[1].endpoint: is required" },
		{ "allowed_ips", "[\"10.100.1.5\"]", "peers[1].allowed_ips[0]: must be an address/prefix-length" },
		{ "allowed_ips", "[\"10.100.1.5/32\",\"10.100.1.0/33\"]", "peers[1].allowed_ips[1]: must be an address/prefix-length" },
		{ "allowed_ips", "[\"10.100.1.5/032\"]", "peers[1].allowed_ips[0]: must be an address/prefix-length" },
		{ "allowed_ips", "[5]", "peers[1].allowed_ips[0]: must be an address/prefix-length" },
		{ "allowed_ips", "\"10.100.1.5/32\"", "peers[1].allowed_ips: expected array" },
		{ "psk", "\"short\"", "peers[1].psk: must be base64 of 32 bytes or \"\"" },
		{ "psk", NULL, "peers[1].psk: is required" },
		{ "relayed", "\"yes\"", "peers[1].relayed: expected true or false" },
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		json_t *bad = parse(peer_ok), *good2 = parse(peer_ok);
		json_object_set_new(good2, "id", json_string("n_other"));
		if (t[i].value)
			json_object_set_new(bad, t[i].field, parse_any(t[i].value));
		else
			json_object_del(bad, t[i].field);
		json_t *arr = json_pack("[oOo]", parse(peer_ok), bad, good2);
		struct cp_peer_list l;
		struct json_error e = {};

		assert_int_equal(cp_peer_list_from_json(arr, "peers", &l, &e), 0);
		assert_int_equal(l.n_peers, 2);
		assert_string_equal(l.peers[0].id, "n_peer456");
		assert_string_equal(l.peers[1].id, "n_other");
		assert_int_equal(l.n_errors, 1);
		assert_int_equal(l.errors[0].index, 1);
		if (strcmp(l.errors[0].text, t[i].err) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, l.errors[0].text, t[i].err);
		cp_peer_list_done(&l);
		json_decref(bad);
		json_decref(arr);
	}

	/* Non-object elements and duplicates are per-element too. */
	json_t *arr = json_pack("[oio]", parse(peer_ok), 7, parse(peer_ok));
	struct cp_peer_list l;
	struct json_error e = {};
	assert_int_equal(cp_peer_list_from_json(arr, "updated_peers", &l, &e), 0);
	assert_int_equal(l.n_peers, 1);
	assert_int_equal(l.n_errors, 2);
	assert_string_equal(l.errors[0].text, "updated_peers[1]: must be an object");
	assert_string_equal(l.errors[1].text, "updated_peers[2].id: duplicate of an earlier peer");
	cp_peer_list_done(&l);
	json_decref(arr);

	/* NULL and JSON null are empty lists; a non-array is a document error. */
	assert_int_equal(cp_peer_list_from_json(NULL, "peers", &l, &e), 0);
	assert_int_equal(l.n_peers + l.n_errors, 0);
	json_t *n = json_null();
	assert_int_equal(cp_peer_list_from_json(n, "peers", &l, &e), 0);
	assert_int_equal(l.n_peers, 0);
	json_t *o = json_object();
	assert_int_equal(cp_peer_list_from_json(o, "peers", &l, &e), -EINVAL);
	assert_string_equal(e.text, "peers: must be an array");
	json_decref(o);
}

static void test_policy_rules(void **state)
{
	static const struct {
		const char *rule;
		int32_t port;
		enum cp_protocol protocol;
		enum cp_action action;
		const char *invalid;
	} t[] = {
		{ "{\"src\":\"*\",\"dst\":\"*\",\"action\":\"allow\"}", 0, CP_PROTOCOL_ANY, CP_ACTION_ALLOW, NULL },
		{ "{\"src\":\"10.100.1.0/24\",\"dst\":\"n_a\",\"port\":0,\"protocol\":\"\",\"action\":\"deny\"}", 0,
		  CP_PROTOCOL_ANY, CP_ACTION_DENY, NULL },
		{ "{\"src\":\"*\",\"dst\":\"*\",\"port\":65535,\"protocol\":\"udp\",\"action\":\"allow\"}", 65535,
		  CP_PROTOCOL_UDP, CP_ACTION_ALLOW, NULL },
		{ "{\"src\":\"*\",\"dst\":\"*\",\"port\":65536,\"protocol\":\"udp\",\"action\":\"allow\"}", -1,
		  CP_PROTOCOL_UDP, CP_ACTION_ALLOW, "port: must be an integer 0-65535" },
		{ "{\"src\":\"*\",\"dst\":\"*\",\"port\":-1,\"protocol\":\"tcp\",\"action\":\"allow\"}", -1,
		  CP_PROTOCOL_TCP, CP_ACTION_ALLOW, "port: must be an integer 0-65535" },
		{ "{\"src\":\"*\",\"dst\":\"*\",\"port\":\"443\",\"protocol\":\"tcp\",\"action\":\"allow\"}", -1,
		  CP_PROTOCOL_TCP, CP_ACTION_ALLOW, "port: must be an integer 0-65535" },
		{ "{\"src\":\"*\",\"dst\":\"*\",\"protocol\":\"icmp\",\"action\":\"allow\"}", 0, CP_PROTOCOL_INVALID,
		  CP_ACTION_ALLOW, "protocol: must be \"tcp\", \"udp\" or \"\"" },
		{ "{\"src\":\"*\",\"dst\":\"*\",\"protocol\":\"TCP\",\"action\":\"allow\"}", 0, CP_PROTOCOL_INVALID,
		  CP_ACTION_ALLOW, "protocol: must be \"tcp\", \"udp\" or \"\"" },
		{ "{\"src\":\"*\",\"dst\":\"*\",\"action\":\"reject\"}", 0, CP_PROTOCOL_ANY, CP_ACTION_INVALID,
		  "action: must be \"allow\" or \"deny\"" },
		{ "{\"src\":\"*\",\"dst\":\"*\"}", 0, CP_PROTOCOL_ANY, CP_ACTION_INVALID,
		  "action: must be \"allow\" or \"deny\"" },
		{ "{\"dst\":\"*\",\"action\":\"allow\"}", 0, CP_PROTOCOL_ANY, CP_ACTION_ALLOW,
		  "src: must be a non-empty string" },
		{ "{\"src\":\"*\",\"dst\":\"\",\"action\":\"allow\"}", 0, CP_PROTOCOL_ANY, CP_ACTION_ALLOW,
		  "dst: must be a non-empty string" },
		{ "\"allow all\"", 0, CP_PROTOCOL_INVALID, CP_ACTION_INVALID, "must be an object" },
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		char doc[512];
		snprintf(doc, sizeof(doc), "[{\"id\":\"p1\",\"rules\":[%s,{\"src\":\"*\",\"dst\":\"*\",\"action\":\"deny\"}]}]",
			 t[i].rule);
		json_t *j = parse(doc);
		struct cp_policy_list l;
		struct json_error e = {};
		assert_int_equal(cp_policy_list_from_json(j, "policies", &l, &e), 0);
		assert_int_equal(l.n_policies, 1);
		assert_int_equal(l.policies[0].n_rules, 2); /* a bad rule is kept, marked */
		const struct cp_policy_rule *r = &l.policies[0].rules[0];
		assert_int_equal(r->port, t[i].port);
		assert_int_equal(r->protocol, t[i].protocol);
		assert_int_equal(r->action, t[i].action);
		if (t[i].invalid) {
			assert_non_null(r->invalid);
			assert_string_equal(r->invalid, t[i].invalid);
		} else
			assert_null(r->invalid);
		assert_null(l.policies[0].rules[1].invalid);
		cp_policy_list_done(&l);
		json_decref(j);
	}

	/* Serialization of valid rules, compact and in member order. */
	json_t *j = parse("[{\"id\":\"default-allow\",\"rules\":[{\"src\":\"*\",\"dst\":\"*\",\"action\":\"allow\"},"
			  "{\"src\":\"n_a\",\"dst\":\"10.100.0.0/16\",\"port\":22,\"protocol\":\"tcp\",\"action\":\"deny\"}]}]");
	struct cp_policy_list l;
	struct json_error e = {};
	json_t *out;
	assert_int_equal(cp_policy_list_from_json(j, "policies", &l, &e), 0);
	assert_int_equal(cp_policy_list_to_json(l.policies, l.n_policies, &out), 0);
	char *s = json_dumps_compact(out);
	assert_string_equal(s, "[{\"id\":\"default-allow\",\"rules\":[{\"src\":\"*\",\"dst\":\"*\",\"action\":\"allow\"},"
			       "{\"src\":\"n_a\",\"dst\":\"10.100.0.0/16\",\"port\":22,\"protocol\":\"tcp\",\"action\":\"deny\"}]}]");
	free(s);
	json_decref(out);
	cp_policy_list_done(&l);
	json_decref(j);
}

static struct cp_peer spec_peer(void)
{
	struct cp_peer p = {};
	json_t *j = parse(peer_ok);
	struct json_error e = {};
	assert_int_equal(cp_peer_from_json(j, &p, &e), 0);
	json_decref(j);
	return p;
}

static void test_peer_roundtrip(void **state)
{
	struct cp_peer p = spec_peer();
	json_t *out;
	assert_int_equal(cp_peer_to_json(&p, &out), 0);
	char *s = json_dumps_compact(out);
	assert_string_equal(s, peer_ok);
	free(s);
	json_decref(out);
	p.endpoint.known = false;
	p.has_psk = false;
	p.relayed = true;
	assert_int_equal(cp_peer_to_json(&p, &out), 0);
	s = json_dumps_compact(out);
	assert_string_equal(s, "{\"id\":\"n_peer456\",\"public_key\":\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\","
			       "\"mesh_ip\":\"10.100.1.5\",\"endpoint\":\"\",\"allowed_ips\":[\"10.100.1.5/32\"],"
			       "\"psk\":\"\",\"relayed\":true}");
	free(s);
	json_decref(out);
	cp_peer_done(&p);
}

static char *dump(json_t *j)
{
	char *s = json_dumps_compact(j);
	json_decref(j);
	return s;
}

static void test_request_serializers(void **state)
{
	json_t *j;
	char *s;
	uint8_t key[32], sum[32];
	struct timestamp ts = { .sec = 1736937005 }; /* 2025-01-15T10:30:05Z */

	assert_int_equal(key32_parse("YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=", key), 0);
	for (size_t i = 0; i < 32; i++)
		sum[i] = (uint8_t)i;

	/* Heartbeat with every block (§4.3, §8.9). */
	struct cp_mesh_info mesh = { "plexd0", 3, 51820 };
	struct cp_nat_info nat = { .type = CP_NAT_FULL_CONE };
	assert_int_equal(endpoint_parse("203.0.113.10:51820", &nat.public_endpoint), 0);
	struct cp_bridge_info br = { true, "eth1", 2, true, 1, false, 0, false, 0 };
	struct cp_user_access_info ua = { true, "plexd-ua", 4, 51822 };
	struct cp_ingress_info ing = { true, 2, 9 };
	struct cp_site_to_site_info s2s = { false, 0 };
	struct cp_heartbeat_request hb = {
		.node_id = "n_abc123",
		.timestamp = ts,
		.status = CP_HEALTH_DEGRADED,
		.uptime_ns = (72 * 3600 + 15 * 60 + 3) * NSEC_PER_SEC,
		.mesh = &mesh,
		.nat = &nat,
		.bridge = &br,
		.user_access = &ua,
		.ingress = &ing,
		.site_to_site = &s2s,
	};
	memcpy(hb.binary_checksum, sum, 32);
	assert_int_equal(cp_heartbeat_request_to_json(&hb, &j), 0);
	s = dump(j);
	assert_string_equal(
		s, "{\"node_id\":\"n_abc123\",\"timestamp\":\"2025-01-15T10:30:05Z\",\"status\":\"degraded\","
		   "\"uptime\":\"72h15m3s\",\"binary_checksum\":\"sha256:000102030405060708090a0b0c0d0e0f"
		   "101112131415161718191a1b1c1d1e1f\",\"mesh\":{\"interface\":\"plexd0\",\"peer_count\":3,"
		   "\"listen_port\":51820},\"nat\":{\"public_endpoint\":\"203.0.113.10:51820\",\"type\":\"full_cone\"},"
		   "\"bridge\":{\"enabled\":true,\"access_interface\":\"eth1\",\"active_routes\":2,\"relay_enabled\":true,"
		   "\"active_relay_sessions\":1,\"ingress_enabled\":false,\"active_ingress_rules\":0,"
		   "\"site_to_site_enabled\":false,\"active_site_to_site_tunnels\":0},\"user_access\":{\"enabled\":true,"
		   "\"interface_name\":\"plexd-ua\",\"peer_count\":4,\"listen_port\":51822},\"ingress\":{\"enabled\":true,"
		   "\"rule_count\":2,\"connection_count\":9},\"site_to_site\":{\"enabled\":false,\"tunnel_count\":0}}");
	free(s);
	hb.mesh = NULL;
	hb.nat = NULL;
	hb.bridge = NULL;
	hb.user_access = NULL;
	hb.ingress = NULL;
	hb.site_to_site = NULL;
	hb.status = CP_HEALTH_HEALTHY;
	hb.timestamp.nsec = 250000000;
	hb.uptime_ns = 2340 * NSEC_PER_MSEC;
	assert_int_equal(cp_heartbeat_request_to_json(&hb, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"node_id\":\"n_abc123\",\"timestamp\":\"2025-01-15T10:30:05.250Z\",\"status\":\"healthy\","
			       "\"uptime\":\"2.34s\",\"binary_checksum\":\"sha256:000102030405060708090a0b0c0d0e0f"
			       "101112131415161718191a1b1c1d1e1f\"}");
	free(s);
	hb.node_id = "bad id";
	assert_int_equal(cp_heartbeat_request_to_json(&hb, &j), -EINVAL);

	/* Register (§4.1): metadata omitted when empty, capabilities included. */
	struct cp_metadata md = {};
	assert_int_equal(cp_metadata_set(&md, "os", "linux"), 0);
	assert_int_equal(cp_metadata_set(&md, "mode", "node"), 0);
	assert_int_equal(cp_metadata_set(&md, "os", "Linux"), 0);
	assert_int_equal(cp_metadata_set(&md, "bad key", "x"), -EINVAL);
	struct cp_parameter_def params[] = { { "peer_id", "string", true, "", NULL },
					     { "count", "int", false, "probes", "3" } };
	struct cp_action_capability acts[] = { { "diagnostics.ping_peer", "Ping a peer", params, 2 } };
	struct cp_hook_capability hooks[] = { { .name = "backup", .description = "", .source = "local",
						.timeout_ns = 90 * NSEC_PER_SEC, .sandbox = "none" } };
	memcpy(hooks[0].checksum, sum, 32);
	struct cp_capabilities caps = { .has_binary = true, .binary_version = "0.1.0", .builtin_actions = acts,
					.n_builtin_actions = 1, .hooks = hooks, .n_hooks = 1 };
	memcpy(caps.binary_checksum, sum, 32);
	struct cp_register_request rr = { .token = "boot-tok", .hostname = "node-1", .metadata = &md,
					  .capabilities = &caps };
	memcpy(rr.public_key, key, 32);
	assert_int_equal(cp_register_request_to_json(&rr, &j), 0);
	s = dump(j);
	assert_string_equal(
		s, "{\"token\":\"boot-tok\",\"public_key\":\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\","
		   "\"hostname\":\"node-1\",\"metadata\":{\"os\":\"Linux\",\"mode\":\"node\"},\"capabilities\":{"
		   "\"binary\":{\"version\":\"0.1.0\",\"checksum\":\"sha256:000102030405060708090a0b0c0d0e0f"
		   "101112131415161718191a1b1c1d1e1f\"},\"builtin_actions\":[{\"name\":\"diagnostics.ping_peer\","
		   "\"description\":\"Ping a peer\",\"parameters\":[{\"name\":\"peer_id\",\"type\":\"string\","
		   "\"required\":true,\"description\":\"\"},{\"name\":\"count\",\"type\":\"int\",\"required\":false,"
		   "\"description\":\"probes\",\"default\":\"3\"}]}],\"hooks\":[{\"name\":\"backup\",\"description\":\"\","
		   "\"source\":\"local\",\"checksum\":\"sha256:000102030405060708090a0b0c0d0e0f"
		   "101112131415161718191a1b1c1d1e1f\",\"parameters\":[],\"timeout\":\"1m30s\",\"sandbox\":\"none\"}]}}");
	free(s);
	rr.metadata = NULL;
	rr.capabilities = NULL;
	assert_int_equal(cp_register_request_to_json(&rr, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"token\":\"boot-tok\",\"public_key\":\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\","
			       "\"hostname\":\"node-1\"}");
	free(s);
	rr.token = "bad\ntoken";
	assert_int_equal(cp_register_request_to_json(&rr, &j), -EINVAL);
	rr.token = "";
	assert_int_equal(cp_register_request_to_json(&rr, &j), -EINVAL);
	rr.token = "t";
	rr.hostname = "";
	assert_int_equal(cp_register_request_to_json(&rr, &j), -EINVAL);
	cp_metadata_done(&md);

	/* Key rotation, endpoint, drift. */
	struct cp_key_rotate_request kr = { .node_id = "n_abc123" };
	memcpy(kr.new_public_key, key, 32);
	assert_int_equal(cp_key_rotate_request_to_json(&kr, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"node_id\":\"n_abc123\",\"new_public_key\":\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\"}");
	free(s);

	struct cp_endpoint_report er = { .nat_type = CP_NAT_SYMMETRIC };
	assert_int_equal(endpoint_parse("[2001:db8::1]:4500", &er.public_endpoint), 0);
	assert_int_equal(cp_endpoint_report_to_json(&er, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"public_endpoint\":\"[2001:db8::1]:4500\",\"nat_type\":\"symmetric\"}");
	free(s);

	struct cp_drift_correction corr[] = { { "peer_added", "peer n_peer456" }, { "firewall_restored", "table missing" } };
	struct cp_drift_report dr = { .timestamp = ts, .corrections = corr, .n_corrections = 2 };
	assert_int_equal(cp_drift_report_to_json(&dr, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"timestamp\":\"2025-01-15T10:30:05Z\",\"corrections\":[{\"type\":\"peer_added\","
			       "\"detail\":\"peer n_peer456\"},{\"type\":\"firewall_restored\",\"detail\":\"table missing\"}]}");
	free(s);
	dr.n_corrections = 0;
	assert_int_equal(cp_drift_report_to_json(&dr, &j), -EINVAL);

	/* Report sync (§4.11). */
	struct cp_data_entry ent = { .key = "status", .content_type = "application/json", .version = 2,
				     .updated_at = { .sec = 1736937005, .nsec = 123000000 } };
	ent.payload = json_pack("{s:b}", "ok", 1);
	const char *del[] = { "old" };
	struct cp_report_sync rs = { &ent, 1, del, 1 };
	assert_int_equal(cp_report_sync_to_json(&rs, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"entries\":[{\"key\":\"status\",\"content_type\":\"application/json\",\"payload\":{\"ok\":true},"
			       "\"version\":2,\"updated_at\":\"2025-01-15T10:30:05.123Z\"}],\"deleted\":[\"old\"]}");
	free(s);
	json_decref(ent.payload);

	/* Actions (§8.11). */
	struct cp_execution_ack ack = { "ex_1", false, "unknown_action" };
	assert_int_equal(cp_execution_ack_to_json(&ack, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"execution_id\":\"ex_1\",\"status\":\"rejected\",\"reason\":\"unknown_action\"}");
	free(s);
	ack.accepted = true;
	assert_int_equal(cp_execution_ack_to_json(&ack, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"execution_id\":\"ex_1\",\"status\":\"accepted\",\"reason\":\"\"}");
	free(s);
	struct cp_execution_result xr = { .execution_id = "ex_1", .status = CP_EXECUTION_TIMEOUT, .exit_code = -1,
					  .stdout_text = "partial", .stderr_text = NULL, .duration_ns = 30 * NSEC_PER_SEC,
					  .finished_at = ts, .triggered_by = { .type = "control_plane" } };
	assert_int_equal(cp_execution_result_to_json(&xr, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"execution_id\":\"ex_1\",\"status\":\"timeout\",\"exit_code\":-1,\"stdout\":\"partial\","
			       "\"stderr\":\"\",\"duration\":\"30s\",\"finished_at\":\"2025-01-15T10:30:05Z\","
			       "\"triggered_by\":{\"type\":\"control_plane\",\"session_id\":\"\",\"user_id\":\"\",\"email\":\"\"}}");
	free(s);

	/* Tunnels and integrity (§4.16–§4.18). */
	struct cp_tunnel_ready tr = { .timestamp = ts };
	assert_int_equal(endpoint_parse("10.100.1.1:40001", &tr.listen_addr), 0);
	assert_int_equal(cp_tunnel_ready_to_json(&tr, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"listen_addr\":\"10.100.1.1:40001\",\"timestamp\":\"2025-01-15T10:30:05Z\"}");
	free(s);
	struct cp_tunnel_closed tc = { "idle_timeout", 90 * NSEC_PER_SEC, ts };
	assert_int_equal(cp_tunnel_closed_to_json(&tc, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"reason\":\"idle_timeout\",\"duration\":\"1m30s\",\"timestamp\":\"2025-01-15T10:30:05Z\"}");
	free(s);
	struct cp_integrity_violation iv = { .type = "hook", .path = "/etc/plexd/hooks/backup", .detail = "changed",
					     .timestamp = ts };
	memcpy(iv.expected_checksum, sum, 32);
	assert_int_equal(cp_integrity_violation_to_json(&iv, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"type\":\"hook\",\"path\":\"/etc/plexd/hooks/backup\",\"expected_checksum\":\"sha256:"
			       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\",\"actual_checksum\":"
			       "\"sha256:0000000000000000000000000000000000000000000000000000000000000000\",\"detail\":\"changed\","
			       "\"timestamp\":\"2025-01-15T10:30:05Z\"}");
	free(s);
}

static void test_response_parsers(void **state)
{
	struct json_error e = {};
	json_t *j;

	/* Heartbeat response: object required, {} allowed, bools typed. */
	struct cp_heartbeat_response hb = { true, true };
	j = parse("{}");
	assert_int_equal(cp_heartbeat_response_from_json(j, &hb, &e), 0);
	assert_false(hb.reconcile || hb.rotate_keys);
	json_decref(j);
	j = parse("{\"reconcile\":true,\"rotate_keys\":false,\"extra\":1}");
	assert_int_equal(cp_heartbeat_response_from_json(j, &hb, &e), 0);
	assert_true(hb.reconcile);
	assert_false(hb.rotate_keys);
	json_decref(j);
	j = parse("{\"reconcile\":\"yes\"}");
	assert_int_equal(cp_heartbeat_response_from_json(j, &hb, &e), -EINVAL);
	assert_string_equal(e.text, "reconcile: expected true or false");
	json_decref(j);
	j = parse("[]");
	assert_int_equal(cp_heartbeat_response_from_json(j, &hb, &e), -EINVAL);
	json_decref(j);

	/* Key rotation response. */
	struct cp_key_rotate_response *kr;
	char doc[1024];
	snprintf(doc, sizeof(doc), "{\"updated_peers\":[%s],\"node_secret_key\":\"yhJviexB2qU1PoBZX7c0u/NgUDfE39/JIfaZeos2fZI=\"}",
		 peer_ok);
	j = parse(doc);
	assert_int_equal(cp_key_rotate_response_from_json(j, &kr, &e), 0);
	assert_int_equal(kr->updated_peers.n_peers, 1);
	assert_true(kr->has_node_secret_key);
	key_eq(kr->node_secret_key, "yhJviexB2qU1PoBZX7c0u/NgUDfE39/JIfaZeos2fZI=");
	cp_key_rotate_response_free(kr);
	json_object_del(j, "node_secret_key");
	assert_int_equal(cp_key_rotate_response_from_json(j, &kr, &e), 0);
	assert_false(kr->has_node_secret_key);
	cp_key_rotate_response_free(kr);
	json_object_set_new(j, "node_secret_key", json_string("nope"));
	assert_int_equal(cp_key_rotate_response_from_json(j, &kr, &e), -EINVAL);
	assert_string_equal(e.text, "node_secret_key: must be base64 of 32 bytes");
	json_decref(j);

	/* Endpoint response: empty endpoints ignored, bad entries reported per element. */
	struct cp_endpoint_response *er;
	j = parse("{\"peer_endpoints\":[{\"peer_id\":\"n_a\",\"endpoint\":\"198.51.100.7:51820\"},"
		  "{\"peer_id\":\"n_b\",\"endpoint\":\"\"},{\"peer_id\":\"n_c\",\"endpoint\":\"x:1\"},"
		  "{\"endpoint\":\"198.51.100.8:1\"},{\"peer_id\":\"n_d\",\"endpoint\":\"[2001:db8::2]:51820\"}]}");
	assert_int_equal(cp_endpoint_response_from_json(j, &er, &e), 0);
	assert_int_equal(er->n_peer_endpoints, 2);
	assert_string_equal(er->peer_endpoints[0].peer_id, "n_a");
	assert_string_equal(er->peer_endpoints[1].peer_id, "n_d");
	assert_int_equal(er->n_errors, 2);
	assert_string_equal(er->errors[0].text, "peer_endpoints[2].endpoint: must be ip:port or [ipv6]:port");
	assert_string_equal(er->errors[1].text, "peer_endpoints[3].peer_id: is required");
	cp_endpoint_response_free(er);
	json_decref(j);
	j = parse("{\"peer_endpoints\":null}");
	assert_int_equal(cp_endpoint_response_from_json(j, &er, &e), 0);
	assert_int_equal(er->n_peer_endpoints, 0);
	cp_endpoint_response_free(er);
	json_decref(j);

	/* Secret response (§4.10). */
	struct cp_secret_response *sr;
	j = parse("{\"key\":\"tls-cert\",\"ciphertext\":\"AAECAwQFBgcICQoLDA0ODxAR\",\"nonce\":\"AAECAwQFBgcICQoL\","
		  "\"version\":2}");
	assert_int_equal(cp_secret_response_from_json(j, &sr, &e), 0);
	assert_string_equal(sr->key, "tls-cert");
	assert_int_equal(sr->ciphertext_len, 18);
	assert_int_equal(sr->ciphertext[17], 17);
	assert_int_equal(sr->nonce[11], 11);
	assert_int_equal(sr->version, 2);
	cp_secret_response_free(sr);
	static const struct {
		const char *field, *value, *err;
	} bad[] = {
		{ "ciphertext", "AAECAwQFBgcICQoLDA0O", "ciphertext: must be base64 of at least 16 bytes" },
		{ "ciphertext", "AAECAwQFBgcICQoLDA0ODxAR\n", "ciphertext: must be base64 of at least 16 bytes" },
		{ "nonce", "AAECAwQFBgcICQoLDA==", "nonce: must be base64 of 12 bytes" },
		{ "key", "a/b", "key: must be 1-128 characters of A-Z a-z 0-9 - . _ ~" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		json_t *c = json_deep_copy(j);
		json_object_set_new(c, bad[i].field, json_string(bad[i].value));
		assert_int_equal(cp_secret_response_from_json(c, &sr, &e), -EINVAL);
		assert_string_equal(e.text, bad[i].err);
		json_decref(c);
	}
	json_decref(j);
}

static void test_prefix_and_enums(void **state)
{
	static const struct {
		const char *in;
		int r;
	} t[] = {
		{ "0.0.0.0/0", 0 }, { "10.100.1.5/32", 0 }, { "::/0", 0 }, { "fd00::1/128", 0 },
		{ "10.0.0.0/33", -EINVAL }, { "fd00::/129", -EINVAL }, { "10.0.0.0/", -EINVAL }, { "/8", -EINVAL },
		{ "10.0.0.0/+8", -EINVAL }, { "10.0.0.0/8/8", -EINVAL }, { "10.0.0/8", -EINVAL }, { "host/8", -EINVAL },
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct cp_prefix p;
		assert_int_equal(cp_prefix_parse(t[i].in, &p), t[i].r);
		if (t[i].r == 0) {
			char buf[64];
			assert_int_equal(cp_prefix_format(&p, buf, sizeof(buf)), 0);
			assert_string_equal(buf, t[i].in);
		}
	}
	enum cp_nat_type n;
	assert_int_equal(cp_nat_type_from_string("full_cone", &n), 0);
	assert_int_equal(n, CP_NAT_FULL_CONE);
	assert_int_equal(cp_nat_type_from_string("cone", &n), -EINVAL);
	assert_string_equal(cp_nat_type_to_string(CP_NAT_UNKNOWN), "unknown");
	assert_string_equal(cp_health_to_string(CP_HEALTH_UNHEALTHY), "unhealthy");
	assert_null(cp_protocol_to_string(CP_PROTOCOL_INVALID));
	assert_null(cp_action_to_string(CP_ACTION_INVALID));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_example),
		cmocka_unit_test(test_state_example),
		cmocka_unit_test(test_peer_alias_and_fields),
		cmocka_unit_test(test_peer_list_per_element),
		cmocka_unit_test(test_policy_rules),
		cmocka_unit_test(test_peer_roundtrip),
		cmocka_unit_test(test_request_serializers),
		cmocka_unit_test(test_response_parsers),
		cmocka_unit_test(test_prefix_and_enums),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
