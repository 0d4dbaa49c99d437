/*
 * webhook.h: who may trigger a sync through `POST /hooks/git`, and what a
 * forge's push says.
 *
 * A hook request is accepted with any one of:
 * - `Authorization: Bearer <token>`, the server's API token;
 * - GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
 *   with the shared secret;
 * - Gitea's (and Forgejo's) `X-Gitea-Signature: <hex HMAC-SHA256>`;
 * - GitLab's `X-Gitlab-Token: <the secret itself>`.
 * Comparisons are constant-time. Nothing else gets in: a request without
 * any of them, or with a wrong one, is refused, and the message says which
 * scheme failed without ever showing the secret or what was sent.
 *
 * Pure functions (OpenSSL's HMAC, jansson): no I/O. The GitOps issue
 * wires them to the API server.
 */
#ifndef SM_WEBHOOK_H
#define SM_WEBHOOK_H

#include <stddef.h>

struct sm_err;

/* What a hook request carries (each borrowed; NULL when absent). */
struct webhook_request {
	const char *authorization; /* Authorization */
	const char *github_signature; /* X-Hub-Signature-256 */
	const char *gitea_signature; /* X-Gitea-Signature */
	const char *gitlab_token; /* X-Gitlab-Token */
	const char *body;
	size_t len;
};

/*
 * Checks r against the API token and the shared secret (either may be
 * NULL or empty: that scheme is then off). Returns 0 and sets *scheme
 * (static: "bearer", "github", "gitea", "gitlab"), or -EACCES with the
 * reason in err (e.g. `webhook: the X-Hub-Signature-256 does not match
 * the body signed with the shared secret`).
 */
int webhook_authenticate(const struct webhook_request *r, const char *token,
			 const char *secret, const char **scheme,
			 struct sm_err *err);

/* What a push payload names; empty strings when the body said nothing. */
struct webhook_push {
	char ref[256]; /* "refs/heads/main" */
	char after[65]; /* the new commit, hex */
};

/*
 * Reads a GitHub, Gitea or GitLab push payload (their "ref" and "after";
 * GitLab's "checkout_sha" when "after" is absent). An empty body is a
 * push that names nothing (fetch everything). Returns 0, or -EINVAL for a
 * body that is not a JSON object, with the reason in err.
 */
int webhook_parse_push(const char *body, size_t len, struct webhook_push *out,
		       struct sm_err *err);

#endif
