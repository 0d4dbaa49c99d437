/*
 * Tests for nodeagent/podman.c: the frame demuxer, Podman's error messages,
 * build and pull streams, wait's bare number, and the client end to end
 * against a tiny server that answers as Podman 4.3 does
 * (../shared/reference/podman-api.md).
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
#include "common/json.h"
#include "common/xalloc.h"
#include "nodeagent/podman.h"
#include "tests/unit/common/http_test_server.h"
#include "common/banned.h"

/* Demux output: stdout and stderr bytes, and how many calls. */
struct sink {
	struct sm_buf out, err;
	int calls;
};

static void sink_cb(void *ctx, enum podman_log_stream which, const char *data,
		    size_t len)
{
	struct sink *s = ctx;

	s->calls++;
	assert_true(len > 0);
	sm_buf_add(which == PODMAN_STDOUT ? &s->out : &s->err, data, len);
}

static void sink_init(struct sink *s)
{
	sm_buf_init(&s->out, SM_BUF_UNBOUNDED);
	sm_buf_init(&s->err, SM_BUF_UNBOUNDED);
	s->calls = 0;
}

static void sink_release(struct sink *s)
{
	sm_buf_release(&s->out);
	sm_buf_release(&s->err);
}

/* Observed on Podman 4.3: one stdout and one stderr frame, and an empty. */
static const char frames[] = "\1\0\0\0\0\0\0\x08out-bar\n"
			     "\2\0\0\0\0\0\0\x09"
			     "err-line\n"
			     "\1\0\0\0\0\0\0\0"
			     "\1\0\0\0\0\0\0\x03"
			     "abc";

static void test_demux_of_frames_split_at_every_offset(void **state)
{
	size_t len = sizeof(frames) - 1, cut, cut2;

	for (cut = 0; cut <= len; cut++) {
		for (cut2 = cut; cut2 <= len; cut2++) {
			struct podman_demux d = PODMAN_DEMUX_INIT;
			struct sink s;

			sink_init(&s);
			assert_int_equal(
				podman_demux_feed(&d, frames, cut, sink_cb, &s),
				0);
			assert_int_equal(podman_demux_feed(&d, frames + cut,
							   cut2 - cut, sink_cb,
							   &s),
					 0);
			assert_int_equal(podman_demux_feed(&d, frames + cut2,
							   len - cut2, sink_cb,
							   &s),
					 0);
			assert_string_equal(sm_buf_cstr(&s.out),
					    "out-bar\nabc");
			assert_string_equal(sm_buf_cstr(&s.err), "err-line\n");
			/* At a frame boundary at the end. */
			assert_int_equal(d.head_len, 0);
			sink_release(&s);
		}
	}
}

static void test_demux_of_many_frames_in_one_chunk_one_call_each(void **state)
{
	struct podman_demux d = PODMAN_DEMUX_INIT;
	struct sink s;

	sink_init(&s);
	assert_int_equal(
		podman_demux_feed(&d, frames, sizeof(frames) - 1, sink_cb, &s),
		0);
	/* The empty frame calls nothing. */
	assert_int_equal(s.calls, 3);
	sink_release(&s);
}

static void test_demux_byte_by_byte(void **state)
{
	struct podman_demux d = PODMAN_DEMUX_INIT;
	struct sink s;
	size_t i;

	sink_init(&s);
	for (i = 0; i < sizeof(frames) - 1; i++)
		assert_int_equal(
			podman_demux_feed(&d, frames + i, 1, sink_cb, &s), 0);
	assert_string_equal(sm_buf_cstr(&s.out), "out-bar\nabc");
	assert_string_equal(sm_buf_cstr(&s.err), "err-line\n");
	sink_release(&s);
}

static void test_demux_rejects_bad_headers_and_stays_failed(void **state)
{
	static const char *const bad[] = {
		"\3\0\0\0\0\0\0\1x", /* stream 3 */
		"\0\0\0\0\0\0\0\1x", /* stdin */
		"\1\0\1\0\0\0\0\1x", /* padding not zero */
		"HTTP/1.1", /* not framed at all */
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct podman_demux d = PODMAN_DEMUX_INIT;
		struct sink s;

		sink_init(&s);
		assert_int_equal(podman_demux_feed(&d, bad[i], 9, sink_cb, &s),
				 -EPROTO);
		assert_int_equal(s.calls, 0);
		assert_int_equal(podman_demux_feed(&d, frames, 16, sink_cb, &s),
				 -EPROTO);
		assert_int_equal(s.calls, 0);
		sink_release(&s);
	}
}

static char *format(int status, const char *body)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *j = json_loads(body, JSON_DECODE_ANY, NULL);
	const char *cause = NULL;
	char *s;

	podman__format_error(&b, "POST", "/containers/web-1-main/start", status,
			     j, body, strlen(body), &cause);
	if (cause)
		sm_buf_addf(&b, " [%s]", cause);
	json_decref(j);
	s = sm_buf_detach(&b, NULL);
	return s;
}

static void test_error_message_has_cause_and_message(void **state)
{
	char *s = format(500, "{\"cause\":\"no such container\",\"message\":"
			      "\"no container with name or ID "
			      "\\\"web-1-main\\\" found: no such "
			      "container\",\"response\":404}");

	assert_string_equal(s, "POST /containers/web-1-main/start: 500: no "
			       "such container (no container with name or ID "
			       "\"web-1-main\" found: no such container) "
			       "[no such container]");
	free(s);
}

