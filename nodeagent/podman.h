/*
 * podman.h: stuurman's client for Podman's libpod REST API (v4), over a
 * unix socket, driven by the process's libuv loop. It never blocks: every
 * call starts a request and returns; its callback runs later on the loop.
 *
 * Built on common/http_client.h (libcurl's multi-socket interface on
 * libuv). See ../shared/reference/podman-api.md for what Podman 4.3 really
 * answers; the functions below hide its quirks (304 as success for start and
 * stop, 500 for client errors, `wait` answering a bare number, logs as
 * 8-byte-framed streams).
 *
 * Errors: a failed call's reply has ok == false and `error` says what and
 * where, with Podman's `cause` when it gave one:
 *   POST /containers/web-1-main/start: 500: no such container (no container
 *   with name or ID "web-1-main" found: no such container)
 * Transport failures (socket missing, Podman down) have status 0 and
 * common/http_client's message, which names method, URL and socket:
 *   GET http://d/v4.0.0/libpod/_ping (unix socket /run/p.sock): ...
 * Only ping has a timeout (5 s); other calls wait as long as Podman does.
 *
 * Ownership: specs passed in are borrowed (copied into the request).
 * Replies are borrowed for the duration of the callback. A call that returns
 * an error (negative errno) never calls its callback.
 */
#ifndef SM_PODMAN_H
#define SM_PODMAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"

struct podman;
struct podman_stream;

struct podman_reply {
	bool ok; /* 2xx, or 304 where it means "already so" */
	int status; /* HTTP status; 0 when no answer came */
	json_t *json; /* parsed JSON body, or NULL; borrowed */
	const char *body; /* raw body (NUL-terminated); borrowed */
	size_t len;
	const char *cause; /* Podman's `cause` on errors, or NULL */
	const char *error; /* full message on failure, NULL on success */
};

typedef void (*podman_cb)(void *ctx, const struct podman_reply *r);

/*
 * Cancels every request and stream still open (their callbacks are not
 * called) and frees the client once its handles are closed on the loop.
 */
void podman_free(struct podman *p);

/*
 * A client for the service at socket_path (copied). The loop is borrowed
 * and must outlive the client. Never NULL.
 */
struct podman *podman_new(uv_loop_t *loop, const char *socket_path)
	SM_MALLOC(podman_free);

/* GET /libpod/_ping: ok when the service answers. */
int podman_ping(struct podman *p, podman_cb cb, void *ctx);

/* Pods. spec: a PodSpecGenerator object. Reply json: {"Id": ...}. */
int podman_pod_create(struct podman *p, const json_t *spec, podman_cb cb,
		      void *ctx);
/* Starts the pod (its infra container, when it has no others yet): the
 * pod's network, and so its IP, exists from then on. 304 is ok. */
int podman_pod_start(struct podman *p, const char *name, podman_cb cb,
		     void *ctx);
int podman_pod_inspect(struct podman *p, const char *name, podman_cb cb,
		       void *ctx);
/* filters: a JSON object of string arrays ({"label":["a=b"]}), or NULL. */
int podman_pod_list(struct podman *p, const json_t *filters, podman_cb cb,
		    void *ctx);
/* Kill (works on Degraded pods, unlike stop) and force-remove. */
int podman_pod_kill(struct podman *p, const char *name, const char *signal,
		    podman_cb cb, void *ctx);
int podman_pod_remove(struct podman *p, const char *name, int timeout_s,
		      podman_cb cb, void *ctx);

/*
 * Networks. Inspect answers the network ({"name", "driver", "subnets":
 * [{"subnet", "gateway"}], "dns_enabled", ...}) or 404 "network not
 * found". Create takes {"name", "driver", "subnets", "dns_enabled"} and
 * answers the new network; a name taken is 409 "network already exists".
 */
int podman_network_inspect(struct podman *p, const char *name, podman_cb cb,
			   void *ctx);
int podman_network_create(struct podman *p, const json_t *spec, podman_cb cb,
			  void *ctx);

