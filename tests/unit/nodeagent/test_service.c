/*
 * Tests for nodeagent/service.c: the containers.conf text, the PID file,
 * recognising our own service, the /_ping answer, and start, reuse and stop
 * on a real libuv loop against a fake podman (a python script that answers
 * /_ping on the socket, stays silent, or exits at once). The script names
 * /usr/bin/python3 itself: a wrapper on PATH (pyenv's shims) would show
 * another command line for a while after the spawn.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "nodeagent/service.h"
#include "common/banned.h"

/* FAKE_PODMAN=serve|silent|exit chooses what the fake does. */
static const char fake_podman[] =
	"#!/usr/bin/python3\n"
	"import os, signal, socket, sys, time\n"
	"path = sys.argv[-1][len('unix://'):]\n"
	"def bye(*a):\n"
	"    try:\n"
	"        os.unlink(path)\n"
	"    except OSError:\n"
	"        pass\n"
	"    sys.exit(0)\n"
	"signal.signal(signal.SIGTERM, bye)\n"
	"mode = os.environ.get('FAKE_PODMAN', 'serve')\n"
	"print('fake podman', mode, flush=True)\n"
	"if mode == 'exit':\n"
	"    print('Error: cannot listen', flush=True)\n"
	"    sys.exit(3)\n"
	"if mode == 'silent':\n"
	"    while True:\n"
	"        time.sleep(1)\n"
	"s = socket.socket(socket.AF_UNIX)\n"
	"s.bind(path)\n"
	"s.listen(8)\n"
	"while True:\n"
	"    c, _ = s.accept()\n"
	"    c.recv(4096)\n"
	"    c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: "
	"2\\r\\n\\r\\nOK')\n"
	"    c.close()\n";

struct fixture {
	char dir[64];
	char *data;
	char *podman;
	uv_loop_t loop;
};

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	FILE *fp;

	memcpy(f->dir, "/tmp/sm-test-service.XXXXXX", 28);
	assert_non_null(mkdtemp(f->dir));
	f->data = xasprintf("%s/data", f->dir);
	f->podman = xasprintf("%s/podman", f->dir);
	fp = fopen(f->podman, "w");
	assert_non_null(fp);
	fputs(fake_podman, fp);
	fclose(fp);
	assert_int_equal(chmod(f->podman, 0755), 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	setenv("FAKE_PODMAN", "serve", 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f->data);
	free(f->podman);
	free(f);
	return 0;
}

static struct podman_service *new_service(struct fixture *f,
					  unsigned timeout_ms)
{
	struct podman_service_opts o = PODMAN_SERVICE_OPTS_INIT;
	struct sm_err err = SM_ERR_INIT;
	struct podman_service *s;

	o.data_dir = f->data;
	o.podman = f->podman;
	o.ready_timeout_ms = timeout_ms;
	o.stop_grace_ms = 2000;
	s = podman_service_new(&f->loop, &o, &err);
	assert_non_null(s);
	assert_false(sm_err_failed(&err));
	sm_err_release(&err);
	return s;
}

struct result {
	bool done;
	int status;
	char msg[1024];
};

static void on_done(struct podman_service *s, int status,
		    const struct sm_err *err, void *ctx)
{
	struct result *r = ctx;

	r->done = true;
	r->status = status;
	if (err->nr)
		snprintf(r->msg, sizeof(r->msg), "%s", err->items[0].msg);
}

static void run_until_done(struct fixture *f, struct result *r)
{
	while (!r->done && uv_run(&f->loop, UV_RUN_ONCE))
		;
	assert_true(r->done);
}

