/* plexd entry point: global flags (agent.md §3.1), the command table, and `up` (§4.1). */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_COMPONENT "plexd"
#include "shared/fileio.h"
#include "shared/log.h"

#include "config/config.h"
#include "core/agent-cli.h"
#include "core/control.h"
#include "core/manager.h"
#include "version.h"

extern char **environ;

/* §3.1 exit codes. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
	EXIT_PERMISSION = 77,
};

#define MAX_ARGS 64

struct cli {
	const char *config_path;
	const char *api;
	const char *log_level;
	const char *mode;
	bool json;
	bool version;
	bool help;
	/* Everything that is not a global flag, in order: command words, then its arguments. */
	char *args[MAX_ARGS];
	int n_args;
};

struct command {
	const char *words; /* "config check" */
	int (*run)(struct cli *cli, const char *name, int argc, char **argv);
	const char *usage;
};

static int cmd_up(struct cli *cli, const char *name, int argc, char **argv);
static int cmd_config_check(struct cli *cli, const char *name, int argc, char **argv);
static int cmd_status(struct cli *cli, const char *name, int argc, char **argv);
static int cmd_help(struct cli *cli, const char *name, int argc, char **argv);
static int cmd_version(struct cli *cli, const char *name, int argc, char **argv);
static int cmd_join(struct cli *cli, const char *name, int argc, char **argv);
static int cmd_peers(struct cli *cli, const char *name, int argc, char **argv);
static int cmd_deregister(struct cli *cli, const char *name, int argc, char **argv);
static int cmd_policies(struct cli *cli, const char *name, int argc, char **argv);

static const struct command commands[] = {
    {"up", cmd_up, "run the daemon in the foreground"},
    {"config check", cmd_config_check, "validate the configuration and print it"},
    {"join", cmd_join, "register with a bootstrap token and exit [--token-file PATH]"},
    {"status", cmd_status, "show the running daemon's status"},
    {"peers", cmd_peers, "list mesh peers [--all]"},
    {"policies", cmd_policies, "show policies, compiled rules with counters, skipped rules"},
    {"deregister", cmd_deregister, "deregister this node [--purge]"},
    {"version", cmd_version, "print version information"},
    {"help", cmd_help, "show this help"},
};

/* Global flags; has_arg: takes a value (--flag VALUE or --flag=VALUE). */
static const struct global_flag {
	const char *name;
	bool has_arg;
	size_t offset; /* into struct cli: const char * or bool */
} global_flags[] = {
    {"--config", true, offsetof(struct cli, config_path)},
    {"--api", true, offsetof(struct cli, api)},
    {"--log-level", true, offsetof(struct cli, log_level)},
    {"--mode", true, offsetof(struct cli, mode)},
    {"--json", false, offsetof(struct cli, json)},
    {"--version", false, offsetof(struct cli, version)},
    {"--help", false, offsetof(struct cli, help)},
    {"-h", false, offsetof(struct cli, help)},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: plexd [global flags] <command> [command flags] [args]\n\n"
		"Global flags:\n"
		"  --config PATH      config file (default %s)\n"
		"  --api URL          override api\n"
		"  --log-level LEVEL  override log_level (debug, info, warn, error)\n"
		"  --mode MODE        override mode (node, bridge)\n"
		"  --json             print JSON instead of text\n"
		"  --version          print version information\n"
		"  -h, --help         show this help\n\n"
		"Commands:\n",
		CONFIG_DEFAULT_PATH);
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		fprintf(f, "  %-16s %s\n", commands[i].words, commands[i].usage);
}

/* Pulls global flags out of argv wherever they appear (before or after the command). */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	bool rest = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const struct global_flag *gf = NULL;
		const char *value = NULL;

		if (!rest && streq(a, "--")) {
			rest = true;
			continue;
		}
		if (!rest && a[0] == '-')
			for (size_t k = 0; k < ELEMENTSOF(global_flags); k++) {
				size_t l = strlen(global_flags[k].name);
				if (streq(a, global_flags[k].name)) {
					gf = &global_flags[k];
					break;
				}
				if (global_flags[k].has_arg && strneq(a, global_flags[k].name, l) &&
				    a[l] == '=') {
					gf = &global_flags[k];
					value = a + l + 1;
					break;
				}
			}
		if (!gf) {
			if (cli->n_args >= MAX_ARGS) {
				fprintf(stderr, "plexd: too many arguments\n");
				return -E2BIG;
			}
			cli->args[cli->n_args++] = argv[i];
			continue;
		}
		if (gf->has_arg) {
			if (!value) {
				if (i + 1 >= argc) {
					fprintf(stderr, "plexd: option %s requires an argument\n",
						gf->name);
					return -EINVAL;
				}
				value = argv[++i];
			}
			*(const char **)((char *)cli + gf->offset) = value;
		} else
			*(bool *)((char *)cli + gf->offset) = true;
	}
	return 0;
}

