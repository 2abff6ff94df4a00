/* Mesh apply benchmark (run inside a throwaway network namespace by bench/run-mesh.sh):
 * N peers applied from empty with mesh_apply vs `wg setconf`, and a no-op reconcile vs
 * `wg syncconf`, both on wireguard-go (userspace backend), a fresh interface per measurement.
 * Prints one "SUMMARY|..." line per metric for bench/run-all plus a readable table. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mesh/mesh.h"
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
	if (waitpid(pid, &status, 0) < 0)
		return -1;
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

	t = now_ms();
	if (mesh_apply(m, inputs, n_peers, false, &res) < 0)
		die("mesh_apply failed");
	*apply_ms = now_ms() - t;
	if (res.added != n_peers || res.routes_added != n_peers || res.failed || res.n_errors) {
		fprintf(stderr, "added=%u routes=%u failed=%u errors=%zu\n", res.added,
			res.routes_added, res.failed, res.n_errors);
		die("mesh_apply did not add every peer");
	}
	mesh_apply_result_done(&res);

	writes = mesh_device_writes(m);
	for (unsigned k = 0; k < noop_reps; k++) {
		t = now_ms();
		if (mesh_apply(m, inputs, n_peers, true, &res) < 0)
			die("no-op mesh_apply failed");
		noop_ms[k] = now_ms() - t;
		if (res.n_corrections || res.failed)
			die("no-op reconcile corrected something");
		mesh_apply_result_done(&res);
	}
	if (mesh_device_writes(m) != writes)
		die("no-op reconcile wrote to the device");
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
	*setconf_ms = timed(setconf);
	for (unsigned k = 0; k < noop_reps; k++)
		sync_ms[k] = timed(syncconf);
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
	unlink(conf_path);
	sd_event_unref(event);
	free(gen);
	free(inputs);
	return 0;
}
