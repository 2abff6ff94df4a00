/* Parsers and serializers of the control-plane wire types (control-plane-api.md §4, §8).
 * Every value from the CP is validated here; downstream code only sees typed fields. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/types.h"
#include "shared/encoding.h"
#include "shared/macro.h"
#include "shared/wire.h"

/* ---- small helpers ---- */

static int strdup_to(const char *s, char **ret)
{
	char *c = strdup(s);
	if (!c)
		return -ENOMEM;
	*ret = c;
	return 0;
}

static bool printable_ascii(const char *s, size_t min, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
			return false;
	return n >= min && n <= max;
}

/* The members of one object are independent, so building with json_object_set_new and
 * checking once at the end keeps the serializers short: jansson ignores a NULL value
 * (returns -1) and we detect that through `ok`. */
struct jbuild {
	json_t *obj;
	bool ok;
};

static void jb_init(struct jbuild *b)
{
	b->obj = json_object();
	b->ok = b->obj != NULL;
}

static void jb_set(struct jbuild *b, const char *key, json_t *v)
{
	if (!v) {
		b->ok = false;
		return;
	}
	if (!b->obj || json_object_set_new(b->obj, key, v) < 0)
		b->ok = false;
}

static void jb_str(struct jbuild *b, const char *key, const char *s)
{
	jb_set(b, key, json_string(strempty(s)));
}

static void jb_int(struct jbuild *b, const char *key, int64_t v)
{
	jb_set(b, key, json_integer((json_int_t)v));
}

static void jb_bool(struct jbuild *b, const char *key, bool v)
{
	jb_set(b, key, json_boolean(v));
}

static void jb_key32(struct jbuild *b, const char *key, const uint8_t k[32])
{
	char buf[45];
	key32_format(k, buf);
	jb_set(b, key, json_string(buf));
	explicit_bzero(buf, sizeof(buf));
}

static json_t *ts_json(struct timestamp t)
{
	json_t *j = NULL;
	if (cp_timestamp_to_json(t, &j) < 0)
		return NULL;
	return j;
}

static void jb_ts(struct jbuild *b, const char *key, struct timestamp t)
{
	jb_set(b, key, ts_json(t));
}

static void jb_sha256(struct jbuild *b, const char *key, const uint8_t d[32])
{
	char buf[7 + 64 + 1] = "sha256:";
	hex_encode_to(d, 32, buf + 7);
	jb_str(b, key, buf);
}

static void jb_duration(struct jbuild *b, const char *key, int64_t ns)
{
	char buf[64];
	if (duration_format(ns, buf, sizeof(buf)) < 0) {
		b->ok = false;
		return;
	}
	jb_str(b, key, buf);
}

static void jb_endpoint(struct jbuild *b, const char *key, const struct sockaddr_storage *sa)
{
	char buf[64];
	if (endpoint_format(sa, buf, sizeof(buf)) < 0) {
		b->ok = false;
		return;
	}
	jb_str(b, key, buf);
}

/* Returns 0 with *ret set, or the error: -EINVAL when a field was invalid, -ENOMEM. */
static int jb_finish(struct jbuild *b, json_t **ret)
{
	if (!b->ok) {
		json_decref(b->obj);
		b->obj = NULL;
		return -ENOMEM;
	}
	*ret = TAKE_PTR(b->obj);
	return 0;
}

int cp_timestamp_to_json(struct timestamp t, json_t **ret)
{
	char buf[RFC3339_MAX];
	unsigned digits = t.nsec == 0 ? 0 : (t.nsec % 1000000 == 0 ? 3 : 9);
	int r = rfc3339_format(t, digits, buf);
	if (r < 0)
		return r;
	json_t *j = json_string(buf);
	if (!j)
		return -ENOMEM;
	*ret = j;
	return 0;
}

/* ---- prefixes and endpoints ---- */

