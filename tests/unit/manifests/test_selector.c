/*
 * test_selector.c: label selectors in kubectl's string form and as
 * LabelSelector objects: parsing, printing, matching and the errors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/compat.h"
#include "common/err.h"
#include "manifests/selector.h"
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

/* Parses text, fails the test on error, and returns the printed form. */
static char *parse_format(const char *text, struct mf_selector *s)
{
	struct sm_err err = SM_ERR_INIT;
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	if (mf_selector_parse(s, text, NULL, &err)) {
		print_error("\"%s\": %s\n", text, err.items[0].msg);
		fail();
	}
	assert_int_equal(err.nr, 0);
	sm_err_release(&err);
	assert_int_equal(mf_selector_format(s, &out), 0);
	return sm_buf_detach(&out, NULL);
}

static void test_selector_parse_then_format_round_trips(void **state)
{
	static const char *const table[][2] = {
		{ "app=web", "app=web" },
		{ "app==web", "app=web" },
		{ "tier!=db", "tier!=db" },
		{ "env in (prod,staging)", "env in (prod,staging)" },
		{ "env in (staging,prod,prod)", "env in (prod,staging)" },
		{ "track notin (canary)", "track notin (canary)" },
		{ "release", "release" },
		{ "!beta", "!beta" },
		{ "app=web,tier!=db,env in (prod,staging),track notin "
		  "(canary),release,!beta",
		  "app=web,tier!=db,env in (prod,staging),track notin "
		  "(canary),release,!beta" },
		{ "  app = web ,  env in ( a , b )  ", "app=web,env in (a,b)" },
		{ "env in(prod)", "env in (prod)" },
		{ "app=", "app=" },
		{ "env in ()", "env in ()" },
		{ "x in (a,,b)", "x in (,a,b)" },
		{ "in=notin", "in=notin" },
		{ "notin notin (in)", "notin notin (in)" },
		{ "app.kubernetes.io/name=web", "app.kubernetes.io/name=web" },
		{ "b=1,a=2", "b=1,a=2" },
		{ "", "" },
		{ "   ", "" },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(table); i++) {
		struct mf_selector s = MF_SELECTOR_INIT;
		char *got = parse_format(table[i][0], &s);

		if (strcmp(got, table[i][1])) {
			print_error("\"%s\": printed \"%s\", want \"%s\"\n",
				    table[i][0], got, table[i][1]);
			fail();
		}
		free(got);
		mf_selector_release(&s);
	}
}

static void test_selector_parse_builds_each_operator(void **state)
{
	struct mf_selector s = MF_SELECTOR_INIT;
	char *f = parse_format("a=1,b==2,c!=3,d in (5,4),e notin (6),f,!g", &s);
	static const enum mf_sel_op ops[] = {
		MF_SEL_EQ,    MF_SEL_EQ,     MF_SEL_NEQ,      MF_SEL_IN,
		MF_SEL_NOTIN, MF_SEL_EXISTS, MF_SEL_NOTEXIST,
	};
	static const size_t nvals[] = { 1, 1, 1, 2, 1, 0, 0 };

	assert_int_equal(s.nr, SM_ARRAY_SIZE(ops));
	for (size_t i = 0; i < s.nr; i++) {
		assert_int_equal(s.reqs[i].key[0], 'a' + (int)i);
		assert_int_equal(s.reqs[i].op, ops[i]);
		assert_int_equal(s.reqs[i].nr_values, nvals[i]);
	}
	/* Value sets are kept sorted. */
	assert_string_equal(s.reqs[3].values[0], "4");
	assert_string_equal(s.reqs[3].values[1], "5");
	assert_false(mf_selector_empty(&s));
	free(f);
	mf_selector_release(&s);
	assert_true(mf_selector_empty(&s));
}

struct match_case {
	const char *selector;
	const char *labels; /* JSON object, or NULL for no labels */
	bool match;
};

