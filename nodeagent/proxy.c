/*
 * proxy.c: the forwarding engine. See proxy.h.
 *
 * Lifetimes: the engine, each listener and each connection are freed from
 * the last close callback of the handles they embed. A listener also lives
 * while it is in the table or a connection still points at it (a retry
 * reads the rule's current backends). The engine lives while its timer,
 * a listener or a connection does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "nodeagent/proxy.h"
#include "common/banned.h"

#define READ_CHUNK 65536
#define AFFINITY_MAX 4096
#define ADDR_STR 24 /* "255.255.255.255:65535" */

enum listener_state {
	L_IDLE, /* no handle: not bound (yet, or any more) */
	L_LISTENING,
	L_CLOSING, /* uv_close() called, waiting for its callback */
};

struct affinity {
	uint32_t client; /* network order */
	struct sockaddr_in backend;
	uint64_t last_ns;
};

struct listener {
	struct proxy *p;
	uv_tcp_t tcp;
	enum listener_state state;
	char *name;
	char addr_str[ADDR_STR];
	struct sockaddr_in addr;
	struct sockaddr_in *backends;
	size_t nr_backends;
	size_t rr; /* the next round-robin index */
	uint32_t affinity_s;
	struct affinity *aff;
	size_t nr_aff, alloc_aff;
	bool in_table;
	bool bind_logged; /* a failure to bind was logged; quiet until bound */
	size_t conns; /* connections that point here */
};

/* One direction of a spliced connection. */
struct direction {
	bool eof; /* the reading side ended */
	bool done; /* ... and the shutdown of the writing side completed */
	bool paused; /* reading stopped for backpressure */
};

struct conn {
	struct proxy *p;
	struct listener *l;
	struct conn *prev, *next;
	uv_tcp_t client, upstream;
	uv_timer_t timer;
	uv_connect_t connect;
	uv_shutdown_t shut_client, shut_upstream;
	struct sockaddr_in peer;
	struct sockaddr_in backend;
	struct sockaddr_in *tried;
	size_t nr_tried, alloc_tried;
	int handles; /* open handles; freed at 0 once closing */
	bool upstream_open; /* initialised and not being closed */
	bool connected, closing;
	struct direction c2u, u2c; /* client to upstream, and back */
};

struct write_req {
	uv_write_t req;
	struct conn *c;
	char *data;
};

struct proxy {
	uv_loop_t *loop;
	struct proxy_opts opts;
	uv_timer_t timer;
	bool timer_open, closing;
	struct listener **listeners; /* in the table or still in use */
	size_t nr_listeners, alloc_listeners;
	struct conn *conns;
	struct proxy_stats stats, logged;
	/* Every read lands here (one loop, one read at a time); what cannot
	 * be written at once is copied out, exactly its size. */
	char rbuf[READ_CHUNK];
};

static void addr_format(const struct sockaddr_in *a, char *out, size_t len)
{
	char ip[INET_ADDRSTRLEN] = "?";

	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
	snprintf(out, len, "%s:%u", ip, ntohs(a->sin_port));
}

static bool addr_eq(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr &&
	       a->sin_port == b->sin_port;
}

static uint64_t now_ns(const struct proxy *p)
{
	return sm_clock_monotonic_ns(p->opts.clock);
}

static void proxy_maybe_free(struct proxy *p)
{
	if (!p->closing || p->timer_open || p->nr_listeners || p->conns)
		return;
	free(p->listeners);
	free(p);
}

/* Listeners */

static void listener_maybe_free(struct listener *l)
{
	struct proxy *p = l->p;

	if (l->in_table || l->state != L_IDLE || l->conns)
		return;
	for (size_t i = 0; i < p->nr_listeners; i++) {
		if (p->listeners[i] == l) {
			p->listeners[i] = p->listeners[--p->nr_listeners];
			break;
		}
	}
	free(l->name);
	free(l->backends);
	free(l->aff);
	free(l);
}

