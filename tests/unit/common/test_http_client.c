/*
 * Tests for common/http_client.c against a real HTTP server on a unix
 * socket, on the same libuv loop (tests/unit/common/http_test_server.c).
 * Every test ends by running the loop dry and closing it, so a handle the
 * client forgot to close fails the test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/http_client.h"
#include "common/xalloc.h"
#include "tests/unit/common/http_test_server.h"
#include "common/banned.h"

#define BIG (64 * 1024)

static void handler(void *ctx, struct tconn *c, const struct treq *r)
{
	static const char err[] =
		"{\"cause\":\"no such container\",\"message\":\"no container "
		"with name or ID \\\"x\\\" found: no such container\","
		"\"response\":500}";
	int i;

	if (strcmp(r->target, "/fixed") == 0) {
		tconn_reply(c, 200, "text/plain", "hello", 5);
	} else if (strcmp(r->target, "/echo") == 0) {
		/* Echoes method and body, so tests see what was sent. */
		tconn_sendf(c, 0,
			    "HTTP/1.1 201 Created\r\nContent-Type: "
			    "application/json\r\nContent-Length: %zu\r\n"
			    "Connection: close\r\n\r\n%s ",
			    strlen(r->method) + 1 + r->body_len, r->method);
		tconn_send(c, 0, r->body, r->body_len);
		tconn_end(c);
	} else if (strcmp(r->target, "/expect") == 0) {
		const char *has =
			strcasestr(r->head, "\r\nExpect:") ? "yes" : "no";

		tconn_reply(c, 200, "text/plain", has, strlen(has));
	} else if (strcmp(r->target, "/chunked") == 0) {
		tconn_chunked_head(c, 200, "application/octet-stream");
		tconn_chunk(c, 0, "abc", 3);
		tconn_chunk(c, 20, "defgh", 5);
		tconn_chunk(c, 20, "i", 1);
		tconn_chunk(c, 20, "jklmnopqrstuvwxyz", 17);
		tconn_send(c, 10, "0\r\n\r\n", 5);
		tconn_end(c);
	} else if (strcmp(r->target, "/slow") == 0) {
		tconn_send(c, 5000,
			   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
		tconn_end(c);
	} else if (strcmp(r->target, "/big") == 0) {
		char *body = xmalloc(BIG);

		for (i = 0; i < BIG; i++)
			body[i] = (char)('a' + i % 26);
		tconn_reply(c, 200, "text/plain", body, BIG);
		free(body);
	} else if (strcmp(r->target, "/error") == 0) {
		tconn_reply(c, 500, "application/json", err, sizeof(err) - 1);
	} else {
		tconn_reply(c, 404, "text/plain; charset=utf-8", "Not Found",
			    9);
	}
}

struct result {
	int calls;
	int status;
	int err;
	char *body;
	char *ctype;
	char *error;
	struct sm_buf streamed;
	int data_calls;
	bool cancel_in_data;
	struct sm_http_request *req;
};

static void on_done(void *ctx, const struct sm_http_response *r)
{
	struct result *res = ctx;

	res->calls++;
	res->status = r->status;
	res->err = r->err;
	res->body = xstrndup(r->body, r->len);
	res->ctype = r->content_type ? xstrdup(r->content_type) : NULL;
	res->error = r->error ? xstrdup(r->error) : NULL;
}

static int on_data(void *ctx, int status, const char *data, size_t len)
{
	struct result *res = ctx;

	res->data_calls++;
	sm_buf_add(&res->streamed, data, len);
	if (res->cancel_in_data)
		sm_http_request_cancel(res->req);
	return 0;
}

static void result_release(struct result *res)
{
	free(res->body);
	free(res->ctype);
	free(res->error);
	sm_buf_release(&res->streamed);
}

