/*
 * service.c: starts, watches and stops stuurman's own Podman service. See
 * service.h for the files it keeps in DATA and the rules it follows.
 *
 * Start and stop are small state machines on one timer: start polls the
 * socket with GET /_ping (a libuv pipe per attempt, never blocking) until
 * it answers or the deadline passes; stop sends SIGTERM and polls the
 * process until it is gone, with SIGKILL after the grace period. The
 * object is freed from the last close callback: refs counts the owner plus
 * every open handle (timer, process, ping pipe).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/xalloc.h"
#include "nodeagent/service.h"
#include "common/banned.h"

extern char **environ;

#define DEFAULT_READY_TIMEOUT_MS 30000u
#define DEFAULT_STOP_GRACE_MS 10000u
/* How often start pings and stop looks at the process. */
#define START_POLL_MS 100u
#define STOP_POLL_MS 50u
/* One ping may take this long before it is dropped and tried again. */
#define PING_TIMEOUT_MS 2000u
/* After SIGKILL, how long until we give up on the process. */
#define KILL_WAIT_MS 5000u

static const char ping_request[] = "GET /v4.0.0/libpod/_ping HTTP/1.0\r\n"
				   "Host: d\r\n\r\n";

enum op { OP_IDLE, OP_STARTING, OP_STOPPING };

struct ping;

struct podman_service {
	uv_loop_t *loop;
	char *data_dir, *socket, *log_path, *pid_path, *conf_path;
	char *storage_dir, *podman;
	unsigned ready_timeout_ms, stop_grace_ms;

	pid_t pid;
	bool reused;

	enum op op;
	podman_service_cb cb;
	void *cb_ctx;
	uint64_t deadline; /* loop time, ms */
	bool killed; /* stop: SIGKILL sent */

	uv_timer_t timer;
	uv_process_t proc;
	bool proc_open; /* proc is a spawned process whose handle is open */
	bool exited; /* the spawned process has exited */
	int64_t exit_status;
	int term_signal;

	struct ping *ping; /* in flight, or NULL */

	int refs;
	bool freeing;
	struct sm_err err; /* what the next callback reports */
};

struct ping {
	uv_pipe_t pipe;
	uv_connect_t conn;
	uv_write_t wr;
	struct podman_service *s;
	uint64_t started;
	size_t len;
	char buf[2048];
	char scratch[256];
};

static void unref(struct podman_service *s)
{
	if (--s->refs > 0)
		return;
	sm_err_release(&s->err);
	free(s->data_dir);
	free(s->socket);
	free(s->log_path);
	free(s->pid_path);
	free(s->conf_path);
	free(s->storage_dir);
	free(s->podman);
	free(s);
}

static void handle_closed(uv_handle_t *h)
{
	unref(h->data);
}

/* Files and directories. */

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Replaces path with data: a temporary file in the same folder, renamed. */
static int write_file_atomic(const char *path, const char *data, size_t len,
			     mode_t mode)
{
	char *tmp SM_AUTOFREE = xasprintf("%s.tmp.%ld", path, (long)getpid());
	int fd, r;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (close(fd) && !r)
		r = -errno;
	if (!r && rename(tmp, path))
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

char *podman_service_default_data_dir(struct sm_err *err)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");

	if (geteuid() == 0)
		return xstrdup("/var/lib/stuurman");
	if (xdg && xdg[0] == '/')
		return xasprintf("%s/stuurman", xdg);
	if (!home || home[0] != '/') {
		struct passwd *pw = getpwuid(geteuid());

		home = pw ? pw->pw_dir : NULL;
	}
	if (!home || home[0] != '/') {
		sm_error(err, NULL,
			 "no data directory: HOME is not set and user %ld has "
			 "no home: pass --data DIR",
			 (long)geteuid());
		return NULL;
	}
	return xasprintf("%s/.local/share/stuurman", home);
}