/* Containers. spec: a SpecGenerator object. Reply json: {"Id": ...}. */
int podman_container_create(struct podman *p, const json_t *spec, podman_cb cb,
			    void *ctx);
int podman_container_start(struct podman *p, const char *id, podman_cb cb,
			   void *ctx);
/* SIGTERM, then SIGKILL after timeout_s. 304 (already stopped) is ok. */
int podman_container_stop(struct podman *p, const char *id, int timeout_s,
			  podman_cb cb, void *ctx);
int podman_container_kill(struct podman *p, const char *id, const char *signal,
			  podman_cb cb, void *ctx);
int podman_container_remove(struct podman *p, const char *id, bool force,
			    podman_cb cb, void *ctx);
int podman_container_inspect(struct podman *p, const char *id, podman_cb cb,
			     void *ctx);
/* all: include stopped ones. filters as for pods. */
int podman_container_list(struct podman *p, bool all, const json_t *filters,
			  podman_cb cb, void *ctx);
/*
 * Long-polls until the container has stopped (condition=stopped). The reply
 * is ok with `exit_code` set; a transport failure is not ok.
 */
struct podman_wait_reply {
	struct podman_reply r;
	int exit_code;
};
typedef void (*podman_wait_cb)(void *ctx, const struct podman_wait_reply *r);
int podman_container_wait(struct podman *p, const char *id, podman_wait_cb cb,
			  void *ctx);

/* Images. */
int podman_image_exists(struct podman *p, const char *name, podman_cb cb,
			void *ctx);
/* repo and tag separately, as Podman wants them. */
int podman_image_tag(struct podman *p, const char *name, const char *repo,
		     const char *tag, podman_cb cb, void *ctx);
/*
 * Builds from a build context given as a tar archive (borrowed, copied),
 * with Containerfile at its root, pull policy never. The reply is ok only
 * when the build stream ended with an image id (Podman answers 200 even
 * for failed builds); its json is then {"Id": "<64 hex>"}. Otherwise
 * `error` holds the build's error ("POST /build: build failed: ...").
 * Intermediate containers are removed also when the build fails.
 */
int podman_image_build(struct podman *p, const char *tag, const void *tar,
		       size_t tar_len, podman_cb cb, void *ctx);
/*
 * Pull policies, as Podman names them: MISSING pulls only when the image is
 * not in the store; NEWER asks the registry and pulls when its digest
 * differs from the local image's (Kubernetes' Always: it contacts the
 * registry each time but downloads only what changed); ALWAYS pulls
 * regardless.
 */
enum podman_pull_policy {
	PODMAN_PULL_MISSING,
	PODMAN_PULL_NEWER,
	PODMAN_PULL_ALWAYS,
};
/*
 * Pulls reference with policy; tls_verify false for a plain-HTTP registry
 * on loopback. Like build, Podman answers 200 and reports in the stream:
 * ok only when it ends with {"images":[...],"id":...}, which is then the
 * reply's json; otherwise `error` holds Podman's error ("POST
 * /images/pull: pull failed: ..."). Returns -EINVAL for a policy out of
 * range (and calls nothing).
 */
int podman_image_pull(struct podman *p, const char *reference,
		      enum podman_pull_policy policy, bool tls_verify,
		      podman_cb cb, void *ctx);

/*
 * Streams. A stream delivers items until it ends or is closed; `done` is
 * called once at the end (reply not ok when it ended by an error), never
 * after podman_stream_close(). The stream is freed when `done` returns:
 * close it only before that. The constructors return NULL (and call
 * nothing) when the request cannot be started.
 */
enum podman_log_stream { PODMAN_STDOUT = 1, PODMAN_STDERR = 2 };
typedef void (*podman_log_cb)(void *ctx, enum podman_log_stream which,
			      const char *data, size_t len);