int cp_prefix_parse(const char *s, struct cp_prefix *ret)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	struct cp_prefix p = {};

	if (!slash || (size_t)(slash - s) >= sizeof(addr) || slash == s)
		return -EINVAL;
	memcpy(addr, s, slash - s);
	addr[slash - s] = 0;

	if (inet_pton(AF_INET, addr, &p.addr.in) == 1)
		p.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &p.addr.in6) == 1)
		p.family = AF_INET6;
	else
		return -EINVAL;

	/* 1–3 decimal digits, no sign, no leading zero except "0". */
	const char *l = slash + 1;
	size_t ll = strlen(l);
	if (ll < 1 || ll > 3 || (ll > 1 && l[0] == '0'))
		return -EINVAL;
	unsigned v = 0;
	for (size_t i = 0; i < ll; i++) {
		if (l[i] < '0' || l[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(l[i] - '0');
	}
	if (v > (p.family == AF_INET ? 32U : 128U))
		return -EINVAL;
	p.len = (uint8_t)v;
	*ret = p;
	return 0;
}

int cp_prefix_format(const struct cp_prefix *p, char *out, size_t size)
{
	char addr[INET6_ADDRSTRLEN];
	if (!inet_ntop(p->family, &p->addr, addr, sizeof(addr)))
		return -EINVAL;
	int n = snprintf(out, size, "%s/%u", addr, p->len);
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return 0;
}

/* ---- enum tables ---- */

static const char *const protocol_names[] = {
	[CP_PROTOCOL_ANY] = "",
	[CP_PROTOCOL_TCP] = "tcp",
	[CP_PROTOCOL_UDP] = "udp",
};
static const char *const action_names[] = {
	[CP_ACTION_ALLOW] = "allow",
	[CP_ACTION_DENY] = "deny",
};
static const char *const health_names[] = {
	[CP_HEALTH_HEALTHY] = "healthy",
	[CP_HEALTH_DEGRADED] = "degraded",
	[CP_HEALTH_UNHEALTHY] = "unhealthy",
};
static const char *const nat_names[] = {
	[CP_NAT_NONE] = "none",
	[CP_NAT_FULL_CONE] = "full_cone",
	[CP_NAT_SYMMETRIC] = "symmetric",
	[CP_NAT_UNKNOWN] = "unknown",
};
static const char *const execution_status_names[] = {
	[CP_EXECUTION_SUCCESS] = "success",
	[CP_EXECUTION_FAILURE] = "failure",
	[CP_EXECUTION_TIMEOUT] = "timeout",
	[CP_EXECUTION_CANCELLED] = "cancelled",
};

static int table_lookup(const char *const *table, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (table[i] && streq(table[i], s))
			return (int)i;
	return -EINVAL;
}

#define TABLE_NAME(table, v) ((size_t)(v) < ELEMENTSOF(table) ? table[v] : NULL)

const char *cp_protocol_to_string(enum cp_protocol p)
{
	return TABLE_NAME(protocol_names, p);
}
const char *cp_action_to_string(enum cp_action a)
{
	return TABLE_NAME(action_names, a);
}
const char *cp_health_to_string(enum cp_health h)
{
	return TABLE_NAME(health_names, h);
}
const char *cp_nat_type_to_string(enum cp_nat_type t)
{
	return TABLE_NAME(nat_names, t);
}
int cp_nat_type_from_string(const char *s, enum cp_nat_type *ret)
{
	int r = table_lookup(nat_names, ELEMENTSOF(nat_names), s);
	if (r < 0)
		return r;
	*ret = (enum cp_nat_type)r;
	return 0;
}

/* ---- Peer ---- */

void cp_peer_done(struct cp_peer *p)
{
	if (!p)
		return;
	free(p->id);
	free(p->allowed_ips);
	explicit_bzero(p, sizeof(*p));
}

int cp_peer_from_json(json_t *j, struct cp_peer *ret, struct json_error *e)
{
	struct cp_peer p = {};
	const char *s, *id;
	json_t *arr = NULL;
	int r;

	if (!json_is_object(j)) {
		json_error_set(e, "must be an object");
		return -EINVAL;
	}

	/* `peer_id` is an alias of `id` (§7.2); `id` wins when both are present. */
	r = json_get_id(j, "id", false, &id, e);
	if (r == -ENOENT)
		r = json_get_id(j, "peer_id", false, &id, e);
	if (r == -ENOENT) {
		json_error_set(e, "id: is required");
		return -EINVAL;
	}
	if (r < 0)
		return r;

	r = json_get_key32(j, "public_key", true, p.public_key, e);
	if (r < 0)
		goto fail;

	r = json_get_string(j, "mesh_ip", true, &s, e);
	if (r < 0)
		goto fail;
	if (ipv4_addr_parse(s, &p.mesh_ip) < 0) {
		json_error_set(e, "mesh_ip: must be a bare IPv4 address");
		r = -EINVAL;
		goto fail;
	}

	r = json_get_string(j, "endpoint", true, &s, e);
	if (r < 0)
		goto fail;
	if (*s) {
		if (endpoint_parse(s, &p.endpoint.addr) < 0) {
			json_error_set(e, "endpoint: must be ip:port or [ipv6]:port");
			r = -EINVAL;
			goto fail;
		}
		p.endpoint.known = true;
	}

	/* Required by the contract; absent reads as empty like every array (§1.1). */
	r = json_get_array(j, "allowed_ips", &arr, e);
	if (r < 0)
		goto fail;
	if (arr && json_array_size(arr) > 0) {
		size_t n = json_array_size(arr);
		if (n > CP_ALLOWED_IPS_MAX) {
			json_error_set(e, "allowed_ips: more than %d entries", CP_ALLOWED_IPS_MAX);
			r = -EINVAL;
			goto fail;
		}
		p.allowed_ips = calloc(n, sizeof(*p.allowed_ips));
		if (!p.allowed_ips) {
			r = -ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_array_get(arr, i);
			if (!json_is_string(v) || cp_prefix_parse(json_string_value(v), &p.allowed_ips[i]) < 0) {
				json_error_set(e, "allowed_ips[%zu]: must be an address/prefix-length", i);
				r = -EINVAL;
				goto fail;
			}
		}
		p.n_allowed_ips = n;
	}

	r = json_get_string(j, "psk", true, &s, e);
	if (r < 0)
		goto fail;
	if (*s) {
		if (key32_parse(s, p.psk) < 0) {
			json_error_set(e, "psk: must be base64 of 32 bytes or \"\"");
			r = -EINVAL;
			goto fail;
		}
		p.has_psk = true;
	}

	r = json_get_bool(j, "relayed", &p.relayed, e);
	if (r < 0)
		goto fail;

	r = strdup_to(id, &p.id);
	if (r < 0)
		goto fail;

	*ret = p;
	return 0;
fail:
	cp_peer_done(&p);
	return r;
}

int cp_peer_to_json(const struct cp_peer *p, json_t **ret)
{
	struct jbuild b;
	char mesh_ip[INET_ADDRSTRLEN];
	json_t *ips;

	if (!id_is_valid(p->id) || !inet_ntop(AF_INET, &p->mesh_ip, mesh_ip, sizeof(mesh_ip)))
		return -EINVAL;

	jb_init(&b);
	jb_str(&b, "id", p->id);
	jb_key32(&b, "public_key", p->public_key);
	jb_str(&b, "mesh_ip", mesh_ip);
	if (p->endpoint.known)
		jb_endpoint(&b, "endpoint", &p->endpoint.addr);
	else
		jb_str(&b, "endpoint", "");
	ips = json_array();
	for (size_t i = 0; ips && i < p->n_allowed_ips; i++) {
		char buf[INET6_ADDRSTRLEN + 5];
		if (cp_prefix_format(&p->allowed_ips[i], buf, sizeof(buf)) < 0 ||
		    json_array_append_new(ips, json_string(buf)) < 0) {
			json_decref(ips);
			ips = NULL;
		}
	}
	jb_set(&b, "allowed_ips", ips);
	if (p->has_psk)
		jb_key32(&b, "psk", p->psk);
	else
		jb_str(&b, "psk", "");
	if (p->relayed)
		jb_bool(&b, "relayed", true);
	return jb_finish(&b, ret);
}

void cp_peer_list_done(struct cp_peer_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_peers; i++)
		cp_peer_done(&l->peers[i]);
	free(l->peers);
	free(l->errors);
	*l = (struct cp_peer_list){};
}

static int get_list(json_t *arr, const char *field, size_t max, size_t *ret_n, struct json_error *e)
{
	if (!arr || json_is_null(arr)) {
		*ret_n = 0;
		return 0;
	}
	if (!json_is_array(arr)) {
		json_error_set(e, "%s: must be an array", field);
		return -EINVAL;
	}
	if (json_array_size(arr) > max) {
		json_error_set(e, "%s: more than %zu entries", field, max);
		return -EINVAL;
	}
	*ret_n = json_array_size(arr);
	return 0;
}

/* "field[i]: must be an object" (json_error_prefix would join with a dot). */
static void elem_not_object(struct json_error *e, const char *field, size_t i)
{
	json_error_set(e, "%s[%zu]: must be an object", field, i);
}

static void item_error(struct cp_item_error *ie, size_t index, const char *field, struct json_error *e)
{
	ie->index = index;
	json_error_prefix(e, field, (long)index);
	snprintf(ie->text, sizeof(ie->text), "%s", e->text);
}

