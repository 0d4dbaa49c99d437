/*
 * agent.c: the node agent's runtime. See agent.h.
 *
 * Each pod goes through steps (images, pod, pod IP, init containers, app
 * containers), one Podman request at a time per pod; a failed request is
 * retried from the same step after a backoff. Once running, each container
 * has a long-poll `wait` on Podman that returns when it exits, so a death is
 * seen at once; the housekeeping timer restarts it when its backoff is over
 * and runs the probes that are due.
 *
 * Lifetime: pods and containers are freed only when no request of theirs is
 * in flight (`inflight`), or when the whole agent goes (podman_free cancels
 * every request, and cancelled requests call nothing).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strmap.h"
#include "common/x509.h"
#include "common/xalloc.h"
#include "manifests/canonical.h"
#include "manifests/load.h"
#include "nodeagent/agent.h"
#include "nodeagent/agent_api.h"
#include "nodeagent/kube.h"
#include "nodeagent/node.h"
#include "nodeagent/podman.h"
#include "nodeagent/podspec.h"
#include "nodeagent/registry.h"
#include "common/banned.h"

#define COMPONENT "agent"
#define TICK_MS 100

enum ctr_state { CTR_WAITING, CTR_RUNNING, CTR_TERMINATED };

struct apod;

struct actr {
	struct apod *pod;
	const json_t *spec; /* borrowed from pod->pod */
	char *name;
	bool init;
	char *id; /* Podman container id, once created */
	char *image_id; /* from inspect */
	unsigned pull_failures; /* failed pulls in a row */
	enum ctr_state state;
	char *reason; /* waiting or terminated reason */
	char *message; /* waiting message */
	int exit_code;
	uint64_t started_ns, finished_ns; /* wall clock */
	uint64_t started_ms; /* monotonic */
	json_t *last_state; /* {"terminated": {...}} or NULL */
	int restarts;
	bool ever_started;
	struct backoff backoff;
	uint64_t restart_at_ms; /* 0: no restart pending */
	bool waiting_exit; /* a wait long-poll is in flight */
	bool has_probe[3];
	struct probe probes[3];
	bool probing[3];
	bool ready;
	bool started; /* startup probe passed (or none) */
	bool stopping;
	bool restart_on_exit; /* a liveness failure stopped it */
	bool no_limits; /* its limits were refused: created without */
};

enum pod_step {
	STEP_NEW,
	STEP_IMAGES,
	STEP_CREATE_POD,
	STEP_START_POD,
	STEP_POD_IP,
	STEP_INIT,
	STEP_MAIN,
	STEP_RUNNING,
	STEP_DELETE,
	STEP_GONE,
};

/*
 * Draining a pod marked for deletion (joined): ASKED when it is marked,
 * decided at its first removal step (WAITING when a slice lists it as
 * ready, else DONE at once), DONE when it may get its SIGTERM.
 */
enum drain { DRAIN_NONE, DRAIN_ASKED, DRAIN_WAITING, DRAIN_DONE };

struct apod {
	struct agent *a;
	char *key; /* namespace/name */
	json_t *pod;
	char *uid;
	char *podman_name;
	char *pod_ip;
	enum pod_step step;
	int inflight; /* Podman requests in flight */
	size_t next; /* next container for sequential steps */
	struct actr *ctrs; /* init containers first */
	size_t nr_ctrs, nr_init;
	uint64_t retry_at_ms;
	struct backoff retry;
	char *error; /* last Podman error, for logs and status */
	bool initialized;
	bool failed; /* init container failed for good */
	bool removing; /* the pod remove is in flight */
	bool kick; /* a request landed: step again this loop turn */
	uint64_t start_ns;
	char *status_text; /* last status written */
	bool status_dirty; /* status_text not yet sent to the API server */
	struct kube_call *status_call; /* its PATCH in flight, or NULL */
	char *phase; /* last phase logged */
	/* Condition transition times, by condition. */
	bool cond[4];
	uint64_t cond_ns[4];
	enum drain drain;
	uint64_t drain_start_ms; /* when WAITING began */
	uint64_t drain_deadline_ms; /* SIGTERM by then, listed or not */
	uint64_t drain_clear_ms; /* left the slices: SIGTERM at this time */
};

struct load_result {
	struct agent *a;
	uv_work_t work;
	char *dir;
	json_t *objects; /* valid objects */
	struct sm_err err;
	int r;
};

/*
 * Where the desired pods come from: a folder or an API server. Both feed
 * a->desired (key -> pod with its uid) and call reconcile(); the runtime
 * below them is the same.
 */
struct pod_source {
	const char *name;
	int (*start)(struct agent *a);
	void (*tick)(struct agent *a, uint64_t now);
	/* A ConfigMap or Secret a pod references (borrowed), or NULL. */
	const json_t *(*lookup)(struct agent *a, const char *kind,
				const char *ns, const char *name);
	/* p's status changed (p->status_text, p->status_dirty). */
	void (*status)(struct apod *p);
	/* p's Podman pod is gone for good; p is freed after this. */
	void (*gone)(struct apod *p);
	/* From agent_free(), before the pods are freed. */
	void (*stop)(struct agent *a);
	/* How the EndpointSlices list ip (enum endpoint). */
	int (*endpoint)(struct agent *a, const char *ip);
};

/* How the EndpointSlices list a pod IP, the highest of the slices'. */
enum endpoint { EP_NONE, EP_NOT_READY, EP_READY };

/* An Event the agent recorded, for counting its repeats. */
#define AGENT_RECENT_EVENTS 128
struct agent_event {
	uint64_t key; /* hash of pod uid, reason and message */
	uint64_t first_ns;
	json_int_t count;
	char ns[64];
	char name[300];
};

struct agent {
	uv_loop_t *loop;
	const struct pod_source *src;
	struct agent_config cfg; /* strings owned below */
	char *node, *node_ip, *manifests, *socket, *data_dir;
	char *status_dir, *volume_root;
	struct podman *pm; /* the real client, or NULL with ops of a test */
	const struct podman_ops *ops; /* every Podman call goes through it */
	void *pmc; /* ops' client: pm, or the test's */
	struct sm_http_client *http;
	uv_timer_t tick;
	uv_check_t check; /* steps pods whose requests just landed */
	uv_fs_event_t watch;
	bool watching;
	int handles; /* open handles; freed at 0 after free was asked */
	bool freeing;
	struct sm_strmap pods; /* key -> struct apod * */
	struct sm_strmap objects; /* "Kind/ns/name" -> json_t * (refs) */
	json_t *desired; /* key -> pod */
	char desired_hash[MF_HASH_LEN + 1];
	bool loading;
	bool reload_now;
	uint64_t next_reload_ms;
	bool adopted; /* the first look at what runs is done */
	json_t *found; /* podman pods found at start: key -> {name, uid} */
	json_t *images; /* image -> monotonic ms until which it is known here */
	json_t *pulled; /* image -> the same, for pulls of policy Always */
	char **registries; /* --registry-insecure hosts */
	size_t nr_registries;
	bool podman_down;
	unsigned ticks;
	bool watch_inited;
	struct probe_run *runs; /* probes in flight */
	struct agent_api *api; /* the node's own API, or NULL */
	char *api_listen;
	/* Joined mode */
	char *server, *token, *ca_file, *kube_socket, *cpu, *memory, *max_pods;
	struct kube_client *kube;
	struct node *nodeobj;
	struct kube_informer *inf_pods, *inf_cms, *inf_secrets;
	bool desired_dirty; /* an informer changed: rebuild a->desired */
	json_t *deleting; /* uid -> true: final DELETEs sent */
	struct sm_http_request *version_req; /* Podman's version: health */
	char *runtime_version;
	/* The pod network, and whether Podman has it (net_state). */
	char *pod_network, *pod_subnet, *pod_gateway;
	enum { NET_UNKNOWN, NET_ASKING, NET_READY } net_state;
	uint64_t net_retry_ms;
	char *net_error; /* the last failure, logged once */
	char *cluster_dns, *cluster_domain;
	uint64_t drain_delay_ms;
	struct kube_informer *inf_services, *inf_slices;
	/* Events recorded lately, to count repeats (joined mode). */
	struct agent_event recent[AGENT_RECENT_EVENTS];
	size_t next_recent;
};

static uint64_t now_ms(void)
{
	return sm_clock_monotonic_ns(&sm_clock_system) / 1000000;
}

static const char *meta_str(const json_t *o, const char *key)
{
	return sm_json_get_str(json_object_get(o, "metadata"), key);
}

static uint64_t wall_ns(void)
{
	return sm_clock_realtime_ns(&sm_clock_system);
}

static json_t *time_json(uint64_t ns)
{
	char buf[SM_TIME_RFC3339_LEN];

	if (!ns || sm_time_rfc3339(ns, 0, buf, sizeof(buf)))
		return json_null();
	return json_string(buf);
}

/* Podman's RFC 3339 times ("2026-11-25T21:13:40.361418846Z") to ns. */
static uint64_t parse_time(const char *s)
{
	struct tm tm = { 0 };
	const char *rest;
	uint64_t ns = 0, scale = 100000000;
	time_t t;

	if (!s || !(rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return 0;
	if (tm.tm_year < 70)
		return 0; /* 0001-01-01: never */
	if (*rest == '.')
		for (rest++; *rest >= '0' && *rest <= '9'; rest++) {
			ns += (uint64_t)(*rest - '0') * scale;
			scale /= 10;
		}
	t = timegm(&tm);
	/* Offsets other than Z: Podman reports UTC or local with offset. */
	if (*rest == '+' || *rest == '-') {
		int hh = 0, mm = 0;

		if (sscanf(rest + 1, "%d:%d", &hh, &mm) == 2)
			t -= (*rest == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
	}
	return (uint64_t)t * 1000000000ULL + ns;
}

/* Logging with the pod as a field. */
static void plog(struct apod *p, enum sm_log_level l, const char *fmt, ...)
	SM_PRINTF(3, 4);
static void plog(struct apod *p, enum sm_log_level l, const char *fmt, ...)
{
	const char *kv[] = { "pod", p->key, "node", p->a->node, NULL };
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	va_list ap;

	va_start(ap, fmt);
	sm_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	sm_log_kv(l, COMPONENT, kv, "%s", sm_buf_cstr(&b));
	sm_buf_release(&b);
}

static void event_sent(void *ctx, int status, json_t *body, const char *error)
{
	/* Events are best effort, as the kubelet's. */
	if (error)
		sm_log(SM_LOG_DEBUG, COMPONENT, "event: %s", error);
}

/*
 * Records an Event about pod p as a kubelet does (source kubelet, host
 * the node), when joined to a server; it is logged in any mode. The same
 * reason and message within ten minutes bump the first one's count.
 */
static void pevent(struct apod *p, bool warning, const char *reason,
		   const char *fmt, ...) SM_PRINTF(4, 5);
static void pevent(struct apod *p, bool warning, const char *reason,
		   const char *fmt, ...)
{
	struct agent *a = p->a;
	struct sm_buf msg = SM_BUF_INIT(4096), key = SM_BUF_INIT(8192);
	const char *ns = meta_str(p->pod, "namespace");
	const char *name = meta_str(p->pod, "name");
	uint64_t now = wall_ns(), h;
	char stamp[SM_TIME_RFC3339_LEN];
	va_list ap;

	va_start(ap, fmt);
	sm_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	plog(p, warning ? SM_LOG_WARN : SM_LOG_INFO, "%s: %s", reason,
	     sm_buf_cstr(&msg));
	if (!a->kube || !ns || !name)
		goto out;
	sm_time_rfc3339(now, 0, stamp, sizeof(stamp));
	sm_buf_addf(&key, "%s\n%s\n%s", p->uid, reason, sm_buf_cstr(&msg));
	h = sm_hash_fnv1a(key.buf, key.len);
	for (size_t i = 0; i < AGENT_RECENT_EVENTS; i++) {
		struct agent_event *e = &a->recent[i];
		char *path;

		if (e->key != h || now - e->first_ns > 600ULL * 1000000000ULL)
			continue;
		json_t *patch = json_pack("{s:I, s:s}", "count", ++e->count,
					  "lastTimestamp", stamp);
		path = xasprintf("/api/v1/namespaces/%s/events/%s", e->ns,
				 e->name);
		kube_request(a->kube, "PATCH", path, patch,
			     "application/merge-patch+json", 0, event_sent, a,
			     NULL);
		free(path);
		json_decref(patch);
		goto out;
	}
	struct agent_event *e = &a->recent[a->next_recent];
	a->next_recent = (a->next_recent + 1) % AGENT_RECENT_EVENTS;
	e->key = h;
	e->first_ns = now;
	e->count = 1;
	snprintf(e->ns, sizeof(e->ns), "%s", ns);
	snprintf(e->name, sizeof(e->name), "%.200s.%016llx", name,
		 (unsigned long long)(h ^ now));
	json_t *ev = json_pack(
		"{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s}, s:s, "
		"s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:i, s:s, s:s}",
		"apiVersion", "v1", "kind", "Event", "metadata", "name",
		e->name, "namespace", ns, "involvedObject", "kind", "Pod",
		"apiVersion", "v1", "namespace", ns, "name", name, "uid",
		p->uid, "type", warning ? "Warning" : "Normal", "reason",
		reason, "message", sm_buf_cstr(&msg), "source", "component",
		"kubelet", "host", a->node, "firstTimestamp", stamp,
		"lastTimestamp", stamp, "count", 1, "reportingComponent",
		"kubelet", "reportingInstance", a->node);
	char *path = xasprintf("/api/v1/namespaces/%s/events", ns);
	kube_request(a->kube, "POST", path, ev, NULL, 0, event_sent, a, NULL);
	free(path);
	json_decref(ev);
out:
	sm_buf_release(&msg);
	sm_buf_release(&key);
}

static void set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? xstrdup(src) : NULL;
}

/* Files */

/* Creates dir and its parents with mode. */
/* Writes a file atomically (temporary file, then rename). */
static int write_file(const char *path, const void *data, size_t len,
		      mode_t mode)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd, r = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fchmod(fd, mode) < 0 || write(fd, data, len) != (ssize_t)len)
		r = -errno ? -errno : -EIO;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
out:
	if (r)
		unlink(tmp);
	free(tmp);
	return r;
}

