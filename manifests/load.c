/*
 * load.c: folders -> files -> documents -> checked objects.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/strmap.h"
#include "common/xalloc.h"
#include "manifests/load.h"
#include "common/banned.h"

struct first_pass;

struct loader {
	const struct mf_load_opts *opts;
	mf_object_fn fn;
	void *ctx;
	struct mf_load_stats *stats;
	struct sm_err *err;
	struct sm_strmap seen; /* "group/Kind/ns/name" -> "file:line:col" */
	int stop; /* a callback's negative return */
	int jobs; /* threads for first passes */
	struct first_pass *queue; /* files waiting for their first pass */
	size_t nr_queue, alloc_queue;
	struct first_pass *done; /* the last batch, to be freed */
	size_t nr_done, alloc_done;
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
	const char *name = sm_json_get_str(meta, "name");
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	/* Built by hand: this runs once or twice for every object. */
	sm_buf_adds(&b, kind->group);
	sm_buf_addch(&b, '/');
	sm_buf_adds(&b, kind->kind);
	sm_buf_addch(&b, '/');
	sm_buf_adds(&b, ns ? ns : "");
	sm_buf_addch(&b, '/');
	sm_buf_adds(&b, name ? name : "");
	return sm_buf_detach(&b, NULL);
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
		sm_error(l->err, pos,
			 "%s \"%s\": duplicate object: %s/%s is "
			 "also defined at %s",
			 o->kind->kind, name, ns ? ns : "-", name, (char *)old);
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

		sm_error(l->err, &pos, "List: items: %s",
			 items ? "expected an array of objects"
			       : "required value");
		l->stats->invalid++;
		return;
	}
	json_array_foreach (items, i, item) {
		char at[32];

		if (l->stop)
			break;
		snprintf(at, sizeof(at), "/items/%zu", i);
		load_object(l, f, d, item, at);
	}
}

/*
 * The first pass over a file, on a worker thread: parse it without positions
 * (they are only needed for messages) and check every object into a scratch
 * sink. It touches nothing shared. `ok` means nothing at all was said, so
 * the objects can be handed on as they are; otherwise the file goes through
 * the full path, with positions, on the loader's thread.
 */
struct first_pass {
	char *path; /* owned */
	const struct mf_memfile *mem; /* the file's bytes, or NULL: on disk */
	struct mf_file f;
	const struct mf_kind **kinds; /* one per document */
	bool ok;
};

/*
 * The one place files are read: from memory (mf_load_memory) or from the
 * disk (mf_load); everything else is the same for both.
 */
static int parse_source(struct mf_file *f, const char *path,
			const struct mf_memfile *mem,
			const struct mf_parse_opts *opts, struct sm_err *err)
{
	if (mem)
		return mf_parse_buffer(f, path, mem->data, mem->len, opts, err);
	return mf_parse_file(f, path, opts, err);
}

static void first_pass_run(const struct loader *l, struct first_pass *p)
{
	struct mf_parse_opts popts = l->opts->parse;
	struct mf_check_opts copts = { l->opts->strict };
	struct sm_err scratch = SM_ERR_INIT;

	popts.no_positions = true;
	p->ok = !parse_source(&p->f, p->path, p->mem, &popts, &scratch) &&
		p->f.nr_docs > 0;
	if (p->ok)
		p->kinds = xcalloc(p->f.nr_docs, sizeof(struct mf_kind *));
	for (size_t i = 0; p->ok && i < p->f.nr_docs; i++) {
		struct mf_doc *d = &p->f.docs[i];
		const char *kind = sm_json_get_str(d->root, "kind");

		/* Lists need their items' positions even when valid. */
		p->ok = !(kind && !strcmp(kind, "List")) &&
			mf_object_check(d->root, d, "", p->path, &copts,
					&p->kinds[i],
					&scratch) == MF_CHECK_OK &&
			!scratch.nr;
	}
	sm_err_release(&scratch);
}

static void first_pass_release(struct first_pass *p)
{
	mf_file_release(&p->f);
	free(p->kinds);
	p->kinds = NULL;
}