int cp_peer_list_from_json(json_t *arr, const char *field, struct cp_peer_list *ret, struct json_error *e)
{
	struct cp_peer_list l = {};
	size_t n;
	int r;

	r = get_list(arr, field, CP_PEERS_MAX, &n, e);
	if (r < 0)
		return r;
	if (n > 0) {
		l.peers = calloc(n, sizeof(*l.peers));
		l.errors = calloc(n, sizeof(*l.errors));
		if (!l.peers || !l.errors) {
			cp_peer_list_done(&l);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct json_error pe = {};
		struct cp_peer p;

		if (!json_is_object(json_array_get(arr, i))) {
			l.errors[l.n_errors].index = i;
			elem_not_object(&pe, field, i);
			snprintf(l.errors[l.n_errors++].text, sizeof(pe.text), "%s", pe.text);
			continue;
		}
		r = cp_peer_from_json(json_array_get(arr, i), &p, &pe);
		if (r == -ENOMEM) {
			cp_peer_list_done(&l);
			return r;
		}
		if (r < 0) {
			item_error(&l.errors[l.n_errors++], i, field, &pe);
			continue;
		}
		/* A second entry with the same id is ambiguous; the first one wins. */
		bool dup = false;
		for (size_t k = 0; k < l.n_peers && !dup; k++)
			dup = streq(l.peers[k].id, p.id);
		if (dup) {
			json_error_set(&pe, "id: duplicate of an earlier peer");
			item_error(&l.errors[l.n_errors++], i, field, &pe);
			cp_peer_done(&p);
			continue;
		}
		l.peers[l.n_peers++] = p;
	}
	*ret = l;
	return 0;
}

int cp_peer_list_to_json(const struct cp_peer *peers, size_t n, json_t **ret)
{
	json_t *a = json_array();
	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *p;
		int r = cp_peer_to_json(&peers[i], &p);
		if (r < 0) {
			json_decref(a);
			return r;
		}
		if (json_array_append_new(a, p) < 0) {
			json_decref(a);
			return -ENOMEM;
		}
	}
	*ret = a;
	return 0;
}

/* ---- Policy ---- */

static void cp_policy_rule_done(struct cp_policy_rule *r)
{
	free(r->src);
	free(r->dst);
	free(r->invalid);
	*r = (struct cp_policy_rule){};
}

void cp_policy_done(struct cp_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_rules; i++)
		cp_policy_rule_done(&p->rules[i]);
	free(p->rules);
	free(p->id);
	*p = (struct cp_policy){};
}

void cp_policy_list_done(struct cp_policy_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_policies; i++)
		cp_policy_done(&l->policies[i]);
	free(l->policies);
	*l = (struct cp_policy_list){};
}

/* Marks the rule invalid with the first reason found. */
static int rule_mark(struct cp_policy_rule *r, const char *text)
{
	if (r->invalid)
		return 0;
	return strdup_to(text, &r->invalid);
}

static int rule_selector(json_t *j, const char *key, char **ret, struct cp_policy_rule *rule)
{
	char buf[96];
	json_t *v = json_object_get(j, key);
	if (!json_is_string(v) || json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(buf, sizeof(buf), "%s: must be a non-empty string", key);
		return rule_mark(rule, buf);
	}
	return strdup_to(json_string_value(v), ret);
}

static int cp_policy_rule_from_json(json_t *j, struct cp_policy_rule *ret)
{
	struct cp_policy_rule r = { .protocol = CP_PROTOCOL_INVALID, .action = CP_ACTION_INVALID };
	json_t *v;
	int k;

	if (!json_is_object(j)) {
		k = rule_mark(&r, "must be an object");
		goto out;
	}
	k = rule_selector(j, "src", &r.src, &r);
	if (k < 0)
		goto out;
	k = rule_selector(j, "dst", &r.dst, &r);
	if (k < 0)
		goto out;

	v = json_object_get(j, "port");
	if (!v || json_is_null(v))
		r.port = 0;
	else if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 65535)
		r.port = (int32_t)json_integer_value(v);
	else {
		r.port = -1;
		k = rule_mark(&r, "port: must be an integer 0-65535");
		if (k < 0)
			goto out;
	}

	v = json_object_get(j, "protocol");
	if (!v || json_is_null(v))
		r.protocol = CP_PROTOCOL_ANY;
	else if (json_is_string(v) && (k = table_lookup(protocol_names, ELEMENTSOF(protocol_names),
							json_string_value(v))) >= 0)
		r.protocol = (enum cp_protocol)k;
	else {
		k = rule_mark(&r, "protocol: must be \"tcp\", \"udp\" or \"\"");
		if (k < 0)
			goto out;
	}

	v = json_object_get(j, "action");
	if (json_is_string(v) &&
	    (k = table_lookup(action_names, ELEMENTSOF(action_names), json_string_value(v))) >= 0)
		r.action = (enum cp_action)k;
	else {
		k = rule_mark(&r, "action: must be \"allow\" or \"deny\"");
		if (k < 0)
			goto out;
	}
	k = 0;
out:
	if (k < 0) {
		cp_policy_rule_done(&r);
		return k;
	}
	*ret = r;
	return 0;
}

static int cp_policy_from_json(json_t *j, struct cp_policy *ret, struct json_error *e)
{
	struct cp_policy p = {};
	const char *id;
	json_t *rules;
	size_t n;
	int r;

	if (!json_is_object(j)) {
		json_error_set(e, "must be an object");
		return -EINVAL;
	}
	r = json_get_id(j, "id", true, &id, e);
	if (r < 0)
		return r;
	rules = json_object_get(j, "rules");
	r = get_list(rules, "rules", CP_RULES_MAX, &n, e);
	if (r < 0)
		return r;
	r = strdup_to(id, &p.id);
	if (r < 0)
		return r;
	if (n > 0) {
		p.rules = calloc(n, sizeof(*p.rules));
		if (!p.rules) {
			cp_policy_done(&p);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < n; i++) {
		r = cp_policy_rule_from_json(json_array_get(rules, i), &p.rules[i]);
		if (r < 0) {
			cp_policy_done(&p);
			return r;
		}
		p.n_rules++;
	}
	*ret = p;
	return 0;
}

int cp_policy_list_from_json(json_t *arr, const char *field, struct cp_policy_list *ret,
			     struct json_error *e)
{
	struct cp_policy_list l = {};
	size_t n;
	int r;

	r = get_list(arr, field, CP_POLICIES_MAX, &n, e);
	if (r < 0)
		return r;
	if (n > 0) {
		l.policies = calloc(n, sizeof(*l.policies));
		if (!l.policies)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (!json_is_object(json_array_get(arr, i))) {
			elem_not_object(e, field, i);
			cp_policy_list_done(&l);
			return -EINVAL;
		}
		r = cp_policy_from_json(json_array_get(arr, i), &l.policies[i], e);
		if (r < 0) {
			if (r == -EINVAL)
				json_error_prefix(e, field, (long)i);
			cp_policy_list_done(&l);
			return r;
		}
		l.n_policies++;
	}
	*ret = l;
	return 0;
}

int cp_policy_list_to_json(const struct cp_policy *p, size_t n, json_t **ret)
{
	json_t *a = json_array();
	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct jbuild b;
		json_t *rules = json_array(), *pol;

		for (size_t k = 0; rules && k < p[i].n_rules; k++) {
			const struct cp_policy_rule *ru = &p[i].rules[k];
			struct jbuild rb;
			json_t *rj;

			if (ru->invalid || !ru->src || !ru->dst || ru->port < 0 ||
			    !cp_protocol_to_string(ru->protocol) || !cp_action_to_string(ru->action)) {
				json_decref(rules);
				json_decref(a);
				return -EINVAL;
			}
			jb_init(&rb);
			jb_str(&rb, "src", ru->src);
			jb_str(&rb, "dst", ru->dst);
			if (ru->port)
				jb_int(&rb, "port", ru->port);
			if (ru->protocol != CP_PROTOCOL_ANY)
				jb_str(&rb, "protocol", cp_protocol_to_string(ru->protocol));
			jb_str(&rb, "action", cp_action_to_string(ru->action));
			if (jb_finish(&rb, &rj) < 0 || json_array_append_new(rules, rj) < 0) {
				json_decref(rules);
				rules = NULL;
			}
		}
		jb_init(&b);
		jb_str(&b, "id", p[i].id);
		jb_set(&b, "rules", rules);
		if (jb_finish(&b, &pol) < 0 || json_array_append_new(a, pol) < 0) {
			json_decref(a);
			return -ENOMEM;
		}
	}
	*ret = a;
	return 0;
}

