/*
 * Tests for common/http_server.c: a real server on 127.0.0.1 with a port
 * from the OS, on the test's libuv loop, driven by the project's HTTP
 * client and by raw sockets (for pipelining, bad input and timeouts).
 * Every test ends by running the loop dry and closing it, so a handle the
 * server forgot to close fails the test.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
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

#include "common/buf.h"
#include "common/err.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/xalloc.h"
#include "common/banned.h"

enum mode { M_NONE, M_SLOW, M_STREAM, M_FOREVER };

struct fixture {
	uv_loop_t loop;
	struct sm_http_server *srv;
	struct sm_http_client *http;
	uv_timer_t timer;
	enum mode mode;
	struct sm_http_resp *resp; /* kept by the handler */
	int ticks;
	int gone;
	int handled;
	int flood_ret;
	int drains;
	bool flood_unwritable;
	char seen[64];
};

struct result {
	int calls;
	int status;
	char *body;
	char *error;
	struct sm_buf streamed;
	bool cancel_in_data;
	struct sm_http_request *req;
};

static void on_gone(void *ctx, struct sm_http_resp *r)
{
	struct fixture *f = ctx;

	f->gone++;
	f->resp = NULL;
	f->mode = M_NONE;
	uv_timer_stop(&f->timer);
	/* Calls from inside the gone callback fail and do nothing. */
	assert_int_equal(sm_http_resp_write(r, "x", 1), -ECONNRESET);
}

static void on_tick(uv_timer_t *t)
{
	struct fixture *f = t->data;
	char num[16];

	switch (f->mode) {
	case M_SLOW:
		f->mode = M_NONE;
		assert_int_equal(sm_http_resp_send(f->resp, "slow", 4), 0);
		f->resp = NULL;
		break;
	case M_STREAM:
		snprintf(num, sizeof(num), "%d", f->ticks++);
		assert_int_equal(sm_http_resp_write(f->resp, num, strlen(num)),
				 0);
		if (f->ticks == 10) {
			f->mode = M_NONE;
			uv_timer_stop(t);
			assert_int_equal(sm_http_resp_end(f->resp), 0);
			f->resp = NULL;
		}
		break;
	case M_FOREVER:
		f->ticks++;
		assert_int_equal(sm_http_resp_write(f->resp, "tick\n", 5), 0);
		break;
	case M_NONE:
		break;
	}
}

/* Writes 1000-byte chunks while the queue takes them, up to 64 in all. */
static void pump(struct fixture *f, struct sm_http_resp *r)
{
	char chunk[1000];

	memset(chunk, 'p', sizeof(chunk));
	while (f->ticks < 64 && sm_http_resp_writable(r)) {
		assert_int_equal(sm_http_resp_write(r, chunk, sizeof(chunk)),
				 0);
		f->ticks++;
	}
	if (f->ticks == 64) {
		f->resp = NULL;
		assert_int_equal(sm_http_resp_end(r), 0);
	}
}

static void on_drain(void *ctx, struct sm_http_resp *r)
{
	struct fixture *f = ctx;

	f->drains++;
	pump(f, r);
}

static void handler(void *ctx, const struct sm_http_req *req,
		    struct sm_http_resp *resp)
{
	struct fixture *f = ctx;
	const char *v;

