/* Tests for common/strmap.c: the string-keyed open-addressing hash map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/strmap.h"
#include "common/banned.h"

static void test_fnv1a_matches_the_published_vectors(void **state)
{
	assert_true(sm_hash_fnv1a("", 0) == 0xcbf29ce484222325ULL);
	assert_true(sm_hash_fnv1a("a", 1) == 0xaf63dc4c8601ec8cULL);
	assert_true(sm_hash_fnv1a("foobar", 6) == 0x85944171f73967e8ULL);
}

static void test_empty_map_finds_nothing_and_iterates_nothing(void **state)
{
	struct sm_strmap m = SM_STRMAP_INIT;
	size_t it = 0;

	assert_null(sm_strmap_get(&m, "x"));
	assert_false(sm_strmap_has(&m, "x"));
	assert_false(sm_strmap_next(&m, &it, NULL, NULL));
	sm_strmap_release(&m, NULL);
}

static void test_put_returns_1_and_old_value_for_old_keys(void **state)
{
	struct sm_strmap m = SM_STRMAP_INIT;
	int a = 1, b = 2;
	void *old = NULL;

	assert_int_equal(sm_strmap_put(&m, "web", &a, &old), 0);
	assert_null(old);
	assert_int_equal(sm_strmap_put(&m, "web", &b, &old), 1);
	assert_ptr_equal(old, &a);
	assert_ptr_equal(sm_strmap_get(&m, "web"), &b);
	/* Replacing without asking for the old value is fine too. */
	assert_int_equal(sm_strmap_put(&m, "web", &a, NULL), 1);
	assert_ptr_equal(sm_strmap_get(&m, "web"), &a);
	assert_int_equal(m.nr, 1);
	sm_strmap_release(&m, NULL);
}

static void test_keys_are_copied(void **state)
{
	struct sm_strmap m = SM_STRMAP_INIT;
	char key[] = "name";
	int v;

	sm_strmap_put(&m, key, &v, NULL);
	key[0] = 'g';
	assert_ptr_equal(sm_strmap_get(&m, "name"), &v);
	assert_null(sm_strmap_get(&m, "game"));
	sm_strmap_release(&m, NULL);
}

static void test_has_tells_a_null_value_from_a_missing_key(void **state)
{
	struct sm_strmap m = SM_STRMAP_INIT;

	sm_strmap_put(&m, "present", NULL, NULL);
	sm_strmap_put(&m, "", NULL, NULL);
	assert_true(sm_strmap_has(&m, "present"));
	assert_true(sm_strmap_has(&m, ""));
	assert_false(sm_strmap_has(&m, "absent"));
	assert_null(sm_strmap_get(&m, "present"));
	sm_strmap_release(&m, NULL);
}

static void test_getn_and_putn_use_only_the_given_length(void **state)
{
	struct sm_strmap m = SM_STRMAP_INIT;
	const char *text = "app=web,tier=db";
	int v;

	assert_int_equal(sm_strmap_putn(&m, text, 3, &v, NULL), 0);
	assert_ptr_equal(sm_strmap_get(&m, "app"), &v);
	assert_ptr_equal(sm_strmap_getn(&m, "app=web", 3), &v);
	/* A prefix or an extension of a key is another key. */
	assert_null(sm_strmap_getn(&m, "ap", 2));
	assert_null(sm_strmap_get(&m, "apps"));
	sm_strmap_release(&m, NULL);
}

static void test_map_grows_to_thousands_of_keys_and_finds_them_all(void **state)
{
	struct sm_strmap m = SM_STRMAP_INIT;
	enum { N = 20000 };
	static int values[N];
	char key[32];

	for (int i = 0; i < N; i++) {
		values[i] = i;
		snprintf(key, sizeof(key), "key-%d", i);
		assert_int_equal(sm_strmap_put(&m, key, &values[i], NULL), 0);
	}
	assert_int_equal(m.nr, N);
	/* A power of two, and never more than three quarters full. */
	assert_int_equal(m.cap & (m.cap - 1), 0);
	assert_true(m.nr * 4 <= m.cap * 3);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		assert_ptr_equal(sm_strmap_get(&m, key), &values[i]);
	}
	assert_null(sm_strmap_get(&m, "key-20000"));
	assert_null(sm_strmap_get(&m, "key-"));
	sm_strmap_release(&m, NULL);
	assert_int_equal(m.nr, 0);
	assert_null(m.slots);
}

