/*
 * Tests for reconciler/statefulset.c: the StatefulSet controller's
 * ordering, scale-down, rolling updates with a partition, OnDelete, and
 * the one-pod-per-ordinal rule; some by stepping a toy cluster.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "reconciler/statefulset.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/banned.h"

#define MAX_PODS 16

static struct sts_spec spec(int32_t replicas, enum sts_policy policy,
			    enum sts_update update, int32_t partition)
{
	struct sts_spec s = { 0 };

	s.name = "db";
	s.generation = 1;
	s.replicas = replicas;
	s.policy = policy;
	s.update = update;
	s.partition = partition;
	s.current_revision = "db-a";
	s.update_revision = "db-a";
	return s;
}

static struct sts_pod healthy(int32_t ordinal, const char *rev)
{
	struct sts_pod p = { ordinal, rev, true, true, false, false };

	return p;
}

/* The plan as text: "+0" creates ordinal 0, "-4" deletes 4. */
static void plan_text(const struct sts_plan *p, char *out, size_t len)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < p->nr && off < len; i++)
		off += (size_t)snprintf(
			out + off, len - off, "%s%c%d", i ? " " : "",
			p->items[i].verb == STS_CREATE ? '+' : '-',
			p->items[i].ordinal);
}

static void expect_plan(const struct sts_spec *s, const struct sts_pod *pods,
			size_t nr, const char *want)
{
	struct sts_plan plan = STS_PLAN_INIT;
	char got[256];

	sts_decide(s, pods, nr, &plan);
	plan_text(&plan, got, sizeof(got));
	assert_string_equal(got, want);
	sts_plan_release(&plan);
}

static void test_ordered_ready_creates_one_ordinal_at_a_time(void **state)
{
	struct sts_spec s = spec(3, STS_ORDERED_READY, STS_ROLLING_UPDATE, 0);
	struct sts_pod pods[3];
	struct sts_plan plan = STS_PLAN_INIT;

	expect_plan(&s, NULL, 0, "+0");
	pods[0] = healthy(0, "db-a");
	expect_plan(&s, pods, 1, "+1");
	/* Pod 0 runs but is not Ready: nothing above it. */
	pods[0].ready = false;
	sts_decide(&s, pods, 1, &plan);
	assert_int_equal(plan.nr, 0);
	assert_int_equal(plan.blocked_at, 0);
	sts_plan_release(&plan);
	/* Pending (not Running) blocks too. */
	pods[0].ready = true;
	pods[0].running = false;
	expect_plan(&s, pods, 1, "");
	pods[0] = healthy(0, "db-a");
	pods[1] = healthy(1, "db-a");
	expect_plan(&s, pods, 2, "+2");
	pods[2] = healthy(2, "db-a");
	expect_plan(&s, pods, 3, "");
}

static void test_ordered_ready_fills_a_gap_below_first(void **state)
{
	struct sts_spec s = spec(4, STS_ORDERED_READY, STS_ROLLING_UPDATE, 0);
	struct sts_pod pods[] = { healthy(0, "db-a"), healthy(2, "db-a"),
				  healthy(3, "db-a") };
	struct sts_plan plan = STS_PLAN_INIT;

	sts_decide(&s, pods, SM_ARRAY_SIZE(pods), &plan);
	assert_int_equal(plan.nr, 1);
	assert_int_equal(plan.items[0].verb, STS_CREATE);
	assert_int_equal(plan.items[0].ordinal, 1);
	assert_string_equal(plan.items[0].revision, "db-a");
	assert_int_equal(plan.blocked_at, 1);
	sts_plan_release(&plan);
}

static void test_parallel_creates_every_missing_ordinal_at_once(void **st)
{
	struct sts_spec s = spec(4, STS_PARALLEL, STS_ROLLING_UPDATE, 0);
	struct sts_pod pods[] = { healthy(1, "db-a") };

	expect_plan(&s, NULL, 0, "+0 +1 +2 +3");
	/* Unready pods block nothing in Parallel. */
	pods[0].ready = false;
	expect_plan(&s, pods, 1, "+0 +2 +3");
}

