/*
 * svcalloc.c: see svcalloc.h. Each admission scans the store's Services
 * once for the addresses and ports others hold (a sorted array of
 * addresses, a byte per node port), then decides; a second scan finds the
 * holder's name only when a message needs it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "reconciler/store.h"
#include "reconciler/svcalloc.h"

#include "common/banned.h"

#define NP_MIN SVCALLOC_NODE_PORT_MIN
#define NP_MAX SVCALLOC_NODE_PORT_MAX
#define NP_N (NP_MAX - NP_MIN + 1)
#define PREFIX_MIN 12
#define PREFIX_MAX 28
/* Offsets from the network address that are never allocated. */
#define OFF_KUBERNETES 1
#define OFF_DNS 10

enum { PORT_FREE, PORT_OTHERS, PORT_MINE };

static int parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = ntohl(a.s_addr);
	return 0;
}

static void ip_text(uint32_t ip, char *buf, size_t len)
{
	struct in_addr a = { htonl(ip) };

	if (!inet_ntop(AF_INET, &a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

int svcalloc_parse_cidr(const char *cidr, uint32_t *net, unsigned *prefix,
			struct sm_err *err)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = cidr ? strchr(cidr, '/') : NULL;
	char *end;
	unsigned long p;
	uint32_t a;

	if (!slash || (size_t)(slash - cidr) >= sizeof(ip))
		return sm_error(err, NULL,
				"service CIDR \"%s\": expected an IPv4 "
				"network such as 10.96.0.0/16",
				cidr ? cidr : "");
	memcpy(ip, cidr, (size_t)(slash - cidr));
	ip[slash - cidr] = '\0';
	p = strtoul(slash + 1, &end, 10);
	if (parse_ip(ip, &a) < 0 || *end || end == slash + 1)
		return sm_error(err, NULL,
				"service CIDR \"%s\": expected an IPv4 "
				"network such as 10.96.0.0/16",
				cidr);
	if (p < PREFIX_MIN || p > PREFIX_MAX)
		return sm_error(err, NULL,
				"service CIDR \"%s\": the prefix must be "
				"/%d to /%d",
				cidr, PREFIX_MIN, PREFIX_MAX);
	*prefix = (unsigned)p;
	*net = a & ~((1u << (32 - p)) - 1);
	return 0;
}

int svcalloc_init(struct svcalloc *a, struct store *s, const char *cidr,
		  struct sm_err *err)
{
	unsigned prefix = 0;
	int rc;

	cidr = cidr ? cidr : SVCALLOC_DEFAULT_CIDR;
	memset(a, 0, sizeof(*a));
	rc = svcalloc_parse_cidr(cidr, &a->net, &prefix, err);
	if (rc < 0 || prefix < PREFIX_MIN || prefix > PREFIX_MAX)
		return rc < 0 ? rc : -EINVAL;
	a->store = s;
	a->mask = ~((1u << (32 - prefix)) - 1);
	snprintf(a->cidr, sizeof(a->cidr), "%s", cidr);
	return 0;
}

/* ---- reading Services ------------------------------------------------ */

static const char *type_of(const json_t *svc)
{
	const char *t = sm_json_get_str(json_object_get(svc, "spec"), "type");

	return t && *t ? t : "ClusterIP";
}

static bool has_ip(const char *type)
{
	return strcmp(type, "ExternalName") != 0;
}

static bool node_ports_allowed(const char *type)
{
	return !strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer");
}

/* Whether the type gets node ports allocated. */
static bool node_ports_auto(const json_t *spec, const char *type)
{
	if (!strcmp(type, "NodePort"))
		return true;
	return !strcmp(type, "LoadBalancer") &&
	       !json_is_false(
		       json_object_get(spec, "allocateLoadBalancerNodePorts"));
}

/* A non-empty string member, or NULL. */
static const char *str_set(const json_t *o, const char *key)
{
	const char *v = sm_json_get_str(o, key);

	return v && *v ? v : NULL;
}

static const char *proto_of(const json_t *port)
{
	const char *p = str_set(port, "protocol");

	return p ? p : "TCP";
}

static json_int_t node_port_of(const json_t *port)
{
	json_t *np = json_object_get(port, "nodePort");

	return json_is_integer(np) ? json_integer_value(np) : 0;
}

static bool same_port(const json_t *a, const json_t *b)
{
	return json_equal(json_object_get(a, "port"),
			  json_object_get(b, "port")) &&
	       !strcmp(proto_of(a), proto_of(b));
}

/* The old port of the same port and protocol as p, or NULL. */
static const json_t *old_port(const json_t *old, const json_t *p)
{
	json_t *ports = sm_json_get_path(old, "spec.ports"), *op;
	size_t i;

	json_array_foreach (ports, i, op)
		if (same_port(op, p))
			return op;
	return NULL;
}

/* ---- what the others hold -------------------------------------------- */

struct held {
	const char *ns, *name; /* the Service admitted: not counted */
	const struct svcalloc *a;
	uint32_t *ips;
	size_t nips, aips;
	unsigned char *ports; /* NP_N entries, PORT_* */
};

static bool is_self(const struct held *h, const json_t *svc)
{
	return !strcmp(store_obj_ns(svc), h->ns) &&
	       !strcmp(store_obj_name(svc), h->name);
}

static int collect(void *ctx, const json_t *svc)
{
	struct held *h = ctx;
	json_t *spec = json_object_get(svc, "spec"), *p;
	uint32_t ip;
	size_t i;

	if (is_self(h, svc))
		return 0;
	if (parse_ip(str_set(spec, "clusterIP"), &ip) == 0 &&
	    (ip & h->a->mask) == h->a->net) {
		SM_ALLOC_GROW(h->ips, h->nips + 1, h->aips);
		h->ips[h->nips++] = ip;
	}
	json_array_foreach (json_object_get(spec, "ports"), i, p) {
		json_int_t np = node_port_of(p);

		if (np >= NP_MIN && np <= NP_MAX)
			h->ports[np - NP_MIN] = PORT_OTHERS;
	}
	return 0;
}

static int cmp_u32(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;

	return a < b ? -1 : a > b;
}

static bool ip_held(const struct held *h, uint32_t ip)
{
	return h->nips &&
	       bsearch(&ip, h->ips, h->nips, sizeof(ip), cmp_u32) != NULL;
}

struct holder {
	const struct held *h;
	uint32_t ip; /* 0: look for port */
	json_int_t port;
	char name[520];
};

static int find_holder(void *ctx, const json_t *svc)
{
	struct holder *w = ctx;
	json_t *spec = json_object_get(svc, "spec"), *p;
	uint32_t ip;
	size_t i;
	bool found = false;

	if (is_self(w->h, svc))
		return 0;
	if (w->ip)
		found = parse_ip(str_set(spec, "clusterIP"), &ip) == 0 &&
			ip == w->ip;
	else
		json_array_foreach (json_object_get(spec, "ports"), i, p)
			found = found || node_port_of(p) == w->port;
	if (!found)
		return 0;
	snprintf(w->name, sizeof(w->name), "%s/%s", store_obj_ns(svc),
		 store_obj_name(svc));
	return 1;
}

/* "ns/name" of the other Service holding ip (or port when ip is 0). */
static const char *holder(const struct held *h, uint32_t ip, json_int_t port,
			  struct holder *w)
{
	*w = (struct holder){ .h = h, .ip = ip, .port = port };
	snprintf(w->name, sizeof(w->name), "?");
	store_list(h->a->store, "Service", NULL, find_holder, w);
	return w->name;
}

/* ---- messages -------------------------------------------------------- */

static int invalid(struct sm_err *err, const json_t *svc, const char *fmt, ...)
	SM_PRINTF(3, 4);
static int invalid(struct sm_err *err, const json_t *svc, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	sm_error(err, NULL, "Service \"%s\" is invalid: %s",
		 store_obj_name(svc), what);
	return -EINVAL;
}

/* ---- update preparation ------------------------------------------------ */

void svcalloc_prepare_update(const json_t *old, json_t *obj)
{
	json_t *spec = json_object_get(obj, "spec");
	json_t *ospec = json_object_get(old, "spec"), *p;
	const char *otype = type_of(old), *type = type_of(obj);
	size_t i;

	if (!json_is_object(spec) || !json_is_object(ospec))
		return;
	if (node_ports_allowed(otype) && !node_ports_allowed(type)) {
		json_array_foreach (json_object_get(spec, "ports"), i, p) {
			const json_t *op = old_port(old, p);

			if (node_port_of(p) && op &&
			    node_port_of(op) == node_port_of(p))
				json_object_del(p, "nodePort");
		}
		/* Fields of externally reachable types, left as they were. */
		if (json_equal(json_object_get(spec, "externalTrafficPolicy"),
			       json_object_get(ospec, "externalTrafficPolicy")))
			json_object_del(spec, "externalTrafficPolicy");
	}
	if (!strcmp(otype, "LoadBalancer") && strcmp(type, "LoadBalancer") &&
	    json_equal(json_object_get(spec, "allocateLoadBalancerNodePorts"),
		       json_object_get(ospec, "allocateLoadBalancerNodePorts")))
		json_object_del(spec, "allocateLoadBalancerNodePorts");
	if (has_ip(otype) && !has_ip(type)) {
		const char *ip = str_set(spec, "clusterIP");
		const char *oip = str_set(ospec, "clusterIP");

		if (!ip || (oip && !strcmp(ip, oip))) {
			json_object_del(spec, "clusterIP");
			json_object_del(spec, "clusterIPs");
			json_object_del(spec, "ipFamilies");
			json_object_del(spec, "ipFamilyPolicy");
		}
	}
}

/* ---- the virtual IP ---------------------------------------------------- */

static bool reserved(const struct svcalloc *a, uint32_t ip)
{
	return ip == a->net || ip == a->net + OFF_KUBERNETES ||
	       ip == a->net + OFF_DNS || ip == (a->net | ~a->mask);
}

/* Sets clusterIP, clusterIPs and the single-stack families. */
static void set_ip(json_t *spec, const char *ip)
{
	json_t *fam = json_object_get(spec, "ipFamilies");

	json_object_set_new(spec, "clusterIP", json_string(ip));
	json_object_set_new(spec, "clusterIPs", json_pack("[s]", ip));
	if (!json_array_size(fam))
		json_object_set_new(spec, "ipFamilies",
				    json_pack("[s]", "IPv4"));
	if (!str_set(spec, "ipFamilyPolicy"))
		json_object_set_new(spec, "ipFamilyPolicy",
				    json_string("SingleStack"));
}

static int check_families(const json_t *obj, const json_t *spec,
			  struct sm_err *err)
{
	const char *pol = str_set(spec, "ipFamilyPolicy");
	json_t *fam = json_object_get(spec, "ipFamilies"), *f;
	size_t i;

	json_array_foreach (fam, i, f) {
		if (!json_is_string(f) || strcmp(json_string_value(f), "IPv4"))
			return invalid(err, obj,
				       "spec.ipFamilies[%zu]: Invalid value: "
				       "\"%s\": not configured on this "
				       "cluster (single-stack IPv4)",
				       i,
				       json_is_string(f) ? json_string_value(f)
							 : "?");
	}
	if (pol && !strcmp(pol, "RequireDualStack"))
		return invalid(err, obj,
			       "spec.ipFamilyPolicy: Invalid value: "
			       "\"RequireDualStack\": this cluster is not "
			       "configured for dual-stack services");
	if (json_array_size(json_object_get(spec, "clusterIPs")) > 1)
		return invalid(
			err, obj,
			"spec.clusterIPs: Invalid value: %zu addresses: "
			"this cluster is single-stack IPv4 (one "
			"address at most)",
			json_array_size(json_object_get(spec, "clusterIPs")));
	return 0;
}

/* A given clusterIP (not "None") that the old object did not have. */
static int check_given_ip(const struct svcalloc *a, const struct held *h,
			  const json_t *obj, const char *ip, struct sm_err *err)
{
	struct holder w;
	uint32_t v;

	if (parse_ip(ip, &v) < 0)
		return invalid(err, obj,
			       "spec.clusterIP: Invalid value: \"%s\": must "
			       "be a valid IPv4 address (e.g. 10.96.0.20) or "
			       "None",
			       ip);
	if ((v & a->mask) != a->net)
		return invalid(err, obj,
			       "spec.clusterIP: Invalid value: \"%s\": "
			       "provided IP is not in the valid range. The "
			       "range of valid IPs is %s",
			       ip, a->cidr);
	if (reserved(a, v))
		return invalid(err, obj,
			       "spec.clusterIP: Invalid value: \"%s\": "
			       "provided IP is reserved (the network and "
			       "broadcast addresses, the first address and "
			       "the cluster DNS, the tenth, of %s)",
			       ip, a->cidr);
	if (ip_held(h, v))
		return invalid(err, obj,
			       "spec.clusterIP: Invalid value: \"%s\": "
			       "provided IP is already allocated (Service %s "
			       "holds it)",
			       ip, holder(h, v, 0, &w));
	return 0;
}

/* The lowest free address into buf, or -ENOSPC. */
static int allocate_ip(const struct svcalloc *a, const struct held *h,
		       const json_t *obj, char *buf, size_t len,
		       struct sm_err *err)
{
	uint32_t last = a->net | ~a->mask;

	for (uint32_t ip = a->net + 1; ip < last; ip++) {
		if (reserved(a, ip) || ip_held(h, ip))
			continue;
		ip_text(ip, buf, len);
		return 0;
	}
	sm_error(err, NULL,
		 "Service \"%s\": failed to allocate a serviceIP: range %s "
		 "is full",
		 store_obj_name(obj), a->cidr);
	return -ENOSPC;
}

static int admit_ip(const struct svcalloc *a, const struct held *h,
		    const json_t *old, json_t *obj, struct sm_err *err)
{
	json_t *spec = json_object_get(obj, "spec");
	const char *ip = str_set(spec, "clusterIP");
	const char *ip0 = json_string_value(
		json_array_get(json_object_get(spec, "clusterIPs"), 0));
	const char *oip = NULL;
	char buf[INET_ADDRSTRLEN + 8], keep[INET_ADDRSTRLEN + 8];
	int rc;

	if (!has_ip(type_of(obj))) {
		if (ip || (ip0 && *ip0))
			return invalid(err, obj,
				       "spec.clusterIP: Forbidden: may not be "
				       "set for ExternalName services");
		json_object_del(spec, "clusterIP");
		json_object_del(spec, "clusterIPs");
		json_object_del(spec, "ipFamilies");
		json_object_del(spec, "ipFamilyPolicy");
		return 0;
	}
	if ((rc = check_families(obj, spec, err)) < 0)
		return rc;
	if (ip0 && !*ip0)
		ip0 = NULL;
	if (old && has_ip(type_of(old)))
		oip = str_set(json_object_get(old, "spec"), "clusterIP");
	/*
	 * An update that changes clusterIP but leaves clusterIPs as they were
	 * (kubectl apply of a new clusterIP) means clusterIP: the answer is
	 * "immutable", not a mismatch between the two.
	 */
	if (oip && ip0 && !strcmp(ip0, oip))
		ip0 = NULL;
	if (ip && ip0 && strcmp(ip, ip0))
		return invalid(err, obj,
			       "spec.clusterIPs[0]: Invalid value: \"%s\": "
			       "must match spec.clusterIP \"%s\"",
			       ip0, ip);
	ip = ip ? ip : ip0;
	if (oip) {
		if (ip && strcmp(ip, oip))
			return invalid(err, obj,
				       "spec.clusterIP: Invalid value: \"%s\": "
				       "field is immutable",
				       ip);
		ip = oip; /* borrowed from old, which outlives the call */
	} else if (ip && strcmp(ip, "None")) {
		if ((rc = check_given_ip(a, h, obj, ip, err)) < 0)
			return rc;
	} else if (!ip) {
		if ((rc = allocate_ip(a, h, obj, buf, sizeof(buf), err)) < 0)
			return rc;
		ip = buf;
	}
	/* ip may live in spec: copy it before spec changes. */
	snprintf(keep, sizeof(keep), "%s", ip);
	set_ip(spec, keep);
	return 0;
}

/* ---- node ports -------------------------------------------------------- */

/* The lowest free node port, or 0. */
static json_int_t free_port(const struct held *h)
{
	for (int i = 0; i < NP_N; i++)
		if (h->ports[i] == PORT_FREE)
			return NP_MIN + i;
	return 0;
}

/* The nodePort an earlier port of ports with the same number has, or 0. */
static json_int_t shared_port(const json_t *ports, size_t upto, const json_t *p)
{
	for (size_t j = 0; j < upto; j++) {
		const json_t *q = json_array_get(ports, j);

		if (node_port_of(q) && json_equal(json_object_get(q, "port"),
						  json_object_get(p, "port")))
			return node_port_of(q);
	}
	return 0;
}

static int admit_ports(const struct held *h, const json_t *old, json_t *obj,
		       struct sm_err *err)
{
	json_t *spec = json_object_get(obj, "spec");
	json_t *ports = json_object_get(spec, "ports"), *p;
	const char *type = type_of(obj);
	bool auto_np = node_ports_auto(spec, type);
	bool old_np = old && node_ports_allowed(type_of(old));
	struct holder w;
	size_t i;

	json_array_foreach (ports, i, p) {
		json_int_t np = node_port_of(p);

		if (!np)
			continue;
		if (!node_ports_allowed(type))
			return invalid(err, obj,
				       "spec.ports[%zu].nodePort: Forbidden: "
				       "may not be used when `type` is '%s'",
				       i, type);
		if (np < NP_MIN || np > NP_MAX)
			return invalid(err, obj,
				       "spec.ports[%zu].nodePort: Invalid "
				       "value: %" JSON_INTEGER_FORMAT
				       ": provided port is not in the valid "
				       "range. The range of valid ports is "
				       "%d-%d",
				       i, np, NP_MIN, NP_MAX);
		if (h->ports[np - NP_MIN] == PORT_OTHERS)
			return invalid(err, obj,
				       "spec.ports[%zu].nodePort: Invalid "
				       "value: %" JSON_INTEGER_FORMAT
				       ": provided port is already allocated "
				       "(Service %s holds it)",
				       i, np, holder(h, 0, np, &w));
		h->ports[np - NP_MIN] = PORT_MINE;
	}
	if (!node_ports_allowed(type))
		return 0;
	json_array_foreach (ports, i, p) {
		const json_t *op = old_np ? old_port(old, p) : NULL;
		json_int_t np = node_port_of(p);

		if (np)
			continue;
		/* Kept from the old object, also without allocation. */
		if (op)
			np = node_port_of(op);
		if (np && (np < NP_MIN || np > NP_MAX ||
			   h->ports[np - NP_MIN] == PORT_OTHERS))
			np = 0;
		if (!np && !auto_np)
			continue;
		if (!np)
			np = shared_port(ports, i, p);
		if (!np && !(np = free_port(h))) {
			sm_error(err, NULL,
				 "Service \"%s\": failed to allocate a "
				 "nodePort: range %d-%d is full",
				 store_obj_name(obj), NP_MIN, NP_MAX);
			return -ENOSPC;
		}
		h->ports[np - NP_MIN] = PORT_MINE;
		json_object_set_new(p, "nodePort", json_integer(np));
	}
	json_array_foreach (ports, i, p) {
		for (size_t j = 0; j < i; j++) {
			const json_t *q = json_array_get(ports, j);

			if (node_port_of(q) == node_port_of(p) &&
			    !strcmp(proto_of(q), proto_of(p)))
				return invalid(err, obj,
					       "spec.ports[%zu].nodePort: "
					       "Duplicate value: "
					       "%" JSON_INTEGER_FORMAT,
					       i, node_port_of(p));
		}
	}
	return 0;
}

/* ---- the hook ---------------------------------------------------------- */

int svcalloc_admit(void *ctx, const json_t *old, json_t *obj,
		   struct sm_err *err)
{
	const struct svcalloc *a = ctx;
	const char *kind = store_obj_kind(obj);
	struct held h = { .a = a };
	json_t *spec;
	int rc;

	if (!kind || strcmp(kind, "Service"))
		return 0;
	/* A Service on its way out (finalizers) is not held up. */
	if (old && sm_json_get_str(json_object_get(old, "metadata"),
				   "deletionTimestamp"))
		return 0;
	spec = json_object_get(obj, "spec");
	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(obj, "spec", spec);
	}
	if (old)
		svcalloc_prepare_update(old, obj);
	h.ns = store_obj_ns(obj);
	h.name = store_obj_name(obj);
	h.ports = xcalloc(NP_N, 1);
	store_list(a->store, "Service", NULL, collect, &h);
	if (h.nips > 1)
		qsort(h.ips, h.nips, sizeof(*h.ips), cmp_u32);
	rc = admit_ip(a, &h, old, obj, err);
	if (!rc)
		rc = admit_ports(&h, old, obj, err);
	free(h.ips);
	free(h.ports);
	return rc;
}

/* ---- data from before the admitter ------------------------------------ */

static bool lacks(const json_t *svc)
{
	json_t *spec = json_object_get(svc, "spec"), *p;
	const char *type = type_of(svc);
	size_t i;

	if (has_ip(type) && !str_set(spec, "clusterIP"))
		return true;
	if (!node_ports_auto(spec, type))
		return false;
	json_array_foreach (json_object_get(spec, "ports"), i, p)
		if (!node_port_of(p))
			return true;
	return false;
}

static int collect_lacking(void *ctx, const json_t *svc)
{
	if (lacks(svc) && !sm_json_get_str(json_object_get(svc, "metadata"),
					   "deletionTimestamp"))
		json_array_append((json_t *)ctx, (json_t *)svc);
	return 0;
}

size_t svcalloc_fill_missing(struct svcalloc *a)
{
	json_t *lacking = json_array(), *svc;
	size_t i, n = 0;

	store_list(a->store, "Service", NULL, collect_lacking, lacking);
	json_array_foreach (lacking, i, svc) {
		struct sm_err err = SM_ERR_INIT;

		if (store_update(a->store, svc, STORE_MAIN, NULL, NULL, NULL,
				 &err) < 0)
			sm_log(SM_LOG_WARN, "svcalloc", "%s/%s: %s",
			       store_obj_ns(svc), store_obj_name(svc),
			       err.nr ? err.items[0].msg : "not updated");
		else
			n++;
		sm_err_release(&err);
	}
	json_decref(lacking);
	if (n)
		sm_log(SM_LOG_INFO, "svcalloc",
		       "gave %zu Services stored without them their "
		       "clusterIP and nodePorts",
		       n);
	return n;
}
