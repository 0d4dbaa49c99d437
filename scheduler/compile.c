/*
 * compile.c: Node and Pod objects (JSON) into the integer-and-hash structs
 * the filters read (internal.h), once per object, so that scheduling a pod
 * touches no JSON and parses no quantity.
 *
 * Compiling is on every pod's path, so it allocates little: a pod's
 * strings and arrays (and the pod itself) come from one arena, usually a
 * single block, freed at once; field paths for messages are a chain of
 * stack records, formatted only when there is something to report.
 *
 * Errors name the object and the field, as everywhere in stuurman:
 *   Pod "default/web-1": spec.tolerations[0].operator: unsupported value
 *   "Maybe": expected "Exists" or "Equal"
 * All problems of an object are reported, not only the first.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "manifests/quantity.h"
#include "manifests/selector.h"
#include "scheduler/internal.h"
#include "common/banned.h"

/*
 * A string hash that takes 8 bytes a step (FNV-1a takes one): every name,
 * label and key of every pod goes through it. Not collision-resistant:
 * equal hashes are always confirmed with strcmp, except for the spread
 * score's controller ids, where a collision would only merge two
 * controllers' tallies.
 */
uint64_t sched__hash(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len, w;

	for (; len >= 8; s += 8, len -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	w = 0;
	if (len)
		memcpy(&w, s, len);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 29);
}

#define str_eq sched__str_eq

static bool str_eq_c(const struct sched_str *a, const char *b, uint64_t bh)
{
	return a->h == bh && !strcmp(a->s ? a->s : "", b ? b : "");
}

/* ---- the arena -------------------------------------------------------- */

struct sched_arena {
	struct sched_arena *next; /* older blocks */
	size_t used, cap;
	_Alignas(max_align_t) char data[];
};

#define ARENA_BLOCK 1024

void sched__arena_free(struct sched_arena *a)
{
	while (a) {
		struct sched_arena *next = a->next;

		free(a);
		a = next;
	}
}

/* Zeroed memory from *a (new blocks are pushed in front). Never NULL. */
static void *arena_alloc(struct sched_arena **a, size_t size)
{
	size_t align = _Alignof(max_align_t), need;
	struct sched_arena *b = *a;
	void *p;

	size = (size + align - 1) & ~(align - 1);
	if (!b || b->cap - b->used < size) {
		need = size > ARENA_BLOCK ? size : ARENA_BLOCK;
		b = xmalloc(sizeof(*b) + need);
		b->next = *a;
		b->used = 0;
		b->cap = need;
		*a = b;
	}
	p = b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

static void *arena_calloc(struct sched_arena **a, size_t nr, size_t size)
{
	if (size && nr > SIZE_MAX / size)
		sm_die("scheduler: arena request overflows");
	return arena_alloc(a, nr * size);
}

static char *arena_strdup(struct sched_arena **a, const char *s)
{
	size_t len = strlen(s);
	char *d = arena_alloc(a, len + 1);

	memcpy(d, s, len);
	return d;
}

/* ---- matching --------------------------------------------------------- */

const struct sched_label *sched__label_get(const struct sched_labels *l,
					   const struct sched_str *key)
{
	/* Objects carry a handful of labels: a linear scan of hashes wins. */
	for (uint32_t i = 0; i < l->nr; i++)
		if (str_eq(&l->v[i].key, key))
			return &l->v[i];
	return NULL;
}

static bool parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool sched__req_matches(const struct sched_req *r,
			const struct sched_labels *labels, const char *name,
			uint64_t name_hash)
{
	const char *value = NULL;
	uint64_t vh = 0;
	bool present;

	if (r->on_name) {
		present = true;
		value = name;
		vh = name_hash;
	} else {
		const struct sched_label *l = sched__label_get(labels, &r->key);

		present = l != NULL;
		if (l) {
			value = l->value.s;
			vh = l->value.h;
		}
	}
	switch (r->op) {
	case SCHED_OP_EXISTS:
		return present;
	case SCHED_OP_NOTEXIST:
		return !present;
	case SCHED_OP_IN:
	case SCHED_OP_NOTIN: {
		bool in = false;

		for (uint32_t i = 0; present && i < r->nr_values && !in; i++)
			in = str_eq_c(&r->values[i], value, vh);
		return r->op == SCHED_OP_IN ? in : !in;
	}
	case SCHED_OP_GT:
	case SCHED_OP_LT: {
		int64_t v;

		if (!present || !parse_int64(value, &v))
			return false;
		return r->op == SCHED_OP_GT ? v > r->num : v < r->num;
	}
	}
	return false;
}

bool sched__sel_matches(const struct sched_sel *sel,
			const struct sched_labels *labels, const char *name,
			uint64_t name_hash)
{
	for (uint32_t i = 0; i < sel->nr; i++)
		if (!sched__req_matches(&sel->reqs[i], labels, name, name_hash))
			return false;
	return true;
}

/* Kubernetes' Toleration.ToleratesTaint, over a pod's tolerations. */
bool sched__tolerates(const struct sched_toleration *tols, uint32_t nr,
		      const struct sched_taint *taint)
{
	for (uint32_t i = 0; i < nr; i++) {
		const struct sched_toleration *t = &tols[i];

		if (t->effect != SCHED_EFFECT_ALL && t->effect != taint->effect)
			continue;
		if (t->key.s && !str_eq(&t->key, &taint->key))
			continue;
		if (t->exists || str_eq(&t->value, &taint->value))
			return true;
	}
	return false;
}

/* ---- error context ---------------------------------------------------- */
/* ---- field paths and errors ------------------------------------------- */

/*
 * A field path as a chain of records on the stack, one per step of the
 * walk: ".key" (or "key" at the top) or "[idx]". Building one costs
 * nothing; it is formatted only for a message.
 */
struct pth {
	const struct pth *up;
	const char *key; /* NULL: an index */
	size_t idx;
};

#define PK(up, k) (&(const struct pth){ (up), (k), 0 })
#define PI(up, i) (&(const struct pth){ (up), NULL, (i) })

static void pth_format(struct sm_buf *b, const struct pth *p)
{
	if (!p)
		return;
	pth_format(b, p->up);
	if (p->key)
		sm_buf_addf(b, "%s%s", p->up ? "." : "", p->key);
	else
		sm_buf_addf(b, "[%zu]", p->idx);
}

struct cctx {
	struct sm_err *err;
	struct sched_arena **arena; /* where strings and arrays go */
	const char *kind; /* "Pod" or "Node" */
	const char *ns, *name; /* ns NULL for a Node */
	bool failed;
};

static void cerr_prefix(struct cctx *c, struct sm_buf *b)
{
	if (c->ns)
		sm_buf_addf(b, "%s \"%s/%s\": ", c->kind, c->ns, c->name);
	else
		sm_buf_addf(b, "%s \"%s\": ", c->kind, c->name);
}

static void SM_PRINTF(3, 4)
	cerr(struct cctx *c, const struct pth *path, const char *fmt, ...)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	va_list ap;

	cerr_prefix(c, &b);
	pth_format(&b, path);
	sm_buf_adds(&b, ": ");
	va_start(ap, fmt);
	sm_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	sm_error(c->err, NULL, "%s", sm_buf_cstr(&b));
	sm_buf_release(&b);
	c->failed = true;
}

