/*
 * cmd_agent.c: `stuurman agent`, one node. It owns the process's libuv loop:
 * the agent, the Podman service it may start, and the signals that stop it.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "nodeagent/agent.h"
#include "nodeagent/registry.h"
#include "nodeagent/service.h"
#include "common/banned.h"

static const char agent_help[] =
	"usage: stuurman agent --node NAME --pod-manifests DIR [options]\n"
	"       stuurman agent --node NAME --server URL --token-file F\n"
	"                      --ca-file F --node-ip ADDR [options]\n"
	"\n"
	"Runs one node. With --pod-manifests, every Pod in DIR (ConfigMaps\n"
	"and Secrets there serve their references) becomes a Podman pod,\n"
	"restarted by its restartPolicy, probed, and reported in\n"
	"DATA/nodes/NAME/pods/; changes to DIR are followed. With --server,\n"
	"the node joins a control plane as a kubelet does: it registers its\n"
	"Node, heartbeats, runs the pods the server binds to it, writes\n"
	"their status, and serves its API over HTTPS to the server only.\n"
	"Stopping the agent leaves the pods running; started again, it\n"
	"adopts them.\n"
	"\n"
	"  --node NAME           the node's name (required)\n"
	"  --pod-manifests DIR   static pods, as kubelet's staticPodPath\n"
	"  --server URL          join the API server at URL\n"
	"                        (https://127.0.0.1:6443)\n"
	"  --token-file F        the node token (the server's DATA/pki/\n"
	"                        node-token)\n"
	"  --ca-file F           the server's CA (DATA/pki/ca.crt)\n"
	"  --heartbeat S         how often the Node's Ready condition is\n"
	"                        renewed (default 0.5; Kubernetes: 10)\n"
	"  --node-ip ADDR        the node's address: hostPorts, the node API\n"
	"                        and the Node's InternalIP (default\n"
	"                        127.0.0.1; nodes on one machine use\n"
	"                        127.0.1.1, 127.0.1.2, ...)\n"
	"  --podman-socket PATH  a running Podman service; without it the\n"
	"                        agent starts its own in DATA (and stops it)\n"
	"  --data DIR            data directory (default /var/lib/stuurman\n"
	"                        for root, ~/.local/share/stuurman otherwise)\n"
	"  --registry-insecure HOST:PORT\n"
	"                        a plain-HTTP registry on loopback "
	"(127.0.0.0/8\n"
	"                        or localhost) to pull images from, as\n"
	"                        127.0.0.1:5000/demo/app:1 (repeatable); "
	"other\n"
	"                        images must be in Podman's store\n"
	"  --api-listen ADDR:PORT\n"
	"                        the node's API (logs, pods, healthz); "
	"default\n"
	"                        NODE_IP:10250 as a kubelet, none to disable;\n"
	"                        HTTPS with the node token when joined\n"
	"  --backoff-initial S   first crash-loop delay in seconds (default "
	"1)\n"
	"  --backoff-max S       longest crash-loop delay (default 60;\n"
	"                        Kubernetes uses 10 and 300)\n"
	"  --cpu N --memory Q --max-pods N\n"
	"                        the node's capacity and allocatable in its\n"
	"                        Node (default: the machine's CPUs and\n"
	"                        memory, 110 pods)\n"
	"  --pod-network NAME    the Podman network pods join (default\n"
	"                        " AGENT_POD_NETWORK "; made when missing)\n"
	"  --pod-subnet CIDR     its subnet when the agent makes it (default\n"
	"                        " AGENT_POD_SUBNET ", gateway its first "
	"address)\n"
	"  --cluster-dns IP      the cluster DNS server pods with dnsPolicy\n"
	"                        ClusterFirst use (e.g. 10.96.0.10); without\n"
	"                        it pods get the host's resolv.conf\n"
	"  --cluster-domain D    the cluster's DNS domain (default\n"
	"                        cluster.local)\n"
	"  --drain-delay S       joined: a deleted pod that was a ready\n"
	"                        endpoint runs S seconds more once it left\n"
	"                        the EndpointSlices, before its SIGTERM\n"
	"                        (default 1; 0: none)\n";

struct agent_run {
	uv_loop_t *loop;
	struct agent *agent;
	struct podman_service *service;
	struct agent_config cfg;
	uv_signal_t sigint, sigterm;
	int status;
	bool stopping;
};

static void close_signals(struct agent_run *r)
{
	uv_close((uv_handle_t *)&r->sigint, NULL);
	uv_close((uv_handle_t *)&r->sigterm, NULL);
}

static void service_stopped(struct podman_service *s, int status,
			    const struct sm_err *err, void *ctx)
{
	podman_service_free(s);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct agent_run *r = h->data;
	struct sm_err err = SM_ERR_INIT;

	if (r->stopping)
		return;
	r->stopping = true;
	sm_log(SM_LOG_INFO, "agent", "stopping on %s; pods keep running",
	       strsignal(signum));
	agent_free(r->agent);
	r->agent = NULL;
	/* A service this agent started goes with it; a reused one stays. */
	if (r->service && !podman_service_reused(r->service)) {
		if (podman_service_stop(r->service, service_stopped, r, &err))
			podman_service_free(r->service);
	} else if (r->service) {
		podman_service_free(r->service);
	}
	r->service = NULL;
	sm_err_release(&err);
	close_signals(r);
}

