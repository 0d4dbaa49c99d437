/*
 * api_gitops.c: see api_gitops.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/http_server.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "reconciler/api_gitops.h"
#include "reconciler/api_internal.h"
#include "reconciler/gitops.h"
#include "reconciler/webhook.h"

#include "common/banned.h"

#define PREFIX "/stuurman/"
#define HOOK "/hooks/git"

/* A rollback waiting for its checkout; the client may go first. */
struct pending {
	struct gitops *g;
	struct sm_http_resp *resp;
};

static void send_text(struct sm_http_resp *resp, int code, const char *text,
		      size_t len)
{
	sm_http_resp_set_status(resp, code);
	sm_http_resp_add_header(resp, "Content-Type",
				"text/plain; charset=utf-8");
	sm_http_resp_send(resp, text, len);
}

static void send_owned(struct sm_http_resp *resp, int code, json_t *body)
{
	api__send_json(resp, code, body, NULL);
	json_decref(body);
}

static char *diags(const struct sm_err *err)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	for (size_t i = 0; err && i < err->nr; i++) {
		if (err->items[i].severity != SM_ERROR)
			continue;
		if (b.len)
			sm_buf_adds(&b, "\n");
		sm_diag_format(&err->items[i], &b);
	}
	return sm_buf_detach(&b, NULL);
}

static void rollback_gone(void *ctx, struct sm_http_resp *resp)
{
	struct pending *p = ctx;

	(void)resp;
	gitops_rollback_cancel(p->g, p);
	free(p);
}

static void rollback_done(void *ctx, int status, const struct sm_err *err)
{
	struct pending *p = ctx;
	char *msg = diags(err);

	sm_http_resp_on(p->resp, NULL, NULL, NULL);
	if (!status)
		send_owned(p->resp, 200, gitops_status(p->g));
	else if (status == -ENOENT)
		api__send_status(p->resp, 404, "NotFound", NULL, "%s", msg);
	else
		api__send_status(p->resp, 422, "Invalid", NULL,
				 "the revision does not load, nothing was "
				 "changed:\n%s",
				 msg);
	free(msg);
	free(p);
}

static void rollback(struct gitops *g, const struct sm_http_req *req,
		     struct sm_http_resp *resp)
{
	json_error_t je;
	json_t *body = json_loadb(req->body, req->body_len, 0, &je);
	const char *rev = sm_json_get_str(body, "revision");

	if (!rev || !*rev) {
		api__send_status(resp, 400, "BadRequest", NULL,
				 "POST %srollback: send {\"revision\": REV} "
				 "with REV a commit (4 or more hex digits), "
				 "a tag or a branch (`stuurman history` "
				 "lists the synced ones)",
				 PREFIX);
		json_decref(body);
		return;
	}
	struct pending *p = xcalloc(1, sizeof(*p));

	p->g = g;
	p->resp = resp;
	sm_http_resp_on(resp, rollback_gone, NULL, p);
	gitops_rollback(g, rev, rollback_done, p);
	json_decref(body);
}

static void hook(struct api_gitops *ag, const struct sm_http_req *req,
		 struct sm_http_resp *resp)
{
	struct webhook_request wr = {
		.authorization = sm_http_req_header(req, "Authorization"),
		.github_signature =
			sm_http_req_header(req, "X-Hub-Signature-256"),
		.gitea_signature = sm_http_req_header(req, "X-Gitea-Signature"),
		.gitlab_token = sm_http_req_header(req, "X-Gitlab-Token"),
		.body = req->body,
		.len = req->body_len,
	};
	struct webhook_push push;
	struct sm_err err = SM_ERR_INIT;
	const char *scheme;
	char *msg = NULL;

