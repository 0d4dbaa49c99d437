/*
 * nodeagent/podman.c against a real Podman service: the socket comes from
 * SM_PODMAN_SOCKET (tests/integration/run.sh starts one); without it every
 * test is skipped.
 *
 * Everything the tests make carries the label stuurman-test=1, a label
 * unique to this run (stuurman-test-run=<pid>), and SM_TEST_LABEL when
 * run.sh gives one. The group teardown removes what carries the run's
 * label, also after a failed test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/tar.h"
#include "common/xalloc.h"
#include "nodeagent/podman.h"
#include "common/banned.h"

#define WAIT_MS 120000

struct live {
	uv_loop_t loop;
	struct podman *p;
	const char *sock;
	char run_label[64]; /* stuurman-test-run=<pid> */
	char image[64];
	char pod[64];
	char ctr[64];
	int port;
};

static struct live L;

struct got {
	int calls;
	bool ok;
	int status;
	int exit_code;
	char *error;
	char *cause;
	json_t *json;
	struct sm_buf out, err;
	int died, started;
};

static void got_init(struct got *g)
{
	memset(g, 0, sizeof(*g));
	sm_buf_init(&g->out, SM_BUF_UNBOUNDED);
	sm_buf_init(&g->err, SM_BUF_UNBOUNDED);
}

static void got_release(struct got *g)
{
	free(g->error);
	free(g->cause);
	json_decref(g->json);
	sm_buf_release(&g->out);
	sm_buf_release(&g->err);
}

static void on_reply(void *ctx, const struct podman_reply *r)
{
	struct got *g = ctx;

	g->calls++;
	g->ok = r->ok;
	g->status = r->status;
	g->error = r->error ? xstrdup(r->error) : NULL;
	g->cause = r->cause ? xstrdup(r->cause) : NULL;
	g->json = r->json ? json_incref(r->json) : NULL;
	if (r->error)
		print_message("podman: %s\n", r->error);
}

static void on_wait(void *ctx, const struct podman_wait_reply *r)
{
	struct got *g = ctx;

	on_reply(g, &r->r);
	g->exit_code = r->exit_code;
}

static void on_log(void *ctx, enum podman_log_stream which, const char *data,
		   size_t len)
{
	struct got *g = ctx;

	sm_buf_add(which == PODMAN_STDOUT ? &g->out : &g->err, data, len);
}

static void on_event(void *ctx, json_t *ev)
{
	struct got *g = ctx;
	const char *s = sm_json_get_str(ev, "status");

	if (s && strcmp(s, "died") == 0) {
		const char *code = sm_json_get_str(
			json_object_get(json_object_get(ev, "Actor"),
					"Attributes"),
			"containerExitCode");

		g->died++;
		g->exit_code = code ? (int)strtol(code, NULL, 10) : -1;
	}
	if (s && strcmp(s, "start") == 0)
		g->started++;
}

static void on_exec(void *ctx, const struct podman_reply *r, int exit_code)
{
	struct got *g = ctx;

	on_reply(g, r);
	g->exit_code = exit_code;
}

static void tick(uv_timer_t *t)
{
	/* Keeps UV_RUN_ONCE from blocking in poll after a timer callback. */
}

/* Runs the loop until *count reaches want or WAIT_MS pass. */
static void run_until(const int *count, int want)
{
	uv_timer_t t;
	uint64_t deadline = uv_now(&L.loop) + WAIT_MS;

	uv_timer_init(&L.loop, &t);
	uv_timer_start(&t, tick, 20, 20);
	while (*count < want && uv_now(&L.loop) < deadline)
		uv_run(&L.loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&L.loop, UV_RUN_NOWAIT);
	assert_int_equal(*count, want);
}

static json_t *labels(void)
{
	const char *extra = getenv("SM_TEST_LABEL");
	const char *eq = strchr(L.run_label, '=');
	json_t *l = json_pack("{s:s}", "stuurman-test", "1");

	json_object_set_new(l, "stuurman-test-run", json_string(eq + 1));
	if (extra && strchr(extra, '=')) {
		char *k = xstrndup(extra, (size_t)(strchr(extra, '=') - extra));

		json_object_set_new(l, k, json_string(strchr(extra, '=') + 1));
		free(k);
	}
	return l;
}

