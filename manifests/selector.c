/*
 * selector.c: label selectors, parsed from kubectl's string form or built
 * from a LabelSelector object, then matched and printed.
 *
 * The string form follows k8s.io/apimachinery/pkg/labels: a lexer splits
 * identifiers from operators; "in" and "notin" are keywords only where an
 * operator is expected, so "in" works as a key or a value. "app=" selects
 * the empty value, "env in ()" the set {""}, as in Kubernetes. A value set
 * is kept sorted and without duplicates (Kubernetes prints it that way);
 * requirements stay in the order given.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "manifests/names.h"
#include "manifests/selector.h"
#include "common/banned.h"

void mf_selector_release(struct mf_selector *s)
{
	for (size_t i = 0; i < s->nr; i++) {
		struct mf_sel_req *r = &s->reqs[i];

		free(r->key);
		for (size_t j = 0; j < r->nr_values; j++)
			free(r->values[j]);
		free(r->values);
	}
	free(s->reqs);
	s->reqs = NULL;
	s->nr = s->alloc = 0;
}

bool mf_selector_empty(const struct mf_selector *s)
{
	return s->nr == 0;
}

/* A growing value list, sorted and deduplicated when it is done. */
struct sel_values {
	char **v;
	size_t nr, alloc;
};

static void values_add(struct sel_values *vs, const char *s, size_t len)
{
	SM_ALLOC_GROW(vs->v, vs->nr + 1, vs->alloc);
	vs->v[vs->nr++] = xstrndup(s, len);
}

