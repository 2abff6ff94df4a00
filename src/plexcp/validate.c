/* Request body validation for plexcp (validate.h): every field of §4/§8 that the CP reads or
 * stores is checked for presence, type and format before any state changes. */
#include <string.h>
#include <sys/socket.h>

#include "plexcp/validate.h"
#include "shared/time-util.h"
#include "shared/wire.h"

#define STDOUT_MAX ((size_t)1024 * 1024 + 64) /* 1 MiB plus the truncation suffix (§8.11) */

int req_parse_object(const char *body, size_t len, json_t **ret, struct json_error *e)
{
	json_t *j = NULL;
	int r;

	if (!body || len == 0) {
		json_error_set(e, "request body required");
		return -EINVAL;
	}
	r = json_parse_bounded(body, len, &j, e);
	if (r < 0)
		return -EINVAL;
	if (!json_is_object(j)) {
		json_decref(j);
		json_error_set(e, "body must be a JSON object");
		return -EINVAL;
	}
	*ret = j;
	return 0;
}

static bool printable_ascii(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
			return false;
	return true;
}

static int get_string_bounded(json_t *j, const char *key, bool required, size_t max, const char **ret,
			      struct json_error *e)
{
	int r = json_get_string(j, key, required, ret, e);

	if (r < 0)
		return r;
	if (strlen(*ret) > max) {
		json_error_set(e, "%s: longer than %zu bytes", key, max);
		return -EINVAL;
	}
	return 0;
}

static int get_enum(json_t *j, const char *key, const char *const *values, const char **ret,
		    struct json_error *e)
{
	const char *s;
	int r = json_get_string(j, key, true, &s, e);

	if (r < 0)
		return r;
	for (size_t i = 0; values[i]; i++)
		if (streq(values[i], s)) {
			if (ret)
				*ret = s;
			return 0;
		}
	json_error_set(e, "%s: unsupported value", key);
	return -EINVAL;
}

static int get_duration(json_t *j, const char *key, bool allow_empty, struct json_error *e)
{
	const char *s;
	int64_t ns;
	int r = json_get_string(j, key, true, &s, e);

	if (r < 0)
		return r;
	if (allow_empty && s[0] == 0)
		return 0;
	if (duration_parse(s, &ns) < 0) {
		json_error_set(e, "%s: must be a duration like 1m30s", key);
		return -EINVAL;
	}
	return 0;
}

static int get_sha256hex(json_t *j, const char *key, struct json_error *e)
{
	const char *s;
	uint8_t d[32];
	int r = json_get_string(j, key, true, &s, e);

	if (r < 0)
		return r;
	if (sha256hex_parse(s, d) < 0) {
		json_error_set(e, "%s: must be sha256:<64 hex>", key);
		return -EINVAL;
	}
	return 0;
}

static int get_endpoint(json_t *j, const char *key, bool allow_empty, const char **ret,
			struct json_error *e)
{
	struct sockaddr_storage sa;
	const char *s;
	int r = json_get_string(j, key, true, &s, e);

	if (r < 0)
		return r;
	if (!(allow_empty && s[0] == 0) && endpoint_parse(s, &sa) < 0) {
		json_error_set(e, "%s: must be ip:port", key);
		return -EINVAL;
	}
	if (ret)
		*ret = s;
	return 0;
}

static int require_timestamp(json_t *j, const char *key, struct json_error *e)
{
	struct timestamp t;

	return json_get_timestamp(j, key, true, &t, e);
}

static int require_member(json_t *j, const char *key, struct json_error *e)
{
	if (!json_object_get(j, key)) {
		json_error_set(e, "%s: required", key);
		return -EINVAL;
	}
	return 0;
}

