/*
 * load.h: reading a set of manifests from files and folders.
 *
 * mf_load() walks the paths given (files, and folders recursively in sorted
 * order, reading *.yaml, *.yml and *.json; hidden entries such as .git are
 * skipped), parses each file, checks and defaults every object, and hands
 * each valid one to a callback, one at a time, so memory stays flat however
 * many files there are. Files that are known not to be manifests
 * (kustomization.yaml, Chart.yaml, README.md, ...) are skipped with a note.
 *
 * Every problem of the whole set goes to the error sink: a revision is judged
 * as a whole. The same object (kind, namespace, name) twice is an error
 * naming both places.
 */
#ifndef MF_LOAD_H
#define MF_LOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "manifests/kinds.h"
#include "manifests/parse.h"

struct mf_object {
	json_t *obj; /* borrowed for the callback; incref to keep */
	const struct mf_kind *kind;
	const char *file; /* borrowed for the callback */
	int line, col; /* where its document starts */
};

/* Called for every valid object; a negative return stops the load. */
typedef int (*mf_object_fn)(void *ctx, const struct mf_object *o);

#define MF_LOAD_MAX_JOBS 16

struct mf_load_opts {
	bool strict;
	struct mf_parse_opts parse;
	/*
	 * Threads that parse and check files; 0 means one per CPU (at most
	 * MF_LOAD_MAX_JOBS). Objects reach the callback in file order on the
	 * calling thread, and messages are the same, whatever the number.
	 */
	int jobs;
};

#define MF_LOAD_OPTS_INIT                    \
	{                                    \
		false, MF_PARSE_OPTS_INIT, 0 \
	}

struct mf_load_stats {
	size_t files; /* manifest files read */
	size_t skipped; /* files skipped as not manifests */
	size_t objects; /* valid objects handed to the callback */
	size_t invalid; /* objects with errors */
	size_t unsupported; /* objects of kinds stuurman does not run */
};

/*
 * Loads paths[0..nr). fn may be NULL (just check). Returns 0 when the set has
 * no errors, -EINVAL when errors were reported (valid objects were still
 * handed to fn), or the callback's negative return.
 */
int mf_load(const char *const *paths, size_t nr,
	    const struct mf_load_opts *opts, mf_object_fn fn, void *ctx,
	    struct mf_load_stats *stats, struct sm_err *err);

/*
 * A file in memory: path is its name in messages and in struct mf_object
 * ("apps/web.yaml"); data is len bytes, not necessarily NUL-terminated.
 * The first `root` bytes of path name the folder the set comes from
 * ("apps/", or 0 for none): they are not judged as hidden entries.
 */
struct mf_memfile {
	const char *path;
	const char *data;
	size_t len;
	size_t root;
};

/*
 * Loads files[0..nr) exactly as mf_load() would load a folder holding them
 * at their paths (relative, '/'-separated): the same files chosen (hidden
 * entries, other types and known non-manifests skipped, the latter with a
 * note), in the same order (a walk of sorted folders, whatever the order
 * of files[]), with the same limits, messages, stats and results. Nothing
 * is read from the disk; files and their data are borrowed for the call.
 */
int mf_load_memory(const struct mf_memfile *files, size_t nr,
		   const struct mf_load_opts *opts, mf_object_fn fn, void *ctx,
		   struct mf_load_stats *stats, struct sm_err *err);

#endif
