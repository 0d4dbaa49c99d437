/*
 * url.c: percent-decoding and query string pairs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/url.h"
#include "common/xalloc.h"
#include "common/banned.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sm_url_decode(const char *s, size_t len, bool form, struct sm_buf *out)
{
	size_t start = out->len;
	int rc = 0;

	for (size_t i = 0; i < len && !rc; i++) {
		char c = s[i];

		if (c == '%') {
			if (i + 2 >= len || hexval(s[i + 1]) < 0 ||
			    hexval(s[i + 2]) < 0) {
				rc = -EINVAL;
				break;
			}
			c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			if (!c) {
				rc = -EINVAL;
				break;
			}
			i += 2;
		} else if (c == '+' && form) {
			c = ' ';
		} else if (!c) {
			rc = -EINVAL;
			break;
		}
		rc = sm_buf_addch(out, c);
	}
	if (rc)
		sm_buf_truncate(out, start);
	return rc;
}

void sm_query_init(struct sm_query *q, const char *query)
{
	size_t n = query ? strlen(query) : 0;

	q->next = query ? query : "";
	sm_buf_init(&q->key, n);
	sm_buf_init(&q->value, n);
}

void sm_query_release(struct sm_query *q)
{
	sm_buf_release(&q->key);
	sm_buf_release(&q->value);
	q->next = "";
}

int sm_query_next(struct sm_query *q, const char **key, const char **value,
		  struct sm_err *err)
{
	const char *p, *eq;
	size_t n, kl;

	while (*q->next == '&')
		q->next++;
	if (!*q->next)
		return 0;
	p = q->next;
	n = strcspn(p, "&");
	q->next = p + n;
	eq = memchr(p, '=', n);
	kl = eq ? (size_t)(eq - p) : n;
	sm_buf_reset(&q->key);
	sm_buf_reset(&q->value);
	if (sm_url_decode(p, kl, true, &q->key) ||
	    (eq && sm_url_decode(eq + 1, n - kl - 1, true, &q->value))) {
		if (err)
			sm_error(err, NULL,
				 "query parameter \"%.*s\": invalid "
				 "percent-encoding",
				 (int)(n > 200 ? 200 : n), p);
		return -EINVAL;
	}
	*key = sm_buf_cstr(&q->key);
	*value = sm_buf_cstr(&q->value);
	return 1;
}

int sm_query_get(const char *query, const char *key, char **value,
		 struct sm_err *err)
{
	struct sm_query q;
	const char *k, *v;
	int rc;

	*value = NULL;
	sm_query_init(&q, query);
	while ((rc = sm_query_next(&q, &k, &v, err)) == 1) {
		if (!strcmp(k, key)) {
			*value = xstrdup(v);
			break;
		}
	}
	sm_query_release(&q);
	return rc;
}
