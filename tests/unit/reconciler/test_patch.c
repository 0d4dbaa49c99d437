/*
 * test_patch.c: JSON merge patch, JSON patch and strategic merge patch,
 * with the patches kubectl sends (scale, set image, rollout restart, pause,
 * resume and undo, and apply's patch from the API reference, §12.1).
 *
 * JSON in the tables is written with ' for " to stay readable; test_json()
 * swaps them back (no test value needs a real apostrophe).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/rand.h"
#include "common/xalloc.h"
#include "reconciler/patch.h"
#include "tests/unit/testjson.h"

#include "common/banned.h"

static char *canonical(const json_t *j)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	assert_int_equal(sm_json_dump_canonical(j, &b), 0);
	return sm_buf_detach(&b, NULL);
}

/* Fails the test (naming the case) unless got equals the JSON in want. */
static void expect_json(const char *name, const json_t *got, const char *want)
{
	json_t *w = test_json(want);
	char *g = canonical(got), *ws = canonical(w);

	if (strcmp(g, ws)) {
		print_error("%s:\n got  %s\n want %s\n", name, g, ws);
		fail();
	}
	free(g);
	free(ws);
	json_decref(w);
}

/* True when any object key in j starts with '$' (a stored directive). */
static bool has_directive(const json_t *j)
{
	const char *key;
	json_t *v;

	if (json_is_array(j)) {
		for (size_t i = 0; i < json_array_size(j); i++)
			if (has_directive(json_array_get(j, i)))
				return true;
	}
	json_object_foreach ((json_t *)j, key, v) {
		if (key[0] == '$' || has_directive(v))
			return true;
	}
	return false;
}

typedef int (*patch_fn)(const json_t *, const json_t *, json_t **,
			struct sm_err *);

struct apply_case {
	const char *name;
	const char *live;
	const char *patch;
	const char *want;
};

/*
 * Runs each case: the result must equal want, the live object must be
 * unchanged and share nothing with the result, and no directive may be
 * stored.
 */
static void run_apply_cases(patch_fn fn, const struct apply_case *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct sm_err err = SM_ERR_INIT;
		json_t *live = test_json(t[i].live),
		       *patch = test_json(t[i].patch);
		json_t *out = NULL;
		char *before = canonical(live), *after;

		if (fn(live, patch, &out, &err)) {
			print_error("%s: failed: %s\n", t[i].name,
				    err.nr ? err.items[0].msg : "?");
			fail();
		}
		assert_int_equal(err.nr, 0);
		expect_json(t[i].name, out, t[i].want);
		assert_false(has_directive(out));
		/* Changing the result must not reach the live object. */
		json_object_set_new(out, "touched", json_true());
		json_object_clear(json_object_get(out, "spec"));
		after = canonical(live);
		if (strcmp(before, after)) {
			print_error("%s: live object changed\n", t[i].name);
			fail();
		}
		free(before);
		free(after);
		json_decref(out);
		json_decref(live);
		json_decref(patch);
		sm_err_release(&err);
	}
}

struct error_case {
	const char *name;
	const char *live;
	const char *patch;
	int code;
	const char *msg;
};

static void run_error_cases(patch_fn fn, const struct error_case *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct sm_err err = SM_ERR_INIT;
		json_t *live = test_json(t[i].live),
		       *patch = test_json(t[i].patch);
		json_t *out = (json_t *)0x1;
		char *before = canonical(live), *after;
		int rc = fn(live, patch, &out, &err);

		if (rc != t[i].code || err.nr != 1 ||
		    strcmp(err.items[0].msg, t[i].msg)) {
			print_error("%s:\n got  %d %s\n want %d %s\n",
				    t[i].name, rc,
				    err.nr ? err.items[0].msg : "(no message)",
				    t[i].code, t[i].msg);
			fail();
		}
		assert_ptr_equal(out, (json_t *)0x1);
		after = canonical(live);
		assert_string_equal(before, after);
		free(before);
		free(after);
		json_decref(live);
		json_decref(patch);
		sm_err_release(&err);
	}
}

/* ---- JSON merge patch ---- */

static void test_merge_patch_follows_rfc_7386(void **state)
{
	static const struct apply_case t[] = {
		/* RFC 7386, appendix A (those with an object patch). */
		{ "replace a member", "{'a':'b'}", "{'a':'c'}", "{'a':'c'}" },
		{ "add a member", "{'a':'b'}", "{'b':'c'}",
		  "{'a':'b','b':'c'}" },
		{ "null deletes", "{'a':'b'}", "{'a':null}", "{}" },
		{ "null deletes one", "{'a':'b','b':'c'}", "{'a':null}",
		  "{'b':'c'}" },
		{ "a list replaced by a string", "{'a':['b']}", "{'a':'c'}",
		  "{'a':'c'}" },
		{ "a string replaced by a list", "{'a':'c'}", "{'a':['b']}",
		  "{'a':['b']}" },
		{ "maps merge", "{'a':{'b':'c'}}", "{'a':{'b':'d','c':null}}",
		  "{'a':{'b':'d'}}" },
		{ "lists are replaced", "{'a':[{'b':'c'}]}", "{'a':[1]}",
		  "{'a':[1]}" },
		{ "a stored null stays", "{'e':null}", "{'a':1}",
		  "{'e':null,'a':1}" },
		{ "nulls inside new maps go", "{}", "{'a':{'bb':{'ccc':null}}}",
		  "{'a':{'bb':{}}}" },
		{ "a scalar becomes a map", "{'a':1}", "{'a':{'b':null,'c':2}}",
		  "{'a':{'c':2}}" },
	};

	run_apply_cases(patch_merge, t, SM_ARRAY_SIZE(t));
}

static void
test_merge_patch_does_what_kubectl_scale_and_label_send(void **state)
{
	static const struct apply_case t[] = {
		{ "kubectl scale --replicas=5",
		  "{'kind':'Deployment','spec':{'replicas':2,'template':{'spec'"
		  ":{'containers':[{'name':'main','image':'x'}]}}}}",
		  "{'spec':{'replicas':5}}",
		  "{'kind':'Deployment','spec':{'replicas':5,'template':{'spec'"
		  ":{'containers':[{'name':'main','image':'x'}]}}}}" },
		{ "kubectl label app=web tier-",
		  "{'metadata':{'name':'p','labels':{'tier':'fe'}}}",
		  "{'metadata':{'labels':{'app':'web','tier':null}}}",
		  "{'metadata':{'name':'p','labels':{'app':'web'}}}" },
		{ "a merge patch replaces lists of containers",
		  "{'spec':{'containers':[{'name':'a'},{'name':'b'}]}}",
		  "{'spec':{'containers':[{'name':'b','image':'y'}]}}",
		  "{'spec':{'containers':[{'name':'b','image':'y'}]}}" },
	};

	run_apply_cases(patch_merge, t, SM_ARRAY_SIZE(t));
}

