/*
 * pki.c: the CA, the serving certificate and the tokens, with OpenSSL 3.
 *
 * Subject alternative names are compared as sorted sets of canonical
 * strings, "IP:<address as inet_ntop writes it>" and "DNS:<lower case>",
 * so that the order or spelling of --advertise does not make a new
 * certificate.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/x509.h"
#include "common/xalloc.h"
#include "reconciler/pki.h"
#include "common/banned.h"

#define LOG "pki"
#define CA_DAYS (10 * 365)
#define CERT_DAYS 365
/* A serving certificate this close to its end is made again. */
#define RENEW_BEFORE_DAYS 30
#define TOKEN_BYTES 32
#define TOKEN_MAX 512
#define FILE_MAX (1u << 20)

struct sans {
	char **v; /* "IP:..." or "DNS:...", sorted, no duplicates */
	size_t n, alloc;
};

static void sans_release(struct sans *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->alloc = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sans_add(struct sans *s, char *owned)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (strcmp(s->v[i], owned) == 0) {
			free(owned);
			return;
		}
	}
	SM_ALLOC_GROW(s->v, s->n + 1, s->alloc);
	s->v[s->n++] = owned;
	qsort(s->v, s->n, sizeof(*s->v), cmp_str);
}

static bool sans_equal(const struct sans *a, const struct sans *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

static char *sans_join(const struct sans *s)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	size_t i;

	for (i = 0; i < s->n; i++)
		sm_buf_addf(&b, "%s%s", i ? ", " : "", s->v[i]);
	return sm_buf_detach(&b, NULL);
}

/* "IP:<canonical>" for an IPv4 or IPv6 address (brackets allowed). */
static char *ip_san(const char *s)
{
	unsigned char addr[16];
	char text[INET6_ADDRSTRLEN];
	char inner[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(s);

	if (inet_pton(AF_INET, s, addr) == 1 &&
	    inet_ntop(AF_INET, addr, text, sizeof(text)))
		return xasprintf("IP:%s", text);
	if (len > 2 && len < sizeof(inner) && s[0] == '[' &&
	    s[len - 1] == ']') {
		memcpy(inner, s + 1, len - 2);
		inner[len - 2] = '\0';
		s = inner;
	}
	if (inet_pton(AF_INET6, s, addr) == 1 &&
	    inet_ntop(AF_INET6, addr, text, sizeof(text)))
		return xasprintf("IP:%s", text);
	return NULL;
}

/* "DNS:<lower case>" for a host name, with an optional leading "*.". */
static char *dns_san(const char *s)
{
	const char *p = s;
	size_t label = 0, i;
	char *out;

	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	if (!*p || strlen(s) > 253)
		return NULL;
	for (; *p; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return NULL;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return NULL;
		if (*p == '-' && label == 0)
			return NULL;
		if (++label > 63)
			return NULL;
	}
	if (label == 0 || p[-1] == '-')
		return NULL;
	out = xasprintf("DNS:%s", s);
	for (i = 4; out[i]; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	return out;
}

static int wanted_sans(const char *const *extra, size_t n, struct sans *out,
		       struct sm_err *err)
{
	size_t i;

	sans_add(out, xstrdup("IP:127.0.0.1"));
	sans_add(out, xstrdup("DNS:localhost"));
	for (i = 0; i < n; i++) {
		char *san = ip_san(extra[i]);

		if (!san)
			san = dns_san(extra[i]);
		if (!san) {
			sans_release(out);
			return sm_error(err, NULL,
					"pki: \"%s\": not an IP address or a "
					"DNS name",
					extra[i]);
		}
		sans_add(out, san);
	}
	return 0;
}

/* The SANs of a certificate, as wanted_sans() spells them. */
static void cert_sans(X509 *x, struct sans *out)
{
	GENERAL_NAMES *gens =
		X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int i;

	for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char text[INET6_ADDRSTRLEN];
		char *s = NULL;

		if (g->type == GEN_IPADD) {
			const ASN1_OCTET_STRING *ip = g->d.iPAddress;
			int af = ip->length == 4    ? AF_INET
				 : ip->length == 16 ? AF_INET6
						    : 0;

			if (af && inet_ntop(af, ip->data, text, sizeof(text)))
				s = xasprintf("IP:%s", text);
		} else if (g->type == GEN_DNS) {
			const ASN1_IA5STRING *d = g->d.dNSName;
			int j;

			s = xasprintf("DNS:%.*s", d->length,
				      (const char *)d->data);
			for (j = 4; s[j]; j++)
				s[j] = (char)tolower((unsigned char)s[j]);
		}
		if (s)
			sans_add(out, s);
	}
	GENERAL_NAMES_free(gens);
}

/* Files. */

static int mkdir_p(const char *dir, struct sm_err *err)
{
	int ret = sm_mkdir_p(dir, 0700);

	if (ret)
		sm_error(err, NULL, "pki: creating \"%s\": %s", dir,
			 strerror(-ret));
	return ret;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/*
 * Writes path through a temporary file in the same directory, so that the
 * name always holds a whole file.
 */
static int write_atomic(const struct pki *p, const char *path, const void *data,
			size_t len, mode_t mode, struct sm_err *err)
{
	char *tmp = xasprintf("%s.tmp.XXXXXX", path);
	const char *c = data;
	size_t left = len;
	int fd, ret = 0;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto fail;
	}
	if (fchmod(fd, mode) < 0)
		ret = -errno;
	while (ret == 0 && left > 0) {
		ssize_t w = write(fd, c, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			ret = -errno;
			break;
		}
		c += w;
		left -= (size_t)w;
	}
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0) {
		unlink(tmp);
		goto fail;
	}
	free(tmp);
	sync_dir(p->dir);
	return 0;
fail:
	sm_error(err, NULL, "pki: writing \"%s\": %s", path, strerror(-ret));
	free(tmp);
	return ret;
}