struct podman_log_opts {
	bool follow;
	bool timestamps;
	long tail; /* lines from the end; < 0 for all */
	const char *since; /* RFC 3339 or NULL */
};
/*
 * Container logs, demultiplexed from Podman's 8-byte frames. opts may be
 * NULL (all lines, no follow). A frame's payload may come in several
 * calls (in order, never mixing streams), so consumers keep line state.
 */
struct podman_stream *podman_logs(struct podman *p, const char *id,
				  const struct podman_log_opts *opts,
				  podman_log_cb cb, podman_cb done, void *ctx);

/* Events, one parsed JSON object each (borrowed). filters as for lists. */
typedef void (*podman_event_cb)(void *ctx, json_t *event);
struct podman_stream *podman_events(struct podman *p, const json_t *filters,
				    podman_event_cb cb, podman_cb done,
				    void *ctx);

/* Stops a stream; its callbacks are not called again. */
void podman_stream_close(struct podman_stream *s);

/*
 * Exec: runs a command in a running container, as `podman exec` does, in
 * three steps: create the session (POST /containers/{id}/exec), start it
 * on a connection of its own that Podman hijacks (a plain unix-socket
 * stream on the loop, not libcurl: stdin's end is a write-side
 * half-close), read its output to EOF, then read its ExitCode (GET
 * /exec/{id}/json, polled briefly while Podman still says Running).
 *
 * Output (Tty false) is demultiplexed from the 8-byte frames and reaches
 * `out` in order, as podman_logs' does; with Tty it is raw and all comes
 * as PODMAN_STDOUT. `done` is called exactly once, unless the session is
 * cancelled first: ok with the exit code when the command ran (a command
 * that cannot be found still runs: runc reports on stderr and the code is
 * 127), else not ok with exit_code -1 and `error` saying which step
 * failed, with Podman's cause ("POST /containers/web/exec: 500: container
 * state improper (...)"). The session is freed when `done` returns, or by
 * podman_exec_cancel(); the handle must not be used after either.
 *
 * Ownership: opts and everything it points to are borrowed for the call
 * (copied). Callbacks may cancel the session or free the client.
 */
struct podman_exec;
struct podman_exec_opts {
	const char *const *cmd; /* NULL-terminated argv; required */
	const char *const *env; /* "NAME=value", NULL-terminated, or NULL */
	const char *working_dir; /* or NULL for the container's */
	const char *user; /* or NULL */
	bool attach_stdin; /* podman_exec_write/close_stdin feed it */
	bool tty;
};
/* exit_code is the command's, or -1 when the reply is not ok. */
typedef void (*podman_exec_cb)(void *ctx, const struct podman_reply *r,
			       int exit_code);
/*
 * Starts an exec session in container_id. Returns NULL (and calls
 * nothing) when opts has no command or the request cannot be started.
 * Never blocks.
 */
struct podman_exec *podman_exec(struct podman *p, const char *container_id,
				const struct podman_exec_opts *opts,
				podman_log_cb out, podman_exec_cb done,
				void *ctx);
/*
 * Queues len bytes (copied) for the command's stdin; bytes written before
 * the session started are sent once it has. Returns 0, -EINVAL when the
 * session has no stdin, -EPIPE after podman_exec_close_stdin() or once
 * the session is over, -ENOBUFS beyond 1 MiB queued.
 */
int podman_exec_write(struct podman_exec *e, const void *data, size_t len);
/* Ends stdin (a half-close, after what was written): 0, or as above. */
int podman_exec_close_stdin(struct podman_exec *e);
/*
 * Stops waiting for the session: closes its connection, cancels its
 * requests; no callback of it runs again and it is freed. The command
 * itself is not killed (Podman has no call for it): closing the
 * connection closes its stdin and output, and most commands end then.
 */
void podman_exec_cancel(struct podman_exec *e);

/*
 * The calls the agent makes, as a table (CONVENTIONS 5 and 20): production
 * uses podman_ops_real, tests give the agent a fake Podman. `c` is the
 * client: a struct podman * for podman_ops_real, anything for a fake. Each
 * entry keeps the contract of the function it is named after (a call that
 * returns an error calls nothing; callbacks run later, on the loop, never
 * from within the call). A fake's exec may return any non-NULL pointer of
 * its own, cast; only its exec_cancel sees it again.
 */
