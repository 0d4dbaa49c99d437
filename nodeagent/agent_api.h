/*
 * agent_api.h: the node agent's own small HTTP API, as the kubelet serves
 * one on port 10250, on the node IP:
 *
 *   GET /healthz                                   "ok"
 *   GET /pods                                      the node's pods (PodList)
 *   GET /containerLogs/NAMESPACE/POD/CONTAINER     the container's log
 *       ?follow=true        keep streaming (chunked) until it exits
 *       &tailLines=N        only the last N lines
 *       &timestamps=true    each line prefixed with its RFC 3339 time
 *       &sinceSeconds=N     only the last N seconds
 *
 * Plain HTTP on the (loopback) node IP in static mode. Joined to a
 * server, HTTPS (common/tls.h, the agent's own self-signed certificate)
 * and every request but /healthz must carry "Authorization: Bearer
 * <node token>" (401 otherwise), as a kubelet accepts only its API
 * server's credentials.
 *
 * What it serves comes from the agent through struct agent_api_source, so
 * this module knows nothing of the agent's insides. Logs come from Podman
 * through nodeagent/podman.h, demultiplexed, streamed as they arrive.
 */
#ifndef SM_AGENT_API_H
#define SM_AGENT_API_H

#include <jansson.h>
#include <uv.h>

#include "common/err.h"
#include "nodeagent/podman.h"

struct agent_api;

struct agent_api_source {
	/* The Podman container id of a pod's container, or NULL. Borrowed. */
	const char *(*container_id)(void *ctx, const char *ns, const char *pod,
				    const char *container);
	/* The node's pods as a v1 PodList (new reference). */
	json_t *(*pods)(void *ctx);
	void *ctx;
};

/* HTTPS: the certificate and key files (PEM), and the token to ask for. */
struct agent_api_tls {
	const char *cert_file, *key_file;
	const char *token; /* NULL: no token asked for */
};

/* Closes the listener and every log stream; NULL is ignored. */
void agent_api_free(struct agent_api *api);

/*
 * Serves on listen ("127.0.1.1:10250") with loop and pm (both borrowed,
 * outliving the API), src and tls (copied; tls NULL: plain HTTP). 0, or a
 * negative errno with the reason in err (the port is taken, the
 * certificate does not load).
 */
int agent_api_start(uv_loop_t *loop, const char *listen, struct podman *pm,
		    const struct agent_api_source *src,
		    const struct agent_api_tls *tls, struct agent_api **out,
		    struct sm_err *err);

/* The TCP port it listens on (after port 0). */
int agent_api_port(const struct agent_api *api);

#endif
