/*
 * podspec.h: a Kubernetes Pod (canonical JSON, as manifests/ produces it)
 * as Podman sees it: one pod spec, one container spec per container, and
 * the files its configMap and secret volumes hold. Pure functions: no I/O,
 * so every mapping rule is unit-tested; the agent does the calls and writes.
 *
 * Names and labels. The Podman pod is "stuurman_<node>_<namespace>_<name>",
 * its containers "<pod>_<container>" (Podman names allow [a-zA-Z0-9_.-]).
 * Everything carries labels that let a restarted agent adopt what runs:
 *   stuurman.io/node, stuurman.io/namespace, stuurman.io/pod,
 *   stuurman.io/uid, and on containers stuurman.io/container and
 *   stuurman.io/spec-hash (the container spec's hash, to tell whether a
 *   running container still matches its spec).
 *
 * References to ConfigMaps and Secrets go through a lookup callback; a
 * missing one is, as in Kubernetes, a CreateContainerConfigError for that
 * container (unless the reference is optional), never a crash.
 */
#ifndef SM_PODSPEC_H
#define SM_PODSPEC_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"

#define PODSPEC_LABEL_NODE "stuurman.io/node"
#define PODSPEC_LABEL_NAMESPACE "stuurman.io/namespace"
#define PODSPEC_LABEL_POD "stuurman.io/pod"
#define PODSPEC_LABEL_UID "stuurman.io/uid"
#define PODSPEC_LABEL_CONTAINER "stuurman.io/container"
#define PODSPEC_LABEL_HASH "stuurman.io/spec-hash"

/*
 * Returns the ConfigMap or Secret (kind "ConfigMap" or "Secret") named
 * ns/name, borrowed, or NULL when there is none.
 */
typedef const json_t *(*podspec_lookup_fn)(void *ctx, const char *kind,
					   const char *ns, const char *name);

struct podspec_ctx {
	const char *node; /* node name */
	const char *node_ip; /* hostPorts are published on this address */
	const char *pod_ip; /* for status.podIP in env; NULL if not known */
	const char *volume_dir; /* where this pod's volume files live */
	podspec_lookup_fn lookup;
	void *lookup_ctx;
	/* The Podman network pods join, or NULL for Podman's default. */
	const char *network;
	/*
	 * Cluster DNS: the server's address ("10.96.0.10") and domain (NULL:
	 * "cluster.local"). NULL cluster_dns: ClusterFirst pods get what
	 * Default gives, as a kubelet without --cluster-dns does.
	 */
	const char *cluster_dns;
	const char *cluster_domain;
	/*
	 * The Services known when a container is created, for its
	 * <NAME>_SERVICE_HOST... variables: an object of key -> Service (an
	 * informer's cache), borrowed; NULL for none (static pods).
	 */
	const json_t *services;
};

/* "stuurman_<node>_<ns>_<name>" (new). */
char *podspec_pod_name(const char *node, const json_t *pod);

/*
 * The PodSpecGenerator for pod (new reference): name, hostname, labels,
 * hostPorts of all containers as portmappings on ctx->node_ip, the pod
 * network (a bridge netns on ctx->network, when set) and the resolver
 * settings of podspec_dns().
 */
json_t *podspec_pod(const struct podspec_ctx *ctx, const json_t *pod);

/*
 * The pod's resolver settings as PodSpecGenerator fields (new reference):
 * an object with dns_server, dns_search and dns_option (string arrays),
 * each only when it is set. As Kubernetes' dnsPolicy says:
 * - ClusterFirst (the default), ClusterFirstWithHostNet: the cluster DNS
 *   server, the searches "<ns>.svc.<domain>", "svc.<domain>", "<domain>"
 *   and "ndots:5"; spec.dnsConfig is merged in (servers and searches
 *   appended without duplicates, options replacing those of the same
 *   name). A hostNetwork pod under ClusterFirst, or any ClusterFirst pod
 *   when ctx->cluster_dns is NULL, is treated as Default.
 * - Default: Podman's resolv.conf (the host's); dnsConfig's fields, when
 *   given, replace the host's (Kubernetes appends them to the host's).
 * - None: spec.dnsConfig only.
 * At most 3 servers (resolv.conf reads no more).
 */
json_t *podspec_dns(const struct podspec_ctx *ctx, const json_t *pod);

/*
 * The Service environment variables a container of a pod in namespace ns
 * gets, as the kubelet makes them (new reference, an object name ->
 * value): for each Service of ns with a cluster IP (not None, not empty)
 * and ports, NAME_SERVICE_HOST, NAME_SERVICE_PORT (the first port),
 * NAME_SERVICE_PORT_<PORTNAME> per named port, and Docker's link
 * variables NAME_PORT=tcp://IP:PORT, NAME_PORT_<PORT>_<PROTO> (and its
 * _PROTO, _PORT, _ADDR); NAME is the Service's name upper-cased with '-'
 * as '_'. links false (enableServiceLinks: false) leaves out all but the
 * "kubernetes" Service of "default", as in Kubernetes. services: key ->
 * Service, borrowed; NULL gives an empty object.
 */
json_t *podspec_service_env(const json_t *services, const char *ns, bool links);

/*
 * The SpecGenerator for container `c` of pod (an element of spec.containers
 * or spec.initContainers, borrowed) (new reference), or NULL with the
 * reason in *why (new, free()) when its configuration cannot be made
 * (a missing ConfigMap or Secret key): Kubernetes'
 * CreateContainerConfigError. Never puts Secret values in *why. Its env:
 * podspec_service_env() of ctx->services (unless spec.enableServiceLinks
 * is false), then envFrom, then env: later ones win, and $(VAR) sees the
 * earlier ones, Service variables included, as in Kubernetes.
 */
json_t *podspec_container(const struct podspec_ctx *ctx, const json_t *pod,
			  const json_t *c, char **why);

/*
 * The files of the pod's configMap and secret volumes (new reference): an
 * array of {"path": "<volume_dir>/<volume>/<file>", "data": base64 string,
 * "mode": int}, modes as the volume says (secret files are never
 * world-readable: their mode is masked with 0770). NULL with *why set when a
 * non-optional source is missing.
 */
json_t *podspec_volume_files(const struct podspec_ctx *ctx, const json_t *pod,
			     char **why);

/*
 * Expands Kubernetes' $(VAR) references in s with the variables in env (an
 * object of strings): $(VAR) becomes its value when VAR is defined and
 * stays as it is otherwise; $$ is a literal $. Returns a new string.
 */
char *podspec_expand(const char *s, const json_t *env);

#endif
