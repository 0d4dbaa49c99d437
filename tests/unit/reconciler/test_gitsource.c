/*
 * Tests for reconciler/gitsource.c: real repositories made with the git
 * command in temporary directories, fetched through libgit2 on a real
 * loop; every test ends with uv_loop_close() == 0 and removes its folders.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "reconciler/gitsource.h"
#include "common/banned.h"

/* A valid manifest named and holding v, so each file loads. */
#define CM(v)                                                    \
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " v \
	"\ndata:\n  v: " v "\n"

struct seen {
	int calls;
	int oks;
	int objects; /* objects of the last rev; -1: NULL (load errors) */
	bool failed; /* the last call's err had errors */
	char sha[GITSOURCE_SHA_LEN + 1];
	char author[256];
	char subject[256];
	char names[1024]; /* the delivered objects' names, "a,b" */
	char err[4096];
	bool rewritten, recloned;
	bool bad_short; /* a broken promise, checked outside the callback */
};

struct fx {
	uv_loop_t loop;
	char tmp[64];
	char src[128], remote[128], data[128];
	struct seen seen;
	struct gitsource *gs;
	pid_t http_pid; /* a git_http_server.py running, or 0 */
};

static void sh(const char *fmt, ...) SM_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int rc;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fail_msg("command failed (%d): %s", rc, cmd);
	free(cmd);
}

static void head_of(const char *repo, char out[GITSOURCE_SHA_LEN + 1])
{
	char *cmd = xasprintf("git -C %s rev-parse HEAD", repo);
	FILE *p = popen(cmd, "r");

	assert_non_null(p);
	assert_non_null(fgets(out, GITSOURCE_SHA_LEN + 1, p));
	pclose(p);
	free(cmd);
}

/* The objects' metadata.name, comma-separated, in their order. */
static void names_of(const json_t *objects, char *out, size_t size)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	size_t i;
	json_t *o;

	json_array_foreach (objects, i, o) {
		if (i)
			sm_buf_addch(&b, ',');
		sm_buf_adds(&b, sm_json_get_str(json_object_get(o, "metadata"),
						"name"));
	}
	snprintf(out, size, "%s", sm_buf_cstr(&b));
	sm_buf_release(&b);
}

static void on_rev(void *ctx, const struct gitsource_rev *rev,
		   const struct sm_err *err)
{
	struct seen *s = ctx;

	s->calls++;
	s->err[0] = 0;
	s->failed = sm_err_failed(err);
	size_t off = 0;

	for (size_t i = 0; i < err->nr && off < sizeof(s->err); i++) {
		struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		int n;

		sm_diag_format(&err->items[i], &b);
		n = snprintf(s->err + off, sizeof(s->err) - off, "%s\n",
			     sm_buf_cstr(&b));
		sm_buf_release(&b);
		if (n > 0)
			off += (size_t)n;
	}
	if (rev) {
		s->oks++;
		snprintf(s->sha, sizeof(s->sha), "%s", rev->sha);
		snprintf(s->author, sizeof(s->author), "%s <%s>",
			 rev->author_name, rev->author_email);
		snprintf(s->subject, sizeof(s->subject), "%s", rev->subject);
		names_of(rev->objects, s->names, sizeof(s->names));
		s->rewritten = rev->rewritten;
		s->recloned = rev->recloned;
		s->objects =
			rev->objects ? (int)json_array_size(rev->objects) : -1;
		s->bad_short = strlen(rev->short_sha) != 7 ||
			       memcmp(rev->short_sha, rev->sha, 7) ||
			       (rev->objects == NULL) != s->failed;
		return;
	}
	s->bad_short = !s->failed; /* rev NULL says why */
}

static void watchdog(uv_timer_t *t)
{
	(void)t;
	fail_msg("no callback within 60 s");
}

/* Runs the loop until the callback has been called `calls` times. */
static void wait_calls(struct fx *f, int calls)
{
	uv_timer_t t;

	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, watchdog, 60000, 0);
	while (f->seen.calls < calls)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_false(f->seen.bad_short);
}

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "Ann Example", 1);
	setenv("GIT_AUTHOR_EMAIL", "ann@example.org", 1);
	setenv("GIT_COMMITTER_NAME", "Ann Example", 1);
	setenv("GIT_COMMITTER_EMAIL", "ann@example.org", 1);
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/sm-gitsource-XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->src, sizeof(f->src), "%s/src", f->tmp);
	snprintf(f->remote, sizeof(f->remote), "%s/remote.git", f->tmp);
	snprintf(f->data, sizeof(f->data), "%s/data", f->tmp);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	sh("git init -q -b main %s && git init -q --bare -b main %s && "
	   "git -C %s remote add origin %s",
	   f->src, f->remote, f->src, f->remote);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->http_pid > 0) {
		kill(f->http_pid, SIGTERM);
		waitpid(f->http_pid, NULL, 0);
	}
	gitsource_free(f->gs);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	assert_int_equal(nftw(f->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(f);
	return 0;
}

/* Writes a file in the work repository and commits and pushes it. */
static void commit_file(struct fx *f, const char *file, const char *text,
			const char *subject)
{
	char *p = xasprintf("%s/%s", f->src, file);
	char *d = xstrdup(p);
	FILE *o;

	*strrchr(d, '/') = 0;
	sh("mkdir -p %s", d);
	o = fopen(p, "w");
	assert_non_null(o);
	fputs(text, o);
	fclose(o);
	sh("git -C %s add -A && git -C %s commit -q -m '%s' -m 'body text' && "
	   "git -C %s push -q -f origin HEAD:main 2>/dev/null",
	   f->src, f->src, subject, f->src);
	free(p);
	free(d);
}

static void start(struct fx *f, const char *url, const char *branch,
		  const char *path, uint64_t max_file)
{
	struct gitsource_opts o = {
		.url = url,
		.branch = branch,
		.path = path,
		.data_dir = f->data,
		.interval_ms = 3600 * 1000,
		.max_file = max_file,
		.cb = on_rev,
		.ctx = &f->seen,
	};

	f->gs = gitsource_new(&f->loop, &o);
	assert_non_null(f->gs);
}

static char *slurp(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	static char buf[256];
	FILE *i = fopen(p, "r");
	size_t n;

	free(p);
	if (!i)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, i);
	buf[n] = 0;
	fclose(i);
	return buf;
}

