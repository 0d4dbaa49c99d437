/*
 * gitpoll_bench.c: the CPU time of a git poll that finds no new commit
 * (bench/gitpoll runs it; see bench/README.md).
 *
 * Makes a repository of FILES manifests (Deployments in folders of 100),
 * a bare copy of it as the remote, and serves that over `git daemon` on
 * 127.0.0.1. Then follows the remote twice with reconciler/gitsource.c: as
 * a local path and as git://127.0.0.1. Once the first commit is delivered,
 * every poll (gitsource_fetch_now() until the fetch counter grows) finds
 * nothing new; its CPU time is the process's (getrusage RUSAGE_SELF, user
 * plus system, all threads: the loop and the pool's worker). The peer is
 * `git fetch --prune --tags origin` into a bare clone of the same remote,
 * its CPU time that of the child and what it waited for (wait4). Polls of
 * the four are interleaved; each round takes the median of its POLLS polls,
 * and min/median/max are over the rounds.
 *
 * A poll that calls the callback or writes and loads a tree is a failure
 * of the benchmark (exit status 1): it would not be measuring a poll.
 *
 * usage: gitpoll_bench WORKDIR [ROUNDS [POLLS [FILES]]]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "stuurman-config.h"
#if SM_HAVE_MIMALLOC
#include <mimalloc.h>
#endif

#include "common/err.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "reconciler/gitsource.h"
#include "common/banned.h"

#define GOAL_MS 5.0

enum { S_LOCAL, G_LOCAL, S_DAEMON, G_DAEMON, NR_KINDS };

static const char *const kind_name[NR_KINDS] = {
	"stuurman, local path",
	"git fetch, local path",
	"stuurman, git://127.0.0.1",
	"git fetch, git://127.0.0.1",
};

struct follow {
	struct gitsource *gs;
	int calls;
	size_t objects;
	bool failed;
	char first_err[512];
};

static uv_loop_t loop;

static void die(const char *fmt, ...) SM_PRINTF(1, 2) __attribute__((noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("gitpoll_bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void sh(const char *fmt, ...) SM_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		die("command failed: %s", cmd);
	free(cmd);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(const struct rusage *r)
{
	return (double)(r->ru_utime.tv_sec + r->ru_stime.tv_sec) * 1e3 +
	       (double)(r->ru_utime.tv_usec + r->ru_stime.tv_usec) / 1e3;
}

/* FILES Deployments, 100 to a folder, as people write them. */
static void make_repo(const char *src, int files)
{
	for (int i = 0; i < files; i++) {
		char *dir = xasprintf("%s/apps/team-%02d", src, i / 100);
		char *path = xasprintf("%s/web-%04d.yaml", dir, i);
		FILE *f;

		mkdir(dir, 0755);
		f = fopen(path, "w");
		if (!f)
			die("%s: %s", path, strerror(errno));
		fprintf(f,
			"apiVersion: apps/v1\n"
			"kind: Deployment\n"
			"metadata:\n"
			"  name: web-%04d\n"
			"  labels:\n"
			"    app: web-%04d\n"
			"    team: team-%02d\n"
			"spec:\n"
			"  replicas: %d\n"
			"  selector:\n"
			"    matchLabels:\n"
			"      app: web-%04d\n"
			"  template:\n"
			"    metadata:\n"
			"      labels:\n"
			"        app: web-%04d\n"
			"    spec:\n"
			"      containers:\n"
			"        - name: web\n"
			"          image: registry.local:5000/shop/web:v1.%d\n"
			"          ports:\n"
			"            - name: http\n"
			"              containerPort: 8080\n"
			"          env:\n"
			"            - name: LOG_LEVEL\n"
			"              value: info\n"
			"          resources:\n"
			"            requests:\n"
			"              cpu: 100m\n"
			"              memory: 128Mi\n"
			"          readinessProbe:\n"
			"            httpGet:\n"
			"              path: /healthz\n"
			"              port: http\n",
			i, i, i / 100, 1 + i % 3, i, i, i % 10);
		fclose(f);
		free(path);
		free(dir);
	}
}

static pid_t daemon_pid;

/* Starts git daemon on a free port of 127.0.0.1, serving base. */
static int start_daemon(const char *base)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int s, port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &len) < 0)
		die("no free port: %s", strerror(errno));
	port = ntohs(a.sin_port);
	close(s);
	daemon_pid = fork();
	if (daemon_pid < 0)
		die("fork: %s", strerror(errno));
	if (daemon_pid == 0) {
		char basearg[1100], portarg[32];
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 2);
		snprintf(basearg, sizeof(basearg), "--base-path=%s", base);
		snprintf(portarg, sizeof(portarg), "--port=%d", port);
		execlp("git", "git", "daemon", "--export-all", "--reuseaddr",
		       "--listen=127.0.0.1", portarg, basearg, base,
		       (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		int rc;

		s = socket(AF_INET, SOCK_STREAM, 0);
		rc = connect(s, (struct sockaddr *)&a, sizeof(a));
		close(s);
		if (rc == 0)
			return port;
		usleep(10000);
	}
	die("git daemon did not listen on 127.0.0.1:%d", port);
}

