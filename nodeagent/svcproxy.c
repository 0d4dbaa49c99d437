/*
 * svcproxy.c: Services and EndpointSlices to the forwarding engine, lo's
 * addresses and the cluster DNS. See svcproxy.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strmap.h"
#include "common/xalloc.h"
#include "nodeagent/kube.h"
#include "nodeagent/svcproxy.h"
#include "common/banned.h"

#define AFFINITY_DEFAULT_S 10800

/* The plan */

static bool parse_ip(const char *s, struct in_addr *a)
{
	return s && inet_pton(AF_INET, s, a) == 1;
}

static bool is_loopback(struct in_addr a)
{
	return (ntohl(a.s_addr) >> 24) == 127;
}

static const char *str_or(const json_t *obj, const char *key, const char *deflt)
{
	const char *s = sm_json_get_str(obj, key);

	return s ? s : deflt;
}

static bool is_tcp(const json_t *port)
{
	return !strcmp(str_or(port, "protocol", "TCP"), "TCP");
}

static int cmp_sin(const void *a, const void *b)
{
	const struct sockaddr_in *x = a, *y = b;
	uint32_t xa = ntohl(x->sin_addr.s_addr), ya = ntohl(y->sin_addr.s_addr);

	if (xa != ya)
		return xa < ya ? -1 : 1;
	return (int)ntohs(x->sin_port) - (int)ntohs(y->sin_port);
}

static int cmp_in(const void *a, const void *b)
{
	uint32_t x = ntohl(((const struct in_addr *)a)->s_addr);
	uint32_t y = ntohl(((const struct in_addr *)b)->s_addr);

	return x < y ? -1 : x > y;
}

static int cmp_rule(const void *a, const void *b)
{
	const struct proxy_rule *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : cmp_sin(&x->listen, &y->listen);
}

/* The ready endpoints of Service svc (ns/name) for its port named pname. */
static void backends_of(const json_t *slices, const char *ns, const char *name,
			const char *pname, bool not_ready_too,
			struct sockaddr_in **out, size_t *nr)
{
	size_t alloc = 0, n = 0, j = 0;
	struct sockaddr_in *list = NULL;
	const char *key;
	json_t *sl;

	json_object_foreach ((json_t *)slices, key, sl) {
		json_t *meta = json_object_get(sl, "metadata");
		json_t *ports = json_object_get(sl, "ports");
		json_t *eps = json_object_get(sl, "endpoints");
		const char *owner =
			sm_json_get_str(json_object_get(meta, "labels"),
					"kubernetes.io/service-name");
		const char *at = str_or(sl, "addressType", "IPv4");
		json_int_t port = 0;
		size_t i;
		json_t *p, *ep;

		if (!owner || strcmp(owner, name) ||
		    strcmp(str_or(meta, "namespace", ""), ns) ||
		    strcmp(at, "IPv4"))
			continue;
		json_array_foreach (ports, i, p) {
			if (is_tcp(p) && !strcmp(str_or(p, "name", ""), pname))
				port = json_integer_value(
					json_object_get(p, "port"));
		}
		if (port <= 0 || port > 65535)
			continue;
		json_array_foreach (eps, i, ep) {
			json_t *cond = json_object_get(ep, "conditions");
			json_t *ready = json_object_get(cond, "ready");
			json_t *serving = json_object_get(cond, "serving");
			/* Kubernetes: a missing ready means ready. */
			bool ok = !ready || json_is_true(ready);
			struct in_addr a;

			if (not_ready_too && json_is_true(serving))
				ok = true;
			if (!ok ||
			    !parse_ip(json_string_value(json_array_get(
					      json_object_get(ep, "addresses"),
					      0)),
				      &a))
				continue;
			SM_ALLOC_GROW(list, n + 1, alloc);
			memset(&list[n], 0, sizeof(list[n]));
			list[n].sin_family = AF_INET;
			list[n].sin_addr = a;
			list[n].sin_port = htons((uint16_t)port);
			n++;
		}
	}
	if (n)
		qsort(list, n, sizeof(*list), cmp_sin);
	for (size_t i = 0; i < n; i++)
		if (!j || cmp_sin(&list[j - 1], &list[i]))
			list[j++] = list[i];
	*out = list;
	*nr = j;
}

