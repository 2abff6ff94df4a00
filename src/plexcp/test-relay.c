/* Unit tests for the pure relay planning of plexcp (relay.h): which pairs need a relay, which
 * bridge qualifies, port slot allocation, and the create/refresh/withdraw plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "plexcp/relay.h"

#define SEC INT64_C(1000000)
#define NOW (INT64_C(1700000000) * SEC)

static void test_pair_needed(void **state)
{
	static const struct {
		const char *a, *b;
		bool want;
	} t[] = {
		{ "symmetric", "symmetric", true },  { "symmetric", "full_cone", false },
		{ "full_cone", "symmetric", false }, { "symmetric", "none", false },
		{ "symmetric", "unknown", false },   { "symmetric", "", false },
		{ "full_cone", "full_cone", false }, { NULL, "symmetric", false },
		{ "Symmetric", "symmetric", false },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(relay_pair_needed(t[i].a, t[i].b), t[i].want);
}

static struct store_node node(const char *id, const char *ep, const char *nat, const char *meta)
{
	struct store_node n = { .status = NODE_STATUS_ONLINE };
	snprintf(n.id, sizeof(n.id), "%s", id);
	n.endpoint = (char *)ep;
	n.nat_type = (char *)nat;
	n.metadata_json = (char *)(meta ? meta : "{}");
	return n;
}

#define BRIDGE_META                                                                                \
	"{\"bridge\":\"true\",\"relay\":\"true\",\"relay_listen_port\":\"51821\","             \
	"\"relay_session_port_base\":\"52000\",\"relay_max_sessions\":\"2\"}"

static void test_bridge_from_node(void **state)
{
	struct relay_bridge b;
	struct store_node n = node("n_br", "203.0.113.3:51820", "none", BRIDGE_META);

	assert_int_equal(relay_bridge_from_node(&n, &b), 0);
	assert_string_equal(b.id, "n_br");
	assert_string_equal(b.ip, "203.0.113.3");
	assert_int_equal(b.listen_port, 51821);
	assert_int_equal(b.port_base, 52000);
	assert_int_equal(b.max_sessions, 2);

	/* Not a relay: no relay key, relay=false, endpoint unknown, offline, behind symmetric NAT. */
	n.metadata_json = (char *)"{\"bridge\":\"true\"}";
	assert_int_equal(relay_bridge_from_node(&n, &b), -ENOENT);
	n.metadata_json = (char *)"{\"relay\":\"false\"}";
	assert_int_equal(relay_bridge_from_node(&n, &b), -ENOENT);
	n = node("n_br", "", "none", BRIDGE_META);
	assert_int_equal(relay_bridge_from_node(&n, &b), -ENOENT);
	n = node("n_br", "203.0.113.3:51820", "none", BRIDGE_META);
	n.status = NODE_STATUS_OFFLINE;
	assert_int_equal(relay_bridge_from_node(&n, &b), -ENOENT);
	n = node("n_br", "203.0.113.3:51820", "symmetric", BRIDGE_META);
	assert_int_equal(relay_bridge_from_node(&n, &b), -ENOENT);

	/* Without (or with a broken) per-session range: shared socket only. */
	n = node("n_br", "203.0.113.3:51820", "none", "{\"relay\":\"true\",\"relay_session_port_base\":\"x\"}");
	assert_int_equal(relay_bridge_from_node(&n, &b), 0);
	assert_int_equal(b.port_base, 0);
	assert_int_equal(b.listen_port, 51821);
	n = node("n_br", "203.0.113.3:51820", "none",
		 "{\"relay\":\"true\",\"relay_session_port_base\":\"65535\",\"relay_max_sessions\":\"2\"}");
	assert_int_equal(relay_bridge_from_node(&n, &b), 0);
	assert_int_equal(b.port_base, 0);
}

static struct store_relay_session sess(const char *id, const char *bridge, const char *a, const char *aep,
				       const char *b, const char *bep, uint16_t port, int64_t expires)
{
	struct store_relay_session s = { .port = port, .expires_at = expires };
	snprintf(s.id, sizeof(s.id), "%s", id);
	snprintf(s.bridge_id, sizeof(s.bridge_id), "%s", bridge);
	snprintf(s.a_id, sizeof(s.a_id), "%s", a);
	snprintf(s.a_endpoint, sizeof(s.a_endpoint), "%s", aep);
	snprintf(s.b_id, sizeof(s.b_id), "%s", b);
	snprintf(s.b_endpoint, sizeof(s.b_endpoint), "%s", bep);
	snprintf(s.relay_endpoint, sizeof(s.relay_endpoint), "203.0.113.3:%u", port);
	return s;
}

