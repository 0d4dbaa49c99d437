/*
 * podman.c: the libpod REST client (podman.h) on common/http_client.
 *
 * Every call, plain or streaming, is a struct podman_stream: it carries the
 * caller's callbacks, what the reply needs (method and path for messages,
 * how to read the answer) and, for streams, the demuxer or line buffer.
 * Calls in flight are listed on the client so podman_free() can cancel
 * them.
 *
 * Re-entrancy: a user callback may close its own stream or free the whole
 * client. `busy` counts user callbacks running for a call; a call closed
 * while busy is freed by whoever leaves last. Freeing a call never touches
 * the client, which may be gone by then.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "nodeagent/podman.h"
#include "common/banned.h"

#define BASE_URL "http://d/v4.0.0/libpod"
/* An event line longer than this is not an event: fail the stream. */
#define EVENT_LINE_MAX (1u << 20)
#define PING_TIMEOUT_MS 5000

enum call_kind {
	CALL_PLAIN,
	CALL_OK304, /* start and stop: 304 means "already so" */
	CALL_WAIT,
	CALL_BUILD,
	CALL_PULL,
	CALL_LOGS,
	CALL_EVENTS,
};

struct podman {
	uv_loop_t *loop;
	struct sm_http_client *http;
	char *socket;
	struct podman_stream *calls;
	struct podman_exec *execs;
};

struct podman_stream {
	struct podman *p; /* NULL once unlinked */
	struct sm_http_request *req; /* NULL once ended or cancelled */
	enum call_kind kind;
	char *method;
	char *path; /* without the query, for messages */
	podman_cb cb;
	podman_wait_cb wait_cb;
	podman_log_cb log_cb;
	podman_event_cb event_cb;
	void *ctx;
	struct podman_demux demux;
	struct sm_buf line;
	int busy;
	bool closed;
	struct podman_stream *prev, *next;
};

static void call_unlink(struct podman_stream *s)
{
	struct podman *p = s->p;

	if (!p)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		p->calls = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->p = NULL;
}

static void call_free(struct podman_stream *s)
{
	free(s->method);
	free(s->path);
	sm_buf_release(&s->line);
	free(s);
}

void podman_stream_close(struct podman_stream *s)
{
	if (!s || s->closed)
		return;
	s->closed = true;
	if (s->req)
		sm_http_request_cancel(s->req);
	s->req = NULL;
	call_unlink(s);
	if (!s->busy)
		call_free(s);
}

void podman_free(struct podman *p)
{
	struct podman_stream *s, *next;

	if (!p)
		return;
	/* Exec sessions first: each closes its own call, if any. */
	while (p->execs)
		podman_exec_cancel(p->execs);
	/* Closing one call never frees another: next stays valid. */
	for (s = p->calls; s; s = next) {
		next = s->next;
		podman_stream_close(s);
	}
	sm_http_client_free(p->http);
	free(p->socket);
	free(p);
}

struct podman *podman_new(uv_loop_t *loop, const char *socket_path)
{
	struct podman *p = xcalloc(1, sizeof(*p));

	p->loop = loop;
	p->http = sm_http_client_new(loop);
	if (!p->http)
		sm_die("podman: libcurl could not be set up");
	p->socket = xstrdup(socket_path);
	return p;
}

/* Percent-encodes everything but RFC 3986's unreserved characters. */
static void add_escaped(struct sm_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			sm_buf_addch(b, (char)ch);
		} else {
			sm_buf_addch(b, '%');
			sm_buf_addch(b, hex[ch >> 4]);
			sm_buf_addch(b, hex[ch & 15]);
		}
	}
}

/* Appends "&filters=<escaped JSON>" (or "?..." first) when filters is set. */
static void add_filters(struct sm_buf *b, const json_t *filters)
{
	char *s;

	if (!filters)
		return;
	s = json_dumps(filters, JSON_COMPACT);
	if (!s)
		return;
	sm_buf_adds(b, strchr(b->buf, '?') ? "&filters=" : "?filters=");
	add_escaped(b, s);
	free(s);
}

void podman__format_error(struct sm_buf *out, const char *method,
			  const char *path, int status, const json_t *json,
			  const char *body, size_t len, const char **cause)
{
	const char *c = NULL, *msg = NULL;
	json_t *errs;

	if (json_is_object(json)) {
		c = sm_json_get_str(json, "cause");
		msg = sm_json_get_str(json, "message");
		if (c && !*c)
			c = NULL;
		if (msg && !*msg)
			msg = NULL;
		errs = json_object_get(json, "Errs");
		if (!msg && json_is_array(errs) && json_array_size(errs))
			msg = json_string_value(json_array_get(errs, 0));
	}
	*cause = c;
	sm_buf_addf(out, "%s %s: %d: ", method, path, status);
	if (c && msg && strcmp(c, msg) != 0)
		sm_buf_addf(out, "%s (%s)", c, msg);
	else if (c || msg)
		sm_buf_adds(out, c ? c : msg);
	else if (len == 0)
		sm_buf_adds(out, "empty answer");
	else {
		/* Router errors are short text; keep a line of anything else.
		 */
		size_t n = len > 200 ? 200 : len;

		while (n && (body[n - 1] == '\n' || body[n - 1] == '\r' ||
			     body[n - 1] == ' '))
			n--;
		sm_buf_add(out, body, n);
		if (n < len && len > 200)
			sm_buf_adds(out, "...");
	}
}

static bool is_image_id(const char *s, size_t n)
{
	size_t i;

	if (n != 64)
		return false;
	for (i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]) || !s[i])
			return false;
	return true;
}

int podman__build_result(const char *body, size_t len, char **id,
			 struct sm_buf *err)
{
	const char *p = body, *end = body + len;
	char *last = NULL;
	char *error = NULL;

	*id = NULL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		json_t *j = json_loadb(p, (size_t)(eol - p), 0, NULL);
		const char *s;