static void values_clear(struct sel_values *vs)
{
	for (size_t i = 0; i < vs->nr; i++)
		free(vs->v[i]);
	free(vs->v);
	vs->v = NULL;
	vs->nr = vs->alloc = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends a requirement; the value list is taken (and left empty). */
static void sel_add(struct mf_selector *s, const char *key, size_t klen,
		    enum mf_sel_op op, struct sel_values *vs)
{
	struct mf_sel_req *r;
	size_t out = 0;

	if (vs->nr > 1)
		qsort(vs->v, vs->nr, sizeof(*vs->v), cmp_str);
	for (size_t i = 0; i < vs->nr; i++) {
		if (out && !strcmp(vs->v[out - 1], vs->v[i]))
			free(vs->v[i]);
		else
			vs->v[out++] = vs->v[i];
	}
	SM_ALLOC_GROW(s->reqs, s->nr + 1, s->alloc);
	r = &s->reqs[s->nr++];
	r->key = xstrndup(key, klen);
	r->op = op;
	r->values = vs->v;
	r->nr_values = out;
	vs->v = NULL;
	vs->nr = vs->alloc = 0;
}

/* ---- the string form ---- */

enum sel_tok {
	T_END,
	T_IDENT,
	T_IN,
	T_NOTIN,
	T_EQ,
	T_DEQ,
	T_NEQ,
	T_NOT,
	T_LPAR,
	T_RPAR,
	T_COMMA,
	T_GT,
	T_LT,
};

/*
 * Operators, longest first so "!=" wins over "!". '>' and '<' are tokens
 * (Kubernetes has Gt/Lt for node selectors) only so that "a>1" is reported
 * as an unsupported operator, not read as one strange key.
 */
static const struct {
	const char *text;
	enum sel_tok tok;
} sel_symbols[] = {
	{ "==", T_DEQ },  { "!=", T_NEQ }, { "=", T_EQ },
	{ "!", T_NOT },	  { "(", T_LPAR }, { ")", T_RPAR },
	{ ",", T_COMMA }, { ">", T_GT },   { "<", T_LT },
};

static const struct {
	const char *text;
	enum sel_tok tok;
} sel_keywords[] = {
	{ "in", T_IN },
	{ "notin", T_NOTIN },
};

struct sel_token {
	enum sel_tok tok;
	const char *start;
	size_t len;
};

struct sel_parser {
	const char *text;
	const char *p;
	struct sel_token look; /* the next token, already scanned */
	const struct sm_pos *pos;
	struct sm_err *err;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
	return strchr("=!(),<>", c) && c;
}

static void lex(struct sel_parser *ps)
{
	struct sel_token *t = &ps->look;
	const char *p = ps->p;

	while (is_space(*p))
		p++;
	t->start = p;
	if (!*p) {
		t->tok = T_END;
		t->len = 0;
	} else if (is_special(*p)) {
		for (size_t i = 0; i < SM_ARRAY_SIZE(sel_symbols); i++) {
			size_t n = strlen(sel_symbols[i].text);

			if (!strncmp(p, sel_symbols[i].text, n)) {
				t->tok = sel_symbols[i].tok;
				t->len = n;
				break;
			}
		}
	} else {
		while (*p && !is_space(*p) && !is_special(*p))
			p++;
		t->tok = T_IDENT;
		t->len = (size_t)(p - t->start);
		for (size_t i = 0; i < SM_ARRAY_SIZE(sel_keywords); i++)
			if (strlen(sel_keywords[i].text) == t->len &&
			    !memcmp(sel_keywords[i].text, t->start, t->len))
				t->tok = sel_keywords[i].tok;
	}
	ps->p = t->start + t->len;
}

/*
 * Where a key or value is expected, "in" and "notin" are plain words
 * (Kubernetes' Values context).
 */
static bool is_word(enum sel_tok t)
{
	return t == T_IDENT || t == T_IN || t == T_NOTIN;
}

static struct sel_token next(struct sel_parser *ps)
{
	struct sel_token t = ps->look;

	lex(ps);
	return t;
}

/* The selector text as it appears in messages, cut if very long. */
#define SEL_QUOTE_MAX 120

static int sel_error(struct sel_parser *ps, const struct sel_token *at,
		     const char *what, const char *detail)
{
	size_t n = strlen(ps->text);
	int shown = n > SEL_QUOTE_MAX ? SEL_QUOTE_MAX : (int)n;
	size_t col = (size_t)(at->start - ps->text) + 1;

	if (detail)
		return sm_error(ps->err, ps->pos,
				"label selector \"%.*s%s\": position %zu: %s%s",
				shown, ps->text, n > (size_t)shown ? "..." : "",
				col, what, detail);
	if (at->tok == T_END)
		return sm_error(ps->err, ps->pos,
				"label selector \"%.*s%s\": position %zu: "
				"expected %s, found end of string",
				shown, ps->text, n > (size_t)shown ? "..." : "",
				col, what);
	return sm_error(ps->err, ps->pos,
			"label selector \"%.*s%s\": position %zu: "
			"expected %s, found '%.*s'",
			shown, ps->text, n > (size_t)shown ? "..." : "", col,
			what, (int)at->len, at->start);
}

static int check_key(struct sel_parser *ps, const struct sel_token *t)
{
	char *key = xstrndup(t->start, t->len);
	const char *msg = mf_check_qualified_name(key);
	int r = 0;

	if (msg) {
		char *what = xasprintf("invalid label key \"%s\": ", key);

		r = sel_error(ps, t, what, msg);
		free(what);
	}
	free(key);
	return r;
}

static int check_value(struct sel_parser *ps, const struct sel_token *t)
{
	char *val = xstrndup(t->start, t->len);
	const char *msg = mf_check_label_value(val);
	int r = 0;

	if (msg) {
		char *what = xasprintf("invalid label value \"%s\": ", val);

		r = sel_error(ps, t, what, msg);
		free(what);
	}
	free(val);
	return r;
}

/* "(a,b)": each slot between commas is one value or empty (""). */
static int parse_value_set(struct sel_parser *ps, struct sel_values *vs)
{
	struct sel_token t = next(ps);

	if (t.tok != T_LPAR)
		return sel_error(ps, &t, "'('", NULL);
	for (;;) {
		bool had_value = false;

		if (is_word(ps->look.tok)) {
			t = next(ps);
			if (check_value(ps, &t))
				return -EINVAL;
			values_add(vs, t.start, t.len);
			had_value = true;
		} else {
			values_add(vs, "", 0);
		}
		t = next(ps);
		if (t.tok == T_RPAR)
			return 0;
		if (t.tok == T_COMMA)
			continue;
		if (had_value)
			return sel_error(ps, &t, "',' or ')'", NULL);
		return sel_error(ps, &t, "a label value, ',' or ')'", NULL);
	}
}

/* After "=", "==" or "!=": one value, or nothing for the empty value. */
static int parse_exact_value(struct sel_parser *ps, struct sel_values *vs)
{
	struct sel_token t;

	if (ps->look.tok == T_END || ps->look.tok == T_COMMA) {
		values_add(vs, "", 0);
		return 0;
	}
	t = next(ps);
	if (!is_word(t.tok))
		return sel_error(ps, &t, "a label value", NULL);
	if (check_value(ps, &t))
		return -EINVAL;
	values_add(vs, t.start, t.len);
	return 0;
}

/* The operators that may follow a key, and what each parses after it. */
static const struct {
	enum sel_tok tok;
	enum mf_sel_op op;
	int (*values)(struct sel_parser *, struct sel_values *);
} sel_binary_ops[] = {
	{ T_EQ, MF_SEL_EQ, parse_exact_value },
	{ T_DEQ, MF_SEL_EQ, parse_exact_value },
	{ T_NEQ, MF_SEL_NEQ, parse_exact_value },
	{ T_IN, MF_SEL_IN, parse_value_set },
	{ T_NOTIN, MF_SEL_NOTIN, parse_value_set },
};

static int parse_requirement(struct sel_parser *ps, struct mf_selector *s)
{
	struct sel_values vs = { 0 };
	struct sel_token key = next(ps), op;
	bool negated = key.tok == T_NOT;

	if (negated)
		key = next(ps);
	if (!is_word(key.tok))
		return sel_error(ps, &key, "a label key", NULL);
	if (check_key(ps, &key))
		return -EINVAL;
	if (negated || ps->look.tok == T_END || ps->look.tok == T_COMMA) {
		sel_add(s, key.start, key.len,
			negated ? MF_SEL_NOTEXIST : MF_SEL_EXISTS, &vs);
		return 0;
	}
	op = next(ps);
	for (size_t i = 0; i < SM_ARRAY_SIZE(sel_binary_ops); i++) {
		if (sel_binary_ops[i].tok != op.tok)
			continue;
		if (sel_binary_ops[i].values(ps, &vs)) {
			values_clear(&vs);
			return -EINVAL;
		}
		sel_add(s, key.start, key.len, sel_binary_ops[i].op, &vs);
		return 0;
	}
	return sel_error(ps, &op, "'=', '==', '!=', 'in' or 'notin'", NULL);
}

int mf_selector_parse(struct mf_selector *s, const char *text,
		      const struct sm_pos *pos, struct sm_err *err)
{
	struct sel_parser ps = {
		.text = text, .p = text, .pos = pos, .err = err
	};
	struct sel_token t;

	lex(&ps);
	if (ps.look.tok == T_END)
		return 0;
	for (;;) {
		if (ps.look.tok != T_NOT && !is_word(ps.look.tok)) {
			sel_error(&ps, &ps.look, "a label key or '!'", NULL);
			goto fail;
		}
		if (parse_requirement(&ps, s))
			goto fail;
		t = next(&ps);
		if (t.tok == T_END)
			return 0;
		if (t.tok != T_COMMA) {
			sel_error(&ps, &t, "',' or end of string", NULL);
			goto fail;
		}
	}
fail:
	/* A selector that is half there would select too much. */
	mf_selector_release(s);
	return -EINVAL;
}

/* ---- the LabelSelector object ---- */

struct sel_json {
	const char *prefix; /* "spec.selector." or "" */
	const struct sm_pos *pos;
	struct sm_err *err;
	int failed;
};

static const char *article(const char *noun)
{
	return strchr("aeiou", noun[0]) ? "an" : "a";
}

static void type_error(struct sel_json *sj, const char *field, const char *want,
		       const json_t *got)
{
	sm_error(sj->err, sj->pos, "%s%s: expected %s %s, got %s", sj->prefix,
		 field, article(want), want, sm_json_type_name(got));
	sj->failed = 1;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void from_match_labels(struct sel_json *sj, struct mf_selector *s,
			      const json_t *ml)
{
	const char **keys;
	const char *k;
	json_t *v;
	size_t n = 0;

	if (!json_is_object(ml)) {
		type_error(sj, "matchLabels", "object", ml);
		return;
	}
	/* Sorted keys, so the result does not depend on the YAML's order. */
	keys = xcalloc(json_object_size(ml) + 1, sizeof(*keys));
	json_object_foreach ((json_t *)ml, k, v)
		keys[n++] = k;
	qsort(keys, n, sizeof(*keys), cmp_key);
	for (size_t i = 0; i < n; i++) {
		struct sel_values vs = { 0 };
		const char *msg = mf_check_qualified_name(keys[i]), *val;

		v = json_object_get(ml, keys[i]);
		if (msg) {
			sm_error(sj->err, sj->pos,
				 "%smatchLabels: invalid label key \"%s\": %s",
				 sj->prefix, keys[i], msg);
			sj->failed = 1;
			continue;
		}
		if (!json_is_string(v)) {
			char *field = xasprintf("matchLabels[%s]", keys[i]);

			type_error(sj, field, "string", v);
			free(field);
			continue;
		}
		val = json_string_value(v);
		msg = mf_check_label_value(val);
		if (msg) {
			sm_error(sj->err, sj->pos,
				 "%smatchLabels[%s]: invalid label value "
				 "\"%s\": %s",
				 sj->prefix, keys[i], val, msg);
			sj->failed = 1;
			continue;
		}
		values_add(&vs, val, strlen(val));
		sel_add(s, keys[i], strlen(keys[i]), MF_SEL_EQ, &vs);
	}
	free(keys);
}

/* The LabelSelector operators; needs_values says what "values" must be. */
static const struct {
	const char *name;
	enum mf_sel_op op;
	bool needs_values;
} sel_json_ops[] = {
	{ "In", MF_SEL_IN, true },
	{ "NotIn", MF_SEL_NOTIN, true },
	{ "Exists", MF_SEL_EXISTS, false },
	{ "DoesNotExist", MF_SEL_NOTEXIST, false },
};

static const char *const sel_expr_fields[] = { "key", "operator", "values" };

static bool expr_op(struct sel_json *sj, const char *field, const json_t *o,
		    size_t *which)
{
	const char *name;

	if (!o) {
		sm_error(sj->err, sj->pos, "%s%s: required value", sj->prefix,
			 field);
		sj->failed = 1;
		return false;
	}
	if (!json_is_string(o)) {
		type_error(sj, field, "string", o);
		return false;
	}
	name = json_string_value(o);
	for (size_t i = 0; i < SM_ARRAY_SIZE(sel_json_ops); i++) {
		if (!strcmp(sel_json_ops[i].name, name)) {
			*which = i;
			return true;
		}
	}
	sm_error(sj->err, sj->pos,
		 "%s%s: unsupported value \"%s\": supported values: \"In\", "
		 "\"NotIn\", \"Exists\", \"DoesNotExist\"",
		 sj->prefix, field, name);
	sj->failed = 1;
	return false;
}

static bool expr_key(struct sel_json *sj, const char *field, const json_t *k)
{
	const char *msg;

	if (!k) {
		sm_error(sj->err, sj->pos, "%s%s: required value", sj->prefix,
			 field);
		sj->failed = 1;
		return false;
	}
	if (!json_is_string(k)) {
		type_error(sj, field, "string", k);
		return false;
	}
	msg = mf_check_qualified_name(json_string_value(k));
	if (msg) {
		sm_error(sj->err, sj->pos, "%s%s: invalid label key \"%s\": %s",
			 sj->prefix, field, json_string_value(k), msg);
		sj->failed = 1;
		return false;
	}
	return true;
}

/* Collects the string values; returns false after reporting a problem. */
static bool expr_values(struct sel_json *sj, const char *field,
			const json_t *vals, struct sel_values *vs)
{
	bool ok = true;
	size_t i;
	json_t *v;

	if (!vals || json_is_null(vals))
		return true;
	if (!json_is_array(vals)) {
		type_error(sj, field, "array", vals);
		return false;
	}
	json_array_foreach (vals, i, v) {
		char *f = xasprintf("%s[%zu]", field, i);
		const char *msg;

		if (!json_is_string(v)) {
			type_error(sj, f, "string", v);
			ok = false;
		} else if ((msg = mf_check_label_value(json_string_value(v)))) {
			sm_error(sj->err, sj->pos,
				 "%s%s: invalid label value \"%s\": %s",
				 sj->prefix, f, json_string_value(v), msg);
			sj->failed = 1;
			ok = false;
		} else {
			values_add(vs, json_string_value(v),
				   json_string_length(v));
		}
		free(f);
	}
	return ok;
}

/* where is the object's full path, without the prefix added. */
static void unknown_fields(struct sel_json *sj, const char *where,
			   const json_t *obj, const char *const *known,
			   size_t nknown)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)obj, k, v) {
		size_t i;

		for (i = 0; i < nknown; i++)
			if (!strcmp(known[i], k))
				break;
		if (i == nknown) {
			sm_error(sj->err, sj->pos, "%s: unknown field \"%s\"",
				 where, k);
			sj->failed = 1;
		}
	}
}

