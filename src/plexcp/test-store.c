/* Unit tests of the plexcp SQLite store: migrations, token single use, mesh IP allocation and
 * cooldown, PSK symmetry, event log retention and replay, versioned entries, persistence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "plexcp/store.h"
#include "shared/fileio.h"

#define SEC INT64_C(1000000)

struct fixture {
	char dir[64];
	char path[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-plexcp-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[128];

	snprintf(p, sizeof(p), "%s/db", f->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/db-wal", f->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/db-shm", f->dir);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct store *open_store(struct fixture *f, const struct store_options *o)
{
	struct store *s = NULL;

	assert_int_equal(store_open(f->path, o, &s), 0);
	assert_non_null(s);
	return s;
}

static void make_node(struct store_node *n, const char *id, const char *host, uint32_t ip, uint8_t tok)
{
	*n = (struct store_node){};
	snprintf(n->id, sizeof(n->id), "%s", id);
	n->hostname = (char *)host;
	n->mesh_ip = ip;
	memset(n->public_key, tok, sizeof(n->public_key));
	memset(n->token_hash, tok, sizeof(n->token_hash));
	memset(n->nsk, 0x55, sizeof(n->nsk));
	n->metadata_json = (char *)"{\"env\":\"test\"}";
	n->registered_at = 1000 * SEC;
}

static void test_migration(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f, NULL);
	sqlite3 *db;

	assert_int_equal(store_schema_version(s), 2);
	s = store_free(s);

	/* Re-opening an up-to-date database changes nothing. */
	s = open_store(f, NULL);
	assert_int_equal(store_schema_version(s), 2);
	s = store_free(s);

	/* A database from a newer plexcp is refused, not downgraded. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->path, NULL, &s), -EPROTO);
	assert_null(s);
}

static void test_relay_sessions(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f, NULL);
	struct store_relay_session r = { .port = 52000, .expires_at = 77 * SEC }, *l = NULL;
	size_t n = 0;

	snprintf(r.id, sizeof(r.id), "rs_0001");
	snprintf(r.bridge_id, sizeof(r.bridge_id), "n_br");
	snprintf(r.a_id, sizeof(r.a_id), "n_a");
	snprintf(r.a_endpoint, sizeof(r.a_endpoint), "203.0.113.12:40001");
	snprintf(r.b_id, sizeof(r.b_id), "n_b");
	snprintf(r.b_endpoint, sizeof(r.b_endpoint), "203.0.113.13:40002");
	snprintf(r.relay_endpoint, sizeof(r.relay_endpoint), "203.0.113.3:52000");
	assert_int_equal(store_relay_session_list(s, &l, &n), 0);
	assert_int_equal(n, 0);
	free(l);
	assert_int_equal(store_relay_session_put(s, &r), 0);
	/* Same id again replaces (a refresh). */
	snprintf(r.a_endpoint, sizeof(r.a_endpoint), "203.0.113.12:40099");
	r.expires_at = 99 * SEC;
	assert_int_equal(store_relay_session_put(s, &r), 0);
	s = store_free(s);
	s = open_store(f, NULL);
	assert_int_equal(store_relay_session_list(s, &l, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].id, r.id);
	assert_string_equal(l[0].bridge_id, r.bridge_id);
	assert_string_equal(l[0].a_id, r.a_id);
	assert_string_equal(l[0].a_endpoint, "203.0.113.12:40099");
	assert_string_equal(l[0].b_id, r.b_id);
	assert_string_equal(l[0].b_endpoint, r.b_endpoint);
	assert_string_equal(l[0].relay_endpoint, r.relay_endpoint);
	assert_int_equal(l[0].port, 52000);
	assert_int_equal(l[0].expires_at, 99 * SEC);
	free(l);
	assert_int_equal(store_relay_session_delete(s, "rs_0001"), 0);
	assert_int_equal(store_relay_session_delete(s, "rs_0001"), 0);
	assert_int_equal(store_relay_session_list(s, &l, &n), 0);
	assert_int_equal(n, 0);
	free(l);
	store_free(s);
}

