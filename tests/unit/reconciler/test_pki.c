/*
 * Tests for reconciler/pki.c: the files and their modes, the certificates
 * checked with OpenSSL's own verifier, reuse and renewal, tokens, the
 * bearer check and the kubeconfig. Each test works in a fresh directory
 * under /tmp and removes it.
 */
#include <errno.h>
#include <ftw.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "reconciler/pki.h"
#include "common/banned.h"

struct fixture {
	char top[32];
	char *dir; /* top/data: pki_ensure() creates it */
	struct sm_err err;
	struct pki pki;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->top, sizeof(f->top), "/tmp/sm-pki-XXXXXX");
	assert_non_null(mkdtemp(f->top));
	f->dir = xasprintf("%s/data", f->top);
	sm_err_init(&f->err);
	*state = f;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pki_release(&f->pki);
	sm_err_release(&f->err);
	nftw(f->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f->dir);
	free(f);
	return 0;
}

static char *path_of(struct fixture *f, const char *name)
{
	return xasprintf("%s/%s", f->dir, name);
}

static unsigned mode_of(struct fixture *f, const char *name)
{
	char *p = path_of(f, name);
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	free(p);
	return (unsigned)(st.st_mode & 07777);
}

static char *slurp(struct fixture *f, const char *name)
{
	struct sm_buf b = SM_BUF_INIT(1u << 20);
	char *p = path_of(f, name);

	assert_int_equal(sm_buf_read_file(&b, p), 0);
	free(p);
	return sm_buf_detach(&b, NULL);
}

static X509 *cert_of(struct fixture *f, const char *name)
{
	char *p = path_of(f, name);
	FILE *fp = fopen(p, "r");
	X509 *x;

	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	free(p);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *key_of(struct fixture *f, const char *name)
{
	char *p = path_of(f, name);
	FILE *fp = fopen(p, "r");
	EVP_PKEY *k;

	assert_non_null(fp);
	k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	free(p);
	assert_non_null(k);
	return k;
}

static void ensure(struct fixture *f, const char *const *sans, size_t n)
{
	pki_release(&f->pki);
	assert_int_equal(pki_ensure(f->dir, sans, n, &f->pki, &f->err), 0);
	assert_false(sm_err_failed(&f->err));
}

/* X509_verify_cert() of server.crt against ca.crt, for a TLS server. */
static int verify(struct fixture *f)
{
	X509 *ca = cert_of(f, "ca.crt");
	X509 *x = cert_of(f, "server.crt");
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, x, NULL), 1);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(x);
	X509_free(ca);
	return ok;
}

static void test_first_start_makes_every_file_with_its_mode(void **state)
{
	struct fixture *f = *state;
	static const char *const secret[] = { "ca.key", "server.key", "token",
					      "node-token" };
	size_t i;

	ensure(f, NULL, 0);
	assert_true(f->pki.ca_created);
	assert_true(f->pki.cert_created);
	assert_int_equal(mode_of(f, "."), 0700);
	for (i = 0; i < SM_ARRAY_SIZE(secret); i++)
		assert_int_equal(mode_of(f, secret[i]), 0600);
	assert_int_equal(mode_of(f, "ca.crt"), 0644);
	assert_int_equal(mode_of(f, "server.crt"), 0644);
	assert_string_equal(f->pki.ca_cert_path + strlen(f->dir), "/ca.crt");
	assert_non_null(strstr(f->pki.ca_pem, "BEGIN CERTIFICATE"));
}

static void test_the_ca_is_a_p256_ca_named_like_k3s(void **state)
{
	struct fixture *f = *state;
	X509 *ca;
	EVP_PKEY *k;
	char cn[128];
	time_t nine_years = time(NULL) + (time_t)9 * 365 * 86400;

	ensure(f, NULL, 0);
	ca = cert_of(f, "ca.crt");
	k = key_of(f, "ca.key");
	assert_int_equal(X509_check_ca(ca), 1);
	assert_int_equal(X509_check_private_key(ca, k), 1);
	assert_int_equal(X509_verify(ca, k), 1);
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(ca),
					      NID_commonName, cn,
					      sizeof(cn)) > 0);
	assert_memory_equal(cn, "stuurman-ca@", 12);
	assert_string_equal(EVP_PKEY_get0_type_name(k), "EC");
	assert_int_equal(EVP_PKEY_get_bits(k), 256);
	assert_true(X509_cmp_time(X509_get0_notAfter(ca), &nine_years) > 0);
	EVP_PKEY_free(k);
	X509_free(ca);
}

