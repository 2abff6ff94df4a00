/* File helpers: the atomic write rule (agent.md §2.3), bounded reads and data_dir preparation
 * with permission repair (agent.md §2.2). */
#define LOG_COMPONENT "fileio"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "shared/fileio.h"
#include "shared/log.h"
#include "shared/macro.h"

#define TMP_PREFIX ".tmp-"
/* Directory recursion limit for the tree walks below: data_dir is at most a few levels deep,
 * so anything deeper is not ours and is not walked (and cannot exhaust the stack). */
#define WALK_MAX_DEPTH 32

/* Splits path into a malloc'd directory and a pointer to the final component inside path. */
static int path_split(const char *path, char **ret_dir, const char **ret_name)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return -ENOMEM;
	*ret_dir = dir;
	*ret_name = slash ? slash + 1 : path;
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t k = write(fd, p, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			return -EIO;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (fsync(fd) < 0)
		return negative_errno();
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	_cleanup_free_ char *dir = NULL, *tmp = NULL;
	const char *name;
	int fd, r;

	if (isempty(path))
		return -EINVAL;
	r = path_split(path, &dir, &name);
	if (r < 0)
		return r;
	if (isempty(name))
		return -EISDIR;
	if (asprintf(&tmp, "%s/" TMP_PREFIX "%s", dir, name) < 0) {
		tmp = NULL;
		return -ENOMEM;
	}

	/* A temp file left by a crash would make O_EXCL fail forever. */
	if (unlink(tmp) < 0 && errno != ENOENT)
		return negative_errno();

	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return negative_errno();

	/* open() applied the umask; fchmod makes the mode exactly what the caller asked for. */
	if (fchmod(fd, mode) < 0) {
		r = negative_errno();
		goto fail_close;
	}
	r = write_all(fd, data, len);
	if (r < 0)
		goto fail_close;
	if (fsync(fd) < 0) {
		r = negative_errno();
		goto fail_close;
	}
	/* close() can report a deferred write error (NFS); it counts as failure too. */
	if (close(fd) < 0) {
		r = negative_errno();
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		r = negative_errno();
		goto fail;
	}
	/* The new file is in place; a failing directory fsync only means the rename may not be
	 * durable yet, which the caller hears about, but there is nothing left to clean up. */
	return fsync_dir(dir);

fail_close:
	safe_close(fd);
fail:
	(void)unlink(tmp);
	return r;
}

int read_file_full(const char *path, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	size_t size = 0, len = 0;
	struct stat st;

	if (max >= SIZE_MAX - 1)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	/* st_size is a hint only (0 for /proc files); read until EOF, one byte beyond max so
	 * that "exactly max" and "more than max" can be told apart. */
	if (S_ISREG(st.st_mode) && st.st_size > 0)
		size = (size_t)MIN((uint64_t)st.st_size, (uint64_t)max) + 1;

	for (;;) {
		ssize_t k;

		if (len == size) {
			size_t nsize = size < 4096 ? 4096 : size * 2;
			nsize = MIN(nsize, max + 1);
			if (nsize <= len)
				nsize = len + 1;
			char *nbuf = realloc(buf, nsize + 1);
			if (!nbuf)
				return -ENOMEM;
			buf = nbuf;
			size = nsize;
		} else if (!buf) {
			buf = malloc(size + 1);
			if (!buf)
				return -ENOMEM;
		}
		k = read(fd, buf + len, size - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			break;
		len += (size_t)k;
		if (len > max)
			return -EFBIG;
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			return -ENOMEM;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

static int mkdir_one(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == 0) {
		/* mkdir() applied the umask; set the requested mode exactly. */
		if (chmod(path, mode) < 0)
			return negative_errno();
		return 0;
	}
	if (errno != EEXIST)
		return negative_errno();
	if (stat(path, &st) < 0)
		return negative_errno();
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = NULL;
	int r;

	if (isempty(path))
		return -EINVAL;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		if (s[-1] == '/')
			continue; /* "a//b" */
		*s = '\0';
		r = mkdir_one(p, mode);
		*s = '/';
		if (r < 0)
			return r;
	}
	return mkdir_one(p, mode);
}

/* Creates dir 0700 if missing, or resets group/other bits of an existing one. */
static int dir_ensure_private(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return chmod(path, 0700) < 0 ? negative_errno() : 0;
	if (errno != EEXIST)
		return log_error_errno(negative_errno(), "cannot create directory", "path=%s err=%m",
				       path);
	/* stat, not lstat: an operator may point data_dir at another disk with a symlink. */
	if (stat(path, &st) < 0)
		return negative_errno();
	if (!S_ISDIR(st.st_mode))
		return log_error_errno(-ENOTDIR, "not a directory", "path=%s", path);
	if ((st.st_mode & 07777) != 0700) {
		if (chmod(path, 0700) < 0)
			return log_error_errno(negative_errno(), "cannot repair directory mode",
					       "path=%s err=%m", path);
		log_warning("directory mode repaired", "path=%s old_mode=%04o new_mode=0700", path,
			    (unsigned)(st.st_mode & 07777));
	}
	return 0;
}

static int rm_rf_at(int dirfd, const char *name, unsigned depth);

/* Removes every entry of the open directory fd (consumed). */
static int rm_rf_children(int fd, unsigned depth)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > WALK_MAX_DEPTH) {
		safe_close(fd);
		return -ELOOP;
	}
	d = fdopendir(fd);
	if (!d) {
		r = negative_errno();
		safe_close(fd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		int q = rm_rf_at(dirfd(d), de->d_name, depth + 1);
		if (q < 0 && r == 0)
			r = q;
	}
	if (errno != 0 && r == 0)
		r = negative_errno();
	closedir(d);
	return r;
}

