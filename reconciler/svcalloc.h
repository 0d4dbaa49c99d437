/*
 * svcalloc.h: the Service admitter (store.h's admission hook): virtual IPs
 * from the service CIDR and node ports from 30000-32767, unique over every
 * Service of the store, with the rules Kubernetes' Service registry
 * applies on create and update.
 *
 * Create: a missing or "" clusterIP gets the lowest free address of the
 * CIDR (never the network address, the first address (Kubernetes'
 * `kubernetes` Service), the tenth (the cluster DNS) or the broadcast
 * address); a given one must be an IPv4 address in the CIDR, not reserved
 * and free; "None" stays headless. clusterIPs becomes [clusterIP],
 * ipFamilies ["IPv4"] and ipFamilyPolicy "SingleStack" when not given
 * (the cluster is single-stack IPv4: IPv6 and RequireDualStack are
 * refused). Ports of NodePort and LoadBalancer Services (unless
 * allocateLoadBalancerNodePorts is false) without a nodePort get the
 * lowest free port of the range (a port number already given a nodePort
 * in the same Service, for another protocol, shares it, as in
 * Kubernetes); a given one must be in the range and not held by another
 * Service. ExternalName Services get no clusterIP.
 *
 * Update: clusterIP is immutable (missing or "" is the old one, another
 * is refused); a port without nodePort keeps the old nodePort of the same
 * port and protocol (what `kubectl apply` and `replace` rely on); a type
 * change to ClusterIP or ExternalName drops the nodePorts (and, for
 * ExternalName, the clusterIP) that the old object had; a change to
 * NodePort allocates. A Service being deleted is not checked.
 *
 * "Free" is computed by scanning the store's Services at each write: the
 * store applies writes in memory at once, so two writes cannot both take
 * an address. Nothing else is stored; an address or port is free again as
 * soon as its Service is gone.
 *
 * Errors: -EINVAL with Kubernetes' message, for example
 *   Service "web" is invalid: spec.ports[0].nodePort: Invalid value:
 *   30080: provided port is already allocated (Service default/other
 *   holds it)
 * (the API answers it 422 Invalid); -ENOSPC when the CIDR or the port
 * range is full (500).
 */
#ifndef SM_SVCALLOC_H
#define SM_SVCALLOC_H

#include <jansson.h>
#include <stdint.h>

struct sm_err;
struct store;

#define SVCALLOC_DEFAULT_CIDR "10.96.0.0/16"
#define SVCALLOC_NODE_PORT_MIN 30000
#define SVCALLOC_NODE_PORT_MAX 32767

struct svcalloc {
	struct store *store; /* borrowed: the Services are read from it */
	uint32_t net, mask; /* host byte order */
	char cidr[24]; /* as given, for messages */
};

/*
 * Parses an IPv4 CIDR ("10.96.0.0/16") into *net (host order, host bits
 * cleared) and *prefix. The prefix must be 12 to 28 (Kubernetes allows at
 * most a /12; below /28 the reserved addresses leave too few). Returns 0
 * or -EINVAL with the reason in err.
 */
int svcalloc_parse_cidr(const char *cidr, uint32_t *net, unsigned *prefix,
			struct sm_err *err);

/*
 * Sets a up for store s and cidr (NULL: the default). Returns 0 or
 * -EINVAL (svcalloc_parse_cidr()). Install it with
 * store_set_admit(s, svcalloc_admit, a); a must outlive the store's use of
 * it. No release function: a owns nothing.
 */
int svcalloc_init(struct svcalloc *a, struct store *s, const char *cidr,
		  struct sm_err *err);

/* The store_admit_fn: ctx is a struct svcalloc; objects of other kinds
 * pass untouched. */
int svcalloc_admit(void *ctx, const json_t *old, json_t *obj,
		   struct sm_err *err);

/*
 * Gives the Services stored before this admitter existed (a data dir of
 * an earlier version) what they lack: each Service that needs a clusterIP
 * and has none, or a node port type with a port lacking its nodePort, is
 * updated through the store, so a is asked (install it first). Returns the
 * number updated; a Service that cannot be given one is logged and left.
 */
size_t svcalloc_fill_missing(struct svcalloc *a);

/*
 * What Kubernetes does to an update before validating it: when the type no
 * longer has node ports (ClusterIP, ExternalName), nodePorts equal to the
 * old object's for the same port and protocol are removed, and so are an
 * unchanged externalTrafficPolicy (and allocateLoadBalancerNodePorts when
 * it is no longer a LoadBalancer); when it no
 * longer has a virtual IP (ExternalName), a clusterIP equal to the old one
 * is removed with clusterIPs, ipFamilies and ipFamilyPolicy. Anything the
 * update itself changed is left for validation to refuse. The API server
 * calls it before validating a Service update (so `kubectl apply` of a
 * type change works); svcalloc_admit() calls it too.
 */
void svcalloc_prepare_update(const json_t *old, json_t *obj);

#endif
