/*
 * test_endpoints.c: the endpoints controller on a memory-only store, with
 * a fake clock, driven to a standstill after each change (settle()).
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

#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/rand.h"
#include "reconciler/controller.h"
#include "reconciler/controllers.h"
#include "reconciler/store.h"
#include "tests/unit/reconciler/memstore.h"

#include "common/banned.h"

struct fixture {
	struct memstore m;
	struct ctl *ctl;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	memstore_open(&f->m);

	struct ctl_env e = memstore_env(&f->m);
	f->ctl = ctl_endpoints_new(&e);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ctl_free(f->ctl);
	memstore_close(&f->m);
	free(f);
	return 0;
}

static void settle(struct fixture *f)
{
	for (int round = 0; round < 200; round++) {
		size_t n;

		uv_run(&f->m.loop, UV_RUN_NOWAIT);
		n = controller_drain(ctl_queue(f->ctl));
		uv_run(&f->m.loop, UV_RUN_NOWAIT);
		if (!n && round > 2)
			return;
	}
	fail_msg("controller did not settle");
}

static json_t *parse(const char *json)
{
	json_error_t jerr;
	json_t *obj = json_loads(json, 0, &jerr);

	if (!obj)
		fail_msg("bad test json: %s", jerr.text);
	return obj;
}

static void create(struct fixture *f, const char *json)
{
	struct sm_err err = SM_ERR_INIT;
	json_t *obj = parse(json);

	if (store_create(f->m.store, obj, NULL, NULL, NULL, &err) < 0)
		fail_msg("create: %s", err.items[0].msg);
	json_decref(obj);
	sm_err_release(&err);
}

/* Replaces the stored object's main part with json (no resourceVersion). */
static void update(struct fixture *f, const char *json)
{
	struct sm_err err = SM_ERR_INIT;
	json_t *obj = parse(json);

	if (store_update(f->m.store, obj, STORE_MAIN, NULL, NULL, NULL, &err) <
	    0)
		fail_msg("update: %s", err.items[0].msg);
	json_decref(obj);
	sm_err_release(&err);
}

static void pod(struct fixture *f, const char *name, const char *app,
		const char *ip, bool ready)
{
	char json[1024];

	snprintf(json, sizeof(json),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
		 "\"name\":\"%s\",\"namespace\":\"default\",\"labels\":{"
		 "\"app\":\"%s\"}},\"spec\":{\"nodeName\":\"n1\","
		 "\"containers\":[{\"name\":\"main\",\"image\":\"nginx\","
		 "\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}]},"
		 "\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\","
		 "\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
		 name, app, ip, ready ? "True" : "False");
	create(f, json);
}

#define SVC(sel, target)                                                   \
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"       \
	"\"name\":\"web\",\"namespace\":\"default\",\"labels\":{\"tier\":" \
	"\"front\"}},\"spec\":{" sel "\"ports\":[{\"name\":\"http\","      \
	"\"port\":80,\"targetPort\":" target "}]}}"
#define SEL_WEB "\"selector\":{\"app\":\"web\"},"

static const json_t *endpoints(struct fixture *f)
{
	return store_get(f->m.store, "Endpoints", "default", "web");
}

static json_t *subset(struct fixture *f, size_t i)
{
	return json_array_get(json_object_get(endpoints(f), "subsets"), i);
}

static const char *ip_at(const json_t *s, const char *field, size_t i)
{
	return sm_json_get_str(json_array_get(json_object_get(s, field), i),
			       "ip");
}