		p = nl ? nl + 1 : end;
		if (!j)
			continue;
		s = sm_json_get_str(json_object_get(j, "errorDetail"),
				    "message");
		if (!s)
			s = sm_json_get_str(j, "error");
		if (s && !error)
			error = xstrdup(s);
		s = sm_json_get_str(j, "stream");
		if (s) {
			free(last);
			last = xstrdup(s);
		}
		json_decref(j);
	}
	if (!error && last) {
		size_t n = strlen(last);

		while (n && (last[n - 1] == '\n' || last[n - 1] == ' '))
			n--;
		if (is_image_id(last, n)) {
			*id = xstrndup(last, n);
			free(last);
			return 0;
		}
	}
	if (error) {
		size_t n = strlen(error);

		while (n && (error[n - 1] == '\n' || error[n - 1] == ' '))
			n--;
		sm_buf_add(err, error, n);
	} else if (last) {
		size_t n = strlen(last);

		while (n && last[n - 1] == '\n')
			n--;
		sm_buf_adds(err, "build ended without an image id, last: ");
		sm_buf_add(err, last, n);
	} else {
		sm_buf_adds(err, "build gave no output");
	}
	free(error);
	free(last);
	return -EIO;
}

int podman__parse_exit_code(const char *body, size_t len, int *code)
{
	char buf[32];
	char *end;
	long v;
	size_t b = 0, e = len;

	while (b < e && strchr(" \t\r\n", body[b]))
		b++;
	while (e > b && strchr(" \t\r\n", body[e - 1]))
		e--;
	if (e == b || e - b >= sizeof(buf))
		return -EPROTO;
	memcpy(buf, body + b, e - b);
	buf[e - b] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || *end || v < -1 || v > 255)
		return -EPROTO;
	*code = (int)v;
	return 0;
}

int podman_demux_feed(struct podman_demux *d, const char *data, size_t len,
		      podman_log_cb cb, void *ctx)
{
	if (d->stream < 0)
		return -EPROTO;
	while (len) {
		if (d->head_len < 8) {
			size_t n = 8 - d->head_len;

			if (n > len)
				n = len;
			memcpy(d->head + d->head_len, data, n);
			d->head_len += n;
			data += n;
			len -= n;
			if (d->head_len < 8)
				break;
			if ((d->head[0] != 1 && d->head[0] != 2) ||
			    d->head[1] || d->head[2] || d->head[3]) {
				d->stream = -1;
				return -EPROTO;
			}
			d->stream = d->head[0];
			d->left = (uint32_t)d->head[4] << 24 |
				  (uint32_t)d->head[5] << 16 |
				  (uint32_t)d->head[6] << 8 | d->head[7];
			if (d->left == 0)
				d->head_len = 0;
			continue;
		}
		{
			size_t n = len < d->left ? len : d->left;

			cb(ctx, (enum podman_log_stream)d->stream, data, n);
			data += n;
			len -= n;
			d->left -= (uint32_t)n;
			if (d->left == 0)
				d->head_len = 0;
		}
	}
	return 0;
}

/* Runs a stream's log callback unless the stream was closed meanwhile. */
static void log_tramp(void *ctx, enum podman_log_stream which, const char *data,
		      size_t len)
{
	struct podman_stream *s = ctx;

	if (!s->closed)
		s->log_cb(s->ctx, which, data, len);
}

static void event_line(struct podman_stream *s, const char *line, size_t n)
{
	json_t *j;

	if (n == 0 || s->closed)
		return;
	j = json_loadb(line, n, 0, NULL);
	/* A line that is not JSON is not an event; Podman sends none. */
	if (!json_is_object(j)) {
		json_decref(j);
		return;
	}
	s->event_cb(s->ctx, j);
	json_decref(j);
}

/* Hands each complete line to event_line(); keeps the partial rest. */
static int events_feed(struct podman_stream *s, const char *data, size_t len)
{
	size_t start = 0, i;

	if (sm_buf_add(&s->line, data, len) < 0)
		return -EMSGSIZE;
	for (i = s->line.len - len; i < s->line.len && !s->closed; i++) {
		if (s->line.buf[i] != '\n')
			continue;
		event_line(s, s->line.buf + start, i - start);
		start = i + 1;
	}
	if (s->closed)
		return 0;
	memmove(s->line.buf, s->line.buf + start, s->line.len - start);
	sm_buf_truncate(&s->line, s->line.len - start);
	return 0;
}

static int on_data(void *ctx, int status, const char *data, size_t len)
{
	struct podman_stream *s = ctx;
	int r;

	s->busy++;
	if (s->kind == CALL_LOGS)
		r = podman_demux_feed(&s->demux, data, len, log_tramp, s);
	else
		r = events_feed(s, data, len);
	s->busy--;
	if (s->closed) {
		if (!s->busy)
			call_free(s);
		return -ECANCELED;
	}
	return r;
}

/* Fills in kind-specific results; returns the reply's json (new) or NULL. */
static json_t *read_special(struct podman_stream *s,
			    const struct sm_http_response *resp,
			    struct podman_reply *r, struct sm_buf *msg,
			    int *exit_code)
{
	char *id = NULL;
	json_t *out = NULL;

	switch (s->kind) {
	case CALL_WAIT:
		if (podman__parse_exit_code(resp->body, resp->len, exit_code)) {
			r->ok = false;
			sm_buf_addf(msg, "%s %s: %d: not an exit code: %.40s",
				    s->method, s->path, r->status, resp->body);
		}
		break;
	case CALL_BUILD:
		sm_buf_addf(msg, "%s %s: build failed: ", s->method, s->path);
		if (podman__build_result(resp->body, resp->len, &id, msg) ==
		    0) {
			sm_buf_reset(msg);
			out = json_pack("{s:s}", "Id", id);
			free(id);
		} else {
			r->ok = false;
		}
		break;
	case CALL_PULL: {
		/* JSON lines; the last says {"id":...} or {"error":...}. */
		const char *p = resp->body, *end = p + resp->len;

		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *eol = nl ? nl : end;
			json_t *j = json_loadb(p, (size_t)(eol - p), 0, NULL);

			p = nl ? nl + 1 : end;
			if (sm_json_get_str(j, "error") && r->ok) {
				r->ok = false;
				sm_buf_addf(msg, "%s %s: pull failed: %s",
					    s->method, s->path,
					    sm_json_get_str(j, "error"));
			}
			if (sm_json_get_str(j, "id")) {
				json_decref(out);
				out = json_incref(j);
			}
			json_decref(j);
		}
		if (r->ok && !out) {
			r->ok = false;
			sm_buf_addf(msg,
				    "%s %s: pull ended without an image id",
				    s->method, s->path);
		}
		if (!r->ok) {
			json_decref(out);
			out = NULL;
		}
		break;
	}
	case CALL_EVENTS:
		/* A last event without its newline still counts. */
		if (s->line.len)
			event_line(s, s->line.buf, s->line.len);
		break;
	case CALL_LOGS:
		if (s->demux.head_len) {
			r->ok = false;
			sm_buf_addf(msg,
				    "%s %s: log stream ended inside a frame",
				    s->method, s->path);
		}
		break;
	default:
		break;
	}
	return out;
}

