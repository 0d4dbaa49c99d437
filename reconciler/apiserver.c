/*
 * apiserver.c: routes, verbs and answers of the Kubernetes-style API.
 *
 * A request goes: authentication, then either a non-resource path
 * (health, version, metrics, discovery, the empty OpenAPI v2 schema) or a
 * resource path parsed into resource, namespace, name and subresource, then the
 * verb. Reads answer at once. Writes answer once the store says the write is
 * durable (store.h), so an answered write survives a crash. Watches stream
 * from api_watch.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/http_server.h"
#include "common/json.h"
#include "common/log.h"
#include "common/url.h"
#include "common/xalloc.h"
#include "manifests/kinds.h"
#include "manifests/selector.h"
#include "reconciler/api_internal.h"
#include "reconciler/fieldsel.h"
#include "reconciler/objutil.h"
#include "reconciler/patch.h"
#include "reconciler/store.h"
#include "reconciler/svcalloc.h"

#include "stuurman-config.h"

#include "common/banned.h"

#define DEFAULT_MAX_BODY (3u << 20)
#define MAX_SEGMENTS 8

/* ---- answers ---- */

void api__send_json(struct sm_http_resp *resp, int code, const json_t *body,
		    const char *content_type)
{
	char *text = json_dumps(body, JSON_COMPACT);

	sm_http_resp_set_status(resp, code);
	sm_http_resp_add_header(resp, "Content-Type",
				content_type ? content_type
					     : "application/json");
	sm_http_resp_send(resp, text, strlen(text));
	free(text);
}

void api__send_status(struct sm_http_resp *resp, int code, const char *reason,
		      json_t *details, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind",
			       "Status", "apiVersion", "v1", "metadata",
			       "status", code < 400 ? "Success" : "Failure",
			       "message", msg, "reason", reason, "code", code);
	if (details)
		json_object_set_new(st, "details", details);
	api__send_json(resp, code, st, NULL);
	json_decref(st);
}

static json_t *details_for(const struct api_resource *r, const char *name)
{
	return json_pack("{s:s, s:s, s:s}", "name", name ? name : "", "group",
			 r->group, "kind", r->name);
}

/*
 * The cause of an admission message `Kind "name" is invalid: field:
 * Invalid value: ...` (new): {reason, message, field}, the reason read
 * from the message as Kubernetes' field errors spell them.
 */
static json_t *invalid_cause(const char *msg)
{
	static const struct {
		const char *prefix, *reason;
	} reasons[] = {
		{ "Forbidden", "FieldValueForbidden" },
		{ "Duplicate value", "FieldValueDuplicate" },
		{ "Required value", "FieldValueRequired" },
		{ "Unsupported value", "FieldValueNotSupported" },
	};
	const char *p = strstr(msg, " is invalid: ");
	const char *colon, *reason = "FieldValueInvalid";

	if (!p || !(colon = strstr(p + 13, ": ")))
		return json_pack("{s:s, s:s}", "reason", reason, "message",
				 msg);
	p += 13;
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (!strncmp(colon + 2, reasons[i].prefix,
			     strlen(reasons[i].prefix)))
			reason = reasons[i].reason;
	return json_pack("{s:s, s:s, s:s%}", "reason", reason, "message",
			 colon + 2, "field", p, (size_t)(colon - p));
}

/* Answers a store error for resource r, object name. */
void api__send_store_error(struct sm_http_resp *resp,
			   const struct api_resource *r, const char *name,
			   int rc, const struct sm_err *err)
{
	char q[128];

	api_resource_qualified(r, q, sizeof(q));
	switch (rc) {
	case -ENOENT:
		api__send_status(resp, 404, "NotFound", details_for(r, name),
				 "%s \"%s\" not found", q, name);
		break;
	case -EEXIST:
		api__send_status(resp, 409, "AlreadyExists",
				 details_for(r, name),
				 "%s \"%s\" already exists", q, name);
		break;
	case -ESTALE:
		api__send_status(
			resp, 409, "Conflict", details_for(r, name),
			"Operation cannot be fulfilled on %s \"%s\": the "
			"object has been modified; please apply your changes "
			"to the latest version and try again",
			q, name);
		break;
	case -EINVAL: {
		/*
		 * Refused by the store or its admission (store.h): 422
		 * Invalid, with the cause kubectl prints ("The Service "web"
		 * is invalid: spec.ports[0].nodePort: Invalid value: ...").
		 */
		const char *msg =
			err && err->nr ? err->items[0].msg : "invalid object";
		json_t *d =
			json_pack("{s:s, s:s, s:s}", "name", name ? name : "",
				  "group", r->group, "kind", r->kind);

		json_object_set_new(d, "causes",
				    json_pack("[o]", invalid_cause(msg)));
		api__send_status(resp, 422, "Invalid", d, "%s", msg);
		break;
	}
	default:
		api__send_status(resp, 500, "InternalError", NULL,
				 "%s \"%s\": %s", q, name,
				 err && err->nr ? err->items[0].msg
						: strerror(-rc));
		break;
	}
}

/* ---- writes answered once durable ---- */

struct pending {
	struct sm_http_resp *resp; /* NULL once the client is gone */
	json_t *body; /* what to answer */
	int code;
};

static void pending_gone(void *ctx, struct sm_http_resp *resp)
{
	struct pending *p = ctx;

	p->resp = NULL;
}

static void pending_done(void *ctx, int status)
{
	struct pending *p = ctx;

	if (p->resp && status)
		api__send_status(p->resp, 500, "InternalError", NULL,
				 "the write was not stored: %s",
				 strerror(-status));
	else if (p->resp)
		api__send_json(p->resp, p->code, p->body, NULL);
	json_decref(p->body);
	free(p);
}

/* A pending answer for resp: body taken; pass the result to the store. */
static struct pending *pending_new(struct sm_http_resp *resp, int code,
				   json_t *body)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->resp = resp;
	p->code = code;
	p->body = body;
	sm_http_resp_on(resp, pending_gone, NULL, p);
	return p;
}

/* ---- request context ---- */

/*
 * The query parameter key, decoded (new), or NULL when absent or not
 * decodable (kubectl never sends such; a bad one reads as absent).
 */
char *api__query(const struct api_call *c, const char *key)
{
	char *v = NULL;

	if (sm_query_get(c->req->query, key, &v, NULL) <= 0)
		return NULL;
	return v;
}

static char *query(const struct api_call *c, const char *key)
{
	return api__query(c, key);
}

static bool query_is_true(const struct api_call *c, const char *key)
{
	char *v = query(c, key);
	bool t = v && (!strcmp(v, "true") || !strcmp(v, "1"));

	free(v);
	return t;
}