/* Status */

enum { COND_SCHEDULED, COND_INITIALIZED, COND_CONTAINERS_READY, COND_READY };
static const char *const cond_names[] = { "PodScheduled", "Initialized",
					  "ContainersReady", "Ready" };

static bool will_restart(const struct apod *p, const struct actr *c)
{
	const char *rp = sm_json_get_str(json_object_get(p->pod, "spec"),
					 "restartPolicy");

	if (c->init)
		return !p->failed;
	if (!rp || !strcmp(rp, "Always"))
		return true;
	return !strcmp(rp, "OnFailure") && c->exit_code != 0;
}

static json_t *ctr_state_json(const struct actr *c)
{
	switch (c->state) {
	case CTR_RUNNING:
		return json_pack("{s:{s:o}}", "running", "startedAt",
				 time_json(c->started_ns));
	case CTR_TERMINATED:
		return json_pack("{s:{s:i, s:s, s:o, s:o, s:s}}", "terminated",
				 "exitCode", c->exit_code, "reason",
				 c->reason ? c->reason : "Error", "startedAt",
				 time_json(c->started_ns), "finishedAt",
				 time_json(c->finished_ns), "containerID",
				 c->id ? c->id : "");
	case CTR_WAITING:
	default: {
		json_t *w =
			json_pack("{s:s}", "reason",
				  c->reason ? c->reason : "ContainerCreating");

		if (c->message)
			json_object_set_new(w, "message",
					    json_string(c->message));
		return json_pack("{s:o}", "waiting", w);
	}
	}
}

static json_t *ctr_status_json(const struct actr *c)
{
	json_t *s = json_pack(
		"{s:s, s:s, s:b, s:b, s:i, s:o, s:o}", "name", c->name, "image",
		sm_json_get_str(c->spec, "image"), "ready", c->ready, "started",
		c->state == CTR_RUNNING && c->started, "restartCount",
		c->restarts, "state", ctr_state_json(c), "lastState",
		c->last_state ? json_incref(c->last_state) : json_object());

	if (c->id) {
		char *cid = xasprintf("podman://%s", c->id);

		json_object_set_new(s, "containerID", json_string(cid));
		free(cid);
	}
	if (c->image_id)
		json_object_set_new(s, "imageID", json_string(c->image_id));
	return s;
}

static const char *pod_phase(const struct apod *p)
{
	size_t running = 0, done = 0, ok = 0;

	if (p->failed)
		return "Failed";
	if (!p->initialized)
		return "Pending";
	for (size_t i = p->nr_init; i < p->nr_ctrs; i++) {
		const struct actr *c = &p->ctrs[i];

		if (!c->ever_started)
			return "Pending";
		if (c->state == CTR_RUNNING || will_restart(p, c))
			running++;
		else if (c->state == CTR_TERMINATED) {
			done++;
			ok += c->exit_code == 0;
		}
	}
	if (running)
		return "Running";
	return done == ok ? "Succeeded" : "Failed";
}

static void set_cond(struct apod *p, int which, bool value)
{
	if (p->cond[which] != value || !p->cond_ns[which]) {
		p->cond[which] = value;
		p->cond_ns[which] = wall_ns();
	}
}

static json_t *pod_status_json(struct apod *p)
{
	json_t *conds = json_array(), *init = json_array(), *app = json_array();
	bool ready = p->initialized && !p->failed;
	json_t *st;

	for (size_t i = 0; i < p->nr_ctrs; i++) {
		struct actr *c = &p->ctrs[i];

		json_array_append_new(c->init ? init : app, ctr_status_json(c));
		if (!c->init)
			ready = ready && c->ready;
	}
	set_cond(p, COND_SCHEDULED, true);
	set_cond(p, COND_INITIALIZED, p->initialized);
	set_cond(p, COND_CONTAINERS_READY, ready);
	set_cond(p, COND_READY, ready);
	for (int i = 0; i < 4; i++)
		json_array_append_new(conds,
				      json_pack("{s:s, s:s, s:o}", "type",
						cond_names[i], "status",
						p->cond[i] ? "True" : "False",
						"lastTransitionTime",
						time_json(p->cond_ns[i])));
	st = json_pack("{s:s, s:o, s:s, s:o, s:o}", "phase", pod_phase(p),
		       "conditions", conds, "hostIP", p->a->node_ip,
		       "startTime", time_json(p->start_ns), "containerStatuses",
		       app);
	if (json_array_size(init))
		json_object_set_new(st, "initContainerStatuses", init);
	else
		json_decref(init);
	if (p->pod_ip) {
		json_object_set_new(st, "podIP", json_string(p->pod_ip));
		json_object_set_new(st, "podIPs",
				    json_pack("[{s:s}]", "ip", p->pod_ip));
	}
	if (p->error)
		json_object_set_new(st, "message", json_string(p->error));
	return st;
}

/*
 * Writes the pod's status file when it changed, and logs phase and
 * readiness transitions. Times are left out of the comparison so that a
 * status is written when something changed, not on every tick.
 */
static void report(struct apod *p)
{
	json_t *st = pod_status_json(p);
	json_t *obj = json_pack(
		"{s:s, s:s, s:{s:s, s:s, s:s}, s:O}", "apiVersion", "v1",
		"kind", "Pod", "metadata", "name",
		sm_json_get_str(json_object_get(p->pod, "metadata"), "name"),
		"namespace",
		sm_json_get_str(json_object_get(p->pod, "metadata"),
				"namespace"),
		"uid", p->uid, "status", st);
	char *text = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
	char *path;

	if (p->status_text && !strcmp(p->status_text, text)) {
		free(text);
		goto out;
	}
	if (!p->phase || strcmp(p->phase, sm_json_get_str(st, "phase"))) {
		set_str(&p->phase, sm_json_get_str(st, "phase"));
		plog(p, SM_LOG_INFO, "phase %s", p->phase);
	}
	path = xasprintf(
		"%s/%s_%s.json", p->a->status_dir,
		sm_json_get_str(json_object_get(p->pod, "metadata"),
				"namespace"),
		sm_json_get_str(json_object_get(p->pod, "metadata"), "name"));
	if (write_file(path, text, strlen(text), 0644))
		plog(p, SM_LOG_WARN, "cannot write status %s: %s", path,
		     strerror(errno));
	free(path);
	free(p->status_text);
	p->status_text = text;
	p->status_dirty = true;
	if (p->a->src->status)
		p->a->src->status(p);
out:
	json_decref(st);
	json_decref(obj);
}

/* Retries the current step of p after a backoff, recording why. */
static void retry_later(struct apod *p, const char *why)
{
	uint64_t delay = backoff_next(&p->retry, 0);

	if (delay < 500)
		delay = 500;
	if (!p->error || strcmp(p->error, why))
		plog(p, SM_LOG_WARN, "%s (retrying in %llu ms)", why,
		     (unsigned long long)delay);
	set_str(&p->error, why);
	p->retry_at_ms = now_ms() + delay;
}

/* A request of a running pod succeeded: its last error no longer holds. */
static void recovered(struct apod *p)
{
	p->retry.failures = 0;
	set_str(&p->error, NULL);
}

static void step_done(struct apod *p, enum pod_step next)
{
	p->step = next;
	p->next = 0;
	p->retry.failures = 0;
	set_str(&p->error, NULL);
}

static void set_waiting(struct actr *c, const char *reason, const char *msg)
{
	c->state = CTR_WAITING;
	set_str(&c->reason, reason);
	set_str(&c->message, msg);
}

/* Pods from the folder */

static const json_t *lookup(void *ctx, const char *kind, const char *ns,
			    const char *name)
{
	struct agent *a = ctx;

	return a->src->lookup(a, kind, ns, name);
}

static void podspec_setup(struct apod *p, struct podspec_ctx *pc, char *voldir)
{
	pc->node = p->a->node;
	pc->node_ip = p->a->node_ip;
	pc->pod_ip = p->pod_ip;
	pc->volume_dir = voldir;
	pc->lookup = lookup;
	pc->lookup_ctx = p->a;
	pc->network = p->a->pod_network;
	pc->cluster_dns = p->a->cluster_dns;
	pc->cluster_domain = p->a->cluster_domain;
	/* The Services there are now: a container's env is made once. */
	pc->services = p->a->inf_services
			       ? kube_informer_cache(p->a->inf_services)
			       : NULL;
}

static char *volume_dir(struct apod *p)
{
	return xasprintf("%s/%s", p->a->volume_root, p->uid);
}

static void apod_free(struct apod *p)
{
	for (size_t i = 0; i < p->nr_ctrs; i++) {
		struct actr *c = &p->ctrs[i];

		free(c->name);
		free(c->id);
		free(c->image_id);
		free(c->reason);
		free(c->message);
		json_decref(c->last_state);
	}
	free(p->ctrs);
	json_decref(p->pod);
	free(p->key);
	free(p->uid);
	free(p->podman_name);
	free(p->pod_ip);
	free(p->error);
	free(p->status_text);
	free(p->phase);
	free(p);
}

static struct apod *apod_new(struct agent *a, const char *key, json_t *pod)
{
	struct apod *p = xcalloc(1, sizeof(*p));
	json_t *spec = json_object_get(pod, "spec");
	json_t *lists[2] = { json_object_get(spec, "initContainers"),
			     json_object_get(spec, "containers") };
	struct backoff b = BACKOFF_INIT;

	p->a = a;
	p->key = xstrdup(key);
	p->pod = json_incref(pod);
	p->uid = xstrdup(
		sm_json_get_str(json_object_get(pod, "metadata"), "uid"));
	p->podman_name = podspec_pod_name(a->node, pod);
	p->retry = b;
	p->retry.max_ms = 30000;
	p->nr_init = json_array_size(lists[0]);
	p->nr_ctrs = p->nr_init + json_array_size(lists[1]);
	p->ctrs = xcalloc(p->nr_ctrs ? p->nr_ctrs : 1, sizeof(*p->ctrs));
	for (size_t i = 0; i < p->nr_ctrs; i++) {
		struct actr *c = &p->ctrs[i];

		c->pod = p;
		c->init = i < p->nr_init;
		c->spec = json_array_get(c->init ? lists[0] : lists[1],
					 c->init ? i : i - p->nr_init);
		c->name = xstrdup(sm_json_get_str(c->spec, "name"));
		c->backoff = a->cfg.backoff;
		c->started = true;
	}
	p->initialized = p->nr_init == 0;
	p->start_ns = wall_ns();
	return p;
}

/* Podman callbacks: every one first drops the pod's in-flight count. */

static struct apod *landed(struct apod *p)
{
	p->inflight--;
	/* Its next step runs right after this loop turn, not a tick later. */
	p->kick = true;
	return p;
}

static void pod_removed(void *ctx, const struct podman_reply *r)
{
	struct apod *p = landed(ctx);

	p->removing = false;
	if (!r->ok && r->status != 404) {
		retry_later(p, r->error);
		return;
	}
	plog(p, SM_LOG_INFO, "removed");
	p->step = STEP_GONE;
}

/*
 * Images. An image in Podman's store is used as it is; one named on a
 * configured registry is pulled when it is missing (IfNotPresent) or each
 * time the pod's containers are created (Always); Never never pulls. Only
 * one image request of a pod is in flight at a time: p->next is its
 * container.
 */

static const char *pull_policy(const struct actr *c)
{
	const char *policy = sm_json_get_str(c->spec, "imagePullPolicy");

	return policy ? policy : "IfNotPresent";
}

/* Whether c's image is on a registry this agent may pull from. */
static bool pullable(const struct agent *a, const struct actr *c)
{
	return registry_match(sm_json_get_str(c->spec, "image"),
			      (const char *const *)a->registries,
			      a->nr_registries);
}

/* Whether c's image must be pulled before each creation (Always). */
static bool pull_always(const struct agent *a, const struct actr *c)
{
	return !strcmp(pull_policy(c), "Always") && pullable(a, c);
}

/* Whether c's image was checked (or pulled) moments ago for another pod. */
static bool image_known(const struct agent *a, const struct actr *c,
			uint64_t now)
{
	const json_t *cache = pull_always(a, c) ? a->pulled : a->images;

	return json_integer_value(json_object_get(
		       cache, sm_json_get_str(c->spec, "image"))) >
	       (json_int_t)now;
}

/* c's image is there: on to the next container's. */
static void image_ready(struct apod *p, struct actr *c, bool pulled)
{
	const char *image = sm_json_get_str(c->spec, "image");
	json_int_t until = (json_int_t)now_ms() + 5000;

	/* Whatever held it here (a missing image, a pull) is over. */
	if (c->reason || c->message)
		set_waiting(c, "ContainerCreating", NULL);
	c->pull_failures = 0;
	/* Pods started together need not ask for it again. */
	json_object_set_new(p->a->images, image, json_integer(until));
	if (pulled && !strcmp(pull_policy(c), "Always"))
		json_object_set_new(p->a->pulled, image, json_integer(until));
	if (++p->next == p->nr_ctrs)
		step_done(p, STEP_CREATE_POD);
}

