/*
 * tar.c: see tar.h. The ustar header layout is POSIX.1-1988's; only the
 * fields a reader needs are set, the rest stay zero.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/tar.h"
#include "common/banned.h"

void sm_tar_init(struct sm_tar *t, size_t max)
{
	sm_buf_init(&t->out, max);
	t->finished = 0;
}

void sm_tar_release(struct sm_tar *t)
{
	sm_buf_release(&t->out);
	t->finished = 0;
}

/* Writes value as width-1 octal digits and a NUL, as ustar wants. */
static int put_octal(char *field, size_t width, unsigned long long value)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%0*llo", (int)width - 1, value);

	if (n < 0 || (size_t)n >= width)
		return -EOVERFLOW;
	memcpy(field, tmp, (size_t)n + 1);
	return 0;
}

/* Splits name into the prefix and name fields; 0 or -ENAMETOOLONG. */
static int put_name(char *hdr, const char *name)
{
	size_t len = strlen(name), cut;

	if (len <= 100) {
		memcpy(hdr, name, len);
		return 0;
	}
	/* The last '/' that leaves at most 100 bytes after it. */
	for (cut = len - 1; cut > 0; cut--) {
		if (name[cut] != '/')
			continue;
		if (len - cut - 1 > 100)
			break;
		if (cut <= 155 && len - cut - 1 > 0) {
			memcpy(hdr + 345, name, cut);
			memcpy(hdr, name + cut + 1, len - cut - 1);
			return 0;
		}
	}
	return -ENAMETOOLONG;
}

static int add_entry(struct sm_tar *t, const char *name, unsigned mode,
		     char type, const void *data, size_t len)
{
	char hdr[SM_TAR_BLOCK] = { 0 };
	static const char zeros[SM_TAR_BLOCK] = { 0 };
	size_t pad = (SM_TAR_BLOCK - len % SM_TAR_BLOCK) % SM_TAR_BLOCK;
	size_t old = t->out.len;
	unsigned sum = 0;
	size_t i;
	int r;

	if (t->finished || !name[0] || name[0] == '/')
		return -EINVAL;
	r = put_name(hdr, name);
	if (r)
		return r;
	if (put_octal(hdr + 100, 8, mode & 07777) ||
	    put_octal(hdr + 108, 8, 0) || put_octal(hdr + 116, 8, 0) ||
	    put_octal(hdr + 124, 12, len) || put_octal(hdr + 136, 12, 0))
		return -EFBIG;
	hdr[156] = type;
	memcpy(hdr + 257, "ustar", 6);
	memcpy(hdr + 263, "00", 2);
	/* The checksum is taken with its own field read as spaces. */
	memset(hdr + 148, ' ', 8);
	for (i = 0; i < sizeof(hdr); i++)
		sum += (unsigned char)hdr[i];
	snprintf(hdr + 148, 8, "%06o", sum);
	hdr[155] = ' ';
	if (sm_buf_add(&t->out, hdr, sizeof(hdr)) ||
	    sm_buf_add(&t->out, data, len) || sm_buf_add(&t->out, zeros, pad)) {
		sm_buf_truncate(&t->out, old);
		return -EMSGSIZE;
	}
	return 0;
}

int sm_tar_add_file(struct sm_tar *t, const char *name, unsigned mode,
		    const void *data, size_t len)
{
	return add_entry(t, name, mode, '0', data, len);
}

int sm_tar_add_dir(struct sm_tar *t, const char *name, unsigned mode)
{
	return add_entry(t, name, mode, '5', NULL, 0);
}

int sm_tar_finish(struct sm_tar *t, const char **data, size_t *len)
{
	static const char zeros[2 * SM_TAR_BLOCK] = { 0 };

	if (!t->finished) {
		if (sm_buf_add(&t->out, zeros, sizeof(zeros)))
			return -EMSGSIZE;
		t->finished = 1;
	}
	*data = sm_buf_cstr(&t->out);
	*len = t->out.len;
	return 0;
}