/* ---- Metadata ---- */

void cp_metadata_done(struct cp_metadata *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_items; i++) {
		free(m->items[i].key);
		free(m->items[i].value);
	}
	free(m->items);
	*m = (struct cp_metadata){};
}

const char *cp_metadata_get(const struct cp_metadata *m, const char *key)
{
	for (size_t i = 0; m && i < m->n_items; i++)
		if (streq(m->items[i].key, key))
			return m->items[i].value;
	return NULL;
}

int cp_metadata_set(struct cp_metadata *m, const char *key, const char *value)
{
	_cleanup_free_ char *k = NULL, *v = NULL;

	if (!id_is_valid(key))
		return -EINVAL;
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_items; i++)
		if (streq(m->items[i].key, key)) {
			free(m->items[i].value);
			m->items[i].value = TAKE_PTR(v);
			return 0;
		}
	if (m->n_items >= CP_METADATA_MAX)
		return -E2BIG;
	k = strdup(key);
	if (!k)
		return -ENOMEM;
	struct cp_kv *items = realloc(m->items, (m->n_items + 1) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	m->items = items;
	m->items[m->n_items++] = (struct cp_kv){ TAKE_PTR(k), TAKE_PTR(v) };
	return 0;
}

int cp_metadata_from_json(json_t *obj, const char *field, struct cp_metadata *ret, struct json_error *e)
{
	struct cp_metadata m = {};
	const char *key;
	json_t *v;

	if (!obj || json_is_null(obj)) {
		*ret = m;
		return 0;
	}
	if (!json_is_object(obj)) {
		json_error_set(e, "%s: must be an object", field);
		return -EINVAL;
	}
	if (json_object_size(obj) > CP_METADATA_MAX) {
		json_error_set(e, "%s: more than %d entries", field, CP_METADATA_MAX);
		return -EINVAL;
	}
	if (json_object_size(obj) > 0) {
		m.items = calloc(json_object_size(obj), sizeof(*m.items));
		if (!m.items)
			return -ENOMEM;
	}
	json_object_foreach (obj, key, v) {
		if (!id_is_valid(key)) {
			json_error_set(e, "%s: key \"%.64s\" is not a valid id", field, key);
			cp_metadata_done(&m);
			return -EINVAL;
		}
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
			json_error_set(e, "%s.%s: must be a string", field, key);
			cp_metadata_done(&m);
			return -EINVAL;
		}
		struct cp_kv *kv = &m.items[m.n_items];
		kv->key = strdup(key);
		kv->value = strdup(json_string_value(v));
		m.n_items++;
		if (!kv->key || !kv->value) {
			cp_metadata_done(&m);
			return -ENOMEM;
		}
	}
	*ret = m;
	return 0;
}

int cp_metadata_to_json(const struct cp_metadata *m, json_t **ret)
{
	struct jbuild b;
	jb_init(&b);
	for (size_t i = 0; m && i < m->n_items; i++)
		jb_str(&b, m->items[i].key, m->items[i].value);
	return jb_finish(&b, ret);
}

/* ---- DataEntry / ReportEntry ---- */

void cp_data_entry_done(struct cp_data_entry *d)
{
	if (!d)
		return;
	free(d->key);
	free(d->content_type);
	json_decref(d->payload);
	*d = (struct cp_data_entry){};
}

void cp_data_list_done(struct cp_data_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_entries; i++)
		cp_data_entry_done(&l->entries[i]);
	free(l->entries);
	*l = (struct cp_data_list){};
}

int cp_data_entry_from_json(json_t *j, struct cp_data_entry *ret, struct json_error *e)
{
	struct cp_data_entry d = {};
	const char *key, *ct;
	json_t *payload;
	int r;

	if (!json_is_object(j)) {
		json_error_set(e, "must be an object");
		return -EINVAL;
	}
	r = json_get_id(j, "key", true, &key, e);
	if (r < 0)
		return r;
	r = json_get_string(j, "content_type", true, &ct, e);
	if (r < 0)
		return r;
	/* payload is required but may legitimately be JSON null. */
	payload = json_object_get(j, "payload");
	if (!payload) {
		json_error_set(e, "payload: is required");
		return -EINVAL;
	}
	r = json_get_int(j, "version", true, 1, INT64_MAX, &d.version, e);
	if (r < 0)
		return r;
	r = json_get_timestamp(j, "updated_at", true, &d.updated_at, e);
	if (r < 0)
		return r;

	d.key = strdup(key);
	d.content_type = strdup(ct);
	d.payload = json_incref(payload);
	if (!d.key || !d.content_type) {
		cp_data_entry_done(&d);
		return -ENOMEM;
	}
	*ret = d;
	return 0;
}

int cp_data_entry_to_json(const struct cp_data_entry *d, json_t **ret)
{
	struct jbuild b;
	if (!id_is_valid(d->key) || d->version < 1)
		return -EINVAL;
	jb_init(&b);
	jb_str(&b, "key", d->key);
	jb_str(&b, "content_type", d->content_type);
	jb_set(&b, "payload", d->payload ? json_incref(d->payload) : json_null());
	jb_int(&b, "version", d->version);
	jb_ts(&b, "updated_at", d->updated_at);
	return jb_finish(&b, ret);
}

