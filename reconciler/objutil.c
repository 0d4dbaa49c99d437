/*
 * objutil.c: see objutil.h.
 */
#include <string.h>

#include "common/clock.h"
#include "common/json.h"
#include "reconciler/objutil.h"
#include "reconciler/store.h"

#include "common/banned.h"

#define DEFAULT_GRACE_S 30

const char *obj_uid(const json_t *obj)
{
	return sm_json_get_str(json_object_get(obj, "metadata"), "uid");
}

bool obj_is_terminating(const json_t *obj)
{
	return sm_json_get_path(obj, "metadata.deletionTimestamp") != NULL;
}

const char *pod_phase(const json_t *pod)
{
	const char *p =
		sm_json_get_str(json_object_get(pod, "status"), "phase");

	return p ? p : "";
}

bool pod_is_terminal(const json_t *pod)
{
	const char *p = pod_phase(pod);

	return !strcmp(p, "Succeeded") || !strcmp(p, "Failed");
}

bool pod_is_active(const json_t *pod)
{
	return !obj_is_terminating(pod) && !pod_is_terminal(pod);
}

const json_t *obj_condition(const json_t *obj, const char *type)
{
	json_t *conds = sm_json_get_path(obj, "status.conditions");
	size_t i;
	json_t *c;

	json_array_foreach (conds, i, c) {
		const char *t = sm_json_get_str(c, "type");

		if (t && !strcmp(t, type))
			return c;
	}
	return NULL;
}

bool pod_is_ready(const json_t *pod)
{
	const char *s = sm_json_get_str(obj_condition(pod, "Ready"), "status");

	return s && !strcmp(s, "True");
}

bool pod_is_available(const json_t *pod, int64_t min_ready_s, uint64_t now_ns,
		      uint64_t *wait_ms)
{
	const json_t *c = obj_condition(pod, "Ready");
	const char *since = sm_json_get_str(c, "lastTransitionTime");
	uint64_t t, need = min_ready_s > 0 ? (uint64_t)min_ready_s : 0;

	if (wait_ms)
		*wait_ms = 0;
	if (!pod_is_ready(pod))
		return false;
	if (!need)
		return true;
	if (!since || sm_time_parse_rfc3339(since, &t) < 0)
		return false;
	need = t + need * 1000000000ULL;
	if (need < now_ns) /* strictly, as Kubernetes' IsPodAvailable */
		return true;
	if (wait_ms)
		*wait_ms = (need - now_ns + 999999) / 1000000;
	return false;
}

const json_t *obj_controller_ref(const json_t *obj)
{
	json_t *refs = sm_json_get_path(obj, "metadata.ownerReferences");
	size_t i;
	json_t *r;

	json_array_foreach (refs, i, r) {
		if (json_is_true(json_object_get(r, "controller")))
			return r;
	}
	return NULL;
}

bool obj_is_controlled_by(const json_t *obj, const json_t *owner)
{
	const char *uid = sm_json_get_str(obj_controller_ref(obj), "uid");
	const char *want = obj_uid(owner);

	return uid && want && !strcmp(uid, want);
}

json_t *obj_owner_ref(const json_t *owner)
{
	return json_pack("{s:O*, s:O*, s:O*, s:O*, s:b, s:b}", "apiVersion",
			 json_object_get(owner, "apiVersion"), "kind",
			 json_object_get(owner, "kind"), "name",
			 sm_json_get_path(owner, "metadata.name"), "uid",
			 sm_json_get_path(owner, "metadata.uid"), "controller",
			 1, "blockOwnerDeletion", 1);
}

bool pod_delete_is_graceful(const json_t *pod, int64_t *grace_s)
{
	const char *node =
		sm_json_get_str(json_object_get(pod, "spec"), "nodeName");

	if (!node || !*node || pod_is_terminal(pod))
		return false;
	if (*grace_s < 0) {
		json_t *t = sm_json_get_path(
			pod, "spec.terminationGracePeriodSeconds");

		*grace_s = json_is_integer(t) ? json_integer_value(t)
					      : DEFAULT_GRACE_S;
	}
	return *grace_s > 0;
}

int obj_delete(struct store *s, const json_t *obj, struct sm_err *err)
{
	const char *kind = store_obj_kind(obj);
	int64_t grace = -1;
	bool graceful = false;

	if (!strcmp(kind, "Pod"))
		graceful = pod_delete_is_graceful(obj, &grace);
	if (graceful && obj_is_terminating(obj))
		return 0;
	return store_delete(s, kind, store_obj_ns(obj), store_obj_name(obj),
			    graceful, graceful ? grace : 0, NULL, NULL, NULL,
			    NULL, err);
}
