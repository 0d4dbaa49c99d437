/* Tests for nodeagent/lifecycle.c: crash-loop backoff and probe verdicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "nodeagent/lifecycle.h"
#include "common/banned.h"

static void test_backoff_restarts_at_once_then_doubles_to_the_cap(void **state)
{
	struct backoff b = BACKOFF_INIT;
	static const uint64_t want[] = { 0,	1000,  2000,  4000,  8000,
					 16000, 32000, 60000, 60000, 60000 };

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(backoff_next(&b, 100), want[i]);
}

static void test_backoff_resets_after_ten_minutes_of_running(void **state)
{
	struct backoff b = BACKOFF_INIT;

	backoff_next(&b, 5);
	backoff_next(&b, 5);
	assert_int_equal(backoff_next(&b, 5), 2000);
	/* Just short of the reset: still backing off. */
	assert_int_equal(backoff_next(&b, 599999), 4000);
	/* Ten minutes up: the next restart is immediate again. */
	assert_int_equal(backoff_next(&b, 600000), 0);
	assert_int_equal(backoff_next(&b, 5), 1000);
}

static void test_backoff_knobs_are_honoured(void **state)
{
	struct backoff b = { 10000, 300000, 600000, 0, 0 };

	assert_int_equal(backoff_next(&b, 1), 0);
	assert_int_equal(backoff_next(&b, 1), 10000);
	assert_int_equal(backoff_next(&b, 1), 20000);
	for (int i = 0; i < 10; i++)
		backoff_next(&b, 1);
	assert_int_equal(backoff_next(&b, 1), 300000);
}

static json_t *probe_spec(int delay, int period, int success, int failure)
{
	return json_pack("{s:{s:i}, s:i, s:i, s:i, s:i, s:i}", "httpGet",
			 "port", 80, "initialDelaySeconds", delay,
			 "periodSeconds", period, "timeoutSeconds", 1,
			 "successThreshold", success, "failureThreshold",
			 failure);
}

static void test_readiness_starts_false_and_needs_its_successes(void **state)
{
	json_t *spec = probe_spec(5, 2, 2, 3);
	struct probe p;

	probe_init(&p, PROBE_READINESS, spec, 1000);
	assert_false(p.verdict);
	assert_int_equal(p.next_at_ms, 6000);
	assert_int_equal(p.period_ms, 2000);
	assert_false(probe_record(&p, true, 6000));
	assert_false(p.verdict);
	assert_int_equal(p.next_at_ms, 8000);
	assert_true(probe_record(&p, true, 8000));
	assert_true(p.verdict);
	json_decref(spec);
}

static void test_readiness_turns_false_after_failure_threshold(void **state)
{
	json_t *spec = probe_spec(0, 1, 1, 3);
	struct probe p;

	probe_init(&p, PROBE_READINESS, spec, 0);
	assert_true(probe_record(&p, true, 0));
	assert_false(probe_record(&p, false, 1000));
	assert_false(probe_record(&p, false, 2000));
	/* A success in between resets the count. */
	assert_false(probe_record(&p, true, 3000));
	assert_false(probe_record(&p, false, 4000));
	assert_false(probe_record(&p, false, 5000));
	assert_true(p.verdict);
	assert_true(probe_record(&p, false, 6000));
	assert_false(p.verdict);
	json_decref(spec);
}

static void test_liveness_starts_alive_and_fails_once_at_threshold(void **state)
{
	json_t *spec = probe_spec(0, 10, 1, 2);
	struct probe p;

	probe_init(&p, PROBE_LIVENESS, spec, 0);
	assert_true(p.verdict);
	assert_false(probe_record(&p, false, 0));
	assert_true(probe_record(&p, false, 10000));
	assert_false(p.verdict);
	json_decref(spec);
}

static void test_defaults_apply_when_the_spec_is_silent(void **state)
{
	json_t *spec = json_pack("{s:{s:[s]}}", "exec", "command", "true");
	struct probe p;

	probe_init(&p, PROBE_STARTUP, spec, 500);
	assert_int_equal(p.period_ms, 10000);
	assert_int_equal(p.timeout_ms, 1000);
	assert_int_equal(p.success_threshold, 1);
	assert_int_equal(p.failure_threshold, 3);
	assert_int_equal(p.next_at_ms, 500);
	assert_false(p.verdict);
	json_decref(spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_backoff_restarts_at_once_then_doubles_to_the_cap),
		cmocka_unit_test(
			test_backoff_resets_after_ten_minutes_of_running),
		cmocka_unit_test(test_backoff_knobs_are_honoured),
		cmocka_unit_test(
			test_readiness_starts_false_and_needs_its_successes),
		cmocka_unit_test(
			test_readiness_turns_false_after_failure_threshold),
		cmocka_unit_test(
			test_liveness_starts_alive_and_fails_once_at_threshold),
		cmocka_unit_test(test_defaults_apply_when_the_spec_is_silent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
