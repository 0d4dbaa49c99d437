/*
 * kinds.c: the tables that describe each supported kind, field by field, and
 * the rules that span fields. Types are defined leaves first, so each table
 * only refers to types above it.
 *
 * Fields Kubernetes has but stuurman does not act on (affinity, tolerations,
 * securityContext, ...) are listed as MF_ANY: accepted and kept, so a real
 * repository validates here as it does on a cluster. Only names Kubernetes
 * does not know are "unknown fields".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/base64.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "manifests/kinds.h"
#include "manifests/names.h"
#include "manifests/quantity.h"
#include "manifests/selector.h"
#include "common/banned.h"

/* Leaf types. */

const struct mf_type mf_type_string = { .kind = MF_STRING, .name = "string" };
const struct mf_type mf_type_bool = { .kind = MF_BOOL, .name = "boolean" };
const struct mf_type mf_type_any = { .kind = MF_ANY, .name = "any" };
#define T_STR (&mf_type_string)
#define T_BOOL (&mf_type_bool)
#define T_ANY (&mf_type_any)

#define INT_TYPE(id, lo, hi)                                                \
	static const struct mf_type id = {                                  \
		.kind = MF_INT, .name = "integer", .min = (lo), .max = (hi) \
	}
INT_TYPE(t_int32, INT32_MIN, INT32_MAX);
INT_TYPE(t_int32_nonneg, 0, INT32_MAX);
INT_TYPE(t_int32_pos, 1, INT32_MAX);
INT_TYPE(t_int64_nonneg, 0, INT64_MAX);
INT_TYPE(t_port, 1, 65535);
INT_TYPE(t_host_port, 0, 65535);
static const struct mf_type t_mode = {
	.kind = MF_INT, .name = "integer", .min = 0, .max = 0777, .octal = true
};
INT_TYPE(t_node_port, 0, 65535);

/* .name says what the string is, for "invalid port name "X": ..." */
#define FORMAT_TYPE(id, what, fn)                             \
	static const struct mf_type id = { .kind = MF_STRING, \
					   .name = (what),    \
					   .format = (fn) }
FORMAT_TYPE(t_dns_label, "name", mf_check_dns1123_label);
FORMAT_TYPE(t_label_value, "label value", mf_check_label_value);
FORMAT_TYPE(t_qualified_name, "label key", mf_check_qualified_name);
FORMAT_TYPE(t_port_name, "port name", mf_check_port_name);
FORMAT_TYPE(t_env_name, "env var name", mf_check_env_var_name);
FORMAT_TYPE(t_config_key, "key", mf_check_config_key);

#define ENUM_TYPE(id, ...)                                              \
	static const char *const id##_values[] = { __VA_ARGS__, NULL }; \
	static const struct mf_type id = { .kind = MF_STRING,           \
					   .name = "string",            \
					   .enum_values = id##_values }
ENUM_TYPE(t_protocol, "TCP", "UDP", "SCTP");
ENUM_TYPE(t_restart_policy, "Always", "OnFailure", "Never");
ENUM_TYPE(t_pull_policy, "Always", "IfNotPresent", "Never");
ENUM_TYPE(t_dns_policy, "ClusterFirst", "ClusterFirstWithHostNet", "Default",
	  "None");
ENUM_TYPE(t_term_msg_policy, "File", "FallbackToLogsOnError");
ENUM_TYPE(t_scheme, "HTTP", "HTTPS");
ENUM_TYPE(t_sel_operator, "In", "NotIn", "Exists", "DoesNotExist");
ENUM_TYPE(t_deploy_strategy, "RollingUpdate", "Recreate");
ENUM_TYPE(t_sts_strategy, "RollingUpdate", "OnDelete");
ENUM_TYPE(t_pod_mgmt, "OrderedReady", "Parallel");
ENUM_TYPE(t_retention, "Retain", "Delete");
ENUM_TYPE(t_service_type, "ClusterIP", "NodePort", "LoadBalancer",
	  "ExternalName");
ENUM_TYPE(t_affinity, "None", "ClientIP");
ENUM_TYPE(t_traffic_policy, "Cluster", "Local");
ENUM_TYPE(t_access_mode, "ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany",
	  "ReadWriteOncePod");
ENUM_TYPE(t_volume_mode, "Filesystem", "Block");
ENUM_TYPE(t_storage_medium, "", "Memory", "HugePages");
ENUM_TYPE(t_ip_family_policy, "SingleStack", "PreferDualStack",
	  "RequireDualStack");

static const struct mf_type t_quantity = { .kind = MF_QUANTITY,
					   .name = "quantity" };
static const struct mf_type t_str_array = { .kind = MF_ARRAY, .elem = T_STR };
static const struct mf_type t_str_map = { .kind = MF_MAP, .elem = T_STR };
static const struct mf_type t_labels = {
	.kind = MF_MAP,
	.name = "labels",
	.elem = &t_label_value,
	.key_format = mf_check_qualified_name,
};
static const struct mf_type t_annotations = {
	.kind = MF_MAP,
	.name = "annotations",
	.elem = T_STR,
	.key_format = mf_check_qualified_name,
};

/* Resource names: the standard ones or a domain-qualified extended one. */
static const char *check_resource_name(const char *s)
{
	static const char *const std[] = { "cpu", "memory", "ephemeral-storage",
					   "storage", NULL };

	for (const char *const *p = std; *p; p++)
		if (!strcmp(s, *p))
			return NULL;
	if (!strncmp(s, "hugepages-", 10) || strchr(s, '/'))
		return mf_check_qualified_name(s);
	return "must be a standard resource (cpu, memory, ephemeral-storage, "
	       "hugepages-<size>) or a domain-qualified name (example.com/gpu)";
}

static const struct mf_type t_resource_list = {
	.kind = MF_MAP,
	.name = "ResourceList",
	.elem = &t_quantity,
	.key_format = check_resource_name,
};

/* Shared helpers for checks. */

static const char *str_member(const json_t *obj, const char *key)
{
	return sm_json_get_str(obj, key);
}

/* Counts which of keys are present in obj, writing the names into list. */
static int count_present(const json_t *obj, const char *const *keys,
			 struct sm_buf *list)
{
	int n = 0;

	for (const char *const *k = keys; *k; k++) {
		if (!json_object_get(obj, *k))
			continue;
		if (list)
			sm_buf_addf(list, "%s%s", n ? ", " : "", *k);
		n++;
	}
	return n;
}

/*
 * Exactly one of keys must be present. None: reported at the object's key;
 * more: at the key of the second one, the field that may not be there.
 */
static void check_exactly_one(struct mf_walk *w, const json_t *obj,
			      const char *const *keys, const char *what)
{
	struct sm_buf list = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int n = count_present(obj, keys, &list);

	if (n == 0) {
		struct sm_buf all = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		for (const char *const *k = keys; *k; k++)
			sm_buf_addf(&all, "%s%s", k == keys ? "" : ", ", *k);
		mf_walk_error_key_at(w, "", "must specify one %s: one of %s",
				     what, sm_buf_cstr(&all));
		sm_buf_release(&all);
	} else if (n > 1) {
		const char *second = NULL;
		int seen = 0;

		for (const char *const *k = keys; *k && !second; k++)
			if (json_object_get(obj, *k) && seen++ == 1)
				second = *k;
		mf_walk_error_key_at(w, second,
				     "may not specify more than "
				     "one %s (found %s)",
				     what, sm_buf_cstr(&list));
	}
	sm_buf_release(&list);
}

/*
 * Reports the second and later members of arr whose string member `key`
 * repeats an earlier one.
 */
static void check_unique(struct mf_walk *w, const char *arr_key,
			 const json_t *arr, const char *key)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const char *a = str_member(json_array_get(arr, i), key);

		if (!a)
			continue;
		for (size_t j = 0; j < i; j++) {
			const char *b = str_member(json_array_get(arr, j), key);
			struct mf_walk_mark m, m2, m3;

			if (!b || strcmp(a, b))
				continue;
			m = mf_walk_push_key(w, arr_key);
			m2 = mf_walk_push_index(w, i);
			m3 = mf_walk_push_key(w, key);
			mf_walk_error(w,
				      "duplicate value \"%s\" (also at "
				      "%s[%zu])",
				      a, arr_key, j);
			mf_walk_pop(w, m3);
			mf_walk_pop(w, m2);
			mf_walk_pop(w, m);
			break;
		}
	}
}

/* int-or-string for maxSurge/maxUnavailable: >= 0 or a percentage. */
static void check_int_or_percent(struct mf_walk *w, json_t *v)
{
	const char *why;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			mf_walk_error(w, "must be greater than or equal to 0");
	} else if ((why = mf_check_percent(json_string_value(v)))) {
		mf_walk_error(w,
			      "invalid value \"%s\": expected an integer or "
			      "a percentage: %s",
			      json_string_value(v), why);
	}
}

