/*
 * podspec.c: Pod -> Podman pod and container specs. See podspec.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "manifests/canonical.h"
#include "manifests/names.h"
#include "manifests/quantity.h"
#include "nodeagent/podspec.h"
#include "common/banned.h"

static const char *meta_str(const json_t *obj, const char *key)
{
	const char *s = sm_json_get_str(json_object_get(obj, "metadata"), key);

	return s ? s : "";
}

char *podspec_pod_name(const char *node, const json_t *pod)
{
	return xasprintf("stuurman_%s_%s_%s", node, meta_str(pod, "namespace"),
			 meta_str(pod, "name"));
}

static json_t *pod_labels(const struct podspec_ctx *ctx, const json_t *pod)
{
	return json_pack("{s:s, s:s, s:s, s:s}", PODSPEC_LABEL_NODE, ctx->node,
			 PODSPEC_LABEL_NAMESPACE, meta_str(pod, "namespace"),
			 PODSPEC_LABEL_POD, meta_str(pod, "name"),
			 PODSPEC_LABEL_UID, meta_str(pod, "uid"));
}

/* "TCP" -> "tcp", as Podman's portmappings want it. */
static json_t *lower(const char *s)
{
	char buf[16];
	size_t i;

	for (i = 0; s[i] && i < sizeof(buf) - 1; i++)
		buf[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	buf[i] = '\0';
	return json_string(buf);
}

/* Appends the strings of src not yet in dst, while dst has fewer than max. */
static void append_unique(json_t *dst, const json_t *src, size_t max)
{
	json_t *v, *w;
	size_t i, j;

	json_array_foreach (src, i, v) {
		bool dup = false;

		if (!json_is_string(v) || !*json_string_value(v))
			continue;
		json_array_foreach (dst, j, w)
			if (!strcmp(json_string_value(w), json_string_value(v)))
				dup = true;
		if (!dup && json_array_size(dst) < max)
			json_array_append(dst, v);
	}
}

/* The length of an option's name ("ndots" of "ndots:5"). */
static size_t option_name_len(const char *opt)
{
	return strcspn(opt, ":");
}

/*
 * Merges dnsConfig.options ([{name, value}]) into opts ("name:value"
 * strings): an option of the same name is replaced, as in Kubernetes.
 */
static void merge_options(json_t *opts, const json_t *pod_opts)
{
	json_t *o;
	size_t i;

	json_array_foreach (pod_opts, i, o) {
		const char *name = sm_json_get_str(o, "name");
		const char *value = sm_json_get_str(o, "value");
		char *opt;
		json_t *w;
		size_t j;
		bool replaced = false;

		if (!name || !*name)
			continue;
		opt = value && *value ? xasprintf("%s:%s", name, value)
				      : xstrdup(name);
		json_array_foreach (opts, j, w) {
			const char *have = json_string_value(w);

			if (option_name_len(have) == strlen(name) &&
			    !strncmp(have, name, strlen(name))) {
				json_array_set_new(opts, j, json_string(opt));
				replaced = true;
				break;
			}
		}
		if (!replaced)
			json_array_append_new(opts, json_string(opt));
		free(opt);
	}
}

/* resolv.conf reads 3 nameservers; Kubernetes allows 32 searches. */
#define DNS_MAX_SERVERS 3
#define DNS_MAX_SEARCHES 32

json_t *podspec_dns(const struct podspec_ctx *ctx, const json_t *pod)
{
	const json_t *spec = json_object_get(pod, "spec");
	const json_t *cfg = json_object_get(spec, "dnsConfig");
	const char *policy = sm_json_get_str(spec, "dnsPolicy");
	const char *domain = ctx->cluster_domain && *ctx->cluster_domain
				     ? ctx->cluster_domain
				     : "cluster.local";
	json_t *servers = json_array(), *searches = json_array();
	json_t *opts = json_array(), *out = json_object();
	bool host_net = json_is_true(json_object_get(spec, "hostNetwork"));
	bool cluster_first;

	if (!policy)
		policy = "ClusterFirst";
	cluster_first = !strcmp(policy, "ClusterFirstWithHostNet") ||
			(strcmp(policy, "None") && strcmp(policy, "Default") &&
			 !host_net);
	if (cluster_first && ctx->cluster_dns && *ctx->cluster_dns) {
		const char *ns = meta_str(pod, "namespace");
		char *s[3];

		json_array_append_new(servers, json_string(ctx->cluster_dns));
		s[0] = xasprintf("%s.svc.%s", *ns ? ns : "default", domain);
		s[1] = xasprintf("svc.%s", domain);
		s[2] = xstrdup(domain);
		for (int i = 0; i < 3; i++) {
			json_array_append_new(searches, json_string(s[i]));
			free(s[i]);
		}
		json_array_append_new(opts, json_string("ndots:5"));
	}
	/* Default (and ClusterFirst without cluster DNS): dnsConfig alone. */
	append_unique(servers, json_object_get(cfg, "nameservers"),
		      DNS_MAX_SERVERS);
	append_unique(searches, json_object_get(cfg, "searches"),
		      DNS_MAX_SEARCHES);
	merge_options(opts, json_object_get(cfg, "options"));
	if (json_array_size(servers))
		json_object_set(out, "dns_server", servers);
	if (json_array_size(searches))
		json_object_set(out, "dns_search", searches);
	if (json_array_size(opts))
		json_object_set(out, "dns_option", opts);
	json_decref(servers);
	json_decref(searches);
	json_decref(opts);
	return out;
}

json_t *podspec_pod(const struct podspec_ctx *ctx, const json_t *pod)
{
	json_t *spec = json_object_get(pod, "spec");
	json_t *ports = json_array(), *c, *p;
	const char *hostname = sm_json_get_str(spec, "hostname");
	char *name = podspec_pod_name(ctx->node, pod);
	json_t *out, *dns;
	size_t i, j;

	/* Ports live on the pod (its infra container), never on members. */
	json_array_foreach (json_object_get(spec, "containers"), i, c) {
		json_array_foreach (json_object_get(c, "ports"), j, p) {
			json_int_t hp = json_integer_value(
				json_object_get(p, "hostPort"));
			const char *proto = sm_json_get_str(p, "protocol");

			if (hp <= 0)
				continue;
			json_array_append_new(
				ports,
				json_pack("{s:O, s:I, s:s, s:o}",
					  "container_port",
					  json_object_get(p, "containerPort"),
					  "host_port", hp, "host_ip",
					  ctx->node_ip, "protocol",
					  lower(proto ? proto : "TCP")));
		}
	}
	out = json_pack("{s:s, s:s, s:o, s:o}", "name", name, "hostname",
			hostname ? hostname : meta_str(pod, "name"), "labels",
			pod_labels(ctx, pod), "portmappings", ports);
	/*
	 * The pod network: the infra container gets an address on it (the
	 * pod IP) and the members share its namespace.
	 */
	if (ctx->network && *ctx->network)
		json_object_set_new(out, "netns",
				    json_pack("{s:s}", "nsmode", "bridge"));
	if (ctx->network && *ctx->network)
		json_object_set_new(out, "Networks",
				    json_pack("{s:{}}", ctx->network));
	dns = podspec_dns(ctx, pod);
	json_object_update(out, dns);
	json_decref(dns);
	free(name);
	return out;
}

/* Reports why a container cannot be configured; returns NULL. */
static json_t *config_error(char **why, const char *fmt, ...) SM_PRINTF(2, 3);
static json_t *config_error(char **why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	*why = xvasprintf(fmt, ap);
	va_end(ap);
	return NULL;
}

/*
 * The value of key in a ConfigMap (data) or Secret (data, base64-decoded),
 * new; NULL when absent. *found_obj says whether the object itself exists.
 */
static char *lookup_key(const struct podspec_ctx *ctx, const char *kind,
			const char *ns, const char *name, const char *key,
			bool *found_obj)
{
	const json_t *obj =
		ctx->lookup ? ctx->lookup(ctx->lookup_ctx, kind, ns, name)
			    : NULL;
	json_t *v;

	*found_obj = obj != NULL;
	if (!obj)
		return NULL;
	v = json_object_get(json_object_get(obj, "data"), key);
	if (!json_is_string(v))
		return NULL;
	if (!strcmp(kind, "Secret")) {
		struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		if (sm_base64_decode(json_string_value(v),
				     json_string_length(v), &b)) {
			sm_buf_release(&b);
			return NULL;
		}
		return sm_buf_detach(&b, NULL);
	}
	return xstrdup(json_string_value(v));
}

/* The value a fieldRef names, or NULL when the field is not supported. */
static const char *field_value(const struct podspec_ctx *ctx, const json_t *pod,
			       const char *path)
{
	static const char *const meta[] = { "metadata.name",
					    "name",
					    "metadata.namespace",
					    "namespace",
					    "metadata.uid",
					    "uid",
					    NULL };

	for (size_t i = 0; meta[i]; i += 2)
		if (!strcmp(path, meta[i]))
			return meta_str(pod, meta[i + 1]);
	if (!strcmp(path, "spec.nodeName"))
		return ctx->node;
	if (!strcmp(path, "status.hostIP"))
		return ctx->node_ip;
	if (!strcmp(path, "status.podIP"))
		return ctx->pod_ip ? ctx->pod_ip : "";
	if (!strcmp(path, "spec.serviceAccountName")) {
		const char *sa = sm_json_get_str(json_object_get(pod, "spec"),
						 "serviceAccountName");

		return sa ? sa : "default";
	}
	return NULL;
}

/* Adds one env var from a valueFrom; returns false with *why set. */
static bool env_from_source(const struct podspec_ctx *ctx, const json_t *pod,
			    const char *var, const json_t *src, json_t *env,
			    char **why)
{
	static const char *const refs[][2] = {
		{ "configMapKeyRef", "ConfigMap" },
		{ "secretKeyRef", "Secret" },
	};
	const char *ns = meta_str(pod, "namespace");
	json_t *field = json_object_get(src, "fieldRef");

	for (size_t i = 0; i < 2; i++) {
		json_t *ref = json_object_get(src, refs[i][0]);
		const char *name, *key;
		bool found, optional;
		char *value;

		if (!ref)
			continue;
		name = sm_json_get_str(ref, "name");
		key = sm_json_get_str(ref, "key");
		optional = json_is_true(json_object_get(ref, "optional"));
		value = lookup_key(ctx, refs[i][1], ns, name, key, &found);
		if (value) {
			json_object_set_new(env, var, json_string(value));
			free(value);
			return true;
		}
		if (optional)
			return true;
		if (!found)
			config_error(why, "%s \"%s\" not found (env %s)",
				     refs[i][1], name, var);
		else
			config_error(why,
				     "couldn't find key %s in %s %s/%s "
				     "(env %s)",
				     key, refs[i][1], ns, name, var);
		return false;
	}
	if (field) {
		const char *path = sm_json_get_str(field, "fieldPath");
		const char *v = field_value(ctx, pod, path);

		if (!v) {
			config_error(why,
				     "fieldRef %s is not supported by "
				     "stuurman (env %s)",
				     path, var);
			return false;
		}
		json_object_set_new(env, var, json_string(v));
		return true;
	}
	config_error(why,
		     "env %s: this valueFrom source is not supported by "
		     "stuurman",
		     var);
	return false;
}

/* envFrom: every valid key of a ConfigMap or Secret, with the prefix. */
static bool env_from_object(const struct podspec_ctx *ctx, const json_t *pod,
			    const json_t *from, json_t *env, char **why)
{
	const char *kind =
		json_object_get(from, "configMapRef") ? "ConfigMap" : "Secret";
	json_t *ref = json_object_get(from, !strcmp(kind, "ConfigMap")
						    ? "configMapRef"
						    : "secretRef");
	const char *prefix = sm_json_get_str(from, "prefix");
	const char *name = sm_json_get_str(ref, "name");
	const json_t *obj =
		ctx->lookup ? ctx->lookup(ctx->lookup_ctx, kind,
					  meta_str(pod, "namespace"), name)
			    : NULL;
	const char *key;
	json_t *v;

	if (!obj) {
		if (json_is_true(json_object_get(ref, "optional")))
			return true;
		config_error(why, "%s \"%s\" not found (envFrom)", kind, name);
		return false;
	}
	json_object_foreach (json_object_get((json_t *)obj, "data"), key, v) {
		char *var = xasprintf("%s%s", prefix ? prefix : "", key);

		/* Keys that are no valid variable name are skipped, as in
		 * Kubernetes (which records an event for them). */
		if (!mf_check_env_var_name(var)) {
			if (!strcmp(kind, "Secret")) {
				struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

				if (!sm_base64_decode(json_string_value(v),
						      json_string_length(v),
						      &b))
					json_object_set_new(
						env, var,
						json_string(sm_buf_cstr(&b)));
				sm_buf_release(&b);
			} else {
				json_object_set(env, var, v);
			}
		}
		free(var);
	}
	return true;
}

/* A Service's name as a variable's prefix: upper case, '-' as '_' (new). */
static char *env_name(const char *s)
{
	char *out = xstrdup(s);

	for (char *c = out; *c; c++)
		*c = *c == '-'			? '_'
		     : (*c >= 'a' && *c <= 'z') ? (char)(*c - 32)
						: *c;
	return out;
}

static void env_set(json_t *env, const char *value, const char *fmt, ...)
	SM_PRINTF(3, 4);
static void env_set(json_t *env, const char *value, const char *fmt, ...)
{
	va_list ap;
	char *name;

	va_start(ap, fmt);
	name = xvasprintf(fmt, ap);
	va_end(ap);
	json_object_set_new(env, name, json_string(value));
	free(name);
}

/* One Service's variables, as the kubelet's (pkg/kubelet/envvars). */
static void service_env(json_t *env, const json_t *svc)
{
	const json_t *spec = json_object_get(svc, "spec");
	const char *ip = sm_json_get_str(spec, "clusterIP");
	const json_t *ports = json_object_get(spec, "ports"), *p;
	char *name, num[16];
	size_t i;

	if (!ip || !*ip || !strcmp(ip, "None") || !json_array_size(ports))
		return;
	name = env_name(meta_str(svc, "name"));
	env_set(env, ip, "%s_SERVICE_HOST", name);
	json_array_foreach (ports, i, p) {
		const char *pname = sm_json_get_str(p, "name");
		const char *proto = sm_json_get_str(p, "protocol");
		json_int_t port =
			json_integer_value(json_object_get(p, "port"));
		char lproto[16], uproto[16], *url;
		size_t k;

		snprintf(num, sizeof(num), "%lld", (long long)port);
		if (!proto || !*proto)
			proto = "TCP";
		for (k = 0; proto[k] && k < sizeof(lproto) - 1; k++) {
			char ch = proto[k];

			lproto[k] =
				ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
			uproto[k] =
				ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch;
		}
		lproto[k] = uproto[k] = '\0';
		url = xasprintf("%s://%s:%s", lproto, ip, num);
		if (i == 0) {
			/* The first port keeps the names of old. */
			env_set(env, num, "%s_SERVICE_PORT", name);
			env_set(env, url, "%s_PORT", name);
		}
		if (pname && *pname) {
			char *pn = env_name(pname);

			env_set(env, num, "%s_SERVICE_PORT_%s", name, pn);
			free(pn);
		}
		env_set(env, url, "%s_PORT_%s_%s", name, num, uproto);
		env_set(env, lproto, "%s_PORT_%s_%s_PROTO", name, num, uproto);
		env_set(env, num, "%s_PORT_%s_%s_PORT", name, num, uproto);
		env_set(env, ip, "%s_PORT_%s_%s_ADDR", name, num, uproto);
		free(url);
	}
	free(name);
}

json_t *podspec_service_env(const json_t *services, const char *ns, bool links)
{
	json_t *env = json_object(), *svc;
	const char *key;

	json_object_foreach ((json_t *)services, key, svc) {
		const char *sns = meta_str(svc, "namespace");
		const char *name = meta_str(svc, "name");
		/* The API's own Service is in every pod, links or not. */
		bool master =
			!strcmp(sns, "default") && !strcmp(name, "kubernetes");

		if ((links && !strcmp(sns, ns)) || master)
			service_env(env, svc);
	}
	return env;
}

char *podspec_expand(const char *s, const json_t *env)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	while (*s) {
		const char *end;

		if (s[0] == '$' && s[1] == '$') {
			sm_buf_addch(&b, '$');
			s += 2;
		} else if (s[0] == '$' && s[1] == '(' &&
			   (end = strchr(s + 2, ')'))) {
			char *name = xstrndup(s + 2, (size_t)(end - s - 2));
			const char *v = sm_json_get_str(env, name);

			if (v)
				sm_buf_adds(&b, v);
			else
				sm_buf_add(&b, s, (size_t)(end - s + 1));
			free(name);
			s = end + 1;
		} else {
			sm_buf_addch(&b, *s++);
		}
	}
	return sm_buf_detach(&b, NULL);
}