/* Parses the request body as a JSON object (new), or answers 400. */
static json_t *body_object(struct api_call *c)
{
	const char *ct = sm_http_req_header(c->req, "Content-Type");
	json_error_t jerr;
	json_t *j;

	if (ct && strstr(ct, "protobuf")) {
		api__send_status(
			c->resp, 415, "UnsupportedMediaType", NULL,
			"the body of the request was in an unknown format - "
			"accepted media types include: application/json "
			"(protobuf bodies are not supported yet)");
		return NULL;
	}
	j = json_loadb(c->req->body, c->req->body_len, 0, &jerr);
	if (!j) {
		api__send_status(c->resp, 400, "BadRequest", NULL,
				 "request body: line %d column %d: %s",
				 jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		api__send_status(c->resp, 400, "BadRequest", NULL,
				 "request body: expected a JSON object");
		return NULL;
	}
	return j;
}

/*
 * Turns one message of manifests/ ("Deployment \"web\": spec.replicas:
 * expected ...") into a Kubernetes cause {reason, message, field}.
 */
static json_t *cause_of(const char *msg)
{
	const char *p = msg, *colon;
	const char *q = strstr(msg, "\": ");

	if (q)
		p = q + 3;
	colon = strstr(p, ": ");
	if (!colon)
		return json_pack("{s:s, s:s}", "reason", "FieldValueInvalid",
				 "message", p);
	return json_pack("{s:s, s:s, s:s%}", "reason", "FieldValueInvalid",
			 "message", colon + 2, "field", p, (size_t)(colon - p));
}

/*
 * Validates and defaults obj (changed in place) for c's resource: the
 * manifests/ tables for the kinds they know, a name for the others.
 * Answers 422 and returns -EINVAL when it is not valid.
 */
static int validate(struct api_call *c, json_t *obj)
{
	const struct mf_kind *mk = mf_kind_find(c->res->kind);
	struct sm_err err = SM_ERR_INIT;
	const struct mf_kind *got = NULL;
	const char *name = store_obj_name(obj);
	int rc = 0;

	if (!name || !*name) {
		sm_error(&err, NULL,
			 "%s: metadata.name: Required value: name or "
			 "generateName is required",
			 c->res->kind);
	} else if (mk) {
		struct mf_check_opts o = { .strict = false };

		if (mf_object_check(obj, NULL, "", NULL, &o, &got, &err) !=
		    MF_CHECK_OK)
			rc = -EINVAL;
	}
	if (sm_err_failed(&err)) {
		json_t *causes = json_array();
		struct sm_buf all = SM_BUF_INIT(4096);
		char q[128];

		for (size_t i = 0; i < err.nr; i++) {
			if (err.items[i].severity != SM_ERROR)
				continue;
			json_array_append_new(causes,
					      cause_of(err.items[i].msg));
			if (all.len)
				sm_buf_adds(&all, "; ");
			sm_buf_adds(&all, err.items[i].msg);
		}
		json_t *d = details_for(c->res, name);
		/* Invalid names the kind (kubectl: The Service "x" is ...). */
		json_object_set_new(d, "kind", json_string(c->res->kind));
		json_object_set_new(d, "causes", causes);
		snprintf(q, sizeof(q), "%s%s%s", c->res->kind,
			 *c->res->group ? "." : "", c->res->group);
		api__send_status(c->resp, 422, "Invalid", d,
				 "%s \"%s\" is invalid: %s", q,
				 name ? name : "", sm_buf_cstr(&all));
		sm_buf_release(&all);
		rc = -EINVAL;
	}
	sm_err_release(&err);
	return rc;
}

/*
 * Makes obj's kind, apiVersion, namespace and name agree with the URL:
 * fills what is missing, answers 400 for a mismatch.
 */
static int fit_to_url(struct api_call *c, json_t *obj, bool name_from_url)
{
	char av[64];
	const char *kind = sm_json_get_str(obj, "kind");
	const char *apiv = sm_json_get_str(obj, "apiVersion");
	json_t *meta = json_object_get(obj, "metadata");
	const char *ns, *name;

	api_resource_api_version(c->res, av, sizeof(av));
	if (kind && strcmp(kind, c->res->kind)) {
		api__send_status(c->resp, 400, "BadRequest", NULL,
				 "the kind %s does not match the URL (%s)",
				 kind, c->res->name);
		return -EINVAL;
	}
	if (apiv && strcmp(apiv, av)) {
		api__send_status(
			c->resp, 400, "BadRequest", NULL,
			"the apiVersion %s does not match the URL (%s for %s)",
			apiv, av, c->res->name);
		return -EINVAL;
	}
	json_object_set_new(obj, "kind", json_string(c->res->kind));
	json_object_set_new(obj, "apiVersion", json_string(av));
	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(obj, "metadata", meta);
	}
	ns = sm_json_get_str(meta, "namespace");
	if (c->res->namespaced) {
		if (ns && *ns && strcmp(ns, c->ns)) {
			api__send_status(
				c->resp, 400, "BadRequest", NULL,
				"the namespace of the provided object does not "
				"match the namespace sent on the request");
			return -EINVAL;
		}
		json_object_set_new(meta, "namespace", json_string(c->ns));
	} else {
		json_object_del(meta, "namespace");
	}
	name = sm_json_get_str(meta, "name");
	if (name_from_url) {
		if (name && strcmp(name, c->name)) {
			api__send_status(c->resp, 400, "BadRequest", NULL,
					 "the name of the object (%s) does not "
					 "match the name on the URL (%s)",
					 name, c->name);
			return -EINVAL;
		}
		json_object_set_new(meta, "name", json_string(c->name));
	}
	return 0;
}

/* Namespaced writes need a namespace that exists and is not going away. */
static int check_namespace(struct api_call *c)
{
	const json_t *ns;

	if (!c->res->namespaced)
		return 0;
	ns = store_get(c->a->store, "Namespace", "", c->ns);
	if (!ns) {
		api__send_status(c->resp, 404, "NotFound",
				 json_pack("{s:s, s:s}", "name", c->ns, "kind",
					   "namespaces"),
				 "namespaces \"%s\" not found", c->ns);
		return -ENOENT;
	}
	if (sm_json_get_path(ns, "metadata.deletionTimestamp")) {
		api__send_status(
			c->resp, 403, "Forbidden", NULL,
			"%s \"%s\" is forbidden: unable to create new content "
			"in namespace %s because it is being terminated",
			c->res->name, c->name ? c->name : "", c->ns);
		return -EACCES;
	}
	return 0;
}

/* ---- verbs ---- */

