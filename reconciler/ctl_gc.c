/*
 * ctl_gc.c: garbage collection by ownerReferences, and namespaces that
 * are being deleted.
 *
 * Both work per namespace (the key is the namespace's name): a sync looks
 * at every object in it, which keeps them simple and makes a missed event
 * harmless (the next event or the resync in that namespace finds it).
 *
 * Garbage collection, as Kubernetes' garbage collector:
 * - background: an object whose owners are all gone (no object of the
 *   owner's kind and name with the owner's uid) is deleted;
 * - foreground: an owner marked for deletion with the finalizer
 *   "foregroundDeletion" has its dependents deleted first; the finalizer
 *   goes (and with it the owner) once none is left;
 * - orphan: an owner marked with the finalizer "orphan" has its
 *   ownerReference removed from every dependent, then the finalizer goes.
 * Events older than an hour are deleted too (Kubernetes' default TTL).
 *
 * Namespaces: a Namespace marked for deletion (Terminating) has
 * everything in it deleted, pods gracefully; once it is empty the
 * Namespace itself goes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "reconciler/api_resources.h"
#include "reconciler/ctl_internal.h"
#include "reconciler/objutil.h"

#include "common/banned.h"

#define EVENT_TTL_NS (3600ULL * 1000000000ULL)
#define NS_RECHECK_MS 200

static int collect(void *ctx, const json_t *obj)
{
	json_array_append(ctx, (json_t *)obj);
	return 0;
}

/* Every object in namespace ns, of every namespaced kind (new). */
static json_t *objects_in(const struct ctl *c, const char *ns)
{
	json_t *all = json_array();
	size_t nr;
	const struct api_resource *r = api_resources(&nr);

	for (size_t i = 0; i < nr; i++)
		if (r[i].namespaced)
			store_list(c->env.store, r[i].kind, ns, collect, all);
	return all;
}

/* The owner a reference names, when it still exists with that uid. */
static const json_t *owner_of(const struct ctl *c, const char *ns,
			      const json_t *ref)
{
	const char *kind = sm_json_get_str(ref, "kind");
	const char *name = sm_json_get_str(ref, "name");
	const char *uid = sm_json_get_str(ref, "uid");
	const struct api_resource *r;
	const json_t *o;

	if (!kind || !name || !uid || !(r = api_resource_by_kind(kind)))
		return NULL;
	o = store_get(c->env.store, kind, r->namespaced ? ns : "", name);
	return o && obj_uid(o) && !strcmp(obj_uid(o), uid) ? o : NULL;
}

static bool has_finalizer(const json_t *obj, const char *f)
{
	json_t *fs = sm_json_get_path(obj, "metadata.finalizers");
	size_t i;
	json_t *v;

	json_array_foreach (fs, i, v) {
		if (json_is_string(v) && !strcmp(json_string_value(v), f))
			return true;
	}
	return false;
}

/* Writes obj without finalizer f (removing it when it was the last). */
static void drop_finalizer(struct ctl *c, const json_t *obj, const char *f)
{
	json_t *o = json_deep_copy(obj);
	json_t *meta = json_object_get(o, "metadata");
	json_t *fs = json_object_get(meta, "finalizers");
	json_t *keep = json_array();
	size_t i;
	json_t *v;

	json_array_foreach (fs, i, v) {
		if (!json_is_string(v) || strcmp(json_string_value(v), f))
			json_array_append(keep, v);
	}
	json_object_set_new(meta, "finalizers", keep);
	json_object_del(meta, "resourceVersion");
	store_update(c->env.store, o, STORE_MAIN, NULL, NULL, NULL, NULL);
	json_decref(o);
}

/* Removes from obj the ownerReferences to uid. */
static void drop_owner_ref(struct ctl *c, const json_t *obj, const char *uid)
{
	json_t *o = json_deep_copy(obj);
	json_t *meta = json_object_get(o, "metadata");
	json_t *refs = json_object_get(meta, "ownerReferences");
	json_t *keep = json_array();
	size_t i;
	json_t *r;

	json_array_foreach (refs, i, r) {
		const char *u = sm_json_get_str(r, "uid");

		if (!u || strcmp(u, uid))
			json_array_append(keep, r);
	}
	json_object_set_new(meta, "ownerReferences", keep);
	json_object_del(meta, "resourceVersion");
	store_update(c->env.store, o, STORE_MAIN, NULL, NULL, NULL, NULL);
	json_decref(o);
}

static bool refers_to(const json_t *obj, const char *uid)
{
	json_t *refs = sm_json_get_path(obj, "metadata.ownerReferences");
	size_t i;
	json_t *r;

	json_array_foreach (refs, i, r) {
		const char *u = sm_json_get_str(r, "uid");

		if (u && !strcmp(u, uid))
			return true;
	}
	return false;
}