int podman_service__conf_text(struct sm_buf *out)
{
	static const char text[] =
		"# Podman settings for stuurman's own Podman service, written "
		"by stuurman\n"
		"# on every start (edits here are overwritten). The service "
		"finds this file\n"
		"# through CONTAINERS_CONF, so nothing under /etc changes.\n"
		"\n"
		"[containers]\n"
		"# Podman's default ulimits (1048576) are above this kind of "
		"machine's hard\n"
		"# limits, and runc may not raise them: every container would "
		"fail to start.\n"
		"default_ulimits = [\"nofile=1024:1024\", "
		"\"nproc=4096:4096\"]\n"
		"# A log file per container, which the node agent can read "
		"(journald needs\n"
		"# systemd).\n"
		"log_driver = \"k8s-file\"\n"
		"\n"
		"[engine]\n"
		"# crun fails here (cgroups in hybrid mode); runc works.\n"
		"runtime = \"runc\"\n"
		"# No systemd: cgroups through cgroupfs, events in a file.\n"
		"cgroup_manager = \"cgroupfs\"\n"
		"events_logger = \"file\"\n"
		"\n"
		"[network]\n"
		"network_backend = \"netavark\"\n";

	return sm_buf_add(out, text, sizeof(text) - 1);
}

int podman_service__read_pid(const char *path, pid_t *pid)
{
	char buf[32];
	char *end;
	ssize_t n;
	long v;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EINVAL;
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf || (*end && strcmp(end, "\n")) || v <= 1 ||
	    v > INT_MAX)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

int podman_service__write_pid(const char *path, pid_t pid)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);

	return write_file_atomic(path, buf, (size_t)n, 0600);
}

bool podman_service__cmdline_is_ours(const char *cmdline, size_t len,
				     const char *sock_path)
{
	const char *end = cmdline + len;
	const char *prev = NULL;
	bool podman = false, system_service = false, sock = false;
	int i = 0;

	for (const char *a = cmdline; a < end; a += strlen(a) + 1, i++) {
		if (!memchr(a, '\0', (size_t)(end - a)))
			break; /* an unterminated last argument */
		/*
		 * The program, or the script an interpreter runs (argv[1]):
		 * podman itself, or a wrapper named podman.
		 */
		if (i <= 1) {
			const char *base = strrchr(a, '/');

			if (!strcmp(base ? base + 1 : a, "podman"))
				podman = true;
		}
		if (prev && !strcmp(prev, "system") && !strcmp(a, "service"))
			system_service = true;
		if (!strncmp(a, "unix://", 7) && !strcmp(a + 7, sock_path))
			sock = true;
		prev = a;
	}
	return podman && system_service && sock;
}

bool podman_service__ping_ok(const char *answer, size_t len)
{
	const char *body;
	size_t head;

	if (len < 12 || memcmp(answer, "HTTP/1.", 7) ||
	    memcmp(answer + 8, " 200", 4))
		return false;
	body = memmem(answer, len, "\r\n\r\n", 4);
	if (!body)
		return false;
	head = (size_t)(body - answer) + 4;
	return len - head == 2 && !memcmp(answer + head, "OK", 2);
}

/* Whether pid is a live process (not a zombie) that is our service. */
static bool pid_is_ours(pid_t pid, const char *sock_path)
{
	char path[64], buf[4096], stat_buf[512];
	const char *state;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, stat_buf, sizeof(stat_buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	stat_buf[n] = '\0';
	/* "PID (COMM) STATE ...": COMM may hold spaces and parentheses. */
	state = strrchr(stat_buf, ')');
	if (!state || state[1] != ' ' || state[2] == 'Z' || state[2] == 'X')
		return false;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0)
		return false;
	return podman_service__cmdline_is_ours(buf, (size_t)n, sock_path);
}

