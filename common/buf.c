#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "common/banned.h"

void sm_buf_init(struct sm_buf *b, size_t max)
{
	b->buf = NULL;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

void sm_buf_release(struct sm_buf *b)
{
	free(b->buf);
	sm_buf_init(b, b->max);
}

void sm_buf_reset(struct sm_buf *b)
{
	sm_buf_truncate(b, 0);
}

void sm_buf_truncate(struct sm_buf *b, size_t len)
{
	SM_BUG_ON(len > b->len);
	b->len = len;
	if (b->buf)
		b->buf[len] = '\0';
}

/* Makes room for extra more bytes plus the NUL, within max. */
static int grow(struct sm_buf *b, size_t extra)
{
	size_t want, n;

	if (extra > b->max || b->len > b->max - extra)
		return -EMSGSIZE;
	want = b->len + extra + 1;
	if (want <= b->alloc)
		return 0;
	n = b->alloc < 64 ? 64 : b->alloc;
	while (n < want)
		n = n > SIZE_MAX / 2 ? want : n * 2;
	b->buf = xrealloc(b->buf, n);
	b->alloc = n;
	return 0;
}

int sm_buf_add(struct sm_buf *b, const void *data, size_t len)
{
	int r = grow(b, len);

	if (r)
		return r;
	if (len)
		memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return 0;
}

int sm_buf_adds(struct sm_buf *b, const char *s)
{
	return sm_buf_add(b, s, strlen(s));
}

int sm_buf_addch(struct sm_buf *b, char c)
{
	return sm_buf_add(b, &c, 1);
}

int sm_buf_vaddf(struct sm_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n, r;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return -EINVAL;
	r = grow(b, (size_t)n);
	if (r)
		return r;
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int sm_buf_addf(struct sm_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = sm_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return r;
}

const char *sm_buf_cstr(const struct sm_buf *b)
{
	return b->buf ? b->buf : "";
}

char *sm_buf_detach(struct sm_buf *b, size_t *len)
{
	char *r = b->buf ? b->buf : xstrdup("");

	if (len)
		*len = b->len;
	sm_buf_init(b, b->max);
	return r;
}

int sm_buf_read_file(struct sm_buf *b, const char *path)
{
	struct stat st;
	size_t start = b->len;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > b->max - b->len) {
		r = -EFBIG;
		goto out;
	}
	if (S_ISREG(st.st_mode) && (r = grow(b, (size_t)st.st_size)))
		goto out;
	for (;;) {
		size_t room = b->max - b->len < 4096 ? b->max - b->len : 4096;
		ssize_t n;

		if (room == 0) {
			/* Full: the file fits only if nothing more is left. */
			char c;

			n = read(fd, &c, 1);
			r = n == 0 ? 0 : n < 0 ? -errno : -EFBIG;
			break;
		}
		if ((r = grow(b, room)))
			break;
		n = read(fd, b->buf + b->len, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
	}
out:
	if (r && b->buf)
		sm_buf_truncate(b, start);
	if (b->buf)
		b->buf[b->len] = '\0';
	close(fd);
	return r;
}
