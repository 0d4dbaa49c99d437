/*
 * clusterdns.h: the cluster DNS of `stuurman proxy`, a dnsmasq fed by a
 * hosts file.
 *
 * Pods resolve `<svc>.<ns>.svc.<domain>` (and, through the search domains
 * the agents put in their resolv.conf, `<svc>` and `<svc>.<ns>`), plus
 * `<hostname>.<svc>.<ns>.svc.<domain>` for pods with spec.hostname and
 * spec.subdomain (StatefulSets), at listen_ip:port. dnsmasq answers from
 * DIR/hosts, which this module renders from the proxy's Service and
 * EndpointSlice caches, writes whole (temporary file + rename) and makes
 * dnsmasq read again with SIGHUP. Nothing is forwarded: a name outside the
 * cluster domain is answered REFUSED, an unknown name inside it NXDOMAIN.
 *
 * Records (A only, IPv4), see clusterdns_render():
 * - a Service with a clusterIP: `<svc>.<ns>.svc.<domain>` -> clusterIP;
 * - a headless Service (clusterIP None): the same name -> each ready
 *   address of its EndpointSlices (each address with
 *   publishNotReadyAddresses);
 * - a slice endpoint with a hostname: `<hostname>.<svc>.<ns>.svc.<domain>`
 *   -> its address, ready or not, unless it is terminating and not ready;
 * - ExternalName Services get nothing (they point outside the cluster, and
 *   nothing outside is answered).
 * Names that are not DNS labels and addresses that are not IPv4 are left
 * out, so the file never holds anything dnsmasq would misread.
 *
 * Invariants: dnsmasq runs while the object is started and not freed; when
 * it exits it is started again after a backoff (0.5 s doubling to 10 s,
 * back to 0.5 s after it ran 10 s), and its exit is logged with its last
 * stderr line. Updates are debounced (50 ms) and an unchanged rendering
 * writes nothing. Everything runs on the caller's loop; nothing blocks it.
 *
 * Ownership: options are copied; the JSON given to clusterdns_update() is
 * borrowed for the call. The object embeds a timer and owns its dnsmasq:
 * clusterdns_free() stops dnsmasq (SIGTERM, SIGKILL after 5 s) and the
 * memory goes once the process has exited and every handle has closed, so
 * the loop must run on after it.
 */
#ifndef SM_NODEAGENT_CLUSTERDNS_H
#define SM_NODEAGENT_CLUSTERDNS_H

#include <jansson.h>
#include <uv.h>

#include "common/compat.h"

struct sm_err;
struct clusterdns;

struct clusterdns_opts {
	/* where the hosts file (and dnsmasq's pid file) go; created 0755 */
	const char *dir;
	/* "10.96.0.10" (already on lo: the proxy adds it) */
	const char *listen_ip;
	int port; /* 53 */
	const char *domain; /* "cluster.local" */
	/* program, default "dnsmasq" from PATH (then /usr/sbin, /sbin) */
	const char *dnsmasq;
};

/* Stops dnsmasq: SIGTERM, waits on the loop (see above). NULL is ignored. */
void clusterdns_free(struct clusterdns *d);

/*
 * A cluster DNS on loop (borrowed), not started. NULL, with a message in
 * err, when an option is invalid (no dir, listen_ip not IPv4, port outside
 * 1-65535, domain not a DNS name).
 */
struct clusterdns *clusterdns_new(uv_loop_t *loop,
				  const struct clusterdns_opts *o,
				  struct sm_err *err)
	SM_MALLOC(clusterdns_free);

/*
 * Creates dir, writes the hosts file (what the updates so far rendered, or
 * an empty file), stops a dnsmasq an earlier run left (its pid file names a
 * dnsmasq reading our hosts file) and spawns dnsmasq. Returns 0, or a
 * negative errno with a message in err when the folder or file cannot be
 * written, or dnsmasq cannot be found or run. A dnsmasq that starts and then
 * exits (e.g. listen_ip not on any interface) is not an error here: it is
 * logged and restarted with the backoff. -EBUSY when already started.
 */
int clusterdns_start(struct clusterdns *d, struct sm_err *err);

/*
 * Renders the records of services and slices (kube_informer_cache() maps of
 * key -> object; borrowed for the call, NULL for none) and, when they
 * differ from the file, writes it and signals dnsmasq within 50 ms. A
 * failed write is logged and tried again a second later. Before
 * clusterdns_start() it only remembers the rendering.
 */
void clusterdns_update(struct clusterdns *d, const json_t *services,
		       const json_t *slices);

/*
 * The hosts file for services and slices (as above) under domain (NULL or
 * "": cluster.local): lines
 * "IP NAME\n" sorted by name then address, without duplicates; "" when there
 * is nothing. Pure; new, free() it.
 */
char *clusterdns_render(const json_t *services, const json_t *slices,
			const char *domain) SM_MALLOC(free);

#endif
