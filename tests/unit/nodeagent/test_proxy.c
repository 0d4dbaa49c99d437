/*
 * Tests for nodeagent/proxy.c: the forwarding engine on real loopback
 * sockets. Backends are tiny libuv servers on 127.0.x.y that send their id
 * byte first, then echo (or, as a sink, read nothing until told); clients
 * are libuv sockets that may bind a source address (for affinity).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/xalloc.h"
#include "nodeagent/proxy.h"
#include "common/banned.h"

static uv_loop_t loop;
static uv_timer_t guard, pause_timer; /* open from setup to teardown */
static bool guard_fired;

/* Helpers: addresses */

static struct sockaddr_in sin_of(const char *ip, unsigned port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

/* A port that is free on ip now (the kernel's pick, released). */
static unsigned free_port(const char *ip)
{
	struct sockaddr_in a = sin_of(ip, 0);
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void on_guard(uv_timer_t *t)
{
	guard_fired = true;
}

/* Runs the loop until *flag is set; a 10 s guard fails the test. */
static void run_until(const bool *flag)
{
	guard_fired = false;
	uv_timer_start(&guard, on_guard, 10000, 0);
	while (!*flag && !guard_fired)
		uv_run(&loop, UV_RUN_ONCE);
	uv_timer_stop(&guard);
	assert_false(guard_fired);
}

/* Runs the loop until pred(arg) holds; the same 10 s guard. */
static void run_until_pred(bool (*pred)(const void *), const void *arg)
{
	guard_fired = false;
	uv_timer_start(&guard, on_guard, 10000, 0);
	while (!pred(arg) && !guard_fired)
		uv_run(&loop, UV_RUN_ONCE);
	uv_timer_stop(&guard);
	assert_false(guard_fired);
}

static void on_pause_end(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* Lets the loop run for ms: a wait for things to settle, never asserted. */
static void run_for(uint64_t ms)
{
	bool done = false;

	pause_timer.data = &done;
	uv_timer_start(&pause_timer, on_pause_end, ms, 0);
	while (!done)
		uv_run(&loop, UV_RUN_ONCE);
}

/* Backends */

struct backend {
	uv_tcp_t server;
	struct sockaddr_in addr;
	char id;
	bool sink; /* read nothing until backend_resume() */
	bool reset; /* send the id, then reset the connection */
	int accepted;
	size_t received; /* sink: bytes read */
	bool pattern_ok; /* sink: byte i was (i % 251) */
	int eofs; /* clients whose half-close came through */
	struct bconn *conns;
};

struct bconn {
	uv_tcp_t tcp;
	struct backend *b;
	struct bconn *next;
	uv_shutdown_t sh;
	bool closed;
};

struct bwrite {
	uv_write_t req;
	char *data;
};

static void bwrite_done(uv_write_t *req, int status)
{
	struct bwrite *w = (struct bwrite *)req;

	free(w->data);
	free(w);
}

static void bsend(struct bconn *bc, const char *data, size_t len)
{
	struct bwrite *w = xcalloc(1, sizeof(*w));
	uv_buf_t b;

	w->data = xmalloc(len);
	memcpy(w->data, data, len);
	b = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&bc->tcp, &b, 1, bwrite_done))
		bwrite_done(&w->req, -1);
}

static void bconn_closed(uv_handle_t *h)
{
	struct bconn *bc = h->data;

	bc->closed = true;
}

static void bclose(struct bconn *bc)
{
	if (!uv_is_closing((uv_handle_t *)&bc->tcp))
		uv_close((uv_handle_t *)&bc->tcp, bconn_closed);
}

static void bshut_done(uv_shutdown_t *req, int status)
{
	bclose(req->data);
}

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	buf->base = xmalloc(65536);
	buf->len = 65536;
}

