/*
 * clusterdns.c: the cluster DNS, a dnsmasq fed by a hosts file. See
 * clusterdns.h for the records, the guarantees and the ownership rules, and
 * nodeagent/README.md for what dnsmasq 2.90 was found to do.
 *
 * One timer serves every deadline (the debounced write, the restart after
 * an exit, the fallback for "dnsmasq is ready", the SIGKILL after a stop):
 * each is a loop time in ms, 0 for none, and the timer is set for the
 * earliest. Each dnsmasq is a struct child of its own (process handle and
 * stderr pipe), freed from its last close callback, so a new one can start
 * while the old one's handles are still closing. The object itself goes
 * when refs (the owner, the timer, each child) reaches 0.
 *
 * SIGHUP is sent only once dnsmasq is ready: until dnsmasq has installed
 * its handlers, SIGHUP's default action ends it (a SIGHUP sent at once after
 * the spawn does). Ready is its "started" line on stderr (the locale is C so
 * the line is not translated), or 1 s after the spawn if that never comes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "nodeagent/clusterdns.h"

#include "common/banned.h"

#define LOG "clusterdns"
#define LABEL_SERVICE_NAME "kubernetes.io/service-name"

#define DEBOUNCE_MS 50u
#define WRITE_RETRY_MS 1000u
#define BACKOFF_MIN_MS 500u
#define BACKOFF_MAX_MS 10000u
/* A dnsmasq that ran this long restarts after the shortest backoff. */
#define BACKOFF_RESET_MS 10000u
#define READY_FALLBACK_MS 1000u
#define KILL_AFTER_MS 5000u
/* One stderr line kept (longer lines are cut). */
#define LINE_MAX_LEN 512
/* A DNS name is at most 253 characters. */
#define NAME_MAX_LEN 253

/* Records. */

struct rec {
	uint32_t ip; /* host order, for sorting */
	char *name;
};

struct recs {
	struct rec *v;
	size_t nr, alloc;
};

/* A DNS-1123 label as Kubernetes names are: [a-z0-9]([-a-z0-9]*[a-z0-9])? */
static bool is_label(const char *s, size_t len)
{
	if (!len || len > 63)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (c == '-' && i && i + 1 < len)
			continue;
		return false;
	}
	return true;
}

