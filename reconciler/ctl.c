/*
 * ctl.c: the parts every controller shares (see ctl_internal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "reconciler/ctl_internal.h"
#include "reconciler/objutil.h"

#include "common/banned.h"

static void resync(void *ctx, struct controller *q);

int ctl__queue_each(void *ctx, const json_t *obj)
{
	ctl__queue_obj(ctx, obj);
	return 0;
}

static void resync(void *ctx, struct controller *q)
{
	struct ctl *c = ctx;

	store_list(c->env.store, c->kind, NULL, ctl__queue_each, c);
}

void ctl__start(struct ctl *c)
{
	resync(c, c->q);
}

struct ctl *ctl__new(const struct ctl_env *env, const char *name,
		     const char *kind, controller_sync_fn sync)
{
	struct ctl *c = xcalloc(1, sizeof(*c));
	struct controller_opts o = { .name = name,
				     .sync = sync,
				     .resync = resync,
				     .resync_ms = env->resync_ms,
				     .ctx = c };
	char component[64];

	c->env = *env;
	if (!c->env.clock)
		c->env.clock = &sm_clock_system;
	c->kind = kind;
	c->q = controller_new(env->loop, &o);
	/* Event sources as Kubernetes names them. */
	if (strstr(name, "scheduler"))
		snprintf(component, sizeof(component), "%s", name);
	else
		snprintf(component, sizeof(component), "%s-controller", name);
	c->events = events_new(env->store, c->env.clock, env->rand, component);
	return c;
}

void ctl__watch(struct ctl *c, const char *kind,
		void (*cb)(void *ctx, const struct store_event *ev))
{
	struct sm_err err = SM_ERR_INIT;

	SM_BUG_ON(c->nr_watches == CTL_MAX_WATCHES);
	if (store_watch(c->env.store, kind, NULL, 0, cb, c,
			&c->watches[c->nr_watches++], &err) < 0) {
		sm_log(SM_LOG_ERROR, "controller", "watch %s: %s", kind,
		       err.nr ? err.items[0].msg : "failed");
		abort();
	}
	sm_err_release(&err);
}

void ctl__queue_obj(struct ctl *c, const json_t *obj)
{
	char key[512];

	snprintf(key, sizeof(key), "%s/%s", store_obj_ns(obj),
		 store_obj_name(obj));
	controller_queue(c->q, key);
}

void ctl__queue_owner(struct ctl *c, const json_t *obj, const char *owner_kind)
{
	const json_t *ref = obj_controller_ref(obj);
	const char *kind = sm_json_get_str(ref, "kind");
	const char *name = sm_json_get_str(ref, "name");
	char key[512];

	if (!kind || !name || strcmp(kind, owner_kind))
		return;
	snprintf(key, sizeof(key), "%s/%s", store_obj_ns(obj), name);
	controller_queue(c->q, key);
}

void ctl__split_key(const char *key, char *ns, char *name)
{
	const char *slash = strchr(key, '/');

	if (!slash) {
		ns[0] = 0;
		snprintf(name, 256, "%s", key);
		return;
	}
	snprintf(ns, 256, "%.*s", (int)(slash - key), key);
	snprintf(name, 256, "%s", slash + 1);
}

uint64_t ctl__now_ns(const struct ctl *c)
{
	return sm_clock_realtime_ns(c->env.clock);
}

struct owned {
	const json_t *owner;
	json_t *pods;
};

static int owned_one(void *ctx, const json_t *pod)
{
	struct owned *o = ctx;

	if (obj_is_controlled_by(pod, o->owner))
		json_array_append(o->pods, (json_t *)pod);
	return 0;
}

json_t *ctl__owned_pods(const struct ctl *c, const json_t *owner)
{
	struct owned o = { owner, json_array() };

	const char *uid = obj_uid(owner);

	if (uid)
		store_list_owned(c->env.store, "Pod", store_obj_ns(owner), uid,
				 owned_one, &o);
	return o.pods;
}

int ctl__update_status(struct ctl *c, const json_t *stored, json_t *status)
{
	struct sm_err err = SM_ERR_INIT;
	int rc = 0;

	if (!json_equal(json_object_get(stored, "status"), status)) {
		json_t *obj = json_deep_copy(stored);

		json_object_set(obj, "status", status);
		json_object_del(json_object_get(obj, "metadata"),
				"resourceVersion");
		rc = store_update(c->env.store, obj, STORE_STATUS, NULL, NULL,
				  NULL, &err);
		if (rc < 0)
			sm_log(SM_LOG_WARN, "controller", "status of %s: %s",
			       store_obj_name(stored),
			       err.nr ? err.items[0].msg : "failed");
		json_decref(obj);
	}
	sm_err_release(&err);
	return rc;
}

