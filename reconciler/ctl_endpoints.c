/*
 * ctl_endpoints.c: the endpoints controller.
 *
 * For every Service with a selector it keeps an Endpoints object of the
 * same name, as Kubernetes' endpoints controller writes it:
 * - the pods of the Service's namespace whose labels hold every pair of
 *   spec.selector, that have a podIP, are not terminal (Succeeded,
 *   Failed) and not terminating;
 * - Ready pods (or every pod, with spec.publishNotReadyAddresses) go to
 *   `addresses`, the others to `notReadyAddresses`, each as
 *   {ip, nodeName, targetRef {kind Pod, namespace, name, uid}};
 * - each Service port becomes {name, port, protocol} with port the
 *   targetPort resolved for the pod: a number, a name looked up in the
 *   pod's containers' ports (same protocol), or the Service's port when
 *   none is given. A port a pod cannot resolve is left out for that pod;
 *   a pod that resolves none of the Service's ports is left out;
 * - addresses with identical port sets share a subset; addresses sort by
 *   ip then uid, ports by name then number, subsets by their ports.
 * The Endpoints carry the Service's labels plus
 * endpointslice.kubernetes.io/skip-mirror: "true" (and
 * service.kubernetes.io/headless when clusterIP is None), and no
 * ownerReference. They are written only when they change.
 *
 * A Service without a selector is left alone: its Endpoints are the
 * user's. Endpoints carrying the skip-mirror label (this controller's)
 * are deleted when their Service goes or loses its selector; others are
 * never deleted here.
 *
 * The same sync keeps one EndpointSlice per such Service (ours: labelled
 * kubernetes.io/service-name and managed-by endpointslice-controller.k8s.io,
 * owned by the Service) with the port set most pods share and the pods that
 * have it, terminating ones included with their conditions. A Service
 * that selects no pod with an address has no slice: Kubernetes keeps an
 * empty placeholder slice, for which kubectl 1.32's `describe service`
 * (which reads slices, not Endpoints) prints an empty `Endpoints:` line;
 * without one it prints `Endpoints: <none>`, which says what is wrong.
 *
 * Endpoints and slice endpoints get the pod's `hostname` when its
 * spec.hostname is set and spec.subdomain names the Service (so StatefulSet
 * pods get `<pod>.<svc>` DNS names). Every Service also gets
 * status.loadBalancer: ingress 127.0.0.1 (ipMode VIP) for type
 * LoadBalancer, which the proxies serve on every machine, `{}` otherwise.
 *
 * Keys are Services' "namespace/name"; pod events queue the Services of
 * the pod's namespace whose selector matches its old or new labels.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "reconciler/ctl_internal.h"
#include "reconciler/objutil.h"

#include "common/banned.h"

#define LABEL_SKIP_MIRROR "endpointslice.kubernetes.io/skip-mirror"
#define LABEL_HEADLESS "service.kubernetes.io/headless"

/* spec.selector when it selects something (a non-empty object), or NULL. */
static json_t *svc_selector(const json_t *svc)
{
	json_t *sel = sm_json_get_path(svc, "spec.selector");

	return json_is_object(sel) && json_object_size(sel) ? sel : NULL;
}

/* Every pair of sel is among labels. */
static bool selects(const json_t *sel, const json_t *labels)
{
	const char *k;
	json_t *v;

	if (!json_is_object(labels))
		return false;
	json_object_foreach ((json_t *)sel, k, v) {
		if (!json_equal(v, json_object_get(labels, k)))
			return false;
	}
	return true;
}

static const char *protocol_of(const json_t *port)
{
	const char *p = sm_json_get_str(port, "protocol");

	return p && *p ? p : "TCP";
}

/* The container port of pod named name with protocol proto, or -1. */
static json_int_t named_port(const json_t *pod, const char *name,
			     const char *proto)
{
	json_t *cs = sm_json_get_path(pod, "spec.containers");
	size_t i, j;
	json_t *c, *p;

	json_array_foreach (cs, i, c) {
		json_array_foreach (json_object_get(c, "ports"), j, p) {
			const char *n = sm_json_get_str(p, "name");
			json_t *num = json_object_get(p, "containerPort");

			if (n && !strcmp(n, name) &&
			    !strcmp(protocol_of(p), proto) &&
			    json_is_integer(num))
				return json_integer_value(num);
		}
	}
	return -1;
}

