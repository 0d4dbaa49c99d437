/*
 * test_svcalloc.c: the store's admission hook and the Service admitter
 * (virtual IPs and node ports) on a memory-only store.
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

#include "common/err.h"
#include "common/json.h"
#include "reconciler/store.h"
#include "reconciler/svcalloc.h"
#include "reconciler/sync.h"

#include "common/banned.h"

struct fixture {
	uv_loop_t loop;
	struct store *store;
	struct svcalloc alloc;
	struct sm_err err;
};

static int setup_cidr(void **state, const char *cidr)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_opts so = { 0 };
	struct sm_err err = SM_ERR_INIT;

	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(store_open(&f->loop, &so, &f->store, &err), 0);
	assert_int_equal(svcalloc_init(&f->alloc, f->store, cidr, &err), 0);
	store_set_admit(f->store, svcalloc_admit, &f->alloc);
	sm_err_release(&err);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_cidr(state, NULL);
}

static int setup_small(void **state)
{
	/* 16 addresses: .0, .1, .10 and .15 reserved, 12 to give. */
	return setup_cidr(state, "10.100.0.0/28");
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_free(f->store);
	while (uv_run(&f->loop, UV_RUN_NOWAIT))
		;
	assert_int_equal(uv_loop_close(&f->loop), 0);
	sm_err_release(&f->err);
	free(f);
	return 0;
}

static json_t *parse(const char *json)
{
	json_error_t jerr;
	json_t *obj = json_loads(json, 0, &jerr);

	if (!obj)
		fail_msg("bad test json: %s", jerr.text);
	return obj;
}

/* The first error message of the last failed write ("" if none). */
static const char *msg(struct fixture *f)
{
	return f->err.nr ? f->err.items[f->err.nr - 1].msg : "";
}

/* Creates json; returns the store's code (message in f->err). */
static int create(struct fixture *f, const char *json)
{
	json_t *obj = parse(json);
	int rc;

	sm_err_release(&f->err);
	rc = store_create(f->store, obj, NULL, NULL, NULL, &f->err);
	json_decref(obj);
	return rc;
}

static int update(struct fixture *f, const char *json)
{
	json_t *obj = parse(json);
	int rc;

	sm_err_release(&f->err);
	rc = store_update(f->store, obj, STORE_MAIN, NULL, NULL, NULL, &f->err);
	json_decref(obj);
	return rc;
}

static const json_t *svc(struct fixture *f, const char *ns, const char *name)
{
	const json_t *s = store_get(f->store, "Service", ns, name);

	assert_non_null(s);
	return s;
}

static const char *cluster_ip(struct fixture *f, const char *name)
{
	return sm_json_get_str(json_object_get(svc(f, "default", name), "spec"),
			       "clusterIP");
}

static json_int_t node_port(struct fixture *f, const char *name, size_t i)
{
	json_t *p = json_array_get(
		sm_json_get_path(svc(f, "default", name), "spec.ports"), i);
	json_t *np = json_object_get(p, "nodePort");

	return json_is_integer(np) ? json_integer_value(np) : 0;
}

#define SVC_NS(ns, name, spec)                                                \
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":" \
	"\"" name "\",\"namespace\":\"" ns "\"},\"spec\":{" spec "}}"
#define SVC(name, spec) SVC_NS("default", name, spec)
#define PORT80 "\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}]"
#define NODEPORT(np)                                                       \
	"\"type\":\"NodePort\",\"ports\":[{\"name\":\"http\",\"port\":80," \
	"\"protocol\":\"TCP\",\"nodePort\":" #np "}]"

/* ---- the hook itself ---- */

struct counting {
	int calls;
	int with_old;
	int rc;
};

static int count_admit(void *ctx, const json_t *old, json_t *obj,
		       struct sm_err *err)
{
	struct counting *c = ctx;