/* The last non-empty line of the log, for messages; new memory or NULL. */
static char *log_last_line(const char *path)
{
	char buf[2048];
	ssize_t n;
	off_t size;
	char *end, *start;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	size = lseek(fd, 0, SEEK_END);
	if (size < 0 || lseek(fd,
			      size > (off_t)sizeof(buf) - 1
				      ? size - ((off_t)sizeof(buf) - 1)
				      : 0,
			      SEEK_SET) < 0) {
		close(fd);
		return NULL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	end = buf + n;
	while (end > buf &&
	       (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	*end = '\0';
	start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	return *start ? xstrdup(start) : NULL;
}

/* The object. */

struct podman_service *
podman_service_new(uv_loop_t *loop, const struct podman_service_opts *opts,
		   struct sm_err *err)
{
	struct podman_service *s;
	char *data_dir;
	size_t max_sock = sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1;
	int r;

	if (opts->data_dir) {
		if (!opts->data_dir[0]) {
			sm_error(err, NULL, "data directory: empty path");
			return NULL;
		}
		data_dir = xstrdup(opts->data_dir);
	} else {
		data_dir = podman_service_default_data_dir(err);
		if (!data_dir)
			return NULL;
	}
	/* Strip trailing slashes, so paths built from it read well. */
	for (size_t n = strlen(data_dir); n > 1 && data_dir[n - 1] == '/'; n--)
		data_dir[n - 1] = '\0';

	if (strlen(data_dir) + strlen("/podman.sock") > max_sock) {
		sm_error(err, NULL,
			 "socket path \"%s/podman.sock\" is %zu bytes, more "
			 "than "
			 "a unix socket address holds (%zu): pass a shorter "
			 "--data DIR",
			 data_dir, strlen(data_dir) + strlen("/podman.sock"),
			 max_sock);
		free(data_dir);
		return NULL;
	}
	r = sm_mkdir_p(data_dir, 0700);
	if (r) {
		sm_error(err, NULL,
			 "data directory \"%s\": cannot create it: %s: %s",
			 data_dir, strerror(-r),
			 r == -EACCES || r == -EPERM
				 ? "run as root or pass --data DIR"
				 : "pass another --data DIR");
		free(data_dir);
		return NULL;
	}
	if (access(data_dir, W_OK | X_OK)) {
		sm_error(err, NULL,
			 "data directory \"%s\": not writable: %s: fix its "
			 "permissions or pass another --data DIR",
			 data_dir, strerror(errno));
		free(data_dir);
		return NULL;
	}

	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->data_dir = data_dir;
	s->socket = xasprintf("%s/podman.sock", data_dir);
	s->log_path = xasprintf("%s/podman.log", data_dir);
	s->pid_path = xasprintf("%s/podman.pid", data_dir);
	s->conf_path = xasprintf("%s/containers.conf", data_dir);
	s->storage_dir = opts->storage_dir ? xstrdup(opts->storage_dir) : NULL;
	s->podman = xstrdup(opts->podman ? opts->podman : "podman");
	s->ready_timeout_ms = opts->ready_timeout_ms ? opts->ready_timeout_ms
						     : DEFAULT_READY_TIMEOUT_MS;
	s->stop_grace_ms = opts->stop_grace_ms ? opts->stop_grace_ms
					       : DEFAULT_STOP_GRACE_MS;
	s->refs = 1;
	sm_err_init(&s->err);

	r = uv_timer_init(loop, &s->timer);
	SM_BUG_ON(r != 0);
	s->timer.data = s;
	s->refs++;
	return s;
}

const char *podman_service_data_dir(const struct podman_service *s)
{
	return s->data_dir;
}

const char *podman_service_socket(const struct podman_service *s)
{
	return s->socket;
}

const char *podman_service_log_path(const struct podman_service *s)
{
	return s->log_path;
}

const char *podman_service_pid_path(const struct podman_service *s)
{
	return s->pid_path;
}

const char *podman_service_conf_path(const struct podman_service *s)
{
	return s->conf_path;
}

pid_t podman_service_pid(const struct podman_service *s)
{
	return s->pid;
}

bool podman_service_reused(const struct podman_service *s)
{
	return s->reused;
}

/* Ends the operation in progress and tells its caller. */
static void finish(struct podman_service *s, int status)
{
	podman_service_cb cb = s->cb;
	void *ctx = s->cb_ctx;

	s->op = OP_IDLE;
	s->cb = NULL;
	s->cb_ctx = NULL;
	uv_timer_stop(&s->timer);
	if (cb) {
		/* The callback may free s: keep it alive until we are done. */
		s->refs++;
		cb(s, status, &s->err, ctx);
		sm_err_release(&s->err);
		sm_err_init(&s->err);
		unref(s);
	}
}

/* Ping over a libuv pipe. */

static void ping_closed(uv_handle_t *h)
{
	struct ping *p = h->data;
	struct podman_service *s = p->s;

	free(p);
	unref(s);
}

static void ping_end(struct ping *p, bool ok)
{
	struct podman_service *s = p->s;

	if (uv_is_closing((uv_handle_t *)&p->pipe))
		return;
	if (s->ping == p)
		s->ping = NULL;
	uv_close((uv_handle_t *)&p->pipe, ping_closed);
	if (ok && s->op == OP_STARTING && !s->freeing)
		finish(s, 0);
}

static void ping_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ping *p = h->data;

	if (p->len < sizeof(p->buf))
		*buf = uv_buf_init(p->buf + p->len,
				   (unsigned)(sizeof(p->buf) - p->len));
	else /* over the limit: read and drop, the answer will not be OK */
		*buf = uv_buf_init(p->scratch, sizeof(p->scratch));
}

static void ping_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct ping *p = st->data;

	if (nread > 0) {
		if (buf->base == p->buf + p->len)
			p->len += (size_t)nread;
		else
			p->len = sizeof(p->buf) + 1; /* too long */
		return;
	}
	if (nread == UV_EOF)
		ping_end(p, p->len <= sizeof(p->buf) &&
				    podman_service__ping_ok(p->buf, p->len));
	else if (nread < 0)
		ping_end(p, false);
}

static void ping_written(uv_write_t *req, int status)
{
	struct ping *p = req->data;

	if (status < 0)
		ping_end(p, false);
}

static void ping_connected(uv_connect_t *req, int status)
{
	struct ping *p = req->data;
	uv_buf_t b =
		uv_buf_init((char *)ping_request, sizeof(ping_request) - 1);

	if (status < 0 || uv_is_closing((uv_handle_t *)&p->pipe)) {
		ping_end(p, false);
		return;
	}
	p->wr.data = p;
	if (uv_write(&p->wr, (uv_stream_t *)&p->pipe, &b, 1, ping_written) ||
	    uv_read_start((uv_stream_t *)&p->pipe, ping_alloc, ping_read))
		ping_end(p, false);
}

static void ping_start(struct podman_service *s)
{
	struct ping *p = xcalloc(1, sizeof(*p));
	int r = uv_pipe_init(s->loop, &p->pipe, 0);

	SM_BUG_ON(r != 0);
	p->pipe.data = p;
	p->conn.data = p;
	p->s = s;
	p->started = uv_now(s->loop);
	s->refs++;
	s->ping = p;
	uv_pipe_connect(&p->conn, &p->pipe, s->socket, ping_connected);
}

bool podman_service_ping_socket(const char *sock_path, unsigned timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[2048];
	size_t len = 0;
	struct timespec t0, t;
	int fd SM_AUTOCLOSE = -1;

	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return false;
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return false;
	if (write_all(fd, ping_request, sizeof(ping_request) - 1))
		return false;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long spent;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		spent = (t.tv_sec - t0.tv_sec) * 1000 +
			(t.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent >= (long)timeout_ms)
			return false;
		if (poll(&pfd, 1, (int)(timeout_ms - spent)) <= 0)
			continue;
		if (len == sizeof(buf))
			return false;
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		if (n == 0)
			return podman_service__ping_ok(buf, len);
		len += (size_t)n;
	}
}

