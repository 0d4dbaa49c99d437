/*
 * scheduler.c: the cache (nodes by name, placed pods by namespace/name, the
 * list of nodes offered to pods), the filters, the scores, and Kubernetes'
 * "0/N nodes are available" message. See scheduler.h for the semantics.
 *
 * Invariants: every node in sched->list is present and list[i]->list_idx
 * == i; slots[i] is list[i]'s packed copy (slot_sync after every change);
 * a node's req_*, nz_*, nr_pods, ports and nr_anti_pods are the sums over
 * the pods in node->pods, and pods[i]->slot == i; the owners table lists,
 * per controller, exactly the nodes holding its pods with their counts; a
 * placeholder (present == false) exists only while it holds pods; every
 * interned string's count is the number of node label keys and values
 * using it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "scheduler/internal.h"
#include "common/banned.h"

/* ---- a hash table with removal (linear probing, backward shift) ------- */

struct ptab_entry {
	uint64_t hash;
	const char *key; /* borrowed from the value; NULL: empty slot */
	void *val;
};

struct ptab {
	struct ptab_entry *e;
	size_t cap, nr; /* cap 0 or a power of two */
};

static size_t ptab_find(const struct ptab *t, const char *key, uint64_t h)
{
	size_t mask = t->cap - 1, i = h & mask;

	while (t->e[i].key && (t->e[i].hash != h || strcmp(t->e[i].key, key)))
		i = (i + 1) & mask;
	return i;
}

static void *ptab_get(const struct ptab *t, const char *key, uint64_t h)
{
	if (!t->cap)
		return NULL;
	return t->e[ptab_find(t, key, h)].val;
}

static void ptab_put(struct ptab *t, const char *key, uint64_t h, void *val);

static void ptab_grow(struct ptab *t)
{
	struct ptab old = *t;

	t->cap = old.cap ? old.cap * 2 : 64;
	t->e = xcalloc(t->cap, sizeof(*t->e));
	t->nr = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.e[i].key)
			ptab_put(t, old.e[i].key, old.e[i].hash, old.e[i].val);
	free(old.e);
}

/* key must not be in t yet. */
static void ptab_put(struct ptab *t, const char *key, uint64_t h, void *val)
{
	size_t i;

	if ((t->nr + 1) * 4 > t->cap * 3)
		ptab_grow(t);
	i = ptab_find(t, key, h);
	t->e[i] = (struct ptab_entry){ h, key, val };
	t->nr++;
}

static void *ptab_del(struct ptab *t, const char *key, uint64_t h)
{
	size_t mask = t->cap - 1, i, j;
	void *val;

	if (!t->cap)
		return NULL;
	i = ptab_find(t, key, h);
	if (!t->e[i].key)
		return NULL;
	val = t->e[i].val;
	/* Shift later entries of the run back so lookups never stop early. */
	for (j = (i + 1) & mask; t->e[j].key; j = (j + 1) & mask) {
		size_t home = t->e[j].hash & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->e[i] = t->e[j];
			i = j;
		}
	}
	t->e[i].key = NULL;
	t->e[i].val = NULL;
	t->nr--;
	return val;
}

/* ---- controllers' pods per node (for the spread score) ---------------- */

/*
 * For each controller (by the hash of its uid; never 0), the nodes holding
 * its pods and how many: scoring a pod reads its controller's list once
 * instead of looking at every candidate node's own tally.
 */
struct owner_node {
	struct sched_node *n;
	uint32_t count;
};

struct owner_ent {
	uint64_t owner; /* 0: empty slot */
	struct owner_node *v;
	uint32_t nr, alloc;
};

struct otab {
	struct owner_ent *e;
	size_t cap, nr; /* cap 0 or a power of two */
};

static size_t otab_find(const struct otab *t, uint64_t owner)
{
	size_t mask = t->cap - 1, i = (owner ^ (owner >> 29)) & mask;

	while (t->e[i].owner && t->e[i].owner != owner)
		i = (i + 1) & mask;
	return i;
}

static struct owner_ent *otab_get(const struct otab *t, uint64_t owner)
{
	size_t i;

	if (!t->cap)
		return NULL;
	i = otab_find(t, owner);
	return t->e[i].owner ? &t->e[i] : NULL;
}

static struct owner_ent *otab_add(struct otab *t, uint64_t owner)
{
	size_t i;

	if ((t->nr + 1) * 4 > t->cap * 3) {
		struct otab old = *t;

		t->cap = old.cap ? old.cap * 2 : 64;
		t->e = xcalloc(t->cap, sizeof(*t->e));
		for (size_t k = 0; k < old.cap; k++)
			if (old.e[k].owner)
				t->e[otab_find(t, old.e[k].owner)] = old.e[k];
		free(old.e);
	}
	i = otab_find(t, owner);
	if (!t->e[i].owner) {
		t->e[i] = (struct owner_ent){ .owner = owner };
		t->nr++;
	}
	return &t->e[i];
}

