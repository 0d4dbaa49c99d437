/*
 * test_names.c: the Kubernetes name formats, with each rule and the length
 * limits on both sides of the boundary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/compat.h"
#include "manifests/names.h"
#include "common/banned.h"

typedef const char *(*check_fn)(const char *);

/*
 * One case: the check, the input and what the message must start with
 * (NULL when the input is valid).
 */
struct name_case {
	const char *in;
	const char *want;
};

static void run_cases(const char *what, check_fn check,
		      const struct name_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *got = check(cases[i].in);
		const char *want = cases[i].want;
		bool ok = want ? got && !strncmp(got, want, strlen(want))
			       : got == NULL;

		if (!ok) {
			print_error("%s \"%s\": got \"%s\", want \"%s\"\n",
				    what, cases[i].in, got ? got : "(valid)",
				    want ? want : "(valid)");
			fail();
		}
	}
}

/* A string of n copies of c, then tail (for "a...a-" style inputs). */
static char *repeat(char c, size_t n, const char *tail)
{
	size_t tl = strlen(tail);
	char *s = malloc(n + tl + 1);

	assert_non_null(s);
	memset(s, c, n);
	memcpy(s + n, tail, tl + 1);
	return s;
}

#define RUN(check, cases) run_cases(#check, check, cases, SM_ARRAY_SIZE(cases))

static const char label_fmt[] =
	"must consist of lower case alphanumeric characters or '-', and must "
	"start and end with an alphanumeric character (e.g. 'my-name')";

static void test_names_dns1123_label_message_is_kubernetes_wording(void **state)
{
	assert_string_equal(mf_check_dns1123_label("Web_1"), label_fmt);
}

static void test_names_dns1123_label_rules(void **state)
{
	static const struct name_case cases[] = {
		{ "a", NULL },
		{ "my-name", NULL },
		{ "123-abc", NULL },
		{ "0", NULL },
		{ "a--b", NULL },
		{ "", "must consist of lower case" },
		{ "-a", "must consist of lower case" },
		{ "a-", "must consist of lower case" },
		{ "a.b", "must consist of lower case" },
		{ "Web", "must consist of lower case" },
		{ "caf\xc3\xa9", "must consist of lower case" },
	};

	RUN(mf_check_dns1123_label, cases);
}

static void test_names_dns1123_label_allows_63_not_64(void **state)
{
	char *ok = repeat('a', 63, ""), *bad = repeat('a', 64, "");

	assert_null(mf_check_dns1123_label(ok));
	assert_string_equal(mf_check_dns1123_label(bad),
			    "must be no more than 63 characters");
	free(ok);
	free(bad);
}

static void test_names_dns1123_subdomain_rules(void **state)
{
	static const struct name_case cases[] = {
		{ "example.com", NULL },
		{ "a", NULL },
		{ "web-1.default.svc", NULL },
		{ "", "must consist of lower case alphanumeric characters, '-' "
		      "or '.'" },
		{ ".a", "must consist of lower case" },
		{ "a.", "must consist of lower case" },
		{ "a..b", "must consist of lower case" },
		{ "a.-b", "must consist of lower case" },
		{ "Example.com", "must consist of lower case" },
		{ "a_b.com", "must consist of lower case" },
	};

	RUN(mf_check_dns1123_subdomain, cases);
}

static void test_names_dns1123_subdomain_allows_253_not_254(void **state)
{
	/* "a.a.a...a": 127 labels, 253 characters; one more "a." is 255. */
	char *ok = malloc(256);
	char *label = repeat('b', 100, "");

	assert_non_null(ok);
	for (size_t i = 0; i < 253; i++)
		ok[i] = i % 2 ? '.' : 'a';
	ok[253] = '\0';
	assert_null(mf_check_dns1123_subdomain(ok));
	ok[253] = 'a';
	ok[254] = '\0';
	/* 254 characters ending in "aa": only the length is wrong. */
	assert_string_equal(mf_check_dns1123_subdomain(ok),
			    "must be no more than 253 characters");
	/* Kubernetes limits the whole name, not each label. */
	assert_null(mf_check_dns1123_subdomain(label));
	free(ok);
	free(label);
}

static void test_names_dns1035_label_must_start_with_a_letter(void **state)
{
	static const struct name_case cases[] = {
		{ "my-name", NULL },
		{ "abc-123", NULL },
		{ "a", NULL },
		{ "1abc", "must consist of lower case alphanumeric characters "
			  "or '-', start with an alphabetic character" },
		{ "-abc", "must consist of lower case" },
		{ "abc-", "must consist of lower case" },
		{ "Abc", "must consist of lower case" },
		{ "", "must consist of lower case" },
	};
	char *ok = repeat('a', 63, ""), *bad = repeat('a', 64, "");

	RUN(mf_check_dns1035_label, cases);
	assert_null(mf_check_dns1035_label(ok));
	assert_string_equal(mf_check_dns1035_label(bad),
			    "must be no more than 63 characters");
	free(ok);
	free(bad);
}

static void test_names_qualified_name_rules(void **state)
{
	static const struct name_case cases[] = {
		{ "app", NULL },
		{ "app.kubernetes.io/name", NULL },
		{ "MyName", NULL },
		{ "my.name", NULL },
		{ "123-abc", NULL },
		{ "a_b", NULL },
		{ "", "name part must be non-empty" },
		{ "/name", "prefix part must be non-empty" },
		{ "example.com/", "name part must be non-empty" },
		{ "a/b/c", "a qualified name must consist of" },
		{ "Example.com/x", "prefix part must consist of lower case" },
		{ "-x", "name part must consist of alphanumeric" },
		{ "x_", "name part must consist of alphanumeric" },
		{ "my key", "name part must consist of alphanumeric" },
	};

	RUN(mf_check_qualified_name, cases);
}