static void test_server_cert_verifies_and_names_every_san(void **state)
{
	struct fixture *f = *state;
	static const char *const sans[] = { "10.0.0.5", "stuurman.example",
					    "::1" };
	time_t eleven_months = time(NULL) + (time_t)330 * 86400;
	time_t thirteen_months = time(NULL) + (time_t)400 * 86400;
	X509 *x;

	ensure(f, sans, SM_ARRAY_SIZE(sans));
	assert_int_equal(verify(f), 1);
	x = cert_of(f, "server.crt");
	assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "10.0.0.5", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
	assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "stuurman.example", 0, 0, NULL), 1);
	/* Not named, so not accepted. */
	assert_int_equal(X509_check_ip_asc(x, "10.0.0.6", 0), 0);
	assert_int_equal(X509_check_host(x, "example.org", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
	assert_true(X509_cmp_time(X509_get0_notAfter(x), &eleven_months) > 0);
	assert_true(X509_cmp_time(X509_get0_notAfter(x), &thirteen_months) < 0);
	X509_free(x);
}

static void test_second_start_reuses_every_file(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = { "ca.crt",	   "ca.key",
					     "server.crt", "server.key",
					     "token",	   "node-token" };
	static const char *const sans[] = { "10.0.0.5" };
	char *before[SM_ARRAY_SIZE(names)];
	size_t i;

	ensure(f, sans, 1);
	for (i = 0; i < SM_ARRAY_SIZE(names); i++)
		before[i] = slurp(f, names[i]);
	ensure(f, sans, 1);
	assert_false(f->pki.ca_created);
	assert_false(f->pki.cert_created);
	for (i = 0; i < SM_ARRAY_SIZE(names); i++) {
		char *after = slurp(f, names[i]);

		assert_string_equal(before[i], after);
		free(after);
		free(before[i]);
	}
}

static void test_changed_sans_renew_the_server_cert_not_the_ca(void **state)
{
	struct fixture *f = *state;
	static const char *const one[] = { "10.0.0.5" };
	static const char *const two[] = { "10.0.0.6" };
	char *ca, *cert, *key;
	X509 *x;

	ensure(f, one, 1);
	ca = slurp(f, "ca.crt");
	cert = slurp(f, "server.crt");
	key = slurp(f, "ca.key");
	ensure(f, two, 1);
	assert_false(f->pki.ca_created);
	assert_true(f->pki.cert_created);
	assert_string_equal(ca, f->pki.ca_pem);
	free(ca);
	ca = slurp(f, "ca.key");
	assert_string_equal(ca, key);
	free(ca);
	free(key);
	key = slurp(f, "server.crt");
	assert_string_not_equal(cert, key);
	free(cert);
	free(key);
	assert_int_equal(verify(f), 1);
	x = cert_of(f, "server.crt");
	assert_int_equal(X509_check_ip_asc(x, "10.0.0.6", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "10.0.0.5", 0), 0);
	X509_free(x);
}

static void test_san_order_case_and_spelling_keep_the_cert(void **state)
{
	struct fixture *f = *state;
	static const char *const one[] = { "Node.Example", "::1", "10.0.0.5" };
	static const char *const two[] = { "[0:0::1]", "10.0.0.5",
					   "node.example", "localhost",
					   "127.0.0.1" };

	ensure(f, one, SM_ARRAY_SIZE(one));
	ensure(f, two, SM_ARRAY_SIZE(two));
	assert_false(f->pki.cert_created);
}

/* Gives server.crt a new end, ten days out, signed again by the CA. */
static void expire_soon(struct fixture *f)
{
	X509 *x = cert_of(f, "server.crt");
	EVP_PKEY *ca_key = key_of(f, "ca.key");
	char *p = path_of(f, "server.crt");
	FILE *fp;

	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 10, 0, NULL));
	assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
	fp = fopen(p, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_X509(fp, x), 1);
	fclose(fp);
	free(p);
	EVP_PKEY_free(ca_key);
	X509_free(x);
}

static void test_a_cert_ending_within_30_days_is_renewed(void **state)
{
	struct fixture *f = *state;
	time_t month = time(NULL) + (time_t)30 * 86400;
	X509 *x;

	ensure(f, NULL, 0);
	expire_soon(f);
	/* Still valid, for the CA: only its end is near. */
	assert_int_equal(verify(f), 1);
	ensure(f, NULL, 0);
	assert_true(f->pki.cert_created);
	assert_false(f->pki.ca_created);
	x = cert_of(f, "server.crt");
	assert_true(X509_cmp_time(X509_get0_notAfter(x), &month) > 0);
	X509_free(x);
	assert_int_equal(verify(f), 1);
}

