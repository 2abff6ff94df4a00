/* Mesh apply benchmark (run inside a throwaway network namespace by bench/run-mesh.sh):
 * N peers applied from empty with mesh_apply vs `wg setconf`, and a no-op reconcile vs
 * `wg syncconf`, both on wireguard-go (userspace backend), a fresh interface per measurement.
 * Prints one "SUMMARY|..." line per metric for bench/run-all plus a readable table. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mesh/mesh.h"
#include "mesh/rtnl.h"
#include "mesh/wg-backend.h"
#include "shared/encoding.h"
#include "shared/log.h"

#define MAX_ROUNDS 15

static unsigned n_peers = 5000, rounds = 3, noop_reps = 5;
static char ifbase[12];
static char conf_path[] = "/tmp/plexd-bench-mesh-XXXXXX";
static bool conf_created;

struct gen_peer {
	char id[16];
	char key[45], psk[45];
	char endpoint[32];
	char aip[24];
	const char *aips[1];
};
static struct gen_peer *gen;
static struct wg_peer_input *inputs;
static uint8_t priv[WG_KEY_SIZE];
static const uint16_t listen_port = 51820;
static const uint16_t keepalive = 0;
static struct in_addr mesh_ip;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time (user + system) in ms: ours from getrusage, another process's from /proc (clock
 * ticks, so only sums over many operations are meaningful). CPU time is what the machine pays
 * whatever else runs on it; wall time on a shared 2-core box swings with the neighbours. */
static double self_cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static double proc_cpu_ms(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	p = strrchr(buf, ')'); /* comm may contain spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) * 1e3 / (double)sysconf(_SC_CLK_TCK);
}

/* The wireguard-go that mesh_start spawned: our only child at that point. */
static pid_t only_child(void)
{
	char path[64], buf[256] = "";
	pid_t pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f))
		pid = (pid_t)atoi(buf);
	fclose(f);
	return pid;
}

static double cpu_apply_plexd, cpu_noop_plexd, cpu_setconf, cpu_sync;
static double cpu_apply_wggo, cpu_setconf_wggo, cpu_noop_wggo, cpu_sync_wggo; /* wireguard-go's share */
static double last_child_cpu; /* CPU of the last run_argv child */

static void die(const char *what)
{
	fprintf(stderr, "mesh-apply: %s\n", what);
	if (conf_created)
		unlink(conf_path);
	exit(1);
}

/* fork+execvp, stdout/stderr to /dev/null; returns the exit status or -1. */
static int run_argv(char *const argv[])
{
	int status = 0;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0)
		return -1;
	last_child_cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
			 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void generate(void)
{
	uint8_t k[WG_KEY_SIZE];
	FILE *f;
	int fd;

	gen = calloc(n_peers, sizeof(*gen));
	inputs = calloc(n_peers, sizeof(*inputs));
	if (!gen || !inputs)
		die("out of memory");
	if (getrandom(priv, sizeof(priv), 0) != sizeof(priv))
		die("getrandom");
	priv[0] &= 248;
	priv[31] = (priv[31] & 127) | 64;
	inet_pton(AF_INET, "10.100.255.254", &mesh_ip);
	for (unsigned i = 0; i < n_peers; i++) {
		struct gen_peer *g = &gen[i];
		unsigned host = i + 1; /* 10.100.0.1 ... */

		snprintf(g->id, sizeof(g->id), "n_%06u", i);
		if (getrandom(k, sizeof(k), 0) != sizeof(k))
			die("getrandom");
		key32_format(k, g->key);
		if (getrandom(k, sizeof(k), 0) != sizeof(k))
			die("getrandom");
		key32_format(k, g->psk);
		/* TEST-NET-ish benchmark range 198.18.0.0/15: never routed anywhere. */
		snprintf(g->endpoint, sizeof(g->endpoint), "198.18.%u.%u:%u", host / 256 % 256,
			 host % 256, 51820 + i % 1000);
		snprintf(g->aip, sizeof(g->aip), "10.100.%u.%u/32", host / 256, host % 256);
		g->aips[0] = g->aip;
		inputs[i] = (struct wg_peer_input){ g->id, g->key, g->psk, g->endpoint, g->aips, 1 };
	}

	fd = mkstemp(conf_path);
	if (fd < 0)
		die("mkstemp");
	conf_created = true;
	f = fdopen(fd, "w");
	if (!f)
		die("fdopen");
	{
		char pk[45];
		key32_format(priv, pk);
		fprintf(f, "[Interface]\nPrivateKey = %s\nListenPort = %u\n", pk, listen_port);
		explicit_bzero(pk, sizeof(pk));
	}
	for (unsigned i = 0; i < n_peers; i++) {
		fprintf(f, "\n[Peer]\nPublicKey = %s\nPresharedKey = %s\nEndpoint = %s\nAllowedIPs = %s\n",
			gen[i].key, gen[i].psk, gen[i].endpoint, gen[i].aip);
		if (keepalive)
			fprintf(f, "PersistentKeepalive = %u\n", keepalive);
	}
	if (fclose(f) != 0)
		die("writing config");
}