static const struct mf_type t_int_or_percent = {
	.kind = MF_INT_OR_STRING,
	.name = "int-or-string",
	.check = check_int_or_percent,
};

/* A port given by number (1-65535) or by name (an IANA service name). */
static void check_int_or_port_name(struct mf_walk *w, json_t *v)
{
	const char *why;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 1 || json_integer_value(v) > 65535)
			mf_walk_error(w,
				      "must be between 1 and 65535, "
				      "inclusive, got %" JSON_INTEGER_FORMAT,
				      json_integer_value(v));
	} else if ((why = mf_check_port_name(json_string_value(v)))) {
		mf_walk_error(w, "invalid port name \"%s\": %s",
			      json_string_value(v), why);
	}
}

static const struct mf_type t_port_ref = {
	.kind = MF_INT_OR_STRING,
	.name = "int-or-string",
	.check = check_int_or_port_name,
};

/* ObjectMeta. Server-set fields are accepted and dropped: `kubectl get -o
 * yaml` output committed to git then validates and diffs cleanly. */

static const struct mf_field owner_ref_fields[] = {
	{ "apiVersion", T_STR, MF_REQUIRED },
	{ "kind", T_STR, MF_REQUIRED },
	{ "name", T_STR, MF_REQUIRED },
	{ "uid", T_STR, MF_REQUIRED },
	{ "controller", T_BOOL },
	{ "blockOwnerDeletion", T_BOOL },
	{ NULL },
};
static const struct mf_type t_owner_ref = { .kind = MF_OBJECT,
					    .fields = owner_ref_fields };
static const struct mf_type t_owner_refs = { .kind = MF_ARRAY,
					     .elem = &t_owner_ref };

static const struct mf_field meta_fields[] = {
	{ "name", T_STR },
	{ "generateName", T_STR },
	{ "namespace", &t_dns_label },
	{ "labels", &t_labels },
	{ "annotations", &t_annotations },
	{ "ownerReferences", &t_owner_refs },
	{ "finalizers", &t_str_array },
	{ "uid", T_ANY, MF_DROP },
	{ "resourceVersion", T_ANY, MF_DROP },
	{ "generation", T_ANY, MF_DROP },
	{ "creationTimestamp", T_ANY, MF_DROP },
	{ "deletionTimestamp", T_ANY, MF_DROP },
	{ "deletionGracePeriodSeconds", T_ANY, MF_DROP },
	{ "managedFields", T_ANY, MF_DROP },
	{ "selfLink", T_ANY, MF_DROP },
	{ NULL },
};

/* Annotations are limited to 256 KiB in total, as in Kubernetes. */
static void check_meta(struct mf_walk *w, json_t *meta)
{
	json_t *ann = json_object_get(meta, "annotations"), *v;
	const char *k;
	size_t total = 0;

	json_object_foreach (ann, k, v)
		total += strlen(k) + strlen(json_string_value(v));
	if (total > 256 * 1024)
		mf_walk_error_at(w, "annotations",
				 "too long: must have at "
				 "most 262144 bytes, has %zu",
				 total);
}

static const struct mf_type t_meta = { .kind = MF_OBJECT,
				       .name = "ObjectMeta",
				       .fields = meta_fields,
				       .check = check_meta };

/* Only labels and annotations matter in a pod template's metadata. */
static const struct mf_field template_meta_fields[] = {
	{ "name", T_STR },
	{ "namespace", &t_dns_label },
	{ "labels", &t_labels },
	{ "annotations", &t_annotations },
	{ "creationTimestamp", T_ANY, MF_DROP },
	{ NULL },
};
static const struct mf_type t_template_meta = {
	.kind = MF_OBJECT,
	.name = "ObjectMeta",
	.fields = template_meta_fields,
	.check = check_meta,
};

/* LabelSelector. */

static void check_sel_requirement(struct mf_walk *w, json_t *req)
{
	const char *op = str_member(req, "operator");
	size_t n = json_array_size(json_object_get(req, "values"));

	if ((!strcmp(op, "In") || !strcmp(op, "NotIn")) && n == 0)
		mf_walk_error_at(w, "values",
				 "required value: must be "
				 "specified when `operator` is 'In' or "
				 "'NotIn'");
	else if ((!strcmp(op, "Exists") || !strcmp(op, "DoesNotExist")) &&
		 n > 0)
		mf_walk_error_key_at(
			w, "values",
			"may not be specified when "
			"`operator` is 'Exists' or 'DoesNotExist'");
}

static const struct mf_type t_label_values = { .kind = MF_ARRAY,
					       .elem = &t_label_value };
static const struct mf_field sel_req_fields[] = {
	{ "key", &t_qualified_name, MF_REQUIRED },
	{ "operator", &t_sel_operator, MF_REQUIRED },
	{ "values", &t_label_values },
	{ NULL },
};
static const struct mf_type t_sel_req = {
	.kind = MF_OBJECT,
	.name = "LabelSelectorRequirement",
	.fields = sel_req_fields,
	.check = check_sel_requirement,
};
static const struct mf_type t_sel_reqs = { .kind = MF_ARRAY,
					   .elem = &t_sel_req };
static const struct mf_field selector_fields[] = {
	{ "matchLabels", &t_labels },
	{ "matchExpressions", &t_sel_reqs },
	{ NULL },
};
static const struct mf_type t_selector = { .kind = MF_OBJECT,
					   .name = "LabelSelector",
					   .fields = selector_fields };

/* Containers. */

static const struct mf_field container_port_fields[] = {
	{ "name", &t_port_name },
	{ "containerPort", &t_port, MF_REQUIRED },
	{ "hostPort", &t_host_port },
	{ "hostIP", T_STR },
	{ "protocol", &t_protocol, 0, "\"TCP\"" },
	{ NULL },
};
static const struct mf_type t_container_port = {
	.kind = MF_OBJECT,
	.name = "ContainerPort",
	.fields = container_port_fields,
};
static const struct mf_type t_container_ports = { .kind = MF_ARRAY,
						  .elem = &t_container_port };

static const struct mf_field key_selector_fields[] = {
	{ "name", T_STR, MF_REQUIRED | MF_NONEMPTY },
	{ "key", &t_config_key, MF_REQUIRED | MF_NONEMPTY },
	{ "optional", T_BOOL },
	{ NULL },
};
static const struct mf_type t_key_selector = { .kind = MF_OBJECT,
					       .fields = key_selector_fields };
static const struct mf_field field_ref_fields[] = {
	{ "apiVersion", T_STR, 0, "\"v1\"" },
	{ "fieldPath", T_STR, MF_REQUIRED | MF_NONEMPTY },
	{ NULL },
};
static const struct mf_type t_field_ref = { .kind = MF_OBJECT,
					    .fields = field_ref_fields };
static const struct mf_field resource_ref_fields[] = {
	{ "containerName", T_STR },
	{ "resource", T_STR, MF_REQUIRED | MF_NONEMPTY },
	{ "divisor", &t_quantity },
	{ NULL },
};
static const struct mf_type t_resource_ref = { .kind = MF_OBJECT,
					       .fields = resource_ref_fields };

static const char *const env_sources[] = { "configMapKeyRef", "secretKeyRef",
					   "fieldRef", "resourceFieldRef",
					   NULL };

static void check_env_source(struct mf_walk *w, json_t *src)
{
	check_exactly_one(w, src, env_sources, "source");
}

static const struct mf_field env_source_fields[] = {
	{ "configMapKeyRef", &t_key_selector },
	{ "secretKeyRef", &t_key_selector },
	{ "fieldRef", &t_field_ref },
	{ "resourceFieldRef", &t_resource_ref },
	{ NULL },
};
static const struct mf_type t_env_source = {
	.kind = MF_OBJECT,
	.name = "EnvVarSource",
	.fields = env_source_fields,
	.check = check_env_source,
};

static void check_env_var(struct mf_walk *w, json_t *env)
{
	const char *value = str_member(env, "value");

	if (value && *value && json_object_get(env, "valueFrom"))
		mf_walk_error_key_at(w, "valueFrom",
				     "may not be specified when "
				     "`value` is not empty");
}

static const struct mf_field env_var_fields[] = {
	{ "name", &t_env_name, MF_REQUIRED | MF_NONEMPTY },
	{ "value", T_STR },
	{ "valueFrom", &t_env_source },
	{ NULL },
};
static const struct mf_type t_env_var = { .kind = MF_OBJECT,
					  .name = "EnvVar",
					  .fields = env_var_fields,
					  .check = check_env_var };
static const struct mf_type t_env_vars = { .kind = MF_ARRAY,
					   .elem = &t_env_var };

static const struct mf_field local_ref_fields[] = {
	{ "name", T_STR, MF_REQUIRED | MF_NONEMPTY },
	{ "optional", T_BOOL },
	{ NULL },
};
static const struct mf_type t_local_ref = { .kind = MF_OBJECT,
					    .fields = local_ref_fields };

