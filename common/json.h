/*
 * json.h: helpers around jansson that the whole project shares.
 *
 * jansson reference rules apply: functions here say whether a json_t they
 * return is new (caller json_decref()s it) or borrowed (valid while the
 * argument lives and is not changed).
 *
 * YAML output: sm_json_to_yaml() writes a JSON value as block-style YAML with
 * keys sorted, as `kubectl get -o yaml` shows objects. Strings that YAML would
 * read back as something else ("true", "123", "null", "", "1.5", "yes", "~",
 * strings with leading/trailing spaces...) are double-quoted, multi-line
 * strings use literal block style, so the output always reads back as the
 * same JSON.
 */
#ifndef SM_JSON_H
#define SM_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "common/compat.h"

struct sm_buf;

static inline void sm_json_decrefp(json_t **j)
{
	json_decref(*j);
}

#define SM_AUTOJSON SM_CLEANUP(sm_json_decrefp)

/*
 * The Kubernetes-style name of a value's type, for messages: "string",
 * "integer", "number", "boolean", "null", "object", "array".
 */
const char *sm_json_type_name(const json_t *j);

/*
 * Appends a short, quoted rendering of a value for messages: strings as
 * "text" (cut to about 60 bytes with "..."), numbers and booleans as they
 * are, objects and arrays as "object"/"array".
 */
int sm_json_describe(const json_t *j, struct sm_buf *out);

/*
 * Appends the canonical JSON text: compact, keys sorted, no trailing
 * newline. Two equal values always give the same bytes. -EMSGSIZE when out
 * is full.
 */
int sm_json_dump_canonical(const json_t *j, struct sm_buf *out);

/* Appends j as YAML (see above), ending with a newline. -EMSGSIZE when full. */
int sm_json_to_yaml(const json_t *j, struct sm_buf *out);

/*
 * Looks up a dotted path of object keys ("spec.template.metadata.labels").
 * Returns the value (borrowed) or NULL when any step is missing or is not an
 * object. Keys containing dots cannot be reached this way.
 */
json_t *sm_json_get_path(const json_t *root, const char *path);

/* A string member's value (borrowed) or NULL when absent or not a string. */
const char *sm_json_get_str(const json_t *obj, const char *key);

/*
 * Appends a JSON Pointer (RFC 6901) segment for an object key to ptr:
 * "/" + key with "~" as "~0" and "/" as "~1". And one for an array index.
 */
int sm_json_pointer_add_key(struct sm_buf *ptr, const char *key);
int sm_json_pointer_add_index(struct sm_buf *ptr, size_t index);

#endif
