/*
 * gitseed.h: the git repository `stuurman up` runs the cluster from.
 *
 * gitseed_create() makes a bare repository (DATA/git/cluster.git) whose
 * first commit on branch main holds the files of a folder of manifests at
 * its root, so that a person can clone it, edit, commit and push, and the
 * server (started with --repo on it) rolls the change out. An existing
 * repository is never touched: a second `up` keeps the user's history.
 * gitseed_export() writes what a branch holds into a folder, so that up
 * knows which workloads to wait for when the repository was already there.
 *
 * Both are blocking libgit2 work for a command's start, not for a loop
 * thread. They are all or nothing: the repository is built in a temporary
 * folder beside it and renamed into place when complete; a failed export
 * removes what it wrote. Errors go to err, naming the path and what failed.
 */
#ifndef SM_CLI_GITSEED_H
#define SM_CLI_GITSEED_H

struct sm_err;

#define GITSEED_BRANCH "main"
#define GITSEED_AUTHOR "stuurman"
#define GITSEED_EMAIL "stuurman@localhost"

/*
 * Creates the bare repository git_dir (its parent folder is created when
 * missing) with HEAD -> refs/heads/main and one commit on main by
 * "stuurman <stuurman@localhost>" with message: the files of src_dir,
 * recursively, at the root (symlinks followed, the executable bit kept,
 * ".git" and empty folders left out, other special files skipped).
 * Returns 1 when it was created, 0 when git_dir is a git repository
 * already (left as it is), or a negative errno: -EEXIST when git_dir is
 * something else, -ENOENT when src_dir has no files, -EIO on a libgit2 or
 * file error; nothing is left behind then.
 */
int gitseed_create(const char *git_dir, const char *src_dir,
		   const char *message, struct sm_err *err);

/*
 * Writes the files of branch's newest commit in the repository git_dir
 * into dest, which must not exist (it is created, with its parents).
 * Returns 0, or a negative errno (-ENOENT: no such branch) with dest
 * removed again.
 */
int gitseed_export(const char *git_dir, const char *branch, const char *dest,
		   struct sm_err *err);

/* Removes path and everything under it (symlinks not followed); 0 when
 * it is gone (also when it was not there), else -errno. */
int gitseed_remove_tree(const char *path);

#endif