static void test_merge_patch_that_is_not_an_object_is_refused(void **state)
{
	static const struct error_case t[] = {
		{ "array", "{'a':1}", "[1]", -EINVAL,
		  "merge patch: expected a JSON object, got array" },
		{ "string", "{'a':1}", "'x'", -EINVAL,
		  "merge patch: expected a JSON object, got string" },
	};

	run_error_cases(patch_merge, t, SM_ARRAY_SIZE(t));
}

/* ---- JSON patch ---- */

static void test_json_patch_follows_rfc_6902(void **state)
{
	static const struct apply_case t[] = {
		/* RFC 6902, appendix A. */
		{ "A.1 add an object member", "{'foo':'bar'}",
		  "[{'op':'add','path':'/baz','value':'qux'}]",
		  "{'baz':'qux','foo':'bar'}" },
		{ "A.2 add an array element", "{'foo':['bar','baz']}",
		  "[{'op':'add','path':'/foo/1','value':'qux'}]",
		  "{'foo':['bar','qux','baz']}" },
		{ "A.3 remove an object member", "{'baz':'qux','foo':'bar'}",
		  "[{'op':'remove','path':'/baz'}]", "{'foo':'bar'}" },
		{ "A.4 remove an array element", "{'foo':['bar','qux','baz']}",
		  "[{'op':'remove','path':'/foo/1'}]",
		  "{'foo':['bar','baz']}" },
		{ "A.5 replace a value", "{'baz':'qux','foo':'bar'}",
		  "[{'op':'replace','path':'/baz','value':'boo'}]",
		  "{'baz':'boo','foo':'bar'}" },
		{ "A.6 move a value",
		  "{'foo':{'bar':'baz','waldo':'fred'},'qux':{'corge':'grault'}"
		  "}",
		  "[{'op':'move','from':'/foo/waldo','path':'/qux/thud'}]",
		  "{'foo':{'bar':'baz'},'qux':{'corge':'grault','thud':'fred'}"
		  "}" },
		{ "A.7 move an array element",
		  "{'foo':['all','grass','cows','eat']}",
		  "[{'op':'move','from':'/foo/1','path':'/foo/3'}]",
		  "{'foo':['all','cows','eat','grass']}" },
		{ "A.8 test succeeds", "{'baz':'qux','foo':['a',2,'c']}",
		  "[{'op':'test','path':'/baz','value':'qux'},"
		  "{'op':'test','path':'/foo/1','value':2}]",
		  "{'baz':'qux','foo':['a',2,'c']}" },
		{ "A.10 add a nested member object", "{'foo':'bar'}",
		  "[{'op':'add','path':'/child','value':{'grandchild':{}}}]",
		  "{'foo':'bar','child':{'grandchild':{}}}" },
		{ "A.11 unknown members of an operation are ignored",
		  "{'foo':'bar'}",
		  "[{'op':'add','path':'/baz','value':'qux','xyz':123}]",
		  "{'foo':'bar','baz':'qux'}" },
		{ "A.14 ~0 and ~1 escapes", "{'/':9,'~1':10}",
		  "[{'op':'test','path':'/~01','value':10},"
		  "{'op':'add','path':'/a~1b','value':1}]",
		  "{'/':9,'~1':10,'a/b':1}" },
		{ "A.16 add an array value", "{'foo':['bar']}",
		  "[{'op':'add','path':'/foo/-','value':['abc','def']}]",
		  "{'foo':['bar',['abc','def']]}" },
		{ "test compares numbers by value", "{'n':1}",
		  "[{'op':'test','path':'/n','value':1.0}]", "{'n':1}" },
		{ "copy a value", "{'a':{'b':[1]}}",
		  "[{'op':'copy','from':'/a/b','path':'/c'},"
		  "{'op':'add','path':'/c/-','value':2}]",
		  "{'a':{'b':[1]},'c':[1,2]}" },
		{ "copy to the end of an array", "{'a':[1,2]}",
		  "[{'op':'copy','from':'/a/0','path':'/a/-'}]",
		  "{'a':[1,2,1]}" },
		{ "add at the size of an array appends", "{'a':[1]}",
		  "[{'op':'add','path':'/a/1','value':2}]", "{'a':[1,2]}" },
		{ "replace an array item", "{'a':[1,2,3]}",
		  "[{'op':'replace','path':'/a/1','value':9}]",
		  "{'a':[1,9,3]}" },
		{ "add replaces an existing member", "{'a':1}",
		  "[{'op':'add','path':'/a','value':2}]", "{'a':2}" },
		{ "replace the whole document", "{'a':1}",
		  "[{'op':'replace','path':'','value':{'b':2}}]", "{'b':2}" },
		{ "move to the same place changes nothing", "{'a':1}",
		  "[{'op':'move','from':'/a','path':'/a'}]", "{'a':1}" },
		{ "an empty patch changes nothing", "{'a':1}", "[]",
		  "{'a':1}" },
	};

	run_apply_cases(patch_json, t, SM_ARRAY_SIZE(t));
}

static void test_json_patch_does_what_kubectl_rollout_undo_sends(void **state)
{
	static const struct apply_case t[] = {
		{ "rollout undo",
		  "{'kind':'Deployment','metadata':{'name':'web','annotations':"
		  "{'deployment.kubernetes.io/revision':'3'}},'spec':{"
		  "'replicas':3,'template':{'metadata':{'labels':{'app':'web'}"
		  ",'annotations':{'kubectl.kubernetes.io/restartedAt':'T'}},"
		  "'spec':{'containers':[{'name':'main','image':'web:3'}]}}}}",
		  "[{'op':'replace','path':'/spec/template','value':{'metadata'"
		  ":{'labels':{'app':'web'}},'spec':{'containers':[{'name':"
		  "'main','image':'web:1'}]}}},{'op':'replace','path':"
		  "'/metadata/annotations','value':{"
		  "'deployment.kubernetes.io/revision':'3'}}]",
		  "{'kind':'Deployment','metadata':{'name':'web','annotations':"
		  "{'deployment.kubernetes.io/revision':'3'}},'spec':{"
		  "'replicas':3,'template':{'metadata':{'labels':{'app':'web'}"
		  "},'spec':{'containers':[{'name':'main','image':'web:1'}]}}}"
		  "}" },
	};

	run_apply_cases(patch_json, t, SM_ARRAY_SIZE(t));
}

