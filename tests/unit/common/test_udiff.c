/*
 * test_udiff.c: unified diffs as diff -u prints them (outputs checked
 * against GNU diff), and, on random texts, diffs that are minimal and
 * that turn a into b when applied.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/rand.h"
#include "common/udiff.h"

#include "common/banned.h"

static void diff_is(const char *a, const char *b, const char *want,
		    long changes)
{
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	assert_int_equal(
		sm_udiff(a, strlen(a), b, strlen(b), "x", "y", 3, &out),
		changes);
	assert_string_equal(sm_buf_cstr(&out), want);
	sm_buf_release(&out);
}

static void test_equal_texts_give_nothing(void **state)
{
	diff_is("a\nb\n", "a\nb\n", "", 0);
	diff_is("", "", "", 0);
}

static void test_hunks_are_those_of_gnu_diff(void **state)
{
	/* diff -u --label x --label y, by GNU diffutils 3.8. */
	diff_is("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
		"a\nb\nC\nd\ne\nf\ng\nh\ni\nj\nk\n",
		"--- x\n+++ y\n"
		"@@ -1,6 +1,6 @@\n a\n b\n-c\n+C\n d\n e\n f\n"
		"@@ -8,3 +8,4 @@\n h\n i\n j\n+k\n",
		3);
	diff_is("one\ntwo", "one\nthree\n",
		"--- x\n+++ y\n@@ -1,2 +1,2 @@\n one\n-two\n"
		"\\ No newline at end of file\n+three\n",
		2);
	diff_is("", "a\n", "--- x\n+++ y\n@@ -0,0 +1 @@\n+a\n", 1);
	diff_is("a\nb\n", "", "--- x\n+++ y\n@@ -1,2 +0,0 @@\n-a\n-b\n", 2);
}

static void test_changes_close_together_share_a_hunk(void **state)
{
	/* Six kept lines between two changes: one hunk with context 3. */
	diff_is("0\n1\n2\n3\n4\n5\n6\n7\n", "X\n1\n2\n3\n4\n5\n6\nY\n",
		"--- x\n+++ y\n@@ -1,8 +1,8 @@\n-0\n+X\n 1\n 2\n 3\n 4\n 5\n"
		" 6\n-7\n+Y\n",
		4);
}

/* Applies the unified diff d to a; the result into out. */
static void apply(const char *a, const char *d, struct sm_buf *out)
{
	const char *p = strstr(d, "@@");
	const char *ap = a;
	size_t line = 1;

	while (p && !strncmp(p, "@@ -", 4)) {
		char *after;
		size_t start = strtoul(p + 4, &after, 10);
		size_t count = *after == ',' ? strtoul(after + 1, NULL, 10) : 1;
		const char *nl = strchr(p, '\n');
		/* Copy a's lines before the hunk ("-5,0": after line 5). */
		size_t first = count ? start : start + 1;

		while (line < first) {
			const char *e = strchr(ap, '\n');
			sm_buf_add(out, ap, (size_t)(e - ap) + 1);
			ap = e + 1;
			line++;
		}
		p = nl + 1;
		while (*p && (*p == ' ' || *p == '-' || *p == '+')) {
			const char *e = strchr(p, '\n');

			if (*p != '-')
				sm_buf_add(out, p + 1, (size_t)(e - p));
			if (*p != '+') {
				ap = strchr(ap, '\n') + 1;
				line++;
			}
			p = e + 1;
		}
	}
	sm_buf_adds(out, ap);
}

/* Longest common subsequence of the lines (for minimality). */
static size_t lcs(const char **a, size_t n, const char **b, size_t m)
{
	size_t *row = calloc(m + 1, sizeof(size_t));
	size_t *prev = calloc(m + 1, sizeof(size_t));

	for (size_t i = 1; i <= n; i++) {
		for (size_t j = 1; j <= m; j++)
			row[j] = !strcmp(a[i - 1], b[j - 1]) ? prev[j - 1] + 1
				 : row[j - 1] > prev[j]	     ? row[j - 1]
							     : prev[j];
		memcpy(prev, row, (m + 1) * sizeof(size_t));
	}
	size_t r = prev[m];
	free(row);
	free(prev);
	return r;
}

static size_t random_text(const struct sm_rand *r, struct sm_buf *t,
			  const char **lines)
{
	size_t n = sm_rand_below(r, 30);
	static const char *const words[] = { "a", "b", "c", "d", "e" };

	for (size_t i = 0; i < n; i++) {
		lines[i] = words[sm_rand_below(r, 5)];
		sm_buf_addf(t, "%s\n", lines[i]);
	}
	return n;
}

static void test_random_diffs_are_minimal_and_apply(void **state)
{
	struct sm_seeded_rand sr;

	sm_seeded_rand_init(&sr, 7);
	for (int round = 0; round < 500; round++) {
		struct sm_buf a = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		struct sm_buf d = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		struct sm_buf got = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		const char *la[32], *lb[32];
		size_t n = random_text(&sr.rand, &a, la);
		size_t m = random_text(&sr.rand, &b, lb);
		long changes =
			sm_udiff(a.buf ? a.buf : "", a.len, b.buf ? b.buf : "",
				 b.len, "x", "y", (unsigned)(round % 4), &d);

		assert_int_equal(changes,
				 (long)(n + m - 2 * lcs(la, n, lb, m)));
		apply(a.buf ? a.buf : "", sm_buf_cstr(&d), &got);
		assert_string_equal(sm_buf_cstr(&got), sm_buf_cstr(&b));
		sm_buf_release(&a);
		sm_buf_release(&b);
		sm_buf_release(&d);
		sm_buf_release(&got);
	}
}

static void test_texts_too_far_apart_are_replaced_whole(void **state)
{
	struct sm_buf a = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf d = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf got = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	/* No line in common: an edit distance of 3,000, over the bound. */
	for (int i = 0; i < 1500; i++) {
		sm_buf_addf(&a, "a%d\n", i);
		sm_buf_addf(&b, "b%d\n", i);
	}
	assert_int_equal(sm_udiff(a.buf, a.len, b.buf, b.len, "x", "y", 3, &d),
			 3000);
	apply(a.buf, sm_buf_cstr(&d), &got);
	assert_string_equal(sm_buf_cstr(&got), sm_buf_cstr(&b));
	sm_buf_release(&a);
	sm_buf_release(&b);
	sm_buf_release(&d);
	sm_buf_release(&got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal_texts_give_nothing),
		cmocka_unit_test(test_hunks_are_those_of_gnu_diff),
		cmocka_unit_test(test_changes_close_together_share_a_hunk),
		cmocka_unit_test(test_random_diffs_are_minimal_and_apply),
		cmocka_unit_test(test_texts_too_far_apart_are_replaced_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
