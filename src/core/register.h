/* Registration (agent.md §4.2): resolve a bootstrap token, generate a WireGuard key pair, call
 * the register endpoint with backoff, persist the identity, delete a file-based token. Runs on
 * the event loop; `plexd up` waits for tokens indefinitely, `plexd join` gives up. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "shared/time-util.h"

struct api_client;
struct config;
struct identity;
struct cp_peer_list;
struct registration;

/* r: 0 with an identity (ownership passes to the callback) and the initial peers (borrowed,
 * valid during the call; NULL when an existing identity was loaded), or a negative errno
 * (join only: -ENOENT no token, -EPERM token rejected, -ETIMEDOUT retry budget exhausted). */
typedef void (*registration_done_fn)(int r, struct identity *id, const struct cp_peer_list *peers,
				     void *userdata);

struct registration_params {
	const struct config *config;
	struct api_client *api;
	const char *token_file;   /* NULL = config->token.file */
	bool join;                /* CLI: prompt on a TTY, stop on permanent errors and budget */
	bool replace;             /* re-authentication (§2.9): register even if an identity exists */
	registration_done_fn done;
	void *userdata;
};

int registration_start(sd_event *event, const struct registration_params *p,
		       struct registration **ret);
struct registration *registration_free(struct registration *reg);

/* Registration facts sent as metadata (os, arch, kernel, version, mode + configured). */
struct cp_metadata;
int registration_build_metadata(const struct config *c, struct cp_metadata *ret);
