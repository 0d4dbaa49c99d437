/*
 * node.c: registration and heartbeat of the joined agent's Node. See
 * node.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "nodeagent/kube.h"
#include "nodeagent/node.h"
#include "common/banned.h"

#define COMPONENT "node"
#define KUBELET_VERSION "v1.32.0-stuurman"

enum node_phase { NODE_REGISTER, NODE_TAKE_OVER, NODE_STATUS, NODE_BEATING };

struct node {
	struct kube_client *k;
	uv_timer_t timer;
	struct node_info ni; /* strings owned below */
	char *name, *node_ip, *cpu, *memory, *pods, *runtime;
	uint64_t heartbeat_ms;
	enum node_phase phase;
	struct kube_call *call; /* the one request in flight */
	bool ready;
	char *reason, *message;
	uint64_t ready_since_ns; /* Ready's lastTransitionTime */
	uint64_t started_ns; /* the pressure conditions' transition time */
	bool failing; /* the last request failed (logged once) */
	bool beat_now; /* readiness changed: write it at once */
	unsigned beats;
};

static uint64_t wall_ns(void)
{
	return sm_clock_realtime_ns(&sm_clock_system);
}

static json_t *time_json_p(uint64_t ns, int millis)
{
	char buf[SM_TIME_RFC3339_LEN];

	if (sm_time_rfc3339(ns, millis, buf, sizeof(buf)))
		return json_null();
	return json_string(buf);
}

static json_t *time_json(uint64_t ns)
{
	return time_json_p(ns, 0);
}

/* The machine */

static char *machine_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return xasprintf("%ld", n > 0 ? n : 1);
}

static char *machine_memory(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kib = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return xasprintf("%lluKi", kib);
}

/* PRETTY_NAME of /etc/os-release, without its quotes (new). */
static char *os_image(void)
{
	FILE *f = fopen("/etc/os-release", "re");
	char line[512];
	char *v = NULL;

	while (f && !v && fgets(line, sizeof(line), f)) {
		char *s, *e;

		if (strncmp(line, "PRETTY_NAME=", 12))
			continue;
		s = line + 12;
		if (*s == '"')
			s++;
		e = s + strcspn(s, "\"\n");
		*e = '\0';
		v = xstrdup(s);
	}
	if (f)
		fclose(f);
	return v ? v : xstrdup("Linux");
}

/* Go's name for the machine's architecture, as Kubernetes reports it. */
static const char *go_arch(const char *machine)
{
	static const char *const map[][2] = {
		{ "x86_64", "amd64" },	  { "aarch64", "arm64" },
		{ "armv7l", "arm" },	  { "i686", "386" },
		{ "ppc64le", "ppc64le" }, { "s390x", "s390x" },
		{ "riscv64", "riscv64" },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(map); i++)
		if (!strcmp(machine, map[i][0]))
			return map[i][1];
	return machine;
}

/* Conditions */

static json_t *condition(const char *type, bool status, const char *reason,
			 const char *message, uint64_t beat_ns,
			 uint64_t since_ns)
{
	/*
	 * The beat with milliseconds: with whole seconds, two beats in one
	 * second are the same write, which the store drops, so the control
	 * plane would see a beat only once a second and call a node silent
	 * after as little as grace - 1 s.
	 */
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "type", type,
			 "status", status ? "True" : "False", "reason", reason,
			 "message", message, "lastHeartbeatTime",
			 time_json_p(beat_ns, 1), "lastTransitionTime",
			 time_json(since_ns));
}

static json_t *conditions(bool ready, const char *reason, const char *message,
			  uint64_t beat_ns, uint64_t ready_since_ns,
			  uint64_t since_ns)
{
	return json_pack(
		"[o, o, o, o]",
		condition("MemoryPressure", false, "KubeletHasSufficientMemory",
			  "kubelet has sufficient memory available", beat_ns,
			  since_ns),
		condition("DiskPressure", false, "KubeletHasNoDiskPressure",
			  "kubelet has no disk pressure", beat_ns, since_ns),
		condition("PIDPressure", false, "KubeletHasSufficientPID",
			  "kubelet has sufficient PID available", beat_ns,
			  since_ns),
		condition("Ready", ready,
			  ready	   ? "KubeletReady"
			  : reason ? reason
				   : "KubeletNotReady",
			  ready	    ? "kubelet is posting ready status"
			  : message ? message
				    : "",
			  beat_ns, ready_since_ns));
}

