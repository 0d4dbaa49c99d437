/*
 * test_scheduler.c: the scheduler's filters, tolerations, Kubernetes'
 * failure message, the scores, and the cache's assume/forget accounting,
 * mostly as tables. JSON in the tables uses ' for " to stay readable.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "scheduler/scheduler.h"
#include "common/banned.h"

/* Parses text with ' standing for ", failing the test on bad JSON. */
static json_t *js(const char *text)
{
	char *t = xstrdup(text);
	json_error_t jerr;
	json_t *j;

	for (char *c = t; *c; c++)
		if (*c == '\'')
			*c = '"';
	j = json_loads(t, 0, &jerr);
	if (!j)
		print_error("bad test JSON %s: %s\n", t, jerr.text);
	free(t);
	if (!j)
		fail();
	return j;
}

static json_t *SM_PRINTF(1, 2) jsf(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return js(buf);
}

#define ALLOC_4CPU "{'cpu':'4','memory':'8Gi','pods':'110'}"

/*
 * A node: allocatable (JSON), spec (JSON), labels (JSON) and the Ready
 * condition's status (NULL: no condition at all).
 */
static void add_node(struct sched *s, const char *name, const char *alloc,
		     const char *spec, const char *labels, const char *ready)
{
	struct sm_err err = SM_ERR_INIT;
	char conds[128] = "[]";
	json_t *j;

	if (ready)
		snprintf(conds, sizeof(conds),
			 "[{'type':'Ready','status':'%s'}]", ready);
	j = jsf("{'metadata':{'name':'%s','labels':%s},'spec':%s,"
		"'status':{'allocatable':%s,'conditions':%s}}",
		name, labels ? labels : "{}", spec ? spec : "{}",
		alloc ? alloc : ALLOC_4CPU, conds);
	if (sched_node_set(s, j, &err)) {
		print_error("node %s: %s\n", name, err.items[0].msg);
		fail();
	}
	json_decref(j);
	sm_err_release(&err);
}

static void ready_node(struct sched *s, const char *name)
{
	add_node(s, name, NULL, NULL, NULL, "True");
}

/* A pod from a JSON text (' for "); its metadata gets the given name. */
static struct sched_pod *pod(const char *name, const char *text)
{
	struct sm_err err = SM_ERR_INIT;
	struct sched_pod *p = NULL;
	json_t *j = js(text);

	json_object_set_new(json_object_get(j, "metadata"), "name",
			    json_string(name));
	if (sched_pod_compile(&p, j, &err)) {
		print_error("pod %s: %s\n", name, err.items[0].msg);
		fail();
	}
	json_decref(j);
	sm_err_release(&err);
	return p;
}

/* A pod with one container requesting cpu and memory ("" for none). */
static struct sched_pod *simple_pod(const char *name, const char *cpu,
				    const char *mem)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "{'metadata':{'namespace':'default'},'spec':{'containers':"
		 "[{'name':'c','resources':{'requests':{%s%s%s%s%s%s%s}}}]}}",
		 *cpu ? "'cpu':'" : "", cpu, *cpu ? "'" : "",
		 *cpu && *mem ? "," : "", *mem ? "'memory':'" : "", mem,
		 *mem ? "'" : "");
	return pod(name, text);
}

/* Schedules p and returns the node name or the message (new). */
static char *place(struct sched *s, const struct sched_pod *p)
{
	struct sm_buf why = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *node = NULL;
	int ret = sched_schedule(s, p, &node, &why, NULL);

	if (ret == 0) {
		assert_int_equal(why.len, 0);
		sm_buf_release(&why);
		return xstrdup(node);
	}
	assert_int_equal(ret, -ENOSPC);
	return sm_buf_detach(&why, NULL);
}

/* Schedules and assumes p where it fits; returns the node (borrowed). */
static const char *place_and_assume(struct sched *s, struct sched_pod *p)
{
	const char *node = NULL;

	assert_int_equal(sched_schedule(s, p, &node, NULL, NULL), 0);
	assert_int_equal(sched_assume(s, p, node), 0);
	return node;
}

/* ---- filters on one node ---------------------------------------------- */

struct one_node_case {
	const char *what;
	const char *alloc; /* NULL: 4 cpu, 8Gi, 110 pods */
	const char *spec;
	const char *labels;
	const char *ready;
	const char *pod; /* a whole Pod (' for ") */
	const char *reason; /* NULL: the pod fits */
};

#define POD(spec) "{'metadata':{'namespace':'default'},'spec':" spec "}"
#define CTR(res) "{'name':'c','resources':" res "}"

