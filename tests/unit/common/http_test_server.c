/*
 * http_test_server.c: see http_test_server.h. Test code: it aborts on
 * anything unexpected rather than recovering.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "tests/unit/common/http_test_server.h"
#include "common/banned.h"

struct piece {
	unsigned delay_ms;
	char *data;
	size_t len;
	struct piece *next;
};

struct tconn {
	uv_pipe_t pipe;
	uv_timer_t timer;
	struct tsrv *s;
	struct sm_buf in;
	bool answered;
	bool ending; /* close after the queue drains */
	bool closing;
	bool writing;
	int open; /* handles not yet closed */
	size_t req_len; /* head and body of the request */
	tconn_input_cb input;
	void *input_ctx;
	struct piece *queue, *tail;
	struct tconn *prev, *next;
};

struct tsrv {
	uv_pipe_t listener;
	char dir[64];
	char path[96];
	tsrv_handler handler;
	void *ctx;
	int requests;
	int open; /* listener + connections not yet freed */
	bool stopping;
	struct tconn *conns;
};

struct wreq {
	uv_write_t w;
	struct piece *p;
};

static void srv_unref(struct tsrv *s)
{
	if (--s->open > 0)
		return;
	unlink(s->path);
	rmdir(s->dir);
	free(s);
}

static void conn_closed(uv_handle_t *h)
{
	struct tconn *c = h->data;
	struct tsrv *s = c->s;

	if (--c->open > 0)
		return;
	while (c->queue) {
		struct piece *p = c->queue;

		c->queue = p->next;
		free(p->data);
		free(p);
	}
	sm_buf_release(&c->in);
	free(c);
	srv_unref(s);
}

static void conn_close(struct tconn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	uv_close((uv_handle_t *)&c->pipe, conn_closed);
	uv_close((uv_handle_t *)&c->timer, conn_closed);
}

static void pump(struct tconn *c);

static void on_written(uv_write_t *w, int status)
{
	struct wreq *wr = (struct wreq *)w;
	struct tconn *c = w->data;

	free(wr->p->data);
	free(wr->p);
	free(wr);
	c->writing = false;
	if (status < 0) {
		conn_close(c);
		return;
	}
	pump(c);
}

static void write_head(struct tconn *c)
{
	struct piece *p = c->queue;
	struct wreq *wr = xcalloc(1, sizeof(*wr));
	uv_buf_t b = uv_buf_init(p->data, (unsigned)p->len);

	c->queue = p->next;
	if (!c->queue)
		c->tail = NULL;
	wr->p = p;
	wr->w.data = c;
	c->writing = true;
	if (uv_write(&wr->w, (uv_stream_t *)&c->pipe, &b, 1, on_written) < 0) {
		free(p->data);
		free(p);
		free(wr);
		c->writing = false;
		conn_close(c);
	}
}

static void on_timer(uv_timer_t *t)
{
	struct tconn *c = t->data;

	if (!c->closing && c->queue)
		write_head(c);
}

/* Writes the next piece now or after its delay; closes when done. */
static void pump(struct tconn *c)
{
	if (c->closing || c->writing || uv_is_active((uv_handle_t *)&c->timer))
		return;
	if (!c->queue) {
		if (c->ending)
			conn_close(c);
		return;
	}
	if (c->queue->delay_ms)
		uv_timer_start(&c->timer, on_timer, c->queue->delay_ms, 0);
	else
		write_head(c);
}

void tconn_send(struct tconn *c, unsigned delay_ms, const void *data,
		size_t len)
{
	struct piece *p = xcalloc(1, sizeof(*p));

	p->delay_ms = delay_ms;
	p->data = xmalloc(len ? len : 1);
	memcpy(p->data, data, len);
	p->len = len;
	if (c->tail)
		c->tail->next = p;
	else
		c->queue = p;
	c->tail = p;
	pump(c);
}

void tconn_sendf(struct tconn *c, unsigned delay_ms, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	tconn_send(c, delay_ms, s, strlen(s));
	free(s);
}

