/*
 * test_validate.c: mf_object_check on small manifests: the defaults
 * Kubernetes applies, the rules that span fields, and where each error is
 * reported.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/json.h"
#include "manifests/kinds.h"
#include "manifests/parse.h"
#include "common/banned.h"

struct checked {
	struct mf_file file;
	struct sm_err err;
	enum mf_check_result result;
	const struct mf_kind *kind;
	json_t *obj; /* borrowed from file */
};

static void check_yaml(struct checked *c, const char *yaml, bool strict)
{
	struct mf_check_opts opts = { strict };
	struct mf_file f = MF_FILE_INIT;

	memset(c, 0, sizeof(*c));
	c->file = f;
	assert_int_equal(mf_parse_buffer(&c->file, "t.yaml", yaml, strlen(yaml),
					 NULL, &c->err),
			 0);
	assert_int_equal(c->file.nr_docs, 1);
	c->obj = c->file.docs[0].root;
	c->result = mf_object_check(c->obj, &c->file.docs[0], "", "t.yaml",
				    &opts, &c->kind, &c->err);
}

static void checked_release(struct checked *c)
{
	mf_file_release(&c->file);
	sm_err_release(&c->err);
}

/* Whether some diagnostic is at line:col and contains sub. */
static bool has_diag(const struct checked *c, enum sm_severity sev, int line,
		     int col, const char *sub)
{
	for (size_t i = 0; i < c->err.nr; i++) {
		const struct sm_diag *d = &c->err.items[i];

		if (d->severity == sev && d->line == line && d->col == col &&
		    strstr(d->msg, sub))
			return true;
	}
	return false;
}