static void
test_ready_pods_are_addresses_and_unready_ones_not_ready_addresses(void **state)
{
	struct fixture *f = *state;

	pod(f, "b", "web", "10.42.0.2", true);
	pod(f, "a", "web", "10.42.0.1", true);
	pod(f, "c", "web", "10.42.0.3", false);
	pod(f, "d", "web", "10.42.0.4", true);
	pod(f, "other", "db", "10.42.0.9", true);
	pod(f, "noip", "web", "", true);
	assert_int_equal(store_delete(f->m.store, "Pod", "default", "d", true,
				      30, NULL, NULL, NULL, NULL, NULL),
			 0);
	create(f, SVC(SEL_WEB, "8080"));
	settle(f);

	const json_t *ep = endpoints(f);
	assert_non_null(ep);
	assert_null(sm_json_get_path(ep, "metadata.ownerReferences"));
	assert_string_equal(
		sm_json_get_str(sm_json_get_path(ep, "metadata.labels"),
				"endpointslice.kubernetes.io/skip-mirror"),
		"true");
	assert_string_equal(
		sm_json_get_str(sm_json_get_path(ep, "metadata.labels"),
				"tier"),
		"front");
	assert_int_equal(json_array_size(json_object_get(ep, "subsets")), 1);
	json_t *s = subset(f, 0);
	assert_int_equal(json_array_size(json_object_get(s, "addresses")), 2);
	assert_string_equal(ip_at(s, "addresses", 0), "10.42.0.1");
	assert_string_equal(ip_at(s, "addresses", 1), "10.42.0.2");
	json_t *a0 = json_array_get(json_object_get(s, "addresses"), 0);
	assert_string_equal(sm_json_get_str(a0, "nodeName"), "n1");
	assert_string_equal(
		sm_json_get_str(json_object_get(a0, "targetRef"), "name"), "a");
	assert_string_equal(
		sm_json_get_str(json_object_get(a0, "targetRef"), "kind"),
		"Pod");
	assert_non_null(
		sm_json_get_str(json_object_get(a0, "targetRef"), "uid"));
	assert_int_equal(
		json_array_size(json_object_get(s, "notReadyAddresses")), 1);
	assert_string_equal(ip_at(s, "notReadyAddresses", 0), "10.42.0.3");
	json_t *p = json_array_get(json_object_get(s, "ports"), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "port")), 8080);
	assert_string_equal(sm_json_get_str(p, "name"), "http");
	assert_string_equal(sm_json_get_str(p, "protocol"), "TCP");

	/* Nothing changed: nothing is written. */
	uint64_t rv = store_obj_rv(endpoints(f));
	controller_queue(ctl_queue(f->ctl), "default/web");
	pod(f, "other2", "db", "10.42.0.10", true);
	settle(f);
	assert_int_equal(store_obj_rv(endpoints(f)), rv);

	/* c becomes ready: it moves over. */
	json_t *c =
		json_deep_copy(store_get(f->m.store, "Pod", "default", "c"));
	json_object_set_new(c, "status",
			    parse("{\"phase\":\"Running\",\"podIP\":"
				  "\"10.42.0.3\",\"conditions\":[{\"type\":"
				  "\"Ready\",\"status\":\"True\"}]}"));
	json_object_del(json_object_get(c, "metadata"), "resourceVersion");
	assert_int_equal(store_update(f->m.store, c, STORE_STATUS, NULL, NULL,
				      NULL, NULL),
			 0);
	json_decref(c);
	settle(f);
	s = subset(f, 0);
	assert_int_equal(json_array_size(json_object_get(s, "addresses")), 3);
	assert_null(json_object_get(s, "notReadyAddresses"));
	assert_true(store_obj_rv(endpoints(f)) > rv);
}

static void test_a_named_target_port_is_looked_up_in_each_pod(void **state)
{
	struct fixture *f = *state;

	pod(f, "a", "web", "10.42.0.1", true);
	/* b names its port differently: it is left out. */
	create(f, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
		  "\"name\":\"b\",\"namespace\":\"default\",\"labels\":{"
		  "\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":"
		  "\"main\",\"image\":\"nginx\",\"ports\":[{\"name\":\"web\","
		  "\"containerPort\":9090}]}]},\"status\":{\"phase\":"
		  "\"Running\",\"podIP\":\"10.42.0.2\",\"conditions\":[{"
		  "\"type\":\"Ready\",\"status\":\"True\"}]}}");
	create(f, SVC(SEL_WEB, "\"http\""));
	settle(f);
	json_t *s = subset(f, 0);
	assert_int_equal(
		json_array_size(json_object_get(endpoints(f), "subsets")), 1);
	assert_int_equal(json_array_size(json_object_get(s, "addresses")), 1);
	assert_string_equal(ip_at(s, "addresses", 0), "10.42.0.1");
	assert_int_equal(json_integer_value(sm_json_get_path(
				 json_array_get(json_object_get(s, "ports"), 0),
				 "port")),
			 8080);

	/* A Service port b can resolve: b gets a subset of its own. */
	update(f, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
		  "\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{"
		  "\"selector\":{\"app\":\"web\"},\"ports\":[{\"name\":"
		  "\"http\",\"port\":80,\"targetPort\":\"http\"},{\"name\":"
		  "\"alt\",\"port\":81,\"targetPort\":\"web\"}]}}");
	settle(f);
	assert_int_equal(
		json_array_size(json_object_get(endpoints(f), "subsets")), 2);
	/* Subsets sort by their ports: "alt" (b's) before "http" (a's). */
	s = subset(f, 0);
	assert_string_equal(ip_at(s, "addresses", 0), "10.42.0.2");
	assert_int_equal(json_integer_value(sm_json_get_path(
				 json_array_get(json_object_get(s, "ports"), 0),
				 "port")),
			 9090);
	assert_string_equal(ip_at(subset(f, 1), "addresses", 0), "10.42.0.1");
}

