/*
 * Tests for nodeagent/agent.c, end to end on a real libuv loop against a
 * fake Podman given through the agent's ops table (podman.h): adoption of
 * what runs after a restart, removal of what is no longer wanted, status
 * mapping (Kubernetes' phase, state, reason, exit code, readiness) and exec
 * probes with their timeout; joined to a fake API server (a unix socket
 * that answers as stuurman's does), the pods come from it, their status
 * goes back to it, and a pod marked for deletion is stopped and deleted
 * for good.
 *
 * The fake is a small Podman: pods and containers in JSON, answers as the
 * reference says Podman 4.3 gives them (409 for a pod name taken, 500 "that
 * name is already in use" for a container's), each delivered later from a
 * timer, never from within the call; starting a running container is 304
 * and changes nothing. Waits are held until the container exits
 * (fake_exit, a stop, or the pod's removal).
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "nodeagent/agent.h"
#include "nodeagent/podman.h"
#include "tests/unit/common/http_test_server.h"
#include "common/banned.h"

#define NODE "n1"
#define STARTED_AT "2026-11-26T01:02:03.250Z"
#define WAIT_MS 15000

enum pending_kind { PEND_REPLY, PEND_WAIT, PEND_EXEC };

struct pending {
	enum pending_kind kind;
	podman_cb cb;
	podman_wait_cb wait_cb;
	podman_exec_cb exec_cb;
	podman_log_cb out;
	void *ctx;
	int status;
	json_t *json; /* reply body, owned */
	const char *cause;
	char *id; /* a wait's container */
	int exit_code;
	bool cancelled;
	struct pending *next;
};

struct fake {
	uv_timer_t timer;
	struct pending *queue, *waits, *held; /* held: execs that hang */
	json_t *pods; /* name -> {"Labels": {...}} */
	json_t *ctrs; /* id -> {"Name", "Pod", "Labels", "State", "ExitCode"} */
	json_t *removed; /* names of removed pods, in order */
	int next_id;
	int pod_creates, ctr_creates, ctr_starts, ctr_stops;
	int execs, exec_cancels;
	int exec_exit; /* what exec probes exit with */
	bool exec_hang; /* exec probes never end */
	char exec_cmd[64]; /* the last exec's command, joined by spaces */
	json_t *networks; /* name -> network, as Podman answers it */
	int net_inspects, net_creates;
	json_t *net_created; /* the last create's spec */
	bool net_race; /* a create finds it made meanwhile (10.99.0.0/16) */
	json_t *pod_spec; /* the last pod create's spec */
	json_t *ctr_env; /* the last container create's env */
	int remove_timeout; /* the last pod remove's timeout */
};

static struct fake F;

static void queue(struct pending *p)
{
	struct pending **tail = &F.queue;

	while (*tail)
		tail = &(*tail)->next;
	p->next = NULL;
	*tail = p;
}

static struct pending *reply(podman_cb cb, void *ctx, int status, json_t *json)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->kind = PEND_REPLY;
	p->cb = cb;
	p->ctx = ctx;
	p->status = status;
	p->json = json;
	queue(p);
	return p;
}

static void pending_free(struct pending *p)
{
	json_decref(p->json);
	free(p->id);
	free(p);
}

static void deliver(struct pending *p)
{
	struct podman_reply r = { 0 };
	char error[64];

	r.status = p->status;
	r.ok = (p->status >= 200 && p->status < 300) || p->status == 304;
	r.json = p->json;
	r.cause = r.ok ? NULL : p->cause;
	snprintf(error, sizeof(error), "fake podman: %d: %s", p->status,
		 p->cause ? p->cause : "error");
	r.error = r.ok ? NULL : error;
	switch (p->kind) {
	case PEND_REPLY:
		p->cb(p->ctx, &r);
		break;
	case PEND_WAIT: {
		struct podman_wait_reply w = { .r = r,
					       .exit_code = p->exit_code };

		p->wait_cb(p->ctx, &w);
		break;
	}
	case PEND_EXEC:
		if (p->cancelled)
			break;
		p->out(p->ctx, PODMAN_STDOUT, "probe output\n", 13);
		p->exec_cb(p->ctx, &r, p->exit_code);
		break;
	}
}

static void on_fake_timer(uv_timer_t *t)
{
	/* Only what is queued now: callbacks queue more for next time. */
	struct pending *list = F.queue;

	F.queue = NULL;
	while (list) {
		struct pending *p = list;

		list = p->next;
		deliver(p);
		pending_free(p);
	}
}

static void drop_list(struct pending **list)
{
	while (*list) {
		struct pending *p = *list;

		*list = p->next;
		pending_free(p);
	}
}

/* The agent is gone: what it asked for is never answered (podman_free). */
static void fake_forget(void)
{
	drop_list(&F.queue);
	drop_list(&F.waits);
	drop_list(&F.held);
}

/* Container id exits with code: its waits are answered. */
static void fake_exit(const char *id, int code)
{
	json_t *c = json_object_get(F.ctrs, id);
	struct pending **pp = &F.waits;

	if (c) {
		json_object_set_new(c, "State", json_string("exited"));
		json_object_set_new(c, "ExitCode", json_integer(code));
	}
	while (*pp) {
		struct pending *p = *pp;

		if (strcmp(p->id, id)) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		p->exit_code = code;
		queue(p);
	}
}

static bool has_label(const json_t *labels, const json_t *filters)
{
	json_t *f;
	size_t i;

	json_array_foreach (json_object_get(filters, "label"), i, f) {
		char *kv = xstrdup(json_string_value(f));
		char *eq = strchr(kv, '=');
		bool ok;

		SM_BUG_ON(!eq);
		*eq = '\0';
		ok = sm_json_get_str(labels, kv) &&
		     !strcmp(sm_json_get_str(labels, kv), eq + 1);
		free(kv);
		if (!ok)
			return false;
	}
	return true;
}