static const struct one_node_case one_node_cases[] = {
	{ "a ready node with room takes the pod", NULL, NULL, NULL, "True",
	  POD("{'containers':[" CTR("{'requests':{'cpu':'1'}}") "]}"), NULL },
	{ "an unschedulable node is refused", NULL, "{'unschedulable':true}",
	  NULL, "True", POD("{'containers':[" CTR("{}") "]}"),
	  "node(s) were unschedulable" },
	{ "a pod tolerating unschedulable goes onto a cordoned node", NULL,
	  "{'unschedulable':true}", NULL, "True",
	  POD("{'containers':[" CTR("{}") "],'tolerations':[{'key':"
					  "'node.kubernetes.io/"
					  "unschedulable','operator':'Exists',"
					  "'effect':'NoSchedule'}]}"),
	  NULL },
	{ "a NoSchedule taint without a toleration is refused", NULL,
	  "{'taints':[{'key':'dedicated','value':'gpu','effect':'NoSchedule'}]"
	  "}",
	  NULL, "True", POD("{'containers':[" CTR("{}") "]}"),
	  "node(s) had untolerated taint {dedicated: gpu}" },
	{ "a NoExecute taint without a toleration is refused", NULL,
	  "{'taints':[{'key':'k','effect':'NoExecute'}]}", NULL, "True",
	  POD("{'containers':[" CTR("{}") "]}"),
	  "node(s) had untolerated taint {k: }" },
	{ "a PreferNoSchedule taint does not filter", NULL,
	  "{'taints':[{'key':'k','effect':'PreferNoSchedule'}]}", NULL, "True",
	  POD("{'containers':[" CTR("{}") "]}"), NULL },
	{ "a node that is not ready counts as tainted not-ready", NULL, NULL,
	  NULL, "False", POD("{'containers':[" CTR("{}") "]}"),
	  "node(s) had untolerated taint {node.kubernetes.io/not-ready: }" },
	{ "a node with no Ready condition counts as not-ready", NULL, NULL,
	  NULL, NULL, POD("{'containers':[" CTR("{}") "]}"),
	  "node(s) had untolerated taint {node.kubernetes.io/not-ready: }" },
	{ "a node whose Ready is Unknown counts as unreachable", NULL, NULL,
	  NULL, "Unknown", POD("{'containers':[" CTR("{}") "]}"),
	  "node(s) had untolerated taint {node.kubernetes.io/unreachable: }" },
	{ "a pod tolerating unreachable goes onto an unreachable node", NULL,
	  NULL, NULL, "Unknown",
	  POD("{'containers':[" CTR(
		  "{}") "],'tolerations':[{'key':"
			"'node.kubernetes.io/"
			"unreachable','operator':'Exists'}]}"),
	  NULL },
	{ "more cpu than is left is refused", NULL, NULL, NULL, "True",
	  POD("{'containers':[" CTR("{'requests':{'cpu':'4001m'}}") "]}"),
	  "Insufficient cpu" },
	{ "exactly the allocatable cpu fits", NULL, NULL, NULL, "True",
	  POD("{'containers':[" CTR("{'requests':{'cpu':'4'}}") "]}"), NULL },
	{ "more memory than is left is refused", NULL, NULL, NULL, "True",
	  POD("{'containers':[" CTR("{'requests':{'memory':'9Gi'}}") "]}"),
	  "Insufficient memory" },
	{ "a node full of pods is refused",
	  "{'cpu':'4','memory':'8Gi','pods':'0'}", NULL, NULL, "True",
	  POD("{'containers':[" CTR("{}") "]}"), "Too many pods" },
	{ "requests sum over containers", NULL, NULL, NULL, "True",
	  POD("{'containers':[" CTR("{'requests':{'cpu':'2'}}") "," CTR(
		  "{'requests':{'cpu':'2500m'}}") "]}"),
	  "Insufficient cpu" },
	{ "the largest init container counts when it is larger",
	  "{'cpu':'1','memory':'1Gi','pods':'10'}", NULL, NULL, "True",
	  POD("{'containers':[" CTR(
		  "{'requests':{'cpu':'100m'}}") "],"
						 "'initContainers':[" CTR(
							 "{'requests':{'cpu':'"
							 "1500m'}}") "]}"),
	  "Insufficient cpu" },
	{ "init containers do not add up",
	  "{'cpu':'1','memory':'1Gi','pods':'10'}", NULL, NULL, "True",
	  POD("{'containers':[" CTR(
		  "{'requests':{'cpu':'100m'}}") "],"
						 "'initContainers':"
						 "[" CTR("{'requests':{"
							 "'cpu':'800m'}"
							 "}") "," CTR("{'"
								      "requests"
								      "':{"
								      "'cpu':'"
								      "800m'}"
								      "}") "]"
									   "}"),
	  NULL },
	{ "a limit stands in for a missing request",
	  "{'cpu':'1','memory':'1Gi','pods':'10'}", NULL, NULL, "True",
	  POD("{'containers':[" CTR("{'limits':{'memory':'2Gi'}}") "]}"),
	  "Insufficient memory" },
	{ "a nodeSelector the node's labels match fits", NULL, NULL,
	  "{'disk':'ssd','zone':'a'}", "True",
	  POD("{'containers':[" CTR("{}") "],'nodeSelector':{'disk':'ssd'}}"),
	  NULL },
	{ "a nodeSelector the node's labels miss is refused", NULL, NULL,
	  "{'disk':'hdd'}", "True",
	  POD("{'containers':[" CTR("{}") "],'nodeSelector':{'disk':'ssd'}}"),
	  "node(s) didn't match Pod's node affinity/selector" },
#define AFF(terms)                                                        \
	POD("{'containers':[" CTR(                                        \
		"{}") "],'affinity':{'nodeAffinity':{"                    \
		      "'requiredDuringSchedulingIgnoredDuringExecution':" \
		      "{'nodeSelectorTerms':" terms "}}}}")
	{ "node affinity In matches a listed value", NULL, NULL, "{'zone':'b'}",
	  "True",
	  AFF("[{'matchExpressions':[{'key':'zone','operator':'In','values':"
	      "['a','b']}]}]"),
	  NULL },
	{ "node affinity In refuses other values", NULL, NULL, "{'zone':'c'}",
	  "True",
	  AFF("[{'matchExpressions':[{'key':'zone','operator':'In','values':"
	      "['a','b']}]}]"),
	  "node(s) didn't match Pod's node affinity/selector" },
	{ "node affinity NotIn matches a node without the label", NULL, NULL,
	  "{}", "True",
	  AFF("[{'matchExpressions':[{'key':'zone','operator':'NotIn',"
	      "'values':['a']}]}]"),
	  NULL },
	{ "node affinity NotIn refuses a listed value", NULL, NULL,
	  "{'zone':'a'}", "True",
	  AFF("[{'matchExpressions':[{'key':'zone','operator':'NotIn',"
	      "'values':['a']}]}]"),
	  "node(s) didn't match Pod's node affinity/selector" },
	{ "node affinity Exists needs the label", NULL, NULL, "{'gpu':''}",
	  "True",
	  AFF("[{'matchExpressions':[{'key':'gpu','operator':'Exists'}]}]"),
	  NULL },
	{ "node affinity DoesNotExist refuses a node with the label", NULL,
	  NULL, "{'gpu':'x'}", "True",
	  AFF("[{'matchExpressions':[{'key':'gpu','operator':'DoesNotExist'}]}"
	      "]"),
	  "node(s) didn't match Pod's node affinity/selector" },
	{ "node affinity Gt compares integers", NULL, NULL, "{'cores':'16'}",
	  "True",
	  AFF("[{'matchExpressions':[{'key':'cores','operator':'Gt',"
	      "'values':['8']}]}]"),
	  NULL },
	{ "node affinity Lt refuses a larger value", NULL, NULL,
	  "{'cores':'16'}", "True",
	  AFF("[{'matchExpressions':[{'key':'cores','operator':'Lt',"
	      "'values':['8']}]}]"),
	  "node(s) didn't match Pod's node affinity/selector" },
	{ "node affinity Gt refuses a label that is not a number", NULL, NULL,
	  "{'cores':'many'}", "True",
	  AFF("[{'matchExpressions':[{'key':'cores','operator':'Gt',"
	      "'values':['8']}]}]"),
	  "node(s) didn't match Pod's node affinity/selector" },
	{ "node affinity terms are ORed", NULL, NULL, "{'zone':'b'}", "True",
	  AFF("[{'matchExpressions':[{'key':'zone','operator':'In','values':"
	      "['a']}]},{'matchExpressions':[{'key':'zone','operator':'In',"
	      "'values':['b']}]}]"),
	  NULL },
	{ "expressions within a term are ANDed", NULL, NULL, "{'zone':'b'}",
	  "True",
	  AFF("[{'matchExpressions':[{'key':'zone','operator':'In','values':"
	      "['b']},{'key':'disk','operator':'Exists'}]}]"),
	  "node(s) didn't match Pod's node affinity/selector" },
	{ "node affinity matchFields picks the node by name", NULL, NULL, "{}",
	  "True",
	  AFF("[{'matchFields':[{'key':'metadata.name','operator':'In',"
	      "'values':['n1']}]}]"),
	  NULL },
	{ "an empty node selector term matches no node", NULL, NULL,
	  "{'zone':'a'}", "True", AFF("[{}]"),
	  "node(s) didn't match Pod's node affinity/selector" },
	{ "nodeSelector and affinity must both match", NULL, NULL,
	  "{'zone':'a'}", "True",
	  POD("{'containers':[" CTR(
		  "{}") "],'nodeSelector':{'disk':'ssd'},"
			"'affinity':{'nodeAffinity':{"
			"'requiredDuringSchedulingIgnoredDuringExecution':{"
			"'nodeSelectorTerms':[{'matchExpressions':[{'key':'"
			"zone',"
			"'operator':'Exists'}]}]}}}}"),
	  "node(s) didn't match Pod's node affinity/selector" },
	{ "a taint is checked before resources, as kube-scheduler orders them",
	  NULL, "{'taints':[{'key':'k','value':'v','effect':'NoSchedule'}]}",
	  NULL, "True",
	  POD("{'containers':[" CTR("{'requests':{'cpu':'64'}}") "]}"),
	  "node(s) had untolerated taint {k: v}" },
	{ "cpu and memory short are both reported", NULL, NULL, NULL, "True",
	  POD("{'containers':[" CTR(
		  "{'requests':{'cpu':'5','memory':'9Gi'}}") "]}"),
	  "Insufficient cpu, 1 Insufficient memory" },
};

