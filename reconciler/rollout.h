/*
 * rollout.h: the decisions of the Deployment controller, as pure functions.
 *
 * No I/O and no store: the caller reads a Deployment and its ReplicaSets,
 * describes them with struct rollout_spec and struct rollout_rs, asks what
 * to do (rollout_step, rollout_cleanup) and what the status is
 * (rollout_status_compute), and writes the results back itself.
 *
 * The arithmetic is Kubernetes' deployment controller's (pkg/controller/
 * deployment, 1.32), re-stated here:
 * - maxSurge rounds up and maxUnavailable rounds down against replicas;
 *   when both come out 0, maxUnavailable is 1 (rollout_fenceposts).
 * - RollingUpdate: first scale the new ReplicaSet up to at most
 *   replicas + maxSurge pods in total (counted by spec.replicas); if it did
 *   not move, scale old ones down: unhealthy replicas of old ReplicaSets
 *   first, then by (available pods - minAvailable), oldest first.
 * - Recreate: every old ReplicaSet to 0; wait until none has pods; only
 *   then create and scale up the new one.
 * - A change of spec.replicas alone (some active ReplicaSet's
 *   desired-replicas annotation differs from it) is a scaling event:
 *   proportional scaling across the active ReplicaSets (see rollout.c).
 *   A paused Deployment is only scaled, never rolled.
 * - The new ReplicaSet's revision is the highest old revision + 1, also
 *   when an old ReplicaSet becomes the new one again (a rollback).
 * - Status and the Available/Progressing conditions are computed as
 *   syncRolloutStatus does, with `now` given by the caller.
 *
 * Times are whole seconds since the Unix epoch (Kubernetes' timestamps
 * have second resolution).
 *
 * Ownership: every const char * in these structs is borrowed; it must
 * outlive the call that reads it (for rollout_rs_from_json: the JSON
 * object it came from).
 */
#ifndef SM_ROLLOUT_H
#define SM_ROLLOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compat.h"

struct rollout_status;
struct sm_buf;
struct sm_err;
struct sm_rand;

#define ROLLOUT_REVISION_ANN "deployment.kubernetes.io/revision"
#define ROLLOUT_DESIRED_ANN "deployment.kubernetes.io/desired-replicas"
#define ROLLOUT_MAX_ANN "deployment.kubernetes.io/max-replicas"
#define ROLLOUT_HASH_LABEL "pod-template-hash"

/* Longest pod-template-hash: the decimal digits of a uint32_t. */
#define ROLLOUT_HASH_MAX 10
/* Characters in a generated pod name's random suffix. */
#define ROLLOUT_POD_SUFFIX_LEN 5
/* progressDeadlineSeconds that means "no deadline" (Go's MaxInt32). */
#define ROLLOUT_NO_DEADLINE INT32_MAX

/* ---- int-or-percent ---------------------------------------------------- */

/*
 * Resolves an IntOrString (a JSON integer or a string "N%") against total,
 * as intstr.GetScaledValueFromIntOrPercent: a percentage is
 * total * N / 100, rounded up when round_up, else down. v NULL counts as 0.
 * Returns 0 with *out, or -EINVAL with a message in err (may be NULL) for a
 * string that is not a percentage or a negative value.
 */
int rollout_scaled_value(const json_t *v, int32_t total, bool round_up,
			 int32_t *out, struct sm_err *err);

/*
 * Kubernetes' ResolveFenceposts: surge rounds up, unavailable rounds down,
 * and if both are 0, unavailable becomes 1. NULL values count as 0 (the
 * caller applies the 25% defaults, or uses rollout_spec_from_json).
 */
int rollout_fenceposts(const json_t *max_surge, const json_t *max_unavailable,
		       int32_t replicas, int32_t *surge, int32_t *unavailable,
		       struct sm_err *err);

/* ---- the Deployment ---------------------------------------------------- */

enum rollout_strategy {
	ROLLOUT_ROLLING_UPDATE,
	ROLLOUT_RECREATE,
};