static void add_rule(struct svcproxy_plan *p, const char *name,
		     struct in_addr ip, json_int_t port,
		     const struct sockaddr_in *be, size_t nr_be,
		     uint32_t affinity)
{
	struct proxy_rule *r;
	struct sockaddr_in *copy = NULL;

	if (port <= 0 || port > 65535)
		return;
	SM_ALLOC_GROW(p->rules, p->nr_rules + 1, p->alloc_rules);
	r = &p->rules[p->nr_rules++];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	r->listen.sin_family = AF_INET;
	r->listen.sin_addr = ip;
	r->listen.sin_port = htons((uint16_t)port);
	if (nr_be) {
		copy = xmalloc(nr_be * sizeof(*copy));
		memcpy(copy, be, nr_be * sizeof(*copy));
	}
	r->backends = copy;
	r->nr_backends = nr_be;
	r->affinity_timeout_s = affinity;
}

static void add_addr(struct svcproxy_plan *p, struct in_addr a)
{
	SM_ALLOC_GROW(p->addrs, p->nr_addrs + 1, p->alloc_addrs);
	p->addrs[p->nr_addrs++] = a;
}

/* The addresses NodePorts listen on: 127.0.0.1, loopback node IPs, extras. */
static size_t nodeport_ips(const json_t *nodes,
			   const struct svcproxy_plan_opts *o,
			   struct in_addr **out)
{
	struct in_addr *ips = NULL, a;
	size_t n = 0, alloc = 0, j = 0;
	const char *key;
	json_t *node;

	SM_ALLOC_GROW(ips, 1, alloc);
	parse_ip("127.0.0.1", &ips[n++]);
	json_object_foreach ((json_t *)nodes, key, node) {
		json_t *addrs = sm_json_get_path(node, "status");
		size_t i;
		json_t *ad;

		addrs = json_object_get(addrs, "addresses");
		json_array_foreach (addrs, i, ad) {
			if (strcmp(str_or(ad, "type", ""), "InternalIP") ||
			    !parse_ip(sm_json_get_str(ad, "address"), &a) ||
			    !is_loopback(a))
				continue;
			SM_ALLOC_GROW(ips, n + 1, alloc);
			ips[n++] = a;
		}
	}
	for (size_t i = 0; i < o->nr_nodeport_addrs; i++) {
		if (!parse_ip(o->nodeport_addrs[i], &a))
			continue;
		SM_ALLOC_GROW(ips, n + 1, alloc);
		ips[n++] = a;
	}
	qsort(ips, n, sizeof(*ips), cmp_in);
	for (size_t i = 0; i < n; i++)
		if (!j || ips[j - 1].s_addr != ips[i].s_addr)
			ips[j++] = ips[i];
	*out = ips;
	return j;
}