static void image_pulled(void *ctx, const struct podman_reply *r)
{
	struct apod *p = landed(ctx);
	struct actr *c;
	const char *image;
	char *msg;

	/* The pod was removed while its image came: nothing more to do. */
	if (p->step != STEP_IMAGES)
		return;
	c = &p->ctrs[p->next];
	image = sm_json_get_str(c->spec, "image");
	if (r->ok) {
		pevent(p, false, "Pulled", "Successfully pulled image \"%s\"",
		       image);
		image_ready(p, c, true);
		return;
	}
	if (!r->status) {
		/* Podman did not answer: retried as any Podman error. */
		retry_later(p, r->error);
		return;
	}
	/*
	 * As the kubelet: the failed pull is ErrImagePull; retried with
	 * backoff, it is ImagePullBackOff until a pull succeeds.
	 */
	msg = xasprintf("%s image \"%s\": %s",
			c->pull_failures ? "back-off pulling"
					 : "failed to pull",
			image, r->error);
	set_waiting(c, c->pull_failures ? "ImagePullBackOff" : "ErrImagePull",
		    msg);
	pevent(p, true, c->pull_failures ? "BackOff" : "Failed", "%s", msg);
	c->pull_failures++;
	retry_later(p, msg);
	free(msg);
}

/* Pulls c's image from its registry (plain HTTP: loopback only). */
static void image_pull(struct actr *c, enum podman_pull_policy policy)
{
	struct apod *p = c->pod;
	const char *image = sm_json_get_str(c->spec, "image");

	/* A retry keeps the failure's reason, as the kubelet's back-off. */
	if (!c->pull_failures) {
		char *msg = xasprintf("pulling image \"%s\"", image);

		set_waiting(c, "ContainerCreating", msg);
		pevent(p, false, "Pulling", "Pulling image \"%s\"", image);
		free(msg);
	}
	p->inflight++;
	if (p->a->ops->image_pull(p->a->pmc, image, policy, false, image_pulled,
				  p))
		p->inflight--;
}

static void image_checked(void *ctx, const struct podman_reply *r)
{
	struct apod *p = landed(ctx);
	struct actr *c;
	const char *image, *policy;
	bool never;

	if (p->step != STEP_IMAGES)
		return;
	c = &p->ctrs[p->next];
	image = sm_json_get_str(c->spec, "image");
	policy = pull_policy(c);
	never = !strcmp(policy, "Never");
	if (r->ok) {
		image_ready(p, c, false);
		return;
	}
	if (r->status != 404) {
		retry_later(p, r->error);
		return;
	}
	if (!never && pullable(p->a, c)) {
		image_pull(c, PODMAN_PULL_MISSING);
		return;
	}
	/*
	 * Not pulled: Never, or not on a registry of --registry-insecure.
	 * The image must be on this machine, and the message says how.
	 */
	{
		char *msg = xasprintf(
			"image \"%s\" is not on this machine%s: build it with "
			"`podman build -t %s .` (or run `stuurman images` for "
			"the demo images), or push it to a registry on "
			"loopback that the agent pulls from "
			"(--registry-insecure HOST:PORT)",
			image, never ? " and its imagePullPolicy is Never" : "",
			image);

		set_waiting(c, never ? "ErrImageNeverPull" : "ImagePullBackOff",
			    msg);
		retry_later(p, msg);
		free(msg);
	}
}

/* The image step's request for c: a pull for Always, else a look. */
static void image_check(struct actr *c)
{
	struct apod *p = c->pod;

	if (pull_always(p->a, c)) {
		/* Podman asks the registry; only a changed image comes. */
		image_pull(c, PODMAN_PULL_NEWER);
		return;
	}
	p->inflight++;
	if (p->a->ops->image_exists(p->a->pmc,
				    sm_json_get_str(c->spec, "image"),
				    image_checked, p))
		p->inflight--;
}

/* After removing a leftover, the step that met it runs again. */
static void leftover_removed(void *ctx, const struct podman_reply *r)
{
	struct apod *p = landed(ctx);

	if (!r->ok && r->status != 404)
		retry_later(p, r->error);
}

/* Whether a container takes status.podIP in its env (it needs the IP
 * before it is created, so the pod must be started first). */
static bool needs_ip_first(const struct apod *p)
{
	for (size_t i = 0; i < p->nr_ctrs; i++) {
		json_t *env = json_object_get(p->ctrs[i].spec, "env"), *e;
		size_t j;

		json_array_foreach (env, j, e) {
			const char *f = json_string_value(sm_json_get_path(
				e, "valueFrom.fieldRef.fieldPath"));

			if (f && !strcmp(f, "status.podIP"))
				return true;
		}
	}
	return false;
}

static void pod_created(void *ctx, const struct podman_reply *r)
{
	struct apod *p = landed(ctx);

	if (r->ok) {
		/*
		 * Starting a container starts its pod, and the container's
		 * inspection tells the pod IP: three calls fewer, unless an
		 * env var wants the IP before any container exists.
		 */
		step_done(p, needs_ip_first(p) ? STEP_START_POD
			     : p->initialized  ? STEP_MAIN
					       : STEP_INIT);
		return;
	}
	if (r->status == 409) {
		/* A leftover of ours with this name: remove it, then retry. */
		p->inflight++;
		if (p->a->ops->pod_remove(p->a->pmc, p->podman_name, 0,
					  leftover_removed, p))
			p->inflight--;
		return;
	}
	/* The pod network went away (podman network rm): made again. */
	if (r->cause && strstr(r->cause, "network not found") &&
	    p->a->net_state == NET_READY)
		p->a->net_state = NET_UNKNOWN;
	retry_later(p, r->error);
}

static void pod_started(void *ctx, const struct podman_reply *r)
{
	struct apod *p = landed(ctx);

	if (r->ok)
		step_done(p, STEP_POD_IP);
	else
		retry_later(p, r->error);
}

/*
 * The pod IP from an inspection of its infra container (or a member: they
 * report the infra's): its address on the pod network, else the first
 * one it has (an adopted pod on Podman's default network keeps that).
 * On a named network, Podman leaves NetworkSettings.IPAddress empty.
 */
static const char *infra_ip(const struct agent *a, const json_t *inspect)
{
	json_t *nets = sm_json_get_path(inspect, "NetworkSettings.Networks");
	const char *ip = sm_json_get_str(
		json_object_get(nets, a->pod_network ? a->pod_network : ""),
		"IPAddress");
	const char *key;
	json_t *n;

	if (ip && *ip)
		return ip;
	ip = sm_json_get_str(json_object_get(inspect, "NetworkSettings"),
			     "IPAddress");
	if (ip && *ip)
		return ip;
	json_object_foreach (nets, key, n) {
		ip = sm_json_get_str(n, "IPAddress");
		if (ip && *ip)
			return ip;
	}
	return NULL;
}

static void infra_inspected(void *ctx, const struct podman_reply *r)
{
	struct apod *p = landed(ctx);
	const char *ip = r->ok ? infra_ip(p->a, r->json) : NULL;

	if (!r->ok) {
		retry_later(p, r->error);
		return;
	}
	set_str(&p->pod_ip, ip);
	step_done(p, p->initialized ? STEP_MAIN : STEP_INIT);
}

static void pod_inspected(void *ctx, const struct podman_reply *r)
{
	struct apod *p = landed(ctx);
	const char *infra =
		r->ok ? sm_json_get_str(r->json, "InfraContainerID") : NULL;

	if (!infra) {
		retry_later(p, r->ok ? "the pod has no infra container"
				     : r->error);
		return;
	}
	p->inflight++;
	if (p->a->ops->container_inspect(p->a->pmc, infra, infra_inspected, p))
		p->inflight--;
}

/* Containers */

static void ctr_wait(struct actr *c);
static void probes_reset(struct actr *c);

/*
 * Container c has exited with exit_code; st is its inspected State, or NULL
 * when it was not inspected (the wait's exit code and the time now are
 * then what is known).
 */
static void ctr_terminated(struct actr *c, const json_t *st, int exit_code)
{
	struct apod *p = c->pod;
	uint64_t ran;

	c->state = CTR_TERMINATED;
	c->exit_code = exit_code;
	c->finished_ns = 0;
	set_str(&c->reason, exit_code == 0 ? "Completed" : "Error");
	if (st) {
		c->exit_code = (int)json_integer_value(
			json_object_get(st, "ExitCode"));
		c->finished_ns = parse_time(sm_json_get_str(st, "FinishedAt"));
		set_str(&c->reason,
			json_is_true(json_object_get(st, "OOMKilled"))
				? "OOMKilled"
			: c->exit_code == 0 ? "Completed"
					    : "Error");
	}
	if (!c->finished_ns)
		c->finished_ns = wall_ns();
	set_str(&c->message, NULL);
	c->ready = false;
	if (p->step >= STEP_DELETE)
		return; /* going anyway: no restart, no noise */
	plog(p, SM_LOG_INFO, "container %s exited with %d", c->name,
	     c->exit_code);
	if (c->init) {
		const char *rp = sm_json_get_str(
			json_object_get(p->pod, "spec"), "restartPolicy");

		if (c->exit_code == 0)
			return; /* the init step goes on with the next one */
		if (rp && !strcmp(rp, "Never")) {
			p->failed = true;
			return;
		}
	} else if (!will_restart(p, c) && !c->restart_on_exit) {
		return;
	}
	c->restart_on_exit = false;
	ran = now_ms() - c->started_ms;
	json_decref(c->last_state);
	c->last_state = ctr_state_json(c);
	{
		uint64_t delay = backoff_next(&c->backoff, ran);

		c->restart_at_ms = now_ms() + delay;
		if (delay) {
			char *msg = xasprintf(
				"back-off %llus restarting failed "
				"container=%s pod=%s",
				(unsigned long long)(delay + 999) / 1000,
				c->name, p->key);

			set_waiting(c, "CrashLoopBackOff", msg);
			pevent(p, true, "BackOff",
			       "Back-off restarting failed container %s in pod "
			       "%s",
			       c->name, meta_str(p->pod, "name"));
			free(msg);
		}
	}
}

static void ctr_inspected_after_exit(void *ctx, const struct podman_reply *r)
{
	struct actr *c = ctx;

	landed(c->pod);
	ctr_terminated(c, r->ok ? json_object_get(r->json, "State") : NULL,
		       c->exit_code);
}

/* Only a container with a memory limit can be OOM-killed. */
static bool may_oom(const struct actr *c)
{
	return sm_json_get_path(c->spec, "resources.limits.memory") != NULL;
}

static void ctr_exited(void *ctx, const struct podman_wait_reply *w)
{
	struct actr *c = ctx;
	struct apod *p = landed(c->pod);

	c->waiting_exit = false;
	if (!w->r.ok) {
		/* Podman went away mid-wait: look again shortly. */
		retry_later(p, w->r.error);
		return;
	}
	/* Podman answers again: an earlier failure is history. */
	recovered(p);
	/*
	 * The wait's exit code is enough, and saves a round trip before the
	 * restart, unless a SIGKILL may have been the OOM killer's.
	 */
	if (w->exit_code != 137 || !may_oom(c)) {
		ctr_terminated(c, NULL, w->exit_code);
		return;
	}
	c->exit_code = w->exit_code;
	p->inflight++;
	if (p->a->ops->container_inspect(p->a->pmc, c->id,
					 ctr_inspected_after_exit, c))
		p->inflight--;
}

static void ctr_wait(struct actr *c)
{
	struct apod *p = c->pod;

	if (c->waiting_exit)
		return;
	p->inflight++;
	c->waiting_exit = true;
	if (p->a->ops->container_wait(p->a->pmc, c->id, ctr_exited, c)) {
		p->inflight--;
		c->waiting_exit = false;
	}
}

/* c runs; inspect is its inspection, or NULL for a restart (times now). */
static void ctr_running(struct actr *c, const json_t *inspect)
{
	json_t *st = json_object_get(inspect, "State");

	c->state = CTR_RUNNING;
	c->ever_started = true;
	set_str(&c->reason, NULL);
	set_str(&c->message, NULL);
	c->started_ns = parse_time(sm_json_get_str(st, "StartedAt"));
	if (!c->started_ns)
		c->started_ns = wall_ns();
	c->started_ms = now_ms();
	if (inspect)
		set_str(&c->image_id, sm_json_get_str(inspect, "Image"));
	probes_reset(c);
	ctr_wait(c);
}

static void ctr_inspected_after_start(void *ctx, const struct podman_reply *r)
{
	struct actr *c = ctx;
	struct apod *p = landed(c->pod);

	if (!r->ok) {
		retry_later(p, r->error);
		return;
	}
	if (!p->pod_ip)
		set_str(&p->pod_ip, infra_ip(p->a, r->json));
	ctr_running(c, r->json);
	/* Init containers go on only once they exited (STEP_INIT looks). */
	if (p->step == STEP_MAIN)
		p->next++;
}

static void ctr_started(void *ctx, const struct podman_reply *r)
{
	struct actr *c = ctx;
	struct apod *p = landed(c->pod);

	if (!r->ok) {
		set_waiting(c, "RunContainerError", r->error);
		retry_later(p, r->error);
		return;
	}
	recovered(p);
	pevent(p, false, "Started", "Started container %s", c->name);
	/* A restart needs no inspection: the image is the same. */
	if (c->image_id && p->step == STEP_RUNNING) {
		ctr_running(c, NULL);
		return;
	}
	p->inflight++;
	if (p->a->ops->container_inspect(p->a->pmc, c->id,
					 ctr_inspected_after_start, c))
		p->inflight--;
}

static void ctr_start(struct actr *c)
{
	struct apod *p = c->pod;

	p->inflight++;
	if (p->a->ops->container_start(p->a->pmc, c->id, ctr_started, c))
		p->inflight--;
}

/* Whether a create error is about cgroup limits (not the image, names...). */
static bool limits_refused(const char *error)
{
	static const char *const words[] = { "cgroup", "memory", "cpu",
					     "resource" };

	for (size_t i = 0; error && i < SM_ARRAY_SIZE(words); i++)
		if (strcasestr(error, words[i]))
			return true;
	return false;
}

