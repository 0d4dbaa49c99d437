/*
 * cmd_images.c: `stuurman images`, which builds the demo images
 * (nodeagent/images/images.h) that are missing, offline, through Podman's
 * REST API: podman_image_exists(), then podman_image_build() with the build
 * context as a tar archive made in memory (common/tar.h).
 *
 * One image at a time: the loop is ours, so each call runs the loop until
 * its callback has come, which keeps the steps in reading order.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/tar.h"
#include "common/xalloc.h"
#include "nodeagent/images/images.h"
#include "nodeagent/podman.h"
#include "nodeagent/service.h"
#include "common/banned.h"

/* A build context stays far below this (busybox + bootcamp: ~3 MiB). */
#define CONTEXT_MAX (64u << 20)

static const char images_help[] =
	"usage: stuurman images [--data DIR] [--podman-socket PATH]\n"
	"\n"
	"Builds the demo images that are missing, offline, FROM scratch:\n"
	"\n"
	"  docker.io/library/busybox:1.36 (short name busybox:1.36)\n"
	"  gcr.io/google-samples/kubernetes-bootcamp:v1 and :v2\n"
	"\n"
	"An image that exists is left as it is. busybox comes from Debian's\n"
	"busybox-static (/bin/busybox); the bootcamp program is built into\n"
	"stuurman.\n"
	"\n"
	"  --data DIR            use DIR/podman.sock, the service of\n"
	"                        `stuurman podman start --data DIR`\n"
	"  --podman-socket PATH  the Podman API socket to use (default:\n"
	"                        $SM_PODMAN_SOCKET, else DATA/podman.sock)\n"
	"\n"
	"Exit status: 0 every image is there, 1 failed, 2 usage.\n";

/* What one call answered, kept past its callback. */
struct answer {
	bool done;
	bool ok;
	int status;
	char *error; /* new, or NULL */
};

static void on_reply(void *ctx, const struct podman_reply *r)
{
	struct answer *a = ctx;

	a->done = true;
	a->ok = r->ok;
	a->status = r->status;
	a->error = r->error ? xstrdup(r->error) : NULL;
}

static void wait_for(uv_loop_t *loop, struct answer *a)
{
	while (!a->done && uv_run(loop, UV_RUN_ONCE))
		;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* 0 exists, 1 missing, -EIO with a message printed. */
static int image_exists(uv_loop_t *loop, struct podman *p, const char *name)
{
	struct answer a = { 0 };
	int r = podman_image_exists(p, name, on_reply, &a);

	if (r) {
		fprintf(stderr, "stuurman images: \"%s\": %s\n", name,
			strerror(-r));
		return -EIO;
	}
	wait_for(loop, &a);
	r = a.ok ? 0 : a.status == 404 ? 1 : -EIO;
	if (r < 0)
		fprintf(stderr, "stuurman images: \"%s\": %s\n", name,
			a.error ? a.error : "no answer from Podman");
	free(a.error);
	return r;
}

static int build(uv_loop_t *loop, struct podman *p,
		 const struct demo_image *img, const char *indent)
{
	struct demo_context ctx = DEMO_CONTEXT_INIT;
	struct sm_err err = SM_ERR_INIT;
	struct sm_tar tar;
	struct answer a = { 0 };
	struct timespec t0;
	const char *data = NULL;
	size_t len = 0;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	sm_tar_init(&tar, CONTEXT_MAX);
	r = demo_context_load(&ctx, img, NULL, &err);
	if (!r)
		r = demo_context_tar(&ctx, &tar, &err);
	demo_context_release(&ctx);
	if (!r && sm_tar_finish(&tar, &data, &len))
		r = sm_error(&err, NULL,
			     "image \"%s\": build context over %u "
			     "bytes",
			     img->name, CONTEXT_MAX);
	if (!r)
		r = podman_image_build(p, img->name, data, len, on_reply, &a);
	if (r) {
		if (!sm_err_failed(&err))
			sm_error(&err, NULL, "image \"%s\": %s", img->name,
				 strerror(-r));
		cli_print_diags(&err, stderr, 0);
		sm_err_release(&err);
		sm_tar_release(&tar);
		return 1;
	}
	wait_for(loop, &a);
	sm_tar_release(&tar);
	if (!a.ok) {
		fprintf(stderr, "stuurman images: building \"%s\" failed: %s\n",
			img->name, a.error ? a.error : "no answer from Podman");
		free(a.error);
		return 1;
	}
	free(a.error);
	printf("%sbuilt %s (%.1f s)\n", indent, img->name, seconds_since(&t0));
	fflush(stdout);
	return 0;
}

int cli_images_ensure(const char *sock, const char *indent)
{
	int built = 0, present = 0, failed = 0;
	struct podman *p;
	uv_loop_t loop;
	int r;

	r = uv_loop_init(&loop);
	if (r) {
		fprintf(stderr, "stuurman images: %s\n", uv_strerror(r));
		return -EIO;
	}
	p = podman_new(&loop, sock);
	for (size_t i = 0; i < demo_images_nr; i++) {
		const struct demo_image *img = &demo_images[i];

		r = image_exists(&loop, p, img->name);
		if (r == 0) {
			printf("%spresent %s\n", indent, img->name);
			present++;
		} else if (r == 1) {
			printf("%sbuilding %s\n", indent, img->name);
			fflush(stdout);
			if (build(&loop, p, img, indent))
				failed++;
			else
				built++;
		} else {
			failed++;
			break;
		}
	}
	podman_free(p);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop))
		fprintf(stderr, "stuurman images: handles left open\n");
	printf("%simages: %d built, %d present, %d failed\n", indent, built,
	       present, failed);
	fflush(stdout);
	return failed ? -EIO : 0;
}

int cmd_images(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "podman-socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *sock = NULL, *env_sock;
	char *data_def SM_AUTOFREE = NULL, *sock_def SM_AUTOFREE = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			data = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			fputs(images_help, stdout);
			return 0;
		default:
			return cli_usage_error("images", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("images", "unexpected argument \"%s\"",
				       argv[optind]);
	env_sock = getenv("SM_PODMAN_SOCKET");
	if (!sock && !data && env_sock && env_sock[0])
		sock = env_sock;
	if (!sock) {
		if (!data) {
			struct sm_err err = SM_ERR_INIT;

			data_def = podman_service_default_data_dir(&err);
			if (!data_def) {
				cli_print_diags(&err, stderr, 0);
				sm_err_release(&err);
				return 1;
			}
			data = data_def;
		}
		sock_def = xasprintf("%s/podman.sock", data);
		sock = sock_def;
	}
	/* A quick check first, for a message that says what to do. */
	if (!podman_service_ping_socket(sock, 5000)) {
		fprintf(stderr,
			"stuurman images: no Podman service answers on \"%s\": "
			"start one with 'stuurman podman start%s%s' or pass "
			"--podman-socket PATH\n",
			sock, data ? " --data " : "", data ? data : "");
		return 1;
	}

	return cli_images_ensure(sock, "") ? 1 : 0;
}
