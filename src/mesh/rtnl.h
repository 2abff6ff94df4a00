/* Synchronous netlink request/ack over libmnl, and the rtnetlink operations the mesh needs:
 * link lookup/create/delete/up, the one /32 address, plexd-owned routes (§5.1 interface 4, 5).
 * Requests go to the local kernel and are answered immediately; a receive timeout bounds them
 * anyway so a wedged kernel cannot hang the daemon. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh/wg-device.h"

#define RTPROT_PLEXD 167 /* 0xa7: marks plexd-owned routes */

struct nlmsghdr;
struct nlsock;

/* bus: NETLINK_ROUTE or NETLINK_GENERIC. */
int nlsock_open(int bus, struct nlsock **ret);
struct nlsock *nlsock_free(struct nlsock *s);
uint32_t nlsock_next_seq(struct nlsock *s);
/* Sends one prepared message (its nlmsg_seq must come from nlsock_next_seq) and reads replies
 * until the ACK/NLMSG_DONE of that sequence number; every other reply message goes to cb
 * (may be NULL). Returns 0 or the negative errno of an NLMSG_ERROR. */
int nlsock_request(struct nlsock *s, const struct nlmsghdr *nlh,
		   int (*cb)(const struct nlmsghdr *nlh, void *userdata), void *userdata);
/* Sends and hands every received datagram to `feed` until it returns non-zero (a dump parser
 * such as wg_genl_parse_dump: 1 = done, < 0 = error). */
int nlsock_dump(struct nlsock *s, const struct nlmsghdr *nlh,
		int (*feed)(const void *buf, size_t len, void *userdata), void *userdata);

struct rtnl_link {
	uint32_t ifindex;
	char kind[32]; /* IFLA_INFO_KIND, "" when the link has none */
	unsigned flags;
	uint32_t mtu;
};

/* -ENODEV if no such link. */
int rtnl_link_get(struct nlsock *s, const char *ifname, struct rtnl_link *ret);
/* RTM_NEWLINK kind "wireguard" with NLM_F_EXCL: -EEXIST if the name is taken, -EOPNOTSUPP when
 * the kernel has no WireGuard module. */
int rtnl_link_create_wireguard(struct nlsock *s, const char *ifname);
int rtnl_link_delete(struct nlsock *s, uint32_t ifindex);
/* No IPv6 link-local autoconfiguration (the address must stay exactly mesh_ip/32), MTU when
 * mtu > 0, then up. */
int rtnl_link_configure(struct nlsock *s, uint32_t ifindex, uint32_t mtu);

/* Makes addr/32 the only address of the link; *ret_changes counts additions and removals. */
int rtnl_addr_sync(struct nlsock *s, uint32_t ifindex, struct in_addr addr, unsigned *ret_changes);

/* Routes of protocol `proto` in the main table leaving through ifindex, both families. */
int rtnl_route_list(struct nlsock *s, uint32_t ifindex, uint8_t proto, struct wg_prefix **ret,
		    size_t *ret_n);
/* `<prefix> dev <ifindex> scope link proto <proto>`; EEXIST is success. */
int rtnl_route_add(struct nlsock *s, uint32_t ifindex, const struct wg_prefix *p, uint8_t proto);
/* ESRCH is success. */
int rtnl_route_del(struct nlsock *s, uint32_t ifindex, const struct wg_prefix *p, uint8_t proto);

/* Up to RTNL_ROUTE_BATCH_MAX route changes in one datagram: one sendmsg, and replies only for
 * failures plus one final ACK, instead of a request/ACK round trip each. results[i] gets 0 or
 * the negative errno of change i (EEXIST on add and ESRCH on delete count as success). Returns
 * 0, or a negative errno when the exchange itself failed (results then undefined). */
#define RTNL_ROUTE_BATCH_MAX 64
struct rtnl_route_op {
	const struct wg_prefix *prefix;
	bool add;
};
int rtnl_route_batch(struct nlsock *s, uint32_t ifindex, uint8_t proto,
		     const struct rtnl_route_op *ops, size_t n, int *results);

/* Pure: which routes to add (in want, not in have) and remove (in have, not in want). Inputs
 * need not be sorted or unique; outputs are sorted and unique. -ENOMEM. */
int route_diff(const struct wg_prefix *want, size_t n_want, const struct wg_prefix *have,
	       size_t n_have, struct wg_prefix **ret_add, size_t *ret_n_add,
	       struct wg_prefix **ret_del, size_t *ret_n_del);
