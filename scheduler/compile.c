/*
 * compile.c: Node and Pod objects (JSON) into the integer-and-hash structs
 * the filters read (internal.h), once per object, so that scheduling a pod
 * touches no JSON and parses no quantity.
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
#include "common/strmap.h"
#include "common/xalloc.h"
#include "manifests/quantity.h"
#include "manifests/selector.h"
#include "scheduler/internal.h"
#include "common/banned.h"

uint64_t sched__hash(const char *s)
{
	if (!s)
		s = "";
	return sm_hash_fnv1a(s, strlen(s));
}

static void str_set(struct sched_str *d, const char *s)
{
	d->s = s && *s ? xstrdup(s) : NULL;
	d->h = sched__hash(s);
}

#define str_eq sched__str_eq

static bool str_eq_c(const struct sched_str *a, const char *b, uint64_t bh)
{
	return a->h == bh && !strcmp(a->s ? a->s : "", b ? b : "");
}

void sched__str_release(struct sched_str *s)
{
	free(s->s);
	s->s = NULL;
}

void sched__labels_release(struct sched_labels *l)
{
	for (uint32_t i = 0; i < l->nr; i++) {
		sched__str_release(&l->v[i].key);
		sched__str_release(&l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->nr = 0;
}

static void req_release(struct sched_req *r)
{
	sched__str_release(&r->key);
	for (uint32_t i = 0; i < r->nr_values; i++)
		sched__str_release(&r->values[i]);
	free(r->values);
}

void sched__sel_release(struct sched_sel *sel)
{
	for (uint32_t i = 0; i < sel->nr; i++)
		req_release(&sel->reqs[i]);
	free(sel->reqs);
	sel->reqs = NULL;
	sel->nr = 0;
}

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

/*
 * snprintf for field paths and messages: a path that does not fit is cut
 * short, which only shortens a message (names are bounded well below).
 */
static const char *SM_PRINTF(3, 4)
	pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return buf;
}

struct cctx {
	struct sm_err *err;
	char what[300]; /* Pod "ns/name" or Node "name" */
	bool failed;
};

static void SM_PRINTF(3, 4)
	cerr(struct cctx *c, const char *path, const char *fmt, ...)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	va_list ap;

	va_start(ap, fmt);
	sm_buf_addf(&b, "%s: %s: ", c->what, path);
	sm_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	sm_error(c->err, NULL, "%s", sm_buf_cstr(&b));
	sm_buf_release(&b);
	c->failed = true;
}

static const char *type_name(const json_t *j)
{
	return sm_json_type_name(j);
}

/* An optional member that must be an object (NULL when absent or null). */
static const json_t *get_obj(struct cctx *c, const json_t *parent,
			     const char *key, const char *path)
{
	const json_t *v = parent ? json_object_get(parent, key) : NULL;

	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_object(v)) {
		cerr(c, path, "expected an object, got %s", type_name(v));
		return NULL;
	}
	return v;
}

static const json_t *get_arr(struct cctx *c, const json_t *parent,
			     const char *key, const char *path)
{
	const json_t *v = parent ? json_object_get(parent, key) : NULL;

	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_array(v)) {
		cerr(c, path, "expected an array, got %s", type_name(v));
		return NULL;
	}
	return v;
}

/* An optional string member; "" when absent or null. */
static const char *get_str(struct cctx *c, const json_t *parent,
			   const char *key, const char *path)
{
	const json_t *v = parent ? json_object_get(parent, key) : NULL;

	if (!v || json_is_null(v))
		return "";
	if (!json_is_string(v)) {
		cerr(c, path, "expected a string, got %s", type_name(v));
		return "";
	}
	return json_string_value(v);
}