	c->calls++;
	c->with_old += old != NULL;
	json_object_set_new(json_object_get(obj, "spec"), "admitted",
			    json_true());
	if (c->rc)
		sm_error(err, NULL, "Service \"x\" is invalid: spec: no");
	return c->rc;
}

static void
test_admission_sees_creates_and_updates_but_not_status_or_deletes(void **state)
{
	struct fixture *f = *state;
	struct counting c = { 0 };
	json_t *obj;

	store_set_admit(f->store, count_admit, &c);
	assert_int_equal(create(f, SVC("a", PORT80)), 0);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.with_old, 0);
	/* Its change is what is stored. */
	assert_true(json_is_true(
		sm_json_get_path(svc(f, "default", "a"), "spec.admitted")));
	assert_int_equal(update(f, SVC("a", PORT80)), 0);
	assert_int_equal(c.calls, 2);
	assert_int_equal(c.with_old, 1);
	obj = parse(SVC("a", PORT80));
	json_object_set_new(obj, "status", json_pack("{s:{}}", "loadBalancer"));
	assert_int_equal(store_update(f->store, obj, STORE_STATUS, NULL, NULL,
				      NULL, NULL),
			 0);
	json_decref(obj);
	assert_int_equal(c.calls, 2);
	assert_int_equal(store_delete(f->store, "Service", "default", "a",
				      false, 0, NULL, NULL, NULL, NULL, NULL),
			 0);
	assert_int_equal(c.calls, 2);
}

static void test_a_refused_write_stores_nothing_and_says_why(void **state)
{
	struct fixture *f = *state;
	struct counting c = { .rc = -EINVAL };
	uint64_t rv = store_rv(f->store);
	json_t *obj = parse(SVC("a", PORT80));

	store_set_admit(f->store, count_admit, &c);
	assert_int_equal(create(f, SVC("a", PORT80)), -EINVAL);
	assert_string_equal(msg(f), "Service \"x\" is invalid: spec: no");
	assert_null(store_get(f->store, "Service", "default", "a"));
	assert_int_equal(store_rv(f->store), rv);
	/* A caller without a sink gets the code all the same. */
	assert_int_equal(store_create(f->store, obj, NULL, NULL, NULL, NULL),
			 -EINVAL);
	json_decref(obj);
	store_set_admit(f->store, NULL, NULL);
	assert_int_equal(create(f, SVC("a", PORT80)), 0);
	store_set_admit(f->store, count_admit, &c);
	assert_int_equal(update(f, SVC("a", "\"ports\":[]")), -EINVAL);
	assert_int_equal(json_array_size(sm_json_get_path(
				 svc(f, "default", "a"), "spec.ports")),
			 1);
}

/* ---- virtual IPs ---- */

static void
test_cluster_ips_are_the_lowest_free_skipping_reserved_ones(void **state)
{
	struct fixture *f = *state;
	char name[16], json[512];
	const json_t *spec;

	for (int i = 0; i < 9; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		snprintf(json, sizeof(json), SVC("%s", PORT80), name);
		assert_int_equal(create(f, json), 0);
	}
	/* .0 (network), .1 (kubernetes) and .10 (DNS) are never given. */
	assert_string_equal(cluster_ip(f, "s0"), "10.96.0.2");
	assert_string_equal(cluster_ip(f, "s7"), "10.96.0.9");
	assert_string_equal(cluster_ip(f, "s8"), "10.96.0.11");
	spec = json_object_get(svc(f, "default", "s0"), "spec");
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(spec, "clusterIPs"), 0)),
			    "10.96.0.2");
	assert_int_equal(json_array_size(json_object_get(spec, "clusterIPs")),
			 1);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(spec, "ipFamilies"), 0)),
			    "IPv4");
	assert_string_equal(sm_json_get_str(spec, "ipFamilyPolicy"),
			    "SingleStack");
	/* A freed address is given again; "" means "allocate". */
	assert_int_equal(store_delete(f->store, "Service", "default", "s3",
				      false, 0, NULL, NULL, NULL, NULL, NULL),
			 0);
	assert_int_equal(create(f, SVC("again", "\"clusterIP\":\"\"," PORT80)),
			 0);
	assert_string_equal(cluster_ip(f, "again"), "10.96.0.5");
}