struct fixture {
	uv_loop_t loop;
	struct tsrv *srv;
	struct sm_http_client *http;
	char url[64];
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	uv_loop_init(&f->loop);
	f->srv = tsrv_start(&f->loop, handler, NULL);
	f->http = sm_http_client_new(&f->loop);
	*state = f;
	return f->http ? 0 : -1;
}

/* Frees client and server, runs the loop dry: it must close cleanly. */
static int teardown(void **state)
{
	struct fixture *f = *state;
	int r;

	sm_http_client_free(f->http);
	tsrv_stop(f->srv);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	r = uv_loop_close(&f->loop);
	free(f);
	assert_int_equal(r, 0);
	return 0;
}

/*
 * The server keeps the loop alive, so tests run it until what they wait
 * for happened, or for a while when they check that nothing happens.
 */
static void tick(uv_timer_t *t)
{
	/*
	 * Nothing: a UV_RUN_ONCE that ran a callback from its timers would
	 * otherwise block in poll for I/O that may never come.
	 */
}

static void run_until(struct fixture *f, const int *count, int want)
{
	uv_timer_t t;
	uint64_t deadline = uv_now(&f->loop) + 20000;

	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, tick, 10, 10);
	while (*count < want && uv_now(&f->loop) < deadline)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(*count, want);
}

static void stop_loop(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static void run_for(struct fixture *f, unsigned ms)
{
	uv_timer_t t;

	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, stop_loop, ms, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

static int get(struct fixture *f, const char *path, struct result *res,
	       struct sm_http_request_opts *o)
{
	struct sm_http_request_opts def = { 0 };

	if (!o)
		o = &def;
	snprintf(f->url, sizeof(f->url), "http://d%s", path);
	o->url = f->url;
	o->unix_socket = tsrv_path(f->srv);
	o->on_done = on_done;
	o->ctx = res;
	sm_buf_init(&res->streamed, SM_BUF_UNBOUNDED);
	return sm_http_request_start(f->http, o, &res->req);
}

static void test_get_gives_status_body_and_content_type(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };

	assert_int_equal(get(f, "/fixed", &res, NULL), 0);
	assert_int_equal(sm_http_client_pending(f->http), 1);
	run_until(f, &res.calls, 1);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "hello");
	assert_string_equal(res.ctype, "text/plain");
	assert_null(res.error);
	assert_int_equal(sm_http_client_pending(f->http), 0);
	result_release(&res);
}

static void test_post_sends_the_body_without_expect_continue(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 }, res2 = { 0 };
	struct sm_http_request_opts o = { 0 };
	static const char *const hdrs[] = { "Content-Type: application/json",
					    NULL };
	/* Over 1 KiB, where curl would otherwise add Expect: 100-continue. */
	char *body = xmalloc(4096);

	memset(body, 'x', 4096);
	o.method = "POST";
	o.body = body;
	o.body_len = 4096;
	o.headers = hdrs;
	assert_int_equal(get(f, "/echo", &res, &o), 0);
	/* The body was copied: the caller's memory may go at once. */
	memset(body, 'y', 4096);
	free(body);
	o.body = "1234";
	o.body_len = 4096;
	o.body_len = 4;
	assert_int_equal(get(f, "/expect", &res2, &o), 0);
	run_until(f, &res.calls, 1);
	run_until(f, &res2.calls, 1);
	assert_int_equal(res.status, 201);
	assert_int_equal(strlen(res.body), 5 + 4096);
	assert_memory_equal(res.body, "POST xxxx", 9);
	assert_string_equal(res2.body, "no");
	result_release(&res);
	result_release(&res2);
}

static void test_delete_and_bodyless_post_keep_their_method(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 }, res2 = { 0 };
	struct sm_http_request_opts o = { .method = "DELETE" };
	struct sm_http_request_opts o2 = { .method = "POST" };

	assert_int_equal(get(f, "/echo", &res, &o), 0);
	assert_int_equal(get(f, "/echo", &res2, &o2), 0);
	run_until(f, &res.calls, 1);
	run_until(f, &res2.calls, 1);
	assert_string_equal(res.body, "DELETE ");
	assert_string_equal(res2.body, "POST ");
	result_release(&res);
	result_release(&res2);
}