static int f_pod_create(void *c, const json_t *spec, podman_cb cb, void *ctx)
{
	const char *name = sm_json_get_str(spec, "name");

	if (json_object_get(F.pods, name)) {
		struct pending *p = reply(cb, ctx, 409, NULL);

		p->cause = "pod already exists";
		return 0;
	}
	F.pod_creates++;
	json_decref(F.pod_spec);
	F.pod_spec = json_deep_copy(spec);
	json_object_set_new(
		F.pods, name,
		json_pack("{s:O}", "Labels", json_object_get(spec, "labels")));
	reply(cb, ctx, 201, json_pack("{s:s}", "Id", name));
	return 0;
}

static int f_pod_start(void *c, const char *name, podman_cb cb, void *ctx)
{
	reply(cb, ctx, 204, NULL);
	return 0;
}

static int f_pod_inspect(void *c, const char *name, podman_cb cb, void *ctx)
{
	reply(cb, ctx, 200,
	      json_pack("{s:s, s:s}", "Name", name, "InfraContainerID",
			"infra"));
	return 0;
}

static int f_pod_list(void *c, const json_t *filters, podman_cb cb, void *ctx)
{
	json_t *out = json_array(), *p;
	const char *name;

	json_object_foreach (F.pods, name, p) {
		if (has_label(json_object_get(p, "Labels"), filters))
			json_array_append_new(
				out,
				json_pack("{s:s, s:O}", "Name", name, "Labels",
					  json_object_get(p, "Labels")));
	}
	reply(cb, ctx, 200, out);
	return 0;
}

static int f_pod_remove(void *c, const char *name, int timeout_s, podman_cb cb,
			void *ctx)
{
	json_t *ctr, *gone = json_array(), *v;
	const char *id;
	size_t i;

	json_array_append_new(F.removed, json_string(name));
	F.remove_timeout = timeout_s;
	json_object_del(F.pods, name);
	json_object_foreach (F.ctrs, id, ctr)
		if (!strcmp(sm_json_get_str(ctr, "Pod"), name))
			json_array_append_new(gone, json_string(id));
	json_array_foreach (gone, i, v) {
		fake_exit(json_string_value(v), 137);
		json_object_del(F.ctrs, json_string_value(v));
	}
	json_decref(gone);
	reply(cb, ctx, 200, NULL);
	return 0;
}

static int f_container_create(void *c, const json_t *spec, podman_cb cb,
			      void *ctx)
{
	const char *name = sm_json_get_str(spec, "name"), *id;
	json_t *ctr;
	char buf[32];

	json_object_foreach (F.ctrs, id, ctr) {
		if (!strcmp(sm_json_get_str(ctr, "Name"), name)) {
			struct pending *p = reply(cb, ctx, 500, NULL);

			p->cause = "that name is already in use";
			return 0;
		}
	}
	F.ctr_creates++;
	json_decref(F.ctr_env);
	F.ctr_env = json_deep_copy(json_object_get(spec, "env"));
	snprintf(buf, sizeof(buf), "ctr-%d", ++F.next_id);
	json_object_set_new(F.ctrs, buf,
			    json_pack("{s:s, s:s, s:O, s:s, s:i}", "Name", name,
				      "Pod", sm_json_get_str(spec, "pod"),
				      "Labels", json_object_get(spec, "labels"),
				      "State", "created", "ExitCode", 0));
	reply(cb, ctx, 201, json_pack("{s:s}", "Id", buf));
	return 0;
}

static int f_container_start(void *c, const char *id, podman_cb cb, void *ctx)
{
	json_t *ctr = json_object_get(F.ctrs, id);

	if (!ctr) {
		reply(cb, ctx, 404, NULL)->cause = "no such container";
		return 0;
	}
	if (!strcmp(sm_json_get_str(ctr, "State"), "running")) {
		/* As Podman: "already so", and nothing happens. */
		reply(cb, ctx, 304, NULL);
		return 0;
	}
	F.ctr_starts++;
	json_object_set_new(ctr, "State", json_string("running"));
	reply(cb, ctx, 204, NULL);
	return 0;
}

static int f_container_stop(void *c, const char *id, int timeout_s,
			    podman_cb cb, void *ctx)
{
	F.ctr_stops++;
	fake_exit(id, 143);
	reply(cb, ctx, 204, NULL);
	return 0;
}

static int f_container_remove(void *c, const char *id, bool force, podman_cb cb,
			      void *ctx)
{
	json_t *ctr;
	const char *k;

	json_object_foreach (F.ctrs, k, ctr) {
		if (!strcmp(k, id) ||
		    !strcmp(sm_json_get_str(ctr, "Name"), id)) {
			json_object_del(F.ctrs, k);
			break;
		}
	}
	reply(cb, ctx, 200, json_array());
	return 0;
}

static int f_container_inspect(void *c, const char *id, podman_cb cb, void *ctx)
{
	json_t *ctr = json_object_get(F.ctrs, id);
	const char *state = ctr ? sm_json_get_str(ctr, "State") : "running";

	if (!ctr && strcmp(id, "infra")) {
		reply(cb, ctx, 404, NULL)->cause = "no such container";
		return 0;
	}
	/*
	 * As Podman 4.3 on a named network: no top-level IPAddress, one
	 * entry per network (Podman's default first: the agent must pick
	 * the pod network's).
	 */
	reply(cb, ctx, 200,
	      json_pack(
		      "{s:s, s:s, s:{s:s, s:b, s:s, s:I, s:b}, s:{s:s, "
		      "s:{s:{s:s}, s:{s:s}}}}",
		      "Id", id, "Image", "sha256:feed", "State", "Status",
		      state, "Running", !strcmp(state, "running"), "StartedAt",
		      STARTED_AT, "ExitCode",
		      ctr ? json_integer_value(json_object_get(ctr, "ExitCode"))
			  : 0,
		      "OOMKilled", 0, "NetworkSettings", "IPAddress", "",
		      "Networks", "podman", "IPAddress", "10.88.0.9",
		      "stuurman", "IPAddress", "10.244.0.9"));
	return 0;
}

static int f_container_list(void *c, bool all, const json_t *filters,
			    podman_cb cb, void *ctx)
{
	json_t *out = json_array(), *ctr;
	const char *id;

	json_object_foreach (F.ctrs, id, ctr) {
		if (has_label(json_object_get(ctr, "Labels"), filters))
			json_array_append_new(
				out,
				json_pack(
					"{s:s, s:[s], s:O, s:O, s:O}", "Id", id,
					"Names", sm_json_get_str(ctr, "Name"),
					"Labels",
					json_object_get(ctr, "Labels"), "State",
					json_object_get(ctr, "State"),
					"ExitCode",
					json_object_get(ctr, "ExitCode")));
	}
	reply(cb, ctx, 200, out);
	return 0;
}

