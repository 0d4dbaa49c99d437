/*
 * Tests for nodeagent/node.c: the Node object as a kubelet registers it,
 * registration, take-over of an existing Node and heartbeats against a
 * fake API server.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "nodeagent/kube.h"
#include "nodeagent/node.h"
#include "tests/unit/common/http_test_server.h"
#include "common/banned.h"

struct fake {
	bool exists;
	struct sm_buf log; /* "METHOD target" per request */
	int beats;
	json_t *last_status; /* the last PATCH of nodes/n1/status */
};

static void handler(void *ctx, struct tconn *c, const struct treq *r)
{
	struct fake *f = ctx;
	const char *answer = "{}";
	int status = 200;

	sm_buf_addf(&f->log, "%s %s\n", r->method, r->target);
	if (!strcmp(r->method, "POST") && f->exists) {
		status = 409;
		answer = "{\"kind\":\"Status\",\"code\":409,\"reason\":"
			 "\"AlreadyExists\"}";
	} else if (!strcmp(r->method, "POST")) {
		status = 201;
	} else if (!strcmp(r->target, "/api/v1/nodes/n1/status")) {
		json_decref(f->last_status);
		f->last_status = json_loadb(r->body, r->body_len, 0, NULL);
		f->beats++;
	}
	tconn_reply(c, status, "application/json", answer, strlen(answer));
	tconn_end(c);
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static const json_t *cond(const json_t *conds, const char *type)
{
	size_t i;
	json_t *c;

	json_array_foreach (conds, i, c)
		if (!strcmp(sm_json_get_str(c, "type"), type))
			return c;
	return NULL;
}

static void
test_the_node_object_has_what_kubectl_and_the_scheduler_read(void **state)
{
	struct node_info ni = { .name = "n1",
				.node_ip = "127.0.1.1",
				.cpu = "2",
				.memory = "4Gi",
				.api_port = 10250,
				.runtime_version = "podman://4.3.1" };
	json_t *n = node_object(&ni, true, NULL, NULL, 1000000000ull);
	json_t *st = json_object_get(n, "status");

	assert_string_equal(sm_json_get_str(n, "kind"), "Node");
	assert_string_equal(
		sm_json_get_str(json_object_get(json_object_get(n, "metadata"),
						"labels"),
				"kubernetes.io/hostname"),
		"n1");
	assert_string_equal(
		sm_json_get_str(json_object_get(st, "allocatable"), "memory"),
		"4Gi");
	assert_string_equal(
		sm_json_get_str(json_object_get(st, "capacity"), "pods"),
		"110");
	assert_string_equal(
		sm_json_get_str(
			json_array_get(json_object_get(st, "addresses"), 0),
			"address"),
		"127.0.1.1");
	assert_int_equal(json_integer_value(sm_json_get_path(
				 st, "daemonEndpoints.kubeletEndpoint.Port")),
			 10250);
	assert_string_equal(sm_json_get_str(json_object_get(st, "nodeInfo"),
					    "containerRuntimeVersion"),
			    "podman://4.3.1");
	assert_string_equal(sm_json_get_str(json_object_get(st, "nodeInfo"),
					    "kubeletVersion"),
			    "v1.32.0-stuurman");
	assert_string_equal(
		sm_json_get_str(
			cond(json_object_get(st, "conditions"), "Ready"),
			"reason"),
		"KubeletReady");
	assert_string_equal(
		sm_json_get_str(
			cond(json_object_get(st, "conditions"), "DiskPressure"),
			"status"),
		"False");
	json_decref(n);
}

static void run_node(bool exists, struct fake *f)
{
	uv_loop_t loop;
	struct tsrv *srv;
	struct kube_config cfg = { .server = "http://api" };
	struct kube_client *k;
	struct node_info ni = { .name = "n1", .node_ip = "127.0.1.1" };
	struct node *n;

	uv_loop_init(&loop);
	f->exists = exists;
	srv = tsrv_start(&loop, handler, f);
	cfg.unix_socket = tsrv_path(srv);
	k = kube_client_new(&loop, &cfg);
	n = node_new(k, &loop, &ni, 10);
	while (f->beats < 3)
		uv_run(&loop, UV_RUN_ONCE);
	assert_true(node_registered(n));
	/* Podman goes away: Ready False is written at once. */
	node_set_ready(n, false, "KubeletNotReady",
		       "container runtime is down");
	while (f->beats < 6)
		uv_run(&loop, UV_RUN_ONCE);
	node_free(n);
	kube_client_free(k);
	tsrv_stop(srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_a_new_node_is_created_then_heartbeats_patch_its_status(void **state)
{
	struct fake f = { .log = SM_BUF_INIT(SM_BUF_UNBOUNDED) };
	const json_t *ready;
	const char *hb;

	run_node(false, &f);
	assert_true(starts_with(sm_buf_cstr(&f.log),
				"POST /api/v1/nodes\n"
				"PATCH /api/v1/nodes/n1/status\n"
				"PATCH /api/v1/nodes/n1/status\n"));
	/* Heartbeats carry the conditions only. */
	assert_null(sm_json_get_path(f.last_status, "status.capacity"));
	ready = cond(sm_json_get_path(f.last_status, "status.conditions"),
		     "Ready");
	assert_string_equal(sm_json_get_str(ready, "status"), "False");
	assert_string_equal(sm_json_get_str(ready, "message"),
			    "container runtime is down");
	/* With milliseconds: beats within one second still differ. */
	hb = sm_json_get_str(ready, "lastHeartbeatTime");
	assert_int_equal(strlen(hb), strlen("2026-11-26T01:00:00.123Z"));
	assert_int_equal(hb[19], '.');
	json_decref(f.last_status);
	sm_buf_release(&f.log);
}

static void test_an_existing_node_is_taken_over(void **state)
{
	struct fake f = { .log = SM_BUF_INIT(SM_BUF_UNBOUNDED) };

	run_node(true, &f);
	assert_true(starts_with(sm_buf_cstr(&f.log),
				"POST /api/v1/nodes\n"
				"PATCH /api/v1/nodes/n1\n"
				"PATCH /api/v1/nodes/n1/status\n"));
	json_decref(f.last_status);
	sm_buf_release(&f.log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_the_node_object_has_what_kubectl_and_the_scheduler_read),
		cmocka_unit_test(
			test_a_new_node_is_created_then_heartbeats_patch_its_status),
		cmocka_unit_test(test_an_existing_node_is_taken_over),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
