/*
 * base64.h: standard base64 (RFC 4648, with padding), as Kubernetes uses it
 * for Secret data and ConfigMap binaryData.
 */
#ifndef SM_BASE64_H
#define SM_BASE64_H

#include <stdbool.h>
#include <stddef.h>

struct sm_buf;

/* Appends the encoding of in[0..len) to out; -EMSGSIZE when out is full. */
int sm_base64_encode(const void *in, size_t len, struct sm_buf *out);

/*
 * Appends the decoding of s to out. Returns 0, -EINVAL when s is not valid
 * padded base64 (out unchanged), or -EMSGSIZE.
 */
int sm_base64_decode(const char *s, size_t len, struct sm_buf *out);

/* Whether s is valid padded base64; *decoded_len (if set) its decoded size. */
bool sm_base64_valid(const char *s, size_t len, size_t *decoded_len);

#endif
