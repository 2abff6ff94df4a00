/* Unit tests of the Manager: subsystem order (create/start in order, stop/free in reverse,
 * rollback on failure), signal-driven stop with drain, SIGHUP-style reload, status JSON. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "config/config.h"
#include "core/manager.h"
#include "shared/log.h"
#include "version.h"

static char journal[2048];
static int fail_new = -1, fail_start = -1;
static int drain_pending = -1; /* index that answers 1 from drain() */
static struct manager *cur;
static int reload_calls;

struct fake {
	int idx;
	struct manager *m;
};

static void note(const char *what, int idx)
{
	size_t l = strlen(journal);
	snprintf(journal + l, sizeof journal - l, "%s%s%d", l ? " " : "", what, idx);
}

#define FAKE(n)                                                                                    \
	static int fake_new##n(struct manager *m, void **ret)                                      \
	{                                                                                          \
		struct fake *f;                                                                    \
		note("new", n);                                                                    \
		if (fail_new == n)                                                                 \
			return -EIO;                                                               \
		f = calloc(1, sizeof *f);                                                          \
		f->idx = n;                                                                        \
		f->m = m;                                                                          \
		*ret = f;                                                                          \
		return 0;                                                                          \
	}

FAKE(0)
FAKE(1)
FAKE(2)
FAKE(3)

static int fake_start(void *p)
{
	struct fake *f = p;
	note("start", f->idx);
	return fail_start == f->idx ? -EADDRINUSE : 0;
}

static void fake_stop(void *p)
{
	struct fake *f = p;
	note("stop", f->idx);
}

static void *fake_free(void *p)
{
	struct fake *f = p;
	note("free", f->idx);
	free(f);
	return NULL;
}

static int fake_drain(void *p)
{
	struct fake *f = p;
	note("drain", f->idx);
	return drain_pending == f->idx ? 1 : 0;
}

static int fake_reload(void *p, const struct config *old, const struct config *new)
{
	reload_calls++;
	assert_ptr_not_equal(old, new);
	return 0;
}

static int fake_status(void *p, json_t *st)
{
	struct fake *f = p;
	char key[16];
	snprintf(key, sizeof key, "fake%d", f->idx);
	return json_object_set_new(st, key, json_integer(f->idx));
}

#define OPS(n)                                                                                     \
	static const struct subsystem_ops ops##n = {                                               \
	    .name = "fake" #n,                                                                     \
	    .new = fake_new##n,                                                                    \
	    .start = fake_start,                                                                   \
	    .stop = fake_stop,                                                                     \
	    .free = fake_free,                                                                     \
	    .drain = fake_drain,                                                                   \
	    .reload = fake_reload,                                                                 \
	    .status = fake_status,                                                                 \
	};
OPS(0)
OPS(1)
OPS(2)
OPS(3)

static const struct subsystem_ops *const table[] = {&ops0, &ops1, &ops2, &ops3};

static char cfg_path[64];

