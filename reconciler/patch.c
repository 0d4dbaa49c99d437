/*
 * patch.c: JSON merge patch, JSON patch and strategic merge patch.
 *
 * All three work on a deep copy of the live object and change it in place;
 * the copy becomes the result only when the whole patch applied, which is
 * what makes a failed patch leave no trace.
 *
 * Strategic merge patch keeps the path of the value it is merging
 * ("spec.template.spec.containers[0].ports") in a buffer: list items show
 * their index, so messages can point at them, and the merge-key table is
 * matched against the same path with the indices left out.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "reconciler/patch.h"
#include "common/banned.h"

/* jansson returns NULL from these only when out of memory. */
static json_t *jcheck(json_t *j)
{
	if (!j)
		sm_die("out of memory building a JSON value");
	return j;
}

static json_t *jcopy(const json_t *j)
{
	return jcheck(json_deep_copy(j));
}

static int fail(struct sm_err *err, int code, const char *fmt, ...)
	SM_PRINTF(3, 4);

static int fail(struct sm_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		sm_err_vadd(err, SM_ERROR, NULL, fmt, ap);
		va_end(ap);
	}
	return code;
}

/*
 * Equality as RFC 6902's "test" defines it: numbers compare by value (1 and
 * 1.0 are equal, which json_equal() denies), objects by members regardless
 * of order, arrays item by item.
 */
static bool value_equal(const json_t *a, const json_t *b)
{
	const char *key;
	json_t *va;

	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	if (!a || !b || json_typeof(a) != json_typeof(b))
		return false;
	switch (json_typeof(a)) {
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach ((json_t *)a, key, va) {
			if (!value_equal(va, json_object_get(b, key)))
				return false;
		}
		return true;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!value_equal(json_array_get(a, i),
					 json_array_get(b, i)))
				return false;
		return true;
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       !memcmp(json_string_value(a), json_string_value(b),
			       json_string_length(a));
	default:
		return true; /* true, false, null */
	}
}

/* A short rendering of a value for messages ("3", "\"web\"", "object"). */
static const char *describe(const json_t *j, struct sm_buf *b)
{
	sm_buf_reset(b);
	if (sm_json_describe(j, b))
		return "value";
	return sm_buf_cstr(b);
}

/* "an integer", "a string", ... for messages. */
static const char *a_type(const json_t *j)
{
	switch (j ? json_typeof(j) : JSON_NULL) {
	case JSON_INTEGER:
		return "an integer";
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* ---- JSON merge patch (RFC 7386) ---- */

/* Merges patch (an object) into obj (an object of the result tree). */
static void merge_into(json_t *obj, const json_t *patch)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)patch, key, v) {
		if (json_is_null(v)) {
			json_object_del(obj, key);
		} else if (json_is_object(v)) {
			json_t *cur = json_object_get(obj, key);

			if (!json_is_object(cur)) {
				cur = jcheck(json_object());
				json_object_set_new(obj, key, cur);
			}
			merge_into(cur, v);
		} else {
			json_object_set_new(obj, key, jcopy(v));
		}
	}
}

int patch_merge(const json_t *live, const json_t *patch, json_t **out,
		struct sm_err *err)
{
	json_t *res;

	if (!json_is_object(patch))
		return fail(err, -EINVAL,
			    "merge patch: expected a JSON object, got %s",
			    sm_json_type_name(patch));
	res = json_is_object(live) ? jcopy(live) : jcheck(json_object());
	merge_into(res, patch);
	*out = res;
	return 0;
}

/* ---- JSON patch (RFC 6902) ---- */

/* A parsed JSON pointer: its reference tokens, unescaped. */
struct jp_ptr {
	char **tok;
	size_t nr, alloc;
};

static void jp_ptr_release(struct jp_ptr *p)
{
	for (size_t i = 0; i < p->nr; i++)
		free(p->tok[i]);
	free(p->tok);
	p->tok = NULL;
	p->nr = p->alloc = 0;
}