static void check_env_from(struct mf_walk *w, json_t *src)
{
	static const char *const keys[] = { "configMapRef", "secretRef", NULL };
	const char *prefix = str_member(src, "prefix");
	const char *why;

	check_exactly_one(w, src, keys, "source");
	if (prefix && *prefix && (why = mf_check_env_var_name(prefix)))
		mf_walk_error_at(w, "prefix", "invalid value \"%s\": %s",
				 prefix, why);
}

static const struct mf_field env_from_fields[] = {
	{ "prefix", T_STR },
	{ "configMapRef", &t_local_ref },
	{ "secretRef", &t_local_ref },
	{ NULL },
};
static const struct mf_type t_env_from = { .kind = MF_OBJECT,
					   .name = "EnvFromSource",
					   .fields = env_from_fields,
					   .check = check_env_from };
static const struct mf_type t_env_froms = { .kind = MF_ARRAY,
					    .elem = &t_env_from };

/* Requests may not exceed limits, resource by resource. */
static void check_resources(struct mf_walk *w, json_t *res)
{
	json_t *limits = json_object_get(res, "limits");
	json_t *requests = json_object_get(res, "requests");
	const char *name;
	json_t *req;

	json_object_foreach (requests, name, req) {
		json_t *lim = json_object_get(limits, name);
		struct mf_quantity ql, qr;
		struct mf_walk_mark m, m2;

		if (!lim ||
		    mf_quantity_parse(json_string_value(lim), &ql, NULL) ||
		    mf_quantity_parse(json_string_value(req), &qr, NULL))
			continue;
		if (mf_quantity_cmp(&qr, &ql) <= 0)
			continue;
		m = mf_walk_push_key(w, "requests");
		m2 = mf_walk_push_key(w, name);
		mf_walk_error(w,
			      "invalid value \"%s\": must be less than or "
			      "equal to %s limit of %s",
			      json_string_value(req), name,
			      json_string_value(lim));
		mf_walk_pop(w, m2);
		mf_walk_pop(w, m);
	}
}

static const struct mf_field resources_fields[] = {
	{ "limits", &t_resource_list },
	{ "requests", &t_resource_list },
	{ "claims", T_ANY },
	{ NULL },
};
static const struct mf_type t_resources = { .kind = MF_OBJECT,
					    .name = "ResourceRequirements",
					    .fields = resources_fields,
					    .check = check_resources };

static const struct mf_field volume_mount_fields[] = {
	{ "name", T_STR, MF_REQUIRED | MF_NONEMPTY },
	{ "mountPath", T_STR, MF_REQUIRED | MF_NONEMPTY },
	{ "readOnly", T_BOOL },
	{ "subPath", T_STR },
	{ "subPathExpr", T_STR },
	{ "mountPropagation", T_STR },
	{ "recursiveReadOnly", T_STR },
	{ NULL },
};
static const struct mf_type t_volume_mount = { .kind = MF_OBJECT,
					       .name = "VolumeMount",
					       .fields = volume_mount_fields };
static const struct mf_type t_volume_mounts = { .kind = MF_ARRAY,
						.elem = &t_volume_mount };

/* Probes. */

static const struct mf_field http_header_fields[] = {
	{ "name", T_STR, MF_REQUIRED | MF_NONEMPTY },
	{ "value", T_STR, MF_REQUIRED },
	{ NULL },
};
static const struct mf_type t_http_header = { .kind = MF_OBJECT,
					      .fields = http_header_fields };
static const struct mf_type t_http_headers = { .kind = MF_ARRAY,
					       .elem = &t_http_header };
static const struct mf_field http_get_fields[] = {
	{ "path", T_STR },
	{ "port", &t_port_ref, MF_REQUIRED },
	{ "host", T_STR },
	{ "scheme", &t_scheme, 0, "\"HTTP\"" },
	{ "httpHeaders", &t_http_headers },
	{ NULL },
};
static const struct mf_type t_http_get = { .kind = MF_OBJECT,
					   .name = "HTTPGetAction",
					   .fields = http_get_fields };
static const struct mf_field tcp_socket_fields[] = {
	{ "port", &t_port_ref, MF_REQUIRED },
	{ "host", T_STR },
	{ NULL },
};
static const struct mf_type t_tcp_socket = { .kind = MF_OBJECT,
					     .fields = tcp_socket_fields };
static const struct mf_field exec_fields[] = {
	{ "command", &t_str_array, MF_REQUIRED | MF_NONEMPTY },
	{ NULL },
};
static const struct mf_type t_exec = { .kind = MF_OBJECT,
				       .fields = exec_fields };
static const struct mf_field grpc_fields[] = {
	{ "port", &t_port, MF_REQUIRED },
	{ "service", T_STR },
	{ NULL },
};
static const struct mf_type t_grpc = { .kind = MF_OBJECT,
				       .fields = grpc_fields };

static const char *const probe_handlers[] = { "exec", "httpGet", "tcpSocket",
					      "grpc", NULL };

static void check_probe(struct mf_walk *w, json_t *probe)
{
	static const struct {
		const char *field;
		int value;
	} defaults[] = {
		{ "timeoutSeconds", 1 },
		{ "periodSeconds", 10 },
		{ "successThreshold", 1 },
		{ "failureThreshold", 3 },
	};

	check_exactly_one(w, probe, probe_handlers, "handler");
	/* Absent or 0 both mean the default, as in Kubernetes. */
	for (size_t i = 0; i < SM_ARRAY_SIZE(defaults); i++) {
		json_t *v = json_object_get(probe, defaults[i].field);

		if (!v || json_integer_value(v) == 0)
			json_object_set_new(probe, defaults[i].field,
					    json_integer(defaults[i].value));
	}
}

static const struct mf_field probe_fields[] = {
	{ "exec", &t_exec },
	{ "httpGet", &t_http_get },
	{ "tcpSocket", &t_tcp_socket },
	{ "grpc", &t_grpc },
	{ "initialDelaySeconds", &t_int32_nonneg },
	{ "timeoutSeconds", &t_int32_nonneg },
	{ "periodSeconds", &t_int32_nonneg },
	{ "successThreshold", &t_int32_nonneg },
	{ "failureThreshold", &t_int32_nonneg },
	{ "terminationGracePeriodSeconds", &t_int64_nonneg },
	{ NULL },
};
static const struct mf_type t_probe = { .kind = MF_OBJECT,
					.name = "Probe",
					.fields = probe_fields,
					.check = check_probe };

/* Liveness and startup probes must succeed once to count (Kubernetes). */
static void check_probe_success_one(struct mf_walk *w, json_t *probe)
{
	json_t *st;

	check_probe(w, probe);
	st = json_object_get(probe, "successThreshold");
	if (json_integer_value(st) != 1)
		mf_walk_error_at(w, "successThreshold",
				 "must be 1, got %" JSON_INTEGER_FORMAT,
				 json_integer_value(st));
}

static const struct mf_type t_probe_once = {
	.kind = MF_OBJECT,
	.name = "Probe",
	.fields = probe_fields,
	.check = check_probe_success_one,
};

/*
 * imagePullPolicy defaults by tag, as Kubernetes: Always for ":latest" or
 * no tag at all, IfNotPresent otherwise (a digest counts as a tag).
 */
static const char *default_pull_policy(const char *image)
{
	const char *last = strrchr(image, '/');
	const char *tag;

	last = last ? last + 1 : image;
	if (strchr(last, '@'))
		return "IfNotPresent";
	tag = strchr(last, ':');
	if (!tag || !strcmp(tag + 1, "latest"))
		return "Always";
	return "IfNotPresent";
}

/* Warns when a probe names a port the container does not declare. */
static void check_probe_port_name(struct mf_walk *w, json_t *c,
				  const char *probe, const char *handler)
{
	json_t *port = sm_json_get_path(json_object_get(c, probe), handler);
	json_t *ports = json_object_get(c, "ports"), *p;
	struct mf_walk_mark m, m2, m3;
	size_t i;

	port = json_object_get(port, "port");
	if (!json_is_string(port))
		return;
	json_array_foreach (ports, i, p)
		if (!strcmp(sm_json_get_str(p, "name")
				    ? sm_json_get_str(p, "name")
				    : "",
			    json_string_value(port)))
			return;
	m = mf_walk_push_key(w, probe);
	m2 = mf_walk_push_key(w, handler);
	m3 = mf_walk_push_key(w, "port");
	mf_walk_warning(w,
			"port name \"%s\" is not a port name of this "
			"container; the probe will fail",
			json_string_value(port));
	mf_walk_pop(w, m3);
	mf_walk_pop(w, m2);
	mf_walk_pop(w, m);
}

