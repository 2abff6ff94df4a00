/* Control socket subsystem (agent.md §3.2) and its CLI client helpers (§3.3 `plexd status`). */
#include <curl/curl.h>
#include <grp.h>
#include <sys/stat.h>

#define LOG_COMPONENT "control"
#include "shared/log.h"

#include "config/config.h"
#include "core/control.h"
#include "core/manager.h"

#define CONTROL_MAX_ROUTES	64
#define CONTROL_CLIENT_MAX_BODY ((size_t)16 * 1024 * 1024)

const enum control_auth control_auth_levels[_CONTROL_AUTH_MAX] = {
    CONTROL_AUTH_ANY,
    CONTROL_AUTH_PLEXD,
    CONTROL_AUTH_ROOT,
};

/* What the merged httpd table points to through route.data. */
struct control_route {
	const struct httpd_route *orig;
	void *userdata;
};

struct control {
	struct manager *manager;
	struct httpd *httpd;
	char *socket_path;
	bool have_plexd_gid;
	gid_t plexd_gid;

	struct control_route entries[CONTROL_MAX_ROUTES];
	struct httpd_route table[CONTROL_MAX_ROUTES];
	size_t n_routes;
};

bool control_auth_allows(enum control_auth level, uid_t uid, bool in_plexd_group)
{
	if (uid == 0)
		return true;
	switch (level) {
	case CONTROL_AUTH_ANY:
		return true;
	case CONTROL_AUTH_PLEXD:
		return in_plexd_group;
	case CONTROL_AUTH_ROOT:
	case _CONTROL_AUTH_MAX:
		break;
	}
	return false;
}

static enum control_auth route_level(const struct httpd_route *route)
{
	const struct control_route *cr = route->data;
	const enum control_auth *lvl = cr->orig->data;
	return lvl ? *lvl : CONTROL_AUTH_PLEXD;
}

static int control_authorize(struct httpd_request *req, const struct httpd_route *route,
			     void *userdata)
{
	struct control *c = userdata;
	uid_t uid;
	gid_t gid;
	bool in_group;

	if (httpd_request_peer(req, NULL, &uid, &gid) < 0) {
		(void)httpd_reply_error(req, 403, "permission denied", NULL);
		return -EPERM;
	}
	in_group = c->have_plexd_gid && httpd_request_peer_in_group(req, c->plexd_gid);
	if (control_auth_allows(route_level(route), uid, in_group))
		return 0;
	log_info("control request denied", "uid=%u path=%s", (unsigned)uid,
		 httpd_request_path(req));
	(void)httpd_reply_error(req, 403, "permission denied", NULL);
	return -EPERM;
}

static int control_dispatch(struct httpd_request *req, void *userdata)
{
	const struct control_route *cr = httpd_request_route(req)->data;
	return cr->orig->handler(req, cr->userdata);
}

int control_add_routes(struct control *c, const struct httpd_route *routes, size_t n,
		       void *userdata)
{
	if (c->httpd)
		return -EBUSY;
	if (n > CONTROL_MAX_ROUTES - c->n_routes)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		size_t k = c->n_routes++;
		c->entries[k] = (struct control_route){.orig = &routes[i], .userdata = userdata};
		c->table[k] = routes[i];
		c->table[k].handler = control_dispatch;
		c->table[k].data = &c->entries[k];
	}
	return 0;
}

static int handle_status(struct httpd_request *req, void *userdata)
{
	struct control *c = userdata;
	json_t *status;
	int r;

	r = manager_status_json(c->manager, &status);
	if (r < 0)
		return r;
	return httpd_reply_json(req, 200, status);
}

static const struct httpd_route control_routes[] = {
    {"GET", "/v1/status", handle_status, 0, 0, CONTROL_AUTH(PLEXD)},
};