static void test_each_filter_accepts_or_refuses_one_node(void **state)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(one_node_cases); i++) {
		const struct one_node_case *c = &one_node_cases[i];
		struct sched *s = sched_new(NULL);
		struct sched_pod *p;
		char want[512], *got;

		add_node(s, "n1", c->alloc, c->spec, c->labels, c->ready);
		p = pod("p", c->pod);
		got = place(s, p);
		if (c->reason)
			snprintf(want, sizeof(want),
				 "0/1 nodes are available: 1 %s.", c->reason);
		else
			snprintf(want, sizeof(want), "n1");
		if (strcmp(got, want)) {
			print_error("case \"%s\":\n  got  %s\n  want %s\n",
				    c->what, got, want);
			fail();
		}
		free(got);
		sched_pod_free(p);
		sched_free(s);
	}
}

/* ---- tolerations ------------------------------------------------------ */

struct toleration_case {
	const char *taint; /* a Taint object */
	const char *toleration; /* a Toleration object */
	bool tolerated;
};

static const struct toleration_case toleration_cases[] = {
	{ "{'key':'k','value':'v','effect':'NoSchedule'}",
	  "{'key':'k','operator':'Equal','value':'v','effect':'NoSchedule'}",
	  true },
	{ "{'key':'k','value':'v','effect':'NoSchedule'}",
	  "{'key':'k','value':'v','effect':'NoSchedule'}", true },
	{ "{'key':'k','value':'v','effect':'NoSchedule'}",
	  "{'key':'k','operator':'Equal','value':'w','effect':'NoSchedule'}",
	  false },
	{ "{'key':'k','value':'v','effect':'NoSchedule'}",
	  "{'key':'k','operator':'Exists','effect':'NoSchedule'}", true },
	{ "{'key':'k','value':'v','effect':'NoSchedule'}",
	  "{'key':'other','operator':'Exists'}", false },
	{ "{'key':'k','value':'v','effect':'NoSchedule'}",
	  "{'operator':'Exists'}", true },
	{ "{'key':'k','value':'v','effect':'NoExecute'}",
	  "{'operator':'Exists','effect':'NoExecute'}", true },
	{ "{'key':'k','value':'v','effect':'NoSchedule'}",
	  "{'key':'k','operator':'Exists','effect':'NoExecute'}", false },
	{ "{'key':'k','value':'v','effect':'NoExecute'}",
	  "{'key':'k','operator':'Exists'}", true },
	{ "{'key':'k','effect':'NoSchedule'}",
	  "{'key':'k','operator':'Equal','effect':'NoSchedule'}", true },
	{ "{'key':'k','value':'v','effect':'NoExecute'}",
	  "{'key':'k','operator':'Exists','effect':'NoExecute',"
	  "'tolerationSeconds':300}",
	  true },
};

static void test_tolerations_match_taints_by_key_value_and_effect(void **state)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(toleration_cases); i++) {
		const struct toleration_case *c = &toleration_cases[i];
		struct sched *s = sched_new(NULL);
		struct sched_pod *p;
		char spec[256], text[512], *got;

		snprintf(spec, sizeof(spec), "{'taints':[%s]}", c->taint);
		add_node(s, "n1", NULL, spec, NULL, "True");
		snprintf(text, sizeof(text),
			 POD("{'containers':[" CTR(
				 "{}") "],'tolerations':[%s]}"),
			 c->toleration);
		p = pod("p", text);
		got = place(s, p);
		if (c->tolerated != !strcmp(got, "n1")) {
			print_error("taint %s, toleration %s: %s\n", c->taint,
				    c->toleration, got);
			fail();
		}
		free(got);
		sched_pod_free(p);
		sched_free(s);
	}
}

/* ---- host ports ------------------------------------------------------- */

struct port_case {
	const char *first, *second; /* a containerPort object each */
	bool conflict;
};

static const struct port_case port_cases[] = {
	{ "{'containerPort':80,'hostPort':8080}",
	  "{'containerPort':81,'hostPort':8080}", true },
	{ "{'containerPort':80,'hostPort':8080}",
	  "{'containerPort':80,'hostPort':8081}", false },
	{ "{'containerPort':80,'hostPort':8080}",
	  "{'containerPort':80,'hostPort':8080,'protocol':'UDP'}", false },
	{ "{'containerPort':80,'hostPort':8080,'hostIP':'127.0.1.1'}",
	  "{'containerPort':80,'hostPort':8080,'hostIP':'127.0.1.2'}", false },
	{ "{'containerPort':80,'hostPort':8080,'hostIP':'127.0.1.1'}",
	  "{'containerPort':80,'hostPort':8080,'hostIP':'127.0.1.1'}", true },
	{ "{'containerPort':80,'hostPort':8080,'hostIP':'0.0.0.0'}",
	  "{'containerPort':80,'hostPort':8080,'hostIP':'127.0.1.2'}", true },
	{ "{'containerPort':80,'hostPort':8080,'hostIP':'127.0.1.2'}",
	  "{'containerPort':80,'hostPort':8080}", true },
	{ "{'containerPort':80}", "{'containerPort':80}", false },
};

