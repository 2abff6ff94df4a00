/* Userspace WireGuard backend: runs (or adopts) wireguard-go for the interface and configures
 * it over the cross-platform UAPI socket /var/run/wireguard/<ifname>.sock. */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_COMPONENT "mesh"
#include "mesh/rtnl.h"
#include "mesh/wg-backend.h"
#include "mesh/wg-uapi.h"
#include "shared/log.h"

#define UAPI_TIMEOUT_MSEC 2000
#define START_TIMEOUT_MSEC 5000
#define STOP_GRACE_MSEC 5000
#define KILL_WAIT_MSEC 2000

struct userspace_backend {
	struct wg_backend base;
	sd_event *event;
	char *binary;
	wg_backend_exit_handler_t on_exit;
	void *userdata;
	struct nlsock *rtnl;
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pid_t pid; /* > 0 while a daemon plexd started is running */
	int pidfd;
	sd_event_source *child_source;
};

const char *wg_userspace_socket_dir(void)
{
	return "/var/run/wireguard";
}

static struct userspace_backend *to_user(struct wg_backend *b)
{
	return (struct userspace_backend *)b;
}

static int64_t now_msec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One request/response exchange on the UAPI socket. This is synchronous: the peer is a local
 * process answering from memory, and both directions are bounded by UAPI_TIMEOUT_MSEC
 * (SO_SNDTIMEO/SO_RCVTIMEO), so a wedged daemon costs at most that long and never hangs the
 * loop. -ECONNREFUSED/-ENOENT when nobody listens.
 * With `step`, the request goes out non-blocking while step has work: whenever the socket is
 * full (the daemon is busy with what it already read, which it does line by line) one slice of
 * the caller's work runs, and the rest of it before waiting for the reply, so both run at
 * once on different CPUs. */