static void str_set(struct cctx *c, struct sched_str *d, const char *s)
{
	d->s = s && *s ? arena_strdup(c->arena, s) : NULL;
	d->h = sched__hash(s);
}

static void *cc_calloc(struct cctx *c, size_t nr, size_t size)
{
	return arena_calloc(c->arena, nr, size);
}

static const char *type_name(const json_t *j)
{
	return sm_json_type_name(j);
}

/* An optional member that must be an object (NULL when absent or null). */
static const json_t *get_obj(struct cctx *c, const json_t *parent,
			     const char *key, const struct pth *up)
{
	const json_t *v = parent ? json_object_get(parent, key) : NULL;

	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_object(v)) {
		cerr(c, PK(up, key), "expected an object, got %s",
		     type_name(v));
		return NULL;
	}
	return v;
}

static const json_t *get_arr(struct cctx *c, const json_t *parent,
			     const char *key, const struct pth *up)
{
	const json_t *v = parent ? json_object_get(parent, key) : NULL;

	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_array(v)) {
		cerr(c, PK(up, key), "expected an array, got %s", type_name(v));
		return NULL;
	}
	return v;
}

/* An optional string member; "" when absent or null. */
static const char *get_str(struct cctx *c, const json_t *parent,
			   const char *key, const struct pth *up)
{
	const json_t *v = parent ? json_object_get(parent, key) : NULL;

	if (!v || json_is_null(v))
		return "";
	if (!json_is_string(v)) {
		cerr(c, PK(up, key), "expected a string, got %s", type_name(v));
		return "";
	}
	return json_string_value(v);
}

/* A quantity member into milli-units (cpu) or whole units; -1 if absent. */
static int64_t get_qty(struct cctx *c, const json_t *list, const char *key,
		       bool milli, const struct pth *up)
{
	const json_t *v = list ? json_object_get(list, key) : NULL;
	struct mf_quantity q;
	const char *why = NULL;
	char num[64];
	const char *text;

	if (!v || json_is_null(v))
		return -1;
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		text = num;
	} else if (json_is_real(v)) {
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		text = num;
	} else if (json_is_string(v)) {
		text = json_string_value(v);
	} else {
		cerr(c, PK(up, key), "expected a quantity, got %s",
		     type_name(v));
		return -1;
	}
	if (mf_quantity_parse(text, &q, &why)) {
		cerr(c, PK(up, key), "invalid quantity \"%s\": %s", text, why);
		return -1;
	}
	if (q.nano < 0) {
		cerr(c, PK(up, key),
		     "invalid quantity \"%s\": must not be negative", text);
		return -1;
	}
	return milli ? mf_quantity_milli(&q) : mf_quantity_value(&q);
}

