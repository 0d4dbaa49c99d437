/*
 * agent_api.c: the agent's HTTP API. See agent_api.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/http_server.h"
#include "common/tls.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "nodeagent/agent_api.h"
#include "common/banned.h"

struct log_stream {
	struct agent_api *api;
	struct log_stream *next, **prev;
	struct sm_http_resp *resp; /* NULL once the client is gone */
	struct podman_stream *logs; /* NULL once ended or closed */
};

struct agent_api {
	struct sm_http_server *server;
	struct sm_tls_server *tls; /* NULL: plain HTTP */
	char *token; /* the bearer token asked for, or NULL */
	struct podman *pm;
	struct agent_api_source src;
	struct log_stream *streams;
	bool closing; /* freed when its last stream goes */
};

static void send_text(struct sm_http_resp *r, int status, const char *text)
{
	sm_http_resp_set_status(r, status);
	sm_http_resp_add_header(r, "Content-Type", "text/plain; charset=utf-8");
	sm_http_resp_send(r, text, strlen(text));
}

static void send_json(struct sm_http_resp *r, int status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);

	sm_http_resp_set_status(r, status);
	sm_http_resp_add_header(r, "Content-Type", "application/json");
	sm_http_resp_send(r, text, strlen(text));
	free(text);
}

/* The value of key in a query string (new), or NULL. Values stay as sent:
 * the ones this API reads are numbers and booleans. */
static char *query_get(const char *query, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = query; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);

		if (n > kl && !strncmp(p, key, kl) && p[kl] == '=')
			return xstrndup(p + kl + 1, n - kl - 1);
		if (n == kl && !strncmp(p, key, kl))
			return xstrdup("");
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

static bool query_true(const char *query, const char *key)
{
	char *v = query_get(query, key);
	bool t = v && (!strcmp(v, "true") || !strcmp(v, "1") || !*v);

	free(v);
	return t;
}

static void stream_unlink(struct log_stream *ls)
{
	*ls->prev = ls->next;
	if (ls->next)
		ls->next->prev = ls->prev;
}

static void stream_free_if_done(struct log_stream *ls)
{
	struct agent_api *api = ls->api;

	if (ls->resp || ls->logs)
		return;
	stream_unlink(ls);
	free(ls);
	if (api->closing && !api->streams)
		free(api);
}

static void log_data(void *ctx, enum podman_log_stream which, const char *data,
		     size_t len)
{
	struct log_stream *ls = ctx;

	/* stdout and stderr both: kubectl logs shows them interleaved. */
	if (ls->resp && sm_http_resp_write(ls->resp, data, len) < 0)
		ls->resp = NULL; /* dropped: the gone callback follows */
}

static void log_done(void *ctx, const struct podman_reply *r)
{
	struct log_stream *ls = ctx;

	ls->logs = NULL;
	if (ls->resp) {
		if (!r->ok)
			sm_log(SM_LOG_WARN, "agent-api", "logs: %s", r->error);
		sm_http_resp_end(ls->resp);
		ls->resp = NULL;
	}
	stream_free_if_done(ls);
}

static void client_gone(void *ctx, struct sm_http_resp *resp)
{
	struct log_stream *ls = ctx;

	ls->resp = NULL;
	if (ls->logs) {
		podman_stream_close(ls->logs);
		ls->logs = NULL;
	}
	stream_free_if_done(ls);
}

static void serve_logs(struct agent_api *api, const struct sm_http_req *req,
		       struct sm_http_resp *resp, const char *rest)
{
	struct podman_log_opts o = { 0 };
	char parts[3][254];
	char *tail, *since;
	const char *id;
	struct log_stream *ls;
	int n = 0;

	/* rest is NAMESPACE/POD/CONTAINER. */
	for (const char *p = rest; n < 3 && *p;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (!len || len >= sizeof(parts[0]))
			break;
		memcpy(parts[n], p, len);
		parts[n++][len] = '\0';
		p = slash ? slash + 1 : p + len;
		if (!slash)
			break;
	}
	if (n != 3) {
		send_text(resp, 400,
			  "expected /containerLogs/NAMESPACE/POD/"
			  "CONTAINER\n");
		return;
	}
	id = api->src.container_id(api->src.ctx, parts[0], parts[1], parts[2]);
	if (!id) {
		struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		sm_buf_addf(&b,
			    "container \"%s\" in pod \"%s\" (namespace "
			    "\"%s\") is not running on this node\n",
			    parts[2], parts[1], parts[0]);
		send_text(resp, 404, sm_buf_cstr(&b));
		sm_buf_release(&b);
		return;
	}
	o.follow = query_true(req->query, "follow");
	o.timestamps = query_true(req->query, "timestamps");
	o.tail = -1;
	if ((tail = query_get(req->query, "tailLines")))
		o.tail = strtol(tail, NULL, 10);
	if ((since = query_get(req->query, "sinceSeconds"))) {
		char *s = xasprintf("%lds", strtol(since, NULL, 10));

		free(since);
		since = s;
		o.since = since;
	}
	ls = xcalloc(1, sizeof(*ls));
	ls->api = api;
	ls->resp = resp;
	ls->next = api->streams;
	ls->prev = &api->streams;
	if (api->streams)
		api->streams->prev = &ls->next;
	api->streams = ls;
	sm_http_resp_on(resp, client_gone, NULL, ls);
	sm_http_resp_add_header(resp, "Content-Type",
				"text/plain; charset=utf-8");
	sm_http_resp_start(resp);
	ls->logs = podman_logs(api->pm, id, &o, log_data, log_done, ls);
	if (!ls->logs) {
		sm_http_resp_end(resp);
		ls->resp = NULL;
		stream_free_if_done(ls);
	}
	free(tail);
	free(since);
}

