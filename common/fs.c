/*
 * fs.c: small file system helpers. See fs.h.
 */
#include <errno.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/xalloc.h"
#include "common/banned.h"

int sm_mkdir_p(const char *path, mode_t mode)
{
	char *copy SM_AUTOFREE = xstrdup(path);
	struct stat st;

	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(copy, mode) && errno != EEXIST)
		return -errno;
	if (stat(copy, &st))
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}