static void bread(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct bconn *bc = s->data;
	struct backend *b = bc->b;

	if (n > 0) {
		if (b->sink) {
			for (ssize_t i = 0; i < n; i++)
				if ((unsigned char)buf->base[i] !=
				    (b->received + (size_t)i) % 251)
					b->pattern_ok = false;
			b->received += (size_t)n;
		} else {
			bsend(bc, buf->base, (size_t)n);
		}
	} else if (n == UV_EOF) {
		b->eofs++;
		bc->sh.data = bc;
		uv_read_stop(s);
		if (uv_shutdown(&bc->sh, s, bshut_done))
			bclose(bc);
	} else if (n < 0) {
		bclose(bc);
	}
	free(buf->base);
}

static void baccept(uv_stream_t *server, int status)
{
	struct backend *b = server->data;
	struct bconn *bc = xcalloc(1, sizeof(*bc));

	assert_int_equal(status, 0);
	bc->b = b;
	bc->next = b->conns;
	b->conns = bc;
	uv_tcp_init(&loop, &bc->tcp);
	bc->tcp.data = bc;
	assert_int_equal(uv_accept(server, (uv_stream_t *)&bc->tcp), 0);
	b->accepted++;
	bsend(bc, &b->id, 1);
	if (b->reset) {
		if (uv_tcp_close_reset(&bc->tcp, bconn_closed))
			bclose(bc);
		return;
	}
	if (!b->sink)
		uv_read_start((uv_stream_t *)&bc->tcp, alloc_cb, bread);
}

static void backend_start(struct backend *b, const char *ip, char id)
{
	int len = sizeof(b->addr);

	memset(b, 0, sizeof(*b));
	b->id = id;
	b->pattern_ok = true;
	b->addr = sin_of(ip, 0);
	uv_tcp_init(&loop, &b->server);
	b->server.data = b;
	assert_int_equal(
		uv_tcp_bind(&b->server, (struct sockaddr *)&b->addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&b->server, 64, baccept), 0);
	assert_int_equal(uv_tcp_getsockname(&b->server,
					    (struct sockaddr *)&b->addr, &len),
			 0);
}

static void backend_resume(struct backend *b)
{
	for (struct bconn *bc = b->conns; bc; bc = bc->next)
		if (!uv_is_closing((uv_handle_t *)&bc->tcp))
			uv_read_start((uv_stream_t *)&bc->tcp, alloc_cb, bread);
}

/* Closes the server and its connections; the loop must run after. */
static void backend_stop(struct backend *b)
{
	uv_close((uv_handle_t *)&b->server, NULL);
	for (struct bconn *bc = b->conns; bc; bc = bc->next)
		bclose(bc);
}

static void backend_release(struct backend *b)
{
	struct bconn *bc;

	while ((bc = b->conns)) {
		b->conns = bc->next;
		free(bc);
	}
}

/* Clients */

struct client {
	uv_tcp_t tcp;
	uv_connect_t cr;
	uv_shutdown_t sh;
	char got[256];
	size_t len;
	bool done; /* closed: after EOF, an error, or a failed connect */
	bool eof;
	int error; /* the read or connect error, 0 if none */
	const char *send; /* sent once connected */
	bool half_close; /* shutdown after send */
	size_t big; /* bytes of pattern to send instead of send */
	char *big_data;
	bool big_written;
};

static void cwrite_done(uv_write_t *req, int status)
{
	struct client *c = req->data;

	if (c->big_data)
		c->big_written = status == 0;
	free(req);
}

static void cclosed(uv_handle_t *h)
{
	struct client *c = h->data;

	c->done = true;
}

static void cread(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct client *c = s->data;

	if (n > 0) {
		size_t take = (size_t)n;

		if (take > sizeof(c->got) - 1 - c->len)
			take = sizeof(c->got) - 1 - c->len;
		memcpy(c->got + c->len, buf->base, take);
		c->len += take;
		c->got[c->len] = '\0';
	} else if (n < 0) {
		if (n == UV_EOF)
			c->eof = true;
		else
			c->error = (int)n;
		uv_close((uv_handle_t *)&c->tcp, cclosed);
	}
	free(buf->base);
}

static void client_write(struct client *c, const char *data, size_t len)
{
	uv_write_t *w = xmalloc(sizeof(*w));
	uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);

	w->data = c;
	assert_int_equal(
		uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, cwrite_done), 0);
}

static void cshut_done(uv_shutdown_t *req, int status)
{
}

