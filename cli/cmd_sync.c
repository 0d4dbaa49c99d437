/*
 * cmd_sync.c: the GitOps commands, clients of the server's /stuurman/...
 * endpoints: `stuurman sync status`, `stuurman sync`, `stuurman history`,
 * `stuurman diff` and `stuurman rollback REV`. They find the server as
 * `stuurman get` does (cli_open_client()) and block on a loop of their
 * own (kubecli_call_text()); the text comes from cli/syncfmt.h.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cli/cli.h"
#include "cli/kubeclient.h"
#include "cli/syncfmt.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "common/banned.h"

#define POLL_MS 200
#define DEFAULT_TIMEOUT_MS 60000
#define MAX_BODY (64u << 20)

static const char common_help[] =
	"  --kubeconfig FILE     the kubeconfig to use (default: "
	"DATA/kubeconfig\n"
	"                        with --data, else $KUBECONFIG, else\n"
	"                        DATA/kubeconfig of the default data dir)\n"
	"  --data DIR            the data dir of `stuurman up`\n";

static const char sync_help[] =
	"usage: stuurman sync [--timeout S] [-o json]\n"
	"       stuurman sync status [-o json]\n"
	"\n"
	"`sync status` shows what the server runs from git: the applied\n"
	"revision (and the newest commit when it differs), Synced, OutOfSync\n"
	"or Failed, health, a pin (rollback), self-heal, the last fetch, the\n"
	"last error in full, warnings, and the objects out of sync or\n"
	"degraded.\n"
	"\n"
	"`sync` makes the server fetch now and sync what it finds (or apply\n"
	"the current revision again), waits until that fetch finished, and\n"
	"shows the status.\n"
	"\n";
static const char sync_help_end[] =
	"  --timeout S           how long `sync` waits (default 60)\n"
	"  -o, --output json     the server's JSON as it came\n"
	"\n"
	"Exit status: status: 0 shown, 1 failed; sync: 0 Synced, 1 Failed,\n"
	"OutOfSync, no answer or timeout; 2 usage.\n";

static const char history_help[] =
	"usage: stuurman history [-o json]\n"
	"\n"
	"The last syncs, newest first: revision, when the server saw it, the\n"
	"result, what changed (+created ~configured -pruned) and how long it\n"
	"took from seeing the commit to every workload healthy.\n"
	"\n";
static const char history_help_end[] =
	"  -o, --output json     the server's JSON as it came\n"
	"\n"
	"Exit status: 0 shown, 1 failed, 2 usage.\n";

static const char diff_help[] =
	"usage: stuurman diff\n"
	"\n"
	"Live objects against git, as a unified YAML diff (Secret values\n"
	"masked). Nothing is printed when the cluster holds what git says.\n"
	"\n";
static const char diff_help_end[] =
	"\n"
	"Exit status: 0 no difference, 1 differences, 2 failed or usage\n"
	"(as `kubectl diff`).\n";

static const char rollback_help[] =
	"usage: stuurman rollback REV [--timeout S]\n"
	"\n"
	"Pins an earlier revision REV (a sha prefix of 4 or more hex digits,\n"
	"a tag or a branch): the server applies it, self-heal keeps it, and\n"
	"the next new commit on the branch unpins it. `stuurman history`\n"
	"lists the revisions.\n"
	"\n";
static const char rollback_help_end[] =
	"  --timeout S           how long to wait while the server checks\n"
	"                        REV out (default 60)\n"
	"\n"
	"Exit status: 0 pinned, 1 failed (unknown revision, errors in it,\n"
	"no answer), 2 usage.\n";

enum { OPT_JSON = 1, OPT_TIMEOUT = 2 };

struct sync_args {
	const char *kubeconfig, *data;
	bool json;
	uint64_t timeout_ms;
};

/* Parses what the commands share; -1 after --help, else 0 or 2. */
static int parse_args(int argc, char **argv, const char *cmd, const char *help,
		      const char *help_end, unsigned flags, struct sync_args *a)
{
	static const struct option opts[] = {
		{ "kubeconfig", required_argument, NULL, 'k' },
		{ "data", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	a->timeout_ms = DEFAULT_TIMEOUT_MS;
	while ((opt = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			a->kubeconfig = optarg;
			break;
		case 'd':
			a->data = optarg;
			break;
		case 'o':
			if (!(flags & OPT_JSON))
				return cli_usage_error(
					cmd, "unknown option --output");
			if (strcmp(optarg, "json"))
				return cli_usage_error(cmd,
						       "--output: expected "
						       "json, got \"%s\"",
						       optarg);
			a->json = true;
			break;
		case 't':
			if (!(flags & OPT_TIMEOUT))
				return cli_usage_error(
					cmd, "unknown option --timeout");
			if (cli_parse_seconds(optarg, &a->timeout_ms))
				return cli_usage_error(cmd,
						       "--timeout: expected "
						       "seconds, got \"%s\"",
						       optarg);
			break;
		case 'h':
			fputs(help, stdout);
			fputs(common_help, stdout);
			fputs(help_end, stdout);
			return -1;
		default:
			return cli_usage_error(cmd, "unknown option");
		}
	}
	return 0;
}

/* One command's connection: its loop, kubeconfig and client. */
struct session {
	const char *cmd;
	uv_loop_t loop;
	struct kubeconfig kc;
	struct kubecli *c;
};

static int session_open(struct session *s, const char *cmd,
			const struct sync_args *a)
{
	s->cmd = cmd;
	s->kc = (struct kubeconfig)KUBECONFIG_INIT;
	uv_loop_init(&s->loop);
	s->c = cli_open_client(&s->loop, cmd, a->kubeconfig, a->data, &s->kc);
	return s->c ? 0 : -EIO;
}

static void session_close(struct session *s)
{
	kubecli_free(s->c);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	uv_loop_close(&s->loop);
	kubeconfig_release(&s->kc);
}

/*
 * METHOD path with body (may be NULL); the JSON answer in *out (new, or
 * NULL) and, when text is not NULL, the body as it came. Returns the
 * HTTP status when it is 2xx; otherwise prints what failed (naming the
 * endpoint and what to do) and returns -1.
 */
static int call(struct session *s, const char *method, const char *path,
		const json_t *body, json_t **out, struct sm_buf *text)
{
	struct sm_err err = SM_ERR_INIT;
	struct sm_buf msg = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char *url;
	int r;

	r = kubecli_call_text(s->c, method, path, NULL, body, out, text, &err);
	if (r >= 200 && r < 300) {
		sm_err_release(&err);
		return r;
	}
	url = xasprintf("%s%s", s->kc.server, path);
	syncfmt_error(s->cmd, method, url, r < 0 ? 0 : r, *out,
		      err.nr ? err.items[0].msg : NULL, &msg);
	fputs(sm_buf_cstr(&msg), stderr);
	free(url);
	sm_buf_release(&msg);
	sm_err_release(&err);
	json_decref(*out);
	*out = NULL;
	return -1;
}

static void print_raw(const struct sm_buf *b)
{
	fputs(sm_buf_cstr(b), stdout);
	if (b->len && b->buf[b->len - 1] != '\n')
		putchar('\n');
}

static void print_status(const json_t *st, const struct sm_buf *raw, bool json)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	if (json) {
		print_raw(raw);
		return;
	}
	if (syncfmt_status(st, time(NULL), &b))
		sm_buf_adds(&b, "(the server's answer is not a status "
				"object; -o json shows it)\n");
	fputs(sm_buf_cstr(&b), stdout);
	sm_buf_release(&b);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

static int sync_status(struct session *s, const struct sync_args *a)
{
	struct sm_buf raw = SM_BUF_INIT(MAX_BODY);
	json_t *st = NULL;
	int rc = 1;

	if (call(s, "GET", "/stuurman/sync", NULL, &st, &raw) > 0) {
		print_status(st, &raw, a->json);
		rc = 0;
	}
	json_decref(st);
	sm_buf_release(&raw);
	return rc;
}

static int sync_now(struct session *s, const struct sync_args *a)
{
	struct sm_buf raw = SM_BUF_INIT(MAX_BODY);
	json_t *st = NULL;
	json_int_t before;
	uint64_t deadline = now_ms() + a->timeout_ms;
	bool done = false;
	const char *sync;
	int rc = 1;

	if (call(s, "POST", "/stuurman/sync", NULL, &st, NULL) < 0)
		goto out;
	before = json_integer_value(json_object_get(st, "fetches"));
	if (!a->json)
		printf("Fetching %s ...\n",
		       sm_json_get_str(json_object_get(st, "source"), "repo")
			       ?: "the repository");
	fflush(stdout);
	for (;;) {
		json_decref(st);
		st = NULL;
		sm_buf_reset(&raw);
		if (call(s, "GET", "/stuurman/sync", NULL, &st, &raw) < 0)
			goto out;
		if (json_integer_value(json_object_get(st, "fetches")) >
		    before) {
			done = true;
			break;
		}
		if (now_ms() >= deadline)
			break;
		sleep_ms(POLL_MS);
	}
	if (!done)
		fprintf(stderr,
			"stuurman sync: no fetch finished within %.1f s "
			"(GET %s/stuurman/sync still counts "
			"%" JSON_INTEGER_FORMAT
			" fetches); the status as it is now:\n",
			(double)a->timeout_ms / 1000, s->kc.server, before);
	print_status(st, &raw, a->json);
	sync = sm_json_get_str(st, "sync");
	rc = done && sync && !strcmp(sync, "Synced") ? 0 : 1;
out:
	json_decref(st);
	sm_buf_release(&raw);
	return rc;
}

int cmd_sync(int argc, char **argv)
{
	struct sync_args a = { 0 };
	struct session s;
	bool status = false;
	int r;

	r = parse_args(argc, argv, "sync", sync_help, sync_help_end,
		       OPT_JSON | OPT_TIMEOUT, &a);
	if (r)
		return r < 0 ? 0 : r;
	if (optind < argc) {
		if (strcmp(argv[optind], "status"))
			return cli_usage_error(
				"sync",
				"unexpected argument \"%s\" "
				"(only `sync` and `sync status`)",
				argv[optind]);
		status = true;
		if (optind + 1 < argc)
			return cli_usage_error("sync",
					       "unexpected argument \"%s\"",
					       argv[optind + 1]);
	}
	if (session_open(&s, status ? "sync status" : "sync", &a))
		r = 1;
	else
		r = status ? sync_status(&s, &a) : sync_now(&s, &a);
	session_close(&s);
	return r;
}

static size_t terminal_width(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) ||
	    !ws.ws_col)
		return 0;
	return ws.ws_col;
}

