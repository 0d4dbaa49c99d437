/*
 * test_sync.c: the sync planner (sync.h) on a memory-only store: order,
 * counts, prune, what is and is not drift, dry runs, and the diff with
 * Secrets masked. One test runs the real Deployment and ReplicaSet
 * controllers to show that what they write is not drift.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/rand.h"
#include "manifests/kinds.h"
#include "reconciler/controller.h"
#include "reconciler/controllers.h"
#include "reconciler/store.h"
#include "tests/unit/reconciler/memstore.h"
#include "reconciler/sync.h"

#include "tests/unit/testjson.h"

#include "common/banned.h"

struct fixture {
	struct memstore m;
	struct ctl *ctls[4];
	size_t nr;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	memstore_open(&f->m);
	/* The API server makes "default" at start; so does this fixture. */
	json_t *ns =
		json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
			  "Namespace", "metadata", "name", "default");
	assert_int_equal(store_create(f->m.store, ns, NULL, NULL, NULL, NULL),
			 0);
	json_decref(ns);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < f->nr; i++)
		ctl_free(f->ctls[i]);
	memstore_close(&f->m);
	free(f);
	return 0;
}

/* A desired object as manifests/ hands it over: checked and defaulted. */
static json_t *want(const char *text)
{
	json_t *j = test_json(text);
	struct sm_err err = SM_ERR_INIT;
	struct mf_check_opts o = { .strict = false };
	const struct mf_kind *k = NULL;

	if (mf_object_check(j, NULL, "", NULL, &o, &k, &err) != MF_CHECK_OK)
		fail_msg("test object does not check: %s",
			 err.nr ? err.items[0].msg : "?");
	sm_err_release(&err);
	return j;
}

static json_t *set_of(int n, ...)
{
	json_t *a = json_array();
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		json_array_append_new(a, va_arg(ap, json_t *));
	va_end(ap);
	return a;
}

#define NAMESPACE(name)                                                        \
	want("{'apiVersion':'v1','kind':'Namespace','metadata':{'name':'" name \
	     "'}}")
#define CONFIGMAP(ns, name, data)                                              \
	want("{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'" name \
	     "','namespace':'" ns "'},'data':" data "}")
#define SERVICE(ns, name)                                                    \
	want("{'apiVersion':'v1','kind':'Service','metadata':{'name':'" name \
	     "','namespace':'" ns "'},'spec':{'selector':{'app':'" name      \
	     "'},'ports':[{'port':80}]}}")
#define SECRET(ns, name, data)                                              \
	want("{'apiVersion':'v1','kind':'Secret','metadata':{'name':'" name \
	     "','namespace':'" ns "'},'data':" data "}")
/* extra goes into the pod spec (", 'nodeSelector': {...}" or ""). */
#define DEPLOYMENT(ns, name, replicas, extra)                                  \
	want("{'apiVersion':'apps/"                                            \
	     "v1','kind':'Deployment','metadata':{'name':'" name               \
	     "','namespace':'" ns "','labels':{'app':'" name                   \
	     "'}},'spec':{'replicas':" replicas ",'selector':{'matchLabels':{" \
	     "'app':'" name                                                    \
	     "'}},'template':{'metadata':{'labels':{'app':'" name              \
	     "'}},'spec':{'containers':[{'name':'main','image':"               \
	     "'nginx:1.27'}]" extra "}}}}")

static void apply_opts(struct fixture *f, json_t *set,
		       const struct sync_opts *o, struct sync_result *r,
		       struct sm_err *err)
{
	assert_int_equal(sync_apply(f->m.store, set, o, r, err), 0);
	json_decref(set);
	uv_run(&f->m.loop, UV_RUN_NOWAIT);
}

/* Applies set (taken) from source A with revision rev, pruning. */
static void apply(struct fixture *f, json_t *set, const char *rev,
		  struct sync_result *r)
{
	struct sync_opts o = { .source = "git://a",
			       .revision = rev,
			       .prune = true };
	struct sm_err err = SM_ERR_INIT;

	apply_opts(f, set, &o, r, &err);
	sm_err_release(&err);
}

static const json_t *live(struct fixture *f, const char *kind, const char *ns,
			  const char *name)
{
	return store_get(f->m.store, kind, ns, name);
}

/* Changes a stored object as a kubectl user would (takes obj). */
static void api_write(struct fixture *f, json_t *obj)
{
	json_object_del(json_object_get(obj, "metadata"), "resourceVersion");
	assert_int_equal(store_update(f->m.store, obj, STORE_ALL, NULL, NULL,
				      NULL, NULL),
			 0);
	json_decref(obj);
	uv_run(&f->m.loop, UV_RUN_NOWAIT);
}