static void test_host_ports_conflict_on_port_protocol_and_address(void **state)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(port_cases); i++) {
		const struct port_case *c = &port_cases[i];
		struct sched *s = sched_new(NULL);
		struct sched_pod *a, *b;
		char text[512], *got;

		ready_node(s, "n1");
		snprintf(text, sizeof(text),
			 POD("{'containers':[{'name':'c','ports':[%s]}]}"),
			 c->first);
		a = pod("a", text);
		assert_int_equal(sched_assume(s, a, "n1"), 0);
		snprintf(text, sizeof(text),
			 POD("{'containers':[{'name':'c','ports':[%s]}]}"),
			 c->second);
		b = pod("b", text);
		got = place(s, b);
		if (c->conflict)
			assert_string_equal(
				got, "0/1 nodes are available: 1 node(s) "
				     "didn't have free ports for the "
				     "requested pod ports.");
		else
			assert_string_equal(got, "n1");
		free(got);
		/* Forgetting the first pod frees its ports. */
		assert_int_equal(sched_forget(s, "default", "a"), 0);
		got = place(s, b);
		assert_string_equal(got, "n1");
		free(got);
		sched_pod_free(b);
		sched_free(s);
	}
}

/* ---- pod anti-affinity ------------------------------------------------ */

#define ANTI(ns, term)                                                      \
	"{'metadata':{'namespace':'" ns "','labels':{'app':'db'}},"         \
	"'spec':{'containers':[" CTR("{}") "],'affinity':{"                 \
					   "'podAntiAffinity':{"            \
					   "'requiredDuringScheduling"      \
					   "IgnoredDuringExecution':[" term \
					   "]}}}}"
#define HOST_TERM(sel) \
	"{'topologyKey':'kubernetes.io/hostname','labelSelector':" sel "}"

struct anti_case {
	const char *what;
	const char *placed; /* a Pod already on n1 */
	const char *incoming;
	const char *reason; /* NULL: fits */
};

static const struct anti_case anti_cases[] = {
	{ "a pod avoids a node running a pod its anti-affinity selects",
	  "{'metadata':{'namespace':'default','labels':{'app':'web'}},"
	  "'spec':{'containers':[" CTR("{}") "]}}",
	  ANTI("default", HOST_TERM("{'matchLabels':{'app':'web'}}")),
	  "node(s) didn't match pod anti-affinity rules" },
	{ "anti-affinity ignores pods its selector does not select",
	  "{'metadata':{'namespace':'default','labels':{'app':'api'}},"
	  "'spec':{'containers':[" CTR("{}") "]}}",
	  ANTI("default", HOST_TERM("{'matchLabels':{'app':'web'}}")), NULL },
	{ "anti-affinity looks only in the pod's own namespace by default",
	  "{'metadata':{'namespace':'other','labels':{'app':'web'}},"
	  "'spec':{'containers':[" CTR("{}") "]}}",
	  ANTI("default", HOST_TERM("{'matchLabels':{'app':'web'}}")), NULL },
	{ "anti-affinity looks in the namespaces it lists",
	  "{'metadata':{'namespace':'other','labels':{'app':'web'}},"
	  "'spec':{'containers':[" CTR("{}") "]}}",
	  ANTI("default",
	       "{'topologyKey':'kubernetes.io/hostname','namespaces':['other'],"
	       "'labelSelector':{'matchLabels':{'app':'web'}}}"),
	  "node(s) didn't match pod anti-affinity rules" },
	{ "an empty namespaceSelector means every namespace",
	  "{'metadata':{'namespace':'other','labels':{'app':'web'}},"
	  "'spec':{'containers':[" CTR("{}") "]}}",
	  ANTI("default",
	       "{'topologyKey':'kubernetes.io/hostname','namespaceSelector':{},"
	       "'labelSelector':{'matchLabels':{'app':'web'}}}"),
	  "node(s) didn't match pod anti-affinity rules" },
	{ "matchExpressions select as well",
	  "{'metadata':{'namespace':'default','labels':{'app':'web'}},"
	  "'spec':{'containers':[" CTR("{}") "]}}",
	  ANTI("default", HOST_TERM("{'matchExpressions':[{'key':'app',"
				    "'operator':'In','values':['web','x']}]}")),
	  "node(s) didn't match pod anti-affinity rules" },
	{ "a pod on the node whose anti-affinity selects the newcomer keeps it "
	  "away",
	  ANTI("default", HOST_TERM("{'matchLabels':{'app':'web'}}")),
	  "{'metadata':{'namespace':'default','labels':{'app':'web'}},"
	  "'spec':{'containers':[" CTR("{}") "]}}",
	  "node(s) didn't satisfy existing pods anti-affinity rules" },
	{ "replicas with anti-affinity against themselves take one node each",
	  ANTI("default", HOST_TERM("{'matchLabels':{'app':'db'}}")),
	  ANTI("default", HOST_TERM("{'matchLabels':{'app':'db'}}")),
	  "node(s) didn't match pod anti-affinity rules" },
};

static void test_required_anti_affinity_on_hostname(void **state)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(anti_cases); i++) {
		const struct anti_case *c = &anti_cases[i];
		struct sched *s = sched_new(NULL);
		struct sched_pod *a = pod("a", c->placed);
		struct sched_pod *b = pod("b", c->incoming);
		char want[512], *got;

		ready_node(s, "n1");
		assert_int_equal(sched_assume(s, a, "n1"), 0);
		got = place(s, b);
		if (c->reason)
			snprintf(want, sizeof(want),
				 "0/1 nodes are available: 1 %s.", c->reason);
		else
			snprintf(want, sizeof(want), "n1");
		if (strcmp(got, want)) {
			print_error("case \"%s\":\n  got  %s\n  want %s\n",
				    c->what, got, want);
			fail();
		}
		free(got);
		sched_pod_free(b);
		sched_free(s);
	}
}

/* ---- the failure message ---------------------------------------------- */

