/*
 * api_resources.c: the resource table and discovery.
 *
 * Verbs are the same for every resource (Kubernetes' eight); subresources
 * say what else a resource has. Discovery is built from the table on each
 * request: it is small, and kubectl caches it for ten minutes.
 */
#include <stdio.h>
#include <string.h>

#include "reconciler/api_resources.h"

#include "common/banned.h"

static const struct api_resource resources[] = {
	{ "pods",
	  "pod",
	  "Pod",
	  "",
	  "v1",
	  true,
	  { "po" },
	  true,
	  API_SUB_STATUS | API_SUB_BINDING | API_SUB_LOG },
	{ "services",
	  "service",
	  "Service",
	  "",
	  "v1",
	  true,
	  { "svc" },
	  true,
	  API_SUB_STATUS },
	{ "endpoints",
	  "endpoints",
	  "Endpoints",
	  "",
	  "v1",
	  true,
	  { "ep" },
	  false,
	  0 },
	{ "configmaps",
	  "configmap",
	  "ConfigMap",
	  "",
	  "v1",
	  true,
	  { "cm" },
	  false,
	  0 },
	{ "secrets", "secret", "Secret", "", "v1", true, { NULL }, false, 0 },
	{ "persistentvolumeclaims",
	  "persistentvolumeclaim",
	  "PersistentVolumeClaim",
	  "",
	  "v1",
	  true,
	  { "pvc" },
	  false,
	  API_SUB_STATUS },
	{ "events", "event", "Event", "", "v1", true, { "ev" }, false, 0 },
	{ "namespaces",
	  "namespace",
	  "Namespace",
	  "",
	  "v1",
	  false,
	  { "ns" },
	  false,
	  API_SUB_STATUS },
	{ "nodes",
	  "node",
	  "Node",
	  "",
	  "v1",
	  false,
	  { "no" },
	  false,
	  API_SUB_STATUS },
	{ "deployments",
	  "deployment",
	  "Deployment",
	  "apps",
	  "v1",
	  true,
	  { "deploy" },
	  true,
	  API_SUB_STATUS | API_SUB_SCALE },
	{ "replicasets",
	  "replicaset",
	  "ReplicaSet",
	  "apps",
	  "v1",
	  true,
	  { "rs" },
	  true,
	  API_SUB_STATUS | API_SUB_SCALE },
	{ "statefulsets",
	  "statefulset",
	  "StatefulSet",
	  "apps",
	  "v1",
	  true,
	  { "sts" },
	  true,
	  API_SUB_STATUS | API_SUB_SCALE },
	{ "endpointslices",
	  "endpointslice",
	  "EndpointSlice",
	  "discovery.k8s.io",
	  "v1",
	  true,
	  { NULL },
	  false,
	  0 },
};

#define NR_RESOURCES (sizeof(resources) / sizeof(resources[0]))

static const char *const verbs[] = {
	"create", "delete", "deletecollection", "get",
	"list",	  "patch",  "update",		"watch",
};

const struct api_resource *api_resources(size_t *nr)
{
	*nr = NR_RESOURCES;
	return resources;
}

const struct api_resource *api_resource_find(const char *group,
					     const char *name)
{
	for (size_t i = 0; i < NR_RESOURCES; i++) {
		const struct api_resource *r = &resources[i];

		if (group && strcmp(group, r->group))
			continue;
		if (!strcmp(name, r->name) || !strcmp(name, r->singular))
			return r;
		for (size_t j = 0; j < 3 && r->short_names[j]; j++)
			if (!strcmp(name, r->short_names[j]))
				return r;
	}
	return NULL;
}

const struct api_resource *api_resource_by_kind(const char *kind)
{
	for (size_t i = 0; i < NR_RESOURCES; i++)
		if (!strcmp(kind, resources[i].kind))
			return &resources[i];
	return NULL;
}

void api_resource_api_version(const struct api_resource *r, char *out,
			      size_t len)
{
	if (*r->group)
		snprintf(out, len, "%s/%s", r->group, r->version);
	else
		snprintf(out, len, "%s", r->version);
}