static void run_agent(struct agent_run *r)
{
	struct sm_err err = SM_ERR_INIT;

	r->agent = agent_new(r->loop, &r->cfg, &err);
	if (!r->agent) {
		cli_print_diags(&err, stderr, 0);
		r->status = 1;
		sm_err_release(&err);
		on_signal(&r->sigterm, SIGTERM);
		return;
	}
	if (agent_start(r->agent)) {
		r->status = 1;
		on_signal(&r->sigterm, SIGTERM);
	}
}

static void service_ready(struct podman_service *s, int status,
			  const struct sm_err *err, void *ctx)
{
	struct agent_run *r = ctx;

	if (status) {
		struct sm_err copy = SM_ERR_INIT;

		fprintf(stderr, "stuurman agent: the Podman service did not "
				"start\n");
		for (size_t i = 0; i < err->nr; i++)
			sm_err_add(&copy, err->items[i].severity, NULL, "%s",
				   err->items[i].msg);
		cli_print_diags(&copy, stderr, 0);
		sm_err_release(&copy);
		r->status = 1;
		on_signal(&r->sigterm, SIGTERM);
		return;
	}
	r->cfg.podman_socket = podman_service_socket(s);
	run_agent(r);
}

int cmd_agent(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "node", required_argument, NULL, 'n' },
		{ "pod-manifests", required_argument, NULL, 'p' },
		{ "node-ip", required_argument, NULL, 'i' },
		{ "podman-socket", required_argument, NULL, 's' },
		{ "data", required_argument, NULL, 'd' },
		{ "registry-insecure", required_argument, NULL, 'r' },
		{ "api-listen", required_argument, NULL, 'a' },
		{ "backoff-initial", required_argument, NULL, 'b' },
		{ "backoff-max", required_argument, NULL, 'B' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'm' },
		{ "max-pods", required_argument, NULL, 'P' },
		{ "server", required_argument, NULL, 'S' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "heartbeat", required_argument, NULL, 'H' },
		{ "pod-network", required_argument, NULL, 'N' },
		{ "pod-subnet", required_argument, NULL, 'U' },
		{ "cluster-dns", required_argument, NULL, 'D' },
		{ "cluster-domain", required_argument, NULL, 'O' },
		{ "drain-delay", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent_run r = { 0 };
	struct backoff b = BACKOFF_INIT;
	struct sm_err err = SM_ERR_INIT;
	char *data = NULL, *token = NULL;
	const char *token_file = NULL;
	const char **registries = NULL;
	size_t nr_registries = 0;
	uv_loop_t loop;
	int opt, rc = 0;

	r.cfg.backoff = b;
	r.cfg.drain_delay_ms = 1000;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			r.cfg.node = optarg;
			break;
		case 'p':
			r.cfg.pod_manifests = optarg;
			break;
		case 'i':
			r.cfg.node_ip = optarg;
			break;
		case 's':
			r.cfg.podman_socket = optarg;
			break;
		case 'd':
			free(data);
			data = xstrdup(optarg);
			break;
		case 'a':
			r.cfg.api_listen = optarg;
			break;
		case 'r':
			/* The network rule: loopback only, refused up front. */
			if (registry_check_insecure(optarg, &err)) {
				rc = cli_usage_error("agent",
						     "--registry-insecure %s",
						     err.items[0].msg);
				goto out;
			}
			registries = xrealloc(registries,
					      (nr_registries + 1) *
						      sizeof(*registries));
			registries[nr_registries++] = optarg;
			break;
		case 'b':
			if (cli_parse_seconds(optarg,
					      &r.cfg.backoff.initial_ms)) {
				rc = cli_usage_error("agent",
						     "--backoff-initial: "
						     "expected seconds, got "
						     "\"%s\"",
						     optarg);
				goto out;
			}
			break;
		case 'B':
			if (cli_parse_seconds(optarg, &r.cfg.backoff.max_ms)) {
				rc = cli_usage_error("agent",
						     "--backoff-max: expected "
						     "seconds, got \"%s\"",
						     optarg);
				goto out;
			}
			break;
		case 'c':
			r.cfg.cpu = optarg;
			break;
		case 'm':
			r.cfg.memory = optarg;
			break;
		case 'P':
			r.cfg.max_pods = optarg;
			break;
		case 'S':
			r.cfg.server = optarg;
			break;
		case 'T':
			token_file = optarg;
			break;
		case 'C':
			r.cfg.ca_file = optarg;
			break;
		case 'H':
			if (cli_parse_seconds(optarg, &r.cfg.heartbeat_ms) ||
			    !r.cfg.heartbeat_ms) {
				rc = cli_usage_error("agent",
						     "--heartbeat: expected "
						     "seconds, got \"%s\"",
						     optarg);
				goto out;
			}
			break;
		case 'N':
			r.cfg.pod_network = optarg;
			break;
		case 'U':
			r.cfg.pod_subnet = optarg;
			break;
		case 'D':
			r.cfg.cluster_dns = optarg;
			break;
		case 'O':
			r.cfg.cluster_domain = optarg;
			break;
		case 'R':
			if (cli_parse_seconds(optarg, &r.cfg.drain_delay_ms)) {
				rc = cli_usage_error("agent",
						     "--drain-delay: expected "
						     "seconds, got \"%s\"",
						     optarg);
				goto out;
			}
			break;
		case 'h':
			fputs(agent_help, stdout);
			goto out;
		default:
			rc = cli_usage_error("agent", "unknown option");
			goto out;
		}
	}
	if (!r.cfg.node || (!r.cfg.pod_manifests == !r.cfg.server)) {
		rc = cli_usage_error("agent",
				     "--node NAME and either --pod-manifests "
				     "DIR or --server URL are required");
		goto out;
	}
	if (r.cfg.server) {
		if (!token_file || !r.cfg.ca_file || !r.cfg.node_ip) {
			rc = cli_usage_error("agent",
					     "--server needs --token-file F, "
					     "--ca-file F and --node-ip ADDR");
			goto out;
		}
		if (cli_read_token("agent", token_file, &token)) {
			rc = 1;
			goto out;
		}
		r.cfg.token = token;
	}
	if (!data && !(data = podman_service_default_data_dir(&err))) {
		cli_print_diags(&err, stderr, 0);
		rc = 1;
		goto out;
	}
	r.cfg.registries_insecure = registries;
	r.cfg.nr_registries_insecure = nr_registries;
	r.cfg.data_dir = data;
	uv_loop_init(&loop);
	r.loop = &loop;
	uv_signal_init(&loop, &r.sigint);
	uv_signal_init(&loop, &r.sigterm);
	r.sigint.data = r.sigterm.data = &r;
	uv_signal_start(&r.sigint, on_signal, SIGINT);
	uv_signal_start(&r.sigterm, on_signal, SIGTERM);
	if (r.cfg.podman_socket) {
		run_agent(&r);
	} else {
		struct podman_service_opts so = PODMAN_SERVICE_OPTS_INIT;

		so.data_dir = data;
		r.service = podman_service_new(&loop, &so, &err);
		if (!r.service ||
		    podman_service_start(r.service, service_ready, &r, &err)) {
			cli_print_diags(&err, stderr, 0);
			r.status = 1;
			if (r.service)
				podman_service_free(r.service);
			r.service = NULL;
			close_signals(&r);
		}
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop))
		sm_log(SM_LOG_WARN, "agent", "the loop still had handles open");
	rc = r.status;
out:
	sm_err_release(&err);
	free(registries);
	free(data);
	free(token);
	return rc;
}
