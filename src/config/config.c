/* Loads the configuration: defaults, YAML file, PLEXD_* environment and flags (agent.md §1),
 * then validates the merged result. Pure apart from reading the file, getpwnam() and realpath(). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config-internal.h"
#include "shared/encoding.h"
#include "shared/fileio.h"
#include "shared/macro.h"
#include "shared/time-util.h"
#include "shared/wire.h"

#define CONFIG_FILE_MAX (4U * 1024 * 1024)
#define DIAG_STORE_MAX 1000U
#define LIST_MAX 1024U /* hard bound on any list in the file, before the schema limits */

struct load_ctx {
	struct config *c;
	struct config_diag *diag;
	unsigned n_errors;
	bool oom;
	const char *file;
	yaml_document_t *doc;
};

/* ---- diagnostics ---- */

void config_diag_done(struct config_diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->lines[i]);
	free(d->lines);
	*d = (struct config_diag){};
}

void config_diag_print(const struct config_diag *d, FILE *f)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n && i < CONFIG_DIAG_PRINT_MAX; i++)
		fprintf(f, "%s\n", d->lines[i]);
	if (d->n > CONFIG_DIAG_PRINT_MAX)
		fprintf(f, "plexd: config: %zu more problems not shown\n", d->n - CONFIG_DIAG_PRINT_MAX);
}

_printf_(2, 0) static int diag_vadd(struct config_diag *d, const char *fmt, va_list ap)
{
	_cleanup_free_ char *body = NULL;
	char *line;

	if (!d || d->n >= DIAG_STORE_MAX)
		return 0;
	if (vasprintf(&body, fmt, ap) < 0)
		return -ENOMEM;
	if (asprintf(&line, "plexd: config: %s", body) < 0)
		return -ENOMEM;
	if (d->n == d->allocated) {
		size_t na = d->allocated ? d->allocated * 2 : 16;
		char **nl = realloc(d->lines, na * sizeof(char *));
		if (!nl) {
			free(line);
			return -ENOMEM;
		}
		d->lines = nl;
		d->allocated = na;
	}
	d->lines[d->n++] = line;
	return 0;
}

int config_diag_add(struct config_diag *d, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = diag_vadd(d, fmt, ap);
	va_end(ap);
	return r;
}

_printf_(2, 3) static void cerr(struct load_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	ctx->n_errors++;
	va_start(ap, fmt);
	if (diag_vadd(ctx->diag, fmt, ap) < 0)
		ctx->oom = true;
	va_end(ap);
}

/* "<path>: <problem> (file:<file>:<line>)" */
#define err_line(ctx, line, path, fmt, ...)                                                        \
	cerr(ctx, "%s: " fmt " (file:%s:%u)", path, ##__VA_ARGS__, (ctx)->file, (unsigned)(line))
#define err_src(ctx, src, path, fmt, ...) cerr(ctx, "%s: " fmt " (%s)", path, ##__VA_ARGS__, src)

/* ---- small string helpers ---- */

/* Quotes s for a message: printable ASCII kept, rest as \xNN, long values cut. */
const char *config_quote(const char *s, char *buf, size_t size)
{
	size_t o = 0;

	buf[o++] = '"';
	for (size_t i = 0; s[i] && o + 8 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (i >= 64) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
	}
	buf[o++] = '"';
	buf[o] = 0;
	return buf;
}

/* A key as it may appear in a message path: non-printable bytes escaped so that one
 * problem stays one line. */
static const char *key_printable(const char *key, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; key[i] && o + 5 < size; i++) {
		unsigned char ch = (unsigned char)key[i];
		if (ch < 0x20 || ch >= 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
	}
	buf[o] = 0;
	return buf;
}

void config_format_duration(int64_t ns, char *buf, size_t size)
{
	const int64_t S = 1000000000LL, MS = 1000000LL;

	if (ns == 0) {
		snprintf(buf, size, "0s");
	} else if (ns % S == 0) {
		int64_t sec = ns / S, h = sec / 3600, m = sec / 60 % 60, s = sec % 60;
		size_t o = 0;
		if (h)
			o += (size_t)snprintf(buf + o, size - o, "%lldh", (long long)h);
		if (m && o < size)
			o += (size_t)snprintf(buf + o, size - o, "%lldm", (long long)m);
		if (s && o < size)
			snprintf(buf + o, size - o, "%llds", (long long)s);
	} else if (ns < S && ns % MS == 0) {
		snprintf(buf, size, "%lldms", (long long)(ns / MS));
	} else {
		char frac[16];
		int n = snprintf(frac, sizeof frac, "%09lld", (long long)(ns % S));
		while (n > 1 && frac[n - 1] == '0')
			frac[--n] = 0;
		snprintf(buf, size, "%lld.%ss", (long long)(ns / S), frac);
	}
}

static void format_size(uint64_t v, char *buf, size_t size)
{
	if (v && v % (1024ULL * 1024 * 1024) == 0)
		snprintf(buf, size, "%lluG", (unsigned long long)(v >> 30));
	else if (v && v % (1024ULL * 1024) == 0)
		snprintf(buf, size, "%lluM", (unsigned long long)(v >> 20));
	else if (v && v % 1024 == 0)
		snprintf(buf, size, "%lluK", (unsigned long long)(v >> 10));
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
}

char **config_strv_free(char **l)
{
	if (!l)
		return NULL;
	for (char **p = l; *p; p++)
		free(*p);
	free(l);
	return NULL;
}

static void strv_clear(struct config_strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	*v = (struct config_strv){};
}

static int strv_push(struct config_strv *v, const char *s, size_t len)
{
	char **nv = realloc(v->v, (v->n + 1) * sizeof(char *));
	if (!nv)
		return -ENOMEM;
	v->v = nv;
	nv[v->n] = strndup(s, len);
	if (!nv[v->n])
		return -ENOMEM;
	v->n++;
	return 0;
}

static int enum_lookup(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (streq(names[i], s))
			return i;
	return -EINVAL;
}

static void enum_alternatives(const char *const *names, char *buf, size_t size)
{
	size_t o = 0;
	buf[0] = 0;
	for (int i = 0; names[i] && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", names[i]);
}

/* Strict decimal integer with optional sign. */
static int parse_int(const char *s, long long *ret)
{
	char *end;
	long long v;

	if (!*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*ret = v;
	return 0;
}

/* CPU quantity: decimal cores ("0.5", "2", "2.0") or millicores ("500m"). */
static int parse_cpu(const char *s, uint64_t *ret)
{
	size_t n = strlen(s);
	uint64_t ip = 0, frac = 0;
	const char *p = s;
	int fd = 0;

	if (n == 0)
		return -EINVAL;
	if (s[n - 1] == 'm') {
		if (n == 1)
			return -EINVAL;
		for (size_t i = 0; i + 1 < n; i++) {
			if (!isdigit((unsigned char)s[i]) || ip > UINT64_MAX / 20)
				return -EINVAL;
			ip = ip * 10 + (uint64_t)(s[i] - '0');
		}
		*ret = ip;
		return 0;
	}
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (ip > UINT64_MAX / 20000)
			return -EINVAL;
		ip = ip * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++, fd++) {
			if (fd >= 3) {
				if (*p != '0') /* finer than a millicore */
					return -EINVAL;
				continue;
			}
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
		for (; fd < 3; fd++)
			frac *= 10;
	}
	if (*p)
		return -EINVAL;
	*ret = ip * 1000 + frac;
	return 0;
}

/* ---- generic field values ---- */

static void *field_ptr(const struct field *f, void *base)
{
	return (char *)base + f->offset;
}

static const void *field_cptr(const struct field *f, const void *base)
{
	return (const char *)base + f->offset;
}

void config_field_free(const struct field *f, void *base)
{
	switch (f->type) {
	case FT_STR: {
		char **p = field_ptr(f, base);
		*p = mfree(*p);
		break;
	}
	case FT_STRV:
		strv_clear(field_ptr(f, base));
		break;
	case FT_SECTION:
	case FT_BOOL:
	case FT_INT:
	case FT_DUR:
	case FT_SIZE:
	case FT_CPU:
	case FT_ENUM:
	case FT_ENUMSET:
	case FT_SPECIAL:
		break;
	}
}

static const char *type_expectation(const struct field *f, char *buf, size_t size)
{
	switch (f->type) {
	case FT_STR:
		return "expected string";
	case FT_BOOL:
		return "expected true or false";
	case FT_INT:
		return "expected integer";
	case FT_DUR:
		return "expected duration (e.g. 500ms, 30s, 1h30m)";
	case FT_SIZE:
		return "expected size (e.g. 16384, 512K, 1M)";
	case FT_CPU:
		return "expected CPU quantity (e.g. 0.5, 2, 500m)";
	case FT_ENUM:
	case FT_ENUMSET: {
		char alt[256];
		enum_alternatives(f->enums, alt, sizeof alt);
		snprintf(buf, size, "expected one of %s", alt);
		return buf;
	}
	case FT_STRV:
		return "expected list of strings";
	case FT_SECTION:
		return "expected mapping";
	case FT_SPECIAL:
		return "expected list";
	}
	return "invalid";
}

/* Parses one scalar item (not a whole list) into *dst. Returns 0 or -EINVAL/-ENOMEM with
 * a problem text. */
static int parse_scalar(const struct field *f, const char *s, void *dst, char *prob, size_t np)
{
	char q[160], ex[300];
	int r;

	switch (f->type) {
	case FT_STR: {
		char *d = strdup(s);
		if (!d)
			return -ENOMEM;
		free(*(char **)dst);
		*(char **)dst = d;
		return 0;
	}
	case FT_BOOL:
		if (streq(s, "true"))
			*(bool *)dst = true;
		else if (streq(s, "false"))
			*(bool *)dst = false;
		else
			goto bad;
		return 0;
	case FT_INT: {
		long long v;
		r = parse_int(s, &v);
		if (r == -ERANGE || (r == 0 && (v < INT_MIN || v > INT_MAX))) {
			snprintf(prob, np, "integer out of range, got %s", config_quote(s, q, sizeof q));
			return -EINVAL;
		}
		if (r < 0)
			goto bad;
		*(int *)dst = (int)v;
		return 0;
	}
	case FT_DUR: {
		int64_t ns;
		r = duration_parse_config(s, &ns);
		if (r == -ERANGE) {
			snprintf(prob, np, "duration out of range, got %s", config_quote(s, q, sizeof q));
			return -EINVAL;
		}
		if (r < 0)
			goto bad;
		*(int64_t *)dst = ns;
		return 0;
	}
	case FT_SIZE: {
		uint64_t v;
		r = size_parse(s, &v);
		if (r < 0)
			goto bad;
		*(uint64_t *)dst = v;
		return 0;
	}
	case FT_CPU: {
		uint64_t v;
		if (parse_cpu(s, &v) < 0)
			goto bad;
		*(uint64_t *)dst = v;
		return 0;
	}
	case FT_ENUM:
		r = enum_lookup(f->enums, s);
		if (r < 0)
			goto bad;
		*(int *)dst = r;
		return 0;
	case FT_ENUMSET:
		r = enum_lookup(f->enums, s);
		if (r < 0)
			goto bad;
		if (*(unsigned *)dst & (1U << r)) {
			snprintf(prob, np, "duplicate value %s", config_quote(s, q, sizeof q));
			return -EINVAL;
		}
		*(unsigned *)dst |= 1U << r;
		return 0;
	case FT_STRV:
		if (strv_push(dst, s, strlen(s)) < 0)
			return -ENOMEM;
		return 0;
	case FT_SECTION:
	case FT_SPECIAL:
		break;
	}
bad:
	snprintf(prob, np, "%s, got %s", type_expectation(f, ex, sizeof ex), config_quote(s, q, sizeof q));
	return -EINVAL;
}

/* Parses an environment/default literal: lists are comma separated, items trimmed. The
 * destination is replaced only on success. */
static int parse_literal(const struct field *f, const char *s, void *dst, char *prob, size_t np)
{
	int r;

	if (f->type == FT_STRV || f->type == FT_ENUMSET) {
		struct config_strv nv = {};
		unsigned set = 0;
		const char *p = s;

		while (*p) {
			const char *e = strchrnul(p, ',');
			const char *a = p, *b = e;
			_cleanup_free_ char *item = NULL;
			while (a < b && isspace((unsigned char)*a))
				a++;
			while (b > a && isspace((unsigned char)b[-1]))
				b--;
			if (a == b) {
				snprintf(prob, np, "empty list item");
				strv_clear(&nv);
				return -EINVAL;
			}
			item = strndup(a, (size_t)(b - a));
			if (!item) {
				strv_clear(&nv);
				return -ENOMEM;
			}
			r = parse_scalar(f, item, f->type == FT_STRV ? (void *)&nv : (void *)&set, prob, np);
			if (r < 0) {
				strv_clear(&nv);
				return r;
			}
			p = *e ? e + 1 : e;
			if (*e && !*p) {
				snprintf(prob, np, "empty list item");
				strv_clear(&nv);
				return -EINVAL;
			}
		}
		if (f->type == FT_STRV) {
			strv_clear(dst);
			*(struct config_strv *)dst = nv;
		} else
			*(unsigned *)dst = set;
		return 0;
	}
	return parse_scalar(f, s, dst, prob, np);
}

/* Applies the table defaults to a zeroed (or to be reset) object. */
static int apply_defaults(const struct field *tab, size_t n, void *base)
{
	char prob[256];

	for (size_t i = 0; i < n; i++) {
		const struct field *f = &tab[i];
		int r;

		if (f->type == FT_SECTION || f->type == FT_SPECIAL)
			continue;
		if (!f->def) {
			if (f->type == FT_STR && !streq(f->name, "api")) {
				r = parse_scalar(f, "", field_ptr(f, base), prob, sizeof prob);
				if (r < 0)
					return r;
			}
			continue;
		}
		r = parse_literal(f, f->def, field_ptr(f, base), prob, sizeof prob);
		if (r < 0)
			return r == -ENOMEM ? r : -EIO; /* a broken table is a bug */
	}
	return 0;
}

/* Range check of INT/DUR/SIZE; 0 or -ERANGE with a problem text. */
static int check_range(const struct field *f, const void *base, char *prob, size_t np)
{
	char a[48], b[48], g[48];
	int64_t v;

	if (f->min == 0 && f->max == 0)
		return 0;
	switch (f->type) {
	case FT_INT:
		v = *(const int *)field_cptr(f, base);
		snprintf(a, sizeof a, "%lld", (long long)f->min);
		snprintf(b, sizeof b, "%lld", (long long)f->max);
		snprintf(g, sizeof g, "%lld", (long long)v);
		break;
	case FT_DUR:
		v = *(const int64_t *)field_cptr(f, base);
		config_format_duration(f->min, a, sizeof a);
		config_format_duration(f->max, b, sizeof b);
		config_format_duration(v, g, sizeof g);
		break;
	case FT_SIZE: {
		uint64_t u = *(const uint64_t *)field_cptr(f, base);
		v = u > INT64_MAX ? INT64_MAX : (int64_t)u;
		format_size((uint64_t)f->min, a, sizeof a);
		format_size((uint64_t)f->max, b, sizeof b);
		format_size(u, g, sizeof g);
		break;
	}
	default:
		return 0;
	}
	if ((f->flags & F_ZERO) && v == 0)
		return 0;
	if (v >= f->min && ((f->flags & F_NOMAX) || v <= f->max)) {
		if ((f->flags & F_WHOLE_SEC) && v % 1000000000LL != 0) {
			snprintf(prob, np, "must be whole seconds, got %s", g);
			return -ERANGE;
		}
		return 0;
	}
	if (f->flags & F_ZERO)
		snprintf(prob, np, "must be 0 or between %s and %s, got %s", a, b, g);
	else if (f->flags & F_NOMAX)
		snprintf(prob, np, "must be at least %s, got %s", a, g);
	else
		snprintf(prob, np, "must be between %s and %s, got %s", a, b, g);
	return -ERANGE;
}

/* ---- YAML helpers ---- */

static unsigned node_line(const yaml_node_t *n)
{
	return (unsigned)n->start_mark.line + 1;
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "mapping";
	case YAML_SEQUENCE_NODE:
		return "list";
	default:
		return "scalar";
	}
}

static bool node_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return !*v || streq(v, "~") || streq(v, "null") || streq(v, "Null") || streq(v, "NULL");
}

