/* Tests for nodeagent/podspec.c: a Pod as Podman specs and volume files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"
#include "manifests/kinds.h"
#include "manifests/parse.h"
#include "nodeagent/podspec.h"
#include "common/banned.h"

/* Parses and canonicalizes one object, as the agent gets them. */
static json_t *object(const char *yaml)
{
	struct mf_file f = MF_FILE_INIT;
	struct sm_err err = SM_ERR_INIT;
	struct mf_check_opts opts = { false };
	const struct mf_kind *kind;
	json_t *obj;

	assert_int_equal(
		mf_parse_buffer(&f, "t.yaml", yaml, strlen(yaml), NULL, &err),
		0);
	assert_int_equal(mf_object_check(f.docs[0].root, &f.docs[0], "",
					 "t.yaml", &opts, &kind, &err),
			 MF_CHECK_OK);
	obj = json_incref(f.docs[0].root);
	mf_file_release(&f);
	sm_err_release(&err);
	return obj;
}

static json_t *configmap, *secret;

static const json_t *lookup(void *ctx, const char *kind, const char *ns,
			    const char *name)
{
	const json_t *o = !strcmp(kind, "Secret") ? secret : configmap;

	if (strcmp(ns, "default") ||
	    strcmp(sm_json_get_str(json_object_get(o, "metadata"), "name"),
		   name))
		return NULL;
	return o;
}

static struct podspec_ctx ctx = {
	.node = "node-1",
	.node_ip = "127.0.1.1",
	.pod_ip = "10.88.0.7",
	.volume_dir = "/data/pods/u1/volumes",
	.lookup = lookup,
};

static int setup(void **state)
{
	configmap =
		object("apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		       "  name: cfg\ndata:\n  GREETING: hallo\n"
		       "  bad-name: x\n  9lives: x\n  app.conf: |\n    a=1\n");
	secret = object("apiVersion: v1\nkind: Secret\nmetadata:\n"
			"  name: sec\nstringData:\n  password: hunter2\n");
	return 0;
}

static int teardown(void **state)
{
	json_decref(configmap);
	json_decref(secret);
	return 0;
}

static const char pod_yaml[] =
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"
	"  uid: u1\nspec:\n"
	"  volumes:\n  - name: cache\n    emptyDir: {}\n"
	"  - name: conf\n    configMap:\n      name: cfg\n"
	"      items:\n      - key: app.conf\n        path: etc/app.conf\n"
	"  - name: creds\n    secret:\n      secretName: sec\n"
	"      defaultMode: 0644\n"
	"  - name: data\n    persistentVolumeClaim:\n      claimName: kv\n"
	"  containers:\n  - name: main\n    image: app:1\n"
	"    command: [sh, -c]\n    args: ['echo $(GREETING) $(NAME)']\n"
	"    ports:\n    - containerPort: 8080\n      hostPort: 30080\n"
	"    - containerPort: 53\n      protocol: UDP\n"
	"    env:\n    - name: NAME\n      valueFrom:\n        fieldRef:\n"
	"          fieldPath: metadata.name\n"
	"    - name: IP\n      valueFrom:\n        fieldRef:\n"
	"          fieldPath: status.podIP\n"
	"    - name: PASSWORD\n      valueFrom:\n        secretKeyRef:\n"
	"          name: sec\n          key: password\n"
	"    - name: BOTH\n      value: $(NAME)-$(IP)-$$(NAME)-$(NOPE)\n"
	"    envFrom:\n    - configMapRef:\n        name: cfg\n"
	"      prefix: CM_\n"
	"    - configMapRef:\n        name: cfg\n"
	"    volumeMounts:\n    - name: cache\n      mountPath: /cache\n"
	"    - name: conf\n      mountPath: /etc/conf\n"
	"    - name: data\n      mountPath: /data\n      readOnly: true\n"
	"    - name: creds\n      mountPath: /etc/creds/pw\n"
	"      subPath: password\n"
	"    resources:\n      limits:\n        cpu: 500m\n"
	"        memory: 64Mi\n";

