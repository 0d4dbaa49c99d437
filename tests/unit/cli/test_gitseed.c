/*
 * test_gitseed.c: cli/gitseed.h. Real bare repositories in a temporary
 * folder, read back with libgit2: what the first commit holds, who made
 * it, where HEAD points, that an existing repository is left alone, that
 * a failure leaves nothing behind, and exports of a branch.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <git2.h>

#include "cli/gitseed.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "common/banned.h"

struct fixture {
	char *top; /* removed at the end */
	char *src; /* TOP/src: the manifests */
	char *repo; /* TOP/data/git/cluster.git */
};

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static char *at(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/sm-gitseed.XXXXXX";
	char *p;

	assert_non_null(mkdtemp(tmpl));
	f->top = xstrdup(tmpl);
	f->src = at(f->top, "src");
	f->repo = at(f->top, "data/git/cluster.git");
	assert_int_equal(mkdir(f->src, 0755), 0);
	p = at(f->src, "web.yaml");
	write_file(p, "kind: Deployment\n", 0644);
	free(p);
	p = at(f->src, "hook.sh");
	write_file(p, "#!/bin/sh\n", 0755);
	free(p);
	p = at(f->src, "sub");
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = at(f->src, "sub/kv.yaml");
	write_file(p, "kind: StatefulSet\n", 0644);
	free(p);
	p = at(f->src, "empty"); /* git keeps no empty folders */
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = at(f->src, ".git"); /* a checkout's own repository stays out */
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = at(f->src, ".git/config");
	write_file(p, "[core]\n", 0644);
	free(p);
	p = at(f->top, "data");
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	git_libgit2_init();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(gitseed_remove_tree(f->top), 0);
	git_libgit2_shutdown();
	free(f->top);
	free(f->src);
	free(f->repo);
	free(f);
	return 0;
}

/* "path mode" of every blob of main, one line each, in tree order. */
static int list_cb(const char *root, const git_tree_entry *e, void *ctx)
{
	if (git_tree_entry_type(e) == GIT_OBJECT_BLOB)
		sm_buf_addf(ctx, "%s%s %o\n", root, git_tree_entry_name(e),
			    (unsigned)git_tree_entry_filemode(e));
	return 0;
}

static git_commit *main_commit(git_repository *repo)
{
	git_reference *ref;
	git_commit *c;

	assert_int_equal(git_reference_lookup(&ref, repo, "refs/heads/main"),
			 0);
	assert_int_equal(git_commit_lookup(&c, repo, git_reference_target(ref)),
			 0);
	git_reference_free(ref);
	return c;
}

static void test_create_commits_the_files_on_main_of_a_bare_repo(void **state)
{
	struct fixture *f = *state;
	struct sm_err err = SM_ERR_INIT;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	git_repository *repo;
	git_reference *head;
	git_commit *c;
	git_tree *tree;
	const git_signature *who;

	assert_int_equal(gitseed_create(f->repo, f->src,
					"Initial manifests from src", &err),
			 1);
	assert_int_equal(err.nr, 0);
	assert_int_equal(git_repository_open_bare(&repo, f->repo), 0);
	assert_true(git_repository_is_bare(repo));
	assert_int_equal(git_reference_lookup(&head, repo, "HEAD"), 0);
	assert_string_equal(git_reference_symbolic_target(head),
			    "refs/heads/main");
	git_reference_free(head);

	c = main_commit(repo);
	assert_int_equal(git_commit_parentcount(c), 0);
	assert_string_equal(git_commit_message(c),
			    "Initial manifests from src");
	who = git_commit_author(c);
	assert_string_equal(who->name, "stuurman");
	assert_string_equal(who->email, "stuurman@localhost");
	assert_int_equal(git_commit_tree(&tree, c), 0);
	assert_int_equal(git_tree_walk(tree, GIT_TREEWALK_PRE, list_cb, &b), 0);
	assert_string_equal(sm_buf_cstr(&b), "hook.sh 100755\n"
					     "sub/kv.yaml 100644\n"
					     "web.yaml 100644\n");
	git_tree_free(tree);
	git_commit_free(c);
	git_repository_free(repo);
	sm_buf_release(&b);
	sm_err_release(&err);
}

