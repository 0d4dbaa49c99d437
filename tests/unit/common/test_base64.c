/* Tests for common/base64.c: RFC 4648 vectors, validation and bounds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/banned.h"

static const struct {
	const char *plain, *coded;
} vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void test_encode_and_decode_match_the_rfc_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		assert_int_equal(sm_base64_encode(vectors[i].plain,
						  strlen(vectors[i].plain), &b),
				 0);
		assert_string_equal(sm_buf_cstr(&b), vectors[i].coded);
		sm_buf_reset(&b);
		assert_int_equal(sm_base64_decode(vectors[i].coded,
						  strlen(vectors[i].coded), &b),
				 0);
		assert_string_equal(sm_buf_cstr(&b), vectors[i].plain);
		sm_buf_release(&b);
	}
}

static void test_binary_bytes_round_trip(void **state)
{
	unsigned char all[256];
	struct sm_buf coded = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf plain = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	assert_int_equal(sm_base64_encode(all, sizeof(all), &coded), 0);
	assert_int_equal(sm_base64_decode(coded.buf, coded.len, &plain), 0);
	assert_int_equal(plain.len, 256);
	assert_memory_equal(plain.buf, all, 256);
	sm_buf_release(&coded);
	sm_buf_release(&plain);
}

static void test_invalid_input_is_refused_and_changes_nothing(void **state)
{
	static const char *bad[] = { "Zg=",   "Z===",	 "Zg=a",
				     "Zm9v!", "hunter2", "Zm 9v" };
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	size_t n = 99;

	sm_buf_adds(&b, "keep");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(sm_base64_valid(bad[i], strlen(bad[i]), NULL));
		assert_int_equal(sm_base64_decode(bad[i], strlen(bad[i]), &b),
				 -EINVAL);
		assert_string_equal(sm_buf_cstr(&b), "keep");
	}
	assert_true(sm_base64_valid("Zm9vYg==", 8, &n));
	assert_int_equal(n, 4);
	sm_buf_release(&b);
}

static void test_a_full_buffer_fails_whole(void **state)
{
	struct sm_buf b = SM_BUF_INIT(6);

	assert_int_equal(sm_base64_encode("foobar", 6, &b), -EMSGSIZE);
	assert_int_equal(b.len, 0);
	sm_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_and_decode_match_the_rfc_vectors),
		cmocka_unit_test(test_binary_bytes_round_trip),
		cmocka_unit_test(
			test_invalid_input_is_refused_and_changes_nothing),
		cmocka_unit_test(test_a_full_buffer_fails_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
