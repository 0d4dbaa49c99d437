/*
 * journal.c: the store's journal and snapshots. See journal.h for the
 * contract and reconciler/README.md for the crash-safety argument.
 *
 * File layout (all integers little-endian):
 *
 *   header  magic "SMSTORE\0" (8), u32 format version, u32 file type
 *           (1 journal, 2 snapshot), u64 rv, u64 record count (snapshot;
 *           0 in a journal), u32 CRC-32C of the 32 bytes before it
 *   record  u32 len, u32 CRC-32C of (len, body), body of len bytes:
 *           u64 rv, u32 key length, u32 value length (0xffffffff for a
 *           removal), key, value
 *
 * A journal header's rv is the snapshot's rv the journal follows: records
 * at or below it are already in the snapshot and are skipped at open (they
 * remain only when a crash came between renaming the new snapshot into
 * place and renaming the new, empty journal into place).
 *
 * Threads: everything runs on the loop thread except jwork(), which owns
 * j->fd and j->off while a round is in flight (busy) and touches nothing
 * else of the journal but the round it was given.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "reconciler/journal.h"
#include "common/banned.h"

#define MAGIC "SMSTORE"
#define HDR_SIZE 36
#define REC_HEAD 8 /* len + crc */
#define REC_FIXED 16 /* rv + key length + value length */
#define TOMBSTONE 0xffffffffu
/* A record larger than this is corruption (a length field gone wrong). */
#define REC_MAX ((size_t)64 << 20)
#define DEFAULT_SNAPSHOT_BYTES ((size_t)64 << 20)

enum file_type {
	FT_JOURNAL = 1,
	FT_SNAPSHOT = 2,
};

/* ---- CRC-32C (Castagnoli), reflected, table-driven ---------------- */

static uint32_t crc_table[8][256];
static uv_once_t crc_once = UV_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	/* Slicing by 8: table t[k] advances a byte by k more zero bytes. */
	for (uint32_t i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++)
			crc_table[k][i] =
				(crc_table[k - 1][i] >> 8) ^
				crc_table[0][crc_table[k - 1][i] & 0xff];
}