/* Foreground and orphan deletions of owners in all. */
static bool finish_owners(struct ctl *c, json_t *all)
{
	bool waiting = false;
	size_t i, j;
	json_t *owner, *dep;

	json_array_foreach (all, i, owner) {
		const char *uid = obj_uid(owner);
		bool fg = has_finalizer(owner, "foregroundDeletion");
		bool orphan = has_finalizer(owner, "orphan");
		size_t left = 0;

		if (!obj_is_terminating(owner) || !uid || (!fg && !orphan))
			continue;
		json_array_foreach (all, j, dep) {
			if (dep == owner || !refers_to(dep, uid))
				continue;
			if (orphan) {
				drop_owner_ref(c, dep, uid);
			} else {
				left++;
				obj_delete(c->env.store, dep, NULL);
			}
		}
		if (orphan)
			drop_finalizer(c, owner, "orphan");
		else if (!left)
			drop_finalizer(c, owner, "foregroundDeletion");
		else
			waiting = true;
	}
	return waiting;
}

/* Background collection: dependents whose owners are all gone. */
static void collect_orphans(struct ctl *c, const char *ns, json_t *all)
{
	size_t i, j;
	json_t *obj, *ref;

	json_array_foreach (all, i, obj) {
		json_t *refs =
			sm_json_get_path(obj, "metadata.ownerReferences");
		bool alive = false;

		if (!json_array_size(refs) || obj_is_terminating(obj))
			continue;
		json_array_foreach (refs, j, ref) {
			if (owner_of(c, ns, ref))
				alive = true;
		}
		if (!alive) {
			sm_log(SM_LOG_DEBUG, "gc",
			       "deleting %s %s/%s: owner gone",
			       store_obj_kind(obj), ns, store_obj_name(obj));
			obj_delete(c->env.store, obj, NULL);
		}
	}
}

/* Deletes events whose last occurrence is older than the TTL. */
static void expire_events(struct ctl *c, json_t *all)
{
	uint64_t now = ctl__now_ns(c), t;
	size_t i;
	json_t *obj;

	json_array_foreach (all, i, obj) {
		const char *last = sm_json_get_str(obj, "lastTimestamp");

		if (strcmp(store_obj_kind(obj), "Event") || !last ||
		    sm_time_parse_rfc3339(last, &t) < 0)
			continue;
		if (t + EVENT_TTL_NS < now)
			obj_delete(c->env.store, obj, NULL);
	}
}

/* A terminating namespace: delete what is in it, then itself. */
static void empty_namespace(struct ctl *c, const char *ns, json_t *all,
			    const char *key)
{
	size_t i;
	json_t *obj;

	json_array_foreach (all, i, obj) {
		if (obj_is_terminating(obj) &&
		    (has_finalizer(obj, "foregroundDeletion") ||
		     has_finalizer(obj, "orphan")))
			continue;
		obj_delete(c->env.store, obj, NULL);
	}
	if (json_array_size(all)) {
		controller_queue_after(c->q, key, NS_RECHECK_MS);
		return;
	}
	store_delete(c->env.store, "Namespace", "", ns, false, 0, NULL, NULL,
		     NULL, NULL, NULL);
}

static int sync_ns(void *ctx, const char *key)
{
	struct ctl *c = ctx;
	/* Keys are "/NAME" (the namespace's own key, cluster scope). */
	const char *ns = key[0] == '/' ? key + 1 : key;
	const json_t *nsobj = store_get(c->env.store, "Namespace", "", ns);
	json_t *all = objects_in(c, ns);

	if (finish_owners(c, all))
		controller_queue_after(c->q, key, NS_RECHECK_MS);
	collect_orphans(c, ns, all);
	expire_events(c, all);
	if (nsobj && obj_is_terminating(nsobj)) {
		json_t *phase = json_pack("{s:s}", "phase", "Terminating");

		/* What `kubectl get ns` shows while it empties. */
		ctl__update_status(c, nsobj, phase);
		json_decref(phase);
		json_decref(all);
		all = objects_in(c, ns);
		empty_namespace(c, ns, all, key);
	}
	json_decref(all);
	return 0;
}

/* Any change that may leave dependents behind queues its namespace. */
static void on_any(void *ctx, const struct store_event *ev)
{
	struct ctl *c = ctx;
	char key[300];
	/* Status updates (most events) change nothing here. */
	bool relevant = ev->type == STORE_DELETED ||
			obj_is_terminating(ev->obj) ||
			(ev->type == STORE_ADDED &&
			 sm_json_get_path(ev->obj, "metadata.ownerReferences"));

	if (!relevant)
		return;
	snprintf(key, sizeof(key), "/%s", store_obj_ns(ev->obj));
	controller_queue(c->q, key);
}

static void on_namespace(void *ctx, const struct store_event *ev)
{
	struct ctl *c = ctx;
	char key[300];

	snprintf(key, sizeof(key), "/%s", store_obj_name(ev->obj));
	controller_queue(c->q, key);
}

struct ctl *ctl_gc_new(const struct ctl_env *env)
{
	/* Its kind is Namespace: the resync queues every namespace. */
	struct ctl *c =
		ctl__new(env, "garbage-collector", "Namespace", sync_ns);

	ctl__watch(c, "Namespace", on_namespace);
	ctl__watch(c, "Pod", on_any);
	ctl__watch(c, "ReplicaSet", on_any);
	ctl__watch(c, "Deployment", on_any);
	ctl__watch(c, "StatefulSet", on_any);
	ctl__watch(c, "Service", on_any);
	ctl__start(c);
	return c;
}