/* Secrets readable by others are closed again, with a warning. */
static void tighten(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & 077)) {
		sm_log(SM_LOG_WARN, LOG,
		       "\"%s\" was readable by others (mode %04o); setting "
		       "it to 0600",
		       path, (unsigned)(st.st_mode & 07777));
		(void)chmod(path, 0600);
	}
}

/*
 * Reads a whole file; -ENOENT when it is not there. Other errors go into
 * err unless it is NULL.
 */
static int read_file(const char *path, struct sm_buf *out, struct sm_err *err)
{
	int ret;

	sm_buf_init(out, FILE_MAX);
	ret = sm_buf_read_file(out, path);
	if (ret < 0) {
		sm_buf_release(out);
		if (ret != -ENOENT && err)
			sm_error(err, NULL, "pki: reading \"%s\": %s", path,
				 strerror(-ret));
	}
	return ret;
}

/* OpenSSL objects. */

static X509 *cert_parse(const struct sm_buf *b)
{
	BIO *bio = BIO_new_mem_buf(b->buf, (int)b->len);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	ERR_clear_error();
	return x;
}

static EVP_PKEY *key_parse(const struct sm_buf *b)
{
	BIO *bio = BIO_new_mem_buf(b->buf, (int)b->len);
	EVP_PKEY *k =
		bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	ERR_clear_error();
	return k;
}

/* Loads path's certificate or key; -ENOENT, -EINVAL (no PEM in it). */
static int load_cert(const char *path, X509 **out, struct sm_err *err)
{
	struct sm_buf b;
	int ret = read_file(path, &b, err);

	if (ret < 0)
		return ret;
	*out = cert_parse(&b);
	sm_buf_release(&b);
	return *out ? 0 : -EINVAL;
}

static int load_key(const char *path, EVP_PKEY **out, struct sm_err *err)
{
	struct sm_buf b;
	int ret = read_file(path, &b, err);

	if (ret < 0)
		return ret;
	*out = key_parse(&b);
	sm_buf_release(&b);
	return *out ? 0 : -EINVAL;
}

static int key_write(const struct pki *p, const char *path, EVP_PKEY *k,
		     struct sm_err *err)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int ret;

	if (sm_x509_key_pem(k, &b)) {
		sm_buf_release(&b);
		return sm_error(err, NULL, "pki: encoding \"%s\" failed", path);
	}
	ret = write_atomic(p, path, b.buf, b.len, 0600, err);
	sm_buf_release(&b);
	return ret;
}

