/* Unit tests for relay.c: lifetime rule, assignment validation and the session table, and real
 * UDP forwarding on loopback (per-session ports with latching, shared socket, unknown sources,
 * expiry). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "bridge/relay.h"
#include "shared/macro.h"

#define S USEC_PER_SEC

static struct sockaddr_in sin4(const char *ip, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

static void test_lifetime(void **state)
{
	struct timestamp now = {.sec = 1700000000, .nsec = 500000000};
	static const struct {
		bool has;
		int64_t exp_sec;
		uint32_t exp_nsec;
		int want;
		usec_t want_us;
	} v[] = {
	    {false, 0, 0, 0, 300 * S},
	    {true, 0, 0, 0, 300 * S}, /* unset timestamp = absent */
	    {true, 1700000060, 500000000, 0, 60 * S},
	    {true, 1700000000, 500001000, 0, 1},
	    {true, 1700000600, 0, 0, 300 * S},
	    {true, INT64_MAX / 2, 0, 0, 300 * S},
	    {true, 1700000000, 500000000, -ETIME, 0},
	    {true, 1699999999, 0, -ETIME, 0},
	};
	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		usec_t got = 12345;
		struct timestamp exp = {.sec = v[i].exp_sec, .nsec = v[i].exp_nsec};
		if (v[i].exp_sec == 0) /* the wire's unset value */
			exp = (struct timestamp){.sec = -62135596800};
		int r = relay_lifetime(300 * S, v[i].has, exp, now, &got);
		if (r != v[i].want || (r == 0 && got != v[i].want_us))
			fail_msg("case %zu: r=%d got %llu", i, r, (unsigned long long)got);
	}
}

struct fixture {
	sd_event *e;
	struct relay *r;
	uint16_t base, listen;
};

/* Finds a block of free ports on loopback for the relay. */
static uint16_t pick_base(unsigned n)
{
	for (unsigned tries = 0; tries < 50; tries++) {
		uint16_t base = (uint16_t)(20000 + ((unsigned)getpid() * 37 + tries * 997) % 30000);
		bool ok = true;
		for (unsigned i = 0; i <= n && ok; i++) {
			int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			struct sockaddr_in a = sin4("127.0.0.1", (uint16_t)(base + i));
			ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
			close(fd);
		}
		if (ok)
			return base;
	}
	fail_msg("no free port block");
	return 0;
}

static void fx_init(struct fixture *f, unsigned max, usec_t ttl, bool shared)
{
	assert_int_equal(sd_event_new(&f->e), 0);
	f->base = pick_base(max);
	f->listen = shared ? (uint16_t)(f->base + max) : 0;
	struct relay_config c = {.listen_port = f->listen,
				 .session_port_base = f->base,
				 .max_sessions = max,
				 .session_ttl = ttl};
	inet_pton(AF_INET, "127.0.0.1", &c.bind_address);
	assert_int_equal(relay_new(f->e, &c, &f->r), 0);
	assert_int_equal(relay_start(f->r), 0);
}

static void fx_done(struct fixture *f)
{
	assert_null(relay_free(f->r));
	sd_event_unref(f->e);
}