static const char *str_at(const struct checked *c, const char *path)
{
	json_t *v = sm_json_get_path(c->obj, path);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_int_t int_at(const struct checked *c, const char *path)
{
	json_t *v = sm_json_get_path(c->obj, path);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char deployment[] = "apiVersion: apps/v1\n"
				 "kind: Deployment\n"
				 "metadata:\n"
				 "  name: web\n"
				 "spec:\n"
				 "  selector:\n"
				 "    matchLabels:\n"
				 "      app: web\n"
				 "  template:\n"
				 "    metadata:\n"
				 "      labels:\n"
				 "        app: web\n"
				 "    spec:\n"
				 "      containers:\n"
				 "      - name: web\n"
				 "        image: nginx:1.25\n"
				 "        readinessProbe:\n"
				 "          httpGet:\n"
				 "            port: 80\n";

static void test_deployment_gets_kubernetes_defaults(void **state)
{
	struct checked c;
	json_t *container;

	check_yaml(&c, deployment, false);
	assert_int_equal(c.result, MF_CHECK_OK);
	assert_string_equal(c.kind->kind, "Deployment");
	assert_int_equal(int_at(&c, "spec.replicas"), 1);
	assert_int_equal(int_at(&c, "spec.revisionHistoryLimit"), 10);
	assert_int_equal(int_at(&c, "spec.progressDeadlineSeconds"), 600);
	assert_string_equal(str_at(&c, "spec.strategy.type"), "RollingUpdate");
	assert_string_equal(str_at(&c, "spec.strategy.rollingUpdate.maxSurge"),
			    "25%");
	assert_string_equal(
		str_at(&c, "spec.strategy.rollingUpdate.maxUnavailable"),
		"25%");
	assert_string_equal(str_at(&c, "metadata.namespace"), "default");
	assert_string_equal(str_at(&c, "spec.template.spec.restartPolicy"),
			    "Always");
	assert_int_equal(
		int_at(&c, "spec.template.spec.terminationGracePeriodSeconds"),
		30);
	assert_string_equal(str_at(&c, "spec.template.spec.dnsPolicy"),
			    "ClusterFirst");
	container = json_array_get(
		sm_json_get_path(c.obj, "spec.template.spec.containers"), 0);
	assert_string_equal(sm_json_get_str(container, "imagePullPolicy"),
			    "IfNotPresent");
	assert_string_equal(
		sm_json_get_str(container, "terminationMessagePolicy"), "File");
	assert_int_equal(json_integer_value(sm_json_get_path(
				 container, "readinessProbe.periodSeconds")),
			 10);
	assert_int_equal(json_integer_value(sm_json_get_path(
				 container, "readinessProbe.failureThreshold")),
			 3);
	assert_string_equal(
		json_string_value(sm_json_get_path(
			container, "readinessProbe.httpGet.scheme")),
		"HTTP");
	checked_release(&c);
}

static void test_image_pull_policy_follows_the_tag(void **state)
{
	static const struct {
		const char *image, *policy;
	} cases[] = {
		{ "nginx", "Always" },
		{ "nginx:latest", "Always" },
		{ "nginx:1.25", "IfNotPresent" },
		{ "localhost:5000/app", "Always" },
		{ "localhost:5000/app:v2", "IfNotPresent" },
		{ "nginx@sha256:0123", "IfNotPresent" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sm_buf y = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		struct checked c;

		sm_buf_addf(&y,
			    "apiVersion: v1\nkind: Pod\nmetadata:\n"
			    "  name: p\nspec:\n  containers:\n  - name: c\n"
			    "    image: %s\n",
			    cases[i].image);
		check_yaml(&c, sm_buf_cstr(&y), false);
		assert_int_equal(c.result, MF_CHECK_OK);
		assert_string_equal(
			sm_json_get_str(
				json_array_get(
					sm_json_get_path(c.obj,
							 "spec.containers"),
					0),
				"imagePullPolicy"),
			cases[i].policy);
		checked_release(&c);
		sm_buf_release(&y);
	}
}

static void test_replicas_as_string_is_reported_at_the_value(void **state)
{
	struct checked c;
	char *y = strdup(deployment);
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	/* Insert "  replicas: three" as line 6. */
	sm_buf_adds(&b, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
			"  name: web\nspec:\n  replicas: three\n");
	sm_buf_adds(&b, strstr(y, "  selector:"));
	check_yaml(&c, sm_buf_cstr(&b), false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 6, 13,
			     "Deployment \"web\": spec.replicas: expected an "
			     "integer, got \"three\""));
	checked_release(&c);
	sm_buf_release(&b);
	free(y);
}

static void test_selector_must_match_template_labels(void **state)
{
	struct checked c;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *p = strstr(deployment, "      labels:\n        app: web");

	sm_buf_add(&b, deployment, (size_t)(p - deployment));
	sm_buf_adds(&b, "      labels:\n        app: other\n");
	sm_buf_adds(&b, strstr(p, "    spec:"));
	check_yaml(&c, sm_buf_cstr(&b), false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 12, 9,
			     "spec.template.metadata.labels: selector does not "
			     "match template labels (selector: app=web)"));
	checked_release(&c);
	sm_buf_release(&b);
}

static void test_unknown_field_warns_and_strict_makes_it_an_error(void **state)
{
	static const char y[] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
				"  name: cfg\n  bogus: 1\ndata:\n  a: b\n";
	struct checked c;

	check_yaml(&c, y, false);
	assert_int_equal(c.result, MF_CHECK_OK);
	assert_true(has_diag(&c, SM_WARNING, 5, 3,
			     "metadata.bogus: unknown field \"bogus\""));
	assert_null(sm_json_get_path(c.obj, "metadata.bogus"));
	checked_release(&c);

	check_yaml(&c, y, true);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 5, 3, "unknown field \"bogus\""));
	checked_release(&c);
}

static void test_unsupported_kind_is_a_warning_naming_the_kinds(void **state)
{
	static const char y[] = "apiVersion: networking.k8s.io/v1\n"
				"kind: Ingress\nmetadata:\n  name: web\n";
	struct checked c;

	check_yaml(&c, y, false);
	assert_int_equal(c.result, MF_CHECK_UNSUPPORTED);
	assert_null(c.kind);
	assert_true(has_diag(&c, SM_WARNING, 2, 7,
			     "kind \"Ingress\" is not supported by stuurman "
			     "(apiVersion networking.k8s.io/v1)"));
	assert_true(has_diag(&c, SM_WARNING, 2, 7, "Deployment"));
	checked_release(&c);

	check_yaml(&c, y, true);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_int_equal(sm_err_count(&c.err, SM_ERROR), 1);
	checked_release(&c);
}

