/*
 * scheduler.h: placement of pods onto nodes, the way kube-scheduler's
 * default profile places them for the plugins stuurman has. Pure: no I/O,
 * no clock, no randomness; the same calls in the same order give the same
 * placements.
 *
 * The control plane keeps one struct sched: a cache of compiled nodes
 * (allocatable and requested cpu, memory and pods as integers, taints,
 * labels, used host ports, and the pods placed on each) that it updates
 * incrementally as nodes change and pods are bound or removed. A pod is
 * compiled once from its JSON object (requests, tolerations, nodeSelector,
 * affinity, ports) and can then be offered to sched_schedule() as often as
 * needed (an unschedulable pod is retried when nodes or pods change).
 *
 * Filters, in kube-scheduler's plugin order; a node that fails one plugin
 * is not checked further, and its reasons are that plugin's:
 *   1. NodeUnschedulable: spec.unschedulable, unless the pod tolerates
 *      node.kubernetes.io/unschedulable:NoSchedule.
 *   2. TaintToleration: every NoSchedule and NoExecute taint must be
 *      tolerated. A node whose Ready condition is not True carries, for the
 *      scheduler, node.kubernetes.io/not-ready:NoSchedule (Ready False or
 *      missing) or node.kubernetes.io/unreachable:NoSchedule (Unknown) as
 *      Kubernetes' node lifecycle controller would set them, unless the
 *      node already has that taint.
 *   3. NodeAffinity: spec.nodeSelector, and requiredDuringScheduling-
 *      IgnoredDuringExecution nodeSelectorTerms (ORed; In, NotIn, Exists,
 *      DoesNotExist, Gt, Lt on labels; In and NotIn on metadata.name).
 *   4. NodePorts: a hostPort+protocol already used on the node, with an
 *      overlapping hostIP ("" and 0.0.0.0 overlap every address).
 *   5. NodeResourcesFit: cpu (millicores), memory (bytes) and the pod count
 *      against allocatable (capacity where allocatable is missing).
 *   6. InterPodAffinity: the pod's required anti-affinity terms on
 *      kubernetes.io/hostname (no matching pod in the term's namespaces may
 *      be on the node), and the same check the other way round for the
 *      anti-affinity terms of pods already on the node.
 *
 * Scores (higher is better), summed with kube-scheduler's default weights:
 * LeastAllocated (NodeResourcesFit, weight 1): for cpu and memory,
 * (allocatable - requested) * 100 / allocatable with the pod counted in,
 * averaged; requests use the non-zero defaults kube-scheduler scores with
 * (100m and 200Mi for a container that requests none). Spread (weight 2,
 * the weight kube-scheduler gives its default spreading, with the formula
 * of its older SelectorSpread): pods with the same controller
 * (ownerReference with controller: true) on a node,
 * 100 * (max - count) / max over the nodes considered (100 when max is 0).
 *
 * Ties go to the first node in scan order. The scan starts where the last
 * one stopped (kube-scheduler's nextStartNodeIndex) and, when it covered
 * every node, one node further, so nodes that score the same are used in
 * turn rather than the same one again.
 *
 * Large clusters: as kube-scheduler's percentageOfNodesToScore, the scan
 * stops once it has found enough feasible nodes: by default
 * max(100, n * max(5, 50 - n / 125) / 100) of n nodes (500 of 5,000), or a
 * fixed percentage from struct sched_config (100 = every node). A pod that
 * fits nowhere has always been checked against every node.
 *
 * Ownership: the cache owns its nodes and the pods assumed onto them. A
 * compiled pod belongs to the caller until sched_assume() takes it.
 * Strings returned are borrowed from the cache, valid until the node they
 * name is removed or the cache is freed. Not thread-safe: one caller at a
 * time (the control plane's loop thread).
 */
#ifndef SM_SCHEDULER_H
#define SM_SCHEDULER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compat.h"
#include "common/err.h"

struct sm_buf;

struct sched; /* the cache of nodes and placed pods */
struct sched_pod; /* a compiled pod */

struct sched_config {
	/*
	 * kube-scheduler's percentageOfNodesToScore: 0 for its adaptive
	 * default, 1..100 for a fixed share of the nodes (at least 100 nodes
	 * are looked for either way).
	 */
	unsigned percentage_of_nodes_to_score;
};