static void plan_service(struct svcproxy_plan *p, const json_t *svc,
			 const json_t *slices, const struct in_addr *np_ips,
			 size_t nr_np_ips, const struct svcproxy_plan_opts *o)
{
	json_t *meta = json_object_get(svc, "metadata");
	json_t *spec = json_object_get(svc, "spec");
	const char *ns = str_or(meta, "namespace", "default");
	const char *name = str_or(meta, "name", "");
	const char *type = str_or(spec, "type", "ClusterIP");
	const char *cip = sm_json_get_str(spec, "clusterIP");
	bool nodeport =
		!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer");
	bool lb = !strcmp(type, "LoadBalancer");
	bool not_ready =
		json_is_true(json_object_get(spec, "publishNotReadyAddresses"));
	uint32_t affinity = 0;
	struct in_addr ip, lo;
	bool has_ip;
	size_t i;
	json_t *port;

	if (!strcmp(type, "ExternalName"))
		return;
	has_ip = parse_ip(cip, &ip);
	if (has_ip && ipv4_cidr_contains(&o->cidr, ip)) {
		add_addr(p, ip);
	} else if (has_ip) {
		char net[INET_ADDRSTRLEN] = "?";

		inet_ntop(AF_INET, &o->cidr.net, net, sizeof(net));
		SM_ALLOC_GROW(p->conflicts, p->nr_conflicts + 1,
			      p->alloc_conflicts);
		p->conflicts[p->nr_conflicts++] = xasprintf(
			"%s/%s: clusterIP %s is outside --service-cidr %s/%u: "
			"give the proxy the server's --service-cidr",
			ns, name, cip, net, o->cidr.prefix);
	}
	if (!strcmp(str_or(spec, "sessionAffinity", "None"), "ClientIP")) {
		json_t *t = sm_json_get_path(
			spec, "sessionAffinityConfig.clientIP.timeoutSeconds");
		json_int_t s = json_integer_value(t);

		affinity =
			s > 0 && s <= 86400 ? (uint32_t)s : AFFINITY_DEFAULT_S;
	}
	parse_ip("127.0.0.1", &lo);
	json_array_foreach (json_object_get(spec, "ports"), i, port) {
		const char *pname = str_or(port, "name", "");
		json_int_t pnum =
			json_integer_value(json_object_get(port, "port"));
		json_int_t np =
			json_integer_value(json_object_get(port, "nodePort"));
		struct sockaddr_in *be = NULL;
		size_t nr_be = 0;
		char *rname;

		if (!is_tcp(port))
			continue;
		/* Headless: DNS names the pods; nothing to listen on. */
		if (!has_ip && !nodeport)
			continue;
		backends_of(slices, ns, name, pname, not_ready, &be, &nr_be);
		rname = *pname ? xasprintf("%s/%s:%s", ns, name, pname)
			       : xasprintf("%s/%s:%lld", ns, name,
					   (long long)pnum);
		if (has_ip)
			add_rule(p, rname, ip, pnum, be, nr_be, affinity);
		if (nodeport && np > 0) {
			for (size_t k = 0; k < nr_np_ips; k++)
				add_rule(p, rname, np_ips[k], np, be, nr_be,
					 affinity);
		}
		if (lb)
			add_rule(p, rname, lo, pnum, be, nr_be, affinity);
		free(rname);
		free(be);
	}
}

void svcproxy_plan_build(const json_t *services, const json_t *slices,
			 const json_t *nodes,
			 const struct svcproxy_plan_opts *o,
			 struct svcproxy_plan *out)
{
	struct in_addr *np_ips = NULL;
	size_t nr_np = nodeport_ips(nodes, o, &np_ips);
	size_t j = 0;
	const char *key;
	json_t *svc;

	memset(out, 0, sizeof(*out));
	json_object_foreach ((json_t *)services, key, svc)
		plan_service(out, svc, slices, np_ips, nr_np, o);
	free(np_ips);
	if (out->nr_addrs)
		qsort(out->addrs, out->nr_addrs, sizeof(*out->addrs), cmp_in);
	for (size_t i = 0; i < out->nr_addrs; i++)
		if (!j || out->addrs[j - 1].s_addr != out->addrs[i].s_addr)
			out->addrs[j++] = out->addrs[i];
	out->nr_addrs = j;
	if (out->nr_rules)
		qsort(out->rules, out->nr_rules, sizeof(*out->rules), cmp_rule);
	/* One listen address, one rule: the first by name wins. */
	j = 0;
	for (size_t i = 0; i < out->nr_rules; i++) {
		struct proxy_rule *r = &out->rules[i];
		const struct proxy_rule *holder = NULL;

		for (size_t k = 0; k < j && !holder; k++)
			if (!cmp_sin(&out->rules[k].listen, &r->listen))
				holder = &out->rules[k];
		if (holder) {
			char ip[INET_ADDRSTRLEN] = "?";

			inet_ntop(AF_INET, &r->listen.sin_addr, ip, sizeof(ip));
			SM_ALLOC_GROW(out->conflicts, out->nr_conflicts + 1,
				      out->alloc_conflicts);
			out->conflicts[out->nr_conflicts++] = xasprintf(
				"%s: %s:%u is already taken by %s; not "
				"served",
				r->name, ip, ntohs(r->listen.sin_port),
				holder->name);
			free((char *)r->name);
			free((void *)r->backends);
			continue;
		}
		out->rules[j++] = *r;
	}
	out->nr_rules = j;
}