static void test_service_conf_sets_runc_ulimits_and_file_events(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *t;

	assert_int_equal(podman_service__conf_text(&b), 0);
	t = sm_buf_cstr(&b);
	assert_non_null(strstr(t, "[containers]\n"));
	assert_non_null(strstr(t, "default_ulimits = [\"nofile=1024:1024\", "
				  "\"nproc=4096:4096\"]\n"));
	assert_non_null(strstr(t, "[engine]\n"));
	assert_non_null(strstr(t, "runtime = \"runc\"\n"));
	assert_non_null(strstr(t, "events_logger = \"file\"\n"));
	assert_non_null(strstr(t, "cgroup_manager = \"cgroupfs\"\n"));
	/* The [engine] keys come after [containers], not inside it. */
	assert_true(strstr(t, "runtime =") > strstr(t, "[engine]"));
	sm_buf_release(&b);
}

static void test_service_pid_file_round_trips(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/podman.pid", f->dir);
	pid_t pid = 0;

	assert_int_equal(podman_service__write_pid(path, 4242), 0);
	assert_int_equal(podman_service__read_pid(path, &pid), 0);
	assert_int_equal(pid, 4242);
	free(path);
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_service_pid_file_rejects_garbage(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/podman.pid", f->dir);
	static const char *const bad[] = {
		"",    "abc\n", "12abc\n",	 "0\n",
		"1\n", "-5\n",	"99999999999\n", "12\n13\n"
	};
	pid_t pid = 7;

	assert_int_equal(podman_service__read_pid(path, &pid), -ENOENT);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(path, bad[i]);
		assert_int_equal(podman_service__read_pid(path, &pid), -EINVAL);
	}
	assert_int_equal(pid, 7);
	write_text(path, "123");
	assert_int_equal(podman_service__read_pid(path, &pid), 0);
	assert_int_equal(pid, 123);
	free(path);
}

static void test_service_cmdline_is_ours_only_for_our_socket(void **state)
{
	static const char ours[] = "podman\0system\0service\0--time=0\0"
				   "unix:///d/podman.sock";
	static const char path[] = "/usr/bin/podman\0--root\0/s/root\0system\0"
				   "service\0--time=0\0unix:///d/podman.sock";
	static const char script[] = "python3\0/t/podman\0system\0service\0"
				     "unix:///d/podman.sock";
	static const char other_sock[] = "podman\0system\0service\0"
					 "unix:///e/podman.sock";
	static const char not_podman[] = "sleep\0system\0service\0"
					 "unix:///d/podman.sock";
	static const char not_service[] = "podman\0run\0unix:///d/podman.sock";
	const char *sock = "/d/podman.sock";

	assert_true(podman_service__cmdline_is_ours(ours, sizeof(ours), sock));
	assert_true(podman_service__cmdline_is_ours(path, sizeof(path), sock));
	assert_true(
		podman_service__cmdline_is_ours(script, sizeof(script), sock));
	assert_false(podman_service__cmdline_is_ours(other_sock,
						     sizeof(other_sock), sock));
	assert_false(podman_service__cmdline_is_ours(not_podman,
						     sizeof(not_podman), sock));
	assert_false(podman_service__cmdline_is_ours(
		not_service, sizeof(not_service), sock));
	/* Cut short: the socket argument is not all there. */
	assert_false(
		podman_service__cmdline_is_ours(ours, sizeof(ours) - 3, sock));
}

static void test_service_ping_answer_needs_200_and_ok(void **state)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				 "\r\nOK";
	static const char ok10[] = "HTTP/1.0 200 OK\r\n\r\nOK";
	static const char err[] = "HTTP/1.1 500 Internal\r\n\r\nOK";
	static const char nobody[] = "HTTP/1.1 200 OK\r\n\r\n";
	static const char other[] = "HTTP/1.1 200 OK\r\n\r\nNOPE";

	assert_true(podman_service__ping_ok(ok, sizeof(ok) - 1));
	assert_true(podman_service__ping_ok(ok10, sizeof(ok10) - 1));
	assert_false(podman_service__ping_ok(err, sizeof(err) - 1));
	assert_false(podman_service__ping_ok(nobody, sizeof(nobody) - 1));
	assert_false(podman_service__ping_ok(other, sizeof(other) - 1));
	assert_false(podman_service__ping_ok("HTTP", 4));
}

