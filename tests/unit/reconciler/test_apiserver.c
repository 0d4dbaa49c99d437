/*
 * test_apiserver.c: the API server over a memory-only store, through the
 * server's feed seam (whole requests, whole answers) and, for watches,
 * through a real loopback connection with the project's HTTP client.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/http_client.h"
#include "common/json.h"
#include "reconciler/apiserver.h"
#include "reconciler/store.h"
#include "reconciler/svcalloc.h"

#include "common/banned.h"

struct fixture {
	uv_loop_t loop;
	struct store *store;
	struct svcalloc alloc;
	struct apiserver *api;
	struct sm_http_client *client;
	int status;
	char content_type[256];
	json_t *body;
};

static enum api_user authn(void *ctx, const char *authorization)
{
	if (!authorization)
		return API_USER_NONE;
	if (!strcmp(authorization, "Bearer admin"))
		return API_USER_ADMIN;
	if (!strcmp(authorization, "Bearer node"))
		return API_USER_NODE;
	return API_USER_NONE;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	/* A short history, so that a watch from rv 1 is too old. */
	struct store_opts so = { .history = 4 };
	struct sm_err err = SM_ERR_INIT;
	struct apiserver_opts ao = { .listen = "127.0.0.1:0",
				     .authn = authn,
				     .max_body = 64 << 10 };

	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(store_open(&f->loop, &so, &f->store, &err), 0);
	assert_int_equal(svcalloc_init(&f->alloc, f->store, NULL, &err), 0);
	store_set_admit(f->store, svcalloc_admit, &f->alloc);
	ao.store = f->store;
	assert_int_equal(apiserver_start(&f->loop, &ao, &f->api, &err), 0);
	f->client = sm_http_client_new(&f->loop);
	sm_err_release(&err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	json_decref(f->body);
	sm_http_client_free(f->client);
	apiserver_free(f->api);
	store_free(f->store);
	while (uv_run(&f->loop, UV_RUN_NOWAIT))
		;
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

struct answer {
	struct fixture *f;
	bool done;
};

static void answered(void *ctx, const struct sm_http_response *r)
{
	struct answer *a = ctx;
	struct fixture *f = a->f;

	a->done = true;
	f->status = r->status;
	snprintf(f->content_type, sizeof(f->content_type), "%s",
		 r->content_type ? r->content_type : "");
	f->body = json_loads(r->body, 0, NULL);
	if (r->error)
		fail_msg("%s", r->error);
}

/*
 * Sends one request over loopback (token "admin" unless headers, lines
 * ending in CRLF, say otherwise) and puts the answer into f->status,
 * f->content_type and f->body (NULL when the body is not JSON).
 */
static void req(struct fixture *f, const char *method, const char *path,
		const char *headers, const char *body)
{
	char url[512], lines[1024];
	const char *h[8] = { NULL };
	size_t n = 0;
	char *save = NULL, *line;
	struct answer a = { f, false };

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s",
		 apiserver_port(f->api), path);
	snprintf(lines, sizeof(lines), "%s",
		 headers ? headers : "Authorization: Bearer admin\r\n");
	for (line = strtok_r(lines, "\r\n", &save); line && n < 7;
	     line = strtok_r(NULL, "\r\n", &save))
		h[n++] = line;
	struct sm_http_request_opts o = { .method = method,
					  .url = url,
					  .headers = h,
					  .body = body,
					  .body_len = body ? strlen(body) : 0,
					  .on_done = answered,
					  .ctx = &a };
	json_decref(f->body);
	f->body = NULL;
	f->status = 0;
	assert_int_equal(sm_http_request_start(f->client, &o, NULL), 0);
	while (!a.done)
		uv_run(&f->loop, UV_RUN_ONCE);
}