static void listener_closed(uv_handle_t *h)
{
	struct listener *l = h->data;
	struct proxy *p = l->p;

	l->state = L_IDLE;
	listener_maybe_free(l);
	/* The callers of listener_maybe_free() free the engine, once. */
	proxy_maybe_free(p);
}

static void on_accept(uv_stream_t *server, int status);

/* Binds and listens; logs a failure once. Returns 0 or a negative errno. */
static int listener_bind(struct listener *l)
{
	int r;

	if (l->state != L_IDLE)
		return l->state == L_LISTENING ? 0 : -EAGAIN;
	r = uv_tcp_init(l->p->loop, &l->tcp);
	if (r)
		return r;
	l->tcp.data = l;
	l->state = L_LISTENING;
	r = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&l->addr, 0);
	if (!r)
		r = uv_listen((uv_stream_t *)&l->tcp, 511, on_accept);
	if (r) {
		if (!l->bind_logged)
			sm_log(SM_LOG_WARN, "proxy",
			       "cannot listen on %s for %s: %s (retried "
			       "quietly)",
			       l->addr_str, l->name, uv_strerror(r));
		l->bind_logged = true;
		l->state = L_CLOSING;
		uv_close((uv_handle_t *)&l->tcp, listener_closed);
		return r;
	}
	l->bind_logged = false;
	sm_log(SM_LOG_INFO, "proxy", "listening on %s for %s", l->addr_str,
	       l->name);
	return 0;
}

static void listener_retire(struct listener *l)
{
	l->in_table = false;
	if (l->state == L_LISTENING) {
		sm_log(SM_LOG_INFO, "proxy", "stopped listening on %s for %s",
		       l->addr_str, l->name);
		l->state = L_CLOSING;
		uv_close((uv_handle_t *)&l->tcp, listener_closed);
	}
	listener_maybe_free(l);
}

static bool listener_has_backend(const struct listener *l,
				 const struct sockaddr_in *a)
{
	for (size_t i = 0; i < l->nr_backends; i++)
		if (addr_eq(&l->backends[i], a))
			return true;
	return false;
}

static struct affinity *affinity_find(struct listener *l, uint32_t client)
{
	for (size_t i = 0; i < l->nr_aff; i++)
		if (l->aff[i].client == client)
			return &l->aff[i];
	return NULL;
}

static void affinity_record(struct listener *l, uint32_t client,
			    const struct sockaddr_in *backend, uint64_t now)
{
	struct affinity *a = affinity_find(l, client);

	if (!a && l->nr_aff >= AFFINITY_MAX) {
		/* Full: the least recently used entry makes room. */
		a = &l->aff[0];
		for (size_t i = 1; i < l->nr_aff; i++)
			if (l->aff[i].last_ns < a->last_ns)
				a = &l->aff[i];
	}
	if (!a) {
		SM_ALLOC_GROW(l->aff, l->nr_aff + 1, l->alloc_aff);
		a = &l->aff[l->nr_aff++];
	}
	a->client = client;
	a->backend = *backend;
	a->last_ns = now;
}

static void affinity_expire(struct listener *l, uint64_t now)
{
	uint64_t ttl = (uint64_t)l->affinity_s * 1000000000ull;
	size_t j = 0;

	for (size_t i = 0; i < l->nr_aff; i++)
		if (l->affinity_s && now - l->aff[i].last_ns < ttl)
			l->aff[j++] = l->aff[i];
	l->nr_aff = j;
}

static void listener_set(struct listener *l, const struct proxy_rule *r)
{
	if (strcmp(l->name, r->name ? r->name : "")) {
		free(l->name);
		l->name = xstrdup(r->name ? r->name : "");
	}
	free(l->backends);
	l->backends = NULL;
	l->nr_backends = r->nr_backends;
	if (r->nr_backends) {
		l->backends = xmalloc(r->nr_backends * sizeof(*l->backends));
		memcpy(l->backends, r->backends,
		       r->nr_backends * sizeof(*l->backends));
	}
	if (l->rr >= l->nr_backends)
		l->rr = 0;
	l->affinity_s = r->affinity_timeout_s;
	if (!l->affinity_s)
		l->nr_aff = 0;
}