/* Parses text (RFC 6901). -EINVAL with the reason in why. */
static int jp_parse(const json_t *text, struct jp_ptr *p, struct sm_buf *why)
{
	const char *s = json_string_value(text);
	struct sm_buf t = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	if (strlen(s) != json_string_length(text)) {
		sm_buf_adds(why, "it contains a NUL character");
		return -EINVAL;
	}
	if (*s && *s != '/') {
		sm_buf_adds(why, "it must be empty or start with '/'");
		return -EINVAL;
	}
	while (*s) {
		s++; /* the '/' */
		sm_buf_reset(&t);
		for (; *s && *s != '/'; s++) {
			if (*s != '~') {
				sm_buf_addch(&t, *s);
			} else if (s[1] == '0' || s[1] == '1') {
				sm_buf_addch(&t, s[1] == '0' ? '~' : '/');
				s++;
			} else {
				sm_buf_adds(why, "'~' must be followed by "
						 "'0' or '1'");
				sm_buf_release(&t);
				jp_ptr_release(p);
				return -EINVAL;
			}
		}
		SM_ALLOC_GROW(p->tok, p->nr + 1, p->alloc);
		p->tok[p->nr++] = xstrdup(sm_buf_cstr(&t));
	}
	sm_buf_release(&t);
	return 0;
}

/*
 * The array index a token names. "-" is the end of the array, allowed only
 * when end_ok (add, and the target of move and copy); an index equal to
 * the size likewise.
 */
static int jp_index(const json_t *arr, const char *tok, bool end_ok,
		    size_t *idx, struct sm_buf *why)
{
	size_t n = json_array_size(arr), v = 0;
	const char *c;

	if (!strcmp(tok, "-")) {
		if (!end_ok) {
			sm_buf_adds(why, "path not found (\"-\" is past the "
					 "end of the array)");
			return -EPROTO;
		}
		*idx = n;
		return 0;
	}
	if (!*tok || (tok[0] == '0' && tok[1]))
		goto bad;
	for (c = tok; *c; c++) {
		if (*c < '0' || *c > '9' || v > (SIZE_MAX - 9) / 10)
			goto bad;
		v = v * 10 + (size_t)(*c - '0');
	}
	if (v > n || (v == n && !end_ok)) {
		sm_buf_addf(why,
			    "path not found (index %zu, the array has %zu "
			    "item%s)",
			    v, n, n == 1 ? "" : "s");
		return -EPROTO;
	}
	*idx = v;
	return 0;
bad:
	sm_buf_addf(why, "path not found (\"%s\" is not an array index)", tok);
	return -EPROTO;
}

/*
 * Walks the first `depth` tokens of p from doc. Returns the value reached
 * (borrowed) in *at, or -EPROTO with the reason in why.
 */
static int jp_walk(json_t *doc, const struct jp_ptr *p, size_t depth,
		   json_t **at, struct sm_buf *why)
{
	json_t *cur = doc;
	size_t idx;
	int rc;

	for (size_t i = 0; i < depth; i++) {
		if (json_is_object(cur)) {
			cur = json_object_get(cur, p->tok[i]);
			if (!cur) {
				sm_buf_adds(why, "path not found");
				return -EPROTO;
			}
		} else if (json_is_array(cur)) {
			rc = jp_index(cur, p->tok[i], false, &idx, why);
			if (rc)
				return rc;
			cur = json_array_get(cur, idx);
		} else {
			sm_buf_addf(why, "path not found (%s has no members)",
				    a_type(cur));
			return -EPROTO;
		}
	}
	*at = cur;
	return 0;
}

/* What each operation gets: the document (replaceable) and its operands. */
struct jp_args {
	json_t **doc;
	const struct jp_ptr *path;
	const struct jp_ptr *from;
	const char *path_text, *from_text;
	const json_t *value;
	struct sm_buf *why;
};

/* Adds v (taken) at path. */
static int jp_add_value(json_t **doc, const struct jp_ptr *path, json_t *v,
			struct sm_buf *why)
{
	json_t *parent;
	const char *last;
	size_t idx;
	int rc;

	if (!path->nr) {
		json_decref(*doc);
		*doc = v;
		return 0;
	}
	rc = jp_walk(*doc, path, path->nr - 1, &parent, why);
	if (rc)
		goto out;
	last = path->tok[path->nr - 1];
	if (json_is_object(parent)) {
		json_object_set_new(parent, last, v);
		return 0;
	}
	if (json_is_array(parent)) {
		rc = jp_index(parent, last, true, &idx, why);
		if (rc)
			goto out;
		json_array_insert_new(parent, idx, v);
		return 0;
	}
	sm_buf_addf(why, "path not found (%s has no members)", a_type(parent));
	rc = -EPROTO;
out:
	json_decref(v);
	return rc;
}

static int jp_remove_at(json_t *doc, const struct jp_ptr *path,
			struct sm_buf *why)
{
	json_t *parent;
	const char *last;
	size_t idx;
	int rc;