/* A domain of DNS-1123 labels ("cluster.local"); letters of any case. */
static bool is_domain(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	char *low SM_AUTOFREE = NULL;
	const char *p;

	if (!n || n > 200)
		return false;
	low = xstrdup(s);
	for (char *q = low; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	p = low;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (!is_label(p, len))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
}

static bool is_name(const char *s)
{
	return s && is_label(s, strlen(s));
}

/* Adds "name -> ip" when ip is IPv4 and the name fits. */
static void recs_add(struct recs *r, const char *ip, const char *domain,
		     const char *host, const char *svc, const char *ns)
{
	struct in_addr a;
	char *name;

	if (!ip || inet_pton(AF_INET, ip, &a) != 1)
		return;
	if (host)
		name = xasprintf("%s.%s.%s.svc.%s", host, svc, ns, domain);
	else
		name = xasprintf("%s.%s.svc.%s", svc, ns, domain);
	if (strlen(name) > NAME_MAX_LEN) {
		free(name);
		return;
	}
	SM_ALLOC_GROW(r->v, r->nr + 1, r->alloc);
	r->v[r->nr].ip = ntohl(a.s_addr);
	r->v[r->nr].name = name;
	r->nr++;
}

static int cmp_rec(const void *pa, const void *pb)
{
	const struct rec *a = pa, *b = pb;
	int d = strcmp(a->name, b->name);

	if (d)
		return d;
	return a->ip < b->ip ? -1 : a->ip > b->ip;
}

static const char *meta_str(const json_t *obj, const char *key)
{
	return sm_json_get_str(json_object_get(obj, "metadata"), key);
}

static const char *spec_str(const json_t *obj, const char *key)
{
	return sm_json_get_str(json_object_get(obj, "spec"), key);
}

static bool is_external_name(const json_t *svc)
{
	const char *t = spec_str(svc, "type");

	return t && !strcmp(t, "ExternalName");
}

static void add_service(struct recs *r, const json_t *svc, const char *domain)
{
	const char *ns = meta_str(svc, "namespace");
	const char *name = meta_str(svc, "name");
	const char *ip = spec_str(svc, "clusterIP");

	if (!is_name(ns) || !is_name(name) || is_external_name(svc) || !ip ||
	    !strcmp(ip, "None"))
		return;
	recs_add(r, ip, domain, NULL, name, ns);
}

/* conditions.X of a slice endpoint; absent means dflt (ready: true). */
static bool condition(const json_t *ep, const char *key, bool dflt)
{
	json_t *v = json_object_get(json_object_get(ep, "conditions"), key);

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static void add_slice(struct recs *r, const json_t *services, const json_t *es,
		      const char *domain)
{
	const char *ns = meta_str(es, "namespace");
	const char *svc_name = sm_json_get_str(
		sm_json_get_path(es, "metadata.labels"), LABEL_SERVICE_NAME);
	const char *type = sm_json_get_str(es, "addressType");
	const char *cip;
	const json_t *svc;
	bool headless, pnr;
	char key[600];
	size_t i, j;
	json_t *ep, *a;

	if (!is_name(ns) || !is_name(svc_name) ||
	    (type && strcmp(type, "IPv4")))
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, svc_name);
	svc = json_object_get(services, key);
	if (!svc || is_external_name(svc))
		return;
	cip = spec_str(svc, "clusterIP");
	headless = cip && !strcmp(cip, "None");
	pnr = json_is_true(
		sm_json_get_path(svc, "spec.publishNotReadyAddresses"));
	json_array_foreach (json_object_get(es, "endpoints"), i, ep) {
		const char *host = sm_json_get_str(ep, "hostname");
		bool ready = condition(ep, "ready", true) || pnr;
		bool terminating = condition(ep, "terminating", false);

		if (host && !is_name(host))
			host = NULL;
		json_array_foreach (json_object_get(ep, "addresses"), j, a) {
			const char *ip = json_string_value(a);

			if (headless && ready)
				recs_add(r, ip, domain, NULL, svc_name, ns);
			if (host && (ready || !terminating))
				recs_add(r, ip, domain, host, svc_name, ns);
		}
	}
}

char *clusterdns_render(const json_t *services, const json_t *slices,
			const char *domain)
{
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct recs r = { 0 };
	const char *key;
	json_t *v;

	if (!domain || !*domain)
		domain = "cluster.local";
	json_object_foreach ((json_t *)services, key, v)
		add_service(&r, v, domain);
	json_object_foreach ((json_t *)slices, key, v)
		add_slice(&r, services, v, domain);
	if (r.nr)
		qsort(r.v, r.nr, sizeof(*r.v), cmp_rec);
	for (size_t i = 0; i < r.nr; i++) {
		struct in_addr a = { htonl(r.v[i].ip) };
		char ip[INET_ADDRSTRLEN];

		if (!i || cmp_rec(&r.v[i - 1], &r.v[i])) {
			inet_ntop(AF_INET, &a, ip, sizeof(ip));
			sm_buf_addf(&out, "%s %s\n", ip, r.v[i].name);
		}
	}
	for (size_t i = 0; i < r.nr; i++)
		free(r.v[i].name);
	free(r.v);
	if (!out.buf)
		return xstrdup("");
	return sm_buf_detach(&out, NULL);
}

/* The running part. */

struct child {
	struct clusterdns *d;
	uv_process_t proc;
	uv_pipe_t err; /* its stderr */
	int handles; /* open handles; freed at 0 */
	bool exited;
	bool ready; /* it can take SIGHUP */
	uint64_t spawned_at;
	size_t len;
	char line[LINE_MAX_LEN]; /* the line being read */
	char last[LINE_MAX_LEN]; /* the last complete line */
	char buf[4096]; /* libuv reads into it */
};

struct clusterdns {
	uv_loop_t *loop;
	char *dir, *hosts_path, *tmp_path, *pid_path;
	char *listen_ip, *domain, *program;
	int port;
	bool as_root; /* --user=root: nobody could not read the file */

	uv_timer_t timer;
	uint64_t flush_at, restart_at, ready_at, kill_at; /* loop ms, 0 none */

	struct child *child; /* the running dnsmasq, or NULL */
	uint64_t backoff_ms;
	bool hup_pending; /* the file changed before dnsmasq was ready */

	char *want; /* the rendering to write, or NULL */
	char *written; /* what the file holds, or NULL before start */
	bool write_failed; /* the last write failed (logged once) */

	bool started, stopping;
	int refs;
};

static void tick(uv_timer_t *t);

static void unref(struct clusterdns *d)
{
	if (--d->refs > 0)
		return;
	free(d->dir);
	free(d->hosts_path);
	free(d->tmp_path);
	free(d->pid_path);
	free(d->listen_ip);
	free(d->domain);
	free(d->program);
	free(d->want);
	free(d->written);
	free(d);
}

static void timer_closed(uv_handle_t *h)
{
	unref(h->data);
}

/* Sets the timer for the earliest deadline (none: stopped). */
static void arm(struct clusterdns *d)
{
	uint64_t at[] = { d->flush_at, d->restart_at, d->ready_at, d->kill_at };
	uint64_t first = 0, now = uv_now(d->loop);

	if (uv_is_closing((uv_handle_t *)&d->timer))
		return;
	for (size_t i = 0; i < SM_ARRAY_SIZE(at); i++)
		if (at[i] && (!first || at[i] < first))
			first = at[i];
	if (!first)
		uv_timer_stop(&d->timer);
	else
		uv_timer_start(&d->timer, tick, first > now ? first - now : 0,
			       0);
}

/* path written whole: d->tmp_path, mode 0644 whatever the umask, renamed. */
static int write_hosts(struct clusterdns *d, const char *text)
{
	size_t len = strlen(text);
	int fd, r = 0;

	fd = open(d->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0644))
		r = -errno;
	while (!r && len) {
		ssize_t n = write(fd, text, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		text += n;
		len -= (size_t)n;
	}
	if (close(fd) && !r)
		r = -errno;
	if (!r && rename(d->tmp_path, d->hosts_path))
		r = -errno;
	if (r)
		unlink(d->tmp_path);
	return r;
}

/*
 * Whether a process of another user can reach dir: every folder from / down
 * to it must be searchable by others. dnsmasq run by root reads the hosts
 * file as nobody, after it has dropped root.
 */
static bool reachable_by_others(const char *dir)
{
	char *real SM_AUTOFREE = realpath(dir, NULL);
	struct stat st;

	if (!real)
		return false;
	for (char *p = real + 1;; p++) {
		bool end = !*p;

		if (*p != '/' && !end)
			continue;
		*p = '\0';
		if (stat(*real ? real : "/", &st) || !(st.st_mode & S_IXOTH))
			return false;
		if (end)
			return true;
		*p = '/';
	}
}

static void hup(struct clusterdns *d)
{
	struct child *c = d->child;

	if (!c || c->exited)
		return;
	if (!c->ready) {
		d->hup_pending = true;
		return;
	}
	d->hup_pending = false;
	if (uv_process_kill(&c->proc, SIGHUP))
		sm_log(SM_LOG_WARN, LOG, "cannot signal dnsmasq (pid %d)",
		       c->proc.pid);
}

/* Writes d->want when it differs from the file; SIGHUP when it did. */
static void flush(struct clusterdns *d)
{
	int r;

	d->flush_at = 0;
	if (!d->want)
		return;
	if (d->written && !strcmp(d->want, d->written)) {
		free(d->want);
		d->want = NULL;
		return;
	}
	r = write_hosts(d, d->want);
	if (r) {
		if (!d->write_failed)
			sm_log(SM_LOG_WARN, LOG,
			       "cannot write \"%s\": %s; trying again every "
			       "second",
			       d->hosts_path, strerror(-r));
		d->write_failed = true;
		d->flush_at = uv_now(d->loop) + WRITE_RETRY_MS;
		return;
	}
	if (d->write_failed)
		sm_log(SM_LOG_INFO, LOG, "\"%s\" written again", d->hosts_path);
	d->write_failed = false;
	free(d->written);
	d->written = d->want;
	d->want = NULL;
	hup(d);
}

static void child_unref(uv_handle_t *h)
{
	struct child *c = h->data;
	struct clusterdns *d = c->d;

	if (--c->handles > 0)
		return;
	free(c);
	unref(d);
}

static void on_line(struct child *c, const char *line)
{
	struct clusterdns *d = c->d;
	bool bad = strstr(line, "failed") || !strncmp(line, "dnsmasq: ", 9);

	if (!*line)
		return;
	snprintf(c->last, sizeof(c->last), "%s", line);
	sm_log(bad ? SM_LOG_WARN : SM_LOG_DEBUG, LOG, "%s", line);
	if (!c->ready && strstr(line, "started, version")) {
		c->ready = true;
		if (d->child == c) {
			d->ready_at = 0;
			if (d->hup_pending)
				hup(d);
			arm(d);
		}
	}
}

static void feed(struct child *c, const char *data, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (data[i] == '\n') {
			c->line[c->len] = '\0';
			on_line(c, c->line);
			c->len = 0;
		} else if (c->len + 1 < sizeof(c->line)) {
			c->line[c->len++] = data[i];
		}
	}
}