static void test_the_failure_message_is_kubernetes_own(void **state)
{
	struct sched *s = sched_new(NULL);
	struct sched_pod *p = simple_pod("p", "100m", "4Gi");
	char *got;

	add_node(s, "n1", "{'cpu':'4','memory':'2Gi','pods':'110'}", NULL, NULL,
		 "True");
	add_node(s, "n2", NULL, NULL, NULL, "Unknown");
	add_node(s, "n3", NULL, NULL, NULL, "Unknown");
	got = place(s, p);
	assert_string_equal(got, "0/3 nodes are available: 1 Insufficient "
				 "memory, 2 node(s) had untolerated taint "
				 "{node.kubernetes.io/unreachable: }.");
	free(got);
	sched_pod_free(p);
	sched_free(s);
}

static void test_the_failure_message_sorts_whole_entries_bytewise(void **state)
{
	/*
	 * kube-scheduler sorts "<count> <reason>" strings, so "10 ..." comes
	 * before "2 ..." and "Insufficient" before "Too" before "node(s)".
	 */
	struct sched *s = sched_new(NULL);
	struct sched_pod *p = simple_pod("p", "5", "");
	char name[16], *got;

	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "cpu%d", i);
		add_node(s, name, NULL, NULL, NULL, "True");
	}
	add_node(s, "full1", "{'cpu':'8','memory':'8Gi','pods':'0'}", NULL,
		 NULL, "True");
	add_node(s, "full2", "{'cpu':'8','memory':'8Gi','pods':'0'}", NULL,
		 NULL, "True");
	add_node(s, "off", NULL, "{'unschedulable':true}", NULL, "True");
	add_node(s, "t1", NULL,
		 "{'taints':[{'key':'b','effect':'NoSchedule'}]}", NULL,
		 "True");
	add_node(s, "t2", NULL,
		 "{'taints':[{'key':'a','value':'x','effect':'NoExecute'}]}",
		 NULL, "True");
	add_node(s, "dead", NULL, NULL, NULL, "False");
	got = place(s, p);
	assert_string_equal(
		got, "0/16 nodes are available: 1 node(s) had untolerated "
		     "taint {a: x}, 1 node(s) had untolerated taint {b: }, "
		     "1 node(s) had untolerated taint "
		     "{node.kubernetes.io/not-ready: }, 1 node(s) were "
		     "unschedulable, 10 Insufficient cpu, 2 Too many pods.");
	free(got);
	sched_pod_free(p);
	sched_free(s);
}

static void test_no_nodes_at_all_says_so(void **state)
{
	struct sched *s = sched_new(NULL);
	struct sched_pod *p = simple_pod("p", "", "");
	char *got = place(s, p);

	assert_string_equal(got, "no nodes available to schedule pods");
	free(got);
	sched_pod_free(p);
	sched_free(s);
}

/* ---- scores ----------------------------------------------------------- */

static void test_least_allocated_picks_the_emptier_node(void **state)
{
	struct sched *s = sched_new(NULL);
	struct sched_pod *busy = simple_pod("busy", "3", "6Gi");
	struct sched_pod *p = simple_pod("p", "500m", "1Gi");
	char *got;

	ready_node(s, "n1");
	ready_node(s, "n2");
	ready_node(s, "n3");
	/* n1 is the busiest: it scores lowest. */
	assert_int_equal(sched_assume(s, busy, "n1"), 0);
	got = place(s, p);
	assert_string_not_equal(got, "n1");
	free(got);

	/* With n2 and n3 loaded too, the emptiest of them wins. */
	assert_int_equal(sched_assume(s, simple_pod("x2", "1", "1Gi"), "n2"),
			 0);
	assert_int_equal(sched_assume(s, simple_pod("x3", "2", "1Gi"), "n3"),
			 0);
	got = place(s, p);
	assert_string_equal(got, "n2");
	free(got);
	sched_pod_free(p);
	sched_free(s);
}

static void
test_least_allocated_scores_requests_with_kubernetes_defaults(void **state)
{
	/*
	 * A pod that requests nothing still counts as 100m and 200Mi when
	 * scoring: two such pods on n1 make n2 (one pod of 10m) the emptier.
	 */
	struct sched *s = sched_new(NULL);
	struct sched_pod *p = simple_pod("p", "", "");
	char *got;

	add_node(s, "n1", "{'cpu':'1','memory':'1Gi','pods':'10'}", NULL, NULL,
		 "True");
	add_node(s, "n2", "{'cpu':'1','memory':'1Gi','pods':'10'}", NULL, NULL,
		 "True");
	assert_int_equal(sched_assume(s, simple_pod("a", "", ""), "n1"), 0);
	assert_int_equal(sched_assume(s, simple_pod("b", "", ""), "n1"), 0);
	assert_int_equal(sched_assume(s, simple_pod("c", "10m", "10Mi"), "n2"),
			 0);
	got = place(s, p);
	assert_string_equal(got, "n2");
	free(got);
	sched_pod_free(p);
	sched_free(s);
}

#define OWNED(uid)                                                        \
	"{'metadata':{'namespace':'default','labels':{'app':'web'},"      \
	"'ownerReferences':[{'apiVersion':'apps/v1','kind':'ReplicaSet'," \
	"'name':'web-1','uid':'" uid "','controller':true}]},"            \
	"'spec':{'containers':[" CTR("{'requests':{'cpu':'10m','memory':" \
				     "'10Mi'}}") "]}}"

static void
test_spread_puts_replicas_of_one_workload_on_different_nodes(void **state)
{
	struct sched *s = sched_new(NULL);
	const char *nodes[6];

	/* Big nodes, so that least-allocated barely moves. */
	for (int i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "n%d", i + 1);
		add_node(s, name, "{'cpu':'64','memory':'256Gi','pods':'110'}",
			 NULL, NULL, "True");
	}
	for (int i = 0; i < 6; i++) {
		char name[8];

		snprintf(name, sizeof(name), "w%d", i);
		nodes[i] = place_and_assume(s, pod(name, OWNED("uid-web")));
	}
	/* Each node has two of the six replicas. */
	for (int n = 1; n <= 3; n++) {
		char name[8];
		int count = 0;

		snprintf(name, sizeof(name), "n%d", n);
		for (int i = 0; i < 6; i++)
			count += !strcmp(nodes[i], name);
		assert_int_equal(count, 2);
	}
	sched_free(s);
}