	if (!path->nr) {
		sm_buf_adds(why, "cannot remove the whole document");
		return -EPROTO;
	}
	rc = jp_walk(doc, path, path->nr - 1, &parent, why);
	if (rc)
		return rc;
	last = path->tok[path->nr - 1];
	if (json_is_object(parent)) {
		if (json_object_del(parent, last)) {
			sm_buf_adds(why, "path not found");
			return -EPROTO;
		}
		return 0;
	}
	if (json_is_array(parent)) {
		rc = jp_index(parent, last, false, &idx, why);
		if (rc)
			return rc;
		json_array_remove(parent, idx);
		return 0;
	}
	sm_buf_addf(why, "path not found (%s has no members)", a_type(parent));
	return -EPROTO;
}

static int jp_add(struct jp_args *a)
{
	return jp_add_value(a->doc, a->path, jcopy(a->value), a->why);
}

static int jp_remove(struct jp_args *a)
{
	return jp_remove_at(*a->doc, a->path, a->why);
}

static int jp_replace(struct jp_args *a)
{
	json_t *target;
	int rc = jp_walk(*a->doc, a->path, a->path->nr, &target, a->why);

	if (rc)
		return rc;
	/* The target exists, so add replaces it (objects: set; arrays: the
	 * old item goes first). */
	if (a->path->nr)
		rc = jp_remove_at(*a->doc, a->path, a->why);
	if (rc)
		return rc;
	return jp_add_value(a->doc, a->path, jcopy(a->value), a->why);
}

static bool ptr_is_proper_prefix(const char *from, const char *path)
{
	size_t n = strlen(from);

	return !strncmp(from, path, n) && path[n] == '/';
}

static int jp_move(struct jp_args *a)
{
	json_t *v;
	int rc = jp_walk(*a->doc, a->from, a->from->nr, &v, a->why);

	if (rc)
		return rc;
	if (!strcmp(a->from_text, a->path_text))
		return 0;
	if (ptr_is_proper_prefix(a->from_text, a->path_text)) {
		sm_buf_adds(a->why, "cannot move a value into itself");
		return -EINVAL;
	}
	json_incref(v);
	rc = jp_remove_at(*a->doc, a->from, a->why);
	if (rc) {
		json_decref(v);
		return rc;
	}
	return jp_add_value(a->doc, a->path, v, a->why);
}

static int jp_copy(struct jp_args *a)
{
	json_t *v;
	int rc = jp_walk(*a->doc, a->from, a->from->nr, &v, a->why);

	if (rc)
		return rc;
	return jp_add_value(a->doc, a->path, jcopy(v), a->why);
}

static int jp_test(struct jp_args *a)
{
	struct sm_buf d1 = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf d2 = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *v;
	int rc = jp_walk(*a->doc, a->path, a->path->nr, &v, a->why);

	if (rc)
		return rc;
	if (value_equal(v, a->value))
		return 0;
	sm_buf_addf(a->why, "test failed: the value is %s, not %s",
		    describe(v, &d1), describe(a->value, &d2));
	sm_buf_release(&d1);
	sm_buf_release(&d2);
	return -EPROTO;
}

/* The operations, with the members each one needs. */
static const struct jp_op {
	const char *name;
	bool needs_value, needs_from;
	int (*apply)(struct jp_args *a);
} jp_ops[] = {
	{ "add", true, false, jp_add },
	{ "remove", false, false, jp_remove },
	{ "replace", true, false, jp_replace },
	{ "move", false, true, jp_move },
	{ "copy", false, true, jp_copy },
	{ "test", true, false, jp_test },
};

/* Applies operation i to *doc. Errors go to err with the operation named. */
static int jp_apply_one(json_t **doc, const json_t *op, size_t i,
			struct sm_err *err)
{
	struct jp_ptr path = { 0 }, from = { 0 };
	struct sm_buf why = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf what = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const struct jp_op *o = NULL;
	const json_t *jpath, *jfrom, *jname;
	const char *name;
	struct jp_args a;
	int rc;