static json_t *copy_of(struct fixture *f, const char *kind, const char *ns,
		       const char *name)
{
	const json_t *o = live(f, kind, ns, name);

	assert_non_null(o);
	return json_deep_copy(o);
}

static const char *change_field(const struct sync_result *r, size_t i,
				const char *field)
{
	return sm_json_get_str(json_array_get(r->changes, i), field);
}

static const char *ann(const json_t *obj, const char *key)
{
	return sm_json_get_str(sm_json_get_path(obj, "metadata.annotations"),
			       key);
}

static void
test_objects_go_in_dependency_order_whatever_order_git_has(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;
	static const char *const kinds[] = { "Namespace", "ConfigMap", "Secret",
					     "Service", "Deployment" };

	apply(f,
	      set_of(5, DEPLOYMENT("shop", "web", "2", ""),
		     SERVICE("shop", "web"),
		     SECRET("shop", "creds", "{'k':'dg=='}"),
		     CONFIGMAP("shop", "conf", "{'a':'1'}"), NAMESPACE("shop")),
	      "rev1", &r);
	assert_int_equal(r.created, 5);
	assert_int_equal(r.skipped, 0);
	assert_int_equal(json_array_size(r.changes), 5);
	uint64_t prev = 0;
	for (size_t i = 0; i < 5; i++) {
		const char *name = change_field(&r, i, "name");
		const json_t *o;

		assert_string_equal(change_field(&r, i, "kind"), kinds[i]);
		assert_string_equal(change_field(&r, i, "action"), "created");
		o = live(f, kinds[i], i ? "shop" : "", name);
		assert_non_null(o);
		assert_true(store_obj_rv(o) > prev);
		prev = store_obj_rv(o);
	}
	sync_result_release(&r);
}

static void test_an_object_in_a_missing_namespace_is_skipped(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;
	struct sync_opts o = { .source = "git://a", .prune = true };
	struct sm_err err = SM_ERR_INIT;

	apply_opts(f, set_of(1, CONFIGMAP("nowhere", "c", "{'a':'1'}")), &o, &r,
		   &err);
	assert_int_equal(r.skipped, 1);
	assert_int_equal(r.created, 0);
	assert_null(live(f, "ConfigMap", "nowhere", "c"));
	assert_string_equal(change_field(&r, 0, "action"), "skipped");
	assert_non_null(strstr(change_field(&r, 0, "message"),
			       "namespace \"nowhere\" does not exist"));
	assert_int_equal(sm_err_count(&err, SM_WARNING), 1);
	sync_result_release(&r);
	sm_err_release(&err);
}

static void test_a_sync_without_a_source_or_a_set_does_nothing(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;
	struct sync_opts o = { .prune = true };
	struct sm_err err = SM_ERR_INIT;
	json_t *set = set_of(1, CONFIGMAP("default", "c", "{'a':'1'}"));

	assert_int_equal(sync_apply(f->m.store, set, &o, &r, &err), -EINVAL);
	assert_true(sm_err_failed(&err));
	assert_null(live(f, "ConfigMap", "default", "c"));
	sync_result_release(&r);

	/* No set is not an empty set: nothing is pruned. */
	struct sync_opts with = { .source = "git://a", .prune = true };
	apply_opts(f, json_incref(set), &with, &r, &err);
	sync_result_release(&r);
	assert_int_equal(sync_apply(f->m.store, NULL, &with, &r, &err),
			 -EINVAL);
	assert_int_equal(r.pruned, 0);
	assert_non_null(live(f, "ConfigMap", "default", "c"));
	json_decref(set);
	sync_result_release(&r);
	sm_err_release(&err);
}

