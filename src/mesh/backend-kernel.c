/* Kernel WireGuard backend: link over rtnetlink, configuration over the "wireguard"
 * generic-netlink family (messages built by wg-genl.c). */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/rtnl.h"
#include "mesh/wg-backend.h"
#include "mesh/wg-genl.h"
#include "shared/macro.h"

/* The kernel accepts larger messages, but wireguard-tools keeps SET_DEVICE within a page-ish
 * buffer too; the splitting logic makes the size irrelevant to correctness. */
#define GENL_MSG_SIZE 8192

struct kernel_backend {
	struct wg_backend base;
	struct nlsock *rtnl;
	struct nlsock *genl;
	uint16_t family;
	uint32_t ifindex;
	uint8_t msg[GENL_MSG_SIZE];
};

static struct kernel_backend *to_kernel(struct wg_backend *b)
{
	return (struct kernel_backend *)b;
}

static int family_cb(const struct nlmsghdr *nlh, void *userdata)
{
	return wg_genl_parse_family(nlh, userdata);
}

static int kernel_resolve_family(struct kernel_backend *k)
{
	int r, n;

	if (k->family)
		return 0;
	if (!k->genl) {
		r = nlsock_open(NETLINK_GENERIC, &k->genl);
		if (r < 0)
			return r;
	}
	n = wg_genl_build_getfamily(k->msg, sizeof(k->msg), nlsock_next_seq(k->genl));
	if (n < 0)
		return n;
	r = nlsock_request(k->genl, (const struct nlmsghdr *)k->msg, family_cb, &k->family);
	/* ENOENT: no such family, i.e. no WireGuard module. */
	if (r == -ENOENT)
		return -EOPNOTSUPP;
	return r;
}

static int kernel_open(struct wg_backend *b)
{
	struct kernel_backend *k = to_kernel(b);
	struct rtnl_link l;
	int r;

	r = rtnl_link_get(k->rtnl, b->ifname, &l);
	if (r == -ENODEV) {
		r = rtnl_link_create_wireguard(k->rtnl, b->ifname);
		if (r < 0)
			return r;
		b->created = true;
		r = rtnl_link_get(k->rtnl, b->ifname, &l);
	}
	if (r < 0)
		return r;
	if (!streq(l.kind, "wireguard"))
		return -EEXIST;
	k->ifindex = l.ifindex;
	return kernel_resolve_family(k);
}

static int dump_feed(const void *buf, size_t len, void *userdata)
{
	void **ud = userdata;

	return wg_genl_parse_dump(buf, len, *(uint32_t *)ud[0], ud[1]);
}

static int kernel_get_device(struct wg_backend *b, struct wg_device *ret)
{
	struct kernel_backend *k = to_kernel(b);
	struct wg_device d = {};
	uint32_t seq;
	void *ud[2] = { &seq, &d };
	int r, n;

	r = kernel_resolve_family(k);
	if (r < 0)
		return r;
	seq = nlsock_next_seq(k->genl);
	n = wg_genl_build_get_device(k->msg, sizeof(k->msg), k->family, seq, b->ifname);
	if (n < 0)
		return n;
	r = nlsock_dump(k->genl, (const struct nlmsghdr *)k->msg, dump_feed, ud);
	if (r < 0) {
		wg_device_done(&d);
		return r;
	}
	*ret = d;
	return 0;
}

static int kernel_apply(struct wg_backend *b, const struct wg_change_set *cs)
{
	struct kernel_backend *k = to_kernel(b);
	struct wg_genl_cursor cur = {};
	int r, more;

	r = kernel_resolve_family(k);
	if (r < 0)
		return r;
	do {
		size_t len;
		more = wg_genl_build_set_device(k->msg, sizeof(k->msg), k->family,
						nlsock_next_seq(k->genl), b->ifname, cs, &cur, &len);
		if (more < 0)
			break;
		r = nlsock_request(k->genl, (const struct nlmsghdr *)k->msg, NULL, NULL);
		if (r < 0)
			break;
	} while (more > 0);
	explicit_bzero(k->msg, sizeof(k->msg));
	return more < 0 ? more : r;
}

static int kernel_delete(struct wg_backend *b)
{
	struct kernel_backend *k = to_kernel(b);
	struct rtnl_link l;
	int r;

	r = rtnl_link_get(k->rtnl, b->ifname, &l);
	if (r == -ENODEV)
		return 0;
	if (r < 0)
		return r;
	if (!streq(l.kind, "wireguard"))
		return -EEXIST;
	r = rtnl_link_delete(k->rtnl, l.ifindex);
	return r == -ENODEV ? 0 : r;
}

static void kernel_free(struct wg_backend *b)
{
	struct kernel_backend *k = to_kernel(b);

	nlsock_free(k->rtnl);
	nlsock_free(k->genl);
	explicit_bzero(k, sizeof(*k));
	free(k);
}

static const struct wg_backend_ops kernel_ops = {
	.name = "kernel",
	.open = kernel_open,
	.get_device = kernel_get_device,
	.apply = kernel_apply,
	.delete = kernel_delete,
	.free = kernel_free,
};

int wg_backend_kernel_new(const char *ifname, struct wg_backend **ret)
{
	struct kernel_backend *k;
	int r;

	if (isempty(ifname) || strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->base.ops = &kernel_ops;
	strcpy(k->base.ifname, ifname);
	r = nlsock_open(NETLINK_ROUTE, &k->rtnl);
	if (r < 0) {
		free(k);
		return r;
	}
	*ret = &k->base;
	return 0;
}
