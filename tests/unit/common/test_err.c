/* Tests for common/err.c: the error sink, its limits, format and order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/banned.h"

/* The diagnostic at i, formatted, in a static buffer. */
static const char *formatted(const struct sm_err *e, size_t i)
{
	static struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	assert_true(i < e->nr);
	sm_buf_reset(&b);
	assert_int_equal(sm_diag_format(&e->items[i], &b), 0);
	return sm_buf_cstr(&b);
}

static void test_err_sink_starts_empty_and_not_failed(void **state)
{
	struct sm_err e = SM_ERR_INIT;

	assert_false(sm_err_failed(&e));
	assert_int_equal(e.nr, 0);
	assert_int_equal(sm_err_dropped(&e), 0);
	sm_err_release(&e);
}

static void test_err_error_returns_einval_and_marks_failure(void **state)
{
	struct sm_err e = SM_ERR_INIT;
	struct sm_pos pos = { "web.yaml", 12, 7 };

	assert_int_equal(sm_error(&e, &pos, "Deployment \"%s\": bad", "web"),
			 -EINVAL);
	assert_true(sm_err_failed(&e));
	assert_int_equal(sm_err_count(&e, SM_ERROR), 1);
	assert_string_equal(e.items[0].msg, "Deployment \"web\": bad");
	assert_string_equal(e.items[0].file, "web.yaml");
	sm_err_release(&e);
}

static void test_err_warnings_and_notes_do_not_fail(void **state)
{
	struct sm_err e = SM_ERR_INIT;

	assert_int_equal(sm_warning(&e, NULL, "w"), 0);
	assert_int_equal(sm_note(&e, NULL, "n"), 0);
	assert_false(sm_err_failed(&e));
	assert_int_equal(sm_err_count(&e, SM_WARNING), 1);
	assert_int_equal(sm_err_count(&e, SM_NOTE), 1);
	assert_int_equal(e.nr, 2);
	sm_err_release(&e);
}

static void test_err_copies_the_file_name(void **state)
{
	struct sm_err e = SM_ERR_INIT;
	char file[] = "a.yaml";
	struct sm_pos pos = { file, 1, 1 };

	sm_error(&e, &pos, "x");
	file[0] = 'b';
	assert_string_equal(e.items[0].file, "a.yaml");
	sm_err_release(&e);
}

static void test_diag_format_is_gcc_style_with_known_parts_only(void **state)
{
	struct sm_err e = SM_ERR_INIT;
	struct sm_pos full = { "web.yaml", 12, 7 };
	struct sm_pos line = { "web.yaml", 3, 0 };
	struct sm_pos file = { "web.yaml", 0, 5 };

	sm_error(&e, &full,
		 "spec.replicas: expected an integer, got \"three\"");
	sm_warning(&e, &line, "deprecated field");
	sm_note(&e, &file, "defined here");
	sm_error(&e, NULL, "no file at all");
	assert_string_equal(formatted(&e, 0),
			    "web.yaml:12:7: spec.replicas: expected an "
			    "integer, got \"three\"");
	assert_string_equal(formatted(&e, 1),
			    "web.yaml:3: warning: deprecated field");
	assert_string_equal(formatted(&e, 2), "web.yaml: note: defined here");
	assert_string_equal(formatted(&e, 3), "no file at all");
	sm_err_release(&e);
}

static void test_diag_format_into_full_buffer_fails(void **state)
{
	struct sm_err e = SM_ERR_INIT;
	struct sm_buf b = SM_BUF_INIT(10);
	struct sm_pos pos = { "a-long-file-name.yaml", 1, 1 };

	sm_error(&e, &pos, "x");
	assert_int_equal(sm_diag_format(&e.items[0], &b), -EMSGSIZE);
	sm_err_release(&e);
	sm_buf_release(&b);
}

static void test_severity_names(void **state)
{
	assert_string_equal(sm_severity_name(SM_NOTE), "note");
	assert_string_equal(sm_severity_name(SM_WARNING), "warning");
	assert_string_equal(sm_severity_name(SM_ERROR), "error");
	assert_string_equal(sm_severity_name((enum sm_severity)7), "unknown");
}

static void test_err_past_max_counts_but_keeps_only_max(void **state)
{
	struct sm_err e = SM_ERR_INIT;

	e.max = 3;
	for (int i = 0; i < 5; i++)
		sm_error(&e, NULL, "error %d", i);
	sm_warning(&e, NULL, "late warning");
	assert_int_equal(e.nr, 3);
	assert_int_equal(sm_err_count(&e, SM_ERROR), 5);
	assert_int_equal(sm_err_count(&e, SM_WARNING), 1);
	assert_int_equal(sm_err_dropped(&e), 3);
	assert_string_equal(e.items[2].msg, "error 2");
	sm_err_release(&e);
}

static void test_err_default_max_is_err_max(void **state)
{
	struct sm_err e = SM_ERR_INIT;

	for (int i = 0; i < SM_ERR_MAX + 5; i++)
		sm_note(&e, NULL, "n");
	assert_int_equal(e.nr, SM_ERR_MAX);
	assert_int_equal(sm_err_dropped(&e), 5);
	sm_err_release(&e);
}