static void test_pod_spec_names_labels_and_host_ports(void **state)
{
	json_t *pod = object(pod_yaml);
	json_t *spec;

	/* The agent gives static pods their uid; manifests/ drops it. */
	json_object_set_new(json_object_get(pod, "metadata"), "uid",
			    json_string("u1"));
	spec = podspec_pod(&ctx, pod);
	json_t *ports = json_object_get(spec, "portmappings");
	json_t *p0 = json_array_get(ports, 0);

	assert_string_equal(sm_json_get_str(spec, "name"),
			    "stuurman_node-1_default_web");
	assert_string_equal(sm_json_get_str(spec, "hostname"), "web");
	assert_string_equal(sm_json_get_str(json_object_get(spec, "labels"),
					    PODSPEC_LABEL_NODE),
			    "node-1");
	assert_string_equal(sm_json_get_str(json_object_get(spec, "labels"),
					    PODSPEC_LABEL_UID),
			    "u1");
	/* Only the port with a hostPort is published, on the node IP. */
	assert_int_equal(json_array_size(ports), 1);
	assert_int_equal(json_integer_value(json_object_get(p0, "host_port")),
			 30080);
	assert_int_equal(
		json_integer_value(json_object_get(p0, "container_port")),
		8080);
	assert_string_equal(sm_json_get_str(p0, "host_ip"), "127.0.1.1");
	assert_string_equal(sm_json_get_str(p0, "protocol"), "tcp");
	json_decref(spec);
	json_decref(pod);
}

static void test_container_env_resolves_every_source(void **state)
{
	json_t *pod = object(pod_yaml);
	json_t *c = json_array_get(sm_json_get_path(pod, "spec.containers"), 0);
	char *why = (char *)"unset";
	json_t *spec = podspec_container(&ctx, pod, c, &why);
	json_t *env = json_object_get(spec, "env");

	assert_non_null(spec);
	assert_null(why);
	assert_string_equal(sm_json_get_str(env, "NAME"), "web");
	assert_string_equal(sm_json_get_str(env, "IP"), "10.88.0.7");
	assert_string_equal(sm_json_get_str(env, "PASSWORD"), "hunter2");
	assert_string_equal(sm_json_get_str(env, "CM_GREETING"), "hallo");
	assert_string_equal(sm_json_get_str(env, "CM_9lives"), "x");
	/* Keys that are no variable name are left out. */
	assert_null(json_object_get(env, "9lives"));
	assert_string_equal(sm_json_get_str(env, "bad-name"), "x");
	assert_string_equal(sm_json_get_str(env, "BOTH"),
			    "web-10.88.0.7-$(NAME)-$(NOPE)");
	assert_string_equal(sm_json_get_str(spec, "name"),
			    "stuurman_node-1_default_web_main");
	assert_string_equal(sm_json_get_str(spec, "pod"),
			    "stuurman_node-1_default_web");
	assert_int_equal(
		json_integer_value(json_object_get(spec, "stop_timeout")), 30);
	json_decref(spec);
	json_decref(pod);
}

static void test_command_and_args_map_to_entrypoint_and_cmd(void **state)
{
	json_t *pod = object(pod_yaml);
	json_t *c = json_array_get(sm_json_get_path(pod, "spec.containers"), 0);
	char *why;
	json_t *spec = podspec_container(&ctx, pod, c, &why);
	json_t *ep = json_object_get(spec, "entrypoint");
	json_t *cmd = json_object_get(spec, "command");

	assert_int_equal(json_array_size(ep), 2);
	assert_string_equal(json_string_value(json_array_get(ep, 0)), "sh");
	/* $(VAR) in args is expanded with the container's environment. */
	assert_string_equal(json_string_value(json_array_get(cmd, 0)),
			    "echo hallo web");
	json_decref(spec);
	json_decref(pod);
}