/* Whether DATA/git/rev exists: only older versions wrote revisions out. */
static bool rev_dir_exists(struct fx *f)
{
	char *p = xasprintf("%s/git/rev", f->data);
	bool r = access(p, F_OK) == 0;

	free(p);
	return r;
}

static void test_commits_are_delivered_with_their_files_and_author(void **state)
{
	struct fx *f = *state;
	char sha[GITSOURCE_SHA_LEN + 1];

	commit_file(f, "apps/web.yaml", CM("one"), "first commit");
	commit_file(f, "other/outside.yaml", CM("outside"), "second");
	sh("printf '#!/bin/sh\\n' > %s/apps/run.sh && chmod +x %s/apps/run.sh",
	   f->src, f->src);
	/* Hidden entries are no manifests, as in a folder. */
	commit_file(f, "apps/.ci/bad.yaml", "a: [1, 2\n", "hidden");
	commit_file(f, "apps/.bad.yaml", "a: [1, 2\n", "hidden too");
	commit_file(f, "apps/sub/db.yaml", CM("db"), "add the database");
	head_of(f->src, sha);
	start(f, f->remote, NULL, "/apps/", 0);
	wait_calls(f, 1);
	assert_false(f->seen.failed);
	assert_string_equal(f->seen.sha, sha);
	assert_string_equal(f->seen.author, "Ann Example <ann@example.org>");
	assert_string_equal(f->seen.subject, "add the database");
	assert_false(f->seen.rewritten);
	/* In the order of a walk of sorted folders; nothing outside path. */
	assert_string_equal(f->seen.names, "db,one");
	assert_string_equal(f->seen.err,
			    "apps/run.sh: note: skipped: a script, not a "
			    "manifest\n");
	assert_false(rev_dir_exists(f));

	/* A second commit, seen on fetch_now. */
	commit_file(f, "apps/web.yaml", CM("two"), "second web");
	head_of(f->src, sha);
	gitsource_fetch_now(f->gs);
	wait_calls(f, 2);
	assert_string_equal(f->seen.sha, sha);
	assert_string_equal(f->seen.subject, "second web");
	assert_string_equal(f->seen.names, "db,two");

	/* A third, seen by the watch on the remote's refs alone. */
	commit_file(f, "apps/web.yaml", CM("three"), "third web");
	head_of(f->src, sha);
	wait_calls(f, 3);
	assert_string_equal(f->seen.sha, sha);
	assert_string_equal(f->seen.names, "db,three");

	/* A force-push: delivered, and said to rewrite history. */
	sh("git -C %s reset -q --hard HEAD~2", f->src);
	commit_file(f, "apps/web.yaml", CM("forced"), "forced web");
	head_of(f->src, sha);
	gitsource_fetch_now(f->gs);
	wait_calls(f, 4);
	assert_string_equal(f->seen.sha, sha);
	assert_true(f->seen.rewritten);
	assert_string_equal(f->seen.names, "db,forced");
	assert_int_equal(f->seen.oks, 4);
	assert_false(rev_dir_exists(f));
}

static void test_a_deleted_branch_is_an_error_and_delivers_nothing(void **state)
{
	struct fx *f = *state;

	commit_file(f, "a.yaml", CM("a"), "on main");
	sh("git -C %s push -q origin HEAD:feature 2>/dev/null", f->src);
	start(f, f->remote, "feature", NULL, 0);
	wait_calls(f, 1);
	assert_false(f->seen.failed);
	assert_string_equal(f->seen.names, "a");
	sh("git -C %s push -q origin --delete feature 2>/dev/null", f->src);
	gitsource_fetch_now(f->gs);
	wait_calls(f, 2);
	assert_int_equal(f->seen.oks, 1);
	assert_non_null(strstr(f->seen.err, "branch \"feature\""));
	assert_non_null(strstr(f->seen.err, "does not exist"));
	assert_string_equal(f->seen.names, "a"); /* no rev since */
}

static void test_a_missing_path_is_an_error_naming_it(void **state)
{
	struct fx *f = *state;

	commit_file(f, "a/x.yaml", CM("a"), "one");
	start(f, f->remote, NULL, "nope/deeper", 0);
	wait_calls(f, 1);
	assert_int_equal(f->seen.oks, 0);
	assert_non_null(strstr(f->seen.err, "path \"nope/deeper\""));
	/* The same error again calls nobody; a fix delivers. */
	commit_file(f, "nope/deeper/x.yaml", CM("b"), "two");
	gitsource_fetch_now(f->gs);
	wait_calls(f, 2);
	assert_int_equal(f->seen.oks, 1);
	assert_string_equal(f->seen.names, "b");
}

static void test_an_empty_repository_is_an_error(void **state)
{
	struct fx *f = *state;

	start(f, f->remote, NULL, NULL, 0);
	wait_calls(f, 1);
	assert_int_equal(f->seen.oks, 0);
	assert_non_null(strstr(f->seen.err, "empty"));
	assert_non_null(strstr(f->seen.err, f->remote));
}

static void test_a_missing_remote_is_an_error_naming_it(void **state)
{
	struct fx *f = *state;
	char *url = xasprintf("file://%s/no-such-repo", f->tmp);

	start(f, url, NULL, NULL, 0);
	wait_calls(f, 1);
	assert_int_equal(f->seen.oks, 0);
	assert_non_null(strstr(f->seen.err, "no-such-repo"));
	assert_non_null(strstr(f->seen.err, "unreachable"));
	free(url);
}

