/*
 * load.c: folders -> files -> documents -> checked objects.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/json.h"
#include "common/strmap.h"
#include "common/xalloc.h"
#include "manifests/load.h"
#include "common/banned.h"

struct loader {
	const struct mf_load_opts *opts;
	mf_object_fn fn;
	void *ctx;
	struct mf_load_stats *stats;
	struct sm_err *err;
	struct sm_strmap seen; /* "group/Kind/ns/name" -> "file:line:col" */
	int stop;              /* a callback's negative return */
};

/* Files people keep beside manifests, and what they are. */
static const struct {
	const char *pattern;
	const char *what;
} not_manifests[] = {
	{ "kustomization.yaml", "a kustomize file" },
	{ "kustomization.yml", "a kustomize file" },
	{ "Kustomization", "a kustomize file" },
	{ "Chart.yaml", "a Helm chart file" },
	{ "values.yaml", "Helm values" },
	{ "values-*.yaml", "Helm values" },
	{ "docker-compose.y*ml", "a Compose file" },
	{ "compose.y*ml", "a Compose file" },
	{ "skaffold.yaml", "a Skaffold file" },
	{ "Tiltfile", "a Tilt file" },
	{ "README*", "documentation" },
	{ "LICENSE*", "a license" },
	{ "*.md", "documentation" },
	{ "Makefile", "a build file" },
	{ "*.sh", "a script" },
};

static bool is_manifest_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml") ||
		       !strcmp(dot, ".json"));
}

static const char *known_non_manifest(const char *name)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(not_manifests); i++)
		if (!fnmatch(not_manifests[i].pattern, name, 0))
			return not_manifests[i].what;
	return NULL;
}

/* "group/Kind/namespace/name": what makes two objects the same (new). */
static char *object_key(const json_t *obj, const struct mf_kind *kind)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *ns = sm_json_get_str(meta, "namespace");

	return xasprintf("%s/%s/%s/%s", kind->group, kind->kind, ns ? ns : "",
			 sm_json_get_str(meta, "name"));
}

static void check_duplicate(struct loader *l, const struct mf_object *o,
			    const struct sm_pos *pos)
{
	json_t *meta = json_object_get(o->obj, "metadata");
	const char *ns = sm_json_get_str(meta, "namespace");
	const char *name = sm_json_get_str(meta, "name");
	char *key = object_key(o->obj, o->kind);
	char *where = xasprintf("%s:%d:%d", pos->file, pos->line, pos->col);
	void *old = NULL;

	if (sm_strmap_put(&l->seen, key, where, &old)) {
		sm_error(l->err, pos, "%s \"%s\": duplicate object: %s/%s is "
			 "also defined at %s", o->kind->kind, name,
			 ns ? ns : "-", name, (char *)old);
		/* Keep the first place for later duplicates. */
		sm_strmap_put(&l->seen, key, old, NULL);
		free(where);
	}
	free(key);
}

/* One object: the document's root, or an item of a List at `at`. */
static void load_object(struct loader *l, struct mf_file *f, struct mf_doc *d,
			json_t *obj, const char *at)
{
	struct mf_check_opts copts = { l->opts->strict };
	struct mf_object o = { obj, NULL, f->path, d->line, d->col };
	const struct mf_pos *p = mf_doc_pos(d, at);
	struct sm_pos pos = { f->path, d->line, d->col };
	size_t errors = sm_err_count(l->err, SM_ERROR);
	enum mf_check_result r;

	if (p) {
		o.line = pos.line = p->line;
		o.col = pos.col = p->col;
	}
	r = mf_object_check(obj, d, at, f->path, &copts, &o.kind, l->err);
	if (r == MF_CHECK_UNSUPPORTED) {
		l->stats->unsupported++;
		return;
	}
	if (r == MF_CHECK_INVALID) {
		l->stats->invalid++;
		return;
	}
	check_duplicate(l, &o, &pos);
	if (sm_err_count(l->err, SM_ERROR) != errors) {
		l->stats->invalid++;
		return;
	}
	l->stats->objects++;
	if (l->fn && !l->stop) {
		int cr = l->fn(l->ctx, &o);

		if (cr < 0)
			l->stop = cr;
	}
}

/*
 * A document is one object, or a v1 List of them (what `kubectl get -o
 * yaml` writes for several objects), which kubectl apply also accepts.
 */
static void load_doc(struct loader *l, struct mf_file *f, struct mf_doc *d)
{
	const char *kind = sm_json_get_str(d->root, "kind");
	const char *api = sm_json_get_str(d->root, "apiVersion");
	json_t *items = json_object_get(d->root, "items");
	json_t *item;
	size_t i;

	if (!kind || strcmp(kind, "List") || !api || strcmp(api, "v1")) {
		load_object(l, f, d, d->root, "");
		return;
	}
	if (!json_is_array(items)) {
		const struct mf_pos *p = mf_doc_pos(d, items ? "/items" : "");
		struct sm_pos pos = { f->path, p ? p->line : d->line,
				      p ? p->col : d->col };

		sm_error(l->err, &pos, "List: items: %s", items ?
			 "expected an array of objects" : "required value");
		l->stats->invalid++;
		return;
	}
	json_array_foreach(items, i, item) {
		char at[32];

		if (l->stop)
			break;
		snprintf(at, sizeof(at), "/items/%zu", i);
		load_object(l, f, d, item, at);
	}
}

/*
 * The fast path for a file that is most likely valid: parse it without
 * positions (they are only needed for messages), check every object into a
 * scratch sink, and if nothing at all was said and no object repeats one
 * seen before, hand the objects on. Returns false, having changed nothing,
 * when the file needs the full path: any diagnostic, a List, a duplicate.
 */
