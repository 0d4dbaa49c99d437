/*
 * webhook.c: see webhook.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/err.h"
#include "common/json.h"
#include "reconciler/webhook.h"

#include "common/banned.h"

#define SHA256_LEN 32

/* a and b equal, in time that depends on their lengths only. */
static bool same(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && CRYPTO_memcmp(a, b, alen) == 0;
}

/* Lower-case hex HMAC-SHA256 of body with secret into out (65 bytes). */
static int hmac_hex(const char *secret, const char *body, size_t len,
		    char out[2 * SHA256_LEN + 1])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	static const char hex[] = "0123456789abcdef";

	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret),
		  (const unsigned char *)body, len, mac, &n) ||
	    n != SHA256_LEN)
		return -EIO;
	for (unsigned int i = 0; i < n; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[2 * n] = 0;
	return 0;
}

/* Whether sig (hex, any case) is the body's HMAC with secret. */
static bool signature_matches(const char *sig, const char *secret,
			      const struct webhook_request *r)
{
	char want[2 * SHA256_LEN + 1], got[2 * SHA256_LEN + 1];
	size_t n = strlen(sig);

	if (n != 2 * SHA256_LEN || hmac_hex(secret, r->body ? r->body : "",
					    r->body ? r->len : 0, want) < 0)
		return false;
	for (size_t i = 0; i < n; i++)
		got[i] = (char)(sig[i] >= 'A' && sig[i] <= 'F'
					? sig[i] - 'A' + 'a'
					: sig[i]);
	got[n] = 0;
	return same(got, n, want, strlen(want));
}

int webhook_authenticate(const struct webhook_request *r, const char *token,
			 const char *secret, const char **scheme,
			 struct sm_err *err)
{
	bool have_token = token && *token, have_secret = secret && *secret;
	const char *bearer = "Bearer ";

	if (r->authorization && have_token &&
	    !strncmp(r->authorization, bearer, strlen(bearer))) {
		const char *t = r->authorization + strlen(bearer);

		if (same(t, strlen(t), token, strlen(token))) {
			*scheme = "bearer";
			return 0;
		}
		return sm_error(err, NULL,
				"webhook: the bearer token is not the API "
				"token"),
		       -EACCES;
	}
	if (r->github_signature) {
		const char *prefix = "sha256=";

		if (have_secret &&
		    !strncmp(r->github_signature, prefix, strlen(prefix)) &&
		    signature_matches(r->github_signature + strlen(prefix),
				      secret, r)) {
			*scheme = "github";
			return 0;
		}
		return sm_error(
			       err, NULL,
			       "webhook: the X-Hub-Signature-256 does not "
			       "match the body signed with the shared secret%s",
			       have_secret ? "" : " (no shared secret is set)"),
		       -EACCES;
	}
	if (r->gitea_signature) {
		if (have_secret &&
		    signature_matches(r->gitea_signature, secret, r)) {
			*scheme = "gitea";
			return 0;
		}
		return sm_error(err, NULL,
				"webhook: the X-Gitea-Signature does not match "
				"the body signed with the shared secret%s",
				have_secret ? ""
					    : " (no shared secret is set)"),
		       -EACCES;
	}
	if (r->gitlab_token) {
		if (have_secret &&
		    same(r->gitlab_token, strlen(r->gitlab_token), secret,
			 strlen(secret))) {
			*scheme = "gitlab";
			return 0;
		}
		return sm_error(err, NULL,
				"webhook: the X-Gitlab-Token is not the shared "
				"secret%s",
				have_secret ? ""
					    : " (no shared secret is set)"),
		       -EACCES;
	}
	return sm_error(err, NULL,
			"webhook: no credentials: send \"Authorization: Bearer "
			"<API token>\", or configure the forge's webhook "
			"secret (GitHub, Gitea or GitLab)"),
	       -EACCES;
}

static void copy_str(char *dst, size_t len, const json_t *v)
{
	snprintf(dst, len, "%s", json_is_string(v) ? json_string_value(v) : "");
}

int webhook_parse_push(const char *body, size_t len, struct webhook_push *out,
		       struct sm_err *err)
{
	json_error_t jerr;
	json_t *j;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < len && strchr(" \t\r\n", body[i]); i++)
		;
	if (i == len)
		return 0;
	j = json_loadb(body, len, 0, &jerr);
	if (!j)
		return sm_error(err, NULL,
				"webhook: the body is not a push payload: line "
				"%d column %d: %s",
				jerr.line, jerr.column, jerr.text),
		       -EINVAL;
	if (!json_is_object(j)) {
		json_decref(j);
		return sm_error(err, NULL,
				"webhook: the body is not a push payload: "
				"expected a JSON object"),
		       -EINVAL;
	}
	copy_str(out->ref, sizeof(out->ref), json_object_get(j, "ref"));
	copy_str(out->after, sizeof(out->after), json_object_get(j, "after"));
	if (!out->after[0])
		copy_str(out->after, sizeof(out->after),
			 json_object_get(j, "checkout_sha"));
	json_decref(j);
	return 0;
}
