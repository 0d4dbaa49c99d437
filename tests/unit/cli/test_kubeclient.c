/*
 * test_kubeclient.c: cli/kubeclient.h. Kubeconfigs as `stuurman up` and
 * kubectl write them, kubectl's ages, and calls over HTTPS to a real
 * `stuurman server` on a loopback port with the kubeconfig pki_kubeconfig()
 * makes for it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/kubeclient.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "reconciler/pki.h"
#include "reconciler/server.h"
#include "common/banned.h"

static const char plain_config[] =
	"apiVersion: v1\n"
	"kind: Config\n"
	"clusters:\n"
	"- name: other\n"
	"  cluster: {server: \"https://10.0.0.1:6443\"}\n"
	"- name: c\n"
	"  cluster:\n"
	"    server: https://127.0.0.1:6443/\n"
	"    certificate-authority: pki/ca.crt\n"
	"users:\n"
	"- name: u\n"
	"  user: {token: abc123}\n"
	"contexts:\n"
	"- name: x\n"
	"  context: {cluster: c, user: u, namespace: shop}\n"
	"current-context: x\n";

static int parse(const char *path, const char *text, struct kubeconfig *kc,
		 struct sm_err *err)
{
	return kubeconfig_parse(path, text, strlen(text), kc, err);
}

static void test_kubeconfig_takes_the_current_context(void **state)
{
	struct kubeconfig kc = KUBECONFIG_INIT;
	struct sm_err err = SM_ERR_INIT;

	assert_int_equal(parse("/d/kubeconfig", plain_config, &kc, &err), 0);
	assert_string_equal(kc.server, "https://127.0.0.1:6443");
	assert_string_equal(kc.ca_file, "/d/pki/ca.crt");
	assert_null(kc.ca_pem);
	assert_string_equal(kc.token, "abc123");
	assert_string_equal(kc.namespace, "shop");
	kubeconfig_release(&kc);
	sm_err_release(&err);
}

static void test_kubeconfig_of_pki_carries_ca_data_and_token(void **state)
{
	struct pki p = PKI_INIT;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct kubeconfig kc = KUBECONFIG_INIT;
	struct sm_err err = SM_ERR_INIT;

	p.ca_pem = (char *)"-----BEGIN CERTIFICATE-----\nAAAA\n"
			   "-----END CERTIFICATE-----\n";
	p.api_token = (char *)"0123abcd";
	assert_int_equal(pki_kubeconfig(&p, "https://127.0.0.1:7443",
					"stuurman", &b, &err),
			 0);
	assert_int_equal(parse("kubeconfig", sm_buf_cstr(&b), &kc, &err), 0);
	assert_string_equal(kc.server, "https://127.0.0.1:7443");
	assert_string_equal(kc.ca_pem, p.ca_pem);
	assert_null(kc.ca_file);
	assert_string_equal(kc.token, "0123abcd");
	assert_string_equal(kc.namespace, "default");
	kubeconfig_release(&kc);
	sm_buf_release(&b);
	sm_err_release(&err);
}

static void test_kubeconfig_reads_a_token_file_beside_it(void **state)
{
	char dir[] = "/tmp/sm-kc-XXXXXX";
	struct kubeconfig kc = KUBECONFIG_INIT;
	struct sm_err err = SM_ERR_INIT;
	char *tok, *cfg, *text;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	tok = xasprintf("%s/token", dir);
	cfg = xasprintf("%s/kubeconfig", dir);
	f = fopen(tok, "w");
	assert_non_null(f);
	fputs("s3cret\n", f);
	fclose(f);
	text = xasprintf("clusters: [{name: c, cluster: {server: "
			 "'https://h:1'}}]\n"
			 "users: [{name: u, user: {tokenFile: token}}]\n"
			 "contexts: [{name: x, context: {cluster: c, user: "
			 "u}}]\n"
			 "current-context: x\n");
	f = fopen(cfg, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(kubeconfig_load(cfg, &kc, &err), 0);
	assert_string_equal(kc.token, "s3cret");
	assert_string_equal(kc.namespace, "default");
	kubeconfig_release(&kc);
	unlink(tok);
	unlink(cfg);
	rmdir(dir);
	free(tok);
	free(cfg);
	free(text);
	sm_err_release(&err);
}

/* Each broken kubeconfig fails with a message naming the file and what. */
static void test_kubeconfig_errors_say_what_is_missing(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "kind: Config\n", "no current-context" },
		{ "current-context: x\ncontexts: []\n",
		  "context \"x\" not found" },
		{ "current-context: x\n"
		  "contexts: [{name: x, context: {cluster: c, user: u}}]\n",
		  "cluster \"c\" not found" },
		{ "current-context: x\n"
		  "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
		  "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n",
		  "user \"u\" not found" },
		{ "current-context: x\n"
		  "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
		  "clusters: [{name: c, cluster: {server: 'http://h:1'}}]\n"
		  "users: [{name: u, user: {token: t}}]\n",
		  "server must be an https:// URL" },
		{ "current-context: x\n"
		  "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
		  "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
		  "users: [{name: u, user: {client-certificate: a.crt}}]\n",
		  "only bearer tokens" },
		{ "current-context: x\n"
		  "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
		  "clusters: [{name: c, cluster: {server: 'https://h:1', "
		  "certificate-authority-data: '!!'}}]\n"
		  "users: [{name: u, user: {token: t}}]\n",
		  "not base64" },
		{ "a: [\n", "yaml" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kubeconfig kc = KUBECONFIG_INIT;
		struct sm_err err = SM_ERR_INIT;
		struct sm_buf msg = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		assert_int_equal(parse("kc.yaml", cases[i].text, &kc, &err),
				 -EINVAL);
		assert_true(err.nr > 0);
		sm_diag_format(&err.items[0], &msg);
		if (!strstr(sm_buf_cstr(&msg), cases[i].want) ||
		    !strstr(sm_buf_cstr(&msg), "kc.yaml"))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i,
				 sm_buf_cstr(&msg), cases[i].want);
		assert_null(kc.server);
		assert_null(kc.token);
		sm_buf_release(&msg);
		sm_err_release(&err);
	}
}