/* Removes, by the run's label, containers, pods and images; ignores errors. */
static void cleanup_by_label(void)
{
	json_t *filters = json_pack("{s:[s]}", "label", L.run_label);
	struct got c, p;
	size_t i;
	json_t *v;

	got_init(&c);
	got_init(&p);
	if (podman_container_list(L.p, true, filters, on_reply, &c) == 0)
		run_until(&c.calls, 1);
	json_array_foreach (c.json, i, v) {
		struct got r;

		got_init(&r);
		if (podman_container_remove(L.p, sm_json_get_str(v, "Id"), true,
					    on_reply, &r) == 0)
			run_until(&r.calls, 1);
		got_release(&r);
	}
	if (podman_pod_list(L.p, filters, on_reply, &p) == 0)
		run_until(&p.calls, 1);
	json_array_foreach (p.json, i, v) {
		struct got r;

		got_init(&r);
		if (podman_pod_remove(L.p, sm_json_get_str(v, "Id"), 0,
				      on_reply, &r) == 0)
			run_until(&r.calls, 1);
		got_release(&r);
	}
	got_release(&c);
	got_release(&p);
	json_decref(filters);
}

struct raw {
	int calls;
	int status;
};

static void on_raw(void *ctx, const struct sm_http_response *r)
{
	struct raw *w = ctx;

	w->calls++;
	w->status = r->status;
}

static void on_raw_json(void *ctx, const struct sm_http_response *r)
{
	json_t **out = ctx;

	*out = r->status == 200 ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	if (!*out)
		*out = json_array();
}

/*
 * podman.h has no image removal: the test deletes its images, intermediate
 * layers included (every layer carries the run's label), directly.
 */
static void remove_images(void)
{
	struct sm_http_client *h = sm_http_client_new(&L.loop);
	struct sm_buf url = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_http_request_opts o = { 0 };
	json_t *list = NULL, *v;
	struct raw w = { 0 };
	size_t i;

	sm_buf_addf(&url,
		    "http://d/v4.0.0/libpod/images/json?all=true&filters="
		    "%%7B%%22label%%22%%3A%%5B%%22%s%%22%%5D%%7D",
		    L.run_label);
	o.url = url.buf;
	o.unix_socket = L.sock;
	o.on_done = on_raw_json;
	o.ctx = &list;
	if (sm_http_request_start(h, &o, NULL) == 0)
		while (!list)
			uv_run(&L.loop, UV_RUN_ONCE);
	/* Newest first, so children go before their parents. */
	for (i = json_array_size(list); i-- > 0;) {
		v = json_array_get(list, i);
		sm_buf_reset(&url);
		sm_buf_addf(&url, "http://d/v4.0.0/libpod/images/%s?force=true",
			    sm_json_get_str(v, "Id"));
		o.method = "DELETE";
		o.url = url.buf;
		o.on_done = on_raw;
		o.ctx = &w;
		w.calls = 0;
		if (sm_http_request_start(h, &o, NULL) == 0)
			run_until(&w.calls, 1);
	}
	json_decref(list);
	sm_http_client_free(h);
	sm_buf_release(&url);
}

static int group_setup(void **state)
{
	L.sock = getenv("SM_PODMAN_SOCKET");
	if (!L.sock || !*L.sock)
		return 0;
	uv_loop_init(&L.loop);
	L.p = podman_new(&L.loop, L.sock);
	snprintf(L.run_label, sizeof(L.run_label), "stuurman-test-run=%d",
		 (int)getpid());
	snprintf(L.image, sizeof(L.image), "localhost/sm-podman-live:%d",
		 (int)getpid());
	snprintf(L.pod, sizeof(L.pod), "sm-live-%d", (int)getpid());
	snprintf(L.ctr, sizeof(L.ctr), "sm-live-%d-main", (int)getpid());
	/* A high port unlikely to be in use; a new one every run. */
	L.port = 20000 +
		 (int)((unsigned)(time(NULL) ^ (getpid() * 7919u)) % 20000);
	return 0;
}