static void test_counts_and_changes_say_what_each_object_did(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;

	apply(f,
	      set_of(3, CONFIGMAP("default", "a", "{'k':'1'}"),
		     CONFIGMAP("default", "b", "{'k':'1'}"),
		     CONFIGMAP("default", "c", "{'k':'1'}")),
	      "rev1", &r);
	assert_int_equal(r.created, 3);
	sync_result_release(&r);

	apply(f,
	      set_of(3, CONFIGMAP("default", "a", "{'k':'1'}"),
		     CONFIGMAP("default", "b", "{'k':'2'}"),
		     CONFIGMAP("default", "d", "{'k':'1'}")),
	      "rev2", &r);
	assert_int_equal(r.created, 1);
	assert_int_equal(r.configured, 1);
	assert_int_equal(r.unchanged, 1);
	assert_int_equal(r.pruned, 1);
	assert_int_equal(r.skipped, 0);
	assert_int_equal(json_array_size(r.changes), 3);
	assert_string_equal(change_field(&r, 0, "name"), "b");
	assert_string_equal(change_field(&r, 0, "action"), "configured");
	assert_string_equal(change_field(&r, 0, "message"), "changed in git");
	assert_string_equal(change_field(&r, 0, "namespace"), "default");
	assert_string_equal(change_field(&r, 1, "name"), "d");
	assert_string_equal(change_field(&r, 1, "action"), "created");
	assert_null(change_field(&r, 1, "message"));
	assert_string_equal(change_field(&r, 2, "name"), "c");
	assert_string_equal(change_field(&r, 2, "action"), "pruned");
	assert_null(live(f, "ConfigMap", "default", "c"));
	assert_string_equal(
		sm_json_get_str(
			sm_json_get_path(live(f, "ConfigMap", "default", "b"),
					 "data"),
			"k"),
		"2");
	sync_result_release(&r);
}

static void
test_prune_keeps_prune_false_and_never_touches_unmanaged_or_other_sources(
	void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;
	struct sync_opts other = { .source = "git://b", .prune = true };
	struct sm_err err = SM_ERR_INIT;
	json_t *unmanaged = CONFIGMAP("default", "hand", "{'k':'1'}");

	apply(f,
	      set_of(4, CONFIGMAP("default", "gone", "{'k':'1'}"),
		     NAMESPACE("shop"), CONFIGMAP("shop", "in-shop", "{}"),
		     want("{'apiVersion':'v1','kind':'ConfigMap','metadata':{"
			  "'name':'kept','namespace':'default','annotations':{"
			  "'stuurman.io/prune':'false'}},'data':{}}")),
	      "rev1", &r);
	sync_result_release(&r);
	apply_opts(f, set_of(1, CONFIGMAP("default", "theirs", "{'k':'1'}")),
		   &other, &r, &err);
	sync_result_release(&r);
	assert_int_equal(
		store_create(f->m.store, unmanaged, NULL, NULL, NULL, NULL), 0);
	json_decref(unmanaged);
	uint64_t hand_rv =
		store_obj_rv(live(f, "ConfigMap", "default", "hand"));

	/* Without prune nothing goes. */
	struct sync_opts keep = { .source = "git://a" };
	apply_opts(f, json_array(), &keep, &r, &err);
	assert_int_equal(r.pruned, 0);
	assert_non_null(live(f, "ConfigMap", "default", "gone"));
	sync_result_release(&r);

	apply(f, json_array(), "rev2", &r);
	assert_int_equal(r.pruned, 3);
	/* Reverse dependency order; a Namespace is only marked (Terminating):
	 * the namespace controller empties it before it goes. */
	assert_string_equal(change_field(&r, 0, "name"), "in-shop");
	assert_string_equal(change_field(&r, 1, "name"), "gone");
	assert_string_equal(change_field(&r, 2, "kind"), "Namespace");
	assert_non_null(sm_json_get_path(live(f, "Namespace", "", "shop"),
					 "metadata.deletionTimestamp"));
	assert_null(live(f, "ConfigMap", "default", "gone"));
	assert_non_null(live(f, "ConfigMap", "default", "kept"));
	assert_non_null(live(f, "ConfigMap", "default", "theirs"));
	assert_int_equal(store_obj_rv(live(f, "ConfigMap", "default", "hand")),
			 hand_rv);
	sync_result_release(&r);
	sm_err_release(&err);
}

static void
test_an_unmanaged_object_in_the_set_is_left_alone_with_a_warning(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;
	struct sync_opts o = { .source = "git://a", .prune = true };
	struct sm_err err = SM_ERR_INIT;
	json_t *hand = CONFIGMAP("default", "hand", "{'k':'1'}");

	assert_int_equal(store_create(f->m.store, hand, NULL, NULL, NULL, NULL),
			 0);
	json_decref(hand);
	uint64_t rv = store_obj_rv(live(f, "ConfigMap", "default", "hand"));

	apply_opts(f, set_of(1, CONFIGMAP("default", "hand", "{'k':'2'}")), &o,
		   &r, &err);
	assert_int_equal(r.skipped, 1);
	assert_int_equal(r.configured, 0);
	assert_int_equal(sm_err_count(&err, SM_WARNING), 1);
	assert_non_null(strstr(err.items[0].msg, "not managed by stuurman"));
	assert_int_equal(store_obj_rv(live(f, "ConfigMap", "default", "hand")),
			 rv);
	sync_result_release(&r);
	sm_err_release(&err);
}

