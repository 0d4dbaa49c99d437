/*
 * url.h: percent-decoding and query strings.
 *
 * A query string is key=value pairs joined by '&', each side
 * percent-encoded, with '+' for a space (application/x-www-form-urlencoded,
 * as Go's url.Values encodes what kubectl sends). Keys may repeat and keep
 * their order: exec sends command=sh&command=-c&command=... . A pair
 * without '=' has the empty value ("watch" is watch=""); empty pairs
 * ("a=1&&b=2") are skipped.
 *
 * Decoded text never contains a NUL ("%00" is refused), so keys and values
 * can be used as C strings. Decoding never makes text longer, so the
 * request line's own bound bounds every result.
 */
#ifndef SM_URL_H
#define SM_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

struct sm_err;

/*
 * Appends the decoding of s[0..len) to out. With form, '+' is a space
 * (query strings); without, it stays '+' (paths). Returns 0, -EINVAL for a
 * '%' not followed by two hex digits or for "%00" (out unchanged), or
 * -EMSGSIZE when out is full (out unchanged).
 */
int sm_url_decode(const char *s, size_t len, bool form, struct sm_buf *out);

/* An iterator over a query string's pairs; see sm_query_next(). */
struct sm_query {
	const char *next; /* borrowed: the rest of the query string */
	struct sm_buf key, value;
};

/* query (may be NULL: no pairs) must outlive the iterator. */
void sm_query_init(struct sm_query *q, const char *query);
void sm_query_release(struct sm_query *q);

/*
 * Decodes the next pair. Returns 1 with *key and *value set (borrowed,
 * valid until the next call or release), 0 when there are no more, or
 * -EINVAL for a pair that does not decode, with a message in err (may be
 * NULL) naming it: query parameter "a=%zz": invalid percent-encoding.
 * After -EINVAL the pair is skipped and iteration may go on.
 */
int sm_query_next(struct sm_query *q, const char **key, const char **value,
		  struct sm_err *err);

/*
 * The first value of key in query: returns 1 with *value (new, free()), 0
 * when key is absent (*value NULL), or -EINVAL when any pair fails to
 * decode (message in err; *value NULL).
 */
int sm_query_get(const char *query, const char *key, char **value,
		 struct sm_err *err);

#endif
