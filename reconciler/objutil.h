/*
 * objutil.h: small facts about stored objects that the API server and
 * several controllers need: pod states as Kubernetes defines them, owner
 * references, and how a pod is deleted.
 *
 * Every function reads its arguments only (borrowed) and returns borrowed
 * strings from them, or new references where it says so.
 */
#ifndef SM_OBJUTIL_H
#define SM_OBJUTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct store;
struct sm_err;

const char *obj_uid(const json_t *obj);
/* The status.conditions entry of type, or NULL. */
const json_t *obj_condition(const json_t *obj, const char *type);
/* metadata.deletionTimestamp is set. */
bool obj_is_terminating(const json_t *obj);

/* status.phase, or "" when none. */
const char *pod_phase(const json_t *pod);
/* Succeeded or Failed: the pod will not run again. */
bool pod_is_terminal(const json_t *pod);
/* Neither terminating nor terminal: it counts as a replica. */
bool pod_is_active(const json_t *pod);
/* The Ready condition is True. */
bool pod_is_ready(const json_t *pod);
/*
 * Ready for at least min_ready_s at now_ns. When ready but not yet for
 * long enough, *wait_ms (may be NULL) gets the time left, else 0.
 */
bool pod_is_available(const json_t *pod, int64_t min_ready_s, uint64_t now_ns,
		      uint64_t *wait_ms);

/* The ownerReferences entry with controller: true, or NULL. */
const json_t *obj_controller_ref(const json_t *obj);
/* obj's controller is owner (by uid). */
bool obj_is_controlled_by(const json_t *obj, const json_t *owner);
/* An ownerReference to owner (new): controller and blockOwnerDeletion. */
json_t *obj_owner_ref(const json_t *owner);

/*
 * Whether deleting pod is graceful (it is bound to a node and still runs:
 * its agent stops the containers and then removes it) and with which
 * grace period: grace_s < 0 on entry means the pod's own
 * terminationGracePeriodSeconds (default 30). 0 means at once.
 */
bool pod_delete_is_graceful(const json_t *pod, int64_t *grace_s);

/*
 * Deletes obj from the store as a controller does: pods by the rule
 * above, everything else at once. No callback; errors go to err.
 */
int obj_delete(struct store *s, const json_t *obj, struct sm_err *err);

#endif
