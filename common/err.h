/*
 * err.h: the error sink.
 *
 * A struct sm_err collects diagnostics (errors, warnings, notes), each with
 * the place it is about (file:line:column, any part may be unknown) and a
 * message. Functions that can fail take a caller-owned sink and add to it
 * only when they have something to say; on success they add no error.
 *
 * Messages follow one style: lower case, no trailing period, what failed
 * first, the subject quoted, e.g.
 *   Deployment "web": spec.replicas: expected an integer, got "three"
 * The position is not part of the message; sm_diag_format() puts it in front.
 *
 * Ownership: the sink owns every diagnostic; strings passed in are copied.
 * A sink keeps at most `max` diagnostics (SM_ERR_MAX by default) so hostile
 * input cannot grow it without bound; past that only the counts grow.
 */
#ifndef SM_ERR_H
#define SM_ERR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/compat.h"

struct sm_buf;

enum sm_severity {
	SM_NOTE = 0,
	SM_WARNING = 1,
	SM_ERROR = 2,
};

/* A place in a file. file is borrowed; line and col are 1-based, 0 = unknown.
 */
struct sm_pos {
	const char *file;
	int line;
	int col;
};

struct sm_diag {
	enum sm_severity severity;
	char *file; /* owned; NULL when the diagnostic is about no file */
	int line;
	int col;
	char *msg; /* owned */
};

#define SM_ERR_MAX 10000

struct sm_err {
	struct sm_diag *items;
	size_t nr, alloc;
	size_t count[3]; /* by severity, including dropped ones */
	size_t max; /* 0 means SM_ERR_MAX */
};

#define SM_ERR_INIT \
	{           \
		0   \
	}

void sm_err_init(struct sm_err *e);
void sm_err_release(struct sm_err *e);

/*
 * Adds a diagnostic. pos may be NULL. Returns -EINVAL for SM_ERROR and 0
 * otherwise, so that `return sm_error(err, pos, ...)` reads naturally.
 */
int sm_err_add(struct sm_err *e, enum sm_severity sev, const struct sm_pos *pos,
	       const char *fmt, ...) SM_PRINTF(4, 5);
int sm_err_vadd(struct sm_err *e, enum sm_severity sev,
		const struct sm_pos *pos, const char *fmt, va_list ap)
	SM_PRINTF(4, 0);

#define sm_error(e, pos, ...) sm_err_add((e), SM_ERROR, (pos), __VA_ARGS__)
#define sm_warning(e, pos, ...) sm_err_add((e), SM_WARNING, (pos), __VA_ARGS__)
#define sm_note(e, pos, ...) sm_err_add((e), SM_NOTE, (pos), __VA_ARGS__)

static inline size_t sm_err_count(const struct sm_err *e, enum sm_severity s)
{
	return e->count[s];
}

static inline bool sm_err_failed(const struct sm_err *e)
{
	return e->count[SM_ERROR] > 0;
}

/* Number of diagnostics that were counted but not kept (over `max`). */
size_t sm_err_dropped(const struct sm_err *e);

/* Moves every diagnostic of src to the end of dst; src is left empty. */
void sm_err_move(struct sm_err *dst, struct sm_err *src);

/*
 * Appends one diagnostic as a line without the newline, gcc style:
 *   FILE:LINE:COL: MSG             (errors)
 *   FILE:LINE:COL: warning: MSG
 *   FILE:LINE:COL: note: MSG
 * Unknown parts of the position are left out ("FILE: MSG", "FILE:3: MSG").
 */
int sm_diag_format(const struct sm_diag *d, struct sm_buf *out);

const char *sm_severity_name(enum sm_severity s);

/*
 * Orders the kept diagnostics by file, line, column (stable), so output does
 * not depend on the order in which checks ran.
 */
void sm_err_sort(struct sm_err *e);

#endif
