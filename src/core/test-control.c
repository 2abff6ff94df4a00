/* Tests of the control socket: authorization table, the status text layout, and GET /v1/status
 * over a real unix socket served by a Manager on its sd-event loop, called by forked clients
 * (root and an unprivileged uid). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <grp.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "config/config.h"
#include "core/control.h"
#include "core/manager.h"
#include "shared/fileio.h"
#include "shared/log.h"
#include "version.h"

static void test_auth_table(void **state)
{
	static const struct {
		enum control_auth level;
		uid_t uid;
		bool group;
		bool allowed;
	} cases[] = {
	    {CONTROL_AUTH_ANY, 0, false, true},	      {CONTROL_AUTH_ANY, 1000, false, true},
	    {CONTROL_AUTH_PLEXD, 0, false, true},     {CONTROL_AUTH_PLEXD, 1000, true, true},
	    {CONTROL_AUTH_PLEXD, 1000, false, false}, {CONTROL_AUTH_ROOT, 0, false, true},
	    {CONTROL_AUTH_ROOT, 1000, true, false},   {CONTROL_AUTH_ROOT, 1000, false, false},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		assert_int_equal(control_auth_allows(cases[i].level, cases[i].uid, cases[i].group),
				 cases[i].allowed);
}

static char *print_status(const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(j);
	assert_int_equal(control_status_print(j, f), 0);
	fclose(f);
	json_decref(j);
	return buf;
}

static void test_status_text(void **state)
{
	char *t;

	/* What exists today: no node, no CP blocks. */
	t = print_status("{\"version\":\"0.1.0\",\"mode\":\"node\",\"uptime\":\"1h2m3s\"}");
	assert_string_equal(t, "Node:        not registered mode=node version=0.1.0\n"
			       "Uptime:      1h2m3s\n"
			       "Control:     unknown\n"
			       "NAT:         unknown type=unknown\n"
			       "Mesh:        unknown\n"
			       "Policies:    unknown\n"
			       "State:       unknown\n"
			       "Integrity:   unknown\n");
	free(t);

	/* Every block as later subsystems will report them; bridge line only in bridge mode. */
	t = print_status(
	    "{\"version\":\"0.2.0\",\"mode\":\"bridge\",\"uptime\":\"5s\","
	    "\"node\":{\"node_id\":\"n_abc\",\"mesh_ip\":\"10.99.0.2\"},"
	    "\"control\":{\"state\":\"connected\",\"last_heartbeat\":\"2025-01-02T03:04:05Z\","
	    "\"sse_reconnects\":2},"
	    "\"nat\":{\"endpoint\":\"198.51.100.7:51820\",\"type\":\"full_cone\"},"
	    "\"mesh\":{\"interface\":\"plexd0\",\"port\":51820,\"peers_configured\":3,"
	    "\"peers_desired\":4,\"peers_active\":2},"
	    "\"policies\":{\"policies\":2,\"rules\":7,\"firewall\":\"applied\"},"
	    "\"state\":{\"metadata\":1,\"data\":2,\"secrets\":3,\"reports\":4,\"pending_sync\":5},"
	    "\"integrity\":{\"binary\":\"sha256:ab\",\"status\":\"ok\"},"
	    "\"bridge\":{\"relay_sessions\":1,\"user_access_peers\":2,\"ingress_rules\":3,"
	    "\"s2s_tunnels\":4}}");
	assert_string_equal(
	    t, "Node:        n_abc (10.99.0.2) mode=bridge version=0.2.0\n"
	       "Uptime:      5s\n"
	       "Control:     connected last_heartbeat=2025-01-02T03:04:05Z sse_reconnects=2\n"
	       "NAT:         198.51.100.7:51820 type=full_cone\n"
	       "Mesh:        plexd0 port=51820 peers=3/4 active=2\n"
	       "Policies:    2 policies, 7 rules, firewall=applied\n"
	       "State:       metadata=1 data=2 secrets=3 reports=4 (pending sync: 5)\n"
	       "Integrity:   binary=sha256:ab status=ok\n"
	       "Bridge:      relay=1 user_access=2 ingress=3 s2s=4\n");
	free(t);
	assert_int_equal(control_status_print(NULL, stdout), -EINVAL);
}