void api_resource_qualified(const struct api_resource *r, char *out, size_t len)
{
	if (*r->group)
		snprintf(out, len, "%s.%s", r->name, r->group);
	else
		snprintf(out, len, "%s", r->name);
}

static json_t *verb_array(void)
{
	json_t *a = json_array();

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		json_array_append_new(a, json_string(verbs[i]));
	return a;
}

static json_t *strings(const char *const *s, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n && s[i]; i++)
		json_array_append_new(a, json_string(s[i]));
	return a;
}

/* One subresource as discovery names it. */
struct subres {
	unsigned bit;
	const char *name;
	const char *verbs[4];
};

static const struct subres subresources[] = {
	{ API_SUB_STATUS, "status", { "get", "patch", "update" } },
	{ API_SUB_SCALE, "scale", { "get", "patch", "update" } },
	{ API_SUB_BINDING, "binding", { "create" } },
	{ API_SUB_LOG, "log", { "get" } },
};

#define NR_SUBRES (sizeof(subresources) / sizeof(subresources[0]))

/* The kind a subresource answers with: Scale and Binding have their own. */
static void subres_kind(const struct api_resource *r, const struct subres *s,
			const char **group, const char **version,
			const char **kind)
{
	*group = r->group;
	*version = r->version;
	*kind = r->kind;
	if (s->bit == API_SUB_SCALE) {
		*group = "autoscaling";
		*version = "v1";
		*kind = "Scale";
	} else if (s->bit == API_SUB_BINDING) {
		*group = "";
		*version = "v1";
		*kind = "Binding";
	}
}

json_t *api_discovery_versions(void)
{
	return json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions",
			 "versions", "v1", "serverAddressByClientCIDRs",
			 "clientCIDR", "0.0.0.0/0", "serverAddress",
			 "127.0.0.1:6443");
}

/* The groups other than core, in table order, without repeats. */
static size_t named_groups(const char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < NR_RESOURCES; i++) {
		const char *g = resources[i].group;
		size_t j;

		if (!*g)
			continue;
		for (j = 0; j < n; j++)
			if (!strcmp(out[j], g))
				break;
		if (j == n && n < max)
			out[n++] = g;
	}
	return n;
}

static json_t *group_doc(const char *group)
{
	char gv[64];

	snprintf(gv, sizeof(gv), "%s/v1", group);
	return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}], s:{s:s, s:s}}",
			 "kind", "APIGroup", "apiVersion", "v1", "name", group,
			 "versions", "groupVersion", gv, "version", "v1",
			 "preferredVersion", "groupVersion", gv, "version",
			 "v1");
}

json_t *api_discovery_groups(void)
{
	const char *groups[8];
	size_t n = named_groups(groups, 8);
	json_t *list = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *g = group_doc(groups[i]);

		json_object_del(g, "kind");
		json_object_del(g, "apiVersion");
		json_array_append_new(list, g);
	}
	return json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList",
			 "apiVersion", "v1", "groups", list);
}

json_t *api_discovery_group(const char *group)
{
	const char *groups[8];
	size_t n = named_groups(groups, 8);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(groups[i], group))
			return group_doc(group);
	return NULL;
}