struct rollout_spec {
	const char *name; /* for condition messages */
	int64_t generation; /* metadata.generation */
	int32_t replicas;
	enum rollout_strategy strategy;
	/*
	 * As Kubernetes' MaxSurge() and MaxUnavailable(): both 0 for
	 * Recreate; max_unavailable is also 0 for 0 replicas and never more
	 * than replicas.
	 */
	int32_t max_surge;
	int32_t max_unavailable;
	int32_t min_ready_seconds;
	int32_t progress_deadline_seconds; /* ROLLOUT_NO_DEADLINE: none */
	int32_t revision_history_limit; /* < 0: keep every revision */
	bool paused;
};

/*
 * Fills d from a Deployment object, with Kubernetes' defaults for absent
 * fields (replicas 1, RollingUpdate 25%/25%, progressDeadlineSeconds 600,
 * revisionHistoryLimit 10, minReadySeconds 0). d->name borrows from obj.
 * Returns 0, or -EINVAL with a message in err for a bad maxSurge or
 * maxUnavailable (d is then unusable).
 */
int rollout_spec_from_json(struct rollout_spec *d, const json_t *obj,
			   struct sm_err *err);

/* ---- ReplicaSets ------------------------------------------------------- */

struct rollout_rs {
	/* What the caller observed. */
	const char *name; /* breaks ties between equal creation times */
	int64_t created_s; /* metadata.creationTimestamp */
	int64_t revision; /* the revision annotation; 0 when absent */
	int32_t desired_ann; /* desired-replicas annotation; -1 when absent */
	int32_t max_ann; /* max-replicas annotation; -1 when absent */
	int32_t replicas; /* spec.replicas */
	int32_t pods; /* status.replicas: its pods, terminating ones aside */
	/*
	 * Its pods that have not finished (phase neither Succeeded nor
	 * Failed), terminating ones included: Recreate waits until every old
	 * ReplicaSet has none. rollout_rs_from_json sets it to pods.
	 */
	int32_t running;
	int32_t ready; /* status.readyReplicas */
	int32_t available; /* status.availableReplicas */
	/*
	 * is_new: it runs the Deployment's current template (its
	 * pod-template-hash is the one the caller computed). Exactly one
	 * entry is new; when that ReplicaSet does not exist yet the caller
	 * adds an entry with is_new set, exists clear and zero counts.
	 */
	bool is_new;
	bool exists;
	bool deleting; /* metadata.deletionTimestamp is set */

	/* Decisions, set by rollout_step() and rollout_cleanup(). */
	int32_t scale_to; /* the spec.replicas to write (== replicas if kept) */
	/*
	 * write: update this ReplicaSet: spec.replicas = scale_to and the
	 * desired-replicas and max-replicas annotations from the plan.
	 */
	bool write;
	bool write_revision; /* set its revision annotation to plan's */
	bool create; /* create the new ReplicaSet now, with scale_to replicas */
	bool remove; /* delete it: beyond revisionHistoryLimit */
};

/*
 * Fills rs from a ReplicaSet object. is_new is set when its
 * pod-template-hash label equals new_hash (NULL: never). Absent counts
 * are 0, absent spec.replicas is 1, a bad creationTimestamp is 0.
 * Borrows name from obj. Decisions are cleared.
 */
void rollout_rs_from_json(struct rollout_rs *rs, const json_t *obj,
			  const char *new_hash);

enum rollout_path {
	ROLLOUT_PATH_SCALE, /* a scaling event, or paused */
	ROLLOUT_PATH_ROLLING,
	ROLLOUT_PATH_RECREATE,
};

struct rollout_plan {
	enum rollout_path path;
	int64_t revision; /* the new ReplicaSet's revision: max old + 1 */
	int32_t desired_ann; /* annotation values for the ReplicaSets written */
	int32_t max_ann;
	bool new_created; /* the new ReplicaSet is created by this step */
	bool waiting_for_old_pods; /* Recreate: old pods still exist */
	bool scaled; /* some ReplicaSet's replicas change */
};