static struct listener *listener_find(struct proxy *p,
				      const struct sockaddr_in *a)
{
	for (size_t i = 0; i < p->nr_listeners; i++)
		if (p->listeners[i]->in_table &&
		    addr_eq(&p->listeners[i]->addr, a))
			return p->listeners[i];
	return NULL;
}

/* Connections */

static void conn_maybe_free(struct conn *c)
{
	struct proxy *p = c->p;
	struct listener *l = c->l;

	if (c->handles)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->stats.active--;
	free(c->tried);
	free(c);
	l->conns--;
	listener_maybe_free(l);
	proxy_maybe_free(p);
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (h == (uv_handle_t *)&c->upstream)
		c->upstream_open = false;
	c->handles--;
	conn_maybe_free(c);
}

static void close_stream(struct conn *c, uv_tcp_t *t, bool reset)
{
	if (uv_is_closing((uv_handle_t *)t))
		return;
	if (reset && !uv_tcp_close_reset(t, conn_handle_closed))
		return;
	uv_close((uv_handle_t *)t, conn_handle_closed);
}

/* Closes everything of c; reset sends RSTs (an error, a refusal). */
static void conn_close(struct conn *c, bool reset)
{
	if (c->closing)
		return;
	c->closing = true;
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	close_stream(c, &c->client, reset);
	if (c->upstream_open)
		close_stream(c, &c->upstream, reset && c->connected);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	buf->base = c->p->rbuf;
	buf->len = sizeof(c->p->rbuf);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	struct direction *d = req == &c->shut_upstream ? &c->c2u : &c->u2c;

	if (status == UV_ECANCELED || c->closing)
		return;
	if (status < 0) {
		conn_close(c, true);
		return;
	}
	d->done = true;
	if (c->c2u.done && c->u2c.done)
		conn_close(c, false);
}

static void on_read(uv_stream_t *from, ssize_t nread, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->c;
	uv_stream_t *to = req->handle;
	bool to_upstream = to == (uv_stream_t *)&c->upstream;
	struct direction *d = to_upstream ? &c->c2u : &c->u2c;
	uv_stream_t *from = to_upstream ? (uv_stream_t *)&c->client
					: (uv_stream_t *)&c->upstream;

	free(w->data);
	free(w);
	if (status == UV_ECANCELED || c->closing)
		return;
	if (status < 0) {
		conn_close(c, true);
		return;
	}
	/* Resume the paused side once the queue is down to half the limit. */
	if (d->paused && !d->eof &&
	    uv_stream_get_write_queue_size(to) <= c->p->opts.write_limit / 2) {
		d->paused = false;
		uv_read_start(from, on_alloc, on_read);
	}
}

static void on_read(uv_stream_t *from, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = from->data;
	bool from_client = from == (uv_stream_t *)&c->client;
	uv_stream_t *to = from_client ? (uv_stream_t *)&c->upstream
				      : (uv_stream_t *)&c->client;
	struct direction *d = from_client ? &c->c2u : &c->u2c;
	uv_shutdown_t *shut = from_client ? &c->shut_upstream : &c->shut_client;

	if (nread > 0 && !c->closing) {
		uv_buf_t b = uv_buf_init(buf->base, (unsigned)nread);
		/* Straight out when nothing waits (the common case), else
		 * queued behind what does: the order is kept either way. */
		int sent = uv_try_write(to, &b, 1);
		struct write_req *w;

		if (sent == nread)
			return;
		if (sent < 0 && sent != UV_EAGAIN) {
			conn_close(c, true);
			return;
		}
		if (sent < 0)
			sent = 0;
		w = xcalloc(1, sizeof(*w));
		w->c = c;
		w->data = xmalloc((size_t)(nread - sent));
		memcpy(w->data, buf->base + sent, (size_t)(nread - sent));
		b = uv_buf_init(w->data, (unsigned)(nread - sent));
		if (uv_write(&w->req, to, &b, 1, on_write)) {
			free(w->data);
			free(w);
			conn_close(c, true);
			return;
		}
		if (uv_stream_get_write_queue_size(to) >
		    c->p->opts.write_limit) {
			d->paused = true;
			uv_read_stop(from);
		}
		return;
	}
	if (nread == 0 || c->closing)
		return;
	if (nread == UV_EOF) {
		/* Forward the half-close once what was read is written. */
		d->eof = true;
		uv_read_stop(from);
		shut->data = c;
		if (uv_shutdown(shut, to, on_shutdown))
			conn_close(c, true);
		return;
	}
	conn_close(c, true);
}