static void test_selector_matches_table(void **state)
{
	static const struct match_case table[] = {
		{ "app=web", "{\"app\":\"web\"}", true },
		{ "app=web", "{\"app\":\"db\"}", false },
		{ "app=web", "{}", false },
		{ "app!=web", "{}", true },
		{ "app!=web", "{\"app\":\"web\"}", false },
		{ "app!=web", "{\"app\":\"db\"}", true },
		{ "env in (a,b)", "{\"env\":\"b\"}", true },
		{ "env in (a,b)", "{\"env\":\"c\"}", false },
		{ "env in (a,b)", NULL, false },
		{ "env notin (a,b)", "{\"env\":\"c\"}", true },
		{ "env notin (a,b)", "{\"env\":\"a\"}", false },
		{ "env notin (a,b)", NULL, true },
		{ "release", "{\"release\":\"\"}", true },
		{ "release", "{\"app\":\"x\"}", false },
		{ "!beta", "{\"app\":\"x\"}", true },
		{ "!beta", "{\"beta\":\"1\"}", false },
		{ "app=", "{\"app\":\"\"}", true },
		{ "app=", "{}", false },
		{ "", NULL, true },
		{ "", "{\"any\":\"thing\"}", true },
		{ "app=web,tier=fe", "{\"app\":\"web\",\"tier\":\"fe\"}",
		  true },
		{ "app=web,tier=fe", "{\"app\":\"web\",\"tier\":\"be\"}",
		  false },
		/* A label that is not a string is there, but equals nothing. */
		{ "n=1", "{\"n\":1}", false },
		{ "n!=1", "{\"n\":1}", true },
		{ "n", "{\"n\":1}", true },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(table); i++) {
		struct mf_selector s = MF_SELECTOR_INIT;
		json_t *labels = table[i].labels ? json(table[i].labels) : NULL;
		char *f = parse_format(table[i].selector, &s);

		if (mf_selector_matches(&s, labels) != table[i].match) {
			print_error("\"%s\" on %s: want %s\n",
				    table[i].selector,
				    table[i].labels ? table[i].labels : "NULL",
				    table[i].match ? "match" : "no match");
			fail();
		}
		free(f);
		json_decref(labels);
		mf_selector_release(&s);
	}
}

static void test_selector_parse_errors_name_the_position(void **state)
{
	static const char *const table[][2] = {
		{ "app in web", "label selector \"app in web\": position 8: "
				"expected '(', found 'web'" },
		{ "a,", "label selector \"a,\": position 3: expected a label "
			"key or '!', found end of string" },
		{ "=a", "label selector \"=a\": position 1: expected a label "
			"key or '!', found '='" },
		{ "a b", "label selector \"a b\": position 3: expected '=', "
			 "'==', '!=', 'in' or 'notin', found 'b'" },
		{ "a=b c", "label selector \"a=b c\": position 5: expected ',' "
			   "or end of string, found 'c'" },
		{ "a>1", "label selector \"a>1\": position 2: expected '=', "
			 "'==', '!=', 'in' or 'notin', found '>'" },
		{ "env in (a b)", "label selector \"env in (a b)\": position "
				  "11: expected ',' or ')', found 'b'" },
		{ "env in (a", "label selector \"env in (a\": position 10: "
			       "expected ',' or ')', found end of string" },
		{ "env in (=)", "label selector \"env in (=)\": position 9: "
				"expected a label value, ',' or ')', found "
				"'='" },
		{ "!a=b", "label selector \"!a=b\": position 3: expected ',' "
			  "or end of string, found '='" },
		{ "a=(b)", "label selector \"a=(b)\": position 3: expected a "
			   "label value, found '('" },
		{ "!", "label selector \"!\": position 2: expected a label "
		       "key, found end of string" },
		{ "-bad=x", "label selector \"-bad=x\": position 1: invalid "
			    "label key \"-bad\": name part must consist of "
			    "alphanumeric characters" },
		{ "app=-web", "label selector \"app=-web\": position 5: "
			      "invalid label value \"-web\": must be an empty "
			      "string or consist of" },
		{ "x in (ok,no way)", "label selector \"x in (ok,no way)\": "
				      "position 13: expected ',' or ')', "
				      "found 'way'" },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(table); i++) {
		struct mf_selector s = MF_SELECTOR_INIT;
		struct sm_err err = SM_ERR_INIT;
		int r = mf_selector_parse(&s, table[i][0], NULL, &err);
		const char *msg = err.nr ? err.items[0].msg : "(none)";

		if (r != -EINVAL || err.nr != 1 ||
		    strncmp(msg, table[i][1], strlen(table[i][1]))) {
			print_error("\"%s\": got %d \"%s\"\n  want \"%s\"\n",
				    table[i][0], r, msg, table[i][1]);
			fail();
		}
		/* Nothing half-built is left behind. */
		assert_int_equal(s.nr, 0);
		sm_err_release(&err);
	}
}