int cmd_history(int argc, char **argv)
{
	struct sm_buf raw = SM_BUF_INIT(MAX_BODY);
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sync_args a = { 0 };
	struct session s;
	json_t *h = NULL;
	int r;

	r = parse_args(argc, argv, "history", history_help, history_help_end,
		       OPT_JSON, &a);
	if (r)
		return r < 0 ? 0 : r;
	if (optind < argc)
		return cli_usage_error("history", "unexpected argument \"%s\"",
				       argv[optind]);
	r = 1;
	if (!session_open(&s, "history", &a) &&
	    call(&s, "GET", "/stuurman/history", NULL, &h, &raw) > 0) {
		r = 0;
		if (a.json) {
			print_raw(&raw);
		} else if (syncfmt_history(h, time(NULL), terminal_width(),
					   &b)) {
			fputs("stuurman history: the server's answer has no "
			      "items (-o json shows it)\n",
			      stderr);
			r = 1;
		} else {
			fputs(sm_buf_cstr(&b), stdout);
		}
	}
	session_close(&s);
	json_decref(h);
	sm_buf_release(&raw);
	sm_buf_release(&b);
	return r;
}

int cmd_diff(int argc, char **argv)
{
	struct sm_buf text = SM_BUF_INIT(MAX_BODY);
	struct sync_args a = { 0 };
	struct session s;
	json_t *j = NULL;
	int r;

	r = parse_args(argc, argv, "diff", diff_help, diff_help_end, 0, &a);
	if (r)
		return r < 0 ? 0 : r;
	if (optind < argc)
		return cli_usage_error("diff", "unexpected argument \"%s\"",
				       argv[optind]);
	r = 2;
	if (!session_open(&s, "diff", &a) &&
	    call(&s, "GET", "/stuurman/diff", NULL, &j, &text) > 0) {
		r = text.len ? 1 : 0;
		fwrite(text.buf ? text.buf : "", 1, text.len, stdout);
	}
	session_close(&s);
	json_decref(j);
	sm_buf_release(&text);
	return r;
}

