/*
 * Tests for common/tar.c: the headers read back as ustar, and GNU tar (a
 * real reader) extracts what was written.
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
#include "common/tar.h"
#include "common/banned.h"

static unsigned long octal(const char *field, size_t width)
{
	char tmp[16] = { 0 };

	memcpy(tmp, field, width);
	return strtoul(tmp, NULL, 8);
}

static void check_header(const char *hdr, const char *name, char type,
			 unsigned long size, unsigned mode)
{
	unsigned sum = 0;
	size_t i;

	assert_string_equal(hdr, name);
	assert_int_equal(hdr[156], type);
	assert_int_equal(octal(hdr + 124, 12), size);
	assert_int_equal(octal(hdr + 100, 8), mode);
	assert_memory_equal(hdr + 257,
			    "ustar\0"
			    "00",
			    8);
	for (i = 0; i < SM_TAR_BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : (unsigned char)hdr[i];
	assert_int_equal(octal(hdr + 148, 8), sum);
}

static void test_tar_of_a_dir_and_files_reads_back(void **state)
{
	struct sm_tar t;
	const char *data;
	size_t len;

	sm_tar_init(&t, SM_BUF_UNBOUNDED);
	assert_int_equal(sm_tar_add_dir(&t, "bin", 0755), 0);
	assert_int_equal(sm_tar_add_file(&t, "Containerfile", 0644,
					 "FROM scratch\n", 13),
			 0);
	assert_int_equal(sm_tar_add_file(&t, "empty", 0600, "", 0), 0);
	assert_int_equal(sm_tar_finish(&t, &data, &len), 0);
	/* 3 headers, one data block, two end blocks. */
	assert_int_equal(len, 6 * SM_TAR_BLOCK);
	check_header(data, "bin", '5', 0, 0755);
	check_header(data + 512, "Containerfile", '0', 13, 0644);
	assert_memory_equal(data + 1024, "FROM scratch\n", 13);
	assert_int_equal(data[1024 + 13], 0);
	check_header(data + 1536, "empty", '0', 0, 0600);
	/* Finishing again gives the same archive; adding fails. */
	assert_int_equal(sm_tar_finish(&t, &data, &len), 0);
	assert_int_equal(len, 6 * SM_TAR_BLOCK);
	assert_int_equal(sm_tar_add_file(&t, "x", 0644, "", 0), -EINVAL);
	sm_tar_release(&t);
}

static void test_tar_long_names_use_the_prefix_or_fail(void **state)
{
	struct sm_tar t;
	char name[300];
	const char *data;
	size_t len;

	sm_tar_init(&t, SM_BUF_UNBOUNDED);
	memset(name, 'a', 150);
	name[150] = '/';
	memset(name + 151, 'b', 90);
	name[241] = '\0';
	assert_int_equal(sm_tar_add_file(&t, name, 0644, "x", 1), 0);
	assert_int_equal(sm_tar_finish(&t, &data, &len), 0);
	assert_int_equal(strnlen(data, 100), 90);
	assert_int_equal(strnlen(data + 345, 155), 150);
	sm_tar_release(&t);

	sm_tar_init(&t, SM_BUF_UNBOUNDED);
	memset(name, 'a', 200);
	name[200] = '\0';
	assert_int_equal(sm_tar_add_file(&t, name, 0644, "x", 1),
			 -ENAMETOOLONG);
	assert_int_equal(sm_tar_add_file(&t, "/etc/passwd", 0644, "x", 1),
			 -EINVAL);
	assert_int_equal(sm_tar_add_file(&t, "", 0644, "x", 1), -EINVAL);
	assert_int_equal(t.out.len, 0);
	sm_tar_release(&t);
}

static void test_tar_over_its_maximum_fails_and_keeps_contents(void **state)
{
	struct sm_tar t;
	char big[2000] = { 0 };

	sm_tar_init(&t, 2048);
	assert_int_equal(sm_tar_add_file(&t, "a", 0644, "x", 1), 0);
	assert_int_equal(t.out.len, 1024);
	assert_int_equal(sm_tar_add_file(&t, "b", 0644, big, sizeof(big)),
			 -EMSGSIZE);
	assert_int_equal(t.out.len, 1024);
	sm_tar_release(&t);
}

static void test_gnu_tar_extracts_what_was_written(void **state)
{
	char dir[] = "/tmp/sm-tar-XXXXXX";
	char path[128], cmd[512];
	struct sm_tar t;
	struct sm_buf got = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct stat st;
	const char *data;
	size_t len;
	FILE *f;

	if (system("tar --version >/dev/null 2>&1") != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	sm_tar_init(&t, SM_BUF_UNBOUNDED);
	assert_int_equal(sm_tar_add_dir(&t, "bin", 0755), 0);
	assert_int_equal(sm_tar_add_file(&t, "bin/hello", 0755,
					 "#!/bin/sh\necho hi\n", 18),
			 0);
	assert_int_equal(sm_tar_finish(&t, &data, &len), 0);
	snprintf(path, sizeof(path), "%s/a.tar", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "tar -xf %s -C %s", path, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/bin/hello", dir);
	assert_int_equal(sm_buf_read_file(&got, path), 0);
	assert_string_equal(sm_buf_cstr(&got), "#!/bin/sh\necho hi\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	sm_buf_release(&got);
	sm_tar_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tar_of_a_dir_and_files_reads_back),
		cmocka_unit_test(test_tar_long_names_use_the_prefix_or_fail),
		cmocka_unit_test(
			test_tar_over_its_maximum_fails_and_keeps_contents),
		cmocka_unit_test(test_gnu_tar_extracts_what_was_written),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
