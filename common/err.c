#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "common/banned.h"

void sm_err_init(struct sm_err *e)
{
	memset(e, 0, sizeof(*e));
}

static void diag_release(struct sm_diag *d)
{
	free(d->file);
	free(d->msg);
}

/*
 * Empties e but keeps its limit, as sm_buf_release keeps max: a sink set
 * up with a small max and reused must not quietly go back to SM_ERR_MAX.
 */
static void err_reinit(struct sm_err *e)
{
	size_t max = e->max;

	sm_err_init(e);
	e->max = max;
}

void sm_err_release(struct sm_err *e)
{
	for (size_t i = 0; i < e->nr; i++)
		diag_release(&e->items[i]);
	free(e->items);
	err_reinit(e);
}

static size_t err_max(const struct sm_err *e)
{
	return e->max ? e->max : SM_ERR_MAX;
}

int sm_err_vadd(struct sm_err *e, enum sm_severity sev,
		const struct sm_pos *pos, const char *fmt, va_list ap)
{
	struct sm_diag *d;

	SM_BUG_ON(sev > SM_ERROR);
	e->count[sev]++;
	if (e->nr < err_max(e)) {
		SM_ALLOC_GROW(e->items, e->nr + 1, e->alloc);
		d = &e->items[e->nr++];
		d->severity = sev;
		d->file = pos && pos->file ? xstrdup(pos->file) : NULL;
		d->line = pos ? pos->line : 0;
		d->col = pos ? pos->col : 0;
		d->msg = xvasprintf(fmt, ap);
	}
	return sev == SM_ERROR ? -EINVAL : 0;
}

int sm_err_add(struct sm_err *e, enum sm_severity sev, const struct sm_pos *pos,
	       const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = sm_err_vadd(e, sev, pos, fmt, ap);
	va_end(ap);
	return r;
}

size_t sm_err_dropped(const struct sm_err *e)
{
	size_t total = e->count[0] + e->count[1] + e->count[2];

	return total - e->nr;
}

void sm_err_move(struct sm_err *dst, struct sm_err *src)
{
	for (size_t i = 0; i < src->nr; i++) {
		struct sm_diag *d = &src->items[i];

		if (dst->nr < err_max(dst)) {
			SM_ALLOC_GROW(dst->items, dst->nr + 1, dst->alloc);
			dst->items[dst->nr++] = *d;
		} else {
			diag_release(d);
		}
	}
	for (int s = 0; s < 3; s++)
		dst->count[s] += src->count[s];
	free(src->items);
	err_reinit(src);
}

const char *sm_severity_name(enum sm_severity s)
{
	static const char *const names[] = { "note", "warning", "error" };

	return s <= SM_ERROR ? names[s] : "unknown";
}

int sm_diag_format(const struct sm_diag *d, struct sm_buf *out)
{
	int r = 0;

	if (d->file) {
		r = sm_buf_adds(out, d->file);
		if (!r && d->line > 0)
			r = sm_buf_addf(out, ":%d", d->line);
		if (!r && d->line > 0 && d->col > 0)
			r = sm_buf_addf(out, ":%d", d->col);
		if (!r)
			r = sm_buf_adds(out, ": ");
	}
	if (!r && d->severity != SM_ERROR)
		r = sm_buf_addf(out, "%s: ", sm_severity_name(d->severity));
	if (!r)
		r = sm_buf_adds(out, d->msg);
	return r;
}

static int diag_cmp(const void *a, const void *b)
{
	const struct sm_diag *x = a, *y = b;
	int c;

	if (!x->file != !y->file)
		return x->file ? 1 : -1;
	if (x->file && (c = strcmp(x->file, y->file)))
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return 0;
}

/* qsort is not stable: the original index breaks ties. */
struct diag_at {
	struct sm_diag d;
	size_t i;
};

static int diag_at_cmp(const void *a, const void *b)
{
	const struct diag_at *x = a, *y = b;
	int c = diag_cmp(&x->d, &y->d);

	if (c)
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

void sm_err_sort(struct sm_err *e)
{
	struct diag_at *p;

	if (e->nr < 2)
		return;
	p = xcalloc(e->nr, sizeof(*p));
	for (size_t i = 0; i < e->nr; i++) {
		p[i].d = e->items[i];
		p[i].i = i;
	}
	qsort(p, e->nr, sizeof(*p), diag_at_cmp);
	for (size_t i = 0; i < e->nr; i++)
		e->items[i] = p[i].d;
	free(p);
}
