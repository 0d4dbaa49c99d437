/*
 * Tests for reconciler/rollout.c: the Deployment controller's arithmetic,
 * with cases from Kubernetes' documentation, and whole rollouts simulated
 * by stepping the pure functions with a toy ReplicaSet controller.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "reconciler/rollout.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/rand.h"
#include "common/banned.h"

/* ---- fenceposts --------------------------------------------------------- */

struct fence_case {
	int32_t replicas;
	const char *surge; /* JSON */
	const char *unavailable;
	int32_t want_surge, want_unavailable;
};

static const struct fence_case fence_cases[] = {
	/* The docs: 3 replicas, 25%/25%: 1 extra pod, none unavailable. */
	{ 3, "\"25%\"", "\"25%\"", 1, 0 },
	/* The docs' 10 replicas with 30%/30%. */
	{ 10, "\"30%\"", "\"30%\"", 3, 3 },
	/* Both 0: maxUnavailable becomes 1. */
	{ 10, "0", "0", 0, 1 },
	{ 10, "\"0%\"", "\"0%\"", 0, 1 },
	/* Odd counts: surge rounds up, unavailable down. */
	{ 5, "\"25%\"", "\"25%\"", 2, 1 },
	{ 7, "\"50%\"", "\"50%\"", 4, 3 },
	{ 1, "\"25%\"", "\"25%\"", 1, 0 },
	{ 9, "\"10%\"", "\"10%\"", 1, 0 },
	{ 3, "\"33%\"", "\"33%\"", 1, 0 },
	{ 3, "\"34%\"", "\"34%\"", 2, 1 },
	/* Integers are taken as they are, even above replicas. */
	{ 4, "2", "1", 2, 1 },
	{ 2, "5", "0", 5, 0 },
	{ 10, "\"100%\"", "\"100%\"", 10, 10 },
	{ 0, "\"25%\"", "\"25%\"", 0, 1 },
};

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);

	assert_non_null(j);
	return j;
}

static void test_fenceposts_round_surge_up_and_unavailable_down(void **state)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(fence_cases); i++) {
		const struct fence_case *c = &fence_cases[i];
		json_t *s = load(c->surge), *u = load(c->unavailable);
		int32_t surge = -1, unav = -1;

		assert_int_equal(rollout_fenceposts(s, u, c->replicas, &surge,
						    &unav, NULL),
				 0);
		if (surge != c->want_surge || unav != c->want_unavailable)
			fail_msg("case %zu: %d replicas %s/%s: got %d/%d", i,
				 c->replicas, c->surge, c->unavailable, surge,
				 unav);
		json_decref(s);
		json_decref(u);
	}
}

static void test_int_or_percent_refuses_what_kubernetes_refuses(void **state)
{
	static const char *bad[] = {
		"\"25\"", "\"abc%\"", "\"%\"", "-1",
		"true",	  "\"-5%\"",  "1.5",   "\"25%%\""
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(bad); i++) {
		struct sm_err err = SM_ERR_INIT;
		json_t *v = load(bad[i]);
		int32_t out = 7;

		if (rollout_scaled_value(v, 10, true, &out, &err) != -EINVAL)
			fail_msg("%s was accepted", bad[i]);
		assert_int_equal(sm_err_count(&err, SM_ERROR), 1);
		assert_non_null(strstr(err.items[0].msg, "IntOrString"));
		json_decref(v);
		sm_err_release(&err);
	}
}

static void test_spec_defaults_are_kubernetes_defaults(void **state)
{
	json_t *obj = load("{\"metadata\":{\"name\":\"web\",\"generation\":4},"
			   "\"spec\":{\"replicas\":3}}");
	struct rollout_spec d;

	assert_int_equal(rollout_spec_from_json(&d, obj, NULL), 0);
	assert_string_equal(d.name, "web");
	assert_int_equal(d.generation, 4);
	assert_int_equal(d.replicas, 3);
	assert_int_equal(d.strategy, ROLLOUT_ROLLING_UPDATE);
	assert_int_equal(d.max_surge, 1);
	assert_int_equal(d.max_unavailable, 0);
	assert_int_equal(d.progress_deadline_seconds, 600);
	assert_int_equal(d.revision_history_limit, 10);
	assert_int_equal(d.min_ready_seconds, 0);
	assert_false(d.paused);
	json_decref(obj);
}

static void test_spec_caps_max_unavailable_and_zeroes_recreate(void **state)
{
	json_t *a = load("{\"spec\":{\"replicas\":2,\"strategy\":{"
			 "\"rollingUpdate\":{\"maxUnavailable\":5}}}}");
	json_t *b = load("{\"spec\":{\"replicas\":2,\"strategy\":{"
			 "\"type\":\"Recreate\"}}}");
	json_t *c = load("{\"spec\":{\"replicas\":0}}");
	json_t *bad = load("{\"spec\":{\"strategy\":{\"rollingUpdate\":{"
			   "\"maxSurge\":\"lots\"}}}}");
	struct sm_err err = SM_ERR_INIT;
	struct rollout_spec d;

	assert_int_equal(rollout_spec_from_json(&d, a, NULL), 0);
	assert_int_equal(d.max_unavailable, 2);
	assert_int_equal(d.max_surge, 1);
	assert_int_equal(rollout_spec_from_json(&d, b, NULL), 0);
	assert_int_equal(d.strategy, ROLLOUT_RECREATE);
	assert_int_equal(d.max_surge, 0);
	assert_int_equal(d.max_unavailable, 0);
	/* MaxUnavailable() is 0 for 0 replicas, whatever fenceposts say. */
	assert_int_equal(rollout_spec_from_json(&d, c, NULL), 0);
	assert_int_equal(d.max_unavailable, 0);
	assert_int_equal(rollout_spec_from_json(&d, bad, &err), -EINVAL);
	assert_true(sm_err_failed(&err));
	sm_err_release(&err);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(bad);
}

/* ---- a toy cluster ------------------------------------------------------ */

#define MAX_RS 8

/*
 * ReplicaSets with pods that are either pending (created, not ready yet)
 * or ready. A pod created in one tick is ready at the start of the next:
 * the slowest pace at which a rollout still moves.
 */
struct sim {
	struct rollout_spec d;
	struct rollout_rs rs[MAX_RS];
	int32_t pending[MAX_RS];
	char names[MAX_RS][32];
	size_t nr;
	struct rollout_status status;
	int64_t now;
	int32_t max_pods_seen, min_available_seen;
};

static void sim_spec(struct sim *s, int32_t replicas, const char *surge,
		     const char *unav)
{
	json_t *su = load(surge), *un = load(unav);

	memset(&s->d, 0, sizeof(s->d));
	s->d.name = "web";
	s->d.generation = 1;
	s->d.replicas = replicas;
	s->d.strategy = ROLLOUT_ROLLING_UPDATE;
	assert_int_equal(rollout_fenceposts(su, un, replicas, &s->d.max_surge,
					    &s->d.max_unavailable, NULL),
			 0);
	if (s->d.max_unavailable > replicas)
		s->d.max_unavailable = replicas;
	s->d.progress_deadline_seconds = 600;
	s->d.revision_history_limit = 10;
	json_decref(su);
	json_decref(un);
}

