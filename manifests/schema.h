/*
 * schema.h: the table-driven object model.
 *
 * Every kind is described by tables of struct mf_field: name, type, flags,
 * default and checks. One generic walker (mf_schema_apply) checks a parsed
 * object against its type, reports every problem with the place it comes
 * from, and applies defaults, so adding a field is adding a table row.
 *
 * Types nest: an object type has fields; arrays and maps have an element
 * type. Checks that span several fields (a selector must match the template's
 * labels, volume mounts must name volumes) are an object type's `check`
 * function, run after its fields are checked and defaulted.
 *
 * Messages have the form (see common/err.h)
 *   FILE:LINE:COL: Deployment "web": spec.replicas: expected an integer, got
 * "three" The position is the offending value's, a missing field's parent
 * key's, or an unknown field's key.
 */
#ifndef MF_SCHEMA_H
#define MF_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "manifests/parse.h"

struct mf_walk;

enum mf_kind_of_type {
	MF_STRING,
	MF_INT, /* JSON integer within [min, max] */
	MF_BOOL,
	MF_OBJECT, /* fields */
	MF_ARRAY, /* of elem */
	MF_MAP, /* string keys -> elem */
	MF_QUANTITY, /* "100m", "64Mi" or a number; stored canonical string */
	MF_INT_OR_STRING,
	MF_ANY, /* a Kubernetes field stuurman accepts as is */
};

/* Checks a value that already has the right JSON type; reports via w. */
typedef void (*mf_check_fn)(struct mf_walk *w, json_t *val);

struct mf_type {
	enum mf_kind_of_type kind;
	const char *name; /* for messages, e.g. "Container" */
	/* MF_OBJECT */
	const struct mf_field *fields;
	/* MF_ARRAY, MF_MAP */
	const struct mf_type *elem;
	/* MF_MAP: a format check for keys (names.h style), or NULL */
	const char *(*key_format)(const char *key);
	/* MF_STRING: allowed values (NULL-terminated), or a format check */
	const char *const *enum_values;
	const char *(*format)(const char *s);
	/* MF_INT */
	int64_t min, max;
	bool octal; /* a file mode: messages speak octal */
	/* Any kind: values at or below are Secret data: never in messages. */
	bool secret;
	/* Any kind: run after the value's own checks and defaults. */
	mf_check_fn check;
};

enum {
	MF_REQUIRED = 1 << 0, /* absent (or null) is an error */
	MF_NONEMPTY = 1 << 1, /* "", [] or {} is an error too */
	MF_DROP = 1 << 2, /* accepted and removed: server-set fields */
};

struct mf_field {
	const char *name;
	const struct mf_type *type;
	unsigned flags;
	/* Default as JSON text, set when the field is absent, or NULL. */
	const char *def;
};

/*
 * One step of the walk's path: a member (key borrowed: a table's field name,
 * or a key of the object being walked, valid while it is walked) or an
 * element. The JSON Pointer and display path are rendered from these only
 * when a diagnostic needs them: valid objects never pay for strings.
 */
struct mf_walk_seg {
	const char *key; /* NULL for an element */
	size_t index;
	bool map_key; /* a map's key: displayed as [key] */
};

/* A walk over one object, with the place it came from. */
struct mf_walk {
	const struct mf_doc *doc; /* positions; may be NULL */
	const char *file; /* for messages; may be NULL */
	/* The subject of messages, `Deployment "web"`: kind (NULL for none)
	 * and name (borrowed from the object). */
	const char *kind, *name;
	const char *at; /* JSON Pointer of the object in doc ("") */
	struct sm_err *err;
	bool strict; /* unknown fields are errors, not warnings */
	struct mf_walk_seg *segs; /* the path to the current value */
	size_t nr_segs, alloc_segs;
	json_t *root; /* the whole object (borrowed) */
	void *user; /* for kind checks */
	int errors; /* errors reported by this walk */
	int secret; /* > 0 inside Secret data: values are not shown */
};

/* Frees what a walk allocated (its path stack). */
void mf_walk_release(struct mf_walk *w);

/*
 * Checks val (borrowed; defaults are added to it in place) against type.
 * Starts at the JSON Pointer and display path the walk is at. Returns 0 or
 * -EINVAL when it reported an error.
 */
int mf_schema_apply(struct mf_walk *w, const struct mf_type *type, json_t *val);

/*
 * For check functions: report at the current value (mf_walk_error), at a
 * member's value or key, or at a child of the current value.
 */
void mf_walk_error(struct mf_walk *w, const char *fmt, ...) SM_PRINTF(2, 3);
void mf_walk_warning(struct mf_walk *w, const char *fmt, ...) SM_PRINTF(2, 3);

/*
 * Descends into an object member or array element, for check functions
 * that look at children: push returns the old lengths; pop restores them.
 */
struct mf_walk_mark {
	size_t nr_segs;
};
struct mf_walk_mark mf_walk_push_key(struct mf_walk *w, const char *key);
struct mf_walk_mark mf_walk_push_index(struct mf_walk *w, size_t i);
void mf_walk_pop(struct mf_walk *w, struct mf_walk_mark m);

/* The line where member key of the current value starts, or 0. */
int mf_walk_key_line(struct mf_walk *w, const char *key);

/* Appends the current display path ("spec.template.spec") to out. */
void mf_walk_path(const struct mf_walk *w, struct sm_buf *out);

/*
 * Reports a problem with a path relative to the current one ("" for the
 * current value): at the value, or (_key_at) at its key, for fields that
 * may not be there and objects that lack something.
 */
void mf_walk_error_at(struct mf_walk *w, const char *rel, const char *fmt, ...)
	SM_PRINTF(3, 4);
void mf_walk_error_key_at(struct mf_walk *w, const char *rel, const char *fmt,
			  ...) SM_PRINTF(3, 4);

/* Shared types kinds build on (defined in kinds.c). */
extern const struct mf_type mf_type_string;
extern const struct mf_type mf_type_bool;
extern const struct mf_type mf_type_any;

#endif
