/*
 * store_bench.c: durable writes per second and their latency, the store
 * on its journal (bench/store runs it; see bench/README.md).
 *
 * For each number of concurrent writers (default 1, 16 and 64), ROUNDS
 * times: a new store in WORKDIR/round, writers that each keep one create
 * of a Pod-sized object (about 2 KiB of JSON) outstanding and issue the
 * next from the previous one's callback (which runs once the write is
 * fsynced), until WRITES creates are acknowledged. Latency is from the
 * call to its callback; throughput is acknowledged writes over the wall
 * time of the round. Prints min/median/max over the rounds of writes/s,
 * p50 and p99, and the records per fsync.
 *
 * usage: store_bench WORKDIR [ROUNDS [WRITERS,... [WRITES]]]
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "stuurman-config.h"
#if SM_HAVE_MIMALLOC
#include <mimalloc.h>
#endif

#include "common/err.h"
#include "common/xalloc.h"
#include "reconciler/journal.h"
#include "reconciler/store.h"
#include "common/banned.h"

/* A Pod as a ReplicaSet makes it, with a status: about 2 KiB. */
static const char pod_json[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\","
	"\"namespace\":\"shop\",\"generateName\":\"checkout-5d8f7c9b4-\","
	"\"labels\":{\"app\":\"checkout\",\"tier\":\"backend\",\"team\":"
	"\"team-07\",\"pod-template-hash\":\"5d8f7c9b4\"},\"annotations\":{"
	"\"example.com/owner\":\"team-07@shop.example\",\"prometheus.io/"
	"scrape\":\"true\",\"prometheus.io/port\":\"9090\"},"
	"\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":"
	"\"ReplicaSet\",\"name\":\"checkout-5d8f7c9b4\",\"uid\":"
	"\"6f0c1a52-8d4e-4b7a-9c3f-2e1d0b9a8c7d\",\"controller\":true,"
	"\"blockOwnerDeletion\":true}]},\"spec\":{\"nodeName\":\"node-2\","
	"\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,"
	"\"containers\":[{\"name\":\"checkout\",\"image\":\"registry.local:"
	"5000/shop/checkout:v2.3.1\",\"ports\":[{\"name\":\"http\","
	"\"containerPort\":8080,\"protocol\":\"TCP\"},{\"name\":\"metrics\","
	"\"containerPort\":9090,\"protocol\":\"TCP\"}],\"env\":[{\"name\":"
	"\"LOG_LEVEL\",\"value\":\"info\"},{\"name\":\"REGION\",\"value\":"
	"\"eu-west-1\"},{\"name\":\"DB_HOST\",\"value\":\"orders-db.shop.svc"
	"\"},{\"name\":\"CACHE_URL\",\"value\":\"redis://cache.shop.svc:6379"
	"\"}],\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":"
	"\"256Mi\"},\"limits\":{\"cpu\":\"1\",\"memory\":\"512Mi\"}},"
	"\"readinessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":"
	"8080},\"periodSeconds\":5,\"failureThreshold\":3},\"livenessProbe\":"
	"{\"tcpSocket\":{\"port\":8080},\"initialDelaySeconds\":10,"
	"\"periodSeconds\":10},\"volumeMounts\":[{\"name\":\"config\","
	"\"mountPath\":\"/etc/checkout\",\"readOnly\":true}]}],\"volumes\":[{"
	"\"name\":\"config\",\"configMap\":{\"name\":\"checkout-config\"}}],"
	"\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\","
	"\"operator\":\"Exists\",\"effect\":\"NoExecute\","
	"\"tolerationSeconds\":1},{\"key\":\"node.kubernetes.io/unreachable\","
	"\"operator\":\"Exists\",\"effect\":\"NoExecute\","
	"\"tolerationSeconds\":1}]},\"status\":{\"phase\":\"Running\","
	"\"hostIP\":\"127.0.1.2\",\"podIP\":\"10.88.0.17\",\"startTime\":"
	"\"2026-11-25T21:58:54Z\",\"conditions\":[{\"type\":\"Initialized\","
	"\"status\":\"True\",\"lastTransitionTime\":\"2026-11-25T21:58:54Z\"},"
	"{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":"
	"\"2026-11-25T21:58:56Z\"},{\"type\":\"ContainersReady\",\"status\":"
	"\"True\",\"lastTransitionTime\":\"2026-11-25T21:58:56Z\"},{\"type\":"
	"\"PodScheduled\",\"status\":\"True\",\"lastTransitionTime\":"
	"\"2026-11-25T21:58:54Z\"}],\"containerStatuses\":[{\"name\":"
	"\"checkout\",\"ready\":true,\"restartCount\":0,\"image\":"
	"\"registry.local:5000/shop/checkout:v2.3.1\",\"imageID\":\"sha256:"
	"0b5d3c9f4e2a1b8c7d6e5f40312a9b8c7d6e5f40312a9b8c7d6e5f40312a9b8c\","
	"\"containerID\":\"podman://4f2a9c1b7e3d5a8c6b0e2f4a1c9d7b3e5a8c6f0"
	"d2b4e1a3c5f7d9b0e2a4c6e8f1a\",\"started\":true,\"state\":{"
	"\"running\":{\"startedAt\":\"2026-11-25T21:58:55Z\"}}}]}}";

struct round {
	struct store *s;
	json_t *pod;
	size_t writers, writes, issued, acked;
	uint64_t *lat; /* ns, per acknowledged write */
	uint64_t *t0; /* per writer: when its write was issued */
	uint64_t start, end;
	int failed;
};

struct writer {
	struct round *r;
	size_t id;
};

static void issue(struct writer *w);

static void on_done(void *ctx, int status)
{
	struct writer *w = ctx;
	struct round *r = w->r;
	uint64_t now = uv_hrtime();

	if (status) {
		r->failed = status;
		return;
	}
	r->lat[r->acked++] = now - r->t0[w->id];
	if (r->acked == r->writes)
		r->end = now;
	if (r->issued < r->writes)
		issue(w);
}

static void issue(struct writer *w)
{
	struct round *r = w->r;
	struct sm_err err = SM_ERR_INIT;
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "checkout-5d8f7c9b4-%06zu", r->issued++);
	json_object_set_new(json_object_get(r->pod, "metadata"), "name",
			    json_string(name));
	r->t0[w->id] = uv_hrtime();
	rc = store_create(r->s, r->pod, NULL, on_done, w, &err);
	if (rc) {
		fprintf(stderr, "store_bench: create: %s\n",
			err.nr ? err.items[0].msg : strerror(-rc));
		r->failed = rc;
	}
	sm_err_release(&err);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct result {
	double wps, p50_ms, p99_ms, per_fsync, floor_ms, rss_mib;
};

/* The process's resident set, in MiB (0 when unknown). */
static double rss_mib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double kib = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = strtod(line + 6, NULL);
	fclose(f);
	return kib / 1024;
}