static void try_next(struct conn *c);

static void attempt_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->upstream_open = false;
	c->handles--;
	if (c->closing)
		conn_maybe_free(c);
	else
		try_next(c);
}

/* Gives up on the current backend and goes to the next. */
static void attempt_failed(struct conn *c, const char *why)
{
	char a[ADDR_STR];

	addr_format(&c->backend, a, sizeof(a));
	sm_log(SM_LOG_DEBUG, "proxy", "%s: backend %s: %s", c->l->name, a, why);
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->upstream, attempt_closed);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct proxy *p = c->p;

	if (status == UV_ECANCELED || c->closing)
		return;
	if (status < 0) {
		attempt_failed(c, uv_strerror(status));
		return;
	}
	uv_timer_stop(&c->timer);
	c->connected = true;
	p->stats.forwarded++;
	if (c->l->affinity_s)
		affinity_record(c->l, c->peer.sin_addr.s_addr, &c->backend,
				now_ns(p));
	uv_tcp_nodelay(&c->client, 1);
	uv_tcp_nodelay(&c->upstream, 1);
	if (uv_read_start((uv_stream_t *)&c->client, on_alloc, on_read) ||
	    uv_read_start((uv_stream_t *)&c->upstream, on_alloc, on_read))
		conn_close(c, true);
}

static void on_connect_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (!c->connected && c->upstream_open && !c->closing)
		attempt_failed(c, "connect timed out");
}

static bool tried(const struct conn *c, const struct sockaddr_in *a)
{
	for (size_t i = 0; i < c->nr_tried; i++)
		if (addr_eq(&c->tried[i], a))
			return true;
	return false;
}

/*
 * The backend for the next attempt, from the rule's current backends (so a
 * drained one is never picked): the client's affine one while it is ready
 * and fresh, else the next untried one round-robin. False when none is left.
 */
static bool pick_backend(struct conn *c, struct sockaddr_in *out)
{
	struct listener *l = c->l;
	size_t n = l->nr_backends;

	if (l->affinity_s) {
		struct affinity *a = affinity_find(l, c->peer.sin_addr.s_addr);
		uint64_t ttl = (uint64_t)l->affinity_s * 1000000000ull;

		if (a && now_ns(c->p) - a->last_ns < ttl &&
		    listener_has_backend(l, &a->backend) &&
		    !tried(c, &a->backend)) {
			*out = a->backend;
			return true;
		}
	}
	for (size_t i = 0; i < n; i++) {
		size_t idx = (l->rr + i) % n;

		if (!tried(c, &l->backends[idx])) {
			/* A retry does not move the turn: one per client. */
			if (!c->nr_tried)
				l->rr = (idx + 1) % n;
			*out = l->backends[idx];
			return true;
		}
	}
	return false;
}

/* Whether a backend not tried yet is left for c after this attempt. */
static bool untried_left(const struct conn *c)
{
	for (size_t i = 0; i < c->l->nr_backends; i++)
		if (!tried(c, &c->l->backends[i]))
			return true;
	return false;
}

