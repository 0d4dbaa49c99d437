/*
 * gitseed.c: the repository `stuurman up` runs the cluster from; see
 * gitseed.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/gitseed.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "common/banned.h"

static const char *git_msg(void)
{
	const git_error *e = git_error_last();

	return e && e->message ? e->message : "unknown libgit2 error";
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *f)
{
	return remove(path) ? -errno : 0;
}

int gitseed_remove_tree(const char *path)
{
	struct stat st;
	int r;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	r = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return r < 0 ? -errno : r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The tree of folder dir into *out; *files counts the blobs. A folder
 * with no files gives a zero *out (left out by the caller).
 */
static int build_tree(git_repository *repo, const char *dir, git_oid *out,
		      size_t *files, struct sm_err *err)
{
	git_treebuilder *tb = NULL;
	char **names = NULL;
	size_t nr = 0, alloc = 0, before = *files;
	struct dirent *de;
	DIR *d = opendir(dir);
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (!d) {
		sm_error(err, NULL, "cannot read \"%s\": %s", dir,
			 strerror(errno));
		return -EIO;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, ".git"))
			continue;
		if (nr == alloc) {
			alloc = alloc ? 2 * alloc : 16;
			names = xrealloc(names, alloc * sizeof(*names));
		}
		names[nr++] = xstrdup(de->d_name);
	}
	closedir(d);
	/* Sorted, so that errors and tests do not depend on readdir. */
	if (nr)
		qsort(names, nr, sizeof(*names), cmp_names);
	if (git_treebuilder_new(&tb, repo, NULL) < 0) {
		sm_error(err, NULL, "cannot build a tree: %s", git_msg());
		r = -EIO;
		goto out;
	}
	for (size_t i = 0; i < nr && !r; i++) {
		char *path = xasprintf("%s/%s", dir, names[i]);
		git_filemode_t mode = 0;
		struct stat st;
		git_oid id;

		if (stat(path, &st)) {
			sm_error(err, NULL, "cannot read \"%s\": %s", path,
				 strerror(errno));
			r = -EIO;
		} else if (S_ISDIR(st.st_mode)) {
			r = build_tree(repo, path, &id, files, err);
			if (!r && !git_oid_is_zero(&id))
				mode = GIT_FILEMODE_TREE;
		} else if (S_ISREG(st.st_mode)) {
			if (git_blob_create_from_disk(&id, repo, path) < 0) {
				sm_error(err, NULL, "cannot add \"%s\": %s",
					 path, git_msg());
				r = -EIO;
			} else {
				mode = st.st_mode & S_IXUSR
					       ? GIT_FILEMODE_BLOB_EXECUTABLE
					       : GIT_FILEMODE_BLOB;
				(*files)++;
			}
		}
		if (!r && mode &&
		    git_treebuilder_insert(NULL, tb, names[i], &id, mode) < 0) {
			sm_error(err, NULL, "cannot add \"%s\": %s", path,
				 git_msg());
			r = -EIO;
		}
		free(path);
	}
	if (!r && *files > before && git_treebuilder_write(out, tb) < 0) {
		sm_error(err, NULL, "cannot write the tree of \"%s\": %s", dir,
			 git_msg());
		r = -EIO;
	}
out:
	git_treebuilder_free(tb);
	for (size_t i = 0; i < nr; i++)
		free(names[i]);
	free(names);
	return r;
}

static int mkdir_parents(const char *path)
{
	char *p = xstrdup(path);
	int r = 0;

	for (char *s = p + 1; *s && !r; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			r = -errno;
		*s = '/';
	}
	if (!r && mkdir(p, 0755))
		r = -errno;
	free(p);
	return r;
}

/* The first commit on main of the fresh bare repository at path. */
static int seed(const char *path, const char *src_dir, const char *message,
		struct sm_err *err)
{
	git_repository_init_options io = GIT_REPOSITORY_INIT_OPTIONS_INIT;
	git_repository *repo = NULL;
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	git_oid tree_id, commit_id;
	size_t files = 0;
	int r = -EIO;

	io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
	io.initial_head = GITSEED_BRANCH;
	if (git_repository_init_ext(&repo, path, &io) < 0) {
		sm_error(err, NULL, "cannot create a repository in \"%s\": %s",
			 path, git_msg());
		return -EIO;
	}
	r = build_tree(repo, src_dir, &tree_id, &files, err);
	if (r)
		goto out;
	if (!files) {
		sm_error(err, NULL, "\"%s\" has no files to commit", src_dir);
		r = -ENOENT;
		goto out;
	}
	r = -EIO;
	if (git_tree_lookup(&tree, repo, &tree_id) < 0 ||
	    git_signature_now(&sig, GITSEED_AUTHOR, GITSEED_EMAIL) < 0 ||
	    git_commit_create(&commit_id, repo, "refs/heads/" GITSEED_BRANCH,
			      sig, sig, NULL, message, tree, 0, NULL) < 0) {
		sm_error(err, NULL, "cannot commit the files of \"%s\": %s",
			 src_dir, git_msg());
		goto out;
	}
	r = 0;
out:
	git_signature_free(sig);
	git_tree_free(tree);
	git_repository_free(repo);
	return r;
}

