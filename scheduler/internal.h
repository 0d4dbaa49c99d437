/*
 * internal.h: the compiled forms of nodes and pods, shared by compile.c
 * (JSON -> structs) and scheduler.c (the cache, filters and scores). Not
 * part of the API.
 *
 * Strings are compared through 64-bit hashes (sched__hash) first and confirmed
 * with strcmp, so a label lookup or a taint check is mostly integer work.
 * A compiled pod's strings and arrays live in its arena; a node's labels
 * and taints in the node's (its name is a separate allocation, which the
 * cache's table borrows).
 */
#ifndef SCHED_INTERNAL_H
#define SCHED_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "scheduler/scheduler.h"

/* The non-zero defaults kube-scheduler scores with (pkg/scheduler/util). */
#define SCHED_DEFAULT_MILLI_CPU 100
#define SCHED_DEFAULT_MEMORY (200LL * 1024 * 1024)
#define SCHED_MAX_SCORE 100

#define SCHED_HOSTNAME_KEY "kubernetes.io/hostname"
#define SCHED_TAINT_NOT_READY "node.kubernetes.io/not-ready"
#define SCHED_TAINT_UNREACHABLE "node.kubernetes.io/unreachable"
#define SCHED_TAINT_UNSCHEDULABLE "node.kubernetes.io/unschedulable"

struct sched_str {
	char *s; /* owned; NULL for an empty or absent string */
	uint64_t h; /* hash of s ("" when NULL) */
};

static inline bool sched__str_eq(const struct sched_str *a,
				 const struct sched_str *b)
{
	return a->h == b->h && !strcmp(a->s ? a->s : "", b->s ? b->s : "");
}

struct sched_label {
	struct sched_str key, value;
};

struct sched_labels {
	struct sched_label *v;
	uint32_t nr;
};

enum sched_req_op {
	SCHED_OP_IN,
	SCHED_OP_NOTIN,
	SCHED_OP_EXISTS,
	SCHED_OP_NOTEXIST,
	SCHED_OP_GT,
	SCHED_OP_LT,
};

/* One requirement on a label (or, with on_name, on the node's name). */
struct sched_req {
	struct sched_str key;
	enum sched_req_op op;
	bool on_name; /* matchFields metadata.name */
	struct sched_str *values;
	uint32_t nr_values;
	int64_t num; /* Gt, Lt */
};

/* All requirements must hold (AND). */
struct sched_sel {
	struct sched_req *reqs;
	uint32_t nr;
};

enum sched_effect {
	SCHED_EFFECT_ALL = 0, /* a toleration with no effect */
	SCHED_EFFECT_NO_SCHEDULE,
	SCHED_EFFECT_PREFER_NO_SCHEDULE,
	SCHED_EFFECT_NO_EXECUTE,
};

struct sched_taint {
	struct sched_str key, value;
	enum sched_effect effect;
};

struct sched_toleration {
	struct sched_str key, value; /* key NULL: every key */
	bool exists; /* operator Exists (else Equal) */
	enum sched_effect effect;
};

enum sched_proto { SCHED_TCP, SCHED_UDP, SCHED_SCTP };

struct sched_port {
	uint32_t port;
	uint32_t proto;
	uint64_t ip; /* hash of hostIP; 0 for the wildcard ("" or 0.0.0.0) */
};

/* A required anti-affinity term on kubernetes.io/hostname. */
struct sched_anti {
	struct sched_sel sel;
	bool selects_none; /* no labelSelector: it selects no pod */
	bool all_namespaces; /* namespaceSelector: {} */
	struct sched_str *namespaces; /* the pod's own when none are given */
	uint32_t nr_namespaces;
};

struct sched_node;

struct sched_arena;

struct sched_pod {
	struct sched_arena *arena; /* everything below, the pod included */

	/* Identity: "namespace/name" is the cache's key. */
	char *ns, *name, *key;
	uint64_t ns_hash, key_hash;

	/* What the filters and scores read. */
	int64_t cpu, mem; /* requests: millicores, bytes */
	int64_t nz_cpu, nz_mem; /* the same with non-zero defaults */
	struct sched_labels labels;
	uint64_t owner; /* hash of the controller's uid; 0 when none */

	struct sched_sel node_selector; /* spec.nodeSelector */
	struct sched_sel *terms; /* required nodeSelectorTerms, ORed */
	uint32_t nr_terms;
	bool has_terms;

	struct sched_toleration *tols;
	uint32_t nr_tols;
	bool tolerates_unschedulable; /* node.kubernetes.io/unschedulable */
	struct sched_port *ports;
	uint32_t nr_ports;
	struct sched_anti *anti;
	uint32_t nr_anti;

	/* Placement, once assumed. */
	struct sched_node *node;
	uint32_t slot; /* index in node->pods */
};

/* A label as ids in the cache's string table (0: no such string). */
struct sched_lid {
	uint32_t key, value;
};

#define SCHED_INLINE_LABELS 8

struct sched_node {
	/* Hot: read for every node the filters run on. */
	int64_t alloc_cpu, alloc_mem;
	int64_t req_cpu, req_mem;
	int64_t nz_cpu, nz_mem;
	int64_t alloc_pods;
	uint32_t nr_pods;
	uint32_t nr_filter_taints; /* NoSchedule and NoExecute ones */
	uint32_t nr_anti_pods; /* placed pods with anti-affinity terms */
	uint32_t nr_ports;
	bool unschedulable;
	bool present; /* false: a placeholder holding assumed pods */
	uint32_t list_idx; /* index in sched->list when present */

	/*
	 * Labels as interned (key, value) ids of the cache's string table,
	 * inline for the usual handful so that matching a nodeSelector reads
	 * no other memory.
	 */
	struct sched_lid *lids;
	uint32_t nr_lids;
	struct sched_lid lids_inline[SCHED_INLINE_LABELS];

	char *name;
	uint64_t name_hash;
	struct sched_arena *arena; /* labels' and taints' memory */
	struct sched_labels labels; /* compile output, moved into lids */
	struct sched_taint *taints;
	uint32_t nr_taints;

	struct sched_port *ports;
	uint32_t alloc_ports;
	struct sched_pod **pods;
	uint32_t alloc_pods_arr;
};

/* compile.c */
uint64_t sched__hash(const char *s);
/* One allocation holding a compiled object's strings and arrays. */
struct sched_arena;
void sched__arena_free(struct sched_arena *a);
const struct sched_label *sched__label_get(const struct sched_labels *l,
					   const struct sched_str *key);
bool sched__tolerates(const struct sched_toleration *tols, uint32_t nr,
		      const struct sched_taint *taint);
bool sched__req_matches(const struct sched_req *r,
			const struct sched_labels *labels, const char *name,
			uint64_t name_hash);
bool sched__sel_matches(const struct sched_sel *sel,
			const struct sched_labels *labels, const char *name,
			uint64_t name_hash);

/*
 * Compiles the node's own part (allocatable, labels, taints, flags) into a
 * new zeroed struct; the caller moves it into the cache. Returns 0 or
 * -EINVAL with err filled.
 */
int sched__node_compile(struct sched_node **out, const json_t *node,
			struct sm_err *err);
/* Frees what sched__node_compile filled in (not pods, ports, owners). */
void sched__node_release_spec(struct sched_node *n);

#endif