int req_string_map_check(json_t *j, const char *what, bool id_keys, struct json_error *e)
{
	const char *k;
	json_t *v;

	if (!json_is_object(j)) {
		json_error_set(e, "%s: expected object", what);
		return -EINVAL;
	}
	json_object_foreach(j, k, v) {
		if (id_keys && !id_is_valid(k)) {
			json_error_set(e, "%s: key is not a valid id", what);
			return -EINVAL;
		}
		if (!json_is_string(v)) {
			json_error_set(e, "%s.%.64s: expected string", what, k);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- E1 ---- */

static int parameter_defs_check(json_t *arr, struct json_error *e)
{
	size_t i;
	json_t *p;

	json_array_foreach(arr, i, p) {
		const char *s;
		bool b;

		if (!json_is_object(p)) {
			json_error_set(e, "expected object");
			goto fail;
		}
		if (json_get_string(p, "name", true, &s, e) < 0 || json_get_string(p, "type", true, &s, e) < 0 ||
		    json_get_bool(p, "required", &b, e) < 0)
			goto fail;
		continue;
	fail:
		json_error_prefix(e, "parameters", (long)i);
		return -EINVAL;
	}
	return 0;
}

int req_capabilities_parse(json_t *j, struct json_error *e)
{
	static const char *const lists[] = { "builtin_actions", "hooks" };
	json_t *bin = NULL;
	int r;

	if (!json_is_object(j)) {
		json_error_set(e, "capabilities: expected object");
		return -EINVAL;
	}
	r = json_get_object(j, "binary", false, &bin, e);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0) {
		const char *v;
		if (json_get_string(bin, "version", true, &v, e) < 0 || get_sha256hex(bin, "checksum", e) < 0) {
			json_error_prefix(e, "binary", -1);
			return -EINVAL;
		}
	}
	for (size_t l = 0; l < ELEMENTSOF(lists); l++) {
		json_t *arr, *item;
		size_t i;

		if (json_get_array(j, lists[l], &arr, e) < 0)
			return -EINVAL;
		json_array_foreach(arr, i, item) {
			const char *name;
			json_t *params;

			if (!json_is_object(item)) {
				json_error_set(e, "expected object");
				goto fail;
			}
			if (json_get_string(item, "name", true, &name, e) < 0 ||
			    json_get_array(item, "parameters", &params, e) < 0 ||
			    parameter_defs_check(params, e) < 0)
				goto fail;
			if (l == 1 && (strchr(name, '/') || streq(name, "..") || streq(name, "."))) {
				json_error_set(e, "name: invalid hook name");
				goto fail;
			}
			continue;
		fail:
			json_error_prefix(e, lists[l], (long)i);
			return -EINVAL;
		}
	}
	return 0;
}

void req_register_done(struct req_register *r)
{
	free(r->metadata_json);
	free(r->capabilities_json);
	*r = (struct req_register){};
}

int req_register_parse(json_t *j, struct req_register *ret, struct json_error *e)
{
	struct req_register r = {};
	json_t *meta = NULL, *caps = NULL;
	int k;

	if (json_get_string(j, "token", true, &r.token, e) < 0)
		return -EINVAL;
	if (!printable_ascii(r.token, 1, 512)) {
		json_error_set(e, "token: must be 1-512 printable ASCII characters");
		return -EINVAL;
	}
	if (json_get_key32(j, "public_key", true, r.public_key, e) < 0)
		return -EINVAL;
	if (json_get_string(j, "hostname", true, &r.hostname, e) < 0)
		return -EINVAL;
	/* Host names are printed in tables and logs: no spaces or control characters. */
	if (!printable_ascii(r.hostname, 1, 253) || strchr(r.hostname, ' ')) {
		json_error_set(e, "hostname: must be 1-253 printable characters without spaces");
		return -EINVAL;
	}
	k = json_get_object(j, "metadata", false, &meta, e);
	if (k < 0 && k != -ENOENT)
		return -EINVAL;
	if (meta && req_string_map_check(meta, "metadata", true, e) < 0)
		return -EINVAL;
	k = json_get_object(j, "capabilities", false, &caps, e);
	if (k < 0 && k != -ENOENT)
		return -EINVAL;
	if (caps && req_capabilities_parse(caps, e) < 0) {
		json_error_prefix(e, "capabilities", -1);
		return -EINVAL;
	}
	r.metadata_json = meta ? json_dumps_compact(meta) : strdup("{}");
	if (caps)
		r.capabilities_json = json_dumps_compact(caps);
	if (!r.metadata_json || (caps && !r.capabilities_json)) {
		req_register_done(&r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

/* ---- E3, E5, E7, E9 ---- */

int req_heartbeat_parse(json_t *j, struct req_heartbeat *ret, struct json_error *e)
{
	struct req_heartbeat h = {};
	json_t *o;
	int r;

	if (json_get_id(j, "node_id", true, &h.node_id, e) < 0 || require_timestamp(j, "timestamp", e) < 0 ||
	    get_string_bounded(j, "status", true, 64, &h.status, e) < 0 || get_duration(j, "uptime", false, e) < 0 ||
	    get_sha256hex(j, "binary_checksum", e) < 0)
		return -EINVAL;
	/* Optional status blocks must at least be objects. */
	static const char *const blocks[] = { "mesh", "nat", "bridge", "user_access", "ingress", "site_to_site" };
	for (size_t i = 0; i < ELEMENTSOF(blocks); i++) {
		r = json_get_object(j, blocks[i], false, &o, e);
		if (r < 0 && r != -ENOENT)
			return -EINVAL;
	}
	*ret = h;
	return 0;
}

int req_key_rotate_parse(json_t *j, struct req_key_rotate *ret, struct json_error *e)
{
	struct req_key_rotate k = {};

	if (json_get_id(j, "node_id", true, &k.node_id, e) < 0 ||
	    json_get_key32(j, "new_public_key", true, k.new_public_key, e) < 0)
		return -EINVAL;
	*ret = k;
	return 0;
}

static const char *const nat_types[] = { "none", "full_cone", "symmetric", "unknown", NULL };

int req_endpoint_parse(json_t *j, struct req_endpoint *ret, struct json_error *e)
{
	struct req_endpoint p = {};

	if (get_endpoint(j, "public_endpoint", true, &p.public_endpoint, e) < 0 ||
	    get_enum(j, "nat_type", nat_types, &p.nat_type, e) < 0)
		return -EINVAL;
	*ret = p;
	return 0;
}

int req_drift_parse(json_t *j, struct json_error *e)
{
	json_t *arr, *c;
	size_t i;

	if (require_timestamp(j, "timestamp", e) < 0 || json_get_array(j, "corrections", &arr, e) < 0)
		return -EINVAL;
	if (!arr || json_array_size(arr) == 0) {
		json_error_set(e, "corrections: at least one entry required");
		return -EINVAL;
	}
	json_array_foreach(arr, i, c) {
		const char *s;
		if (!json_is_object(c) || json_get_string(c, "type", true, &s, e) < 0 ||
		    json_get_string(c, "detail", true, &s, e) < 0) {
			if (!json_is_object(c))
				json_error_set(e, "expected object");
			json_error_prefix(e, "corrections", (long)i);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- E11 ---- */

void req_report_done(struct req_report *r)
{
	for (size_t i = 0; r->entries && i < r->n_entries; i++)
		free(r->entries[i].payload_json);
	free(r->entries);
	free(r->deleted);
	*r = (struct req_report){};
}

int req_report_parse(json_t *j, struct req_report *ret, struct json_error *e)
{
	struct req_report r = {};
	json_t *entries, *deleted, *item;
	size_t i;

	if (json_get_array(j, "entries", &entries, e) < 0 || json_get_array(j, "deleted", &deleted, e) < 0)
		return -EINVAL;
	if (entries && json_array_size(entries) > 0) {
		r.entries = calloc(json_array_size(entries), sizeof(*r.entries));
		if (!r.entries)
			return -ENOMEM;
	}
	json_array_foreach(entries, i, item) {
		struct store_entry *en = &r.entries[i];
		struct timestamp t;

		if (!json_is_object(item)) {
			json_error_set(e, "expected object");
			goto fail;
		}
		if (json_get_id(item, "key", true, (const char **)&en->key, e) < 0 ||
		    get_string_bounded(item, "content_type", true, 255, (const char **)&en->content_type, e) < 0 ||
		    require_member(item, "payload", e) < 0 ||
		    json_get_int(item, "version", true, 1, INT64_MAX, &en->version, e) < 0 ||
		    json_get_timestamp(item, "updated_at", true, &t, e) < 0)
			goto fail;
		en->updated_at = t.sec * 1000000 + t.nsec / 1000;
		en->payload_json = json_dumps_compact(json_object_get(item, "payload"));
		if (!en->payload_json) {
			r.n_entries = i;
			req_report_done(&r);
			return -ENOMEM;
		}
		r.n_entries = i + 1;
		continue;
	fail:
		json_error_prefix(e, "entries", (long)i);
		r.n_entries = i;
		req_report_done(&r);
		return -EINVAL;
	}
	if (deleted && json_array_size(deleted) > 0) {
		r.deleted = calloc(json_array_size(deleted), sizeof(*r.deleted));
		if (!r.deleted) {
			req_report_done(&r);
			return -ENOMEM;
		}
	}
	json_array_foreach(deleted, i, item) {
		const char *k = json_string_value(item);
		if (!k || !id_is_valid(k)) {
			json_error_set(e, "deleted[%zu]: must be an id", i);
			req_report_done(&r);
			return -EINVAL;
		}
		r.deleted[i] = k;
		r.n_deleted = i + 1;
	}
	*ret = r;
	return 0;
}

/* ---- E12, E13 ---- */

int req_ack_parse(json_t *j, struct req_ack *ret, struct json_error *e)
{
	static const char *const statuses[] = { "accepted", "rejected", NULL };
	struct req_ack a = {};
	const char *st;

	if (json_get_id(j, "execution_id", true, &a.execution_id, e) < 0 ||
	    get_enum(j, "status", statuses, &st, e) < 0 ||
	    get_string_bounded(j, "reason", true, 256, &a.reason, e) < 0)
		return -EINVAL;
	a.accepted = streq(st, "accepted");
	*ret = a;
	return 0;
}

int req_result_parse(json_t *j, struct req_result *ret, struct json_error *e)
{
	/* failed and error are accepted as failure (§13 A8). */
	static const char *const statuses[] = { "success", "failure", "timeout", "cancelled",
						"failed",  "error",   NULL };
	struct req_result res = { .triggered_by_type = "control_plane" };
	const char *s;
	json_t *tb = NULL;
	int64_t code;
	struct timestamp t;
	int r;

	if (json_get_id(j, "execution_id", true, &res.execution_id, e) < 0 ||
	    get_enum(j, "status", statuses, &res.status, e) < 0 ||
	    json_get_int(j, "exit_code", true, INT32_MIN, INT32_MAX, &code, e) < 0 ||
	    get_string_bounded(j, "stdout", true, STDOUT_MAX, &s, e) < 0 ||
	    get_string_bounded(j, "stderr", true, STDOUT_MAX, &s, e) < 0 || get_duration(j, "duration", false, e) < 0 ||
	    json_get_timestamp(j, "finished_at", true, &t, e) < 0)
		return -EINVAL;
	r = json_get_object(j, "triggered_by", true, &tb, e);
	if (r < 0)
		return -EINVAL;
	if (get_string_bounded(tb, "type", true, 64, &res.triggered_by_type, e) < 0) {
		json_error_prefix(e, "triggered_by", -1);
		return -EINVAL;
	}
	static const char *const tb_strings[] = { "session_id", "user_id", "email" };
	for (size_t i = 0; i < ELEMENTSOF(tb_strings); i++) {
		r = json_get_string(tb, tb_strings[i], false, &s, e);
		if (r < 0 && r != -ENOENT) {
			json_error_prefix(e, "triggered_by", -1);
			return -EINVAL;
		}
	}
	*ret = res;
	return 0;
}

/* ---- E18–E20 ---- */

int req_tunnel_ready_parse(json_t *j, struct json_error *e)
{
	if (get_endpoint(j, "listen_addr", false, NULL, e) < 0 || require_timestamp(j, "timestamp", e) < 0)
		return -EINVAL;
	return 0;
}

int req_tunnel_closed_parse(json_t *j, struct json_error *e)
{
	const char *s;

	if (get_string_bounded(j, "reason", true, 64, &s, e) < 0 || get_duration(j, "duration", false, e) < 0 ||
	    require_timestamp(j, "timestamp", e) < 0)
		return -EINVAL;
	return 0;
}

int req_integrity_parse(json_t *j, struct json_error *e)
{
	static const char *const types[] = { "binary", "hook", NULL };
	const char *path, *s;

	if (get_enum(j, "type", types, NULL, e) < 0 || get_string_bounded(j, "path", true, 4096, &path, e) < 0 ||
	    get_sha256hex(j, "expected_checksum", e) < 0 || get_sha256hex(j, "actual_checksum", e) < 0 ||
	    get_string_bounded(j, "detail", true, 65536, &s, e) < 0 || require_timestamp(j, "timestamp", e) < 0)
		return -EINVAL;
	if (path[0] != '/') {
		json_error_set(e, "path: must be absolute");
		return -EINVAL;
	}
	return 0;
}

/* ---- E14–E16 ---- */

static int record_check(enum record_kind kind, json_t *o, struct json_error *e)
{
	const char *s;
	json_t *x;
	int r;

	if (!json_is_object(o)) {
		json_error_set(e, "expected object");
		return -EINVAL;
	}
	if (require_timestamp(o, "timestamp", e) < 0)
		return -EINVAL;
	switch (kind) {
	case RECORD_METRIC:
		if (get_string_bounded(o, "group", true, 128, &s, e) < 0 ||
		    json_get_object(o, "data", true, &x, e) < 0)
			return -EINVAL;
		r = json_get_id(o, "peer_id", false, &s, e);
		if (r < 0 && r != -ENOENT)
			return -EINVAL;
		return 0;
	case RECORD_LOG: {
		static const char *const strs[] = { "source", "unit", "message", "severity", "hostname" };
		for (size_t i = 0; i < ELEMENTSOF(strs); i++)
			if (get_string_bounded(o, strs[i], true, 65536, &s, e) < 0)
				return -EINVAL;
		return 0;
	}
	case RECORD_AUDIT: {
		static const char *const strs[] = { "source", "event_type", "action", "result", "hostname", "raw" };
		for (size_t i = 0; i < ELEMENTSOF(strs); i++)
			if (get_string_bounded(o, strs[i], true, 1024 * 1024, &s, e) < 0)
				return -EINVAL;
		if (require_member(o, "subject", e) < 0 || json_get_object(o, "object", true, &x, e) < 0)
			return -EINVAL;
		return 0;
	}
	case RECORD_DRIFT:
	case RECORD_TUNNEL:
	case RECORD_INTEGRITY:
	case _RECORD_KIND_MAX:
		break;
	}
	json_error_set(e, "unsupported record kind");
	return -EINVAL;
}

static bool content_type_is_lines(const char *ct)
{
	static const char *const types[] = { "application/x-ndjson", "application/ndjson", "application/jsonl",
					     "application/json-lines", "application/x-jsonlines" };
	size_t n;

	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	n = strcspn(ct, "; \t");
	for (size_t i = 0; i < ELEMENTSOF(types); i++)
		if (strlen(types[i]) == n && strncasecmp(types[i], ct, n) == 0)
			return true;
	return false;
}

int req_batch_parse(enum record_kind kind, const char *content_type, const char *body, size_t len,
		    json_t **ret, struct json_error *e)
{
	_cleanup_json_ json_t *arr = NULL;
	json_t *item;
	size_t i;

	if (!body || len == 0) {
		json_error_set(e, "request body required");
		return -EINVAL;
	}
	if (content_type_is_lines(content_type)) {
		size_t pos = 0, line = 0;

		arr = json_array();
		if (!arr)
			return -ENOMEM;
		while (pos < len) {
			const char *nl = memchr(body + pos, '\n', len - pos);
			size_t end = nl ? (size_t)(nl - body) : len, l = end - pos;
			json_t *o = NULL;

			line++;
			if (l > 0 && body[pos + l - 1] == '\r')
				l--;
			if (l > 0) {
				if (json_parse_bounded(body + pos, l, &o, e) < 0) {
					json_error_prefix(e, "line", (long)line);
					return -EINVAL;
				}
				if (json_array_append_new(arr, o) < 0)
					return -ENOMEM;
			}
			pos = end + 1;
		}
	} else {
		if (json_parse_bounded(body, len, &arr, e) < 0)
			return -EINVAL;
		if (!json_is_array(arr)) {
			json_error_set(e, "body must be a JSON array");
			return -EINVAL;
		}
	}
	json_array_foreach(arr, i, item) {
		if (record_check(kind, item, e) < 0) {
			json_error_prefix(e, "records", (long)i);
			return -EINVAL;
		}
	}
	*ret = TAKE_PTR(arr);
	return 0;
}

/* ---- admin: policies ---- */

static int policy_endpoint_check(const char *s)
{
	struct ipv4_prefix p, mesh;

	if (streq(s, "*") || id_is_valid(s)) {
		/* "10.100.1.0" alone is an id too, which is fine: plexd resolves node IDs first. */
		if (!strchr(s, '/'))
			return 0;
	}
	if (ipv4_prefix_parse(s, false, &p) < 0)
		return -EINVAL;
	(void)ipv4_prefix_parse("10.100.0.0/16", false, &mesh);
	if (p.len < mesh.len || !ipv4_prefix_contains(&mesh, p.addr))
		return -EINVAL;
	return 0;
}

int req_policies_parse(json_t *j, struct json_error *e)
{
	static const char *const actions[] = { "allow", "deny", NULL };
	json_t *pol, *rules, *rule;
	size_t i, k;

	if (!json_is_array(j)) {
		json_error_set(e, "policies: expected a JSON array of Policy");
		return -EINVAL;
	}
	json_array_foreach(j, i, pol) {
		const char *id;

		if (!json_is_object(pol) || json_get_id(pol, "id", true, &id, e) < 0 ||
		    json_get_array(pol, "rules", &rules, e) < 0) {
			if (!json_is_object(pol))
				json_error_set(e, "expected object");
			json_error_prefix(e, "policies", (long)i);
			return -EINVAL;
		}
		for (size_t m = 0; m < i; m++)
			if (streq(json_string_value(json_object_get(json_array_get(j, m), "id")), id)) {
				json_error_set(e, "policies[%zu].id: duplicate", i);
				return -EINVAL;
			}
		json_array_foreach(rules, k, rule) {
			const char *src, *dst, *proto = "";
			int64_t port = 0;
			int r;

			if (!json_is_object(rule)) {
				json_error_set(e, "expected object");
				goto fail;
			}
			if (json_get_string(rule, "src", true, &src, e) < 0 ||
			    json_get_string(rule, "dst", true, &dst, e) < 0 || get_enum(rule, "action", actions, NULL, e) < 0)
				goto fail;
			if (policy_endpoint_check(src) < 0 || policy_endpoint_check(dst) < 0) {
				json_error_set(e, "src/dst: must be *, a node id or a CIDR inside 10.100.0.0/16");
				goto fail;
			}
			r = json_get_int(rule, "port", false, 0, 65535, &port, e);
			if (r < 0 && r != -ENOENT)
				goto fail;
			r = json_get_string(rule, "protocol", false, &proto, e);
			if (r < 0 && r != -ENOENT)
				goto fail;
			if (!streq(proto, "") && !streq(proto, "tcp") && !streq(proto, "udp")) {
				json_error_set(e, "protocol: must be tcp, udp or empty");
				goto fail;
			}
			if (port != 0 && streq(proto, "")) {
				json_error_set(e, "port: requires protocol tcp or udp");
				goto fail;
			}
			continue;
		fail:
			json_error_prefix(e, "rules", (long)k);
			json_error_prefix(e, "policies", (long)i);
			return -EINVAL;
		}
	}
	return 0;
}