static const char *str_at(const json_t *j, const char *path)
{
	json_t *v = sm_json_get_path(j, path);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static long long int_at(const json_t *j, const char *path)
{
	json_t *v = sm_json_get_path(j, path);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

#define DEPLOY                                                              \
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":" \
	"{\"name\":\"web\",\"labels\":{\"app\":\"web\"}},\"spec\":{"        \
	"\"replicas\":2,"                                                   \
	"\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{"   \
	"\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"            \
	"\"containers\":"                                                   \
	"[{\"name\":\"main\",\"image\":\"busybox:1.36\"}]}}}}"

#define POD(name, labels)                                                 \
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":" \
	"\"" name "\",\"labels\":" labels                                 \
	"},\"spec\":{\"containers\":[{\"name\":"                          \
	"\"main\",\"image\":\"busybox:1.36\"}]}}"

static void test_version_reports_kubernetes_1_32_without_a_token(void **state)
{
	struct fixture *f = *state;

	req(f, "GET", "/version", "", NULL);
	assert_int_equal(f->status, 200);
	assert_string_equal(str_at(f->body, "major"), "1");
	assert_string_equal(str_at(f->body, "minor"), "32");
}

static void test_requests_without_a_token_get_401_as_a_status(void **state)
{
	struct fixture *f = *state;

	req(f, "GET", "/api/v1/namespaces/default/pods", "", NULL);
	assert_int_equal(f->status, 401);
	assert_string_equal(str_at(f->body, "kind"), "Status");
	assert_string_equal(str_at(f->body, "reason"), "Unauthorized");
	req(f, "GET", "/api/v1/pods", "Authorization: Bearer wrong\r\n", NULL);
	assert_int_equal(f->status, 401);
}

static void test_legacy_discovery_lists_resources_with_short_names(void **state)
{
	struct fixture *f = *state;
	json_t *r;
	size_t i;
	bool pods = false, scale = false;

	req(f, "GET", "/api", NULL, NULL);
	assert_int_equal(f->status, 200);
	assert_string_equal(str_at(f->body, "kind"), "APIVersions");
	req(f, "GET", "/api/v1", NULL, NULL);
	assert_int_equal(f->status, 200);
	json_array_foreach (json_object_get(f->body, "resources"), i, r) {
		if (!strcmp(str_at(r, "name"), "pods")) {
			pods = true;
			assert_string_equal(
				json_string_value(json_array_get(
					json_object_get(r, "shortNames"), 0)),
				"po");
		}
	}
	assert_true(pods);
	req(f, "GET", "/apis/apps/v1", NULL, NULL);
	assert_int_equal(f->status, 200);
	json_array_foreach (json_object_get(f->body, "resources"), i, r) {
		if (!strcmp(str_at(r, "name"), "deployments/scale")) {
			scale = true;
			assert_string_equal(str_at(r, "group"), "autoscaling");
			assert_string_equal(str_at(r, "kind"), "Scale");
		}
	}
	assert_true(scale);
	req(f, "GET", "/apis/nope/v1", NULL, NULL);
	assert_int_equal(f->status, 404);
}

static void
test_aggregated_discovery_answers_with_its_content_type(void **state)
{
	struct fixture *f = *state;

	req(f, "GET", "/apis",
	    "Authorization: Bearer admin\r\nAccept: "
	    "application/"
	    "json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
	    "application/"
	    "json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
	    "application/json\r\n",
	    NULL);
	assert_int_equal(f->status, 200);
	assert_non_null(strstr(f->content_type, "v=v2;"));
	assert_string_equal(str_at(f->body, "kind"), "APIGroupDiscoveryList");
	json_t *g = json_array_get(json_object_get(f->body, "items"), 0);
	assert_string_equal(str_at(g, "metadata.name"), "apps");
	req(f, "GET", "/api",
	    "Authorization: Bearer admin\r\nAccept: "
	    "application/"
	    "json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
	    "application/json\r\n",
	    NULL);
	assert_non_null(strstr(f->content_type, "v=v2beta1"));
	assert_string_equal(str_at(f->body, "apiVersion"),
			    "apidiscovery.k8s.io/v2beta1");
}

static void test_create_fills_server_fields_and_answers_201(void **state)
{
	struct fixture *f = *state;

	req(f, "POST", "/apis/apps/v1/namespaces/default/deployments", NULL,
	    DEPLOY);
	assert_int_equal(f->status, 201);
	assert_string_equal(str_at(f->body, "metadata.namespace"), "default");
	assert_non_null(str_at(f->body, "metadata.uid"));
	assert_non_null(str_at(f->body, "metadata.resourceVersion"));
	assert_int_equal(int_at(f->body, "metadata.generation"), 1);
	/* Defaults come from manifests/. */
	assert_string_equal(str_at(f->body, "spec.strategy.type"),
			    "RollingUpdate");
	req(f, "GET", "/apis/apps/v1/namespaces/default/deployments/web", NULL,
	    NULL);
	assert_int_equal(f->status, 200);
	assert_int_equal(int_at(f->body, "spec.replicas"), 2);
}

static void test_create_of_an_existing_name_is_409_already_exists(void **state)
{
	struct fixture *f = *state;

	req(f, "POST", "/apis/apps/v1/namespaces/default/deployments", NULL,
	    DEPLOY);
	req(f, "POST", "/apis/apps/v1/namespaces/default/deployments", NULL,
	    DEPLOY);
	assert_int_equal(f->status, 409);
	assert_string_equal(str_at(f->body, "reason"), "AlreadyExists");
	assert_string_equal(str_at(f->body, "message"),
			    "deployments.apps \"web\" already exists");
}

static void test_invalid_objects_get_422_with_field_causes(void **state)
{
	struct fixture *f = *state;

	req(f, "POST", "/apis/apps/v1/namespaces/default/deployments", NULL,
	    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":"
	    "{\"name\":\"web\"},\"spec\":{\"replicas\":\"three\",\"selector\":"
	    "{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":"
	    "{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{"
	    "\"name\":\"main\",\"image\":\"busybox\"}]}}}}");
	assert_int_equal(f->status, 422);
	assert_string_equal(str_at(f->body, "reason"), "Invalid");
	json_t *cause =
		json_array_get(sm_json_get_path(f->body, "details.causes"), 0);
	assert_non_null(cause);
	assert_string_equal(str_at(cause, "field"), "spec.replicas");
	assert_non_null(strstr(str_at(f->body, "message"),
			       "Deployment.apps \"web\" is invalid"));
}

static void test_missing_objects_and_namespaces_are_404(void **state)
{
	struct fixture *f = *state;

	req(f, "GET", "/api/v1/namespaces/default/pods/nope", NULL, NULL);
	assert_int_equal(f->status, 404);
	assert_string_equal(str_at(f->body, "message"),
			    "pods \"nope\" not found");
	assert_string_equal(str_at(f->body, "details.kind"), "pods");
	req(f, "POST", "/api/v1/namespaces/nowhere/pods", NULL, POD("a", "{}"));
	assert_int_equal(f->status, 404);
	assert_string_equal(str_at(f->body, "message"),
			    "namespaces \"nowhere\" not found");
	req(f, "GET", "/api/v2/pods", NULL, NULL);
	assert_int_equal(f->status, 404);
}

static void test_an_update_with_a_stale_resource_version_is_409(void **state)
{
	struct fixture *f = *state;
	char body[2048];

	req(f, "POST", "/apis/apps/v1/namespaces/default/deployments", NULL,
	    DEPLOY);
	json_t *obj = json_deep_copy(f->body);
	json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion",
			    json_string("1"));
	char *text = json_dumps(obj, JSON_COMPACT);
	snprintf(body, sizeof(body), "%s", text);
	free(text);
	json_decref(obj);
	req(f, "PUT", "/apis/apps/v1/namespaces/default/deployments/web", NULL,
	    body);
	assert_int_equal(f->status, 409);
	assert_string_equal(str_at(f->body, "reason"), "Conflict");
}

static void test_scale_patch_sets_replicas_and_answers_a_scale(void **state)
{
	struct fixture *f = *state;

	req(f, "POST", "/apis/apps/v1/namespaces/default/deployments", NULL,
	    DEPLOY);
	req(f, "PATCH",
	    "/apis/apps/v1/namespaces/default/deployments/web/scale",
	    "Authorization: Bearer admin\r\nContent-Type: "
	    "application/merge-patch+json\r\n",
	    "{\"spec\":{\"replicas\":5}}");
	assert_int_equal(f->status, 200);
	assert_string_equal(str_at(f->body, "kind"), "Scale");
	assert_string_equal(str_at(f->body, "apiVersion"), "autoscaling/v1");
	assert_int_equal(int_at(f->body, "spec.replicas"), 5);
	assert_string_equal(str_at(f->body, "status.selector"), "app=web");
	req(f, "GET", "/apis/apps/v1/namespaces/default/deployments/web", NULL,
	    NULL);
	assert_int_equal(int_at(f->body, "spec.replicas"), 5);
	assert_int_equal(int_at(f->body, "metadata.generation"), 2);
	/* PUT without a Content-Type, as kubectl scale --current-replicas. */
	req(f, "PUT", "/apis/apps/v1/namespaces/default/deployments/web/scale",
	    NULL,
	    "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/"
	    "v1\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},"
	    "\"spec\":{\"replicas\":1}}");
	assert_int_equal(f->status, 200);
	assert_int_equal(int_at(f->body, "spec.replicas"), 1);
}

static void test_list_filters_by_label_and_field_selectors(void **state)
{
	struct fixture *f = *state;

	req(f, "POST", "/api/v1/namespaces/default/pods", NULL,
	    POD("a", "{\"app\":\"web\"}"));
	assert_int_equal(f->status, 201);
	req(f, "POST", "/api/v1/namespaces/default/pods", NULL,
	    POD("b", "{\"app\":\"db\"}"));
	req(f, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb",
	    NULL, NULL);
	assert_int_equal(f->status, 200);
	assert_string_equal(str_at(f->body, "kind"), "PodList");
	assert_int_equal(json_array_size(json_object_get(f->body, "items")), 1);
	req(f, "GET", "/api/v1/pods?fieldSelector=metadata.name%3Db", NULL,
	    NULL);
	assert_int_equal(json_array_size(json_object_get(f->body, "items")), 1);
	assert_string_equal(
		str_at(json_array_get(json_object_get(f->body, "items"), 0),
		       "metadata.name"),
		"b");
	req(f, "GET", "/api/v1/pods?labelSelector=app+in+(", NULL, NULL);
	assert_int_equal(f->status, 400);
}

static void test_kubectl_get_gets_a_table_with_kubernetes_columns(void **state)
{
	struct fixture *f = *state;
	const char *accept =
		"Authorization: Bearer admin\r\nAccept: "
		"application/json;as=Table;v=v1;g=meta.k8s.io,application/"
		"json;as=Table;v=v1beta1;g=meta.k8s.io,application/json\r\n";

	req(f, "POST", "/api/v1/namespaces/default/pods", NULL,
	    POD("a", "{\"app\":\"web\"}"));
	req(f, "GET", "/api/v1/namespaces/default/pods", accept, NULL);
	assert_int_equal(f->status, 200);
	assert_string_equal(str_at(f->body, "kind"), "Table");
	json_t *defs = json_object_get(f->body, "columnDefinitions");
	assert_string_equal(str_at(json_array_get(defs, 0), "name"), "Name");
	assert_string_equal(str_at(json_array_get(defs, 2), "name"), "Status");
	json_t *row = json_array_get(json_object_get(f->body, "rows"), 0);
	json_t *cells = json_object_get(row, "cells");
	assert_string_equal(json_string_value(json_array_get(cells, 0)), "a");
	assert_string_equal(json_string_value(json_array_get(cells, 1)), "0/1");
	assert_string_equal(json_string_value(json_array_get(cells, 2)),
			    "Pending");
	assert_string_equal(str_at(row, "object.metadata.labels.app"), "web");
	req(f, "GET", "/api/v1/namespaces/default/pods/a", accept, NULL);
	assert_int_equal(json_array_size(json_object_get(f->body, "rows")), 1);
}

static void test_a_service_table_shows_external_ips_as_kubectl(void **state)
{
	struct fixture *f = *state;
	const char *accept = "Authorization: Bearer admin\r\nAccept: "
			     "application/json;as=Table;v=v1;g=meta.k8s.io\r\n";
	const char *want[][2] = { { "lb", "<pending>" },
				  { "np", "<none>" },
				  { "xn", "db.example.org" } };
	json_t *rows;

	req(f, "POST", "/api/v1/namespaces/default/services", NULL,
	    "{\"metadata\":{\"name\":\"lb\"},\"spec\":{\"type\":"
	    "\"LoadBalancer\",\"ports\":[{\"port\":80}]}}");
	assert_int_equal(f->status, 201);
	req(f, "POST", "/api/v1/namespaces/default/services", NULL,
	    "{\"metadata\":{\"name\":\"np\"},\"spec\":{\"type\":"
	    "\"NodePort\",\"ports\":[{\"port\":80}]}}");
	assert_int_equal(f->status, 201);
	req(f, "POST", "/api/v1/namespaces/default/services", NULL,
	    "{\"metadata\":{\"name\":\"xn\"},\"spec\":{\"type\":"
	    "\"ExternalName\",\"externalName\":\"db.example.org\"}}");
	assert_int_equal(f->status, 201);
	req(f, "GET", "/api/v1/namespaces/default/services", accept, NULL);
	assert_int_equal(f->status, 200);
	assert_string_equal(
		str_at(json_array_get(
			       json_object_get(f->body, "columnDefinitions"),
			       3),
		       "name"),
		"External-IP");
	rows = json_object_get(f->body, "rows");
	assert_int_equal(json_array_size(rows), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *cells =
			json_object_get(json_array_get(rows, i), "cells");

		assert_string_equal(json_string_value(json_array_get(cells, 0)),
				    want[i][0]);
		assert_string_equal(json_string_value(json_array_get(cells, 3)),
				    want[i][1]);
	}
}

static void test_an_oversized_body_is_413_as_a_status(void **state)
{
	struct fixture *f = *state;
	char *big = calloc(1, 100 << 10);

	memset(big, ' ', (100 << 10) - 1);
	big[0] = '{';
	big[(100 << 10) - 2] = '}';
	req(f, "POST", "/api/v1/namespaces/default/configmaps", NULL, big);
	assert_int_equal(f->status, 413);
	assert_string_equal(str_at(f->body, "kind"), "Status");
	assert_string_equal(str_at(f->body, "reason"), "RequestEntityTooLarge");
	free(big);
}

static void test_binding_sets_the_node_once(void **state)
{
	struct fixture *f = *state;
	const char *bind = "{\"apiVersion\":\"v1\",\"kind\":\"Binding\","
			   "\"metadata\":{\"name\":\"a\"},\"target\":{"
			   "\"kind\":\"Node\",\"name\":\"node-1\"}}";

	req(f, "POST", "/api/v1/namespaces/default/pods", NULL, POD("a", "{}"));
	req(f, "POST", "/api/v1/namespaces/default/pods/a/binding", NULL, bind);
	assert_int_equal(f->status, 201);
	req(f, "GET", "/api/v1/namespaces/default/pods/a", NULL, NULL);
	assert_string_equal(str_at(f->body, "spec.nodeName"), "node-1");
	assert_string_equal(
		str_at(json_array_get(
			       sm_json_get_path(f->body, "status.conditions"),
			       0),
		       "type"),
		"PodScheduled");
	req(f, "POST", "/api/v1/namespaces/default/pods/a/binding", NULL, bind);
	assert_int_equal(f->status, 409);
}

static void
test_deleting_a_bound_pod_marks_it_and_an_unbound_one_goes(void **state)
{
	struct fixture *f = *state;

	req(f, "POST", "/api/v1/namespaces/default/pods", NULL, POD("a", "{}"));
	req(f, "POST", "/api/v1/namespaces/default/pods", NULL, POD("b", "{}"));
	req(f, "POST", "/api/v1/namespaces/default/pods/a/binding", NULL,
	    "{\"target\":{\"name\":\"node-1\"}}");
	req(f, "DELETE", "/api/v1/namespaces/default/pods/a", NULL,
	    "{\"propagationPolicy\":\"Background\"}");
	assert_int_equal(f->status, 200);
	assert_non_null(str_at(f->body, "metadata.deletionTimestamp"));
	req(f, "GET", "/api/v1/namespaces/default/pods/a", NULL, NULL);
	assert_int_equal(f->status, 200);
	/* --force --grace-period=0 removes it. */
	req(f, "DELETE", "/api/v1/namespaces/default/pods/a", NULL,
	    "{\"gracePeriodSeconds\":0}");
	req(f, "GET", "/api/v1/namespaces/default/pods/a", NULL, NULL);
	assert_int_equal(f->status, 404);
	req(f, "DELETE", "/api/v1/namespaces/default/pods/b", NULL, NULL);
	assert_int_equal(f->status, 200);
	req(f, "GET", "/api/v1/namespaces/default/pods/b", NULL, NULL);
	assert_int_equal(f->status, 404);
}

static void test_the_default_namespace_may_not_be_deleted(void **state)
{
	struct fixture *f = *state;

	req(f, "DELETE", "/api/v1/namespaces/default", NULL, NULL);
	assert_int_equal(f->status, 403);
	req(f, "GET", "/api/v1/namespaces/default", NULL, NULL);
	assert_int_equal(f->status, 200);
}

static void test_a_node_token_may_not_write_deployments(void **state)
{
	struct fixture *f = *state;

	req(f, "POST", "/apis/apps/v1/namespaces/default/deployments",
	    "Authorization: Bearer node\r\n", DEPLOY);
	assert_int_equal(f->status, 403);
	req(f, "POST", "/api/v1/namespaces/default/pods",
	    "Authorization: Bearer node\r\n", POD("a", "{}"));
	assert_int_equal(f->status, 201);
}

static void test_a_node_token_may_read_endpointslices_and_nodes(void **state)
{
	struct fixture *f = *state;

	req(f, "GET", "/apis/discovery.k8s.io/v1/endpointslices",
	    "Authorization: Bearer node\r\n", NULL);
	assert_int_equal(f->status, 200);
	req(f, "GET", "/api/v1/nodes", "Authorization: Bearer node\r\n", NULL);
	assert_int_equal(f->status, 200);
	req(f, "POST",
	    "/apis/discovery.k8s.io/v1/namespaces/default/"
	    "endpointslices",
	    "Authorization: Bearer node\r\n",
	    "{\"metadata\":{\"name\":\"x\"},\"addressType\":\"IPv4\","
	    "\"endpoints\":[]}");
	assert_int_equal(f->status, 403);
}

#define NODEPORT_SVC(name, np)                                       \
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{" \
	"\"name\":\"" name "\"},\"spec\":{\"type\":\"NodePort\","    \
	"\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80,"    \
	"\"nodePort\":" #np "}]}}"

static void test_a_taken_node_port_is_422_naming_its_holder(void **state)
{
	struct fixture *f = *state;
	json_t *cause;

	req(f, "POST", "/api/v1/namespaces/default/services", NULL,
	    NODEPORT_SVC("other", 30080));
	assert_int_equal(f->status, 201);
	assert_string_equal(str_at(f->body, "spec.clusterIP"), "10.96.0.2");
	/* As Kubernetes answers a create: an empty load balancer status. */
	assert_true(json_is_object(
		sm_json_get_path(f->body, "status.loadBalancer")));
	req(f, "POST", "/api/v1/namespaces/default/services", NULL,
	    NODEPORT_SVC("web", 30080));
	assert_int_equal(f->status, 422);
	assert_string_equal(str_at(f->body, "reason"), "Invalid");
	assert_string_equal(str_at(f->body, "message"),
			    "Service \"web\" is invalid: "
			    "spec.ports[0].nodePort: Invalid value: 30080: "
			    "provided port is already allocated (Service "
			    "default/other holds it)");
	/* What kubectl prints: The Service "web" is invalid: field: msg. */
	assert_string_equal(str_at(f->body, "details.kind"), "Service");
	assert_string_equal(str_at(f->body, "details.name"), "web");
	cause = json_array_get(sm_json_get_path(f->body, "details.causes"), 0);
	assert_string_equal(str_at(cause, "field"), "spec.ports[0].nodePort");
	assert_string_equal(str_at(cause, "reason"), "FieldValueInvalid");
	assert_string_equal(str_at(cause, "message"),
			    "Invalid value: 30080: provided port is already "
			    "allocated (Service default/other holds it)");
}

static void test_a_patch_to_cluster_ip_drops_the_node_ports(void **state)
{
	struct fixture *f = *state;

	req(f, "POST", "/api/v1/namespaces/default/services", NULL,
	    NODEPORT_SVC("web", 0));
	assert_int_equal(f->status, 201);
	assert_int_equal(
		int_at(json_array_get(sm_json_get_path(f->body, "spec.ports"),
				      0),
		       "nodePort"),
		30000);
	req(f, "PATCH", "/api/v1/namespaces/default/services/web",
	    "Authorization: Bearer admin\r\nContent-Type: "
	    "application/merge-patch+json\r\n",
	    "{\"spec\":{\"type\":\"ClusterIP\"}}");
	assert_int_equal(f->status, 200);
	assert_int_equal(
		int_at(json_array_get(sm_json_get_path(f->body, "spec.ports"),
				      0),
		       "nodePort"),
		-1);
	assert_string_equal(str_at(f->body, "spec.clusterIP"), "10.96.0.2");
}

static void test_service_rows_show_cluster_and_load_balancer_ips(void **state)
{
	struct fixture *f = *state;
	const char *accept = "Authorization: Bearer admin\r\nAccept: "
			     "application/json;as=Table;v=v1;g=meta.k8s.io\r\n";
	json_t *cells;

	req(f, "POST", "/api/v1/namespaces/default/services", NULL,
	    "{\"metadata\":{\"name\":\"lb\"},\"spec\":{\"type\":"
	    "\"LoadBalancer\",\"ports\":[{\"port\":80}]}}");
	assert_int_equal(f->status, 201);
	req(f, "GET", "/api/v1/namespaces/default/services/lb", accept, NULL);
	cells = sm_json_get_path(
		json_array_get(json_object_get(f->body, "rows"), 0), "cells");
	/* NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) */
	assert_string_equal(json_string_value(json_array_get(cells, 2)),
			    "10.96.0.2");
	assert_string_equal(json_string_value(json_array_get(cells, 3)),
			    "<pending>");
	assert_string_equal(json_string_value(json_array_get(cells, 4)),
			    "80:30000/TCP");
	req(f, "PUT", "/api/v1/namespaces/default/services/lb/status", NULL,
	    "{\"metadata\":{\"name\":\"lb\"},\"status\":{\"loadBalancer\":"
	    "{\"ingress\":[{\"ip\":\"127.0.0.1\",\"ipMode\":\"VIP\"}]}}}");
	assert_int_equal(f->status, 200);
	req(f, "GET", "/api/v1/namespaces/default/services/lb", accept, NULL);
	cells = sm_json_get_path(
		json_array_get(json_object_get(f->body, "rows"), 0), "cells");
	assert_string_equal(json_string_value(json_array_get(cells, 3)),
			    "127.0.0.1");
}

static void test_merge_and_strategic_patches_change_the_object(void **state)
{
	struct fixture *f = *state;

	req(f, "POST", "/apis/apps/v1/namespaces/default/deployments", NULL,
	    DEPLOY);
	req(f, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
	    "Authorization: Bearer admin\r\nContent-Type: "
	    "application/strategic-merge-patch+json\r\n",
	    "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":"
	    "\"main\",\"image\":\"busybox:2\"}]}}}}");
	assert_int_equal(f->status, 200);
	assert_string_equal(
		str_at(json_array_get(sm_json_get_path(
					      f->body,
					      "spec.template.spec.containers"),
				      0),
		       "image"),
		"busybox:2");
	req(f, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
	    "Authorization: Bearer admin\r\nContent-Type: "
	    "application/merge-patch+json\r\n",
	    "{\"metadata\":{\"labels\":{\"tier\":\"front\"}}}");
	assert_int_equal(f->status, 200);
	assert_string_equal(str_at(f->body, "metadata.labels.tier"), "front");
	req(f, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
	    "Authorization: Bearer admin\r\nContent-Type: "
	    "application/apply-patch+yaml\r\n",
	    "{}");
	assert_int_equal(f->status, 415);
}

/* ---- watches, over a real connection ---- */

struct watch_client {
	struct sm_buf got;
	int status;
	bool done;
};

static int on_data(void *ctx, int status, const char *data, size_t len)
{
	struct watch_client *w = ctx;

	w->status = status;
	sm_buf_add(&w->got, data, len);
	return 0;
}

static void on_done(void *ctx, const struct sm_http_response *r)
{
	struct watch_client *w = ctx;

	if (r->status)
		w->status = r->status;
	w->done = true;
}

static void run_until(struct fixture *f, struct watch_client *w,
		      const char *needle)
{
	for (int i = 0;
	     i < 2000 && !strstr(sm_buf_cstr(&w->got), needle) && !w->done; i++)
		uv_run(&f->loop, UV_RUN_ONCE);
}

static void
test_watch_sends_initial_state_then_changes_and_times_out(void **state)
{
	struct fixture *f = *state;
	struct sm_http_client *hc = sm_http_client_new(&f->loop);
	struct watch_client w = { .got = SM_BUF_INIT(SM_BUF_UNBOUNDED) };
	const char *headers[] = { "Authorization: Bearer admin", NULL };
	char url[256];

	req(f, "POST", "/api/v1/namespaces/default/pods", NULL,
	    POD("a", "{\"app\":\"web\"}"));
	snprintf(url, sizeof(url),
		 "http://127.0.0.1:%d/api/v1/namespaces/default/"
		 "pods?watch=true&labelSelector=app%%3Dweb&timeoutSeconds=2",
		 apiserver_port(f->api));
	struct sm_http_request_opts o = { .url = url,
					  .headers = headers,
					  .on_data = on_data,
					  .on_done = on_done,
					  .ctx = &w };
	assert_int_equal(sm_http_request_start(hc, &o, NULL), 0);
	run_until(f, &w, "\"ADDED\"");
	assert_non_null(strstr(sm_buf_cstr(&w.got), "\"name\":\"a\""));
	/* A pod that starts matching is ADDED; one that stops, DELETED. */
	req(f, "POST", "/api/v1/namespaces/default/pods", NULL,
	    POD("b", "{\"app\":\"db\"}"));
	req(f, "PATCH", "/api/v1/namespaces/default/pods/b",
	    "Authorization: Bearer admin\r\nContent-Type: "
	    "application/merge-patch+json\r\n",
	    "{\"metadata\":{\"labels\":{\"app\":\"web\"}}}");
	run_until(f, &w, "\"name\":\"b\"");
	req(f, "PATCH", "/api/v1/namespaces/default/pods/a",
	    "Authorization: Bearer admin\r\nContent-Type: "
	    "application/merge-patch+json\r\n",
	    "{\"metadata\":{\"labels\":{\"app\":\"other\"}}}");
	run_until(f, &w, "\"DELETED\"");
	/* timeoutSeconds ends the stream cleanly. */
	while (!w.done)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(w.status, 200);
	const char *text = sm_buf_cstr(&w.got);
	const char *added_b = strstr(text, "{\"type\":\"ADDED\",\"object\":{");
	assert_non_null(added_b);
	assert_non_null(strstr(text, "\"DELETED\""));
	assert_null(strstr(text, "\"name\":\"b\",\"namespace\":\"default\","
				 "\"labels\":{\"app\":\"db\"}"));
	sm_buf_release(&w.got);
	sm_http_client_free(hc);
}

static void test_watch_from_a_resource_version_too_old_is_410(void **state)
{
	struct fixture *f = *state;
	struct sm_http_client *hc = sm_http_client_new(&f->loop);
	struct watch_client w = { .got = SM_BUF_INIT(SM_BUF_UNBOUNDED) };
	const char *headers[] = { "Authorization: Bearer admin", NULL };
	char url[256];

	/* Five pods through a history of four: rv 1 is too old for pods. */
	req(f, "POST", "/api/v1/namespaces/default/pods", NULL, POD("a", "{}"));
	req(f, "POST", "/api/v1/namespaces/default/pods", NULL, POD("b", "{}"));
	req(f, "POST", "/api/v1/namespaces/default/pods", NULL, POD("c", "{}"));
	req(f, "POST", "/api/v1/namespaces/default/pods", NULL, POD("d", "{}"));
	req(f, "POST", "/api/v1/namespaces/default/pods", NULL, POD("e", "{}"));
	snprintf(url, sizeof(url),
		 "http://127.0.0.1:%d/api/v1/pods?watch=1&resourceVersion=1",
		 apiserver_port(f->api));
	struct sm_http_request_opts o = { .url = url,
					  .headers = headers,
					  .on_data = on_data,
					  .on_done = on_done,
					  .ctx = &w };
	assert_int_equal(sm_http_request_start(hc, &o, NULL), 0);
	run_until(f, &w, "\"ERROR\"");
	while (!w.done)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(w.status, 200);
	assert_non_null(strstr(sm_buf_cstr(&w.got), "\"code\":410"));
	assert_non_null(strstr(sm_buf_cstr(&w.got), "\"reason\":\"Expired\""));
	sm_buf_release(&w.got);
	sm_http_client_free(hc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
		T(test_version_reports_kubernetes_1_32_without_a_token),
		T(test_requests_without_a_token_get_401_as_a_status),
		T(test_legacy_discovery_lists_resources_with_short_names),
		T(test_aggregated_discovery_answers_with_its_content_type),
		T(test_create_fills_server_fields_and_answers_201),
		T(test_create_of_an_existing_name_is_409_already_exists),
		T(test_invalid_objects_get_422_with_field_causes),
		T(test_missing_objects_and_namespaces_are_404),
		T(test_an_update_with_a_stale_resource_version_is_409),
		T(test_scale_patch_sets_replicas_and_answers_a_scale),
		T(test_list_filters_by_label_and_field_selectors),
		T(test_kubectl_get_gets_a_table_with_kubernetes_columns),
		T(test_a_service_table_shows_external_ips_as_kubectl),
		T(test_an_oversized_body_is_413_as_a_status),
		T(test_binding_sets_the_node_once),
		T(test_deleting_a_bound_pod_marks_it_and_an_unbound_one_goes),
		T(test_the_default_namespace_may_not_be_deleted),
		T(test_a_node_token_may_not_write_deployments),
		T(test_a_node_token_may_read_endpointslices_and_nodes),
		T(test_a_taken_node_port_is_422_naming_its_holder),
		T(test_a_patch_to_cluster_ip_drops_the_node_ports),
		T(test_service_rows_show_cluster_and_load_balancer_ips),
		T(test_merge_and_strategic_patches_change_the_object),
		T(test_watch_sends_initial_state_then_changes_and_times_out),
		T(test_watch_from_a_resource_version_too_old_is_410),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