static void test_json_patch_errors_name_the_operation_and_path(void **state)
{
	static const struct error_case t[] = {
		{ "missing member", "{'spec':{}}",
		  "[{'op':'test','path':'/spec','value':{}},"
		  "{'op':'replace','path':'/spec/x','value':1}]",
		  -EPROTO,
		  "json patch operation 1 (replace /spec/x): path not found" },
		{ "atomic: the first operation leaves no trace", "{'a':1}",
		  "[{'op':'add','path':'/b','value':2},"
		  "{'op':'remove','path':'/c'}]",
		  -EPROTO,
		  "json patch operation 1 (remove /c): path not found" },
		{ "a missing parent", "{'a':1}",
		  "[{'op':'add','path':'/x/y','value':1}]", -EPROTO,
		  "json patch operation 0 (add /x/y): path not found" },
		{ "a path through a scalar", "{'a':1}",
		  "[{'op':'add','path':'/a/b','value':1}]", -EPROTO,
		  "json patch operation 0 (add /a/b): path not found (an "
		  "integer has no members)" },
		{ "test fails", "{'a':1}",
		  "[{'op':'test','path':'/a','value':2}]", -EPROTO,
		  "json patch operation 0 (test /a): test failed: the value "
		  "is 1, not 2" },
		{ "test of a string fails", "{'a':'x'}",
		  "[{'op':'test','path':'/a','value':'y'}]", -EPROTO,
		  "json patch operation 0 (test /a): test failed: the value "
		  "is \"x\", not \"y\"" },
		{ "index past the end", "{'a':[1,2,3]}",
		  "[{'op':'add','path':'/a/4','value':1}]", -EPROTO,
		  "json patch operation 0 (add /a/4): path not found (index "
		  "4, the array has 3 items)" },
		{ "remove at the size", "{'a':[1]}",
		  "[{'op':'remove','path':'/a/1'}]", -EPROTO,
		  "json patch operation 0 (remove /a/1): path not found "
		  "(index 1, the array has 1 item)" },
		{ "a leading zero is no index", "{'a':[1,2]}",
		  "[{'op':'replace','path':'/a/01','value':1}]", -EPROTO,
		  "json patch operation 0 (replace /a/01): path not found "
		  "(\"01\" is not an array index)" },
		{ "- only for adding", "{'a':[1]}",
		  "[{'op':'replace','path':'/a/-','value':1}]", -EPROTO,
		  "json patch operation 0 (replace /a/-): path not found "
		  "(\"-\" is past the end of the array)" },
		{ "remove the root", "{'a':1}", "[{'op':'remove','path':''}]",
		  -EPROTO,
		  "json patch operation 0 (remove ): cannot remove the whole "
		  "document" },
		{ "move from a missing path", "{'a':1}",
		  "[{'op':'move','from':'/b','path':'/c'}]", -EPROTO,
		  "json patch operation 0 (move from /b to /c): path not "
		  "found" },
		{ "move into a child of itself", "{'a':{'b':1}}",
		  "[{'op':'move','from':'/a','path':'/a/b/c'}]", -EINVAL,
		  "json patch operation 0 (move from /a to /a/b/c): cannot "
		  "move a value into itself" },
		{ "unknown op", "{}", "[{'op':'frob','path':'/a'}]", -EINVAL,
		  "json patch operation 0: unknown op \"frob\" (expected add, "
		  "remove, replace, move, copy or test)" },
		{ "missing op", "{}", "[{'path':'/a'}]", -EINVAL,
		  "json patch operation 0: missing \"op\"" },
		{ "missing path", "{}", "[{'op':'add','value':1}]", -EINVAL,
		  "json patch operation 0 (add): missing \"path\"" },
		{ "missing value", "{}", "[{'op':'add','path':'/a'}]", -EINVAL,
		  "json patch operation 0 (add /a): missing \"value\"" },
		{ "missing from", "{}", "[{'op':'copy','path':'/a'}]", -EINVAL,
		  "json patch operation 0 (copy from ? to /a): missing "
		  "\"from\"" },
		{ "a pointer without a slash", "{}",
		  "[{'op':'add','path':'a','value':1}]", -EINVAL,
		  "json patch operation 0 (add a): invalid JSON pointer \"a\": "
		  "it must be empty or start with '/'" },
		{ "a bad escape", "{}",
		  "[{'op':'add','path':'/a~2','value':1}]", -EINVAL,
		  "json patch operation 0 (add /a~2): invalid JSON pointer "
		  "\"/a~2\": '~' must be followed by '0' or '1'" },
		{ "an operation that is not an object", "{}", "[1]", -EINVAL,
		  "json patch operation 0: expected an object, got integer" },
		{ "a patch that is not an array", "{}", "{'op':'add'}", -EINVAL,
		  "json patch: expected an array of operations, got object" },
	};

	run_error_cases(patch_json, t, SM_ARRAY_SIZE(t));
}

/* ---- strategic merge patch ---- */

/* The live Deployment apply's patch in the reference (§12.1) applies to. */
#define REF_LIVE                                                             \
	"{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':"    \
	"'web','annotations':{'kubectl.kubernetes.io/last-applied-"          \
	"configuration':'{old}\\n','deployment.kubernetes.io/revision':'1'}" \
	"},'spec':{'replicas':2,'template':{'metadata':{'labels':{'app':"    \
	"'web'}},'spec':{'containers':[{'name':'main','image':'nginx:2.0',"  \
	"'imagePullPolicy':'IfNotPresent','env':[{'name':'A','value':'1'},"  \
	"{'name':'C','value':'3'}],'ports':[{'containerPort':80,"            \
	"'protocol':'TCP'}],'terminationMessagePath':'/dev/termination-log'" \
	"}],'restartPolicy':'Always'}}},'status':{'replicas':2}}"

/* The patch itself, as the reference gives it. */
#define REF_PATCH                                                          \
	"{'metadata':{'annotations':{'kubectl.kubernetes.io/last-applied-" \
	"configuration':'{...}\\n'}},'spec':{'template':{'spec':{"         \
	"'$setElementOrder/containers':[{'name':'main'}],'containers':[{"  \
	"'name':'main','image':'nginx:2.1','$setElementOrder/env':[{"      \
	"'name':'A'},{'name':'D'}],'$setElementOrder/ports':[{"            \
	"'containerPort':80},{'containerPort':443}],'env':[{'name':'D',"   \
	"'value':'4'},{'$patch':'delete','name':'C'}],'ports':[{"          \
	"'containerPort':443}],'volumeMounts':[{'mountPath':'/data',"      \
	"'name':'data'}]}],'volumes':[{'emptyDir':{},'name':'data'}]}}}}"