static void ctr_created(void *ctx, const struct podman_reply *r)
{
	struct actr *c = ctx;
	struct apod *p = landed(c->pod);
	const char *id = r->ok ? sm_json_get_str(r->json, "Id") : NULL;

	if (!id) {
		if (r->status == 500 && r->cause &&
		    strstr(r->cause, "already in use")) {
			/* A leftover container of ours: remove and retry. */
			char *name =
				xasprintf("%s_%s", p->podman_name, c->name);

			p->inflight++;
			if (p->a->ops->container_remove(p->a->pmc, name, true,
							leftover_removed, p))
				p->inflight--;
			free(name);
			return;
		}
		/*
		 * Limits the cgroup setup refuses are dropped, once, with one
		 * clear warning: the container runs, unlimited.
		 */
		if (!c->no_limits &&
		    sm_json_get_path(c->spec, "resources.limits") &&
		    limits_refused(r->error)) {
			c->no_limits = true;
			plog(p, SM_LOG_WARN,
			     "container %s: resources.limits "
			     "cannot be applied here (%s); it "
			     "runs without them",
			     c->name, r->error ? r->error : "refused");
			p->kick = true;
			return;
		}
		set_waiting(c, "CreateContainerError", r->error);
		retry_later(p, r->error ? r->error : "no container id");
		return;
	}
	set_str(&c->id, id);
	ctr_start(c);
}

/* Creates (or, when it exists, starts) container c. */
static void ctr_create(struct actr *c)
{
	struct apod *p = c->pod;
	char *voldir = volume_dir(p), *why = NULL;
	struct podspec_ctx pc;
	json_t *spec;

	if (c->id) {
		ctr_start(c);
		free(voldir);
		return;
	}
	podspec_setup(p, &pc, voldir);
	spec = podspec_container(&pc, p->pod, c->spec, &why);
	free(voldir);
	if (spec && c->no_limits)
		json_object_del(spec, "resource_limits");
	if (!spec) {
		set_waiting(c, "CreateContainerConfigError", why);
		retry_later(p, why);
		free(why);
		return;
	}
	p->inflight++;
	if (p->a->ops->container_create(p->a->pmc, spec, ctr_created, c))
		p->inflight--;
	json_decref(spec);
}

/* Restarts after backoff, probes and liveness */

static void ctr_stopped(void *ctx, const struct podman_reply *r)
{
	struct actr *c = ctx;
	struct apod *p = landed(c->pod);

	c->stopping = false;
	if (!r->ok)
		retry_later(p, r->error);
	/* The wait long-poll sees the exit and restarts it. */
}

static void restart_due(struct actr *c, uint64_t now)
{
	struct apod *p = c->pod;

	if (!c->restart_at_ms || now < c->restart_at_ms || c->waiting_exit)
		return;
	c->restart_at_ms = 0;
	c->restarts++;
	plog(p, SM_LOG_INFO, "restarting container %s (restart %d)", c->name,
	     c->restarts);
	ctr_start(c);
}

static const char *probe_keys[] = { "startupProbe", "livenessProbe",
				    "readinessProbe" };

static void probes_reset(struct actr *c)
{
	enum probe_kind kinds[] = { PROBE_STARTUP, PROBE_LIVENESS,
				    PROBE_READINESS };

	for (int k = 0; k < 3; k++) {
		json_t *spec = json_object_get(c->spec, probe_keys[k]);

		c->has_probe[k] = spec && !c->init;
		if (c->has_probe[k])
			probe_init(&c->probes[k], kinds[k], spec, now_ms());
	}
	c->started = !c->has_probe[0];
	c->ready = !c->has_probe[2] && c->started && !c->init;
}

struct probe_run {
	struct agent *a;
	struct probe_run *next, **prev; /* in a->runs */
	struct actr *c; /* NULL once the agent is going */
	int kind;
	uv_tcp_t tcp;
	uv_connect_t conn;
	uv_timer_t timer;
	int closing;
	bool result;
	bool is_exec;
	struct podman_exec *exec; /* an exec probe's session, until it ends */
	char out[128]; /* the start of an exec probe's output, for the log */
	size_t out_len;
};

static void probe_result(struct actr *c, int k, bool ok)
{
	struct apod *p = c->pod;
	struct probe *pr = &c->probes[k];

	c->probing[k] = false;
	if (c->state != CTR_RUNNING)
		return;
	if (!probe_record(pr, ok, now_ms()))
		return;
	/* A verdict changes the status: it goes out this loop turn. */
	p->kick = true;
	switch (pr->kind) {
	case PROBE_STARTUP:
		c->started = true;
		/* Liveness and readiness begin once started. */
		for (int j = 1; j < 3; j++)
			if (c->has_probe[j])
				c->probes[j].next_at_ms =
					now_ms() +
					c->probes[j].initial_delay_ms;
		if (!c->has_probe[2])
			c->ready = true;
		break;
	case PROBE_READINESS:
		c->ready = pr->verdict;
		if (c->ready)
			plog(p, SM_LOG_INFO, "container %s is ready", c->name);
		else
			pevent(p, true, "Unhealthy",
			       "Readiness probe failed: container %s", c->name);
		break;
	case PROBE_LIVENESS:
		pevent(p, true, "Unhealthy",
		       "Liveness probe failed: container %s", c->name);
		pevent(p, false, "Killing",
		       "Container %s failed liveness probe, will be restarted",
		       c->name);
		c->restart_on_exit = true;
		c->stopping = true;
		p->inflight++;
		if (p->a->ops->container_stop(
			    p->a->pmc, c->id,
			    (int)json_integer_value(json_object_get(
				    json_object_get(p->pod, "spec"),
				    "terminationGracePeriodSeconds")),
			    ctr_stopped, c)) {
			p->inflight--;
			c->stopping = false;
		}
		break;
	}
}

static void run_link(struct probe_run *run)
{
	struct agent *a = run->a;

	run->next = a->runs;
	run->prev = &a->runs;
	if (a->runs)
		a->runs->prev = &run->next;
	a->runs = run;
}

static void run_unlink(struct probe_run *run)
{
	*run->prev = run->next;
	if (run->next)
		run->next->prev = run->prev;
}

static void http_probe_done(void *ctx, const struct sm_http_response *r)
{
	struct probe_run *run = ctx;

	run_unlink(run);
	run->c->pod->inflight--;
	sm_log(SM_LOG_DEBUG, COMPONENT, "probe %s of %s: %d %s",
	       probe_keys[run->kind], run->c->name, r->status,
	       r->error ? r->error : "");
	/* Kubernetes: any status from 200 to 399 is a success. */
	probe_result(run->c, run->kind,
		     !r->error && r->status >= 200 && r->status < 400);
	free(run);
}

/* The close callback of a tcpSocket or exec probe's handles: the run
 * ends when the last of them (`closing` of them) has closed. */
static void run_closed(uv_handle_t *h)
{
	struct probe_run *run = h->data;
	struct agent *a = run->a;

	a->handles--;
	if (--run->closing)
		return;
	run_unlink(run);
	if (run->c) {
		run->c->pod->inflight--;
		probe_result(run->c, run->kind, run->result);
	}
	free(run);
	if (a->freeing && !a->handles)
		free(a);
}

static void tcp_run_end(struct probe_run *run, bool ok)
{
	if (run->closing > 0)
		return;
	run->result = ok;
	run->closing = 2;
	uv_close((uv_handle_t *)&run->tcp, run_closed);
	uv_close((uv_handle_t *)&run->timer, run_closed);
}

static void tcp_connected(uv_connect_t *req, int status)
{
	tcp_run_end(req->data, status == 0);
}

static void tcp_timeout(uv_timer_t *t)
{
	tcp_run_end(t->data, false);
}

/* The port a probe names: a number, or a name among the ports. */
static int probe_port(const struct actr *c, const json_t *port)
{
	json_t *p;
	size_t i;

	if (json_is_integer(port))
		return (int)json_integer_value(port);
	json_array_foreach (json_object_get(c->spec, "ports"), i, p)
		if (!strcmp(sm_json_get_str(p, "name")
				    ? sm_json_get_str(p, "name")
				    : "",
			    json_string_value(port)))
			return (int)json_integer_value(
				json_object_get(p, "containerPort"));
	return -1;
}

/*
 * exec probes: the command runs in the container through Podman's exec
 * API; exit code 0 is a success. A probe that has not ended within
 * timeoutSeconds is cancelled and failed. Only the start of the output is
 * kept, for the log.
 */
static void exec_run_end(struct probe_run *run, bool ok)
{
	if (run->closing > 0)
		return;
	run->result = ok;
	run->closing = 1;
	uv_close((uv_handle_t *)&run->timer, run_closed);
}

static void exec_probe_out(void *ctx, enum podman_log_stream which,
			   const char *data, size_t len)
{
	struct probe_run *run = ctx;
	size_t room = sizeof(run->out) - 1 - run->out_len;

	if (len > room)
		len = room;
	memcpy(run->out + run->out_len, data, len);
	run->out_len += len;
	run->out[run->out_len] = '\0';
}

static void exec_probe_done(void *ctx, const struct podman_reply *r,
			    int exit_code)
{
	struct probe_run *run = ctx;
	char *nl = strchr(run->out, '\n');

	run->exec = NULL;
	if (nl)
		*nl = '\0';
	sm_log(SM_LOG_DEBUG, COMPONENT, "probe %s of %s: exit %d %s%s",
	       probe_keys[run->kind], run->c->name, exit_code,
	       r->error ? r->error : "", run->out);
	exec_run_end(run, r->ok && exit_code == 0);
}

static void exec_probe_timeout(uv_timer_t *t)
{
	struct probe_run *run = t->data;

	sm_log(SM_LOG_DEBUG, COMPONENT, "probe %s of %s: timed out",
	       probe_keys[run->kind], run->c->name);
	run->a->ops->exec_cancel(run->exec);
	run->exec = NULL;
	exec_run_end(run, false);
}

static void exec_probe_start(struct actr *c, int k, const json_t *exec)
{
	struct apod *p = c->pod;
	json_t *cmd = json_object_get(exec, "command"), *v;
	const char **argv;
	struct podman_exec_opts o = { 0 };
	struct probe_run *run;
	size_t i;

	if (!json_array_size(cmd)) {
		probe_record(&c->probes[k], false, now_ms());
		return;
	}
	argv = xcalloc(json_array_size(cmd) + 1, sizeof(*argv));
	json_array_foreach (cmd, i, v)
		argv[i] = json_string_value(v) ? json_string_value(v) : "";
	o.cmd = argv;
	run = xcalloc(1, sizeof(*run));
	run->a = p->a;
	run->c = c;
	run->kind = k;
	run->is_exec = true;
	run->exec = p->a->ops->exec(p->a->pmc, c->id, &o, exec_probe_out,
				    exec_probe_done, run);
	free(argv);
	if (!run->exec) {
		free(run);
		probe_record(&c->probes[k], false, now_ms());
		return;
	}
	run_link(run);
	c->probing[k] = true;
	p->inflight++;
	uv_timer_init(p->a->loop, &run->timer);
	p->a->handles++;
	run->timer.data = run;
	uv_timer_start(&run->timer, exec_probe_timeout, c->probes[k].timeout_ms,
		       0);
}

static void probe_start(struct actr *c, int k)
{
	struct apod *p = c->pod;
	const json_t *spec = json_object_get(c->spec, probe_keys[k]);
	json_t *http = json_object_get(spec, "httpGet");
	json_t *tcp = json_object_get(spec, "tcpSocket");
	json_t *action = http ? http : tcp;
	const char *host = sm_json_get_str(action, "host");
	int port = probe_port(c, json_object_get(action, "port"));
	struct probe_run *run;

	if (!action && json_object_get(spec, "exec")) {
		exec_probe_start(c, k, json_object_get(spec, "exec"));
		return;
	}
	if (!action) {
		/*
		 * grpc probes are not run: they count as failing, so nothing
		 * is called ready that was not checked, and are reported.
		 */
		if (!c->probes[k].failures)
			plog(p, SM_LOG_WARN,
			     "container %s: %s: only httpGet, tcpSocket and "
			     "exec probes are supported",
			     c->name, probe_keys[k]);
		probe_record(&c->probes[k], false, now_ms());
		return;
	}
	if (!host || !*host)
		host = p->pod_ip;
	if (!host || port <= 0) {
		probe_record(&c->probes[k], false, now_ms());
		return;
	}
	run = xcalloc(1, sizeof(*run));
	run->a = p->a;
	run->c = c;
	run->kind = k;
	run_link(run);
	c->probing[k] = true;
	p->inflight++;
	if (http) {
		const char *path = sm_json_get_str(http, "path");
		const char *scheme = sm_json_get_str(http, "scheme");
		char *url = xasprintf(
			"%s://%s:%d%s%s",
			scheme && !strcmp(scheme, "HTTPS") ? "https" : "http",
			host, port, path && *path == '/' ? "" : "/",
			path ? path : "");
		struct sm_http_request_opts o = {
			.url = url,
			.timeout_ms = c->probes[k].timeout_ms,
			.max_response = 64 * 1024,
			.on_done = http_probe_done,
			.ctx = run,
		};

		run->closing = -1; /* marks an HTTP run */
		if (sm_http_request_start(p->a->http, &o, NULL)) {
			p->inflight--;
			c->probing[k] = false;
			run_unlink(run);
			free(run);
		}
		free(url);
		return;
	}
	{
		struct sockaddr_in addr;

		if (uv_ip4_addr(host, port, &addr)) {
			p->inflight--;
			c->probing[k] = false;
			run_unlink(run);
			free(run);
			probe_record(&c->probes[k], false, now_ms());
			return;
		}
		uv_tcp_init(p->a->loop, &run->tcp);
		uv_timer_init(p->a->loop, &run->timer);
		p->a->handles += 2;
		run->tcp.data = run;
		run->timer.data = run;
		run->conn.data = run;
		uv_timer_start(&run->timer, tcp_timeout,
			       c->probes[k].timeout_ms, 0);
		if (uv_tcp_connect(&run->conn, &run->tcp,
				   (const struct sockaddr *)&addr,
				   tcp_connected))
			tcp_run_end(run, false);
	}
}