static void err_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct child *c = h->data;

	(void)hint;
	b->base = c->buf;
	b->len = sizeof(c->buf);
}

static void err_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct child *c = s->data;

	if (n > 0) {
		feed(c, b->base, (size_t)n);
		return;
	}
	if (n < 0 && !uv_is_closing((uv_handle_t *)s)) {
		if (c->len) {
			c->line[c->len] = '\0';
			on_line(c, c->line);
			c->len = 0;
		}
		uv_close((uv_handle_t *)s, child_unref);
	}
}

/* Reads what is left on the stderr pipe now (the process has exited). */
static void drain(struct child *c)
{
	uv_os_fd_t fd;
	char buf[4096];
	ssize_t n;

	if (uv_is_closing((uv_handle_t *)&c->err) ||
	    uv_fileno((uv_handle_t *)&c->err, &fd))
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		feed(c, buf, (size_t)n);
	if (c->len) {
		c->line[c->len] = '\0';
		on_line(c, c->line);
		c->len = 0;
	}
}

static void child_exited(uv_process_t *proc, int64_t status, int sig)
{
	struct child *c = proc->data;
	struct clusterdns *d = c->d;
	uint64_t now = uv_now(d->loop);

	c->exited = true;
	drain(c);
	uv_close((uv_handle_t *)proc, child_unref);
	if (!uv_is_closing((uv_handle_t *)&c->err))
		uv_close((uv_handle_t *)&c->err, child_unref);
	if (d->child != c)
		return;
	d->child = NULL;
	d->ready_at = 0;
	d->hup_pending = false;
	if (d->stopping) {
		d->kill_at = 0;
		unlink(d->pid_path);
		if (!uv_is_closing((uv_handle_t *)&d->timer))
			uv_close((uv_handle_t *)&d->timer, timer_closed);
		return;
	}
	if (now - c->spawned_at >= BACKOFF_RESET_MS)
		d->backoff_ms = BACKOFF_MIN_MS;
	if (sig)
		sm_log(SM_LOG_WARN, LOG,
		       "dnsmasq (pid %d) ended by signal %d (\"%s\"); starting "
		       "it again in %.1f s",
		       proc->pid, sig, c->last, (double)d->backoff_ms / 1000);
	else
		sm_log(SM_LOG_WARN, LOG,
		       "dnsmasq (pid %d) exited with status %lld (\"%s\"); "
		       "starting it again in %.1f s",
		       proc->pid, (long long)status, c->last,
		       (double)d->backoff_ms / 1000);
	d->restart_at = now + d->backoff_ms;
	d->backoff_ms *= 2;
	if (d->backoff_ms > BACKOFF_MAX_MS)
		d->backoff_ms = BACKOFF_MAX_MS;
	arm(d);
}

