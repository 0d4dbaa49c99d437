/*
 * Tests for reconciler/journal.c: round trips through the file, torn and
 * corrupt tails, refused formats, snapshots and the crash windows between
 * their steps, and group commit. Every test works in its own temporary
 * directory on a real loop and ends with uv_loop_close() == 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "reconciler/journal.h"
#include "common/banned.h"

#define MAXREC 256

struct seen {
	uint64_t rv;
	char key[64];
	char value[128]; /* "" for a removal */
	bool removal;
};

struct fx {
	uv_loop_t loop;
	char dir[64];
	char path[96], snap[96];
	struct seen rec[MAXREC];
	size_t n;
	/* Outcomes of callbacks, in the order they ran. */
	int status[MAXREC];
	uintptr_t order[MAXREC];
	size_t ncb;
	FILE *log;
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/sm-journal-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/journal", f->dir);
	snprintf(f->snap, sizeof(f->snap), "%s/snapshot", f->dir);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->log = tmpfile();
	assert_non_null(f->log);
	sm_log_setup(SM_LOG_WARN, SM_LOG_TEXT, f->log, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	sm_log_setup(SM_LOG_INFO, SM_LOG_TEXT, NULL, NULL);
	fclose(f->log);
	free(f);
	return 0;
}

static int on_replay(void *ctx, const struct journal_rec *rec)
{
	struct fx *f = ctx;
	struct seen *s = &f->rec[f->n++];

	assert_true(f->n <= MAXREC);
	s->rv = rec->rv;
	snprintf(s->key, sizeof(s->key), "%s", rec->key);
	s->removal = rec->value == NULL;
	snprintf(s->value, sizeof(s->value), "%.*s", (int)rec->value_len,
		 rec->value ? rec->value : "");
	return 0;
}

static void on_done(void *ctx, int status)
{
	struct fx *f = *(struct fx **)ctx;

	f->status[f->ncb] = status;
	f->order[f->ncb] = (uintptr_t)ctx;
	f->ncb++;
}

/* Opens the journal in f->dir, replaying into f->rec. */
static int jopen(struct fx *f, struct journal **j, uint64_t *last,
		 struct sm_err *err, size_t snapshot_bytes)
{
	struct journal_opts o = { f->dir, snapshot_bytes };

	f->n = 0;
	return journal_open(&f->loop, &o, on_replay, f, j, last, err);
}

static struct journal *jopen_ok(struct fx *f, uint64_t *last)
{
	struct sm_err err = SM_ERR_INIT;
	struct journal *j = NULL;
	uint64_t l = 0;

	assert_int_equal(jopen(f, &j, &l, &err, 0), 0);
	assert_false(sm_err_failed(&err));
	sm_err_release(&err);
	if (last)
		*last = l;
	return j;
}

static void jclose(struct fx *f, struct journal *j)
{
	journal_free(j);
	uv_run(&f->loop, UV_RUN_DEFAULT);
}

/* Appends key=value at rv (value NULL: a removal); ctx f. */
static struct fx *ctxs[MAXREC];

static void append(struct fx *f, struct journal *j, uint64_t rv,
		   const char *key, const char *value)
{
	struct journal_rec r = { rv, key, value, value ? strlen(value) : 0 };
	size_t i = rv % MAXREC;

	ctxs[i] = f;
	assert_int_equal(journal_append(j, &r, on_done, &ctxs[i]), 0);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void copy_file(const char *from, const char *to)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	assert_int_equal(sm_buf_read_file(&b, from), 0);
	write_bytes(to, b.buf, b.len);
	sm_buf_release(&b);
}

static char *log_text(struct fx *f)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char line[512];

	fflush(f->log);
	rewind(f->log);
	while (fgets(line, sizeof(line), f->log))
		sm_buf_adds(&b, line);
	return sm_buf_detach(&b, NULL);
}

static void test_crc32c_matches_the_standard_check_value(void **state)
{
	assert_int_equal(journal__crc32c(0, "123456789", 9), 0xe3069283);
	/* Continuing a CRC gives the same as one pass. */
	assert_int_equal(
		journal__crc32c(journal__crc32c(0, "1234", 4), "56789", 5),
		0xe3069283);
	assert_int_equal(journal__crc32c(0, "", 0), 0);
}

