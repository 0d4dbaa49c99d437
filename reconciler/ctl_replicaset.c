/*
 * ctl_replicaset.c: the ReplicaSet controller.
 *
 * A sync counts the active pods the ReplicaSet controls (by ownerReference
 * uid), creates the missing ones from its template, or deletes the
 * surplus, picking as Kubernetes does: unscheduled before scheduled,
 * pending before running, not ready before ready, more restarts first,
 * newest first. Pods that ended (Succeeded, Failed, evicted) are deleted,
 * so that a replacement takes their place at once. Pods that match the
 * selector and have no controller are adopted. Then the status:
 * replicas, fullyLabeledReplicas, readyReplicas, availableReplicas
 * (minReadySeconds) and observedGeneration.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "manifests/selector.h"
#include "reconciler/ctl_internal.h"
#include "reconciler/objutil.h"

#include "common/banned.h"

static int64_t int_at(const json_t *obj, const char *path, int64_t dflt)
{
	json_t *v = sm_json_get_path(obj, path);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static int phase_rank(const json_t *pod)
{
	const char *p = pod_phase(pod);

	if (!strcmp(p, "Pending") || !*p)
		return 0;
	if (!strcmp(p, "Running"))
		return 2;
	return 1; /* Unknown */
}

static int64_t restarts(const json_t *pod)
{
	json_t *cs = sm_json_get_path(pod, "status.containerStatuses");
	int64_t n = 0;
	size_t i;
	json_t *c;

	json_array_foreach (cs, i, c) {
		json_t *r = json_object_get(c, "restartCount");

		if (json_is_integer(r) && json_integer_value(r) > n)
			n = json_integer_value(r);
	}
	return n;
}

/* Kubernetes' order of pods to delete first (negative: a before b). */
static int delete_first(const void *pa, const void *pb)
{
	const json_t *a = *(const json_t *const *)pa;
	const json_t *b = *(const json_t *const *)pb;
	const char *na =
		sm_json_get_str(json_object_get(a, "spec"), "nodeName");
	const char *nb =
		sm_json_get_str(json_object_get(b, "spec"), "nodeName");
	bool sa = na && *na, sb = nb && *nb;
	int d;

	if (sa != sb)
		return sa ? 1 : -1;
	if ((d = phase_rank(a) - phase_rank(b)))
		return d;
	if (pod_is_ready(a) != pod_is_ready(b))
		return pod_is_ready(a) ? 1 : -1;
	if (restarts(a) != restarts(b))
		return restarts(a) > restarts(b) ? -1 : 1;
	const char *ca = sm_json_get_str(json_object_get(a, "metadata"),
					 "creationTimestamp");
	const char *cb = sm_json_get_str(json_object_get(b, "metadata"),
					 "creationTimestamp");
	if (ca && cb && (d = strcmp(cb, ca)))
		return d; /* newer first */
	return strcmp(store_obj_name(a), store_obj_name(b));
}

/* A pod from rs's template (new). */
static json_t *pod_from(const json_t *rs)
{
	json_t *tmpl = sm_json_get_path(rs, "spec.template");
	json_t *meta = json_object_get(tmpl, "metadata");
	char prefix[300];

	snprintf(prefix, sizeof(prefix), "%s-", store_obj_name(rs));
	json_t *pod = json_pack(
		"{s:s, s:s, s:{s:s, s:s, s:O*, s:O*, s:[o]}, s:O, s:{s:s}}",
		"apiVersion", "v1", "kind", "Pod", "metadata", "generateName",
		prefix, "namespace", store_obj_ns(rs), "labels",
		json_object_get(meta, "labels"), "annotations",
		json_object_get(meta, "annotations"), "ownerReferences",
		obj_owner_ref(rs), "spec", json_object_get(tmpl, "spec"),
		"status", "phase", "Pending");
	return pod;
}

/* rs's own pods, and the orphans it matches (from the owner index). */
struct scan {
	const json_t *rs;
	const struct mf_selector *sel;
	json_t *owned;
	json_t *orphans;
};

static int scan_one(void *ctx, const json_t *pod)
{
	struct scan *sc = ctx;

	if (obj_is_controlled_by(pod, sc->rs))
		json_array_append(sc->owned, (json_t *)pod);
	else if (!mf_selector_empty(sc->sel) && !obj_controller_ref(pod) &&
		 pod_is_active(pod) &&
		 mf_selector_matches(sc->sel,
				     sm_json_get_path(pod, "metadata.labels")))
		json_array_append(sc->orphans, (json_t *)pod);
	return 0;
}

/* Gives orphans that match the selector an ownerReference to rs. */
static void adopt(struct ctl *c, const json_t *rs, json_t *orphans)
{
	size_t i;
	json_t *pod;

	json_array_foreach (orphans, i, pod) {
		json_t *p = json_deep_copy(pod);
		json_t *meta = json_object_get(p, "metadata");
		json_t *refs = json_object_get(meta, "ownerReferences");

		if (!json_is_array(refs)) {
			refs = json_array();
			json_object_set_new(meta, "ownerReferences", refs);
		}
		json_array_append_new(refs, obj_owner_ref(rs));
		json_object_del(meta, "resourceVersion");
		store_update(c->env.store, p, STORE_MAIN, NULL, NULL, NULL,
			     NULL);
		json_decref(p);
	}
}

static bool labels_cover(const json_t *want, const json_t *have)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)want, k, v) {
		if (!json_equal(v, json_object_get(have, k)))
			return false;
	}
	return true;
}