/* ---- plexd: mesh_start + mesh_apply ---- */

/* Where a no-op reconcile spends its time: the same steps mesh_apply takes, timed one by one
 * on a second handle that adopts the interface. Informational (not a target). */
static double bd_build, bd_get, bd_diff, bd_routes, bd_route_add;
static unsigned bd_n;

static void breakdown(const char *ifname)
{
	struct wg_backend *b = NULL;
	struct nlsock *rtnl = NULL;
	struct wg_peer_set set = {};
	struct wg_device actual = {}, desired = { .has_private_key = true, .listen_port = listen_port };
	struct wg_change_set cs = {};
	struct wg_prefix *routes = NULL;
	struct rtnl_link l;
	size_t n_routes = 0;
	struct timespec now;
	double t;

	if (wg_backend_open(WG_BACKEND_USERSPACE, NULL, ifname, "wireguard-go", NULL, NULL, &b) < 0 ||
	    nlsock_open(NETLINK_ROUTE, &rtnl) < 0 || rtnl_link_get(rtnl, ifname, &l) < 0)
		die("breakdown: cannot adopt the interface");
	t = now_ms();
	if (wg_peer_set_build(inputs, n_peers, mesh_ip, keepalive, &set) < 0)
		die("wg_peer_set_build");
	bd_build += now_ms() - t;
	t = now_ms();
	if (wg_backend_get_device(b, &actual) < 0)
		die("get_device");
	bd_get += now_ms() - t;
	memcpy(desired.private_key, priv, WG_KEY_SIZE);
	desired.peers = set.peers;
	desired.n_peers = set.n_peers;
	clock_gettime(CLOCK_REALTIME, &now);
	t = now_ms();
	if (wg_diff(&desired, &actual, now, true, &cs) < 0 || !wg_change_set_is_empty(&cs))
		die("wg_diff");
	bd_diff += now_ms() - t;
	t = now_ms();
	if (rtnl_route_list(rtnl, l.ifindex, RTPROT_PLEXD, &routes, &n_routes) < 0 ||
	    n_routes != n_peers)
		die("rtnl_route_list");
	bd_routes += now_ms() - t;
	/* Route programming cost: remove and re-add them all in batches, as mesh does. */
	for (size_t i = 0; i < n_routes; i++)
		if (rtnl_route_del(rtnl, l.ifindex, &routes[i], RTPROT_PLEXD) < 0)
			die("rtnl_route_del");
	t = now_ms();
	for (size_t i = 0; i < n_routes; i += RTNL_ROUTE_BATCH_MAX) {
		struct rtnl_route_op ops[RTNL_ROUTE_BATCH_MAX];
		int results[RTNL_ROUTE_BATCH_MAX];
		size_t n = n_routes - i < RTNL_ROUTE_BATCH_MAX ? n_routes - i : RTNL_ROUTE_BATCH_MAX;
		for (size_t k = 0; k < n; k++)
			ops[k] = (struct rtnl_route_op){ &routes[i + k], true };
		if (rtnl_route_batch(rtnl, l.ifindex, RTPROT_PLEXD, ops, n, results) < 0)
			die("rtnl_route_batch");
		for (size_t k = 0; k < n; k++)
			if (results[k] < 0)
				die("route add failed");
	}
	bd_route_add += now_ms() - t;
	bd_n++;
	free(routes);
	wg_change_set_done(&cs);
	wg_device_done(&actual);
	wg_peer_set_done(&set);
	nlsock_free(rtnl);
	wg_backend_free(b);
}