void svcproxy_plan_release(struct svcproxy_plan *plan)
{
	for (size_t i = 0; i < plan->nr_rules; i++) {
		free((char *)plan->rules[i].name);
		free((void *)plan->rules[i].backends);
	}
	for (size_t i = 0; i < plan->nr_conflicts; i++)
		free(plan->conflicts[i]);
	free(plan->rules);
	free(plan->addrs);
	free(plan->conflicts);
	memset(plan, 0, sizeof(*plan));
}

/* The runtime */

struct svcproxy {
	uv_loop_t *loop;
	struct svcproxy_config cfg;
	const char *link;
	struct kube_client *kube;
	struct kube_informer *inf_svc, *inf_slices, *inf_nodes;
	struct proxy *engine;
	void *dns;
	uv_timer_t sync_timer;
	bool synced_once;
	unsigned syncs;
	struct in_addr *added; /* what this process put on lo */
	size_t nr_added, alloc_added;
	struct sm_strmap told; /* conflict messages already logged */
};

static bool added_has(const struct svcproxy *sp, struct in_addr a, size_t *at)
{
	for (size_t i = 0; i < sp->nr_added; i++) {
		if (sp->added[i].s_addr == a.s_addr) {
			if (at)
				*at = i;
			return true;
		}
	}
	return false;
}

static int lo_add(struct svcproxy *sp, struct in_addr a, struct sm_err *err)
{
	char ip[INET_ADDRSTRLEN] = "?";
	int r;

	if (sp->cfg.no_addresses)
		return 0;
	r = ifaddr_add(sp->link, a, err);
	if (r)
		return r;
	if (!added_has(sp, a, NULL)) {
		SM_ALLOC_GROW(sp->added, sp->nr_added + 1, sp->alloc_added);
		sp->added[sp->nr_added++] = a;
	}
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	sm_log(SM_LOG_INFO, "proxy", "added %s/32 to %s", ip, sp->link);
	return 0;
}

static void lo_del(struct svcproxy *sp, struct in_addr a)
{
	struct sm_err err = SM_ERR_INIT;
	char ip[INET_ADDRSTRLEN] = "?";
	size_t at;

	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	if (ifaddr_del(sp->link, a, &err))
		sm_log(SM_LOG_WARN, "proxy", "%s", err.items[0].msg);
	else
		sm_log(SM_LOG_INFO, "proxy", "removed %s/32 from %s", ip,
		       sp->link);
	if (added_has(sp, a, &at))
		sp->added[at] = sp->added[--sp->nr_added];
	sm_err_release(&err);
}

static bool wanted(const struct svcproxy *sp, const struct svcproxy_plan *p,
		   struct in_addr a)
{
	struct in_addr dns;

	if (sp->cfg.dns && parse_ip(sp->cfg.dns_ip, &dns) &&
	    dns.s_addr == a.s_addr)
		return true;
	return p->nr_addrs && bsearch(&a, p->addrs, p->nr_addrs,
				      sizeof(*p->addrs), cmp_in) != NULL;
}