/* A quantity member into milli-units (cpu) or whole units; -1 if absent. */
static int64_t get_qty(struct cctx *c, const json_t *list, const char *key,
		       bool milli, const char *path)
{
	const json_t *v = list ? json_object_get(list, key) : NULL;
	struct mf_quantity q;
	const char *why = NULL;
	char num[64];
	const char *text;

	if (!v || json_is_null(v))
		return -1;
	if (json_is_integer(v)) {
		pathf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		      json_integer_value(v));
		text = num;
	} else if (json_is_real(v)) {
		pathf(num, sizeof(num), "%.17g", json_real_value(v));
		text = num;
	} else if (json_is_string(v)) {
		text = json_string_value(v);
	} else {
		cerr(c, path, "expected a quantity, got %s", type_name(v));
		return -1;
	}
	if (mf_quantity_parse(text, &q, &why)) {
		cerr(c, path, "invalid quantity \"%s\": %s", text, why);
		return -1;
	}
	if (q.nano < 0) {
		cerr(c, path, "invalid quantity \"%s\": must not be negative",
		     text);
		return -1;
	}
	return milli ? mf_quantity_milli(&q) : mf_quantity_value(&q);
}

static void labels_compile(struct cctx *c, struct sched_labels *out,
			   const json_t *meta)
{
	const json_t *labels = get_obj(c, meta, "labels", "metadata.labels");
	const char *k;
	json_t *v;

	if (!labels)
		return;
	out->v = xcalloc(json_object_size(labels) + 1, sizeof(*out->v));
	json_object_foreach ((json_t *)labels, k, v) {
		if (!json_is_string(v))
			continue; /* validation reports it; it matches nothing
				   */
		str_set(&out->v[out->nr].key, k);
		str_set(&out->v[out->nr].value, json_string_value(v));
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
			     const json_t *j, bool field, const char *path)
{
	char p[256];
	const char *key, *op;
	const json_t *values;
	size_t i, nr;
	bool found = false;

	if (!json_is_object(j)) {
		cerr(c, path, "expected an object, got %s", type_name(j));
		return;
	}
	pathf(p, sizeof(p), "%s.key", path);
	key = get_str(c, j, "key", p);
	if (!*key)
		cerr(c, p, "required value");
	else if (field && strcmp(key, "metadata.name"))
		cerr(c, p,
		     "unsupported value \"%s\": expected \"metadata.name\"",
		     key);
	str_set(&r->key, key);
	r->on_name = field;

	pathf(p, sizeof(p), "%s.operator", path);
	op = get_str(c, j, "operator", p);
	for (i = 0; i < SM_ARRAY_SIZE(req_ops); i++) {
		if (!strcmp(op, req_ops[i].name)) {
			r->op = req_ops[i].op;
			found = true;
		}
	}
	if (!found ||
	    (field && r->op != SCHED_OP_IN && r->op != SCHED_OP_NOTIN)) {
		cerr(c, p, "unsupported value \"%s\": expected %s", op,
		     field ? "\"In\" or \"NotIn\""
			   : "\"In\", \"NotIn\", \"Exists\", \"DoesNotExist\", "
			     "\"Gt\" or \"Lt\"");
		return;
	}

	pathf(p, sizeof(p), "%s.values", path);
	values = get_arr(c, j, "values", p);
	nr = values ? json_array_size(values) : 0;
	switch (r->op) {
	case SCHED_OP_IN:
	case SCHED_OP_NOTIN:
		if (nr == 0)
			cerr(c, p, "must be specified for operator \"%s\"", op);
		break;
	case SCHED_OP_EXISTS:
	case SCHED_OP_NOTEXIST:
		if (nr != 0)
			cerr(c, p, "must be empty for operator \"%s\"", op);
		break;
	case SCHED_OP_GT:
	case SCHED_OP_LT:
		if (nr != 1)
			cerr(c, p,
			     "must have exactly one value for operator \"%s\"",
			     op);
		break;
	}
	if (!nr)
		return;
	r->values = xcalloc(nr, sizeof(*r->values));
	for (i = 0; i < nr; i++) {
		const json_t *v = json_array_get(values, i);

		if (!json_is_string(v)) {
			char pi[280];

			pathf(pi, sizeof(pi), "%s[%zu]", p, i);
			cerr(c, pi, "expected a string, got %s", type_name(v));
			continue;
		}
		str_set(&r->values[r->nr_values++], json_string_value(v));
	}
	if ((r->op == SCHED_OP_GT || r->op == SCHED_OP_LT) && r->nr_values &&
	    !parse_int64(r->values[0].s, &r->num))
		cerr(c, p, "invalid value \"%s\": expected an integer",
		     r->values[0].s ? r->values[0].s : "");
}

static void term_compile(struct cctx *c, struct sched_sel *sel,
			 const json_t *term, const char *path)
{
	static const char *const parts[] = { "matchExpressions",
					     "matchFields" };
	const json_t *arr[2];
	char p[256];
	size_t total = 0;

	if (!json_is_object(term)) {
		cerr(c, path, "expected an object, got %s", type_name(term));
		return;
	}
	for (int k = 0; k < 2; k++) {
		pathf(p, sizeof(p), "%s.%s", path, parts[k]);
		arr[k] = get_arr(c, term, parts[k], p);
		total += arr[k] ? json_array_size(arr[k]) : 0;
	}
	/*
	 * A term with no requirements matches no node, as in Kubernetes; an
	 * empty selector here is told apart by has_terms in the pod.
	 */
	sel->reqs = xcalloc(total + 1, sizeof(*sel->reqs));
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; arr[k] && i < json_array_size(arr[k]); i++) {
			pathf(p, sizeof(p), "%s.%s[%zu]", path, parts[k], i);
			node_req_compile(c, &sel->reqs[sel->nr++],
					 json_array_get(arr[k], i), k == 1, p);
		}
	}
}