#define REF_WANT                                                             \
	"{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':"    \
	"'web','annotations':{'kubectl.kubernetes.io/last-applied-"          \
	"configuration':'{...}\\n','deployment.kubernetes.io/revision':'1'}" \
	"},'spec':{'replicas':2,'template':{'metadata':{'labels':{'app':"    \
	"'web'}},'spec':{'containers':[{'name':'main','image':'nginx:2.1',"  \
	"'imagePullPolicy':'IfNotPresent','env':[{'name':'A','value':'1'},"  \
	"{'name':'D','value':'4'}],'ports':[{'containerPort':80,"            \
	"'protocol':'TCP'},{'containerPort':443}],'volumeMounts':[{"         \
	"'mountPath':'/data','name':'data'}],'terminationMessagePath':"      \
	"'/dev/termination-log'}],'restartPolicy':'Always','volumes':[{"     \
	"'emptyDir':{},'name':'data'}]}}},'status':{'replicas':2}}"

static void test_strategic_merge_applies_the_reference_apply_patch(void **state)
{
	static const struct apply_case t[] = {
		{ "apply: image, env C to D, port 443, a volume", REF_LIVE,
		  REF_PATCH, REF_WANT },
		/* And the patch apply sends to take the additions back. */
		{ "apply: port 443 and the volume removed", REF_WANT,
		  "{'spec':{'template':{'spec':{'containers':[{'name':'main',"
		  "'ports':[{'$patch':'delete','containerPort':443}],"
		  "'volumeMounts':[{'$patch':'delete','mountPath':'/data'}]}],"
		  "'volumes':[{'$patch':'delete','name':'data'}]}}}}",
		  "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{"
		  "'name':'web','annotations':{'kubectl.kubernetes.io/last-"
		  "applied-configuration':'{...}\\n','deployment.kubernetes.io/"
		  "revision':'1'}},'spec':{'replicas':2,'template':{'metadata':"
		  "{'labels':{'app':'web'}},'spec':{'containers':[{'name':"
		  "'main','image':'nginx:2.1','imagePullPolicy':'IfNotPresent',"
		  "'env':[{'name':'A','value':'1'},{'name':'D','value':'4'}],"
		  "'ports':[{'containerPort':80,'protocol':'TCP'}],"
		  "'volumeMounts':[],'terminationMessagePath':'/dev/"
		  "termination-log'}],'restartPolicy':'Always','volumes':[]}}},"
		  "'status':{'replicas':2}}" },
	};

	run_apply_cases(patch_strategic, t, SM_ARRAY_SIZE(t));
}

#define TWO_CONTAINERS                                                      \
	"{'kind':'Deployment','metadata':{'name':'web','annotations':{'a':" \
	"'1'}},'spec':{'replicas':2,'paused':true,'template':{'metadata':{" \
	"'labels':{'app':'web'}},'spec':{'containers':[{'name':'main',"     \
	"'image':'web:1','command':['a','b']},{'name':'side','image':"      \
	"'side:1'}]}}}}"

static void
test_strategic_merge_does_what_kubectl_set_and_rollout_send(void **state)
{
	static const struct apply_case t[] = {
		{ "kubectl set image deployment/web main=busybox:3",
		  TWO_CONTAINERS,
		  "{'spec':{'template':{'spec':{'containers':[{'image':"
		  "'busybox:3','name':'main'}]}}}}",
		  "{'kind':'Deployment','metadata':{'name':'web','annotations':"
		  "{'a':'1'}},'spec':{'replicas':2,'paused':true,'template':{"
		  "'metadata':{'labels':{'app':'web'}},'spec':{'containers':[{"
		  "'name':'main','image':'busybox:3','command':['a','b']},{"
		  "'name':'side','image':'side:1'}]}}}}" },
		{ "kubectl rollout restart", TWO_CONTAINERS,
		  "{'spec':{'template':{'metadata':{'annotations':{"
		  "'kubectl.kubernetes.io/restartedAt':'2024-01-01T00:00:00Z'"
		  "}}}}}",
		  "{'kind':'Deployment','metadata':{'name':'web','annotations':"
		  "{'a':'1'}},'spec':{'replicas':2,'paused':true,'template':{"
		  "'metadata':{'labels':{'app':'web'},'annotations':{"
		  "'kubectl.kubernetes.io/restartedAt':'2024-01-01T00:00:00Z'}"
		  "},'spec':{'containers':[{'name':'main','image':'web:1',"
		  "'command':['a','b']},{'name':'side','image':'side:1'}]}}}"
		  "}" },
		{ "kubectl rollout resume", TWO_CONTAINERS,
		  "{'spec':{'paused':null}}",
		  "{'kind':'Deployment','metadata':{'name':'web','annotations':"
		  "{'a':'1'}},'spec':{'replicas':2,'template':{'metadata':{"
		  "'labels':{'app':'web'}},'spec':{'containers':[{'name':'main'"
		  ","
		  "'image':'web:1','command':['a','b']},{'name':'side','image':"
		  "'side:1'}]}}}}" },
		{ "kubectl rollout pause", "{'spec':{'replicas':1}}",
		  "{'spec':{'paused':true}}",
		  "{'spec':{'replicas':1,'paused':true}}" },
		{ "kubectl scale as a strategic patch", TWO_CONTAINERS,
		  "{'spec':{'replicas':5}}",
		  "{'kind':'Deployment','metadata':{'name':'web','annotations':"
		  "{'a':'1'}},'spec':{'replicas':5,'paused':true,'template':{"
		  "'metadata':{'labels':{'app':'web'}},'spec':{'containers':[{"
		  "'name':'main','image':'web:1','command':['a','b']},{'name':"
		  "'side','image':'side:1'}]}}}}" },
	};

	run_apply_cases(patch_strategic, t, SM_ARRAY_SIZE(t));
}

