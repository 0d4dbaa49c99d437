/*
 * sync.c: see sync.h.
 *
 * One rule decides both drift and what the diff shows: live "holds" a
 * desired value when every key the desired value has, live has with a
 * value it holds in turn (holds()); project() cuts live down to exactly
 * what that comparison looks at, so the diff of a projection against the
 * desired object is empty precisely when nothing drifted.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/strmap.h"
#include "common/udiff.h"
#include "common/xalloc.h"
#include "manifests/kinds.h"
#include "reconciler/api_resources.h"
#include "reconciler/objutil.h"
#include "reconciler/store.h"
#include "reconciler/sync.h"

#include "common/banned.h"

#define LAST_APPLIED_ANN "kubectl.kubernetes.io/last-applied-configuration"
#define RESTARTED_AT_ANN "kubectl.kubernetes.io/restartedAt"
#define MASK "***"
#define MASK_LIVE "*** (live)"
#define MASK_GIT "*** (git)"
#define DIFF_CONTEXT 3

void sync_result_release(struct sync_result *r)
{
	json_decref(r->changes);
	r->changes = NULL;
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static int order_of(const json_t *obj)
{
	const struct mf_kind *k =
		mf_kind_find(str_or_empty(store_obj_kind(obj)));

	return k ? k->apply_order : 1000;
}

/* Dependency order, then kind, namespace and name: the same every run. */
static int by_order(const void *a, const void *b)
{
	const json_t *x = *(const json_t *const *)a;
	const json_t *y = *(const json_t *const *)b;
	int d = order_of(x) - order_of(y);

	if (!d)
		d = strcmp(str_or_empty(store_obj_kind(x)),
			   str_or_empty(store_obj_kind(y)));
	if (!d)
		d = strcmp(store_obj_ns(x), store_obj_ns(y));
	if (!d)
		d = strcmp(str_or_empty(store_obj_name(x)),
			   str_or_empty(store_obj_name(y)));
	return d;
}

/* objects' elements in apply order (new array of borrowed pointers). */
static const json_t **sorted(const json_t *objects, size_t *n)
{
	const json_t **order;

	*n = json_array_size(objects);
	order = xcalloc(*n ? *n : 1, sizeof(const json_t *));
	for (size_t i = 0; i < *n; i++)
		order[i] = json_array_get(objects, i);
	qsort(order, *n, sizeof(const json_t *), by_order);
	return order;
}

static void key_of(const json_t *obj, char *key, size_t len)
{
	snprintf(key, len, "%s/%s/%s", str_or_empty(store_obj_kind(obj)),
		 store_obj_ns(obj), str_or_empty(store_obj_name(obj)));
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

/* Our own bookkeeping annotations, which no comparison looks at. */
static bool is_own_mark(const char *ann)
{
	return !strcmp(ann, SYNC_ANNOTATION_REVISION) ||
	       !strcmp(ann, SYNC_ANNOTATION_APPLIED);
}

/* obj's metadata.<map> (borrowed), created empty when missing. */
static json_t *meta_map(json_t *obj, const char *map)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_t *m = json_object_get(meta, map);

	if (!json_is_object(m)) {
		m = json_object();
		json_object_set_new(meta, map, m);
	}
	return m;
}

/* want with stuurman's marks, without revision and applied (new). */
static json_t *marked(const json_t *want, const char *source)
{
	json_t *o = json_deep_copy(want);
	json_t *ann;

	if (!json_is_object(json_object_get(o, "metadata")))
		json_object_set_new(o, "metadata", json_object());
	json_object_set_new(meta_map(o, "labels"), SYNC_LABEL_MANAGED_BY,
			    json_string("stuurman"));
	ann = meta_map(o, "annotations");
	json_object_set_new(ann, SYNC_ANNOTATION_SOURCE, json_string(source));
	json_object_del(ann, SYNC_ANNOTATION_REVISION);
	json_object_del(ann, SYNC_ANNOTATION_APPLIED);
	return o;
}

