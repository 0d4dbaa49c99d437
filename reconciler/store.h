/*
 * store.h: the control plane's state: every object, by kind, namespace and
 * name, with one global resourceVersion, and watches over it.
 *
 * Objects are Kubernetes objects as JSON (jansson). The store owns the
 * server-set metadata: uid, resourceVersion (a decimal string of one
 * global counter bumped on every write), generation (1 at create, bumped
 * when anything outside metadata and status changes), creationTimestamp,
 * and deletionTimestamp with deletionGracePeriodSeconds for graceful
 * deletion. It knows nothing else about kinds: validation, defaults and
 * which deletions are graceful are the API server's business.
 *
 * Invariants:
 * - A stored object is never modified: a write stores a new object. So a
 *   borrowed object stays valid until the next write to its key, and a
 *   reference taken with json_incref() stays valid (and unchanged) for
 *   as long as it is held.
 * - Writes apply in memory at once (a get or list right after sees them)
 *   and go to the journal (journal.h). Their callbacks and their watch
 *   events come later, on the loop thread, once the write is durable, in
 *   resourceVersion order. A write whose callback has not run with status
 *   0 may be lost by a crash; one whose callback has run never is.
 * - An object whose deletionTimestamp is set and whose finalizers list
 *   becomes empty is removed by that write.
 * - After a journal failure every later write fails with -EIO (a restart
 *   recovers what was acknowledged).
 *
 * Errors: functions return 0 or a negative errno with a message in err
 * (when err is not NULL) that names the object as Kubernetes does:
 *   -ENOENT  not found                     (404 NotFound)
 *   -EEXIST  already exists                (409 AlreadyExists)
 *   -ESTALE  metadata.resourceVersion is not the stored one (409 Conflict)
 *   -EINVAL  no kind, name or metadata     (400 BadRequest / 422)
 *   -ERANGE  a watch from a resourceVersion older than the history
 *                                          (410 Expired)
 *   -EIO     the journal failed            (500)
 * A call that fails never calls its callback.
 */
#ifndef SM_STORE_H
#define SM_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"

struct sm_err;
struct sm_clock;
struct sm_rand;
struct store;
struct store_watch;

struct store_opts {
	/* The journal's directory; NULL keeps everything in memory only. */
	const char *dir;
	/*
	 * Watch events kept per kind for resuming watches (0: 1000; an
	 * event holds both versions of its object, so this is memory).
	 */
	size_t history;
	/* Journal size that triggers a snapshot (0: journal.h's default). */
	size_t snapshot_bytes;
	/* Time and uids; NULL for the system clock and random source. */
	const struct sm_clock *clock;
	const struct sm_rand *rand;
};

/*
 * Opens the store, replaying its journal when o->dir is set. Returns 0
 * with *out (free with store_free()) or a negative errno with err set
 * (journal_open()'s errors; -EPROTO for a record that is not an object).
 */
int store_open(uv_loop_t *loop, const struct store_opts *o, struct store **out,
	       struct sm_err *err);

/*
 * Stops every watch (their callbacks are not called again), lets queued
 * writes finish (their callbacks still run) and frees the store once the
 * journal is done. NULL is ignored.
 */
void store_free(struct store *s);

/* The resourceVersion of the last write (0 for an empty new store). */
uint64_t store_rv(const struct store *s);

/*
 * The journal's figures (journal.h: bytes, records, fsyncs), for metrics
 * and benchmarks; all zero in memory-only mode.
 */
struct journal_stats;
void store_journal_stats(const struct store *s, struct journal_stats *out);

/* The outcome of a write: 0 once durable, or a negative errno. */
typedef void (*store_done_cb)(void *ctx, int status);

/*
 * Reading. ns is "" for cluster-scoped kinds. Borrowed results as above.
 * store_list() calls each for every object of kind (in namespace ns, or
 * all namespaces when ns is NULL) in namespace then name order, and stops
 * at (and returns) the first nonzero value each returns.
 */
const json_t *store_get(const struct store *s, const char *kind, const char *ns,
			const char *name);
typedef int (*store_each_cb)(void *ctx, const json_t *obj);
int store_list(const struct store *s, const char *kind, const char *ns,
	       store_each_cb each, void *ctx);
/*
 * Like store_list(), for the objects of kind in ns (all when NULL) whose
 * controller (the ownerReference with controller: true) has owner_uid, or
 * that have no controller when owner_uid is "", from an index kept on
 * every write: it costs what it finds, not the namespace's size. No
 * particular order.
 */
int store_list_owned(const struct store *s, const char *kind, const char *ns,
		     const char *owner_uid, store_each_cb each, void *ctx);