static void from_expression(struct sel_json *sj, struct mf_selector *s,
			    const json_t *e, size_t idx)
{
	char *base = xasprintf("matchExpressions[%zu]", idx);
	char *fkey = xasprintf("%s.key", base);
	char *fop = xasprintf("%s.operator", base);
	char *fvals = xasprintf("%s.values", base);
	struct sel_values vs = { 0 };
	const json_t *vals;
	size_t which = 0;
	char *where;
	bool ok;

	if (!json_is_object(e)) {
		type_error(sj, base, "object", e);
		goto out;
	}
	where = xasprintf("%s%s", sj->prefix, base);
	unknown_fields(sj, where, e, sel_expr_fields,
		       SM_ARRAY_SIZE(sel_expr_fields));
	free(where);
	ok = expr_key(sj, fkey, json_object_get(e, "key"));
	ok &= expr_op(sj, fop, json_object_get(e, "operator"), &which);
	vals = json_object_get(e, "values");
	ok &= expr_values(sj, fvals, vals, &vs);
	if (!ok)
		goto out;
	if (sel_json_ops[which].needs_values && !vs.nr) {
		sm_error(sj->err, sj->pos,
			 "%s%s: required value: must be specified when "
			 "operator is 'In' or 'NotIn'",
			 sj->prefix, fvals);
		sj->failed = 1;
		goto out;
	}
	if (!sel_json_ops[which].needs_values && vs.nr) {
		sm_error(sj->err, sj->pos,
			 "%s%s: forbidden: may not be specified when operator "
			 "is 'Exists' or 'DoesNotExist'",
			 sj->prefix, fvals);
		sj->failed = 1;
		goto out;
	}
	sel_add(s, json_string_value(json_object_get(e, "key")),
		json_string_length(json_object_get(e, "key")),
		sel_json_ops[which].op, &vs);
out:
	values_clear(&vs);
	free(base);
	free(fkey);
	free(fop);
	free(fvals);
}

