/*
 * x509.h: keys and certificates with OpenSSL 3, shared by the API server's
 * PKI (reconciler/pki.h: its CA and serving certificate) and the node
 * agent (its self-signed serving certificate).
 *
 * Keys are EC P-256. Certificates are X.509 v3, O=stuurman, CN as given,
 * with a random positive 128-bit serial, signed with SHA-256, valid from
 * an hour back (for the clocks of joining machines) for the given days.
 * A CA gets CA:TRUE and keyCertSign; a serving certificate CA:FALSE,
 * digitalSignature, serverAuth and its subject alternative names.
 *
 * Ownership: OpenSSL objects returned are new (free with EVP_PKEY_free,
 * X509_free); everything passed in is borrowed.
 */
#ifndef SM_X509_H
#define SM_X509_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

struct sm_buf;

/* A new EC P-256 key, or NULL (OpenSSL's error queue is cleared). */
EVP_PKEY *sm_x509_key_new(void);

/*
 * A certificate for key named cn, signed by issuer and issuer_key, or by
 * key itself when issuer is NULL (self-signed). sans NULL makes a CA;
 * otherwise a serving certificate for the n names, each "IP:<address>" or
 * "DNS:<name>" (n may be 0). Returns NULL when OpenSSL fails or a name
 * does not parse.
 */
X509 *sm_x509_cert_make(const char *cn, EVP_PKEY *key, X509 *issuer,
			EVP_PKEY *issuer_key, long days,
			const char *const *sans, size_t n);

/* Appends the PEM of a private key or a certificate. 0 or -EINVAL. */
int sm_x509_key_pem(EVP_PKEY *key, struct sm_buf *out);
int sm_x509_cert_pem(X509 *x, struct sm_buf *out);

/*
 * A self-signed serving certificate for sans (as above) and its new key,
 * appended to cert_pem and key_pem. 0, or -EINVAL when OpenSSL fails.
 */
int sm_x509_self_signed(const char *cn, const char *const *sans, size_t n,
			long days, struct sm_buf *cert_pem,
			struct sm_buf *key_pem);

#endif
