/*
 * Tests for common/tls.c: an sm_http_server on 127.0.0.1 (port from the
 * OS) with the TLS transport and certificates made by reconciler/pki, on
 * the test's libuv loop. Clients: the project's HTTP client (libcurl,
 * which offers h2 and http/1.1 like kubectl), and a hand-driven OpenSSL
 * client on a non-blocking socket that can send its records one byte at a
 * time. Every test runs the loop dry and closes it at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/tls.h"
#include "common/xalloc.h"
#include "reconciler/pki.h"
#include "common/banned.h"

#define CHUNK (16u << 10)
#define CHUNKS 64

struct fixture {
	uv_loop_t loop;
	char dir[32];
	struct pki pki;
	struct sm_tls_server *tls;
	struct sm_http_server *srv;
	struct sm_http_client *http;
	int handled;
	int sent; /* chunks of /stream */
	int drains;
	char url[64]; /* https://127.0.0.1:PORT */
};

struct result {
	int calls;
	int status;
	int err;
	char *body;
	char *error;
};

static void pump(struct fixture *f, struct sm_http_resp *r)
{
	char chunk[CHUNK];

	while (f->sent < CHUNKS && sm_http_resp_writable(r)) {
		memset(chunk, 'a' + f->sent % 26, sizeof(chunk));
		assert_int_equal(sm_http_resp_write(r, chunk, sizeof(chunk)),
				 0);
		f->sent++;
	}
	if (f->sent == CHUNKS)
		assert_int_equal(sm_http_resp_end(r), 0);
}

static void on_drain(void *ctx, struct sm_http_resp *r)
{
	struct fixture *f = ctx;

	f->drains++;
	pump(f, r);
}

static void on_gone(void *ctx, struct sm_http_resp *r)
{
	fail_msg("the stream's client went away");
}

static void handler(void *ctx, const struct sm_http_req *req,
		    struct sm_http_resp *resp)
{
	static const char *const kinds[] = { "none", "api", "node" };
	struct fixture *f = ctx;
	char body[64];

	f->handled++;
	if (strcmp(req->path, "/hello") == 0) {
		enum pki_token_kind k = pki_check_bearer(
			&f->pki, sm_http_req_header(req, "Authorization"));

		snprintf(body, sizeof(body), "hello %s", kinds[k]);
		sm_http_resp_send(resp, body, strlen(body));
	} else if (strcmp(req->path, "/stream") == 0) {
		f->sent = 0;
		sm_http_resp_on(resp, on_gone, on_drain, f);
		pump(f, resp);
	} else {
		sm_http_resp_set_status(resp, 404);
		sm_http_resp_send(resp, "not found\n", 10);
	}
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct sm_err err = SM_ERR_INIT;
	struct sm_http_server_opts o = { 0 };

	snprintf(f->dir, sizeof(f->dir), "/tmp/sm-tls-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(pki_ensure(f->dir, NULL, 0, &f->pki, &err), 0);
	assert_int_equal(sm_tls_server_new(f->pki.cert_path, f->pki.key_path,
					   &f->tls, &err),
			 0);
	uv_loop_init(&f->loop);
	o.listen = "127.0.0.1:0";
	o.handler = handler;
	o.ctx = f;
	o.transport = &sm_tls_transport;
	o.tctx = f->tls;
	assert_int_equal(sm_http_server_start(&f->loop, &o, &f->srv, &err), 0);
	snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%d",
		 sm_http_server_port(f->srv));
	f->http = sm_http_client_new(&f->loop);
	assert_non_null(f->http);
	sm_err_release(&err);
	*state = f;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int r;

	sm_http_client_free(f->http);
	sm_http_server_free(f->srv);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	r = uv_loop_close(&f->loop);
	sm_tls_server_free(f->tls);
	pki_release(&f->pki);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	assert_int_equal(r, 0);
	return 0;
}

