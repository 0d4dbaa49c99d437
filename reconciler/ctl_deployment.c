/*
 * ctl_deployment.c: the Deployment controller, around rollout.h's pure
 * decisions.
 *
 * A sync reads the Deployment and the ReplicaSets it controls, finds the
 * new one by pod-template-hash (the hash of the template, the collision
 * count and the data of the ConfigMaps and Secrets the template uses, so
 * that editing those rolls the Deployment without touching its spec),
 * lets rollout_step() decide, applies the decisions (create the new
 * ReplicaSet, scale, set revisions, delete beyond revisionHistoryLimit),
 * and writes the status `kubectl rollout status` reads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "reconciler/ctl_internal.h"
#include "reconciler/objutil.h"
#include "reconciler/rollout.h"

#include "common/banned.h"

struct rs_set {
	const json_t **objs; /* borrowed from the store, or NULL for new */
	struct rollout_rs *rs;
	size_t nr;
};

struct collect_rs {
	const json_t *d;
	struct rs_set *set;
	const char *hash;
};

static int collect_one(void *ctx, const json_t *obj)
{
	struct collect_rs *c = ctx;
	struct rs_set *s = c->set;

	if (!obj_is_controlled_by(obj, c->d))
		return 0;
	s->objs = xrealloc(s->objs, (s->nr + 1) * sizeof(const json_t *));
	s->rs = xrealloc(s->rs, (s->nr + 1) * sizeof(*s->rs));
	s->objs[s->nr] = obj;
	rollout_rs_from_json(&s->rs[s->nr], obj, c->hash);
	s->nr++;
	return 0;
}

/*
 * Counts a pod that has not finished (terminating ones count) under the
 * uid of its controller, in ctx (an object of integers).
 */
static int count_running(void *ctx, const json_t *pod)
{
	const char *uid = sm_json_get_str(obj_controller_ref(pod), "uid");
	json_t *n;

	if (!uid || pod_is_terminal(pod))
		return 0;
	n = json_object_get(ctx, uid);
	json_object_set_new(ctx, uid,
			    json_integer(n ? json_integer_value(n) + 1 : 1));
	return 0;
}

static void set_ann(json_t *obj, const char *key, const char *value)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_t *ann = json_object_get(meta, "annotations");

	if (!json_is_object(ann)) {
		ann = json_object();
		json_object_set_new(meta, "annotations", ann);
	}
	json_object_set_new(ann, key, json_string(value));
}

static void set_int_ann(json_t *obj, const char *key, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	set_ann(obj, key, buf);
}

/* The new ReplicaSet for d, named and labelled by hash (new). */
static json_t *new_rs(const json_t *d, const char *hash,
		      const struct rollout_rs *r,
		      const struct rollout_plan *plan)
{
	struct sm_buf name = SM_BUF_INIT(512);
	json_t *tmpl = json_deep_copy(sm_json_get_path(d, "spec.template"));
	json_t *tmeta = json_object_get(tmpl, "metadata");
	json_t *sel = json_deep_copy(sm_json_get_path(d, "spec.selector"));
	json_t *ml;

	if (!json_is_object(tmeta)) {
		tmeta = json_object();
		json_object_set_new(tmpl, "metadata", tmeta);
	}
	if (!json_is_object(json_object_get(tmeta, "labels")))
		json_object_set_new(tmeta, "labels", json_object());
	json_object_set_new(json_object_get(tmeta, "labels"),
			    ROLLOUT_HASH_LABEL, json_string(hash));
	if (!json_is_object(sel))
		sel = json_object();
	ml = json_object_get(sel, "matchLabels");
	if (!json_is_object(ml)) {
		ml = json_object();
		json_object_set_new(sel, "matchLabels", ml);
	}
	json_object_set_new(ml, ROLLOUT_HASH_LABEL, json_string(hash));
	rollout_rs_name(store_obj_name(d), hash, &name);
	json_t *rs = json_pack(
		"{s:s, s:s, s:{s:s, s:s, s:O, s:{}, s:[o]}, s:{s:i, s:o, s:o, "
		"s:O*}}",
		"apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata",
		"name", sm_buf_cstr(&name), "namespace", store_obj_ns(d),
		"labels", json_object_get(tmeta, "labels"), "annotations",
		"ownerReferences", obj_owner_ref(d), "spec", "replicas",
		(int)r->scale_to, "selector", sel, "template", tmpl,
		"minReadySeconds", sm_json_get_path(d, "spec.minReadySeconds"));
	set_int_ann(rs, ROLLOUT_REVISION_ANN, plan->revision);
	set_int_ann(rs, ROLLOUT_DESIRED_ANN, plan->desired_ann);
	set_int_ann(rs, ROLLOUT_MAX_ANN, plan->max_ann);
	sm_buf_release(&name);
	return rs;
}

