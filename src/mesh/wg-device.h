/* WireGuard device model shared by both backends, the pure peer diff (agent.md §5.1 Peers 4, 5,
 * 8) and the validation/normalisation of a desired peer set (§5.1 Peers 6, 7). No I/O here. */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define WG_KEY_SIZE 32
/* Bounds on input from the control plane (CONVENTIONS: every input has a bound). */
#define WG_PEERS_MAX 65536
#define WG_ALLOWED_IPS_PER_PEER_MAX 1024
/* §5.1 Peers 5: a handshake this recent means the device endpoint roamed legitimately. */
#define WG_ROAMING_WINDOW_SEC 180

/* An allowed IP / route prefix. Host bits are always cleared (wg_prefix_parse does it), so two
 * prefixes are equal iff their bytes are equal. */
struct wg_prefix {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t cidr;
	union {
		struct in_addr in;
		struct in6_addr in6;
	} addr;
};

struct wg_peer {
	/* Caller label for logging only (desired peers); NULL for peers read from a device.
	 * Never compared by the diff. */
	char *id;
	uint8_t public_key[WG_KEY_SIZE];
	uint8_t preshared_key[WG_KEY_SIZE];
	bool has_psk;
	struct sockaddr_storage endpoint;
	bool has_endpoint;
	struct wg_prefix *allowed_ips;
	size_t n_allowed_ips;
	uint16_t persistent_keepalive; /* seconds, 0 = off */
	struct timespec last_handshake; /* CLOCK_REALTIME; 0/0 = never */
	uint64_t rx_bytes, tx_bytes;
};

struct wg_device {
	char ifname[IFNAMSIZ];
	uint32_t ifindex;
	uint8_t private_key[WG_KEY_SIZE];
	bool has_private_key;
	uint8_t public_key[WG_KEY_SIZE];
	bool has_public_key;
	uint16_t listen_port;
	uint32_t fwmark;
	struct wg_peer *peers;
	size_t n_peers;
};

/* Peer fields a change writes. */
enum {
	WG_PEER_FIELD_PSK = 1U << 0,
	WG_PEER_FIELD_ENDPOINT = 1U << 1,
	WG_PEER_FIELD_KEEPALIVE = 1U << 2,
	WG_PEER_FIELD_ALLOWED_IPS = 1U << 3,
};
/* Device fields a change writes. */
enum {
	WG_DEVICE_FIELD_PRIVATE_KEY = 1U << 0,
	WG_DEVICE_FIELD_LISTEN_PORT = 1U << 1,
	WG_DEVICE_FIELD_FWMARK = 1U << 2,
};

enum wg_peer_op {
	WG_PEER_OP_REMOVE,
	WG_PEER_OP_UPDATE,
	WG_PEER_OP_ADD,
};

struct wg_peer_change {
	enum wg_peer_op op;
	unsigned fields; /* WG_PEER_FIELD_*; 0 for REMOVE */
	/* ADD/UPDATE: the desired peer (its values are written); REMOVE: the device peer. */
	const struct wg_peer *peer;
};

/* Borrowed pointers into the desired and actual devices: valid while both live. Order: all
 * removals, then updates, then additions, so a key change (remove old + add new, §5.1 rule 8)
 * goes out in one batch with the removal first. */
struct wg_change_set {
	const struct wg_device *desired;
	unsigned device_fields; /* WG_DEVICE_FIELD_* */
	struct wg_peer_change *changes;
	size_t n_changes;
};

/* Prefixes. wg_prefix_parse accepts exactly "addr/len" (IPv4 dotted quad 0–32, IPv6 0–128)
 * and clears host bits. -EINVAL otherwise. */