/* The first SYNC_HASH_LEN hex digits of SHA-256 of obj's canonical text. */
static void applied_hash(const json_t *obj, char out[SYNC_HASH_LEN + 1])
{
	struct sm_buf text = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	sm_json_dump_canonical(obj, &text);
	if (!EVP_Digest(sm_buf_cstr(&text), text.len, md, &mdlen, EVP_sha256(),
			NULL))
		memset(md, 0, sizeof(md));
	for (size_t i = 0; i < SYNC_HASH_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[SYNC_HASH_LEN] = '\0';
	sm_buf_release(&text);
}

/* Sets obj's applied hash and, when given, its revision annotation. */
static void set_marks(json_t *obj, const char *hash, const char *revision)
{
	json_t *ann = meta_map(obj, "annotations");

	json_object_set_new(ann, SYNC_ANNOTATION_APPLIED, json_string(hash));
	if (revision)
		json_object_set_new(ann, SYNC_ANNOTATION_REVISION,
				    json_string(revision));
}

/* ---- drift ---- */

static bool is_ident(const char *k)
{
	if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
	      *k == '_'))
		return false;
	for (k++; *k; k++) {
		if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
		      (*k >= '0' && *k <= '9') || *k == '_'))
			return false;
	}
	return true;
}

/* Appends a key to a display path, as mf_diff_compute() writes them. */
static void path_key(struct sm_buf *p, const char *k)
{
	if (!p)
		return;
	if (is_ident(k))
		sm_buf_addf(p, "%s%s", p->len ? "." : "", k);
	else
		sm_buf_addf(p, "[%s]", k);
}

static void path_back(struct sm_buf *p, size_t len)
{
	if (p)
		sm_buf_truncate(p, len);
}

/* A value that a missing key stands for as well (Kubernetes' omitempty). */
static bool is_empty(const json_t *v)
{
	return !v || json_is_null(v) ||
	       (json_is_object(v) && !json_object_size(v)) ||
	       (json_is_array(v) && !json_array_size(v));
}

/*
 * Whether have (NULL: missing) holds want (see sync.h). On false, path
 * (may be NULL) has the place that differs appended.
 */
static bool holds(const json_t *have, const json_t *want, struct sm_buf *path)
{
	const char *k;
	json_t *v;
	size_t mark = path ? path->len : 0;

	if (!have || json_is_null(have))
		return is_empty(want);
	if (json_is_object(want)) {
		if (!json_is_object(have))
			return false;
		json_object_foreach ((json_t *)want, k, v) {
			path_key(path, k);
			if (!holds(json_object_get(have, k), v, path))
				return false;
			path_back(path, mark);
		}
		return true;
	}
	if (json_is_array(want)) {
		size_t n = json_array_size(want);

		if (!json_is_array(have))
			return false;
		if (json_array_size(have) != n)
			return false;
		for (size_t i = 0; i < n; i++) {
			if (path)
				sm_buf_addf(path, "[%zu]", i);
			if (!holds(json_array_get(have, i),
				   json_array_get(want, i), path))
				return false;
			path_back(path, mark);
		}
		return true;
	}
	if (json_is_number(want) && json_is_number(have))
		return json_number_value(want) == json_number_value(have);
	return json_equal((json_t *)have, (json_t *)want);
}

bool sync_drift_path(const json_t *live, const json_t *want,
		     struct sm_buf *path)
{
	static const char *const maps[] = { "labels", "annotations" };
	const char *k;
	json_t *v;

	if (!live)
		return true;
	json_object_foreach ((json_t *)want, k, v) {
		size_t mark = path ? path->len : 0;

		if (!strcmp(k, "status"))
			continue;
		if (strcmp(k, "metadata")) {
			path_key(path, k);
			if (!holds(json_object_get(live, k), v, path))
				return true;
			path_back(path, mark);
			continue;
		}
		for (size_t i = 0; i < 2; i++) {
			json_t *have = json_object_get(
				json_object_get(live, "metadata"), maps[i]);
			const char *mk;
			json_t *mv;

			json_object_foreach (json_object_get(v, maps[i]), mk,
					     mv) {
				if (i == 1 && is_own_mark(mk))
					continue;
				if (holds(json_object_get(have, mk), mv, NULL))
					continue;
				path_key(path, "metadata");
				path_key(path, maps[i]);
				path_key(path, mk);
				return true;
			}
		}
	}
	return false;
}

