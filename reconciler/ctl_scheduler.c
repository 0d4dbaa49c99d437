/*
 * ctl_scheduler.c: the scheduler's loop around scheduler/ (pure).
 *
 * It keeps scheduler/'s cache current from the store: every Node, and
 * every pod bound to a node that has not ended. An unbound pod is queued;
 * its sync asks the scheduler for a node and binds it (spec.nodeName and
 * the PodScheduled condition, as the binding subresource does), with the
 * event Scheduled; or, when no node fits, sets PodScheduled=False with
 * reason Unschedulable and Kubernetes' message and records
 * FailedScheduling. Pods that fitted nowhere are tried again when a node
 * changes or a pod goes away.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "reconciler/ctl_internal.h"
#include "reconciler/objutil.h"
#include "scheduler/scheduler.h"

#include "common/banned.h"

struct sched_priv {
	struct sched *s;
	size_t unschedulable; /* pods that last fitted nowhere */
};

static struct sched *cache(const struct ctl *c)
{
	return ((struct sched_priv *)c->priv)->s;
}

static bool is_bound(const json_t *pod)
{
	const char *n =
		sm_json_get_str(json_object_get(pod, "spec"), "nodeName");

	return n && *n;
}

/* Sets the PodScheduled condition in a copy of pod's status (new). */
static json_t *with_condition(const json_t *pod, const char *status,
			      const char *reason, const char *message,
			      const char *now)
{
	json_t *st = json_deep_copy(json_object_get(pod, "status"));
	json_t *conds = json_array(), *old, *c;
	size_t i;

	if (!json_is_object(st)) {
		json_decref(st);
		st = json_pack("{s:s}", "phase", "Pending");
	}
	old = json_object_get(st, "conditions");
	json_array_foreach (old, i, c) {
		const char *t = sm_json_get_str(c, "type");

		if (t && !strcmp(t, "PodScheduled")) {
			const char *s = sm_json_get_str(c, "status");
			const char *r = sm_json_get_str(c, "reason");
			const char *m = sm_json_get_str(c, "message");

			/* Unchanged: keep the transition time. */
			if (s && !strcmp(s, status) &&
			    !strcmp(r ? r : "", reason ? reason : "") &&
			    !strcmp(m ? m : "", message ? message : ""))
				now = sm_json_get_str(c, "lastTransitionTime");
			continue;
		}
		json_array_append(conds, c);
	}
	json_t *cond = json_pack("{s:s, s:s, s:n, s:s}", "type", "PodScheduled",
				 "status", status, "lastProbeTime",
				 "lastTransitionTime", now ? now : "");
	if (reason)
		json_object_set_new(cond, "reason", json_string(reason));
	if (message)
		json_object_set_new(cond, "message", json_string(message));
	json_array_append_new(conds, cond);
	json_object_set_new(st, "conditions", conds);
	return st;
}

static int bind_pod(struct ctl *c, const json_t *pod, const char *node,
		    const char *now)
{
	struct sm_err err = SM_ERR_INIT;
	json_t *obj = json_deep_copy(pod);
	int rc;

	json_object_set_new(json_object_get(obj, "spec"), "nodeName",
			    json_string(node));
	json_object_set_new(obj, "status",
			    with_condition(pod, "True", NULL, NULL, now));
	/* Bind only the pod as it was read: a changed pod is looked at anew. */
	rc = store_update(c->env.store, obj, STORE_ALL, NULL, NULL, NULL, &err);
	if (rc < 0)
		sm_log(SM_LOG_WARN, "scheduler", "binding %s/%s to %s: %s",
		       store_obj_ns(pod), store_obj_name(pod), node,
		       err.nr ? err.items[0].msg : "failed");
	json_decref(obj);
	sm_err_release(&err);
	return rc;
}

