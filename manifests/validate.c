/*
 * validate.c: the check of one whole object: what it is (apiVersion, kind),
 * who it is (name, namespace), then its fields through the kind's tables.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "common/xalloc.h"
#include "manifests/kinds.h"
#include "common/banned.h"

/* Where the object's member ptr ("" for the object) is, within doc at at. */
static struct sm_pos root_pos(const struct mf_doc *doc, const char *at,
			      const char *file, const char *ptr, bool key)
{
	struct sm_pos pos = { file, 0, 0 };
	const struct mf_pos *p = NULL;

	if (doc) {
		char *full = xasprintf("%s%s", at, ptr);

		p = mf_doc_pos(doc, full);
		if (!p)
			p = mf_doc_pos(doc, at);
		free(full);
	}
	if (p) {
		pos.line = key ? p->key_line : p->line;
		pos.col = key ? p->key_col : p->col;
	}
	return pos;
}

/* Checks that member `field` is a non-empty string; reports otherwise. */
static const char *need_string(json_t *obj, const char *field,
			       const struct mf_doc *doc, const char *at,
			       const char *file, struct sm_err *err)
{
	json_t *v = json_object_get(obj, field);
	char ptr[64];
	struct sm_pos pos;

	if (json_is_string(v) && *json_string_value(v))
		return json_string_value(v);
	snprintf(ptr, sizeof(ptr), "/%s", field);
	pos = root_pos(doc, at, file, ptr, false);
	if (!v || json_is_null(v) ||
	    (json_is_string(v) && !*json_string_value(v))) {
		sm_error(err, &pos,
			 "missing %s: every object needs apiVersion "
			 "and kind (e.g. apiVersion: apps/v1, kind: "
			 "Deployment)",
			 field);
		return NULL;
	}
	if (!json_is_string(v)) {
		struct sm_buf got = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		sm_json_describe(v, &got);
		sm_error(err, &pos, "%s: expected a string, got %s", field,
			 sm_buf_cstr(&got));
		sm_buf_release(&got);
		return NULL;
	}
	return json_string_value(v);
}

/* Whether api is "group/version" (or "version" for the core group). */
static bool api_version_is(const struct mf_kind *k, const char *api)
{
	size_t gl = strlen(k->group);

	if (!gl)
		return !strcmp(api, k->version);
	return !strncmp(api, k->group, gl) && api[gl] == '/' &&
	       !strcmp(api + gl + 1, k->version);
}

enum mf_check_result mf_object_check(json_t *obj, const struct mf_doc *doc,
				     const char *at, const char *file,
				     const struct mf_check_opts *opts,
				     const struct mf_kind **kindp,
				     struct sm_err *err)
{
	const struct mf_kind *kind;
	struct mf_walk w = { 0 };
	const char *api, *kname, *name;
	json_t *meta;
	char want[64];
	struct sm_pos pos;
	int r;

	*kindp = NULL;
	if (!json_is_object(obj)) {
		struct sm_buf got = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		pos = root_pos(doc, at, file, "", false);
		sm_json_describe(obj, &got);
		sm_error(err, &pos,
			 "expected an object (a Kubernetes object "
			 "with apiVersion, kind and metadata), got %s",
			 sm_buf_cstr(&got));
		sm_buf_release(&got);
		return MF_CHECK_INVALID;
	}
	api = need_string(obj, "apiVersion", doc, at, file, err);
	kname = need_string(obj, "kind", doc, at, file, err);
	if (!api || !kname)
		return MF_CHECK_INVALID;

	meta = json_object_get(obj, "metadata");
	name = sm_json_get_str(meta, "name");
	kind = mf_kind_find(kname);
	if (!kind) {
		pos = root_pos(doc, at, file, "/kind", false);
		sm_err_add(err, opts->strict ? SM_ERROR : SM_WARNING, &pos,
			   "%s \"%s\": kind \"%s\" is not supported by "
			   "stuurman (apiVersion %s) and is left out; "
			   "supported kinds: %s",
			   kname, name ? name : "", kname, api,
			   mf_kinds_list());
		return opts->strict ? MF_CHECK_INVALID : MF_CHECK_UNSUPPORTED;
	}
	if (!api_version_is(kind, api)) {
		mf_kind_api_version(kind, want, sizeof(want));
		pos = root_pos(doc, at, file, "/apiVersion", false);
		sm_error(err, &pos,
			 "%s \"%s\": apiVersion \"%s\" is not "
			 "supported for %s: use \"%s\"",
			 kname, name ? name : "", api, kname, want);
		return MF_CHECK_INVALID;
	}

	w.doc = doc;
	w.file = file;
	w.err = err;
	w.strict = opts->strict;
	w.root = obj;
	w.user = (void *)kind;
	w.at = at;
	{
		w.kind = kname;
		w.name = name;
		/* Name and namespace first: they identify the object. */
		if (json_is_object(meta)) {
			struct mf_walk_mark m =
				mf_walk_push_key(&w, "metadata");
			json_t *ns = json_object_get(meta, "namespace");
			const char *why;

			mf_walk_push_key(&w, "name");
			if (!name) {
				if (json_object_get(meta, "name"))
					; /* the type error comes from the walk
					   */
				else
					mf_walk_error(
						&w, "required value: "
						    "stuurman applies objects "
						    "by name");
			} else if ((why = kind->name_format(name))) {
				mf_walk_error(&w, "invalid value \"%s\": %s",
					      name, why);
			}
			mf_walk_pop(&w, m);
			if (kind->namespaced && !ns) {
				json_object_set_new(meta, "namespace",
						    json_string("default"));
			} else if (!kind->namespaced && ns) {
				m = mf_walk_push_key(&w, "metadata");
				mf_walk_push_key(&w, "namespace");
				mf_walk_warning(&w,
						"a %s is not namespaced: "
						"the namespace is ignored",
						kname);
				mf_walk_pop(&w, m);
				json_object_del(meta, "namespace");
			}
		}
		r = mf_schema_apply(&w, kind->type, obj);
	}
	mf_walk_release(&w);
	if (r || w.errors)
		return MF_CHECK_INVALID;
	*kindp = kind;
	return MF_CHECK_OK;
}