/* A string array with $(VAR) references expanded (new). */
static json_t *expand_array(const json_t *arr, const json_t *env)
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach (arr, i, v) {
		char *x = podspec_expand(json_string_value(v), env);

		json_array_append_new(out, json_string(x));
		free(x);
	}
	return out;
}

static const json_t *find_volume(const json_t *pod, const char *name)
{
	json_t *vols = sm_json_get_path(pod, "spec.volumes"), *v;
	size_t i;

	json_array_foreach (vols, i, v)
		if (!strcmp(sm_json_get_str(v, "name"), name))
			return v;
	return NULL;
}

/* The Podman named volume that holds a claim: it outlives its pods. */
static char *claim_volume(const json_t *pod, const char *claim)
{
	return xasprintf("stuurman-pvc-%s-%s", meta_str(pod, "namespace"),
			 claim);
}

/* Mounts (bind) and volumes (named) for one volumeMount. */
static bool add_mount(const struct podspec_ctx *ctx, const json_t *pod,
		      const json_t *mnt, json_t *mounts, json_t *volumes,
		      char **why)
{
	const char *name = sm_json_get_str(mnt, "name");
	const char *dest = sm_json_get_str(mnt, "mountPath");
	const char *sub = sm_json_get_str(mnt, "subPath");
	bool ro = json_is_true(json_object_get(mnt, "readOnly"));
	const json_t *vol = find_volume(pod, name);
	json_t *src;
	char *source;

	if (!vol) {
		config_error(why, "volume \"%s\" not found", name);
		return false;
	}
	if ((src = json_object_get(vol, "persistentVolumeClaim"))) {
		char *vname =
			claim_volume(pod, sm_json_get_str(src, "claimName"));

		json_array_append_new(volumes, json_pack("{s:s, s:s, s:[]}",
							 "Name", vname, "Dest",
							 dest, "Options"));
		if (ro)
			json_array_append_new(
				json_object_get(
					json_array_get(
						volumes,
						json_array_size(volumes) - 1),
					"Options"),
				json_string("ro"));
		free(vname);
		return true;
	}
	if ((src = json_object_get(vol, "hostPath"))) {
		source = xstrdup(sm_json_get_str(src, "path"));
	} else if (json_object_get(vol, "emptyDir") ||
		   json_object_get(vol, "configMap") ||
		   json_object_get(vol, "secret")) {
		/* configMap and secret volumes are read-only, as in k8s. */
		if (!json_object_get(vol, "emptyDir"))
			ro = true;
		source = xasprintf("%s/%s", ctx->volume_dir, name);
	} else {
		const char *type = "this type";
		const char *key;
		json_t *v;

		json_object_foreach ((json_t *)vol, key, v)
			if (strcmp(key, "name"))
				type = key;
		config_error(why,
			     "volume \"%s\": %s volumes are not supported "
			     "by stuurman",
			     name, type);
		return false;
	}
	if (sub && *sub) {
		char *full = xasprintf("%s/%s", source, sub);

		free(source);
		source = full;
	}
	json_array_append_new(
		mounts, json_pack("{s:s, s:s, s:s, s:[s, s]}", "destination",
				  dest, "type", "bind", "source", source,
				  "options", "rbind", ro ? "ro" : "rw"));
	free(source);
	return true;
}

