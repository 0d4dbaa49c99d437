/*
 * server.c: see server.h. The order of start-up is the order of
 * dependence: credentials, store, controllers, API, then the manifests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/xalloc.h"
#include "manifests/dirsource.h"
#include "common/json.h"
#include "reconciler/api_gitops.h"
#include "reconciler/apiserver.h"
#include "reconciler/gitops.h"
#include "reconciler/objutil.h"
#include "reconciler/controllers.h"
#include "reconciler/pki.h"
#include "reconciler/server.h"
#include "reconciler/store.h"
#include "reconciler/svcalloc.h"
#include "reconciler/sync.h"

#include "common/banned.h"

#define MAX_CTLS 8

struct server {
	uv_loop_t *loop;
	struct pki pki;
	struct sm_tls_server *tls;
	struct store *store;
	struct svcalloc svcalloc; /* the store's admission */
	struct apiserver *api;
	struct ctl *ctls[MAX_CTLS];
	size_t nr_ctls;
	struct dirsource *manifests;
	char *manifests_dir;
	struct gitops *gitops;
	struct gitops_opts git; /* its strings are in git_strs */
	char *git_strs[6];
	size_t nr_git_strs;
	struct api_gitops api_gitops;
	char *webhook_secret;
	char *not_yet;
	unsigned wait_for_nodes;
	uint64_t waited_ms;
	uv_timer_t wait_timer;
	bool waiting;
	bool timer_open; /* the server's memory goes when it has closed */
};

static enum api_user authn(void *ctx, const char *authorization)
{
	struct server *s = ctx;

	switch (pki_check_bearer(&s->pki, authorization)) {
	case PKI_TOKEN_API:
		return API_USER_ADMIN;
	case PKI_TOKEN_NODE:
		return API_USER_NODE;
	default:
		return API_USER_NONE;
	}
}

static void log_diags(const struct sm_err *err)
{
	for (size_t i = 0; i < err->nr; i++) {
		struct sm_buf line = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		if (err->items[i].severity == SM_NOTE)
			continue;
		sm_diag_format(&err->items[i], &line);
		sm_log(err->items[i].severity == SM_ERROR ? SM_LOG_ERROR
							  : SM_LOG_WARN,
		       "server", "%s", sm_buf_cstr(&line));
		sm_buf_release(&line);
	}
}

/* A new read of the manifests folder. */
static void on_manifests(void *ctx, const json_t *objects,
			 const struct sm_err *err, const char *hash)
{
	struct server *s = ctx;
	struct sm_err serr = SM_ERR_INIT;
	struct sync_result r = SYNC_RESULT_INIT;
	struct sync_opts o = { .source = s->manifests_dir, .prune = true };

	log_diags(err);
	if (!objects) {
		sm_log(SM_LOG_ERROR, "server",
		       "%s: not applied (%zu errors): what runs stays as it is",
		       s->manifests_dir, sm_err_count(err, SM_ERROR));
		return;
	}
	sync_apply(s->store, objects, &o, &r, &serr);
	log_diags(&serr);
	sm_log(SM_LOG_INFO, "server",
	       "%s: applied: %zu created, %zu configured, %zu unchanged, %zu "
	       "pruned, %zu skipped",
	       s->manifests_dir, r.created, r.configured, r.unchanged, r.pruned,
	       r.skipped);
	sync_result_release(&r);
	sm_err_release(&serr);
}

#define NODE_WAIT_STEP_MS 100
#define NODE_WAIT_MAX_MS 30000

static int count_ready(void *ctx, const json_t *node)
{
	const char *st =
		sm_json_get_str(obj_condition(node, "Ready"), "status");

	if (st && !strcmp(st, "True"))
		(*(unsigned *)ctx)++;
	return 0;
}

