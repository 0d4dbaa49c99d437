/*
 * xalloc.h: small allocations that abort on out-of-memory.
 *
 * Use these for allocations whose size the program controls. Anything sized
 * by the network, git or YAML goes into a bounded struct sm_buf instead, so
 * a hostile input meets a clear limit rather than the OOM killer.
 *
 * SM_ALLOC_GROW(ptr, nr, alloc) makes room for at least nr elements in a
 * growing array, git style.
 */
#ifndef SM_XALLOC_H
#define SM_XALLOC_H

#include <stddef.h>
#include <stdlib.h>
#include <stdarg.h>

#include "common/compat.h"

/* All return new memory: the caller frees it with free(). Never NULL. */
void *xmalloc(size_t size) SM_MALLOC(free);
void *xcalloc(size_t nmemb, size_t size) SM_MALLOC(free);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s) SM_MALLOC(free);
char *xstrndup(const char *s, size_t n) SM_MALLOC(free);
char *xasprintf(const char *fmt, ...) SM_PRINTF(1, 2) SM_MALLOC(free);
char *xvasprintf(const char *fmt, va_list ap) SM_PRINTF(1, 0) SM_MALLOC(free);

/* Aborts the process with a message: for broken invariants only. */
SM_NORETURN void sm_die(const char *fmt, ...) SM_PRINTF(1, 2);

/* Always-on invariant check (never compiled out, unlike assert). */
#define SM_BUG_ON(cond)                                                      \
	do {                                                                 \
		if (cond)                                                    \
			sm_die("BUG: %s:%d: %s", __FILE__, __LINE__, #cond); \
	} while (0)

#define SM_ALLOC_GROW(ptr, nr, alloc)                                        \
	do {                                                                 \
		if ((size_t)(nr) > (size_t)(alloc)) {                        \
			size_t sm_new_ =                                     \
				(size_t)(alloc) < 8 ? 8 : (size_t)(alloc)*2; \
			if (sm_new_ < (size_t)(nr))                          \
				sm_new_ = (size_t)(nr);                      \
			(ptr) = xrealloc((ptr), sm_new_ * sizeof(*(ptr)));   \
			(alloc) = sm_new_;                                   \
		}                                                            \
	} while (0)

#endif
