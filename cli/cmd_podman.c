/*
 * cmd_podman.c: `stuurman podman start|stop|status`, stuurman's own Podman
 * service for scripts and tests (nodeagent/service.h does the work).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli/cli.h"
#include "nodeagent/service.h"
#include "common/banned.h"

static const char podman_help[] =
	"usage: stuurman podman start|stop|status [--data DIR] [OPTIONS]\n"
	"\n"
	"Runs stuurman's own Podman service: `podman system service` on\n"
	"DATA/podman.sock with the settings this machine needs (runc,\n"
	"explicit ulimits) in DATA/containers.conf, its PID in\n"
	"DATA/podman.pid and its output in DATA/podman.log.\n"
	"\n"
	"  start    start the service, or reuse the one that runs, and wait\n"
	"           until it answers; prints the socket path\n"
	"  stop     stop the service that `start` started (SIGTERM, then\n"
	"           SIGKILL after the grace period); never another one\n"
	"  status   say whether it runs and answers (exit 0 only if it does)\n"
	"\n"
	"  --data DIR         data directory (default /var/lib/stuurman for\n"
	"                     root, else ~/.local/share/stuurman)\n"
	"  --env              start: print `export SM_PODMAN_SOCKET=PATH`\n"
	"  --storage DIR      start: an image and container store of its own\n"
	"                     in DIR instead of the machine's (for tests)\n"
	"  --timeout SECONDS  start: how long to wait for an answer (30);\n"
	"                     stop: the grace period before SIGKILL (10)\n"
	"\n"
	"Exit status: 0 done, 1 failed (or, for status, not answering),\n"
	"2 usage.\n";

struct podman_args {
	const char *verb;
	const char *data;
	const char *storage;
	int env;
	unsigned timeout_ms;
};

struct run_state {
	bool done;
	int status;
};

static void on_done(struct podman_service *s, int status,
		    const struct sm_err *err, void *ctx)
{
	struct run_state *st = ctx;

	st->done = true;
	st->status = status;
	if (status)
		cli_print_diags((struct sm_err *)err, stderr, 0);
}

static int parse(int argc, char **argv, struct podman_args *a)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "storage", required_argument, NULL, 's' },
		{ "env", no_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(a, 0, sizeof(*a));
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			a->data = optarg;
			break;
		case 's':
			a->storage = optarg;
			break;
		case 'e':
			a->env = 1;
			break;
		case 't': {
			char *end;
			double v;

			errno = 0;
			v = strtod(optarg, &end);
			if (errno || *end || !(v > 0 && v <= 3600))
				return cli_usage_error(
					"podman",
					"--timeout: expected "
					"seconds from 0 to 3600, "
					"got \"%s\"",
					optarg);
			a->timeout_ms = (unsigned)(v * 1000);
			if (!a->timeout_ms)
				a->timeout_ms = 1;
			break;
		}
		case 'h':
			fputs(podman_help, stdout);
			return -1;
		default:
			return cli_usage_error("podman", "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error("podman", "expected start, stop or "
						 "status");
	a->verb = argv[optind];
	if (strcmp(a->verb, "start") && strcmp(a->verb, "stop") &&
	    strcmp(a->verb, "status"))
		return cli_usage_error("podman",
				       "unknown action \"%s\": expected start, "
				       "stop or status",
				       a->verb);
	if (optind + 1 < argc)
		return cli_usage_error("podman", "unexpected argument \"%s\"",
				       argv[optind + 1]);
	return 0;
}

static int do_start(uv_loop_t *loop, struct podman_service *s,
		    const struct podman_args *a)
{
	struct sm_err err = SM_ERR_INIT;
	struct run_state st = { 0 };
	int r;

	r = podman_service_start(s, on_done, &st, &err);
	if (r) {
		cli_print_diags(&err, stderr, 0);
		sm_err_release(&err);
		return 1;
	}
	while (!st.done && uv_run(loop, UV_RUN_ONCE))
		;
	if (!st.done || st.status)
		return 1;
	if (podman_service_reused(s) && podman_service_pid(s))
		fprintf(stderr,
			"stuurman podman: the service runs already (pid %ld), "
			"log %s\n",
			(long)podman_service_pid(s),
			podman_service_log_path(s));
	else if (podman_service_reused(s))
		fprintf(stderr,
			"stuurman podman: a service started elsewhere answers "
			"on %s; `stuurman podman stop` leaves it alone\n",
			podman_service_socket(s));
	else
		fprintf(stderr,
			"stuurman podman: started the service (pid %ld), log "
			"%s\n",
			(long)podman_service_pid(s),
			podman_service_log_path(s));
	if (a->env)
		printf("export SM_PODMAN_SOCKET=%s\n",
		       podman_service_socket(s));
	else
		printf("%s\n", podman_service_socket(s));
	return 0;
}

static int do_stop(uv_loop_t *loop, struct podman_service *s)
{
	struct sm_err err = SM_ERR_INIT;
	struct run_state st = { 0 };
	pid_t pid;
	int r;

	r = podman_service_stop(s, on_done, &st, &err);
	if (r == -ESRCH) {
		printf("not running: no service of ours for %s\n",
		       podman_service_data_dir(s));
		return 0;
	}
	if (r) {
		cli_print_diags(&err, stderr, 0);
		sm_err_release(&err);
		return 1;
	}
	pid = podman_service_pid(s);
	while (!st.done && uv_run(loop, UV_RUN_ONCE))
		;
	if (!st.done || st.status)
		return 1;
	printf("stopped the podman service (pid %ld) of %s\n", (long)pid,
	       podman_service_data_dir(s));
	return 0;
}

static int do_status(struct podman_service *s)
{
	struct podman_service_status st;
	struct sm_err err = SM_ERR_INIT;

	podman_service_status(s, 2000, &st, &err);
	sm_err_release(&err);
	if (st.pid && st.answering)
		printf("running (pid %ld), answering on %s\n", (long)st.pid,
		       podman_service_socket(s));
	else if (st.pid)
		printf("running (pid %ld) but not answering on %s: see %s\n",
		       (long)st.pid, podman_service_socket(s),
		       podman_service_log_path(s));
	else if (st.answering)
		printf("a service not started by stuurman answers on %s\n",
		       podman_service_socket(s));
	else
		printf("not running%s: start it with 'stuurman podman "
		       "start%s%s'"
		       "\n",
		       st.stale_pid ? " (stale PID file)" : "",
		       podman_service_data_dir(s)[0] ? " --data " : "",
		       podman_service_data_dir(s));
	return st.answering ? 0 : 1;
}

int cmd_podman(int argc, char **argv)
{
	struct podman_service_opts opts = PODMAN_SERVICE_OPTS_INIT;
	struct podman_args a;
	struct sm_err err = SM_ERR_INIT;
	struct podman_service *s;
	uv_loop_t loop;
	int r;

	r = parse(argc, argv, &a);
	if (r)
		return r < 0 ? 0 : r;
	if (!a.verb)
		return EXIT_USAGE;
	opts.data_dir = a.data;
	opts.storage_dir = a.storage;
	if (!strcmp(a.verb, "start"))
		opts.ready_timeout_ms = a.timeout_ms;
	else
		opts.stop_grace_ms = a.timeout_ms;

	r = uv_loop_init(&loop);
	if (r) {
		fprintf(stderr, "stuurman podman: %s\n", uv_strerror(r));
		return 1;
	}
	s = podman_service_new(&loop, &opts, &err);
	if (!s) {
		cli_print_diags(&err, stderr, 0);
		sm_err_release(&err);
		uv_loop_close(&loop);
		return 1;
	}
	if (!strcmp(a.verb, "start"))
		r = do_start(&loop, s, &a);
	else if (!strcmp(a.verb, "stop"))
		r = do_stop(&loop, s);
	else
		r = do_status(s);
	podman_service_free(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop))
		fprintf(stderr, "stuurman podman: handles left open\n");
	return r;
}
