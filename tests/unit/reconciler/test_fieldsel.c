/*
 * test_fieldsel.c: field selectors as kubectl and kubelets send them
 * (describe pod/node, events --for, the informer's metadata.name, the
 * agent's spec.nodeName): parsing, matching and the 400 messages.
 *
 * JSON in the tables is written with ' for "; test_json() swaps them back.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "reconciler/fieldsel.h"
#include "tests/unit/testjson.h"

#include "common/banned.h"

#define POD_ON_N1                                                           \
	"{'kind':'Pod','metadata':{'name':'web-1','namespace':'default'},'" \
	"spec':{'nodeName':'n1','restartPolicy':'Always'},'status':{"       \
	"'phase':'Running','podIP':'10.0.0.5'}}"
#define POD_PENDING                                                      \
	"{'kind':'Pod','metadata':{'name':'web-2','namespace':'shop'},'" \
	"spec':{'hostNetwork':true},'status':{'phase':'Pending'}}"
#define EVENT                                                                \
	"{'kind':'Event','metadata':{'name':'web-1.17a','namespace':"        \
	"'default'},'involvedObject':{'kind':'Pod','namespace':'default',"   \
	"'name':'web-1','uid':'u-1','apiVersion':'v1','fieldPath':"          \
	"'spec.containers{main}'},'reason':'Killing','type':'Warning',"      \
	"'source':{'component':'kubelet','host':'n1'},'reportingComponent':" \
	"'kubelet'}"
#define NODE "{'kind':'Node','metadata':{'name':'n1'},'spec':{}}"

struct match_case {
	const char *selector;
	const char *kind;
	const char *object;
	bool match;
};

static void test_field_selectors_match_what_kubectl_sends(void **state)
{
	static const struct match_case t[] = {
		{ "", "Pod", POD_ON_N1, true },
		{ "metadata.name=web-1", "Pod", POD_ON_N1, true },
		{ "metadata.name==web-1", "Pod", POD_ON_N1, true },
		{ "metadata.name=web-2", "Pod", POD_ON_N1, false },
		{ "metadata.name!=web-2", "Pod", POD_ON_N1, true },
		{ "metadata.namespace=default", "Pod", POD_ON_N1, true },
		{ "metadata.namespace=default", "Pod", POD_PENDING, false },
		{ "metadata.namespace=", NULL, NODE, true },
		/* The agent's watch, and the scheduler's unscheduled pods. */
		{ "spec.nodeName=n1", "Pod", POD_ON_N1, true },
		{ "spec.nodeName=n1", "Pod", POD_PENDING, false },
		{ "spec.nodeName=", "Pod", POD_PENDING, true },
		{ "spec.nodeName=", "Pod", POD_ON_N1, false },
		/* describe node. */
		{ "spec.nodeName=n1,status.phase!=Succeeded,status.phase!="
		  "Failed",
		  "Pod", POD_ON_N1, true },
		{ "status.phase!=Running,spec.nodeName=n1", "Pod", POD_ON_N1,
		  false },
		{ "status.podIP=10.0.0.5", "Pod", POD_ON_N1, true },
		{ "spec.restartPolicy=Always", "Pod", POD_ON_N1, true },
		{ "spec.hostNetwork=false", "Pod", POD_ON_N1, true },
		{ "spec.hostNetwork=true", "Pod", POD_PENDING, true },
		/* describe pod. */
		{ "involvedObject.name=web-1,involvedObject.namespace=default,"
		  "involvedObject.uid=u-1",
		  "Event", EVENT, true },
		{ "involvedObject.name=web-1,involvedObject.uid=u-2", "Event",
		  EVENT, false },
		/* events --for pod/web-1. */
		{ "involvedObject.kind=Pod,involvedObject.apiVersion=v1,"
		  "involvedObject.name=web-1",
		  "Event", EVENT, true },
		{ "involvedObject.kind=Deployment", "Event", EVENT, false },
		{ "involvedObject.fieldPath=spec.containers{main}", "Event",
		  EVENT, true },
		{ "type=Warning,reason=Killing", "Event", EVENT, true },
		{ "type=Normal", "Event", EVENT, false },
		{ "source=kubelet", "Event", EVENT, true },
		{ "reportingComponent=kubelet", "Event", EVENT, true },
		{ "spec.unschedulable=false", "Node", NODE, true },
		{ "spec.unschedulable!=false", "Node", NODE, false },
		/* Blanks around terms, empty terms and escapes. */
		{ " metadata.name = web-1 ,, ", "Pod", POD_ON_N1, true },
		{ "metadata.name=a\\,b", NULL, "{'metadata':{'name':'a,b'}}",
		  true },
		{ "metadata.name=a\\=b\\\\", NULL,
		  "{'metadata':{'name':'a=b\\\\'}}", true },
		{ "metadata.name=a=b", NULL, "{'metadata':{'name':'a=b'}}",
		  true },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(t); i++) {
		struct fieldsel fs = FIELDSEL_INIT;
		struct sm_err err = SM_ERR_INIT;
		json_t *obj = test_json(t[i].object);

		if (fieldsel_parse(&fs, t[i].selector, t[i].kind, &err)) {
			print_error("\"%s\": %s\n", t[i].selector,
				    err.items[0].msg);
			fail();
		}
		if (fieldsel_matches(&fs, obj) != t[i].match) {
			print_error("\"%s\" on %s: want %s\n", t[i].selector,
				    t[i].object,
				    t[i].match ? "match" : "no match");
			fail();
		}
		assert_int_equal(err.nr, 0);
		fieldsel_release(&fs);
		json_decref(obj);
	}
}

