/*
 * api_resources.h: the resources the API server serves, one table row each,
 * and the discovery documents kubectl reads, built from that table.
 *
 * The table is the one place that says which kinds exist, under which
 * group, version and plural name, with which short names and
 * subresources: the routes, discovery and `stuurman get` all read it.
 */
#ifndef SM_API_RESOURCES_H
#define SM_API_RESOURCES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Subresources (bit set). */
enum {
	API_SUB_STATUS = 1u << 0,
	API_SUB_SCALE = 1u << 1,
	API_SUB_BINDING = 1u << 2,
	API_SUB_LOG = 1u << 3, /* pods/log, from the node (api_log.c) */
};

struct api_resource {
	const char *name; /* plural, "deployments" */
	const char *singular; /* "deployment" */
	const char *kind; /* "Deployment" */
	const char *group; /* "apps", or "" for the core group */
	const char *version; /* "v1" */
	bool namespaced;
	const char *short_names[3]; /* NULL-terminated when fewer */
	bool in_all; /* in the "all" category (kubectl get all) */
	unsigned sub; /* API_SUB_* */
};

/* Every resource; *nr gets their number. */
const struct api_resource *api_resources(size_t *nr);

/*
 * The resource called name (plural, singular or short name) in group
 * (NULL: any group), or NULL.
 */
const struct api_resource *api_resource_find(const char *group,
					     const char *name);
/* The resource of kind (e.g. "Deployment"), or NULL. */
const struct api_resource *api_resource_by_kind(const char *kind);

/* "apps/v1" or "v1". out holds at least 64 bytes. */
void api_resource_api_version(const struct api_resource *r, char *out,
			      size_t len);
/* "deployments.apps" or "pods": how Kubernetes names it in messages. */
void api_resource_qualified(const struct api_resource *r, char *out,
			    size_t len);

/*
 * Discovery documents (new references). group NULL means the core group
 * (/api); aggregated_version is NULL for the legacy documents or "v2" /
 * "v2beta1" for the aggregated APIGroupDiscoveryList.
 */
json_t *api_discovery_versions(void); /* GET /api (legacy) */
json_t *api_discovery_groups(void); /* GET /apis (legacy) */
json_t *api_discovery_group(const char *group); /* GET /apis/G, or NULL */
/* GET /api/v1 or /apis/G/V (legacy), or NULL for an unknown one. */
json_t *api_discovery_resources(const char *group, const char *version);
/* GET /api or /apis, aggregated (core: group NULL, else every group). */
json_t *api_discovery_aggregated(bool core, const char *aggregated_version);

#endif
