/* CLI commands that belong to the agent: join, peers, deregister. Each returns a process exit
 * code of agent.md §3.1. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct config;

int agent_cli_join(const struct config *c, const char *token_file);
int agent_cli_peers(const struct config *c, bool json, bool all);
int agent_cli_policies(const struct config *c, bool json);
int agent_cli_deregister(const struct config *c, bool purge);
/* The `plexd peers` table from the /v1/peers answer. */
int agent_peers_print(json_t *resp, bool all, FILE *f);