static void test_iteration_visits_every_entry_once(void **state)
{
	struct sm_strmap m = SM_STRMAP_INIT;
	enum { N = 3000 };
	static int values[N], seen[N];
	const char *k;
	char key[32];
	size_t it = 0, count = 0;
	void *v;

	for (int i = 0; i < N; i++) {
		values[i] = i;
		snprintf(key, sizeof(key), "k%d", i);
		sm_strmap_put(&m, key, &values[i], NULL);
	}
	while (sm_strmap_next(&m, &it, &k, &v)) {
		int i = *(int *)v;

		snprintf(key, sizeof(key), "k%d", i);
		assert_string_equal(k, key);
		seen[i]++;
		count++;
	}
	assert_int_equal(count, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	/* Once done, it stays done. */
	assert_false(sm_strmap_next(&m, &it, &k, &v));
	sm_strmap_release(&m, NULL);
}

static void test_iteration_order_is_the_same_for_the_same_inserts(void **state)
{
	struct sm_strmap a = SM_STRMAP_INIT, b = SM_STRMAP_INIT;
	const char *ka, *kb;
	size_t ia = 0, ib = 0;
	char key[32];

	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "pod-%d", i * 7919 % 1000);
		sm_strmap_put(&a, key, NULL, NULL);
		sm_strmap_put(&b, key, NULL, NULL);
	}
	while (sm_strmap_next(&a, &ia, &ka, NULL)) {
		assert_true(sm_strmap_next(&b, &ib, &kb, NULL));
		assert_string_equal(ka, kb);
	}
	assert_false(sm_strmap_next(&b, &ib, &kb, NULL));
	sm_strmap_release(&a, NULL);
	sm_strmap_release(&b, NULL);
}

static int freed;

static void count_free(void *p)
{
	freed++;
	free(p);
}

static void test_release_frees_each_value_with_the_given_function(void **state)
{
	struct sm_strmap m = SM_STRMAP_INIT;
	char key[16];

	freed = 0;
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "%d", i);
		sm_strmap_put(&m, key, malloc(8), NULL);
	}
	sm_strmap_put(&m, "null value", NULL, NULL);
	sm_strmap_release(&m, count_free);
	assert_int_equal(freed, 101);
	assert_int_equal(m.cap, 0);
	/* A released map is empty and usable again. */
	assert_int_equal(sm_strmap_put(&m, "again", NULL, NULL), 0);
	assert_true(sm_strmap_has(&m, "again"));
	sm_strmap_release(&m, NULL);
}

static void test_keys_longer_than_a_block_are_kept_whole(void **state)
{
	struct sm_strmap m = SM_STRMAP_INIT;
	char *big = malloc(20000);
	char small[16];

	memset(big, 'k', 19999);
	big[19999] = '\0';
	for (int i = 0; i < 2000; i++) {
		snprintf(small, sizeof(small), "key-%d", i);
		assert_int_equal(sm_strmap_put(&m, small,
					       (void *)(intptr_t)(i + 1), NULL),
				 0);
	}
	assert_int_equal(sm_strmap_put(&m, big, big, NULL), 0);
	assert_ptr_equal(sm_strmap_get(&m, big), big);
	assert_int_equal((intptr_t)sm_strmap_get(&m, "key-1999"), 2000);
	assert_int_equal((intptr_t)sm_strmap_get(&m, "key-0"), 1);
	assert_int_equal(m.nr, 2001);
	sm_strmap_release(&m, NULL);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_longer_than_a_block_are_kept_whole),
		cmocka_unit_test(test_fnv1a_matches_the_published_vectors),
		cmocka_unit_test(
			test_empty_map_finds_nothing_and_iterates_nothing),
		cmocka_unit_test(test_put_returns_1_and_old_value_for_old_keys),
		cmocka_unit_test(test_keys_are_copied),
		cmocka_unit_test(
			test_has_tells_a_null_value_from_a_missing_key),
		cmocka_unit_test(test_getn_and_putn_use_only_the_given_length),
		cmocka_unit_test(
			test_map_grows_to_thousands_of_keys_and_finds_them_all),
		cmocka_unit_test(test_iteration_visits_every_entry_once),
		cmocka_unit_test(
			test_iteration_order_is_the_same_for_the_same_inserts),
		cmocka_unit_test(
			test_release_frees_each_value_with_the_given_function),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