void tconn_reply(struct tconn *c, int status, const char *ctype,
		 const void *body, size_t len)
{
	tconn_sendf(c, 0,
		    "HTTP/1.1 %d X\r\nContent-Type: %s\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		    status, ctype, len);
	if (len)
		tconn_send(c, 0, body, len);
	tconn_end(c);
}

void tconn_chunked_head(struct tconn *c, int status, const char *ctype)
{
	tconn_sendf(c, 0,
		    "HTTP/1.1 %d X\r\nContent-Type: %s\r\n"
		    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
		    status, ctype);
}

void tconn_chunk(struct tconn *c, unsigned delay_ms, const void *data,
		 size_t len)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	sm_buf_addf(&b, "%zx\r\n", len);
	sm_buf_add(&b, data, len);
	sm_buf_adds(&b, "\r\n");
	tconn_send(c, delay_ms, b.buf, b.len);
	sm_buf_release(&b);
}

void tconn_end(struct tconn *c)
{
	c->ending = true;
	pump(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	b->base = xmalloc(65536);
	b->len = 65536;
}

/* Answers once the head and the Content-Length body are in. */
static void maybe_dispatch(struct tconn *c)
{
	char *end = strstr(c->in.buf, "\r\n\r\n");
	const char *cl;
	size_t head_len, body_len = 0;
	char *method, *target, *sp;
	struct treq r;

	if (!end)
		return;
	head_len = (size_t)(end - c->in.buf) + 4;
	cl = strcasestr(c->in.buf, "\r\nContent-Length:");
	if (cl && cl < end)
		body_len = strtoul(cl + 17, NULL, 10);
	if (c->in.len < head_len + body_len)
		return;
	c->answered = true;
	c->s->requests++;
	method = xstrndup(c->in.buf, head_len);
	sp = strchr(method, ' ');
	SM_BUG_ON(!sp);
	*sp = '\0';
	target = sp + 1;
	sp = strchr(target, ' ');
	SM_BUG_ON(!sp);
	*sp = '\0';
	r.method = method;
	r.target = target;
	r.head = c->in.buf;
	r.body = c->in.buf + head_len;
	r.body_len = body_len;
	c->req_len = head_len + body_len;
	c->s->handler(c->s->ctx, c, &r);
	free(method);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct tconn *c = st->data;

	if (n > 0 && !c->answered) {
		sm_buf_add(&c->in, b->base, (size_t)n);
		maybe_dispatch(c);
	} else if (n > 0 && c->input && !c->closing) {
		c->input(c->input_ctx, c, b->base, (size_t)n);
	}
	free(b->base);
	if (n == UV_EOF && c->input && !c->closing) {
		c->input(c->input_ctx, c, NULL, 0);
		return;
	}
	if (n < 0)
		conn_close(c);
}

void tconn_on_input(struct tconn *c, tconn_input_cb cb, void *ctx)
{
	c->input = cb;
	c->input_ctx = ctx;
	if (c->in.len > c->req_len)
		cb(ctx, c, c->in.buf + c->req_len, c->in.len - c->req_len);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct tsrv *s = l->data;
	struct tconn *c;

	if (status < 0)
		return;
	c = xcalloc(1, sizeof(*c));
	c->s = s;
	sm_buf_init(&c->in, 1 << 20);
	uv_pipe_init(l->loop, &c->pipe, 0);
	uv_timer_init(l->loop, &c->timer);
	c->pipe.data = c;
	c->timer.data = c;
	c->open = 2;
	s->open++;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	SM_BUG_ON(uv_accept(l, (uv_stream_t *)&c->pipe) < 0);
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

struct tsrv *tsrv_start(uv_loop_t *loop, tsrv_handler h, void *ctx)
{
	struct tsrv *s = xcalloc(1, sizeof(*s));

	/* Writing to a client that went away must fail, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(s->dir, sizeof(s->dir), "/tmp/sm-httpsrv-XXXXXX");
	SM_BUG_ON(!mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
	s->handler = h;
	s->ctx = ctx;
	s->open = 1;
	uv_pipe_init(loop, &s->listener, 0);
	s->listener.data = s;
	SM_BUG_ON(uv_pipe_bind(&s->listener, s->path) < 0);
	SM_BUG_ON(uv_listen((uv_stream_t *)&s->listener, 64, on_connection) <
		  0);
	return s;
}

static void listener_closed(uv_handle_t *h)
{
	srv_unref(h->data);
}

void tsrv_stop(struct tsrv *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	while (s->conns)
		conn_close(s->conns);
	uv_close((uv_handle_t *)&s->listener, listener_closed);
}

const char *tsrv_path(const struct tsrv *s)
{
	return s->path;
}

int tsrv_requests(const struct tsrv *s)
{
	return s->requests;
}