/* Removes the (empty) entry of owner, shifting its run back. */
static void otab_del(struct otab *t, uint64_t owner)
{
	size_t mask = t->cap - 1, i = otab_find(t, owner), j;

	free(t->e[i].v);
	for (j = (i + 1) & mask; t->e[j].owner; j = (j + 1) & mask) {
		uint64_t o = t->e[j].owner;
		size_t home = (o ^ (o >> 29)) & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->e[i] = t->e[j];
			i = j;
		}
	}
	t->e[i] = (struct owner_ent){ 0 };
	t->nr--;
}

/* ---- the cache -------------------------------------------------------- */

/*
 * What the filters and LeastAllocated read, per node in list order, packed
 * into two cache lines with no pointers to follow: a scan over thousands
 * of nodes then streams through one array instead of visiting scattered
 * node structs. A copy of the node's fields, rewritten by slot_sync()
 * whenever one of them changes.
 */
enum {
	F_UNSCHEDULABLE = 1,
	F_TAINTS = 2, /* NoSchedule or NoExecute taints */
	F_PORTS = 4, /* host ports in use */
	F_ANTI_PODS = 8, /* placed pods with anti-affinity terms */
	F_MORE_LABELS = 16, /* more labels than lids holds: see the node */
};

struct slot {
	int64_t alloc_cpu, req_cpu, alloc_mem, req_mem;
	int64_t nz_cpu, nz_mem;
	int32_t alloc_pods;
	uint32_t nr_pods;
	uint16_t flags;
	uint8_t nr_lids;
	uint8_t pad_;
	uint32_t same_owner; /* scratch while scoring one pod, else 0 */
	struct sched_lid lids[SCHED_INLINE_LABELS];
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct slot) == 128, "a slot is two cache lines");

struct cand {
	uint32_t idx; /* in sched->list and sched->slots */
	uint32_t same_owner;
	int64_t score;
};

struct istr {
	char *s; /* owned; NULL for a free id */
	uint64_t h;
	uint32_t refs;
};

/*
 * A pod's node requirement with its strings turned into interned ids for
 * one scheduling call. A string no node label uses resolves to 0, which
 * no label carries.
 */
struct rreq {
	const struct sched_req *src;
	uint32_t key;
	uint32_t nr_values;
	const uint32_t *values;
	uint8_t op; /* enum sched_req_op, copied to spare a load */
	bool on_name;
};

struct taint_count {
	const struct sched_taint *t; /* borrowed for one call */
	unsigned count;
};

struct sched {
	struct sched_config cfg;
	struct ptab nodes; /* name -> struct sched_node, placeholders too */
	struct ptab pods; /* "namespace/name" -> assumed struct sched_pod */
	struct otab owners; /* controller -> its nodes and pod counts */
	struct sched_node **list; /* nodes offered to pods */
	struct slot *slots; /* slots[i] mirrors list[i] */
	uint32_t nr_list, alloc_list;
	uint32_t next_start;
	uint64_t generation; /* bumped by every change to nodes or pods */

	/*
	 * Interned node label strings: "string" -> id (1-based) and back,
	 * with a reference count per id; freed ids are reused.
	 */
	struct ptab intern;
	struct istr *strs; /* strs[id]; strs[0] unused */
	uint32_t nr_strs, alloc_strs;
	uint32_t *free_ids;
	uint32_t nr_free, alloc_free;

	/* Scratch for one sched_schedule call, kept to avoid allocating. */
	struct rreq *rreqs; /* the pod's node requirements, resolved */
	size_t alloc_rreqs;
	uint32_t *rvals;
	size_t alloc_rvals;
	struct cand *cand;
	size_t alloc_cand;
	struct taint_count *tc;
	size_t nr_tc, alloc_tc;
};

struct sched *sched_new(const struct sched_config *cfg)
{
	struct sched *s = xcalloc(1, sizeof(*s));

	if (cfg)
		s->cfg = *cfg;
	if (s->cfg.percentage_of_nodes_to_score > 100)
		s->cfg.percentage_of_nodes_to_score = 100;
	return s;
}

static void labels_unintern(struct sched *s, struct sched_node *n);

static void node_free(struct sched *s, struct sched_node *n)
{
	labels_unintern(s, n);
	sched__node_release_spec(n);
	free(n->ports);
	free(n->pods);
	free(n);
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->pods.cap; i++)
		if (s->pods.e[i].key)
			sched_pod_free(s->pods.e[i].val);
	for (size_t i = 0; i < s->nodes.cap; i++)
		if (s->nodes.e[i].key)
			node_free(s, s->nodes.e[i].val);
	for (uint32_t i = 1; i < s->nr_strs; i++)
		free(s->strs[i].s);
	free(s->strs);
	free(s->free_ids);
	free(s->intern.e);
	free(s->rreqs);
	free(s->rvals);
	for (size_t i = 0; i < s->owners.cap; i++)
		free(s->owners.e[i].v);
	free(s->owners.e);
	free(s->pods.e);
	free(s->nodes.e);
	free(s->list);
	free(s->slots);
	free(s->cand);
	free(s->tc);
	free(s);
}