/* resources.limits as OCI LinuxResources, or NULL when none are set. */
static json_t *resource_limits(const json_t *c)
{
	json_t *limits = sm_json_get_path(c, "resources.limits");
	const char *cpu = sm_json_get_str(limits, "cpu");
	const char *mem = sm_json_get_str(limits, "memory");
	json_t *out = json_object();
	struct mf_quantity q;

	if (mem && !mf_quantity_parse(mem, &q, NULL))
		json_object_set_new(
			out, "memory",
			json_pack("{s:I}", "limit",
				  (json_int_t)mf_quantity_value(&q)));
	if (cpu && !mf_quantity_parse(cpu, &q, NULL))
		/* A CFS quota per 100 ms period: 500m is 50 ms of it. */
		json_object_set_new(
			out, "cpu",
			json_pack("{s:I, s:i}", "quota",
				  (json_int_t)mf_quantity_milli(&q) * 100,
				  "period", 100000));
	if (!json_object_size(out)) {
		json_decref(out);
		return NULL;
	}
	return out;
}

json_t *podspec_container(const struct podspec_ctx *ctx, const json_t *pod,
			  const json_t *c, char **why)
{
	json_t *spec = json_object_get(pod, "spec");
	json_t *env, *v, *out, *labels, *limits;
	json_t *mounts = json_array(), *volumes = json_array();
	const char *cname = sm_json_get_str(c, "name");
	char *pname = podspec_pod_name(ctx->node, pod);
	char *name = xasprintf("%s_%s", pname, cname);
	const char *wd = sm_json_get_str(c, "workingDir");
	char hash[MF_HASH_LEN + 1];
	size_t i;

	*why = NULL;
	/*
	 * The Services' variables first, then envFrom, then env: each
	 * overrides and may expand the earlier (the kubelet's order).
	 */
	env = podspec_service_env(
		ctx->services, meta_str(pod, "namespace"),
		!json_is_false(json_object_get(spec, "enableServiceLinks")));
	json_array_foreach (json_object_get(c, "envFrom"), i, v)
		if (!env_from_object(ctx, pod, v, env, why))
			goto fail;
	json_array_foreach (json_object_get(c, "env"), i, v) {
		const char *var = sm_json_get_str(v, "name");
		json_t *from = json_object_get(v, "valueFrom");

		if (from) {
			if (!env_from_source(ctx, pod, var, from, env, why))
				goto fail;
		} else {
			const char *val = sm_json_get_str(v, "value");
			char *x = podspec_expand(val ? val : "", env);

			json_object_set_new(env, var, json_string(x));
			free(x);
		}
	}
	json_array_foreach (json_object_get(c, "volumeMounts"), i, v)
		if (!add_mount(ctx, pod, v, mounts, volumes, why))
			goto fail;

	mf_hash(c, hash);
	labels = pod_labels(ctx, pod);
	json_object_set_new(labels, PODSPEC_LABEL_CONTAINER,
			    json_string(cname));
	json_object_set_new(labels, PODSPEC_LABEL_HASH, json_string(hash));
	out = json_pack("{s:s, s:s, s:s, s:o, s:o, s:{s:s}, s:I}", "name", name,
			"image", sm_json_get_str(c, "image"), "pod", pname,
			"env", env, "labels", labels, "log_configuration",
			"driver", "k8s-file", "stop_timeout",
			json_integer_value(json_object_get(
				spec, "terminationGracePeriodSeconds")));
	/*
	 * Kubernetes' command replaces the image ENTRYPOINT and args its CMD;
	 * a command without args drops the image CMD, as in Kubernetes.
	 */
	if ((v = json_object_get(c, "command"))) {
		json_object_set_new(out, "entrypoint", expand_array(v, env));
		json_object_set_new(
			out, "command",
			json_object_get(c, "args")
				? expand_array(json_object_get(c, "args"), env)
				: json_array());
	} else if ((v = json_object_get(c, "args"))) {
		json_object_set_new(out, "command", expand_array(v, env));
	}
	if (wd && *wd)
		json_object_set_new(out, "work_dir", json_string(wd));
	if (json_array_size(mounts))
		json_object_set(out, "mounts", mounts);
	if (json_array_size(volumes))
		json_object_set(out, "volumes", volumes);
	if ((limits = resource_limits(c)))
		json_object_set_new(out, "resource_limits", limits);
	json_decref(mounts);
	json_decref(volumes);
	free(pname);
	free(name);
	return out;
fail:
	json_decref(env);
	json_decref(mounts);
	json_decref(volumes);
	free(pname);
	free(name);
	return NULL;
}