/* Writes the certificate; *pem (if set) gets a copy of the text. */
static int cert_write(const struct pki *p, const char *path, X509 *x,
		      char **pem, struct sm_err *err)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int ret;

	if (sm_x509_cert_pem(x, &b)) {
		sm_buf_release(&b);
		return sm_error(err, NULL, "pki: encoding \"%s\" failed", path);
	}
	ret = write_atomic(p, path, b.buf, b.len, 0644, err);
	if (ret == 0 && pem)
		*pem = xstrndup(b.buf, b.len);
	sm_buf_release(&b);
	return ret;
}

/* The CA. */

static int ca_make(struct pki *p, X509 **ca, EVP_PKEY **ca_key,
		   struct sm_err *err)
{
	char cn[64];
	int ret;

	snprintf(cn, sizeof(cn), "stuurman-ca@%lld", (long long)time(NULL));
	*ca_key = sm_x509_key_new();
	*ca = *ca_key ? sm_x509_cert_make(cn, *ca_key, NULL, NULL, CA_DAYS,
					  NULL, 0)
		      : NULL;
	ERR_clear_error();
	if (!*ca)
		return sm_error(err, NULL, "pki: making a CA failed");
	/* The key first: a ca.crt on disk always has its key beside it. */
	ret = key_write(p, p->ca_key_path, *ca_key, err);
	if (ret == 0)
		ret = cert_write(p, p->ca_cert_path, *ca, &p->ca_pem, err);
	if (ret == 0) {
		p->ca_created = true;
		sm_log(SM_LOG_INFO, LOG, "made a new CA \"%s\" in \"%s\"", cn,
		       p->dir);
	}
	return ret;
}

static int ca_load(struct pki *p, X509 **ca, EVP_PKEY **ca_key,
		   struct sm_err *err)
{
	struct sm_buf b;
	int ret = read_file(p->ca_cert_path, &b, err);

	if (ret == -ENOENT)
		return ca_make(p, ca, ca_key, err);
	if (ret < 0)
		return ret;
	*ca = cert_parse(&b);
	p->ca_pem = sm_buf_detach(&b, NULL);
	if (!*ca)
		return sm_error(err, NULL,
				"pki: \"%s\" holds no PEM certificate",
				p->ca_cert_path);
	ret = load_key(p->ca_key_path, ca_key, err);
	if (ret == -ENOENT || ret == -EINVAL ||
	    (ret == 0 && X509_check_private_key(*ca, *ca_key) != 1)) {
		ERR_clear_error();
		return sm_error(err, NULL,
				"pki: \"%s\" %s \"%s\": restore it, or "
				"remove both to make a new CA (every "
				"kubeconfig and joined agent then needs the "
				"new ca.crt)",
				p->ca_key_path,
				ret == -ENOENT ? "is missing, the key of"
					       : "is not the key of",
				p->ca_cert_path);
	}
	if (ret < 0)
		return ret;
	tighten(p->ca_key_path);
	if (X509_cmp_time(X509_get0_notAfter(*ca), NULL) < 0)
		sm_log(SM_LOG_WARN, LOG,
		       "the CA \"%s\" has expired: clients will refuse the "
		       "server; remove ca.crt and ca.key to make a new one",
		       p->ca_cert_path);
	return 0;
}

/* The serving certificate. */

/* Why the serving certificate must be made again, or NULL. */
static const char *cert_stale(struct pki *p, X509 *ca, EVP_PKEY *ca_key,
			      const struct sans *want, struct sm_err *err)
{
	time_t soon = time(NULL) + (time_t)RENEW_BEFORE_DAYS * 86400;
	struct sans have = { 0 };
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	const char *why = NULL;

	/* Unreadable files are made again, not reported. */
	if (load_cert(p->cert_path, &x, NULL) < 0)
		why = "no certificate";
	else if (load_key(p->key_path, &key, NULL) < 0)
		why = "no key";
	else if (X509_check_private_key(x, key) != 1)
		why = "the key does not match";
	else if (X509_check_issued(ca, x) != X509_V_OK ||
		 X509_verify(x, ca_key) != 1)
		why = "not signed by this CA";
	else if (X509_cmp_time(X509_get0_notAfter(x), &soon) < 0)
		why = "expires within 30 days";
	if (!why) {
		cert_sans(x, &have);
		if (!sans_equal(&have, want))
			why = "other names";
	}
	sans_release(&have);
	EVP_PKEY_free(key);
	X509_free(x);
	ERR_clear_error();
	return why;
}

