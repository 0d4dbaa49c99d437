/*
 * test_webhook.c: who may trigger a sync, with the forges' own vectors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "reconciler/webhook.h"

#include "common/banned.h"

#define SECRET "It's a Secret to Everybody"
#define BODY "Hello, World!"
/* GitHub's documented example: this secret, this payload. */
#define SIG "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

static int check(const struct webhook_request *r, const char **scheme,
		 char *msg, size_t len)
{
	struct sm_err err = SM_ERR_INIT;
	int rc = webhook_authenticate(r, "api-token", SECRET, scheme, &err);

	msg[0] = 0;
	if (err.nr)
		memcpy(msg, err.items[0].msg,
		       strlen(err.items[0].msg) + 1 < len
			       ? strlen(err.items[0].msg) + 1
			       : len - 1);
	msg[len - 1] = 0;
	sm_err_release(&err);
	return rc;
}

static void test_github_signatures_are_checked_against_its_vector(void **state)
{
	struct webhook_request r = { .github_signature = "sha256=" SIG,
				     .body = BODY,
				     .len = strlen(BODY) };
	const char *scheme = NULL;
	char msg[256];

	assert_int_equal(check(&r, &scheme, msg, sizeof(msg)), 0);
	assert_string_equal(scheme, "github");
	/* Upper-case hex is the same signature. */
	r.github_signature = "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D"
			     "7586C22C46F4379C8B043E17";
	assert_int_equal(check(&r, &scheme, msg, sizeof(msg)), 0);
	/* Another body, or a signature without its prefix, is refused. */
	r.body = "Hello, World?";
	assert_int_equal(check(&r, &scheme, msg, sizeof(msg)), -EACCES);
	assert_non_null(strstr(msg, "X-Hub-Signature-256 does not match"));
	assert_null(strstr(msg, SECRET));
	r.body = BODY;
	r.github_signature = SIG;
	assert_int_equal(check(&r, &scheme, msg, sizeof(msg)), -EACCES);
}

static void test_gitea_and_gitlab_have_their_own_headers(void **state)
{
	struct webhook_request r = { .gitea_signature = SIG,
				     .body = BODY,
				     .len = strlen(BODY) };
	const char *scheme = NULL;
	char msg[256];

	assert_int_equal(check(&r, &scheme, msg, sizeof(msg)), 0);
	assert_string_equal(scheme, "gitea");
	r.gitea_signature = NULL;
	r.gitlab_token = SECRET;
	assert_int_equal(check(&r, &scheme, msg, sizeof(msg)), 0);
	assert_string_equal(scheme, "gitlab");
	r.gitlab_token = "It's a Secret to Everybod";
	assert_int_equal(check(&r, &scheme, msg, sizeof(msg)), -EACCES);
	assert_non_null(strstr(msg, "X-Gitlab-Token"));
}

static void test_the_bearer_token_works_and_nothing_else_gets_in(void **state)
{
	struct webhook_request r = { .authorization = "Bearer api-token" };
	const char *scheme = NULL;
	char msg[256];

	assert_int_equal(check(&r, &scheme, msg, sizeof(msg)), 0);
	assert_string_equal(scheme, "bearer");
	r.authorization = "Bearer api-toke";
	assert_int_equal(check(&r, &scheme, msg, sizeof(msg)), -EACCES);
	r.authorization = NULL;
	assert_int_equal(check(&r, &scheme, msg, sizeof(msg)), -EACCES);
	assert_non_null(strstr(msg, "no credentials"));
}

static void test_without_a_secret_signatures_never_pass(void **state)
{
	struct webhook_request r = { .gitlab_token = "",
				     .body = BODY,
				     .len = strlen(BODY) };
	struct sm_err err = SM_ERR_INIT;
	const char *scheme = NULL;

	assert_int_equal(webhook_authenticate(&r, "t", "", &scheme, &err),
			 -EACCES);
	assert_non_null(strstr(err.items[0].msg, "no shared secret"));
	sm_err_release(&err);
}

static void test_push_payloads_name_the_ref_and_commit(void **state)
{
	struct webhook_push p;
	struct sm_err err = SM_ERR_INIT;
	const char *github = "{\"ref\":\"refs/heads/main\",\"after\":"
			     "\"0123456789abcdef0123456789abcdef01234567\"}";
	const char *gitlab = "{\"object_kind\":\"push\",\"ref\":"
			     "\"refs/heads/dev\",\"checkout_sha\":\"abc\"}";

	assert_int_equal(webhook_parse_push(github, strlen(github), &p, &err),
			 0);
	assert_string_equal(p.ref, "refs/heads/main");
	assert_string_equal(p.after,
			    "0123456789abcdef0123456789abcdef01234567");
	assert_int_equal(webhook_parse_push(gitlab, strlen(gitlab), &p, &err),
			 0);
	assert_string_equal(p.ref, "refs/heads/dev");
	assert_string_equal(p.after, "abc");
	assert_int_equal(webhook_parse_push(" \n", 2, &p, &err), 0);
	assert_string_equal(p.ref, "");
	assert_int_equal(webhook_parse_push("[1]", 3, &p, &err), -EINVAL);
	assert_int_equal(webhook_parse_push("{", 1, &p, &err), -EINVAL);
	sm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_github_signatures_are_checked_against_its_vector),
		cmocka_unit_test(test_gitea_and_gitlab_have_their_own_headers),
		cmocka_unit_test(
			test_the_bearer_token_works_and_nothing_else_gets_in),
		cmocka_unit_test(test_without_a_secret_signatures_never_pass),
		cmocka_unit_test(test_push_payloads_name_the_ref_and_commit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
