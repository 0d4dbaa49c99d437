/*
 * http_test_server.h: a tiny HTTP/1.1 server on a unix socket, on the
 * test's libuv loop, for tests of HTTP clients.
 *
 * It reads one request per connection (head plus Content-Length body),
 * hands it to the test's handler, and writes whatever the handler queued:
 * pieces of raw bytes, each after its own delay, then closes the
 * connection. The handler writes real HTTP (status line, headers, body or
 * chunks), so it can also answer wrongly on purpose.
 *
 * Everything runs on the loop thread. tsrv_stop() closes the listener and
 * every connection; the memory goes from the last close callback.
 */
#ifndef SM_TESTS_HTTP_TEST_SERVER_H
#define SM_TESTS_HTTP_TEST_SERVER_H

#include <stddef.h>
#include <uv.h>

struct tsrv;
struct tconn;

struct treq {
	const char *method;
	const char *target; /* path and query as sent */
	const char *head; /* the whole request head */
	const char *body;
	size_t body_len;
};

typedef void (*tsrv_handler)(void *ctx, struct tconn *c, const struct treq *r);

/* Listens on a fresh socket in a temporary folder. Never NULL. */
struct tsrv *tsrv_start(uv_loop_t *loop, tsrv_handler h, void *ctx);
void tsrv_stop(struct tsrv *s);
const char *tsrv_path(const struct tsrv *s);
/* Requests received so far. */
int tsrv_requests(const struct tsrv *s);

/* Queues raw bytes, written delay_ms after the previous piece. */
void tconn_send(struct tconn *c, unsigned delay_ms, const void *data,
		size_t len);
void tconn_sendf(struct tconn *c, unsigned delay_ms, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Queues a complete answer with Content-Length. */
void tconn_reply(struct tconn *c, int status, const char *ctype,
		 const void *body, size_t len);
/* Queues the head of a chunked answer, then each chunk with tconn_chunk. */
void tconn_chunked_head(struct tconn *c, int status, const char *ctype);
void tconn_chunk(struct tconn *c, unsigned delay_ms, const void *data,
		 size_t len);
/* Closes the connection once everything queued is written. */
void tconn_end(struct tconn *c);
/*
 * For connections that go on after the request (a hijacked exec): cb gets
 * the bytes the client sends after it (at once for those already read),
 * then (NULL, 0) when the client half-closes; the connection then stays
 * open until tconn_end().
 */
typedef void (*tconn_input_cb)(void *ctx, struct tconn *c, const char *data,
			       size_t len);
void tconn_on_input(struct tconn *c, tconn_input_cb cb, void *ctx);

#endif
