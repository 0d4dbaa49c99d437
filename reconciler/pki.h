/*
 * pki.h: the API server's CA, serving certificate and tokens.
 *
 * At first start, pki_ensure() makes in the data directory (created 0700):
 *   ca.crt       self-signed CA, EC P-256, CA:TRUE, 10 years,
 *                CN "stuurman-ca@<unix time>" (as k3s names its CAs)
 *   ca.key       its private key (0600)
 *   server.crt   signed by the CA, serverAuth, 1 year, SANs IP:127.0.0.1,
 *                DNS:localhost and the extra names asked for
 *   server.key   its private key (0600)
 *   token        the API token (0600): 32 random bytes as 64 hex digits
 *   node-token   the node join token (0600), the same way
 * Later starts reuse them. server.crt and server.key are made again when
 * they are missing or unreadable, do not belong together, were not signed
 * by ca.key, name another set of SANs, or expire within 30 days. The CA is
 * never replaced once ca.crt exists (that would break every kubeconfig and
 * joined agent): a missing or foreign ca.key is an error then.
 *
 * Invariants: every file is written to a temporary file in the same
 * directory, synced, and renamed over its name, then the directory is
 * synced: a crash leaves the old file or the new one, never half of a key.
 * Key and token files are 0600; an existing one that is readable by group
 * or others is set back to 0600 with a warning in the log.
 *
 * Tokens are Secrets: they are never logged or put into error messages.
 */
#ifndef SM_RECONCILER_PKI_H
#define SM_RECONCILER_PKI_H

#include <stdbool.h>
#include <stddef.h>

struct sm_err;
struct sm_buf;

/* What pki_ensure() found or made. Every string is new, freed by release. */
struct pki {
	char *dir;
	char *ca_cert_path, *ca_key_path;
	char *cert_path, *key_path;
	char *token_path, *node_token_path;
	char *ca_pem; /* the contents of ca.crt */
	char *api_token, *node_token;
	bool ca_created; /* this call made the CA */
	bool cert_created; /* this call made server.crt (first, or again) */
};

#define PKI_INIT  \
	{         \
		0 \
	}

void pki_release(struct pki *p);

/*
 * Makes or reuses the files above in dir (created with its parents, 0700,
 * when missing). extra_sans (borrowed; n of them, may be NULL when n is 0)
 * are the names the server is also reached by (--advertise): each that
 * parses as an IPv4 or IPv6 address becomes an IP SAN, anything else that
 * is a valid DNS name (letters, digits, '-', '.', a leading "*.") a DNS
 * SAN; duplicates are dropped. Returns 0 and fills *out (release with
 * pki_release()), or a negative errno with a message naming the file in
 * err: -EINVAL for a SAN that is neither, a ca.crt without its key, or a
 * token file that holds no token; errno values of the file system
 * (-EACCES, ...). On failure *out is left empty; files already made stay.
 */
int pki_ensure(const char *dir, const char *const *extra_sans, size_t n,
	       struct pki *out, struct sm_err *err);

enum pki_token_kind {
	PKI_TOKEN_NONE = 0,
	PKI_TOKEN_API,
	PKI_TOKEN_NODE,
};

/*
 * Checks an Authorization header value ("Bearer <token>"; the scheme's
 * case does not matter) against both tokens, in constant time for tokens
 * of the same length. Returns which one matched, or PKI_TOKEN_NONE for a
 * wrong or empty token, another scheme or a NULL header.
 */
enum pki_token_kind pki_check_bearer(const struct pki *p, const char *header);

/*
 * Appends a kubeconfig to out: one cluster at server_url (e.g.
 * "https://127.0.0.1:6443") with the CA as certificate-authority-data, one
 * user with the API token, and a context called name (also the cluster's
 * and the user's name) with namespace "default", made current. Returns 0,
 * -EINVAL when server_url or name hold quotes, backslashes or control
 * characters (message in err), or -EMSGSIZE when out is full.
 */
int pki_kubeconfig(const struct pki *p, const char *server_url,
		   const char *name, struct sm_buf *out, struct sm_err *err);

#endif