static void check_container(struct mf_walk *w, json_t *c)
{
	static const char *const probes[] = { "livenessProbe", "readinessProbe",
					      "startupProbe", NULL };
	const char *image = str_member(c, "image");

	check_unique(w, "ports", json_object_get(c, "ports"), "name");
	check_unique(w, "volumeMounts", json_object_get(c, "volumeMounts"),
		     "mountPath");
	if (image && !json_object_get(c, "imagePullPolicy"))
		json_object_set_new(c, "imagePullPolicy",
				    json_string(default_pull_policy(image)));
	for (const char *const *p = probes; *p; p++) {
		check_probe_port_name(w, c, *p, "httpGet");
		check_probe_port_name(w, c, *p, "tcpSocket");
	}
}

static const struct mf_field container_fields[] = {
	{ "name", &t_dns_label, MF_REQUIRED | MF_NONEMPTY },
	{ "image", T_STR, MF_REQUIRED | MF_NONEMPTY },
	{ "command", &t_str_array },
	{ "args", &t_str_array },
	{ "workingDir", T_STR },
	{ "ports", &t_container_ports },
	{ "envFrom", &t_env_froms },
	{ "env", &t_env_vars },
	{ "resources", &t_resources, 0, "{}" },
	{ "volumeMounts", &t_volume_mounts },
	{ "volumeDevices", T_ANY },
	{ "livenessProbe", &t_probe_once },
	{ "readinessProbe", &t_probe },
	{ "startupProbe", &t_probe_once },
	{ "lifecycle", T_ANY },
	{ "terminationMessagePath", T_STR, 0, "\"/dev/termination-log\"" },
	{ "terminationMessagePolicy", &t_term_msg_policy, 0, "\"File\"" },
	{ "imagePullPolicy", &t_pull_policy },
	{ "securityContext", T_ANY },
	{ "stdin", T_BOOL },
	{ "stdinOnce", T_BOOL },
	{ "tty", T_BOOL },
	{ "resizePolicy", T_ANY },
	{ "restartPolicy", T_STR },
	{ NULL },
};
static const struct mf_type t_container = { .kind = MF_OBJECT,
					    .name = "Container",
					    .fields = container_fields,
					    .check = check_container };
static const struct mf_type t_containers = { .kind = MF_ARRAY,
					     .elem = &t_container };

/* Volumes. */

static void check_key_to_path(struct mf_walk *w, json_t *item)
{
	const char *path = str_member(item, "path");

	if (path[0] == '/')
		mf_walk_error_at(w, "path",
				 "invalid value \"%s\": must be a "
				 "relative path",
				 path);
	else if (!strcmp(path, "..") || !strncmp(path, "../", 3) ||
		 strstr(path, "/../") ||
		 (strlen(path) >= 3 && !strcmp(path + strlen(path) - 3, "/..")))
		mf_walk_error_at(w, "path",
				 "invalid value \"%s\": must not "
				 "contain '..'",
				 path);
}

static const struct mf_field key_to_path_fields[] = {
	{ "key", &t_config_key, MF_REQUIRED | MF_NONEMPTY },
	{ "path", T_STR, MF_REQUIRED | MF_NONEMPTY },
	{ "mode", &t_mode },
	{ NULL },
};
static const struct mf_type t_key_to_path = { .kind = MF_OBJECT,
					      .fields = key_to_path_fields,
					      .check = check_key_to_path };
static const struct mf_type t_key_to_paths = { .kind = MF_ARRAY,
					       .elem = &t_key_to_path };
static const struct mf_field configmap_vol_fields[] = {
	{ "name", T_STR },
	{ "items", &t_key_to_paths },
	{ "defaultMode", &t_mode, 0, "420" },
	{ "optional", T_BOOL },
	{ NULL },
};
static const struct mf_type t_configmap_vol = { .kind = MF_OBJECT,
						.fields =
							configmap_vol_fields };
static const struct mf_field secret_vol_fields[] = {
	{ "secretName", T_STR },
	{ "items", &t_key_to_paths },
	{ "defaultMode", &t_mode, 0, "420" },
	{ "optional", T_BOOL },
	{ NULL },
};
static const struct mf_type t_secret_vol = { .kind = MF_OBJECT,
					     .fields = secret_vol_fields };
static const struct mf_field empty_dir_fields[] = {
	{ "medium", &t_storage_medium },
	{ "sizeLimit", &t_quantity },
	{ NULL },
};
static const struct mf_type t_empty_dir = { .kind = MF_OBJECT,
					    .fields = empty_dir_fields };
static const struct mf_field pvc_vol_fields[] = {
	{ "claimName", T_STR, MF_REQUIRED | MF_NONEMPTY },
	{ "readOnly", T_BOOL },
	{ NULL },
};
static const struct mf_type t_pvc_vol = { .kind = MF_OBJECT,
					  .fields = pvc_vol_fields };
static const struct mf_field host_path_fields[] = {
	{ "path", T_STR, MF_REQUIRED | MF_NONEMPTY },
	{ "type", T_STR },
	{ NULL },
};
static const struct mf_type t_host_path = { .kind = MF_OBJECT,
					    .fields = host_path_fields };

/*
 * Volume sources stuurman runs come first; the others are accepted as
 * Kubernetes would and reported by the agent when a pod uses them.
 */
static const char *const volume_sources[] = {
	"emptyDir", "configMap", "secret",	"persistentVolumeClaim",
	"hostPath", "projected", "downwardAPI", "ephemeral",
	"csi",	    "nfs",	 "image",	NULL,
};

static void check_volume(struct mf_walk *w, json_t *vol)
{
	/* A volume without a source is an emptyDir, as Kubernetes defaults. */
	if (count_present(vol, volume_sources, NULL) == 0)
		json_object_set_new(vol, "emptyDir", json_object());
	else
		check_exactly_one(w, vol, volume_sources, "volume type");
}

static const struct mf_field volume_fields[] = {
	{ "name", &t_dns_label, MF_REQUIRED | MF_NONEMPTY },
	{ "emptyDir", &t_empty_dir },
	{ "configMap", &t_configmap_vol },
	{ "secret", &t_secret_vol },
	{ "persistentVolumeClaim", &t_pvc_vol },
	{ "hostPath", &t_host_path },
	{ "projected", T_ANY },
	{ "downwardAPI", T_ANY },
	{ "ephemeral", T_ANY },
	{ "csi", T_ANY },
	{ "nfs", T_ANY },
	{ "image", T_ANY },
	{ NULL },
};
static const struct mf_type t_volume = { .kind = MF_OBJECT,
					 .name = "Volume",
					 .fields = volume_fields,
					 .check = check_volume };
static const struct mf_type t_volumes = { .kind = MF_ARRAY, .elem = &t_volume };

/* PodSpec. */

/*
 * Container names are unique across init and app containers. The duplicate
 * is reported at its second occurrence in the file.
 */
static void check_pod_spec(struct mf_walk *w, json_t *spec)
{
	const char *lists[2] = { "initContainers", "containers" };
	json_t *arrs[2];

	if (mf_walk_key_line(w, "initContainers") >
	    mf_walk_key_line(w, "containers")) {
		lists[0] = "containers";
		lists[1] = "initContainers";
	}
	arrs[0] = json_object_get(spec, lists[0]);
	arrs[1] = json_object_get(spec, lists[1]);
	for (int li = 0; li < 2; li++) {
		for (size_t i = 0; i < json_array_size(arrs[li]); i++) {
			const char *a =
				str_member(json_array_get(arrs[li], i), "name");
			bool dup = false;

			for (int lj = 0; lj <= li && a && !dup; lj++) {
				size_t end =
					lj == li ? i
						 : json_array_size(arrs[lj]);

				for (size_t j = 0; j < end && !dup; j++) {
					const char *b = str_member(
						json_array_get(arrs[lj], j),
						"name");

					dup = b && !strcmp(a, b);
				}
			}
			if (dup) {
				struct mf_walk_mark m =
					mf_walk_push_key(w, lists[li]);

				mf_walk_push_index(w, i);
				mf_walk_push_key(w, "name");
				mf_walk_error(w,
					      "duplicate value \"%s\": "
					      "container names must be unique "
					      "in a pod",
					      a);
				mf_walk_pop(w, m);
			}
		}
	}
	check_unique(w, "volumes", json_object_get(spec, "volumes"), "name");
}

