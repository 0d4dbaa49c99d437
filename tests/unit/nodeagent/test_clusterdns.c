/*
 * Tests for nodeagent/clusterdns.c: the hosts file rendered from Services
 * and EndpointSlices (pure), and a real dnsmasq on 127.0.0.x and a free high
 * port asked with DNS queries the test builds by hand (UDP, one A
 * question): answers from the file, changes after an update, REFUSED
 * outside the cluster domain, a killed dnsmasq started again. The dnsmasq
 * tests are skipped when dnsmasq is not installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "nodeagent/clusterdns.h"
#include "common/banned.h"

/* Rendering. */

static json_t *svc(const char *ns, const char *name, const char *cip)
{
	json_t *s = json_pack("{s:{s:s, s:s}, s:{}}", "metadata", "namespace",
			      ns, "name", name, "spec");

	if (cip)
		json_object_set_new(json_object_get(s, "spec"), "clusterIP",
				    json_string(cip));
	return s;
}

/* A slice of Service ns/name with the given endpoints (taken). */
static json_t *slice(const char *ns, const char *name, json_t *eps)
{
	return json_pack("{s:{s:s, s:s, s:{s:s}}, s:s, s:o}", "metadata",
			 "namespace", ns, "name", "x", "labels",
			 "kubernetes.io/service-name", name, "addressType",
			 "IPv4", "endpoints", eps);
}

/* A slice endpoint: ip, ready, terminating, hostname (or NULL). */
static json_t *ep(const char *ip, bool ready, bool terminating,
		  const char *hostname)
{
	json_t *e = json_pack("{s:[s], s:{s:b, s:b, s:b}}", "addresses", ip,
			      "conditions", "ready", ready, "serving", ready,
			      "terminating", terminating);

	if (hostname)
		json_object_set_new(e, "hostname", json_string(hostname));
	return e;
}

static void check_render(const json_t *svcs, const json_t *slices,
			 const char *want)
{
	char *got = clusterdns_render(svcs, slices, "cluster.local");

	assert_string_equal(got, want);
	free(got);
}

static void test_render_gives_a_service_its_cluster_ip(void **state)
{
	json_t *svcs = json_pack("{s:o}", "default/web",
				 svc("default", "web", "10.96.0.20"));

	check_render(svcs, NULL, "10.96.0.20 web.default.svc.cluster.local\n");
	json_decref(svcs);
}

static void
test_render_gives_a_headless_service_its_ready_endpoints(void **state)
{
	json_t *svcs = json_pack("{s:o}", "db/pg", svc("db", "pg", "None"));
	json_t *slices = json_pack(
		"{s:o}", "db/pg-abc",
		slice("db", "pg",
		      json_pack("[o, o, o]",
				ep("10.244.0.7", true, false, NULL),
				ep("10.244.0.5", true, false, NULL),
				ep("10.244.0.6", false, false, NULL))));

	check_render(svcs, slices,
		     "10.244.0.5 pg.db.svc.cluster.local\n"
		     "10.244.0.7 pg.db.svc.cluster.local\n");
	json_decref(svcs);
	json_decref(slices);
}

static void
test_render_with_publish_not_ready_addresses_gives_every_endpoint(void **state)
{
	json_t *s = svc("db", "pg", "None");
	json_t *svcs, *slices;

	json_object_set_new(json_object_get(s, "spec"),
			    "publishNotReadyAddresses", json_true());
	svcs = json_pack("{s:o}", "db/pg", s);
	slices = json_pack(
		"{s:o}", "db/pg-abc",
		slice("db", "pg",
		      json_pack("[o, o]", ep("10.244.0.6", false, false, NULL),
				ep("10.244.0.5", true, false, NULL))));
	check_render(svcs, slices,
		     "10.244.0.5 pg.db.svc.cluster.local\n"
		     "10.244.0.6 pg.db.svc.cluster.local\n");
	json_decref(svcs);
	json_decref(slices);
}