static json_t *node_json(const struct node_info *ni, json_t *conds)
{
	struct utsname u;
	char *cpu = ni->cpu ? xstrdup(ni->cpu) : machine_cpus();
	char *mem = ni->memory ? xstrdup(ni->memory) : machine_memory();
	char *os = os_image();
	const char *arch;
	json_t *res, *node;

	if (uname(&u) < 0) {
		snprintf(u.release, sizeof(u.release), "unknown");
		snprintf(u.machine, sizeof(u.machine), "unknown");
	}
	arch = go_arch(u.machine);
	res = json_pack("{s:s, s:s, s:s}", "cpu", cpu, "memory", mem, "pods",
			ni->pods ? ni->pods : "110");
	node = json_pack(
		"{s:s, s:s,"
		" s:{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}},"
		" s:{},"
		" s:{s:O, s:o, s:[{s:s, s:s}, {s:s, s:s}],"
		"    s:{s:{s:i}}, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s},"
		"    s:o}}",
		"apiVersion", "v1", "kind", "Node", "metadata", "name",
		ni->name, "labels", "kubernetes.io/hostname", ni->name,
		"kubernetes.io/os", "linux", "kubernetes.io/arch", arch,
		"beta.kubernetes.io/os", "linux", "beta.kubernetes.io/arch",
		arch, "node-role.kubernetes.io/worker", "", "spec", "status",
		"capacity", res, "allocatable", res, "addresses", "type",
		"InternalIP", "address", ni->node_ip, "type", "Hostname",
		"address", ni->name, "daemonEndpoints", "kubeletEndpoint",
		"Port", ni->api_port, "nodeInfo", "kubeletVersion",
		KUBELET_VERSION, "kubeProxyVersion", KUBELET_VERSION,
		"containerRuntimeVersion",
		ni->runtime_version ? ni->runtime_version : "podman://unknown",
		"osImage", os, "kernelVersion", u.release, "architecture", arch,
		"operatingSystem", "linux", "machineID", ni->name, "conditions",
		conds);
	free(cpu);
	free(mem);
	free(os);
	return node;
}

json_t *node_object(const struct node_info *ni, bool ready, const char *reason,
		    const char *message, uint64_t now_ns)
{
	return node_json(
		ni, conditions(ready, reason, message, now_ns, now_ns, now_ns));
}

/* Registration and heartbeat */

static void node_request(struct node *n);

static void failed(struct node *n, const char *what, const char *error)
{
	if (!n->failing)
		sm_log(SM_LOG_WARN, COMPONENT,
		       "node %s: %s: %s (retrying at each heartbeat)", n->name,
		       what, error);
	n->failing = true;
}

static void answered(void *ctx, int status, json_t *body, const char *error)
{
	struct node *n = ctx;

	n->call = NULL;
	switch (n->phase) {
	case NODE_REGISTER:
		if (status == 409) {
			n->phase = NODE_TAKE_OVER;
			node_request(n);
			return;
		}
		if (error) {
			failed(n, "registering", error);
			return;
		}
		sm_log(SM_LOG_INFO, COMPONENT, "node %s registered", n->name);
		n->phase = NODE_STATUS;
		node_request(n);
		return;
	case NODE_TAKE_OVER:
		if (error) {
			failed(n, "taking over the existing Node", error);
			n->phase = NODE_REGISTER;
			return;
		}
		sm_log(SM_LOG_INFO, COMPONENT,
		       "node %s existed: taken over by this agent", n->name);
		n->phase = NODE_STATUS;
		node_request(n);
		return;
	case NODE_STATUS:
	case NODE_BEATING:
		if (status == 404) {
			sm_log(SM_LOG_WARN, COMPONENT,
			       "node %s was deleted: registering again",
			       n->name);
			n->phase = NODE_REGISTER;
			node_request(n);
			return;
		}
		if (error) {
			failed(n, "heartbeat", error);
			return;
		}
		if (n->failing)
			sm_log(SM_LOG_INFO, COMPONENT,
			       "node %s: heartbeats go through again", n->name);
		n->failing = false;
		n->phase = NODE_BEATING;
		n->beats++;
		if (n->beat_now)
			node_request(n);
		return;
	}
}

