/*
 * http_client.c: libcurl's multi-socket interface driven by libuv.
 *
 * How the pieces fit:
 * - curl tells us which sockets to watch (socket_cb) and when to call it
 *   back (timer_cb). Each watched socket gets a struct sock with an
 *   embedded uv_poll_t; the client's single uv_timer_t serves curl's
 *   timeout.
 * - When libuv reports a socket ready or the timer fires, we hand that to
 *   curl_multi_socket_action() and then collect finished transfers.
 * - curl forbids removing handles or cleaning up the multi handle from
 *   inside its own callbacks (write, socket, timer). Whatever a user
 *   callback asks for while we are inside curl (cancel, free) is only
 *   recorded, and done when curl has returned (see leave_curl()).
 *
 * Lifetime: refs counts the open handles (the timer and every poll). The
 * client is freed from the close callback that brings it to zero, which
 * only happens after sm_http_client_free() closed the timer.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/http_client.h"
#include "common/xalloc.h"
#include "common/banned.h"

struct sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct sm_http_client *c;
	struct sock *prev, *next;
};

struct sm_http_request {
	struct sm_http_client *c;
	CURL *easy;
	struct curl_slist *headers;
	char *method;
	char *url;
	char *unix_socket;
	struct sm_buf body;
	sm_http_data_cb on_data;
	sm_http_done_cb on_done;
	void *ctx;
	int fail; /* negative errno recorded by the write callback */
	bool cancelled;
	bool added; /* handed to curl (deferred while inside curl) */
	char errbuf[CURL_ERROR_SIZE];
	struct sm_http_request *prev, *next;
};

struct sm_http_client {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	int refs; /* open libuv handles */
	int in_curl; /* depth of calls into curl that may call us back */
	bool closing; /* sm_http_client_free() was called */
	bool torn_down;
	size_t pending;
	struct sm_http_request *reqs;
	struct sock *socks;
};

static void client_unref(struct sm_http_client *c)
{
	if (--c->refs == 0)
		free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	client_unref(h->data);
}

static void on_sock_closed(uv_handle_t *h)
{
	struct sock *s = h->data;
	struct sm_http_client *c = s->c;

	free(s);
	client_unref(c);
}