static void probes_due(struct actr *c, uint64_t now)
{
	if (c->state != CTR_RUNNING || c->stopping)
		return;
	for (int k = 0; k < 3; k++) {
		if (!c->has_probe[k] || c->probing[k] ||
		    now < c->probes[k].next_at_ms)
			continue;
		/* Until the startup probe passes, only it runs. */
		if (k > 0 && !c->started)
			continue;
		if (k == 0 && c->started)
			continue;
		probe_start(c, k);
	}
}

/* Steps */

static void write_volumes(struct apod *p)
{
	char *voldir = volume_dir(p), *why = NULL;
	struct podspec_ctx pc;
	json_t *files, *f, *v;
	size_t i;

	podspec_setup(p, &pc, voldir);
	files = podspec_volume_files(&pc, p->pod, &why);
	if (!files) {
		for (i = 0; i < p->nr_ctrs; i++)
			set_waiting(&p->ctrs[i], "CreateContainerConfigError",
				    why);
		retry_later(p, why);
		free(why);
		free(voldir);
		return;
	}
	/* emptyDir volumes are folders of the pod's own. */
	json_array_foreach (sm_json_get_path(p->pod, "spec.volumes"), i, v) {
		if (json_object_get(v, "emptyDir") ||
		    json_object_get(v, "configMap") ||
		    json_object_get(v, "secret")) {
			char *d = xasprintf("%s/%s", voldir,
					    sm_json_get_str(v, "name"));

			sm_mkdir_p(d,
				   json_object_get(v, "secret") ? 0750 : 0755);
			free(d);
		}
	}
	json_array_foreach (files, i, f) {
		const char *path = sm_json_get_str(f, "path");
		struct sm_buf data = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		char *dir = xstrdup(path);

		*strrchr(dir, '/') = '\0';
		sm_mkdir_p(dir, 0755);
		sm_base64_decode(sm_json_get_str(f, "data"),
				 strlen(sm_json_get_str(f, "data")), &data);
		if (write_file(path, data.buf ? data.buf : "", data.len,
			       (mode_t)json_integer_value(
				       json_object_get(f, "mode"))))
			plog(p, SM_LOG_WARN, "cannot write %s: %s", path,
			     strerror(errno));
		sm_buf_release(&data);
		free(dir);
	}
	json_decref(files);
	free(voldir);
	step_done(p, STEP_IMAGES);
}

/*
 * The pod network. Before its first pod is created the agent makes sure
 * Podman has it: inspect, and create it when it is missing (a 409 is an
 * agent next door that was quicker: inspect again). One with another
 * subnet is used as it is, with a warning. Failures are retried every
 * 2 s, logged once; pods wait in ContainerCreating meanwhile.
 */

#define NET_RETRY_MS 2000

static void net_ensure(struct agent *a, uint64_t now);

static void net_failed(struct agent *a, const char *why)
{
	if (!a->net_error || strcmp(a->net_error, why))
		sm_log(SM_LOG_WARN, COMPONENT,
		       "pod network %s: %s (retrying every 2 s)",
		       a->pod_network, why);
	set_str(&a->net_error, why);
	a->net_state = NET_UNKNOWN;
	a->net_retry_ms = now_ms() + NET_RETRY_MS;
}

static void net_created(void *ctx, const struct podman_reply *r)
{
	struct agent *a = ctx;

	if (r->ok) {
		sm_log(SM_LOG_INFO, COMPONENT,
		       "created the pod network %s (subnet %s, gateway %s)",
		       a->pod_network, a->pod_subnet, a->pod_gateway);
		a->net_state = NET_READY;
		set_str(&a->net_error, NULL);
		return;
	}
	if (r->status == 409) {
		/* Made meanwhile by another agent: look at it. */
		a->net_state = NET_UNKNOWN;
		a->net_retry_ms = 0;
		net_ensure(a, now_ms());
		return;
	}
	net_failed(a, r->error);
}

static void net_inspected(void *ctx, const struct podman_reply *r)
{
	struct agent *a = ctx;
	json_t *sub, *spec;
	size_t i;
	bool same = false;

	if (r->ok) {
		json_array_foreach (json_object_get(r->json, "subnets"), i, sub)
			same = same ||
			       !strcmp(sm_json_get_str(sub, "subnet") ?: "",
				       a->pod_subnet);
		if (!same) {
			char *have =
				json_dumps(json_object_get(r->json, "subnets"),
					   JSON_COMPACT);

			sm_log(SM_LOG_WARN, COMPONENT,
			       "the Podman network %s exists with subnets %s, "
			       "not %s: pods use it as it is",
			       a->pod_network, have ? have : "[]",
			       a->pod_subnet);
			free(have);
		} else if (a->net_error || a->net_state != NET_READY) {
			sm_log(SM_LOG_INFO, COMPONENT,
			       "pod network %s (subnet %s)", a->pod_network,
			       a->pod_subnet);
		}
		a->net_state = NET_READY;
		set_str(&a->net_error, NULL);
		return;
	}
	if (r->status != 404) {
		net_failed(a, r->error);
		return;
	}
	spec = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:b}", "name",
			 a->pod_network, "driver", "bridge", "subnets",
			 "subnet", a->pod_subnet, "gateway", a->pod_gateway,
			 "dns_enabled", 0);
	if (a->ops->network_create(a->pmc, spec, net_created, a))
		net_failed(a, "cannot send the network create request");
	json_decref(spec);
}

/* Asks Podman for the pod network, unless asked already or ready. */
static void net_ensure(struct agent *a, uint64_t now)
{
	if (a->net_state != NET_UNKNOWN || now < a->net_retry_ms)
		return;
	a->net_state = NET_ASKING;
	if (a->ops->network_inspect(a->pmc, a->pod_network, net_inspected, a))
		net_failed(a, "cannot send the network inspect request");
}

/*
 * Draining (joined): a pod marked for deletion whose IP a slice lists
 * waits until no slice lists it as ready, then drain_delay_ms more, before
 * its SIGTERM; never longer than its grace period less 1 s. One listed as
 * not ready (the endpoints controller is usually quicker than the agent
 * to see the deletion) gets the delay alone: the proxies may not have
 * seen that yet. One in no slice is stopped at once. Returns whether p
 * may be stopped now.
 */
static bool drained(struct apod *p, uint64_t now)
{
	struct agent *a = p->a;
	int ep = p->pod_ip && a->src->endpoint ? a->src->endpoint(a, p->pod_ip)
					       : EP_NONE;
	bool listed = ep == EP_READY;
	json_int_t grace = json_integer_value(
		json_object_get(json_object_get(p->pod, "spec"),
				"terminationGracePeriodSeconds"));

	if (p->drain == DRAIN_NONE || p->drain == DRAIN_DONE)
		return true;
	if (p->drain == DRAIN_ASKED) {
		if (ep == EP_NONE || grace <= 1) {
			/* In no slice: stopped at once, as ever. */
			p->drain = DRAIN_DONE;
			return true;
		}
		p->drain = DRAIN_WAITING;
		p->drain_start_ms = now;
		p->drain_deadline_ms = now + (uint64_t)(grace - 1) * 1000;
		p->drain_clear_ms = 0;
		if (listed)
			plog(p, SM_LOG_INFO,
			     "draining: %s is a ready endpoint; SIGTERM once "
			     "no EndpointSlice lists it as ready (at most "
			     "%llds)",
			     p->pod_ip, (long long)(grace - 1));
	}
	if (now >= p->drain_deadline_ms) {
		plog(p, SM_LOG_WARN,
		     "draining: %s is still %s after %llu ms: stopping it now",
		     p->pod_ip,
		     listed ? "a ready endpoint" : "in its drain delay",
		     (unsigned long long)(now - p->drain_start_ms));
		p->drain = DRAIN_DONE;
		return true;
	}
	if (listed) {
		p->drain_clear_ms = 0;
		return false;
	}
	if (!p->drain_clear_ms) {
		p->drain_clear_ms = now + a->drain_delay_ms;
		plog(p, SM_LOG_INFO,
		     "draining: %s is no ready endpoint; SIGTERM in %llu ms",
		     p->pod_ip, (unsigned long long)a->drain_delay_ms);
	}
	if (now < p->drain_clear_ms)
		return false;
	p->drain = DRAIN_DONE;
	return true;
}

/* The stop timeout: the grace period, less what draining took of it. */
static int stop_timeout(const struct apod *p)
{
	json_int_t grace = json_integer_value(
		json_object_get(json_object_get(p->pod, "spec"),
				"terminationGracePeriodSeconds"));
	json_int_t waited =
		p->drain_start_ms
			? (json_int_t)((now_ms() - p->drain_start_ms) / 1000)
			: 0;

	if (p->drain_start_ms && grace - waited < 1)
		return 1;
	return (int)(grace - waited);
}

/*
 * Requests of the pod's current step in flight: all of its requests but
 * the long-lived ones (each running container's wait long-poll, probes),
 * which must not hold up the next step.
 */
static int busy(const struct apod *p)
{
	int n = p->inflight;

	for (size_t i = 0; i < p->nr_ctrs; i++) {
		n -= p->ctrs[i].waiting_exit;
		for (int k = 0; k < 3; k++)
			n -= p->ctrs[i].probing[k];
	}
	return n;
}

static void step(struct apod *p, uint64_t now)
{
	struct agent *a = p->a;
	struct actr *c;

	/*
	 * Removal does not wait for the long-polls in flight: removing the
	 * pod is what ends them.
	 */
	if (p->step == STEP_DELETE && !p->removing && now >= p->retry_at_ms) {
		/* A ready endpoint leaves the proxies first. */
		if (!drained(p, now))
			return;
		p->removing = true;
		p->inflight++;
		if (a->ops->pod_remove(a->pmc, p->podman_name, stop_timeout(p),
				       pod_removed, p)) {
			p->inflight--;
			p->removing = false;
		}
		return;
	}
	/*
	 * A running pod always has requests in flight (each container's wait
	 * long-poll, probes): restarts and probes go on regardless.
	 */
	if (p->step == STEP_RUNNING && now >= p->retry_at_ms) {
		for (size_t i = 0; i < p->nr_ctrs; i++) {
			c = &p->ctrs[i];
			/* A wait lost to a Podman restart is asked again. */
			if (c->state == CTR_RUNNING && !c->waiting_exit &&
			    c->id)
				ctr_wait(c);
			restart_due(c, now);
			probes_due(c, now);
		}
		return;
	}
	if (busy(p) || now < p->retry_at_ms)
		return;
	switch (p->step) {
	case STEP_NEW:
		write_volumes(p);
		break;
	case STEP_IMAGES:
		if (!p->nr_ctrs) {
			step_done(p, STEP_CREATE_POD);
			break;
		}
		/* Images checked moments ago for another pod are known. */
		while (p->next < p->nr_ctrs &&
		       image_known(a, &p->ctrs[p->next], now))
			p->next++;
		if (p->next == p->nr_ctrs) {
			step_done(p, STEP_CREATE_POD);
			step(p, now);
			break;
		}
		image_check(&p->ctrs[p->next]);
		break;
	case STEP_CREATE_POD: {
		struct podspec_ctx pc;
		char *voldir;
		json_t *spec;

		/* Pods join the pod network: it must be there first. */
		if (a->pod_network && a->net_state != NET_READY) {
			net_ensure(a, now);
			if (a->net_error)
				set_str(&p->error, a->net_error);
			break;
		}
		voldir = volume_dir(p);
		podspec_setup(p, &pc, voldir);
		spec = podspec_pod(&pc, p->pod);
		p->inflight++;
		if (a->ops->pod_create(a->pmc, spec, pod_created, p))
			p->inflight--;
		json_decref(spec);
		free(voldir);
		break;
	}
	case STEP_START_POD:
		p->inflight++;
		if (a->ops->pod_start(a->pmc, p->podman_name, pod_started, p))
			p->inflight--;
		break;
	case STEP_POD_IP:
		p->inflight++;
		if (a->ops->pod_inspect(a->pmc, p->podman_name, pod_inspected,
					p))
			p->inflight--;
		break;
	case STEP_INIT:
		/* One init container at a time, each to completion. */
		if (p->failed)
			break;
		if (p->next == p->nr_init) {
			p->initialized = true;
			step_done(p, STEP_MAIN);
			break;
		}
		c = &p->ctrs[p->next];
		if (c->state == CTR_TERMINATED && c->exit_code == 0 &&
		    !c->restart_at_ms) {
			p->next++;
			break;
		}
		if (c->state == CTR_RUNNING || c->restart_at_ms)
			break; /* running, or waiting for its backoff */
		ctr_create(c);
		break;
	case STEP_MAIN:
		if (p->next + p->nr_init >= p->nr_ctrs) {
			step_done(p, STEP_RUNNING);
			break;
		}
		c = &p->ctrs[p->nr_init + p->next];
		if (c->state == CTR_RUNNING) {
			p->next++;
			break;
		}
		ctr_create(c);
		break;
	case STEP_RUNNING:
	case STEP_DELETE:
		p->inflight++;
		if (a->ops->pod_remove(
			    a->pmc, p->podman_name,
			    (int)json_integer_value(json_object_get(
				    json_object_get(p->pod, "spec"),
				    "terminationGracePeriodSeconds")),
			    pod_removed, p))
			p->inflight--;
		break;
	case STEP_GONE:
		break;
	}
	/* Init containers that died wait for their backoff here. */
	if (p->step == STEP_INIT && p->next < p->nr_init)
		restart_due(&p->ctrs[p->next], now);
}

/* The folder of manifests */

static int collect(void *ctx, const struct mf_object *o)
{
	static const char *const kinds[] = { "Pod", "ConfigMap", "Secret" };
	struct load_result *lr = ctx;

	for (size_t i = 0; i < SM_ARRAY_SIZE(kinds); i++)
		if (!strcmp(o->kind->kind, kinds[i]))
			json_array_append(lr->objects, o->obj);
	return 0;
}

