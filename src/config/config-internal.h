/* Private to src/config: the schema table shared by loading, printing and the reload diff. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <yaml.h>

#include "config/config.h"

enum field_type {
	FT_SECTION, /* a mapping of further keys */
	FT_STR,
	FT_BOOL,
	FT_INT,     /* int */
	FT_DUR,     /* int64_t ns */
	FT_SIZE,    /* uint64_t */
	FT_CPU,     /* uint64_t millicores */
	FT_ENUM,    /* enum stored as int */
	FT_STRV,    /* struct config_strv */
	FT_ENUMSET, /* unsigned bitmask */
	FT_SPECIAL, /* list of maps / map: parsed, printed and compared by callbacks */
};

#define F_RELOAD (1U << 0)   /* hot-reloadable (§1.6) */
#define F_ZERO (1U << 1)     /* 0 allowed besides the range */
#define F_WHOLE_SEC (1U << 2) /* durations: whole seconds only */
#define F_NOMAX (1U << 3)    /* range has a minimum only */

struct load_ctx;

struct field {
	const char *name; /* schema path (or entry field path) */
	enum field_type type;
	size_t offset;
	const char *const *enums; /* NULL-terminated, FT_ENUM / FT_ENUMSET */
	const char *def;          /* default literal in env syntax; NULL = "" for strings */
	int64_t min, max;         /* FT_INT / FT_DUR / FT_SIZE range, inclusive */
	unsigned flags;
	/* FT_SPECIAL */
	int (*parse)(struct load_ctx *ctx, yaml_node_t *node, void *base, const char *path);
	json_t *(*to_json)(const void *base);
};

extern const struct field config_fields[];
extern const size_t config_n_fields;
extern const struct field config_hook_fields[];
extern const size_t config_n_hook_fields;
extern const struct field config_hook_param_fields[];
extern const size_t config_n_hook_param_fields;
extern const struct field config_access_fields[];
extern const size_t config_n_access_fields;
extern const struct field config_s2s_fields[];
extern const size_t config_n_s2s_fields;

/* Parsers/serialisers of the list-of-map keys live in config.c / config-print.c. */
int config_parse_metadata(struct load_ctx *ctx, yaml_node_t *node, void *base, const char *path);
int config_parse_log_filters(struct load_ctx *ctx, yaml_node_t *node, void *base, const char *path);
int config_parse_hooks(struct load_ctx *ctx, yaml_node_t *node, void *base, const char *path);
int config_parse_bridge_access(struct load_ctx *ctx, yaml_node_t *node, void *base, const char *path);
int config_parse_site_to_site(struct load_ctx *ctx, yaml_node_t *node, void *base, const char *path);
int config_parse_hook_params(struct load_ctx *ctx, yaml_node_t *node, void *base, const char *path);
json_t *config_metadata_to_json(const void *base);
json_t *config_log_filters_to_json(const void *base);
json_t *config_hooks_to_json(const void *base);
json_t *config_bridge_access_to_json(const void *base);
json_t *config_site_to_site_to_json(const void *base);

/* Generic value helpers (config.c), also used by config-print.c. */
void config_field_free(const struct field *f, void *base);
const char *config_quote(const char *s, char *buf, size_t size);
void config_format_duration(int64_t ns, char *buf, size_t size);
int config_diag_add(struct config_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool config_ifname_valid(const char *s, size_t max);
/* PLEXD_<PATH> name of a key (§1.5). */
void config_env_name(const char *path, char *out, size_t size);

struct origin {
	char *text; /* NULL = default */
	bool explicit_set;
};

struct config_meta {
	struct origin *o; /* config_n_fields entries */
};

json_t *config_field_to_json(const struct field *f, const void *base);
