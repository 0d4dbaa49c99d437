/*
 * test_controllers.c: the controllers on a memory-only store, with a fake
 * clock, driven to a standstill after each change (settle()).
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

#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/rand.h"
#include "reconciler/controller.h"
#include "reconciler/controllers.h"
#include "reconciler/store.h"
#include "tests/unit/reconciler/memstore.h"

#include "common/banned.h"

#define NS_PER_S 1000000000ULL
#define NS_PER_MS 1000000ULL

struct fixture {
	struct memstore m;
	struct ctl *ctls[8];
	size_t nr;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	memstore_open(&f->m);
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

static struct ctl_env env_of(struct fixture *f)
{
	return memstore_env(&f->m);
}

/* Runs store events and every controller's queue until nothing moves. */
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

static void create(struct fixture *f, const char *json)
{
	struct sm_err err = SM_ERR_INIT;
	json_error_t jerr;
	json_t *obj = json_loads(json, 0, &jerr);

	if (!obj)
		fail_msg("bad test json: %s", jerr.text);
	if (store_create(f->m.store, obj, NULL, NULL, NULL, &err) < 0)
		fail_msg("create: %s", err.items[0].msg);
	json_decref(obj);
	sm_err_release(&err);
}

struct pods {
	json_t *all;
};

static int collect(void *ctx, const json_t *obj)
{
	json_array_append(ctx, (json_t *)obj);
	return 0;
}

static json_t *list(struct fixture *f, const char *kind)
{
	json_t *a = json_array();

	store_list(f->m.store, kind, "default", collect, a);
	return a;
}

static size_t count(struct fixture *f, const char *kind)
{
	json_t *a = list(f, kind);
	size_t n = json_array_size(a);

	json_decref(a);
	return n;
}

/* Makes every pod Running and Ready (what agents report). */
static void pods_ready(struct fixture *f)
{
	char now[SM_TIME_RFC3339_LEN];
	json_t *pods = list(f, "Pod");
	size_t i;
	json_t *p;

	sm_time_rfc3339(f->m.clock.realtime_ns, 0, now, sizeof(now));
	json_array_foreach (pods, i, p) {
		json_t *o = json_deep_copy(p);

		if (sm_json_get_path(o, "metadata.deletionTimestamp")) {
			json_decref(o);
			continue;
		}
		json_object_set_new(o, "status",
				    json_pack("{s:s, s:[{s:s, s:s, s:s}]}",
					      "phase", "Running", "conditions",
					      "type", "Ready", "status", "True",
					      "lastTransitionTime", now));
		json_object_del(json_object_get(o, "metadata"),
				"resourceVersion");
		assert_int_equal(store_update(f->m.store, o, STORE_STATUS, NULL,
					      NULL, NULL, NULL),
				 0);
		json_decref(o);
	}
	json_decref(pods);
}

/* Removes pods marked for deletion, as their agent would. */
static void finish_deletions(struct fixture *f)
{
	json_t *pods = list(f, "Pod");
	size_t i;
	json_t *p;

	json_array_foreach (pods, i, p) {
		if (sm_json_get_path(p, "metadata.deletionTimestamp"))
			store_delete(f->m.store, "Pod", "default",
				     store_obj_name(p), false, 0, NULL, NULL,
				     NULL, NULL, NULL);
	}
	json_decref(pods);
}

