/* File helpers: the atomic write rule of agent.md §2.3, bounded reads, data_dir preparation
 * and permission repair (agent.md §2.2). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Atomically replaces path with data: <dir>/.tmp-<name> created O_EXCL with mode (a stale
 * temp file is removed first), written, fsync'd, renamed, directory fsync'd. The mode is
 * applied with fchmod so the umask cannot loosen or tighten it. On error the temp file is
 * removed and the old file is untouched. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Reads a whole file up to max bytes; -EFBIG when larger. *ret is NUL-terminated. */
int read_file_full(const char *path, size_t max, char **ret, size_t *ret_len);

/* mkdir -p; created directories get mode; existing ones are left as they are. */
int mkdir_p(const char *path, mode_t mode);

/* Creates path with 0700 if missing; if it exists with group/other bits, resets it to 0700
 * and logs a warning. Sub-directories "cache", "state", "pending_results" are created 0700.
 * Leftover ".tmp-*" files anywhere below are deleted. */
int data_dir_prepare(const char *path);

/* If path's mode is looser than 0600 (any group/other bit, or owner x), chmod it to 0600 and
 * log a warning. 0 when fine or fixed, negative errno otherwise (-ENOENT passes through). */
int file_tighten_mode(const char *path);

/* Renames path to path.corrupt (overwriting an older one) and logs a warning. */
int file_move_corrupt(const char *path);

/* Removes a directory tree (no symlink following). Missing path is success. */
int rm_rf(const char *path);