int cp_data_list_from_json(json_t *arr, const char *field, struct cp_data_list *ret, struct json_error *e)
{
	struct cp_data_list l = {};
	size_t n;
	int r;

	r = get_list(arr, field, CP_DATA_MAX, &n, e);
	if (r < 0)
		return r;
	if (n > 0) {
		l.entries = calloc(n, sizeof(*l.entries));
		if (!l.entries)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (!json_is_object(json_array_get(arr, i))) {
			elem_not_object(e, field, i);
			cp_data_list_done(&l);
			return -EINVAL;
		}
		r = cp_data_entry_from_json(json_array_get(arr, i), &l.entries[i], e);
		if (r < 0) {
			if (r == -EINVAL)
				json_error_prefix(e, field, (long)i);
			cp_data_list_done(&l);
			return r;
		}
		l.n_entries++;
		for (size_t k = 0; k + 1 < l.n_entries; k++)
			if (streq(l.entries[k].key, l.entries[i].key)) {
				json_error_set(e, "key: duplicate");
				json_error_prefix(e, field, (long)i);
				cp_data_list_done(&l);
				return -EINVAL;
			}
	}
	*ret = l;
	return 0;
}

/* ---- SecretRef ---- */

void cp_secret_ref_list_done(struct cp_secret_ref_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_refs; i++)
		free(l->refs[i].key);
	free(l->refs);
	*l = (struct cp_secret_ref_list){};
}

int cp_secret_ref_list_from_json(json_t *arr, const char *field, struct cp_secret_ref_list *ret,
				 struct json_error *e)
{
	struct cp_secret_ref_list l = {};
	size_t n;
	int r;

	r = get_list(arr, field, CP_SECRET_REFS_MAX, &n, e);
	if (r < 0)
		return r;
	if (n > 0) {
		l.refs = calloc(n, sizeof(*l.refs));
		if (!l.refs)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_array_get(arr, i);
		const char *key;
		int64_t version;

		if (!json_is_object(j)) {
			elem_not_object(e, field, i);
			cp_secret_ref_list_done(&l);
			return -EINVAL;
		}
		r = json_get_id(j, "key", true, &key, e);
		if (r >= 0)
			r = json_get_int(j, "version", true, 0, INT64_MAX, &version, e);
		if (r < 0) {
			json_error_prefix(e, field, (long)i);
			cp_secret_ref_list_done(&l);
			return r;
		}
		l.refs[i].key = strdup(key);
		l.refs[i].version = version;
		l.n_refs++;
		if (!l.refs[i].key) {
			cp_secret_ref_list_done(&l);
			return -ENOMEM;
		}
	}
	*ret = l;
	return 0;
}

/* ---- StateResponse ---- */

struct cp_state_response *cp_state_response_free(struct cp_state_response *s)
{
	if (!s)
		return NULL;
	cp_peer_list_done(&s->peers);
	cp_policy_list_done(&s->policies);
	cp_metadata_done(&s->metadata);
	cp_data_list_done(&s->data);
	cp_secret_ref_list_done(&s->secret_refs);
	json_decref(s->bridge_config);
	json_decref(s->relay_config);
	json_decref(s->user_access_config);
	json_decref(s->ingress_config);
	json_decref(s->site_to_site_config);
	free(s);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct cp_state_response *, cp_state_response_free)

static int opaque_object(json_t *j, const char *key, json_t **ret, struct json_error *e)
{
	json_t *v = json_object_get(j, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		json_error_set(e, "%s: must be an object", key);
		return -EINVAL;
	}
	*ret = json_incref(v);
	return 0;
}

