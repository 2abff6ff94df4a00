/* Test/bench tool: runs the bridge relay with sessions from the command line until SIGTERM.
 *   relay-run [--bind IP] [--listen-port P] [--port-base B] [--max-sessions N] [--ttl-sec S]
 *             --session ID,A_IP:PORT,B_IP:PORT[,RELAY_PORT] ...
 * Prints "ready" once serving; SIGUSR1 and exit print the status JSON (one line) to stdout. */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "bridge/relay.h"
#include "shared/log.h"
#include "shared/macro.h"
#include "shared/wire.h"

static void print_status(struct relay *r)
{
	json_t *j = NULL;
	if (relay_status_json(r, &j) < 0)
		return;
	char *s = json_dumps(j, JSON_COMPACT);
	if (s)
		printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(j);
}

static int on_usr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	print_status(userdata);
	return 0;
}

static int parse_ep(const char *s, struct sockaddr_in *ret)
{
	struct sockaddr_storage ss;
	if (endpoint_parse(s, &ss) < 0 || ss.ss_family != AF_INET)
		return -EINVAL;
	memcpy(ret, &ss, sizeof(*ret));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"bind", required_argument, NULL, 'b'},
	    {"listen-port", required_argument, NULL, 'l'},
	    {"port-base", required_argument, NULL, 'p'},
	    {"max-sessions", required_argument, NULL, 'm'},
	    {"ttl-sec", required_argument, NULL, 't'},
	    {"session", required_argument, NULL, 's'},
	    {"debug", no_argument, NULL, 'd'},
	    {0},
	};
	struct relay_config c = {
	    .session_port_base = 52000, .max_sessions = 100, .session_ttl = 300 * USEC_PER_SEC};
	struct relay_assignment as[64];
	char *specs[64];
	size_t n = 0;
	int o;

	log_open();
	while ((o = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (o) {
		case 'b':
			if (inet_pton(AF_INET, optarg, &c.bind_address) != 1)
				return 64;
			break;
		case 'l':
			c.listen_port = (uint16_t)atoi(optarg);
			break;
		case 'p':
			c.session_port_base = (uint16_t)atoi(optarg);
			break;
		case 'm':
			c.max_sessions = (unsigned)atoi(optarg);
			break;
		case 't':
			c.session_ttl = (usec_t)strtoull(optarg, NULL, 10) * USEC_PER_SEC;
			break;
		case 's': {
			if (n >= ELEMENTSOF(as))
				return 64;
			specs[n] = strdup(optarg);
			char *save = NULL, *id = strtok_r(specs[n], ",", &save),
			     *a = strtok_r(NULL, ",", &save), *b = strtok_r(NULL, ",", &save),
			     *port = strtok_r(NULL, ",", &save);
			as[n] = (struct relay_assignment){.session_id = id,
							  .port = port ? (uint16_t)atoi(port) : 0};
			if (!id || !a || !b || parse_ep(a, &as[n].peer_a) < 0 ||
			    parse_ep(b, &as[n].peer_b) < 0) {
				fprintf(stderr, "bad --session %s\n", optarg);
				return 64;
			}
			n++;
			break;
		}
		case 'd':
			log_set_max_level(LOG_DEBUG);
			break;
		default:
			return 64;
		}
	}

	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGUSR1);
	sigprocmask(SIG_BLOCK, &ss, NULL);

	sd_event *e = NULL;
	struct relay *r = NULL;
	if (sd_event_default(&e) < 0 || relay_new(e, &c, &r) < 0 || relay_start(r) < 0)
		return 1;
	sd_event_add_signal(e, NULL, SIGTERM, NULL, NULL);
	sd_event_add_signal(e, NULL, SIGINT, NULL, NULL);
	sd_event_add_signal(e, NULL, SIGUSR1, on_usr1, r);
	if (relay_sessions_sync(r, as, n) != 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	int ret = sd_event_loop(e);
	print_status(r);
	relay_free(r);
	sd_event_unref(e);
	for (size_t i = 0; i < n; i++)
		free(specs[i]);
	return ret < 0 ? 1 : 0;
}