uint64_t sched_generation(const struct sched *s)
{
	return s->generation;
}

size_t sched_node_count(const struct sched *s)
{
	return s->nr_list;
}

/* ---- interned label strings ------------------------------------------ */

static uint32_t intern_find(const struct sched *s, const char *str, uint64_t h)
{
	return (uint32_t)(uintptr_t)ptab_get(&s->intern, str, h);
}

static uint32_t intern_ref(struct sched *s, const char *str, uint64_t h)
{
	uint32_t id = intern_find(s, str, h);

	if (id) {
		s->strs[id].refs++;
		return id;
	}
	if (s->nr_free) {
		id = s->free_ids[--s->nr_free];
	} else {
		if (!s->nr_strs)
			s->nr_strs = 1; /* id 0 means "no such string" */
		SM_ALLOC_GROW(s->strs, s->nr_strs + 1, s->alloc_strs);
		id = s->nr_strs++;
	}
	s->strs[id] = (struct istr){ xstrdup(str), h, 1 };
	ptab_put(&s->intern, s->strs[id].s, h, (void *)(uintptr_t)id);
	return id;
}

static void intern_unref(struct sched *s, uint32_t id)
{
	struct istr *is = &s->strs[id];

	if (--is->refs)
		return;
	ptab_del(&s->intern, is->s, is->h);
	free(is->s);
	is->s = NULL;
	SM_ALLOC_GROW(s->free_ids, s->nr_free + 1, s->alloc_free);
	s->free_ids[s->nr_free++] = id;
}

/* Turns the compiled string labels of n into interned ids. */
static void labels_intern(struct sched *s, struct sched_node *n)
{
	const struct sched_labels *l = &n->labels;

	n->lids = l->nr <= SCHED_INLINE_LABELS
			  ? n->lids_inline
			  : xcalloc(l->nr, sizeof(*n->lids));
	for (uint32_t i = 0; i < l->nr; i++) {
		const struct sched_str *k = &l->v[i].key, *v = &l->v[i].value;

		n->lids[i].key = intern_ref(s, k->s ? k->s : "", k->h);
		n->lids[i].value = intern_ref(s, v->s ? v->s : "", v->h);
	}
	n->nr_lids = l->nr;
	n->labels = (struct sched_labels){ 0 }; /* its memory is n->arena's */
}

static void labels_unintern(struct sched *s, struct sched_node *n)
{
	for (uint32_t i = 0; i < n->nr_lids; i++) {
		intern_unref(s, n->lids[i].key);
		intern_unref(s, n->lids[i].value);
	}
	if (n->lids != n->lids_inline)
		free(n->lids);
	n->lids = NULL;
	n->nr_lids = 0;
}

static void slot_sync(struct sched *s, const struct sched_node *n)
{
	struct slot *sl;

	if (!n->present)
		return;
	sl = &s->slots[n->list_idx];
	sl->alloc_cpu = n->alloc_cpu;
	sl->req_cpu = n->req_cpu;
	sl->alloc_mem = n->alloc_mem;
	sl->req_mem = n->req_mem;
	sl->nz_cpu = n->nz_cpu;
	sl->nz_mem = n->nz_mem;
	sl->alloc_pods =
		n->alloc_pods > INT32_MAX ? INT32_MAX : (int32_t)n->alloc_pods;
	sl->nr_pods = n->nr_pods;
	sl->pad_ = 0;
	sl->same_owner = 0; /* never called while scoring */
	sl->flags = (n->unschedulable ? F_UNSCHEDULABLE : 0) |
		    (n->nr_filter_taints ? F_TAINTS : 0) |
		    (n->nr_ports ? F_PORTS : 0) |
		    (n->nr_anti_pods ? F_ANTI_PODS : 0) |
		    (n->nr_lids > SCHED_INLINE_LABELS ? F_MORE_LABELS : 0);
	sl->nr_lids =
		n->nr_lids > SCHED_INLINE_LABELS ? 0 : (uint8_t)n->nr_lids;
	memcpy(sl->lids, n->lids, sl->nr_lids * sizeof(*sl->lids));
}

static void list_add(struct sched *s, struct sched_node *n)
{
	if (s->nr_list + 1 > s->alloc_list) {
		uint32_t alloc = s->alloc_list < 64 ? 64 : s->alloc_list * 2;
		struct slot *slots = aligned_alloc(_Alignof(struct slot),
						   alloc * sizeof(*slots));

		if (!slots)
			sm_die("out of memory");
		if (s->nr_list)
			memcpy(slots, s->slots, s->nr_list * sizeof(*slots));
		free(s->slots);
		s->slots = slots;
		s->list =
			xrealloc(s->list, alloc * sizeof(struct sched_node *));
		s->alloc_list = alloc;
	}
	n->list_idx = s->nr_list;
	s->list[s->nr_list++] = n;
	n->present = true;
	slot_sync(s, n);
}