/* Adds one file of a volume to files, as base64. */
static void add_file(json_t *files, const char *dir, const char *vol,
		     const char *path, const char *b64, int mode)
{
	char *full = xasprintf("%s/%s/%s", dir, vol, path);

	json_array_append_new(files, json_pack("{s:s, s:s, s:i}", "path", full,
					       "data", b64, "mode", mode));
	free(full);
}

json_t *podspec_volume_files(const struct podspec_ctx *ctx, const json_t *pod,
			     char **why)
{
	json_t *files = json_array(), *vol;
	const char *ns = meta_str(pod, "namespace");
	size_t i;

	*why = NULL;
	json_array_foreach (sm_json_get_path(pod, "spec.volumes"), i, vol) {
		const char *vname = sm_json_get_str(vol, "name");
		json_t *src = json_object_get(vol, "configMap");
		bool secret = !src;
		const char *kind = secret ? "Secret" : "ConfigMap";
		const char *name;
		const json_t *obj;
		json_t *data, *items, *item, *v;
		struct sm_buf enc = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		int defmode;
		size_t j;
		const char *key;

		if (secret && !(src = json_object_get(vol, "secret")))
			continue;
		name = sm_json_get_str(src, secret ? "secretName" : "name");
		obj = ctx->lookup ? ctx->lookup(ctx->lookup_ctx, kind, ns,
						name ? name : "")
				  : NULL;
		if (!obj) {
			if (json_is_true(json_object_get(src, "optional")))
				continue;
			config_error(why, "%s \"%s\" not found (volume %s)",
				     kind, name ? name : "", vname);
			json_decref(files);
			return NULL;
		}
		defmode = (int)json_integer_value(
			json_object_get(src, "defaultMode"));
		data = json_object_get(obj, "data");
		items = json_object_get(src, "items");
		/* Secret files are never world-readable here. */
#define FILE_MODE(m) (secret ? (m)&0770 : (m))
		if (items) {
			json_array_foreach (items, j, item) {
				const char *k = sm_json_get_str(item, "key");
				json_t *mode = json_object_get(item, "mode");

				v = json_object_get(data, k);
				if (!v && !secret)
					v = json_object_get(
						json_object_get(obj,
								"binaryData"),
						k);
				if (!v) {
					config_error(why,
						     "couldn't find key "
						     "%s in %s %s/%s "
						     "(volume %s)",
						     k, kind, ns, name, vname);
					json_decref(files);
					return NULL;
				}
				sm_buf_reset(&enc);
				if (!secret && json_object_get(data, k))
					sm_base64_encode(json_string_value(v),
							 json_string_length(v),
							 &enc);
				else
					sm_buf_adds(&enc, json_string_value(v));
				add_file(files, ctx->volume_dir, vname,
					 sm_json_get_str(item, "path"),
					 sm_buf_cstr(&enc),
					 FILE_MODE(
						 mode ? (int)json_integer_value(
								mode)
						      : defmode));
			}
		} else {
			json_object_foreach (data, key, v) {
				sm_buf_reset(&enc);
				if (secret)
					sm_buf_adds(&enc, json_string_value(v));
				else
					sm_base64_encode(json_string_value(v),
							 json_string_length(v),
							 &enc);
				add_file(files, ctx->volume_dir, vname, key,
					 sm_buf_cstr(&enc), FILE_MODE(defmode));
			}
			if (!secret)
				json_object_foreach (
					json_object_get(obj, "binaryData"), key,
					v)
					add_file(files, ctx->volume_dir, vname,
						 key, json_string_value(v),
						 defmode);
		}
#undef FILE_MODE
		sm_buf_release(&enc);
	}
	return files;
}
