/*
 * statefulset.c: the StatefulSet controller's decisions. See statefulset.h.
 *
 * The order of the checks is Kubernetes' updateStatefulSet: the wanted
 * ordinals first (finished pods deleted, missing ones created, OrderedReady
 * stopping at the first pod that is not settled), then condemned pods
 * (highest first), then one rolling-update deletion.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "reconciler/statefulset.h"
#include "reconciler/rollout.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "common/banned.h"

static int32_t int_or(const json_t *obj, const char *key, int32_t deflt)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		return deflt;
	if (json_integer_value(v) > INT32_MAX)
		return INT32_MAX;
	if (json_integer_value(v) < 0)
		return 0;
	return (int32_t)json_integer_value(v);
}

void sts_spec_from_json(struct sts_spec *s, const json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_t *spec = json_object_get(obj, "spec");
	json_t *status = json_object_get(obj, "status");
	json_t *strategy = json_object_get(spec, "updateStrategy");
	const char *policy = sm_json_get_str(spec, "podManagementPolicy");
	const char *type = sm_json_get_str(strategy, "type");

	memset(s, 0, sizeof(*s));
	s->name = sm_json_get_str(meta, "name");
	s->generation = int_or(meta, "generation", 0);
	s->replicas = int_or(spec, "replicas", 1);
	s->policy = policy && !strcmp(policy, "Parallel") ? STS_PARALLEL
							  : STS_ORDERED_READY;
	s->update = type && !strcmp(type, "OnDelete") ? STS_ON_DELETE
						      : STS_ROLLING_UPDATE;
	s->partition = int_or(json_object_get(strategy, "rollingUpdate"),
			      "partition", 0);
	s->current_revision = sm_json_get_str(status, "currentRevision");
	s->update_revision = sm_json_get_str(status, "updateRevision");
}

int32_t sts_pod_ordinal(const char *sts, const char *pod)
{
	size_t n = strlen(sts);
	const char *p;
	int64_t v = 0;

	if (!pod || strncmp(pod, sts, n) || pod[n] != '-' || !pod[n + 1])
		return -1;
	/* Kubernetes' regexp is "(.*)-([0-9]+)$": digits only, no sign. */
	for (p = pod + n + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
		if (v > INT32_MAX)
			return -1;
	}
	return (int32_t)v;
}

int sts_pod_from_json(struct sts_pod *p, const json_t *pod, const char *sts)
{
	json_t *meta = json_object_get(pod, "metadata");
	json_t *del = json_object_get(meta, "deletionTimestamp");
	const char *phase =
		sm_json_get_str(json_object_get(pod, "status"), "phase");
	json_t *conds = sm_json_get_path(pod, "status.conditions");
	json_t *c;
	size_t i;

	memset(p, 0, sizeof(*p));
	p->ordinal = sts_pod_ordinal(sts, sm_json_get_str(meta, "name"));
	if (p->ordinal < 0)
		return -EINVAL;
	p->revision = sm_json_get_str(json_object_get(meta, "labels"),
				      STS_REVISION_LABEL);
	p->running = phase && !strcmp(phase, "Running");
	p->finished = phase &&
		      (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));
	p->terminating = del && !json_is_null(del);
	json_array_foreach (conds, i, c) {
		const char *type = sm_json_get_str(c, "type");
		const char *st = sm_json_get_str(c, "status");

		if (type && !strcmp(type, "Ready"))
			p->ready = st && !strcmp(st, "True");
	}
	return 0;
}

void sts_plan_release(struct sts_plan *p)
{
	free(p->items);
	p->items = NULL;
	p->nr = p->alloc = 0;
	p->blocked_at = -1;
	p->duplicates = 0;
}

static void add(struct sts_plan *p, enum sts_verb verb, int32_t ordinal,
		const char *revision)
{
	if (p->nr == p->alloc) {
		p->alloc = p->alloc ? 2 * p->alloc : 8;
		p->items = xrealloc(p->items, p->alloc * sizeof(*p->items));
	}
	p->items[p->nr].verb = verb;
	p->items[p->nr].ordinal = ordinal;
	p->items[p->nr].revision = revision;
	p->nr++;
}