static void on_done(void *ctx, const struct sm_http_response *resp)
{
	struct podman_stream *s = ctx;
	struct sm_buf msg = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct podman_wait_reply w = { 0 };
	struct podman_reply *r = &w.r;
	json_t *json = NULL, *special = NULL;

	s->req = NULL;
	call_unlink(s);
	s->busy++;
	r->body = resp->body;
	r->len = resp->len;
	if (resp->error) {
		/* Transport failures have status 0, as podman.h promises. */
		sm_buf_adds(&msg, resp->error);
	} else {
		r->status = resp->status;
		if (resp->len && s->kind != CALL_BUILD && s->kind != CALL_PULL)
			json = json_loadb(resp->body, resp->len,
					  JSON_DECODE_ANY, NULL);
		r->ok = (resp->status >= 200 && resp->status < 300) ||
			(resp->status == 304 && s->kind == CALL_OK304);
		if (!r->ok && resp->len && !json)
			json = json_loadb(resp->body, resp->len, 0, NULL);
		if (!r->ok)
			podman__format_error(&msg, s->method, s->path,
					     resp->status, json, resp->body,
					     resp->len, &r->cause);
		else
			special = read_special(s, resp, r, &msg, &w.exit_code);
	}
	r->json = special ? special : json;
	if (!r->ok)
		r->error = sm_buf_cstr(&msg);
	if (s->closed) {
		/* closed by an event callback just now: call nothing more */
	} else if (s->kind == CALL_WAIT) {
		s->wait_cb(s->ctx, &w);
	} else {
		s->cb(s->ctx, r);
	}
	json_decref(json);
	json_decref(special);
	sm_buf_release(&msg);
	s->busy--;
	s->closed = true;
	if (!s->busy)
		call_free(s);
}

static struct podman_stream *call_start(struct podman *p, enum call_kind kind,
					const char *method, struct sm_buf *path,
					const void *body, size_t len,
					const char *ctype, void *ctx, int *err)
{
	struct podman_stream *s = xcalloc(1, sizeof(*s));
	struct sm_buf url = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char hdr[80];
	const char *headers[2] = { NULL, NULL };
	struct sm_http_request_opts o = { 0 };
	const char *q = strchr(sm_buf_cstr(path), '?');
	int r;

	s->kind = kind;
	s->ctx = ctx;
	s->method = xstrdup(method);
	s->path = q ? xstrndup(path->buf, (size_t)(q - path->buf))
		    : xstrdup(sm_buf_cstr(path));
	s->demux = (struct podman_demux)PODMAN_DEMUX_INIT;
	sm_buf_init(&s->line, EVENT_LINE_MAX);
	sm_buf_addf(&url, "%s%s", BASE_URL, sm_buf_cstr(path));
	if (ctype) {
		snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
		headers[0] = hdr;
	}
	o.method = method;
	o.url = url.buf;
	o.unix_socket = p->socket;
	o.headers = headers;
	o.body = body;
	o.body_len = len;
	o.timeout_ms = kind == CALL_PLAIN && strcmp(s->path, "/_ping") == 0
			       ? PING_TIMEOUT_MS
			       : 0;
	if (kind == CALL_LOGS || kind == CALL_EVENTS)
		o.on_data = on_data;
	o.on_done = on_done;
	o.ctx = s;
	r = sm_http_request_start(p->http, &o, &s->req);
	sm_buf_release(&url);
	sm_buf_release(path);
	if (r < 0) {
		call_free(s);
		*err = r;
		return NULL;
	}
	s->p = p;
	s->next = p->calls;
	if (p->calls)
		p->calls->prev = s;
	p->calls = s;
	*err = 0;
	return s;
}

/* A plain call; *out (when not NULL) is its stream, to close it early. */
static int plain_call(struct podman *p, enum call_kind kind, const char *method,
		      struct sm_buf *path, const json_t *spec, podman_cb cb,
		      void *ctx, struct podman_stream **out)
{
	struct podman_stream *s;
	char *body = NULL;
	int err;

	if (spec) {
		body = json_dumps(spec, JSON_COMPACT);
		if (!body) {
			sm_buf_release(path);
			return -EINVAL;
		}
	}
	s = call_start(p, kind, method, path, body, body ? strlen(body) : 0,
		       body ? "application/json" : NULL, ctx, &err);
	free(body);
	if (s)
		s->cb = cb;
	if (out)
		*out = s;
	return err;
}

static int plain(struct podman *p, enum call_kind kind, const char *method,
		 struct sm_buf *path, const json_t *spec, podman_cb cb,
		 void *ctx)
{
	return plain_call(p, kind, method, path, spec, cb, ctx, NULL);
}