static void test_token_single_use(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f, NULL);
	uint8_t h1[32], h2[32], h3[32];

	memset(h1, 1, 32);
	memset(h2, 2, 32);
	memset(h3, 3, 32);
	assert_int_equal(store_token_add(s, h1, 0, 100 * SEC), 0);
	assert_int_equal(store_token_add(s, h2, 0, 100 * SEC), 0);
	assert_int_equal(store_token_add(s, h1, 0, 100 * SEC), -EEXIST);

	assert_int_equal(store_token_consume(s, h3, 10 * SEC), -ENOENT);
	assert_int_equal(store_token_consume(s, h1, 10 * SEC), 0);
	assert_int_equal(store_token_consume(s, h1, 11 * SEC), -EALREADY);
	/* Expiry is exclusive: valid strictly before expires_at. */
	assert_int_equal(store_token_consume(s, h2, 100 * SEC), -ETIME);
	assert_int_equal(store_token_consume(s, h2, 99 * SEC), 0);

	/* A rolled back transaction leaves the token usable. */
	memset(h3, 3, 32);
	assert_int_equal(store_token_add(s, h3, 0, 100 * SEC), 0);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_begin(s), -EBUSY);
	assert_int_equal(store_token_consume(s, h3, 1), 0);
	store_rollback(s);
	assert_int_equal(store_token_consume(s, h3, 1), 0);
	store_free(s);
}

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

static void test_ip_allocation(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f, NULL);
	struct store_node n;
	uint32_t ip;
	char id[32], host[32];

	assert_int_equal(store_ip_allocate(s, 0, &ip), 0);
	assert_int_equal(ip, IP(10, 100, 0, 1));

	/* 300 nodes: never .0 or .255, dense otherwise. */
	assert_int_equal(store_begin(s), 0);
	for (int i = 0; i < 300; i++) {
		assert_int_equal(store_ip_allocate(s, 0, &ip), 0);
		assert_int_equal((ip >> 16), 0x0A64);
		assert_int_not_equal(ip & 0xFF, 0);
		assert_int_not_equal(ip & 0xFF, 255);
		if (i == 254)
			assert_int_equal(ip, IP(10, 100, 1, 1));
		snprintf(id, sizeof(id), "n_%04d", i);
		snprintf(host, sizeof(host), "host-%d", i);
		make_node(&n, id, host, ip, (uint8_t)i);
		n.token_hash[0] = (uint8_t)(i >> 8);
		assert_int_equal(store_node_insert(s, &n), 0);
	}
	assert_int_equal(store_commit(s), 0);

	/* Live duplicates are refused. */
	make_node(&n, "n_dup", "host-3", IP(10, 100, 9, 9), 0xEE);
	assert_int_equal(store_node_insert(s, &n), -EEXIST);
	make_node(&n, "n_dup", "other", IP(10, 100, 0, 1), 0xEE);
	assert_int_equal(store_node_insert(s, &n), -EEXIST);

	/* Release 10.100.0.1 at t=5000s: not reused within the hour, reused after. */
	assert_int_equal(store_node_deregister(s, "n_0000", 5000 * SEC), 0);
	assert_int_equal(store_node_deregister(s, "n_0000", 5001 * SEC), -ENOENT);
	assert_int_equal(store_ip_allocate(s, 5000 * SEC + 3599 * SEC, &ip), 0);
	assert_int_not_equal(ip, IP(10, 100, 0, 1));
	assert_int_equal(store_ip_allocate(s, 5000 * SEC + 3601 * SEC, &ip), 0);
	assert_int_equal(ip, IP(10, 100, 0, 1));

	/* The hostname of a deregistered node may be registered again. */
	make_node(&n, "n_again", "host-0", IP(10, 100, 200, 1), 0xEF);
	assert_int_equal(store_node_insert(s, &n), 0);
	store_free(s);
}