static void test_assign_validation(void **state)
{
	struct fixture f;
	fx_init(&f, 3, 300 * S, false);
	struct sockaddr_in a = sin4("192.0.2.1", 1000), b = sin4("192.0.2.2", 2000),
			   c = sin4("192.0.2.3", 3000);
	struct relay_assignment x = {.session_id = "s1", .peer_a = a, .peer_b = b, .port = f.base};

	struct relay_assignment bad = x;
	bad.peer_b = a;
	assert_int_equal(relay_session_assign(f.r, &bad), -EINVAL); /* same endpoints */
	bad = x;
	bad.session_id = "bad id";
	assert_int_equal(relay_session_assign(f.r, &bad), -EINVAL);
	bad = x;
	bad.peer_a.sin_port = 0;
	assert_int_equal(relay_session_assign(f.r, &bad), -EINVAL);
	bad = x;
	bad.port = (uint16_t)(f.base + 3);
	assert_int_equal(relay_session_assign(f.r, &bad), -ERANGE);
	bad.port = (uint16_t)(f.base - 1);
	assert_int_equal(relay_session_assign(f.r, &bad), -ERANGE);
	bad = x;
	bad.port = 0;
	assert_int_equal(relay_session_assign(f.r, &bad),
			 -ENOTCONN); /* no shared socket configured */
	bad = x;
	bad.has_expires_at = true;
	bad.expires_at = (struct timestamp){.sec = 1000};
	assert_int_equal(relay_session_assign(f.r, &bad), -ETIME);
	assert_int_equal(relay_session_count(f.r), 0);

	assert_int_equal(relay_session_assign(f.r, &x), 0);
	assert_int_equal(relay_session_assign(f.r, &x), 1); /* refresh */
	struct relay_assignment y = {.session_id = "s2", .peer_a = a, .peer_b = c, .port = f.base};
	assert_int_equal(relay_session_assign(f.r, &y), -EADDRINUSE); /* port taken */
	y.port = (uint16_t)(f.base + 1);
	assert_int_equal(relay_session_assign(f.r, &y), 0);
	struct relay_assignment z = {
	    .session_id = "s3", .peer_a = b, .peer_b = c, .port = (uint16_t)(f.base + 2)};
	assert_int_equal(relay_session_assign(f.r, &z), 0);
	struct relay_assignment w = {
	    .session_id = "s4", .peer_a = b, .peer_b = c, .port = (uint16_t)(f.base + 2)};
	assert_int_equal(relay_session_assign(f.r, &w), -ENOSPC);
	assert_int_equal(relay_session_count(f.r), 3);

	/* A port held by something else: bind error, table unchanged. */
	int blocker = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in bl = sin4("127.0.0.1", (uint16_t)(f.base + 2));
	assert_int_equal(relay_session_revoke(f.r, "s3"), 0);
	assert_int_equal(bind(blocker, (struct sockaddr *)&bl, sizeof(bl)), 0);
	assert_int_equal(relay_session_assign(f.r, &z), -EADDRINUSE);
	assert_int_equal(relay_session_count(f.r), 2);
	close(blocker);

	assert_int_equal(relay_session_revoke(f.r, "s3"), -ENOENT);
	assert_int_equal(relay_session_revoke(f.r, "s1"), 0);
	assert_int_equal(relay_session_count(f.r), 1);

	/* sync: the desired set replaces the table. */
	struct relay_assignment want[] = {x, z};
	assert_int_equal(relay_sessions_sync(f.r, want, 2), 0);
	assert_int_equal(relay_session_count(f.r), 2);
	struct relay_session_stats st;
	assert_int_equal(relay_session_stats(f.r, "s2", &st), -ENOENT);
	assert_int_equal(relay_session_stats(f.r, "s1", &st), 0);
	struct relay_assignment partly_bad[] = {x, bad};
	assert_int_equal(relay_sessions_sync(f.r, partly_bad, 2), 1);
	assert_int_equal(relay_session_count(f.r), 1);
	fx_done(&f);
}

static void test_shared_conflict(void **state)
{
	struct fixture f;
	fx_init(&f, 4, 300 * S, true);
	struct sockaddr_in a = sin4("192.0.2.1", 1000), b = sin4("192.0.2.2", 2000),
			   c = sin4("192.0.2.3", 3000);
	struct relay_assignment x = {.session_id = "s1", .peer_a = a, .peer_b = b};
	struct relay_assignment y = {.session_id = "s2", .peer_a = c, .peer_b = b};
	assert_int_equal(relay_session_assign(f.r, &x), 0);
	assert_int_equal(relay_session_assign(f.r, &y), -EADDRINUSE); /* b already in s1 */
	y.port = f.base;
	assert_int_equal(relay_session_assign(f.r, &y), 0); /* fine on its own port */
	assert_int_equal(relay_session_assign(f.r, &x),
			 1); /* refreshing s1 conflicts with nothing */
	fx_done(&f);
}

static int udp_on(const char *ip, uint16_t *ret_port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = sin4(ip, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t sl = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &sl);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

/* Runs the loop until fd has data (true) or ~ms passed (false). */
static bool pump_until(sd_event *e, int fd, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 0) == 1)
			return true;
		sd_event_run(e, 10 * USEC_PER_MSEC);
	}
	return false;
}