static void test_spread_counts_only_the_same_controller(void **state)
{
	struct sched *s = sched_new(NULL);
	struct sched_pod *p = pod("new", OWNED("uid-a"));
	char *got;

	add_node(s, "n1", "{'cpu':'64','memory':'256Gi','pods':'110'}", NULL,
		 NULL, "True");
	add_node(s, "n2", "{'cpu':'64','memory':'256Gi','pods':'110'}", NULL,
		 NULL, "True");
	/* n1 holds one of ours, n2 two of another workload's. */
	assert_int_equal(sched_assume(s, pod("a1", OWNED("uid-a")), "n1"), 0);
	assert_int_equal(sched_assume(s, pod("b1", OWNED("uid-b")), "n2"), 0);
	assert_int_equal(sched_assume(s, pod("b2", OWNED("uid-b")), "n2"), 0);
	got = place(s, p);
	assert_string_equal(got, "n2");
	free(got);
	sched_pod_free(p);
	sched_free(s);
}

static void test_equal_nodes_are_used_in_turn(void **state)
{
	struct sched *s = sched_new(NULL);
	const char *seen[4];

	for (int i = 0; i < 4; i++) {
		char name[8];

		snprintf(name, sizeof(name), "n%d", i + 1);
		add_node(s, name, "{'cpu':'1000','memory':'1Ti','pods':'110'}",
			 NULL, NULL, "True");
	}
	for (int i = 0; i < 4; i++) {
		char name[8];

		snprintf(name, sizeof(name), "p%d", i);
		seen[i] = place_and_assume(s, simple_pod(name, "10m", "1Mi"));
	}
	assert_string_equal(seen[0], "n1");
	assert_string_equal(seen[1], "n2");
	assert_string_equal(seen[2], "n3");
	assert_string_equal(seen[3], "n4");
	sched_free(s);
}

/* ---- percentageOfNodesToScore ----------------------------------------- */

struct pct_case {
	unsigned nodes, pct, evaluated;
};

static const struct pct_case pct_cases[] = {
	{ 50, 0, 50 }, /* under 100 nodes: all of them */
	{ 1000, 0, 420 }, /* adaptive: 50 - 1000/125 = 42% */
	{ 5000, 0, 500 }, /* 50 - 40 = 10% */
	{ 1000, 100, 1000 }, { 1000, 5, 100 }, /* at least 100 */
	{ 1000, 30, 300 },
};

static void test_percentage_of_nodes_to_score_limits_the_scan(void **state)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(pct_cases); i++) {
		const struct pct_case *c = &pct_cases[i];
		struct sched_config cfg = { .percentage_of_nodes_to_score =
						    c->pct };
		struct sched *s = sched_new(&cfg);
		struct sched_pod *p = simple_pod("p", "100m", "");
		struct sched_stats st;
		const char *node;

		for (unsigned n = 0; n < c->nodes; n++) {
			char name[16];

			snprintf(name, sizeof(name), "n%u", n);
			ready_node(s, name);
		}
		assert_int_equal(sched_schedule(s, p, &node, NULL, &st), 0);
		assert_int_equal(st.nodes, c->nodes);
		assert_int_equal(st.evaluated, c->evaluated);
		assert_int_equal(st.feasible, c->evaluated);
		sched_pod_free(p);
		sched_free(s);
	}
}

static void test_a_pod_that_fits_nowhere_was_checked_on_every_node(void **state)
{
	struct sched *s = sched_new(NULL);
	struct sched_pod *p = simple_pod("p", "100", "");
	struct sched_stats st;
	struct sm_buf why = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *node;

	for (unsigned n = 0; n < 1000; n++) {
		char name[16];

		snprintf(name, sizeof(name), "n%u", n);
		ready_node(s, name);
	}
	assert_int_equal(sched_schedule(s, p, &node, &why, &st), -ENOSPC);
	assert_int_equal(st.evaluated, 1000);
	assert_string_equal(
		sm_buf_cstr(&why),
		"0/1000 nodes are available: 1000 Insufficient cpu.");
	sm_buf_release(&why);
	sched_pod_free(p);
	sched_free(s);
}

/* ---- assume and forget ------------------------------------------------ */

static void test_assume_and_forget_keep_the_accounting(void **state)
{
	struct sched *s = sched_new(NULL);
	struct sched_pod *big = simple_pod("big", "600m", "");
	struct sched_pod *dup = simple_pod("a", "1m", "");
	char *got;

	add_node(s, "n1", "{'cpu':'1','memory':'1Gi','pods':'2'}", NULL, NULL,
		 "True");
	assert_int_equal(
		sched_assume(s, simple_pod("a", "500m", "100Mi"), "n1"), 0);
	assert_string_equal(sched_pod_node(s, "default", "a"), "n1");
	/* The same pod twice is refused, and the caller keeps it. */
	assert_int_equal(sched_assume(s, dup, "n1"), -EEXIST);
	sched_pod_free(dup);

	got = place(s, big);
	assert_string_equal(got,
			    "0/1 nodes are available: 1 Insufficient cpu.");
	free(got);
	assert_int_equal(sched_assume(s, simple_pod("b", "", ""), "n1"), 0);
	got = place(s, big);
	assert_string_equal(got, "0/1 nodes are available: 1 Insufficient "
				 "cpu, 1 Too many pods.");
	free(got);

	assert_int_equal(sched_forget(s, "default", "a"), 0);
	assert_null(sched_pod_node(s, "default", "a"));
	assert_int_equal(sched_forget(s, "default", "a"), -ENOENT);
	got = place(s, big);
	assert_string_equal(got, "n1");
	free(got);
	assert_int_equal(sched_forget(s, "default", "b"), 0);
	sched_pod_free(big);
	sched_free(s);
}

static void test_forgetting_every_pod_leaves_every_node_empty(void **state)
{
	/*
	 * Pods with requests, host ports, controllers and anti-affinity go
	 * onto 10 nodes and are forgotten in another order; then a pod asking
	 * for a whole node with every port must fit on all 10.
	 */
	struct sched_config cfg = { .percentage_of_nodes_to_score = 100 };
	struct sched *s = sched_new(&cfg);
	struct sched_pod *whole;
	struct sched_stats st;
	const char *node;
	char name[16], text[1024];

	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		add_node(s, name, "{'cpu':'8','memory':'8Gi','pods':'30'}",
			 NULL, NULL, "True");
	}
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		snprintf(
			text, sizeof(text),
			"{'metadata':{'namespace':'default','labels':{'app':"
			"'a%d'},'ownerReferences':[{'kind':'ReplicaSet','name':"
			"'rs%d','uid':'u%d','controller':true}]},'spec':{"
			"'containers':[{'name':'c','resources':{'requests':{"
			"'cpu':'%dm','memory':'%dMi'}},'ports':[{"
			"'containerPort':80,'hostPort':%d}]}]%s}}",
			i % 7, i % 5, i % 5, 10 + i % 30, 5 + i % 20, 10000 + i,
			i % 3 ? ""
			      : ",'affinity':{'podAntiAffinity':{'required"
				"DuringSchedulingIgnoredDuringExecution':[{"
				"'topologyKey':'kubernetes.io/hostname',"
				"'labelSelector':{'matchLabels':{'app':'zz'}}}]"
				"}}");
		place_and_assume(s, pod(name, text));
	}
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "p%d", (i * 37) % 200);
		assert_int_equal(sched_forget(s, "default", name), 0);
	}
	whole = pod(
		"whole",
		"{'metadata':{'namespace':'default','labels':{'app':'zz'}},"
		"'spec':{'containers':[{'name':'c','resources':{'requests':"
		"{'cpu':'8','memory':'8Gi'}},'ports':[{'containerPort':80,"
		"'hostPort':10000},{'containerPort':81,'hostPort':10199}]}]}}");
	assert_int_equal(sched_schedule(s, whole, &node, NULL, &st), 0);
	assert_int_equal(st.feasible, 10);
	sched_pod_free(whole);
	sched_free(s);
}

