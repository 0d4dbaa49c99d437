/*
 * tls.c: OpenSSL behind http_server's transport seam, with memory BIOs.
 *
 * Per connection: an SSL object in server (accept) state whose read BIO
 * gets the socket's bytes and whose write BIO collects what must go on the
 * wire. After every call into OpenSSL the write BIO is emptied onto the
 * socket (flush_out()), since any call may produce records: the handshake,
 * alerts, TLS 1.3 session tickets and key updates, application data.
 *
 * OpenSSL keeps errors in a per-thread queue; it is cleared before every
 * call, so that SSL_get_error() and the logged reason speak of that call.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/xalloc.h"
#include "common/banned.h"

#define LOG "tls"
/* Plain text the server may write before the handshake has finished. */
#define EARLY_MAX (1u << 20)
/* Most TLS 1.2 sessions kept for resumption by session id. */
#define SESSION_CACHE 1024

/*
 * TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 has only such
 * suites, OpenSSL's defaults). Both ECDSA and RSA keys are served.
 */
static const char ciphers12[] = "ECDHE-ECDSA-AES128-GCM-SHA256:"
				"ECDHE-RSA-AES128-GCM-SHA256:"
				"ECDHE-ECDSA-AES256-GCM-SHA384:"
				"ECDHE-RSA-AES256-GCM-SHA384:"
				"ECDHE-ECDSA-CHACHA20-POLY1305:"
				"ECDHE-RSA-CHACHA20-POLY1305";

/* What a plain HTTP request to the TLS port gets. */
static const char http_answer[] =
	"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n"
	"Connection: close\r\n\r\n"
	"Client sent an HTTP request to an HTTPS server.\n";

struct sm_tls_server {
	SSL_CTX *ctx;
	uint64_t handshakes;
	uint64_t failures;
};

struct tls_conn {
	struct sm_tls_server *srv;
	SSL *ssl;
	BIO *in, *out; /* owned by ssl */
	struct sm_buf early; /* plain text queued before the handshake */
	bool ready; /* the handshake has finished */
	bool failed;
	bool peer_closed; /* close_notify received: later input is dropped */
	char peer[64]; /* for the log: the socket may be gone by then */
};

/* OpenSSL's reason for the oldest error in the queue, for messages. */
static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_error();
	const char *r;

	/* A failed fopen() and the like: errno is the reason. */
	if (e && ERR_SYSTEM_ERROR(e))
		return strerror(ERR_GET_REASON(e));
	r = e ? ERR_reason_error_string(e) : NULL;
	return r ? r : "unknown error";
}

/* Puts what OpenSSL wrote onto the socket. */
static int flush_out(struct tls_conn *t, struct sm_http_conn *c)
{
	char *data = NULL;
	long n = BIO_get_mem_data(t->out, &data);
	int ret;

	if (n <= 0)
		return 0;
	ret = sm_http_conn_send_raw(c, data, (size_t)n);
	(void)BIO_reset(t->out);
	return ret;
}

/*
 * A TLS error ends the connection: one log line, the alert OpenSSL made
 * (if any) is sent as a courtesy, and the server closes the connection
 * when we return the error.
 */
static int tls_fail(struct tls_conn *t, struct sm_http_conn *c,
		    const char *what)
{
	t->failed = true;
	t->srv->failures++;
	sm_log(SM_LOG_INFO, LOG, "%s with %s failed: %s", what, t->peer,
	       ssl_reason());
	ERR_clear_error();
	(void)flush_out(t, c);
	return -EPROTO;
}

static int tls_write(struct tls_conn *t, struct sm_http_conn *c,
		     const char *data, size_t len)
{
	size_t done = 0;

	ERR_clear_error();
	if (!SSL_write_ex(t->ssl, data, len, &done) || done != len)
		return tls_fail(t, c, "writing");
	return flush_out(t, c);
}

/* Runs the handshake on; 0 also while it waits for more input. */
static int tls_handshake(struct tls_conn *t, struct sm_http_conn *c)
{
	int ret;

	ERR_clear_error();
	ret = SSL_do_handshake(t->ssl);
	if (ret != 1) {
		unsigned long e = ERR_peek_error();

		if (SSL_get_error(t->ssl, ret) == SSL_ERROR_WANT_READ)
			return flush_out(t, c);
		ret = tls_fail(t, c, "handshake");
		/*
		 * Tell someone who typed http:// for https:// what went
		 * wrong, as Go's servers do. The server closes the socket
		 * right after, but libuv has written it by then.
		 */
		if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
		    ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST)
			(void)sm_http_conn_send_raw(c, http_answer,
						    sizeof(http_answer) - 1);
		return ret;
	}
	t->ready = true;
	t->srv->handshakes++;
	ret = flush_out(t, c);
	if (ret == 0 && t->early.len > 0)
		ret = tls_write(t, c, t->early.buf, t->early.len);
	sm_buf_release(&t->early);
	return ret;
}

static int tls_open(void *tctx, struct sm_http_conn *c, void **state)
{
	struct sm_tls_server *srv = tctx;
	struct tls_conn *t = xcalloc(1, sizeof(*t));

	t->srv = srv;
	sm_http_conn_peer(c, t->peer, sizeof(t->peer));
	sm_buf_init(&t->early, EARLY_MAX);
	t->ssl = SSL_new(srv->ctx);
	t->in = BIO_new(BIO_s_mem());
	t->out = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->in || !t->out) {
		SSL_free(t->ssl);
		BIO_free(t->in);
		BIO_free(t->out);
		free(t);
		ERR_clear_error();
		return -ENOMEM;
	}
	/* An empty read BIO means "wait for more", not end of file. */
	BIO_set_mem_eof_return(t->in, -1);
	SSL_set_bio(t->ssl, t->in, t->out);
	SSL_set_accept_state(t->ssl);
	*state = t;
	return 0;
}