static int spawn(struct clusterdns *d, struct sm_err *err)
{
	char *hosts SM_AUTOFREE = xasprintf("--addn-hosts=%s", d->hosts_path);
	char *listen SM_AUTOFREE =
		xasprintf("--listen-address=%s", d->listen_ip);
	char *port SM_AUTOFREE = xasprintf("--port=%d", d->port);
	char *local SM_AUTOFREE = xasprintf("--local=/%s/", d->domain);
	char *pid SM_AUTOFREE = xasprintf("--pid-file=%s", d->pid_path);
	/* The C locale: dnsmasq's "started" line must not be translated. */
	static char env_locale[] = "LC_ALL=C";
	static char env_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	char *env[] = { env_locale, env_path, NULL };
	const char *args[20];
	size_t n = 0;
	uv_process_options_t po = { 0 };
	uv_stdio_container_t stdio[3];
	struct child *c = xcalloc(1, sizeof(*c));
	int r;

	args[n++] = d->program;
	args[n++] = "--keep-in-foreground";
	args[n++] = "--conf-file=/dev/null";
	args[n++] = "--no-resolv";
	args[n++] = "--no-hosts";
	args[n++] = hosts;
	args[n++] = listen;
	args[n++] = "--bind-interfaces";
	args[n++] = port;
	args[n++] = local;
	args[n++] = "--log-facility=-";
	args[n++] = pid;
	if (d->as_root)
		args[n++] = "--user=root";
	args[n] = NULL;

	c->d = d;
	c->proc.data = c;
	c->err.data = c;
	uv_pipe_init(d->loop, &c->err, 0);
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_IGNORE;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&c->err;
	po.file = d->program;
	po.args = (char **)args;
	po.env = env;
	po.stdio = stdio;
	po.stdio_count = 3;
	po.exit_cb = child_exited;
	d->refs++;
	c->handles = 2;
	r = uv_spawn(d->loop, &c->proc, &po);
	if (r) {
		/* uv_spawn leaves both handles initialized: close them. */
		c->exited = true;
		uv_close((uv_handle_t *)&c->proc, child_unref);
		uv_close((uv_handle_t *)&c->err, child_unref);
		sm_error(err, NULL, "cannot run \"%s\": %s", d->program,
			 uv_strerror(r));
		return r;
	}
	c->spawned_at = uv_now(d->loop);
	r = uv_read_start((uv_stream_t *)&c->err, err_alloc, err_read);
	if (r)
		uv_close((uv_handle_t *)&c->err, child_unref);
	d->child = c;
	d->ready_at = c->spawned_at + READY_FALLBACK_MS;
	/* A file written before now is read by this dnsmasq at its start. */
	d->hup_pending = false;
	sm_log(SM_LOG_INFO, LOG, "dnsmasq (pid %d) serving %s:%d for %s%s",
	       c->proc.pid, d->listen_ip, d->port, d->domain,
	       d->as_root ? " (as root)" : "");
	arm(d);
	return 0;
}

