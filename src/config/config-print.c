/* Effective configuration as text or JSON (`plexd config check`) and the SIGHUP reload diff
 * (agent.md §1.6). Both serialise every key through the schema table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config-internal.h"
#include "shared/json-util.h"
#include "shared/macro.h"

static json_t *jstr(const char *s)
{
	if (!s)
		return json_null();
	return json_stringn_nocheck(s, strlen(s));
}

static json_t *jdur(int64_t ns)
{
	char b[64];
	config_format_duration(ns, b, sizeof b);
	return json_string(b);
}

static json_t *jstrv(const struct config_strv *v)
{
	json_t *a = json_array();
	if (!a)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		if (json_array_append_new(a, jstr(v->v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *config_field_to_json(const struct field *f, const void *base)
{
	const void *p = (const char *)base + f->offset;

	switch (f->type) {
	case FT_STR:
		return jstr(*(char *const *)p);
	case FT_BOOL:
		return json_boolean(*(const bool *)p);
	case FT_INT:
		return json_integer(*(const int *)p);
	case FT_DUR:
		return jdur(*(const int64_t *)p);
	case FT_SIZE:
		return json_integer((json_int_t) * (const uint64_t *)p);
	case FT_CPU: {
		uint64_t m = *(const uint64_t *)p;
		char b[32];
		if (m == 0)
			return json_null(); /* unlimited */
		snprintf(b, sizeof b, "%llum", (unsigned long long)m);
		return json_string(b);
	}
	case FT_ENUM: {
		int v = *(const int *)p;
		return json_string(f->enums[v]);
	}
	case FT_STRV:
		return jstrv(p);
	case FT_ENUMSET: {
		unsigned set = *(const unsigned *)p;
		json_t *a = json_array();
		for (int i = 0; a && f->enums[i]; i++)
			if (set & (1U << i))
				json_array_append_new(a, json_string(f->enums[i]));
		return a;
	}
	case FT_SPECIAL:
		return f->to_json ? f->to_json(p) : json_null();
	case FT_SECTION:
		break;
	}
	return json_null();
}