/* Runs the loop until *count reaches want, for at most 10 s. */
static void run_until(struct fixture *f, const int *count, int want)
{
	uint64_t deadline;

	uv_update_time(&f->loop);
	deadline = uv_now(&f->loop) + 10000;
	while (*count < want && uv_now(&f->loop) < deadline) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		poll(NULL, 0, 1);
		uv_update_time(&f->loop);
	}
	assert_int_equal(*count, want);
}

/* Runs the loop until the server has no connection left. */
static void run_until_no_connections(struct fixture *f)
{
	uint64_t deadline;

	uv_update_time(&f->loop);
	deadline = uv_now(&f->loop) + 10000;
	while (sm_http_server_connections(f->srv) > 0 &&
	       uv_now(&f->loop) < deadline) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		poll(NULL, 0, 1);
		uv_update_time(&f->loop);
	}
	assert_int_equal(sm_http_server_connections(f->srv), 0);
}

static void on_done(void *ctx, const struct sm_http_response *r)
{
	struct result *res = ctx;

	/* A result may serve more than one request. */
	free(res->body);
	free(res->error);
	res->calls++;
	res->status = r->status;
	res->err = r->err;
	res->body = xstrndup(r->body, r->len);
	res->error = r->error ? xstrdup(r->error) : NULL;
}

static void result_release(struct result *res)
{
	free(res->body);
	free(res->error);
}

static void request(struct fixture *f, const char *url, const char *path,
		    const char *ca, const char *token, struct result *res)
{
	struct sm_http_request_opts o = { 0 };
	char *full = xasprintf("%s%s", url, path);

	o.url = full;
	o.ca_file = ca;
	o.bearer_token = token;
	o.timeout_ms = 10000;
	o.max_response = 2 * CHUNK * CHUNKS;
	o.on_done = on_done;
	o.ctx = res;
	assert_int_equal(sm_http_request_start(f->http, &o, NULL), 0);
	free(full);
}

static void test_a_get_over_tls_is_answered_with_the_token(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };

	request(f, f->url, "/hello", f->pki.ca_cert_path, f->pki.api_token,
		&res);
	run_until(f, &res.calls, 1);
	assert_null(res.error);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "hello api");
	assert_int_equal(sm_tls_server_handshakes(f->tls), 1);
	assert_int_equal(sm_tls_server_failures(f->tls), 0);
	result_release(&res);
}

static void test_a_token_with_a_line_break_is_refused(void **state)
{
	struct fixture *f = *state;
	struct sm_http_request_opts o = { 0 };
	struct result res = { 0 };

	o.url = f->url;
	o.bearer_token = "abc\r\nX-Evil: 1";
	o.on_done = on_done;
	o.ctx = &res;
	assert_int_equal(sm_http_request_start(f->http, &o, NULL), -EINVAL);
	assert_int_equal(sm_http_client_pending(f->http), 0);
}

static void test_keep_alive_serves_two_requests_on_one_handshake(void **state)
{
	struct fixture *f = *state;
	struct result one = { 0 }, two = { 0 };

	request(f, f->url, "/hello", f->pki.ca_cert_path, f->pki.api_token,
		&one);
	run_until(f, &one.calls, 1);
	request(f, f->url, "/hello", f->pki.ca_cert_path, f->pki.node_token,
		&two);
	run_until(f, &two.calls, 1);
	assert_string_equal(one.body, "hello api");
	assert_string_equal(two.body, "hello node");
	assert_int_equal(f->handled, 2);
	assert_int_equal(sm_tls_server_handshakes(f->tls), 1);
	assert_int_equal(sm_http_server_connections(f->srv), 1);
	result_release(&one);
	result_release(&two);
}

static void test_a_chunked_stream_arrives_whole_and_in_order(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };
	size_t i;

	request(f, f->url, "/stream", f->pki.ca_cert_path, NULL, &res);
	run_until(f, &res.calls, 1);
	assert_null(res.error);
	assert_int_equal(res.status, 200);
	assert_int_equal(strlen(res.body), (size_t)CHUNK * CHUNKS);
	for (i = 0; i < CHUNKS; i++) {
		assert_int_equal(res.body[i * CHUNK], 'a' + (int)i % 26);
		assert_int_equal(res.body[i * CHUNK + CHUNK - 1],
				 'a' + (int)i % 26);
	}
	/* 1 MiB through a 256 KiB high-water mark: the queue drained. */
	assert_true(f->drains > 0);
	result_release(&res);
}