static void test_kubeconfig_path_prefers_flag_then_data_then_env(void **state)
{
	char *p;

	setenv("KUBECONFIG", "/e/one:/e/two", 1);
	p = kubeconfig_path("/flag", "/data", "/def");
	assert_string_equal(p, "/flag");
	free(p);
	p = kubeconfig_path(NULL, "/data", "/def");
	assert_string_equal(p, "/data/kubeconfig");
	free(p);
	p = kubeconfig_path(NULL, NULL, "/def");
	assert_string_equal(p, "/e/one");
	free(p);
	unsetenv("KUBECONFIG");
	p = kubeconfig_path(NULL, NULL, "/def");
	assert_string_equal(p, "/def/kubeconfig");
	free(p);
	assert_null(kubeconfig_path(NULL, NULL, NULL));
}

static void test_times_parse_as_rfc3339_utc(void **state)
{
	time_t t;

	assert_int_equal(kubecli_parse_time("2026-11-26T01:19:14Z", &t), 0);
	assert_int_equal((int64_t)t, 1795655954);
	assert_int_equal(kubecli_parse_time("1970-01-01T00:00:01.250Z", &t), 0);
	assert_int_equal((int64_t)t, 1);
	assert_int_equal(kubecli_parse_time("2026-11-26T01:19:14+01:00", &t),
			 -EINVAL);
	assert_int_equal(kubecli_parse_time("yesterday", &t), -EINVAL);
	assert_int_equal(kubecli_parse_time(NULL, &t), -EINVAL);
}

/* kubectl's ages (k8s.io/apimachinery duration.HumanDuration). */
static void test_ages_read_as_kubectl_prints_them(void **state)
{
	static const struct {
		int64_t s;
		const char *want;
	} cases[] = {
		{ -5, "0s" },
		{ 0, "0s" },
		{ 45, "45s" },
		{ 119, "119s" },
		{ 120, "2m" },
		{ 200, "3m20s" },
		{ 599, "9m59s" },
		{ 600, "10m" },
		{ 3 * 3600 - 1, "179m" },
		{ 3 * 3600, "3h" },
		{ 3 * 3600 + 60, "3h1m" },
		{ 8 * 3600, "8h" },
		{ 47 * 3600 + 59 * 60, "47h" },
		{ 48 * 3600, "2d" },
		{ 49 * 3600, "2d1h" },
		{ 8 * 86400, "8d" },
		{ 729 * 86400, "729d" },
		{ 730 * 86400, "2y" },
		{ 731 * 86400, "2y1d" },
		{ 8 * 365 * 86400, "8y" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kubecli_human_age(cases[i].s, buf, sizeof(buf));
		if (strcmp(buf, cases[i].want))
			fail_msg("%lld s: got \"%s\", want \"%s\"",
				 (long long)cases[i].s, buf, cases[i].want);
	}
}

static void test_status_message_only_of_status_objects(void **state)
{
	json_t *st = json_pack("{s:s, s:s}", "kind", "Status", "message",
			       "pods \"x\" not found");
	json_t *pod = json_pack("{s:s, s:s}", "kind", "Pod", "message", "no");

	assert_string_equal(kubecli_status_message(st), "pods \"x\" not found");
	assert_null(kubecli_status_message(pod));
	assert_null(kubecli_status_message(NULL));
	json_decref(st);
	json_decref(pod);
}

/* A real server: its CA and token, through a kubeconfig of pki's making. */
struct live {
	char dir[32];
	uv_loop_t loop;
	struct server *server;
	struct kubeconfig kc;
};

static int live_setup(void **state)
{
	struct live *l = xcalloc(1, sizeof(*l));
	struct server_opts so = { 0 };
	struct sm_err err = SM_ERR_INIT;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct pki p = PKI_INIT;
	char *pki_dir, *url;

	snprintf(l->dir, sizeof(l->dir), "/tmp/sm-kcl-XXXXXX");
	assert_non_null(mkdtemp(l->dir));
	assert_int_equal(uv_loop_init(&l->loop), 0);
	so.data_dir = l->dir;
	so.listen = "127.0.0.1:0";
	if (server_start(&l->loop, &so, &l->server, &err))
		fail_msg("server_start: %s", err.nr ? err.items[0].msg : "?");
	pki_dir = xasprintf("%s/pki", l->dir);
	assert_int_equal(pki_ensure(pki_dir, NULL, 0, &p, &err), 0);
	url = xasprintf("https://127.0.0.1:%d", server_port(l->server));
	assert_int_equal(pki_kubeconfig(&p, url, "t", &b, &err), 0);
	assert_int_equal(
		kubeconfig_parse("kc", sm_buf_cstr(&b), b.len, &l->kc, &err),
		0);
	pki_release(&p);
	sm_buf_release(&b);
	sm_err_release(&err);
	free(pki_dir);
	free(url);
	*state = l;
	return 0;
}

static int live_teardown(void **state)
{
	struct live *l = *state;
	char *cmd = xasprintf("rm -rf '%s'", l->dir);

	server_free(l->server);
	uv_run(&l->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&l->loop), 0);
	kubeconfig_release(&l->kc);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(l);
	return 0;
}

