/*
 * api_log.c: GET /api/v1/namespaces/NS/pods/NAME/log, served from the
 * pod's node, as Kubernetes' API server does it.
 *
 * The pod's node is found in the store (spec.nodeName), its agent's
 * address in the Node (status.addresses InternalIP and
 * status.daemonEndpoints.kubeletEndpoint.Port). The request goes to the
 * agent's /containerLogs/NS/POD/CONTAINER over HTTPS with the node token
 * as bearer; the agent's self-signed certificate is not verified, as
 * Kubernetes' API server does not verify kubelets' certificates unless
 * --kubelet-certificate-authority is given. The answer is streamed back
 * as text/plain as it comes (chunked), so `kubectl logs -f` follows.
 *
 * Errors are Status objects with Kubernetes' messages: 404 for a pod that
 * is not there, 400 for a pod without a node yet, a container that is not
 * the pod's, or a pod of several containers without ?container=.
 *
 * Lifetime: each proxied log is a struct api_log on the apiserver's list;
 * it ends when the agent's answer ends or the client goes, and
 * api__log_stop_all() cancels what is left at shutdown.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "reconciler/api_internal.h"
#include "reconciler/store.h"
#include "common/banned.h"

struct api_log {
	struct apiserver *a; /* NULL once stopped */
	struct api_log *next, **prev;
	struct sm_http_resp *resp; /* NULL once ended or gone */
	struct sm_http_request *req; /* NULL once ended or cancelled */
	bool started; /* the stream's head was sent */
};

static void log_unlink(struct api_log *l)
{
	if (!l->prev)
		return;
	*l->prev = l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->prev = NULL;
	l->next = NULL;
}

static void log_free_if_done(struct api_log *l)
{
	if (l->resp || l->req)
		return;
	log_unlink(l);
	free(l);
}

static void client_gone(void *ctx, struct sm_http_resp *resp)
{
	struct api_log *l = ctx;

	l->resp = NULL;
	if (l->req)
		sm_http_request_cancel(l->req);
	l->req = NULL;
	log_free_if_done(l);
}

static void start_stream(struct api_log *l)
{
	if (l->started)
		return;
	l->started = true;
	sm_http_resp_add_header(l->resp, "Content-Type",
				"text/plain; charset=utf-8");
	sm_http_resp_start(l->resp);
}

static int agent_data(void *ctx, int status, const char *data, size_t len)
{
	struct api_log *l = ctx;

	if (!l->resp)
		return -ECONNRESET;
	start_stream(l);
	if (sm_http_resp_write(l->resp, data, len) < 0) {
		/* Dropped: the gone callback follows and frees l. */
		l->resp = NULL;
		return -ECONNRESET;
	}
	return 0;
}