static struct rollout_rs *sim_add(struct sim *s, const char *name,
				  int32_t ready, int64_t revision)
{
	struct rollout_rs *rs = &s->rs[s->nr];

	assert_true(s->nr < MAX_RS);
	snprintf(s->names[s->nr], sizeof(s->names[0]), "%s", name);
	memset(rs, 0, sizeof(*rs));
	rs->name = s->names[s->nr];
	rs->created_s = 1000 + (int64_t)s->nr;
	rs->revision = revision;
	rs->replicas = rs->pods = rs->running = rs->ready = rs->available =
		ready;
	rs->desired_ann = s->d.replicas;
	rs->max_ann = s->d.replicas + s->d.max_surge;
	rs->exists = ready > 0 || revision > 0;
	s->pending[s->nr] = 0;
	s->nr++;
	return rs;
}

/* A new template: the old new one is old now, a new entry is not created. */
static void sim_new_template(struct sim *s, const char *name)
{
	for (size_t i = 0; i < s->nr; i++)
		s->rs[i].is_new = false;
	sim_add(s, name, 0, 0)->is_new = true;
	s->rs[s->nr - 1].exists = false;
	s->d.generation++;
}

/* The deployment controller, then the ReplicaSet controller. */
static void sim_tick(struct sim *s)
{
	struct rollout_plan plan;
	struct rollout_status next;
	int32_t pods = 0, available = 0;

	/* Kubelets: last tick's pods are ready now. */
	for (size_t i = 0; i < s->nr; i++) {
		struct rollout_rs *rs = &s->rs[i];

		rs->ready += s->pending[i];
		s->pending[i] = 0;
		rs->available = rs->ready;
		rs->pods = rs->running = rs->ready;
	}
	s->now += 10;

	assert_int_equal(rollout_step(&s->d, s->rs, s->nr, &s->status, &plan),
			 0);
	rollout_status_compute(&s->d, &s->status, s->rs, s->nr, &plan, s->now,
			       &next);
	s->status = next;

	/* Apply the decisions. */
	for (size_t i = 0; i < s->nr; i++) {
		struct rollout_rs *rs = &s->rs[i];

		if (rs->remove) {
			memmove(&s->rs[i], &s->rs[i + 1],
				(s->nr - i - 1) * sizeof(s->rs[0]));
			memmove(&s->pending[i], &s->pending[i + 1],
				(s->nr - i - 1) * sizeof(s->pending[0]));
			memmove(s->names[i], s->names[i + 1],
				(s->nr - i - 1) * sizeof(s->names[0]));
			for (size_t j = i; j + 1 < s->nr; j++)
				s->rs[j].name = s->names[j];
			s->nr--;
			i--;
			continue;
		}
		if (rs->create) {
			rs->exists = true;
			rs->revision = plan.revision;
			rs->created_s = s->now;
		}
		if (rs->create || rs->write) {
			rs->replicas = rs->scale_to;
			rs->desired_ann = plan.desired_ann;
			rs->max_ann = plan.max_ann;
		}
		if (rs->write_revision)
			rs->revision = plan.revision;
		assert_int_equal(rs->replicas, rs->scale_to);
	}

	/* The ReplicaSet controller: pending pods go first. */
	for (size_t i = 0; i < s->nr; i++) {
		struct rollout_rs *rs = &s->rs[i];
		int32_t have = rs->ready + s->pending[i];

		if (have < rs->replicas) {
			s->pending[i] += rs->replicas - have;
		} else if (have > rs->replicas) {
			int32_t excess = have - rs->replicas;
			int32_t p =
				excess < s->pending[i] ? excess : s->pending[i];

			s->pending[i] -= p;
			rs->ready -= excess - p;
			rs->available = rs->ready;
		}
		pods += rs->ready + s->pending[i];
		available += rs->ready;
		rs->pods = rs->running = rs->ready + s->pending[i];
	}
	if (pods > s->max_pods_seen)
		s->max_pods_seen = pods;
	if (available < s->min_available_seen)
		s->min_available_seen = available;
}

static int32_t sim_pods(const struct sim *s, bool is_new)
{
	int32_t n = 0;

	for (size_t i = 0; i < s->nr; i++)
		if (s->rs[i].is_new == is_new)
			n += s->rs[i].ready + s->pending[i];
	return n;
}

/* Rolls to a new template (named name) and returns the ticks it took. */
static int sim_rollout(struct sim *s, const char *name)
{
	int ticks;

	s->min_available_seen = INT32_MAX;
	s->max_pods_seen = 0;
	sim_new_template(s, name);
	for (ticks = 1; ticks < 200; ticks++) {
		sim_tick(s);
		if (rollout_complete(&s->d, &s->status) &&
		    sim_pods(s, false) == 0)
			return ticks;
	}
	fail_msg("the rollout did not finish");
	return -1;
}

struct sim_case {
	int32_t replicas;
	const char *surge, *unavailable;
};

static const struct sim_case sim_cases[] = {
	{ 3, "\"25%\"", "\"25%\"" },
	{ 10, "\"30%\"", "\"30%\"" },
	{ 5, "0", "1" },
	{ 4, "2", "0" },
	{ 1, "\"25%\"", "\"25%\"" },
	{ 10, "\"0%\"", "\"0%\"" },
	{ 7, "\"100%\"", "0" },
	{ 6, "0", "\"100%\"" },
};

static void test_rollout_v1_to_v2_stays_within_surge_and_unavailable(void **s_)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(sim_cases); i++) {
		const struct sim_case *c = &sim_cases[i];
		struct sim s = { 0 };
		struct sm_buf msg = SM_BUF_INIT(1024);
		int ticks;

		sim_spec(&s, c->replicas, c->surge, c->unavailable);
		sim_add(&s, "web-v1", c->replicas, 1)->is_new = true;
		/* Steady state first: the status of a finished rollout. */
		sim_tick(&s);
		assert_true(rollout_complete(&s.d, &s.status));
		ticks = sim_rollout(&s, "web-v2");
		if (s.max_pods_seen > c->replicas + s.d.max_surge ||
		    s.min_available_seen < c->replicas - s.d.max_unavailable)
			fail_msg("case %zu (%d, %s, %s): %d pods at most, %d "
				 "available at least",
				 i, c->replicas, c->surge, c->unavailable,
				 s.max_pods_seen, s.min_available_seen);
		assert_true(ticks <= 2 * c->replicas + 4);
		assert_int_equal(sim_pods(&s, true), c->replicas);
		/* The status a kubectl rollout status reads. */
		assert_int_equal(s.status.replicas, c->replicas);
		assert_int_equal(s.status.updated, c->replicas);
		assert_int_equal(s.status.available, c->replicas);
		assert_int_equal(s.status.observed_generation, 2);
		assert_int_equal(rollout_status_check(&s.d, &s.status, &msg),
				 1);
		assert_string_equal(sm_buf_cstr(&msg),
				    "deployment \"web\" successfully rolled "
				    "out");
		assert_string_equal(s.status.progressing_cond.reason,
				    "NewReplicaSetAvailable");
		assert_string_equal(s.status.available_cond.reason,
				    "MinimumReplicasAvailable");
		/* The new ReplicaSet took revision 2. */
		for (size_t k = 0; k < s.nr; k++)
			if (s.rs[k].is_new)
				assert_int_equal(s.rs[k].revision, 2);
		sm_buf_release(&msg);
	}
}

