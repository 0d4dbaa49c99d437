/*
 * http_server.c: HTTP/1.1 on libuv with http-parser.
 *
 * How a connection works:
 * - Bytes read from the socket go through the transport (plain: as they
 *   are) into c->in, a bounded buffer of bytes not parsed yet.
 * - conn_process() runs the parser over c->in. The parser copies the URL
 *   and headers into c->head and the body into c->body (both bounded), and
 *   pauses itself at the end of every message, so that exactly one request
 *   is handed to the handler at a time; what follows stays in c->in.
 * - When the response ends, parsing goes on with the next request: at once
 *   when the handler answered from inside conn_process(), otherwise from
 *   the connection's timer fired with timeout 0, so that no handler runs
 *   from inside a call of the response API.
 * - The one timer of a connection also serves the header, idle and linger
 *   timeouts: which one is running follows from the connection's state
 *   (conn_arm_timer()).
 * - A connection that must close after an answer (errors, Connection:
 *   close) shuts its write side down once the queue is empty and reads
 *   what the client still sends for a short while (a lingering close), so
 *   that the client is not reset before it has read the answer.
 *
 * Lifetime: a connection counts its open handles in refs and is freed from
 * the close callback that brings it to zero; that is also where an
 * unfinished response gets its gone callback. The server counts one
 * reference for its owner, one for the listener and one per connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "common/banned.h"

#define LOG "http-server"
/* Bytes read from the socket at a time. */
#define READ_SIZE (64u << 10)
/* Unparsed bytes kept while a request is being answered (pipelining). */
#define IN_MAX (4 * READ_SIZE)
/*
 * What a transport may hand on beyond what one read gave it: TLS keeps a
 * partial record between reads and delivers it whole with the next one.
 */
#define IN_SLACK (32u << 10)
#define LINGER_MS 2000u
/* Hard cap of a write queue, in high-water marks. */
#define QUEUE_CAP_FACTOR 4

enum pstate { P_NONE, P_URL, P_FIELD, P_VALUE };

struct hdr {
	size_t name, value; /* offsets into head; value SIZE_MAX: none */
};

struct wreq {
	uv_write_t req;
	struct sm_http_conn *c;
	size_t len;
	char data[];
};

struct sm_http_resp {
	struct sm_http_conn *c;
	int status;
	struct sm_buf headers;
	bool head_sent;
	bool streaming;
	bool chunked;
	bool in_gone;
	sm_http_gone_cb gone;
	sm_http_drain_cb drain;
	void *ctx;
};

struct sm_http_conn {
	union {
		uv_tcp_t tcp;
		uv_pipe_t pipe;
		uv_stream_t stream;
		uv_handle_t handle;
	} s;
	uv_timer_t timer;
	uv_shutdown_t shutdown;
	struct sm_http_server *srv;
	struct sm_http_conn *prev, *next;
	int refs; /* open handles */
	const struct sm_http_transport_ops *tops;
	void *tstate;
	char *rbuf; /* READ_SIZE bytes, allocated on the first read */
	struct sm_buf *sink; /* in-memory connections: the output */

	http_parser parser;
	struct sm_buf in;
	size_t in_off;
	struct sm_buf head;
	enum pstate pstate;
	struct hdr *hdrs;
	size_t nr_hdrs, alloc_hdrs;
	const char **names, **values; /* resolved at headers_complete */
	struct sm_buf body;
	int fail_status; /* what a parser callback that failed asks for */
	uint64_t head_deadline;
	bool in_head; /* between message begin and headers complete */
	bool dispatch; /* a message completed; the handler is due */
	bool keep_alive;

	struct sm_http_req req;
	struct sm_http_resp *resp; /* the response being written, if any */
	size_t queued; /* bytes handed to uv_write, not written yet */
	bool want_drain;

	bool memory;
	bool reading;
	bool eof;
	bool processing;
	bool process_pending;
	bool close_after_write;
	bool shutting_down;
	bool lingering;
	bool closing;
};

struct sm_http_server {
	uv_loop_t *loop;
	union {
		uv_tcp_t tcp;
		uv_pipe_t pipe;
		uv_stream_t stream;
		uv_handle_t handle;
	} l;
	int refs;
	int port;
	bool stopping;
	size_t max_body, max_header_bytes;
	unsigned max_headers;
	uint64_t header_timeout_ms, idle_timeout_ms;
	size_t high_water;
	sm_http_handler handler;
	void *ctx;
	const struct sm_http_transport_ops *tops;
	void *tctx;
	const char *(*error_body)(void *ctx, int status, const char *reason,
				  struct sm_buf *body);
	struct sm_http_conn *conns;
	size_t nr_conns;
};