/*
 * Hands on the objects of a file whose first pass said nothing, unless one
 * of them repeats an object seen before: then nothing is done and false is
 * returned, so the full path can report it with its place.
 */
static bool first_pass_commit(struct loader *l, struct first_pass *p)
{
	struct sm_strmap mine = SM_STRMAP_INIT;
	bool ok = true;

	for (size_t i = 0; ok && i < p->f.nr_docs; i++) {
		char *key = object_key(p->f.docs[i].root, p->kinds[i]);

		ok = !sm_strmap_has(&l->seen, key) &&
		     !sm_strmap_put(&mine, key, NULL, NULL);
		free(key);
	}
	sm_strmap_release(&mine, NULL);
	for (size_t i = 0; ok && i < p->f.nr_docs && !l->stop; i++) {
		struct mf_doc *d = &p->f.docs[i];
		struct mf_object o = { d->root, p->kinds[i], p->path, d->line,
				       d->col };
		char *key = object_key(d->root, p->kinds[i]);

		sm_strmap_put(&l->seen, key,
			      xasprintf("%s:%d:%d", p->path, d->line, d->col),
			      NULL);
		free(key);
		l->stats->objects++;
		if (l->fn) {
			int cr = l->fn(l->ctx, &o);

			if (cr < 0)
				l->stop = cr;
		}
	}
	return ok;
}

/* The full path: parse with positions, report everything with its place. */
static void load_file_slow(struct loader *l, const char *path,
			   const struct mf_memfile *mem)
{
	struct mf_file f = MF_FILE_INIT;
	size_t nerr = sm_err_count(l->err, SM_ERROR);

	parse_source(&f, path, mem, &l->opts->parse, l->err);
	for (size_t i = 0; i < f.nr_docs && !l->stop; i++)
		load_doc(l, &f, &f.docs[i]);
	if (!f.nr_docs && sm_err_count(l->err, SM_ERROR) == nerr) {
		struct sm_pos pos = { path, 1, 1 };

		sm_warning(l->err, &pos,
			   "file has no objects (it is empty "
			   "or holds only comments)");
	}
	mf_file_release(&f);
}

/*
 * A batch of first passes, plus the previous batch, whose files the workers
 * free first: freeing parsed trees is a good part of the work, and it need
 * not happen on the loader's thread.
 */
struct batch {
	const struct loader *l;
	struct first_pass *items, *old;
	size_t nr, nr_old;
	atomic_size_t next, next_old;
};

static void *batch_worker(void *arg)
{
	struct batch *b = arg;
	size_t i;

	while ((i = atomic_fetch_add(&b->next_old, 1)) < b->nr_old) {
		first_pass_release(&b->old[i]);
		free(b->old[i].path);
	}
	while ((i = atomic_fetch_add(&b->next, 1)) < b->nr)
		first_pass_run(b->l, &b->items[i]);
	return NULL;
}