static void cconnected(uv_connect_t *req, int status)
{
	struct client *c = req->data;

	if (status < 0) {
		c->error = status;
		uv_close((uv_handle_t *)&c->tcp, cclosed);
		return;
	}
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, cread);
	if (c->big) {
		c->big_data = xmalloc(c->big);
		for (size_t i = 0; i < c->big; i++)
			c->big_data[i] = (char)(i % 251);
		client_write(c, c->big_data, c->big);
	} else if (c->send) {
		client_write(c, c->send, strlen(c->send));
	}
	if (c->half_close)
		uv_shutdown(&c->sh, (uv_stream_t *)&c->tcp, cshut_done);
}

static void client_start(struct client *c, const struct sockaddr_in *to,
			 const char *src_ip)
{
	uv_tcp_init(&loop, &c->tcp);
	c->tcp.data = c;
	c->cr.data = c;
	if (src_ip) {
		struct sockaddr_in s = sin_of(src_ip, 0);

		assert_int_equal(uv_tcp_bind(&c->tcp, (struct sockaddr *)&s, 0),
				 0);
	}
	assert_int_equal(uv_tcp_connect(&c->cr, &c->tcp,
					(const struct sockaddr *)to,
					cconnected),
			 0);
}

/* Connects, half-closes at once, and returns what came back (the id). */
static char one_shot(const struct sockaddr_in *to, const char *src_ip)
{
	struct client c = { 0 };

	c.half_close = true;
	client_start(&c, to, src_ip);
	run_until(&c.done);
	assert_true(c.eof);
	assert_int_equal(c.len, 1);
	return c.got[0];
}

struct want {
	const struct client *c;
	const char *s;
};

static bool got_it(const void *arg)
{
	const struct want *w = arg;

	return strstr(w->c->got, w->s) != NULL;
}

/* Runs the loop until the client has received s. */
static void run_until_got(const struct client *c, const char *s)
{
	struct want w = { c, s };

	run_until_pred(got_it, &w);
}

static bool no_conns(const void *arg)
{
	struct proxy_stats st;

	proxy_get_stats(arg, &st);
	return st.active == 0;
}

/* Fixture */

struct fx {
	struct proxy *p;
	struct sm_fake_clock clock;
	struct backend b[3];
	int nr_b;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct proxy_opts o = PROXY_OPTS_INIT;

	assert_int_equal(uv_loop_init(&loop), 0);
	uv_timer_init(&loop, &guard);
	uv_timer_init(&loop, &pause_timer);
	sm_fake_clock_init(&f->clock, 1);
	f->clock.monotonic_ns = 1000000000ull;
	o.clock = &f->clock.clock;
	o.write_limit = 65536;
	o.connect_timeout_ms = 2000;
	f->p = proxy_new(&loop, &o);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	proxy_free(f->p);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_close((uv_handle_t *)&pause_timer, NULL);
	for (int i = 0; i < f->nr_b; i++)
		backend_stop(&f->b[i]);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < f->nr_b; i++)
		backend_release(&f->b[i]);
	assert_int_equal(uv_loop_close(&loop), 0);
	free(f);
	return 0;
}

static void start_backends(struct fx *f, int n)
{
	static const char *const ips[] = { "127.0.81.1", "127.0.81.2",
					   "127.0.81.3" };

	for (int i = 0; i < n; i++)
		backend_start(&f->b[i], ips[i], (char)('1' + i));
	f->nr_b = n;
}

static struct proxy_rule rule(const char *name, struct sockaddr_in listen,
			      const struct sockaddr_in *backends, size_t nr,
			      uint32_t affinity)
{
	struct proxy_rule r = { name, listen, backends, nr, affinity };

	return r;
}

/* Tests */