static void write_config(const char *text)
{
	FILE *f = fopen(cfg_path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct manager *make_manager(void)
{
	struct config_sources src = {.config_path = cfg_path, .config_path_explicit = true};
	struct config_diag diag = {};
	struct config *c = NULL;
	struct manager *m = NULL;
	int r = config_load(&src, &c, &diag);
	if (r < 0)
		config_diag_print(&diag, stderr);
	config_diag_done(&diag);
	assert_int_equal(r, 0);
	assert_int_equal(manager_new(&(struct manager_params){.config = c,
							      .sources = &src,
							      .subsystems = table,
							      .n_subsystems = ELEMENTSOF(table),
							      .drain_timeout = 200 * 1000},
				     &m),
			 0);
	return m;
}

static int setup(void **state)
{
	journal[0] = '\0';
	fail_new = fail_start = drain_pending = -1;
	reload_calls = 0;
	snprintf(cfg_path, sizeof cfg_path, "/tmp/test-manager-%d.yaml", getpid());
	write_config("api: https://cp.example.com\nlog_level: info\n");
	return 0;
}

static int teardown(void **state)
{
	unlink(cfg_path);
	log_set_max_level(LOG_INFO);
	return 0;
}

static void test_order(void **state)
{
	struct manager *m = make_manager();

	assert_int_equal(manager_start(m), 0);
	assert_string_equal(journal, "new0 new1 new2 new3 start0 start1 start2 start3");
	assert_int_equal(manager_get_subsystem_state(m, "fake2"), SUBSYSTEM_STATE_RUNNING);
	assert_non_null(manager_get_subsystem(m, "fake2"));
	assert_null(manager_get_subsystem(m, "nope"));
	journal[0] = '\0';
	manager_stop(m);
	assert_string_equal(journal, "stop3 stop2 stop1 stop0");
	manager_stop(m); /* idempotent */
	assert_string_equal(journal, "stop3 stop2 stop1 stop0");
	assert_int_equal(manager_get_subsystem_state(m, "fake0"), SUBSYSTEM_STATE_STOPPED);
	journal[0] = '\0';
	manager_free(m);
	assert_string_equal(journal, "free3 free2 free1 free0");
}

static void test_start_failure(void **state)
{
	struct manager *m = make_manager();

	fail_start = 2;
	assert_int_equal(manager_start(m), -EADDRINUSE);
	/* 0 and 1 stopped in reverse, 2 (failed) not stopped, 3 never started; all freed. */
	assert_string_equal(journal, "new0 new1 new2 new3 start0 start1 start2 stop1 stop0 "
				     "free3 free2 free1 free0");
	journal[0] = '\0';
	manager_free(m);
	assert_string_equal(journal, "");
}

static void test_new_failure(void **state)
{
	struct manager *m = make_manager();

	fail_new = 1;
	assert_int_equal(manager_start(m), -EIO);
	assert_string_equal(journal, "new0 new1 free0");
	manager_free(m);
	assert_string_equal(journal, "new0 new1 free0");
}

static void test_first_start_failure(void **state)
{
	struct manager *m = make_manager();

	fail_start = 0;
	assert_int_equal(manager_start(m), -EADDRINUSE);
	assert_string_equal(journal, "new0 new1 new2 new3 start0 free3 free2 free1 free0");
	manager_free(m);
}

static int send_signal(sd_event_source *s, uint64_t usec, void *userdata)
{
	kill(getpid(), (int)(intptr_t)userdata);
	return 0;
}

static void test_run_sigterm(void **state)
{
	struct manager *m = make_manager();
	sd_event_source *s;

	assert_int_equal(sd_event_add_time_relative(manager_get_event(m), &s, CLOCK_MONOTONIC,
						    10 * 1000, 1, send_signal,
						    (void *)(intptr_t)SIGTERM),
			 0);
	assert_int_equal(manager_run(m), 0);
	assert_true(manager_is_stopping(m));
	assert_string_equal(journal, "new0 new1 new2 new3 start0 start1 start2 start3 "
				     "drain3 drain2 drain1 drain0 stop3 stop2 stop1 stop0");
	sd_event_source_unref(s);
	manager_free(m);
}

static int drained_later(sd_event_source *s, uint64_t usec, void *userdata)
{
	manager_drained(cur);
	return 0;
}

static void test_run_drain(void **state)
{
	struct manager *m = make_manager();
	sd_event_source *s, *d;
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);

	/* Subsystem 1 needs time; it reports done after 50 ms, well before the 200 ms budget. */
	cur = m;
	drain_pending = 1;
	assert_int_equal(sd_event_add_time_relative(manager_get_event(m), &s, CLOCK_MONOTONIC,
						    10 * 1000, 1, send_signal,
						    (void *)(intptr_t)SIGINT),
			 0);
	assert_int_equal(sd_event_add_time_relative(manager_get_event(m), &d, CLOCK_MONOTONIC,
						    60 * 1000, 1, drained_later, NULL),
			 0);
	assert_int_equal(manager_run(m), 0);
	assert_true(now_usec(CLOCK_MONOTONIC) - t0 >= 60 * 1000);
	assert_true(now_usec(CLOCK_MONOTONIC) - t0 < 190 * 1000);
	sd_event_source_unref(s);
	sd_event_source_unref(d);
	manager_free(m);

	/* Never drained: the budget ends it. */
	setup(state);
	m = make_manager();
	drain_pending = 1;
	t0 = now_usec(CLOCK_MONOTONIC);
	assert_int_equal(sd_event_add_time_relative(manager_get_event(m), &s, CLOCK_MONOTONIC,
						    10 * 1000, 1, send_signal,
						    (void *)(intptr_t)SIGTERM),
			 0);
	assert_int_equal(manager_run(m), 0);
	assert_true(now_usec(CLOCK_MONOTONIC) - t0 >= 200 * 1000);
	sd_event_source_unref(s);
	manager_free(m);

	/* Second signal skips the drain. */
	setup(state);
	m = make_manager();
	drain_pending = 1;
	t0 = now_usec(CLOCK_MONOTONIC);
	assert_int_equal(sd_event_add_time_relative(manager_get_event(m), &s, CLOCK_MONOTONIC,
						    10 * 1000, 1, send_signal,
						    (void *)(intptr_t)SIGTERM),
			 0);
	assert_int_equal(sd_event_add_time_relative(manager_get_event(m), &d, CLOCK_MONOTONIC,
						    40 * 1000, 1, send_signal,
						    (void *)(intptr_t)SIGTERM),
			 0);
	assert_int_equal(manager_run(m), 0);
	assert_true(now_usec(CLOCK_MONOTONIC) - t0 < 190 * 1000);
	sd_event_source_unref(s);
	sd_event_source_unref(d);
	manager_free(m);
}

static void test_run_start_failure(void **state)
{
	struct manager *m = make_manager();

	fail_start = 3;
	assert_int_equal(manager_run(m), -EADDRINUSE);
	assert_string_equal(journal, "new0 new1 new2 new3 start0 start1 start2 start3 "
				     "stop2 stop1 stop0 free3 free2 free1 free0");
	manager_free(m);
}

static void test_reload(void **state)
{
	struct manager *m = make_manager();
	const struct config *before;
	char **keys = NULL;

	assert_int_equal(manager_start(m), 0);
	before = manager_get_config(m);
	assert_int_equal(before->log_level, CONFIG_LOG_LEVEL_INFO);

	/* Valid: log_level is hot, mesh.listen_port needs a restart. */
	write_config(
	    "api: https://cp.example.com\nlog_level: debug\nmesh:\n  listen_port: 51999\n");
	assert_int_equal(manager_reload(m, &keys), 0);
	assert_int_equal(manager_get_config(m)->log_level, CONFIG_LOG_LEVEL_DEBUG);
	assert_int_equal(log_get_max_level(), LOG_DEBUG);
	assert_int_equal(reload_calls, 4);
	assert_non_null(keys);
	assert_string_equal(keys[0], "mesh.listen_port");
	assert_null(keys[1]);
	config_strv_free(keys);

	/* Invalid: rejected as a whole, running config untouched, no reload callbacks. */
	before = manager_get_config(m);
	write_config("api: https://cp.example.com\nlog_level: loud\nmesh:\n  interfce: x\n");
	assert_int_equal(manager_reload(m, NULL), -EINVAL);
	assert_ptr_equal(manager_get_config(m), before);
	assert_int_equal(manager_get_config(m)->log_level, CONFIG_LOG_LEVEL_DEBUG);
	assert_int_equal(reload_calls, 4);

	/* Missing file (explicit path) is rejected too. */
	unlink(cfg_path);
	assert_int_equal(manager_reload(m, NULL) < 0, true);
	assert_ptr_equal(manager_get_config(m), before);
	manager_free(m);
}

static void test_status(void **state)
{
	struct manager *m = make_manager();
	json_t *st;

	assert_int_equal(manager_start(m), 0);
	assert_int_equal(manager_status_json(m, &st), 0);
	assert_string_equal(json_string_value(json_object_get(st, "version")), PLEXD_VERSION);
	assert_int_equal(json_integer_value(json_object_get(st, "pid")), getpid());
	assert_string_equal(json_string_value(json_object_get(st, "mode")), "node");
	assert_string_equal(json_string_value(json_object_get(st, "state")), "running");
	assert_string_equal(json_string_value(json_object_get(st, "config_path")), cfg_path);
	assert_string_equal(json_string_value(json_object_get(st, "uptime")), "0s");
	json_t *subs = json_object_get(st, "subsystems");
	assert_int_equal(json_array_size(subs), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(subs, 3), "name")),
			    "fake3");
	assert_string_equal(json_string_value(json_object_get(json_array_get(subs, 3), "state")),
			    "running");
	assert_int_equal(json_integer_value(json_object_get(st, "fake2")), 2);
	json_decref(st);
	manager_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_first_start_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_run_sigterm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_run_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_run_start_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
