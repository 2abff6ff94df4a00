/* Unit tests for fileio.c: the atomic write rule (agent.md §2.3) including failure paths,
 * bounded reads, data_dir preparation and permission repair (agent.md §2.2). */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "shared/fileio.h"
#include "shared/log.h"
#include "shared/macro.h"

static char root[64];
static unsigned warnings;
static char last_line[4096];

static void sink(int level, const char *line, void *userdata)
{
	if (level == LOG_WARNING)
		warnings++;
	snprintf(last_line, sizeof last_line, "%s", line);
}

static int setup(void **state)
{
	strcpy(root, "/tmp/plexd-test-fileio-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	warnings = 0;
	log_set_sink(sink, NULL);
	return 0;
}

static int teardown(void **state)
{
	log_set_sink(NULL, NULL);
	umask(022);
	return rm_rf(root);
}

static char *p(const char *rel)
{
	static char bufs[4][512];
	static unsigned i;
	char *b = bufs[i++ % 4];
	snprintf(b, sizeof bufs[0], "%s/%s", root, rel);
	return b;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void put(const char *path, const char *content, mode_t mode)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void assert_content(const char *path, const char *want)
{
	_cleanup_free_ char *buf = NULL;
	size_t n;
	assert_int_equal(read_file_full(path, 1 << 20, &buf, &n), 0);
	assert_int_equal(n, strlen(want));
	assert_string_equal(buf, want);
}

/* No ".tmp-*" entry in dir. */
static void assert_no_temp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strneq(de->d_name, ".tmp-", 5))
			fail_msg("temp file left: %s/%s", dir, de->d_name);
	closedir(d);
}

static void test_atomic_modes(void **state)
{
	static const mode_t umasks[] = { 0, 077, 022, 0777 };
	static const mode_t modes[] = { 0600, 0644, 0640, 0400, 0755 };

	for (size_t u = 0; u < ELEMENTSOF(umasks); u++)
		for (size_t m = 0; m < ELEMENTSOF(modes); m++) {
			char content[64];
			umask(umasks[u]);
			snprintf(content, sizeof content, "umask=%o mode=%o\n", umasks[u], modes[m]);
			assert_int_equal(write_file_atomic(p("f"), content, strlen(content), modes[m]), 0);
			assert_int_equal(mode_of(p("f")), modes[m]);
			assert_content(p("f"), content);
			assert_no_temp(root);
			/* Replacing an existing file with a different mode gives the new mode. */
			assert_int_equal(unlink(p("f")), 0);
		}
	umask(022);
	put(p("g"), "old", 0644);
	assert_int_equal(write_file_atomic(p("g"), "new", 3, 0600), 0);
	assert_int_equal(mode_of(p("g")), 0600);
	assert_content(p("g"), "new");
	/* Empty content is a valid file. */
	assert_int_equal(write_file_atomic(p("g"), "", 0, 0600), 0);
	assert_content(p("g"), "");
}

static void test_atomic_stale_temp(void **state)
{
	/* A stale temp file (even unreadable) is removed, not reused. */
	put(p(".tmp-f"), "stale garbage", 0000);
	put(p("f"), "old", 0600);
	assert_int_equal(write_file_atomic(p("f"), "fresh", 5, 0600), 0);
	assert_content(p("f"), "fresh");
	assert_no_temp(root);

	/* A stale temp that is a symlink is removed, its target untouched. */
	put(p("target"), "keep", 0600);
	assert_int_equal(symlink(p("target"), p(".tmp-f")), 0);
	assert_int_equal(write_file_atomic(p("f"), "again", 5, 0600), 0);
	assert_content(p("f"), "again");
	assert_content(p("target"), "keep");
	assert_no_temp(root);
}

static void test_atomic_failure_write(void **state)
{
	struct rlimit old, lim = { .rlim_cur = 16, .rlim_max = RLIM_INFINITY };
	char big[4096];
	void (*prev)(int);

	put(p("f"), "old content", 0600);
	memset(big, 'x', sizeof big);

	/* A file size limit makes write() fail half way (EFBIG instead of SIGXFSZ). */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim.rlim_max = old.rlim_max;
	prev = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int r = write_file_atomic(p("f"), big, sizeof big, 0600);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);

	assert_int_equal(r, -EFBIG);
	assert_content(p("f"), "old content");
	assert_int_equal(mode_of(p("f")), 0600);
	assert_no_temp(root);
}

static void test_atomic_failure_rename(void **state)
{
	/* Target is a non-empty directory: rename fails after the temp file was written. */
	assert_int_equal(mkdir(p("d"), 0700), 0);
	put(p("d/inner"), "inner", 0600);
	assert_true(write_file_atomic(p("d"), "data", 4, 0600) < 0);
	assert_content(p("d/inner"), "inner");
	assert_no_temp(root);

	/* The temp name is occupied by a non-empty directory: fail before touching anything. */
	put(p("f"), "old", 0600);
	assert_int_equal(mkdir(p(".tmp-f"), 0700), 0);
	put(p(".tmp-f/x"), "x", 0600);
	assert_true(write_file_atomic(p("f"), "new", 3, 0600) < 0);
	assert_content(p("f"), "old");
	assert_content(p(".tmp-f/x"), "x");

	/* Missing directory. */
	assert_int_equal(write_file_atomic(p("nodir/f"), "x", 1, 0600), -ENOENT);
	assert_int_equal(write_file_atomic("", "x", 1, 0600), -EINVAL);
	assert_int_equal(write_file_atomic(p("d/"), "x", 1, 0600), -EISDIR);
}

