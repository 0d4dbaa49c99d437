/*
 * journal.h: the store's durability on disk: an append-only journal of
 * writes plus snapshots, with group commit on the libuv thread pool.
 *
 * On disk, in the directory given (created 0700 when missing):
 *   snapshot      every live key at one resourceVersion (written to a
 *                 temporary name, fsynced, renamed, directory fsynced)
 *   journal       the records after the snapshot's resourceVersion
 * Both files open with a header (magic, format version). Every record
 * carries its length and a CRC-32C over its bytes, so a torn or corrupt
 * tail is recognised and dropped at open; a file whose format version is
 * newer than this build's is refused with a message that says so (never
 * misread), as is a file that is not a journal at all.
 *
 * Durability: journal_append() queues a record and returns at once; its
 * callback runs once the record is written and fsynced (status 0) or the
 * write failed (status < 0). Records appended while a write-and-fsync is
 * running are written together by the next one (group commit), so one
 * fsync acknowledges many writes. Callbacks run on the loop thread, in
 * append order, never from inside a call of this API.
 *
 * After a failed write the journal is broken: every later append fails
 * with the same status (the store then refuses writes; a restart recovers
 * what was acknowledged). Nothing acknowledged is ever lost: a record's
 * callback with status 0 means it is on disk, and open replays it.
 *
 * Ownership: options and records are copied. The loop is borrowed and must
 * outlive the journal.
 */
#ifndef SM_JOURNAL_H
#define SM_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct sm_err;
struct journal;

/* The on-disk format this build writes and reads (and any older one). */
#define JOURNAL_FORMAT_VERSION 1

/*
 * One write: key set to value at rv, or key removed (value NULL). Keys are
 * the store's ("Kind/namespace/name"); values are JSON texts. Neither may
 * be empty; a key holds no NUL.
 */
struct journal_rec {
	uint64_t rv;
	const char *key;
	const char *value; /* NULL for a removal */
	size_t value_len;
};

/*
 * Called at open for every record, snapshot first, then the journal, in
 * rv order (rec and its strings are borrowed for the call). A nonzero
 * return stops the open, which then fails with that value.
 */
typedef int (*journal_replay_cb)(void *ctx, const struct journal_rec *rec);
typedef void (*journal_done_cb)(void *ctx, int status);

struct journal_opts {
	const char *dir; /* required */
	/*
	 * journal_wants_snapshot() turns true once the journal file is over
	 * this many bytes (0: 64 MiB).
	 */
	size_t snapshot_bytes;
};

/*
 * Opens (or creates) the journal in o->dir and replays it through replay.
 * A torn tail (a short or bad-checksum last record) is cut off, with a
 * warning in the log naming the file, the offset and how many bytes went.
 * Returns 0 with *out (free with journal_free()) and *last_rv set to the
 * highest rv replayed (0 for a new journal), or a negative errno with the
 * reason in err: -EPROTO for a newer format or a file that is no journal,
 * -EIO and friends for the file system.
 */
int journal_open(uv_loop_t *loop, const struct journal_opts *o,
		 journal_replay_cb replay, void *ctx, struct journal **out,
		 uint64_t *last_rv, struct sm_err *err);

/*
 * Queues rec (copied) for the next group commit. rv must be higher than
 * every rv appended before. cb (may be NULL) gets the outcome. Returns 0,
 * -EINVAL for a bad record (cb not called), or the journal's error once
 * it is broken (cb not called).
 */
int journal_append(struct journal *j, const struct journal_rec *rec,
		   journal_done_cb cb, void *ctx);

/* True when the journal has grown past opts.snapshot_bytes. */
bool journal_wants_snapshot(const struct journal *j);

/*
 * Writes a snapshot of the n live records (copied; any order), the whole
 * state at rv, and then starts an empty journal: records appended before
 * this call are in the snapshot or written before it, records appended
 * after it go to the new journal. cb (may be NULL) runs when the snapshot
 * is durable. A crash at any point leaves either the old snapshot and
 * journal or the new ones. Returns 0 or a negative errno (cb not called).
 */
int journal_snapshot(struct journal *j, uint64_t rv,
		     const struct journal_rec *recs, size_t n,
		     journal_done_cb cb, void *ctx);

/*
 * Finishes what was queued (callbacks still run, from the loop) and frees
 * the journal once its thread-pool work is done; the loop must keep
 * running until then. NULL is ignored.
 */
void journal_free(struct journal *j);

/* Bytes in the journal file now, records in it, and fsyncs so far. */
struct journal_stats {
	uint64_t bytes;
	uint64_t records;
	uint64_t fsyncs;
};
void journal_stats(const struct journal *j, struct journal_stats *out);

/*
 * Internal, for the tests: the CRC-32C (Castagnoli) of len bytes, continuing
 * from crc (0 to start), as the journal's records carry it.
 */
uint32_t journal__crc32c(uint32_t crc, const void *data, size_t len);

#endif
