/*
 * ctl_node.c: node lifecycle, as Kubernetes' node lifecycle controller,
 * taint manager and pod garbage collector do it together.
 *
 * - An agent heartbeats by writing its Node's Ready condition (a new
 *   lastHeartbeatTime). The controller notes, on its own monotonic clock,
 *   when it last saw one, so clocks of other machines never matter.
 * - A node silent for longer than the grace period gets Ready=Unknown
 *   and the taints node.kubernetes.io/unreachable (NoSchedule and
 *   NoExecute). A node that heartbeats again loses them.
 * - A pod on a node with a NoExecute taint it does not tolerate is
 *   deleted (evicted) once its toleration time is over: the pod's own
 *   tolerationSeconds for that taint, else the eviction timeout. Its
 *   ReplicaSet makes a replacement at once, since a terminating pod is no
 *   longer a replica.
 * - Pods that are terminating on a node that is gone, or that carries
 *   the node.kubernetes.io/out-of-service taint (fenced, as in
 *   Kubernetes' non-graceful node shutdown), are removed for good: nothing
 *   runs them any more, and a StatefulSet may then start the ordinal
 *   elsewhere.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strmap.h"
#include "common/xalloc.h"
#include "reconciler/ctl_internal.h"
#include "reconciler/objutil.h"

#include "common/banned.h"

#define TAINT_UNREACHABLE "node.kubernetes.io/unreachable"
#define TAINT_NOT_READY "node.kubernetes.io/not-ready"
#define TAINT_OUT_OF_SERVICE "node.kubernetes.io/out-of-service"

struct node_seen {
	uint64_t seen_ms; /* monotonic, when the heartbeat last changed */
	char heartbeat[40]; /* the lastHeartbeatTime seen then */
};

struct node_priv {
	struct sm_strmap seen; /* name -> struct node_seen */
	uint64_t grace_ms;
	uint64_t eviction_ms;
};

static uint64_t mono_ms(const struct ctl *c)
{
	return sm_clock_monotonic_ns(c->env.clock) / 1000000;
}

static struct node_seen *seen_of(struct ctl *c, const char *name)
{
	struct node_priv *np = c->priv;
	struct node_seen *s = sm_strmap_get(&np->seen, name);

	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->seen_ms = mono_ms(c);
		sm_strmap_put(&np->seen, name, s, NULL);
	}
	return s;
}

static bool has_taint(const json_t *node, const char *key, const char *effect,
		      const char **added)
{
	json_t *taints = sm_json_get_path(node, "spec.taints");
	size_t i;
	json_t *t;

	json_array_foreach (taints, i, t) {
		const char *k = sm_json_get_str(t, "key");
		const char *e = sm_json_get_str(t, "effect");

		if (k && !strcmp(k, key) &&
		    (!effect || (e && !strcmp(e, effect)))) {
			if (added)
				*added = sm_json_get_str(t, "timeAdded");
			return true;
		}
	}
	return false;
}

/* Writes node's spec.taints with or without the unreachable pair. */
static void set_unreachable(struct ctl *c, const json_t *node, bool on,
			    const char *now)
{
	json_t *obj = json_deep_copy(node);
	json_t *spec = json_object_get(obj, "spec");
	json_t *old = json_object_get(spec, "taints");
	json_t *taints = json_array();
	size_t i;
	json_t *t;

	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(obj, "spec", spec);
	}
	json_array_foreach (old, i, t) {
		const char *k = sm_json_get_str(t, "key");

		if (!k || strcmp(k, TAINT_UNREACHABLE))
			json_array_append(taints, t);
	}
	if (on) {
		json_array_append_new(
			taints,
			json_pack("{s:s, s:s, s:s}", "key", TAINT_UNREACHABLE,
				  "effect", "NoSchedule", "timeAdded", now));
		json_array_append_new(taints,
				      json_pack("{s:s, s:s, s:s}", "key",
						TAINT_UNREACHABLE, "effect",
						"NoExecute", "timeAdded", now));
	}
	json_object_set_new(spec, "taints", taints);
	json_object_del(json_object_get(obj, "metadata"), "resourceVersion");
	store_update(c->env.store, obj, STORE_MAIN, NULL, NULL, NULL, NULL);
	json_decref(obj);
}

/* Marks node Ready=Unknown, as Kubernetes does for a silent kubelet. */
static void set_unknown(struct ctl *c, const json_t *node, const char *now)
{
	json_t *st = json_deep_copy(json_object_get(node, "status"));
	json_t *conds = json_object_get(st, "conditions");
	size_t i;
	json_t *cond;

	json_array_foreach (conds, i, cond) {
		json_object_set_new(cond, "status", json_string("Unknown"));
		json_object_set_new(cond, "reason",
				    json_string("NodeStatusUnknown"));
		json_object_set_new(
			cond, "message",
			json_string("Kubelet stopped posting node status."));
		json_object_set_new(cond, "lastTransitionTime",
				    json_string(now));
	}
	ctl__update_status(c, node, st);
	json_decref(st);
}