uint32_t journal__crc32c(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	uv_once(&crc_once, crc_init);
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo =
			crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
			       (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][p[4]] ^ crc_table[2][p[5]] ^
		      crc_table[1][p[6]] ^ crc_table[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

/* ---- encoding ------------------------------------------------------ */

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void header_encode(unsigned char *h, enum file_type type, uint64_t rv,
			  uint64_t count)
{
	memcpy(h, MAGIC, 8);
	put32(h + 8, JOURNAL_FORMAT_VERSION);
	put32(h + 12, type);
	put64(h + 16, rv);
	put64(h + 24, count);
	put32(h + 32, journal__crc32c(0, h, 32));
}

static bool rec_valid(const struct journal_rec *rec)
{
	return rec && rec->key && rec->key[0] &&
	       (!rec->value || rec->value_len > 0) &&
	       strlen(rec->key) + (rec->value ? rec->value_len : 0) <=
		       REC_MAX - REC_FIXED &&
	       (!rec->value || rec->value_len < TOMBSTONE);
}

static size_t rec_size(const struct journal_rec *rec)
{
	return REC_HEAD + REC_FIXED + strlen(rec->key) +
	       (rec->value ? rec->value_len : 0);
}

/* Appends rec's encoding to b (which never fills: unbounded). */
static void rec_encode(struct sm_buf *b, const struct journal_rec *rec)
{
	size_t klen = strlen(rec->key);
	size_t vlen = rec->value ? rec->value_len : 0;
	size_t body = REC_FIXED + klen + vlen;
	size_t at = b->len;
	unsigned char head[REC_HEAD + REC_FIXED];
	unsigned char *p;
	uint32_t crc;

	put32(head, (uint32_t)body);
	put32(head + 4, 0);
	put64(head + 8, rec->rv);
	put32(head + 16, (uint32_t)klen);
	put32(head + 20, rec->value ? (uint32_t)vlen : TOMBSTONE);
	SM_BUG_ON(sm_buf_add(b, head, sizeof(head)) ||
		  sm_buf_add(b, rec->key, klen) ||
		  (vlen && sm_buf_add(b, rec->value, vlen)));
	p = (unsigned char *)b->buf + at;
	crc = journal__crc32c(0, p, 4);
	crc = journal__crc32c(crc, p + REC_HEAD, body);
	put32(p + 4, crc);
}

enum rec_parse {
	REC_OK,
	REC_SHORT, /* the file ends inside the record */
	REC_BAD, /* checksum or fields wrong */
};

/*
 * Parses the record at p (n bytes left); *size gets its length. The key is
 * not NUL-terminated on disk: *klen_out gets its length.
 */
static enum rec_parse rec_decode(const unsigned char *p, size_t n,
				 struct journal_rec *rec, size_t *klen_out,
				 size_t *size)
{
	uint32_t body, klen, vlen;
	uint32_t crc;

	if (n < REC_HEAD)
		return REC_SHORT;
	body = get32(p);
	if (body < REC_FIXED + 1 || body > REC_MAX)
		return REC_BAD;
	if (n - REC_HEAD < body)
		return REC_SHORT;
	crc = journal__crc32c(0, p, 4);
	crc = journal__crc32c(crc, p + REC_HEAD, body);
	if (crc != get32(p + 4))
		return REC_BAD;
	klen = get32(p + 16);
	vlen = get32(p + 20);
	if (klen == 0 || klen > body - REC_FIXED ||
	    (vlen != TOMBSTONE && vlen != body - REC_FIXED - klen) ||
	    (vlen == TOMBSTONE && klen != body - REC_FIXED) || vlen == 0 ||
	    memchr(p + REC_HEAD + REC_FIXED, '\0', klen))
		return REC_BAD;
	rec->rv = get64(p + 8);
	rec->key = (const char *)p + REC_HEAD + REC_FIXED;
	rec->value = vlen == TOMBSTONE ? NULL : rec->key + klen;
	rec->value_len = vlen == TOMBSTONE ? 0 : vlen;
	*klen_out = klen;
	*size = REC_HEAD + body;
	return REC_OK;
}

/* ---- the journal --------------------------------------------------- */

struct jcb {
	journal_done_cb cb;
	void *ctx;
};

/*
 * One group commit: the records queued between two starts of the worker,
 * optionally closed by a snapshot (appends after a snapshot go to the next
 * round, and so to the new journal).
 */
struct jround {
	struct jround *next;
	struct sm_buf data;
	uint64_t nrec;
	struct jcb *cbs;
	size_t ncbs, acbs;
	bool snap;
	uint64_t snap_rv, snap_nrec;
	struct sm_buf snap_data;
	struct jcb snap_cb;
	/* Set by the worker. */
	int status, snap_status;
	unsigned fsyncs;
};

struct journal {
	uv_loop_t *loop;
	char *path, *tmp_path, *snap_path, *snap_tmp_path, *dir;
	/* Owned by the worker while a round is in flight. */
	int fd;
	uint64_t off;

	size_t snapshot_bytes;
	/* Journal bytes written or queued since the last snapshot request. */
	uint64_t logical_bytes;
	uint64_t last_rv; /* highest rv appended or replayed */
	struct jround *busy; /* in flight, or NULL */
	struct jround *head, *tail; /* queued; tail is open unless ->snap */
	/*
	 * A finished round kept for reuse: a group commit's buffer grows to
	 * hundreds of KiB, and allocating and freeing that for every round
	 * cost more CPU than the rest of a write (malloc consolidation).
	 */
	struct jround *spare;
	uv_work_t work;
	int broken;
	bool delivering, freeing;
	struct journal_stats stats;
};

static void round_free(struct jround *r)
{
	sm_buf_release(&r->data);
	sm_buf_release(&r->snap_data);
	free(r->cbs);
	free(r);
}

/* Keeps r as the spare (emptied) or frees it. */
static void round_done(struct journal *j, struct jround *r)
{
	if (j->spare || r->data.alloc > ((size_t)4 << 20)) {
		round_free(r);
		return;
	}
	sm_buf_reset(&r->data);
	sm_buf_release(&r->snap_data);
	r->next = NULL;
	r->nrec = 0;
	r->ncbs = 0;
	r->snap = false;
	r->snap_rv = r->snap_nrec = 0;
	memset(&r->snap_cb, 0, sizeof(r->snap_cb));
	r->status = r->snap_status = 0;
	r->fsyncs = 0;
	j->spare = r;
}

static struct jround *open_round(struct journal *j)
{
	struct jround *r = j->tail;

	if (r && !r->snap)
		return r;
	if (j->spare) {
		r = j->spare;
		j->spare = NULL;
	} else {
		r = xcalloc(1, sizeof(*r));
		sm_buf_init(&r->data, SM_BUF_UNBOUNDED);
		sm_buf_init(&r->snap_data, SM_BUF_UNBOUNDED);
	}
	if (j->tail)
		j->tail->next = r;
	else
		j->head = r;
	j->tail = r;
	return r;
}

static int write_all(int fd, const void *data, size_t len, uint64_t off)
{
	const char *p = data;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * Writes a file of header + data under path (created or truncated, 0600)
 * and fsyncs it. Returns the fd (still open, for the new journal) or a
 * negative errno.
 */
static int write_new_file(const char *path, enum file_type type, uint64_t rv,
			  uint64_t count, const struct sm_buf *data,
			  unsigned *fsyncs)
{
	unsigned char h[HDR_SIZE];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc;

	if (fd < 0)
		return -errno;
	header_encode(h, type, rv, count);
	rc = write_all(fd, h, sizeof(h), 0);
	if (!rc && data && data->len)
		rc = write_all(fd, data->buf, data->len, HDR_SIZE);
	if (!rc && fsync(fd))
		rc = -errno;
	(*fsyncs)++;
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

/*
 * The snapshot steps (worker thread). The order makes every crash point
 * recoverable (see README.md): both files are complete and fsynced under
 * temporary names before either is renamed, the snapshot is renamed first,
 * and the journal's header names the snapshot's rv.
 */
static int write_snapshot(struct journal *j, struct jround *r)
{
	int sfd, nfd, rc;

	sfd = write_new_file(j->snap_tmp_path, FT_SNAPSHOT, r->snap_rv,
			     r->snap_nrec, &r->snap_data, &r->fsyncs);
	if (sfd < 0) {
		unlink(j->snap_tmp_path);
		return sfd;
	}
	close(sfd);
	nfd = write_new_file(j->tmp_path, FT_JOURNAL, r->snap_rv, 0, NULL,
			     &r->fsyncs);
	if (nfd < 0) {
		unlink(j->snap_tmp_path);
		unlink(j->tmp_path);
		return nfd;
	}
	rc = rename(j->snap_tmp_path, j->snap_path) ? -errno : 0;
	if (!rc)
		rc = fsync_dir(j->dir);
	if (!rc)
		rc = rename(j->tmp_path, j->path) ? -errno : 0;
	if (!rc)
		rc = fsync_dir(j->dir);
	r->fsyncs += 2;
	if (rc) {
		close(nfd);
		return rc;
	}
	close(j->fd);
	j->fd = nfd;
	j->off = HDR_SIZE;
	return 0;
}

static void jwork(uv_work_t *w)
{
	struct journal *j = w->data;
	struct jround *r = j->busy;

	r->status = 0;
	if (r->data.len) {
		r->status = write_all(j->fd, r->data.buf, r->data.len, j->off);
		if (!r->status && fdatasync(j->fd))
			r->status = -errno;
		r->fsyncs++;
		if (!r->status)
			j->off += r->data.len;
	}
	if (r->snap)
		r->snap_status = r->status ? r->status : write_snapshot(j, r);
}

static void deliver(struct jround *r, int status, int snap_status)
{
	for (size_t i = 0; i < r->ncbs; i++)
		if (r->cbs[i].cb)
			r->cbs[i].cb(r->cbs[i].ctx, status);
	if (r->snap && r->snap_cb.cb)
		r->snap_cb.cb(r->snap_cb.ctx, snap_status);
}

static void jafter(uv_work_t *w, int status);

/* Starts the next round unless one is running or callbacks are running. */
static void kick(struct journal *j)
{
	struct jround *r = j->head;

	if (j->busy || j->delivering || !r || j->broken)
		return;
	j->head = r->next;
	if (!j->head)
		j->tail = NULL;
	r->next = NULL;
	j->busy = r;
	j->work.data = j;
	/* uv_queue_work fails only for a NULL callback. */
	SM_BUG_ON(uv_queue_work(j->loop, &j->work, jwork, jafter));
}

static void journal_destroy(struct journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	if (j->spare)
		round_free(j->spare);
	free(j->path);
	free(j->tmp_path);
	free(j->snap_path);
	free(j->snap_tmp_path);
	free(j->dir);
	free(j);
}

static void jafter(uv_work_t *w, int status)
{
	struct journal *j = w->data;
	struct jround *r = j->busy;
	int err;

	j->busy = NULL;
	j->stats.fsyncs += r->fsyncs;
	if (r->snap && !r->snap_status) {
		j->stats.bytes = HDR_SIZE;
		j->stats.records = 0;
	} else if (!r->status) {
		j->stats.bytes += r->data.len;
		j->stats.records += r->nrec;
	}
	err = r->status ? r->status : r->snap ? r->snap_status : 0;
	if (err && !j->broken) {
		j->broken = err;
		sm_log(SM_LOG_ERROR, "journal", "%s: %s %s: %s",
		       r->status ? j->path : j->snap_path,
		       r->status ? "write failed" : "snapshot failed",
		       "(the store refuses writes until restarted)",
		       strerror(-err));
	}
	j->delivering = true;
	deliver(r, r->status, r->snap_status);
	round_done(j, r);
	/* A broken journal fails what is queued, in order. */
	while (j->broken && j->head) {
		r = j->head;
		j->head = r->next;
		if (!j->head)
			j->tail = NULL;
		deliver(r, j->broken, j->broken);
		round_done(j, r);
	}
	j->delivering = false;
	kick(j);
	if (j->freeing && !j->busy && !j->head)
		journal_destroy(j);
}

int journal_append(struct journal *j, const struct journal_rec *rec,
		   journal_done_cb cb, void *ctx)
{
	struct jround *r;

	if (j->broken)
		return j->broken;
	if (!rec_valid(rec) || rec->rv <= j->last_rv)
		return -EINVAL;
	r = open_round(j);
	rec_encode(&r->data, rec);
	r->nrec++;
	SM_ALLOC_GROW(r->cbs, r->ncbs + 1, r->acbs);
	r->cbs[r->ncbs].cb = cb;
	r->cbs[r->ncbs].ctx = ctx;
	r->ncbs++;
	j->last_rv = rec->rv;
	j->logical_bytes += rec_size(rec);
	kick(j);
	return 0;
}

bool journal_wants_snapshot(const struct journal *j)
{
	return !j->broken && j->logical_bytes > j->snapshot_bytes;
}

static int cmp_rec_rv(const void *a, const void *b)
{
	const struct journal_rec *x = *(const struct journal_rec *const *)a;
	const struct journal_rec *y = *(const struct journal_rec *const *)b;

	return x->rv < y->rv ? -1 : x->rv > y->rv;
}

int journal_snapshot(struct journal *j, uint64_t rv,
		     const struct journal_rec *recs, size_t n,
		     journal_done_cb cb, void *ctx)
{
	const struct journal_rec **order;
	struct jround *r;

	if (j->broken)
		return j->broken;
	if (rv < j->last_rv)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!rec_valid(&recs[i]) || !recs[i].value || recs[i].rv > rv)
			return -EINVAL;
	/* Replay promises rv order, so the snapshot is written sorted. */
	order = xmalloc((n ? n : 1) * sizeof(const struct journal_rec *));
	for (size_t i = 0; i < n; i++)
		order[i] = &recs[i];
	qsort(order, n, sizeof(const struct journal_rec *), cmp_rec_rv);
	r = open_round(j);
	for (size_t i = 0; i < n; i++)
		rec_encode(&r->snap_data, order[i]);
	free(order);
	r->snap = true;
	r->snap_rv = rv;
	r->snap_nrec = n;
	r->snap_cb.cb = cb;
	r->snap_cb.ctx = ctx;
	j->last_rv = rv;
	j->logical_bytes = HDR_SIZE;
	kick(j);
	return 0;
}

void journal_free(struct journal *j)
{
	if (!j)
		return;
	j->freeing = true;
	if (!j->busy && !j->delivering && !j->head)
		journal_destroy(j);
}

void journal_stats(const struct journal *j, struct journal_stats *out)
{
	*out = j->stats;
}

/* ---- opening ------------------------------------------------------- */

/* Replays rec, whose key has klen bytes, with the key as a C string. */
static int replay_one(journal_replay_cb replay, void *ctx,
		      const struct journal_rec *rec, size_t klen)
{
	char small[256];
	char *key = klen < sizeof(small) ? small : xmalloc(klen + 1);
	struct journal_rec r = *rec;
	int rc;

	memcpy(key, rec->key, klen);
	key[klen] = '\0';
	r.key = key;
	rc = replay(ctx, &r);
	if (key != small)
		free(key);
	return rc;
}

/* Adds an error to err when there is a sink. */
static void fail_msg(struct sm_err *err, const char *fmt, ...) SM_PRINTF(2, 3);
static void fail_msg(struct sm_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	sm_err_vadd(err, SM_ERROR, NULL, fmt, ap);
	va_end(ap);
}

/*
 * Checks a file's header; what names the file in messages ("journal" or
 * "snapshot"). Returns 0 with *rv and *count, or -EPROTO with err set.
 */
static int header_check(const struct sm_buf *b, const char *path,
			enum file_type want, uint64_t *rv, uint64_t *count,
			struct sm_err *err)
{
	const unsigned char *h = (const unsigned char *)b->buf;
	const char *what = want == FT_JOURNAL ? "journal" : "snapshot";
	uint32_t version, type;

	if (b->len < 8 || memcmp(h, MAGIC, 8) != 0) {
		fail_msg(err, "%s: not a stuurman %s (no %s header)", path,
			 what, what);
		return -EPROTO;
	}
	if (b->len < 12) {
		fail_msg(err, "%s: %s header is cut short", path, what);
		return -EPROTO;
	}
	version = get32(h + 8);
	if (version > JOURNAL_FORMAT_VERSION) {
		sm_error(err, NULL,
			 "%s: %s format %" PRIu32
			 " is newer than this stuurman understands (%d): "
			 "upgrade stuurman",
			 path, what, version, JOURNAL_FORMAT_VERSION);
		return -EPROTO;
	}
	if (version == 0) {
		fail_msg(err, "%s: unknown %s format 0", path, what);
		return -EPROTO;
	}
	if (b->len < HDR_SIZE) {
		fail_msg(err, "%s: %s header is cut short", path, what);
		return -EPROTO;
	}
	if (journal__crc32c(0, h, 32) != get32(h + 32)) {
		fail_msg(err, "%s: %s header checksum mismatch", path, what);
		return -EPROTO;
	}
	type = get32(h + 12);
	if (type != want) {
		fail_msg(err, "%s: not a stuurman %s (file type %" PRIu32 ")",
			 path, what, type);
		return -EPROTO;
	}
	*rv = get64(h + 16);
	*count = get64(h + 24);
	return 0;
}

static int read_whole(const char *path, struct sm_buf *b, struct sm_err *err)
{
	int rc = sm_buf_read_file(b, path);

	if (rc && rc != -ENOENT)
		fail_msg(err, "%s: cannot read: %s", path, strerror(-rc));
	return rc;
}

/* Replays the snapshot, which must be whole: it was fsynced before it got
 * its name, so damage is not a torn write and is refused. */
static int replay_snapshot(struct journal *j, journal_replay_cb replay,
			   void *ctx, uint64_t *snap_rv, struct sm_err *err)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	uint64_t count, n = 0, prev = 0;
	size_t off = HDR_SIZE;
	int rc;

	*snap_rv = 0;
	rc = read_whole(j->snap_path, &b, err);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		goto out;
	rc = header_check(&b, j->snap_path, FT_SNAPSHOT, snap_rv, &count, err);
	if (rc)
		goto out;
	while (off < b.len) {
		struct journal_rec rec;
		size_t size, klen;

		if (rec_decode((const unsigned char *)b.buf + off, b.len - off,
			       &rec, &klen, &size) != REC_OK ||
		    !rec.value || rec.rv < prev || rec.rv > *snap_rv)
			break;
		rc = replay_one(replay, ctx, &rec, klen);
		if (rc)
			goto out;
		prev = rec.rv;
		off += size;
		n++;
	}
	if (off != b.len || n != count) {
		sm_error(
			err, NULL,
			"%s: snapshot is damaged at offset %zu (record %" PRIu64
			" of %" PRIu64 "); refusing to start without it",
			j->snap_path, off, n, count);
		rc = -EPROTO;
	}
out:
	sm_buf_release(&b);
	return rc;
}

/* Creates an empty journal following snap_rv, atomically. */
static int create_journal(struct journal *j, uint64_t snap_rv,
			  struct sm_err *err)
{
	unsigned fsyncs = 0;
	int fd = write_new_file(j->tmp_path, FT_JOURNAL, snap_rv, 0, NULL,
				&fsyncs);
	int rc = 0;

	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	if (rename(j->tmp_path, j->path)) {
		rc = -errno;
		close(fd);
		goto fail;
	}
	rc = fsync_dir(j->dir);
	if (rc) {
		close(fd);
		goto fail;
	}
	j->fd = fd;
	j->off = HDR_SIZE;
	return 0;
fail:
	unlink(j->tmp_path);
	fail_msg(err, "%s: cannot create: %s", j->path, strerror(-rc));
	return rc;
}

static int replay_journal(struct journal *j, journal_replay_cb replay,
			  void *ctx, uint64_t snap_rv, bool have_snap,
			  struct sm_err *err)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	uint64_t base, count, prev;
	size_t off = HDR_SIZE;
	enum rec_parse why = REC_OK;
	int rc;

	rc = read_whole(j->path, &b, err);
	if (rc == -ENOENT) {
		rc = create_journal(j, snap_rv, err);
		j->stats.bytes = HDR_SIZE;
		j->logical_bytes = HDR_SIZE;
		goto out;
	}
	if (rc)
		goto out;
	rc = header_check(&b, j->path, FT_JOURNAL, &base, &count, err);
	if (rc)
		goto out;
	if (base > snap_rv) {
		sm_error(err, NULL,
			 "%s: journal follows a snapshot at rv %" PRIu64
			 " but %s; refusing to start without it",
			 j->path, base,
			 have_snap ? "the snapshot is older"
				   : "there is no snapshot");
		rc = -EPROTO;
		goto out;
	}
	prev = base;
	while (off < b.len) {
		struct journal_rec rec;
		size_t size, klen;

		why = rec_decode((const unsigned char *)b.buf + off,
				 b.len - off, &rec, &klen, &size);
		/* rv must grow: a record that goes back is corrupt too. */
		if (why == REC_OK && rec.rv <= prev)
			why = REC_BAD;
		if (why != REC_OK)
			break;
		if (rec.rv > snap_rv) {
			rc = replay_one(replay, ctx, &rec, klen);
			if (rc)
				goto out;
		}
		if (rec.rv > j->last_rv)
			j->last_rv = rec.rv;
		prev = rec.rv;
		off += size;
		j->stats.records++;
	}
	j->fd = open(j->path, O_RDWR | O_CLOEXEC);
	if (j->fd < 0) {
		rc = -errno;
		fail_msg(err, "%s: cannot open: %s", j->path, strerror(-rc));
		goto out;
	}
	if (off < b.len) {
		/*
		 * The valid prefix ends here. A short record at the very end
		 * is a write cut by a crash; anything else is corruption,
		 * and we do not guess where good records might resume (a
		 * length field cannot be trusted past a bad checksum), so
		 * the rest goes too: see README.md.
		 */
		sm_log(SM_LOG_WARN, "journal",
		       "%s: %s at offset %zu: cut off %zu bytes", j->path,
		       why == REC_SHORT ? "torn tail"
					: "bad record (checksum or fields)",
		       off, b.len - off);
		if (ftruncate(j->fd, (off_t)off) || fsync(j->fd)) {
			rc = -errno;
			fail_msg(err, "%s: cannot cut off the tail: %s",
				 j->path, strerror(-rc));
			goto out;
		}
	}
	j->off = off;
	j->stats.bytes = off;
	j->logical_bytes = off;
	rc = 0;
out:
	sm_buf_release(&b);
	return rc;
}

/* Removes a temporary file a crash left behind; see README.md. */
static void drop_leftover(const char *path)
{
	if (unlink(path) == 0)
		sm_log(SM_LOG_WARN, "journal",
		       "%s: removed an unfinished file from an interrupted "
		       "snapshot",
		       path);
}

int journal_open(uv_loop_t *loop, const struct journal_opts *o,
		 journal_replay_cb replay, void *ctx, struct journal **out,
		 uint64_t *last_rv, struct sm_err *err)
{
	struct journal *j;
	uint64_t snap_rv = 0;
	bool have_snap;
	int rc;

	if (!o || !o->dir || !o->dir[0] || !replay) {
		fail_msg(err, "journal: no directory given");
		return -EINVAL;
	}
	if (mkdir(o->dir, 0700) && errno != EEXIST) {
		rc = -errno;
		fail_msg(err, "%s: cannot create directory: %s", o->dir,
			 strerror(-rc));
		return rc;
	}
	j = xcalloc(1, sizeof(*j));
	j->loop = loop;
	j->fd = -1;
	j->dir = xstrdup(o->dir);
	j->path = xasprintf("%s/journal", o->dir);
	j->tmp_path = xasprintf("%s/journal.tmp", o->dir);
	j->snap_path = xasprintf("%s/snapshot", o->dir);
	j->snap_tmp_path = xasprintf("%s/snapshot.tmp", o->dir);
	j->snapshot_bytes =
		o->snapshot_bytes ? o->snapshot_bytes : DEFAULT_SNAPSHOT_BYTES;

	drop_leftover(j->snap_tmp_path);
	drop_leftover(j->tmp_path);
	have_snap = access(j->snap_path, F_OK) == 0;
	rc = replay_snapshot(j, replay, ctx, &snap_rv, err);
	if (rc)
		goto fail;
	j->last_rv = snap_rv;
	rc = replay_journal(j, replay, ctx, snap_rv, have_snap, err);
	if (rc)
		goto fail;
	*out = j;
	*last_rv = j->last_rv;
	return 0;
fail:
	journal_destroy(j);
	return rc;
}