json_t *api_discovery_resources(const char *group, const char *version)
{
	json_t *list = json_array();
	bool found = false;
	char gv[64];

	for (size_t i = 0; i < NR_RESOURCES; i++) {
		const struct api_resource *r = &resources[i];

		if (strcmp(r->group, group) || strcmp(r->version, version))
			continue;
		found = true;
		json_t *e = json_pack("{s:s, s:s, s:b, s:s, s:o, s:s}", "name",
				      r->name, "singularName", r->singular,
				      "namespaced", r->namespaced, "kind",
				      r->kind, "verbs", verb_array(),
				      "storageVersionHash", "");
		if (r->short_names[0])
			json_object_set_new(e, "shortNames",
					    strings(r->short_names, 3));
		if (r->in_all)
			json_object_set_new(e, "categories",
					    json_pack("[s]", "all"));
		json_array_append_new(list, e);
		for (size_t k = 0; k < NR_SUBRES; k++) {
			const struct subres *s = &subresources[k];
			const char *sg, *sv, *sk;
			char name[96];

			if (!(r->sub & s->bit))
				continue;
			subres_kind(r, s, &sg, &sv, &sk);
			snprintf(name, sizeof(name), "%s/%s", r->name, s->name);
			json_t *se = json_pack(
				"{s:s, s:s, s:b, s:s, s:o}", "name", name,
				"singularName", "", "namespaced", r->namespaced,
				"kind", sk, "verbs", strings(s->verbs, 4));
			if (strcmp(sg, r->group) || strcmp(sv, r->version)) {
				json_object_set_new(se, "group",
						    json_string(sg));
				json_object_set_new(se, "version",
						    json_string(sv));
			}
			json_array_append_new(list, se);
		}
	}
	if (!found) {
		json_decref(list);
		return NULL;
	}
	if (*group)
		snprintf(gv, sizeof(gv), "%s/%s", group, version);
	else
		snprintf(gv, sizeof(gv), "%s", version);
	return json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList",
			 "apiVersion", "v1", "groupVersion", gv, "resources",
			 list);
}

static json_t *kind_ref(const char *group, const char *version,
			const char *kind)
{
	return json_pack("{s:s, s:s, s:s}", "group", group, "version", version,
			 "kind", kind);
}

/* One group's entry of an aggregated discovery list. */
static json_t *aggregated_group(const char *group)
{
	json_t *res = json_array();

	for (size_t i = 0; i < NR_RESOURCES; i++) {
		const struct api_resource *r = &resources[i];
		json_t *subs;

		if (strcmp(r->group, group))
			continue;
		subs = json_array();
		for (size_t k = 0; k < NR_SUBRES; k++) {
			const struct subres *s = &subresources[k];
			const char *sg, *sv, *sk;

			if (!(r->sub & s->bit))
				continue;
			subres_kind(r, s, &sg, &sv, &sk);
			json_array_append_new(
				subs,
				json_pack("{s:s, s:o, s:o}", "subresource",
					  s->name, "responseKind",
					  kind_ref(sg, sv, sk), "verbs",
					  strings(s->verbs, 4)));
		}
		json_t *e = json_pack(
			"{s:s, s:o, s:s, s:s, s:o, s:o}", "resource", r->name,
			"responseKind", kind_ref(r->group, r->version, r->kind),
			"scope", r->namespaced ? "Namespaced" : "Cluster",
			"singularResource", r->singular, "verbs", verb_array(),
			"subresources", subs);
		if (r->short_names[0])
			json_object_set_new(e, "shortNames",
					    strings(r->short_names, 3));
		if (r->in_all)
			json_object_set_new(e, "categories",
					    json_pack("[s]", "all"));
		json_array_append_new(res, e);
	}
	return json_pack("{s:{s:s}, s:[{s:s, s:s, s:o}]}", "metadata", "name",
			 group, "versions", "version", "v1", "freshness",
			 "Current", "resources", res);
}

json_t *api_discovery_aggregated(bool core, const char *aggregated_version)
{
	char api_version[64];
	json_t *items = json_array();

	snprintf(api_version, sizeof(api_version), "apidiscovery.k8s.io/%s",
		 aggregated_version);
	if (core) {
		json_array_append_new(items, aggregated_group(""));
	} else {
		const char *groups[8];
		size_t n = named_groups(groups, 8);

		for (size_t i = 0; i < n; i++)
			json_array_append_new(items,
					      aggregated_group(groups[i]));
	}
	return json_pack("{s:s, s:s, s:{}, s:o}", "kind",
			 "APIGroupDiscoveryList", "apiVersion", api_version,
			 "metadata", "items", items);
}
