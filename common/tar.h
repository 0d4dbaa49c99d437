/*
 * tar.h: writing ustar archives in memory.
 *
 * Podman's /build takes its build context as a tar archive, and the demo
 * images (`stuurman images`) are built from files the program holds in
 * memory, so this writes regular files and directories into a bounded
 * buffer: no links, no devices, and fixed metadata (owner 0:0, mtime 0)
 * so the same files always give the same bytes.
 *
 * Names are relative paths of up to 100 bytes, or up to 255 when they can
 * be split at a '/' into ustar's prefix (155) and name (100) fields.
 *
 * Ownership: the archive owns its buffer; sm_tar_finish() hands out a
 * borrowed view, valid until the next call on the archive.
 */
#ifndef SM_TAR_H
#define SM_TAR_H

#include <stddef.h>

#include "common/buf.h"

#define SM_TAR_BLOCK 512

struct sm_tar {
	struct sm_buf out;
	int finished;
};

/* An empty archive that may grow to max bytes (SM_BUF_UNBOUNDED ok). */
void sm_tar_init(struct sm_tar *t, size_t max);
void sm_tar_release(struct sm_tar *t);

/*
 * Adds a regular file with permission bits mode (e.g. 0755) and the len
 * bytes at data (copied). Returns 0; -ENAMETOOLONG for a name that does not
 * fit, -EINVAL for an empty or absolute name or after sm_tar_finish(), or
 * -EMSGSIZE when the archive would pass its maximum. On failure the archive
 * is as it was.
 */
int sm_tar_add_file(struct sm_tar *t, const char *name, unsigned mode,
		    const void *data, size_t len);
/* Adds a directory entry; as sm_tar_add_file. */
int sm_tar_add_dir(struct sm_tar *t, const char *name, unsigned mode);

/*
 * Ends the archive (two zero blocks) and sets *data, *len to it
 * (borrowed). Returns 0 or -EMSGSIZE. Calling it again returns the same.
 */
int sm_tar_finish(struct sm_tar *t, const char **data, size_t *len);

#endif
