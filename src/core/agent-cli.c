/* CLI commands of the mesh issue (agent.md §3.3): `plexd join`, `plexd peers`, `plexd
 * deregister`. Short-lived processes: join and the local deregistration run their own small
 * event loop around the same non-blocking client the daemon uses. */
#define LOG_COMPONENT "cli"

#include <jansson.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <sys/wait.h>

#include "config/config.h"
#include "controlplane/api.h"
#include "core/agent-cli.h"
#include "core/control.h"
#include "core/identity.h"
#include "core/register.h"
#include "mesh/rtnl.h"
#include "policy/firewall.h"
#include "policy/status.h"
#include "shared/fileio.h"
#include "shared/log.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3, EXIT_PERMISSION = 77 };

static int api_for(const struct config *c, sd_event *e, struct api_client **ret)
{
	struct http_client_config hc = {
		.base_url = c->api,
		.ca_file = c->api_client.ca_file,
		.insecure_skip_verify = c->api_client.insecure_skip_verify,
		.allow_insecure_http = c->api_client.allow_insecure_http,
		.connect_timeout = (usec_t)c->api_client.connect_timeout / 1000,
		.request_timeout = (usec_t)c->api_client.request_timeout / 1000,
	};
	if (!c->api) {
		fprintf(stderr, "plexd: config: api: required (file, PLEXD_API or --api)\n");
		return -EINVAL;
	}
	return api_client_new(e, &hc, ret);
}

/* --- join -------------------------------------------------------------------------------- */

struct join_ctx {
	sd_event *event;
	int result;
	bool already;
	struct identity *id;
};

static void on_join_done(int r, struct identity *id, const struct cp_peer_list *peers, void *userdata)
{
	struct join_ctx *j = userdata;

	j->result = r;
	j->id = id;
	j->already = r == 0 && !peers;
	sd_event_exit(j->event, 0);
}

int agent_cli_join(const struct config *c, const char *token_file)
{
	_cleanup_(identity_freep) struct identity *existing = NULL;
	struct join_ctx j = { .result = -EIO };
	struct api_client *api = NULL;
	struct registration *reg = NULL;
	int r, ret = EXIT_FAIL;

	if (geteuid() != 0) {
		fprintf(stderr, "plexd join: must run as root\n");
		return EXIT_PERMISSION;
	}
	r = data_dir_prepare(c->data_dir);
	if (r < 0) {
		fprintf(stderr, "plexd join: data_dir %s: %s\n", c->data_dir, strerror(-r));
		return EXIT_FAIL;
	}
	if (identity_load(c->data_dir, &existing) == 0) {
		printf("node_id: %s\nmesh_ip: %s\nalready registered\n", existing->node_id,
		       existing->mesh_ip_str);
		return EXIT_OK;
	}
	r = sd_event_new(&j.event);
	if (r < 0)
		return EXIT_FAIL;
	r = api_for(c, j.event, &api);
	if (r < 0) {
		ret = r == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
		goto out;
	}
	struct registration_params p = {
		.config = c, .api = api, .token_file = token_file, .join = true,
		.done = on_join_done, .userdata = &j,
	};
	r = registration_start(j.event, &p, &reg);
	if (r < 0)
		goto out;
	(void)sd_event_loop(j.event);
	if (j.result == 0) {
		printf("node_id: %s\nmesh_ip: %s\n", j.id->node_id, j.id->mesh_ip_str);
		if (j.already)
			printf("already registered\n");
		ret = EXIT_OK;
	} else if (j.result == -ENOENT)
		fprintf(stderr, "plexd join: no bootstrap token found (file %s, environment %s%s%s)\n",
			token_file ? token_file : c->token.file, c->token.env,
			isatty(STDIN_FILENO) ? ", prompt" : "",
			c->token.metadata ? ", cloud metadata" : "");
	else if (j.result == -EPERM)
		fprintf(stderr, "plexd join: the control plane rejected the bootstrap token\n");
	else if (j.result == -ETIMEDOUT)
		fprintf(stderr, "plexd join: control plane unreachable; retry budget exhausted\n");
	else
		fprintf(stderr, "plexd join: registration failed: %s\n", strerror(-j.result));
out:
	identity_free(j.id);
	registration_free(reg);
	api_client_free(api);
	sd_event_unref(j.event);
	return ret;
}

