/*
 * json.c: shared jansson helpers, the canonical dump and the YAML writer.
 *
 * The YAML writer decides each string's style itself rather than leaving
 * it to libyaml, because libyaml knows nothing of schemas: it would happily
 * write the string "true" plain, and a reader would get a boolean back. The
 * rule is conservative: a string is written plain only when every common
 * reader (YAML 1.2 core schema, and YAML 1.1 readers with their yes/no
 * booleans, sexagesimal numbers and timestamps) reads it back as the same
 * string; otherwise it is double-quoted. Quoting too much costs two
 * characters; quoting too little changes the data.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "common/banned.h"

const char *sm_json_type_name(const json_t *j)
{
	if (!j)
		return "null";
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/* What json_dump_callback writes into: the buffer and why it stopped. */
struct dump_ctx {
	struct sm_buf *out;
	int err;
};

static int dump_cb(const char *data, size_t size, void *ctx)
{
	struct dump_ctx *d = ctx;
	int r = sm_buf_add(d->out, data, size);

	if (r) {
		d->err = r;
		return -1;
	}
	return 0;
}

int sm_json_dump_canonical(const json_t *j, struct sm_buf *out)
{
	struct dump_ctx d = { out, 0 };
	size_t start = out->len;

	if (!j)
		return -EINVAL;
	if (json_dump_callback(j, dump_cb, &d,
			       JSON_COMPACT | JSON_SORT_KEYS |
				       JSON_ENCODE_ANY)) {
		/* A failed append leaves the buffer as it was, like sm_buf. */
		if (out->buf)
			sm_buf_truncate(out, start);
		return d.err ? d.err : -EINVAL;
	}
	return 0;
}

json_t *sm_json_get_path(const json_t *root, const char *path)
{
	json_t *cur = (json_t *)root;
	const char *p = path;

	if (!root || !path)
		return NULL;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (!json_is_object(cur))
			return NULL;
		cur = json_object_getn(cur, p, len);
		if (!cur || !dot)
			return cur;
		p = dot + 1;
	}
}

const char *sm_json_get_str(const json_t *obj, const char *key)
{
	json_t *v;

	if (!json_is_object(obj) || !key)
		return NULL;
	v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int sm_json_pointer_add_key(struct sm_buf *ptr, const char *key)
{
	size_t start = ptr->len;
	int r = sm_buf_addch(ptr, '/');

	/* Copy runs of plain characters at once: this is on the parse path. */
	for (const char *p = key; !r && *p;) {
		size_t n = strcspn(p, "~/");

		if (n)
			r = sm_buf_add(ptr, p, n);
		p += n;
		if (!r && *p)
			r = sm_buf_add(ptr, *p++ == '~' ? "~0" : "~1", 2);
	}
	/* All or nothing, so a caller can go on with the old pointer. */
	if (r && ptr->buf)
		sm_buf_truncate(ptr, start);
	return r;
}

int sm_json_pointer_add_index(struct sm_buf *ptr, size_t index)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do
		tmp[--i] = (char)('0' + index % 10);
	while ((index /= 10));
	tmp[--i] = '/';
	return sm_buf_add(ptr, tmp + i, sizeof(tmp) - i);
}

/*
 * Formats a real so that it reads back as the same double and, in YAML, as
 * a float rather than an integer: the shortest "%.*g" that round-trips,
 * with a "." in the mantissa ("1.0", "1.0e+20"). YAML 1.1 readers need the
 * dot, and a signed exponent, which "%g" always writes. out holds at least
 * REAL_LEN bytes.
 */
#define REAL_LEN 40