/* The pod's port for Service port sp, or -1 when it has none. */
static json_int_t resolve_port(const json_t *pod, const json_t *sp)
{
	json_t *tp = json_object_get(sp, "targetPort");
	json_t *port = json_object_get(sp, "port");

	if (json_is_integer(tp) && json_integer_value(tp) > 0)
		return json_integer_value(tp);
	if (json_is_string(tp) && *json_string_value(tp)) {
		char *end;
		long n = strtol(json_string_value(tp), &end, 10);

		/* An IntOrString given as "8080" in a string. */
		if (!*end && n > 0)
			return n;
		return named_port(pod, json_string_value(tp), protocol_of(sp));
	}
	return json_is_integer(port) ? json_integer_value(port) : -1;
}

/* The endpoint ports of pod for svc (new array), in svc's order. */
static json_t *pod_ports(const json_t *svc, const json_t *pod)
{
	json_t *out = json_array();
	size_t i;
	json_t *sp;

	json_array_foreach (sm_json_get_path(svc, "spec.ports"), i, sp) {
		json_int_t n = resolve_port(pod, sp);
		const char *name = sm_json_get_str(sp, "name");
		json_t *p;

		if (n < 0)
			continue;
		p = json_pack("{s:I, s:s}", "port", n, "protocol",
			      protocol_of(sp));
		if (name && *name)
			json_object_set_new(p, "name", json_string(name));
		json_array_append_new(out, p);
	}
	return out;
}

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int cmp_port(const void *pa, const void *pb)
{
	const json_t *a = *(const json_t *const *)pa;
	const json_t *b = *(const json_t *const *)pb;
	int d = cmp_str(sm_json_get_str(a, "name"), sm_json_get_str(b, "name"));
	json_int_t na = json_integer_value(json_object_get(a, "port"));
	json_int_t nb = json_integer_value(json_object_get(b, "port"));

	if (d)
		return d;
	if (na != nb)
		return na < nb ? -1 : 1;
	return cmp_str(sm_json_get_str(a, "protocol"),
		       sm_json_get_str(b, "protocol"));
}

static int cmp_addr(const void *pa, const void *pb)
{
	const json_t *a = *(const json_t *const *)pa;
	const json_t *b = *(const json_t *const *)pb;
	int d = cmp_str(sm_json_get_str(a, "ip"), sm_json_get_str(b, "ip"));

	if (d)
		return d;
	return cmp_str(sm_json_get_str(json_object_get(a, "targetRef"), "uid"),
		       sm_json_get_str(json_object_get(b, "targetRef"), "uid"));
}

/* Sorts the array arr in place with cmp. */
static void sort_array(json_t *arr, int (*cmp)(const void *, const void *))
{
	size_t n = json_array_size(arr), i;
	json_t **v;

	if (n < 2)
		return;
	v = calloc(n, sizeof(json_t *));
	if (!v)
		return;
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(json_t *), cmp);
	json_array_clear(arr);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

struct scan {
	const json_t *svc;
	const json_t *sel;
	bool publish_not_ready;
	json_t *groups; /* ports key -> {ports, ready[], notReady[]} */
	json_t *slice; /* [{key, ports, ep}]: the slice's candidates */
};

/*
 * The DNS hostname of pod's endpoint for svc, or NULL: Kubernetes' rule
 * (spec.hostname set and spec.subdomain the Service's name, in the same
 * namespace), which gives StatefulSet pods `<pod>.<svc>` names.
 */
static const char *hostname_for(const json_t *svc, const json_t *pod)
{
	json_t *spec = json_object_get(pod, "spec");
	const char *h = sm_json_get_str(spec, "hostname");
	const char *sub = sm_json_get_str(spec, "subdomain");

	if (!h || !*h || !sub || strcmp(sub, store_obj_name(svc)) ||
	    strcmp(store_obj_ns(pod), store_obj_ns(svc)))
		return NULL;
	return h;
}