/* Objects of kind in ns (all namespaces when NULL). */
size_t store_count(const struct store *s, const char *kind, const char *ns);

/*
 * Writing. obj is borrowed (copied). Its kind is "kind"; its namespace and
 * name are metadata.namespace ("" or absent for cluster scope) and
 * metadata.name. On success *out (may be NULL) gets a new reference to the
 * stored object. cb (may be NULL) runs once the write is durable.
 *
 * create: a missing metadata.name with metadata.generateName set gets the
 * prefix plus five random characters, as Kubernetes does. Fails -EEXIST.
 */
int store_create(struct store *s, const json_t *obj, json_t **out,
		 store_done_cb cb, void *ctx, struct sm_err *err);

/*
 * Admission: a function that sees every create and update (STORE_MAIN and
 * STORE_ALL; not STORE_STATUS, not deletes, not the journal's replay)
 * before anything is written, whoever writes (the API server, the GitOps
 * sync, the controllers). old is the stored object (NULL on create),
 * borrowed for the call; obj is the object about to be stored (metadata
 * name already set, server-set metadata not yet), whose spec and metadata
 * the function may change (defaults, allocations; not status, which may
 * be shared with the stored object). It returns 0, or a negative errno with a
 * message in err (never NULL) that fails the write with that code:
 * -EINVAL for an invalid object, whose message is the whole of
 * Kubernetes' `Kind "name" is invalid: field: ...` (the API answers it
 * 422 Invalid). It must not write to the store.
 */
typedef int (*store_admit_fn)(void *ctx, const json_t *old, json_t *obj,
			      struct sm_err *err);
/* Sets the one admission function (fn NULL: none); ctx is borrowed. */
void store_set_admit(struct store *s, store_admit_fn fn, void *ctx);

enum store_update_part {
	STORE_MAIN, /* everything but status, which is kept */
	STORE_STATUS, /* status only; everything else is kept */
	STORE_ALL, /* both (controllers writing their own objects) */
};
/*
 * Replaces the stored object's part with obj's. Server-set metadata is kept
 * from the stored object. When obj has a non-empty
 * metadata.resourceVersion that differs from the stored one, fails with
 * -ESTALE. An update that changes nothing is not written: *out is the
 * stored object, no event follows, and cb runs with 0.
 */
int store_update(struct store *s, const json_t *obj,
		 enum store_update_part part, json_t **out, store_done_cb cb,
		 void *ctx, struct sm_err *err);

/*
 * Deletes kind/ns/name. With graceful, or when the object has finalizers,
 * it is only marked (deletionTimestamp now, deletionGracePeriodSeconds
 * grace_s) and stays until a delete without graceful (or, with
 * finalizers, the update that empties them); marking a marked object
 * again changes nothing. Otherwise it is removed and its DELETED event
 * carries its last state with the removal's resourceVersion. *out (may be
 * NULL) gets the marked object, or the removed one. A non-empty
 * precondition_rv that differs from the stored one fails with -ESTALE.
 */
int store_delete(struct store *s, const char *kind, const char *ns,
		 const char *name, bool graceful, int64_t grace_s,
		 const char *precondition_rv, json_t **out, store_done_cb cb,
		 void *ctx, struct sm_err *err);

/*
 * Watching. A watch gets every durable event for kind (in namespace ns, or
 * all when NULL) with a resourceVersion above from_rv. from_rv 0 means
 * "from now". A from_rv that the history no longer covers fails with
 * -ERANGE (Kubernetes' 410 Expired: the client lists again).
 */
enum store_event_type {
	STORE_ADDED,
	STORE_MODIFIED,
	STORE_DELETED,
};
struct store_event {
	enum store_event_type type;
	uint64_t rv;
	const json_t *obj; /* the new state; for DELETED the last one */
	const json_t *old; /* the state before, or NULL for ADDED */
};
/* ev and its objects are borrowed for the call; incref to keep them. */
typedef void (*store_watch_cb)(void *ctx, const struct store_event *ev);

int store_watch(struct store *s, const char *kind, const char *ns,
		uint64_t from_rv, store_watch_cb cb, void *ctx,
		struct store_watch **out, struct sm_err *err);
/* Stops w; its callback is not called again. Safe from inside it. */
void store_watch_stop(struct store_watch *w);

/*
 * Helpers for everyone who works with stored objects: the key fields of
 * obj (borrowed from it; "" for a missing namespace, NULL for a missing
 * kind or name), and obj's resourceVersion as a number (0 when absent).
 */
const char *store_obj_kind(const json_t *obj);
const char *store_obj_ns(const json_t *obj);
const char *store_obj_name(const json_t *obj);
uint64_t store_obj_rv(const json_t *obj);

#endif
