/* JSON read-back of table inet plexd reduced to canonical text, and the diff planner. The
 * expression printer covers the vocabulary the compiler emits and prints it the way `nft list`
 * does; anything else is printed as "?<json>", which can never equal a desired rule, so a
 * foreign edit is always repaired. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy/nft-state.h"
#include "shared/macro.h"

static void put_json_raw(FILE *f, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
	fprintf(f, "?%s", s ? s : "null");
	free(s);
}

/* Values on the right of a match, in set elements and concatenations. */
static void put_value(FILE *f, json_t *v, bool quote)
{
	json_t *x;

	if (json_is_string(v)) {
		if (quote)
			fprintf(f, "\"%s\"", json_string_value(v));
		else
			fputs(json_string_value(v), f);
	} else if (json_is_integer(v)) {
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_array(v)) {
		size_t i;
		json_array_foreach(v, i, x) {
			if (i)
				fputc(',', f);
			put_value(f, x, quote);
		}
	} else if ((x = json_object_get(v, "prefix"))) {
		fprintf(f, "%s/%" JSON_INTEGER_FORMAT,
			strempty(json_string_value(json_object_get(x, "addr"))),
			json_integer_value(json_object_get(x, "len")));
	} else if ((x = json_object_get(v, "range")) && json_array_size(x) == 2) {
		put_value(f, json_array_get(x, 0), quote);
		fputc('-', f);
		put_value(f, json_array_get(x, 1), quote);
	} else if ((x = json_object_get(v, "concat"))) {
		size_t i;
		json_t *y;
		json_array_foreach(x, i, y) {
			if (i)
				fputs(" . ", f);
			put_value(f, y, quote);
		}
	} else {
		put_json_raw(f, v);
	}
}

/* Left-hand expressions; *quote tells whether string values compared with it are quoted. */
static void put_lhs(FILE *f, json_t *e, bool *quote)
{
	json_t *x;

	*quote = false;
	if ((x = json_object_get(e, "payload")) && json_object_get(x, "protocol")) {
		fprintf(f, "%s %s", strempty(json_string_value(json_object_get(x, "protocol"))),
			strempty(json_string_value(json_object_get(x, "field"))));
	} else if ((x = json_object_get(e, "meta"))) {
		const char *k = json_string_value(json_object_get(x, "key"));
		if (k && (streq(k, "iifname") || streq(k, "oifname"))) {
			fputs(k, f);
			*quote = true;
		} else
			fprintf(f, "meta %s", strempty(k));
	} else if ((x = json_object_get(e, "ct"))) {
		fprintf(f, "ct %s", strempty(json_string_value(json_object_get(x, "key"))));
	} else if ((x = json_object_get(e, "concat"))) {
		size_t i;
		json_t *y;
		bool q;
		json_array_foreach(x, i, y) {
			if (i)
				fputs(" . ", f);
			put_lhs(f, y, &q);
		}
	} else {
		put_json_raw(f, e);
	}
}

static void put_stmt(FILE *f, json_t *st)
{
	const char *key;
	json_t *v, *x;
	bool quote;

	if (!json_is_object(st) || json_object_size(st) != 1) {
		put_json_raw(f, st);
		return;
	}
	json_object_foreach(st, key, v) {
		if (streq(key, "match")) {
			const char *op = json_string_value(json_object_get(v, "op"));
			put_lhs(f, json_object_get(v, "left"), &quote);
			/* `nft list` prints implicit equality and bitmask membership without an op. */
			if (op && !streq(op, "==") && !streq(op, "in"))
				fprintf(f, " %s", op);
			fputc(' ', f);
			put_value(f, json_object_get(v, "right"), quote);
		} else if (streq(key, "counter")) {
			fputs("counter", f);
		} else if (streq(key, "accept") || streq(key, "drop") || streq(key, "continue") ||
			   streq(key, "return")) {
			fputs(key, f);
		} else if (streq(key, "jump") || streq(key, "goto")) {
			fprintf(f, "%s %s", key, strempty(json_string_value(json_object_get(v, "target"))));
		} else if (streq(key, "vmap")) {
			put_lhs(f, json_object_get(v, "key"), &quote);
			fputs(" vmap ", f);
			put_value(f, json_object_get(v, "data"), false);
		} else if (streq(key, "limit") && !json_object_get(v, "rate_unit") &&
			   !json_object_get(v, "inv")) {
			json_int_t burst = json_integer_value(json_object_get(v, "burst"));
			fprintf(f, "limit rate %" JSON_INTEGER_FORMAT "/%s",
				json_integer_value(json_object_get(v, "rate")),
				strempty(json_string_value(json_object_get(v, "per"))));
			if (burst != 5)
				fprintf(f, " burst %" JSON_INTEGER_FORMAT " packets", burst);
		} else if (streq(key, "log") &&
			   json_object_size(v) == (size_t)(!!json_object_get(v, "prefix") +
							    !!json_object_get(v, "level"))) {
			fputs("log", f);
			if ((x = json_object_get(v, "prefix")))
				fprintf(f, " prefix \"%s\"", strempty(json_string_value(x)));
			if ((x = json_object_get(v, "level")))
				fprintf(f, " level %s", strempty(json_string_value(x)));
		} else {
			put_json_raw(f, st);
		}
	}
}

