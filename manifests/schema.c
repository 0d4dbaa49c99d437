/*
 * schema.c: the generic walker over struct mf_type tables.
 *
 * The walk keeps two paths in step: the JSON Pointer of the current value,
 * used to find its line:column in the parsed document, and the display path
 * Kubernetes uses in its messages ("spec.containers[0].image", map keys as
 * "metadata.labels[app]").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "common/xalloc.h"
#include "manifests/quantity.h"
#include "manifests/schema.h"
#include "common/banned.h"

static bool plain_key(const char *k);

/* Appends the JSON Pointer of the first n segments to out. */
static void walk_pointer(const struct mf_walk *w, size_t n, struct sm_buf *out)
{
	sm_buf_adds(out, w->at ? w->at : "");
	for (size_t i = 0; i < n; i++) {
		if (w->segs[i].key)
			sm_json_pointer_add_key(out, w->segs[i].key);
		else
			sm_json_pointer_add_index(out, w->segs[i].index);
	}
}

/* The position for a diagnostic about the current value. */
static struct sm_pos walk_pos(const struct mf_walk *w, bool want_key)
{
	struct sm_pos pos = { w->file, 0, 0 };
	struct sm_buf ptr = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	if (!w->doc)
		return pos;
	/*
	 * A value that is not in the document (added by a default, or
	 * missing) is reported at the key of the nearest ancestor that is.
	 */
	for (size_t n = w->nr_segs + 1; n-- > 0;) {
		const struct mf_pos *p;

		sm_buf_reset(&ptr);
		walk_pointer(w, n, &ptr);
		p = mf_doc_pos(w->doc, sm_buf_cstr(&ptr));
		if (!p && n == 0)
			p = mf_doc_pos(w->doc, "");
		if (!p)
			continue;
		if (n == w->nr_segs && !want_key) {
			pos.line = p->line;
			pos.col = p->col;
		} else {
			pos.line = p->key_line;
			pos.col = p->key_col;
		}
		break;
	}
	sm_buf_release(&ptr);
	return pos;
}

void mf_walk_path(const struct mf_walk *w, struct sm_buf *out)
{
	size_t start = out->len;

	for (size_t i = 0; i < w->nr_segs; i++) {
		const struct mf_walk_seg *g = &w->segs[i];

		if (!g->key)
			sm_buf_addf(out, "[%zu]", g->index);
		else if (!g->map_key && plain_key(g->key))
			sm_buf_addf(out, "%s%s", out->len > start ? "." : "",
				    g->key);
		else
			sm_buf_addf(out, "[%s]", g->key);
	}
}

void mf_walk_release(struct mf_walk *w)
{
	free(w->segs);
	w->segs = NULL;
	w->nr_segs = w->alloc_segs = 0;
}

static void walk_vreport(struct mf_walk *w, enum sm_severity sev, bool want_key,
			 const char *fmt, va_list ap) SM_PRINTF(4, 0);
static void walk_vreport(struct mf_walk *w, enum sm_severity sev, bool want_key,
			 const char *fmt, va_list ap)
{
	struct sm_pos pos = walk_pos(w, want_key);
	struct sm_buf msg = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	if (w->kind)
		sm_buf_addf(&msg, "%s \"%s\": ", w->kind,
			    w->name ? w->name : "");
	if (w->nr_segs) {
		mf_walk_path(w, &msg);
		sm_buf_adds(&msg, ": ");
	}
	sm_buf_vaddf(&msg, fmt, ap);
	sm_err_add(w->err, sev, &pos, "%s", sm_buf_cstr(&msg));
	if (sev == SM_ERROR)
		w->errors++;
	sm_buf_release(&msg);
}

void mf_walk_error(struct mf_walk *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	walk_vreport(w, SM_ERROR, false, fmt, ap);
	va_end(ap);
}

void mf_walk_warning(struct mf_walk *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	walk_vreport(w, SM_WARNING, false, fmt, ap);
	va_end(ap);
}

static void walk_report_key(struct mf_walk *w, enum sm_severity sev,
			    const char *fmt, ...) SM_PRINTF(3, 4);
static void walk_report_key(struct mf_walk *w, enum sm_severity sev,
			    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	walk_vreport(w, sev, true, fmt, ap);
	va_end(ap);
}