	if (!json_is_object(op))
		return fail(err, -EINVAL,
			    "json patch operation %zu: expected an object, "
			    "got %s",
			    i, sm_json_type_name(op));
	jname = json_object_get(op, "op");
	if (!json_is_string(jname))
		return fail(err, -EINVAL,
			    "json patch operation %zu: missing \"op\"", i);
	name = json_string_value(jname);
	for (size_t k = 0; k < SM_ARRAY_SIZE(jp_ops); k++)
		if (!strcmp(jp_ops[k].name, name))
			o = &jp_ops[k];
	if (!o)
		return fail(err, -EINVAL,
			    "json patch operation %zu: unknown op \"%s\" "
			    "(expected add, remove, replace, move, copy or "
			    "test)",
			    i, name);
	jpath = json_object_get(op, "path");
	if (!json_is_string(jpath))
		return fail(err, -EINVAL,
			    "json patch operation %zu (%s): missing \"path\"",
			    i, name);
	jfrom = json_object_get(op, "from");
	if (o->needs_from)
		sm_buf_addf(&what, "%s from %s to %s", name,
			    json_is_string(jfrom) ? json_string_value(jfrom)
						  : "?",
			    json_string_value(jpath));
	else
		sm_buf_addf(&what, "%s %s", name, json_string_value(jpath));

	if (o->needs_value && !json_object_get(op, "value")) {
		rc = -EINVAL;
		sm_buf_adds(&why, "missing \"value\"");
		goto out;
	}
	if (o->needs_from && !json_is_string(jfrom)) {
		rc = -EINVAL;
		sm_buf_adds(&why, "missing \"from\"");
		goto out;
	}
	rc = jp_parse(jpath, &path, &why);
	if (!rc && o->needs_from) {
		rc = jp_parse(jfrom, &from, &why);
		if (rc)
			jpath = jfrom;
	}
	if (rc) {
		char *reason = sm_buf_detach(&why, NULL);

		sm_buf_addf(&why, "invalid JSON pointer \"%s\": %s",
			    json_string_value(jpath), reason);
		free(reason);
		goto out;
	}
	a = (struct jp_args){
		.doc = doc,
		.path = &path,
		.from = &from,
		.path_text = json_string_value(jpath),
		.from_text = o->needs_from ? json_string_value(jfrom) : "",
		.value = json_object_get(op, "value"),
		.why = &why,
	};
	rc = o->apply(&a);
out:
	if (rc)
		fail(err, rc, "json patch operation %zu (%s): %s", i,
		     sm_buf_cstr(&what), sm_buf_cstr(&why));
	jp_ptr_release(&path);
	jp_ptr_release(&from);
	sm_buf_release(&why);
	sm_buf_release(&what);
	return rc;
}

int patch_json(const json_t *live, const json_t *ops, json_t **out,
	       struct sm_err *err)
{
	json_t *doc;
	int rc;

	if (!json_is_array(ops))
		return fail(err, -EINVAL,
			    "json patch: expected an array of operations, "
			    "got %s",
			    sm_json_type_name(ops));
	doc = jcopy(live);
	for (size_t i = 0; i < json_array_size(ops); i++) {
		rc = jp_apply_one(&doc, json_array_get(ops, i), i, err);
		if (rc) {
			json_decref(doc);
			return rc;
		}
	}
	*out = doc;
	return 0;
}

/* ---- strategic merge patch ---- */

enum smp_list {
	SMP_MERGE, /* items are objects merged by a key */
	SMP_SET, /* items are scalars, merged as a set */
};

/*
 * Lists that merge, by the field's name in context. A pattern is a path
 * suffix that starts at a field boundary, with "[]" standing for a list
 * item; a leading '/' anchors it at the object's root. Every list not
 * named here is replaced whole (command, args, envFrom, tolerations,
 * readinessGates, matchExpressions, ...). retainKeys (volumes, a
 * Deployment's spec.strategy) needs no entry: the "$retainKeys" directive
 * the client sends says which keys stay.
 */
static const struct smp_rule {
	const char *pattern;
	enum smp_list kind;
	const char *key;
} smp_rules[] = {
	{ "containers", SMP_MERGE, "name" },
	{ "initContainers", SMP_MERGE, "name" },
	{ "ephemeralContainers", SMP_MERGE, "name" },
	{ "env", SMP_MERGE, "name" },
	{ "volumes", SMP_MERGE, "name" },
	{ "imagePullSecrets", SMP_MERGE, "name" },
	{ "schedulingGates", SMP_MERGE, "name" },
	{ "resourceClaims", SMP_MERGE, "name" },
	{ "containers[].ports", SMP_MERGE, "containerPort" },
	{ "initContainers[].ports", SMP_MERGE, "containerPort" },
	{ "ephemeralContainers[].ports", SMP_MERGE, "containerPort" },
	{ "volumeMounts", SMP_MERGE, "mountPath" },
	{ "volumeDevices", SMP_MERGE, "devicePath" },
	{ "/spec.ports", SMP_MERGE, "port" },
	{ "/status.conditions", SMP_MERGE, "type" },
	{ "/status.addresses", SMP_MERGE, "type" },
	{ "hostAliases", SMP_MERGE, "ip" },
	{ "podIPs", SMP_MERGE, "ip" },
	{ "hostIPs", SMP_MERGE, "ip" },
	{ "topologySpreadConstraints", SMP_MERGE, "topologyKey" },
	{ "metadata.ownerReferences", SMP_MERGE, "uid" },
	{ "metadata.finalizers", SMP_SET, NULL },
};

