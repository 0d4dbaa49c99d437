/*
 * buf.h: bounded growable byte buffers.
 *
 * A struct sm_buf grows as data is added, up to a hard maximum set at init.
 * Adding past the maximum fails with -EMSGSIZE and leaves the buffer as it
 * was, so input sized by the network, git or YAML meets a clear limit.
 * Buffers that hold only what the program itself builds use SM_BUF_UNBOUNDED.
 *
 * Invariant: when buf is not NULL, buf[len] == '\0', so the contents can be
 * used as a C string (binary data may contain NULs of its own).
 */
#ifndef SM_BUF_H
#define SM_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compat.h"

#define SM_BUF_UNBOUNDED SIZE_MAX

struct sm_buf {
	char *buf;
	size_t len;
	size_t alloc;
	size_t max; /* most bytes it may hold, not counting the final NUL */
};

#define SM_BUF_INIT(maxbytes)                                        \
	{                                                            \
		.buf = NULL, .len = 0, .alloc = 0, .max = (maxbytes) \
	}

void sm_buf_init(struct sm_buf *b, size_t max);
void sm_buf_release(struct sm_buf *b);
static inline void sm_buf_releasep(struct sm_buf *b)
{
	sm_buf_release(b);
}

/* Empties the buffer, keeping its memory. */
void sm_buf_reset(struct sm_buf *b);
/* Shortens the contents to len bytes (len <= b->len). */
void sm_buf_truncate(struct sm_buf *b, size_t len);

/* Each returns 0, or -EMSGSIZE when the result would exceed max. */
int sm_buf_add(struct sm_buf *b, const void *data, size_t len);
int sm_buf_adds(struct sm_buf *b, const char *s);
int sm_buf_addch(struct sm_buf *b, char c);
int sm_buf_addf(struct sm_buf *b, const char *fmt, ...) SM_PRINTF(2, 3);
int sm_buf_vaddf(struct sm_buf *b, const char *fmt, va_list ap) SM_PRINTF(2, 0);

/* The contents as a C string; "" for an empty buffer. Borrowed. */
const char *sm_buf_cstr(const struct sm_buf *b);

/* Hands the contents to the caller (new, free()) and empties the buffer. */
char *sm_buf_detach(struct sm_buf *b, size_t *len);

/*
 * Appends the whole file at path. Returns 0, -EFBIG when the file would not
 * fit under max (nothing is read then), or the negative errno of the failed
 * open/read.
 */
int sm_buf_read_file(struct sm_buf *b, const char *path);

/* Cleanup helper: struct sm_buf b SM_CLEANUP(sm_buf_releasep) = ...; */

#endif