static char dir[64], sock[128], cfg[128];

/* Runs GET /v1/status in a forked child as uid; the loop serves it meanwhile. Returns the
 * HTTP status (or -1) and the body through a pipe. */
static long client_status(struct manager *m, uid_t uid, char *body, size_t size)
{
	int p[2], st;
	pid_t pid;
	ssize_t n;
	size_t got = 0;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		long status = -1;
		char *b = NULL;
		close(p[0]);
		if (uid != 0 && (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0))
			_exit(100);
		int r = control_client_request(sock, "GET", "/v1/status", NULL, &status, &b);
		if (r < 0)
			_exit(101);
		(void)!write(p[1], &status, sizeof status);
		(void)!write(p[1], b, strlen(b));
		_exit(0);
	}
	close(p[1]);
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		assert_true(w >= 0);
		if (w == pid)
			break;
		assert_true(sd_event_run(manager_get_event(m), 10 * 1000) >= 0);
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	long status;
	assert_int_equal(read(p[0], &status, sizeof status), sizeof status);
	while ((n = read(p[0], body + got, size - 1 - got)) > 0)
		got += (size_t)n;
	body[got] = '\0';
	close(p[0]);
	return status;
}

static void test_status_over_socket(void **state)
{
	struct config_sources src = {.config_path = cfg, .config_path_explicit = true};
	struct config *c = NULL;
	struct manager *m = NULL;
	char body[8192];
	struct stat st;
	FILE *f;

	snprintf(dir, sizeof dir, "/tmp/test-control-%d", getpid());
	snprintf(sock, sizeof sock, "%s/plexd.sock", dir);
	snprintf(cfg, sizeof cfg, "%s/config.yaml", dir);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	f = fopen(cfg, "w");
	assert_non_null(f);
	fprintf(f, "api: https://cp.example.com\ndata_dir: %s/data\nactions:\n  socket: %s\n", dir,
		sock);
	fclose(f);
	assert_int_equal(config_load(&src, &c, NULL), 0);
	/* Only the control socket: the daemon's other subsystems would contact the CP. */
	static const struct subsystem_ops *const only_control[] = {&control_subsystem_ops};
	assert_int_equal(manager_new(&(struct manager_params){.config = c,
							      .sources = &src,
							      .subsystems = only_control,
							      .n_subsystems = 1},
				     &m),
			 0);

	/* Not running yet. */
	long status;
	char *b = NULL;
	assert_int_equal(control_client_request(sock, "GET", "/v1/status", NULL, &status, &b),
			 -ENOENT);

	assert_int_equal(manager_start(m), 0);
	assert_int_equal(stat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0666);

	assert_int_equal(client_status(m, 0, body, sizeof body), 200);
	json_t *j = json_loads(body, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "version")), PLEXD_VERSION);
	assert_string_equal(json_string_value(json_object_get(j, "commit")), PLEXD_COMMIT);
	assert_int_equal(json_integer_value(json_object_get(j, "pid")), getpid());
	assert_string_equal(json_string_value(json_object_get(j, "state")), "running");
	assert_string_equal(json_string_value(json_object_get(j, "config_path")), cfg);
	assert_string_equal(json_string_value(json_object_get(j, "control_socket")), sock);
	json_t *s0 = json_array_get(json_object_get(j, "subsystems"), 0);
	assert_string_equal(json_string_value(json_object_get(s0, "name")), "control");
	assert_string_equal(json_string_value(json_object_get(s0, "state")), "running");
	json_decref(j);

	/* An unprivileged caller without group plexd is refused per request. */
	if (geteuid() == 0) {
		assert_int_equal(client_status(m, 65534, body, sizeof body), 403);
		assert_string_equal(body, "{\"error\":\"permission denied\"}");
	}

	/* Stop closes and unlinks the socket. */
	manager_stop(m);
	assert_int_equal(access(sock, F_OK), -1);

	/* A stale socket file nobody listens on: connection refused. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);
	assert_int_equal(control_client_request(sock, "GET", "/v1/status", NULL, &status, &b),
			 -ECONNREFUSED);
	manager_free(m);
	assert_int_equal(rm_rf(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth_table),
	    cmocka_unit_test(test_status_text),
	    cmocka_unit_test(test_status_over_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