static void test_a_file_over_the_limit_is_refused_and_not_written(void **state)
{
	struct fx *f = *state;
	char *big = xcalloc(1, 5000);

	memset(big, 'x', 4999);
	commit_file(f, "small.yaml", CM("a"), "small");
	commit_file(f, "deep/big.yaml", big, "big");
	start(f, f->remote, NULL, NULL, 4096);
	wait_calls(f, 1);
	assert_int_equal(f->seen.oks, 0);
	assert_non_null(strstr(f->seen.err, "deep/big.yaml"));
	assert_non_null(strstr(f->seen.err, "over the limit"));
	assert_false(rev_dir_exists(f));
	free(big);
}

static void test_a_symlink_is_refused(void **state)
{
	struct fx *f = *state;

	sh("mkdir -p %s && ln -s /etc/passwd %s/link.yaml", f->src, f->src);
	commit_file(f, "a.yaml", CM("a"), "with a link");
	start(f, f->remote, NULL, NULL, 0);
	wait_calls(f, 1);
	assert_int_equal(f->seen.oks, 0);
	assert_non_null(strstr(f->seen.err, "link.yaml"));
	assert_non_null(strstr(f->seen.err, "symbolic link"));
}

static void test_a_corrupt_clone_is_cloned_again(void **state)
{
	struct fx *f = *state;
	char sha[GITSOURCE_SHA_LEN + 1];
	char *git = xasprintf("%s/git", f->data);
	char *objs = NULL;
	DIR *d;
	struct dirent *de;

	commit_file(f, "a.yaml", CM("a"), "one");
	commit_file(f, "keep.yaml", CM("kept"), "two");
	start(f, f->remote, NULL, NULL, 0);
	wait_calls(f, 1);
	assert_int_equal(f->seen.oks, 1);
	assert_false(f->seen.recloned);
	d = opendir(git);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			objs = xasprintf("%s/%s/objects", git, de->d_name);
	closedir(d);
	assert_non_null(objs);
	/* Every object and pack of the clone is lost; the next commit
	 * shares the blob of keep.yaml with the lost ones. */
	sh("find %s -type f -delete", objs);
	commit_file(f, "a.yaml", CM("b"), "three");
	head_of(f->src, sha);
	gitsource_fetch_now(f->gs);
	wait_calls(f, 2);
	assert_false(f->seen.failed);
	assert_int_equal(f->seen.oks, 2);
	assert_true(f->seen.recloned);
	assert_string_equal(f->seen.sha, sha);
	assert_string_equal(f->seen.names, "b,kept");
	free(objs);
	free(git);
}

static void start_rev(struct fx *f, const char *revision)
{
	struct gitsource_opts o = {
		.url = f->remote,
		.revision = revision,
		.data_dir = f->data,
		.cb = on_rev,
		.ctx = &f->seen,
	};

	f->gs = gitsource_new(&f->loop, &o);
}

static void test_a_revision_pins_a_tag_or_a_commit(void **state)
{
	struct fx *f = *state;
	char one[GITSOURCE_SHA_LEN + 1], two[GITSOURCE_SHA_LEN + 1];

	commit_file(f, "a.yaml", CM("one"), "one");
	head_of(f->src, one);
	sh("git -C %s tag v1 && git -C %s push -q origin v1 2>/dev/null",
	   f->src, f->src);
	commit_file(f, "a.yaml", CM("two"), "two");
	commit_file(f, "a.yaml", CM("three"), "three");
	sh("git -C %s rev-parse HEAD~1 > %s/two", f->src, f->tmp);
	snprintf(two, sizeof(two), "%.40s", slurp(f->tmp, "two"));
	start_rev(f, "v1");
	wait_calls(f, 1);
	assert_false(f->seen.failed);
	assert_string_equal(f->seen.sha, one);
	assert_string_equal(f->seen.names, "one");
	gitsource_free(f->gs);
	f->gs = NULL;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	start_rev(f, two);
	wait_calls(f, 2);
	assert_false(f->seen.failed);
	assert_string_equal(f->seen.sha, two);
	assert_string_equal(f->seen.names, "two");
	gitsource_free(f->gs);
	f->gs = NULL;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	start_rev(f, "no-such-tag");
	wait_calls(f, 3);
	assert_non_null(strstr(f->seen.err, "\"no-such-tag\""));
}

static bool have_git_daemon(void)
{
	return system("test -x \"$(git --exec-path)/git-daemon\"") == 0;
}

static void test_a_git_daemon_remote_is_fetched(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	char sha[GITSOURCE_SHA_LEN + 1];
	int s, port;
	pid_t pid;

	if (!have_git_daemon()) {
		skip();
		return;
	}
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(s);
	commit_file(f, "a.yaml", CM("a"), "over git://");
	head_of(f->src, sha);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char base[160], portarg[32];

		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 2); /* the probe's hang-ups are no news */
		snprintf(base, sizeof(base), "--base-path=%s", f->tmp);
		snprintf(portarg, sizeof(portarg), "--port=%d", port);
		execlp("git", "git", "daemon", "--export-all", "--reuseaddr",
		       "--listen=127.0.0.1", portarg, base, f->tmp,
		       (char *)NULL);
		_exit(127);
	}
	/* Wait until it listens. */
	for (int i = 0; i < 500; i++) {
		s = socket(AF_INET, SOCK_STREAM, 0);
		int rc = connect(s, (struct sockaddr *)&a, sizeof(a));

		close(s);
		if (rc == 0)
			break;
		usleep(10000);
	}
	char *url = xasprintf("git://127.0.0.1:%d/remote.git", port);

	start(f, url, NULL, NULL, 0);
	wait_calls(f, 1);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	assert_false(f->seen.failed);
	assert_string_equal(f->seen.sha, sha);
	assert_string_equal(f->seen.names, "a");
	free(url);
}

