/*
 * api_table.c: server-side printing, the meta.k8s.io/v1 Table that
 * `kubectl get` asks for (without it kubectl prints only NAME and AGE).
 *
 * One column table per resource, as a 1.32 API server prints them (see
 * ../shared/reference/kubernetes-api.md, section 7); resources without
 * one get Name and Age. Each row carries the object's metadata as a
 * PartialObjectMetadata, which kubectl needs for -A and --show-labels.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/http_server.h"
#include "common/json.h"
#include "manifests/selector.h"
#include "reconciler/api_internal.h"
#include "reconciler/objutil.h"
#include "reconciler/store.h"

#include "common/banned.h"

struct column {
	const char *name;
	const char *type; /* "string", "integer", "date" */
	int priority; /* 1: -o wide only */
	/* Appends the cell to row (a JSON array). */
	void (*cell)(json_t *row, const json_t *obj, uint64_t now_ns);
};

/* Kubernetes' duration.HumanDuration, as `kubectl get` prints ages. */
static void human_age(uint64_t secs, char *out, size_t len)
{
	uint64_t m = secs / 60, h = secs / 3600, d = secs / 86400;
	uint64_t y = d / 365;

	if (secs < 120)
		snprintf(out, len, "%" PRIu64 "s", secs);
	else if (m < 10 && secs % 60)
		snprintf(out, len, "%" PRIu64 "m%" PRIu64 "s", m, secs % 60);
	else if (m < 180)
		snprintf(out, len, "%" PRIu64 "m", m);
	else if (h < 8 && m % 60)
		snprintf(out, len, "%" PRIu64 "h%" PRIu64 "m", h, m % 60);
	else if (h < 48)
		snprintf(out, len, "%" PRIu64 "h", h);
	else if (d < 8 && h % 24)
		snprintf(out, len, "%" PRIu64 "d%" PRIu64 "h", d, h % 24);
	else if (y < 2)
		snprintf(out, len, "%" PRIu64 "d", d);
	else if (y < 8 && d % 365)
		snprintf(out, len, "%" PRIu64 "y%" PRIu64 "d", y, d % 365);
	else
		snprintf(out, len, "%" PRIu64 "y", y);
}

static void age_of(json_t *row, const char *stamp, uint64_t now_ns)
{
	uint64_t t;
	char out[32];

	if (!stamp || sm_time_parse_rfc3339(stamp, &t) < 0) {
		json_array_append_new(row, json_string("<unknown>"));
		return;
	}
	human_age(now_ns > t ? (now_ns - t) / 1000000000ULL : 0, out,
		  sizeof(out));
	json_array_append_new(row, json_string(out));
}

