/*
 * kube.c: the agent's Kubernetes API client and informers. See kube.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "nodeagent/kube.h"
#include "common/banned.h"

#define COMPONENT "kube"
/* A watch event larger than this is refused (a pod is a few KiB). */
#define KUBE_MAX_EVENT (8u << 20)
#define KUBE_TIMEOUT_MS 30000
/* Asked of the server; it ends the stream and the informer watches again. */
#define KUBE_WATCH_SECONDS 300
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000

struct kube_call;

struct kube_client {
	struct sm_http_client *http;
	struct kube_call *calls; /* in flight, freed with the client */
	char *server, *token, *ca_file, *unix_socket;
};

struct kube_call {
	kube_done_cb cb;
	void *ctx;
	struct sm_http_request *req;
	struct kube_call *next, **prev;
};

static void call_unlink(struct kube_call *call)
{
	*call->prev = call->next;
	if (call->next)
		call->next->prev = call->prev;
}

void kube_client_free(struct kube_client *k)
{
	if (!k)
		return;
	sm_http_client_free(k->http);
	/* Their requests went with the HTTP client: the records go too. */
	for (struct kube_call *call = k->calls, *next; call; call = next) {
		next = call->next;
		free(call);
	}
	k->calls = NULL;
	free(k->server);
	free(k->token);
	free(k->ca_file);
	free(k->unix_socket);
	free(k);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct kube_client *kube_client_new(uv_loop_t *loop,
				    const struct kube_config *cfg)
{
	struct kube_client *k = xcalloc(1, sizeof(*k));
	size_t n;

	k->http = sm_http_client_new(loop);
	if (!k->http) {
		free(k);
		return NULL;
	}
	k->server = xstrdup(cfg->server ? cfg->server : "");
	/* "https://host:6443/" and "https://host:6443" are the same. */
	n = strlen(k->server);
	while (n && k->server[n - 1] == '/')
		k->server[--n] = '\0';
	k->token = dup_or_null(cfg->token);
	k->ca_file = dup_or_null(cfg->ca_file);
	k->unix_socket = dup_or_null(cfg->unix_socket);
	return k;
}

char *kube_object_key(const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *ns = sm_json_get_str(meta, "namespace");
	const char *name = sm_json_get_str(meta, "name");

	if (!name)
		return NULL;
	return ns && *ns ? xasprintf("%s/%s", ns, name) : xstrdup(name);
}

static void call_done(void *ctx, const struct sm_http_response *r)
{
	struct kube_call *call = ctx;
	json_t *body = NULL;
	char *msg = NULL;
	const char *error = r->error;

	if (r->len)
		body = json_loadb(r->body, r->len, 0, NULL);
	if (!error && (r->status < 200 || r->status > 299)) {
		const char *m = sm_json_get_str(body, "message");

		msg = m ? xasprintf("%d: %s", r->status, m)
			: xasprintf("%d: %.200s", r->status, r->body);
		error = msg;
	}
	call_unlink(call);
	call->cb(call->ctx, r->status, body, error);
	json_decref(body);
	free(msg);
	free(call);
}

static int start(struct kube_client *k, const char *method, const char *path,
		 const char *body, const char *content_type,
		 uint64_t timeout_ms, sm_http_data_cb on_data,
		 sm_http_done_cb on_done, void *ctx,
		 struct sm_http_request **out)
{
	struct sm_http_request_opts o = { 0 };
	char *url = xasprintf("%s%s", k->server, path);
	char *ct = xasprintf("Content-Type: %s",
			     content_type ? content_type : "application/json");
	const char *headers[] = { "Accept: application/json", ct, NULL };
	int r;

	o.method = method;
	o.url = url;
	o.unix_socket = k->unix_socket;
	o.headers = headers;
	o.ca_file = k->ca_file;
	o.bearer_token = k->token;
	o.body = body;
	o.body_len = body ? strlen(body) : 0;
	o.timeout_ms = timeout_ms;
	o.on_data = on_data;
	o.on_done = on_done;
	o.ctx = ctx;
	r = sm_http_request_start(k->http, &o, out);
	free(url);
	free(ct);
	return r;
}

int kube_request(struct kube_client *k, const char *method, const char *path,
		 const json_t *body, const char *content_type,
		 uint64_t timeout_ms, kube_done_cb cb, void *ctx,
		 struct kube_call **out)
{
	struct kube_call *call = xcalloc(1, sizeof(*call));
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int r;

	call->cb = cb;
	call->ctx = ctx;
	r = start(k, method, path, text, content_type,
		  timeout_ms ? timeout_ms : KUBE_TIMEOUT_MS, NULL, call_done,
		  call, &call->req);
	free(text);
	if (r) {
		free(call);
		return r;
	}
	call->next = k->calls;
	call->prev = &k->calls;
	if (k->calls)
		k->calls->prev = &call->next;
	k->calls = call;
	if (out)
		*out = call;
	return 0;
}

void kube_request_cancel(struct kube_call *call)
{
	if (!call)
		return;
	sm_http_request_cancel(call->req);
	call_unlink(call);
	free(call);
}

/* Informers */

enum inf_state { INF_IDLE, INF_LISTING, INF_WATCHING, INF_WAITING };

struct kube_informer {
	struct kube_client *k;
	uv_timer_t timer;
	char *path; /* collection path, without query */
	char *query; /* "" or the caller's query, without '?' */
	const struct kube_informer_ops *ops;
	void *ctx;
	json_t *cache; /* key -> object */
	char *rv; /* last resourceVersion seen */
	struct sm_http_request *req;
	struct sm_buf list; /* the list's body */
	struct sm_buf line; /* a partial watch event */
	enum inf_state state;
	bool relist; /* the watch said 410: list again at once */
	bool synced;
	bool failing; /* the last list or watch failed (logged once) */
	bool freeing;
	unsigned lists;
	uint64_t backoff_ms;
};

static void inf_list(struct kube_informer *inf);
static void inf_watch(struct kube_informer *inf);

static void inf_timer_fired(uv_timer_t *t)
{
	struct kube_informer *inf = t->data;

	inf->state = INF_IDLE;
	inf_list(inf);
}

/* Lists again after the backoff. */
static void inf_retry(struct kube_informer *inf, const char *why)
{
	if (!inf->backoff_ms)
		inf->backoff_ms = BACKOFF_MIN_MS;
	/* Once per outage at warning level; the retries at debug. */
	sm_log(inf->failing ? SM_LOG_DEBUG : SM_LOG_WARN, COMPONENT,
	       "%s%s%s: %s (listing again in %llu ms, backing off to %d s)",
	       inf->path, *inf->query ? "?" : "", inf->query, why,
	       (unsigned long long)inf->backoff_ms, BACKOFF_MAX_MS / 1000);
	inf->failing = true;
	inf->state = INF_WAITING;
	uv_timer_start(&inf->timer, inf_timer_fired, inf->backoff_ms, 0);
	inf->backoff_ms *= 2;
	if (inf->backoff_ms > BACKOFF_MAX_MS)
		inf->backoff_ms = BACKOFF_MAX_MS;
}

static void set_rv(struct kube_informer *inf, const json_t *obj)
{
	const char *rv = sm_json_get_str(json_object_get(obj, "metadata"),
					 "resourceVersion");

	if (rv && *rv) {
		free(inf->rv);
		inf->rv = xstrdup(rv);
	}
}

/* One object as it is now: the cache and the callbacks follow. */
static void inf_put(struct kube_informer *inf, const char *key, json_t *obj)
{
	json_t *old = json_object_get(inf->cache, key);

	if (old) {
		json_incref(old);
		json_object_set(inf->cache, key, obj);
		if (inf->ops->updated)
			inf->ops->updated(inf->ctx, key, old, obj);
		json_decref(old);
	} else {
		json_object_set(inf->cache, key, obj);
		if (inf->ops->added)
			inf->ops->added(inf->ctx, key, obj);
	}
}

static void inf_del(struct kube_informer *inf, const char *key, json_t *obj)
{
	json_t *old = json_object_get(inf->cache, key);
	char *k;

	if (!old)
		return;
	/* key may be the cache's own, which goes with the entry. */
	k = xstrdup(key);
	json_incref(old);
	json_object_del(inf->cache, k);
	if (inf->ops->deleted)
		inf->ops->deleted(inf->ctx, k, obj ? obj : old);
	json_decref(old);
	free(k);
}

/* A relist: what is gone is deleted, what changed updated. */
static void inf_replace(struct kube_informer *inf, json_t *items)
{
	json_t *fresh = json_object(), *obj, *old;
	const char *key;
	void *tmp;
	size_t i;

	json_array_foreach (items, i, obj) {
		char *k = kube_object_key(obj);

		if (k)
			json_object_set(fresh, k, obj);
		free(k);
	}
	json_object_foreach_safe (inf->cache, tmp, key, old) {
		if (!json_object_get(fresh, key))
			inf_del(inf, key, NULL);
	}
	json_object_foreach (fresh, key, obj) {
		old = json_object_get(inf->cache, key);
		if (old &&
		    !strcmp(sm_json_get_str(json_object_get(old, "metadata"),
					    "resourceVersion")
				    ?: "",
			    sm_json_get_str(json_object_get(obj, "metadata"),
					    "resourceVersion")
				    ?: ""))
			continue;
		inf_put(inf, key, obj);
	}
	json_decref(fresh);
}

static int list_data(void *ctx, int status, const char *data, size_t len)
{
	struct kube_informer *inf = ctx;

	return sm_buf_add(&inf->list, data, len);
}

static void list_done(void *ctx, const struct sm_http_response *r)
{
	struct kube_informer *inf = ctx;
	json_t *list = NULL;
	const char *rv;
	char why[256];

	inf->req = NULL;
	if (r->error) {
		snprintf(why, sizeof(why), "%s", r->error);
		goto retry;
	}
	if (r->status != 200) {
		list = json_loadb(r->body, r->len, 0, NULL);
		snprintf(why, sizeof(why), "list answered %d: %s", r->status,
			 sm_json_get_str(list, "message") ?: "");
		goto retry;
	}
	list = json_loadb(inf->list.buf ? inf->list.buf : "", inf->list.len, 0,
			  NULL);
	rv = sm_json_get_str(json_object_get(list, "metadata"),
			     "resourceVersion");
	if (!json_is_array(json_object_get(list, "items")) || !rv) {
		snprintf(why, sizeof(why), "the list is not a list");
		goto retry;
	}
	free(inf->rv);
	inf->rv = xstrdup(rv);
	sm_buf_reset(&inf->list);
	inf->lists++;
	inf->synced = true;
	if (inf->failing)
		sm_log(SM_LOG_INFO, COMPONENT, "%s: listed again", inf->path);
	inf->failing = false;
	inf->backoff_ms = 0;
	inf_replace(inf, json_object_get(list, "items"));
	json_decref(list);
	if (inf->ops->synced)
		inf->ops->synced(inf->ctx);
	inf_watch(inf);
	return;
retry:
	json_decref(list);
	sm_buf_reset(&inf->list);
	inf_retry(inf, why);
}

static void inf_list(struct kube_informer *inf)
{
	char *path = xasprintf("%s%s%s", inf->path, *inf->query ? "?" : "",
			       inf->query);
	int r;

	inf->state = INF_LISTING;
	sm_buf_reset(&inf->list);
	r = start(inf->k, "GET", path, NULL, NULL, KUBE_TIMEOUT_MS, list_data,
		  list_done, inf, &inf->req);
	free(path);
	if (r) {
		inf->req = NULL;
		inf_retry(inf, strerror(-r));
	}
}

/* One line of the watch stream. Returns 0, or -ESTALE to list again. */
static int watch_event(struct kube_informer *inf, const char *text, size_t len)
{
	json_t *ev = json_loadb(text, len, 0, NULL);
	const char *type = sm_json_get_str(ev, "type");
	json_t *obj = json_object_get(ev, "object");
	char *key = NULL;
	int r = 0;

	if (!type || !json_is_object(obj)) {
		sm_log(SM_LOG_WARN, COMPONENT,
		       "%s: a watch event that is not "
		       "one: %.100s",
		       inf->path, text);
		r = -EBADMSG;
		goto out;
	}
	if (!strcmp(type, "ERROR")) {
		sm_log(json_integer_value(json_object_get(obj, "code")) == 410
			       ? SM_LOG_DEBUG
			       : SM_LOG_WARN,
		       COMPONENT, "%s: watch: %s", inf->path,
		       sm_json_get_str(obj, "message") ?: "error");
		inf->relist = true;
		r = -ESTALE;
		goto out;
	}
	set_rv(inf, obj);
	if (!strcmp(type, "BOOKMARK"))
		goto out;
	key = kube_object_key(obj);
	if (!key)
		goto out;
	if (!strcmp(type, "DELETED"))
		inf_del(inf, key, obj);
	else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED"))
		inf_put(inf, key, obj);
out:
	free(key);
	json_decref(ev);
	return r;
}

static int watch_data(void *ctx, int status, const char *data, size_t len)
{
	struct kube_informer *inf = ctx;
	const char *nl;

	while (len && (nl = memchr(data, '\n', len))) {
		size_t n = (size_t)(nl - data);
		int r;

		if (inf->line.len) {
			if (sm_buf_add(&inf->line, data, n))
				return -EMSGSIZE;
			r = watch_event(inf, inf->line.buf, inf->line.len);
			sm_buf_reset(&inf->line);
		} else {
			r = n ? watch_event(inf, data, n) : 0;
		}
		if (r)
			return r;
		len -= n + 1;
		data = nl + 1;
	}
	return len ? sm_buf_add(&inf->line, data, len) : 0;
}

static void watch_done(void *ctx, const struct sm_http_response *r)
{
	struct kube_informer *inf = ctx;

	inf->req = NULL;
	sm_buf_reset(&inf->line);
	if (inf->relist) {
		/* 410 Expired: the history is gone; list again at once. */
		inf->relist = false;
		inf->state = INF_IDLE;
		inf_list(inf);
		return;
	}
	if (r->error || r->status != 200) {
		char why[256];

		snprintf(why, sizeof(why), "watch: %s",
			 r->error ? r->error : "answered with an error");
		inf_retry(inf, why);
		return;
	}
	/* The stream ended cleanly: watch on from where it was. */
	inf_watch(inf);
}

static void inf_watch(struct kube_informer *inf)
{
	char *path = xasprintf(
		"%s?%s%swatch=true&allowWatchBookmarks=true&resourceVersion=%s"
		"&timeoutSeconds=%d",
		inf->path, inf->query, *inf->query ? "&" : "", inf->rv,
		KUBE_WATCH_SECONDS);
	int r;

	inf->state = INF_WATCHING;
	r = start(inf->k, "GET", path, NULL, NULL, 0, watch_data, watch_done,
		  inf, &inf->req);
	free(path);
	if (r) {
		inf->req = NULL;
		inf_retry(inf, strerror(-r));
	}
}

struct kube_informer *kube_informer_new(struct kube_client *k, uv_loop_t *loop,
					const char *path,
					const struct kube_informer_ops *ops,
					void *ctx)
{
	struct kube_informer *inf = xcalloc(1, sizeof(*inf));
	const char *q = strchr(path, '?');

	inf->k = k;
	inf->path = q ? xstrndup(path, (size_t)(q - path)) : xstrdup(path);
	inf->query = xstrdup(q ? q + 1 : "");
	inf->ops = ops;
	inf->ctx = ctx;
	inf->cache = json_object();
	sm_buf_init(&inf->list, SM_HTTP_MAX_RESPONSE * 4);
	sm_buf_init(&inf->line, KUBE_MAX_EVENT);
	uv_timer_init(loop, &inf->timer);
	inf->timer.data = inf;
	/* The first list starts from the loop, never from inside this call. */
	inf->state = INF_WAITING;
	uv_timer_start(&inf->timer, inf_timer_fired, 0, 0);
	return inf;
}

static void inf_closed(uv_handle_t *h)
{
	struct kube_informer *inf = h->data;

	json_decref(inf->cache);
	sm_buf_release(&inf->list);
	sm_buf_release(&inf->line);
	free(inf->path);
	free(inf->query);
	free(inf->rv);
	free(inf);
}

void kube_informer_free(struct kube_informer *inf)
{
	if (!inf)
		return;
	if (inf->req)
		sm_http_request_cancel(inf->req);
	inf->req = NULL;
	inf->freeing = true;
	uv_close((uv_handle_t *)&inf->timer, inf_closed);
}

json_t *kube_informer_get(const struct kube_informer *inf, const char *key)
{
	return json_object_get(inf->cache, key);
}

json_t *kube_informer_cache(const struct kube_informer *inf)
{
	return inf->cache;
}

bool kube_informer_synced(const struct kube_informer *inf)
{
	return inf->synced;
}

unsigned kube_informer_lists(const struct kube_informer *inf)
{
	return inf->lists;
}