struct controller *ctl_queue(struct ctl *c)
{
	return c->q;
}

void ctl_free(struct ctl *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nr_watches; i++)
		store_watch_stop(c->watches[i]);
	controller_free(c->q);
	events_free(c->events);
	if (c->priv_free)
		c->priv_free(c->priv);
	free(c);
}

/* Adds "Kind/name" to refs for every ConfigMap and Secret spec uses. */
static void add_ref(json_t *refs, const char *kind, const char *name)
{
	char key[300];

	if (!name || !*name)
		return;
	snprintf(key, sizeof(key), "%s/%s", kind, name);
	json_object_set_new(refs, key, json_true());
}

static void container_refs(json_t *refs, const json_t *ctrs)
{
	size_t i, j;
	json_t *c, *e;

	json_array_foreach (ctrs, i, c) {
		json_array_foreach (json_object_get(c, "env"), j, e) {
			json_t *vf = json_object_get(e, "valueFrom");

			add_ref(refs, "ConfigMap",
				sm_json_get_str(
					json_object_get(vf, "configMapKeyRef"),
					"name"));
			add_ref(refs, "Secret",
				sm_json_get_str(
					json_object_get(vf, "secretKeyRef"),
					"name"));
		}
		json_array_foreach (json_object_get(c, "envFrom"), j, e) {
			add_ref(refs, "ConfigMap",
				sm_json_get_str(
					json_object_get(e, "configMapRef"),
					"name"));
			add_ref(refs, "Secret",
				sm_json_get_str(json_object_get(e, "secretRef"),
						"name"));
		}
	}
}

bool ctl__config_hash(const struct ctl *c, const char *ns,
		      const json_t *podspec, char out[MF_HASH_LEN + 1])
{
	json_t *refs = json_object(), *state = json_object(), *v;
	const char *key;
	size_t i;

	container_refs(refs, json_object_get(podspec, "initContainers"));
	container_refs(refs, json_object_get(podspec, "containers"));
	json_array_foreach (json_object_get(podspec, "volumes"), i, v) {
		add_ref(refs, "ConfigMap",
			sm_json_get_str(json_object_get(v, "configMap"),
					"name"));
		add_ref(refs, "Secret",
			sm_json_get_str(json_object_get(v, "secret"),
					"secretName"));
	}
	json_object_foreach (refs, key, v) {
		const char *slash = strchr(key, '/');
		bool secret = !strncmp(key, "Secret/", 7);
		const json_t *obj =
			store_get(c->env.store, secret ? "Secret" : "ConfigMap",
				  ns, slash + 1);

		if (!obj) {
			json_object_set_new(state, key, json_null());
		} else if (secret) {
			/*
			 * Never a Secret's data, not even hashed (a short
			 * hash of a weak secret can be guessed): its uid
			 * and resourceVersion change with every edit.
			 */
			json_object_set_new(
				state, key,
				json_pack("[O*, O*]",
					  sm_json_get_path(obj, "metadata.uid"),
					  sm_json_get_path(
						  obj,
						  "metadata.resourceVersion")));
		} else {
			json_object_set_new(
				state, key,
				json_pack("[O*, O*]",
					  json_object_get(obj, "data"),
					  json_object_get(obj, "binaryData")));
		}
	}
	bool any = json_object_size(state) > 0;
	if (any)
		mf_hash(state, out);
	else
		out[0] = 0;
	json_decref(refs);
	json_decref(state);
	return any;
}

static int opted_out(const json_t *obj)
{
	const char *v =
		sm_json_get_str(sm_json_get_path(obj, "metadata.annotations"),
				CTL_ROLL_ON_CONFIG_ANN);

	return v && !strcmp(v, "false");
}

const char *ctl__template_extra(const struct ctl *c, const json_t *workload,
				char buf[MF_HASH_LEN + 1])
{
	if (opted_out(workload) ||
	    !ctl__config_hash(c, store_obj_ns(workload),
			      sm_json_get_path(workload, "spec.template.spec"),
			      buf))
		return NULL;
	return buf;
}
