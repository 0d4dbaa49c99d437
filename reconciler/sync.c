/*
 * sync.c: see sync.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "common/strmap.h"
#include "common/xalloc.h"
#include "manifests/kinds.h"
#include "reconciler/api_resources.h"
#include "reconciler/objutil.h"
#include "reconciler/store.h"
#include "reconciler/sync.h"

#include "common/banned.h"

static int order_of(const json_t *obj)
{
	const struct mf_kind *k = mf_kind_find(store_obj_kind(obj));

	return k ? k->apply_order : 1000;
}

static int by_order(const void *a, const void *b)
{
	const json_t *x = *(const json_t *const *)a;
	const json_t *y = *(const json_t *const *)b;

	return order_of(x) - order_of(y);
}

static const char *meta_str(const json_t *obj, const char *map, const char *key)
{
	return sm_json_get_str(
		json_object_get(json_object_get(obj, "metadata"), map), key);
}

static bool is_ours(const json_t *obj)
{
	const char *m = meta_str(obj, "labels", SYNC_LABEL_MANAGED_BY);

	return m && !strcmp(m, "stuurman");
}

/* want with stuurman's marks (new). */
static json_t *marked(const json_t *want, const char *source)
{
	json_t *o = json_deep_copy(want);
	json_t *meta = json_object_get(o, "metadata");
	json_t *labels = json_object_get(meta, "labels");
	json_t *ann = json_object_get(meta, "annotations");

	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(meta, "labels", labels);
	}
	if (!json_is_object(ann)) {
		ann = json_object();
		json_object_set_new(meta, "annotations", ann);
	}
	json_object_set_new(labels, SYNC_LABEL_MANAGED_BY,
			    json_string("stuurman"));
	json_object_set_new(ann, SYNC_ANNOTATION_SOURCE, json_string(source));
	return o;
}

/* Whether live already holds everything want says (see sync.h). */
static bool holds(const json_t *live, const json_t *want)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)want, k, v) {
		if (!strcmp(k, "status"))
			continue;
		if (!strcmp(k, "metadata")) {
			static const char *const maps[] = { "labels",
							    "annotations" };

			for (size_t i = 0; i < 2; i++) {
				const char *mk;
				json_t *mv;
				json_t *have = sm_json_get_path(
					live, i ? "metadata.annotations"
						: "metadata.labels");

				json_object_foreach (
					json_object_get(v, maps[i]), mk, mv) {
					if (!json_equal(mv, json_object_get(
								    have, mk)))
						return false;
				}
			}
			continue;
		}
		if (!json_equal(v, json_object_get(live, k)))
			return false;
	}
	return true;
}

/* The update: live's metadata with want's labels and annotations added. */
static json_t *merged(const json_t *live, const json_t *want)
{
	json_t *o = json_deep_copy(want);
	json_t *meta = json_object_get(o, "metadata");
	static const char *const maps[] = { "labels", "annotations" };

	for (size_t i = 0; i < 2; i++) {
		json_t *m = json_deep_copy(sm_json_get_path(
			live, i ? "metadata.annotations" : "metadata.labels"));

		if (!json_is_object(m)) {
			json_decref(m);
			m = json_object();
		}
		json_object_update(m, json_object_get(meta, maps[i]));
		json_object_set_new(meta, maps[i], m);
	}
	json_t *fin = sm_json_get_path(live, "metadata.finalizers");
	if (fin)
		json_object_set(meta, "finalizers", fin);
	json_t *own = sm_json_get_path(live, "metadata.ownerReferences");
	if (own)
		json_object_set(meta, "ownerReferences", own);
	return o;
}

struct prune {
	const char *source;
	struct sm_strmap *wanted;
	json_t *gone;
};

static int prune_one(void *ctx, const json_t *obj)
{
	struct prune *p = ctx;
	const char *src = meta_str(obj, "annotations", SYNC_ANNOTATION_SOURCE);
	const char *keep = meta_str(obj, "annotations", SYNC_ANNOTATION_PRUNE);
	char key[600];

	if (!is_ours(obj) || !src || strcmp(src, p->source) ||
	    (keep && !strcmp(keep, "false")) || obj_is_terminating(obj))
		return 0;
	snprintf(key, sizeof(key), "%s/%s/%s", store_obj_kind(obj),
		 store_obj_ns(obj), store_obj_name(obj));
	if (!sm_strmap_has(p->wanted, key))
		json_array_append(p->gone, (json_t *)obj);
	return 0;
}

int sync_apply(struct store *s, const json_t *objects, const char *source,
	       struct sync_result *r, struct sm_err *err)
{
	size_t n = json_array_size(objects), i;
	const json_t **order = xcalloc(n ? n : 1, sizeof(const json_t *));
	struct sm_strmap wanted = SM_STRMAP_INIT;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < n; i++)
		order[i] = json_array_get(objects, i);
	qsort(order, n, sizeof(const json_t *), by_order);
	for (i = 0; i < n; i++) {
		const json_t *want = order[i];
		const char *kind = store_obj_kind(want);
		const char *ns = store_obj_ns(want);
		const char *name = store_obj_name(want);
		const json_t *live = store_get(s, kind, ns, name);
		json_t *obj = marked(want, source);
		char key[600];

		snprintf(key, sizeof(key), "%s/%s/%s", kind, ns, name);
		sm_strmap_put(&wanted, key, NULL, NULL);
		if (*ns && !store_get(s, "Namespace", "", ns)) {
			sm_warning(err, NULL,
				   "%s \"%s/%s\": namespace \"%s\" does not "
				   "exist: create it (a Namespace in the same "
				   "set is applied first)",
				   kind, ns, name, ns);
			r->skipped++;
		} else if (!live) {
			if (store_create(s, obj, NULL, NULL, NULL, err) < 0)
				rc = -EIO;
			else
				r->created++;
		} else if (!is_ours(live)) {
			sm_warning(err, NULL,
				   "%s \"%s/%s\" exists and is not managed by "
				   "stuurman: left alone (delete it, or label "
				   "it %s=stuurman, to let stuurman manage it)",
				   kind, ns, name, SYNC_LABEL_MANAGED_BY);
			r->skipped++;
		} else if (holds(live, obj)) {
			r->unchanged++;
		} else {
			json_t *upd = merged(live, obj);

			if (store_update(s, upd, STORE_MAIN, NULL, NULL, NULL,
					 err) < 0)
				rc = -EIO;
			else
				r->configured++;
			json_decref(upd);
		}
		json_decref(obj);
	}
	/* Prune, in reverse dependency order: workloads first. */
	size_t nk;
	const struct api_resource *res = api_resources(&nk);
	struct prune p = { source, &wanted, json_array() };
	for (size_t k = nk; k-- > 0;)
		store_list(s, res[k].kind, NULL, prune_one, &p);
	json_t *gone;
	json_array_foreach (p.gone, i, gone) {
		if (obj_delete(s, gone, err) == 0)
			r->pruned++;
	}
	json_decref(p.gone);
	sm_strmap_release(&wanted, NULL);
	free(order);
	return rc;
}