static void test_err_move_appends_and_empties_the_source(void **state)
{
	struct sm_err dst = SM_ERR_INIT, src = SM_ERR_INIT;

	sm_error(&dst, NULL, "first");
	sm_warning(&src, NULL, "second");
	sm_error(&src, NULL, "third");
	sm_err_move(&dst, &src);
	assert_int_equal(dst.nr, 3);
	assert_string_equal(dst.items[1].msg, "second");
	assert_string_equal(dst.items[2].msg, "third");
	assert_int_equal(sm_err_count(&dst, SM_ERROR), 2);
	assert_int_equal(sm_err_count(&dst, SM_WARNING), 1);
	assert_int_equal(src.nr, 0);
	assert_false(sm_err_failed(&src));
	sm_err_release(&dst);
	sm_err_release(&src);
}

static void test_err_move_respects_the_destination_max(void **state)
{
	struct sm_err dst = SM_ERR_INIT, src = SM_ERR_INIT;

	dst.max = 2;
	src.max = 4;
	sm_error(&dst, NULL, "d");
	for (int i = 0; i < 6; i++)
		sm_error(&src, NULL, "s%d", i);
	assert_int_equal(sm_err_dropped(&src), 2);
	sm_err_move(&dst, &src);
	assert_int_equal(dst.nr, 2);
	assert_string_equal(dst.items[1].msg, "s0");
	assert_int_equal(sm_err_count(&dst, SM_ERROR), 7);
	assert_int_equal(sm_err_dropped(&dst), 5);
	/* The emptied source keeps its own limit for reuse. */
	assert_int_equal(src.max, 4);
	sm_err_release(&dst);
	sm_err_release(&src);
}

static void test_err_release_keeps_max_for_reuse(void **state)
{
	struct sm_err e = SM_ERR_INIT;

	e.max = 1;
	sm_error(&e, NULL, "a");
	sm_err_release(&e);
	assert_int_equal(e.nr, 0);
	assert_false(sm_err_failed(&e));
	sm_error(&e, NULL, "b");
	sm_error(&e, NULL, "c");
	assert_int_equal(e.nr, 1);
	sm_err_release(&e);
}

static void test_err_sort_orders_by_file_line_column_and_is_stable(void **state)
{
	struct sm_err e = SM_ERR_INIT;
	struct sm_pos b9 = { "b.yaml", 9, 1 }, a10 = { "a.yaml", 10, 1 };
	struct sm_pos a2c5 = { "a.yaml", 2, 5 }, a2c1 = { "a.yaml", 2, 1 };

	sm_error(&e, &b9, "b9");
	sm_error(&e, &a10, "a10");
	sm_error(&e, &a2c5, "a2c5 first");
	sm_note(&e, NULL, "no file");
	sm_error(&e, &a2c1, "a2c1");
	sm_warning(&e, &a2c5, "a2c5 second");
	sm_err_sort(&e);
	assert_string_equal(e.items[0].msg, "no file");
	assert_string_equal(e.items[1].msg, "a2c1");
	assert_string_equal(e.items[2].msg, "a2c5 first");
	assert_string_equal(e.items[3].msg, "a2c5 second");
	assert_string_equal(e.items[4].msg, "a10");
	assert_string_equal(e.items[5].msg, "b9");
	sm_err_release(&e);
}

static void test_err_sort_keeps_many_equal_positions_in_order(void **state)
{
	struct sm_err e = SM_ERR_INIT;
	struct sm_pos p = { "same.yaml", 1, 1 };
	char want[16];

	for (int i = 0; i < 200; i++)
		sm_error(&e, &p, "%d", i);
	sm_err_sort(&e);
	for (int i = 0; i < 200; i++) {
		snprintf(want, sizeof(want), "%d", i);
		assert_string_equal(e.items[i].msg, want);
	}
	sm_err_release(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_sink_starts_empty_and_not_failed),
		cmocka_unit_test(
			test_err_error_returns_einval_and_marks_failure),
		cmocka_unit_test(test_err_warnings_and_notes_do_not_fail),
		cmocka_unit_test(test_err_copies_the_file_name),
		cmocka_unit_test(
			test_diag_format_is_gcc_style_with_known_parts_only),
		cmocka_unit_test(test_diag_format_into_full_buffer_fails),
		cmocka_unit_test(test_severity_names),
		cmocka_unit_test(test_err_past_max_counts_but_keeps_only_max),
		cmocka_unit_test(test_err_default_max_is_err_max),
		cmocka_unit_test(test_err_move_appends_and_empties_the_source),
		cmocka_unit_test(test_err_move_respects_the_destination_max),
		cmocka_unit_test(test_err_release_keeps_max_for_reuse),
		cmocka_unit_test(
			test_err_sort_orders_by_file_line_column_and_is_stable),
		cmocka_unit_test(
			test_err_sort_keeps_many_equal_positions_in_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
