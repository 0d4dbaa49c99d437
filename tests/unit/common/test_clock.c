/* Tests for common/clock.c: the fake clock and RFC 3339 formatting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/banned.h"

#define NS 1000000000ULL

static void check(uint64_t ns, int millis, const char *want)
{
	char out[SM_TIME_RFC3339_LEN];

	memset(out, 'x', sizeof(out));
	assert_int_equal(sm_time_rfc3339(ns, millis, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void test_rfc3339_of_the_epoch(void **state)
{
	check(0, 0, "1970-01-01T00:00:00Z");
	check(0, 1, "1970-01-01T00:00:00.000Z");
}

static void test_rfc3339_is_utc_with_seconds_or_millis(void **state)
{
	check(1795643934ULL * NS, 0, "2026-11-25T21:58:54Z");
	check(1795643934ULL * NS + 123456789, 1, "2026-11-25T21:58:54.123Z");
	/* Without millis the fraction is dropped, not rounded. */
	check(1795643934ULL * NS + 999999999, 0, "2026-11-25T21:58:54Z");
	check(1795643934ULL * NS + 999999999, 1, "2026-11-25T21:58:54.999Z");
	check(1795643934ULL * NS + 7000000, 1, "2026-11-25T21:58:54.007Z");
}

static void test_rfc3339_handles_leap_days_and_the_largest_time(void **state)
{
	check(951868799ULL * NS, 0, "2000-02-29T23:59:59Z");
	check(UINT64_MAX, 1, "2554-07-21T23:34:33.709Z");
}

static void test_rfc3339_into_a_short_buffer_fails(void **state)
{
	char out[SM_TIME_RFC3339_LEN];

	/* Too short for the date itself, and just too short for the "Z". */
	assert_int_equal(sm_time_rfc3339(0, 0, out, 10), -EOVERFLOW);
	assert_int_equal(sm_time_rfc3339(0, 0, out, 20), -EOVERFLOW);
	assert_int_equal(sm_time_rfc3339(0, 1, out, 24), -EOVERFLOW);
	assert_int_equal(sm_time_rfc3339(0, 0, out, 21), 0);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	assert_int_equal(sm_time_rfc3339(0, 1, out, 25), 0);
	assert_string_equal(out, "1970-01-01T00:00:00.000Z");
}

static void
test_rfc3339_parses_what_it_formats_and_rejects_the_rest(void **state)
{
	char out[SM_TIME_RFC3339_LEN];
	uint64_t ns = 0;
	uint64_t t = 1764107934ULL * NS + 123000000ULL;

	assert_int_equal(sm_time_rfc3339(t, 1, out, sizeof(out)), 0);
	assert_int_equal(sm_time_parse_rfc3339(out, &ns), 0);
	assert_true(ns == t);
	assert_int_equal(sm_time_parse_rfc3339("1970-01-01T00:00:01Z", &ns), 0);
	assert_true(ns == NS);
	assert_int_equal(
		sm_time_parse_rfc3339("2024-02-29T12:00:00+00:00", &ns), 0);
	assert_int_equal(
		sm_time_parse_rfc3339("2024-02-29T12:00:00+01:00", &ns), 0);
	assert_true(ns == 1709204400ULL * NS);
	assert_int_equal(sm_time_parse_rfc3339("1969-12-31T23:59:59Z", &ns),
			 -EINVAL);
	assert_int_equal(sm_time_parse_rfc3339("2024-13-01T00:00:00Z", &ns),
			 -EINVAL);
	assert_int_equal(sm_time_parse_rfc3339("2024-01-01 00:00:00Z", &ns),
			 -EINVAL);
	assert_int_equal(sm_time_parse_rfc3339("2024-01-01T00:00:00.Z", &ns),
			 -EINVAL);
	assert_int_equal(sm_time_parse_rfc3339("", &ns), -EINVAL);
}

static void test_fake_clock_reads_what_the_test_sets(void **state)
{
	struct sm_fake_clock f;
	const struct sm_clock *c = &f.clock;

	sm_fake_clock_init(&f, 42 * NS);
	assert_true(sm_clock_realtime_ns(c) == 42 * NS);
	assert_true(sm_clock_monotonic_ns(c) == 0);
	f.realtime_ns += 5;
	f.monotonic_ns = 7 * NS;
	assert_true(sm_clock_realtime_ns(c) == 42 * NS + 5);
	assert_true(sm_clock_monotonic_ns(c) == 7 * NS);
}

static void test_system_clock_is_in_ns_and_monotonic(void **state)
{
	uint64_t a = sm_clock_monotonic_ns(&sm_clock_system);
	uint64_t b = sm_clock_monotonic_ns(&sm_clock_system);

	assert_true(b >= a);
	/* After 2020-01-01: the wall clock is in ns, not s or ms. */
	assert_true(sm_clock_realtime_ns(&sm_clock_system) >
		    1577836800ULL * NS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339_of_the_epoch),
		cmocka_unit_test(test_rfc3339_is_utc_with_seconds_or_millis),
		cmocka_unit_test(
			test_rfc3339_handles_leap_days_and_the_largest_time),
		cmocka_unit_test(test_rfc3339_into_a_short_buffer_fails),
		cmocka_unit_test(
			test_rfc3339_parses_what_it_formats_and_rejects_the_rest),
		cmocka_unit_test(test_fake_clock_reads_what_the_test_sets),
		cmocka_unit_test(test_system_clock_is_in_ns_and_monotonic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