static void test_rollout_of_3_follows_the_documented_steps(void **state)
{
	/* 25%/25% of 3: surge 1, unavailable 0: one pod at a time. */
	static const int32_t want_new[] = { 1, 1, 2, 2, 3, 3, 3 };
	static const int32_t want_old[] = { 3, 2, 2, 1, 1, 0, 0 };
	struct sim s = { 0 };

	sim_spec(&s, 3, "\"25%\"", "\"25%\"");
	sim_add(&s, "web-v1", 3, 1)->is_new = true;
	sim_tick(&s);
	sim_new_template(&s, "web-v2");
	for (size_t i = 0; i < SM_ARRAY_SIZE(want_new); i++) {
		sim_tick(&s);
		assert_int_equal(s.rs[1].replicas, want_new[i]);
		assert_int_equal(s.rs[0].replicas, want_old[i]);
	}
	assert_true(rollout_complete(&s.d, &s.status));
}

static void test_rollout_with_max_surge_0_scales_down_first(void **state)
{
	struct sim s = { 0 };
	struct rollout_plan plan;

	sim_spec(&s, 4, "0", "1");
	sim_add(&s, "web-v1", 4, 1)->is_new = true;
	sim_tick(&s);
	sim_new_template(&s, "web-v2");
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, &s.status, &plan), 0);
	/* Created at 0 (no room), and one old pod goes. */
	assert_true(s.rs[1].create);
	assert_int_equal(s.rs[1].scale_to, 0);
	assert_int_equal(s.rs[0].scale_to, 3);
	assert_true(s.rs[0].write);
	assert_true(plan.new_created);
	assert_int_equal(plan.revision, 2);
}

static void test_old_unhealthy_replicas_are_cleaned_up_first(void **state)
{
	struct sim s = { 0 };
	struct rollout_plan plan;
	struct rollout_rs *old, *nw;

	sim_spec(&s, 3, "1", "1");
	old = sim_add(&s, "web-v1", 3, 1);
	old->available = old->ready = 1;
	nw = sim_add(&s, "web-v2", 1, 2);
	nw->available = nw->ready = 0;
	nw->is_new = true;
	/* all 4 - minAvailable 2 - new unavailable 1: one may go. */
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, NULL, &plan), 0);
	assert_int_equal(s.rs[0].scale_to, 2);
	assert_int_equal(s.rs[1].scale_to, 1);
}

static void test_old_replica_sets_scale_down_oldest_first(void **state)
{
	struct sim s = { 0 };
	struct rollout_plan plan;

	sim_spec(&s, 4, "0", "2");
	sim_add(&s, "web-a", 2, 1);
	sim_add(&s, "web-b", 2, 2);
	sim_add(&s, "web-c", 0, 3)->is_new = true;
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, NULL, &plan), 0);
	assert_int_equal(plan.path, ROLLOUT_PATH_ROLLING);
	assert_int_equal(s.rs[0].scale_to, 0);
	assert_int_equal(s.rs[1].scale_to, 2);
	assert_int_equal(s.rs[2].scale_to, 0);
}

static void test_stale_status_of_a_scaled_down_set_is_not_available(void **s_)
{
	struct sim s = { 0 };
	struct rollout_plan plan;

	sim_spec(&s, 3, "1", "0");
	/* Scaled to 0 already; its status still shows 2 available. */
	sim_add(&s, "web-a", 2, 1)->replicas = 0;
	sim_add(&s, "web-b", 2, 2);
	sim_add(&s, "web-c", 2, 3)->is_new = true;
	/* 2 + 2 available of 3 wanted: one old pod may go, not two. */
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, NULL, &plan), 0);
	assert_int_equal(s.rs[1].scale_to, 1);
	assert_int_equal(s.rs[2].scale_to, 2);
}

static void test_new_replica_set_above_replicas_is_scaled_down(void **state)
{
	struct sim s = { 0 };
	struct rollout_plan plan;

	sim_spec(&s, 2, "1", "0");
	sim_add(&s, "web-a", 4, 1)->is_new = true;
	/* Not a scaling event (no annotation): the rolling path trims. */
	s.rs[0].desired_ann = -1;
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, NULL, &plan), 0);
	assert_int_equal(plan.path, ROLLOUT_PATH_ROLLING);
	assert_int_equal(s.rs[0].scale_to, 2);
	assert_true(s.rs[0].write);
}

static void test_recreate_stops_every_old_pod_before_the_new_one(void **st)
{
	struct sim s = { 0 };
	struct rollout_plan plan;

	sim_spec(&s, 3, "0", "0");
	s.d.strategy = ROLLOUT_RECREATE;
	s.d.max_surge = s.d.max_unavailable = 0;
	sim_add(&s, "web-v1", 3, 1)->is_new = true;
	sim_tick(&s);
	sim_new_template(&s, "web-v2");

	/* Step 1: every old ReplicaSet to 0, no new ReplicaSet yet. */
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, &s.status, &plan), 0);
	assert_int_equal(plan.path, ROLLOUT_PATH_RECREATE);
	assert_int_equal(s.rs[0].scale_to, 0);
	assert_false(s.rs[1].create);
	assert_false(plan.new_created);

	/* Scaled to 0 but two pods still terminating: wait. */
	s.rs[0].replicas = 0;
	s.rs[0].pods = s.rs[0].ready = s.rs[0].available = 0;
	s.rs[0].running = 2;
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, &s.status, &plan), 0);
	assert_true(plan.waiting_for_old_pods);
	assert_false(s.rs[1].create);
	assert_false(plan.scaled);

	/* All gone: the new ReplicaSet at full size in one go. */
	s.rs[0].running = 0;
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, &s.status, &plan), 0);
	assert_false(plan.waiting_for_old_pods);
	assert_true(s.rs[1].create);
	assert_true(plan.new_created);
	assert_int_equal(s.rs[1].scale_to, 3);
	assert_int_equal(plan.revision, 2);
}

static void test_recreate_simulated_never_mixes_versions(void **state)
{
	struct sim s = { 0 };
	int ticks;

	sim_spec(&s, 4, "0", "0");
	s.d.strategy = ROLLOUT_RECREATE;
	s.d.max_surge = s.d.max_unavailable = 0;
	sim_add(&s, "web-v1", 4, 1)->is_new = true;
	sim_tick(&s);
	sim_new_template(&s, "web-v2");
	for (ticks = 0; ticks < 20; ticks++) {
		sim_tick(&s);
		assert_false(sim_pods(&s, true) && sim_pods(&s, false));
		if (rollout_complete(&s.d, &s.status))
			break;
	}
	assert_true(ticks < 20);
	assert_int_equal(sim_pods(&s, true), 4);
}

static void test_scaling_mid_rollout_is_proportional_as_documented(void **s_)
{
	/*
	 * The docs' example: 10 replicas, maxSurge 3, maxUnavailable 2,
	 * stuck with 8 old and 5 new; scaled to 15: 3 more old, 2 more new.
	 */
	struct sim s = { 0 };
	struct rollout_plan plan;

	sim_spec(&s, 10, "3", "2");
	sim_add(&s, "web-old", 8, 1);
	sim_add(&s, "web-new", 5, 2)->is_new = true;
	s.rs[1].available = s.rs[1].ready = 0;
	s.d.replicas = 15;
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, NULL, &plan), 0);
	assert_int_equal(plan.path, ROLLOUT_PATH_SCALE);
	assert_int_equal(s.rs[0].scale_to, 11);
	assert_int_equal(s.rs[1].scale_to, 7);
	assert_int_equal(plan.desired_ann, 15);
	assert_int_equal(plan.max_ann, 18);
	assert_true(s.rs[0].write && s.rs[1].write);
}

