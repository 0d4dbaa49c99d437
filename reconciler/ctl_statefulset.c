/*
 * ctl_statefulset.c: the StatefulSet controller, around statefulset.h's
 * pure decisions.
 *
 * Pods are "<name>-<ordinal>", with hostname and subdomain set for their
 * DNS names, the label controller-revision-hash naming their revision,
 * and one PersistentVolumeClaim "<claim>-<name>-<ordinal>" per
 * volumeClaimTemplate. Claims outlive their pods and the set (Kubernetes'
 * default Retain policy); on a node they are Podman named volumes, so a
 * pod that moves finds its data where its claim says.
 *
 * The identity of an ordinal is its pod's name, which the store keeps
 * unique: a second pod of an ordinal cannot exist, and a terminating one
 * blocks its replacement until it is gone (sts_decide waits for it), so
 * two pods of one ordinal never run at once. A pod on a lost node stays
 * terminating until the node is fenced (ctl_node.c).
 *
 * Deviation: Kubernetes keeps old templates in ControllerRevisions; here
 * a pod recreated below a partition gets the current template.
 */
#include <errno.h>
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
#include "reconciler/statefulset.h"

#include "common/banned.h"

/* Creates the claims of ordinal that do not exist yet. */
static void ensure_claims(struct ctl *c, const json_t *sts, int32_t ordinal)
{
	json_t *tmpls = sm_json_get_path(sts, "spec.volumeClaimTemplates");
	size_t i;
	json_t *t;

	json_array_foreach (tmpls, i, t) {
		const char *claim =
			sm_json_get_str(json_object_get(t, "metadata"), "name");
		struct sm_buf name = SM_BUF_INIT(512);

		if (!claim || sts_claim_name(claim, store_obj_name(sts),
					     ordinal, &name) < 0)
			goto next;
		if (store_get(c->env.store, "PersistentVolumeClaim",
			      store_obj_ns(sts), sm_buf_cstr(&name)))
			goto next;
		json_t *pvc = json_pack(
			"{s:s, s:s, s:{s:s, s:s, s:O*}, s:O*, s:{s:s}}",
			"apiVersion", "v1", "kind", "PersistentVolumeClaim",
			"metadata", "name", sm_buf_cstr(&name), "namespace",
			store_obj_ns(sts), "labels",
			sm_json_get_path(sts, "spec.selector.matchLabels"),
			"spec", json_object_get(t, "spec"), "status", "phase",
			"Bound");
		store_create(c->env.store, pvc, NULL, NULL, NULL, NULL);
		json_decref(pvc);
	next:
		sm_buf_release(&name);
	}
}

/* Pod ordinal of sts at revision (new). */
static json_t *pod_for(const json_t *sts, int32_t ordinal, const char *revision)
{
	struct sm_buf name = SM_BUF_INIT(512);
	json_t *tmpl = json_deep_copy(sm_json_get_path(sts, "spec.template"));
	json_t *meta = json_object_get(tmpl, "metadata");
	json_t *spec = json_object_get(tmpl, "spec");
	json_t *labels, *vols;
	char idx[16];

	sts_pod_name(store_obj_name(sts), ordinal, &name);
	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(tmpl, "metadata", meta);
	}
	labels = json_object_get(meta, "labels");
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(meta, "labels", labels);
	}
	snprintf(idx, sizeof(idx), "%d", ordinal);
	json_object_set_new(labels, STS_REVISION_LABEL, json_string(revision));
	json_object_set_new(labels, "statefulset.kubernetes.io/pod-name",
			    json_string(sm_buf_cstr(&name)));
	json_object_set_new(labels, "apps.kubernetes.io/pod-index",
			    json_string(idx));
	json_object_set_new(spec, "hostname", json_string(sm_buf_cstr(&name)));
	json_object_set(spec, "subdomain",
			sm_json_get_path(sts, "spec.serviceName")
				? sm_json_get_path(sts, "spec.serviceName")
				: json_string(""));
	vols = json_object_get(spec, "volumes");
	if (!json_is_array(vols)) {
		vols = json_array();
		json_object_set_new(spec, "volumes", vols);
	}
	json_t *tmpls = sm_json_get_path(sts, "spec.volumeClaimTemplates");
	size_t i;
	json_t *t;
	json_array_foreach (tmpls, i, t) {
		json_t *cn = sm_json_get_path(t, "metadata.name");
		struct sm_buf claim = SM_BUF_INIT(512);

		if (!json_is_string(cn))
			continue;
		sts_claim_name(json_string_value(cn), store_obj_name(sts),
			       ordinal, &claim);
		json_array_append_new(
			vols, json_pack("{s:O, s:{s:s}}", "name", cn,
					"persistentVolumeClaim", "claimName",
					sm_buf_cstr(&claim)));
		sm_buf_release(&claim);
	}
	json_t *pod = json_pack(
		"{s:s, s:s, s:{s:s, s:s, s:O, s:O*, s:[o]}, s:O, s:{s:s}}",
		"apiVersion", "v1", "kind", "Pod", "metadata", "name",
		sm_buf_cstr(&name), "namespace", store_obj_ns(sts), "labels",
		labels, "annotations", json_object_get(meta, "annotations"),
		"ownerReferences", obj_owner_ref(sts), "spec", spec, "status",
		"phase", "Pending");
	json_decref(tmpl);
	sm_buf_release(&name);
	return pod;
}