static const char *const sel_fields[] = { "matchLabels", "matchExpressions" };

int mf_selector_from_json(struct mf_selector *s, const json_t *obj,
			  const char *path, const struct sm_pos *pos,
			  struct sm_err *err)
{
	char *prefix = path && *path ? xasprintf("%s.", path) : xstrdup("");
	struct sel_json sj = { .prefix = prefix, .pos = pos, .err = err };
	const json_t *ml, *me;
	size_t i;
	json_t *e;

	if (!obj) {
		sm_error(err, pos, "%s: required value",
			 path && *path ? path : "selector");
		sj.failed = 1;
		goto out;
	}
	if (!json_is_object(obj)) {
		sm_error(err, pos, "%s: expected an object, got %s",
			 path && *path ? path : "selector",
			 sm_json_type_name(obj));
		sj.failed = 1;
		goto out;
	}
	/*
	 * A misspelt field would leave a selector that selects everything,
	 * so unknown fields are errors here, not warnings.
	 */
	unknown_fields(&sj, path && *path ? path : "selector", obj, sel_fields,
		       SM_ARRAY_SIZE(sel_fields));
	ml = json_object_get(obj, "matchLabels");
	if (ml && !json_is_null(ml))
		from_match_labels(&sj, s, ml);
	me = json_object_get(obj, "matchExpressions");
	if (me && !json_is_null(me)) {
		if (!json_is_array(me))
			type_error(&sj, "matchExpressions", "array", me);
		else
			json_array_foreach (me, i, e)
				from_expression(&sj, s, e, i);
	}
out:
	free(prefix);
	if (sj.failed) {
		mf_selector_release(s);
		return -EINVAL;
	}
	return 0;
}