/* The selectors of a list or watch; answers 400 when one does not parse. */
int api__selectors(struct api_call *c, struct api_filter *f)
{
	struct sm_err err = SM_ERR_INIT;
	char *ls = query(c, "labelSelector");
	char *fs = query(c, "fieldSelector");
	struct sm_buf fields = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int rc = 0;

	/* A watch of one object (.../pods/NAME?watch=1) selects its name. */
	sm_buf_adds(&fields, fs ? fs : "");
	if (c->name)
		sm_buf_addf(&fields, "%smetadata.name=%s",
			    fields.len ? "," : "", c->name);
	if (ls && mf_selector_parse(&f->labels, ls, NULL, &err) < 0)
		rc = -EINVAL;
	if (!rc && fields.len &&
	    fieldsel_parse(&f->fields, sm_buf_cstr(&fields), c->res->kind,
			   &err) < 0)
		rc = -EINVAL;
	if (rc)
		api__send_status(c->resp, 400, "BadRequest", NULL, "%s",
				 err.nr ? err.items[0].msg : "bad selector");
	free(ls);
	free(fs);
	sm_buf_release(&fields);
	sm_err_release(&err);
	return rc;
}

void api__filter_release(struct api_filter *f)
{
	mf_selector_release(&f->labels);
	fieldsel_release(&f->fields);
}

bool api__filter_matches(const struct api_filter *f, const json_t *obj)
{
	return mf_selector_matches(&f->labels,
				   sm_json_get_path(obj, "metadata.labels")) &&
	       fieldsel_matches(&f->fields, obj);
}

struct list_ctx {
	const struct api_filter *f;
	json_t *items;
};

static int list_one(void *ctx, const json_t *obj)
{
	struct list_ctx *l = ctx;

	if (api__filter_matches(l->f, obj))
		json_array_append(l->items, (json_t *)obj);
	return 0;
}

static void do_list(struct api_call *c)
{
	struct api_filter f = API_FILTER_INIT;
	char av[64], kind[96], rv[32];

	if (api__selectors(c, &f) < 0)
		return;
	struct list_ctx l = { &f, json_array() };
	store_list(c->a->store, c->res->kind,
		   c->res->namespaced && *c->ns ? c->ns : NULL, list_one, &l);
	api_resource_api_version(c->res, av, sizeof(av));
	snprintf(kind, sizeof(kind), "%sList", c->res->kind);
	snprintf(rv, sizeof(rv), "%" PRIu64, store_rv(c->a->store));
	if (api__wants_table(c)) {
		json_t *t = api__table_new(c->res, true, rv);
		uint64_t now = sm_clock_realtime_ns(c->a->clock);
		size_t i;
		json_t *o;

		json_array_foreach (l.items, i, o)
			api__table_add(t, c->res, o, now);
		api__send_json(c->resp, 200, t, NULL);
		json_decref(t);
		json_decref(l.items);
		api__filter_release(&f);
		return;
	}
	json_t *list = json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", kind,
				 "apiVersion", av, "metadata",
				 "resourceVersion", rv, "items", l.items);
	api__send_json(c->resp, 200, list, NULL);
	json_decref(list);
	api__filter_release(&f);
}

static const json_t *get_or_404(struct api_call *c)
{
	const json_t *obj =
		store_get(c->a->store, c->res->kind, c->ns, c->name);

	if (!obj)
		api__send_store_error(c->resp, c->res, c->name, -ENOENT, NULL);
	return obj;
}

static void do_get(struct api_call *c)
{
	const json_t *obj = get_or_404(c);

	if (obj && api__wants_table(c) && !c->sub) {
		json_t *t = api__table_new(
			c->res, true,
			sm_json_get_str(json_object_get(obj, "metadata"),
					"resourceVersion"));

		api__table_add(t, c->res, obj,
			       sm_clock_realtime_ns(c->a->clock));
		api__send_json(c->resp, 200, t, NULL);
		json_decref(t);
	} else if (obj) {
		api__send_json(c->resp, 200, obj, NULL);
	}
}

/* Writes obj through the store and answers code with the result. */
static void write_obj(struct api_call *c, json_t *obj, bool create,
		      enum store_update_part part, int code)
{
	struct sm_err err = SM_ERR_INIT;
	json_t *out = NULL;
	struct pending *p = pending_new(c->resp, code, NULL);
	int rc;

	if (create)
		rc = store_create(c->a->store, obj, &out, pending_done, p,
				  &err);
	else
		rc = store_update(c->a->store, obj, part, &out, pending_done, p,
				  &err);
	if (rc < 0) {
		const char *name = store_obj_name(obj);

		sm_http_resp_on(c->resp, NULL, NULL, NULL);
		free(p);
		api__send_store_error(c->resp, c->res, name ? name : "", rc,
				      &err);
	} else {
		p->body = out;
	}
	sm_err_release(&err);
}

/* The status a new object starts with, as Kubernetes gives it. */
static void initial_status(const struct api_call *c, json_t *obj)
{
	if (!strcmp(c->res->kind, "Namespace"))
		json_object_set_new(obj, "status",
				    json_pack("{s:s}", "phase", "Active"));
	else if (!strcmp(c->res->kind, "Pod"))
		json_object_set_new(obj, "status",
				    json_pack("{s:s}", "phase", "Pending"));
	else if (!strcmp(c->res->kind, "Service"))
		/* The endpoints controller fills a LoadBalancer's in. */
		json_object_set_new(obj, "status",
				    json_pack("{s:{}}", "loadBalancer"));
}

static void do_create(struct api_call *c)
{
	json_t *obj = body_object(c);

	if (!obj)
		return;
	if (fit_to_url(c, obj, false) == 0 && check_namespace(c) == 0) {
		json_t *meta = json_object_get(obj, "metadata");

		/* generateName: validate against a placeholder name. */
		bool gen = !sm_json_get_str(meta, "name") &&
			   sm_json_get_str(meta, "generateName");
		if (gen)
			json_object_set_new(meta, "name",
					    json_string("generated"));
		if (validate(c, obj) == 0) {
			if (gen)
				json_object_del(meta, "name");
			initial_status(c, obj);
			write_obj(c, obj, true, STORE_MAIN, 201);
		}
	}
	json_decref(obj);
}

/* The resourceVersion a body carries ("" when none), copied to rv. */
static void body_rv(const json_t *obj, char *rv, size_t len)
{
	const char *v = sm_json_get_str(json_object_get(obj, "metadata"),
					"resourceVersion");

	snprintf(rv, len, "%s", v ? v : "");
}

static void set_rv(json_t *obj, const char *rv)
{
	json_t *meta = json_object_get(obj, "metadata");

	if (*rv && json_is_object(meta))
		json_object_set_new(meta, "resourceVersion", json_string(rv));
}

/*
 * PUT and PATCH share this: obj is the whole new object (taken); status
 * says whether it is the status subresource.
 */
