/*
 * statefulset.h: the decisions of the StatefulSet controller, as pure
 * functions.
 *
 * The caller describes a StatefulSet (struct sts_spec) and the pods it
 * owns (struct sts_pod: ordinal, revision, state); sts_decide() says which
 * ordinals to create and which pods to delete now, following Kubernetes'
 * StatefulSet controller (stateful_set_control.go, updateStatefulSet):
 * - Ordinals [0, replicas) are wanted; pods with higher ordinals are
 *   condemned and deleted highest first.
 * - OrderedReady: an ordinal is created only when every lower one is
 *   Running and Ready; one change at a time; a terminating or unready pod
 *   blocks everything above it; condemned pods go one at a time, each
 *   only once the previous one is gone.
 * - Parallel: every missing ordinal is created and every condemned pod
 *   deleted at once.
 * - RollingUpdate: once the above is settled, the pod with the highest
 *   ordinal >= partition whose revision is not the update revision is
 *   deleted (to be re-created at the update revision), one at a time,
 *   waiting for the pods above it to be Running and Ready. OnDelete never
 *   deletes for an update; a pod re-created after a deletion gets the
 *   update revision.
 * - A pod that finished (Succeeded or Failed) is deleted, to be re-created.
 *
 * Never two pods with one ordinal: any pod that still exists with an
 * ordinal, terminating or not, keeps that ordinal from being created
 * again. (A pod on a lost node still exists until the node is fenced; the
 * caller removes it only then.)
 *
 * Ownership: every const char * is borrowed and must outlive the call
 * (an sts_plan's revisions point into the sts_spec).
 */
#ifndef SM_STATEFULSET_H
#define SM_STATEFULSET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sm_buf;

/* The pod label that holds a pod's revision (Kubernetes' name). */
#define STS_REVISION_LABEL "controller-revision-hash"

enum sts_policy {
	STS_ORDERED_READY,
	STS_PARALLEL,
};

enum sts_update {
	STS_ROLLING_UPDATE,
	STS_ON_DELETE,
};

struct sts_spec {
	const char *name;
	int64_t generation;
	int32_t replicas;
	enum sts_policy policy;
	enum sts_update update;
	int32_t partition; /* RollingUpdate only */
	/*
	 * Revision names ("<name>-<hash>", see sts_revision_name). The
	 * current revision is status.currentRevision (the one pods below the
	 * partition keep); the update revision is the current template's.
	 * An empty or NULL current revision means the update revision.
	 */
	const char *current_revision;
	const char *update_revision;
};

/*
 * Fills s from a StatefulSet object with Kubernetes' defaults (replicas
 * 1, OrderedReady, RollingUpdate with partition 0). current_revision and
 * update_revision come from its status; the caller sets update_revision
 * to the revision of the current template. Borrows from obj.
 */
void sts_spec_from_json(struct sts_spec *s, const json_t *obj);

struct sts_pod {
	int32_t ordinal;
	const char *revision; /* its STS_REVISION_LABEL; NULL: none */
	bool running; /* phase Running */
	bool ready; /* condition Ready True */
	bool terminating; /* deletionTimestamp set */
	bool finished; /* phase Succeeded or Failed */
};

/*
 * Fills p from a Pod object of StatefulSet sts. Returns 0, or -EINVAL
 * when its name is not "<sts>-<ordinal>".
 */
int sts_pod_from_json(struct sts_pod *p, const json_t *pod, const char *sts);

enum sts_verb {
	STS_CREATE, /* create pod <name>-<ordinal> at `revision` */
	STS_DELETE, /* delete pod <name>-<ordinal> */
};

struct sts_action {
	enum sts_verb verb;
	int32_t ordinal;
	const char *revision; /* STS_CREATE: borrowed from the spec */
};

struct sts_plan {
	struct sts_action *items;
	size_t nr, alloc;
	/*
	 * OrderedReady stopped at this ordinal (waiting for it to become
	 * Running and Ready, or to finish terminating); -1 when not blocked.
	 */
	int32_t blocked_at;
	/* Pods that share an ordinal with an earlier one in the input. */
	size_t duplicates;
};

#define STS_PLAN_INIT             \
	{                         \
		NULL, 0, 0, -1, 0 \
	}

void sts_plan_release(struct sts_plan *p);

/*
 * Decides the next actions into plan (which must be empty). Creations
 * are in ordinal order, deletions highest ordinal first. An empty plan
 * means: nothing to do until a pod changes.
 */
void sts_decide(const struct sts_spec *s, const struct sts_pod *pods, size_t nr,
		struct sts_plan *plan);

struct sts_status {
	int64_t observed_generation;
	int32_t replicas; /* pods that exist */
	int32_t ready; /* Running and Ready */
	int32_t current; /* at the current revision, not terminating */
	int32_t updated; /* at the update revision, not terminating */
	const char *current_revision; /* borrowed from the spec */
	const char *update_revision;
};

/*
 * The status of the observed pods. When a RollingUpdate is complete
 * (every wanted pod updated and ready), the current revision becomes the
 * update revision, as Kubernetes' completeRollingUpdate does.
 */
void sts_status_compute(const struct sts_spec *s, const struct sts_pod *pods,
			size_t nr, struct sts_status *out);

/* The status object, as Kubernetes writes it (new reference). */
json_t *sts_status_to_json(const struct sts_status *st);

/* "<sts>-<ordinal>". Returns 0 or -EMSGSIZE. */
int sts_pod_name(const char *sts, int32_t ordinal, struct sm_buf *out);

/* "<claim>-<sts>-<ordinal>": a volumeClaimTemplate's PVC for a pod. */
int sts_claim_name(const char *claim, const char *sts, int32_t ordinal,
		   struct sm_buf *out);

/*
 * "<sts>-<hash>", the hash of the pod template as rollout_template_hash
 * computes it (with collision_count and extra, which may be NULL).
 */
int sts_revision_name(const char *sts, const json_t *tmpl,
		      const int32_t *collision_count, const char *extra,
		      struct sm_buf *out);

/* The ordinal of pod name in StatefulSet sts, or -1 if it is not one. */
int32_t sts_pod_ordinal(const char *sts, const char *pod);

/*
 * The Pod for an ordinal, as newStatefulSetPod makes it from tmpl (the pod
 * template of `revision`: the StatefulSet's own for the update revision,
 * the stored one for the current revision): name "<sts>-<ordinal>", the
 * namespace, an ownerReference to the StatefulSet, the template's labels
 * plus statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index
 * and controller-revision-hash, spec.hostname (the pod name) and
 * spec.subdomain (spec.serviceName), and one persistentVolumeClaim volume
 * per volumeClaimTemplate, named after the template, replacing a volume of
 * that name. New reference.
 */
json_t *sts_pod_json(const json_t *sts, const json_t *tmpl, int32_t ordinal,
		     const char *revision);

/*
 * The PersistentVolumeClaim of a volumeClaimTemplate for an ordinal: name
 * "<claim>-<sts>-<ordinal>", the namespace, the template's labels plus the
 * StatefulSet's selector.matchLabels, its annotations and spec. New
 * reference.
 */
json_t *sts_claim_json(const json_t *sts, const json_t *claim_tmpl,
		       int32_t ordinal);

#endif