/* "Bearer <token>" with the right token, compared in constant time. */
static bool bearer_ok(const char *header, const char *token)
{
	size_t n = strlen(token), given;
	unsigned char diff = 0;

	if (!header || strncasecmp(header, "Bearer ", 7))
		return false;
	header += 7;
	given = strlen(header);
	if (given != n)
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(header[i] ^ token[i]);
	return diff == 0;
}

static void handle(void *ctx, const struct sm_http_req *req,
		   struct sm_http_resp *resp)
{
	struct agent_api *api = ctx;
	static const char logs[] = "/containerLogs/";

	if (api->token && strcmp(req->path, "/healthz") &&
	    !bearer_ok(sm_http_req_header(req, "Authorization"), api->token)) {
		sm_http_resp_add_header(resp, "WWW-Authenticate",
					"Bearer realm=\"stuurman node\"");
		send_text(resp, 401,
			  "Unauthorized: this node answers its API server "
			  "only (Authorization: Bearer <node token>)\n");
	} else if (strcmp(req->method, "GET")) {
		send_text(resp, 405, "only GET is served here\n");
	} else if (!strcmp(req->path, "/healthz")) {
		send_text(resp, 200, "ok");
	} else if (!strcmp(req->path, "/pods")) {
		json_t *list = api->src.pods(api->src.ctx);

		send_json(resp, 200, list);
		json_decref(list);
	} else if (!strncmp(req->path, logs, sizeof(logs) - 1)) {
		serve_logs(api, req, resp, req->path + sizeof(logs) - 1);
	} else {
		send_text(resp, 404,
			  "not found: this node serves /healthz, "
			  "/pods and /containerLogs/NS/POD/"
			  "CONTAINER\n");
	}
}

int agent_api_start(uv_loop_t *loop, const char *listen, struct podman *pm,
		    const struct agent_api_source *src,
		    const struct agent_api_tls *tls, struct agent_api **out,
		    struct sm_err *err)
{
	struct agent_api *api = xcalloc(1, sizeof(*api));
	struct sm_http_server_opts o = {
		.listen = listen,
		.handler = handle,
		.ctx = api,
	};
	int r;

	api->pm = pm;
	api->src = *src;
	if (tls) {
		r = sm_tls_server_new(tls->cert_file, tls->key_file, &api->tls,
				      err);
		if (r) {
			free(api);
			return r;
		}
		o.transport = &sm_tls_transport;
		o.tctx = api->tls;
		api->token = tls->token ? xstrdup(tls->token) : NULL;
	}
	r = sm_http_server_start(loop, &o, &api->server, err);
	if (r) {
		sm_tls_server_free(api->tls);
		free(api->token);
		free(api);
		return r;
	}
	*out = api;
	return 0;
}

int agent_api_port(const struct agent_api *api)
{
	return sm_http_server_port(api->server);
}

void agent_api_free(struct agent_api *api)
{
	if (!api)
		return;
	/*
	 * Podman streams first (the client may go before the server's close
	 * callbacks run); the responses end with the server, whose gone
	 * callbacks free the streams.
	 */
	for (struct log_stream *ls = api->streams, *next; ls; ls = next) {
		next = ls->next;
		if (ls->logs) {
			podman_stream_close(ls->logs);
			ls->logs = NULL;
		}
		if (!ls->resp) {
			stream_unlink(ls);
			free(ls);
		}
	}
	sm_http_server_free(api->server);
	/* OpenSSL keeps the context while connections still close. */
	sm_tls_server_free(api->tls);
	api->tls = NULL;
	free(api->token);
	api->token = NULL;
	/*
	 * Streams still tied to a response are freed by its gone callback;
	 * the last of them frees api.
	 */
	api->closing = true;
	if (!api->streams)
		free(api);
}