static void update_with(struct api_call *c, json_t *obj, bool status)
{
	char rv[32];

	body_rv(obj, rv, sizeof(rv));
	if (!status && !strcmp(c->res->kind, "Service")) {
		const json_t *old =
			store_get(c->a->store, c->res->kind, c->ns, c->name);

		/* A type change drops what the old type allocated. */
		if (old)
			svcalloc_prepare_update(old, obj);
	}
	if (fit_to_url(c, obj, true) == 0 &&
	    (status || validate(c, obj) == 0)) {
		set_rv(obj, rv);
		write_obj(c, obj, false, status ? STORE_STATUS : STORE_MAIN,
			  200);
	}
	json_decref(obj);
}

static void do_update(struct api_call *c, bool status)
{
	json_t *obj = body_object(c);

	if (obj) {
		if (!store_get(c->a->store, c->res->kind, c->ns, c->name)) {
			api__send_store_error(c->resp, c->res, c->name, -ENOENT,
					      NULL);
			json_decref(obj);
			return;
		}
		update_with(c, obj, status);
	}
}

/* Applies the request's patch to live (borrowed): new object or NULL. */
static json_t *patched(struct api_call *c, const json_t *live)
{
	const char *ct = sm_http_req_header(c->req, "Content-Type");
	struct sm_err err = SM_ERR_INIT;
	json_error_t jerr;
	json_t *patch, *out = NULL;
	int rc;

	patch = json_loadb(c->req->body, c->req->body_len, JSON_DECODE_ANY,
			   &jerr);
	if (!patch) {
		api__send_status(c->resp, 400, "BadRequest", NULL,
				 "patch body: line %d column %d: %s", jerr.line,
				 jerr.column, jerr.text);
		return NULL;
	}
	rc = patch_apply(ct ? ct : "application/merge-patch+json", live, patch,
			 &out, &err);
	if (rc == -ENOTSUP)
		api__send_status(c->resp, 415, "UnsupportedMediaType", NULL,
				 "the body of the request was in an unknown "
				 "format - accepted media types include: "
				 "application/json-patch+json, "
				 "application/merge-patch+json, "
				 "application/strategic-merge-patch+json");
	else if (rc < 0)
		api__send_status(c->resp, 422, "Invalid", NULL, "%s",
				 err.nr ? err.items[0].msg : "bad patch");
	json_decref(patch);
	sm_err_release(&err);
	return rc < 0 ? NULL : out;
}

static void do_patch(struct api_call *c, bool status)
{
	const json_t *live = get_or_404(c);
	json_t *obj;

	if (!live || !(obj = patched(c, live)))
		return;
	if (!json_is_object(obj)) {
		json_decref(obj);
		api__send_status(c->resp, 422, "Invalid", NULL,
				 "the patch made the object a non-object");
		return;
	}
	/*
	 * A patch applies to the object as it is now: no precondition unless
	 * the patch itself names a resourceVersion.
	 */
	update_with(c, obj, status);
}

/* DeleteOptions from the body or the query. */
struct delete_opts {
	int64_t grace; /* -1: not given */
	char precondition_rv[32];
	char propagation[32];
};

static int delete_options(struct api_call *c, struct delete_opts *o)
{
	char *g = query(c, "gracePeriodSeconds");
	char *p = query(c, "propagationPolicy");

	o->grace = g ? strtoll(g, NULL, 10) : -1;
	snprintf(o->propagation, sizeof(o->propagation), "%s",
		 p ? p : "Background");
	o->precondition_rv[0] = 0;
	free(g);
	free(p);
	if (c->req->body_len) {
		json_t *b = body_object(c);
		const json_t *v;
		const char *s;

		if (!b)
			return -EINVAL;
		if ((v = json_object_get(b, "gracePeriodSeconds")) &&
		    json_is_integer(v))
			o->grace = json_integer_value(v);
		if ((s = sm_json_get_str(b, "propagationPolicy")))
			snprintf(o->propagation, sizeof(o->propagation), "%s",
				 s);
		if ((s = sm_json_get_str(json_object_get(b, "preconditions"),
					 "resourceVersion")))
			snprintf(o->precondition_rv, sizeof(o->precondition_rv),
				 "%s", s);
		json_decref(b);
	}
	return 0;
}

/*
 * Pods on a node end gracefully: the store marks them, the node's agent
 * stops the containers and then deletes them for good. Namespaces end
 * gracefully too: the namespace controller empties them first.
 */
static bool graceful(const struct api_call *c, const json_t *live,
		     int64_t *grace)
{
	if (!strcmp(c->res->kind, "Namespace")) {
		*grace = 0;
		return true;
	}
	if (strcmp(c->res->kind, "Pod"))
		return false;
	return pod_delete_is_graceful(live, grace);
}

/* Writes live with finalizer fin added; answers the error itself. */
static int add_finalizer(struct api_call *c, const json_t *live,
			 const char *fin, const char *precondition_rv)
{
	struct sm_err err = SM_ERR_INIT;
	json_t *obj = json_deep_copy(live);
	json_t *meta = json_object_get(obj, "metadata");
	json_t *fs = json_object_get(meta, "finalizers");
	size_t i;
	json_t *v;
	int rc = 0;

	if (!json_is_array(fs)) {
		fs = json_array();
		json_object_set_new(meta, "finalizers", fs);
	}
	json_array_foreach (fs, i, v) {
		if (json_is_string(v) && !strcmp(json_string_value(v), fin))
			goto out;
	}
	json_array_append_new(fs, json_string(fin));
	if (*precondition_rv)
		json_object_set_new(meta, "resourceVersion",
				    json_string(precondition_rv));
	else
		json_object_del(meta, "resourceVersion");
	rc = store_update(c->a->store, obj, STORE_MAIN, NULL, NULL, NULL, &err);
	if (rc < 0)
		api__send_store_error(c->resp, c->res, c->name, rc, &err);
out:
	json_decref(obj);
	sm_err_release(&err);
	return rc;
}

static void do_delete(struct api_call *c)
{
	struct delete_opts o;
	struct sm_err err = SM_ERR_INIT;
	const json_t *live;
	json_t *out = NULL;
	struct pending *p;
	int64_t grace;
	int rc;

	if (delete_options(c, &o) < 0 || !(live = get_or_404(c)))
		return;
	if (!strcmp(c->res->kind, "Namespace") &&
	    (!strcmp(c->name, "default") || !strcmp(c->name, "kube-system") ||
	     !strcmp(c->name, "kube-public"))) {
		api__send_status(c->resp, 403, "Forbidden",
				 details_for(c->res, c->name),
				 "namespaces \"%s\" is forbidden: this "
				 "namespace may not be deleted",
				 c->name);
		return;
	}
	grace = o.grace;
	bool g = graceful(c, live, &grace);
	/*
	 * Foreground and Orphan propagation are finalizers the garbage
	 * collector acts on (ctl_gc.c); Background needs none.
	 */
	const char *fin = !strcmp(o.propagation, "Foreground")
				  ? "foregroundDeletion"
			  : !strcmp(o.propagation, "Orphan") ? "orphan"
							     : NULL;
	if (fin && strcmp(c->res->kind, "Pod") &&
	    add_finalizer(c, live, fin, o.precondition_rv) < 0)
		return;
	p = pending_new(c->resp, 200, NULL);
	rc = store_delete(c->a->store, c->res->kind, c->ns, c->name, g, grace,
			  o.precondition_rv, &out, pending_done, p, &err);
	if (rc < 0) {
		sm_http_resp_on(c->resp, NULL, NULL, NULL);
		free(p);
		api__send_store_error(c->resp, c->res, c->name, rc, &err);
	} else {
		p->body = out;
	}
	sm_err_release(&err);
}