static int f_container_wait(void *c, const char *id, podman_wait_cb cb,
			    void *ctx)
{
	struct pending *p = xcalloc(1, sizeof(*p));
	json_t *ctr = json_object_get(F.ctrs, id);

	p->kind = PEND_WAIT;
	p->wait_cb = cb;
	p->ctx = ctx;
	p->status = 200;
	p->id = xstrdup(id);
	if (ctr && strcmp(sm_json_get_str(ctr, "State"), "running")) {
		/* Stopped already: Podman answers at once. */
		p->exit_code = (int)json_integer_value(
			json_object_get(ctr, "ExitCode"));
		queue(p);
		return 0;
	}
	p->next = F.waits;
	F.waits = p;
	return 0;
}

static int f_image_exists(void *c, const char *name, podman_cb cb, void *ctx)
{
	reply(cb, ctx, 204, NULL);
	return 0;
}

static int f_image_pull(void *c, const char *reference,
			enum podman_pull_policy policy, bool tls_verify,
			podman_cb cb, void *ctx)
{
	fail_msg("no pull expected: %s", reference);
	return -EINVAL;
}

static struct podman_exec *f_exec(void *c, const char *container_id,
				  const struct podman_exec_opts *opts,
				  podman_log_cb out, podman_exec_cb done,
				  void *ctx)
{
	struct pending *p = xcalloc(1, sizeof(*p));
	size_t n = 0;

	F.execs++;
	F.exec_cmd[0] = '\0';
	for (const char *const *a = opts->cmd; *a; a++)
		n += (size_t)snprintf(F.exec_cmd + n, sizeof(F.exec_cmd) - n,
				      "%s%s", n ? " " : "", *a);
	p->kind = PEND_EXEC;
	p->exec_cb = done;
	p->out = out;
	p->ctx = ctx;
	p->status = 200;
	p->exit_code = F.exec_exit;
	if (F.exec_hang) {
		p->next = F.held;
		F.held = p;
	} else {
		queue(p);
	}
	return (struct podman_exec *)p;
}

static void f_exec_cancel(struct podman_exec *e)
{
	struct pending *p = (struct pending *)e;

	F.exec_cancels++;
	p->cancelled = true;
}

static int f_network_inspect(void *c, const char *name, podman_cb cb, void *ctx)
{
	json_t *net = json_object_get(F.networks, name);

	F.net_inspects++;
	if (!net) {
		reply(cb, ctx, 404, NULL)->cause = "network not found";
		return 0;
	}
	reply(cb, ctx, 200, json_incref(net));
	return 0;
}

static int f_network_create(void *c, const json_t *spec, podman_cb cb,
			    void *ctx)
{
	const char *name = sm_json_get_str(spec, "name");

	F.net_creates++;
	json_decref(F.net_created);
	F.net_created = json_deep_copy(spec);
	if (F.net_race) {
		/* Another agent was quicker, with its own subnet. */
		json_object_set_new(F.networks, name,
				    json_pack("{s:s, s:[{s:s, s:s}]}", "name",
					      name, "subnets", "subnet",
					      "10.99.0.0/16", "gateway",
					      "10.99.0.1"));
		reply(cb, ctx, 409, NULL)->cause = "network already exists";
		return 0;
	}
	json_object_set_new(F.networks, name, json_deep_copy(spec));
	reply(cb, ctx, 200, json_deep_copy(spec));
	return 0;
}

static const struct podman_ops fake_ops = {
	.pod_create = f_pod_create,
	.pod_start = f_pod_start,
	.pod_inspect = f_pod_inspect,
	.pod_list = f_pod_list,
	.pod_remove = f_pod_remove,
	.container_create = f_container_create,
	.container_start = f_container_start,
	.container_stop = f_container_stop,
	.container_remove = f_container_remove,
	.container_inspect = f_container_inspect,
	.container_list = f_container_list,
	.container_wait = f_container_wait,
	.image_exists = f_image_exists,
	.image_pull = f_image_pull,
	.exec = f_exec,
	.exec_cancel = f_exec_cancel,
	.network_inspect = f_network_inspect,
	.network_create = f_network_create,
};

/* The fixture: a loop, the fake, a folder with pods/ and data/. */

struct fixture {
	uv_loop_t loop;
	char dir[64];
	char pods[96];
	char data[96];
	struct agent *agent;
	struct tsrv *srv; /* a joined test's API server, until it stops it */
};

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	sm_log_setup(SM_LOG_ERROR, SM_LOG_TEXT, NULL, NULL);
	memset(&F, 0, sizeof(F));
	F.pods = json_object();
	F.ctrs = json_object();
	F.removed = json_array();
	F.networks = json_object();
	uv_loop_init(&f->loop);
	uv_timer_init(&f->loop, &F.timer);
	uv_timer_start(&F.timer, on_fake_timer, 1, 1);
	snprintf(f->dir, sizeof(f->dir), "/tmp/sm-agent-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->pods, sizeof(f->pods), "%s/pods", f->dir);
	snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
	assert_int_equal(mkdir(f->pods, 0755), 0);
	*state = f;
	return 0;
}

static void agent_stop(struct fixture *f)
{
	agent_free(f->agent);
	f->agent = NULL;
	fake_forget();
}

static void api_reset(void);

