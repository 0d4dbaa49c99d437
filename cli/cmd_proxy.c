/*
 * cmd_proxy.c: `stuurman proxy`, the service proxy of this machine (as
 * kube-proxy). It owns the process's libuv loop, the proxy and the signals
 * that stop it.
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
#include "nodeagent/service.h"
#include "nodeagent/svcproxy.h"
#include "reconciler/svcalloc.h"
#include "common/banned.h"

static const char proxy_help[] =
	"usage: stuurman proxy --server URL --token-file F --ca-file F\n"
	"                      [options]\n"
	"\n"
	"Runs the service proxy of this machine, as kube-proxy: every\n"
	"ClusterIP goes on lo and each TCP port of a Service listens there,\n"
	"NodePorts listen on 127.0.0.1 and on every Node's loopback\n"
	"InternalIP (LoadBalancer ports also on 127.0.0.1:PORT), and each\n"
	"client is forwarded to a ready endpoint, round-robin (or by client\n"
	"IP with sessionAffinity ClientIP), trying the next one when one\n"
	"refuses. UDP is not proxied. Needs root (addresses on lo). With the\n"
	"cluster DNS (dnsmasq), pods resolve Services by name.\n"
	"\n"
	"  --server URL          the API server (https://127.0.0.1:6443)\n"
	"  --token-file F        the node token (the server's DATA/pki/\n"
	"                        node-token)\n"
	"  --ca-file F           the server's CA (DATA/pki/ca.crt)\n"
	"  --data DIR            data directory; the DNS files go to\n"
	"                        DIR/proxy/dns (default /var/lib/stuurman\n"
	"                        for root)\n"
	"  --service-cidr CIDR   the Services' addresses (default\n"
	"                        10.96.0.0/16); addresses on lo inside it\n"
	"                        that no Service wants are removed\n"
	"  --cluster-dns IP      the cluster DNS address (default\n"
	"                        10.96.0.10)\n"
	"  --cluster-domain D    the cluster domain (default cluster.local)\n"
	"  --dns-port N          the DNS port (default 53)\n"
	"  --no-dns              run no cluster DNS\n"
	"  --nodeport-address ADDR\n"
	"                        NodePorts listen here too (repeatable)\n";

struct proxy_run {
	uv_loop_t *loop;
	struct svcproxy *sp;
	uv_signal_t sigint, sigterm;
	bool stopping;
};

/* Stops the proxy (it takes its addresses off lo) and the signals. */
static void stop(struct proxy_run *r)
{
	if (r->stopping)
		return;
	r->stopping = true;
	svcproxy_free(r->sp);
	r->sp = NULL;
	uv_close((uv_handle_t *)&r->sigint, NULL);
	uv_close((uv_handle_t *)&r->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct proxy_run *r = h->data;

	if (!r->stopping)
		sm_log(SM_LOG_INFO, "proxy", "stopping on %s",
		       strsignal(signum));
	stop(r);
}

int cmd_proxy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 'S' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "data", required_argument, NULL, 'd' },
		{ "service-cidr", required_argument, NULL, 'c' },
		{ "cluster-dns", required_argument, NULL, 'D' },
		{ "cluster-domain", required_argument, NULL, 'o' },
		{ "dns-port", required_argument, NULL, 'p' },
		{ "no-dns", no_argument, NULL, 'N' },
		{ "nodeport-address", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct proxy_run r = { 0 };
	struct svcproxy_config cfg = { 0 };
	struct sm_err err = SM_ERR_INIT;
	const char *token_file = NULL, *cidr = "10.96.0.0/16";
	uint32_t net = 0;
	unsigned prefix = 0;
	const char **np_addrs = NULL;
	size_t nr_np = 0;
	char *data = NULL, *token = NULL;
	bool no_dns = false;
	uv_loop_t loop;
	int opt, rc = 0;

	cfg.dns_ip = "10.96.0.10";
	cfg.dns_port = 53;
	cfg.domain = "cluster.local";
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'S':
			cfg.server = optarg;
			break;
		case 'T':
			token_file = optarg;
			break;
		case 'C':
			cfg.ca_file = optarg;
			break;
		case 'd':
			free(data);
			data = xstrdup(optarg);
			break;
		case 'c':
			cidr = optarg;
			break;
		case 'D':
			cfg.dns_ip = optarg;
			break;
		case 'o':
			cfg.domain = optarg;
			break;
		case 'p': {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (*end || end == optarg || n < 1 || n > 65535) {
				rc = cli_usage_error("proxy",
						     "--dns-port: expected a "
						     "port, got \"%s\"",
						     optarg);
				goto out;
			}
			cfg.dns_port = (int)n;
			break;
		}
		case 'N':
			no_dns = true;
			break;
		case 'a':
			np_addrs = xrealloc(np_addrs,
					    (nr_np + 1) * sizeof(*np_addrs));
			np_addrs[nr_np++] = optarg;
			break;
		case 'h':
			fputs(proxy_help, stdout);
			goto out;
		default:
			rc = cli_usage_error("proxy", "unknown option");
			goto out;
		}
	}
	if (optind < argc) {
		rc = cli_usage_error("proxy", "unexpected argument \"%s\"",
				     argv[optind]);
		goto out;
	}
	if (!cfg.server || !token_file || !cfg.ca_file) {
		rc = cli_usage_error("proxy", "--server URL, --token-file F "
					      "and --ca-file F are required");
		goto out;
	}
	/* The proxy removes unwanted /32s inside the range from lo: the
	 * server's own check first (its /12 to /28), then the exact form,
	 * and never loopback's own range. */
	if (svcalloc_parse_cidr(cidr, &net, &prefix, &err) ||
	    ipv4_cidr_parse(cidr, &cfg.plan.cidr, &err)) {
		rc = cli_usage_error("proxy", "--service-cidr %s",
				     err.items[err.nr - 1].msg);
		goto out;
	}
	if ((net >> 24) == 127) {
		rc = cli_usage_error("proxy",
				     "--service-cidr %s: expected a range "
				     "outside 127.0.0.0/8, as the server's "
				     "--service-cidr",
				     cidr);
		goto out;
	}
	if (cli_read_token("proxy", token_file, &token)) {
		rc = 1;
		goto out;
	}
	if (!data && !(data = podman_service_default_data_dir(&err))) {
		cli_print_diags(&err, stderr, 0);
		rc = 1;
		goto out;
	}
	cfg.token = token;
	cfg.data_dir = data;
	cfg.plan.nodeport_addrs = np_addrs;
	cfg.plan.nr_nodeport_addrs = nr_np;
	cfg.dns = no_dns ? NULL : &svcproxy_dns_clusterdns;
	uv_loop_init(&loop);
	r.loop = &loop;
	r.sp = svcproxy_new(&loop, &cfg, &err);
	if (!r.sp) {
		cli_print_diags(&err, stderr, 0);
		uv_loop_close(&loop);
		rc = 1;
		goto out;
	}
	uv_signal_init(&loop, &r.sigint);
	uv_signal_init(&loop, &r.sigterm);
	r.sigint.data = r.sigterm.data = &r;
	uv_signal_start(&r.sigint, on_signal, SIGINT);
	uv_signal_start(&r.sigterm, on_signal, SIGTERM);
	if (svcproxy_start(r.sp, &err)) {
		cli_print_diags(&err, stderr, 0);
		rc = 1;
		stop(&r);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop))
		sm_log(SM_LOG_WARN, "proxy", "the loop still had handles open");
out:
	sm_err_release(&err);
	free(np_addrs);
	free(data);
	free(token);
	return rc;
}