static void test_scaling_down_mid_rollout_takes_from_the_larger(void **st)
{
	struct sim s = { 0 };
	struct rollout_plan plan;

	sim_spec(&s, 10, "3", "2");
	sim_add(&s, "web-old", 8, 1);
	sim_add(&s, "web-new", 5, 2)->is_new = true;
	s.d.replicas = 5; /* max 8 now, from 13 */
	s.d.max_surge = 3;
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, NULL, &plan), 0);
	assert_int_equal(plan.path, ROLLOUT_PATH_SCALE);
	/* 8*8/13 = 4.9 -> 5 (-3), 5*8/13 = 3.1 -> 3 (-2). */
	assert_int_equal(s.rs[0].scale_to, 5);
	assert_int_equal(s.rs[1].scale_to, 3);
}

static void test_scaling_a_single_replica_set_sets_it_to_replicas(void **st)
{
	struct sim s = { 0 };
	struct rollout_plan plan;

	sim_spec(&s, 3, "\"25%\"", "\"25%\"");
	sim_add(&s, "web-a", 3, 1)->is_new = true;
	s.d.replicas = 7;
	s.d.max_surge = 2;
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, NULL, &plan), 0);
	assert_int_equal(plan.path, ROLLOUT_PATH_SCALE);
	assert_int_equal(s.rs[0].scale_to, 7);
	assert_int_equal(plan.desired_ann, 7);
}

static void test_a_paused_deployment_is_scaled_but_not_rolled(void **state)
{
	struct sim s = { 0 };
	struct rollout_plan plan;
	struct rollout_status next;

	sim_spec(&s, 3, "\"25%\"", "\"25%\"");
	sim_add(&s, "web-v1", 3, 1)->is_new = true;
	sim_tick(&s);
	sim_new_template(&s, "web-v2");
	s.d.paused = true;
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, &s.status, &plan), 0);
	assert_int_equal(plan.path, ROLLOUT_PATH_SCALE);
	assert_false(s.rs[1].create);
	assert_false(plan.scaled);
	rollout_status_compute(&s.d, &s.status, s.rs, s.nr, &plan, 500, &next);
	assert_int_equal(next.progressing_cond.status, ROLLOUT_COND_UNKNOWN);
	assert_string_equal(next.progressing_cond.reason, "DeploymentPaused");
	/* Resumed: the condition says so, then the rollout starts. */
	s.status = next;
	s.d.paused = false;
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, &s.status, &plan), 0);
	assert_true(s.rs[1].create);
	rollout_status_compute(&s.d, &s.status, s.rs, s.nr, &plan, 600, &next);
	assert_string_equal(next.progressing_cond.reason,
			    "NewReplicaSetCreated");
	assert_int_equal(next.progressing_cond.last_transition_s, 600);
	/* The new ReplicaSet's one replica is wanted, not yet available. */
	assert_int_equal(next.unavailable, 1);
	assert_int_equal(next.updated, 0);
}

static void test_step_needs_exactly_one_new_replica_set(void **state)
{
	struct sim s = { 0 };
	struct rollout_plan plan;

	sim_spec(&s, 3, "1", "0");
	sim_add(&s, "web-a", 3, 1);
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, NULL, &plan), -EINVAL);
	sim_add(&s, "web-b", 0, 2)->is_new = true;
	s.rs[0].is_new = true;
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, NULL, &plan), -EINVAL);
}

/* ---- revisions ---------------------------------------------------------- */

static void test_new_revision_is_the_highest_old_one_plus_one(void **state)
{
	struct sim s = { 0 };
	struct rollout_plan plan;

	sim_spec(&s, 3, "1", "0");
	sim_add(&s, "web-a", 0, 1);
	sim_add(&s, "web-b", 3, 3);
	sim_add(&s, "web-c", 0, 0)->is_new = true;
	s.rs[2].exists = false;
	assert_int_equal(rollout_max_old_revision(s.rs, s.nr), 3);
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, NULL, &plan), 0);
	assert_int_equal(plan.revision, 4);
	assert_true(s.rs[2].create);
}

static void
test_rollback_reuses_the_old_replica_set_with_a_new_revision(void **state)
{
	struct sim s = { 0 };
	struct rollout_plan plan;

	/* Revision 1's template is the Deployment's again. */
	sim_spec(&s, 3, "1", "0");
	sim_add(&s, "web-a", 0, 1)->is_new = true;
	sim_add(&s, "web-b", 0, 2);
	sim_add(&s, "web-c", 3, 3);
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, NULL, &plan), 0);
	assert_int_equal(plan.revision, 4);
	assert_true(s.rs[0].write_revision);
	assert_false(s.rs[0].create);
	assert_int_equal(s.rs[0].scale_to, 1);
}

static void test_find_revision_defaults_to_the_previous_one(void **state)
{
	struct sim s = { 0 };

	sim_spec(&s, 1, "1", "0");
	sim_add(&s, "web-a", 0, 3);
	sim_add(&s, "web-b", 0, 1);
	sim_add(&s, "web-c", 1, 4)->is_new = true;
	sim_add(&s, "web-d", 0, 2);
	assert_ptr_equal(rollout_find_revision(s.rs, s.nr, 0), &s.rs[0]);
	assert_ptr_equal(rollout_find_revision(s.rs, s.nr, 2), &s.rs[3]);
	assert_null(rollout_find_revision(s.rs, s.nr, 9));
	assert_null(rollout_find_revision(s.rs, 1, 0));
}

static void test_history_cleanup_removes_the_oldest_idle_ones(void **state)
{
	struct sim s = { 0 };

	sim_spec(&s, 3, "1", "0");
	s.d.revision_history_limit = 2;
	/* Out of order on purpose: revisions decide, not positions. */
	sim_add(&s, "web-r3", 0, 3);
	sim_add(&s, "web-r1", 0, 1);
	sim_add(&s, "web-r2", 0, 2);
	sim_add(&s, "web-r5", 0, 5);
	sim_add(&s, "web-r4", 0, 4);
	sim_add(&s, "web-r6", 3, 6)->is_new = true;
	/* r2 still has a pod: counted, kept. */
	s.rs[2].pods = 1;
	for (size_t i = 0; i < s.nr; i++)
		s.rs[i].scale_to = s.rs[i].replicas;
	rollout_cleanup(&s.d, s.rs, s.nr);
	assert_true(s.rs[1].remove); /* r1 */
	assert_false(s.rs[2].remove); /* r2: busy */
	assert_true(s.rs[0].remove); /* r3 */
	assert_false(s.rs[4].remove); /* r4 */
	assert_false(s.rs[3].remove); /* r5 */
	assert_false(s.rs[5].remove); /* the new one */

	/* One being deleted does not count; a negative limit keeps all. */
	for (size_t i = 0; i < s.nr; i++)
		s.rs[i].remove = false;
	s.rs[1].deleting = true;
	rollout_cleanup(&s.d, s.rs, s.nr);
	assert_false(s.rs[1].remove);
	assert_true(s.rs[0].remove);
	s.d.revision_history_limit = -1;
	s.rs[0].remove = false;
	rollout_cleanup(&s.d, s.rs, s.nr);
	for (size_t i = 0; i < s.nr; i++)
		assert_false(s.rs[i].remove);
}

