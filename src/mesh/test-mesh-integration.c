/* Integration test (root, real wireguard-go): in a fresh network namespace, the userspace
 * backend starts wireguard-go; peers are applied, read back and compared with `wg show dump`,
 * a no-op apply must not write, then modify/remove, drift correction, daemon death and
 * teardown. Exit 77 (skip) without root or without wireguard-go/ip/wg. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mesh/mesh.h"
#include "mesh/wg-backend.h"
#include "shared/encoding.h"
#include "shared/log.h"

#define K1 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define K2 "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
#define K3 "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="
#define K5 "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU="

static char ns[64], ifname[16];
static struct mesh *mesh;
static sd_event *event;
static bool ns_created;

static void cleanup(void)
{
	if (mesh) {
		(void)mesh_stop(mesh, true);
		mesh = mesh_free(mesh);
	}
	if (ns_created) {
		char *const argv[] = { (char *)"ip", (char *)"netns", (char *)"del", ns, NULL };
		pid_t pid = fork();
		if (pid == 0) {
			execvp(argv[0], argv);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
		ns_created = false;
	}
	event = sd_event_unref(event);
}

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
			cleanup();                                                                 \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

/* Runs argv (PATH lookup), returns exit status; stdout captured into *out when given. */
static int run_argv(char **out, const char *arg0, ...)
{
	char *argv[32];
	va_list ap;
	int pfd[2], status = 0, n = 0;
	size_t len = 0, cap = 65536;
	pid_t pid;

	argv[n++] = (char *)arg0;
	va_start(ap, arg0);
	while (n < 31 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	if (out) {
		*out = calloc(cap, 1);
		for (ssize_t k; (k = read(pfd[0], *out + len, cap - len - 1)) > 0;)
			len += (size_t)k;
	} else {
		char sink[4096];
		while (read(pfd[0], sink, sizeof(sink)) > 0)
			;
	}
	close(pfd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define run(out, ...) run_argv(out, __VA_ARGS__, NULL)
#define nsrun(out, ...) run(out, "ip", "netns", "exec", ns, __VA_ARGS__)

/* One peer line of `wg show <if> dump`, located by public key. */
static bool dump_peer(const char *dump, const char *key, char fields[8][256])
{
	for (const char *line = dump; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t l = nl ? (size_t)(nl - line) : strlen(line);
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == '\t') {
			char buf[2048], *save = NULL, *tok;
			int i = 0;
			snprintf(buf, sizeof(buf), "%.*s", (int)l, line);
			for (tok = strtok_r(buf, "\t", &save); tok && i < 8;
			     tok = strtok_r(NULL, "\t", &save))
				snprintf(fields[i++], 256, "%s", tok);
			return i == 8;
		}
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static bool has_correction(const struct mesh_apply_result *r, const char *type, const char *part)
{
	for (size_t i = 0; i < r->n_corrections; i++)
		if (streq(r->corrections[i].type, type) && strstr(r->corrections[i].detail, part))
			return true;
	return false;
}

struct peer_def {
	const char *id, *key, *psk, *ep;
	const char *aips[3];
	size_t n;
};

static void to_input(const struct peer_def *d, size_t n, struct wg_peer_input *in)
{
	for (size_t i = 0; i < n; i++)
		in[i] = (struct wg_peer_input){ d[i].id, d[i].key, d[i].psk, d[i].ep, d[i].aips,
						d[i].n };
}

static bool exited;
static void on_exit_cb(struct mesh *m, void *userdata)
{
	exited = true;
}

static pid_t find_child(void)
{
	char path[64], buf[256] = "";
	FILE *f;
	pid_t pid = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f))
		pid = (pid_t)atoi(buf);
	fclose(f);
	return pid;
}

int main(void)
{
	struct peer_def peers[3] = {
		{ "n_a", K1, K5, "192.0.2.1:51820", { "10.100.1.1/32", "10.200.0.0/24" }, 2 },
		{ "n_b", K2, "", "[2001:db8::2]:51820", { "10.100.1.2/32" }, 1 },
		{ "n_c", K3, NULL, NULL, { "10.100.1.3/32", "fd00:3::/64" }, 2 },
	};
	struct wg_peer_input in[3];
	struct mesh_apply_result res = {};
	struct wg_device dev = {};
	uint8_t priv[32];
	char f[8][256], path[128], *out = NULL, *bin = NULL;
	struct in_addr mesh_ip;
	sigset_t ss;
	uint64_t writes;
	int fd, r;

	if (geteuid() != 0 || wg_find_executable("wireguard-go", &bin) < 0 ||
	    run(NULL, "wg", "--version") != 0 || run(NULL, "ip", "-V") != 0) {
		fprintf(stderr, "SKIP: needs root, wireguard-go, wg and ip\n");
		return 77;
	}
	free(bin);
	log_set_max_level(LOG_DEBUG);
	snprintf(ns, sizeof(ns), "plexdtest-mesh-%d", (int)getpid());
	snprintf(ifname, sizeof(ifname), "plxt%d", (int)(getpid() % 100000));
	CHECK(run(NULL, "ip", "netns", "add", ns) == 0);
	ns_created = true;
	snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(setns(fd, CLONE_NEWNET) == 0);
	close(fd);

	/* As the daemon does: SIGCHLD blocked so sd-event child sources work. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGCHLD);
	CHECK(sigprocmask(SIG_BLOCK, &ss, NULL) == 0);
	CHECK(sd_event_new(&event) >= 0);

	struct mesh_config cfg = { .ifname = ifname, .listen_port = 51999, .mtu = 1380,
				   .keepalive = 25, .backend = WG_BACKEND_USERSPACE,
				   .userspace_binary = "wireguard-go" };
	CHECK(mesh_new(event, &cfg, &mesh) == 0);
	mesh_set_exit_handler(mesh, on_exit_cb, NULL);
	memset(priv, 0x48, sizeof(priv));
	priv[0] &= 248;
	priv[31] = (priv[31] & 127) | 64;
	CHECK(inet_pton(AF_INET, "10.100.0.1", &mesh_ip) == 1);
	r = mesh_start(mesh, priv, mesh_ip);
	CHECK(r == 0);
	CHECK(streq(mesh_backend_name(mesh), "userspace"));

	CHECK(nsrun(&out, "ip", "-o", "addr", "show", "dev", ifname) == 0);
	CHECK(strstr(out, "inet 10.100.0.1/32"));
	CHECK(count_lines(out) == 1); /* no IPv6 link-local */
	free(out);
	CHECK(nsrun(&out, "ip", "-o", "link", "show", "dev", ifname) == 0);
	CHECK(strstr(out, "mtu 1380") && strstr(out, ",UP"));
	free(out);

	/* 1. three peers */
	to_input(peers, 3, in);
	CHECK(mesh_apply(mesh, in, 3, false, &res) == 0);
	CHECK(res.added == 3 && res.removed == 0 && res.updated == 0 && res.failed == 0);
	CHECK(res.routes_added == 5 && res.n_errors == 0);
	CHECK(has_correction(&res, "peer_added", "peer n_b missing from"));
	CHECK(has_correction(&res, "route_added", "fd00:3::/64"));
	mesh_apply_result_done(&res);

	CHECK(mesh_get_device(mesh, &dev) == 0);
	CHECK(dev.n_peers == 3 && dev.listen_port == 51999 && dev.has_private_key);
	CHECK(memcmp(dev.private_key, priv, 32) == 0);
	wg_device_done(&dev);

	CHECK(nsrun(&out, "wg", "show", ifname, "dump") == 0);
	CHECK(count_lines(out) == 4);
	CHECK(strstr(out, "\t51999\toff\n")); /* interface line: port, fwmark off */
	CHECK(dump_peer(out, K1, f));
	CHECK(streq(f[1], K5) && streq(f[2], "192.0.2.1:51820"));
	CHECK(streq(f[3], "10.100.1.1/32,10.200.0.0/24") || streq(f[3], "10.200.0.0/24,10.100.1.1/32"));
	CHECK(streq(f[7], "25"));
	CHECK(dump_peer(out, K2, f));
	CHECK(streq(f[1], "(none)") && streq(f[2], "[2001:db8::2]:51820") && streq(f[3], "10.100.1.2/32"));
	CHECK(dump_peer(out, K3, f));
	CHECK(streq(f[2], "(none)"));
	CHECK(streq(f[3], "10.100.1.3/32,fd00:3::/64") || streq(f[3], "fd00:3::/64,10.100.1.3/32"));
	free(out);
	CHECK(nsrun(&out, "ip", "route", "show", "dev", ifname, "proto", "167") == 0);
	CHECK(count_lines(out) == 4 && strstr(out, "10.200.0.0/24 scope link"));
	free(out);
	CHECK(nsrun(&out, "ip", "-6", "route", "show", "dev", ifname, "proto", "167") == 0);
	CHECK(strstr(out, "fd00:3::/64"));
	free(out);

	/* 2. no-op: nothing differs, no device write, no correction */
	writes = mesh_device_writes(mesh);
	CHECK(mesh_apply(mesh, in, 3, true, &res) == 0);
	CHECK(res.n_corrections == 0 && res.failed == 0);
	CHECK(mesh_device_writes(mesh) == writes);
	mesh_apply_result_done(&res);

	/* 3. modify n_b: endpoint and one more prefix */
	peers[1].ep = "192.0.2.22:51820";
	peers[1].aips[1] = "10.201.0.0/16";
	peers[1].n = 2;
	to_input(peers, 3, in);
	CHECK(mesh_apply(mesh, in, 3, false, &res) == 0);
	CHECK(res.updated == 1 && res.added == 0 && res.removed == 0 && res.routes_added == 1);
	CHECK(has_correction(&res, "peer_updated", "peer n_b endpoint,allowed_ips differ"));
	CHECK(mesh_device_writes(mesh) == writes + 1);
	mesh_apply_result_done(&res);
	CHECK(nsrun(&out, "wg", "show", ifname, "dump") == 0);
	CHECK(dump_peer(out, K2, f) && streq(f[2], "192.0.2.22:51820"));
	CHECK(streq(f[3], "10.100.1.2/32,10.201.0.0/16") || streq(f[3], "10.201.0.0/16,10.100.1.2/32"));
	free(out);

	/* 4. remove n_c: peer and its two routes go */
	CHECK(mesh_apply(mesh, in, 2, false, &res) == 0);
	CHECK(res.removed == 1 && res.routes_removed == 2 && res.added == 0);
	CHECK(has_correction(&res, "peer_removed", "peer n_c not desired"));
	mesh_apply_result_done(&res);
	CHECK(nsrun(&out, "wg", "show", ifname, "dump") == 0);
	CHECK(count_lines(out) == 3 && !dump_peer(out, K3, f));
	free(out);

	/* 5. drift made by hand is corrected by a reconcile */
	CHECK(nsrun(NULL, "wg", "set", ifname, "peer", K1, "remove") == 0);
	CHECK(nsrun(NULL, "ip", "addr", "add", "10.9.9.9/24", "dev", ifname) == 0);
	CHECK(nsrun(NULL, "ip", "route", "del", "10.201.0.0/16", "dev", ifname) == 0);
	CHECK(mesh_apply(mesh, in, 2, true, &res) == 0);
	CHECK(res.added == 1 && res.failed == 0);
	CHECK(has_correction(&res, "peer_added", "peer n_a"));
	CHECK(has_correction(&res, "interface_restored", ifname));
	CHECK(has_correction(&res, "route_added", "10.201.0.0/16"));
	mesh_apply_result_done(&res);
	CHECK(nsrun(&out, "ip", "-o", "addr", "show", "dev", ifname) == 0);
	CHECK(!strstr(out, "10.9.9.9") && strstr(out, "10.100.0.1/32"));
	free(out);

	/* 6. the daemon dies: the loop notices, a reconcile recreates everything */
	pid_t child = find_child();
	CHECK(child > 0);
	CHECK(kill(child, SIGKILL) == 0);
	for (int i = 0; i < 50 && !exited; i++)
		CHECK(sd_event_run(event, 100 * 1000) >= 0);
	CHECK(exited);
	for (int i = 0; i < 50; i++) { /* the kernel removes the TUN device asynchronously */
		if (nsrun(NULL, "ip", "link", "show", ifname) != 0)
			break;
		usleep(100 * 1000);
	}
	CHECK(mesh_apply(mesh, in, 2, true, &res) == 0);
	CHECK(has_correction(&res, "interface_restored", "recreated"));
	CHECK(res.added == 2 && res.failed == 0);
	mesh_apply_result_done(&res);
	CHECK(nsrun(&out, "wg", "show", ifname, "dump") == 0);
	CHECK(count_lines(out) == 3);
	free(out);

	/* 7. teardown: peers, routes, interface and daemon gone */
	CHECK(mesh_stop(mesh, true) == 0);
	CHECK(nsrun(NULL, "ip", "link", "show", ifname) != 0);
	snprintf(path, sizeof(path), "%s/%s.sock", wg_userspace_socket_dir(), ifname);
	for (int i = 0; i < 20 && access(path, F_OK) == 0; i++)
		usleep(50 * 1000);
	CHECK(access(path, F_OK) < 0);
	CHECK(find_child() == 0);
	mesh = mesh_free(mesh);

	/* 8. auto selection (§5.1 interface 1): only meaningful without the kernel module */
	char probe[16];
	snprintf(probe, sizeof(probe), "plxk%d", (int)(getpid() % 100000));
	if (nsrun(NULL, "ip", "link", "add", probe, "type", "wireguard") == 0) {
		(void)nsrun(NULL, "ip", "link", "del", probe);
		fprintf(stderr, "kernel WireGuard present: auto fallback checks skipped\n");
	} else {
		cfg.backend = WG_BACKEND_AUTO;
		cfg.userspace_binary = "plexd-test-no-such-binary";
		CHECK(mesh_new(event, &cfg, &mesh) == 0);
		CHECK(mesh_start(mesh, priv, mesh_ip) == -EOPNOTSUPP);
		mesh = mesh_free(mesh);
		CHECK(nsrun(NULL, "ip", "link", "show", ifname) != 0);
		cfg.userspace_binary = "wireguard-go";
		CHECK(mesh_new(event, &cfg, &mesh) == 0);
		CHECK(mesh_start(mesh, priv, mesh_ip) == 0);
		CHECK(streq(mesh_backend_name(mesh), "userspace"));
		CHECK(mesh_stop(mesh, true) == 0);
		mesh = mesh_free(mesh);
	}
	cleanup();
	fprintf(stderr, "PASS\n");
	return 0;
}
