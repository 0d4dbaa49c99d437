/*
 * bench/scheduler.c: places PODS pods onto NODES in-memory nodes with the
 * scheduler library, ROUNDS times, and prints pods per second and per-pod
 * latency (p50, p99, max) for each round, then min/median/max over rounds.
 * bench/scheduler builds and runs it; see bench/README.md.
 *
 * Nodes of 4 cpu, 32Gi and 110 pods; pods with one container asking 100m
 * and 500Mi, as kube-scheduler's scheduler_perf pod-default template does;
 * and what real objects carry on top: node labels
 * (hostname, os, zone) and a Ready condition; pods with labels, a
 * controller ownerReference (1,000 ReplicaSets of 10 pods, so the spread
 * score has work), a nodeSelector on kubernetes.io/os, and the two
 * NoExecute tolerations Kubernetes' admission adds to every pod.
 *
 * Timed per pod: compiling it from its JSON object (already parsed: the
 * control plane's store holds JSON objects), picking a node, and assuming
 * it there. Building the objects and loading the nodes are not timed.
 * Each round starts from an empty cache.
 *
 * usage: bench_scheduler [ROUNDS [NODES [PODS]]]   (5, 5000, 10000)
 * Environment: SCHED_PCT=N runs only percentageOfNodesToScore N.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "scheduler/scheduler.h"
#include "common/banned.h"

#define GOAL_PODS_PER_SEC 20000.0
#define PEER_PODS_PER_SEC 680.0

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static json_t *node_json(unsigned i)
{
	char name[32], zone[16];

	snprintf(name, sizeof(name), "node-%05u", i);
	snprintf(zone, sizeof(zone), "zone-%u", i % 3);
	return json_pack(
		"{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}}, s:{},"
		" s:{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s},"
		" s:[{s:s, s:s}]}}",
		"apiVersion", "v1", "kind", "Node", "metadata", "name", name,
		"labels", "kubernetes.io/hostname", name, "kubernetes.io/os",
		"linux", "topology.kubernetes.io/zone", zone, "spec", "status",
		"capacity", "cpu", "4", "memory", "32Gi", "pods", "110",
		"allocatable", "cpu", "4", "memory", "32Gi", "pods", "110",
		"conditions", "type", "Ready", "status", "True");
}

static json_t *pod_json(unsigned i)
{
	char name[48], rs[32], uid[48];

	snprintf(rs, sizeof(rs), "app-%04u-5d8f7c9b4", i / 10);
	snprintf(name, sizeof(name), "%s-%05u", rs, i);
	snprintf(uid, sizeof(uid), "6b1f3c2e-0000-4000-8000-%012u", i / 10);
	return json_pack("{s:s, s:s,"
			 " s:{s:s, s:s, s:{s:s, s:s},"
			 "    s:[{s:s, s:s, s:s, s:s, s:b, s:b}]},"
			 " s:{s:[{s:s, s:s, s:{s:{s:s, s:s}}}],"
			 "    s:{s:s},"
			 "    s:[{s:s, s:s, s:s, s:i}, {s:s, s:s, s:s, s:i}]}}",
			 "apiVersion", "v1", "kind", "Pod", "metadata", "name",
			 name, "namespace", "default", "labels", "app", rs,
			 "pod-template-hash", "5d8f7c9b4", "ownerReferences",
			 "apiVersion", "apps/v1", "kind", "ReplicaSet", "name",
			 rs, "uid", uid, "controller", 1, "blockOwnerDeletion",
			 1, "spec", "containers", "name", "pause", "image",
			 "registry.k8s.io/pause:3.9", "resources", "requests",
			 "cpu", "100m", "memory", "500Mi", "nodeSelector",
			 "kubernetes.io/os", "linux", "tolerations", "key",
			 "node.kubernetes.io/not-ready", "operator", "Exists",
			 "effect", "NoExecute", "tolerationSeconds", 300, "key",
			 "node.kubernetes.io/unreachable", "operator", "Exists",
			 "effect", "NoExecute", "tolerationSeconds", 300);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct round {
	double pods_per_sec;
	double pods_per_cpu_sec; /* the thread's CPU time: not its waits */
	double p50_us, p99_us, max_us;
	double compile_share; /* of the timed work */
	double evaluated; /* nodes looked at per pod, on average */
	unsigned most_on_a_node;
	unsigned failed;
};