static void
test_render_names_endpoints_with_a_hostname_unless_gone(void **state)
{
	json_t *svcs = json_pack("{s:o}", "db/pg", svc("db", "pg", "None"));
	json_t *slices = json_pack(
		"{s:o}", "db/pg-abc",
		slice("db", "pg",
		      json_pack("[o, o, o]",
				ep("10.244.0.5", true, false, "pg-0"),
				ep("10.244.0.6", false, false, "pg-1"),
				ep("10.244.0.9", false, true, "pg-2"))));

	/*
	 * pg-1 is starting (not ready): it has its name but is not among the
	 * Service's addresses; pg-2 is terminating and not ready: nothing.
	 */
	check_render(svcs, slices,
		     "10.244.0.5 pg-0.pg.db.svc.cluster.local\n"
		     "10.244.0.6 pg-1.pg.db.svc.cluster.local\n"
		     "10.244.0.5 pg.db.svc.cluster.local\n");
	json_decref(svcs);
	json_decref(slices);
}

static void
test_render_sorts_by_name_then_address_without_duplicates(void **state)
{
	json_t *a = json_pack("{s:o, s:o, s:o}", "b/zed",
			      svc("b", "zed", "10.96.0.3"), "a/api",
			      svc("a", "api", "10.96.0.2"), "a/hl",
			      svc("a", "hl", "None"));
	json_t *b = json_pack("{s:o, s:o, s:o}", "a/hl", svc("a", "hl", "None"),
			      "a/api", svc("a", "api", "10.96.0.2"), "b/zed",
			      svc("b", "zed", "10.96.0.3"));
	/* The same pod in two slices of the Service: one line. */
	json_t *slices = json_pack(
		"{s:o, s:o}", "a/hl-1",
		slice("a", "hl",
		      json_pack("[o, o]", ep("10.244.0.10", true, false, NULL),
				ep("10.244.0.9", true, false, NULL))),
		"a/hl-2",
		slice("a", "hl",
		      json_pack("[o]", ep("10.244.0.9", true, false, NULL))));
	const char *want = "10.96.0.2 api.a.svc.cluster.local\n"
			   "10.244.0.9 hl.a.svc.cluster.local\n"
			   "10.244.0.10 hl.a.svc.cluster.local\n"
			   "10.96.0.3 zed.b.svc.cluster.local\n";

	check_render(a, slices, want);
	check_render(b, slices, want);
	json_decref(a);
	json_decref(b);
	json_decref(slices);
}

static void test_render_of_no_services_is_empty(void **state)
{
	json_t *empty = json_object();
	json_t *slices = json_pack(
		"{s:o}", "db/pg-abc",
		slice("db", "pg",
		      json_pack("[o]", ep("10.244.0.5", true, false, "pg-0"))));

	check_render(NULL, NULL, "");
	check_render(empty, empty, "");
	/* A slice whose Service is not (yet) known gives nothing. */
	check_render(empty, slices, "");
	json_decref(empty);
	json_decref(slices);
}

static void
test_render_skips_external_names_ipv6_and_what_is_not_a_dns_name(void **state)
{
	json_t *ext = svc("default", "ext", NULL);
	json_t *v6 = slice("default", "hl",
			   json_pack("[o]", ep("fd00::1", true, false, NULL)));
	json_t *svcs, *slices;

	json_object_set_new(json_object_get(ext, "spec"), "type",
			    json_string("ExternalName"));
	json_object_set_new(json_object_get(ext, "spec"), "externalName",
			    json_string("example.com"));
	json_object_set_new(v6, "addressType", json_string("IPv6"));
	svcs = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "default/ext", ext,
			 "default/hl", svc("default", "hl", "None"),
			 "default/new", svc("default", "new", ""),
			 "default/Bad", svc("default", "Bad", "10.96.0.4"),
			 "default/evil",
			 svc("default", "evil\n10.0.0.1 x", "10.96.0.5"),
			 "default/six", svc("default", "six", "fd00::10"));
	slices = json_pack(
		"{s:o, s:o}", "default/hl-6", v6, "default/hl-4",
		slice("default", "hl",
		      json_pack("[o, o]", ep("10.244.0.5", true, false, "a b"),
				ep("not-an-ip", true, false, NULL))));
	check_render(svcs, slices, "10.244.0.5 hl.default.svc.cluster.local\n");
	json_decref(svcs);
	json_decref(slices);
}

