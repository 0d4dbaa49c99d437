/*
 * Tests for nodeagent/svcproxy.c: the plan (Services, EndpointSlices and
 * Nodes to rules and lo addresses) as a pure function, and the runtime
 * against a fake API server: nothing bound before the three lists, then a
 * client reaches a backend through a ClusterIP, and the DNS table is fed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "nodeagent/svcproxy.h"
#include "tests/unit/common/http_test_server.h"
#include "common/banned.h"

static json_t *parse(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);

	if (!j)
		fail_msg("bad test JSON: %s: %s", e.text, s);
	return j;
}

static const char *fmt_addr(const struct sockaddr_in *a, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
	return buf;
}

/* "name@listen>be1,be2~affinity" for every rule, joined by spaces. */
static char *describe(const struct svcproxy_plan *p)
{
	char *out = xstrdup("");

	for (size_t i = 0; i < p->nr_rules; i++) {
		const struct proxy_rule *r = &p->rules[i];
		char a[32], *next;
		char *bes = xstrdup("");

		for (size_t k = 0; k < r->nr_backends; k++) {
			char *b = xasprintf(
				"%s%s%s", bes, k ? "," : "",
				fmt_addr(&r->backends[k], a, sizeof(a)));
			free(bes);
			bes = b;
		}
		next = xasprintf("%s%s%s@%s>%s", out, i ? " " : "", r->name,
				 fmt_addr(&r->listen, a, sizeof(a)), bes);
		free(bes);
		free(out);
		out = next;
		if (r->affinity_timeout_s) {
			next = xasprintf("%s~%u", out, r->affinity_timeout_s);
			free(out);
			out = next;
		}
	}
	return out;
}