static int sync_rs(void *ctx, const char *key)
{
	struct ctl *c = ctx;
	char ns[256], name[256];
	struct mf_selector sel = MF_SELECTOR_INIT;
	struct sm_err err = SM_ERR_INIT;
	const json_t *rs;
	json_t *pods, *active, *pod;
	size_t i;
	int rc = 0;

	ctl__split_key(key, ns, name);
	rs = store_get(c->env.store, "ReplicaSet", ns, name);
	if (!rs || obj_is_terminating(rs))
		return 0;
	if (mf_selector_from_json(&sel, sm_json_get_path(rs, "spec.selector"),
				  "spec.selector", NULL, &err) < 0) {
		sm_err_release(&err);
		return 0; /* invalid: nothing to do until it changes */
	}
	struct scan sc = { rs, &sel, json_array(), json_array() };
	bool changed = false;

	/* Its own pods, and those with no controller (to adopt). */
	if (obj_uid(rs))
		store_list_owned(c->env.store, "Pod", ns, obj_uid(rs), scan_one,
				 &sc);
	store_list_owned(c->env.store, "Pod", ns, "", scan_one, &sc);
	pods = sc.owned;
	adopt(c, rs, sc.orphans);
	changed = json_array_size(sc.orphans) > 0;
	json_decref(sc.orphans);
	active = json_array();
	json_array_foreach (pods, i, pod) {
		if (pod_is_active(pod)) {
			json_array_append(active, pod);
		} else if (pod_is_terminal(pod) && !obj_is_terminating(pod)) {
			obj_delete(c->env.store, pod, NULL);
			changed = true;
		}
	}
	int64_t want = int_at(rs, "spec.replicas", 1);
	int64_t have = (int64_t)json_array_size(active);

	changed |= have != want;
	if (have < want) {
		for (int64_t k = have; k < want; k++) {
			json_t *p = pod_from(rs);
			json_t *made = NULL;

			if (store_create(c->env.store, p, &made, NULL, NULL,
					 &err) < 0) {
				events_record(c->events, rs, EVENT_WARNING,
					      "FailedCreate",
					      "Error creating: %s",
					      err.nr ? err.items[0].msg
						     : "store error");
				rc = -EIO;
			} else {
				events_record(c->events, rs, EVENT_NORMAL,
					      "SuccessfulCreate",
					      "Created pod: %s",
					      store_obj_name(made));
			}
			json_decref(made);
			json_decref(p);
			if (rc)
				break;
		}
	} else if (have > want) {
		size_t n = json_array_size(active);
		const json_t **order =
			calloc(n ? n : 1, sizeof(const json_t *));

		for (i = 0; i < n; i++)
			order[i] = json_array_get(active, i);
		qsort(order, n, sizeof(const json_t *), delete_first);
		for (int64_t k = 0; k < have - want; k++) {
			events_record(c->events, rs, EVENT_NORMAL,
				      "SuccessfulDelete", "Deleted pod: %s",
				      store_obj_name(order[k]));
			obj_delete(c->env.store, order[k], NULL);
		}
		free(order);
	}

	/* Status, from the pods as they are now. */
	if (changed) {
		json_decref(pods);
		pods = ctl__owned_pods(c, rs);
	}
	int64_t replicas = 0, labeled = 0, ready = 0, available = 0;
	int64_t min_ready = int_at(rs, "spec.minReadySeconds", 0);
	uint64_t now = ctl__now_ns(c), wait = 0, w;
	json_t *tlabels = sm_json_get_path(rs, "spec.template.metadata.labels");

	json_array_foreach (pods, i, pod) {
		if (!pod_is_active(pod))
			continue;
		replicas++;
		if (labels_cover(tlabels,
				 sm_json_get_path(pod, "metadata.labels")))
			labeled++;
		if (pod_is_ready(pod))
			ready++;
		if (pod_is_available(pod, min_ready, now, &w))
			available++;
		else if (w && (!wait || w < wait))
			wait = w;
	}
	if (wait)
		controller_queue_after(c->q, key, wait);
	json_t *status = json_pack(
		"{s:I, s:I, s:I, s:I, s:I}", "replicas", (json_int_t)replicas,
		"fullyLabeledReplicas", (json_int_t)labeled, "readyReplicas",
		(json_int_t)ready, "availableReplicas", (json_int_t)available,
		"observedGeneration",
		(json_int_t)int_at(rs, "metadata.generation", 1));
	ctl__update_status(c, rs, status);
	json_decref(status);
	json_decref(pods);
	json_decref(active);
	mf_selector_release(&sel);
	sm_err_release(&err);
	return rc;
}

static void on_rs(void *ctx, const struct store_event *ev)
{
	ctl__queue_obj(ctx, ev->obj);
}

static void on_pod(void *ctx, const struct store_event *ev)
{
	struct ctl *c = ctx;

	ctl__queue_owner(c, ev->obj, "ReplicaSet");
	if (ev->old)
		ctl__queue_owner(c, ev->old, "ReplicaSet");
	/* An orphan may be adopted: look at the namespace's sets. */
	if (!obj_controller_ref(ev->obj) && ev->type != STORE_DELETED) {
		const char *ns = store_obj_ns(ev->obj);

		store_list(c->env.store, "ReplicaSet", ns, ctl__queue_each, c);
	}
}

struct ctl *ctl_replicaset_new(const struct ctl_env *env)
{
	struct ctl *c = ctl__new(env, "replicaset", "ReplicaSet", sync_rs);

	ctl__watch(c, "ReplicaSet", on_rs);
	ctl__watch(c, "Pod", on_pod);
	ctl__start(c);
	return c;
}