/* Start. */

static void fail_start(struct podman_service *s, int status, const char *why)
{
	char *last SM_AUTOFREE = log_last_line(s->log_path);

	if (last)
		sm_error(&s->err, NULL,
			 "podman service for \"%s\": %s; its log \"%s\" ends "
			 "with: %s",
			 s->socket, why, s->log_path, last);
	else
		sm_error(&s->err, NULL,
			 "podman service for \"%s\": %s; see its log \"%s\"",
			 s->socket, why, s->log_path);
	finish(s, status);
}

static void start_tick(uv_timer_t *t)
{
	struct podman_service *s = t->data;
	uint64_t now = uv_now(s->loop);
	char why[256];

	if (s->op != OP_STARTING)
		return;
	if (s->exited ||
	    (!s->proc_open && s->pid && !pid_is_ours(s->pid, s->socket))) {
		if (s->exited && s->term_signal)
			snprintf(why, sizeof(why),
				 "it was killed by signal %d before it "
				 "answered",
				 s->term_signal);
		else if (s->exited)
			snprintf(why, sizeof(why),
				 "it exited with status %lld before it "
				 "answered",
				 (long long)s->exit_status);
		else
			snprintf(why, sizeof(why),
				 "it (pid %ld) exited before it answered",
				 (long)s->pid);
		if (s->pid)
			unlink(s->pid_path);
		s->pid = 0;
		fail_start(s, -ECHILD, why);
		return;
	}
	if (now >= s->deadline) {
		snprintf(why, sizeof(why),
			 "no answer to /_ping after %u ms; it is still running "
			 "(pid %ld): 'stuurman podman stop' ends it",
			 s->ready_timeout_ms, (long)s->pid);
		fail_start(s, -ETIMEDOUT, why);
		return;
	}
	if (s->ping && now - s->ping->started > PING_TIMEOUT_MS)
		ping_end(s->ping, false);
	if (!s->ping)
		ping_start(s);
}