static void start_manifests(struct server *s)
{
	struct dirsource_opts d = { .dir = s->manifests_dir,
				    .cb = on_manifests,
				    .ctx = s };
	struct sm_err err = SM_ERR_INIT;

	if (s->manifests_dir) {
		s->manifests = dirsource_new(s->loop, &d);
		return;
	}
	if (gitops_new(s->loop, &s->git, &s->gitops, &err) < 0) {
		/* Only the state file can fail this; the API goes on. */
		log_diags(&err);
		free(s->not_yet);
		s->not_yet = xasprintf("the git source did not start: %s",
				       err.nr ? err.items[0].msg : "?");
		s->api_gitops.not_yet = s->not_yet;
	} else {
		s->api_gitops.gitops = s->gitops;
		s->api_gitops.not_yet = NULL;
	}
	sm_err_release(&err);
}

/* Polls the Ready nodes until enough are there, or it is time anyway. */
static void on_wait(uv_timer_t *t)
{
	struct server *s = t->data;
	unsigned ready = 0;

	store_list(s->store, "Node", NULL, count_ready, &ready);
	s->waited_ms += NODE_WAIT_STEP_MS;
	if (ready < s->wait_for_nodes && s->waited_ms < NODE_WAIT_MAX_MS)
		return;
	if (ready < s->wait_for_nodes)
		sm_log(SM_LOG_WARN, "server",
		       "%u of %u nodes Ready after %d s: applying %s anyway",
		       ready, s->wait_for_nodes, NODE_WAIT_MAX_MS / 1000,
		       s->manifests_dir ? s->manifests_dir : s->git.repo);
	uv_timer_stop(t);
	s->waiting = false;
	start_manifests(s);
}

/* A copy of v (NULL stays NULL) that lives as long as s. */
static const char *keep(struct server *s, const char *v)
{
	if (!v)
		return NULL;
	return s->git_strs[s->nr_git_strs++] = xstrdup(v);
}

/* The first line of file, trimmed: a shared secret. */
static int read_secret(const char *file, char **out, struct sm_err *err)
{
	char line[1024];
	FILE *f = fopen(file, "re");
	size_t n;

	if (!f)
		return sm_error(err, NULL,
				"%s: cannot read the webhook "
				"secret: %s",
				file, strerror(errno)),
		       -errno;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (!n)
		return sm_error(err, NULL,
				"%s: the webhook secret is empty (put the "
				"shared secret on its first line)",
				file),
		       -EINVAL;
	*out = xstrdup(line);
	OPENSSL_cleanse(line, sizeof(line));
	return 0;
}

static int make_dir(const char *dir, struct sm_err *err)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return sm_error(err, NULL, "%s: cannot create: %s", dir,
				strerror(errno)),
		       -errno;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return sm_error(err, NULL, "%s: not a directory", dir),
		       -ENOTDIR;
	/* Tokens and keys live here: nobody else may look in. */
	if ((st.st_mode & 077) && chmod(dir, 0700) < 0)
		return sm_error(err, NULL, "%s: cannot make it private: %s",
				dir, strerror(errno)),
		       -errno;
	return 0;
}

int server_start(uv_loop_t *loop, const struct server_opts *o,
		 struct server **out, struct sm_err *err)
{
	struct server *s = xcalloc(1, sizeof(*s));
	char *pki_dir = xasprintf("%s/pki", o->data_dir);
	char *store_dir = xasprintf("%s/store", o->data_dir);
	struct store_opts so = { .dir = store_dir };
	int rc;

	s->loop = loop;
	if (o->manifests_dir && o->repo) {
		rc = sm_error(err, NULL,
			      "--manifests and --repo: give one source of "
			      "manifests, a folder or a git repository");
		goto fail;
	}
	if ((rc = svcalloc_init(&s->svcalloc, NULL, o->service_cidr, err)) <
		    0 ||
	    (rc = make_dir(o->data_dir, err)) < 0 ||
	    (rc = pki_ensure(pki_dir, o->advertise, o->nr_advertise, &s->pki,
			     err)) < 0 ||
	    (rc = sm_tls_server_new(s->pki.cert_path, s->pki.key_path, &s->tls,
				    err)) < 0 ||
	    (rc = store_open(loop, &so, &s->store, err)) < 0)
		goto fail;
	/* Every writer's Services get their addresses and ports here. */
	s->svcalloc.store = s->store;
	store_set_admit(s->store, svcalloc_admit, &s->svcalloc);
	svcalloc_fill_missing(&s->svcalloc);

