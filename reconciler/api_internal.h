/*
 * api_internal.h: what apiserver.c and api_watch.c share. Not for other
 * components.
 */
#ifndef SM_API_INTERNAL_H
#define SM_API_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"
#include "manifests/selector.h"
#include "reconciler/api_resources.h"
#include "reconciler/apiserver.h"
#include "reconciler/fieldsel.h"

struct sm_err;
struct sm_http_client;
struct api_watch;
struct api_log;

#define API_MAX_COUNTERS 32

struct api_counter {
	char method[16];
	int code; /* 401 for the turned-away, else 0 */
	uint64_t n;
};

struct apiserver {
	uv_loop_t *loop;
	struct store *store;
	struct sm_http_server *http;
	api_authn_fn authn;
	void *authn_ctx;
	api_extra_fn extra;
	void *extra_ctx;
	const struct sm_clock *clock;
	struct api_counter counters[API_MAX_COUNTERS];
	size_t nr_counters;
	struct api_watch *watches; /* open watch streams, a list */
	size_t nr_watches;
	/* api_log.c: the node token for agents, and logs being proxied. */
	char *kubelet_token;
	struct sm_http_client *kubelet_http;
	struct api_log *logs;
};

/*
 * One request, while its handler runs. Strings point into the request or
 * a buffer of the handler: borrowed for the handler's duration only.
 */
struct api_call {
	struct apiserver *a;
	const struct sm_http_req *req;
	struct sm_http_resp *resp;
	enum api_user user;
	const struct api_resource *res;
	const char *ns; /* "" for cluster scope or all namespaces */
	const char *name; /* NULL for the collection */
	const char *sub; /* NULL or "status", "scale", "binding" */
};

/* The selectors of a list or watch. */
struct api_filter {
	struct mf_selector labels;
	struct fieldsel fields;
};
#define API_FILTER_INIT                         \
	{                                       \
		MF_SELECTOR_INIT, FIELDSEL_INIT \
	}

/* The query parameter key, decoded (new), or NULL. */
char *api__query(const struct api_call *c, const char *key);

/* Parses c's labelSelector and fieldSelector; answers 400 on error. */
int api__selectors(struct api_call *c, struct api_filter *f);
void api__filter_release(struct api_filter *f);
bool api__filter_matches(const struct api_filter *f, const json_t *obj);

/* Answers: JSON (content_type NULL: application/json) and Status. */
void api__send_json(struct sm_http_resp *resp, int code, const json_t *body,
		    const char *content_type);
void api__send_status(struct sm_http_resp *resp, int code, const char *reason,
		      json_t *details, const char *fmt, ...) SM_PRINTF(5, 6);
void api__send_store_error(struct sm_http_resp *resp,
			   const struct api_resource *r, const char *name,
			   int rc, const struct sm_err *err);

/*
 * api_table.c: whether c asked for a Table (kubectl get), a new Table for
 * r (with column definitions when definitions), and one row per object.
 */
bool api__wants_table(const struct api_call *c);
json_t *api__table_new(const struct api_resource *r, bool definitions,
		       const char *rv);
void api__table_add(json_t *table, const struct api_resource *r,
		    const json_t *obj, uint64_t now_ns);

/* api_watch.c: starts a watch stream for c (answers errors itself). */
void api__watch(struct api_call *c);
/* Ends every watch stream (server shutdown). */
void api__watch_stop_all(struct apiserver *a);

/* api_log.c: GET pods/NAME/log, proxied to the pod's node agent. */
void api__pod_log(struct api_call *c);
/* Ends every proxied log and frees what api_log.c keeps (shutdown). */
void api__log_stop_all(struct apiserver *a);

#endif