static void labels_compile(struct cctx *c, struct sched_labels *out,
			   const json_t *meta, const struct pth *up)
{
	const json_t *labels = get_obj(c, meta, "labels", up);
	const char *k;
	json_t *v;

	if (!labels)
		return;
	out->v = cc_calloc(c, json_object_size(labels) + 1, sizeof(*out->v));
	json_object_foreach ((json_t *)labels, k, v) {
		if (!json_is_string(v))
			continue; /* validation reports it; it matches nothing
				   */
		str_set(c, &out->v[out->nr].key, k);
		str_set(c, &out->v[out->nr].value, json_string_value(v));
		out->nr++;
	}
}

/* ---- node affinity ---------------------------------------------------- */

static const struct {
	const char *name;
	enum sched_req_op op;
} req_ops[] = {
	{ "In", SCHED_OP_IN },	       { "NotIn", SCHED_OP_NOTIN },
	{ "Exists", SCHED_OP_EXISTS }, { "DoesNotExist", SCHED_OP_NOTEXIST },
	{ "Gt", SCHED_OP_GT },	       { "Lt", SCHED_OP_LT },
};

/* One NodeSelectorRequirement (matchExpressions or matchFields entry). */
static void node_req_compile(struct cctx *c, struct sched_req *r,
			     const json_t *j, bool field,
			     const struct pth *path)
{
	const char *key, *op;
	const json_t *values;
	size_t i, nr;
	bool found = false;

	if (!json_is_object(j)) {
		cerr(c, path, "expected an object, got %s", type_name(j));
		return;
	}
	key = get_str(c, j, "key", path);
	if (!*key)
		cerr(c, PK(path, "key"), "required value");
	else if (field && strcmp(key, "metadata.name"))
		cerr(c, PK(path, "key"),
		     "unsupported value \"%s\": expected \"metadata.name\"",
		     key);
	str_set(c, &r->key, key);
	r->on_name = field;

	op = get_str(c, j, "operator", path);
	for (i = 0; i < SM_ARRAY_SIZE(req_ops); i++) {
		if (!strcmp(op, req_ops[i].name)) {
			r->op = req_ops[i].op;
			found = true;
		}
	}
	if (!found ||
	    (field && r->op != SCHED_OP_IN && r->op != SCHED_OP_NOTIN)) {
		cerr(c, PK(path, "operator"),
		     "unsupported value \"%s\": expected %s", op,
		     field ? "\"In\" or \"NotIn\""
			   : "\"In\", \"NotIn\", \"Exists\", \"DoesNotExist\", "
			     "\"Gt\" or \"Lt\"");
		return;
	}

	values = get_arr(c, j, "values", path);
	nr = values ? json_array_size(values) : 0;
	switch (r->op) {
	case SCHED_OP_IN:
	case SCHED_OP_NOTIN:
		if (nr == 0)
			cerr(c, PK(path, "values"),
			     "must be specified for operator \"%s\"", op);
		break;
	case SCHED_OP_EXISTS:
	case SCHED_OP_NOTEXIST:
		if (nr != 0)
			cerr(c, PK(path, "values"),
			     "must be empty for operator \"%s\"", op);
		break;
	case SCHED_OP_GT:
	case SCHED_OP_LT:
		if (nr != 1)
			cerr(c, PK(path, "values"),
			     "must have exactly one value for operator \"%s\"",
			     op);
		break;
	}
	if (!nr)
		return;
	r->values = cc_calloc(c, nr, sizeof(*r->values));
	for (i = 0; i < nr; i++) {
		const json_t *v = json_array_get(values, i);

		if (!json_is_string(v)) {
			cerr(c, PI(PK(path, "values"), i),
			     "expected a string, got %s", type_name(v));
			continue;
		}
		str_set(c, &r->values[r->nr_values++], json_string_value(v));
	}
	if ((r->op == SCHED_OP_GT || r->op == SCHED_OP_LT) && r->nr_values &&
	    !parse_int64(r->values[0].s, &r->num))
		cerr(c, PK(path, "values"),
		     "invalid value \"%s\": expected an integer",
		     r->values[0].s ? r->values[0].s : "");
}

static void term_compile(struct cctx *c, struct sched_sel *sel,
			 const json_t *term, const struct pth *path)
{
	static const char *const parts[] = { "matchExpressions",
					     "matchFields" };
	const json_t *arr[2];
	size_t total = 0;

	if (!json_is_object(term)) {
		cerr(c, path, "expected an object, got %s", type_name(term));
		return;
	}
	for (int k = 0; k < 2; k++) {
		arr[k] = get_arr(c, term, parts[k], path);
		total += arr[k] ? json_array_size(arr[k]) : 0;
	}
	/* A term with no requirements matches no node, as in Kubernetes. */
	sel->reqs = cc_calloc(c, total + 1, sizeof(*sel->reqs));
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; arr[k] && i < json_array_size(arr[k]); i++)
			node_req_compile(c, &sel->reqs[sel->nr++],
					 json_array_get(arr[k], i), k == 1,
					 PI(PK(path, parts[k]), i));
}