static void
test_ordered_ready_scales_down_highest_first_one_at_a_time(void **state)
{
	struct sts_spec s = spec(2, STS_ORDERED_READY, STS_ROLLING_UPDATE, 0);
	struct sts_pod pods[5];
	struct sts_plan plan = STS_PLAN_INIT;

	for (int i = 0; i < 5; i++)
		pods[i] = healthy(i, "db-a");
	expect_plan(&s, pods, 5, "-4");
	/* 4 is terminating: wait for it to be gone. */
	pods[4].terminating = true;
	sts_decide(&s, pods, 5, &plan);
	assert_int_equal(plan.nr, 0);
	assert_int_equal(plan.blocked_at, 4);
	sts_plan_release(&plan);
	expect_plan(&s, pods, 4, "-3");
	expect_plan(&s, pods, 3, "-2");
	expect_plan(&s, pods, 2, "");
}

static void test_parallel_scales_down_all_at_once_highest_first(void **state)
{
	struct sts_spec s = spec(2, STS_PARALLEL, STS_ROLLING_UPDATE, 0);
	/* Input order does not matter. */
	struct sts_pod pods[] = { healthy(3, "db-a"), healthy(0, "db-a"),
				  healthy(4, "db-a"), healthy(1, "db-a"),
				  healthy(2, "db-a") };

	expect_plan(&s, pods, SM_ARRAY_SIZE(pods), "-4 -3 -2");
	pods[2].terminating = true; /* 4 */
	expect_plan(&s, pods, SM_ARRAY_SIZE(pods), "-3 -2");
}

static void test_scale_down_waits_for_unhealthy_pods_but_the_first(void **st)
{
	struct sts_spec s = spec(2, STS_ORDERED_READY, STS_ROLLING_UPDATE, 0);
	struct sts_pod pods[4];

	for (int i = 0; i < 4; i++)
		pods[i] = healthy(i, "db-a");
	/* 3 unready, 2 unready: 2 is the first unhealthy; 3 must wait. */
	pods[3].ready = false;
	pods[2].ready = false;
	expect_plan(&s, pods, 4, "");
	/* Only 3 unready: it is the first unhealthy, so it may go. */
	pods[2].ready = true;
	expect_plan(&s, pods, 4, "-3");
	/* A wanted pod that is unready stops everything first. */
	pods[3].ready = true;
	pods[1].ready = false;
	expect_plan(&s, pods, 4, "");
}

static void test_partitioned_rolling_update_goes_from_the_top_down(void **st)
{
	struct sts_spec s = spec(5, STS_ORDERED_READY, STS_ROLLING_UPDATE, 3);
	struct sts_pod pods[5];
	struct sts_plan plan = STS_PLAN_INIT;

	s.update_revision = "db-b";
	for (int i = 0; i < 5; i++)
		pods[i] = healthy(i, "db-a");
	expect_plan(&s, pods, 5, "-4");
	/* 4 terminating: wait, never re-create it while it exists. */
	pods[4].terminating = true;
	expect_plan(&s, pods, 5, "");
	/* Gone: re-created at the update revision. */
	sts_decide(&s, pods, 4, &plan);
	assert_int_equal(plan.nr, 1);
	assert_int_equal(plan.items[0].verb, STS_CREATE);
	assert_int_equal(plan.items[0].ordinal, 4);
	assert_string_equal(plan.items[0].revision, "db-b");
	sts_plan_release(&plan);
	/* Updated but not Ready yet: wait. */
	pods[4] = healthy(4, "db-b");
	pods[4].ready = false;
	expect_plan(&s, pods, 5, "");
	pods[4].ready = true;
	expect_plan(&s, pods, 5, "-3");
	pods[3] = healthy(3, "db-b");
	/* Below the partition nothing is touched. */
	expect_plan(&s, pods, 5, "");
	/* A lost pod below the partition comes back at the old revision. */
	pods[1] = pods[4];
	sts_decide(&s, pods, 4, &plan);
	assert_int_equal(plan.nr, 1);
	assert_int_equal(plan.items[0].ordinal, 1);
	assert_string_equal(plan.items[0].revision, "db-a");
	sts_plan_release(&plan);
}