int wg_prefix_parse(const char *s, struct wg_prefix *ret);
/* Needs WG_PREFIX_STRLEN bytes; returns the length written or -ENOBUFS. */
#define WG_PREFIX_STRLEN (INET6_ADDRSTRLEN + 5)
int wg_prefix_format(const struct wg_prefix *p, char *out, size_t size);
void wg_prefix_mask(struct wg_prefix *p);
int wg_prefix_compare(const struct wg_prefix *a, const struct wg_prefix *b);
/* True if one prefix contains the other (same family). */
bool wg_prefix_overlaps(const struct wg_prefix *a, const struct wg_prefix *b);
bool wg_prefix_contains_v4(const struct wg_prefix *p, struct in_addr a);
/* Sorts and removes duplicates in place; returns the new count. */
size_t wg_prefixes_normalise(struct wg_prefix *p, size_t n);
/* Set equality of two prefix arrays, order and duplicates ignored. -ENOMEM, 0 or 1. */
int wg_prefixes_equal(const struct wg_prefix *a, size_t na, const struct wg_prefix *b, size_t nb);

bool wg_sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
bool wg_key_is_zero(const uint8_t key[WG_KEY_SIZE]);

/* Frees contents (wiping key material) and leaves an empty peer/device behind. */
void wg_peer_done(struct wg_peer *p);
void wg_device_done(struct wg_device *d);
/* Deep copy of a peer (including id). -ENOMEM. */
int wg_peer_copy(const struct wg_peer *src, struct wg_peer *dst);
/* Appends a zeroed peer to the device, returning it. NULL on OOM. */
struct wg_peer *wg_device_add_peer(struct wg_device *d);
/* Appends one prefix to a peer. -ENOMEM, -E2BIG past WG_ALLOWED_IPS_PER_PEER_MAX. */
int wg_peer_add_allowed_ip(struct wg_peer *p, const struct wg_prefix *prefix);

/* The diff of §5.1 Peers 4/5/8: device fields (private key when desired has one, listen port,
 * fwmark must be 0), peers keyed by public key. `reconcile` enables the roaming rule (5): a
 * differing device endpoint is kept when the peer's last handshake is within
 * WG_ROAMING_WINDOW_SEC of `now` (CLOCK_REALTIME). A desired peer without endpoint never
 * writes one (WireGuard cannot unset it). An empty result means: do no device I/O. */
int wg_diff(const struct wg_device *desired, const struct wg_device *actual, struct timespec now,
	    bool reconcile, struct wg_change_set *ret);
bool wg_change_set_is_empty(const struct wg_change_set *cs);
void wg_change_set_done(struct wg_change_set *cs);
/* Writes "psk,endpoint,keepalive,allowed_ips" (the fields set) into out. */
void wg_peer_fields_format(unsigned fields, char *out, size_t size);

/* A desired peer as received (strings straight from the validated JSON). */
struct wg_peer_input {
	const char *id;
	const char *public_key; /* key32 */
	const char *psk;	/* key32, "" or NULL = none */
	const char *endpoint;	/* "ip:port", "[ip6]:port", "" or NULL = unknown */
	const char *const *allowed_ips;
	size_t n_allowed_ips;
};

/* One problem found while normalising: the peer was skipped entirely (`skipped`), or applied
 * without one of its prefixes. */
struct wg_peer_error {
	char *id;
	char *reason;
	bool skipped;
};

struct wg_peer_set {
	struct wg_peer *peers; /* sorted by id; ids are copied */
	size_t n_peers;
	struct wg_peer_error *errors;
	size_t n_errors;
};

/* §5.1 Peers 6/7: parses and validates each input; invalid peers (bad key/PSK/endpoint, a
 * prefix that does not parse or covers `mesh_ip`, a duplicate id or public key, too many
 * prefixes) are skipped with an error; overlapping prefixes between peers go to the peer with
 * the strcmp-smaller id, the other loses that prefix with an error. Every peer gets
 * `keepalive`. Only -ENOMEM/-E2BIG (more than WG_PEERS_MAX inputs) fail the call. */
int wg_peer_set_build(const struct wg_peer_input *in, size_t n, struct in_addr mesh_ip,
		      uint16_t keepalive, struct wg_peer_set *ret);
void wg_peer_set_done(struct wg_peer_set *s);
