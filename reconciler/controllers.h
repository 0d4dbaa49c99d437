/*
 * controllers.h: the control plane's controllers, each a struct ctl: a
 * work queue (controller.h) fed by store watches, a sync function that
 * reads the store and writes the difference, and an event recorder.
 *
 * Controllers work on the store directly, in the server's process: reads
 * see every write at once, so a controller never acts twice on a stale
 * cache (Kubernetes' controllers need "expectations" for that). Their
 * writes are not waited for: a write lost to a crash is redone by the
 * next sync after the restart, because every sync starts from the store.
 */
#ifndef SM_CONTROLLERS_H
#define SM_CONTROLLERS_H

#include <stdint.h>
#include <uv.h>

#include "common/compat.h"

struct store;
struct sm_clock;
struct sm_rand;
struct controller;
struct ctl;

/* What every controller gets; borrowed for the controller's life. */
struct ctl_env {
	uv_loop_t *loop;
	struct store *store;
	const struct sm_clock *clock; /* NULL: the system clock */
	const struct sm_rand *rand; /* NULL: the system source */
	uint64_t resync_ms; /* 0: 30 s */
};

/* Stops the controller's watches and frees it (queue on the loop). */
void ctl_free(struct ctl *c);

/* Rolls Deployments out through ReplicaSets (rollout.h). */
struct ctl *ctl_deployment_new(const struct ctl_env *env) SM_MALLOC(ctl_free);

/* Runs StatefulSets' ordinals and claims (statefulset.h). */
struct ctl *ctl_statefulset_new(const struct ctl_env *env) SM_MALLOC(ctl_free);

/* Keeps each ReplicaSet's pods at spec.replicas; status. */
struct ctl *ctl_replicaset_new(const struct ctl_env *env) SM_MALLOC(ctl_free);

/*
 * Garbage collection by ownerReferences (background, foreground, orphan),
 * events past their hour, and namespaces being deleted.
 */
struct ctl *ctl_gc_new(const struct ctl_env *env) SM_MALLOC(ctl_free);

/* Binds unscheduled pods to nodes through scheduler/. */
struct ctl *ctl_scheduler_new(const struct ctl_env *env) SM_MALLOC(ctl_free);

/*
 * Node lifecycle: a node silent for grace_ms (0: 2000) becomes
 * Ready=Unknown and tainted unreachable; its pods are evicted after
 * eviction_ms (0: 1000) unless they tolerate the taint longer; pods left
 * on gone or fenced (out-of-service) nodes are removed.
 */
struct ctl *ctl_node_new(const struct ctl_env *env, uint64_t grace_ms,
			 uint64_t eviction_ms) SM_MALLOC(ctl_free);

/*
 * Endpoints of every Service with a selector, from its pods' readiness
 * (ctl_endpoints.c).
 */
struct ctl *ctl_endpoints_new(const struct ctl_env *env) SM_MALLOC(ctl_free);

/* The queue, for tests (controller_drain()). */
struct controller *ctl_queue(struct ctl *c);

#endif