/* On the thread pool: reads and checks the folder. */
static void load_work(uv_work_t *w)
{
	struct load_result *lr = w->data;
	struct mf_load_opts opts = MF_LOAD_OPTS_INIT;
	const char *paths[] = { lr->dir };

	opts.jobs = 1;
	lr->r = mf_load(paths, 1, &opts, collect, lr, NULL, &lr->err);
}

static void reconcile(struct agent *a);

/* Back on the loop: a good set replaces the desired state. */
static void load_done(uv_work_t *w, int status)
{
	struct load_result *lr = w->data;
	struct agent *a = lr->a;
	json_t *desired = json_object(), *o;
	struct sm_strmap objects = SM_STRMAP_INIT;
	struct sm_buf all = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char hash[MF_HASH_LEN + 1];
	size_t i;

	a->loading = false;
	a->handles--;
	if (a->freeing)
		goto out;
	for (i = 0; i < lr->err.nr; i++) {
		struct sm_buf line = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		if (lr->err.items[i].severity == SM_NOTE)
			continue;
		sm_diag_format(&lr->err.items[i], &line);
		sm_log(lr->err.items[i].severity == SM_ERROR ? SM_LOG_ERROR
							     : SM_LOG_WARN,
		       COMPONENT, "%s", sm_buf_cstr(&line));
		sm_buf_release(&line);
	}
	if (status || lr->r) {
		/* A bad revision never replaces a good one. */
		sm_log(SM_LOG_ERROR, COMPONENT,
		       "%s: not applied, the pods that run keep running",
		       lr->dir);
		goto out;
	}
	json_array_foreach (lr->objects, i, o) {
		json_t *meta = json_object_get(o, "metadata");
		const char *kind = sm_json_get_str(o, "kind");
		char *key = xasprintf("%s/%s/%s", kind,
				      sm_json_get_str(meta, "namespace"),
				      sm_json_get_str(meta, "name"));

		sm_json_dump_canonical(o, &all);
		if (!strcmp(kind, "Pod")) {
			json_t *pod = json_deep_copy(o);
			char *uid;

			/*
			 * A static pod's uid is its content's hash on this
			 * node, as with the kubelet: change the manifest and
			 * the pod is replaced.
			 */
			sm_buf_adds(&all, a->node);
			mf_hash(o, hash);
			uid = xasprintf("%s-%s", a->node, hash);
			json_object_set_new(json_object_get(pod, "metadata"),
					    "uid", json_string(uid));
			json_object_set_new(desired, key + strlen("Pod/"), pod);
			free(uid);
		} else {
			sm_strmap_put(&objects, key, json_incref(o), NULL);
		}
		free(key);
	}
	{
		json_t *text = json_string(sm_buf_cstr(&all));

		mf_hash(text, hash);
		json_decref(text);
	}
	sm_strmap_release(&a->objects, (void (*)(void *))json_decref);
	a->objects = objects;
	if (strcmp(hash, a->desired_hash)) {
		memcpy(a->desired_hash, hash, sizeof(hash));
		json_decref(a->desired);
		a->desired = json_incref(desired);
		sm_log(SM_LOG_INFO, COMPONENT, "%s: %zu pods for node %s",
		       lr->dir, json_object_size(desired), a->node);
		reconcile(a);
	}
out:
	json_decref(desired);
	sm_buf_release(&all);
	json_decref(lr->objects);
	sm_err_release(&lr->err);
	free(lr->dir);
	free(lr);
	if (a->freeing && !a->handles)
		free(a);
}

static void start_reload(struct agent *a)
{
	struct load_result *lr = xcalloc(1, sizeof(*lr));

	lr->a = a;
	lr->dir = xstrdup(a->manifests);
	lr->objects = json_array();
	lr->work.data = lr;
	a->loading = true;
	a->reload_now = false;
	a->next_reload_ms = now_ms() + a->cfg.reload_ms;
	a->handles++;
	uv_queue_work(a->loop, &lr->work, load_work, load_done);
}

static void stray_removed(void *ctx, const struct podman_reply *r)
{
	if (!r->ok && r->status != 404)
		sm_log(SM_LOG_WARN, COMPONENT, "%s", r->error);
}

/* Makes the pods match the desired set. */
static void reconcile(struct agent *a)
{
	size_t it = 0;
	const char *key;
	void *v;
	json_t *pod;

	while (sm_strmap_next(&a->pods, &it, &key, &v)) {
		struct apod *p = v;
		json_t *want = json_object_get(a->desired, key);

		if (p->step >= STEP_DELETE)
			continue;
		if (!want ||
		    strcmp(sm_json_get_str(json_object_get(want, "metadata"),
					   "uid"),
			   p->uid)) {
			pevent(p, false, "Killing", "Stopping pod %s",
			       meta_str(p->pod, "name"));
			p->step = STEP_DELETE;
			p->retry_at_ms = 0;
		}
	}
	json_object_foreach (a->desired, key, pod) {
		struct apod *p = sm_strmap_get(&a->pods, key);
		json_t *found = json_object_get(a->found, key);

		if (p)
			continue; /* running, or its old self is going */
		p = apod_new(a, key, pod);
		if (found && !strcmp(sm_json_get_str(found, "uid"), p->uid)) {
			/* Adopt what runs: its containers keep their IDs. */
			json_t *ids = json_object_get(found, "containers");

			for (size_t i = 0; i < p->nr_ctrs; i++) {
				json_t *fc =
					json_object_get(ids, p->ctrs[i].name);

				if (!fc)
					continue;
				set_str(&p->ctrs[i].id,
					sm_json_get_str(fc, "id"));
				if (p->ctrs[i].init &&
				    json_integer_value(
					    json_object_get(fc, "exit")) == 0 &&
				    strcmp(sm_json_get_str(fc, "state"),
					   "running")) {
					p->ctrs[i].state = CTR_TERMINATED;
					set_str(&p->ctrs[i].reason,
						"Completed");
				}
			}
			p->initialized = p->nr_init == 0 ||
					 json_object_size(ids) > p->nr_init;
			p->step = STEP_POD_IP;
			plog(p, SM_LOG_INFO, "adopted running pod %s",
			     p->podman_name);
		}
		json_object_del(a->found, key);
		sm_strmap_put(&a->pods, key, p, NULL);
	}
	/* What runs for this node but is wanted no more goes. */
	json_object_foreach (a->found, key, pod) {
		if (json_object_get(a->desired, key))
			continue;
		sm_log(SM_LOG_INFO, COMPONENT,
		       "removing pod %s: not wanted "
		       "on node %s",
		       sm_json_get_str(pod, "name"), a->node);
		a->ops->pod_remove(a->pmc, sm_json_get_str(pod, "name"), 10,
				   stray_removed, a);
	}
	json_object_clear(a->found);
}

/* Adoption: what runs for this node already */

static void found_containers(void *ctx, const struct podman_reply *r)
{
	struct agent *a = ctx;
	json_t *c;
	size_t i;

	if (!r->ok) {
		a->podman_down = true;
		sm_log(SM_LOG_WARN, COMPONENT, "%s", r->error);
		return;
	}
	json_array_foreach (r->json, i, c) {
		json_t *labels = json_object_get(c, "Labels");
		const char *ns =
			sm_json_get_str(labels, PODSPEC_LABEL_NAMESPACE);
		const char *pod = sm_json_get_str(labels, PODSPEC_LABEL_POD);
		const char *name =
			sm_json_get_str(labels, PODSPEC_LABEL_CONTAINER);
		char *key;
		json_t *fp;

		if (!ns || !pod || !name)
			continue;
		key = xasprintf("%s/%s", ns, pod);
		fp = json_object_get(a->found, key);
		if (fp)
			json_object_set_new(
				json_object_get(fp, "containers"), name,
				json_pack("{s:s, s:s, s:I}", "id",
					  sm_json_get_str(c, "Id"), "state",
					  sm_json_get_str(c, "State")
						  ? sm_json_get_str(c, "State")
						  : "",
					  "exit",
					  json_integer_value(json_object_get(
						  c, "ExitCode"))));
		free(key);
	}
	a->adopted = true;
	a->podman_down = false;
	sm_log(SM_LOG_INFO, COMPONENT, "node %s: %zu pods found running",
	       a->node, json_object_size(a->found));
	a->reload_now = true;
}

static json_t *node_filter(struct agent *a)
{
	char *f = xasprintf("%s=%s", PODSPEC_LABEL_NODE, a->node);
	json_t *j = json_pack("{s:[s]}", "label", f);

	free(f);
	return j;
}

static void found_pods(void *ctx, const struct podman_reply *r)
{
	struct agent *a = ctx;
	json_t *p, *filters;
	size_t i;

	if (!r->ok) {
		if (!a->podman_down)
			sm_log(SM_LOG_WARN, COMPONENT,
			       "%s: will retry until Podman answers", r->error);
		a->podman_down = true;
		return;
	}
	json_array_foreach (r->json, i, p) {
		json_t *labels = json_object_get(p, "Labels");
		const char *ns =
			sm_json_get_str(labels, PODSPEC_LABEL_NAMESPACE);
		const char *pod = sm_json_get_str(labels, PODSPEC_LABEL_POD);
		const char *uid = sm_json_get_str(labels, PODSPEC_LABEL_UID);
		char *key;

		if (!ns || !pod || !uid)
			continue;
		key = xasprintf("%s/%s", ns, pod);
		json_object_set_new(a->found, key,
				    json_pack("{s:s, s:s, s:{}}", "name",
					      sm_json_get_str(p, "Name"), "uid",
					      uid, "containers"));
		free(key);
	}
	filters = node_filter(a);
	if (a->ops->container_list(a->pmc, true, filters, found_containers, a))
		a->podman_down = true;
	json_decref(filters);
}

/* The housekeeping timer */

static void on_tick(uv_timer_t *t)
{
	struct agent *a = t->data;
	uint64_t now = now_ms();
	unsigned ticks = ++a->ticks;
	size_t it = 0;
	const char *key;
	void *v;

	if (!a->adopted) {
		/* Ask again every 2 s until Podman answers. */
		if (ticks % 20 == 1) {
			json_t *filters = node_filter(a);

			a->ops->pod_list(a->pmc, filters, found_pods, a);
			json_decref(filters);
		}
		return;
	}
	/* The pod network is made ready before the first pod needs it. */
	if (a->pod_network && a->net_state == NET_UNKNOWN)
		net_ensure(a, now);
	a->src->tick(a, now);
	while (sm_strmap_next(&a->pods, &it, &key, &v)) {
		struct apod *p = v;

		step(p, now);
		if (p->step != STEP_GONE && p->step != STEP_DELETE &&
		    ticks % 5 == 0)
			report(p);
	}
	/* Pods that are gone leave the map (rebuilt: no removal in strmap). */
	it = 0;
	while (sm_strmap_next(&a->pods, &it, &key, &v)) {
		struct apod *p = v;
		struct sm_strmap keep = SM_STRMAP_INIT;
		size_t it2 = 0;

		if (p->step != STEP_GONE || p->inflight)
			continue;
		while (sm_strmap_next(&a->pods, &it2, &key, &v)) {
			struct apod *q = v;

			if (q != p)
				sm_strmap_put(&keep, key, q, NULL);
		}
		{
			json_t *meta = json_object_get(p->pod, "metadata");
			char *path =
				xasprintf("%s/%s_%s.json", a->status_dir,
					  sm_json_get_str(meta, "namespace"),
					  sm_json_get_str(meta, "name"));

			/* A pod that is gone has no status. */
			unlink(path);
			free(path);
		}
		if (a->src->gone)
			a->src->gone(p);
		apod_free(p);
		sm_strmap_release(&a->pods, NULL);
		a->pods = keep;
		/* Its replacement (a changed manifest) comes next. */
		reconcile(a);
		break;
	}
}

/*
 * After each loop turn's I/O: pods whose requests landed take their next
 * step at once, so a pod's steps follow each other without waiting for the
 * housekeeping tick.
 */
static void on_check(uv_check_t *h)
{
	struct agent *a = h->data;
	uint64_t now = now_ms();
	size_t it = 0;
	void *v;

	if (!a->adopted)
		return;
	while (sm_strmap_next(&a->pods, &it, NULL, &v)) {
		struct apod *p = v;

		if (!p->kick)
			continue;
		p->kick = false;
		step(p, now);
		/* Joined, a change reaches the API server without a tick. */
		if (a->src->status && p->step != STEP_GONE &&
		    p->step != STEP_DELETE)
			report(p);
	}
}

static void on_watch(uv_fs_event_t *h, const char *name, int events, int status)
{
	struct agent *a = h->data;

	a->reload_now = true;
}

/* Pod source: the folder */

static int folder_start(struct agent *a)
{
	if (!uv_fs_event_init(a->loop, &a->watch)) {
		a->watch.data = a;
		a->watch_inited = true;
		a->handles++;
		a->watching = !uv_fs_event_start(&a->watch, on_watch,
						 a->manifests, 0);
	}
	return 0;
}

static void folder_tick(struct agent *a, uint64_t now)
{
	if (!a->loading && (a->reload_now || now >= a->next_reload_ms))
		start_reload(a);
}

static const json_t *folder_lookup(struct agent *a, const char *kind,
				   const char *ns, const char *name)
{
	char *key = xasprintf("%s/%s/%s", kind, ns, name);
	const json_t *o = sm_strmap_get(&a->objects, key);

	free(key);
	return o;
}

static const struct pod_source folder_source = {
	.name = "folder",
	.start = folder_start,
	.tick = folder_tick,
	.lookup = folder_lookup,
};

/*
 * Pod source: the API server. The pods informer is the desired set (the
 * pods bound to this node, with the server's uids); a pod marked for
 * deletion is not desired: its containers stop within its
 * deletionGracePeriodSeconds, then the agent deletes it for good, as a
 * kubelet does.
 */