static void test_appended_records_come_back_after_reopening(void **state)
{
	struct fx *f = *state;
	struct journal *j;
	uint64_t last = 99;
	struct journal_stats st;

	j = jopen_ok(f, &last);
	assert_int_equal(last, 0);
	assert_int_equal(f->n, 0);
	append(f, j, 1, "Pod/default/a", "{\"x\":1}");
	append(f, j, 2, "Pod/default/b", "{\"x\":2}");
	append(f, j, 3, "Pod/default/a", NULL);
	/* Callbacks never run inside the call. */
	assert_int_equal(f->ncb, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->ncb, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(f->status[i], 0);
		assert_ptr_equal(f->order[i], (uintptr_t)&ctxs[i + 1]);
	}
	journal_stats(j, &st);
	assert_int_equal(st.records, 3);
	assert_int_equal(st.bytes, file_size(f->path));
	jclose(f, j);

	j = jopen_ok(f, &last);
	assert_int_equal(last, 3);
	assert_int_equal(f->n, 3);
	journal_stats(j, &st);
	assert_int_equal(st.records, 3);
	assert_int_equal(st.bytes, file_size(f->path));
	assert_int_equal(st.fsyncs, 0);
	assert_int_equal(f->rec[0].rv, 1);
	assert_string_equal(f->rec[0].key, "Pod/default/a");
	assert_string_equal(f->rec[0].value, "{\"x\":1}");
	assert_string_equal(f->rec[1].value, "{\"x\":2}");
	assert_true(f->rec[2].removal);
	assert_string_equal(f->rec[2].key, "Pod/default/a");
	/* rv must grow. */
	{
		struct journal_rec r = { 3, "k", "v", 1 };

		assert_int_equal(journal_append(j, &r, NULL, NULL), -EINVAL);
		r.rv = 4;
		r.key = "";
		assert_int_equal(journal_append(j, &r, NULL, NULL), -EINVAL);
	}
	jclose(f, j);
}

/* Writes records 1..n and returns the file sizes after each. */
static void write_records(struct fx *f, int n, off_t *sizes)
{
	struct journal *j = jopen_ok(f, NULL);

	sizes[0] = file_size(f->path);
	for (int i = 1; i <= n; i++) {
		char key[32], val[64];

		snprintf(key, sizeof(key), "ConfigMap/ns/c%d", i);
		snprintf(val, sizeof(val), "{\"data\":{\"n\":\"%d\"}}", i);
		append(f, j, (uint64_t)i, key, val);
		uv_run(&f->loop, UV_RUN_DEFAULT);
		sizes[i] = file_size(f->path);
	}
	jclose(f, j);
}

static void test_a_torn_tail_of_every_length_is_cut_off(void **state)
{
	struct fx *f = *state;
	struct sm_buf whole = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	off_t sizes[4];
	char *log;

	write_records(f, 3, sizes);
	assert_int_equal(sm_buf_read_file(&whole, f->path), 0);
	for (off_t cut = 1; cut < sizes[3] - sizes[2]; cut++) {
		struct journal *j;
		uint64_t last;

		write_bytes(f->path, whole.buf, (size_t)(sizes[3] - cut));
		j = jopen_ok(f, &last);
		assert_int_equal(f->n, 2);
		assert_int_equal(last, 2);
		assert_string_equal(f->rec[1].key, "ConfigMap/ns/c2");
		/* The tail is gone from the file, not just skipped. */
		assert_int_equal(file_size(f->path), sizes[2]);
		jclose(f, j);
	}
	log = log_text(f);
	assert_non_null(strstr(log, "torn tail"));
	assert_non_null(strstr(log, f->path));
	free(log);

	/* After a cut, appending goes on from the valid prefix. */
	{
		struct journal *j = jopen_ok(f, NULL);

		append(f, j, 3, "ConfigMap/ns/again", "{}");
		uv_run(&f->loop, UV_RUN_DEFAULT);
		jclose(f, j);
		j = jopen_ok(f, NULL);
		assert_int_equal(f->n, 3);
		assert_string_equal(f->rec[2].key, "ConfigMap/ns/again");
		jclose(f, j);
	}
	sm_buf_release(&whole);
}

static void test_a_flipped_byte_drops_its_record_and_what_follows(void **state)
{
	struct fx *f = *state;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct journal *j;
	off_t sizes[5];
	uint64_t last;

	write_records(f, 4, sizes);
	/* Inside record 2's value; every byte of it is covered by the CRC. */
	for (off_t at = sizes[1]; at < sizes[2]; at += 5) {
		assert_int_equal(sm_buf_read_file(&b, f->path), 0);
		b.buf[at] ^= 0x20;
		write_bytes(f->path, b.buf, b.len);
		j = jopen_ok(f, &last);
		assert_int_equal(f->n, 1);
		assert_int_equal(last, 1);
		assert_int_equal(file_size(f->path), sizes[1]);
		jclose(f, j);
		/* Put the four records back for the next byte. */
		b.buf[at] ^= 0x20;
		write_bytes(f->path, b.buf, b.len);
		sm_buf_reset(&b);
	}
	sm_buf_release(&b);
}