static void restart(struct clusterdns *d)
{
	struct sm_err err = SM_ERR_INIT;

	d->restart_at = 0;
	if (d->child || d->stopping)
		return;
	if (spawn(d, &err) < 0) {
		sm_log(SM_LOG_WARN, LOG, "%s; trying again in %.1f s",
		       err.nr ? err.items[0].msg : "cannot run dnsmasq",
		       (double)d->backoff_ms / 1000);
		d->restart_at = uv_now(d->loop) + d->backoff_ms;
		d->backoff_ms *= 2;
		if (d->backoff_ms > BACKOFF_MAX_MS)
			d->backoff_ms = BACKOFF_MAX_MS;
	}
	sm_err_release(&err);
}

static void tick(uv_timer_t *t)
{
	struct clusterdns *d = t->data;
	uint64_t now = uv_now(d->loop);

	if (d->kill_at && now >= d->kill_at) {
		d->kill_at = 0;
		if (d->child && !d->child->exited) {
			sm_log(SM_LOG_WARN, LOG,
			       "dnsmasq (pid %d) still runs %u s after "
			       "SIGTERM: SIGKILL",
			       d->child->proc.pid, KILL_AFTER_MS / 1000);
			uv_process_kill(&d->child->proc, SIGKILL);
		}
	}
	if (d->stopping) {
		arm(d);
		return;
	}
	if (d->ready_at && now >= d->ready_at) {
		d->ready_at = 0;
		if (d->child && !d->child->ready) {
			d->child->ready = true;
			if (d->hup_pending)
				hup(d);
		}
	}
	if (d->flush_at && now >= d->flush_at)
		flush(d);
	if (d->restart_at && now >= d->restart_at)
		restart(d);
	arm(d);
}