static void plexd_round(sd_event *event, unsigned round, double *apply_ms, double *noop_ms)
{
	struct mesh_apply_result res = {};
	struct mesh *m = NULL;
	char ifname[IFNAMSIZ];
	uint64_t writes;
	double t;

	snprintf(ifname, sizeof(ifname), "%sp%u", ifbase, round);
	struct mesh_config cfg = { .ifname = ifname, .listen_port = listen_port, .mtu = 1420,
				   .keepalive = keepalive, .backend = WG_BACKEND_USERSPACE,
				   .userspace_binary = "wireguard-go" };
	if (mesh_new(event, &cfg, &m) < 0 || mesh_start(m, priv, mesh_ip) < 0)
		die("mesh_start failed (see log)");

	pid_t wgpid = only_child();
	double c = self_cpu_ms() + proc_cpu_ms(wgpid), wg0 = proc_cpu_ms(wgpid);
	t = now_ms();
	if (mesh_apply(m, inputs, n_peers, false, &res) < 0)
		die("mesh_apply failed");
	*apply_ms = now_ms() - t;
	cpu_apply_plexd += self_cpu_ms() + proc_cpu_ms(wgpid) - c;
	cpu_apply_wggo += proc_cpu_ms(wgpid) - wg0;
	if (res.added != n_peers || res.routes_added != n_peers || res.failed || res.n_errors) {
		fprintf(stderr, "added=%u routes=%u failed=%u errors=%zu\n", res.added,
			res.routes_added, res.failed, res.n_errors);
		die("mesh_apply did not add every peer");
	}
	mesh_apply_result_done(&res);

	writes = mesh_device_writes(m);
	c = self_cpu_ms() + proc_cpu_ms(wgpid);
	wg0 = proc_cpu_ms(wgpid);
	for (unsigned k = 0; k < noop_reps; k++) {
		t = now_ms();
		if (mesh_apply(m, inputs, n_peers, true, &res) < 0)
			die("no-op mesh_apply failed");
		noop_ms[k] = now_ms() - t;
		if (res.n_corrections || res.failed)
			die("no-op reconcile corrected something");
		mesh_apply_result_done(&res);
	}
	cpu_noop_plexd += self_cpu_ms() + proc_cpu_ms(wgpid) - c;
	cpu_noop_wggo += proc_cpu_ms(wgpid) - wg0;
	if (mesh_device_writes(m) != writes)
		die("no-op reconcile wrote to the device");
	breakdown(ifname);
	(void)mesh_stop(m, true);
	mesh_free(m);
}

/* ---- wireguard-tools on a wireguard-go interface ---- */