/* Number of leading args that spell cmd->words, 0 when they do not. */
static int command_match(const struct command *cmd, const struct cli *cli)
{
	const char *w = cmd->words;
	int n = 0;

	while (*w) {
		size_t l = strcspn(w, " ");
		if (n >= cli->n_args || strlen(cli->args[n]) != l || !strneq(cli->args[n], w, l))
			return 0;
		n++;
		w += l;
		w += strspn(w, " ");
	}
	return n;
}

static const struct command *command_find(const struct cli *cli, int *ret_words)
{
	const struct command *best = NULL;
	int best_n = 0;

	for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
		int n = command_match(&commands[i], cli);
		if (n > best_n) {
			best = &commands[i];
			best_n = n;
		}
	}
	*ret_words = best_n;
	return best;
}

static bool is_group_word(const char *w)
{
	for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
		size_t l = strcspn(commands[i].words, " ");
		if (commands[i].words[l] == ' ' && strlen(w) == l &&
		    strneq(commands[i].words, w, l))
			return true;
	}
	return false;
}

static int cmd_version(struct cli *cli, const char *name, int argc, char **argv)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *d = __DATE__; /* "Mmm dd yyyy" */
	const char *mp = strstr(months, (char[]){d[0], d[1], d[2], 0});
	int month = mp ? (int)(mp - months) / 3 + 1 : 0;

	if (argc > 0) {
		fprintf(stderr, "plexd %s: unexpected argument '%s'\n", name, argv[0]);
		return EXIT_USAGE;
	}
	printf("plexd version %s\n", PLEXD_VERSION);
	printf("commit: %s\n", PLEXD_COMMIT);
	printf("built: %.4s-%02d-%02d\n", d + 7, month, atoi(d + 4));
	return EXIT_OK;
}

static int cmd_help(struct cli *cli, const char *name, int argc, char **argv)
{
	usage(stdout);
	return EXIT_OK;
}

static void sources_from_cli(const struct cli *cli, struct config_sources *src)
{
	*src = (struct config_sources){
	    .config_path = cli->config_path,
	    .config_path_explicit = cli->config_path != NULL,
	    .flag_api = cli->api,
	    .flag_mode = cli->mode,
	    .flag_log_level = cli->log_level,
	    .environ = environ,
	};
}

static int load_config(const struct cli *cli, struct config **ret)
{
	struct config_sources src;
	struct config_diag diag = {};
	int r;

	sources_from_cli(cli, &src);
	r = config_load(&src, ret, &diag);
	if (r < 0) {
		if (diag.n > 0)
			config_diag_print(&diag, stderr);
		else
			fprintf(stderr, "plexd: config: cannot load configuration: %s\n",
				strerror(-r));
	}
	config_diag_done(&diag);
	return r;
}

static int no_extra_args(const char *name, int argc, char **argv)
{
	if (argc > 0) {
		fprintf(stderr, "plexd %s: unexpected argument '%s'\n", name, argv[0]);
		return -EINVAL;
	}
	return 0;
}