int cp_state_response_from_json(json_t *j, struct cp_state_response **ret, struct json_error *e)
{
	_cleanup_(cp_state_response_freep) struct cp_state_response *s = NULL;
	json_t *v;
	int r;

	if (!json_is_object(j)) {
		json_error_set(e, "state: must be an object");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;

	r = cp_peer_list_from_json(json_object_get(j, "peers"), "peers", &s->peers, e);
	if (r < 0)
		return r;
	r = cp_policy_list_from_json(json_object_get(j, "policies"), "policies", &s->policies, e);
	if (r < 0)
		return r;

	v = json_object_get(j, "signing_keys");
	if (v && !json_is_null(v)) {
		char err[200] = "";
		r = signing_keys_from_json((struct json_t *)v, &s->signing_keys, err, sizeof(err));
		if (r < 0) {
			json_error_set(e, "signing_keys: %s", err[0] ? err : "invalid");
			return r == -ENOMEM ? r : -EINVAL;
		}
		s->has_signing_keys = true;
	}

	v = json_object_get(j, "metadata");
	if (v && !json_is_null(v)) {
		r = cp_metadata_from_json(v, "metadata", &s->metadata, e);
		if (r < 0)
			return r;
		s->has_metadata = true;
	}
	v = json_object_get(j, "data");
	if (v && !json_is_null(v)) {
		r = cp_data_list_from_json(v, "data", &s->data, e);
		if (r < 0)
			return r;
		s->has_data = true;
	}
	v = json_object_get(j, "secret_refs");
	if (v && !json_is_null(v)) {
		r = cp_secret_ref_list_from_json(v, "secret_refs", &s->secret_refs, e);
		if (r < 0)
			return r;
		s->has_secret_refs = true;
	}

	if ((r = opaque_object(j, "bridge_config", &s->bridge_config, e)) < 0 ||
	    (r = opaque_object(j, "relay_config", &s->relay_config, e)) < 0 ||
	    (r = opaque_object(j, "user_access_config", &s->user_access_config, e)) < 0 ||
	    (r = opaque_object(j, "ingress_config", &s->ingress_config, e)) < 0 ||
	    (r = opaque_object(j, "site_to_site_config", &s->site_to_site_config, e)) < 0)
		return r;

	*ret = TAKE_PTR(s);
	return 0;
}

/* ---- Capabilities ---- */

static json_t *parameters_json(const struct cp_parameter_def *p, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		struct jbuild b;
		json_t *o;
		jb_init(&b);
		jb_str(&b, "name", p[i].name);
		jb_str(&b, "type", p[i].type);
		jb_bool(&b, "required", p[i].required);
		jb_str(&b, "description", p[i].description);
		if (p[i].default_value)
			jb_str(&b, "default", p[i].default_value);
		if (jb_finish(&b, &o) < 0 || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

int cp_capabilities_to_json(const struct cp_capabilities *c, json_t **ret)
{
	struct jbuild b;
	json_t *actions, *hooks;

	jb_init(&b);
	if (c->has_binary) {
		struct jbuild bb;
		json_t *bin = NULL;
		jb_init(&bb);
		jb_str(&bb, "version", c->binary_version);
		jb_sha256(&bb, "checksum", c->binary_checksum);
		(void)jb_finish(&bb, &bin);
		jb_set(&b, "binary", bin);
	}
	actions = json_array();
	for (size_t i = 0; actions && i < c->n_builtin_actions; i++) {
		const struct cp_action_capability *a = &c->builtin_actions[i];
		struct jbuild ab;
		json_t *o;
		jb_init(&ab);
		jb_str(&ab, "name", a->name);
		jb_str(&ab, "description", a->description);
		jb_set(&ab, "parameters", parameters_json(a->parameters, a->n_parameters));
		if (jb_finish(&ab, &o) < 0 || json_array_append_new(actions, o) < 0) {
			json_decref(actions);
			actions = NULL;
		}
	}
	jb_set(&b, "builtin_actions", actions);
	hooks = json_array();
	for (size_t i = 0; hooks && i < c->n_hooks; i++) {
		const struct cp_hook_capability *h = &c->hooks[i];
		struct jbuild hb;
		json_t *o;
		jb_init(&hb);
		jb_str(&hb, "name", h->name);
		jb_str(&hb, "description", h->description);
		jb_str(&hb, "source", h->source);
		jb_sha256(&hb, "checksum", h->checksum);
		jb_set(&hb, "parameters", parameters_json(h->parameters, h->n_parameters));
		if (h->timeout_ns > 0)
			jb_duration(&hb, "timeout", h->timeout_ns);
		else
			jb_str(&hb, "timeout", "");
		jb_str(&hb, "sandbox", h->sandbox);
		if (h->privileged)
			jb_bool(&hb, "privileged", true);
		if (jb_finish(&hb, &o) < 0 || json_array_append_new(hooks, o) < 0) {
			json_decref(hooks);
			hooks = NULL;
		}
	}
	jb_set(&b, "hooks", hooks);
	return jb_finish(&b, ret);
}

/* ---- Register ---- */

int cp_register_request_to_json(const struct cp_register_request *r, json_t **ret)
{
	struct jbuild b;

	if (!r->token || !printable_ascii(r->token, 1, CP_BOOTSTRAP_TOKEN_MAX))
		return -EINVAL;
	if (!r->hostname || strlen(r->hostname) < 1 || strlen(r->hostname) > CP_HOSTNAME_MAX)
		return -EINVAL;

	jb_init(&b);
	jb_str(&b, "token", r->token);
	jb_key32(&b, "public_key", r->public_key);
	jb_str(&b, "hostname", r->hostname);
	if (r->metadata && r->metadata->n_items > 0) {
		json_t *m = NULL;
		(void)cp_metadata_to_json(r->metadata, &m);
		jb_set(&b, "metadata", m);
	}
	if (r->capabilities) {
		json_t *c = NULL;
		(void)cp_capabilities_to_json(r->capabilities, &c);
		jb_set(&b, "capabilities", c);
	}
	return jb_finish(&b, ret);
}

struct cp_register_response *cp_register_response_free(struct cp_register_response *r)
{
	if (!r)
		return NULL;
	free(r->node_id);
	erase_and_free(r->node_token);
	cp_peer_list_done(&r->peers);
	explicit_bzero(r, sizeof(*r));
	free(r);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct cp_register_response *, cp_register_response_free)

int cp_register_response_from_json(json_t *j, struct cp_register_response **ret, struct json_error *e)
{
	_cleanup_(cp_register_response_freep) struct cp_register_response *rr = NULL;
	const char *s;
	int r;

	if (!json_is_object(j)) {
		json_error_set(e, "register response: must be an object");
		return -EINVAL;
	}
	rr = calloc(1, sizeof(*rr));
	if (!rr)
		return -ENOMEM;

	r = json_get_id(j, "node_id", true, &s, e);
	if (r < 0)
		return r;
	if (strdup_to(s, &rr->node_id) < 0)
		return -ENOMEM;
	r = json_get_string(j, "mesh_ip", true, &s, e);
	if (r < 0)
		return r;
	if (ipv4_addr_parse(s, &rr->mesh_ip) < 0) {
		json_error_set(e, "mesh_ip: must be a bare IPv4 address");
		return -EINVAL;
	}
	r = json_get_key32(j, "signing_public_key", true, rr->signing_public_key, e);
	if (r < 0)
		return r;
	r = json_get_key32(j, "node_secret_key", true, rr->node_secret_key, e);
	if (r < 0)
		return r;
	/* The token goes into an Authorization header: printable ASCII only (§2.4 rule 1). */
	r = json_get_string(j, "node_token", false, &s, e);
	if (r >= 0) {
		if (!printable_ascii(s, CP_NODE_TOKEN_MIN, CP_NODE_TOKEN_MAX) ||
		    strlen(s) != json_string_length(json_object_get(j, "node_token"))) {
			json_error_set(e, "node_token: must be %d-%d printable ASCII characters", CP_NODE_TOKEN_MIN,
				       CP_NODE_TOKEN_MAX);
			return -EINVAL;
		}
		if (strdup_to(s, &rr->node_token) < 0)
			return -ENOMEM;
	} else if (r != -ENOENT)
		return r;

	r = cp_peer_list_from_json(json_object_get(j, "peers"), "peers", &rr->peers, e);
	if (r < 0)
		return r;

	*ret = TAKE_PTR(rr);
	return 0;
}

/* ---- Heartbeat ---- */

int cp_heartbeat_request_to_json(const struct cp_heartbeat_request *h, json_t **ret)
{
	struct jbuild b;

	if (!h->node_id || !id_is_valid(h->node_id) || !cp_health_to_string(h->status))
		return -EINVAL;
	if (h->nat && !cp_nat_type_to_string(h->nat->type))
		return -EINVAL;

	jb_init(&b);
	jb_str(&b, "node_id", h->node_id);
	jb_ts(&b, "timestamp", h->timestamp);
	jb_str(&b, "status", cp_health_to_string(h->status));
	jb_duration(&b, "uptime", h->uptime_ns);
	jb_sha256(&b, "binary_checksum", h->binary_checksum);
	if (h->mesh) {
		struct jbuild m;
		json_t *o = NULL;
		jb_init(&m);
		jb_str(&m, "interface", h->mesh->interface);
		jb_int(&m, "peer_count", h->mesh->peer_count);
		jb_int(&m, "listen_port", h->mesh->listen_port);
		(void)jb_finish(&m, &o);
		jb_set(&b, "mesh", o);
	}
	if (h->nat) {
		struct jbuild m;
		json_t *o = NULL;
		jb_init(&m);
		jb_endpoint(&m, "public_endpoint", &h->nat->public_endpoint);
		jb_str(&m, "type", cp_nat_type_to_string(h->nat->type));
		(void)jb_finish(&m, &o);
		jb_set(&b, "nat", o);
	}
	if (h->bridge) {
		const struct cp_bridge_info *x = h->bridge;
		struct jbuild m;
		json_t *o = NULL;
		jb_init(&m);
		jb_bool(&m, "enabled", x->enabled);
		jb_str(&m, "access_interface", x->access_interface);
		jb_int(&m, "active_routes", x->active_routes);
		jb_bool(&m, "relay_enabled", x->relay_enabled);
		jb_int(&m, "active_relay_sessions", x->active_relay_sessions);
		jb_bool(&m, "ingress_enabled", x->ingress_enabled);
		jb_int(&m, "active_ingress_rules", x->active_ingress_rules);
		jb_bool(&m, "site_to_site_enabled", x->site_to_site_enabled);
		jb_int(&m, "active_site_to_site_tunnels", x->active_site_to_site_tunnels);
		(void)jb_finish(&m, &o);
		jb_set(&b, "bridge", o);
	}
	if (h->user_access) {
		struct jbuild m;
		json_t *o = NULL;
		jb_init(&m);
		jb_bool(&m, "enabled", h->user_access->enabled);
		jb_str(&m, "interface_name", h->user_access->interface_name);
		jb_int(&m, "peer_count", h->user_access->peer_count);
		jb_int(&m, "listen_port", h->user_access->listen_port);
		(void)jb_finish(&m, &o);
		jb_set(&b, "user_access", o);
	}
	if (h->ingress) {
		struct jbuild m;
		json_t *o = NULL;
		jb_init(&m);
		jb_bool(&m, "enabled", h->ingress->enabled);
		jb_int(&m, "rule_count", h->ingress->rule_count);
		jb_int(&m, "connection_count", h->ingress->connection_count);
		(void)jb_finish(&m, &o);
		jb_set(&b, "ingress", o);
	}
	if (h->site_to_site) {
		struct jbuild m;
		json_t *o = NULL;
		jb_init(&m);
		jb_bool(&m, "enabled", h->site_to_site->enabled);
		jb_int(&m, "tunnel_count", h->site_to_site->tunnel_count);
		(void)jb_finish(&m, &o);
		jb_set(&b, "site_to_site", o);
	}
	return jb_finish(&b, ret);
}

int cp_heartbeat_response_from_json(json_t *j, struct cp_heartbeat_response *ret, struct json_error *e)
{
	struct cp_heartbeat_response h = {};
	int r;

	if (!json_is_object(j)) {
		json_error_set(e, "heartbeat response: must be an object");
		return -EINVAL;
	}
	r = json_get_bool(j, "reconcile", &h.reconcile, e);
	if (r < 0)
		return r;
	r = json_get_bool(j, "rotate_keys", &h.rotate_keys, e);
	if (r < 0)
		return r;
	*ret = h;
	return 0;
}

/* ---- Key rotation ---- */

int cp_key_rotate_request_to_json(const struct cp_key_rotate_request *k, json_t **ret)
{
	struct jbuild b;
	if (!k->node_id || !id_is_valid(k->node_id))
		return -EINVAL;
	jb_init(&b);
	jb_str(&b, "node_id", k->node_id);
	jb_key32(&b, "new_public_key", k->new_public_key);
	return jb_finish(&b, ret);
}

struct cp_key_rotate_response *cp_key_rotate_response_free(struct cp_key_rotate_response *k)
{
	if (!k)
		return NULL;
	cp_peer_list_done(&k->updated_peers);
	explicit_bzero(k, sizeof(*k));
	free(k);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct cp_key_rotate_response *, cp_key_rotate_response_free)

int cp_key_rotate_response_from_json(json_t *j, struct cp_key_rotate_response **ret, struct json_error *e)
{
	_cleanup_(cp_key_rotate_response_freep) struct cp_key_rotate_response *k = NULL;
	int r;

	if (!json_is_object(j)) {
		json_error_set(e, "key rotate response: must be an object");
		return -EINVAL;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	r = cp_peer_list_from_json(json_object_get(j, "updated_peers"), "updated_peers", &k->updated_peers, e);
	if (r < 0)
		return r;
	r = json_get_key32(j, "node_secret_key", false, k->node_secret_key, e);
	if (r >= 0)
		k->has_node_secret_key = true;
	else if (r != -ENOENT)
		return r;
	*ret = TAKE_PTR(k);
	return 0;
}

/* ---- Endpoint ---- */

int cp_endpoint_report_to_json(const struct cp_endpoint_report *er, json_t **ret)
{
	struct jbuild b;
	if (!cp_nat_type_to_string(er->nat_type))
		return -EINVAL;
	jb_init(&b);
	jb_endpoint(&b, "public_endpoint", &er->public_endpoint);
	jb_str(&b, "nat_type", cp_nat_type_to_string(er->nat_type));
	return jb_finish(&b, ret);
}

struct cp_endpoint_response *cp_endpoint_response_free(struct cp_endpoint_response *er)
{
	if (!er)
		return NULL;
	for (size_t i = 0; i < er->n_peer_endpoints; i++)
		free(er->peer_endpoints[i].peer_id);
	free(er->peer_endpoints);
	free(er->errors);
	free(er);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct cp_endpoint_response *, cp_endpoint_response_free)

int cp_endpoint_response_from_json(json_t *j, struct cp_endpoint_response **ret, struct json_error *e)
{
	_cleanup_(cp_endpoint_response_freep) struct cp_endpoint_response *er = NULL;
	json_t *arr;
	size_t n;
	int r;

	if (!json_is_object(j)) {
		json_error_set(e, "endpoint response: must be an object");
		return -EINVAL;
	}
	arr = json_object_get(j, "peer_endpoints");
	r = get_list(arr, "peer_endpoints", CP_PEERS_MAX, &n, e);
	if (r < 0)
		return r;
	er = calloc(1, sizeof(*er));
	if (!er)
		return -ENOMEM;
	if (n > 0) {
		er->peer_endpoints = calloc(n, sizeof(*er->peer_endpoints));
		er->errors = calloc(n, sizeof(*er->errors));
		if (!er->peer_endpoints || !er->errors)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(arr, i);
		struct json_error ie = {};
		struct sockaddr_storage sa;
		const char *id, *ep;

		if (!json_is_object(o)) {
			er->errors[er->n_errors].index = i;
			elem_not_object(&ie, "peer_endpoints", i);
			snprintf(er->errors[er->n_errors++].text, sizeof(ie.text), "%s", ie.text);
			continue;
		}
		r = json_get_id(o, "peer_id", true, &id, &ie);
		if (r >= 0)
			r = json_get_string(o, "endpoint", true, &ep, &ie);
		if (r >= 0 && *ep == 0)
			continue; /* unknown endpoint: nothing to update (§4.7) */
		if (r >= 0 && endpoint_parse(ep, &sa) < 0) {
			json_error_set(&ie, "endpoint: must be ip:port or [ipv6]:port");
			r = -EINVAL;
		}
		if (r < 0) {
			item_error(&er->errors[er->n_errors++], i, "peer_endpoints", &ie);
			continue;
		}
		struct cp_peer_endpoint *pe = &er->peer_endpoints[er->n_peer_endpoints];
		pe->peer_id = strdup(id);
		if (!pe->peer_id)
			return -ENOMEM;
		pe->endpoint = sa;
		er->n_peer_endpoints++;
	}
	*ret = TAKE_PTR(er);
	return 0;
}

/* ---- Drift ---- */

int cp_drift_report_to_json(const struct cp_drift_report *d, json_t **ret)
{
	struct jbuild b;
	json_t *a;

	if (d->n_corrections < 1)
		return -EINVAL;
	jb_init(&b);
	jb_ts(&b, "timestamp", d->timestamp);
	a = json_array();
	for (size_t i = 0; a && i < d->n_corrections; i++) {
		struct jbuild cb;
		json_t *o;
		jb_init(&cb);
		jb_str(&cb, "type", d->corrections[i].type);
		jb_str(&cb, "detail", d->corrections[i].detail);
		if (jb_finish(&cb, &o) < 0 || json_array_append_new(a, o) < 0) {
			json_decref(a);
			a = NULL;
		}
	}
	jb_set(&b, "corrections", a);
	return jb_finish(&b, ret);
}

/* ---- Secret ---- */

struct cp_secret_response *cp_secret_response_free(struct cp_secret_response *s)
{
	if (!s)
		return NULL;
	free(s->key);
	if (s->ciphertext) {
		explicit_bzero(s->ciphertext, s->ciphertext_len);
		free(s->ciphertext);
	}
	explicit_bzero(s, sizeof(*s));
	free(s);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct cp_secret_response *, cp_secret_response_free)

int cp_secret_response_from_json(json_t *j, struct cp_secret_response **ret, struct json_error *e)
{
	_cleanup_(cp_secret_response_freep) struct cp_secret_response *s = NULL;
	const char *v;
	int r;

	if (!json_is_object(j)) {
		json_error_set(e, "secret response: must be an object");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	r = json_get_id(j, "key", true, &v, e);
	if (r < 0)
		return r;
	if (strdup_to(v, &s->key) < 0)
		return -ENOMEM;
	r = json_get_string(j, "ciphertext", true, &v, e);
	if (r < 0)
		return r;
	if (strlen(v) > CP_SECRET_CIPHERTEXT_MAX / 3 * 4 + 4 ||
	    base64_decode(v, strlen(v), &s->ciphertext, &s->ciphertext_len) < 0 || s->ciphertext_len < 16) {
		json_error_set(e, "ciphertext: must be base64 of at least 16 bytes");
		return -EINVAL;
	}
	r = json_get_string(j, "nonce", true, &v, e);
	if (r < 0)
		return r;
	if (base64_decode_exact(v, strlen(v), s->nonce, sizeof(s->nonce)) < 0) {
		json_error_set(e, "nonce: must be base64 of 12 bytes");
		return -EINVAL;
	}
	r = json_get_int(j, "version", true, 0, INT64_MAX, &s->version, e);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

/* ---- Report sync ---- */

int cp_report_sync_to_json(const struct cp_report_sync *rs, json_t **ret)
{
	struct jbuild b;
	json_t *entries = json_array(), *deleted = json_array();

	for (size_t i = 0; entries && i < rs->n_entries; i++) {
		json_t *o;
		int r = cp_data_entry_to_json(&rs->entries[i], &o);
		if (r < 0 || json_array_append_new(entries, o) < 0) {
			json_decref(entries);
			json_decref(deleted);
			return r < 0 ? r : -ENOMEM;
		}
	}
	for (size_t i = 0; deleted && i < rs->n_deleted; i++) {
		if (!id_is_valid(rs->deleted[i])) {
			json_decref(entries);
			json_decref(deleted);
			return -EINVAL;
		}
		if (json_array_append_new(deleted, json_string(rs->deleted[i])) < 0) {
			json_decref(deleted);
			deleted = NULL;
		}
	}
	jb_init(&b);
	jb_set(&b, "entries", entries);
	jb_set(&b, "deleted", deleted);
	return jb_finish(&b, ret);
}

/* ---- Actions ---- */

int cp_execution_ack_to_json(const struct cp_execution_ack *a, json_t **ret)
{
	struct jbuild b;
	if (!a->execution_id || !id_is_valid(a->execution_id))
		return -EINVAL;
	jb_init(&b);
	jb_str(&b, "execution_id", a->execution_id);
	jb_str(&b, "status", a->accepted ? "accepted" : "rejected");
	jb_str(&b, "reason", a->accepted ? "" : a->reason);
	return jb_finish(&b, ret);
}

int cp_execution_result_to_json(const struct cp_execution_result *x, json_t **ret)
{
	struct jbuild b, tb;
	json_t *tbj = NULL;

	if (!x->execution_id || !id_is_valid(x->execution_id) ||
	    !TABLE_NAME(execution_status_names, x->status) || !x->triggered_by.type)
		return -EINVAL;
	jb_init(&tb);
	jb_str(&tb, "type", x->triggered_by.type);
	jb_str(&tb, "session_id", x->triggered_by.session_id);
	jb_str(&tb, "user_id", x->triggered_by.user_id);
	jb_str(&tb, "email", x->triggered_by.email);
	(void)jb_finish(&tb, &tbj);

	jb_init(&b);
	jb_str(&b, "execution_id", x->execution_id);
	jb_str(&b, "status", TABLE_NAME(execution_status_names, x->status));
	jb_int(&b, "exit_code", x->exit_code);
	jb_str(&b, "stdout", x->stdout_text);
	jb_str(&b, "stderr", x->stderr_text);
	jb_duration(&b, "duration", x->duration_ns);
	jb_ts(&b, "finished_at", x->finished_at);
	jb_set(&b, "triggered_by", tbj);
	return jb_finish(&b, ret);
}

/* ---- Tunnels and integrity ---- */

int cp_tunnel_ready_to_json(const struct cp_tunnel_ready *t, json_t **ret)
{
	struct jbuild b;
	jb_init(&b);
	jb_endpoint(&b, "listen_addr", &t->listen_addr);
	jb_ts(&b, "timestamp", t->timestamp);
	return jb_finish(&b, ret);
}

int cp_tunnel_closed_to_json(const struct cp_tunnel_closed *t, json_t **ret)
{
	struct jbuild b;
	if (isempty(t->reason))
		return -EINVAL;
	jb_init(&b);
	jb_str(&b, "reason", t->reason);
	jb_duration(&b, "duration", t->duration_ns);
	jb_ts(&b, "timestamp", t->timestamp);
	return jb_finish(&b, ret);
}

int cp_integrity_violation_to_json(const struct cp_integrity_violation *v, json_t **ret)
{
	struct jbuild b;
	if (isempty(v->type) || isempty(v->path))
		return -EINVAL;
	jb_init(&b);
	jb_str(&b, "type", v->type);
	jb_str(&b, "path", v->path);
	jb_sha256(&b, "expected_checksum", v->expected_checksum);
	jb_sha256(&b, "actual_checksum", v->actual_checksum);
	jb_str(&b, "detail", v->detail);
	jb_ts(&b, "timestamp", v->timestamp);
	return jb_finish(&b, ret);
}