struct smp {
	struct sm_buf path; /* of the value being merged, with indices */
	struct sm_err *err;
};

static int smp_fail(struct smp *s, const char *fmt, ...) SM_PRINTF(2, 3);

static int smp_fail(struct smp *s, const char *fmt, ...)
{
	struct sm_buf msg = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	va_list ap;

	if (!s->err)
		return -EINVAL;
	va_start(ap, fmt);
	sm_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	if (s->path.len)
		sm_error(s->err, NULL, "strategic merge patch: %s: %s",
			 sm_buf_cstr(&s->path), sm_buf_cstr(&msg));
	else
		sm_error(s->err, NULL, "strategic merge patch: %s",
			 sm_buf_cstr(&msg));
	sm_buf_release(&msg);
	return -EINVAL;
}

static size_t smp_push_key(struct smp *s, const char *key)
{
	size_t old = s->path.len;

	if (old)
		sm_buf_addch(&s->path, '.');
	sm_buf_adds(&s->path, key);
	return old;
}

static size_t smp_push_index(struct smp *s, size_t i)
{
	size_t old = s->path.len;

	sm_buf_addf(&s->path, "[%zu]", i);
	return old;
}

static void smp_pop(struct smp *s, size_t old)
{
	sm_buf_truncate(&s->path, old);
}

/* The rule for the list at s->path, or NULL when the list is replaced. */
static const struct smp_rule *smp_rule_for(const struct smp *s)
{
	struct sm_buf norm = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const struct smp_rule *found = NULL;
	const char *p = sm_buf_cstr(&s->path);

	/* "a[3].b" -> "a[].b" */
	for (; *p; p++) {
		sm_buf_addch(&norm, *p);
		if (*p == '[')
			while (p[1] >= '0' && p[1] <= '9')
				p++;
	}
	for (size_t i = 0; i < SM_ARRAY_SIZE(smp_rules) && !found; i++) {
		const char *pat = smp_rules[i].pattern;
		bool anchored = *pat == '/';
		size_t pl, nl = norm.len;

		pat += anchored;
		pl = strlen(pat);
		if (pl > nl || strcmp(norm.buf + nl - pl, pat))
			continue;
		if (anchored ? pl == nl
			     : (pl == nl || norm.buf[nl - pl - 1] == '.'))
			found = &smp_rules[i];
	}
	sm_buf_release(&norm);
	return found;
}

static int smp_merge_map(struct smp *s, json_t *obj, const json_t *patch,
			 bool *deleted);
static int smp_value(struct smp *s, json_t *cur, const json_t *patch,
		     const json_t *order, json_t **out);

/* The "$patch" directive of an object, or NULL. -EINVAL when not known. */
static int smp_directive(struct smp *s, const json_t *obj, const char **dir)
{
	const json_t *d = json_object_get(obj, "$patch");
	const char *v;

	*dir = NULL;
	if (!d)
		return 0;
	v = json_string_value(d);
	if (!v ||
	    (strcmp(v, "replace") && strcmp(v, "delete") && strcmp(v, "merge")))
		return smp_fail(s,
				"unknown \"$patch\" directive %s (expected "
				"\"replace\", \"delete\" or \"merge\")",
				v ? v : sm_json_type_name(d));
	*dir = v;
	return 0;
}

/* The index of the item of list whose key member equals v, from start. */
static size_t smp_find(const json_t *list, const char *key, const json_t *v,
		       size_t start)
{
	for (size_t i = start; i < json_array_size(list); i++) {
		const json_t *item = json_array_get(list, i);

		if (key ? value_equal(json_object_get(item, key), v)
			: value_equal(item, v))
			return i;
	}
	return SIZE_MAX;
}