/* The EndpointSlice endpoint of pod (new). */
static json_t *slice_endpoint(const json_t *svc, const json_t *pod,
			      const char *ip, bool publish_not_ready)
{
	bool serving = publish_not_ready || pod_is_ready(pod);
	bool terminating = obj_is_terminating(pod);
	const char *node =
		sm_json_get_str(json_object_get(pod, "spec"), "nodeName");
	json_t *ep = json_pack(
		"{s:[s], s:{s:b, s:b, s:b}, s:{s:s, s:s, s:s, s:s}}",
		"addresses", ip, "conditions", "ready",
		serving && (!terminating || publish_not_ready), "serving",
		serving, "terminating", terminating, "targetRef", "kind", "Pod",
		"namespace", store_obj_ns(pod), "name", store_obj_name(pod),
		"uid", obj_uid(pod) ? obj_uid(pod) : "");

	const char *host = hostname_for(svc, pod);

	if (node && *node)
		json_object_set_new(ep, "nodeName", json_string(node));
	if (host)
		json_object_set_new(ep, "hostname", json_string(host));
	return ep;
}

static int scan_pod(void *ctx, const json_t *pod)
{
	struct scan *sc = ctx;
	const char *ip =
		sm_json_get_str(json_object_get(pod, "status"), "podIP");
	const char *node =
		sm_json_get_str(json_object_get(pod, "spec"), "nodeName");
	json_t *ports, *group, *addr;
	char *key;

	if (!ip || !*ip || pod_is_terminal(pod) ||
	    !selects(sc->sel, sm_json_get_path(pod, "metadata.labels")))
		return 0;
	ports = pod_ports(sc->svc, pod);
	if (!json_array_size(ports) &&
	    json_array_size(sm_json_get_path(sc->svc, "spec.ports"))) {
		json_decref(ports);
		return 0; /* none of the Service's ports resolves */
	}
	sort_array(ports, cmp_port);
	key = json_dumps(ports, JSON_COMPACT | JSON_SORT_KEYS);
	json_array_append_new(sc->slice,
			      json_pack("{s:s, s:O, s:o}", "key", key, "ports",
					ports, "ep",
					slice_endpoint(sc->svc, pod, ip,
						       sc->publish_not_ready)));
	if (obj_is_terminating(pod)) {
		free(key);
		json_decref(ports);
		return 0; /* Endpoints list no terminating pods */
	}
	group = json_object_get(sc->groups, key);
	if (!group) {
		group = json_pack("{s:o, s:[], s:[]}", "ports", ports, "ready",
				  "notReady");
		json_object_set_new(sc->groups, key, group);
	} else {
		json_decref(ports);
	}
	free(key);
	addr = json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "ip", ip, "targetRef",
			 "kind", "Pod", "namespace", store_obj_ns(pod), "name",
			 store_obj_name(pod), "uid",
			 obj_uid(pod) ? obj_uid(pod) : "");
	if (node && *node)
		json_object_set_new(addr, "nodeName", json_string(node));
	if (hostname_for(sc->svc, pod))
		json_object_set_new(addr, "hostname",
				    json_string(hostname_for(sc->svc, pod)));
	json_array_append_new(json_object_get(group, (sc->publish_not_ready ||
						      pod_is_ready(pod))
							     ? "ready"
							     : "notReady"),
			      addr);
	return 0;
}