static int group_teardown(void **state)
{
	int r;

	if (!L.p)
		return 0;
	cleanup_by_label();
	remove_images();
	podman_free(L.p);
	uv_run(&L.loop, UV_RUN_DEFAULT);
	r = uv_loop_close(&L.loop);
	if (r)
		print_error("uv_loop_close: %d\n", r);
	return r ? -1 : 0;
}

#define NEED_PODMAN()                                              \
	do {                                                       \
		if (!L.p) {                                        \
			print_message("SM_PODMAN_SOCKET unset\n"); \
			skip();                                    \
		}                                                  \
	} while (0)

static void test_ping_answers(void **state)
{
	struct got g;

	NEED_PODMAN();
	got_init(&g);
	assert_int_equal(podman_ping(L.p, on_reply, &g), 0);
	run_until(&g.calls, 1);
	assert_true(g.ok);
	assert_int_equal(g.status, 200);
	got_release(&g);
}

static int build(const char *containerfile, struct got *g)
{
	struct sm_buf busybox = SM_BUF_INIT(16 << 20);
	struct sm_tar t;
	const char *tar;
	size_t len;
	int r;

	r = sm_buf_read_file(&busybox, "/bin/busybox");
	if (r)
		return r;
	sm_tar_init(&t, SM_BUF_UNBOUNDED);
	sm_tar_add_file(&t, "Containerfile", 0644, containerfile,
			strlen(containerfile));
	sm_tar_add_file(&t, "busybox", 0755, busybox.buf, busybox.len);
	sm_tar_finish(&t, &tar, &len);
	r = podman_image_build(L.p, L.image, tar, len, on_reply, g);
	sm_tar_release(&t);
	sm_buf_release(&busybox);
	return r;
}

static void test_build_from_scratch_with_busybox(void **state)
{
	char cf[256];
	static struct got g, bad, ex; /* see test_pod_container_lifecycle */

	NEED_PODMAN();
	if (access("/bin/busybox", R_OK) != 0)
		skip();
	snprintf(cf, sizeof(cf),
		 "FROM scratch\nLABEL stuurman-test=1 %s\n"
		 "COPY busybox /bin/busybox\n"
		 "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
		 L.run_label);
	got_init(&g);
	assert_int_equal(build(cf, &g), 0);
	run_until(&g.calls, 1);
	assert_true(g.ok);
	assert_int_equal(strlen(sm_json_get_str(g.json, "Id")), 64);

	/* A failing RUN still answers 200; the reply says it failed. */
	got_init(&bad);
	snprintf(cf, sizeof(cf),
		 "FROM scratch\nLABEL stuurman-test=1 %s\n"
		 "COPY busybox /bin/busybox\n"
		 "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"exit 3\"]\n",
		 L.run_label);
	assert_int_equal(build(cf, &bad), 0);
	run_until(&bad.calls, 1);
	assert_false(bad.ok);
	assert_int_equal(bad.status, 200);
	assert_non_null(strstr(bad.error, "POST /build: build failed: "));
	assert_non_null(strstr(bad.error, "exit status 3"));

	got_init(&ex);
	assert_int_equal(podman_image_exists(L.p, L.image, on_reply, &ex), 0);
	run_until(&ex.calls, 1);
	assert_true(ex.ok);
	assert_int_equal(ex.status, 204);
	got_release(&g);
	got_release(&bad);
	got_release(&ex);
}