static void test_round_robin_spreads_clients_over_backends_in_turn(void **s)
{
	struct fx *f = *s;
	struct sockaddr_in be[3],
		lis = sin_of("127.0.80.1", free_port("127.0.80.1"));
	struct proxy_rule r;
	char seen[7] = { 0 };
	struct proxy_stats st;

	start_backends(f, 3);
	for (int i = 0; i < 3; i++)
		be[i] = f->b[i].addr;
	r = rule("default/web:http", lis, be, 3, 0);
	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	assert_int_equal(proxy_listening(f->p), 1);
	for (int i = 0; i < 6; i++)
		seen[i] = one_shot(&lis, NULL);
	assert_string_equal(seen, "123123");
	for (int i = 0; i < 3; i++)
		assert_int_equal(f->b[i].accepted, 2);
	proxy_get_stats(f->p, &st);
	assert_int_equal(st.connections, 6);
	assert_int_equal(st.forwarded, 6);
	assert_int_equal(st.retries, 0);
}

static void test_a_half_close_is_forwarded_and_the_answer_still_comes(void **s)
{
	struct fx *f = *s;
	struct sockaddr_in lis = sin_of("127.0.80.2", free_port("127.0.80.2"));
	struct proxy_rule r;
	struct client c = { 0 };
	struct proxy_stats st;

	start_backends(f, 1);
	r = rule("default/echo", lis, &f->b[0].addr, 1, 0);
	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	c.send = "hello";
	c.half_close = true;
	client_start(&c, &lis, NULL);
	run_until(&c.done);
	/* The backend saw the client's EOF and answered after it. */
	assert_int_equal(f->b[0].eofs, 1);
	assert_true(c.eof);
	assert_int_equal(c.error, 0);
	assert_string_equal(c.got, "1hello");
	/* Both directions ended: the proxy closed its two sockets. */
	run_until_pred(no_conns, f->p);
	proxy_get_stats(f->p, &st);
	assert_int_equal(st.forwarded, 1);
}

static void test_a_refused_backend_is_skipped_for_the_next(void **s)
{
	struct fx *f = *s;
	struct sockaddr_in lis = sin_of("127.0.80.3", free_port("127.0.80.3"));
	struct sockaddr_in be[2];
	struct proxy_rule r;
	struct proxy_stats st;

	start_backends(f, 1);
	/* Nothing listens there: connect is refused. */
	be[0] = sin_of("127.0.81.9", free_port("127.0.81.9"));
	be[1] = f->b[0].addr;
	r = rule("default/web", lis, be, 2, 0);
	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(one_shot(&lis, NULL), '1');
	proxy_get_stats(f->p, &st);
	assert_int_equal(st.forwarded, 4);
	assert_int_equal(st.failures, 0);
	/* Round-robin lands on the refusing one every other client. */
	assert_int_equal(st.retries, 2);
}

static void test_a_client_is_reset_when_every_backend_refuses(void **s)
{
	struct fx *f = *s;
	struct sockaddr_in lis = sin_of("127.0.80.4", free_port("127.0.80.4"));
	struct sockaddr_in be[2];
	struct proxy_rule r;
	struct client c = { 0 };
	struct proxy_stats st;

	be[0] = sin_of("127.0.81.9", free_port("127.0.81.9"));
	be[1] = sin_of("127.0.81.8", free_port("127.0.81.8"));
	r = rule("default/down", lis, be, 2, 0);
	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	client_start(&c, &lis, NULL);
	run_until(&c.done);
	assert_int_equal(c.len, 0);
	assert_true(c.eof || c.error == UV_ECONNRESET);
	proxy_get_stats(f->p, &st);
	assert_int_equal(st.failures, 1);
	assert_int_equal(st.retries, 1);
	assert_int_equal(st.forwarded, 0);
}

static void test_a_backend_that_resets_closes_its_client(void **s)
{
	struct fx *f = *s;
	struct sockaddr_in lis =
		sin_of("127.0.80.14", free_port("127.0.80.14"));
	struct proxy_rule r;
	struct client c = { 0 };

	start_backends(f, 1);
	f->b[0].reset = true;
	r = rule("default/rst", lis, &f->b[0].addr, 1, 0);
	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	client_start(&c, &lis, NULL);
	run_until(&c.done);
	/* The client's side ends too, whatever came before the reset. */
	assert_true(c.eof || c.error == UV_ECONNRESET);
	run_until_pred(no_conns, f->p);
}