static int cmp_key(const void *pa, const void *pb)
{
	return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

/*
 * The subsets svc should have (new array, possibly empty); *slice gets the
 * EndpointSlice candidates (new array, see struct scan).
 */
static json_t *subsets_for(struct ctl *c, const json_t *svc, const json_t *sel,
			   json_t **slice)
{
	json_t *sp = sm_json_get_path(svc, "spec.publishNotReadyAddresses");
	struct scan sc = { svc, sel, json_is_true(sp), json_object(),
			   json_array() };
	json_t *out = json_array();
	size_t n = 0, i = 0;
	const char **keys, *k;
	json_t *g;

	store_list(c->env.store, "Pod", store_obj_ns(svc), scan_pod, &sc);
	n = json_object_size(sc.groups);
	keys = calloc(n ? n : 1, sizeof(*keys));
	*slice = sc.slice;
	if (!keys) {
		json_decref(sc.groups);
		return out;
	}
	json_object_foreach (sc.groups, k, g)
		keys[i++] = k;
	qsort(keys, n, sizeof(*keys), cmp_key);
	for (i = 0; i < n; i++) {
		json_t *grp = json_object_get(sc.groups, keys[i]);
		json_t *ready = json_object_get(grp, "ready");
		json_t *not_ready = json_object_get(grp, "notReady");
		json_t *ports = json_object_get(grp, "ports");
		json_t *s = json_object();

		sort_array(ready, cmp_addr);
		sort_array(not_ready, cmp_addr);
		if (json_array_size(ready))
			json_object_set(s, "addresses", ready);
		if (json_array_size(not_ready))
			json_object_set(s, "notReadyAddresses", not_ready);
		if (json_array_size(ports))
			json_object_set(s, "ports", ports);
		json_array_append_new(out, s);
	}
	free(keys);
	json_decref(sc.groups);
	return out;
}

/* The labels the Endpoints of svc carry (new). */
static json_t *labels_for(const json_t *svc)
{
	json_t *l = json_deep_copy(sm_json_get_path(svc, "metadata.labels"));
	const char *ip =
		sm_json_get_str(json_object_get(svc, "spec"), "clusterIP");

	if (!json_is_object(l)) {
		json_decref(l);
		l = json_object();
	}
	json_object_set_new(l, LABEL_SKIP_MIRROR, json_string("true"));
	if (ip && !strcmp(ip, "None"))
		json_object_set_new(l, LABEL_HEADLESS, json_string(""));
	else
		json_object_del(l, LABEL_HEADLESS);
	return l;
}

static bool is_ours(const json_t *ep)
{
	const char *v = sm_json_get_str(sm_json_get_path(ep, "metadata.labels"),
					LABEL_SKIP_MIRROR);

	return v && !strcmp(v, "true");
}

static int write_endpoints(struct ctl *c, const json_t *svc,
			   const json_t *stored, json_t *subsets)
{
	struct sm_err err = SM_ERR_INIT;
	json_t *want, *meta;
	int rc;

	if (stored) {
		want = json_deep_copy(stored);
		meta = json_object_get(want, "metadata");
	} else {
		want = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1",
				 "kind", "Endpoints", "metadata", "name",
				 store_obj_name(svc), "namespace",
				 store_obj_ns(svc));
		meta = json_object_get(want, "metadata");
	}
	json_object_set_new(meta, "labels", labels_for(svc));
	if (json_array_size(subsets))
		json_object_set(want, "subsets", subsets);
	else
		json_object_del(want, "subsets");
	if (stored && json_equal(want, stored)) {
		json_decref(want);
		return 0;
	}
	if (stored)
		rc = store_update(c->env.store, want, STORE_ALL, NULL, NULL,
				  NULL, &err);
	else
		rc = store_create(c->env.store, want, NULL, NULL, NULL, &err);
	if (rc < 0)
		sm_log(SM_LOG_DEBUG, "endpoints", "writing %s/%s: %s",
		       store_obj_ns(svc), store_obj_name(svc),
		       err.nr ? err.items[0].msg : "failed");
	json_decref(want);
	sm_err_release(&err);
	return rc;
}

#define LABEL_SERVICE_NAME "kubernetes.io/service-name"
#define LABEL_MANAGED_BY "endpointslice.kubernetes.io/managed-by"
#define MANAGED_BY "endpointslice-controller.k8s.io"

struct slices {
	const char *svc;
	json_t *found;
};

static int collect_slice(void *ctx, const json_t *es)
{
	struct slices *sl = ctx;
	json_t *l = sm_json_get_path(es, "metadata.labels");
	const char *n = sm_json_get_str(l, LABEL_SERVICE_NAME);
	const char *m = sm_json_get_str(l, LABEL_MANAGED_BY);

	if (n && m && !strcmp(n, sl->svc) && !strcmp(m, MANAGED_BY))
		json_array_append(sl->found, (json_t *)es);
	return 0;
}

/* This controller's EndpointSlices of Service ns/name (new array). */
static json_t *our_slices(struct ctl *c, const char *ns, const char *name)
{
	struct slices sl = { name, json_array() };

	store_list(c->env.store, "EndpointSlice", ns, collect_slice, &sl);
	return sl.found;
}

static int cmp_slice_ep(const void *pa, const void *pb)
{
	const json_t *a = *(const json_t *const *)pa;
	const json_t *b = *(const json_t *const *)pb;
	const char *ia = json_string_value(
		json_array_get(json_object_get(a, "addresses"), 0));
	const char *ib = json_string_value(
		json_array_get(json_object_get(b, "addresses"), 0));
	int d = cmp_str(ia, ib);

	if (d)
		return d;
	return cmp_str(sm_json_get_str(json_object_get(a, "targetRef"), "uid"),
		       sm_json_get_str(json_object_get(b, "targetRef"), "uid"));
}