static void test_a_newer_format_is_refused_with_a_clear_message(void **state)
{
	struct fx *f = *state;
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_err err = SM_ERR_INIT;
	struct journal *j = NULL;
	off_t sizes[2];
	uint64_t last;
	char want[256];

	write_records(f, 1, sizes);
	assert_int_equal(sm_buf_read_file(&b, f->path), 0);
	b.buf[8] = 2; /* the format version, little-endian */
	write_bytes(f->path, b.buf, b.len);
	assert_int_equal(jopen(f, &j, &last, &err, 0), -EPROTO);
	assert_null(j);
	assert_int_equal(err.nr, 1);
	snprintf(want, sizeof(want),
		 "%s: journal format 2 is newer than this stuurman "
		 "understands (1): upgrade stuurman",
		 f->path);
	assert_string_equal(err.items[0].msg, want);
	assert_int_equal(f->n, 0);
	/* Refused, not repaired: the file is as it was. */
	assert_int_equal(file_size(f->path), sizes[1]);
	sm_err_release(&err);
	sm_buf_release(&b);
}

static void test_a_file_that_is_no_journal_is_refused(void **state)
{
	struct fx *f = *state;
	struct sm_err err = SM_ERR_INIT;
	struct journal *j = NULL;
	uint64_t last;

	write_bytes(f->path, "hello, this is not a journal at all\n", 36);
	assert_int_equal(jopen(f, &j, &last, &err, 0), -EPROTO);
	assert_null(j);
	assert_non_null(strstr(err.items[0].msg, "not a stuurman journal"));
	assert_non_null(strstr(err.items[0].msg, f->path));
	sm_err_release(&err);

	/* A damaged header checksum is refused too. */
	{
		struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		off_t sizes[2];

		unlink(f->path);
		write_records(f, 1, sizes);
		assert_int_equal(sm_buf_read_file(&b, f->path), 0);
		b.buf[20] ^= 1; /* inside the header's rv */
		write_bytes(f->path, b.buf, b.len);
		assert_int_equal(jopen(f, &j, &last, &err, 0), -EPROTO);
		assert_non_null(strstr(err.items[0].msg, "checksum"));
		sm_err_release(&err);
		sm_buf_release(&b);
	}
}

static void snap_state(struct fx *f, struct journal *j)
{
	/* The state at rv 3 after: a@1, b@2, remove a@3. */
	struct journal_rec live[] = { { 2, "Pod/default/b", "{\"x\":2}", 7 } };

	ctxs[100] = f;
	assert_int_equal(journal_snapshot(j, 3, live, 1, on_done, &ctxs[100]),
			 0);
}

static void test_a_snapshot_and_the_journal_after_it_reopen(void **state)
{
	struct fx *f = *state;
	struct journal_stats st;
	struct journal *j;
	uint64_t last;

	j = jopen_ok(f, NULL);
	append(f, j, 1, "Pod/default/a", "{\"x\":1}");
	append(f, j, 2, "Pod/default/b", "{\"x\":2}");
	append(f, j, 3, "Pod/default/a", NULL);
	snap_state(f, j);
	/* After the snapshot call: into the new journal. */
	append(f, j, 4, "Pod/default/c", "{\"x\":4}");
	{
		/* Below the snapshot's rv: refused. */
		struct journal_rec r = { 3, "k", "v", 1 };

		assert_int_equal(journal_append(j, &r, NULL, NULL), -EINVAL);
	}
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->ncb, 5);
	/* In append order, the snapshot in its place. */
	assert_ptr_equal(f->order[3], (uintptr_t)&ctxs[100]);
	assert_ptr_equal(f->order[4], (uintptr_t)&ctxs[4]);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(f->status[i], 0);
	journal_stats(j, &st);
	assert_int_equal(st.records, 1);
	assert_int_equal(st.bytes, file_size(f->path));
	jclose(f, j);

	j = jopen_ok(f, &last);
	assert_int_equal(last, 4);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->rec[0].rv, 2);
	assert_string_equal(f->rec[0].key, "Pod/default/b");
	assert_int_equal(f->rec[1].rv, 4);
	assert_string_equal(f->rec[1].key, "Pod/default/c");
	jclose(f, j);
}