static void scaled_event(struct ctl *c, const json_t *d, const char *rs,
			 int32_t from, int32_t to)
{
	if (from == to)
		return;
	events_record(c->events, d, EVENT_NORMAL, "ScalingReplicaSet",
		      "Scaled %s replica set %s to %d from %d",
		      to > from ? "up" : "down", rs, to, from);
}

/* Carries out the decisions of one step. */
static int apply(struct ctl *c, const json_t *d, const char *hash,
		 struct rs_set *s, const struct rollout_plan *plan)
{
	struct sm_err err = SM_ERR_INIT;
	int rc = 0;

	for (size_t i = 0; i < s->nr; i++) {
		struct rollout_rs *r = &s->rs[i];

		if (r->create) {
			json_t *obj = new_rs(d, hash, r, plan);

			if (store_create(c->env.store, obj, NULL, NULL, NULL,
					 &err) < 0 &&
			    !store_get(c->env.store, "ReplicaSet",
				       store_obj_ns(d), store_obj_name(obj)))
				rc = -EIO;
			else
				events_record(c->events, d, EVENT_NORMAL,
					      "ScalingReplicaSet",
					      "Scaled up replica set %s to %d",
					      store_obj_name(obj), r->scale_to);
			json_decref(obj);
		} else if (r->remove && s->objs[i]) {
			obj_delete(c->env.store, s->objs[i], NULL);
		} else if ((r->write || r->write_revision) && s->objs[i]) {
			json_t *obj = json_deep_copy(s->objs[i]);

			json_object_set_new(json_object_get(obj, "spec"),
					    "replicas",
					    json_integer(r->scale_to));
			if (r->write) {
				set_int_ann(obj, ROLLOUT_DESIRED_ANN,
					    plan->desired_ann);
				set_int_ann(obj, ROLLOUT_MAX_ANN,
					    plan->max_ann);
			}
			if (r->write_revision)
				set_int_ann(obj, ROLLOUT_REVISION_ANN,
					    plan->revision);
			json_object_del(json_object_get(obj, "metadata"),
					"resourceVersion");
			if (store_update(c->env.store, obj, STORE_MAIN, NULL,
					 NULL, NULL, &err) < 0)
				rc = -EIO;
			else
				scaled_event(c, d, r->name, r->replicas,
					     r->scale_to);
			json_decref(obj);
		}
	}
	if (rc)
		sm_log(SM_LOG_WARN, "deployment", "%s/%s: %s", store_obj_ns(d),
		       store_obj_name(d),
		       err.nr ? err.items[0].msg : "store error");
	sm_err_release(&err);
	return rc;
}

/* The Deployment's own revision annotation follows its new ReplicaSet. */
static void set_revision(struct ctl *c, const json_t *d, int64_t revision)
{
	char buf[32];
	const char *have =
		sm_json_get_str(sm_json_get_path(d, "metadata.annotations"),
				ROLLOUT_REVISION_ANN);

	snprintf(buf, sizeof(buf), "%" PRId64, revision);
	if (revision <= 0 || (have && !strcmp(have, buf)))
		return;
	json_t *obj = json_deep_copy(d);
	set_ann(obj, ROLLOUT_REVISION_ANN, buf);
	json_object_del(json_object_get(obj, "metadata"), "resourceVersion");
	store_update(c->env.store, obj, STORE_MAIN, NULL, NULL, NULL, NULL);
	json_decref(obj);
}