/*
 * Fills es (a copy of the stored slice, or a new one) from the candidates:
 * the port set most pods share (the smallest such set on a tie) and the
 * pods that have it.
 */
static void fill_slice(json_t *es, const json_t *svc, const json_t *cands)
{
	json_t *count = json_object(), *eps = json_array(), *ports = NULL;
	const char *best = NULL, *k;
	json_int_t most = 0;
	json_t *v, *labels;
	size_t i;

	json_array_foreach (cands, i, v) {
		const char *key = sm_json_get_str(v, "key");
		json_int_t n = json_integer_value(json_object_get(count, key));

		json_object_set_new(count, key, json_integer(n + 1));
	}
	json_object_foreach (count, k, v) {
		json_int_t n = json_integer_value(v);

		if (n > most || (n == most && best && strcmp(k, best) < 0)) {
			most = n;
			best = k;
		}
	}
	json_array_foreach (cands, i, v) {
		if (!best || strcmp(sm_json_get_str(v, "key"), best))
			continue;
		json_array_append(eps, json_object_get(v, "ep"));
		ports = json_object_get(v, "ports");
	}
	sort_array(eps, cmp_slice_ep);
	labels = json_deep_copy(sm_json_get_path(svc, "metadata.labels"));
	if (!json_is_object(labels)) {
		json_decref(labels);
		labels = json_object();
	}
	json_object_set_new(labels, LABEL_SERVICE_NAME,
			    json_string(store_obj_name(svc)));
	json_object_set_new(labels, LABEL_MANAGED_BY, json_string(MANAGED_BY));
	json_object_set_new(json_object_get(es, "metadata"), "labels", labels);
	json_object_set_new(es, "addressType", json_string("IPv4"));
	json_object_set_new(es, "endpoints", eps);
	ports = ports ? json_deep_copy(ports) : json_array();
	/*
	 * A slice port always has a name, "" for an unnamed one, as
	 * Kubernetes writes it: kubectl describe service dereferences it.
	 */
	json_array_foreach (ports, i, v) {
		if (!json_object_get(v, "name"))
			json_object_set_new(v, "name", json_string(""));
	}
	json_object_set_new(es, "ports", ports);
	json_decref(count);
}

/* Keeps one EndpointSlice of svc (ours), deleting any others of ours. */
static int write_slice(struct ctl *c, const json_t *svc, const json_t *cands)
{
	json_t *found = our_slices(c, store_obj_ns(svc), store_obj_name(svc));
	const json_t *stored = NULL;
	json_t *es, *v;
	size_t i;
	int rc = 0;

	json_array_foreach (found, i, v) {
		/* No endpoint at all: no slice (see the top of the file). */
		if (!stored && !obj_is_terminating(v) && json_array_size(cands))
			stored = v;
		else
			obj_delete(c->env.store, v, NULL);
	}
	if (!json_array_size(cands)) {
		json_decref(found);
		return 0;
	}
	if (stored) {
		es = json_deep_copy(stored);
	} else {
		char prefix[300];

		snprintf(prefix, sizeof(prefix), "%s-", store_obj_name(svc));
		es = json_pack("{s:s, s:s, s:{s:s, s:s, s:[o]}}", "apiVersion",
			       "discovery.k8s.io/v1", "kind", "EndpointSlice",
			       "metadata", "generateName", prefix, "namespace",
			       store_obj_ns(svc), "ownerReferences",
			       obj_owner_ref(svc));
	}
	fill_slice(es, svc, cands);
	if (!stored)
		rc = store_create(c->env.store, es, NULL, NULL, NULL, NULL);
	else if (!json_equal(es, stored))
		rc = store_update(c->env.store, es, STORE_ALL, NULL, NULL, NULL,
				  NULL);
	json_decref(es);
	json_decref(found);
	return rc;
}

/* Deletes this controller's EndpointSlices of Service ns/name. */
static void delete_slices(struct ctl *c, const char *ns, const char *name)
{
	json_t *found = our_slices(c, ns, name);
	size_t i;
	json_t *v;

	json_array_foreach (found, i, v)
		obj_delete(c->env.store, v, NULL);
	json_decref(found);
}