#define RS                                                                    \
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{"  \
	"\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"replicas\":" \
	"3,"                                                                  \
	"\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{"     \
	"\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"              \
	"\"containers\":"                                                     \
	"[{\"name\":\"main\",\"image\":\"busybox\"}]}}}}"

static void
test_replicaset_creates_owned_pods_and_replaces_a_deleted_one(void **state)
{
	struct fixture *f = *state;
	struct ctl_env e = env_of(f);

	f->ctls[f->nr++] = ctl_replicaset_new(&e);
	create(f, RS);
	settle(f);
	json_t *pods = list(f, "Pod");
	assert_int_equal(json_array_size(pods), 3);
	json_t *p = json_array_get(pods, 0);
	assert_non_null(strstr(store_obj_name(p), "web-"));
	assert_int_equal(strlen(store_obj_name(p)), strlen("web-") + 5);
	assert_string_equal(
		sm_json_get_str(
			json_array_get(
				sm_json_get_path(p, "metadata.ownerReferences"),
				0),
			"kind"),
		"ReplicaSet");
	store_delete(f->m.store, "Pod", "default", store_obj_name(p), false, 0,
		     NULL, NULL, NULL, NULL, NULL);
	json_decref(pods);
	settle(f);
	assert_int_equal(count(f, "Pod"), 3);
	pods_ready(f);
	settle(f);
	const json_t *rs =
		store_get(f->m.store, "ReplicaSet", "default", "web");
	assert_int_equal(json_integer_value(
				 sm_json_get_path(rs, "status.readyReplicas")),
			 3);
}

static int count_events(void *ctx, const json_t *ev)
{
	const char *r = sm_json_get_str(ev, "reason");

	if (r && !strcmp(r, "SuccessfulCreate"))
		(*(size_t *)ctx)++;
	return 0;
}

static void test_many_similar_events_are_combined_into_one(void **state)
{
	struct fixture *f = *state;
	struct ctl_env e = env_of(f);
	size_t n = 0;

	f->ctls[f->nr++] = ctl_replicaset_new(&e);
	create(f, "{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
		  "\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},"
		  "\"spec\":{\"replicas\":30,\"selector\":{\"matchLabels\":{"
		  "\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":"
		  "{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":"
		  "\"main\",\"image\":\"busybox\"}]}}}}");
	settle(f);
	assert_int_equal(count(f, "Pod"), 30);
	store_list(f->m.store, "Event", "default", count_events, &n);
	/* Ten events, then one combined event for the other twenty. */
	assert_int_equal(n, 11);
}

static void test_replicaset_scaled_down_deletes_the_surplus(void **state)
{
	struct fixture *f = *state;
	struct ctl_env e = env_of(f);

	f->ctls[f->nr++] = ctl_replicaset_new(&e);
	create(f, RS);
	settle(f);
	json_t *rs = json_deep_copy(
		store_get(f->m.store, "ReplicaSet", "default", "web"));
	json_object_set_new(json_object_get(rs, "spec"), "replicas",
			    json_integer(1));
	assert_int_equal(store_update(f->m.store, rs, STORE_MAIN, NULL, NULL,
				      NULL, NULL),
			 0);
	json_decref(rs);
	settle(f);
	assert_int_equal(count(f, "Pod"), 1);
}

#define DEPLOY(image)                                                          \
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"   \
	"\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"replicas\":"  \
	"2,"                                                                   \
	"\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"strategy\":{"      \
	"\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxSurge\":\"25%\","  \
	"\"maxUnavailable\":\"25%\"}},\"template\":{\"metadata\":{\"labels\":" \
	"{"                                                                    \
	"\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"main\","      \
	"\"image\":\"" image "\"}]}}}}"

static void
test_deployment_rolls_from_v1_to_v2_through_replicasets(void **state)
{
	struct fixture *f = *state;
	struct ctl_env e = env_of(f);

	f->ctls[f->nr++] = ctl_deployment_new(&e);
	f->ctls[f->nr++] = ctl_replicaset_new(&e);
	create(f, DEPLOY("bootcamp:v1"));
	settle(f);
	assert_int_equal(count(f, "ReplicaSet"), 1);
	assert_int_equal(count(f, "Pod"), 2);
	pods_ready(f);
	settle(f);
	const json_t *d = store_get(f->m.store, "Deployment", "default", "web");
	assert_int_equal(json_integer_value(sm_json_get_path(
				 d, "status.availableReplicas")),
			 2);
	assert_string_equal(
		sm_json_get_str(sm_json_get_path(d, "metadata.annotations"),
				"deployment.kubernetes.io/revision"),
		"1");

	/* v2: a second ReplicaSet takes over, step by step. */
	json_t *upd = json_deep_copy(d);
	json_object_set_new(
		json_array_get(
			sm_json_get_path(upd, "spec.template.spec.containers"),
			0),
		"image", json_string("bootcamp:v2"));
	json_object_del(json_object_get(upd, "metadata"), "resourceVersion");
	assert_int_equal(store_update(f->m.store, upd, STORE_MAIN, NULL, NULL,
				      NULL, NULL),
			 0);
	json_decref(upd);
	for (int i = 0; i < 10; i++) {
		settle(f);
		finish_deletions(f);
		settle(f);
		pods_ready(f);
	}
	settle(f);
	assert_int_equal(count(f, "ReplicaSet"), 2);
	json_t *pods = list(f, "Pod");
	size_t i;
	json_t *p;
	assert_int_equal(json_array_size(pods), 2);
	json_array_foreach (pods, i, p) {
		assert_string_equal(
			sm_json_get_str(
				json_array_get(
					sm_json_get_path(p, "spec.containers"),
					0),
				"image"),
			"bootcamp:v2");
	}
	json_decref(pods);
	d = store_get(f->m.store, "Deployment", "default", "web");
	assert_int_equal(json_integer_value(
				 sm_json_get_path(d, "status.updatedReplicas")),
			 2);
	assert_string_equal(
		sm_json_get_str(sm_json_get_path(d, "metadata.annotations"),
				"deployment.kubernetes.io/revision"),
		"2");
}

static void
test_editing_a_configmap_rolls_the_deployment_that_uses_it(void **state)
{
	struct fixture *f = *state;
	struct ctl_env e = env_of(f);

	f->ctls[f->nr++] = ctl_deployment_new(&e);
	create(f, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
		  "\"metadata\":{\"name\":\"cfg\",\"namespace\":\"default\"},"
		  "\"data\":{\"GREETING\":\"hallo\"}}");
	create(f, "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
		  "\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},"
		  "\"spec\":{\"replicas\":1,\"selector\":{\"matchLabels\":{"
		  "\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":"
		  "{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":"
		  "\"main\",\"image\":\"x\",\"envFrom\":[{\"configMapRef\":"
		  "{\"name\":\"cfg\"}}]}]}}}}");
	settle(f);
	assert_int_equal(count(f, "ReplicaSet"), 1);
	/* A label on the ConfigMap changes nothing; its data does. */
	json_t *cm = json_deep_copy(
		store_get(f->m.store, "ConfigMap", "default", "cfg"));
	json_object_set_new(json_object_get(cm, "metadata"), "labels",
			    json_pack("{s:s}", "tier", "front"));
	json_object_del(json_object_get(cm, "metadata"), "resourceVersion");
	assert_int_equal(store_update(f->m.store, cm, STORE_MAIN, NULL, NULL,
				      NULL, NULL),
			 0);
	settle(f);
	assert_int_equal(count(f, "ReplicaSet"), 1);
	json_object_set_new(json_object_get(cm, "data"), "GREETING",
			    json_string("hoi"));
	assert_int_equal(store_update(f->m.store, cm, STORE_MAIN, NULL, NULL,
				      NULL, NULL),
			 0);
	json_decref(cm);
	settle(f);
	assert_int_equal(count(f, "ReplicaSet"), 2);
	/* The Deployment's own spec was not touched. */
	const json_t *d = store_get(f->m.store, "Deployment", "default", "web");
	assert_int_equal(
		json_integer_value(sm_json_get_path(d, "metadata.generation")),
		1);
}

static void test_deleting_a_replicaset_collects_its_pods(void **state)
{
	struct fixture *f = *state;
	struct ctl_env e = env_of(f);

	f->ctls[f->nr++] = ctl_replicaset_new(&e);
	f->ctls[f->nr++] = ctl_gc_new(&e);
	create(f, RS);
	settle(f);
	assert_int_equal(count(f, "Pod"), 3);
	store_delete(f->m.store, "ReplicaSet", "default", "web", false, 0, NULL,
		     NULL, NULL, NULL, NULL);
	settle(f);
	assert_int_equal(count(f, "Pod"), 0);
}

static void test_a_deleted_namespace_is_emptied_then_removed(void **state)
{
	struct fixture *f = *state;
	struct ctl_env e = env_of(f);

	f->ctls[f->nr++] = ctl_gc_new(&e);
	create(f, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
		  "\"metadata\":{\"name\":\"lab\"}}");
	create(f, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
		  "\"metadata\":{\"name\":\"c\",\"namespace\":\"lab\"}}");
	settle(f);
	/* As the API server deletes a Namespace: marked, not removed. */
	assert_int_equal(store_delete(f->m.store, "Namespace", "", "lab", true,
				      0, NULL, NULL, NULL, NULL, NULL),
			 0);
	assert_non_null(store_get(f->m.store, "Namespace", "", "lab"));
	settle(f);
	assert_null(store_get(f->m.store, "ConfigMap", "lab", "c"));
	assert_null(store_get(f->m.store, "Namespace", "", "lab"));
}

#define NODE(name)                                                           \
	"{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":"   \
	"\"" name                                                            \
	"\"},\"status\":{\"allocatable\":{\"cpu\":\"2\",\"memory\":\"4Gi\"," \
	"\"pods\":\"110\"},\"conditions\":[{\"type\":\"Ready\",\"status\":"  \
	"\"True\",\"lastHeartbeatTime\":\"2026-01-01T00:00:00Z\"}]}}"

static void test_scheduler_binds_pods_and_reports_when_none_fits(void **state)
{
	struct fixture *f = *state;
	struct ctl_env e = env_of(f);

	f->ctls[f->nr++] = ctl_scheduler_new(&e);
	create(f, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
		  "\"name\":\"a\",\"namespace\":\"default\"},\"spec\":{"
		  "\"containers\":[{\"name\":\"m\",\"image\":\"x\"}]}}");
	settle(f);
	const json_t *p = store_get(f->m.store, "Pod", "default", "a");
	assert_null(sm_json_get_path(p, "spec.nodeName"));
	json_t *cond =
		json_array_get(sm_json_get_path(p, "status.conditions"), 0);
	assert_string_equal(sm_json_get_str(cond, "status"), "False");
	assert_string_equal(sm_json_get_str(cond, "reason"), "Unschedulable");
	create(f, NODE("node-1"));
	settle(f);
	p = store_get(f->m.store, "Pod", "default", "a");
	assert_string_equal(
		sm_json_get_str(json_object_get(p, "spec"), "nodeName"),
		"node-1");
}

static void test_a_silent_node_is_tainted_and_its_pods_evicted(void **state)
{
	struct fixture *f = *state;
	struct ctl_env e = env_of(f);

	f->ctls[f->nr++] = ctl_node_new(&e, 2000, 1000);
	create(f, NODE("node-1"));
	create(f,
	       "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
	       "\"name\":\"a\",\"namespace\":\"default\"},\"spec\":{"
	       "\"nodeName\":\"node-1\",\"containers\":[{\"name\":\"m\","
	       "\"image\":\"x\"}]},\"status\":{\"phase\":\"Running\","
	       "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
	settle(f);
	const json_t *n = store_get(f->m.store, "Node", "", "node-1");
	assert_null(sm_json_get_path(n, "spec.taints"));
	/* 3 s of silence, ending 0.9 s into a second of the wall clock. */
	f->m.clock.monotonic_ns += 3 * NS_PER_S;
	f->m.clock.realtime_ns += 900 * NS_PER_MS;
	controller_queue(ctl_queue(f->ctls[0]), "/node-1");
	settle(f);
	n = store_get(f->m.store, "Node", "", "node-1");
	assert_int_equal(json_array_size(sm_json_get_path(n, "spec.taints")),
			 2);
	assert_string_equal(
		sm_json_get_str(
			json_array_get(sm_json_get_path(n, "status.conditions"),
				       0),
			"status"),
		"Unknown");
	/* Its pod is no longer Ready, and goes after the eviction timeout. */
	assert_string_equal(
		sm_json_get_str(
			json_array_get(
				sm_json_get_path(store_get(f->m.store, "Pod",
							   "default", "a"),
						 "status.conditions"),
				0),
			"status"),
		"False");
	assert_null(
		sm_json_get_path(store_get(f->m.store, "Pod", "default", "a"),
				 "metadata.deletionTimestamp"));
	/* 0.5 s later, in the next second, it is still there. */
	f->m.clock.realtime_ns += 500 * NS_PER_MS;
	controller_queue(ctl_queue(f->ctls[0]), "/node-1");
	settle(f);
	assert_null(
		sm_json_get_path(store_get(f->m.store, "Pod", "default", "a"),
				 "metadata.deletionTimestamp"));
	f->m.clock.realtime_ns += 2 * NS_PER_S;
	controller_queue(ctl_queue(f->ctls[0]), "/node-1");
	settle(f);
	assert_non_null(
		sm_json_get_path(store_get(f->m.store, "Pod", "default", "a"),
				 "metadata.deletionTimestamp"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
		T(test_replicaset_creates_owned_pods_and_replaces_a_deleted_one),
		T(test_replicaset_scaled_down_deletes_the_surplus),
		T(test_many_similar_events_are_combined_into_one),
		T(test_deployment_rolls_from_v1_to_v2_through_replicasets),
		T(test_editing_a_configmap_rolls_the_deployment_that_uses_it),
		T(test_deleting_a_replicaset_collects_its_pods),
		T(test_a_deleted_namespace_is_emptied_then_removed),
		T(test_scheduler_binds_pods_and_reports_when_none_fits),
		T(test_a_silent_node_is_tainted_and_its_pods_evicted),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