struct delcoll {
	const struct api_filter *f;
	json_t *keys;
};

static int delcoll_one(void *ctx, const json_t *obj)
{
	struct delcoll *d = ctx;

	if (api__filter_matches(d->f, obj))
		json_array_append_new(d->keys,
				      json_pack("[s,s]", store_obj_ns(obj),
						store_obj_name(obj)));
	return 0;
}

static void do_delete_collection(struct api_call *c)
{
	struct api_filter f = API_FILTER_INIT;
	struct delcoll d = { &f, json_array() };
	char av[64], kind[96], rv[32];
	json_t *items = json_array();
	struct pending *last = NULL;
	size_t i;
	json_t *k;

	if (api__selectors(c, &f) < 0) {
		json_decref(d.keys);
		json_decref(items);
		return;
	}
	store_list(c->a->store, c->res->kind,
		   c->res->namespaced && *c->ns ? c->ns : NULL, delcoll_one,
		   &d);
	json_array_foreach (d.keys, i, k) {
		const char *ns = json_string_value(json_array_get(k, 0));
		const char *name = json_string_value(json_array_get(k, 1));
		const json_t *live =
			store_get(c->a->store, c->res->kind, ns, name);
		struct api_call one = *c;
		int64_t grace = -1;
		json_t *out = NULL;

		if (!live)
			continue;
		one.ns = ns;
		bool g = graceful(&one, live, &grace);
		/*
		 * Callbacks come in write order: the answer waits for the
		 * last delete, so every delete before it is durable too.
		 */
		struct pending *p = pending_new(c->resp, 200, NULL);
		if (store_delete(c->a->store, c->res->kind, ns, name, g, grace,
				 NULL, &out, pending_done, p, NULL) == 0) {
			json_array_append_new(items, out);
			if (last)
				last->resp = NULL;
			last = p;
		} else {
			free(p);
		}
	}
	json_decref(d.keys);
	api__filter_release(&f);
	api_resource_api_version(c->res, av, sizeof(av));
	snprintf(kind, sizeof(kind), "%sList", c->res->kind);
	snprintf(rv, sizeof(rv), "%" PRIu64, store_rv(c->a->store));
	json_t *list = json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", kind,
				 "apiVersion", av, "metadata",
				 "resourceVersion", rv, "items", items);
	if (last) {
		last->body = list;
		sm_http_resp_on(c->resp, pending_gone, NULL, last);
	} else {
		sm_http_resp_on(c->resp, NULL, NULL, NULL);
		api__send_json(c->resp, 200, list, NULL);
		json_decref(list);
	}
}

/* ---- subresources: scale and binding ---- */

/* The Scale of a Deployment, ReplicaSet or StatefulSet (new). */
static json_t *scale_of(const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	json_t *replicas = sm_json_get_path(obj, "spec.replicas");
	json_t *cur = sm_json_get_path(obj, "status.replicas");
	struct mf_selector sel = MF_SELECTOR_INIT;
	struct sm_buf s = SM_BUF_INIT(4096);
	struct sm_err err = SM_ERR_INIT;

	if (mf_selector_from_json(&sel, sm_json_get_path(obj, "spec.selector"),
				  "spec.selector", NULL, &err) == 0)
		mf_selector_format(&sel, &s);
	json_t *sc = json_pack(
		"{s:s, s:s, s:{s:O*, s:O*, s:O*, s:O*, s:O*}, s:{s:I}, s:{s:I, "
		"s:s}}",
		"kind", "Scale", "apiVersion", "autoscaling/v1", "metadata",
		"name", json_object_get(meta, "name"), "namespace",
		json_object_get(meta, "namespace"), "uid",
		json_object_get(meta, "uid"), "resourceVersion",
		json_object_get(meta, "resourceVersion"), "creationTimestamp",
		json_object_get(meta, "creationTimestamp"), "spec", "replicas",
		(json_int_t)(json_is_integer(replicas)
				     ? json_integer_value(replicas)
				     : 1),
		"status", "replicas",
		(json_int_t)(json_is_integer(cur) ? json_integer_value(cur)
						  : 0),
		"selector", sm_buf_cstr(&s));
	mf_selector_release(&sel);
	sm_buf_release(&s);
	sm_err_release(&err);
	return sc;
}

/* Answers a write of a scaled object with its Scale, once durable. */
static void scale_done(void *ctx, int status)
{
	struct pending *p = ctx;
	json_t *obj = p->body;

	p->body = scale_of(obj);
	json_decref(obj);
	pending_done(p, status);
}

static void do_scale(struct api_call *c)
{
	const json_t *live = get_or_404(c);
	struct sm_err err = SM_ERR_INIT;
	json_t *sc, *want = NULL, *obj, *out = NULL;
	char rv[32];
	int rc;

	if (!live)
		return;
	sc = scale_of(live);
	if (!strcmp(c->req->method, "GET")) {
		api__send_json(c->resp, 200, sc, NULL);
		json_decref(sc);
		return;
	}
	if (!strcmp(c->req->method, "PUT"))
		want = body_object(c);
	else
		want = patched(c, sc);
	json_decref(sc);
	if (!want)
		return;
	json_t *r = sm_json_get_path(want, "spec.replicas");
	if (!json_is_integer(r) || json_integer_value(r) < 0 ||
	    json_integer_value(r) > INT32_MAX) {
		api__send_status(
			c->resp, 422, "Invalid", NULL,
			"Scale.autoscaling \"%s\" is invalid: spec.replicas: "
			"Invalid value: must be greater than or equal to 0",
			c->name);
		json_decref(want);
		return;
	}
	body_rv(want, rv, sizeof(rv));
	obj = json_deep_copy(live);
	json_object_set_new(json_object_get(obj, "spec"), "replicas",
			    json_integer(json_integer_value(r)));
	json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion",
			    json_string(rv));
	json_decref(want);
	struct pending *p = pending_new(c->resp, 200, NULL);
	rc = store_update(c->a->store, obj, STORE_MAIN, &out, scale_done, p,
			  &err);
	if (rc < 0) {
		sm_http_resp_on(c->resp, NULL, NULL, NULL);
		free(p);
		api__send_store_error(c->resp, c->res, c->name, rc, &err);
	} else {
		p->body = out;
	}
	json_decref(obj);
	sm_err_release(&err);
}

