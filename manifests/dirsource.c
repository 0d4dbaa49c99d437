/*
 * dirsource.c: see dirsource.h.
 *
 * One read at a time: a change seen during a read asks for another one
 * when it ends. The content hash is over the canonical text of every
 * object, so touching a file without changing it calls nobody.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "manifests/canonical.h"
#include "manifests/dirsource.h"
#include "manifests/load.h"

#include "common/banned.h"

#define DEBOUNCE_MS 50
#define DEFAULT_POLL_MS 2000

struct read_job {
	uv_work_t work;
	struct dirsource *d;
	char *dir;
	json_t *objects;
	struct sm_err err;
	int rc;
};

struct dirsource {
	uv_loop_t *loop;
	char *dir;
	uint64_t poll_ms;
	dirsource_cb cb;
	void *ctx;
	uv_fs_event_t watch;
	uv_timer_t timer;
	bool watching;
	bool reading;
	bool again; /* a change came during a read */
	bool freed;
	int refs; /* open handles + a running read */
	char last[MF_HASH_LEN + 1];
};

static void release(struct dirsource *d)
{
	if (--d->refs)
		return;
	free(d->dir);
	free(d);
}

static int collect(void *ctx, const struct mf_object *o)
{
	json_array_append(ctx, o->obj);
	return 0;
}

static void read_work(uv_work_t *w)
{
	struct read_job *j = w->data;
	struct mf_load_opts opts = MF_LOAD_OPTS_INIT;
	const char *paths[] = { j->dir };

	opts.jobs = 1;
	j->rc = mf_load(paths, 1, &opts, collect, j->objects, NULL, &j->err);
}

static void start_read(struct dirsource *d);

static void read_done(uv_work_t *w, int status)
{
	struct read_job *j = w->data;
	struct dirsource *d = j->d;
	struct sm_buf all = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char hash[MF_HASH_LEN + 1];
	size_t i;
	json_t *o;

	d->reading = false;
	if (d->freed)
		goto out;
	if (status || j->rc) {
		/* Errors: hash the messages, so the same errors report once. */
		for (i = 0; i < j->err.nr; i++) {
			sm_diag_format(&j->err.items[i], &all);
			sm_buf_addch(&all, '\n');
		}
		if (status)
			sm_error(&j->err, NULL, "%s: reading was cancelled",
				 d->dir);
	} else {
		json_array_foreach (j->objects, i, o)
			sm_json_dump_canonical(o, &all);
	}
	json_t *text = json_string(sm_buf_cstr(&all));
	mf_hash(text, hash);
	json_decref(text);
	if (strcmp(hash, d->last)) {
		memcpy(d->last, hash, sizeof(hash));
		d->cb(d->ctx, status || j->rc ? NULL : j->objects, &j->err,
		      hash);
	}
	if (d->again && !d->freed)
		start_read(d);
out:
	sm_buf_release(&all);
	json_decref(j->objects);
	sm_err_release(&j->err);
	free(j->dir);
	free(j);
	release(d);
}

static void start_read(struct dirsource *d)
{
	struct read_job *j;

	if (d->reading) {
		d->again = true;
		return;
	}
	d->again = false;
	d->reading = true;
	j = xcalloc(1, sizeof(*j));
	j->d = d;
	j->dir = xstrdup(d->dir);
	j->objects = json_array();
	sm_err_init(&j->err);
	j->work.data = j;
	d->refs++;
	uv_queue_work(d->loop, &j->work, read_work, read_done);
}

static void on_timer(uv_timer_t *t)
{
	struct dirsource *d = t->data;

	start_read(d);
	uv_timer_start(&d->timer, on_timer, d->poll_ms, 0);
}

static void on_change(uv_fs_event_t *h, const char *name, int events,
		      int status)
{
	struct dirsource *d = h->data;

	/* Debounce: an editor's save is several events. */
	uv_timer_start(&d->timer, on_timer, DEBOUNCE_MS, 0);
}

struct dirsource *dirsource_new(uv_loop_t *loop, const struct dirsource_opts *o)
{
	struct dirsource *d = xcalloc(1, sizeof(*d));

	SM_BUG_ON(!o->dir || !o->cb);
	d->loop = loop;
	d->dir = xstrdup(o->dir);
	d->poll_ms = o->poll_ms ? o->poll_ms : DEFAULT_POLL_MS;
	d->cb = o->cb;
	d->ctx = o->ctx;
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	d->refs = 1;
	if (uv_fs_event_init(loop, &d->watch) == 0) {
		d->watch.data = d;
		d->refs++;
		d->watching = uv_fs_event_start(&d->watch, on_change, d->dir,
						UV_FS_EVENT_RECURSIVE) == 0;
	}
	uv_timer_start(&d->timer, on_timer, 0, 0);
	return d;
}

void dirsource_reload(struct dirsource *d)
{
	if (!d->freed)
		uv_timer_start(&d->timer, on_timer, 0, 0);
}

static void closed(uv_handle_t *h)
{
	release(h->data);
}

void dirsource_free(struct dirsource *d)
{
	if (!d || d->freed)
		return;
	d->freed = true;
	uv_close((uv_handle_t *)&d->timer, closed);
	if (d->refs > 1 && !uv_is_closing((uv_handle_t *)&d->watch) &&
	    d->watch.data == d)
		uv_close((uv_handle_t *)&d->watch, closed);
}