static void test_strategic_merge_uses_the_merge_key_of_each_list(void **state)
{
	static const struct apply_case t[] = {
		{ "a new container is appended",
		  "{'spec':{'containers':[{'name':'a','image':'1'}]}}",
		  "{'spec':{'containers':[{'name':'b','image':'2'}]}}",
		  "{'spec':{'containers':[{'name':'a','image':'1'},{'name':"
		  "'b','image':'2'}]}}" },
		{ "init and ephemeral containers by name",
		  "{'spec':{'initContainers':[{'name':'i','image':'1'}],"
		  "'ephemeralContainers':[{'name':'e','image':'1'}]}}",
		  "{'spec':{'initContainers':[{'name':'i','image':'2'}],"
		  "'ephemeralContainers':[{'name':'e','image':'2'}]}}",
		  "{'spec':{'initContainers':[{'name':'i','image':'2'}],"
		  "'ephemeralContainers':[{'name':'e','image':'2'}]}}" },
		{ "container ports by containerPort",
		  "{'spec':{'containers':[{'name':'a','ports':[{"
		  "'containerPort':80,'name':'http'}]}]}}",
		  "{'spec':{'containers':[{'name':'a','ports':[{"
		  "'containerPort':80,'protocol':'TCP'}]}]}}",
		  "{'spec':{'containers':[{'name':'a','ports':[{"
		  "'containerPort':80,'name':'http','protocol':'TCP'}]}]}}" },
		{ "Service ports by port",
		  "{'kind':'Service','spec':{'ports':[{'port':80,'targetPort':"
		  "8080,'nodePort':30001},{'port':443}]}}",
		  "{'spec':{'ports':[{'port':80,'targetPort':9090}]}}",
		  "{'kind':'Service','spec':{'ports':[{'port':80,'targetPort':"
		  "9090,'nodePort':30001},{'port':443}]}}" },
		{ "ports elsewhere are replaced",
		  "{'subsets':[{'ports':[{'port':80}]}],'x':{'ports':[{'port':"
		  "1}]}}",
		  "{'x':{'ports':[{'port':2}]}}",
		  "{'subsets':[{'ports':[{'port':80}]}],'x':{'ports':[{'port':"
		  "2}]}}" },
		{ "volume mounts by mountPath, devices by devicePath",
		  "{'spec':{'containers':[{'name':'a','volumeMounts':[{"
		  "'mountPath':'/a','name':'x'}],'volumeDevices':[{"
		  "'devicePath':'/dev/a','name':'x'}]}]}}",
		  "{'spec':{'containers':[{'name':'a','volumeMounts':[{"
		  "'mountPath':'/a','readOnly':true}],'volumeDevices':[{"
		  "'devicePath':'/dev/a','name':'y'}]}]}}",
		  "{'spec':{'containers':[{'name':'a','volumeMounts':[{"
		  "'mountPath':'/a','name':'x','readOnly':true}],"
		  "'volumeDevices':[{'devicePath':'/dev/a','name':'y'}]}]}}" },
		{ "status conditions by type",
		  "{'status':{'conditions':[{'type':'Ready','status':'False'},"
		  "{'type':'PodScheduled','status':'True'}]}}",
		  "{'status':{'conditions':[{'type':'Ready','status':'True'}]}"
		  "}",
		  "{'status':{'conditions':[{'type':'Ready','status':'True'},"
		  "{'type':'PodScheduled','status':'True'}]}}" },
		{ "node addresses by type, pod IPs by ip",
		  "{'status':{'addresses':[{'type':'InternalIP','address':"
		  "'127.0.1.1'},{'type':'Hostname','address':'n1'}],'podIPs':["
		  "{'ip':'10.0.0.1'}]}}",
		  "{'status':{'addresses':[{'type':'InternalIP','address':"
		  "'127.0.1.2'}],'podIPs':[{'ip':'fd00::1'}]}}",
		  "{'status':{'addresses':[{'type':'InternalIP','address':"
		  "'127.0.1.2'},{'type':'Hostname','address':'n1'}],'podIPs':["
		  "{'ip':'10.0.0.1'},{'ip':'fd00::1'}]}}" },
		{ "owner references by uid",
		  "{'metadata':{'ownerReferences':[{'uid':'u1','name':'a'}]}}",
		  "{'metadata':{'ownerReferences':[{'uid':'u1','controller':"
		  "true},{'uid':'u2','name':'b'}]}}",
		  "{'metadata':{'ownerReferences':[{'uid':'u1','name':'a',"
		  "'controller':true},{'uid':'u2','name':'b'}]}}" },
		{ "env, volumes, pull secrets, spread constraints by key",
		  "{'spec':{'containers':[{'name':'a','env':[{'name':'X',"
		  "'value':'1'}]}],'volumes':[{'name':'v','emptyDir':{}}],"
		  "'imagePullSecrets':[{'name':'s'}],"
		  "'topologySpreadConstraints':[{'topologyKey':'zone',"
		  "'maxSkew':1}]}}",
		  "{'spec':{'containers':[{'name':'a','env':[{'name':'Y',"
		  "'value':'2'}]}],'volumes':[{'name':'w','emptyDir':{}}],"
		  "'imagePullSecrets':[{'name':'t'}],"
		  "'topologySpreadConstraints':[{'topologyKey':'zone',"
		  "'maxSkew':2}]}}",
		  "{'spec':{'containers':[{'name':'a','env':[{'name':'X',"
		  "'value':'1'},{'name':'Y','value':'2'}]}],'volumes':[{'name':"
		  "'v','emptyDir':{}},{'name':'w','emptyDir':{}}],"
		  "'imagePullSecrets':[{'name':'s'},{'name':'t'}],"
		  "'topologySpreadConstraints':[{'topologyKey':'zone',"
		  "'maxSkew':2}]}}" },
		{ "lists without a merge key are replaced whole",
		  "{'spec':{'containers':[{'name':'a','command':['x','y'],"
		  "'args':['1'],'envFrom':[{'configMapRef':{'name':'c'}}]}],"
		  "'tolerations':[{'key':'a'}],'readinessGates':[{"
		  "'conditionType':'x'}]},'sel':{'matchExpressions':[{'key':'a'"
		  "}]}}",
		  "{'spec':{'containers':[{'name':'a','command':['z'],'args':[]"
		  ","
		  "'envFrom':[{'secretRef':{'name':'s'}}]}],'tolerations':[{"
		  "'key':'b'}],'readinessGates':[]},'sel':{'matchExpressions':["
		  "{'key':'b'}]}}",
		  "{'spec':{'containers':[{'name':'a','command':['z'],'args':[]"
		  ","
		  "'envFrom':[{'secretRef':{'name':'s'}}]}],'tolerations':[{"
		  "'key':'b'}],'readinessGates':[]},'sel':{'matchExpressions':["
		  "{'key':'b'}]}}" },
		{ "finalizers merge as a set",
		  "{'metadata':{'finalizers':['a','b']}}",
		  "{'metadata':{'finalizers':['b','c','c']}}",
		  "{'metadata':{'finalizers':['a','b','c']}}" },
		{ "a merged list set to null goes",
		  "{'spec':{'containers':[{'name':'a'}]}}",
		  "{'spec':{'containers':null}}", "{'spec':{}}" },
		{ "a merged list where there was none", "{'spec':{}}",
		  "{'spec':{'containers':[{'name':'a','x':null}]"
		  "}}",
		  "{'spec':{'containers':[{'name':'a'}]}}" },
	};

	run_apply_cases(patch_strategic, t, SM_ARRAY_SIZE(t));
}

