/*
 * cmd_server.c: `stuurman server`, the control plane. It owns the
 * process's libuv loop and the signals that stop it.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "nodeagent/service.h"
#include "reconciler/server.h"
#include "reconciler/svcalloc.h"

#include "common/banned.h"

static const char server_help[] =
	"usage: stuurman server [--data DIR] [--listen ADDR:PORT] "
	"[--manifests DIR | --repo URL ...]\n"
	"\n"
	"Runs the control plane: the store, the Kubernetes-style API over\n"
	"HTTPS, the controllers and the scheduler. Agents join it with\n"
	"`stuurman agent --server URL --token-file DATA/pki/node-token\n"
	"--ca-file DATA/pki/ca.crt`; kubectl with DATA/pki/token.\n"
	"\n"
	"  --data DIR            data directory (default /var/lib/stuurman\n"
	"                        for root, ~/.local/share/stuurman "
	"otherwise),\n"
	"                        made 0700; keys and tokens in it are 0600\n"
	"  --listen ADDR:PORT    where the API listens (default "
	"127.0.0.1:6443)\n"
	"  --advertise ADDR      another name or address for the serving\n"
	"                        certificate (repeatable)\n"
	"  --manifests DIR       a folder of manifests to run, followed for\n"
	"                        changes; a set with errors is not applied\n"
	"  --node-grace S        silence after which a node is Unknown "
	"(default\n"
	"                        2; Kubernetes uses 40)\n"
	"  --eviction-timeout S  how long pods stay on an unreachable node\n"
	"                        (default 1; Kubernetes uses 300)\n"
	"  --wait-for-nodes N    apply the manifests once N nodes are Ready\n"
	"                        (at most 30 s later), so pods spread\n"
	"  --service-cidr CIDR   Services' virtual IPs (default "
	"10.96.0.0/16;\n"
	"                        .1 and .10 are reserved, .10 for the "
	"cluster DNS)\n"
	"\n"
	"GitOps (instead of --manifests):\n"
	"  --repo URL            follow a git repository: a path, file://,\n"
	"                        git://, https:// or ssh://; a commit with\n"
	"                        any error is not applied\n"
	"  --branch B            the branch (default: the remote's HEAD)\n"
	"  --revision REF        stay on a tag or commit instead\n"
	"  --path DIR            the folder of manifests in the repository\n"
	"  --interval S          poll every S seconds (default 30); a local\n"
	"                        repository is also watched, a forge can\n"
	"                        POST /hooks/git\n"
	"  --self-heal=BOOL      set drift back to git (default true); false\n"
	"                        only reports OutOfSync\n"
	"  --auto-rollback       a revision whose rollout is Degraded is\n"
	"                        marked bad and the last healthy one restored\n"
	"  --git-credentials-file F  \"user:token\" or an SSH key, read at\n"
	"                        each fetch, never logged\n"
	"  --webhook-secret-file F   the shared secret of forge webhooks\n"
	"                        (GitHub/Gitea HMAC, GitLab token)\n";

struct server_run {
	uv_loop_t *loop;
	struct server *server;
	uv_signal_t sigint, sigterm;
};

static void on_signal(uv_signal_t *h, int signum)
{
	struct server_run *r = h->data;

	sm_log(SM_LOG_INFO, "server", "stopping on %s", strsignal(signum));
	server_free(r->server);
	r->server = NULL;
	uv_close((uv_handle_t *)&r->sigint, NULL);
	uv_close((uv_handle_t *)&r->sigterm, NULL);
}

int cmd_server(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "advertise", required_argument, NULL, 'a' },
		{ "manifests", required_argument, NULL, 'm' },
		{ "node-grace", required_argument, NULL, 'g' },
		{ "eviction-timeout", required_argument, NULL, 'e' },
		{ "wait-for-nodes", required_argument, NULL, 'w' },
		{ "repo", required_argument, NULL, 'R' },
		{ "branch", required_argument, NULL, 'B' },
		{ "revision", required_argument, NULL, 'V' },
		{ "path", required_argument, NULL, 'P' },
		{ "interval", required_argument, NULL, 'I' },
		{ "self-heal", required_argument, NULL, 'H' },
		{ "auto-rollback", no_argument, NULL, 'A' },
		{ "git-credentials-file", required_argument, NULL, 'C' },
		{ "webhook-secret-file", required_argument, NULL, 'W' },
		{ "service-cidr", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct server_opts so = { .self_heal = true };
	struct server_run r = { 0 };
	struct sm_err err = SM_ERR_INIT;
	const char **adv = NULL;
	char *data = NULL;
	uv_loop_t loop;
	int opt, rc = 0;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			free(data);
			data = xstrdup(optarg);
			break;
		case 'l':
			so.listen = optarg;
			break;
		case 'a':
			adv = xrealloc(adv,
				       (so.nr_advertise + 1) * sizeof(*adv));
			adv[so.nr_advertise++] = optarg;
			break;
		case 'm':
			so.manifests_dir = optarg;
			break;
		case 'g':
			if (cli_parse_seconds(optarg, &so.node_grace_ms)) {
				rc = cli_usage_error("server",
						     "--node-grace: expected "
						     "seconds, got \"%s\"",
						     optarg);
				goto out;
			}
			break;
		case 'e':
			if (cli_parse_seconds(optarg, &so.pod_eviction_ms)) {
				rc = cli_usage_error(
					"server",
					"--eviction-timeout: expected seconds, "
					"got \"%s\"",
					optarg);
				goto out;
			}
			break;
		case 'w': {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (*end || n < 0 || n > 1000) {
				rc = cli_usage_error(
					"server",
					"--wait-for-nodes: expected a number "
					"of nodes, got \"%s\"",
					optarg);
				goto out;
			}
			so.wait_for_nodes = (unsigned)n;
			break;
		}
		case 'R':
			so.repo = optarg;
			break;
		case 'B':
			so.branch = optarg;
			break;
		case 'V':
			so.revision = optarg;
			break;
		case 'P':
			so.path = optarg;
			break;
		case 'I':
			if (cli_parse_seconds(optarg, &so.interval_ms) ||
			    !so.interval_ms) {
				rc = cli_usage_error("server",
						     "--interval: expected "
						     "seconds above 0, got "
						     "\"%s\"",
						     optarg);
				goto out;
			}
			break;
		case 'H':
			if (!strcmp(optarg, "true")) {
				so.self_heal = true;
			} else if (!strcmp(optarg, "false")) {
				so.self_heal = false;
			} else {
				rc = cli_usage_error("server",
						     "--self-heal: expected "
						     "true or false, got "
						     "\"%s\"",
						     optarg);
				goto out;
			}
			break;
		case 'A':
			so.auto_rollback = true;
			break;
		case 'C':
			so.credentials_file = optarg;
			break;
		case 'W':
			so.webhook_secret_file = optarg;
			break;
		case 'S': {
			uint32_t net;
			unsigned prefix;
			struct sm_err cerr = SM_ERR_INIT;

			if (svcalloc_parse_cidr(optarg, &net, &prefix, &cerr) <
			    0) {
				rc = cli_usage_error("server",
						     "--service-cidr: %s",
						     cerr.items[0].msg);
				sm_err_release(&cerr);
				goto out;
			}
			so.service_cidr = optarg;
			break;
		}
		case 'h':
			fputs(server_help, stdout);
			goto out;
		default:
			rc = cli_usage_error("server", "unknown option");
			goto out;
		}
	}
	if (optind < argc) {
		rc = cli_usage_error("server", "unexpected argument \"%s\"",
				     argv[optind]);
		goto out;
	}
	if (so.repo && so.manifests_dir) {
		rc = cli_usage_error("server",
				     "--manifests and --repo: give one source "
				     "of manifests");
		goto out;
	}
	if (!so.repo && (so.branch || so.revision || so.path)) {
		rc = cli_usage_error("server", "--branch, --revision and "
					       "--path need --repo");
		goto out;
	}
	if (!data && !(data = podman_service_default_data_dir(&err))) {
		cli_print_diags(&err, stderr, 0);
		rc = 1;
		goto out;
	}
	so.data_dir = data;
	so.advertise = adv;
	uv_loop_init(&loop);
	r.loop = &loop;
	if (server_start(&loop, &so, &r.server, &err) < 0) {
		fprintf(stderr, "stuurman server: cannot start\n");
		cli_print_diags(&err, stderr, 0);
		rc = 1;
	} else {
		uv_signal_init(&loop, &r.sigint);
		uv_signal_init(&loop, &r.sigterm);
		r.sigint.data = r.sigterm.data = &r;
		uv_signal_start(&r.sigint, on_signal, SIGINT);
		uv_signal_start(&r.sigterm, on_signal, SIGTERM);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop))
		sm_log(SM_LOG_WARN, "server", "handles left open at exit");
out:
	free(adv);
	free(data);
	sm_err_release(&err);
	return rc;
}
