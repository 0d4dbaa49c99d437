/*
 * test_quantity.c: resource quantities against the values and canonical
 * strings Kubernetes gives (k8s.io/apimachinery/pkg/api/resource).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/compat.h"
#include "manifests/quantity.h"
#include "common/banned.h"

/* Parses s or fails the test, naming the input. */
static struct mf_quantity parse_ok(const char *s)
{
	struct mf_quantity q = { 0 };
	const char *why = NULL;

	if (mf_quantity_parse(s, &q, &why)) {
		print_error("\"%s\": unexpected error: %s\n", s, why);
		fail();
	}
	return q;
}

static void check_canonical(const char *in, const char *want)
{
	struct mf_quantity q = parse_ok(in);
	char out[64];

	assert_int_equal(mf_quantity_format(&q, out, sizeof(out)), 0);
	if (strcmp(out, want)) {
		print_error("\"%s\": canonical \"%s\", want \"%s\"\n", in, out,
			    want);
		fail();
	}
}

static void test_quantity_decimal_si_picks_largest_exact_suffix(void **state)
{
	static const char *const table[][2] = {
		{ "0", "0" },		{ "-0", "0" },
		{ "1", "1" },		{ "1.5", "1500m" },
		{ "1000", "1k" },	{ "0.1", "100m" },
		{ "100m", "100m" },	{ "1000m", "1" },
		{ "1500000", "1500k" }, { "50k", "50k" },
		{ "12E", "12E" },	{ "1.01E", "1010P" },
		{ "0.0005k", "500m" },	{ "1.08", "1080m" },
		{ "5n", "5n" },		{ "1000u", "1m" },
		{ "-100m", "-100m" },	{ "+5", "5" },
		{ ".5", "500m" },	{ "5.", "5" },
		{ "1.G", "1G" },	{ "0001", "1" },
		{ "250m", "250m" },	{ "2.5G", "2500M" },
		{ "1000E", "1000E" },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(table); i++)
		check_canonical(table[i][0], table[i][1]);
}

static void test_quantity_binary_si_uses_ki_mi_when_exact(void **state)
{
	static const char *const table[][2] = {
		{ "1Ki", "1Ki" },
		{ "1024Ki", "1Mi" },
		{ "1.5Gi", "1536Mi" },
		{ "64Mi", "64Mi" },
		{ "0.5Mi", "512Ki" },
		{ "1025Ki", "1025Ki" },
		{ "3Ei", "3Ei" },
		{ "-1Gi", "-1Gi" },
		{ "0Ki", "0" },
		{ "1024Ei", "1024Ei" },
		/* Below 1024 or not whole: printed the decimal way. */
		{ "0.5Ki", "512" },
		{ "1.5Ki", "1536" },
		{ "100.035Ki", "102435840m" },
		{ "0.000000000001Ki", "2n" },
		/* Under 1Ki the decimal suffixes apply; from 1Ki on, not. */
		{ "0.9765625Ki", "1k" },
		{ "1.953125Ki", "2000" },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(table); i++)
		check_canonical(table[i][0], table[i][1]);
}

static void test_quantity_decimal_exponent_keeps_multiple_of_3(void **state)
{
	static const char *const table[][2] = {
		{ "1e3", "1e3" },     { "1E6", "1e6" },
		{ "1.5e3", "1500" },  { "1.2e3", "1200" },
		{ "1e-3", "1e-3" },   { "0.5e-1", "50e-3" },
		{ "1.1E-9", "2e-9" }, { "1e0", "1" },
		{ "80e-3", "80e-3" }, { "300e6", "300e6" },
		{ "1e1", "10" },      { "1.3E+6", "1300e3" },
		{ "1e21", "1e21" },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(table); i++)
		check_canonical(table[i][0], table[i][1]);
}

static void test_quantity_binary_suffix_mi_is_1048576(void **state)
{
	struct mf_quantity q = parse_ok("1Mi");

	assert_int_equal(mf_quantity_value(&q), 1048576);
	assert_int_equal(q.format, MF_QTY_BINARY_SI);
}

