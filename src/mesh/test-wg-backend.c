/* Unit tests: wg_backend_apply_overlapped (the caller's step runs to completion exactly once,
 * whatever the backend does) and the userspace backend interleaving it with a request the
 * daemon reads slowly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mesh/wg-backend.h"
#include "shared/macro.h"

struct counter {
	unsigned calls, finish_at;
	int finish_with; /* 1 or a negative errno */
	unsigned apply_calls;
};

static int count_step(void *userdata)
{
	struct counter *c = userdata;

	assert_true(c->calls < c->finish_at); /* never called again after finishing */
	return ++c->calls == c->finish_at ? c->finish_with : 0;
}

static struct counter *fake_counter;
static int fake_result;

static int fake_apply(struct wg_backend *b, const struct wg_change_set *cs)
{
	fake_counter->apply_calls++;
	return fake_result;
}

/* Runs the step twice itself, then gives up on it (the wrapper must finish it). */
static int fake_apply_overlapped(struct wg_backend *b, const struct wg_change_set *cs,
				 wg_backend_step_t step, void *userdata)
{
	fake_counter->apply_calls++;
	for (int i = 0; i < 2; i++)
		if (step(userdata) != 0)
			break;
	return fake_result;
}

static const struct wg_backend_ops plain_ops = { .name = "fake", .apply = fake_apply };
static const struct wg_backend_ops overlap_ops = { .name = "fake-overlap",
						   .apply = fake_apply,
						   .apply_overlapped = fake_apply_overlapped };

static void test_wrapper(void **state)
{
	static const struct {
		const struct wg_backend_ops *ops;
		bool empty;
		int result;
		unsigned finish_at;
		int finish_with;
		unsigned want_apply;
	} cases[] = {
		{ &plain_ops, false, 0, 5, 1, 1 },
		{ &plain_ops, false, -EIO, 3, 1, 1 },	   /* failure: steps still complete */
		{ &plain_ops, true, 0, 4, 1, 0 },	   /* empty: no I/O, steps complete */
		{ &overlap_ops, false, 0, 7, 1, 1 },	   /* backend runs 2, wrapper the rest */
		{ &overlap_ops, false, -EBADMSG, 1, 1, 1 }, /* finished inside the backend */
		{ &overlap_ops, false, 0, 2, -ENOMEM, 1 }, /* step error stops the calls */
		{ &overlap_ops, true, 0, 3, 1, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct wg_device d = {};
		struct wg_peer p = { .public_key = { 1 } };
		struct wg_peer_change ch = { .op = WG_PEER_OP_REMOVE, .peer = &p };
		struct wg_change_set cs = { .desired = &d };
		struct wg_backend b = { .ops = cases[i].ops };
		struct counter c = { .finish_at = cases[i].finish_at,
				     .finish_with = cases[i].finish_with };

		if (!cases[i].empty) {
			cs.changes = &ch;
			cs.n_changes = 1;
		}
		fake_counter = &c;
		fake_result = cases[i].result;
		assert_int_equal(wg_backend_apply_overlapped(&b, &cs, count_step, &c),
				 cases[i].empty ? 0 : cases[i].result);
		assert_int_equal(c.calls, cases[i].finish_at);
		assert_int_equal(c.apply_calls, cases[i].want_apply);
		assert_int_equal(b.n_writes, cases[i].want_apply);
	}
}

/* ---- userspace backend against a fake daemon that reads slowly ---- */

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct timed_counter {
	unsigned calls;
	double first_call_ms;
};

static int timed_step(void *userdata)
{
	struct timed_counter *c = userdata;

	if (c->calls++ == 0)
		c->first_call_ms = mono_ms();
	return c->calls == 20 ? 1 : 0;
}

/* Child: accepts one connection, reads the request in small pieces with pauses until the
 * empty line, answers errno=0, then reports (pipe) when it read the last byte. */
static void slow_daemon(int lfd, int report)
{
	char buf[4096], tail[2] = { 0, 0 };
	double last = 0;
	int fd = accept(lfd, NULL, NULL);

	if (fd < 0)
		_exit(1);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			_exit(2);
		last = mono_ms();
		if (n >= 2) {
			tail[0] = buf[n - 2];
			tail[1] = buf[n - 1];
		} else {
			tail[0] = tail[1];
			tail[1] = buf[0];
		}
		if (tail[0] == '\n' && tail[1] == '\n')
			break;
		usleep(300);
	}
	if (write(fd, "errno=0\n\n", 9) != 9 || write(report, &last, sizeof(last)) != sizeof(last))
		_exit(3);
	close(fd);
	_exit(0);
}

static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* Also runs when an assertion fails half-way: no socket file stays behind. */
static int remove_socket(void **state)
{
	if (sock_path[0])
		unlink(sock_path);
	return 0;
}

static void test_userspace_overlap(void **state)
{
	enum { N = 4000 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct wg_backend *b = NULL;
	struct wg_device d = {};
	struct wg_peer *peers = calloc(N, sizeof(*peers));
	struct wg_peer_change *ch = calloc(N, sizeof(*ch));
	struct wg_change_set cs = { .desired = &d, .changes = ch, .n_changes = N };
	struct timed_counter c = {};
	char ifname[IFNAMSIZ];
	double last_read = 0;
	int lfd, pfd[2], status = 0;
	pid_t pid;

	snprintf(ifname, sizeof(ifname), "pxtb%d", (int)(getpid() % 100000));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock", wg_userspace_socket_dir(), ifname);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(sa.sun_path); /* stale, from a crashed run with the same pid */
	assert_true(lfd >= 0);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(lfd);
		free(peers);
		free(ch);
		skip(); /* needs a writable /var/run/wireguard (root) */
	}
	strcpy(sock_path, sa.sun_path);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		slow_daemon(lfd, pfd[1]);
	close(pfd[1]);

	/* ~4000 removals: ~360 KiB, more than the socket holds, so the send must wait. */
	for (size_t i = 0; i < N; i++) {
		peers[i].public_key[0] = (uint8_t)i;
		peers[i].public_key[1] = (uint8_t)(i >> 8);
		ch[i] = (struct wg_peer_change){ .op = WG_PEER_OP_REMOVE, .peer = &peers[i] };
	}
	assert_int_equal(wg_backend_userspace_new(NULL, ifname, "wireguard-go", NULL, NULL, &b), 0);
	assert_int_equal(wg_backend_apply_overlapped(b, &cs, timed_step, &c), 0);
	assert_int_equal(c.calls, 20);
	assert_int_equal(read(pfd[0], &last_read, sizeof(last_read)), (ssize_t)sizeof(last_read));
	/* The step started while the daemon was still reading the request. */
	assert_true(c.first_call_ms < last_read);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	wg_backend_free(b);
	close(pfd[0]);
	close(lfd);
	unlink(sa.sun_path);
	free(peers);
	free(ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrapper),
		cmocka_unit_test_teardown(test_userspace_overlap, remove_socket),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