/* Keys that read as identifiers are written .key, others [key]. */
static bool plain_key(const char *k)
{
	if (!*k)
		return false;
	for (const char *p = k; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '_' || (p != k && c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

static struct mf_walk_mark push_seg(struct mf_walk *w, const char *key,
				    size_t index, bool map_key)
{
	struct mf_walk_mark m = { w->nr_segs };

	SM_ALLOC_GROW(w->segs, w->nr_segs + 1, w->alloc_segs);
	w->segs[w->nr_segs].key = key;
	w->segs[w->nr_segs].index = index;
	w->segs[w->nr_segs].map_key = map_key;
	w->nr_segs++;
	return m;
}

struct mf_walk_mark mf_walk_push_key(struct mf_walk *w, const char *key)
{
	return push_seg(w, key, 0, false);
}

struct mf_walk_mark mf_walk_push_index(struct mf_walk *w, size_t i)
{
	return push_seg(w, NULL, i, false);
}

void mf_walk_pop(struct mf_walk *w, struct mf_walk_mark m)
{
	SM_BUG_ON(m.nr_segs > w->nr_segs);
	w->nr_segs = m.nr_segs;
}

int mf_walk_key_line(struct mf_walk *w, const char *key)
{
	struct sm_buf ptr = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const struct mf_pos *p = NULL;

	if (w->doc) {
		walk_pointer(w, w->nr_segs, &ptr);
		sm_json_pointer_add_key(&ptr, key);
		p = mf_doc_pos(w->doc, sm_buf_cstr(&ptr));
	}
	sm_buf_release(&ptr);
	return p ? p->key_line : 0;
}

static void walk_vreport_at(struct mf_walk *w, const char *rel, bool key,
			    const char *fmt, va_list ap) SM_PRINTF(4, 0);
static void walk_vreport_at(struct mf_walk *w, const char *rel, bool key,
			    const char *fmt, va_list ap)
{
	struct mf_walk_mark m = { w->nr_segs };
	char *copy = xstrdup(rel), *save = NULL;

	/* The copy holds the keys the pushed segments point into. */
	for (char *k = strtok_r(copy, ".", &save); k;
	     k = strtok_r(NULL, ".", &save))
		mf_walk_push_key(w, k);
	walk_vreport(w, SM_ERROR, key, fmt, ap);
	mf_walk_pop(w, m);
	free(copy);
}

void mf_walk_error_at(struct mf_walk *w, const char *rel, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	walk_vreport_at(w, rel, false, fmt, ap);
	va_end(ap);
}

void mf_walk_error_key_at(struct mf_walk *w, const char *rel, const char *fmt,
			  ...)
{
	va_list ap;

	va_start(ap, fmt);
	walk_vreport_at(w, rel, true, fmt, ap);
	va_end(ap);
}

/* "expected an integer, got "three"" */
static void type_error(struct mf_walk *w, const char *want, const json_t *val)
{
	struct sm_buf got = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *hint = "";

	/* Secret values stay out of messages, even when of the wrong type. */
	if (w->secret)
		sm_buf_addf(&got, "a value of type %s (not shown: Secret data)",
			    sm_json_type_name(val));
	else
		sm_json_describe(val, &got);
	if (json_is_boolean(val) && !strcmp(want, "a string"))
		hint = " (quote it: YAML reads a bare true/false as a boolean)";
	else if (json_is_number(val) && !strcmp(want, "a string"))
		hint = " (quote it: YAML reads a bare number as a number)";
	mf_walk_error(w, "expected %s, got %s%s", want, sm_buf_cstr(&got),
		      hint);
	sm_buf_release(&got);
}

static void check_string(struct mf_walk *w, const struct mf_type *t,
			 json_t *val)
{
	const char *s = json_string_value(val);
	const char *why;

	if (t->enum_values) {
		struct sm_buf list = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		for (const char *const *e = t->enum_values; *e; e++)
			if (!strcmp(s, *e))
				return;
		for (const char *const *e = t->enum_values; *e; e++)
			sm_buf_addf(&list, "%s\"%s\"",
				    e == t->enum_values ? "" : ", ", *e);
		mf_walk_error(w,
			      "unsupported value \"%s\": supported values: %s",
			      s, sm_buf_cstr(&list));
		sm_buf_release(&list);
		return;
	}
	if (t->format && (why = t->format(s)))
		mf_walk_error(w, "invalid %s \"%s\": %s",
			      t->name ? t->name : "value", s, why);
}

/*
 * Quantities are stored as Kubernetes prints them back ("0.5" -> "500m"), so
 * equal quantities compare equal. Returns the canonical string (new) or NULL
 * when the value is not a valid quantity (reported).
 */
static json_t *check_quantity(struct mf_walk *w, json_t *val)
{
	struct mf_quantity q;
	const char *why = NULL;
	char text[64];

	if (json_is_integer(val)) {
		snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(val));
	} else if (json_is_real(val)) {
		snprintf(text, sizeof(text), "%.17g", json_real_value(val));
	} else if (json_is_string(val)) {
		size_t n = json_string_length(val);

		if (n >= sizeof(text)) {
			mf_walk_error(w,
				      "\"%.20s...\" is not a valid quantity: "
				      "too long",
				      json_string_value(val));
			return NULL;
		}
		memcpy(text, json_string_value(val), n + 1);
	} else {
		type_error(w, "a quantity (such as \"100m\" or \"64Mi\")", val);
		return NULL;
	}
	if (mf_quantity_parse(text, &q, &why)) {
		mf_walk_error(w,
			      "\"%s\" is not a valid quantity: %s "
			      "(examples: 100m, 0.5, 64Mi, 1G)",
			      text, why ? why : "bad format");
		return NULL;
	}
	if (mf_quantity_format(&q, text, sizeof(text)))
		return NULL;
	return json_string(text);
}

static int walk_value(struct mf_walk *w, const struct mf_type *t, json_t *val,
		      json_t **repl);
static int walk_checked(struct mf_walk *w, const struct mf_type *t, json_t *val,
			json_t **repl, int before);

/*
 * A field's default as a new value. Most defaults are scalars or "{}", built
 * directly: this runs for every defaulted field of every object.
 */
static json_t *default_value(const char *def)
{
	json_error_t jerr;
	json_t *d;

	if (def[0] == '"' && !strchr(def + 1, '\\'))
		return json_stringn(def + 1, strlen(def) - 2);
	if (!strcmp(def, "{}"))
		return json_object();
	if (!strcmp(def, "true"))
		return json_true();
	if ((def[0] >= '0' && def[0] <= '9') && !strpbrk(def, ".eE"))
		return json_integer(strtoll(def, NULL, 10));
	d = json_loads(def, JSON_DECODE_ANY, &jerr);
	SM_BUG_ON(!d);
	return d;
}

/* Whether v is "", [] or {}. */
static bool is_empty(const json_t *v)
{
	return (json_is_string(v) && !*json_string_value(v)) ||
	       (json_is_array(v) && !json_array_size(v)) ||
	       (json_is_object(v) && !json_object_size(v));
}

/*
 * Walks the members the object has (a table lookup each), then the fields
 * it lacks that are required or have a default. Most objects set a few of
 * many possible fields, so this looks up what is there, not every field.
 */
static void walk_object(struct mf_walk *w, const struct mf_type *t, json_t *obj)
{
	const char *key;
	json_t *v, *r;
	void *tmp;

	json_object_foreach_safe (obj, tmp, key, v) {
		const struct mf_field *f;
		struct mf_walk_mark m;

		for (f = t->fields; f && f->name; f++)
			if (f->name[0] == key[0] && !strcmp(f->name, key))
				break;
		if (f && f->name && json_is_null(v)) {
			/* null means "not set", as in Kubernetes' decoding. */
			json_object_del(obj, key);
			continue;
		}
		if (f && f->name && (f->flags & MF_DROP)) {
			json_object_del(obj, key);
			continue;
		}
		m = mf_walk_push_key(w, f && f->name ? f->name : key);
		if (!f || !f->name) {
			walk_report_key(w, w->strict ? SM_ERROR : SM_WARNING,
					"unknown field \"%s\"%s", key,
					w->strict ? "" : " (ignored)");
			if (w->strict)
				w->errors++;
			mf_walk_pop(w, m);
			json_object_del(obj, key);
			continue;
		}
		r = NULL;
		walk_value(w, f->type, v, &r);
		if (r)
			json_object_set_new(obj, f->name, v = r);
		if ((f->flags & MF_NONEMPTY) && is_empty(v))
			mf_walk_error(w, "required value: must not be empty");
		mf_walk_pop(w, m);
	}

	for (const struct mf_field *f = t->fields; f && f->name; f++) {
		struct mf_walk_mark m;
		json_t *d;

		if (!(f->flags & MF_REQUIRED) && !f->def)
			continue;
		if (json_object_get(obj, f->name))
			continue;
		m = mf_walk_push_key(w, f->name);
		if (f->flags & MF_REQUIRED) {
			mf_walk_error(w, "required value");
		} else {
			d = default_value(f->def);
			json_object_set_new(obj, f->name, d);
			/* A default may have defaults of its own. */
			if (json_is_object(d)) {
				r = NULL;
				walk_value(w, f->type, d, &r);
			}
		}
		mf_walk_pop(w, m);
	}
}

static void walk_map(struct mf_walk *w, const struct mf_type *t, json_t *obj)
{
	const char *key;
	json_t *v;

	json_object_foreach (obj, key, v) {
		struct mf_walk_mark m = push_seg(w, key, 0, true);
		json_t *r = NULL;
		const char *why;

		if (t->key_format && (why = t->key_format(key)))
			walk_report_key(w, SM_ERROR, "invalid key \"%s\": %s",
					key, why);
		walk_value(w, t->elem, v, &r);
		if (r)
			json_object_set_new(obj, key, r);
		mf_walk_pop(w, m);
	}
}

/*
 * Checks val against t. When the canonical form of the value is a new value
 * (a quantity written another way), *repl is set to it (new) and the caller
 * puts it in val's place.
 */
static int walk_value(struct mf_walk *w, const struct mf_type *t, json_t *val,
		      json_t **repl)
{
	int before = w->errors, r;

	w->secret += t->secret;
	r = walk_checked(w, t, val, repl, before);
	w->secret -= t->secret;
	return r;
}

/* walk_value's body, for one value whose secrecy is already counted. */
static int walk_checked(struct mf_walk *w, const struct mf_type *t, json_t *val,
			json_t **repl, int before)
{
	switch (t->kind) {
	case MF_STRING:
		if (!json_is_string(val))
			return type_error(w, "a string", val), -EINVAL;
		check_string(w, t, val);
		break;
	case MF_INT:
		if (!json_is_integer(val))
			return type_error(w, "an integer", val), -EINVAL;
		if (json_integer_value(val) < t->min ||
		    json_integer_value(val) > t->max) {
			if (t->octal)
				mf_walk_error(
					w,
					"must be a file mode between "
					"0 and 0777 (octal; 511 decimal), "
					"got %" JSON_INTEGER_FORMAT,
					json_integer_value(val));
			else if (t->max == INT32_MAX || t->max == INT64_MAX)
				mf_walk_error(w,
					      "must be greater than or "
					      "equal to %" PRId64
					      ", got %" JSON_INTEGER_FORMAT,
					      t->min, json_integer_value(val));
			else
				mf_walk_error(w,
					      "must be between %" PRId64
					      " and %" PRId64 ", inclusive, "
					      "got %" JSON_INTEGER_FORMAT,
					      t->min, t->max,
					      json_integer_value(val));
		}
		break;
	case MF_BOOL:
		if (!json_is_boolean(val))
			return type_error(w, "a boolean", val), -EINVAL;
		break;
	case MF_OBJECT:
		if (!json_is_object(val))
			return type_error(w, "an object", val), -EINVAL;
		walk_object(w, t, val);
		break;
	case MF_ARRAY:
		if (!json_is_array(val))
			return type_error(w, "an array", val), -EINVAL;
		for (size_t i = 0; i < json_array_size(val); i++) {
			struct mf_walk_mark m = mf_walk_push_index(w, i);
			json_t *r = NULL;

			walk_value(w, t->elem, json_array_get(val, i), &r);
			if (r)
				json_array_set_new(val, i, r);
			mf_walk_pop(w, m);
		}
		break;
	case MF_MAP:
		if (!json_is_object(val))
			return type_error(w, "an object", val), -EINVAL;
		walk_map(w, t, val);
		break;
	case MF_QUANTITY:
		*repl = check_quantity(w, val);
		break;
	case MF_INT_OR_STRING:
		if (!json_is_integer(val) && !json_is_string(val))
			return type_error(w, "an integer or a string", val),
			       -EINVAL;
		break;
	case MF_ANY:
		break;
	}
	if (t->check && w->errors == before)
		t->check(w, *repl ? *repl : val);
	return w->errors == before ? 0 : -EINVAL;
}

int mf_schema_apply(struct mf_walk *w, const struct mf_type *type, json_t *val)
{
	json_t *r = NULL;
	int ret = walk_value(w, type, val, &r);

	/* Only members are replaced; a top-level value is always an object. */
	json_decref(r);
	return ret;
}