static void list_del(struct sched *s, struct sched_node *n)
{
	struct sched_node *last = s->list[--s->nr_list];

	s->list[n->list_idx] = last;
	s->slots[n->list_idx] = s->slots[s->nr_list];
	last->list_idx = n->list_idx;
	n->present = false;
}

int sched_node_set(struct sched *s, const json_t *node, struct sm_err *err)
{
	struct sched_node *n, *old;
	char *name;
	int ret;

	ret = sched__node_compile(&n, node, err);
	if (ret)
		return ret;
	old = ptab_get(&s->nodes, n->name, n->name_hash);
	labels_intern(s, n);
	s->generation++;
	if (!old) {
		ptab_put(&s->nodes, n->name, n->name_hash, n);
		list_add(s, n);
		return 0;
	}
	/*
	 * Keep old (its placed pods, ports and owners, and its name, which
	 * the table borrows); take everything else from the new object.
	 */
	name = old->name;
	old->name = NULL;
	sched__node_release_spec(old);
	old->name = name;
	free(n->name);
	/* New ids were taken first, so shared strings are not churned. */
	labels_unintern(s, old);
	if (n->lids == n->lids_inline) {
		memcpy(old->lids_inline, n->lids_inline,
		       sizeof(old->lids_inline));
		old->lids = old->lids_inline;
	} else {
		old->lids = n->lids;
	}
	old->nr_lids = n->nr_lids;
	old->arena = n->arena;
	old->taints = n->taints;
	old->nr_taints = n->nr_taints;
	old->nr_filter_taints = n->nr_filter_taints;
	old->alloc_cpu = n->alloc_cpu;
	old->alloc_mem = n->alloc_mem;
	old->alloc_pods = n->alloc_pods;
	old->unschedulable = n->unschedulable;
	free(n);
	if (!old->present)
		list_add(s, old);
	else
		slot_sync(s, old);
	return 0;
}

int sched_node_remove(struct sched *s, const char *name)
{
	uint64_t h = sched__hash(name);
	struct sched_node *n = ptab_get(&s->nodes, name, h);

	if (!n || !n->present)
		return -ENOENT;
	s->generation++;
	list_del(s, n);
	if (n->nr_pods == 0) {
		ptab_del(&s->nodes, name, h);
		node_free(s, n);
	}
	return 0;
}

/*
 * "namespace/name" for a lookup, in buf when it fits, else in *heap (new).
 */
static const char *pod_key(char *buf, size_t len, char **heap, const char *ns,
			   const char *name)
{
	int n = snprintf(buf, len, "%s/%s", ns, name);

	*heap = NULL;
	if (n >= 0 && (size_t)n < len)
		return buf;
	*heap = xasprintf("%s/%s", ns, name);
	return *heap;
}

static struct sched_pod *pod_lookup(const struct sched *s, const char *ns,
				    const char *name)
{
	char buf[400], *heap;
	const char *key = pod_key(buf, sizeof(buf), &heap, ns, name);
	struct sched_pod *p = ptab_get(&s->pods, key, sched__hash(key));

	free(heap);
	return p;
}

const char *sched_pod_node(const struct sched *s, const char *ns,
			   const char *name)
{
	struct sched_pod *p = pod_lookup(s, ns, name);

	return p ? p->node->name : NULL;
}

static void owner_add(struct sched *s, struct sched_node *n, uint64_t owner,
		      int delta)
{
	struct owner_ent *e = delta > 0 ? otab_add(&s->owners, owner)
					: otab_get(&s->owners, owner);
	uint32_t i = 0;

	SM_BUG_ON(!e);
	while (i < e->nr && e->v[i].n != n)
		i++;
	if (i == e->nr) {
		SM_BUG_ON(delta < 0);
		SM_ALLOC_GROW(e->v, e->nr + 1, e->alloc);
		e->v[e->nr++] = (struct owner_node){ n, 0 };
	}
	e->v[i].count += delta;
	if (e->v[i].count)
		return;
	e->v[i] = e->v[--e->nr];
	if (!e->nr)
		otab_del(&s->owners, owner);
}