static void test_read_file_full(void **state)
{
	_cleanup_free_ char *buf = NULL;
	size_t n;

	put(p("ten"), "0123456789", 0600);
	assert_int_equal(read_file_full(p("ten"), 10, &buf, &n), 0);
	assert_int_equal(n, 10);
	assert_string_equal(buf, "0123456789");
	buf = mfree(buf);
	assert_int_equal(read_file_full(p("ten"), 9, &buf, &n), -EFBIG);
	assert_null(buf);
	assert_int_equal(read_file_full(p("ten"), 0, &buf, &n), -EFBIG);

	put(p("empty"), "", 0600);
	assert_int_equal(read_file_full(p("empty"), 0, &buf, &n), 0);
	assert_int_equal(n, 0);
	assert_string_equal(buf, "");
	buf = mfree(buf);

	/* A larger file crosses the growth steps. */
	_cleanup_free_ char *big = malloc(100001);
	assert_non_null(big);
	for (size_t i = 0; i < 100000; i++)
		big[i] = (char)('a' + i % 26);
	big[100000] = '\0';
	assert_int_equal(write_file_atomic(p("big"), big, 100000, 0600), 0);
	assert_int_equal(read_file_full(p("big"), 100000, &buf, &n), 0);
	assert_int_equal(n, 100000);
	assert_memory_equal(buf, big, 100000);
	buf = mfree(buf);
	assert_int_equal(read_file_full(p("big"), 99999, &buf, &n), -EFBIG);

	/* Size 0 in stat, content on read. */
	assert_int_equal(read_file_full("/proc/self/status", 1 << 20, &buf, &n), 0);
	assert_true(n > 0);
	assert_non_null(strstr(buf, "Name:"));
	buf = mfree(buf);
	assert_int_equal(read_file_full("/proc/self/status", 4, &buf, &n), -EFBIG);

	assert_int_equal(read_file_full(p("missing"), 10, &buf, &n), -ENOENT);
	assert_int_equal(read_file_full(root, 10, &buf, &n), -EISDIR);
	assert_null(buf);
}

static void test_mkdir_p(void **state)
{
	umask(077);
	assert_int_equal(mkdir_p(p("a/b//c/"), 0755), 0);
	assert_int_equal(mode_of(p("a")), 0755);
	assert_int_equal(mode_of(p("a/b/c")), 0755);
	/* Existing directories keep their mode. */
	assert_int_equal(chmod(p("a/b"), 0711), 0);
	assert_int_equal(mkdir_p(p("a/b/c/d"), 0700), 0);
	assert_int_equal(mode_of(p("a/b")), 0711);
	assert_int_equal(mode_of(p("a/b/c/d")), 0700);
	put(p("a/file"), "x", 0600);
	assert_int_equal(mkdir_p(p("a/file/x"), 0700), -ENOTDIR);
	assert_int_equal(mkdir_p(p("a/file"), 0700), -ENOTDIR);
	assert_int_equal(mkdir_p("", 0700), -EINVAL);
	umask(022);
}

static void test_data_dir_fresh(void **state)
{
	static const char *const subdirs[] = { "cache", "state", "pending_results" };

	umask(0);
	assert_int_equal(data_dir_prepare(p("var/lib/plexd")), 0);
	assert_int_equal(mode_of(p("var/lib")), 0755);
	assert_int_equal(mode_of(p("var/lib/plexd")), 0700);
	for (size_t i = 0; i < ELEMENTSOF(subdirs); i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "var/lib/plexd/%s", subdirs[i]);
		assert_int_equal(mode_of(p(rel)), 0700);
	}
	assert_int_equal(warnings, 0);
	/* Idempotent. */
	assert_int_equal(data_dir_prepare(p("var/lib/plexd")), 0);
	assert_int_equal(warnings, 0);
	umask(022);
}

static void test_data_dir_repair(void **state)
{
	assert_int_equal(mkdir(p("dd"), 0755), 0);
	assert_int_equal(chmod(p("dd"), 0755), 0);
	assert_int_equal(mkdir(p("dd/state"), 0700), 0);
	assert_int_equal(chmod(p("dd/state"), 0777), 0);
	assert_int_equal(data_dir_prepare(p("dd")), 0);
	assert_int_equal(mode_of(p("dd")), 0700);
	assert_int_equal(mode_of(p("dd/state")), 0700);
	assert_int_equal(warnings, 2);
	assert_non_null(strstr(last_line, "level=warn"));
	assert_non_null(strstr(last_line, "old_mode=0777"));

	/* A symlinked data_dir is followed (data on another disk). */
	assert_int_equal(mkdir(p("real"), 0700), 0);
	assert_int_equal(symlink(p("real"), p("linked")), 0);
	assert_int_equal(data_dir_prepare(p("linked")), 0);
	assert_int_equal(mode_of(p("real/cache")), 0700);

	/* Not a directory. */
	put(p("notdir"), "x", 0600);
	assert_int_equal(data_dir_prepare(p("notdir")), -ENOTDIR);
}