static struct round run_round(json_t **nodes, unsigned nr_nodes, json_t **pods,
			      unsigned nr_pods, unsigned pct)
{
	struct sched_config cfg = { .percentage_of_nodes_to_score = pct };
	struct sched *s = sched_new(&cfg);
	uint64_t *lat = xcalloc(nr_pods, sizeof(*lat));
	uint64_t total = 0, compile = 0, evaluated = 0, cpu0, cpu;
	size_t mid, p99;
	struct round r = { 0 };
	struct sm_err err = SM_ERR_INIT;

	for (unsigned i = 0; i < nr_nodes; i++)
		if (sched_node_set(s, nodes[i], &err))
			sm_die("bench: node %u: %s", i, err.items[0].msg);

	cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	for (unsigned i = 0; i < nr_pods; i++) {
		struct sched_pod *p;
		struct sched_stats st;
		const char *node;
		uint64_t t0, t1, t2;

		t0 = now_ns();
		if (sched_pod_compile(&p, pods[i], &err))
			sm_die("bench: pod %u: %s", i, err.items[0].msg);
		t1 = now_ns();
		if (sched_schedule(s, p, &node, NULL, &st) == 0)
			sched_assume(s, p, node);
		else {
			sched_pod_free(p);
			r.failed++;
		}
		t2 = now_ns();
		lat[i] = t2 - t0;
		total += t2 - t0;
		compile += t1 - t0;
		evaluated += st.evaluated;
	}
	cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;

	/* Untimed: how evenly the pods landed. */
	{
		unsigned *per = xcalloc(nr_nodes, sizeof(*per));

		for (unsigned i = 0; i < nr_pods; i++) {
			const char *name = json_string_value(json_object_get(
				json_object_get(pods[i], "metadata"), "name"));
			const char *node = sched_pod_node(s, "default", name);
			unsigned idx;

			if (node && sscanf(node, "node-%u", &idx) == 1 &&
			    idx < nr_nodes && ++per[idx] > r.most_on_a_node)
				r.most_on_a_node = per[idx];
		}
		free(per);
	}

	qsort(lat, nr_pods, sizeof(*lat), cmp_u64);
	r.pods_per_sec = nr_pods / (total / 1e9);
	r.pods_per_cpu_sec = nr_pods / (cpu / 1e9);
	mid = nr_pods / 2;
	p99 = (nr_pods * 99 + 99) / 100 - 1;
	r.p50_us = (double)lat[mid] / 1e3;
	r.p99_us = (double)lat[p99] / 1e3;
	r.max_us = (double)lat[nr_pods - 1] / 1e3;
	r.compile_share = (double)compile / (double)total;
	r.evaluated = (double)evaluated / nr_pods;
	free(lat);
	sm_err_release(&err);
	sched_free(s);
	return r;
}

static void stats3(double *v, unsigned n, double out[3])
{
	qsort(v, n, sizeof(*v), cmp_dbl);
	out[0] = v[0];
	out[1] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	out[2] = v[n - 1];
}