static void test_a_node_update_keeps_its_pods(void **state)
{
	struct sched *s = sched_new(NULL);
	struct sched_pod *p = simple_pod("p", "1", "");
	char *got;

	add_node(s, "n1", "{'cpu':'1','memory':'1Gi','pods':'10'}", NULL, NULL,
		 "True");
	assert_int_equal(sched_assume(s, simple_pod("a", "1", ""), "n1"), 0);
	got = place(s, p);
	assert_string_equal(got,
			    "0/1 nodes are available: 1 Insufficient cpu.");
	free(got);
	/* The node grows: the placed pod still counts, the new room is free. */
	add_node(s, "n1", "{'cpu':'2','memory':'1Gi','pods':'10'}", NULL, NULL,
		 "True");
	assert_int_equal(sched_node_count(s), 1);
	got = place(s, p);
	assert_string_equal(got, "n1");
	free(got);
	/* And taints follow the update too. */
	add_node(s, "n1", "{'cpu':'2','memory':'1Gi','pods':'10'}", NULL, NULL,
		 "Unknown");
	got = place(s, p);
	assert_string_equal(got, "0/1 nodes are available: 1 node(s) had "
				 "untolerated taint "
				 "{node.kubernetes.io/unreachable: }.");
	free(got);
	sched_pod_free(p);
	sched_free(s);
}

static void
test_a_removed_node_holds_its_pods_until_they_are_forgotten(void **state)
{
	struct sched *s = sched_new(NULL);
	struct sched_pod *p = simple_pod("p", "1", "");
	char *got;

	add_node(s, "n1", "{'cpu':'1','memory':'1Gi','pods':'10'}", NULL, NULL,
		 "True");
	assert_int_equal(sched_assume(s, simple_pod("a", "1", ""), "n1"), 0);
	assert_int_equal(sched_node_remove(s, "n1"), 0);
	assert_int_equal(sched_node_remove(s, "n1"), -ENOENT);
	assert_int_equal(sched_node_count(s), 0);
	assert_string_equal(sched_pod_node(s, "default", "a"), "n1");
	got = place(s, p);
	assert_string_equal(got, "no nodes available to schedule pods");
	free(got);
	/* It comes back: its pod still counts. */
	add_node(s, "n1", "{'cpu':'1','memory':'1Gi','pods':'10'}", NULL, NULL,
		 "True");
	got = place(s, p);
	assert_string_equal(got,
			    "0/1 nodes are available: 1 Insufficient cpu.");
	free(got);
	assert_int_equal(sched_node_remove(s, "n1"), 0);
	assert_int_equal(sched_forget(s, "default", "a"), 0);
	sched_pod_free(p);
	sched_free(s);
}

static void test_the_generation_moves_with_every_change(void **state)
{
	struct sched *s = sched_new(NULL);
	struct sched_pod *p = simple_pod("p", "100", "");
	const char *node;
	uint64_t g = sched_generation(s);

	ready_node(s, "n1");
	assert_true(sched_generation(s) > g);
	g = sched_generation(s);
	/* Scheduling, even failing, changes nothing that could help. */
	assert_int_equal(sched_schedule(s, p, &node, NULL, NULL), -ENOSPC);
	assert_int_equal(sched_generation(s), g);
	assert_int_equal(sched_assume(s, simple_pod("a", "1", ""), "n1"), 0);
	assert_true(sched_generation(s) > g);
	g = sched_generation(s);
	assert_int_equal(sched_forget(s, "default", "nope"), -ENOENT);
	assert_int_equal(sched_generation(s), g);
	assert_int_equal(sched_forget(s, "default", "a"), 0);
	assert_true(sched_generation(s) > g);
	g = sched_generation(s);
	assert_int_equal(sched_node_remove(s, "n1"), 0);
	assert_true(sched_generation(s) > g);
	sched_pod_free(p);
	sched_free(s);
}

static void test_a_pod_bound_to_an_unknown_node_waits_for_it(void **state)
{
	struct sched *s = sched_new(NULL);
	struct sched_pod *p = simple_pod("p", "1", "");
	char *got;

	assert_int_equal(sched_assume(s, simple_pod("a", "1", ""), "later"), 0);
	assert_int_equal(sched_node_count(s), 0);
	add_node(s, "later", "{'cpu':'1','memory':'1Gi','pods':'10'}", NULL,
		 NULL, "True");
	assert_int_equal(sched_node_count(s), 1);
	got = place(s, p);
	assert_string_equal(got,
			    "0/1 nodes are available: 1 Insufficient cpu.");
	free(got);
	sched_pod_free(p);
	sched_free(s);
}

/* ---- compile errors --------------------------------------------------- */

struct bad_case {
	const char *json;
	const char *msg; /* the first error */
};