static void test_error_message_falls_back_to_what_there_is(void **state)
{
	char *s;

	s = format(404, "Not Found\n");
	assert_string_equal(
		s, "POST /containers/web-1-main/start: 404: Not Found");
	free(s);
	s = format(500, "{\"cause\":\"x\",\"message\":\"x\"}");
	assert_string_equal(s, "POST /containers/web-1-main/start: 500: x [x]");
	free(s);
	s = format(409, "{\"Errs\":[\"starting container 1: boom\"],"
			"\"Id\":\"1\"}");
	assert_string_equal(s, "POST /containers/web-1-main/start: 409: "
			       "starting container 1: boom");
	free(s);
	s = format(502, "");
	assert_string_equal(
		s, "POST /containers/web-1-main/start: 502: empty answer");
	free(s);
}

static const char build_ok[] =
	"{\"stream\":\"STEP 1/3: FROM scratch\\n\"}\n"
	"{\"stream\":\"STEP 2/3: COPY busybox /bin/busybox\\n\"}\n"
	"{\"stream\":\"COMMIT localhost/app:1\\n\"}\n"
	"{\"stream\":\"--> 0ec78242540\\n\"}\n"
	"{\"stream\":\"Successfully tagged localhost/app:1\\n\"}\n"
	"{\"stream\":"
	"\"0ec78242540a1e6e3d3e9f2c8b1f7f0d6c0c9a4a1b2c3d4e5f6a7b8c9"
	"d0e1f2a\\n\"}\n";

static const char build_failed[] =
	"{\"stream\":\"STEP 1/2: FROM localhost/busybox:1\\n\"}\n"
	"{\"stream\":\"STEP 2/2: RUN exit 3\\n\"}\n"
	"{\"errorDetail\":{\"message\":\"building at STEP \\\"RUN exit 3\\\": "
	"while running runtime: exit status 3\"},\"error\":\"building at STEP "
	"\\\"RUN exit 3\\\": while running runtime: exit status 3\"}\n";

static void test_build_stream_success_gives_the_image_id(void **state)
{
	struct sm_buf err = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char *id = NULL;

	assert_int_equal(
		podman__build_result(build_ok, sizeof(build_ok) - 1, &id, &err),
		0);
	assert_string_equal(id, "0ec78242540a1e6e3d3e9f2c8b1f7f0d6c0c9a4a1b2c3"
				"d4e5f6a7b8c9d0e1f2a");
	assert_int_equal(err.len, 0);
	free(id);
}

static void test_build_stream_failure_gives_error_detail(void **state)
{
	struct sm_buf err = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char *id = NULL;

	assert_int_equal(podman__build_result(build_failed,
					      sizeof(build_failed) - 1, &id,
					      &err),
			 -EIO);
	assert_null(id);
	assert_string_equal(sm_buf_cstr(&err),
			    "building at STEP \"RUN exit 3\": while running "
			    "runtime: exit status 3");
	sm_buf_release(&err);
	/* A stream cut short is no success either. */
	assert_int_equal(podman__build_result(build_ok, 60, &id, &err), -EIO);
	assert_non_null(strstr(sm_buf_cstr(&err), "without an image id"));
	sm_buf_release(&err);
}

static void test_wait_body_is_a_bare_number(void **state)
{
	int code = -5;

	assert_int_equal(podman__parse_exit_code("137", 3, &code), 0);
	assert_int_equal(code, 137);
	assert_int_equal(podman__parse_exit_code("0\n", 2, &code), 0);
	assert_int_equal(code, 0);
	assert_int_equal(podman__parse_exit_code("", 0, &code), -EPROTO);
	assert_int_equal(podman__parse_exit_code("{\"a\":1}", 7, &code),
			 -EPROTO);
	assert_int_equal(podman__parse_exit_code("12x", 3, &code), -EPROTO);
	assert_int_equal(podman__parse_exit_code("99999", 5, &code), -EPROTO);
}

/* Pull streams as Podman 4.3 writes them, for a good and a bad pull. */
static const char pull_ok[] =
	"{\"stream\":\"Trying to pull 127.0.0.1:5000/demo/app:1...\\n\"}\n"
	"{\"stream\":\"Writing manifest to image destination\\n\"}\n"
	"{\"images\":[\"181181c24d91\"],\"id\":\"181181c24d91\"}\n";
static const char pull_failed[] =
	"{\"stream\":\"Trying to pull 127.0.0.1:5000/demo/nope:1...\\n\"}\n"
	"{\"error\":\"initializing source docker://127.0.0.1:5000/demo/"
	"nope:1: reading manifest 1 in 127.0.0.1:5000/demo/nope: manifest "
	"unknown: manifest unknown\"}\n";

/*
 * Exec in the fake: the session's id is its command's first word, which
 * says how the session behaves:
 *   split   101, head and frames cut into pieces across reads, then
 *           Running true at the first look, exit 0 at the next;
 *   plain   200 (no upgrade headers), head and frames in one write, exit 3;
 *   echo    101, echoes stdin as stdout frames, "eof\n" on stderr at the
 *           half-close, then ends, exit 7;
 *   hang    101, one frame, then nothing until the client goes;
 *   gone    start answers 404 no such exec session.
 * Creating one in container "stopped" is 500 container state improper.
 */