/* Steps a toy cluster: created pods are healthy the next round. */
static int simulate(struct sts_spec *s, struct sts_pod *pods, size_t *nr,
		    char *order, size_t len)
{
	size_t off = 0;
	int rounds;

	order[0] = '\0';
	for (rounds = 0; rounds < 100; rounds++) {
		struct sts_plan plan = STS_PLAN_INIT;
		size_t done = 0;

		sts_decide(s, pods, *nr, &plan);
		for (size_t k = 0; k < plan.nr; k++) {
			const struct sts_action *a = &plan.items[k];

			off += (size_t)snprintf(
				order + off, len - off, "%s%c%d",
				off ? " " : "",
				a->verb == STS_CREATE ? '+' : '-', a->ordinal);
			if (a->verb == STS_CREATE) {
				/* Never two pods with one ordinal. */
				for (size_t j = 0; j < *nr; j++)
					assert_int_not_equal(pods[j].ordinal,
							     a->ordinal);
				assert_true(*nr < MAX_PODS);
				pods[(*nr)++] =
					healthy(a->ordinal, a->revision);
				continue;
			}
			for (size_t j = 0; j < *nr; j++) {
				if (pods[j].ordinal != a->ordinal)
					continue;
				pods[j] = pods[--(*nr)];
				break;
			}
		}
		done = plan.nr == 0;
		sts_plan_release(&plan);
		if (done)
			return rounds;
	}
	fail_msg("no fixed point");
	return -1;
}

static void test_full_rolling_update_replaces_every_pod_in_order(void **st)
{
	struct sts_spec s = spec(3, STS_ORDERED_READY, STS_ROLLING_UPDATE, 0);
	struct sts_pod pods[MAX_PODS];
	struct sts_status status;
	char order[256];
	size_t nr = 0;

	simulate(&s, pods, &nr, order, sizeof(order));
	assert_string_equal(order, "+0 +1 +2");
	sts_status_compute(&s, pods, nr, &status);
	assert_int_equal(status.replicas, 3);
	assert_int_equal(status.ready, 3);

	s.update_revision = "db-b";
	simulate(&s, pods, &nr, order, sizeof(order));
	assert_string_equal(order, "-2 +2 -1 +1 -0 +0");
	for (size_t i = 0; i < nr; i++)
		assert_string_equal(pods[i].revision, "db-b");

	/* Scale to 1, then back to 3. */
	s.replicas = 1;
	simulate(&s, pods, &nr, order, sizeof(order));
	assert_string_equal(order, "-2 -1");
	s.replicas = 3;
	s.policy = STS_PARALLEL;
	simulate(&s, pods, &nr, order, sizeof(order));
	assert_string_equal(order, "+1 +2");
}

static void test_parallel_rolling_update_is_still_one_at_a_time(void **st)
{
	struct sts_spec s = spec(3, STS_PARALLEL, STS_ROLLING_UPDATE, 0);
	struct sts_pod pods[3];

	s.update_revision = "db-b";
	for (int i = 0; i < 3; i++)
		pods[i] = healthy(i, "db-a");
	expect_plan(&s, pods, 3, "-2");
	/* 2 on its way out: not deleted twice, and 1 waits. */
	pods[2].terminating = true;
	expect_plan(&s, pods, 3, "");
	/* 2 updated but unready: the update waits for it. */
	pods[2] = healthy(2, "db-b");
	pods[2].ready = false;
	expect_plan(&s, pods, 3, "");
}

static void test_on_delete_never_deletes_for_an_update(void **state)
{
	struct sts_spec s = spec(3, STS_ORDERED_READY, STS_ON_DELETE, 0);
	struct sts_pod pods[3];
	struct sts_plan plan = STS_PLAN_INIT;
	struct sts_status status;

	s.update_revision = "db-b";
	for (int i = 0; i < 3; i++)
		pods[i] = healthy(i, "db-a");
	expect_plan(&s, pods, 3, "");
	/* The user deletes pod 1: it comes back at the new revision. */
	pods[1] = pods[2];
	sts_decide(&s, pods, 2, &plan);
	assert_int_equal(plan.nr, 1);
	assert_int_equal(plan.items[0].ordinal, 1);
	assert_string_equal(plan.items[0].revision, "db-b");
	sts_plan_release(&plan);
	/* Even with every pod updated, OnDelete keeps currentRevision. */
	for (int i = 0; i < 3; i++)
		pods[i] = healthy(i, "db-b");
	sts_status_compute(&s, pods, 3, &status);
	assert_string_equal(status.current_revision, "db-a");
	assert_int_equal(status.current, 0);
	assert_int_equal(status.updated, 3);
}