static void format_real(double v, char *out)
{
	char *e;
	size_t n;

	if (isnan(v)) {
		memcpy(out, ".nan", 5);
		return;
	}
	if (isinf(v)) {
		memcpy(out, v < 0 ? "-.inf" : ".inf", v < 0 ? 6 : 5);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, REAL_LEN, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
	/* A locale may have turned the decimal point into a comma. */
	for (char *p = out; *p; p++)
		if (*p == ',')
			*p = '.';
	if (strchr(out, '.'))
		return;
	n = strlen(out);
	e = strchr(out, 'e');
	if (e) {
		memmove(e + 2, e, n - (size_t)(e - out) + 1);
		e[0] = '.';
		e[1] = '0';
	} else {
		memcpy(out + n, ".0", 3);
	}
}

/* How much of a string sm_json_describe shows before cutting it. */
#define DESCRIBE_MAX 60

int sm_json_describe(const json_t *j, struct sm_buf *out)
{
	char num[REAL_LEN];
	size_t start = out->len, len;
	const char *s;
	json_t *cut;
	char *text;
	int r;

	switch (j ? json_typeof(j) : JSON_NULL) {
	case JSON_OBJECT:
		return sm_buf_adds(out, "object");
	case JSON_ARRAY:
		return sm_buf_adds(out, "array");
	case JSON_INTEGER:
		return sm_buf_addf(out, "%" JSON_INTEGER_FORMAT,
				   json_integer_value(j));
	case JSON_REAL:
		format_real(json_real_value(j), num);
		return sm_buf_adds(out, num);
	case JSON_TRUE:
		return sm_buf_adds(out, "true");
	case JSON_FALSE:
		return sm_buf_adds(out, "false");
	case JSON_NULL:
		return sm_buf_adds(out, "null");
	case JSON_STRING:
		break;
	}

	/*
	 * Cut on a character boundary, then let jansson escape quotes and
	 * control characters so a message stays on one line.
	 */
	s = json_string_value(j);
	len = json_string_length(j);
	if (len > DESCRIBE_MAX) {
		len = DESCRIBE_MAX;
		while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
			len--;
	}
	cut = json_stringn_nocheck(s, len);
	text = cut ? json_dumps(cut, JSON_ENCODE_ANY) : NULL;
	json_decref(cut);
	if (!text)
		return -ENOMEM;
	if (len < json_string_length(j)) {
		/* "text..." : the dots go inside the closing quote. */
		r = sm_buf_add(out, text, strlen(text) - 1);
		if (!r)
			r = sm_buf_adds(out, "...\"");
	} else {
		r = sm_buf_adds(out, text);
	}
	free(text);
	if (r && out->buf)
		sm_buf_truncate(out, start);
	return r;
}

/* ---- YAML ------------------------------------------------------------ */

static bool word_in(const char *s, size_t len, const char *const *words)
{
	for (; *words; words++)
		if (strlen(*words) == len && !strncasecmp(s, *words, len))
			return true;
	return false;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex_or_underscore(char c)
{
	return isxdigit((unsigned char)c) || c == '_';
}

/*
 * True when a plain scalar could be read as a number by a YAML 1.2 core
 * schema reader or a YAML 1.1 reader: decimal, 0x/0o/0b with an optional
 * sign, underscores, sexagesimal "1:30", floats with or without exponent,
 * "1.2.3" and "." (1.1 floats by the letter of its regex), .inf and .nan.
 * It errs on the side of "yes".
 */
static bool looks_like_number(const char *s, size_t len)
{
	const char *p = s, *end = s + len, *q;
	size_t digits = 0;
	bool dot = false;

	if (p < end && (*p == '+' || *p == '-'))
		p++;
	if (p == end)
		return false;
	if (*p == '.' && end - p == 4 &&
	    (!strncasecmp(p + 1, "inf", 3) || !strncasecmp(p + 1, "nan", 3)))
		return true;
	if (end - p > 2 && p[0] == '0' && strchr("xXoObB", p[1])) {
		for (q = p + 2; q < end && is_hex_or_underscore(*q); q++)
			;
		if (q == end)
			return true;
	}
	for (; p < end && (is_digit(*p) || *p == '_'); p++)
		digits += is_digit(*p);
	while (p < end && *p == ':')
		for (p++; p < end && (is_digit(*p) || *p == '_'); p++)
			digits += is_digit(*p);
	if (p < end && *p == '.') {
		dot = true;
		for (p++; p < end && (is_digit(*p) || *p == '_' || *p == '.');
		     p++)
			digits += is_digit(*p);
	}
	/* The 1.1 float regex even matches "." and "+.": quote them too. */
	if (!digits && !dot)
		return false;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		for (q = p; p < end && is_digit(*p); p++)
			;
		if (p == q)
			return false;
	}
	return p == end;
}

/* YAML 1.1 timestamps start "YYYY-M-D"; any such string is quoted. */
static bool looks_like_timestamp(const char *s, size_t len)
{
	size_t i = 0, n;

	for (; i < 4; i++)
		if (i >= len || !is_digit(s[i]))
			return false;
	for (int part = 0; part < 2; part++) {
		if (i >= len || s[i++] != '-')
			return false;
		for (n = 0; i < len && is_digit(s[i]) && n < 2; i++, n++)
			;
		if (!n)
			return false;
	}
	return true;
}

/* Would a reader resolve this plain scalar to anything but a string? */
static bool resolves_to_non_string(const char *s, size_t len)
{
	/* clang-format off */
	static const char *const words[] = {
		/* 1.2 core null and booleans, in any case to be safe. */
		"null", "true", "false",
		/* 1.1 booleans, which older readers still apply. */
		"yes", "no", "on", "off", "y", "n",
		/* 1.1 merge and value keys. */
		"<<", "=",
		NULL,
	};
	/* clang-format on */

	if (len == 0 || (len == 1 && s[0] == '~'))
		return true;
	return word_in(s, len, words) || looks_like_number(s, len) ||
	       looks_like_timestamp(s, len);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Length of the UTF-8 character at s[i] if libyaml considers it printable
 * and not a line break, else 0. Mirrors libyaml's own test so that a
 * string we write plain is one libyaml agrees to write plain.
 */
static size_t printable_char(const unsigned char *s, size_t i, size_t len)
{
	unsigned char c = s[i];
	unsigned char c1 = i + 1 < len ? s[i + 1] : 0;
	unsigned char c2 = i + 2 < len ? s[i + 2] : 0;

	if (c >= 0x20 && c <= 0x7E)
		return 1;
	if (c == 0xC2)
		return c1 >= 0xA0 ? 2 : 0;
	if (c > 0xC2 && c < 0xE0)
		return 2;
	if (c == 0xE2 && c1 == 0x80 && (c2 == 0xA8 || c2 == 0xA9))
		return 0; /* U+2028, U+2029: line breaks to YAML */
	if (c >= 0xE0 && c < 0xED)
		return 3;
	if (c == 0xED)
		return c1 < 0xA0 ? 3 : 0;
	if (c == 0xEE)
		return 3;
	if (c == 0xEF) {
		if ((c1 == 0xBB && c2 == 0xBF) ||
		    (c1 == 0xBF && (c2 == 0xBE || c2 == 0xBF)))
			return 0;
		return 3;
	}
	/* Controls, and 4-byte characters libyaml always escapes. */
	return 0;
}

/*
 * True when s can be written as a plain scalar in block context and read
 * back as the same string. Stricter than libyaml, never looser, so libyaml
 * never has to pick single quotes on its own.
 */
static bool plain_ok(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	if (resolves_to_non_string(s, len))
		return false;
	if (s[0] == ' ' || s[len - 1] == ' ')
		return false;
	if (len >= 3 && (!strncmp(s, "---", 3) || !strncmp(s, "...", 3)))
		return false;
	if (strchr("#,[]{}&*!|>'\"%@`?:", s[0]))
		return false;
	if (s[0] == '-' && (len == 1 || is_blank(s[1])))
		return false;
	for (size_t i = 0; i < len;) {
		size_t w = printable_char(u, i, len);

		if (!w)
			return false;
		if (s[i] == ':' && (i + 1 == len || is_blank(s[i + 1])))
			return false;
		if (s[i] == '#' && i > 0 && is_blank(s[i - 1]))
			return false;
		i += w;
	}
	return true;
}

struct yaml_out {
	yaml_emitter_t emitter;
	struct sm_buf *out;
	int err; /* why the output handler refused, if it did */
};

static int yaml_write(void *data, unsigned char *buffer, size_t size)
{
	struct yaml_out *y = data;
	int r = sm_buf_add(y->out, buffer, size);

	if (r) {
		y->err = r;
		return 0;
	}
	return 1;
}

/* Emits an event; libyaml owns it from here on, whatever happens. */
static int emit(struct yaml_out *y, yaml_event_t *ev)
{
	if (!yaml_emitter_emit(&y->emitter, ev))
		return y->err ? y->err : -EINVAL;
	return 0;
}

static int emit_scalar(struct yaml_out *y, const char *s, size_t len,
		       bool plain_implicit, yaml_scalar_style_t style)
{
	yaml_event_t ev;

	if (len > INT_MAX)
		return -EMSGSIZE;
	/* Fails for invalid UTF-8 (or out of memory). */
	if (!yaml_scalar_event_initialize(&ev, NULL, NULL,
					  (const yaml_char_t *)s, (int)len,
					  plain_implicit, 1, style))
		return -EINVAL;
	return emit(y, &ev);
}

static int emit_string(struct yaml_out *y, const char *s, size_t len)
{
	yaml_scalar_style_t style;

	/*
	 * Multi-line text reads best as a literal block; libyaml falls back
	 * to double quotes when the text cannot be one (tabs, trailing
	 * spaces, or a key).
	 */
	if (len && memchr(s, '\n', len))
		style = YAML_LITERAL_SCALAR_STYLE;
	else if (len && plain_ok(s, len))
		style = YAML_PLAIN_SCALAR_STYLE;
	else
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	return emit_scalar(y, s, len, style == YAML_PLAIN_SCALAR_STYLE, style);
}

struct member {
	const char *key;
	size_t len;
	json_t *value;
};

static int member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Deeper than this is a cycle or an attack; jansson's parser stops at 2048. */
#define YAML_MAX_DEPTH 4096

static int emit_value(struct yaml_out *y, const json_t *j, int depth);

static int emit_object(struct yaml_out *y, const json_t *j, int depth)
{
	size_t n = json_object_size(j), i = 0;
	struct member *m;
	yaml_event_t ev;
	int r;

	if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
						 n ? YAML_BLOCK_MAPPING_STYLE
						   : YAML_FLOW_MAPPING_STYLE))
		return -ENOMEM;
	if ((r = emit(y, &ev)))
		return r;
	m = xcalloc(n ? n : 1, sizeof(*m));
	for (void *it = json_object_iter((json_t *)j); it;
	     it = json_object_iter_next((json_t *)j, it), i++) {
		m[i].key = json_object_iter_key(it);
		m[i].len = json_object_iter_key_len(it);
		m[i].value = json_object_iter_value(it);
	}
	qsort(m, n, sizeof(*m), member_cmp);
	for (i = 0, r = 0; i < n && !r; i++) {
		r = emit_string(y, m[i].key, m[i].len);
		if (!r)
			r = emit_value(y, m[i].value, depth + 1);
	}
	free(m);
	if (r)
		return r;
	yaml_mapping_end_event_initialize(&ev);
	return emit(y, &ev);
}