static void test_a_given_cluster_ip_must_be_in_range_and_free(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
		create(f, SVC_NS("shop", "db",
				 "\"clusterIP\":\"10.96.7.7\"," PORT80)),
		0);
	assert_string_equal(
		sm_json_get_str(json_object_get(svc(f, "shop", "db"), "spec"),
				"clusterIP"),
		"10.96.7.7");
	assert_int_equal(
		create(f, SVC("web", "\"clusterIP\":\"10.96.7.7\"," PORT80)),
		-EINVAL);
	assert_string_equal(msg(f),
			    "Service \"web\" is invalid: spec.clusterIP: "
			    "Invalid value: \"10.96.7.7\": provided IP is "
			    "already allocated (Service shop/db holds it)");
	assert_int_equal(
		create(f, SVC("web", "\"clusterIP\":\"10.97.0.5\"," PORT80)),
		-EINVAL);
	assert_non_null(strstr(msg(f), "provided IP is not in the valid range. "
				       "The range of valid IPs is "
				       "10.96.0.0/16"));
	assert_int_equal(
		create(f, SVC("web", "\"clusterIP\":\"10.96.0.10\"," PORT80)),
		-EINVAL);
	assert_non_null(strstr(msg(f), "provided IP is reserved"));
	assert_int_equal(
		create(f, SVC("web", "\"clusterIP\":\"10.96.1\"," PORT80)),
		-EINVAL);
	assert_non_null(strstr(msg(f), "must be a valid IPv4 address"));
	assert_int_equal(
		create(f, SVC("web", "\"ipFamilies\":[\"IPv6\"]," PORT80)),
		-EINVAL);
	assert_non_null(strstr(msg(f), "spec.ipFamilies[0]: Invalid value: "
				       "\"IPv6\""));
	assert_null(store_get(f->store, "Service", "default", "web"));
	/* None of the refused ones took an address. */
	assert_int_equal(create(f, SVC("web", PORT80)), 0);
	assert_string_equal(cluster_ip(f, "web"), "10.96.0.2");
}

static void
test_headless_and_external_name_services_get_no_address(void **state)
{
	struct fixture *f = *state;
	const json_t *spec;

	assert_int_equal(
		create(f, SVC("peers", "\"clusterIP\":\"None\"," PORT80)), 0);
	assert_string_equal(cluster_ip(f, "peers"), "None");
	spec = json_object_get(svc(f, "default", "peers"), "spec");
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(spec, "clusterIPs"), 0)),
			    "None");
	assert_int_equal(
		create(f, SVC("ext", "\"type\":\"ExternalName\","
				     "\"externalName\":\"db.example\"")),
		0);
	spec = json_object_get(svc(f, "default", "ext"), "spec");
	assert_null(json_object_get(spec, "clusterIP"));
	assert_null(json_object_get(spec, "clusterIPs"));
	assert_null(json_object_get(spec, "ipFamilies"));
	assert_int_equal(
		create(f, SVC("ext2", "\"type\":\"ExternalName\","
				      "\"externalName\":\"db.example\","
				      "\"clusterIP\":\"10.96.0.9\"")),
		-EINVAL);
	assert_non_null(strstr(msg(f), "may not be set for ExternalName"));
	/* Neither took an address. */
	assert_int_equal(create(f, SVC("web", PORT80)), 0);
	assert_string_equal(cluster_ip(f, "web"), "10.96.0.2");
}