static void
test_a_snapshot_at_an_rv_with_no_live_object_keeps_the_rv(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen_ok(f, NULL);
	uint64_t last;

	append(f, j, 1, "Pod/default/a", "{}");
	append(f, j, 2, "Pod/default/a", NULL);
	assert_int_equal(journal_snapshot(j, 2, NULL, 0, NULL, NULL), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	jclose(f, j);
	j = jopen_ok(f, &last);
	assert_int_equal(f->n, 0);
	assert_int_equal(last, 2);
	jclose(f, j);
}

static void
test_leftover_tmp_files_of_an_interrupted_snapshot_are_ignored(void **state)
{
	struct fx *f = *state;
	struct journal *j;
	uint64_t last;
	char tmp[128];

	j = jopen_ok(f, NULL);
	append(f, j, 1, "Pod/default/a", "{\"x\":1}");
	append(f, j, 2, "Pod/default/b", "{\"x\":2}");
	uv_run(&f->loop, UV_RUN_DEFAULT);
	jclose(f, j);
	/* The crash came before either rename: half-written tmp files. */
	snprintf(tmp, sizeof(tmp), "%s/snapshot.tmp", f->dir);
	write_bytes(tmp, "SMSTORE", 7);
	snprintf(tmp, sizeof(tmp), "%s/journal.tmp", f->dir);
	write_bytes(tmp, "SMST", 4);
	j = jopen_ok(f, &last);
	assert_int_equal(last, 2);
	assert_int_equal(f->n, 2);
	assert_int_equal(access(tmp, F_OK), -1);
	snprintf(tmp, sizeof(tmp), "%s/snapshot.tmp", f->dir);
	assert_int_equal(access(tmp, F_OK), -1);
	jclose(f, j);
}

static void
test_a_crash_between_the_two_renames_replays_each_write_once(void **state)
{
	struct fx *f = *state;
	struct journal *j;
	uint64_t last;
	char old[128], tmp[128];

	j = jopen_ok(f, NULL);
	append(f, j, 1, "Pod/default/a", "{\"x\":1}");
	append(f, j, 2, "Pod/default/b", "{\"x\":2}");
	append(f, j, 3, "Pod/default/a", NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	jclose(f, j);
	snprintf(old, sizeof(old), "%s/old-journal", f->dir);
	copy_file(f->path, old);

	j = jopen_ok(f, NULL);
	snap_state(f, j);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	jclose(f, j);
	/*
	 * The crash: the new snapshot is in place, the new empty journal
	 * still under its temporary name, the old journal (records 1-3, all
	 * in the snapshot) still under the real one.
	 */
	snprintf(tmp, sizeof(tmp), "%s/journal.tmp", f->dir);
	copy_file(f->path, tmp);
	copy_file(old, f->path);
	unlink(old);

	j = jopen_ok(f, &last);
	assert_int_equal(last, 3);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->rec[0].rv, 2);
	assert_string_equal(f->rec[0].key, "Pod/default/b");
	append(f, j, 4, "Pod/default/c", "{}");
	uv_run(&f->loop, UV_RUN_DEFAULT);
	jclose(f, j);
	j = jopen_ok(f, &last);
	assert_int_equal(last, 4);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->rec[1].rv, 4);
	jclose(f, j);
}

static void test_a_journal_whose_snapshot_is_missing_is_refused(void **state)
{
	struct fx *f = *state;
	struct sm_err err = SM_ERR_INIT;
	struct journal *j;
	uint64_t last;

	j = jopen_ok(f, NULL);
	append(f, j, 1, "Pod/default/a", "{\"x\":1}");
	append(f, j, 2, "Pod/default/b", "{\"x\":2}");
	append(f, j, 3, "Pod/default/a", NULL);
	snap_state(f, j);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	jclose(f, j);
	unlink(f->snap);
	j = NULL;
	assert_int_equal(jopen(f, &j, &last, &err, 0), -EPROTO);
	assert_null(j);
	assert_non_null(strstr(err.items[0].msg, "no snapshot"));
	sm_err_release(&err);
}

static void test_many_appends_before_the_loop_runs_share_fsyncs(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen_ok(f, NULL);
	struct journal_stats st;
	uint64_t last;

	for (uint64_t rv = 1; rv <= 200; rv++) {
		char key[32];

		snprintf(key, sizeof(key), "Pod/default/p%" PRIu64, rv);
		append(f, j, rv, key, "{\"spec\":{}}");
	}
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->ncb, 200);
	for (size_t i = 0; i < 200; i++) {
		assert_int_equal(f->status[i], 0);
		assert_ptr_equal(f->order[i],
				 (uintptr_t)&ctxs[(i + 1) % MAXREC]);
	}
	journal_stats(j, &st);
	assert_int_equal(st.records, 200);
	assert_true(st.fsyncs < 200);
	assert_true(st.fsyncs >= 1);
	jclose(f, j);
	j = jopen_ok(f, &last);
	assert_int_equal(f->n, 200);
	assert_int_equal(last, 200);
	jclose(f, j);
}

