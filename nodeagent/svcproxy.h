/*
 * svcproxy.h: `stuurman proxy`, the service proxy of one machine (as
 * kube-proxy): Services, EndpointSlices and Nodes from the API server's
 * informers (kube.h) turned into the forwarding engine's rules (proxy.h),
 * ClusterIPs on `lo` (ifaddr.h) and, optionally, the cluster DNS.
 *
 * The mapping is a pure function, svcproxy_plan_build(): every TCP port of
 * a Service with a ClusterIP listens on clusterIP:port; NodePort and
 * LoadBalancer ports also listen on nodePort at 127.0.0.1, at every Node's
 * loopback InternalIP and at the extra nodeport addresses; LoadBalancer
 * ports also on 127.0.0.1:port (its status says 127.0.0.1). Backends are
 * the EndpointSlice endpoints (label kubernetes.io/service-name) that are
 * ready (or serving, with publishNotReadyAddresses), at the slice port of
 * the same name. UDP and SCTP ports are not proxied; headless and
 * ExternalName Services have no rules.
 *
 * The runtime (svcproxy_new/start/free) binds nothing before all three
 * informers have listed. Each change schedules one sync (coalesced): lo
 * gets every wanted ClusterIP inside the service CIDR and loses those in
 * the CIDR that nothing wants (never anything outside it); the engine gets
 * the new table; the DNS gets the caches. A clean stop removes what it
 * added.
 *
 * Ownership: configuration is borrowed for the proxy's life (strings and
 * arrays included). svcproxy_free() closes everything; the memory goes
 * from the last close callback, so the loop must run after it.
 */
#ifndef SM_NODEAGENT_SVCPROXY_H
#define SM_NODEAGENT_SVCPROXY_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "common/compat.h"
#include "nodeagent/ifaddr.h"
#include "nodeagent/proxy.h"

struct sm_err;
struct svcproxy;

/* The input of the mapping, besides the three caches. */
struct svcproxy_plan_opts {
	struct ipv4_cidr cidr; /* ClusterIPs in it are wanted on lo */
	const char *const *nodeport_addrs; /* extra NodePort addresses */
	size_t nr_nodeport_addrs;
};

/* What the caches say: the table and the addresses lo must carry. */
struct svcproxy_plan {
	struct proxy_rule *rules; /* names and backends owned by the plan */
	size_t nr_rules, alloc_rules;
	struct in_addr *addrs; /* ClusterIPs inside the CIDR, sorted, unique */
	size_t nr_addrs, alloc_addrs;
	char **conflicts; /* listen addresses claimed twice, as messages */
	size_t nr_conflicts, alloc_conflicts;
};

#define SVCPROXY_PLAN_INIT \
	{                  \
		0          \
	}

/*
 * Builds the plan from the informers' caches (key -> object, borrowed;
 * any may be NULL). Rules come sorted by name then listen address, each
 * rule's backends sorted, so an unchanged world builds the same plan.
 * A listen address claimed by two rules goes to the first (by that order)
 * and the other is reported in conflicts. Never fails.
 */
void svcproxy_plan_build(const json_t *services, const json_t *slices,
			 const json_t *nodes,
			 const struct svcproxy_plan_opts *o,
			 struct svcproxy_plan *out);
void svcproxy_plan_release(struct svcproxy_plan *plan);

/* The cluster DNS server, behind a table (nodeagent/proxy_dns.c). */
struct svcproxy_dns_config {
	const char *dir; /* its files: DATA/proxy/dns */
	const char *listen_ip; /* already on lo */
	int port;
	const char *domain;
};

struct svcproxy_dns_ops {
	/* Starts it; NULL with err set when it cannot. */
	void *(*start)(uv_loop_t *loop, const struct svcproxy_dns_config *c,
		       struct sm_err *err);
	/* After every sync; the caches are borrowed for the call. */
	void (*update)(void *dns, const json_t *services, const json_t *slices);
	/* Stops it (may finish on the loop). */
	void (*stop)(void *dns);
};

/* dnsmasq through nodeagent/clusterdns.h (proxy_dns.c). */
extern const struct svcproxy_dns_ops svcproxy_dns_clusterdns;

struct svcproxy_config {
	const char *server; /* API server URL (required) */
	const char *token; /* the node token */
	const char *ca_file;
	const char *unix_socket; /* tests: the API over this socket */
	const char *data_dir; /* DATA: the DNS files go to DATA/proxy/dns */
	struct svcproxy_plan_opts plan;
	const char *link; /* where ClusterIPs go; NULL: "lo" */
	bool no_addresses; /* tests without root: leave lo alone */
	/* Cluster DNS: NULL ops for none. */
	const struct svcproxy_dns_ops *dns;
	const char *dns_ip; /* "10.96.0.10" */
	int dns_port; /* 53 */
	const char *domain; /* "cluster.local" */
	struct proxy_opts proxy;
};

/* Stops everything and removes the addresses it added. NULL ignored. */
void svcproxy_free(struct svcproxy *sp);

/* A proxy (not started). NULL with err set on a bad configuration. */
struct svcproxy *svcproxy_new(uv_loop_t *loop,
			      const struct svcproxy_config *cfg,
			      struct sm_err *err) SM_MALLOC(svcproxy_free);

/*
 * Puts the DNS address on lo and starts the DNS (when configured), then
 * the informers. Returns 0, or a negative errno with err set (nothing is
 * left running then but what svcproxy_free() stops).
 */
int svcproxy_start(struct svcproxy *sp, struct sm_err *err);

/* The engine, for tests and stats (borrowed). */
struct proxy *svcproxy_engine(struct svcproxy *sp);

/* Syncs done so far (tests). */
unsigned svcproxy_syncs(const struct svcproxy *sp);

#endif