static void test_service_new_creates_data_dir_0700(void **state)
{
	struct fixture *f = *state;
	struct podman_service *s = new_service(f, 0);
	struct stat st;

	assert_int_equal(stat(f->data, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_non_null(strstr(podman_service_socket(s), "/data/podman.sock"));
	assert_int_equal(podman_service_pid(s), 0);
	podman_service_free(s);
}

static void test_service_new_rejects_socket_path_too_long(void **state)
{
	struct fixture *f = *state;
	struct podman_service_opts o = PODMAN_SERVICE_OPTS_INIT;
	struct sm_err err = SM_ERR_INIT;
	char long_dir[200];

	memset(long_dir, 'x', sizeof(long_dir));
	memcpy(long_dir, "/tmp/", 5);
	long_dir[sizeof(long_dir) - 1] = '\0';
	o.data_dir = long_dir;
	assert_null(podman_service_new(&f->loop, &o, &err));
	assert_true(sm_err_failed(&err));
	assert_non_null(strstr(err.items[0].msg, "shorter --data"));
	assert_int_equal(access(long_dir, F_OK), -1);
	sm_err_release(&err);
}

static void test_service_starts_reuses_and_stops(void **state)
{
	struct fixture *f = *state;
	struct podman_service *s = new_service(f, 10000);
	struct podman_service_status st;
	struct sm_err err = SM_ERR_INIT;
	struct result r = { 0 };
	pid_t pid, file_pid = 0;

	assert_int_equal(podman_service_start(s, on_done, &r, &err), 0);
	run_until_done(f, &r);
	assert_int_equal(r.status, 0);
	pid = podman_service_pid(s);
	assert_true(pid > 0);
	assert_false(podman_service_reused(s));
	assert_int_equal(
		podman_service__read_pid(podman_service_pid_path(s), &file_pid),
		0);
	assert_int_equal(file_pid, pid);
	assert_int_equal(access(podman_service_conf_path(s), R_OK), 0);
	podman_service_free(s);
	uv_run(&f->loop, UV_RUN_DEFAULT);

	/* A second start, from another object, finds it and reuses it. */
	s = new_service(f, 10000);
	memset(&r, 0, sizeof(r));
	assert_int_equal(podman_service_start(s, on_done, &r, &err), 0);
	run_until_done(f, &r);
	assert_int_equal(r.status, 0);
	assert_true(podman_service_reused(s));
	assert_int_equal(podman_service_pid(s), pid);
	assert_int_equal(podman_service_status(s, 2000, &st, &err), 0);
	assert_int_equal(st.pid, pid);
	assert_true(st.answering);

	memset(&r, 0, sizeof(r));
	assert_int_equal(podman_service_stop(s, on_done, &r, &err), 0);
	run_until_done(f, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(access(podman_service_pid_path(s), F_OK), -1);
	assert_int_equal(podman_service_status(s, 500, &st, &err), 0);
	assert_int_equal(st.pid, 0);
	assert_false(st.answering);
	/* Nothing of ours runs now: stop says so and calls nothing. */
	assert_int_equal(podman_service_stop(s, on_done, &r, &err), -ESRCH);
	assert_false(sm_err_failed(&err));
	podman_service_free(s);
}

static void test_service_replaces_a_stale_pid_file(void **state)
{
	struct fixture *f = *state;
	struct podman_service *s = new_service(f, 10000);
	struct sm_err err = SM_ERR_INIT;
	struct result r = { 0 };
	char pidbuf[32];
	pid_t pid = 0;

	/* Our own PID: alive, but not a podman service. */
	snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	write_text(podman_service_pid_path(s), pidbuf);
	assert_int_equal(podman_service_stop(s, on_done, &r, &err), -ESRCH);
	assert_int_equal(access(podman_service_pid_path(s), F_OK), -1);

	write_text(podman_service_pid_path(s), pidbuf);
	assert_int_equal(podman_service_start(s, on_done, &r, &err), 0);
	run_until_done(f, &r);
	assert_int_equal(r.status, 0);
	assert_false(podman_service_reused(s));
	assert_int_equal(
		podman_service__read_pid(podman_service_pid_path(s), &pid), 0);
	assert_int_not_equal(pid, getpid());
	assert_int_equal(pid, podman_service_pid(s));

	memset(&r, 0, sizeof(r));
	assert_int_equal(podman_service_stop(s, on_done, &r, &err), 0);
	run_until_done(f, &r);
	assert_int_equal(r.status, 0);
	podman_service_free(s);
}

static void test_service_that_exits_fails_start_naming_the_log(void **state)
{
	struct fixture *f = *state;
	struct podman_service *s = new_service(f, 10000);
	struct sm_err err = SM_ERR_INIT;
	struct result r = { 0 };

	setenv("FAKE_PODMAN", "exit", 1);
	assert_int_equal(podman_service_start(s, on_done, &r, &err), 0);
	run_until_done(f, &r);
	assert_int_equal(r.status, -ECHILD);
	assert_non_null(strstr(r.msg, "exited with status 3"));
	assert_non_null(strstr(r.msg, podman_service_log_path(s)));
	assert_non_null(strstr(r.msg, "Error: cannot listen"));
	assert_int_equal(access(podman_service_pid_path(s), F_OK), -1);
	podman_service_free(s);
}

static void test_service_silent_times_out_and_stops(void **state)
{
	struct fixture *f = *state;
	struct podman_service *s = new_service(f, 300);
	struct sm_err err = SM_ERR_INIT;
	struct result r = { 0 };

	setenv("FAKE_PODMAN", "silent", 1);
	assert_int_equal(podman_service_start(s, on_done, &r, &err), 0);
	run_until_done(f, &r);
	assert_int_equal(r.status, -ETIMEDOUT);
	assert_non_null(strstr(r.msg, "no answer to /_ping"));
	assert_non_null(strstr(r.msg, "podman.log"));

	memset(&r, 0, sizeof(r));
	assert_int_equal(podman_service_stop(s, on_done, &r, &err), 0);
	run_until_done(f, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(access(podman_service_pid_path(s), F_OK), -1);
	podman_service_free(s);
}

static void test_service_free_during_start_calls_nothing(void **state)
{
	struct fixture *f = *state;
	struct podman_service *s = new_service(f, 10000);
	struct sm_err err = SM_ERR_INIT;
	struct result r = { 0 };
	pid_t pid = 0;

	setenv("FAKE_PODMAN", "silent", 1);
	assert_int_equal(podman_service_start(s, on_done, &r, &err), 0);
	assert_int_equal(
		podman_service__read_pid(podman_service_pid_path(s), &pid), 0);
	podman_service_free(s);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_false(r.done);
	/* The service outlives the object; stop it from a new one. */
	s = new_service(f, 10000);
	assert_int_equal(podman_service_stop(s, on_done, &r, &err), 0);
	run_until_done(f, &r);
	assert_int_equal(r.status, 0);
	podman_service_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_service_conf_sets_runc_ulimits_and_file_events),
		cmocka_unit_test_setup_teardown(
			test_service_pid_file_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_service_pid_file_rejects_garbage, setup, teardown),
		cmocka_unit_test(
			test_service_cmdline_is_ours_only_for_our_socket),
		cmocka_unit_test(test_service_ping_answer_needs_200_and_ok),
		cmocka_unit_test_setup_teardown(
			test_service_new_creates_data_dir_0700, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_service_new_rejects_socket_path_too_long, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_service_starts_reuses_and_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_service_replaces_a_stale_pid_file, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_service_that_exits_fails_start_naming_the_log,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_service_silent_times_out_and_stops, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_service_free_during_start_calls_nothing, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
