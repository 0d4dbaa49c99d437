/*
 * parse.h: YAML and JSON manifest files into jansson values, with the
 * line:column of every node kept for messages.
 *
 * A file holds one or more documents (YAML "---" separated; a JSON file is
 * one document, read by the same YAML parser, as JSON is YAML). Each
 * non-empty document becomes a struct mf_doc: its value as jansson, and a
 * map from the JSON Pointer of every node ("/spec/template/spec/containers/0")
 * to where that node (and, for object members, its key) starts.
 *
 * Scalars resolve with the YAML 1.2 core schema (as Kubernetes' YAML reader
 * does for the cases that matter): quoted scalars are strings; plain ones are
 * null (null, Null, NULL, ~, empty), booleans (true/false in those cases),
 * integers (decimal, 0o octal, 0x hex; beyond int64 an error), floats
 * (1.5, 1e3, .inf, .nan) or else strings. Explicit tags !!str, !!int, !!float,
 * !!bool, !!null, !!map, !!seq are honoured.
 *
 * Limits, so hostile files fail clearly instead of hanging or exhausting
 * memory: files larger than opts.max_bytes (8 MiB by default) are refused
 * before parsing; anchors and aliases work (and the YAML merge key "<<"), but
 * the nodes that alias expansion adds to one file are counted and capped
 * (opts.max_alias_nodes), so an alias bomb is an error; nesting deeper than
 * opts.max_depth is an error. Duplicate keys in one mapping are an error
 * naming both places. Non-scalar mapping keys are an error.
 *
 * Errors go to the sink as "FILE:LINE:COL" diagnostics (1-based), e.g.
 *   web.yaml:3:8: yaml: mapping values are not allowed in this context
 * The documents parsed before an error are kept in the file, so a caller can
 * still check them and report every problem of a run.
 *
 * Ownership: struct mf_file owns its path copy, its documents, their values
 * (one reference each) and position maps; mf_file_release frees them all.
 */
#ifndef MF_PARSE_H
#define MF_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/strmap.h"

/* Where a node starts; 1-based. key_* is the member's key, else = line/col. */
struct mf_pos {
	int line, col;
	int key_line, key_col;
};

struct mf_doc {
	json_t *root; /* one reference, owned by the doc */
	int index; /* 0-based position among the file's documents */
	int line, col; /* where the document's content starts */
	struct sm_strmap pos; /* JSON Pointer -> struct mf_pos * (owned) */
};

struct mf_file {
	char *path; /* owned: the path as given, used in messages */
	struct mf_doc *docs;
	size_t nr_docs, alloc_docs;
};

#define MF_FILE_INIT             \
	{                        \
		NULL, NULL, 0, 0 \
	}

struct mf_parse_opts {
	size_t max_bytes; /* larger files are refused; default 8 MiB */
	size_t max_alias_nodes; /* nodes aliases may add per file; default
				   100000 */
	int max_depth; /* nesting limit; default 256 */
	/*
	 * Record no positions (mf_doc_pos finds nothing): for a first pass
	 * over files that are most likely valid, where positions would only
	 * be needed for messages. Parse errors still carry their line:col.
	 */
	bool no_positions;
};

#define MF_PARSE_MAX_BYTES (8u << 20)
#define MF_PARSE_OPTS_INIT                             \
	{                                              \
		MF_PARSE_MAX_BYTES, 100000, 256, false \
	}

/*
 * Parses data (len bytes; need not be NUL-terminated) as the file named path
 * into f, which must be MF_FILE_INIT or released. Returns 0, or -EINVAL after
 * adding at least one error to err (f keeps the documents parsed before the
 * first error), or -EFBIG when len is over opts->max_bytes. opts may be NULL
 * for the defaults.
 */
int mf_parse_buffer(struct mf_file *f, const char *path, const char *data,
		    size_t len, const struct mf_parse_opts *opts,
		    struct sm_err *err);

/*
 * Reads and parses the file at path. Adds to err and returns a negative errno
 * when it cannot be read ("FILE: cannot read: No such file or directory") or
 * is too large ("FILE: file is 9.0 MiB, over the 8 MiB limit for manifests:
 * split it or raise --max-file-size"), else as mf_parse_buffer.
 */
int mf_parse_file(struct mf_file *f, const char *path,
		  const struct mf_parse_opts *opts, struct sm_err *err);

void mf_file_release(struct mf_file *f);

/*
 * The position of the node at a JSON Pointer ("" is the document root), or
 * NULL when the document has no such node (e.g. one added by defaulting).
 * Borrowed, valid while the file lives.
 */
const struct mf_pos *mf_doc_pos(const struct mf_doc *d, const char *pointer);

#endif