static void
test_an_unchanged_object_is_not_written_and_keeps_its_revision(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;

	apply(f,
	      set_of(2, DEPLOYMENT("default", "web", "2", ""),
		     CONFIGMAP("default", "conf", "{'a':'1'}")),
	      "rev1", &r);
	sync_result_release(&r);
	uint64_t rv = store_rv(f->m.store);
	uint64_t web_rv = store_obj_rv(live(f, "Deployment", "default", "web"));

	apply(f,
	      set_of(2, DEPLOYMENT("default", "web", "2", ""),
		     CONFIGMAP("default", "conf", "{'a':'2'}")),
	      "rev2", &r);
	assert_int_equal(r.unchanged, 1);
	assert_int_equal(r.configured, 1);
	assert_int_equal(json_array_size(r.changes), 1);
	assert_int_equal(store_rv(f->m.store), rv + 1);
	const json_t *web = live(f, "Deployment", "default", "web");
	assert_int_equal(store_obj_rv(web), web_rv);
	assert_string_equal(ann(web, SYNC_ANNOTATION_REVISION), "rev1");
	assert_string_equal(ann(live(f, "ConfigMap", "default", "conf"),
				SYNC_ANNOTATION_REVISION),
			    "rev2");
	/* Marks live in metadata, never in the pod template. */
	assert_string_equal(
		sm_json_get_str(sm_json_get_path(web, "metadata.labels"),
				SYNC_LABEL_MANAGED_BY),
		"stuurman");
	assert_string_equal(ann(web, SYNC_ANNOTATION_SOURCE), "git://a");
	assert_int_equal(strlen(ann(web, SYNC_ANNOTATION_APPLIED)),
			 SYNC_HASH_LEN);
	assert_null(
		sm_json_get_path(web, "spec.template.metadata.annotations"));
	sync_result_release(&r);

	/* Without a revision, none is written and the old one is kept. */
	struct sync_opts o = { .source = "git://a", .prune = true };
	struct sm_err err = SM_ERR_INIT;
	apply_opts(f, set_of(1, DEPLOYMENT("default", "web", "3", "")), &o, &r,
		   &err);
	assert_int_equal(r.configured, 1);
	assert_string_equal(ann(live(f, "Deployment", "default", "web"),
				SYNC_ANNOTATION_REVISION),
			    "rev1");
	sync_result_release(&r);
	sm_err_release(&err);
}

static void test_a_field_removed_in_git_is_removed_from_live(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;

	apply(f,
	      set_of(2,
		     DEPLOYMENT("default", "web", "2",
				",'nodeSelector':{'disk':'ssd'}"),
		     CONFIGMAP("default", "conf", "{'a':'1','b':'2'}")),
	      "rev1", &r);
	sync_result_release(&r);
	assert_non_null(
		sm_json_get_path(live(f, "Deployment", "default", "web"),
				 "spec.template.spec.nodeSelector"));

	apply(f,
	      set_of(2, DEPLOYMENT("default", "web", "2", ""),
		     CONFIGMAP("default", "conf", "{'a':'1'}")),
	      "rev2", &r);
	assert_int_equal(r.configured, 2);
	assert_null(sm_json_get_path(live(f, "Deployment", "default", "web"),
				     "spec.template.spec.nodeSelector"));
	const json_t *data = sm_json_get_path(
		live(f, "ConfigMap", "default", "conf"), "data");
	assert_int_equal(json_object_size(data), 1);
	assert_null(json_object_get(data, "b"));
	sync_result_release(&r);
}

static void
test_a_scaled_deployment_has_drifted_and_a_sync_sets_it_back(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;
	json_t *d = DEPLOYMENT("default", "web", "2", "");

	apply(f, set_of(1, json_incref(d)), "rev1", &r);
	sync_result_release(&r);
	assert_false(sync_drifted(live(f, "Deployment", "default", "web"), d));

	/* kubectl scale deployment web --replicas=5 */
	json_t *o = copy_of(f, "Deployment", "default", "web");
	json_object_set_new(json_object_get(o, "spec"), "replicas",
			    json_integer(5));
	api_write(f, o);
	assert_true(sync_drifted(live(f, "Deployment", "default", "web"), d));

	apply(f, set_of(1, json_incref(d)), "rev1", &r);
	assert_int_equal(r.configured, 1);
	assert_string_equal(change_field(&r, 0, "message"),
			    "drifted: spec.replicas");
	assert_int_equal(json_integer_value(sm_json_get_path(
				 live(f, "Deployment", "default", "web"),
				 "spec.replicas")),
			 2);
	assert_false(sync_drifted(live(f, "Deployment", "default", "web"), d));
	sync_result_release(&r);
	json_decref(d);
}