static void test_quantity_records_the_format_it_was_written_in(void **state)
{
	assert_int_equal(parse_ok("1k").format, MF_QTY_DECIMAL_SI);
	assert_int_equal(parse_ok("1e3").format, MF_QTY_DECIMAL_EXPONENT);
	assert_int_equal(parse_ok("2Gi").format, MF_QTY_BINARY_SI);
	/* Kubernetes turns binary values below one unit into decimal ones. */
	assert_int_equal(parse_ok("0.5Ki").format, MF_QTY_BINARY_SI);
	assert_int_equal(parse_ok("0.0001Ki").format, MF_QTY_DECIMAL_SI);
}

static void test_quantity_invalid_strings_give_a_reason(void **state)
{
	static const char *const table[][2] = {
		{ "", "empty" },
		{ "aoeu", "not a number" },
		{ " 1", "not a number" },
		{ ".", "not a number" },
		{ "-", "not a number" },
		{ "+-1", "not a number" },
		{ "e3", "not a number" },
		{ "1.1.M", "unknown suffix" },
		{ "1+1.0M", "unknown suffix" },
		{ "0.1mi", "unknown suffix" },
		{ "0.1am", "unknown suffix" },
		{ ".5i", "unknown suffix" },
		{ "-3.01i", "unknown suffix" },
		{ "-3.01e-", "unknown suffix" },
		{ "1 ", "unknown suffix" },
		{ "1K", "unknown suffix" },
		{ "1KiB", "unknown suffix" },
		{ "1mb", "unknown suffix" },
		{ "1e", "unknown suffix" },
		{ "1e1.5", "unknown suffix" },
		{ "1e3k", "unknown suffix" },
		{ "0x10", "unknown suffix" },
		{ "1,5", "unknown suffix" },
		{ "1e40", "too large" },
		{ "-2e29", "too large" },
		{ "1e99999999999999999999", "too large" },
		{ "170141183460469231731687303715884105728n", "too large" },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(table); i++) {
		struct mf_quantity q = { 0 };
		const char *why = NULL;
		int r = mf_quantity_parse(table[i][0], &q, &why);

		if (r != -EINVAL || !why || strcmp(why, table[i][1])) {
			print_error("\"%s\": got %d \"%s\", want \"%s\"\n",
				    table[i][0], r, why ? why : "(null)",
				    table[i][1]);
			fail();
		}
	}
	/* The reason is optional. */
	assert_int_equal(
		mf_quantity_parse("x", &(struct mf_quantity){ 0 }, NULL),
		-EINVAL);
}

static void test_quantity_largest_nano_value_is_exact(void **state)
{
	struct mf_quantity q =
		parse_ok("170141183460469231731687303715884105727n");
	char out[64];
	mf_i128 max = (mf_i128)(((unsigned __int128)1 << 127) - 1);

	assert_true(q.nano == max);
	assert_int_equal(mf_quantity_format(&q, out, sizeof(out)), 0);
	assert_string_equal(out, "170141183460469231731687303715884105727n");
	q = parse_ok("-170141183460469231731687303715884105727n");
	assert_int_equal(mf_quantity_format(&q, out, sizeof(out)), 0);
	assert_string_equal(out, "-170141183460469231731687303715884105727n");
	/* Nothing is too small: it rounds up, and zero stays zero. */
	assert_true(parse_ok("1e-99999999999999").nano == 1);
	assert_true(parse_ok("0e99999999999999").nano == 0);
}

static void test_quantity_rounds_up_below_one_nano(void **state)
{
	static const struct {
		const char *in;
		long long nano;
	} table[] = {
		{ "0.1n", 1 },
		{ "0.9n", 1 },
		{ "3.001n", 4 },
		{ "-0.1n", -1 },
		{ "0.0000000005", 1 },
		{ "0.00000012345", 124 },
		{ "0.5e-9", 1 },
		{ "0.000000000001Ki", 2 },
		{ "1.000000001", 1000000001 },
		{ "2n", 2 },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(table); i++) {
		struct mf_quantity q = parse_ok(table[i].in);

		if (q.nano != table[i].nano) {
			print_error("\"%s\": %lld nano, want %lld\n",
				    table[i].in, (long long)q.nano,
				    table[i].nano);
			fail();
		}
	}
}