static void test_strategic_merge_honours_each_directive(void **state)
{
	static const struct apply_case t[] = {
		{ "$patch delete removes a list item",
		  "{'spec':{'containers':[{'name':'a'},{'name':'b'}]}}",
		  "{'spec':{'containers':[{'$patch':'delete','name':'a'}]}}",
		  "{'spec':{'containers':[{'name':'b'}]}}" },
		{ "$patch delete of a missing item changes nothing",
		  "{'spec':{'containers':[{'name':'a'}]}}",
		  "{'spec':{'containers':[{'$patch':'delete','name':'z'}]}}",
		  "{'spec':{'containers':[{'name':'a'}]}}" },
		{ "$patch delete removes a map",
		  "{'spec':{'strategy':{'type':'RollingUpdate',"
		  "'rollingUpdate':{'maxSurge':1}}}}",
		  "{'spec':{'strategy':{'rollingUpdate':{'$patch':'delete'}}}}",
		  "{'spec':{'strategy':{'type':'RollingUpdate'}}}" },
		{ "$patch replace on a map",
		  "{'spec':{'strategy':{'type':'RollingUpdate',"
		  "'rollingUpdate':{'maxSurge':1}}}}",
		  "{'spec':{'strategy':{'$patch':'replace','type':'Recreate'}}"
		  "}",
		  "{'spec':{'strategy':{'type':'Recreate'}}}" },
		{ "$patch replace on a list",
		  "{'spec':{'containers':[{'name':'a'},{'name':'b'}]}}",
		  "{'spec':{'containers':[{'name':'c'},{'$patch':'replace'}]}}",
		  "{'spec':{'containers':[{'name':'c'}]}}" },
		{ "$patch merge is the default",
		  "{'spec':{'strategy':{'type':'RollingUpdate'}}}",
		  "{'spec':{'strategy':{'$patch':'merge','x':1}}}",
		  "{'spec':{'strategy':{'type':'RollingUpdate','x':1}}}" },
		{ "$retainKeys on a Deployment strategy",
		  "{'spec':{'strategy':{'type':'RollingUpdate',"
		  "'rollingUpdate':{'maxSurge':1,'maxUnavailable':0}}}}",
		  "{'spec':{'strategy':{'$retainKeys':['type'],"
		  "'rollingUpdate':null,'type':'Recreate'}}}",
		  "{'spec':{'strategy':{'type':'Recreate'}}}" },
		{ "$retainKeys on a volume turned from emptyDir to hostPath",
		  "{'spec':{'volumes':[{'name':'cache','emptyDir':{}},{'name':"
		  "'other','emptyDir':{}}]}}",
		  "{'spec':{'volumes':[{'$retainKeys':['hostPath','name'],"
		  "'hostPath':{'path':'/srv/cache'},'name':'cache'}]}}",
		  "{'spec':{'volumes':[{'name':'cache','hostPath':{'path':"
		  "'/srv/cache'}},{'name':'other','emptyDir':{}}]}}" },
		{ "$deleteFromPrimitiveList on finalizers",
		  "{'metadata':{'finalizers':['a','b','c','b']}}",
		  "{'metadata':{'$deleteFromPrimitiveList/finalizers':['b'],"
		  "'finalizers':['d']}}",
		  "{'metadata':{'finalizers':['a','c','d']}}" },
		{ "$setElementOrder on a list of scalars",
		  "{'metadata':{'finalizers':['a','b','c']}}",
		  "{'metadata':{'$setElementOrder/finalizers':['b','c','a']}}",
		  "{'metadata':{'finalizers':['b','c','a']}}" },
		{ "$setElementOrder on containers the patch does not list",
		  "{'spec':{'containers':[{'name':'a'},{'name':'b'},{'name':"
		  "'c'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'c'},{"
		  "'name':'a'},{'name':'b'}]}}",
		  "{'spec':{'containers':[{'name':'c'},{'name':'a'},{'name':"
		  "'b'}]}}" },
		{ "$setElementOrder keeps server-only items in place",
		  "{'spec':{'containers':[{'name':'a'},{'name':'x'},{'name':"
		  "'b'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'b'},{"
		  "'name':'a'}],'containers':[{'name':'b','image':'2'}]}}",
		  "{'spec':{'containers':[{'name':'x'},{'name':'b','image':"
		  "'2'},{'name':'a'}]}}" },
		{ "$setElementOrder puts a new item before server-only ones",
		  "{'spec':{'containers':[{'name':'a'},{'name':'x'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'a'},{"
		  "'name':'b'}],'containers':[{'name':'b'}]}}",
		  "{'spec':{'containers':[{'name':'a'},{'name':'b'},{'name':"
		  "'x'}]}}" },
		{ "$setElementOrder on a replaced list is ignored",
		  "{'spec':{'tolerations':[{'key':'a'}]}}",
		  "{'spec':{'$setElementOrder/tolerations':[{'key':'b'}],"
		  "'tolerations':[{'key':'b'},{'key':'a'}]}}",
		  "{'spec':{'tolerations':[{'key':'b'},{'key':'a'}]}}" },
		{ "unknown directives are dropped", "{'metadata':{'name':'a'}}",
		  "{'metadata':{'$frob':1,'labels':{'$x':'y','a':'b'}}}",
		  "{'metadata':{'name':'a','labels':{'a':'b'}}}" },
		{ "directives in new items are not stored", "{'spec':{}}",
		  "{'spec':{'containers':[{'name':'a','$patch':'merge','env':["
		  "{'name':'X','$patch':'delete'},{'name':'Y'}]}]}}",
		  "{'spec':{'containers':[{'name':'a','env':[{'name':'Y'}]}]}"
		  "}" },
	};

	run_apply_cases(patch_strategic, t, SM_ARRAY_SIZE(t));
}