	if (strcmp(req->method, "POST")) {
		api__send_status(resp, 405, "MethodNotAllowed", NULL,
				 "%s takes POST (a forge's push hook)", HOOK);
		return;
	}
	if (webhook_authenticate(&wr, ag->api_token, ag->webhook_secret,
				 &scheme, &err) < 0) {
		msg = diags(&err);
		sm_log(SM_LOG_WARN, "gitops", "POST %s refused: %s", HOOK, msg);
		api__send_status(resp, 401, "Unauthorized", NULL, "%s", msg);
		goto out;
	}
	if (webhook_parse_push(req->body, req->body_len, &push, &err) < 0) {
		msg = diags(&err);
		api__send_status(resp, 400, "BadRequest", NULL, "%s", msg);
		goto out;
	}
	if (!ag->gitops) {
		api__send_status(resp, 404, "NotFound", NULL,
				 "this server does not follow a git "
				 "repository (start it with --repo URL)");
		goto out;
	}
	sm_log(SM_LOG_INFO, "gitops", "push hook (%s)%s%s%s%s: fetching now",
	       scheme, push.ref[0] ? " for " : "", push.ref,
	       push.after[0] ? " at " : "", push.after);
	gitops_sync_now(ag->gitops);
	send_owned(resp, 202, json_pack("{s:b}", "accepted", 1));
	return;
out:
	free(msg);
	sm_err_release(&err);
}

bool api_gitops_handle(void *ctx, enum api_user user,
		       const struct sm_http_req *req, struct sm_http_resp *resp)
{
	struct api_gitops *ag = ctx;
	const char *path = req->path;
	bool get = !strcmp(req->method, "GET");
	bool post = !strcmp(req->method, "POST");

	if (!strcmp(path, HOOK)) {
		hook(ag, req, resp);
		return true;
	}
	if (strncmp(path, PREFIX, strlen(PREFIX)))
		return false;
	if (user != API_USER_ADMIN) {
		api__send_status(resp, user == API_USER_NONE ? 401 : 403,
				 user == API_USER_NONE ? "Unauthorized"
						       : "Forbidden",
				 NULL,
				 "%s needs the API token (DATA/pki/token, or "
				 "the kubeconfig `stuurman up` wrote)",
				 path);
		return true;
	}
	struct gitops *g = ag->gitops;
	const char *what = path + strlen(PREFIX);

	if (!g && ag->not_yet) {
		api__send_status(resp, 503, "ServiceUnavailable", NULL, "%s",
				 ag->not_yet);
	} else if (!g) {
		api__send_status(resp, 404, "NotFound", NULL,
				 "this server does not follow a git "
				 "repository (start it with --repo URL)");
	} else if (!strcmp(what, "sync") && get) {
		send_owned(resp, 200, gitops_status(g));
	} else if (!strcmp(what, "sync") && post) {
		json_t *st = gitops_status(g);
		uint64_t done = gitops_sync_now(g);

		/*
		 * A client waits until "fetches" grows past this: then a fetch
		 * that started after the request has finished.
		 */
		json_object_set_new(st, "fetches",
				    json_integer((json_int_t)done - 1));
		send_owned(resp, 202, st);
	} else if (!strcmp(what, "history") && get) {
		send_owned(resp, 200, gitops_history(g));
	} else if (!strcmp(what, "diff") && get) {
		struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		struct sm_err err = SM_ERR_INIT;

		if (gitops_diff(g, &b, &err) < 0) {
			char *msg = diags(&err);

			api__send_status(resp, 500, "InternalError", NULL,
					 "the diff failed: %s", msg);
			free(msg);
		} else {
			send_text(resp, 200, b.len ? b.buf : "", b.len);
		}
		sm_buf_release(&b);
		sm_err_release(&err);
	} else if (!strcmp(what, "rollback") && post) {
		rollback(g, req, resp);
	} else if (!strcmp(what, "sync") || !strcmp(what, "history") ||
		   !strcmp(what, "diff") || !strcmp(what, "rollback")) {
		api__send_status(resp, 405, "MethodNotAllowed", NULL,
				 "%s %s: not allowed (sync: GET or POST; "
				 "history, diff: GET; rollback: POST)",
				 req->method, path);
	} else {
		api__send_status(resp, 404, "NotFound", NULL,
				 "%s: no such endpoint (sync, history, diff, "
				 "rollback)",
				 path);
	}
	return true;
}