static int strcmp0(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static bool running_ready(const struct sts_pod *p)
{
	return p && p->running && p->ready;
}

/* isHealthy: Running, Ready and not on its way out. */
static bool healthy(const struct sts_pod *p)
{
	return running_ready(p) && !p->terminating;
}

static const char *current_rev(const struct sts_spec *s)
{
	return s->current_revision && *s->current_revision ? s->current_revision
							   : s->update_revision;
}

static int by_ordinal_desc(const void *a, const void *b)
{
	const struct sts_pod *x = *(const struct sts_pod *const *)a;
	const struct sts_pod *y = *(const struct sts_pod *const *)b;

	return x->ordinal < y->ordinal ? 1 : x->ordinal > y->ordinal ? -1 : 0;
}

struct slot {
	const struct sts_pod *pod; /* NULL: none exists */
	const char *created; /* revision of a pod created by this plan */
	bool deleted; /* deleted by this plan */
};

/*
 * The replica pass (processReplica for each wanted ordinal). Returns the
 * ordinal where OrderedReady must stop, or -1 to go on.
 */
static int32_t replicas_pass(const struct sts_spec *s, struct slot *slots,
			     int32_t n, struct sts_plan *plan)
{
	bool monotonic = s->policy == STS_ORDERED_READY;

	for (int32_t i = 0; i < n; i++) {
		const struct sts_pod *p = slots[i].pod;

		if (p && p->finished) {
			/* Re-created once it is gone. */
			if (!p->terminating) {
				add(plan, STS_DELETE, i, NULL);
				slots[i].deleted = true;
			}
			if (monotonic)
				return i;
			continue;
		}
		if (!p) {
			/* newVersionedStatefulSetPod. */
			const char *rev = s->update == STS_ROLLING_UPDATE &&
							  i < s->partition
						  ? current_rev(s)
						  : s->update_revision;

			add(plan, STS_CREATE, i, rev);
			slots[i].created = rev ? rev : "";
			if (monotonic)
				return i;
			continue;
		}
		if (monotonic && (p->terminating || !running_ready(p)))
			return i;
	}
	return -1;
}

void sts_decide(const struct sts_spec *s, const struct sts_pod *pods, size_t nr,
		struct sts_plan *plan)
{
	bool monotonic = s->policy == STS_ORDERED_READY;
	int32_t n = s->replicas > 0 ? s->replicas : 0;
	struct slot *slots = xcalloc(n ? (size_t)n : 1, sizeof(*slots));
	const struct sts_pod **condemned =
		xcalloc(nr ? nr : 1, sizeof(const struct sts_pod *));
	/* Stands for a wanted pod not created yet: it is never condemned. */
	static const struct sts_pod missing = { .ordinal = -1 };
	const struct sts_pod *first_unhealthy = NULL;
	size_t ncond = 0;
	int32_t i, update_min;

	plan->blocked_at = -1;
	for (size_t k = 0; k < nr; k++) {
		const struct sts_pod *p = &pods[k];
		bool dup = false;

		for (size_t j = 0; j < k; j++)
			dup |= pods[j].ordinal == p->ordinal;
		if (dup) {
			plan->duplicates++;
			continue;
		}
		if (p->ordinal >= 0 && p->ordinal < n)
			slots[p->ordinal].pod = p;
		else if (p->ordinal >= n)
			condemned[ncond++] = p;
	}
	qsort(condemned, ncond, sizeof(const struct sts_pod *),
	      by_ordinal_desc);

	/* The first unhealthy pod: a wanted one, else the lowest condemned. */
	for (i = 0; i < n && !first_unhealthy; i++)
		if (!healthy(slots[i].pod))
			first_unhealthy =
				slots[i].pod ? slots[i].pod : &missing;
	for (size_t k = ncond; k-- > 0 && !first_unhealthy;)
		if (!healthy(condemned[k]))
			first_unhealthy = condemned[k];

	plan->blocked_at = replicas_pass(s, slots, n, plan);
	if (plan->blocked_at >= 0)
		goto out;

	/* Condemned pods, highest ordinal first. */
	for (size_t k = 0; k < ncond; k++) {
		const struct sts_pod *p = condemned[k];

		if (p->terminating) {
			if (monotonic) {
				plan->blocked_at = p->ordinal;
				goto out;
			}
			continue;
		}
		if (monotonic && !running_ready(p) && p != first_unhealthy) {
			plan->blocked_at = p->ordinal;
			goto out;
		}
		add(plan, STS_DELETE, p->ordinal, NULL);
		if (monotonic)
			goto out;
	}

	if (s->update == STS_ON_DELETE)
		goto out;

	/* The rolling update: highest ordinal first, down to the partition. */
	update_min = s->partition > 0 ? s->partition : 0;
	for (i = n - 1; i >= update_min; i--) {
		const struct slot *sl = &slots[i];
		const char *rev = sl->pod ? sl->pod->revision : sl->created;
		bool terminating =
			sl->deleted || (sl->pod && sl->pod->terminating);

		if (strcmp0(rev, s->update_revision) && !terminating) {
			add(plan, STS_DELETE, i, NULL);
			goto out;
		}
		if (!healthy(sl->pod) || sl->created || sl->deleted)
			goto out;
	}
out:
	free(condemned);
	free(slots);
}

void sts_status_compute(const struct sts_spec *s, const struct sts_pod *pods,
			size_t nr, struct sts_status *out)
{
	const char *cur = current_rev(s);

	memset(out, 0, sizeof(*out));
	out->observed_generation = s->generation;
	out->current_revision = cur;
	out->update_revision = s->update_revision;
	for (size_t i = 0; i < nr; i++) {
		const struct sts_pod *p = &pods[i];

		out->replicas++;
		if (running_ready(p))
			out->ready++;
		if (p->terminating)
			continue;
		if (!strcmp0(p->revision, cur))
			out->current++;
		if (!strcmp0(p->revision, s->update_revision))
			out->updated++;
	}
	/* completeRollingUpdate. */
	if (s->update == STS_ROLLING_UPDATE && out->updated == s->replicas &&
	    out->ready == s->replicas && out->replicas == s->replicas) {
		out->current = out->updated;
		out->current_revision = s->update_revision;
	}
}

static void set_count(json_t *o, const char *key, int64_t v, bool always)
{
	if (v || always)
		json_object_set_new(o, key, json_integer(v));
}

json_t *sts_status_to_json(const struct sts_status *st)
{
	json_t *o = json_object();

	set_count(o, "observedGeneration", st->observed_generation, false);
	/* replicas is not omitempty in the StatefulSet API. */
	set_count(o, "replicas", st->replicas, true);
	set_count(o, "readyReplicas", st->ready, false);
	set_count(o, "currentReplicas", st->current, false);
	set_count(o, "updatedReplicas", st->updated, false);
	if (st->current_revision && *st->current_revision)
		json_object_set_new(o, "currentRevision",
				    json_string(st->current_revision));
	if (st->update_revision && *st->update_revision)
		json_object_set_new(o, "updateRevision",
				    json_string(st->update_revision));
	return o;
}

int sts_pod_name(const char *sts, int32_t ordinal, struct sm_buf *out)
{
	return sm_buf_addf(out, "%s-%d", sts, (int)ordinal);
}

int sts_claim_name(const char *claim, const char *sts, int32_t ordinal,
		   struct sm_buf *out)
{
	return sm_buf_addf(out, "%s-%s-%d", claim, sts, (int)ordinal);
}

int sts_revision_name(const char *sts, const json_t *tmpl,
		      const int32_t *collision_count, const char *extra,
		      struct sm_buf *out)
{
	char hash[ROLLOUT_HASH_MAX + 1];

	rollout_template_hash(tmpl, collision_count, extra, hash);
	return sm_buf_addf(out, "%s-%s", sts, hash);
}

static json_t *copy_or_object(const json_t *j)
{
	return json_is_object(j) ? json_deep_copy(j) : json_object();
}

json_t *sts_claim_json(const json_t *sts, const json_t *claim_tmpl,
		       int32_t ordinal)
{
	json_t *smeta = json_object_get(sts, "metadata");
	const char *sname = sm_json_get_str(smeta, "name");
	const char *ns = sm_json_get_str(smeta, "namespace");
	json_t *cmeta = json_object_get(claim_tmpl, "metadata");
	const char *cname = sm_json_get_str(cmeta, "name");
	json_t *match = sm_json_get_path(sts, "spec.selector.matchLabels");
	json_t *pvc = json_object(), *meta = json_object(), *labels, *v;
	json_t *ann = json_object_get(cmeta, "annotations");
	struct sm_buf name = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *key;

	sts_claim_name(cname ? cname : "", sname ? sname : "", ordinal, &name);
	json_object_set_new(meta, "name", json_string(sm_buf_cstr(&name)));
	sm_buf_release(&name);
	if (ns)
		json_object_set_new(meta, "namespace", json_string(ns));
	labels = copy_or_object(json_object_get(cmeta, "labels"));
	json_object_foreach (match, key, v) {
		json_object_set(labels, key, v);
	}
	json_object_set_new(meta, "labels", labels);
	if (json_is_object(ann))
		json_object_set_new(meta, "annotations", json_deep_copy(ann));
	json_object_set_new(pvc, "apiVersion", json_string("v1"));
	json_object_set_new(pvc, "kind", json_string("PersistentVolumeClaim"));
	json_object_set_new(pvc, "metadata", meta);
	json_object_set_new(
		pvc, "spec",
		copy_or_object(json_object_get(claim_tmpl, "spec")));
	return pvc;
}

json_t *sts_pod_json(const json_t *sts, const json_t *tmpl, int32_t ordinal,
		     const char *revision)
{
	json_t *smeta = json_object_get(sts, "metadata");
	const char *sname = sm_json_get_str(smeta, "name");
	const char *ns = sm_json_get_str(smeta, "namespace");
	const char *service =
		sm_json_get_str(json_object_get(sts, "spec"), "serviceName");
	json_t *claims = sm_json_get_path(sts, "spec.volumeClaimTemplates");
	json_t *tmeta = json_object_get(tmpl, "metadata");
	json_t *ann = json_object_get(tmeta, "annotations");
	json_t *pod = json_object(), *meta = json_object(), *labels, *spec;
	json_t *old_volumes, *volumes = json_array(), *c, *v;
	struct sm_buf name = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char index[16];
	size_t i, k;

	sts_pod_name(sname ? sname : "", ordinal, &name);
	snprintf(index, sizeof(index), "%d", (int)ordinal);
	json_object_set_new(meta, "name", json_string(sm_buf_cstr(&name)));
	if (ns)
		json_object_set_new(meta, "namespace", json_string(ns));
	labels = copy_or_object(json_object_get(tmeta, "labels"));
	json_object_set_new(labels, "statefulset.kubernetes.io/pod-name",
			    json_string(sm_buf_cstr(&name)));
	json_object_set_new(labels, "apps.kubernetes.io/pod-index",
			    json_string(index));
	if (revision)
		json_object_set_new(labels, STS_REVISION_LABEL,
				    json_string(revision));
	json_object_set_new(meta, "labels", labels);
	if (json_is_object(ann))
		json_object_set_new(meta, "annotations", json_deep_copy(ann));
	json_object_set_new(
		meta, "ownerReferences",
		json_pack("[o]", rollout_controller_ref(sts, "apps/v1",
							"StatefulSet")));

	spec = copy_or_object(json_object_get(tmpl, "spec"));
	json_object_set_new(spec, "hostname", json_string(sm_buf_cstr(&name)));
	if (service && *service)
		json_object_set_new(spec, "subdomain", json_string(service));
	/* updateStorage: the claims' volumes first, then the others. */
	json_array_foreach (claims, i, c) {
		const char *cname =
			json_string_value(sm_json_get_path(c, "metadata.name"));
		struct sm_buf claim = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		if (!cname)
			continue;
		sts_claim_name(cname, sname ? sname : "", ordinal, &claim);
		json_array_append_new(
			volumes, json_pack("{s:s, s:{s:s}}", "name", cname,
					   "persistentVolumeClaim", "claimName",
					   sm_buf_cstr(&claim)));
		sm_buf_release(&claim);
	}
	old_volumes = json_object_get(spec, "volumes");
	json_array_foreach (old_volumes, i, v) {
		const char *vname = sm_json_get_str(v, "name");
		bool replaced = false;

		json_array_foreach (claims, k, c) {
			json_t *n = sm_json_get_path(c, "metadata.name");

			replaced |= vname && json_is_string(n) &&
				    !strcmp(vname, json_string_value(n));
		}
		if (!replaced)
			json_array_append(volumes, v);
	}
	if (json_array_size(volumes))
		json_object_set_new(spec, "volumes", volumes);
	else
		json_decref(volumes);
	sm_buf_release(&name);

	json_object_set_new(pod, "apiVersion", json_string("v1"));
	json_object_set_new(pod, "kind", json_string("Pod"));
	json_object_set_new(pod, "metadata", meta);
	json_object_set_new(pod, "spec", spec);
	return pod;
}
