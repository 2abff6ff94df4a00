/* Cloud metadata token source (agent.md §4.2): a small state machine over the provider table
 * of token.c. Every failure here means "source unavailable" and is logged at debug; neither
 * the token nor the AWS session token is ever logged. */
#define LOG_COMPONENT "token"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/http.h"
#include "core/token-metadata.h"
#include "shared/json-util.h"
#include "shared/log.h"
#include "shared/macro.h"

#define METADATA_TIMEOUT_DEFAULT (2 * USEC_PER_SEC) /* decision 3 */
/* §4.2: a bare token body is read up to 513 bytes, a longer one is an error (-EFBIG here,
 * before token.c would say -E2BIG). Azure/OpenStack answer with whole JSON documents, which
 * token.c bounds at 64 KiB; probes read at most that much too. */
#define METADATA_TOKEN_BODY_MAX ((size_t)513)
#define METADATA_DOC_BODY_MAX ((size_t)65536)
/* One client per scheme://host: IMDS (169.254.169.254) and GCE (metadata.google.internal). */
#define METADATA_CLIENTS_MAX 2

enum fetch_step {
	FETCH_STEP_PROBE,
	FETCH_STEP_TOKEN,
};

struct metadata_fetch {
	sd_event *event;
	bool auto_detect;
	enum metadata_provider provider; /* the one being asked now */
	enum fetch_step step;
	char *path;
	usec_t timeout;
	char *base_override;
	metadata_fetch_done_fn done;
	void *userdata;

	struct http_client *clients[METADATA_CLIENTS_MAX];
	char *client_base[METADATA_CLIENTS_MAX];
	struct http_request *request;
	char *aws_session; /* IMDSv2 session token: a credential, wiped */

	/* The result is delivered from a defer source so the callback can free the fetch (and
	 * with it the HTTP clients, which must not happen inside their own callbacks). */
	sd_event_source *defer;
	int result;
	char *token;
	enum metadata_provider used;
};

static const char *provider_name(enum metadata_provider p)
{
	return p < _METADATA_PROVIDER_MAX ? metadata_provider_to_string(p) : "none";
}