static const struct mf_field pod_spec_fields[] = {
	{ "volumes", &t_volumes },
	{ "initContainers", &t_containers },
	{ "containers", &t_containers, MF_REQUIRED | MF_NONEMPTY },
	{ "ephemeralContainers", T_ANY },
	{ "restartPolicy", &t_restart_policy, 0, "\"Always\"" },
	{ "terminationGracePeriodSeconds", &t_int64_nonneg, 0, "30" },
	{ "activeDeadlineSeconds", &t_int64_nonneg },
	{ "dnsPolicy", &t_dns_policy, 0, "\"ClusterFirst\"" },
	{ "nodeSelector", &t_str_map },
	{ "serviceAccountName", T_STR },
	{ "serviceAccount", T_STR },
	{ "automountServiceAccountToken", T_BOOL },
	{ "nodeName", T_STR },
	{ "hostNetwork", T_BOOL },
	{ "hostPID", T_BOOL },
	{ "hostIPC", T_BOOL },
	{ "shareProcessNamespace", T_BOOL },
	{ "securityContext", T_ANY, 0, "{}" },
	{ "imagePullSecrets", T_ANY },
	{ "hostname", &t_dns_label },
	{ "subdomain", &t_dns_label },
	{ "affinity", T_ANY },
	{ "schedulerName", T_STR, 0, "\"default-scheduler\"" },
	{ "tolerations", T_ANY },
	{ "hostAliases", T_ANY },
	{ "priorityClassName", T_STR },
	{ "priority", &t_int32 },
	{ "dnsConfig", T_ANY },
	{ "readinessGates", T_ANY },
	{ "runtimeClassName", T_STR },
	{ "enableServiceLinks", T_BOOL },
	{ "preemptionPolicy", T_STR },
	{ "overhead", T_ANY },
	{ "topologySpreadConstraints", T_ANY },
	{ "setHostnameAsFQDN", T_BOOL },
	{ "os", T_ANY },
	{ "hostUsers", T_BOOL },
	{ "schedulingGates", T_ANY },
	{ "resourceClaims", T_ANY },
	{ NULL },
};
static const struct mf_type t_pod_spec = { .kind = MF_OBJECT,
					   .name = "PodSpec",
					   .fields = pod_spec_fields,
					   .check = check_pod_spec };

static const struct mf_field pod_template_fields[] = {
	{ "metadata", &t_template_meta, 0, "{}" },
	{ "spec", &t_pod_spec, MF_REQUIRED },
	{ NULL },
};
static const struct mf_type t_pod_template = { .kind = MF_OBJECT,
					       .name = "PodTemplateSpec",
					       .fields = pod_template_fields };

/* "volume "data" not found" at REL[i].volumeMounts[j].name. */
static void report_mount(struct mf_walk *w, const char *rel, size_t i, size_t j,
			 const char *name, const json_t *claims)
{
	struct mf_walk_mark m = { w->nr_segs };
	char *copy = xstrdup(rel), *save = NULL;

	/* copy holds the keys the pushed segments point into. */
	for (char *k = strtok_r(copy, ".", &save); k;
	     k = strtok_r(NULL, ".", &save))
		mf_walk_push_key(w, k);
	mf_walk_push_index(w, i);
	mf_walk_push_key(w, "volumeMounts");
	mf_walk_push_index(w, j);
	mf_walk_push_key(w, "name");
	mf_walk_error(w, "volume \"%s\" not found in volumes%s", name,
		      claims ? " or volumeClaimTemplates" : "");
	mf_walk_pop(w, m);
	free(copy);
}

/*
 * Every volumeMount names a volume of the pod, or (for a StatefulSet) one of
 * its volumeClaimTemplates. spec is the PodSpec at rel ("" or "template.spec").
 */
static void check_mounts(struct mf_walk *w, json_t *spec, const char *rel,
			 const json_t *claims)
{
	static const char *const lists[] = { "initContainers", "containers",
					     NULL };
	json_t *volumes = json_object_get(spec, "volumes");

	for (const char *const *l = lists; *l; l++) {
		json_t *cs = json_object_get(spec, *l), *c;
		size_t i;

		json_array_foreach (cs, i, c) {
			json_t *mounts = json_object_get(c, "volumeMounts");
			json_t *mnt;
			size_t j;

			json_array_foreach (mounts, j, mnt) {
				const char *name = str_member(mnt, "name");
				bool found = false;
				json_t *v;
				size_t k;
				char at[128];

				json_array_foreach (volumes, k, v)
					found |= !strcmp(
						name,
						str_member(v, "name")
							? str_member(v, "name")
							: "");
				json_array_foreach (claims, k, v)
					found |= !strcmp(
						name,
						sm_json_get_str(
							json_object_get(
								v, "metadata"),
							"name")
							? sm_json_get_str(
								  json_object_get(
									  v,
									  "meta"
									  "dat"
									  "a"),
								  "name")
							: "");
				if (found)
					continue;
				snprintf(at, sizeof(at), "%s%s%s", rel,
					 *rel ? "." : "", *l);
				report_mount(w, at, i, j, name, claims);
			}
		}
	}
}

/* Pod-level checks that need the kind: defaults only Pods get. */
static void check_pod(struct mf_walk *w, json_t *pod)
{
	json_t *spec = json_object_get(pod, "spec");
	json_t *cs = json_object_get(spec, "containers"), *c;
	struct mf_walk_mark m = mf_walk_push_key(w, "spec");
	size_t i;

	check_mounts(w, spec, "", NULL);
	mf_walk_pop(w, m);
	/* Requests default to limits on Pods (not on templates). */
	json_array_foreach (cs, i, c) {
		json_t *res = json_object_get(c, "resources");
		json_t *lim = json_object_get(res, "limits"), *v;
		json_t *req = json_object_get(res, "requests");
		const char *k;

		json_object_foreach (lim, k, v) {
			if (!req) {
				req = json_object();
				json_object_set_new(res, "requests", req);
			}
			if (!json_object_get(req, k))
				json_object_set(req, k, v);
		}
	}
}

/*
 * Workloads: the selector must be non-empty and select the template's
 * labels, and their pods restart Always.
 */
static void check_workload(struct mf_walk *w, json_t *spec, const char *kind)
{
	json_t *sel = json_object_get(spec, "selector");
	json_t *tmpl = json_object_get(spec, "template");
	json_t *labels = sm_json_get_path(tmpl, "metadata.labels");
	const char *rp =
		sm_json_get_str(json_object_get(tmpl, "spec"), "restartPolicy");
	struct mf_selector s = MF_SELECTOR_INIT;
	struct sm_err scratch = SM_ERR_INIT;

	if (rp && strcmp(rp, "Always"))
		mf_walk_error_at(w, "template.spec.restartPolicy",
				 "unsupported value \"%s\": supported values: "
				 "\"Always\" (a %s restarts its pods)",
				 rp, kind);
	if (!sel)
		return;
	if (mf_selector_from_json(&s, sel, "spec.selector", NULL, &scratch)) {
		/* The schema has reported the selector's problems already. */
	} else if (mf_selector_empty(&s)) {
		mf_walk_error_at(w, "selector",
				 "empty selector is invalid "
				 "for a %s: it would select every pod",
				 kind);
	} else if (!mf_selector_matches(&s, labels)) {
		struct sm_buf text = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		mf_selector_format(&s, &text);
		mf_walk_error_at(w, "template.metadata.labels",
				 "selector does not match template labels "
				 "(selector: %s)",
				 sm_buf_cstr(&text));
		sm_buf_release(&text);
	}
	mf_selector_release(&s);
	sm_err_release(&scratch);
}

/* Deployment. */

static const struct mf_field rolling_update_fields[] = {
	{ "maxUnavailable", &t_int_or_percent, 0, "\"25%\"" },
	{ "maxSurge", &t_int_or_percent, 0, "\"25%\"" },
	{ NULL },
};

static bool is_zero(const json_t *v)
{
	return (json_is_integer(v) && json_integer_value(v) == 0) ||
	       (json_is_string(v) && !strcmp(json_string_value(v), "0%"));
}

static void check_rolling_update(struct mf_walk *w, json_t *ru)
{
	if (is_zero(json_object_get(ru, "maxUnavailable")) &&
	    is_zero(json_object_get(ru, "maxSurge")))
		mf_walk_error_at(w, "maxUnavailable",
				 "may not be 0 when "
				 "`maxSurge` is 0: the rollout could never "
				 "make progress");
}

static const struct mf_type t_rolling_update = {
	.kind = MF_OBJECT,
	.name = "RollingUpdateDeployment",
	.fields = rolling_update_fields,
	.check = check_rolling_update,
};

static void check_deploy_strategy(struct mf_walk *w, json_t *st)
{
	const char *type = str_member(st, "type");

	if (!strcmp(type, "Recreate") && json_object_get(st, "rollingUpdate"))
		mf_walk_error_key_at(w, "rollingUpdate",
				     "may not be specified "
				     "when strategy `type` is 'Recreate'");
	else if (!strcmp(type, "RollingUpdate") &&
		 !json_object_get(st, "rollingUpdate")) {
		json_t *ru = json_pack("{s:s, s:s}", "maxUnavailable", "25%",
				       "maxSurge", "25%");

		json_object_set_new(st, "rollingUpdate", ru);
	}
}

static const struct mf_field deploy_strategy_fields[] = {
	{ "type", &t_deploy_strategy, 0, "\"RollingUpdate\"" },
	{ "rollingUpdate", &t_rolling_update },
	{ NULL },
};
static const struct mf_type t_deploy_strategy_obj = {
	.kind = MF_OBJECT,
	.name = "DeploymentStrategy",
	.fields = deploy_strategy_fields,
	.check = check_deploy_strategy,
};