static void send_to(int fd, uint16_t port, const void *data, size_t len)
{
	struct sockaddr_in to = sin4("127.0.0.1", port);
	assert_int_equal(sendto(fd, data, len, 0, (struct sockaddr *)&to, sizeof(to)),
			 (ssize_t)len);
}

/* Receives one datagram, checks content and that it came from the relay port. */
static void expect(sd_event *e, int fd, uint16_t relay_port, const void *data, size_t len)
{
	assert_true(pump_until(e, fd, 2000));
	uint8_t buf[2048];
	struct sockaddr_in from;
	socklen_t sl = sizeof(from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &sl);
	assert_int_equal(n, (ssize_t)len);
	assert_memory_equal(buf, data, len);
	assert_int_equal(ntohs(from.sin_port), relay_port);
}

static void expect_nothing(sd_event *e, int fd)
{
	assert_false(pump_until(e, fd, 200));
}

static void test_forward_session_port(void **state)
{
	struct fixture f;
	fx_init(&f, 2, 300 * S, false);
	uint16_t pa, pb, pa2, pu;
	int a = udp_on("127.0.0.2", &pa), b = udp_on("127.0.0.3", &pb);
	int a2 = udp_on("127.0.0.2", &pa2); /* A after its NAT re-mapped */
	int unknown = udp_on("127.0.0.4", &pu);
	/* Assigned endpoint of A carries a port the relay never hears from (symmetric NAT). */
	struct relay_assignment x = {.session_id = "s1",
				     .peer_a = sin4("127.0.0.2", 9),
				     .peer_b = sin4("127.0.0.3", pb),
				     .port = f.base};
	assert_int_equal(relay_session_assign(f.r, &x), 0);

	/* WireGuard-like payloads of several sizes, all byte values. */
	uint8_t msg[1452];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	send_to(a, f.base, msg, 148); /* latches A to pa */
	expect(f.e, b, f.base, msg, 148);
	send_to(b, f.base, msg, sizeof(msg));
	expect(f.e, a, f.base, msg, sizeof(msg));
	send_to(b, f.base, msg, 32);
	expect(f.e, a, f.base, msg, 32);

	/* Unknown source: dropped, nobody receives anything. */
	uint64_t d0 = relay_dropped(f.r);
	send_to(unknown, f.base, "spoof", 5);
	expect_nothing(f.e, a);
	expect_nothing(f.e, b);
	assert_int_equal(relay_dropped(f.r), d0 + 1);

	/* Latching again: A's mapping changes; B's traffic follows. */
	send_to(a2, f.base, "moved", 5);
	expect(f.e, b, f.base, "moved", 5);
	send_to(b, f.base, "back", 4);
	expect(f.e, a2, f.base, "back", 4);
	expect_nothing(f.e, a);

	struct relay_session_stats st;
	assert_int_equal(relay_session_stats(f.r, "s1", &st), 0);
	assert_int_equal(st.packets_a_to_b, 2);
	assert_int_equal(st.bytes_a_to_b, 148 + 5);
	assert_int_equal(st.packets_b_to_a, 3);
	assert_int_equal(st.bytes_b_to_a, sizeof(msg) + 32 + 4);
	assert_int_equal(ntohs(st.current_a.sin_port), pa2);

	json_t *j = NULL;
	assert_int_equal(relay_status_json(f.r, &j), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "active_sessions")), 1);
	json_t *s0 = json_array_get(json_object_get(j, "sessions"), 0);
	assert_string_equal(json_string_value(json_object_get(s0, "session_id")), "s1");
	assert_int_equal(json_integer_value(json_object_get(s0, "bytes_b_to_a")),
			 sizeof(msg) + 32 + 4);
	assert_int_equal(json_integer_value(json_object_get(s0, "port")), f.base);
	json_decref(j);

	/* Revoked: nothing is forwarded any more (the socket is gone). */
	assert_int_equal(relay_session_revoke(f.r, "s1"), 0);
	send_to(b, f.base, "late", 4);
	expect_nothing(f.e, a2);
	close(a);
	close(a2);
	close(b);
	close(unknown);
	fx_done(&f);
}

