/* WireGuard generic-netlink messages (kernel backend): pure builders writing into caller
 * buffers and a pure parser for WG_CMD_GET_DEVICE dumps. The socket side is backend-kernel.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh/wg-device.h"

struct nlmsghdr;

/* CTRL_CMD_GETFAMILY request for family "wireguard" (NLM_F_REQUEST|NLM_F_ACK). Returns the
 * message length or -EMSGSIZE. */
int wg_genl_build_getfamily(void *buf, size_t size, uint32_t seq);
/* Family id from a CTRL_CMD_NEWFAMILY reply. -EBADMSG if absent. */
int wg_genl_parse_family(const struct nlmsghdr *nlh, uint16_t *ret_id);

/* WG_CMD_GET_DEVICE dump request by interface name. Returns length or -EMSGSIZE/-EINVAL. */
int wg_genl_build_get_device(void *buf, size_t size, uint16_t family, uint32_t seq,
			     const char *ifname);

/* Position in a change set across the messages of one WG_CMD_SET_DEVICE batch. Start zeroed. */
struct wg_genl_cursor {
	size_t change;	  /* next change to write */
	size_t aip;	  /* next allowed IP of that change */
	bool peer_begun;  /* the change's first fragment (flags, PSK, ...) has been written */
	bool device_done; /* device fields have been written */
};

/* Writes the next WG_CMD_SET_DEVICE message for cs into buf (at most `size` bytes, the
 * receiver's message limit). Device fields go into the first message; peers follow as nested
 * attributes; when the buffer fills up the message is closed and the cursor remembers where to
 * continue — a peer split across messages is continued with only its public key, allowed IPs
 * and (updates) WGPEER_F_UPDATE_ONLY, never WGPEER_F_REPLACE_ALLOWEDIPS again, as
 * wireguard-tools does. Returns 1 if more messages follow, 0 if this was the last, -EMSGSIZE
 * if `size` cannot hold a single element. *ret_len gets the message length. */
int wg_genl_build_set_device(void *buf, size_t size, uint16_t family, uint32_t seq,
			     const char *ifname, const struct wg_change_set *cs,
			     struct wg_genl_cursor *cur, size_t *ret_len);

/* Merges one WG_CMD_GET_DEVICE reply message into *dev, coalescing a peer continued from the
 * previous message (same public key as the last peer). All-zero PSK/private key mean "none".
 * -EBADMSG on malformed attributes, -E2BIG past the model's bounds. */
int wg_genl_parse_device_msg(const struct nlmsghdr *nlh, struct wg_device *dev);

/* Walks a buffer of dump replies with sequence number seq: returns 1 after NLMSG_DONE, 0 if
 * more datagrams are needed, or the negative errno carried by NLMSG_DONE/NLMSG_ERROR. */
int wg_genl_parse_dump(const void *buf, size_t len, uint32_t seq, struct wg_device *dev);