static void test_cluster_ip_is_immutable_and_kept_on_update(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(create(f, SVC("web", PORT80)), 0);
	assert_string_equal(cluster_ip(f, "web"), "10.96.0.2");
	/* kubectl replace without the field: the old one stays. */
	assert_int_equal(update(f, SVC("web", "\"ports\":[{\"port\":81}]")), 0);
	assert_string_equal(cluster_ip(f, "web"), "10.96.0.2");
	assert_int_equal(update(f, SVC("web", "\"clusterIP\":\"10.96.0.2\","
					      "\"ports\":[{\"port\":82}]")),
			 0);
	assert_int_equal(
		update(f, SVC("web", "\"clusterIP\":\"10.96.0.3\"," PORT80)),
		-EINVAL);
	assert_string_equal(msg(f), "Service \"web\" is invalid: "
				    "spec.clusterIP: Invalid value: "
				    "\"10.96.0.3\": field is immutable");
	assert_int_equal(
		update(f, SVC("web", "\"clusterIP\":\"None\"," PORT80)),
		-EINVAL);
	/* kubectl apply of a new clusterIP keeps the old clusterIPs. */
	assert_int_equal(
		update(f, SVC("web", "\"clusterIP\":\"10.96.0.9\","
				     "\"clusterIPs\":[\"10.96.0.2\"]," PORT80)),
		-EINVAL);
	assert_non_null(strstr(msg(f), "field is immutable"));
	/* Only clusterIPs, as it was: fine. */
	assert_int_equal(
		update(f, SVC("web", "\"clusterIPs\":[\"10.96.0.2\"]," PORT80)),
		0);
	assert_string_equal(cluster_ip(f, "web"), "10.96.0.2");
}

static void test_a_full_range_fails_with_enospc(void **state)
{
	struct fixture *f = *state;
	char name[16], json[512];

	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		snprintf(json, sizeof(json), SVC("%s", PORT80), name);
		assert_int_equal(create(f, json), 0);
	}
	assert_string_equal(cluster_ip(f, "s11"), "10.100.0.14");
	assert_int_equal(create(f, SVC("one-more", PORT80)), -ENOSPC);
	assert_non_null(strstr(msg(f), "range 10.100.0.0/28 is full"));
	/* Headless ones need no address. */
	assert_int_equal(
		create(f, SVC("peers", "\"clusterIP\":\"None\"," PORT80)), 0);
}

static void test_cidrs_are_checked(void **state)
{
	struct sm_err err = SM_ERR_INIT;
	uint32_t net;
	unsigned prefix;

	(void)state;
	assert_int_equal(
		svcalloc_parse_cidr("10.96.3.4/16", &net, &prefix, &err), 0);
	assert_int_equal(net, 0x0a600000u);
	assert_int_equal(prefix, 16);
	assert_int_equal(
		svcalloc_parse_cidr("10.96.0.0/8", &net, &prefix, &err),
		-EINVAL);
	assert_int_equal(svcalloc_parse_cidr("10.96.0.0", &net, &prefix, &err),
			 -EINVAL);
	assert_int_equal(svcalloc_parse_cidr("fd00::/108", &net, &prefix, &err),
			 -EINVAL);
	assert_int_equal(
		svcalloc_parse_cidr("10.96.0.0/16x", &net, &prefix, &err),
		-EINVAL);
	assert_int_equal(err.nr, 4);
	assert_non_null(strstr(err.items[0].msg, "/12 to /28"));
	sm_err_release(&err);
}

/* ---- node ports ---- */

