/* The desired-state model fed by registration, state fetches and verified events, persisted to
 * the cache files of agent.md §2.2 (peers.json, policies.json) so a restart without the control
 * plane rebuilds the mesh (§4.7). Pure data plus cache I/O; no device access. */
#pragma once

#include <stdbool.h>

#include "controlplane/types.h"
#include "core/drift.h"

struct desired {
	struct cp_peer_list peers; /* sorted by id, ids unique; .errors unused */
	struct cp_policy_list policies;
	struct signing_keys signing_keys; /* mirrors the identity's set */
	struct cp_metadata metadata;
	struct cp_data_list data;
	struct cp_secret_ref_list secret_refs;
};

void desired_done(struct desired *d);

/* Deep copy of a peer (PSK included). */
int cp_peer_copy(const struct cp_peer *src, struct cp_peer *dst);

struct cp_peer *desired_peer_find(const struct desired *d, const char *id);
/* Adds or replaces the peer with this id (deep copy). Returns 1 when something changed. */
int desired_peer_upsert(struct desired *d, const struct cp_peer *p);
/* Returns 1 when the peer existed. */
int desired_peer_remove(struct desired *d, const char *id);
/* Replaces the whole peer list (takes its contents; l is left empty). The local node's own id
 * is dropped if the CP listed it. */
void desired_set_peers(struct desired *d, struct cp_peer_list *l, const char *self_id);
/* Same from a borrowed list (deep copy). -ENOMEM leaves the desired peers as they were. */
int desired_set_peers_copy(struct desired *d, const struct cp_peer_list *l, const char *self_id);

/* Replaces the policy set (takes the contents), appending policy_added/removed/updated
 * corrections to drift when drift != NULL. Policies compare by id and content (A47). */
int desired_set_policies(struct desired *d, struct cp_policy_list *l, struct drift_list *drift);

/* Cache files under <data_dir>/cache. Corrupt files are moved aside (§2.2 rule 4) and count as
 * absent. */
int desired_save_peers(const struct desired *d, const char *data_dir);
int desired_save_policies(const struct desired *d, const char *data_dir);
int desired_load_cache(struct desired *d, const char *data_dir, const char *self_id);
