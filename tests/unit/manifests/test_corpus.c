/*
 * test_corpus.c: the valid and invalid manifest corpora, one test per file.
 *
 * Valid: tests/corpus/valid/NAME.{yaml,yml,json} must load without errors or
 * warnings, and its objects in canonical form (a JSON array, keys sorted,
 * indented) must equal NAME.expected.json. With SM_UPDATE_GOLDEN=1 the
 * expected files are written instead, to be reviewed by hand before commit.
 *
 * Invalid: tests/corpus/invalid/NAME.{yaml,json} (or the file NAME.generate
 * writes, for inputs too big to commit) must fail to load, and every line
 * `LINE:COL: SUBSTRING` of NAME.expect must match a diagnostic at that
 * position whose message contains SUBSTRING, and no other error may be
 * reported. Files named strict-* give those diagnostics as warnings without
 * --strict (and load) and as errors with it. An .expect line
 * `# warning-only` (or `# severity: warning`) means the file loads with
 * those warnings and no errors (e.g. an empty file). A diagnostic without a
 * position is expected as 0:0. See tests/corpus/README.md.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "manifests/load.h"
#include "common/banned.h"

struct corpus_case {
	char *dir;
	char *name; /* file name in dir */
	char *stem; /* name without extension */
};

static const char *source_root(void)
{
	const char *r = getenv("SM_SOURCE_ROOT");

	return r ? r : ".";
}

static int collect(void *ctx, const struct mf_object *o)
{
	json_array_append(ctx, o->obj);
	return 0;
}

static void print_diags(struct sm_err *err)
{
	struct sm_buf line = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	for (size_t i = 0; i < err->nr; i++) {
		sm_buf_reset(&line);
		sm_diag_format(&err->items[i], &line);
		print_message("  %s\n", sm_buf_cstr(&line));
	}
	sm_buf_release(&line);
}