/* Starts b as before + the escaped name + after. */
static void path_name(struct sm_buf *b, const char *before, const char *name,
		      const char *after)
{
	sm_buf_init(b, SM_BUF_UNBOUNDED);
	sm_buf_adds(b, before);
	add_escaped(b, name);
	sm_buf_adds(b, after);
}

int podman_ping(struct podman *p, podman_cb cb, void *ctx)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	sm_buf_adds(&b, "/_ping");
	return plain(p, CALL_PLAIN, "GET", &b, NULL, cb, ctx);
}

int podman_pod_create(struct podman *p, const json_t *spec, podman_cb cb,
		      void *ctx)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	sm_buf_adds(&b, "/pods/create");
	return plain(p, CALL_PLAIN, "POST", &b, spec, cb, ctx);
}

int podman_pod_inspect(struct podman *p, const char *name, podman_cb cb,
		       void *ctx)
{
	struct sm_buf b;

	path_name(&b, "/pods/", name, "/json");
	return plain(p, CALL_PLAIN, "GET", &b, NULL, cb, ctx);
}

int podman_pod_list(struct podman *p, const json_t *filters, podman_cb cb,
		    void *ctx)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	sm_buf_adds(&b, "/pods/json");
	add_filters(&b, filters);
	return plain(p, CALL_PLAIN, "GET", &b, NULL, cb, ctx);
}

int podman_pod_start(struct podman *p, const char *name, podman_cb cb,
		     void *ctx)
{
	struct sm_buf b;

	path_name(&b, "/pods/", name, "/start");
	return plain(p, CALL_OK304, "POST", &b, NULL, cb, ctx);
}

int podman_pod_kill(struct podman *p, const char *name, const char *signal,
		    podman_cb cb, void *ctx)
{
	struct sm_buf b;

	path_name(&b, "/pods/", name, "/kill?signal=");
	add_escaped(&b, signal ? signal : "SIGKILL");
	return plain(p, CALL_PLAIN, "POST", &b, NULL, cb, ctx);
}

int podman_pod_remove(struct podman *p, const char *name, int timeout_s,
		      podman_cb cb, void *ctx)
{
	struct sm_buf b;

	path_name(&b, "/pods/", name, "");
	sm_buf_addf(&b, "?force=true&timeout=%d", timeout_s);
	return plain(p, CALL_PLAIN, "DELETE", &b, NULL, cb, ctx);
}

int podman_network_inspect(struct podman *p, const char *name, podman_cb cb,
			   void *ctx)
{
	struct sm_buf b;

	path_name(&b, "/networks/", name, "/json");
	return plain(p, CALL_PLAIN, "GET", &b, NULL, cb, ctx);
}

int podman_network_create(struct podman *p, const json_t *spec, podman_cb cb,
			  void *ctx)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	sm_buf_adds(&b, "/networks/create");
	return plain(p, CALL_PLAIN, "POST", &b, spec, cb, ctx);
}

int podman_container_create(struct podman *p, const json_t *spec, podman_cb cb,
			    void *ctx)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	sm_buf_adds(&b, "/containers/create");
	return plain(p, CALL_PLAIN, "POST", &b, spec, cb, ctx);
}

int podman_container_start(struct podman *p, const char *id, podman_cb cb,
			   void *ctx)
{
	struct sm_buf b;

	path_name(&b, "/containers/", id, "/start");
	return plain(p, CALL_OK304, "POST", &b, NULL, cb, ctx);
}

int podman_container_stop(struct podman *p, const char *id, int timeout_s,
			  podman_cb cb, void *ctx)
{
	struct sm_buf b;

	path_name(&b, "/containers/", id, "/stop");
	sm_buf_addf(&b, "?timeout=%d", timeout_s);
	return plain(p, CALL_OK304, "POST", &b, NULL, cb, ctx);
}

int podman_container_kill(struct podman *p, const char *id, const char *signal,
			  podman_cb cb, void *ctx)
{
	struct sm_buf b;

	path_name(&b, "/containers/", id, "/kill?signal=");
	add_escaped(&b, signal ? signal : "SIGKILL");
	return plain(p, CALL_PLAIN, "POST", &b, NULL, cb, ctx);
}

int podman_container_remove(struct podman *p, const char *id, bool force,
			    podman_cb cb, void *ctx)
{
	struct sm_buf b;

	path_name(&b, "/containers/", id, "");
	sm_buf_addf(&b, "?force=%s&volumes=true", force ? "true" : "false");
	return plain(p, CALL_PLAIN, "DELETE", &b, NULL, cb, ctx);
}

int podman_container_inspect(struct podman *p, const char *id, podman_cb cb,
			     void *ctx)
{
	struct sm_buf b;

	path_name(&b, "/containers/", id, "/json");
	return plain(p, CALL_PLAIN, "GET", &b, NULL, cb, ctx);
}

int podman_container_list(struct podman *p, bool all, const json_t *filters,
			  podman_cb cb, void *ctx)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	sm_buf_addf(&b, "/containers/json?all=%s", all ? "true" : "false");
	add_filters(&b, filters);
	return plain(p, CALL_PLAIN, "GET", &b, NULL, cb, ctx);
}

int podman_container_wait(struct podman *p, const char *id, podman_wait_cb cb,
			  void *ctx)
{
	struct podman_stream *s;
	struct sm_buf b;
	int err;

	/*
	 * Podman checks the condition on a timer (250 ms by default): 20 ms
	 * makes a death known within a frame of a click.
	 */
	path_name(&b, "/containers/", id,
		  "/wait?condition=stopped&interval=20ms");
	s = call_start(p, CALL_WAIT, "POST", &b, NULL, 0, NULL, ctx, &err);
	if (s)
		s->wait_cb = cb;
	return err;
}

int podman_image_exists(struct podman *p, const char *name, podman_cb cb,
			void *ctx)
{
	struct sm_buf b;

	path_name(&b, "/images/", name, "/exists");
	return plain(p, CALL_PLAIN, "GET", &b, NULL, cb, ctx);
}