static void test_pod_container_lifecycle(void **state)
{
	/*
	 * Static: when an assertion fails mid-test, calls still in flight
	 * may complete during the group teardown, after this frame is gone.
	 */
	static struct got pod, ctr, start, again, insp, ev, wait, kill, logs,
		stop, rm, rm2, ex, ex2, ex3;
	static const char *const cat_argv[] = { "sh", "-c",
						"cat; echo err-$A >&2; exit 7",
						NULL };
	static const char *const nosuch_argv[] = { "nosuchcmd", NULL };
	static const char *const env[] = { "A=1", NULL };
	struct podman_exec_opts xo = { .cmd = cat_argv,
				       .env = env,
				       .attach_stdin = true };
	struct podman_exec *x;
	static struct raw w;
	struct podman_stream *events;
	json_t *spec, *filters;
	struct sm_http_client *h;
	struct sm_http_request_opts o = { 0 };
	char url[64];
	int i;

	NEED_PODMAN();
	/* The pod, with its hostPort on loopback only. */
	got_init(&pod);
	spec = json_pack("{s:s, s:o, s:[{s:i, s:i, s:s, s:s}]}", "name", L.pod,
			 "labels", labels(), "portmappings", "container_port",
			 8080, "host_port", L.port, "host_ip", "127.0.0.1",
			 "protocol", "tcp");
	assert_int_equal(podman_pod_create(L.p, spec, on_reply, &pod), 0);
	json_decref(spec);
	run_until(&pod.calls, 1);
	assert_true(pod.ok);
	assert_int_equal(pod.status, 201);

	got_init(&ctr);
	spec = json_pack("{s:s, s:s, s:s, s:[s,s,s], s:{s:s}, s:o, "
			 "s:{s:s}, s:i}",
			 "name", L.ctr, "image", L.image, "pod", L.pod,
			 "command", "sh", "-c",
			 "echo out-$FOO; echo err-line >&2; "
			 "exec httpd -f -p 8080 -h /",
			 "env", "FOO", "bar", "labels", labels(),
			 "log_configuration", "driver", "k8s-file",
			 "stop_timeout", 1);
	assert_int_equal(podman_container_create(L.p, spec, on_reply, &ctr), 0);
	json_decref(spec);
	run_until(&ctr.calls, 1);
	assert_true(ctr.ok);
	assert_int_equal(ctr.status, 201);

	/* Events of this container, from before it starts. */
	got_init(&ev);
	filters = json_pack("{s:[s]}", "container", L.ctr);
	events = podman_events(L.p, filters, on_event, on_reply, &ev);
	json_decref(filters);
	assert_non_null(events);

	got_init(&start);
	assert_int_equal(podman_container_start(L.p, L.ctr, on_reply, &start),
			 0);
	run_until(&start.calls, 1);
	assert_true(start.ok);
	assert_int_equal(start.status, 204);
	/* Starting a running container is "already so": 304, ok. */
	got_init(&again);
	assert_int_equal(podman_container_start(L.p, L.ctr, on_reply, &again),
			 0);
	run_until(&again.calls, 1);
	assert_true(again.ok);
	assert_int_equal(again.status, 304);

	got_init(&insp);
	assert_int_equal(podman_container_inspect(L.p, L.ctr, on_reply, &insp),
			 0);
	run_until(&insp.calls, 1);
	assert_true(insp.ok);
	assert_string_equal(sm_json_get_str(insp.json, "Name"), L.ctr);
	assert_true(json_is_true(sm_json_get_path(insp.json, "State.Running")));

	/* The published port reaches httpd (any HTTP answer will do). */
	h = sm_http_client_new(&L.loop);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", L.port);
	o.url = url;
	o.on_done = on_raw;
	o.ctx = &w;
	o.timeout_ms = 5000;
	for (i = 0; i < 20 && w.status == 0; i++) {
		w.calls = 0;
		assert_int_equal(sm_http_request_start(h, &o, NULL), 0);
		run_until(&w.calls, 1);
		if (w.status == 0)
			usleep(100 * 1000);
	}
	sm_http_client_free(h);
	assert_true(w.status >= 200);

	/* Exec: stdin, its half-close, both streams and the exit code. */
	got_init(&ex);
	x = podman_exec(L.p, L.ctr, &xo, on_log, on_exec, &ex);
	assert_non_null(x);
	assert_int_equal(podman_exec_write(x, "in-", 3), 0);
	assert_int_equal(podman_exec_write(x, "put\n", 4), 0);
	assert_int_equal(podman_exec_close_stdin(x), 0);
	run_until(&ex.calls, 1);
	assert_true(ex.ok);
	assert_int_equal(ex.exit_code, 7);
	assert_string_equal(sm_buf_cstr(&ex.out), "in-put\n");
	assert_string_equal(sm_buf_cstr(&ex.err), "err-1\n");
	/* A command that is not there still runs, as runc's 127. */
	got_init(&ex2);
	xo.cmd = nosuch_argv;
	xo.attach_stdin = false;
	assert_non_null(podman_exec(L.p, L.ctr, &xo, on_log, on_exec, &ex2));
	run_until(&ex2.calls, 1);
	assert_true(ex2.ok);
	assert_int_equal(ex2.exit_code, 127);

	/* Long-poll wait, then SIGKILL: httpd as PID 1 ends with 137. */
	got_init(&wait);
	assert_int_equal(podman_container_wait(L.p, L.ctr, on_wait, &wait), 0);
	uv_run(&L.loop, UV_RUN_NOWAIT);
	got_init(&kill);
	assert_int_equal(
		podman_container_kill(L.p, L.ctr, "SIGKILL", on_reply, &kill),
		0);
	run_until(&kill.calls, 1);
	assert_true(kill.ok);
	run_until(&wait.calls, 1);
	assert_true(wait.ok);
	assert_int_equal(wait.exit_code, 137);

	/* No exec in a container that does not run. */
	got_init(&ex3);
	assert_non_null(podman_exec(L.p, L.ctr, &xo, on_log, on_exec, &ex3));
	run_until(&ex3.calls, 1);
	assert_false(ex3.ok);
	assert_int_equal(ex3.exit_code, -1);
	assert_string_equal(ex3.cause, "container state improper");

	/* The events stream saw it die. */
	run_until(&ev.died, 1);
	assert_int_equal(ev.exit_code, 137);
	assert_int_equal(ev.started, 1);
	podman_stream_close(events);
	assert_int_equal(ev.calls, 0);

	/* Logs, demultiplexed into stdout and stderr. */
	got_init(&logs);
	assert_non_null(podman_logs(L.p, L.ctr, NULL, on_log, on_reply, &logs));
	run_until(&logs.calls, 1);
	assert_true(logs.ok);
	assert_string_equal(sm_buf_cstr(&logs.out), "out-bar\n");
	assert_string_equal(sm_buf_cstr(&logs.err), "err-line\n");

	/* Stopping a stopped container is "already so" too. */
	got_init(&stop);
	assert_int_equal(podman_container_stop(L.p, L.ctr, 1, on_reply, &stop),
			 0);
	run_until(&stop.calls, 1);
	assert_true(stop.ok);
	assert_int_equal(stop.status, 304);

	got_init(&rm);
	assert_int_equal(
		podman_container_remove(L.p, L.ctr, true, on_reply, &rm), 0);
	run_until(&rm.calls, 1);
	assert_true(rm.ok);
	assert_true(json_is_array(rm.json));
	got_init(&rm2);
	assert_int_equal(
		podman_container_remove(L.p, L.ctr, true, on_reply, &rm2), 0);
	run_until(&rm2.calls, 1);
	assert_false(rm2.ok);
	assert_int_equal(rm2.status, 404);
	assert_string_equal(rm2.cause, "no such container");
	assert_non_null(strstr(rm2.error, "DELETE /containers/"));

	got_release(&pod);
	got_release(&ctr);
	got_release(&start);
	got_release(&again);
	got_release(&insp);
	got_release(&ev);
	got_release(&wait);
	got_release(&kill);
	got_release(&logs);
	got_release(&stop);
	got_release(&rm);
	got_release(&rm2);
	got_release(&ex);
	got_release(&ex2);
	got_release(&ex3);
}

static void test_pod_remove_leaves_nothing_labelled(void **state)
{
	struct got rm, list;
	json_t *filters;

	NEED_PODMAN();
	got_init(&rm);
	assert_int_equal(podman_pod_remove(L.p, L.pod, 0, on_reply, &rm), 0);
	run_until(&rm.calls, 1);
	assert_true(rm.ok);
	got_init(&list);
	filters = json_pack("{s:[s]}", "label", L.run_label);
	assert_int_equal(
		podman_container_list(L.p, true, filters, on_reply, &list), 0);
	json_decref(filters);
	run_until(&list.calls, 1);
	assert_true(list.ok);
	assert_int_equal(json_array_size(list.json), 0);
	got_release(&rm);
	got_release(&list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_answers),
		cmocka_unit_test(test_build_from_scratch_with_busybox),
		cmocka_unit_test(test_pod_container_lifecycle),
		cmocka_unit_test(test_pod_remove_leaves_nothing_labelled),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