static void stop_daemon(void)
{
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = 0;
	}
}

static void on_rev(void *ctx, const struct gitsource_rev *rev,
		   const struct sm_err *err)
{
	struct follow *f = ctx;

	f->calls++;
	f->failed = sm_err_failed(err);
	f->objects = rev && rev->objects ? json_array_size(rev->objects) : 0;
	if (err->nr && !f->first_err[0])
		snprintf(f->first_err, sizeof(f->first_err), "%s",
			 err->items[0].msg);
}

static void wait_fetches(struct gitsource *gs, uint64_t n)
{
	struct gitsource_status st;

	for (;;) {
		gitsource_get_status(gs, &st);
		if (st.fetches >= n)
			return;
		uv_run(&loop, UV_RUN_ONCE);
	}
}

static void follow(struct follow *f, const char *url, const char *data,
		   int files)
{
	struct gitsource_opts o = {
		.url = url,
		.path = "apps",
		.data_dir = data,
		.interval_ms = 3600 * 1000, /* only the bench's polls */
		.cb = on_rev,
		.ctx = f,
	};
	struct rusage a, b;
	double t0 = now_ms();

	getrusage(RUSAGE_SELF, &a);
	f->gs = gitsource_new(&loop, &o);
	wait_fetches(f->gs, 1);
	getrusage(RUSAGE_SELF, &b);
	if (f->calls != 1 || f->failed || f->objects != (size_t)files)
		die("%s: the first fetch delivered %zu objects, not %d (%s)",
		    url, f->objects, files, f->first_err);
	printf("first fetch of %s (clone, write %d files, load): %.0f ms "
	       "CPU, %.0f ms wall\n",
	       url, files, cpu_ms(&b) - cpu_ms(&a), now_ms() - t0);
}

/* One poll of the source; its CPU time in ms, the wall time in *wall. */
static double poll_stuurman(struct follow *f, double *wall)
{
	struct gitsource_status st;
	struct rusage a, b;
	double t0;

	gitsource_get_status(f->gs, &st);
	t0 = now_ms();
	getrusage(RUSAGE_SELF, &a);
	gitsource_fetch_now(f->gs);
	wait_fetches(f->gs, st.fetches + 1);
	getrusage(RUSAGE_SELF, &b);
	*wall = now_ms() - t0;
	{
		struct gitsource_status after;

		gitsource_get_status(f->gs, &after);
		if (f->calls != 1 || after.loads != st.loads)
			die("a poll without a new commit called back or loaded "
			    "(calls %d, loads %llu -> %llu)",
			    f->calls, (unsigned long long)st.loads,
			    (unsigned long long)after.loads);
	}
	return cpu_ms(&b) - cpu_ms(&a);
}

static double poll_git(const char *gitdir, double *wall)
{
	struct rusage ru;
	int status;
	double t0 = now_ms();
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execlp("git", "git", "--git-dir", gitdir, "fetch", "-q",
		       "--prune", "--tags", "origin", (char *)NULL);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		die("git fetch into %s failed", gitdir);
	*wall = now_ms() - t0;
	return cpu_ms(&ru);
}