static void report(const char *label, struct round *r, unsigned rounds)
{
	double *v = xcalloc(rounds, sizeof(*v)), pps[3], ppc[3], p99[3], p50[3];
	double share = 0, eval = 0;
	unsigned most = 0, failed = 0;

	for (unsigned i = 0; i < rounds; i++)
		v[i] = r[i].pods_per_sec;
	stats3(v, rounds, pps);
	for (unsigned i = 0; i < rounds; i++)
		v[i] = r[i].pods_per_cpu_sec;
	stats3(v, rounds, ppc);
	for (unsigned i = 0; i < rounds; i++)
		v[i] = r[i].p99_us;
	stats3(v, rounds, p99);
	for (unsigned i = 0; i < rounds; i++)
		v[i] = r[i].p50_us;
	stats3(v, rounds, p50);
	for (unsigned i = 0; i < rounds; i++) {
		share += r[i].compile_share / rounds;
		eval += r[i].evaluated / rounds;
		if (r[i].most_on_a_node > most)
			most = r[i].most_on_a_node;
		failed += r[i].failed;
	}
	printf("%s\n", label);
	printf("  pods/s                  %9.0f %9.0f %9.0f\n", pps[0], pps[1],
	       pps[2]);
	printf("  pods per CPU-second     %9.0f %9.0f %9.0f\n", ppc[0], ppc[1],
	       ppc[2]);
	printf("  per-pod p50 (us)        %9.1f %9.1f %9.1f\n", p50[0], p50[1],
	       p50[2]);
	printf("  per-pod p99 (us)        %9.1f %9.1f %9.1f\n", p99[0], p99[1],
	       p99[2]);
	printf("  nodes filtered per pod %.0f; compiling the pod %.0f%% of the "
	       "time; at most %u pods on a node; %u unplaced\n",
	       eval, share * 100, most, failed);
	printf("  goal at least %.0f pods/s: %s (median %.0fx kube-scheduler's "
	       "published %.0f pods/s)\n",
	       GOAL_PODS_PER_SEC,
	       pps[1] >= GOAL_PODS_PER_SEC ? "met" : "MISSED",
	       pps[1] / PEER_PODS_PER_SEC, PEER_PODS_PER_SEC);
	free(v);
}

static unsigned arg(int argc, char **argv, int i, unsigned def)
{
	char *end;
	unsigned long v;

	if (argc <= i)
		return def;
	v = strtoul(argv[i], &end, 10);
	if (*end || !v || v > 10000000)
		sm_die("usage: bench_scheduler [ROUNDS [NODES [PODS]]]");
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	unsigned rounds = arg(argc, argv, 1, 5);
	unsigned nr_nodes = arg(argc, argv, 2, 5000);
	unsigned nr_pods = arg(argc, argv, 3, 10000);
	unsigned pcts[2] = { 0, 100 }, nr_pcts = 2;
	const char *env = getenv("SCHED_PCT");
	json_t **nodes = xcalloc(nr_nodes, sizeof(json_t *));
	json_t **pods = xcalloc(nr_pods, sizeof(json_t *));
	struct round *res[2];

	if (env && *env) {
		pcts[0] = (unsigned)strtoul(env, NULL, 10);
		nr_pcts = 1;
	}
	for (unsigned i = 0; i < nr_nodes; i++)
		nodes[i] = node_json(i);
	for (unsigned i = 0; i < nr_pods; i++)
		pods[i] = pod_json(i);

	printf("%u pods onto %u nodes, %u rounds of each setting, "
	       "interleaved; timed per pod: compile + schedule + assume\n\n",
	       nr_pods, nr_nodes, rounds);
	for (unsigned k = 0; k < nr_pcts; k++)
		res[k] = xcalloc(rounds, sizeof(**res));
	for (unsigned i = 0; i < rounds; i++)
		for (unsigned k = 0; k < nr_pcts; k++)
			res[k][i] = run_round(nodes, nr_nodes, pods, nr_pods,
					      pcts[k]);

	printf("                             min    median       max\n");
	for (unsigned k = 0; k < nr_pcts; k++) {
		char label[128];

		if (pcts[k] == 0)
			snprintf(label, sizeof(label),
				 "percentageOfNodesToScore adaptive "
				 "(kube-scheduler's default)");
		else
			snprintf(label, sizeof(label),
				 "percentageOfNodesToScore %u%s", pcts[k],
				 pcts[k] == 100 ? " (every node)" : "");
		report(label, res[k], rounds);
		free(res[k]);
	}

	for (unsigned i = 0; i < nr_nodes; i++)
		json_decref(nodes[i]);
	for (unsigned i = 0; i < nr_pods; i++)
		json_decref(pods[i]);
	free(nodes);
	free(pods);
	return 0;
}
