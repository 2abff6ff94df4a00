/* libFuzzer harness for plexcp's request validators: the first byte picks the endpoint body
 * type, the rest is the request body as it would arrive after gzip decoding. Every validator
 * must either reject with a message or accept, and accepted report bodies must round-trip. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plexcp/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void object_body(uint8_t sel, const char *body, size_t len)
{
	struct json_error e = {};
	json_t *j = NULL;
	int r;

	r = req_parse_object(body, len, &j, &e);
	if (r < 0) {
		CHECK(e.text[0] != 0);
		return;
	}
	CHECK(json_is_object(j));
	switch (sel % 12) {
	case 0: {
		struct req_register rr;
		r = req_register_parse(j, &rr, &e);
		if (r >= 0) {
			CHECK(rr.metadata_json && strlen(rr.token) >= 1 && strlen(rr.token) <= 512);
			req_register_done(&rr);
		}
		break;
	}
	case 1: {
		struct req_heartbeat h;
		r = req_heartbeat_parse(j, &h, &e);
		break;
	}
	case 2: {
		struct req_key_rotate k;
		r = req_key_rotate_parse(j, &k, &e);
		break;
	}
	case 3:
		r = req_capabilities_parse(j, &e);
		break;
	case 4: {
		struct req_endpoint p;
		r = req_endpoint_parse(j, &p, &e);
		break;
	}
	case 5:
		r = req_drift_parse(j, &e);
		break;
	case 6: {
		struct req_report rep;
		r = req_report_parse(j, &rep, &e);
		if (r >= 0) {
			for (size_t i = 0; i < rep.n_entries; i++) {
				json_t *p = json_loads(rep.entries[i].payload_json, JSON_DECODE_ANY, NULL);
				CHECK(p);
				CHECK(rep.entries[i].version >= 1);
				json_decref(p);
			}
			req_report_done(&rep);
		}
		break;
	}
	case 7: {
		struct req_ack a;
		r = req_ack_parse(j, &a, &e);
		break;
	}
	case 8: {
		struct req_result res;
		r = req_result_parse(j, &res, &e);
		if (r >= 0)
			CHECK(res.triggered_by_type != NULL);
		break;
	}
	case 9:
		r = req_tunnel_ready_parse(j, &e);
		break;
	case 10:
		r = req_tunnel_closed_parse(j, &e);
		break;
	default:
		r = req_integrity_parse(j, &e);
		break;
	}
	if (r < 0)
		CHECK(r == -EINVAL || r == -ENOMEM);
	if (r == -EINVAL)
		CHECK(e.text[0] != 0);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const content_types[] = { "application/json", "application/x-ndjson" };
	static const enum record_kind kinds[] = { RECORD_METRIC, RECORD_LOG, RECORD_AUDIT };
	struct json_error e = {};
	const char *body;
	json_t *j = NULL;
	uint8_t sel;
	int r;

	if (size < 1 || size > 1024 * 1024)
		return 0;
	sel = data[0];
	body = (const char *)data + 1;
	size--;

	if (sel < 0xC0) {
		object_body(sel, body, size);
		return 0;
	}
	if (sel < 0xF0) {
		r = req_batch_parse(kinds[sel % 3], content_types[(sel / 3) % 2], body, size, &j, &e);
		if (r >= 0) {
			CHECK(json_is_array(j));
			json_decref(j);
		} else
			CHECK(e.text[0] != 0 || r == -ENOMEM);
		return 0;
	}
	if (json_parse_bounded(body, size, &j, &e) >= 0) {
		(void)req_policies_parse(j, &e);
		json_decref(j);
	}
	return 0;
}