static void test_wrong_api_version_names_the_right_one(void **state)
{
	struct checked c;

	check_yaml(&c,
		   "apiVersion: extensions/v1beta1\nkind: Deployment\n"
		   "metadata:\n  name: web\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 1, 13, "use \"apps/v1\""));
	checked_release(&c);
}

static void test_missing_kind_is_reported_at_the_document(void **state)
{
	struct checked c;

	check_yaml(&c, "apiVersion: v1\nmetadata:\n  name: x\n", false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 1, 1, "missing kind"));
	checked_release(&c);
}

static void test_names_are_checked_by_kind(void **state)
{
	struct checked c;

	/* Services are RFC 1035 labels: no leading digit. */
	check_yaml(&c,
		   "apiVersion: v1\nkind: Service\nmetadata:\n"
		   "  name: 1web\nspec:\n  ports:\n  - port: 80\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 4, 9,
			     "metadata.name: invalid value \"1web\""));
	checked_release(&c);
	/* ConfigMaps are subdomains: dots are fine. */
	check_yaml(&c,
		   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		   "  name: app.config\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_OK);
	checked_release(&c);
	check_yaml(&c,
		   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		   "  name: App_Config\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 4, 9, "lower case alphanumeric"));
	checked_release(&c);
}

static void test_secret_string_data_merges_into_base64_data(void **state)
{
	struct checked c;

	check_yaml(&c,
		   "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
		   "data:\n  a: b2xk\n  b: YmI=\nstringData:\n  a: new\n"
		   "  c: hello\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_OK);
	assert_string_equal(str_at(&c, "data.a"), "bmV3");
	assert_string_equal(str_at(&c, "data.b"), "YmI=");
	assert_string_equal(str_at(&c, "data.c"), "aGVsbG8=");
	assert_null(sm_json_get_path(c.obj, "stringData"));
	assert_string_equal(str_at(&c, "type"), "Opaque");
	checked_release(&c);
}

static void test_secret_data_must_be_base64(void **state)
{
	struct checked c;

	check_yaml(&c,
		   "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
		   "data:\n  password: hunter2\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 6, 13, "illegal base64"));
	/* The value itself never appears in the message. */
	for (size_t i = 0; i < c.err.nr; i++)
		assert_null(strstr(c.err.items[i].msg, "hunter2"));
	checked_release(&c);
}

static void test_quantities_become_canonical(void **state)
{
	struct checked c;
	json_t *res;

	check_yaml(&c,
		   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
		   "spec:\n  containers:\n  - name: c\n    image: x:1\n"
		   "    resources:\n      limits:\n        cpu: 0.5\n"
		   "        memory: 1024Ki\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_OK);
	res = sm_json_get_path(
		json_array_get(sm_json_get_path(c.obj, "spec.containers"), 0),
		"resources");
	assert_string_equal(
		json_string_value(sm_json_get_path(res, "limits.cpu")), "500m");
	assert_string_equal(
		json_string_value(sm_json_get_path(res, "limits.memory")),
		"1Mi");
	/* A Pod's requests default to its limits. */
	assert_string_equal(
		json_string_value(sm_json_get_path(res, "requests.cpu")),
		"500m");
	checked_release(&c);
}

static void test_requests_over_limits_are_an_error(void **state)
{
	struct checked c;

	check_yaml(&c,
		   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
		   "spec:\n  containers:\n  - name: c\n    image: x:1\n"
		   "    resources:\n      limits:\n        cpu: 100m\n"
		   "      requests:\n        cpu: 1\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 13, 14,
			     "must be less than or equal to cpu limit"));
	checked_release(&c);
}

static void test_volume_mount_needs_a_volume(void **state)
{
	struct checked c;

	check_yaml(&c,
		   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
		   "spec:\n  containers:\n  - name: c\n    image: x:1\n"
		   "    volumeMounts:\n    - name: data\n      mountPath: /d\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 10, 13,
			     "spec.containers[0].volumeMounts[0].name: volume "
			     "\"data\" not found in volumes"));
	checked_release(&c);
}

static void test_service_defaults_target_port_and_type(void **state)
{
	struct checked c;
	json_t *port;

	check_yaml(&c,
		   "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
		   "spec:\n  selector:\n    app: web\n  ports:\n"
		   "  - port: 8080\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_OK);
	port = json_array_get(sm_json_get_path(c.obj, "spec.ports"), 0);
	assert_int_equal(
		json_integer_value(json_object_get(port, "targetPort")), 8080);
	assert_string_equal(sm_json_get_str(port, "protocol"), "TCP");
	assert_string_equal(str_at(&c, "spec.type"), "ClusterIP");
	assert_string_equal(str_at(&c, "spec.sessionAffinity"), "None");
	checked_release(&c);
}

static void
test_an_empty_cluster_ip_and_node_port_zero_mean_allocate(void **state)
{
	struct checked c;

	check_yaml(&c,
		   "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
		   "spec:\n  type: NodePort\n  clusterIP: \"\"\n"
		   "  clusterIPs: []\n  ports:\n  - port: 80\n"
		   "    nodePort: 0\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_OK);
	assert_null(sm_json_get_path(c.obj, "spec.clusterIP"));
	assert_null(sm_json_get_path(c.obj, "spec.clusterIPs"));
	assert_null(json_object_get(
		json_array_get(sm_json_get_path(c.obj, "spec.ports"), 0),
		"nodePort"));
	checked_release(&c);
}

static void test_node_port_out_of_range_is_an_error(void **state)
{
	struct checked c;

	check_yaml(&c,
		   "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
		   "spec:\n  type: NodePort\n  ports:\n  - port: 80\n"
		   "    nodePort: 8080\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 9, 15, "between 30000 and 32767"));
	checked_release(&c);
}

static void test_a_node_port_may_repeat_only_for_another_protocol(void **state)
{
	struct checked c;

	/* DNS: 53/TCP and 53/UDP on one nodePort, as Kubernetes allows. */
	check_yaml(&c,
		   "apiVersion: v1\nkind: Service\nmetadata:\n  name: dns\n"
		   "spec:\n  type: NodePort\n  ports:\n  - name: tcp\n"
		   "    port: 53\n    nodePort: 30053\n  - name: udp\n"
		   "    port: 53\n    protocol: UDP\n    nodePort: 30053\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_OK);
	checked_release(&c);
	check_yaml(&c,
		   "apiVersion: v1\nkind: Service\nmetadata:\n  name: dns\n"
		   "spec:\n  type: NodePort\n  ports:\n  - name: a\n"
		   "    port: 53\n    nodePort: 30053\n  - name: b\n"
		   "    port: 54\n    nodePort: 30053\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 13, 15, "duplicate value 30053"));
	checked_release(&c);
}

static void test_server_set_fields_and_status_are_dropped(void **state)
{
	struct checked c;

	check_yaml(&c,
		   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		   "  name: c\n  uid: 1234\n  resourceVersion: \"7\"\n"
		   "  creationTimestamp: null\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_OK);
	assert_int_equal(sm_err_count(&c.err, SM_WARNING), 0);
	assert_null(sm_json_get_path(c.obj, "metadata.uid"));
	assert_null(sm_json_get_path(c.obj, "metadata.resourceVersion"));
	assert_null(sm_json_get_path(c.obj, "metadata.creationTimestamp"));
	checked_release(&c);
}

static void test_statefulset_mounts_may_name_claim_templates(void **state)
{
	struct checked c;

	check_yaml(&c,
		   "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n"
		   "  name: kv\nspec:\n  serviceName: kv\n  selector:\n"
		   "    matchLabels: {app: kv}\n  template:\n    metadata:\n"
		   "      labels: {app: kv}\n    spec:\n      containers:\n"
		   "      - name: kv\n        image: kv:1\n"
		   "        volumeMounts:\n        - name: data\n"
		   "          mountPath: /data\n  volumeClaimTemplates:\n"
		   "  - metadata:\n      name: data\n    spec:\n"
		   "      accessModes: [ReadWriteOnce]\n      resources:\n"
		   "        requests:\n          storage: 64Mi\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_OK);
	assert_string_equal(str_at(&c, "spec.podManagementPolicy"),
			    "OrderedReady");
	assert_int_equal(int_at(&c, "spec.updateStrategy.rollingUpdate."
				    "partition"),
			 0);
	checked_release(&c);
}

static void test_probe_needs_exactly_one_handler(void **state)
{
	struct checked c;

	check_yaml(&c,
		   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
		   "spec:\n  containers:\n  - name: c\n    image: x:1\n"
		   "    livenessProbe:\n      periodSeconds: 5\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 9, 5, "must specify one handler"));
	checked_release(&c);
}

static void test_label_value_as_boolean_hints_to_quote(void **state)
{
	struct checked c;

	check_yaml(&c,
		   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
		   "  name: c\n  labels:\n    enabled: true\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_true(has_diag(&c, SM_ERROR, 6, 14,
			     "metadata.labels[enabled]: expected a string, got "
			     "true (quote it"));
	checked_release(&c);
}

static void test_secret_values_never_appear_in_messages(void **state)
{
	struct checked c;

	check_yaml(&c,
		   "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
		   "stringData:\n  pin: 48151623\ndata:\n  k: 4242\n",
		   false);
	assert_int_equal(c.result, MF_CHECK_INVALID);
	assert_int_equal(sm_err_count(&c.err, SM_ERROR), 2);
	assert_true(has_diag(&c, SM_ERROR, 6, 8,
			     "stringData[pin]: expected a string, got a value "
			     "of type integer (not shown: Secret data)"));
	for (size_t i = 0; i < c.err.nr; i++) {
		assert_null(strstr(c.err.items[i].msg, "48151623"));
		assert_null(strstr(c.err.items[i].msg, "4242"));
	}
	checked_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deployment_gets_kubernetes_defaults),
		cmocka_unit_test(test_image_pull_policy_follows_the_tag),
		cmocka_unit_test(
			test_replicas_as_string_is_reported_at_the_value),
		cmocka_unit_test(test_selector_must_match_template_labels),
		cmocka_unit_test(
			test_unknown_field_warns_and_strict_makes_it_an_error),
		cmocka_unit_test(
			test_unsupported_kind_is_a_warning_naming_the_kinds),
		cmocka_unit_test(test_wrong_api_version_names_the_right_one),
		cmocka_unit_test(test_missing_kind_is_reported_at_the_document),
		cmocka_unit_test(test_names_are_checked_by_kind),
		cmocka_unit_test(
			test_secret_string_data_merges_into_base64_data),
		cmocka_unit_test(test_secret_data_must_be_base64),
		cmocka_unit_test(test_secret_values_never_appear_in_messages),
		cmocka_unit_test(test_quantities_become_canonical),
		cmocka_unit_test(test_requests_over_limits_are_an_error),
		cmocka_unit_test(test_volume_mount_needs_a_volume),
		cmocka_unit_test(test_service_defaults_target_port_and_type),
		cmocka_unit_test(
			test_an_empty_cluster_ip_and_node_port_zero_mean_allocate),
		cmocka_unit_test(test_node_port_out_of_range_is_an_error),
		cmocka_unit_test(
			test_a_node_port_may_repeat_only_for_another_protocol),
		cmocka_unit_test(test_server_set_fields_and_status_are_dropped),
		cmocka_unit_test(
			test_statefulset_mounts_may_name_claim_templates),
		cmocka_unit_test(test_probe_needs_exactly_one_handler),
		cmocka_unit_test(test_label_value_as_boolean_hints_to_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
