/*
 * agent.h: the node agent, stuurman's kubelet. It makes the pods bound to
 * its node real as Podman pods and containers, restarts them by their
 * restartPolicy with crash-loop backoff, runs their probes and reports their
 * status as Kubernetes does.
 *
 * Where pods come from, a "pod source" inside the agent (both share the
 * runtime):
 * - a folder of manifests (kubelet's staticPodPath): every Pod in it runs
 *   on this node, ConfigMaps and Secrets in it serve the pods' references,
 *   and changes to the folder are followed;
 * - an API server the agent joins (server set): it registers its Node and
 *   heartbeats (node.h), watches the pods with spec.nodeName=NODE and the
 *   ConfigMaps and Secrets (informers, kube.h), writes each pod's status
 *   (PATCH pods/NAME/status), stops pods marked for deletion within their
 *   deletionGracePeriodSeconds and then deletes them for good, and serves
 *   its own API over HTTPS, to the node token only.
 *
 * Services (joined): each pod joins the pod network (its IP is the pod
 * IP), resolves through the cluster DNS with Kubernetes' search domains,
 * and its containers get the <SVC>_SERVICE_HOST/_PORT variables of the
 * Services of its namespace that exist when they are created (a Services
 * informer). A pod marked for deletion whose IP an EndpointSlice lists as
 * ready (an informer on the slices) gets its SIGTERM only once no slice
 * lists it any more and the drain delay has passed, within its grace
 * period less 1 s, so that no request to it fails.
 *
 * Status: each pod's status (phase, conditions, containerStatuses) is
 * written as JSON to STATUS_DIR/<namespace>_<name>.json (atomically, on
 * every change), and transitions are logged; joined, it also goes to the
 * API server.
 *
 * Everything runs on the caller's libuv loop: Podman calls are asynchronous,
 * manifests are read on the thread pool. One housekeeping timer drives
 * reloads, restarts after backoff, probes and retries.
 *
 * Images: an image in Podman's store is used as it is (imagePullPolicy
 * IfNotPresent or Never). One named on a registry of registries_insecure is
 * pulled when it is missing and its policy is IfNotPresent, and at every
 * creation of the pod's containers when it is Always (only what changed
 * is downloaded); a failed pull is ErrImagePull, then ImagePullBackOff
 * while it is retried with backoff. Never never pulls (ErrImageNeverPull),
 * and images of other registries are never pulled: they must be built or
 * pushed to a configured registry.
 *
 * Failure policy: bad manifests are reported and the last good set keeps
 * running; Podman errors are retried with backoff and reported in the pod's
 * status; the agent itself never exits because Podman is down.
 */
#ifndef SM_AGENT_H
#define SM_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"
#include "common/err.h"
#include "nodeagent/lifecycle.h"
#include "nodeagent/podman.h"

struct agent;

struct agent_config {
	const char *node; /* node name (required) */
	const char *node_ip; /* hostPorts are published here */
	const char *pod_manifests; /* static pod folder, or NULL with server */
	/*
	 * Joined mode: the API server's URL ("https://127.0.0.1:6443"), the
	 * node token (the string, not its file) and the server's CA file.
	 * kube_socket is for tests: a unix socket that stands for the server.
	 */
	const char *server, *token, *ca_file, *kube_socket;
	/* The Node's allocatable; NULL: the machine's CPUs, MemTotal, 110. */
	const char *cpu, *memory, *max_pods;
	uint64_t heartbeat_ms; /* 0: 500 */
	const char *podman_socket; /* Podman service socket (or podman_ops) */
	const char *data_dir; /* volumes and status live under it */
	struct backoff backoff; /* crash-loop backoff knobs */
	uint64_t reload_ms; /* how often the folder is checked */
	/*
	 * Plain-HTTP registries on loopback ("127.0.0.1:5000"), each checked
	 * by registry_check_insecure(): images named on them are pulled when
	 * their imagePullPolicy asks for it. Others are never pulled.
	 */
	const char *const *registries_insecure;
	size_t nr_registries_insecure;
	/*
	 * Where the agent's own API listens (agent_api.h): "ADDR:PORT", NULL
	 * for NODE_IP:10250 as a kubelet, or "none".
	 */
	const char *api_listen;
	/*
	 * The Podman calls: NULL for the real client on podman_socket. Tests
	 * give a table of their own (podman.h) and its client, podman_ctx
	 * (borrowed: it must outlive the agent, and call nothing more once
	 * agent_free() was called, as podman_free() promises). The node API
	 * needs the real client: api_listen must then be "none".
	 */
	const struct podman_ops *podman_ops;
	void *podman_ctx;
	/*
	 * The pod network: a Podman network the agent makes sure of before
	 * it creates pods (created as a bridge with this subnet, its first
	 * address the gateway, Podman's DNS off, when it does not exist; an
	 * existing one is used as it is). NULL: AGENT_POD_NETWORK and
	 * AGENT_POD_SUBNET.
	 */
	const char *pod_network, *pod_subnet;
	/*
	 * Cluster DNS (podspec_dns()): the server ClusterFirst pods use, or
	 * NULL for Podman's (the host's) resolv.conf; the domain, NULL for
	 * "cluster.local".
	 */
	const char *cluster_dns, *cluster_domain;
	/*
	 * Joined mode: how long a pod marked for deletion, once no
	 * EndpointSlice lists it as ready any more, still runs before its
	 * SIGTERM, for the proxies to see it go and finish what they
	 * forwarded (ms; 0: none; `stuurman agent` defaults to 1000).
	 */
	uint64_t drain_delay_ms;
};

#define AGENT_POD_NETWORK "stuurman"
#define AGENT_POD_SUBNET "10.244.0.0/16"

/*
 * Stops reconciling and frees the agent once its handles are closed. Pods
 * keep running, as with a kubelet that stops: a restarted agent adopts them.
 */
void agent_free(struct agent *a);

/*
 * A new agent on loop (borrowed), with cfg copied. Returns NULL and adds to
 * err when the configuration is unusable (missing node name, data dir that
 * cannot be created, a registry off loopback).
 */
struct agent *agent_new(uv_loop_t *loop, const struct agent_config *cfg,
			struct sm_err *err) SM_MALLOC(agent_free);

/* Starts: adopts what runs for this node, then reconciles. */
int agent_start(struct agent *a);

#endif