	struct apiserver_opts ao = {
		.listen = o->listen ? o->listen : "127.0.0.1:6443",
		.store = s->store,
		.transport = &sm_tls_transport,
		.tctx = s->tls,
		.authn = authn,
		.authn_ctx = s,
		.kubelet_token = s->pki.node_token,
		.extra = api_gitops_handle,
		.extra_ctx = &s->api_gitops,
	};
	s->api_gitops.api_token = s->pki.api_token;
	if (o->webhook_secret_file &&
	    (rc = read_secret(o->webhook_secret_file, &s->webhook_secret,
			      err)) < 0)
		goto fail;
	s->api_gitops.webhook_secret = s->webhook_secret;
	if ((rc = apiserver_start(loop, &ao, &s->api, err)) < 0)
		goto fail;

	struct ctl_env env = { .loop = loop,
			       .store = s->store,
			       .resync_ms = o->resync_ms };
	s->ctls[s->nr_ctls++] = ctl_deployment_new(&env);
	s->ctls[s->nr_ctls++] = ctl_replicaset_new(&env);
	s->ctls[s->nr_ctls++] = ctl_statefulset_new(&env);
	s->ctls[s->nr_ctls++] = ctl_gc_new(&env);
	s->ctls[s->nr_ctls++] = ctl_scheduler_new(&env);
	s->ctls[s->nr_ctls++] =
		ctl_node_new(&env, o->node_grace_ms, o->pod_eviction_ms);
	s->ctls[s->nr_ctls++] = ctl_endpoints_new(&env);

	if (o->repo) {
		s->git = (struct gitops_opts){
			.repo = keep(s, o->repo),
			.branch = keep(s, o->branch),
			.revision = keep(s, o->revision),
			.path = keep(s, o->path),
			.data_dir = keep(s, o->data_dir),
			.credentials_file = keep(s, o->credentials_file),
			.interval_ms = o->interval_ms,
			.self_heal = o->self_heal,
			.auto_rollback = o->auto_rollback,
			.store = s->store,
		};
		s->not_yet = xasprintf("the first sync of %s waits for %u "
				       "Ready nodes (--wait-for-nodes)",
				       o->repo, o->wait_for_nodes);
		s->api_gitops.not_yet = s->not_yet;
	}
	if (o->manifests_dir || o->repo) {
		s->manifests_dir =
			o->manifests_dir ? xstrdup(o->manifests_dir) : NULL;
		s->wait_for_nodes = o->wait_for_nodes;
		if (!s->wait_for_nodes) {
			start_manifests(s);
		} else {
			uv_timer_t *t = &s->wait_timer;

			uv_timer_init(loop, t);
			s->timer_open = true;
			t->data = s;
			s->waiting = true;
			uv_timer_start(t, on_wait, NODE_WAIT_STEP_MS,
				       NODE_WAIT_STEP_MS);
		}
	}
	sm_log(SM_LOG_INFO, "server",
	       "serving https://%s (data in %s; token in %s)", ao.listen,
	       o->data_dir, s->pki.token_path);
	free(pki_dir);
	free(store_dir);
	*out = s;
	return 0;
fail:
	free(pki_dir);
	free(store_dir);
	server_free(s);
	return rc;
}

int server_port(const struct server *s)
{
	return apiserver_port(s->api);
}

static void server_closed(uv_handle_t *h)
{
	free(h->data);
}

void server_free(struct server *s)
{
	if (!s)
		return;
	dirsource_free(s->manifests);
	apiserver_free(s->api);
	gitops_free(s->gitops);
	free(s->not_yet);
	if (s->webhook_secret)
		OPENSSL_cleanse(s->webhook_secret, strlen(s->webhook_secret));
	free(s->webhook_secret);
	for (size_t i = 0; i < s->nr_ctls; i++)
		ctl_free(s->ctls[i]);
	store_free(s->store);
	sm_tls_server_free(s->tls);
	pki_release(&s->pki);
	free(s->manifests_dir);
	for (size_t i = 0; i < s->nr_git_strs; i++)
		free(s->git_strs[i]);
	s->manifests_dir = NULL;
	if (s->timer_open)
		uv_close((uv_handle_t *)&s->wait_timer, server_closed);
	else
		free(s);
}