static void stop_tick(uv_timer_t *t);

static void proc_exited(uv_process_t *proc, int64_t status, int sig)
{
	struct podman_service *s = proc->data;

	s->exited = true;
	s->exit_status = status;
	s->term_signal = sig;
	s->proc_open = false;
	uv_close((uv_handle_t *)proc, handle_closed);
	/* Let start or stop notice it on the next tick, without waiting. */
	if (s->op == OP_STARTING && !s->freeing)
		uv_timer_start(&s->timer, start_tick, 0, START_POLL_MS);
	else if (s->op == OP_STOPPING && !s->freeing)
		uv_timer_start(&s->timer, stop_tick, 0, STOP_POLL_MS);
}

/* The environment of the service: ours, with CONTAINERS_CONF replaced. */
static char **service_env(const char *conf_path)
{
	size_t n = 0, j = 0;
	char **env;

	while (environ[n])
		n++;
	env = xcalloc(n + 2, sizeof(*env));
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "CONTAINERS_CONF=", 16))
			env[j++] = environ[i];
	env[j++] = xasprintf("CONTAINERS_CONF=%s", conf_path);
	env[j] = NULL;
	return env;
}

static int spawn(struct podman_service *s, struct sm_err *err)
{
	char *root SM_AUTOFREE = NULL, *runroot SM_AUTOFREE = NULL;
	char *tmpdir SM_AUTOFREE = NULL;
	char *url SM_AUTOFREE = xasprintf("unix://%s", s->socket);
	const char *args[16];
	size_t n = 0;
	char **env;
	char head[128];
	uv_process_options_t po = { 0 };
	uv_stdio_container_t stdio[3];
	struct tm tm;
	time_t now = time(NULL);
	int fd SM_AUTOCLOSE = -1;
	int r;

	args[n++] = s->podman;
	if (s->storage_dir) {
		root = xasprintf("%s/root", s->storage_dir);
		runroot = xasprintf("%s/run", s->storage_dir);
		tmpdir = xasprintf("%s/tmp", s->storage_dir);
		r = sm_mkdir_p(s->storage_dir, 0700);
		if (r) {
			sm_error(err, NULL,
				 "storage directory \"%s\": cannot create it: "
				 "%s",
				 s->storage_dir, strerror(-r));
			return r;
		}
		args[n++] = "--root";
		args[n++] = root;
		args[n++] = "--runroot";
		args[n++] = runroot;
		args[n++] = "--tmpdir";
		args[n++] = tmpdir;
	}
	args[n++] = "system";
	args[n++] = "service";
	args[n++] = "--time=0";
	args[n++] = url;
	args[n] = NULL;

	fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		sm_error(err, NULL, "cannot open the log \"%s\": %s",
			 s->log_path, strerror(-r));
		return r;
	}
	gmtime_r(&now, &tm);
	strftime(
		head, sizeof(head),
		"stuurman: starting the podman service at %Y-%m-%dT%H:%M:%SZ\n",
		&tm);
	(void)write_all(fd, head, strlen(head));

	/* A stale socket file would make podman fail to listen. */
	unlink(s->socket);

	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = fd;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = fd;
	env = service_env(s->conf_path);
	po.file = s->podman;
	po.args = (char **)args;
	po.env = env;
	po.stdio = stdio;
	po.stdio_count = 3;
	po.exit_cb = proc_exited;
	/* Its own session: it outlives us and our terminal's signals. */
	po.flags = UV_PROCESS_DETACHED;
	s->exited = false;
	r = uv_spawn(s->loop, &s->proc, &po);
	for (size_t i = 0; env[i]; i++)
		if (!strncmp(env[i], "CONTAINERS_CONF=", 16))
			free(env[i]);
	free(env);
	if (r) {
		/* uv_spawn leaves an initialized handle to close. */
		s->proc.data = s;
		s->refs++;
		uv_close((uv_handle_t *)&s->proc, handle_closed);
		sm_error(err, NULL, "cannot run \"%s\": %s%s", s->podman,
			 uv_strerror(r),
			 r == UV_ENOENT ? ": install podman (ci/setup does)"
					: "");
		return r;
	}
	s->proc.data = s;
	s->proc_open = true;
	s->refs++;
	/* The loop need not wait for the service to exit. */
	uv_unref((uv_handle_t *)&s->proc);
	s->pid = s->proc.pid;
	r = podman_service__write_pid(s->pid_path, s->pid);
	if (r) {
		sm_error(err, NULL,
			 "cannot write \"%s\": %s; the service runs as pid %ld",
			 s->pid_path, strerror(-r), (long)s->pid);
		kill(s->pid, SIGTERM);
		return r;
	}
	return 0;
}

