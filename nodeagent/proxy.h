/*
 * proxy.h: the forwarding engine of `stuurman proxy`, userspace style (as
 * kube-proxy's old userspace mode): TCP only, on the caller's libuv loop.
 *
 * The engine knows nothing of the API. It holds a table of rules, each a
 * listen address (IPv4 addr:port) with the backends that serve it and an
 * optional client-IP affinity, set whole by proxy_set_rules(). A client
 * that connects gets a backend picked round-robin (or its affine one);
 * the engine connects to the backend first (timeout opts.connect_timeout_ms)
 * and only then splices both ways. A backend that refuses, is unreachable
 * or times out is skipped for the next one (each at most once per client;
 * the last one left has no timeout but the kernel's);
 * when none is left the client is closed with a reset. A rule without
 * backends is not listened on at all, so its clients are refused at the
 * handshake (ECONNREFUSED), as with kube-proxy.
 *
 * Splicing has backpressure: one side is not read while the other's write
 * queue holds more than opts.write_limit bytes. A half-close (EOF) on one
 * side is forwarded as a shutdown of the other; both sockets are closed
 * when both directions have ended, or at once on any error.
 *
 * Table changes: a rule whose listen address stays keeps its listener, its
 * round-robin position and its affinities; only its backends change, and a
 * backend that left gets no new client (drain) while the connections
 * already going to it are left alone. A rule that goes closes its listener;
 * its connections live on. A listen address that cannot be bound is logged
 * once with the reason and retried quietly by the housekeeping timer
 * (every opts.housekeeping_ms), never fatal.
 *
 * Ownership: rules are copied by proxy_set_rules(). The engine embeds
 * libuv handles; proxy_free() closes every listener and connection and the
 * memory goes from the last close callback, so the loop must run after it.
 */
#ifndef SM_NODEAGENT_PROXY_H
#define SM_NODEAGENT_PROXY_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"

struct proxy;
struct sm_clock;

struct proxy_opts {
	uint64_t connect_timeout_ms; /* 0: 1000 */
	size_t write_limit; /* bytes queued before the other side pauses; 0:
			       256 KiB */
	uint64_t housekeeping_ms; /* stats log, bind retries; 0: 10000 */
	const struct sm_clock *clock; /* for affinity; NULL: the system's */
};

#define PROXY_OPTS_INIT \
	{               \
		0       \
	}

struct proxy_rule {
	const char *name; /* for logs: "default/web:http" */
	struct sockaddr_in listen; /* address and port to bind */
	const struct sockaddr_in *backends; /* nr_backends ready endpoints */
	size_t nr_backends;
	/* sessionAffinity ClientIP: seconds since a client's last connection
	 * that it sticks to its backend; 0 for none. */
	uint32_t affinity_timeout_s;
};

/* What the engine did since it started (monotonic counters). */
struct proxy_stats {
	uint64_t connections; /* clients accepted */
	uint64_t forwarded; /* clients spliced to a backend */
	uint64_t retries; /* connects tried after a failed one */
	uint64_t failures; /* clients closed: every backend failed */
	uint64_t rejected; /* clients closed: the rule had no backends */
	uint64_t active; /* connections open now */
};

/* Closes everything; the memory goes once the loop has run. NULL ignored. */
void proxy_free(struct proxy *p);

/* An engine with an empty table. opts may be NULL (defaults). */
struct proxy *proxy_new(uv_loop_t *loop, const struct proxy_opts *opts)
	SM_MALLOC(proxy_free);

/*
 * Makes the table exactly rules[0..nr) (listen addresses must be unique; a
 * later duplicate is ignored with a warning). Binds the new listen
 * addresses now: returns the number that could not be bound (logged, and
 * retried later), 0 when all are listening.
 */
int proxy_set_rules(struct proxy *p, const struct proxy_rule *rules, size_t nr);

void proxy_get_stats(const struct proxy *p, struct proxy_stats *out);

/* Listeners bound now (for tests and logs). */
size_t proxy_listening(const struct proxy *p);

/*
 * Bytes that the engine holds in write queues right now, summed over all
 * connections: what backpressure bounds (for tests).
 */
size_t proxy_buffered(const struct proxy *p);

#endif