static void node_affinity_compile(struct cctx *c, struct sched_pod *p,
				  const json_t *affinity)
{
	static const char base[] =
		"spec.affinity.nodeAffinity."
		"requiredDuringSchedulingIgnoredDuringExecution";
	const json_t *na, *req, *terms;
	char path[256];

	na = get_obj(c, affinity, "nodeAffinity", "spec.affinity.nodeAffinity");
	req = get_obj(c, na, "requiredDuringSchedulingIgnoredDuringExecution",
		      base);
	if (!req)
		return;
	pathf(path, sizeof(path), "%s.nodeSelectorTerms", base);
	terms = get_arr(c, req, "nodeSelectorTerms", path);
	p->has_terms = true;
	if (!terms)
		return; /* no terms: no node matches */
	p->terms = xcalloc(json_array_size(terms) + 1, sizeof(*p->terms));
	for (size_t i = 0; i < json_array_size(terms); i++) {
		pathf(path, sizeof(path), "%s.nodeSelectorTerms[%zu]", base, i);
		term_compile(c, &p->terms[p->nr_terms++],
			     json_array_get(terms, i), path);
	}
}

static void node_selector_compile(struct cctx *c, struct sched_pod *p,
				  const json_t *spec)
{
	const json_t *ns =
		get_obj(c, spec, "nodeSelector", "spec.nodeSelector");
	const char *k;
	json_t *v;

	if (!ns)
		return;
	p->node_selector.reqs =
		xcalloc(json_object_size(ns) + 1, sizeof(struct sched_req));
	json_object_foreach ((json_t *)ns, k, v) {
		struct sched_req *r =
			&p->node_selector.reqs[p->node_selector.nr];

		if (!json_is_string(v)) {
			char path[300];

			pathf(path, sizeof(path), "spec.nodeSelector.%s", k);
			cerr(c, path, "expected a string, got %s",
			     type_name(v));
			continue;
		}
		str_set(&r->key, k);
		r->op = SCHED_OP_IN;
		r->values = xcalloc(1, sizeof(*r->values));
		str_set(&r->values[0], json_string_value(v));
		r->nr_values = 1;
		p->node_selector.nr++;
	}
}

/* ---- pod anti-affinity ------------------------------------------------ */

