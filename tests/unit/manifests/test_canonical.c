/*
 * test_canonical.c: content hashes (stable, order-blind, pinned to one
 * golden value) and structural diffs with exact paths.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/compat.h"
#include "manifests/canonical.h"
#include "manifests/names.h"
#include "common/banned.h"

static json_t *json(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!j) {
		print_error("bad test JSON %s: %s\n", text, jerr.text);
		fail();
	}
	return j;
}

static void hash_of(const char *text, char out[MF_HASH_LEN + 1])
{
	json_t *j = json(text);

	mf_hash(j, out);
	json_decref(j);
}

/*
 * The golden value was computed outside this code base: FNV-1a 64 of
 * {"apiVersion":"v1","data":{"a":"1","b":"2"},"kind":"ConfigMap",
 * "metadata":{"labels":{"app":"web"},"name":"web"},"n":[3,true,null]}
 * (0x8161b916952dab64), as ten base-27 digits in the safe alphabet. Any
 * change of algorithm, text or encoding changes it, and with it every
 * pod-template-hash already in use.
 */
static void test_canonical_hash_matches_the_golden_value(void **state)
{
	char h[MF_HASH_LEN + 1];

	hash_of("{\"kind\": \"ConfigMap\", \"apiVersion\": \"v1\", "
		"\"metadata\": {\"name\": \"web\", \"labels\": {\"app\": "
		"\"web\"}}, \"data\": {\"b\": \"2\", \"a\": \"1\"}, "
		"\"n\": [3, true, null]}",
		h);
	assert_string_equal(h, "7mxpzmsqq5");
}

static void test_canonical_hash_ignores_key_order_and_spacing(void **state)
{
	char a[MF_HASH_LEN + 1], b[MF_HASH_LEN + 1];

	hash_of("{\"a\":1,\"b\":{\"x\":[1,2],\"y\":\"s\"}}", a);
	hash_of("{ \"b\" : { \"y\" : \"s\", \"x\" : [ 1, 2 ] }, \"a\" : 1 }",
		b);
	assert_string_equal(a, b);
}

static void test_canonical_hash_differs_for_different_objects(void **state)
{
	static const char *const texts[] = {
		"{\"a\":1}",
		"{\"a\":2}",
		"{\"a\":\"1\"}",
		"{\"b\":1}",
		"{\"a\":[1,2]}",
		"{\"a\":[2,1]}",
		"{}",
		"[]",
		"null",
	};
	char h[SM_ARRAY_SIZE(texts)][MF_HASH_LEN + 1];

	for (size_t i = 0; i < SM_ARRAY_SIZE(texts); i++) {
		hash_of(texts[i], h[i]);
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(h[i], h[j])) {
				print_error("%s and %s both hash to %s\n",
					    texts[i], texts[j], h[i]);
				fail();
			}
		}
	}
}

static void test_canonical_hash_is_a_ten_character_label_value(void **state)
{
	char h[MF_HASH_LEN + 1];

	hash_of("{\"spec\":{\"containers\":[{\"name\":\"web\"}]}}", h);
	assert_int_equal(strlen(h), 10);
	assert_int_equal(strspn(h, "bcdfghjklmnpqrstvwxz2456789"), 10);
	assert_null(mf_check_label_value(h));
}

static void test_canonical_hash_of_no_value_is_the_hash_of_null(void **state)
{
	char a[MF_HASH_LEN + 1], b[MF_HASH_LEN + 1];

	mf_hash(NULL, a);
	hash_of("null", b);
	assert_string_equal(a, b);
	assert_string_equal(a, "cm49hq4gjn");
}

struct want_entry {
	enum mf_diff_op op;
	const char *path;
	const char *old_val; /* JSON text or NULL */
	const char *new_val;
};

static void check_diff(const char *a_text, const char *b_text,
		       const struct want_entry *want, size_t nwant)
{
	struct mf_diff d = MF_DIFF_INIT;
	json_t *a = a_text ? json(a_text) : NULL;
	json_t *b = b_text ? json(b_text) : NULL;
	size_t n = mf_diff_compute(&d, a, b);

	/* Entries hold their own references. */
	json_decref(a);
	json_decref(b);
	if (n != nwant || d.nr != n) {
		for (size_t i = 0; i < d.nr; i++)
			print_error("  got %d %s\n", d.items[i].op,
				    d.items[i].path);
		print_error("%zu entries, want %zu\n", n, nwant);
		fail();
	}
	for (size_t i = 0; i < n; i++) {
		const struct mf_diff_entry *e = &d.items[i];
		json_t *ov = want[i].old_val ? json(want[i].old_val) : NULL;
		json_t *nv = want[i].new_val ? json(want[i].new_val) : NULL;

		assert_int_equal(e->op, want[i].op);
		assert_string_equal(e->path, want[i].path);
		assert_true(!ov == !e->old_val);
		assert_true(!nv == !e->new_val);
		if (ov)
			assert_true(json_equal(ov, e->old_val));
		if (nv)
			assert_true(json_equal(nv, e->new_val));
		json_decref(ov);
		json_decref(nv);
	}
	mf_diff_release(&d);
	assert_int_equal(d.nr, 0);
	assert_null(d.items);
}