static void test_journal_free_lets_queued_appends_finish(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen_ok(f, NULL);
	uint64_t last;

	append(f, j, 1, "Pod/default/a", "{}");
	append(f, j, 2, "Pod/default/b", "{}");
	journal_free(j);
	assert_int_equal(f->ncb, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->ncb, 2);
	assert_int_equal(f->status[1], 0);
	j = jopen_ok(f, &last);
	assert_int_equal(last, 2);
	jclose(f, j);
}

static void test_the_journal_asks_for_a_snapshot_past_its_size(void **state)
{
	struct fx *f = *state;
	struct sm_err err = SM_ERR_INIT;
	struct journal *j;
	uint64_t last, rv = 0;

	assert_int_equal(jopen(f, &j, &last, &err, 1000), 0);
	while (!journal_wants_snapshot(j) && rv < 100) {
		rv++;
		append(f, j, rv, "ConfigMap/default/big",
		       "{\"data\":{\"k\":\"0123456789012345678901234567\"}}");
	}
	assert_true(rv > 5 && rv < 100);
	assert_int_equal(journal_snapshot(j, rv, NULL, 0, NULL, NULL), 0);
	assert_false(journal_wants_snapshot(j));
	uv_run(&f->loop, UV_RUN_DEFAULT);
	jclose(f, j);
}

/*
 * A file size limit makes the next write fail (EFBIG) as a full disk
 * would; SIGXFSZ is ignored so the write returns the error instead.
 */
static void limit_file_size(struct rlimit *old, rlim_t bytes)
{
	struct rlimit lim;

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, old), 0);
	lim = *old;
	lim.rlim_cur = bytes;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

static void test_a_failed_write_breaks_the_journal(void **state)
{
	struct fx *f = *state;
	struct journal *j = jopen_ok(f, NULL);
	struct rlimit old;
	char big[512];
	uint64_t last;

	append(f, j, 1, "Pod/default/a", "{}");
	uv_run(&f->loop, UV_RUN_DEFAULT);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	limit_file_size(&old, (rlim_t)file_size(f->path) + 100);
	append(f, j, 2, "Pod/default/b", big);
	append(f, j, 3, "Pod/default/c", "{}");
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	/* Both queued records fail, in order, with the write's error. */
	assert_int_equal(f->ncb, 3);
	assert_int_equal(f->status[0], 0);
	assert_int_equal(f->status[1], -EFBIG);
	assert_int_equal(f->status[2], -EFBIG);
	/* Later appends fail at once and call nothing. */
	{
		struct journal_rec r = { 4, "Pod/default/d", "{}", 2 };

		assert_int_equal(journal_append(j, &r, on_done, f), -EFBIG);
		assert_int_equal(journal_snapshot(j, 4, NULL, 0, NULL, NULL),
				 -EFBIG);
		assert_false(journal_wants_snapshot(j));
	}
	jclose(f, j);
	assert_int_equal(f->ncb, 3);
	/* What was acknowledged is there; the partial write is cut off. */
	j = jopen_ok(f, &last);
	assert_int_equal(f->n, 1);
	assert_int_equal(last, 1);
	jclose(f, j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_crc32c_matches_the_standard_check_value),
		T(test_appended_records_come_back_after_reopening),
		T(test_a_torn_tail_of_every_length_is_cut_off),
		T(test_a_flipped_byte_drops_its_record_and_what_follows),
		T(test_a_newer_format_is_refused_with_a_clear_message),
		T(test_a_file_that_is_no_journal_is_refused),
		T(test_a_snapshot_and_the_journal_after_it_reopen),
		T(test_a_snapshot_at_an_rv_with_no_live_object_keeps_the_rv),
		T(test_leftover_tmp_files_of_an_interrupted_snapshot_are_ignored),
		T(test_a_crash_between_the_two_renames_replays_each_write_once),
		T(test_a_journal_whose_snapshot_is_missing_is_refused),
		T(test_many_appends_before_the_loop_runs_share_fsyncs),
		T(test_journal_free_lets_queued_appends_finish),
		T(test_the_journal_asks_for_a_snapshot_past_its_size),
		T(test_a_failed_write_breaks_the_journal),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