/*
 * How long pod tolerates a NoExecute taint with key: -1 for ever (a
 * toleration without tolerationSeconds), else seconds (default_s when the
 * pod has no toleration for it).
 */
struct not_ready {
	struct ctl *c;
	const char *node;
	const char *now;
};

/* Sets a pod's Ready and ContainersReady conditions to False. */
static int pod_not_ready(void *ctx, const json_t *pod)
{
	struct not_ready *nr = ctx;
	const char *n =
		sm_json_get_str(json_object_get(pod, "spec"), "nodeName");
	json_t *st, *conds, *cond;
	size_t i;

	if (!n || strcmp(n, nr->node) || !pod_is_active(pod))
		return 0;
	st = json_deep_copy(json_object_get(pod, "status"));
	conds = json_object_get(st, "conditions");
	json_array_foreach (conds, i, cond) {
		const char *t = sm_json_get_str(cond, "type");
		const char *v = sm_json_get_str(cond, "status");

		if (!t ||
		    (strcmp(t, "Ready") && strcmp(t, "ContainersReady")) ||
		    (v && !strcmp(v, "False")))
			continue;
		json_object_set_new(cond, "status", json_string("False"));
		json_object_set_new(cond, "reason",
				    json_string("NodeNotReady"));
		json_object_set_new(cond, "lastTransitionTime",
				    json_string(nr->now));
	}
	ctl__update_status(nr->c, pod, st);
	json_decref(st);
	return 0;
}

/*
 * Nothing vouches for the pods of a silent node any more: they are not
 * Ready (so no Service sends them traffic), as Kubernetes' node lifecycle
 * controller marks them. Their agent sets them right when it is back.
 */
static void mark_pods_not_ready(struct ctl *c, const char *node,
				const char *now)
{
	struct not_ready nr = { c, node, now };

	store_list(c->env.store, "Pod", NULL, pod_not_ready, &nr);
}

static int64_t tolerates_s(const json_t *pod, const char *key,
			   int64_t default_s, bool *tolerated)
{
	json_t *tols = sm_json_get_path(pod, "spec.tolerations");
	size_t i;
	json_t *t;

	*tolerated = false;
	json_array_foreach (tols, i, t) {
		const char *k = sm_json_get_str(t, "key");
		const char *op = sm_json_get_str(t, "operator");
		const char *e = sm_json_get_str(t, "effect");
		json_t *secs = json_object_get(t, "tolerationSeconds");

		if (k && *k && strcmp(k, key))
			continue;
		if ((!k || !*k) && (!op || strcmp(op, "Exists")))
			continue;
		if (e && *e && strcmp(e, "NoExecute"))
			continue;
		*tolerated = true;
		return json_is_integer(secs) ? json_integer_value(secs) : -1;
	}
	return default_s;
}

struct on_node {
	struct ctl *c;
	const char *node;
	const json_t *node_obj; /* NULL when the node is gone */
	uint64_t now_ns;
	uint64_t next_ms; /* earliest later eviction, 0: none */
};

static int pod_on_node(void *ctx, const json_t *pod)
{
	struct on_node *o = ctx;
	struct node_priv *np = o->c->priv;
	const char *n =
		sm_json_get_str(json_object_get(pod, "spec"), "nodeName");
	bool fenced;

	if (!n || strcmp(n, o->node))
		return 0;
	if (!o->node_obj) {
		/* Its node was deleted: nothing runs it (PodGC's rule). */
		store_delete(o->c->env.store, "Pod", store_obj_ns(pod),
			     store_obj_name(pod), false, 0, NULL, NULL, NULL,
			     NULL, NULL);
		return 0;
	}
	fenced =
		has_taint(o->node_obj, TAINT_OUT_OF_SERVICE, "NoExecute", NULL);
	if (obj_is_terminating(pod) || pod_is_terminal(pod)) {
		/* Nothing will finish its deletion: do it here. */
		if (fenced && obj_is_terminating(pod))
			store_delete(o->c->env.store, "Pod", store_obj_ns(pod),
				     store_obj_name(pod), false, 0, NULL, NULL,
				     NULL, NULL, NULL);
		return 0;
	}
	json_t *taints = sm_json_get_path(o->node_obj, "spec.taints");
	size_t i;
	json_t *t;
	json_array_foreach (taints, i, t) {
		const char *key = sm_json_get_str(t, "key");
		const char *effect = sm_json_get_str(t, "effect");
		const char *added = sm_json_get_str(t, "timeAdded");
		uint64_t since = o->now_ns;
		bool tolerated;

		if (!key || !effect || strcmp(effect, "NoExecute"))
			continue;
		int64_t secs = tolerates_s(pod, key, -2, &tolerated);
		uint64_t limit_ns;
		if (tolerated && secs < 0)
			continue; /* for ever */
		if (added)
			sm_time_parse_rfc3339(added, &since);
		limit_ns = tolerated ? (uint64_t)secs * 1000000000ULL
				     : np->eviction_ms * 1000000ULL;
		if (since + limit_ns <= o->now_ns) {
			events_record(o->c->events, pod, EVENT_NORMAL,
				      "TaintManagerEviction",
				      "Marking for deletion Pod %s/%s",
				      store_obj_ns(pod), store_obj_name(pod));
			obj_delete(o->c->env.store, pod, NULL);
			/* Fenced: no agent finishes it; remove it now. */
			if (fenced)
				store_delete(o->c->env.store, "Pod",
					     store_obj_ns(pod),
					     store_obj_name(pod), false, 0,
					     NULL, NULL, NULL, NULL, NULL);
			return 0;
		}
		uint64_t left = (since + limit_ns - o->now_ns) / 1000000 + 1;
		if (!o->next_ms || left < o->next_ms)
			o->next_ms = left;
	}
	return 0;
}

