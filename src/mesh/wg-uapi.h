/* WireGuard cross-platform configuration protocol (https://www.wireguard.com/xplatform/), as
 * spoken on /var/run/wireguard/<ifname>.sock by wireguard-go and boringtun: pure serializer
 * for set=1 and parsers for get=1 and errno replies. The socket side is backend-userspace.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "mesh/wg-device.h"
#include "shared/macro.h"

#define WG_UAPI_GET_REQUEST "get=1\n\n"
/* A get reply for WG_PEERS_MAX peers with a few prefixes each stays well below this. */
#define WG_UAPI_RESPONSE_MAX (64U * 1024U * 1024U)

/* "set=1\n" + the change set + "\n". Removal: public_key, remove=true. Update: public_key,
 * update_only=true, then changed fields (replace_allowed_ips=true before allowed_ip lines).
 * Add: public_key, [preshared_key], [endpoint], [persistent_keepalive_interval],
 * replace_allowed_ips=true, allowed_ip... *ret may hold the private key: free it with
 * erase_and_free(). -ENOMEM. */
int wg_uapi_build_set(const struct wg_change_set *cs, char **ret, size_t *ret_len);

/* True once buf holds a whole reply (terminated by an empty line). */
bool wg_uapi_response_complete(const char *buf, size_t len);
/* Parses a complete get=1 reply into *ret (device keys, then one peer per public_key line).
 * Unknown keys are ignored. Returns -N for a reply "errno=N" with N != 0, -EBADMSG for a
 * malformed reply (missing errno line, bad value), -E2BIG past the model's bounds. */
int wg_uapi_parse_get(const char *buf, size_t len, struct wg_device *ret);
/* The same parse fed in pieces as the reply arrives, so that no buffer ever holds the whole
 * reply (thousands of peers): feed() consumes the complete lines of buf and reports how many
 * bytes it used (the caller keeps the partial last line); done() once the terminator was
 * seen; finish() hands the device over (same errors as wg_uapi_parse_get). */
struct wg_uapi_get_parser;
int wg_uapi_get_parser_new(struct wg_uapi_get_parser **ret);
int wg_uapi_get_parser_feed(struct wg_uapi_get_parser *p, const char *buf, size_t len,
			    size_t *ret_used);
bool wg_uapi_get_parser_done(const struct wg_uapi_get_parser *p);
int wg_uapi_get_parser_finish(struct wg_uapi_get_parser *p, struct wg_device *ret);
struct wg_uapi_get_parser *wg_uapi_get_parser_free(struct wg_uapi_get_parser *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct wg_uapi_get_parser *, wg_uapi_get_parser_free);

/* Parses the reply to set=1: 0 for errno=0, -N otherwise, -EBADMSG if malformed. */
int wg_uapi_parse_errno(const char *buf, size_t len);