static void test_port_pick(void **state)
{
	struct relay_bridge b = { .id = "n_br", .port_base = 52000, .max_sessions = 3 };
	struct relay_bridge other = { .id = "n_other", .port_base = 52000, .max_sessions = 3 };
	struct relay_bridge shared = { .id = "n_sh", .listen_port = 51821 };
	struct store_relay_session s[] = {
		sess("rs_1", "n_br", "a", "1.1.1.1:1", "b", "2.2.2.2:2", 52000, NOW),
		sess("rs_2", "n_other", "c", "1.1.1.1:1", "d", "2.2.2.2:2", 52001, NOW),
		sess("rs_3", "n_br", "e", "1.1.1.1:1", "f", "2.2.2.2:2", 52002, NOW),
	};
	uint16_t extra[] = { 52001 };
	uint16_t port = 0;

	assert_int_equal(relay_port_pick(&b, NULL, 0, NULL, 0, &port), 0);
	assert_int_equal(port, 52000);
	/* Lowest free slot; only b's own sessions count. */
	assert_int_equal(relay_port_pick(&b, s, 3, NULL, 0, &port), 0);
	assert_int_equal(port, 52001);
	assert_int_equal(relay_port_pick(&other, s, 3, NULL, 0, &port), 0);
	assert_int_equal(port, 52000);
	/* Ports already promised in this plan count too: b is then full. */
	port = 1;
	assert_int_equal(relay_port_pick(&b, s, 3, extra, 1, &port), -ENOSPC);
	assert_int_equal(port, 1);
	assert_int_equal(relay_port_pick(&shared, s, 3, NULL, 0, &port), -EOPNOTSUPP);
}

/* Lab: bridge (public), A and B symmetric, C and D full cone. */
static struct store_node lab[5];
static struct relay_bridge lab_bridge;

static void lab_init(void)
{
	lab[0] = node("n_br", "203.0.113.3:51820", "none", BRIDGE_META);
	lab[1] = node("n_a", "203.0.113.12:40001", "symmetric", NULL);
	lab[2] = node("n_b", "203.0.113.13:40002", "symmetric", NULL);
	lab[3] = node("n_c", "203.0.113.14:51820", "full_cone", NULL);
	lab[4] = node("n_d", "203.0.113.15:51820", "full_cone", NULL);
	assert_int_equal(relay_bridge_from_node(&lab[0], &lab_bridge), 0);
}

static void test_plan_creates_for_symmetric_pair(void **state)
{
	struct relay_action *a = NULL;
	size_t n = 0;

	lab_init();
	/* Focus on C: nothing, C is not symmetric. */
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, NULL, 0, "n_c", NOW, &a, &n), 0);
	assert_int_equal(n, 0);
	free(a);
	/* Focus on A: exactly the pair (A, B) on the first port. */
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, NULL, 0, "n_a", NOW, &a, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].kind, RELAY_ACTION_CREATE);
	assert_int_equal(a[0].a, 1);
	assert_int_equal(a[0].b, 2);
	assert_int_equal(a[0].bridge, 0);
	assert_int_equal(a[0].port, 52000);
	free(a);
	/* No bridge: nothing (a later report retries). */
	assert_int_equal(relay_plan(lab, 5, NULL, 0, NULL, 0, "n_a", NOW, &a, &n), 0);
	assert_int_equal(n, 0);
	free(a);
	/* B's endpoint unknown yet, or equal to A's: no session. */
	lab[2].endpoint = (char *)"";
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, NULL, 0, "n_a", NOW, &a, &n), 0);
	assert_int_equal(n, 0);
	free(a);
	lab[2].endpoint = (char *)"203.0.113.12:40001";
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, NULL, 0, "n_a", NOW, &a, &n), 0);
	assert_int_equal(n, 0);
	free(a);
	/* B offline: no session. */
	lab_init();
	lab[2].status = NODE_STATUS_OFFLINE;
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, NULL, 0, "n_a", NOW, &a, &n), 0);
	assert_int_equal(n, 0);
	free(a);
}