static int cert_ensure(struct pki *p, X509 *ca, EVP_PKEY *ca_key,
		       const struct sans *want, struct sm_err *err)
{
	const char *why = cert_stale(p, ca, ca_key, want, err);
	EVP_PKEY *key;
	X509 *x;
	char *names;
	int ret;

	if (!why) {
		tighten(p->key_path);
		return 0;
	}
	key = sm_x509_key_new();
	x = key ? sm_x509_cert_make("stuurman", key, ca, ca_key, CERT_DAYS,
				    (const char *const *)want->v, want->n)
		: NULL;
	ERR_clear_error();
	if (!x) {
		EVP_PKEY_free(key);
		return sm_error(err, NULL,
				"pki: making a serving certificate failed");
	}
	ret = key_write(p, p->key_path, key, err);
	if (ret == 0)
		ret = cert_write(p, p->cert_path, x, NULL, err);
	EVP_PKEY_free(key);
	X509_free(x);
	if (ret < 0)
		return ret;
	p->cert_created = true;
	names = sans_join(want);
	sm_log(SM_LOG_INFO, LOG, "made a serving certificate for %s (%s)",
	       names, why);
	free(names);
	return 0;
}

/* Tokens. */

static bool token_valid(const char *t, size_t len)
{
	size_t i;

	if (len == 0 || len > TOKEN_MAX)
		return false;
	/* No quotes or backslashes either: the token goes into YAML. */
	for (i = 0; i < len; i++)
		if (t[i] <= ' ' || t[i] > '~' || t[i] == '"' || t[i] == '\\')
			return false;
	return true;
}

static int token_ensure(struct pki *p, const char *path, char **out,
			struct sm_err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[TOKEN_BYTES];
	char text[2 * TOKEN_BYTES + 2];
	struct sm_buf b;
	size_t i;
	int ret = read_file(path, &b, err);

	if (ret == 0) {
		/* A final newline (or other blank) is not part of it. */
		while (b.len > 0 && isspace((unsigned char)b.buf[b.len - 1]))
			b.len--;
		if (!token_valid(b.buf, b.len)) {
			sm_buf_release(&b);
			return sm_error(err, NULL,
					"pki: \"%s\" holds no token (expected "
					"one line of visible characters, no "
					"quotes)",
					path);
		}
		*out = xstrndup(b.buf, b.len);
		sm_buf_release(&b);
		tighten(path);
		return 0;
	}
	if (ret != -ENOENT)
		return ret;
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		ERR_clear_error();
		return sm_error(err, NULL, "pki: no random bytes for \"%s\"",
				path);
	}
	for (i = 0; i < TOKEN_BYTES; i++) {
		text[2 * i] = hex[raw[i] >> 4];
		text[2 * i + 1] = hex[raw[i] & 15];
	}
	text[2 * TOKEN_BYTES] = '\n';
	text[2 * TOKEN_BYTES + 1] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	ret = write_atomic(p, path, text, 2 * TOKEN_BYTES + 1, 0600, err);
	if (ret == 0)
		*out = xstrndup(text, 2 * TOKEN_BYTES);
	OPENSSL_cleanse(text, sizeof(text));
	return ret;
}

/* The whole. */

void pki_release(struct pki *p)
{
	free(p->dir);
	free(p->ca_cert_path);
	free(p->ca_key_path);
	free(p->cert_path);
	free(p->key_path);
	free(p->token_path);
	free(p->node_token_path);
	free(p->ca_pem);
	if (p->api_token) {
		OPENSSL_cleanse(p->api_token, strlen(p->api_token));
		free(p->api_token);
	}
	if (p->node_token) {
		OPENSSL_cleanse(p->node_token, strlen(p->node_token));
		free(p->node_token);
	}
	memset(p, 0, sizeof(*p));
}