	f->handled++;
	if (strcmp(req->path, "/hello") == 0) {
		sm_http_resp_add_header(resp, "Content-Type", "text/plain");
		assert_int_equal(
			sm_http_resp_add_header(resp, "Content-Length", "3"),
			-EINVAL);
		assert_int_equal(sm_http_resp_send(resp, "hello world", 11), 0);
	} else if (strcmp(req->path, "/echo") == 0) {
		struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		v = sm_http_req_header(req, "x-test");
		snprintf(f->seen, sizeof(f->seen), "%s", v ? v : "(none)");
		sm_buf_addf(&b, "%s %s ", req->method, req->query);
		sm_buf_add(&b, req->body, req->body_len);
		sm_http_resp_set_status(resp, 201);
		sm_http_resp_send(resp, b.buf, b.len);
		sm_buf_release(&b);
	} else if (strcmp(req->path, "/slow") == 0) {
		f->mode = M_SLOW;
		f->resp = resp;
		uv_timer_start(&f->timer, on_tick, 30, 0);
	} else if (strcmp(req->path, "/fast") == 0) {
		sm_http_resp_send(resp, "fast", 4);
	} else if (strcmp(req->path, "/stream") == 0 ||
		   strcmp(req->path, "/forever") == 0) {
		f->mode = req->path[1] == 's' ? M_STREAM : M_FOREVER;
		f->resp = resp;
		f->ticks = 0;
		sm_http_resp_on(resp, on_gone, NULL, f);
		assert_int_equal(sm_http_resp_start(resp), 0);
		uv_timer_start(&f->timer, on_tick, 5, 5);
	} else if (strcmp(req->path, "/paced") == 0) {
		f->resp = resp;
		f->ticks = 0;
		sm_http_resp_on(resp, on_gone, on_drain, f);
		pump(f, resp);
	} else if (strcmp(req->path, "/flood") == 0) {
		char chunk[1000];
		int i, ret = 0;

		memset(chunk, 'f', sizeof(chunk));
		sm_http_resp_on(resp, on_gone, NULL, f);
		for (i = 0; i < 100 && ret == 0; i++) {
			ret = sm_http_resp_write(resp, chunk, sizeof(chunk));
			if (!sm_http_resp_writable(resp))
				f->flood_unwritable = true;
		}
		f->flood_ret = ret;
	} else {
		sm_http_resp_set_status(resp, 404);
		sm_http_resp_send(resp, "not found\n", 10);
	}
}

static void on_done(void *ctx, const struct sm_http_response *r)
{
	struct result *res = ctx;

	res->calls++;
	res->status = r->status;
	res->body = xstrndup(r->body, r->len);
	res->error = r->error ? xstrdup(r->error) : NULL;
}

static int on_data(void *ctx, int status, const char *data, size_t len)
{
	struct result *res = ctx;

	sm_buf_add(&res->streamed, data, len);
	if (res->cancel_in_data)
		sm_http_request_cancel(res->req);
	return 0;
}

static void result_release(struct result *res)
{
	free(res->body);
	free(res->error);
	sm_buf_release(&res->streamed);
}

static void start_server(struct fixture *f, struct sm_http_server_opts *o)
{
	struct sm_err err = SM_ERR_INIT;
	struct sm_http_server_opts def = { 0 };

	if (!o)
		o = &def;
	o->listen = "127.0.0.1:0";
	o->handler = handler;
	o->ctx = f;
	assert_int_equal(sm_http_server_start(&f->loop, o, &f->srv, &err), 0);
	assert_true(sm_http_server_port(f->srv) > 0);
	sm_err_release(&err);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	uv_loop_init(&f->loop);
	uv_timer_init(&f->loop, &f->timer);
	f->timer.data = f;
	f->http = sm_http_client_new(&f->loop);
	*state = f;
	return f->http ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int r;

	sm_http_client_free(f->http);
	sm_http_server_free(f->srv);
	uv_close((uv_handle_t *)&f->timer, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	r = uv_loop_close(&f->loop);
	free(f);
	assert_int_equal(r, 0);
	return 0;
}

/* Runs the loop until *count reaches want, for at most 10 s. */
static void run_until(struct fixture *f, const int *count, int want)
{
	uint64_t deadline;

	uv_update_time(&f->loop);
	deadline = uv_now(&f->loop) + 10000;
	while (*count < want && uv_now(&f->loop) < deadline) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		poll(NULL, 0, 1);
		uv_update_time(&f->loop);
	}
	assert_int_equal(*count, want);
}

static void request(struct fixture *f, const char *method, const char *path,
		    const char *body, struct result *res, bool stream)
{
	struct sm_http_request_opts o = { 0 };
	static const char *const headers[] = { "X-Test: yes", NULL };
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s",
		 sm_http_server_port(f->srv), path);
	o.method = method;
	o.url = url;
	o.headers = headers;
	o.body = body;
	o.body_len = body ? strlen(body) : 0;
	o.timeout_ms = 10000;
	o.on_done = on_done;
	o.on_data = stream ? on_data : NULL;
	o.ctx = res;
	sm_buf_init(&res->streamed, SM_BUF_UNBOUNDED);
	assert_int_equal(sm_http_request_start(f->http, &o, &res->req), 0);
}

