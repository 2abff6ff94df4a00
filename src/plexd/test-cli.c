/* Tests of the plexd command line: main.c is compiled in with main renamed to plexd_main, so
 * the real global-flag parsing, command table, output and exit codes are exercised. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <jansson.h>

#include "shared/fileio.h"
#include "shared/macro.h"
#include "version.h"

int plexd_main(int argc, char **argv);

static char out[65536], err[65536];
static char dir[64];

static void slurp(int fd, char *buf, size_t size)
{
	ssize_t n;
	size_t got = 0;

	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
}

/* Runs plexd_main with the given words (NULL-terminated), capturing stdout and stderr. */
static int run(const char *first, ...)
{
	char *argv[32] = {(char *)"plexd"};
	int argc = 1, r, saved_out, saved_err, fo, fe;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);

	fflush(stdout);
	fflush(stderr);
	fo = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	fe = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	assert_true(fo >= 0 && fe >= 0);
	saved_out = dup(1);
	saved_err = dup(2);
	dup2(fo, 1);
	dup2(fe, 2);
	r = plexd_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	slurp(fo, out, sizeof out);
	slurp(fe, err, sizeof err);
	close(fo);
	close(fe);
	return r;
}

static void write_file(const char *name, const char *text, char *path, size_t size)
{
	snprintf(path, size, "%s/%s", dir, name);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_version(void **state)
{
	char want[256];
	const char *variants[][3] = {
	    {"--version", NULL},
	    {"version", NULL},
	    {"status", "--version"}, /* global flag anywhere wins */
	};
	for (size_t i = 0; i < ELEMENTSOF(variants); i++) {
		assert_int_equal(run(variants[i][0], variants[i][1], NULL), 0);
		snprintf(want, sizeof want, "plexd version %s\ncommit: %s\nbuilt: ", PLEXD_VERSION,
			 PLEXD_COMMIT);
		assert_true(strneq(out, want, strlen(want)));
		assert_int_equal(count_lines(out), 3);
		/* built: YYYY-MM-DD */
		const char *b = out + strlen(want);
		assert_int_equal(strlen(b), 11);
		assert_true(b[4] == '-' && b[7] == '-' && b[10] == '\n');
		assert_string_equal(err, "");
	}
	assert_int_equal(run("version", "extra", NULL), 2);
}

static void test_usage_errors(void **state)
{
	static const struct {
		const char *a, *b, *c;
		int code;
		const char *err;
	} cases[] = {
	    {NULL, NULL, NULL, 2, "Usage: plexd"},
	    {"bogus", NULL, NULL, 2, "plexd: unknown command 'bogus' (see plexd --help)\n"},
	    {"config", NULL, NULL, 2, "plexd config: missing subcommand\n"},
	    {"config", "bogus", NULL, 2, "plexd config: unknown command 'bogus'\n"},
	    {"--config", NULL, NULL, 2, "plexd: option --config requires an argument\n"},
	    {"status", "--api", NULL, 2, "plexd: option --api requires an argument\n"},
	    {"up", "extra", NULL, 2, "plexd up: unexpected argument 'extra'\n"},
	    {"status", "--all", NULL, 2, "plexd status: unexpected argument '--all'\n"},
	    {"config", "check", "x", 2, "plexd config check: unexpected argument 'x'\n"},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		int r = run(cases[i].a, cases[i].b, cases[i].c, NULL);
		assert_int_equal(r, cases[i].code);
		assert_true(strneq(err, cases[i].err, strlen(cases[i].err)));
		assert_string_equal(out, "");
	}
}

static void test_help(void **state)
{
	const char *variants[] = {"-h", "--help", "help"};
	for (size_t i = 0; i < ELEMENTSOF(variants); i++) {
		assert_int_equal(run(variants[i], NULL), 0);
		assert_non_null(strstr(out, "Usage: plexd [global flags] <command>"));
		/* The help lists the command table. */
		assert_non_null(strstr(out, "  up "));
		assert_non_null(strstr(out, "  config check "));
		assert_non_null(strstr(out, "  status "));
		assert_string_equal(err, "");
	}
}

static void test_config_check(void **state)
{
	char good[128], bad[128], flag[160];

	write_file("good.yaml", "api: https://cp.example.com\nlog_level: warn\n", good,
		   sizeof good);
	write_file("bad.yaml",
		   "api: ftp://cp.example.com\n"
		   "log_level: loud\n"
		   "mesh:\n"
		   "  interfce: wg0\n"
		   "  listen_port: 70000\n",
		   bad, sizeof bad);

	assert_int_equal(run("config", "check", "--config", good, NULL), 0);
	assert_non_null(strstr(out, "log_level = \"warn\""));
	assert_non_null(strstr(out, "api = \"https://cp.example.com\""));
	assert_string_equal(err, "");

	/* Global flags before the command, --flag=value form, flag override. */
	snprintf(flag, sizeof flag, "--config=%s", good);
	assert_int_equal(run("--json", flag, "--log-level", "debug", "config", "check", NULL), 0);
	json_t *j = json_loads(out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "log_level")), "debug");
	json_decref(j);

	/* One line per mistake, exit 2, nothing on stdout. */
	assert_int_equal(run("config", "check", "--config", bad, NULL), 2);
	assert_string_equal(out, "");
	assert_int_equal(count_lines(err), 4);
	for (const char *l = err; *l; l = strchr(l, '\n') + 1)
		assert_true(strneq(l, "plexd: config: ", 15));
	assert_non_null(strstr(err, "mesh.interfce"));
	assert_non_null(strstr(err, "mesh.listen_port"));
	assert_non_null(strstr(err, "log_level"));
	assert_non_null(strstr(err, "api"));

	/* An explicit path that does not exist is a config error. */
	assert_int_equal(run("config", "check", "--config", "/nonexistent/plexd.yaml", NULL), 2);
}

static void test_status_unreachable(void **state)
{
	char cfgp[128], text[256];

	snprintf(text, sizeof text,
		 "api: https://cp.example.com\nactions:\n  socket: %s/none.sock\n", dir);
	write_file("status.yaml", text, cfgp, sizeof cfgp);
	assert_int_equal(run("status", "--config", cfgp, NULL), 3);
	assert_true(strneq(err, "plexd status: daemon not reachable at ", 38));
	assert_string_equal(out, "");
}

static void test_up_config_errors(void **state)
{
	char cfgp[128], text[256];

	/* No api anywhere: config error naming api, exit 2, before any side effect. */
	snprintf(text, sizeof text, "data_dir: %s/data\n", dir);
	write_file("noapi.yaml", text, cfgp, sizeof cfgp);
	assert_int_equal(run("up", "--config", cfgp, NULL), 2);
	assert_non_null(strstr(err, "plexd: config: api:"));
	snprintf(text, sizeof text, "%s/data", dir);
	assert_int_equal(access(text, F_OK), -1);

	/* Group-writable config file is refused for up (§1.1 rule 4). */
	snprintf(text, sizeof text, "api: https://cp.example.com\ndata_dir: %s/data\n", dir);
	write_file("loose.yaml", text, cfgp, sizeof cfgp);
	assert_int_equal(chmod(cfgp, 0664), 0);
	assert_int_equal(run("up", "--config", cfgp, NULL), 2);
	assert_non_null(strstr(err, "plexd: config: "));
}

static int setup(void **state)
{
	snprintf(dir, sizeof dir, "/tmp/test-cli-%d", getpid());
	return mkdir_p(dir, 0700);
}

static int teardown(void **state)
{
	return rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version),
	    cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_config_check),
	    cmocka_unit_test(test_status_unreachable),
	    cmocka_unit_test(test_up_config_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