static void test_mounts_volumes_and_limits(void **state)
{
	json_t *pod = object(pod_yaml);
	json_t *c = json_array_get(sm_json_get_path(pod, "spec.containers"), 0);
	char *why;
	json_t *spec = podspec_container(&ctx, pod, c, &why);
	json_t *mounts = json_object_get(spec, "mounts");
	json_t *vols = json_object_get(spec, "volumes");
	json_t *m0 = json_array_get(mounts, 0), *m1 = json_array_get(mounts, 1);
	json_t *m2 = json_array_get(mounts, 2);

	assert_int_equal(json_array_size(mounts), 3);
	assert_string_equal(sm_json_get_str(m0, "source"),
			    "/data/pods/u1/volumes/cache");
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(m0, "options"), 1)),
			    "rw");
	/* configMap volumes are read-only. */
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(m1, "options"), 1)),
			    "ro");
	assert_string_equal(sm_json_get_str(m2, "source"),
			    "/data/pods/u1/volumes/creds/password");
	assert_string_equal(sm_json_get_str(m2, "destination"),
			    "/etc/creds/pw");
	assert_int_equal(json_array_size(vols), 1);
	assert_string_equal(sm_json_get_str(json_array_get(vols, 0), "Name"),
			    "stuurman-pvc-default-kv");
	assert_string_equal(
		json_string_value(json_array_get(
			json_object_get(json_array_get(vols, 0), "Options"),
			0)),
		"ro");
	assert_int_equal(json_integer_value(sm_json_get_path(
				 spec, "resource_limits.memory.limit")),
			 64 * 1024 * 1024);
	assert_int_equal(json_integer_value(sm_json_get_path(
				 spec, "resource_limits.cpu.quota")),
			 50000);
	json_decref(spec);
	json_decref(pod);
}

static void test_missing_references_are_config_errors(void **state)
{
	json_t *pod = object(
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n"
		"  containers:\n  - name: c\n    image: x:1\n    env:\n"
		"    - name: A\n      valueFrom:\n        configMapKeyRef:\n"
		"          name: nope\n          key: k\n");
	json_t *c = json_array_get(sm_json_get_path(pod, "spec.containers"), 0);
	char *why = NULL;

	assert_null(podspec_container(&ctx, pod, c, &why));
	assert_string_equal(why, "ConfigMap \"nope\" not found (env A)");
	free(why);
	/* Optional references that are missing are skipped. */
	json_object_set_new(
		sm_json_get_path(json_array_get(json_object_get(c, "env"), 0),
				 "valueFrom.configMapKeyRef"),
		"optional", json_true());
	{
		json_t *spec = podspec_container(&ctx, pod, c, &why);

		assert_non_null(spec);
		assert_null(json_object_get(json_object_get(spec, "env"), "A"));
		json_decref(spec);
	}
	json_decref(pod);
}

static void test_missing_secret_key_names_it_without_values(void **state)
{
	json_t *pod = object(
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n"
		"  containers:\n  - name: c\n    image: x:1\n    env:\n"
		"    - name: A\n      valueFrom:\n        secretKeyRef:\n"
		"          name: sec\n          key: token\n");
	json_t *c = json_array_get(sm_json_get_path(pod, "spec.containers"), 0);
	char *why = NULL;

	assert_null(podspec_container(&ctx, pod, c, &why));
	assert_string_equal(why, "couldn't find key token in Secret "
				 "default/sec (env A)");
	assert_null(strstr(why, "hunter2"));
	free(why);
	json_decref(pod);
}

static void test_unsupported_volume_types_are_named(void **state)
{
	json_t *pod = object(
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n"
		"  volumes:\n  - name: n\n    nfs: {server: x, path: /}\n"
		"  containers:\n  - name: c\n    image: x:1\n"
		"    volumeMounts:\n    - name: n\n      mountPath: /n\n");
	json_t *c = json_array_get(sm_json_get_path(pod, "spec.containers"), 0);
	char *why = NULL;

	assert_null(podspec_container(&ctx, pod, c, &why));
	assert_string_equal(why, "volume \"n\": nfs volumes are not supported "
				 "by stuurman");
	free(why);
	json_decref(pod);
}