/* Resolves a program name without '/' on PATH, then /usr/sbin and /sbin. */
static char *find_program(const char *name)
{
	const char *path = getenv("PATH");
	struct sm_buf dirs = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char *found = NULL;
	const char *p;

	if (strchr(name, '/'))
		return access(name, X_OK) ? NULL : xstrdup(name);
	sm_buf_addf(&dirs, "%s:/usr/sbin:/sbin", path ? path : "");
	p = sm_buf_cstr(&dirs);
	while (!found) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);

		if (len) {
			char *cand = xasprintf("%.*s/%s", (int)len, p, name);

			if (!access(cand, X_OK))
				found = cand;
			else
				free(cand);
		}
		if (!colon)
			break;
		p = colon + 1;
	}
	sm_buf_release(&dirs);
	return found;
}

/* Ends a dnsmasq an earlier run left (we were killed): its pid file names a
 * live dnsmasq whose command line reads our hosts file. */
static void stop_leftover(struct clusterdns *d)
{
	struct sm_buf b = SM_BUF_INIT(1 << 16);
	char *want SM_AUTOFREE = xasprintf("--addn-hosts=%s", d->hosts_path);
	char *cmdline SM_AUTOFREE = NULL;
	char *end;
	long pid;

	if (sm_buf_read_file(&b, d->pid_path))
		goto out;
	pid = strtol(sm_buf_cstr(&b), &end, 10);
	if (end == sm_buf_cstr(&b) || pid <= 1 || pid > INT_MAX)
		goto out;
	cmdline = xasprintf("/proc/%ld/cmdline", pid);
	sm_buf_reset(&b);
	if (sm_buf_read_file(&b, cmdline))
		goto out;
	/* cmdline is NUL-separated: look at each argument. */
	for (size_t i = 0; i < b.len; i += strlen(b.buf + i) + 1) {
		if (strcmp(b.buf + i, want))
			continue;
		sm_log(SM_LOG_INFO, LOG,
		       "stopping dnsmasq (pid %ld) left from an earlier run",
		       pid);
		kill((pid_t)pid, SIGTERM);
		break;
	}
out:
	sm_buf_release(&b);
}

struct clusterdns *clusterdns_new(uv_loop_t *loop,
				  const struct clusterdns_opts *o,
				  struct sm_err *err)
{
	struct clusterdns *d;
	struct in_addr a;