static void test_a_finished_rollout_cleans_up_history(void **state)
{
	struct sim s = { 0 };

	sim_spec(&s, 2, "1", "0");
	s.d.revision_history_limit = 1;
	sim_add(&s, "web-v1", 2, 1)->is_new = true;
	sim_tick(&s);
	sim_rollout(&s, "web-v2");
	sim_rollout(&s, "web-v3");
	/* One more tick with a complete status runs the cleanup. */
	sim_tick(&s);
	assert_int_equal(s.nr, 2);
	assert_string_equal(s.rs[0].name, "web-v2");
	assert_int_equal(s.rs[0].revision, 2);
	assert_string_equal(s.rs[1].name, "web-v3");
	assert_int_equal(s.rs[1].revision, 3);
}

/* ---- status ------------------------------------------------------------- */

static void set_cond(struct rollout_cond *c, enum rollout_cond_status st,
		     const char *reason, int64_t update, int64_t transition)
{
	c->status = st;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	c->last_update_s = update;
	c->last_transition_s = transition;
}

/* web-v1 complete (3 ready), with web-v2 just created (1, not ready). */
static void stalled(struct sim *s, struct rollout_status *old)
{
	sim_spec(s, 3, "\"25%\"", "\"25%\"");
	s->d.generation = 2;
	sim_add(s, "web-v1", 3, 1);
	sim_add(s, "web-v2", 1, 2)->is_new = true;
	s->rs[1].ready = s->rs[1].available = 0;
	memset(old, 0, sizeof(*old));
	old->observed_generation = 2;
	old->replicas = 4;
	old->updated = 1;
	old->ready = 3;
	old->available = 3;
	set_cond(&old->available_cond, ROLLOUT_COND_TRUE,
		 "MinimumReplicasAvailable", 100, 100);
	set_cond(&old->progressing_cond, ROLLOUT_COND_TRUE,
		 "NewReplicaSetCreated", 200, 100);
}

static void test_progress_deadline_exceeded_only_after_the_deadline(void **st)
{
	struct sim s = { 0 };
	struct rollout_status old, next;
	struct rollout_plan plan;
	struct sm_buf msg = SM_BUF_INIT(1024);

	stalled(&s, &old);
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, &old, &plan), 0);
	assert_false(plan.scaled);
	assert_int_equal(rollout_recheck_at(&s.d, &old), 801);

	/* lastUpdateTime 200 + 600 is not before 800: still progressing. */
	rollout_status_compute(&s.d, &old, s.rs, s.nr, &plan, 800, &next);
	assert_int_equal(next.progressing_cond.status, ROLLOUT_COND_TRUE);
	assert_string_equal(next.progressing_cond.reason,
			    "NewReplicaSetCreated");
	assert_int_equal(next.progressing_cond.last_update_s, 200);

	rollout_status_compute(&s.d, &old, s.rs, s.nr, &plan, 801, &next);
	assert_int_equal(next.progressing_cond.status, ROLLOUT_COND_FALSE);
	assert_string_equal(next.progressing_cond.reason,
			    "ProgressDeadlineExceeded");
	assert_string_equal(next.progressing_cond.message,
			    "ReplicaSet \"web-v2\" has timed out progressing.");
	assert_int_equal(next.progressing_cond.last_transition_s, 801);
	assert_int_equal(next.progressing_cond.last_update_s, 801);
	/* Available did not change: its times stay. */
	assert_int_equal(next.available_cond.last_update_s, 100);
	assert_int_equal(next.available_cond.last_transition_s, 100);

	assert_int_equal(rollout_status_check(&s.d, &next, &msg), -ETIMEDOUT);
	assert_string_equal(
		sm_buf_cstr(&msg),
		"deployment \"web\" exceeded its progress deadline");
	assert_int_equal(rollout_recheck_at(&s.d, &next), 0);

	/* Once exceeded it stays so, as long as nothing moves. */
	old = next;
	rollout_status_compute(&s.d, &old, s.rs, s.nr, &plan, 900, &next);
	assert_string_equal(next.progressing_cond.reason,
			    "ProgressDeadlineExceeded");
	assert_int_equal(next.progressing_cond.last_update_s, 801);
	sm_buf_release(&msg);
}

static void test_progress_moves_last_update_but_not_transition(void **state)
{
	struct sim s = { 0 };
	struct rollout_status old, next;
	struct rollout_plan plan;

	stalled(&s, &old);
	/* The new pod became available. */
	s.rs[1].ready = s.rs[1].available = 1;
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, &old, &plan), 0);
	rollout_status_compute(&s.d, &old, s.rs, s.nr, &plan, 300, &next);
	assert_string_equal(next.progressing_cond.reason, "ReplicaSetUpdated");
	assert_string_equal(next.progressing_cond.message,
			    "ReplicaSet \"web-v2\" is progressing.");
	assert_int_equal(next.progressing_cond.last_update_s, 300);
	assert_int_equal(next.progressing_cond.last_transition_s, 100);

	/* Progress after a timeout: True again, a new transition. */
	old = next;
	set_cond(&old.progressing_cond, ROLLOUT_COND_FALSE,
		 "ProgressDeadlineExceeded", 250, 250);
	old.available = 3;
	s.rs[1].ready = s.rs[1].available = 2;
	rollout_status_compute(&s.d, &old, s.rs, s.nr, &plan, 400, &next);
	assert_int_equal(next.progressing_cond.status, ROLLOUT_COND_TRUE);
	assert_int_equal(next.progressing_cond.last_transition_s, 400);
}

static void test_available_follows_min_available(void **state)
{
	struct sim s = { 0 };
	struct rollout_status old, next;
	struct rollout_plan plan;

	stalled(&s, &old);
	/* Two old pods lost: 1 + 0 available < 3 - 0. */
	s.rs[0].ready = s.rs[0].available = 1;
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, &old, &plan), 0);
	rollout_status_compute(&s.d, &old, s.rs, s.nr, &plan, 300, &next);
	assert_int_equal(next.available_cond.status, ROLLOUT_COND_FALSE);
	assert_string_equal(next.available_cond.reason,
			    "MinimumReplicasUnavailable");
	assert_string_equal(next.available_cond.message,
			    "Deployment does not have minimum availability.");
	assert_int_equal(next.available_cond.last_transition_s, 300);
	assert_int_equal(next.available, 1);
	/* spec totals 3 + 1 (scale_to), 1 available. */
	assert_int_equal(next.unavailable, 3);
}

static void test_no_progress_deadline_means_no_progressing_condition(void **s_)
{
	struct sim s = { 0 };
	struct rollout_status old, next;
	struct rollout_plan plan;

	stalled(&s, &old);
	s.d.progress_deadline_seconds = ROLLOUT_NO_DEADLINE;
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, &old, &plan), 0);
	rollout_status_compute(&s.d, &old, s.rs, s.nr, &plan, 5000, &next);
	assert_int_equal(next.progressing_cond.status, ROLLOUT_COND_ABSENT);
	assert_int_equal(rollout_recheck_at(&s.d, &next), 0);
}

static void test_found_new_replica_set_when_no_condition_yet(void **state)
{
	struct sim s = { 0 };
	struct rollout_status old, next;
	struct rollout_plan plan;

	stalled(&s, &old);
	memset(&old.progressing_cond, 0, sizeof(old.progressing_cond));
	assert_int_equal(rollout_step(&s.d, s.rs, s.nr, &old, &plan), 0);
	rollout_status_compute(&s.d, &old, s.rs, s.nr, &plan, 300, &next);
	assert_string_equal(next.progressing_cond.reason, "FoundNewReplicaSet");
	assert_string_equal(next.progressing_cond.message,
			    "Found new replica set \"web-v2\"");
	assert_int_equal(next.progressing_cond.last_transition_s, 300);
}

