/* plexcp entry point: `plexcp serve` runs the control plane; every other subcommand is an admin
 * client of a running server (cli.c). */
#define LOG_COMPONENT "plexcp"

#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "plexcp/cli.h"
#include "plexcp/server.h"
#include "shared/log.h"
#include "shared/time-util.h"

#define DEFAULT_DB "/var/lib/plexcp/plexcp.db"

static int parse_dur_usec(const char *flag, const char *v, usec_t min, usec_t *ret)
{
	int64_t ns;

	if (duration_parse(v, &ns) < 0 || ns < 0 || (usec_t)(ns / 1000) < min) {
		fprintf(stderr, "plexcp: %s: expected a duration like 30s\n", flag);
		return -EINVAL;
	}
	*ret = (usec_t)(ns / 1000);
	return 0;
}

static int parse_uint(const char *flag, const char *v, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno != 0 || end == v || *end != 0 || x > max) {
		fprintf(stderr, "plexcp: %s: expected an integer up to %lu\n", flag, max);
		return -EINVAL;
	}
	*ret = x;
	return 0;
}

static int cmd_serve(int argc, char **argv, const char *db, const char *admin_socket)
{
	enum {
		OPT_LISTEN = 0x100,
		OPT_DB,
		OPT_TLS_CERT,
		OPT_TLS_KEY,
		OPT_INSECURE,
		OPT_ADMIN,
		OPT_ARTIFACTS,
		OPT_HB,
		OPT_KA,
		OPT_EV_AGE,
		OPT_EV_COUNT,
		OPT_COOLDOWN,
		OPT_REC_COUNT,
		OPT_REC_AGE,
		OPT_SIGN_TRANS,
		OPT_RETRY,
		OPT_LOG_LEVEL,
	};
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "db", required_argument, NULL, OPT_DB },
		{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "insecure-http", no_argument, NULL, OPT_INSECURE },
		{ "admin-socket", required_argument, NULL, OPT_ADMIN },
		{ "artifacts", required_argument, NULL, OPT_ARTIFACTS },
		{ "heartbeat-interval", required_argument, NULL, OPT_HB },
		{ "keepalive-interval", required_argument, NULL, OPT_KA },
		{ "event-retention", required_argument, NULL, OPT_EV_AGE },
		{ "event-retention-count", required_argument, NULL, OPT_EV_COUNT },
		{ "ip-cooldown", required_argument, NULL, OPT_COOLDOWN },
		{ "record-max-count", required_argument, NULL, OPT_REC_COUNT },
		{ "record-max-age", required_argument, NULL, OPT_REC_AGE },
		{ "signing-transition", required_argument, NULL, OPT_SIGN_TRANS },
		{ "retry-ms", required_argument, NULL, OPT_RETRY },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{},
	};
	_cleanup_(server_freep) struct server *s = NULL;
	struct server_config cfg;
	unsigned long u;
	usec_t d;
	int c, r;

	server_config_default(&cfg);
	cfg.db_path = db;
	cfg.admin_socket = admin_socket;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_LISTEN:
			cfg.listen = optarg;
			break;
		case OPT_DB:
			cfg.db_path = optarg;
			break;
		case OPT_TLS_CERT:
			cfg.tls_cert = optarg;
			break;
		case OPT_TLS_KEY:
			cfg.tls_key = optarg;
			break;
		case OPT_INSECURE:
			cfg.insecure_http = true;
			break;
		case OPT_ADMIN:
			cfg.admin_socket = optarg;
			break;
		case OPT_ARTIFACTS:
			cfg.artifacts_dir = optarg;
			break;
		case OPT_HB:
			if (parse_dur_usec("--heartbeat-interval", optarg, 10 * USEC_PER_MSEC, &cfg.heartbeat_interval) < 0)
				return 2;
			break;
		case OPT_KA:
			if (parse_dur_usec("--keepalive-interval", optarg, 10 * USEC_PER_MSEC, &cfg.keepalive_interval) < 0)
				return 2;
			if (cfg.keepalive_interval > 30 * USEC_PER_SEC) {
				fprintf(stderr, "plexcp: --keepalive-interval: at most 30s (§5.2)\n");
				return 2;
			}
			break;
		case OPT_EV_AGE:
			if (parse_dur_usec("--event-retention", optarg, 0, &d) < 0)
				return 2;
			cfg.store.event_min_age_usec = (int64_t)d;
			break;
		case OPT_EV_COUNT:
			if (parse_uint("--event-retention-count", optarg, 1000000, &u) < 0)
				return 2;
			cfg.store.event_min_count = (unsigned)u;
			break;
		case OPT_COOLDOWN:
			if (parse_dur_usec("--ip-cooldown", optarg, 0, &d) < 0)
				return 2;
			cfg.store.ip_cooldown_usec = (int64_t)d;
			break;
		case OPT_REC_COUNT:
			if (parse_uint("--record-max-count", optarg, 100000000, &u) < 0)
				return 2;
			cfg.store.record_max_count = (unsigned)u;
			break;
		case OPT_REC_AGE:
			if (parse_dur_usec("--record-max-age", optarg, 0, &d) < 0)
				return 2;
			cfg.store.record_max_age_usec = (int64_t)d;
			break;
		case OPT_SIGN_TRANS:
			if (parse_dur_usec("--signing-transition", optarg, USEC_PER_SEC, &cfg.signing_transition) < 0)
				return 2;
			break;
		case OPT_RETRY:
			if (parse_uint("--retry-ms", optarg, 60000, &u) < 0 || u < 1000)
				return 2;
			cfg.retry_ms = (unsigned)u;
			break;
		case OPT_LOG_LEVEL:
			r = log_level_from_string(optarg);
			if (r < 0) {
				fprintf(stderr, "plexcp: --log-level: debug, info, notice, warn or error\n");
				return 2;
			}
			log_set_max_level(r);
			break;
		default:
			cli_usage();
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "plexcp: serve: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (!cfg.listen) {
		fprintf(stderr, "plexcp: serve: --listen ADDR:PORT is required\n");
		return 2;
	}
	if (!cfg.db_path)
		cfg.db_path = DEFAULT_DB;
	if (cfg.insecure_http == !!(cfg.tls_cert || cfg.tls_key) || (!cfg.insecure_http && !(cfg.tls_cert && cfg.tls_key))) {
		fprintf(stderr, "plexcp: serve: give --tls-cert and --tls-key, or --insecure-http\n");
		return 2;
	}
	if (cfg.insecure_http)
		log_warning("serving plain HTTP (--insecure-http): for tests and demos only");

	/* One descriptor per event stream: lift the soft limit to the hard one (1024 is too few). */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}

	r = server_new(&cfg, &s);
	if (r < 0) {
		log_error_errno(r, "cannot start", "err=%m");
		return 1;
	}
	log_info("plexcp started", "db=%s", cfg.db_path);
	r = server_run(s);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *db = NULL, *admin_socket = NULL;
	struct cli_context ctx = {};
	char *rest[256];
	int n = 0, r;
	_cleanup_free_ char *sock_default = NULL;

	log_open();
	/* Global options may appear anywhere; everything else is kept in order for the
	 * subcommand. */
	for (int i = 1; i < argc; i++) {
		if (streq(argv[i], "--json"))
			ctx.json = true;
		else if (streq(argv[i], "--db") && i + 1 < argc)
			db = argv[++i];
		else if (strneq(argv[i], "--db=", 5))
			db = argv[i] + 5;
		else if (streq(argv[i], "--admin-socket") && i + 1 < argc)
			admin_socket = argv[++i];
		else if (strneq(argv[i], "--admin-socket=", 15))
			admin_socket = argv[i] + 15;
		else if (streq(argv[i], "-h") || streq(argv[i], "--help")) {
			cli_usage();
			return 0;
		} else if (n < (int)ELEMENTSOF(rest) - 1)
			rest[n++] = argv[i];
	}
	rest[n] = NULL;
	if (n == 0) {
		cli_usage();
		return 2;
	}
	if (streq(rest[0], "serve")) {
		/* getopt wants argv[0] to be skipped: rest[0] = "serve" plays that role. */
		return cmd_serve(n, rest, db, admin_socket);
	}

	if (admin_socket)
		ctx.socket_path = admin_socket;
	else if (getenv("PLEXCP_ADMIN_SOCKET"))
		ctx.socket_path = getenv("PLEXCP_ADMIN_SOCKET");
	else {
		_cleanup_free_ char *copy = strdup(db ? db : DEFAULT_DB);
		if (!copy || asprintf(&sock_default, "%s/admin.sock", dirname(copy)) < 0)
			return 1;
		ctx.socket_path = sock_default;
	}
	r = cli_dispatch(&ctx, n, rest);
	if (r == -ENOENT) {
		fprintf(stderr, "plexcp: unknown command %s\n", rest[0]);
		cli_usage();
		return 2;
	}
	return r;
}