/* A LabelSelector through manifests' checks into the hashed form. */
static void label_selector_compile(struct cctx *c, struct sched_sel *sel,
				   const json_t *j, const char *path)
{
	struct mf_selector ms = MF_SELECTOR_INIT;
	char prefix[400];

	pathf(prefix, sizeof(prefix), "%s: %s", c->what, path);
	if (mf_selector_from_json(&ms, j, prefix, NULL, c->err)) {
		c->failed = true;
		return;
	}
	sel->reqs = xcalloc(ms.nr + 1, sizeof(*sel->reqs));
	for (size_t i = 0; i < ms.nr; i++) {
		const struct mf_sel_req *m = &ms.reqs[i];
		struct sched_req *r = &sel->reqs[sel->nr++];

		str_set(&r->key, m->key);
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
		r->values = xcalloc(m->nr_values + 1, sizeof(*r->values));
		for (size_t k = 0; k < m->nr_values; k++)
			str_set(&r->values[r->nr_values++], m->values[k]);
	}
	mf_selector_release(&ms);
}

static void anti_term_compile(struct cctx *c, struct sched_pod *p,
			      struct sched_anti *a, const json_t *t,
			      const char *path)
{
	char sub[300];
	const char *topo;
	const json_t *ls, *nss, *nsel;

	if (!json_is_object(t)) {
		cerr(c, path, "expected an object, got %s", type_name(t));
		return;
	}
	pathf(sub, sizeof(sub), "%s.topologyKey", path);
	topo = get_str(c, t, "topologyKey", sub);
	if (!*topo)
		cerr(c, sub, "required value");
	else if (strcmp(topo, SCHED_HOSTNAME_KEY))
		cerr(c, sub,
		     "unsupported value \"%s\": only \"%s\" is supported", topo,
		     SCHED_HOSTNAME_KEY);

	pathf(sub, sizeof(sub), "%s.labelSelector", path);
	ls = json_object_get(t, "labelSelector");
	if (ls && !json_is_null(ls))
		label_selector_compile(c, &a->sel, ls, sub);
	else
		a->selects_none =
			true; /* as in Kubernetes: no selector, no pods */

	pathf(sub, sizeof(sub), "%s.namespaceSelector", path);
	nsel = get_obj(c, t, "namespaceSelector", sub);
	if (nsel && json_object_size(nsel) == 0)
		a->all_namespaces = true;
	else if (nsel)
		cerr(c, sub, "not supported (only {} for all namespaces)");

	pathf(sub, sizeof(sub), "%s.namespaces", path);
	nss = get_arr(c, t, "namespaces", sub);
	a->namespaces = xcalloc((nss ? json_array_size(nss) : 0) + 1,
				sizeof(*a->namespaces));
	for (size_t i = 0; nss && i < json_array_size(nss); i++) {
		const json_t *v = json_array_get(nss, i);

		if (json_is_string(v))
			str_set(&a->namespaces[a->nr_namespaces++],
				json_string_value(v));
		else
			cerr(c, sub, "expected strings, got %s", type_name(v));
	}
	if (!a->nr_namespaces && !nsel)
		str_set(&a->namespaces[a->nr_namespaces++], p->ns);
}