int gitseed_create(const char *git_dir, const char *src_dir,
		   const char *message, struct sm_err *err)
{
	git_repository *repo = NULL;
	char *copy, *parent, *tmp = NULL;
	struct stat st;
	int r;

	git_libgit2_init();
	if (!lstat(git_dir, &st)) {
		if (git_repository_open_ext(&repo, git_dir,
					    GIT_REPOSITORY_OPEN_NO_SEARCH |
						    GIT_REPOSITORY_OPEN_BARE,
					    NULL) < 0) {
			sm_error(err, NULL,
				 "\"%s\" is there but is not a git repository "
				 "(%s): move it away, or use another data dir",
				 git_dir, git_msg());
			r = -EEXIST;
		} else {
			r = 0;
		}
		git_repository_free(repo);
		git_libgit2_shutdown();
		return r;
	}
	copy = xstrdup(git_dir);
	parent = dirname(copy);
	r = mkdir_parents(parent);
	if (r && r != -EEXIST) {
		sm_error(err, NULL, "cannot create \"%s\": %s", parent,
			 strerror(-r));
		r = -EIO;
		goto out;
	}
	/* Beside it, so that the rename below stays on one file system. */
	tmp = xasprintf("%s.new-XXXXXX", git_dir);
	if (!mkdtemp(tmp)) {
		sm_error(err, NULL, "cannot create \"%s\": %s", tmp,
			 strerror(errno));
		r = -EIO;
		goto out;
	}
	r = seed(tmp, src_dir, message, err);
	if (!r && rename(tmp, git_dir)) {
		if (errno == EEXIST || errno == ENOTEMPTY) {
			r = 0; /* made at the same time by someone else */
		} else {
			sm_error(err, NULL,
				 "cannot rename \"%s\" to \"%s\": %s", tmp,
				 git_dir, strerror(errno));
			r = -EIO;
		}
	} else if (!r) {
		r = 1;
	}
	if (r != 1)
		gitseed_remove_tree(tmp);
out:
	free(tmp);
	free(copy);
	git_libgit2_shutdown();
	return r;
}

struct export_walk {
	git_repository *repo;
	const char *dest;
	struct sm_err *err;
	int r;
};

static int export_entry(const char *root, const git_tree_entry *e, void *ctx)
{
	struct export_walk *w = ctx;
	char *path =
		xasprintf("%s/%s%s", w->dest, root, git_tree_entry_name(e));
	git_filemode_t mode = git_tree_entry_filemode(e);
	git_blob *blob = NULL;
	int fd = -1;

	if (mode == GIT_FILEMODE_TREE) {
		if (mkdir(path, 0755)) {
			sm_error(w->err, NULL, "cannot create \"%s\": %s", path,
				 strerror(errno));
			w->r = -EIO;
		}
		goto out;
	}
	if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE)
		goto out; /* symlinks and submodules are not manifests */
	if (git_blob_lookup(&blob, w->repo, git_tree_entry_id(e)) < 0) {
		sm_error(w->err, NULL, "cannot read \"%s%s\": %s", root,
			 git_tree_entry_name(e), git_msg());
		w->r = -EIO;
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		  mode == GIT_FILEMODE_BLOB ? 0644 : 0755);
	if (fd < 0 || write(fd, git_blob_rawcontent(blob),
			    (size_t)git_blob_rawsize(blob)) !=
			      (ssize_t)git_blob_rawsize(blob)) {
		sm_error(w->err, NULL, "cannot write \"%s\": %s", path,
			 strerror(errno));
		w->r = -EIO;
	}
out:
	if (fd >= 0)
		close(fd);
	git_blob_free(blob);
	free(path);
	return w->r ? -1 : 0;
}

int gitseed_export(const char *git_dir, const char *branch, const char *dest,
		   struct sm_err *err)
{
	struct export_walk w = { .dest = dest, .err = err };
	git_reference *ref = NULL;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	char *name = xasprintf("refs/heads/%s", branch);
	int r;

	git_libgit2_init();
	if (git_repository_open_ext(&w.repo, git_dir,
				    GIT_REPOSITORY_OPEN_NO_SEARCH |
					    GIT_REPOSITORY_OPEN_BARE,
				    NULL) < 0) {
		sm_error(err, NULL, "cannot open the repository \"%s\": %s",
			 git_dir, git_msg());
		r = -EIO;
		goto out;
	}
	if (git_reference_lookup(&ref, w.repo, name) < 0) {
		sm_error(err, NULL, "\"%s\" has no branch %s", git_dir, branch);
		r = -ENOENT;
		goto out;
	}
	if (git_commit_lookup(&commit, w.repo, git_reference_target(ref)) < 0 ||
	    git_commit_tree(&tree, commit) < 0) {
		sm_error(err, NULL, "cannot read branch %s of \"%s\": %s",
			 branch, git_dir, git_msg());
		r = -EIO;
		goto out;
	}
	r = mkdir_parents(dest);
	if (r) {
		sm_error(err, NULL, "cannot create \"%s\": %s", dest,
			 strerror(-r));
		r = -EIO;
		goto out;
	}
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, export_entry, &w) < 0 &&
	    !w.r) {
		sm_error(err, NULL, "cannot walk branch %s of \"%s\": %s",
			 branch, git_dir, git_msg());
		w.r = -EIO;
	}
	r = w.r;
	if (r)
		gitseed_remove_tree(dest);
out:
	git_tree_free(tree);
	git_commit_free(commit);
	git_reference_free(ref);
	git_repository_free(w.repo);
	git_libgit2_shutdown();
	free(name);
	return r;
}
