/*
 * canonical.c: content hashes and structural diffs of canonical objects.
 *
 * The hash depends only on the canonical JSON text, so it is the same for
 * equal objects whatever order their keys came in. FNV-1a 64 is not a
 * cryptographic hash: it names revisions (pod-template-hash), it does not
 * protect anything.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/strmap.h"
#include "common/xalloc.h"
#include "manifests/canonical.h"
#include "common/banned.h"

/*
 * Kubernetes' safe alphabet (k8s.io/apimachinery/pkg/util/rand): no vowels
 * and no look-alike characters, so a hash never spells a word and always
 * is a valid label value and DNS label fragment.
 */
static const char safe_alphabet[] = "bcdfghjklmnpqrstvwxz2456789";

void mf_hash(const json_t *j, char out[MF_HASH_LEN + 1])
{
	struct sm_buf text = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const size_t base = sizeof(safe_alphabet) - 1;
	json_t *null = NULL;
	uint64_t h;
	int r;

	if (!j)
		j = null = json_null();
	r = sm_json_dump_canonical(j, &text);
	/* An unbounded buffer cannot fill up; jansson only fails on OOM. */
	SM_BUG_ON(r);
	h = sm_hash_fnv1a(text.buf, text.len);
	sm_buf_release(&text);
	json_decref(null);

	/* The ten lowest base-27 digits, most significant first. */
	for (int i = MF_HASH_LEN - 1; i >= 0; i--) {
		out[i] = safe_alphabet[h % base];
		h /= base;
	}
	out[MF_HASH_LEN] = '\0';
}

static void diff_add(struct mf_diff *d, enum mf_diff_op op, const char *path,
		     const json_t *a, const json_t *b)
{
	struct mf_diff_entry *e;

	SM_ALLOC_GROW(d->items, d->nr + 1, d->alloc);
	e = &d->items[d->nr++];
	e->op = op;
	e->path = xstrdup(path);
	e->old_val = json_incref((json_t *)a);
	e->new_val = json_incref((json_t *)b);
}

/* A key that can follow a dot: [A-Za-z_][A-Za-z0-9_]*. */
static bool is_plain_key(const char *k)
{
	if (!(*k == '_' || (*k >= 'a' && *k <= 'z') ||
	      (*k >= 'A' && *k <= 'Z')))
		return false;
	for (k++; *k; k++)
		if (!(*k == '_' || (*k >= 'a' && *k <= 'z') ||
		      (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9')))
			return false;
	return true;
}

static void path_add_key(struct sm_buf *path, const char *key)
{
	int r;

	if (is_plain_key(key))
		r = sm_buf_addf(path, "%s%s", path->len ? "." : "", key);
	else
		r = sm_buf_addf(path, "[%s]", key);
	SM_BUG_ON(r);
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of an object, sorted (borrowed from it), and their count. */
static const char **sorted_keys(const json_t *o, size_t *n)
{
	const char **keys = xcalloc(json_object_size(o) + 1, sizeof(*keys));
	const char *k;
	json_t *v;

	*n = 0;
	json_object_foreach ((json_t *)o, k, v)
		keys[(*n)++] = k;
	qsort(keys, *n, sizeof(*keys), cmp_key);
	return keys;
}

static void diff_value(struct mf_diff *d, struct sm_buf *path, const json_t *a,
		       const json_t *b);

/* Members of a and b in one sorted walk: a merge of two sorted key lists. */
static void diff_object(struct mf_diff *d, struct sm_buf *path, const json_t *a,
			const json_t *b)
{
	size_t na, nb, i = 0, j = 0, len = path->len;
	const char **ka = sorted_keys(a, &na), **kb = sorted_keys(b, &nb);

	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : strcmp(ka[i], kb[j]);
		const char *key = c <= 0 ? ka[i] : kb[j];

		path_add_key(path, key);
		if (c < 0)
			diff_add(d, MF_DIFF_REMOVE, sm_buf_cstr(path),
				 json_object_get(a, key), NULL);
		else if (c > 0)
			diff_add(d, MF_DIFF_ADD, sm_buf_cstr(path), NULL,
				 json_object_get(b, key));
		else
			diff_value(d, path, json_object_get(a, key),
				   json_object_get(b, key));
		sm_buf_truncate(path, len);
		i += c <= 0;
		j += c >= 0;
	}
	free(ka);
	free(kb);
}

static void diff_array(struct mf_diff *d, struct sm_buf *path, const json_t *a,
		       const json_t *b)
{
	size_t na = json_array_size(a), nb = json_array_size(b);
	size_t len = path->len;

	for (size_t i = 0; i < na || i < nb; i++) {
		int r = sm_buf_addf(path, "[%zu]", i);

		SM_BUG_ON(r);
		if (i >= nb)
			diff_add(d, MF_DIFF_REMOVE, sm_buf_cstr(path),
				 json_array_get(a, i), NULL);
		else if (i >= na)
			diff_add(d, MF_DIFF_ADD, sm_buf_cstr(path), NULL,
				 json_array_get(b, i));
		else
			diff_value(d, path, json_array_get(a, i),
				   json_array_get(b, i));
		sm_buf_truncate(path, len);
	}
}

static void diff_value(struct mf_diff *d, struct sm_buf *path, const json_t *a,
		       const json_t *b)
{
	const char *p = sm_buf_cstr(path);

	if (!a && !b)
		return;
	if (!a)
		diff_add(d, MF_DIFF_ADD, p, NULL, b);
	else if (!b)
		diff_add(d, MF_DIFF_REMOVE, p, a, NULL);
	else if (json_is_object(a) && json_is_object(b))
		diff_object(d, path, a, b);
	else if (json_is_array(a) && json_is_array(b))
		diff_array(d, path, a, b);
	else if (!json_equal((json_t *)a, (json_t *)b))
		diff_add(d, MF_DIFF_REPLACE, p, a, b);
}

size_t mf_diff_compute(struct mf_diff *d, const json_t *a, const json_t *b)
{
	struct sm_buf path = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	diff_value(d, &path, a, b);
	sm_buf_release(&path);
	return d->nr;
}

void mf_diff_release(struct mf_diff *d)
{
	for (size_t i = 0; i < d->nr; i++) {
		free(d->items[i].path);
		json_decref(d->items[i].old_val);
		json_decref(d->items[i].new_val);
	}
	free(d->items);
	d->items = NULL;
	d->nr = d->alloc = 0;
}