static void pod_deleted(void *ctx, int status, json_t *body, const char *error)
{
	struct agent *a = ctx;

	if (error && status != 404) {
		sm_log(SM_LOG_WARN, COMPONENT, "deleting a pod: %s", error);
		/* Asked again at the next rebuild. */
		json_object_clear(a->deleting);
	}
}

/* The final DELETE of a pod whose containers are gone. */
static void delete_for_good(struct agent *a, const json_t *pod)
{
	const char *uid = meta_str(pod, "uid");
	char *path;
	json_t *body;

	if (!uid || json_object_get(a->deleting, uid))
		return;
	json_object_set_new(a->deleting, uid, json_true());
	path = xasprintf("/api/v1/namespaces/%s/pods/%s",
			 meta_str(pod, "namespace"), meta_str(pod, "name"));
	body = json_pack("{s:i, s:{s:s}}", "gracePeriodSeconds", 0,
			 "preconditions", "uid", uid);
	sm_log(SM_LOG_INFO, COMPONENT, "pod %s/%s: stopped, deleting it",
	       meta_str(pod, "namespace"), meta_str(pod, "name"));
	kube_request(a->kube, "DELETE", path, body, NULL, 0, pod_deleted, a,
		     NULL);
	json_decref(body);
	free(path);
}

/* The desired set from the pods informer's cache. */
static void server_rebuild(struct agent *a)
{
	json_t *cache = kube_informer_cache(a->inf_pods);
	json_t *desired = json_object(), *pod;
	const char *key, *uid;
	void *tmp;

	a->desired_dirty = false;
	json_object_foreach (cache, key, pod) {
		const char *dts = meta_str(pod, "deletionTimestamp");
		struct apod *p = sm_strmap_get(&a->pods, key);

		if (!meta_str(pod, "uid"))
			continue;
		if (!dts) {
			json_object_set_new(desired, key, json_deep_copy(pod));
			continue;
		}
		if (!p || strcmp(p->uid, meta_str(pod, "uid"))) {
			/* Nothing of it runs here (any more): delete it. */
			delete_for_good(a, pod);
			continue;
		}
		/* It stops within its grace period. */
		if (p->step < STEP_DELETE) {
			json_t *grace = json_object_get(
				json_object_get(pod, "metadata"),
				"deletionGracePeriodSeconds");

			if (json_is_integer(grace))
				json_object_set(json_object_get(p->pod, "spec"),
						"terminationGracePeriodSeconds",
						grace);
			/* Deleted: it leaves the endpoints before SIGTERM. */
			if (p->drain == DRAIN_NONE)
				p->drain = DRAIN_ASKED;
		}
	}
	/* Gone from the server meanwhile (a forced delete): no more waiting. */
	{
		size_t it = 0;
		void *v;

		while (sm_strmap_next(&a->pods, &it, &key, &v)) {
			struct apod *q = v;

			if ((q->drain == DRAIN_ASKED ||
			     q->drain == DRAIN_WAITING) &&
			    !json_object_get(cache, key))
				q->drain = DRAIN_DONE;
		}
	}
	/* Final DELETEs of pods that left the cache are done. */
	json_object_foreach_safe (a->deleting, tmp, uid, pod) {
		bool found = false;

		json_object_foreach (cache, key, pod)
			if (!strcmp(meta_str(pod, "uid") ?: "", uid))
				found = true;
		if (!found)
			json_object_del(a->deleting, uid);
	}
	json_decref(a->desired);
	a->desired = desired;
	reconcile(a);
}

static void informer_changed(void *ctx)
{
	struct agent *a = ctx;

	a->desired_dirty = true;
}

static void inf_added(void *ctx, const char *key, json_t *obj)
{
	informer_changed(ctx);
}

static void inf_updated(void *ctx, const char *key, json_t *old, json_t *obj)
{
	informer_changed(ctx);
}

static void inf_deleted(void *ctx, const char *key, json_t *obj)
{
	informer_changed(ctx);
}

static const struct kube_informer_ops informer_ops = { inf_added, inf_updated,
						       inf_deleted,
						       informer_changed };

/* Services change no pod: their env is read at container creation. */
static const struct kube_informer_ops services_ops = { NULL, NULL, NULL, NULL };

/* A slice changed: pods that drain look again this loop turn. */
static void slices_changed(void *ctx)
{
	struct agent *a = ctx;
	size_t it = 0;
	void *v;

	while (sm_strmap_next(&a->pods, &it, NULL, &v)) {
		struct apod *p = v;

		if (p->drain == DRAIN_WAITING)
			p->kick = true;
	}
}

static void slice_added(void *ctx, const char *key, json_t *obj)
{
	slices_changed(ctx);
}

static void slice_updated(void *ctx, const char *key, json_t *old, json_t *obj)
{
	slices_changed(ctx);
}

static void slice_deleted(void *ctx, const char *key, json_t *obj)
{
	slices_changed(ctx);
}

static const struct kube_informer_ops slices_ops = { slice_added, slice_updated,
						     slice_deleted,
						     slices_changed };

/*
 * How the slices list ip: EP_READY when one has it with conditions.ready
 * true (absent reads as true, as Kubernetes says) and not terminating, else
 * EP_NOT_READY when one has it at all. A terminating endpoint still ready
 * is one of a publishNotReadyAddresses Service: the proxies keep it anyway,
 * so waiting for it to leave would only cost the grace period. Until the
 * slices are listed, nothing is (stopped at once, as before).
 */
static int server_endpoint(struct agent *a, const char *ip)
{
	json_t *slice, *ep, *addr, *cond;
	const char *key;
	size_t i, j;
	int found = EP_NONE;

	if (!a->inf_slices || !kube_informer_synced(a->inf_slices))
		return EP_NONE;
	json_object_foreach (kube_informer_cache(a->inf_slices), key, slice) {
		json_array_foreach (json_object_get(slice, "endpoints"), i,
				    ep) {
			bool has = false;

			json_array_foreach (json_object_get(ep, "addresses"), j,
					    addr)
				has = has ||
				      !strcmp(json_string_value(addr) ?: "",
					      ip);
			if (!has)
				continue;
			found = EP_NOT_READY;
			cond = json_object_get(ep, "conditions");
			if (!json_is_false(json_object_get(cond, "ready")) &&
			    !json_is_true(json_object_get(cond, "terminating")))
				return EP_READY;
		}
	}
	return found;
}

/* Podman's version, read every 2 s: a health check and nodeInfo. */
static void version_done(void *ctx, const struct sm_http_response *r)
{
	struct agent *a = ctx;
	json_t *v = NULL;
	const char *ver;

	a->version_req = NULL;
	if (!r->error && r->status == 200)
		v = json_loadb(r->body, r->len, 0, NULL);
	ver = sm_json_get_str(v, "Version");
	if (ver) {
		char *rv = xasprintf("podman://%s", ver);

		node_set_runtime(a->nodeobj, rv);
		node_set_ready(a->nodeobj, true, NULL, NULL);
		free(rv);
	} else {
		char *msg = xasprintf("container runtime is down: %s",
				      r->error ? r->error : "no version");

		node_set_ready(a->nodeobj, false, "KubeletNotReady", msg);
		free(msg);
	}
	json_decref(v);
}

static void check_podman(struct agent *a)
{
	struct sm_http_request_opts o = { 0 };

	if (a->version_req || !a->pm)
		return;
	o.url = "http://d/v4.0.0/libpod/version";
	o.unix_socket = a->socket;
	o.timeout_ms = 5000;
	o.on_done = version_done;
	o.ctx = a;
	if (sm_http_request_start(a->http, &o, &a->version_req))
		a->version_req = NULL;
}

static int server_start(struct agent *a)
{
	struct kube_config kc = { a->server, a->token, a->ca_file,
				  a->kube_socket };
	struct node_info ni = { .name = a->node,
				.node_ip = a->node_ip,
				.cpu = a->cpu,
				.memory = a->memory,
				.pods = a->max_pods,
				.api_port =
					a->api ? agent_api_port(a->api) : 0 };
	char *path;

	a->kube = kube_client_new(a->loop, &kc);
	if (!a->kube)
		return -ENOMEM;
	a->nodeobj = node_new(a->kube, a->loop, &ni, a->cfg.heartbeat_ms);
	path = xasprintf("/api/v1/pods?fieldSelector=spec.nodeName%%3D%s",
			 a->node);
	a->inf_pods =
		kube_informer_new(a->kube, a->loop, path, &informer_ops, a);
	free(path);
	a->inf_cms = kube_informer_new(a->kube, a->loop, "/api/v1/configmaps",
				       &informer_ops, a);
	a->inf_secrets = kube_informer_new(a->kube, a->loop, "/api/v1/secrets",
					   &informer_ops, a);
	a->inf_services = kube_informer_new(
		a->kube, a->loop, "/api/v1/services", &services_ops, a);
	a->inf_slices = kube_informer_new(
		a->kube, a->loop, "/apis/discovery.k8s.io/v1/endpointslices",
		&slices_ops, a);
	check_podman(a);
	return 0;
}

static void server_status(struct apod *p);

static void server_tick(struct agent *a, uint64_t now)
{
	if (a->ticks % 20 == 0)
		check_podman(a);
	/* A status write that failed (the server down) goes again. */
	if (a->ticks % 5 == 0) {
		size_t it = 0;
		void *v;

		while (sm_strmap_next(&a->pods, &it, NULL, &v))
			server_status(v);
	}
	/* Rebuilt on changes, and every 2 s for DELETEs that failed. */
	if (!kube_informer_synced(a->inf_pods) ||
	    !kube_informer_synced(a->inf_cms) ||
	    !kube_informer_synced(a->inf_secrets) ||
	    !kube_informer_synced(a->inf_services))
		return;
	if (a->desired_dirty || a->ticks % 20 == 0)
		server_rebuild(a);
}

static const json_t *server_lookup(struct agent *a, const char *kind,
				   const char *ns, const char *name)
{
	struct kube_informer *inf = !strcmp(kind, "ConfigMap") ? a->inf_cms
				    : !strcmp(kind, "Secret")  ? a->inf_secrets
							       : NULL;
	char *key;
	const json_t *o;

	if (!inf)
		return NULL;
	key = xasprintf("%s/%s", ns, name);
	o = kube_informer_get(inf, key);
	free(key);
	return o;
}

static void status_written(void *ctx, int status, json_t *body,
			   const char *error)
{
	struct apod *p = ctx;

	p->status_call = NULL;
	if (error) {
		/* 404: the pod is gone from the server; its DELETE is seen. */
		if (status != 404)
			plog(p, SM_LOG_WARN, "writing status: %s", error);
		p->status_dirty = status != 404;
		return;
	}
	if (p->status_dirty)
		p->a->src->status(p);
}

/*
 * The pod's status as a JSON merge patch of status: fields the agent no
 * longer reports (message) are set to null, lists are replaced whole.
 */
static void server_status(struct apod *p)
{
	json_t *obj, *st, *body;
	char *path;

	if (p->status_call || !p->status_dirty || !p->status_text)
		return;
	obj = json_loads(p->status_text, 0, NULL);
	st = json_object_get(obj, "status");
	if (!st) {
		json_decref(obj);
		return;
	}
	if (!json_object_get(st, "message"))
		json_object_set_new(st, "message", json_null());
	body = json_pack("{s:O}", "status", st);
	path = xasprintf("/api/v1/namespaces/%s/pods/%s/status",
			 meta_str(p->pod, "namespace"),
			 meta_str(p->pod, "name"));
	p->status_dirty = false;
	if (kube_request(p->a->kube, "PATCH", path, body,
			 "application/merge-patch+json", 0, status_written, p,
			 &p->status_call)) {
		p->status_call = NULL;
		p->status_dirty = true;
	}
	json_decref(body);
	json_decref(obj);
	free(path);
}

static void server_gone(struct apod *p)
{
	struct agent *a = p->a;
	json_t *pod = kube_informer_get(a->inf_pods, p->key);

	kube_request_cancel(p->status_call);
	p->status_call = NULL;
	if (pod && meta_str(pod, "deletionTimestamp") &&
	    !strcmp(meta_str(pod, "uid") ?: "", p->uid))
		delete_for_good(a, pod);
}

static void server_stop(struct agent *a)
{
	size_t it = 0;
	void *v;

	while (sm_strmap_next(&a->pods, &it, NULL, &v)) {
		struct apod *p = v;

		kube_request_cancel(p->status_call);
		p->status_call = NULL;
	}
	node_free(a->nodeobj);
	kube_informer_free(a->inf_pods);
	kube_informer_free(a->inf_cms);
	kube_informer_free(a->inf_secrets);
	kube_informer_free(a->inf_services);
	kube_informer_free(a->inf_slices);
	kube_client_free(a->kube);
	a->nodeobj = NULL;
	a->inf_pods = a->inf_cms = a->inf_secrets = NULL;
	a->inf_services = a->inf_slices = NULL;
	a->kube = NULL;
}

static const struct pod_source server_source = {
	.name = "server",
	.start = server_start,
	.tick = server_tick,
	.lookup = server_lookup,
	.status = server_status,
	.gone = server_gone,
	.stop = server_stop,
	.endpoint = server_endpoint,
};

/* Life */

/*
 * The gateway of an IPv4 subnet "A.B.C.D/N" (its first address), new, or
 * NULL when subnet is no such CIDR with N from 8 to 30.
 */
static char *subnet_gateway(const char *subnet)
{
	char addr[INET_ADDRSTRLEN], out[INET_ADDRSTRLEN], *end;
	const char *slash = strchr(subnet, '/');
	struct in_addr in;
	unsigned long bits;
	uint32_t host, mask;

	if (!slash || (size_t)(slash - subnet) >= sizeof(addr))
		return NULL;
	memcpy(addr, subnet, (size_t)(slash - subnet));
	addr[slash - subnet] = '\0';
	bits = strtoul(slash + 1, &end, 10);
	if (*end || end == slash + 1 || bits < 8 || bits > 30 ||
	    inet_pton(AF_INET, addr, &in) != 1)
		return NULL;
	mask = (uint32_t)(0xffffffffULL << (32 - bits));
	host = ntohl(in.s_addr);
	if (host & ~mask)
		return NULL; /* 10.244.0.1/16: not the network's address */
	in.s_addr = htonl(host + 1);
	if (!inet_ntop(AF_INET, &in, out, sizeof(out)))
		return NULL;
	return xstrdup(out);
}

