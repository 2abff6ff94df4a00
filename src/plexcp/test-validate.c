/* Unit tests of the plexcp request validators: table-driven accept/reject cases per endpoint
 * body, including the §4 examples, wrong types, missing fields and both batch encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "plexcp/validate.h"

enum body_kind {
	B_REGISTER,
	B_HEARTBEAT,
	B_ROTATE,
	B_CAPS,
	B_ENDPOINT,
	B_DRIFT,
	B_REPORT,
	B_ACK,
	B_RESULT,
	B_READY,
	B_CLOSED,
	B_INTEGRITY,
	B_POLICIES,
};

struct vcase {
	enum body_kind kind;
	const char *body;
	bool ok;
};

#define PK "\"VvIv3Flgc+aaBq2gpLRGHZKTKe/Ol15jnF8TnwgPRj8=\""
#define SUM "\"sha256:e72dac63e49b462f14287ed4b45cd1bc1c36ee6b3c04585346efc8801ce40a43\""
#define TB "\"triggered_by\":{\"type\":\"control_plane\",\"session_id\":\"\",\"user_id\":\"\",\"email\":\"\"}"
#define RESULT_BASE                                                                                \
	"\"execution_id\":\"x_1\",\"exit_code\":0,\"stdout\":\"\",\"stderr\":\"\",\"duration\":\"2.34s\"," \
	"\"finished_at\":\"2025-01-15T10:30:00Z\","

static const struct vcase cases[] = {
	/* E1 */
	{ B_REGISTER, "{\"token\":\"plx_enroll_x\",\"public_key\":" PK ",\"hostname\":\"web-1\"}", true },
	{ B_REGISTER,
	  "{\"token\":\"t\",\"public_key\":" PK ",\"hostname\":\"h\",\"metadata\":{\"os\":\"linux\"},"
	  "\"capabilities\":{\"binary\":{\"version\":\"1.0\",\"checksum\":" SUM "},\"builtin_actions\":[{\"name\":"
	  "\"health.check\",\"description\":\"\",\"parameters\":[]}],\"hooks\":[]}}",
	  true },
	{ B_REGISTER, "{\"public_key\":" PK ",\"hostname\":\"h\"}", false },		       /* no token */
	{ B_REGISTER, "{\"token\":\"\",\"public_key\":" PK ",\"hostname\":\"h\"}", false },    /* empty token */
	{ B_REGISTER, "{\"token\":\"t\\u0001\",\"public_key\":" PK ",\"hostname\":\"h\"}", false },
	{ B_REGISTER, "{\"token\":\"t\",\"public_key\":\"abc\",\"hostname\":\"h\"}", false },
	{ B_REGISTER, "{\"token\":\"t\",\"public_key\":42,\"hostname\":\"h\"}", false },
	{ B_REGISTER, "{\"token\":\"t\",\"public_key\":" PK ",\"hostname\":\"\"}", false },
	{ B_REGISTER, "{\"token\":\"t\",\"public_key\":" PK ",\"hostname\":\"a b\"}", false },
	{ B_REGISTER, "{\"token\":\"t\",\"public_key\":" PK ",\"hostname\":\"h\",\"metadata\":{\"os\":1}}", false },
	{ B_REGISTER, "{\"token\":\"t\",\"public_key\":" PK ",\"hostname\":\"h\",\"metadata\":[]}", false },
	{ B_REGISTER, "{\"token\":\"t\",\"public_key\":" PK ",\"hostname\":\"h\",\"metadata\":null}", true },
	{ B_REGISTER,
	  "{\"token\":\"t\",\"public_key\":" PK ",\"hostname\":\"h\",\"capabilities\":{\"hooks\":[{\"name\":"
	  "\"../x\"}]}}",
	  false },
	/* E3 */
	{ B_HEARTBEAT,
	  "{\"node_id\":\"n_1\",\"timestamp\":\"2025-01-15T10:30:00Z\",\"status\":\"healthy\",\"uptime\":"
	  "\"72h15m3s\",\"binary_checksum\":" SUM ",\"mesh\":{\"interface\":\"plexd0\",\"peer_count\":1,"
	  "\"listen_port\":51820}}",
	  true },
	{ B_HEARTBEAT,
	  "{\"node_id\":\"n_1\",\"timestamp\":\"2025-01-15T10:30:00Z\",\"status\":\"healthy\",\"uptime\":"
	  "72,\"binary_checksum\":" SUM "}",
	  false },
	{ B_HEARTBEAT,
	  "{\"node_id\":\"n_1\",\"timestamp\":\"yesterday\",\"status\":\"healthy\",\"uptime\":\"1s\","
	  "\"binary_checksum\":" SUM "}",
	  false },
	{ B_HEARTBEAT,
	  "{\"node_id\":\"..\",\"timestamp\":\"2025-01-15T10:30:00Z\",\"status\":\"healthy\",\"uptime\":\"1s\","
	  "\"binary_checksum\":" SUM "}",
	  false },
	{ B_HEARTBEAT,
	  "{\"node_id\":\"n_1\",\"timestamp\":\"2025-01-15T10:30:00Z\",\"status\":\"healthy\",\"uptime\":\"1s\","
	  "\"binary_checksum\":\"sha256:zz\"}",
	  false },
	/* E5 */
	{ B_ROTATE, "{\"node_id\":\"n_1\",\"new_public_key\":" PK "}", true },
	{ B_ROTATE, "{\"node_id\":\"n_1\"}", false },
	/* E6 */
	{ B_CAPS, "{\"builtin_actions\":null,\"hooks\":[]}", true },
	{ B_CAPS, "{\"builtin_actions\":{}}", false },
	{ B_CAPS, "{\"binary\":{\"version\":\"1\",\"checksum\":\"x\"}}", false },
	/* E7 */
	{ B_ENDPOINT, "{\"public_endpoint\":\"203.0.113.10:51820\",\"nat_type\":\"full_cone\"}", true },
	{ B_ENDPOINT, "{\"public_endpoint\":\"[2001:db8::1]:51820\",\"nat_type\":\"none\"}", true },
	{ B_ENDPOINT, "{\"public_endpoint\":\"\",\"nat_type\":\"unknown\"}", true },
	{ B_ENDPOINT, "{\"public_endpoint\":\"example.com:51820\",\"nat_type\":\"none\"}", false },
	{ B_ENDPOINT, "{\"public_endpoint\":\"1.2.3.4:0\",\"nat_type\":\"none\"}", false },
	{ B_ENDPOINT, "{\"public_endpoint\":\"1.2.3.4:5\",\"nat_type\":\"cone\"}", false },
	/* E9 */
	{ B_DRIFT,
	  "{\"timestamp\":\"2025-01-15T10:30:00Z\",\"corrections\":[{\"type\":\"peer_added\",\"detail\":\"peer n_2\"}]}",
	  true },
	{ B_DRIFT, "{\"timestamp\":\"2025-01-15T10:30:00Z\",\"corrections\":[]}", false },
	/* E11 */
	{ B_REPORT,
	  "{\"entries\":[{\"key\":\"k\",\"content_type\":\"text/plain\",\"payload\":\"x\",\"version\":1,"
	  "\"updated_at\":\"2025-01-15T10:30:00Z\"}],\"deleted\":[\"old\"]}",
	  true },
	{ B_REPORT, "{\"entries\":null,\"deleted\":null}", true },
	{ B_REPORT,
	  "{\"entries\":[{\"key\":\"k\",\"content_type\":\"text/plain\",\"payload\":\"x\",\"version\":0,"
	  "\"updated_at\":\"2025-01-15T10:30:00Z\"}],\"deleted\":[]}",
	  false },
	{ B_REPORT,
	  "{\"entries\":[{\"key\":\"k\",\"content_type\":\"text/plain\",\"payload\":\"x\",\"version\":1.0,"
	  "\"updated_at\":\"2025-01-15T10:30:00Z\"}],\"deleted\":[]}",
	  false },
	{ B_REPORT,
	  "{\"entries\":[{\"key\":\"k\",\"content_type\":\"text/plain\",\"version\":1,"
	  "\"updated_at\":\"2025-01-15T10:30:00Z\"}],\"deleted\":[]}",
	  false },
	{ B_REPORT, "{\"entries\":[],\"deleted\":[\"a/b\"]}", false },
	/* E12 */
	{ B_ACK, "{\"execution_id\":\"x_1\",\"status\":\"accepted\",\"reason\":\"\"}", true },
	{ B_ACK, "{\"execution_id\":\"x_1\",\"status\":\"rejected\",\"reason\":\"unknown_action\"}", true },
	{ B_ACK, "{\"execution_id\":\"x_1\",\"status\":\"ok\",\"reason\":\"\"}", false },
	{ B_ACK, "{\"execution_id\":\"x_1\",\"status\":\"accepted\"}", false },
	/* E13 */
	{ B_RESULT, "{" RESULT_BASE "\"status\":\"success\"," TB "}", true },
	{ B_RESULT, "{" RESULT_BASE "\"status\":\"failed\"," TB "}", true },
	{ B_RESULT, "{" RESULT_BASE "\"status\":\"weird\"," TB "}", false },
	{ B_RESULT, "{" RESULT_BASE "\"status\":\"success\"}", false },
	{ B_RESULT, "{" RESULT_BASE "\"status\":\"success\",\"triggered_by\":{}}", false },
	/* E18–E20 */
	{ B_READY, "{\"listen_addr\":\"10.100.1.1:40000\",\"timestamp\":\"2025-01-15T10:30:00Z\"}", true },
	{ B_READY, "{\"listen_addr\":\"x\",\"timestamp\":\"2025-01-15T10:30:00Z\"}", false },
	{ B_CLOSED, "{\"reason\":\"closed\",\"duration\":\"5m\",\"timestamp\":\"2025-01-15T10:30:00Z\"}", true },
	{ B_CLOSED, "{\"reason\":\"closed\",\"duration\":\"5 minutes\",\"timestamp\":\"2025-01-15T10:30:00Z\"}",
	  false },
	{ B_INTEGRITY,
	  "{\"type\":\"binary\",\"path\":\"/usr/bin/plexd\",\"expected_checksum\":" SUM ",\"actual_checksum\":" SUM
	  ",\"detail\":\"x\",\"timestamp\":\"2025-01-15T10:30:00Z\"}",
	  true },
	{ B_INTEGRITY,
	  "{\"type\":\"binary\",\"path\":\"relative\",\"expected_checksum\":" SUM ",\"actual_checksum\":" SUM
	  ",\"detail\":\"x\",\"timestamp\":\"2025-01-15T10:30:00Z\"}",
	  false },
	/* admin policies */
	{ B_POLICIES, "[{\"id\":\"default-allow\",\"rules\":[{\"src\":\"*\",\"dst\":\"*\",\"action\":\"allow\"}]}]", true },
	{ B_POLICIES,
	  "[{\"id\":\"p\",\"rules\":[{\"src\":\"10.100.1.0/24\",\"dst\":\"n_a\",\"port\":443,\"protocol\":\"tcp\","
	  "\"action\":\"allow\"}]}]",
	  true },
	{ B_POLICIES, "[{\"id\":\"p\",\"rules\":[{\"src\":\"10.0.0.0/8\",\"dst\":\"*\",\"action\":\"allow\"}]}]", false },
	{ B_POLICIES, "[{\"id\":\"p\",\"rules\":[{\"src\":\"*\",\"dst\":\"*\",\"port\":22,\"action\":\"allow\"}]}]", false },
	{ B_POLICIES, "[{\"id\":\"p\",\"rules\":[{\"src\":\"*\",\"dst\":\"*\",\"action\":\"maybe\"}]}]", false },
	{ B_POLICIES, "[{\"id\":\"p\",\"rules\":[]},{\"id\":\"p\",\"rules\":[]}]", false },
	{ B_POLICIES, "{\"id\":\"p\"}", false },
};