int metadata_url_split(const char *url, char **ret_base, const char **ret_path)
{
	const char *host, *slash;
	char *base;

	if (strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		return -EINVAL;
	slash = host + strcspn(host, "/?#");
	if (slash == host)
		return -EINVAL;
	base = strndup(url, (size_t)(slash - url));
	if (!base)
		return -ENOMEM;
	*ret_base = base;
	*ret_path = *slash == '/' ? slash : "/";
	return 0;
}

void metadata_provider_from_config(enum config_metadata_provider c, bool *ret_auto,
				   enum metadata_provider *ret)
{
	static const struct {
		bool is_auto;
		enum metadata_provider p;
	} map[] = {
		[CONFIG_METADATA_PROVIDER_AUTO] = { true, METADATA_AWS },
		[CONFIG_METADATA_PROVIDER_AWS] = { false, METADATA_AWS },
		[CONFIG_METADATA_PROVIDER_GCP] = { false, METADATA_GCP },
		[CONFIG_METADATA_PROVIDER_AZURE] = { false, METADATA_AZURE },
		[CONFIG_METADATA_PROVIDER_OPENSTACK] = { false, METADATA_OPENSTACK },
		[CONFIG_METADATA_PROVIDER_DIGITALOCEAN] = { false, METADATA_DIGITALOCEAN },
		[CONFIG_METADATA_PROVIDER_GENERIC] = { false, METADATA_GENERIC },
	};

	if ((size_t)c >= ELEMENTSOF(map)) {
		*ret_auto = true;
		*ret = METADATA_AWS;
		return;
	}
	*ret_auto = map[c].is_auto;
	*ret = map[c].p;
}

static int on_defer(sd_event_source *s, void *userdata)
{
	struct metadata_fetch *f = userdata;
	char *token = TAKE_PTR(f->token);

	(void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
	/* Outside any curl callback now: the connections can go before the caller continues. */
	for (size_t i = 0; i < METADATA_CLIENTS_MAX; i++)
		f->clients[i] = http_client_free(f->clients[i]);
	f->done(f->result, token, f->used, f->userdata);
	return 0;
}

static void fetch_finish(struct metadata_fetch *f, int r, char *token)
{
	int k;

	f->result = r;
	f->token = token;
	f->used = r == 0 || f->step == FETCH_STEP_TOKEN ? f->provider : _METADATA_PROVIDER_MAX;
	k = sd_event_source_set_enabled(f->defer, SD_EVENT_ONESHOT);
	if (k < 0) {
		/* Cannot happen for an existing defer source; never leave the caller waiting
		 * silently in the log either. */
		log_error_errno(k, "cannot schedule metadata result", "err=%m");
	}
}

static int client_for(struct metadata_fetch *f, const char *base, struct http_client **ret)
{
	size_t i;
	int r;

	for (i = 0; i < METADATA_CLIENTS_MAX && f->client_base[i]; i++)
		if (streq(f->client_base[i], base)) {
			if (!f->clients[i])
				break; /* freed after an earlier result: recreate */
			*ret = f->clients[i];
			return 0;
		}
	if (i == METADATA_CLIENTS_MAX)
		return -E2BIG;
	struct http_client_config cfg = {
		.base_url = base,
		.local_service = true,
		.connect_timeout = f->timeout,
		.request_timeout = f->timeout,
		.max_body = METADATA_DOC_BODY_MAX,
	};
	r = http_client_new(f->event, &cfg, &f->clients[i]);
	if (r < 0)
		return r;
	if (!f->client_base[i]) {
		f->client_base[i] = strdup(base);
		if (!f->client_base[i]) {
			f->clients[i] = http_client_free(f->clients[i]);
			return -ENOMEM;
		}
	}
	*ret = f->clients[i];
	return 0;
}

static void on_http_done(struct http_request *req, const struct http_response *resp,
			 void *userdata);

/* Sends one request of the provider table: the probe, or the token request. */
static int fetch_send(struct metadata_fetch *f)
{
	static const char *const capture[] = { "Metadata-Flavor", NULL };
	struct metadata_request mr;
	_cleanup_free_ char *base = NULL;
	struct http_client *c;
	const char *path;
	size_t max_body;
	int r;

	if (f->step == FETCH_STEP_PROBE) {
		if (!metadata_probe_request(f->provider, &mr))
			return -EINVAL;
		max_body = METADATA_DOC_BODY_MAX;
	} else {
		metadata_token_request(f->provider, f->path, f->aws_session, &mr);
		max_body = f->provider == METADATA_AZURE || f->provider == METADATA_OPENSTACK
				   ? METADATA_DOC_BODY_MAX
				   : METADATA_TOKEN_BODY_MAX;
	}
	r = metadata_url_split(mr.url, &base, &path);
	if (r >= 0) {
		if (f->base_override) {
			free(base);
			base = strdup(f->base_override);
			if (!base)
				r = -ENOMEM;
		}
	}
	if (r >= 0)
		r = client_for(f, base, &c);
	if (r >= 0) {
		struct http_request_opts o = {
			.method = mr.method,
			.path = path,
			.headers = mr.headers,
			.capture_headers = f->provider == METADATA_GCP ? capture : NULL,
			.max_body = max_body,
			.timeout = f->timeout,
		};
		r = http_request_start(c, &o, on_http_done, f, &f->request);
	}
	/* metadata_token_request() formats the session header into a static buffer. */
	if (f->provider == METADATA_AWS && f->step == FETCH_STEP_TOKEN && mr.headers[0])
		explicit_bzero((char *)mr.headers[0], strlen(mr.headers[0]));
	if (r < 0)
		return log_debug_errno(r, "cannot send metadata request",
				       "provider=%s step=%s err=%m", provider_name(f->provider),
				       f->step == FETCH_STEP_PROBE ? "probe" : "token");
	log_debug("metadata request sent", "provider=%s step=%s method=%s path=%s",
		  provider_name(f->provider), f->step == FETCH_STEP_PROBE ? "probe" : "token",
		  mr.method, path);
	return 0;
}

/* Sends the current step; when that cannot even be sent, moves on as if it had failed. */
static void fetch_run(struct metadata_fetch *f);

/* Moves past a provider whose probe did not answer. false when nothing is left to try. */
static bool fetch_next_provider(struct metadata_fetch *f)
{
	if (!f->auto_detect) {
		/* Only the forced aws has a probe: its session PUT failed, IMDSv1 it is. */
		f->step = FETCH_STEP_TOKEN;
		return f->provider == METADATA_AWS;
	}
	f->provider++;
	if (f->provider >= METADATA_GENERIC) {
		f->provider = METADATA_GENERIC;
		f->step = FETCH_STEP_TOKEN; /* last resort, no probe */
	}
	return true;
}

static void fetch_run(struct metadata_fetch *f)
{
	for (;;) {
		int r = fetch_send(f);
		if (r >= 0)
			return;
		if (r == -ENOMEM || f->step == FETCH_STEP_TOKEN || !fetch_next_provider(f)) {
			fetch_finish(f, r == -ENOMEM ? r : -ENOENT, NULL);
			return;
		}
	}
}

static bool body_is_json(const struct http_response *resp)
{
	_cleanup_json_ json_t *j = NULL;
	struct json_error je = {};

	return json_parse_bounded(resp->body, resp->body_len, &j, &je) >= 0;
}

/* Did the provider answer its probe (§4.2 table)? */
static bool probe_answered(struct metadata_fetch *f, const struct http_response *resp)
{
	const char *flavor;

	if (resp->error < 0)
		return false;
	switch (f->provider) {
	case METADATA_AWS:
		/* The body is the session token, sent back in a header: it must be header-safe. */
		return resp->status == 200 && token_is_valid(resp->body) &&
		       strlen(resp->body) == resp->body_len;
	case METADATA_GCP:
		flavor = http_response_header(resp, "Metadata-Flavor");
		return flavor && streq(flavor, "Google");
	case METADATA_AZURE:
	case METADATA_OPENSTACK:
		return resp->status == 200 && body_is_json(resp);
	case METADATA_DIGITALOCEAN:
		return resp->status == 200;
	case METADATA_GENERIC:
	case _METADATA_PROVIDER_MAX:
		break;
	}
	return false;
}

static void on_probe_done(struct metadata_fetch *f, const struct http_response *resp)
{
	char *token = NULL;
	int r;

	if (!probe_answered(f, resp)) {
		log_debug("metadata provider did not answer its probe",
			  "provider=%s status=%ld error=\"%s\"", provider_name(f->provider),
			  resp->status, resp->error_text);
		if (!fetch_next_provider(f)) {
			fetch_finish(f, -ENOENT, NULL);
			return;
		}
		fetch_run(f);
		return;
	}
	log_debug("metadata provider answered", "provider=%s", provider_name(f->provider));
	f->step = FETCH_STEP_TOKEN;
	if (f->provider == METADATA_AWS) {
		f->aws_session = strndup(resp->body, resp->body_len);
		if (!f->aws_session) {
			fetch_finish(f, -ENOMEM, NULL);
			return;
		}
	} else if (f->provider == METADATA_OPENSTACK) {
		/* The token request is the same document: no need to fetch it twice. */
		r = metadata_extract_token(f->provider, f->path, resp->body, resp->body_len, &token);
		if (r < 0)
			log_debug_errno(r, "no bootstrap token in metadata", "provider=%s err=%m",
					provider_name(f->provider));
		fetch_finish(f, r == -ENOMEM ? r : r < 0 ? -ENOENT : 0, token);
		return;
	}
	fetch_run(f);
}

static void on_token_done(struct metadata_fetch *f, const struct http_response *resp)
{
	char *token = NULL;
	int r;

	if (resp->error < 0 || resp->status != 200) {
		log_debug("metadata token request failed", "provider=%s status=%ld error=\"%s\"",
			  provider_name(f->provider), resp->status, resp->error_text);
		fetch_finish(f, -ENOENT, NULL);
		return;
	}
	r = metadata_extract_token(f->provider, f->path, resp->body, resp->body_len, &token);
	if (r == -ENOMEM) {
		fetch_finish(f, r, NULL);
		return;
	}
	if (r < 0) {
		log_debug_errno(r, "no bootstrap token in metadata", "provider=%s err=%m",
				provider_name(f->provider));
		fetch_finish(f, -ENOENT, NULL);
		return;
	}
	fetch_finish(f, 0, token);
}

static void on_http_done(struct http_request *req, const struct http_response *resp,
			 void *userdata)
{
	struct metadata_fetch *f = userdata;

	f->request = NULL;
	if (f->step == FETCH_STEP_PROBE)
		on_probe_done(f, resp);
	else
		on_token_done(f, resp);
}

int metadata_fetch_start(sd_event *event, const struct metadata_fetch_params *p,
			 struct metadata_fetch **ret)
{
	struct metadata_fetch *f;
	int r;

	if (!event || !p || !p->done || isempty(p->path) || p->path[0] != '/' ||
	    (!p->auto_detect && (size_t)p->provider >= _METADATA_PROVIDER_MAX))
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->event = sd_event_ref(event);
	f->auto_detect = p->auto_detect;
	f->provider = p->auto_detect ? METADATA_AWS : p->provider;
	/* Forced providers skip the probe — except aws, whose probe is the session PUT. */
	f->step = f->provider == METADATA_AWS ? FETCH_STEP_PROBE : FETCH_STEP_TOKEN;
	f->timeout = p->timeout ? p->timeout : METADATA_TIMEOUT_DEFAULT;
	f->done = p->done;
	f->userdata = p->userdata;
	f->used = _METADATA_PROVIDER_MAX;
	f->path = strdup(p->path);
	if (p->base_url_override)
		f->base_override = strdup(p->base_url_override);
	if (!f->path || (p->base_url_override && !f->base_override)) {
		metadata_fetch_free(f);
		return -ENOMEM;
	}
	r = sd_event_add_defer(event, &f->defer, on_defer, f);
	if (r < 0) {
		metadata_fetch_free(f);
		return r;
	}
	(void)sd_event_source_set_enabled(f->defer, SD_EVENT_OFF);
	(void)sd_event_source_set_description(f->defer, "metadata-result");

	/* Failures to send are "unavailable" and reported through the callback like the rest. */
	fetch_run(f);
	*ret = f;
	return 0;
}

struct metadata_fetch *metadata_fetch_free(struct metadata_fetch *f)
{
	if (!f)
		return NULL;
	f->defer = sd_event_source_disable_unref(f->defer);
	/* Freeing a client cancels its request without a callback. */
	for (size_t i = 0; i < METADATA_CLIENTS_MAX; i++) {
		f->clients[i] = http_client_free(f->clients[i]);
		free(f->client_base[i]);
	}
	erase_and_free(f->aws_session);
	erase_and_free(f->token);
	free(f->path);
	free(f->base_override);
	sd_event_unref(f->event);
	free(f);
	return NULL;
}
