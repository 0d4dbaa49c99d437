/*
 * controller.h: the work queue every controller runs on.
 *
 * A controller reacts to store events by queueing keys ("namespace/name"
 * of the object to look at) and syncs one key at a time: it reads the
 * store, compares with what should be, and writes the difference. The
 * queue gives what Kubernetes' workqueue gives:
 * - a key is queued at most once however often it is added (dedupe);
 * - a key added while it is being synced is synced again afterwards;
 * - a sync that fails is retried after a per-key backoff (10 ms doubling
 *   up to 30 s), reset by a sync that succeeds;
 * - a key can be queued for later (controller_queue_after), e.g. when a
 *   pod becomes available after minReadySeconds;
 * - every key of the controller's kind is queued again every resync
 *   period, so a missed event costs at most that long.
 *
 * Syncs run on the loop thread from an idle handle, a bounded number per
 * loop turn, so a flood of keys never starves I/O.
 *
 * Lifetime: the queue embeds its libuv handles and frees itself from their
 * close callbacks after controller_free().
 */
#ifndef SM_CONTROLLER_H
#define SM_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"

struct controller;

/*
 * Brings key in line. Returns 0 when done (the key's backoff resets), or a
 * negative errno to be retried with backoff. Called on the loop thread.
 */
typedef int (*controller_sync_fn)(void *ctx, const char *key);
/* Queues every key the controller owns (the resync). */
typedef void (*controller_resync_fn)(void *ctx, struct controller *c);

struct controller_opts {
	const char *name; /* for logs: "deployment" */
	controller_sync_fn sync; /* required */
	controller_resync_fn resync; /* NULL: no resync */
	uint64_t resync_ms; /* 0: 30 s */
	void *ctx;
};

void controller_free(struct controller *c);
struct controller *controller_new(uv_loop_t *loop,
				  const struct controller_opts *o)
	SM_MALLOC(controller_free);

/* Queues key (copied) now; dedupes. */
void controller_queue(struct controller *c, const char *key);
/* Queues key after delay_ms (an earlier due time wins). */
void controller_queue_after(struct controller *c, const char *key,
			    uint64_t delay_ms);

/* Keys waiting now (for tests and metrics). */
size_t controller_len(const struct controller *c);
/* Syncs run so far and those that failed. */
uint64_t controller_syncs(const struct controller *c);
uint64_t controller_failures(const struct controller *c);

/*
 * Runs queued keys until none is due now (tests). Returns the number of
 * syncs it ran.
 */
size_t controller_drain(struct controller *c);

#endif
