/*
 * cmd_up.c: `stuurman up`, a whole cluster on this machine in the
 * foreground, and `stuurman down`, which removes what it left.
 *
 * up: the Podman service (reused, or started in DATA), the demo images,
 * the git repository DATA/git/cluster.git (seeded from the manifests
 * folder on the first up, kept as it is afterwards), then
 * `stuurman server --repo DATA/git/cluster.git --branch main` and N
 * `stuurman agent` processes, children of up
 * started from /proc/self/exe in sessions of their own (so that Ctrl-C in
 * the terminal reaches up alone, and up stops them in order: agents, then
 * the server, then a Podman service it started). It writes DATA/kubeconfig,
 * waits until every Deployment and StatefulSet of the repository's main
 * is available, says where the app answers and what to try (among it the
 * git clone, edit, commit, push of GitOps), and supervises:
 * a child that exits is reported; a node whose agent has died and whose
 * containers are gone is fenced with the out-of-service taint, as an
 * operator would after a non-graceful node shutdown, so that its
 * StatefulSet pods move too.
 *
 * What up starts is recorded in DATA/up.json (PIDs, node names, Podman
 * socket); down reads it, signals only processes whose command line is
 * still the one up started, and removes the pods and containers of the
 * recorded nodes (Podman labels stuurman.io/node=NAME). Containers outlive
 * up's Ctrl-C on purpose, as pods outlive a kubelet: up with the same DATA
 * adopts them; down removes them.
 *
 * One loop, owned by cmd_up(); every API and Podman call on it is
 * asynchronous. The steps before the children start (Podman service,
 * images) run the loop until they are done.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cli/cli.h"
#include "cli/gitseed.h"
#include "cli/kubeclient.h"
#include "common/buf.h"
#include "common/fs.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "manifests/kinds.h"
#include "manifests/load.h"
#include "nodeagent/podman.h"
#include "nodeagent/service.h"
#include "reconciler/pki.h"
#include "stuurman-config.h"
#include "common/banned.h"

#define UP_MAX_NODES 50
#define TICK_MS 500
#define SERVER_START_MS 30000
#define STOP_GRACE_MS 15000
#define OUT_OF_SERVICE "node.kubernetes.io/out-of-service"
#define NODE_LABEL "stuurman.io/node"
/* Kubernetes' kube-dns address and domain (see the proxy and the agent). */
#define UP_CLUSTER_DNS "10.96.0.10"
#define UP_CLUSTER_DOMAIN "cluster.local"

static const char up_help[] =
	"usage: stuurman up [--data DIR] [--nodes N] [--manifests DIR]\n"
	"                   [--listen ADDR:PORT] [--podman-socket PATH]\n"
	"                   [--ci] [--timeout S]\n"
	"\n"
	"Runs a cluster on this machine, in the foreground: the Podman\n"
	"service, the demo images, the control plane (`stuurman server`) and\n"
	"N node agents as processes of their own (nodes node-1..node-N on\n"
	"node IPs 127.0.1.1..127.0.1.N), and one service proxy (ClusterIPs,\n"
	"NodePorts on 127.0.0.1 and the node IPs, cluster DNS on 10.96.0.10).\n"
	"The server follows the branch main\n"
	"of the git repository DATA/git/cluster.git, which up creates on its\n"
	"first run with the manifests as its first commit (later runs keep\n"
	"it and its history): clone it, edit, commit and push, and the change\n"
	"rolls out. It waits until every Deployment and StatefulSet of main\n"
	"is available, prints where the app answers and what to try, writes\n"
	"DATA/kubeconfig (never ~/.kube/config), and then supervises: a\n"
	"node whose agent died and whose containers are gone gets the\n"
	"out-of-service taint, so its StatefulSet pods move. Ctrl-C stops\n"
	"everything it started; the containers stay until `stuurman down`\n"
	"(up again adopts them).\n"
	"\n"
	"  --data DIR            data directory (default /var/lib/stuurman\n"
	"                        for root, ~/.local/share/stuurman "
	"otherwise)\n"
	"  --nodes N             how many agents (default 3)\n"
	"  --manifests DIR       what DATA/git/cluster.git starts with when\n"
	"                        up creates it (default: the example app,\n"
	"                        manifests/examples); unused when it exists\n"
	"  --listen ADDR:PORT    the API server's address (default\n"
	"                        127.0.0.1:6443)\n"
	"  --node-api-port PORT  the agents' own API port on their node IP\n"
	"                        (default 10250, as a kubelet)\n"
	"  --podman-socket PATH  a running Podman service to use instead of\n"
	"                        starting one in DATA\n"
	"  --ci                  exit once everything is available: 0, after\n"
	"                        stopping what up started; 1 after the\n"
	"                        timeout, with what was not ready\n"
	"  --timeout S           how long to wait for the examples (default\n"
	"                        120 with --ci, none otherwise)\n"
	"\n"
	"Logs of the server and agents: DATA/logs/.\n"
	"Exit status: 0 stopped (or ready, with --ci), 1 failed, 2 usage.\n";

static const char down_help[] =
	"usage: stuurman down [--data DIR] [--volumes]\n"
	"\n"
	"Stops what `stuurman up --data DIR` started (recorded in\n"
	"DATA/up.json; a process is signalled only when its command line is\n"
	"still the one up started) and removes every Podman pod and container\n"
	"of its nodes. The claims' named volumes (stuurman-pvc-*) stay, so\n"
	"data survives, unless --volumes is given.\n"
	"\n"
	"  --data DIR            the data directory up used\n"
	"  --volumes             also remove the claims' volumes\n"
	"\n"
	"Exit status: 0 done (also when nothing was recorded), 1 failed,\n"
	"2 usage.\n";

/* Small file helpers. */

static bool file_exists(const char *path)
{
	struct stat st;

	return !stat(path, &st) && st.st_size > 0;
}

/* Writes text to path through a temporary file and a rename, mode 0600. */
static int write_file(const char *path, const char *text)
{
	char *tmp = xasprintf("%s.tmp", path);
	size_t len = strlen(text), off = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0) {
		r = -errno;
		free(tmp);
		return r;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (!r && fsync(fd))
		r = -errno;
	close(fd);
	if (!r && rename(tmp, path))
		r = -errno;
	if (r)
		unlink(tmp);
	free(tmp);
	return r;
}

