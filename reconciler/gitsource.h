/*
 * gitsource.h: a git repository of manifests, followed for new commits.
 *
 * The git counterpart of manifests/dirsource.h. All libgit2 work (fetch
 * into a bare clone in DATA/git/<hash of url>/, resolving the revision,
 * writing the tree out) runs on the libuv thread pool, one job at a time,
 * with its own repository object; results reach the callback on the loop
 * thread.
 *
 * Triggers: a poll every interval (+-10% jitter), gitsource_fetch_now(),
 * and for a local repository (a path or file://) a watch on its refs
 * (refs/heads and packed-refs, debounced 50 ms), so a push is seen at once.
 *
 * A commit that differs from the last one delivered is written out, only
 * the blobs under `path`, to DATA/git/rev/<sha>/ (through a temporary
 * folder and a rename; executable bit kept; symlinks refused), and the two
 * newest revision folders are kept. A failure (unreachable remote, failed
 * authentication, missing branch, empty repository, missing path, a file
 * over the size limit, a symlink) goes to the callback as errors and never
 * deletes the last good revision's folder. A corrupt clone is removed and
 * cloned again once, automatically (logged, and noted in the err).
 *
 * Lifetime: the source frees itself once its handles are closed and a
 * running job has finished, after gitsource_free().
 */
#ifndef SM_GITSOURCE_H
#define SM_GITSOURCE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"

struct sm_err;
struct gitsource;

#define GITSOURCE_SHA_LEN 40
#define GITSOURCE_SHORT_LEN 7
#define GITSOURCE_DEFAULT_INTERVAL_MS 30000
#define GITSOURCE_DEFAULT_MAX_FILE (8u << 20)

/* A delivered revision; every string is borrowed for the call. */
struct gitsource_rev {
	char sha[GITSOURCE_SHA_LEN + 1];
	char short_sha[GITSOURCE_SHORT_LEN + 1];
	const char *author_name;
	const char *author_email;
	int64_t time; /* author time, seconds since the epoch */
	const char *subject; /* first line of the message */
	const char *dir; /* the tree under `path`, for mf_load() */
	bool rewritten; /* the last delivered commit is not an ancestor */
	bool recloned; /* the clone was corrupt and was made again */
};

/*
 * Called on the loop thread when the state changes: a new commit (rev set,
 * err holds notes only), an error different from the last one (rev NULL,
 * err holds the errors, each saying what and where), or the same commit
 * again after an error cleared (rev set).
 */
typedef void (*gitsource_cb)(void *ctx, const struct gitsource_rev *rev,
			     const struct sm_err *err);

struct gitsource_opts {
	const char *url; /* required: a path, file://, git://, ... */
	const char *branch; /* NULL: the remote's HEAD */
	const char *revision; /* a branch, tag or sha; overrides branch */
	const char *path; /* a folder in the repository; NULL: the root */
	const char *data_dir; /* required */
	uint64_t interval_ms; /* 0: GITSOURCE_DEFAULT_INTERVAL_MS */
	uint64_t max_file; /* 0: GITSOURCE_DEFAULT_MAX_FILE bytes */
	/* Read at fetch time: "user:token" or the path of an SSH key. */
	const char *credentials_file;
	gitsource_cb cb; /* required */
	void *ctx;
};

void gitsource_free(struct gitsource *gs);
/* Starts following o->url (every string is copied); the first fetch
 * starts at once. */
struct gitsource *gitsource_new(uv_loop_t *loop, const struct gitsource_opts *o)
	SM_MALLOC(gitsource_free);
/* Fetches now (a webhook, `stuurman sync`); after the running job if any. */
void gitsource_fetch_now(struct gitsource *gs);

#endif