static void test_volume_files_honour_items_and_modes(void **state)
{
	json_t *pod = object(pod_yaml);
	char *why = NULL;
	json_t *files = podspec_volume_files(&ctx, pod, &why);
	json_t *f0 = json_array_get(files, 0), *f1 = json_array_get(files, 1);

	assert_non_null(files);
	assert_int_equal(json_array_size(files), 2);
	assert_string_equal(sm_json_get_str(f0, "path"),
			    "/data/pods/u1/volumes/conf/etc/app.conf");
	assert_string_equal(sm_json_get_str(f0, "data"), "YT0xCg==");
	assert_int_equal(json_integer_value(json_object_get(f0, "mode")), 0644);
	assert_string_equal(sm_json_get_str(f1, "path"),
			    "/data/pods/u1/volumes/creds/password");
	/* Secret files are never world-readable: 0644 becomes 0640. */
	assert_int_equal(json_integer_value(json_object_get(f1, "mode")), 0640);
	assert_string_equal(sm_json_get_str(f1, "data"), "aHVudGVyMg==");
	json_decref(files);
	json_decref(pod);
}

static void test_expand_leaves_unknown_and_escaped_references(void **state)
{
	json_t *env = json_pack("{s:s}", "A", "1");
	char *s = podspec_expand("$(A)$(B)$$(A)$(A", env);

	assert_string_equal(s, "1$(B)$(A)$(A");
	free(s);
	json_decref(env);
}

/* The strings of a JSON array joined by spaces, for short comparisons. */
static char *joined(const json_t *arr)
{
	static char buf[512];
	size_t n = 0, i;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach (arr, i, v)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
				      i ? " " : "", json_string_value(v));
	return buf;
}

static const char dns_pod_yaml[] =
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"
	"  namespace: shop\nspec:\n%s"
	"  containers:\n  - name: main\n    image: app:1\n";

/* A pod of namespace shop with these spec lines (new). */
static json_t *dns_pod(const char *spec_lines)
{
	char yaml[1024];

	snprintf(yaml, sizeof(yaml), dns_pod_yaml, spec_lines);
	return object(yaml);
}

static void test_a_pod_joins_the_pod_network_when_one_is_given(void **state)
{
	struct podspec_ctx c = ctx;
	json_t *pod = dns_pod("");
	json_t *spec = podspec_pod(&ctx, pod);

	/* Without a network: Podman's default, as before. */
	assert_null(json_object_get(spec, "netns"));
	assert_null(json_object_get(spec, "Networks"));
	json_decref(spec);
	c.network = "stuurman";
	spec = podspec_pod(&c, pod);
	assert_string_equal(
		sm_json_get_str(json_object_get(spec, "netns"), "nsmode"),
		"bridge");
	assert_true(json_is_object(sm_json_get_path(
		json_object_get(spec, "Networks"), "stuurman")));
	assert_int_equal(json_object_size(json_object_get(spec, "Networks")),
			 1);
	json_decref(spec);
	json_decref(pod);
}

static void test_cluster_first_gets_cluster_dns_and_search_domains(void **state)
{
	struct podspec_ctx c = ctx;
	json_t *pod = dns_pod(""), *dns, *spec;

	c.cluster_dns = "10.96.0.10";
	dns = podspec_dns(&c, pod);
	/* dnsPolicy defaults to ClusterFirst. */
	assert_string_equal(joined(json_object_get(dns, "dns_server")),
			    "10.96.0.10");
	assert_string_equal(joined(json_object_get(dns, "dns_search")),
			    "shop.svc.cluster.local svc.cluster.local "
			    "cluster.local");
	assert_string_equal(joined(json_object_get(dns, "dns_option")),
			    "ndots:5");
	json_decref(dns);
	/* The domain is the agent's; the pod spec carries the fields. */
	c.cluster_domain = "k8s.test";
	spec = podspec_pod(&c, pod);
	assert_string_equal(joined(json_object_get(spec, "dns_search")),
			    "shop.svc.k8s.test svc.k8s.test k8s.test");
	assert_string_equal(joined(json_object_get(spec, "dns_server")),
			    "10.96.0.10");
	json_decref(spec);
	json_decref(pod);
}