static int exec_json_calls;
static char network_create_body[512];
static char exec_create_body[512];

static const char exec_head_101[] =
	"HTTP/1.1 101 UPGRADED\r\n"
	"Content-Type: application/vnd.docker.raw-stream\r\n"
	"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n";

static void fake_exec_create(struct tconn *c, const struct treq *r,
			     const char *t)
{
	static const char improper[] =
		"{\"cause\":\"container state improper\",\"message\":\"can "
		"only create exec sessions on running containers: container "
		"state improper\",\"response\":500}";
	json_t *spec = json_loadb(r->body, r->body_len, 0, NULL);
	const char *cmd = json_string_value(
		json_array_get(json_object_get(spec, "Cmd"), 0));
	char body[128];

	snprintf(exec_create_body, sizeof(exec_create_body), "%.*s",
		 (int)r->body_len, r->body);
	if (strcmp(t, "/containers/stopped/exec") == 0) {
		tconn_reply(c, 500, "application/json", improper,
			    sizeof(improper) - 1);
	} else {
		snprintf(body, sizeof(body), "{\"Id\":\"%s\"}",
			 cmd ? cmd : "none");
		tconn_reply(c, 201, "application/json", body, strlen(body));
	}
	json_decref(spec);
}

/* The echo session: each piece of stdin back as a stdout frame. */
static void echo_input(void *ctx, struct tconn *c, const char *data, size_t len)
{
	unsigned char h[8] = { 1, 0, 0, 0, 0, 0, 0, 0 };

	if (!data) {
		tconn_send(c, 0, "\2\0\0\0\0\0\0\4eof\n", 12);
		tconn_end(c);
		return;
	}
	h[6] = (unsigned char)(len >> 8);
	h[7] = (unsigned char)len;
	tconn_send(c, 0, h, 8);
	tconn_send(c, 0, data, len);
}

static void fake_exec(struct tconn *c, const struct treq *r, const char *t)
{
	static const char nosuch[] =
		"{\"cause\":\"no such exec session\",\"message\":\"no such "
		"exec session\",\"response\":404}";
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	size_t n = strlen(exec_head_101), i;

	if (strcmp(t, "split/start") == 0) {
		/* Pieces 10 ms apart arrive in separate reads. */
		tconn_send(c, 0, exec_head_101, 20);
		tconn_send(c, 10, exec_head_101 + 20, n - 20);
		for (i = 0; i < sizeof(frames) - 1; i += 7)
			tconn_send(c, 10, frames + i,
				   sizeof(frames) - 1 - i < 7
					   ? sizeof(frames) - 1 - i
					   : 7);
		tconn_end(c);
	} else if (strcmp(t, "plain/start") == 0) {
		sm_buf_adds(&b, "HTTP/1.1 200 OK\r\nContent-Type: "
				"application/vnd.docker.raw-stream\r\n\r\n");
		sm_buf_add(&b, frames, sizeof(frames) - 1);
		tconn_send(c, 0, b.buf, b.len);
		tconn_end(c);
	} else if (strcmp(t, "echo/start") == 0) {
		tconn_send(c, 0, exec_head_101, n);
		tconn_on_input(c, echo_input, NULL);
	} else if (strcmp(t, "hang/start") == 0) {
		tconn_send(c, 0, exec_head_101, n);
		tconn_send(c, 0, frames, 16);
	} else if (strcmp(t, "gone/start") == 0) {
		tconn_reply(c, 404, "application/json", nosuch,
			    sizeof(nosuch) - 1);
	} else if (strcmp(t, "split/json") == 0) {
		const char *body =
			exec_json_calls++ == 0
				? "{\"Running\":true,\"ExitCode\":0}"
				: "{\"Running\":false,\"ExitCode\":0}";

		tconn_reply(c, 200, "application/json", body, strlen(body));
	} else if (strcmp(t, "plain/json") == 0 ||
		   strcmp(t, "echo/json") == 0) {
		const char *body =
			t[0] == 'p' ? "{\"Running\":false,\"ExitCode\":3}"
				    : "{\"Running\":false,\"ExitCode\":7}";

		tconn_reply(c, 200, "application/json", body, strlen(body));
	} else {
		tconn_reply(c, 404, "application/json", nosuch,
			    sizeof(nosuch) - 1);
	}
	sm_buf_release(&b);
}