static void test_chunked_answer_is_buffered_whole(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };

	assert_int_equal(get(f, "/chunked", &res, NULL), 0);
	run_until(f, &res.calls, 1);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "abcdefghijklmnopqrstuvwxyz");
	result_release(&res);
}

static void test_streaming_gets_every_byte_across_chunks(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };
	struct sm_http_request_opts o = { .on_data = on_data };

	assert_int_equal(get(f, "/chunked", &res, &o), 0);
	run_until(f, &res.calls, 1);
	assert_int_equal(res.calls, 1);
	assert_null(res.error);
	assert_string_equal(sm_buf_cstr(&res.streamed),
			    "abcdefghijklmnopqrstuvwxyz");
	/* The pieces came apart in time, so they arrive in several calls. */
	assert_true(res.data_calls >= 3);
	/* Streamed bytes are not buffered as well. */
	assert_string_equal(res.body, "");
	result_release(&res);
}

static int refuse_data(void *ctx, int status, const char *data, size_t len)
{
	return -EPROTO;
}

static void test_streaming_callback_can_fail_the_request(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };
	struct sm_http_request_opts o = { .on_data = refuse_data };

	assert_int_equal(get(f, "/chunked", &res, &o), 0);
	run_until(f, &res.calls, 1);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.err, -EPROTO);
	assert_non_null(strstr(res.error, "GET http://d/chunked"));
	result_release(&res);
}

static void test_error_answers_are_buffered_even_when_streaming(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };
	struct sm_http_request_opts o = { .on_data = on_data };

	assert_int_equal(get(f, "/error", &res, &o), 0);
	run_until(f, &res.calls, 1);
	assert_int_equal(res.status, 500);
	assert_null(res.error);
	assert_int_equal(res.data_calls, 0);
	assert_non_null(strstr(res.body, "\"cause\":\"no such container\""));
	assert_string_equal(res.ctype, "application/json");
	result_release(&res);
}

static void test_answer_over_the_maximum_fails_clearly(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 }, res2 = { 0 };
	struct sm_http_request_opts o = { .max_response = 1000 };
	struct sm_http_request_opts o2 = { .max_response = BIG };

	assert_int_equal(get(f, "/big", &res, &o), 0);
	assert_int_equal(get(f, "/big", &res2, &o2), 0);
	run_until(f, &res.calls, 1);
	run_until(f, &res2.calls, 1);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.err, -EMSGSIZE);
	assert_non_null(res.error);
	assert_non_null(
		strstr(res.error, "GET http://d/big (unix socket /tmp/"));
	assert_non_null(strstr(res.error, "response larger than 1000 bytes"));
	/* Exactly the maximum fits. */
	assert_null(res2.error);
	assert_int_equal(strlen(res2.body), BIG);
	result_release(&res);
	result_release(&res2);
}

static void test_missing_socket_is_a_transport_error(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };
	struct sm_http_request_opts o = {
		.url = "http://d/v4.0.0/libpod/_ping",
		.unix_socket = "/nonexistent/podman.sock",
		.on_done = on_done,
		.ctx = &res,
	};

	assert_int_equal(sm_http_request_start(f->http, &o, NULL), 0);
	run_until(f, &res.calls, 1);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.err, -ECONNREFUSED);
	assert_non_null(strstr(res.error,
			       "GET http://d/v4.0.0/libpod/_ping (unix socket "
			       "/nonexistent/podman.sock): "));
	result_release(&res);
}

static void test_timeout_fails_a_slow_request(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };
	struct sm_http_request_opts o = { .timeout_ms = 100 };

	assert_int_equal(get(f, "/slow", &res, &o), 0);
	run_until(f, &res.calls, 1);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.err, -ETIMEDOUT);
	assert_non_null(res.error);
	result_release(&res);
}

