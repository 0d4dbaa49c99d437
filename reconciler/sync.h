/*
 * sync.h: makes the store hold a desired set of objects (a folder of
 * manifests, or a git revision), tells whether live objects still hold
 * what the set says (drift), and shows the difference as a unified diff.
 *
 * Every object applied is marked as stuurman's: the label
 * app.kubernetes.io/managed-by=stuurman, the annotation
 * stuurman.io/source=<source> naming where it came from, the annotation
 * stuurman.io/applied=<hash of the marked desired object> and, when a
 * revision is given, stuurman.io/revision=<the commit that last created
 * or changed it>. Marks go into metadata only, never into a pod template
 * (a mark there would roll every workload on every commit).
 *
 * Objects go in dependency order (Namespaces, ConfigMaps, Secrets,
 * claims, Services, workloads), then kind, namespace, name. An object
 * that exists and is not stuurman's is left alone and reported. Objects
 * of the same source that the set no longer has are deleted (pruned), in
 * the reverse order, unless they carry stuurman.io/prune: "false".
 *
 * What counts as a change (sync_apply's "configured"): the desired object
 * differs from the one last applied (its hash is not live's
 * stuurman.io/applied), or live has drifted from it (sync_drifted). The
 * update then replaces everything outside metadata with the desired
 * object's (so a field removed in git goes), keeps live's status,
 * finalizers and ownerReferences, and adds the desired labels and
 * annotations to live's (labels and annotations others added are kept; so
 * is one that git removed: see reconciler/README.md). An object that
 * has not changed is not written at all.
 *
 * What counts as drift: live must hold the desired object recursively;
 * what others add (defaults, allocated fields, status, controllers'
 * labels and annotations) is not drift, a changed or removed value is.
 */
#ifndef SM_SYNC_H
#define SM_SYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct store;
struct sm_buf;
struct sm_err;

#define SYNC_LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
#define SYNC_ANNOTATION_SOURCE "stuurman.io/source"
#define SYNC_ANNOTATION_PRUNE "stuurman.io/prune"
/* The commit that last created or changed the object. */
#define SYNC_ANNOTATION_REVISION "stuurman.io/revision"
/* The hash of the desired object last applied (SYNC_HASH_LEN hex). */
#define SYNC_ANNOTATION_APPLIED "stuurman.io/applied"
#define SYNC_HASH_LEN 20

struct sync_opts {
	/* Required: the stuurman.io/source value (the repository, a folder). */
	const char *source;
	/* NULL: no revision annotation is written (live's is kept). */
	const char *revision;
	/* Delete our objects of this source that the set no longer has. */
	bool prune;
	/* Plan only: nothing is written; the result says what would happen. */
	bool dry_run;
};

struct sync_result {
	size_t created, configured, unchanged, pruned, skipped;
	/*
	 * Owned (sync_result_release()): an array with an entry for every
	 * object that is not unchanged, in the order of the work:
	 * {"kind", "namespace" ("" for cluster scope), "name",
	 *  "action": "created" | "configured" | "pruned" | "skipped",
	 *  "message": why (configured: "changed in git" or "drifted: PATH";
	 *  skipped: the reason), absent for created and pruned}.
	 */
	json_t *changes;
};

#define SYNC_RESULT_INIT \
	{                \
		0        \
	}

/* Frees r's contents (r itself may be reused; NULL changes are fine). */
void sync_result_release(struct sync_result *r);

/*
 * Applies objects (an array of canonical objects, borrowed) as o says,
 * into *r (which is overwritten: release an earlier result first). Writes
 * are not waited for. Problems with single objects (not ours, a namespace
 * missing, being deleted) are warnings in err and skipped entries in r;
 * they do not stop the others. A failed store write is an error in err.
 * Returns 0, -EINVAL without o->source or when objects is not an array
 * (nothing done: no set is not an empty set), or -EIO when a write failed
 * (the other objects were still applied).
 */
int sync_apply(struct store *s, const json_t *objects,
	       const struct sync_opts *o, struct sync_result *r,
	       struct sm_err *err);

/*
 * Whether live (a stored object, NULL for none) no longer holds what want
 * (a desired object as given to sync_apply, marked or not) says: every
 * key want has, live has with an equal value (numbers by value; a null,
 * {} or [] in want also matches a missing key), objects recursively
 * (extra keys in live are fine), arrays of the same length element by
 * element. Of metadata only want's labels and annotations count (not
 * stuurman.io/revision nor stuurman.io/applied); status never counts.
 */
bool sync_drifted(const json_t *live, const json_t *want);

/*
 * Like sync_drifted(); when drifted, also appends to path (may be NULL)
 * the first place that differs, as mf_diff_compute() writes paths
 * ("spec.replicas", "metadata.labels[app]"). "" when live is NULL.
 */
bool sync_drift_path(const json_t *live, const json_t *want,
		     struct sm_buf *path);

/*
 * Appends to out live against desired as unified diffs of YAML, one per
 * object that differs, in apply order:
 *   --- live/apps/v1/Deployment/default/web
 *   +++ git/apps/v1/Deployment/default/web
 * Live is shown restricted to what the desired object has (its keys,
 * recursively; of metadata its name, namespace, labels and annotations),
 * so defaults and status are not shown. Missing objects are all added
 * ("--- /dev/null"); objects that a sync would prune (ours, of source,
 * not in the set; source NULL: none) are all removed ("+++ /dev/null"),
 * after the others in prune order. Objects that exist and are not ours
 * are not shown (a sync leaves them alone). Secrets: every value under
 * data and stringData (and kubectl's last-applied-configuration
 * annotation) is shown as "***" when both sides are equal, as
 * "*** (live)" and "*** (git)" when they differ; never a value nor a
 * hash of one. out gets nothing when live holds what the set says.
 * Returns 0, -EINVAL when objects is not an array, or -ENOBUFS when out
 * is full (err says so; out holds the diffs that fitted).
 */
int sync_diff(struct store *s, const json_t *objects, const char *source,
	      struct sm_buf *out, struct sm_err *err);

#endif