int podman_service_start(struct podman_service *s, podman_service_cb cb,
			 void *ctx, struct sm_err *err)
{
	struct sm_buf conf = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char *lock_path SM_AUTOFREE = xasprintf("%s/podman.lock", s->data_dir);
	int lock SM_AUTOCLOSE = -1;
	pid_t pid = 0;
	int r;

	if (s->op != OP_IDLE || s->freeing)
		return -EBUSY;
	/*
	 * Two starts for one DATA at once must not spawn two services: the
	 * lock is held from reading the PID file until the new one is
	 * written (milliseconds), and released when lock closes.
	 */
	lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0) {
		r = -errno;
		sm_error(err, NULL, "cannot open \"%s\": %s", lock_path,
			 strerror(-r));
		return r;
	}
	while (flock(lock, LOCK_EX) && errno == EINTR)
		;
	podman_service__conf_text(&conf);
	r = write_file_atomic(s->conf_path, sm_buf_cstr(&conf), conf.len, 0644);
	sm_buf_release(&conf);
	if (r) {
		sm_error(err, NULL,
			 "cannot write \"%s\": %s: check the data "
			 "directory's permissions or pass another --data DIR",
			 s->conf_path, strerror(-r));
		return r;
	}

	s->reused = false;
	s->pid = 0;
	r = podman_service__read_pid(s->pid_path, &pid);
	if (!r && pid_is_ours(pid, s->socket)) {
		/* Ours and alive: wait for it to answer, start nothing. */
		s->pid = pid;
		s->reused = true;
	} else {
		if (r != -ENOENT)
			unlink(s->pid_path); /* stale */
		/*
		 * A service someone started by hand on our socket: use it,
		 * but it is not ours to stop. The check blocks briefly
		 * only when the socket file exists.
		 */
		if (!access(s->socket, F_OK) &&
		    podman_service_ping_socket(s->socket, 1000)) {
			s->reused = true;
		} else {
			r = spawn(s, err);
			if (r)
				return r;
		}
	}
	s->op = OP_STARTING;
	s->cb = cb;
	s->cb_ctx = ctx;
	s->deadline = uv_now(s->loop) + s->ready_timeout_ms;
	uv_timer_start(&s->timer, start_tick, 0, START_POLL_MS);
	return 0;
}