static void watchdog_status(uv_timer_t *t)
{
	(void)t;
	fail_msg("the status did not change within 60 s");
}

/* Runs the loop until the source has finished `n` fetch jobs. */
static void wait_fetches(struct fx *f, uint64_t n)
{
	struct gitsource_status st;
	uv_timer_t t;

	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, watchdog_status, 60000, 0);
	for (;;) {
		gitsource_get_status(f->gs, &st);
		if (st.fetches >= n)
			break;
		uv_run(&f->loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void
test_load_errors_name_files_as_in_the_repository_and_still_deliver(void **state)
{
	struct fx *f = *state;
	char sha[GITSOURCE_SHA_LEN + 1];

	commit_file(f, "apps/dup.yaml", CM("one"), "first");
	commit_file(f, "apps/sub/again.yaml", CM("one"), "a duplicate");
	commit_file(f, "apps/web.yaml",
		    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		    "  name: Web_Bad\n",
		    "a bad name");
	head_of(f->src, sha);
	start(f, f->remote, NULL, "apps", 0);
	wait_calls(f, 1);
	/* Delivered, so the caller can say which commit was rejected. */
	assert_int_equal(f->seen.oks, 1);
	assert_string_equal(f->seen.sha, sha);
	assert_true(f->seen.failed);
	assert_int_equal(f->seen.objects, -1);
	assert_non_null(strstr(f->seen.err, "apps/web.yaml:4:"));
	assert_non_null(strstr(f->seen.err, "apps/sub/again.yaml:1:1: "));
	assert_non_null(
		strstr(f->seen.err, "also defined at apps/dup.yaml:1:1"));
	assert_null(strstr(f->seen.err, "/git/rev/"));
	assert_null(strstr(f->seen.err, f->tmp));

	/* The same commit again calls nobody; a fix is delivered loaded. */
	gitsource_fetch_now(f->gs);
	wait_fetches(f, 2);
	assert_int_equal(f->seen.calls, 1);
	sh("git -C %s rm -q apps/web.yaml apps/sub/again.yaml", f->src);
	commit_file(f, "apps/two.yaml", CM("two"), "fixed");
	gitsource_fetch_now(f->gs);
	wait_calls(f, 2);
	assert_false(f->seen.failed);
	assert_int_equal(f->seen.objects, 2);
}

static void test_load_errors_at_the_root_have_no_leading_slash(void **state)
{
	struct fx *f = *state;

	commit_file(f, "web.yaml", "apiVersion: v1\nkind: ConfigMap\n",
		    "no metadata");
	commit_file(f, "deep/er/x.yaml", "a: [1, 2\n", "bad yaml");
	start(f, f->remote, NULL, NULL, 0);
	wait_calls(f, 1);
	assert_int_equal(f->seen.oks, 1);
	assert_true(f->seen.failed);
	assert_true(!strncmp(f->seen.err, "web.yaml:", 9) ||
		    strstr(f->seen.err, "\nweb.yaml:"));
	assert_non_null(strstr(f->seen.err, "deep/er/x.yaml:"));
	assert_null(strstr(f->seen.err, "/deep/er/x.yaml"));
	assert_null(strstr(f->seen.err, "/web.yaml"));
}

static void
test_a_poll_without_a_new_commit_reads_and_loads_nothing(void **state)
{
	struct fx *f = *state;
	struct gitsource_status st;
	char sha[GITSOURCE_SHA_LEN + 1];

	start(f, f->remote, NULL, NULL, 0);
	gitsource_get_status(f->gs, &st);
	assert_true(st.fetching);
	assert_int_equal(st.fetches, 0);
	assert_int_equal(st.last_fetch_ms, 0);
	assert_string_equal(st.head_sha, "");
	wait_calls(f, 1); /* empty repository: an error, a finished fetch */
	gitsource_get_status(f->gs, &st);
	assert_int_equal(st.fetches, 1);
	assert_true(st.last_fetch_ms > 1700000000000);
	assert_false(st.fetching);
	assert_string_equal(st.head_sha, "");

	commit_file(f, "a.yaml", CM("a"), "one");
	head_of(f->src, sha);
	gitsource_fetch_now(f->gs);
	wait_calls(f, 2);
	/* (The watch on the remote's refs may fetch too: counts are >=.) */
	gitsource_get_status(f->gs, &st);
	assert_true(st.fetches >= 2);
	assert_int_equal(st.loads, 1);
	assert_string_equal(st.head_sha, sha);
	assert_string_equal(f->seen.names, "a");
	for (int i = 0; i < 3; i++) {
		uint64_t n = gitsource_fetch_now(f->gs);

		assert_true(n > st.fetches);
		wait_fetches(f, n);
		gitsource_get_status(f->gs, &st);
	}
	assert_true(st.fetches >= 5);
	assert_int_equal(st.loads, 1);
	assert_int_equal(f->seen.calls, 2);
	assert_false(rev_dir_exists(f));
}

static void test_fetch_now_during_a_fetch_runs_one_more(void **state)
{
	struct fx *f = *state;
	struct gitsource_status st;
	char sha[GITSOURCE_SHA_LEN + 1];

	commit_file(f, "a.yaml", CM("a"), "one");
	start(f, f->remote, NULL, NULL, 0);
	/* The first fetch is running now: these ask for one more after it,
	 * merged into one. */
	assert_int_equal(gitsource_fetch_now(f->gs), 2);
	assert_int_equal(gitsource_fetch_now(f->gs), 2);
	wait_fetches(f, 2);
	gitsource_get_status(f->gs, &st);
	assert_int_equal(st.fetches, 2);
	assert_false(st.fetching);
	assert_int_equal(f->seen.calls, 1);

	/* A push during a fetch is seen by the one asked for after it. */
	assert_int_equal(gitsource_fetch_now(f->gs), 3);
	gitsource_get_status(f->gs, &st);
	assert_true(st.fetching);
	assert_int_equal(gitsource_fetch_now(f->gs), 4);
	commit_file(f, "b.yaml", CM("b"), "two");
	head_of(f->src, sha);
	wait_fetches(f, 4);
	gitsource_get_status(f->gs, &st);
	assert_string_equal(st.head_sha, sha);
	assert_string_equal(f->seen.sha, sha);
	assert_int_equal(f->seen.objects, 2);
}

struct co_seen {
	int calls;
	bool has_rev, failed;
	int objects;
	char sha[GITSOURCE_SHA_LEN + 1];
	char subject[256];
	char names[256];
	char err[2048];
};

static void on_checkout(void *ctx, const struct gitsource_rev *rev,
			const struct sm_err *err)
{
	struct co_seen *c = ctx;
	size_t off = 0;

	c->calls++;
	c->has_rev = rev != NULL;
	c->failed = sm_err_failed(err);
	c->err[0] = 0;
	for (size_t i = 0; i < err->nr && off < sizeof(c->err); i++) {
		int n = snprintf(c->err + off, sizeof(c->err) - off, "%s\n",
				 err->items[i].msg);

		if (n > 0)
			off += (size_t)n;
	}
	if (!rev)
		return;
	snprintf(c->sha, sizeof(c->sha), "%s", rev->sha);
	snprintf(c->subject, sizeof(c->subject), "%s", rev->subject);
	c->objects = rev->objects ? (int)json_array_size(rev->objects) : -1;
	names_of(rev->objects, c->names, sizeof(c->names));
}

/* Runs the loop until the checkout callback has been called n times. */
static void wait_checkouts(struct fx *f, struct co_seen *c, int n)
{
	uv_timer_t t;

	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, watchdog, 60000, 0);
	while (c->calls < n)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(c->calls, n);
}

static void checkout(struct fx *f, const char *rev, struct co_seen *c)
{
	assert_int_equal(gitsource_checkout(f->gs, rev, on_checkout, c), 0);
	wait_checkouts(f, c, c->calls + 1);
}

static void test_checkout_by_short_sha_tag_or_branch(void **state)
{
	struct fx *f = *state;
	struct co_seen c = { 0 };
	struct gitsource_status st;
	char one[GITSOURCE_SHA_LEN + 1], two[GITSOURCE_SHA_LEN + 1];
	char head[GITSOURCE_SHA_LEN + 1], prefix[8];

	commit_file(f, "apps/a.yaml", CM("one"), "one");
	head_of(f->src, one);
	sh("git -C %s tag -a -m 'release one' v1 && "
	   "git -C %s push -q origin v1 2>/dev/null",
	   f->src, f->src);
	commit_file(f, "apps/a.yaml", CM("two"), "two");
	head_of(f->src, two);
	sh("git -C %s push -q origin HEAD:feature 2>/dev/null", f->src);
	commit_file(f, "apps/a.yaml", "kind: broken\n", "three, broken");
	head_of(f->src, head);
	start(f, f->remote, NULL, "apps", 0);
	/* Queued behind the first fetch, so it sees the fetched clone. */
	snprintf(prefix, sizeof(prefix), "%.5s", one);
	assert_int_equal(gitsource_checkout(f->gs, prefix, on_checkout, &c), 0);
	wait_calls(f, 1);
	assert_true(f->seen.failed); /* the head does not load */
	wait_checkouts(f, &c, 1);
	assert_true(c.has_rev);
	assert_string_equal(c.sha, one);
	checkout(f, prefix, &c);
	assert_true(c.has_rev);
	assert_false(c.failed);
	assert_string_equal(c.sha, one);
	assert_string_equal(c.subject, "one");
	assert_int_equal(c.objects, 1);
	assert_string_equal(c.names, "one");

	/* An annotated tag, peeled to its commit. */
	checkout(f, "v1", &c);
	assert_string_equal(c.sha, one);
	/* A branch as last fetched. */
	checkout(f, "feature", &c);
	assert_string_equal(c.sha, two);
	assert_int_equal(c.objects, 1);
	assert_string_equal(c.names, "two");
	/* A full sha; one that does not load is delivered with errors. */
	checkout(f, head, &c);
	assert_true(c.has_rev);
	assert_true(c.failed);
	assert_int_equal(c.objects, -1);

	/* The followed commit did not change: a fetch calls nobody. */
	gitsource_get_status(f->gs, &st);
	assert_string_equal(st.head_sha, head);
	assert_int_equal(st.checkouts, 5);
	gitsource_fetch_now(f->gs);
	wait_fetches(f, st.fetches + 1);
	assert_int_equal(f->seen.calls, 1);
	gitsource_get_status(f->gs, &st);
	assert_string_equal(st.head_sha, head);

	/* Checkouts do not change what is followed; nothing is written. */
	checkout(f, "feature", &c);
	assert_string_equal(c.names, "two");
	commit_file(f, "apps/a.yaml", CM("four"), "four");
	gitsource_fetch_now(f->gs);
	wait_calls(f, 2);
	assert_false(f->seen.failed);
	assert_string_equal(f->seen.names, "four");
	checkout(f, prefix, &c);
	assert_string_equal(c.names, "one");
	assert_false(rev_dir_exists(f));
}

static void test_checkout_of_an_unknown_revision_says_so(void **state)
{
	struct fx *f = *state;
	struct co_seen c = { 0 };
	char *blob, *clone = NULL, *git = xasprintf("%s/git", f->data);
	char amb[8] = "";
	DIR *d;
	struct dirent *de;
	FILE *p;

	/* Before anything was fetched: there is no clone. */
	start(f, f->remote, NULL, "apps", 0);
	checkout(f, "main", &c);
	assert_false(c.has_rev);
	wait_calls(f, 1);
	gitsource_free(f->gs);
	f->gs = NULL;
	uv_run(&f->loop, UV_RUN_DEFAULT);

	/* 1,000 blobs outside `path`: two of them share 4 hex digits. */
	sh("mkdir -p %s/blobs && cd %s/blobs && "
	   "for i in $(seq 1000); do echo $i > $i.txt; done",
	   f->src, f->src);
	commit_file(f, "apps/a.yaml", CM("a"), "one");
	start(f, f->remote, NULL, "apps", 0);
	wait_calls(f, 2);
	assert_false(f->seen.failed);

	checkout(f, "deadbeefdeadbeef", &c);
	assert_false(c.has_rev);
	assert_true(c.failed);
	assert_non_null(strstr(c.err, "revision \"deadbeefdeadbeef\" is not "
				      "in the clone of "));
	assert_non_null(strstr(c.err, f->remote));
	assert_non_null(strstr(c.err, "`stuurman history`"));
	checkout(f, "no-such-tag", &c);
	assert_false(c.has_rev);
	assert_non_null(strstr(c.err, "\"no-such-tag\" is not in the clone"));
	checkout(f, "abc", &c);
	assert_false(c.has_rev);
	assert_non_null(strstr(c.err, "at least 4 hex digits"));

	d = opendir(git);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			clone = xasprintf("%s/%s", git, de->d_name);
	closedir(d);
	assert_non_null(clone);
	char *cmd = xasprintf("git --git-dir=%s cat-file --batch-all-objects "
			      "--batch-check='%%(objectname)' | cut -c1-4 | "
			      "sort | uniq -d | head -1",
			      clone);

	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(amb, sizeof(amb), p));
	pclose(p);
	amb[strcspn(amb, "\n")] = 0;
	assert_int_equal(strlen(amb), 4);
	checkout(f, amb, &c);
	assert_false(c.has_rev);
	assert_non_null(strstr(c.err, "is ambiguous"));
	assert_non_null(strstr(c.err, amb));

	/* A blob's sha is no commit. */
	free(cmd);
	cmd = xasprintf("git -C %s rev-parse HEAD:blobs/1.txt", f->src);
	p = popen(cmd, "r");
	blob = xcalloc(1, 64);
	assert_non_null(fgets(blob, 64, p));
	pclose(p);
	blob[strcspn(blob, "\n")] = 0;
	checkout(f, blob, &c);
	assert_false(c.has_rev);
	assert_non_null(strstr(c.err, "is a blob"));

	assert_int_equal(gitsource_checkout(f->gs, "", on_checkout, &c),
			 -EINVAL);
	assert_int_equal(gitsource_checkout(f->gs, "main", NULL, &c), -EINVAL);
	free(blob);
	free(cmd);
	free(clone);
	free(git);
}