static void node_affinity_compile(struct cctx *c, struct sched_pod *p,
				  const json_t *affinity, const struct pth *up)
{
	const struct pth *pna = PK(up, "nodeAffinity");
	const struct pth *preq =
		PK(pna, "requiredDuringSchedulingIgnoredDuringExecution");
	const json_t *na, *req, *terms;

	na = get_obj(c, affinity, "nodeAffinity", up);
	req = get_obj(c, na, "requiredDuringSchedulingIgnoredDuringExecution",
		      pna);
	if (!req)
		return;
	terms = get_arr(c, req, "nodeSelectorTerms", preq);
	p->has_terms = true;
	if (!terms)
		return; /* no terms: no node matches */
	p->terms = cc_calloc(c, json_array_size(terms) + 1, sizeof(*p->terms));
	for (size_t i = 0; i < json_array_size(terms); i++)
		term_compile(c, &p->terms[p->nr_terms++],
			     json_array_get(terms, i),
			     PI(PK(preq, "nodeSelectorTerms"), i));
}

static void node_selector_compile(struct cctx *c, struct sched_pod *p,
				  const json_t *spec, const struct pth *up)
{
	const json_t *ns = get_obj(c, spec, "nodeSelector", up);
	const char *k;
	json_t *v;

	if (!ns)
		return;
	p->node_selector.reqs = cc_calloc(c, json_object_size(ns) + 1,
					  sizeof(struct sched_req));
	json_object_foreach ((json_t *)ns, k, v) {
		struct sched_req *r =
			&p->node_selector.reqs[p->node_selector.nr];

		if (!json_is_string(v)) {
			cerr(c, PK(PK(up, "nodeSelector"), k),
			     "expected a string, got %s", type_name(v));
			continue;
		}
		str_set(c, &r->key, k);
		r->op = SCHED_OP_IN;
		r->values = cc_calloc(c, 1, sizeof(*r->values));
		str_set(c, &r->values[0], json_string_value(v));
		r->nr_values = 1;
		p->node_selector.nr++;
	}
}

/* ---- pod anti-affinity ------------------------------------------------ */

/* A LabelSelector through manifests' checks into the hashed form. */
static void label_selector_compile(struct cctx *c, struct sched_sel *sel,
				   const json_t *j, const struct pth *path)
{
	struct mf_selector ms = MF_SELECTOR_INIT;
	struct sm_buf prefix = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	cerr_prefix(c, &prefix);
	pth_format(&prefix, path);
	if (mf_selector_from_json(&ms, j, sm_buf_cstr(&prefix), NULL, c->err)) {
		c->failed = true;
		sm_buf_release(&prefix);
		return;
	}
	sm_buf_release(&prefix);
	sel->reqs = cc_calloc(c, ms.nr + 1, sizeof(*sel->reqs));
	for (size_t i = 0; i < ms.nr; i++) {
		const struct mf_sel_req *m = &ms.reqs[i];
		struct sched_req *r = &sel->reqs[sel->nr++];

		str_set(c, &r->key, m->key);
		switch (m->op) {
		case MF_SEL_EQ:
		case MF_SEL_IN:
			r->op = SCHED_OP_IN;
			break;
		case MF_SEL_NEQ:
		case MF_SEL_NOTIN:
			r->op = SCHED_OP_NOTIN;
			break;
		case MF_SEL_EXISTS:
			r->op = SCHED_OP_EXISTS;
			break;
		case MF_SEL_NOTEXIST:
			r->op = SCHED_OP_NOTEXIST;
			break;
		}
		r->values = cc_calloc(c, m->nr_values + 1, sizeof(*r->values));
		for (size_t k = 0; k < m->nr_values; k++)
			str_set(c, &r->values[r->nr_values++], m->values[k]);
	}
	mf_selector_release(&ms);
}