static int teardown(void **state)
{
	struct fixture *f = *state;
	int r;

	agent_stop(f);
	/* A joined test that failed midway leaves its server running. */
	if (f->srv)
		tsrv_stop(f->srv);
	api_reset();
	uv_close((uv_handle_t *)&F.timer, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	r = uv_loop_close(&f->loop);
	json_decref(F.pods);
	json_decref(F.ctrs);
	json_decref(F.removed);
	json_decref(F.networks);
	json_decref(F.net_created);
	json_decref(F.pod_spec);
	json_decref(F.ctr_env);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	assert_int_equal(r, 0);
	return 0;
}

static void write_pod(struct fixture *f, const char *name, const char *yaml)
{
	char path[160];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s.yaml", f->pods, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(yaml, fp);
	fclose(fp);
}

static void agent_run(struct fixture *f)
{
	struct agent_config cfg = {
		.node = NODE,
		.node_ip = "127.0.0.1",
		.pod_manifests = f->pods,
		.data_dir = f->data,
		.backoff = BACKOFF_INIT,
		.reload_ms = 200,
		.api_listen = "none",
		.podman_ops = &fake_ops,
		.podman_ctx = &F,
	};
	struct sm_err err = SM_ERR_INIT;

	f->agent = agent_new(&f->loop, &cfg, &err);
	assert_non_null(f->agent);
	assert_int_equal(agent_start(f->agent), 0);
}

/* The pod's status as written by the agent (new), or NULL. */
static json_t *status_of(struct fixture *f, const char *pod)
{
	char path[192];
	json_t *j;

	snprintf(path, sizeof(path), "%s/nodes/" NODE "/pods/default_%s.json",
		 f->data, pod);
	j = json_load_file(path, 0, NULL);
	if (!j)
		return NULL;
	{
		json_t *st = json_incref(json_object_get(j, "status"));

		json_decref(j);
		return st;
	}
}

typedef bool (*status_pred)(const json_t *st, const void *arg);

static void tick(uv_timer_t *t)
{
	/* Keeps UV_RUN_ONCE from blocking in poll after a timer callback. */
}

/* Runs the loop until pred holds on the pod's status; returns it (new). */
static json_t *run_until(struct fixture *f, const char *pod, status_pred pred,
			 const void *arg)
{
	uv_timer_t t;
	uint64_t deadline = uv_now(&f->loop) + WAIT_MS;
	json_t *st = NULL;

	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, tick, 20, 20);
	while (uv_now(&f->loop) < deadline) {
		uv_run(&f->loop, UV_RUN_ONCE);
		json_decref(st);
		st = status_of(f, pod);
		if (st && pred(st, arg))
			break;
	}
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	if (!st || !pred(st, arg)) {
		char *s = st ? json_dumps(st, JSON_INDENT(2)) : NULL;

		print_message("status of %s: %s\n", pod, s ? s : "(none)");
		free(s);
		fail_msg("pod %s: the status never got there", pod);
	}
	return st;
}

static const json_t *ctr0(const json_t *st)
{
	return json_array_get(json_object_get(st, "containerStatuses"), 0);
}

static const char *ctr_state(const json_t *st)
{
	const char *key;
	json_t *v;

	json_object_foreach (json_object_get(ctr0(st), "state"), key, v)
		return key;
	return "";
}

static bool is_running(const json_t *st, const void *arg)
{
	return !strcmp(sm_json_get_str(st, "phase"), "Running") &&
	       !strcmp(ctr_state(st), "running");
}

static bool has_phase(const json_t *st, const void *arg)
{
	return !strcmp(sm_json_get_str(st, "phase"), arg);
}

static bool ready_is(const json_t *st, const void *arg)
{
	bool want = *(const bool *)arg;
	json_t *c;
	size_t i;

	if (json_is_true(json_object_get(ctr0(st), "ready")) != want)
		return false;
	json_array_foreach (json_object_get(st, "conditions"), i, c)
		if (!strcmp(sm_json_get_str(c, "type"), "Ready"))
			return !strcmp(sm_json_get_str(c, "status"),
				       want ? "True" : "False");
	return false;
}

static bool restarted(const json_t *st, const void *arg)
{
	return json_integer_value(json_object_get(ctr0(st), "restartCount")) >=
		       1 &&
	       !strcmp(ctr_state(st), "running");
}

static const char web_yaml[] = "apiVersion: v1\n"
			       "kind: Pod\n"
			       "metadata:\n"
			       "  name: web\n"
			       "spec:\n"
			       "  containers:\n"
			       "  - name: app\n"
			       "    image: busybox:1.36\n"
			       "    command: [sleep, '1000']\n";

/* The one container of the fake, its id (borrowed), or NULL. */
static const char *only_ctr(void)
{
	const char *id;
	json_t *v;

	json_object_foreach (F.ctrs, id, v)
		return id;
	return NULL;
}

static void test_a_restarted_agent_adopts_the_pod_it_wants(void **state)
{
	struct fixture *f = *state;
	json_t *st;
	char *id, *status_path;

	write_pod(f, "web", web_yaml);
	agent_run(f);
	st = run_until(f, "web", is_running, NULL);
	json_decref(st);
	assert_int_equal(F.pod_creates, 1);
	assert_int_equal(F.ctr_creates, 1);
	id = xstrdup(only_ctr());

	/* The agent stops; the pod runs on. A new agent comes. */
	agent_stop(f);
	status_path =
		xasprintf("%s/nodes/" NODE "/pods/default_web.json", f->data);
	assert_int_equal(unlink(status_path), 0);
	free(status_path);
	F.pod_creates = F.ctr_creates = F.ctr_starts = 0;
	agent_run(f);
	st = run_until(f, "web", is_running, NULL);

	/*
	 * Kept: nothing created, removed or started anew (the agent's start
	 * of a running container is Podman's 304); the same container.
	 */
	assert_int_equal(F.pod_creates, 0);
	assert_int_equal(F.ctr_creates, 0);
	assert_int_equal(F.ctr_starts, 0);
	assert_int_equal(json_array_size(F.removed), 0);
	{
		char *want = xasprintf("podman://%s", id);

		assert_string_equal(sm_json_get_str(ctr0(st), "containerID"),
				    want);
		free(want);
	}
	assert_int_equal(
		json_integer_value(json_object_get(ctr0(st), "restartCount")),
		0);
	json_decref(st);
	free(id);
}