static void sock_close(struct sock *s)
{
	struct sm_http_client *c = s->c;

	if (s->prev)
		s->prev->next = s->next;
	else
		c->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (c->multi)
		curl_multi_assign(c->multi, s->fd, NULL);
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static void req_unlink(struct sm_http_request *r)
{
	struct sm_http_client *c = r->c;

	if (r->prev)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	c->pending--;
}

/* Removes the transfer from curl and frees it; must not run inside curl. */
static void req_destroy(struct sm_http_request *r)
{
	struct sm_http_client *c = r->c;

	req_unlink(r);
	if (r->added)
		curl_multi_remove_handle(c->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	sm_buf_release(&r->body);
	free(r->method);
	free(r->url);
	free(r->unix_socket);
	free(r);
}

static void teardown(struct sm_http_client *c)
{
	struct sm_http_request *r, *next;
	struct sock *sk, *snext;

	c->torn_down = true;
	/* Destroying one request never frees another: next stays valid. */
	for (r = c->reqs; r; r = next) {
		next = r->next;
		req_destroy(r);
	}
	/*
	 * Close our polls before curl closes its sockets, so libuv never
	 * watches a descriptor number that may already be reused.
	 */
	for (sk = c->socks; sk; sk = snext) {
		snext = sk->next;
		sock_close(sk);
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, NULL);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, NULL);
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void finish(struct sm_http_request *r, CURLcode code);

/*
 * Hands a deferred transfer to curl. Outside its callbacks curl refuses a
 * valid handle only when out of memory, which aborts here as xmalloc does.
 */
static void add_to_curl(struct sm_http_request *r)
{
	CURLMcode mc = curl_multi_add_handle(r->c->multi, r->easy);

	if (mc != CURLM_OK)
		sm_die("http: libcurl refused a transfer: %s",
		       curl_multi_strerror(mc));
	r->added = true;
}

/* Hands finished transfers to their owners. */
static void collect(struct sm_http_client *c)
{
	CURLMsg *m;
	int left;

	while (!c->closing && (m = curl_multi_info_read(c->multi, &left))) {
		struct sm_http_request *r = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
				  (char **)&r);
		finish(r, m->data.result);
	}
}

/*
 * Called after every return from curl: does what callbacks asked for while
 * curl was running, then reports finished transfers.
 */
static void leave_curl(struct sm_http_client *c)
{
	struct sm_http_request *r, *next;

	if (--c->in_curl > 0)
		return;
	if (c->closing) {
		if (!c->torn_down)
			teardown(c);
		return;
	}
	collect(c);
	if (c->closing) {
		if (!c->torn_down)
			teardown(c);
		return;
	}
	for (r = c->reqs; r; r = next) {
		next = r->next;
		if (r->cancelled)
			req_destroy(r);
		else if (!r->added)
			add_to_curl(r);
	}
}

static void socket_action(struct sm_http_client *c, curl_socket_t fd, int flags)
{
	int running;

	c->in_curl++;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	leave_curl(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct sock *s = h->data;
	int flags = 0;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	/* s may be closed by curl during the call: read its fields first. */
	socket_action(s->c, s->fd, flags);
}

static void on_timer(uv_timer_t *t)
{
	struct sm_http_client *c = t->data;

	socket_action(c, CURL_SOCKET_TIMEOUT, 0);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
		     void *sockp)
{
	struct sm_http_client *c = userp;
	struct sock *s = sockp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s)
			sock_close(s);
		return 0;
	}
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		s->c = c;
		if (uv_poll_init_socket(c->loop, &s->poll, fd) < 0) {
			free(s);
			return -1;
		}
		s->poll.data = s;
		c->refs++;
		s->next = c->socks;
		if (c->socks)
			c->socks->prev = s;
		c->socks = s;
		curl_multi_assign(c->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, on_poll);
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct sm_http_client *c = userp;

	if (timeout_ms < 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

void sm_http_client_free(struct sm_http_client *c)
{
	if (!c || c->closing)
		return;
	c->closing = true;
	/* Inside curl, leave_curl() finishes the job once curl returns. */
	if (c->in_curl == 0)
		teardown(c);
}

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sm_http_client *sm_http_client_new(uv_loop_t *loop)
{
	static uv_once_t once = UV_ONCE_INIT;
	struct sm_http_client *c;

	/* curl_global_init() is not thread-safe; run it exactly once. */
	uv_once(&once, global_init);
	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->multi = curl_multi_init();
	if (!c->multi) {
		free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->refs = 1;
	return c;
}

size_t sm_http_client_pending(const struct sm_http_client *c)
{
	return c->pending;
}

static long response_status(struct sm_http_request *r)
{
	long status = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct sm_http_request *r = userp;
	size_t len = size * nmemb;
	long status;
	int ret;

	if (r->cancelled || r->c->closing)
		return 0;
	status = response_status(r);
	if (r->on_data && status >= 200 && status < 300) {
		ret = r->on_data(r->ctx, (int)status, data, len);
		if (r->cancelled || r->c->closing)
			return 0;
		if (ret < 0) {
			r->fail = ret;
			return 0;
		}
		return len;
	}
	if (sm_buf_add(&r->body, data, len) < 0) {
		r->fail = -EMSGSIZE;
		return 0;
	}
	return len;
}

/* Maps curl's result to a negative errno for callers that branch on it. */
static int curl_errno(CURLcode code)
{
	switch (code) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

static void finish(struct sm_http_request *r, CURLcode code)
{
	struct sm_http_client *c = r->c;
	struct sm_http_response resp = { 0 };
	struct sm_buf msg = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char *ctype = NULL;

	if (r->cancelled) {
		req_destroy(r);
		return;
	}
	resp.status = (int)response_status(r);
	curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ctype);
	resp.content_type = ctype;
	resp.body = sm_buf_cstr(&r->body);
	resp.len = r->body.len;
	if (r->fail || code != CURLE_OK) {
		sm_buf_addf(&msg, "%s %s", r->method, r->url);
		if (r->unix_socket)
			sm_buf_addf(&msg, " (unix socket %s)", r->unix_socket);
		sm_buf_adds(&msg, ": ");
		if (r->fail == -EMSGSIZE)
			sm_buf_addf(&msg, "response larger than %zu bytes",
				    r->body.max);
		else if (r->fail)
			sm_buf_addf(&msg, "reading the response: %s",
				    strerror(-r->fail));
		else if (r->errbuf[0])
			sm_buf_addf(&msg, "%s", r->errbuf);
		else
			sm_buf_adds(&msg, curl_easy_strerror(code));
		resp.error = sm_buf_cstr(&msg);
		resp.err = r->fail ? r->fail : curl_errno(code);
	}
	/*
	 * Unlink first, so that a callback freeing the client does not see
	 * this request; curl state is released after the callback.
	 */
	req_unlink(r);
	if (r->added)
		curl_multi_remove_handle(c->multi, r->easy);
	r->on_done(r->ctx, &resp);
	sm_buf_release(&msg);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	sm_buf_release(&r->body);
	free(r->method);
	free(r->url);
	free(r->unix_socket);
	free(r);
}

static int setup_easy(struct sm_http_request *r,
		      const struct sm_http_request_opts *o)
{
	CURL *e = r->easy;
	const char *const *h;
	bool ok = true;

	/* curl would wait for 100 Continue before bodies over 1 KiB. */
	r->headers = curl_slist_append(r->headers, "Expect:");
	for (h = o->headers; h && *h; h++)
		r->headers = curl_slist_append(r->headers, *h);
	if (o->bearer_token) {
		char *auth =
			xasprintf("Authorization: Bearer %s", o->bearer_token);

		r->headers = curl_slist_append(r->headers, auth);
		free(auth);
	}
	ok &= curl_easy_setopt(e, CURLOPT_URL, r->url) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, r) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, r) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	if (r->unix_socket)
		ok &= curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH,
				       r->unix_socket) == CURLE_OK;
	if (o->ca_file) {
		/* Only this CA: no system directory either. */
		ok &= curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file) ==
		      CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_CAPATH, NULL) == CURLE_OK;
	}
	if (o->insecure_skip_verify) {
		ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) ==
		      CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) ==
		      CURLE_OK;
	}
	if (o->timeout_ms)
		ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
				       (long)o->timeout_ms) == CURLE_OK;
	if (strcmp(r->method, "GET") == 0 && !o->body) {
		/* curl's default */
	} else if (strcmp(r->method, "HEAD") == 0) {
		ok &= curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK;
	} else {
		/*
		 * A body (maybe empty) sent with its length; the method
		 * name is set explicitly so DELETE or PUT keep theirs.
		 */
		if (o->body || strcmp(r->method, "POST") == 0 ||
		    strcmp(r->method, "PUT") == 0) {
			ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
					       (curl_off_t)o->body_len) ==
			      CURLE_OK;
			ok &= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
					       o->body ? o->body : "") ==
			      CURLE_OK;
		}
		ok &= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method) ==
		      CURLE_OK;
	}
	return ok && r->headers ? 0 : -ENOMEM;
}

