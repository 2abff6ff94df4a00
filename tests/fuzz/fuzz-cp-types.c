/* libFuzzer harness for the typed control-plane parsers (src/controlplane/types.h). The input
 * is parsed as a response body the way api.c does (json_parse_bounded) and handed to every
 * response parser, to the list parsers directly and to the list parsers on its members.
 * Properties: results are internally consistent (errors indexed in order, bounds held, ids
 * valid), a failing parser leaves its output alone, and the peer, policy and metadata lists
 * serialize to JSON that — after a trip through text — parses back to the same values and
 * serializes to the same JSON again. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/types.h"
#include "shared/json-util.h"
#include "shared/macro.h"
#include "shared/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static const void *const SENTINEL = (const void *)"untouched";

/* Serializes, prints and reloads a JSON value as the wire would carry it. */
static json_t *through_text(json_t *j)
{
	struct json_error e = {};
	json_t *back = NULL;
	char *s = json_dumps(j, JSON_COMPACT);

	CHECK(s);
	CHECK(json_parse_bounded(s, strlen(s), &back, &e) == 0);
	free(s);
	return back;
}

static bool prefix_eq(const struct cp_prefix *a, const struct cp_prefix *b)
{
	if (a->family != b->family || a->len != b->len)
		return false;
	return memcmp(&a->addr, &b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

static bool endpoint_eq(const struct cp_endpoint *a, const struct cp_endpoint *b)
{
	const struct sockaddr_storage *x = &a->addr, *y = &b->addr;

	if (a->known != b->known)
		return false;
	if (!a->known)
		return true;
	if (x->ss_family != y->ss_family)
		return false;
	if (x->ss_family == AF_INET) {
		const struct sockaddr_in *p = (const void *)x, *q = (const void *)y;
		return p->sin_port == q->sin_port && p->sin_addr.s_addr == q->sin_addr.s_addr;
	}
	CHECK(x->ss_family == AF_INET6);
	{
		const struct sockaddr_in6 *p = (const void *)x, *q = (const void *)y;
		return p->sin6_port == q->sin6_port && p->sin6_scope_id == q->sin6_scope_id &&
		       memcmp(&p->sin6_addr, &q->sin6_addr, 16) == 0;
	}
}

static bool peer_eq(const struct cp_peer *a, const struct cp_peer *b)
{
	if (strcmp(a->id, b->id) != 0 || memcmp(a->public_key, b->public_key, 32) != 0 ||
	    a->mesh_ip.s_addr != b->mesh_ip.s_addr || !endpoint_eq(&a->endpoint, &b->endpoint) ||
	    a->n_allowed_ips != b->n_allowed_ips || a->has_psk != b->has_psk || a->relayed != b->relayed)
		return false;
	if (a->has_psk && memcmp(a->psk, b->psk, 32) != 0)
		return false;
	for (size_t i = 0; i < a->n_allowed_ips; i++)
		if (!prefix_eq(&a->allowed_ips[i], &b->allowed_ips[i]))
			return false;
	return true;
}

static void check_peer_list(const struct cp_peer_list *l, size_t n_in)
{
	CHECK(l->n_peers + l->n_errors == n_in);
	CHECK(l->n_peers <= CP_PEERS_MAX);
	for (size_t i = 0; i < l->n_errors; i++) {
		CHECK(l->errors[i].index < n_in);
		CHECK(i == 0 || l->errors[i].index > l->errors[i - 1].index);
		CHECK(l->errors[i].text[0] != '\0');
	}
	for (size_t i = 0; i < l->n_peers; i++) {
		const struct cp_peer *p = &l->peers[i];

		CHECK(p->id && id_is_valid(p->id));
		CHECK(p->n_allowed_ips <= CP_ALLOWED_IPS_MAX);
		for (size_t k = 0; k < p->n_allowed_ips; k++)
			CHECK((p->allowed_ips[k].family == AF_INET && p->allowed_ips[k].len <= 32) ||
			      (p->allowed_ips[k].family == AF_INET6 && p->allowed_ips[k].len <= 128));
		if (p->endpoint.known)
			CHECK(p->endpoint.addr.ss_family == AF_INET ||
			      p->endpoint.addr.ss_family == AF_INET6);
		for (size_t k = 0; k < i; k++)
			CHECK(strcmp(l->peers[k].id, p->id) != 0); /* duplicates were dropped */
	}
}

/* to_json ∘ from_json is the identity on parsed peers, and to_json is a fixpoint. */
static void check_peer_round_trip(const struct cp_peer_list *l)
{
	struct cp_peer_list back = {};
	struct json_error e = {};
	json_t *j = NULL, *wire, *j2 = NULL;

	CHECK(cp_peer_list_to_json(l->peers, l->n_peers, &j) == 0);
	wire = through_text(j);
	CHECK(cp_peer_list_from_json(wire, "peers", &back, &e) == 0);
	CHECK(back.n_errors == 0);
	CHECK(back.n_peers == l->n_peers);
	for (size_t i = 0; i < l->n_peers; i++)
		CHECK(peer_eq(&l->peers[i], &back.peers[i]));
	CHECK(cp_peer_list_to_json(back.peers, back.n_peers, &j2) == 0);
	CHECK(json_equal(j, j2));
	cp_peer_list_done(&back);
	json_decref(j);
	json_decref(j2);
	json_decref(wire);
}

static bool rule_eq(const struct cp_policy_rule *a, const struct cp_policy_rule *b)
{
	return strcmp(a->src, b->src) == 0 && strcmp(a->dst, b->dst) == 0 && a->port == b->port &&
	       a->protocol == b->protocol && a->action == b->action && !a->invalid && !b->invalid;
}

static void check_policy_list(const struct cp_policy_list *l)
{
	bool all_valid = true;
	struct cp_policy_list back = {};
	struct json_error e = {};
	json_t *j = NULL, *wire, *j2 = NULL;
	int r;

	CHECK(l->n_policies <= CP_POLICIES_MAX);
	for (size_t i = 0; i < l->n_policies; i++) {
		const struct cp_policy *p = &l->policies[i];

		CHECK(p->id && id_is_valid(p->id));
		CHECK(p->n_rules <= CP_RULES_MAX);
		for (size_t k = 0; k < p->n_rules; k++) {
			const struct cp_policy_rule *ru = &p->rules[k];

			if (ru->invalid) {
				CHECK(ru->invalid[0] != '\0');
				all_valid = false;
				continue;
			}
			/* A structurally sound rule has every field in range. */
			CHECK(ru->src && ru->src[0] && ru->dst && ru->dst[0]);
			CHECK(ru->port >= 0 && ru->port <= 65535);
			CHECK(cp_protocol_to_string(ru->protocol) && cp_action_to_string(ru->action));
		}
	}

	r = cp_policy_list_to_json(l->policies, l->n_policies, &j);
	CHECK(r == (all_valid ? 0 : -EINVAL));
	if (r < 0)
		return;
	wire = through_text(j);
	CHECK(cp_policy_list_from_json(wire, "policies", &back, &e) == 0);
	CHECK(back.n_policies == l->n_policies);
	for (size_t i = 0; i < l->n_policies; i++) {
		CHECK(strcmp(back.policies[i].id, l->policies[i].id) == 0);
		CHECK(back.policies[i].n_rules == l->policies[i].n_rules);
		for (size_t k = 0; k < l->policies[i].n_rules; k++)
			CHECK(rule_eq(&l->policies[i].rules[k], &back.policies[i].rules[k]));
	}
	CHECK(cp_policy_list_to_json(back.policies, back.n_policies, &j2) == 0);
	CHECK(json_equal(j, j2));
	cp_policy_list_done(&back);
	json_decref(j);
	json_decref(j2);
	json_decref(wire);
}

static void check_metadata(const struct cp_metadata *m)
{
	struct cp_metadata back = {};
	struct json_error e = {};
	json_t *j = NULL, *wire;

	CHECK(m->n_items <= CP_METADATA_MAX);
	for (size_t i = 0; i < m->n_items; i++) {
		CHECK(id_is_valid(m->items[i].key) && m->items[i].value);
		CHECK(cp_metadata_get(m, m->items[i].key) == m->items[i].value);
	}
	CHECK(cp_metadata_to_json(m, &j) == 0);
	wire = through_text(j);
	CHECK(cp_metadata_from_json(wire, "metadata", &back, &e) == 0);
	CHECK(back.n_items == m->n_items);
	for (size_t i = 0; i < m->n_items; i++) {
		const char *v = cp_metadata_get(&back, m->items[i].key);

		CHECK(v && strcmp(v, m->items[i].value) == 0);
	}
	cp_metadata_done(&back);
	json_decref(j);
	json_decref(wire);
}

static size_t list_len(json_t *arr)
{
	return json_is_array(arr) ? json_array_size(arr) : 0;
}

static void try_peer_list(json_t *arr)
{
	struct cp_peer_list l = { .n_peers = 7 };
	struct json_error e = {};
	int r = cp_peer_list_from_json(arr, "peers", &l, &e);

	CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r < 0) {
		CHECK(l.n_peers == 7 && !l.peers);
		CHECK(e.text[0] != '\0');
		return;
	}
	CHECK(arr == NULL || json_is_null(arr) || json_is_array(arr));
	check_peer_list(&l, list_len(arr));
	check_peer_round_trip(&l);
	cp_peer_list_done(&l);
}

static void try_policy_list(json_t *arr)
{
	struct cp_policy_list l = { .n_policies = 7 };
	struct json_error e = {};
	int r = cp_policy_list_from_json(arr, "policies", &l, &e);

	CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r < 0) {
		CHECK(l.n_policies == 7 && !l.policies);
		CHECK(e.text[0] != '\0');
		return;
	}
	CHECK(l.n_policies == list_len(arr)); /* all or nothing */
	check_policy_list(&l);
	cp_policy_list_done(&l);
}

