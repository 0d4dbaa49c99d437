/*
 * kubeclient.c: kubeconfig reading and API requests for the client
 * commands (see kubeclient.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/kubeclient.h"
#include "common/base64.h"
#include "common/buf.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "manifests/parse.h"
#include "common/banned.h"

/* A kubeconfig is small; a token file too. */
#define KUBECONFIG_MAX (1u << 20)
#define TOKEN_MAX 4096
#define DEFAULT_TIMEOUT_MS 30000

struct kubecli {
	uv_loop_t *loop;
	struct sm_http_client *http;
	char *server, *token;
	char *ca_file; /* the CA file requests use */
	char *ca_temp; /* a temporary file of ours to unlink, or NULL */
};

struct kubecli_req {
	kubecli_cb cb;
	void *ctx;
};

void kubeconfig_release(struct kubeconfig *kc)
{
	free(kc->server);
	free(kc->ca_file);
	free(kc->ca_pem);
	free(kc->token);
	free(kc->namespace);
	memset(kc, 0, sizeof(*kc));
}

/* The member of array list whose "name" is name, or NULL. */
static json_t *named(const json_t *root, const char *list, const char *name)
{
	json_t *arr = json_object_get(root, list), *v;
	size_t i;

	json_array_foreach (arr, i, v) {
		const char *n = sm_json_get_str(v, "name");

		if (n && !strcmp(n, name))
			return v;
	}
	return NULL;
}

/* path resolved against the folder of the kubeconfig at base (new). */
static char *relative_to(const char *base, const char *path)
{
	const char *slash = strrchr(base, '/');

	if (path[0] == '/' || !slash)
		return xstrdup(path);
	return xasprintf("%.*s/%s", (int)(slash - base), base, path);
}