/*
 * Decides one sync of the Deployment: for each ReplicaSet, scale_to,
 * write and create (see struct rollout_rs). Applying the decisions and
 * calling again once the ReplicaSets' status moved converges to the
 * Deployment's spec. Like Kubernetes' controller, a rolling step either
 * grows the new ReplicaSet or shrinks old ones, except the step that
 * creates the new ReplicaSet, which may also shrink old ones. Also runs
 * rollout_cleanup() when `status` (the Deployment's current status, NULL
 * if none) says the rollout is complete, or when paused.
 *
 * Returns 0, or -EINVAL when not exactly one entry has is_new set.
 */
int rollout_step(const struct rollout_spec *d, struct rollout_rs *rs, size_t nr,
		 const struct rollout_status *status,
		 struct rollout_plan *plan);

/*
 * revisionHistoryLimit: marks for removal the oldest old ReplicaSets (by
 * revision, then creation) beyond the limit, skipping any that still have
 * replicas or pods or are being deleted (as Kubernetes, a skipped one still
 * counts against the number to remove).
 */
void rollout_cleanup(const struct rollout_spec *d, struct rollout_rs *rs,
		     size_t nr);

/* The highest revision among the entries that are not new (0 if none). */
int64_t rollout_max_old_revision(const struct rollout_rs *rs, size_t nr);

/*
 * The entry of a revision, for rollback (`rollout undo --to-revision=N`):
 * revision 0 means the one before the highest (kubectl's default). NULL
 * when there is none.
 */
const struct rollout_rs *rollout_find_revision(const struct rollout_rs *rs,
					       size_t nr, int64_t revision);

/* ---- status ------------------------------------------------------------ */

enum rollout_cond_status {
	ROLLOUT_COND_ABSENT = 0,
	ROLLOUT_COND_TRUE,
	ROLLOUT_COND_FALSE,
	ROLLOUT_COND_UNKNOWN,
};

#define ROLLOUT_MSG_MAX 320

struct rollout_cond {
	enum rollout_cond_status status;
	char reason[48];
	char message[ROLLOUT_MSG_MAX];
	int64_t last_update_s;
	int64_t last_transition_s;
};

struct rollout_status {
	int64_t observed_generation;
	int32_t replicas; /* pods of all its ReplicaSets */
	int32_t updated; /* pods of the new ReplicaSet */
	int32_t ready;
	int32_t available;
	int32_t unavailable; /* sum of spec.replicas - available, >= 0 */
	struct rollout_cond available_cond; /* type Available */
	struct rollout_cond progressing_cond; /* type Progressing */
};

/*
 * Reads a Deployment's status object (NULL or absent fields are zero and
 * conditions absent). Conditions other than Available and Progressing are
 * ignored.
 */
void rollout_status_from_json(struct rollout_status *s, const json_t *status);

/* The status object, as Kubernetes writes it (new reference). */
json_t *rollout_status_to_json(const struct rollout_status *s);

/*
 * The new status after a step: counts from the ReplicaSets (spec.replicas
 * as scale_to, the rest as observed), Available from minAvailable, and the
 * Progressing condition from the old status `old` (NULL: none), the plan
 * (NewReplicaSetCreated, FoundNewReplicaSet) and now_s: NewReplicaSetAvailable
 * when complete, ReplicaSetUpdated when any count moved the right way (only
 * lastUpdateTime moves), ProgressDeadlineExceeded (False) when
 * lastUpdateTime + progressDeadlineSeconds is before now_s. A transition
 * time changes only when the condition's status changes.
 */
void rollout_status_compute(const struct rollout_spec *d,
			    const struct rollout_status *old,
			    const struct rollout_rs *rs, size_t nr,
			    const struct rollout_plan *plan, int64_t now_s,
			    struct rollout_status *out);

/* Kubernetes' DeploymentComplete: every replica updated and available. */
bool rollout_complete(const struct rollout_spec *d,
		      const struct rollout_status *s);

/*
 * When the caller should sync again to notice a missed deadline (the
 * Progressing condition's lastUpdateTime + deadline + 1), or 0 when no
 * deadline is running.
 */
int64_t rollout_recheck_at(const struct rollout_spec *d,
			   const struct rollout_status *s);

/*
 * What `kubectl rollout status` prints for this state, and whether it is
 * done: returns 1 (done: "successfully rolled out"), 0 (waiting) or
 * -ETIMEDOUT (progress deadline exceeded). The line goes to out (may be
 * NULL), e.g. `Waiting for deployment "web" rollout to finish: 1 out of 3
 * new replicas have been updated...`.
 */
