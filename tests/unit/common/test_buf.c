/* Tests for common/buf.c: bounded buffers and reading files into them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/banned.h"

static void test_buf_starts_empty_and_reads_as_an_empty_string(void **state)
{
	struct sm_buf b = SM_BUF_INIT(16);

	assert_int_equal(b.len, 0);
	assert_null(b.buf);
	assert_string_equal(sm_buf_cstr(&b), "");
	sm_buf_release(&b);
}

static void test_buf_add_keeps_a_nul_after_the_contents(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	assert_int_equal(sm_buf_add(&b, "abcdef", 3), 0);
	assert_int_equal(sm_buf_addch(&b, '-'), 0);
	assert_int_equal(sm_buf_adds(&b, "xyz"), 0);
	assert_int_equal(sm_buf_addf(&b, "%d:%s", 42, "z"), 0);
	assert_int_equal(b.len, 11);
	assert_string_equal(b.buf, "abc-xyz42:z");
	assert_int_equal(b.buf[b.len], '\0');
	sm_buf_release(&b);
}

static void test_buf_holds_binary_data_with_nuls(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	assert_int_equal(sm_buf_add(&b, "a\0b", 3), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.buf, "a\0b", 4);
	sm_buf_release(&b);
}

static void test_buf_add_up_to_max_exactly_succeeds(void **state)
{
	struct sm_buf b = SM_BUF_INIT(8);

	assert_int_equal(sm_buf_adds(&b, "12345678"), 0);
	assert_int_equal(b.len, 8);
	/* Adding nothing to a full buffer is still fine. */
	assert_int_equal(sm_buf_add(&b, "", 0), 0);
	assert_int_equal(sm_buf_addch(&b, '9'), -EMSGSIZE);
	assert_string_equal(sm_buf_cstr(&b), "12345678");
	sm_buf_release(&b);
}

static void test_buf_add_past_max_fails_and_keeps_contents(void **state)
{
	struct sm_buf b = SM_BUF_INIT(10);

	assert_int_equal(sm_buf_adds(&b, "hello"), 0);
	assert_int_equal(sm_buf_adds(&b, "world!"), -EMSGSIZE);
	assert_int_equal(b.len, 5);
	assert_string_equal(sm_buf_cstr(&b), "hello");
	assert_int_equal(sm_buf_addf(&b, "%s", "-formatted"), -EMSGSIZE);
	assert_string_equal(sm_buf_cstr(&b), "hello");
	/* A huge length must not wrap around the limit check. */
	assert_int_equal(sm_buf_add(&b, "x", SIZE_MAX), -EMSGSIZE);
	assert_int_equal(sm_buf_add(&b, "x", SIZE_MAX - 2), -EMSGSIZE);
	assert_int_equal(b.len, 5);
	sm_buf_release(&b);
}

static void test_buf_with_max_zero_holds_nothing(void **state)
{
	struct sm_buf b = SM_BUF_INIT(0);

	assert_int_equal(sm_buf_add(&b, "", 0), 0);
	assert_int_equal(sm_buf_addch(&b, 'x'), -EMSGSIZE);
	assert_string_equal(sm_buf_cstr(&b), "");
	sm_buf_release(&b);
}

static void test_buf_grows_through_many_appends(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	for (int i = 0; i < 10000; i++)
		assert_int_equal(sm_buf_addch(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 10000);
	assert_true(b.alloc > b.len);
	assert_int_equal(b.buf[9999], 'a' + 9999 % 26);
	assert_int_equal(b.buf[10000], '\0');
	sm_buf_release(&b);
}

static void test_buf_reset_and_truncate_keep_memory(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char *mem;

	sm_buf_adds(&b, "abcdef");
	mem = b.buf;
	sm_buf_truncate(&b, 2);
	assert_string_equal(sm_buf_cstr(&b), "ab");
	sm_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(sm_buf_cstr(&b), "");
	assert_ptr_equal(b.buf, mem);
	sm_buf_release(&b);
}

static void test_buf_release_keeps_max(void **state)
{
	struct sm_buf b = SM_BUF_INIT(4);

	sm_buf_adds(&b, "abcd");
	sm_buf_release(&b);
	assert_null(b.buf);
	assert_int_equal(b.max, 4);
	assert_int_equal(sm_buf_adds(&b, "abcde"), -EMSGSIZE);
	sm_buf_release(&b);
}

static void test_buf_detach_hands_over_contents_and_empties(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	size_t len = 0;
	char *s;

	sm_buf_adds(&b, "taken");
	s = sm_buf_detach(&b, &len);
	assert_string_equal(s, "taken");
	assert_int_equal(len, 5);
	assert_null(b.buf);
	assert_int_equal(b.len, 0);
	free(s);
	/* An empty buffer still hands out a string the caller can free. */
	s = sm_buf_detach(&b, NULL);
	assert_string_equal(s, "");
	free(s);
}

/* Writes n bytes of a known pattern to a new temporary file. */
static void make_file(char *path, size_t n)
{
	int fd = mkstemp(path);
	char chunk[1000];

	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)('A' + i % 23);
	while (n) {
		size_t k = n < sizeof(chunk) ? n : sizeof(chunk);

		assert_int_equal(write(fd, chunk, k), (ssize_t)k);
		n -= k;
	}
	close(fd);
}