int sm_http_request_start(struct sm_http_client *c,
			  const struct sm_http_request_opts *o,
			  struct sm_http_request **out)
{
	struct sm_http_request *r;

	if (!o->url || !o->on_done ||
	    (o->bearer_token && strpbrk(o->bearer_token, "\r\n")))
		return -EINVAL;
	if (c->closing)
		return -ESHUTDOWN;
	r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->method = xstrdup(o->method ? o->method : "GET");
	r->url = xstrdup(o->url);
	r->unix_socket = o->unix_socket ? xstrdup(o->unix_socket) : NULL;
	sm_buf_init(&r->body,
		    o->max_response ? o->max_response : SM_HTTP_MAX_RESPONSE);
	r->on_data = o->on_data;
	r->on_done = o->on_done;
	r->ctx = o->ctx;
	r->easy = curl_easy_init();
	/*
	 * Inside curl (a streaming callback starting a request) curl refuses
	 * new handles; leave_curl() adds it when curl has returned.
	 */
	if (r->easy && setup_easy(r, o) == 0 &&
	    (c->in_curl > 0 ||
	     curl_multi_add_handle(c->multi, r->easy) == CURLM_OK)) {
		r->added = c->in_curl == 0;
	} else {
		if (r->easy)
			curl_easy_cleanup(r->easy);
		curl_slist_free_all(r->headers);
		free(r->method);
		free(r->url);
		free(r->unix_socket);
		free(r);
		return -ENOMEM;
	}
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->pending++;
	if (out)
		*out = r;
	return 0;
}

void sm_http_request_cancel(struct sm_http_request *r)
{
	if (!r || r->cancelled)
		return;
	r->cancelled = true;
	/* Inside curl, leave_curl() removes it once curl returns. */
	if (r->c->in_curl == 0)
		req_destroy(r);
}
