/*
 * kinds.h: the kinds stuurman runs, each described by one table row and the
 * type tables in kinds.c.
 *
 * Supported: v1 Pod, Service, ConfigMap, Secret, Namespace,
 * PersistentVolumeClaim; apps/v1 Deployment, StatefulSet, ReplicaSet.
 *
 * mf_object_check() is the whole check of one parsed object: apiVersion and
 * kind, name and namespace, every field against the kind's tables, the
 * cross-field rules, and Kubernetes' defaults, leaving the object in
 * canonical form (server-set fields and status dropped, Secret stringData
 * merged into data, quantities as Kubernetes prints them).
 */
#ifndef MF_KINDS_H
#define MF_KINDS_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"
#include "manifests/parse.h"
#include "manifests/schema.h"

struct mf_kind {
	const char *kind; /* "Deployment" */
	const char *group; /* "apps", or "" for the core group */
	const char *version; /* "v1" */
	const char *resource; /* "deployments" */
	bool namespaced;
	/* Where it goes in an apply: namespaces first, workloads last. */
	int apply_order;
	const struct mf_type *type;
	const char *(*name_format)(const char *name);
};

/* The kind named kind (case-sensitive, as Kubernetes), or NULL. */
const struct mf_kind *mf_kind_find(const char *kind);

/* All supported kinds, in apply order; *nr is set to their number. */
const struct mf_kind *mf_kinds(size_t *nr);

/* "Deployment, Pod, ..." for messages (static). */
const char *mf_kinds_list(void);

/* "apps/v1" or "v1" into out (at least 64 bytes). */
void mf_kind_api_version(const struct mf_kind *k, char *out, size_t len);

enum mf_check_result {
	MF_CHECK_OK = 0,
	MF_CHECK_INVALID, /* errors were reported */
	MF_CHECK_UNSUPPORTED, /* a kind stuurman does not run (reported) */
};

struct mf_check_opts {
	bool strict; /* unknown fields and unsupported kinds are errors */
};

/*
 * Checks and defaults obj (borrowed, changed in place) that came from doc of
 * file (either may be NULL for objects that came from elsewhere, e.g. the
 * API), at JSON Pointer `at` in the document ("" for the whole document,
 * "/items/3" for an item of a List). *kind is set when the kind is
 * supported. Every problem is added to err.
 */
enum mf_check_result mf_object_check(json_t *obj, const struct mf_doc *doc,
				     const char *at, const char *file,
				     const struct mf_check_opts *opts,
				     const struct mf_kind **kind,
				     struct sm_err *err);

#endif
