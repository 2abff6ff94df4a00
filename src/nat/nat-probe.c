/* Test tool: runs NAT discovery from a given port and prints one JSON line per cycle
 * ({"error":0,"endpoint":"ip:port","nat_type":"...","changed":bool}). Used by
 * tests/e2e/test_nat.py. */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "nat/nat.h"
#include "shared/log.h"
#include "shared/macro.h"
#include "shared/wire.h"

static unsigned cycles_left = 1;

static void on_result(struct nat *n, int error, const struct nat_result *r, bool changed,
		      void *userdata)
{
	sd_event *e = userdata;
	char ep[64] = "";
	if (r) {
		struct sockaddr_storage ss = {0};
		memcpy(&ss, &r->endpoint, sizeof(r->endpoint));
		(void)endpoint_format(&ss, ep, sizeof(ep));
	}
	printf("{\"error\":%d,\"endpoint\":\"%s\",\"nat_type\":\"%s\",\"changed\":%s}\n", error, ep,
	       r ? nat_type_to_string(r->type) : "", changed ? "true" : "false");
	fflush(stdout);
	if (--cycles_left == 0)
		sd_event_exit(e, error < 0 ? 2 : 0);
}

static int usage(void)
{
	fprintf(
	    stderr,
	    "usage: nat-probe --port P --server HOST:PORT [--server ...] [--timeout-ms N]\n"
	    "                 [--refresh-ms N] [--cycles N] [--hold] [--transport auto|raw|udp]\n"
	    "                 [--cache PATH] [--debug]\n");
	return 64;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"port", required_argument, NULL, 'p'},
	    {"server", required_argument, NULL, 's'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"refresh-ms", required_argument, NULL, 'r'},
	    {"cycles", required_argument, NULL, 'c'},
	    {"hold", no_argument, NULL, 'H'},
	    {"transport", required_argument, NULL, 'T'},
	    {"cache", required_argument, NULL, 'C'},
	    {"debug", no_argument, NULL, 'd'},
	    {0},
	};
	char *servers[8];
	struct nat_config c = {.timeout = 5 * USEC_PER_SEC,
			       .refresh_interval = 60 * USEC_PER_SEC,
			       .stun_servers = servers};
	bool hold = false;
	int o;

	log_open();
	while ((o = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (o) {
		case 'p':
			c.listen_port = (uint16_t)atoi(optarg);
			break;
		case 's':
			if (c.n_stun_servers >= ELEMENTSOF(servers))
				return usage();
			servers[c.n_stun_servers++] = optarg;
			break;
		case 't':
			c.timeout = (usec_t)strtoull(optarg, NULL, 10) * USEC_PER_MSEC;
			break;
		case 'r':
			c.refresh_interval = (usec_t)strtoull(optarg, NULL, 10) * USEC_PER_MSEC;
			break;
		case 'c':
			cycles_left = (unsigned)atoi(optarg);
			break;
		case 'H':
			hold = true;
			break;
		case 'T':
			c.transport = streq(optarg, "raw")   ? NAT_TRANSPORT_RAW
				      : streq(optarg, "udp") ? NAT_TRANSPORT_UDP
							     : NAT_TRANSPORT_AUTO;
			break;
		case 'C':
			c.cache_path = optarg;
			break;
		case 'd':
			log_set_max_level(LOG_DEBUG);
			break;
		default:
			return usage();
		}
	}
	if (c.listen_port == 0 || c.n_stun_servers == 0 || cycles_left == 0)
		return usage();

	/* --hold: occupy the port like WireGuard would, so the raw path is what answers. */
	_cleanup_close_ int holder = -EBADF;
	if (hold) {
		holder = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c.listen_port)};
		if (holder < 0 || bind(holder, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("bind --hold");
			return 1;
		}
	}

	sd_event *e = NULL;
	if (sd_event_default(&e) < 0)
		return 1;
	struct nat *n = NULL;
	int r = nat_new(e, &c, on_result, e, &n);
	if (r < 0) {
		fprintf(stderr, "nat_new: %s\n", strerror(-r));
		return 1;
	}
	r = nat_start(n);
	if (r >= 0)
		r = sd_event_loop(e);
	else
		r = 1;
	nat_free(n);
	sd_event_unref(e);
	return r;
}