int pki_ensure(const char *dir, const char *const *extra_sans, size_t n,
	       struct pki *out, struct sm_err *err)
{
	struct pki p = PKI_INIT;
	struct sans want = { 0 };
	EVP_PKEY *ca_key = NULL;
	X509 *ca = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!dir || !*dir)
		return sm_error(err, NULL, "pki: no data directory");
	ret = wanted_sans(extra_sans, n, &want, err);
	if (ret < 0)
		return ret;
	p.dir = xstrdup(dir);
	p.ca_cert_path = xasprintf("%s/ca.crt", dir);
	p.ca_key_path = xasprintf("%s/ca.key", dir);
	p.cert_path = xasprintf("%s/server.crt", dir);
	p.key_path = xasprintf("%s/server.key", dir);
	p.token_path = xasprintf("%s/token", dir);
	p.node_token_path = xasprintf("%s/node-token", dir);
	ret = mkdir_p(dir, err);
	if (ret == 0)
		ret = ca_load(&p, &ca, &ca_key, err);
	if (ret == 0)
		ret = cert_ensure(&p, ca, ca_key, &want, err);
	if (ret == 0)
		ret = token_ensure(&p, p.token_path, &p.api_token, err);
	if (ret == 0)
		ret = token_ensure(&p, p.node_token_path, &p.node_token, err);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	sans_release(&want);
	ERR_clear_error();
	if (ret < 0) {
		pki_release(&p);
		return ret;
	}
	*out = p;
	return 0;
}

/* Bearer tokens. */

static bool token_is(const char *given, size_t len, const char *token)
{
	size_t tlen = token ? strlen(token) : 0;

	/* Lengths are not secret: every token we make has 64 characters. */
	return tlen > 0 && tlen == len && CRYPTO_memcmp(given, token, len) == 0;
}

enum pki_token_kind pki_check_bearer(const struct pki *p, const char *header)
{
	const char *t;
	size_t len;
	bool api, node;

	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return PKI_TOKEN_NONE;
	t = header + 7;
	while (*t == ' ')
		t++;
	len = strlen(t);
	while (len > 0 && t[len - 1] == ' ')
		len--;
	if (len == 0)
		return PKI_TOKEN_NONE;
	/* Both are compared, whatever the first gave. */
	api = token_is(t, len, p->api_token);
	node = token_is(t, len, p->node_token);
	if (api)
		return PKI_TOKEN_API;
	return node ? PKI_TOKEN_NODE : PKI_TOKEN_NONE;
}

/* kubeconfig. */

static bool yaml_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '"' ||
		    *s == '\\')
			return false;
	return true;
}

int pki_kubeconfig(const struct pki *p, const char *server_url,
		   const char *name, struct sm_buf *out, struct sm_err *err)
{
	struct sm_buf ca = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int ret;

	if (!yaml_safe(server_url) || !*server_url)
		return sm_error(err, NULL,
				"kubeconfig: server \"%s\": quotes, "
				"backslashes and control characters are not "
				"allowed",
				server_url);
	if (!yaml_safe(name) || !*name)
		return sm_error(err, NULL,
				"kubeconfig: name \"%s\": quotes, backslashes "
				"and control characters are not allowed",
				name);
	sm_base64_encode(p->ca_pem, strlen(p->ca_pem), &ca);
	ret = sm_buf_addf(out,
			  "apiVersion: v1\n"
			  "kind: Config\n"
			  "clusters:\n"
			  "- name: \"%s\"\n"
			  "  cluster:\n"
			  "    server: \"%s\"\n"
			  "    certificate-authority-data: %s\n"
			  "users:\n"
			  "- name: \"%s\"\n"
			  "  user:\n"
			  "    token: \"%s\"\n"
			  "contexts:\n"
			  "- name: \"%s\"\n"
			  "  context:\n"
			  "    cluster: \"%s\"\n"
			  "    user: \"%s\"\n"
			  "    namespace: default\n"
			  "current-context: \"%s\"\n",
			  name, server_url, sm_buf_cstr(&ca), name,
			  p->api_token, name, name, name, name);
	sm_buf_release(&ca);
	return ret;
}