static void test_a_terminating_pod_blocks_its_ordinal(void **state)
{
	struct sts_spec s = spec(3, STS_PARALLEL, STS_ROLLING_UPDATE, 0);
	struct sts_pod pods[] = { healthy(0, "db-a"), healthy(1, "db-a") };

	pods[1].terminating = true;
	pods[1].ready = false;
	/* 1 exists until it is gone: only 2 is created. */
	expect_plan(&s, pods, 2, "+2");
	s.policy = STS_ORDERED_READY;
	expect_plan(&s, pods, 2, "");
}

static void test_a_finished_pod_is_deleted_then_recreated(void **state)
{
	struct sts_spec s = spec(2, STS_ORDERED_READY, STS_ROLLING_UPDATE, 0);
	struct sts_pod pods[] = { healthy(0, "db-a"), healthy(1, "db-a") };

	pods[0].finished = true;
	pods[0].running = false;
	expect_plan(&s, pods, 2, "-0");
	pods[0].terminating = true;
	expect_plan(&s, pods, 2, "");
	expect_plan(&s, &pods[1], 1, "+0");
	/* Parallel goes on with the others meanwhile. */
	s.policy = STS_PARALLEL;
	s.replicas = 3;
	pods[0].terminating = false;
	expect_plan(&s, pods, 2, "-0 +2");
}

static void test_duplicate_ordinals_are_counted_not_doubled(void **state)
{
	struct sts_spec s = spec(2, STS_PARALLEL, STS_ROLLING_UPDATE, 0);
	struct sts_pod pods[] = { healthy(0, "db-a"), healthy(0, "db-a") };
	struct sts_plan plan = STS_PLAN_INIT;

	sts_decide(&s, pods, 2, &plan);
	assert_int_equal(plan.duplicates, 1);
	assert_int_equal(plan.nr, 1);
	assert_int_equal(plan.items[0].ordinal, 1);
	sts_plan_release(&plan);
}

static void test_status_counts_revisions_and_completes_an_update(void **st)
{
	struct sts_spec s = spec(3, STS_ORDERED_READY, STS_ROLLING_UPDATE, 0);
	struct sts_pod pods[] = { healthy(0, "db-a"), healthy(1, "db-b"),
				  healthy(2, "db-b") };
	struct sts_status status;
	json_t *j;

	s.generation = 7;
	s.update_revision = "db-b";
	sts_status_compute(&s, pods, 3, &status);
	assert_int_equal(status.observed_generation, 7);
	assert_int_equal(status.replicas, 3);
	assert_int_equal(status.ready, 3);
	assert_int_equal(status.current, 1);
	assert_int_equal(status.updated, 2);
	assert_string_equal(status.current_revision, "db-a");
	assert_string_equal(status.update_revision, "db-b");
	/* A terminating pod counts as a replica, not as a revision. */
	pods[2].terminating = true;
	sts_status_compute(&s, pods, 3, &status);
	assert_int_equal(status.updated, 1);
	/* Everything at db-b and Ready: db-b is current now. */
	pods[0] = healthy(0, "db-b");
	pods[2].terminating = false;
	sts_status_compute(&s, pods, 3, &status);
	assert_int_equal(status.current, 3);
	assert_string_equal(status.current_revision, "db-b");
	j = sts_status_to_json(&status);
	assert_int_equal(
		json_integer_value(json_object_get(j, "currentReplicas")), 3);
	assert_string_equal(
		json_string_value(json_object_get(j, "currentRevision")),
		"db-b");
	json_decref(j);
	/* No current revision yet: the update revision stands in. */
	s.current_revision = NULL;
	sts_status_compute(&s, pods, 0, &status);
	assert_string_equal(status.current_revision, "db-b");
	j = sts_status_to_json(&status);
	assert_int_equal(json_integer_value(json_object_get(j, "replicas")), 0);
	assert_non_null(json_object_get(j, "replicas"));
	json_decref(j);
}