#define SCHED_CONFIG_INIT \
	{                 \
		0         \
	}

/* What one sched_schedule() call looked at, for metrics and benchmarks. */
struct sched_stats {
	unsigned nodes; /* nodes in the cache (placeholders not counted) */
	unsigned evaluated; /* nodes the filters ran on */
	unsigned feasible; /* of those, nodes that passed and were scored */
};

void sched_free(struct sched *s);

/* A new, empty cache (free with sched_free). cfg may be NULL (defaults). */
struct sched *sched_new(const struct sched_config *cfg) SM_MALLOC(sched_free);

/*
 * Adds a Node object, or updates the node of that name: allocatable,
 * taints, labels, unschedulable and Ready change; the pods placed on it
 * stay. node is borrowed for the call. Returns 0, or -EINVAL with the
 * reasons in err (the cache is then unchanged), e.g.
 *   Node "n1": status.allocatable.cpu: invalid quantity "x": not a number
 */
int sched_node_set(struct sched *s, const json_t *node, struct sm_err *err);

/*
 * Removes a node. Pods still assumed onto it stay accounted for on a
 * placeholder that sched_schedule() does not offer, so that forgetting
 * them later works, and so that a node that comes back under the same name
 * finds them. Returns 0 or -ENOENT.
 */
int sched_node_remove(struct sched *s, const char *name);

/* Nodes offered to pods (placeholders are not counted). */
size_t sched_node_count(const struct sched *s);

void sched_pod_free(struct sched_pod *p);

/*
 * Compiles a Pod object into *out (new: free with sched_pod_free, or hand
 * to sched_assume). pod is borrowed for the call. Returns 0, or -EINVAL
 * with the reasons in err and *out untouched, e.g.
 *   Pod "default/web-1": spec.containers[0].resources.requests.memory:
 *   invalid quantity "lots": not a number
 * Unsupported constraints are errors, not silently ignored: required pod
 * affinity, anti-affinity on a topologyKey other than
 * kubernetes.io/hostname, and a non-empty namespaceSelector.
 * Requests: the sum over containers (a container's limit stands in for a
 * missing request, as the API server defaults it), or the largest init
 * container's when that is larger, plus spec.overhead.
 */
int sched_pod_compile(struct sched_pod **out, const json_t *pod,
		      struct sm_err *err);

/*
 * Picks a node for p. Returns 0 and sets *node (borrowed, see above), or
 * -ENOSPC when no node fits and then appends Kubernetes' message to why
 * (when not NULL), e.g.
 *   0/3 nodes are available: 1 Insufficient memory, 2 node(s) had
 *   untolerated taint {node.kubernetes.io/unreachable: }.
 * ("no nodes available to schedule pods" when the cache has none). The
 * "<count> <reason>" entries are sorted bytewise as whole strings, as
 * kube-scheduler sorts them. stats may be NULL. The cache is not changed,
 * except for where the next scan starts; call sched_assume to place p.
 */
int sched_schedule(struct sched *s, const struct sched_pod *p,
		   const char **node, struct sm_buf *why,
		   struct sched_stats *stats);

/*
 * Places p on the named node: its requests, pod count, host ports and
 * labels now count there. Takes p on success (the cache frees it on
 * sched_forget or sched_free). A node not (yet) in the cache gets a
 * placeholder, as for a pod bound before its node registered. Returns 0,
 * or -EEXIST when a pod of that namespace/name is already placed (p is not
 * taken then).
 */
int sched_assume(struct sched *s, struct sched_pod *p, const char *node);

/*
 * Removes the pod namespace/name from its node's accounting (it was
 * deleted, finished, or its binding failed) and frees it. Returns 0 or
 * -ENOENT.
 */
int sched_forget(struct sched *s, const char *ns, const char *name);

/*
 * A counter that every successful sched_node_set, sched_node_remove,
 * sched_assume and sched_forget increases. A pod that fit nowhere at
 * generation g cannot fit before the generation differs: the control
 * plane retries unschedulable pods only then.
 */
uint64_t sched_generation(const struct sched *s);

/* The node the pod namespace/name is placed on (borrowed), or NULL. */
const char *sched_pod_node(const struct sched *s, const char *ns,
			   const char *name);

#endif