static void test_new_rejects_bad_options(void **state)
{
	static const struct {
		const char *dir, *ip, *domain;
		int port;
		const char *msg;
	} cases[] = {
		{ "", "10.96.0.10", "cluster.local", 53, "no folder" },
		{ "/tmp/x", "10.96.0", "cluster.local", 53, "\"10.96.0\"" },
		{ "/tmp/x", "10.96.0.10", "cluster.local", 0, "port 0" },
		{ "/tmp/x", "10.96.0.10", "cluster..local", 53,
		  "\"cluster..local\"" },
		{ "/tmp/x", "10.96.0.10", "-bad.local", 53, "\"-bad.local\"" },
	};
	uv_loop_t loop;

	uv_loop_init(&loop);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct clusterdns_opts o = { cases[i].dir, cases[i].ip,
					     cases[i].port, cases[i].domain,
					     NULL };
		struct sm_err err = SM_ERR_INIT;

		assert_null(clusterdns_new(&loop, &o, &err));
		assert_int_equal(err.nr, 1);
		if (!strstr(err.items[0].msg, cases[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i,
				 err.items[0].msg, cases[i].msg);
		sm_err_release(&err);
	}
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A real dnsmasq. */

struct fixture {
	char tmp[64];
	char *dir;
	char addr[16];
	int port;
	uv_loop_t loop;
	struct clusterdns *d;
};

static const char *dnsmasq_path(void)
{
	static const char *const cands[] = { "/usr/sbin/dnsmasq",
					     "/sbin/dnsmasq",
					     "/usr/bin/dnsmasq" };

	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
		if (!access(cands[i], X_OK))
			return cands[i];
	return NULL;
}

/* A port free for UDP and TCP on addr, or 0. */
static int free_port(const char *addr)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int u = socket(AF_INET, SOCK_DGRAM, 0), t = -1, port = 0;

	inet_pton(AF_INET, addr, &sa.sin_addr);
	if (u < 0 || bind(u, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(u, (struct sockaddr *)&sa, &len))
		goto out;
	t = socket(AF_INET, SOCK_STREAM, 0);
	if (t >= 0 && !bind(t, (struct sockaddr *)&sa, sizeof(sa)))
		port = ntohs(sa.sin_port);
out:
	if (u >= 0)
		close(u);
	if (t >= 0)
		close(t);
	return port;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	memcpy(f->tmp, "/tmp/sm-test-clusterdns.XXXXXX", 31);
	assert_non_null(mkdtemp(f->tmp));
	/* As /var/lib is: dnsmasq started by root reads the file as nobody. */
	assert_int_equal(chmod(f->tmp, 0755), 0);
	f->dir = xasprintf("%s/dns", f->tmp);
	/* An address of its own per test process: runs may overlap. */
	snprintf(f->addr, sizeof(f->addr), "127.0.%d.%d",
		 (int)(getpid() / 250 % 250) + 1, (int)(getpid() % 250) + 2);
	f->port = free_port(f->addr);
	assert_int_not_equal(f->port, 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->d) {
		clusterdns_free(f->d);
		f->d = NULL;
	}
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	nftw(f->tmp, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f->dir);
	free(f);
	return 0;
}

static void start(struct fixture *f, const json_t *svcs, const json_t *sl)
{
	struct clusterdns_opts o = { f->dir, f->addr, f->port, "cluster.local",
				     dnsmasq_path() };
	struct sm_err err = SM_ERR_INIT;

	f->d = clusterdns_new(&f->loop, &o, &err);
	assert_non_null(f->d);
	if (svcs)
		clusterdns_update(f->d, svcs, sl);
	if (clusterdns_start(f->d, &err))
		fail_msg("start: %s", err.nr ? err.items[0].msg : "?");
	sm_err_release(&err);
}

/* The answer to one query. */
struct answer {
	int rcode; /* -1: no answer */
	int n;
	char ips[8][INET_ADDRSTRLEN];
};

/* Asks addr:port for name's A records (one UDP query, 200 ms to answer). */
static struct answer ask(const struct fixture *f, const char *name)
{
	struct answer a = { .rcode = -1 };
	uint8_t q[300], r[1500];
	uint16_t id = (uint16_t)(rand() & 0xffff);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)f->port) };
	struct timeval tv = { 0, 200000 };
	size_t len = 0, i;
	ssize_t got;
	int fd, an;
	const char *p = name;

	/* Header: id, RD, one question. */
	q[len++] = (uint8_t)(id >> 8);
	q[len++] = (uint8_t)id;
	q[len++] = 0x01;
	q[len++] = 0x00;
	q[len++] = 0;
	q[len++] = 1;
	memset(q + len, 0, 6);
	len += 6;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		assert_true(l > 0 && l < 64 && len + l + 6 < sizeof(q));
		q[len++] = (uint8_t)l;
		memcpy(q + len, p, l);
		len += l;
		p += l + (dot ? 1 : 0);
	}
	q[len++] = 0;
	q[len++] = 0; /* type A */
	q[len++] = 1;
	q[len++] = 0; /* class IN */
	q[len++] = 1;

	inet_pton(AF_INET, f->addr, &sa.sin_addr);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, q, len, 0, (struct sockaddr *)&sa, sizeof(sa)) !=
	    (ssize_t)len) {
		close(fd);
		return a;
	}
	got = recv(fd, r, sizeof(r), 0);
	close(fd);
	if (got < 12 || r[0] != q[0] || r[1] != q[1] || !(r[2] & 0x80))
		return a;
	a.rcode = r[3] & 0x0f;
	an = r[6] << 8 | r[7];
	/* Skip the question (as sent), then read the answers. */
	i = len;
	while (an-- > 0 && i < (size_t)got) {
		uint16_t type, rdlen;

		if ((r[i] & 0xc0) == 0xc0) {
			i += 2;
		} else {
			while (i < (size_t)got && r[i])
				i += r[i] + 1;
			i++;
		}
		if (i + 10 > (size_t)got)
			break;
		type = (uint16_t)(r[i] << 8 | r[i + 1]);
		rdlen = (uint16_t)(r[i + 8] << 8 | r[i + 9]);
		i += 10;
		if (i + rdlen > (size_t)got)
			break;
		if (type == 1 && rdlen == 4 && a.n < 8)
			inet_ntop(AF_INET, r + i, a.ips[a.n++],
				  INET_ADDRSTRLEN);
		i += rdlen;
	}
	return a;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop now and then. */