static void test_names_and_ordinals(void **state)
{
	struct sm_buf b = SM_BUF_INIT(256);
	json_t *tmpl = json_pack("{s:{s:[{s:s}]}}", "spec", "containers",
				 "image", "db:1");
	int32_t one = 1;

	assert_int_equal(sts_pod_name("db", 2, &b), 0);
	assert_string_equal(sm_buf_cstr(&b), "db-2");
	sm_buf_reset(&b);
	assert_int_equal(sts_claim_name("data", "db", 0, &b), 0);
	assert_string_equal(sm_buf_cstr(&b), "data-db-0");
	sm_buf_reset(&b);
	assert_int_equal(sts_revision_name("db", tmpl, &one, NULL, &b), 0);
	assert_memory_equal(b.buf, "db-", 3);
	assert_true(b.len > 3 && b.len <= 13);
	assert_int_equal(sts_pod_ordinal("db", "db-12"), 12);
	assert_int_equal(sts_pod_ordinal("db", "db-0"), 0);
	assert_int_equal(sts_pod_ordinal("db", "db-"), -1);
	assert_int_equal(sts_pod_ordinal("db", "db-1a"), -1);
	assert_int_equal(sts_pod_ordinal("db", "dbx-1"), -1);
	assert_int_equal(sts_pod_ordinal("db", "db-web-1"), -1);
	assert_int_equal(sts_pod_ordinal("db", "db-99999999999"), -1);
	assert_int_equal(sts_pod_ordinal("db", "db--1"), -1);
	sm_buf_release(&b);
	json_decref(tmpl);
}

static void test_objects_are_read_with_kubernetes_defaults(void **state)
{
	json_error_t e;
	json_t *sts =
		json_loads("{\"metadata\":{\"name\":\"db\",\"generation\":3},"
			   "\"spec\":{\"podManagementPolicy\":\"Parallel\","
			   "\"updateStrategy\":{\"type\":\"RollingUpdate\","
			   "\"rollingUpdate\":{\"partition\":2}}},"
			   "\"status\":{\"currentRevision\":\"db-a\","
			   "\"updateRevision\":\"db-b\"}}",
			   0, &e);
	json_t *pod = json_loads(
		"{\"metadata\":{\"name\":\"db-4\",\"deletionTimestamp\":"
		"\"2024-01-01T00:00:00Z\",\"labels\":{"
		"\"controller-revision-hash\":\"db-a\"}},"
		"\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":"
		"\"Ready\",\"status\":\"True\"}]}}",
		0, &e);
	json_t *other = json_pack("{s:{s:s}}", "metadata", "name", "web-1");
	struct sts_spec s;
	struct sts_pod p;

	assert_non_null(sts);
	assert_non_null(pod);
	sts_spec_from_json(&s, sts);
	assert_string_equal(s.name, "db");
	assert_int_equal(s.generation, 3);
	assert_int_equal(s.replicas, 1);
	assert_int_equal(s.policy, STS_PARALLEL);
	assert_int_equal(s.update, STS_ROLLING_UPDATE);
	assert_int_equal(s.partition, 2);
	assert_string_equal(s.current_revision, "db-a");
	assert_string_equal(s.update_revision, "db-b");
	assert_int_equal(sts_pod_from_json(&p, pod, "db"), 0);
	assert_int_equal(p.ordinal, 4);
	assert_string_equal(p.revision, "db-a");
	assert_true(p.running && p.ready && p.terminating);
	assert_false(p.finished);
	assert_int_equal(sts_pod_from_json(&p, other, "db"), -EINVAL);
	json_decref(sts);
	json_decref(pod);
	json_decref(other);
}

static const char *str_at(const json_t *j, const char *path)
{
	return json_string_value(sm_json_get_path(j, path));
}

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	assert_non_null(j);
	return j;
}

static const char sts_text[] =
	"{\"metadata\":{\"name\":\"db\",\"namespace\":\"shop\",\"uid\":\"u-3\"}"
	","
	"\"spec\":{\"serviceName\":\"db-hl\",\"selector\":{\"matchLabels\":"
	"{\"app\":\"db\"}},\"volumeClaimTemplates\":[{\"metadata\":{\"name\":"
	"\"data\",\"labels\":{\"tier\":\"storage\"}},\"spec\":{"
	"\"accessModes\":[\"ReadWriteOnce\"]}}]}}";