/* Stop. */

static void stop_tick(uv_timer_t *t)
{
	struct podman_service *s = t->data;
	uint64_t now = uv_now(s->loop);
	bool gone = s->exited || !pid_is_ours(s->pid, s->socket);

	if (s->op != OP_STOPPING)
		return;
	if (gone) {
		pid_t pid = 0;

		/* Only our own PID file: another start may have replaced it. */
		if (!podman_service__read_pid(s->pid_path, &pid) &&
		    pid == s->pid)
			unlink(s->pid_path);
		/* After SIGKILL podman leaves its socket file behind. */
		if (s->killed)
			unlink(s->socket);
		finish(s, 0);
		return;
	}
	if (now < s->deadline)
		return;
	if (!s->killed) {
		kill(s->pid, SIGKILL);
		s->killed = true;
		s->deadline = now + KILL_WAIT_MS;
		return;
	}
	sm_error(&s->err, NULL,
		 "podman service pid %ld (\"%s\") did not exit after SIGKILL",
		 (long)s->pid, s->socket);
	finish(s, -ETIMEDOUT);
}

int podman_service_stop(struct podman_service *s, podman_service_cb cb,
			void *ctx, struct sm_err *err)
{
	pid_t pid = 0;
	int r;

	if (s->op != OP_IDLE || s->freeing)
		return -EBUSY;
	r = podman_service__read_pid(s->pid_path, &pid);
	if (r == -ENOENT)
		return -ESRCH;
	if (r || !pid_is_ours(pid, s->socket)) {
		unlink(s->pid_path);
		return -ESRCH;
	}
	if (kill(pid, SIGTERM)) {
		r = -errno;
		if (r == -ESRCH) {
			unlink(s->pid_path);
			return r;
		}
		sm_error(err, NULL,
			 "cannot signal the podman service (pid %ld): %s",
			 (long)pid, strerror(-r));
		return r;
	}
	s->pid = pid;
	s->killed = false;
	s->op = OP_STOPPING;
	s->cb = cb;
	s->cb_ctx = ctx;
	s->deadline = uv_now(s->loop) + s->stop_grace_ms;
	uv_timer_start(&s->timer, stop_tick, STOP_POLL_MS, STOP_POLL_MS);
	return 0;
}

int podman_service_status(struct podman_service *s, unsigned timeout_ms,
			  struct podman_service_status *st, struct sm_err *err)
{
	pid_t pid = 0;
	int r;

	memset(st, 0, sizeof(*st));
	r = podman_service__read_pid(s->pid_path, &pid);
	if (!r && pid_is_ours(pid, s->socket))
		st->pid = pid;
	else if (r != -ENOENT)
		st->stale_pid = true;
	s->pid = st->pid;
	st->answering = podman_service_ping_socket(s->socket, timeout_ms);
	return 0;
}

void podman_service_free(struct podman_service *s)
{
	if (!s)
		return;
	s->freeing = true;
	s->op = OP_IDLE;
	s->cb = NULL;
	uv_timer_stop(&s->timer);
	if (s->ping)
		ping_end(s->ping, false);
	uv_close((uv_handle_t *)&s->timer, handle_closed);
	if (s->proc_open) {
		s->proc_open = false;
		uv_close((uv_handle_t *)&s->proc, handle_closed);
	}
	unref(s);
}