static void pod_affinity_compile(struct cctx *c, struct sched_pod *p,
				 const json_t *affinity)
{
	static const char req[] =
		"requiredDuringSchedulingIgnoredDuringExecution";
	const json_t *pa, *terms;
	char path[300];

	pa = get_obj(c, affinity, "podAffinity", "spec.affinity.podAffinity");
	pathf(path, sizeof(path), "spec.affinity.podAffinity.%s", req);
	terms = get_arr(c, pa, req, path);
	if (terms && json_array_size(terms))
		cerr(c, path, "not supported (required pod affinity)");

	pa = get_obj(c, affinity, "podAntiAffinity",
		     "spec.affinity.podAntiAffinity");
	pathf(path, sizeof(path), "spec.affinity.podAntiAffinity.%s", req);
	terms = get_arr(c, pa, req, path);
	if (!terms)
		return;
	p->anti = xcalloc(json_array_size(terms) + 1, sizeof(*p->anti));
	for (size_t i = 0; i < json_array_size(terms); i++) {
		pathf(path, sizeof(path),
		      "spec.affinity.podAntiAffinity.%s[%zu]", req, i);
		anti_term_compile(c, p, &p->anti[p->nr_anti++],
				  json_array_get(terms, i), path);
	}
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
				const json_t *spec)
{
	const json_t *tols =
		get_arr(c, spec, "tolerations", "spec.tolerations");
	char path[128];

	if (!tols)
		return;
	p->tols = xcalloc(json_array_size(tols) + 1, sizeof(*p->tols));
	for (size_t i = 0; i < json_array_size(tols); i++) {
		const json_t *t = json_array_get(tols, i);
		struct sched_toleration *o = &p->tols[p->nr_tols++];
		const char *op, *eff;

		pathf(path, sizeof(path), "spec.tolerations[%zu]", i);
		if (!json_is_object(t)) {
			cerr(c, path, "expected an object, got %s",
			     type_name(t));
			continue;
		}
		pathf(path, sizeof(path), "spec.tolerations[%zu].key", i);
		str_set(&o->key, get_str(c, t, "key", path));
		pathf(path, sizeof(path), "spec.tolerations[%zu].value", i);
		str_set(&o->value, get_str(c, t, "value", path));
		pathf(path, sizeof(path), "spec.tolerations[%zu].operator", i);
		op = get_str(c, t, "operator", path);
		if (!strcmp(op, "Exists"))
			o->exists = true;
		else if (*op && strcmp(op, "Equal"))
			cerr(c, path,
			     "unsupported value \"%s\": expected \"Exists\" or "
			     "\"Equal\"",
			     op);
		pathf(path, sizeof(path), "spec.tolerations[%zu].effect", i);
		eff = get_str(c, t, "effect", path);
		if (!effect_parse(eff, &o->effect))
			cerr(c, path,
			     "unsupported value \"%s\": expected "
			     "\"NoSchedule\", "
			     "\"PreferNoSchedule\" or \"NoExecute\"",
			     eff);
	}
}