static int emit_array(struct yaml_out *y, const json_t *j, int depth)
{
	size_t n = json_array_size(j);
	yaml_event_t ev;
	int r;

	if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
						  n ? YAML_BLOCK_SEQUENCE_STYLE
						    : YAML_FLOW_SEQUENCE_STYLE))
		return -ENOMEM;
	if ((r = emit(y, &ev)))
		return r;
	for (size_t i = 0; i < n; i++)
		if ((r = emit_value(y, json_array_get(j, i), depth + 1)))
			return r;
	yaml_sequence_end_event_initialize(&ev);
	return emit(y, &ev);
}

static int emit_value(struct yaml_out *y, const json_t *j, int depth)
{
	char num[REAL_LEN];
	int n;

	if (depth > YAML_MAX_DEPTH)
		return -ELOOP;
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return emit_object(y, j, depth);
	case JSON_ARRAY:
		return emit_array(y, j, depth);
	case JSON_STRING:
		return emit_string(y, json_string_value(j),
				   json_string_length(j));
	case JSON_INTEGER:
		n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			     json_integer_value(j));
		return emit_scalar(y, num, (size_t)n, true,
				   YAML_PLAIN_SCALAR_STYLE);
	case JSON_REAL:
		format_real(json_real_value(j), num);
		return emit_scalar(y, num, strlen(num), true,
				   YAML_PLAIN_SCALAR_STYLE);
	case JSON_TRUE:
		return emit_scalar(y, "true", 4, true, YAML_PLAIN_SCALAR_STYLE);
	case JSON_FALSE:
		return emit_scalar(y, "false", 5, true,
				   YAML_PLAIN_SCALAR_STYLE);
	case JSON_NULL:
		return emit_scalar(y, "null", 4, true, YAML_PLAIN_SCALAR_STYLE);
	}
	return -EINVAL;
}

