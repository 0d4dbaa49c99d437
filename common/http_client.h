/*
 * http_client.h: asynchronous HTTP requests on the process's libuv loop.
 *
 * libcurl's multi-socket interface does the HTTP; libuv tells it when its
 * sockets are ready (one uv_poll_t per socket) and when its timeout expires
 * (one uv_timer_t per client). Nothing here blocks the loop: a request is
 * started, and its completion callback runs later, on the loop thread.
 *
 * Requests can go over TCP or over a unix socket (the Podman service). The
 * body of an answer is either buffered, up to a hard maximum, and handed to
 * the completion callback, or handed piece by piece to a streaming callback
 * as it arrives (logs, events, long polls), which keeps nothing.
 *
 * Invariants:
 * - Every started request ends exactly once: its completion callback runs,
 *   or it was cancelled and no callback of it runs again.
 * - Callbacks run on the loop thread, never from inside
 *   sm_http_request_start().
 * - Connections are kept alive and reused between requests to the same
 *   place.
 *
 * Ownership: everything passed into sm_http_request_start() is copied (URL,
 * socket path, headers, body). Responses are borrowed for the duration of
 * the completion callback. The client owns its requests; a request handle
 * is valid until its completion callback starts or it is cancelled.
 *
 * Lifetime: the client embeds its libuv handles and frees itself from the
 * last close callback, so sm_http_client_free() may be called at any time,
 * even from a callback of one of its requests and with requests in flight;
 * the loop then needs one more turn to finish closing.
 */
#ifndef SM_HTTP_CLIENT_H
#define SM_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"

struct sm_http_client;
struct sm_http_request;

/* Largest buffered response body unless a request sets its own. */
#define SM_HTTP_MAX_RESPONSE (16u << 20)

struct sm_http_response {
	/* HTTP status of the answer; 0 when none was received. */
	int status;
	/*
	 * The buffered body, NUL-terminated ("" when there was none or it was
	 * streamed). Borrowed until the callback returns.
	 */
	const char *body;
	size_t len;
	/* The Content-Type header, or NULL. Borrowed. */
	const char *content_type;
	/*
	 * NULL when the exchange completed (whatever the status). Otherwise
	 * what failed, naming method and URL, e.g.
	 *   GET http://d/v4.0.0/libpod/_ping (unix socket /run/p.sock):
	 *   couldn't connect to server: ...
	 * Transport errors, timeouts, an answer over the size maximum and a
	 * streaming callback that gave up all end up here. Borrowed.
	 */
	const char *error;
	/* The negative errno-style reason when error is set, else 0. */
	int err;
};

/* Called once when a request ends, unless it was cancelled. */
typedef void (*sm_http_done_cb)(void *ctx, const struct sm_http_response *r);

/*
 * Called with body bytes as they arrive, in order, when the answer has a
 * 2xx status (other answers are buffered so that the completion callback
 * gets the error body). Return 0 to go on, or a negative errno to fail the
 * request: the completion callback then gets that error. The callback may
 * cancel its own request (then return anything) or free the client.
 */
typedef int (*sm_http_data_cb)(void *ctx, int status, const char *data,
			       size_t len);

struct sm_http_request_opts {
	const char *method; /* "GET", "POST", ...; NULL means GET */
	const char *url; /* required; with unix_socket any host will do */
	const char *unix_socket; /* path of a unix socket, or NULL for TCP */
	/* NULL-terminated "Name: value" strings, or NULL. */
	const char *const *headers;
	/*
	 * HTTPS: a PEM file of the CAs to trust instead of the system's (a
	 * stuurman server's ca.crt), or NULL for the system's. The server's
	 * certificate and name are always verified.
	 */
	const char *ca_file;
	/*
	 * HTTPS without verifying the peer's certificate or name: only for
	 * the API server's calls to node agents, whose self-signed
	 * certificates Kubernetes' API server does not verify either. The
	 * traffic is encrypted, not authenticated.
	 */
	bool insecure_skip_verify;
	/* Sent as "Authorization: Bearer <token>" when not NULL. */
	const char *bearer_token;
	/* Request body, sent with its length; NULL for none. */
	const void *body;
	size_t body_len;
	/* Whole-request timeout in milliseconds; 0 means none (long polls). */
	uint64_t timeout_ms;
	/* Most body bytes buffered; 0 means SM_HTTP_MAX_RESPONSE. */
	size_t max_response;
	sm_http_data_cb on_data; /* NULL: buffer the body */
	sm_http_done_cb on_done; /* required */
	void *ctx; /* passed to both callbacks */
};

/*
 * Cancels every request still running (none of their callbacks run) and
 * closes the client's handles; the memory goes in the last close callback.
 * NULL is ignored.
 */
void sm_http_client_free(struct sm_http_client *c);

/*
 * A client on loop (borrowed; it must outlive the client). Returns NULL
 * only when libcurl cannot be set up. Free with sm_http_client_free().
 */
struct sm_http_client *sm_http_client_new(uv_loop_t *loop)
	SM_MALLOC(sm_http_client_free);

/*
 * Starts a request. On success returns 0 and, when out is not NULL, sets
 * *out to a handle valid until the completion callback starts or the
 * request is cancelled. Fails with -EINVAL for a missing URL or callback
 * or a bearer token with a line break, -ESHUTDOWN after
 * sm_http_client_free(), or -ENOMEM when libcurl refuses; a failed call
 * never runs a callback.
 */
int sm_http_request_start(struct sm_http_client *c,
			  const struct sm_http_request_opts *o,
			  struct sm_http_request **out);

/*
 * Abandons a request: none of its callbacks run from now on, also when
 * called from one of them. The handle is invalid afterwards.
 */
void sm_http_request_cancel(struct sm_http_request *r);

/*
 * Requests the client still holds: started and not ended (a request
 * cancelled from inside a callback counts until curl has let go of it).
 */
size_t sm_http_client_pending(const struct sm_http_client *c);

#endif
