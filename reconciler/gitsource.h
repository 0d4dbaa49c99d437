/*
 * gitsource.h: a git repository of manifests, followed for new commits.
 *
 * The git counterpart of manifests/dirsource.h. All libgit2 work (fetch
 * into a bare clone in DATA/git/<hash of url>/, resolving the revision,
 * reading the tree) runs on the libuv thread pool, one job at a time,
 * with its own repository object; results reach the callback on the loop
 * thread.
 *
 * Triggers: a poll every interval (+-10% jitter), gitsource_fetch_now(),
 * and for a local repository (a path or file://) a watch on its refs
 * (refs/heads and packed-refs, debounced 50 ms), so a push is seen at once.
 *
 * A commit that differs from the last one delivered has the blobs under
 * `path` read from the clone into memory (after the whole tree passed its
 * checks: names, no symlinks, sizes from the blobs' headers) and loaded
 * with mf_load_memory() in the same job, on the worker; nothing is written
 * out (older versions wrote DATA/git/rev/, which the first job removes).
 * A poll that finds the commit delivered last (and no error since) reads
 * and loads nothing and calls nobody. A failure (unreachable remote,
 * failed authentication, missing branch, empty repository, missing path, a
 * file over the size limit, a tree over the total limit, a symlink) goes
 * to the callback as errors. A corrupt clone is removed and cloned again
 * once, automatically (logged, and noted in the err).
 *
 * Diagnostics of the load name files as they are in the repository,
 * relative to its root and including `path` ("apps/web.yaml:3:5").
 *
 * Lifetime: the source frees itself once its handles are closed and a
 * running job has finished, after gitsource_free().
 */
#ifndef SM_GITSOURCE_H
#define SM_GITSOURCE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>

#include "common/compat.h"

struct sm_err;
struct gitsource;

#define GITSOURCE_SHA_LEN 40
#define GITSOURCE_SHORT_LEN 7
#define GITSOURCE_DEFAULT_INTERVAL_MS 30000
#define GITSOURCE_DEFAULT_MAX_FILE (8u << 20)
#define GITSOURCE_DEFAULT_MAX_TOTAL (64u << 20)

/* A delivered revision; every string is borrowed for the call. */
struct gitsource_rev {
	char sha[GITSOURCE_SHA_LEN + 1];
	char short_sha[GITSOURCE_SHORT_LEN + 1];
	const char *author_name;
	const char *author_email;
	int64_t time; /* author time, seconds since the epoch */
	const char *subject; /* first line of the message */
	bool rewritten; /* the last delivered commit is not an ancestor */
	bool recloned; /* the clone was corrupt and was made again */
	/*
	 * The valid objects of the tree under `path` (mf_load_memory():
	 * checked, defaulted, in file order), a JSON array; borrowed for the
	 * call (json_incref to keep). NULL when the set has errors: they are in
	 * the callback's err.
	 */
	const json_t *objects;
};

/*
 * Called on the loop thread when the state changes: a new commit (rev set;
 * err holds the load's diagnostics and notes; when it has errors,
 * rev->objects is NULL: the commit is delivered all the same, so the caller
 * can say it was rejected), an error different from the last one (rev NULL,
 * err holds the errors, each saying what and where), or the same commit
 * again after an error cleared (rev set, loaded again). gitsource_status
 * already counts the fetch when it is called.
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
	/* The sum of the files under path; 0: GITSOURCE_DEFAULT_MAX_TOTAL. */
	uint64_t max_total;
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
/*
 * Fetches now (a webhook, `stuurman sync`): after the running job if any,
 * so every call is followed by a fetch that starts after it (the fetches
 * counter grows). Calls during one job are merged into one more fetch.
 * Returns the value gitsource_status.fetches will have once a fetch that
 * started after this call has finished (the running fetch, which may have
 * missed a push made just before, does not count); 0 after
 * gitsource_free().
 */
uint64_t gitsource_fetch_now(struct gitsource *gs);

typedef void (*gitsource_checkout_cb)(void *ctx,
				      const struct gitsource_rev *rev,
				      const struct sm_err *err);

/*
 * Resolves rev (a full or abbreviated sha of >= 4 hex, a tag, a branch;
 * a tag or branch of that name wins over a sha prefix, as in git) in the
 * local clone, without fetching, reads its tree under `path` and loads
 * it, on the worker (queued behind a running job; checkouts before a queued
 * fetch), and calls cb once on the loop thread: rev set (objects NULL and
 * the errors in err when it does not load) or rev NULL with err saying what
 * is wrong (not in the clone, an ambiguous prefix, a file over the limit).
 * It does not change which commit the source follows. rev is copied.
 * Returns 0, -EINVAL (rev empty, cb NULL) or -ESHUTDOWN (called from a
 * callback after gitsource_free()); on failure cb is never called. After
 * gitsource_free(), callbacks of checkouts not yet finished are not called.
 */
int gitsource_checkout(struct gitsource *gs, const char *rev,
		       gitsource_checkout_cb cb, void *ctx);

struct gitsource_status {
	int64_t last_fetch_ms; /* wall clock ms, 0 before the first */
	uint64_t fetches; /* finished fetch jobs, also those that found
			     nothing new or failed */
	char head_sha[GITSOURCE_SHA_LEN + 1]; /* last delivered, "" before */
	bool fetching; /* a fetch runs or is queued */
	uint64_t loads; /* trees read and loaded (follow, checkout) */
	uint64_t checkouts; /* finished checkout jobs */
};

void gitsource_get_status(const struct gitsource *gs,
			  struct gitsource_status *st);

#endif