int podman_image_tag(struct podman *p, const char *name, const char *repo,
		     const char *tag, podman_cb cb, void *ctx)
{
	struct sm_buf b;

	path_name(&b, "/images/", name, "/tag?repo=");
	add_escaped(&b, repo);
	sm_buf_adds(&b, "&tag=");
	add_escaped(&b, tag ? tag : "latest");
	return plain(p, CALL_PLAIN, "POST", &b, NULL, cb, ctx);
}

int podman_image_build(struct podman *p, const char *tag, const void *tar,
		       size_t tar_len, podman_cb cb, void *ctx)
{
	struct podman_stream *s;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int err;

	sm_buf_adds(&b, "/build?t=");
	add_escaped(&b, tag);
	/*
	 * forcerm: without it a failed RUN leaves its working container
	 * behind, which then pins the layer images below it.
	 */
	sm_buf_adds(&b, "&dockerfile=Containerfile&pullpolicy=never"
			"&layers=true&rm=true&forcerm=true");
	s = call_start(p, CALL_BUILD, "POST", &b, tar, tar_len,
		       "application/x-tar", ctx, &err);
	if (s)
		s->cb = cb;
	return err;
}

int podman_image_pull(struct podman *p, const char *reference,
		      enum podman_pull_policy policy, bool tls_verify,
		      podman_cb cb, void *ctx)
{
	static const char *const policies[] = {
		[PODMAN_PULL_MISSING] = "missing",
		[PODMAN_PULL_NEWER] = "newer",
		[PODMAN_PULL_ALWAYS] = "always",
	};
	struct podman_stream *s;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int err;

	if ((size_t)policy >= SM_ARRAY_SIZE(policies))
		return -EINVAL;
	sm_buf_adds(&b, "/images/pull?reference=");
	add_escaped(&b, reference);
	sm_buf_addf(&b, "&policy=%s&tlsVerify=%s", policies[policy],
		    tls_verify ? "true" : "false");
	s = call_start(p, CALL_PULL, "POST", &b, NULL, 0, NULL, ctx, &err);
	if (s)
		s->cb = cb;
	return err;
}

struct podman_stream *podman_logs(struct podman *p, const char *id,
				  const struct podman_log_opts *opts,
				  podman_log_cb cb, podman_cb done, void *ctx)
{
	static const struct podman_log_opts none = { .tail = -1 };
	struct podman_stream *s;
	struct sm_buf b;
	int err;

	if (!opts)
		opts = &none;
	path_name(&b, "/containers/", id, "/logs?stdout=true&stderr=true");
	sm_buf_addf(&b, "&follow=%s&timestamps=%s",
		    opts->follow ? "true" : "false",
		    opts->timestamps ? "true" : "false");
	if (opts->tail >= 0)
		sm_buf_addf(&b, "&tail=%ld", opts->tail);
	if (opts->since) {
		sm_buf_adds(&b, "&since=");
		add_escaped(&b, opts->since);
	}
	s = call_start(p, CALL_LOGS, "GET", &b, NULL, 0, NULL, ctx, &err);
	if (s) {
		s->log_cb = cb;
		s->cb = done;
	}
	return s;
}

struct podman_stream *podman_events(struct podman *p, const json_t *filters,
				    podman_event_cb cb, podman_cb done,
				    void *ctx)
{
	struct podman_stream *s;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int err;

	sm_buf_adds(&b, "/events?stream=true");
	add_filters(&b, filters);
	s = call_start(p, CALL_EVENTS, "GET", &b, NULL, 0, NULL, ctx, &err);
	if (s) {
		s->event_cb = cb;
		s->cb = done;
	}
	return s;
}

/*
 * Exec. A session holds its own connection (a libuv pipe, as Podman
 * hijacks it) and a timer for polling the result; it is freed from the
 * last of their close callbacks, which happen after `over` is set (done
 * called, or cancelled). Until then it is listed on the client, so
 * podman_free() cancels it; after, it never touches the client.
 */
#define EXEC_HEAD_MAX (64u * 1024)
#define EXEC_STDIN_MAX (1u << 20)
/* Running may stay true a moment after EOF: poll this often, this long. */
#define EXEC_POLL_MS 20
#define EXEC_POLLS 100

enum exec_step {
	EXEC_CREATE, /* the create request is in flight */
	EXEC_CONNECT, /* connecting, then writing the start request */
	EXEC_HEAD, /* reading the answer's head (or an error's body) */
	EXEC_STREAM, /* hijacked: stdin out, frames in */
	EXEC_RESULT, /* EOF seen: reading ExitCode */
};

struct podman_exec {
	struct podman *p; /* NULL once over */
	uv_pipe_t pipe;
	uv_timer_t timer;
	uv_connect_t connect;
	uv_shutdown_t shutdown;
	int open; /* handles not yet closed */
	enum exec_step step;
	char *id; /* the session's id, once created */
	char *start_path; /* "/exec/ID/start", for messages */
	bool tty, attach_stdin;
	struct podman_stream *call; /* create or result request in flight */
	podman_log_cb out;
	podman_exec_cb done;
	void *ctx;
	struct podman_demux demux;
	struct sm_buf in; /* the start answer's head and error body */
	int status; /* the start answer's HTTP status */
	size_t head_len; /* of the answer's head, once complete */
	long body_want; /* an error body's Content-Length, or -1 */
	struct sm_buf pending; /* stdin written before the stream is ours */
	size_t queued; /* stdin bytes handed to uv_write, not written yet */
	bool stdin_closed, shut;
	bool over; /* done called or cancelled: call nothing more */
	int polls;
	struct podman_exec *prev, *next;
};

struct exec_write {
	uv_write_t w;
	struct podman_exec *e;
	size_t len;
	char data[];
};

static void exec_closed(uv_handle_t *h)
{
	struct podman_exec *e = h->data;

	if (--e->open > 0)
		return;
	free(e->id);
	free(e->start_path);
	sm_buf_release(&e->in);
	sm_buf_release(&e->pending);
	free(e);
}

