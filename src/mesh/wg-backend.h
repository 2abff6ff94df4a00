/* One internal interface over the two WireGuard implementations (§5.1 interface 1): the kernel
 * module (rtnetlink + generic netlink) and a userspace daemon (wireguard-go) driven over the
 * cross-platform UAPI socket. Both produce the same struct wg_device view. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "mesh/wg-device.h"
#include "shared/macro.h"

struct wg_backend;

/* Caller work that overlaps a device write (route programming while the userspace daemon
 * digests a large batch). Each call does one bounded slice and returns 0 while more remains,
 * 1 when finished, negative errno to stop (the caller keeps its own error). */
typedef int (*wg_backend_step_t)(void *userdata);

struct wg_backend_ops {
	const char *name;
	/* Adopts an existing WireGuard link of that name or creates one. -EEXIST when the name
	 * belongs to a link that is not WireGuard; -EOPNOTSUPP when this backend cannot run
	 * here (kernel module missing, binary not found). */
	int (*open)(struct wg_backend *b);
	/* Reads the device back. -ENODEV when it disappeared. */
	int (*get_device)(struct wg_backend *b, struct wg_device *ret);
	int (*apply)(struct wg_backend *b, const struct wg_change_set *cs);
	/* Optional: apply while calling step whenever the write would otherwise wait for the
	 * device; may stop calling it at any point (the wrapper finishes it). */
	int (*apply_overlapped)(struct wg_backend *b, const struct wg_change_set *cs,
				wg_backend_step_t step, void *userdata);
	/* Removes the interface (and stops a daemon plexd started). */
	int (*delete)(struct wg_backend *b);
	/* Releases resources without touching the interface; a daemon keeps running. */
	void (*free)(struct wg_backend *b);
};

struct wg_backend {
	const struct wg_backend_ops *ops;
	char ifname[IFNAMSIZ];
	bool created;	   /* open() created the interface rather than adopting it */
	uint64_t n_writes; /* device write operations issued (one per non-empty apply) */
};

/* Called when a userspace daemon plexd started exits unexpectedly. */
typedef void (*wg_backend_exit_handler_t)(struct wg_backend *b, int exit_code, int exit_status,
					  void *userdata);

enum wg_backend_kind {
	WG_BACKEND_AUTO,
	WG_BACKEND_KERNEL,
	WG_BACKEND_USERSPACE,
};

int wg_backend_kernel_new(const char *ifname, struct wg_backend **ret);
/* binary: absolute path, or a name looked up in PATH at open(). The event loop gets a child
 * source for the daemon (SIGCHLD must be blocked, as sd-event requires; without that a pidfd
 * I/O source is used instead). */
int wg_backend_userspace_new(sd_event *event, const char *ifname, const char *binary,
			     wg_backend_exit_handler_t on_exit, void *userdata,
			     struct wg_backend **ret);
/* Directory of the UAPI sockets: /var/run/wireguard. */
const char *wg_userspace_socket_dir(void);

/* §5.1 interface 1: for `kind` AUTO tries the kernel (adopting an existing wireguard link or
 * creating one) and falls back to userspace when the module is missing and the binary exists;
 * logs one info line saying which backend runs and why. Returns an opened backend. Neither
 * available: -EOPNOTSUPP after logging "no WireGuard backend: kernel module missing and
 * <binary> not found". */
int wg_backend_open(enum wg_backend_kind kind, sd_event *event, const char *ifname,
		    const char *binary, wg_backend_exit_handler_t on_exit, void *userdata,
		    struct wg_backend **ret);

int wg_backend_get_device(struct wg_backend *b, struct wg_device *ret);
/* No I/O at all for an empty change set. */
int wg_backend_apply(struct wg_backend *b, const struct wg_change_set *cs);
/* wg_backend_apply with `step` run to completion (until it returns non-zero) exactly once per
 * call, overlapping the write where the backend can (userspace: while the daemon has not yet
 * taken the whole request), otherwise after it. Also for an empty change set (no I/O then).
 * Returns the apply result; step's errors stay with the caller. */
int wg_backend_apply_overlapped(struct wg_backend *b, const struct wg_change_set *cs,
				wg_backend_step_t step, void *userdata);
/* Private key and listen port only (key rotation, §5.8). */
int wg_backend_set_device(struct wg_backend *b, const uint8_t private_key[WG_KEY_SIZE],
			  uint16_t listen_port);
int wg_backend_delete(struct wg_backend *b);
struct wg_backend *wg_backend_free(struct wg_backend *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct wg_backend *, wg_backend_free);

/* Searches PATH (or takes an absolute/relative path with '/') for an executable. */
int wg_find_executable(const char *name, char **ret);