static int validate_one(enum body_kind k, json_t *j, struct json_error *e)
{
	switch (k) {
	case B_REGISTER: {
		struct req_register r;
		int x = req_register_parse(j, &r, e);
		if (x >= 0)
			req_register_done(&r);
		return x;
	}
	case B_HEARTBEAT: {
		struct req_heartbeat h;
		return req_heartbeat_parse(j, &h, e);
	}
	case B_ROTATE: {
		struct req_key_rotate r;
		return req_key_rotate_parse(j, &r, e);
	}
	case B_CAPS:
		return req_capabilities_parse(j, e);
	case B_ENDPOINT: {
		struct req_endpoint p;
		return req_endpoint_parse(j, &p, e);
	}
	case B_DRIFT:
		return req_drift_parse(j, e);
	case B_REPORT: {
		struct req_report r;
		int x = req_report_parse(j, &r, e);
		if (x >= 0)
			req_report_done(&r);
		return x;
	}
	case B_ACK: {
		struct req_ack a;
		return req_ack_parse(j, &a, e);
	}
	case B_RESULT: {
		struct req_result r;
		return req_result_parse(j, &r, e);
	}
	case B_READY:
		return req_tunnel_ready_parse(j, e);
	case B_CLOSED:
		return req_tunnel_closed_parse(j, e);
	case B_INTEGRITY:
		return req_integrity_parse(j, e);
	case B_POLICIES:
		return req_policies_parse(j, e);
	}
	return -EINVAL;
}