/* Marks e over: unlinks it, stops its call, closes its handles. */
static void exec_end(struct podman_exec *e)
{
	struct podman *p = e->p;

	e->over = true;
	if (p) {
		if (e->prev)
			e->prev->next = e->next;
		else
			p->execs = e->next;
		if (e->next)
			e->next->prev = e->prev;
		e->p = NULL;
	}
	if (e->call)
		podman_stream_close(e->call);
	e->call = NULL;
	uv_close((uv_handle_t *)&e->pipe, exec_closed);
	uv_close((uv_handle_t *)&e->timer, exec_closed);
}

void podman_exec_cancel(struct podman_exec *e)
{
	if (e && !e->over)
		exec_end(e);
}

/* Ends e and calls done with r (memory stays until the handles close). */
static void exec_finish(struct podman_exec *e, const struct podman_reply *r,
			int exit_code)
{
	if (e->over)
		return;
	exec_end(e);
	e->done(e->ctx, r, r->ok ? exit_code : -1);
}

/* Ends e with a failure of our own making: msg is the whole message. */
static void exec_fail(struct podman_exec *e, int status, const char *msg)
{
	struct podman_reply r = { .status = status, .error = msg };

	exec_finish(e, &r, -1);
}

static void exec_written(uv_write_t *w, int status)
{
	struct exec_write *ew = (struct exec_write *)w;

	/*
	 * A failed write (Podman closed after the command ended) is not the
	 * session's failure: the read side sees the end and the exit code.
	 */
	ew->e->queued -= ew->len;
	free(ew);
}

static void exec_send(struct podman_exec *e, const void *data, size_t len)
{
	struct exec_write *ew = xmalloc(sizeof(*ew) + len);
	uv_buf_t b;

	ew->e = e;
	ew->len = len;
	memcpy(ew->data, data, len);
	b = uv_buf_init(ew->data, (unsigned)len);
	e->queued += len;
	if (uv_write(&ew->w, (uv_stream_t *)&e->pipe, &b, 1, exec_written)) {
		e->queued -= len;
		free(ew);
	}
}

static void exec_shut(uv_shutdown_t *req, int status)
{
	/* Nothing to do: the command sees EOF, then the stream ends. */
}

static void exec_half_close(struct podman_exec *e)
{
	if (e->shut)
		return;
	e->shut = true;
	/* libuv shuts down after the writes already queued. */
	uv_shutdown(&e->shutdown, (uv_stream_t *)&e->pipe, exec_shut);
}

int podman_exec_write(struct podman_exec *e, const void *data, size_t len)
{
	if (!e->attach_stdin)
		return -EINVAL;
	if (e->over || e->stdin_closed || e->step > EXEC_STREAM)
		return -EPIPE;
	if (e->pending.len + e->queued + len > EXEC_STDIN_MAX)
		return -ENOBUFS;
	if (!len)
		return 0;
	if (e->step < EXEC_STREAM)
		return sm_buf_add(&e->pending, data, len) < 0 ? -ENOBUFS : 0;
	exec_send(e, data, len);
	return 0;
}

int podman_exec_close_stdin(struct podman_exec *e)
{
	if (!e->attach_stdin)
		return -EINVAL;
	if (e->over || e->stdin_closed || e->step > EXEC_STREAM)
		return -EPIPE;
	e->stdin_closed = true;
	if (e->step == EXEC_STREAM)
		exec_half_close(e);
	return 0;
}

static void exec_inspected(void *ctx, const struct podman_reply *r);

static void exec_result(struct podman_exec *e)
{
	struct sm_buf b;
	int err;

	path_name(&b, "/exec/", e->id, "/json");
	err = plain_call(e->p, CALL_PLAIN, "GET", &b, NULL, exec_inspected, e,
			 &e->call);
	if (err) {
		char *msg = xasprintf("GET /exec/%s/json: %s", e->id,
				      strerror(-err));

		exec_fail(e, 0, msg);
		free(msg);
	}
}

static void exec_poll(uv_timer_t *t)
{
	exec_result(t->data);
}

static void exec_inspected(void *ctx, const struct podman_reply *r)
{
	struct podman_exec *e = ctx;
	json_t *code = json_object_get(r->json, "ExitCode");

	e->call = NULL;
	if (!r->ok) {
		exec_finish(e, r, -1);
		return;
	}
	if (json_is_true(json_object_get(r->json, "Running"))) {
		if (++e->polls < EXEC_POLLS) {
			uv_timer_start(&e->timer, exec_poll, EXEC_POLL_MS, 0);
			return;
		}
		{
			char *msg = xasprintf("GET /exec/%s/json: still "
					      "running after its stream ended",
					      e->id);

			exec_fail(e, r->status, msg);
			free(msg);
		}
		return;
	}
	if (!json_is_integer(code)) {
		char *msg = xasprintf("GET /exec/%s/json: no ExitCode", e->id);

		exec_fail(e, r->status, msg);
		free(msg);
		return;
	}
	exec_finish(e, r, (int)json_integer_value(code));
}

/* Runs the caller's output callback unless the session is over. */
static void exec_out(void *ctx, enum podman_log_stream which, const char *data,
		     size_t len)
{
	struct podman_exec *e = ctx;

	if (!e->over)
		e->out(e->ctx, which, data, len);
}

static void exec_stream(struct podman_exec *e, const char *data, size_t len)
{
	if (!len)
		return;
	if (e->tty) {
		exec_out(e, PODMAN_STDOUT, data, len);
		return;
	}
	if (podman_demux_feed(&e->demux, data, len, exec_out, e) && !e->over) {
		char *msg = xasprintf("POST %s: %d: not a frame stream",
				      e->start_path, e->status);

		exec_fail(e, e->status, msg);
		free(msg);
	}
}