static void test_strategic_merge_errors_name_the_field(void **state)
{
	static const struct error_case t[] = {
		{ "a container without a name", "{'spec':{}}",
		  "{'spec':{'template':{'spec':{'containers':[{'name':'a'},"
		  "{'image':'x'}]}}}}",
		  -EINVAL,
		  "strategic merge patch: spec.template.spec.containers[1]: "
		  "missing merge key \"name\"" },
		{ "a port that is not an object",
		  "{'spec':{'containers':[{'name':'a'}]}}",
		  "{'spec':{'containers':[{'name':'a','ports':[80]}]}}",
		  -EINVAL,
		  "strategic merge patch: spec.containers[0].ports[0]: "
		  "expected an object with merge key \"containerPort\", got "
		  "integer" },
		{ "an unknown $patch", "{'spec':{}}",
		  "{'spec':{'strategy':{'$patch':'frob'}}}", -EINVAL,
		  "strategic merge patch: spec.strategy: unknown \"$patch\" "
		  "directive frob (expected \"replace\", \"delete\" or "
		  "\"merge\")" },
		{ "$retainKeys that is not a list", "{'spec':{}}",
		  "{'spec':{'strategy':{'$retainKeys':'type'}}}", -EINVAL,
		  "strategic merge patch: spec.strategy: \"$retainKeys\" must "
		  "be a list of strings, got string" },
		{ "an object in a set", "{'metadata':{}}",
		  "{'metadata':{'finalizers':[{'a':1}]}}", -EINVAL,
		  "strategic merge patch: metadata.finalizers[0]: expected a "
		  "scalar in a list of scalars, got object" },
		{ "$setElementOrder that is not a list",
		  "{'spec':{'containers':[{'name':'a'}]}}",
		  "{'spec':{'$setElementOrder/containers':{'name':'a'}}}",
		  -EINVAL,
		  "strategic merge patch: spec.containers: "
		  "\"$setElementOrder\" must be a list, got object" },
		{ "deleting the whole object", "{'a':1}", "{'$patch':'delete'}",
		  -EINVAL,
		  "strategic merge patch: \"$patch\": \"delete\" cannot delete "
		  "the whole object" },
		{ "a patch that is not an object", "{'a':1}", "[]", -EINVAL,
		  "strategic merge patch: expected a JSON object, got array" },
	};

	run_error_cases(patch_strategic, t, SM_ARRAY_SIZE(t));
}

/* ---- properties over generated documents ---- */

/* Keys that need escaping in JSON pointers are among them on purpose. */
static const char *const gen_keys[] = { "a", "b", "a/b", "~", "x~1", "" };

/*
 * A random value: objects (up to depth), integers, strings, and nulls when
 * with_null. No arrays: lists are where the formats differ.
 */
static json_t *gen_value(const struct sm_rand *r, int depth, bool with_null)
{
	uint32_t kind = sm_rand_below(r, depth > 0 ? 4 : 3);
	json_t *o;

	if (kind == 0)
		return json_integer(sm_rand_below(r, 3));
	if (kind == 1)
		return json_string(gen_keys[sm_rand_below(r, 3)]);
	if (kind == 2)
		return with_null ? json_null() : json_integer(7);
	o = json_object();
	for (uint32_t n = sm_rand_below(r, 4); n > 0; n--)
		json_object_set_new(
			o, gen_keys[sm_rand_below(r, SM_ARRAY_SIZE(gen_keys))],
			gen_value(r, depth - 1, with_null));
	return o;
}

static json_t *gen_object(const struct sm_rand *r, bool with_null)
{
	json_t *o = json_object();

	for (uint32_t n = 1 + sm_rand_below(r, 4); n > 0; n--)
		json_object_set_new(
			o, gen_keys[sm_rand_below(r, SM_ARRAY_SIZE(gen_keys))],
			gen_value(r, 3, with_null));
	return o;
}

static void test_strategic_merge_equals_merge_patch_without_lists(void **state)
{
	struct sm_seeded_rand sr;

	sm_seeded_rand_init(&sr, 7);
	for (int i = 0; i < 2000; i++) {
		json_t *live = gen_object(&sr.rand, false);
		json_t *patch = gen_object(&sr.rand, true);
		json_t *a = NULL, *b = NULL;
		char *sa, *sb;

		assert_int_equal(patch_merge(live, patch, &a, NULL), 0);
		assert_int_equal(patch_strategic(live, patch, &b, NULL), 0);
		sa = canonical(a);
		sb = canonical(b);
		if (strcmp(sa, sb)) {
			print_error("case %d: merge %s, strategic %s\n", i, sa,
				    sb);
			fail();
		}
		free(sa);
		free(sb);
		json_decref(a);
		json_decref(b);
		json_decref(live);
		json_decref(patch);
	}
}

/*
 * Tests every value of doc at the pointer common/json.h writes for it: the
 * value itself must pass, any other must fail without changing anything.
 */
static void test_every_path(const json_t *doc, const json_t *at,
			    struct sm_buf *ptr)
{
	const char *key;
	json_t *v;

	for (int other = 0; other < 2; other++) {
		json_t *ops = json_pack("[{s:s, s:s, s:O}]", "op", "test",
					"path", sm_buf_cstr(ptr), "value",
					other ? json_pack("{s:b}", "other", 1)
					      : (json_t *)at);
		json_t *out = NULL;
		int rc = patch_json(doc, ops, &out, NULL);

		if (other) {
			json_decref(json_object_get(json_array_get(ops, 0),
						    "value"));
			assert_int_equal(rc, -EPROTO);
			assert_null(out);
		} else {
			if (rc) {
				print_error("test at \"%s\" failed\n",
					    sm_buf_cstr(ptr));
				fail();
			}
			json_decref(out);
		}
		json_decref(ops);
	}
	json_object_foreach ((json_t *)at, key, v) {
		size_t len = ptr->len;

		assert_int_equal(sm_json_pointer_add_key(ptr, key), 0);
		test_every_path(doc, v, ptr);
		sm_buf_truncate(ptr, len);
	}
}

static void test_json_patch_reaches_every_path_json_pointer_names(void **state)
{
	struct sm_seeded_rand sr;

	sm_seeded_rand_init(&sr, 11);
	for (int i = 0; i < 300; i++) {
		struct sm_buf ptr = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		json_t *doc = gen_object(&sr.rand, false);

		test_every_path(doc, doc, &ptr);
		sm_buf_release(&ptr);
		json_decref(doc);
	}
}