static void test_node_ports_are_allocated_over_all_namespaces(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(create(f, SVC_NS("shop", "a", NODEPORT(0))), 0);
	assert_int_equal(create(f, SVC("b", "\"type\":\"LoadBalancer\","
					    "\"ports\":[{\"name\":\"http\","
					    "\"port\":80},{\"name\":\"dns\","
					    "\"port\":53,\"protocol\":\"TCP\"},"
					    "{\"name\":\"dns-udp\",\"port\":53,"
					    "\"protocol\":\"UDP\"}]")),
			 0);
	assert_int_equal(
		json_integer_value(json_object_get(
			json_array_get(sm_json_get_path(svc(f, "shop", "a"),
							"spec.ports"),
				       0),
			"nodePort")),
		30000);
	assert_int_equal(node_port(f, "b", 0), 30001);
	assert_int_equal(node_port(f, "b", 1), 30002);
	/* The same port number for another protocol shares its nodePort. */
	assert_int_equal(node_port(f, "b", 2), 30002);
	/* ClusterIP Services and LoadBalancers that opt out get none. */
	assert_int_equal(create(f, SVC("c", PORT80)), 0);
	assert_int_equal(node_port(f, "c", 0), 0);
	assert_int_equal(create(f, SVC("d", "\"type\":\"LoadBalancer\","
					    "\"allocateLoadBalancerNodePorts\":"
					    "false," PORT80)),
			 0);
	assert_int_equal(node_port(f, "d", 0), 0);
	/* Opting out later keeps what was allocated (as Kubernetes). */
	assert_int_equal(update(f, SVC_NS("shop", "a",
					  "\"type\":\"LoadBalancer\","
					  "\"allocateLoadBalancerNodePorts\":"
					  "false,\"ports\":[{\"name\":\"http\","
					  "\"port\":80,\"protocol\":\"TCP\"},"
					  "{\"name\":\"x\",\"port\":81}]")),
			 0);
	assert_int_equal(
		json_integer_value(json_object_get(
			json_array_get(sm_json_get_path(svc(f, "shop", "a"),
							"spec.ports"),
				       0),
			"nodePort")),
		30000);
	assert_null(json_object_get(
		json_array_get(
			sm_json_get_path(svc(f, "shop", "a"), "spec.ports"), 1),
		"nodePort"));
	assert_int_equal(create(f, SVC("e", NODEPORT(0))), 0);
	assert_int_equal(node_port(f, "e", 0), 30003);
}

static void test_a_node_port_held_by_another_service_is_refused(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(create(f, SVC("other", NODEPORT(30080))), 0);
	assert_int_equal(node_port(f, "other", 0), 30080);
	assert_int_equal(create(f, SVC("web", NODEPORT(30080))), -EINVAL);
	assert_string_equal(msg(f),
			    "Service \"web\" is invalid: "
			    "spec.ports[0].nodePort: Invalid value: 30080: "
			    "provided port is already allocated (Service "
			    "default/other holds it)");
	assert_null(store_get(f->store, "Service", "default", "web"));
	assert_int_equal(create(f, SVC("web", NODEPORT(29999))), -EINVAL);
	assert_non_null(strstr(msg(f), "The range of valid ports is "
				       "30000-32767"));
	assert_int_equal(
		create(f, SVC("web", "\"type\":\"NodePort\",\"ports\":["
				     "{\"name\":\"a\",\"port\":80,"
				     "\"nodePort\":30100},{\"name\":\"b\","
				     "\"port\":81,\"nodePort\":30100}]")),
		-EINVAL);
	assert_non_null(strstr(msg(f), "spec.ports[1].nodePort: Duplicate "
				       "value: 30100"));
	assert_int_equal(create(f, SVC("web", NODEPORT(30081))), 0);
	/* Its own port is no conflict on update. */
	assert_int_equal(update(f, SVC("web", NODEPORT(30081))), 0);
	assert_int_equal(update(f, SVC("web", NODEPORT(30080))), -EINVAL);
	assert_non_null(strstr(msg(f), "(Service default/other holds it)"));
	assert_int_equal(node_port(f, "web", 0), 30081);
}