static void test_selector_and_label_changes_move_pods_in_and_out(void **state)
{
	struct fixture *f = *state;

	pod(f, "a", "web", "10.42.0.1", true);
	pod(f, "b", "api", "10.42.0.2", true);
	create(f, SVC(SEL_WEB, "8080"));
	settle(f);
	assert_string_equal(ip_at(subset(f, 0), "addresses", 0), "10.42.0.1");

	update(f, SVC("\"selector\":{\"app\":\"api\"},", "8080"));
	settle(f);
	assert_int_equal(
		json_array_size(json_object_get(subset(f, 0), "addresses")), 1);
	assert_string_equal(ip_at(subset(f, 0), "addresses", 0), "10.42.0.2");

	/* b's label changes: it leaves, and the Endpoints are empty. */
	json_t *b =
		json_deep_copy(store_get(f->m.store, "Pod", "default", "b"));
	json_object_set_new(sm_json_get_path(b, "metadata.labels"), "app",
			    json_string("other"));
	json_object_del(json_object_get(b, "metadata"), "resourceVersion");
	assert_int_equal(
		store_update(f->m.store, b, STORE_MAIN, NULL, NULL, NULL, NULL),
		0);
	json_decref(b);
	settle(f);
	assert_non_null(endpoints(f));
	assert_null(json_object_get(endpoints(f), "subsets"));
}

static void
test_a_deleted_service_takes_its_endpoints_but_selectorless_are_left(
	void **state)
{
	struct fixture *f = *state;

	pod(f, "a", "web", "10.42.0.1", true);
	create(f, SVC(SEL_WEB, "8080"));
	settle(f);
	assert_non_null(endpoints(f));
	assert_int_equal(store_delete(f->m.store, "Service", "default", "web",
				      false, 0, NULL, NULL, NULL, NULL, NULL),
			 0);
	settle(f);
	assert_null(endpoints(f));

	/* Without selector: the user's Endpoints stay as written. */
	create(f, "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":"
		  "{\"name\":\"web\",\"namespace\":\"default\"},\"subsets\":"
		  "[{\"addresses\":[{\"ip\":\"192.0.2.1\"}],\"ports\":[{"
		  "\"port\":80}]}]}");
	uint64_t rv = store_obj_rv(endpoints(f));
	create(f, SVC("", "8080"));
	settle(f);
	assert_non_null(endpoints(f));
	assert_int_equal(store_obj_rv(endpoints(f)), rv);
	assert_string_equal(ip_at(subset(f, 0), "addresses", 0), "192.0.2.1");
	assert_int_equal(store_delete(f->m.store, "Service", "default", "web",
				      false, 0, NULL, NULL, NULL, NULL, NULL),
			 0);
	settle(f);
	assert_non_null(endpoints(f));
}

static void test_a_service_losing_its_selector_loses_its_endpoints(void **state)
{
	struct fixture *f = *state;

	pod(f, "a", "web", "10.42.0.1", true);
	create(f, SVC(SEL_WEB, "8080"));
	settle(f);
	assert_non_null(endpoints(f));
	update(f, SVC("", "8080"));
	settle(f);
	assert_null(endpoints(f));
}

static int first(void *ctx, const json_t *obj)
{
	*(const json_t **)ctx = obj;
	return 0;
}

/* The only EndpointSlice in default (fails when there are more). */
static const json_t *slice(struct fixture *f)
{
	const json_t *es = NULL;

	if (store_count(f->m.store, "EndpointSlice", "default") > 1)
		fail_msg("more than one EndpointSlice");
	store_list(f->m.store, "EndpointSlice", "default", first, &es);
	return es;
}

static const json_t *slice_ep(struct fixture *f, size_t i)
{
	return json_array_get(json_object_get(slice(f), "endpoints"), i);
}

static bool cond(const json_t *ep, const char *c)
{
	return json_is_true(
		json_object_get(json_object_get(ep, "conditions"), c));
}

