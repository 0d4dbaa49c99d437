/*
 * test_load.c: mf_load over real folders: order, duplicates across files,
 * skipped files, and that the number of threads changes nothing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "manifests/load.h"
#include "common/banned.h"

static char tmpl[] = "/tmp/sm-load-XXXXXX";

static void write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static char *configmap(int i)
{
	return xasprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
			 "  name: cm-%04d\ndata:\n  k: v%d\n",
			 i, i);
}

/* A folder of n ConfigMaps in two subfolders, plus a README. */
static char *make_tree(int n)
{
	char *dir = xstrdup(tmpl);
	char *sub;

	assert_non_null(mkdtemp(dir));
	for (int s = 0; s < 2; s++) {
		sub = xasprintf("%s/part-%d", dir, s);
		assert_int_equal(mkdir(sub, 0700), 0);
		for (int i = s; i < n; i += 2) {
			char *name = xasprintf("cm-%04d.yaml", i);
			char *text = configmap(i);

			write_file(sub, name, text);
			free(name);
			free(text);
		}
		free(sub);
	}
	write_file(dir, "README.md", "# not a manifest\n");
	return dir;
}

static void remove_tree(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static int collect_names(void *ctx, const struct mf_object *o)
{
	struct sm_buf *names = ctx;

	sm_buf_addf(
		names, "%s\n",
		sm_json_get_str(json_object_get(o->obj, "metadata"), "name"));
	return 0;
}

static void render_diags(const struct sm_err *err, struct sm_buf *out)
{
	for (size_t i = 0; i < err->nr; i++) {
		sm_diag_format(&err->items[i], out);
		sm_buf_addch(out, '\n');
	}
}

static void test_threads_change_neither_order_nor_messages(void **state)
{
	char *dir = make_tree(700);
	char *bad = xasprintf("%s/part-1/zz-bad.yaml", dir);
	const char *paths[] = { dir };
	struct sm_buf names[2], diags[2];
	int jobs[2] = { 1, 4 };

	/* One bad file and one duplicate, far into the run. */
	write_file(dir, "part-1/zz-bad.yaml",
		   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		   "  name: Bad_Name\n");
	write_file(dir, "part-1/zz-dup.yaml",
		   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		   "  name: cm-0002\n");
	for (int r = 0; r < 2; r++) {
		struct mf_load_opts opts = MF_LOAD_OPTS_INIT;
		struct mf_load_stats st = { 0 };
		struct sm_err err = SM_ERR_INIT;

		sm_buf_init(&names[r], SM_BUF_UNBOUNDED);
		sm_buf_init(&diags[r], SM_BUF_UNBOUNDED);
		opts.jobs = jobs[r];
		assert_int_equal(mf_load(paths, 1, &opts, collect_names,
					 &names[r], &st, &err),
				 -EINVAL);
		assert_int_equal(st.files, 702);
		assert_int_equal(st.objects, 700);
		assert_int_equal(st.invalid, 2);
		assert_int_equal(st.skipped, 1);
		assert_int_equal(sm_err_count(&err, SM_ERROR), 2);
		render_diags(&err, &diags[r]);
		sm_err_release(&err);
	}
	assert_string_equal(sm_buf_cstr(&names[0]), sm_buf_cstr(&names[1]));
	assert_string_equal(sm_buf_cstr(&diags[0]), sm_buf_cstr(&diags[1]));
	/* Folders in sorted order: part-0 holds the even ConfigMaps. */
	assert_true(!strncmp(sm_buf_cstr(&names[0]), "cm-0000\ncm-0002\n", 16));
	assert_non_null(strstr(sm_buf_cstr(&diags[0]),
			       "zz-dup.yaml:1:1: ConfigMap \"cm-0002\": "
			       "duplicate object"));
	assert_non_null(
		strstr(sm_buf_cstr(&diags[0]), "part-0/cm-0002.yaml:1:1"));
	assert_non_null(strstr(sm_buf_cstr(&diags[0]), "zz-bad.yaml:4:9"));
	for (int r = 0; r < 2; r++) {
		sm_buf_release(&names[r]);
		sm_buf_release(&diags[r]);
	}
	remove_tree(dir);
	free(bad);
	free(dir);
}

static int stop_after_three(void *ctx, const struct mf_object *o)
{
	int *n = ctx;

	return ++*n == 3 ? -ECANCELED : 0;
}

static void test_a_callback_error_stops_the_load(void **state)
{
	char *dir = make_tree(600);
	const char *paths[] = { dir };
	struct mf_load_opts opts = MF_LOAD_OPTS_INIT;
	struct sm_err err = SM_ERR_INIT;
	int n = 0;

	opts.jobs = 2;
	assert_int_equal(
		mf_load(paths, 1, &opts, stop_after_three, &n, NULL, &err),
		-ECANCELED);
	assert_int_equal(n, 3);
	sm_err_release(&err);
	remove_tree(dir);
	free(dir);
}

static void test_a_missing_path_is_an_error_naming_it(void **state)
{
	const char *paths[] = { "/nonexistent/stuurman/manifests" };
	struct mf_load_opts opts = MF_LOAD_OPTS_INIT;
	struct sm_err err = SM_ERR_INIT;

	assert_int_equal(mf_load(paths, 1, &opts, NULL, NULL, NULL, &err),
			 -EINVAL);
	assert_int_equal(err.nr, 1);
	assert_string_equal(err.items[0].file, paths[0]);
	assert_non_null(strstr(err.items[0].msg, "No such file"));
	sm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_threads_change_neither_order_nor_messages),
		cmocka_unit_test(test_a_callback_error_stops_the_load),
		cmocka_unit_test(test_a_missing_path_is_an_error_naming_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