static void anti_term_compile(struct cctx *c, struct sched_pod *p,
			      struct sched_anti *a, const json_t *t,
			      const struct pth *path)
{
	const char *topo;
	const json_t *ls, *nss, *nsel;

	if (!json_is_object(t)) {
		cerr(c, path, "expected an object, got %s", type_name(t));
		return;
	}
	topo = get_str(c, t, "topologyKey", path);
	if (!*topo)
		cerr(c, PK(path, "topologyKey"), "required value");
	else if (strcmp(topo, SCHED_HOSTNAME_KEY))
		cerr(c, PK(path, "topologyKey"),
		     "unsupported value \"%s\": only \"%s\" is supported", topo,
		     SCHED_HOSTNAME_KEY);

	ls = json_object_get(t, "labelSelector");
	if (ls && !json_is_null(ls))
		label_selector_compile(c, &a->sel, ls,
				       PK(path, "labelSelector"));
	else
		a->selects_none =
			true; /* as in Kubernetes: no selector, no pods */

	nsel = get_obj(c, t, "namespaceSelector", path);
	if (nsel && json_object_size(nsel) == 0)
		a->all_namespaces = true;
	else if (nsel)
		cerr(c, PK(path, "namespaceSelector"),
		     "not supported (only {} for all namespaces)");

	nss = get_arr(c, t, "namespaces", path);
	a->namespaces = cc_calloc(c, (nss ? json_array_size(nss) : 0) + 1,
				  sizeof(*a->namespaces));
	for (size_t i = 0; nss && i < json_array_size(nss); i++) {
		const json_t *v = json_array_get(nss, i);

		if (json_is_string(v))
			str_set(c, &a->namespaces[a->nr_namespaces++],
				json_string_value(v));
		else
			cerr(c, PI(PK(path, "namespaces"), i),
			     "expected a string, got %s", type_name(v));
	}
	if (!a->nr_namespaces && !nsel)
		str_set(c, &a->namespaces[a->nr_namespaces++], p->ns);
}

static void pod_affinity_compile(struct cctx *c, struct sched_pod *p,
				 const json_t *affinity, const struct pth *up)
{
	static const char req[] =
		"requiredDuringSchedulingIgnoredDuringExecution";
	const struct pth *ppa = PK(up, "podAffinity");
	const struct pth *panti = PK(up, "podAntiAffinity");
	const json_t *pa, *terms;

	pa = get_obj(c, affinity, "podAffinity", up);
	terms = get_arr(c, pa, req, ppa);
	if (terms && json_array_size(terms))
		cerr(c, PK(ppa, req), "not supported (required pod affinity)");

	pa = get_obj(c, affinity, "podAntiAffinity", up);
	terms = get_arr(c, pa, req, panti);
	if (!terms)
		return;
	p->anti = cc_calloc(c, json_array_size(terms) + 1, sizeof(*p->anti));
	for (size_t i = 0; i < json_array_size(terms); i++)
		anti_term_compile(c, p, &p->anti[p->nr_anti++],
				  json_array_get(terms, i),
				  PI(PK(panti, req), i));
}

/* ---- tolerations, taints, ports --------------------------------------- */

static const char *const effect_names[] = {
	[SCHED_EFFECT_ALL] = "",
	[SCHED_EFFECT_NO_SCHEDULE] = "NoSchedule",
	[SCHED_EFFECT_PREFER_NO_SCHEDULE] = "PreferNoSchedule",
	[SCHED_EFFECT_NO_EXECUTE] = "NoExecute",
};

static bool effect_parse(const char *s, enum sched_effect *e)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(effect_names); i++) {
		if (!strcmp(s, effect_names[i])) {
			*e = (enum sched_effect)i;
			return true;
		}
	}
	return false;
}

static void tolerations_compile(struct cctx *c, struct sched_pod *p,
				const json_t *spec, const struct pth *up)
{
	const json_t *tols = get_arr(c, spec, "tolerations", up);

	if (!tols)
		return;
	p->tols = cc_calloc(c, json_array_size(tols) + 1, sizeof(*p->tols));
	for (size_t i = 0; i < json_array_size(tols); i++) {
		const struct pth *path = PI(PK(up, "tolerations"), i);
		const json_t *t = json_array_get(tols, i);
		struct sched_toleration *o = &p->tols[p->nr_tols++];
		const char *op, *eff;

		if (!json_is_object(t)) {
			cerr(c, path, "expected an object, got %s",
			     type_name(t));
			continue;
		}
		str_set(c, &o->key, get_str(c, t, "key", path));
		str_set(c, &o->value, get_str(c, t, "value", path));
		op = get_str(c, t, "operator", path);
		if (!strcmp(op, "Exists"))
			o->exists = true;
		else if (*op && strcmp(op, "Equal"))
			cerr(c, PK(path, "operator"),
			     "unsupported value \"%s\": expected \"Exists\" or "
			     "\"Equal\"",
			     op);
		eff = get_str(c, t, "effect", path);
		if (!effect_parse(eff, &o->effect))
			cerr(c, PK(path, "effect"),
			     "unsupported value \"%s\": expected "
			     "\"NoSchedule\", "
			     "\"PreferNoSchedule\" or \"NoExecute\"",
			     eff);
	}
}