static pid_t start_wireguard_go(const char *ifname)
{
	char sock[128];
	struct stat st;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char *const argv[] = { (char *)"wireguard-go", (char *)"-f", (char *)ifname, NULL };
		int null = open("/dev/null", O_RDWR);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		setenv("WG_PROCESS_FOREGROUND", "1", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	snprintf(sock, sizeof(sock), "/var/run/wireguard/%s.sock", ifname);
	for (int i = 0; i < 500; i++) {
		if (stat(sock, &st) == 0)
			return pid;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	die("wireguard-go did not create its socket");
	return -1;
}

static void stop_wireguard_go(pid_t pid, const char *ifname)
{
	char sock[128];

	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	snprintf(sock, sizeof(sock), "/var/run/wireguard/%s.sock", ifname);
	unlink(sock);
}

static double timed(char *const argv[])
{
	double t = now_ms();
	int rc = run_argv(argv);

	t = now_ms() - t;
	if (rc != 0) {
		fprintf(stderr, "%s %s exited %d\n", argv[0], argv[1], rc);
		die("wireguard-tools command failed");
	}
	return t;
}

static void wg_round(unsigned round, double *setconf_ms, double *sync_ms)
{
	char ifname[IFNAMSIZ];
	pid_t pid;

	snprintf(ifname, sizeof(ifname), "%sw%u", ifbase, round);
	pid = start_wireguard_go(ifname);
	{
		/* Same link state as mesh_start leaves: up with an MTU and the /32. */
		char *const up[] = { (char *)"ip", (char *)"link", (char *)"set", ifname, (char *)"mtu",
				     (char *)"1420", (char *)"up", NULL };
		char *const addr[] = { (char *)"ip", (char *)"addr", (char *)"add",
				       (char *)"10.100.255.254/32", (char *)"dev", ifname, NULL };
		if (run_argv(up) != 0 || run_argv(addr) != 0)
			die("ip link/addr");
	}
	char *const setconf[] = { (char *)"wg", (char *)"setconf", ifname, conf_path, NULL };
	char *const syncconf[] = { (char *)"wg", (char *)"syncconf", ifname, conf_path, NULL };
	double c = proc_cpu_ms(pid);
	*setconf_ms = timed(setconf);
	cpu_setconf += proc_cpu_ms(pid) - c + last_child_cpu;
	cpu_setconf_wggo += proc_cpu_ms(pid) - c;
	c = proc_cpu_ms(pid);
	for (unsigned k = 0; k < noop_reps; k++) {
		sync_ms[k] = timed(syncconf);
		cpu_sync += last_child_cpu;
	}
	cpu_sync += proc_cpu_ms(pid) - c;
	cpu_sync_wggo += proc_cpu_ms(pid) - c;
	stop_wireguard_go(pid, ifname);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void summary(const char *metric, double plexd, double ref, const char *ref_name,
		    double target)
{
	double ratio = plexd / ref;

	/* Machine-readable line collected by bench/run-all. */
	printf("SUMMARY|%s|%.1f ms|%s %.1f ms|%.2fx|<= %.2fx|%s\n", metric, plexd, ref_name, ref,
	       ratio, target, ratio <= target ? "PASS" : "MISS");
}

int main(int argc, char **argv)
{
	double apply[MAX_ROUNDS], setconf[MAX_ROUNDS];
	double noop[MAX_ROUNDS * 8], sync[MAX_ROUNDS * 8];
	sd_event *event = NULL;
	sigset_t ss;
	int c;

	while ((c = getopt(argc, argv, "n:r:k:")) != -1) {
		switch (c) {
		case 'n':
			n_peers = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			rounds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'k':
			noop_reps = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: %s [-n peers] [-r rounds] [-k noop-reps]\n", argv[0]);
			return 2;
		}
	}
	if (n_peers == 0 || n_peers > 60000 || rounds == 0 || rounds > MAX_ROUNDS ||
	    noop_reps == 0 || noop_reps > 8)
		die("bad arguments (peers 1..60000, rounds 1..15, noop-reps 1..8)");
	if (geteuid() != 0)
		die("needs root inside a private network namespace (use bench/run-mesh.sh)");
	/* Interface names and UAPI socket paths are global to the machine: keep them unique. */
	snprintf(ifbase, sizeof(ifbase), "pxb%u", (unsigned)getpid() % 100000);

	log_open();
	log_set_max_level(LOG_INFO); /* as the daemon runs by default; run-mesh.sh keeps stderr */
	sigemptyset(&ss);
	sigaddset(&ss, SIGCHLD);
	sigprocmask(SIG_BLOCK, &ss, NULL); /* as plexd does, for sd-event child sources */
	if (sd_event_new(&event) < 0)
		die("sd_event_new");

	generate();
	printf("mesh apply benchmark: %u peers (PSK, endpoint, one /32 each), wireguard-go, "
	       "%u rounds, %u no-op repetitions per round\n",
	       n_peers, rounds, noop_reps);
	fflush(stdout);
	/* Alternate who goes first so machine load drifts hit both sides alike. */
	for (unsigned r = 0; r < rounds; r++) {
		if (r % 2 == 0) {
			plexd_round(event, r, &apply[r], &noop[r * noop_reps]);
			wg_round(r, &setconf[r], &sync[r * noop_reps]);
		} else {
			wg_round(r, &setconf[r], &sync[r * noop_reps]);
			plexd_round(event, r, &apply[r], &noop[r * noop_reps]);
		}
		printf("  round %u: mesh_apply %.1f ms, wg setconf %.1f ms; no-op reconcile %.1f ms, "
		       "wg syncconf %.1f ms (first repetition)\n",
		       r, apply[r], setconf[r], noop[r * noop_reps], sync[r * noop_reps]);
		fflush(stdout);
	}
	char m1[64], m2[64];
	snprintf(m1, sizeof(m1), "apply %u peers from empty", n_peers);
	snprintf(m2, sizeof(m2), "no-op reconcile at %u peers", n_peers);
	summary(m1, median(apply, rounds), median(setconf, rounds), "wg setconf", 1.0);
	summary(m2, median(noop, (size_t)rounds * noop_reps), median(sync, (size_t)rounds * noop_reps),
		"wg syncconf", 0.5);
	/* The same operations in CPU time of every process involved (tool + wireguard-go). */
	snprintf(m1, sizeof(m1), "apply %u peers, CPU (incl. wireguard-go)", n_peers);
	snprintf(m2, sizeof(m2), "no-op reconcile %u, CPU (incl. wireguard-go)", n_peers);
	summary(m1, cpu_apply_plexd / rounds, cpu_setconf / rounds, "wg setconf", 1.0);
	summary(m2, cpu_noop_plexd / (rounds * noop_reps), cpu_sync / (rounds * noop_reps),
		"wg syncconf", 0.5);
	printf("  apply CPU per round: wireguard-go %.0f ms under mesh_apply, %.0f ms under wg "
	       "setconf; the tools themselves %.0f ms (plexd) and %.0f ms (wg)\n",
	       cpu_apply_wggo / rounds, cpu_setconf_wggo / rounds,
	       (cpu_apply_plexd - cpu_apply_wggo) / rounds, (cpu_setconf - cpu_setconf_wggo) / rounds);
	printf("  no-op CPU per operation: wireguard-go %.1f ms under mesh_apply (its get=1 dump), "
	       "%.1f ms under wg syncconf (dump + set of every peer); the tools themselves %.1f ms "
	       "(plexd) and %.1f ms (wg)\n",
	       cpu_noop_wggo / (rounds * noop_reps), cpu_sync_wggo / (rounds * noop_reps),
	       (cpu_noop_plexd - cpu_noop_wggo) / (rounds * noop_reps),
	       (cpu_sync - cpu_sync_wggo) / (rounds * noop_reps));
	printf("  no-op reconcile breakdown (mean of %u): peer set build %.1f ms, UAPI get + parse "
	       "%.1f ms, diff %.1f ms, route dump %.1f ms; "
	       "adding the %u routes %.1f ms\n",
	       bd_n, bd_build / bd_n, bd_get / bd_n, bd_diff / bd_n, bd_routes / bd_n, n_peers,
	       bd_route_add / bd_n);
	unlink(conf_path);
	sd_event_unref(event);
	free(gen);
	free(inputs);
	return 0;
}