static void test_a_tree_over_the_total_limit_is_refused(void **state)
{
	struct fx *f = *state;
	struct gitsource_opts o = {
		.url = f->remote,
		.data_dir = f->data,
		.max_total = 300,
		.cb = on_rev,
		.ctx = &f->seen,
	};

	commit_file(f, "a.yaml", CM("aaaaaaaaaaaaaaaaaaaaaa"), "one");
	commit_file(f, "b.yaml", CM("bbbbbbbbbbbbbbbbbbbbbb"), "two");
	commit_file(f, "c.yaml", CM("cccccccccccccccccccccc"), "three");
	f->gs = gitsource_new(&f->loop, &o);
	wait_calls(f, 1);
	assert_int_equal(f->seen.oks, 0);
	assert_non_null(strstr(f->seen.err, "over the limit of 300 bytes"));
}

static void test_an_alias_bomb_is_an_error_naming_its_file(void **state)
{
	struct fx *f = *state;
	struct sm_buf y = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	/* Nine levels of nine: 387 million nodes if expanded. */
	sm_buf_adds(&y, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
			"  name: lol\nx:\n  a: &a [lol, lol, lol, lol, lol, "
			"lol, lol, lol, lol]\n");
	for (int c = 'b'; c <= 'i'; c++) {
		sm_buf_addf(&y, "  %c: &%c [", c, c);
		for (int i = 0; i < 9; i++)
			sm_buf_addf(&y, "%s*%c", i ? ", " : "", c - 1);
		sm_buf_adds(&y, "]\n");
	}
	commit_file(f, "apps/ok.yaml", CM("ok"), "fine");
	commit_file(f, "apps/bomb.yaml", sm_buf_cstr(&y), "a bomb");
	start(f, f->remote, NULL, "apps", 0);
	wait_calls(f, 1);
	assert_int_equal(f->seen.oks, 1);
	assert_true(f->seen.failed);
	assert_int_equal(f->seen.objects, -1);
	assert_non_null(strstr(f->seen.err, "apps/bomb.yaml:"));
	assert_non_null(strstr(f->seen.err, "alias expansion exceeds"));
	sm_buf_release(&y);
}

