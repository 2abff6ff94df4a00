/* Backend-independent wrappers, backend selection (§5.1 interface 1) and PATH lookup. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_COMPONENT "mesh"
#include "mesh/wg-backend.h"
#include "shared/log.h"

int wg_backend_get_device(struct wg_backend *b, struct wg_device *ret)
{
	return b->ops->get_device(b, ret);
}

int wg_backend_apply(struct wg_backend *b, const struct wg_change_set *cs)
{
	if (wg_change_set_is_empty(cs))
		return 0;
	b->n_writes++;
	return b->ops->apply(b, cs);
}

struct step_state {
	wg_backend_step_t step;
	void *userdata;
	bool done;
};

static int step_once(void *userdata)
{
	struct step_state *s = userdata;
	int r;

	if (s->done)
		return 1;
	r = s->step(s->userdata);
	if (r != 0)
		s->done = true;
	return r;
}

int wg_backend_apply_overlapped(struct wg_backend *b, const struct wg_change_set *cs,
				wg_backend_step_t step, void *userdata)
{
	struct step_state s = { step, userdata, false };
	int r = 0;

	if (!wg_change_set_is_empty(cs)) {
		b->n_writes++;
		r = b->ops->apply_overlapped ? b->ops->apply_overlapped(b, cs, step_once, &s)
					     : b->ops->apply(b, cs);
	}
	while (!s.done)
		(void)step_once(&s);
	return r;
}

int wg_backend_set_device(struct wg_backend *b, const uint8_t private_key[WG_KEY_SIZE],
			  uint16_t listen_port)
{
	struct wg_device d = { .has_private_key = true, .listen_port = listen_port };
	struct wg_change_set cs = { .desired = &d, .device_fields = WG_DEVICE_FIELD_PRIVATE_KEY };
	int r;

	memcpy(d.private_key, private_key, WG_KEY_SIZE);
	if (listen_port)
		cs.device_fields |= WG_DEVICE_FIELD_LISTEN_PORT;
	r = wg_backend_apply(b, &cs);
	explicit_bzero(&d, sizeof(d));
	return r;
}

int wg_backend_delete(struct wg_backend *b)
{
	return b->ops->delete(b);
}

struct wg_backend *wg_backend_free(struct wg_backend *b)
{
	if (b)
		b->ops->free(b);
	return NULL;
}

int wg_find_executable(const char *name, char **ret)
{
	const char *path, *p;
	char *c;

	if (isempty(name))
		return -EINVAL;
	if (strchr(name, '/')) {
		if (access(name, X_OK) < 0)
			return negative_errno();
		c = strdup(name);
		if (!c)
			return -ENOMEM;
		*ret = c;
		return 0;
	}
	path = getenv("PATH");
	if (isempty(path))
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (p = path; *p;) {
		size_t n = strcspn(p, ":");
		if (n > 0) {
			if (asprintf(&c, "%.*s/%s", (int)n, p, name) < 0)
				return -ENOMEM;
			if (access(c, X_OK) == 0) {
				*ret = c;
				return 0;
			}
			free(c);
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return -ENOENT;
}

/* Errors from link creation that mean "this kernel cannot do WireGuard". */
static bool kernel_unsupported(int r)
{
	return r == -EOPNOTSUPP || r == -ENODEV || r == -EAFNOSUPPORT || r == -EPROTONOSUPPORT ||
	       r == -ENOENT;
}

int wg_backend_open(enum wg_backend_kind kind, sd_event *event, const char *ifname,
		    const char *binary, wg_backend_exit_handler_t on_exit, void *userdata,
		    struct wg_backend **ret)
{
	_cleanup_(wg_backend_freep) struct wg_backend *b = NULL;
	int r, kr = 0;

	if (kind != WG_BACKEND_USERSPACE) {
		r = wg_backend_kernel_new(ifname, &b);
		if (r < 0)
			return r;
		kr = b->ops->open(b);
		if (kr >= 0) {
			log_info("WireGuard backend selected", "backend=kernel iface=%s reason=%s",
				 ifname,
				 kind == WG_BACKEND_KERNEL ? "configured"
				 : b->created		   ? "wireguard_link_created"
							   : "wireguard_link_exists");
			*ret = TAKE_PTR(b);
			return 0;
		}
		b = wg_backend_free(b);
		/* -EEXIST: the name is taken by a non-wireguard link, maybe the TUN device of a
		 * running userspace daemon, which the userspace backend adopts or refuses. */
		if (kind == WG_BACKEND_KERNEL || (!kernel_unsupported(kr) && kr != -EEXIST))
			return log_error_errno(kr, "cannot open WireGuard interface",
					       "backend=kernel iface=%s err=%m", ifname);
	}

	r = wg_backend_userspace_new(event, ifname, binary, on_exit, userdata, &b);
	if (r < 0)
		return r;
	r = b->ops->open(b);
	if (r == -ENOENT && kind == WG_BACKEND_AUTO) {
		char msg[256];
		/* The exact text of §5.1 interface 1 (up exits 1 with it). */
		snprintf(msg, sizeof(msg),
			 "no WireGuard backend: kernel module missing and %s not found", binary);
		log_error(msg);
		return -EOPNOTSUPP;
	}
	if (r < 0)
		return log_error_errno(r, "cannot open WireGuard interface",
				       "backend=userspace iface=%s binary=%s err=%m", ifname, binary);
	log_info("WireGuard backend selected", "backend=userspace iface=%s binary=%s reason=%s",
		 ifname, binary,
		 !b->created		      ? "userspace_device_exists"
		 : kind == WG_BACKEND_USERSPACE ? "configured"
						: "kernel_module_missing");
	*ret = TAKE_PTR(b);
	return 0;
}
