/*
 * apiserver.h: the Kubernetes-compatible API over the store.
 *
 * Serves the paths kubectl and the agents use (see
 * ../shared/reference/kubernetes-api.md): discovery (/api, /apis, their
 * group-versions, legacy and aggregated), /version, /healthz, /readyz,
 * /livez, /openapi/v2 (the empty stub that lets `apply` validate nothing),
 * and for every resource in the table of api_resources.c: list, get,
 * create, update, patch, delete, deletecollection and watch, plus the
 * status, scale and binding subresources. Answers are JSON; errors are
 * metav1.Status objects with Kubernetes' codes and reasons.
 *
 * What it adds to the store: validation and defaults (manifests/ for the
 * kinds it knows; 422 Invalid with field causes), namespaces that must
 * exist (404) and not be terminating (403), graceful deletion of pods
 * bound to a node (the node's agent finishes it), the selectors of list
 * and watch, and bearer-token authentication.
 *
 * Ownership: options are borrowed for the server's life (the store, the
 * transport, the tokens).
 */
#ifndef SM_APISERVER_H
#define SM_APISERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"

struct sm_err;
struct sm_clock;
struct sm_http_transport_ops;
struct sm_http_req;
struct sm_http_resp;
struct store;
struct apiserver;

/* Who a request comes from, by the token it carried. */
enum api_user {
	API_USER_NONE, /* no or a wrong token: 401 */
	API_USER_ADMIN, /* the API token: everything */
	API_USER_NODE, /* a node join token: what agents need */
};

/*
 * Authenticates a request from its Authorization header (NULL when
 * absent).
 */
typedef enum api_user (*api_authn_fn)(void *ctx, const char *authorization);

/*
 * Paths beyond Kubernetes' own (the GitOps endpoints): called first for
 * every request, with who its token says sent it (the function checks
 * what it needs: a webhook has its own schemes). Returns true when it
 * answered (now or later through resp), false to let the API route it.
 */
typedef bool (*api_extra_fn)(void *ctx, enum api_user user,
			     const struct sm_http_req *req,
			     struct sm_http_resp *resp);

struct apiserver_opts {
	const char *listen; /* "127.0.0.1:6443"; required */
	struct store *store; /* required */
	/* TLS (common/tls.h) or NULL for plain HTTP (tests only). */
	const struct sm_http_transport_ops *transport;
	void *tctx;
	/* NULL lets every request in as admin (tests only). */
	api_authn_fn authn;
	void *authn_ctx;
	const struct sm_clock *clock; /* NULL: the system clock */
	/* The node token, sent to agents for pods/log; NULL: no logs. */
	const char *kubelet_token;
	size_t max_body; /* 0: 3 MiB, as Kubernetes */
	api_extra_fn extra; /* NULL: none */
	void *extra_ctx;
};

void apiserver_free(struct apiserver *a);

/*
 * Listens and serves. Returns 0 with *out (free with apiserver_free()) or
 * a negative errno with err set (bind errors name the address).
 */
int apiserver_start(uv_loop_t *loop, const struct apiserver_opts *o,
		    struct apiserver **out, struct sm_err *err);

/* The bound port (after "HOST:0"). */
int apiserver_port(const struct apiserver *a);

/*
 * Test seam: runs raw request bytes through a fresh connection, as
 * sm_http_server_feed() does. out gets what the server sent.
 */
struct sm_buf;
int apiserver_feed(struct apiserver *a, const char *data, size_t len,
		   struct sm_buf *out);

#endif