static void test_dns_config_merges_into_cluster_first(void **state)
{
	struct podspec_ctx c = ctx;
	json_t *pod =
		dns_pod("  dnsConfig:\n"
			"    nameservers: [10.96.0.10, 192.0.2.53]\n"
			"    searches: [corp.example, svc.cluster.local]\n"
			"    options:\n    - name: ndots\n      value: '2'\n"
			"    - name: edns0\n");
	json_t *dns;

	c.cluster_dns = "10.96.0.10";
	dns = podspec_dns(&c, pod);
	/* Appended without duplicates; an option of a name is replaced. */
	assert_string_equal(joined(json_object_get(dns, "dns_server")),
			    "10.96.0.10 192.0.2.53");
	assert_string_equal(joined(json_object_get(dns, "dns_search")),
			    "shop.svc.cluster.local svc.cluster.local "
			    "cluster.local corp.example");
	assert_string_equal(joined(json_object_get(dns, "dns_option")),
			    "ndots:2 edns0");
	json_decref(dns);
	json_decref(pod);
}

static void test_dns_policies_default_none_and_host_network(void **state)
{
	struct podspec_ctx c = ctx;
	json_t *pod, *dns;

	c.cluster_dns = "10.96.0.10";
	/* Default: Podman's resolv.conf, nothing set. */
	pod = dns_pod("  dnsPolicy: Default\n");
	dns = podspec_dns(&c, pod);
	assert_int_equal(json_object_size(dns), 0);
	json_decref(dns);
	json_decref(pod);
	/* None: dnsConfig and nothing else. */
	pod = dns_pod("  dnsPolicy: None\n  dnsConfig:\n"
		      "    nameservers: [192.0.2.1]\n"
		      "    searches: [a.example]\n");
	dns = podspec_dns(&c, pod);
	assert_string_equal(joined(json_object_get(dns, "dns_server")),
			    "192.0.2.1");
	assert_string_equal(joined(json_object_get(dns, "dns_search")),
			    "a.example");
	assert_null(json_object_get(dns, "dns_option"));
	json_decref(dns);
	json_decref(pod);
	/* hostNetwork under ClusterFirst is Default, as in Kubernetes... */
	pod = dns_pod("  hostNetwork: true\n");
	dns = podspec_dns(&c, pod);
	assert_int_equal(json_object_size(dns), 0);
	json_decref(dns);
	json_decref(pod);
	/* ...unless it says ClusterFirstWithHostNet. */
	pod = dns_pod("  hostNetwork: true\n"
		      "  dnsPolicy: ClusterFirstWithHostNet\n");
	dns = podspec_dns(&c, pod);
	assert_string_equal(joined(json_object_get(dns, "dns_server")),
			    "10.96.0.10");
	json_decref(dns);
	json_decref(pod);
	/* Without cluster DNS, ClusterFirst is what it was: nothing set. */
	c.cluster_dns = NULL;
	pod = dns_pod("");
	dns = podspec_dns(&c, pod);
	assert_int_equal(json_object_size(dns), 0);
	json_decref(dns);
	json_decref(pod);
}

