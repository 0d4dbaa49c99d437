/*
 * dirsource.h: a folder of manifests, followed for changes.
 *
 * The folder is read (mf_load(): parse, check, default) on the libuv
 * thread pool, never on the loop thread: at start, when the folder changes
 * (inotify through uv_fs_event, debounced), and every poll interval as a
 * backstop for changes inotify misses (editors that replace files, nested
 * folders). Each read whose content differs from the last one goes to the
 * callback, whole: the objects when the set has no error, or the errors,
 * so that the caller keeps what it applied (a bad revision never replaces
 * a good one).
 *
 * Lifetime: the source embeds its handles and frees itself once they are
 * closed and a running read has finished, after dirsource_free().
 */
#ifndef MF_DIRSOURCE_H
#define MF_DIRSOURCE_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "common/compat.h"

struct sm_err;
struct dirsource;

/*
 * A read of the folder. On success objects is an array of every valid
 * object (canonical, borrowed for the call) and err holds only warnings
 * and notes; on failure objects is NULL and err holds every problem
 * (file:line:column). hash identifies the content (MF_HASH_LEN chars).
 */
typedef void (*dirsource_cb)(void *ctx, const json_t *objects,
			     const struct sm_err *err, const char *hash);

struct dirsource_opts {
	const char *dir; /* required; copied */
	uint64_t poll_ms; /* 0: 2000 */
	dirsource_cb cb; /* required */
	void *ctx;
};

void dirsource_free(struct dirsource *d);
/* Starts following o->dir; the first read starts at once. */
struct dirsource *dirsource_new(uv_loop_t *loop, const struct dirsource_opts *o)
	SM_MALLOC(dirsource_free);
/* Reads the folder again now (e.g. on SIGHUP). */
void dirsource_reload(struct dirsource *d);

#endif
