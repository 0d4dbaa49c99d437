/*
 * main.c: the stuurman executable. Global options, then a subcommand from
 * the table below; each subcommand parses its own options.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "stuurman-config.h"
#if SM_HAVE_MIMALLOC
#include <mimalloc.h>
#endif
#include "common/banned.h"

static int cmd_help(int argc, char **argv);

static const struct cli_command commands[] = {
	{ "up", cmd_up,
	  "run everything here: Podman, server, proxy, 3 agents" },
	{ "down", cmd_down,
	  "stop what `up` started and remove its containers" },
	{ "get", cmd_get,
	  "show pods, deployments, nodes, ... (kubectl's columns)" },
	{ "delete", cmd_delete, "delete a pod (its controller replaces it)" },
	{ "sync", cmd_sync,
	  "fetch from git and sync now; `sync status`: what runs from git" },
	{ "history", cmd_history,
	  "the last syncs: revision, result, changes, time to healthy" },
	{ "diff", cmd_diff, "live objects against git, as a unified diff" },
	{ "rollback", cmd_rollback,
	  "pin an earlier revision until the next new commit" },
	{ "validate", cmd_validate,
	  "check manifests: every error with file:line:column" },
	{ "render", cmd_render,
	  "print manifests in canonical form, with Kubernetes' defaults" },
	{ "podman", cmd_podman,
	  "start, stop or check stuurman's own Podman service" },
	{ "server", cmd_server,
	  "run the control plane: store, HTTPS API, controllers, scheduler" },
	{ "agent", cmd_agent,
	  "run a node: its pods on Podman, restarted, probed, reported" },
	{ "proxy", cmd_proxy,
	  "run the service proxy: ClusterIPs, NodePorts, cluster DNS" },
	{ "images", cmd_images,
	  "build the demo images offline (busybox, kubernetes-bootcamp)" },
	{ "version", cmd_version, "print the version" },
	{ "help", cmd_help, "show help for stuurman or a command" },
};

static void usage(FILE *out)
{
	fputs("usage: stuurman [--log-level LEVEL] [--log-format text|json] "
	      "COMMAND [ARGS]\n\n"
	      "stuurman: a GitOps reconciler that runs Kubernetes manifests "
	      "on Podman.\n\ncommands:\n",
	      out);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name,
			commands[i].summary);
	fputs("\n'stuurman COMMAND --help' tells more about a command.\n", out);
}

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int cmd_help(int argc, char **argv)
{
	const struct cli_command *c;
	char *help_argv[] = { NULL, (char *)"--help", NULL };

	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	c = find_command(argv[1]);
	if (!c)
		return cli_usage_error("help", "unknown command \"%s\"",
				       argv[1]);
	help_argv[0] = argv[1];
	optind = 0;
	return c->run(2, help_argv);
}

int cli_read_token(const char *cmd, const char *path, char **out)
{
	struct sm_buf b = SM_BUF_INIT(4096);
	char *t, *e;
	int r = sm_buf_read_file(&b, path);

	if (r) {
		fprintf(stderr, "stuurman %s: %s: %s\n", cmd, path,
			r == -EMSGSIZE || r == -EFBIG ? "too large for a token"
						      : strerror(-r));
		sm_buf_release(&b);
		return r;
	}
	t = (char *)sm_buf_cstr(&b);
	t += strspn(t, " \t\r\n");
	e = t + strcspn(t, " \t\r\n");
	*e = '\0';
	if (!*t) {
		fprintf(stderr, "stuurman %s: %s: holds no token\n", cmd, path);
		sm_buf_release(&b);
		return -EINVAL;
	}
	*out = xstrdup(t);
	sm_buf_release(&b);
	return 0;
}

int cli_parse_seconds(const char *s, uint64_t *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || (*end && strcmp(end, "s")) || v < 0)
		return -EINVAL;
	*ms = (uint64_t)(v * 1000);
	return 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "stuurman %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nrun 'stuurman %s --help' for usage\n", cmd);
	return EXIT_USAGE;
}

void cli_print_diags(struct sm_err *err, FILE *out, int with_notes)
{
	struct sm_buf line = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	sm_err_sort(err);
	for (size_t i = 0; i < err->nr; i++) {
		if (err->items[i].severity == SM_NOTE && !with_notes)
			continue;
		sm_buf_reset(&line);
		sm_diag_format(&err->items[i], &line);
		fprintf(out, "%s\n", sm_buf_cstr(&line));
	}
	if (sm_err_dropped(err))
		fprintf(out, "... and %zu more\n", sm_err_dropped(err));
	sm_buf_release(&line);
}

int cmd_version(int argc, char **argv)
{
	if (argc > 1 &&
	    (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		puts("usage: stuurman version\n\nprints stuurman's version");
		return 0;
	}
	if (argc > 1)
		return cli_usage_error("version", "unexpected argument \"%s\"",
				       argv[1]);
	printf("stuurman %s\n", STUURMAN_VERSION);
#if SM_HAVE_MIMALLOC
	/* Naming a mimalloc symbol also keeps --as-needed from dropping it. */
	printf("allocator: mimalloc %d.%d.%d\n", mi_version() / 100,
	       mi_version() / 10 % 10, mi_version() % 10);
#else
	puts("allocator: system");
#endif
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "log-level", required_argument, NULL, 'l' },
		{ "log-format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	enum sm_log_level level = SM_LOG_INFO;
	enum sm_log_format format = SM_LOG_TEXT;
	const struct cli_command *c;
	int opt;

	/* A peer that goes away must be a write error (EPIPE) for the loop to
	 * handle, never a signal that kills a server, an agent or the proxy. */
	signal(SIGPIPE, SIG_IGN);
	/* "+": stop at the command; its options are its own. */
	while ((opt = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (sm_log_level_parse(optarg, &level))
				return cli_usage_error("",
						       "--log-level: "
						       "expected debug, info, "
						       "warn or error, got "
						       "\"%s\"",
						       optarg);
			break;
		case 'f':
			if (sm_log_format_parse(optarg, &format))
				return cli_usage_error("",
						       "--log-format: "
						       "expected text or json, "
						       "got \"%s\"",
						       optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			return cmd_version(1, argv);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	sm_log_setup(level, format, stderr, NULL);
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	c = find_command(argv[optind]);
	if (!c) {
		fprintf(stderr, "stuurman: unknown command \"%s\"\n\n",
			argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	optind = 0; /* reset getopt for the command */
	return c->run(argc, argv);
}