/* A fake Podman with canned answers from the reference. */
static void fake_podman(void *ctx, struct tconn *c, const struct treq *r)
{
	static const char nosuch[] =
		"{\"cause\":\"no such container\",\"message\":\"no container "
		"with name or ID \\\"nope\\\" found: no such container\","
		"\"response\":404}";
	const char *t = r->target;

	if (strncmp(t, "/v4.0.0/libpod", 14) != 0) {
		tconn_reply(c, 404, "text/plain; charset=utf-8", "Not Found",
			    9);
		return;
	}
	t += 14;
	if (strcmp(t, "/_ping") == 0) {
		tconn_reply(c, 200, "text/plain; charset=utf-8", "OK", 2);
	} else if (strcmp(t, "/containers/web/start") == 0) {
		tconn_reply(c, 304, "text/plain", "", 0);
	} else if (strcmp(t, "/containers/nope/start") == 0) {
		tconn_reply(c, 404, "application/json", nosuch,
			    sizeof(nosuch) - 1);
	} else if (strcmp(t, "/containers/web/kill?signal=SIGKILL") == 0) {
		/* 304 means "already so" for start and stop only. */
		tconn_reply(c, 304, "text/plain", "", 0);
	} else if (strcmp(t, "/containers/web/"
			     "wait?condition=stopped&interval=20ms") == 0) {
		tconn_reply(c, 200, "application/json", "137\n", 4);
	} else if (strncmp(t, "/build?t=localhost%2Fapp%3A1&", 29) == 0) {
		const char *out = r->body_len == 3 ? build_failed : build_ok;

		/* Cut inside a line: the client must read whole lines. */
		tconn_chunked_head(c, 200, "application/json");
		tconn_chunk(c, 0, out, 50);
		tconn_chunk(c, 10, out + 50, strlen(out) - 50);
		tconn_send(c, 10, "0\r\n\r\n", 5);
		tconn_end(c);
	} else if (strcmp(t, "/images/pull?reference=127.0.0.1%3A5000%2Fdemo"
			     "%2Fapp%3A1&policy=newer&tlsVerify=false") == 0) {
		tconn_chunked_head(c, 200, "application/json");
		tconn_chunk(c, 0, pull_ok, 40);
		tconn_chunk(c, 10, pull_ok + 40, strlen(pull_ok) - 40);
		tconn_send(c, 10, "0\r\n\r\n", 5);
		tconn_end(c);
	} else if (strcmp(t,
			  "/images/pull?reference=127.0.0.1%3A5000%2Fdemo"
			  "%2Fnope%3A1&policy=missing&tlsVerify=true") == 0) {
		tconn_reply(c, 200, "application/json", pull_failed,
			    strlen(pull_failed));
	} else if (strncmp(t, "/containers/web/logs?", 21) == 0) {
		tconn_chunked_head(c, 200, "application/octet-stream");
		tconn_chunk(c, 0, frames, 5);
		tconn_chunk(c, 10, frames + 5, 20);
		tconn_chunk(c, 10, frames + 25, sizeof(frames) - 26);
		tconn_send(c, 10, "0\r\n\r\n", 5);
		tconn_end(c);
	} else if (strncmp(t, "/containers/", 12) == 0 && strstr(t, "/exec") &&
		   strcmp(r->method, "POST") == 0) {
		fake_exec_create(c, r, t);
	} else if (strncmp(t, "/exec/", 6) == 0) {
		fake_exec(c, r, t + 6);
	} else if (strcmp(t, "/networks/stuurman/json") == 0) {
		static const char nf[] = "{\"cause\":\"network not found\","
					 "\"message\":\"network not found\","
					 "\"response\":404}";

		tconn_reply(c, 404, "application/json", nf, sizeof(nf) - 1);
	} else if (strcmp(t, "/networks/create") == 0 &&
		   strcmp(r->method, "POST") == 0) {
		/* Observed: the new network as it is stored; 409 if taken. */
		static const char taken[] =
			"{\"cause\":\"network already exists\",\"message\":"
			"\"network name taken already used: network already "
			"exists\",\"response\":409}";
		json_t *spec = json_loadb(r->body, r->body_len, 0, NULL);
		const char *name = sm_json_get_str(spec, "name");

		snprintf(network_create_body, sizeof(network_create_body),
			 "%.*s", (int)r->body_len, r->body);
		if (name && strcmp(name, "taken") == 0) {
			tconn_reply(c, 409, "application/json", taken,
				    sizeof(taken) - 1);
		} else {
			char *out;

			json_object_set_new(
				spec, "ipam_options",
				json_pack("{s:s}", "driver", "host-local"));
			out = json_dumps(spec, JSON_COMPACT);
			tconn_reply(c, 200, "application/json", out,
				    strlen(out));
			free(out);
		}
		json_decref(spec);
	} else if (strncmp(t, "/events?stream=true", 19) == 0) {
		static const char *const ev[] = {
			"{\"status\":\"start\",\"id\":\"a\"}\n{\"sta",
			"tus\":\"died\",\"id\":\"a\",",
			"\"Actor\":{}}\n{\"status\":\"cleanup\"}",
		};
		size_t i;

		tconn_chunked_head(c, 200, "application/json");
		for (i = 0; i < 3; i++)
			tconn_chunk(c, i ? 10 : 0, ev[i], strlen(ev[i]));
		tconn_send(c, 10, "0\r\n\r\n", 5);
		tconn_end(c);
	} else {
		tconn_reply(c, 404, "text/plain; charset=utf-8", "Not Found",
			    9);
	}
}

struct fixture {
	uv_loop_t loop;
	struct tsrv *srv;
	struct podman *p;
};

struct got {
	int calls;
	bool ok;
	int status;
	int exit_code;
	char *error;
	char *cause;
	char *id;
	struct sink logs;
	char events[8][16];
	int nevents;
	struct podman_stream *stream;
	bool close_on_died;
};

