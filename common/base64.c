#include <errno.h>
#include <stdint.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/banned.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			       "abcdefghijklmnopqrstuvwxyz0123456789+/";

int sm_base64_encode(const void *in, size_t len, struct sm_buf *out)
{
	const unsigned char *p = in;
	size_t start = out->len;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		char q[4];

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		q[0] = alphabet[(v >> 18) & 63];
		q[1] = alphabet[(v >> 12) & 63];
		q[2] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? alphabet[v & 63] : '=';
		if (sm_buf_add(out, q, 4)) {
			sm_buf_truncate(out, start);
			return -EMSGSIZE;
		}
	}
	return 0;
}

static int value_of(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

bool sm_base64_valid(const char *s, size_t len, size_t *decoded_len)
{
	size_t pad = 0;

	if (len % 4)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '=') {
			/* Padding only in the last two places. */
			if (i + 2 < len)
				return false;
			pad++;
		} else if (pad || value_of(s[i]) < 0) {
			return false;
		}
	}
	if (decoded_len)
		*decoded_len = len / 4 * 3 - pad;
	return true;
}

int sm_base64_decode(const char *s, size_t len, struct sm_buf *out)
{
	size_t start = out->len;

	if (!sm_base64_valid(s, len, NULL))
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = 0;
		int n = 0;
		char q[3];

		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=')
				break;
			v |= (uint32_t)value_of(s[i + k]) << (18 - 6 * k);
			n++;
		}
		q[0] = (char)(v >> 16);
		q[1] = (char)(v >> 8);
		q[2] = (char)v;
		if (sm_buf_add(out, q, (size_t)(n - 1))) {
			sm_buf_truncate(out, start);
			return -EMSGSIZE;
		}
	}
	return 0;
}