static void test_calls_reach_the_api_over_https_with_the_token(void **state)
{
	struct live *l = *state;
	struct sm_err err = SM_ERR_INIT;
	struct kubecli *c = kubecli_new(&l->loop, &l->kc, &err);
	json_t *body = NULL, *ns;
	int r;

	assert_non_null(c);
	ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
		       "Namespace", "metadata", "name", "shop");
	r = kubecli_call(c, "POST", "/api/v1/namespaces", NULL, ns, &body,
			 &err);
	assert_int_equal(r, 201);
	json_decref(body);
	r = kubecli_call(c, "GET", "/api/v1/namespaces/shop", NULL, NULL, &body,
			 &err);
	assert_int_equal(r, 200);
	assert_string_equal(
		json_string_value(sm_json_get_path(body, "metadata.name")),
		"shop");
	json_decref(body);
	r = kubecli_call(c, "GET", "/api/v1/namespaces/default/pods/none", NULL,
			 NULL, &body, &err);
	assert_int_equal(r, 404);
	assert_non_null(strstr(kubecli_status_message(body), "none"));
	json_decref(body);
	json_decref(ns);
	kubecli_free(c);
	sm_err_release(&err);
}

static void test_a_wrong_token_is_refused(void **state)
{
	struct live *l = *state;
	struct sm_err err = SM_ERR_INIT;
	struct kubecli *c;
	json_t *body = NULL;

	free(l->kc.token);
	l->kc.token = xstrdup("wrong");
	c = kubecli_new(&l->loop, &l->kc, &err);
	assert_int_equal(kubecli_call(c, "GET", "/api/v1/nodes", NULL, NULL,
				      &body, &err),
			 401);
	json_decref(body);
	kubecli_free(c);
	sm_err_release(&err);
}

static void test_no_server_is_an_error_not_a_status(void **state)
{
	struct kubeconfig kc = KUBECONFIG_INIT;
	struct sm_err err = SM_ERR_INIT;
	struct kubecli *c;
	json_t *body = NULL;
	uv_loop_t loop;

	uv_loop_init(&loop);
	kc.server = (char *)"https://127.0.0.1:1";
	kc.token = (char *)"t";
	c = kubecli_new(&loop, &kc, &err);
	assert_non_null(c);
	assert_true(kubecli_call(c, "GET", "/version", NULL, NULL, &body,
				 &err) < 0);
	assert_null(body);
	assert_true(sm_err_failed(&err));
	assert_non_null(strstr(err.items[0].msg, "127.0.0.1:1"));
	kubecli_free(c);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	sm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kubeconfig_takes_the_current_context),
		cmocka_unit_test(
			test_kubeconfig_of_pki_carries_ca_data_and_token),
		cmocka_unit_test(test_kubeconfig_reads_a_token_file_beside_it),
		cmocka_unit_test(test_kubeconfig_errors_say_what_is_missing),
		cmocka_unit_test(
			test_kubeconfig_path_prefers_flag_then_data_then_env),
		cmocka_unit_test(test_times_parse_as_rfc3339_utc),
		cmocka_unit_test(test_ages_read_as_kubectl_prints_them),
		cmocka_unit_test(test_status_message_only_of_status_objects),
		cmocka_unit_test_setup_teardown(
			test_calls_reach_the_api_over_https_with_the_token,
			live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_a_wrong_token_is_refused,
						live_setup, live_teardown),
		cmocka_unit_test(test_no_server_is_an_error_not_a_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
