/*
 * Tests for nodeagent/kube.c: JSON requests and their Status errors, and
 * an informer's list, watch, reconnect and relist after 410, against a fake
 * API server on a unix socket.
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
#include "tests/unit/common/http_test_server.h"
#include "common/banned.h"

struct fake {
	uv_loop_t *loop;
	int lists, watches;
	char last_target[512];
	char last_body[512];
	char last_head[2048];
	bool stop_after_relist;
	struct kube_informer *inf;
	struct tsrv *srv;
};

static const char pod_a1[] =
	"{\"metadata\":{\"namespace\":\"default\",\"name\":\"a\","
	"\"resourceVersion\":\"5\"}}";
static const char pod_b[] =
	"{\"metadata\":{\"namespace\":\"default\",\"name\":\"b\","
	"\"resourceVersion\":\"6\"}}";

static void reply_json(struct tconn *c, int status, const char *body)
{
	tconn_reply(c, status, "application/json", body, strlen(body));
	tconn_end(c);
}

static void handler(void *ctx, struct tconn *c, const struct treq *r)
{
	struct fake *f = ctx;
	char buf[1024];

	snprintf(f->last_target, sizeof(f->last_target), "%s", r->target);
	snprintf(f->last_head, sizeof(f->last_head), "%s", r->head);
	snprintf(f->last_body, sizeof(f->last_body), "%.*s", (int)r->body_len,
		 r->body);
	if (!strcmp(r->target, "/api/v1/nodes") && !strcmp(r->method, "POST")) {
		reply_json(c, 201, r->body);
		return;
	}
	if (!strcmp(r->target, "/api/v1/nodes/gone")) {
		reply_json(c, 404,
			   "{\"kind\":\"Status\",\"code\":404,\"message\":"
			   "\"nodes \\\"gone\\\" not found\"}");
		return;
	}
	if (!strncmp(r->target, "/api/v1/pods?fieldSelector=x&watch=true",
		     39)) {
		f->watches++;
		tconn_chunked_head(c, 200, "application/json");
		if (f->watches == 1) {
			/* An event split across two chunks, then two at once.
			 */
			static const char ev1[] =
				"{\"type\":\"MODIFIED\",\"object\":{"
				"\"metadata\":"
				"{\"namespace\":\"default\",\"name\":\"a\","
				"\"resourceVersion\":\"11\"}}}\n";
			static const char ev23[] =
				"{\"type\":\"ADDED\",\"object\":{\"metadata\":"
				"{\"namespace\":\"default\",\"name\":\"d\","
				"\"resourceVersion\":\"12\"}}}\n"
				"{\"type\":\"DELETED\",\"object\":{"
				"\"metadata\":"
				"{\"namespace\":\"default\",\"name\":\"b\","
				"\"resourceVersion\":\"13\"}}}\n";

			tconn_chunk(c, 0, ev1, 20);
			tconn_chunk(c, 5, ev1 + 20, sizeof(ev1) - 21);
			tconn_chunk(c, 5, ev23, sizeof(ev23) - 1);
		} else if (f->watches == 2) {
			static const char gone[] =
				"{\"type\":\"ERROR\",\"object\":{\"kind\":"
				"\"Status\",\"code\":410,\"reason\":"
				"\"Expired\","
				"\"message\":\"too old resource version\"}}\n";

			tconn_chunk(c, 0, gone, sizeof(gone) - 1);
		} else {
			if (f->stop_after_relist)
				kube_informer_free(f->inf);
			f->inf = NULL;
		}
		tconn_chunk(c, 5, "", 0);
		tconn_end(c);
		return;
	}
	if (!strncmp(r->target, "/api/v1/pods?fieldSelector=x", 28)) {
		f->lists++;
		if (f->lists == 1) {
			snprintf(buf, sizeof(buf),
				 "{\"kind\":\"PodList\",\"metadata\":{"
				 "\"resourceVersion\":\"10\"},\"items\":[%s,%s]"
				 "}",
				 pod_a1, pod_b);
		} else {
			/* After 410: a is there still (changed), c is new. */
			snprintf(buf, sizeof(buf),
				 "{\"kind\":\"PodList\",\"metadata\":{"
				 "\"resourceVersion\":\"30\"},\"items\":["
				 "{\"metadata\":{\"namespace\":\"default\","
				 "\"name\":\"a\",\"resourceVersion\":\"29\"}},"
				 "{\"metadata\":{\"namespace\":\"default\","
				 "\"name\":\"c\",\"resourceVersion\":\"28\"}}"
				 "]}");
		}
		reply_json(c, 200, buf);
		return;
	}
	reply_json(c, 404, "{\"kind\":\"Status\",\"code\":404}");
}