static void test_buf_read_file_appends_the_whole_file(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char path[] = "/tmp/sm-test-buf-XXXXXX";

	make_file(path, 10000);
	sm_buf_adds(&b, "head:");
	assert_int_equal(sm_buf_read_file(&b, path), 0);
	assert_int_equal(b.len, 5 + 10000);
	assert_memory_equal(b.buf, "head:ABC", 8);
	assert_int_equal(b.buf[5 + 9999], 'A' + 999 % 23);
	assert_int_equal(b.buf[b.len], '\0');
	unlink(path);
	sm_buf_release(&b);
}

static void test_buf_read_file_of_exactly_max_bytes_succeeds(void **state)
{
	struct sm_buf b = SM_BUF_INIT(4096);
	char path[] = "/tmp/sm-test-buf-XXXXXX";

	make_file(path, 4096);
	assert_int_equal(sm_buf_read_file(&b, path), 0);
	assert_int_equal(b.len, 4096);
	unlink(path);
	sm_buf_release(&b);
}

static void test_buf_read_file_over_max_fails_and_reads_nothing(void **state)
{
	struct sm_buf b = SM_BUF_INIT(4096);
	char path[] = "/tmp/sm-test-buf-XXXXXX";

	make_file(path, 4097);
	sm_buf_adds(&b, "kept");
	assert_int_equal(sm_buf_read_file(&b, path), -EFBIG);
	assert_string_equal(sm_buf_cstr(&b), "kept");
	/* What is already in the buffer counts against max too. */
	sm_buf_release(&b);
	unlink(path);
	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	make_file(path, 4093);
	sm_buf_adds(&b, "kept");
	assert_int_equal(sm_buf_read_file(&b, path), -EFBIG);
	assert_string_equal(sm_buf_cstr(&b), "kept");
	unlink(path);
	sm_buf_release(&b);
}

static void test_buf_read_file_that_is_empty_succeeds(void **state)
{
	struct sm_buf b = SM_BUF_INIT(0);
	char path[] = "/tmp/sm-test-buf-XXXXXX";

	make_file(path, 0);
	assert_int_equal(sm_buf_read_file(&b, path), 0);
	assert_int_equal(b.len, 0);
	assert_string_equal(sm_buf_cstr(&b), "");
	unlink(path);
	sm_buf_release(&b);
}

static void test_buf_read_file_reports_open_errors(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	assert_int_equal(sm_buf_read_file(&b, "/tmp/sm-test-no/such-file"),
			 -ENOENT);
	assert_int_equal(sm_buf_read_file(&b, "/tmp"), -EISDIR);
	assert_int_equal(b.len, 0);
	sm_buf_release(&b);
}

static void test_buf_read_file_of_a_stream_over_max_fails(void **state)
{
	struct sm_buf b = SM_BUF_INIT(100);
	char path[32], chunk[150];
	int fds[2];

	/* A pipe has no size up front: the limit must hold while reading. */
	assert_int_equal(pipe(fds), 0);
	memset(chunk, 'p', sizeof(chunk));
	assert_int_equal(write(fds[1], chunk, sizeof(chunk)),
			 (ssize_t)sizeof(chunk));
	close(fds[1]);
	snprintf(path, sizeof(path), "/dev/fd/%d", fds[0]);
	sm_buf_adds(&b, "kept");
	assert_int_equal(sm_buf_read_file(&b, path), -EFBIG);
	assert_string_equal(sm_buf_cstr(&b), "kept");
	close(fds[0]);
	sm_buf_release(&b);
}

static void test_buf_read_file_of_a_stream_under_max_succeeds(void **state)
{
	struct sm_buf b = SM_BUF_INIT(100);
	char path[32];
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "from a pipe", 11), 11);
	close(fds[1]);
	snprintf(path, sizeof(path), "/dev/fd/%d", fds[0]);
	assert_int_equal(sm_buf_read_file(&b, path), 0);
	assert_string_equal(sm_buf_cstr(&b), "from a pipe");
	close(fds[0]);
	sm_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_buf_starts_empty_and_reads_as_an_empty_string),
		cmocka_unit_test(test_buf_add_keeps_a_nul_after_the_contents),
		cmocka_unit_test(test_buf_holds_binary_data_with_nuls),
		cmocka_unit_test(test_buf_add_up_to_max_exactly_succeeds),
		cmocka_unit_test(
			test_buf_add_past_max_fails_and_keeps_contents),
		cmocka_unit_test(test_buf_with_max_zero_holds_nothing),
		cmocka_unit_test(test_buf_grows_through_many_appends),
		cmocka_unit_test(test_buf_reset_and_truncate_keep_memory),
		cmocka_unit_test(test_buf_release_keeps_max),
		cmocka_unit_test(
			test_buf_detach_hands_over_contents_and_empties),
		cmocka_unit_test(test_buf_read_file_appends_the_whole_file),
		cmocka_unit_test(
			test_buf_read_file_of_exactly_max_bytes_succeeds),
		cmocka_unit_test(
			test_buf_read_file_over_max_fails_and_reads_nothing),
		cmocka_unit_test(test_buf_read_file_that_is_empty_succeeds),
		cmocka_unit_test(test_buf_read_file_reports_open_errors),
		cmocka_unit_test(test_buf_read_file_of_a_stream_over_max_fails),
		cmocka_unit_test(
			test_buf_read_file_of_a_stream_under_max_succeeds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