static void got_reply(struct got *g, const struct podman_reply *r)
{
	const char *id = sm_json_get_str(r->json, "Id");

	g->calls++;
	g->ok = r->ok;
	g->status = r->status;
	g->error = r->error ? xstrdup(r->error) : NULL;
	g->cause = r->cause ? xstrdup(r->cause) : NULL;
	g->id = id ? xstrdup(id) : NULL;
	assert_true(r->ok == !r->error);
}

static void on_reply(void *ctx, const struct podman_reply *r)
{
	got_reply(ctx, r);
}

/* A pull's json is {"images": [...], "id": ...}: its id is the image's. */
static void on_pull(void *ctx, const struct podman_reply *r)
{
	struct got *g = ctx;

	got_reply(g, r);
	if (r->ok) {
		const char *id = sm_json_get_str(r->json, "id");

		assert_non_null(id);
		g->id = xstrdup(id);
	}
}

static void on_wait(void *ctx, const struct podman_wait_reply *r)
{
	struct got *g = ctx;

	got_reply(g, &r->r);
	g->exit_code = r->exit_code;
}

static void on_event(void *ctx, json_t *ev)
{
	struct got *g = ctx;
	const char *s = sm_json_get_str(ev, "status");

	assert_true(g->nevents < 8);
	snprintf(g->events[g->nevents++], 16, "%s", s ? s : "?");
	if (g->close_on_died && s && strcmp(s, "died") == 0)
		podman_stream_close(g->stream);
}

static void got_release(struct got *g)
{
	free(g->error);
	free(g->cause);
	free(g->id);
	sink_release(&g->logs);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	uv_loop_init(&f->loop);
	f->srv = tsrv_start(&f->loop, fake_podman, NULL);
	f->p = podman_new(&f->loop, tsrv_path(f->srv));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int r;

	podman_free(f->p);
	tsrv_stop(f->srv);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	r = uv_loop_close(&f->loop);
	free(f);
	assert_int_equal(r, 0);
	return 0;
}

static void tick(uv_timer_t *t)
{
	/* Keeps UV_RUN_ONCE from blocking in poll after a timer callback. */
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

static void test_ping_and_304_start_are_ok(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 }, b = { 0 }, c = { 0 };

	assert_int_equal(podman_ping(f->p, on_reply, &a), 0);
	assert_int_equal(podman_container_start(f->p, "web", on_reply, &b), 0);
	assert_int_equal(podman_container_kill(f->p, "web", NULL, on_reply, &c),
			 0);
	run_until(f, &a.calls, 1);
	run_until(f, &b.calls, 1);
	run_until(f, &c.calls, 1);
	assert_true(a.ok);
	assert_int_equal(a.status, 200);
	assert_true(b.ok);
	assert_int_equal(b.status, 304);
	assert_false(c.ok);
	assert_string_equal(c.error,
			    "POST /containers/web/kill: 304: empty answer");
	got_release(&a);
	got_release(&b);
	got_release(&c);
}

static void test_podman_error_comes_back_with_its_cause(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 };

	assert_int_equal(podman_container_start(f->p, "nope", on_reply, &a), 0);
	run_until(f, &a.calls, 1);
	assert_false(a.ok);
	assert_int_equal(a.status, 404);
	assert_string_equal(a.cause, "no such container");
	assert_string_equal(a.error,
			    "POST /containers/nope/start: 404: no such "
			    "container (no container with name or ID \"nope\" "
			    "found: no such container)");
	got_release(&a);
}

static void on_network(void *ctx, const struct podman_reply *r)
{
	struct got *g = ctx;
	const char *name = sm_json_get_str(r->json, "name");

	got_reply(g, r);
	if (name)
		g->id = xstrdup(name);
}

static void test_network_inspect_create_and_a_name_taken(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 }, b = { 0 }, c = { 0 };
	json_t *spec = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:b}", "name",
				 "stuurman", "driver", "bridge", "subnets",
				 "subnet", "10.244.0.0/16", "gateway",
				 "10.244.0.1", "dns_enabled", 0);
	json_t *sent;

	assert_int_equal(
		podman_network_inspect(f->p, "stuurman", on_network, &a), 0);
	run_until(f, &a.calls, 1);
	assert_false(a.ok);
	assert_int_equal(a.status, 404);
	assert_string_equal(a.cause, "network not found");

	assert_int_equal(podman_network_create(f->p, spec, on_network, &b), 0);
	run_until(f, &b.calls, 1);
	assert_true(b.ok);
	assert_string_equal(b.id, "stuurman");
	sent = json_loads(network_create_body, 0, NULL);
	assert_true(json_equal(sent, spec));
	json_decref(sent);

	json_object_set_new(spec, "name", json_string("taken"));
	assert_int_equal(podman_network_create(f->p, spec, on_network, &c), 0);
	run_until(f, &c.calls, 1);
	assert_false(c.ok);
	assert_int_equal(c.status, 409);
	assert_string_equal(c.cause, "network already exists");
	json_decref(spec);
	got_release(&a);
	got_release(&b);
	got_release(&c);
}

static void test_wait_reads_the_exit_code(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 };

	assert_int_equal(podman_container_wait(f->p, "web", on_wait, &a), 0);
	run_until(f, &a.calls, 1);
	assert_true(a.ok);
	assert_int_equal(a.exit_code, 137);
	got_release(&a);
}