static int sync_pod(void *ctx, const char *key)
{
	struct ctl *c = ctx;
	struct sched_priv *sp = c->priv;
	char ns[256], name[256], now[SM_TIME_RFC3339_LEN];
	struct sm_err err = SM_ERR_INIT;
	struct sm_buf why = SM_BUF_INIT(4096);
	struct sched_pod *p = NULL;
	const char *node = NULL;
	const json_t *pod;
	int rc = 0;

	ctl__split_key(key, ns, name);
	pod = store_get(c->env.store, "Pod", ns, name);
	if (!pod || is_bound(pod) || !pod_is_active(pod))
		return 0;
	sm_time_rfc3339(ctl__now_ns(c), 0, now, sizeof(now));
	if (sched_pod_compile(&p, pod, &err) < 0) {
		const char *msg = err.nr ? err.items[0].msg : "invalid pod";
		json_t *st =
			with_condition(pod, "False", "Unschedulable", msg, now);

		ctl__update_status(c, pod, st);
		json_decref(st);
		events_record(c->events, pod, EVENT_WARNING, "FailedScheduling",
			      "%s", msg);
		goto out;
	}
	if (sched_schedule(sp->s, p, &node, &why, NULL) < 0) {
		json_t *st = with_condition(pod, "False", "Unschedulable",
					    sm_buf_cstr(&why), now);

		if (!json_equal(st, json_object_get(pod, "status"))) {
			events_record(c->events, pod, EVENT_WARNING,
				      "FailedScheduling", "%s",
				      sm_buf_cstr(&why));
			sp->unschedulable++;
		}
		ctl__update_status(c, pod, st);
		json_decref(st);
		goto out;
	}
	char *target = xstrdup(node);
	if (bind_pod(c, pod, target, now) == 0) {
		if (sched_assume(sp->s, p, target) == 0)
			p = NULL;
		events_record(c->events, pod, EVENT_NORMAL, "Scheduled",
			      "Successfully assigned %s/%s to %s", ns, name,
			      target);
	} else {
		rc = -EAGAIN;
	}
	free(target);
out:
	sched_pod_free(p);
	sm_buf_release(&why);
	sm_err_release(&err);
	return rc;
}

struct requeue {
	struct ctl *c;
	size_t n;
};

static int requeue_one(void *ctx, const json_t *pod)
{
	struct requeue *r = ctx;

	if (!is_bound(pod) && pod_is_active(pod)) {
		ctl__queue_obj(r->c, pod);
		r->n++;
	}
	return 0;
}

/* Something freed room or a node changed: try the waiting pods again. */
static void retry_unschedulable(struct ctl *c)
{
	struct sched_priv *sp = c->priv;
	struct requeue r = { c, 0 };

	if (!sp->unschedulable)
		return;
	sp->unschedulable = 0;
	store_list(c->env.store, "Pod", NULL, requeue_one, &r);
}

static void on_node(void *ctx, const struct store_event *ev)
{
	struct ctl *c = ctx;
	struct sm_err err = SM_ERR_INIT;

	if (ev->type == STORE_DELETED)
		sched_node_remove(cache(c), store_obj_name(ev->obj));
	else if (sched_node_set(cache(c), ev->obj, &err) < 0)
		sm_log(SM_LOG_WARN, "scheduler", "node %s: %s",
		       store_obj_name(ev->obj),
		       err.nr ? err.items[0].msg : "not usable");
	sm_err_release(&err);
	retry_unschedulable(c);
}

/* Accounts a bound pod the cache does not know yet (bound elsewhere). */
static void account(struct ctl *c, const json_t *pod)
{
	struct sched_pod *p = NULL;

	if (sched_pod_node(cache(c), store_obj_ns(pod), store_obj_name(pod)))
		return;
	if (sched_pod_compile(&p, pod, NULL) == 0 &&
	    sched_assume(cache(c), p,
			 sm_json_get_str(json_object_get(pod, "spec"),
					 "nodeName")) < 0)
		sched_pod_free(p);
}

static void on_pod(void *ctx, const struct store_event *ev)
{
	struct ctl *c = ctx;
	const json_t *pod = ev->obj;

	if (ev->type == STORE_DELETED || pod_is_terminal(pod)) {
		if (sched_forget(cache(c), store_obj_ns(pod),
				 store_obj_name(pod)) == 0)
			retry_unschedulable(c);
		return;
	}
	if (is_bound(pod))
		account(c, pod);
	else if (pod_is_active(pod))
		ctl__queue_obj(c, pod);
}

static void priv_free(void *p)
{
	struct sched_priv *sp = p;

	sched_free(sp->s);
	free(sp);
}

static int seed_node(void *ctx, const json_t *node)
{
	sched_node_set(cache(ctx), node, NULL);
	return 0;
}

static int seed_pod(void *ctx, const json_t *pod)
{
	if (is_bound(pod) && !pod_is_terminal(pod))
		account(ctx, pod);
	return 0;
}

struct ctl *ctl_scheduler_new(const struct ctl_env *env)
{
	struct ctl *c = ctl__new(env, "default-scheduler", "Pod", sync_pod);
	struct sched_priv *sp = xcalloc(1, sizeof(*sp));
	struct sched_config cfg = SCHED_CONFIG_INIT;

	sp->s = sched_new(&cfg);
	c->priv = sp;
	c->priv_free = priv_free;
	store_list(env->store, "Node", NULL, seed_node, c);
	store_list(env->store, "Pod", NULL, seed_pod, c);
	ctl__watch(c, "Node", on_node);
	ctl__watch(c, "Pod", on_pod);
	ctl__start(c);
	return c;
}
