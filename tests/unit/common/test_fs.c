/* Tests for common/fs.c: sm_mkdir_p. */
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

#include "common/fs.h"
#include "common/xalloc.h"
#include "common/banned.h"

static int setup(void **state)
{
	char tmpl[] = "/tmp/sm-fs-test.XXXXXX";
	char *dir = mkdtemp(tmpl);

	if (!dir)
		return -1;
	*state = xstrdup(dir);
	return 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", (char *)*state);
	int r = system(cmd);

	free(cmd);
	free(*state);
	return r;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	return st.st_mode & 07777;
}

static void test_mkdir_p_makes_parents_and_gives_the_last_its_mode(void **state)
{
	const char *top = *state;
	char *leaf = xasprintf("%s/a/b/c", top);
	char *mid = xasprintf("%s/a/b", top);
	mode_t old = umask(022);

	assert_int_equal(sm_mkdir_p(leaf, 0700), 0);
	assert_int_equal(mode_of(leaf), 0700);
	assert_int_equal(mode_of(mid), 0755);
	/* Again: nothing to do, the mode stays. */
	assert_int_equal(sm_mkdir_p(leaf, 0755), 0);
	assert_int_equal(mode_of(leaf), 0700);
	umask(old);
	free(leaf);
	free(mid);
}

static void test_mkdir_p_refuses_a_file_in_the_way(void **state)
{
	const char *top = *state;
	char *file = xasprintf("%s/f", top);
	char *under = xasprintf("%s/f/g", top);
	FILE *f = fopen(file, "w");

	assert_non_null(f);
	fclose(f);
	assert_int_equal(sm_mkdir_p(file, 0755), -ENOTDIR);
	assert_int_equal(sm_mkdir_p(under, 0755), -ENOTDIR);
	free(file);
	free(under);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_mkdir_p_makes_parents_and_gives_the_last_its_mode,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_mkdir_p_refuses_a_file_in_the_way, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