static int cmd_config_check(struct cli *cli, const char *name, int argc, char **argv)
{
	_cleanup_(config_freep) struct config *c = NULL;
	int r;

	if (no_extra_args(name, argc, argv) < 0)
		return EXIT_USAGE;
	if (load_config(cli, &c) < 0)
		return EXIT_USAGE;
	r = config_print(c, stdout, cli->json);
	if (r < 0) {
		fprintf(stderr, "plexd %s: cannot print configuration: %s\n", name, strerror(-r));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int cmd_status(struct cli *cli, const char *name, int argc, char **argv)
{
	_cleanup_(config_freep) struct config *c = NULL;
	struct config_sources src;
	_cleanup_free_ char *body = NULL;
	const char *socket;
	json_t *j;
	long status = 0;
	int r;

	if (no_extra_args(name, argc, argv) < 0)
		return EXIT_USAGE;
	/* §3.2: a config the caller cannot read (or that is broken) falls back silently to
	 * environment and defaults for the socket path. */
	sources_from_cli(cli, &src);
	if (config_load(&src, &c, NULL) >= 0)
		socket = c->actions.socket;
	else
		socket = getenv("PLEXD_ACTIONS_SOCKET") ?: "/var/run/plexd.sock";

	r = control_client_request(socket, "GET", "/v1/status", NULL, &status, &body);
	if (r < 0) {
		fprintf(stderr, "plexd %s: daemon not reachable at %s: %s\n", name, socket,
			strerror(-r));
		return r == -EACCES ? EXIT_PERMISSION : EXIT_UNREACHABLE;
	}
	j = json_loads(body, 0, NULL);
	if (status != 200) {
		const char *msg = json_string_value(json_object_get(j, "error"));
		fprintf(stderr, "plexd %s: %s\n", name, msg ?: "request failed");
		json_decref(j);
		return status == 401 || status == 403 ? EXIT_PERMISSION : EXIT_FAIL;
	}
	if (!j) {
		fprintf(stderr, "plexd %s: invalid response from daemon\n", name);
		return EXIT_FAIL;
	}
	if (cli->json)
		printf("%s\n", body);
	else
		(void)control_status_print(j, stdout);
	json_decref(j);
	return EXIT_OK;
}

/* Parses "--flag" / "--flag VALUE" options of one command; unknown ones are a usage error. */
static int parse_cmd_flags(const char *name, int argc, char **argv, const char *bool_flag,
			   bool *ret_bool, const char *value_flag, const char **ret_value)
{
	for (int i = 0; i < argc; i++) {
		if (bool_flag && streq(argv[i], bool_flag))
			*ret_bool = true;
		else if (value_flag && streq(argv[i], value_flag) && i + 1 < argc)
			*ret_value = argv[++i];
		else {
			fprintf(stderr, "plexd %s: unexpected argument '%s'\n", name, argv[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static int cmd_join(struct cli *cli, const char *name, int argc, char **argv)
{
	_cleanup_(config_freep) struct config *c = NULL;
	const char *token_file = NULL;

	if (parse_cmd_flags(name, argc, argv, NULL, NULL, "--token-file", &token_file) < 0)
		return EXIT_USAGE;
	if (load_config(cli, &c) < 0)
		return EXIT_USAGE;
	log_set_max_level(MAX(log_level_from_string(config_log_level_to_string(c->log_level)),
			      LOG_ERR));
	return agent_cli_join(c, token_file);
}

static int cmd_peers(struct cli *cli, const char *name, int argc, char **argv)
{
	_cleanup_(config_freep) struct config *c = NULL;
	bool all = false;

	if (parse_cmd_flags(name, argc, argv, "--all", &all, NULL, NULL) < 0)
		return EXIT_USAGE;
	if (load_config(cli, &c) < 0)
		return EXIT_USAGE;
	return agent_cli_peers(c, cli->json, all);
}

static int cmd_policies(struct cli *cli, const char *name, int argc, char **argv)
{
	_cleanup_(config_freep) struct config *c = NULL;

	if (no_extra_args(name, argc, argv) < 0)
		return EXIT_USAGE;
	if (load_config(cli, &c) < 0)
		return EXIT_USAGE;
	return agent_cli_policies(c, cli->json);
}

static int cmd_deregister(struct cli *cli, const char *name, int argc, char **argv)
{
	_cleanup_(config_freep) struct config *c = NULL;
	bool purge = false;

	if (parse_cmd_flags(name, argc, argv, "--purge", &purge, NULL, NULL) < 0)
		return EXIT_USAGE;
	if (load_config(cli, &c) < 0)
		return EXIT_USAGE;
	return agent_cli_deregister(c, purge);
}

static int make_parent_dir(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);

	if (!copy)
		return -ENOMEM;
	return mkdir_p(dirname(copy), 0755);
}

/* §4.1 step 2: one daemon per data_dir. The fd stays open (and locked) until exit. */
static int take_lock(const char *data_dir, int *ret_fd)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;

	if (asprintf(&path, "%s/plexd.lock", data_dir) < 0)
		return -ENOMEM;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	if (fchmod(fd, 0600) < 0)
		return negative_errno();
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : negative_errno();
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int cmd_up(struct cli *cli, const char *name, int argc, char **argv)
{
	_cleanup_(config_freep) struct config *c = NULL;
	_cleanup_(manager_freep) struct manager *m = NULL;
	_cleanup_close_ int lock_fd = -EBADF;
	struct config_diag diag = {};
	struct config_sources src;
	int r, level;

	if (no_extra_args(name, argc, argv) < 0)
		return EXIT_USAGE;
	if (load_config(cli, &c) < 0)
		return EXIT_USAGE;
	r = config_require_api(c, &diag);
	if (r >= 0 && c->config_path)
		r = config_check_file_owner(c->config_path, geteuid(), &diag);
	if (r < 0) {
		config_diag_print(&diag, stderr);
		config_diag_done(&diag);
		return EXIT_USAGE;
	}
	config_diag_done(&diag);

	log_open();
	level = log_level_from_string(config_log_level_to_string(c->log_level));
	if (level >= 0)
		log_set_max_level(level);
	log_info("starting", "version=%s commit=%s config=%s mode=%s", PLEXD_VERSION, PLEXD_COMMIT,
		 c->config_path ?: "none", config_mode_to_string(c->mode));
	if (c->api_client.allow_insecure_http && strneq(c->api, "http:", 5))
		log_warning(
		    "using plain http for the control plane (api_client.allow_insecure_http)",
		    "api=%s", c->api);
	if (c->api_client.insecure_skip_verify)
		log_warning(
		    "TLS certificate verification disabled (api_client.insecure_skip_verify)");

	/* §2.1: the runtime directory holding node_api.socket, and the control socket's. */
	r = make_parent_dir(c->node_api.socket);
	if (r >= 0)
		r = make_parent_dir(c->actions.socket);
	if (r < 0) {
		fprintf(stderr, "plexd %s: cannot create runtime directory: %s\n", name,
			strerror(-r));
		return EXIT_FAIL;
	}
	/* The lock lives in data_dir, so the directory must exist first; the repair pass (which
	 * deletes temp files) runs only once the lock is held. */
	r = mkdir_p(c->data_dir, 0700);
	if (r >= 0)
		r = take_lock(c->data_dir, &lock_fd);
	if (r == -EBUSY) {
		fprintf(stderr, "plexd %s: another plexd instance is running\n", name);
		return EXIT_FAIL;
	}
	if (r < 0) {
		fprintf(stderr, "plexd %s: cannot lock %s/plexd.lock: %s\n", name, c->data_dir,
			strerror(-r));
		return EXIT_FAIL;
	}
	r = data_dir_prepare(c->data_dir);
	if (r < 0) {
		fprintf(stderr, "plexd %s: data_dir %s unusable: %s\n", name, c->data_dir,
			strerror(-r));
		return EXIT_FAIL;
	}

	sources_from_cli(cli, &src);
	r = manager_new(&(struct manager_params){.config = TAKE_PTR(c), .sources = &src}, &m);
	if (r < 0) {
		fprintf(stderr, "plexd %s: %s\n", name, strerror(-r));
		return EXIT_FAIL;
	}
	r = manager_run(m);
	if (r < 0) {
		log_error_errno(r, "plexd stopped on a fatal error", "err=%m");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct cli cli = {};
	const struct command *cmd;
	int words;

	if (parse_args(argc, argv, &cli) < 0)
		return EXIT_USAGE;
	if (cli.version)
		return cmd_version(&cli, "version", 0, NULL);
	if (cli.help) {
		usage(stdout);
		return EXIT_OK;
	}
	if (cli.n_args == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = command_find(&cli, &words);
	if (!cmd) {
		if (is_group_word(cli.args[0]) && cli.n_args > 1)
			fprintf(stderr, "plexd %s: unknown command '%s'\n", cli.args[0],
				cli.args[1]);
		else if (is_group_word(cli.args[0]))
			fprintf(stderr, "plexd %s: missing subcommand\n", cli.args[0]);
		else
			fprintf(stderr, "plexd: unknown command '%s' (see plexd --help)\n",
				cli.args[0]);
		return EXIT_USAGE;
	}
	return cmd->run(&cli, cmd->words, cli.n_args - words, cli.args + words);
}
