/*
 * rollout.c: the Deployment controller's arithmetic. See rollout.h.
 *
 * The functions follow Kubernetes' deployment controller step by step
 * (sync.go, rolling.go, recreate.go, progress.go and util/), so that the
 * same inputs give the same ReplicaSet sizes and conditions. Where a
 * ReplicaSet "is scaled" there, the entry's scale_to changes here, and
 * later decisions in the same step see the new size, as the Go code sees
 * its updated objects.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconciler/rollout.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/rand.h"
#include "common/xalloc.h"
#include "common/banned.h"

/* ---- int-or-percent ---------------------------------------------------- */

int rollout_scaled_value(const json_t *v, int32_t total, bool round_up,
			 int32_t *out, struct sm_err *err)
{
	const char *s, *end;
	char *stop;
	long pct;
	int64_t num;

	if (!v || json_is_null(v)) {
		*out = 0;
		return 0;
	}
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);

		if (n < 0 || n > INT32_MAX)
			goto bad;
		*out = (int32_t)n;
		return 0;
	}
	if (!json_is_string(v))
		goto bad;
	s = json_string_value(v);
	end = s + strlen(s);
	if (end == s || end[-1] != '%' || !(*s >= '0' && *s <= '9'))
		goto bad;
	errno = 0;
	pct = strtol(s, &stop, 10);
	if (errno || stop != end - 1 || pct > INT32_MAX)
		goto bad;
	num = (int64_t)pct * (total > 0 ? total : 0);
	*out = (int32_t)(round_up ? (num + 99) / 100 : num / 100);
	return 0;
bad:
	if (err) {
		struct sm_buf b = SM_BUF_INIT(256);

		sm_json_describe(v, &b);
		sm_error(err, NULL,
			 "invalid value for IntOrString: %s: expected a "
			 "non-negative integer or a percentage",
			 sm_buf_cstr(&b));
		sm_buf_release(&b);
	}
	return -EINVAL;
}

int rollout_fenceposts(const json_t *max_surge, const json_t *max_unavailable,
		       int32_t replicas, int32_t *surge, int32_t *unavailable,
		       struct sm_err *err)
{
	int r;

	r = rollout_scaled_value(max_surge, replicas, true, surge, err);
	if (r)
		return r;
	r = rollout_scaled_value(max_unavailable, replicas, false, unavailable,
				 err);
	if (r)
		return r;
	if (*surge == 0 && *unavailable == 0)
		*unavailable = 1;
	return 0;
}

/* ---- the Deployment ---------------------------------------------------- */

static int32_t int_or(const json_t *obj, const char *key, int32_t deflt)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		return deflt;
	if (json_integer_value(v) > INT32_MAX)
		return INT32_MAX;
	if (json_integer_value(v) < INT32_MIN)
		return INT32_MIN;
	return (int32_t)json_integer_value(v);
}

int rollout_spec_from_json(struct rollout_spec *d, const json_t *obj,
			   struct sm_err *err)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_t *spec = json_object_get(obj, "spec");
	json_t *strategy = json_object_get(spec, "strategy");
	const char *type = sm_json_get_str(strategy, "type");
	json_t *ru = json_object_get(strategy, "rollingUpdate");
	json_t *surge_v = json_object_get(ru, "maxSurge");
	json_t *unav_v = json_object_get(ru, "maxUnavailable");
	SM_AUTOJSON json_t *quarter = json_string("25%");
	int32_t surge, unav;
	int r;

	memset(d, 0, sizeof(*d));
	d->name = sm_json_get_str(meta, "name");
	d->generation = int_or(meta, "generation", 0);
	d->replicas = int_or(spec, "replicas", 1);
	if (d->replicas < 0)
		d->replicas = 0;
	d->strategy = type && !strcmp(type, "Recreate")
			      ? ROLLOUT_RECREATE
			      : ROLLOUT_ROLLING_UPDATE;
	d->min_ready_seconds = int_or(spec, "minReadySeconds", 0);
	d->progress_deadline_seconds =
		int_or(spec, "progressDeadlineSeconds", 600);
	d->revision_history_limit = int_or(spec, "revisionHistoryLimit", 10);
	d->paused = json_is_true(json_object_get(spec, "paused"));
	if (d->strategy == ROLLOUT_RECREATE)
		return 0;
	r = rollout_fenceposts(surge_v ? surge_v : quarter,
			       unav_v ? unav_v : quarter, d->replicas, &surge,
			       &unav, err);
	if (r)
		return r;
	d->max_surge = surge;
	if (d->replicas == 0)
		unav = 0;
	d->max_unavailable = unav > d->replicas ? d->replicas : unav;
	return 0;
}

/* ---- ReplicaSets ------------------------------------------------------- */

static int64_t int_str(const char *s, int64_t deflt)
{
	char *end;
	long long v;

	if (!s || !*s)
		return deflt;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return deflt;
	return v;
}

void rollout_rs_from_json(struct rollout_rs *rs, const json_t *obj,
			  const char *new_hash)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_t *ann = json_object_get(meta, "annotations");
	json_t *labels = json_object_get(meta, "labels");
	json_t *spec = json_object_get(obj, "spec");
	json_t *status = json_object_get(obj, "status");
	const char *hash = sm_json_get_str(labels, ROLLOUT_HASH_LABEL);
	const char *created = sm_json_get_str(meta, "creationTimestamp");
	int64_t v;

	memset(rs, 0, sizeof(*rs));
	rs->name = sm_json_get_str(meta, "name");
	if (!created || rollout_parse_time(created, &rs->created_s))
		rs->created_s = 0;
	rs->revision = int_str(sm_json_get_str(ann, ROLLOUT_REVISION_ANN), 0);
	v = int_str(sm_json_get_str(ann, ROLLOUT_DESIRED_ANN), -1);
	rs->desired_ann = v < 0 || v > INT32_MAX ? -1 : (int32_t)v;
	v = int_str(sm_json_get_str(ann, ROLLOUT_MAX_ANN), -1);
	rs->max_ann = v < 0 || v > INT32_MAX ? -1 : (int32_t)v;
	rs->replicas = int_or(spec, "replicas", 1);
	rs->pods = int_or(status, "replicas", 0);
	rs->running = rs->pods;
	rs->ready = int_or(status, "readyReplicas", 0);
	rs->available = int_or(status, "availableReplicas", 0);
	rs->is_new = new_hash && hash && !strcmp(hash, new_hash);
	rs->exists = true;
	rs->deleting =
		json_object_get(meta, "deletionTimestamp") &&
		!json_is_null(json_object_get(meta, "deletionTimestamp"));
	rs->scale_to = rs->replicas;
}