int sm_json_to_yaml(const json_t *j, struct sm_buf *out)
{
	struct yaml_out y = { .out = out };
	size_t start = out->len;
	yaml_event_t ev;
	int r;

	if (!j)
		return -EINVAL;
	if (!yaml_emitter_initialize(&y.emitter))
		return -ENOMEM;
	yaml_emitter_set_output(&y.emitter, yaml_write, &y);
	yaml_emitter_set_unicode(&y.emitter, 1);
	yaml_emitter_set_indent(&y.emitter, 2);
	/* Never fold long lines: one value, one line, easy to diff. */
	yaml_emitter_set_width(&y.emitter, -1);

	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	r = emit(&y, &ev);
	if (!r) {
		yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
		r = emit(&y, &ev);
	}
	if (!r)
		r = emit_value(&y, j, 0);
	if (!r) {
		yaml_document_end_event_initialize(&ev, 1);
		r = emit(&y, &ev);
	}
	if (!r) {
		yaml_stream_end_event_initialize(&ev);
		r = emit(&y, &ev);
	}
	if (!r && !yaml_emitter_flush(&y.emitter))
		r = y.err ? y.err : -EIO;
	yaml_emitter_delete(&y.emitter);
	if (!r && (out->len == start || out->buf[out->len - 1] != '\n'))
		r = sm_buf_addch(out, '\n');
	if (r && out->buf)
		sm_buf_truncate(out, start);
	return r;
}