static int raw_connect(struct fixture *f)
{
	struct sockaddr_in sin = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)sm_http_server_port(f->srv));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void raw_send(int fd, const char *s)
{
	size_t len = strlen(s);

	assert_int_equal(send(fd, s, len, MSG_NOSIGNAL), (ssize_t)len);
}

/*
 * Runs the loop and reads from fd until out holds `until` (when not NULL)
 * or the server closes. Returns whether it closed.
 */
static bool raw_read(struct fixture *f, int fd, struct sm_buf *out,
		     const char *until)
{
	uint64_t deadline;
	char buf[4096];

	uv_update_time(&f->loop);
	deadline = uv_now(&f->loop) + 10000;
	while (uv_now(&f->loop) < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		uv_run(&f->loop, UV_RUN_NOWAIT);
		if (poll(&p, 1, 1) == 1) {
			n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno == ECONNRESET))
				return true;
			if (n > 0)
				sm_buf_add(out, buf, (size_t)n);
		}
		if (until && strstr(sm_buf_cstr(out), until))
			return false;
		uv_update_time(&f->loop);
	}
	fail_msg("nothing came: %s", sm_buf_cstr(out));
	return false;
}

static void test_get_answers_with_content_length(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };

	start_server(f, NULL);
	request(f, "GET", "/hello", NULL, &res, false);
	run_until(f, &res.calls, 1);
	assert_null(res.error);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "hello world");
	result_release(&res);
}

static void test_post_body_and_headers_reach_the_handler(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };

	start_server(f, NULL);
	request(f, "POST", "/echo?a=1&b=2", "{\"x\":1}", &res, false);
	run_until(f, &res.calls, 1);
	assert_null(res.error);
	assert_int_equal(res.status, 201);
	assert_string_equal(res.body, "POST a=1&b=2 {\"x\":1}");
	assert_string_equal(f->seen, "yes");
	result_release(&res);
}