static void test_field_selector_errors_name_the_term(void **state)
{
	static const struct {
		const char *selector, *kind, *msg;
	} t[] = {
		{ "spec.foo=x", "Pod",
		  "field selector \"spec.foo=x\": field label not supported: "
		  "\"spec.foo\" (Pod supports metadata.name, "
		  "metadata.namespace, spec.nodeName, spec.restartPolicy, "
		  "spec.schedulerName, spec.serviceAccountName, "
		  "spec.hostNetwork, status.phase, status.podIP, "
		  "status.nominatedNodeName)" },
		{ "metadata.name=a,spec.nodeName=n1", "Deployment",
		  "field selector \"metadata.name=a,spec.nodeName=n1\": field "
		  "label not supported: \"spec.nodeName\" (Deployment "
		  "supports metadata.name, metadata.namespace)" },
		{ "type=Warning", "Node",
		  "field selector \"type=Warning\": field label not "
		  "supported: \"type\" (Node supports metadata.name, "
		  "metadata.namespace, spec.unschedulable)" },
		{ "foo=bar", NULL,
		  "field selector \"foo=bar\": field label not supported: "
		  "\"foo\" (stuurman only supports metadata.name, "
		  "metadata.namespace, spec.nodeName, spec.restartPolicy, "
		  "spec.schedulerName, spec.serviceAccountName, "
		  "spec.hostNetwork, status.phase, status.podIP, "
		  "status.nominatedNodeName, involvedObject.kind, "
		  "involvedObject.namespace, involvedObject.name, "
		  "involvedObject.uid, involvedObject.apiVersion, "
		  "involvedObject.resourceVersion, involvedObject.fieldPath, "
		  "reason, reportingComponent, source, type, "
		  "spec.unschedulable)" },
		{ "metadata.name", "Pod",
		  "field selector \"metadata.name\": invalid term "
		  "\"metadata.name\": expected key=value, key==value or "
		  "key!=value" },
		{ "metadata.name=a,b", "Pod",
		  "field selector \"metadata.name=a,b\": invalid term \"b\": "
		  "expected key=value, key==value or key!=value" },
		{ "=web", "Pod",
		  "field selector \"=web\": invalid term \"=web\": missing "
		  "field label" },
		{ "metadata.name=a\\b", "Pod",
		  "field selector \"metadata.name=a\\b\": invalid term "
		  "\"metadata.name=a\\b\": a backslash may only escape '\\', "
		  "',' or '='" },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(t); i++) {
		struct fieldsel fs = FIELDSEL_INIT;
		struct sm_err err = SM_ERR_INIT;
		int rc = fieldsel_parse(&fs, t[i].selector, t[i].kind, &err);

		if (rc != -EINVAL || err.nr != 1 ||
		    strcmp(err.items[0].msg, t[i].msg)) {
			print_error("\"%s\":\n got  %d %s\n want %s\n",
				    t[i].selector, rc,
				    err.nr ? err.items[0].msg : "(none)",
				    t[i].msg);
			fail();
		}
		/* A failed parse leaves the selector empty. */
		assert_true(fieldsel_empty(&fs));
		assert_null(fs.terms);
		sm_err_release(&err);
		/* Without a sink it fails the same way. */
		assert_int_equal(
			fieldsel_parse(&fs, t[i].selector, t[i].kind, NULL),
			-EINVAL);
	}
}

