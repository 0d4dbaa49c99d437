/*
 * node.h: the joined agent's Node object: registration and heartbeat, as
 * a kubelet does them.
 *
 * Registration creates the Node (POST /api/v1/nodes); when one of that
 * name exists the agent takes it over: its labels are merged in (PATCH)
 * and its status written whole. The Node carries the usual labels
 * (kubernetes.io/hostname, kubernetes.io/os, kubernetes.io/arch,
 * node-role.kubernetes.io/worker), capacity and allocatable (cpu, memory,
 * pods), addresses (InternalIP, Hostname), nodeInfo, the four conditions
 * and daemonEndpoints.kubeletEndpoint.Port (the agent's own API).
 *
 * Heartbeat: every heartbeat_ms the conditions are written again with
 * their lastHeartbeatTime (PATCH nodes/NAME/status, a JSON merge patch of
 * status.conditions only: a few hundred bytes). One request at a time: a
 * heartbeat that is due while the last one is in flight is skipped. A 404
 * (the Node was deleted) registers it again; other failures are logged
 * once and retried on the next beat.
 *
 * Readiness: Ready is True (KubeletReady) unless the agent said otherwise
 * with node_set_ready() (e.g. Podman is unreachable: False,
 * KubeletNotReady, "container runtime is down: ..."). lastTransitionTime
 * moves only when a status changes.
 *
 * Ownership: the configuration's strings are copied; the client is
 * borrowed and must outlive the node. node_free() closes its timer and
 * cancels its request; the memory goes from the close callback.
 */
#ifndef SM_NODEAGENT_NODE_H
#define SM_NODEAGENT_NODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"

struct kube_client;
struct node;

struct node_info {
	const char *name; /* required */
	const char *node_ip; /* InternalIP (required) */
	const char *cpu; /* "4", "500m"; NULL: the machine's CPUs */
	const char *memory; /* "8Gi"; NULL: MemTotal */
	const char *pods; /* "110" when NULL */
	int api_port; /* daemonEndpoints.kubeletEndpoint.Port; 0: none */
	const char *runtime_version; /* "podman://4.3.1", or NULL */
};

/*
 * The Node object for ni (new), as registered, with conditions Ready
 * (per ready, reason and message; NULL reason: KubeletReady) and the
 * pressure conditions False, all with heartbeat and transition times now.
 * Pure apart from reading the machine for the defaults (CPUs, MemTotal,
 * /etc/os-release, uname).
 */
json_t *node_object(const struct node_info *ni, bool ready, const char *reason,
		    const char *message, uint64_t now_ns);

/* Stops heartbeating; NULL is ignored. */
void node_free(struct node *n);

/*
 * Registers ni's Node through k (borrowed) and starts the heartbeat every
 * heartbeat_ms (0: 500). The first request goes from the loop.
 */
struct node *node_new(struct kube_client *k, uv_loop_t *loop,
		      const struct node_info *ni, uint64_t heartbeat_ms)
	SM_MALLOC(node_free);

/*
 * Sets the Ready condition: true (reason KubeletReady), or false with a
 * reason and message (copied). A change is written at once, not at the
 * next beat.
 */
void node_set_ready(struct node *n, bool ready, const char *reason,
		    const char *message);

/* Sets the runtime version reported in nodeInfo (copied) from now on. */
void node_set_runtime(struct node *n, const char *version);

/* True once the Node was created or taken over. */
bool node_registered(const struct node *n);

/* Heartbeats answered with success, for tests and logs. */
unsigned node_heartbeats(const struct node *n);

#endif