static void test_keep_alive_reuses_the_connection(void **state)
{
	struct fixture *f = *state;
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct result a = { 0 }, b = { 0 };
	int fd;

	start_server(f, NULL);
	request(f, "GET", "/hello", NULL, &a, false);
	run_until(f, &a.calls, 1);
	request(f, "GET", "/fast", NULL, &b, false);
	run_until(f, &b.calls, 1);
	assert_string_equal(b.body, "fast");
	assert_int_equal(sm_http_server_connections(f->srv), 1);
	result_release(&a);
	result_release(&b);

	/* The same by hand: two requests, one after the other. */
	fd = raw_connect(f);
	raw_send(fd, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_false(raw_read(f, fd, &out, "fast"));
	raw_send(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_false(raw_read(f, fd, &out, "hello world"));
	assert_null(strstr(out.buf, "Connection: close"));
	close(fd);
	sm_buf_release(&out);
}

static void test_pipelined_requests_are_answered_in_order(void **state)
{
	struct fixture *f = *state;
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *slow, *fast;
	int fd;

	start_server(f, NULL);
	fd = raw_connect(f);
	/* /slow answers 30 ms later, /fast at once: order must hold. */
	raw_send(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_false(raw_read(f, fd, &out, "\r\n\r\nfast"));
	slow = strstr(out.buf, "\r\n\r\nslow");
	fast = strstr(out.buf, "\r\n\r\nfast");
	assert_non_null(slow);
	assert_true(slow < fast);
	assert_int_equal(f->handled, 2);
	close(fd);
	sm_buf_release(&out);
}

static void test_streamed_chunks_arrive_in_order(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };

	start_server(f, NULL);
	request(f, "GET", "/stream", NULL, &res, true);
	run_until(f, &res.calls, 1);
	assert_null(res.error);
	assert_int_equal(res.status, 200);
	assert_string_equal(sm_buf_cstr(&res.streamed), "0123456789");
	assert_int_equal(f->gone, 0);
	result_release(&res);
}

static void test_client_leaving_mid_stream_calls_gone(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };

	start_server(f, NULL);
	res.cancel_in_data = true;
	request(f, "GET", "/forever", NULL, &res, true);
	run_until(f, &f->gone, 1);
	assert_int_equal(res.calls, 0);
	assert_true(res.streamed.len > 0);
	assert_null(f->resp);
	result_release(&res);
}

static void test_oversized_body_gets_413_and_close(void **state)
{
	struct fixture *f = *state;
	struct sm_http_server_opts o = { .max_body = 1024 };
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char chunk[513];
	int fd, i;

	start_server(f, &o);
	fd = raw_connect(f);
	raw_send(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
		     "Content-Length: 2000\r\n\r\n0123456789");
	assert_true(raw_read(f, fd, &out, NULL));
	assert_true(strncmp(out.buf, "HTTP/1.1 413 Payload Too Large\r\n",
			    32) == 0);
	assert_non_null(strstr(out.buf, "Connection: close\r\n"));
	assert_int_equal(f->handled, 0);
	close(fd);
	sm_buf_release(&out);

	/* A chunked body goes over the limit as it arrives. */
	fd = raw_connect(f);
	sm_buf_init(&out, SM_BUF_UNBOUNDED);
	memset(chunk, 'a', 512);
	chunk[512] = '\0';
	raw_send(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < 3; i++) {
		raw_send(fd, "200\r\n"); /* 512 bytes */
		raw_send(fd, chunk);
		raw_send(fd, "\r\n");
	}
	assert_true(raw_read(f, fd, &out, NULL));
	assert_true(strncmp(out.buf, "HTTP/1.1 413 ", 13) == 0);
	assert_int_equal(f->handled, 0);
	close(fd);
	sm_buf_release(&out);
}

static void test_garbage_gets_400_and_close(void **state)
{
	struct fixture *f = *state;
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int fd;

	start_server(f, NULL);
	fd = raw_connect(f);
	raw_send(fd, "\x01\x02 NONSENSE \xff\r\n\r\n");
	assert_true(raw_read(f, fd, &out, NULL));
	assert_true(strncmp(out.buf, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
	assert_int_equal(f->handled, 0);
	close(fd);
	sm_buf_release(&out);
}

static void test_too_many_headers_get_431(void **state)
{
	struct fixture *f = *state;
	struct sm_http_server_opts o = { .max_headers = 4 };
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int fd;

	start_server(f, &o);
	fd = raw_connect(f);
	raw_send(fd, "GET /hello HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"
		     "E: 5\r\n\r\n");
	assert_true(raw_read(f, fd, &out, NULL));
	assert_true(strncmp(out.buf, "HTTP/1.1 431 ", 13) == 0);
	close(fd);
	sm_buf_release(&out);
}

static void test_idle_connection_is_closed(void **state)
{
	struct fixture *f = *state;
	struct sm_http_server_opts o = { .idle_timeout_ms = 50 };
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int fd;

	start_server(f, &o);
	fd = raw_connect(f);
	assert_true(raw_read(f, fd, &out, NULL));
	assert_int_equal(out.len, 0);
	assert_int_equal(sm_http_server_connections(f->srv), 0);
	close(fd);
	sm_buf_release(&out);
}

static void test_slow_headers_get_408(void **state)
{
	struct fixture *f = *state;
	struct sm_http_server_opts o = { .header_timeout_ms = 50 };
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int fd;

	start_server(f, &o);
	fd = raw_connect(f);
	raw_send(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n");
	assert_true(raw_read(f, fd, &out, NULL));
	assert_true(strncmp(out.buf, "HTTP/1.1 408 ", 13) == 0);
	assert_int_equal(f->handled, 0);
	close(fd);
	sm_buf_release(&out);
}

static void test_stop_with_open_connections_calls_gone(void **state)
{
	struct fixture *f = *state;
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int idle, streaming;

	start_server(f, NULL);
	idle = raw_connect(f);
	streaming = raw_connect(f);
	raw_send(streaming, "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_false(raw_read(f, streaming, &out, "tick"));
	assert_int_equal(sm_http_server_connections(f->srv), 2);
	sm_http_server_free(f->srv);
	f->srv = NULL;
	assert_int_equal(f->gone, 0); /* never from inside a call */
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->gone, 1);
	assert_true(raw_read(f, idle, &out, NULL));
	close(idle);
	close(streaming);
	sm_buf_release(&out);
}

static void test_a_client_that_does_not_read_is_dropped(void **state)
{
	struct fixture *f = *state;
	struct sm_http_server_opts o = { .write_high_water = 2048 };
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int fd;

	start_server(f, &o);
	fd = raw_connect(f);
	raw_send(fd, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until(f, &f->gone, 1);
	assert_int_equal(f->flood_ret, -ENOBUFS);
	assert_true(f->flood_unwritable);
	close(fd);
	sm_buf_release(&out);
}

static void test_drain_callback_paces_a_stream(void **state)
{
	struct fixture *f = *state;
	struct sm_http_server_opts o = { .write_high_water = 2048 };
	struct result res = { 0 };

	start_server(f, &o);
	request(f, "GET", "/paced", NULL, &res, true);
	run_until(f, &res.calls, 1);
	assert_null(res.error);
	assert_int_equal(res.streamed.len, 64000);
	assert_true(f->drains > 0);
	assert_int_equal(f->gone, 0);
	result_release(&res);
}

static void test_fed_bytes_never_crash_the_parser(void **state)
{
	static const char *const inputs[] = {
		"",
		"GET",
		"GET / HTTP/1.1\r\n\r\n",
		"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /fast "
		"HTTP/1.0\r\n\r\n",
		"POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"POST /echo HTTP/1.1\r\nContent-Length: "
		"99999999999999999999\r\n"
		"\r\n",
		"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		"zz\r\n",
		"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3\r\nabc\r\n0\r\nTrailer: t\r\n\r\n",
		"GET http://evil/ HTTP/1.1\r\n\r\n",
		"GET /\x00 HTTP/1.1\r\n\r\n",
		"GET / HTTP/9.9\r\n\r\n",
		"GET / HTTP/1.1\r\n: novalue\r\nX:\r\n\r\n",
		"GET /stream HTTP/1.1\r\n\r\n",
		"GET /upgrade HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: "
		"x\r\n\r\n"
		"junk",
	};
	struct fixture *f = *state;
	struct sm_buf out = SM_BUF_INIT(1 << 20);
	size_t i;

	start_server(f, NULL);
	for (i = 0; i < SM_ARRAY_SIZE(inputs); i++) {
		sm_buf_reset(&out);
		assert_int_equal(sm_http_server_feed(f->srv, inputs[i],
						     strlen(inputs[i]), &out),
				 0);
		uv_run(&f->loop, UV_RUN_NOWAIT);
	}
	/* Pipelined requests in one feed are all answered, in order. */
	sm_buf_reset(&out);
	sm_http_server_feed(f->srv, inputs[3], strlen(inputs[3]), &out);
	assert_non_null(strstr(out.buf, "hello world"));
	assert_true(strstr(out.buf, "hello world") < strstr(out.buf, "fast"));
	/* A chunked body with a trailer is read whole. */
	sm_buf_reset(&out);
	sm_http_server_feed(f->srv, inputs[7], strlen(inputs[7]), &out);
	assert_non_null(strstr(out.buf, "POST  abc"));
	/* Absolute URLs are not served. */
	sm_buf_reset(&out);
	sm_http_server_feed(f->srv, inputs[8], strlen(inputs[8]), &out);
	assert_true(strncmp(out.buf, "HTTP/1.1 400 ", 13) == 0);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(sm_http_server_connections(f->srv), 0);
	sm_buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_get_answers_with_content_length, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_post_body_and_headers_reach_the_handler, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keep_alive_reuses_the_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_pipelined_requests_are_answered_in_order, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_streamed_chunks_arrive_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_client_leaving_mid_stream_calls_gone, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_oversized_body_gets_413_and_close, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_garbage_gets_400_and_close,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_headers_get_431,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_connection_is_closed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_headers_get_408,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stop_with_open_connections_calls_gone, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_a_client_that_does_not_read_is_dropped, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_drain_callback_paces_a_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_fed_bytes_never_crash_the_parser, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
