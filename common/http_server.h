/*
 * http_server.h: an HTTP/1.1 server on the process's libuv loop.
 *
 * http-parser (2.9, callbacks API) reads requests; libuv accepts and does
 * the I/O on a TCP address ("127.0.1.1:10250", "[::1]:6443") or a unix
 * socket path ("/run/x.sock" or "unix:/run/x.sock"). A routing function,
 * the handler, gets every request and answers through a response object:
 * a whole body with Content-Length, or a streamed body with chunked
 * transfer encoding (container logs that follow, watches).
 *
 * Invariants:
 * - Requests of one connection are handled in order: a pipelined request
 *   reaches the handler only when the answer before it has ended.
 * - Request bodies, header bytes and header counts are bounded by the
 *   options: a body over the maximum gets 413, headers over their bounds
 *   431, anything malformed 400; each then closes the connection. Bad
 *   input never crashes the server (see sm_http_server_feed()).
 * - A connection waiting for a request closes after idle_timeout_ms; a
 *   request whose line and headers take longer than header_timeout_ms
 *   gets 408 and the connection closes.
 * - Callbacks run on the loop thread and never from inside a call of this
 *   API: the gone and drain callbacks always come from a loop callback.
 *
 * Backpressure: a response queues what it writes. Once the queue is over
 * write_high_water bytes, sm_http_resp_writable() says false and the drain
 * callback runs when the queue has emptied again; a handler that streams
 * should wait for it. A write that would take the queue over four times
 * write_high_water is refused with -ENOBUFS: the connection is dropped
 * with a warning in the log and the gone callback follows.
 *
 * A client that half-closes (EOF) while its answer is still being written
 * is taken as gone, as for a client that closes the connection. While an
 * answer is in progress, at most 256 KiB of pipelined input is read ahead;
 * past that, reading pauses until the answer ends.
 *
 * Ownership: options are copied (the listen address) or borrowed for the
 * server's life (the transport and handler context). A request is borrowed
 * by the handler until its response ends. A response belongs to the
 * server: the handler may keep it after returning, until it ends it
 * (sm_http_resp_send() or sm_http_resp_end(), which consume it, also when
 * they fail) or until its gone callback has returned. A handler that keeps
 * a response past its return must set a gone callback.
 *
 * Transport: bytes between the socket and the parser go through a
 * struct sm_http_transport_ops, the seam for TLS. The plain transport (TCP
 * or unix socket, no encryption) is here, and NULL in the options means
 * it; common/tls.h has the OpenSSL one.
 *
 * Lifetime: the server embeds its libuv handles and frees itself from the
 * last close callback (rule 14). sm_http_server_free() may be called any
 * time, also from a handler or with connections open: they are closed,
 * their unfinished responses get their gone callbacks, and the memory goes
 * when the loop has turned enough to close everything.
 *
 * Upgrades (Upgrade, CONNECT) are not supported yet: such a request is
 * answered by the handler like any other, then the connection closes.
 */
#ifndef SM_HTTP_SERVER_H
#define SM_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"

struct sm_err;
struct sm_buf;
struct sm_http_server;
struct sm_http_resp;
struct sm_http_conn;

/* Defaults for options left 0. */
#define SM_HTTP_SERVER_MAX_BODY (1u << 20)
#define SM_HTTP_SERVER_MAX_HEADER_BYTES (16u << 10)
#define SM_HTTP_SERVER_MAX_HEADERS 64u
#define SM_HTTP_SERVER_HEADER_TIMEOUT_MS 10000u
#define SM_HTTP_SERVER_IDLE_TIMEOUT_MS 60000u
#define SM_HTTP_SERVER_WRITE_HIGH_WATER (256u << 10)

/* A request, as the handler sees it. Every string is NUL-terminated. */
struct sm_http_req {
	const char *method; /* "GET", "POST", ... */
	const char *path; /* the target up to '?', as sent (not decoded) */
	const char *query; /* after '?', not decoded; "" when none */
	const char *body; /* "" when none; may hold NULs of its own */
	size_t body_len;
	int http_major, http_minor;
	struct sm_http_conn *conn; /* private */
};

/*
 * The value of the first header called name (case-insensitive), or NULL.
 * Borrowed like the request.
 */
const char *sm_http_req_header(const struct sm_http_req *r, const char *name);
/* Number of headers; the i-th (in order received) through name and value. */
size_t sm_http_req_header_count(const struct sm_http_req *r);
void sm_http_req_header_at(const struct sm_http_req *r, size_t i,
			   const char **name, const char **value);

/*
 * The routing function: answers req through resp, now or later from any
 * loop callback.
 */
typedef void (*sm_http_handler)(void *ctx, const struct sm_http_req *req,
				struct sm_http_resp *resp);
/*
 * The client went away (or the server stops) before the response ended.
 * The response is invalid once this returns; calls on it from inside the
 * callback fail with -ECONNRESET and do nothing else.
 */
typedef void (*sm_http_gone_cb)(void *ctx, struct sm_http_resp *resp);
/* The write queue of a response emptied after it was over high water. */
typedef void (*sm_http_drain_cb)(void *ctx, struct sm_http_resp *resp);

/*
 * The seam between a connection's socket and its parser. recv gets the
 * bytes read from the socket and hands the plain text to
 * sm_http_conn_deliver(); send gets plain text from the server and writes
 * what goes on the wire with sm_http_conn_send_raw(). Both return 0 or a
 * negative errno (the connection then closes). open and close set up and
 * release per-connection state (*state); either may be NULL. shutdown
 * (may be NULL) runs once when the server ends a connection cleanly, after
 * the last answer was handed to send and before the socket's write side
 * is shut down: a last chance to write (TLS close_notify); an error only
 * makes the connection close at once. A connection dropped for an error,
 * a timeout or a stopping server gets no shutdown call. recv may hand on
 * up to 32 KiB more than it was given in one call (one buffered record).
 */