/* Services as an informer's cache holds them: key -> object. */
static const char services_json[] =
	"{\"shop/redis-primary\": {\"metadata\": {\"namespace\": \"shop\","
	" \"name\": \"redis-primary\"}, \"spec\": {\"clusterIP\":"
	" \"10.96.0.11\", \"ports\": [{\"name\": \"redis\", \"port\": 6379,"
	" \"protocol\": \"TCP\"}, {\"name\": \"dns-udp\", \"port\": 53,"
	" \"protocol\": \"UDP\"}]}},"
	" \"shop/web\": {\"metadata\": {\"namespace\": \"shop\", \"name\":"
	" \"web\"}, \"spec\": {\"clusterIP\": \"10.96.0.12\", \"ports\":"
	" [{\"port\": 80}]}},"
	" \"shop/peers\": {\"metadata\": {\"namespace\": \"shop\", \"name\":"
	" \"peers\"}, \"spec\": {\"clusterIP\": \"None\", \"ports\":"
	" [{\"port\": 7000}]}},"
	" \"shop/ext\": {\"metadata\": {\"namespace\": \"shop\", \"name\":"
	" \"ext\"}, \"spec\": {\"type\": \"ExternalName\", \"externalName\":"
	" \"example.com\"}},"
	" \"other/db\": {\"metadata\": {\"namespace\": \"other\", \"name\":"
	" \"db\"}, \"spec\": {\"clusterIP\": \"10.96.0.13\", \"ports\":"
	" [{\"port\": 5432}]}},"
	" \"default/kubernetes\": {\"metadata\": {\"namespace\": \"default\","
	" \"name\": \"kubernetes\"}, \"spec\": {\"clusterIP\": \"10.96.0.1\","
	" \"ports\": [{\"name\": \"https\", \"port\": 443}]}}}";

static void test_service_env_vars_are_the_kubelets(void **state)
{
	json_t *services = json_loads(services_json, 0, NULL);
	json_t *env = podspec_service_env(services, "shop", true);
	static const char *const want[][2] = {
		{ "REDIS_PRIMARY_SERVICE_HOST", "10.96.0.11" },
		{ "REDIS_PRIMARY_SERVICE_PORT", "6379" },
		{ "REDIS_PRIMARY_SERVICE_PORT_REDIS", "6379" },
		{ "REDIS_PRIMARY_SERVICE_PORT_DNS_UDP", "53" },
		{ "REDIS_PRIMARY_PORT", "tcp://10.96.0.11:6379" },
		{ "REDIS_PRIMARY_PORT_6379_TCP", "tcp://10.96.0.11:6379" },
		{ "REDIS_PRIMARY_PORT_6379_TCP_PROTO", "tcp" },
		{ "REDIS_PRIMARY_PORT_6379_TCP_PORT", "6379" },
		{ "REDIS_PRIMARY_PORT_6379_TCP_ADDR", "10.96.0.11" },
		{ "REDIS_PRIMARY_PORT_53_UDP", "udp://10.96.0.11:53" },
		{ "REDIS_PRIMARY_PORT_53_UDP_PROTO", "udp" },
		{ "REDIS_PRIMARY_PORT_53_UDP_PORT", "53" },
		{ "REDIS_PRIMARY_PORT_53_UDP_ADDR", "10.96.0.11" },
		/* An unnamed port, protocol TCP by default. */
		{ "WEB_SERVICE_HOST", "10.96.0.12" },
		{ "WEB_SERVICE_PORT", "80" },
		{ "WEB_PORT", "tcp://10.96.0.12:80" },
		{ "WEB_PORT_80_TCP", "tcp://10.96.0.12:80" },
		{ "WEB_PORT_80_TCP_PROTO", "tcp" },
		{ "WEB_PORT_80_TCP_PORT", "80" },
		{ "WEB_PORT_80_TCP_ADDR", "10.96.0.12" },
		/* The API's own Service is in every namespace's pods. */
		{ "KUBERNETES_SERVICE_HOST", "10.96.0.1" },
		{ "KUBERNETES_SERVICE_PORT", "443" },
		{ "KUBERNETES_SERVICE_PORT_HTTPS", "443" },
		{ "KUBERNETES_PORT", "tcp://10.96.0.1:443" },
		{ "KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443" },
		{ "KUBERNETES_PORT_443_TCP_PROTO", "tcp" },
		{ "KUBERNETES_PORT_443_TCP_PORT", "443" },
		{ "KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1" },
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *got = sm_json_get_str(env, want[i][0]);

		if (!got || strcmp(got, want[i][1]))
			fail_msg("%s: want %s, got %s", want[i][0], want[i][1],
				 got ? got : "(none)");
	}
	/* Headless, ExternalName and other namespaces' Services: none. */
	assert_int_equal(json_object_size(env), sizeof(want) / sizeof(want[0]));
	json_decref(env);
	/* enableServiceLinks: false keeps only the API's own Service. */
	env = podspec_service_env(services, "shop", false);
	assert_int_equal(json_object_size(env), 8);
	assert_non_null(json_object_get(env, "KUBERNETES_SERVICE_HOST"));
	json_decref(env);
	env = podspec_service_env(NULL, "shop", true);
	assert_int_equal(json_object_size(env), 0);
	json_decref(env);
	json_decref(services);
}

