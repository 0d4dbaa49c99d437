/*
 * fs.h: small file system helpers.
 */
#ifndef SM_COMMON_FS_H
#define SM_COMMON_FS_H

#include <sys/types.h>

/*
 * Makes path and its missing parents, as `mkdir -p`: parents 0755, path
 * itself mode (both under the umask). An existing path is fine when it is a
 * directory (its mode is left alone). Returns 0, -ENOTDIR when path exists
 * as something else, or the negative errno of the mkdir that failed.
 */
int sm_mkdir_p(const char *path, mode_t mode);

#endif