static bool load_file_fast(struct loader *l, const char *path)
{
	struct mf_parse_opts popts = l->opts->parse;
	struct mf_check_opts copts = { l->opts->strict };
	struct mf_file f = MF_FILE_INIT;
	struct sm_err scratch = SM_ERR_INIT;
	struct sm_strmap mine = SM_STRMAP_INIT;
	const struct mf_kind **kinds = NULL;
	bool ok;

	popts.no_positions = true;
	ok = !mf_parse_file(&f, path, &popts, &scratch) && f.nr_docs > 0;
	if (ok)
		kinds = xcalloc(f.nr_docs, sizeof(*kinds));
	for (size_t i = 0; ok && i < f.nr_docs; i++) {
		struct mf_doc *d = &f.docs[i];
		const char *kind = sm_json_get_str(d->root, "kind");
		char *key;

		if (kind && !strcmp(kind, "List"))
			ok = false;
		else if (mf_object_check(d->root, d, "", path, &copts,
					 &kinds[i], &scratch) != MF_CHECK_OK ||
			 scratch.nr)
			ok = false;
		if (!ok)
			break;
		key = object_key(d->root, kinds[i]);
		ok = !sm_strmap_has(&l->seen, key) &&
		     !sm_strmap_put(&mine, key, NULL, NULL);
		free(key);
	}
	for (size_t i = 0; ok && i < f.nr_docs && !l->stop; i++) {
		struct mf_doc *d = &f.docs[i];
		struct mf_object o = { d->root, kinds[i], path, d->line,
				       d->col };
		char *key = object_key(d->root, kinds[i]);

		sm_strmap_put(&l->seen, key,
			      xasprintf("%s:%d:%d", path, d->line, d->col),
			      NULL);
		free(key);
		l->stats->objects++;
		if (l->fn) {
			int cr = l->fn(l->ctx, &o);

			if (cr < 0)
				l->stop = cr;
		}
	}
	free(kinds);
	sm_strmap_release(&mine, NULL);
	sm_err_release(&scratch);
	mf_file_release(&f);
	return ok;
}

static void load_file(struct loader *l, const char *path)
{
	struct mf_file f = MF_FILE_INIT;
	size_t nerr = sm_err_count(l->err, SM_ERROR);

	l->stats->files++;
	if (load_file_fast(l, path))
		return;
	/* Again, with positions, so every message says where. */
	mf_parse_file(&f, path, &l->opts->parse, l->err);
	for (size_t i = 0; i < f.nr_docs && !l->stop; i++)
		load_doc(l, &f, &f.docs[i]);
	if (!f.nr_docs && sm_err_count(l->err, SM_ERROR) == nerr) {
		struct sm_pos pos = { path, 1, 1 };

		sm_warning(l->err, &pos, "file has no objects (it is empty "
			   "or holds only comments)");
	}
	mf_file_release(&f);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_path(struct loader *l, const char *path, bool top);

static void load_dir(struct loader *l, const char *path)
{
	DIR *dir = opendir(path);
	char **names = NULL;
	size_t nr = 0, alloc = 0;
	struct dirent *de;

	if (!dir) {
		struct sm_pos pos = { path, 0, 0 };

		sm_error(l->err, &pos, "cannot read folder: %s",
			 strerror(errno));
		return;
	}
	while ((de = readdir(dir))) {
		/* Hidden entries: .git, .github, editor files. */
		if (de->d_name[0] == '.')
			continue;
		SM_ALLOC_GROW(names, nr + 1, alloc);
		names[nr++] = xstrdup(de->d_name);
	}
	closedir(dir);
	/* Sorted, so messages and render output do not depend on the disk. */
	qsort(names, nr, sizeof(*names), name_cmp);
	for (size_t i = 0; i < nr; i++) {
		char *child = xasprintf("%s%s%s", path,
					path[strlen(path) - 1] == '/' ? "" :
					"/", names[i]);

		if (!l->stop)
			load_path(l, child, false);
		free(child);
		free(names[i]);
	}
	free(names);
}

static void load_path(struct loader *l, const char *path, bool top)
{
	const char *base = strrchr(path, '/');
	const char *what;
	struct stat st;

	base = base ? base + 1 : path;
	if (stat(path, &st) < 0) {
		struct sm_pos pos = { path, 0, 0 };

		sm_error(l->err, &pos, "cannot read: %s", strerror(errno));
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		load_dir(l, path);
		return;
	}
	if ((what = known_non_manifest(base))) {
		struct sm_pos pos = { path, 0, 0 };

		sm_note(l->err, &pos, "skipped: %s, not a manifest", what);
		l->stats->skipped++;
		return;
	}
	/* A file named on the command line is read whatever its name. */
	if (!top && !is_manifest_name(base)) {
		l->stats->skipped++;
		return;
	}
	load_file(l, path);
}

int mf_load(const char *const *paths, size_t nr,
	    const struct mf_load_opts *opts, mf_object_fn fn, void *ctx,
	    struct mf_load_stats *stats, struct sm_err *err)
{
	struct mf_load_stats local = { 0 };
	struct loader l = {
		.opts = opts,
		.fn = fn,
		.ctx = ctx,
		.stats = stats ? stats : &local,
		.err = err,
		.seen = SM_STRMAP_INIT,
	};
	size_t errors = sm_err_count(err, SM_ERROR);

	for (size_t i = 0; i < nr && !l.stop; i++)
		load_path(&l, paths[i], true);
	sm_strmap_release(&l.seen, free);
	if (l.stop)
		return l.stop;
	return sm_err_count(err, SM_ERROR) != errors ? -EINVAL : 0;
}