static int tls_recv(void *state, struct sm_http_conn *c, const char *data,
		    size_t len)
{
	struct tls_conn *t = state;
	char plain[16 << 10];
	size_t n;
	int ret;

	if (t->failed)
		return -EPROTO;
	if (t->peer_closed)
		return 0;
	/* The server reads at most 64 KiB at a time; a memory BIO grows. */
	if (len > INT_MAX || BIO_write(t->in, data, (int)len) != (int)len)
		return tls_fail(t, c, "buffering input");
	if (!t->ready) {
		ret = tls_handshake(t, c);
		if (ret < 0 || !t->ready)
			return ret;
	}
	for (;;) {
		ERR_clear_error();
		if (SSL_read_ex(t->ssl, plain, sizeof(plain), &n)) {
			ret = sm_http_conn_deliver(c, plain, n);
			if (ret < 0)
				return ret;
			continue;
		}
		ret = SSL_get_error(t->ssl, 0);
		if (ret == SSL_ERROR_WANT_READ)
			break;
		if (ret == SSL_ERROR_ZERO_RETURN) {
			/* The client is done writing; the socket's EOF ends it.
			 */
			t->peer_closed = true;
			break;
		}
		return tls_fail(t, c, "reading");
	}
	/* Reads may answer too (key updates, alerts). */
	return flush_out(t, c);
}

static int tls_send(void *state, struct sm_http_conn *c, const char *data,
		    size_t len)
{
	struct tls_conn *t = state;

	if (t->failed)
		return -EPROTO;
	if (len == 0)
		return 0;
	if (!t->ready)
		return sm_buf_add(&t->early, data, len) < 0 ? -ENOBUFS : 0;
	return tls_write(t, c, data, len);
}

static int tls_shutdown(void *state, struct sm_http_conn *c)
{
	struct tls_conn *t = state;

	if (t->failed || !t->ready)
		return 0;
	ERR_clear_error();
	/* 0 (sent, the peer's not seen yet) and 1 are both fine here. */
	if (SSL_shutdown(t->ssl) < 0) {
		ERR_clear_error();
		return 0;
	}
	return flush_out(t, c);
}

static void tls_close(void *state)
{
	struct tls_conn *t = state;

	if (!t)
		return;
	SSL_free(t->ssl);
	sm_buf_release(&t->early);
	free(t);
}

const struct sm_http_transport_ops sm_tls_transport = {
	.name = "tls",
	.open = tls_open,
	.recv = tls_recv,
	.send = tls_send,
	.close = tls_close,
	.shutdown = tls_shutdown,
};

/* ALPN: HTTP/1.1 when offered (kubectl offers "h2" first), else nothing. */
static int alpn_select(SSL *ssl, const unsigned char **out,
		       unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	static const char http11[] = "http/1.1";
	unsigned int i = 0;

	while (i < inlen) {
		unsigned int n = in[i];

		if (n == 0 || n > inlen - i - 1)
			break;
		if (n == sizeof(http11) - 1 &&
		    memcmp(in + i + 1, http11, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

void sm_tls_server_free(struct sm_tls_server *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

/* A server context with our policy and the given certificate and key. */
static int ctx_new(const char *cert_file, const char *key_file, SSL_CTX **out,
		   struct sm_err *err)
{
	SSL_CTX *ctx;
	int ret = -EINVAL;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		sm_error(err, NULL, "tls: creating a server context: %s",
			 ssl_reason());
		goto out;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, ciphers12) != 1) {
		sm_error(err, NULL, "tls: setting the protocol policy: %s",
			 ssl_reason());
		goto out;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE |
					 SSL_OP_NO_COMPRESSION);
	/* Idle connections (watches) should not keep 34 KiB of buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_sess_set_cache_size(ctx, SESSION_CACHE);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		sm_error(err, NULL, "tls: certificate \"%s\": %s", cert_file,
			 ssl_reason());
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		sm_error(err, NULL, "tls: private key \"%s\": %s", key_file,
			 ssl_reason());
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		sm_error(err, NULL,
			 "tls: private key \"%s\" does not belong to "
			 "certificate \"%s\"",
			 key_file, cert_file);
		goto out;
	}
	ret = 0;
	*out = ctx;
	ctx = NULL;
out:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return ret;
}

int sm_tls_server_new(const char *cert_file, const char *key_file,
		      struct sm_tls_server **out, struct sm_err *err)
{
	SSL_CTX *ctx;
	int ret = ctx_new(cert_file, key_file, &ctx, err);

	if (ret < 0)
		return ret;
	*out = xcalloc(1, sizeof(**out));
	(*out)->ctx = ctx;
	return 0;
}

int sm_tls_server_reload(struct sm_tls_server *t, const char *cert_file,
			 const char *key_file, struct sm_err *err)
{
	SSL_CTX *ctx;
	int ret = ctx_new(cert_file, key_file, &ctx, err);

	if (ret < 0)
		return ret;
	/* Open connections hold references to the old context. */
	SSL_CTX_free(t->ctx);
	t->ctx = ctx;
	return 0;
}

uint64_t sm_tls_server_handshakes(const struct sm_tls_server *t)
{
	return t->handshakes;
}

uint64_t sm_tls_server_failures(const struct sm_tls_server *t)
{
	return t->failures;
}