static void test_a_lost_server_key_renews_the_cert(void **state)
{
	struct fixture *f = *state;
	char *p;

	ensure(f, NULL, 0);
	p = path_of(f, "server.key");
	assert_int_equal(unlink(p), 0);
	free(p);
	ensure(f, NULL, 0);
	assert_true(f->pki.cert_created);
	assert_false(f->pki.ca_created);
	assert_int_equal(mode_of(f, "server.key"), 0600);
	assert_int_equal(verify(f), 1);
}

static void test_a_ca_cert_without_its_key_is_an_error(void **state)
{
	struct fixture *f = *state;
	char *p, *ca;

	ensure(f, NULL, 0);
	ca = slurp(f, "ca.crt");
	p = path_of(f, "ca.key");
	assert_int_equal(unlink(p), 0);
	free(p);
	pki_release(&f->pki);
	assert_int_equal(pki_ensure(f->dir, NULL, 0, &f->pki, &f->err),
			 -EINVAL);
	assert_null(f->pki.api_token);
	assert_true(sm_err_failed(&f->err));
	assert_non_null(strstr(f->err.items[0].msg, "ca.key\" is missing"));
	p = slurp(f, "ca.crt");
	assert_string_equal(p, ca);
	free(p);
	free(ca);
}

static void test_an_unreadable_server_cert_is_an_error_not_a_crash(void **state)
{
	struct fixture *f = *state;
	char *p;

	ensure(f, NULL, 0);
	p = path_of(f, "server.crt");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	pki_release(&f->pki);
	/* Made again, but a directory is in the way of the rename. */
	assert_true(pki_ensure(f->dir, NULL, 0, &f->pki, &f->err) < 0);
	assert_true(sm_err_failed(&f->err));
	assert_null(f->pki.dir);
}

static void test_a_san_that_is_no_name_is_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = { "10.0.0.5", "bad name!" };
	static const char *const dash[] = { "-node.example" };
	struct stat st;

	assert_int_equal(pki_ensure(f->dir, bad, 2, &f->pki, &f->err), -EINVAL);
	assert_int_equal(pki_ensure(f->dir, dash, 1, &f->pki, &f->err),
			 -EINVAL);
	assert_true(sm_err_failed(&f->err));
	/* Nothing was made. */
	assert_int_equal(stat(f->dir, &st), -1);
}

static void test_tokens_are_64_hex_digits_and_differ(void **state)
{
	struct fixture *f = *state;
	char *file;
	size_t i;

	ensure(f, NULL, 0);
	assert_int_equal(strlen(f->pki.api_token), 64);
	assert_int_equal(strlen(f->pki.node_token), 64);
	assert_int_equal(strspn(f->pki.api_token, "0123456789abcdef"), 64);
	assert_int_equal(strspn(f->pki.node_token, "0123456789abcdef"), 64);
	assert_string_not_equal(f->pki.api_token, f->pki.node_token);
	file = slurp(f, "token");
	assert_int_equal(strlen(file), 65);
	assert_memory_equal(file, f->pki.api_token, 64);
	assert_int_equal(file[64], '\n');
	free(file);
	/* Not all one digit, say. */
	for (i = 1; i < 64; i++)
		if (f->pki.api_token[i] != f->pki.api_token[0])
			break;
	assert_true(i < 64);
}

static void test_open_secret_files_are_set_back_to_0600(void **state)
{
	struct fixture *f = *state;
	char *p;

	ensure(f, NULL, 0);
	p = path_of(f, "token");
	assert_int_equal(chmod(p, 0644), 0);
	free(p);
	p = path_of(f, "ca.key");
	assert_int_equal(chmod(p, 0640), 0);
	free(p);
	ensure(f, NULL, 0);
	assert_int_equal(mode_of(f, "token"), 0600);
	assert_int_equal(mode_of(f, "ca.key"), 0600);
}

static void test_a_token_file_without_a_token_is_an_error(void **state)
{
	struct fixture *f = *state;
	char *p;
	FILE *fp;

	ensure(f, NULL, 0);
	p = path_of(f, "node-token");
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs("two words\n", fp);
	fclose(fp);
	free(p);
	pki_release(&f->pki);
	assert_int_equal(pki_ensure(f->dir, NULL, 0, &f->pki, &f->err),
			 -EINVAL);
	assert_true(sm_err_failed(&f->err));
}