static void check_deployment_spec(struct mf_walk *w, json_t *spec)
{
	json_t *pd = json_object_get(spec, "progressDeadlineSeconds");
	json_t *mr = json_object_get(spec, "minReadySeconds");

	check_workload(w, spec, "Deployment");
	check_mounts(w,
		     json_object_get(json_object_get(spec, "template"), "spec"),
		     "template.spec", NULL);
	if (pd && mr && json_integer_value(pd) <= json_integer_value(mr))
		mf_walk_error_at(w, "progressDeadlineSeconds",
				 "must be "
				 "greater than minReadySeconds");
}

static const struct mf_field deployment_spec_fields[] = {
	{ "replicas", &t_int32_nonneg, 0, "1" },
	{ "selector", &t_selector, MF_REQUIRED },
	{ "template", &t_pod_template, MF_REQUIRED },
	{ "strategy", &t_deploy_strategy_obj, 0, "{}" },
	{ "minReadySeconds", &t_int32_nonneg },
	{ "revisionHistoryLimit", &t_int32_nonneg, 0, "10" },
	{ "paused", T_BOOL },
	{ "progressDeadlineSeconds", &t_int32_pos, 0, "600" },
	{ NULL },
};
static const struct mf_type t_deployment_spec = {
	.kind = MF_OBJECT,
	.name = "DeploymentSpec",
	.fields = deployment_spec_fields,
	.check = check_deployment_spec,
};

/* ReplicaSet. */

static void check_replicaset_spec(struct mf_walk *w, json_t *spec)
{
	check_workload(w, spec, "ReplicaSet");
	check_mounts(w,
		     json_object_get(json_object_get(spec, "template"), "spec"),
		     "template.spec", NULL);
}

static const struct mf_field replicaset_spec_fields[] = {
	{ "replicas", &t_int32_nonneg, 0, "1" },
	{ "minReadySeconds", &t_int32_nonneg },
	{ "selector", &t_selector, MF_REQUIRED },
	{ "template", &t_pod_template, MF_REQUIRED },
	{ NULL },
};
static const struct mf_type t_replicaset_spec = {
	.kind = MF_OBJECT,
	.name = "ReplicaSetSpec",
	.fields = replicaset_spec_fields,
	.check = check_replicaset_spec,
};

/* PersistentVolumeClaim (also the StatefulSet's volumeClaimTemplates). */

static const struct mf_type t_access_modes = { .kind = MF_ARRAY,
					       .elem = &t_access_mode };

static void check_pvc_resources(struct mf_walk *w, json_t *res)
{
	json_t *storage = sm_json_get_path(res, "requests.storage");
	struct mf_quantity q, zero = { 0 };

	if (!storage)
		mf_walk_error_at(w, "requests.storage",
				 "required value: a "
				 "claim must request storage (e.g. 1Gi)");
	else if (!mf_quantity_parse(json_string_value(storage), &q, NULL) &&
		 mf_quantity_cmp(&q, &zero) <= 0)
		mf_walk_error_at(w, "requests.storage",
				 "must be greater "
				 "than zero");
}

static const struct mf_type t_pvc_resources = {
	.kind = MF_OBJECT,
	.name = "VolumeResourceRequirements",
	.fields = resources_fields,
	.check = check_pvc_resources,
};

static const struct mf_field pvc_spec_fields[] = {
	{ "accessModes", &t_access_modes, MF_REQUIRED | MF_NONEMPTY },
	{ "selector", &t_selector },
	{ "resources", &t_pvc_resources, MF_REQUIRED },
	{ "volumeName", T_STR },
	{ "storageClassName", T_STR },
	{ "volumeMode", &t_volume_mode, 0, "\"Filesystem\"" },
	{ "dataSource", T_ANY },
	{ "dataSourceRef", T_ANY },
	{ "volumeAttributesClassName", T_STR },
	{ NULL },
};
static const struct mf_type t_pvc_spec = { .kind = MF_OBJECT,
					   .name = "PersistentVolumeClaimSpec",
					   .fields = pvc_spec_fields };

static void check_claim_template(struct mf_walk *w, json_t *claim)
{
	const char *name =
		sm_json_get_str(json_object_get(claim, "metadata"), "name");
	const char *why;

	if (!name)
		mf_walk_error_at(w, "metadata.name",
				 "required value: each "
				 "volumeClaimTemplate needs a name, which "
				 "volumeMounts refer to");
	else if ((why = mf_check_dns1123_label(name)))
		mf_walk_error_at(w, "metadata.name", "invalid value \"%s\": %s",
				 name, why);
}

static const struct mf_field claim_template_fields[] = {
	{ "apiVersion", T_STR },
	{ "kind", T_STR },
	{ "metadata", &t_template_meta, MF_REQUIRED },
	{ "spec", &t_pvc_spec, MF_REQUIRED },
	{ "status", T_ANY, MF_DROP },
	{ NULL },
};
static const struct mf_type t_claim_template = {
	.kind = MF_OBJECT,
	.name = "PersistentVolumeClaim",
	.fields = claim_template_fields,
	.check = check_claim_template,
};
static const struct mf_type t_claim_templates = { .kind = MF_ARRAY,
						  .elem = &t_claim_template };

/* StatefulSet. */

static const struct mf_field sts_rolling_fields[] = {
	{ "partition", &t_int32_nonneg, 0, "0" },
	{ "maxUnavailable", &t_int_or_percent },
	{ NULL },
};
static const struct mf_type t_sts_rolling = { .kind = MF_OBJECT,
					      .fields = sts_rolling_fields };

static void check_sts_strategy(struct mf_walk *w, json_t *st)
{
	const char *type = str_member(st, "type");

	if (!strcmp(type, "OnDelete") && json_object_get(st, "rollingUpdate"))
		mf_walk_error_key_at(w, "rollingUpdate",
				     "may not be specified "
				     "when strategy `type` is 'OnDelete'");
	else if (!strcmp(type, "RollingUpdate") &&
		 !json_object_get(st, "rollingUpdate"))
		json_object_set_new(st, "rollingUpdate",
				    json_pack("{s:i}", "partition", 0));
}

static const struct mf_field sts_strategy_fields[] = {
	{ "type", &t_sts_strategy, 0, "\"RollingUpdate\"" },
	{ "rollingUpdate", &t_sts_rolling },
	{ NULL },
};
static const struct mf_type t_sts_strategy_obj = {
	.kind = MF_OBJECT,
	.name = "StatefulSetUpdateStrategy",
	.fields = sts_strategy_fields,
	.check = check_sts_strategy,
};
static const struct mf_field retention_fields[] = {
	{ "whenDeleted", &t_retention, 0, "\"Retain\"" },
	{ "whenScaled", &t_retention, 0, "\"Retain\"" },
	{ NULL },
};
static const struct mf_type t_retention_obj = { .kind = MF_OBJECT,
						.fields = retention_fields };
static const struct mf_field ordinals_fields[] = {
	{ "start", &t_int32_nonneg },
	{ NULL },
};
static const struct mf_type t_ordinals = { .kind = MF_OBJECT,
					   .fields = ordinals_fields };

static void check_sts_spec(struct mf_walk *w, json_t *spec)
{
	json_t *claims = json_object_get(spec, "volumeClaimTemplates");
	json_t *none = json_array();
	json_t *c;
	size_t i;

	check_workload(w, spec, "StatefulSet");
	check_mounts(w,
		     json_object_get(json_object_get(spec, "template"), "spec"),
		     "template.spec", claims ? claims : none);
	json_decref(none);
	json_array_foreach (claims, i, c) {
		for (size_t j = 0; j < i; j++) {
			const char *a = sm_json_get_str(
				json_object_get(c, "metadata"), "name");
			const char *b = sm_json_get_str(
				json_object_get(json_array_get(claims, j),
						"metadata"),
				"name");
			char rel[80];

			if (!a || !b || strcmp(a, b))
				continue;
			snprintf(rel, sizeof(rel), "volumeClaimTemplates.%zu",
				 i);
			(void)rel;
			{
				struct mf_walk_mark m = mf_walk_push_key(
					w, "volumeClaimTemplates");

				mf_walk_push_index(w, i);
				mf_walk_error(w,
					      "duplicate value \"%s\": "
					      "claim template names must be "
					      "unique",
					      a);
				mf_walk_pop(w, m);
			}
		}
	}
}