static const char services_json[] =
	"{"
	"\"default/web\":{\"metadata\":{\"namespace\":\"default\","
	"\"name\":\"web\"},\"spec\":{\"type\":\"ClusterIP\","
	"\"clusterIP\":\"10.96.0.20\",\"ports\":[{\"name\":\"http\","
	"\"port\":80,\"protocol\":\"TCP\"},{\"name\":\"dns\",\"port\":53,"
	"\"protocol\":\"UDP\"}]}},"
	"\"default/db\":{\"metadata\":{\"namespace\":\"default\","
	"\"name\":\"db\"},\"spec\":{\"clusterIP\":\"None\",\"ports\":[{"
	"\"port\":5432}]}},"
	"\"shop/front\":{\"metadata\":{\"namespace\":\"shop\","
	"\"name\":\"front\"},\"spec\":{\"type\":\"NodePort\","
	"\"clusterIP\":\"10.96.0.21\",\"sessionAffinity\":\"ClientIP\","
	"\"ports\":[{\"port\":8080,\"nodePort\":30080}]}},"
	"\"shop/lb\":{\"metadata\":{\"namespace\":\"shop\",\"name\":\"lb\"},"
	"\"spec\":{\"type\":\"LoadBalancer\",\"clusterIP\":\"172.16.0.1\","
	"\"publishNotReadyAddresses\":true,"
	"\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":{"
	"\"clientIP\":{\"timeoutSeconds\":30}},"
	"\"ports\":[{\"name\":\"web\",\"port\":9000,\"nodePort\":30900}]}},"
	"\"default/ext\":{\"metadata\":{\"namespace\":\"default\","
	"\"name\":\"ext\"},\"spec\":{\"type\":\"ExternalName\","
	"\"externalName\":\"example.org\",\"ports\":[{\"port\":80}]}}"
	"}";

static const char slices_json[] =
	"{"
	"\"default/web-abc\":{\"metadata\":{\"namespace\":\"default\","
	"\"name\":\"web-abc\",\"labels\":{\"kubernetes.io/service-name\":"
	"\"web\"}},\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\","
	"\"port\":8000,\"protocol\":\"TCP\"}],\"endpoints\":["
	"{\"addresses\":[\"10.244.0.7\"],\"conditions\":{\"ready\":true}},"
	"{\"addresses\":[\"10.244.0.5\"],\"conditions\":{\"ready\":true}},"
	"{\"addresses\":[\"10.244.0.6\"],\"conditions\":{\"ready\":false,"
	"\"serving\":true}}]},"
	"\"other/web-x\":{\"metadata\":{\"namespace\":\"other\","
	"\"name\":\"web-x\",\"labels\":{\"kubernetes.io/service-name\":"
	"\"web\"}},\"ports\":[{\"name\":\"http\",\"port\":1,"
	"\"protocol\":\"TCP\"}],\"endpoints\":[{\"addresses\":[\"10.244.9.9\""
	"],\"conditions\":{\"ready\":true}}]},"
	"\"shop/front-1\":{\"metadata\":{\"namespace\":\"shop\","
	"\"name\":\"front-1\",\"labels\":{\"kubernetes.io/service-name\":"
	"\"front\"}},\"ports\":[{\"port\":80}],\"endpoints\":["
	"{\"addresses\":[\"10.244.1.2\"],\"conditions\":{\"ready\":true}}]},"
	"\"shop/lb-1\":{\"metadata\":{\"namespace\":\"shop\",\"name\":\"lb-1\","
	"\"labels\":{\"kubernetes.io/service-name\":\"lb\"}},\"ports\":[{"
	"\"name\":\"web\",\"port\":9090}],\"endpoints\":["
	"{\"addresses\":[\"10.244.2.2\"],\"conditions\":{\"ready\":false,"
	"\"serving\":true}},{\"addresses\":[\"10.244.2.3\"],\"conditions\":{"
	"\"ready\":false,\"serving\":false}}]}"
	"}";

static const char nodes_json[] =
	"{\"n1\":{\"metadata\":{\"name\":\"n1\"},\"status\":{\"addresses\":["
	"{\"type\":\"InternalIP\",\"address\":\"127.0.1.1\"},"
	"{\"type\":\"Hostname\",\"address\":\"n1\"}]}},"
	"\"n2\":{\"metadata\":{\"name\":\"n2\"},\"status\":{\"addresses\":["
	"{\"type\":\"InternalIP\",\"address\":\"192.168.1.5\"}]}}}";

static void test_the_plan_maps_services_to_listeners_and_backends(void **s)
{
	json_t *svcs = parse(services_json), *slices = parse(slices_json);
	json_t *nodes = parse(nodes_json);
	const char *extra[] = { "127.0.9.9" };
	struct svcproxy_plan_opts o = { .nodeport_addrs = extra,
					.nr_nodeport_addrs = 1 };
	struct svcproxy_plan p;
	char *d;

	assert_int_equal(ipv4_cidr_parse("10.96.0.0/16", &o.cidr, NULL), 0);
	svcproxy_plan_build(svcs, slices, nodes, &o, &p);
	d = describe(&p);
	/*
	 * web: ready endpoints only, at the slice port named like the
	 * Service port, never another namespace's slice; its UDP port is
	 * not proxied. db is headless, ext an ExternalName: no rules.
	 * front: ClusterIP, then its NodePort on 127.0.0.1, the loopback
	 * node IP (not 192.168.1.5) and the extra address; affinity 10800.
	 * lb: serving endpoints too (publishNotReadyAddresses), also on
	 * 127.0.0.1:9000; affinity 30.
	 */
	assert_string_equal(
		d, "default/web:http@10.96.0.20:80>10.244.0.5:8000,"
		   "10.244.0.7:8000 "
		   "shop/front:8080@10.96.0.21:8080>10.244.1.2:80~10800 "
		   "shop/front:8080@127.0.0.1:30080>10.244.1.2:80~10800 "
		   "shop/front:8080@127.0.1.1:30080>10.244.1.2:80~10800 "
		   "shop/front:8080@127.0.9.9:30080>10.244.1.2:80~10800 "
		   "shop/lb:web@127.0.0.1:9000>10.244.2.2:9090~30 "
		   "shop/lb:web@127.0.0.1:30900>10.244.2.2:9090~30 "
		   "shop/lb:web@127.0.1.1:30900>10.244.2.2:9090~30 "
		   "shop/lb:web@127.0.9.9:30900>10.244.2.2:9090~30 "
		   "shop/lb:web@172.16.0.1:9000>10.244.2.2:9090~30");
	/* Only ClusterIPs inside the CIDR go on lo. */
	assert_int_equal(p.nr_addrs, 2);
	assert_int_equal(ntohl(p.addrs[0].s_addr), 0x0a600014);
	assert_int_equal(ntohl(p.addrs[1].s_addr), 0x0a600015);
	/* lb's 172.16.0.1 is outside: said once, with what to do. */
	assert_int_equal(p.nr_conflicts, 1);
	assert_non_null(strstr(p.conflicts[0], "shop/lb: clusterIP 172.16.0.1 "
					       "is outside --service-cidr "
					       "10.96.0.0/16"));
	free(d);
	svcproxy_plan_release(&p);
	json_decref(svcs);
	json_decref(slices);
	json_decref(nodes);
}

static void test_a_listen_address_claimed_twice_goes_to_one_rule(void **s)
{
	json_t *svcs = parse(
		"{\"a/x\":{\"metadata\":{\"namespace\":\"a\",\"name\":\"x\"},"
		"\"spec\":{\"type\":\"LoadBalancer\",\"clusterIP\":\"10.96.0."
		"3\","
		"\"ports\":[{\"port\":80,\"nodePort\":30001}]}},"
		"\"b/y\":{\"metadata\":{\"namespace\":\"b\",\"name\":\"y\"},"
		"\"spec\":{\"type\":\"LoadBalancer\",\"clusterIP\":\"10.96.0."
		"4\","
		"\"ports\":[{\"port\":80,\"nodePort\":30002}]}}}");
	struct svcproxy_plan_opts o = { 0 };
	struct svcproxy_plan p;
	char *d;

	assert_int_equal(ipv4_cidr_parse("10.96.0.0/16", &o.cidr, NULL), 0);
	svcproxy_plan_build(svcs, NULL, NULL, &o, &p);
	d = describe(&p);
	/* Both want 127.0.0.1:80; a/x comes first by name. */
	assert_non_null(strstr(d, "a/x:80@127.0.0.1:80>"));
	assert_null(strstr(d, "b/y:80@127.0.0.1:80>"));
	assert_non_null(strstr(d, "b/y:80@10.96.0.4:80>"));
	assert_int_equal(p.nr_conflicts, 1);
	assert_non_null(strstr(p.conflicts[0], "b/y:80: 127.0.0.1:80 is "
					       "already taken by a/x:80"));
	free(d);
	svcproxy_plan_release(&p);
	json_decref(svcs);
}

static void test_an_empty_world_plans_nothing(void **s)
{
	struct svcproxy_plan_opts o = { 0 };
	struct svcproxy_plan p;

	svcproxy_plan_build(NULL, NULL, NULL, &o, &p);
	assert_int_equal(p.nr_rules, 0);
	assert_int_equal(p.nr_addrs, 0);
	svcproxy_plan_release(&p);
}

/* The runtime against a fake API server */

struct rt {
	uv_loop_t loop;
	struct tsrv *srv;
	uv_tcp_t backend;
	struct sockaddr_in be_addr;
	unsigned svc_port;
	bool hold_nodes; /* the nodes list is not answered yet */
	struct tconn *held;
	int dns_starts, dns_updates, dns_stops;
	char dns_ip[32];
	char got[16];
	size_t got_len;
	bool client_done;
};

static struct rt rt;

static void reply(struct tconn *c, const char *body)
{
	tconn_reply(c, 200, "application/json", body, strlen(body));
	tconn_end(c);
}

static void handler(void *ctx, struct tconn *c, const struct treq *r)
{
	char ip[INET_ADDRSTRLEN];
	char *body;

	if (strstr(r->target, "watch=true")) {
		/* A watch that stays open with nothing to say. */
		tconn_chunked_head(c, 200, "application/json");
		return;
	}
	if (!strcmp(r->target, "/api/v1/services")) {
		body = xasprintf(
			"{\"kind\":\"ServiceList\",\"metadata\":{"
			"\"resourceVersion\":\"3\"},\"items\":[{\"metadata\":"
			"{\"namespace\":\"default\",\"name\":\"web\","
			"\"resourceVersion\":\"2\"},\"spec\":{"
			"\"clusterIP\":\"127.0.84.1\",\"ports\":[{\"name\":"
			"\"http\",\"port\":%u}]}}]}",
			rt.svc_port);
		reply(c, body);
		free(body);
		return;
	}
	if (!strcmp(r->target, "/apis/discovery.k8s.io/v1/endpointslices")) {
		inet_ntop(AF_INET, &rt.be_addr.sin_addr, ip, sizeof(ip));
		body = xasprintf(
			"{\"kind\":\"EndpointSliceList\",\"metadata\":{"
			"\"resourceVersion\":\"3\"},\"items\":[{\"metadata\":"
			"{\"namespace\":\"default\",\"name\":\"web-1\","
			"\"resourceVersion\":\"2\",\"labels\":{"
			"\"kubernetes.io/service-name\":\"web\"}},"
			"\"addressType\":\"IPv4\",\"ports\":[{\"name\":"
			"\"http\",\"port\":%u,\"protocol\":\"TCP\"}],"
			"\"endpoints\":[{\"addresses\":[\"%s\"],"
			"\"conditions\":{\"ready\":true}}]}]}",
			ntohs(rt.be_addr.sin_port), ip);
		reply(c, body);
		free(body);
		return;
	}
	if (!strcmp(r->target, "/api/v1/nodes")) {
		if (rt.hold_nodes) {
			rt.held = c;
			return;
		}
		reply(c, "{\"kind\":\"NodeList\",\"metadata\":{"
			 "\"resourceVersion\":\"3\"},\"items\":[]}");
		return;
	}
	tconn_reply(c, 404, "application/json", "{}", 2);
	tconn_end(c);
}

static void *fake_dns_start(uv_loop_t *loop,
			    const struct svcproxy_dns_config *c,
			    struct sm_err *err)
{
	rt.dns_starts++;
	snprintf(rt.dns_ip, sizeof(rt.dns_ip), "%s", c->listen_ip);
	return &rt;
}

static void fake_dns_update(void *dns, const json_t *services,
			    const json_t *slices)
{
	assert_ptr_equal(dns, &rt);
	assert_non_null(json_object_get(services, "default/web"));
	assert_non_null(json_object_get(slices, "default/web-1"));
	rt.dns_updates++;
}

static void fake_dns_stop(void *dns)
{
	rt.dns_stops++;
}

static const struct svcproxy_dns_ops fake_dns = {
	fake_dns_start,
	fake_dns_update,
	fake_dns_stop,
};

static void be_written(uv_write_t *w, int status)
{
	uv_close((uv_handle_t *)w->handle, (uv_close_cb)free);
	free(w);
}

static void be_accept(uv_stream_t *server, int status)
{
	uv_tcp_t *c = xmalloc(sizeof(*c));
	uv_write_t *w = xmalloc(sizeof(*w));
	uv_buf_t b = uv_buf_init((char *)"hi", 2);

	uv_tcp_init(server->loop, c);
	assert_int_equal(uv_accept(server, (uv_stream_t *)c), 0);
	uv_write(w, (uv_stream_t *)c, &b, 1, be_written);
}

static void c_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
	b->base = xmalloc(64);
	b->len = 64;
}