static void test_data_dir_temp_cleanup(void **state)
{
	assert_int_equal(data_dir_prepare(p("dd")), 0);
	assert_int_equal(mkdir_p(p("dd/state/data"), 0700), 0);
	assert_int_equal(mkdir(p("outside"), 0700), 0);
	put(p("outside/.tmp-keep"), "not ours", 0600);
	assert_int_equal(symlink(p("outside"), p("dd/cache/link")), 0);

	static const char *const tmp[] = {
		"dd/.tmp-identity.json", "dd/cache/.tmp-peers.json", "dd/state/data/.tmp-x%2Fy.json",
		"dd/pending_results/.tmp-e1.json",
	};
	static const char *const keep[] = {
		"dd/identity.json", "dd/cache/peers.json", "dd/state/data/x.json", "dd/tmp-no-dot",
		"dd/cache/x.tmp-y", "outside/.tmp-keep",
	};
	for (size_t i = 0; i < ELEMENTSOF(tmp); i++)
		put(p(tmp[i]), "partial", 0600);
	for (size_t i = 0; i < ELEMENTSOF(keep); i++)
		put(p(keep[i]), "complete", 0600);
	assert_int_equal(mkdir(p("dd/state/.tmp-dir"), 0700), 0); /* a directory is removed too */
	put(p("dd/state/.tmp-dir/inner"), "x", 0600);

	assert_int_equal(data_dir_prepare(p("dd")), 0);
	for (size_t i = 0; i < ELEMENTSOF(tmp); i++)
		if (exists(p(tmp[i])))
			fail_msg("not removed: %s", tmp[i]);
	assert_false(exists(p("dd/state/.tmp-dir")));
	for (size_t i = 0; i < ELEMENTSOF(keep); i++)
		assert_content(p(keep[i]), "complete");
	assert_true(exists(p("dd/cache/link")));
}

static void test_tighten_mode(void **state)
{
	static const struct {
		mode_t in, out;
		bool warn;
	} v[] = {
		{ 0600, 0600, false }, { 0400, 0400, false }, { 0200, 0200, false }, { 0000, 0000, false },
		{ 0644, 0600, true },  { 0640, 0600, true },  { 0604, 0600, true },  { 0700, 0600, true },
		{ 0666, 0600, true },  { 04600, 0600, true }, { 0777, 0600, true },
	};
	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		warnings = 0;
		put(p("k"), "secret", 0600);
		assert_int_equal(chmod(p("k"), v[i].in), 0);
		assert_int_equal(file_tighten_mode(p("k")), 0);
		assert_int_equal(mode_of(p("k")), v[i].out);
		assert_int_equal(warnings, v[i].warn ? 1 : 0);
		assert_int_equal(unlink(p("k")), 0);
	}
	assert_int_equal(file_tighten_mode(p("missing")), -ENOENT);
}

static void test_move_corrupt(void **state)
{
	put(p("peers.json"), "{broken", 0600);
	put(p("peers.json.corrupt"), "older", 0600);
	assert_int_equal(file_move_corrupt(p("peers.json")), 0);
	assert_false(exists(p("peers.json")));
	assert_content(p("peers.json.corrupt"), "{broken");
	assert_int_equal(warnings, 1);
	assert_true(file_move_corrupt(p("peers.json")) < 0);
}

static void test_rm_rf(void **state)
{
	assert_int_equal(mkdir_p(p("t/a/b/c"), 0700), 0);
	put(p("t/a/b/c/f"), "x", 0600);
	put(p("t/f"), "x", 0000);
	assert_int_equal(mkdir(p("keep"), 0700), 0);
	put(p("keep/f"), "keep", 0600);
	assert_int_equal(symlink(p("keep"), p("t/a/link")), 0);
	assert_int_equal(chmod(p("t/a/b"), 0500), 0);

	assert_int_equal(rm_rf(p("t")), 0);
	assert_false(exists(p("t")));
	assert_content(p("keep/f"), "keep"); /* symlink not followed */
	assert_int_equal(rm_rf(p("t")), 0);  /* missing is fine */
	put(p("single"), "x", 0600);
	assert_int_equal(rm_rf(p("single")), 0);
	assert_false(exists(p("single")));
	assert_int_equal(rm_rf(""), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_atomic_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_stale_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_failure_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_failure_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_file_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_dir_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_dir_repair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_dir_temp_cleanup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tighten_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rm_rf, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