static int rm_rf_at(int dirfd, const char *name, unsigned depth)
{
	int fd;

	/* Try as a file first; O_NOFOLLOW|O_DIRECTORY never walks through a symlink. */
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return negative_errno();
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	int r = rm_rf_children(fd, depth);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
		r = negative_errno();
	return r;
}

int rm_rf(const char *path)
{
	if (isempty(path))
		return -EINVAL;
	return rm_rf_at(AT_FDCWD, path, 0);
}

/* Deletes ".tmp-*" entries below the open directory fd (consumed), recursively. */
static int remove_tmp_files(int fd, const char *path, unsigned depth)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > WALK_MAX_DEPTH) {
		safe_close(fd);
		return 0;
	}
	d = fdopendir(fd);
	if (!d) {
		r = negative_errno();
		safe_close(fd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (strneq(de->d_name, TMP_PREFIX, STRLEN(TMP_PREFIX))) {
			int q = rm_rf_at(dirfd(d), de->d_name, 0);
			if (q < 0) {
				log_warning_errno(q, "cannot remove leftover temp file, ignoring",
						  "dir=%s name=%s err=%m", path, de->d_name);
				continue;
			}
			log_debug("removed leftover temp file", "dir=%s name=%s", path, de->d_name);
			continue;
		}
		int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue; /* not a directory (or a symlink): nothing to walk */
		_cleanup_free_ char *subpath = NULL;
		if (asprintf(&subpath, "%s/%s", path, de->d_name) < 0) {
			safe_close(sub);
			r = -ENOMEM;
			break;
		}
		int q = remove_tmp_files(sub, subpath, depth + 1);
		if (q < 0 && r == 0)
			r = q;
	}
	if (errno != 0 && r == 0)
		r = negative_errno();
	closedir(d);
	return r;
}

int data_dir_prepare(const char *path)
{
	static const char *const subdirs[] = { "cache", "state", "pending_results" };
	_cleanup_free_ char *parent = NULL;
	const char *name;
	int fd, r;

	if (isempty(path))
		return -EINVAL;
	/* Missing parents are ordinary system directories, not private ones. */
	r = path_split(path, &parent, &name);
	if (r < 0)
		return r;
	r = mkdir_p(parent, 0755);
	if (r < 0)
		return log_error_errno(r, "cannot create parent of data_dir", "path=%s err=%m", parent);
	r = dir_ensure_private(path);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(subdirs); i++) {
		_cleanup_free_ char *sub = NULL;
		if (asprintf(&sub, "%s/%s", path, subdirs[i]) < 0)
			return log_oom();
		r = dir_ensure_private(sub);
		if (r < 0)
			return r;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(negative_errno(), "cannot open data_dir", "path=%s err=%m", path);
	r = remove_tmp_files(fd, path, 0);
	if (r < 0)
		return log_error_errno(r, "cannot scan data_dir for temp files", "path=%s err=%m", path);
	return 0;
}

int file_tighten_mode(const char *path)
{
	struct stat st;
	mode_t mode;

	if (stat(path, &st) < 0)
		return negative_errno();
	mode = st.st_mode & 07777;
	if ((mode & ~(mode_t)0600) == 0)
		return 0;
	if (chmod(path, 0600) < 0)
		return log_error_errno(negative_errno(), "cannot tighten file mode", "path=%s err=%m",
				       path);
	log_warning("file mode too loose, tightened", "path=%s old_mode=%04o new_mode=0600", path,
		    (unsigned)mode);
	return 0;
}

int file_move_corrupt(const char *path)
{
	_cleanup_free_ char *dest = NULL;

	if (asprintf(&dest, "%s.corrupt", path) < 0)
		return -ENOMEM;
	if (rename(path, dest) < 0)
		return log_error_errno(negative_errno(), "cannot move corrupt file aside",
				       "path=%s err=%m", path);
	log_warning("corrupt file moved aside", "path=%s moved_to=%s", path, dest);
	return 0;
}