static void test_pods_get_identity_storage_and_revision(void **state)
{
	json_t *sts = load(sts_text);
	json_t *tmpl =
		load("{\"metadata\":{\"labels\":{\"app\":\"db\"}},\"spec\":{"
		     "\"containers\":[{\"name\":\"db\"}],\"volumes\":["
		     "{\"name\":\"data\",\"emptyDir\":{}},"
		     "{\"name\":\"cfg\",\"configMap\":{\"name\":\"db\"}}]}}");
	json_t *pod = sts_pod_json(sts, tmpl, 2, "db-b");
	json_t *vols = sm_json_get_path(pod, "spec.volumes");
	json_t *ref = json_array_get(
		sm_json_get_path(pod, "metadata.ownerReferences"), 0);
	json_t *labels = sm_json_get_path(pod, "metadata.labels");

	assert_string_equal(str_at(pod, "kind"), "Pod");
	assert_string_equal(str_at(pod, "metadata.name"), "db-2");
	assert_string_equal(str_at(pod, "metadata.namespace"), "shop");
	assert_string_equal(sm_json_get_str(labels, "app"), "db");
	assert_string_equal(sm_json_get_str(labels, STS_REVISION_LABEL),
			    "db-b");
	assert_string_equal(
		sm_json_get_str(labels, "statefulset.kubernetes.io/pod-name"),
		"db-2");
	assert_string_equal(
		sm_json_get_str(labels, "apps.kubernetes.io/pod-index"), "2");
	assert_string_equal(str_at(pod, "spec.hostname"), "db-2");
	assert_string_equal(str_at(pod, "spec.subdomain"), "db-hl");
	assert_string_equal(sm_json_get_str(ref, "kind"), "StatefulSet");
	assert_string_equal(sm_json_get_str(ref, "uid"), "u-3");
	/* The claim's volume replaces the template's "data"; cfg stays. */
	assert_int_equal(json_array_size(vols), 2);
	assert_string_equal(str_at(json_array_get(vols, 0), "name"), "data");
	assert_string_equal(str_at(json_array_get(vols, 0),
				   "persistentVolumeClaim.claimName"),
			    "data-db-2");
	assert_null(json_object_get(json_array_get(vols, 0), "emptyDir"));
	assert_string_equal(str_at(json_array_get(vols, 1), "name"), "cfg");
	/* The template is left alone. */
	assert_null(sm_json_get_path(tmpl, "spec.hostname"));
	json_decref(pod);
	json_decref(tmpl);
	json_decref(sts);
}

static void test_claims_carry_the_selector_labels(void **state)
{
	json_t *sts = load(sts_text);
	json_t *claim = json_array_get(
		sm_json_get_path(sts, "spec.volumeClaimTemplates"), 0);
	json_t *pvc = sts_claim_json(sts, claim, 0);

	assert_string_equal(str_at(pvc, "kind"), "PersistentVolumeClaim");
	assert_string_equal(str_at(pvc, "metadata.name"), "data-db-0");
	assert_string_equal(str_at(pvc, "metadata.namespace"), "shop");
	assert_string_equal(str_at(pvc, "metadata.labels.app"), "db");
	assert_string_equal(str_at(pvc, "metadata.labels.tier"), "storage");
	assert_true(json_equal(sm_json_get_path(pvc, "spec"),
			       json_object_get(claim, "spec")));
	json_decref(pvc);
	json_decref(sts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_ordered_ready_creates_one_ordinal_at_a_time),
		cmocka_unit_test(test_ordered_ready_fills_a_gap_below_first),
		cmocka_unit_test(
			test_parallel_creates_every_missing_ordinal_at_once),
		cmocka_unit_test(
			test_ordered_ready_scales_down_highest_first_one_at_a_time),
		cmocka_unit_test(
			test_parallel_scales_down_all_at_once_highest_first),
		cmocka_unit_test(
			test_scale_down_waits_for_unhealthy_pods_but_the_first),
		cmocka_unit_test(
			test_partitioned_rolling_update_goes_from_the_top_down),
		cmocka_unit_test(
			test_full_rolling_update_replaces_every_pod_in_order),
		cmocka_unit_test(
			test_parallel_rolling_update_is_still_one_at_a_time),
		cmocka_unit_test(test_on_delete_never_deletes_for_an_update),
		cmocka_unit_test(test_a_terminating_pod_blocks_its_ordinal),
		cmocka_unit_test(test_a_finished_pod_is_deleted_then_recreated),
		cmocka_unit_test(
			test_duplicate_ordinals_are_counted_not_doubled),
		cmocka_unit_test(
			test_status_counts_revisions_and_completes_an_update),
		cmocka_unit_test(test_names_and_ordinals),
		cmocka_unit_test(
			test_objects_are_read_with_kubernetes_defaults),
		cmocka_unit_test(test_pods_get_identity_storage_and_revision),
		cmocka_unit_test(test_claims_carry_the_selector_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