/*
 * POST pods/NAME/binding: the scheduler's verdict. Sets spec.nodeName and
 * the PodScheduled condition, once; a bound pod answers 409.
 */
static void do_binding(struct api_call *c)
{
	const json_t *live = get_or_404(c);
	struct sm_err err = SM_ERR_INIT;
	char now[SM_TIME_RFC3339_LEN];
	json_t *b, *obj, *out = NULL, *conds;
	const char *node, *bound;
	int rc;

	if (!live || !(b = body_object(c)))
		return;
	node = sm_json_get_str(json_object_get(b, "target"), "name");
	bound = sm_json_get_str(json_object_get(live, "spec"), "nodeName");
	if (!node || !*node) {
		api__send_status(c->resp, 400, "BadRequest", NULL,
				 "binding: target.name: Required value");
		json_decref(b);
		return;
	}
	if (bound && *bound) {
		api__send_status(
			c->resp, 409, "Conflict", details_for(c->res, c->name),
			"Operation cannot be fulfilled on pods/binding \"%s\": "
			"pod %s is already assigned to node \"%s\"",
			c->name, c->name, bound);
		json_decref(b);
		return;
	}
	sm_time_rfc3339(sm_clock_realtime_ns(c->a->clock), 0, now, sizeof(now));
	obj = json_deep_copy(live);
	json_object_set_new(json_object_get(obj, "spec"), "nodeName",
			    json_string(node));
	json_t *st = json_object_get(obj, "status");
	if (!json_is_object(st)) {
		st = json_object();
		json_object_set_new(obj, "status", st);
	}
	conds = json_array();
	json_t *old = json_object_get(st, "conditions");
	size_t i;
	json_t *cond;
	json_array_foreach (old, i, cond) {
		const char *t = sm_json_get_str(cond, "type");

		if (!t || strcmp(t, "PodScheduled"))
			json_array_append(conds, cond);
	}
	json_array_append_new(conds, json_pack("{s:s, s:s, s:n, s:s}", "type",
					       "PodScheduled", "status", "True",
					       "lastProbeTime",
					       "lastTransitionTime", now));
	json_object_set_new(st, "conditions", conds);
	json_t *status = json_pack("{s:s, s:s, s:{}, s:s, s:i}", "kind",
				   "Status", "apiVersion", "v1", "metadata",
				   "status", "Success", "code", 201);
	struct pending *p = pending_new(c->resp, 201, status);
	rc = store_update(c->a->store, obj, STORE_ALL, &out, pending_done, p,
			  &err);
	if (rc < 0) {
		sm_http_resp_on(c->resp, NULL, NULL, NULL);
		json_decref(status);
		free(p);
		api__send_store_error(c->resp, c->res, c->name, rc, &err);
	}
	json_decref(out);
	json_decref(obj);
	json_decref(b);
	sm_err_release(&err);
}

/* ---- authorization ---- */

/*
 * What a node's token may do, as Kubernetes' Node authorizer allows a
 * kubelet and kube-proxy: Nodes (the proxy lists them for their
 * addresses), Pods (read, status, delete), Events, and reading what pods
 * reference and what services route to. Everything else needs the API
 * token.
 */
static bool node_may(const struct api_call *c, bool write)
{
	static const char *const rw[] = { "nodes", "pods", "events" };
	/*
	 * endpointslices: the proxy (which runs with the node token) and
	 * the agents (draining a pod before SIGTERM) follow them.
	 */
	static const char *const ro[] = { "configmaps",
					  "secrets",
					  "services",
					  "endpoints",
					  "endpointslices",
					  "namespaces",
					  "persistentvolumeclaims" };

	for (size_t i = 0; i < sizeof(rw) / sizeof(rw[0]); i++)
		if (!strcmp(c->res->name, rw[i]))
			return true;
	for (size_t i = 0; !write && i < sizeof(ro) / sizeof(ro[0]); i++)
		if (!strcmp(c->res->name, ro[i]))
			return true;
	return false;
}

/* ---- routing ---- */

static void do_resource(struct api_call *c)
{
	const char *m = c->req->method;
	bool get = !strcmp(m, "GET");
	bool write = !get;

	if (c->user == API_USER_NODE && !node_may(c, write)) {
		api__send_status(c->resp, 403, "Forbidden",
				 details_for(c->res, c->name),
				 "%s is forbidden: a node token may not %s %s: "
				 "use the API token",
				 c->res->name, m, c->res->name);
		return;
	}
	if (c->sub) {
		bool ok = false;

		if (!strcmp(c->sub, "status") &&
		    (c->res->sub & API_SUB_STATUS)) {
			ok = true;
			if (get)
				do_get(c);
			else if (!strcmp(m, "PUT"))
				do_update(c, true);
			else if (!strcmp(m, "PATCH"))
				do_patch(c, true);
			else
				ok = false;
		} else if (!strcmp(c->sub, "scale") &&
			   (c->res->sub & API_SUB_SCALE)) {
			ok = get || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
			if (ok)
				do_scale(c);
		} else if (!strcmp(c->sub, "binding") &&
			   (c->res->sub & API_SUB_BINDING)) {
			ok = !strcmp(m, "POST");
			if (ok)
				do_binding(c);
		} else if (!strcmp(c->sub, "log") &&
			   (c->res->sub & API_SUB_LOG)) {
			ok = get;
			if (ok)
				api__pod_log(c);
		} else {
			api__send_status(c->resp, 404, "NotFound", NULL,
					 "the server could not find the "
					 "requested resource (%s %s/%s)",
					 m, c->res->name, c->sub);
			return;
		}
		if (!ok)
			api__send_status(c->resp, 405, "MethodNotAllowed", NULL,
					 "%s is not supported on %s/%s", m,
					 c->res->name, c->sub);
		return;
	}
	if (c->name) {
		if (get && query_is_true(c, "watch"))
			api__watch(c);
		else if (get)
			do_get(c);
		else if (!strcmp(m, "PUT"))
			do_update(c, false);
		else if (!strcmp(m, "PATCH"))
			do_patch(c, false);
		else if (!strcmp(m, "DELETE"))
			do_delete(c);
		else
			api__send_status(c->resp, 405, "MethodNotAllowed", NULL,
					 "%s is not supported on %s \"%s\"", m,
					 c->res->name, c->name);
		return;
	}
	if (get && query_is_true(c, "watch"))
		api__watch(c);
	else if (get)
		do_list(c);
	else if (!strcmp(m, "POST") && (!c->res->namespaced || *c->ns))
		do_create(c);
	else if (!strcmp(m, "DELETE"))
		do_delete_collection(c);
	else
		api__send_status(c->resp, 405, "MethodNotAllowed", NULL,
				 "%s is not supported on %s", m, c->res->name);
}

