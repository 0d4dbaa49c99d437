#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/banned.h"

const char *sm_json_type_name(const json_t *j)
{
	if (!j)
		return "null";
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/* What json_dump_callback writes into: the buffer and why it stopped. */
struct dump_ctx {
	struct sm_buf *out;
	int err;
};

static int dump_cb(const char *data, size_t size, void *ctx)
{
	struct dump_ctx *d = ctx;
	int r = sm_buf_add(d->out, data, size);

	if (r) {
		d->err = r;
		return -1;
	}
	return 0;
}

int sm_json_dump_canonical(const json_t *j, struct sm_buf *out)
{
	struct dump_ctx d = { out, 0 };
	size_t start = out->len;

	if (!j)
		return -EINVAL;
	if (json_dump_callback(j, dump_cb, &d,
			       JSON_COMPACT | JSON_SORT_KEYS |
				       JSON_ENCODE_ANY)) {
		/* A failed append leaves the buffer as it was, like sm_buf. */
		if (out->buf)
			sm_buf_truncate(out, start);
		return d.err ? d.err : -EINVAL;
	}
	return 0;
}

json_t *sm_json_get_path(const json_t *root, const char *path)
{
	json_t *cur = (json_t *)root;
	const char *p = path;

	if (!root || !path)
		return NULL;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (!json_is_object(cur))
			return NULL;
		cur = json_object_getn(cur, p, len);
		if (!cur || !dot)
			return cur;
		p = dot + 1;
	}
}

const char *sm_json_get_str(const json_t *obj, const char *key)
{
	json_t *v;

	if (!json_is_object(obj) || !key)
		return NULL;
	v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int sm_json_pointer_add_key(struct sm_buf *ptr, const char *key)
{
	size_t start = ptr->len;
	int r = sm_buf_addch(ptr, '/');

	for (const char *p = key; !r && *p; p++) {
		if (*p == '~')
			r = sm_buf_add(ptr, "~0", 2);
		else if (*p == '/')
			r = sm_buf_add(ptr, "~1", 2);
		else
			r = sm_buf_addch(ptr, *p);
	}
	/* All or nothing, so a caller can go on with the old pointer. */
	if (r && ptr->buf)
		sm_buf_truncate(ptr, start);
	return r;
}

int sm_json_pointer_add_index(struct sm_buf *ptr, size_t index)
{
	return sm_buf_addf(ptr, "/%zu", index);
}