/* lo: every wanted address on, every other one of the CIDR off. */
static void sync_addresses(struct svcproxy *sp, const struct svcproxy_plan *p)
{
	struct sm_err err = SM_ERR_INIT;
	struct in_addr *have = NULL;
	size_t nr_have = 0;

	if (sp->cfg.no_addresses)
		return;
	/* What lo holds now, not what we remember adding: an address someone
	 * else removed is added again. */
	if (ifaddr_list(sp->link, &have, &nr_have, &err)) {
		sm_log(SM_LOG_WARN, "proxy", "%s", err.items[0].msg);
		sm_err_release(&err);
		return;
	}
	for (size_t i = 0; i < p->nr_addrs; i++) {
		size_t j = 0;

		while (j < nr_have && have[j].s_addr != p->addrs[i].s_addr)
			j++;
		if (j < nr_have)
			continue;
		if (lo_add(sp, p->addrs[i], &err)) {
			sm_log(SM_LOG_WARN, "proxy", "%s",
			       err.items[err.nr - 1].msg);
			sm_err_release(&err);
		}
	}
	for (size_t i = 0; i < nr_have; i++)
		if (ipv4_cidr_contains(&sp->cfg.plan.cidr, have[i]) &&
		    !wanted(sp, p, have[i]))
			lo_del(sp, have[i]);
	free(have);
}

static void do_sync(uv_timer_t *t)
{
	struct svcproxy *sp = t->data;
	struct svcproxy_plan plan;
	json_t *svcs = kube_informer_cache(sp->inf_svc);
	json_t *slices = kube_informer_cache(sp->inf_slices);

	if (!kube_informer_synced(sp->inf_svc) ||
	    !kube_informer_synced(sp->inf_slices) ||
	    !kube_informer_synced(sp->inf_nodes))
		return;
	if (!sp->synced_once)
		sm_log(SM_LOG_INFO, "proxy",
		       "services, endpointslices and nodes listed: binding");
	sp->synced_once = true;
	svcproxy_plan_build(svcs, slices, kube_informer_cache(sp->inf_nodes),
			    &sp->cfg.plan, &plan);
	sync_addresses(sp, &plan);
	proxy_set_rules(sp->engine, plan.rules, plan.nr_rules);
	for (size_t i = 0; i < plan.nr_conflicts; i++) {
		if (sm_strmap_has(&sp->told, plan.conflicts[i]))
			continue;
		sm_strmap_put(&sp->told, plan.conflicts[i], NULL, NULL);
		sm_log(SM_LOG_WARN, "proxy", "%s", plan.conflicts[i]);
	}
	if (sp->dns)
		sp->cfg.dns->update(sp->dns, svcs, slices);
	svcproxy_plan_release(&plan);
	sp->syncs++;
}

/* Any change: one sync on the next loop turn, however many came. */
static void changed(void *ctx)
{
	struct svcproxy *sp = ctx;

	if (!uv_is_active((uv_handle_t *)&sp->sync_timer))
		uv_timer_start(&sp->sync_timer, do_sync, 0, 0);
}

static void inf_added(void *ctx, const char *key, json_t *obj)
{
	changed(ctx);
}

static void inf_updated(void *ctx, const char *key, json_t *old, json_t *obj)
{
	changed(ctx);
}

static void inf_deleted(void *ctx, const char *key, json_t *obj)
{
	changed(ctx);
}

static const struct kube_informer_ops informer_ops = { inf_added, inf_updated,
						       inf_deleted, changed };

/* A Node matters for its addresses only: heartbeats (every 500 ms a node)
 * change nothing the proxy uses. */
static void node_updated(void *ctx, const char *key, json_t *old, json_t *obj)
{
	if (!json_equal(sm_json_get_path(old, "status.addresses"),
			sm_json_get_path(obj, "status.addresses")))
		changed(ctx);
}

static const struct kube_informer_ops node_informer_ops = {
	inf_added, node_updated, inf_deleted, changed
};

struct svcproxy *svcproxy_new(uv_loop_t *loop,
			      const struct svcproxy_config *cfg,
			      struct sm_err *err)
{
	struct svcproxy *sp;
	struct in_addr a;