static void test_build_is_ok_only_with_an_image_id(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 }, b = { 0 };

	/* The fake fails builds whose context is 3 bytes long. */
	assert_int_equal(podman_image_build(f->p, "localhost/app:1", "tar!", 4,
					    on_reply, &a),
			 0);
	assert_int_equal(podman_image_build(f->p, "localhost/app:1", "bad", 3,
					    on_reply, &b),
			 0);
	run_until(f, &a.calls, 1);
	run_until(f, &b.calls, 1);
	assert_true(a.ok);
	assert_string_equal(a.id,
			    "0ec78242540a1e6e3d3e9f2c8b1f7f0d6c0c9a4a1b2c3"
			    "d4e5f6a7b8c9d0e1f2a");
	assert_false(b.ok);
	assert_int_equal(b.status, 200);
	assert_string_equal(b.error, "POST /build: build failed: building at "
				     "STEP \"RUN exit 3\": while running "
				     "runtime: exit status 3");
	got_release(&a);
	got_release(&b);
}

static void test_pull_asks_for_its_policy_and_gives_the_image_id(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 };
	const char *ref = "127.0.0.1:5000/demo/app:1";

	assert_int_equal(podman_image_pull(f->p, ref, PODMAN_PULL_NEWER, false,
					   on_pull, &a),
			 0);
	run_until(f, &a.calls, 1);
	assert_true(a.ok);
	assert_string_equal(a.id, "181181c24d91");
	got_release(&a);
}

static void test_pull_failure_comes_back_with_podmans_error(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 };
	const char *ref = "127.0.0.1:5000/demo/nope:1";

	assert_int_equal(podman_image_pull(f->p, ref, PODMAN_PULL_MISSING, true,
					   on_pull, &a),
			 0);
	run_until(f, &a.calls, 1);
	assert_false(a.ok);
	assert_int_equal(a.status, 200);
	assert_null(a.id);
	assert_string_equal(a.error,
			    "POST /images/pull: pull failed: initializing "
			    "source docker://127.0.0.1:5000/demo/nope:1: "
			    "reading manifest 1 in 127.0.0.1:5000/demo/nope: "
			    "manifest unknown: manifest unknown");
	got_release(&a);
}

static void test_pull_with_an_unknown_policy_calls_nothing(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 };

	assert_int_equal(podman_image_pull(f->p, "127.0.0.1:5000/demo/app:1",
					   (enum podman_pull_policy)7, false,
					   on_pull, &a),
			 -EINVAL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(a.calls, 0);
}

static void on_log(void *ctx, enum podman_log_stream which, const char *data,
		   size_t len)
{
	struct got *g = ctx;

	sink_cb(&g->logs, which, data, len);
}

static void test_logs_reach_the_callback_in_order(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 };
	struct podman_log_opts o = { .follow = true, .tail = 10 };

	sink_init(&a.logs);
	assert_non_null(podman_logs(f->p, "web", &o, on_log, on_reply, &a));
	run_until(f, &a.calls, 1);
	assert_true(a.ok);
	assert_string_equal(sm_buf_cstr(&a.logs.out), "out-bar\nabc");
	assert_string_equal(sm_buf_cstr(&a.logs.err), "err-line\n");
	got_release(&a);
}

static void test_events_split_across_chunks_are_whole(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 };
	json_t *filters = json_pack("{s:[s]}", "type", "container");

	sink_init(&a.logs);
	assert_non_null(podman_events(f->p, filters, on_event, on_reply, &a));
	json_decref(filters);
	run_until(f, &a.calls, 1);
	if (a.error)
		print_message("%s\n", a.error);
	assert_true(a.ok);
	assert_int_equal(a.nevents, 3);
	assert_string_equal(a.events[0], "start");
	assert_string_equal(a.events[1], "died");
	/* The last one came without its newline. */
	assert_string_equal(a.events[2], "cleanup");
	got_release(&a);
}

static void stop_loop(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static void test_closing_a_stream_from_its_callback_stops_it(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 };
	uv_timer_t t;

	sink_init(&a.logs);
	a.close_on_died = true;
	a.stream = podman_events(f->p, NULL, on_event, on_reply, &a);
	assert_non_null(a.stream);
	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, stop_loop, 300, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(a.nevents, 2);
	assert_int_equal(a.calls, 0);
	got_release(&a);
}

static void test_free_with_calls_in_flight_calls_nothing(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 }, b = { 0 };

	sink_init(&b.logs);
	assert_int_equal(podman_ping(f->p, on_reply, &a), 0);
	assert_non_null(podman_events(f->p, NULL, on_event, on_reply, &b));
	uv_run(&f->loop, UV_RUN_NOWAIT);
	podman_free(f->p);
	f->p = NULL;
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 0);
	got_release(&a);
	got_release(&b);
}

static struct fixture *freeing_fixture;

static void free_client_on_event(void *ctx, json_t *ev)
{
	struct got *g = ctx;

	g->nevents++;
	podman_free(freeing_fixture->p);
	freeing_fixture->p = NULL;
}

static void test_free_from_an_event_callback(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 }, b = { 0 };
	uv_timer_t t;

	sink_init(&a.logs);
	sink_init(&b.logs);
	freeing_fixture = f;
	assert_non_null(
		podman_events(f->p, NULL, free_client_on_event, on_reply, &a));
	/* A slow call still in flight when the client goes. */
	assert_int_equal(podman_container_wait(f->p, "web", on_wait, &b), 0);
	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, stop_loop, 300, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(a.nevents, 1);
	assert_int_equal(a.calls, 0);
	assert_null(f->p);
	got_release(&a);
	got_release(&b);
}