static void ports_compile(struct cctx *c, struct sched_pod *p,
			  const json_t *containers, const struct pth *up)
{
	size_t total = 0;

	for (size_t i = 0; i < json_array_size(containers); i++) {
		const json_t *ports =
			json_object_get(json_array_get(containers, i), "ports");

		total += json_is_array(ports) ? json_array_size(ports) : 0;
	}
	if (!total)
		return;
	p->ports = cc_calloc(c, total, sizeof(*p->ports));
	for (size_t i = 0; i < json_array_size(containers); i++) {
		const json_t *ports =
			json_object_get(json_array_get(containers, i), "ports");

		for (size_t k = 0;
		     json_is_array(ports) && k < json_array_size(ports); k++) {
			const struct pth *path = PI(PK(PI(up, i), "ports"), k);
			const json_t *pt = json_array_get(ports, k);
			const json_t *hp = json_object_get(pt, "hostPort");
			const char *proto, *ip;
			struct sched_port *o;

			if (!hp || json_is_null(hp))
				continue;
			if (!json_is_integer(hp) ||
			    json_integer_value(hp) < 0 ||
			    json_integer_value(hp) > 65535) {
				cerr(c, PK(path, "hostPort"),
				     "expected a port number 0-65535");
				continue;
			}
			if (json_integer_value(hp) == 0)
				continue;
			o = &p->ports[p->nr_ports++];
			o->port = (uint32_t)json_integer_value(hp);
			proto = get_str(c, pt, "protocol", path);
			if (!*proto || !strcmp(proto, "TCP"))
				o->proto = SCHED_TCP;
			else if (!strcmp(proto, "UDP"))
				o->proto = SCHED_UDP;
			else if (!strcmp(proto, "SCTP"))
				o->proto = SCHED_SCTP;
			else
				cerr(c, PK(path, "protocol"),
				     "unsupported value \"%s\": expected "
				     "\"TCP\", \"UDP\" or \"SCTP\"",
				     proto);
			ip = get_str(c, pt, "hostIP", path);
			o->ip = !*ip || !strcmp(ip, "0.0.0.0")
					? 0
					: sched__hash(ip);
		}
	}
}

/* ---- requests --------------------------------------------------------- */

struct requests {
	int64_t cpu, mem; /* as requested */
	int64_t nz_cpu, nz_mem; /* with the scoring defaults */
};