	if (!cfg->server) {
		sm_error(err, NULL, "proxy: no API server given");
		return NULL;
	}
	if (cfg->dns && !parse_ip(cfg->dns_ip, &a)) {
		sm_error(err, NULL,
			 "proxy: cluster DNS address \"%s\" is not "
			 "an IPv4 address",
			 cfg->dns_ip ? cfg->dns_ip : "");
		return NULL;
	}
	for (size_t i = 0; i < cfg->plan.nr_nodeport_addrs; i++) {
		if (!parse_ip(cfg->plan.nodeport_addrs[i], &a)) {
			sm_error(err, NULL,
				 "proxy: nodeport address \"%s\" is not an "
				 "IPv4 address",
				 cfg->plan.nodeport_addrs[i]);
			return NULL;
		}
	}
	sp = xcalloc(1, sizeof(*sp));
	sp->loop = loop;
	sp->cfg = *cfg;
	sp->link = cfg->link ? cfg->link : "lo";
	uv_timer_init(loop, &sp->sync_timer);
	sp->sync_timer.data = sp;
	return sp;
}

int svcproxy_start(struct svcproxy *sp, struct sm_err *err)
{
	struct kube_config kc = { sp->cfg.server, sp->cfg.token,
				  sp->cfg.ca_file, sp->cfg.unix_socket };
	struct in_addr dns_ip = { 0 };
	int r;

	if (sp->cfg.dns) {
		struct svcproxy_dns_config dc;
		char *dir =
			xasprintf("%s/proxy/dns",
				  sp->cfg.data_dir ? sp->cfg.data_dir : ".");

		parse_ip(sp->cfg.dns_ip, &dns_ip);
		r = lo_add(sp, dns_ip, err);
		if (r) {
			free(dir);
			return r;
		}
		dc.dir = dir;
		dc.listen_ip = sp->cfg.dns_ip;
		dc.port = sp->cfg.dns_port ? sp->cfg.dns_port : 53;
		dc.domain = sp->cfg.domain ? sp->cfg.domain : "cluster.local";
		sp->dns = sp->cfg.dns->start(sp->loop, &dc, err);
		free(dir);
		if (!sp->dns)
			return -EIO;
	}
	sp->engine = proxy_new(sp->loop, &sp->cfg.proxy);
	sp->kube = kube_client_new(sp->loop, &kc);
	if (!sp->kube) {
		sm_error(err, NULL, "proxy: cannot set up the API client");
		return -ENOMEM;
	}
	sp->inf_svc = kube_informer_new(sp->kube, sp->loop, "/api/v1/services",
					&informer_ops, sp);
	sp->inf_slices = kube_informer_new(
		sp->kube, sp->loop, "/apis/discovery.k8s.io/v1/endpointslices",
		&informer_ops, sp);
	sp->inf_nodes = kube_informer_new(sp->kube, sp->loop, "/api/v1/nodes",
					  &node_informer_ops, sp);
	return 0;
}

struct proxy *svcproxy_engine(struct svcproxy *sp)
{
	return sp->engine;
}

unsigned svcproxy_syncs(const struct svcproxy *sp)
{
	return sp->syncs;
}

static void sync_timer_closed(uv_handle_t *h)
{
	struct svcproxy *sp = h->data;

	sm_strmap_release(&sp->told, NULL);
	free(sp->added);
	free(sp);
}

void svcproxy_free(struct svcproxy *sp)
{
	if (!sp)
		return;
	kube_informer_free(sp->inf_svc);
	kube_informer_free(sp->inf_slices);
	kube_informer_free(sp->inf_nodes);
	kube_client_free(sp->kube);
	if (sp->dns)
		sp->cfg.dns->stop(sp->dns);
	proxy_free(sp->engine);
	/* A clean stop takes back what this process put on lo. */
	while (sp->nr_added)
		lo_del(sp, sp->added[sp->nr_added - 1]);
	uv_close((uv_handle_t *)&sp->sync_timer, sync_timer_closed);
}