static void c_closed(uv_handle_t *h)
{
	rt.client_done = true;
}

static void c_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	if (n > 0 && rt.got_len + (size_t)n < sizeof(rt.got)) {
		memcpy(rt.got + rt.got_len, b->base, (size_t)n);
		rt.got_len += (size_t)n;
	} else if (n < 0) {
		uv_close((uv_handle_t *)s, c_closed);
	}
	free(b->base);
}

static void c_connected(uv_connect_t *req, int status)
{
	if (status < 0) {
		uv_close((uv_handle_t *)req->handle, c_closed);
		return;
	}
	uv_read_start(req->handle, c_alloc, c_read);
}

static unsigned free_port(const char *ip)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &a.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void run_a_while(unsigned turns)
{
	for (unsigned i = 0; i < turns; i++)
		uv_run(&rt.loop, UV_RUN_NOWAIT);
}

static void test_the_proxy_binds_after_three_lists_and_forwards(void **s)
{
	struct svcproxy_config cfg = { 0 };
	struct sm_err err = SM_ERR_INIT;
	struct svcproxy *sp;
	struct sockaddr_in to;
	uv_tcp_t client;
	uv_connect_t cr;
	int len = sizeof(rt.be_addr);

	memset(&rt, 0, sizeof(rt));
	assert_int_equal(uv_loop_init(&rt.loop), 0);
	rt.srv = tsrv_start(&rt.loop, handler, &rt);
	rt.hold_nodes = true;
	rt.svc_port = free_port("127.0.84.1");
	memset(&rt.be_addr, 0, sizeof(rt.be_addr));
	rt.be_addr.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.84.2", &rt.be_addr.sin_addr);
	uv_tcp_init(&rt.loop, &rt.backend);
	assert_int_equal(
		uv_tcp_bind(&rt.backend, (struct sockaddr *)&rt.be_addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&rt.backend, 8, be_accept),
			 0);
	uv_tcp_getsockname(&rt.backend, (struct sockaddr *)&rt.be_addr, &len);

	cfg.server = "http://api";
	cfg.unix_socket = tsrv_path(rt.srv);
	cfg.no_addresses = true;
	cfg.dns = &fake_dns;
	cfg.dns_ip = "10.96.0.10";
	assert_int_equal(ipv4_cidr_parse("10.96.0.0/16", &cfg.plan.cidr, NULL),
			 0);
	sp = svcproxy_new(&rt.loop, &cfg, &err);
	assert_non_null(sp);
	assert_int_equal(svcproxy_start(sp, &err), 0);
	assert_int_equal(rt.dns_starts, 1);
	assert_string_equal(rt.dns_ip, "10.96.0.10");
	/* Services and slices listed, nodes not yet: nothing is bound. */
	while (!rt.held)
		uv_run(&rt.loop, UV_RUN_ONCE);
	run_a_while(50);
	assert_int_equal(svcproxy_syncs(sp), 0);
	assert_int_equal(proxy_listening(svcproxy_engine(sp)), 0);
	reply(rt.held, "{\"kind\":\"NodeList\",\"metadata\":{"
		       "\"resourceVersion\":\"3\"},\"items\":[]}");
	while (!svcproxy_syncs(sp))
		uv_run(&rt.loop, UV_RUN_ONCE);
	assert_int_equal(proxy_listening(svcproxy_engine(sp)), 1);
	assert_true(rt.dns_updates >= 1);
	/* A client of the ClusterIP reaches the backend. */
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)rt.svc_port);
	inet_pton(AF_INET, "127.0.84.1", &to.sin_addr);
	uv_tcp_init(&rt.loop, &client);
	assert_int_equal(uv_tcp_connect(&cr, &client, (struct sockaddr *)&to,
					c_connected),
			 0);
	while (!rt.client_done)
		uv_run(&rt.loop, UV_RUN_ONCE);
	assert_int_equal(rt.got_len, 2);
	assert_memory_equal(rt.got, "hi", 2);

	svcproxy_free(sp);
	assert_int_equal(rt.dns_stops, 1);
	tsrv_stop(rt.srv);
	uv_close((uv_handle_t *)&rt.backend, NULL);
	uv_run(&rt.loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&rt.loop), 0);
	sm_err_release(&err);
}

static void test_a_bad_configuration_is_refused(void **s)
{
	struct svcproxy_config cfg = { 0 };
	struct sm_err err = SM_ERR_INIT;
	const char *bad[] = { "not-an-ip" };
	uv_loop_t loop;

	uv_loop_init(&loop);
	assert_null(svcproxy_new(&loop, &cfg, &err));
	cfg.server = "http://api";
	cfg.plan.nodeport_addrs = bad;
	cfg.plan.nr_nodeport_addrs = 1;
	assert_null(svcproxy_new(&loop, &cfg, &err));
	assert_int_equal(err.nr, 2);
	assert_non_null(strstr(err.items[1].msg, "\"not-an-ip\""));
	assert_int_equal(uv_loop_close(&loop), 0);
	sm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_the_plan_maps_services_to_listeners_and_backends),
		cmocka_unit_test(
			test_a_listen_address_claimed_twice_goes_to_one_rule),
		cmocka_unit_test(test_an_empty_world_plans_nothing),
		cmocka_unit_test(
			test_the_proxy_binds_after_three_lists_and_forwards),
		cmocka_unit_test(test_a_bad_configuration_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