static void test_a_rule_without_endpoints_refuses_clients(void **s)
{
	struct fx *f = *s;
	struct sockaddr_in lis = sin_of("127.0.80.5", free_port("127.0.80.5"));
	struct proxy_rule r = rule("default/none", lis, NULL, 0, 0);
	struct client c = { 0 };
	struct proxy_stats st;

	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	assert_int_equal(proxy_listening(f->p), 0);
	c.send = "x";
	client_start(&c, &lis, NULL);
	run_until(&c.done);
	assert_int_equal(c.len, 0);
	assert_int_equal(c.error, UV_ECONNREFUSED);
	proxy_get_stats(f->p, &st);
	assert_int_equal(st.connections, 0);
}

static void test_client_ip_affinity_sticks_until_it_expires(void **s)
{
	struct fx *f = *s;
	struct sockaddr_in be[3],
		lis = sin_of("127.0.80.6", free_port("127.0.80.6"));
	struct proxy_rule r;
	char a, b;

	start_backends(f, 3);
	for (int i = 0; i < 3; i++)
		be[i] = f->b[i].addr;
	r = rule("default/sticky", lis, be, 3, 60);
	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	a = one_shot(&lis, "127.0.82.1");
	b = one_shot(&lis, "127.0.82.2");
	assert_int_not_equal(a, b);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(one_shot(&lis, "127.0.82.1"), a);
		assert_int_equal(one_shot(&lis, "127.0.82.2"), b);
		f->clock.monotonic_ns += 50ull * 1000000000ull;
	}
	/* 61 s without a connection: the affinity is gone, round-robin goes
	 * on to the third backend. */
	f->clock.monotonic_ns += 61ull * 1000000000ull;
	assert_int_equal(one_shot(&lis, "127.0.82.1"), '3');
	/* A backend that leaves takes its affine clients elsewhere. */
	r = rule("default/sticky", lis, &be[1], 1, 60);
	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	assert_int_equal(one_shot(&lis, "127.0.82.1"), '2');
}

static void test_a_drained_endpoint_keeps_its_open_connection(void **s)
{
	struct fx *f = *s;
	struct sockaddr_in lis = sin_of("127.0.80.7", free_port("127.0.80.7"));
	struct proxy_rule r;
	struct client c1 = { 0 };

	start_backends(f, 2);
	r = rule("default/web", lis, &f->b[0].addr, 1, 0);
	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	c1.send = "a";
	client_start(&c1, &lis, NULL);
	run_until_got(&c1, "1a");
	/* The endpoint leaves: new clients go to the other. */
	r = rule("default/web", lis, &f->b[1].addr, 1, 0);
	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	assert_int_equal(one_shot(&lis, NULL), '2');
	/* The open connection still talks to the first backend. */
	client_write(&c1, "b", 1);
	run_until_got(&c1, "1ab");
	uv_shutdown(&c1.sh, (uv_stream_t *)&c1.tcp, cshut_done);
	run_until(&c1.done);
	assert_true(c1.eof);
	assert_int_equal(f->b[0].accepted, 1);
	assert_int_equal(f->b[1].accepted, 1);
}

static void test_a_changed_listen_address_rebinds_only_that_rule(void **s)
{
	struct fx *f = *s;
	struct sockaddr_in l1 = sin_of("127.0.80.8", free_port("127.0.80.8"));
	struct sockaddr_in l2 = sin_of("127.0.80.9", free_port("127.0.80.9"));
	struct sockaddr_in l3 = sin_of("127.0.80.10", free_port("127.0.80.10"));
	struct proxy_rule r[2];
	struct client old = { 0 }, refused = { 0 };

	start_backends(f, 2);
	r[0] = rule("default/a", l1, &f->b[0].addr, 1, 0);
	r[1] = rule("default/b", l2, &f->b[1].addr, 1, 0);
	assert_int_equal(proxy_set_rules(f->p, r, 2), 0);
	assert_int_equal(proxy_listening(f->p), 2);
	old.send = "x";
	client_start(&old, &l1, NULL);
	run_until_got(&old, "1x");
	/* Rule a moves to l3; rule b stays as it was. */
	r[0] = rule("default/a", l3, &f->b[0].addr, 1, 0);
	assert_int_equal(proxy_set_rules(f->p, r, 2), 0);
	assert_int_equal(proxy_listening(f->p), 2);
	assert_int_equal(one_shot(&l3, NULL), '1');
	assert_int_equal(one_shot(&l2, NULL), '2');
	assert_int_equal(f->b[1].accepted, 1);
	client_start(&refused, &l1, NULL);
	run_until(&refused.done);
	assert_int_equal(refused.error, UV_ECONNREFUSED);
	/* The connection through the closed listener lives on. */
	client_write(&old, "y", 1);
	run_until_got(&old, "1xy");
	uv_close((uv_handle_t *)&old.tcp, cclosed);
	run_until(&old.done);
}

