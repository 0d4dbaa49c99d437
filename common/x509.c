/*
 * x509.c: keys and certificates with OpenSSL 3. See x509.h.
 */
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <string.h>

#include "common/buf.h"
#include "common/x509.h"
#include "common/banned.h"

/* Certificates start an hour back, for clocks of joining machines. */
#define BACKDATE_SECONDS 3600

EVP_PKEY *sm_x509_key_new(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	ERR_clear_error();
	return k;
}

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	return ok ? 0 : -EINVAL;
}

static int add_sans(X509 *x, const char *const *sans, size_t n)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	size_t i;
	int ok = gens != NULL;

	for (i = 0; ok && i < n; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		const char *v = sans[i];

		if (!g) {
			ok = 0;
			break;
		}
		if (strncmp(v, "IP:", 3) == 0) {
			ASN1_OCTET_STRING *ip = a2i_IPADDRESS(v + 3);

			if (ip)
				GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
			ok = ip != NULL;
		} else if (strncmp(v, "DNS:", 4) == 0) {
			ASN1_IA5STRING *d = ASN1_IA5STRING_new();

			ok = d && ASN1_STRING_set(d, v + 4, -1);
			if (d && ok)
				GENERAL_NAME_set0_value(g, GEN_DNS, d);
			else
				ASN1_IA5STRING_free(d);
		} else {
			ok = 0;
		}
		if (!ok || !sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			ok = 0;
		}
	}
	if (ok && n)
		ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
				       X509V3_ADD_DEFAULT) == 1;
	GENERAL_NAMES_free(gens);
	return ok ? 0 : -EINVAL;
}

X509 *sm_x509_cert_make(const char *cn, EVP_PKEY *key, X509 *issuer,
			EVP_PKEY *issuer_key, long days,
			const char *const *sans, size_t n)
{
	unsigned char serial[16];
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIGNUM *bn = NULL;
	X509V3_CTX v3;
	bool ok = x && name;

	ok = ok && RAND_bytes(serial, sizeof(serial)) == 1;
	if (ok) {
		serial[0] &= 0x7f; /* positive */
		serial[0] |= 0x01; /* and never zero */
		bn = BN_bin2bn(serial, sizeof(serial), NULL);
		ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	}
	ok = ok && X509_set_version(x, X509_VERSION_3);
	ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					      (const unsigned char *)"stuurman",
					      -1, -1, 0);
	ok = ok &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0);
	ok = ok && X509_set_subject_name(x, name);
	ok = ok && X509_set_issuer_name(
			   x, issuer ? X509_get_subject_name(issuer) : name);
	ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECONDS);
	ok = ok && X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL);
	ok = ok && X509_set_pubkey(x, key);
	if (ok) {
		X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
		if (!sans) {
			ok = add_ext(x, &v3, NID_basic_constraints,
				     "critical,CA:TRUE") == 0 &&
			     add_ext(x, &v3, NID_key_usage,
				     "critical,digitalSignature,keyCertSign,"
				     "cRLSign") == 0 &&
			     add_ext(x, &v3, NID_subject_key_identifier,
				     "hash") == 0;
		} else {
			ok = add_ext(x, &v3, NID_basic_constraints,
				     "critical,CA:FALSE") == 0 &&
			     add_ext(x, &v3, NID_key_usage,
				     "critical,digitalSignature") == 0 &&
			     add_ext(x, &v3, NID_ext_key_usage, "serverAuth") ==
				     0 &&
			     add_ext(x, &v3, NID_subject_key_identifier,
				     "hash") == 0 &&
			     add_ext(x, &v3, NID_authority_key_identifier,
				     "keyid:always") == 0 &&
			     add_sans(x, sans, n) == 0;
		}
	}
	ok = ok &&
	     X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
	BN_free(bn);
	X509_NAME_free(name);
	ERR_clear_error();
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int bio_to_buf(BIO *bio, struct sm_buf *out)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);

	return len > 0 && sm_buf_add(out, data, (size_t)len) == 0 ? 0 : -EINVAL;
}

int sm_x509_key_pem(EVP_PKEY *key, struct sm_buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ret = -EINVAL;

	if (bio &&
	    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		ret = bio_to_buf(bio, out);
	BIO_free(bio);
	ERR_clear_error();
	return ret;
}

int sm_x509_cert_pem(X509 *x, struct sm_buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ret = -EINVAL;

	if (bio && PEM_write_bio_X509(bio, x))
		ret = bio_to_buf(bio, out);
	BIO_free(bio);
	ERR_clear_error();
	return ret;
}

int sm_x509_self_signed(const char *cn, const char *const *sans, size_t n,
			long days, struct sm_buf *cert_pem,
			struct sm_buf *key_pem)
{
	EVP_PKEY *key = sm_x509_key_new();
	X509 *x = key ? sm_x509_cert_make(cn, key, NULL, NULL, days, sans, n)
		      : NULL;
	int ret = -EINVAL;

	if (x && !sm_x509_cert_pem(x, cert_pem) &&
	    !sm_x509_key_pem(key, key_pem))
		ret = 0;
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}
