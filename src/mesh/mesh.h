/* Mesh facade (agent.md §5.1): the WireGuard interface with its address and plexd routes, and
 * diff-based peer application for events and reconcile cycles (§5.6 rows interface/peers/
 * routes). One object per interface; everything else in src/mesh is below this. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "mesh/wg-backend.h"
#include "mesh/wg-device.h"
#include "shared/macro.h"

struct mesh;

struct mesh_config {
	const char *ifname;	       /* mesh.interface */
	uint16_t listen_port;	       /* mesh.listen_port */
	uint32_t mtu;		       /* mesh.mtu, 0 = leave the kernel default */
	uint16_t keepalive;	       /* mesh.persistent_keepalive in seconds, 0 = off */
	enum wg_backend_kind backend;  /* mesh.backend */
	const char *userspace_binary;  /* mesh.userspace_binary */
};

/* A drift correction as reported to the control plane: type of §5.6 (static string) and a
 * human-readable detail such as "peer n_abc missing from plexd0". */
struct mesh_correction {
	const char *type;
	char *detail;
};

struct mesh_apply_result {
	unsigned added, removed, updated;
	unsigned routes_added, routes_removed;
	unsigned failed; /* failed corrections; > 0 makes the reconcile cycle count as failed */
	unsigned deferred; /* fresh peers added without keepalive (stagger): apply again shortly */
	struct mesh_correction *corrections;
	size_t n_corrections;
	struct wg_peer_error *errors; /* per-peer validation problems (already logged) */
	size_t n_errors;
};

/* Copies cfg. The event loop watches a userspace daemon plexd starts. */
int mesh_new(sd_event *event, const struct mesh_config *cfg, struct mesh **ret);
/* Called when the userspace daemon dies; the next reconcile recreates the interface. */
void mesh_set_exit_handler(struct mesh *m, void (*handler)(struct mesh *m, void *userdata),
			   void *userdata);
/* Selects the backend, creates or adopts the interface, sets key and port (fwmark cleared),
 * makes mesh_ip/32 its only address, sets the MTU and brings it up. The key is copied and
 * wiped on free. */
int mesh_start(struct mesh *m, const uint8_t private_key[WG_KEY_SIZE], struct in_addr mesh_ip);
/* Validates the desired peers (§5.1 Peers 6/7, logged per peer), diffs them against the device
 * and applies the difference in one batch (falling back to one change at a time when the batch
 * fails, so one bad peer does not block the others), then syncs plexd routes. reconcile = a
 * §5.6 cycle: the roaming rule applies and the interface itself (link, key, port, address) is
 * checked and restored. Returns 0 even when individual corrections failed (see ret->failed);
 * negative only when nothing could be done (device unreadable, -ENOMEM). */
int mesh_apply(struct mesh *m, const struct wg_peer_input *peers, size_t n_peers, bool reconcile,
	       struct mesh_apply_result *ret);
void mesh_apply_result_done(struct mesh_apply_result *r);
/* Handshake collision avoidance. When two nodes configure each other in the same instant (one
 * policy change or registration reaches both), both WireGuard ends initiate at once (a
 * persistent keepalive makes a freshly added peer initiate immediately) and, with wireguard-go,
 * the pair can be left without a working session until the next rekey. With a key set and
 * enabled, mesh_apply adds peers that were not in the previous desired set and whose public key
 * sorts below ours *without* their persistent keepalive (result.deferred counts them): such a
 * peer initiates first and we answer; the caller applies again a moment later, which sets the
 * keepalive. Everything else, including re-additions of known peers (drift repair), is applied
 * as desired. */
void mesh_set_stagger(struct mesh *m, const uint8_t own_public_key[WG_KEY_SIZE], bool enabled);

/* Reads the device back (peers with handshakes and counters). */
int mesh_get_device(struct mesh *m, struct wg_device *ret);
/* Key rotation (§5.8): writes only the private key. */
int mesh_set_private_key(struct mesh *m, const uint8_t private_key[WG_KEY_SIZE]);
/* teardown (§4.6 step 4): remove all peers, plexd routes and the interface (stopping a daemon
 * plexd started). Without teardown the interface and daemon are left running for adoption. */
int mesh_stop(struct mesh *m, bool teardown);
struct mesh *mesh_free(struct mesh *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct mesh *, mesh_free);

/* "kernel" or "userspace" once started, NULL before. */
const char *mesh_backend_name(const struct mesh *m);
/* Device write operations so far (a no-op apply adds none). */
uint64_t mesh_device_writes(const struct mesh *m);