static void test_freeing_the_engine_closes_open_connections(void **s)
{
	struct fx *f = *s;
	struct sockaddr_in lis =
		sin_of("127.0.80.15", free_port("127.0.80.15"));
	struct proxy_rule r;
	static struct client c; /* outlives the test: teardown closes it */
	struct proxy_stats st;

	memset(&c, 0, sizeof(c));
	start_backends(f, 1);
	r = rule("default/web", lis, &f->b[0].addr, 1, 0);
	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	c.send = "a";
	client_start(&c, &lis, NULL);
	run_until_got(&c, "1a");
	proxy_get_stats(f->p, &st);
	assert_int_equal(st.active, 1);
	proxy_free(f->p);
	f->p = NULL;
	/* The client sees its connection end; nothing leaks (ASan). */
	run_until(&c.done);
	assert_true(c.eof || c.error);
}

static void test_a_port_that_cannot_be_bound_is_not_fatal(void **s)
{
	struct fx *f = *s;
	struct proxy_rule r[2];
	struct sockaddr_in ok = sin_of("127.0.80.11", free_port("127.0.80.11"));

	start_backends(f, 1);
	/* The backend holds its own address: binding it again fails. */
	r[0] = rule("default/taken", f->b[0].addr, &f->b[0].addr, 1, 0);
	r[1] = rule("default/fine", ok, &f->b[0].addr, 1, 0);
	assert_int_equal(proxy_set_rules(f->p, r, 2), 1);
	assert_int_equal(proxy_listening(f->p), 1);
	assert_int_equal(one_shot(&ok, NULL), '1');
	/* Set again unchanged: still one failure, nothing else moves. */
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(proxy_set_rules(f->p, r, 2), 1);
	assert_int_equal(proxy_listening(f->p), 1);
}

/*
 * A backend that never accepts: its backlog (0, which Linux treats as one)
 * fills with the first connections, then SYNs are dropped and a connect
 * hangs until the proxy's timeout.
 */
static int blackhole(const char *ip, struct sockaddr_in *out, int fill[2])
{
	socklen_t len = sizeof(*out);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	*out = sin_of(ip, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)out, sizeof(*out)), 0);
	assert_int_equal(listen(fd, 0), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)out, &len), 0);
	for (int i = 0; i < 2; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		(void)connect(fill[i], (struct sockaddr *)out, sizeof(*out));
	}
	run_for(50);
	return fd;
}

static void test_a_backend_that_does_not_answer_times_out_to_the_next(void **s)
{
	struct fx *f = *s;
	struct proxy_opts o = PROXY_OPTS_INIT;
	struct sockaddr_in lis =
		sin_of("127.0.80.13", free_port("127.0.80.13"));
	struct sockaddr_in be[2];
	struct proxy_rule r;
	struct proxy_stats st;
	int fill[2], hole;

	/* This test's own engine, with a short connect timeout. */
	proxy_free(f->p);
	o.connect_timeout_ms = 200;
	o.clock = &f->clock.clock;
	f->p = proxy_new(&loop, &o);
	start_backends(f, 1);
	hole = blackhole("127.0.81.7", &be[0], fill);
	be[1] = f->b[0].addr;
	r = rule("default/slow", lis, be, 2, 0);
	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	assert_int_equal(one_shot(&lis, NULL), '1');
	proxy_get_stats(f->p, &st);
	assert_int_equal(st.retries, 1);
	assert_int_equal(st.forwarded, 1);
	assert_int_equal(st.failures, 0);
	close(fill[0]);
	close(fill[1]);
	close(hole);
}

