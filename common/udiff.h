/*
 * udiff.h: unified diffs of two texts, as `diff -u` and `git diff` print
 * them (`stuurman diff` shows live objects against git's this way).
 *
 * Lines are compared whole (a line is what ends at '\n', or the rest of
 * the text). The edit script is a shortest one (Myers' O(ND) algorithm),
 * so the output is what people expect from diff(1); hunks carry `context`
 * lines around each change and are merged when their contexts touch.
 */
#ifndef SM_UDIFF_H
#define SM_UDIFF_H

#include <stddef.h>

struct sm_buf;

/*
 * Appends to out the unified diff from a (labelled label_a, "--- " line)
 * to b (label_b, "+++ "), nothing when they are equal. Returns the number
 * of lines removed plus added (0: equal), or -ENOBUFS when out is full.
 * Texts whose edit distance is over 2,000 lines are shown as all of a
 * removed and all of b added (still a correct diff, just not a minimal
 * one), so memory stays bounded.
 */
long sm_udiff(const char *a, size_t alen, const char *b, size_t blen,
	      const char *label_a, const char *label_b, unsigned context,
	      struct sm_buf *out);

#endif