static void test_an_existing_repo_is_left_as_it_is(void **state)
{
	struct fixture *f = *state;
	struct sm_err err = SM_ERR_INIT;
	git_repository *repo;
	git_commit *c;
	git_oid first;
	char *p;

	assert_int_equal(gitseed_create(f->repo, f->src, "first", &err), 1);
	assert_int_equal(git_repository_open_bare(&repo, f->repo), 0);
	c = main_commit(repo);
	git_oid_cpy(&first, git_commit_id(c));
	git_commit_free(c);
	git_repository_free(repo);

	p = at(f->src, "new.yaml");
	write_file(p, "kind: Service\n", 0644);
	free(p);
	assert_int_equal(gitseed_create(f->repo, f->src, "second", &err), 0);
	assert_int_equal(err.nr, 0);
	assert_int_equal(git_repository_open_bare(&repo, f->repo), 0);
	c = main_commit(repo);
	assert_true(git_oid_equal(&first, git_commit_id(c)));
	git_commit_free(c);
	git_repository_free(repo);
	sm_err_release(&err);
}

/* The entries of dir but "." and "..", space-separated, sorted. */
static char *entries(const char *dir)
{
	struct dirent **list;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int n = scandir(dir, &list, NULL, alphasort);

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(list[i]->d_name, ".") &&
		    strcmp(list[i]->d_name, ".."))
			sm_buf_addf(&b, "%s%s", b.len ? " " : "",
				    list[i]->d_name);
		free(list[i]);
	}
	free(list);
	return sm_buf_detach(&b, NULL);
}

static void test_a_folder_without_files_leaves_nothing_behind(void **state)
{
	struct fixture *f = *state;
	struct sm_err err = SM_ERR_INIT;
	char *empty = at(f->src, "empty"), *git = at(f->top, "data/git");
	char *left;

	assert_int_equal(gitseed_create(f->repo, empty, "m", &err), -ENOENT);
	assert_int_equal(err.nr, 1);
	assert_non_null(strstr(err.items[0].msg, "has no files to commit"));
	left = entries(git);
	assert_string_equal(left, "");
	free(left);
	free(empty);
	free(git);
	sm_err_release(&err);
}

static void test_something_else_in_the_way_is_refused(void **state)
{
	struct fixture *f = *state;
	struct sm_err err = SM_ERR_INIT;
	char *git = at(f->top, "data/git"), *p;

	assert_int_equal(mkdir(git, 0755), 0);
	assert_int_equal(mkdir(f->repo, 0755), 0);
	p = at(f->repo, "notes.txt");
	write_file(p, "mine\n", 0644);
	assert_int_equal(gitseed_create(f->repo, f->src, "m", &err), -EEXIST);
	assert_int_equal(err.nr, 1);
	assert_non_null(strstr(err.items[0].msg, "is not a git repository"));
	assert_int_equal(access(p, F_OK), 0);
	free(p);
	free(git);
	sm_err_release(&err);
}

static void test_export_writes_the_branch_into_a_new_folder(void **state)
{
	struct fixture *f = *state;
	struct sm_err err = SM_ERR_INIT;
	struct sm_buf b = SM_BUF_INIT(1024);
	char *dest = at(f->top, "out/main"), *p, *list;
	struct stat st;

	assert_int_equal(gitseed_create(f->repo, f->src, "m", &err), 1);
	assert_int_equal(gitseed_export(f->repo, "main", dest, &err), 0);
	assert_int_equal(err.nr, 0);
	list = entries(dest);
	assert_string_equal(list, "hook.sh sub web.yaml");
	free(list);
	p = at(dest, "sub/kv.yaml");
	assert_int_equal(sm_buf_read_file(&b, p), 0);
	assert_string_equal(sm_buf_cstr(&b), "kind: StatefulSet\n");
	free(p);
	p = at(dest, "hook.sh");
	assert_int_equal(stat(p, &st), 0);
	assert_true(st.st_mode & S_IXUSR);
	free(p);
	free(dest);
	sm_buf_release(&b);
	sm_err_release(&err);
}

static void test_export_of_a_missing_branch_writes_nothing(void **state)
{
	struct fixture *f = *state;
	struct sm_err err = SM_ERR_INIT;
	char *dest = at(f->top, "out");

	assert_int_equal(gitseed_create(f->repo, f->src, "m", &err), 1);
	assert_int_equal(gitseed_export(f->repo, "nope", dest, &err), -ENOENT);
	assert_int_equal(err.nr, 1);
	assert_non_null(strstr(err.items[0].msg, "has no branch nope"));
	assert_int_equal(access(dest, F_OK), -1);
	free(dest);
	sm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_create_commits_the_files_on_main_of_a_bare_repo,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_an_existing_repo_is_left_as_it_is, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_a_folder_without_files_leaves_nothing_behind,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_something_else_in_the_way_is_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_export_writes_the_branch_into_a_new_folder, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_export_of_a_missing_branch_writes_nothing, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