static void test_container_env_wins_over_and_expands_service_env(void **state)
{
	struct podspec_ctx c = ctx;
	json_t *services = json_loads(services_json, 0, NULL);
	json_t *pod =
		object("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"
		       "  namespace: shop\nspec:\n  containers:\n"
		       "  - name: main\n    image: app:1\n    env:\n"
		       "    - name: WEB_SERVICE_PORT\n      value: '8080'\n"
		       "    - name: REDIS_URL\n"
		       "      value: redis://$(REDIS_PRIMARY_SERVICE_HOST):"
		       "$(REDIS_PRIMARY_SERVICE_PORT)\n");
	json_t *ctr =
		json_array_get(sm_json_get_path(pod, "spec.containers"), 0);
	char *why;
	json_t *spec, *env;

	c.services = services;
	spec = podspec_container(&c, pod, ctr, &why);
	env = json_object_get(spec, "env");
	assert_string_equal(sm_json_get_str(env, "WEB_SERVICE_PORT"), "8080");
	assert_string_equal(sm_json_get_str(env, "WEB_SERVICE_HOST"),
			    "10.96.0.12");
	assert_string_equal(sm_json_get_str(env, "REDIS_URL"),
			    "redis://10.96.0.11:6379");
	json_decref(spec);
	/* enableServiceLinks: false: none of shop's. */
	json_object_set_new(json_object_get(pod, "spec"), "enableServiceLinks",
			    json_false());
	spec = podspec_container(&c, pod, ctr, &why);
	env = json_object_get(spec, "env");
	assert_null(json_object_get(env, "WEB_SERVICE_HOST"));
	assert_string_equal(sm_json_get_str(env, "REDIS_URL"),
			    "redis://$(REDIS_PRIMARY_SERVICE_HOST):"
			    "$(REDIS_PRIMARY_SERVICE_PORT)");
	json_decref(spec);
	json_decref(pod);
	json_decref(services);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pod_spec_names_labels_and_host_ports),
		cmocka_unit_test(test_container_env_resolves_every_source),
		cmocka_unit_test(
			test_command_and_args_map_to_entrypoint_and_cmd),
		cmocka_unit_test(test_mounts_volumes_and_limits),
		cmocka_unit_test(test_missing_references_are_config_errors),
		cmocka_unit_test(
			test_missing_secret_key_names_it_without_values),
		cmocka_unit_test(test_unsupported_volume_types_are_named),
		cmocka_unit_test(test_volume_files_honour_items_and_modes),
		cmocka_unit_test(
			test_expand_leaves_unknown_and_escaped_references),
		cmocka_unit_test(
			test_a_pod_joins_the_pod_network_when_one_is_given),
		cmocka_unit_test(
			test_cluster_first_gets_cluster_dns_and_search_domains),
		cmocka_unit_test(test_dns_config_merges_into_cluster_first),
		cmocka_unit_test(
			test_dns_policies_default_none_and_host_network),
		cmocka_unit_test(test_service_env_vars_are_the_kubelets),
		cmocka_unit_test(
			test_container_env_wins_over_and_expands_service_env),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