static void
test_status_defaults_controller_marks_and_extra_keys_are_not_drift(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;
	json_t *d = DEPLOYMENT("default", "web", "2", "");
	json_t *svc = SERVICE("default", "web");

	apply(f, set_of(2, json_incref(d), json_incref(svc)), "rev1", &r);
	sync_result_release(&r);

	json_t *o = copy_of(f, "Deployment", "default", "web");
	json_object_set_new(
		o, "status",
		json_pack("{s:i, s:i}", "replicas", 2, "readyReplicas", 2));
	json_object_set_new(sm_json_get_path(o, "metadata.annotations"),
			    "deployment.kubernetes.io/revision",
			    json_string("3"));
	json_object_set_new(sm_json_get_path(o, "metadata.labels"),
			    "pod-template-hash", json_string("abc"));
	json_object_set_new(sm_json_get_path(o, "metadata"), "finalizers",
			    json_pack("[s]", "example.com/keep"));
	/* A default someone's API server adds, and kubectl rollout restart. */
	json_object_set_new(
		json_array_get(sm_json_get_path(o, "spec.template.spec."
						   "containers"),
			       0),
		"stdin", json_false());
	json_object_set_new(
		sm_json_get_path(o, "spec.template.metadata"), "annotations",
		json_pack("{s:s}", "kubectl.kubernetes.io/restartedAt",
			  "2026-11-26T03:00:00Z"));
	api_write(f, o);
	json_t *s = copy_of(f, "Service", "default", "web");
	json_object_set_new(json_object_get(s, "spec"), "clusterIP",
			    json_string("10.96.0.12"));
	api_write(f, s);

	assert_false(sync_drifted(live(f, "Deployment", "default", "web"), d));
	assert_false(sync_drifted(live(f, "Service", "default", "web"), svc));
	uint64_t rv = store_rv(f->m.store);
	apply(f, set_of(2, json_incref(d), json_incref(svc)), "rev2", &r);
	assert_int_equal(r.unchanged, 2);
	assert_int_equal(store_rv(f->m.store), rv);
	/* What others wrote stays. */
	assert_string_equal(
		sm_json_get_str(
			sm_json_get_path(live(f, "Service", "default", "web"),
					 "spec"),
			"clusterIP"),
		"10.96.0.12");
	sync_result_release(&r);
	json_decref(d);
	json_decref(svc);
}

static void
test_a_change_in_git_keeps_the_time_of_a_rollout_restart(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;

	apply(f, set_of(1, DEPLOYMENT("default", "web", "2", "")), "rev1", &r);
	sync_result_release(&r);
	/* kubectl rollout restart deployment web */
	json_t *o = copy_of(f, "Deployment", "default", "web");
	json_object_set_new(
		sm_json_get_path(o, "spec.template.metadata"), "annotations",
		json_pack("{s:s}", "kubectl.kubernetes.io/restartedAt",
			  "2026-11-26T03:00:00Z"));
	api_write(f, o);

	apply(f, set_of(1, DEPLOYMENT("default", "web", "3", "")), "rev2", &r);
	assert_int_equal(r.configured, 1);
	const json_t *web = live(f, "Deployment", "default", "web");
	assert_int_equal(
		json_integer_value(sm_json_get_path(web, "spec.replicas")), 3);
	assert_string_equal(
		sm_json_get_str(
			sm_json_get_path(web,
					 "spec.template.metadata.annotations"),
			"kubectl.kubernetes.io/restartedAt"),
		"2026-11-26T03:00:00Z");
	sync_result_release(&r);
}