static void ports_compile(struct cctx *c, struct sched_pod *p,
			  const json_t *containers)
{
	size_t total = 0;
	char path[128];

	for (size_t i = 0; i < json_array_size(containers); i++) {
		const json_t *ports =
			json_object_get(json_array_get(containers, i), "ports");

		total += json_is_array(ports) ? json_array_size(ports) : 0;
	}
	if (!total)
		return;
	p->ports = xcalloc(total, sizeof(*p->ports));
	for (size_t i = 0; i < json_array_size(containers); i++) {
		const json_t *ports =
			json_object_get(json_array_get(containers, i), "ports");

		for (size_t k = 0;
		     json_is_array(ports) && k < json_array_size(ports); k++) {
			const json_t *pt = json_array_get(ports, k);
			const json_t *hp = json_object_get(pt, "hostPort");
			const char *proto, *ip;
			struct sched_port *o;

			if (!hp || json_is_null(hp))
				continue;
			pathf(path, sizeof(path),
			      "spec.containers[%zu].ports[%zu].hostPort", i, k);
			if (!json_is_integer(hp) ||
			    json_integer_value(hp) < 0 ||
			    json_integer_value(hp) > 65535) {
				cerr(c, path, "expected a port number 0-65535");
				continue;
			}
			if (json_integer_value(hp) == 0)
				continue;
			o = &p->ports[p->nr_ports++];
			o->port = (uint32_t)json_integer_value(hp);
			pathf(path, sizeof(path),
			      "spec.containers[%zu].ports[%zu].protocol", i, k);
			proto = get_str(c, pt, "protocol", path);
			if (!*proto || !strcmp(proto, "TCP"))
				o->proto = SCHED_TCP;
			else if (!strcmp(proto, "UDP"))
				o->proto = SCHED_UDP;
			else if (!strcmp(proto, "SCTP"))
				o->proto = SCHED_SCTP;
			else
				cerr(c, path,
				     "unsupported value \"%s\": expected "
				     "\"TCP\", \"UDP\" or \"SCTP\"",
				     proto);
			pathf(path, sizeof(path),
			      "spec.containers[%zu].ports[%zu].hostIP", i, k);
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
			       const char *path, struct requests *r)
{
	const json_t *res = json_object_get(ctr, "resources");
	const json_t *req =
		json_is_object(res) ? json_object_get(res, "requests") : NULL;
	const json_t *lim =
		json_is_object(res) ? json_object_get(res, "limits") : NULL;
	char p[200];
	int64_t cpu, mem;

	if (!json_is_object(req))
		req = NULL;
	if (!json_is_object(lim))
		lim = NULL;
	pathf(p, sizeof(p), "%s.resources.requests.cpu", path);
	cpu = get_qty(c, req, "cpu", true, p);
	if (cpu < 0) {
		pathf(p, sizeof(p), "%s.resources.limits.cpu", path);
		cpu = get_qty(c, lim, "cpu", true, p);
	}
	pathf(p, sizeof(p), "%s.resources.requests.memory", path);
	mem = get_qty(c, req, "memory", false, p);
	if (mem < 0) {
		pathf(p, sizeof(p), "%s.resources.limits.memory", path);
		mem = get_qty(c, lim, "memory", false, p);
	}
	r->cpu = cpu < 0 ? 0 : cpu;
	r->mem = mem < 0 ? 0 : mem;
	r->nz_cpu = cpu < 0 ? SCHED_DEFAULT_MILLI_CPU : cpu;
	r->nz_mem = mem < 0 ? SCHED_DEFAULT_MEMORY : mem;
}

static void pod_requests(struct cctx *c, struct sched_pod *p,
			 const json_t *spec)
{
	const json_t *ctrs = get_arr(c, spec, "containers", "spec.containers");
	const json_t *inits =
		get_arr(c, spec, "initContainers", "spec.initContainers");
	const json_t *overhead = get_obj(c, spec, "overhead", "spec.overhead");
	struct requests sum = { 0 }, one;
	char path[64];
	int64_t v;

	for (size_t i = 0; ctrs && i < json_array_size(ctrs); i++) {
		pathf(path, sizeof(path), "spec.containers[%zu]", i);
		container_requests(c, json_array_get(ctrs, i), path, &one);
		sum.cpu = sat_add(sum.cpu, one.cpu);
		sum.mem = sat_add(sum.mem, one.mem);
		sum.nz_cpu = sat_add(sum.nz_cpu, one.nz_cpu);
		sum.nz_mem = sat_add(sum.nz_mem, one.nz_mem);
	}
	/* Init containers run one at a time before the others: the max. */
	for (size_t i = 0; inits && i < json_array_size(inits); i++) {
		pathf(path, sizeof(path), "spec.initContainers[%zu]", i);
		container_requests(c, json_array_get(inits, i), path, &one);
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
		v = get_qty(c, overhead, "cpu", true, "spec.overhead.cpu");
		if (v > 0) {
			sum.cpu = sat_add(sum.cpu, v);
			sum.nz_cpu = sat_add(sum.nz_cpu, v);
		}
		v = get_qty(c, overhead, "memory", false,
			    "spec.overhead.memory");
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
		ports_compile(c, p, ctrs);
}

/* The controller's uid (or kind/name when it has none), hashed. */
static uint64_t owner_hash(const json_t *meta)
{
	const json_t *refs = json_object_get(meta, "ownerReferences");

	for (size_t i = 0; json_is_array(refs) && i < json_array_size(refs);
	     i++) {
		const json_t *r = json_array_get(refs, i);
		const char *uid, *kind, *name;
		char buf[512];
		uint64_t h;

		if (!json_is_true(json_object_get(r, "controller")))
			continue;
		uid = sm_json_get_str(r, "uid");
		if (uid && *uid) {
			h = sched__hash(uid);
		} else {
			kind = sm_json_get_str(r, "kind");
			name = sm_json_get_str(r, "name");
			pathf(buf, sizeof(buf), "%s/%s", kind ? kind : "",
			      name ? name : "");
			h = sched__hash(buf);
		}
		return h ? h : 1;
	}
	return 0;
}

void sched_pod_free(struct sched_pod *p)
{
	if (!p)
		return;
	free(p->ns);
	free(p->name);
	free(p->key);
	sched__labels_release(&p->labels);
	sched__sel_release(&p->node_selector);
	for (uint32_t i = 0; i < p->nr_terms; i++)
		sched__sel_release(&p->terms[i]);
	free(p->terms);
	for (uint32_t i = 0; i < p->nr_tols; i++) {
		sched__str_release(&p->tols[i].key);
		sched__str_release(&p->tols[i].value);
	}
	free(p->tols);
	free(p->ports);
	for (uint32_t i = 0; i < p->nr_anti; i++) {
		sched__sel_release(&p->anti[i].sel);
		for (uint32_t k = 0; k < p->anti[i].nr_namespaces; k++)
			sched__str_release(&p->anti[i].namespaces[k]);
		free(p->anti[i].namespaces);
	}
	free(p->anti);
	free(p);
}

int sched_pod_compile(struct sched_pod **out, const json_t *pod,
		      struct sm_err *err)
{
	struct cctx c = { .err = err };
	const json_t *meta, *spec, *affinity;
	const char *name, *ns;
	struct sched_pod *p;

	meta = json_is_object(pod) ? json_object_get(pod, "metadata") : NULL;
	name = sm_json_get_str(meta, "name");
	ns = sm_json_get_str(meta, "namespace");
	if (!ns || !*ns)
		ns = "default";
	pathf(c.what, sizeof(c.what), "Pod \"%s/%s\"", ns, name ? name : "");
	if (!json_is_object(meta) || !name || !*name) {
		cerr(&c, "metadata.name", "required value");
		return -EINVAL;
	}
	p = xcalloc(1, sizeof(*p));
	p->ns = xstrdup(ns);
	p->name = xstrdup(name);
	p->key = xasprintf("%s/%s", ns, name);
	p->ns_hash = sched__hash(ns);
	p->key_hash = sched__hash(p->key);
	labels_compile(&c, &p->labels, meta);
	p->owner = owner_hash(meta);

	spec = get_obj(&c, pod, "spec", "spec");
	pod_requests(&c, p, spec);
	node_selector_compile(&c, p, spec);
	affinity = get_obj(&c, spec, "affinity", "spec.affinity");
	node_affinity_compile(&c, p, affinity);
	pod_affinity_compile(&c, p, affinity);
	tolerations_compile(&c, p, spec);
	if (!c.failed) {
		struct sched_taint t = { .effect = SCHED_EFFECT_NO_SCHEDULE };

		str_set(&t.key, SCHED_TAINT_UNSCHEDULABLE);
		p->tolerates_unschedulable =
			sched__tolerates(p->tols, p->nr_tols, &t);
		sched__str_release(&t.key);
	}

	if (c.failed) {
		sched_pod_free(p);
		return -EINVAL;
	}
	*out = p;
	return 0;
}

/* ---- nodes ------------------------------------------------------------ */

void sched__node_release_spec(struct sched_node *n)
{
	free(n->name);
	n->name = NULL;
	sched__labels_release(&n->labels);
	for (uint32_t i = 0; i < n->nr_taints; i++) {
		sched__str_release(&n->taints[i].key);
		sched__str_release(&n->taints[i].value);
	}
	free(n->taints);
	n->taints = NULL;
	n->nr_taints = n->nr_filter_taints = 0;
}

static void taint_add(struct sched_node *n, const char *key, const char *value,
		      enum sched_effect e)
{
	struct sched_taint *t = &n->taints[n->nr_taints++];

	str_set(&t->key, key);
	str_set(&t->value, value);
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

int sched__node_compile(struct sched_node **out, const json_t *node,
			struct sm_err *err)
{
	struct cctx c = { .err = err };
	const json_t *meta, *spec, *status, *alloc, *cap, *taints, *u;
	const char *name, *ready;
	struct sched_node *n;
	int64_t v;

	meta = json_is_object(node) ? json_object_get(node, "metadata") : NULL;
	name = sm_json_get_str(meta, "name");
	pathf(c.what, sizeof(c.what), "Node \"%s\"", name ? name : "");
	if (!json_is_object(meta) || !name || !*name) {
		cerr(&c, "metadata.name", "required value");
		return -EINVAL;
	}
	n = xcalloc(1, sizeof(*n));
	n->name = xstrdup(name);
	n->name_hash = sched__hash(name);
	labels_compile(&c, &n->labels, meta);

	spec = get_obj(&c, node, "spec", "spec");
	u = spec ? json_object_get(spec, "unschedulable") : NULL;
	n->unschedulable = json_is_true(u);
	taints = get_arr(&c, spec, "taints", "spec.taints");
	n->taints = xcalloc((taints ? json_array_size(taints) : 0) + 1,
			    sizeof(*n->taints));
	for (size_t i = 0; taints && i < json_array_size(taints); i++) {
		const json_t *t = json_array_get(taints, i);
		char path[64];
		const char *key, *eff;
		enum sched_effect e;

		pathf(path, sizeof(path), "spec.taints[%zu].key", i);
		key = get_str(&c, t, "key", path);
		if (!*key)
			cerr(&c, path, "required value");
		pathf(path, sizeof(path), "spec.taints[%zu].effect", i);
		eff = get_str(&c, t, "effect", path);
		if (!effect_parse(eff, &e) || e == SCHED_EFFECT_ALL) {
			cerr(&c, path,
			     "unsupported value \"%s\": expected "
			     "\"NoSchedule\", "
			     "\"PreferNoSchedule\" or \"NoExecute\"",
			     eff);
			continue;
		}
		pathf(path, sizeof(path), "spec.taints[%zu].value", i);
		taint_add(n, key, get_str(&c, t, "value", path), e);
	}

	status = get_obj(&c, node, "status", "status");
	alloc = get_obj(&c, status, "allocatable", "status.allocatable");
	cap = get_obj(&c, status, "capacity", "status.capacity");
	v = get_qty(&c, alloc, "cpu", true, "status.allocatable.cpu");
	n->alloc_cpu =
		v >= 0 ? v
		       : get_qty(&c, cap, "cpu", true, "status.capacity.cpu");
	v = get_qty(&c, alloc, "memory", false, "status.allocatable.memory");
	n->alloc_mem = v >= 0 ? v
			      : get_qty(&c, cap, "memory", false,
					"status.capacity.memory");
	v = get_qty(&c, alloc, "pods", false, "status.allocatable.pods");
	n->alloc_pods = v >= 0 ? v
			       : get_qty(&c, cap, "pods", false,
					 "status.capacity.pods");
	if (n->alloc_cpu < 0)
		n->alloc_cpu = 0;
	if (n->alloc_mem < 0)
		n->alloc_mem = 0;
	if (n->alloc_pods < 0)
		n->alloc_pods = 0;

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

		/* n->taints has room for it: allocated one longer. */
		if (!has_taint(n, key, SCHED_EFFECT_NO_SCHEDULE))
			taint_add(n, key, "", SCHED_EFFECT_NO_SCHEDULE);
	}

	if (c.failed) {
		sched__node_release_spec(n);
		free(n);
		return -EINVAL;
	}
	*out = n;
	return 0;
}