static void test_one_endpointslice_per_service_with_conditions(void **state)
{
	struct fixture *f = *state;

	pod(f, "a", "web", "10.42.0.1", true);
	pod(f, "c", "web", "10.42.0.3", false);
	pod(f, "d", "web", "10.42.0.4", true);
	assert_int_equal(store_delete(f->m.store, "Pod", "default", "d", true,
				      30, NULL, NULL, NULL, NULL, NULL),
			 0);
	create(f, SVC(SEL_WEB, "\"http\""));
	settle(f);

	const json_t *es = slice(f);
	const json_t *svc = store_get(f->m.store, "Service", "default", "web");
	assert_non_null(es);
	assert_int_equal(strlen(store_obj_name(es)), strlen("web-") + 5);
	assert_memory_equal(store_obj_name(es), "web-", 4);
	json_t *l = sm_json_get_path(es, "metadata.labels");
	assert_string_equal(sm_json_get_str(l, "kubernetes.io/service-name"),
			    "web");
	assert_string_equal(
		sm_json_get_str(l, "endpointslice.kubernetes.io/managed-by"),
		"endpointslice-controller.k8s.io");
	json_t *ref = json_array_get(
		sm_json_get_path(es, "metadata.ownerReferences"), 0);
	assert_string_equal(sm_json_get_str(ref, "kind"), "Service");
	assert_string_equal(
		sm_json_get_str(ref, "uid"),
		sm_json_get_str(json_object_get(svc, "metadata"), "uid"));
	assert_true(json_is_true(json_object_get(ref, "controller")));
	assert_string_equal(sm_json_get_str(es, "addressType"), "IPv4");
	json_t *p = json_array_get(json_object_get(es, "ports"), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "port")), 8080);
	assert_string_equal(sm_json_get_str(p, "name"), "http");
	assert_int_equal(json_array_size(json_object_get(es, "endpoints")), 3);

	const json_t *a = slice_ep(f, 0), *c = slice_ep(f, 1),
		     *d = slice_ep(f, 2);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(a, "addresses"), 0)),
			    "10.42.0.1");
	assert_true(cond(a, "ready") && cond(a, "serving"));
	assert_false(cond(a, "terminating"));
	assert_string_equal(sm_json_get_str(a, "nodeName"), "n1");
	assert_string_equal(
		sm_json_get_str(json_object_get(a, "targetRef"), "name"), "a");
	assert_false(cond(c, "ready") || cond(c, "serving") ||
		     cond(c, "terminating"));
	assert_false(cond(d, "ready"));
	assert_true(cond(d, "serving") && cond(d, "terminating"));

	/* Nothing changed: nothing is written. */
	uint64_t rv = store_obj_rv(slice(f));
	controller_queue(ctl_queue(f->ctl), "default/web");
	settle(f);
	assert_int_equal(store_obj_rv(slice(f)), rv);

	/* Gone with its Service. */
	assert_int_equal(store_delete(f->m.store, "Service", "default", "web",
				      false, 0, NULL, NULL, NULL, NULL, NULL),
			 0);
	settle(f);
	assert_null(slice(f));
}

static void
test_pods_with_hostname_and_this_subdomain_get_dns_hostnames(void **state)
{
	struct fixture *f = *state;
	char json[1024];
	const char *const names[] = { "web-0", "web-1", "loose" };
	const char *const subdomains[] = { "web", "web", "other" };

	for (int i = 0; i < 3; i++) {
		snprintf(json, sizeof(json),
			 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
			 "\"metadata\":{\"name\":\"%s\",\"namespace\":"
			 "\"default\",\"labels\":{\"app\":\"web\"}},"
			 "\"spec\":{\"nodeName\":\"n1\",\"hostname\":"
			 "\"%s\",\"subdomain\":\"%s\",\"containers\":[{"
			 "\"name\":\"main\",\"image\":\"nginx\"}]},"
			 "\"status\":{\"phase\":\"Running\",\"podIP\":"
			 "\"10.42.0.%d\",\"conditions\":[{\"type\":"
			 "\"Ready\",\"status\":\"%s\"}]}}",
			 names[i], names[i], subdomains[i], i + 1,
			 i == 1 ? "False" : "True");
		create(f, json);
	}
	create(f, SVC(SEL_WEB, "8080"));
	settle(f);

	json_t *s = subset(f, 0);
	json_t *a0 = json_array_get(json_object_get(s, "addresses"), 0);
	json_t *a1 = json_array_get(json_object_get(s, "addresses"), 1);
	json_t *nr = json_array_get(json_object_get(s, "notReadyAddresses"), 0);
	assert_string_equal(sm_json_get_str(a0, "hostname"), "web-0");
	assert_string_equal(sm_json_get_str(a0, "nodeName"), "n1");
	assert_string_equal(sm_json_get_str(nr, "hostname"), "web-1");
	/* Its subdomain names another Service: no name under this one. */
	assert_string_equal(ip_at(s, "addresses", 1), "10.42.0.3");
	assert_null(json_object_get(a1, "hostname"));

	assert_string_equal(sm_json_get_str(slice_ep(f, 0), "hostname"),
			    "web-0");
	assert_string_equal(sm_json_get_str(slice_ep(f, 1), "hostname"),
			    "web-1");
	assert_null(json_object_get(slice_ep(f, 2), "hostname"));
	assert_string_equal(sm_json_get_str(slice_ep(f, 2), "nodeName"), "n1");
}