struct agent *agent_new(uv_loop_t *loop, const struct agent_config *cfg,
			struct sm_err *err)
{
	struct agent *a;
	struct sm_pos pos = { cfg->data_dir, 0, 0 };
	int r;

	if (!cfg->node || !*cfg->node) {
		sm_error(err, NULL, "agent: --node NAME is required");
		return NULL;
	}
	if ((!cfg->pod_manifests && !cfg->server) || !cfg->data_dir ||
	    (!cfg->podman_socket && !cfg->podman_ops)) {
		sm_error(err, NULL,
			 "agent: --pod-manifests DIR or --server URL, a "
			 "Podman socket and a data dir are required");
		return NULL;
	}
	if (cfg->pod_manifests && cfg->server) {
		sm_error(err, NULL,
			 "agent: --pod-manifests and --server exclude each "
			 "other: a joined node gets its pods from the server");
		return NULL;
	}
	{
		const char *subnet =
			cfg->pod_subnet ? cfg->pod_subnet : AGENT_POD_SUBNET;
		char *gw = subnet_gateway(subnet);
		struct in_addr in;

		if (!gw) {
			sm_error(err, NULL,
				 "agent: --pod-subnet %s: expected an IPv4 "
				 "network as ADDR/BITS (8 to 30 bits, host "
				 "part zero), such as 10.244.0.0/16",
				 subnet);
			return NULL;
		}
		free(gw);
		if (cfg->cluster_dns &&
		    inet_pton(AF_INET, cfg->cluster_dns, &in) != 1) {
			sm_error(err, NULL,
				 "agent: --cluster-dns %s: expected an IPv4 "
				 "address, such as 10.96.0.10",
				 cfg->cluster_dns);
			return NULL;
		}
	}
	/* The network rule holds whoever builds the config. */
	for (size_t i = 0; i < cfg->nr_registries_insecure; i++)
		if (registry_check_insecure(cfg->registries_insecure[i], err))
			return NULL;
	{
		char *status =
			xasprintf("%s/nodes/%s/pods", cfg->data_dir, cfg->node);
		char *vols = xasprintf("%s/nodes/%s/volumes", cfg->data_dir,
				       cfg->node);

		if ((r = sm_mkdir_p(status, 0755)) ||
		    (r = sm_mkdir_p(vols, 0755))) {
			sm_error(err, &pos,
				 "cannot create the agent's folders "
				 "under it: %s",
				 strerror(-r));
			free(status);
			free(vols);
			return NULL;
		}
		a = xcalloc(1, sizeof(*a));
		a->status_dir = status;
		a->volume_root = vols;
	}
	a->loop = loop;
	a->cfg = *cfg;
	a->node = xstrdup(cfg->node);
	a->node_ip = xstrdup(cfg->node_ip ? cfg->node_ip : "127.0.0.1");
	a->manifests = cfg->pod_manifests ? xstrdup(cfg->pod_manifests) : NULL;
	a->src = cfg->server ? &server_source : &folder_source;
	a->server = cfg->server ? xstrdup(cfg->server) : NULL;
	a->token = cfg->token ? xstrdup(cfg->token) : NULL;
	a->ca_file = cfg->ca_file ? xstrdup(cfg->ca_file) : NULL;
	a->kube_socket = cfg->kube_socket ? xstrdup(cfg->kube_socket) : NULL;
	a->cpu = cfg->cpu ? xstrdup(cfg->cpu) : NULL;
	a->memory = cfg->memory ? xstrdup(cfg->memory) : NULL;
	a->max_pods = cfg->max_pods ? xstrdup(cfg->max_pods) : NULL;
	a->cfg.server = a->cfg.token = a->cfg.ca_file = NULL;
	a->cfg.kube_socket = a->cfg.cpu = a->cfg.memory = NULL;
	a->cfg.max_pods = a->cfg.pod_manifests = NULL;
	a->deleting = json_object();
	a->pod_network = xstrdup(cfg->pod_network ? cfg->pod_network
						  : AGENT_POD_NETWORK);
	a->pod_subnet =
		xstrdup(cfg->pod_subnet ? cfg->pod_subnet : AGENT_POD_SUBNET);
	a->pod_gateway = subnet_gateway(a->pod_subnet);
	a->cluster_dns = cfg->cluster_dns ? xstrdup(cfg->cluster_dns) : NULL;
	a->cluster_domain = xstrdup(cfg->cluster_domain ? cfg->cluster_domain
							: "cluster.local");
	a->drain_delay_ms = cfg->drain_delay_ms;
	a->cfg.pod_network = a->cfg.pod_subnet = NULL;
	a->cfg.cluster_dns = a->cfg.cluster_domain = NULL;
	a->socket = xstrdup(cfg->podman_socket ? cfg->podman_socket
					       : "(podman ops of a test)");
	a->data_dir = xstrdup(cfg->data_dir);
	a->api_listen = cfg->api_listen ? xstrdup(cfg->api_listen)
					: xasprintf("%s:10250", a->node_ip);
	if (!a->cfg.reload_ms)
		a->cfg.reload_ms = 2000;
	a->desired = json_object();
	a->found = json_object();
	a->images = json_object();
	a->pulled = json_object();
	a->nr_registries = cfg->nr_registries_insecure;
	a->registries = xcalloc(a->nr_registries ? a->nr_registries : 1,
				sizeof(*a->registries));
	for (size_t i = 0; i < a->nr_registries; i++)
		a->registries[i] = xstrdup(cfg->registries_insecure[i]);
	a->cfg.registries_insecure = NULL;
	a->cfg.nr_registries_insecure = 0;
	if (cfg->podman_ops) {
		a->ops = cfg->podman_ops;
		a->pmc = cfg->podman_ctx;
		/* A test's Podman without networks: pods on its default. */
		if (!a->ops->network_inspect || !a->ops->network_create) {
			free(a->pod_network);
			a->pod_network = NULL;
		}
	} else {
		a->pm = podman_new(loop, a->socket);
		a->ops = &podman_ops_real;
		a->pmc = a->pm;
	}
	a->http = sm_http_client_new(loop);
	uv_timer_init(loop, &a->tick);
	a->tick.data = a;
	a->handles++;
	uv_check_init(loop, &a->check);
	a->check.data = a;
	a->handles++;
	return a;
}

/* The API's view of the agent: container ids and the pods' status. */
static const char *api_container_id(void *ctx, const char *ns, const char *pod,
				    const char *container)
{
	struct agent *a = ctx;
	char *key = xasprintf("%s/%s", ns, pod);
	struct apod *p = sm_strmap_get(&a->pods, key);

	free(key);
	for (size_t i = 0; p && i < p->nr_ctrs; i++)
		if (!strcmp(p->ctrs[i].name, container))
			return p->ctrs[i].id;
	return NULL;
}

static json_t *api_pods(void *ctx)
{
	struct agent *a = ctx;
	json_t *items = json_array();
	size_t it = 0;
	void *v;

	while (sm_strmap_next(&a->pods, &it, NULL, &v)) {
		struct apod *p = v;
		json_t *pod = json_deep_copy(p->pod);

		json_object_set_new(json_object_get(pod, "spec"), "nodeName",
				    json_string(a->node));
		json_object_set_new(pod, "status", pod_status_json(p));
		json_array_append_new(items, pod);
	}
	return json_pack("{s:s, s:s, s:{}, s:o}", "apiVersion", "v1", "kind",
			 "PodList", "metadata", "items", items);
}

/*
 * The node API's certificate when joined: self-signed for the node IP and
 * name, made once in DATA/nodes/NODE/pki (the key 0600). The API server
 * does not verify it, as Kubernetes' does not verify kubelets' by default.
 */
static int serving_cert(struct agent *a, char **cert, char **key)
{
	char *dir = xasprintf("%s/nodes/%s/pki", a->data_dir, a->node);
	struct sm_buf c = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf k = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char *ip = xasprintf("IP:%s", a->node_ip);
	char *dns = xasprintf("DNS:%s", a->node);
	const char *sans[] = { ip, dns };
	int r;

	*cert = xasprintf("%s/agent.crt", dir);
	*key = xasprintf("%s/agent.key", dir);
	if (!access(*cert, R_OK) && !access(*key, R_OK)) {
		r = 0;
		goto out;
	}
	if ((r = sm_mkdir_p(dir, 0700)))
		goto fail;
	if ((r = sm_x509_self_signed(a->node, sans, 2, 3650, &c, &k)))
		goto fail;
	/* The key first: a certificate on disk always has its key. */
	if ((r = write_file(*key, k.buf, k.len, 0600)) ||
	    (r = write_file(*cert, c.buf, c.len, 0644)))
		goto fail;
	sm_log(SM_LOG_INFO, COMPONENT,
	       "made the node API's certificate %s for %s", *cert, a->node_ip);
	goto out;
fail:
	sm_log(SM_LOG_ERROR, COMPONENT,
	       "cannot make the node API's "
	       "certificate in %s: %s",
	       dir, strerror(-r));
out:
	free(dir);
	free(ip);
	free(dns);
	sm_buf_release(&c);
	sm_buf_release(&k);
	return r;
}

int agent_start(struct agent *a)
{
	int rc;

	sm_log(SM_LOG_INFO, COMPONENT,
	       "node %s (ip %s): pods from %s, Podman at %s", a->node,
	       a->node_ip, a->manifests ? a->manifests : a->server, a->socket);
	if (strcmp(a->api_listen, "none") && !a->pm) {
		sm_log(SM_LOG_ERROR, COMPONENT,
		       "the node API needs the real Podman client: "
		       "--api-listen none with a test's Podman ops");
		return -EINVAL;
	}
	if (strcmp(a->api_listen, "none")) {
		struct agent_api_source src = { api_container_id, api_pods, a };
		struct agent_api_tls tls = { 0 };
		struct sm_err err = SM_ERR_INIT;
		char *cert = NULL, *key = NULL;
		int r = 0;

		if (a->server) {
			r = serving_cert(a, &cert, &key);
			tls.cert_file = cert;
			tls.key_file = key;
			tls.token = a->token;
		}
		if (!r)
			r = agent_api_start(a->loop, a->api_listen, a->pm, &src,
					    a->server ? &tls : NULL, &a->api,
					    &err);
		free(cert);
		free(key);
		if (r) {
			sm_log(SM_LOG_ERROR, COMPONENT,
			       "the node API cannot listen on %s: %s (choose "
			       "another with --api-listen ADDR:PORT, or none)",
			       a->api_listen,
			       err.nr ? err.items[0].msg : strerror(-r));
			sm_err_release(&err);
			return r;
		}
		sm_log(SM_LOG_INFO, COMPONENT, "node API on %s://%s:%d",
		       a->server ? "https" : "http", a->node_ip,
		       agent_api_port(a->api));
	}
	if ((rc = a->src->start(a)))
		return rc;
	uv_check_start(&a->check, on_check);
	return uv_timer_start(&a->tick, on_tick, 0, TICK_MS);
}

static void handle_closed(uv_handle_t *h)
{
	struct agent *a = h->data;

	if (--a->handles == 0)
		free(a);
}

void agent_free(struct agent *a)
{
	size_t it = 0;
	void *v;

	if (!a)
		return;
	a->freeing = true;
	/* The API first: its log streams belong to the Podman client. */
	agent_api_free(a->api);
	/* exec probes' sessions too (freed by podman_free just below). */
	for (struct probe_run *run = a->runs; run; run = run->next) {
		if (run->exec)
			run->a->ops->exec_cancel(run->exec);
		run->exec = NULL;
	}
	/* The API server's requests and the Node's heartbeat end first. */
	if (a->src->stop)
		a->src->stop(a);
	/* Cancels every Podman request: none of our callbacks run again. */
	podman_free(a->pm);
	/* The same for HTTP probes; TCP probes close and free themselves. */
	sm_http_client_free(a->http);
	for (struct probe_run *run = a->runs, *next; run; run = next) {
		next = run->next;
		run->c = NULL;
		if (run->closing < 0) {
			run_unlink(run);
			free(run);
		} else if (run->is_exec) {
			exec_run_end(run, false);
		} else {
			tcp_run_end(run, false);
		}
	}
	while (sm_strmap_next(&a->pods, &it, NULL, &v))
		apod_free(v);
	sm_strmap_release(&a->pods, NULL);
	sm_strmap_release(&a->objects, (void (*)(void *))json_decref);
	json_decref(a->desired);
	json_decref(a->found);
	json_decref(a->images);
	json_decref(a->pulled);
	for (size_t i = 0; i < a->nr_registries; i++)
		free(a->registries[i]);
	free(a->registries);
	free(a->node);
	free(a->node_ip);
	free(a->manifests);
	free(a->server);
	free(a->token);
	free(a->ca_file);
	free(a->kube_socket);
	free(a->cpu);
	free(a->memory);
	free(a->max_pods);
	free(a->runtime_version);
	free(a->pod_network);
	free(a->pod_subnet);
	free(a->pod_gateway);
	free(a->net_error);
	free(a->cluster_dns);
	free(a->cluster_domain);
	json_decref(a->deleting);
	free(a->socket);
	free(a->data_dir);
	free(a->api_listen);
	free(a->status_dir);
	free(a->volume_root);
	if (a->handles == 0) {
		free(a);
		return;
	}
	if (a->watch_inited)
		uv_close((uv_handle_t *)&a->watch, handle_closed);
	uv_close((uv_handle_t *)&a->tick, handle_closed);
	uv_close((uv_handle_t *)&a->check, handle_closed);
}
