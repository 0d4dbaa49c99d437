/*
 * cli.h: what the subcommands share. Each command is a function that gets
 * its own argv (argv[0] is the command name) and returns the exit status:
 * 0 success, 1 failure (e.g. invalid manifests), 2 usage error.
 */
#ifndef SM_CLI_H
#define SM_CLI_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "common/err.h"

#define EXIT_USAGE 2

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

int cmd_validate(int argc, char **argv);
int cmd_render(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_podman(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_proxy(int argc, char **argv);
int cmd_server(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_rollback(int argc, char **argv);

/*
 * Builds the demo images that are missing through the Podman service on
 * sock, blocking on a loop of its own, with one progress line each on
 * stdout (each starting with indent). Returns 0 when every image is
 * there, -EIO otherwise (what failed printed on stderr).
 */
int cli_images_ensure(const char *sock, const char *indent);

struct kubeconfig;
struct kubecli;

/*
 * A client of the API server on loop for the kubeconfig that `get` uses:
 * kubeconfig (--kubeconfig) when not NULL, else DATA/kubeconfig of data
 * (--data) when not NULL, else $KUBECONFIG, else the default data dir's.
 * kc (KUBECONFIG_INIT) receives the kubeconfig; release it after the
 * client. Returns NULL with what failed printed on stderr, prefixed with
 * "stuurman CMD: ".
 */
struct kubecli *cli_open_client(uv_loop_t *loop, const char *cmd,
				const char *kubeconfig, const char *data,
				struct kubeconfig *kc);

/* Prints every diagnostic of err to out, one line each, in file order. */
void cli_print_diags(struct sm_err *err, FILE *out, int with_notes);

/*
 * Reads a duration in seconds ("1.5" or "1.5s") into *ms. Returns 0, or
 * -EINVAL for anything else or a negative value.
 */
int cli_parse_seconds(const char *s, uint64_t *ms);

/*
 * The token in the file at path, without surrounding white space, into
 * *out (new). Says why on stderr as "stuurman CMD: PATH: ..." and returns
 * a negative errno when the file cannot be read or holds no token.
 */
int cli_read_token(const char *cmd, const char *path, char **out);

/* "stuurman CMD: MSG" on stderr, then the hint to run --help; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
