/* Unit tests for log.c: level names, record format and quoting, the _errno variants, level
 * filtering, truncation and the journald "<N>" prefix. */
#define LOG_COMPONENT "test"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "shared/log.h"
#include "shared/macro.h"

static char line[8192];
static int line_level;
static unsigned calls;

static void sink(int level, const char *l, void *userdata)
{
	calls++;
	line_level = level;
	snprintf(line, sizeof line, "%s", l);
}

static int setup(void **state)
{
	calls = 0;
	line[0] = '\0';
	log_set_max_level(LOG_DEBUG);
	log_set_sink(sink, NULL);
	return 0;
}

static int teardown(void **state)
{
	log_set_sink(NULL, NULL);
	log_set_max_level(LOG_INFO);
	return 0;
}

/* The record after the "time=... " field. */
static const char *body(void)
{
	assert_true(strneq(line, "time=", 5));
	/* time=YYYY-MM-DDTHH:MM:SS.mmmZ is 29 characters, then one space. */
	assert_int_equal(strlen(line) > 30, true);
	assert_int_equal(line[28], 'Z');
	assert_int_equal(line[29], ' ');
	return line + 30;
}

static void test_levels(void **state)
{
	static const struct {
		const char *s;
		int level;
	} v[] = {
		{ "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "notice", LOG_NOTICE }, { "warn", LOG_WARNING },
		{ "warning", LOG_WARNING }, { "error", LOG_ERR }, { "WARN", -EINVAL }, { "", -EINVAL },
		{ "fatal", -EINVAL }, { "info ", -EINVAL },
	};
	for (size_t i = 0; i < ELEMENTSOF(v); i++)
		assert_int_equal(log_level_from_string(v[i].s), v[i].level);
	assert_int_equal(log_level_from_string(NULL), -EINVAL);

	assert_string_equal(log_level_to_string(LOG_DEBUG), "debug");
	assert_string_equal(log_level_to_string(LOG_INFO), "info");
	assert_string_equal(log_level_to_string(LOG_NOTICE), "notice");
	assert_string_equal(log_level_to_string(LOG_WARNING), "warn");
	assert_string_equal(log_level_to_string(LOG_ERR), "error");
	assert_string_equal(log_level_to_string(LOG_CRIT), "error");
	assert_string_equal(log_level_to_string(-1), "unknown");
	assert_string_equal(log_level_to_string(8), "unknown");

	log_set_max_level(100);
	assert_int_equal(log_get_max_level(), LOG_DEBUG);
	log_set_max_level(-5);
	assert_int_equal(log_get_max_level(), LOG_EMERG);
}

static void test_format(void **state)
{
	static const struct {
		int level;
		const char *want;
	} v[] = {
		{ LOG_DEBUG, "level=debug component=test msg=\"peer added\" peer=p1 endpoint=1.2.3.4:51820" },
		{ LOG_INFO, "level=info component=test msg=\"peer added\" peer=p1 endpoint=1.2.3.4:51820" },
		{ LOG_NOTICE, "level=notice component=test msg=\"peer added\" peer=p1 endpoint=1.2.3.4:51820" },
		{ LOG_WARNING, "level=warn component=test msg=\"peer added\" peer=p1 endpoint=1.2.3.4:51820" },
		{ LOG_ERR, "level=error component=test msg=\"peer added\" peer=p1 endpoint=1.2.3.4:51820" },
	};
	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		(void)log_full_errno(v[i].level, 0, "peer added", "peer=%s endpoint=%s:%d", "p1", "1.2.3.4",
				     51820);
		assert_int_equal(line_level, v[i].level);
		assert_string_equal(body(), v[i].want);
	}

	log_info("started");
	assert_string_equal(body(), "level=info component=test msg=\"started\"");
	log_warning("no fields either", "");
	assert_string_equal(body(), "level=warn component=test msg=\"no fields either\"");
	log_info("started", "  indented=%d", 1); /* only the macro's own space is removed */
	assert_string_equal(body(), "level=info component=test msg=\"started\"   indented=1");
}

static void test_quoting(void **state)
{
	log_info("say \"hi\" \\ bye\nnext\tline");
	assert_string_equal(body(), "level=info component=test msg=\"say \\\"hi\\\" \\\\ bye next line\"");
	/* Fields cannot break the one-record-per-line rule either. */
	log_info("x", "v=%s", "a\nb\rc");
	assert_string_equal(body(), "level=info component=test msg=\"x\" v=a b c");
	assert_null(strchr(line, '\n'));
}

static void test_errno_variants(void **state)
{
	errno = EAGAIN;
	int r = log_error_errno(-ENOENT, "cannot open", "path=%s err=%m", "/x");
	assert_int_equal(r, -ENOENT);
	assert_int_equal(errno, EAGAIN); /* preserved */
	assert_string_equal(body(), "level=error component=test msg=\"cannot open\" path=/x err=No such file or directory");

	assert_int_equal(log_warning_errno(EACCES, "denied", "err=%m"), -EACCES);
	assert_string_equal(body(), "level=warn component=test msg=\"denied\" err=Permission denied");
	assert_int_equal(log_oom(), -ENOMEM);
	assert_string_equal(body(), "level=error component=test msg=\"out of memory\"");

	/* Filtered records are not emitted but still return the error. */
	log_set_max_level(LOG_INFO);
	calls = 0;
	assert_int_equal(log_debug_errno(-EIO, "hidden", "x=%d", 1), -EIO);
	assert_int_equal(log_debug_errno(EIO, "hidden"), -EIO);
	log_debug("hidden");
	assert_int_equal(calls, 0);
	log_info("shown");
	assert_int_equal(calls, 1);
	log_set_max_level(LOG_ERR);
	log_warning("hidden");
	assert_int_equal(calls, 1);
	assert_int_equal(log_error_errno(0, "no error"), 0);
	assert_int_equal(calls, 2);
}

static void test_truncation(void **state)
{
	_cleanup_free_ char *big = malloc(10000);
	assert_non_null(big);
	memset(big, 'y', 9999);
	big[9999] = '\0';

	log_info("long fields", "v=%s", big);
	assert_true(strlen(line) < 4096);
	assert_true(strlen(line) > 4000);
	log_info(big);
	assert_true(strlen(line) < 4096);
	log_info(big, "after=%d", 1);
	assert_true(strlen(line) < 4096);
}

/* With stderr on the journal stream, records start with "<N>" instead of a time. */
static void test_journal_prefix(void **state)
{
	char path[] = "/tmp/plexd-test-log-XXXXXX";
	char env[64], buf[512];
	struct stat st;
	int fd, saved;
	ssize_t n;

	log_set_sink(NULL, NULL);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	snprintf(env, sizeof env, "%lu:%lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	setenv("JOURNAL_STREAM", env, 1);
	log_open();
	log_warning("to journal", "k=v");
	log_info("second");
	unsetenv("JOURNAL_STREAM");
	log_open();
	log_info("plain");
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);

	n = pread(fd, buf, sizeof buf - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	close(fd);
	unlink(path);
	assert_true(strneq(buf, "<4>level=warn component=test msg=\"to journal\" k=v\n"
				"<6>level=info component=test msg=\"second\"\n"
				"time=",
			   strlen("<4>level=warn component=test msg=\"to journal\" k=v\n"
				  "<6>level=info component=test msg=\"second\"\n"
				  "time=")));
	assert_non_null(strstr(buf, "Z level=info component=test msg=\"plain\"\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quoting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errno_variants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_prefix, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