static void test_bearer_check_tells_api_from_node(void **state)
{
	struct fixture *f = *state;
	char h[256], cut[128];

	ensure(f, NULL, 0);
	snprintf(h, sizeof(h), "Bearer %s", f->pki.api_token);
	assert_int_equal(pki_check_bearer(&f->pki, h), PKI_TOKEN_API);
	snprintf(h, sizeof(h), "bearer  %s", f->pki.node_token);
	assert_int_equal(pki_check_bearer(&f->pki, h), PKI_TOKEN_NODE);

	assert_int_equal(pki_check_bearer(&f->pki, NULL), PKI_TOKEN_NONE);
	assert_int_equal(pki_check_bearer(&f->pki, ""), PKI_TOKEN_NONE);
	assert_int_equal(pki_check_bearer(&f->pki, "Bearer"), PKI_TOKEN_NONE);
	assert_int_equal(pki_check_bearer(&f->pki, "Bearer "), PKI_TOKEN_NONE);
	assert_int_equal(pki_check_bearer(&f->pki, "Bearer wrong"),
			 PKI_TOKEN_NONE);
	snprintf(h, sizeof(h), "Basic %s", f->pki.api_token);
	assert_int_equal(pki_check_bearer(&f->pki, h), PKI_TOKEN_NONE);
	snprintf(h, sizeof(h), "%s", f->pki.api_token);
	assert_int_equal(pki_check_bearer(&f->pki, h), PKI_TOKEN_NONE);
	/* A prefix, or one character more, is another token. */
	snprintf(cut, sizeof(cut), "%.63s", f->pki.api_token);
	snprintf(h, sizeof(h), "Bearer %s", cut);
	assert_int_equal(pki_check_bearer(&f->pki, h), PKI_TOKEN_NONE);
	snprintf(h, sizeof(h), "Bearer %sx", f->pki.api_token);
	assert_int_equal(pki_check_bearer(&f->pki, h), PKI_TOKEN_NONE);
}

static void test_kubeconfig_carries_the_ca_and_the_token(void **state)
{
	struct fixture *f = *state;
	struct sm_buf kc = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf ca = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *data, *end;
	char *line;

	ensure(f, NULL, 0);
	assert_int_equal(pki_kubeconfig(&f->pki, "https://127.0.0.1:6443",
					"stuurman", &kc, &f->err),
			 0);
	assert_non_null(strstr(kc.buf, "server: \"https://127.0.0.1:6443\"\n"));
	line = xasprintf("token: \"%s\"\n", f->pki.api_token);
	assert_non_null(strstr(kc.buf, line));
	free(line);
	assert_non_null(strstr(kc.buf, "namespace: default\n"));
	assert_non_null(strstr(kc.buf, "current-context: \"stuurman\"\n"));
	data = strstr(kc.buf, "certificate-authority-data: ");
	assert_non_null(data);
	data += strlen("certificate-authority-data: ");
	end = strchr(data, '\n');
	assert_non_null(end);
	assert_int_equal(sm_base64_decode(data, (size_t)(end - data), &ca), 0);
	assert_string_equal(sm_buf_cstr(&ca), f->pki.ca_pem);
	sm_buf_release(&ca);

	sm_buf_reset(&kc);
	assert_int_equal(pki_kubeconfig(&f->pki, "https://x\"y", "stuurman",
					&kc, &f->err),
			 -EINVAL);
	assert_int_equal(pki_kubeconfig(&f->pki, "https://127.0.0.1:6443",
					"a\nb", &kc, &f->err),
			 -EINVAL);
	assert_int_equal(kc.len, 0);
	sm_buf_release(&kc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_first_start_makes_every_file_with_its_mode),
		T(test_the_ca_is_a_p256_ca_named_like_k3s),
		T(test_server_cert_verifies_and_names_every_san),
		T(test_second_start_reuses_every_file),
		T(test_changed_sans_renew_the_server_cert_not_the_ca),
		T(test_san_order_case_and_spelling_keep_the_cert),
		T(test_a_cert_ending_within_30_days_is_renewed),
		T(test_a_lost_server_key_renews_the_cert),
		T(test_a_ca_cert_without_its_key_is_an_error),
		T(test_an_unreadable_server_cert_is_an_error_not_a_crash),
		T(test_a_san_that_is_no_name_is_refused),
		T(test_tokens_are_64_hex_digits_and_differ),
		T(test_open_secret_files_are_set_back_to_0600),
		T(test_a_token_file_without_a_token_is_an_error),
		T(test_bearer_check_tells_api_from_node),
		T(test_kubeconfig_carries_the_ca_and_the_token),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
