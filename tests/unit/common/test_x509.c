/*
 * Tests for common/x509.c: self-signed serving certificates and their keys
 * read back with OpenSSL.
 */
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/x509.h"
#include "common/banned.h"

static void
test_a_self_signed_certificate_names_its_ip_and_fits_its_key(void **state)
{
	const char *sans[] = { "IP:127.0.1.2", "DNS:n2" };
	struct sm_buf cert = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf key = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	BIO *cb, *kb;
	X509 *x;
	EVP_PKEY *k;

	assert_int_equal(sm_x509_self_signed("n2", sans, 2, 365, &cert, &key),
			 0);
	cb = BIO_new_mem_buf(cert.buf, (int)cert.len);
	kb = BIO_new_mem_buf(key.buf, (int)key.len);
	x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
	k = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
	assert_non_null(x);
	assert_non_null(k);
	assert_int_equal(X509_check_private_key(x, k), 1);
	assert_int_equal(X509_check_ip_asc(x, "127.0.1.2", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "127.0.1.3", 0), 0);
	assert_int_equal(X509_check_host(x, "n2", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ca(x), 0);
	/* Self-signed: it verifies with its own key. */
	assert_int_equal(X509_verify(x, k), 1);
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	sm_buf_release(&cert);
	sm_buf_release(&key);
}

static void test_a_name_that_is_neither_ip_nor_dns_is_refused(void **state)
{
	const char *sans[] = { "URI:x" };
	EVP_PKEY *k = sm_x509_key_new();

	assert_non_null(k);
	assert_null(sm_x509_cert_make("x", k, NULL, NULL, 1, sans, 1));
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_a_self_signed_certificate_names_its_ip_and_fits_its_key),
		cmocka_unit_test(
			test_a_name_that_is_neither_ip_nor_dns_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