bool sync_drifted(const json_t *live, const json_t *want)
{
	return sync_drift_path(live, want, NULL);
}

/* ---- the update ---- */

/*
 * `kubectl rollout restart` puts its time into the pod template. It is not
 * drift; an update for some other change must not drop it either, or that
 * change would roll every pod a second time.
 */
static void keep_restart(json_t *upd, const json_t *live)
{
	json_t *have = json_object_get(
		sm_json_get_path(live, "spec.template.metadata.annotations"),
		RESTARTED_AT_ANN);
	json_t *tmeta = sm_json_get_path(upd, "spec.template.metadata");

	if (!have || !json_is_object(tmeta))
		return;
	json_t *ann = json_object_get(tmeta, "annotations");
	if (!json_is_object(ann)) {
		ann = json_object();
		json_object_set_new(tmeta, "annotations", ann);
	}
	if (!json_object_get(ann, RESTARTED_AT_ANN))
		json_object_set(ann, RESTARTED_AT_ANN, have);
}

/*
 * The update (new): obj outside metadata; live's metadata labels and
 * annotations with obj's added; live's finalizers and ownerReferences.
 */
static json_t *merged(const json_t *live, const json_t *obj)
{
	json_t *o = json_deep_copy(obj);
	json_t *meta = json_object_get(o, "metadata");
	static const char *const maps[] = { "labels", "annotations" };

	for (size_t i = 0; i < 2; i++) {
		json_t *m = json_deep_copy(json_object_get(
			json_object_get(live, "metadata"), maps[i]));

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
	keep_restart(o, live);
	return o;
}

static void add_change(struct sync_result *r, const json_t *obj,
		       const char *action, const char *msg)
{
	json_t *c =
		json_pack("{s:s, s:s, s:s, s:s}", "kind",
			  str_or_empty(store_obj_kind(obj)), "namespace",
			  store_obj_ns(obj), "name",
			  str_or_empty(store_obj_name(obj)), "action", action);

	if (msg)
		json_object_set_new(c, "message", json_string(msg));
	json_array_append_new(r->changes, c);
}

/* Reports obj as skipped, with the reason in err and in r. */
static void skip(struct sync_result *r, const json_t *obj, struct sm_err *err,
		 const char *fmt, ...) SM_PRINTF(4, 5);
static void skip(struct sync_result *r, const json_t *obj, struct sm_err *err,
		 const char *fmt, ...)
{
	struct sm_buf msg = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	va_list ap;

	va_start(ap, fmt);
	sm_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	sm_warning(err, NULL, "%s", sm_buf_cstr(&msg));
	add_change(r, obj, "skipped", sm_buf_cstr(&msg));
	r->skipped++;
	sm_buf_release(&msg);
}

/* ---- prune ---- */

struct prune {
	const char *source;
	const struct sm_strmap *wanted;
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
	key_of(obj, key, sizeof(key));
	if (!sm_strmap_has(p->wanted, key))
		json_array_append(p->gone, (json_t *)obj);
	return 0;
}

/*
 * Our objects of source that wanted does not name, in prune order
 * (reverse dependency order: workloads first). New array.
 */
static json_t *to_prune(const struct store *s, const char *source,
			const struct sm_strmap *wanted)
{
	size_t nk;
	const struct api_resource *res = api_resources(&nk);
	struct prune p = { source, wanted, json_array() };

	for (size_t k = 0; k < nk; k++)
		store_list(s, res[k].kind, NULL, prune_one, &p);

	size_t n = json_array_size(p.gone);
	const json_t **order = xcalloc(n ? n : 1, sizeof(const json_t *));
	json_t *out = json_array();

	for (size_t i = 0; i < n; i++)
		order[i] = json_array_get(p.gone, i);
	qsort(order, n, sizeof(const json_t *), by_order);
	for (size_t i = n; i-- > 0;)
		json_array_append(out, (json_t *)order[i]);
	free(order);
	json_decref(p.gone);
	return out;
}

/*
 * Deletes a pruned object as the API server would: a Namespace is only
 * marked, so that the namespace controller empties it before it goes
 * (removing it at once would strand what it holds); pods gracefully.
 */
static int prune_delete(struct store *s, const json_t *obj, struct sm_err *err)
{
	if (strcmp(str_or_empty(store_obj_kind(obj)), "Namespace"))
		return obj_delete(s, obj, err);
	return store_delete(s, "Namespace", "", store_obj_name(obj), true, 0,
			    NULL, NULL, NULL, NULL, err);
}

/* ---- apply ---- */

/* Applies one desired object (want, marked as obj with hash). */
static int apply_one(struct store *s, const json_t *want, json_t *obj,
		     const char *hash, const struct sync_opts *o,
		     struct sm_strmap *planned_ns, struct sync_result *r,
		     struct sm_err *err)
{
	const char *kind = str_or_empty(store_obj_kind(want));
	const char *ns = store_obj_ns(want);
	const char *name = str_or_empty(store_obj_name(want));
	const json_t *live = store_get(s, kind, ns, name);

	if (*ns && !store_get(s, "Namespace", "", ns) &&
	    !sm_strmap_has(planned_ns, ns)) {
		skip(r, want, err,
		     "%s \"%s/%s\": namespace \"%s\" does not exist: create "
		     "it (a Namespace in the same set is applied first)",
		     kind, ns, name, ns);
		return 0;
	}
	if (!live) {
		set_marks(obj, hash, o->revision);
		if (!o->dry_run &&
		    store_create(s, obj, NULL, NULL, NULL, err) < 0)
			return -EIO;
		if (!strcmp(kind, "Namespace"))
			sm_strmap_put(planned_ns, name, NULL, NULL);
		r->created++;
		add_change(r, want, "created", NULL);
		return 0;
	}
	if (!is_ours(live)) {
		skip(r, want, err,
		     "%s \"%s%s%s\" exists and is not managed by stuurman: "
		     "left alone (delete it, or label it %s=stuurman, to let "
		     "stuurman manage it)",
		     kind, ns, *ns ? "/" : "", name, SYNC_LABEL_MANAGED_BY);
		return 0;
	}
	if (obj_is_terminating(live)) {
		skip(r, want, err,
		     "%s \"%s%s%s\" is being deleted: it is created again "
		     "once it is gone",
		     kind, ns, *ns ? "/" : "", name);
		return 0;
	}

	struct sm_buf path = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf msg = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *applied =
		meta_str(live, "annotations", SYNC_ANNOTATION_APPLIED);
	bool drifted = sync_drift_path(live, obj, &path);
	int rc = 0;

	if (!drifted && applied && !strcmp(applied, hash)) {
		r->unchanged++;
		goto out;
	}
	/* A desired object that changed differs from live too: say why. */
	if (applied && !strcmp(applied, hash))
		sm_buf_addf(&msg, "drifted: %s", sm_buf_cstr(&path));
	else
		sm_buf_adds(&msg, "changed in git");
	set_marks(obj, hash, o->revision);
	json_t *upd = merged(live, obj);
	if (!o->dry_run &&
	    store_update(s, upd, STORE_MAIN, NULL, NULL, NULL, err) < 0) {
		rc = -EIO;
	} else {
		r->configured++;
		add_change(r, want, "configured", sm_buf_cstr(&msg));
	}
	json_decref(upd);
out:
	sm_buf_release(&path);
	sm_buf_release(&msg);
	return rc;
}

int sync_apply(struct store *s, const json_t *objects,
	       const struct sync_opts *o, struct sync_result *r,
	       struct sm_err *err)
{
	struct sm_strmap wanted = SM_STRMAP_INIT, planned_ns = SM_STRMAP_INIT;
	const json_t **order;
	size_t n, i;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	r->changes = json_array();
	if (!o || !o->source)
		return sm_error(err, NULL, "sync: no source given");
	/* Never read "no set" as "an empty set": that would prune it all. */
	if (!json_is_array(objects))
		return sm_error(err, NULL, "sync: no set of objects given");
	order = sorted(objects, &n);
	for (i = 0; i < n; i++) {
		const json_t *want = order[i];
		json_t *obj = marked(want, o->source);
		char key[600], hash[SYNC_HASH_LEN + 1];

		key_of(want, key, sizeof(key));
		sm_strmap_put(&wanted, key, NULL, NULL);
		applied_hash(obj, hash);
		if (apply_one(s, want, obj, hash, o, &planned_ns, r, err) < 0)
			rc = -EIO;
		json_decref(obj);
	}
	if (o->prune) {
		json_t *gone = to_prune(s, o->source, &wanted), *g;

		json_array_foreach (gone, i, g) {
			if (!o->dry_run && prune_delete(s, g, err) < 0) {
				rc = -EIO;
				continue;
			}
			r->pruned++;
			add_change(r, g, "pruned", NULL);
		}
		json_decref(gone);
	}
	sm_strmap_release(&wanted, NULL);
	sm_strmap_release(&planned_ns, NULL);
	free(order);
	return rc;
}

/* ---- diff ---- */

/* obj as the diff shows it (new): no status; metadata's name,
 * namespace, labels and annotations only, without our bookkeeping. */
static json_t *shown(const json_t *obj)
{
	static const char *const keep[] = { "name", "namespace", "labels",
					    "annotations" };
	json_t *o = json_object();
	json_t *meta = json_object_get(obj, "metadata");
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)obj, k, v) {
		if (strcmp(k, "status") && strcmp(k, "metadata"))
			json_object_set_new(o, k, json_deep_copy(v));
	}
	if (!json_is_object(meta))
		return o;
	json_t *m = json_object();
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		json_t *mv = json_object_get(meta, keep[i]);

		if (mv)
			json_object_set_new(m, keep[i], json_deep_copy(mv));
	}
	json_t *ann = json_object_get(m, "annotations");
	if (json_is_object(ann)) {
		json_object_del(ann, SYNC_ANNOTATION_REVISION);
		json_object_del(ann, SYNC_ANNOTATION_APPLIED);
		if (!json_object_size(ann))
			json_object_del(m, "annotations");
	}
	json_object_set_new(o, "metadata", m);
	return o;
}