static void test_plan_allocates_distinct_ports_and_respects_capacity(void **state)
{
	struct store_node nodes[5];
	struct relay_action *a = NULL;
	size_t n = 0;

	lab_init();
	memcpy(nodes, lab, sizeof(nodes));
	nodes[3] = node("n_c", "203.0.113.14:40003", "symmetric", NULL);
	nodes[4] = node("n_d", "203.0.113.15:40004", "symmetric", NULL);
	/* Four symmetric nodes = six pairs, the bridge has two slots: two sessions, distinct ports. */
	assert_int_equal(relay_plan(nodes, 5, &lab_bridge, 1, NULL, 0, NULL, NOW, &a, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(a[0].kind, RELAY_ACTION_CREATE);
	assert_int_equal(a[1].kind, RELAY_ACTION_CREATE);
	assert_int_equal(a[0].port, 52000);
	assert_int_equal(a[1].port, 52001);
	free(a);
}

static void test_plan_keeps_refreshes_withdraws(void **state)
{
	struct store_relay_session s;
	struct relay_action *a = NULL;
	size_t n = 0;

	lab_init();
	/* Fresh session, same endpoints: nothing to do (no new session either). */
	s = sess("rs_1", "n_br", "n_a", "203.0.113.12:40001", "n_b", "203.0.113.13:40002", 52000,
		 NOW + RELAY_SESSION_LIFETIME_USEC - 10 * SEC);
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, &s, 1, "n_a", NOW, &a, &n), 0);
	assert_int_equal(n, 0);
	free(a);
	/* Older than the refresh period: refreshed (keep-alive). */
	s.expires_at = NOW + RELAY_SESSION_LIFETIME_USEC - RELAY_REFRESH_AFTER_USEC;
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, &s, 1, "n_b", NOW, &a, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].kind, RELAY_ACTION_REFRESH);
	assert_int_equal(a[0].session, 0);
	assert_int_equal(a[0].a, 1);
	assert_int_equal(a[0].b, 2);
	free(a);
	/* ... but not when the report comes from an unrelated node. */
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, &s, 1, "n_c", NOW, &a, &n), 0);
	assert_int_equal(n, 0);
	free(a);
	/* A peer endpoint changed: refreshed at once. */
	s.expires_at = NOW + RELAY_SESSION_LIFETIME_USEC - 10 * SEC;
	lab[1].endpoint = (char *)"203.0.113.12:40999";
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, &s, 1, "n_a", NOW, &a, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].kind, RELAY_ACTION_REFRESH);
	free(a);
	/* A reports a direct-capable NAT: withdrawn, and no new session. */
	lab_init();
	lab[1].nat_type = (char *)"full_cone";
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, &s, 1, "n_a", NOW, &a, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].kind, RELAY_ACTION_WITHDRAW);
	assert_int_equal(a[0].session, 0);
	free(a);
	/* Expired sessions are withdrawn whatever the focus; an unrelated focus creates nothing. */
	lab_init();
	s.expires_at = NOW;
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, &s, 1, "n_c", NOW, &a, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].kind, RELAY_ACTION_WITHDRAW);
	free(a);
}

static void test_plan_withdraw_cases(void **state)
{
	struct store_relay_session s;
	struct relay_action *a = NULL;
	size_t n = 0;

	lab_init();
	s = sess("rs_1", "n_br", "n_a", "203.0.113.12:40001", "n_b", "203.0.113.13:40002", 52000,
		 NOW + RELAY_SESSION_LIFETIME_USEC);
	/* Expired: withdrawn; with focus A the still-symmetric pair gets a new session at once, on
	 * another port (the withdrawn one counts as used within the plan, so a late revoke at the
	 * bridge cannot close the new session's socket). */
	s.expires_at = NOW;
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, &s, 1, "n_a", NOW, &a, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(a[0].kind, RELAY_ACTION_WITHDRAW);
	assert_int_equal(a[1].kind, RELAY_ACTION_CREATE);
	assert_int_equal(a[1].port, 52001);
	free(a);
	/* Peer B deregistered (absent from the live list). */
	s.expires_at = NOW + RELAY_SESSION_LIFETIME_USEC;
	assert_int_equal(relay_plan(lab, 2, &lab_bridge, 1, &s, 1, "n_c", NOW, &a, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].kind, RELAY_ACTION_WITHDRAW);
	free(a);
	/* Peer B offline. */
	lab[2].status = NODE_STATUS_OFFLINE;
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, &s, 1, NULL, NOW, &a, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].kind, RELAY_ACTION_WITHDRAW);
	free(a);
	/* Bridge gone: withdrawn; no other bridge, so nothing new. */
	lab_init();
	assert_int_equal(relay_plan(lab, 5, NULL, 0, &s, 1, NULL, NOW, &a, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].kind, RELAY_ACTION_WITHDRAW);
	free(a);
	/* A session whose pair is stored the other way round still counts as the pair's. */
	s = sess("rs_1", "n_br", "n_b", "203.0.113.13:40002", "n_a", "203.0.113.12:40001", 52000,
		 NOW + RELAY_SESSION_LIFETIME_USEC - 10 * SEC);
	assert_int_equal(relay_plan(lab, 5, &lab_bridge, 1, &s, 1, NULL, NOW, &a, &n), 0);
	assert_int_equal(n, 0);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair_needed),
		cmocka_unit_test(test_bridge_from_node),
		cmocka_unit_test(test_port_pick),
		cmocka_unit_test(test_plan_creates_for_symmetric_pair),
		cmocka_unit_test(test_plan_allocates_distinct_ports_and_respects_capacity),
		cmocka_unit_test(test_plan_keeps_refreshes_withdraws),
		cmocka_unit_test(test_plan_withdraw_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
