/*
 * api_watch.c: watch streams, as Kubernetes serves them.
 *
 * A watch answers 200 with a chunked body at once and then writes one JSON
 * line per event: {"type":"ADDED|MODIFIED|DELETED|ERROR","object":{...}}.
 * With no resourceVersion (or "0") it first sends the current objects as
 * ADDED; with one, only what came after it, or an ERROR event with a 410
 * Expired Status when the store's history no longer reaches back that far
 * (the client then lists again). Selectors apply to both the old and the
 * new state, so an object that stops matching is sent as DELETED and one
 * that starts matching as ADDED, as Kubernetes' watch cache does.
 *
 * Lifetime: a watch holds its response, a store watch and a timer (for
 * timeoutSeconds). It ends when the client goes, the timer fires or the
 * server stops; its memory goes in the timer's close callback.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/http_server.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "reconciler/api_internal.h"
#include "reconciler/store.h"

#include "common/banned.h"

/* Kubernetes picks 30 to 60 minutes; one fixed default is clearer. */
#define DEFAULT_TIMEOUT_S 1800

struct api_watch {
	struct apiserver *a;
	struct sm_http_resp *resp; /* NULL once ended or gone */
	struct store_watch *w;
	struct api_filter f;
	const struct api_resource *res;
	bool table; /* kubectl get -w: each object as a one-row Table */
	bool defs_sent;
	uv_timer_t timer;
	struct api_watch *prev, *next;
};

static void unlink_watch(struct api_watch *w)
{
	if (!w->a)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		w->a->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->a->nr_watches--;
	w->a = NULL;
}

static void closed(uv_handle_t *h)
{
	struct api_watch *w = h->data;

	api__filter_release(&w->f);
	free(w);
}

/* Ends w: stops its store watch, ends or forgets the response. */
static void finish(struct api_watch *w, bool end_response)
{
	if (w->w) {
		store_watch_stop(w->w);
		w->w = NULL;
	}
	if (w->resp) {
		struct sm_http_resp *r = w->resp;

		w->resp = NULL;
		sm_http_resp_on(r, NULL, NULL, NULL);
		if (end_response)
			sm_http_resp_end(r);
	}
	unlink_watch(w);
	if (!uv_is_closing((uv_handle_t *)&w->timer))
		uv_close((uv_handle_t *)&w->timer, closed);
}

static void gone(void *ctx, struct sm_http_resp *resp)
{
	struct api_watch *w = ctx;

	w->resp = NULL;
	finish(w, false);
}

static void timed_out(uv_timer_t *t)
{
	finish(t->data, true);
}

/* Sends one event line; a failed write ends the watch. */
static void send_event(struct api_watch *w, const char *type, const json_t *obj)
{
	json_t *ev;

	if (w->table && strcmp(type, "ERROR")) {
		json_t *t = api__table_new(w->res, !w->defs_sent, NULL);

		api__table_add(t, w->res, obj,
			       sm_clock_realtime_ns(w->a->clock));
		w->defs_sent = true;
		ev = json_pack("{s:s, s:o}", "type", type, "object", t);
	} else {
		ev = json_pack("{s:s, s:O}", "type", type, "object", obj);
	}
	char *line = json_dumps(ev, JSON_COMPACT);
	size_t len = strlen(line);

	line[len] = '\n';
	int rc = sm_http_resp_write(w->resp, line, len + 1);
	free(line);
	json_decref(ev);
	if (rc < 0) {
		w->resp = NULL;
		finish(w, false);
	}
}

static void on_event(void *ctx, const struct store_event *ev)
{
	struct api_watch *w = ctx;
	bool now = api__filter_matches(&w->f, ev->obj);
	bool before = ev->old && api__filter_matches(&w->f, ev->old);

	if (!w->resp)
		return;
	switch (ev->type) {
	case STORE_ADDED:
		if (now)
			send_event(w, "ADDED", ev->obj);
		break;
	case STORE_MODIFIED:
		if (now && before)
			send_event(w, "MODIFIED", ev->obj);
		else if (now)
			send_event(w, "ADDED", ev->obj);
		else if (before)
			send_event(w, "DELETED", ev->obj);
		break;
	case STORE_DELETED:
		if (now || before)
			send_event(w, "DELETED", ev->obj);
		break;
	}
}

static int initial_one(void *ctx, const json_t *obj)
{
	struct api_watch *w = ctx;

	if (w->resp && api__filter_matches(&w->f, obj))
		send_event(w, "ADDED", obj);
	return w->resp ? 0 : 1;
}

/* Sends the 410 Expired event and ends the stream. */
static void send_expired(struct api_watch *w, uint64_t rv)
{
	char msg[160];

	snprintf(msg, sizeof(msg),
		 "too old resource version: %" PRIu64 " (%" PRIu64 ")", rv,
		 store_rv(w->a->store));
	json_t *st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind",
			       "Status", "apiVersion", "v1", "metadata",
			       "status", "Failure", "message", msg, "reason",
			       "Expired", "code", 410);
	send_event(w, "ERROR", st);
	json_decref(st);
	if (w->resp)
		finish(w, true);
}

void api__watch(struct api_call *c)
{
	struct apiserver *a = c->a;
	struct api_watch *w;
	struct sm_err err = SM_ERR_INIT;
	char *rvs = api__query(c, "resourceVersion");
	char *tos = api__query(c, "timeoutSeconds");
	uint64_t rv = rvs ? strtoull(rvs, NULL, 10) : 0;
	long timeout = tos ? strtol(tos, NULL, 10) : 0;
	const char *ns = c->res->namespaced && *c->ns ? c->ns : NULL;
	int rc;

	free(rvs);
	free(tos);
	w = xcalloc(1, sizeof(*w));
	w->f = (struct api_filter)API_FILTER_INIT;
	if (api__selectors(c, &w->f) < 0) {
		api__filter_release(&w->f);
		free(w);
		return;
	}
	/* A resourceVersion from the future is read as "from now". */
	if (rv > store_rv(a->store))
		rv = store_rv(a->store);
	w->a = a;
	w->resp = c->resp;
	w->res = c->res;
	w->table = api__wants_table(c);
	uv_timer_init(a->loop, &w->timer);
	w->timer.data = w;
	w->next = a->watches;
	if (a->watches)
		a->watches->prev = w;
	a->watches = w;
	a->nr_watches++;
	sm_http_resp_on(c->resp, gone, NULL, w);
	sm_http_resp_add_header(c->resp, "Content-Type", "application/json");
	if (sm_http_resp_start(c->resp) < 0) {
		w->resp = NULL;
		finish(w, false);
		return;
	}
	if (rv == 0) {
		store_list(a->store, c->res->kind, ns, initial_one, w);
		if (!w->resp)
			return;
		rv = store_rv(a->store);
	}
	rc = store_watch(a->store, c->res->kind, ns, rv, on_event, w, &w->w,
			 &err);
	if (rc == -ERANGE) {
		send_expired(w, rv);
	} else if (rc < 0) {
		sm_log(SM_LOG_WARN, "apiserver", "watch %s: %s", c->res->name,
		       err.nr ? err.items[0].msg : strerror(-rc));
		finish(w, true);
	} else {
		if (timeout <= 0)
			timeout = DEFAULT_TIMEOUT_S;
		uv_timer_start(&w->timer, timed_out, (uint64_t)timeout * 1000,
			       0);
	}
	sm_err_release(&err);
}

void api__watch_stop_all(struct apiserver *a)
{
	while (a->watches)
		finish(a->watches, true);
}