static void agent_done(void *ctx, const struct sm_http_response *r)
{
	struct api_log *l = ctx;

	l->req = NULL;
	if (!l->resp) {
		log_free_if_done(l);
		return;
	}
	if (l->started) {
		/* A stream cut short just ends: the client has what came. */
		if (r->error)
			sm_log(SM_LOG_WARN, "api", "pod log: %s", r->error);
		sm_http_resp_end(l->resp);
	} else if (r->error) {
		api__send_status(l->resp, 500, "InternalError", NULL,
				 "the node's log could not be read: %s",
				 r->error);
	} else if (r->status >= 200 && r->status < 300) {
		start_stream(l);
		sm_http_resp_end(l->resp);
	} else {
		/* The agent's message, e.g. a container not running yet. */
		size_t n = r->len;

		while (n && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r'))
			n--;
		api__send_status(
			l->resp, r->status == 404 ? 400 : 500,
			r->status == 404 ? "BadRequest" : "InternalError", NULL,
			"%.*s", (int)(n > 1024 ? 1024 : n), r->body);
	}
	l->resp = NULL;
	log_free_if_done(l);
}

/* The names of a list of containers, as "[a b]" into out. */
static void names_of(const json_t *list, struct sm_buf *out)
{
	size_t i;
	json_t *c;

	sm_buf_addch(out, '[');
	json_array_foreach (list, i, c)
		sm_buf_addf(out, "%s%s", i ? " " : "",
			    sm_json_get_str(c, "name") ?: "");
	sm_buf_addch(out, ']');
}

static bool has_container(const json_t *list, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach (list, i, c)
		if (!strcmp(sm_json_get_str(c, "name") ?: "", name))
			return true;
	return false;
}

/*
 * The container the log is of (new), or NULL after answering 400 as
 * Kubernetes does.
 */
static char *pick_container(struct api_call *c, const json_t *pod)
{
	const json_t *spec = json_object_get(pod, "spec");
	const json_t *ctrs = json_object_get(spec, "containers");
	const json_t *inits = json_object_get(spec, "initContainers");
	char *name = api__query(c, "container");
	const char *def =
		sm_json_get_path(pod, "metadata.annotations")
			? sm_json_get_str(
				  sm_json_get_path(pod, "metadata.annotations"),
				  "kubectl.kubernetes.io/"
				  "default-container")
			: NULL;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	if (name && !*name) {
		free(name);
		name = NULL;
	}
	if (!name && def)
		name = xstrdup(def);
	if (!name && json_array_size(ctrs) == 1)
		name = xstrdup(
			sm_json_get_str(json_array_get(ctrs, 0), "name"));
	if (!name) {
		names_of(ctrs, &b);
		if (json_array_size(inits)) {
			sm_buf_adds(&b, " or one of the init containers: ");
			names_of(inits, &b);
		}
		api__send_status(c->resp, 400, "BadRequest", NULL,
				 "a container name must be specified for pod "
				 "%s, choose one of: %s",
				 c->name, sm_buf_cstr(&b));
		sm_buf_release(&b);
		return NULL;
	}
	if (!has_container(ctrs, name) && !has_container(inits, name)) {
		api__send_status(c->resp, 400, "BadRequest", NULL,
				 "container %s is not valid for pod %s", name,
				 c->name);
		free(name);
		return NULL;
	}
	return name;
}

/*
 * A container the node reports as waiting, never started, has no log
 * yet: 400 with Kubernetes' message. Returns whether it answered.
 */
static bool waiting(struct api_call *c, const json_t *pod, const char *name)
{
	static const char *const lists[] = { "containerStatuses",
					     "initContainerStatuses" };
	const json_t *st = json_object_get(pod, "status");

	for (size_t l = 0; l < 2; l++) {
		size_t i;
		json_t *cs;

		json_array_foreach (json_object_get(st, lists[l]), i, cs) {
			const json_t *w;

			if (strcmp(sm_json_get_str(cs, "name") ?: "", name))
				continue;
			w = sm_json_get_path(cs, "state.waiting");
			if (!w || sm_json_get_str(cs, "containerID"))
				return false;
			api__send_status(c->resp, 400, "BadRequest", NULL,
					 "container \"%s\" in pod \"%s\" is "
					 "waiting to start: %s",
					 name, c->name,
					 sm_json_get_str(w, "reason")
						 ?: "ContainerCreating");
			return true;
		}
	}
	return false;
}

/* Adds "&key=value" for the query parameters the agent understands. */
static void pass_query(struct api_call *c, struct sm_buf *url)
{
	static const char *const keys[] = { "follow", "tailLines", "timestamps",
					    "sinceSeconds", "limitBytes" };
	char sep = '?';

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *v = api__query(c, keys[i]);
		bool ok = v != NULL;

		/* Numbers and booleans only: nothing to escape. */
		for (const char *p = v; ok && *p; p++)
			ok = (*p >= '0' && *p <= '9') ||
			     (*p >= 'a' && *p <= 'z') || *p == '-';
		if (ok) {
			sm_buf_addf(url, "%c%s=%s", sep, keys[i], v);
			sep = '&';
		}
		free(v);
	}
}