/*
 * have cut down to what holds(have, want) looks at (new): where have
 * holds want, the result equals want.
 */
static json_t *project(const json_t *have, const json_t *want)
{
	const char *k;
	json_t *v;

	if (json_is_object(want) && json_is_object(have)) {
		json_t *o = json_object();

		json_object_foreach ((json_t *)want, k, v) {
			json_t *h = json_object_get(have, k);

			if (h && !json_is_null(h))
				json_object_set_new(o, k, project(h, v));
			else if (is_empty(v))
				json_object_set_new(o, k, json_deep_copy(v));
		}
		return o;
	}
	if (json_is_array(want) && json_is_array(have)) {
		json_t *a = json_array();
		size_t nw = json_array_size(want);

		for (size_t i = 0; i < json_array_size(have); i++) {
			json_t *h = json_array_get(have, i);

			json_array_append_new(
				a, i < nw ? project(h, json_array_get(want, i))
					  : json_deep_copy(h));
		}
		return a;
	}
	if (json_is_number(want) && json_is_number(have) &&
	    json_number_value(want) == json_number_value(have))
		return json_deep_copy(want);
	return json_deep_copy(have);
}

/* Masks live[key] and git[key] (either map may be NULL) as sync.h says. */
static void mask_one(json_t *live, json_t *git, const char *key)
{
	json_t *l = json_object_get(live, key);
	json_t *g = json_object_get(git, key);
	bool same = l && g && json_equal(l, g);

	if (l)
		json_object_set_new(live, key,
				    json_string(same || !g ? MASK : MASK_LIVE));
	if (g)
		json_object_set_new(git, key,
				    json_string(same || !l ? MASK : MASK_GIT));
}