static void account(struct sched *s, struct sched_node *n, struct sched_pod *p)
{
	n->req_cpu += p->cpu;
	n->req_mem += p->mem;
	n->nz_cpu += p->nz_cpu;
	n->nz_mem += p->nz_mem;
	if (n->nr_pods == n->alloc_pods_arr) {
		n->alloc_pods_arr =
			n->alloc_pods_arr ? n->alloc_pods_arr * 2 : 8;
		n->pods = xrealloc(n->pods, n->alloc_pods_arr *
						    sizeof(struct sched_pod *));
	}
	p->slot = n->nr_pods;
	n->pods[n->nr_pods++] = p;
	if (p->nr_ports) {
		SM_ALLOC_GROW(n->ports, n->nr_ports + p->nr_ports,
			      n->alloc_ports);
		memcpy(&n->ports[n->nr_ports], p->ports,
		       p->nr_ports * sizeof(*p->ports));
		n->nr_ports += p->nr_ports;
	}
	if (p->owner)
		owner_add(s, n, p->owner, 1);
	if (p->nr_anti)
		n->nr_anti_pods++;
	p->node = n;
	slot_sync(s, n);
}

static void unaccount(struct sched *s, struct sched_node *n,
		      struct sched_pod *p)
{
	struct sched_pod *last;

	n->req_cpu -= p->cpu;
	n->req_mem -= p->mem;
	n->nz_cpu -= p->nz_cpu;
	n->nz_mem -= p->nz_mem;
	last = n->pods[--n->nr_pods];
	n->pods[p->slot] = last;
	last->slot = p->slot;
	for (uint32_t i = 0; i < p->nr_ports; i++) {
		uint32_t k = 0;

		while (k < n->nr_ports &&
		       memcmp(&n->ports[k], &p->ports[i], sizeof(p->ports[i])))
			k++;
		SM_BUG_ON(k == n->nr_ports);
		n->ports[k] = n->ports[--n->nr_ports];
	}
	if (p->owner)
		owner_add(s, n, p->owner, -1);
	if (p->nr_anti)
		n->nr_anti_pods--;
	p->node = NULL;
	slot_sync(s, n);
}

int sched_assume(struct sched *s, struct sched_pod *p, const char *node)
{
	uint64_t h = sched__hash(node);
	struct sched_node *n;

	if (ptab_get(&s->pods, p->key, p->key_hash))
		return -EEXIST;
	n = ptab_get(&s->nodes, node, h);
	if (!n) {
		/* A pod bound to a node we have not seen: hold its place. */
		n = xcalloc(1, sizeof(*n));
		n->name = xstrdup(node);
		n->name_hash = h;
		ptab_put(&s->nodes, n->name, h, n);
	}
	account(s, n, p);
	ptab_put(&s->pods, p->key, p->key_hash, p);
	s->generation++;
	return 0;
}

int sched_forget(struct sched *s, const char *ns, const char *name)
{
	char buf[400], *heap;
	const char *key = pod_key(buf, sizeof(buf), &heap, ns, name);
	struct sched_pod *p = ptab_del(&s->pods, key, sched__hash(key));
	struct sched_node *n;

	free(heap);
	if (!p)
		return -ENOENT;
	n = p->node;
	unaccount(s, n, p);
	s->generation++;
	sched_pod_free(p);
	if (!n->present && !n->nr_pods) {
		ptab_del(&s->nodes, n->name, n->name_hash);
		node_free(s, n);
	}
	return 0;
}

/* ---- filters ---------------------------------------------------------- */

/* Reasons a node fails; each is one of kube-scheduler's reason strings. */
enum {
	R_UNSCHEDULABLE,
	R_TAINT, /* with the taint, formatted */
	R_AFFINITY,
	R_PORTS,
	R_TOO_MANY_PODS,
	R_CPU,
	R_MEMORY,
	R_ANTI,
	R_EXISTING_ANTI,
	R_MAX
};

static const char *const reason_text[R_MAX] = {
	[R_UNSCHEDULABLE] = "node(s) were unschedulable",
	[R_TAINT] = NULL,
	[R_AFFINITY] = "node(s) didn't match Pod's node affinity/selector",
	[R_PORTS] =
		"node(s) didn't have free ports for the requested pod ports",
	[R_TOO_MANY_PODS] = "Too many pods",
	[R_CPU] = "Insufficient cpu",
	[R_MEMORY] = "Insufficient memory",
	[R_ANTI] = "node(s) didn't match pod anti-affinity rules",
	[R_EXISTING_ANTI] =
		"node(s) didn't satisfy existing pods anti-affinity rules",
};

/* The id of the node's label key's value, or 0 when it has no such label. */
static uint32_t node_label(const struct slot *sl, const struct sched_node *n,
			   uint32_t key)
{
	const struct sched_lid *l = sl->lids;
	uint32_t nr = sl->nr_lids;

	if (sl->flags & F_MORE_LABELS) {
		l = n->lids;
		nr = n->nr_lids;
	}
	for (uint32_t i = 0; i < nr; i++)
		if (l[i].key == key)
			return l[i].value;
	return 0;
}

