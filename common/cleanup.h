/*
 * cleanup.h: scope-bound cleanup with __attribute__((cleanup)).
 *
 *   char *s SM_AUTOFREE = xstrdup("x");     freed when s goes out of scope
 *   FILE *f SM_AUTOFCLOSE = fopen(...);      closed (if not NULL)
 *   int fd SM_AUTOCLOSE = open(...);         closed (if >= 0)
 *
 * To hand ownership out of the scope, set the variable to NULL (or -1) after
 * taking the value: see SM_STEAL_PTR.
 */
#ifndef SM_CLEANUP_H
#define SM_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/compat.h"

static inline void sm_freep(void *p)
{
	free(*(void **)p);
}

static inline void sm_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void sm_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define SM_AUTOFREE SM_CLEANUP(sm_freep)
#define SM_AUTOFCLOSE SM_CLEANUP(sm_fclosep)
#define SM_AUTOCLOSE SM_CLEANUP(sm_closep)

/* Returns *pp and sets it to NULL, so a cleanup no longer frees it. */
#define SM_STEAL_PTR(pp)                           \
	({                                         \
		__typeof__(*(pp)) sm_tmp_ = *(pp); \
		*(pp) = NULL;                      \
		sm_tmp_;                           \
	})

#endif