static void test_canonical_diff_of_nested_objects_and_arrays(void **state)
{
	static const struct want_entry want[] = {
		{ MF_DIFF_ADD, "metadata.labels.env", NULL, "\"prod\"" },
		{ MF_DIFF_REMOVE, "metadata.labels.tier", "\"fe\"", NULL },
		{ MF_DIFF_REPLACE, "spec.replicas", "2", "3" },
		{ MF_DIFF_REPLACE, "spec.template.spec.containers[0].image",
		  "\"nginx:1.25\"", "\"nginx:1.26\"" },
		{ MF_DIFF_ADD, "spec.template.spec.containers[0].ports[1]",
		  NULL, "{\"containerPort\":443}" },
		{ MF_DIFF_REMOVE, "spec.template.spec.containers[1]",
		  "{\"name\":\"side\",\"image\":\"busybox\"}", NULL },
		{ MF_DIFF_ADD, "status", NULL, "{}" },
	};

	check_diff("{\"metadata\":{\"name\":\"web\",\"labels\":{"
		   "\"app.kubernetes.io/name\":\"web\",\"tier\":\"fe\"}},"
		   "\"spec\":{\"replicas\":2,\"template\":{\"spec\":{"
		   "\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.25\","
		   "\"ports\":[{\"containerPort\":80}]},"
		   "{\"name\":\"side\",\"image\":\"busybox\"}]}}}}",
		   "{\"status\":{},\"spec\":{\"template\":{\"spec\":{"
		   "\"containers\":[{\"ports\":[{\"containerPort\":80},"
		   "{\"containerPort\":443}],\"image\":\"nginx:1.26\","
		   "\"name\":\"web\"}]}},\"replicas\":3},"
		   "\"metadata\":{\"labels\":{\"env\":\"prod\","
		   "\"app.kubernetes.io/name\":\"web\"},\"name\":\"web\"}}",
		   want, SM_ARRAY_SIZE(want));
}

static void
test_canonical_diff_brackets_keys_that_are_not_identifiers(void **state)
{
	static const struct want_entry want[] = {
		/* Sorted by bytes: '1' < '_' < 'a' < 'm'. */
		{ MF_DIFF_REPLACE, "[1st]", "1", "2" },
		{ MF_DIFF_REPLACE, "_x", "1", "2" },
		{ MF_DIFF_REPLACE, "[a.b]", "1", "2" },
		{ MF_DIFF_REPLACE, "metadata.annotations[example.com/rev]",
		  "\"1\"", "\"2\"" },
		{ MF_DIFF_REPLACE, "metadata.labels[]", "\"a\"", "\"b\"" },
		{ MF_DIFF_REPLACE, "metadata.labels[my-app]", "\"a\"",
		  "\"b\"" },
		{ MF_DIFF_REPLACE, "v2.x1", "1", "2" },
	};

	check_diff("{\"a.b\":1,\"_x\":1,\"1st\":1,\"metadata\":{"
		   "\"annotations\":{\"example.com/rev\":\"1\"},"
		   "\"labels\":{\"my-app\":\"a\",\"\":\"a\"}},"
		   "\"v2\":{\"x1\":1}}",
		   "{\"a.b\":2,\"_x\":2,\"1st\":2,\"metadata\":{"
		   "\"annotations\":{\"example.com/rev\":\"2\"},"
		   "\"labels\":{\"my-app\":\"b\",\"\":\"b\"}},"
		   "\"v2\":{\"x1\":2}}",
		   want, SM_ARRAY_SIZE(want));
}

static void test_canonical_diff_replaces_values_of_another_type(void **state)
{
	static const struct want_entry want[] = {
		{ MF_DIFF_REPLACE, "a", "{\"b\":1}", "[1]" },
		{ MF_DIFF_REPLACE, "i", "1", "1.0" },
		{ MF_DIFF_REPLACE, "s", "\"1\"", "1" },
	};

	check_diff("{\"a\":{\"b\":1},\"i\":1,\"s\":\"1\",\"same\":[1,{}]}",
		   "{\"a\":[1],\"i\":1.0,\"s\":1,\"same\":[1,{}]}", want,
		   SM_ARRAY_SIZE(want));
}

static void test_canonical_diff_at_the_root(void **state)
{
	static const struct want_entry arr[] = {
		{ MF_DIFF_REPLACE, "[1]", "2", "3" },
		{ MF_DIFF_REMOVE, "[2]", "4", NULL },
	};
	static const struct want_entry scalar[] = {
		{ MF_DIFF_REPLACE, "", "1", "2" },
	};
	static const struct want_entry added[] = {
		{ MF_DIFF_ADD, "", NULL, "{\"a\":1}" },
	};

	check_diff("[1,2,4]", "[1,3]", arr, SM_ARRAY_SIZE(arr));
	check_diff("1", "2", scalar, SM_ARRAY_SIZE(scalar));
	check_diff(NULL, "{\"a\":1}", added, SM_ARRAY_SIZE(added));
}

static void test_canonical_diff_of_equal_objects_is_empty(void **state)
{
	check_diff("{\"a\":{\"b\":[1,2,{\"c\":null}]},\"d\":\"e\"}",
		   "{\"d\":\"e\",\"a\":{\"b\":[1,2,{\"c\":null}]}}", NULL, 0);
	check_diff(NULL, NULL, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_hash_matches_the_golden_value),
		cmocka_unit_test(
			test_canonical_hash_ignores_key_order_and_spacing),
		cmocka_unit_test(
			test_canonical_hash_differs_for_different_objects),
		cmocka_unit_test(
			test_canonical_hash_is_a_ten_character_label_value),
		cmocka_unit_test(
			test_canonical_hash_of_no_value_is_the_hash_of_null),
		cmocka_unit_test(
			test_canonical_diff_of_nested_objects_and_arrays),
		cmocka_unit_test(
			test_canonical_diff_brackets_keys_that_are_not_identifiers),
		cmocka_unit_test(
			test_canonical_diff_replaces_values_of_another_type),
		cmocka_unit_test(test_canonical_diff_at_the_root),
		cmocka_unit_test(test_canonical_diff_of_equal_objects_is_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