static void test_a_label_someone_removed_is_drift(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;
	json_t *d = DEPLOYMENT("default", "web", "2", "");

	apply(f, set_of(1, json_incref(d)), "rev1", &r);
	sync_result_release(&r);
	json_t *o = copy_of(f, "Deployment", "default", "web");
	json_object_del(sm_json_get_path(o, "metadata.labels"), "app");
	api_write(f, o);
	assert_true(sync_drifted(live(f, "Deployment", "default", "web"), d));

	apply(f, set_of(1, json_incref(d)), "rev1", &r);
	assert_int_equal(r.configured, 1);
	assert_string_equal(change_field(&r, 0, "message"),
			    "drifted: metadata.labels.app");
	assert_string_equal(
		sm_json_get_str(sm_json_get_path(
					live(f, "Deployment", "default", "web"),
					"metadata.labels"),
				"app"),
		"web");
	sync_result_release(&r);
	json_decref(d);
}

static void test_drift_compares_values_not_their_spelling(void **state)
{
	(void)state;
	json_t *w = test_json(
		"{'kind':'X','metadata':{'name':'a','labels':{'l':'1'},"
		"'annotations':{'stuurman.io/revision':'r1',"
		"'stuurman.io/applied':'h'}},'spec':{'n':2,'e':{},"
		"'z':null,'list':[{'a':1},{'b':2}]},'status':{'s':1}}");
	json_t *same = test_json("{'kind':'X','metadata':{'name':'a','uid':'u',"
				 "'labels':{'l':'1','x':'y'}},'spec':{'n':2.0,"
				 "'list':[{'a':1,'c':3},{'b':2}],'more':1}}");
	json_t *shorter =
		test_json("{'kind':'X','metadata':{'labels':{'l':'1'}},"
			  "'spec':{'n':2,'list':[{'a':1}]}}");
	json_t *other = test_json("{'kind':'X','metadata':{'labels':{'l':'1'}},"
				  "'spec':{'n':2,'list':[{'a':1},{'b':3}]}}");
	json_t *label = test_json("{'kind':'X','metadata':{'labels':{'l':'2'}},"
				  "'spec':{'n':2,'list':[{'a':1},{'b':2}]}}");
	struct sm_buf path = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	assert_false(sync_drifted(same, w));
	assert_true(sync_drifted(NULL, w));
	assert_true(sync_drift_path(shorter, w, &path));
	assert_string_equal(sm_buf_cstr(&path), "spec.list");
	sm_buf_reset(&path);
	assert_true(sync_drift_path(other, w, &path));
	assert_string_equal(sm_buf_cstr(&path), "spec.list[1].b");
	sm_buf_reset(&path);
	assert_true(sync_drift_path(label, w, &path));
	assert_string_equal(sm_buf_cstr(&path), "metadata.labels.l");
	sm_buf_release(&path);
	json_decref(w);
	json_decref(same);
	json_decref(shorter);
	json_decref(other);
	json_decref(label);
}

/* Runs store events and the controllers' queues until nothing moves. */
static void settle(struct fixture *f)
{
	for (int round = 0; round < 200; round++) {
		size_t n = 0;

		uv_run(&f->m.loop, UV_RUN_NOWAIT);
		for (size_t i = 0; i < f->nr; i++)
			n += controller_drain(ctl_queue(f->ctls[i]));
		uv_run(&f->m.loop, UV_RUN_NOWAIT);
		if (!n && round > 2)
			return;
	}
	fail_msg("controllers did not settle");
}

/*
 * The Deployment controller writes the Deployment's revision annotation
 * and status, and rolls it when a ConfigMap it uses changes (the config
 * hash goes into its ReplicaSets, never into the Deployment): none of
 * that is drift, so self-heal never fights the controller.
 */
static void
test_what_the_deployment_controller_writes_is_not_drift(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;
	struct ctl_env e = memstore_env(&f->m);
	json_t *d = DEPLOYMENT("default", "web", "2",
			       ",'volumes':[{'name':'c','configMap':{'name':"
			       "'conf'}}]");

	f->ctls[f->nr++] = ctl_deployment_new(&e);
	f->ctls[f->nr++] = ctl_replicaset_new(&e);
	apply(f,
	      set_of(2, json_incref(d),
		     CONFIGMAP("default", "conf", "{'a':'1'}")),
	      "rev1", &r);
	sync_result_release(&r);
	settle(f);
	assert_int_equal(store_count(f->m.store, "ReplicaSet", "default"), 1);
	assert_false(sync_drifted(live(f, "Deployment", "default", "web"), d));

	apply(f,
	      set_of(2, json_incref(d),
		     CONFIGMAP("default", "conf", "{'a':'2'}")),
	      "rev2", &r);
	assert_int_equal(r.configured, 1);
	assert_int_equal(r.unchanged, 1);
	sync_result_release(&r);
	settle(f);
	/* The edit rolled the Deployment: a second ReplicaSet, revision 2. */
	assert_int_equal(store_count(f->m.store, "ReplicaSet", "default"), 2);
	const json_t *web = live(f, "Deployment", "default", "web");
	assert_string_equal(ann(web, "deployment.kubernetes.io/revision"), "2");
	assert_non_null(json_object_get(web, "status"));
	assert_false(sync_drifted(web, d));

	uint64_t rv = store_obj_rv(web);
	apply(f,
	      set_of(2, json_incref(d),
		     CONFIGMAP("default", "conf", "{'a':'2'}")),
	      "rev3", &r);
	assert_int_equal(r.unchanged, 2);
	assert_int_equal(store_obj_rv(live(f, "Deployment", "default", "web")),
			 rv);
	sync_result_release(&r);
	json_decref(d);
}