/* The start answer's error: its head and Content-Length body are in. */
static void exec_start_failed(struct podman_exec *e)
{
	struct sm_buf msg = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *body = e->in.buf + e->head_len;
	size_t len = e->in.len - e->head_len;
	json_t *json = len ? json_loadb(body, len, 0, NULL) : NULL;
	struct podman_reply r = {
		.status = e->status, .body = body, .len = len, .json = json
	};

	podman__format_error(&msg, "POST", e->start_path, e->status, json, body,
			     len, &r.cause);
	r.error = sm_buf_cstr(&msg);
	exec_finish(e, &r, -1);
	json_decref(json);
	sm_buf_release(&msg);
}

/* Reads the status and Content-Length of the head in e->in. */
static int exec_parse_head(struct podman_exec *e)
{
	const char *h = sm_buf_cstr(&e->in), *cl;
	char *end;
	long v;

	if (strncmp(h, "HTTP/1.", 7) || !h[7] || h[8] != ' ')
		return -EPROTO;
	v = strtol(h + 9, &end, 10);
	if (end != h + 12 || v < 100 || v > 599)
		return -EPROTO;
	e->status = (int)v;
	e->body_want = -1;
	cl = strcasestr(h, "\r\nContent-Length:");
	if (cl && cl < h + e->head_len)
		e->body_want = strtol(cl + 17, NULL, 10);
	return 0;
}

/* Bytes of the start answer before the stream is ours. */
static void exec_head(struct podman_exec *e, const char *data, size_t len)
{
	const char *end;
	size_t rest;

	if (sm_buf_add(&e->in, data, len) < 0) {
		char *msg = xasprintf("POST %s: answer head too long",
				      e->start_path);

		exec_fail(e, 0, msg);
		free(msg);
		return;
	}
	if (e->head_len) {
		/* An error's body: complete once Content-Length is in. */
		if (e->body_want >= 0 &&
		    e->in.len - e->head_len >= (size_t)e->body_want)
			exec_start_failed(e);
		return;
	}
	end = strstr(sm_buf_cstr(&e->in), "\r\n\r\n");
	if (!end)
		return;
	e->head_len = (size_t)(end - e->in.buf) + 4;
	if (exec_parse_head(e)) {
		char *msg =
			xasprintf("POST %s: not an HTTP answer", e->start_path);

		exec_fail(e, 0, msg);
		free(msg);
		return;
	}
	if (e->status != 101 && e->status != 200) {
		if (e->body_want >= 0 &&
		    e->in.len - e->head_len >= (size_t)e->body_want)
			exec_start_failed(e);
		return;
	}
	/* 101 or 200: the connection is a raw stream from here on. */
	e->step = EXEC_STREAM;
	if (e->pending.len) {
		exec_send(e, e->pending.buf, e->pending.len);
		sm_buf_release(&e->pending);
	}
	if (e->stdin_closed)
		exec_half_close(e);
	rest = e->in.len - e->head_len;
	if (rest)
		exec_stream(e, e->in.buf + e->head_len, rest);
}

static void exec_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	b->base = xmalloc(65536);
	b->len = 65536;
}

static void exec_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct podman_exec *e = st->data;

	if (e->over) {
		/* Cancelled by a callback earlier in this loop turn. */
	} else if (n > 0 && e->step == EXEC_HEAD) {
		exec_head(e, b->base, (size_t)n);
	} else if (n > 0) {
		exec_stream(e, b->base, (size_t)n);
	} else if (n == UV_EOF && e->step == EXEC_STREAM) {
		uv_read_stop(st);
		if (!e->tty && e->demux.head_len) {
			char *msg = xasprintf("POST %s: stream ended inside "
					      "a frame",
					      e->start_path);

			exec_fail(e, e->status, msg);
			free(msg);
		} else {
			e->step = EXEC_RESULT;
			exec_result(e);
		}
	} else if (n == UV_EOF && e->head_len) {
		/* An error answer without Content-Length ends here. */
		exec_start_failed(e);
	} else if (n < 0) {
		char *msg = xasprintf("POST %s: %s", e->start_path,
				      n == UV_EOF ? "connection closed "
						    "before an answer"
						  : uv_strerror((int)n));

		exec_fail(e, 0, msg);
		free(msg);
	}
	free(b->base);
}

static void exec_connected(uv_connect_t *req, int status)
{
	struct podman_exec *e = req->data;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *body = e->tty ? "{\"Detach\":false,\"Tty\":true}"
				  : "{\"Detach\":false,\"Tty\":false}";
	int r;

	if (e->over)
		return;
	if (status < 0) {
		char *msg =
			xasprintf("POST %s (unix socket %s): %s", e->start_path,
				  e->p->socket, uv_strerror(status));

		exec_fail(e, 0, msg);
		free(msg);
		return;
	}
	e->step = EXEC_HEAD;
	sm_buf_addf(&b,
		    "POST /v4.0.0/libpod%s HTTP/1.1\r\nHost: d\r\n"
		    "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: Upgrade\r\n"
		    "Upgrade: tcp\r\n\r\n%s",
		    e->start_path, strlen(body), body);
	exec_send(e, b.buf, b.len);
	sm_buf_release(&b);
	r = uv_read_start((uv_stream_t *)&e->pipe, exec_alloc, exec_read);
	if (r) {
		char *msg =
			xasprintf("POST %s: %s", e->start_path, uv_strerror(r));

		exec_fail(e, 0, msg);
		free(msg);
	}
}

static void exec_created(void *ctx, const struct podman_reply *r)
{
	struct podman_exec *e = ctx;
	const char *id = r->ok ? sm_json_get_str(r->json, "Id") : NULL;
	struct sm_buf b;

	e->call = NULL;
	if (!r->ok) {
		exec_finish(e, r, -1);
		return;
	}
	if (!id || !*id) {
		struct podman_reply bad = *r;

		bad.ok = false;
		bad.error = "POST /containers/.../exec: no session Id";
		exec_finish(e, &bad, -1);
		return;
	}
	e->id = xstrdup(id);
	path_name(&b, "/exec/", id, "/start");
	e->start_path = sm_buf_detach(&b, NULL);
	e->step = EXEC_CONNECT;
	uv_pipe_connect(&e->connect, &e->pipe, e->p->socket, exec_connected);
}

