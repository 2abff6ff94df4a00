/* Drift correction lists. */
#include <stdarg.h>
#include <stdio.h>

#include "core/drift.h"

int drift_add(struct drift_list *d, const char *type, const char *fmt, ...)
{
	char **t, **x, *detail = NULL, *ty;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&detail, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	ty = strdup(type);
	t = reallocarray(d->types, d->n + 1, sizeof(char *));
	if (t)
		d->types = t;
	x = reallocarray(d->details, d->n + 1, sizeof(char *));
	if (x)
		d->details = x;
	if (!ty || !t || !x) {
		free(ty);
		free(detail);
		return -ENOMEM;
	}
	d->types[d->n] = ty;
	d->details[d->n] = detail;
	d->n++;
	return 0;
}

int drift_splice(struct drift_list *dst, struct drift_list *src)
{
	for (size_t i = 0; i < src->n; i++) {
		int r = drift_add(dst, src->types[i], "%s", src->details[i]);
		if (r < 0)
			return r;
	}
	drift_done(src);
	return 0;
}

void drift_done(struct drift_list *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->types[i]);
		free(d->details[i]);
	}
	free(d->types);
	free(d->details);
	*d = (struct drift_list){};
}