/*
 * The disk's floor, measured just before each round because this shared
 * machine's fsync latency swings (0.3 ms to 4 ms within minutes): the p50
 * of one Pod-sized pwrite + fdatasync, 200 times, appending to a new file
 * in the same directory. No store that fsyncs before acknowledging beats
 * it.
 */
static double fsync_floor_ms(const char *dir)
{
	enum { N = 200, MID = N / 2 };
	char path[4200];
	char buf[sizeof(pod_json)];
	uint64_t t[N];
	int fd;

	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/fsync-floor", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < N; i++) {
		uint64_t t0 = uv_hrtime();

		if (pwrite(fd, buf, sizeof(buf),
			   (off_t)i * (off_t)sizeof(buf)) !=
			    (ssize_t)sizeof(buf) ||
		    fdatasync(fd)) {
			close(fd);
			return 0;
		}
		t[i] = uv_hrtime() - t0;
	}
	close(fd);
	unlink(path);
	qsort(t, N, sizeof(t[0]), cmp_u64);
	return (double)t[MID] / 1e6;
}

static int run_round(const char *dir, size_t writers, size_t writes,
		     struct result *res)
{
	struct store_opts o = { dir, 0, 0, NULL, NULL };
	struct sm_err err = SM_ERR_INIT;
	struct writer *ws = xcalloc(writers, sizeof(*ws));
	struct round r = { 0 };
	uv_loop_t loop;
	int rc;

	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	res->floor_ms = fsync_floor_ms(dir);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	uv_loop_init(&loop);
	rc = store_open(&loop, &o, &r.s, &err);
	if (rc) {
		fprintf(stderr, "store_bench: %s\n",
			err.nr ? err.items[0].msg : strerror(-rc));
		sm_err_release(&err);
		free(ws);
		return rc;
	}
	r.pod = json_loads(pod_json, 0, NULL);
	SM_BUG_ON(!r.pod);
	r.writers = writers;
	r.writes = writes;
	r.lat = xcalloc(writes, sizeof(*r.lat));
	r.t0 = xcalloc(writers, sizeof(*r.t0));
	r.start = uv_hrtime();
	for (size_t i = 0; i < writers && r.issued < writes; i++) {
		ws[i].r = &r;
		ws[i].id = i;
		issue(&ws[i]);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = r.failed;
	if (!rc && r.acked != writes)
		rc = -EIO;
	if (!rc) {
		size_t mid = writes / 2, p99 = writes * 99 / 100;

		qsort(r.lat, writes, sizeof(*r.lat), cmp_u64);
		res->wps = (double)writes / ((double)(r.end - r.start) / 1e9);
		res->p50_ms = (double)r.lat[mid] / 1e6;
		res->p99_ms = (double)r.lat[p99] / 1e6;
	}
	res->rss_mib = rss_mib();
	{
		struct journal_stats st;

		store_journal_stats(r.s, &st);
		res->per_fsync =
			st.fsyncs ? (double)writes / (double)st.fsyncs : 0;
	}
	store_free(r.s);
	uv_run(&loop, UV_RUN_DEFAULT);
	SM_BUG_ON(uv_loop_close(&loop));
	json_decref(r.pod);
	free(r.lat);
	free(r.t0);
	free(ws);
	return rc;
}

static void summary(const char *what, double *v, size_t n, const char *unit)
{
	qsort(v, n, sizeof(*v), cmp_double);
	printf("  %-10s %10.2f %10.2f %10.2f  %s\n", what, v[0], v[n / 2],
	       v[n - 1], unit);
}

int main(int argc, char **argv)
{
	size_t rounds = argc > 2 ? strtoul(argv[2], NULL, 10) : 5;
	const char *list = argc > 3 ? argv[3] : "1,16,64";
	size_t writes_arg = argc > 4 ? strtoul(argv[4], NULL, 10) : 0;
	char dir[4096];
	char *copy, *save = NULL;

	if (argc < 2 || rounds == 0) {
		fprintf(stderr, "usage: store_bench WORKDIR [ROUNDS "
				"[WRITERS,... [WRITES]]]\n");
		return 2;
	}
	mkdir(argv[1], 0700);
	snprintf(dir, sizeof(dir), "%s/round", argv[1]);
	copy = xstrdup(list);
#if SM_HAVE_MIMALLOC
	/* As the stuurman binary; naming a symbol keeps the library linked. */
	printf("allocator: mimalloc %d.%d.%d\n", mi_version() / 100,
	       mi_version() / 10 % 10, mi_version() % 10);
#else
	puts("allocator: system");
#endif
	printf("object: %zu bytes of JSON (a Pod with status)\n",
	       strlen(pod_json));
	for (char *t = strtok_r(copy, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		size_t writers = strtoul(t, NULL, 10);
		size_t writes = writes_arg     ? writes_arg
				: writers == 1 ? 2000
					       : 20000;
		double *wps = xcalloc(rounds, sizeof(double));
		double *p50 = xcalloc(rounds, sizeof(double));
		double *p99 = xcalloc(rounds, sizeof(double));
		double *per = xcalloc(rounds, sizeof(double));
		double *flr = xcalloc(rounds, sizeof(double));
		double *rss = xcalloc(rounds, sizeof(double));

		if (!writers)
			continue;
		for (size_t i = 0; i < rounds; i++) {
			struct result res = { 0 };

			if (run_round(dir, writers, writes, &res)) {
				free(copy);
				return 1;
			}
			wps[i] = res.wps;
			p50[i] = res.p50_ms;
			p99[i] = res.p99_ms;
			per[i] = res.per_fsync;
			flr[i] = res.floor_ms;
			rss[i] = res.rss_mib;
		}
		printf("writers %zu: %zu creates per round, %zu rounds (min, "
		       "median, max)\n",
		       writers, writes, rounds);
		summary("writes/s", wps, rounds, "");
		summary("p50", p50, rounds, "ms");
		summary("p99", p99, rounds, "ms");
		summary("per fsync", per, rounds, "writes");
		summary("RSS", rss, rounds,
			"MiB (the process, holding every created Pod)");
		summary("floor p50", flr, rounds,
			"ms (one pwrite + fdatasync, before each round)");
		printf("RESULT writers=%zu wps_median=%.0f p50_median_ms=%.3f "
		       "p99_median_ms=%.3f floor_median_ms=%.3f\n",
		       writers, wps[rounds / 2], p50[rounds / 2],
		       p99[rounds / 2], flr[rounds / 2]);
		fflush(stdout);
		free(wps);
		free(p50);
		free(p99);
		free(per);
		free(flr);
		free(rss);
	}
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(copy);
	return 0;
}