/* A positive int argument, or the default when absent. */
static int arg_int(int argc, char **argv, int i, int def)
{
	char *end;
	long v;

	if (argc <= i)
		return def;
	errno = 0;
	v = strtol(argv[i], &end, 10);
	if (errno || *end || v < 1 || v > 1000000)
		die("%s: expected a positive integer", argv[i]);
	return (int)v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

int main(int argc, char **argv)
{
	const char *work;
	int rounds, polls, files, port;
	char *src, *remote, *durl, *peer_local, *peer_daemon, *data1, *data2;
	struct follow fl = { 0 }, fd = { 0 };
	double *cpu[NR_KINDS], *wall[NR_KINDS], *round_cpu[NR_KINDS],
		*round_wall[NR_KINDS], scratch_w;

	if (argc < 2)
		die("usage: gitpoll_bench WORKDIR [ROUNDS [POLLS [FILES]]]");
	work = argv[1];
	rounds = arg_int(argc, argv, 2, 5);
	polls = arg_int(argc, argv, 3, 20);
	files = arg_int(argc, argv, 4, 1000);
	signal(SIGPIPE, SIG_IGN);
	sm_log_setup(SM_LOG_WARN, SM_LOG_TEXT, NULL, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "Bench", 1);
	setenv("GIT_AUTHOR_EMAIL", "bench@example.org", 1);
	setenv("GIT_COMMITTER_NAME", "Bench", 1);
	setenv("GIT_COMMITTER_EMAIL", "bench@example.org", 1);

	nftw(work, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (mkdir(work, 0755) < 0 && errno != EEXIST)
		die("%s: %s", work, strerror(errno));
	src = xasprintf("%s/src", work);
	remote = xasprintf("%s/remote.git", work);
	peer_local = xasprintf("%s/peer-local.git", work);
	peer_daemon = xasprintf("%s/peer-daemon.git", work);
	data1 = xasprintf("%s/data-local", work);
	data2 = xasprintf("%s/data-daemon", work);
	sh("git init -q -b main %s && mkdir -p %s/apps", src, src);
	make_repo(src, files);
	sh("git -C %s add -A && git -C %s commit -q -m 'the manifests' && "
	   "git -C %s tag v1 && git clone -q --bare %s %s",
	   src, src, src, src, remote);
	port = start_daemon(work);
	atexit(stop_daemon);
	durl = xasprintf("git://127.0.0.1:%d/remote.git", port);
	sh("git init -q --bare %s && git --git-dir=%s remote add origin %s && "
	   "git --git-dir=%s fetch -q --tags origin",
	   peer_local, peer_local, remote, peer_local);
	sh("git init -q --bare %s && git --git-dir=%s remote add origin %s && "
	   "git --git-dir=%s fetch -q --tags origin",
	   peer_daemon, peer_daemon, durl, peer_daemon);

	printf("repository: %d Deployments in %d folders, one commit; "
	       "%d rounds of %d polls each\n",
	       files, (files + 99) / 100, rounds, polls);
	uv_loop_init(&loop);
	follow(&fl, remote, data1, files);
	follow(&fd, durl, data2, files);
	/* One untimed poll of each, so every path has run once. */
	poll_stuurman(&fl, &scratch_w);
	poll_stuurman(&fd, &scratch_w);
	poll_git(peer_local, &scratch_w);
	poll_git(peer_daemon, &scratch_w);

	for (int k = 0; k < NR_KINDS; k++) {
		cpu[k] = xcalloc((size_t)polls, sizeof(double));
		wall[k] = xcalloc((size_t)polls, sizeof(double));
		round_cpu[k] = xcalloc((size_t)rounds, sizeof(double));
		round_wall[k] = xcalloc((size_t)rounds, sizeof(double));
	}
	for (int r = 0; r < rounds; r++) {
		for (int p = 0; p < polls; p++) {
			/* Interleaved, the first one rotating. */
			for (int i = 0; i < NR_KINDS; i++) {
				int k = (i + p + r) % NR_KINDS;

				switch (k) {
				case S_LOCAL:
					cpu[k][p] =
						poll_stuurman(&fl, &wall[k][p]);
					break;
				case S_DAEMON:
					cpu[k][p] =
						poll_stuurman(&fd, &wall[k][p]);
					break;
				case G_LOCAL:
					cpu[k][p] = poll_git(peer_local,
							     &wall[k][p]);
					break;
				default:
					cpu[k][p] = poll_git(peer_daemon,
							     &wall[k][p]);
					break;
				}
			}
		}
		for (int k = 0; k < NR_KINDS; k++) {
			round_cpu[k][r] = median(cpu[k], (size_t)polls);
			round_wall[k][r] = median(wall[k], (size_t)polls);
		}
	}

	printf("\nCPU time of one poll that finds no new commit, ms "
	       "(median of %d polls per round; min / median / max over %d "
	       "rounds)\n",
	       polls, rounds);
	printf("%-28s %24s %24s\n", "", "CPU ms", "wall ms");
	double med_cpu[NR_KINDS];

	for (int k = 0; k < NR_KINDS; k++) {
		double c = median(round_cpu[k], (size_t)rounds);
		double w = median(round_wall[k], (size_t)rounds);

		med_cpu[k] = c;
		printf("%-28s %7.2f / %6.2f / %6.2f %7.2f / %6.2f / %6.2f\n",
		       kind_name[k], round_cpu[k][0], c,
		       round_cpu[k][rounds - 1], round_wall[k][0], w,
		       round_wall[k][rounds - 1]);
	}
	printf("\nratio of the medians (git fetch / stuurman): local path "
	       "%.1fx, git:// %.1fx\n",
	       med_cpu[S_LOCAL] > 0 ? med_cpu[G_LOCAL] / med_cpu[S_LOCAL] : 0,
	       med_cpu[S_DAEMON] > 0 ? med_cpu[G_DAEMON] / med_cpu[S_DAEMON]
				     : 0);
	printf("(git fetch counts its own process and what it waits for: "
	       "upload-pack for a local path; the daemon's side is in "
	       "neither figure for git://)\n");
	printf("goal: a poll without a new commit under %.0f ms of CPU: %s "
	       "(local path %.2f ms, git:// %.2f ms at the median)\n",
	       GOAL_MS,
	       med_cpu[S_LOCAL] < GOAL_MS && med_cpu[S_DAEMON] < GOAL_MS
		       ? "met"
		       : "MISSED",
	       med_cpu[S_LOCAL], med_cpu[S_DAEMON]);

	gitsource_free(fl.gs);
	gitsource_free(fd.gs);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	stop_daemon();
	for (int k = 0; k < NR_KINDS; k++) {
		free(cpu[k]);
		free(wall[k]);
		free(round_cpu[k]);
		free(round_wall[k]);
	}
	free(src);
	free(remote);
	free(durl);
	free(peer_local);
	free(peer_daemon);
	free(data1);
	free(data2);
	return 0;
}