static void mask_map(json_t *live, json_t *git)
{
	const char *k;
	json_t *v;

	json_object_foreach (live, k, v)
		mask_one(live, git, k);
	json_object_foreach (git, k, v) {
		if (!json_object_get(live, k))
			mask_one(live, git, k);
	}
}

/* A member that should be a map and is not is masked whole. */
static json_t *maskable(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (v && !json_is_object(v)) {
		json_object_set_new(obj, key, json_string(MASK));
		return NULL;
	}
	return v;
}

/* Masks a Secret's values in live and git (shown forms; may be NULL). */
static void mask_secret(json_t *live, json_t *git)
{
	static const char *const maps[] = { "data", "stringData" };

	for (size_t i = 0; i < 2; i++)
		mask_map(maskable(live, maps[i]), maskable(git, maps[i]));
	mask_one(sm_json_get_path(live, "metadata.annotations"),
		 sm_json_get_path(git, "metadata.annotations"),
		 LAST_APPLIED_ANN);
}

/* "live/apps/v1/Deployment/default/web" into b. */
static void diff_label(struct sm_buf *b, const char *side, const json_t *obj)
{
	const char *ns = store_obj_ns(obj);

	sm_buf_addf(b, "%s/%s/%s/%s%s%s", side,
		    str_or_empty(sm_json_get_str(obj, "apiVersion")),
		    str_or_empty(store_obj_kind(obj)), ns, *ns ? "/" : "",
		    str_or_empty(store_obj_name(obj)));
}