/* Runs the batch on l->jobs threads, this one among them. */
static void batch_run(const struct loader *l, struct batch *b)
{
	pthread_t threads[MF_LOAD_MAX_JOBS];
	size_t work = b->nr > b->nr_old ? b->nr : b->nr_old;
	int started = 0;

	for (int t = 1; t < l->jobs && (size_t)t < work; t++) {
		if (pthread_create(&threads[started], NULL, batch_worker, b))
			break; /* fewer threads: the work still gets done */
		started++;
	}
	batch_worker(b);
	for (int t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
}

/*
 * First passes of the queued files on several threads, then, in order on
 * this thread, each file's objects handed on, or the file loaded again the
 * full way. Results and messages do not depend on the number of threads.
 * The files stay parsed (the callback may have kept references to their
 * objects only until it returned) until the next batch frees them.
 */
static void flush_files(struct loader *l)
{
	struct batch b = {
		l, l->queue, l->done, l->nr_queue, l->nr_done, 0, 0
	};
	struct first_pass *tmp;
	size_t tmp_alloc;

	batch_run(l, &b);
	for (size_t i = 0; i < b.nr; i++) {
		struct first_pass *p = &b.items[i];

		l->stats->files++;
		if (!l->stop && !(p->ok && first_pass_commit(l, p))) {
			first_pass_release(p);
			if (!l->stop)
				load_file_slow(l, p->path, p->mem);
		}
	}
	/* This batch is freed by the next one; the queue reuses the old. */
	tmp = l->done;
	tmp_alloc = l->alloc_done;
	l->done = l->queue;
	l->alloc_done = l->alloc_queue;
	l->nr_done = l->nr_queue;
	l->queue = tmp;
	l->alloc_queue = tmp_alloc;
	l->nr_queue = 0;
}

static void load_file(struct loader *l, const char *path,
		      const struct mf_memfile *mem)
{
	struct first_pass *p;

	SM_ALLOC_GROW(l->queue, l->nr_queue + 1, l->alloc_queue);
	p = &l->queue[l->nr_queue++];
	memset(p, 0, sizeof(*p));
	p->path = xstrdup(path);
	p->mem = mem;
	if (l->nr_queue >= (size_t)l->jobs * 256)
		flush_files(l);
}

static void load_path(struct loader *l, const char *path, bool top,
		      unsigned char type);

/*
 * Whether a file (base: its name) is loaded; a file known not to be a
 * manifest is skipped with a note, one of another type silently. A file
 * named on the command line (top) is read whatever its name.
 */
static bool wanted_file(struct loader *l, const char *path, const char *base,
			bool top)
{
	const char *what = known_non_manifest(base);

	if (what) {
		struct sm_pos pos = { path, 0, 0 };

		sm_note(l->err, &pos, "skipped: %s, not a manifest", what);
		l->stats->skipped++;
		return false;
	}
	if (!top && !is_manifest_name(base)) {
		l->stats->skipped++;
		return false;
	}
	return true;
}

struct dir_entry {
	char *name;
	unsigned char type; /* d_type, or DT_UNKNOWN */
};

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dir_entry *)a)->name,
		      ((const struct dir_entry *)b)->name);
}

/* dir + "/" + name, new; without printf: this runs for every file. */
static char *path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	bool slash = dl && dir[dl - 1] != '/';
	char *r = xmalloc(dl + slash + nl + 1);

	memcpy(r, dir, dl);
	if (slash)
		r[dl] = '/';
	memcpy(r + dl + slash, name, nl + 1);
	return r;
}

static void load_dir(struct loader *l, const char *path)
{
	DIR *dir = opendir(path);
	struct dir_entry *entries = NULL;
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
		SM_ALLOC_GROW(entries, nr + 1, alloc);
		entries[nr].name = xstrdup(de->d_name);
		entries[nr].type = de->d_type;
		nr++;
	}
	closedir(dir);
	/* Sorted, so messages and render output do not depend on the disk. */
	if (nr)
		qsort(entries, nr, sizeof(*entries), entry_cmp);
	for (size_t i = 0; i < nr; i++) {
		char *child = path_join(path, entries[i].name);

		if (!l->stop)
			load_path(l, child, false, entries[i].type);
		free(child);
		free(entries[i].name);
	}
	free(entries);
}

/*
 * type is the entry's d_type from its folder, DT_UNKNOWN when not known: a
 * regular file or folder found by readdir needs no stat of its own.
 */
static void load_path(struct loader *l, const char *path, bool top,
		      unsigned char type)
{
	const char *base = strrchr(path, '/');
	struct stat st;

	base = base ? base + 1 : path;
	if (type != DT_REG && type != DT_DIR) {
		if (stat(path, &st) < 0) {
			struct sm_pos pos = { path, 0, 0 };

			sm_error(l->err, &pos, "cannot read: %s",
				 strerror(errno));
			return;
		}
		type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
	}
	if (type == DT_DIR) {
		load_dir(l, path);
		return;
	}
	if (wanted_file(l, path, base, top))
		load_file(l, path, NULL);
}