static void test_names_qualified_name_lengths(void **state)
{
	char *name63 = repeat('x', 63, ""), *name64 = repeat('x', 64, "");
	char *prefix253 = repeat('p', 253, "/x");
	char *prefix254 = repeat('p', 254, "/x");

	assert_null(mf_check_qualified_name(name63));
	assert_string_equal(mf_check_qualified_name(name64),
			    "name part must be no more than 63 characters");
	assert_null(mf_check_qualified_name(prefix253));
	assert_string_equal(mf_check_qualified_name(prefix254),
			    "prefix part must be no more than 253 characters");
	free(name63);
	free(name64);
	free(prefix253);
	free(prefix254);
}

static void test_names_label_value_may_be_empty(void **state)
{
	static const struct name_case cases[] = {
		{ "", NULL },
		{ "MyValue", NULL },
		{ "my_value", NULL },
		{ "12345", NULL },
		{ "v1.2.3", NULL },
		{ "-x", "must be an empty string or consist of alphanumeric" },
		{ "x.", "must be an empty string or consist" },
		{ "a b", "must be an empty string or consist" },
		{ "a/b", "must be an empty string or consist" },
	};
	char *ok = repeat('v', 63, ""), *bad = repeat('v', 64, "");

	RUN(mf_check_label_value, cases);
	assert_null(mf_check_label_value(ok));
	assert_string_equal(mf_check_label_value(bad),
			    "must be no more than 63 characters");
	free(ok);
	free(bad);
}

static void test_names_port_name_is_an_iana_service_name(void **state)
{
	static const struct name_case cases[] = {
		{ "http", NULL },
		{ "h2", NULL },
		{ "web-8080", NULL },
		{ "abcdefghijklmno", NULL },
		{ "abcdefghijklmnop", "must be no more than 15 characters" },
		{ "", "must contain only alpha-numeric characters" },
		{ "HTTP", "must contain only alpha-numeric characters" },
		{ "http_alt", "must contain only alpha-numeric characters" },
		{ "8080", "must contain at least one letter (a-z)" },
		{ "a--b", "must not contain consecutive hyphens" },
		{ "-http", "must not begin or end with a hyphen" },
		{ "http-", "must not begin or end with a hyphen" },
	};

	RUN(mf_check_port_name, cases);
}

static void test_names_env_var_name_rules(void **state)
{
	static const struct name_case cases[] = {
		{ "MY_ENV.NAME", NULL },
		{ "my.env-name", NULL },
		{ "MyEnvName1", NULL },
		{ "_x", NULL },
		{ ".x", NULL },
		{ "1ABC", "must consist of alphabetic characters, digits" },
		{ "A B", "must consist of alphabetic characters" },
		{ "A=B", "must consist of alphabetic characters" },
		{ "", "must consist of alphabetic characters" },
		{ ".", "must not be '.'" },
		{ "..", "must not be '..'" },
		{ "..x", "must not start with '..'" },
	};

	RUN(mf_check_env_var_name, cases);
}

static void test_names_config_key_rules(void **state)
{
	static const struct name_case cases[] = {
		{ "key.name", NULL },
		{ "KEY_NAME", NULL },
		{ "key-name", NULL },
		{ ".dotfile", NULL },
		{ "1", NULL },
		{ "", "must consist of alphanumeric characters, '-', '_' or " },
		{ "a/b", "must consist of alphanumeric characters" },
		{ "a b", "must consist of alphanumeric characters" },
		{ ".", "must not be '.'" },
		{ "..", "must not be '..'" },
		{ "..data", "must not start with '..'" },
	};
	char *ok = repeat('k', 253, ""), *bad = repeat('k', 254, "");

	RUN(mf_check_config_key, cases);
	assert_null(mf_check_config_key(ok));
	assert_string_equal(mf_check_config_key(bad),
			    "must be no more than 253 characters");
	free(ok);
	free(bad);
}

static void test_names_percent_is_0_to_100(void **state)
{
	static const struct name_case cases[] = {
		{ "25%", NULL },
		{ "0%", NULL },
		{ "100%", NULL },
		{ "007%", NULL },
		{ "101%", "must not be greater than 100%" },
		{ "99999999999999999999%", "must not be greater than 100%" },
		{ "25", "must be a numeric string followed by an ending '%'" },
		{ "%", "must be a numeric string" },
		{ "25%%", "must be a numeric string" },
		{ "-1%", "must be a numeric string" },
		{ "2 5%", "must be a numeric string" },
		{ "", "must be a numeric string" },
	};

	RUN(mf_check_percent, cases);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_names_dns1123_label_message_is_kubernetes_wording),
		cmocka_unit_test(test_names_dns1123_label_rules),
		cmocka_unit_test(test_names_dns1123_label_allows_63_not_64),
		cmocka_unit_test(test_names_dns1123_subdomain_rules),
		cmocka_unit_test(
			test_names_dns1123_subdomain_allows_253_not_254),
		cmocka_unit_test(
			test_names_dns1035_label_must_start_with_a_letter),
		cmocka_unit_test(test_names_qualified_name_rules),
		cmocka_unit_test(test_names_qualified_name_lengths),
		cmocka_unit_test(test_names_label_value_may_be_empty),
		cmocka_unit_test(test_names_port_name_is_an_iana_service_name),
		cmocka_unit_test(test_names_env_var_name_rules),
		cmocka_unit_test(test_names_config_key_rules),
		cmocka_unit_test(test_names_percent_is_0_to_100),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
