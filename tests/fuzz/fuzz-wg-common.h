/* Shared by the WireGuard harnesses (fuzz-wg-uapi.c, fuzz-wg-genl.c): the CHECK macro and a
 * field-by-field comparison of the device model restricted to what a set message carries. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/wg-device.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Peer fields written by an ADD with every field: key, PSK, endpoint, keepalive, allowed IPs in
 * order. Counters and handshake times are read-only and not compared. */
static inline bool fuzz_wg_peer_eq(const struct wg_peer *a, const struct wg_peer *b)
{
	if (memcmp(a->public_key, b->public_key, WG_KEY_SIZE) != 0 || a->has_psk != b->has_psk ||
	    a->has_endpoint != b->has_endpoint || a->persistent_keepalive != b->persistent_keepalive ||
	    a->n_allowed_ips != b->n_allowed_ips)
		return false;
	if (a->has_psk && memcmp(a->preshared_key, b->preshared_key, WG_KEY_SIZE) != 0)
		return false;
	if (a->has_endpoint && !wg_sockaddr_equal(&a->endpoint, &b->endpoint))
		return false;
	for (size_t i = 0; i < a->n_allowed_ips; i++)
		if (wg_prefix_compare(&a->allowed_ips[i], &b->allowed_ips[i]) != 0)
			return false;
	return true;
}

static inline void fuzz_wg_check_device_eq(const struct wg_device *a, const struct wg_device *b)
{
	CHECK(a->has_private_key == b->has_private_key);
	if (a->has_private_key)
		CHECK(memcmp(a->private_key, b->private_key, WG_KEY_SIZE) == 0);
	CHECK(a->listen_port == b->listen_port);
	CHECK(a->fwmark == b->fwmark);
	CHECK(a->n_peers == b->n_peers);
	for (size_t i = 0; i < a->n_peers; i++)
		CHECK(fuzz_wg_peer_eq(&a->peers[i], &b->peers[i]));
}

/* The change set that writes all of dev: device fields, then every peer as a full ADD. */
static inline void fuzz_wg_full_change_set(const struct wg_device *dev, struct wg_change_set *cs)
{
	*cs = (struct wg_change_set){
		.desired = dev,
		.device_fields = WG_DEVICE_FIELD_LISTEN_PORT | WG_DEVICE_FIELD_FWMARK |
				 (dev->has_private_key ? WG_DEVICE_FIELD_PRIVATE_KEY : 0),
	};
	if (dev->n_peers == 0)
		return;
	cs->changes = calloc(dev->n_peers, sizeof(*cs->changes));
	CHECK(cs->changes);
	for (size_t i = 0; i < dev->n_peers; i++)
		cs->changes[i] = (struct wg_peer_change){
			.op = WG_PEER_OP_ADD,
			.fields = WG_PEER_FIELD_PSK | WG_PEER_FIELD_ENDPOINT | WG_PEER_FIELD_KEEPALIVE |
				  WG_PEER_FIELD_ALLOWED_IPS,
			.peer = &dev->peers[i],
		};
	cs->n_changes = dev->n_peers;
}
