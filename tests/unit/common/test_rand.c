/* Tests for common/rand.c: the seeded generator, sm_rand_below, suffixes. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/rand.h"
#include "common/banned.h"

#define ALPHABET "bcdfghjklmnpqrstvwxz2456789"

static void test_seeded_rand_is_xorshift64_star(void **state)
{
	struct sm_seeded_rand s;

	/* Pinned values: chaos runs must replay across versions. */
	sm_seeded_rand_init(&s, 1);
	assert_int_equal(sm_rand_u32(&s.rand), 0x896cdd1dU);
	assert_int_equal(sm_rand_u32(&s.rand), 0xe079651dU);
	assert_int_equal(sm_rand_u32(&s.rand), 0xeb731f57U);
}

static void test_same_seed_same_sequence_other_seed_other(void **state)
{
	struct sm_seeded_rand a, b, c;
	int differ = 0;

	sm_seeded_rand_init(&a, 12345);
	sm_seeded_rand_init(&b, 12345);
	sm_seeded_rand_init(&c, 12346);
	for (int i = 0; i < 1000; i++) {
		uint32_t x = sm_rand_u32(&a.rand);

		assert_int_equal(x, sm_rand_u32(&b.rand));
		differ += x != sm_rand_u32(&c.rand);
	}
	assert_true(differ > 990);
}

static void test_seed_zero_does_not_stick_at_zero(void **state)
{
	struct sm_seeded_rand s;
	uint32_t any = 0;

	sm_seeded_rand_init(&s, 0);
	for (int i = 0; i < 10; i++)
		any |= sm_rand_u32(&s.rand);
	assert_true(any != 0);
}

static void test_rand_below_stays_in_range_and_covers_it_evenly(void **state)
{
	struct sm_seeded_rand s;
	unsigned hits[27] = { 0 };

	sm_seeded_rand_init(&s, 7);
	for (int i = 0; i < 27000; i++) {
		uint32_t v = sm_rand_below(&s.rand, 27);

		assert_true(v < 27);
		hits[v]++;
	}
	/* 1000 expected per value; a seeded run is deterministic. */
	for (int i = 0; i < 27; i++)
		assert_in_range(hits[i], 850, 1150);
	for (int i = 0; i < 100; i++)
		assert_int_equal(sm_rand_below(&s.rand, 1), 0);
	for (int i = 0; i < 100; i++)
		assert_true(sm_rand_below(&s.rand, UINT32_MAX) < UINT32_MAX);
}

static void test_rand_below_zero_is_a_bug_that_aborts(void **state)
{
	struct sm_seeded_rand s;
	int status = 0;
	pid_t pid;

	sm_seeded_rand_init(&s, 1);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* Keep the child's "BUG:" line out of the test output. */
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		sm_rand_below(&s.rand, 0);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* An invariant check, not a division by zero (SIGFPE). */
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void test_name_suffix_uses_only_the_kubernetes_alphabet(void **state)
{
	struct sm_seeded_rand s;
	char out[6];
	unsigned seen[256] = { 0 };

	sm_seeded_rand_init(&s, 99);
	for (int i = 0; i < 2000; i++) {
		memset(out, '#', sizeof(out));
		sm_rand_name_suffix(&s.rand, out, 5);
		assert_int_equal(strlen(out), 5);
		for (int j = 0; j < 5; j++) {
			assert_non_null(strchr(ALPHABET, out[j]));
			seen[(unsigned char)out[j]]++;
		}
	}
	/* Every character of the alphabet turns up; no vowel ever does. */
	for (const char *p = ALPHABET; *p; p++)
		assert_true(seen[(unsigned char)*p] > 0);
	for (const char *p = "aeiou013"; *p; p++)
		assert_int_equal(seen[(unsigned char)*p], 0);
}

static void test_name_suffix_of_length_zero_is_empty(void **state)
{
	struct sm_seeded_rand s;
	char out[1] = { 'x' };

	sm_seeded_rand_init(&s, 1);
	sm_rand_name_suffix(&s.rand, out, 0);
	assert_int_equal(out[0], '\0');
}

static void test_name_suffix_is_reproducible_from_a_seed(void **state)
{
	struct sm_seeded_rand a, b;
	char x[11], y[11];

	sm_seeded_rand_init(&a, 2026);
	sm_seeded_rand_init(&b, 2026);
	sm_rand_name_suffix(&a.rand, x, 10);
	sm_rand_name_suffix(&b.rand, y, 10);
	assert_string_equal(x, y);
}

static void test_system_rand_fills_odd_lengths_with_fresh_bytes(void **state)
{
	unsigned char a[17], b[17];

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	sm_rand_system.ops->fill(sm_rand_system.ctx, a, sizeof(a));
	sm_rand_system.ops->fill(sm_rand_system.ctx, b, sizeof(b));
	/* Equal only with probability 2^-136. */
	assert_memory_not_equal(a, b, sizeof(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seeded_rand_is_xorshift64_star),
		cmocka_unit_test(test_same_seed_same_sequence_other_seed_other),
		cmocka_unit_test(test_seed_zero_does_not_stick_at_zero),
		cmocka_unit_test(
			test_rand_below_stays_in_range_and_covers_it_evenly),
		cmocka_unit_test(test_rand_below_zero_is_a_bug_that_aborts),
		cmocka_unit_test(
			test_name_suffix_uses_only_the_kubernetes_alphabet),
		cmocka_unit_test(test_name_suffix_of_length_zero_is_empty),
		cmocka_unit_test(test_name_suffix_is_reproducible_from_a_seed),
		cmocka_unit_test(
			test_system_rand_fills_odd_lengths_with_fresh_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
