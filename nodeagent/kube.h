/*
 * kube.h: a small Kubernetes API client for the node agent, on
 * common/http_client.h (libcurl multi on the caller's libuv loop).
 *
 * Requests: JSON in, JSON out, with the bearer token and the CA file of
 * the server (its ca.crt; the server's certificate and name are always
 * verified). A Status answer (4xx, 5xx) comes back with its code and its
 * message.
 *
 * Informers: the pattern every Kubernetes controller and the kubelet use.
 * List a collection, then watch it from the list's resourceVersion; each
 * event updates a local cache keyed "namespace/name" (or "name" for
 * cluster-scoped objects) and calls the caller's added, updated or
 * deleted callback. When the watch stream ends (the server's
 * timeoutSeconds, a restart), the informer watches again from the last
 * resourceVersion it saw; on 410 Expired or any error it lists again after
 * a backoff (0.2 s doubling to 5 s, reset by a good list), and a relist
 * turns into the callbacks that bring the cache to the new list (deleted
 * for what is gone, updated for what changed, added for what is new).
 *
 * Invariants: callbacks run on the loop thread, never from inside a call
 * of this API; the cache is always the state the callbacks have told.
 *
 * Ownership: configuration strings are copied. Objects handed to
 * callbacks and returned by kube_informer_get() are borrowed: valid until
 * the callback returns, or until the loop runs on. A client must outlive
 * its informers and requests; kube_client_free() cancels every request
 * (no callback runs again). Informers embed a timer: kube_informer_free()
 * closes it, the memory goes from its close callback.
 */
#ifndef SM_NODEAGENT_KUBE_H
#define SM_NODEAGENT_KUBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"

struct kube_client;
struct kube_informer;
struct kube_call;

struct kube_config {
	const char *server; /* "https://127.0.0.1:6443" (required) */
	const char *token; /* the bearer token, or NULL */
	const char *ca_file; /* PEM of the server's CA, or NULL */
	const char *unix_socket; /* tests: talk over this socket instead */
};

/* Cancels every request (no callback runs); NULL is ignored. */
void kube_client_free(struct kube_client *k);

/* A client on loop (borrowed). NULL only when libcurl cannot be set up. */
struct kube_client *kube_client_new(uv_loop_t *loop,
				    const struct kube_config *cfg)
	SM_MALLOC(kube_client_free);

/*
 * The end of a request: status is the HTTP status (0 when none came),
 * body the parsed JSON answer or NULL (borrowed), error NULL for a 2xx
 * answer, else what failed: the transport's error or the Status message
 * ("pods \"x\" not found"), borrowed.
 */
typedef void (*kube_done_cb)(void *ctx, int status, json_t *body,
			     const char *error);

/*
 * Sends method path (with its query, e.g. "/api/v1/nodes/n1/status") with
 * body as JSON (NULL: none) of content_type (NULL: application/json; use
 * "application/merge-patch+json" for PATCH). timeout_ms 0 means 30 s.
 * Returns 0 (cb runs later, once, unless the client is freed or the
 * request cancelled through *out), or a negative errno (cb never runs).
 * *out may be NULL; the handle is valid until cb starts.
 */
int kube_request(struct kube_client *k, const char *method, const char *path,
		 const json_t *body, const char *content_type,
		 uint64_t timeout_ms, kube_done_cb cb, void *ctx,
		 struct kube_call **out);

/*
 * Abandons a request started by kube_request(); cb will not run. NULL is
 * ignored. Requests still running when the client is freed are cancelled
 * with it (their small records go with the client's requests).
 */
void kube_request_cancel(struct kube_call *call);

struct kube_informer_ops {
	/* obj is borrowed; key is "ns/name" or "name". Any may be NULL. */
	void (*added)(void *ctx, const char *key, json_t *obj);
	void (*updated)(void *ctx, const char *key, json_t *old, json_t *obj);
	void (*deleted)(void *ctx, const char *key, json_t *obj);
	/* After each successful list, once its callbacks have run. */
	void (*synced)(void *ctx);
};

/* Stops watching and goes once its timer has closed; NULL is ignored. */
void kube_informer_free(struct kube_informer *inf);

/*
 * An informer on path, a collection with an optional query
 * ("/api/v1/pods?fieldSelector=spec.nodeName%3Dn1"). ops is borrowed for
 * the informer's life, path copied. Starts listing at once.
 */
struct kube_informer *
kube_informer_new(struct kube_client *k, uv_loop_t *loop, const char *path,
		  const struct kube_informer_ops *ops, void *ctx)
	SM_MALLOC(kube_informer_free);

/* The cached object of key, or NULL. Borrowed. */
json_t *kube_informer_get(const struct kube_informer *inf, const char *key);

/* The whole cache: an object key -> object. Borrowed. */
json_t *kube_informer_cache(const struct kube_informer *inf);

/* True once a list has succeeded. */
bool kube_informer_synced(const struct kube_informer *inf);

/* Lists done so far (the first and every relist), for tests and logs. */
unsigned kube_informer_lists(const struct kube_informer *inf);

/* The key of obj: "namespace/name", or "name" without a namespace (new). */
char *kube_object_key(const json_t *obj);

#endif