static void test_table(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct json_error e = {};
		json_t *j = NULL;
		int r;

		if (cases[i].kind == B_POLICIES)
			r = json_parse_bounded(cases[i].body, strlen(cases[i].body), &j, &e);
		else
			r = req_parse_object(cases[i].body, strlen(cases[i].body), &j, &e);
		assert_int_equal(r, 0);
		r = validate_one(cases[i].kind, j, &e);
		if ((r >= 0) != cases[i].ok) {
			fprintf(stderr, "case %zu: expected %s, got r=%d (%s)\n", i, cases[i].ok ? "ok" : "error", r,
				e.text);
			fail();
		}
		if (!cases[i].ok)
			assert_true(e.text[0] != 0); /* every rejection says why */
		json_decref(j);
	}
}

static void test_register_fields(void **state)
{
	static const char body[] = "{\"token\":\"tok\",\"public_key\":" PK ",\"hostname\":\"web-1\","
				   "\"metadata\":{\"b\":\"2\",\"a\":\"1\"}}";
	struct req_register r;
	struct json_error e = {};
	json_t *j;

	assert_int_equal(req_parse_object(body, strlen(body), &j, &e), 0);
	assert_int_equal(req_register_parse(j, &r, &e), 0);
	assert_string_equal(r.token, "tok");
	assert_string_equal(r.hostname, "web-1");
	assert_int_equal(r.public_key[0], 0x56);
	assert_non_null(strstr(r.metadata_json, "\"a\":\"1\""));
	assert_null(r.capabilities_json);
	req_register_done(&r);
	json_decref(j);
}