/* The scalar's text, or NULL (with an error reported) when it is not a usable scalar. */
static const char *node_scalar(struct load_ctx *ctx, const yaml_node_t *n, const struct field *f,
			       const char *path)
{
	char ex[300];

	if (n->type != YAML_SCALAR_NODE) {
		err_line(ctx, node_line(n), path, "%s, got %s", type_expectation(f, ex, sizeof ex),
			 node_kind(n));
		return NULL;
	}
	if (node_is_null(n)) {
		err_line(ctx, node_line(n), path, "%s, got null", type_expectation(f, ex, sizeof ex));
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		err_line(ctx, node_line(n), path, "must not contain NUL characters");
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

static yaml_node_t *doc_node(struct load_ctx *ctx, int i)
{
	return yaml_document_get_node(ctx->doc, i);
}

/* Parses a YAML value node for a scalar or scalar-list field; reports its own errors.
 * Returns 0 when set, -EINVAL when reported. */
static int parse_node_value(struct load_ctx *ctx, const struct field *f, yaml_node_t *n, void *base,
			    const char *path)
{
	char prob[512];
	const char *s;
	int r;

	if (f->type == FT_STRV || f->type == FT_ENUMSET) {
		struct config_strv nv = {};
		unsigned set = 0;
		size_t idx = 0;
		bool bad = false;

		if (n->type != YAML_SEQUENCE_NODE) {
			err_line(ctx, node_line(n), path, "expected list, got %s",
				 node_is_null(n) ? "null" : node_kind(n));
			return -EINVAL;
		}
		if (n->data.sequence.items.top - n->data.sequence.items.start > (ptrdiff_t)LIST_MAX) {
			err_line(ctx, node_line(n), path, "list too long (more than %u entries)", LIST_MAX);
			return -EINVAL;
		}
		for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
		     it++, idx++) {
			yaml_node_t *item = doc_node(ctx, *it);
			char ipath[600];

			if (!item)
				continue;
			snprintf(ipath, sizeof ipath, "%s[%zu]", path, idx);
			s = node_scalar(ctx, item, f, ipath);
			if (!s) {
				bad = true;
				continue;
			}
			r = parse_scalar(f, s, f->type == FT_STRV ? (void *)&nv : (void *)&set, prob, sizeof prob);
			if (r == -ENOMEM)
				ctx->oom = true;
			if (r < 0) {
				err_line(ctx, node_line(item), ipath, "%s", prob);
				bad = true;
			}
		}
		if (bad) {
			strv_clear(&nv);
			return -EINVAL;
		}
		if (f->type == FT_STRV) {
			strv_clear(field_ptr(f, base));
			*(struct config_strv *)field_ptr(f, base) = nv;
		} else
			*(unsigned *)field_ptr(f, base) = set;
		return 0;
	}

	s = node_scalar(ctx, n, f, path);
	if (!s)
		return -EINVAL;
	r = parse_scalar(f, s, field_ptr(f, base), prob, sizeof prob);
	if (r == -ENOMEM)
		ctx->oom = true;
	if (r < 0) {
		err_line(ctx, node_line(n), path, "%s", prob);
		return -EINVAL;
	}
	return 0;
}

/* Walks a mapping against a field table. tprefix is the table path of the mapping ("" for the
 * table root), eprefix the message prefix of the object ("" at top level,
 * "hooks.definitions[0]" for an entry). lines[i] receives the line where field i was set. */
static void walk_map(struct load_ctx *ctx, yaml_node_t *map, const struct field *tab, size_t ntab, void *base,
		     const char *tprefix, const char *eprefix, unsigned *lines, unsigned *seen)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = doc_node(ctx, p->key), *v = doc_node(ctx, p->value);
		char tname[256], path[512], kbuf[200];
		const char *key;
		size_t i;

		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE || node_is_null(k)) {
			err_line(ctx, node_line(k), *eprefix || *tprefix ? (*tprefix ? tprefix : eprefix) : "(top level)",
				 "mapping keys must be strings");
			continue;
		}
		key = (const char *)k->data.scalar.value;
		snprintf(tname, sizeof tname, "%s%s%s", tprefix, *tprefix ? "." : "", key);
		snprintf(path, sizeof path, "%s%s%s%s%s", eprefix, *eprefix ? "." : "", tprefix, *tprefix ? "." : "",
			 key_printable(key, kbuf, sizeof kbuf));
		for (i = 0; i < ntab; i++)
			if (streq(tab[i].name, tname))
				break;
		if (i == ntab || strlen(key) != k->data.scalar.length) {
			err_line(ctx, node_line(k), path, "unknown key");
			continue;
		}
		/* seen[] also remembers keys whose value was rejected, so a repeated key is always a
		 * duplicate and a special parser never runs twice on one object */
		if (seen[i]) {
			err_line(ctx, node_line(k), path, "duplicate key, first set on line %u", seen[i]);
			continue;
		}
		seen[i] = lines[i] = node_line(k);

		switch (tab[i].type) {
		case FT_SECTION:
			if (v->type == YAML_MAPPING_NODE)
				walk_map(ctx, v, tab, ntab, base, tname, eprefix, lines, seen);
			else if (!node_is_null(v))
				err_line(ctx, node_line(v), path, "expected mapping, got %s", node_kind(v));
			break;
		case FT_SPECIAL:
			if (tab[i].parse(ctx, v, field_ptr(&tab[i], base), path) < 0)
				lines[i] = 0;
			break;
		default:
			if (parse_node_value(ctx, &tab[i], v, base, path) < 0)
				lines[i] = 0; /* keeps the default; the error is already reported */
			break;
		}
	}
}

/* ---- validators shared by several keys ---- */