static bool rreq_matches(const struct sched *s, const struct rreq *r,
			 const struct slot *sl, const struct sched_node *n)
{
	const struct sched_req *src = r->src;
	uint32_t v;

	if (r->on_name)
		return sched__req_matches(src, NULL, n->name, n->name_hash);
	v = r->key ? node_label(sl, n, r->key) : 0;
	switch (r->op) {
	case SCHED_OP_EXISTS:
		return v != 0;
	case SCHED_OP_NOTEXIST:
		return v == 0;
	case SCHED_OP_IN:
	case SCHED_OP_NOTIN: {
		bool in = false;

		for (uint32_t i = 0; v && i < r->nr_values && !in; i++)
			in = r->values[i] == v;
		return src->op == SCHED_OP_IN ? in : !in;
	}
	case SCHED_OP_GT:
	case SCHED_OP_LT: {
		const char *text = v ? s->strs[v].s : NULL;
		char *end;
		long long num;

		if (!text || !*text)
			return false;
		errno = 0;
		num = strtoll(text, &end, 10);
		if (errno || *end)
			return false;
		return src->op == SCHED_OP_GT ? num > src->num : num < src->num;
	}
	}
	return false;
}

static inline bool rsel_matches(const struct sched *s, const struct rreq *reqs,
				uint32_t nr, const struct slot *sl,
				const struct sched_node *n)
{
	for (uint32_t i = 0; i < nr; i++) {
		const struct rreq *r = &reqs[i];

		/* The usual case, a nodeSelector entry, inline: */
		if (r->op == SCHED_OP_IN && r->nr_values == 1 && !r->on_name) {
			if (!r->key ||
			    node_label(sl, n, r->key) != r->values[0])
				return false;
			continue;
		}
		if (!rreq_matches(s, r, sl, n))
			return false;
	}
	return true;
}

/*
 * Resolves the pod's nodeSelector and required terms into s->rreqs:
 * first the nodeSelector's, then each term's, in order.
 */
static void resolve_node_reqs(struct sched *s, const struct sched_pod *p)
{
	size_t nr = p->node_selector.nr, nv = 0, ri = 0, vi = 0;

	for (uint32_t t = 0; t < p->nr_terms; t++)
		nr += p->terms[t].nr;
	for (uint32_t i = 0; i < p->node_selector.nr; i++)
		nv += p->node_selector.reqs[i].nr_values;
	for (uint32_t t = 0; t < p->nr_terms; t++)
		for (uint32_t i = 0; i < p->terms[t].nr; i++)
			nv += p->terms[t].reqs[i].nr_values;
	/* One more than needed: never NULL, even for a pod with none. */
	SM_ALLOC_GROW(s->rreqs, nr + 1, s->alloc_rreqs);
	SM_ALLOC_GROW(s->rvals, nv + 1, s->alloc_rvals);
	for (int32_t t = -1; t < (int32_t)p->nr_terms; t++) {
		const struct sched_sel *sel =
			t < 0 ? &p->node_selector : &p->terms[t];

		for (uint32_t i = 0; i < sel->nr; i++) {
			const struct sched_req *src = &sel->reqs[i];
			struct rreq *r = &s->rreqs[ri++];

			r->src = src;
			r->op = (uint8_t)src->op;
			r->on_name = src->on_name;
			r->key = intern_find(s, src->key.s ? src->key.s : "",
					     src->key.h);
			r->values = &s->rvals[vi];
			r->nr_values = src->nr_values;
			for (uint32_t k = 0; k < src->nr_values; k++)
				s->rvals[vi++] = intern_find(
					s,
					src->values[k].s ? src->values[k].s
							 : "",
					src->values[k].h);
		}
	}
}

static bool affinity_fits(const struct sched *s, const struct sched_pod *p,
			  const struct slot *sl, const struct sched_node *n)
{
	const struct rreq *r = s->rreqs;

	if (!rsel_matches(s, r, p->node_selector.nr, sl, n))
		return false;
	if (!p->has_terms)
		return true;
	r += p->node_selector.nr;
	for (uint32_t i = 0; i < p->nr_terms; i++) {
		if (p->terms[i].nr && rsel_matches(s, r, p->terms[i].nr, sl, n))
			return true;
		r += p->terms[i].nr;
	}
	return false;
}

static bool ports_fit(const struct sched_pod *p, const struct sched_node *n)
{
	for (uint32_t i = 0; i < p->nr_ports; i++) {
		const struct sched_port *a = &p->ports[i];

		for (uint32_t k = 0; k < n->nr_ports; k++) {
			const struct sched_port *b = &n->ports[k];

			if (a->port == b->port && a->proto == b->proto &&
			    (!a->ip || !b->ip || a->ip == b->ip))
				return false;
		}
	}
	return true;
}

/* Whether the anti-affinity term a selects pod q (namespace and labels). */
static bool anti_selects(const struct sched_anti *a, const struct sched_pod *q)
{
	bool ns = a->all_namespaces;

	if (a->selects_none)
		return false;
	for (uint32_t i = 0; !ns && i < a->nr_namespaces; i++)
		ns = a->namespaces[i].h == q->ns_hash &&
		     !strcmp(a->namespaces[i].s ? a->namespaces[i].s : "",
			     q->ns);
	return ns && sched__sel_matches(&a->sel, &q->labels, NULL, 0);
}

