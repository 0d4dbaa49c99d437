/*
 * cmd_kube.c: `stuurman get` and `stuurman delete pod`, a minimal client of
 * the API server with kubectl's columns. Short-lived, so each call blocks
 * on a loop of its own (kubecli_call()).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cli/cli.h"
#include "cli/kubeclient.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "nodeagent/service.h"
#include "common/banned.h"

enum get_output { GET_TABLE, GET_WIDE, GET_JSON, GET_YAML };

/* One printed table: a header row and rows of cells, aligned at the end. */
struct table {
	char **cells;
	size_t nr, alloc;
	size_t cols;
};

static void table_add(struct table *t, const char *cell)
{
	if (t->nr == t->alloc) {
		t->alloc = t->alloc ? 2 * t->alloc : 64;
		t->cells = xrealloc(t->cells, t->alloc * sizeof(*t->cells));
	}
	t->cells[t->nr++] = xstrdup(cell ? cell : "<none>");
}

static void table_addf(struct table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void table_addf(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	table_add(t, s);
	free(s);
}

/* Prints with three spaces between columns, as kubectl does. */
static void table_print(struct table *t, FILE *out)
{
	size_t *w = xcalloc(t->cols, sizeof(*w));

	for (size_t i = 0; i < t->nr; i++) {
		size_t n = strlen(t->cells[i]);

		if (n > w[i % t->cols])
			w[i % t->cols] = n;
	}
	for (size_t i = 0; i < t->nr; i++) {
		size_t c = i % t->cols;

		if (c + 1 == t->cols)
			fprintf(out, "%s\n", t->cells[i]);
		else
			fprintf(out, "%-*s   ", (int)w[c], t->cells[i]);
	}
	for (size_t i = 0; i < t->nr; i++)
		free(t->cells[i]);
	free(t->cells);
	free(w);
}

static void add_age(struct table *t, const json_t *obj)
{
	time_t created;
	char age[32];

	if (kubecli_parse_time(sm_json_get_str(json_object_get(obj, "metadata"),
					       "creationTimestamp"),
			       &created)) {
		table_add(t, "<unknown>");
		return;
	}
	kubecli_human_age((int64_t)(time(NULL) - created), age, sizeof(age));
	table_add(t, age);
}

static json_int_t int_at(const json_t *obj, const char *path)
{
	return json_integer_value(sm_json_get_path(obj, path));
}

static const char *str_at(const json_t *obj, const char *path)
{
	return json_string_value(sm_json_get_path(obj, path));
}

/* The status column of a pod, as kubectl works it out (in short). */
static const char *pod_status(const json_t *pod)
{
	const char *reason = str_at(pod, "status.reason");
	json_t *cs = sm_json_get_path(pod, "status.containerStatuses"), *c;
	const char *status = str_at(pod, "status.phase");
	size_t i;

	if (reason)
		status = reason;
	json_array_foreach (cs, i, c) {
		const char *w = str_at(c, "state.waiting.reason");
		const char *t = str_at(c, "state.terminated.reason");

		if (w && *w)
			status = w;
		else if (t && *t && !json_is_true(json_object_get(c, "ready")))
			status = t;
	}
	if (str_at(pod, "metadata.deletionTimestamp"))
		status = "Terminating";
	return status ? status : "Pending";
}

static void row_pod(struct table *t, const json_t *o, bool wide)
{
	json_t *cs = sm_json_get_path(o, "status.containerStatuses"), *c;
	size_t i,
		total = json_array_size(sm_json_get_path(o, "spec.containers")),
		ready = 0;
	json_int_t restarts = 0;

	json_array_foreach (cs, i, c) {
		if (json_is_true(json_object_get(c, "ready")))
			ready++;
		restarts +=
			json_integer_value(json_object_get(c, "restartCount"));
	}
	table_addf(t, "%zu/%zu", ready, total);
	table_add(t, pod_status(o));
	table_addf(t, "%" JSON_INTEGER_FORMAT, restarts);
	add_age(t, o);
	if (wide) {
		table_add(t, str_at(o, "status.podIP"));
		table_add(t, str_at(o, "spec.nodeName"));
	}
}

static void row_deployment(struct table *t, const json_t *o, bool wide)
{
	table_addf(t, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
		   int_at(o, "status.readyReplicas"),
		   int_at(o, "spec.replicas"));
	table_addf(t, "%" JSON_INTEGER_FORMAT,
		   int_at(o, "status.updatedReplicas"));
	table_addf(t, "%" JSON_INTEGER_FORMAT,
		   int_at(o, "status.availableReplicas"));
	add_age(t, o);
	if (wide) {
		json_t *cs = sm_json_get_path(o,
					      "spec.template.spec.containers"),
		       *c;
		struct sm_buf names = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		struct sm_buf images = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		size_t i;

		json_array_foreach (cs, i, c) {
			sm_buf_addf(&names, "%s%s", i ? "," : "",
				    sm_json_get_str(c, "name"));
			sm_buf_addf(&images, "%s%s", i ? "," : "",
				    sm_json_get_str(c, "image"));
		}
		table_add(t, sm_buf_cstr(&names));
		table_add(t, sm_buf_cstr(&images));
		sm_buf_release(&names);
		sm_buf_release(&images);
	}
}

static void row_replicaset(struct table *t, const json_t *o, bool wide)
{
	table_addf(t, "%" JSON_INTEGER_FORMAT, int_at(o, "spec.replicas"));
	table_addf(t, "%" JSON_INTEGER_FORMAT, int_at(o, "status.replicas"));
	table_addf(t, "%" JSON_INTEGER_FORMAT,
		   int_at(o, "status.readyReplicas"));
	add_age(t, o);
}

static void row_statefulset(struct table *t, const json_t *o, bool wide)
{
	table_addf(t, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
		   int_at(o, "status.readyReplicas"),
		   int_at(o, "spec.replicas"));
	add_age(t, o);
}

static void row_service(struct table *t, const json_t *o, bool wide)
{
	json_t *ports = sm_json_get_path(o, "spec.ports"), *p;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *type = str_at(o, "spec.type");
	size_t i;

	table_add(t, type ? type : "ClusterIP");
	table_add(t, str_at(o, "spec.clusterIP"));
	table_add(t, "<none>");
	json_array_foreach (ports, i, p) {
		json_int_t np =
			json_integer_value(json_object_get(p, "nodePort"));
		const char *proto = sm_json_get_str(p, "protocol");

		sm_buf_addf(&b, "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
			    json_integer_value(json_object_get(p, "port")));
		if (np)
			sm_buf_addf(&b, ":%" JSON_INTEGER_FORMAT, np);
		sm_buf_addf(&b, "/%s", proto ? proto : "TCP");
	}
	table_add(t, b.len ? sm_buf_cstr(&b) : "<none>");
	sm_buf_release(&b);
	add_age(t, o);
}

static void row_node(struct table *t, const json_t *o, bool wide)
{
	json_t *conds = sm_json_get_path(o, "status.conditions"), *c;
	json_t *addrs = sm_json_get_path(o, "status.addresses");
	const char *ready = "Unknown", *ip = NULL;
	struct sm_buf st = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	size_t i;

	json_array_foreach (conds, i, c) {
		const char *type = sm_json_get_str(c, "type");

		if (type && !strcmp(type, "Ready")) {
			const char *s = sm_json_get_str(c, "status");

			ready = s && !strcmp(s, "True")	   ? "Ready"
				: s && !strcmp(s, "False") ? "NotReady"
							   : "Unknown";
		}
	}
	sm_buf_adds(&st, ready);
	if (json_is_true(sm_json_get_path(o, "spec.unschedulable")))
		sm_buf_adds(&st, ",SchedulingDisabled");
	table_add(t, sm_buf_cstr(&st));
	sm_buf_release(&st);
	table_add(t, "<none>");
	add_age(t, o);
	table_add(t, str_at(o, "status.nodeInfo.kubeletVersion"));
	if (wide) {
		json_array_foreach (addrs, i, c) {
			const char *type = sm_json_get_str(c, "type");

			if (type && !strcmp(type, "InternalIP")) {
				ip = sm_json_get_str(c, "address");
				break;
			}
		}
		table_add(t, ip);
	}
}

/* The kinds `get` knows: where they live and their columns. */
struct resource {
	const char *name; /* plural, as in the URL */
	const char *aliases; /* space-separated, with spaces around */
	const char *prefix; /* "/api/v1" or "/apis/apps/v1" */
	bool namespaced;
	const char *columns, *wide_columns; /* after NAME, tab-separated */
	void (*row)(struct table *t, const json_t *o, bool wide);
};

static const struct resource resources[] = {
	{ "pods", " pod po ", "/api/v1", true, "READY\tSTATUS\tRESTARTS\tAGE",
	  "IP\tNODE", row_pod },
	{ "deployments", " deployment deploy ", "/apis/apps/v1", true,
	  "READY\tUP-TO-DATE\tAVAILABLE\tAGE", "CONTAINERS\tIMAGES",
	  row_deployment },
	{ "replicasets", " replicaset rs ", "/apis/apps/v1", true,
	  "DESIRED\tCURRENT\tREADY\tAGE", "", row_replicaset },
	{ "statefulsets", " statefulset sts ", "/apis/apps/v1", true,
	  "READY\tAGE", "", row_statefulset },
	{ "services", " service svc ", "/api/v1", true,
	  "TYPE\tCLUSTER-IP\tEXTERNAL-IP\tPORT(S)\tAGE", "", row_service },
	{ "nodes", " node no ", "/api/v1", false, "STATUS\tROLES\tAGE\tVERSION",
	  "INTERNAL-IP", row_node },
};

static const struct resource *find_resource(const char *name)
{
	char *key = xasprintf(" %s ", name);
	const struct resource *found = NULL;

	for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++)
		if (!strcmp(resources[i].name, name) ||
		    strstr(resources[i].aliases, key))
			found = &resources[i];
	free(key);
	return found;
}