static char *read_token_file(const char *path, struct sm_err *err)
{
	struct sm_buf b = SM_BUF_INIT(TOKEN_MAX);
	char *s;
	size_t n;
	int r = sm_buf_read_file(&b, path);

	if (r) {
		sm_error(err, NULL, "token file \"%s\": %s", path,
			 strerror(-r));
		sm_buf_release(&b);
		return NULL;
	}
	s = sm_buf_detach(&b, &n);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

static int parse_root(const char *path, const json_t *root,
		      struct kubeconfig *kc, struct sm_err *err)
{
	const char *cur = sm_json_get_str(root, "current-context");
	const char *cname, *uname, *s;
	json_t *ctx, *cluster, *user;

	if (!json_is_object(root))
		return sm_error(err, NULL, "%s: not a kubeconfig", path);
	if (!cur || !*cur)
		return sm_error(err, NULL, "%s: no current-context", path);
	ctx = json_object_get(named(root, "contexts", cur), "context");
	if (!ctx)
		return sm_error(err, NULL, "%s: context \"%s\" not found", path,
				cur);
	cname = sm_json_get_str(ctx, "cluster");
	uname = sm_json_get_str(ctx, "user");
	cluster = json_object_get(named(root, "clusters", cname ? cname : ""),
				  "cluster");
	if (!cluster)
		return sm_error(err, NULL, "%s: cluster \"%s\" not found", path,
				cname ? cname : "");
	user = json_object_get(named(root, "users", uname ? uname : ""),
			       "user");
	if (!user)
		return sm_error(err, NULL, "%s: user \"%s\" not found", path,
				uname ? uname : "");
	s = sm_json_get_str(cluster, "server");
	if (!s || strncmp(s, "https://", 8))
		return sm_error(err, NULL,
				"%s: cluster \"%s\": server must be an "
				"https:// URL",
				path, cname);
	kc->server = xstrdup(s);
	for (size_t n = strlen(kc->server); n > 8 && kc->server[n - 1] == '/';
	     n--)
		kc->server[n - 1] = '\0';
	if ((s = sm_json_get_str(cluster, "certificate-authority-data"))) {
		struct sm_buf pem = SM_BUF_INIT(KUBECONFIG_MAX);

		if (sm_base64_decode(s, strlen(s), &pem)) {
			sm_buf_release(&pem);
			return sm_error(err, NULL,
					"%s: cluster \"%s\": "
					"certificate-authority-data is not "
					"base64",
					path, cname);
		}
		kc->ca_pem = sm_buf_detach(&pem, NULL);
	} else if ((s = sm_json_get_str(cluster, "certificate-authority"))) {
		kc->ca_file = relative_to(path, s);
	}
	if ((s = sm_json_get_str(user, "token")) && *s) {
		kc->token = xstrdup(s);
	} else if ((s = sm_json_get_str(user, "tokenFile"))) {
		char *f = relative_to(path, s);

		kc->token = read_token_file(f, err);
		free(f);
		if (!kc->token)
			return -EINVAL;
	} else {
		return sm_error(err, NULL,
				"%s: user \"%s\": only bearer tokens (token, "
				"tokenFile) are supported",
				path, uname);
	}
	s = sm_json_get_str(ctx, "namespace");
	kc->namespace = xstrdup(s && *s ? s : "default");
	return 0;
}

int kubeconfig_parse(const char *path, const char *data, size_t len,
		     struct kubeconfig *kc, struct sm_err *err)
{
	struct mf_parse_opts po = MF_PARSE_OPTS_INIT;
	struct mf_file f = MF_FILE_INIT;
	int r;

	po.no_positions = true;
	po.max_bytes = KUBECONFIG_MAX;
	r = mf_parse_buffer(&f, path, data, len, &po, err);
	if (!r && f.nr_docs != 1)
		r = sm_error(err, NULL, "%s: expected one YAML document", path);
	if (!r && parse_root(path, f.docs[0].root, kc, err) < 0)
		r = -EINVAL;
	if (r) {
		kubeconfig_release(kc);
		r = -EINVAL;
	}
	mf_file_release(&f);
	return r;
}

int kubeconfig_load(const char *path, struct kubeconfig *kc, struct sm_err *err)
{
	struct sm_buf b = SM_BUF_INIT(KUBECONFIG_MAX);
	int r = sm_buf_read_file(&b, path);

	if (r)
		sm_error(err, NULL, "kubeconfig \"%s\": %s", path,
			 strerror(-r));
	else
		r = kubeconfig_parse(path, sm_buf_cstr(&b), b.len, kc, err);
	sm_buf_release(&b);
	return r;
}

char *kubeconfig_path(const char *explicit, const char *data_dir,
		      const char *default_data)
{
	const char *env = getenv("KUBECONFIG");

	if (explicit)
		return xstrdup(explicit);
	if (data_dir)
		return xasprintf("%s/kubeconfig", data_dir);
	if (env && *env) {
		const char *colon = strchr(env, ':');

		return colon ? xstrndup(env, (size_t)(colon - env))
			     : xstrdup(env);
	}
	if (default_data)
		return xasprintf("%s/kubeconfig", default_data);
	return NULL;
}

static void client_release(struct kubecli *c)
{
	sm_http_client_free(c->http);
	if (c->ca_temp)
		unlink(c->ca_temp);
	free(c->ca_temp);
	free(c->ca_file);
	free(c->server);
	free(c->token);
}

void kubecli_free(struct kubecli *c)
{
	if (!c)
		return;
	client_release(c);
	free(c);
}

/* Writes pem to a new 0600 file under $TMPDIR; returns its path (new). */
static char *write_temp_ca(const char *pem, struct sm_err *err)
{
	const char *tmp = getenv("TMPDIR");
	char *path =
		xasprintf("%s/stuurman-ca-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	size_t len = strlen(pem), off = 0;
	int fd = mkstemp(path);

	if (fd < 0) {
		sm_error(err, NULL,
			 "cannot write the cluster's CA to \"%s\": %s", path,
			 strerror(errno));
		free(path);
		return NULL;
	}
	while (off < len) {
		ssize_t n = write(fd, pem + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sm_error(err, NULL, "cannot write \"%s\": %s", path,
				 strerror(errno));
			close(fd);
			unlink(path);
			free(path);
			return NULL;
		}
		off += (size_t)n;
	}
	close(fd);
	return path;
}

struct kubecli *kubecli_new(uv_loop_t *loop, const struct kubeconfig *kc,
			    struct sm_err *err)
{
	struct kubecli *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->server = xstrdup(kc->server);
	c->token = kc->token ? xstrdup(kc->token) : NULL;
	if (kc->ca_pem) {
		c->ca_temp = write_temp_ca(kc->ca_pem, err);
		if (!c->ca_temp)
			goto fail;
		c->ca_file = xstrdup(c->ca_temp);
	} else if (kc->ca_file) {
		c->ca_file = xstrdup(kc->ca_file);
	}
	c->http = sm_http_client_new(loop);
	if (!c->http) {
		sm_error(err, NULL, "cannot set up libcurl");
		goto fail;
	}
	return c;
fail:
	client_release(c);
	free(c);
	return NULL;
}

static void on_done(void *ctx, const struct sm_http_response *hr)
{
	struct kubecli_req *q = ctx;
	struct kubecli_reply r = { 0 };
	json_t *j = NULL;

	r.status = hr->error ? 0 : hr->status;
	r.body = hr->body;
	r.len = hr->len;
	r.error = hr->error;
	if (!hr->error && hr->len)
		j = json_loadb(hr->body, hr->len, 0, NULL);
	r.json = j;
	q->cb(q->ctx, &r);
	json_decref(j);
	free(q);
}

int kubecli_request(struct kubecli *c, const char *method, const char *path,
		    const char *content_type, const json_t *body, kubecli_cb cb,
		    void *ctx)
{
	struct sm_http_request_opts o = { 0 };
	struct kubecli_req *q = xcalloc(1, sizeof(*q));
	char *url = xasprintf("%s%s", c->server, path);
	char *ct = NULL, *text = NULL;
	const char *headers[3] = { "Accept: application/json", NULL, NULL };
	int r;

	q->cb = cb;
	q->ctx = ctx;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		ct = xasprintf("Content-Type: %s",
			       content_type ? content_type
					    : "application/json");
		headers[1] = ct;
		o.body = text;
		o.body_len = strlen(text);
	}
	o.method = method;
	o.url = url;
	o.headers = headers;
	o.ca_file = c->ca_file;
	o.bearer_token = c->token;
	o.timeout_ms = DEFAULT_TIMEOUT_MS;
	o.on_done = on_done;
	o.ctx = q;
	r = sm_http_request_start(c->http, &o, NULL);
	if (r)
		free(q);
	free(url);
	free(ct);
	free(text);
	return r;
}

struct kubecli_wait {
	bool done;
	int status;
	json_t *json;
	char *error;
	struct sm_buf *text; /* the body, when asked for */
};

static void on_call(void *ctx, const struct kubecli_reply *r)
{
	struct kubecli_wait *w = ctx;

	w->done = true;
	w->status = r->status;
	w->json = r->json ? json_incref((json_t *)r->json) : NULL;
	w->error = r->error ? xstrdup(r->error) : NULL;
	if (w->text && r->body && r->len)
		sm_buf_add(w->text, r->body, r->len);
}

int kubecli_call(struct kubecli *c, const char *method, const char *path,
		 const char *content_type, const json_t *body, json_t **out,
		 struct sm_err *err)
{
	return kubecli_call_text(c, method, path, content_type, body, out, NULL,
				 err);
}

int kubecli_call_text(struct kubecli *c, const char *method, const char *path,
		      const char *content_type, const json_t *body,
		      json_t **out, struct sm_buf *text, struct sm_err *err)
{
	struct kubecli_wait w = { .text = text };
	int r = kubecli_request(c, method, path, content_type, body, on_call,
				&w);

	*out = NULL;
	if (r)
		return sm_error(err, NULL, "%s %s%s: %s", method, c->server,
				path, strerror(-r));
	while (!w.done && uv_run(c->loop, UV_RUN_ONCE))
		;
	if (!w.done)
		return sm_error(err, NULL, "%s %s%s: no answer", method,
				c->server, path);
	if (!w.status) {
		sm_error(err, NULL, "%s", w.error ? w.error : "no answer");
		free(w.error);
		json_decref(w.json);
		return -EIO;
	}
	free(w.error);
	*out = w.json;
	return w.status;
}

const char *kubecli_status_message(const json_t *j)
{
	const char *kind = sm_json_get_str(j, "kind");

	if (!kind || strcmp(kind, "Status"))
		return NULL;
	return sm_json_get_str(j, "message");
}

int kubecli_parse_time(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	const char *end;

	if (!s)
		return -EINVAL;
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -EINVAL;
	if (*end == '.')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if (strcmp(end, "Z"))
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

/* "<a><ua>", then "<b><ub>" unless b is 0. */
static void age2(char *buf, size_t size, int64_t a, char ua, int64_t b, char ub)
{
	if (b)
		snprintf(buf, size, "%" PRId64 "%c%" PRId64 "%c", a, ua, b, ub);
	else
		snprintf(buf, size, "%" PRId64 "%c", a, ua);
}

void kubecli_human_age(int64_t s, char *buf, size_t size)
{
	int64_t m = s / 60, h = s / 3600, d = h / 24;

	if (s < 0)
		age2(buf, size, 0, 's', 0, 0);
	else if (s < 120)
		age2(buf, size, s, 's', 0, 0);
	else if (m < 10)
		age2(buf, size, m, 'm', s % 60, 's');
	else if (m < 180)
		age2(buf, size, m, 'm', 0, 0);
	else if (h < 8)
		age2(buf, size, h, 'h', m % 60, 'm');
	else if (h < 48)
		age2(buf, size, h, 'h', 0, 0);
	else if (h < 24 * 8)
		age2(buf, size, d, 'd', h % 24, 'h');
	else if (h < 24 * 365 * 2)
		age2(buf, size, d, 'd', 0, 0);
	else if (h < 24 * 365 * 8)
		age2(buf, size, d / 365, 'y', d % 365, 'd');
	else
		age2(buf, size, d / 365, 'y', 0, 0);
}