static void cancel_later(uv_timer_t *t)
{
	struct result *res = t->data;

	sm_http_request_cancel(res->req);
	uv_close((uv_handle_t *)t, NULL);
}

static void test_cancelled_request_never_calls_back(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 }, res2 = { 0 };
	uv_timer_t t;

	/* One cancelled before it ran at all, one while it waits. */
	assert_int_equal(get(f, "/fixed", &res2, NULL), 0);
	sm_http_request_cancel(res2.req);
	assert_int_equal(get(f, "/slow", &res, NULL), 0);
	uv_timer_init(&f->loop, &t);
	t.data = &res;
	uv_timer_start(&t, cancel_later, 50, 0);
	run_for(f, 300);
	assert_int_equal(res.calls, 0);
	assert_int_equal(res2.calls, 0);
	assert_int_equal(sm_http_client_pending(f->http), 0);
	result_release(&res);
	result_release(&res2);
}

static void test_cancel_from_the_streaming_callback(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };
	struct sm_http_request_opts o = { .on_data = on_data };

	res.cancel_in_data = true;
	assert_int_equal(get(f, "/chunked", &res, &o), 0);
	run_for(f, 300);
	assert_int_equal(res.calls, 0);
	assert_int_equal(res.data_calls, 1);
	assert_string_equal(sm_buf_cstr(&res.streamed), "abc");
	result_release(&res);
}

#define MANY 50

static void test_many_concurrent_requests_all_complete(void **state)
{
	struct fixture *f = *state;
	struct result *res = xcalloc(MANY, sizeof(*res));
	int i;

	for (i = 0; i < MANY; i++)
		assert_int_equal(
			get(f, i % 2 ? "/fixed" : "/chunked", &res[i], NULL),
			0);
	assert_int_equal(sm_http_client_pending(f->http), MANY);
	for (i = 0; i < MANY; i++)
		run_until(f, &res[i].calls, 1);
	for (i = 0; i < MANY; i++) {
		assert_int_equal(res[i].calls, 1);
		assert_int_equal(res[i].status, 200);
		assert_string_equal(res[i].body, i % 2 ? "hello"
						       : "abcdefghijklmnopqrs"
							 "tuvwxyz");
		result_release(&res[i]);
	}
	assert_int_equal(tsrv_requests(f->srv), MANY);
	free(res);
}

static void test_free_with_requests_in_flight_calls_nothing(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 }, res2 = { 0 };

	assert_int_equal(get(f, "/slow", &res, NULL), 0);
	assert_int_equal(get(f, "/fixed", &res2, NULL), 0);
	/* Let the requests get onto their sockets first. */
	uv_run(&f->loop, UV_RUN_NOWAIT);
	sm_http_client_free(f->http);
	f->http = NULL;
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(res.calls, 0);
	assert_int_equal(res2.calls, 0);
	result_release(&res);
	result_release(&res2);
}

/* Starts a request (and cancels another) from inside a streaming callback. */
struct nested {
	struct fixture *f;
	struct result inner, victim;
	int data_calls;
	int done;
};

static int start_from_data(void *ctx, int status, const char *data, size_t len)
{
	struct nested *n = ctx;

	if (n->data_calls++ == 0) {
		assert_int_equal(get(n->f, "/fixed", &n->inner, NULL), 0);
		sm_http_request_cancel(n->victim.req);
	}
	return 0;
}

static void nested_done(void *ctx, const struct sm_http_response *r)
{
	struct nested *n = ctx;

	n->done++;
}