struct podman_ops {
	int (*pod_create)(void *c, const json_t *spec, podman_cb cb, void *ctx);
	int (*pod_start)(void *c, const char *name, podman_cb cb, void *ctx);
	int (*pod_inspect)(void *c, const char *name, podman_cb cb, void *ctx);
	int (*pod_list)(void *c, const json_t *filters, podman_cb cb,
			void *ctx);
	int (*pod_remove)(void *c, const char *name, int timeout_s,
			  podman_cb cb, void *ctx);
	int (*container_create)(void *c, const json_t *spec, podman_cb cb,
				void *ctx);
	int (*container_start)(void *c, const char *id, podman_cb cb,
			       void *ctx);
	int (*container_stop)(void *c, const char *id, int timeout_s,
			      podman_cb cb, void *ctx);
	int (*container_remove)(void *c, const char *id, bool force,
				podman_cb cb, void *ctx);
	int (*container_inspect)(void *c, const char *id, podman_cb cb,
				 void *ctx);
	int (*container_list)(void *c, bool all, const json_t *filters,
			      podman_cb cb, void *ctx);
	int (*container_wait)(void *c, const char *id, podman_wait_cb cb,
			      void *ctx);
	int (*image_exists)(void *c, const char *name, podman_cb cb, void *ctx);
	int (*image_pull)(void *c, const char *reference,
			  enum podman_pull_policy policy, bool tls_verify,
			  podman_cb cb, void *ctx);
	struct podman_exec *(*exec)(void *c, const char *container_id,
				    const struct podman_exec_opts *opts,
				    podman_log_cb out, podman_exec_cb done,
				    void *ctx);
	void (*exec_cancel)(struct podman_exec *e);
	int (*network_inspect)(void *c, const char *name, podman_cb cb,
			       void *ctx);
	int (*network_create)(void *c, const json_t *spec, podman_cb cb,
			      void *ctx);
};
/* The real client's table: c is a struct podman *. */
extern const struct podman_ops podman_ops_real;

/*
 * Demultiplexes Podman's log/exec frame stream: [stream, 0, 0, 0, len (u32
 * big-endian)] payload. Feed any chunking of the bytes; payload bytes go to
 * cb as they arrive, without copying, so one frame split across feeds
 * reaches cb in several pieces (empty frames are skipped). Returns 0, or
 * -EPROTO on a bad header (stream not 1 or 2, or nonzero padding); the
 * demuxer is then stuck in that error. Exposed for tests.
 */
struct podman_demux {
	unsigned char head[8];
	size_t head_len;
	uint32_t left; /* payload bytes still to come in this frame */
	int stream;
};
#define PODMAN_DEMUX_INIT      \
	{                      \
		{ 0 }, 0, 0, 0 \
	}
int podman_demux_feed(struct podman_demux *d, const char *data, size_t len,
		      podman_log_cb cb, void *ctx);

/*
 * Internals, exposed for tests.
 *
 * podman__format_error() appends the message of a failed answer, as
 * described at the top: "METHOD PATH: STATUS: cause (message)", falling
 * back to `message` alone, Podman's `Errs` list, or the body's text.
 * json is the parsed body or NULL. *cause is set to Podman's `cause`
 * (borrowed from json) or NULL.
 */
struct sm_buf;
void podman__format_error(struct sm_buf *out, const char *method,
			  const char *path, int status, const json_t *json,
			  const char *body, size_t len, const char **cause);
/*
 * Reads the JSON-lines answer of /build. Returns 0 with *id (new, free())
 * when the stream ended with an image id line, else -EIO with the build's
 * error appended to err.
 */
int podman__build_result(const char *body, size_t len, char **id,
			 struct sm_buf *err);
/* Reads wait's bare-number answer ("137\n"): 0, or -EPROTO. */
int podman__parse_exit_code(const char *body, size_t len, int *code);

#endif