static void
test_a_service_selecting_nothing_has_empty_endpoints_and_no_slice(void **state)
{
	struct fixture *f = *state;

	pod(f, "other", "db", "10.42.0.9", true);
	create(f, SVC(SEL_WEB, "8080"));
	settle(f);
	/* Endpoints without subsets (kubectl: <none>), and no slice. */
	assert_non_null(endpoints(f));
	assert_null(json_object_get(endpoints(f), "subsets"));
	assert_null(slice(f));

	/* A pod comes: a slice, whose unnamed port has the name "". */
	update(f, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
		  "{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{"
		  "\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80}]}}");
	pod(f, "a", "web", "10.42.0.1", true);
	settle(f);
	assert_non_null(slice(f));
	json_t *p = json_array_get(json_object_get(slice(f), "ports"), 0);
	assert_string_equal(sm_json_get_str(p, "name"), "");
	assert_int_equal(json_integer_value(json_object_get(p, "port")), 80);
	/* The Endpoints port stays without a name, as in Kubernetes. */
	assert_null(json_object_get(
		json_array_get(json_object_get(subset(f, 0), "ports"), 0),
		"name"));

	/* It goes: so does the slice. */
	assert_int_equal(store_delete(f->m.store, "Pod", "default", "a", false,
				      0, NULL, NULL, NULL, NULL, NULL),
			 0);
	settle(f);
	assert_null(slice(f));
	assert_null(json_object_get(endpoints(f), "subsets"));
}

static const json_t *lb_status(struct fixture *f, const char *name)
{
	return sm_json_get_path(
		store_get(f->m.store, "Service", "default", name),
		"status.loadBalancer");
}

static void
test_load_balancers_report_127_0_0_1_and_others_nothing(void **state)
{
	struct fixture *f = *state;

	create(f, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
		  "{\"name\":\"lb\",\"namespace\":\"default\"},\"spec\":{"
		  "\"type\":\"LoadBalancer\",\"selector\":{\"app\":\"web\"},"
		  "\"ports\":[{\"port\":80}]}}");
	/* Selectorless Services get their status too. */
	create(f, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
		  "{\"name\":\"plain\",\"namespace\":\"default\"},\"spec\":"
		  "{\"ports\":[{\"port\":80}]}}");
	settle(f);

	json_t *in = json_array_get(
		json_object_get(lb_status(f, "lb"), "ingress"), 0);
	assert_int_equal(
		json_array_size(json_object_get(lb_status(f, "lb"), "ingress")),
		1);
	assert_string_equal(sm_json_get_str(in, "ip"), "127.0.0.1");
	assert_string_equal(sm_json_get_str(in, "ipMode"), "VIP");
	assert_true(json_is_object(lb_status(f, "plain")));
	assert_int_equal(json_object_size(lb_status(f, "plain")), 0);

	/* Unchanged: not written again. */
	uint64_t rv =
		store_obj_rv(store_get(f->m.store, "Service", "default", "lb"));
	controller_queue(ctl_queue(f->ctl), "default/lb");
	settle(f);
	assert_int_equal(
		store_obj_rv(store_get(f->m.store, "Service", "default", "lb")),
		rv);

	/* No longer a LoadBalancer: the ingress goes. */
	update(f, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
		  "{\"name\":\"lb\",\"namespace\":\"default\"},\"spec\":{"
		  "\"type\":\"ClusterIP\",\"selector\":{\"app\":\"web\"},"
		  "\"ports\":[{\"port\":80}]}}");
	settle(f);
	assert_int_equal(json_object_size(lb_status(f, "lb")), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
		T(test_ready_pods_are_addresses_and_unready_ones_not_ready_addresses),
		T(test_a_named_target_port_is_looked_up_in_each_pod),
		T(test_selector_and_label_changes_move_pods_in_and_out),
		T(test_a_deleted_service_takes_its_endpoints_but_selectorless_are_left),
		T(test_a_service_losing_its_selector_loses_its_endpoints),
		T(test_one_endpointslice_per_service_with_conditions),
		T(test_pods_with_hostname_and_this_subdomain_get_dns_hostnames),
		T(test_a_service_selecting_nothing_has_empty_endpoints_and_no_slice),
		T(test_load_balancers_report_127_0_0_1_and_others_nothing),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