/*
 * Returns 0 when p fits n, else a bit set of R_* from the first plugin
 * that rejects it (kube-scheduler stops at the first failing plugin);
 * *taint is set for R_TAINT.
 */
static unsigned filter(const struct sched *s, const struct sched_pod *p,
		       uint32_t idx, const struct sched_taint **taint)
{
	const struct slot *sl = &s->slots[idx];
	const struct sched_node *n = s->list[idx]; /* read only if needed */
	unsigned r = 0;

	if ((sl->flags & F_UNSCHEDULABLE) && !p->tolerates_unschedulable)
		return 1u << R_UNSCHEDULABLE;
	if (sl->flags & F_TAINTS) {
		for (uint32_t i = 0; i < n->nr_taints; i++) {
			const struct sched_taint *t = &n->taints[i];

			if (t->effect != SCHED_EFFECT_NO_SCHEDULE &&
			    t->effect != SCHED_EFFECT_NO_EXECUTE)
				continue;
			if (!sched__tolerates(p->tols, p->nr_tols, t)) {
				*taint = t;
				return 1u << R_TAINT;
			}
		}
	}
	if ((p->node_selector.nr || p->has_terms) &&
	    !affinity_fits(s, p, sl, n))
		return 1u << R_AFFINITY;
	if (p->nr_ports && (sl->flags & F_PORTS) && !ports_fit(p, n))
		return 1u << R_PORTS;
	if ((int64_t)sl->nr_pods + 1 > sl->alloc_pods)
		r |= 1u << R_TOO_MANY_PODS;
	if (p->cpu > 0 && p->cpu > sl->alloc_cpu - sl->req_cpu)
		r |= 1u << R_CPU;
	if (p->mem > 0 && p->mem > sl->alloc_mem - sl->req_mem)
		r |= 1u << R_MEMORY;
	if (r)
		return r;
	if (!p->nr_anti && !(sl->flags & F_ANTI_PODS))
		return 0;
	for (uint32_t i = 0; i < p->nr_anti; i++)
		for (uint32_t k = 0; k < n->nr_pods; k++)
			if (anti_selects(&p->anti[i], n->pods[k]))
				return 1u << R_ANTI;
	for (uint32_t k = 0; n->nr_anti_pods && k < n->nr_pods; k++) {
		const struct sched_pod *q = n->pods[k];

		for (uint32_t i = 0; i < q->nr_anti; i++)
			if (anti_selects(&q->anti[i], p))
				return 1u << R_EXISTING_ANTI;
	}
	return 0;
}

/* ---- scores ----------------------------------------------------------- */

/* kube-scheduler's leastRequestedScore for one resource. */
static inline int64_t least_requested(int64_t requested, int64_t capacity)
{
	int64_t left = capacity - requested;

	if (capacity <= 0 || requested > capacity)
		return 0;
	/*
	 * Integer division is slow, and this runs twice for every node
	 * scored. Below 2^40 a double division gives the same floor: the
	 * exact quotient is at most 100 and, when not a whole number, at
	 * least 1/capacity >= 2^-40 away from one, far more than the
	 * 2^-46 a double can be off by near 100.
	 */
	if (capacity < ((int64_t)1 << 40))
		return (int64_t)((double)(left * SCHED_MAX_SCORE) /
				 (double)capacity);
	if (left <= INT64_MAX / SCHED_MAX_SCORE)
		return left * SCHED_MAX_SCORE / capacity;
	return (int64_t)((__extension__(__int128) left * SCHED_MAX_SCORE) /
			 capacity);
}

static int64_t least_allocated(const struct sched_pod *p, const struct slot *n)
{
	return (least_requested(n->nz_cpu + p->nz_cpu, n->alloc_cpu) +
		least_requested(n->nz_mem + p->nz_mem, n->alloc_mem)) /
	       2;
}

#define WEIGHT_LEAST_ALLOCATED 1
#define WEIGHT_SPREAD 2

/* ---- the failure message ---------------------------------------------- */