static void
test_a_dry_run_writes_nothing_and_says_what_would_happen(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;
	struct sync_opts o = { .source = "git://a",
			       .revision = "rev2",
			       .prune = true,
			       .dry_run = true };
	struct sm_err err = SM_ERR_INIT;

	apply(f,
	      set_of(2, CONFIGMAP("default", "a", "{'k':'1'}"),
		     CONFIGMAP("default", "b", "{'k':'1'}")),
	      "rev1", &r);
	sync_result_release(&r);
	uint64_t rv = store_rv(f->m.store);

	apply_opts(f,
		   set_of(3, CONFIGMAP("default", "a", "{'k':'2'}"),
			  NAMESPACE("shop"),
			  CONFIGMAP("shop", "c", "{'k':'1'}")),
		   &o, &r, &err);
	assert_int_equal(r.created, 2);
	assert_int_equal(r.configured, 1);
	assert_int_equal(r.pruned, 1);
	assert_int_equal(r.skipped, 0);
	assert_int_equal(json_array_size(r.changes), 4);
	assert_int_equal(store_rv(f->m.store), rv);
	assert_null(live(f, "Namespace", "", "shop"));
	assert_non_null(live(f, "ConfigMap", "default", "b"));
	assert_string_equal(
		sm_json_get_str(
			sm_json_get_path(live(f, "ConfigMap", "default", "a"),
					 "data"),
			"k"),
		"1");
	sync_result_release(&r);
	sm_err_release(&err);
}

static void diff(struct fixture *f, const json_t *set, struct sm_buf *out)
{
	struct sm_err err = SM_ERR_INIT;

	assert_int_equal(sync_diff(f->m.store, set, "git://a", out, &err), 0);
	assert_false(sm_err_failed(&err));
	sm_err_release(&err);
}

static void test_the_diff_shows_live_against_git_as_yaml(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *set =
		set_of(2, CONFIGMAP("default", "conf", "{'a':'1','b':'2'}"),
		       CONFIGMAP("default", "old", "{'x':'1'}"));

	apply(f, json_incref(set), "rev1", &r);
	sync_result_release(&r);
	diff(f, set, &out);
	assert_string_equal(sm_buf_cstr(&out), "");

	json_t *o = copy_of(f, "ConfigMap", "default", "conf");
	json_object_set_new(json_object_get(o, "data"), "a", json_string("9"));
	json_object_set_new(json_object_get(o, "data"), "extra",
			    json_string("not shown"));
	api_write(f, o);
	json_decref(set);
	set = set_of(2, CONFIGMAP("default", "conf", "{'a':'1','b':'2'}"),
		     CONFIGMAP("default", "new", "{'y':'2'}"));
	diff(f, set, &out);
	assert_string_equal(sm_buf_cstr(&out),
			    "--- live/v1/ConfigMap/default/conf\n"
			    "+++ git/v1/ConfigMap/default/conf\n"
			    "@@ -1,6 +1,6 @@\n"
			    " apiVersion: v1\n"
			    " data:\n"
			    "-  a: \"9\"\n"
			    "+  a: \"1\"\n"
			    "   b: \"2\"\n"
			    " kind: ConfigMap\n"
			    " metadata:\n"
			    "--- /dev/null\n"
			    "+++ git/v1/ConfigMap/default/new\n"
			    "@@ -0,0 +1,7 @@\n"
			    "+apiVersion: v1\n"
			    "+data:\n"
			    "+  \"y\": \"2\"\n"
			    "+kind: ConfigMap\n"
			    "+metadata:\n"
			    "+  name: new\n"
			    "+  namespace: default\n"
			    "--- live/v1/ConfigMap/default/old\n"
			    "+++ /dev/null\n"
			    "@@ -1,11 +0,0 @@\n"
			    "-apiVersion: v1\n"
			    "-data:\n"
			    "-  x: \"1\"\n"
			    "-kind: ConfigMap\n"
			    "-metadata:\n"
			    "-  annotations:\n"
			    "-    stuurman.io/source: git://a\n"
			    "-  labels:\n"
			    "-    app.kubernetes.io/managed-by: stuurman\n"
			    "-  name: old\n"
			    "-  namespace: default\n");
	json_decref(set);
	sm_buf_release(&out);
}