/* --- peers ------------------------------------------------------------------------------- */

static void human_bytes(json_int_t n, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%lld B", (long long)n);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

int agent_peers_print(json_t *resp, bool all, FILE *f)
{
	json_t *peers = json_object_get(resp, "peers"), *p;
	size_t i;

	if (!json_is_array(peers))
		return -EINVAL;
	fprintf(f, "%-24s %-15s %-23s %-20s %-10s %-10s %s\n", "PEER ID", "MESH IP", "ENDPOINT",
		"LAST HANDSHAKE", "RX", "TX", "STATE");
	/* The daemon lists peers sorted by id already. */
	json_array_foreach(peers, i, p)
	{
		const char *state = json_string_value(json_object_get(p, "state"));
		const char *ep = json_string_value(json_object_get(p, "endpoint"));
		const char *hs = json_string_value(json_object_get(p, "last_handshake"));
		char rx[32], tx[32];

		if (!all && state && streq(state, "hidden"))
			continue;
		human_bytes(json_integer_value(json_object_get(p, "rx_bytes")), rx, sizeof rx);
		human_bytes(json_integer_value(json_object_get(p, "tx_bytes")), tx, sizeof tx);
		fprintf(f, "%-24s %-15s %-23s %-20s %-10s %-10s %s\n",
			strempty(json_string_value(json_object_get(p, "id"))),
			strempty(json_string_value(json_object_get(p, "mesh_ip"))),
			isempty(ep) ? "-" : ep, hs ? hs : "never", rx, tx, strempty(state));
	}
	return 0;
}

static int control_get(const struct config *c, const char *method, const char *path,
		       const char *body, const char *cmd, json_t **ret, long *ret_status)
{
	_cleanup_free_ char *text = NULL;
	json_error_t err;
	long status = 0;
	int r;

	r = control_client_request(c->actions.socket, method, path, body, &status, &text);
	if (r == -ENOENT || r == -ECONNREFUSED) {
		fprintf(stderr, "plexd %s: daemon not reachable at %s\n", cmd, c->actions.socket);
		return EXIT_UNREACHABLE;
	}
	if (r == -EACCES) {
		fprintf(stderr, "plexd %s: permission denied on %s\n", cmd, c->actions.socket);
		return EXIT_PERMISSION;
	}
	if (r < 0) {
		fprintf(stderr, "plexd %s: %s\n", cmd, strerror(-r));
		return EXIT_FAIL;
	}
	*ret_status = status;
	*ret = json_loads(text ? text : "{}", 0, &err);
	if (!*ret) {
		fprintf(stderr, "plexd %s: invalid answer from the daemon\n", cmd);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int agent_cli_peers(const struct config *c, bool json, bool all)
{
	json_t *resp = NULL;
	long status;
	int r;

	r = control_get(c, "GET", "/v1/peers", NULL, "peers", &resp, &status);
	if (r != EXIT_OK)
		return r;
	if (status == 403) {
		json_decref(resp);
		fprintf(stderr, "plexd peers: permission denied\n");
		return EXIT_PERMISSION;
	}
	if (status != 200) {
		fprintf(stderr, "plexd peers: daemon answered %ld\n", status);
		json_decref(resp);
		return EXIT_FAIL;
	}
	if (json) {
		json_dumpf(resp, stdout, JSON_INDENT(2));
		putchar('\n');
	} else
		(void)agent_peers_print(resp, all, stdout);
	json_decref(resp);
	return EXIT_OK;
}

int agent_cli_policies(const struct config *c, bool json)
{
	json_t *resp = NULL;
	long status;
	int r;

	r = control_get(c, "GET", "/v1/policies", NULL, "policies", &resp, &status);
	if (r != EXIT_OK)
		return r;
	if (status != 200) {
		fprintf(stderr, "plexd policies: %s\n",
			status == 403 ? "permission denied"
				      : strempty(json_string_value(json_object_get(resp, "error"))));
		json_decref(resp);
		return status == 403 ? EXIT_PERMISSION : EXIT_FAIL;
	}
	if (json) {
		json_dumpf(resp, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (policy_status_print(resp, stdout) < 0) {
		fprintf(stderr, "plexd policies: invalid answer from the daemon\n");
		json_decref(resp);
		return EXIT_FAIL;
	}
	json_decref(resp);
	return EXIT_OK;
}

/* --- deregister --------------------------------------------------------------------------- */

struct dereg_ctx {
	sd_event *event;
	enum api_result_kind kind;
	long status;
};

static void on_dereg(const struct api_result *r, void *userdata)
{
	struct dereg_ctx *d = userdata;
	d->kind = r->kind;
	d->status = r->status;
	sd_event_exit(d->event, 0);
}

/* One attempt plus two retries within about 10 s (§4.6 step 3). */
static int deregister_call(const struct config *c, const struct identity *id, long *ret_status)
{
	struct dereg_ctx d = { .kind = API_RESULT_TRANSIENT };
	struct api_client *api = NULL;
	int r;

	r = sd_event_new(&d.event);
	if (r < 0)
		return r;
	r = api_for(c, d.event, &api);
	if (r >= 0)
		r = api_client_set_identity(api, id->node_id, id->node_token, id->nsk);
	for (int attempt = 0; r >= 0 && attempt < 3; attempt++) {
		if (attempt > 0)
			sleep(2); /* CLI only: never inside the daemon's loop */
		r = api_deregister(api, on_dereg, &d, NULL);
		if (r < 0)
			break;
		(void)sd_event_loop(d.event);
		if (d.kind != API_RESULT_TRANSIENT && d.kind != API_RESULT_RATE_LIMITED)
			break;
	}
	api_client_free(api);
	sd_event_unref(d.event);
	if (r < 0)
		return r;
	*ret_status = d.status;
	if (d.kind == API_RESULT_OK)
		return 0;
	if (d.status == 401 || d.status == 404)
		return 1;
	return -EIO;
}

static void local_teardown(const struct config *c)
{
	struct nlsock *nl = NULL;
	struct policy_firewall *fw = NULL;
	struct rtnl_link link;

	if (policy_firewall_new(&fw) >= 0) {
		if (policy_firewall_teardown(fw) >= 0)
			printf("removed nftables table inet plexd\n");
		policy_firewall_free(fw);
	}

	if (nlsock_open(NETLINK_ROUTE, &nl) < 0)
		return;
	if (rtnl_link_get(nl, c->mesh.interface, &link) >= 0 && rtnl_link_delete(nl, link.ifindex) >= 0)
		printf("removed interface %s\n", c->mesh.interface);
	nlsock_free(nl);
}

int agent_cli_deregister(const struct config *c, bool purge)
{
	_cleanup_(identity_freep) struct identity *id = NULL;
	_cleanup_free_ char *body = NULL;
	json_t *resp = NULL;
	long status = 0;
	int r;

	if (geteuid() != 0) {
		fprintf(stderr, "plexd deregister: must run as root\n");
		return EXIT_PERMISSION;
	}
	if (asprintf(&body, "{\"purge\":%s}", purge ? "true" : "false") < 0)
		return EXIT_FAIL;
	r = control_get(c, "POST", "/v1/deregister", body, "deregister", &resp, &status);
	if (r == EXIT_OK) {
		const char *node = json_string_value(json_object_get(resp, "node_id"));
		if (status == 200) {
			printf("node %s deregistered\n", strempty(node));
			if (purge)
				printf("local data purged\n");
		} else
			fprintf(stderr, "plexd deregister: %s\n",
				strempty(json_string_value(json_object_get(resp, "error"))));
		json_decref(resp);
		return status == 200 ? EXIT_OK : EXIT_FAIL;
	}
	if (r != EXIT_UNREACHABLE)
		return r;

	/* No daemon: the CLI runs the sequence itself. */
	r = identity_load(c->data_dir, &id);
	if (r < 0) {
		fprintf(stderr, "plexd deregister: node is not registered\n");
		return EXIT_FAIL;
	}
	r = deregister_call(c, id, &status);
	if (r < 0) {
		fprintf(stderr, "plexd deregister: control plane unreachable (status %ld); nothing "
				"was deleted\n",
			status);
		return EXIT_FAIL;
	}
	if (r == 1)
		fprintf(stderr, "warn: control plane does not know this node; cleaning up locally\n");
	(void)identity_remove(c->data_dir);
	local_teardown(c);
	printf("node %s deregistered\n", id->node_id);
	if (purge) {
		(void)rm_rf(c->data_dir);
		(void)unlink(c->token.file);
		printf("local data purged\n");
	}
	return EXIT_OK;
}