static void test_plain_http_to_the_tls_port_gets_400_and_a_close(void **state)
{
	struct fixture *f = *state;
	struct result res = { 0 };
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d",
		 sm_http_server_port(f->srv));
	request(f, url, "/hello", NULL, NULL, &res);
	run_until(f, &res.calls, 1);
	/* Answered in plain text, as Go's servers do, then closed. */
	assert_null(res.error);
	assert_int_equal(res.status, 400);
	assert_string_equal(
		res.body, "Client sent an HTTP request to an HTTPS server.\n");
	assert_int_equal(f->handled, 0);
	run_until_no_connections(f);
	assert_int_equal(sm_tls_server_failures(f->tls), 1);
	assert_int_equal(sm_tls_server_handshakes(f->tls), 0);

	/* The server still serves TLS. */
	request(f, f->url, "/hello", f->pki.ca_cert_path, NULL, &res);
	run_until(f, &res.calls, 2);
	assert_int_equal(res.status, 200);
	result_release(&res);
}

static void test_a_client_that_does_not_trust_the_ca_fails(void **state)
{
	struct fixture *f = *state;
	struct sm_err err = SM_ERR_INIT;
	struct result res = { 0 };
	struct pki other = PKI_INIT;
	char *dir = xasprintf("%s/other", f->dir);

	assert_int_equal(pki_ensure(dir, NULL, 0, &other, &err), 0);
	request(f, f->url, "/hello", other.ca_cert_path, f->pki.api_token,
		&res);
	run_until(f, &res.calls, 1);
	assert_non_null(res.error);
	assert_non_null(strstr(res.error, "certificate"));
	assert_int_equal(res.status, 0);
	assert_int_equal(f->handled, 0);
	/* The client's alert ends the handshake on the server's side too. */
	run_until_no_connections(f);
	assert_int_equal(sm_tls_server_failures(f->tls), 1);
	pki_release(&other);
	sm_err_release(&err);
	free(dir);
	result_release(&res);
}

/*
 * A hand-driven client: OpenSSL with memory BIOs over a non-blocking
 * socket, pumped together with the loop. With dribble, every byte of
 * ciphertext goes in its own send(), so the server sees partial records.
 */
struct tclient {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out;
	int fd;
	bool dribble;
	bool eof;
};

static void tclient_open(struct fixture *f, struct tclient *t,
			 const unsigned char *alpn, unsigned alpn_len)
{
	struct sockaddr_in sin = { 0 };

	t->ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(t->ctx);
	assert_int_equal(SSL_CTX_load_verify_locations(
				 t->ctx, f->pki.ca_cert_path, NULL),
			 1);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	t->ssl = SSL_new(t->ctx);
	assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl),
						       "127.0.0.1"),
			 1);
	assert_int_equal(SSL_set_alpn_protos(t->ssl, alpn, alpn_len), 0);
	t->in = BIO_new(BIO_s_mem());
	t->out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(t->in, -1);
	SSL_set_bio(t->ssl, t->in, t->out);
	SSL_set_connect_state(t->ssl);
	t->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(t->fd >= 0);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)sm_http_server_port(f->srv));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(t->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		assert_int_equal(errno, EINPROGRESS);
}

static void tclient_close(struct tclient *t)
{
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	close(t->fd);
}