	if (!o->dir || !*o->dir) {
		sm_error(err, NULL, "cluster DNS: no folder for its files");
		return NULL;
	}
	if (!o->listen_ip || inet_pton(AF_INET, o->listen_ip, &a) != 1) {
		sm_error(err, NULL,
			 "cluster DNS: address \"%s\": expected an IPv4 "
			 "address",
			 o->listen_ip ? o->listen_ip : "");
		return NULL;
	}
	if (o->port < 1 || o->port > 65535) {
		sm_error(err, NULL, "cluster DNS: port %d: expected 1 to 65535",
			 o->port);
		return NULL;
	}
	if (!is_domain(o->domain)) {
		sm_error(err, NULL,
			 "cluster DNS: domain \"%s\": expected a DNS name "
			 "such as cluster.local",
			 o->domain ? o->domain : "");
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->loop = loop;
	d->dir = xstrdup(o->dir);
	d->hosts_path = xasprintf("%s/hosts", o->dir);
	d->tmp_path = xasprintf("%s/hosts.tmp", o->dir);
	d->pid_path = xasprintf("%s/dnsmasq.pid", o->dir);
	d->listen_ip = xstrdup(o->listen_ip);
	d->domain = xstrdup(o->domain);
	d->program =
		xstrdup(o->dnsmasq && *o->dnsmasq ? o->dnsmasq : "dnsmasq");
	d->port = o->port;
	d->backoff_ms = BACKOFF_MIN_MS;
	d->refs = 2; /* the owner and the timer */
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	return d;
}

int clusterdns_start(struct clusterdns *d, struct sm_err *err)
{
	char *prog;
	int r;

	if (d->started || d->stopping)
		return -EBUSY;
	prog = find_program(d->program);
	if (!prog) {
		sm_error(err, NULL,
			 "cluster DNS: \"%s\" not found (PATH, /usr/sbin, "
			 "/sbin): install dnsmasq-base (ci/setup does)",
			 d->program);
		return -ENOENT;
	}
	free(d->program);
	d->program = prog;
	r = sm_mkdir_p(d->dir, 0755);
	if (r) {
		sm_error(err, NULL, "cluster DNS: folder \"%s\": %s", d->dir,
			 strerror(-r));
		return r;
	}
	r = write_hosts(d, d->want ? d->want : "");
	if (r) {
		sm_error(err, NULL, "cluster DNS: cannot write \"%s\": %s",
			 d->hosts_path, strerror(-r));
		return r;
	}
	free(d->written);
	d->written = d->want ? d->want : xstrdup("");
	d->want = NULL;
	d->flush_at = 0;
	d->as_root = geteuid() == 0 && !reachable_by_others(d->dir);
	if (d->as_root)
		sm_log(SM_LOG_WARN, LOG,
		       "\"%s\" is not reachable by other users: dnsmasq would "
		       "drop to nobody and read no names, so it keeps root",
		       d->dir);
	stop_leftover(d);
	r = spawn(d, err);
	if (r)
		return r;
	d->started = true;
	return 0;
}

void clusterdns_update(struct clusterdns *d, const json_t *services,
		       const json_t *slices)
{
	char *text = clusterdns_render(services, slices, d->domain);

	if (d->stopping) {
		free(text);
		return;
	}
	free(d->want);
	d->want = NULL;
	if (d->written && !strcmp(text, d->written)) {
		free(text);
		return;
	}
	d->want = text;
	if (d->started && !d->flush_at) {
		d->flush_at = uv_now(d->loop) + DEBOUNCE_MS;
		arm(d);
	}
}

void clusterdns_free(struct clusterdns *d)
{
	if (!d || d->stopping)
		return;
	d->stopping = true;
	d->flush_at = d->restart_at = d->ready_at = 0;
	if (d->child && !d->child->exited) {
		uv_process_kill(&d->child->proc, SIGTERM);
		d->kill_at = uv_now(d->loop) + KILL_AFTER_MS;
		arm(d);
	} else {
		if (d->started)
			unlink(d->pid_path);
		uv_close((uv_handle_t *)&d->timer, timer_closed);
	}
	unref(d);
}