struct sm_http_transport_ops {
	const char *name;
	int (*open)(void *tctx, struct sm_http_conn *c, void **state);
	int (*recv)(void *state, struct sm_http_conn *c, const char *data,
		    size_t len);
	int (*send)(void *state, struct sm_http_conn *c, const char *data,
		    size_t len);
	void (*close)(void *state);
	int (*shutdown)(void *state, struct sm_http_conn *c);
};

/* Plain TCP or unix socket, no encryption. */
extern const struct sm_http_transport_ops sm_http_transport_plain;

/* For transports: plain text in, wire bytes out. 0 or a negative errno. */
int sm_http_conn_deliver(struct sm_http_conn *c, const char *data, size_t len);
int sm_http_conn_send_raw(struct sm_http_conn *c, const char *data, size_t len);

/*
 * The peer's address as "ADDR:PORT" or "[ADDR]:PORT" into buf (always
 * NUL-terminated), for log lines; "unix" for a unix socket and "memory"
 * for sm_http_server_feed(). Returns buf.
 */
const char *sm_http_conn_peer(const struct sm_http_conn *c, char *buf,
			      size_t len);

struct sm_http_server_opts {
	/*
	 * "ADDR:PORT" (IPv4), "[ADDR]:PORT" (IPv6), "/path" or "unix:/path".
	 * Port 0 asks the OS for a free one (see sm_http_server_port()).
	 * Required; copied.
	 */
	const char *listen;
	size_t max_body; /* most request body bytes */
	size_t max_header_bytes; /* request line and headers, about */
	unsigned max_headers;
	uint64_t header_timeout_ms;
	uint64_t idle_timeout_ms;
	size_t write_high_water; /* bytes queued per connection */
	int backlog; /* 0 means 128 */
	sm_http_handler handler; /* required */
	void *ctx; /* passed to the handler; borrowed */
	/* NULL means sm_http_transport_plain; borrowed with tctx. */
	const struct sm_http_transport_ops *transport;
	void *tctx;
	/*
	 * The body of the answers the server gives by itself (400, 408,
	 * 413, 431): appends it to body and returns its Content-Type
	 * (static). NULL: the reason phrase as text/plain. Called with ctx.
	 */
	const char *(*error_body)(void *ctx, int status, const char *reason,
				  struct sm_buf *body);
};

/*
 * Closes the listener and every connection; unfinished responses get their
 * gone callbacks from the close callbacks. NULL is ignored.
 */
void sm_http_server_free(struct sm_http_server *s);

/*
 * Listens on o->listen with the loop (borrowed; it must outlive the
 * server). Returns 0 and sets *out (free with sm_http_server_free()), or a
 * negative errno with a message in err: -EINVAL for bad options or an
 * address that does not parse, or libuv's error for bind and listen
 * (-EADDRINUSE, ...). Nothing is left open on failure.
 */
int sm_http_server_start(uv_loop_t *loop, const struct sm_http_server_opts *o,
			 struct sm_http_server **out, struct sm_err *err);

/* The bound TCP port (useful after port 0), or 0 for a unix socket. */
int sm_http_server_port(const struct sm_http_server *s);

/* Open connections. */
size_t sm_http_server_connections(const struct sm_http_server *s);

/*
 * Test and fuzz seam: runs data through a fresh in-memory connection of s,
 * as if a client had sent it and then closed its side, with s's handler
 * and limits. What the server would have sent goes into out (its own
 * maximum applies; extra is dropped). Handlers that answer at once are
 * complete on return; the connection's memory goes on a later loop turn.
 * Returns 0 or -ESHUTDOWN after sm_http_server_free().
 */
int sm_http_server_feed(struct sm_http_server *s, const void *data, size_t len,
			struct sm_buf *out);

/*
 * The response. set_status (default 200) and add_header must come before
 * the body. Content-Length, Transfer-Encoding and Connection are the
 * server's; add_header returns -EINVAL for them, and -EALREADY once the
 * head was sent. Names and values are copied; they may not hold CR or LF.
 */
int sm_http_resp_set_status(struct sm_http_resp *r, int status);
int sm_http_resp_add_header(struct sm_http_resp *r, const char *name,
			    const char *value);

/*
 * Sends the head and a whole body with Content-Length, and ends the
 * response (r is invalid afterwards, whatever the result). Returns 0, or
 * -ECONNRESET when the client is gone, -EALREADY when a stream was started.
 */
int sm_http_resp_send(struct sm_http_resp *r, const void *body, size_t len);

/*
 * Streaming: start sends the head with chunked transfer encoding (for an
 * HTTP/1.0 client no framing, and the connection closes at the end);
 * write sends one chunk (empty writes are skipped); end sends the last
 * chunk and ends the response (r is invalid afterwards, whatever the
 * result). write starts the stream when needed. Each returns 0,
 * -ECONNRESET when the client is gone, or -ENOBUFS (write) when the queue
 * would go over its hard limit (the connection is dropped).
 */
int sm_http_resp_start(struct sm_http_resp *r);
int sm_http_resp_write(struct sm_http_resp *r, const void *data, size_t len);
int sm_http_resp_end(struct sm_http_resp *r);

/* Sets the gone and drain callbacks (either may be NULL) and their ctx. */
void sm_http_resp_on(struct sm_http_resp *r, sm_http_gone_cb gone,
		     sm_http_drain_cb drain, void *ctx);

/* False while the write queue is over write_high_water. */
bool sm_http_resp_writable(const struct sm_http_resp *r);

#endif