static void test_selector_parse_error_carries_the_callers_position(void **state)
{
	struct mf_selector s = MF_SELECTOR_INIT;
	struct sm_err err = SM_ERR_INIT;
	struct sm_pos pos = { "svc.yaml", 7, 12 };

	assert_int_equal(mf_selector_parse(&s, "a in", &pos, &err), -EINVAL);
	assert_int_equal(err.nr, 1);
	assert_string_equal(err.items[0].file, "svc.yaml");
	assert_int_equal(err.items[0].line, 7);
	assert_int_equal(err.items[0].col, 12);
	sm_err_release(&err);
}

/* Builds from JSON; returns the printed form, or NULL with errors in err. */
static char *from_json(const char *text, struct sm_err *err)
{
	struct mf_selector s = MF_SELECTOR_INIT;
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *j = json(text);
	int r = mf_selector_from_json(&s, j, "spec.selector", NULL, err);

	json_decref(j);
	if (r) {
		assert_int_equal(r, -EINVAL);
		assert_int_equal(s.nr, 0);
		return NULL;
	}
	assert_int_equal(mf_selector_format(&s, &out), 0);
	mf_selector_release(&s);
	return sm_buf_detach(&out, NULL);
}

static void
test_selector_from_json_prints_labels_sorted_then_expressions(void **state)
{
	struct sm_err err = SM_ERR_INIT;
	char *f = from_json(
		"{\"matchLabels\":{\"tier\":\"web\",\"app\":\"x\"},"
		"\"matchExpressions\":["
		"{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"prod\","
		"\"dev\"]},"
		"{\"key\":\"canary\",\"operator\":\"DoesNotExist\"},"
		"{\"key\":\"track\",\"operator\":\"NotIn\",\"values\":[\"a\"]},"
		"{\"key\":\"release\",\"operator\":\"Exists\",\"values\":[]}]}",
		&err);

	assert_int_equal(err.nr, 0);
	assert_non_null(f);
	assert_string_equal(f, "app=x,tier=web,env in (dev,prod),!canary,"
			       "track notin (a),release");
	free(f);
}

static void
test_selector_from_json_empty_object_selects_everything(void **state)
{
	struct mf_selector s = MF_SELECTOR_INIT;
	struct sm_err err = SM_ERR_INIT;
	json_t *j = json("{\"matchLabels\":null,\"matchExpressions\":[]}");
	json_t *labels = json("{\"a\":\"b\"}");

	assert_int_equal(
		mf_selector_from_json(&s, j, "spec.selector", NULL, &err), 0);
	assert_true(mf_selector_empty(&s));
	assert_true(mf_selector_matches(&s, labels));
	json_decref(j);
	json_decref(labels);
}

static void test_selector_from_json_type_errors_name_the_path(void **state)
{
	static const char *const table[][2] = {
		{ "\"app=web\"",
		  "spec.selector: expected an object, got string" },
		{ "{\"matchLabels\":[]}",
		  "spec.selector.matchLabels: expected an object, got array" },
		{ "{\"matchLabels\":{\"app\":1}}",
		  "spec.selector.matchLabels[app]: expected a string, got "
		  "integer" },
		{ "{\"matchLabels\":{\"bad key\":\"x\"}}",
		  "spec.selector.matchLabels: invalid label key \"bad key\": "
		  "name part must consist of" },
		{ "{\"matchLabels\":{\"app\":\"-x\"}}",
		  "spec.selector.matchLabels[app]: invalid label value \"-x\": "
		  "must be an empty string" },
		{ "{\"matchExpressions\":{}}",
		  "spec.selector.matchExpressions: expected an array, got "
		  "object" },
		{ "{\"matchExpressions\":[\"app\"]}",
		  "spec.selector.matchExpressions[0]: expected an object, got "
		  "string" },
		{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":1}]}",
		  "spec.selector.matchExpressions[0].operator: expected a "
		  "string, got integer" },
		{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":"
		  "\"Equals\"}]}",
		  "spec.selector.matchExpressions[0].operator: unsupported "
		  "value \"Equals\": supported values: \"In\", \"NotIn\", "
		  "\"Exists\", \"DoesNotExist\"" },
		{ "{\"matchExpressions\":[{\"operator\":\"Exists\"}]}",
		  "spec.selector.matchExpressions[0].key: required value" },
		{ "{\"matchExpressions\":[{\"key\":\"a\"}]}",
		  "spec.selector.matchExpressions[0].operator: required "
		  "value" },
		{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\"}]"
		  "}",
		  "spec.selector.matchExpressions[0].values: required value: "
		  "must be specified when operator is 'In' or 'NotIn'" },
		{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":"
		  "\"NotIn\",\"values\":[]}]}",
		  "spec.selector.matchExpressions[0].values: required value" },
		{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":"
		  "\"Exists\",\"values\":[\"x\"]}]}",
		  "spec.selector.matchExpressions[0].values: forbidden: may "
		  "not "
		  "be specified when operator is 'Exists' or 'DoesNotExist'" },
		{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\","
		  "\"values\":\"x\"}]}",
		  "spec.selector.matchExpressions[0].values: expected an "
		  "array, "
		  "got string" },
		{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\","
		  "\"values\":[\"x\",2]}]}",
		  "spec.selector.matchExpressions[0].values[1]: expected a "
		  "string, got integer" },
		{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\","
		  "\"values\":[\"x y\"]}]}",
		  "spec.selector.matchExpressions[0].values[0]: invalid label "
		  "value \"x y\"" },
		{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":"
		  "\"Exists\",\"value\":[\"x\"]}]}",
		  "spec.selector.matchExpressions[0]: unknown field "
		  "\"value\"" },
		{ "{\"matchLabel\":{\"app\":\"web\"}}",
		  "spec.selector: unknown field \"matchLabel\"" },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(table); i++) {
		struct sm_err err = SM_ERR_INIT;
		char *f = from_json(table[i][0], &err);
		const char *msg = err.nr ? err.items[0].msg : "(none)";

		if (f || err.nr != 1 ||
		    strncmp(msg, table[i][1], strlen(table[i][1]))) {
			print_error(
				"%s: got %zu errors, \"%s\"\n  want \"%s\"\n",
				table[i][0], err.nr, msg, table[i][1]);
			fail();
		}
		sm_err_release(&err);
	}
}