/*
 * Reorders list as "$setElementOrder" asks. Items the order names come in
 * its order; the others (fields only the server has) keep their place
 * relative to the items that were there before the patch: between two
 * items that both were, the earlier goes first; otherwise the ordered one
 * does. Items of the order that the list lacks are ignored.
 */
static int smp_set_order(struct smp *s, json_t *list, size_t nr_old,
			 const json_t *order, const char *key)
{
	size_t n = json_array_size(list), na = 0, nb = 0;
	size_t *a, *b, *pos;
	json_t *res;

	if (!json_is_array(order))
		return smp_fail(s,
				"\"$setElementOrder\" must be a list, got %s",
				sm_json_type_name(order));
	a = xcalloc(n + 1, sizeof(*a));
	b = xcalloc(n + 1, sizeof(*b));
	pos = xcalloc(n + 1, sizeof(*pos));
	for (size_t i = 0; i < n; i++) {
		const json_t *item = json_array_get(list, i);
		const json_t *v = key ? json_object_get(item, key) : item;

		pos[i] = SIZE_MAX;
		for (size_t k = 0; v && k < json_array_size(order); k++) {
			const json_t *o = json_array_get(order, k);

			if (value_equal(key ? json_object_get(o, key) : o, v)) {
				pos[i] = k;
				break;
			}
		}
		if (pos[i] == SIZE_MAX)
			a[na++] = i;
		else
			b[nb++] = i;
	}
	/* b by position in the order, stable (insertion sort: lists are
	 * short). */
	for (size_t i = 1; i < nb; i++)
		for (size_t j = i; j > 0 && pos[b[j - 1]] > pos[b[j]]; j--) {
			size_t t = b[j];

			b[j] = b[j - 1];
			b[j - 1] = t;
		}
	res = jcheck(json_array());
	for (size_t i = 0, j = 0; i < na || j < nb;) {
		bool take_a;

		if (i == na)
			take_a = false;
		else if (j == nb)
			take_a = true;
		else
			take_a = a[i] < nr_old && b[j] < nr_old && a[i] < b[j];
		json_array_append(
			res, json_array_get(list, take_a ? a[i++] : b[j++]));
	}
	json_array_clear(list);
	json_array_extend(list, res);
	json_decref(res);
	free(a);
	free(b);
	free(pos);
	return 0;
}

/* Removes from list every item equal to one of values. */
static void smp_remove_values(json_t *list, const json_t *values)
{
	for (size_t i = 0; i < json_array_size(list);) {
		if (smp_find(values, NULL, json_array_get(list, i), 0) !=
		    SIZE_MAX)
			json_array_remove(list, i);
		else
			i++;
	}
}

/*
 * Merges a list: patch (an array) into cur (the current value, owned by
 * the result tree; may be NULL or not an array). order is the map's
 * "$setElementOrder/<list>" or NULL. *out is the new list.
 */
static int smp_list(struct smp *s, json_t *cur, const json_t *patch,
		    const json_t *order, json_t **out)
{
	const struct smp_rule *rule = smp_rule_for(s);
	json_t *res = NULL;
	bool replace = false;
	size_t nr_old, old;
	const char *dir;
	int rc = 0;

	for (size_t i = 0; i < json_array_size(patch); i++) {
		const json_t *item = json_array_get(patch, i);

		if (!json_is_object(item))
			continue;
		old = smp_push_index(s, i);
		rc = smp_directive(s, item, &dir);
		smp_pop(s, old);
		if (rc)
			return rc;
		if (dir && !strcmp(dir, "replace"))
			replace = true;
	}
	if (!rule || replace || !json_is_array(cur))
		res = jcheck(json_array());
	else
		res = json_incref(cur);
	nr_old = json_array_size(res);

	for (size_t i = 0; i < json_array_size(patch); i++) {
		const json_t *item = json_array_get(patch, i);
		json_t *v = NULL, *kv;
		size_t at = SIZE_MAX;

		old = smp_push_index(s, i);
		if (json_is_object(item)) {
			smp_directive(s, item, &dir); /* checked above */
			if (dir && !strcmp(dir, "replace")) {
				smp_pop(s, old);
				continue;
			}
		} else {
			dir = NULL;
		}
		if (rule && rule->kind == SMP_SET) {
			if (json_is_object(item) || json_is_array(item)) {
				rc = smp_fail(s,
					      "expected a scalar in a list "
					      "of scalars, got %s",
					      sm_json_type_name(item));
				goto fail;
			}
			if (smp_find(res, NULL, item, 0) == SIZE_MAX)
				json_array_append_new(res, jcopy(item));
			smp_pop(s, old);
			continue;
		}
		if (rule) {
			if (!json_is_object(item)) {
				rc = smp_fail(s,
					      "expected an object with merge "
					      "key \"%s\", got %s",
					      rule->key,
					      sm_json_type_name(item));
				goto fail;
			}
			kv = json_object_get(item, rule->key);
			if (!kv || json_is_null(kv)) {
				rc = smp_fail(s, "missing merge key \"%s\"",
					      rule->key);
				goto fail;
			}
			if (dir && !strcmp(dir, "delete")) {
				size_t j;

				while ((j = smp_find(res, rule->key, kv, 0)) !=
				       SIZE_MAX) {
					json_array_remove(res, j);
					if (j < nr_old)
						nr_old--;
				}
				smp_pop(s, old);
				continue;
			}
			at = smp_find(res, rule->key, kv, 0);
		}
		rc = smp_value(s,
			       at == SIZE_MAX ? NULL : json_array_get(res, at),
			       item, NULL, &v);
		if (rc)
			goto fail;
		if (v && at != SIZE_MAX)
			json_array_set_new(res, at, v);
		else if (v)
			json_array_append_new(res, v);
		smp_pop(s, old);
	}
	if (rule && order) {
		rc = smp_set_order(s, res, nr_old, order, rule->key);
		if (rc)
			goto out;
	}
	*out = res;
	return 0;
fail:
	smp_pop(s, old);
out:
	json_decref(res);
	return rc;
}

