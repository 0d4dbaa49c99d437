/*
 * udiff.c: see udiff.h.
 *
 * Myers' greedy algorithm: for each edit distance d, the furthest point
 * reached on each diagonal k = x - y. The V arrays of every d are kept
 * (d * 2 + 1 entries each, so O(D^2) memory, bounded by MAX_D) to walk
 * the path back into an edit script of keep, delete and insert steps.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/udiff.h"
#include "common/xalloc.h"

#include "common/banned.h"

#define MAX_D 2000

struct line {
	const char *s;
	size_t len; /* without the '\n' */
	bool nl; /* ended by '\n' */
};

enum op { KEEP, DEL, INS };

static struct line *split(const char *t, size_t len, size_t *n)
{
	struct line *v = NULL;
	size_t nr = 0, alloc = 0;

	for (size_t i = 0; i < len;) {
		const char *e = memchr(t + i, '\n', len - i);
		size_t l = e ? (size_t)(e - (t + i)) : len - i;

		SM_ALLOC_GROW(v, nr + 1, alloc);
		v[nr].s = t + i;
		v[nr].len = l;
		v[nr].nl = e != NULL;
		nr++;
		i += l + (e ? 1 : 0);
	}
	*n = nr;
	return v;
}

static bool eq(const struct line *a, const struct line *b)
{
	return a->len == b->len && a->nl == b->nl &&
	       !memcmp(a->s, b->s, a->len);
}

/*
 * The edit script from a to b into *ops (new), or -E2BIG when the edit
 * distance is over MAX_D.
 */
static int script(const struct line *a, size_t n, const struct line *b,
		  size_t m, enum op **ops, size_t *nops)
{
	long max = (long)(n + m), off, d, k;
	long **trace = xcalloc(MAX_D + 1, sizeof(long *));
	long *v = xcalloc((size_t)(2 * max + 3), sizeof(long));
	long found = -1;

	off = max + 1;
	for (d = 0; d <= max && d <= MAX_D && found < 0; d++) {
		trace[d] = xmalloc((size_t)(2 * d + 1) * sizeof(long));
		for (k = -d; k <= d; k += 2) {
			long x;

			if (k == -d ||
			    (k != d && v[off + k - 1] < v[off + k + 1]))
				x = v[off + k + 1];
			else
				x = v[off + k - 1] + 1;
			long y = x - k;
			while (x < (long)n && y < (long)m && eq(&a[x], &b[y])) {
				x++;
				y++;
			}
			v[off + k] = x;
			if (x >= (long)n && y >= (long)m)
				found = d;
		}
		for (k = -d; k <= d; k++)
			trace[d][k + d] = v[off + k];
	}
	if (found < 0) {
		for (d = 0; d <= MAX_D; d++)
			free(trace[d]);
		free(trace);
		free(v);
		return -E2BIG;
	}
	/* Walk back from (n, m), collecting steps in reverse. */
	size_t cap = n + m + 1, len = 0;
	enum op *rev = xmalloc(cap * sizeof(enum op));
	long x = (long)n, y = (long)m;

	for (d = found; d > 0; d--) {
		long *pv = trace[d - 1]; /* entry of diagonal k at k + d - 1 */
		long kk = x - y, prev_k, px, py;

		if (kk == -d ||
		    (kk != d && pv[kk - 1 + d - 1] < pv[kk + 1 + d - 1]))
			prev_k = kk + 1; /* came down: an insertion */
		else
			prev_k = kk - 1; /* came right: a deletion */
		px = pv[prev_k + d - 1];
		py = px - prev_k;
		/* The snake after that move: equal lines. */
		while (x > px + (prev_k == kk - 1) &&
		       y > py + (prev_k == kk + 1)) {
			rev[len++] = KEEP;
			x--;
			y--;
		}
		rev[len++] = prev_k == kk + 1 ? INS : DEL;
		x = px;
		y = py;
	}
	while (x > 0 && y > 0) {
		rev[len++] = KEEP;
		x--;
		y--;
	}
	*ops = xmalloc((len ? len : 1) * sizeof(enum op));
	for (size_t i = 0; i < len; i++)
		(*ops)[i] = rev[len - 1 - i];
	*nops = len;
	free(rev);
	for (d = 0; d <= MAX_D; d++)
		free(trace[d]);
	free(trace);
	free(v);
	return 0;
}