static void test_streaming_callback_may_start_and_cancel_requests(void **state)
{
	struct fixture *f = *state;
	struct nested n = { .f = f };
	struct sm_http_request_opts o = { .url = "http://d/chunked",
					  .on_data = start_from_data,
					  .on_done = nested_done,
					  .ctx = &n };

	assert_int_equal(get(f, "/slow", &n.victim, NULL), 0);
	o.unix_socket = tsrv_path(f->srv);
	assert_int_equal(sm_http_request_start(f->http, &o, NULL), 0);
	run_until(f, &n.inner.calls, 1);
	assert_int_equal(n.inner.status, 200);
	assert_string_equal(n.inner.body, "hello");
	run_until(f, &n.done, 1);
	run_for(f, 100);
	assert_int_equal(n.victim.calls, 0);
	assert_int_equal(sm_http_client_pending(f->http), 0);
	result_release(&n.inner);
	result_release(&n.victim);
}

struct relay {
	struct fixture *f;
	struct result next;
	int done;
};

static void start_next_in_done(void *ctx, const struct sm_http_response *r)
{
	struct relay *rl = ctx;

	rl->done++;
	assert_int_equal(r->status, 200);
	assert_int_equal(get(rl->f, "/chunked", &rl->next, NULL), 0);
}

static void test_completion_callback_may_start_the_next_request(void **state)
{
	struct fixture *f = *state;
	struct relay rl = { .f = f };
	struct sm_http_request_opts o = { .url = "http://d/fixed",
					  .on_done = start_next_in_done,
					  .ctx = &rl };

	o.unix_socket = tsrv_path(f->srv);
	assert_int_equal(sm_http_request_start(f->http, &o, NULL), 0);
	run_until(f, &rl.next.calls, 1);
	assert_int_equal(rl.done, 1);
	assert_string_equal(rl.next.body, "abcdefghijklmnopqrstuvwxyz");
	result_release(&rl.next);
}

struct chain {
	struct fixture *f;
	struct result first, second;
	int started;
};

static void free_client_in_done(void *ctx, const struct sm_http_response *r)
{
	struct chain *ch = ctx;

	ch->started++;
	sm_http_client_free(ch->f->http);
	ch->f->http = NULL;
}

static void test_free_from_a_completion_callback(void **state)
{
	struct fixture *f = *state;
	struct chain ch = { .f = f };
	struct sm_http_request_opts o = { .url = "http://d/fixed",
					  .on_done = free_client_in_done,
					  .ctx = &ch };

	o.unix_socket = tsrv_path(f->srv);
	assert_int_equal(sm_http_request_start(f->http, &o, NULL), 0);
	assert_int_equal(get(f, "/slow", &ch.second, NULL), 0);
	run_until(f, &ch.started, 1);
	run_for(f, 100);
	assert_int_equal(ch.started, 1);
	assert_int_equal(ch.second.calls, 0);
	result_release(&ch.second);
}

static void test_start_after_free_and_bad_options_fail(void **state)
{
	struct fixture *f = *state;
	struct sm_http_request_opts o = { .url = "http://d/fixed" };

	assert_int_equal(sm_http_request_start(f->http, &o, NULL), -EINVAL);
	o.url = NULL;
	o.on_done = on_done;
	assert_int_equal(sm_http_request_start(f->http, &o, NULL), -EINVAL);
	o.url = "http://d/fixed";
	sm_http_client_free(f->http);
	assert_int_equal(sm_http_request_start(f->http, &o, NULL), -ESHUTDOWN);
	f->http = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_get_gives_status_body_and_content_type, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_post_sends_the_body_without_expect_continue, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_delete_and_bodyless_post_keep_their_method, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_chunked_answer_is_buffered_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_streaming_gets_every_byte_across_chunks, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_streaming_callback_can_fail_the_request, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_error_answers_are_buffered_even_when_streaming,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_answer_over_the_maximum_fails_clearly, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_missing_socket_is_a_transport_error, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_timeout_fails_a_slow_request, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_cancelled_request_never_calls_back, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_cancel_from_the_streaming_callback, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_many_concurrent_requests_all_complete, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_free_with_requests_in_flight_calls_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_free_from_a_completion_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_streaming_callback_may_start_and_cancel_requests,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_completion_callback_may_start_the_next_request,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_start_after_free_and_bad_options_fail, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