static void test_field_selector_required_value_serves_an_index(void **state)
{
	struct fieldsel fs = FIELDSEL_INIT;

	assert_int_equal(fieldsel_parse(&fs,
					"spec.nodeName=n1,metadata.name!=x,"
					"status.phase==Running",
					"Pod", NULL),
			 0);
	assert_int_equal(fs.nr, 3);
	assert_string_equal(fieldsel_required(&fs, "spec.nodeName"), "n1");
	assert_string_equal(fieldsel_required(&fs, "status.phase"), "Running");
	assert_null(fieldsel_required(&fs, "metadata.name"));
	assert_null(fieldsel_required(&fs, "metadata.namespace"));
	assert_int_equal(fs.terms[1].op, FIELDSEL_NEQ);
	fieldsel_release(&fs);
	assert_true(fieldsel_empty(&fs));

	/* An empty value is a requirement too (unscheduled pods). */
	assert_int_equal(fieldsel_parse(&fs, "spec.nodeName=", "Pod", NULL), 0);
	assert_string_equal(fieldsel_required(&fs, "spec.nodeName"), "");
	fieldsel_release(&fs);

	assert_int_equal(fieldsel_parse(&fs, NULL, "Pod", NULL), 0);
	assert_true(fieldsel_empty(&fs));
}

static void test_filtered_watch_sees_entering_and_leaving(void **state)
{
	static const struct {
		const char *old, *new;
		const char *want;
	} t[] = {
		{ NULL, POD_ON_N1, "ADDED" }, /* created on n1 */
		{ POD_PENDING, POD_ON_N1, "ADDED" }, /* bound to n1 */
		{ POD_ON_N1, POD_ON_N1, "MODIFIED" },
		{ POD_ON_N1, POD_PENDING, "DELETED" }, /* left n1 */
		{ POD_ON_N1, NULL, "DELETED" }, /* deleted */
		{ POD_PENDING, POD_PENDING, NULL },
		{ NULL, POD_PENDING, NULL },
	};
	struct fieldsel fs = FIELDSEL_INIT;

	assert_int_equal(fieldsel_parse(&fs, "spec.nodeName=n1", "Pod", NULL),
			 0);
	for (size_t i = 0; i < SM_ARRAY_SIZE(t); i++) {
		json_t *old = t[i].old ? test_json(t[i].old) : NULL;
		json_t *new = t[i].new ? test_json(t[i].new) : NULL;
		const char *got =
			fieldsel_watch_event(old && fieldsel_matches(&fs, old),
					     new &&fieldsel_matches(&fs, new));

		if (t[i].want ? !got || strcmp(got, t[i].want) : got != NULL) {
			print_error("case %zu: got %s, want %s\n", i,
				    got ? got : "nothing",
				    t[i].want ? t[i].want : "nothing");
			fail();
		}
		json_decref(old);
		json_decref(new);
	}
	fieldsel_release(&fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field_selectors_match_what_kubectl_sends),
		cmocka_unit_test(test_field_selector_errors_name_the_term),
		cmocka_unit_test(
			test_field_selector_required_value_serves_an_index),
		cmocka_unit_test(test_filtered_watch_sees_entering_and_leaving),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
