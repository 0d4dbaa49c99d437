#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/xalloc.h"
#include "common/banned.h"

void sm_die(const char *fmt, ...)
{
	va_list ap;

	fputs("stuurman: fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static void *check(void *p, size_t size)
{
	if (!p && size)
		sm_die("out of memory allocating %zu bytes", size);
	return p;
}

void *xmalloc(size_t size)
{
	return check(malloc(size ? size : 1), size);
}

void *xcalloc(size_t nmemb, size_t size)
{
	if (size && nmemb > (size_t)-1 / size)
		sm_die("allocation overflow: %zu x %zu", nmemb, size);
	return check(calloc(nmemb ? nmemb : 1, size ? size : 1), nmemb * size);
}

void *xrealloc(void *ptr, size_t size)
{
	return check(realloc(ptr, size ? size : 1), size);
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *r = xmalloc(len + 1);

	memcpy(r, s, len);
	r[len] = '\0';
	return r;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	char *r;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		sm_die("vsnprintf failed: %s", strerror(errno));
	r = xmalloc((size_t)n + 1);
	vsnprintf(r, (size_t)n + 1, fmt, ap);
	return r;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *r;

	va_start(ap, fmt);
	r = xvasprintf(fmt, ap);
	va_end(ap);
	return r;
}