/*
 * status.loadBalancer as the Service's type wants it: a LoadBalancer is
 * served by the proxies on 127.0.0.1 (the address the proxies bind for it
 * on every machine), the others have an empty one, as in Kubernetes.
 * Written (status only) when it changes.
 */
static int write_lb_status(struct ctl *c, const json_t *svc)
{
	const char *type =
		sm_json_get_str(json_object_get(svc, "spec"), "type");
	json_t *st = json_object_get(svc, "status");
	json_t *want, *obj;
	int rc;

	if (type && !strcmp(type, "LoadBalancer"))
		want = json_pack("{s:[{s:s, s:s}]}", "ingress", "ip",
				 "127.0.0.1", "ipMode", "VIP");
	else
		want = json_object();
	if (json_equal(want, json_object_get(st, "loadBalancer"))) {
		json_decref(want);
		return 0;
	}
	obj = json_deep_copy(svc);
	st = json_object_get(obj, "status");
	if (!json_is_object(st)) {
		st = json_object();
		json_object_set_new(obj, "status", st);
	}
	json_object_set_new(st, "loadBalancer", want);
	rc = store_update(c->env.store, obj, STORE_STATUS, NULL, NULL, NULL,
			  NULL);
	json_decref(obj);
	return rc;
}

static int sync_svc(void *ctx, const char *key)
{
	struct ctl *c = ctx;
	char ns[256], name[256];
	const json_t *svc, *ep, *sel;
	json_t *subsets, *slice = NULL;
	int rc, rc2;

	ctl__split_key(key, ns, name);
	svc = store_get(c->env.store, "Service", ns, name);
	ep = store_get(c->env.store, "Endpoints", ns, name);
	if (svc && !obj_is_terminating(svc) &&
	    (rc = write_lb_status(c, svc)) < 0)
		return rc;
	/* The status write stored a new object: read it again. */
	svc = store_get(c->env.store, "Service", ns, name);
	sel = svc ? svc_selector(svc) : NULL;
	if (!svc || !sel) {
		/* Gone, or without selector: only ours are removed. */
		delete_slices(c, ns, name);
		if (ep && is_ours(ep))
			return obj_delete(c->env.store, ep, NULL);
		return 0;
	}
	if (obj_is_terminating(svc))
		return 0;
	subsets = subsets_for(c, svc, sel, &slice);
	rc = write_endpoints(c, svc, ep, subsets);
	rc2 = write_slice(c, svc, slice);
	json_decref(subsets);
	json_decref(slice);
	return rc < 0 ? rc : rc2;
}

static void on_svc(void *ctx, const struct store_event *ev)
{
	ctl__queue_obj(ctx, ev->obj);
}

struct match {
	struct ctl *c;
	const json_t *labels[2];
};

static int queue_matching(void *ctx, const json_t *svc)
{
	struct match *m = ctx;
	const json_t *sel = svc_selector(svc);

	if (sel && ((m->labels[0] && selects(sel, m->labels[0])) ||
		    (m->labels[1] && selects(sel, m->labels[1]))))
		ctl__queue_obj(m->c, svc);
	return 0;
}

static void on_pod(void *ctx, const struct store_event *ev)
{
	struct match m = { ctx,
			   { sm_json_get_path(ev->obj, "metadata.labels"),
			     ev->old ? sm_json_get_path(ev->old,
							"metadata.labels")
				     : NULL } };

	store_list(m.c->env.store, "Service", store_obj_ns(ev->obj),
		   queue_matching, &m);
}

/* Endpoints of ours left from Services deleted while stopped. */
static int queue_orphan(void *ctx, const json_t *ep)
{
	struct ctl *c = ctx;

	if (is_ours(ep) && !store_get(c->env.store, "Service", store_obj_ns(ep),
				      store_obj_name(ep)))
		ctl__queue_obj(c, ep);
	return 0;
}

struct ctl *ctl_endpoints_new(const struct ctl_env *env)
{
	struct ctl *c = ctl__new(env, "endpoint", "Service", sync_svc);

	ctl__watch(c, "Service", on_svc);
	ctl__watch(c, "Pod", on_pod);
	ctl__start(c);
	store_list(env->store, "Endpoints", NULL, queue_orphan, c);
	return c;
}