static void add_header(struct table *t, const char *cols)
{
	char *copy = xstrdup(cols), *save = NULL, *tok;

	for (tok = strtok_r(copy, "\t", &save); tok;
	     tok = strtok_r(NULL, "\t", &save))
		table_add(t, tok);
	free(copy);
}

static size_t count_cols(const char *cols)
{
	size_t n = *cols ? 1 : 0;

	for (; *cols; cols++)
		n += *cols == '\t';
	return n;
}

static const char kube_opts_help[] =
	"  --kubeconfig FILE     the kubeconfig to use (default: "
	"DATA/kubeconfig\n"
	"                        with --data, else $KUBECONFIG, else\n"
	"                        DATA/kubeconfig of the default data dir)\n"
	"  --data DIR            the data dir of `stuurman up`\n"
	"  -n, --namespace NS    the namespace (default: the context's)\n";

static const char *const get_help[2] = {
	"usage: stuurman get RESOURCE [NAME] [-n NS | -A] [-o wide|json|yaml]\n"
	"\n"
	"Shows objects of the API server with kubectl's columns. RESOURCE is\n"
	"one of pods (po), deployments (deploy), replicasets (rs),\n"
	"statefulsets (sts), services (svc) or nodes (no).\n"
	"\n",
	"  -A, --all-namespaces  every namespace (a NAMESPACE column first)\n"
	"  -o, --output FORMAT   wide (more columns: a pod's IP and node, a\n"
	"                        node's INTERNAL-IP), json or yaml\n"
	"\n"
	"Exit status: 0 shown, 1 failed (not found, no server), 2 usage.\n",
};