/* Each returns 0, or -ENOBUFS when out is full (one failure is enough). */
static int put_range(struct sm_buf *out, char sign, size_t start, size_t n)
{
	/* diff -u: "l,n"; "l" when n is 1; the line before when n is 0. */
	if (n == 1)
		return sm_buf_addf(out, " %c%zu", sign, start + 1);
	return sm_buf_addf(out, " %c%zu,%zu", sign, n ? start + 1 : start, n);
}

static int put_line(struct sm_buf *out, char sign, const struct line *l)
{
	if (sm_buf_addch(out, sign) < 0 || sm_buf_add(out, l->s, l->len) < 0 ||
	    sm_buf_addch(out, '\n') < 0)
		return -ENOBUFS;
	if (!l->nl && sm_buf_adds(out, "\\ No newline at end of file\n") < 0)
		return -ENOBUFS;
	return 0;
}

long sm_udiff(const char *a, size_t alen, const char *b, size_t blen,
	      const char *label_a, const char *label_b, unsigned context,
	      struct sm_buf *out)
{
	size_t n, m, nops = 0;
	struct line *la = split(a, alen, &n), *lb = split(b, blen, &m);
	enum op *ops = NULL;
	long changes = 0;
	int full = 0;

	if (script(la, n, lb, m, &ops, &nops) < 0) {
		/* Too far apart: all of a out, all of b in. */
		nops = n + m;
		ops = xmalloc((nops ? nops : 1) * sizeof(enum op));
		for (size_t i = 0; i < nops; i++)
			ops[i] = i < n ? DEL : INS;
	}
	for (size_t i = 0; i < nops; i++)
		changes += ops[i] != KEEP;
	if (!changes)
		goto out;
	full |= sm_buf_addf(out, "--- %s\n+++ %s\n", label_a, label_b) < 0;
	/* Hunks: runs of changes with `context` kept lines around them. */
	size_t i = 0, ai = 0, bi = 0;
	while (i < nops) {
		/* Find the next change. */
		size_t j = i, aj = ai, bj = bi;
		while (j < nops && ops[j] == KEEP) {
			j++;
			aj++;
			bj++;
		}
		if (j == nops)
			break;
		/* The hunk starts `context` kept lines before it. */
		size_t back = j - i < context ? j - i : context;
		size_t hs = j - back, has = aj - back, hbs = bj - back;
		/* It ends where 2 * context kept lines in a row follow. */
		size_t e = j, ae = aj, be = bj, keep = 0;
		size_t end = j, aend = aj, bend = bj;
		while (e < nops) {
			if (ops[e] == KEEP) {
				keep++;
				ae++;
				be++;
				if (keep > 2 * context)
					break;
			} else {
				keep = 0;
				if (ops[e] == DEL)
					ae++;
				else
					be++;
				end = e + 1;
				aend = ae;
				bend = be;
			}
			e++;
		}
		/* Trailing context. */
		size_t tail = 0;
		while (end + tail < nops && tail < context &&
		       ops[end + tail] == KEEP)
			tail++;
		full |= sm_buf_adds(out, "@@") < 0;
		full |= put_range(out, '-', has, aend + tail - has) < 0;
		full |= put_range(out, '+', hbs, bend + tail - hbs) < 0;
		full |= sm_buf_adds(out, " @@\n") < 0;
		size_t x = has, y = hbs;
		for (size_t h = hs; h < end + tail; h++) {
			if (ops[h] == KEEP) {
				full |= put_line(out, ' ', &la[x++]) < 0;
				y++;
			} else if (ops[h] == DEL) {
				full |= put_line(out, '-', &la[x++]) < 0;
			} else {
				full |= put_line(out, '+', &lb[y++]) < 0;
			}
		}
		i = end + tail;
		ai = aend + tail;
		bi = bend + tail;
	}
	if (full)
		changes = -ENOBUFS;
out:
	free(ops);
	free(la);
	free(lb);
	return changes;
}