/*
 * The new value of a field whose value is cur (owned by the result tree,
 * may be NULL) after patch: *out is new, or NULL when the field goes away.
 */
static int smp_value(struct smp *s, json_t *cur, const json_t *patch,
		     const json_t *order, json_t **out)
{
	json_t *obj;
	bool deleted = false;
	int rc;

	*out = NULL;
	if (json_is_null(patch))
		return 0;
	if (json_is_array(patch))
		return smp_list(s, cur, patch, order, out);
	if (!json_is_object(patch)) {
		*out = jcopy(patch);
		return 0;
	}
	obj = json_is_object(cur) ? json_incref(cur) : jcheck(json_object());
	rc = smp_merge_map(s, obj, patch, &deleted);
	if (rc || deleted) {
		json_decref(obj);
		return rc;
	}
	*out = obj;
	return 0;
}

static bool has_prefix(const char *s, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);

	if (strncmp(s, prefix, n))
		return false;
	*rest = s + n;
	return true;
}

/* Merges patch (an object) into obj (owned by the result tree). */
static int smp_merge_map(struct smp *s, json_t *obj, const json_t *patch,
			 bool *deleted)
{
	const json_t *retain = json_object_get(patch, "$retainKeys");
	const char *dir, *key, *field;
	json_t *v, *tmp;
	size_t old;
	int rc;

	rc = smp_directive(s, patch, &dir);
	if (rc)
		return rc;
	if (dir && !strcmp(dir, "delete")) {
		*deleted = true;
		return 0;
	}
	if (dir && !strcmp(dir, "replace"))
		json_object_clear(obj);

	if (retain) {
		if (!json_is_array(retain))
			return smp_fail(s,
					"\"$retainKeys\" must be a list of "
					"strings, got %s",
					sm_json_type_name(retain));
		for (size_t i = 0; i < json_array_size(retain); i++)
			if (!json_is_string(json_array_get(retain, i)))
				return smp_fail(
					s,
					"\"$retainKeys\" must be a "
					"list of strings, item %zu is "
					"%s",
					i,
					sm_json_type_name(
						json_array_get(retain, i)));
		json_object_foreach_safe (obj, tmp, key, v) {
			json_t *k = jcheck(json_string(key));

			if (smp_find(retain, NULL, k, 0) == SIZE_MAX)
				json_object_del(obj, key);
			json_decref(k);
		}
	}

	/* Removals from lists of scalars come before what the patch adds. */
	json_object_foreach ((json_t *)patch, key, v) {
		json_t *list;

		if (!has_prefix(key, "$deleteFromPrimitiveList/", &field))
			continue;
		old = smp_push_key(s, field);
		if (!json_is_array(v)) {
			rc = smp_fail(s,
				      "\"$deleteFromPrimitiveList\" must be a "
				      "list, got %s",
				      sm_json_type_name(v));
			smp_pop(s, old);
			return rc;
		}
		smp_pop(s, old);
		list = json_object_get(obj, field);
		if (json_is_array(list))
			smp_remove_values(list, v);
	}

	json_object_foreach ((json_t *)patch, key, v) {
		const json_t *order = NULL;
		json_t *nv;

		if (key[0] == '$')
			continue; /* directives, never stored */
		if (json_is_array(v)) {
			char *order_key = xasprintf("$setElementOrder/%s", key);

			order = json_object_get(patch, order_key);
			free(order_key);
		}
		old = smp_push_key(s, key);
		rc = smp_value(s, json_object_get(obj, key), v, order, &nv);
		smp_pop(s, old);
		if (rc)
			return rc;
		if (nv)
			json_object_set_new(obj, key, nv);
		else
			json_object_del(obj, key);
	}

	/* An order for a list the patch did not otherwise touch. */
	json_object_foreach ((json_t *)patch, key, v) {
		const struct smp_rule *rule;
		json_t *list;

		if (!has_prefix(key, "$setElementOrder/", &field))
			continue;
		if (json_is_array(json_object_get(patch, field)))
			continue; /* done with the list itself */
		list = json_object_get(obj, field);
		if (!json_is_array(list))
			continue;
		old = smp_push_key(s, field);
		rule = smp_rule_for(s);
		rc = rule ? smp_set_order(s, list, json_array_size(list), v,
					  rule->key)
			  : 0;
		smp_pop(s, old);
		if (rc)
			return rc;
	}
	return 0;
}