struct result {
	int calls, status;
	char error[256];
	char name[64];
};

static void done(void *ctx, int status, json_t *body, const char *error)
{
	struct result *res = ctx;

	res->calls++;
	res->status = status;
	snprintf(res->error, sizeof(res->error), "%s", error ? error : "");
	snprintf(res->name, sizeof(res->name), "%s",
		 sm_json_get_str(json_object_get(body, "metadata"), "name")
			 ?: "");
}

static struct kube_client *client(uv_loop_t *loop, struct tsrv *s)
{
	struct kube_config cfg = { .server = "http://api/",
				   .token = "t0ken",
				   .unix_socket = tsrv_path(s) };

	return kube_client_new(loop, &cfg);
}

static void
test_a_request_sends_json_with_the_token_and_parses_the_answer(void **state)
{
	uv_loop_t loop;
	struct fake f = { 0 };
	struct result res = { 0 };
	struct kube_client *k;
	json_t *node = json_pack("{s:{s:s}}", "metadata", "name", "n1");

	uv_loop_init(&loop);
	f.srv = tsrv_start(&loop, handler, &f);
	k = client(&loop, f.srv);
	assert_int_equal(kube_request(k, "POST", "/api/v1/nodes", node, NULL, 0,
				      done, &res, NULL),
			 0);
	assert_int_equal(res.calls, 0);
	while (!res.calls)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(res.status, 201);
	assert_string_equal(res.error, "");
	assert_string_equal(res.name, "n1");
	assert_non_null(strstr(f.last_head, "Bearer t0ken"));
	assert_non_null(strstr(f.last_head, "application/json"));
	assert_string_equal(f.last_body, "{\"metadata\":{\"name\":\"n1\"}}");
	kube_client_free(k);
	tsrv_stop(f.srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	json_decref(node);
}

static void test_a_status_error_gives_its_code_and_message(void **state)
{
	uv_loop_t loop;
	struct fake f = { 0 };
	struct result res = { 0 };
	struct kube_client *k;

	uv_loop_init(&loop);
	f.srv = tsrv_start(&loop, handler, &f);
	k = client(&loop, f.srv);
	assert_int_equal(kube_request(k, "GET", "/api/v1/nodes/gone", NULL,
				      NULL, 0, done, &res, NULL),
			 0);
	while (!res.calls)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(res.status, 404);
	assert_string_equal(res.error, "404: nodes \"gone\" not found");
	kube_client_free(k);
	tsrv_stop(f.srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_a_cancelled_request_calls_nothing(void **state)
{
	uv_loop_t loop;
	struct fake f = { 0 };
	struct result res = { 0 };
	struct kube_client *k;
	struct kube_call *call = NULL;

	uv_loop_init(&loop);
	f.srv = tsrv_start(&loop, handler, &f);
	k = client(&loop, f.srv);
	assert_int_equal(kube_request(k, "GET", "/api/v1/nodes/gone", NULL,
				      NULL, 0, done, &res, &call),
			 0);
	kube_request_cancel(call);
	/* One more that is in flight when the client goes. */
	assert_int_equal(kube_request(k, "GET", "/api/v1/nodes/gone", NULL,
				      NULL, 0, done, &res, NULL),
			 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	kube_client_free(k);
	tsrv_stop(f.srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(res.calls, 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* What the informer told, as a log of "+key", "~key", "-key", "sync". */
struct seen {
	struct sm_buf log;
};

static void seen_added(void *ctx, const char *key, json_t *obj)
{
	struct seen *s = ctx;

	sm_buf_addf(&s->log, "+%s ", key);
}

static void seen_updated(void *ctx, const char *key, json_t *old, json_t *obj)
{
	struct seen *s = ctx;

	sm_buf_addf(&s->log, "~%s@%s ", key,
		    sm_json_get_str(json_object_get(obj, "metadata"),
				    "resourceVersion"));
}

static void seen_deleted(void *ctx, const char *key, json_t *obj)
{
	struct seen *s = ctx;

	sm_buf_addf(&s->log, "-%s ", key);
}

static void seen_synced(void *ctx)
{
	struct seen *s = ctx;

	sm_buf_adds(&s->log, "sync ");
}

static const struct kube_informer_ops seen_ops = { seen_added, seen_updated,
						   seen_deleted, seen_synced };

static void
test_an_informer_lists_watches_and_lists_again_after_410(void **state)
{
	uv_loop_t loop;
	struct fake f = { 0 };
	struct seen s = { SM_BUF_INIT(SM_BUF_UNBOUNDED) };
	struct kube_client *k;
	struct kube_informer *inf;

	uv_loop_init(&loop);
	f.srv = tsrv_start(&loop, handler, &f);
	k = client(&loop, f.srv);
	inf = kube_informer_new(k, &loop, "/api/v1/pods?fieldSelector=x",
				&seen_ops, &s);
	f.inf = inf;
	f.stop_after_relist = true;
	assert_false(kube_informer_synced(inf));
	/* The third watch frees the informer: the loop then runs dry. */
	while (f.inf)
		uv_run(&loop, UV_RUN_ONCE);
	assert_string_equal(sm_buf_cstr(&s.log),
			    "+default/a +default/b sync ~default/a@11 "
			    "+default/d -default/b -default/d ~default/a@29 "
			    "+default/c sync ");
	/* The watches: from the list's RV, then from the last event's. */
	assert_int_equal(f.lists, 2);
	assert_int_equal(f.watches, 3);
	assert_non_null(strstr(f.last_target, "resourceVersion=30"));
	assert_non_null(strstr(f.last_target, "watch=true"));
	kube_client_free(k);
	tsrv_stop(f.srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	sm_buf_release(&s.log);
}

static void
test_an_informer_deletes_on_relist_what_the_new_list_lacks(void **state)
{
	uv_loop_t loop;
	struct fake f = { 0 };
	struct seen s = { SM_BUF_INIT(SM_BUF_UNBOUNDED) };
	struct kube_client *k;
	struct kube_informer *inf;

	uv_loop_init(&loop);
	f.srv = tsrv_start(&loop, handler, &f);
	k = client(&loop, f.srv);
	inf = kube_informer_new(k, &loop, "/api/v1/pods?fieldSelector=x",
				&seen_ops, &s);
	f.inf = inf;
	while (f.lists < 2 || f.watches < 3)
		uv_run(&loop, UV_RUN_ONCE);
	/* d came by the watch and is not in the second list: deleted. */
	assert_null(kube_informer_get(inf, "default/d"));
	assert_null(kube_informer_get(inf, "default/b"));
	assert_non_null(kube_informer_get(inf, "default/c"));
	assert_int_equal(json_object_size(kube_informer_cache(inf)), 2);
	assert_int_equal(kube_informer_lists(inf), 2);
	assert_non_null(strstr(sm_buf_cstr(&s.log), "-default/d"));
	kube_informer_free(inf);
	kube_client_free(k);
	tsrv_stop(f.srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	sm_buf_release(&s.log);
}

static void test_object_keys_name_namespace_and_name(void **state)
{
	json_t *pod = json_pack("{s:{s:s, s:s}}", "metadata", "namespace", "ns",
				"name", "p");
	json_t *node = json_pack("{s:{s:s}}", "metadata", "name", "n1");
	json_t *empty = json_object();
	char *k1 = kube_object_key(pod), *k2 = kube_object_key(node);

	assert_string_equal(k1, "ns/p");
	assert_string_equal(k2, "n1");
	assert_null(kube_object_key(empty));
	json_decref(empty);
	free(k1);
	free(k2);
	json_decref(pod);
	json_decref(node);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_a_request_sends_json_with_the_token_and_parses_the_answer),
		cmocka_unit_test(
			test_a_status_error_gives_its_code_and_message),
		cmocka_unit_test(test_a_cancelled_request_calls_nothing),
		cmocka_unit_test(
			test_an_informer_lists_watches_and_lists_again_after_410),
		cmocka_unit_test(
			test_an_informer_deletes_on_relist_what_the_new_list_lacks),
		cmocka_unit_test(test_object_keys_name_namespace_and_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