static void test_node_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f, NULL);
	struct store_node n, got;
	uint8_t tok[32];

	make_node(&n, "n_a", "alpha", IP(10, 100, 0, 1), 0xA1);
	assert_int_equal(store_node_insert(s, &n), 0);

	memset(tok, 0xA1, 32);
	assert_int_equal(store_node_get_by_token(s, tok, &got), 0);
	assert_string_equal(got.id, "n_a");
	assert_string_equal(got.hostname, "alpha");
	assert_string_equal(got.metadata_json, "{\"env\":\"test\"}");
	assert_string_equal(got.endpoint, "");
	assert_int_equal(got.status, NODE_STATUS_REGISTERED);
	store_node_done(&got);

	assert_int_equal(store_node_heartbeat(s, "n_a", 2000 * SEC, "{}"), 0);
	assert_int_equal(store_node_heartbeat(s, "n_x", 2000 * SEC, "{}"), -ENOENT);
	assert_int_equal(store_node_set_endpoint(s, "n_a", "1.2.3.4:5", "full_cone"), 1);
	assert_int_equal(store_node_set_endpoint(s, "n_a", "1.2.3.4:5", "full_cone"), 0);
	assert_int_equal(store_node_set_endpoint(s, "n_a", "1.2.3.4:6", "full_cone"), 1);
	assert_int_equal(store_node_set_endpoint(s, "n_x", "1.2.3.4:6", "full_cone"), -ENOENT);
	assert_int_equal(store_node_set_rotate_pending(s, "n_a", true), 0);

	assert_int_equal(store_node_get(s, "n_a", &got), 0);
	assert_int_equal(got.status, NODE_STATUS_ONLINE);
	assert_int_equal(got.last_heartbeat, 2000 * SEC);
	assert_string_equal(got.endpoint, "1.2.3.4:6");
	assert_true(got.rotate_pending);
	store_node_done(&got);

	/* Deregistration revokes the bearer token. */
	assert_int_equal(store_node_deregister(s, "n_a", 3000 * SEC), 0);
	assert_int_equal(store_node_get_by_token(s, tok, &got), -ENOENT);
	assert_int_equal(store_node_get(s, "n_a", &got), 0);
	assert_int_equal(got.status, NODE_STATUS_DEREGISTERED);
	store_node_done(&got);
	store_free(s);
}

static void test_psk_symmetry(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f, NULL);
	uint8_t ab[32], ba[32], ac[32], fixed[32], z[32] = {};

	assert_int_equal(store_psk_get(s, "n_a", "n_b", ab), 0);
	assert_int_equal(store_psk_get(s, "n_b", "n_a", ba), 0);
	assert_memory_equal(ab, ba, 32);
	assert_memory_not_equal(ab, z, 32);
	assert_int_equal(store_psk_get(s, "n_a", "n_c", ac), 0);
	assert_memory_not_equal(ab, ac, 32);
	assert_int_equal(store_psk_get(s, "n_a", "n_a", ac), -EINVAL);

	memset(fixed, 0x42, 32);
	assert_int_equal(store_psk_set(s, "n_b", "n_a", fixed), 0);
	assert_int_equal(store_psk_get(s, "n_a", "n_b", ab), 0);
	assert_memory_equal(ab, fixed, 32);
	store_free(s);
}

static void add_event(struct store *s, const char *node, int64_t t)
{
	uint64_t seq;
	char env[64];

	assert_int_equal(store_event_next_seq(s, node, &seq), 0);
	snprintf(env, sizeof(env), "{\"event_id\":\"evt_%010llu\"}", (unsigned long long)seq);
	assert_int_equal(store_event_append(s, node, seq, "peer_added", env, t), 0);
}