static void test_selector_from_json_reports_every_problem(void **state)
{
	struct sm_err err = SM_ERR_INIT;
	char *f = from_json("{\"matchLabels\":{\"a\":1,\"b\":true},"
			    "\"matchExpressions\":["
			    "{\"key\":\"c\",\"operator\":\"Has\"},"
			    "{\"key\":\"d\",\"operator\":\"In\"}]}",
			    &err);

	assert_null(f);
	assert_int_equal(err.nr, 4);
	assert_string_equal(err.items[0].msg, "spec.selector.matchLabels[a]: "
					      "expected a string, got integer");
	assert_string_equal(err.items[1].msg, "spec.selector.matchLabels[b]: "
					      "expected a string, got boolean");
	sm_err_release(&err);
}

static void test_selector_from_json_without_object_is_required(void **state)
{
	struct mf_selector s = MF_SELECTOR_INIT;
	struct sm_err err = SM_ERR_INIT;

	assert_int_equal(
		mf_selector_from_json(&s, NULL, "spec.selector", NULL, &err),
		-EINVAL);
	assert_int_equal(err.nr, 1);
	assert_string_equal(err.items[0].msg, "spec.selector: required value");
	sm_err_release(&err);
}

static void test_selector_format_is_all_or_nothing_when_full(void **state)
{
	struct mf_selector s = MF_SELECTOR_INIT;
	struct sm_buf out = SM_BUF_INIT(12);
	char *f = parse_format("app=web,env in (a,b)", &s);

	assert_int_equal(sm_buf_adds(&out, "sel: "), 0);
	assert_int_equal(mf_selector_format(&s, &out), -EMSGSIZE);
	assert_string_equal(sm_buf_cstr(&out), "sel: ");
	sm_buf_release(&out);
	free(f);
	mf_selector_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selector_parse_then_format_round_trips),
		cmocka_unit_test(test_selector_parse_builds_each_operator),
		cmocka_unit_test(test_selector_matches_table),
		cmocka_unit_test(test_selector_parse_errors_name_the_position),
		cmocka_unit_test(
			test_selector_parse_error_carries_the_callers_position),
		cmocka_unit_test(
			test_selector_from_json_prints_labels_sorted_then_expressions),
		cmocka_unit_test(
			test_selector_from_json_empty_object_selects_everything),
		cmocka_unit_test(
			test_selector_from_json_type_errors_name_the_path),
		cmocka_unit_test(test_selector_from_json_reports_every_problem),
		cmocka_unit_test(
			test_selector_from_json_without_object_is_required),
		cmocka_unit_test(
			test_selector_format_is_all_or_nothing_when_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