static void test_quantity_compares_across_suffixes(void **state)
{
	static const struct {
		const char *a, *b;
		int cmp;
	} table[] = {
		{ "100m", "1", -1 },  { "1Gi", "1G", 1 },
		{ "1e3", "1k", 0 },   { "0.5", "500m", 0 },
		{ "1024", "1Ki", 0 }, { "-1", "0", -1 },
		{ "1n", "0", 1 },     { "1.5Gi", "1536Mi", 0 },
		{ "999m", "1", -1 },  { "1E", "1Ei", -1 },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(table); i++) {
		struct mf_quantity a = parse_ok(table[i].a);
		struct mf_quantity b = parse_ok(table[i].b);

		if (mf_quantity_cmp(&a, &b) != table[i].cmp ||
		    mf_quantity_cmp(&b, &a) != -table[i].cmp) {
			print_error("%s vs %s: want %d\n", table[i].a,
				    table[i].b, table[i].cmp);
			fail();
		}
	}
}

static void test_quantity_milli_and_value_round_up(void **state)
{
	struct mf_quantity q = parse_ok("100m");

	assert_int_equal(mf_quantity_milli(&q), 100);
	assert_int_equal(mf_quantity_value(&q), 1);
	q = parse_ok("64Mi");
	assert_int_equal(mf_quantity_value(&q), 67108864);
	q = parse_ok("1.0001m");
	assert_int_equal(mf_quantity_milli(&q), 2);
	/* Away from zero, as Kubernetes rounds negative values. */
	q = parse_ok("-1.5");
	assert_int_equal(mf_quantity_value(&q), -2);
	assert_int_equal(mf_quantity_milli(&q), -1500);
}

static void test_quantity_milli_and_value_saturate(void **state)
{
	struct mf_quantity q = parse_ok("1e20");

	assert_true(mf_quantity_value(&q) == INT64_MAX);
	q = parse_ok("9223372036854775807");
	assert_true(mf_quantity_value(&q) == INT64_MAX);
	assert_true(mf_quantity_milli(&q) == INT64_MAX);
	q = parse_ok("-1e20");
	assert_true(mf_quantity_value(&q) == INT64_MIN);
	q = parse_ok("9223372036854775m");
	assert_true(mf_quantity_milli(&q) == 9223372036854775LL);
}

static void test_quantity_format_reports_a_short_buffer(void **state)
{
	struct mf_quantity q = parse_ok("1536Mi");
	char out[7];

	assert_int_equal(mf_quantity_format(&q, out, 6), -ENOSPC);
	assert_int_equal(mf_quantity_format(&q, out, 7), 0);
	assert_string_equal(out, "1536Mi");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_quantity_decimal_si_picks_largest_exact_suffix),
		cmocka_unit_test(test_quantity_binary_si_uses_ki_mi_when_exact),
		cmocka_unit_test(
			test_quantity_decimal_exponent_keeps_multiple_of_3),
		cmocka_unit_test(test_quantity_binary_suffix_mi_is_1048576),
		cmocka_unit_test(
			test_quantity_records_the_format_it_was_written_in),
		cmocka_unit_test(test_quantity_invalid_strings_give_a_reason),
		cmocka_unit_test(test_quantity_largest_nano_value_is_exact),
		cmocka_unit_test(test_quantity_rounds_up_below_one_nano),
		cmocka_unit_test(test_quantity_compares_across_suffixes),
		cmocka_unit_test(test_quantity_milli_and_value_round_up),
		cmocka_unit_test(test_quantity_milli_and_value_saturate),
		cmocka_unit_test(test_quantity_format_reports_a_short_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
