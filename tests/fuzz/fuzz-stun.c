/* libFuzzer harness for src/nat/stun.c and the raw packet parser of src/nat/raw.c. Besides not
 * crashing: a parsed address re-encodes to a response that parses to the same address, and the
 * raw parser's payload always lies inside the input. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nat/raw.h"
#include "nat/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);      \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t txid[STUN_TXID_SIZE] = {0};
	if (size >= STUN_HEADER_SIZE)
		memcpy(txid, data + 8, STUN_TXID_SIZE); /* so the walk gets past the txid check */

	/* Exact-size copy: ASan flags any read past the end. */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);

	struct sockaddr_in a = {0};
	int r = stun_parse_binding_response(copy, size, txid, &a);
	CHECK(r == 0 || r == -EBADMSG || r == -ESRCH || r == -ENOMSG || r == -EPROTO ||
	      r == -EAFNOSUPPORT || r == -ENOENT);
	if (r == 0) {
		CHECK(a.sin_family == AF_INET);
		CHECK(stun_header_matches(copy, size, txid));
		uint8_t resp[32] = {0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42};
		memcpy(resp + 8, txid, STUN_TXID_SIZE);
		uint16_t xp = ntohs(a.sin_port) ^ 0x2112;
		uint32_t xa = ntohl(a.sin_addr.s_addr) ^ STUN_MAGIC_COOKIE;
		const uint8_t attr[12] = {0x00,
					  0x20,
					  0x00,
					  0x08,
					  0x00,
					  0x01,
					  (uint8_t)(xp >> 8),
					  (uint8_t)xp,
					  (uint8_t)(xa >> 24),
					  (uint8_t)(xa >> 16),
					  (uint8_t)(xa >> 8),
					  (uint8_t)xa};
		memcpy(resp + 20, attr, sizeof(attr));
		struct sockaddr_in b;
		CHECK(stun_parse_binding_response(resp, sizeof(resp), txid, &b) == 0);
		CHECK(b.sin_addr.s_addr == a.sin_addr.s_addr && b.sin_port == a.sin_port);
	} else
		CHECK(a.sin_family == 0);

	/* A request built with this txid is never mistaken for a success response. */
	uint8_t req[STUN_HEADER_SIZE];
	stun_build_binding_request(txid, req);
	CHECK(stun_parse_binding_response(req, sizeof(req), txid, &a) == -ENOMSG);

	if (size >= 2) {
		uint16_t port = (uint16_t)(data[0] << 8 | data[1]);
		struct sockaddr_in src;
		const uint8_t *pl;
		size_t plen;
		if (raw_ipv4_udp_parse(copy, size, port, &src, &pl, &plen) == 0) {
			CHECK(pl >= copy + 28 && pl + plen <= copy + size);
			CHECK(src.sin_family == AF_INET);
		}
	}
	free(copy);
	return 0;
}