static void taint_count_add(struct sched *s, const struct sched_taint *t)
{
	for (size_t i = 0; i < s->nr_tc; i++) {
		if (sched__str_eq(&s->tc[i].t->key, &t->key) &&
		    sched__str_eq(&s->tc[i].t->value, &t->value)) {
			s->tc[i].count++;
			return;
		}
	}
	SM_ALLOC_GROW(s->tc, s->nr_tc + 1, s->alloc_tc);
	s->tc[s->nr_tc++] = (struct taint_count){ t, 1 };
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * "0/N nodes are available: " + the "<count> <reason>" strings sorted
 * bytewise (Go's sort.Strings) and joined with ", " + ".".
 */
static void fit_message(struct sched *s, const unsigned *counts, uint32_t nodes,
			struct sm_buf *why)
{
	char **items = xcalloc(R_MAX + s->nr_tc, sizeof(*items));
	size_t nr = 0;

	for (int r = 0; r < R_MAX; r++)
		if (counts[r] && reason_text[r])
			items[nr++] =
				xasprintf("%u %s", counts[r], reason_text[r]);
	for (size_t i = 0; i < s->nr_tc; i++) {
		const struct sched_taint *t = s->tc[i].t;

		items[nr++] =
			xasprintf("%u node(s) had untolerated taint {%s: %s}",
				  s->tc[i].count, t->key.s ? t->key.s : "",
				  t->value.s ? t->value.s : "");
	}
	qsort(items, nr, sizeof(*items), cmp_str);
	sm_buf_addf(why, "0/%u nodes are available:", nodes);
	for (size_t i = 0; i < nr; i++) {
		sm_buf_addf(why, "%s%s", i ? ", " : " ", items[i]);
		free(items[i]);
	}
	sm_buf_addch(why, '.');
	free(items);
}

/* ---- scheduling ------------------------------------------------------- */

/* kube-scheduler's numFeasibleNodesToFind. */
static uint32_t nodes_to_find(uint32_t n, unsigned pct)
{
	uint64_t k;

	if (n < 100 || pct >= 100)
		return n;
	if (pct == 0) {
		int adaptive = 50 - (int)(n / 125);

		pct = adaptive < 5 ? 5 : (unsigned)adaptive;
	}
	k = (uint64_t)n * pct / 100;
	return k < 100 ? 100 : (uint32_t)k;
}

/* Sets (count > 0) or clears the controller's counts in the slots. */
static void owner_counts_to_slots(struct sched *s, const struct owner_ent *oe,
				  bool set)
{
	for (uint32_t i = 0; oe && i < oe->nr; i++)
		if (oe->v[i].n->present)
			s->slots[oe->v[i].n->list_idx].same_owner =
				set ? oe->v[i].count : 0;
}

int sched_schedule(struct sched *s, const struct sched_pod *p,
		   const char **node, struct sm_buf *why,
		   struct sched_stats *stats)
{
	uint32_t n = s->nr_list, want, start, feasible = 0, i, max_same = 0;
	unsigned counts[R_MAX] = { 0 };
	struct cand *best = NULL;
	const struct owner_ent *oe;

	if (stats)
		*stats = (struct sched_stats){ .nodes = n };
	if (!n) {
		if (why)
			sm_buf_adds(why, "no nodes available to schedule pods");
		return -ENOSPC;
	}
	want = nodes_to_find(n, s->cfg.percentage_of_nodes_to_score);
	SM_ALLOC_GROW(s->cand, want, s->alloc_cand);
	s->nr_tc = 0;
	if (p->node_selector.nr || p->has_terms)
		resolve_node_reqs(s, p);
	/* The controller's pods per node, into the slots for this call. */
	oe = p->owner ? otab_get(&s->owners, p->owner) : NULL;
	owner_counts_to_slots(s, oe, true);

	/*
	 * Filter, and score LeastAllocated while the slot is at hand; the
	 * spread score needs the largest count first, so it comes after.
	 */
	start = s->next_start % n;
	for (i = 0; i < n && feasible < want; i++) {
		uint32_t idx = start + i < n ? start + i : start + i - n;
		const struct sched_taint *taint = NULL;
		unsigned r = filter(s, p, idx, &taint);

		if (!r) {
			const struct slot *sl = &s->slots[idx];
			struct cand *c = &s->cand[feasible++];

			c->idx = idx;
			c->score =
				least_allocated(p, sl) * WEIGHT_LEAST_ALLOCATED;
			c->same_owner = sl->same_owner;
			if (c->same_owner > max_same)
				max_same = c->same_owner;
			continue;
		}
		for (int b = 0; b < R_MAX; b++)
			if (r & (1u << b))
				counts[b]++;
		if (taint)
			taint_count_add(s, taint);
	}
	owner_counts_to_slots(s, oe, false);
	/*
	 * Where the next scan starts; one further after a full scan, so
	 * that nodes scoring the same take turns.
	 */
	s->next_start = (start + i + (i == n)) % n;
	if (stats) {
		stats->evaluated = i;
		stats->feasible = feasible;
	}
	if (!feasible) {
		if (why)
			fit_message(s, counts, n, why);
		return -ENOSPC;
	}

	for (i = 0; i < feasible; i++) {
		struct cand *c = &s->cand[i];
		int64_t spread = SCHED_MAX_SCORE;

		if (max_same)
			spread = (int64_t)SCHED_MAX_SCORE *
				 (max_same - c->same_owner) / max_same;
		c->score += spread * WEIGHT_SPREAD;
		if (!best || c->score > best->score)
			best = c;
	}
	*node = s->list[best->idx]->name;
	return 0;
}