static void test_event_log(void **state)
{
	struct fixture *f = *state;
	struct store_options o;
	struct store *s;
	struct store_node n;
	struct store_event *ev = NULL;
	size_t nev = 0;

	store_options_default(&o);
	o.event_min_count = 4;
	o.event_min_age_usec = 100 * SEC;
	s = open_store(f, &o);
	make_node(&n, "n_a", "alpha", IP(10, 100, 0, 1), 0xA1);
	assert_int_equal(store_node_insert(s, &n), 0);

	for (int i = 0; i < 10; i++)
		add_event(s, "n_a", i * SEC);
	/* All within the age bound: all ten retained. */
	assert_int_equal(store_event_since(s, "n_a", 1, &ev, &nev), 0);
	assert_int_equal(nev, 9);
	assert_int_equal(ev[0].seq, 2);
	assert_string_equal(ev[8].envelope, "{\"event_id\":\"evt_0000000010\"}");
	store_event_array_free(ev, nev);

	/* Much later: only the newest 4 (the new one included) survive. */
	add_event(s, "n_a", 1000 * SEC);
	assert_int_equal(store_event_since(s, "n_a", 7, &ev, &nev), 0); /* not pruned yet */
	store_event_array_free(ev, nev);
	assert_int_equal(store_event_prune(s, 1000 * SEC), 0);
	assert_int_equal(store_event_since(s, "n_a", 7, &ev, &nev), -ENOENT);
	assert_int_equal(store_event_since(s, "n_a", 8, &ev, &nev), 0);
	assert_int_equal(nev, 3);
	assert_int_equal(ev[0].seq, 9);
	assert_int_equal(ev[2].seq, 11);
	store_event_array_free(ev, nev);

	/* The newest ID is known: nothing to replay. */
	assert_int_equal(store_event_since(s, "n_a", 11, &ev, &nev), 0);
	assert_int_equal(nev, 0);
	store_event_array_free(ev, nev);
	assert_int_equal(store_event_since(s, "n_a", 999, &ev, &nev), -ENOENT);

	assert_int_equal(store_event_last(s, "n_a", 2, &ev, &nev), 0);
	assert_int_equal(nev, 2);
	assert_int_equal(ev[0].seq, 10);
	store_event_array_free(ev, nev);
	s = store_free(s);

	/* Sequence numbers keep increasing across a restart. */
	s = open_store(f, &o);
	add_event(s, "n_a", 1001 * SEC);
	assert_int_equal(store_event_last(s, "n_a", 1, &ev, &nev), 0);
	assert_int_equal(ev[0].seq, 12);
	store_event_array_free(ev, nev);
	assert_int_equal(store_event_next_seq(s, "n_unknown", &(uint64_t){ 0 }), -ENOENT);
	store_free(s);
}