static void test_updates_keep_node_ports_and_type_changes_follow(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(create(f, SVC("web", "\"type\":\"NodePort\","
					      "\"ports\":[{\"name\":\"http\","
					      "\"port\":80},{\"name\":\"tls\","
					      "\"port\":443}]")),
			 0);
	assert_int_equal(node_port(f, "web", 0), 30000);
	assert_int_equal(node_port(f, "web", 1), 30001);
	/* kubectl apply without nodePorts: same port+protocol keeps its. */
	assert_int_equal(
		update(f, SVC("web", "\"type\":\"NodePort\","
				     "\"ports\":[{\"name\":\"tls\","
				     "\"port\":443},{\"name\":\"alt\","
				     "\"port\":8080},{\"name\":\"udp\","
				     "\"port\":80,\"protocol\":\"UDP\"}"
				     "]")),
		0);
	assert_int_equal(node_port(f, "web", 0), 30001);
	/* 30000 was freed by the update itself: the lowest again. */
	assert_int_equal(node_port(f, "web", 1), 30000);
	assert_int_equal(node_port(f, "web", 2), 30002);
	/* Back to ClusterIP: the old nodePorts are dropped, not refused. */
	assert_int_equal(
		update(f, SVC("web", "\"type\":\"ClusterIP\","
				     "\"ports\":[{\"name\":\"tls\","
				     "\"port\":443,\"nodePort\":30001}]")),
		0);
	assert_int_equal(node_port(f, "web", 0), 0);
	/* A nodePort the old object did not have is still refused. */
	assert_int_equal(update(f, SVC("web", "\"ports\":[{\"port\":443,"
					      "\"nodePort\":30009}]")),
			 -EINVAL);
	assert_non_null(strstr(msg(f), "may not be used when `type` is "
				       "'ClusterIP'"));
	/* To NodePort: allocated. */
	assert_int_equal(update(f, SVC("web", NODEPORT(0))), 0);
	assert_int_equal(node_port(f, "web", 0), 30000);
	/* Leaving LoadBalancer: its own fields go with it. */
	assert_int_equal(
		update(f, SVC("web", "\"type\":\"LoadBalancer\","
				     "\"externalTrafficPolicy\":"
				     "\"Cluster\","
				     "\"allocateLoadBalancerNodePorts\":"
				     "true," PORT80)),
		0);
	assert_int_equal(
		update(f, SVC("web", "\"type\":\"ClusterIP\","
				     "\"externalTrafficPolicy\":"
				     "\"Cluster\","
				     "\"allocateLoadBalancerNodePorts\":"
				     "true," PORT80)),
		0);
	assert_null(sm_json_get_path(svc(f, "default", "web"),
				     "spec.externalTrafficPolicy"));
	assert_null(sm_json_get_path(svc(f, "default", "web"),
				     "spec.allocateLoadBalancerNodePorts"));
	assert_int_equal(update(f, SVC("web", NODEPORT(0))), 0);
	/* To ExternalName: address and ports go, and come back anew. */
	assert_int_equal(update(f, SVC("web", "\"type\":\"ExternalName\","
					      "\"externalName\":\"x.example\","
					      "\"clusterIP\":\"10.96.0.2\"")),
			 0);
	assert_null(cluster_ip(f, "web"));
	assert_int_equal(update(f, SVC("web", PORT80)), 0);
	assert_string_equal(cluster_ip(f, "web"), "10.96.0.2");
}

static void test_services_stored_before_the_admitter_are_filled_in(void **state)
{
	struct fixture *f = *state;

	store_set_admit(f->store, NULL, NULL);
	assert_int_equal(create(f, SVC("old", PORT80)), 0);
	assert_int_equal(create(f, SVC("oldnp", NODEPORT(0))), 0);
	assert_int_equal(
		create(f, SVC("peers", "\"clusterIP\":\"None\"," PORT80)), 0);
	assert_int_equal(
		create(f, SVC("ext", "\"type\":\"ExternalName\","
				     "\"externalName\":\"x.example\"")),
		0);
	assert_null(cluster_ip(f, "old"));
	store_set_admit(f->store, svcalloc_admit, &f->alloc);
	assert_int_equal(svcalloc_fill_missing(&f->alloc), 2);
	assert_string_equal(cluster_ip(f, "old"), "10.96.0.2");
	assert_string_equal(cluster_ip(f, "oldnp"), "10.96.0.3");
	assert_int_equal(node_port(f, "oldnp", 0), 30000);
	assert_string_equal(cluster_ip(f, "peers"), "None");
	assert_int_equal(svcalloc_fill_missing(&f->alloc), 0);
}

