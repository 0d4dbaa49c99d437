/*
 * tls.h: TLS for common/http_server.h, with OpenSSL.
 *
 * A struct sm_tls_server holds the OpenSSL server context made from a
 * certificate chain and a private key (PEM files). Its transport,
 * sm_tls_transport, plugs into the server's transport seam: every
 * connection gets its own SSL object with two memory BIOs, since libuv
 * owns the socket. Ciphertext read from the socket goes into one BIO, the
 * plain text OpenSSL makes of it goes to the HTTP parser; plain text from
 * the server goes through SSL_write and what OpenSSL puts into the other
 * BIO goes onto the socket.
 *
 * Policy: TLS 1.2 and 1.3 only; for 1.2 only ECDHE with AES-GCM or
 * ChaCha20-Poly1305; no renegotiation, no compression. ALPN: "http/1.1"
 * is selected when the client offers it (Go clients such as kubectl offer
 * "h2" first); a client that offers only other protocols gets no ALPN
 * answer and may carry on or give up. Client certificates are not asked
 * for: the API server authenticates with bearer tokens.
 *
 * Invariants:
 * - A failed handshake, or any TLS error later, closes the connection
 *   with one log line (info level, "tls" component) naming the peer and
 *   OpenSSL's reason; never a crash. A plain HTTP request to a TLS port is
 *   such a failure; it also gets a plain "400 Bad Request" saying so
 *   (as Go's servers answer), then the connection closes.
 * - Partial records are kept until the rest arrives; several records in
 *   one read are all handed on.
 * - Plain text the server writes before the handshake has finished is
 *   queued (up to 1 MiB, then -ENOBUFS) and encrypted once it has. The
 *   server's write queue and backpressure count the encrypted bytes
 *   handed to the socket, not this queue.
 * - A connection the server ends cleanly sends close_notify first.
 *
 * Ownership: the server context is the caller's; it must outlive every
 * sm_http_server that uses it (pass it as the options' tctx, with
 * .transport = &sm_tls_transport). OpenSSL reference-counts the context,
 * so connections that are still closing when it is freed stay valid.
 */
#ifndef SM_TLS_H
#define SM_TLS_H

#include <stdint.h>

#include "common/compat.h"
#include "common/http_server.h"

struct sm_err;
struct sm_tls_server;

/* The transport; its tctx is a struct sm_tls_server. */
extern const struct sm_http_transport_ops sm_tls_transport;

/* Frees the context; NULL is ignored. */
void sm_tls_server_free(struct sm_tls_server *t);

/*
 * Reads cert_file (the server certificate, then any intermediates, PEM)
 * and key_file (its private key, PEM) and checks that they belong
 * together. Returns 0 and sets *out (free with sm_tls_server_free()), or
 * -EINVAL with a message naming the file and OpenSSL's reason in err.
 */
int sm_tls_server_new(const char *cert_file, const char *key_file,
		      struct sm_tls_server **out, struct sm_err *err);

/*
 * Swaps in another certificate and key (after pki renewed them), read as
 * sm_tls_server_new() does; new connections get them, open ones keep the
 * old. On failure (same errors) the old ones stay in use.
 */
int sm_tls_server_reload(struct sm_tls_server *t, const char *cert_file,
			 const char *key_file, struct sm_err *err);

/* Handshakes that completed, and connections closed for a TLS error. */
uint64_t sm_tls_server_handshakes(const struct sm_tls_server *t);
uint64_t sm_tls_server_failures(const struct sm_tls_server *t);

#endif