static void test_entries_and_secrets(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f, NULL);
	struct store_entry *e = NULL;
	struct store_secret_ref *refs = NULL;
	size_t n = 0;
	uint8_t *v = NULL;
	size_t vlen;
	int64_t ver;

	assert_int_equal(store_data_set(s, "n_a", "cfg", "application/json", "{\"a\":1}", 10), 0);
	assert_int_equal(store_data_set(s, "n_a", "cfg", "application/json", "{\"a\":2}", 20), 0);
	assert_int_equal(store_data_list(s, "n_a", &e, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].version, 2);
	assert_string_equal(e[0].payload_json, "{\"a\":2}");
	store_entry_array_free(e, n);
	assert_int_equal(store_data_delete(s, "n_a", "cfg"), 0);
	assert_int_equal(store_data_delete(s, "n_a", "cfg"), -ENOENT);

	/* Reports: a lower version is ignored, equal or higher applies. */
	struct store_entry r5 = { .key = (char *)"k", .content_type = (char *)"text/plain",
				  .payload_json = (char *)"\"five\"", .version = 5, .updated_at = 1 };
	struct store_entry r3 = r5;
	r3.version = 3;
	r3.payload_json = (char *)"\"three\"";
	assert_int_equal(store_report_upsert(s, "n_a", &r5), 1);
	assert_int_equal(store_report_upsert(s, "n_a", &r3), 0);
	assert_int_equal(store_report_list(s, "n_a", &e, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].payload_json, "\"five\"");
	store_entry_array_free(e, n);
	assert_int_equal(store_report_delete(s, "n_a", "k"), 0);
	assert_int_equal(store_report_delete(s, "n_a", "k"), 0);

	assert_int_equal(store_secret_set(s, "n_a", "db", "pw1", 3, 1), 0);
	assert_int_equal(store_secret_set(s, "n_a", "db", "pw-two", 6, 2), 0);
	assert_int_equal(store_secret_get(s, "n_a", "db", &v, &vlen, &ver), 0);
	assert_int_equal(vlen, 6);
	assert_memory_equal(v, "pw-two", 6);
	assert_int_equal(ver, 2);
	free(v);
	assert_int_equal(store_secret_get(s, "n_b", "db", &v, &vlen, &ver), -ENOENT);
	assert_int_equal(store_secret_list(s, "n_a", &refs, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(refs[0].key, "db");
	assert_int_equal(refs[0].version, 2);
	store_secret_ref_array_free(refs, n);
	store_free(s);
}

static void test_executions(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f, NULL);
	struct store_execution e = { .id = "x_1", .node_id = "n_a", .action = (char *)"health.check",
				     .created_at = 1 };
	struct store_execution got;

	assert_int_equal(store_execution_create(s, &e), 0);
	assert_int_equal(store_execution_ack(s, "n_b", "x_1", true, "", 2), -EPERM);
	assert_int_equal(store_execution_ack(s, "n_a", "x_nope", true, "", 2), -ENOENT);
	assert_int_equal(store_execution_ack(s, "n_a", "x_1", true, "", 2), 1);
	assert_int_equal(store_execution_ack(s, "n_a", "x_1", false, "unknown_action", 3), 0);
	assert_int_equal(store_execution_result(s, "n_a", "x_1", "{\"r\":1}", false, 4), 1);
	assert_int_equal(store_execution_result(s, "n_a", "x_1", "{\"r\":2}", false, 5), 0);
	assert_int_equal(store_execution_get(s, "x_1", &got), 0);
	assert_int_equal(got.status, EXECUTION_FINISHED);
	assert_string_equal(got.result_json, "{\"r\":1}");
	assert_string_equal(got.ack_reason, "");
	store_execution_done(&got);

	assert_int_equal(store_execution_result(s, "n_a", "local_1", "{}", false, 5), -ENOENT);
	assert_int_equal(store_execution_result(s, "n_a", "local_1", "{}", true, 5), 1);
	assert_int_equal(store_execution_result(s, "n_a", "local_1", "{\"x\":1}", true, 6), 0);
	assert_int_equal(store_execution_result(s, "n_b", "local_1", "{}", true, 6), -EPERM);
	store_free(s);
}

