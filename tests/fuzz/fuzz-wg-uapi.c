/* libFuzzer harness for the wireguard-go configuration protocol parsers (src/mesh/wg-uapi.h):
 * get=1 and errno replies. Checks the results against each other, that the completeness test
 * the socket reader relies on never fires on a proper prefix of a good reply, and that a parsed
 * device written out with wg_uapi_build_set and turned back into a reply parses to the same
 * device (and serializes to the same bytes again). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/wg-uapi.h"
#include "shared/macro.h"

#include "fuzz-wg-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* set=1 text → the get=1 reply a device with that configuration gives: drop "set=1\n", keep
 * the key=value lines (replace_allowed_ips is unknown to the get parser and ignored), end with
 * errno=0 and the empty line. */
static char *set_to_get(const char *set, size_t len, size_t *ret_len)
{
	static const char tail[] = "errno=0\n\n";
	char *g;

	CHECK(len >= 7 && memcmp(set, "set=1\n", 6) == 0 && set[len - 1] == '\n' && set[len - 2] == '\n');
	g = malloc(len - 7 + STRLEN(tail));
	CHECK(g);
	memcpy(g, set + 6, len - 7);
	memcpy(g + len - 7, tail, STRLEN(tail));
	*ret_len = len - 7 + STRLEN(tail);
	return g;
}

static void check_round_trip(const struct wg_device *dev)
{
	struct wg_change_set cs;
	struct wg_device back = {};
	char *set = NULL, *set2 = NULL, *get;
	size_t set_len = 0, set2_len = 0, get_len = 0;
	int r;

	fuzz_wg_full_change_set(dev, &cs);
	r = wg_uapi_build_set(&cs, &set, &set_len);
	CHECK(r == 0);
	CHECK(strlen(set) == set_len);
	/* Exactly one empty line, the terminator: the peer cannot misread the message. */
	CHECK(strstr(set, "\n\n") == set + set_len - 2);

	get = set_to_get(set, set_len, &get_len);
	CHECK(wg_uapi_response_complete(get, get_len));
	r = wg_uapi_parse_get(get, get_len, &back);
	CHECK(r == 0);
	fuzz_wg_check_device_eq(dev, &back);

	wg_change_set_done(&cs);
	fuzz_wg_full_change_set(&back, &cs);
	CHECK(wg_uapi_build_set(&cs, &set2, &set2_len) == 0);
	CHECK(set2_len == set_len && memcmp(set, set2, set_len) == 0);

	wg_change_set_done(&cs);
	wg_device_done(&back);
	free(get);
	free(set);
	free(set2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct wg_device dev = {};
	int r_get, r_errno;

	r_get = wg_uapi_parse_get(s, size, &dev);
	r_errno = wg_uapi_parse_errno(s, size);
	CHECK(r_get <= 0 && r_errno <= 0);
	CHECK(r_errno >= -INT32_MAX);
	/* The device parser is the errno parser plus value checks: it never accepts more. */
	if (r_get == 0)
		CHECK(r_errno == 0);
	if (r_errno == -E2BIG && size > WG_UAPI_RESPONSE_MAX)
		CHECK(r_get == -E2BIG);

	if (r_errno == 0) {
		/* A well-formed reply is complete, and no proper prefix of it is (the reader would
		 * stop early and parse a truncated device). Sampled prefixes keep this linear. */
		size_t step = size / 64 + 1;

		CHECK(wg_uapi_response_complete(s, size));
		for (size_t i = 0; i < size; i += (i + 2 >= size) ? 1 : step) {
			CHECK(!wg_uapi_response_complete(s, i));
			CHECK(wg_uapi_parse_errno(s, i) == -EBADMSG);
		}
	}

	if (r_get == 0) {
		for (size_t i = 0; i < dev.n_peers; i++) {
			CHECK(!dev.peers[i].id);
			CHECK(dev.peers[i].n_allowed_ips <= WG_ALLOWED_IPS_PER_PEER_MAX);
			for (size_t k = 0; k < dev.peers[i].n_allowed_ips; k++) {
				const struct wg_prefix *p = &dev.peers[i].allowed_ips[k];
				struct wg_prefix m = *p;

				CHECK((p->family == AF_INET && p->cidr <= 32) ||
				      (p->family == AF_INET6 && p->cidr <= 128));
				wg_prefix_mask(&m);
				CHECK(memcmp(&m, p, sizeof(m)) == 0); /* host bits already clear */
			}
		}
		check_round_trip(&dev);
		wg_device_done(&dev);
	} else {
		/* Failure leaves the output alone. */
		CHECK(dev.n_peers == 0 && !dev.peers);
	}
	return 0;
}