/* An object with every set field of an entry table, nested by '.'. */
static json_t *entry_to_json(const struct field *tab, size_t n, const void *e)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < n; i++) {
		const struct field *f = &tab[i];
		const char *dot;
		json_t *v;

		if (f->type == FT_SECTION)
			continue;
		v = config_field_to_json(f, e);
		if (!v)
			goto fail;
		dot = strchr(f->name, '.');
		if (dot) {
			char sec[64];
			json_t *s;
			snprintf(sec, sizeof sec, "%.*s", (int)(dot - f->name), f->name);
			s = json_object_get(o, sec);
			if (!s) {
				s = json_object();
				if (!s || json_object_set_new(o, sec, s) < 0) {
					json_decref(v);
					goto fail;
				}
			}
			json_object_set_new(s, dot + 1, v);
		} else
			json_object_set_new(o, f->name, v);
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

json_t *config_metadata_to_json(const void *base)
{
	const struct config *c = (const struct config *)((const char *)base - offsetof(struct config, registration));
	json_t *o = json_object();
	for (size_t i = 0; o && i < c->registration.n_metadata; i++)
		json_object_set_new(o, c->registration.metadata[i].key, jstr(c->registration.metadata[i].value));
	return o;
}

json_t *config_log_filters_to_json(const void *base)
{
	const struct config *c = (const struct config *)((const char *)base - offsetof(struct config, logs));
	json_t *a = json_array();
	for (size_t i = 0; a && i < c->logs.n_filters; i++) {
		const struct config_log_filter *f = &c->logs.filters[i];
		json_t *o = json_object();
		if (!o)
			break;
		json_object_set_new(o, config_log_filter_kind_to_string(f->kind),
				    f->kind == CONFIG_LOG_FILTER_SEVERITY ? json_string(config_log_level_to_string(f->severity))
									  : jstr(f->value));
		json_array_append_new(a, o);
	}
	return a;
}

json_t *config_hooks_to_json(const void *base)
{
	const struct config *c = (const struct config *)((const char *)base - offsetof(struct config, hooks));
	json_t *a = json_array();
	for (size_t i = 0; a && i < c->hooks.n_definitions; i++) {
		const struct config_hook *h = &c->hooks.definitions[i];
		json_t *o = entry_to_json(config_hook_fields, config_n_hook_fields, h), *params = json_array();
		for (size_t j = 0; params && j < h->n_parameters; j++)
			json_array_append_new(params, entry_to_json(config_hook_param_fields, config_n_hook_param_fields,
								    &h->parameters[j]));
		if (o)
			json_object_set_new(o, "parameters", params ? params : json_null());
		else
			json_decref(params);
		json_array_append_new(a, o ? o : json_null());
	}
	return a;
}

json_t *config_bridge_access_to_json(const void *base)
{
	const struct config *c = (const struct config *)((const char *)base - offsetof(struct config, bridge));
	json_t *a = json_array();
	for (size_t i = 0; a && i < c->bridge.n_access; i++) {
		const struct config_bridge_access *e = &c->bridge.access[i];
		json_t *o = json_object();
		if (!o)
			break;
		/* only the fields that apply to the type */
		json_object_set_new(o, "type", json_string(config_access_type_to_string(e->type)));
		switch (e->type) {
		case CONFIG_ACCESS_TAILSCALE:
			json_object_set_new(o, "auth_key_env", jstr(e->auth_key_env));
			break;
		case CONFIG_ACCESS_NETBIRD:
			json_object_set_new(o, "setup_key_env", jstr(e->setup_key_env));
			break;
		case CONFIG_ACCESS_WIREGUARD:
			json_object_set_new(o, "interface", jstr(e->interface));
			json_object_set_new(o, "listen_port", json_integer(e->listen_port));
			json_object_set_new(o, "max_peers", json_integer(e->max_peers));
			break;
		case _CONFIG_ACCESS_MAX:
			break;
		}
		json_array_append_new(a, o);
	}
	return a;
}

json_t *config_site_to_site_to_json(const void *base)
{
	const struct config *c = (const struct config *)((const char *)base - offsetof(struct config, bridge));
	json_t *a = json_array();
	for (size_t i = 0; a && i < c->bridge.n_site_to_site; i++) {
		json_t *o = entry_to_json(config_s2s_fields, config_n_s2s_fields, &c->bridge.site_to_site[i]);
		json_array_append_new(a, o ? o : json_null());
	}
	return a;
}

/* Sets v at the dotted path below root, creating intermediate objects. */
static int json_set_path(json_t *root, const char *path, json_t *v)
{
	const char *dot;
	json_t *cur = root;

	while ((dot = strchr(path, '.'))) {
		char seg[64];
		json_t *next;
		snprintf(seg, sizeof seg, "%.*s", (int)(dot - path), path);
		next = json_object_get(cur, seg);
		if (!next) {
			next = json_object();
			if (!next || json_object_set_new(cur, seg, next) < 0) {
				json_decref(v);
				return -ENOMEM;
			}
		}
		cur = next;
		path = dot + 1;
	}
	return json_object_set_new(cur, path, v) < 0 ? -ENOMEM : 0;
}

int config_print(const struct config *c, FILE *f, bool json)
{
	_cleanup_json_ json_t *root = NULL;

	if (json) {
		_cleanup_free_ char *s = NULL;
		root = json_object();
		if (!root)
			return -ENOMEM;
		for (size_t i = 0; i < config_n_fields; i++) {
			json_t *v;
			if (config_fields[i].type == FT_SECTION)
				continue;
			v = config_field_to_json(&config_fields[i], c);
			if (!v || json_set_path(root, config_fields[i].name, v) < 0)
				return -ENOMEM;
		}
		s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (!s)
			return -ENOMEM;
		fprintf(f, "%s\n", s);
		return ferror(f) ? -EIO : 0;
	}

	if (c->config_path)
		fprintf(f, "# config file: %s\n", c->config_path);
	else
		fprintf(f, "# config file: none (defaults, environment and flags only)\n");
	for (size_t i = 0; i < config_n_fields; i++) {
		_cleanup_free_ char *s = NULL;
		json_t *v;

		if (config_fields[i].type == FT_SECTION)
			continue;
		v = config_field_to_json(&config_fields[i], c);
		if (!v)
			return -ENOMEM;
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
		json_decref(v);
		if (!s)
			return -ENOMEM;
		fprintf(f, "%s = %s  # %s\n", config_fields[i].name, s, config_key_source(c, config_fields[i].name));
	}
	return ferror(f) ? -EIO : 0;
}

static bool field_differs(const struct field *f, const struct config *a, const struct config *b)
{
	_cleanup_json_ json_t *ja = config_field_to_json(f, a);
	_cleanup_json_ json_t *jb = config_field_to_json(f, b);
	return !ja || !jb || !json_equal(ja, jb);
}

int config_reload_diff(const struct config *old, const struct config *new, char ***ret_keys)
{
	char **keys = NULL;
	size_t n = 0;

	for (size_t i = 0; i < config_n_fields; i++) {
		const struct field *f = &config_fields[i];
		char **nk;

		if (f->type == FT_SECTION || (f->flags & F_RELOAD) || !field_differs(f, old, new))
			continue;
		if (ret_keys) {
			nk = realloc(keys, (n + 2) * sizeof(char *));
			if (!nk) {
				config_strv_free(keys);
				return -ENOMEM;
			}
			keys = nk;
			keys[n] = strdup(f->name);
			keys[n + 1] = NULL;
			if (!keys[n]) {
				config_strv_free(keys);
				return -ENOMEM;
			}
		}
		n++;
	}
	if (ret_keys) {
		if (!keys && !(keys = calloc(1, sizeof(char *))))
			return -ENOMEM;
		*ret_keys = keys;
	}
	return (int)n;
}

bool config_hooks_changed(const struct config *old, const struct config *new)
{
	for (size_t i = 0; i < config_n_fields; i++)
		if (strneq(config_fields[i].name, "hooks.", 6) && config_fields[i].type != FT_SECTION &&
		    field_differs(&config_fields[i], old, new))
			return true;
	return false;
}