static json_t *str_array(const char *const *v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

struct podman_exec *podman_exec(struct podman *p, const char *container_id,
				const struct podman_exec_opts *opts,
				podman_log_cb out, podman_exec_cb done,
				void *ctx)
{
	struct podman_exec *e;
	struct sm_buf b;
	json_t *spec;
	int err;

	if (!opts || !opts->cmd || !opts->cmd[0] || !out || !done)
		return NULL;
	spec = json_pack("{s:b, s:b, s:b, s:b, s:o}", "AttachStdin",
			 opts->attach_stdin, "AttachStdout", 1, "AttachStderr",
			 1, "Tty", opts->tty, "Cmd", str_array(opts->cmd));
	if (opts->env)
		json_object_set_new(spec, "Env", str_array(opts->env));
	if (opts->working_dir)
		json_object_set_new(spec, "WorkingDir",
				    json_string(opts->working_dir));
	if (opts->user)
		json_object_set_new(spec, "User", json_string(opts->user));
	e = xcalloc(1, sizeof(*e));
	e->tty = opts->tty;
	e->attach_stdin = opts->attach_stdin;
	e->out = out;
	e->done = done;
	e->ctx = ctx;
	e->demux = (struct podman_demux)PODMAN_DEMUX_INIT;
	sm_buf_init(&e->in, EXEC_HEAD_MAX);
	sm_buf_init(&e->pending, EXEC_STDIN_MAX);
	path_name(&b, "/containers/", container_id, "/exec");
	err = plain_call(p, CALL_PLAIN, "POST", &b, spec, exec_created, e,
			 &e->call);
	json_decref(spec);
	if (err) {
		sm_buf_release(&e->in);
		sm_buf_release(&e->pending);
		free(e);
		return NULL;
	}
	e->p = p;
	uv_pipe_init(p->loop, &e->pipe, 0);
	uv_timer_init(p->loop, &e->timer);
	e->pipe.data = e;
	e->timer.data = e;
	e->connect.data = e;
	e->open = 2;
	e->next = p->execs;
	if (p->execs)
		p->execs->prev = e;
	p->execs = e;
	return e;
}

/* The ops table: the functions above, with the client as void *. */

static int ops_pod_create(void *c, const json_t *spec, podman_cb cb, void *ctx)
{
	return podman_pod_create(c, spec, cb, ctx);
}

static int ops_pod_start(void *c, const char *name, podman_cb cb, void *ctx)
{
	return podman_pod_start(c, name, cb, ctx);
}

static int ops_pod_inspect(void *c, const char *name, podman_cb cb, void *ctx)
{
	return podman_pod_inspect(c, name, cb, ctx);
}

static int ops_pod_list(void *c, const json_t *filters, podman_cb cb, void *ctx)
{
	return podman_pod_list(c, filters, cb, ctx);
}

static int ops_pod_remove(void *c, const char *name, int timeout_s,
			  podman_cb cb, void *ctx)
{
	return podman_pod_remove(c, name, timeout_s, cb, ctx);
}

static int ops_container_create(void *c, const json_t *spec, podman_cb cb,
				void *ctx)
{
	return podman_container_create(c, spec, cb, ctx);
}

static int ops_container_start(void *c, const char *id, podman_cb cb, void *ctx)
{
	return podman_container_start(c, id, cb, ctx);
}

static int ops_container_stop(void *c, const char *id, int timeout_s,
			      podman_cb cb, void *ctx)
{
	return podman_container_stop(c, id, timeout_s, cb, ctx);
}

static int ops_container_remove(void *c, const char *id, bool force,
				podman_cb cb, void *ctx)
{
	return podman_container_remove(c, id, force, cb, ctx);
}

static int ops_container_inspect(void *c, const char *id, podman_cb cb,
				 void *ctx)
{
	return podman_container_inspect(c, id, cb, ctx);
}

static int ops_container_list(void *c, bool all, const json_t *filters,
			      podman_cb cb, void *ctx)
{
	return podman_container_list(c, all, filters, cb, ctx);
}

static int ops_container_wait(void *c, const char *id, podman_wait_cb cb,
			      void *ctx)
{
	return podman_container_wait(c, id, cb, ctx);
}

static int ops_image_exists(void *c, const char *name, podman_cb cb, void *ctx)
{
	return podman_image_exists(c, name, cb, ctx);
}

static int ops_image_pull(void *c, const char *reference,
			  enum podman_pull_policy policy, bool tls_verify,
			  podman_cb cb, void *ctx)
{
	return podman_image_pull(c, reference, policy, tls_verify, cb, ctx);
}

static struct podman_exec *ops_exec(void *c, const char *container_id,
				    const struct podman_exec_opts *opts,
				    podman_log_cb out, podman_exec_cb done,
				    void *ctx)
{
	return podman_exec(c, container_id, opts, out, done, ctx);
}

static int ops_network_inspect(void *c, const char *name, podman_cb cb,
			       void *ctx)
{
	return podman_network_inspect(c, name, cb, ctx);
}

static int ops_network_create(void *c, const json_t *spec, podman_cb cb,
			      void *ctx)
{
	return podman_network_create(c, spec, cb, ctx);
}

const struct podman_ops podman_ops_real = {
	.pod_create = ops_pod_create,
	.pod_start = ops_pod_start,
	.pod_inspect = ops_pod_inspect,
	.pod_list = ops_pod_list,
	.pod_remove = ops_pod_remove,
	.container_create = ops_container_create,
	.container_start = ops_container_start,
	.container_stop = ops_container_stop,
	.container_remove = ops_container_remove,
	.container_inspect = ops_container_inspect,
	.container_list = ops_container_list,
	.container_wait = ops_container_wait,
	.image_exists = ops_image_exists,
	.image_pull = ops_image_pull,
	.exec = ops_exec,
	.exec_cancel = podman_exec_cancel,
	.network_inspect = ops_network_inspect,
	.network_create = ops_network_create,
};
