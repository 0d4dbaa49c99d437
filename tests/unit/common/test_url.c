/*
 * test_url.c: percent-decoding and query strings as kubectl sends them
 * (url.Values encoding: '+' for spaces, %3D, %2C, repeated keys for exec).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/url.h"
#include "common/banned.h"

static void test_url_decode_table(void **state)
{
	static const struct {
		const char *in;
		bool form;
		int rc;
		const char *out;
	} t[] = {
		{ "", true, 0, "" },
		{ "plain", true, 0, "plain" },
		{ "a%20b", false, 0, "a b" },
		{ "a+b", true, 0, "a b" },
		{ "a+b", false, 0, "a+b" },
		{ "metadata.name%3Dweb%2Cspec.nodeName%3D", true, 0,
		  "metadata.name=web,spec.nodeName=" },
		{ "kubernetes.io%2fcluster-service%3dtrue", true, 0,
		  "kubernetes.io/cluster-service=true" },
		{ "status.phase%21%3DFailed", true, 0, "status.phase!=Failed" },
		{ "%C3%A9t%C3%A9", true, 0, "\xc3\xa9t\xc3\xa9" },
		{ "100%25", true, 0, "100%" },
		{ "%2B", true, 0, "+" },
		{ "%", true, -EINVAL, NULL },
		{ "a%4", true, -EINVAL, NULL },
		{ "%zz", true, -EINVAL, NULL },
		{ "%g1", true, -EINVAL, NULL },
		{ "a%00b", true, -EINVAL, NULL },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(t); i++) {
		struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		int rc;

		sm_buf_adds(&b, "<");
		rc = sm_url_decode(t[i].in, strlen(t[i].in), t[i].form, &b);
		if (rc != t[i].rc) {
			print_error("\"%s\": got %d, want %d\n", t[i].in, rc,
				    t[i].rc);
			fail();
		}
		if (rc)
			/* Nothing is appended on failure. */
			assert_string_equal(sm_buf_cstr(&b), "<");
		else
			assert_string_equal(sm_buf_cstr(&b) + 1, t[i].out);
		sm_buf_release(&b);
	}
}

static void test_url_decode_past_the_maximum_changes_nothing(void **state)
{
	struct sm_buf b = SM_BUF_INIT(4);

	sm_buf_adds(&b, "ab");
	assert_int_equal(sm_url_decode("c%20d", 5, true, &b), -EMSGSIZE);
	assert_string_equal(sm_buf_cstr(&b), "ab");
	assert_int_equal(sm_url_decode("c+", 2, true, &b), 0);
	assert_string_equal(sm_buf_cstr(&b), "abc ");
	sm_buf_release(&b);
}

/* Joins every pair as "key=value|" (errors as "!|"). */
static char *pairs(const char *query)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_query q;
	const char *k, *v;
	int rc;

	sm_query_init(&q, query);
	while ((rc = sm_query_next(&q, &k, &v, NULL)) != 0) {
		if (rc < 0)
			sm_buf_adds(&b, "!|");
		else
			sm_buf_addf(&b, "%s=%s|", k, v);
	}
	sm_query_release(&q);
	return sm_buf_detach(&b, NULL);
}

static void test_query_pairs_come_in_order_with_repeats(void **state)
{
	static const char *const t[][2] = {
		{ "", "" },
		{ "limit=500", "limit=500|" },
		{ "fieldSelector=metadata.name%3Dweb&limit=500&"
		  "resourceVersion=0",
		  "fieldSelector=metadata.name=web|limit=500|"
		  "resourceVersion=0|" },
		{ "command=sh&command=-c&command=echo+hi+%26+bye&container="
		  "main&stdout=true",
		  "command=sh|command=-c|command=echo hi & bye|container=main|"
		  "stdout=true|" },
		{ "watch&follow=", "watch=|follow=|" },
		{ "a=1&&b=2&", "a=1|b=2|" },
		{ "&&", "" },
		{ "=x", "=x|" },
		{ "a=b=c", "a=b=c|" },
		{ "a%3Db=c", "a=b=c|" },
		{ "a=%zz&b=2", "!|b=2|" },
		{ "%=1&c=3", "!|c=3|" },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(t); i++) {
		char *got = pairs(t[i][0]);

		if (strcmp(got, t[i][1])) {
			print_error("\"%s\": got \"%s\", want \"%s\"\n",
				    t[i][0], got, t[i][1]);
			fail();
		}
		free(got);
	}
	{
		char *none = pairs(NULL);

		assert_string_equal(none, "");
		free(none);
	}
}

static void test_query_error_names_the_pair(void **state)
{
	struct sm_err err = SM_ERR_INIT;
	struct sm_query q;
	const char *k = NULL, *v = NULL;

	sm_query_init(&q, "limit=500&labelSelector=app%3&watch=1");
	assert_int_equal(sm_query_next(&q, &k, &v, &err), 1);
	assert_string_equal(k, "limit");
	assert_int_equal(sm_query_next(&q, &k, &v, &err), -EINVAL);
	assert_int_equal(err.nr, 1);
	assert_string_equal(err.items[0].msg,
			    "query parameter \"labelSelector=app%3\": invalid "
			    "percent-encoding");
	assert_int_equal(sm_query_next(&q, &k, &v, &err), 1);
	assert_string_equal(k, "watch");
	assert_string_equal(v, "1");
	assert_int_equal(sm_query_next(&q, &k, &v, &err), 0);
	sm_query_release(&q);
	sm_err_release(&err);
}

static void test_query_get_finds_the_first_value(void **state)
{
	struct sm_err err = SM_ERR_INIT;
	char *v = (char *)"unset";

	assert_int_equal(sm_query_get("container=main&command=ls&command=-l",
				      "command", &v, &err),
			 1);
	assert_string_equal(v, "ls");
	free(v);
	assert_int_equal(sm_query_get("follow=true", "tailLines", &v, &err), 0);
	assert_null(v);
	assert_int_equal(sm_query_get("watch", "watch", &v, &err), 1);
	assert_string_equal(v, "");
	free(v);
	assert_int_equal(sm_query_get("a=%zz&b=1", "b", &v, &err), -EINVAL);
	assert_null(v);
	assert_int_equal(err.nr, 1);
	assert_int_equal(sm_query_get(NULL, "b", &v, NULL), 0);
	sm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_decode_table),
		cmocka_unit_test(
			test_url_decode_past_the_maximum_changes_nothing),
		cmocka_unit_test(test_query_pairs_come_in_order_with_repeats),
		cmocka_unit_test(test_query_error_names_the_pair),
		cmocka_unit_test(test_query_get_finds_the_first_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
