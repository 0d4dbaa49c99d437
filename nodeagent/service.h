/*
 * service.h: stuurman's own Podman service.
 *
 * stuurman talks to Podman through its REST API on a unix socket. When no
 * socket is given, it runs a service of its own, with the settings this
 * kind of machine needs (runc, explicit ulimits, file events: see
 * ../shared/ENVIRONMENT.md), all kept in one data directory DATA:
 *
 *   DATA/containers.conf   the Podman settings (CONTAINERS_CONF points here)
 *   DATA/podman.sock       the API socket
 *   DATA/podman.pid        the service's PID, written by whoever started it
 *   DATA/podman.log        the service's stdout and stderr
 *   DATA/podman.lock       held (flock) while a start decides and spawns
 *
 * The service is `podman system service --time=0 unix://DATA/podman.sock`,
 * spawned detached (its own session), so it outlives the process that
 * started it: `stuurman podman start` returns while it keeps running.
 *
 * Invariants:
 * - Only a service whose PID is in DATA/podman.pid, and whose command line
 *   is podman's service for DATA/podman.sock, is ever signalled. A PID file
 *   naming another process (or none) is stale and is replaced; a service
 *   that answers on the socket without a PID file is used, never stopped.
 * - podman_service_start() never starts a second service for one DATA: an
 *   alive service of ours is reused (waited for, if it does not answer
 *   yet).
 *
 * Threading and ownership: a struct podman_service belongs to one libuv
 * loop (borrowed; it must outlive the service object) and is used from that
 * loop's thread only. Strings in the options are copied. Callbacks get the
 * service and a sink that is borrowed for the duration of the callback.
 */
#ifndef SM_NODEAGENT_SERVICE_H
#define SM_NODEAGENT_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#include "common/compat.h"
#include "common/err.h"

struct sm_buf;
struct podman_service;

struct podman_service_opts {
	/* The data directory; NULL for podman_service_default_data_dir(). */
	const char *data_dir;
	/*
	 * NULL: the machine's image and container storage (what `podman`
	 * run by hand sees). Otherwise a folder for a storage of its own
	 * (--root DIR/root, --runroot DIR/run, --tmpdir DIR/tmp), for tests
	 * that must start from an empty store.
	 */
	const char *storage_dir;
	/* The podman program; NULL for "podman" on PATH. */
	const char *podman;
	/* How long start waits for /_ping to answer; 0 for 30 s. */
	unsigned ready_timeout_ms;
	/* How long stop waits after SIGTERM before SIGKILL; 0 for 10 s. */
	unsigned stop_grace_ms;
};

#define PODMAN_SERVICE_OPTS_INIT       \
	{                              \
		NULL, NULL, NULL, 0, 0 \
	}

/*
 * The default data directory: /var/lib/stuurman for root, else
 * $XDG_DATA_HOME/stuurman or ~/.local/share/stuurman. Returns new memory
 * (free()), or NULL with a message in err when no home is known.
 */
char *podman_service_default_data_dir(struct sm_err *err) SM_MALLOC(free);

/*
 * A service object for opts (copied). Checks and creates the data
 * directory (mode 0700, parents as needed) and checks that the socket path
 * fits a unix socket address. Returns NULL with a message in err on
 * failure. Starts nothing.
 */
struct podman_service *
podman_service_new(uv_loop_t *loop, const struct podman_service_opts *opts,
		   struct sm_err *err);

/*
 * Releases the object: cancels a start or stop in progress (its callback is
 * not called), closes its handles and frees it from the last close
 * callback, so run the loop afterwards. It does not stop the service:
 * call podman_service_stop() for that.
 */
void podman_service_free(struct podman_service *s);

/* Paths, borrowed for the life of s. */
const char *podman_service_data_dir(const struct podman_service *s);
const char *podman_service_socket(const struct podman_service *s);
const char *podman_service_log_path(const struct podman_service *s);
const char *podman_service_pid_path(const struct podman_service *s);
const char *podman_service_conf_path(const struct podman_service *s);

/*
 * The PID of the service (after a successful start or status), or 0 when
 * none of ours is known. reused: start found one already running.
 */
pid_t podman_service_pid(const struct podman_service *s);
bool podman_service_reused(const struct podman_service *s);

/*
 * status 0: done (for start: the service answers /_ping). Otherwise a
 * negative errno with the reason in err (borrowed for the callback):
 * -ETIMEDOUT, -ECHILD (the service exited), -EIO, ...
 */
typedef void (*podman_service_cb)(struct podman_service *s, int status,
				  const struct sm_err *err, void *ctx);

/*
 * Writes DATA/containers.conf, then reuses a running service of ours or
 * spawns a new one (PID file written at once, output appended to the log),
 * and returns; cb runs once the socket answers /_ping, or on failure
 * (timeout, the service exited). Returns 0, or a negative errno with a
 * message in err when nothing could be started (cb is then not called),
 * or -EBUSY while another start or stop of s runs.
 */
int podman_service_start(struct podman_service *s, podman_service_cb cb,
			 void *ctx, struct sm_err *err);

/*
 * Stops the service named by DATA/podman.pid: SIGTERM, then SIGKILL after
 * the grace period; cb runs once it has exited, and the PID file is gone.
 * Returns -ESRCH (cb not called, nothing in err) when no service of ours
 * runs; a stale PID file is then removed.
 */
int podman_service_stop(struct podman_service *s, podman_service_cb cb,
			void *ctx, struct sm_err *err);

/*
 * What is known about the service now, without waiting: whether a service
 * of ours runs (PID file and process), and whether the socket answers
 * /_ping (a plain blocking exchange bounded by timeout_ms, for the CLI).
 */
struct podman_service_status {
	pid_t pid; /* ours and alive, or 0 */
	bool answering; /* the socket answered /_ping */
	bool stale_pid; /* a PID file names a process that is not ours */
};
int podman_service_status(struct podman_service *s, unsigned timeout_ms,
			  struct podman_service_status *st, struct sm_err *err);

/*
 * Whether the Podman API on a unix socket answers GET /_ping within
 * timeout_ms: a plain blocking exchange, for command-line tools (the loop
 * never calls it, except in start for a socket that exists and has no PID
 * file, bounded by 1 s).
 */
bool podman_service_ping_socket(const char *sock_path, unsigned timeout_ms);

/* Internals, exposed for the unit tests. */

/* The text of DATA/containers.conf. */
int podman_service__conf_text(struct sm_buf *out);

/*
 * Reads a PID file: 0 with *pid set, -ENOENT when there is none, -EINVAL
 * when it holds no valid PID.
 */
int podman_service__read_pid(const char *path, pid_t *pid);

/* Writes "PID\n" to path atomically (a temporary file, then rename). */
int podman_service__write_pid(const char *path, pid_t pid);

/*
 * Whether a command line (the NUL-separated bytes of /proc/PID/cmdline) is
 * podman's API service on unix://socket.
 */
bool podman_service__cmdline_is_ours(const char *cmdline, size_t len,
				     const char *sock_path);

/*
 * Whether an HTTP answer to GET /_ping says the service is up: a 200
 * status line and the body "OK".
 */
bool podman_service__ping_ok(const char *answer, size_t len);

#endif