/* Splits path into at most max segments (pointers into buf). */
static size_t split_path(const char *path, char *buf, size_t len, char **seg,
			 size_t max)
{
	size_t n = 0;
	char *p;

	snprintf(buf, len, "%s", path);
	for (p = buf; *p && n < max + 1;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		seg[n++] = p;
		while (*p && *p != '/')
			p++;
		if (*p)
			*p++ = 0;
	}
	return n;
}

/*
 * Resource paths: PREFIX/R, PREFIX/R/NAME[/SUB], and
 * PREFIX/namespaces/NS/R[/NAME[/SUB]], where PREFIX is api/v1 or
 * apis/G/V. Returns false when the path is not one.
 */
static bool route_resource(struct api_call *c, char **seg, size_t n)
{
	const char *group, *version;
	size_t i;

	if (n >= 3 && !strcmp(seg[0], "api")) {
		group = "";
		version = seg[1];
		i = 2;
	} else if (n >= 4 && !strcmp(seg[0], "apis")) {
		group = seg[1];
		version = seg[2];
		i = 3;
	} else {
		return false;
	}
	c->ns = "";
	if (n - i >= 3 && !strcmp(seg[i], "namespaces")) {
		c->ns = seg[i + 1];
		i += 2;
	}
	const struct api_resource *r = NULL;
	size_t nr;
	const struct api_resource *all = api_resources(&nr);

	for (size_t k = 0; k < nr; k++)
		if (!strcmp(all[k].group, group) &&
		    !strcmp(all[k].version, version) &&
		    !strcmp(all[k].name, seg[i]))
			r = &all[k];
	if (!r || n - i > 3 || (r->namespaced == false && *c->ns))
		return false;
	c->res = r;
	c->name = n - i >= 2 ? seg[i + 1] : NULL;
	c->sub = n - i >= 3 ? seg[i + 2] : NULL;
	/* namespaces/NAME is the Namespace NAME, not a namespace prefix. */
	return true;
}

static const char *aggregated_accept(const char *accept)
{
	if (!accept || !strstr(accept, "as=APIGroupDiscoveryList"))
		return NULL;
	/* The first format the client lists that we speak wins. */
	const char *v2 = strstr(accept, "v=v2;");
	const char *v2b = strstr(accept, "v=v2beta1");
	if (v2 && (!v2b || v2 < v2b))
		return "v2";
	if (!v2) {
		v2 = strstr(accept, "v=v2,");
		if (!v2) {
			const char *e = strstr(accept, "v=v2");
			if (e && e[4] != 'b')
				v2 = e;
		}
	}
	if (v2 && (!v2b || v2 < v2b))
		return "v2";
	return v2b ? "v2beta1" : NULL;
}

static void send_discovery(struct api_call *c, bool core)
{
	const char *agg =
		aggregated_accept(sm_http_req_header(c->req, "Accept"));
	json_t *doc;
	char ct[128];

	if (agg) {
		doc = api_discovery_aggregated(core, agg);
		snprintf(ct, sizeof(ct),
			 "application/"
			 "json;g=apidiscovery.k8s.io;v=%s;as="
			 "APIGroupDiscoveryList",
			 agg);
		api__send_json(c->resp, 200, doc, ct);
	} else {
		doc = core ? api_discovery_versions() : api_discovery_groups();
		api__send_json(c->resp, 200, doc, NULL);
	}
	json_decref(doc);
}

static void send_text(struct sm_http_resp *resp, int code, const char *ct,
		      const char *text)
{
	sm_http_resp_set_status(resp, code);
	sm_http_resp_add_header(resp, "Content-Type", ct);
	sm_http_resp_send(resp, text, strlen(text));
}

static void send_version(struct sm_http_resp *resp)
{
	json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			      "major", "1", "minor", "32", "gitVersion",
			      "v1.32.0-stuurman." STUURMAN_VERSION, "gitCommit",
			      "0000000000000000000000000000000000000000",
			      "gitTreeState", "clean", "buildDate",
			      "2026-01-01T00:00:00Z", "goVersion", "go1.23.0",
			      "compiler", "gc", "platform", "linux/amd64");

	api__send_json(resp, 200, v, NULL);
	json_decref(v);
}

static void send_metrics(struct apiserver *a, struct sm_http_resp *resp)
{
	struct sm_buf b = SM_BUF_INIT(1u << 20);
	size_t nr;
	const struct api_resource *all = api_resources(&nr);

	sm_buf_adds(&b, "# HELP apiserver_request_total Requests, by method "
			"(401 counts those turned away).\n"
			"# TYPE apiserver_request_total counter\n");
	for (size_t i = 0; i < a->nr_counters; i++)
		sm_buf_addf(&b,
			    "apiserver_request_total{verb=\"%s\"%s} %" PRIu64
			    "\n",
			    a->counters[i].method,
			    a->counters[i].code == 401 ? ",code=\"401\"" : "",
			    a->counters[i].n);
	sm_buf_adds(&b, "# HELP stuurman_store_objects Objects in the store, "
			"by kind.\n# TYPE stuurman_store_objects gauge\n");
	for (size_t i = 0; i < nr; i++)
		sm_buf_addf(&b, "stuurman_store_objects{kind=\"%s\"} %zu\n",
			    all[i].kind,
			    store_count(a->store, all[i].kind, NULL));
	sm_buf_addf(&b,
		    "# HELP stuurman_store_resource_version The last "
		    "resourceVersion written.\n"
		    "# TYPE stuurman_store_resource_version gauge\n"
		    "stuurman_store_resource_version %" PRIu64 "\n"
		    "# HELP apiserver_watchers Open watch streams.\n"
		    "# TYPE apiserver_watchers gauge\n"
		    "apiserver_watchers %zu\n",
		    store_rv(a->store), a->nr_watches);
	send_text(resp, 200, "text/plain; version=0.0.4", sm_buf_cstr(&b));
	sm_buf_release(&b);
}

/*
 * Counts a request by method, and apart those turned away for want of a
 * token (a handful of pairs).
 */
static void count(struct apiserver *a, const char *method, int code)
{
	for (size_t i = 0; i < a->nr_counters; i++)
		if (a->counters[i].code == code &&
		    !strcmp(a->counters[i].method, method)) {
			a->counters[i].n++;
			return;
		}
	if (a->nr_counters < API_MAX_COUNTERS) {
		struct api_counter *k = &a->counters[a->nr_counters++];

		snprintf(k->method, sizeof(k->method), "%s", method);
		k->code = code;
		k->n = 1;
	}
}