static void test_revision_folders_of_older_versions_are_removed(void **state)
{
	struct fx *f = *state;

	sh("mkdir -p %s/git/rev/0123abc/apps && echo x > "
	   "%s/git/rev/0123abc/apps/a.yaml",
	   f->data, f->data);
	assert_true(rev_dir_exists(f));
	commit_file(f, "a.yaml", CM("a"), "one");
	start(f, f->remote, NULL, NULL, 0);
	wait_calls(f, 1);
	assert_false(f->seen.failed);
	assert_string_equal(f->seen.names, "a");
	assert_false(rev_dir_exists(f));
	/* Only rev went: the clone beside it stays. */
	char *git = xasprintf("%s/git", f->data);
	DIR *d = opendir(git);
	struct dirent *de;
	int entries = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		entries += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(entries, 1);
	free(git);
}

/*
 * Starts a smart-HTTP server (git_http_server.py: git http-backend behind
 * HTTP Basic authentication) on 127.0.0.1, serving f->tmp, and returns the
 * URL of remote.git on it; NULL (the test skips) without python3 or git
 * http-backend. Teardown stops it.
 */
static char *start_http(struct fx *f, const char *user, const char *pass)
{
	const char *root = getenv("SM_SOURCE_ROOT");
	char *script, *end, line[32] = "";
	int fds[2];
	FILE *in;

	if (!root || system("command -v python3 >/dev/null && "
			    "test -x \"$(git --exec-path)/git-http-backend\""))
		return NULL;
	script = xasprintf("%s/tests/unit/reconciler/git_http_server.py", root);
	assert_int_equal(pipe(fds), 0);
	f->http_pid = fork();
	assert_true(f->http_pid >= 0);
	if (f->http_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlives the test */
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execlp("python3", "python3", script, "--root", f->tmp, "--user",
		       user, "--password", pass, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	assert_non_null(in);
	/* It prints its port once it listens. */
	assert_non_null(fgets(line, sizeof(line), in));
	fclose(in);
	long port = strtol(line, &end, 10);

	assert_true(end != line && *end == '\n' && port > 0 && port < 65536);
	free(script);
	return xasprintf("http://127.0.0.1:%ld/remote.git", port);
}

static void write_creds(struct fx *f, const char *text)
{
	char *p = xasprintf("%s/creds", f->tmp);
	FILE *o = fopen(p, "w");

	assert_non_null(o);
	fputs(text, o);
	fclose(o);
	free(p);
}

static void start_creds(struct fx *f, const char *url, const char *creds)
{
	struct gitsource_opts o = {
		.url = url,
		.data_dir = f->data,
		.interval_ms = 3600 * 1000,
		.credentials_file = creds,
		.cb = on_rev,
		.ctx = &f->seen,
	};

	f->gs = gitsource_new(&f->loop, &o);
	assert_non_null(f->gs);
}

/* What the source logged while `fn` ran, in `out`. */
struct logcap {
	char *text;
	size_t len;
	FILE *f;
};

static void log_capture(struct logcap *c)
{
	c->f = open_memstream(&c->text, &c->len);
	assert_non_null(c->f);
	sm_log_setup(SM_LOG_DEBUG, SM_LOG_TEXT, c->f, NULL);
}

static void log_release(struct logcap *c)
{
	sm_log_setup(SM_LOG_INFO, SM_LOG_TEXT, NULL, NULL);
	fclose(c->f);
	free(c->text);
}

static void test_the_right_password_fetches_over_smart_http(void **state)
{
	struct fx *f = *state;
	char sha[GITSOURCE_SHA_LEN + 1];
	char *creds = xasprintf("%s/creds", f->tmp);

	char *url = start_http(f, "ann", "s3cret-pw");

	if (!url) {
		free(creds);
		skip();
		return;
	}
	commit_file(f, "a.yaml", CM("a"), "over http");
	commit_file(f, "b.yaml", CM("b"), "two");
	head_of(f->src, sha);
	write_creds(f, "ann:s3cret-pw\n");
	start_creds(f, url, creds);
	wait_calls(f, 1);
	assert_false(f->seen.failed);
	assert_string_equal(f->seen.sha, sha);
	assert_int_equal(f->seen.objects, 2);
	assert_string_equal(f->seen.names, "a,b");
	/* A new commit over the same server, on fetch_now. */
	commit_file(f, "c.yaml", CM("c"), "three");
	head_of(f->src, sha);
	gitsource_fetch_now(f->gs);
	wait_calls(f, 2);
	assert_false(f->seen.failed);
	assert_string_equal(f->seen.sha, sha);
	assert_string_equal(f->seen.names, "a,b,c");
	assert_false(f->seen.recloned);
	/* A damaged clone is cloned again in the same job: the credentials
	 * are offered again on that second connection. */
	sh("find %s/git -path '*/objects/*' -type f -delete", f->data);
	commit_file(f, "d.yaml", CM("d"), "four");
	head_of(f->src, sha);
	gitsource_fetch_now(f->gs);
	wait_calls(f, 3);
	assert_false(f->seen.failed);
	assert_true(f->seen.recloned);
	assert_string_equal(f->seen.sha, sha);
	assert_string_equal(f->seen.names, "a,b,c,d");
	free(url);
	free(creds);
}

static void
test_a_wrong_password_fails_without_the_secret_and_keeps_the_revision(
	void **state)
{
	struct fx *f = *state;
	struct logcap lc;
	struct gitsource_status st;
	char sha[GITSOURCE_SHA_LEN + 1];
	char *creds = xasprintf("%s/creds", f->tmp);

	char *url = start_http(f, "ann", "s3cret-pw");

	if (!url) {
		free(creds);
		skip();
		return;
	}
	log_capture(&lc);
	commit_file(f, "a.yaml", CM("a"), "one");
	head_of(f->src, sha);
	write_creds(f, "ann:s3cret-pw\n");
	start_creds(f, url, creds);
	wait_calls(f, 1);
	assert_false(f->seen.failed);
	assert_string_equal(f->seen.sha, sha);

	/* The file now holds a wrong password; a new commit is pushed. */
	write_creds(f, "ann:Wr0ng-pa55word\n");
	commit_file(f, "b.yaml", CM("b"), "two");
	gitsource_fetch_now(f->gs);
	wait_calls(f, 2);
	assert_true(f->seen.failed);
	assert_int_equal(f->seen.oks, 1);
	assert_string_equal(f->seen.sha, sha); /* nothing new delivered */
	assert_non_null(strstr(f->seen.err, url));
	assert_non_null(strstr(f->seen.err, "authentication failed"));
	assert_non_null(strstr(f->seen.err, "were refused"));
	assert_null(strstr(f->seen.err, "Wr0ng-pa55word"));
	assert_null(strstr(f->seen.err, "s3cret-pw"));
	gitsource_get_status(f->gs, &st);
	assert_string_equal(st.head_sha, sha);
	/* The same failure again calls nobody. */
	uint64_t n = gitsource_fetch_now(f->gs);

	wait_fetches(f, n);
	assert_int_equal(f->seen.calls, 2);
	fflush(lc.f);
	assert_non_null(strstr(lc.text, "authentication failed"));
	assert_null(strstr(lc.text, "Wr0ng-pa55word"));
	assert_null(strstr(lc.text, "s3cret-pw"));
	log_release(&lc);

	/* Fixed: the new commit is delivered. */
	write_creds(f, "ann:s3cret-pw\n");
	head_of(f->src, sha);
	gitsource_fetch_now(f->gs);
	wait_calls(f, 3);
	assert_false(f->seen.failed);
	assert_string_equal(f->seen.sha, sha);
	assert_string_equal(f->seen.names, "a,b");
	free(url);
	free(creds);
}

static void test_a_missing_credentials_file_is_an_error_naming_it(void **state)
{
	struct fx *f = *state;
	char *creds = xasprintf("%s/no-such-creds", f->tmp);

	char *url = start_http(f, "ann", "s3cret-pw");

	if (!url) {
		free(creds);
		skip();
		return;
	}
	commit_file(f, "a.yaml", CM("a"), "one");
	start_creds(f, url, creds);
	wait_calls(f, 1);
	assert_int_equal(f->seen.oks, 0);
	assert_non_null(strstr(f->seen.err, url));
	assert_non_null(strstr(f->seen.err, "credentials file "));
	assert_non_null(strstr(f->seen.err, creds));
	assert_non_null(strstr(f->seen.err, "cannot be read: No such file"));

	/* A key path where the server takes only a user and password. */
	sh("echo /home/ann/.ssh/id_ed25519 > %s", creds);
	gitsource_fetch_now(f->gs);
	wait_calls(f, 2);
	assert_int_equal(f->seen.oks, 0);
	assert_non_null(strstr(f->seen.err, url));
	assert_non_null(
		strstr(f->seen.err, "holds nothing the server accepts"));
	assert_null(strstr(f->seen.err, "id_ed25519"));
	free(url);
	free(creds);
}

static void
test_no_credentials_against_a_server_asking_for_them_fails_at_once(void **state)
{
	struct fx *f = *state;

	char *url = start_http(f, "ann", "s3cret-pw");

	if (!url) {
		skip();
		return;
	}
	commit_file(f, "a.yaml", CM("a"), "one");
	start_creds(f, url, NULL);
	wait_calls(f, 1);
	assert_int_equal(f->seen.oks, 0);
	assert_non_null(strstr(f->seen.err, url));
	assert_non_null(strstr(f->seen.err, "authentication failed"));
	assert_non_null(strstr(f->seen.err, "no credentials file"));
	free(url);
}

/* libgit2 1.5 sends upload-pack requests with a length, but git and push
 * send chunked bodies: the server used above takes them too. */
static void test_the_http_server_takes_a_chunked_request_body(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sm_buf in = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char sha[GITSOURCE_SHA_LEN + 1], want[64], buf[4096];
	char *url = start_http(f, "ann", "s3cret-pw"), *req;
	ssize_t n;
	long port;
	int s;

	if (!url) {
		skip();
		return;
	}
	commit_file(f, "a.yaml", CM("a"), "one");
	head_of(f->src, sha);
	port = strtol(url + strlen("http://127.0.0.1:"), NULL, 10);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	snprintf(want, sizeof(want), "0032want %s\n", sha);
	/* The want line cut across two chunks, then flush and done. */
	req = xasprintf(
		"POST /remote.git/git-upload-pack HTTP/1.1\r\n"
		"Host: 127.0.0.1\r\n"
		"Authorization: Basic YW5uOnMzY3JldC1wdw==\r\n"
		"Content-Type: application/x-git-upload-pack-request\r\n"
		"Transfer-Encoding: chunked\r\n"
		"Connection: close\r\n\r\n"
		"a\r\n%.10s\r\n%zx\r\n%s\r\n"
		"d\r\n00000009done\n\r\n0\r\n\r\n",
		want, strlen(want) - 10, want + 10);
	s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(write(s, req, strlen(req)), (ssize_t)strlen(req));
	while ((n = read(s, buf, sizeof(buf))) > 0)
		sm_buf_add(&in, buf, (size_t)n);
	close(s);
	assert_int_equal(strncmp(sm_buf_cstr(&in), "HTTP/1.1 200 ", 13), 0);
	assert_non_null(strstr(sm_buf_cstr(&in), "0008NAK\n"));
	assert_non_null(memmem(sm_buf_cstr(&in), in.len, "PACK", 4));
	sm_buf_release(&in);
	free(req);
	free(url);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_commits_are_delivered_with_their_files_and_author,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_deleted_branch_is_an_error_and_delivers_nothing,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_missing_path_is_an_error_naming_it, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_an_empty_repository_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_missing_remote_is_an_error_naming_it, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_a_file_over_the_limit_is_refused_and_not_written,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_symlink_is_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_corrupt_clone_is_cloned_again, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_revision_pins_a_tag_or_a_commit, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_a_git_daemon_remote_is_fetched, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_load_errors_name_files_as_in_the_repository_and_still_deliver,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_load_errors_at_the_root_have_no_leading_slash,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_poll_without_a_new_commit_reads_and_loads_nothing,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_fetch_now_during_a_fetch_runs_one_more, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_checkout_by_short_sha_tag_or_branch, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_checkout_of_an_unknown_revision_says_so, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_a_tree_over_the_total_limit_is_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_an_alias_bomb_is_an_error_naming_its_file, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_revision_folders_of_older_versions_are_removed,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_the_right_password_fetches_over_smart_http, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_a_wrong_password_fails_without_the_secret_and_keeps_the_revision,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_missing_credentials_file_is_an_error_naming_it,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_no_credentials_against_a_server_asking_for_them_fails_at_once,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_the_http_server_takes_a_chunked_request_body,
			setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