static const struct mf_field sts_spec_fields[] = {
	{ "replicas", &t_int32_nonneg, 0, "1" },
	{ "selector", &t_selector, MF_REQUIRED },
	{ "template", &t_pod_template, MF_REQUIRED },
	{ "volumeClaimTemplates", &t_claim_templates },
	/*
	 * Required here (as apps/v1 had it for years): the governing headless
	 * Service gives each pod its stable DNS name.
	 */
	{ "serviceName", &t_dns_label, MF_REQUIRED | MF_NONEMPTY },
	{ "podManagementPolicy", &t_pod_mgmt, 0, "\"OrderedReady\"" },
	{ "updateStrategy", &t_sts_strategy_obj, 0, "{}" },
	{ "revisionHistoryLimit", &t_int32_nonneg, 0, "10" },
	{ "minReadySeconds", &t_int32_nonneg },
	{ "persistentVolumeClaimRetentionPolicy", &t_retention_obj, 0, "{}" },
	{ "ordinals", &t_ordinals },
	{ NULL },
};
static const struct mf_type t_sts_spec = { .kind = MF_OBJECT,
					   .name = "StatefulSetSpec",
					   .fields = sts_spec_fields,
					   .check = check_sts_spec };

/* Service. */

static const struct mf_field service_port_fields[] = {
	{ "name", &t_dns_label },
	{ "protocol", &t_protocol, 0, "\"TCP\"" },
	{ "appProtocol", T_STR },
	{ "port", &t_port, MF_REQUIRED },
	{ "targetPort", &t_port_ref },
	{ "nodePort", &t_node_port },
	{ NULL },
};

static void check_service_port(struct mf_walk *w, json_t *p)
{
	/* targetPort defaults to port. */
	if (!json_object_get(p, "targetPort"))
		json_object_set(p, "targetPort", json_object_get(p, "port"));
}

static const struct mf_type t_service_port = {
	.kind = MF_OBJECT,
	.name = "ServicePort",
	.fields = service_port_fields,
	.check = check_service_port,
};
static const struct mf_type t_service_ports = { .kind = MF_ARRAY,
						.elem = &t_service_port };
static const struct mf_field affinity_cfg_fields[] = {
	{ "clientIP", T_ANY },
	{ NULL },
};
static const struct mf_type t_affinity_cfg = { .kind = MF_OBJECT,
					       .fields = affinity_cfg_fields };

#define NODE_PORT_MIN 30000
#define NODE_PORT_MAX 32767

/*
 * clusterIP "", clusterIPs [] and nodePort 0 ask the server to allocate,
 * as leaving them out does: one form for both, or a sync would see the
 * allocated values as drift from "" and 0 forever.
 */
static void drop_allocate_me(json_t *spec)
{
	const char *cip = str_member(spec, "clusterIP");
	json_t *ips = json_object_get(spec, "clusterIPs"), *p, *np;
	size_t i;

	if (cip && !*cip)
		json_object_del(spec, "clusterIP");
	if (json_is_array(ips) && !json_array_size(ips))
		json_object_del(spec, "clusterIPs");
	json_array_foreach (json_object_get(spec, "ports"), i, p) {
		np = json_object_get(p, "nodePort");
		if (json_is_integer(np) && !json_integer_value(np))
			json_object_del(p, "nodePort");
	}
}

static void check_service_spec(struct mf_walk *w, json_t *spec)
{
	const char *type = str_member(spec, "type");
	const char *cip;
	json_t *ports = json_object_get(spec, "ports"), *p;
	bool headless;
	bool node_ports =
		!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer");
	size_t i;

	drop_allocate_me(spec);
	cip = str_member(spec, "clusterIP");
	headless = cip && !strcmp(cip, "None");

	if (!strcmp(type, "ExternalName")) {
		const char *en = str_member(spec, "externalName");
		const char *why;

		if (!en || !*en)
			mf_walk_error_at(w, "externalName",
					 "required value: "
					 "type ExternalName needs the DNS "
					 "name it aliases");
		else if ((why = mf_check_dns1123_subdomain(en)))
			mf_walk_error_at(w, "externalName",
					 "invalid value "
					 "\"%s\": %s",
					 en, why);
	} else if (!json_array_size(ports) && !headless) {
		mf_walk_error_at(w, "ports",
				 "required value: a Service of "
				 "type %s needs at least one port",
				 type);
	}
	if (headless && node_ports)
		mf_walk_error_at(w, "clusterIP",
				 "may not be set to 'None' "
				 "for %s services",
				 type);
	if (json_array_size(ports) > 1) {
		json_array_foreach (ports, i, p) {
			if (json_object_get(p, "name"))
				continue;
			{
				struct mf_walk_mark m =
					mf_walk_push_key(w, "ports");

				mf_walk_push_index(w, i);
				mf_walk_error(w, "name: required value: every "
						 "port of a multi-port Service "
						 "needs a name");
				mf_walk_pop(w, m);
			}
		}
	}
	check_unique(w, "ports", ports, "name");
	json_array_foreach (ports, i, p) {
		json_t *np = json_object_get(p, "nodePort");
		json_int_t v = json_integer_value(np);
		struct mf_walk_mark m;

		if (!np || v == 0)
			continue;
		m = mf_walk_push_key(w, "ports");
		mf_walk_push_index(w, i);
		mf_walk_push_key(w, "nodePort");
		if (!node_ports)
			mf_walk_error_key_at(w, "",
					     "may not be used when "
					     "`type` is '%s'",
					     type);
		else if (v < NODE_PORT_MIN || v > NODE_PORT_MAX)
			mf_walk_error(w,
				      "provided port is not in the valid "
				      "range: must be between %d and %d, "
				      "inclusive, got %" JSON_INTEGER_FORMAT,
				      NODE_PORT_MIN, NODE_PORT_MAX, v);
		mf_walk_pop(w, m);
		for (size_t j = 0; j < i; j++) {
			json_t *q = json_array_get(ports, j);
			const char *pq = str_member(q, "protocol");
			const char *pp = str_member(p, "protocol");

			/* As Kubernetes: one nodePort per protocol (DNS's
			 * TCP and UDP ports share one). */
			if (json_integer_value(
				    json_object_get(q, "nodePort")) != v ||
			    strcmp(pq ? pq : "TCP", pp ? pp : "TCP"))
				continue;
			m = mf_walk_push_key(w, "ports");
			mf_walk_push_index(w, i);
			mf_walk_push_key(w, "nodePort");
			mf_walk_error(
				w, "duplicate value %" JSON_INTEGER_FORMAT, v);
			mf_walk_pop(w, m);
		}
	}
	if (node_ports && !json_object_get(spec, "externalTrafficPolicy"))
		json_object_set_new(spec, "externalTrafficPolicy",
				    json_string("Cluster"));
	if (!strcmp(type, "LoadBalancer") &&
	    !json_object_get(spec, "allocateLoadBalancerNodePorts"))
		json_object_set_new(spec, "allocateLoadBalancerNodePorts",
				    json_true());
}

static const struct mf_field service_spec_fields[] = {
	{ "type", &t_service_type, 0, "\"ClusterIP\"" },
	{ "ports", &t_service_ports },
	{ "selector", &t_labels },
	{ "clusterIP", T_STR },
	{ "clusterIPs", &t_str_array },
	{ "externalName", T_STR },
	{ "externalIPs", &t_str_array },
	{ "sessionAffinity", &t_affinity, 0, "\"None\"" },
	{ "sessionAffinityConfig", &t_affinity_cfg },
	{ "loadBalancerIP", T_STR },
	{ "loadBalancerSourceRanges", &t_str_array },
	{ "loadBalancerClass", T_STR },
	{ "externalTrafficPolicy", &t_traffic_policy },
	{ "internalTrafficPolicy", &t_traffic_policy, 0, "\"Cluster\"" },
	{ "healthCheckNodePort", &t_int32_nonneg },
	{ "publishNotReadyAddresses", T_BOOL },
	{ "ipFamilies", &t_str_array },
	{ "ipFamilyPolicy", &t_ip_family_policy },
	{ "allocateLoadBalancerNodePorts", T_BOOL },
	{ "trafficDistribution", T_STR },
	{ NULL },
};
static const struct mf_type t_service_spec = { .kind = MF_OBJECT,
					       .name = "ServiceSpec",
					       .fields = service_spec_fields,
					       .check = check_service_spec };

/* ConfigMap and Secret. */

static const struct mf_type t_config_data = {
	.kind = MF_MAP,
	.name = "data",
	.elem = T_STR,
	.key_format = mf_check_config_key,
};

static void check_base64(struct mf_walk *w, json_t *v)
{
	if (!sm_base64_valid(json_string_value(v), json_string_length(v), NULL))
		mf_walk_error(w, "illegal base64 data: a Secret's `data` holds "
				 "base64-encoded values (put plain text under "
				 "`stringData`)");
}

static const struct mf_type t_base64 = { .kind = MF_STRING,
					 .name = "string",
					 .check = check_base64 };
static const struct mf_type t_binary_data = {
	.kind = MF_MAP,
	.name = "binaryData",
	.elem = &t_base64,
	.key_format = mf_check_config_key,
};