static void loader_init(struct loader *l, const struct mf_load_opts *opts,
			mf_object_fn fn, void *ctx, struct mf_load_stats *stats,
			struct sm_err *err)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(l, 0, sizeof(*l));
	l->opts = opts;
	l->fn = fn;
	l->ctx = ctx;
	l->stats = stats;
	l->err = err;
	l->jobs = opts->jobs > 0 ? opts->jobs : cpus > 0 ? (int)cpus : 1;
	if (l->jobs > MF_LOAD_MAX_JOBS)
		l->jobs = MF_LOAD_MAX_JOBS;
}

/* Loads what is still queued and frees the loader; the load's result. */
static int loader_finish(struct loader *l, size_t errors)
{
	flush_files(l);
	flush_files(l); /* an empty batch that frees the last one */
	free(l->queue);
	free(l->done);
	sm_strmap_release(&l->seen, free);
	if (l->stop)
		return l->stop;
	return sm_err_count(l->err, SM_ERROR) != errors ? -EINVAL : 0;
}

int mf_load(const char *const *paths, size_t nr,
	    const struct mf_load_opts *opts, mf_object_fn fn, void *ctx,
	    struct mf_load_stats *stats, struct sm_err *err)
{
	struct mf_load_stats local = { 0 };
	size_t errors = sm_err_count(err, SM_ERROR);
	struct loader l;

	loader_init(&l, opts, fn, ctx, stats ? stats : &local, err);
	for (size_t i = 0; i < nr && !l.stop; i++)
		load_path(&l, paths[i], true, DT_UNKNOWN);
	return loader_finish(&l, errors);
}

/*
 * The order a walk of the folders gives: component by component, each
 * compared as load_dir sorts names (strcmp), so "a/z.yaml" comes before
 * "a-b.yaml" and "a.yaml" ("a" < "a-b" < "a.yaml").
 */
static int path_cmp(const char *a, const char *b)
{
	for (;;) {
		size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
		int c = memcmp(a, b, la < lb ? la : lb);

		if (c)
			return c;
		if (la != lb)
			return la < lb ? -1 : 1;
		if (!a[la] || !b[lb])
			return a[la] ? 1 : b[lb] ? -1 : 0;
		a += la + 1;
		b += lb + 1;
	}
}

struct memfile_ref {
	const struct mf_memfile *f; /* borrowed */
	size_t i; /* its index in the caller's array */
};

static int memfile_cmp(const void *a, const void *b)
{
	const struct memfile_ref *x = a, *y = b;
	int c = path_cmp(x->f->path, y->f->path);

	/* The same path twice: kept in the order given. */
	if (!c)
		c = x->i < y->i ? -1 : x->i > y->i;
	return c;
}

/* Whether a folder or the file of path, after its root, is hidden. */
static bool hidden_path(const struct mf_memfile *m)
{
	const char *p = m->path + m->root;

	for (const char *s = p; *s; s++)
		if (*s == '.' && (s == p || s[-1] == '/'))
			return true;
	return false;
}

int mf_load_memory(const struct mf_memfile *files, size_t nr,
		   const struct mf_load_opts *opts, mf_object_fn fn, void *ctx,
		   struct mf_load_stats *stats, struct sm_err *err)
{
	struct mf_load_stats local = { 0 };
	size_t errors = sm_err_count(err, SM_ERROR);
	struct memfile_ref *order = xcalloc(nr ? nr : 1, sizeof(*order));
	struct loader l;

	for (size_t i = 0; i < nr; i++) {
		order[i].f = &files[i];
		order[i].i = i;
	}
	if (nr)
		qsort(order, nr, sizeof(*order), memfile_cmp);
	loader_init(&l, opts, fn, ctx, stats ? stats : &local, err);
	for (size_t i = 0; i < nr && !l.stop; i++) {
		const char *path = order[i].f->path;
		const char *base = strrchr(path, '/');

		base = base ? base + 1 : path;
		if (hidden_path(order[i].f) ||
		    !wanted_file(&l, path, base, false))
			continue;
		load_file(&l, path, order[i].f);
	}
	free(order);
	return loader_finish(&l, errors);
}