/* Non-resource paths. Returns false when path is none of them. */
static bool route_other(struct api_call *c, char **seg, size_t n)
{
	const char *p0 = n ? seg[0] : "";

	if (n == 1 && (!strcmp(p0, "healthz") || !strcmp(p0, "livez") ||
		       !strcmp(p0, "readyz"))) {
		send_text(c->resp, 200, "text/plain; charset=utf-8", "ok");
	} else if (n == 1 && !strcmp(p0, "version")) {
		send_version(c->resp);
	} else if (n == 1 && !strcmp(p0, "metrics")) {
		send_metrics(c->a, c->resp);
	} else if (n == 1 && !strcmp(p0, "api")) {
		send_discovery(c, true);
	} else if (n == 1 && !strcmp(p0, "apis")) {
		send_discovery(c, false);
	} else if (n == 2 && !strcmp(p0, "api")) {
		json_t *d = api_discovery_resources("", seg[1]);

		if (!d)
			return false;
		api__send_json(c->resp, 200, d, NULL);
		json_decref(d);
	} else if ((n == 2 || n == 3) && !strcmp(p0, "apis")) {
		json_t *d = n == 2 ? api_discovery_group(seg[1])
				   : api_discovery_resources(seg[1], seg[2]);

		if (!d)
			return false;
		api__send_json(c->resp, 200, d, NULL);
		json_decref(d);
	} else if (n == 2 && !strcmp(p0, "openapi") && !strcmp(seg[1], "v2")) {
		/*
		 * An empty schema: kubectl apply and create -f then validate
		 * nothing client-side and still build correct patches from
		 * their compiled-in types (see the reference, section 4).
		 */
		send_text(c->resp, 200, "application/octet-stream", "");
	} else {
		return false;
	}
	return true;
}

/* Whether a path may be read without a token, as Kubernetes allows. */
static bool is_public(const char *path)
{
	return !strcmp(path, "/healthz") || !strcmp(path, "/livez") ||
	       !strcmp(path, "/readyz") || !strcmp(path, "/version");
}

static void handle(void *ctx, const struct sm_http_req *req,
		   struct sm_http_resp *resp)
{
	struct apiserver *a = ctx;
	struct api_call c = { .a = a, .req = req, .resp = resp };
	char buf[2048];
	char *seg[MAX_SEGMENTS + 1];
	size_t n;

	c.user = a->authn ? a->authn(a->authn_ctx,
				     sm_http_req_header(req, "Authorization"))
			  : API_USER_ADMIN;
	if (a->extra && a->extra(a->extra_ctx, c.user, req, resp)) {
		count(a, req->method, 0);
		return;
	}
	bool denied = c.user == API_USER_NONE && !is_public(req->path);

	count(a, req->method, denied ? 401 : 0);
	if (denied) {
		api__send_status(resp, 401, "Unauthorized", NULL,
				 "Unauthorized: send \"Authorization: Bearer "
				 "TOKEN\" with the API token from the data "
				 "directory (over HTTPS)");
		return;
	}
	if (strlen(req->path) >= sizeof(buf)) {
		api__send_status(resp, 414, "RequestURITooLong", NULL,
				 "the request path is too long");
		return;
	}
	n = split_path(req->path, buf, sizeof(buf), seg, MAX_SEGMENTS);
	if (n <= MAX_SEGMENTS && route_resource(&c, seg, n)) {
		do_resource(&c);
		return;
	}
	if (n <= MAX_SEGMENTS && route_other(&c, seg, n))
		return;
	api__send_status(resp, 404, "NotFound", NULL,
			 "the server could not find the requested resource");
}

/* The server's own answers (413, 431, 400, 408) as Status objects. */
static const char *error_status(void *ctx, int status, const char *reason,
				struct sm_buf *body)
{
	static const struct {
		int code;
		const char *reason, *message;
	} map[] = {
		{ 413, "RequestEntityTooLarge",
		  "the request body is larger than the server accepts" },
		{ 431, "BadRequest", "the request headers are too large" },
		{ 408, "Timeout", "the request took too long to arrive" },
	};
	const char *r = "BadRequest", *msg = "the request could not be read";

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].code == status) {
			r = map[i].reason;
			msg = map[i].message;
		}
	json_t *st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind",
			       "Status", "apiVersion", "v1", "metadata",
			       "status", "Failure", "message", msg, "reason", r,
			       "code", status);
	char *text = json_dumps(st, JSON_COMPACT);

	sm_buf_adds(body, text);
	free(text);
	json_decref(st);
	return "application/json";
}

/*
 * The namespaces every cluster has, made at start when missing (as
 * Kubernetes' system namespaces controller does).
 */
static int ensure_namespaces(struct store *st, struct sm_err *err)
{
	static const char *const names[] = { "default", "kube-system",
					     "kube-public", "kube-node-lease" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (store_get(st, "Namespace", "", names[i]))
			continue;
		json_t *ns = json_pack("{s:s, s:s, s:{s:s}, s:{}, s:{s:s}}",
				       "apiVersion", "v1", "kind", "Namespace",
				       "metadata", "name", names[i], "spec",
				       "status", "phase", "Active");
		int rc = store_create(st, ns, NULL, NULL, NULL, err);

		json_decref(ns);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int apiserver_start(uv_loop_t *loop, const struct apiserver_opts *o,
		    struct apiserver **out, struct sm_err *err)
{
	struct apiserver *a = xcalloc(1, sizeof(*a));
	struct sm_http_server_opts ho = {
		.listen = o->listen,
		.max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY,
		.handler = handle,
		.ctx = a,
		.transport = o->transport,
		.tctx = o->tctx,
		.error_body = error_status,
	};
	int rc;

	a->loop = loop;
	a->store = o->store;
	a->authn = o->authn;
	a->authn_ctx = o->authn_ctx;
	a->extra = o->extra;
	a->extra_ctx = o->extra_ctx;
	a->clock = o->clock ? o->clock : &sm_clock_system;
	a->kubelet_token = o->kubelet_token ? xstrdup(o->kubelet_token) : NULL;
	rc = ensure_namespaces(a->store, err);
	if (rc == 0)
		rc = sm_http_server_start(loop, &ho, &a->http, err);
	if (rc < 0) {
		free(a->kubelet_token);
		free(a);
		return rc;
	}
	*out = a;
	return 0;
}

int apiserver_port(const struct apiserver *a)
{
	return sm_http_server_port(a->http);
}

int apiserver_feed(struct apiserver *a, const char *data, size_t len,
		   struct sm_buf *out)
{
	return sm_http_server_feed(a->http, data, len, out);
}

void apiserver_free(struct apiserver *a)
{
	if (!a)
		return;
	api__watch_stop_all(a);
	api__log_stop_all(a);
	sm_http_server_free(a->http);
	free(a);
}