int patch_strategic(const json_t *live, const json_t *patch, json_t **out,
		    struct sm_err *err)
{
	struct smp s = { .path = SM_BUF_INIT(SM_BUF_UNBOUNDED), .err = err };
	bool deleted = false;
	json_t *res;
	int rc;

	if (!json_is_object(patch))
		return fail(err, -EINVAL,
			    "strategic merge patch: expected a JSON object, "
			    "got %s",
			    sm_json_type_name(patch));
	if (!json_is_object(live))
		return fail(err, -EINVAL,
			    "strategic merge patch: the object is a %s, not an "
			    "object",
			    sm_json_type_name(live));
	res = jcopy(live);
	rc = smp_merge_map(&s, res, patch, &deleted);
	if (!rc && deleted)
		rc = smp_fail(&s, "\"$patch\": \"delete\" cannot delete the "
				  "whole object");
	sm_buf_release(&s.path);
	if (rc) {
		json_decref(res);
		return rc;
	}
	*out = res;
	return 0;
}

/* ---- dispatch ---- */

static const struct {
	const char *content_type;
	enum patch_type type;
} patch_types[] = {
	{ "application/json-patch+json", PATCH_JSON },
	{ "application/merge-patch+json", PATCH_MERGE },
	{ "application/strategic-merge-patch+json", PATCH_STRATEGIC },
};

int patch_type_from_content_type(const char *content_type,
				 enum patch_type *type, struct sm_err *err)
{
	const char *s = content_type ? content_type : "";
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strcspn(s, ";");
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < SM_ARRAY_SIZE(patch_types); i++) {
		if (strlen(patch_types[i].content_type) == n &&
		    !strncasecmp(s, patch_types[i].content_type, n)) {
			*type = patch_types[i].type;
			return 0;
		}
	}
	return fail(err, -ENOTSUP,
		    "unsupported media type \"%.*s\" for a patch: accepted "
		    "media types include application/json-patch+json, "
		    "application/merge-patch+json, "
		    "application/strategic-merge-patch+json",
		    (int)(n > 200 ? 200 : n), s);
}

int patch_apply(const char *content_type, const json_t *live,
		const json_t *patch, json_t **out, struct sm_err *err)
{
	enum patch_type type;
	json_t *res = NULL;
	int rc = patch_type_from_content_type(content_type, &type, err);

	if (rc)
		return rc;
	switch (type) {
	case PATCH_MERGE:
		rc = patch_merge(live, patch, &res, err);
		break;
	case PATCH_STRATEGIC:
		rc = patch_strategic(live, patch, &res, err);
		break;
	case PATCH_JSON:
		rc = patch_json(live, patch, &res, err);
		break;
	}
	if (rc)
		return rc;
	if (!json_is_object(res)) {
		rc = fail(err, -EPROTO,
			  "the patched document is a %s, not an object",
			  sm_json_type_name(res));
		json_decref(res);
		return rc;
	}
	*out = res;
	return 0;
}