static void test_valid_file(void **state)
{
	struct corpus_case *c = *state;
	struct mf_load_opts opts = MF_LOAD_OPTS_INIT;
	struct sm_err err = SM_ERR_INIT;
	struct sm_buf want = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *items = json_array();
	char *path = xasprintf("%s/%s", c->dir, c->name);
	char *expected = xasprintf("%s/%s.expected.json", c->dir, c->stem);
	const char *paths[] = { path };
	char *got;
	int r;

	r = mf_load(paths, 1, &opts, collect, items, NULL, &err);
	if (r || err.nr)
		print_diags(&err);
	assert_int_equal(r, 0);
	assert_int_equal(sm_err_count(&err, SM_WARNING), 0);
	assert_true(json_array_size(items) > 0);
	got = json_dumps(items, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (getenv("SM_UPDATE_GOLDEN")) {
		FILE *f = fopen(expected, "w");

		assert_non_null(f);
		fprintf(f, "%s\n", got);
		fclose(f);
	}
	assert_int_equal(sm_buf_read_file(&want, expected), 0);
	if (want.len && want.buf[want.len - 1] == '\n')
		sm_buf_truncate(&want, want.len - 1);
	assert_string_equal(got, sm_buf_cstr(&want));
	free(got);
	sm_buf_release(&want);
	json_decref(items);
	sm_err_release(&err);
	free(path);
	free(expected);
}

/* Runs NAME.generate to write the input into a temporary folder. */
static char *generate_input(const struct corpus_case *c, char *tmpdir)
{
	char *script = xasprintf("%s/%s", c->dir, c->name);
	char *out;
	pid_t pid;
	int status;

	assert_non_null(mkdtemp(tmpdir));
	out = xasprintf("%s/%s.yaml", tmpdir, c->stem);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", script, out, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(script);
	return out;
}

/* A diagnostic with no position of its own is expected as 0:0 (README). */
static bool diag_matches(const struct sm_diag *d, int line, int col,
			 const char *sub)
{
	return d->line == line && d->col == col && strstr(d->msg, sub);
}

struct expect_line {
	int line, col;
	const char *sub; /* borrowed from the expect buffer */
};

/* Reads NAME.expect into lines; sets *warning_only from its comments. */
static size_t read_expect(const char *path, struct sm_buf *buf,
			  struct expect_line **out, bool *warning_only)
{
	struct expect_line *lines = NULL;
	size_t nr = 0, alloc = 0;
	char *save = NULL, *line;

	*warning_only = false;
	assert_int_equal(sm_buf_read_file(buf, path), 0);
	for (line = strtok_r(buf->buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		int l, col, n = 0;

		if (!strcmp(line, "# warning-only") ||
		    !strcmp(line, "# severity: warning")) {
			*warning_only = true;
			continue;
		}
		if (line[0] == '#' || !line[0])
			continue;
		if (sscanf(line, "%d:%d: %n", &l, &col, &n) != 2 || !n)
			fail_msg("%s: bad expect line \"%s\"", path, line);
		SM_ALLOC_GROW(lines, nr + 1, alloc);
		lines[nr].line = l;
		lines[nr].col = col;
		lines[nr].sub = line + n;
		nr++;
	}
	*out = lines;
	return nr;
}

/*
 * Loads path and checks the result against the expectations: every expected
 * diagnostic is there (as an error, or a warning when `as_warnings`), and no
 * error is reported that the expectations do not name.
 */
static void check_load(const char *name, const char *path, bool strict,
		       const struct expect_line *exp, size_t nexp,
		       bool as_warnings)
{
	struct mf_load_opts opts = MF_LOAD_OPTS_INIT;
	struct sm_err err = SM_ERR_INIT;
	enum sm_severity want = as_warnings ? SM_WARNING : SM_ERROR;
	const char *paths[] = { path };
	int r;

	opts.strict = strict;
	r = mf_load(paths, 1, &opts, NULL, NULL, NULL, &err);
	for (size_t i = 0; i < nexp; i++) {
		bool found = false;

		for (size_t j = 0; j < err.nr && !found; j++)
			found = err.items[j].severity == want &&
				diag_matches(&err.items[j], exp[i].line,
					     exp[i].col, exp[i].sub);
		if (!found) {
			print_message("%s%s: no %s at %d:%d containing "
				      "\"%s\"; got:\n",
				      name, strict ? " (--strict)" : "",
				      sm_severity_name(want), exp[i].line,
				      exp[i].col, exp[i].sub);
			print_diags(&err);
		}
		assert_true(found);
	}
	for (size_t j = 0; j < err.nr; j++) {
		bool expected = false;

		if (err.items[j].severity != SM_ERROR)
			continue;
		for (size_t i = 0; i < nexp && !expected; i++)
			expected = diag_matches(&err.items[j], exp[i].line,
						exp[i].col, exp[i].sub);
		if (!expected) {
			print_message("%s: unexpected error:\n", name);
			print_diags(&err);
		}
		assert_true(expected);
	}
	if (as_warnings)
		assert_int_equal(r, 0);
	else
		assert_int_equal(r, -EINVAL);
	sm_err_release(&err);
}

static void test_invalid_file(void **state)
{
	struct corpus_case *c = *state;
	struct sm_buf expect = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char tmpdir[] = "/tmp/sm-corpus-XXXXXX";
	char *expect_path = xasprintf("%s/%s.expect", c->dir, c->stem);
	const char *ext = strrchr(c->name, '.');
	bool generated = !strcmp(ext, ".generate");
	bool strict = !strncmp(c->name, "strict-", 7);
	struct expect_line *exp;
	bool warning_only;
	size_t nexp;
	char *path;

	path = generated ? generate_input(c, tmpdir)
			 : xasprintf("%s/%s", c->dir, c->name);
	nexp = read_expect(expect_path, &expect, &exp, &warning_only);
	assert_true(nexp > 0);
	if (strict) {
		/* Warnings without --strict, errors with it. */
		check_load(c->name, path, false, exp, nexp, true);
		check_load(c->name, path, true, exp, nexp, false);
	} else {
		check_load(c->name, path, false, exp, nexp, warning_only);
	}
	if (generated) {
		unlink(path);
		rmdir(tmpdir);
	}
	free(exp);
	sm_buf_release(&expect);
	free(path);
	free(expect_path);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The corpus files of dir whose extension is one of exts. */
static size_t list_cases(const char *dir, const char *const *exts,
			 struct corpus_case **out)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t nr = 0, alloc = 0;
	struct dirent *de;

	if (!d)
		sm_die("cannot open corpus folder %s: %s", dir,
		       strerror(errno));
	while ((de = readdir(d))) {
		const char *ext = strrchr(de->d_name, '.');

		if (!ext || de->d_name[0] == '.' ||
		    strstr(de->d_name, ".expected."))
			continue;
		for (const char *const *e = exts; *e; e++) {
			if (strcmp(ext, *e))
				continue;
			SM_ALLOC_GROW(names, nr + 1, alloc);
			names[nr++] = xstrdup(de->d_name);
		}
	}
	closedir(d);
	if (nr)
		qsort(names, nr, sizeof(*names), name_cmp);
	*out = xcalloc(nr, sizeof(**out));
	for (size_t i = 0; i < nr; i++) {
		(*out)[i].dir = xstrdup(dir);
		(*out)[i].name = names[i];
		(*out)[i].stem = xstrndup(
			names[i], (size_t)(strrchr(names[i], '.') - names[i]));
	}
	free(names);
	return nr;
}

static int run_group(const char *group, const char *sub,
		     const char *const *exts, CMUnitTestFunction fn)
{
	char *dir = xasprintf("%s/tests/corpus/%s", source_root(), sub);
	struct corpus_case *cases;
	size_t n = list_cases(dir, exts, &cases);
	struct CMUnitTest *tests = xcalloc(n, sizeof(*tests));
	int failed;

	for (size_t i = 0; i < n; i++) {
		tests[i].name = cases[i].name;
		tests[i].test_func = fn;
		tests[i].initial_state = &cases[i];
	}
	failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
	for (size_t i = 0; i < n; i++) {
		free(cases[i].dir);
		free(cases[i].name);
		free(cases[i].stem);
	}
	free(cases);
	free(tests);
	free(dir);
	return failed;
}

int main(void)
{
	static const char *const valid_exts[] = { ".yaml", ".yml", ".json",
						  NULL };
	static const char *const invalid_exts[] = { ".yaml", ".yml", ".json",
						    ".generate", NULL };
	int failed = 0;

	failed +=
		run_group("valid corpus", "valid", valid_exts, test_valid_file);
	failed += run_group("invalid corpus", "invalid", invalid_exts,
			    test_invalid_file);
	return failed ? 1 : 0;
}
