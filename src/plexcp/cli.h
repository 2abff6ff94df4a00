/* plexcp administration subcommands: blocking libcurl calls to the admin unix socket,
 * human tables by default, JSON with --json. */
#pragma once

#include <stdbool.h>

struct cli_context {
	const char *socket_path;
	bool json;
};

/* argv[0] is the subcommand word ("token", "node", ...). Returns the process exit status;
 * -ENOENT when the word is not an admin subcommand. */
int cli_dispatch(const struct cli_context *ctx, int argc, char **argv);
void cli_usage(void);
