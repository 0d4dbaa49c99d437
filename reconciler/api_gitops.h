/*
 * api_gitops.h: the GitOps endpoints of the API server (see gitops.h and
 * reconciler/README.md for their bodies):
 *   GET  /stuurman/sync       the sync status
 *   POST /stuurman/sync       fetch and sync now (202)
 *   GET  /stuurman/history    the last 20 syncs
 *   GET  /stuurman/diff       live against git, a unified YAML diff
 *   POST /stuurman/rollback   {"revision": REV}: pin an earlier revision
 *   POST /hooks/git           a forge's push (reconciler/webhook.h)
 * The /stuurman/ paths need the API token, as everything else; the hook
 * takes the API token or the forge's own scheme with the shared secret.
 */
#ifndef SM_API_GITOPS_H
#define SM_API_GITOPS_H

#include <stdbool.h>

#include "reconciler/apiserver.h"

struct gitops;

struct api_gitops {
	struct gitops *gitops; /* NULL: the server follows no repository */
	const char *api_token; /* borrowed */
	const char *webhook_secret; /* borrowed; NULL: only the token */
	/* While gitops is NULL but will come (the server waits for nodes). */
	const char *not_yet;
};

/* An api_extra_fn; ctx is a struct api_gitops. */
bool api_gitops_handle(void *ctx, enum api_user user,
		       const struct sm_http_req *req,
		       struct sm_http_resp *resp);

#endif
