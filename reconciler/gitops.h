/*
 * gitops.h: git as the source of truth, inside `stuurman server`.
 *
 * A gitops follows one branch of one repository (reconciler/gitsource.h)
 * and keeps the store holding what the newest commit says
 * (reconciler/sync.h):
 * - a commit is judged whole: one with any error is not applied, the sync
 *   status is Failed with every error, and the previous revision stays
 *   applied, untouched;
 * - drift (a managed object changed or deleted through the API) is seen at
 *   once from store watches and set back to git's version (self-heal,
 *   default on), or only reported as OutOfSync;
 * - health (Healthy, Progressing, Degraded) comes from the workloads'
 *   status; the history records, per commit, how long it took from seeing
 *   it to all workloads healthy;
 * - a rollback pins an earlier revision until the next new commit; with
 *   auto-rollback, a revision whose rollout turns Degraded (a Deployment's
 *   progress deadline) is marked bad and the last healthy revision is
 *   restored, and later commits are still synced.
 *
 * The history (last 20), the pin and the bad revisions survive a restart
 * in DATA/git/state.json (written whole through a temporary file and a
 * rename).
 *
 * Everything runs on the loop thread; git and manifest loading run on the
 * thread pool inside gitsource.
 */
#ifndef SM_GITOPS_H
#define SM_GITOPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"

struct sm_buf;
struct sm_clock;
struct sm_err;
struct store;
struct gitops;

#define GITOPS_HISTORY_MAX 20

struct gitops_opts {
	const char *repo; /* required: a path, file://, git://, https://... */
	const char *branch; /* NULL: the remote's HEAD */
	const char *revision; /* a tag or sha to stay on; overrides branch */
	const char *path; /* a folder in the repository; NULL: the root */
	const char *data_dir; /* required: the server's data directory */
	const char *credentials_file; /* NULL: none */
	uint64_t interval_ms; /* 0: gitsource's default (30 s) */
	bool self_heal; /* set drift back; false: report OutOfSync only */
	bool auto_rollback;
	struct store *store; /* required; borrowed */
	const struct sm_clock *clock; /* NULL: the system clock */
};

void gitops_free(struct gitops *g);
/*
 * Loads DATA/git/state.json and starts following the repository. Returns
 * 0 with *out, or a negative errno with err (a state file that cannot be
 * read is an error naming it, never silently dropped).
 */
int gitops_new(uv_loop_t *loop, const struct gitops_opts *o,
	       struct gitops **out, struct sm_err *err);

/* The sync status (new reference), as GET /stuurman/sync serves it. */
json_t *gitops_status(struct gitops *g);
/* {"items": [...]} newest first (new reference). */
json_t *gitops_history(struct gitops *g);
/* Live against git as a unified YAML diff into out (empty: in sync). */
int gitops_diff(struct gitops *g, struct sm_buf *out, struct sm_err *err);
/*
 * Fetches now and applies what it finds; the current revision is applied
 * again at once (so drift goes even with self-heal off). Returns the
 * status' "fetches" count at which a fetch that started after this call
 * has finished.
 */
uint64_t gitops_sync_now(struct gitops *g);

/*
 * Called once when a rollback has been applied (status 0, the status
 * body) or refused: -ENOENT for an unknown revision, -EINVAL for one that
 * does not load, with the reasons in err.
 */
typedef void (*gitops_rollback_cb)(void *ctx, int status,
				   const struct sm_err *err);
/*
 * Pins rev (a sha prefix, tag or branch known to the clone) until the
 * next new commit. cb runs later, on the loop thread; it is never called
 * after gitops_rollback_cancel(ctx) or gitops_free().
 */
void gitops_rollback(struct gitops *g, const char *rev, gitops_rollback_cb cb,
		     void *ctx);
void gitops_rollback_cancel(struct gitops *g, void *ctx);

#endif