static bool charset_ok(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

bool config_ifname_valid(const char *s, size_t max)
{
	size_t n = strlen(s);
	return n >= 1 && n <= max && charset_ok(s, "_.-") && !streq(s, ".") && !streq(s, "..");
}

static bool env_name_valid(const char *s)
{
	if (!*s || !(isupper((unsigned char)*s) || *s == '_'))
		return false;
	for (; *s; s++)
		if (!(isupper((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool dns1123_label_valid(const char *s, size_t len)
{
	if (len < 1 || len > 63 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool dns1123_subdomain_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 253 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

/* name regex ^[first][rest]{0,max-1}$ */
static bool name_valid(const char *s, bool (*first)(char), bool (*rest)(char), size_t max)
{
	size_t n = strlen(s);
	if (n < 1 || n > max || !first(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!rest(s[i]))
			return false;
	return true;
}
static bool c_hook_rest(char c)
{
	return is_lower_alnum(c) || c == '_' || c == '-';
}
static bool c_s2s_rest(char c)
{
	return is_lower_alnum(c) || c == '-';
}
static bool c_alpha(char c)
{
	return isalpha((unsigned char)c);
}
static bool c_meta(char c)
{
	return is_lower_alnum(c) || c == '_' || c == '.' || c == '-';
}
static bool c_param_rest(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

static bool cidr_valid(const char *s, struct ipv4_prefix *ret)
{
	struct ipv4_prefix p;
	if (ipv4_prefix_parse(s, false, &p) < 0)
		return false;
	if (ret)
		*ret = p;
	return true;
}

static bool hostport_valid(const char *s, uint16_t *ret_port)
{
	_cleanup_free_ char *host = NULL;
	uint16_t port;
	if (hostport_parse(s, &host, &port) < 0)
		return false;
	if (ret_port)
		*ret_port = port;
	return true;
}

/* Absolute http(s) URL with a host, optional port and path, no query, fragment or user info.
 * Returns NULL when fine, else the problem. */
static const char *url_problem(const char *s, bool allow_http, bool *ret_is_http)
{
	const char *rest, *auth_end;
	size_t alen;
	char auth[300];

	if (strneq(s, "https://", 8))
		rest = s + 8, *ret_is_http = false;
	else if (strneq(s, "http://", 7)) {
		rest = s + 7, *ret_is_http = true;
		if (!allow_http)
			return NULL; /* the caller words this one */
	} else
		return "must be an absolute https:// URL";
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return "must not contain spaces or control characters";
	if (strpbrk(s, "?#"))
		return "must not contain a query or fragment";
	auth_end = strchrnul(rest, '/');
	alen = (size_t)(auth_end - rest);
	if (alen == 0)
		return "must name a host";
	if (memchr(rest, '@', alen))
		return "must not contain user information";
	if (alen >= sizeof auth)
		return "host too long";
	memcpy(auth, rest, alen);
	auth[alen] = 0;
	/* host[:port] or [v6][:port] */
	{
		char *colon = auth[0] == '[' ? strchr(auth, ']') : auth;
		if (!colon)
			return "malformed IPv6 host";
		colon = strchr(colon, ':');
		if (colon) {
			long long port;
			if ((auth[0] == '[' ? colon != strchr(auth, ']') + 1 : false) || parse_int(colon + 1, &port) < 0 ||
			    port < 1 || port > 65535 || colon[1] == '+' || colon[1] == '-')
				return "invalid port";
			*colon = 0;
		}
		if (!auth[0] || streq(auth, "[]"))
			return "must name a host";
	}
	return NULL;
}

static int ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* Linux capability names (without CAP_), for sandbox_options.capabilities. */
static const char *const capability_names[] = {
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE", NULL,
};

/* Lexically normalised absolute path (".", ".." and repeated slashes removed). */
static char *path_normalize(const char *p)
{
	size_t n = strlen(p), o = 0;
	char *out = malloc(n + 2);

	if (!out)
		return NULL;
	while (*p) {
		const char *e;
		size_t len;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchrnul(p, '/');
		len = (size_t)(e - p);
		if (len == 1 && p[0] == '.') {
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p = e;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	return out;
}

/* realpath() when the path exists (so symlinks count), else the lexical form. */
static char *path_resolve(const char *p)
{
	char *r = realpath(p, NULL);
	return r ? r : path_normalize(p);
}

static bool path_inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (streq(dir, "/"))
		return path[0] == '/' && path[1];
	return strneq(path, dir, n) && path[n] == '/' && path[n + 1];
}

/* ---- list-of-map keys ---- */

static int entry_begin(struct load_ctx *ctx, yaml_node_t *n, const char *path)
{
	if (n->type != YAML_MAPPING_NODE) {
		err_line(ctx, node_line(n), path, "expected mapping, got %s", node_is_null(n) ? "null" : node_kind(n));
		return -EINVAL;
	}
	return 0;
}

static ssize_t field_index(const struct field *tab, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(tab[i].name, name))
			return (ssize_t)i;
	return -1;
}

static unsigned line_of(const struct field *tab, size_t n, const unsigned *lines, const char *name)
{
	ssize_t i = field_index(tab, n, name);
	return i >= 0 ? lines[i] : 0;
}

/* Range-checks every numeric field that was set in an entry. */
static void entry_check_ranges(struct load_ctx *ctx, const struct field *tab, size_t n, const void *e,
			       const unsigned *lines, const char *epath)
{
	char prob[256], path[1024];

	for (size_t i = 0; i < n; i++) {
		if (!lines[i])
			continue;
		if (check_range(&tab[i], e, prob, sizeof prob) < 0) {
			snprintf(path, sizeof path, "%s.%s", epath, tab[i].name);
			err_line(ctx, lines[i], path, "%s", prob);
		}
	}
}

static int check_list_node(struct load_ctx *ctx, yaml_node_t *n, const char *path, size_t max)
{
	ptrdiff_t cnt;

	if (node_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE) {
		err_line(ctx, node_line(n), path, "expected list, got %s", node_kind(n));
		return -EINVAL;
	}
	cnt = n->data.sequence.items.top - n->data.sequence.items.start;
	if ((size_t)cnt > max) {
		err_line(ctx, node_line(n), path, "at most %zu entries allowed, got %td", max, cnt);
		return -EINVAL;
	}
	return 0;
}

#define FOREACH_ITEM(ctx, n, it, item, idx)                                                        \
	for (yaml_node_item_t *it = (n)->type == YAML_SEQUENCE_NODE ? (n)->data.sequence.items.start : NULL; \
	     it && it < (n)->data.sequence.items.top; it++, (idx)++)                               \
		if (((item) = doc_node(ctx, *it)))

static void metadata_clear(struct config *c)
{
	for (size_t i = 0; i < c->registration.n_metadata; i++) {
		free(c->registration.metadata[i].key);
		free(c->registration.metadata[i].value);
	}
	c->registration.metadata = mfree(c->registration.metadata);
	c->registration.n_metadata = 0;
}

int config_parse_metadata(struct load_ctx *ctx, yaml_node_t *n, void *base, const char *path)
{
	struct config *c = ctx->c;
	ptrdiff_t cnt;
	size_t k = 0;
	bool bad = false;

	if (node_is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE) {
		err_line(ctx, node_line(n), path, "expected mapping, got %s", node_kind(n));
		return -EINVAL;
	}
	cnt = n->data.mapping.pairs.top - n->data.mapping.pairs.start;
	if (cnt > 64) {
		err_line(ctx, node_line(n), path, "at most 64 entries allowed, got %td", cnt);
		return -EINVAL;
	}
	metadata_clear(c);
	c->registration.metadata = calloc((size_t)cnt + 1, sizeof(struct config_kv));
	if (!c->registration.metadata) {
		ctx->oom = true;
		return -ENOMEM;
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = doc_node(ctx, p->key), *vn = doc_node(ctx, p->value);
		static const struct field sf = { .name = "", .type = FT_STR };
		const char *key, *val;
		char kpath[512], kbuf[200];

		if (!kn || !vn)
			continue;
		key = node_scalar(ctx, kn, &sf, path);
		if (!key) {
			bad = true;
			continue;
		}
		snprintf(kpath, sizeof kpath, "%s.%s", path, key_printable(key, kbuf, sizeof kbuf));
		if (!name_valid(key, c_meta, c_meta, 63)) {
			err_line(ctx, node_line(kn), kpath, "key must be 1-63 characters of [a-z0-9_.-]");
			bad = true;
			continue;
		}
		for (size_t j = 0; j < k; j++)
			if (streq(c->registration.metadata[j].key, key)) {
				err_line(ctx, node_line(kn), kpath, "duplicate key");
				bad = true;
			}
		val = node_scalar(ctx, vn, &sf, kpath);
		if (!val) {
			bad = true;
			continue;
		}
		c->registration.metadata[k].key = strdup(key);
		c->registration.metadata[k].value = strdup(val);
		k++;
		if (!c->registration.metadata[k - 1].key || !c->registration.metadata[k - 1].value)
			ctx->oom = true;
	}
	c->registration.n_metadata = k;
	return bad ? -EINVAL : 0;
}

static void log_filters_clear(struct config *c)
{
	for (size_t i = 0; i < c->logs.n_filters; i++)
		free(c->logs.filters[i].value);
	c->logs.filters = mfree(c->logs.filters);
	c->logs.n_filters = 0;
}

int config_parse_log_filters(struct load_ctx *ctx, yaml_node_t *n, void *base, const char *path)
{
	static const struct field sf = { .name = "", .type = FT_STR };
	struct config *c = ctx->c;
	struct config_log_filter *v;
	yaml_node_t *item;
	size_t idx = 0, k = 0, n_sev = 0;
	bool bad = false;

	if (check_list_node(ctx, n, path, 64) < 0)
		return -EINVAL;
	log_filters_clear(c);
	if (node_is_null(n))
		return 0;
	v = calloc((size_t)(n->data.sequence.items.top - n->data.sequence.items.start) + 1, sizeof(*v));
	if (!v) {
		ctx->oom = true;
		return -ENOMEM;
	}
	c->logs.filters = v;
	FOREACH_ITEM(ctx, n, it, item, idx)
	{
		char epath[512], kbuf[200];
		yaml_node_pair_t *p;
		yaml_node_t *kn, *vn;
		const char *key, *val;
		int kind;

		snprintf(epath, sizeof epath, "%s[%zu]", path, idx);
		if (entry_begin(ctx, item, epath) < 0) {
			bad = true;
			continue;
		}
		if (item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1) {
			err_line(ctx, node_line(item), epath, "must have exactly one of unit, path, severity");
			bad = true;
			continue;
		}
		p = item->data.mapping.pairs.start;
		kn = doc_node(ctx, p->key);
		vn = doc_node(ctx, p->value);
		if (!kn || !vn)
			continue;
		key = node_scalar(ctx, kn, &sf, epath);
		if (!key) {
			bad = true;
			continue;
		}
		kind = config_log_filter_kind_from_string(key);
		snprintf(epath, sizeof epath, "%s[%zu].%s", path, idx, key_printable(key, kbuf, sizeof kbuf));
		if (kind < 0) {
			err_line(ctx, node_line(kn), epath, "unknown key");
			bad = true;
			continue;
		}
		val = node_scalar(ctx, vn, &sf, epath);
		if (!val) {
			bad = true;
			continue;
		}
		v[k].kind = (enum config_log_filter_kind)kind;
		v[k].line = node_line(kn);
		if (kind == CONFIG_LOG_FILTER_SEVERITY) {
			int sev = config_log_level_from_string(val);
			char q[160];
			if (sev < 0) {
				err_line(ctx, node_line(vn), epath, "expected one of debug, info, warn, error, got %s",
					 config_quote(val, q, sizeof q));
				bad = true;
				continue;
			}
			if (n_sev++ > 0) {
				err_line(ctx, node_line(kn), epath, "at most one severity filter allowed");
				bad = true;
				continue;
			}
			v[k].severity = (enum config_log_level)sev;
			val = "";
		} else if (!*val) {
			err_line(ctx, node_line(vn), epath, "must not be empty");
			bad = true;
			continue;
		}
		v[k].value = strdup(val);
		if (!v[k].value)
			ctx->oom = true;
		k++;
		c->logs.n_filters = k;
	}
	return bad ? -EINVAL : 0;
}

/* ---- hooks.definitions ---- */

static void hook_param_done(struct config_hook_param *p)
{
	for (size_t i = 0; i < config_n_hook_param_fields; i++)
		config_field_free(&config_hook_param_fields[i], p);
}

static void hook_done(struct config_hook *h)
{
	for (size_t i = 0; i < config_n_hook_fields; i++)
		config_field_free(&config_hook_fields[i], h);
	for (size_t i = 0; i < h->n_parameters; i++)
		hook_param_done(&h->parameters[i]);
	h->parameters = mfree(h->parameters);
	h->n_parameters = 0;
}

static void hooks_clear(struct config *c)
{
	for (size_t i = 0; i < c->hooks.n_definitions; i++)
		hook_done(&c->hooks.definitions[i]);
	c->hooks.definitions = mfree(c->hooks.definitions);
	c->hooks.n_definitions = 0;
}

/* PLEXD_PARAM_<NAME> sanitising of 5.12: upper-case, other characters to '_'. */
static void param_env_name(const char *name, char *out, size_t size)
{
	size_t i;
	for (i = 0; name[i] && i + 1 < size; i++) {
		char ch = (char)toupper((unsigned char)name[i]);
		out[i] = (isupper((unsigned char)ch) || isdigit((unsigned char)ch) || ch == '_') ? ch : '_';
	}
	out[i] = 0;
}

int config_parse_hook_params(struct load_ctx *ctx, yaml_node_t *n, void *base, const char *path)
{
	struct config_hook *h = base;
	yaml_node_t *item;
	size_t idx = 0;
	bool bad = false;

	if (check_list_node(ctx, n, path, 64) < 0)
		return -EINVAL;
	for (size_t i = 0; i < h->n_parameters; i++)
		hook_param_done(&h->parameters[i]);
	h->parameters = mfree(h->parameters);
	h->n_parameters = 0;
	if (node_is_null(n))
		return 0;
	h->parameters = calloc((size_t)(n->data.sequence.items.top - n->data.sequence.items.start) + 1,
			       sizeof(struct config_hook_param));
	if (!h->parameters) {
		ctx->oom = true;
		return -ENOMEM;
	}
	FOREACH_ITEM(ctx, n, it, item, idx)
	{
		struct config_hook_param *p = &h->parameters[h->n_parameters];
		unsigned lines[8] = {}, seen[8] = {};
		char epath[512], fpath[600], env[80], q[160];

		snprintf(epath, sizeof epath, "%s[%zu]", path, idx);
		if (entry_begin(ctx, item, epath) < 0) {
			bad = true;
			continue;
		}
		if (apply_defaults(config_hook_param_fields, config_n_hook_param_fields, p) < 0) {
			ctx->oom = true;
			return -ENOMEM;
		}
		h->n_parameters++;
		walk_map(ctx, item, config_hook_param_fields, config_n_hook_param_fields, p, "", epath, lines, seen);
		if (!seen[0]) {
			err_line(ctx, node_line(item), epath, "name is required");
			bad = true;
		} else if (!lines[0]) {
			bad = true; /* reported while parsing */
		} else if (!name_valid(p->name, c_alpha, c_param_rest, 64)) {
			snprintf(fpath, sizeof fpath, "%s.name", epath);
			err_line(ctx, lines[0], fpath, "must match ^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$, got %s",
				 config_quote(p->name, q, sizeof q));
			bad = true;
		} else {
			param_env_name(p->name, env, sizeof env);
			for (size_t j = 0; j + 1 < h->n_parameters; j++) {
				char other[80];
				param_env_name(h->parameters[j].name, other, sizeof other);
				if (streq(env, other)) {
					snprintf(fpath, sizeof fpath, "%s.name", epath);
					err_line(ctx, lines[0], fpath,
						 "maps to PLEXD_PARAM_%s like parameter %s (names must be unique)", env,
						 config_quote(h->parameters[j].name, q, sizeof q));
					bad = true;
					break;
				}
			}
		}
		if (!seen[1]) {
			err_line(ctx, node_line(item), epath, "type is required");
			bad = true;
		}
		if (!lines[3]) {
			p->default_value = mfree(p->default_value);
		} else {
			bool ok = true;
			long long dummy;
			if (p->type == CONFIG_HOOK_PARAM_BOOL)
				ok = streq(p->default_value, "true") || streq(p->default_value, "false");
			else if (p->type == CONFIG_HOOK_PARAM_INT)
				ok = parse_int(p->default_value, &dummy) == 0;
			if (!ok) {
				snprintf(fpath, sizeof fpath, "%s.default", epath);
				err_line(ctx, lines[3], fpath, "must parse as %s, got %s",
					 config_hook_param_type_to_string(p->type), config_quote(p->default_value, q, sizeof q));
				bad = true;
			}
		}
	}
	return bad ? -EINVAL : 0;
}

/* Per-definition checks that need nothing outside the definition. */
static bool hook_check_entry(struct load_ctx *ctx, struct config_hook *h, const unsigned *lines, const unsigned *seen,
			     const char *epath, unsigned entry_line, size_t index)
{
	const struct field *T = config_hook_fields;
	const size_t N = config_n_hook_fields;
	char fpath[600], q[160];
	bool bad = false;
	unsigned l;

#define FPATH(name) (snprintf(fpath, sizeof fpath, "%s.%s", epath, name), fpath)
	if (!line_of(T, N, seen, "name")) {
		err_line(ctx, entry_line, epath, "name is required");
		bad = true;
	} else if (!line_of(T, N, lines, "name")) {
		bad = true;
	} else if (!name_valid(h->name, is_lower_alnum, c_hook_rest, 63)) {
		err_line(ctx, line_of(T, N, lines, "name"), FPATH("name"), "must match ^[a-z0-9][a-z0-9_-]{0,62}$, got %s",
			 config_quote(h->name, q, sizeof q));
		bad = true;
	} else {
		for (size_t j = 0; j < index; j++)
			if (ctx->c->hooks.definitions[j].name && streq(ctx->c->hooks.definitions[j].name, h->name)) {
				err_line(ctx, line_of(T, N, lines, "name"), FPATH("name"),
					 "duplicate hook name %s (also hooks.definitions[%zu])", config_quote(h->name, q, sizeof q), j);
				bad = true;
				break;
			}
	}
	if (!line_of(T, N, seen, "path")) {
		err_line(ctx, entry_line, epath, "path is required");
		bad = true;
	} else if (!line_of(T, N, lines, "path")) {
		bad = true;
	} else if (h->path[0] != '/') {
		err_line(ctx, line_of(T, N, lines, "path"), FPATH("path"), "must be an absolute path, got %s",
			 config_quote(h->path, q, sizeof q));
		bad = true;
	}
	if (strlen(h->description) > 512) {
		err_line(ctx, line_of(T, N, lines, "description"), FPATH("description"), "must be at most 512 characters");
		bad = true;
	}
	if ((l = line_of(T, N, lines, "timeout")) && h->timeout <= 0) {
		err_line(ctx, l, FPATH("timeout"), "must be greater than 0");
		bad = true;
	}
	if ((l = line_of(T, N, lines, "user")) && !getpwnam(h->user)) {
		err_line(ctx, l, FPATH("user"), "no such local user %s", config_quote(h->user, q, sizeof q));
		bad = true;
	}
	if ((l = line_of(T, N, lines, "resources.cpu"))) {
		uint64_t max = (uint64_t)ncpus() * 4 * 1000;
		if (h->resources.cpu_millicores == 0 || h->resources.cpu_millicores > max) {
			err_line(ctx, l, FPATH("resources.cpu"), "must be greater than 0 and at most %d (4 x CPUs), got %llum",
				 ncpus() * 4, (unsigned long long)h->resources.cpu_millicores);
			bad = true;
		}
	}

	/* sandbox options only for the levels that use them */
	{
		static const struct {
			const char *name;
			unsigned levels; /* 1U << enum config_sandbox */
		} opt[] = {
			{ "sandbox_options.writable_paths", (1U << CONFIG_SANDBOX_NAMESPACED) | (1U << CONFIG_SANDBOX_CONTAINER) },
			{ "sandbox_options.mount_proc", 1U << CONFIG_SANDBOX_NAMESPACED },
			{ "sandbox_options.allowed_devices", 1U << CONFIG_SANDBOX_NAMESPACED },
			{ "sandbox_options.image", 1U << CONFIG_SANDBOX_CONTAINER },
			{ "sandbox_options.network", 1U << CONFIG_SANDBOX_CONTAINER },
			{ "sandbox_options.capabilities", 1U << CONFIG_SANDBOX_CONTAINER },
		};
		for (size_t i = 0; i < ELEMENTSOF(opt); i++) {
			if (!(l = line_of(T, N, lines, opt[i].name)))
				continue;
			if (!(opt[i].levels & (1U << h->sandbox))) {
				err_line(ctx, l, FPATH(opt[i].name), "only valid with sandbox: %s, got sandbox: %s",
					 opt[i].levels & (1U << CONFIG_SANDBOX_NAMESPACED)
						 ? (opt[i].levels & (1U << CONFIG_SANDBOX_CONTAINER) ? "namespaced or container"
												     : "namespaced")
						 : "container",
					 config_sandbox_to_string(h->sandbox));
				bad = true;
			}
		}
	}
	if ((l = line_of(T, N, lines, "sandbox_options.writable_paths")))
		for (size_t i = 0; i < h->sandbox_options.writable_paths.n; i++)
			if (h->sandbox_options.writable_paths.v[i][0] != '/') {
				snprintf(fpath, sizeof fpath, "%s.sandbox_options.writable_paths[%zu]", epath, i);
				err_line(ctx, l, fpath, "must be an absolute path, got %s",
					 config_quote(h->sandbox_options.writable_paths.v[i], q, sizeof q));
				bad = true;
			}
	if ((l = line_of(T, N, lines, "sandbox_options.allowed_devices")))
		for (size_t i = 0; i < h->sandbox_options.allowed_devices.n; i++) {
			_cleanup_free_ char *norm = path_normalize(h->sandbox_options.allowed_devices.v[i]);
			if (!norm) {
				ctx->oom = true;
				continue;
			}
			if (h->sandbox_options.allowed_devices.v[i][0] != '/' || !path_inside(norm, "/dev")) {
				snprintf(fpath, sizeof fpath, "%s.sandbox_options.allowed_devices[%zu]", epath, i);
				err_line(ctx, l, fpath, "must be a path under /dev, got %s",
					 config_quote(h->sandbox_options.allowed_devices.v[i], q, sizeof q));
				bad = true;
			}
		}
	if ((l = line_of(T, N, lines, "sandbox_options.capabilities")))
		for (size_t i = 0; i < h->sandbox_options.capabilities.n; i++)
			if (enum_lookup(capability_names, h->sandbox_options.capabilities.v[i]) < 0) {
				snprintf(fpath, sizeof fpath, "%s.sandbox_options.capabilities[%zu]", epath, i);
				err_line(ctx, l, fpath, "unknown capability %s (use names like NET_ADMIN, without CAP_)",
					 config_quote(h->sandbox_options.capabilities.v[i], q, sizeof q));
				bad = true;
			}
	if ((l = line_of(T, N, lines, "sandbox_options.image")))
		for (const char *p = h->sandbox_options.image; *p; p++)
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
				err_line(ctx, l, FPATH("sandbox_options.image"), "not a valid OCI image reference");
				bad = true;
				break;
			}
#undef FPATH
	return !bad;
}

int config_parse_hooks(struct load_ctx *ctx, yaml_node_t *n, void *base, const char *path)
{
	struct config *c = ctx->c;
	yaml_node_t *item;
	size_t idx = 0;
	bool bad = false;

	if (check_list_node(ctx, n, path, 128) < 0)
		return -EINVAL;
	hooks_clear(c);
	if (node_is_null(n))
		return 0;
	c->hooks.definitions = calloc((size_t)(n->data.sequence.items.top - n->data.sequence.items.start) + 1,
				      sizeof(struct config_hook));
	if (!c->hooks.definitions) {
		ctx->oom = true;
		return -ENOMEM;
	}
	FOREACH_ITEM(ctx, n, it, item, idx)
	{
		struct config_hook *h = &c->hooks.definitions[c->hooks.n_definitions];
		unsigned lines[32] = {}, seen[32] = {};
		char epath[512];

		_Static_assert(ELEMENTSOF(lines) >= 18, "hook field count");
		snprintf(epath, sizeof epath, "%s[%zu]", path, idx);
		if (entry_begin(ctx, item, epath) < 0) {
			bad = true;
			continue;
		}
		if (apply_defaults(config_hook_fields, config_n_hook_fields, h) < 0) {
			ctx->oom = true;
			return -ENOMEM;
		}
		c->hooks.n_definitions++;
		walk_map(ctx, item, config_hook_fields, config_n_hook_fields, h, "", epath, lines, seen);
		h->line = node_line(item);
		h->path_line = line_of(config_hook_fields, config_n_hook_fields, lines, "path");
		h->timeout_line = line_of(config_hook_fields, config_n_hook_fields, lines, "timeout");
		if (!h->timeout_line)
			h->timeout = -1; /* actions.default_timeout, filled in after merging */
		entry_check_ranges(ctx, config_hook_fields, config_n_hook_fields, h, lines, epath);
		if (!hook_check_entry(ctx, h, lines, seen, epath, h->line, c->hooks.n_definitions - 1))
			bad = true;
	}
	return bad ? -EINVAL : 0;
}

/* ---- bridge.access ---- */

static void access_clear(struct config *c)
{
	for (size_t i = 0; i < c->bridge.n_access; i++)
		for (size_t j = 0; j < config_n_access_fields; j++)
			config_field_free(&config_access_fields[j], &c->bridge.access[i]);
	c->bridge.access = mfree(c->bridge.access);
	c->bridge.n_access = 0;
}

int config_parse_bridge_access(struct load_ctx *ctx, yaml_node_t *n, void *base, const char *path)
{
	static const struct {
		const char *name;
		enum config_access_type type;
	} only[] = {
		{ "auth_key_env", CONFIG_ACCESS_TAILSCALE }, { "setup_key_env", CONFIG_ACCESS_NETBIRD },
		{ "interface", CONFIG_ACCESS_WIREGUARD },    { "listen_port", CONFIG_ACCESS_WIREGUARD },
		{ "max_peers", CONFIG_ACCESS_WIREGUARD },
	};
	const struct field *T = config_access_fields;
	const size_t N = config_n_access_fields;
	struct config *c = ctx->c;
	yaml_node_t *item;
	size_t idx = 0;
	bool bad = false;

	if (check_list_node(ctx, n, path, _CONFIG_ACCESS_MAX) < 0)
		return -EINVAL;
	access_clear(c);
	if (node_is_null(n))
		return 0;
	c->bridge.access = calloc(_CONFIG_ACCESS_MAX + 1, sizeof(struct config_bridge_access));
	if (!c->bridge.access) {
		ctx->oom = true;
		return -ENOMEM;
	}
	FOREACH_ITEM(ctx, n, it, item, idx)
	{
		struct config_bridge_access *a = &c->bridge.access[c->bridge.n_access];
		unsigned lines[8] = {}, seen[8] = {}, l;
		char epath[512], fpath[600], q[160];

		snprintf(epath, sizeof epath, "%s[%zu]", path, idx);
		if (entry_begin(ctx, item, epath) < 0) {
			bad = true;
			continue;
		}
		if (apply_defaults(T, N, a) < 0) {
			ctx->oom = true;
			return -ENOMEM;
		}
		c->bridge.n_access++;
		walk_map(ctx, item, T, N, a, "", epath, lines, seen);
		a->line = node_line(item);
		a->listen_port_line = line_of(T, N, lines, "listen_port") ?: a->line;
		entry_check_ranges(ctx, T, N, a, lines, epath);
		if (!lines[0]) {
			if (!seen[0])
				err_line(ctx, a->line, epath, "type is required");
			bad = true;
			continue;
		}
		for (size_t j = 0; j + 1 < c->bridge.n_access; j++)
			if (c->bridge.access[j].type == a->type) {
				snprintf(fpath, sizeof fpath, "%s.type", epath);
				err_line(ctx, lines[0], fpath, "type %s given more than once", config_access_type_to_string(a->type));
				bad = true;
			}
		for (size_t j = 0; j < ELEMENTSOF(only); j++)
			if ((l = line_of(T, N, lines, only[j].name)) && a->type != only[j].type) {
				snprintf(fpath, sizeof fpath, "%s.%s", epath, only[j].name);
				err_line(ctx, l, fpath, "only valid for type %s", config_access_type_to_string(only[j].type));
				bad = true;
			}
		if ((l = line_of(T, N, lines, "auth_key_env")) && !env_name_valid(a->auth_key_env)) {
			snprintf(fpath, sizeof fpath, "%s.auth_key_env", epath);
			err_line(ctx, l, fpath, "must be an environment variable name ([A-Z_][A-Z0-9_]*), got %s",
				 config_quote(a->auth_key_env, q, sizeof q));
			bad = true;
		}
		if ((l = line_of(T, N, lines, "setup_key_env")) && !env_name_valid(a->setup_key_env)) {
			snprintf(fpath, sizeof fpath, "%s.setup_key_env", epath);
			err_line(ctx, l, fpath, "must be an environment variable name ([A-Z_][A-Z0-9_]*), got %s",
				 config_quote(a->setup_key_env, q, sizeof q));
			bad = true;
		}
		if ((l = line_of(T, N, lines, "interface")) && !config_ifname_valid(a->interface, 15)) {
			snprintf(fpath, sizeof fpath, "%s.interface", epath);
			err_line(ctx, l, fpath, "must be 1-15 characters of [A-Za-z0-9_.-], not . or .., got %s",
				 config_quote(a->interface, q, sizeof q));
			bad = true;
		}
	}
	return bad ? -EINVAL : 0;
}

/* ---- bridge.site_to_site ---- */

static void s2s_clear(struct config *c)
{
	for (size_t i = 0; i < c->bridge.n_site_to_site; i++)
		for (size_t j = 0; j < config_n_s2s_fields; j++)
			config_field_free(&config_s2s_fields[j], &c->bridge.site_to_site[i]);
	c->bridge.site_to_site = mfree(c->bridge.site_to_site);
	c->bridge.n_site_to_site = 0;
}

static bool cidr_list_check(struct load_ctx *ctx, const struct config_strv *v, unsigned line, const char *path,
			    bool no_self_overlap)
{
	char ipath[600], q[160];
	bool bad = false;

	for (size_t i = 0; i < v->n; i++) {
		struct ipv4_prefix p, o;
		snprintf(ipath, sizeof ipath, "%s[%zu]", path, i);
		if (!cidr_valid(v->v[i], &p)) {
			err_line(ctx, line, ipath, "expected IPv4 CIDR (a.b.c.d/n), got %s", config_quote(v->v[i], q, sizeof q));
			bad = true;
			continue;
		}
		if (!no_self_overlap)
			continue;
		for (size_t j = 0; j < i; j++)
			if (cidr_valid(v->v[j], &o) && ipv4_prefix_overlaps(&p, &o)) {
				err_line(ctx, line, ipath, "%s overlaps %s[%zu] (%s)", v->v[i], path, j, v->v[j]);
				bad = true;
			}
	}
	return !bad;
}

int config_parse_site_to_site(struct load_ctx *ctx, yaml_node_t *n, void *base, const char *path)
{
	const struct field *T = config_s2s_fields;
	const size_t N = config_n_s2s_fields;
	struct config *c = ctx->c;
	yaml_node_t *item;
	size_t idx = 0;
	bool bad = false;

	if (check_list_node(ctx, n, path, 100) < 0)
		return -EINVAL;
	s2s_clear(c);
	if (node_is_null(n))
		return 0;
	c->bridge.site_to_site = calloc((size_t)(n->data.sequence.items.top - n->data.sequence.items.start) + 1,
					sizeof(struct config_site_to_site));
	if (!c->bridge.site_to_site) {
		ctx->oom = true;
		return -ENOMEM;
	}
	FOREACH_ITEM(ctx, n, it, item, idx)
	{
		struct config_site_to_site *s = &c->bridge.site_to_site[c->bridge.n_site_to_site];
		unsigned lines[16] = {}, seen[16] = {}, l;
		char epath[512], fpath[600], q[160];

		snprintf(epath, sizeof epath, "%s[%zu]", path, idx);
		if (entry_begin(ctx, item, epath) < 0) {
			bad = true;
			continue;
		}
		if (apply_defaults(T, N, s) < 0) {
			ctx->oom = true;
			return -ENOMEM;
		}
		c->bridge.n_site_to_site++;
		walk_map(ctx, item, T, N, s, "", epath, lines, seen);
		s->line = node_line(item);
		s->remote_subnets_line = line_of(T, N, lines, "remote_subnets") ?: s->line;
		s->listen_port_line = line_of(T, N, lines, "listen_port") ?: s->line;
		s->listen_port_set = line_of(T, N, lines, "listen_port") != 0;
		entry_check_ranges(ctx, T, N, s, lines, epath);
#define FPATH(name) (snprintf(fpath, sizeof fpath, "%s.%s", epath, name), fpath)
		if (!line_of(T, N, seen, "name")) {
			err_line(ctx, s->line, epath, "name is required");
			bad = true;
		} else if (!line_of(T, N, lines, "name")) {
			bad = true;
		} else if (!name_valid(s->name, is_lower_alnum, c_s2s_rest, 32)) {
			err_line(ctx, line_of(T, N, lines, "name"), FPATH("name"), "must match ^[a-z0-9][a-z0-9-]{0,31}$, got %s",
				 config_quote(s->name, q, sizeof q));
			bad = true;
		} else
			for (size_t j = 0; j + 1 < c->bridge.n_site_to_site; j++)
				if (c->bridge.site_to_site[j].name && streq(c->bridge.site_to_site[j].name, s->name)) {
					err_line(ctx, line_of(T, N, lines, "name"), FPATH("name"),
						 "duplicate name %s (also bridge.site_to_site[%zu])", config_quote(s->name, q, sizeof q), j);
					bad = true;
					break;
				}
		if (!(l = line_of(T, N, lines, "remote_endpoint"))) {
			if (s->type != CONFIG_S2S_OPENVPN && !line_of(T, N, seen, "remote_endpoint")) {
				err_line(ctx, s->line, epath, "remote_endpoint is required for type %s", config_s2s_type_to_string(s->type));
				bad = true;
			}
		} else if (!hostport_valid(s->remote_endpoint, NULL)) {
			err_line(ctx, l, FPATH("remote_endpoint"), "expected host:port, got %s",
				 config_quote(s->remote_endpoint, q, sizeof q));
			bad = true;
		}
		if (line_of(T, N, seen, "remote_subnets") && !line_of(T, N, lines, "remote_subnets")) {
			bad = true; /* reported while parsing */
		} else if (s->remote_subnets.n == 0) {
			err_line(ctx, s->remote_subnets_line, epath, "remote_subnets must be a non-empty list of IPv4 CIDRs");
			bad = true;
		} else if (!cidr_list_check(ctx, &s->remote_subnets, s->remote_subnets_line, FPATH("remote_subnets"), true))
			bad = true;
		if ((l = line_of(T, N, lines, "local_subnets")) &&
		    !cidr_list_check(ctx, &s->local_subnets, l, FPATH("local_subnets"), false))
			bad = true;
		if (s->type == CONFIG_S2S_WIREGUARD) {
			uint8_t key[32];
			if (!(l = line_of(T, N, lines, "remote_public_key"))) {
				if (!line_of(T, N, seen, "remote_public_key"))
					err_line(ctx, s->line, epath, "remote_public_key is required for type wireguard");
				bad = true;
			} else if (key32_parse(s->remote_public_key, key) < 0) {
				err_line(ctx, l, FPATH("remote_public_key"), "must be base64 of 32 bytes");
				bad = true;
			}
			explicit_bzero(key, sizeof key);
		}
		if ((l = line_of(T, N, lines, "psk_file")) && *s->psk_file) {
			struct stat st;
			if (s->psk_file[0] != '/') {
				err_line(ctx, l, FPATH("psk_file"), "must be an absolute path, got %s",
					 config_quote(s->psk_file, q, sizeof q));
				bad = true;
			} else if (stat(s->psk_file, &st) < 0) {
				err_line(ctx, l, FPATH("psk_file"), "cannot access %s: %s", s->psk_file, strerror(errno));
				bad = true;
			} else if (st.st_mode & 077) {
				err_line(ctx, l, FPATH("psk_file"), "mode %04o must deny group and other access",
					 (unsigned)(st.st_mode & 07777));
				bad = true;
			}
		}
		if (s->type != CONFIG_S2S_WIREGUARD && !*s->config_file) {
			err_line(ctx, s->line, epath, "config_file is required for type %s", config_s2s_type_to_string(s->type));
			bad = true;
		}
#undef FPATH
	}
	return bad ? -EINVAL : 0;
}

/* ---- origins ---- */

static int set_origin(struct config *c, size_t i, const char *fmt, ...) _printf_(3, 4);
static int set_origin(struct config *c, size_t i, const char *fmt, ...)
{
	va_list ap;
	char *t;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&t, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	free(c->meta->o[i].text);
	c->meta->o[i].text = t;
	c->meta->o[i].explicit_set = true;
	return 0;
}

static const char *origin_of(const struct config *c, size_t i)
{
	return c->meta && c->meta->o[i].text ? c->meta->o[i].text : "default";
}

static ssize_t top_index(const char *name)
{
	return field_index(config_fields, config_n_fields, name);
}

const char *config_key_source(const struct config *c, const char *key)
{
	ssize_t i = top_index(key);
	if (i < 0 || config_fields[i].type == FT_SECTION)
		return NULL;
	return origin_of(c, (size_t)i);
}

bool config_bridge_keys_set(const struct config *c)
{
	for (size_t i = 0; i < config_n_fields; i++)
		if (strneq(config_fields[i].name, "bridge.", 7) && config_fields[i].type != FT_SECTION && c->meta &&
		    c->meta->o[i].explicit_set)
			return true;
	return false;
}

/* ---- environment and flags ---- */

static const char *env_lookup(char **environ_, const char *name)
{
	size_t n = strlen(name);
	if (!environ_)
		return NULL;
	for (char **e = environ_; *e; e++)
		if (strneq(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

void config_env_name(const char *path, char *out, size_t size)
{
	size_t o = (size_t)snprintf(out, size, "PLEXD_");
	for (; *path && o + 1 < size; path++)
		out[o++] = *path == '.' ? '_' : (char)toupper((unsigned char)*path);
	out[o] = 0;
}

static void apply_env(struct load_ctx *ctx, char **environ_)
{
	struct config *c = ctx->c;
	char name[128], prob[512];

	for (size_t i = 0; i < config_n_fields; i++) {
		const struct field *f = &config_fields[i];
		const char *v;
		int r;

		if (f->type == FT_SECTION || f->type == FT_SPECIAL)
			continue;
		config_env_name(f->name, name, sizeof name);
		v = env_lookup(environ_, name);
		if (!v && streq(f->name, "token.file")) {
			/* alias; PLEXD_TOKEN_FILE wins when both are set */
			snprintf(name, sizeof name, "PLEXD_BOOTSTRAP_TOKEN_FILE");
			v = env_lookup(environ_, name);
		}
		if (!v)
			continue;
		r = parse_literal(f, v, field_ptr(f, c), prob, sizeof prob);
		if (r == -ENOMEM) {
			ctx->oom = true;
			return;
		}
		if (r < 0) {
			cerr(ctx, "%s: %s (env %s)", f->name, prob, name);
			continue;
		}
		if (set_origin(c, i, "env %s", name) < 0)
			ctx->oom = true;
	}
}

static void apply_flag(struct load_ctx *ctx, const char *key, const char *flag, const char *value)
{
	ssize_t i = top_index(key);
	char prob[512];
	int r;

	if (!value || i < 0)
		return;
	r = parse_literal(&config_fields[i], value, field_ptr(&config_fields[i], ctx->c), prob, sizeof prob);
	if (r == -ENOMEM)
		ctx->oom = true;
	else if (r < 0)
		cerr(ctx, "%s: %s (flag --%s)", key, prob, flag);
	else if (set_origin(ctx->c, (size_t)i, "flag --%s", flag) < 0)
		ctx->oom = true;
}

/* ---- values that depend on other keys or the environment ---- */

static bool is_default(const struct config *c, const char *key)
{
	ssize_t i = top_index(key);
	return i >= 0 && !c->meta->o[i].explicit_set;
}

static int replace_str(char **p, const char *a, const char *b)
{
	char *s;
	if (asprintf(&s, "%s%s", a, b) < 0)
		return -ENOMEM;
	free(*p);
	*p = s;
	return 0;
}

static int finalize_defaults(struct config *c)
{
	const char *data_dir = c->data_dir;

	if (is_default(c, "hostname")) {
		char hn[HOST_NAME_MAX + 1] = {};
		if (gethostname(hn, sizeof hn - 1) < 0)
			hn[0] = 0;
		if (replace_str(&c->hostname, hn, "") < 0)
			return -ENOMEM;
	}
	if (is_default(c, "access.ssh.enabled"))
		c->access.ssh.enabled = !c->in_kubernetes;
	if (is_default(c, "access.kubernetes.enabled"))
		c->access.kubernetes.enabled = c->in_kubernetes;
	if (is_default(c, "audit.sources") && c->in_kubernetes)
		c->audit.sources |= 1U << CONFIG_AUDIT_SOURCE_KUBERNETES;
	/* data_dir may be relative when invalid; the error is reported by validation. */
	if (is_default(c, "access.ssh.host_key_file") &&
	    replace_str(&c->access.ssh.host_key_file, data_dir, streq(data_dir, "/") ? "ssh_host_key" : "/ssh_host_key") < 0)
		return -ENOMEM;
	if (is_default(c, "bridge.ingress.acme.cache_dir") &&
	    replace_str(&c->bridge.ingress.acme.cache_dir, data_dir, streq(data_dir, "/") ? "acme" : "/acme") < 0)
		return -ENOMEM;
	for (size_t i = 0; i < c->hooks.n_definitions; i++)
		if (c->hooks.definitions[i].timeout < 0)
			c->hooks.definitions[i].timeout = c->actions.default_timeout;
	for (size_t i = 0; i < c->bridge.n_site_to_site; i++) {
		struct config_site_to_site *s = &c->bridge.site_to_site[i];
		if (!s->listen_port_set)
			s->listen_port = c->bridge.site_to_site_limits.base_listen_port + (int)i;
		if (s->local_subnets.n == 0 && strv_push(&s->local_subnets, c->mesh.cidr, strlen(c->mesh.cidr)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* ---- validation of the merged configuration ---- */

#define verr(ctx, key, fmt, ...) err_src(ctx, origin_of((ctx)->c, (size_t)top_index(key)), key, fmt, ##__VA_ARGS__)

static void check_abs(struct load_ctx *ctx, const char *key, const char *v, bool allow_empty)
{
	char q[160];
	if (allow_empty && !*v)
		return;
	if (v[0] != '/')
		verr(ctx, key, "must be an absolute path, got %s", config_quote(v, q, sizeof q));
}

static void check_hostport(struct load_ctx *ctx, const char *key, const char *v)
{
	char q[160];
	if (!hostport_valid(v, NULL))
		verr(ctx, key, "expected host:port (IPv4, [IPv6] or host name; port 1-65535), got %s",
		     config_quote(v, q, sizeof q));
}

static void check_ifname(struct load_ctx *ctx, const char *key, const char *v)
{
	char q[160];
	if (!config_ifname_valid(v, 15))
		verr(ctx, key, "must be 1-15 characters of [A-Za-z0-9_.-], not . or .., got %s", config_quote(v, q, sizeof q));
}

static void check_url(struct load_ctx *ctx, const char *key, const char *v, bool allow_http)
{
	char q[160];
	bool is_http = false;
	const char *p = url_problem(v, allow_http, &is_http);

	if (!p && is_http && !allow_http)
		verr(ctx, key, "scheme http requires api_client.allow_insecure_http: true, got %s", config_quote(v, q, sizeof q));
	else if (p)
		verr(ctx, key, "%s, got %s", p, config_quote(v, q, sizeof q));
}

static void check_pem(struct load_ctx *ctx, const char *key, const char *path)
{
	_cleanup_close_ int fd = -EBADF;
	char buf[65536];
	struct stat st;
	ssize_t n;

	if (!*path)
		return;
	/* O_NONBLOCK + regular-file check: a FIFO or device named here must not hang the load */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		verr(ctx, key, "cannot read %s: %s", path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		verr(ctx, key, "%s is not a regular file", path);
		return;
	}
	n = read(fd, buf, sizeof buf - 1);
	if (n < 0) {
		verr(ctx, key, "cannot read %s: %s", path, strerror(errno));
		return;
	}
	buf[n] = 0;
	if (!memmem(buf, (size_t)n, "-----BEGIN ", 11))
		verr(ctx, key, "%s is not a PEM file", path);
}

struct port_use {
	const char *key;
	char keybuf[64];
	const char *src;
	char srcbuf[300];
	int lo, hi;
};

static void port_desc(const struct port_use *p, char *buf, size_t size)
{
	if (p->lo == p->hi)
		snprintf(buf, size, "port %d", p->lo);
	else
		snprintf(buf, size, "ports %d-%d", p->lo, p->hi);
}

static void check_ports(struct load_ctx *ctx)
{
	struct config *c = ctx->c;
	struct port_use u[8 + _CONFIG_ACCESS_MAX];
	size_t n = 0;

#define ADD(k, l, h)                                                                               \
	do {                                                                                       \
		u[n] = (struct port_use){ .key = k, .lo = l, .hi = h };                            \
		u[n].src = origin_of(c, (size_t)top_index(k));                                     \
		n++;                                                                               \
	} while (0)
	ADD("mesh.listen_port", c->mesh.listen_port, c->mesh.listen_port);
	if (c->access.ssh.enabled && c->access.ssh.listen_port)
		ADD("access.ssh.listen_port", c->access.ssh.listen_port, c->access.ssh.listen_port);
	if (c->access.kubernetes.enabled)
		ADD("access.kubernetes.listen_port", c->access.kubernetes.listen_port, c->access.kubernetes.listen_port);
	if (c->mode == CONFIG_MODE_BRIDGE) {
		if (c->bridge.relay.enabled) {
			ADD("bridge.relay.listen_port", c->bridge.relay.listen_port, c->bridge.relay.listen_port);
			ADD("bridge.relay.session_port_base", c->bridge.relay.session_port_base,
			    c->bridge.relay.session_port_base + c->bridge.relay.max_sessions - 1);
		}
		for (size_t i = 0; i < c->bridge.n_access; i++) {
			const struct config_bridge_access *a = &c->bridge.access[i];
			if (a->type != CONFIG_ACCESS_WIREGUARD)
				continue;
			u[n] = (struct port_use){ .lo = a->listen_port, .hi = a->listen_port };
			snprintf(u[n].keybuf, sizeof u[n].keybuf, "bridge.access[%zu].listen_port", i);
			snprintf(u[n].srcbuf, sizeof u[n].srcbuf, "file:%s:%u", ctx->file, a->listen_port_line);
			u[n].key = u[n].keybuf;
			u[n].src = u[n].srcbuf;
			n++;
		}
		if (c->bridge.n_site_to_site > 0)
			ADD("bridge.site_to_site_limits.base_listen_port", c->bridge.site_to_site_limits.base_listen_port,
			    c->bridge.site_to_site_limits.base_listen_port + c->bridge.site_to_site_limits.max_tunnels - 1);
	}
#undef ADD
	for (size_t j = 1; j < n; j++)
		for (size_t i = 0; i < j; i++)
			if (u[i].lo <= u[j].hi && u[j].lo <= u[i].hi) {
				char a[48], b[48];
				port_desc(&u[j], a, sizeof a);
				port_desc(&u[i], b, sizeof b);
				err_src(ctx, u[j].src, u[j].key, "%s clashes with %s (%s)", a, u[i].key, b);
			}
}

static void validate_hooks(struct load_ctx *ctx)
{
	struct config *c = ctx->c;
	_cleanup_free_ char *dir = NULL;
	char q[160], d1[48], d2[48];

	if (c->hooks.dir[0] != '/')
		return; /* reported as hooks.dir */
	dir = path_resolve(c->hooks.dir);
	if (!dir) {
		ctx->oom = true;
		return;
	}
	for (size_t i = 0; i < c->hooks.n_definitions; i++) {
		struct config_hook *h = &c->hooks.definitions[i];
		char path[64];

		if (h->path && h->path[0] == '/') {
			_cleanup_free_ char *rp = path_resolve(h->path);
			if (!rp) {
				ctx->oom = true;
				return;
			}
			if (!path_inside(rp, dir)) {
				snprintf(path, sizeof path, "hooks.definitions[%zu].path", i);
				if (streq(rp, h->path))
					err_line(ctx, h->path_line, path, "must lie inside hooks.dir (%s), got %s", dir,
						 config_quote(h->path, q, sizeof q));
				else
					err_line(ctx, h->path_line, path, "must lie inside hooks.dir (%s), %s resolves to %s", dir,
						 config_quote(h->path, q, sizeof q), rp);
			}
		}
		if (h->timeout_line && h->timeout > c->actions.max_timeout) {
			snprintf(path, sizeof path, "hooks.definitions[%zu].timeout", i);
			config_format_duration(h->timeout, d1, sizeof d1);
			config_format_duration(c->actions.max_timeout, d2, sizeof d2);
			err_line(ctx, h->timeout_line, path, "must be at most actions.max_timeout (%s), got %s", d2, d1);
		}
	}
}

static void validate_bridge(struct load_ctx *ctx, const struct ipv4_prefix *mesh, bool mesh_ok)
{
	struct config *c = ctx->c;
	char q[160];

	if (*c->bridge.access_interface)
		check_ifname(ctx, "bridge.access_interface", c->bridge.access_interface);
	else if (c->bridge.access_subnets.n > 0)
		verr(ctx, "bridge.access_interface", "required when bridge.access_subnets is not empty");
	for (size_t i = 0; i < c->bridge.access_subnets.n; i++) {
		struct ipv4_prefix p;
		if (!cidr_valid(c->bridge.access_subnets.v[i], &p))
			verr(ctx, "bridge.access_subnets", "expected IPv4 CIDR (a.b.c.d/n), got %s",
			     config_quote(c->bridge.access_subnets.v[i], q, sizeof q));
		else if (mesh_ok && ipv4_prefix_overlaps(&p, mesh))
			verr(ctx, "bridge.access_subnets", "%s overlaps mesh.cidr (%s)", c->bridge.access_subnets.v[i], c->mesh.cidr);
	}
	check_hostport(ctx, "bridge.ingress.listen", c->bridge.ingress.listen);
	if (c->bridge.ingress.acme.enabled && !*c->bridge.ingress.acme.email)
		verr(ctx, "bridge.ingress.acme.email", "required when bridge.ingress.acme.enabled is true");
	else if (*c->bridge.ingress.acme.email && !strchr(c->bridge.ingress.acme.email, '@'))
		verr(ctx, "bridge.ingress.acme.email", "must contain @, got %s",
		     config_quote(c->bridge.ingress.acme.email, q, sizeof q));
	check_url(ctx, "bridge.ingress.acme.directory_url", c->bridge.ingress.acme.directory_url, false);
	if (!is_default(c, "bridge.ingress.acme.cache_dir"))
		check_abs(ctx, "bridge.ingress.acme.cache_dir", c->bridge.ingress.acme.cache_dir, false);
	if ((long)c->bridge.relay.session_port_base + c->bridge.relay.max_sessions - 1 > 65535)
		verr(ctx, "bridge.relay.session_port_base",
		     "session ports %d-%ld (bridge.relay.max_sessions %d) must end below 65536", c->bridge.relay.session_port_base,
		     (long)c->bridge.relay.session_port_base + c->bridge.relay.max_sessions - 1, c->bridge.relay.max_sessions);
	{
		const char *pfx = c->bridge.site_to_site_limits.interface_prefix;
		size_t n = strlen(pfx);
		if (n < 1 || n > 10 || !charset_ok(pfx, "_.-"))
			verr(ctx, "bridge.site_to_site_limits.interface_prefix",
			     "must be 1-10 characters of [A-Za-z0-9_.-], got %s", config_quote(pfx, q, sizeof q));
	}
	if ((long)c->bridge.site_to_site_limits.base_listen_port + c->bridge.site_to_site_limits.max_tunnels - 1 > 65535)
		verr(ctx, "bridge.site_to_site_limits.base_listen_port",
		     "ports %d-%ld (bridge.site_to_site_limits.max_tunnels %d) must end below 65536",
		     c->bridge.site_to_site_limits.base_listen_port,
		     (long)c->bridge.site_to_site_limits.base_listen_port + c->bridge.site_to_site_limits.max_tunnels - 1,
		     c->bridge.site_to_site_limits.max_tunnels);
	if (c->bridge.n_site_to_site > (size_t)c->bridge.site_to_site_limits.max_tunnels)
		verr(ctx, "bridge.site_to_site", "%zu tunnels exceed bridge.site_to_site_limits.max_tunnels (%d)",
		     c->bridge.n_site_to_site, c->bridge.site_to_site_limits.max_tunnels);
	for (size_t i = 0; i < c->bridge.n_site_to_site && mesh_ok; i++) {
		const struct config_site_to_site *s = &c->bridge.site_to_site[i];
		char path[64];
		snprintf(path, sizeof path, "bridge.site_to_site[%zu].remote_subnets", i);
		for (size_t j = 0; j < s->remote_subnets.n; j++) {
			struct ipv4_prefix p;
			if (cidr_valid(s->remote_subnets.v[j], &p) && ipv4_prefix_overlaps(&p, mesh))
				err_line(ctx, s->remote_subnets_line, path, "%s overlaps mesh.cidr (%s)", s->remote_subnets.v[j],
					 c->mesh.cidr);
		}
		if (s->listen_port < 1 || s->listen_port > 65535) {
			snprintf(path, sizeof path, "bridge.site_to_site[%zu].listen_port", i);
			err_line(ctx, s->listen_port_line, path,
				 "must be between 1 and 65535, got %d (bridge.site_to_site_limits.base_listen_port + index)",
				 s->listen_port);
		}
	}
}

static void validate(struct load_ctx *ctx)
{
	struct config *c = ctx->c;
	struct ipv4_prefix mesh = {};
	bool mesh_ok;
	char prob[256], q[160], d1[48], d2[48];

	/* node mode: anything set under bridge is a mistake */
	if (c->mode != CONFIG_MODE_BRIDGE)
		for (size_t i = 0; i < config_n_fields; i++)
			if (strneq(config_fields[i].name, "bridge.", 7) && config_fields[i].type != FT_SECTION &&
			    c->meta->o[i].explicit_set)
				err_src(ctx, origin_of(c, i), config_fields[i].name, "requires mode: bridge");

	for (size_t i = 0; i < config_n_fields; i++)
		if (check_range(&config_fields[i], c, prob, sizeof prob) < 0)
			err_src(ctx, origin_of(c, i), config_fields[i].name, "%s", prob);

	if (c->api)
		check_url(ctx, "api", c->api, c->api_client.allow_insecure_http);
	check_abs(ctx, "data_dir", c->data_dir, false);
	if (strlen(c->hostname) < 1 || strlen(c->hostname) > 253)
		verr(ctx, "hostname", "must be 1-253 characters, got %zu", strlen(c->hostname));
	check_pem(ctx, "api_client.ca_file", c->api_client.ca_file);

	check_abs(ctx, "token.file", c->token.file, false);
	if (!env_name_valid(c->token.env))
		verr(ctx, "token.env", "must be an environment variable name ([A-Z_][A-Z0-9_]*), got %s",
		     config_quote(c->token.env, q, sizeof q));
	if (c->token.metadata_path[0] != '/')
		verr(ctx, "token.metadata_path", "must start with /, got %s", config_quote(c->token.metadata_path, q, sizeof q));

	check_ifname(ctx, "mesh.interface", c->mesh.interface);
	mesh_ok = cidr_valid(c->mesh.cidr, &mesh);
	if (!mesh_ok)
		verr(ctx, "mesh.cidr", "expected IPv4 CIDR (a.b.c.d/n), got %s", config_quote(c->mesh.cidr, q, sizeof q));
	if (!*c->mesh.userspace_binary)
		verr(ctx, "mesh.userspace_binary", "must not be empty");

	if (c->nat_traversal.stun_servers.n > 8)
		verr(ctx, "nat_traversal.stun_servers", "at most 8 servers allowed, got %zu", c->nat_traversal.stun_servers.n);
	if (c->nat_traversal.enabled && c->nat_traversal.stun_servers.n == 0)
		verr(ctx, "nat_traversal.stun_servers", "must not be empty when nat_traversal.enabled is true");
	for (size_t i = 0; i < c->nat_traversal.stun_servers.n; i++)
		if (!hostport_valid(c->nat_traversal.stun_servers.v[i], NULL))
			verr(ctx, "nat_traversal.stun_servers", "expected host:port, got %s",
			     config_quote(c->nat_traversal.stun_servers.v[i], q, sizeof q));
	if (c->nat_traversal.timeout >= c->nat_traversal.refresh_interval) {
		config_format_duration(c->nat_traversal.timeout, d1, sizeof d1);
		config_format_duration(c->nat_traversal.refresh_interval, d2, sizeof d2);
		verr(ctx, "nat_traversal.timeout", "must be less than nat_traversal.refresh_interval (%s), got %s", d2, d1);
	}

	if (c->observe.buffer_size < c->observe.batch_max_size)
		verr(ctx, "observe.buffer_size", "must be at least observe.batch_max_size (%d), got %d", c->observe.batch_max_size,
		     c->observe.buffer_size);
	if (c->observe.disk_paths.n < 1 || c->observe.disk_paths.n > 16)
		verr(ctx, "observe.disk_paths", "must have 1-16 entries, got %zu", c->observe.disk_paths.n);
	for (size_t i = 0; i < c->observe.disk_paths.n; i++)
		check_abs(ctx, "observe.disk_paths", c->observe.disk_paths.v[i], false);

	if (c->logs.sources.n > 64)
		verr(ctx, "logs.sources", "at most 64 sources allowed, got %zu", c->logs.sources.n);
	for (size_t i = 0; i < c->logs.sources.n; i++)
		if (!streq(c->logs.sources.v[i], "journald") && c->logs.sources.v[i][0] != '/')
			verr(ctx, "logs.sources", "each source must be journald or an absolute path, got %s",
			     config_quote(c->logs.sources.v[i], q, sizeof q));
	if (c->logs.buffer_size < c->logs.batch_max_size)
		verr(ctx, "logs.buffer_size", "must be at least logs.batch_max_size (%d), got %d", c->logs.batch_max_size,
		     c->logs.buffer_size);

	check_abs(ctx, "audit.kubernetes_log_path", c->audit.kubernetes_log_path, true);
	if (c->audit.buffer_size < c->audit.batch_max_size)
		verr(ctx, "audit.buffer_size", "must be at least audit.batch_max_size (%d), got %d", c->audit.batch_max_size,
		     c->audit.buffer_size);

	/* defaults derived from data_dir are only reported through data_dir */
	if (!is_default(c, "access.ssh.host_key_file"))
		check_abs(ctx, "access.ssh.host_key_file", c->access.ssh.host_key_file, false);
	if (*c->access.kubernetes.api_server) {
		bool is_http = false;
		const char *s = c->access.kubernetes.api_server;
		const char *p = url_problem(s, false, &is_http);
		if (p || is_http || !hostport_valid(s + 8, NULL))
			verr(ctx, "access.kubernetes.api_server", "must be https://host:port, got %s", config_quote(s, q, sizeof q));
	}

	check_abs(ctx, "actions.socket", c->actions.socket, false);
	if (c->actions.default_timeout > c->actions.max_timeout) {
		config_format_duration(c->actions.default_timeout, d1, sizeof d1);
		config_format_duration(c->actions.max_timeout, d2, sizeof d2);
		verr(ctx, "actions.default_timeout", "must be at most actions.max_timeout (%s), got %s", d2, d1);
	}

	check_abs(ctx, "hooks.dir", c->hooks.dir, false);
	validate_hooks(ctx);

	check_abs(ctx, "node_api.socket", c->node_api.socket, false);
	if (streq(c->node_api.socket, c->actions.socket))
		verr(ctx, "node_api.socket", "must differ from actions.socket (%s)", c->actions.socket);
	check_hostport(ctx, "node_api.http.listen", c->node_api.http.listen);
	if (c->node_api.http.enabled && !c->in_kubernetes) {
		struct stat st;
		if (stat(c->node_api.http.token_file, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
			verr(ctx, "node_api.http.token_file", "must exist and be non-empty when node_api.http.enabled is true (%s)",
			     c->node_api.http.token_file);
	}

	check_abs(ctx, "integrity.binary_path", c->integrity.binary_path, true);

	if (*c->kubernetes.namespace && !dns1123_label_valid(c->kubernetes.namespace, strlen(c->kubernetes.namespace)))
		verr(ctx, "kubernetes.namespace", "must be a DNS-1123 label, got %s", config_quote(c->kubernetes.namespace, q, sizeof q));
	if (!dns1123_subdomain_valid(c->kubernetes.hook_service_account))
		verr(ctx, "kubernetes.hook_service_account", "must be a DNS-1123 subdomain, got %s",
		     config_quote(c->kubernetes.hook_service_account, q, sizeof q));
	for (size_t i = 0; i < c->kubernetes.secret_access.n; i++) {
		const char *s = c->kubernetes.secret_access.v[i], *colon = strchr(s, ':');
		if (!colon || !dns1123_label_valid(s, (size_t)(colon - s)) ||
		    !(streq(colon + 1, "*") || dns1123_subdomain_valid(colon + 1)))
			verr(ctx, "kubernetes.secret_access", "each entry must be namespace:serviceaccount or namespace:*, got %s",
			     config_quote(s, q, sizeof q));
	}

	validate_bridge(ctx, &mesh, mesh_ok);
	check_ports(ctx);
}

/* ---- loading ---- */

static struct config *config_new(void)
{
	struct config *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->meta = calloc(1, sizeof(*c->meta));
	if (!c->meta || !(c->meta->o = calloc(config_n_fields, sizeof(struct origin))) ||
	    apply_defaults(config_fields, config_n_fields, c) < 0)
		return config_free(c);
	return c;
}

struct config *config_free(struct config *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < config_n_fields; i++)
		config_field_free(&config_fields[i], c);
	metadata_clear(c);
	log_filters_clear(c);
	hooks_clear(c);
	access_clear(c);
	s2s_clear(c);
	if (c->meta) {
		if (c->meta->o)
			for (size_t i = 0; i < config_n_fields; i++)
				free(c->meta->o[i].text);
		free(c->meta->o);
		free(c->meta);
	}
	free(c->config_path);
	free(c);
	return NULL;
}

/* Line of a byte offset, for reader errors that carry only an offset. */
static void offset_to_mark(const char *data, size_t len, size_t off, unsigned *line, unsigned *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (data[i] == '\n') {
			(*line)++;
			*col = 1;
		} else
			(*col)++;
	}
}

static void yaml_report(struct load_ctx *ctx, const yaml_parser_t *p, const char *data, size_t len)
{
	unsigned line = (unsigned)p->problem_mark.line + 1, col = (unsigned)p->problem_mark.column + 1;

	if (p->error == YAML_READER_ERROR)
		offset_to_mark(data, len, p->problem_offset, &line, &col);
	else if (p->problem_mark.index < len && data[p->problem_mark.index] == '\t') {
		/* libyaml's wording ("cannot start any token") hides the actual rule */
		cerr(ctx, "%s:%u:%u: tab character used for indentation (YAML allows spaces only)", ctx->file, line, col);
		return;
	}
	if (p->context)
		cerr(ctx, "%s:%u:%u: %s, %s", ctx->file, line, col, p->context, strempty(p->problem));
	else
		cerr(ctx, "%s:%u:%u: %s", ctx->file, line, col, p->problem ? p->problem : "YAML syntax error");
}

/* Parses the YAML text into the config (file layer). */
static int load_yaml(struct load_ctx *ctx, const char *data, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root;
	unsigned *lines;
	int r = 0;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : 0;
		if (!r)
			yaml_report(ctx, &parser, data, len);
		yaml_parser_delete(&parser);
		return r;
	}
	root = yaml_document_get_root_node(&doc);
	if (root) {
		/* one document only */
		if (!yaml_parser_load(&parser, &extra)) {
			yaml_report(ctx, &parser, data, len);
			goto out;
		}
		if (yaml_document_get_root_node(&extra))
			cerr(ctx, "%s:%u:%u: expected a single YAML document", ctx->file,
			     (unsigned)extra.start_mark.line + 1, (unsigned)extra.start_mark.column + 1);
		yaml_document_delete(&extra);
		if (ctx->n_errors)
			goto out;
	}
	if (!root || node_is_null(root))
		goto out;
	if (root->type != YAML_MAPPING_NODE) {
		cerr(ctx, "%s:%u:%u: top level must be a mapping, got %s", ctx->file, node_line(root),
		     (unsigned)root->start_mark.column + 1, node_kind(root));
		goto out;
	}
	lines = calloc(2 * config_n_fields, sizeof(unsigned));
	if (!lines) {
		r = -ENOMEM;
		goto out;
	}
	ctx->doc = &doc;
	walk_map(ctx, root, config_fields, config_n_fields, ctx->c, "", "", lines, lines + config_n_fields);
	ctx->doc = NULL;
	for (size_t i = 0; i < config_n_fields && !r; i++)
		if (lines[i] && config_fields[i].type != FT_SECTION)
			r = set_origin(ctx->c, i, "file:%s:%u", ctx->file, lines[i]);
	free(lines);
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return r;
}

static int read_config_file(const char *path, char **ret, size_t *ret_len)
{
	/* read_file_full grows its buffer with the file: a 4 MiB up-front buffer would leave
	 * the daemon's heap fragmented for its whole life. */
	return read_file_full(path, CONFIG_FILE_MAX, ret, ret_len);
}

/* Common tail: data (may be NULL: no file) is the file layer. */
static int load_common(const char *data, size_t len, const char *name, const struct config_sources *src,
		       struct config **ret, struct config_diag *diag)
{
	_cleanup_(config_freep) struct config *c = NULL;
	struct load_ctx ctx = { .diag = diag, .file = name ? name : "(none)" };
	char **env = src ? src->environ : NULL;
	const char *k8s;
	int r;

	c = config_new();
	if (!c)
		return -ENOMEM;
	ctx.c = c;
	k8s = env_lookup(env, "KUBERNETES_SERVICE_HOST");
	c->in_kubernetes = k8s && *k8s;
	if (name && !(c->config_path = strdup(name)))
		return -ENOMEM;

	if (data) {
		r = load_yaml(&ctx, data, len);
		if (r < 0)
			return r;
	}
	apply_env(&ctx, env);
	if (src) {
		apply_flag(&ctx, "api", "api", src->flag_api);
		apply_flag(&ctx, "mode", "mode", src->flag_mode);
		apply_flag(&ctx, "log_level", "log-level", src->flag_log_level);
	}
	if (ctx.oom)
		return -ENOMEM;
	r = finalize_defaults(c);
	if (r < 0)
		return r;
	validate(&ctx);
	if (ctx.oom)
		return -ENOMEM;
	if (ctx.n_errors > 0)
		return -EINVAL;
	*ret = TAKE_PTR(c);
	return 0;
}

int config_load_buffer(const char *data, size_t len, const char *name, const struct config_sources *src,
		       struct config **ret, struct config_diag *diag)
{
	return load_common(data ? data : "", data ? len : 0, name ? name : "(buffer)", src, ret, diag);
}

int config_load(const struct config_sources *src, struct config **ret, struct config_diag *diag)
{
	_cleanup_free_ char *data = NULL;
	const char *path = NULL;
	bool explicit_path = false;
	size_t len = 0;
	int r;

	if (src && src->config_path) {
		path = src->config_path;
		explicit_path = src->config_path_explicit;
	} else if ((path = env_lookup(src ? src->environ : NULL, "PLEXD_CONFIG")) && *path) {
		explicit_path = true;
	} else
		path = CONFIG_DEFAULT_PATH;

	r = read_config_file(path, &data, &len);
	if (r == -ENOENT && !explicit_path)
		return load_common(NULL, 0, NULL, src, ret, diag);
	if (r < 0) {
		if (r == -ENOMEM)
			return r;
		if (config_diag_add(diag, "%s: cannot read config file: %s", path,
				    r == -EFBIG ? "file too large" : strerror(-r)) < 0)
			return -ENOMEM;
		return r;
	}
	return load_common(data, len, path, src, ret, diag);
}

int config_require_api(const struct config *c, struct config_diag *diag)
{
	if (c->api)
		return 0;
	if (config_diag_add(diag, "api: required, set it in the config file, PLEXD_API or --api (default)") < 0)
		return -ENOMEM;
	return -EINVAL;
}

int config_check_file_owner(const char *path, uid_t uid, struct config_diag *diag)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		int r = negative_errno();
		if (config_diag_add(diag, "%s: cannot stat config file: %s", path, strerror(-r)) < 0)
			return -ENOMEM;
		return r;
	}
	if (st.st_uid != 0 && st.st_uid != uid) {
		if (config_diag_add(diag, "%s: config file must be owned by root (or uid %u), owner is uid %u", path,
				    (unsigned)uid, (unsigned)st.st_uid) < 0)
			return -ENOMEM;
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		if (config_diag_add(diag, "%s: config file must not be writable by group or others (mode %04o)", path,
				    (unsigned)(st.st_mode & 07777)) < 0)
			return -ENOMEM;
		return -EPERM;
	}
	return 0;
}