static void node_request(struct node *n)
{
	uint64_t now = wall_ns();
	json_t *body = NULL, *conds;
	const char *method = "PATCH", *ct = "application/merge-patch+json";
	char *path = NULL;
	int r;

	if (n->call)
		return;
	n->beat_now = false;
	conds = conditions(n->ready, n->reason, n->message, now,
			   n->ready_since_ns, n->started_ns);
	n->ni.runtime_version = n->runtime;
	switch (n->phase) {
	case NODE_REGISTER:
		body = node_json(&n->ni, conds);
		method = "POST";
		ct = NULL;
		path = xstrdup("/api/v1/nodes");
		break;
	case NODE_TAKE_OVER:
		body = node_json(&n->ni, conds);
		/* Only the labels: spec (taints, unschedulable) stays. */
		json_object_del(json_object_get(body, "metadata"), "name");
		json_object_del(body, "spec");
		json_object_del(body, "status");
		path = xasprintf("/api/v1/nodes/%s", n->name);
		break;
	case NODE_STATUS: {
		json_t *node = node_json(&n->ni, conds);

		body = json_pack("{s:O}", "status",
				 json_object_get(node, "status"));
		json_decref(node);
		path = xasprintf("/api/v1/nodes/%s/status", n->name);
		break;
	}
	case NODE_BEATING:
		body = json_pack("{s:{s:o}}", "status", "conditions", conds);
		path = xasprintf("/api/v1/nodes/%s/status", n->name);
		break;
	}
	r = kube_request(n->k, method, path, body, ct, 0, answered, n,
			 &n->call);
	if (r) {
		n->call = NULL;
		failed(n, "request", strerror(-r));
	}
	json_decref(body);
	free(path);
}

static void on_beat(uv_timer_t *t)
{
	node_request(t->data);
}

struct node *node_new(struct kube_client *k, uv_loop_t *loop,
		      const struct node_info *ni, uint64_t heartbeat_ms)
{
	struct node *n = xcalloc(1, sizeof(*n));

	n->k = k;
	n->ni = *ni;
	n->name = xstrdup(ni->name);
	n->node_ip = xstrdup(ni->node_ip);
	n->cpu = ni->cpu ? xstrdup(ni->cpu) : NULL;
	n->memory = ni->memory ? xstrdup(ni->memory) : NULL;
	n->pods = ni->pods ? xstrdup(ni->pods) : NULL;
	n->runtime = ni->runtime_version ? xstrdup(ni->runtime_version) : NULL;
	n->ni.name = n->name;
	n->ni.node_ip = n->node_ip;
	n->ni.cpu = n->cpu;
	n->ni.memory = n->memory;
	n->ni.pods = n->pods;
	n->heartbeat_ms = heartbeat_ms ? heartbeat_ms : 500;
	n->ready = true;
	n->ready_since_ns = n->started_ns = wall_ns();
	uv_timer_init(loop, &n->timer);
	n->timer.data = n;
	uv_timer_start(&n->timer, on_beat, 0, n->heartbeat_ms);
	return n;
}

void node_set_ready(struct node *n, bool ready, const char *reason,
		    const char *message)
{
	bool same_text = (!reason && !n->reason) ||
			 (reason && n->reason && !strcmp(reason, n->reason));

	same_text = same_text &&
		    ((!message && !n->message) ||
		     (message && n->message && !strcmp(message, n->message)));
	if (ready == n->ready && (ready || same_text))
		return;
	if (ready != n->ready) {
		n->ready_since_ns = wall_ns();
		sm_log(ready ? SM_LOG_INFO : SM_LOG_WARN, COMPONENT,
		       "node %s: Ready %s%s%s", n->name,
		       ready ? "True" : "False", ready ? "" : ": ",
		       ready	 ? ""
		       : message ? message
				 : "");
	}
	n->ready = ready;
	free(n->reason);
	free(n->message);
	n->reason = !ready && reason ? xstrdup(reason) : NULL;
	n->message = !ready && message ? xstrdup(message) : NULL;
	n->beat_now = true;
	if (n->phase == NODE_BEATING)
		node_request(n);
}

void node_set_runtime(struct node *n, const char *version)
{
	if (n->runtime && version && !strcmp(n->runtime, version))
		return;
	free(n->runtime);
	n->runtime = version ? xstrdup(version) : NULL;
	/* nodeInfo is written with the whole status: do that again. */
	if (n->phase == NODE_BEATING)
		n->phase = NODE_STATUS;
}

bool node_registered(const struct node *n)
{
	return n->phase >= NODE_STATUS;
}

unsigned node_heartbeats(const struct node *n)
{
	return n->beats;
}

static void node_closed(uv_handle_t *h)
{
	struct node *n = h->data;

	free(n->name);
	free(n->node_ip);
	free(n->cpu);
	free(n->memory);
	free(n->pods);
	free(n->runtime);
	free(n->reason);
	free(n->message);
	free(n);
}

void node_free(struct node *n)
{
	if (!n)
		return;
	kube_request_cancel(n->call);
	n->call = NULL;
	uv_close((uv_handle_t *)&n->timer, node_closed);
}
