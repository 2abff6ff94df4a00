/* The control socket (agent.md §3.2): HTTP on actions.socket, mode 0666, authorization per
 * request from SO_PEERCRED; GET /v1/status. Also the CLI side: a blocking request helper and
 * the `plexd status` text layout (§3.3). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "httpd/httpd.h"

struct manager;
struct control;
struct subsystem_ops;

/* Who may call a route (route.data of the routes given to control_add_routes). */
enum control_auth {
	CONTROL_AUTH_ANY,   /* any local user */
	CONTROL_AUTH_PLEXD, /* root or group plexd (primary or supplementary) */
	CONTROL_AUTH_ROOT,  /* root only */
	_CONTROL_AUTH_MAX,
};
/* route.data value for a level, e.g. { "GET", "/v1/peers", h, 0, 0, CONTROL_AUTH(PLEXD) }.
 * Routes without data require CONTROL_AUTH_PLEXD. */
extern const enum control_auth control_auth_levels[_CONTROL_AUTH_MAX];
#define CONTROL_AUTH(level) (&control_auth_levels[CONTROL_AUTH_##level])

/* Pure decision: uid 0 passes every level; in_plexd_group tells whether the caller has the
 * plexd group (false when the group does not exist). */
bool control_auth_allows(enum control_auth level, uid_t uid, bool in_plexd_group);

extern const struct subsystem_ops control_subsystem_ops;

/* Other subsystems add their endpoints from their new() (the control socket starts after
 * all subsystems were created). Handlers get the userdata given here, not the manager's.
 * The table must live as long as the subsystem. -EBUSY once the socket is open. */
int control_add_routes(struct control *c, const struct httpd_route *routes, size_t n,
		       void *userdata);

/* CLI: one blocking request over the unix socket (fine in a short-lived CLI process, never
 * in the daemon). body may be NULL (GET). Returns 0 with the HTTP status and body;
 * -ENOENT/-ECONNREFUSED/-EACCES when the daemon cannot be reached, -EIO otherwise. */
int control_client_request(const char *socket_path, const char *method, const char *path,
			   const char *body, long *ret_status, char **ret_body);

/* `plexd status` text layout of §3.3 from the /v1/status object; blocks the daemon does not
 * have yet print as unknown / not registered. */
int control_status_print(json_t *status, FILE *f);