static void fake_old_pod(const char *node, const char *pod, const char *uid)
{
	char *name = xasprintf("stuurman_%s_default_%s", node, pod);
	char *cname = xasprintf("%s_app", name);
	char cid[32];

	json_object_set_new(F.pods, name,
			    json_pack("{s:{s:s, s:s, s:s, s:s}}", "Labels",
				      "stuurman.io/node", node,
				      "stuurman.io/namespace", "default",
				      "stuurman.io/pod", pod, "stuurman.io/uid",
				      uid));
	snprintf(cid, sizeof(cid), "old-%d", ++F.next_id);
	json_object_set_new(
		F.ctrs, cid,
		json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:i}",
			  "Name", cname, "Pod", name, "Labels",
			  "stuurman.io/node", node, "stuurman.io/namespace",
			  "default", "stuurman.io/pod", pod, "stuurman.io/uid",
			  uid, "stuurman.io/container", "app", "State",
			  "running", "ExitCode", 0));
	free(name);
	free(cname);
}

static bool removed(const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach (F.removed, i, v)
		if (!strcmp(json_string_value(v), name))
			return true;
	return false;
}

static void test_a_stale_uid_or_an_unknown_pod_is_removed(void **state)
{
	struct fixture *f = *state;
	json_t *st;
	const char *cid;

	/* web runs with an older manifest's uid; gone is wanted no more. */
	fake_old_pod(NODE, "web", NODE "-stale");
	fake_old_pod(NODE, "gone", NODE "-whatever");
	/* Another node's pod is not this agent's business. */
	fake_old_pod("n2", "other", "n2-x");
	write_pod(f, "web", web_yaml);
	agent_run(f);
	st = run_until(f, "web", is_running, NULL);
	assert_true(removed("stuurman_" NODE "_default_web"));
	assert_true(removed("stuurman_" NODE "_default_gone"));
	assert_false(removed("stuurman_n2_default_other"));
	assert_non_null(json_object_get(F.pods, "stuurman_n2_default_other"));
	/* web was created anew, with a new container. */
	assert_int_equal(F.pod_creates, 1);
	assert_int_equal(F.ctr_creates, 1);
	cid = sm_json_get_str(ctr0(st), "containerID");
	assert_non_null(cid);
	assert_null(strstr(cid, "old-"));
	json_decref(st);
}

static void test_exit_1_under_never_is_failed_with_reason_error(void **state)
{
	struct fixture *f = *state;
	json_t *st;

	write_pod(f, "job",
		  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: job\n"
		  "spec:\n  restartPolicy: Never\n  containers:\n"
		  "  - name: app\n    image: busybox:1.36\n"
		  "    command: [sh, -c, 'exit 1']\n");
	agent_run(f);
	st = run_until(f, "job", is_running, NULL);
	json_decref(st);
	fake_exit(only_ctr(), 1);
	st = run_until(f, "job", has_phase, "Failed");
	assert_string_equal(ctr_state(st), "terminated");
	assert_string_equal(
		sm_json_get_str(sm_json_get_path(ctr0(st), "state.terminated"),
				"reason"),
		"Error");
	assert_int_equal(json_integer_value(sm_json_get_path(
				 ctr0(st), "state.terminated.exitCode")),
			 1);
	assert_int_equal(
		json_integer_value(json_object_get(ctr0(st), "restartCount")),
		0);
	assert_false(json_is_true(json_object_get(ctr0(st), "ready")));
	json_decref(st);
	/* Never: it is not started again. */
	assert_int_equal(F.ctr_starts, 1);
}

static const char probed_yaml[] = "apiVersion: v1\n"
				  "kind: Pod\n"
				  "metadata:\n"
				  "  name: probed\n"
				  "spec:\n"
				  "  containers:\n"
				  "  - name: app\n"
				  "    image: busybox:1.36\n"
				  "    command: [sleep, '1000']\n"
				  "    %s:\n"
				  "      exec:\n"
				  "        command: [cat, /tmp/ready]\n"
				  "      periodSeconds: 1\n"
				  "      timeoutSeconds: 1\n"
				  "      failureThreshold: 1\n";

static void test_running_state_and_ready_follows_an_exec_probe(void **state)
{
	struct fixture *f = *state;
	char *yaml = xasprintf(probed_yaml, "readinessProbe");
	bool yes = true, no = false;
	json_t *st;

	write_pod(f, "probed", yaml);
	free(yaml);
	F.exec_exit = 1;
	agent_run(f);
	st = run_until(f, "probed", is_running, NULL);
	/* Podman's StartedAt, to the second as Kubernetes writes it. */
	assert_string_equal(
		sm_json_get_str(sm_json_get_path(ctr0(st), "state.running"),
				"startedAt"),
		"2026-11-26T01:02:03Z");
	assert_true(json_is_true(json_object_get(ctr0(st), "started")));
	json_decref(st);
	st = run_until(f, "probed", ready_is, &no);
	json_decref(st);
	/* The probe exits 0 now: ready. */
	F.exec_exit = 0;
	st = run_until(f, "probed", ready_is, &yes);
	json_decref(st);
	assert_string_equal(F.exec_cmd, "cat /tmp/ready");
	/* And 1 again: not ready, and never restarted for it. */
	F.exec_exit = 1;
	st = run_until(f, "probed", ready_is, &no);
	assert_int_equal(
		json_integer_value(json_object_get(ctr0(st), "restartCount")),
		0);
	json_decref(st);
	assert_int_equal(F.ctr_stops, 0);
}

static void test_an_exec_liveness_probe_past_its_timeout_restarts(void **state)
{
	struct fixture *f = *state;
	char *yaml = xasprintf(probed_yaml, "livenessProbe");
	json_t *st;

	write_pod(f, "probed", yaml);
	free(yaml);
	F.exec_hang = true;
	agent_run(f);
	st = run_until(f, "probed", is_running, NULL);
	json_decref(st);
	/* The probe never answers: cancelled at its timeout, a failure. */
	st = run_until(f, "probed", restarted, NULL);
	json_decref(st);
	assert_true(F.exec_cancels >= 1);
	assert_true(F.ctr_stops >= 1);
}

