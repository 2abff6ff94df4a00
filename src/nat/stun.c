/* STUN Binding request builder and response parser (agent.md §5.2 rule 1, RFC 8489 §5, §6, §14). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "nat/stun.h"
#include "shared/macro.h"
#include "shared/random-util.h"

#define STUN_FINGERPRINT_XOR UINT32_C(0x5354554e)

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void stun_build_binding_request(const uint8_t txid[STUN_TXID_SIZE], uint8_t out[STUN_HEADER_SIZE])
{
	out[0] = STUN_BINDING_REQUEST >> 8;
	out[1] = STUN_BINDING_REQUEST & 0xff;
	out[2] = 0;
	out[3] = 0;
	out[4] = (uint8_t)(STUN_MAGIC_COOKIE >> 24);
	out[5] = (uint8_t)(STUN_MAGIC_COOKIE >> 16);
	out[6] = (uint8_t)(STUN_MAGIC_COOKIE >> 8);
	out[7] = (uint8_t)STUN_MAGIC_COOKIE;
	memcpy(out + 8, txid, STUN_TXID_SIZE);
}

int stun_txid_random(uint8_t txid[STUN_TXID_SIZE])
{
	return random_bytes(txid, STUN_TXID_SIZE);
}

bool stun_header_matches(const uint8_t *buf, size_t len, const uint8_t txid[STUN_TXID_SIZE])
{
	return len >= STUN_HEADER_SIZE && (buf[0] & 0xc0) == 0 &&
	       get_be32(buf + 4) == STUN_MAGIC_COOKIE && memcmp(buf + 8, txid, STUN_TXID_SIZE) == 0;
}

/* CRC-32 (ISO-HDLC, the one FINGERPRINT uses), bitwise: responses are tiny. */
static uint32_t crc32_iso(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffU;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320U & (uint32_t) - (int32_t)(c & 1));
	}
	return ~c;
}

/* Comprehension-required attributes (type < 0x8000) that may legitimately appear in a Binding
 * response from RFC 3489/5389/8489 servers; any other one makes the response unusable. */
static bool attr_known(uint16_t type)
{
	static const uint16_t known[] = {
	    0x0001, /* MAPPED-ADDRESS */
	    0x0002, /* RESPONSE-ADDRESS (3489) */
	    0x0003, /* CHANGE-REQUEST (3489) */
	    0x0004, /* SOURCE-ADDRESS (3489) */
	    0x0005, /* CHANGED-ADDRESS (3489) */
	    0x0006, /* USERNAME */
	    0x0007, /* PASSWORD (3489) */
	    0x0008, /* MESSAGE-INTEGRITY */
	    0x0009, /* ERROR-CODE */
	    0x000a, /* UNKNOWN-ATTRIBUTES */
	    0x000b, /* REFLECTED-FROM (3489) */
	    0x0014, /* REALM */
	    0x0015, /* NONCE */
	    0x001c, /* MESSAGE-INTEGRITY-SHA256 */
	    0x001d, /* PASSWORD-ALGORITHM */
	    0x001e, /* USERHASH */
	    0x0020, /* XOR-MAPPED-ADDRESS */
	};
	if (type >= 0x8000)
		return true; /* comprehension-optional */
	for (size_t i = 0; i < ELEMENTSOF(known); i++)
		if (known[i] == type)
			return true;
	return false;
}

/* Decodes a (XOR-)MAPPED-ADDRESS value. Returns AF_INET with *ret filled, AF_INET6 (value valid
 * but unusable here) or -EBADMSG. */
static int parse_address(const uint8_t *v, uint16_t vlen, bool xored, struct sockaddr_in *ret)
{
	if (vlen < 4)
		return -EBADMSG;
	uint8_t family = v[1];
	if (family == 0x01) {
		if (vlen != 8)
			return -EBADMSG;
		uint16_t port = get_be16(v + 2);
		uint32_t addr = get_be32(v + 4);
		if (xored) {
			port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
			addr ^= STUN_MAGIC_COOKIE;
		}
		*ret = (struct sockaddr_in){
		    .sin_family = AF_INET,
		    .sin_port = htons(port),
		    .sin_addr.s_addr = htonl(addr),
		};
		return AF_INET;
	}
	if (family == 0x02) {
		if (vlen != 20)
			return -EBADMSG;
		return AF_INET6;
	}
	return -EBADMSG;
}

int stun_parse_binding_response(const uint8_t *buf, size_t len, const uint8_t txid[STUN_TXID_SIZE],
				struct sockaddr_in *ret)
{
	if (!buf || len < STUN_HEADER_SIZE)
		return -EBADMSG;
	uint16_t type = get_be16(buf);
	uint16_t mlen = get_be16(buf + 2);
	if (type & 0xc000)
		return -EBADMSG; /* the two leading zero bits of every STUN message */
	if (get_be32(buf + 4) != STUN_MAGIC_COOKIE || memcmp(buf + 8, txid, STUN_TXID_SIZE) != 0)
		return -ESRCH;
	if (mlen % 4 != 0 || (size_t)mlen + STUN_HEADER_SIZE != len)
		return -EBADMSG;
	if (type != STUN_BINDING_SUCCESS)
		return -ENOMSG;

	struct sockaddr_in xor_addr, plain_addr;
	bool have_xor = false, have_plain = false, saw_v6 = false;
	size_t off = STUN_HEADER_SIZE;
	while (off < len) {
		if (len - off < 4)
			return -EBADMSG;
		uint16_t at = get_be16(buf + off);
		uint16_t alen = get_be16(buf + off + 2);
		size_t padded = ((size_t)alen + 3) & ~(size_t)3;
		if (padded > len - off - 4)
			return -EBADMSG;
		const uint8_t *v = buf + off + 4;

		if (at == STUN_ATTR_FINGERPRINT) {
			/* Must be last, 4 bytes, CRC over everything before it with the length
			 * field as it stands (it already covers the fingerprint). */
			if (alen != 4 || off + 8 != len)
				return -EBADMSG;
			if ((crc32_iso(buf, off) ^ STUN_FINGERPRINT_XOR) != get_be32(v))
				return -EBADMSG;
		} else if (!attr_known(at))
			return -EPROTO;
		else if (at == STUN_ATTR_XOR_MAPPED_ADDRESS || at == STUN_ATTR_MAPPED_ADDRESS) {
			bool xored = at == STUN_ATTR_XOR_MAPPED_ADDRESS;
			struct sockaddr_in a;
			int r = parse_address(v, alen, xored, &a);
			if (r < 0)
				return r;
			if (r == AF_INET6)
				saw_v6 = true;
			else if (xored && !have_xor) {
				xor_addr = a;
				have_xor = true;
			} else if (!xored && !have_plain) {
				plain_addr = a;
				have_plain = true;
			}
		}
		off += 4 + padded;
	}

	if (have_xor)
		*ret = xor_addr;
	else if (have_plain)
		*ret = plain_addr;
	else
		return saw_v6 ? -EAFNOSUPPORT : -ENOENT;
	return 0;
}