static const struct bad_case bad_pods[] = {
	{ "{'metadata':{'namespace':'default','name':'w'},'spec':{"
	  "'containers':[" CTR("{'requests':{'memory':'lots'}}") "]}}",
	  "Pod \"default/w\": spec.containers[0].resources.requests.memory: "
	  "invalid quantity \"lots\": not a number" },
	{ "{'metadata':{'namespace':'default','name':'w'},'spec':{"
	  "'containers':[],'tolerations':[{'key':'k','operator':'Maybe'}]}}",
	  "Pod \"default/w\": spec.tolerations[0].operator: unsupported value "
	  "\"Maybe\": expected \"Exists\" or \"Equal\"" },
	{ "{'metadata':{'namespace':'default','name':'w'},'spec':{"
	  "'containers':[],'affinity':{'podAntiAffinity':{"
	  "'requiredDuringSchedulingIgnoredDuringExecution':[{'topologyKey':"
	  "'topology.kubernetes.io/zone','labelSelector':{}}]}}}}",
	  "Pod \"default/w\": spec.affinity.podAntiAffinity."
	  "requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: "
	  "unsupported value \"topology.kubernetes.io/zone\": only "
	  "\"kubernetes.io/hostname\" is supported" },
	{ "{'metadata':{'namespace':'default','name':'w'},'spec':{"
	  "'containers':[],'affinity':{'nodeAffinity':{"
	  "'requiredDuringSchedulingIgnoredDuringExecution':{"
	  "'nodeSelectorTerms':[{'matchExpressions':[{'key':'a','operator':"
	  "'Gt','values':['x']}]}]}}}}}",
	  "Pod \"default/w\": spec.affinity.nodeAffinity."
	  "requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
	  ".matchExpressions[0].values: invalid value \"x\": expected an "
	  "integer" },
	{ "{'metadata':{'namespace':'default','name':'w'},'spec':{"
	  "'containers':[],'affinity':{'podAffinity':{"
	  "'requiredDuringSchedulingIgnoredDuringExecution':[{'topologyKey':"
	  "'kubernetes.io/hostname','labelSelector':{}}]}}}}",
	  "Pod \"default/w\": spec.affinity.podAffinity."
	  "requiredDuringSchedulingIgnoredDuringExecution: not supported "
	  "(required pod affinity)" },
	{ "{'metadata':{'namespace':'default'},'spec':{}}",
	  "Pod \"default/\": metadata.name: required value" },
#define W(spec) \
	"{'metadata':{'namespace':'default','name':'w'},'spec':" spec "}"
	{ W("'x'"), "Pod \"default/w\": spec: expected an object, got string" },
	{ W("{'containers':{}}"),
	  "Pod \"default/w\": spec.containers: expected an array, got object" },
	{ W("{'containers':[" CTR("{'requests':{'cpu':true}}") "]}"),
	  "Pod \"default/w\": spec.containers[0].resources.requests.cpu: "
	  "expected a quantity, got boolean" },
	{ W("{'containers':[" CTR("{'requests':{'memory':'-1Gi'}}") "]}"),
	  "Pod \"default/w\": spec.containers[0].resources.requests.memory: "
	  "invalid quantity \"-1Gi\": must not be negative" },
	{ W("{'containers':[],'tolerations':[1]}"),
	  "Pod \"default/w\": spec.tolerations[0]: expected an object, got "
	  "integer" },
	{ W("{'containers':[],'nodeSelector':{'a':1}}"),
	  "Pod \"default/w\": spec.nodeSelector.a: expected a string, got "
	  "integer" },
	{ W("{'containers':[{'name':'c','ports':[{'containerPort':80,"
	    "'hostPort':70000}]}]}"),
	  "Pod \"default/w\": spec.containers[0].ports[0].hostPort: expected a "
	  "port number 0-65535" },
	{ W("{'containers':[],'affinity':{'podAntiAffinity':{"
	    "'requiredDuringSchedulingIgnoredDuringExecution':[{'topologyKey':"
	    "'kubernetes.io/hostname','labelSelector':{'matchLabel':{}}}]}}}"),
	  "Pod \"default/w\": spec.affinity.podAntiAffinity."
	  "requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector: "
	  "unknown field \"matchLabel\"" },
};

static void test_a_bad_pod_is_refused_with_the_field_named(void **state)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(bad_pods); i++) {
		struct sm_err err = SM_ERR_INIT;
		struct sched_pod *p = NULL;
		json_t *j = js(bad_pods[i].json);

		assert_int_equal(sched_pod_compile(&p, j, &err), -EINVAL);
		assert_null(p);
		assert_true(err.nr >= 1);
		assert_string_equal(err.items[0].msg, bad_pods[i].msg);
		sm_err_release(&err);
		json_decref(j);
	}
}

static void test_a_bad_node_is_refused_and_the_cache_unchanged(void **state)
{
	struct sched *s = sched_new(NULL);
	struct sm_err err = SM_ERR_INIT;
	json_t *j = js("{'metadata':{'name':'n1'},'status':{'allocatable':"
		       "{'cpu':'x'}}}");

	ready_node(s, "n1");
	assert_int_equal(sched_node_set(s, j, &err), -EINVAL);
	assert_string_equal(err.items[0].msg,
			    "Node \"n1\": status.allocatable.cpu: invalid "
			    "quantity \"x\": not a number");
	assert_int_equal(sched_node_count(s), 1);
	sm_err_release(&err);
	json_decref(j);
	sched_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_filter_accepts_or_refuses_one_node),
		cmocka_unit_test(
			test_tolerations_match_taints_by_key_value_and_effect),
		cmocka_unit_test(
			test_host_ports_conflict_on_port_protocol_and_address),
		cmocka_unit_test(test_required_anti_affinity_on_hostname),
		cmocka_unit_test(test_the_failure_message_is_kubernetes_own),
		cmocka_unit_test(
			test_the_failure_message_sorts_whole_entries_bytewise),
		cmocka_unit_test(test_no_nodes_at_all_says_so),
		cmocka_unit_test(test_least_allocated_picks_the_emptier_node),
		cmocka_unit_test(
			test_least_allocated_scores_requests_with_kubernetes_defaults),
		cmocka_unit_test(
			test_spread_puts_replicas_of_one_workload_on_different_nodes),
		cmocka_unit_test(test_spread_counts_only_the_same_controller),
		cmocka_unit_test(test_equal_nodes_are_used_in_turn),
		cmocka_unit_test(
			test_percentage_of_nodes_to_score_limits_the_scan),
		cmocka_unit_test(
			test_a_pod_that_fits_nowhere_was_checked_on_every_node),
		cmocka_unit_test(test_assume_and_forget_keep_the_accounting),
		cmocka_unit_test(
			test_forgetting_every_pod_leaves_every_node_empty),
		cmocka_unit_test(test_a_node_update_keeps_its_pods),
		cmocka_unit_test(
			test_a_removed_node_holds_its_pods_until_they_are_forgotten),
		cmocka_unit_test(
			test_a_pod_bound_to_an_unknown_node_waits_for_it),
		cmocka_unit_test(test_the_generation_moves_with_every_change),
		cmocka_unit_test(
			test_a_bad_pod_is_refused_with_the_field_named),
		cmocka_unit_test(
			test_a_bad_node_is_refused_and_the_cache_unchanged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