static void test_the_pod_network_is_made_before_the_first_pod(void **state)
{
	struct fixture *f = *state;
	json_t *st, *want;

	write_pod(f, "web", web_yaml);
	agent_run(f);
	st = run_until(f, "web", is_running, NULL);
	/* Missing, so made: a bridge on the subnet, Podman's DNS off. */
	assert_int_equal(F.net_creates, 1);
	want = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:b}", "name", "stuurman",
			 "driver", "bridge", "subnets", "subnet",
			 "10.244.0.0/16", "gateway", "10.244.0.1",
			 "dns_enabled", 0);
	assert_true(json_equal(F.net_created, want));
	json_decref(want);
	/* The pod joined it, and its IP is its address there. */
	assert_string_equal(
		sm_json_get_str(json_object_get(F.pod_spec, "netns"), "nsmode"),
		"bridge");
	assert_non_null(sm_json_get_path(F.pod_spec, "Networks.stuurman"));
	assert_string_equal(sm_json_get_str(st, "podIP"), "10.244.0.9");
	/* Without --cluster-dns a pod keeps Podman's resolv.conf. */
	assert_null(json_object_get(F.pod_spec, "dns_server"));
	json_decref(st);
}

static void test_a_pod_network_made_meanwhile_is_used_as_it_is(void **state)
{
	struct fixture *f = *state;
	json_t *st;

	/* Created by an agent next door between our look and our create. */
	F.net_race = true;
	write_pod(f, "web", web_yaml);
	agent_run(f);
	st = run_until(f, "web", is_running, NULL);
	json_decref(st);
	/* The 409 is fine: looked at again (another subnet: a warning). */
	assert_int_equal(F.net_creates, 1);
	assert_true(F.net_inspects >= 2);
	assert_int_equal(F.pod_creates, 1);
	assert_non_null(sm_json_get_path(F.pod_spec, "Networks.stuurman"));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/*
 * A fake API server for the joined agent: the Node's requests are
 * accepted, the pods of n1 are the one pod "web" (uid u-web), and once
 * api.delete is set the watch says it is being deleted.
 */
struct fake_api {
	bool delete;
	bool deleted; /* the final DELETE came */
	char delete_body[128];
	json_t *last_status; /* the last PATCH of web's status */
	int node_posts;
	bool status_down; /* web's status PATCHes get 503 */
	int status_refused; /* how many did */
	int grace; /* deletionGracePeriodSeconds of the deletion */
	bool slice_ready; /* a slice lists web (10.244.0.9) as ready */
	bool slice_gone; /* ...and then no more (the watch says so) */
	bool with_service; /* a Service "db" in default */
	bool slice_terminating; /* the slice lists web as terminating */
};

static struct fake_api A;

/* What the fake API server kept goes (teardown). */
static void api_reset(void)
{
	json_decref(A.last_status);
	memset(&A, 0, sizeof(A));
}

static const char web_pod_json[] =
	"{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\","
	"\"uid\":\"u-web\",\"resourceVersion\":\"%d\"%s},\"spec\":{"
	"\"nodeName\":\"" NODE "\",\"containers\":[{\"name\":\"app\","
	"\"image\":\"busybox:1.36\",\"command\":[\"sleep\",\"1000\"]}]}}";

static const char web_slice[] =
	"{\"metadata\":{\"namespace\":\"default\",\"name\":\"web-x\","
	"\"resourceVersion\":\"6\",\"labels\":{\"kubernetes.io/"
	"service-name\":\"web\"}},\"endpoints\":[{\"addresses\":["
	"\"10.244.0.9\"],\"conditions\":{\"ready\":true}}]}";
static const char web_slice_terminating[] =
	"{\"metadata\":{\"namespace\":\"default\",\"name\":\"web-x\","
	"\"resourceVersion\":\"6\"},\"endpoints\":[{\"addresses\":["
	"\"10.244.0.9\"],\"conditions\":{\"ready\":false,\"serving\":"
	"true,\"terminating\":true}}]}";
static const char web_slice_empty[] =
	"{\"metadata\":{\"namespace\":\"default\",\"name\":\"web-x\","
	"\"resourceVersion\":\"7\",\"labels\":{\"kubernetes.io/"
	"service-name\":\"web\"}},\"endpoints\":[]}";

static void api_reply(struct tconn *c, int status, const char *body)
{
	tconn_reply(c, status, "application/json", body, strlen(body));
	tconn_end(c);
}

static void api_handler(void *ctx, struct tconn *c, const struct treq *r)
{
	static const char pods[] = "/api/v1/pods?fieldSelector=spec.nodeName"
				   "%3D" NODE;
	char buf[1024], pod[768];
	bool watch = strstr(r->target, "watch=true") != NULL;

	if (!strcmp(r->method, "POST") && !strcmp(r->target, "/api/v1/nodes")) {
		A.node_posts++;
		api_reply(c, 201, "{}");
	} else if (!strncmp(r->target, "/api/v1/nodes/", 14)) {
		api_reply(c, 200, "{}");
	} else if (!strcmp(r->method, "PATCH") &&
		   !strcmp(r->target,
			   "/api/v1/namespaces/default/pods/web/status") &&
		   A.status_down) {
		A.status_refused++;
		api_reply(c, 503, "{}");
	} else if (!strcmp(r->method, "PATCH") &&
		   !strcmp(r->target,
			   "/api/v1/namespaces/default/pods/web/status")) {
		json_decref(A.last_status);
		A.last_status = json_loadb(r->body, r->body_len, 0, NULL);
		api_reply(c, 200, "{}");
	} else if (!strcmp(r->method, "DELETE") &&
		   !strcmp(r->target, "/api/v1/namespaces/default/pods/web")) {
		A.deleted = true;
		snprintf(A.delete_body, sizeof(A.delete_body), "%.*s",
			 (int)r->body_len, r->body);
		api_reply(c, 200, "{}");
	} else if (!strncmp(r->target, pods, sizeof(pods) - 1) && !watch) {
		snprintf(pod, sizeof(pod), web_pod_json, 5, "");
		snprintf(buf, sizeof(buf),
			 "{\"kind\":\"PodList\",\"metadata\":{"
			 "\"resourceVersion\":\"5\"},\"items\":[%s]}",
			 pod);
		api_reply(c, 200, buf);
	} else if (!strncmp(r->target, pods, sizeof(pods) - 1)) {
		tconn_chunked_head(c, 200, "application/json");
		if (A.delete) {
			char del[128];

			snprintf(del, sizeof(del),
				 ",\"deletionTimestamp\":\"2026-11-26T01:00:"
				 "00Z\""
				 ",\"deletionGracePeriodSeconds\":%d",
				 A.grace);
			snprintf(pod, sizeof(pod), web_pod_json, 6, del);
			snprintf(buf, sizeof(buf),
				 "{\"type\":\"MODIFIED\",\"object\":%s}\n",
				 pod);
			tconn_chunk(c, 0, buf, strlen(buf));
		}
		/* The stream ends after a while: the informer watches again. */
		tconn_chunk(c, 50, "", 0);
		tconn_end(c);
	} else if (!strcmp(r->target, "/api/v1/services") && A.with_service) {
		api_reply(c, 200,
			  "{\"kind\":\"ServiceList\",\"metadata\":{"
			  "\"resourceVersion\":\"5\"},\"items\":[{"
			  "\"metadata\":{\"namespace\":\"default\","
			  "\"name\":\"db\"},\"spec\":{\"clusterIP\":"
			  "\"10.96.0.20\",\"ports\":[{\"port\":5432}]}}]}");
	} else if (!strcmp(r->target,
			   "/apis/discovery.k8s.io/v1/endpointslices")) {
		snprintf(buf, sizeof(buf),
			 "{\"kind\":\"EndpointSliceList\",\"metadata\":{"
			 "\"resourceVersion\":\"5\"},\"items\":[%s]}",
			 A.slice_terminating ? web_slice_terminating
			 : A.slice_ready && !A.slice_gone ? web_slice
							  : "");
		api_reply(c, 200, buf);
	} else if (strstr(r->target, "/endpointslices?") && A.slice_gone) {
		/* web is no endpoint any more: its slice is empty. */
		snprintf(buf, sizeof(buf),
			 "{\"type\":\"MODIFIED\",\"object\":%s}\n",
			 web_slice_empty);
		tconn_chunked_head(c, 200, "application/json");
		tconn_chunk(c, 0, buf, strlen(buf));
		tconn_chunk(c, 50, "", 0);
		tconn_end(c);
	} else if (!watch) {
		api_reply(c, 200,
			  "{\"kind\":\"List\",\"metadata\":{"
			  "\"resourceVersion\":\"5\"},\"items\":[]}");
	} else {
		tconn_chunked_head(c, 200, "application/json");
		tconn_chunk(c, 50, "", 0);
		tconn_end(c);
	}
}

static const char *api_phase(void)
{
	return sm_json_get_str(json_object_get(A.last_status, "status"),
			       "phase");
}

static void run_until_flag(struct fixture *f, bool (*done)(void))
{
	uv_timer_t t;
	uint64_t deadline = uv_now(&f->loop) + WAIT_MS;

	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, tick, 20, 20);
	while (!done() && uv_now(&f->loop) < deadline)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void run_for(struct fixture *f, uint64_t ms)
{
	uv_timer_t t;
	uint64_t deadline = uv_now(&f->loop) + ms;

	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, tick, 20, 20);
	while (uv_now(&f->loop) < deadline)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

static bool api_running(void)
{
	return api_phase() && !strcmp(api_phase(), "Running");
}

static bool api_deleted(void)
{
	return A.deleted;
}

static void
test_a_joined_agent_runs_the_servers_pods_and_deletes_them(void **state)
{
	struct fixture *f = *state;
	struct tsrv *srv;
	struct agent_config cfg = {
		.node = NODE,
		.node_ip = "127.0.0.1",
		.server = "http://api",
		.token = "node-token",
		.data_dir = f->data,
		.backoff = BACKOFF_INIT,
		.api_listen = "none",
		.heartbeat_ms = 50,
		.podman_ops = &fake_ops,
		.podman_ctx = &F,
	};
	struct sm_err err = SM_ERR_INIT;
	const json_t *cs;

	memset(&A, 0, sizeof(A));
	srv = tsrv_start(&f->loop, api_handler, NULL);
	f->srv = srv;
	cfg.kube_socket = tsrv_path(srv);
	f->agent = agent_new(&f->loop, &cfg, &err);
	assert_non_null(f->agent);
	assert_int_equal(agent_start(f->agent), 0);
	run_until_flag(f, api_running);
	assert_true(api_running());
	assert_int_equal(A.node_posts, 1);
	/* The pod runs under the server's uid; its status went back. */
	assert_int_equal(F.pod_creates, 1);
	assert_string_equal(
		sm_json_get_str(sm_json_get_path(
					json_object_get(F.pods, "stuurman_" NODE
								"_default_web"),
					"Labels"),
				"stuurman.io/uid"),
		"u-web");
	cs = json_array_get(
		sm_json_get_path(A.last_status, "status.containerStatuses"), 0);
	assert_string_equal(sm_json_get_str(cs, "name"), "app");
	assert_true(json_is_true(json_object_get(cs, "ready")));
	assert_true(json_is_null(
		sm_json_get_path(A.last_status, "status.message")));
	/* Marked for deletion: stopped, removed, then deleted for good. */
	A.delete = true;
	run_until_flag(f, api_deleted);
	assert_true(A.deleted);
	assert_true(removed("stuurman_" NODE "_default_web"));
	assert_non_null(strstr(A.delete_body, "\"gracePeriodSeconds\":0"));
	agent_stop(f);
	tsrv_stop(srv);
	f->srv = NULL;
}

/*
 * The API server is away while the pod starts (its status writes fail)
 * and back once the pod runs and nothing changes any more: the status
 * still reaches it.
 */
static void
test_a_status_write_that_failed_goes_again_without_a_change(void **state)
{
	struct fixture *f = *state;
	struct tsrv *srv;
	struct agent_config cfg = {
		.node = NODE,
		.node_ip = "127.0.0.1",
		.server = "http://api",
		.token = "node-token",
		.data_dir = f->data,
		.backoff = BACKOFF_INIT,
		.api_listen = "none",
		.heartbeat_ms = 50,
		.podman_ops = &fake_ops,
		.podman_ctx = &F,
	};
	struct sm_err err = SM_ERR_INIT;

	memset(&A, 0, sizeof(A));
	A.status_down = true;
	srv = tsrv_start(&f->loop, api_handler, NULL);
	f->srv = srv;
	cfg.kube_socket = tsrv_path(srv);
	f->agent = agent_new(&f->loop, &cfg, &err);
	assert_non_null(f->agent);
	assert_int_equal(agent_start(f->agent), 0);
	json_decref(run_until(f, "web", is_running, NULL));
	run_for(f, 500); /* until nothing changes any more */
	assert_true(A.status_refused >= 1);
	assert_null(A.last_status);
	A.status_down = false;
	run_until_flag(f, api_running);
	assert_true(api_running());
	agent_stop(f);
	tsrv_stop(srv);
	f->srv = NULL;
}

/* A joined agent with cluster DNS, against the fake API server. */
static void joined_run(struct fixture *f, struct tsrv **srv, uint64_t drain_ms)
{
	struct agent_config cfg = {
		.node = NODE,
		.node_ip = "127.0.0.1",
		.server = "http://api",
		.token = "node-token",
		.data_dir = f->data,
		.backoff = BACKOFF_INIT,
		.api_listen = "none",
		.heartbeat_ms = 50,
		.podman_ops = &fake_ops,
		.podman_ctx = &F,
		.cluster_dns = "10.96.0.10",
		.drain_delay_ms = drain_ms,
	};
	struct sm_err err = SM_ERR_INIT;

	*srv = tsrv_start(&f->loop, api_handler, NULL);
	f->srv = *srv;
	cfg.kube_socket = tsrv_path(*srv);
	f->agent = agent_new(&f->loop, &cfg, &err);
	assert_non_null(f->agent);
	assert_int_equal(agent_start(f->agent), 0);
}

/*
 * web is a ready endpoint when it is deleted with 30 s of grace: it keeps
 * running while the slice lists it, and is stopped once the slice no
 * longer does (well before its grace period would end: the test gives up
 * after 15 s), with what is left of the grace period for its SIGTERM.
 */
static void test_a_deleted_ready_endpoint_leaves_the_slices_first(void **state)
{
	struct fixture *f = *state;
	struct tsrv *srv;

	memset(&A, 0, sizeof(A));
	A.grace = 30;
	A.slice_ready = true;
	A.with_service = true;
	joined_run(f, &srv, 100);
	run_until_flag(f, api_running);
	assert_true(api_running());
	/* The Services of its namespace were in its env; DNS is the cluster's.
	 */
	assert_string_equal(sm_json_get_str(F.ctr_env, "DB_SERVICE_HOST"),
			    "10.96.0.20");
	assert_string_equal(sm_json_get_str(F.ctr_env, "DB_PORT"),
			    "tcp://10.96.0.20:5432");
	assert_string_equal(
		json_string_value(json_array_get(
			json_object_get(F.pod_spec, "dns_server"), 0)),
		"10.96.0.10");
	assert_string_equal(
		json_string_value(json_array_get(
			json_object_get(F.pod_spec, "dns_search"), 0)),
		"default.svc.cluster.local");

	A.delete = true;
	run_for(f, 600);
	/* Still listed as ready: not stopped, not deleted. */
	assert_false(removed("stuurman_" NODE "_default_web"));
	assert_int_equal(F.ctr_stops, 0);
	assert_false(A.deleted);

	A.slice_gone = true;
	run_until_flag(f, api_deleted);
	assert_true(A.deleted);
	assert_true(removed("stuurman_" NODE "_default_web"));
	/* SIGTERM with the rest of the grace period (it waited a little). */
	assert_true(F.remove_timeout >= 1 && F.remove_timeout <= 30);
	agent_stop(f);
	tsrv_stop(srv);
	f->srv = NULL;
}

/* In no slice: stopped at once, whatever its grace period. */
static void test_a_deleted_pod_in_no_slice_stops_at_once(void **state)
{
	struct fixture *f = *state;
	struct tsrv *srv;

	memset(&A, 0, sizeof(A));
	A.grace = 30;
	joined_run(f, &srv, 100);
	run_until_flag(f, api_running);
	assert_true(api_running());
	/* No Service: nothing in env but the container's own. */
	assert_null(json_object_get(F.ctr_env, "DB_SERVICE_HOST"));
	A.delete = true;
	run_until_flag(f, api_deleted);
	assert_true(A.deleted);
	assert_true(removed("stuurman_" NODE "_default_web"));
	assert_int_equal(F.remove_timeout, 30);
	agent_stop(f);
	tsrv_stop(srv);
	f->srv = NULL;
}

/*
 * Listed, but no longer ready (the endpoints controller saw the deletion
 * first): the drain delay still holds its SIGTERM back, here until the
 * grace period less 1 s, as the delay (60 s) is longer.
 */
static void
test_a_deleted_endpoint_not_ready_waits_the_drain_delay(void **state)
{
	struct fixture *f = *state;
	struct tsrv *srv;

	memset(&A, 0, sizeof(A));
	A.grace = 3;
	A.slice_terminating = true;
	joined_run(f, &srv, 60000);
	run_until_flag(f, api_running);
	assert_true(api_running());
	A.delete = true;
	run_for(f, 600);
	assert_false(removed("stuurman_" NODE "_default_web"));
	run_until_flag(f, api_deleted);
	assert_true(A.deleted);
	/* It waited 2 s of its 3: 1 s is left for SIGTERM. */
	assert_int_equal(F.remove_timeout, 1);
	agent_stop(f);
	tsrv_stop(srv);
	f->srv = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_a_restarted_agent_adopts_the_pod_it_wants),
		T(test_a_stale_uid_or_an_unknown_pod_is_removed),
		T(test_exit_1_under_never_is_failed_with_reason_error),
		T(test_running_state_and_ready_follows_an_exec_probe),
		T(test_an_exec_liveness_probe_past_its_timeout_restarts),
		T(test_the_pod_network_is_made_before_the_first_pod),
		T(test_a_pod_network_made_meanwhile_is_used_as_it_is),
		T(test_a_joined_agent_runs_the_servers_pods_and_deletes_them),
		T(test_a_status_write_that_failed_goes_again_without_a_change),
		T(test_a_deleted_ready_endpoint_leaves_the_slices_first),
		T(test_a_deleted_pod_in_no_slice_stops_at_once),
		T(test_a_deleted_endpoint_not_ready_waits_the_drain_delay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