/* The file's text without trailing white space (new), or NULL. */
static char *read_trimmed(const char *path)
{
	struct sm_buf b = SM_BUF_INIT(1u << 20);
	char *s;
	size_t n;

	if (sm_buf_read_file(&b, path)) {
		sm_buf_release(&b);
		return NULL;
	}
	s = sm_buf_detach(&b, &n);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/*
 * Whether process pid runs stuurman with arguments that include cmd (the
 * subcommand) and, when key is not NULL, the pair "key value": the check
 * before any signal, since a PID in up.json may have been reused.
 */
static bool pid_runs(pid_t pid, const char *cmd, const char *key,
		     const char *value)
{
	char path[64];
	struct sm_buf b = SM_BUF_INIT(1u << 16);
	bool has_cmd = false, has_pair = !key;
	const char *prev = NULL;

	if (pid <= 0 || kill(pid, 0))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (sm_buf_read_file(&b, path)) {
		sm_buf_release(&b);
		return false;
	}
	for (size_t off = 0; off < b.len;) {
		const char *arg = b.buf + off;

		/* The subcommand is the first argument that is not an option
		 * or its value: stuurman [--log-level X] CMD. */
		if (!strcmp(arg, cmd))
			has_cmd = true;
		if (key && prev && !strcmp(prev, key) && !strcmp(arg, value))
			has_pair = true;
		prev = arg;
		off += strlen(arg) + 1;
	}
	sm_buf_release(&b);
	return has_cmd && has_pair;
}

/* The manifests to run when none are named: the example app. */
static char *find_examples(void)
{
	static const char *const candidates[] = {
		"manifests/examples",
		SM_SOURCE_DIR "/manifests/examples",
		SM_DATA_DIR "/examples",
	};
	struct stat st;

	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
		if (!stat(candidates[i], &st) && S_ISDIR(st.st_mode))
			return realpath(candidates[i], NULL);
	return NULL;
}

/* up */

enum phase {
	PHASE_SERVER, /* the server starts; waiting for its API */
	PHASE_WAIT, /* agents started; waiting for the workloads */
	PHASE_SUMMARY, /* ready; collecting what to print */
	PHASE_RUN, /* supervising */
	PHASE_STOP, /* stopping the children */
};

struct up;
struct child;

/*
 * Setting the taint on a lost node, or (lift) taking away the one an
 * earlier up set, once its agent runs again.
 */
struct fence {
	struct up *up;
	struct child *c;
	bool lift;
};

struct child {
	struct up *up;
	uv_process_t proc;
	char *name; /* "server", "node-1" */
	char *ip; /* the node IP; NULL for the server */
	char *log_path;
	pid_t pid;
	bool running, closed;
	bool fenced, fence_busy, told_containers;
	bool lift_checked; /* a taint of an earlier run looked for */
	struct fence fence; /* the one fencing call in flight (fence_busy) */
};

/* A Deployment or StatefulSet the manifests hold. */
struct workload {
	char *kind, *ns, *name;
	char *progress; /* "2/3" at the last poll */
	bool ready;
};

struct poll_req {
	struct up *u;
	json_t **slot;
};

/* The lists api_poll() fills. */
enum { L_NODES, L_DEPLOYS, L_SETS, L_PODS, L_SERVICES, L_NR };

struct up {
	uv_loop_t *loop;
	char *data, *manifests, *url, *sock, *exe;
	char *repo; /* DATA/git/cluster.git, what the server follows */
	char *workload_dir; /* the files of main, for the workloads to wait on
			     */
	bool seeded; /* the repository was created by this up */
	bool manifests_given; /* --manifests */
	char *manifests_spelled; /* as given, for the first commit's message */
	const char *listen;
	char *advertise; /* --advertise for the server, or NULL */
	char *state_path, *kubeconfig_path, *logs;
	int nodes, node_api_port;
	bool ci;
	uint64_t timeout_ms, t0, phase_t0;
	unsigned ticks;
	struct podman_service *service;
	bool service_ours; /* started by this up: stopped at the end */
	bool service_done;
	int service_status;
	struct podman *podman;
	struct kubecli *kube;
	struct child server;
	struct child proxy; /* the service proxy (and cluster DNS) */
	struct child *agents;
	struct workload *work;
	size_t nr_work;
	uv_signal_t sigint, sigterm, sighup;
	uv_timer_t tick;
	enum phase phase;
	int stop_stage; /* 0 agents, 1 server, 2 podman, 3 done */
	uint64_t stage_deadline;
	int polls; /* API calls in flight */
	json_t *nodes_list, *deploys, *sets, *pods, *services;
	struct poll_req preq[L_NR]; /* one call in flight per list */
	char *last_progress;
	bool killed;
	int status; /* the exit status */
};

static void up_stop(struct up *u, int status);

static double up_seconds(struct up *u)
{
	return (double)(uv_now(u->loop) - u->t0) / 1000.0;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* DATA/up.json: what down needs to find and check what up started. */
static void save_state(struct up *u)
{
	json_t *st = json_object(), *nodes = json_array();
	char *text;
	int r;

	json_object_set_new(st, "pid", json_integer(getpid()));
	json_object_set_new(st, "data", json_string(u->data));
	json_object_set_new(st, "podman_socket", json_string(u->sock));
	json_object_set_new(st, "podman_started",
			    json_boolean(u->service_ours));
	json_object_set_new(st, "server_pid", json_integer(u->server.pid));
	json_object_set_new(st, "proxy_pid", json_integer(u->proxy.pid));
	for (int i = 0; i < u->nodes; i++)
		json_array_append_new(nodes,
				      json_pack("{s:s, s:s, s:I}", "name",
						u->agents[i].name, "ip",
						u->agents[i].ip, "pid",
						(json_int_t)u->agents[i].pid));
	json_object_set_new(st, "nodes", nodes);
	text = json_dumps(st, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	r = write_file(u->state_path, text);
	if (r)
		fprintf(stderr, "stuurman up: cannot write %s: %s\n",
			u->state_path, strerror(-r));
	free(text);
	json_decref(st);
}

/* Children. */

static void on_child_closed(uv_handle_t *h)
{
	struct child *c = h->data;

	c->closed = true;
}

static void stop_next(struct up *u);

static void on_child_exit(uv_process_t *p, int64_t status, int signum)
{
	struct child *c = p->data;
	struct up *u = c->up;
	char how[64];

	c->running = false;
	uv_close((uv_handle_t *)p, on_child_closed);
	if (signum)
		snprintf(how, sizeof(how), "killed by signal %d (%s)", signum,
			 strsignal(signum));
	else
		snprintf(how, sizeof(how), "exited with status %d",
			 (int)status);
	if (u->phase == PHASE_STOP) {
		say("  %s stopped", c->name);
		stop_next(u);
		return;
	}
	say("stuurman up: %s (pid %d) %s; its log: %s", c->name, (int)c->pid,
	    how, c->log_path);
	if (c == &u->server) {
		say("stuurman up: without the server nothing is left to "
		    "supervise: stopping");
		up_stop(u, 1);
	} else if (c == &u->proxy) {
		say("stuurman up: without the proxy, ClusterIPs, NodePorts "
		    "and cluster DNS stop answering: stop up and start it "
		    "again");
	} else if (u->phase == PHASE_RUN) {
		say("stuurman up: %s is lost; once its containers are gone "
		    "too, up fences it (taint %s) so that its StatefulSet "
		    "pods move",
		    c->name, OUT_OF_SERVICE);
	}
}

/* Starts exe with args (NULL-terminated, args[0] is the subcommand). */
static int spawn(struct up *u, struct child *c, const char *const *args)
{
	uv_process_options_t o = { 0 };
	uv_stdio_container_t stdio[3];
	const char *argv[32];
	size_t n = 0;
	int fd, r;

	argv[n++] = u->exe;
	for (; *args && n < 31; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	fd = open(c->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = fd;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = fd;
	/* /proc/self/exe: this very program, even when it was installed
	 * under another name; argv[0] says which for `ps`. */
	o.file = "/proc/self/exe";
	o.args = (char **)argv;
	o.stdio = stdio;
	o.stdio_count = 3;
	o.exit_cb = on_child_exit;
	/* A session of its own: the terminal's Ctrl-C reaches up only. */
	o.flags = UV_PROCESS_DETACHED;
	c->up = u;
	c->proc.data = c;
	r = uv_spawn(u->loop, &c->proc, &o);
	close(fd);
	if (r) {
		c->closed = true;
		return r;
	}
	c->pid = c->proc.pid;
	c->running = true;
	return 0;
}

static int start_server(struct up *u)
{
	char nodes[16];
	const char *args[16] = {
		"server",	"--data",	    u->data, "--listen",
		u->listen,	"--repo",	    u->repo, "--branch",
		GITSEED_BRANCH, "--wait-for-nodes", nodes
	};
	int r;

	/* The first pods spread over all nodes, not the first one up. */
	snprintf(nodes, sizeof(nodes), "%u", (unsigned)u->nodes);
	if (u->advertise) {
		args[11] = "--advertise";
		args[12] = u->advertise;
	}
	r = spawn(u, &u->server, args);
	if (r) {
		fprintf(stderr, "stuurman up: cannot start the server: %s\n",
			uv_strerror(r));
		return r;
	}
	say("server: started (pid %d), API %s; log %s", (int)u->server.pid,
	    u->url, u->server.log_path);
	save_state(u);
	return 0;
}

/* Service proxy and cluster DNS: started before the agents, so that
 * the first pods find the DNS server. */
static int start_proxy(struct up *u)
{
	char *token = xasprintf("%s/pki/node-token", u->data);
	char *ca = xasprintf("%s/pki/ca.crt", u->data);
	const char *args[] = {
		"proxy",
		"--server",
		u->url,
		"--token-file",
		token,
		"--ca-file",
		ca,
		"--data",
		u->data,
		"--cluster-dns",
		UP_CLUSTER_DNS,
		"--cluster-domain",
		UP_CLUSTER_DOMAIN,
		NULL,
	};
	int r = spawn(u, &u->proxy, args);

	if (r)
		fprintf(stderr, "stuurman up: cannot start the proxy: %s\n",
			uv_strerror(r));
	else
		say("proxy: started (pid %d), ClusterIPs, NodePorts and "
		    "cluster DNS on %s; log %s",
		    (int)u->proxy.pid, UP_CLUSTER_DNS, u->proxy.log_path);
	free(token);
	free(ca);
	return r;
}

static int start_agents(struct up *u)
{
	char *token = xasprintf("%s/pki/node-token", u->data);
	char *ca = xasprintf("%s/pki/ca.crt", u->data);
	int r = 0;

	for (int i = 0; i < u->nodes && !r; i++) {
		struct child *c = &u->agents[i];
		char *api = xasprintf("%s:%d", c->ip, u->node_api_port);
		const char *args[] = {
			"agent",
			"--node",
			c->name,
			"--server",
			u->url,
			"--token-file",
			token,
			"--ca-file",
			ca,
			"--node-ip",
			c->ip,
			"--api-listen",
			api,
			"--podman-socket",
			u->sock,
			"--data",
			u->data,
			"--cluster-dns",
			UP_CLUSTER_DNS,
			"--cluster-domain",
			UP_CLUSTER_DOMAIN,
			NULL,
		};

		r = spawn(u, c, args);
		if (r)
			fprintf(stderr,
				"stuurman up: cannot start the agent of %s: "
				"%s\n",
				c->name, uv_strerror(r));
		else
			say("%s: agent started (pid %d), node IP %s; log %s",
			    c->name, (int)c->pid, c->ip, c->log_path);
		free(api);
	}
	free(token);
	free(ca);
	save_state(u);
	return r;
}

/* Stopping, in order: agents, then the server, then our Podman service. */

static void signal_children(struct up *u, int sig, bool agents)
{
	if (agents) {
		for (int i = 0; i < u->nodes; i++)
			if (u->agents[i].running)
				uv_process_kill(&u->agents[i].proc, sig);
		if (u->proxy.running)
			uv_process_kill(&u->proxy.proc, sig);
	} else if (u->server.running) {
		uv_process_kill(&u->server.proc, sig);
	}
}

static void service_stopped(struct podman_service *s, int status,
			    const struct sm_err *err, void *ctx)
{
	struct up *u = ctx;

	say("  the Podman service stopped");
	podman_service_free(s);
	u->service = NULL;
	stop_next(u);
}

static void close_all(struct up *u)
{
	if (!uv_is_closing((uv_handle_t *)&u->tick))
		uv_close((uv_handle_t *)&u->tick, NULL);
	if (!uv_is_closing((uv_handle_t *)&u->sigint)) {
		uv_close((uv_handle_t *)&u->sigint, NULL);
		uv_close((uv_handle_t *)&u->sigterm, NULL);
		uv_close((uv_handle_t *)&u->sighup, NULL);
	}
	kubecli_free(u->kube);
	u->kube = NULL;
	if (u->podman)
		podman_free(u->podman);
	u->podman = NULL;
	if (u->service)
		podman_service_free(u->service);
	u->service = NULL;
}

/* Advances the stop sequence as far as it can go now. */
static void stop_next(struct up *u)
{
	struct sm_err err = SM_ERR_INIT;
	bool agents_left = false;

	if (u->phase != PHASE_STOP)
		return;
	for (int i = 0; i < u->nodes; i++)
		agents_left |= u->agents[i].running;
	agents_left |= u->proxy.running;
	if (u->stop_stage == 0 && !agents_left) {
		u->stop_stage = 1;
		if (u->server.running) {
			say("stopping the server");
			u->stage_deadline = uv_now(u->loop) + STOP_GRACE_MS;
			signal_children(u, SIGTERM, false);
		}
	}
	if (u->stop_stage == 1 && !u->server.running) {
		u->stop_stage = 2;
		if (u->service && u->service_ours) {
			say("stopping the Podman service");
			if (!podman_service_stop(u->service, service_stopped, u,
						 &err)) {
				sm_err_release(&err);
				return;
			}
			sm_err_release(&err);
		}
	}
	if (u->stop_stage == 2) {
		u->stop_stage = 3;
		close_all(u);
	}
}

static void up_stop(struct up *u, int status)
{
	bool any = false;

	if (u->phase == PHASE_STOP)
		return;
	u->phase = PHASE_STOP;
	u->status = status;
	/* Nothing in flight matters any more. */
	kubecli_free(u->kube);
	u->kube = NULL;
	u->polls = 0;
	for (int i = 0; i < u->nodes; i++)
		any |= u->agents[i].running;
	if (u->proxy.running)
		say("stopping the proxy");
	if (any)
		say("stopping the agents (their containers keep running; "
		    "`stuurman down --data %s` removes them)",
		    u->data);
	u->stage_deadline = uv_now(u->loop) + STOP_GRACE_MS;
	signal_children(u, SIGTERM, true);
	stop_next(u);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct up *u = h->data;

	if (u->phase == PHASE_STOP) {
		if (!u->killed) {
			say("stuurman up: %s again: killing what is left",
			    strsignal(signum));
			u->killed = true;
			signal_children(u, SIGKILL, true);
			signal_children(u, SIGKILL, false);
		}
		return;
	}
	say("stuurman up: %s: stopping everything up started",
	    strsignal(signum));
	up_stop(u, 0);
}

/* Readiness. */

static json_t *find_item(const json_t *list, const char *ns, const char *name)
{
	json_t *items = json_object_get(list, "items"), *o;
	size_t i;

	json_array_foreach (items, i, o) {
		const char *n =
			sm_json_get_str(json_object_get(o, "metadata"), "name");
		const char *s = sm_json_get_str(json_object_get(o, "metadata"),
						"namespace");

		if (n && !strcmp(n, name) && (!ns || (s && !strcmp(s, ns))))
			return o;
	}
	return NULL;
}

static json_int_t jint(const json_t *o, const char *path, json_int_t def)
{
	json_t *v = sm_json_get_path(o, path);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

static bool node_ready(const json_t *node)
{
	json_t *conds = sm_json_get_path(node, "status.conditions"), *c;
	size_t i;

	json_array_foreach (conds, i, c) {
		const char *t = sm_json_get_str(c, "type");
		const char *s = sm_json_get_str(c, "status");

		if (t && s && !strcmp(t, "Ready"))
			return !strcmp(s, "True");
	}
	return false;
}

/* Whether w is fully available; its "ready/wanted" into w->progress. */
static bool workload_ready(struct up *u, struct workload *w)
{
	bool deploy = !strcmp(w->kind, "Deployment");
	json_t *o = find_item(deploy ? u->deploys : u->sets, w->ns, w->name);
	json_int_t want, ready, avail, updated, cur, gen, seen;

	free(w->progress);
	if (!o) {
		w->progress = xstrdup("not created yet");
		return false;
	}
	want = jint(o, "spec.replicas", 1);
	ready = jint(o, "status.readyReplicas", 0);
	avail = jint(o, "status.availableReplicas", deploy ? 0 : ready);
	updated = jint(o, "status.updatedReplicas", want);
	cur = jint(o, "status.replicas", 0);
	gen = jint(o, "metadata.generation", 0);
	seen = jint(o, "status.observedGeneration", gen);
	w->progress = xasprintf(
		"%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT, ready, want);
	return seen >= gen && ready == want && avail == want &&
	       updated == want && cur == want;
}

/* One progress line when something changed; true when all is ready. */
static bool check_ready(struct up *u)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int ready_nodes = 0;
	bool all;

	for (int i = 0; i < u->nodes; i++) {
		/* Nodes have no namespace: by name alone. */
		json_t *n = find_item(u->nodes_list, NULL, u->agents[i].name);

		if (n && node_ready(n))
			ready_nodes++;
	}
	all = ready_nodes == u->nodes;
	sm_buf_addf(&b, "nodes %d/%d Ready", ready_nodes, u->nodes);
	for (size_t i = 0; i < u->nr_work; i++) {
		struct workload *w = &u->work[i];

		w->ready = workload_ready(u, w);
		all &= w->ready;
		sm_buf_addf(&b, ", %s/%s %s",
			    !strcmp(w->kind, "Deployment") ? "deployment"
							   : "statefulset",
			    w->name, w->progress);
	}
	if (!u->last_progress || strcmp(u->last_progress, sm_buf_cstr(&b))) {
		say("  %5.1f s  %s", up_seconds(u), sm_buf_cstr(&b));
		free(u->last_progress);
		u->last_progress = sm_buf_detach(&b, NULL);
	}
	sm_buf_release(&b);
	return all;
}

/* " --data DIR" for the commands printed, unless DIR is their default. */
static char *data_flag(struct up *u)
{
	struct sm_err err = SM_ERR_INIT;
	char *def = podman_service_default_data_dir(&err);
	char *abs = def ? realpath(def, NULL) : NULL;
	char *flag = abs && !strcmp(abs, u->data)
			     ? xstrdup("")
			     : xasprintf(" --data %s", u->data);

	free(abs);
	free(def);
	sm_err_release(&err);
	return flag;
}

/* GitOps: where the cluster comes from, and the push that changes it. */
static void print_git_steps(struct up *u)
{
	char *data = data_flag(u), *example;

	say("GitOps: the cluster runs branch %s of %s", GITSEED_BRANCH,
	    u->repo);
	say("  git clone %s && cd cluster", u->repo);
	example = xasprintf("%s/bootcamp-deployment.yaml", u->workload_dir);
	if (!access(example, F_OK)) {
		say("  $EDITOR bootcamp-deployment.yaml    (say, replicas: 3 "
		    "-> 5)");
		say("  git commit -am 'Scale the bootcamp to 5' && git push");
	} else {
		say("  $EDITOR a manifest");
		say("  git commit -am 'What changed' && git push");
	}
	free(example);
	say("  stuurman sync status%s     what runs, Synced or not, any "
	    "error",
	    data);
	say("  stuurman history%s         the last syncs and their results",
	    data);
	say("  stuurman get deployments%s   watch the rollout", data);
	free(data);
}

static void print_summary(struct up *u)
{
	json_t *items = json_object_get(u->pods, "items"), *p;
	json_t *svcs = json_object_get(u->services, "items"), *s;
	bool any = false;
	size_t i, j;

	putchar('\n');
	say("stuurman up: ready in %.1f s: %d nodes, %zu workloads "
	    "available",
	    up_seconds(u), u->nodes, u->nr_work);
	putchar('\n');
	say("Where the app answers (pod IPs, reachable from this machine):");
	json_array_foreach (items, i, p) {
		const char *ip =
			sm_json_get_str(json_object_get(p, "status"), "podIP");
		const char *host = sm_json_get_path(p, "status.hostIP")
					   ? json_string_value(sm_json_get_path(
						     p, "status.hostIP"))
					   : NULL;
		json_t *port = sm_json_get_path(p, "spec.containers");

		port = json_object_get(json_array_get(port, 0), "ports");
		port = json_array_get(port, 0);
		if (!ip || !port ||
		    sm_json_get_path(p, "metadata.deletionTimestamp"))
			continue;
		any = true;
		if (jint(port, "hostPort", 0) && host)
			say("  %-40s http://%s:%" JSON_INTEGER_FORMAT
			    "/  (hostPort on %s)",
			    json_string_value(
				    sm_json_get_path(p, "metadata.name")),
			    host, jint(port, "hostPort", 0),
			    json_string_value(
				    sm_json_get_path(p, "spec.nodeName")));
		else
			say("  %-40s http://%s:%" JSON_INTEGER_FORMAT
			    "/  (on %s)",
			    json_string_value(
				    sm_json_get_path(p, "metadata.name")),
			    ip, jint(port, "containerPort", 0),
			    json_string_value(
				    sm_json_get_path(p, "spec.nodeName"))
				    ?: "?");
	}
	if (!any)
		say("  (no pod with a port and an IP)");
	json_array_foreach (svcs, i, s) {
		json_t *ports = sm_json_get_path(s, "spec.ports"), *pt;
		const char *type =
			json_string_value(sm_json_get_path(s, "spec.type"));
		const char *name =
			json_string_value(sm_json_get_path(s, "metadata.name"));
		const char *ns = json_string_value(
			sm_json_get_path(s, "metadata.namespace"));

		if (!type || !name || !ns)
			continue;
		json_array_foreach (ports, j, pt) {
			json_int_t np = jint(pt, "nodePort", 0);

			if (np)
				say("  Service %s: "
				    "http://127.0.0.1:%" JSON_INTEGER_FORMAT
				    "/  (NodePort; also on every node IP, e.g. "
				    "%s:%" JSON_INTEGER_FORMAT ")",
				    name, np, u->agents[0].ip, np);
			say("  Service %s: %s.%s:%" JSON_INTEGER_FORMAT
			    " from inside pods (cluster DNS)",
			    name, name, ns, jint(pt, "port", 0));
		}
	}
	putchar('\n');
	say("Try:");
	say("  export KUBECONFIG=%s", u->kubeconfig_path);
	say("  kubectl get pods -o wide     (or: stuurman get pods -o wide "
	    "--data %s)",
	    u->data);
	say("  kubectl delete pod NAME      its ReplicaSet or StatefulSet "
	    "makes a new one at once");
	say("  kill -9 %-6d               the agent of %s: node lost, its "
	    "pods move (podman pod rm -f its pods to lose the containers "
	    "too)",
	    (int)u->agents[0].pid, u->agents[0].name);
	putchar('\n');
	print_git_steps(u);
	putchar('\n');
	say("Processes: server %d, proxy %d", (int)u->server.pid,
	    (int)u->proxy.pid);
	for (int k = 0; k < u->nodes; k++)
		say("  %s: agent %d on %s", u->agents[k].name,
		    (int)u->agents[k].pid, u->agents[k].ip);
	say("Ctrl-C stops them; `stuurman down --data %s` then removes the "
	    "containers.",
	    u->data);
}

/* API polling: every answer lands in one of the lists above. */

static void on_poll(void *ctx, const struct kubecli_reply *r)
{
	struct poll_req *q = ctx;
	struct up *u = q->u;

	if (r->status == 200 && r->json) {
		json_decref(*q->slot);
		*q->slot = json_incref((json_t *)r->json);
	}
	if (--u->polls > 0 || u->phase == PHASE_STOP)
		return;
	if (u->phase == PHASE_WAIT && check_ready(u)) {
		u->phase = PHASE_SUMMARY;
	} else if (u->phase == PHASE_SUMMARY) {
		print_summary(u);
		if (u->ci) {
			putchar('\n');
			say("stuurman up --ci: everything is ready; stopping");
			up_stop(u, 0);
		} else {
			u->phase = PHASE_RUN;
		}
	}
}

static void api_poll(struct up *u, int which, const char *path, json_t **slot)
{
	struct poll_req *q = &u->preq[which];

	q->u = u;
	q->slot = slot;
	if (kubecli_request(u->kube, "GET", path, NULL, NULL, on_poll, q))
		return;
	u->polls++;
}

/* Server start: wait for its credentials and API, then the rest. */

static int write_kubeconfig(struct up *u)
{
	struct sm_err err = SM_ERR_INIT;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct pki p = PKI_INIT;
	char *ca = xasprintf("%s/pki/ca.crt", u->data);
	char *tok = xasprintf("%s/pki/token", u->data);
	int r;

	/* pki_kubeconfig() reads only the CA and the API token. */
	p.ca_pem = read_trimmed(ca);
	p.api_token = read_trimmed(tok);
	r = p.ca_pem && p.api_token ? 0 : -ENOENT;
	if (!r)
		r = pki_kubeconfig(&p, u->url, "stuurman", &b, &err);
	if (!r)
		r = write_file(u->kubeconfig_path, sm_buf_cstr(&b));
	if (r) {
		fprintf(stderr, "stuurman up: cannot write %s: %s\n",
			u->kubeconfig_path, strerror(-r));
		cli_print_diags(&err, stderr, 0);
	}
	free(p.ca_pem);
	free(p.api_token);
	free(ca);
	free(tok);
	sm_buf_release(&b);
	sm_err_release(&err);
	return r;
}

static void on_readyz(void *ctx, const struct kubecli_reply *r)
{
	struct up *u = ctx;

	u->polls--;
	if (u->phase != PHASE_SERVER || r->status != 200)
		return;
	say("server: the API answers (%.1f s)", up_seconds(u));
	if (write_kubeconfig(u) || start_proxy(u) || start_agents(u)) {
		up_stop(u, 1);
		return;
	}
	say("kubeconfig: %s", u->kubeconfig_path);
	say("waiting for the nodes and the workloads of %s (branch %s)%s:",
	    u->repo, GITSEED_BRANCH, u->timeout_ms ? "" : " (Ctrl-C stops)");
	u->phase = PHASE_WAIT;
	u->phase_t0 = uv_now(u->loop);
}

static void server_tick(struct up *u)
{
	struct kubeconfig kc = KUBECONFIG_INIT;
	struct sm_err err = SM_ERR_INIT;
	char *tok;

	if (uv_now(u->loop) - u->phase_t0 > SERVER_START_MS) {
		say("stuurman up: the API server did not answer within %d s; "
		    "its log: %s",
		    SERVER_START_MS / 1000, u->server.log_path);
		up_stop(u, 1);
		return;
	}
	if (!u->kube) {
		kc.ca_file = xasprintf("%s/pki/ca.crt", u->data);
		tok = xasprintf("%s/pki/token", u->data);
		kc.token = read_trimmed(tok);
		free(tok);
		kc.server = xstrdup(u->url);
		if (kc.token && file_exists(kc.ca_file))
			u->kube = kubecli_new(u->loop, &kc, &err);
		kubeconfig_release(&kc);
		if (sm_err_failed(&err)) {
			cli_print_diags(&err, stderr, 0);
			sm_err_release(&err);
			up_stop(u, 1);
			return;
		}
	}
	if (u->kube && !u->polls &&
	    !kubecli_request(u->kube, "GET", "/readyz", NULL, NULL, on_readyz,
			     u))
		u->polls++;
}

/* Fencing a lost node. */

static void fence_done(void *ctx, const struct kubecli_reply *r)
{
	struct fence *f = ctx;

	f->c->fence_busy = false;
	if (r->status == 200 && f->lift) {
		f->c->lift_checked = true;
		say("%s: lifted the %s taint of an earlier run", f->c->name,
		    OUT_OF_SERVICE);
	} else if (r->status == 200) {
		f->c->fenced = true;
		say("stuurman up: %s: agent and containers gone: tainted "
		    "%s=nodeshutdown:NoExecute, so its StatefulSet pods move",
		    f->c->name, OUT_OF_SERVICE);
	} else if (r->status) {
		const char *msg = kubecli_status_message(r->json);

		say("stuurman up: %s: the taint was refused (%d%s%s); will "
		    "retry",
		    f->c->name, r->status, msg ? ": " : "", msg ? msg : "");
	}
}

static void fence_node(void *ctx, const struct kubecli_reply *r)
{
	struct fence *f = ctx;
	struct up *u = f->up;
	json_t *taints, *t, *patch;
	char *path;
	size_t i;

	if (r->status != 200 || !r->json || !u->kube) {
		/* No Node yet: nothing of an earlier run to lift. */
		if (f->lift && r->status == 404)
			f->c->lift_checked = true;
		f->c->fence_busy = false;
		return;
	}
	taints = json_deep_copy(sm_json_get_path(r->json, "spec.taints"));
	if (!json_is_array(taints)) {
		json_decref(taints);
		taints = json_array();
	}
	json_array_foreach (taints, i, t)
		if (!strcmp(sm_json_get_str(t, "key") ?: "", OUT_OF_SERVICE))
			break;
	if (f->lift && i == json_array_size(taints)) {
		f->c->lift_checked = true;
		f->c->fence_busy = false;
		json_decref(taints);
		return;
	}
	if (f->lift) {
		json_array_remove(taints, i);
	} else if (i == json_array_size(taints)) {
		char now[32];
		time_t tt = time(NULL);
		struct tm tm;

		gmtime_r(&tt, &tm);
		strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_array_append_new(taints,
				      json_pack("{s:s, s:s, s:s, s:s}", "key",
						OUT_OF_SERVICE, "value",
						"nodeshutdown", "effect",
						"NoExecute", "timeAdded", now));
	}
	/* The resourceVersion makes it a compare-and-swap: a concurrent
	 * change of the taints gives 409, and the next tick tries again. */
	patch = json_pack("{s:{s:O}, s:{s:o}}", "metadata", "resourceVersion",
			  sm_json_get_path(r->json, "metadata.resourceVersion"),
			  "spec", "taints", taints);
	path = xasprintf("/api/v1/nodes/%s", f->c->name);
	if (!patch || kubecli_request(u->kube, "PATCH", path,
				      "application/merge-patch+json", patch,
				      fence_done, f)) {
		f->c->fence_busy = false;
	}
	json_decref(patch);
	free(path);
}

static void on_node_containers(void *ctx, const struct podman_reply *r)
{
	struct fence *f = ctx;
	struct up *u = f->up;
	size_t n = json_array_size(r->json);
	char *path;

	if (!r->ok || !u->kube || u->phase == PHASE_STOP) {
		f->c->fence_busy = false;
		return;
	}
	if (n) {
		if (!f->c->told_containers)
			say("stuurman up: %s: %zu of its containers still "
			    "run, so it is not fenced yet (its StatefulSet "
			    "pods stay until they are gone)",
			    f->c->name, n);
		f->c->told_containers = true;
		f->c->fence_busy = false;
		return;
	}
	path = xasprintf("/api/v1/nodes/%s", f->c->name);
	if (kubecli_request(u->kube, "GET", path, NULL, NULL, fence_node, f)) {
		f->c->fence_busy = false;
	}
	free(path);
}

/* Once per node, while waiting: a taint an earlier up set goes. */
static void lift_tick(struct up *u)
{
	for (int i = 0; i < u->nodes; i++) {
		struct child *c = &u->agents[i];
		struct fence *f;
		char *path;

		if (!c->running || c->lift_checked || c->fence_busy)
			continue;
		f = &c->fence;
		f->up = u;
		f->c = c;
		f->lift = true;
		path = xasprintf("/api/v1/nodes/%s", c->name);
		c->fence_busy = true;
		if (kubecli_request(u->kube, "GET", path, NULL, NULL,
				    fence_node, f)) {
			c->fence_busy = false;
		}
		free(path);
	}
}

static void supervise_tick(struct up *u)
{
	for (int i = 0; i < u->nodes; i++) {
		struct child *c = &u->agents[i];
		struct fence *f;
		json_t *filters;
		char *label;

		if (c->running || c->fenced || c->fence_busy)
			continue;
		f = &c->fence;
		f->up = u;
		f->c = c;
		f->lift = false;
		label = xasprintf(NODE_LABEL "=%s", c->name);
		filters = json_pack("{s:[s]}", "label", label);
		c->fence_busy = true;
		if (podman_container_list(u->podman, false, filters,
					  on_node_containers, f)) {
			c->fence_busy = false;
		}
		json_decref(filters);
		free(label);
	}
}

static void print_not_ready(struct up *u)
{
	say("stuurman up: not ready after %.0f s (--timeout): %s",
	    (double)u->timeout_ms / 1000.0,
	    u->last_progress ? u->last_progress : "no answer from the API");
	say("the logs: %s/", u->logs);
	if (!u->ci)
		return;
	/* In CI nobody can look at the files afterwards. */
	for (int i = -2; i < u->nodes; i++) {
		struct child *c = i == -2   ? &u->server
				  : i == -1 ? &u->proxy
					    : &u->agents[i];
		char *cmd = xasprintf("tail -n 25 '%s' >&2", c->log_path);

		fprintf(stderr, "--- the last lines of %s ---\n", c->log_path);
		fflush(stderr);
		if (system(cmd))
			fprintf(stderr, "(cannot show %s)\n", c->log_path);
		free(cmd);
	}
}

static void on_tick(uv_timer_t *t)
{
	struct up *u = t->data;

	u->ticks++;
	switch (u->phase) {
	case PHASE_SERVER:
		server_tick(u);
		break;
	case PHASE_WAIT:
		if (u->timeout_ms &&
		    uv_now(u->loop) - u->phase_t0 > u->timeout_ms) {
			print_not_ready(u);
			up_stop(u, 1);
			break;
		}
		if (u->kube)
			lift_tick(u);
		if (!u->polls && u->kube) {
			api_poll(u, L_NODES, "/api/v1/nodes", &u->nodes_list);
			api_poll(u, L_DEPLOYS, "/apis/apps/v1/deployments",
				 &u->deploys);
			api_poll(u, L_SETS, "/apis/apps/v1/statefulsets",
				 &u->sets);
		}
		break;
	case PHASE_SUMMARY:
		if (!u->polls && u->kube) {
			api_poll(u, L_PODS, "/api/v1/pods", &u->pods);
			api_poll(u, L_SERVICES, "/api/v1/services",
				 &u->services);
		}
		break;
	case PHASE_RUN:
		if (u->ticks % 2 == 0)
			supervise_tick(u);
		break;
	case PHASE_STOP:
		if (uv_now(u->loop) > u->stage_deadline && !u->killed) {
			say("stuurman up: still running after %d s: killing",
			    STOP_GRACE_MS / 1000);
			u->killed = true;
			signal_children(u, SIGKILL, u->stop_stage == 0);
			signal_children(u, SIGKILL, false);
		}
		break;
	}
}

/* Before the children: the Podman service and the images. */

static void on_service(struct podman_service *s, int status,
		       const struct sm_err *err, void *ctx)
{
	struct up *u = ctx;

	u->service_done = true;
	u->service_status = status;
	if (status) {
		fprintf(stderr, "stuurman up: the Podman service did not "
				"start:\n");
		for (size_t i = 0; i < err->nr; i++)
			fprintf(stderr, "  %s\n", err->items[i].msg);
	}
}

static int start_podman(struct up *u)
{
	struct podman_service_opts so = PODMAN_SERVICE_OPTS_INIT;
	struct sm_err err = SM_ERR_INIT;

	if (u->sock) {
		if (!podman_service_ping_socket(u->sock, 5000)) {
			fprintf(stderr,
				"stuurman up: no Podman service answers on "
				"\"%s\"\n",
				u->sock);
			return -EIO;
		}
		say("podman: using the service on %s", u->sock);
		return 0;
	}
	so.data_dir = u->data;
	u->service = podman_service_new(u->loop, &so, &err);
	if (!u->service ||
	    podman_service_start(u->service, on_service, u, &err)) {
		cli_print_diags(&err, stderr, 0);
		sm_err_release(&err);
		return -EIO;
	}
	while (!u->service_done && u->phase != PHASE_STOP &&
	       uv_run(u->loop, UV_RUN_ONCE))
		;
	if (!u->service_done || u->service_status)
		return -EIO;
	u->sock = xstrdup(podman_service_socket(u->service));
	u->service_ours = !podman_service_reused(u->service);
	say("podman: %s the service (pid %d), socket %s",
	    u->service_ours ? "started" : "reusing",
	    (int)podman_service_pid(u->service), u->sock);
	return 0;
}

static int collect_workload(void *ctx, const struct mf_object *o)
{
	struct up *u = ctx;
	const char *kind = o->kind->kind;
	struct workload *w;
	const char *ns;

	if (strcmp(kind, "Deployment") && strcmp(kind, "StatefulSet"))
		return 0;
	u->work = xrealloc(u->work, (u->nr_work + 1) * sizeof(*u->work));
	w = &u->work[u->nr_work++];
	memset(w, 0, sizeof(*w));
	ns = json_string_value(sm_json_get_path(o->obj, "metadata.namespace"));
	w->kind = xstrdup(kind);
	w->ns = xstrdup(ns && *ns ? ns : "default");
	w->name = xstrdup(
		json_string_value(sm_json_get_path(o->obj, "metadata.name")));
	return 0;
}

static int load_workloads(struct up *u)
{
	struct mf_load_opts lo = MF_LOAD_OPTS_INIT;
	struct sm_err err = SM_ERR_INIT;
	const char *paths[] = { u->workload_dir };
	int r = mf_load(paths, 1, &lo, collect_workload, u, NULL, &err);

	if (r && u->seeded) {
		fprintf(stderr,
			"stuurman up: the manifests in %s have "
			"errors:\n",
			u->manifests);
		cli_print_diags(&err, stderr, 0);
	} else if (r) {
		/* The user's commit: the server reports it and keeps the
		 * last good revision; up waits for nothing in particular. */
		fprintf(stderr,
			"stuurman up: warning: branch %s of %s has errors "
			"(`stuurman sync status` will show them; push a "
			"fix):\n",
			GITSEED_BRANCH, u->repo);
		cli_print_diags(&err, stderr, 0);
		r = 0;
	}
	sm_err_release(&err);
	return r;
}

/* The server's URL for --listen; an address beyond loopback is
 * advertised, so that the certificate names it. */
static int parse_listen(struct up *u)
{
	const char *colon = strrchr(u->listen, ':');
	char *host;
	long port;
	char *end;

	if (!colon)
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -EINVAL;
	host = xstrndup(u->listen, (size_t)(colon - u->listen));
	if (!*host || !strcmp(host, "0.0.0.0")) {
		free(host);
		host = xstrdup("127.0.0.1");
	} else if (strcmp(host, "127.0.0.1") && strcmp(host, "localhost")) {
		u->advertise = xstrdup(host);
	}
	u->url = xasprintf("https://%s:%ld", host, port);
	free(host);
	return 0;
}

/* Refuses a second up on one data dir. */
static int check_not_running(struct up *u)
{
	struct sm_buf b = SM_BUF_INIT(1u << 20);
	json_t *st;
	pid_t pid = 0;

	if (sm_buf_read_file(&b, u->state_path)) {
		sm_buf_release(&b);
		return 0;
	}
	st = json_loadb(b.buf, b.len, 0, NULL);
	sm_buf_release(&b);
	pid = (pid_t)jint(st, "pid", 0);
	json_decref(st);
	if (pid != getpid() && pid_runs(pid, "up", NULL, NULL)) {
		fprintf(stderr,
			"stuurman up: another `stuurman up` (pid %d) runs with "
			"%s\n",
			(int)pid, u->data);
		return -EBUSY;
	}
	return 0;
}

static void up_release(struct up *u)
{
	for (int i = 0; i < u->nodes && u->agents; i++) {
		free(u->agents[i].name);
		free(u->agents[i].ip);
		free(u->agents[i].log_path);
	}
	free(u->agents);
	free(u->server.name);
	free(u->server.log_path);
	free(u->proxy.name);
	free(u->proxy.log_path);
	for (size_t i = 0; i < u->nr_work; i++) {
		free(u->work[i].kind);
		free(u->work[i].ns);
		free(u->work[i].name);
		free(u->work[i].progress);
	}
	free(u->work);
	json_decref(u->nodes_list);
	json_decref(u->deploys);
	json_decref(u->sets);
	json_decref(u->pods);
	json_decref(u->services);
	free(u->last_progress);
	free(u->data);
	free(u->manifests);
	free(u->repo);
	free(u->manifests_spelled);
	if (u->workload_dir && !u->seeded)
		gitseed_remove_tree(u->workload_dir);
	free(u->workload_dir);
	free(u->url);
	free(u->sock);
	free(u->exe);
	free(u->advertise);
	free(u->state_path);
	free(u->kubeconfig_path);
	free(u->logs);
}

/*
 * DATA/git/cluster.git: created from the manifests folder when it is not
 * there (the first commit on main), else left as it is. Sets where the
 * workloads to wait for are read: the folder itself, or main's files
 * written to DATA/git/up-main/.
 */
static int prepare_repo(struct up *u, const char *spelled)
{
	struct sm_err err = SM_ERR_INIT;
	char *msg = xasprintf("Initial manifests from %s", spelled);
	int r;

	u->repo = xasprintf("%s/git/cluster.git", u->data);
	r = gitseed_create(u->repo, u->manifests, msg, &err);
	free(msg);
	if (r == 1) {
		u->seeded = true;
		u->workload_dir = xstrdup(u->manifests);
		say("git: created %s, its first commit on %s holds %s", u->repo,
		    GITSEED_BRANCH, u->manifests);
	} else if (!r) {
		say("git: %s is there: the cluster runs its branch %s as it "
		    "is",
		    u->repo, GITSEED_BRANCH);
		if (u->manifests_given)
			say("git: --manifests %s is not used (remove %s to "
			    "seed it again)",
			    spelled, u->repo);
		u->workload_dir = xasprintf("%s/git/up-main", u->data);
		r = gitseed_remove_tree(u->workload_dir);
		if (!r)
			r = gitseed_export(u->repo, GITSEED_BRANCH,
					   u->workload_dir, &err);
		else
			sm_error(&err, NULL, "cannot remove \"%s\": %s",
				 u->workload_dir, strerror(-r));
	}
	if (r < 0) {
		fprintf(stderr, "stuurman up: ");
		cli_print_diags(&err, stderr, 0);
	}
	sm_err_release(&err);
	return r < 0 ? r : 0;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int cmd_up(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "nodes", required_argument, NULL, 'N' },
		{ "manifests", required_argument, NULL, 'm' },
		{ "listen", required_argument, NULL, 'l' },
		{ "node-api-port", required_argument, NULL, 'P' },
		{ "podman-socket", required_argument, NULL, 's' },
		{ "ci", no_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct up u = { 0 };
	struct sm_err err = SM_ERR_INIT;
	bool timeout_set = false;
	uv_loop_t loop;
	int opt, r;

	u.nodes = 3;
	u.node_api_port = 10250;
	u.listen = "127.0.0.1:6443";
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			free(u.data);
			u.data = xstrdup(optarg);
			break;
		case 'N':
			if (parse_int(optarg, 1, UP_MAX_NODES, &u.nodes)) {
				up_release(&u);
				return cli_usage_error("up",
						       "--nodes: expected 1 to "
						       "%d, got \"%s\"",
						       UP_MAX_NODES, optarg);
			}
			break;
		case 'm':
			free(u.manifests);
			u.manifests = xstrdup(optarg);
			u.manifests_given = true;
			break;
		case 'l':
			u.listen = optarg;
			break;
		case 'P':
			if (parse_int(optarg, 1, 65535, &u.node_api_port)) {
				up_release(&u);
				return cli_usage_error("up",
						       "--node-api-port: "
						       "expected a port, got "
						       "\"%s\"",
						       optarg);
			}
			break;
		case 's':
			free(u.sock);
			u.sock = xstrdup(optarg);
			break;
		case 'c':
			u.ci = true;
			break;
		case 't':
			if (cli_parse_seconds(optarg, &u.timeout_ms)) {
				up_release(&u);
				return cli_usage_error("up",
						       "--timeout: expected "
						       "seconds, got \"%s\"",
						       optarg);
			}
			timeout_set = true;
			break;
		case 'h':
			fputs(up_help, stdout);
			up_release(&u);
			return 0;
		default:
			up_release(&u);
			return cli_usage_error("up", "unknown option");
		}
	}
	if (optind < argc) {
		up_release(&u);
		return cli_usage_error("up", "unexpected argument \"%s\"",
				       argv[optind]);
	}
	if (parse_listen(&u)) {
		up_release(&u);
		return cli_usage_error("up",
				       "--listen: expected ADDR:PORT, got "
				       "\"%s\"",
				       u.listen);
	}
	if (!timeout_set && u.ci)
		u.timeout_ms = 120000;
	if (!u.manifests && !(u.manifests = find_examples())) {
		fprintf(stderr,
			"stuurman up: the example app "
			"(manifests/examples) is not here, nor in "
			"%s or %s: pass --manifests DIR\n",
			SM_SOURCE_DIR, SM_DATA_DIR);
		up_release(&u);
		return 1;
	}
	{
		/* The server is given the folder: an absolute path. */
		char *abs = realpath(u.manifests, NULL);

		if (!abs) {
			fprintf(stderr, "stuurman up: manifests \"%s\": %s\n",
				u.manifests, strerror(errno));
			up_release(&u);
			return 1;
		}
		u.manifests_spelled = u.manifests;
		u.manifests = abs;
	}
	if (!u.data && !(u.data = podman_service_default_data_dir(&err))) {
		cli_print_diags(&err, stderr, 0);
		sm_err_release(&err);
		up_release(&u);
		return 1;
	}
	{
		/* Absolute, since the children get it and down checks it. */
		char *abs;

		if ((r = sm_mkdir_p(u.data, 0700)) ||
		    !(abs = realpath(u.data, NULL))) {
			fprintf(stderr, "stuurman up: data dir \"%s\": %s\n",
				u.data, strerror(r ? -r : errno));
			up_release(&u);
			return 1;
		}
		free(u.data);
		u.data = abs;
	}
	u.exe = realpath("/proc/self/exe", NULL);
	if (!u.exe)
		u.exe = xstrdup("stuurman");
	u.state_path = xasprintf("%s/up.json", u.data);
	u.kubeconfig_path = xasprintf("%s/kubeconfig", u.data);
	u.logs = xasprintf("%s/logs", u.data);
	if (check_not_running(&u) || prepare_repo(&u, u.manifests_spelled) ||
	    load_workloads(&u) || sm_mkdir_p(u.logs, 0700)) {
		up_release(&u);
		return 1;
	}
	u.server.name = xstrdup("server");
	u.server.log_path = xasprintf("%s/server.log", u.logs);
	u.server.closed = true;
	u.proxy.name = xstrdup("proxy");
	u.proxy.log_path = xasprintf("%s/proxy.log", u.logs);
	u.proxy.closed = true;
	u.agents = xcalloc((size_t)u.nodes, sizeof(*u.agents));
	for (int i = 0; i < u.nodes; i++) {
		u.agents[i].name = xasprintf("node-%d", i + 1);
		u.agents[i].ip = xasprintf("127.0.1.%d", i + 1);
		u.agents[i].log_path =
			xasprintf("%s/%s.log", u.logs, u.agents[i].name);
		u.agents[i].closed = true;
	}

	uv_loop_init(&loop);
	u.loop = &loop;
	u.t0 = uv_now(&loop);
	uv_signal_init(&loop, &u.sigint);
	uv_signal_init(&loop, &u.sigterm);
	uv_signal_init(&loop, &u.sighup);
	u.sigint.data = u.sigterm.data = u.sighup.data = &u;
	uv_signal_start(&u.sigint, on_signal, SIGINT);
	uv_signal_start(&u.sigterm, on_signal, SIGTERM);
	/* A closed terminal: the children, in sessions of their own, would
	 * not hear of it; stop them as on Ctrl-C. */
	uv_signal_start(&u.sighup, on_signal, SIGHUP);
	uv_timer_init(&loop, &u.tick);
	u.tick.data = &u;
	say("stuurman up: %d nodes, git %s (branch %s), data %s", u.nodes,
	    u.repo, GITSEED_BRANCH, u.data);

	r = start_podman(&u);
	if (!r) {
		say("images:");
		r = cli_images_ensure(u.sock, "  ");
	}
	u.podman = u.sock ? podman_new(&loop, u.sock) : NULL;
	if (!r)
		save_state(&u);
	if (!r)
		r = start_server(&u);
	if (r) {
		/* Nothing of ours runs but perhaps the Podman service. */
		u.phase = PHASE_SERVER;
		up_stop(&u, 1);
	} else {
		u.phase_t0 = uv_now(&loop);
		uv_timer_start(&u.tick, on_tick, 200, TICK_MS);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop))
		sm_log(SM_LOG_WARN, "up", "handles left open at exit");
	r = u.status;
	sm_err_release(&err);
	up_release(&u);
	return r;
}

/* down: blocking calls on a loop of its own. */

struct answer {
	bool done, ok;
	int status;
	json_t *json;
	char *error;
};

static void on_answer(void *ctx, const struct podman_reply *r)
{
	struct answer *a = ctx;

	a->done = true;
	a->ok = r->ok;
	a->status = r->status;
	a->json = r->json ? json_incref(r->json) : NULL;
	a->error = r->error ? xstrdup(r->error) : NULL;
}

static void wait_answer(uv_loop_t *loop, struct answer *a)
{
	while (!a->done && uv_run(loop, UV_RUN_ONCE))
		;
}

static void answer_release(struct answer *a)
{
	json_decref(a->json);
	free(a->error);
	memset(a, 0, sizeof(*a));
}

/* SIGTERM, then SIGKILL after grace_ms; waits for the process to go. */
static void stop_pid(pid_t pid, const char *what, unsigned grace_ms)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	printf("stopping %s (pid %d)\n", what, (int)pid);
	fflush(stdout);
	kill(pid, SIGTERM);
	for (unsigned t = 0; t < grace_ms && !kill(pid, 0); t += 100) {
		/* A child of ours would stay a zombie: not the case here. */
		nanosleep(&ts, NULL);
	}
	if (!kill(pid, 0)) {
		printf("  still there after %u s: SIGKILL\n", grace_ms / 1000);
		kill(pid, SIGKILL);
		for (unsigned t = 0; t < 5000 && !kill(pid, 0); t += 100)
			nanosleep(&ts, NULL);
	}
}

struct down_service {
	bool done;
	int status;
};

static void on_down_service(struct podman_service *s, int status,
			    const struct sm_err *err, void *ctx)
{
	struct down_service *d = ctx;

	d->done = true;
	d->status = status;
	for (size_t i = 0; status && i < err->nr; i++)
		fprintf(stderr, "stuurman down: %s\n", err->items[i].msg);
}

/* Removes the pods, then the containers, labelled NODE_LABEL=node. */
static int remove_node(uv_loop_t *loop, struct podman *p, const char *node,
		       int *pods, int *containers)
{
	char *label = xasprintf(NODE_LABEL "=%s", node);
	json_t *filters = json_pack("{s:[s]}", "label", label), *o;
	struct answer a = { 0 };
	int failed = 0;
	size_t i;

	for (int round = 0; round < 2; round++) {
		int r = round == 0 ? podman_pod_list(p, filters, on_answer, &a)
				   : podman_container_list(p, true, filters,
							   on_answer, &a);

		if (!r)
			wait_answer(loop, &a);
		if (r || !a.ok) {
			fprintf(stderr,
				"stuurman down: cannot list %s of %s: %s\n",
				round ? "containers" : "pods", node,
				a.error ? a.error : strerror(-r));
			answer_release(&a);
			failed++;
			continue;
		}
		json_array_foreach (a.json, i, o) {
			const char *id = sm_json_get_str(o, "Id");
			struct answer d = { 0 };

			if (!id)
				continue;
			r = round == 0
				    ? podman_pod_remove(p, id, 0, on_answer, &d)
				    : podman_container_remove(p, id, true,
							      on_answer, &d);
			if (!r)
				wait_answer(loop, &d);
			if (!r && d.ok)
				(*(round ? containers : pods))++;
			else if (r || d.status != 404) /* 404: gone already */
				failed++;
			answer_release(&d);
		}
		answer_release(&a);
	}
	json_decref(filters);
	free(label);
	return failed ? -EIO : 0;
}

struct vol_answer {
	bool done;
	int status;
	json_t *json;
};

static void on_vol(void *ctx, const struct sm_http_response *r)
{
	struct vol_answer *a = ctx;

	a->done = true;
	a->status = r->error ? 0 : r->status;
	a->json = r->len ? json_loadb(r->body, r->len, 0, NULL) : NULL;
}

static int vol_call(uv_loop_t *loop, struct sm_http_client *h, const char *sock,
		    const char *method, const char *path, struct vol_answer *a)
{
	struct sm_http_request_opts o = { 0 };
	char *url = xasprintf("http://d/v4.0.0/libpod%s", path);
	int r;

	o.method = method;
	o.url = url;
	o.unix_socket = sock;
	o.timeout_ms = 30000;
	o.on_done = on_vol;
	o.ctx = a;
	r = sm_http_request_start(h, &o, NULL);
	free(url);
	if (r)
		return r;
	while (!a->done && uv_run(loop, UV_RUN_ONCE))
		;
	return 0;
}

/* Removes the claims' volumes (stuurman-pvc-*): they have no labels. */
static int remove_volumes(uv_loop_t *loop, const char *sock, int *removed)
{
	struct sm_http_client *h = sm_http_client_new(loop);
	struct vol_answer a = { 0 };
	json_t *v;
	size_t i;
	int failed = 0;

	if (!h || vol_call(loop, h, sock, "GET", "/volumes/json", &a) ||
	    a.status != 200) {
		fprintf(stderr, "stuurman down: cannot list volumes\n");
		json_decref(a.json);
		sm_http_client_free(h);
		return -EIO;
	}
	json_array_foreach (a.json, i, v) {
		const char *name = sm_json_get_str(v, "Name");
		struct vol_answer d = { 0 };
		char *path;

		if (!name || strncmp(name, "stuurman-pvc-", 13))
			continue;
		path = xasprintf("/volumes/%s?force=true", name);
		if (!vol_call(loop, h, sock, "DELETE", path, &d) &&
		    (d.status == 204 || d.status == 200)) {
			printf("removed volume %s\n", name);
			(*removed)++;
		} else {
			fprintf(stderr,
				"stuurman down: cannot remove volume "
				"%s\n",
				name);
			failed++;
		}
		json_decref(d.json);
		free(path);
	}
	json_decref(a.json);
	sm_http_client_free(h);
	return failed ? -EIO : 0;
}

int cmd_down(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "volumes", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sm_err err = SM_ERR_INIT;
	struct sm_buf b = SM_BUF_INIT(1u << 20);
	struct podman_service *svc = NULL;
	struct podman *p = NULL;
	char *data = NULL, *state = NULL, *abs, *own_sock;
	const char *sock;
	bool volumes = false, started_service = false, stop_service;
	bool recorded = true;
	json_t *st = NULL, *nodes, *n;
	int opt, rc = 0, pods = 0, containers = 0, vols = 0;
	pid_t pid;
	uv_loop_t loop;
	size_t i;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			free(data);
			data = xstrdup(optarg);
			break;
		case 'v':
			volumes = true;
			break;
		case 'h':
			fputs(down_help, stdout);
			free(data);
			return 0;
		default:
			free(data);
			return cli_usage_error("down", "unknown option");
		}
	}
	if (optind < argc) {
		free(data);
		return cli_usage_error("down", "unexpected argument \"%s\"",
				       argv[optind]);
	}
	if (!data && !(data = podman_service_default_data_dir(&err))) {
		cli_print_diags(&err, stderr, 0);
		sm_err_release(&err);
		return 1;
	}
	if ((abs = realpath(data, NULL))) {
		free(data);
		data = abs;
	}
	state = xasprintf("%s/up.json", data);
	if (sm_buf_read_file(&b, state) ||
	    !(st = json_loadb(b.buf, b.len, 0, NULL))) {
		printf("stuurman down: no %s (no `stuurman up` ran with this "
		       "data dir, or down already did)%s\n",
		       state, volumes ? "" : ": nothing to do");
		if (!volumes)
			goto out;
		/* Only the volumes, through the data dir's own service. */
		recorded = false;
		st = json_pack("{s:s+, s:[]}", "podman_socket", data,
			       "/podman.sock", "nodes");
	}

	/* up first: it stops its children in order. */
	pid = (pid_t)jint(st, "pid", 0);
	if (pid_runs(pid, "up", NULL, NULL))
		stop_pid(pid, "stuurman up", 30000);
	nodes = json_object_get(st, "nodes");
	json_array_foreach (nodes, i, n) {
		const char *name = sm_json_get_str(n, "name");

		pid = (pid_t)jint(n, "pid", 0);
		if (name && pid_runs(pid, "agent", "--node", name)) {
			char *what = xasprintf("the agent of %s", name);

			stop_pid(pid, what, 10000);
			free(what);
		}
	}
	pid = (pid_t)jint(st, "proxy_pid", 0);
	if (pid_runs(pid, "proxy", "--data", data))
		stop_pid(pid, "the proxy", 10000);
	pid = (pid_t)jint(st, "server_pid", 0);
	if (pid_runs(pid, "server", "--data", data))
		stop_pid(pid, "the server", 10000);

	/* Podman: the recorded service, started again when it was ours. */
	sock = sm_json_get_str(st, "podman_socket");
	own_sock = xasprintf("%s/podman.sock", data);
	stop_service = json_is_true(json_object_get(st, "podman_started"));
	uv_loop_init(&loop);
	if (!sock || !podman_service_ping_socket(sock, 3000)) {
		struct podman_service_opts so = PODMAN_SERVICE_OPTS_INIT;
		struct down_service d = { 0 };

		if (sock && strcmp(sock, own_sock)) {
			fprintf(stderr,
				"stuurman down: the Podman service on %s does "
				"not answer: cannot remove the containers\n",
				sock);
			rc = 1;
			goto close;
		}
		so.data_dir = data;
		svc = podman_service_new(&loop, &so, &err);
		if (!svc ||
		    podman_service_start(svc, on_down_service, &d, &err)) {
			cli_print_diags(&err, stderr, 0);
			rc = 1;
			goto close;
		}
		while (!d.done && uv_run(&loop, UV_RUN_ONCE))
			;
		if (d.status) {
			rc = 1;
			goto close;
		}
		started_service = !podman_service_reused(svc);
		sock = podman_service_socket(svc);
		printf("%s the Podman service of %s to remove the containers\n",
		       started_service ? "started" : "reusing", data);
	}
	p = podman_new(&loop, sock);
	json_array_foreach (nodes, i, n) {
		const char *name = sm_json_get_str(n, "name");

		if (name && remove_node(&loop, p, name, &pods, &containers))
			rc = 1;
	}
	printf("removed %d pods and %d containers of %zu nodes\n", pods,
	       containers, json_array_size(nodes));
	if (volumes && remove_volumes(&loop, sock, &vols))
		rc = 1;
	else if (!volumes)
		printf("kept the claims' volumes (stuurman-pvc-*); --volumes "
		       "removes them\n");
	podman_free(p);
	p = NULL;
	if (svc && (started_service || stop_service)) {
		struct down_service d = { 0 };

		printf("stopping the Podman service of %s\n", data);
		if (!podman_service_stop(svc, on_down_service, &d, &err))
			while (!d.done && uv_run(&loop, UV_RUN_ONCE))
				;
	} else if (!svc && stop_service) {
		/* up died without stopping the service it had started. */
		struct podman_service_opts so = PODMAN_SERVICE_OPTS_INIT;
		struct down_service d = { 0 };

		so.data_dir = data;
		svc = podman_service_new(&loop, &so, &err);
		if (svc &&
		    !podman_service_stop(svc, on_down_service, &d, &err)) {
			printf("stopping the Podman service that up started\n");
			while (!d.done && uv_run(&loop, UV_RUN_ONCE))
				;
		}
	}
	if (!rc && recorded && unlink(state))
		fprintf(stderr, "stuurman down: cannot remove %s: %s\n", state,
			strerror(errno));
close:
	if (svc)
		podman_service_free(svc);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(own_sock);
out:
	json_decref(st);
	sm_buf_release(&b);
	sm_err_release(&err);
	free(state);
	free(data);
	return rc;
}