static void test_parse_object(void **state)
{
	static const char *const bad[] = { "", "[]", "{", "{\"a\":1}x", "nul", "\"s\"" };
	struct json_error e = {};
	json_t *j = NULL;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_int_equal(req_parse_object(bad[i], strlen(bad[i]), &j, &e), -EINVAL);
	assert_int_equal(req_parse_object(NULL, 0, &j, &e), -EINVAL);
}

static void test_batch(void **state)
{
	static const char metric[] = "{\"timestamp\":\"2025-01-15T10:30:00Z\",\"group\":\"node_resources\",\"data\":{}}";
	static const char log_lines[] =
		"{\"timestamp\":\"2025-01-15T10:30:00Z\",\"source\":\"journald\",\"unit\":\"\",\"message\":\"m\","
		"\"severity\":\"info\",\"hostname\":\"h\"}\r\n\n"
		"{\"timestamp\":\"2025-01-15T10:30:01Z\",\"source\":\"journald\",\"unit\":\"u\",\"message\":\"m2\","
		"\"severity\":\"warn\",\"hostname\":\"h\"}";
	static const char audit[] =
		"[{\"timestamp\":\"2025-01-15T10:30:00Z\",\"source\":\"auditd\",\"event_type\":\"SYSCALL\","
		"\"subject\":{\"uid\":0},\"object\":{\"path\":\"/etc\"},\"action\":\"open\",\"result\":\"success\","
		"\"hostname\":\"h\",\"raw\":\"\"}]";
	struct json_error e = {};
	char buf[512];
	json_t *arr = NULL;

	snprintf(buf, sizeof(buf), "[%s,%s]", metric, metric);
	assert_int_equal(req_batch_parse(RECORD_METRIC, "application/json", buf, strlen(buf), &arr, &e), 0);
	assert_int_equal(json_array_size(arr), 2);
	json_decref(arr);
	/* The same records as JSON Lines. */
	snprintf(buf, sizeof(buf), "%s\n%s\n", metric, metric);
	assert_int_equal(req_batch_parse(RECORD_METRIC, "application/x-ndjson; charset=utf-8", buf, strlen(buf), &arr, &e),
			 0);
	assert_int_equal(json_array_size(arr), 2);
	json_decref(arr);
	assert_int_equal(req_batch_parse(RECORD_LOG, "application/x-ndjson", log_lines, strlen(log_lines), &arr, &e), 0);
	assert_int_equal(json_array_size(arr), 2);
	json_decref(arr);
	assert_int_equal(req_batch_parse(RECORD_AUDIT, "application/json", audit, strlen(audit), &arr, &e), 0);
	json_decref(arr);

	/* A JSON array sent as lines is one line that is not an object: rejected. */
	assert_int_equal(req_batch_parse(RECORD_LOG, "application/x-ndjson", audit, strlen(audit), &arr, &e), -EINVAL);
	/* One bad record rejects the batch. */
	snprintf(buf, sizeof(buf), "[%s,{\"timestamp\":\"2025-01-15T10:30:00Z\",\"group\":\"g\"}]", metric);
	assert_int_equal(req_batch_parse(RECORD_METRIC, "application/json", buf, strlen(buf), &arr, &e), -EINVAL);
	assert_non_null(strstr(e.text, "records[1]"));
	assert_int_equal(req_batch_parse(RECORD_METRIC, "application/json", "{}", 2, &arr, &e), -EINVAL);
	assert_int_equal(req_batch_parse(RECORD_METRIC, "application/json", "", 0, &arr, &e), -EINVAL);
	/* A truncated body. */
	assert_int_equal(req_batch_parse(RECORD_METRIC, "application/json", buf, 20, &arr, &e), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_register_fields),
		cmocka_unit_test(test_parse_object),
		cmocka_unit_test(test_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