static void test_the_diff_never_shows_a_secret_value(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	/* "hunter2-live", "hunter2-git", "same-value", "gone-value" */
	json_t *set = set_of(
		1,
		SECRET("default", "creds",
		       "{'pw':'aHVudGVyMi1naXQ=','user':'c2FtZS12YWx1ZQ=='}"));
	json_t *old = SECRET("default", "old", "{'k':'Z29uZS12YWx1ZQ=='}");

	json_object_set_new(
		sm_json_get_path(old, "metadata"), "annotations",
		json_pack("{s:s}",
			  "kubectl.kubernetes.io/"
			  "last-applied-configuration",
			  "{\"data\":{\"k\":\"Z29uZS12YWx1ZQ==\"}}"));
	apply(f, set_of(2, json_deep_copy(json_array_get(set, 0)), old), "rev1",
	      &r);
	sync_result_release(&r);
	json_t *o = copy_of(f, "Secret", "default", "creds");
	json_object_set_new(json_object_get(o, "data"), "pw",
			    json_string("aHVudGVyMi1saXZl"));
	api_write(f, o);

	diff(f, set, &out);
	const char *text = sm_buf_cstr(&out);
	assert_null(strstr(text, "aHVudGVyMi1naXQ="));
	assert_null(strstr(text, "aHVudGVyMi1saXZl"));
	assert_null(strstr(text, "c2FtZS12YWx1ZQ=="));
	assert_null(strstr(text, "Z29uZS12YWx1ZQ=="));
	assert_null(strstr(text, "hunter2"));
	assert_non_null(strstr(text, "-  pw: \"*** (live)\"\n"));
	assert_non_null(strstr(text, "+  pw: \"*** (git)\"\n"));
	assert_non_null(strstr(text, "   user: \"***\"\n"));
	assert_non_null(strstr(text, "+++ /dev/null\n"));
	assert_non_null(strstr(text, "-  k: \"***\"\n"));
	assert_non_null(strstr(text, "last-applied-configuration: \"***\"\n"));
	json_decref(set);
	sm_buf_release(&out);
}

static void test_the_diff_stops_cleanly_when_out_is_full(void **state)
{
	struct fixture *f = *state;
	struct sm_buf out = SM_BUF_INIT(64);
	struct sm_err err = SM_ERR_INIT;
	json_t *set = set_of(1, CONFIGMAP("default", "new", "{'y':'2'}"));

	assert_int_equal(sync_diff(f->m.store, set, NULL, &out, &err),
			 -ENOBUFS);
	assert_true(sm_err_failed(&err));
	assert_int_equal(out.len, 0);
	json_decref(set);
	sm_buf_release(&out);
	sm_err_release(&err);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_objects_go_in_dependency_order_whatever_order_git_has),
		T(test_an_object_in_a_missing_namespace_is_skipped),
		T(test_a_sync_without_a_source_or_a_set_does_nothing),
		T(test_counts_and_changes_say_what_each_object_did),
		T(test_prune_keeps_prune_false_and_never_touches_unmanaged_or_other_sources),
		T(test_an_unmanaged_object_in_the_set_is_left_alone_with_a_warning),
		T(test_an_unchanged_object_is_not_written_and_keeps_its_revision),
		T(test_a_field_removed_in_git_is_removed_from_live),
		T(test_a_scaled_deployment_has_drifted_and_a_sync_sets_it_back),
		T(test_status_defaults_controller_marks_and_extra_keys_are_not_drift),
		T(test_a_change_in_git_keeps_the_time_of_a_rollout_restart),
		T(test_a_label_someone_removed_is_drift),
		T(test_drift_compares_values_not_their_spelling),
		T(test_what_the_deployment_controller_writes_is_not_drift),
		T(test_a_dry_run_writes_nothing_and_says_what_would_happen),
		T(test_the_diff_shows_live_against_git_as_yaml),
		T(test_the_diff_never_shows_a_secret_value),
		T(test_the_diff_stops_cleanly_when_out_is_full),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