int rollout_status_check(const struct rollout_spec *d,
			 const struct rollout_status *s, struct sm_buf *out);

/* ---- pods -------------------------------------------------------------- */

/*
 * Kubernetes' IsPodAvailable: Ready and, with minReadySeconds, Ready since
 * strictly before now_s - minReadySeconds.
 */
bool rollout_available(bool ready, int64_t ready_since_s,
		       int32_t min_ready_seconds, int64_t now_s);

/* The same, reading a Pod object's Ready condition. */
bool rollout_pod_available(const json_t *pod, int32_t min_ready_seconds,
			   int64_t now_s);

/*
 * Parses an RFC 3339 time ("2024-01-01T00:00:00Z", fractions and offsets
 * allowed) to seconds since the epoch. Returns 0 or -EINVAL.
 */
int rollout_parse_time(const char *s, int64_t *out);

/* ---- the pod-template-hash and names ------------------------------------ */

/*
 * The pod-template-hash of a pod template: FNV-1a 32 over its canonical
 * JSON without the pod-template-hash label, then collision_count (4 bytes,
 * little endian, when not NULL), then extra (when not NULL: the hash of
 * the ConfigMaps and Secrets the template uses, so that editing them rolls
 * the workload). Written as Kubernetes' rand.SafeEncodeString of the
 * decimal value: 1 to 10 characters of "bcdfghjklmnpqrstvwxz2456789".
 */
void rollout_template_hash(const json_t *tmpl, const int32_t *collision_count,
			   const char *extra, char out[ROLLOUT_HASH_MAX + 1]);

/*
 * A deep copy of a pod template without the pod-template-hash label (and
 * without a labels object left empty by that): what rollback writes back
 * into the Deployment. New reference.
 */
json_t *rollout_template_strip_hash(const json_t *tmpl);

/* Kubernetes' EqualIgnoreHash: equal templates, the hash label aside. */
bool rollout_template_equal(const json_t *a, const json_t *b);

/* "<deployment>-<hash>". Returns 0 or -EMSGSIZE. */
int rollout_rs_name(const char *deployment, const char *hash,
		    struct sm_buf *out);

/*
 * A pod name as the API server generates one from generateName
 * "<rs>-": the prefix cut to 58 characters, then 5 random characters.
 */
int rollout_pod_name(const char *rs_name, const struct sm_rand *r,
		     struct sm_buf *out);

/* ---- objects ----------------------------------------------------------- */

/*
 * The ownerReference of a controller (controller and blockOwnerDeletion
 * true) to obj, with the given apiVersion and kind (new reference).
 */
json_t *rollout_controller_ref(const json_t *obj, const char *api_version,
			       const char *kind);

/*
 * The new ReplicaSet of a Deployment, as getNewReplicaSet builds it: name
 * "<deployment>-<hash>", the Deployment's namespace, an ownerReference to
 * it, labels and selector of the template plus pod-template-hash, the
 * template with that label, minReadySeconds, `replicas`, and the
 * Deployment's annotations (but kubectl's last-applied-configuration and
 * the deployment.kubernetes.io ones) with the revision, desired-replicas
 * and max-replicas annotations of the plan. New reference.
 */
json_t *rollout_new_rs_json(const json_t *deployment, const char *hash,
			    const struct rollout_plan *plan, int32_t replicas);

/*
 * A copy of a ReplicaSet object with the decisions of rs applied:
 * spec.replicas and the replicas annotations (rs->write), the revision
 * (rs->write_revision). New reference.
 */
json_t *rollout_rs_apply_json(const json_t *rs_obj, const struct rollout_rs *rs,
			      const struct rollout_plan *plan);

/*
 * A Pod for a ReplicaSet, as the ReplicaSet controller makes one from its
 * template: name, generateName "<rs>-", the namespace, the template's
 * labels, annotations and spec, an ownerReference to the ReplicaSet. New
 * reference.
 */
json_t *rollout_pod_json(const json_t *rs_obj, const char *pod_name);

#endif