/* A NodePort Service as a manifest has it: no nodePort at all. */
#define NODEPORT_AUTO                                                      \
	"\"type\":\"NodePort\",\"ports\":[{\"name\":\"http\",\"port\":80," \
	"\"protocol\":\"TCP\"}]"

/* Applies one Service as git would; returns sync_apply's code. */
static int sync_one(struct fixture *f, const char *json, struct sync_result *r)
{
	struct sync_opts o = { .source = "git://a", .prune = true };
	json_t *set = json_array();
	int rc;

	json_array_append_new(set, parse(json));
	sync_result_release(r);
	sm_err_release(&f->err);
	rc = sync_apply(f->store, set, &o, r, &f->err);
	json_decref(set);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	return rc;
}

static void test_git_syncs_keep_allocations_and_are_not_drift(void **state)
{
	struct fixture *f = *state;
	struct sync_result r = SYNC_RESULT_INIT;
	json_t *want = parse(SVC("web", NODEPORT_AUTO));

	assert_int_equal(create(f, "{\"apiVersion\":\"v1\",\"kind\":"
				   "\"Namespace\",\"metadata\":{\"name\":"
				   "\"default\"}}"),
			 0);
	assert_int_equal(sync_one(f, SVC("web", NODEPORT_AUTO), &r), 0);
	assert_int_equal(r.created, 1);
	assert_string_equal(cluster_ip(f, "web"), "10.96.0.2");
	assert_int_equal(node_port(f, "web", 0), 30000);
	/* Allocated fields are not drift: the same commit changes nothing. */
	assert_false(sync_drifted(svc(f, "default", "web"), want));
	json_decref(want);
	assert_int_equal(sync_one(f, SVC("web", NODEPORT_AUTO), &r), 0);
	assert_int_equal(r.unchanged, 1);
	/* A change in git replaces the spec: address and port stay. */
	assert_int_equal(sync_one(f,
				  SVC("web", "\"type\":\"NodePort\","
					     "\"ports\":[{\"name\":\"http\","
					     "\"port\":80,\"targetPort\":"
					     "8080}]"),
				  &r),
			 0);
	assert_int_equal(r.configured, 1);
	assert_string_equal(cluster_ip(f, "web"), "10.96.0.2");
	assert_int_equal(node_port(f, "web", 0), 30000);
	/* A nodePort another Service holds: the write fails, saying why. */
	assert_int_equal(create(f, SVC("other", NODEPORT(30080))), 0);
	assert_int_equal(sync_one(f, SVC("web", NODEPORT(30080)), &r), -EIO);
	assert_non_null(strstr(msg(f), "provided port is already allocated "
				       "(Service default/other holds it)"));
	assert_int_equal(node_port(f, "web", 0), 30000);
	sync_result_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
		T(test_admission_sees_creates_and_updates_but_not_status_or_deletes),
		T(test_a_refused_write_stores_nothing_and_says_why),
		T(test_cluster_ips_are_the_lowest_free_skipping_reserved_ones),
		T(test_a_given_cluster_ip_must_be_in_range_and_free),
		T(test_headless_and_external_name_services_get_no_address),
		T(test_cluster_ip_is_immutable_and_kept_on_update),
		cmocka_unit_test_setup_teardown(
			test_a_full_range_fails_with_enospc, setup_small,
			teardown),
		cmocka_unit_test(test_cidrs_are_checked),
		T(test_node_ports_are_allocated_over_all_namespaces),
		T(test_a_node_port_held_by_another_service_is_refused),
		T(test_updates_keep_node_ports_and_type_changes_follow),
		T(test_services_stored_before_the_admitter_are_filled_in),
		T(test_git_syncs_keep_allocations_and_are_not_drift),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