static const char *const delete_help[2] = {
	"usage: stuurman delete pod NAME... [-n NS]\n"
	"\n"
	"Deletes pods, gracefully: the pod's node stops its containers and\n"
	"its controller (ReplicaSet, StatefulSet) makes a replacement.\n"
	"\n",
	"\n"
	"Exit status: 0 deleted, 1 failed (not found, no server), 2 usage.\n",
};

struct kube_args {
	const char *kubeconfig, *data, *ns;
	bool all_ns;
	enum get_output output;
};

/* Parses the options get and delete share; -1 on --help, else 0 or 2. */
static int parse_kube_args(int argc, char **argv, const char *cmd,
			   const char *const help[2], struct kube_args *a)
{
	static const struct option opts[] = {
		{ "kubeconfig", required_argument, NULL, 'k' },
		{ "data", required_argument, NULL, 'd' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "all-namespaces", no_argument, NULL, 'A' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool is_get = !strcmp(cmd, "get");
	int opt;

	while ((opt = getopt_long(argc, argv, is_get ? "hn:Ao:" : "hn:", opts,
				  NULL)) != -1) {
		switch (opt) {
		case 'k':
			a->kubeconfig = optarg;
			break;
		case 'd':
			a->data = optarg;
			break;
		case 'n':
			a->ns = optarg;
			break;
		case 'A':
			if (!is_get)
				return cli_usage_error(cmd, "unknown option "
							    "--all-namespaces");
			a->all_ns = true;
			break;
		case 'o':
			if (!is_get)
				return cli_usage_error(
					cmd, "unknown option --output");
			if (!strcmp(optarg, "wide"))
				a->output = GET_WIDE;
			else if (!strcmp(optarg, "json"))
				a->output = GET_JSON;
			else if (!strcmp(optarg, "yaml"))
				a->output = GET_YAML;
			else
				return cli_usage_error(
					cmd,
					"--output: expected "
					"wide, json or yaml, got "
					"\"%s\"",
					optarg);
			break;
		case 'h':
			fputs(help[0], stdout);
			fputs(kube_opts_help, stdout);
			fputs(help[1], stdout);
			return -1;
		default:
			return cli_usage_error(cmd, "unknown option");
		}
	}
	if (a->all_ns && a->ns)
		return cli_usage_error(cmd, "-n and -A exclude each other");
	return 0;
}

struct kubecli *cli_open_client(uv_loop_t *loop, const char *cmd,
				const char *kubeconfig, const char *data,
				struct kubeconfig *kc)
{
	struct sm_err err = SM_ERR_INIT;
	struct kubecli *c = NULL;
	char *def = NULL, *path;

	if (!kubeconfig && !data && !getenv("KUBECONFIG"))
		def = podman_service_default_data_dir(&err);
	path = kubeconfig_path(kubeconfig, data, def);
	if (!path)
		sm_error(&err, NULL,
			 "no kubeconfig: pass --kubeconfig FILE or --data DIR");
	else if (!kubeconfig_load(path, kc, &err))
		c = kubecli_new(loop, kc, &err);
	if (!c) {
		fprintf(stderr, "stuurman %s: ", cmd);
		cli_print_diags(&err, stderr, 0);
		if (path && !kubeconfig && !data)
			fprintf(stderr,
				"stuurman %s: is `stuurman up` "
				"running? It writes DATA/kubeconfig\n",
				cmd);
	}
	sm_err_release(&err);
	free(def);
	free(path);
	return c;
}

/* A client for the args' kubeconfig on loop, or NULL (message printed). */
static struct kubecli *open_client(uv_loop_t *loop, const char *cmd,
				   struct kube_args *a, struct kubeconfig *kc)
{
	struct kubecli *c =
		cli_open_client(loop, cmd, a->kubeconfig, a->data, kc);

	if (c && !a->ns)
		a->ns = kc->namespace;
	return c;
}

static void close_loop(uv_loop_t *loop, struct kubecli *c)
{
	kubecli_free(c);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
}

/* Prints the failure of a call; returns 1. */
static int call_failed(const char *cmd, int status, const json_t *body,
		       struct sm_err *err)
{
	const char *msg = kubecli_status_message(body);

	if (status < 0)
		cli_print_diags(err, stderr, 0);
	else
		fprintf(stderr, "Error from server: %s (%d)\n",
			msg ? msg : "unexpected answer", status);
	return 1;
}

static int print_objects(const struct resource *res, const json_t *list,
			 bool single, const struct kube_args *a)
{
	bool wide = a->output == GET_WIDE, with_ns = a->all_ns;
	struct table t = { 0 };
	json_t *items, *o;
	size_t i;

	if (a->output == GET_JSON || a->output == GET_YAML) {
		struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		if (a->output == GET_YAML) {
			sm_json_to_yaml(list, &b);
			fputs(sm_buf_cstr(&b), stdout);
		} else {
			char *s = json_dumps(list, JSON_INDENT(4) |
							   JSON_PRESERVE_ORDER);

			puts(s);
			free(s);
		}
		sm_buf_release(&b);
		return 0;
	}
	items = single ? NULL : json_object_get(list, "items");
	if (!single && !json_array_size(items)) {
		if (res->namespaced && !a->all_ns)
			fprintf(stderr, "No resources found in %s namespace.\n",
				a->ns);
		else
			fputs("No resources found\n", stderr);
		return 0;
	}
	t.cols = (with_ns ? 1 : 0) + 1 + count_cols(res->columns) +
		 (wide ? count_cols(res->wide_columns) : 0);
	if (with_ns)
		table_add(&t, "NAMESPACE");
	table_add(&t, "NAME");
	add_header(&t, res->columns);
	if (wide)
		add_header(&t, res->wide_columns);
	for (i = 0; single ? i < 1 : i < json_array_size(items); i++) {
		o = single ? (json_t *)list : json_array_get(items, i);
		if (with_ns)
			table_add(&t, str_at(o, "metadata.namespace"));
		table_add(&t, str_at(o, "metadata.name"));
		res->row(&t, o, wide);
	}
	table_print(&t, stdout);
	return 0;
}

int cmd_get(int argc, char **argv)
{
	struct kube_args a = { 0 };
	struct kubeconfig kc = KUBECONFIG_INIT;
	struct sm_err err = SM_ERR_INIT;
	const struct resource *res;
	struct kubecli *c;
	json_t *body = NULL;
	const char *name = NULL;
	char *path;
	uv_loop_t loop;
	int r, rc;

	r = parse_kube_args(argc, argv, "get", get_help, &a);
	if (r)
		return r < 0 ? 0 : r;
	if (optind >= argc)
		return cli_usage_error("get", "which resource? pods, "
					      "deployments, replicasets, "
					      "statefulsets, services or "
					      "nodes");
	res = find_resource(argv[optind]);
	if (!res)
		return cli_usage_error(
			"get",
			"unknown resource \"%s\": expected pods, "
			"deployments, replicasets, "
			"statefulsets, services or nodes",
			argv[optind]);
	if (optind + 1 < argc)
		name = argv[optind + 1];
	if (optind + 2 < argc)
		return cli_usage_error("get", "unexpected argument \"%s\"",
				       argv[optind + 2]);
	if (name && a.all_ns)
		return cli_usage_error("get", "a NAME and -A exclude each "
					      "other");
	uv_loop_init(&loop);
	c = open_client(&loop, "get", &a, &kc);
	if (!c) {
		close_loop(&loop, NULL);
		kubeconfig_release(&kc);
		return 1;
	}
	if (!res->namespaced || a.all_ns)
		path = xasprintf("%s/%s%s%s", res->prefix, res->name,
				 name ? "/" : "", name ? name : "");
	else
		path = xasprintf("%s/namespaces/%s/%s%s%s", res->prefix, a.ns,
				 res->name, name ? "/" : "", name ? name : "");
	r = kubecli_call(c, "GET", path, NULL, NULL, &body, &err);
	if (r == 200 && body)
		rc = print_objects(res, body, name != NULL, &a);
	else
		rc = call_failed("get", r, body, &err);
	json_decref(body);
	free(path);
	sm_err_release(&err);
	close_loop(&loop, c);
	kubeconfig_release(&kc);
	return rc;
}

int cmd_delete(int argc, char **argv)
{
	struct kube_args a = { 0 };
	struct kubeconfig kc = KUBECONFIG_INIT;
	const struct resource *res;
	struct kubecli *c;
	uv_loop_t loop;
	int r, rc = 0;

	r = parse_kube_args(argc, argv, "delete", delete_help, &a);
	if (r)
		return r < 0 ? 0 : r;
	if (optind >= argc)
		return cli_usage_error("delete", "expected pod NAME...");
	res = find_resource(argv[optind]);
	if (!res || strcmp(res->name, "pods"))
		return cli_usage_error("delete",
				       "only pods can be deleted in this "
				       "version, not \"%s\"",
				       argv[optind]);
	if (optind + 1 >= argc)
		return cli_usage_error("delete", "which pod? expected a NAME");
	uv_loop_init(&loop);
	c = open_client(&loop, "delete", &a, &kc);
	if (!c) {
		close_loop(&loop, NULL);
		kubeconfig_release(&kc);
		return 1;
	}
	for (int i = optind + 1; i < argc; i++) {
		struct sm_err err = SM_ERR_INIT;
		json_t *body = NULL;
		char *path = xasprintf("/api/v1/namespaces/%s/pods/%s", a.ns,
				       argv[i]);

		r = kubecli_call(c, "DELETE", path, NULL, NULL, &body, &err);
		if (r == 200 || r == 202)
			printf("pod \"%s\" deleted\n", argv[i]);
		else
			rc = call_failed("delete", r, body, &err);
		json_decref(body);
		free(path);
		sm_err_release(&err);
	}
	close_loop(&loop, c);
	kubeconfig_release(&kc);
	return rc;
}