static const char *str(const json_t *obj, const char *path)
{
	json_t *v = sm_json_get_path(obj, path);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_int_t num(const json_t *obj, const char *path)
{
	json_t *v = sm_json_get_path(obj, path);

	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static void put_str(json_t *row, const char *s)
{
	json_array_append_new(row, json_string(s && *s ? s : "<none>"));
}

static void c_name(json_t *row, const json_t *obj, uint64_t now)
{
	json_array_append_new(row, json_string(store_obj_name(obj)));
}

static void c_age(json_t *row, const json_t *obj, uint64_t now)
{
	age_of(row, str(obj, "metadata.creationTimestamp"), now);
}

/* ---- pods ---- */

static void c_pod_ready(json_t *row, const json_t *obj, uint64_t now)
{
	json_t *cs = sm_json_get_path(obj, "status.containerStatuses");
	size_t total =
		json_array_size(sm_json_get_path(obj, "spec.containers"));
	size_t ready = 0, i;
	json_t *c;
	char out[32];

	json_array_foreach (cs, i, c) {
		if (json_is_true(json_object_get(c, "ready")))
			ready++;
	}
	snprintf(out, sizeof(out), "%zu/%zu", ready, total);
	json_array_append_new(row, json_string(out));
}

/* The Status cell: the phase, or the reason a container gives. */
static void c_pod_status(json_t *row, const json_t *obj, uint64_t now)
{
	const char *phase = pod_phase(obj);
	const char *reason = str(obj, "status.reason");
	json_t *init = sm_json_get_path(obj, "status.initContainerStatuses");
	json_t *cs = sm_json_get_path(obj, "status.containerStatuses");
	char buf[64];
	size_t i;
	json_t *c;

	if (obj_is_terminating(obj)) {
		json_array_append_new(row, json_string("Terminating"));
		return;
	}
	const char *out = *phase ? phase : "Pending";
	if (reason)
		out = reason;
	size_t ninit = json_array_size(init), done = 0;
	json_array_foreach (init, i, c) {
		json_t *t = sm_json_get_path(c, "state.terminated");

		if (t &&
		    json_integer_value(json_object_get(t, "exitCode")) == 0)
			done++;
	}
	if (ninit && done < ninit) {
		snprintf(buf, sizeof(buf), "Init:%zu/%zu", done, ninit);
		json_array_append_new(row, json_string(buf));
		return;
	}
	json_array_foreach (cs, i, c) {
		const char *w = str(c, "state.waiting.reason");
		const char *t = str(c, "state.terminated.reason");

		if (w && *w)
			out = w;
		else if (t && *t)
			out = t;
	}
	json_array_append_new(row, json_string(out));
}

static void c_pod_restarts(json_t *row, const json_t *obj, uint64_t now)
{
	json_t *cs = sm_json_get_path(obj, "status.containerStatuses");
	json_int_t n = 0;
	size_t i;
	json_t *c;
	char out[32];

	json_array_foreach (cs, i, c)
		n += json_integer_value(json_object_get(c, "restartCount"));
	snprintf(out, sizeof(out), "%" JSON_INTEGER_FORMAT, n);
	json_array_append_new(row, json_string(out));
}

static void c_pod_ip(json_t *row, const json_t *obj, uint64_t now)
{
	put_str(row, str(obj, "status.podIP"));
}

static void c_pod_node(json_t *row, const json_t *obj, uint64_t now)
{
	put_str(row, str(obj, "spec.nodeName"));
}

static void c_none(json_t *row, const json_t *obj, uint64_t now)
{
	json_array_append_new(row, json_string("<none>"));
}

/* ---- workloads ---- */

static void c_ready_of_replicas(json_t *row, const json_t *obj, uint64_t now)
{
	char out[48];
	json_t *r = sm_json_get_path(obj, "spec.replicas");

	snprintf(out, sizeof(out),
		 "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
		 num(obj, "status.readyReplicas"),
		 json_is_integer(r) ? json_integer_value(r) : 1);
	json_array_append_new(row, json_string(out));
}

static void c_updated(json_t *row, const json_t *obj, uint64_t now)
{
	json_array_append_new(row,
			      json_integer(num(obj, "status.updatedReplicas")));
}

static void c_available(json_t *row, const json_t *obj, uint64_t now)
{
	json_array_append_new(
		row, json_integer(num(obj, "status.availableReplicas")));
}

static void c_desired(json_t *row, const json_t *obj, uint64_t now)
{
	json_t *r = sm_json_get_path(obj, "spec.replicas");

	json_array_append_new(
		row,
		json_integer(json_is_integer(r) ? json_integer_value(r) : 1));
}

static void c_current(json_t *row, const json_t *obj, uint64_t now)
{
	json_array_append_new(row, json_integer(num(obj, "status.replicas")));
}

static void c_ready_n(json_t *row, const json_t *obj, uint64_t now)
{
	json_array_append_new(row,
			      json_integer(num(obj, "status.readyReplicas")));
}

/* Comma-separated field of the template's containers. */
static void containers_field(json_t *row, const json_t *obj, const char *f)
{
	struct sm_buf b = SM_BUF_INIT(4096);
	json_t *cs = sm_json_get_path(obj, "spec.template.spec.containers");
	size_t i;
	json_t *c;

	json_array_foreach (cs, i, c) {
		const char *v = sm_json_get_str(c, f);

		sm_buf_addf(&b, "%s%s", i ? "," : "", v ? v : "");
	}
	json_array_append_new(row, json_string(sm_buf_cstr(&b)));
	sm_buf_release(&b);
}

static void c_containers(json_t *row, const json_t *obj, uint64_t now)
{
	containers_field(row, obj, "name");
}

static void c_images(json_t *row, const json_t *obj, uint64_t now)
{
	containers_field(row, obj, "image");
}

static void c_selector(json_t *row, const json_t *obj, uint64_t now)
{
	struct mf_selector sel = MF_SELECTOR_INIT;
	struct sm_buf b = SM_BUF_INIT(4096);

	if (mf_selector_from_json(&sel, sm_json_get_path(obj, "spec.selector"),
				  "spec.selector", NULL, NULL) == 0)
		mf_selector_format(&sel, &b);
	put_str(row, sm_buf_cstr(&b));
	mf_selector_release(&sel);
	sm_buf_release(&b);
}

/* ---- services ---- */

static void c_svc_type(json_t *row, const json_t *obj, uint64_t now)
{
	const char *t = str(obj, "spec.type");

	json_array_append_new(row, json_string(t ? t : "ClusterIP"));
}

static void c_svc_ip(json_t *row, const json_t *obj, uint64_t now)
{
	put_str(row, str(obj, "spec.clusterIP"));
}

/*
 * Kubernetes' getServiceExternalIP (the server prints wide, so nothing is
 * shortened): spec.externalIPs, plus for a LoadBalancer its ingress
 * addresses first (<pending> when it has none), an ExternalName's name.
 */
static void c_svc_external(json_t *row, const json_t *obj, uint64_t now)
{
	struct sm_buf b = SM_BUF_INIT(4096);
	const char *type = str(obj, "spec.type");
	json_t *v;
	size_t i;

	if (type && !strcmp(type, "ExternalName")) {
		put_str(row, str(obj, "spec.externalName"));
		sm_buf_release(&b);
		return;
	}
	if (type && !strcmp(type, "LoadBalancer")) {
		json_array_foreach (
			sm_json_get_path(obj, "status.loadBalancer.ingress"), i,
			v) {
			const char *a = sm_json_get_str(v, "ip");

			if (!a || !*a)
				a = sm_json_get_str(v, "hostname");
			if (a && *a)
				sm_buf_addf(&b, "%s%s", b.len ? "," : "", a);
		}
	}
	json_array_foreach (sm_json_get_path(obj, "spec.externalIPs"), i, v) {
		if (json_is_string(v))
			sm_buf_addf(&b, "%s%s", b.len ? "," : "",
				    json_string_value(v));
	}
	if (b.len)
		put_str(row, sm_buf_cstr(&b));
	else
		put_str(row, type && !strcmp(type, "LoadBalancer") ? "<pending>"
								   : "<none>");
	sm_buf_release(&b);
}

static void c_svc_ports(json_t *row, const json_t *obj, uint64_t now)
{
	struct sm_buf b = SM_BUF_INIT(4096);
	json_t *ports = sm_json_get_path(obj, "spec.ports");
	size_t i;
	json_t *p;

	json_array_foreach (ports, i, p) {
		const char *proto = sm_json_get_str(p, "protocol");
		json_t *np = json_object_get(p, "nodePort");

		sm_buf_addf(&b, "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
			    json_integer_value(json_object_get(p, "port")));
		if (json_is_integer(np) && json_integer_value(np))
			sm_buf_addf(&b, ":%" JSON_INTEGER_FORMAT,
				    json_integer_value(np));
		sm_buf_addf(&b, "/%s", proto ? proto : "TCP");
	}
	put_str(row, sm_buf_cstr(&b));
	sm_buf_release(&b);
}

static void c_svc_selector(json_t *row, const json_t *obj, uint64_t now)
{
	struct sm_buf b = SM_BUF_INIT(4096);
	const char *k;
	json_t *v;
	bool first = true;

	json_object_foreach (sm_json_get_path(obj, "spec.selector"), k, v) {
		sm_buf_addf(&b, "%s%s=%s", first ? "" : ",", k,
			    json_string_value(v) ? json_string_value(v) : "");
		first = false;
	}
	put_str(row, sm_buf_cstr(&b));
	sm_buf_release(&b);
}

/* ---- config ---- */

static void c_data_count(json_t *row, const json_t *obj, uint64_t now)
{
	size_t n = json_object_size(json_object_get(obj, "data")) +
		   json_object_size(json_object_get(obj, "binaryData"));

	json_array_append_new(row, json_integer((json_int_t)n));
}

static void c_secret_type(json_t *row, const json_t *obj, uint64_t now)
{
	const char *t = str(obj, "type");

	json_array_append_new(row, json_string(t ? t : "Opaque"));
}

/* ---- nodes and namespaces ---- */

static void c_node_status(json_t *row, const json_t *obj, uint64_t now)
{
	const char *s = sm_json_get_str(obj_condition(obj, "Ready"), "status");
	char out[96];

	snprintf(out, sizeof(out), "%s%s",
		 s && !strcmp(s, "True") ? "Ready" : "NotReady",
		 json_is_true(sm_json_get_path(obj, "spec.unschedulable"))
			 ? ",SchedulingDisabled"
			 : "");
	json_array_append_new(row, json_string(out));
}

static void c_node_roles(json_t *row, const json_t *obj, uint64_t now)
{
	struct sm_buf b = SM_BUF_INIT(1024);
	const char *k;
	json_t *v;
	const char *prefix = "node-role.kubernetes.io/";

	json_object_foreach (sm_json_get_path(obj, "metadata.labels"), k, v) {
		if (!strncmp(k, prefix, strlen(prefix)))
			sm_buf_addf(&b, "%s%s", b.len ? "," : "",
				    k + strlen(prefix));
	}
	put_str(row, sm_buf_cstr(&b));
	sm_buf_release(&b);
}

static void c_node_version(json_t *row, const json_t *obj, uint64_t now)
{
	put_str(row, str(obj, "status.nodeInfo.kubeletVersion"));
}

static void c_node_ip(json_t *row, const json_t *obj, uint64_t now)
{
	json_t *addrs = sm_json_get_path(obj, "status.addresses");
	size_t i;
	json_t *a;

	json_array_foreach (addrs, i, a) {
		const char *t = sm_json_get_str(a, "type");

		if (t && !strcmp(t, "InternalIP")) {
			put_str(row, sm_json_get_str(a, "address"));
			return;
		}
	}
	put_str(row, NULL);
}

static void c_node_os(json_t *row, const json_t *obj, uint64_t now)
{
	put_str(row, str(obj, "status.nodeInfo.osImage"));
}

static void c_node_kernel(json_t *row, const json_t *obj, uint64_t now)
{
	put_str(row, str(obj, "status.nodeInfo.kernelVersion"));
}

static void c_node_runtime(json_t *row, const json_t *obj, uint64_t now)
{
	put_str(row, str(obj, "status.nodeInfo.containerRuntimeVersion"));
}

static void c_ns_status(json_t *row, const json_t *obj, uint64_t now)
{
	const char *p = str(obj, "status.phase");

	json_array_append_new(row, json_string(p ? p : "Active"));
}

/* ---- events ---- */

static void c_ev_last(json_t *row, const json_t *obj, uint64_t now)
{
	age_of(row, str(obj, "lastTimestamp"), now);
}

static void c_ev_first(json_t *row, const json_t *obj, uint64_t now)
{
	age_of(row, str(obj, "firstTimestamp"), now);
}

static void c_ev_type(json_t *row, const json_t *obj, uint64_t now)
{
	put_str(row, str(obj, "type"));
}

static void c_ev_reason(json_t *row, const json_t *obj, uint64_t now)
{
	put_str(row, str(obj, "reason"));
}

static void c_ev_object(json_t *row, const json_t *obj, uint64_t now)
{
	char out[300];
	const char *kind = str(obj, "involvedObject.kind");
	const char *name = str(obj, "involvedObject.name");
	char lower[64];
	size_t i;

	snprintf(lower, sizeof(lower), "%s", kind ? kind : "");
	for (i = 0; lower[i]; i++)
		if (lower[i] >= 'A' && lower[i] <= 'Z')
			lower[i] = (char)(lower[i] - 'A' + 'a');
	snprintf(out, sizeof(out), "%s/%s", lower, name ? name : "");
	json_array_append_new(row, json_string(out));
}

static void c_ev_message(json_t *row, const json_t *obj, uint64_t now)
{
	put_str(row, str(obj, "message"));
}

static void c_ev_source(json_t *row, const json_t *obj, uint64_t now)
{
	put_str(row, str(obj, "source.component"));
}

static void c_ev_count(json_t *row, const json_t *obj, uint64_t now)
{
	json_array_append_new(row, json_integer(num(obj, "count")));
}

/* ---- endpoints and claims ---- */

static void c_ep(json_t *row, const json_t *obj, uint64_t now)
{
	struct sm_buf b = SM_BUF_INIT(4096);
	json_t *subsets = json_object_get(obj, "subsets");
	size_t i, j, k;
	json_t *s, *a, *p;

	json_array_foreach (subsets, i, s) {
		json_array_foreach (json_object_get(s, "addresses"), j, a) {
			json_array_foreach (json_object_get(s, "ports"), k, p)
				sm_buf_addf(&b, "%s%s:%" JSON_INTEGER_FORMAT,
					    b.len ? "," : "",
					    sm_json_get_str(a, "ip"),
					    json_integer_value(json_object_get(
						    p, "port")));
		}
	}
	put_str(row, sm_buf_cstr(&b));
	sm_buf_release(&b);
}

/* kubectl's EndpointSlice columns: ports, then up to 3 addresses. */
static void c_es_type(json_t *row, const json_t *obj, uint64_t now)
{
	const char *t = sm_json_get_str(obj, "addressType");

	put_str(row, t ? t : "");
}

static void c_es_ports(json_t *row, const json_t *obj, uint64_t now)
{
	struct sm_buf b = SM_BUF_INIT(1024);
	size_t i;
	json_t *p;

	json_array_foreach (json_object_get(obj, "ports"), i, p) {
		json_t *n = json_object_get(p, "port");

		if (json_is_integer(n))
			sm_buf_addf(&b, "%s%" JSON_INTEGER_FORMAT,
				    b.len ? "," : "", json_integer_value(n));
	}
	put_str(row, b.len ? sm_buf_cstr(&b) : "<unset>");
	sm_buf_release(&b);
}

static void c_es_endpoints(json_t *row, const json_t *obj, uint64_t now)
{
	struct sm_buf b = SM_BUF_INIT(1024);
	size_t i, j, n = 0;
	json_t *e, *a;

	json_array_foreach (json_object_get(obj, "endpoints"), i, e) {
		json_array_foreach (json_object_get(e, "addresses"), j, a) {
			if (n++ < 3 && json_is_string(a))
				sm_buf_addf(&b, "%s%s", b.len ? "," : "",
					    json_string_value(a));
		}
	}
	if (n > 3)
		sm_buf_addf(&b, " + %zu more...", n - 3);
	put_str(row, b.len ? sm_buf_cstr(&b) : "<unset>");
	sm_buf_release(&b);
}

static void c_pvc_status(json_t *row, const json_t *obj, uint64_t now)
{
	put_str(row, str(obj, "status.phase"));
}

static void c_pvc_capacity(json_t *row, const json_t *obj, uint64_t now)
{
	put_str(row, str(obj, "spec.resources.requests.storage"));
}

#define NAME                                \
	{                                   \
		"Name", "string", 0, c_name \
	}
#define AGE                               \
	{                                 \
		"Age", "string", 0, c_age \
	}

static const struct column pod_cols[] = {
	NAME,
	{ "Ready", "string", 0, c_pod_ready },
	{ "Status", "string", 0, c_pod_status },
	{ "Restarts", "string", 0, c_pod_restarts },
	AGE,
	{ "IP", "string", 1, c_pod_ip },
	{ "Node", "string", 1, c_pod_node },
	{ "Nominated Node", "string", 1, c_none },
	{ "Readiness Gates", "string", 1, c_none },
	{ NULL },
};

static const struct column deploy_cols[] = {
	NAME,
	{ "Ready", "string", 0, c_ready_of_replicas },
	{ "Up-to-date", "integer", 0, c_updated },
	{ "Available", "integer", 0, c_available },
	AGE,
	{ "Containers", "string", 1, c_containers },
	{ "Images", "string", 1, c_images },
	{ "Selector", "string", 1, c_selector },
	{ NULL },
};

static const struct column rs_cols[] = {
	NAME,
	{ "Desired", "integer", 0, c_desired },
	{ "Current", "integer", 0, c_current },
	{ "Ready", "integer", 0, c_ready_n },
	AGE,
	{ "Containers", "string", 1, c_containers },
	{ "Images", "string", 1, c_images },
	{ "Selector", "string", 1, c_selector },
	{ NULL },
};

static const struct column sts_cols[] = {
	NAME,
	{ "Ready", "string", 0, c_ready_of_replicas },
	AGE,
	{ "Containers", "string", 1, c_containers },
	{ "Images", "string", 1, c_images },
	{ NULL },
};

static const struct column svc_cols[] = {
	NAME,
	{ "Type", "string", 0, c_svc_type },
	{ "Cluster-IP", "string", 0, c_svc_ip },
	{ "External-IP", "string", 0, c_svc_external },
	{ "Port(s)", "string", 0, c_svc_ports },
	AGE,
	{ "Selector", "string", 1, c_svc_selector },
	{ NULL },
};

static const struct column cm_cols[] = {
	NAME,
	{ "Data", "integer", 0, c_data_count },
	AGE,
	{ NULL },
};

static const struct column secret_cols[] = {
	NAME,
	{ "Type", "string", 0, c_secret_type },
	{ "Data", "integer", 0, c_data_count },
	AGE,
	{ NULL },
};

static const struct column node_cols[] = {
	NAME,
	{ "Status", "string", 0, c_node_status },
	{ "Roles", "string", 0, c_node_roles },
	AGE,
	{ "Version", "string", 0, c_node_version },
	{ "Internal-IP", "string", 1, c_node_ip },
	{ "External-IP", "string", 1, c_none },
	{ "OS-Image", "string", 1, c_node_os },
	{ "Kernel-Version", "string", 1, c_node_kernel },
	{ "Container-Runtime", "string", 1, c_node_runtime },
	{ NULL },
};

static const struct column ns_cols[] = {
	NAME,
	{ "Status", "string", 0, c_ns_status },
	AGE,
	{ NULL },
};

static const struct column event_cols[] = {
	{ "Last Seen", "string", 0, c_ev_last },
	{ "Type", "string", 0, c_ev_type },
	{ "Reason", "string", 0, c_ev_reason },
	{ "Object", "string", 0, c_ev_object },
	{ "Subobject", "string", 1, c_none },
	{ "Source", "string", 1, c_ev_source },
	{ "Message", "string", 0, c_ev_message },
	{ "First Seen", "string", 1, c_ev_first },
	{ "Count", "integer", 1, c_ev_count },
	{ "Name", "string", 1, c_name },
	{ NULL },
};

static const struct column ep_cols[] = {
	NAME,
	{ "Endpoints", "string", 0, c_ep },
	AGE,
	{ NULL },
};

static const struct column es_cols[] = {
	NAME,
	{ "AddressType", "string", 0, c_es_type },
	{ "Ports", "string", 0, c_es_ports },
	{ "Endpoints", "string", 0, c_es_endpoints },
	AGE,
	{ NULL },
};

static const struct column pvc_cols[] = {
	NAME,
	{ "Status", "string", 0, c_pvc_status },
	{ "Capacity", "string", 0, c_pvc_capacity },
	AGE,
	{ NULL },
};

static const struct column plain_cols[] = { NAME, AGE, { NULL } };

static const struct {
	const char *resource;
	const struct column *cols;
} tables[] = {
	{ "pods", pod_cols },	       { "deployments", deploy_cols },
	{ "replicasets", rs_cols },    { "statefulsets", sts_cols },
	{ "services", svc_cols },      { "configmaps", cm_cols },
	{ "secrets", secret_cols },    { "nodes", node_cols },
	{ "namespaces", ns_cols },     { "events", event_cols },
	{ "endpoints", ep_cols },      { "persistentvolumeclaims", pvc_cols },
	{ "endpointslices", es_cols },
};

static const struct column *columns_of(const struct api_resource *r)
{
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (!strcmp(tables[i].resource, r->name))
			return tables[i].cols;
	return plain_cols;
}

bool api__wants_table(const struct api_call *c)
{
	const char *accept = sm_http_req_header(c->req, "Accept");

	return accept && strstr(accept, "as=Table");
}

json_t *api__table_new(const struct api_resource *r, bool definitions,
		       const char *rv)
{
	const struct column *cols = columns_of(r);
	json_t *defs = json_array();

	for (size_t i = 0; definitions && cols[i].name; i++)
		json_array_append_new(
			defs,
			json_pack("{s:s, s:s, s:s, s:s, s:i}", "name",
				  cols[i].name, "type", cols[i].type, "format",
				  i == 0 && cols[i].cell == c_name ? "name"
								   : "",
				  "description", "", "priority",
				  cols[i].priority));
	return json_pack("{s:s, s:s, s:{s:s}, s:o, s:[]}", "kind", "Table",
			 "apiVersion", "meta.k8s.io/v1", "metadata",
			 "resourceVersion", rv ? rv : "", "columnDefinitions",
			 defs, "rows");
}

void api__table_add(json_t *table, const struct api_resource *r,
		    const json_t *obj, uint64_t now_ns)
{
	const struct column *cols = columns_of(r);
	json_t *cells = json_array();
	const json_t *meta = json_object_get(obj, "metadata");
	json_t *pmeta = json_object();
	static const char *const keep[] = { "name",
					    "namespace",
					    "uid",
					    "resourceVersion",
					    "creationTimestamp",
					    "labels",
					    "annotations",
					    "deletionTimestamp",
					    "ownerReferences" };

	for (size_t i = 0; cols[i].name; i++)
		cols[i].cell(cells, obj, now_ns);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		json_t *v = json_object_get(meta, keep[i]);

		if (v)
			json_object_set(pmeta, keep[i], v);
	}
	json_array_append_new(json_object_get(table, "rows"),
			      json_pack("{s:o, s:{s:s, s:s, s:o}}", "cells",
					cells, "object", "kind",
					"PartialObjectMetadata", "apiVersion",
					"meta.k8s.io/v1", "metadata", pmeta));
}