static void test_missing_socket_has_status_0(void **state)
{
	struct fixture *f = *state;
	struct got a = { 0 };

	podman_free(f->p);
	f->p = podman_new(&f->loop, "/nonexistent/podman.sock");
	assert_int_equal(podman_ping(f->p, on_reply, &a), 0);
	run_until(f, &a.calls, 1);
	assert_false(a.ok);
	assert_int_equal(a.status, 0);
	assert_non_null(strstr(a.error, "/nonexistent/podman.sock"));
	got_release(&a);
}

struct exec_got {
	struct got g;
	int exit_code;
	struct podman_exec *e;
	bool cancel_on_output;
};

static void on_exec_out(void *ctx, enum podman_log_stream which,
			const char *data, size_t len)
{
	struct exec_got *x = ctx;

	sink_cb(&x->g.logs, which, data, len);
	if (x->cancel_on_output) {
		podman_exec_cancel(x->e);
		x->g.calls++; /* counts as the end of this test's wait */
	}
}

static void on_exec_done(void *ctx, const struct podman_reply *r, int exit_code)
{
	struct exec_got *x = ctx;

	got_reply(&x->g, r);
	x->exit_code = exit_code;
}

static struct podman_exec *exec_run(struct fixture *f, const char *container,
				    const char *cmd, bool attach_stdin,
				    struct exec_got *x)
{
	const char *argv[] = { cmd, "-c", "x", NULL };
	const char *env[] = { "A=1", NULL };
	struct podman_exec_opts o = {
		.cmd = argv,
		.env = env,
		.working_dir = "/work",
		.attach_stdin = attach_stdin,
	};

	sink_init(&x->g.logs);
	x->exit_code = -5;
	exec_json_calls = 0;
	x->e = podman_exec(f->p, container, &o, on_exec_out, on_exec_done, x);
	return x->e;
}

static void test_exec_frames_split_across_reads_and_a_101_head(void **state)
{
	struct fixture *f = *state;
	struct exec_got x = { 0 };
	json_t *spec;

	assert_non_null(exec_run(f, "web", "split", false, &x));
	run_until(f, &x.g.calls, 1);
	if (x.g.error)
		print_message("%s\n", x.g.error);
	assert_true(x.g.ok);
	assert_int_equal(x.exit_code, 0);
	assert_string_equal(sm_buf_cstr(&x.g.logs.out), "out-bar\nabc");
	assert_string_equal(sm_buf_cstr(&x.g.logs.err), "err-line\n");
	/* Running was true at the first look: it was asked again. */
	assert_int_equal(exec_json_calls, 2);
	/* The create body has Podman's capitalised, Docker-style keys. */
	spec = json_loads(exec_create_body, 0, NULL);
	assert_non_null(spec);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(spec, "Cmd"), 0)),
			    "split");
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(spec, "Env"), 0)),
			    "A=1");
	assert_string_equal(sm_json_get_str(spec, "WorkingDir"), "/work");
	assert_true(json_is_false(json_object_get(spec, "AttachStdin")));
	assert_true(json_is_true(json_object_get(spec, "AttachStdout")));
	assert_true(json_is_false(json_object_get(spec, "Tty")));
	json_decref(spec);
	got_release(&x.g);
}

static void test_exec_with_a_200_head_gives_the_exit_code(void **state)
{
	struct fixture *f = *state;
	struct exec_got x = { 0 };

	assert_non_null(exec_run(f, "web", "plain", false, &x));
	run_until(f, &x.g.calls, 1);
	assert_true(x.g.ok);
	assert_int_equal(x.exit_code, 3);
	assert_string_equal(sm_buf_cstr(&x.g.logs.out), "out-bar\nabc");
	assert_string_equal(sm_buf_cstr(&x.g.logs.err), "err-line\n");
	got_release(&x.g);
}

static void test_exec_stdin_reaches_the_command_and_closes(void **state)
{
	struct fixture *f = *state;
	struct exec_got x = { 0 };
	struct podman_exec *e = exec_run(f, "web", "echo", true, &x);

	assert_non_null(e);
	/* Written before the session started: sent once it has. */
	assert_int_equal(podman_exec_write(e, "hello ", 6), 0);
	assert_int_equal(podman_exec_write(e, "world\n", 6), 0);
	assert_int_equal(podman_exec_close_stdin(e), 0);
	assert_int_equal(podman_exec_write(e, "late", 4), -EPIPE);
	assert_int_equal(podman_exec_close_stdin(e), -EPIPE);
	/* The fake answers the half-close with "eof" and ends. */
	run_until(f, &x.g.calls, 1);
	assert_true(x.g.ok);
	assert_int_equal(x.exit_code, 7);
	assert_string_equal(sm_buf_cstr(&x.g.logs.out), "hello world\n");
	assert_string_equal(sm_buf_cstr(&x.g.logs.err), "eof\n");
	got_release(&x.g);
}

