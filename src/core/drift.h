/* A list of drift corrections {type, detail} (control-plane-api.md §8.10) collected during one
 * reconcile cycle or one event, sent as one drift report. */
#pragma once

#include <stddef.h>

#include "shared/macro.h"

struct drift_list {
	char **types;
	char **details;
	size_t n;
};

int drift_add(struct drift_list *d, const char *type, const char *fmt, ...) _printf_(3, 4);
/* Moves every entry of src to the end of dst. */
int drift_splice(struct drift_list *dst, struct drift_list *src);
void drift_done(struct drift_list *d);