static void try_next(struct conn *c)
{
	struct proxy *p = c->p;
	int r;

	if (!pick_backend(c, &c->backend)) {
		if (c->nr_tried)
			p->stats.failures++;
		else
			p->stats.rejected++;
		sm_log(SM_LOG_DEBUG, "proxy",
		       "%s: client closed: %zu backend(s) tried, %zu ready",
		       c->l->name, c->nr_tried, c->l->nr_backends);
		conn_close(c, true);
		return;
	}
	if (c->nr_tried)
		p->stats.retries++;
	SM_ALLOC_GROW(c->tried, c->nr_tried + 1, c->alloc_tried);
	c->tried[c->nr_tried++] = c->backend;
	r = uv_tcp_init(p->loop, &c->upstream);
	SM_BUG_ON(r);
	c->upstream.data = c;
	c->upstream_open = true;
	c->handles++;
	c->connect.data = c;
	r = uv_tcp_connect(&c->connect, &c->upstream,
			   (const struct sockaddr *)&c->backend, on_connect);
	if (r) {
		attempt_failed(c, uv_strerror(r));
		return;
	}
	/* A silent backend is given up for another one; the last one left
	 * gets the kernel's patience, as a client going straight to it would
	 * (a full accept queue drops SYNs that come again after 1 s). */
	if (untried_left(c))
		uv_timer_start(&c->timer, on_connect_timeout,
			       p->opts.connect_timeout_ms, 0);
}