static void test_exec_without_stdin_refuses_writes(void **state)
{
	struct fixture *f = *state;
	struct exec_got x = { 0 };
	struct podman_exec *e = exec_run(f, "web", "plain", false, &x);

	assert_non_null(e);
	assert_int_equal(podman_exec_write(e, "x", 1), -EINVAL);
	assert_int_equal(podman_exec_close_stdin(e), -EINVAL);
	run_until(f, &x.g.calls, 1);
	assert_true(x.g.ok);
	got_release(&x.g);
}

static void test_exec_in_a_stopped_container_fails_with_cause(void **state)
{
	struct fixture *f = *state;
	struct exec_got x = { 0 };

	assert_non_null(exec_run(f, "stopped", "split", false, &x));
	run_until(f, &x.g.calls, 1);
	assert_false(x.g.ok);
	assert_int_equal(x.g.status, 500);
	assert_int_equal(x.exit_code, -1);
	assert_string_equal(x.g.cause, "container state improper");
	assert_string_equal(x.g.error,
			    "POST /containers/stopped/exec: 500: container "
			    "state improper (can only create exec sessions on "
			    "running containers: container state improper)");
	assert_int_equal(x.g.logs.calls, 0);
	got_release(&x.g);
}

static void test_exec_start_error_comes_back_with_its_cause(void **state)
{
	struct fixture *f = *state;
	struct exec_got x = { 0 };

	assert_non_null(exec_run(f, "web", "gone", false, &x));
	run_until(f, &x.g.calls, 1);
	assert_false(x.g.ok);
	assert_int_equal(x.g.status, 404);
	assert_string_equal(x.g.cause, "no such exec session");
	assert_string_equal(x.g.error, "POST /exec/gone/start: 404: no such "
				       "exec session");
	got_release(&x.g);
}

static void test_exec_cancelled_from_its_output_calls_nothing_more(void **state)
{
	struct fixture *f = *state;
	struct exec_got x = { 0 };

	x.cancel_on_output = true;
	assert_non_null(exec_run(f, "web", "hang", false, &x));
	run_until(f, &x.g.calls, 1);
	/* The session is gone: the fake's connection closes, nothing runs. */
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(x.g.calls, 1);
	assert_int_equal(x.g.logs.calls, 1);
	assert_int_equal(x.exit_code, -5);
	assert_string_equal(sm_buf_cstr(&x.g.logs.out), "out-bar\n");
	got_release(&x.g);
}

static void test_exec_in_flight_when_the_client_goes(void **state)
{
	struct fixture *f = *state;
	struct exec_got x = { 0 }, y = { 0 };
	uv_timer_t t;

	assert_non_null(exec_run(f, "web", "hang", false, &x));
	assert_non_null(exec_run(f, "web", "plain", false, &y));
	podman_free(f->p);
	f->p = NULL;
	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, stop_loop, 100, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(x.g.calls + y.g.calls, 0);
	assert_int_equal(x.g.logs.calls + y.g.logs.calls, 0);
	got_release(&x.g);
	got_release(&y.g);
}

static void test_exec_without_a_command_calls_nothing(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = { NULL };
	struct podman_exec_opts o = { .cmd = argv };
	struct exec_got x = { 0 };

	assert_null(
		podman_exec(f->p, "web", &o, on_exec_out, on_exec_done, &x));
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(x.g.calls, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demux_of_frames_split_at_every_offset),
		cmocka_unit_test(
			test_demux_of_many_frames_in_one_chunk_one_call_each),
		cmocka_unit_test(test_demux_byte_by_byte),
		cmocka_unit_test(
			test_demux_rejects_bad_headers_and_stays_failed),
		cmocka_unit_test(test_error_message_has_cause_and_message),
		cmocka_unit_test(
			test_error_message_falls_back_to_what_there_is),
		cmocka_unit_test(test_build_stream_success_gives_the_image_id),
		cmocka_unit_test(test_build_stream_failure_gives_error_detail),
		cmocka_unit_test(test_wait_body_is_a_bare_number),
		T(test_ping_and_304_start_are_ok),
		T(test_podman_error_comes_back_with_its_cause),
		T(test_network_inspect_create_and_a_name_taken),
		T(test_wait_reads_the_exit_code),
		T(test_build_is_ok_only_with_an_image_id),
		T(test_pull_asks_for_its_policy_and_gives_the_image_id),
		T(test_pull_failure_comes_back_with_podmans_error),
		T(test_pull_with_an_unknown_policy_calls_nothing),
		T(test_logs_reach_the_callback_in_order),
		T(test_events_split_across_chunks_are_whole),
		T(test_closing_a_stream_from_its_callback_stops_it),
		T(test_free_with_calls_in_flight_calls_nothing),
		T(test_free_from_an_event_callback),
		T(test_missing_socket_has_status_0),
		T(test_exec_frames_split_across_reads_and_a_101_head),
		T(test_exec_with_a_200_head_gives_the_exit_code),
		T(test_exec_stdin_reaches_the_command_and_closes),
		T(test_exec_without_stdin_refuses_writes),
		T(test_exec_in_a_stopped_container_fails_with_cause),
		T(test_exec_start_error_comes_back_with_its_cause),
		T(test_exec_cancelled_from_its_output_calls_nothing_more),
		T(test_exec_in_flight_when_the_client_goes),
		T(test_exec_without_a_command_calls_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