static int uapi_request(const char *path, const char *req, size_t req_len,
			wg_backend_step_t step, void *userdata, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = UAPI_TIMEOUT_MSEC / 1000,
			      .tv_usec = (UAPI_TIMEOUT_MSEC % 1000) * 1000 };
	_cleanup_close_ int fd = -EBADF;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return negative_errno();
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	for (size_t off = 0; off < req_len;) {
		ssize_t n = send(fd, req + off, req_len - off,
				 MSG_NOSIGNAL | (step ? MSG_DONTWAIT : 0));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (step && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				if (step(userdata) != 0)
					step = NULL; /* finished: block from now on */
				continue;
			}
			return errno == EAGAIN ? -ETIMEDOUT : negative_errno();
		}
		off += (size_t)n;
	}
	while (step && step(userdata) == 0)
		;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int uapi_exchange(const char *path, const char *req, size_t req_len,
			 wg_backend_step_t step, void *userdata, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -EBADF;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int r;

	r = uapi_request(path, req, req_len, step, userdata, &fd);
	if (r < 0)
		return r;
	for (;;) {
		ssize_t n;
		if (cap - len < 4096) {
			char *nb;
			if (cap >= WG_UAPI_RESPONSE_MAX) {
				r = -E2BIG;
				goto fail;
			}
			cap = cap ? cap * 2 : 16384;
			nb = malloc(cap);
			if (!nb) {
				r = -ENOMEM;
				goto fail;
			}
			if (buf) {
				memcpy(nb, buf, len);
				explicit_bzero(buf, len);
				free(buf);
			}
			buf = nb;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = errno == EAGAIN ? -ETIMEDOUT : negative_errno();
			goto fail;
		}
		len += (size_t)n;
		if (wg_uapi_response_complete(buf, len))
			break;
		if (n == 0) {
			r = -ECONNRESET;
			goto fail;
		}
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
fail:
	if (buf)
		explicit_bzero(buf, len);
	free(buf);
	return r;
}

/* get=1, parsed while it arrives through one small buffer: a reply for thousands of peers
 * (hundreds of bytes each, with PSKs) never sits in memory as a whole. */
#define UAPI_GET_CHUNK 65536

static int uapi_get(const char *path, struct wg_device *ret)
{
	_cleanup_(wg_uapi_get_parser_freep) struct wg_uapi_get_parser *p = NULL;
	_cleanup_close_ int fd = -EBADF;
	char *buf;
	size_t len = 0;
	int r;

	r = uapi_request(path, WG_UAPI_GET_REQUEST, STRLEN(WG_UAPI_GET_REQUEST), NULL, NULL, &fd);
	if (r < 0)
		return r;
	r = wg_uapi_get_parser_new(&p);
	if (r < 0)
		return r;
	buf = malloc(UAPI_GET_CHUNK);
	if (!buf)
		return -ENOMEM;
	while (!wg_uapi_get_parser_done(p)) {
		size_t used;
		ssize_t n;

		if (len == UAPI_GET_CHUNK) {
			r = -EBADMSG; /* one line longer than the whole buffer */
			break;
		}
		n = recv(fd, buf + len, UAPI_GET_CHUNK - len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = errno == EAGAIN ? -ETIMEDOUT : negative_errno();
			break;
		}
		if (n == 0) {
			r = -ECONNRESET;
			break;
		}
		len += (size_t)n;
		r = wg_uapi_get_parser_feed(p, buf, len, &used);
		if (r < 0)
			break;
		memmove(buf, buf + used, len - used);
		len -= used;
	}
	if (r >= 0 && len > 0)
		r = -EBADMSG; /* bytes after the terminator */
	explicit_bzero(buf, UAPI_GET_CHUNK);
	free(buf);
	if (r < 0)
		return r;
	return wg_uapi_get_parser_finish(p, ret);
}

static int user_get_device(struct wg_backend *b, struct wg_device *ret)
{
	struct userspace_backend *u = to_user(b);
	int r;

	r = uapi_get(u->socket_path, ret);
	if (r == -ENOENT || r == -ECONNREFUSED)
		return -ENODEV;
	if (r >= 0)
		strcpy(ret->ifname, b->ifname);
	return r;
}

static int user_apply_overlapped(struct wg_backend *b, const struct wg_change_set *cs,
				 wg_backend_step_t step, void *userdata)
{
	struct userspace_backend *u = to_user(b);
	char *req = NULL, *resp = NULL;
	size_t req_len = 0, len = 0;
	int r;

	r = wg_uapi_build_set(cs, &req, &req_len);
	if (r < 0)
		return r;
	r = uapi_exchange(u->socket_path, req, req_len, step, userdata, &resp, &len);
	erase_and_free(req);
	if (r == -ENOENT || r == -ECONNREFUSED)
		return -ENODEV;
	if (r < 0)
		return r;
	r = wg_uapi_parse_errno(resp, len);
	free(resp);
	return r;
}

static int user_apply(struct wg_backend *b, const struct wg_change_set *cs)
{
	return user_apply_overlapped(b, cs, NULL, NULL);
}

static bool socket_answers(struct userspace_backend *u)
{
	struct wg_device d = {};
	int r = user_get_device(&u->base, &d);

	wg_device_done(&d);
	return r >= 0;
}

static void child_exited(struct userspace_backend *u, int code, int status)
{
	u->child_source = sd_event_source_disable_unref(u->child_source);
	u->pidfd = safe_close(u->pidfd);
	u->pid = 0;
	log_error("WireGuard userspace daemon exited", "iface=%s binary=%s code=%d status=%d",
		  u->base.ifname, u->binary, code, status);
	if (u->on_exit)
		u->on_exit(&u->base, code, status, u->userdata);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	child_exited(userdata, si->si_code, si->si_status);
	return 0;
}

/* Fallback when SIGCHLD is not blocked (sd_event_add_child refuses then): the pidfd becomes
 * readable when the process exits; reap it without blocking. */
static int on_pidfd(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct userspace_backend *u = userdata;
	siginfo_t si = {};

	if (waitid(P_PIDFD, (id_t)u->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
		return 0;
	child_exited(u, si.si_code, si.si_status);
	return 0;
}

static int watch_child(struct userspace_backend *u)
{
	int r;

	if (!u->event)
		return 0;
	r = sd_event_add_child_pidfd(u->event, &u->child_source, u->pidfd, WEXITED, on_child, u);
	if (r == -EBUSY)
		r = sd_event_add_io(u->event, &u->child_source, u->pidfd, EPOLLIN, on_pidfd, u);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(u->child_source, "wireguard-go");
	return 0;
}

static int spawn_daemon(struct userspace_backend *u, const char *path)
{
	char *const argv[] = { (char *)path, (char *)"-f", u->base.ifname, NULL };
	/* Clean environment (CONVENTIONS: children never inherit ours). */
	char *const envp[] = { (char *)"WG_PROCESS_FOREGROUND=1",
			       (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			       NULL };
	pid_t pid;
	int pidfd;

	pid = fork();
	if (pid < 0)
		return negative_errno();
	if (pid == 0) {
		sigset_t all;
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		/* The parent blocks SIGCHLD (sd-event); a daemon must start with a clean mask. */
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(STDERR_FILENO, STDOUT_FILENO);
		/* Own session: a terminal's Ctrl-C aimed at plexd must not kill the tunnel. */
		setsid();
		execve(path, argv, envp);
		_exit(127);
	}
	pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		int r = negative_errno();
		kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0); /* just killed: returns at once */
		return r;
	}
	u->pid = pid;
	u->pidfd = pidfd;
	return 0;
}

/* Bounded wait for the process to exit; returns true once reaped. */
static bool wait_exit(struct userspace_backend *u, int timeout_msec, int *ret_status)
{
	struct pollfd p = { .fd = u->pidfd, .events = POLLIN };
	siginfo_t si = {};

	if (poll(&p, 1, timeout_msec) <= 0)
		return false;
	if (waitid(P_PIDFD, (id_t)u->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
		return false;
	if (ret_status)
		*ret_status = si.si_status;
	return true;
}

static int stop_daemon(struct userspace_backend *u)
{
	if (u->pid <= 0)
		return 0;
	/* Our own reaping below replaces the event source. */
	u->child_source = sd_event_source_disable_unref(u->child_source);
	(void)pidfd_send_signal(u->pidfd, SIGTERM, NULL, 0);
	/* Teardown only: blocks for at most STOP_GRACE_MSEC + KILL_WAIT_MSEC. */
	if (!wait_exit(u, STOP_GRACE_MSEC, NULL)) {
		log_warning("WireGuard userspace daemon ignored SIGTERM, killing", "iface=%s",
			    u->base.ifname);
		(void)pidfd_send_signal(u->pidfd, SIGKILL, NULL, 0);
		if (!wait_exit(u, KILL_WAIT_MSEC, NULL))
			return log_error_errno(-ETIMEDOUT, "WireGuard userspace daemon did not exit",
					       "iface=%s", u->base.ifname);
	}
	u->pidfd = safe_close(u->pidfd);
	u->pid = 0;
	return 0;
}

static int wait_for_socket(struct userspace_backend *u)
{
	int64_t deadline = now_msec() + START_TIMEOUT_MSEC;

	/* Start-up only: wireguard-go creates the TUN device and then the socket within
	 * milliseconds; poll the pidfd in between so a daemon dying at start fails fast. */
	for (;;) {
		struct pollfd p = { .fd = u->pidfd, .events = POLLIN };
		int status = 0;

		if (socket_answers(u))
			return 0;
		if (now_msec() >= deadline)
			return -ETIMEDOUT;
		if (poll(&p, 1, 20) > 0 && wait_exit(u, 0, &status)) {
			u->pidfd = safe_close(u->pidfd);
			u->pid = 0;
			return log_error_errno(-ECHILD, "WireGuard userspace daemon exited at start",
					       "iface=%s status=%d", u->base.ifname, status);
		}
	}
}

static int user_open(struct wg_backend *b)
{
	struct userspace_backend *u = to_user(b);
	_cleanup_free_ char *path = NULL;
	struct rtnl_link l;
	int r;

	r = rtnl_link_get(u->rtnl, b->ifname, &l);
	if (r < 0 && r != -ENODEV)
		return r;
	if (r >= 0) {
		/* §5.1 interface 2: adopt a userspace device whose socket answers. */
		if (socket_answers(u))
			return 0;
		return -EEXIST;
	}
	if (socket_answers(u))
		/* A daemon of that name runs elsewhere (another network namespace). */
		return -EADDRINUSE;
	r = wg_find_executable(u->binary, &path);
	if (r < 0)
		return -ENOENT;
	r = spawn_daemon(u, path);
	if (r < 0)
		return r;
	r = wait_for_socket(u);
	if (r < 0) {
		(void)stop_daemon(u);
		return r;
	}
	r = watch_child(u);
	if (r < 0) {
		(void)stop_daemon(u);
		return r;
	}
	b->created = true;
	return 0;
}

static int user_delete(struct wg_backend *b)
{
	struct userspace_backend *u = to_user(b);
	struct rtnl_link l;
	int r;

	r = stop_daemon(u);
	if (r < 0)
		return r;
	/* An adopted daemon (or one that left its device behind): removing the TUN device makes
	 * wireguard-go shut down. Only a tun link is ours to delete here. */
	r = rtnl_link_get(u->rtnl, b->ifname, &l);
	if (r == -ENODEV)
		return 0;
	if (r < 0)
		return r;
	if (!streq(l.kind, "tun"))
		return -EEXIST;
	r = rtnl_link_delete(u->rtnl, l.ifindex);
	return r == -ENODEV ? 0 : r;
}

static void user_free(struct wg_backend *b)
{
	struct userspace_backend *u = to_user(b);

	/* Detach: the daemon keeps the tunnel up; a restarted plexd adopts it. */
	u->child_source = sd_event_source_disable_unref(u->child_source);
	safe_close(u->pidfd);
	sd_event_unref(u->event);
	nlsock_free(u->rtnl);
	free(u->binary);
	free(u);
}

static const struct wg_backend_ops userspace_ops = {
	.name = "userspace",
	.open = user_open,
	.get_device = user_get_device,
	.apply = user_apply,
	.apply_overlapped = user_apply_overlapped,
	.delete = user_delete,
	.free = user_free,
};

int wg_backend_userspace_new(sd_event *event, const char *ifname, const char *binary,
			     wg_backend_exit_handler_t on_exit, void *userdata,
			     struct wg_backend **ret)
{
	struct userspace_backend *u;
	int r;

	if (isempty(ifname) || strlen(ifname) >= IFNAMSIZ || isempty(binary))
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->base.ops = &userspace_ops;
	strcpy(u->base.ifname, ifname);
	u->pidfd = -EBADF;
	u->on_exit = on_exit;
	u->userdata = userdata;
	u->event = event ? sd_event_ref(event) : NULL;
	snprintf(u->socket_path, sizeof(u->socket_path), "%s/%s.sock", wg_userspace_socket_dir(),
		 ifname);
	u->binary = strdup(binary);
	if (!u->binary) {
		user_free(&u->base);
		return -ENOMEM;
	}
	r = nlsock_open(NETLINK_ROUTE, &u->rtnl);
	if (r < 0) {
		user_free(&u->base);
		return r;
	}
	*ret = &u->base;
	return 0;
}