struct check_case {
	int64_t generation, observed;
	int32_t replicas, updated, total, available;
	int want;
	const char *msg;
};

static const struct check_case check_cases[] = {
	{ 3, 2, 3, 3, 3, 3, 0,
	  "Waiting for deployment spec update to be observed..." },
	{ 2, 2, 3, 1, 4, 3, 0,
	  "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new "
	  "replicas have been updated..." },
	{ 2, 2, 3, 3, 4, 3, 0,
	  "Waiting for deployment \"web\" rollout to finish: 1 old replicas "
	  "are pending termination..." },
	{ 2, 2, 3, 3, 3, 2, 0,
	  "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated "
	  "replicas are available..." },
	{ 2, 2, 3, 3, 3, 3, 1, "deployment \"web\" successfully rolled out" },
};

static void test_status_check_reads_as_kubectl_rollout_status(void **state)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(check_cases); i++) {
		const struct check_case *c = &check_cases[i];
		struct rollout_spec d = { .name = "web" };
		struct rollout_status st = { 0 };
		struct sm_buf msg = SM_BUF_INIT(1024);

		d.generation = c->generation;
		d.replicas = c->replicas;
		st.observed_generation = c->observed;
		st.updated = c->updated;
		st.replicas = c->total;
		st.available = c->available;
		assert_int_equal(rollout_status_check(&d, &st, &msg), c->want);
		assert_string_equal(sm_buf_cstr(&msg), c->msg);
		sm_buf_release(&msg);
	}
}

static void test_status_json_round_trips(void **state)
{
	struct rollout_status st = { 0 }, back;
	json_t *j, *conds;

	st.observed_generation = 3;
	st.replicas = 4;
	st.updated = 2;
	st.ready = 3;
	st.available = 3;
	st.unavailable = 1;
	set_cond(&st.available_cond, ROLLOUT_COND_TRUE,
		 "MinimumReplicasAvailable", 1704067200, 1704067100);
	snprintf(st.available_cond.message, sizeof(st.available_cond.message),
		 "Deployment has minimum availability.");
	set_cond(&st.progressing_cond, ROLLOUT_COND_FALSE,
		 "ProgressDeadlineExceeded", 1704067300, 1704067300);
	j = rollout_status_to_json(&st);
	assert_int_equal(
		json_integer_value(json_object_get(j, "updatedReplicas")), 2);
	conds = json_object_get(j, "conditions");
	assert_int_equal(json_array_size(conds), 2);
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(conds, 0),
						  "lastUpdateTime")),
		"2024-01-01T00:00:00Z");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(conds, 1), "status")),
			    "False");
	rollout_status_from_json(&back, j);
	assert_memory_equal(&back, &st, sizeof(st));
	json_decref(j);

	/* Zero counts are left out, as Kubernetes' omitempty does. */
	memset(&st, 0, sizeof(st));
	j = rollout_status_to_json(&st);
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);
}

static void test_rs_from_json_reads_annotations_and_status(void **state)
{
	json_t *obj = load(
		"{\"metadata\":{\"name\":\"web-5d8f7c9b4\","
		"\"creationTimestamp\":\"2024-01-01T00:00:10Z\","
		"\"labels\":{\"app\":\"web\",\"pod-template-hash\":"
		"\"5d8f7c9b4\"},"
		"\"annotations\":{\"deployment.kubernetes.io/revision\":\"7\","
		"\"deployment.kubernetes.io/desired-replicas\":\"3\","
		"\"deployment.kubernetes.io/max-replicas\":\"4\"}},"
		"\"spec\":{\"replicas\":3},"
		"\"status\":{\"replicas\":3,\"readyReplicas\":2,"
		"\"availableReplicas\":1}}");
	struct rollout_rs rs;

	rollout_rs_from_json(&rs, obj, "5d8f7c9b4");
	assert_string_equal(rs.name, "web-5d8f7c9b4");
	assert_int_equal(rs.created_s, 1704067210);
	assert_int_equal(rs.revision, 7);
	assert_int_equal(rs.desired_ann, 3);
	assert_int_equal(rs.max_ann, 4);
	assert_int_equal(rs.replicas, 3);
	assert_int_equal(rs.pods, 3);
	assert_int_equal(rs.ready, 2);
	assert_int_equal(rs.available, 1);
	assert_true(rs.is_new && rs.exists);
	assert_false(rs.deleting);
	rollout_rs_from_json(&rs, obj, "other");
	assert_false(rs.is_new);
	rollout_rs_from_json(&rs, obj, NULL);
	assert_false(rs.is_new);
	json_decref(obj);
}

/* ---- pods, times, hashes and names -------------------------------------- */

static void test_availability_waits_min_ready_seconds(void **state)
{
	json_t *pod = load(
		"{\"status\":{\"conditions\":[{\"type\":\"PodScheduled\","
		"\"status\":\"True\"},{\"type\":\"Ready\",\"status\":\"True\","
		"\"lastTransitionTime\":\"1970-01-01T00:01:40Z\"}]}}");
	json_t *unready = load("{\"status\":{\"conditions\":[{\"type\":"
			       "\"Ready\",\"status\":\"False\"}]}}");

	assert_false(rollout_available(false, 100, 0, 1000));
	assert_true(rollout_available(true, 100, 0, 100));
	/* Kubernetes: since + minReadySeconds strictly before now. */
	assert_false(rollout_available(true, 100, 10, 110));
	assert_true(rollout_available(true, 100, 10, 111));
	assert_false(rollout_available(true, 0, 10, 111));
	assert_false(rollout_pod_available(pod, 10, 110));
	assert_true(rollout_pod_available(pod, 10, 111));
	assert_true(rollout_pod_available(pod, 0, 0));
	assert_false(rollout_pod_available(unready, 0, 1000));
	json_decref(pod);
	json_decref(unready);
}

static void test_times_parse_as_rfc_3339(void **state)
{
	static const struct {
		const char *text;
		int64_t want;
	} good[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2024-01-01T00:00:00Z", 1704067200 },
		{ "2024-02-29T12:30:15Z", 1709209815 },
		{ "2024-01-01T01:00:00+01:00", 1704067200 },
		{ "2023-12-31T23:00:00-01:00", 1704067200 },
		{ "2024-01-01T00:00:00.123456Z", 1704067200 },
		{ "1969-12-31T23:59:59Z", -1 },
	};
	static const char *bad[] = { "",
				     "2024-01-01",
				     "2024-01-01T00:00:00",
				     "2024-13-01T00:00:00Z",
				     "2024-01-01 00:00:00Z",
				     "2024-01-01T00:00:00Zjunk",
				     "2024-01-01T00:00:00.Z" };
	int64_t t;

	for (size_t i = 0; i < SM_ARRAY_SIZE(good); i++) {
		assert_int_equal(rollout_parse_time(good[i].text, &t), 0);
		assert_int_equal(t, good[i].want);
	}
	for (size_t i = 0; i < SM_ARRAY_SIZE(bad); i++)
		assert_int_equal(rollout_parse_time(bad[i], &t), -EINVAL);
}