static int strcmp0(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

/* ReplicaSetsByCreationTimestamp: older first, then by name. */
static int by_created(const struct rollout_rs *a, const struct rollout_rs *b)
{
	if (a->created_s != b->created_s)
		return a->created_s < b->created_s ? -1 : 1;
	return strcmp0(a->name, b->name);
}

/* ReplicaSetsBySizeNewer: larger first; equal sizes, newer first. */
static int by_size_newer(const struct rollout_rs *a, const struct rollout_rs *b)
{
	if (a->scale_to != b->scale_to)
		return a->scale_to > b->scale_to ? -1 : 1;
	return -by_created(a, b);
}

/* ReplicaSetsBySizeOlder: larger first; equal sizes, older first. */
static int by_size_older(const struct rollout_rs *a, const struct rollout_rs *b)
{
	if (a->scale_to != b->scale_to)
		return a->scale_to > b->scale_to ? -1 : 1;
	return by_created(a, b);
}

/* ReplicaSetsByRevision: lower revision first, then older first. */
static int by_revision(const struct rollout_rs *a, const struct rollout_rs *b)
{
	if (a->revision != b->revision)
		return a->revision < b->revision ? -1 : 1;
	return by_created(a, b);
}

typedef int (*rs_cmp_fn)(const struct rollout_rs *, const struct rollout_rs *);

/*
 * A stable insertion sort of pointers: a Deployment has a handful of
 * ReplicaSets (revisionHistoryLimit keeps 10 by default).
 */
static void sort_rs(struct rollout_rs **v, size_t n, rs_cmp_fn cmp)
{
	for (size_t i = 1; i < n; i++) {
		struct rollout_rs *x = v[i];
		size_t j = i;

		for (; j > 0 && cmp(v[j - 1], x) > 0; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* The entries that exist, or (old_only) the old ones, into a new array. */
static struct rollout_rs **collect(struct rollout_rs *rs, size_t nr,
				   bool old_only, bool active_only, size_t *n)
{
	struct rollout_rs **v =
		xcalloc(nr ? nr : 1, sizeof(struct rollout_rs *));

	*n = 0;
	for (size_t i = 0; i < nr; i++) {
		if (!rs[i].exists && !rs[i].create)
			continue;
		if (old_only && rs[i].is_new)
			continue;
		if (active_only && rs[i].scale_to <= 0)
			continue;
		v[(*n)++] = &rs[i];
	}
	return v;
}

int64_t rollout_max_old_revision(const struct rollout_rs *rs, size_t nr)
{
	int64_t max = 0;

	for (size_t i = 0; i < nr; i++)
		if (!rs[i].is_new && rs[i].exists && rs[i].revision > max)
			max = rs[i].revision;
	return max;
}

const struct rollout_rs *rollout_find_revision(const struct rollout_rs *rs,
					       size_t nr, int64_t revision)
{
	const struct rollout_rs *max = NULL, *prev = NULL;

	for (size_t i = 0; i < nr; i++) {
		if (!rs[i].exists || rs[i].revision <= 0)
			continue;
		if (revision > 0 && rs[i].revision == revision)
			return &rs[i];
		if (!max || rs[i].revision > max->revision) {
			prev = max;
			max = &rs[i];
		} else if (rs[i].revision < max->revision &&
			   (!prev || rs[i].revision > prev->revision)) {
			prev = &rs[i];
		}
	}
	return revision > 0 ? NULL : prev;
}

void rollout_cleanup(const struct rollout_spec *d, struct rollout_rs *rs,
		     size_t nr)
{
	struct rollout_rs **v;
	size_t n = 0;
	int64_t diff;

	if (d->revision_history_limit < 0)
		return;
	v = xcalloc(nr ? nr : 1, sizeof(struct rollout_rs *));
	for (size_t i = 0; i < nr; i++)
		if (!rs[i].is_new && rs[i].exists && !rs[i].deleting)
			v[n++] = &rs[i];
	diff = (int64_t)n - d->revision_history_limit;
	sort_rs(v, n, by_revision);
	for (int64_t i = 0; i < diff; i++) {
		/* Like Kubernetes, one still in use counts but is kept. */
		if (v[i]->pods != 0 || v[i]->scale_to != 0 || v[i]->replicas)
			continue;
		v[i]->remove = true;
	}
	free(v);
}

/* ---- the step ---------------------------------------------------------- */

struct step {
	const struct rollout_spec *d;
	struct rollout_rs *rs;
	size_t nr;
	struct rollout_rs *new_rs;
	const struct rollout_status *status; /* may be NULL */
	struct rollout_plan *plan;
};

/*
 * scaleReplicaSet: sets the size and the replicas annotations; returns
 * whether the size changed (what Kubernetes calls "scaled").
 */
static bool scale(struct step *s, struct rollout_rs *rs, int32_t n)
{
	bool scaled;

	if (n < 0)
		n = 0;
	scaled = rs->scale_to != n;
	rs->scale_to = n;
	if (rs->exists &&
	    (n != rs->replicas || rs->desired_ann != s->plan->desired_ann ||
	     rs->max_ann != s->plan->max_ann))
		rs->write = true;
	if (scaled)
		s->plan->scaled = true;
	return scaled;
}

static int32_t sum_scale(struct rollout_rs **v, size_t n)
{
	int64_t t = 0;

	for (size_t i = 0; i < n; i++)
		t += v[i]->scale_to;
	return t > INT32_MAX ? INT32_MAX : (int32_t)t;
}

/* NewRSNewReplicas: how far the new ReplicaSet may grow now. */
static int32_t new_rs_new_replicas(struct step *s)
{
	const struct rollout_spec *d = s->d;
	struct rollout_rs **all;
	size_t n;
	int64_t current, max_total, up;

	if (d->strategy == ROLLOUT_RECREATE)
		return d->replicas;
	all = collect(s->rs, s->nr, false, false, &n);
	current = sum_scale(all, n);
	free(all);
	max_total = (int64_t)d->replicas + d->max_surge;
	if (current >= max_total)
		return s->new_rs->scale_to;
	up = max_total - current;
	if (up > d->replicas - s->new_rs->scale_to)
		up = d->replicas - s->new_rs->scale_to;
	return (int32_t)(s->new_rs->scale_to + up);
}

/* Creates the new ReplicaSet when it does not exist (getNewReplicaSet). */
static void create_new(struct step *s)
{
	struct rollout_rs *n = s->new_rs;

	if (n->exists || n->create)
		return;
	n->scale_to = 0;
	n->create = true;
	n->scale_to = new_rs_new_replicas(s);
	s->plan->new_created = true;
	if (n->scale_to)
		s->plan->scaled = true;
}

static bool is_scaling_event(struct step *s)
{
	for (size_t i = 0; i < s->nr; i++) {
		struct rollout_rs *rs = &s->rs[i];

		if (!rs->exists || rs->scale_to <= 0 || rs->desired_ann < 0)
			continue;
		if (rs->desired_ann != s->d->replicas)
			return true;
	}
	return false;
}

/* getReplicaSetFraction, with Go's math.Round (half away from zero). */
static int32_t rs_fraction(struct step *s, const struct rollout_rs *rs)
{
	const struct rollout_spec *d = s->d;
	int64_t dmax, before, num, size;

	if (d->replicas == 0)
		return -rs->scale_to;
	dmax = (int64_t)d->replicas + d->max_surge;
	before = rs->max_ann;
	if (before <= 0) {
		/* Someone removed the annotation: use the last total. */
		before = s->status ? s->status->replicas : 0;
		if (before == 0)
			return 0;
	}
	num = (int64_t)rs->scale_to * dmax;
	size = (2 * num + before) / (2 * before);
	return (int32_t)(size - rs->scale_to);
}

static int32_t proportion(struct step *s, const struct rollout_rs *rs,
			  int32_t to_add, int32_t added)
{
	int32_t fraction, allowed;

	if (rs->scale_to == 0 || to_add == 0 || to_add == added)
		return 0;
	fraction = rs_fraction(s, rs);
	allowed = to_add - added;
	if (to_add > 0)
		return fraction < allowed ? fraction : allowed;
	return fraction > allowed ? fraction : allowed;
}

/* The controller's scale(): a scaling event or a paused Deployment. */
static void scale_path(struct step *s)
{
	const struct rollout_spec *d = s->d;
	struct rollout_rs *target = NULL, *newest_old = NULL, *n = s->new_rs;
	struct rollout_rs **all;
	size_t nall = 0, nactive = 0;
	int32_t *sizes, to_add, added = 0;

	for (size_t i = 0; i < s->nr; i++) {
		struct rollout_rs *rs = &s->rs[i];

		if (!rs->exists)
			continue;
		nall++;
		if (rs->scale_to > 0) {
			nactive++;
			target = rs;
		}
		if (!rs->is_new &&
		    (!newest_old || by_created(rs, newest_old) > 0))
			newest_old = rs;
	}
	if (nall == 0)
		return;
	/* FindActiveOrLatest: one active, or none active. */
	if (nactive <= 1) {
		if (nactive == 0)
			target = n->exists ? n : newest_old;
		if (target->scale_to != d->replicas)
			scale(s, target, d->replicas);
		return;
	}
	/* The new ReplicaSet is saturated: old ones go to 0. */
	if (n->exists && n->desired_ann == d->replicas &&
	    n->scale_to == d->replicas && n->available == d->replicas) {
		for (size_t i = 0; i < s->nr; i++)
			if (!s->rs[i].is_new && s->rs[i].exists &&
			    s->rs[i].scale_to > 0)
				scale(s, &s->rs[i], 0);
		return;
	}
	if (d->strategy != ROLLOUT_ROLLING_UPDATE)
		return;
	all = collect(s->rs, s->nr, false, true, &nactive);
	to_add = (d->replicas > 0 ? d->replicas + d->max_surge : 0) -
		 sum_scale(all, nactive);
	if (to_add > 0)
		sort_rs(all, nactive, by_size_newer);
	else if (to_add < 0)
		sort_rs(all, nactive, by_size_older);
	sizes = xcalloc(nactive, sizeof(*sizes));
	for (size_t i = 0; i < nactive; i++) {
		int32_t p = proportion(s, all[i], to_add, added);

		sizes[i] = all[i]->scale_to + p;
		added += p;
	}
	/* Leftovers go to the largest. */
	if (to_add != 0) {
		sizes[0] += to_add - added;
		if (sizes[0] < 0)
			sizes[0] = 0;
	}
	for (size_t i = 0; i < nactive; i++)
		scale(s, all[i], sizes[i]);
	free(sizes);
	free(all);
}

/* reconcileNewReplicaSet. */
static bool reconcile_new(struct step *s)
{
	const struct rollout_spec *d = s->d;
	struct rollout_rs *n = s->new_rs;

	if (n->scale_to == d->replicas)
		return false;
	if (n->scale_to > d->replicas)
		return scale(s, n, d->replicas);
	return scale(s, n, new_rs_new_replicas(s));
}

/* cleanupUnhealthyReplicas: old replicas that are not available go first. */
static int32_t cleanup_unhealthy(struct step *s, struct rollout_rs **old,
				 size_t nold, int32_t max_cleanup)
{
	int32_t total = 0;

	for (size_t i = 0; i < nold; i++) {
		struct rollout_rs *rs = old[i];
		int32_t unhealthy = rs->scale_to - rs->available, n;

		if (total >= max_cleanup)
			break;
		/*
		 * Kubernetes skips only scale_to == available; more
		 * available than wanted (status lagging a scale-down) is
		 * an error there, nothing to clean up here.
		 */
		if (rs->scale_to == 0 || unhealthy <= 0)
			continue;
		n = max_cleanup - total < unhealthy ? max_cleanup - total
						    : unhealthy;
		scale(s, rs, rs->scale_to - n);
		total += n;
	}
	return total;
}

/* scaleDownOldReplicaSetsForRollingUpdate. */
static int32_t scale_down_old(struct step *s, struct rollout_rs **old,
			      size_t nold)
{
	const struct rollout_spec *d = s->d;
	int64_t available = s->new_rs->available, min_available, to_scale;
	int64_t total = 0;

	/*
	 * Available pods of the new and the active old ReplicaSets only: an
	 * inactive one whose status still shows pods does not count.
	 */
	for (size_t i = 0; i < nold; i++)
		available += old[i]->available;
	min_available = (int64_t)d->replicas - d->max_unavailable;
	if (available <= min_available)
		return 0;
	to_scale = available - min_available;
	for (size_t i = 0; i < nold; i++) {
		struct rollout_rs *rs = old[i];
		int64_t n;

		if (total >= to_scale)
			break;
		if (rs->scale_to == 0)
			continue;
		n = rs->scale_to < to_scale - total ? rs->scale_to
						    : to_scale - total;
		scale(s, rs, (int32_t)(rs->scale_to - n));
		total += n;
	}
	return (int32_t)total;
}

/* reconcileOldReplicaSets. */
static bool reconcile_old(struct step *s)
{
	const struct rollout_spec *d = s->d;
	struct rollout_rs **old, **all;
	size_t nold, nall;
	int64_t max_down;
	int32_t cleaned, down;

	old = collect(s->rs, s->nr, true, true, &nold);
	if (sum_scale(old, nold) == 0) {
		free(old);
		return false;
	}
	all = collect(s->rs, s->nr, false, false, &nall);
	max_down = (int64_t)sum_scale(all, nall) -
		   ((int64_t)d->replicas - d->max_unavailable) -
		   ((int64_t)s->new_rs->scale_to - s->new_rs->available);
	free(all);
	if (max_down <= 0) {
		free(old);
		return false;
	}
	sort_rs(old, nold, by_created);
	cleaned = cleanup_unhealthy(s, old, nold,
				    max_down > INT32_MAX ? INT32_MAX
							 : (int32_t)max_down);
	down = scale_down_old(s, old, nold);
	free(old);
	return cleaned + down > 0;
}

static void rolling_path(struct step *s)
{
	create_new(s);
	if (reconcile_new(s))
		return;
	if (reconcile_old(s))
		return;
	if (s->status && rollout_complete(s->d, s->status))
		rollout_cleanup(s->d, s->rs, s->nr);
}

static void recreate_path(struct step *s)
{
	bool down = false;

	for (size_t i = 0; i < s->nr; i++) {
		struct rollout_rs *rs = &s->rs[i];

		if (!rs->is_new && rs->exists && rs->scale_to > 0)
			down |= scale(s, rs, 0);
	}
	if (down)
		return;
	for (size_t i = 0; i < s->nr; i++) {
		struct rollout_rs *rs = &s->rs[i];

		if (!rs->is_new && rs->exists && (rs->pods || rs->running)) {
			s->plan->waiting_for_old_pods = true;
			return;
		}
	}
	create_new(s);
	scale(s, s->new_rs, s->d->replicas);
	if (s->status && rollout_complete(s->d, s->status))
		rollout_cleanup(s->d, s->rs, s->nr);
}

int rollout_step(const struct rollout_spec *d, struct rollout_rs *rs, size_t nr,
		 const struct rollout_status *status, struct rollout_plan *plan)
{
	struct step s = { d, rs, nr, NULL, status, plan };

	for (size_t i = 0; i < nr; i++) {
		if (!rs[i].is_new)
			continue;
		if (s.new_rs)
			return -EINVAL;
		s.new_rs = &rs[i];
	}
	if (!s.new_rs)
		return -EINVAL;
	memset(plan, 0, sizeof(*plan));
	plan->desired_ann = d->replicas;
	plan->max_ann = d->replicas + d->max_surge;
	plan->revision = rollout_max_old_revision(rs, nr) + 1;
	for (size_t i = 0; i < nr; i++) {
		if (!rs[i].exists)
			rs[i].replicas = rs[i].pods = rs[i].running =
				rs[i].ready = rs[i].available = 0;
		rs[i].scale_to = rs[i].replicas;
		rs[i].write = rs[i].write_revision = false;
		rs[i].create = rs[i].remove = false;
	}
	/* getNewReplicaSet: the new one takes the newest revision. */
	if (s.new_rs->exists && s.new_rs->revision < plan->revision)
		s.new_rs->write_revision = true;

	if (d->paused || is_scaling_event(&s)) {
		plan->path = ROLLOUT_PATH_SCALE;
		scale_path(&s);
		if (d->paused)
			rollout_cleanup(d, rs, nr);
	} else if (d->strategy == ROLLOUT_RECREATE) {
		plan->path = ROLLOUT_PATH_RECREATE;
		recreate_path(&s);
	} else {
		plan->path = ROLLOUT_PATH_ROLLING;
		rolling_path(&s);
	}
	return 0;
}

/* ---- status ------------------------------------------------------------ */

static const char *cond_status_name(enum rollout_cond_status st)
{
	switch (st) {
	case ROLLOUT_COND_TRUE:
		return "True";
	case ROLLOUT_COND_FALSE:
		return "False";
	case ROLLOUT_COND_UNKNOWN:
		return "Unknown";
	default:
		return NULL;
	}
}

static void cond_from_json(struct rollout_cond *c, const json_t *j)
{
	const char *st = sm_json_get_str(j, "status");
	const char *reason = sm_json_get_str(j, "reason");
	const char *msg = sm_json_get_str(j, "message");
	const char *t;

	memset(c, 0, sizeof(*c));
	if (!st)
		return;
	c->status = !strcmp(st, "True")	   ? ROLLOUT_COND_TRUE
		    : !strcmp(st, "False") ? ROLLOUT_COND_FALSE
					   : ROLLOUT_COND_UNKNOWN;
	snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "");
	snprintf(c->message, sizeof(c->message), "%s", msg ? msg : "");
	t = sm_json_get_str(j, "lastUpdateTime");
	if (!t || rollout_parse_time(t, &c->last_update_s))
		c->last_update_s = 0;
	t = sm_json_get_str(j, "lastTransitionTime");
	if (!t || rollout_parse_time(t, &c->last_transition_s))
		c->last_transition_s = 0;
}

void rollout_status_from_json(struct rollout_status *s, const json_t *status)
{
	json_t *conds = json_object_get(status, "conditions");
	json_t *c;
	size_t i;

	memset(s, 0, sizeof(*s));
	if (!json_is_object(status))
		return;
	s->observed_generation = int_or(status, "observedGeneration", 0);
	s->replicas = int_or(status, "replicas", 0);
	s->updated = int_or(status, "updatedReplicas", 0);
	s->ready = int_or(status, "readyReplicas", 0);
	s->available = int_or(status, "availableReplicas", 0);
	s->unavailable = int_or(status, "unavailableReplicas", 0);
	json_array_foreach (conds, i, c) {
		const char *type = sm_json_get_str(c, "type");

		if (type && !strcmp(type, "Available"))
			cond_from_json(&s->available_cond, c);
		else if (type && !strcmp(type, "Progressing"))
			cond_from_json(&s->progressing_cond, c);
	}
}

static json_t *time_json(int64_t t)
{
	char buf[SM_TIME_RFC3339_LEN];

	if (t < 0 ||
	    sm_time_rfc3339((uint64_t)t * 1000000000u, 0, buf, sizeof(buf)))
		return json_null();
	return json_string(buf);
}

static json_t *cond_to_json(const char *type, const struct rollout_cond *c)
{
	return json_pack("{s:s, s:s, s:o, s:o, s:s, s:s}", "type", type,
			 "status", cond_status_name(c->status),
			 "lastUpdateTime", time_json(c->last_update_s),
			 "lastTransitionTime", time_json(c->last_transition_s),
			 "reason", c->reason, "message", c->message);
}

static void set_count(json_t *o, const char *key, int64_t v)
{
	/* Kubernetes leaves zero counts out (omitempty). */
	if (v)
		json_object_set_new(o, key, json_integer(v));
}

json_t *rollout_status_to_json(const struct rollout_status *s)
{
	json_t *o = json_object(), *conds = json_array();

	set_count(o, "observedGeneration", s->observed_generation);
	set_count(o, "replicas", s->replicas);
	set_count(o, "updatedReplicas", s->updated);
	set_count(o, "readyReplicas", s->ready);
	set_count(o, "availableReplicas", s->available);
	set_count(o, "unavailableReplicas", s->unavailable);
	if (s->available_cond.status)
		json_array_append_new(
			conds, cond_to_json("Available", &s->available_cond));
	if (s->progressing_cond.status)
		json_array_append_new(
			conds,
			cond_to_json("Progressing", &s->progressing_cond));
	if (json_array_size(conds))
		json_object_set_new(o, "conditions", conds);
	else
		json_decref(conds);
	return o;
}

/*
 * SetDeploymentCondition: nothing changes when status and reason are the
 * same; the transition time is kept when only the reason changes.
 */
static void set_cond(struct rollout_cond *c, enum rollout_cond_status st,
		     const char *reason, const char *msg, int64_t now)
{
	if (c->status == st && !strcmp(c->reason, reason))
		return;
	if (c->status != st)
		c->last_transition_s = now;
	c->status = st;
	c->last_update_s = now;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	snprintf(c->message, sizeof(c->message), "%s", msg);
}

static bool has_deadline(const struct rollout_spec *d)
{
	return d->progress_deadline_seconds != ROLLOUT_NO_DEADLINE;
}

bool rollout_complete(const struct rollout_spec *d,
		      const struct rollout_status *s)
{
	return s->updated == d->replicas && s->replicas == d->replicas &&
	       s->available == d->replicas &&
	       s->observed_generation >= d->generation;
}

/* DeploymentProgressing: any count moved towards the goal. */
static bool progressing(const struct rollout_status *old,
			const struct rollout_status *s)
{
	return s->updated > old->updated ||
	       s->replicas - s->updated < old->replicas - old->updated ||
	       s->ready > old->ready || s->available > old->available;
}

/* DeploymentTimedOut, on the condition as it stands. */
static bool timed_out(const struct rollout_spec *d,
		      const struct rollout_cond *c, int64_t now)
{
	if (!has_deadline(d) || !c->status)
		return false;
	if (!strcmp(c->reason, "NewReplicaSetAvailable"))
		return false;
	if (!strcmp(c->reason, "ProgressDeadlineExceeded"))
		return true;
	return c->last_update_s + d->progress_deadline_seconds < now;
}

void rollout_status_compute(const struct rollout_spec *d,
			    const struct rollout_status *old,
			    const struct rollout_rs *rs, size_t nr,
			    const struct rollout_plan *plan, int64_t now_s,
			    struct rollout_status *out)
{
	struct rollout_status base = { 0 };
	const struct rollout_rs *n = NULL;
	struct rollout_cond *pc;
	char msg[ROLLOUT_MSG_MAX];
	const char *what = "Deployment", *subject = d->name ? d->name : "";
	int64_t spec_total = 0;

	if (old)
		base = *old;
	for (size_t i = 0; i < nr; i++)
		if (rs[i].is_new && (rs[i].exists || rs[i].create))
			n = &rs[i];
	if (n) {
		what = "ReplicaSet";
		subject = n->name ? n->name : "";
	}
	pc = &base.progressing_cond;

	/* checkPausedConditions, then getNewReplicaSet's conditions. */
	if (has_deadline(d) && strcmp(pc->reason, "ProgressDeadlineExceeded")) {
		bool paused_cond =
			pc->status && !strcmp(pc->reason, "DeploymentPaused");

		if (d->paused && !paused_cond)
			set_cond(pc, ROLLOUT_COND_UNKNOWN, "DeploymentPaused",
				 "Deployment is paused", now_s);
		else if (!d->paused && paused_cond)
			set_cond(pc, ROLLOUT_COND_UNKNOWN, "DeploymentResumed",
				 "Deployment is resumed", now_s);
	}
	if (has_deadline(d) && n && plan && plan->new_created) {
		snprintf(msg, sizeof(msg), "Created new replica set \"%s\"",
			 subject);
		set_cond(pc, ROLLOUT_COND_TRUE, "NewReplicaSetCreated", msg,
			 now_s);
	} else if (has_deadline(d) && n && !pc->status) {
		snprintf(msg, sizeof(msg), "Found new replica set \"%s\"",
			 subject);
		set_cond(pc, ROLLOUT_COND_TRUE, "FoundNewReplicaSet", msg,
			 now_s);
	}

	/* calculateStatus. */
	memset(out, 0, sizeof(*out));
	out->observed_generation = d->generation;
	for (size_t i = 0; i < nr; i++) {
		/* One created by this step counts with its spec only. */
		if (!rs[i].exists && !rs[i].create)
			continue;
		out->replicas += rs[i].pods;
		out->ready += rs[i].ready;
		out->available += rs[i].available;
		spec_total += rs[i].scale_to;
		if (rs[i].is_new)
			out->updated += rs[i].pods;
	}
	out->unavailable = spec_total - out->available > 0
				   ? (int32_t)(spec_total - out->available)
				   : 0;
	out->available_cond = base.available_cond;
	out->progressing_cond = base.progressing_cond;
	if (out->available >= d->replicas - d->max_unavailable)
		set_cond(&out->available_cond, ROLLOUT_COND_TRUE,
			 "MinimumReplicasAvailable",
			 "Deployment has minimum availability.", now_s);
	else
		set_cond(&out->available_cond, ROLLOUT_COND_FALSE,
			 "MinimumReplicasUnavailable",
			 "Deployment does not have minimum availability.",
			 now_s);
	if (!has_deadline(d)) {
		memset(&out->progressing_cond, 0,
		       sizeof(out->progressing_cond));
		return;
	}
	/* A scaling event or a pause (sync()) estimates no progress. */
	if (plan && plan->path == ROLLOUT_PATH_SCALE)
		return;

	/* syncRolloutStatus. */
	pc = &out->progressing_cond;
	if (out->replicas == out->updated && pc->status &&
	    !strcmp(pc->reason, "NewReplicaSetAvailable"))
		return;
	if (rollout_complete(d, out)) {
		snprintf(msg, sizeof(msg),
			 "%s \"%s\" has successfully progressed.", what,
			 subject);
		set_cond(pc, ROLLOUT_COND_TRUE, "NewReplicaSetAvailable", msg,
			 now_s);
	} else if (progressing(&base, out)) {
		int64_t transition = pc->status == ROLLOUT_COND_TRUE
					     ? pc->last_transition_s
					     : now_s;

		/* Same reason again still moves lastUpdateTime. */
		snprintf(pc->message, sizeof(pc->message),
			 "%s \"%s\" is progressing.", what, subject);
		snprintf(pc->reason, sizeof(pc->reason), "ReplicaSetUpdated");
		pc->status = ROLLOUT_COND_TRUE;
		pc->last_update_s = now_s;
		pc->last_transition_s = transition;
	} else if (timed_out(d, pc, now_s)) {
		snprintf(msg, sizeof(msg),
			 "%s \"%s\" has timed out progressing.", what, subject);
		set_cond(pc, ROLLOUT_COND_FALSE, "ProgressDeadlineExceeded",
			 msg, now_s);
	}
}

int64_t rollout_recheck_at(const struct rollout_spec *d,
			   const struct rollout_status *s)
{
	const struct rollout_cond *c = &s->progressing_cond;

	if (!has_deadline(d) || !c->status || rollout_complete(d, s))
		return 0;
	if (!strcmp(c->reason, "NewReplicaSetAvailable") ||
	    !strcmp(c->reason, "ProgressDeadlineExceeded"))
		return 0;
	return c->last_update_s + d->progress_deadline_seconds + 1;
}

int rollout_status_check(const struct rollout_spec *d,
			 const struct rollout_status *s, struct sm_buf *out)
{
	struct sm_buf scratch = SM_BUF_INIT(1024);
	struct sm_buf *b = out ? out : &scratch;
	const char *name = d->name ? d->name : "";
	int r = 0;

	if (d->generation > s->observed_generation) {
		sm_buf_adds(b, "Waiting for deployment spec update to be "
			       "observed...");
	} else if (s->progressing_cond.status &&
		   !strcmp(s->progressing_cond.reason,
			   "ProgressDeadlineExceeded")) {
		sm_buf_addf(b,
			    "deployment \"%s\" exceeded its progress deadline",
			    name);
		r = -ETIMEDOUT;
	} else if (s->updated < d->replicas) {
		sm_buf_addf(b,
			    "Waiting for deployment \"%s\" rollout to finish: "
			    "%d out of %d new replicas have been updated...",
			    name, s->updated, d->replicas);
	} else if (s->replicas > s->updated) {
		sm_buf_addf(b,
			    "Waiting for deployment \"%s\" rollout to finish: "
			    "%d old replicas are pending termination...",
			    name, s->replicas - s->updated);
	} else if (s->available < s->updated) {
		sm_buf_addf(b,
			    "Waiting for deployment \"%s\" rollout to finish: "
			    "%d of %d updated replicas are available...",
			    name, s->available, s->updated);
	} else {
		sm_buf_addf(b, "deployment \"%s\" successfully rolled out",
			    name);
		r = 1;
	}
	sm_buf_release(&scratch);
	return r;
}

/* ---- pods -------------------------------------------------------------- */

bool rollout_available(bool ready, int64_t ready_since_s,
		       int32_t min_ready_seconds, int64_t now_s)
{
	if (!ready)
		return false;
	if (min_ready_seconds <= 0)
		return true;
	return ready_since_s > 0 && ready_since_s + min_ready_seconds < now_s;
}

bool rollout_pod_available(const json_t *pod, int32_t min_ready_seconds,
			   int64_t now_s)
{
	json_t *conds = sm_json_get_path(pod, "status.conditions");
	json_t *c;
	size_t i;

	json_array_foreach (conds, i, c) {
		const char *type = sm_json_get_str(c, "type");
		const char *st = sm_json_get_str(c, "status");
		const char *t = sm_json_get_str(c, "lastTransitionTime");
		int64_t since = 0;

		if (!type || strcmp(type, "Ready"))
			continue;
		if (!t || rollout_parse_time(t, &since))
			since = 0;
		return rollout_available(st && !strcmp(st, "True"), since,
					 min_ready_seconds, now_s);
	}
	return false;
}

int rollout_parse_time(const char *s, int64_t *out)
{
	return sm_time_parse_rfc3339_sec(s, out, NULL);
}

/* ---- the pod-template-hash and names ------------------------------------ */

static uint32_t fnv1a32(uint32_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

json_t *rollout_template_strip_hash(const json_t *tmpl)
{
	json_t *copy = json_deep_copy(tmpl);
	json_t *labels = sm_json_get_path(copy, "metadata.labels");

	if (!copy)
		return json_null();
	if (json_is_object(labels)) {
		json_object_del(labels, ROLLOUT_HASH_LABEL);
		/* Go's semantic equality sees no map and an empty one alike. */
		if (json_object_size(labels) == 0)
			json_object_del(json_object_get(copy, "metadata"),
					"labels");
	}
	return copy;
}

bool rollout_template_equal(const json_t *a, const json_t *b)
{
	SM_AUTOJSON json_t *x = rollout_template_strip_hash(a);
	SM_AUTOJSON json_t *y = rollout_template_strip_hash(b);

	return json_equal(x, y);
}

void rollout_template_hash(const json_t *tmpl, const int32_t *collision_count,
			   const char *extra, char out[ROLLOUT_HASH_MAX + 1])
{
	/* rand.SafeEncodeString's alphabet. */
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	SM_AUTOJSON json_t *t = rollout_template_strip_hash(tmpl);
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	uint32_t h = 2166136261u;
	char dec[ROLLOUT_HASH_MAX + 1];
	int len;

	sm_json_dump_canonical(t, &b);
	h = fnv1a32(h, b.buf ? b.buf : "", b.len);
	sm_buf_release(&b);
	if (collision_count) {
		uint32_t c = (uint32_t)*collision_count;
		unsigned char le[4] = { c & 0xff, (c >> 8) & 0xff,
					(c >> 16) & 0xff, c >> 24 };

		h = fnv1a32(h, le, sizeof(le));
	}
	if (extra)
		h = fnv1a32(h, extra, strlen(extra));
	len = snprintf(dec, sizeof(dec), "%" PRIu32, h);
	for (int i = 0; i < len; i++)
		out[i] = alphabet[(unsigned char)dec[i] %
				  (sizeof(alphabet) - 1)];
	out[len] = '\0';
}

int rollout_rs_name(const char *deployment, const char *hash,
		    struct sm_buf *out)
{
	return sm_buf_addf(out, "%s-%s", deployment, hash);
}

int rollout_pod_name(const char *rs_name, const struct sm_rand *r,
		     struct sm_buf *out)
{
	/* names.SimpleNameGenerator: 63 - 5 characters of prefix at most. */
	enum { MAX_PREFIX = 63 - ROLLOUT_POD_SUFFIX_LEN };
	char suffix[ROLLOUT_POD_SUFFIX_LEN + 1];
	size_t len = strlen(rs_name) + 1;

	if (len > MAX_PREFIX)
		len = MAX_PREFIX;
	sm_rand_name_suffix(r, suffix, ROLLOUT_POD_SUFFIX_LEN);
	if (strlen(rs_name) + 1 <= MAX_PREFIX)
		return sm_buf_addf(out, "%s-%s", rs_name, suffix);
	return sm_buf_addf(out, "%.*s%s", (int)len, rs_name, suffix);
}

/* ---- objects ----------------------------------------------------------- */

/* obj[key] as an object, created when absent or not an object (borrowed). */
static json_t *object_member(json_t *obj, const char *key)
{
	json_t *m = json_object_get(obj, key);

	if (json_is_object(m))
		return m;
	m = json_object();
	json_object_set_new(obj, key, m);
	return m;
}

static void set_int_str(json_t *obj, const char *key, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	json_object_set_new(obj, key, json_string(buf));
}

static json_t *copy_or_object(const json_t *j)
{
	return json_is_object(j) ? json_deep_copy(j) : json_object();
}

json_t *rollout_controller_ref(const json_t *obj, const char *api_version,
			       const char *kind)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *name = sm_json_get_str(meta, "name");
	const char *uid = sm_json_get_str(meta, "uid");
	json_t *ref = json_object();

	json_object_set_new(ref, "apiVersion", json_string(api_version));
	json_object_set_new(ref, "kind", json_string(kind));
	json_object_set_new(ref, "name", json_string(name ? name : ""));
	if (uid)
		json_object_set_new(ref, "uid", json_string(uid));
	json_object_set_new(ref, "controller", json_true());
	json_object_set_new(ref, "blockOwnerDeletion", json_true());
	return ref;
}

/* Annotations a ReplicaSet does not inherit (annotationsToSkip). */
static bool skip_annotation(const char *key)
{
	static const char *const skip[] = {
		"kubectl.kubernetes.io/last-applied-configuration",
		ROLLOUT_REVISION_ANN,
		"deployment.kubernetes.io/revision-history",
		ROLLOUT_DESIRED_ANN,
		ROLLOUT_MAX_ANN,
		"deprecated.deployment.rollback.to",
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(skip); i++)
		if (!strcmp(key, skip[i]))
			return true;
	return false;
}

json_t *rollout_new_rs_json(const json_t *deployment, const char *hash,
			    const struct rollout_plan *plan, int32_t replicas)
{
	json_t *dmeta = json_object_get(deployment, "metadata");
	json_t *dspec = json_object_get(deployment, "spec");
	const char *name = sm_json_get_str(dmeta, "name");
	const char *ns = sm_json_get_str(dmeta, "namespace");
	json_t *dann = json_object_get(dmeta, "annotations");
	json_t *tmpl = copy_or_object(json_object_get(dspec, "template"));
	json_t *tlabels =
		object_member(object_member(tmpl, "metadata"), "labels");
	json_t *selector = copy_or_object(json_object_get(dspec, "selector"));
	json_t *rs = json_object(), *meta = json_object(),
	       *spec = json_object();
	json_t *ann = json_object(), *v;
	struct sm_buf rs_name = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *key;
	int32_t min_ready = int_or(dspec, "minReadySeconds", 0);

	json_object_set_new(tlabels, ROLLOUT_HASH_LABEL, json_string(hash));
	json_object_set_new(object_member(selector, "matchLabels"),
			    ROLLOUT_HASH_LABEL, json_string(hash));
	json_object_foreach (dann, key, v) {
		if (!skip_annotation(key))
			json_object_set(ann, key, v);
	}
	set_int_str(ann, ROLLOUT_REVISION_ANN, plan->revision);
	set_int_str(ann, ROLLOUT_DESIRED_ANN, plan->desired_ann);
	set_int_str(ann, ROLLOUT_MAX_ANN, plan->max_ann);

	rollout_rs_name(name ? name : "", hash, &rs_name);
	json_object_set_new(meta, "name", json_string(sm_buf_cstr(&rs_name)));
	sm_buf_release(&rs_name);
	if (ns)
		json_object_set_new(meta, "namespace", json_string(ns));
	json_object_set_new(meta, "labels", json_deep_copy(tlabels));
	json_object_set_new(meta, "annotations", ann);
	json_object_set_new(
		meta, "ownerReferences",
		json_pack("[o]", rollout_controller_ref(deployment, "apps/v1",
							"Deployment")));

	json_object_set_new(spec, "replicas", json_integer(replicas));
	if (min_ready > 0)
		json_object_set_new(spec, "minReadySeconds",
				    json_integer(min_ready));
	json_object_set_new(spec, "selector", selector);
	json_object_set_new(spec, "template", tmpl);

	json_object_set_new(rs, "apiVersion", json_string("apps/v1"));
	json_object_set_new(rs, "kind", json_string("ReplicaSet"));
	json_object_set_new(rs, "metadata", meta);
	json_object_set_new(rs, "spec", spec);
	return rs;
}

json_t *rollout_rs_apply_json(const json_t *rs_obj, const struct rollout_rs *rs,
			      const struct rollout_plan *plan)
{
	json_t *copy = copy_or_object(rs_obj);
	json_t *meta = object_member(copy, "metadata");

	if (rs->write) {
		json_t *ann = object_member(meta, "annotations");

		json_object_set_new(object_member(copy, "spec"), "replicas",
				    json_integer(rs->scale_to));
		set_int_str(ann, ROLLOUT_DESIRED_ANN, plan->desired_ann);
		set_int_str(ann, ROLLOUT_MAX_ANN, plan->max_ann);
	}
	if (rs->write_revision)
		set_int_str(object_member(meta, "annotations"),
			    ROLLOUT_REVISION_ANN, plan->revision);
	return copy;
}

json_t *rollout_pod_json(const json_t *rs_obj, const char *pod_name)
{
	json_t *rmeta = json_object_get(rs_obj, "metadata");
	json_t *tmpl = sm_json_get_path(rs_obj, "spec.template");
	json_t *tmeta = json_object_get(tmpl, "metadata");
	const char *rs_name = sm_json_get_str(rmeta, "name");
	const char *ns = sm_json_get_str(rmeta, "namespace");
	json_t *pod = json_object(), *meta = json_object();
	json_t *ann = json_object_get(tmeta, "annotations");
	struct sm_buf gen = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	sm_buf_addf(&gen, "%s-", rs_name ? rs_name : "");
	json_object_set_new(meta, "name", json_string(pod_name));
	json_object_set_new(meta, "generateName",
			    json_string(sm_buf_cstr(&gen)));
	sm_buf_release(&gen);
	if (ns)
		json_object_set_new(meta, "namespace", json_string(ns));
	json_object_set_new(meta, "labels",
			    copy_or_object(json_object_get(tmeta, "labels")));
	if (json_is_object(ann))
		json_object_set_new(meta, "annotations", json_deep_copy(ann));
	json_object_set_new(
		meta, "ownerReferences",
		json_pack("[o]", rollout_controller_ref(rs_obj, "apps/v1",
							"ReplicaSet")));
	json_object_set_new(pod, "apiVersion", json_string("v1"));
	json_object_set_new(pod, "kind", json_string("Pod"));
	json_object_set_new(pod, "metadata", meta);
	json_object_set_new(pod, "spec",
			    copy_or_object(json_object_get(tmpl, "spec")));
	return pod;
}
