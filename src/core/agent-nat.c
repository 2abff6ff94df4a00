/* NAT discovery glue (agent.md §5.2–§5.3): every discovery result is reported with the endpoint
 * call and the peer endpoints of the answer are written to the desired state and the device. */
#define LOG_COMPONENT "nat"

#include <arpa/inet.h>
#include <stdio.h>

#include "config/config.h"
#include "core/agent-internal.h"
#include "nat/nat.h"
#include "shared/log.h"
#include "shared/wire.h"

static void on_endpoint_answer(const struct api_result *res, struct cp_endpoint_response *resp,
			       void *userdata)
{
	struct agent *a = userdata;
	size_t changed = 0;

	a->endpoint_request = NULL;
	if (res->kind != API_RESULT_OK) {
		/* No retry: the next refresh reports again (control-plane-api.md §2.8). */
		log_warning("endpoint report failed", "status=%ld detail=\"%s\"", res->status,
			    strempty(res->message));
		if (res->kind == API_RESULT_REAUTH)
			agent_reauth(a);
		return;
	}
	for (size_t i = 0; i < resp->n_errors; i++)
		log_warning("invalid peer endpoint in answer, ignoring", "error=\"%s\"",
			    resp->errors[i].text);
	for (size_t i = 0; i < resp->n_peer_endpoints; i++) {
		struct cp_peer *p = desired_peer_find(&a->desired, resp->peer_endpoints[i].peer_id);
		if (!p)
			continue; /* unknown peers are ignored (§5.3 rule 3) */
		if (p->endpoint.known && !p->relayed &&
		    memcmp(&p->endpoint.addr, &resp->peer_endpoints[i].endpoint,
			   sizeof p->endpoint.addr) == 0)
			continue;
		p->endpoint.known = true;
		p->endpoint.addr = resp->peer_endpoints[i].endpoint;
		p->relayed = false;
		changed++;
	}
	cp_endpoint_response_free(resp);
	if (changed) {
		log_info("peer endpoints updated from endpoint answer", "count=%zu", changed);
		(void)agent_persist_peers(a);
		(void)agent_apply_mesh(a, false, NULL);
	}
}

static void on_nat_result(struct nat *n, int error, const struct nat_result *r, bool changed,
			  void *userdata)
{
	struct agent *a = userdata;
	char ep[INET_ADDRSTRLEN + 8];
	struct cp_endpoint_report rep = {};

	if (error < 0) {
		log_warning("NAT discovery failed: no STUN server answered", "err=%d", error);
		return;
	}
	(void)endpoint_format((const struct sockaddr_storage *)&r->endpoint, ep, sizeof ep);
	if (changed)
		log_info("public endpoint discovered", "endpoint=%s nat_type=%s", ep,
			 nat_type_to_string(r->type));
	if (!a->identity || a->endpoint_request)
		return;
	memcpy(&rep.public_endpoint, &r->endpoint, sizeof r->endpoint);
	rep.nat_type = (enum cp_nat_type)r->type;
	if (api_endpoint(a->api, &rep, on_endpoint_answer, a, &a->endpoint_request) < 0)
		log_warning("cannot send endpoint report");
}

int agent_nat_start(struct agent *a)
{
	const struct config *c = agent_config(a);
	char cache[4096];
	int r;

	if (!c->nat_traversal.enabled) {
		log_info("NAT traversal disabled: no STUN traffic, no endpoint reports");
		return 0;
	}
	snprintf(cache, sizeof cache, "%s/cache/nat.json", c->data_dir);
	struct nat_config nc = {
		.listen_port = (uint16_t)c->mesh.listen_port,
		.stun_servers = c->nat_traversal.stun_servers.v,
		.n_stun_servers = c->nat_traversal.stun_servers.n,
		.timeout = (usec_t)c->nat_traversal.timeout / 1000,
		.refresh_interval = (usec_t)c->nat_traversal.refresh_interval / 1000,
		.cache_path = cache,
		.transport = NAT_TRANSPORT_AUTO,
	};
	r = nat_new(a->event, &nc, on_nat_result, a, &a->nat);
	if (r >= 0)
		r = nat_start(a->nat);
	if (r < 0)
		/* Not fatal (§4.3): the node runs without a reported endpoint. */
		log_warning_errno(r, "NAT discovery unavailable", "err=%m");
	return 0;
}

void agent_nat_stop(struct agent *a)
{
	if (a->endpoint_request)
		http_request_cancel(a->endpoint_request);
	a->endpoint_request = NULL;
	if (a->nat)
		nat_stop(a->nat);
}

bool agent_nat_info(struct agent *a, struct cp_nat_info *ret)
{
	struct nat_result r;

	if (!a->nat || nat_get_result(a->nat, &r) < 0)
		return false;
	memset(ret, 0, sizeof(*ret));
	memcpy(&ret->public_endpoint, &r.endpoint, sizeof r.endpoint);
	ret->type = (enum cp_nat_type)r.type;
	return true;
}

int agent_nat_status(struct agent *a, json_t *status)
{
	json_t *j = NULL;

	if (!a->nat)
		return json_object_set_new(status, "nat",
					   json_pack("{s:n, s:s}", "endpoint", "type", "disabled"));
	if (nat_status_json(a->nat, &j) < 0)
		return -ENOMEM;
	return json_object_set_new(status, "nat", j);
}