static int sync_node(void *ctx, const char *key)
{
	struct ctl *c = ctx;
	struct node_priv *np = c->priv;
	const char *name = key[0] == '/' ? key + 1 : key;
	const json_t *node = store_get(c->env.store, "Node", "", name);
	char now[SM_TIME_RFC3339_LEN];
	struct on_node o = { c, name, node, ctl__now_ns(c), 0 };

	/*
	 * With milliseconds: the taints' timeAdded starts the eviction
	 * timeout, which whole seconds would cut by up to 1 s of its 1 s.
	 */
	sm_time_rfc3339(o.now_ns, 1, now, sizeof(now));
	if (node) {
		struct node_seen *s = seen_of(c, name);
		uint64_t age = mono_ms(c) - s->seen_ms;
		const char *ready =
			sm_json_get_str(obj_condition(node, "Ready"), "status");
		bool silent = age >= np->grace_ms;

		if (silent && ready && strcmp(ready, "Unknown")) {
			sm_log(SM_LOG_INFO, "node-lifecycle",
			       "node %s: no heartbeat for %llu ms: "
			       "Ready=Unknown, tainted unreachable",
			       name, (unsigned long long)age);
			set_unknown(c, node, now);
			mark_pods_not_ready(c, name, now);
			events_record(
				c->events, node, EVENT_NORMAL, "NodeNotReady",
				"Node %s status is now: NodeNotReady", name);
		}
		bool tainted = has_taint(node, TAINT_UNREACHABLE, NULL, NULL);
		if (silent && !tainted)
			set_unreachable(c, node, true, now);
		else if (!silent && tainted && ready && !strcmp(ready, "True"))
			set_unreachable(c, node, false, now);
		if (!silent)
			controller_queue_after(c->q, key,
					       np->grace_ms - age + 1);
		node = store_get(c->env.store, "Node", "", name);
		o.node_obj = node;
	}
	store_list(c->env.store, "Pod", NULL, pod_on_node, &o);
	if (o.next_ms)
		controller_queue_after(c->q, key, o.next_ms);
	return 0;
}

static void on_node(void *ctx, const struct store_event *ev)
{
	struct ctl *c = ctx;
	const char *name = store_obj_name(ev->obj);
	const char *hb = sm_json_get_str(obj_condition(ev->obj, "Ready"),
					 "lastHeartbeatTime");
	struct node_seen *s = seen_of(c, name);

	if (ev->type != STORE_DELETED && hb && strcmp(hb, s->heartbeat)) {
		snprintf(s->heartbeat, sizeof(s->heartbeat), "%s", hb);
		s->seen_ms = mono_ms(c);
	}
	ctl__queue_obj(c, ev->obj);
}

/* A pod bound to a node that is gone or fenced is looked at too. */
static void on_pod(void *ctx, const struct store_event *ev)
{
	struct ctl *c = ctx;
	const char *n =
		sm_json_get_str(json_object_get(ev->obj, "spec"), "nodeName");
	char key[300];

	if (!n || !*n || ev->type == STORE_DELETED ||
	    !obj_is_terminating(ev->obj))
		return;
	snprintf(key, sizeof(key), "/%s", n);
	controller_queue(c->q, key);
}

static void priv_free(void *p)
{
	struct node_priv *np = p;

	sm_strmap_release(&np->seen, free);
	free(np);
}

struct ctl *ctl_node_new(const struct ctl_env *env, uint64_t grace_ms,
			 uint64_t eviction_ms)
{
	struct ctl *c = ctl__new(env, "node-lifecycle", "Node", sync_node);
	struct node_priv *np = xcalloc(1, sizeof(*np));

	np->grace_ms = grace_ms ? grace_ms : 2000;
	np->eviction_ms = eviction_ms ? eviction_ms : 1000;
	c->priv = np;
	c->priv_free = priv_free;
	ctl__watch(c, "Node", on_node);
	ctl__watch(c, "Pod", on_pod);
	ctl__start(c);
	return c;
}