static int sync_deployment(void *ctx, const char *key)
{
	struct ctl *c = ctx;
	char ns[256], name[256], extra_buf[MF_HASH_LEN + 1];
	char hash[ROLLOUT_HASH_MAX + 1];
	struct sm_err err = SM_ERR_INIT;
	struct rollout_spec spec;
	struct rollout_status old, st;
	struct rollout_plan plan;
	struct rs_set s = { 0 };
	const json_t *d;
	int rc = 0;

	ctl__split_key(key, ns, name);
	d = store_get(c->env.store, "Deployment", ns, name);
	if (!d || obj_is_terminating(d))
		return 0;
	if (rollout_spec_from_json(&spec, d, &err) < 0) {
		sm_log(SM_LOG_WARN, "deployment", "%s: %s", key,
		       err.nr ? err.items[0].msg : "invalid spec");
		sm_err_release(&err);
		return 0;
	}
	json_t *cc = sm_json_get_path(d, "status.collisionCount");
	int32_t collisions =
		json_is_integer(cc) ? (int32_t)json_integer_value(cc) : 0;
	rollout_template_hash(sm_json_get_path(d, "spec.template"),
			      json_is_integer(cc) ? &collisions : NULL,
			      ctl__template_extra(c, d, extra_buf), hash);
	struct collect_rs col = { d, &s, hash };
	if (obj_uid(d))
		store_list_owned(c->env.store, "ReplicaSet", ns, obj_uid(d),
				 collect_one, &col);
	bool have_new = false;
	json_t *running = json_object();
	for (size_t i = 0; i < s.nr; i++)
		if (obj_uid(s.objs[i]))
			store_list_owned(c->env.store, "Pod", ns,
					 obj_uid(s.objs[i]), count_running,
					 running);
	for (size_t i = 0; i < s.nr; i++) {
		json_t *n = json_object_get(running, obj_uid(s.objs[i]));

		s.rs[i].running = n ? (int32_t)json_integer_value(n) : 0;
		have_new |= s.rs[i].is_new;
	}
	json_decref(running);
	if (!have_new) {
		s.objs = xrealloc(s.objs, (s.nr + 1) * sizeof(const json_t *));
		s.rs = xrealloc(s.rs, (s.nr + 1) * sizeof(*s.rs));
		s.objs[s.nr] = NULL;
		memset(&s.rs[s.nr], 0, sizeof(s.rs[s.nr]));
		s.rs[s.nr].name = "";
		s.rs[s.nr].is_new = true;
		s.rs[s.nr].desired_ann = -1;
		s.rs[s.nr].max_ann = -1;
		s.nr++;
	}
	rollout_status_from_json(&old, json_object_get(d, "status"));
	if (rollout_step(&spec, s.rs, s.nr, &old, &plan) < 0) {
		sm_log(SM_LOG_WARN, "deployment",
		       "%s: more than one ReplicaSet has pod-template-hash %s",
		       key, hash);
		rc = -EINVAL;
		goto out;
	}
	rc = apply(c, d, hash, &s, &plan);
	set_revision(c, d, plan.revision);
	d = store_get(c->env.store, "Deployment", ns, name);
	if (!d)
		goto out;
	rollout_status_compute(&spec, &old, s.rs, s.nr, &plan,
			       (int64_t)(ctl__now_ns(c) / 1000000000ULL), &st);
	json_t *status = rollout_status_to_json(&st);
	if (json_is_integer(cc))
		json_object_set(status, "collisionCount", cc);
	ctl__update_status(c, d, status);
	json_decref(status);
	int64_t at = rollout_recheck_at(&spec, &st);
	int64_t now_s = (int64_t)(ctl__now_ns(c) / 1000000000ULL);
	if (at > now_s)
		controller_queue_after(c->q, key,
				       (uint64_t)(at - now_s) * 1000);
out:
	free(s.objs);
	free(s.rs);
	sm_err_release(&err);
	return rc;
}

static void on_deployment(void *ctx, const struct store_event *ev)
{
	ctl__queue_obj(ctx, ev->obj);
}

static void on_rs(void *ctx, const struct store_event *ev)
{
	ctl__queue_owner(ctx, ev->obj, "Deployment");
}

/* A pod that goes away may let a Recreate go on: queue its grandparent. */
static void on_pod(void *ctx, const struct store_event *ev)
{
	struct ctl *c = ctx;
	const json_t *ref = obj_controller_ref(ev->obj);
	const char *kind = sm_json_get_str(ref, "kind");
	const json_t *rs;

	if (ev->type != STORE_DELETED || !kind || strcmp(kind, "ReplicaSet"))
		return;
	rs = store_get(c->env.store, "ReplicaSet", store_obj_ns(ev->obj),
		       sm_json_get_str(ref, "name"));
	if (rs)
		ctl__queue_owner(c, rs, "Deployment");
}

/* An edited ConfigMap or Secret may roll the namespace's Deployments. */
static void on_config(void *ctx, const struct store_event *ev)
{
	struct ctl *c = ctx;

	store_list(c->env.store, "Deployment", store_obj_ns(ev->obj),
		   ctl__queue_each, c);
}

struct ctl *ctl_deployment_new(const struct ctl_env *env)
{
	struct ctl *c =
		ctl__new(env, "deployment", "Deployment", sync_deployment);

	ctl__watch(c, "Deployment", on_deployment);
	ctl__watch(c, "ReplicaSet", on_rs);
	ctl__watch(c, "Pod", on_pod);
	ctl__watch(c, "ConfigMap", on_config);
	ctl__watch(c, "Secret", on_config);
	ctl__start(c);
	return c;
}