static int rule_text(json_t *exprs, char **ret, uint64_t *ret_packets)
{
	char *buf = NULL;
	size_t len = 0, i;
	json_t *st;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	*ret_packets = 0;
	json_array_foreach(exprs, i, st) {
		json_t *c = json_object_get(st, "counter");
		if (c)
			*ret_packets += (uint64_t)json_integer_value(json_object_get(c, "packets"));
		if (i)
			fputc(' ', f);
		put_stmt(f, st);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

static char *text_of(void (*put)(FILE *, json_t *, bool), json_t *v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	put(f, v, false);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

struct elem_sort {
	char *text;
	uint64_t packets;
};
static int elem_sort_cmp(const void *a, const void *b)
{
	return strcmp(((const struct elem_sort *)a)->text, ((const struct elem_sort *)b)->text);
}

static int parse_set(json_t *o, bool is_map, struct nft_set_state *s)
{
	_cleanup_free_ struct elem_sort *tmp = NULL;
	json_t *type = json_object_get(o, "type"), *flags = json_object_get(o, "flags");
	json_t *stmt = json_object_get(o, "stmt"), *elems = json_object_get(o, "elem"), *x;
	char *buf = NULL;
	size_t len = 0, i, n;
	FILE *f;

	s->is_map = is_map;
	s->name = strdup(strempty(json_string_value(json_object_get(o, "name"))));
	if (!s->name)
		return -ENOMEM;
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fputs("type ", f);
	if (json_is_array(type)) {
		json_array_foreach(type, i, x)
			fprintf(f, "%s%s", i ? " . " : "", strempty(json_string_value(x)));
	} else
		fputs(strempty(json_string_value(type)), f);
	if (is_map)
		fprintf(f, " : %s", strempty(json_string_value(json_object_get(o, "map"))));
	if (json_is_array(flags) && json_array_size(flags) > 0) {
		fputs("; flags ", f);
		json_array_foreach(flags, i, x)
			fprintf(f, "%s%s", i ? "," : "", strempty(json_string_value(x)));
	} else if (json_is_string(flags))
		fprintf(f, "; flags %s", strempty(json_string_value(flags)));
	json_array_foreach(stmt, i, x) {
		if (json_object_get(x, "counter"))
			fputs("; counter", f);
		else {
			fputs("; ", f);
			put_json_raw(f, x);
		}
	}
	/* Anything else that shapes the set (timeout, size, policy, ...) must not match. */
	static const char *const known[] = { "family", "name", "table", "type", "handle", "map",
					     "flags", "elem", "stmt" };
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		bool ok = false;
		for (size_t k = 0; k < ELEMENTSOF(known); k++)
			ok = ok || streq(key, known[k]);
		if (!ok)
			fprintf(f, "; %s ?", key);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	s->decl = buf;

	n = json_array_size(elems);
	s->elems = calloc(n ? n : 1, sizeof(char *));
	s->elem_packets = calloc(n ? n : 1, sizeof(uint64_t));
	tmp = calloc(n ? n : 1, sizeof(*tmp));
	if (!s->elems || !s->elem_packets || !tmp)
		return -ENOMEM;
	json_array_foreach(elems, i, x) {
		json_t *key_j = is_map && json_is_array(x) ? json_array_get(x, 0) : x;
		json_t *data = is_map && json_is_array(x) ? json_array_get(x, 1) : NULL;
		json_t *eo = json_object_get(key_j, "elem");
		json_t *val = eo ? json_object_get(eo, "val") : key_j;
		json_t *ctr = eo ? json_object_get(eo, "counter") : NULL;
		char *kt = text_of(put_value, val), *full;

		if (!kt)
			return -ENOMEM;
		if (is_map) {
			char *dt = NULL;
			if (json_is_object(data) && json_object_size(data) == 1) {
				const char *dk;
				json_t *dv;
				json_object_foreach(data, dk, dv)
					dt = strdup(dk);
			} else
				dt = text_of(put_value, data);
			if (!dt || asprintf(&full, "%s : %s", kt, dt) < 0) {
				free(kt);
				free(dt);
				return -ENOMEM;
			}
			free(kt);
			free(dt);
		} else
			full = kt;
		tmp[i].text = full;
		tmp[i].packets = ctr ? (uint64_t)json_integer_value(json_object_get(ctr, "packets")) : 0;
		s->n_elems++;
	}
	if (s->n_elems > 1)
		qsort(tmp, s->n_elems, sizeof(*tmp), elem_sort_cmp);
	for (i = 0; i < s->n_elems; i++) {
		s->elems[i] = tmp[i].text;
		s->elem_packets[i] = tmp[i].packets;
	}
	return 0;
}

static int parse_chain(json_t *o, struct nft_chain_state *c)
{
	json_t *hook = json_object_get(o, "hook");

	c->name = strdup(strempty(json_string_value(json_object_get(o, "name"))));
	if (!c->name)
		return -ENOMEM;
	if (hook) {
		if (asprintf(&c->decl, "type %s hook %s priority %" JSON_INTEGER_FORMAT "; policy %s",
			     strempty(json_string_value(json_object_get(o, "type"))),
			     strempty(json_string_value(hook)),
			     json_integer_value(json_object_get(o, "prio")),
			     strempty(json_string_value(json_object_get(o, "policy")))) < 0)
			return -ENOMEM;
	} else {
		c->decl = strdup("");
		if (!c->decl)
			return -ENOMEM;
	}
	return 0;
}

static int chain_append_rule(struct nft_chain_state *c, char *text, uint64_t handle,
			     uint64_t packets)
{
	char **r = reallocarray(c->rules, c->n_rules + 1, sizeof(char *));
	if (!r)
		return -ENOMEM;
	c->rules = r;
	uint64_t *h = reallocarray(c->rule_handles, c->n_rules + 1, sizeof(uint64_t));
	if (!h)
		return -ENOMEM;
	c->rule_handles = h;
	uint64_t *p = reallocarray(c->rule_packets, c->n_rules + 1, sizeof(uint64_t));
	if (!p)
		return -ENOMEM;
	c->rule_packets = p;
	c->rules[c->n_rules] = text;
	h[c->n_rules] = handle;
	p[c->n_rules] = packets;
	c->n_rules++;
	return 0;
}

int nft_table_state_from_json(const char *json, struct nft_table_state **ret)
{
	_cleanup_(nft_table_state_freep) struct nft_table_state *t = NULL;
	json_t *root, *arr, *item;
	json_error_t err;
	size_t i, n_sets = 0, n_chains = 0;
	int r = 0;

	root = json_loads(json, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return -EBADMSG;
	arr = json_object_get(root, "nftables");
	if (!json_is_array(arr)) {
		json_decref(root);
		return -EBADMSG;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		json_decref(root);
		return -ENOMEM;
	}
	json_array_foreach(arr, i, item) {
		n_sets += json_object_get(item, "set") || json_object_get(item, "map");
		n_chains += !!json_object_get(item, "chain");
	}
	t->sets = calloc(n_sets ? n_sets : 1, sizeof(*t->sets));
	t->chains = calloc(n_chains ? n_chains : 1, sizeof(*t->chains));
	if (!t->sets || !t->chains) {
		json_decref(root);
		return -ENOMEM;
	}
	json_array_foreach(arr, i, item) {
		const char *kind = NULL;
		json_t *o = NULL;
		const char *k;
		json_t *v;

		json_object_foreach(item, k, v) {
			kind = k;
			o = v;
		}
		if (!kind || json_object_size(item) != 1)
			continue;
		if (streq(kind, "metainfo"))
			continue;
		if (json_object_get(o, "family") &&
		    !streq(strempty(json_string_value(json_object_get(o, "family"))), "inet"))
			continue;
		const char *table = json_string_value(json_object_get(o, streq(kind, "table") ? "name" : "table"));
		if (!table || !streq(table, "plexd"))
			continue;
		if (streq(kind, "table"))
			continue;
		if (streq(kind, "set") || streq(kind, "map")) {
			r = parse_set(o, streq(kind, "map"), &t->sets[t->n_sets++]);
		} else if (streq(kind, "chain")) {
			r = parse_chain(o, &t->chains[t->n_chains++]);
		} else if (streq(kind, "rule")) {
			const char *cn = json_string_value(json_object_get(o, "chain"));
			struct nft_chain_state *c = NULL;
			char *text;
			uint64_t packets;

			for (size_t j = 0; cn && j < t->n_chains; j++)
				if (streq(t->chains[j].name, cn))
					c = &t->chains[j];
			if (!c) {
				t->n_foreign++;
				continue;
			}
			r = rule_text(json_object_get(o, "expr"), &text, &packets);
			if (r >= 0) {
				r = chain_append_rule(c, text,
						      (uint64_t)json_integer_value(json_object_get(o, "handle")),
						      packets);
				if (r < 0)
					free(text);
			}
		} else {
			t->n_foreign++;
		}
		if (r < 0)
			break;
	}
	json_decref(root);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(t);
	return 0;
}

static int strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void texts_free(char **t, size_t n)
{
	for (size_t i = 0; t && i < n; i++)
		free(t[i]);
	free(t);
}

/* A set's sorted element texts: its own, or rendered from its binary codes into *owned (then
 * freed by the caller with texts_free). Only a comparison of a binary desired state with a
 * read-back goes this way. */
static char *const *set_texts(const struct nft_set_state *s, char ***owned)
{
	char buf[NFT_ELEM_TEXT_MAX], **t;

	*owned = NULL;
	if (!s->codes)
		return s->elems;
	t = calloc(s->n_elems ? s->n_elems : 1, sizeof(char *));
	if (!t)
		return NULL;
	for (size_t i = 0; i < s->n_elems; i++) {
		nft_elem_code_text(s->codes[i], s->shape, s->is_map, false, buf);
		t[i] = strdup(buf);
		if (!t[i]) {
			texts_free(t, i);
			return NULL;
		}
	}
	qsort(t, s->n_elems, sizeof(char *), strcmp_p);
	*owned = t;
	return t;
}

/* Both sides binary with one element layout: codes compare like their texts. */
static bool sets_binary(const struct nft_set_state *a, const struct nft_set_state *b)
{
	return a->codes && b->codes && a->shape == b->shape && a->is_map == b->is_map;
}

/* -ENOMEM when texts could not be rendered. */
static int set_equal_r(const struct nft_set_state *a, const struct nft_set_state *b)
{
	char **oa = NULL, **ob = NULL;
	char *const *ta, *const *tb;
	int r = 1;

	if (a->is_map != b->is_map || !streq(a->decl, b->decl) || a->n_elems != b->n_elems)
		return 0;
	if (sets_binary(a, b))
		return a->n_elems == 0 || memcmp(a->codes, b->codes, a->n_elems * sizeof(uint64_t)) == 0;
	ta = set_texts(a, &oa);
	tb = set_texts(b, &ob);
	if (!ta || !tb)
		r = -ENOMEM;
	for (size_t i = 0; r > 0 && i < a->n_elems; i++)
		if (!streq(ta[i], tb[i]))
			r = 0;
	texts_free(oa, a->n_elems);
	texts_free(ob, b->n_elems);
	return r;
}

/* Out of memory counts as "different": the caller then sends (or plans) more than needed,
 * never less. */
static bool set_equal(const struct nft_set_state *a, const struct nft_set_state *b)
{
	return set_equal_r(a, b) > 0;
}

static bool chain_rules_equal(const struct nft_chain_state *a, const struct nft_chain_state *b)
{
	if (a->n_rules != b->n_rules)
		return false;
	for (size_t i = 0; i < a->n_rules; i++)
		if (!streq(a->rules[i], b->rules[i]))
			return false;
	return true;
}

/* Same set names with the same declarations, same chain names with the same declarations. */
static bool same_skeleton(const struct nft_table_state *a, const struct nft_table_state *b)
{
	if (a->n_foreign || b->n_foreign || a->n_sets != b->n_sets || a->n_chains != b->n_chains)
		return false;
	for (size_t i = 0; i < b->n_sets; i++) {
		const struct nft_set_state *s = nft_table_state_find_set(a, b->sets[i].name);
		if (!s || s->is_map != b->sets[i].is_map || !streq(s->decl, b->sets[i].decl))
			return false;
	}
	for (size_t i = 0; i < b->n_chains; i++) {
		const struct nft_chain_state *c = nft_table_state_find_chain(a, b->chains[i].name);
		if (!c || !streq(c->decl, b->chains[i].decl))
			return false;
	}
	return true;
}

bool nft_table_state_equal(const struct nft_table_state *a, const struct nft_table_state *b)
{
	if (!a || !b)
		return a == b;
	if (!same_skeleton(a, b))
		return false;
	for (size_t i = 0; i < b->n_sets; i++)
		if (!set_equal(nft_table_state_find_set(a, b->sets[i].name), &b->sets[i]))
			return false;
	for (size_t i = 0; i < b->n_chains; i++)
		if (!chain_rules_equal(nft_table_state_find_chain(a, b->chains[i].name), &b->chains[i]))
			return false;
	return true;
}

static const char *const plan_names[] = {
	[NFT_PLAN_NONE] = "none",
	[NFT_PLAN_CREATE] = "create",
	[NFT_PLAN_REPLACE] = "replace",
	[NFT_PLAN_PATCH] = "patch",
};

const char *nft_plan_kind_to_string(enum nft_plan_kind k)
{
	return k < ELEMENTSOF(plan_names) ? plan_names[k] : NULL;
}

void nft_plan_done(struct nft_plan *p)
{
	if (!p)
		return;
	free(p->commands);
	*p = (struct nft_plan){};
}

int nft_table_state_replace_commands(const struct nft_table_state *desired, char **ret)
{
	_cleanup_free_ char *body = NULL;
	int r = nft_table_state_render(desired, &body);

	if (r < 0)
		return r;
	/* "add table" makes the delete valid when the table is missing; all three commands are
	 * one batch, so packets see either the old table or the new one. */
	if (asprintf(ret, "add table inet plexd\ndelete table inet plexd\n%s", body) < 0)
		return -ENOMEM;
	return 0;
}

/* Element key: the part before " : " (maps are deleted by key). */
static void put_elem_key(FILE *f, const char *e, bool is_map)
{
	const char *sep = is_map ? strstr(e, " : ") : NULL;
	fprintf(f, "%.*s", sep ? (int)(sep - e) : (int)strlen(e), e);
}

/* Element diff of two sorted lists, as one delete and one add command. */
static void plan_texts(FILE *f, const char *name, char *const *have, size_t n_have, bool have_map,
		       char *const *want, size_t n_want, struct nft_plan *p)
{
	size_t i, j, n;

	for (int pass = 0; pass < 2; pass++) {
		bool del = pass == 0;
		n = 0;
		i = j = 0;
		while (i < n_have || j < n_want) {
			int c = i >= n_have ? 1 : j >= n_want ? -1 : strcmp(have[i], want[j]);
			const char *e = NULL;
			if (c == 0) {
				i++;
				j++;
				continue;
			}
			if (c < 0) {
				e = del ? have[i] : NULL;
				i++;
			} else {
				e = del ? NULL : want[j];
				j++;
			}
			if (!e)
				continue;
			if (n++ == 0)
				fprintf(f, "%s element inet plexd %s { ", del ? "delete" : "add", name);
			else
				fputs(", ", f);
			if (del)
				put_elem_key(f, e, have_map);
			else
				fputs(e, f);
		}
		if (n > 0)
			fputs(" }\n", f);
		if (del)
			p->elements_deleted += n;
		else
			p->elements_added += n;
	}
}

/* The same diff on binary codes: text is rendered only for the elements that differ. */
static void plan_codes(FILE *f, const struct nft_set_state *have, const struct nft_set_state *want,
		       struct nft_plan *p)
{
	char buf[NFT_ELEM_TEXT_MAX];

	for (int pass = 0; pass < 2; pass++) {
		bool del = pass == 0;
		size_t i = 0, j = 0, n = 0;

		while (i < have->n_elems || j < want->n_elems) {
			uint64_t x = i < have->n_elems ? have->codes[i] : 0;
			uint64_t y = j < want->n_elems ? want->codes[j] : 0;
			int c = i >= have->n_elems ? 1 : j >= want->n_elems ? -1 : (x > y) - (x < y);
			size_t len;

			if (c == 0) {
				i++;
				j++;
				continue;
			}
			if (c < 0)
				i++;
			else
				j++;
			if (del != (c < 0))
				continue;
			len = nft_elem_code_text(del ? x : y, want->shape, want->is_map, del, buf);
			if (n++ == 0)
				fprintf(f, "%s element inet plexd %s { ", del ? "delete" : "add", want->name);
			else
				fputs(", ", f);
			fwrite(buf, 1, len, f);
		}
		if (n > 0)
			fputs(" }\n", f);
		if (del)
			p->elements_deleted += n;
		else
			p->elements_added += n;
	}
}

static int plan_set(FILE *f, const struct nft_set_state *have, const struct nft_set_state *want,
		    struct nft_plan *p)
{
	char **oh = NULL, **ow = NULL;
	char *const *th, *const *tw;
	int r = 0;

	if (sets_binary(have, want)) {
		plan_codes(f, have, want, p);
		return 0;
	}
	th = set_texts(have, &oh);
	tw = set_texts(want, &ow);
	if (th && tw)
		plan_texts(f, want->name, th, have->n_elems, have->is_map, tw, want->n_elems, p);
	else
		r = -ENOMEM;
	texts_free(oh, have->n_elems);
	texts_free(ow, want->n_elems);
	return r;
}

int nft_table_state_plan(const struct nft_table_state *installed,
			 const struct nft_table_state *desired, struct nft_plan *ret)
{
	struct nft_plan p = {};
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if (!installed) {
		p.kind = NFT_PLAN_CREATE;
		r = nft_table_state_render(desired, &p.commands);
		if (r < 0)
			return r;
		*ret = p;
		return 0;
	}
	if (!same_skeleton(installed, desired)) {
		p.kind = NFT_PLAN_REPLACE;
		r = nft_table_state_replace_commands(desired, &p.commands);
		if (r < 0)
			return r;
		*ret = p;
		return 0;
	}
	if (nft_table_state_equal(installed, desired)) {
		*ret = (struct nft_plan){ .kind = NFT_PLAN_NONE };
		return 0;
	}
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	r = 0;
	for (size_t i = 0; r >= 0 && i < desired->n_sets; i++)
		r = plan_set(f, nft_table_state_find_set(installed, desired->sets[i].name),
			     &desired->sets[i], &p);
	if (r < 0) {
		fclose(f);
		free(buf);
		return r;
	}
	/* A chain whose rules differ is rewritten whole (flush + add) inside the same batch:
	 * simpler than a positional rule diff and just as atomic. */
	for (size_t i = 0; i < desired->n_chains; i++) {
		const struct nft_chain_state *want = &desired->chains[i];
		if (chain_rules_equal(nft_table_state_find_chain(installed, want->name), want))
			continue;
		p.chains_rewritten++;
		fprintf(f, "flush chain inet plexd %s\n", want->name);
		for (size_t k = 0; k < want->n_rules; k++)
			fprintf(f, "add rule inet plexd %s %s\n", want->name, want->rules[k]);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	p.kind = NFT_PLAN_PATCH;
	p.commands = buf;
	*ret = p;
	return 0;
}
