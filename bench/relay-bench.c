/* Relay benchmark client: UDP throughput and round-trip latency between two local sockets, either
 * directly or through a relay session (src/bridge relay-run). Standalone; built by run-relay.sh.
 *   relay-bench A_IP:PORT B_IP:PORT [RELAY_IP:PORT]   (no relay: direct)
 * Prints one JSON line: {"mode","pps","mbps","loss","rtt_p50_us","rtt_p99_us"}. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD	   1420 /* a WireGuard data packet at MTU 1420 minus nothing: close enough */
#define BATCH	   32
#define DURATION_S 3
#define PINGS	   5000

static struct sockaddr_in parse(const char *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	char *c = strrchr(buf, ':');
	if (!c)
		exit(64);
	*c = 0;
	a.sin_port = htons((uint16_t)atoi(c + 1));
	if (inet_pton(AF_INET, buf, &a.sin_addr) != 1)
		exit(64);
	return a;
}

static int sock(struct sockaddr_in a)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int big = 8 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("bind");
		exit(1);
	}
	return fd;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static atomic_bool stop;
static atomic_ulong received;
static int rx_fd;

static void *receiver(void *arg)
{
	static uint8_t bufs[BATCH][2048];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	struct timeval tv = {.tv_usec = 100000};
	setsockopt(rx_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (!atomic_load(&stop)) {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
			m[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
		}
		int n = recvmmsg(rx_fd, m, BATCH, MSG_WAITFORONE, NULL);
		if (n > 0)
			atomic_fetch_add(&received, (unsigned long)n);
	}
	return NULL;
}

static int cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 64;
	struct sockaddr_in a = parse(argv[1]), b = parse(argv[2]);
	struct sockaddr_in target = argc > 3 ? parse(argv[3]) : b;
	int fa = sock(a), fb = sock(b);

	/* Latency: A -> (relay) -> B, B echoes to whoever sent it, back to A. */
	double *rtt = calloc(PINGS, sizeof(double));
	uint8_t buf[2048], msg[64] = {1};
	struct timeval tv = {.tv_sec = 1};
	setsockopt(fa, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fb, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* Warm-up through the relay (B's first datagram reaches A); direct needs none. */
	if (argc > 3) {
		sendto(fb, msg, sizeof(msg), 0, (struct sockaddr *)&target, sizeof(target));
		usleep(100000);
		while (recv(fa, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	}
	int lost = 0;
	for (int i = 0; i < PINGS; i++) {
		double t0 = now();
		sendto(fa, msg, sizeof(msg), 0, (struct sockaddr *)&target, sizeof(target));
		struct sockaddr_in from;
		socklen_t sl = sizeof(from);
		if (recvfrom(fb, buf, sizeof(buf), 0, (struct sockaddr *)&from, &sl) < 0 ||
		    sendto(fb, msg, sizeof(msg), 0, (struct sockaddr *)&from, sl) < 0 ||
		    recv(fa, buf, sizeof(buf), 0) < 0) {
			lost++;
			rtt[i] = 1e9;
			continue;
		}
		rtt[i] = (now() - t0) * 1e6;
	}
	qsort(rtt, PINGS, sizeof(double), cmp);

	/* Throughput: A blasts for DURATION_S, B counts what arrives. */
	rx_fd = fb;
	pthread_t th;
	pthread_create(&th, NULL, receiver, NULL);
	static uint8_t payload[PAYLOAD];
	struct mmsghdr m[BATCH];
	struct iovec iov = {payload, sizeof(payload)};
	for (int i = 0; i < BATCH; i++)
		m[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &target,
						    .msg_namelen = sizeof(target),
						    .msg_iov = &iov,
						    .msg_iovlen = 1}};
	unsigned long sent = 0;
	double t0 = now(), t1;
	while ((t1 = now()) - t0 < DURATION_S) {
		int n = sendmmsg(fa, m, BATCH, 0);
		if (n > 0)
			sent += (unsigned long)n;
	}
	usleep(300000);
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	unsigned long got = atomic_load(&received);
	double secs = t1 - t0;
	printf("{\"mode\":\"%s\",\"sent\":%lu,\"received\":%lu,\"pps\":%.0f,\"mbps\":%.1f,\"loss\":"
	       "%.4f,"
	       "\"rtt_p50_us\":%.1f,\"rtt_p99_us\":%.1f,\"ping_lost\":%d}\n",
	       argc > 3 ? "relay" : "direct", sent, got, (double)got / secs,
	       (double)got * PAYLOAD * 8 / secs / 1e6, sent ? 1.0 - (double)got / (double)sent : 0,
	       rtt[PINGS / 2], rtt[PINGS * 99 / 100], lost);
	return 0;
}