static int64_t sat_add(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* One container's requests; a limit stands in for a missing request. */
static void container_requests(struct cctx *c, const json_t *ctr,
			       const struct pth *path, struct requests *r)
{
	const json_t *res = json_object_get(ctr, "resources");
	const json_t *req = NULL, *lim = NULL;
	const struct pth *pres = PK(path, "resources");
	int64_t cpu, mem;

	if (json_is_object(res)) {
		req = json_object_get(res, "requests");
		lim = json_object_get(res, "limits");
	}
	if (!json_is_object(req))
		req = NULL;
	if (!json_is_object(lim))
		lim = NULL;
	cpu = get_qty(c, req, "cpu", true, PK(pres, "requests"));
	if (cpu < 0)
		cpu = get_qty(c, lim, "cpu", true, PK(pres, "limits"));
	mem = get_qty(c, req, "memory", false, PK(pres, "requests"));
	if (mem < 0)
		mem = get_qty(c, lim, "memory", false, PK(pres, "limits"));
	r->cpu = cpu < 0 ? 0 : cpu;
	r->mem = mem < 0 ? 0 : mem;
	r->nz_cpu = cpu < 0 ? SCHED_DEFAULT_MILLI_CPU : cpu;
	r->nz_mem = mem < 0 ? SCHED_DEFAULT_MEMORY : mem;
}

static void pod_requests(struct cctx *c, struct sched_pod *p,
			 const json_t *spec, const struct pth *up)
{
	const json_t *ctrs = get_arr(c, spec, "containers", up);
	const json_t *inits = get_arr(c, spec, "initContainers", up);
	const json_t *overhead = get_obj(c, spec, "overhead", up);
	struct requests sum = { 0 }, one;
	int64_t v;

	for (size_t i = 0; ctrs && i < json_array_size(ctrs); i++) {
		container_requests(c, json_array_get(ctrs, i),
				   PI(PK(up, "containers"), i), &one);
		sum.cpu = sat_add(sum.cpu, one.cpu);
		sum.mem = sat_add(sum.mem, one.mem);
		sum.nz_cpu = sat_add(sum.nz_cpu, one.nz_cpu);
		sum.nz_mem = sat_add(sum.nz_mem, one.nz_mem);
	}
	/* Init containers run one at a time before the others: the max. */
	for (size_t i = 0; inits && i < json_array_size(inits); i++) {
		container_requests(c, json_array_get(inits, i),
				   PI(PK(up, "initContainers"), i), &one);
		if (one.cpu > sum.cpu)
			sum.cpu = one.cpu;
		if (one.mem > sum.mem)
			sum.mem = one.mem;
		if (one.nz_cpu > sum.nz_cpu)
			sum.nz_cpu = one.nz_cpu;
		if (one.nz_mem > sum.nz_mem)
			sum.nz_mem = one.nz_mem;
	}
	if (overhead) {
		v = get_qty(c, overhead, "cpu", true, PK(up, "overhead"));
		if (v > 0) {
			sum.cpu = sat_add(sum.cpu, v);
			sum.nz_cpu = sat_add(sum.nz_cpu, v);
		}
		v = get_qty(c, overhead, "memory", false, PK(up, "overhead"));
		if (v > 0) {
			sum.mem = sat_add(sum.mem, v);
			sum.nz_mem = sat_add(sum.nz_mem, v);
		}
	}
	p->cpu = sum.cpu;
	p->mem = sum.mem;
	p->nz_cpu = sum.nz_cpu;
	p->nz_mem = sum.nz_mem;
	if (ctrs)
		ports_compile(c, p, ctrs, PK(up, "containers"));
}

/* The controller's uid (or kind/name when it has none), hashed. */
static uint64_t owner_hash(const json_t *meta)
{
	const json_t *refs = json_object_get(meta, "ownerReferences");

	for (size_t i = 0; json_is_array(refs) && i < json_array_size(refs);
	     i++) {
		const json_t *r = json_array_get(refs, i);
		const char *uid, *kind, *name;
		uint64_t h;

		if (!json_is_true(json_object_get(r, "controller")))
			continue;
		uid = sm_json_get_str(r, "uid");
		if (uid && *uid) {
			h = sched__hash(uid);
		} else {
			char *kn;

			kind = sm_json_get_str(r, "kind");
			name = sm_json_get_str(r, "name");
			kn = xasprintf("%s/%s", kind ? kind : "",
				       name ? name : "");
			h = sched__hash(kn);
			free(kn);
		}
		return h ? h : 1;
	}
	return 0;
}

void sched_pod_free(struct sched_pod *p)
{
	if (p)
		sched__arena_free(p->arena); /* p lives in it */
}

int sched_pod_compile(struct sched_pod **out, const json_t *pod,
		      struct sm_err *err)
{
	struct sched_arena *arena = NULL;
	struct cctx c = { .err = err, .arena = &arena, .kind = "Pod" };
	const json_t *meta, *spec, *affinity;
	const struct pth *pspec = PK(NULL, "spec");
	const struct pth *paff = PK(pspec, "affinity");
	const char *name, *ns;
	struct sched_pod *p;
	size_t nslen, namelen;

	meta = json_is_object(pod) ? json_object_get(pod, "metadata") : NULL;
	name = sm_json_get_str(meta, "name");
	ns = sm_json_get_str(meta, "namespace");
	if (!ns || !*ns)
		ns = "default";
	c.ns = ns;
	c.name = name ? name : "";
	if (!json_is_object(meta) || !name || !*name) {
		cerr(&c, PK(PK(NULL, "metadata"), "name"), "required value");
		return -EINVAL;
	}
	p = arena_alloc(&arena, sizeof(*p));
	nslen = strlen(ns);
	namelen = strlen(name);
	p->key = arena_alloc(&arena, nslen + 1 + namelen + 1);
	memcpy(p->key, ns, nslen);
	p->key[nslen] = '/';
	memcpy(p->key + nslen + 1, name, namelen);
	p->ns = arena_strdup(&arena, ns);
	p->name = p->key + nslen + 1;
	p->ns_hash = sched__hash(ns);
	p->key_hash = sched__hash(p->key);
	labels_compile(&c, &p->labels, meta, PK(NULL, "metadata"));
	p->owner = owner_hash(meta);

	spec = get_obj(&c, pod, "spec", NULL);
	pod_requests(&c, p, spec, pspec);
	node_selector_compile(&c, p, spec, pspec);
	affinity = get_obj(&c, spec, "affinity", pspec);
	node_affinity_compile(&c, p, affinity, paff);
	pod_affinity_compile(&c, p, affinity, paff);
	tolerations_compile(&c, p, spec, pspec);
	if (!c.failed) {
		static const struct sched_taint unschedulable = {
			.key = { (char *)SCHED_TAINT_UNSCHEDULABLE, 0 },
			.effect = SCHED_EFFECT_NO_SCHEDULE,
		};
		struct sched_taint t = unschedulable;

		t.key.h = sched__hash(SCHED_TAINT_UNSCHEDULABLE);
		t.value.h = sched__hash("");
		p->tolerates_unschedulable =
			sched__tolerates(p->tols, p->nr_tols, &t);
	}

	if (c.failed) {
		sched__arena_free(arena);
		return -EINVAL;
	}
	p->arena = arena;
	*out = p;
	return 0;
}

/* ---- nodes ------------------------------------------------------------ */

void sched__node_release_spec(struct sched_node *n)
{
	free(n->name);
	n->name = NULL;
	sched__arena_free(n->arena);
	n->arena = NULL;
	n->labels = (struct sched_labels){ 0 };
	n->taints = NULL;
	n->nr_taints = n->nr_filter_taints = 0;
}

static void taint_add(struct cctx *c, struct sched_node *n, const char *key,
		      const char *value, enum sched_effect e)
{
	struct sched_taint *t = &n->taints[n->nr_taints++];

	str_set(c, &t->key, key);
	str_set(c, &t->value, value);
	t->effect = e;
	if (e == SCHED_EFFECT_NO_SCHEDULE || e == SCHED_EFFECT_NO_EXECUTE)
		n->nr_filter_taints++;
}

static bool has_taint(const struct sched_node *n, const char *key,
		      enum sched_effect e)
{
	uint64_t h = sched__hash(key);

	for (uint32_t i = 0; i < n->nr_taints; i++)
		if (n->taints[i].effect == e &&
		    str_eq_c(&n->taints[i].key, key, h))
			return true;
	return false;
}

/* "True", "False", "Unknown", or NULL when there is no Ready condition. */
static const char *ready_status(const json_t *status)
{
	const json_t *conds = json_object_get(status, "conditions");

	for (size_t i = 0; json_is_array(conds) && i < json_array_size(conds);
	     i++) {
		const json_t *cd = json_array_get(conds, i);
		const char *type = sm_json_get_str(cd, "type");

		if (type && !strcmp(type, "Ready"))
			return sm_json_get_str(cd, "status");
	}
	return NULL;
}

/* An allocatable resource, or its capacity when allocatable lacks it. */
static int64_t node_resource(struct cctx *c, const json_t *alloc,
			     const json_t *cap, const char *key, bool milli,
			     const struct pth *pstatus)
{
	int64_t v = get_qty(c, alloc, key, milli, PK(pstatus, "allocatable"));

	if (v < 0)
		v = get_qty(c, cap, key, milli, PK(pstatus, "capacity"));
	return v < 0 ? 0 : v;
}

int sched__node_compile(struct sched_node **out, const json_t *node,
			struct sm_err *err)
{
	struct sched_arena *arena = NULL;
	struct cctx c = { .err = err, .arena = &arena, .kind = "Node" };
	const struct pth *pspec = PK(NULL, "spec");
	const struct pth *pstatus = PK(NULL, "status");
	const json_t *meta, *spec, *status, *alloc, *cap, *taints, *u;
	const char *name, *ready;
	struct sched_node *n;

	meta = json_is_object(node) ? json_object_get(node, "metadata") : NULL;
	name = sm_json_get_str(meta, "name");
	c.name = name ? name : "";
	if (!json_is_object(meta) || !name || !*name) {
		cerr(&c, PK(PK(NULL, "metadata"), "name"), "required value");
		return -EINVAL;
	}
	n = xcalloc(1, sizeof(*n));
	n->name = xstrdup(name);
	n->name_hash = sched__hash(name);
	labels_compile(&c, &n->labels, meta, PK(NULL, "metadata"));

	spec = get_obj(&c, node, "spec", NULL);
	u = spec ? json_object_get(spec, "unschedulable") : NULL;
	n->unschedulable = json_is_true(u);
	taints = get_arr(&c, spec, "taints", pspec);
	/* One longer than given: room for the Ready taint below. */
	n->taints = cc_calloc(&c, (taints ? json_array_size(taints) : 0) + 1,
			      sizeof(*n->taints));
	for (size_t i = 0; taints && i < json_array_size(taints); i++) {
		const struct pth *path = PI(PK(pspec, "taints"), i);
		const json_t *t = json_array_get(taints, i);
		const char *key, *eff;
		enum sched_effect e;

		key = get_str(&c, t, "key", path);
		if (!*key)
			cerr(&c, PK(path, "key"), "required value");
		eff = get_str(&c, t, "effect", path);
		if (!effect_parse(eff, &e) || e == SCHED_EFFECT_ALL) {
			cerr(&c, PK(path, "effect"),
			     "unsupported value \"%s\": expected "
			     "\"NoSchedule\", "
			     "\"PreferNoSchedule\" or \"NoExecute\"",
			     eff);
			continue;
		}
		taint_add(&c, n, key, get_str(&c, t, "value", path), e);
	}

	status = get_obj(&c, node, "status", NULL);
	alloc = get_obj(&c, status, "allocatable", pstatus);
	cap = get_obj(&c, status, "capacity", pstatus);
	n->alloc_cpu = node_resource(&c, alloc, cap, "cpu", true, pstatus);
	n->alloc_mem = node_resource(&c, alloc, cap, "memory", false, pstatus);
	n->alloc_pods = node_resource(&c, alloc, cap, "pods", false, pstatus);

	/*
	 * What the node lifecycle controller would taint a node that is not
	 * Ready with (TaintNodesByCondition), so a lagging taint cannot let a
	 * pod onto a dead node, and the message says what Kubernetes says.
	 */
	ready = ready_status(status);
	if (!ready || strcmp(ready, "True")) {
		const char *key = ready && !strcmp(ready, "Unknown")
					  ? SCHED_TAINT_UNREACHABLE
					  : SCHED_TAINT_NOT_READY;

		if (!has_taint(n, key, SCHED_EFFECT_NO_SCHEDULE))
			taint_add(&c, n, key, "", SCHED_EFFECT_NO_SCHEDULE);
	}

	n->arena = arena;
	if (c.failed) {
		sched__node_release_spec(n);
		free(n);
		return -EINVAL;
	}
	*out = n;
	return 0;
}