#define CONFIG_MAX_BYTES (1024 * 1024)

static void check_configmap(struct mf_walk *w, json_t *cm)
{
	json_t *data = json_object_get(cm, "data");
	json_t *bin = json_object_get(cm, "binaryData"), *v;
	size_t total = 0;
	const char *k;

	json_object_foreach (bin, k, v) {
		if (json_object_get(data, k)) {
			struct mf_walk_mark m =
				mf_walk_push_key(w, "binaryData");

			mf_walk_push_key(w, k);
			mf_walk_error(w, "duplicate of key \"%s\" in data", k);
			mf_walk_pop(w, m);
		}
		total += strlen(json_string_value(v)) / 4 * 3;
	}
	json_object_foreach (data, k, v)
		total += strlen(json_string_value(v));
	if (total > CONFIG_MAX_BYTES)
		mf_walk_error(w,
			      "too long: a ConfigMap holds at most 1 MiB "
			      "of data, this one %zu bytes",
			      total);
}

/*
 * stringData is merged into data (base64-encoded, stringData winning), as
 * the API server does on write; the canonical object has only data.
 */
static void check_secret(struct mf_walk *w, json_t *sec)
{
	json_t *sd = json_object_get(sec, "stringData");
	json_t *data = json_object_get(sec, "data"), *v;
	const char *type = str_member(sec, "type");
	struct sm_buf enc = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	size_t total = 0, n;
	const char *k;

	if (sd && json_object_size(sd)) {
		if (!data) {
			data = json_object();
			json_object_set_new(sec, "data", data);
		}
		json_object_foreach (sd, k, v) {
			sm_buf_reset(&enc);
			sm_base64_encode(json_string_value(v),
					 json_string_length(v), &enc);
			json_object_set_new(data, k,
					    json_string(sm_buf_cstr(&enc)));
		}
	}
	json_object_del(sec, "stringData");
	sm_buf_release(&enc);
	json_object_foreach (data, k, v)
		if (sm_base64_valid(json_string_value(v), json_string_length(v),
				    &n))
			total += n;
	if (total > CONFIG_MAX_BYTES)
		mf_walk_error(w,
			      "too long: a Secret holds at most 1 MiB of "
			      "data, this one %zu bytes",
			      total);
	if (type && !strcmp(type, "kubernetes.io/tls")) {
		if (!json_object_get(data, "tls.crt") ||
		    !json_object_get(data, "tls.key"))
			mf_walk_error_at(w, "data",
					 "required value: a Secret "
					 "of type kubernetes.io/tls needs "
					 "tls.crt and tls.key");
	}
}

/* Top-level objects. */

#define TOP_FIELDS                                                            \
	{ "apiVersion", T_STR, MF_REQUIRED }, { "kind", T_STR, MF_REQUIRED }, \
	{                                                                     \
		"metadata", &t_meta, MF_REQUIRED                              \
	}

static const struct mf_field pod_fields[] = {
	TOP_FIELDS,
	{ "spec", &t_pod_spec, MF_REQUIRED },
	{ "status", T_ANY, MF_DROP },
	{ NULL },
};
static const struct mf_type t_pod = { .kind = MF_OBJECT,
				      .name = "Pod",
				      .fields = pod_fields,
				      .check = check_pod };

static const struct mf_field deployment_fields[] = {
	TOP_FIELDS,
	{ "spec", &t_deployment_spec, MF_REQUIRED },
	{ "status", T_ANY, MF_DROP },
	{ NULL },
};
static const struct mf_type t_deployment = { .kind = MF_OBJECT,
					     .name = "Deployment",
					     .fields = deployment_fields };

static const struct mf_field replicaset_fields[] = {
	TOP_FIELDS,
	{ "spec", &t_replicaset_spec, MF_REQUIRED },
	{ "status", T_ANY, MF_DROP },
	{ NULL },
};
static const struct mf_type t_replicaset = { .kind = MF_OBJECT,
					     .name = "ReplicaSet",
					     .fields = replicaset_fields };

static const struct mf_field sts_fields[] = {
	TOP_FIELDS,
	{ "spec", &t_sts_spec, MF_REQUIRED },
	{ "status", T_ANY, MF_DROP },
	{ NULL },
};
static const struct mf_type t_sts = { .kind = MF_OBJECT,
				      .name = "StatefulSet",
				      .fields = sts_fields };

static const struct mf_field service_fields[] = {
	TOP_FIELDS,
	{ "spec", &t_service_spec, 0, "{}" },
	{ "status", T_ANY, MF_DROP },
	{ NULL },
};
static const struct mf_type t_service = { .kind = MF_OBJECT,
					  .name = "Service",
					  .fields = service_fields };

static const struct mf_field configmap_fields[] = {
	TOP_FIELDS,
	{ "data", &t_config_data },
	{ "binaryData", &t_binary_data },
	{ "immutable", T_BOOL },
	{ NULL },
};
static const struct mf_type t_configmap = { .kind = MF_OBJECT,
					    .name = "ConfigMap",
					    .fields = configmap_fields,
					    .check = check_configmap };

static const struct mf_type t_secret_data = {
	.kind = MF_MAP,
	.name = "data",
	.elem = &t_base64,
	.key_format = mf_check_config_key,
	.secret = true,
};
static const struct mf_type t_secret_string_data = {
	.kind = MF_MAP,
	.name = "stringData",
	.elem = T_STR,
	.key_format = mf_check_config_key,
	.secret = true,
};
static const struct mf_field secret_fields[] = {
	TOP_FIELDS,
	{ "type", T_STR, 0, "\"Opaque\"" },
	{ "data", &t_secret_data },
	{ "stringData", &t_secret_string_data },
	{ "immutable", T_BOOL },
	{ NULL },
};
static const struct mf_type t_secret = { .kind = MF_OBJECT,
					 .name = "Secret",
					 .fields = secret_fields,
					 .check = check_secret };

static const struct mf_field namespace_spec_fields[] = {
	{ "finalizers", &t_str_array },
	{ NULL },
};
static const struct mf_type t_namespace_spec = {
	.kind = MF_OBJECT, .fields = namespace_spec_fields
};
static const struct mf_field namespace_fields[] = {
	TOP_FIELDS,
	{ "spec", &t_namespace_spec },
	{ "status", T_ANY, MF_DROP },
	{ NULL },
};
static const struct mf_type t_namespace = { .kind = MF_OBJECT,
					    .name = "Namespace",
					    .fields = namespace_fields };

static const struct mf_field pvc_fields[] = {
	TOP_FIELDS,
	{ "spec", &t_pvc_spec, MF_REQUIRED },
	{ "status", T_ANY, MF_DROP },
	{ NULL },
};
static const struct mf_type t_pvc = { .kind = MF_OBJECT,
				      .name = "PersistentVolumeClaim",
				      .fields = pvc_fields };

/* The kinds, in apply order (Namespaces, config, storage, Services, workloads).
 */
static const struct mf_kind kinds[] = {
	{ "Namespace", "", "v1", "namespaces", false, 0, &t_namespace,
	  mf_check_dns1123_label },
	{ "ConfigMap", "", "v1", "configmaps", true, 1, &t_configmap,
	  mf_check_dns1123_subdomain },
	{ "Secret", "", "v1", "secrets", true, 2, &t_secret,
	  mf_check_dns1123_subdomain },
	{ "PersistentVolumeClaim", "", "v1", "persistentvolumeclaims", true, 3,
	  &t_pvc, mf_check_dns1123_subdomain },
	{ "Service", "", "v1", "services", true, 4, &t_service,
	  mf_check_dns1035_label },
	{ "Deployment", "apps", "v1", "deployments", true, 5, &t_deployment,
	  mf_check_dns1123_subdomain },
	{ "StatefulSet", "apps", "v1", "statefulsets", true, 5, &t_sts,
	  mf_check_dns1123_label },
	{ "ReplicaSet", "apps", "v1", "replicasets", true, 5, &t_replicaset,
	  mf_check_dns1123_subdomain },
	{ "Pod", "", "v1", "pods", true, 6, &t_pod,
	  mf_check_dns1123_subdomain },
};

const struct mf_kind *mf_kinds(size_t *nr)
{
	*nr = SM_ARRAY_SIZE(kinds);
	return kinds;
}

const struct mf_kind *mf_kind_find(const char *kind)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(kinds); i++)
		if (!strcmp(kinds[i].kind, kind))
			return &kinds[i];
	return NULL;
}

const char *mf_kinds_list(void)
{
	return "ConfigMap, Deployment, Namespace, PersistentVolumeClaim, Pod, "
	       "ReplicaSet, Secret, Service, StatefulSet";
}

void mf_kind_api_version(const struct mf_kind *k, char *out, size_t len)
{
	if (*k->group)
		snprintf(out, len, "%s/%s", k->group, k->version);
	else
		snprintf(out, len, "%s", k->version);
}