static void test_records_retention(void **state)
{
	struct fixture *f = *state;
	struct store_options o;
	struct store *s;
	struct store_record *r = NULL;
	size_t n = 0;
	char *bodies[] = { (char *)"{\"i\":1}", (char *)"{\"i\":2}", (char *)"{\"i\":3}" };

	store_options_default(&o);
	o.record_max_count = 4;
	o.record_max_age_usec = 100 * SEC;
	s = open_store(f, &o);
	assert_int_equal(store_records_append(s, "n_a", RECORD_LOG, bodies, 3, 10 * SEC), 0);
	assert_int_equal(store_records_append(s, "n_a", RECORD_LOG, bodies, 3, 20 * SEC), 0);
	assert_int_equal(store_records_append(s, "n_a", RECORD_METRIC, bodies, 1, 20 * SEC), 0);
	assert_int_equal(store_records_query(s, "n_a", RECORD_LOG, 0, 0, &r, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(r[0].body_json, "{\"i\":3}");
	store_record_array_free(r, n);
	assert_int_equal(store_records_query(s, "n_a", RECORD_LOG, 0, 2, &r, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(r[1].body_json, "{\"i\":3}");
	store_record_array_free(r, n);

	/* Age bound: a later append drops everything older than 100 s. */
	assert_int_equal(store_records_append(s, "n_a", RECORD_LOG, bodies, 1, 200 * SEC), 0);
	assert_int_equal(store_records_query(s, "n_a", RECORD_LOG, 0, 0, &r, &n), 0);
	assert_int_equal(n, 1);
	store_record_array_free(r, n);
	assert_int_equal(store_records_query(s, "n_a", RECORD_METRIC, 0, 0, &r, &n), 0);
	assert_int_equal(n, 1);
	store_record_array_free(r, n);
	store_free(s);
}

static void test_restart_keeps_state(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f, NULL);
	struct store_node n, got;
	struct store_policy pol[2] = { { (char *)"p1", (char *)"[]" },
				       { (char *)"p0", (char *)"[{\"src\":\"*\"}]" } };
	struct store_policy *pp = NULL;
	struct store_signing_keys k = {}, k2;
	uint8_t h[32], psk1[32], psk2[32];
	size_t np = 0;
	int64_t v;

	memset(h, 9, 32);
	assert_int_equal(store_token_add(s, h, 0, 100 * SEC), 0);
	assert_int_equal(store_token_consume(s, h, 1), 0);
	make_node(&n, "n_a", "alpha", IP(10, 100, 0, 1), 0xA1);
	assert_int_equal(store_node_insert(s, &n), 0);
	assert_int_equal(store_psk_get(s, "n_a", "n_b", psk1), 0);
	assert_int_equal(store_policies_set(s, pol, 2), 0);
	assert_int_equal(store_signing_keys_get(s, &k2), -ENOENT);
	memset(k.current, 7, 32);
	k.has_previous = true;
	memset(k.previous, 6, 32);
	k.transition_expires = 42;
	assert_int_equal(store_signing_keys_set(s, &k), 0);
	assert_int_equal(store_kv_set_int(s, "policy_revision", 3), 0);
	store_free(s);

	s = open_store(f, NULL);
	assert_int_equal(store_token_consume(s, h, 2), -EALREADY);
	assert_int_equal(store_node_get(s, "n_a", &got), 0);
	assert_string_equal(got.hostname, "alpha");
	assert_int_equal(got.mesh_ip, IP(10, 100, 0, 1));
	store_node_done(&got);
	assert_int_equal(store_psk_get(s, "n_b", "n_a", psk2), 0);
	assert_memory_equal(psk1, psk2, 32);
	assert_int_equal(store_policies_get(s, &pp, &np), 0);
	assert_int_equal(np, 2);
	assert_string_equal(pp[0].id, "p1");
	assert_string_equal(pp[1].rules_json, "[{\"src\":\"*\"}]");
	store_policy_array_free(pp, np);
	assert_int_equal(store_signing_keys_get(s, &k2), 0);
	assert_memory_equal(k2.current, k.current, 32);
	assert_true(k2.has_previous);
	assert_int_equal(k2.transition_expires, 42);
	assert_int_equal(store_kv_get_int(s, "policy_revision", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(store_kv_get_int(s, "nope", &v), -ENOENT);
	store_free(s);
}

/* §12.1 states as the heartbeat monitor drives them: unreachable and offline nodes stay live
 * (listed, token valid), a heartbeat makes them online again, a deregistered node cannot be
 * marked. Also checks that cached statements keep no state between uses: interleaved lookups
 * with different bindings, a failed step, a rollback. */
static void test_node_status_and_statement_reuse(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f, NULL);
	struct store_node n, got, *list = NULL;
	size_t cnt = 0;
	uint8_t tok[32];

	make_node(&n, "n_a", "alpha", IP(10, 100, 0, 1), 0xA1);
	assert_int_equal(store_node_insert(s, &n), 0);
	make_node(&n, "n_b", "beta", IP(10, 100, 0, 2), 0xB2);
	n.registered_at = 1001 * SEC;
	assert_int_equal(store_node_insert(s, &n), 0);
	/* Same hostname: the constraint error leaves the cached INSERT reusable. */
	make_node(&n, "n_c", "beta", IP(10, 100, 0, 3), 0xC3);
	assert_int_equal(store_node_insert(s, &n), -EEXIST);
	make_node(&n, "n_c", "gamma", IP(10, 100, 0, 3), 0xC3);
	n.registered_at = 1002 * SEC;
	assert_int_equal(store_node_insert(s, &n), 0);

	assert_string_equal(node_status_to_string(NODE_STATUS_UNREACHABLE), "unreachable");
	assert_string_equal(node_status_to_string(NODE_STATUS_OFFLINE), "offline");
	assert_int_equal(store_node_set_status(s, "n_a", NODE_STATUS_UNREACHABLE), 0);
	assert_int_equal(store_node_set_status(s, "n_b", NODE_STATUS_OFFLINE), 0);
	assert_int_equal(store_node_set_status(s, "n_x", NODE_STATUS_OFFLINE), -ENOENT);

	for (int round = 0; round < 3; round++) {
		const char *ids[] = {"n_a", "n_b", "n_c", "n_a"};
		const enum node_status want[] = {NODE_STATUS_UNREACHABLE, NODE_STATUS_OFFLINE,
						 NODE_STATUS_REGISTERED, NODE_STATUS_UNREACHABLE};
		for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
			assert_int_equal(store_node_get(s, ids[i], &got), 0);
			assert_string_equal(got.id, ids[i]);
			assert_int_equal(got.status, want[i]);
			store_node_done(&got);
		}
		assert_int_equal(store_node_get(s, "n_x", &got), -ENOENT);
	}
	memset(tok, 0xB2, 32);
	assert_int_equal(store_node_get_by_token(s, tok, &got), 0);
	assert_string_equal(got.id, "n_b");
	store_node_done(&got);

	assert_int_equal(store_node_list(s, false, &list, &cnt), 0);
	assert_int_equal(cnt, 3);
	assert_string_equal(list[0].id, "n_a");
	assert_int_equal(list[0].status, NODE_STATUS_UNREACHABLE);
	assert_string_equal(list[1].id, "n_b");
	assert_int_equal(list[1].status, NODE_STATUS_OFFLINE);
	store_node_array_free(list, cnt);

	/* Back online through a heartbeat, from either state. */
	assert_int_equal(store_node_heartbeat(s, "n_a", 5000 * SEC, "{\"a\":1}"), 0);
	assert_int_equal(store_node_heartbeat(s, "n_b", 5001 * SEC, "{\"b\":1}"), 0);
	assert_int_equal(store_node_get(s, "n_b", &got), 0);
	assert_int_equal(got.status, NODE_STATUS_ONLINE);
	assert_int_equal(got.last_heartbeat, 5001 * SEC);
	assert_string_equal(got.heartbeat_json, "{\"b\":1}");
	store_node_done(&got);
	assert_int_equal(store_node_get(s, "n_a", &got), 0);
	assert_int_equal(got.status, NODE_STATUS_ONLINE);
	assert_string_equal(got.heartbeat_json, "{\"a\":1}");
	store_node_done(&got);

	/* Deregistered: no status change, no heartbeat. */
	assert_int_equal(store_node_deregister(s, "n_c", 6000 * SEC), 0);
	assert_int_equal(store_node_set_status(s, "n_c", NODE_STATUS_UNREACHABLE), -ENOENT);
	assert_int_equal(store_node_heartbeat(s, "n_c", 6001 * SEC, "{}"), -ENOENT);
	assert_int_equal(store_node_get(s, "n_c", &got), 0);
	assert_int_equal(got.status, NODE_STATUS_DEREGISTERED);
	store_node_done(&got);

	/* Inside a transaction that rolls back, then again after it. */
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_node_set_status(s, "n_a", NODE_STATUS_OFFLINE), 0);
	assert_int_equal(store_node_get(s, "n_a", &got), 0);
	assert_int_equal(got.status, NODE_STATUS_OFFLINE);
	store_node_done(&got);
	store_rollback(s);
	assert_int_equal(store_node_get(s, "n_a", &got), 0);
	assert_int_equal(got.status, NODE_STATUS_ONLINE);
	store_node_done(&got);
	store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_single_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ip_allocation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_status_and_statement_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_psk_symmetry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entries_and_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_executions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_state, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