static void conn_process(struct sm_http_conn *c);
static void conn_arm_timer(struct sm_http_conn *c);
static void conn_maybe_finish(struct sm_http_conn *c);
static void on_conn_timer(uv_timer_t *t);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

/* The plain transport: bytes as they are. */

static int plain_recv(void *state, struct sm_http_conn *c, const char *data,
		      size_t len)
{
	return sm_http_conn_deliver(c, data, len);
}

static int plain_send(void *state, struct sm_http_conn *c, const char *data,
		      size_t len)
{
	return sm_http_conn_send_raw(c, data, len);
}

const struct sm_http_transport_ops sm_http_transport_plain = {
	.name = "plain",
	.recv = plain_recv,
	.send = plain_send,
};

static const char *reason(int status)
{
	static const struct {
		int status;
		const char *text;
	} table[] = {
		{ 100, "Continue" },
		{ 101, "Switching Protocols" },
		{ 200, "OK" },
		{ 201, "Created" },
		{ 202, "Accepted" },
		{ 204, "No Content" },
		{ 301, "Moved Permanently" },
		{ 302, "Found" },
		{ 304, "Not Modified" },
		{ 400, "Bad Request" },
		{ 401, "Unauthorized" },
		{ 403, "Forbidden" },
		{ 404, "Not Found" },
		{ 405, "Method Not Allowed" },
		{ 408, "Request Timeout" },
		{ 409, "Conflict" },
		{ 410, "Gone" },
		{ 413, "Payload Too Large" },
		{ 415, "Unsupported Media Type" },
		{ 422, "Unprocessable Entity" },
		{ 429, "Too Many Requests" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" },
		{ 501, "Not Implemented" },
		{ 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
	};
	size_t i;

	for (i = 0; i < SM_ARRAY_SIZE(table); i++)
		if (table[i].status == status)
			return table[i].text;
	return "Unknown";
}

static void server_unref(struct sm_http_server *s)
{
	if (--s->refs == 0)
		free(s);
}

const char *sm_http_conn_peer(const struct sm_http_conn *c, char *buf,
			      size_t len)
{
	struct sockaddr_storage ss = { 0 };
	int sslen = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (c->memory) {
		snprintf(buf, len, "memory");
		return buf;
	}
	if (c->s.handle.type != UV_TCP) {
		snprintf(buf, len, "unix");
		return buf;
	}
	if (uv_tcp_getpeername(&c->s.tcp, (struct sockaddr *)&ss, &sslen) < 0) {
		snprintf(buf, len, "?");
		return buf;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

		uv_ip6_name(a, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(buf, len, "[%s]:%d", host, port);
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

		uv_ip4_name(a, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(buf, len, "%s:%d", host, port);
	}
	return buf;
}

/* Connection teardown. */

static void resp_free(struct sm_http_resp *r)
{
	sm_buf_release(&r->headers);
	free(r);
}

static void conn_free(struct sm_http_conn *c)
{
	struct sm_http_server *s = c->srv;
	struct sm_http_resp *r = c->resp;

	if (r) {
		/* The response did not end: its owner must let go of it. */
		if (r->gone) {
			r->in_gone = true;
			r->gone(r->ctx, r);
		}
		c->resp = NULL;
		resp_free(r);
	}
	if (c->tops->close)
		c->tops->close(c->tstate);
	free(c->rbuf);
	sm_buf_release(&c->in);
	sm_buf_release(&c->head);
	sm_buf_release(&c->body);
	free(c->hdrs);
	free(c->names);
	free(c->values);
	free(c);
	server_unref(s);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct sm_http_conn *c = h->data;

	if (--c->refs == 0)
		conn_free(c);
}

static void conn_close(struct sm_http_conn *c)
{
	struct sm_http_server *s = c->srv;

	if (c->closing)
		return;
	c->closing = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	s->nr_conns--;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
	if (!c->memory)
		uv_close(&c->s.handle, on_conn_closed);
}

/* Output. */

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = req->data;
	struct sm_http_conn *c = w->c;

	c->queued -= w->len;
	free(w);
	if (c->closing)
		return;
	if (status < 0) {
		sm_log(SM_LOG_DEBUG, LOG, "write failed: %s",
		       uv_strerror(status));
		conn_close(c);
		return;
	}
	if (c->queued == 0 && c->want_drain) {
		c->want_drain = false;
		if (c->resp && c->resp->drain)
			c->resp->drain(c->resp->ctx, c->resp);
		if (c->closing)
			return;
	}
	conn_maybe_finish(c);
}

int sm_http_conn_send_raw(struct sm_http_conn *c, const char *data, size_t len)
{
	struct wreq *w;
	uv_buf_t b;
	int ret;

	if (c->closing)
		return -ECONNRESET;
	if (len == 0)
		return 0;
	if (c->memory) {
		/* Past its maximum the sink keeps what fitted. */
		if (c->sink)
			sm_buf_add(c->sink, data, len);
		return 0;
	}
	w = xmalloc(sizeof(*w) + len);
	w->c = c;
	w->len = len;
	w->req.data = w;
	memcpy(w->data, data, len);
	b = uv_buf_init(w->data, (unsigned int)len);
	ret = uv_write(&w->req, &c->s.stream, &b, 1, on_written);
	if (ret < 0) {
		free(w);
		return ret;
	}
	c->queued += len;
	return 0;
}

static int conn_send(struct sm_http_conn *c, const char *data, size_t len)
{
	int ret = c->tops->send(c->tstate, c, data, len);

	if (ret < 0 && !c->closing) {
		sm_log(SM_LOG_DEBUG, LOG, "send failed: %s", strerror(-ret));
		conn_close(c);
	}
	return ret < 0 ? -ECONNRESET : 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct sm_http_conn *c = req->data;

	if (c->closing)
		return;
	if (status < 0 || c->eof) {
		conn_close(c);
		return;
	}
	/* Read and drop what the client still sends, for a while. */
	c->lingering = true;
	if (!c->reading && !c->eof) {
		c->reading = true;
		uv_read_start(&c->s.stream, on_alloc, on_read);
	}
	uv_timer_start(&c->timer, on_conn_timer, LINGER_MS, 0);
}

/*
 * Closes a connection that must close once everything queued is written:
 * the write side is shut down, then the rest of the client's data is read
 * and dropped until it closes or the linger time has passed.
 */
static void conn_maybe_finish(struct sm_http_conn *c)
{
	if (c->closing || !c->close_after_write || c->resp || c->queued > 0 ||
	    c->shutting_down)
		return;
	if (c->memory || c->eof) {
		conn_close(c);
		return;
	}
	c->shutting_down = true;
	c->shutdown.data = c;
	if (c->tops->shutdown && c->tops->shutdown(c->tstate, c) < 0) {
		conn_close(c);
		return;
	}
	if (uv_shutdown(&c->shutdown, &c->s.stream, on_shutdown) < 0)
		conn_close(c);
}

/* Answers a request that cannot be handled, and closes the connection. */
static void conn_fail(struct sm_http_conn *c, int status)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf body = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *text = reason(status), *ct = "text/plain";

	sm_log(SM_LOG_DEBUG, LOG, "answering %d %s and closing", status, text);
	c->keep_alive = false;
	c->close_after_write = true;
	if (c->srv->error_body)
		ct = c->srv->error_body(c->srv->ctx, status, text, &body);
	else
		sm_buf_addf(&body, "%s\n", text);
	sm_buf_addf(&b,
		    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		    status, text, ct, body.len);
	sm_buf_add(&b, body.buf, body.len);
	conn_send(c, b.buf, b.len);
	sm_buf_release(&body);
	sm_buf_release(&b);
	conn_maybe_finish(c);
}

/* Parser callbacks. */

static int fail_with(struct sm_http_conn *c, int status)
{
	c->fail_status = status;
	return -1;
}

static int head_add(struct sm_http_conn *c, const char *at, size_t len)
{
	if (sm_buf_add(&c->head, at, len) < 0)
		return fail_with(c, 431);
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct sm_http_conn *c = p->data;

	sm_buf_reset(&c->head);
	sm_buf_reset(&c->body);
	c->nr_hdrs = 0;
	c->pstate = P_NONE;
	c->in_head = true;
	c->head_deadline = uv_now(c->timer.loop) + c->srv->header_timeout_ms;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct sm_http_conn *c = p->data;

	c->pstate = P_URL;
	return head_add(c, at, len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct sm_http_conn *c = p->data;

	if (!c->in_head)
		return 0; /* trailers of a chunked body are dropped */
	if (c->pstate != P_FIELD) {
		if (c->nr_hdrs >= c->srv->max_headers)
			return fail_with(c, 431);
		if (head_add(c, "", 1) < 0)
			return -1;
		SM_ALLOC_GROW(c->hdrs, c->nr_hdrs + 1, c->alloc_hdrs);
		c->hdrs[c->nr_hdrs].name = c->head.len;
		c->hdrs[c->nr_hdrs].value = SIZE_MAX;
		c->nr_hdrs++;
		c->pstate = P_FIELD;
	}
	return head_add(c, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct sm_http_conn *c = p->data;

	if (!c->in_head)
		return 0;
	if (c->pstate != P_VALUE) {
		if (c->pstate != P_FIELD || head_add(c, "", 1) < 0)
			return fail_with(c, c->fail_status ? 431 : 400);
		c->hdrs[c->nr_hdrs - 1].value = c->head.len;
		c->pstate = P_VALUE;
	}
	return head_add(c, at, len);
}

static int on_headers_complete(http_parser *p)
{
	struct sm_http_conn *c = p->data;
	struct sm_http_server *s = c->srv;
	const char *expect;
	char *url, *q;
	size_t i;

	/* The final NUL of the buffer ends the last string. */
	if (c->pstate == P_NONE || c->head.buf[0] != '/')
		return fail_with(c, 400);
	c->in_head = false;
	free(c->names);
	free(c->values);
	c->names = xcalloc(c->nr_hdrs + 1, sizeof(*c->names));
	c->values = xcalloc(c->nr_hdrs + 1, sizeof(*c->values));
	for (i = 0; i < c->nr_hdrs; i++) {
		c->names[i] = c->head.buf + c->hdrs[i].name;
		c->values[i] = c->hdrs[i].value == SIZE_MAX
				       ? ""
				       : c->head.buf + c->hdrs[i].value;
	}
	url = c->head.buf;
	q = strchr(url, '#');
	if (q)
		*q = '\0';
	q = strchr(url, '?');
	if (q)
		*q++ = '\0';
	c->req.method = http_method_str((enum http_method)p->method);
	c->req.path = url;
	c->req.query = q ? q : "";
	c->req.http_major = p->http_major;
	c->req.http_minor = p->http_minor;
	c->req.conn = c;
	if (p->content_length != ULLONG_MAX && p->content_length > s->max_body)
		return fail_with(c, 413);
	c->keep_alive = http_should_keep_alive(p);
	expect = sm_http_req_header(&c->req, "Expect");
	if (expect && strcasecmp(expect, "100-continue") == 0 &&
	    p->http_minor >= 1 &&
	    ((p->flags & F_CHUNKED) || p->content_length > 0))
		conn_send(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct sm_http_conn *c = p->data;

	if (sm_buf_add(&c->body, at, len) < 0)
		return fail_with(c, 413);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct sm_http_conn *c = p->data;

	/* One request at a time: the rest waits in c->in. */
	c->dispatch = true;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* Requests. */

const char *sm_http_req_header(const struct sm_http_req *r, const char *name)
{
	const struct sm_http_conn *c = r->conn;
	size_t i;

	for (i = 0; i < c->nr_hdrs; i++)
		if (strcasecmp(c->names[i], name) == 0)
			return c->values[i];
	return NULL;
}

size_t sm_http_req_header_count(const struct sm_http_req *r)
{
	return r->conn->nr_hdrs;
}

void sm_http_req_header_at(const struct sm_http_req *r, size_t i,
			   const char **name, const char **value)
{
	const struct sm_http_conn *c = r->conn;

	SM_BUG_ON(i >= c->nr_hdrs);
	*name = c->names[i];
	*value = c->values[i];
}

static void conn_dispatch(struct sm_http_conn *c)
{
	struct sm_http_resp *r = xcalloc(1, sizeof(*r));

	c->dispatch = false;
	c->req.body = c->body.buf ? c->body.buf : "";
	c->req.body_len = c->body.len;
	/* Upgrades are not supported: answer, then close. */
	if (c->parser.upgrade)
		c->keep_alive = false;
	r->c = c;
	r->status = 200;
	sm_buf_init(&r->headers, SM_BUF_UNBOUNDED);
	c->resp = r;
	c->srv->handler(c->srv->ctx, &c->req, r);
}

/*
 * Parses what was received, one request at a time, as long as no response
 * is in progress.
 */
static void conn_process(struct sm_http_conn *c)
{
	c->processing = true;
	while (!c->closing && !c->resp && !c->close_after_write) {
		size_t avail = c->in.len - c->in_off;
		enum http_errno e;
		size_t n;

		if (avail == 0)
			break;
		n = http_parser_execute(&c->parser, &settings,
					c->in.buf + c->in_off, avail);
		c->in_off += n;
		e = HTTP_PARSER_ERRNO(&c->parser);
		if (e == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
			if (c->dispatch)
				conn_dispatch(c);
			continue;
		}
		if (e != HPE_OK) {
			sm_log(SM_LOG_DEBUG, LOG, "bad request: %s",
			       http_errno_description(e));
			if (!c->fail_status && e == HPE_HEADER_OVERFLOW)
				c->fail_status = 431;
			conn_fail(c, c->fail_status ? c->fail_status : 400);
			break;
		}
	}
	c->processing = false;
	if (c->closing)
		return;
	if (c->in_off > 0) {
		size_t rest = c->in.len - c->in_off;

		memmove(c->in.buf, c->in.buf + c->in_off, rest);
		sm_buf_truncate(&c->in, rest);
		c->in_off = 0;
	}
	if (c->eof && !c->resp && !c->close_after_write) {
		conn_close(c);
		return;
	}
	if (!c->reading && !c->eof && !c->memory &&
	    c->in.len + READ_SIZE <= IN_MAX) {
		c->reading = true;
		uv_read_start(&c->s.stream, on_alloc, on_read);
	}
}

int sm_http_conn_deliver(struct sm_http_conn *c, const char *data, size_t len)
{
	if (c->closing)
		return -ECONNRESET;
	if (c->lingering)
		return 0;
	if (sm_buf_add(&c->in, data, len) < 0)
		return -ENOBUFS;
	if (!c->resp && !c->processing)
		conn_process(c);
	return 0;
}

static void on_conn_timer(uv_timer_t *t)
{
	struct sm_http_conn *c = t->data;

	if (c->process_pending) {
		c->process_pending = false;
		conn_process(c);
		conn_maybe_finish(c);
		conn_arm_timer(c);
		return;
	}
	if (c->lingering || c->close_after_write || !c->in_head) {
		conn_close(c);
		return;
	}
	conn_fail(c, 408);
	conn_arm_timer(c);
}

static void conn_arm_timer(struct sm_http_conn *c)
{
	uint64_t now = uv_now(c->timer.loop);
	uint64_t ms;

	if (c->closing || c->lingering || c->process_pending)
		return;
	if (c->resp) {
		uv_timer_stop(&c->timer);
		return;
	}
	if (c->in_head && !c->close_after_write)
		ms = c->head_deadline > now ? c->head_deadline - now : 0;
	else
		ms = c->srv->idle_timeout_ms;
	uv_timer_start(&c->timer, on_conn_timer, ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct sm_http_conn *c = h->data;

	if (!c->rbuf)
		c->rbuf = xmalloc(READ_SIZE);
	*buf = uv_buf_init(c->rbuf, READ_SIZE);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct sm_http_conn *c = st->data;
	int ret;

	if (c->closing || n == 0)
		return;
	if (n < 0) {
		c->eof = true;
		c->reading = false;
		uv_read_stop(st);
		/*
		 * A client that goes away while its answer is being written
		 * is gone; otherwise the connection ends once what is
		 * queued is written.
		 */
		if (c->resp || c->lingering || !c->close_after_write)
			conn_close(c);
		return;
	}
	ret = c->tops->recv(c->tstate, c, buf->base, (size_t)n);
	if (c->closing)
		return;
	if (ret < 0) {
		sm_log(SM_LOG_DEBUG, LOG, "connection dropped: %s",
		       strerror(-ret));
		conn_close(c);
		return;
	}
	/* While a response is in progress, keep c->in bounded. */
	if (c->reading && c->in.len + READ_SIZE > IN_MAX) {
		c->reading = false;
		uv_read_stop(st);
	}
	conn_maybe_finish(c);
	conn_arm_timer(c);
}

static struct sm_http_conn *conn_new(struct sm_http_server *s, bool memory)
{
	struct sm_http_conn *c = xcalloc(1, sizeof(*c));

	c->srv = s;
	c->memory = memory;
	c->tops = memory ? &sm_http_transport_plain : s->tops;
	c->s.handle.data = c;
	uv_timer_init(s->loop, &c->timer);
	c->timer.data = c;
	c->refs = 1;
	sm_buf_init(&c->in, IN_MAX + IN_SLACK);
	sm_buf_init(&c->head, s->max_header_bytes);
	sm_buf_init(&c->body, s->max_body);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	s->refs++;
	s->nr_conns++;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	return c;
}

static void on_connection(uv_stream_t *l, int status)
{
	struct sm_http_server *s = l->data;
	struct sm_http_conn *c;
	int ret;

	if (s->stopping)
		return;
	if (status < 0) {
		sm_log(SM_LOG_WARN, LOG, "accept failed: %s",
		       uv_strerror(status));
		return;
	}
	c = conn_new(s, false);
	if (l->type == UV_TCP)
		ret = uv_tcp_init(s->loop, &c->s.tcp);
	else
		ret = uv_pipe_init(s->loop, &c->s.pipe, 0);
	if (ret < 0) {
		sm_log(SM_LOG_WARN, LOG, "accept failed: %s", uv_strerror(ret));
		c->memory = true; /* no stream handle to close */
		conn_close(c);
		return;
	}
	c->s.handle.data = c;
	c->refs++;
	ret = uv_accept(l, &c->s.stream);
	if (ret == 0 && c->tops->open)
		ret = c->tops->open(s->tctx, c, &c->tstate);
	if (ret == 0)
		ret = uv_read_start(&c->s.stream, on_alloc, on_read);
	if (ret < 0) {
		sm_log(SM_LOG_WARN, LOG, "accept failed: %s", uv_strerror(ret));
		conn_close(c);
		return;
	}
	c->reading = true;
	conn_arm_timer(c);
}

/* Responses. */

/* Ends a response whose last bytes are queued; r is freed. */
static void resp_finish(struct sm_http_resp *r)
{
	struct sm_http_conn *c = r->c;

	c->resp = NULL;
	resp_free(r);
	if (!c->keep_alive || c->srv->stopping)
		c->close_after_write = true;
	if (c->close_after_write) {
		conn_maybe_finish(c);
		if (!c->closing)
			conn_arm_timer(c);
		return;
	}
	if (c->processing)
		return;
	/* Go on with the next request from a loop callback of our own. */
	c->process_pending = true;
	uv_timer_start(&c->timer, on_conn_timer, 0, 0);
}

/*
 * A response used after its connection closed: the calls that end it
 * free it, except inside its gone callback (the close callback frees it).
 */
static int resp_dead(struct sm_http_resp *r, bool ends)
{
	if (ends && !r->in_gone) {
		r->c->resp = NULL;
		resp_free(r);
	}
	return -ECONNRESET;
}

int sm_http_resp_set_status(struct sm_http_resp *r, int status)
{
	if (r->head_sent)
		return -EALREADY;
	if (status < 100 || status > 999)
		return -EINVAL;
	r->status = status;
	return 0;
}

static bool has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

int sm_http_resp_add_header(struct sm_http_resp *r, const char *name,
			    const char *value)
{
	static const char *const reserved[] = { "Content-Length",
						"Transfer-Encoding",
						"Connection" };
	size_t i;

	if (r->head_sent)
		return -EALREADY;
	if (!*name || has_crlf(name) || strchr(name, ':') || has_crlf(value))
		return -EINVAL;
	for (i = 0; i < SM_ARRAY_SIZE(reserved); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return -EINVAL;
	sm_buf_addf(&r->headers, "%s: %s\r\n", name, value);
	return 0;
}

/* Appends the status line and headers, with framing, to b. */
static void resp_head(struct sm_http_resp *r, struct sm_buf *b,
		      const char *framing)
{
	struct sm_http_conn *c = r->c;

	sm_buf_addf(b, "HTTP/1.1 %d %s\r\n", r->status, reason(r->status));
	sm_buf_add(b, r->headers.buf, r->headers.len);
	sm_buf_adds(b, framing);
	if (!c->keep_alive || c->srv->stopping)
		sm_buf_adds(b, "Connection: close\r\n");
	else if (c->req.http_minor == 0)
		sm_buf_adds(b, "Connection: keep-alive\r\n");
	sm_buf_adds(b, "\r\n");
	r->head_sent = true;
}

static bool bodyless(const struct sm_http_resp *r)
{
	return r->status < 200 || r->status == 204 || r->status == 304;
}

int sm_http_resp_send(struct sm_http_resp *r, const void *body, size_t len)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_http_conn *c = r->c;
	bool head = strcmp(c->req.method, "HEAD") == 0;
	int ret;

	if (c->closing)
		return resp_dead(r, true);
	if (r->head_sent) {
		sm_http_resp_end(r);
		return -EALREADY;
	}
	if (bodyless(r)) {
		resp_head(r, &b, "");
	} else {
		char framing[64];

		snprintf(framing, sizeof(framing), "Content-Length: %zu\r\n",
			 len);
		resp_head(r, &b, framing);
		if (!head && len)
			sm_buf_add(&b, body, len);
	}
	ret = conn_send(c, b.buf, b.len);
	sm_buf_release(&b);
	if (ret < 0)
		return resp_dead(r, true);
	resp_finish(r);
	return 0;
}

int sm_http_resp_start(struct sm_http_resp *r)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_http_conn *c = r->c;
	int ret;

	if (c->closing)
		return resp_dead(r, false);
	if (r->head_sent)
		return r->streaming ? 0 : -EALREADY;
	r->streaming = true;
	if (c->req.http_major == 1 && c->req.http_minor == 0) {
		/* HTTP/1.0 knows no chunks: the end is the connection's. */
		c->keep_alive = false;
		resp_head(r, &b, "");
	} else {
		r->chunked = true;
		resp_head(r, &b, "Transfer-Encoding: chunked\r\n");
	}
	ret = conn_send(c, b.buf, b.len);
	sm_buf_release(&b);
	return ret;
}

int sm_http_resp_write(struct sm_http_resp *r, const void *data, size_t len)
{
	struct sm_http_conn *c = r->c;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	size_t cap = c->srv->high_water * QUEUE_CAP_FACTOR;
	int ret;

	if (c->closing)
		return resp_dead(r, false);
	ret = sm_http_resp_start(r);
	if (ret < 0)
		return ret;
	if (len == 0 || strcmp(c->req.method, "HEAD") == 0)
		return 0;
	if (c->queued + len > cap) {
		sm_log(SM_LOG_WARN, LOG,
		       "dropping a client that does not read: %zu bytes "
		       "queued for %s %s",
		       c->queued, c->req.method, c->req.path);
		conn_close(c);
		return -ENOBUFS;
	}
	if (r->chunked)
		sm_buf_addf(&b, "%zx\r\n", len);
	sm_buf_add(&b, data, len);
	if (r->chunked)
		sm_buf_adds(&b, "\r\n");
	ret = conn_send(c, b.buf, b.len);
	sm_buf_release(&b);
	if (ret == 0 && c->queued > c->srv->high_water)
		c->want_drain = true;
	return ret;
}

int sm_http_resp_end(struct sm_http_resp *r)
{
	struct sm_http_conn *c = r->c;
	int ret = 0;

	if (c->closing)
		return resp_dead(r, true);
	if (!r->head_sent)
		return sm_http_resp_send(r, NULL, 0);
	if (r->chunked && strcmp(c->req.method, "HEAD") != 0)
		ret = conn_send(c, "0\r\n\r\n", 5);
	if (ret < 0)
		return resp_dead(r, true);
	resp_finish(r);
	return 0;
}

void sm_http_resp_on(struct sm_http_resp *r, sm_http_gone_cb gone,
		     sm_http_drain_cb drain, void *ctx)
{
	r->gone = gone;
	r->drain = drain;
	r->ctx = ctx;
}

bool sm_http_resp_writable(const struct sm_http_resp *r)
{
	return r->c->queued <= r->c->srv->high_water;
}

/* The server. */

static void on_listener_closed(uv_handle_t *h)
{
	server_unref(h->data);
}

void sm_http_server_free(struct sm_http_server *s)
{
	struct sm_http_conn *c, *next;

	if (!s || s->stopping)
		return;
	s->stopping = true;
	uv_close(&s->l.handle, on_listener_closed);
	for (c = s->conns; c; c = next) {
		next = c->next;
		conn_close(c);
	}
	server_unref(s);
}

/* Parses "ADDR:PORT" or "[ADDR]:PORT". */
static int parse_inet(const char *listen, struct sockaddr_storage *ss)
{
	const char *colon = strrchr(listen, ':');
	char host[64];
	size_t hlen;
	char *end;
	long port;

	if (!colon)
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
		return -EINVAL;
	hlen = (size_t)(colon - listen);
	if (listen[0] == '[') {
		if (hlen < 2 || listen[hlen - 1] != ']')
			return -EINVAL;
		listen++;
		hlen -= 2;
		if (hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen, hlen);
		host[hlen] = '\0';
		return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) <
				       0
			       ? -EINVAL
			       : 0;
	}
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) < 0
		       ? -EINVAL
		       : 0;
}

static int listen_on(struct sm_http_server *s, const char *listen, int backlog,
		     struct sm_err *err)
{
	struct sockaddr_storage ss = { 0 };
	int len = sizeof(ss);
	int ret;

	if (strncmp(listen, "unix:", 5) == 0 || listen[0] == '/') {
		const char *path = listen[0] == '/' ? listen : listen + 5;

		uv_pipe_init(s->loop, &s->l.pipe, 0);
		s->l.handle.data = s;
		s->refs++;
		ret = uv_pipe_bind(&s->l.pipe, path);
	} else {
		ret = parse_inet(listen, &ss);
		if (ret < 0)
			return sm_error(err, NULL,
					"http server: listen address \"%s\": "
					"expected ADDR:PORT, [ADDR]:PORT or a "
					"socket path",
					listen);
		uv_tcp_init(s->loop, &s->l.tcp);
		s->l.handle.data = s;
		s->refs++;
		ret = uv_tcp_bind(&s->l.tcp, (struct sockaddr *)&ss, 0);
	}
	if (ret == 0)
		ret = uv_listen(&s->l.stream, backlog, on_connection);
	if (ret == 0 && s->l.handle.type == UV_TCP) {
		ret = uv_tcp_getsockname(&s->l.tcp, (struct sockaddr *)&ss,
					 &len);
		if (ret == 0)
			s->port = ntohs(ss.ss_family == AF_INET6
						? ((struct sockaddr_in6 *)&ss)
							  ->sin6_port
						: ((struct sockaddr_in *)&ss)
							  ->sin_port);
	}
	if (ret < 0) {
		sm_error(err, NULL, "http server: listen on \"%s\": %s", listen,
			 uv_strerror(ret));
		uv_close(&s->l.handle, on_listener_closed);
		return ret;
	}
	return 0;
}

int sm_http_server_start(uv_loop_t *loop, const struct sm_http_server_opts *o,
			 struct sm_http_server **out, struct sm_err *err)
{
	struct sm_http_server *s;
	int ret;

	if (!o->listen || !o->handler)
		return sm_error(err, NULL,
				"http server: a listen address and a handler "
				"are required");
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->refs = 1;
	s->max_body = o->max_body ? o->max_body : SM_HTTP_SERVER_MAX_BODY;
	s->max_header_bytes = o->max_header_bytes
				      ? o->max_header_bytes
				      : SM_HTTP_SERVER_MAX_HEADER_BYTES;
	s->max_headers =
		o->max_headers ? o->max_headers : SM_HTTP_SERVER_MAX_HEADERS;
	s->header_timeout_ms = o->header_timeout_ms
				       ? o->header_timeout_ms
				       : SM_HTTP_SERVER_HEADER_TIMEOUT_MS;
	s->idle_timeout_ms = o->idle_timeout_ms
				     ? o->idle_timeout_ms
				     : SM_HTTP_SERVER_IDLE_TIMEOUT_MS;
	s->high_water = o->write_high_water ? o->write_high_water
					    : SM_HTTP_SERVER_WRITE_HIGH_WATER;
	s->handler = o->handler;
	s->ctx = o->ctx;
	s->tops = o->transport ? o->transport : &sm_http_transport_plain;
	s->error_body = o->error_body;
	s->tctx = o->tctx;
	ret = listen_on(s, o->listen, o->backlog > 0 ? o->backlog : 128, err);
	if (ret < 0) {
		/* The listener's close callback frees s, if it was opened. */
		s->stopping = true;
		server_unref(s);
		return ret;
	}
	*out = s;
	return 0;
}

int sm_http_server_port(const struct sm_http_server *s)
{
	return s->port;
}

size_t sm_http_server_connections(const struct sm_http_server *s)
{
	return s->nr_conns;
}

int sm_http_server_feed(struct sm_http_server *s, const void *data, size_t len,
			struct sm_buf *out)
{
	struct sm_http_conn *c;

	if (s->stopping)
		return -ESHUTDOWN;
	c = conn_new(s, true);
	c->sink = out;
	c->reading = true;
	if (sm_http_conn_deliver(c, data, len) < 0) {
		conn_close(c);
		return 0;
	}
	/* Then the client closes its side. */
	c->eof = true;
	if (c->closing)
		return 0;
	if (c->resp || !c->close_after_write)
		conn_close(c);
	else
		conn_maybe_finish(c);
	return 0;
}
