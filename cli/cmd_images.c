/*
 * cmd_images.c: `stuurman images`, which builds the demo images
 * (nodeagent/images/images.h) that are missing, offline.
 *
 * For now it drives Podman through the podman command as a remote client
 * (`podman --url unix://SOCKET image exists|build`), which sends the build
 * context to the same REST build endpoint. nodeagent/podman.h's
 * podman_image_exists() and podman_image_build() replace these two calls
 * once that client lands; the rest stays.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/xalloc.h"
#include "nodeagent/images/images.h"
#include "nodeagent/service.h"
#include "common/banned.h"

extern char **environ;

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

/* Runs argv with its output in log_path; returns the exit status or -errno.
 */
static int run(const char *const *argv, const char *log_path)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log_path,
					 O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv,
			 environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r)
		return -r;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* 0 exists, 1 missing, or a negative errno / other status with a message. */
static int image_exists(const char *url, const char *name, const char *log)
{
	const char *argv[] = { "podman", "--url", url, "image",
			       "exists", name,	  NULL };
	int r = run(argv, log);

	if (r == 0 || r == 1)
		return r;
	if (r < 0)
		fprintf(stderr, "stuurman images: cannot run podman: %s%s\n",
			strerror(-r),
			r == -ENOENT ? ": install podman (ci/setup does)" : "");
	else
		fprintf(stderr,
			"stuurman images: `podman image exists %s` failed "
			"(status %d): see %s\n",
			name, r, log);
	return r < 0 ? r : -EIO;
}

static void print_file(const char *path)
{
	struct sm_buf b = SM_BUF_INIT(1u << 20);

	if (!sm_buf_read_file(&b, path))
		fputs(sm_buf_cstr(&b), stderr);
	sm_buf_release(&b);
}

static int build(const char *url, const struct demo_image *img,
		 const char *work)
{
	struct demo_context ctx = DEMO_CONTEXT_INIT;
	struct sm_err err = SM_ERR_INIT;
	char *dir SM_AUTOFREE = xasprintf("%s/context", work);
	char *file SM_AUTOFREE = xasprintf("%s/Containerfile", dir);
	char *log SM_AUTOFREE = xasprintf("%s/build.log", work);
	const char *argv[] = { "podman",
			       "--url",
			       url,
			       "build",
			       "--pull=never",
			       "--network=none",
			       "--layers",
			       "--quiet",
			       "-t",
			       img->name,
			       "-f",
			       file,
			       dir,
			       NULL };
	struct timespec t0;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	unlink(log);
	if (mkdir(dir, 0700)) {
		fprintf(stderr, "stuurman images: cannot create \"%s\": %s\n",
			dir, strerror(errno));
		return 1;
	}
	r = demo_context_load(&ctx, img, NULL, &err);
	if (!r)
		r = demo_context_write_dir(&ctx, dir, &err);
	demo_context_release(&ctx);
	if (r) {
		cli_print_diags(&err, stderr, 0);
		sm_err_release(&err);
		return 1;
	}
	r = run(argv, log);
	if (r) {
		fprintf(stderr,
			"stuurman images: building \"%s\" failed (%s "
			"%d); podman said:\n",
			img->name, r < 0 ? "error" : "status", r < 0 ? -r : r);
		print_file(log);
		return 1;
	}
	printf("built %s (%.1f s)\n", img->name, seconds_since(&t0));
	fflush(stdout);
	return 0;
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
	char *url SM_AUTOFREE = NULL, *work SM_AUTOFREE = NULL;
	char *log SM_AUTOFREE = NULL;
	int built = 0, present = 0, failed = 0;
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
	if (!podman_service_ping_socket(sock, 5000)) {
		fprintf(stderr,
			"stuurman images: no Podman service answers on \"%s\": "
			"start one with 'stuurman podman start%s%s' or pass "
			"--podman-socket PATH\n",
			sock, data ? " --data " : "", data ? data : "");
		return 1;
	}
	url = xasprintf("unix://%s", sock);
	work = xasprintf("%s/stuurman-images.XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(work)) {
		fprintf(stderr, "stuurman images: cannot create \"%s\": %s\n",
			work, strerror(errno));
		return 1;
	}
	log = xasprintf("%s/podman.log", work);

	for (size_t i = 0; i < demo_images_nr; i++) {
		const struct demo_image *img = &demo_images[i];
		int r = image_exists(url, img->name, log);

		if (r == 0) {
			printf("present %s\n", img->name);
			present++;
		} else if (r == 1) {
			if (build(url, img, work))
				failed++;
			else
				built++;
		} else {
			failed++;
			break;
		}
	}
	nftw(work, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	printf("images: %d built, %d present, %d failed\n", built, present,
	       failed);
	return failed ? 1 : 0;
}