static int sync_sts(void *ctx, const char *key)
{
	struct ctl *c = ctx;
	char ns[256], name[256], extra[MF_HASH_LEN + 1];
	struct sm_buf rev = SM_BUF_INIT(512);
	struct sts_plan plan = STS_PLAN_INIT;
	struct sts_spec spec;
	struct sts_status st;
	struct sts_pod *pods = NULL;
	size_t nr = 0, i;
	const json_t *sts;
	json_t *owned, *p;
	int rc = 0;

	ctl__split_key(key, ns, name);
	sts = store_get(c->env.store, "StatefulSet", ns, name);
	if (!sts || obj_is_terminating(sts))
		return 0;
	json_t *cc = sm_json_get_path(sts, "status.collisionCount");
	int32_t collisions =
		json_is_integer(cc) ? (int32_t)json_integer_value(cc) : 0;
	sts_revision_name(name, sm_json_get_path(sts, "spec.template"),
			  json_is_integer(cc) ? &collisions : NULL,
			  ctl__template_extra(c, sts, extra), &rev);
	sts_spec_from_json(&spec, sts);
	spec.update_revision = sm_buf_cstr(&rev);
	owned = ctl__owned_pods(c, sts);
	pods = xcalloc(json_array_size(owned) + 1, sizeof(*pods));
	json_array_foreach (owned, i, p) {
		if (sts_pod_from_json(&pods[nr], p, name) == 0)
			nr++;
	}
	sts_decide(&spec, pods, nr, &plan);
	for (i = 0; i < plan.nr; i++) {
		const struct sts_action *a = &plan.items[i];
		struct sm_buf pn = SM_BUF_INIT(512);

		sts_pod_name(name, a->ordinal, &pn);
		if (a->verb == STS_CREATE) {
			ensure_claims(c, sts, a->ordinal);
			json_t *pod = pod_for(sts, a->ordinal, a->revision);
			struct sm_err err = SM_ERR_INIT;

			if (store_create(c->env.store, pod, NULL, NULL, NULL,
					 &err) < 0) {
				events_record(c->events, sts, EVENT_WARNING,
					      "FailedCreate",
					      "create Pod %s in StatefulSet %s "
					      "failed: %s",
					      sm_buf_cstr(&pn), name,
					      err.nr ? err.items[0].msg
						     : "store error");
				rc = -EIO;
			} else {
				events_record(c->events, sts, EVENT_NORMAL,
					      "SuccessfulCreate",
					      "create Pod %s in StatefulSet %s "
					      "successful",
					      sm_buf_cstr(&pn), name);
			}
			sm_err_release(&err);
			json_decref(pod);
		} else {
			const json_t *pod = store_get(c->env.store, "Pod", ns,
						      sm_buf_cstr(&pn));

			if (pod) {
				events_record(c->events, sts, EVENT_NORMAL,
					      "SuccessfulDelete",
					      "delete Pod %s in StatefulSet %s "
					      "successful",
					      sm_buf_cstr(&pn), name);
				obj_delete(c->env.store, pod, NULL);
			}
		}
		sm_buf_release(&pn);
	}
	sts_status_compute(&spec, pods, nr, &st);
	json_t *status = sts_status_to_json(&st);
	if (json_is_integer(cc))
		json_object_set(status, "collisionCount", cc);
	ctl__update_status(c, sts, status);
	json_decref(status);
	sts_plan_release(&plan);
	json_decref(owned);
	free(pods);
	sm_buf_release(&rev);
	return rc;
}

static void on_sts(void *ctx, const struct store_event *ev)
{
	ctl__queue_obj(ctx, ev->obj);
}

static void on_pod(void *ctx, const struct store_event *ev)
{
	ctl__queue_owner(ctx, ev->obj, "StatefulSet");
}

static void on_config(void *ctx, const struct store_event *ev)
{
	struct ctl *c = ctx;

	store_list(c->env.store, "StatefulSet", store_obj_ns(ev->obj),
		   ctl__queue_each, c);
}

struct ctl *ctl_statefulset_new(const struct ctl_env *env)
{
	struct ctl *c = ctl__new(env, "statefulset", "StatefulSet", sync_sts);

	ctl__watch(c, "StatefulSet", on_sts);
	ctl__watch(c, "Pod", on_pod);
	ctl__watch(c, "ConfigMap", on_config);
	ctl__watch(c, "Secret", on_config);
	ctl__start(c);
	return c;
}