static void try_responses(json_t *j)
{
	struct json_error e = {};
	int r;

	{
		struct cp_state_response *s = (void *)SENTINEL;

		r = cp_state_response_from_json(j, &s, &e);
		CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
		if (r < 0) {
			CHECK(s == SENTINEL);
		} else {
			CHECK(json_is_object(j));
			check_peer_list(&s->peers, list_len(json_object_get(j, "peers")));
			check_peer_round_trip(&s->peers);
			check_policy_list(&s->policies);
			if (s->has_metadata)
				check_metadata(&s->metadata);
			if (s->has_data)
				for (size_t i = 0; i < s->data.n_entries; i++)
					CHECK(s->data.entries[i].version >= 1 && s->data.entries[i].payload);
			if (s->has_secret_refs)
				CHECK(s->secret_refs.n_refs <= CP_SECRET_REFS_MAX);
			cp_state_response_free(s);
		}
	}
	{
		struct cp_register_response *rr = (void *)SENTINEL;

		r = cp_register_response_from_json(j, &rr, &e);
		CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
		if (r < 0) {
			CHECK(rr == SENTINEL);
		} else {
			CHECK(id_is_valid(rr->node_id));
			if (rr->node_token)
				CHECK(strlen(rr->node_token) >= CP_NODE_TOKEN_MIN &&
				      strlen(rr->node_token) <= CP_NODE_TOKEN_MAX);
			check_peer_list(&rr->peers, list_len(json_object_get(j, "peers")));
			check_peer_round_trip(&rr->peers);
			cp_register_response_free(rr);
		}
	}
	{
		struct cp_key_rotate_response *k = (void *)SENTINEL;

		r = cp_key_rotate_response_from_json(j, &k, &e);
		CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
		if (r < 0) {
			CHECK(k == SENTINEL);
		} else {
			CHECK(k->has_node_secret_key == (json_object_get(j, "node_secret_key") != NULL));
			check_peer_list(&k->updated_peers, list_len(json_object_get(j, "updated_peers")));
			check_peer_round_trip(&k->updated_peers);
			cp_key_rotate_response_free(k);
		}
	}
	{
		struct cp_endpoint_response *er = (void *)SENTINEL;

		r = cp_endpoint_response_from_json(j, &er, &e);
		CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
		if (r < 0) {
			CHECK(er == SENTINEL);
		} else {
			size_t n = list_len(json_object_get(j, "peer_endpoints"));

			/* Entries with an empty endpoint are the only ones neither kept nor errors. */
			CHECK(er->n_peer_endpoints + er->n_errors <= n);
			for (size_t i = 0; i < er->n_errors; i++)
				CHECK(er->errors[i].index < n &&
				      (i == 0 || er->errors[i].index > er->errors[i - 1].index));
			for (size_t i = 0; i < er->n_peer_endpoints; i++) {
				const struct sockaddr_storage *sa = &er->peer_endpoints[i].endpoint;

				CHECK(id_is_valid(er->peer_endpoints[i].peer_id));
				CHECK(sa->ss_family == AF_INET || sa->ss_family == AF_INET6);
			}
			cp_endpoint_response_free(er);
		}
	}
	{
		struct cp_secret_response *s = (void *)SENTINEL;

		r = cp_secret_response_from_json(j, &s, &e);
		CHECK(r == 0 || r == -EINVAL || r == -ENOMEM || r == -E2BIG);
		if (r < 0) {
			CHECK(s == SENTINEL);
		} else {
			CHECK(s->key && s->ciphertext_len <= CP_SECRET_CIPHERTEXT_MAX);
			CHECK(s->ciphertext_len == 0 || s->ciphertext);
			cp_secret_response_free(s);
		}
	}
	{
		struct cp_heartbeat_response hb = { .reconcile = true, .rotate_keys = true };

		r = cp_heartbeat_response_from_json(j, &hb, &e);
		CHECK(r == 0 || r == -EINVAL);
		CHECK((r == 0) == json_is_object(j) || r < 0);
		if (r < 0)
			CHECK(hb.reconcile && hb.rotate_keys);
		else
			CHECK(hb.reconcile == json_is_true(json_object_get(j, "reconcile")) &&
			      hb.rotate_keys == json_is_true(json_object_get(j, "rotate_keys")));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_error e = {};
	json_t *j = NULL;

	if (json_parse_bounded((const char *)data, size, &j, &e) < 0)
		return 0;
	try_responses(j);
	try_peer_list(j);
	try_policy_list(j);
	if (json_is_object(j)) {
		try_peer_list(json_object_get(j, "peers"));
		try_policy_list(json_object_get(j, "policies"));
		try_peer_list(json_object_get(j, "updated_peers"));
	}
	json_decref(j);
	return 0;
}
