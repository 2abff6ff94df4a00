/* Small language helpers used everywhere: cleanup attributes, ownership transfer, sizes. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define CLAMP(x, lo, hi) MIN(MAX((x), (lo)), (hi))

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)
#define STRLEN(s) (sizeof(s) - 1)

/* Take ownership of a pointer: returns it and leaves NULL behind, so the cleanup handler of
 * the source variable becomes a no-op. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp_ = (p);                                                          \
		(p) = NULL;                                                                        \
		_tp_;                                                                              \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tf_ = (fd);                                                                   \
		(fd) = -EBADF;                                                                     \
		_tf_;                                                                              \
	})

static inline void *mfree(void *p)
{
	free(p);
	return NULL;
}

static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -EBADF;
}

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	safe_close(*fd);
}

/* Wipes and frees a string that held secret material. */
static inline void erase_and_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
static inline void erase_and_freep(char **s)
{
	erase_and_free(*s);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_erase_ _cleanup_(erase_and_freep)

/* DEFINE_TRIVIAL_CLEANUP_FUNC(struct foo *, foo_free) defines foo_freep(). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                   \
	static inline void func##p(type *p)                                                        \
	{                                                                                          \
		if (*p)                                                                            \
			func(*p);                                                                  \
	}

static inline const char *strempty(const char *s)
{
	return s ? s : "";
}
static inline bool isempty(const char *s)
{
	return !s || !*s;
}

/* Negative errno from a libc call that sets errno (never returns 0 for a failure). */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}