static void run_for(struct fixture *f, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
}

static int cmp_ip(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The addresses of a, sorted (dnsmasq rotates them), space-separated. */
static void answer_ips(struct answer *a, char *out, size_t len)
{
	size_t n = 0;

	qsort(a->ips, (size_t)a->n, sizeof(a->ips[0]), cmp_ip);
	out[0] = '\0';
	for (int i = 0; i < a->n && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%s", i ? " " : "",
				      a->ips[i]);
}

/*
 * Runs the loop and asks until name gets rcode and the addresses ips ("" for
 * none), or 10 s have passed (a bound, not a timing: dnsmasq answers within
 * milliseconds). Fails the test with the last answer otherwise.
 */
static void assert_answer(struct fixture *f, const char *name, int rcode,
			  const char *ips)
{
	uint64_t end = now_ms() + 10000;
	char got[200];
	struct answer a;

	do {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		a = ask(f, name);
		answer_ips(&a, got, sizeof(got));
		if (a.rcode == rcode && !strcmp(got, ips))
			return;
		usleep(20000);
	} while (now_ms() < end);
	fail_msg("%s: rcode %d with \"%s\", want rcode %d with \"%s\"", name,
		 a.rcode, got, rcode, ips);
}

static bool dnsmasq_missing(void)
{
	if (dnsmasq_path())
		return false;
	print_message("dnsmasq is not installed (dnsmasq-base): skipped\n");
	return true;
}

static long read_pid(const struct fixture *f)
{
	char *path = xasprintf("%s/dnsmasq.pid", f->dir);
	struct sm_buf b = SM_BUF_INIT(64);
	long pid = 0;

	if (!sm_buf_read_file(&b, path))
		pid = strtol(sm_buf_cstr(&b), NULL, 10);
	sm_buf_release(&b);
	free(path);
	return pid;
}

static void
test_dnsmasq_answers_cluster_names_and_refuses_the_rest(void **state)
{
	struct fixture *f = *state;
	json_t *svcs, *slices;
	char *hosts;
	struct stat st;

	if (dnsmasq_missing())
		skip();
	svcs = json_pack("{s:o, s:o}", "default/web",
			 svc("default", "web", "10.96.0.20"), "db/pg",
			 svc("db", "pg", "None"));
	slices = json_pack(
		"{s:o}", "db/pg-abc",
		slice("db", "pg",
		      json_pack("[o, o]", ep("10.244.0.5", true, false, "pg-0"),
				ep("10.244.0.6", true, false, "pg-1"))));
	start(f, svcs, slices);
	assert_answer(f, "web.default.svc.cluster.local", 0, "10.96.0.20");
	assert_answer(f, "pg-1.pg.db.svc.cluster.local", 0, "10.244.0.6");
	assert_answer(f, "pg.db.svc.cluster.local", 0, "10.244.0.5 10.244.0.6");
	/* Unknown inside the domain: NXDOMAIN; outside: REFUSED. */
	assert_answer(f, "nope.default.svc.cluster.local", 3, "");
	assert_answer(f, "example.com", 5, "");
	/* The file others may read, as dnsmasq run by root reads it. */
	hosts = xasprintf("%s/hosts", f->dir);
	assert_int_equal(stat(hosts, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	free(hosts);
	json_decref(svcs);
	json_decref(slices);
}

static void test_an_update_changes_the_answers(void **state)
{
	struct fixture *f = *state;
	json_t *svcs;
	char *hosts;
	struct stat before, after;

	if (dnsmasq_missing())
		skip();
	start(f, NULL, NULL);
	assert_answer(f, "web.default.svc.cluster.local", 3, "");
	svcs = json_pack("{s:o}", "default/web",
			 svc("default", "web", "10.96.0.20"));
	clusterdns_update(f->d, svcs, NULL);
	assert_answer(f, "web.default.svc.cluster.local", 0, "10.96.0.20");
	json_decref(svcs);

	svcs = json_pack("{s:o}", "default/api",
			 svc("default", "api", "10.96.0.21"));
	clusterdns_update(f->d, svcs, NULL);
	assert_answer(f, "api.default.svc.cluster.local", 0, "10.96.0.21");
	/* The old name went with its Service: dnsmasq forgot it. */
	assert_answer(f, "web.default.svc.cluster.local", 3, "");

	/* An unchanged rendering writes nothing (the file stays the same). */
	hosts = xasprintf("%s/hosts", f->dir);
	assert_int_equal(stat(hosts, &before), 0);
	clusterdns_update(f->d, svcs, json_object_get(svcs, "no-slices"));
	run_for(f, 200);
	assert_int_equal(stat(hosts, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	free(hosts);
	json_decref(svcs);
}

static void test_a_killed_dnsmasq_is_started_again(void **state)
{
	struct fixture *f = *state;
	json_t *svcs;
	uint64_t end;
	long pid, pid2 = 0;

	if (dnsmasq_missing())
		skip();
	svcs = json_pack("{s:o}", "default/web",
			 svc("default", "web", "10.96.0.20"));
	start(f, svcs, NULL);
	assert_answer(f, "web.default.svc.cluster.local", 0, "10.96.0.20");
	pid = read_pid(f);
	assert_true(pid > 1);
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	/* The file changes while it is down: the new one reads it. */
	json_decref(svcs);
	svcs = json_pack("{s:o}", "default/web",
			 svc("default", "web", "10.96.0.30"));
	clusterdns_update(f->d, svcs, NULL);
	assert_answer(f, "web.default.svc.cluster.local", 0, "10.96.0.30");
	end = now_ms() + 10000;
	while (now_ms() < end && ((pid2 = read_pid(f)) == pid || pid2 <= 1))
		run_for(f, 20);
	assert_true(pid2 > 1);
	assert_int_not_equal(pid2, pid);
	json_decref(svcs);
}

static void test_free_stops_dnsmasq_and_removes_its_pid_file(void **state)
{
	struct fixture *f = *state;
	char *pidfile;
	long pid;

	if (dnsmasq_missing())
		skip();
	start(f, NULL, NULL);
	assert_answer(f, "web.default.svc.cluster.local", 3, "");
	pid = read_pid(f);
	assert_true(pid > 1);
	clusterdns_free(f->d);
	f->d = NULL;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	/* Our child, reaped by the loop: the pid is gone. */
	assert_int_equal(kill((pid_t)pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	pidfile = xasprintf("%s/dnsmasq.pid", f->dir);
	assert_int_equal(access(pidfile, F_OK), -1);
	free(pidfile);
}

static void test_dnsmasq_reads_a_file_in_a_folder_closed_to_others(void **state)
{
	struct fixture *f = *state;
	json_t *svcs;

	if (dnsmasq_missing())
		skip();
	/* Run by root, dnsmasq keeps root here, or it could read nothing. */
	assert_int_equal(chmod(f->tmp, 0700), 0);
	svcs = json_pack("{s:o}", "default/web",
			 svc("default", "web", "10.96.0.20"));
	start(f, svcs, NULL);
	assert_answer(f, "web.default.svc.cluster.local", 0, "10.96.0.20");
	json_decref(svcs);
}

static void test_a_dnsmasq_left_by_an_earlier_run_is_stopped(void **state)
{
	struct fixture *f = *state;
	char *hosts = xasprintf("--addn-hosts=%s/hosts", f->dir);
	char *pidf = xasprintf("--pid-file=%s/dnsmasq.pid", f->dir);
	char *listen = xasprintf("--listen-address=%s", f->addr);
	char *port = xasprintf("--port=%d", f->port);
	char *path = xasprintf("%s/hosts", f->dir);
	json_t *svcs;
	uint64_t end;
	pid_t old, gone = 0;
	FILE *fp;

	if (dnsmasq_missing())
		skip();
	/* What a proxy killed with SIGKILL leaves: its dnsmasq, still up. */
	assert_int_equal(mkdir(f->dir, 0755), 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("10.96.0.99 web.default.svc.cluster.local\n", fp);
	fclose(fp);
	chmod(path, 0644);
	old = fork();
	assert_true(old >= 0);
	if (!old) {
		execl(dnsmasq_path(), "dnsmasq", "--keep-in-foreground",
		      "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		      hosts, listen, "--bind-interfaces", port,
		      "--local=/cluster.local/", "--log-facility=/dev/null",
		      pidf, (char *)NULL);
		_exit(127);
	}
	assert_answer(f, "web.default.svc.cluster.local", 0, "10.96.0.99");

	svcs = json_pack("{s:o}", "default/web",
			 svc("default", "web", "10.96.0.20"));
	start(f, svcs, NULL);
	end = now_ms() + 10000;
	while (!gone && now_ms() < end) {
		run_for(f, 20);
		gone = waitpid(old, NULL, WNOHANG);
	}
	assert_int_equal(gone, old);
	/* Ours binds once the old one has let the port go. */
	assert_answer(f, "web.default.svc.cluster.local", 0, "10.96.0.20");
	json_decref(svcs);
	free(hosts);
	free(pidf);
	free(listen);
	free(port);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_gives_a_service_its_cluster_ip),
		cmocka_unit_test(
			test_render_gives_a_headless_service_its_ready_endpoints),
		cmocka_unit_test(
			test_render_with_publish_not_ready_addresses_gives_every_endpoint),
		cmocka_unit_test(
			test_render_names_endpoints_with_a_hostname_unless_gone),
		cmocka_unit_test(
			test_render_sorts_by_name_then_address_without_duplicates),
		cmocka_unit_test(test_render_of_no_services_is_empty),
		cmocka_unit_test(
			test_render_skips_external_names_ipv6_and_what_is_not_a_dns_name),
		cmocka_unit_test(test_new_rejects_bad_options),
		cmocka_unit_test_setup_teardown(
			test_dnsmasq_answers_cluster_names_and_refuses_the_rest,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_an_update_changes_the_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_killed_dnsmasq_is_started_again, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_free_stops_dnsmasq_and_removes_its_pid_file, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_dnsmasq_reads_a_file_in_a_folder_closed_to_others,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_dnsmasq_left_by_an_earlier_run_is_stopped, setup,
			teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	sm_log_setup(SM_LOG_DEBUG, SM_LOG_TEXT, NULL, NULL);
	srand((unsigned)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