/* After a 202: polls until the server shows a pin (or the timeout). */
static json_t *wait_pinned(struct session *s, const struct sync_args *a)
{
	uint64_t deadline = now_ms() + a->timeout_ms;
	json_t *st = NULL;

	for (;;) {
		sleep_ms(POLL_MS);
		if (call(s, "GET", "/stuurman/sync", NULL, &st, NULL) < 0)
			return NULL;
		if (json_is_object(json_object_get(st, "pinned")))
			return st;
		if (now_ms() >= deadline) {
			fprintf(stderr,
				"stuurman rollback: GET %s/stuurman/sync shows "
				"no pin after %.1f s; `stuurman sync status` "
				"tells what the server does\n",
				s->kc.server, (double)a->timeout_ms / 1000);
			json_decref(st);
			return NULL;
		}
		json_decref(st);
		st = NULL;
	}
}

int cmd_rollback(int argc, char **argv)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sync_args a = { 0 };
	struct session s;
	json_t *req = NULL, *st = NULL;
	const char *rev;
	int r;

	r = parse_args(argc, argv, "rollback", rollback_help, rollback_help_end,
		       OPT_TIMEOUT, &a);
	if (r)
		return r < 0 ? 0 : r;
	if (optind >= argc)
		return cli_usage_error("rollback",
				       "which revision? expected REV (a sha "
				       "prefix, tag or branch; `stuurman "
				       "history` lists them)");
	if (optind + 1 < argc)
		return cli_usage_error("rollback", "unexpected argument \"%s\"",
				       argv[optind + 1]);
	rev = argv[optind];
	r = 1;
	if (session_open(&s, "rollback", &a))
		goto out;
	req = json_pack("{s:s}", "revision", rev);
	switch (call(&s, "POST", "/stuurman/rollback", req, &st, NULL)) {
	case -1:
		goto out;
	case 202:
		printf("The server checks %s out ...\n", rev);
		fflush(stdout);
		json_decref(st);
		st = wait_pinned(&s, &a);
		if (!st)
			goto out;
		break;
	default:
		break;
	}
	syncfmt_rollback(st, rev, &b);
	fputs(sm_buf_cstr(&b), stdout);
	r = json_is_object(json_object_get(st, "pinned")) ? 0 : 1;
out:
	session_close(&s);
	json_decref(req);
	json_decref(st);
	sm_buf_release(&b);
	return r;
}