static void test_template_hash_uses_the_safe_alphabet_of_digits(void **state)
{
	json_t *a = load("{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
			 "\"spec\":{\"containers\":[{\"name\":\"web\","
			 "\"image\":\"web:1\"}]}}");
	/* Same template, other key order, with a stale hash label. */
	json_t *b = load("{\"spec\":{\"containers\":[{\"image\":\"web:1\","
			 "\"name\":\"web\"}]},\"metadata\":{\"labels\":{"
			 "\"pod-template-hash\":\"xyz\",\"app\":\"web\"}}}");
	json_t *c = load("{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
			 "\"spec\":{\"containers\":[{\"name\":\"web\","
			 "\"image\":\"web:2\"}]}}");
	char ha[ROLLOUT_HASH_MAX + 1], hb[ROLLOUT_HASH_MAX + 1];
	char hc[ROLLOUT_HASH_MAX + 1], h1[ROLLOUT_HASH_MAX + 1];
	char h2[ROLLOUT_HASH_MAX + 1], hx[ROLLOUT_HASH_MAX + 1];
	int32_t one = 1, two = 2;

	rollout_template_hash(a, NULL, NULL, ha);
	rollout_template_hash(b, NULL, NULL, hb);
	rollout_template_hash(c, NULL, NULL, hc);
	rollout_template_hash(a, &one, NULL, h1);
	rollout_template_hash(a, &two, NULL, h2);
	rollout_template_hash(a, NULL, "configmap web-config: 1f2e", hx);
	/* A golden value: changing the hash rolls every workload. */
	assert_string_equal(ha, "794686fc5b");
	assert_string_equal(ha, hb);
	assert_string_not_equal(ha, hc);
	assert_string_not_equal(ha, h1);
	assert_string_not_equal(h1, h2);
	assert_string_not_equal(ha, hx);
	/* Decimal digits through SafeEncodeString: 10 possible letters. */
	for (const char *p = hx; *p; p++)
		assert_non_null(strchr("456789bcdf", *p));
	assert_true(strlen(hx) >= 1 && strlen(hx) <= ROLLOUT_HASH_MAX);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void test_template_equality_ignores_the_hash_label(void **state)
{
	json_t *a = load("{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
			 "\"spec\":{\"x\":1}}");
	json_t *b = load("{\"metadata\":{\"labels\":{\"app\":\"web\","
			 "\"pod-template-hash\":\"abc\"}},\"spec\":{\"x\":1}}");
	json_t *c = load("{\"metadata\":{\"labels\":{\"app\":\"db\"}},"
			 "\"spec\":{\"x\":1}}");
	json_t *d = load("{\"metadata\":{\"labels\":{\"pod-template-hash\":"
			 "\"abc\"}},\"spec\":{\"x\":1}}");
	json_t *e = load("{\"metadata\":{},\"spec\":{\"x\":1}}");
	json_t *stripped = rollout_template_strip_hash(b);

	assert_true(rollout_template_equal(a, b));
	assert_false(rollout_template_equal(a, c));
	/* Only the hash label: the same as no labels at all. */
	assert_true(rollout_template_equal(d, e));
	assert_true(json_equal(stripped, a));
	/* The argument itself is left alone. */
	assert_non_null(
		sm_json_get_path(b, "metadata.labels.pod-template-hash"));
	json_decref(stripped);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(d);
	json_decref(e);
}

static void test_generated_names_look_like_kubernetes_ones(void **state)
{
	struct sm_seeded_rand r;
	struct sm_buf b = SM_BUF_INIT(256);
	char long_rs[80];
	const char *name;

	sm_seeded_rand_init(&r, 42);
	assert_int_equal(rollout_rs_name("web", "5d8f7c9b4", &b), 0);
	assert_string_equal(sm_buf_cstr(&b), "web-5d8f7c9b4");
	sm_buf_reset(&b);
	assert_int_equal(rollout_pod_name("web-5d8f7c9b4", &r.rand, &b), 0);
	name = sm_buf_cstr(&b);
	assert_int_equal(strlen(name), strlen("web-5d8f7c9b4-x2k9p"));
	assert_memory_equal(name, "web-5d8f7c9b4-", 14);
	for (const char *p = name + 14; *p; p++)
		assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", *p));

	/* A long prefix is cut to 58 characters: 63 in all. */
	memset(long_rs, 'a', sizeof(long_rs) - 1);
	long_rs[sizeof(long_rs) - 1] = '\0';
	sm_buf_reset(&b);
	assert_int_equal(rollout_pod_name(long_rs, &r.rand, &b), 0);
	assert_int_equal(b.len, 63);
	assert_memory_equal(b.buf, long_rs, 58);
	sm_buf_release(&b);
}

/* ---- objects ------------------------------------------------------------ */

static const char *str_at(const json_t *j, const char *path)
{
	return json_string_value(sm_json_get_path(j, path));
}

static void test_new_replica_set_object_is_what_kubectl_reads(void **state)
{
	json_t *d = load(
		"{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\","
		"\"uid\":\"u-1\",\"annotations\":{"
		"\"kubernetes.io/change-cause\":\"v2\","
		"\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\","
		"\"deployment.kubernetes.io/revision\":\"3\"}},"
		"\"spec\":{\"replicas\":3,\"minReadySeconds\":5,"
		"\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
		"\"spec\":{\"containers\":[{\"name\":\"web\"}]}}}}");
	json_t *before = json_deep_copy(d);
	struct rollout_plan plan = { .revision = 4,
				     .desired_ann = 3,
				     .max_ann = 4 };
	json_t *rs = rollout_new_rs_json(d, "794686fc5b", &plan, 1);
	json_t *ref = json_array_get(
		sm_json_get_path(rs, "metadata.ownerReferences"), 0);
	json_t *ann = sm_json_get_path(rs, "metadata.annotations");
	struct rollout_rs back;

	assert_string_equal(str_at(rs, "kind"), "ReplicaSet");
	assert_string_equal(str_at(rs, "apiVersion"), "apps/v1");
	assert_string_equal(str_at(rs, "metadata.name"), "web-794686fc5b");
	assert_string_equal(str_at(rs, "metadata.namespace"), "shop");
	assert_string_equal(str_at(rs, "metadata.labels.pod-template-hash"),
			    "794686fc5b");
	assert_string_equal(str_at(rs, "metadata.labels.app"), "web");
	assert_string_equal(
		str_at(rs, "spec.selector.matchLabels.pod-template-hash"),
		"794686fc5b");
	assert_string_equal(
		str_at(rs, "spec.template.metadata.labels.pod-template-hash"),
		"794686fc5b");
	assert_int_equal(json_integer_value(
				 sm_json_get_path(rs, "spec.minReadySeconds")),
			 5);
	assert_string_equal(sm_json_get_str(ann, "kubernetes.io/change-cause"),
			    "v2");
	assert_null(json_object_get(
		ann, "kubectl.kubernetes.io/last-applied-configuration"));
	assert_string_equal(sm_json_get_str(ann, ROLLOUT_REVISION_ANN), "4");
	assert_string_equal(sm_json_get_str(ann, ROLLOUT_DESIRED_ANN), "3");
	assert_string_equal(sm_json_get_str(ann, ROLLOUT_MAX_ANN), "4");
	assert_string_equal(sm_json_get_str(ref, "kind"), "Deployment");
	assert_string_equal(sm_json_get_str(ref, "apiVersion"), "apps/v1");
	assert_string_equal(sm_json_get_str(ref, "name"), "web");
	assert_string_equal(sm_json_get_str(ref, "uid"), "u-1");
	assert_true(json_is_true(json_object_get(ref, "controller")));
	assert_true(json_is_true(json_object_get(ref, "blockOwnerDeletion")));
	/* The Deployment is left alone. */
	assert_true(json_equal(d, before));
	/* And it reads back as the new ReplicaSet. */
	rollout_rs_from_json(&back, rs, "794686fc5b");
	assert_true(back.is_new);
	assert_int_equal(back.revision, 4);
	assert_int_equal(back.desired_ann, 3);
	assert_int_equal(back.max_ann, 4);
	assert_int_equal(back.replicas, 1);
	json_decref(rs);
	json_decref(before);
	json_decref(d);
}

static void test_decisions_apply_to_a_replica_set_object(void **state)
{
	json_t *obj = load("{\"metadata\":{\"name\":\"web-a\",\"annotations\":"
			   "{\"deployment.kubernetes.io/revision\":\"1\"}},"
			   "\"spec\":{\"replicas\":3}}");
	struct rollout_plan plan = { .revision = 5,
				     .desired_ann = 4,
				     .max_ann = 5 };
	struct rollout_rs rs = { .scale_to = 2, .write = true };
	json_t *out = rollout_rs_apply_json(obj, &rs, &plan);
	json_t *ann = sm_json_get_path(out, "metadata.annotations");

	assert_int_equal(
		json_integer_value(sm_json_get_path(out, "spec.replicas")), 2);
	assert_string_equal(sm_json_get_str(ann, ROLLOUT_DESIRED_ANN), "4");
	assert_string_equal(sm_json_get_str(ann, ROLLOUT_MAX_ANN), "5");
	assert_string_equal(sm_json_get_str(ann, ROLLOUT_REVISION_ANN), "1");
	json_decref(out);
	rs.write = false;
	rs.write_revision = true;
	out = rollout_rs_apply_json(obj, &rs, &plan);
	ann = sm_json_get_path(out, "metadata.annotations");
	assert_string_equal(sm_json_get_str(ann, ROLLOUT_REVISION_ANN), "5");
	assert_null(json_object_get(ann, ROLLOUT_DESIRED_ANN));
	assert_int_equal(
		json_integer_value(sm_json_get_path(out, "spec.replicas")), 3);
	json_decref(out);
	json_decref(obj);
}

static void test_pods_are_made_from_the_replica_set_template(void **state)
{
	json_t *rs = load(
		"{\"metadata\":{\"name\":\"web-abc\",\"namespace\":\"shop\","
		"\"uid\":\"u-2\"},\"spec\":{\"template\":{\"metadata\":{"
		"\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"abc\"},"
		"\"annotations\":{\"a\":\"b\"}},"
		"\"spec\":{\"containers\":[{\"name\":\"web\"}]}}}}");
	json_t *pod = rollout_pod_json(rs, "web-abc-x2k9p");
	json_t *ref = json_array_get(
		sm_json_get_path(pod, "metadata.ownerReferences"), 0);

	assert_string_equal(str_at(pod, "kind"), "Pod");
	assert_string_equal(str_at(pod, "apiVersion"), "v1");
	assert_string_equal(str_at(pod, "metadata.name"), "web-abc-x2k9p");
	assert_string_equal(str_at(pod, "metadata.generateName"), "web-abc-");
	assert_string_equal(str_at(pod, "metadata.namespace"), "shop");
	assert_string_equal(str_at(pod, "metadata.labels.pod-template-hash"),
			    "abc");
	assert_string_equal(str_at(pod, "metadata.annotations.a"), "b");
	assert_string_equal(sm_json_get_str(ref, "kind"), "ReplicaSet");
	assert_string_equal(sm_json_get_str(ref, "uid"), "u-2");
	assert_true(json_equal(sm_json_get_path(pod, "spec"),
			       sm_json_get_path(rs, "spec.template.spec")));
	json_decref(pod);
	json_decref(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_fenceposts_round_surge_up_and_unavailable_down),
		cmocka_unit_test(
			test_int_or_percent_refuses_what_kubernetes_refuses),
		cmocka_unit_test(test_spec_defaults_are_kubernetes_defaults),
		cmocka_unit_test(
			test_spec_caps_max_unavailable_and_zeroes_recreate),
		cmocka_unit_test(
			test_rollout_v1_to_v2_stays_within_surge_and_unavailable),
		cmocka_unit_test(
			test_rollout_of_3_follows_the_documented_steps),
		cmocka_unit_test(
			test_rollout_with_max_surge_0_scales_down_first),
		cmocka_unit_test(
			test_old_unhealthy_replicas_are_cleaned_up_first),
		cmocka_unit_test(test_old_replica_sets_scale_down_oldest_first),
		cmocka_unit_test(
			test_stale_status_of_a_scaled_down_set_is_not_available),
		cmocka_unit_test(
			test_new_replica_set_above_replicas_is_scaled_down),
		cmocka_unit_test(
			test_recreate_stops_every_old_pod_before_the_new_one),
		cmocka_unit_test(test_recreate_simulated_never_mixes_versions),
		cmocka_unit_test(
			test_scaling_mid_rollout_is_proportional_as_documented),
		cmocka_unit_test(
			test_scaling_down_mid_rollout_takes_from_the_larger),
		cmocka_unit_test(
			test_scaling_a_single_replica_set_sets_it_to_replicas),
		cmocka_unit_test(
			test_a_paused_deployment_is_scaled_but_not_rolled),
		cmocka_unit_test(test_step_needs_exactly_one_new_replica_set),
		cmocka_unit_test(
			test_new_revision_is_the_highest_old_one_plus_one),
		cmocka_unit_test(
			test_rollback_reuses_the_old_replica_set_with_a_new_revision),
		cmocka_unit_test(
			test_find_revision_defaults_to_the_previous_one),
		cmocka_unit_test(
			test_history_cleanup_removes_the_oldest_idle_ones),
		cmocka_unit_test(test_a_finished_rollout_cleans_up_history),
		cmocka_unit_test(
			test_progress_deadline_exceeded_only_after_the_deadline),
		cmocka_unit_test(
			test_progress_moves_last_update_but_not_transition),
		cmocka_unit_test(test_available_follows_min_available),
		cmocka_unit_test(
			test_no_progress_deadline_means_no_progressing_condition),
		cmocka_unit_test(
			test_found_new_replica_set_when_no_condition_yet),
		cmocka_unit_test(
			test_status_check_reads_as_kubectl_rollout_status),
		cmocka_unit_test(test_status_json_round_trips),
		cmocka_unit_test(
			test_rs_from_json_reads_annotations_and_status),
		cmocka_unit_test(test_availability_waits_min_ready_seconds),
		cmocka_unit_test(test_times_parse_as_rfc_3339),
		cmocka_unit_test(
			test_template_hash_uses_the_safe_alphabet_of_digits),
		cmocka_unit_test(test_template_equality_ignores_the_hash_label),
		cmocka_unit_test(
			test_generated_names_look_like_kubernetes_ones),
		cmocka_unit_test(
			test_new_replica_set_object_is_what_kubectl_reads),
		cmocka_unit_test(test_decisions_apply_to_a_replica_set_object),
		cmocka_unit_test(
			test_pods_are_made_from_the_replica_set_template),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