/* Moves bytes both ways once and turns the loop. */
static void tclient_pump(struct fixture *f, struct tclient *t)
{
	char buf[4096];
	char *data;
	long n = BIO_get_mem_data(t->out, &data);
	long off = 0;
	ssize_t r;

	while (off < n) {
		struct pollfd p = { .fd = t->fd, .events = POLLOUT };
		size_t len = t->dribble ? 1 : (size_t)(n - off);

		uv_run(&f->loop, UV_RUN_NOWAIT);
		if (poll(&p, 1, 1) != 1)
			continue;
		r = send(t->fd, data + off, len, MSG_NOSIGNAL);
		if (r < 0 && (errno == EAGAIN || errno == ENOTCONN))
			continue;
		assert_true(r > 0);
		off += r;
	}
	(void)BIO_reset(t->out);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	r = recv(t->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (r > 0)
		BIO_write(t->in, buf, (int)r);
	else if (r == 0 || (errno != EAGAIN && errno != ENOTCONN))
		t->eof = true;
	else
		poll(NULL, 0, 1);
}

static void tclient_handshake(struct fixture *f, struct tclient *t)
{
	int i, ret = 0;

	/* SSL_get_error() before the pump: BIO calls reset its flags. */
	for (i = 0; i < 10000 && !t->eof; i++) {
		ret = SSL_do_handshake(t->ssl);
		if (ret != 1)
			assert_int_equal(SSL_get_error(t->ssl, ret),
					 SSL_ERROR_WANT_READ);
		tclient_pump(f, t);
		if (ret == 1)
			return;
	}
	fail_msg("no handshake: %d", ret);
}

/* Sends s, then reads until close_notify; returns whether one came. */
static bool tclient_exchange(struct fixture *f, struct tclient *t,
			     const char *s, struct sm_buf *out)
{
	char buf[4096];
	size_t n;
	int i;

	assert_int_equal(SSL_write(t->ssl, s, (int)strlen(s)), (int)strlen(s));
	for (i = 0; i < 10000 && !t->eof; i++) {
		while (SSL_read_ex(t->ssl, buf, sizeof(buf), &n))
			sm_buf_add(out, buf, n);
		if (SSL_get_error(t->ssl, 0) == SSL_ERROR_ZERO_RETURN)
			return true;
		tclient_pump(f, t);
	}
	return false;
}

static void test_alpn_picks_http11_and_partial_records_are_kept(void **state)
{
	struct fixture *f = *state;
	static const unsigned char offer[] = "\x02h2\x08http/1.1";
	struct tclient t = { 0 };
	struct sm_buf reply = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;
	char req[256];

	tclient_open(f, &t, offer, sizeof(offer) - 1);
	t.dribble = true;
	tclient_handshake(f, &t);
	SSL_get0_alpn_selected(t.ssl, &alpn, &alpn_len);
	assert_int_equal(alpn_len, 8);
	assert_memory_equal(alpn, "http/1.1", 8);
	snprintf(req, sizeof(req),
		 "GET /hello HTTP/1.1\r\nHost: x\r\n"
		 "Authorization: Bearer %s\r\nConnection: close\r\n\r\n",
		 f->pki.node_token);
	/* Closing the connection after the answer sends close_notify. */
	assert_true(tclient_exchange(f, &t, req, &reply));
	assert_non_null(strstr(sm_buf_cstr(&reply), "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(sm_buf_cstr(&reply), "\r\n\r\nhello node"));
	assert_int_equal(sm_tls_server_handshakes(f->tls), 1);
	sm_buf_release(&reply);
	tclient_close(&t);
	run_until_no_connections(f);
}

static void test_a_client_offering_only_h2_gets_no_alpn(void **state)
{
	struct fixture *f = *state;
	static const unsigned char offer[] = "\x02h2";
	struct tclient t = { 0 };
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;

	tclient_open(f, &t, offer, sizeof(offer) - 1);
	tclient_handshake(f, &t);
	SSL_get0_alpn_selected(t.ssl, &alpn, &alpn_len);
	assert_int_equal(alpn_len, 0);
	tclient_close(&t);
	run_until_no_connections(f);
}

static void test_a_name_the_cert_does_not_carry_fails(void **state)
{
	struct fixture *f = *state;
	static const unsigned char offer[] = "\x08http/1.1";
	struct tclient t = { 0 };
	int i, ret = 0;

	tclient_open(f, &t, offer, sizeof(offer) - 1);
	assert_int_equal(X509_VERIFY_PARAM_set1_host(SSL_get0_param(t.ssl),
						     "example.org", 0),
			 1);
	for (i = 0; i < 10000 && !t.eof; i++) {
		ret = SSL_do_handshake(t.ssl);
		if (ret != 1 &&
		    SSL_get_error(t.ssl, ret) != SSL_ERROR_WANT_READ)
			break;
		tclient_pump(f, &t);
	}
	assert_int_not_equal(ret, 1);
	assert_int_equal(SSL_get_verify_result(t.ssl),
			 X509_V_ERR_HOSTNAME_MISMATCH);
	ERR_clear_error();
	tclient_close(&t);
	run_until_no_connections(f);
	assert_int_equal(f->handled, 0);
}

static void test_a_reload_serves_the_renewed_cert(void **state)
{
	struct fixture *f = *state;
	static const unsigned char offer[] = "\x08http/1.1";
	static const char *const sans[] = { "renewed.example" };
	struct sm_err err = SM_ERR_INIT;
	struct tclient t = { 0 };
	struct result res = { 0 };

	/* A failed reload keeps the old certificate in use. */
	assert_int_equal(sm_tls_server_reload(f->tls, f->pki.cert_path,
					      f->pki.ca_key_path, &err),
			 -EINVAL);
	request(f, f->url, "/hello", f->pki.ca_cert_path, NULL, &res);
	run_until(f, &res.calls, 1);
	assert_int_equal(res.status, 200);
	result_release(&res);
	/* Its kept-alive connection would stay open. */
	sm_http_client_free(f->http);
	f->http = NULL;

	pki_release(&f->pki);
	assert_int_equal(pki_ensure(f->dir, sans, 1, &f->pki, &err), 0);
	assert_true(f->pki.cert_created);
	assert_int_equal(sm_tls_server_reload(f->tls, f->pki.cert_path,
					      f->pki.key_path, &err),
			 0);
	tclient_open(f, &t, offer, sizeof(offer) - 1);
	assert_int_equal(X509_VERIFY_PARAM_set1_host(SSL_get0_param(t.ssl),
						     "renewed.example", 0),
			 1);
	tclient_handshake(f, &t);
	assert_int_equal(SSL_get_verify_result(t.ssl), X509_V_OK);
	tclient_close(&t);
	run_until_no_connections(f);
	sm_err_release(&err);
}

static void test_a_key_of_another_cert_is_refused(void **state)
{
	struct fixture *f = *state;
	struct sm_err err = SM_ERR_INIT;
	struct sm_tls_server *t = NULL;
	struct sm_buf msg = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	assert_int_equal(sm_tls_server_new(f->pki.cert_path, f->pki.ca_key_path,
					   &t, &err),
			 -EINVAL);
	assert_null(t);
	assert_int_equal(sm_tls_server_new("/nonexistent/server.crt",
					   f->pki.key_path, &t, &err),
			 -EINVAL);
	assert_int_equal(sm_tls_server_new(f->pki.cert_path, f->pki.token_path,
					   &t, &err),
			 -EINVAL);
	assert_int_equal(sm_err_count(&err, SM_ERROR), 3);
	assert_int_equal(sm_diag_format(&err.items[1], &msg), 0);
	assert_string_equal(msg.buf, "tls: certificate "
				     "\"/nonexistent/server.crt\": No such "
				     "file or directory");
	sm_buf_release(&msg);
	sm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_a_get_over_tls_is_answered_with_the_token),
		T(test_a_token_with_a_line_break_is_refused),
		T(test_keep_alive_serves_two_requests_on_one_handshake),
		T(test_a_chunked_stream_arrives_whole_and_in_order),
		T(test_plain_http_to_the_tls_port_gets_400_and_a_close),
		T(test_a_client_that_does_not_trust_the_ca_fails),
		T(test_alpn_picks_http11_and_partial_records_are_kept),
		T(test_a_client_offering_only_h2_gets_no_alpn),
		T(test_a_name_the_cert_does_not_carry_fails),
		T(test_a_reload_serves_the_renewed_cert),
		T(test_a_key_of_another_cert_is_refused),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