static void on_accept(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	struct proxy *p = l->p;
	struct conn *c;
	int len = sizeof(struct sockaddr_in);

	if (status < 0) {
		sm_log(SM_LOG_DEBUG, "proxy", "%s: accept: %s", l->addr_str,
		       uv_strerror(status));
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->p = p;
	c->l = l;
	l->conns++;
	c->next = p->conns;
	if (p->conns)
		p->conns->prev = c;
	p->conns = c;
	p->stats.active++;
	uv_tcp_init(p->loop, &c->client);
	c->client.data = c;
	c->handles++;
	uv_timer_init(p->loop, &c->timer);
	c->timer.data = c;
	c->handles++;
	if (uv_accept(server, (uv_stream_t *)&c->client)) {
		conn_close(c, false);
		return;
	}
	p->stats.connections++;
	if (uv_tcp_getpeername(&c->client, (struct sockaddr *)&c->peer, &len))
		memset(&c->peer, 0, sizeof(c->peer));
	try_next(c);
}

/* The engine */

static void log_stats(struct proxy *p)
{
	struct proxy_stats *s = &p->stats;

	if (!memcmp(s, &p->logged, sizeof(*s)))
		return;
	p->logged = *s;
	sm_log(SM_LOG_DEBUG, "proxy",
	       "connections %llu (open %llu), forwarded %llu, retries %llu, "
	       "failures %llu, rejected %llu",
	       (unsigned long long)s->connections,
	       (unsigned long long)s->active, (unsigned long long)s->forwarded,
	       (unsigned long long)s->retries, (unsigned long long)s->failures,
	       (unsigned long long)s->rejected);
}

static void on_housekeeping(uv_timer_t *t)
{
	struct proxy *p = t->data;
	uint64_t now = now_ns(p);

	for (size_t i = 0; i < p->nr_listeners; i++) {
		struct listener *l = p->listeners[i];

		affinity_expire(l, now);
		if (l->in_table && l->state == L_IDLE)
			listener_bind(l);
	}
	log_stats(p);
}

struct proxy *proxy_new(uv_loop_t *loop, const struct proxy_opts *opts)
{
	struct proxy *p = xcalloc(1, sizeof(*p));

	p->loop = loop;
	if (opts)
		p->opts = *opts;
	if (!p->opts.connect_timeout_ms)
		p->opts.connect_timeout_ms = 1000;
	if (!p->opts.write_limit)
		p->opts.write_limit = 256 * 1024;
	if (!p->opts.housekeeping_ms)
		p->opts.housekeeping_ms = 10000;
	if (!p->opts.clock)
		p->opts.clock = &sm_clock_system;
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	p->timer_open = true;
	uv_timer_start(&p->timer, on_housekeeping, p->opts.housekeeping_ms,
		       p->opts.housekeeping_ms);
	return p;
}

static void timer_closed(uv_handle_t *h)
{
	struct proxy *p = h->data;

	p->timer_open = false;
	proxy_maybe_free(p);
}

void proxy_free(struct proxy *p)
{
	if (!p)
		return;
	p->closing = true;
	uv_close((uv_handle_t *)&p->timer, timer_closed);
	/* Retiring may free a listener: walk a copy of the array. */
	for (size_t i = p->nr_listeners; i-- > 0;)
		if (i < p->nr_listeners && p->listeners[i]->in_table)
			listener_retire(p->listeners[i]);
	for (struct conn *c = p->conns; c; c = c->next)
		conn_close(c, false);
}

int proxy_set_rules(struct proxy *p, const struct proxy_rule *rules, size_t nr)
{
	struct listener **keep =
		xcalloc(nr ? nr : 1, sizeof(struct listener *));
	size_t nr_keep = 0;
	int failed = 0;

	for (size_t i = 0; i < nr; i++) {
		const struct proxy_rule *r = &rules[i];
		struct listener *l = NULL;
		bool dup = false;

		/* No endpoint: nothing listens, so a client is refused at the
		 * handshake, as kube-proxy's REJECT does (not accepted and
		 * reset after it may have sent a request). */
		if (!r->nr_backends)
			continue;

		for (size_t j = 0; j < nr_keep; j++)
			if (addr_eq(&keep[j]->addr, &r->listen))
				dup = true;
		if (dup) {
			char a[ADDR_STR];

			addr_format(&r->listen, a, sizeof(a));
			sm_log(SM_LOG_WARN, "proxy",
			       "%s: %s is already served by another rule; "
			       "ignored",
			       r->name ? r->name : "", a);
			continue;
		}
		l = listener_find(p, &r->listen);
		if (!l) {
			l = xcalloc(1, sizeof(*l));
			l->p = p;
			l->addr = r->listen;
			l->addr.sin_family = AF_INET;
			addr_format(&l->addr, l->addr_str, sizeof(l->addr_str));
			l->name = xstrdup("");
			l->in_table = true;
			if (p->nr_listeners == p->alloc_listeners) {
				p->alloc_listeners =
					p->alloc_listeners
						? 2 * p->alloc_listeners
						: 8;
				p->listeners = xrealloc(
					p->listeners,
					p->alloc_listeners *
						sizeof(struct listener *));
			}
			p->listeners[p->nr_listeners++] = l;
		}
		listener_set(l, r);
		keep[nr_keep++] = l;
	}
	for (size_t i = p->nr_listeners; i-- > 0;) {
		struct listener *l;
		bool kept = false;

		if (i >= p->nr_listeners)
			continue;
		l = p->listeners[i];
		for (size_t j = 0; j < nr_keep && !kept; j++)
			kept = keep[j] == l;
		if (!kept && l->in_table)
			listener_retire(l);
	}
	for (size_t j = 0; j < nr_keep; j++)
		if (keep[j]->state == L_IDLE && listener_bind(keep[j]))
			failed++;
	free(keep);
	return failed;
}

void proxy_get_stats(const struct proxy *p, struct proxy_stats *out)
{
	*out = p->stats;
}

size_t proxy_listening(const struct proxy *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nr_listeners; i++)
		n += p->listeners[i]->in_table &&
		     p->listeners[i]->state == L_LISTENING;
	return n;
}

size_t proxy_buffered(const struct proxy *p)
{
	size_t n = 0;

	for (const struct conn *c = p->conns; c; c = c->next) {
		if (!uv_is_closing((const uv_handle_t *)&c->client))
			n += uv_stream_get_write_queue_size(
				(const uv_stream_t *)&c->client);
		if (c->upstream_open)
			n += uv_stream_get_write_queue_size(
				(const uv_stream_t *)&c->upstream);
	}
	return n;
}