/*
 * Appends the diff of live against git (shown forms, either NULL for an
 * absent object; about obj) to out. Returns 0 or -ENOBUFS (out as it
 * was).
 */
static int diff_one(const json_t *obj, json_t *live, json_t *git,
		    struct sm_buf *out, struct sm_err *err)
{
	struct sm_buf a = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf la = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf lb = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *kind = str_or_empty(store_obj_kind(obj));
	size_t mark = out->len;
	int rc = 0;

	if (!strcmp(kind, "Secret"))
		mask_secret(live, git);
	if (live) {
		sm_json_to_yaml(live, &a);
		diff_label(&la, "live", obj);
	} else {
		sm_buf_adds(&la, "/dev/null");
	}
	if (git) {
		sm_json_to_yaml(git, &b);
		diff_label(&lb, "git", obj);
	} else {
		sm_buf_adds(&lb, "/dev/null");
	}
	if (sm_udiff(sm_buf_cstr(&a), a.len, sm_buf_cstr(&b), b.len,
		     sm_buf_cstr(&la), sm_buf_cstr(&lb), DIFF_CONTEXT,
		     out) < 0) {
		sm_buf_truncate(out, mark);
		sm_error(err, NULL, "diff: too long: stopped before %s \"%s\"",
			 kind, str_or_empty(store_obj_name(obj)));
		rc = -ENOBUFS;
	}
	sm_buf_release(&a);
	sm_buf_release(&b);
	sm_buf_release(&la);
	sm_buf_release(&lb);
	return rc;
}

int sync_diff(struct store *s, const json_t *objects, const char *source,
	      struct sm_buf *out, struct sm_err *err)
{
	struct sm_strmap wanted = SM_STRMAP_INIT;
	size_t n, i;
	const json_t **order;
	int rc = 0;

	if (!json_is_array(objects))
		return sm_error(err, NULL, "diff: no set of objects given");
	order = sorted(objects, &n);

	for (i = 0; i < n && !rc; i++) {
		const json_t *want = order[i];
		const json_t *live = store_get(
			s, str_or_empty(store_obj_kind(want)),
			store_obj_ns(want), str_or_empty(store_obj_name(want)));
		char key[600];

		key_of(want, key, sizeof(key));
		sm_strmap_put(&wanted, key, NULL, NULL);
		if (live && !is_ours(live))
			continue;
		json_t *git = shown(want);
		json_t *have = live ? project(live, git) : NULL;

		rc = diff_one(want, have, git, out, err);
		json_decref(have);
		json_decref(git);
	}
	if (source && !rc) {
		json_t *gone = to_prune(s, source, &wanted), *g;

		json_array_foreach (gone, i, g) {
			json_t *have = shown(g);

			rc = diff_one(g, have, NULL, out, err);
			json_decref(have);
			if (rc)
				break;
		}
		json_decref(gone);
	}
	sm_strmap_release(&wanted, NULL);
	free(order);
	return rc;
}