static size_t most_buffered;

/* Notes the most the proxy held; true once the sink has everything. */
static bool sink_has_all(const void *arg)
{
	const struct fx *f = arg;
	size_t n = proxy_buffered(f->p);

	if (n > most_buffered)
		most_buffered = n;
	return f->b[0].received == 64u << 20;
}

static void test_the_last_backend_left_is_waited_for(void **s)
{
	struct fx *f = *s;
	struct proxy_opts o = PROXY_OPTS_INIT;
	struct sockaddr_in lis =
		sin_of("127.0.80.14", free_port("127.0.80.14"));
	struct sockaddr_in be;
	struct proxy_rule r;
	struct proxy_stats st;
	struct client c = { 0 };
	int fill[2], hole;

	proxy_free(f->p);
	o.connect_timeout_ms = 100;
	o.clock = &f->clock.clock;
	f->p = proxy_new(&loop, &o);
	hole = blackhole("127.0.81.8", &be, fill);
	r = rule("default/one-slow", lis, &be, 1, 0);
	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	c.send = "x";
	client_start(&c, &lis, NULL);
	/* Well past the connect timeout: still waiting, not reset. */
	run_for(500);
	assert_false(c.done);
	proxy_get_stats(f->p, &st);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.retries, 0);
	/* The backend goes: its SYN, sent again, is refused; then the
	 * client is reset, as none is left. */
	close(fill[0]);
	close(fill[1]);
	close(hole);
	run_until(&c.done);
	proxy_get_stats(f->p, &st);
	assert_int_equal(st.failures, 1);
}

static void test_backpressure_bounds_what_the_proxy_buffers(void **s)
{
	struct fx *f = *s;
	struct sockaddr_in lis =
		sin_of("127.0.80.12", free_port("127.0.80.12"));
	struct proxy_rule r;
	struct client c = { 0 };
	size_t most = 0;

	start_backends(f, 1);
	f->b[0].sink = true;
	r = rule("default/sink", lis, &f->b[0].addr, 1, 0);
	assert_int_equal(proxy_set_rules(f->p, &r, 1), 0);
	/* Far more than loopback's socket buffers can hold on the way. */
	c.big = 64u << 20;
	client_start(&c, &lis, NULL);
	for (int i = 0; i < 40; i++) {
		size_t n;

		run_for(10);
		n = proxy_buffered(f->p);
		if (n > most)
			most = n;
	}
	assert_false(c.big_written);
	/* Limit 64 KiB plus at most one 64 KiB read in flight. */
	assert_true(most <= 65536 + 65536);
	backend_resume(&f->b[0]);
	most_buffered = most;
	run_until_pred(sink_has_all, f);
	assert_int_equal(f->b[0].received, c.big);
	assert_true(f->b[0].pattern_ok);
	assert_true(most_buffered <= 65536 + 65536);
	uv_close((uv_handle_t *)&c.tcp, cclosed);
	run_until(&c.done);
	free(c.big_data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_round_robin_spreads_clients_over_backends_in_turn),
		T(test_a_half_close_is_forwarded_and_the_answer_still_comes),
		T(test_a_refused_backend_is_skipped_for_the_next),
		T(test_a_client_is_reset_when_every_backend_refuses),
		T(test_a_rule_without_endpoints_refuses_clients),
		T(test_a_backend_that_resets_closes_its_client),
		T(test_client_ip_affinity_sticks_until_it_expires),
		T(test_a_drained_endpoint_keeps_its_open_connection),
		T(test_a_changed_listen_address_rebinds_only_that_rule),
		T(test_a_port_that_cannot_be_bound_is_not_fatal),
		T(test_freeing_the_engine_closes_open_connections),
		T(test_the_last_backend_left_is_waited_for),
		T(test_backpressure_bounds_what_the_proxy_buffers),
		T(test_a_backend_that_does_not_answer_times_out_to_the_next),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
