/*
 * sync.h: makes the store hold a desired set of objects (from a folder of
 * manifests now, from git with the GitOps issue).
 *
 * Every object applied is marked as stuurman's: the label
 * app.kubernetes.io/managed-by=stuurman and the annotation
 * stuurman.io/source=<source> naming where it came from. Objects go in
 * dependency order (Namespaces, ConfigMaps, Secrets, claims, Services,
 * workloads). An object that exists and is not stuurman's is left alone
 * and reported. Objects of the same source that the set no longer has are
 * deleted (pruned) unless they carry stuurman.io/prune: "false".
 *
 * What counts as a change: the object's labels, annotations and
 * everything outside metadata and status, as the set has them. Labels and
 * annotations that others added (controllers, kubectl) are kept.
 */
#ifndef SM_SYNC_H
#define SM_SYNC_H

#include <jansson.h>
#include <stddef.h>

struct store;
struct sm_err;

#define SYNC_LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
#define SYNC_ANNOTATION_SOURCE "stuurman.io/source"
#define SYNC_ANNOTATION_PRUNE "stuurman.io/prune"

struct sync_result {
	size_t created, configured, unchanged, pruned, skipped;
};

/*
 * Applies objects (an array of canonical objects, borrowed) under source.
 * Writes are not waited for. Problems with single objects (not ours, a
 * namespace missing, a store error) are warnings in err and do not stop
 * the others. Returns 0, or -EIO when a write failed.
 */
int sync_apply(struct store *s, const json_t *objects, const char *source,
	       struct sync_result *r, struct sm_err *err);

#endif