/* Both peers behind one public IP: exact matching only, no latching. */
static void test_forward_same_ip(void **state)
{
	struct fixture f;
	fx_init(&f, 1, 300 * S, false);
	uint16_t pa, pb, pc;
	int a = udp_on("127.0.0.2", &pa), b = udp_on("127.0.0.2", &pb),
	    c = udp_on("127.0.0.2", &pc);
	struct relay_assignment x = {.session_id = "s1",
				     .peer_a = sin4("127.0.0.2", pa),
				     .peer_b = sin4("127.0.0.2", pb),
				     .port = f.base};
	assert_int_equal(relay_session_assign(f.r, &x), 0);
	send_to(a, f.base, "ab", 2);
	expect(f.e, b, f.base, "ab", 2);
	send_to(c, f.base, "cc", 2);
	expect_nothing(f.e, a);
	expect_nothing(f.e, b);
	send_to(b, f.base, "ba", 2);
	expect(f.e, a, f.base, "ba", 2);
	close(a);
	close(b);
	close(c);
	fx_done(&f);
}

static void test_forward_shared(void **state)
{
	struct fixture f;
	fx_init(&f, 4, 300 * S, true);
	uint16_t pa, pb, pc, pd, pa2;
	int a = udp_on("127.0.0.2", &pa), b = udp_on("127.0.0.3", &pb),
	    c = udp_on("127.0.0.4", &pc), d = udp_on("127.0.0.5", &pd),
	    a2 = udp_on("127.0.0.2", &pa2);
	struct relay_assignment s1 = {
	    .session_id = "s1", .peer_a = sin4("127.0.0.2", pa), .peer_b = sin4("127.0.0.3", pb)};
	struct relay_assignment s2 = {
	    .session_id = "s2", .peer_a = sin4("127.0.0.4", pc), .peer_b = sin4("127.0.0.5", pd)};
	assert_int_equal(relay_session_assign(f.r, &s1), 0);
	assert_int_equal(relay_session_assign(f.r, &s2), 0);
	send_to(a, f.listen, "1", 1);
	expect(f.e, b, f.listen, "1", 1);
	send_to(d, f.listen, "2", 1);
	expect(f.e, c, f.listen, "2", 1);
	send_to(c, f.listen, "3", 1);
	expect(f.e, d, f.listen, "3", 1);
	expect_nothing(f.e, a);
	/* No latching on the shared socket: A from another port is unknown. */
	send_to(a2, f.listen, "4", 1);
	expect_nothing(f.e, b);
	assert_int_equal(relay_dropped(f.r), 1);
	close(a);
	close(b);
	close(c);
	close(d);
	close(a2);
	fx_done(&f);
}

static void test_expiry(void **state)
{
	struct fixture f;
	fx_init(&f, 2, 200 * USEC_PER_MSEC, false);
	struct relay_assignment x = {.session_id = "s1",
				     .peer_a = sin4("192.0.2.1", 1),
				     .peer_b = sin4("192.0.2.2", 2),
				     .port = f.base};
	struct relay_assignment y = {.session_id = "s2",
				     .peer_a = sin4("192.0.2.3", 1),
				     .peer_b = sin4("192.0.2.4", 2),
				     .port = (uint16_t)(f.base + 1)};
	assert_int_equal(relay_session_assign(f.r, &x), 0);
	assert_int_equal(relay_session_assign(f.r, &y), 0);
	usec_t t0 = now_usec(CLOCK_MONOTONIC);
	/* Keep refreshing s2 ("kept in relay_config"); s1 must expire after ~200 ms. */
	while (now_usec(CLOCK_MONOTONIC) - t0 < 500 * USEC_PER_MSEC) {
		sd_event_run(f.e, 20 * USEC_PER_MSEC);
		assert_int_equal(relay_session_assign(f.r, &y), 1);
	}
	struct relay_session_stats st;
	assert_int_equal(relay_session_stats(f.r, "s1", &st), -ENOENT);
	assert_int_equal(relay_session_stats(f.r, "s2", &st), 0);
	assert_true(st.expires_in > 100 * USEC_PER_MSEC);
	assert_int_equal(relay_session_count(f.r), 1);
	fx_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lifetime),	    cmocka_unit_test(test_assign_validation),
	    cmocka_unit_test(test_shared_conflict), cmocka_unit_test(test_forward_session_port),
	    cmocka_unit_test(test_forward_same_ip), cmocka_unit_test(test_forward_shared),
	    cmocka_unit_test(test_expiry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