/* ---- dispatch ---- */

static void test_content_types_pick_the_patch_format(void **state)
{
	static const struct {
		const char *ct;
		int rc;
		enum patch_type type;
	} t[] = {
		{ "application/merge-patch+json", 0, PATCH_MERGE },
		{ "application/strategic-merge-patch+json", 0,
		  PATCH_STRATEGIC },
		{ "application/json-patch+json", 0, PATCH_JSON },
		{ "Application/JSON-Patch+JSON", 0, PATCH_JSON },
		{ " application/merge-patch+json ; charset=utf-8", 0,
		  PATCH_MERGE },
		{ "application/apply-patch+yaml", -ENOTSUP, 0 },
		{ "application/json", -ENOTSUP, 0 },
		{ "application/merge-patch+jsonx", -ENOTSUP, 0 },
		{ "", -ENOTSUP, 0 },
		{ NULL, -ENOTSUP, 0 },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(t); i++) {
		struct sm_err err = SM_ERR_INIT;
		enum patch_type type = 99;
		int rc = patch_type_from_content_type(t[i].ct, &type, &err);

		if (rc != t[i].rc || (!rc && type != t[i].type)) {
			print_error("\"%s\": got %d/%d\n",
				    t[i].ct ? t[i].ct : "NULL", rc, type);
			fail();
		}
		assert_int_equal(err.nr, rc ? 1 : 0);
		sm_err_release(&err);
	}
}

static void test_unsupported_content_type_lists_the_accepted_ones(void **state)
{
	struct sm_err err = SM_ERR_INIT;
	json_t *live = test_json("{'a':1}"), *patch = test_json("{'a':2}");
	json_t *out = NULL;

	assert_int_equal(patch_apply("application/apply-patch+yaml", live,
				     patch, &out, &err),
			 -ENOTSUP);
	assert_null(out);
	assert_string_equal(err.items[0].msg,
			    "unsupported media type "
			    "\"application/apply-patch+yaml\" for a patch: "
			    "accepted media types include "
			    "application/json-patch+json, "
			    "application/merge-patch+json, "
			    "application/strategic-merge-patch+json");
	json_decref(live);
	json_decref(patch);
	sm_err_release(&err);
}

static void test_patch_apply_dispatches_on_the_content_type(void **state)
{
	static const struct {
		const char *ct, *live, *patch, *want;
	} t[] = {
		{ "application/merge-patch+json",
		  "{'spec':{'containers':[{'name':'a'}]}}",
		  "{'spec':{'containers':[{'name':'b'}]}}",
		  "{'spec':{'containers':[{'name':'b'}]}}" },
		{ "application/strategic-merge-patch+json",
		  "{'spec':{'containers':[{'name':'a'}]}}",
		  "{'spec':{'containers':[{'name':'b'}]}}",
		  "{'spec':{'containers':[{'name':'a'},{'name':'b'}]}}" },
		{ "application/json-patch+json",
		  "{'spec':{'containers':[{'name':'a'}]}}",
		  "[{'op':'add','path':'/spec/containers/0','value':{'name':"
		  "'b'}}]",
		  "{'spec':{'containers':[{'name':'b'},{'name':'a'}]}}" },
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(t); i++) {
		struct sm_err err = SM_ERR_INIT;
		json_t *live = test_json(t[i].live),
		       *patch = test_json(t[i].patch);
		json_t *out = NULL;

		assert_int_equal(patch_apply(t[i].ct, live, patch, &out, &err),
				 0);
		expect_json(t[i].ct, out, t[i].want);
		json_decref(out);
		json_decref(live);
		json_decref(patch);
	}
}

static void
test_patch_apply_refuses_a_result_that_is_not_an_object(void **state)
{
	struct sm_err err = SM_ERR_INIT;
	json_t *live = test_json("{'a':1}");
	json_t *patch = test_json("[{'op':'replace','path':'','value':'x'}]");
	json_t *out = NULL;

	assert_int_equal(patch_apply("application/json-patch+json", live, patch,
				     &out, &err),
			 -EPROTO);
	assert_null(out);
	assert_string_equal(err.items[0].msg,
			    "the patched document is a string, not an object");
	json_decref(live);
	json_decref(patch);
	sm_err_release(&err);
}

static void test_errors_go_nowhere_when_no_sink_is_given(void **state)
{
	json_t *live = test_json("{'a':1}");
	json_t *bad = test_json("[{'op':'remove','path':'/b'}]");
	json_t *smp = test_json("{'spec':{'containers':[{'image':'x'}]}}");
	json_t *out = NULL;

	assert_int_equal(patch_json(live, bad, &out, NULL), -EPROTO);
	assert_int_equal(patch_strategic(live, smp, &out, NULL), -EINVAL);
	assert_int_equal(patch_apply("text/plain", live, smp, &out, NULL),
			 -ENOTSUP);
	assert_null(out);
	json_decref(live);
	json_decref(bad);
	json_decref(smp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_patch_follows_rfc_7386),
		cmocka_unit_test(
			test_merge_patch_does_what_kubectl_scale_and_label_send),
		cmocka_unit_test(
			test_merge_patch_that_is_not_an_object_is_refused),
		cmocka_unit_test(test_json_patch_follows_rfc_6902),
		cmocka_unit_test(
			test_json_patch_does_what_kubectl_rollout_undo_sends),
		cmocka_unit_test(
			test_json_patch_errors_name_the_operation_and_path),
		cmocka_unit_test(
			test_strategic_merge_applies_the_reference_apply_patch),
		cmocka_unit_test(
			test_strategic_merge_does_what_kubectl_set_and_rollout_send),
		cmocka_unit_test(
			test_strategic_merge_uses_the_merge_key_of_each_list),
		cmocka_unit_test(test_strategic_merge_honours_each_directive),
		cmocka_unit_test(test_strategic_merge_errors_name_the_field),
		cmocka_unit_test(
			test_strategic_merge_equals_merge_patch_without_lists),
		cmocka_unit_test(
			test_json_patch_reaches_every_path_json_pointer_names),
		cmocka_unit_test(test_content_types_pick_the_patch_format),
		cmocka_unit_test(
			test_unsupported_content_type_lists_the_accepted_ones),
		cmocka_unit_test(
			test_patch_apply_dispatches_on_the_content_type),
		cmocka_unit_test(
			test_patch_apply_refuses_a_result_that_is_not_an_object),
		cmocka_unit_test(test_errors_go_nowhere_when_no_sink_is_given),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