void api__pod_log(struct api_call *c)
{
	struct apiserver *a = c->a;
	const json_t *pod = store_get(a->store, "Pod", c->ns, c->name);
	const json_t *node, *addrs, *addr;
	const char *node_name, *ip = NULL;
	json_int_t port;
	struct sm_buf url = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_http_request_opts o = { 0 };
	struct api_log *l;
	char *container = NULL;
	size_t i;

	if (!pod) {
		api__send_status(c->resp, 404, "NotFound",
				 json_pack("{s:s, s:s}", "name", c->name,
					   "kind", "pods"),
				 "pods \"%s\" not found", c->name);
		return;
	}
	if (!(container = pick_container(c, pod)))
		return;
	node_name = sm_json_get_str(json_object_get(pod, "spec"), "nodeName");
	if (!node_name || !*node_name) {
		api__send_status(c->resp, 400, "BadRequest", NULL,
				 "pod %s does not have a host assigned",
				 c->name);
		goto out;
	}
	if (waiting(c, pod, container))
		goto out;
	node = store_get(a->store, "Node", "", node_name);
	addrs = sm_json_get_path(node, "status.addresses");
	json_array_foreach (addrs, i, addr)
		if (!strcmp(sm_json_get_str(addr, "type") ?: "", "InternalIP"))
			ip = sm_json_get_str(addr, "address");
	port = json_integer_value(sm_json_get_path(
		node, "status.daemonEndpoints.kubeletEndpoint.Port"));
	if (!ip || port <= 0 || port > 65535 || !a->kubelet_token) {
		api__send_status(c->resp, 400, "BadRequest", NULL,
				 "node %s of pod %s has no address to reach "
				 "its agent (status.addresses InternalIP and "
				 "daemonEndpoints.kubeletEndpoint.Port)",
				 node_name, c->name);
		goto out;
	}
	sm_buf_addf(&url, strchr(ip, ':') ? "https://[%s]:%d" : "https://%s:%d",
		    ip, (int)port);
	sm_buf_addf(&url, "/containerLogs/%s/%s/%s", c->ns, c->name, container);
	pass_query(c, &url);
	if (!a->kubelet_http &&
	    !(a->kubelet_http = sm_http_client_new(a->loop))) {
		api__send_status(c->resp, 500, "InternalError", NULL,
				 "no HTTP client for the node's log");
		goto out;
	}
	l = xcalloc(1, sizeof(*l));
	l->a = a;
	l->resp = c->resp;
	o.url = sm_buf_cstr(&url);
	o.bearer_token = a->kubelet_token;
	o.insecure_skip_verify = true;
	o.on_data = agent_data;
	o.on_done = agent_done;
	o.ctx = l;
	if (sm_http_request_start(a->kubelet_http, &o, &l->req)) {
		free(l);
		api__send_status(c->resp, 500, "InternalError", NULL,
				 "the node's log could not be asked for");
		goto out;
	}
	l->next = a->logs;
	l->prev = &a->logs;
	if (a->logs)
		a->logs->prev = &l->next;
	a->logs = l;
	sm_http_resp_on(c->resp, client_gone, NULL, l);
out:
	free(container);
	sm_buf_release(&url);
}

void api__log_stop_all(struct apiserver *a)
{
	/* Every log ends here: its request cancelled, its answer ended. */
	for (struct api_log *l = a->logs, *next; l; l = next) {
		next = l->next;
		if (l->req)
			sm_http_request_cancel(l->req);
		if (l->resp)
			sm_http_resp_end(l->resp);
		free(l);
	}
	a->logs = NULL;
	sm_http_client_free(a->kubelet_http);
	a->kubelet_http = NULL;
	free(a->kubelet_token);
	a->kubelet_token = NULL;
}
