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

/* Files of a repository, in no particular order; NULL-terminated. */
static const char *const mixed[][2] = {
	{ "z.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		    "  name: z\n" },
	{ "a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		    "  name: a-dot\n" },
	{ "a-b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		      "  name: a-dash\n" },
	{ "a/z.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		      "  name: a-slash\n" },
	{ "a/b/c.json", "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", "
			"\"metadata\": {\"name\": \"json\"}}\n" },
	{ "a/B.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		     "  name: upper\n" },
	{ "list.yaml", "apiVersion: v1\nkind: List\nitems:\n"
		       "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n"
		       "    name: item-1\n"
		       "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n"
		       "    name: z\n" },
	{ "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		      "  name: Bad_Name\n" },
	{ "broken.yaml", "a: [1, 2\nb: c\n" },
	{ "empty.yaml", "# nothing\n" },
	{ "big.yaml",
	  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
	  "  name: big\ndata:\n  k: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" },
	{ "multi.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
			"  name: m1\n---\napiVersion: v1\nkind: ConfigMap\n"
			"metadata:\n  name: a-dot\n" },
	{ "odd.kind.yaml", "apiVersion: example.com/v1\nkind: Widget\n"
			   "metadata:\n  name: w\n" },
	{ "README.md", "# docs\n" },
	{ "kustomization.yaml", "resources: []\n" },
	{ "sub/values.yaml", "x: 1\n" },
	{ "notes.txt", "text\n" },
	{ ".hidden.yaml", "not: parsed: at all\n" },
	{ ".github/ci.yaml", "not: parsed: at all\n" },
	{ "sub/.x/y.yaml", "not: parsed: at all\n" },
	{ NULL, NULL },
};

struct seen {
	struct sm_buf objects, diags;
	struct mf_load_stats st;
	int rc;
};

static int collect_places(void *ctx, const struct mf_object *o)
{
	struct sm_buf *b = ctx;

	sm_buf_addf(
		b, "%s %s:%d:%d\n",
		sm_json_get_str(json_object_get(o->obj, "metadata"), "name"),
		o->file, o->line, o->col);
	return 0;
}

static void seen_render(struct seen *s, const struct sm_err *err)
{
	render_diags(err, &s->diags);
}

static void test_memory_loads_as_the_same_files_on_disk(void **state)
{
	char *dir = xstrdup(tmpl);
	struct mf_memfile files[SM_ARRAY_SIZE(mixed)];
	char *paths_mem[SM_ARRAY_SIZE(mixed)];
	size_t nr = 0;
	struct seen disk, mem;

	assert_non_null(mkdtemp(dir));
	/* Written and given in reverse, so the order must come from sorting. */
	for (size_t i = 0; mixed[i][0]; i++)
		nr++;
	for (size_t i = 0; i < nr; i++) {
		const char *rel = mixed[nr - 1 - i][0];
		char *full = xasprintf("%s/%s", dir, rel);
		char *cmd = xasprintf("mkdir -p \"$(dirname '%s')\"", full);

		assert_int_equal(system(cmd), 0);
		write_file(dir, rel, mixed[nr - 1 - i][1]);
		paths_mem[i] = full;
		files[i].path = full;
		files[i].data = mixed[nr - 1 - i][1];
		files[i].len = strlen(files[i].data);
		files[i].root = strlen(dir) + 1;
		free(cmd);
	}
	for (int jobs = 1; jobs <= 3; jobs += 2) {
		struct mf_load_opts opts = MF_LOAD_OPTS_INIT;
		const char *paths[] = { dir };
		struct sm_err e1 = SM_ERR_INIT, e2 = SM_ERR_INIT;

		opts.jobs = jobs;
		opts.parse.max_bytes = 180; /* big.yaml is over it */
		memset(&disk, 0, sizeof(disk));
		memset(&mem, 0, sizeof(mem));
		sm_buf_init(&disk.objects, SM_BUF_UNBOUNDED);
		sm_buf_init(&disk.diags, SM_BUF_UNBOUNDED);
		sm_buf_init(&mem.objects, SM_BUF_UNBOUNDED);
		sm_buf_init(&mem.diags, SM_BUF_UNBOUNDED);
		disk.rc = mf_load(paths, 1, &opts, collect_places,
				  &disk.objects, &disk.st, &e1);
		mem.rc = mf_load_memory(files, nr, &opts, collect_places,
					&mem.objects, &mem.st, &e2);
		seen_render(&disk, &e1);
		seen_render(&mem, &e2);
		assert_int_equal(disk.rc, -EINVAL);
		assert_int_equal(mem.rc, disk.rc);
		assert_string_equal(sm_buf_cstr(&mem.objects),
				    sm_buf_cstr(&disk.objects));
		assert_string_equal(sm_buf_cstr(&mem.diags),
				    sm_buf_cstr(&disk.diags));
		assert_memory_equal(&mem.st, &disk.st, sizeof(mem.st));
		/* What the set holds, so the comparison is not of nothing. */
		assert_int_equal(disk.st.files, 13);
		assert_int_equal(disk.st.skipped, 4);
		assert_int_equal(disk.st.objects, 8);
		assert_true(!strncmp(sm_buf_cstr(&mem.objects), "upper ", 6));
		assert_non_null(strstr(sm_buf_cstr(&mem.objects), "a-slash"));
		assert_true(strstr(sm_buf_cstr(&mem.objects), "a-slash") <
			    strstr(sm_buf_cstr(&mem.objects), "a-dash"));
		assert_true(strstr(sm_buf_cstr(&mem.objects), "a-dash") <
			    strstr(sm_buf_cstr(&mem.objects), "a-dot"));
		assert_non_null(
			strstr(sm_buf_cstr(&mem.diags), "duplicate object"));
		assert_non_null(strstr(sm_buf_cstr(&mem.diags),
				       "big.yaml: file is 209 bytes, over the "
				       "180 bytes limit"));
		assert_non_null(strstr(sm_buf_cstr(&mem.diags),
				       "README.md: note: skipped"));
		assert_null(strstr(sm_buf_cstr(&mem.diags), "hidden"));
		sm_err_release(&e1);
		sm_err_release(&e2);
		sm_buf_release(&disk.objects);
		sm_buf_release(&disk.diags);
		sm_buf_release(&mem.objects);
		sm_buf_release(&mem.diags);
	}
	for (size_t i = 0; i < nr; i++)
		free(paths_mem[i]);
	remove_tree(dir);
	free(dir);
}

static void test_memory_root_is_not_judged_hidden(void **state)
{
	const char *cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
			 "  name: deployed\n";
	struct mf_memfile files[] = {
		{ ".deploy/web.yaml", cm, strlen(cm), 8 },
		{ ".deploy/.skip/web.yaml", cm, strlen(cm), 8 },
	};
	struct mf_load_opts opts = MF_LOAD_OPTS_INIT;
	struct mf_load_stats st = { 0 };
	struct sm_err err = SM_ERR_INIT;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	assert_int_equal(
		mf_load_memory(files, 2, &opts, collect_places, &b, &st, &err),
		0);
	assert_string_equal(sm_buf_cstr(&b), "deployed .deploy/web.yaml:1:1\n");
	assert_int_equal(st.files, 1);
	assert_int_equal(st.skipped, 0);
	assert_int_equal(err.nr, 0);
	sm_buf_release(&b);
	sm_err_release(&err);
}

static void test_memory_stops_at_a_callback_error(void **state)
{
	const char *cm[] = {
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n",
	};
	struct mf_memfile files[] = {
		{ "d.yaml", cm[3], strlen(cm[3]), 0 },
		{ "c.yaml", cm[2], strlen(cm[2]), 0 },
		{ "b.yaml", cm[1], strlen(cm[1]), 0 },
		{ "a.yaml", cm[0], strlen(cm[0]), 0 },
	};
	struct mf_load_opts opts = MF_LOAD_OPTS_INIT;
	struct sm_err err = SM_ERR_INIT;
	int n = 0;

	assert_int_equal(mf_load_memory(files, 4, &opts, stop_after_three, &n,
					NULL, &err),
			 -ECANCELED);
	assert_int_equal(n, 3);
	assert_int_equal(mf_load_memory(NULL, 0, &opts, NULL, NULL, NULL, &err),
			 0);
	sm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_threads_change_neither_order_nor_messages),
		cmocka_unit_test(test_a_callback_error_stops_the_load),
		cmocka_unit_test(test_a_missing_path_is_an_error_naming_it),
		cmocka_unit_test(test_memory_loads_as_the_same_files_on_disk),
		cmocka_unit_test(test_memory_root_is_not_judged_hidden),
		cmocka_unit_test(test_memory_stops_at_a_callback_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