static int control_new(struct manager *m, void **ret)
{
	struct control *c;
	int r;

	c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->manager = m;
	r = control_add_routes(c, control_routes, ELEMENTSOF(control_routes), c);
	if (r < 0) {
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

static int control_start(void *p)
{
	struct control *c = p;
	const struct config *cfg = manager_get_config(c->manager);
	struct group *g;
	int r;

	/* A missing group is normal (then only root passes the plexd level). */
	g = getgrnam("plexd");
	if (g) {
		c->have_plexd_gid = true;
		c->plexd_gid = g->gr_gid;
	}
	c->socket_path = strdup(cfg->actions.socket);
	if (!c->socket_path)
		return -ENOMEM;
	struct httpd_config hc = {
	    .unix_path = c->socket_path,
	    /* World-connectable by design: every request is authorized by SO_PEERCRED. */
	    .unix_mode = 0666,
	    .max_connections = 32,
	    .connection_timeout_sec = 30,
	    .max_body = 1024 * 1024,
	    .authorize = control_authorize,
	    .routes = c->table,
	    .n_routes = c->n_routes,
	    .userdata = c,
	};
	r = httpd_new(manager_get_event(c->manager), &hc, &c->httpd);
	if (r < 0) {
		c->socket_path = mfree(c->socket_path);
		return log_error_errno(r, "cannot open control socket", "path=%s err=%m",
				       cfg->actions.socket);
	}
	log_info("control socket listening", "path=%s", c->socket_path);
	return 0;
}

static void control_stop(void *p)
{
	struct control *c = p;

	c->httpd = httpd_free(c->httpd);
	c->socket_path = mfree(c->socket_path);
}

static void *control_free(void *p)
{
	struct control *c = p;

	if (!c)
		return NULL;
	httpd_free(c->httpd);
	free(c->socket_path);
	free(c);
	return NULL;
}

static int control_status(void *p, json_t *status)
{
	struct control *c = p;
	return json_object_set_new(status, "control_socket", json_string(c->socket_path)) < 0
		   ? -ENOMEM
		   : 0;
}

const struct subsystem_ops control_subsystem_ops = {
    .name = "control",
    .new = control_new,
    .start = control_start,
    .stop = control_stop,
    .free = control_free,
    .status = control_status,
};

/* --- CLI side --- */

struct client_buf {
	char *data;
	size_t len;
	bool too_big;
};

static size_t client_write(char *p, size_t sz, size_t n, void *userdata)
{
	struct client_buf *b = userdata;
	size_t l = sz * n;
	char *d;

	if (b->len + l > CONTROL_CLIENT_MAX_BODY) {
		b->too_big = true;
		return 0;
	}
	d = realloc(b->data, b->len + l + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, p, l);
	b->len += l;
	d[b->len] = '\0';
	b->data = d;
	return l;
}

int control_client_request(const char *socket_path, const char *method, const char *path,
			   const char *body, long *ret_status, char **ret_body)
{
	struct client_buf buf = {};
	struct curl_slist *headers = NULL;
	char url[1024];
	struct stat st;
	CURLcode cc;
	CURL *curl;
	int r = 0;

	if (stat(socket_path, &st) < 0)
		return negative_errno();
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	snprintf(url, sizeof url, "http://localhost%s", path);
	curl = curl_easy_init();
	if (!curl)
		return -ENOMEM;
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, client_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
	if (body) {
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	}
	cc = curl_easy_perform(curl);
	if (cc == CURLE_COULDNT_CONNECT)
		r = -ECONNREFUSED;
	else if (cc != CURLE_OK)
		r = buf.too_big ? -EFBIG : -EIO;
	else
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, ret_status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	if (r < 0) {
		free(buf.data);
		return r;
	}
	*ret_body = buf.data ? buf.data : strdup("");
	return *ret_body ? 0 : -ENOMEM;
}

static const char *jstr(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? s : dflt;
}

static long long jint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

#define LABEL "%-13s"

int control_status_print(json_t *st, FILE *f)
{
	json_t *b;

	if (!json_is_object(st))
		return -EINVAL;

	b = json_object_get(st, "node");
	if (json_is_object(b) && jstr(b, "node_id", NULL))
		fprintf(f, LABEL "%s (%s) mode=%s version=%s\n", "Node:", jstr(b, "node_id", ""),
			jstr(b, "mesh_ip", "unknown"), jstr(st, "mode", "unknown"),
			jstr(st, "version", "unknown"));
	else
		fprintf(f, LABEL "not registered mode=%s version=%s\n",
			"Node:", jstr(st, "mode", "unknown"), jstr(st, "version", "unknown"));
	fprintf(f, LABEL "%s\n", "Uptime:", jstr(st, "uptime", "unknown"));

	b = json_object_get(st, "control");
	if (json_is_object(b))
		fprintf(f, LABEL "%s last_heartbeat=%s sse_reconnects=%lld\n",
			"Control:", jstr(b, "state", "unknown"), jstr(b, "last_heartbeat", "never"),
			jint(b, "sse_reconnects"));
	else
		fprintf(f, LABEL "unknown\n", "Control:");

	b = json_object_get(st, "nat");
	if (json_is_object(b))
		fprintf(f, LABEL "%s type=%s\n", "NAT:", jstr(b, "endpoint", "unknown"),
			jstr(b, "type", "unknown"));
	else
		fprintf(f, LABEL "unknown type=unknown\n", "NAT:");

	b = json_object_get(st, "mesh");
	if (json_is_object(b))
		fprintf(f, LABEL "%s port=%lld peers=%lld/%lld active=%lld\n",
			"Mesh:", jstr(b, "interface", "unknown"), jint(b, "port"),
			jint(b, "peers_configured"), jint(b, "peers_desired"),
			jint(b, "peers_active"));
	else
		fprintf(f, LABEL "unknown\n", "Mesh:");

	b = json_object_get(st, "policies");
	if (json_is_object(b))
		fprintf(f, LABEL "%lld policies, %lld rules, firewall=%s\n",
			"Policies:", jint(b, "policies"), jint(b, "rules"),
			jstr(b, "firewall", "unknown"));
	else
		fprintf(f, LABEL "unknown\n", "Policies:");

	b = json_object_get(st, "state");
	if (json_is_object(b))
		fprintf(f,
			LABEL
			"metadata=%lld data=%lld secrets=%lld reports=%lld (pending sync: %lld)\n",
			"State:", jint(b, "metadata"), jint(b, "data"), jint(b, "secrets"),
			jint(b, "reports"), jint(b, "pending_sync"));
	else
		fprintf(f, LABEL "unknown\n", "State:");

	b = json_object_get(st, "integrity");
	if (json_is_object(b))
		fprintf(f, LABEL "binary=%s status=%s\n",
			"Integrity:", jstr(b, "binary", "unknown"), jstr(b, "status", "unknown"));
	else
		fprintf(f, LABEL "unknown\n", "Integrity:");

	if (streq(jstr(st, "mode", ""), "bridge")) {
		b = json_object_get(st, "bridge");
		if (json_is_object(b))
			fprintf(f, LABEL "relay=%lld user_access=%lld ingress=%lld s2s=%lld\n",
				"Bridge:", jint(b, "relay_sessions"), jint(b, "user_access_peers"),
				jint(b, "ingress_rules"), jint(b, "s2s_tunnels"));
		else
			fprintf(f, LABEL "unknown\n", "Bridge:");
	}
	return 0;
}