/* ---- matching and printing ---- */

static bool has_value(const struct mf_sel_req *r, const char *v)
{
	if (!v)
		return false;
	return bsearch(&v, r->values, r->nr_values, sizeof(*r->values),
		       cmp_str) != NULL;
}

bool mf_selector_matches(const struct mf_selector *s, const json_t *labels)
{
	for (size_t i = 0; i < s->nr; i++) {
		const struct mf_sel_req *r = &s->reqs[i];
		json_t *l = json_is_object(labels)
				    ? json_object_get(labels, r->key)
				    : NULL;
		/* A non-string label value is present but equals nothing. */
		const char *v = json_is_string(l) ? json_string_value(l) : NULL;
		bool ok = false;

		switch (r->op) {
		case MF_SEL_EQ:
		case MF_SEL_IN:
			ok = l && has_value(r, v);
			break;
		case MF_SEL_NEQ:
		case MF_SEL_NOTIN:
			ok = !l || !has_value(r, v);
			break;
		case MF_SEL_EXISTS:
			ok = l != NULL;
			break;
		case MF_SEL_NOTEXIST:
			ok = l == NULL;
			break;
		}
		if (!ok)
			return false;
	}
	return true;
}

/* How each operator prints: before the key, between key and values. */
static const struct {
	const char *before, *between;
	bool set;
} sel_print[] = {
	[MF_SEL_EQ] = { "", "=", false },
	[MF_SEL_NEQ] = { "", "!=", false },
	[MF_SEL_IN] = { "", " in ", true },
	[MF_SEL_NOTIN] = { "", " notin ", true },
	[MF_SEL_EXISTS] = { "", NULL, false },
	[MF_SEL_NOTEXIST] = { "!", NULL, false },
};

int mf_selector_format(const struct mf_selector *s, struct sm_buf *out)
{
	size_t start = out->len;
	int r = 0;

	for (size_t i = 0; !r && i < s->nr; i++) {
		const struct mf_sel_req *q = &s->reqs[i];

		if (i)
			r = sm_buf_addch(out, ',');
		if (!r)
			r = sm_buf_addf(out, "%s%s", sel_print[q->op].before,
					q->key);
		if (r || !sel_print[q->op].between)
			continue;
		r = sm_buf_adds(out, sel_print[q->op].between);
		if (!r && sel_print[q->op].set)
			r = sm_buf_addch(out, '(');
		for (size_t j = 0; !r && j < q->nr_values; j++)
			r = sm_buf_addf(out, "%s%s", j ? "," : "",
					q->values[j]);
		if (!r && sel_print[q->op].set)
			r = sm_buf_addch(out, ')');
	}
	/* All or nothing, like the sm_buf calls themselves. */
	if (r && out->buf)
		sm_buf_truncate(out, start);
	return r;
}
