/*
 * log.c: the process-wide logger.
 *
 * Each line is built whole in a buffer and written with one fwrite and a
 * flush, so lines from a loop thread and a worker thread never interleave
 * within a line (stdio locks the stream per call). The settings are plain
 * globals: sm_log_setup() runs in main() before any other thread starts,
 * and later calls are expected from the loop thread only.
 *
 * One record is one line in both formats: the text format escapes control
 * characters in the message and in values, and the json format is built
 * with jansson, which escapes strings itself. jansson refuses invalid
 * UTF-8, so such bytes become U+FFFD first rather than losing the line.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/banned.h"

static struct {
	enum sm_log_level min;
	enum sm_log_format fmt;
	FILE *out; /* NULL means stderr */
	const struct sm_clock *clock; /* NULL means sm_clock_system */
} logger = { SM_LOG_INFO, SM_LOG_TEXT, NULL, NULL };

static const char *const level_names[] = {
	[SM_LOG_DEBUG] = "debug",
	[SM_LOG_INFO] = "info",
	[SM_LOG_WARN] = "warn",
	[SM_LOG_ERROR] = "error",
};

static const char *const format_names[] = {
	[SM_LOG_TEXT] = "text",
	[SM_LOG_JSON] = "json",
};

void sm_log_setup(enum sm_log_level min, enum sm_log_format fmt, FILE *out,
		  const struct sm_clock *clock)
{
	logger.min = min;
	logger.fmt = fmt;
	logger.out = out;
	logger.clock = clock;
}

enum sm_log_level sm_log_min_level(void)
{
	return logger.min;
}

/* Case does not matter: LOG_LEVEL=WARN is as good as --log-level=warn. */
static int parse_name(const char *s, const char *const *names, size_t nr)
{
	for (size_t i = 0; s && i < nr; i++)
		if (!strcasecmp(s, names[i]))
			return (int)i;
	return -EINVAL;
}

int sm_log_level_parse(const char *s, enum sm_log_level *out)
{
	int i = parse_name(s, level_names, SM_ARRAY_SIZE(level_names));

	if (i < 0)
		return i;
	*out = (enum sm_log_level)i;
	return 0;
}

int sm_log_format_parse(const char *s, enum sm_log_format *out)
{
	int i = parse_name(s, format_names, SM_ARRAY_SIZE(format_names));

	if (i < 0)
		return i;
	*out = (enum sm_log_format)i;
	return 0;
}

const char *sm_log_level_name(enum sm_log_level l)
{
	if ((unsigned)l >= SM_ARRAY_SIZE(level_names))
		return "unknown";
	return level_names[l];
}

/*
 * Appends s with control characters escaped, C style, so that text lines
 * stay one line each. With quote set, also escapes '"' and '\\' (for a
 * value inside quotes).
 */
static void add_escaped(struct sm_buf *b, const char *s, bool quote)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n')
			sm_buf_adds(b, "\\n");
		else if (*p == '\r')
			sm_buf_adds(b, "\\r");
		else if (*p == '\t')
			sm_buf_adds(b, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			sm_buf_addf(b, "\\x%02x", *p);
		else if (quote && (*p == '"' || *p == '\\'))
			sm_buf_addf(b, "\\%c", *p);
		else
			sm_buf_addch(b, (char)*p);
	}
}

/* A text value needs quotes when it is empty or has spaces, '"' or '='. */
static bool needs_quotes(const char *v)
{
	if (!*v)
		return true;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == 0x7f)
			return true;
	return false;
}

static void format_text(struct sm_buf *line, const char *time,
			enum sm_log_level l, const char *component,
			const char *msg, const char *const *kv)
{
	sm_buf_addf(line, "%s %-5s ", time, sm_log_level_name(l));
	if (component)
		sm_buf_addf(line, "%s: ", component);
	add_escaped(line, msg, false);
	/* A NULL value also ends the list: nothing after it is read. */
	for (; kv && kv[0]; kv = kv[1] ? kv + 2 : NULL) {
		const char *v = kv[1] ? kv[1] : "(null)";

		sm_buf_addf(line, " %s=", kv[0]);
		if (needs_quotes(v)) {
			sm_buf_addch(line, '"');
			add_escaped(line, v, true);
			sm_buf_addch(line, '"');
		} else {
			add_escaped(line, v, false);
		}
	}
}

/* Length of the valid UTF-8 sequence at p, or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n;
	unsigned min, cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 2, cp = p[0] & 0x1F, min = 0x80;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		n = 3, cp = p[0] & 0x0F, min = 0x800;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* A new json string of s, with invalid UTF-8 bytes as U+FFFD. */
static json_t *json_string_lossy(const char *s)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const unsigned char *p = (const unsigned char *)s;
	json_t *j = json_string(s);

	if (j)
		return j;
	while (*p) {
		size_t n = utf8_len(p);

		if (n) {
			sm_buf_add(&b, p, n);
			p += n;
		} else {
			sm_buf_adds(&b, "\xef\xbf\xbd");
			p++;
		}
	}
	j = json_stringn(sm_buf_cstr(&b), b.len);
	sm_buf_release(&b);
	return j;
}

/*
 * Adds key = value to a json line without overwriting: a field that would
 * clash with "msg" or an earlier field gets a "_" in front instead, so
 * nothing is dropped.
 */
static void json_add_field(json_t *obj, const char *key, json_t *value)
{
	struct sm_buf k = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	sm_buf_adds(&k, key);
	while (json_object_get(obj, sm_buf_cstr(&k))) {
		sm_buf_addch(&k, '_');
		memmove(k.buf + 1, k.buf, k.len - 1);
		k.buf[0] = '_';
	}
	/* Steals value even when it fails (a key that is not UTF-8). */
	json_object_set_new(obj, sm_buf_cstr(&k), value);
	sm_buf_release(&k);
}

static void format_json(struct sm_buf *line, const char *time,
			enum sm_log_level l, const char *component,
			const char *msg, const char *const *kv)
{
	json_t *obj = json_object();
	char *text;

	/* jansson keeps insertion order, so the fixed fields come first. */
	json_object_set_new(obj, "time", json_string(time));
	json_object_set_new(obj, "level", json_string(sm_log_level_name(l)));
	if (component)
		json_add_field(obj, "component", json_string_lossy(component));
	json_add_field(obj, "msg", json_string_lossy(msg));
	for (; kv && kv[0]; kv = kv[1] ? kv + 2 : NULL)
		json_add_field(obj, kv[0],
			       kv[1] ? json_string_lossy(kv[1]) : json_null());
	text = json_dumps(obj, JSON_COMPACT);
	if (text) {
		sm_buf_adds(line, text);
		free(text);
	}
	json_decref(obj);
}

static void log_line(enum sm_log_level l, const char *component,
		     const char *const *kv, const char *fmt, va_list ap)
	SM_PRINTF(4, 0);
static void log_line(enum sm_log_level l, const char *component,
		     const char *const *kv, const char *fmt, va_list ap)
{
	const struct sm_clock *clock =
		logger.clock ? logger.clock : &sm_clock_system;
	struct sm_buf msg = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf line = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	FILE *out = logger.out ? logger.out : stderr;
	char time[SM_TIME_RFC3339_LEN];

	if (sm_time_rfc3339(sm_clock_realtime_ns(clock), 1, time, sizeof(time)))
		memcpy(time, "-", 2);
	if (sm_buf_vaddf(&msg, fmt, ap))
		sm_buf_adds(&msg, fmt); /* a broken format: show it as is */
	if (logger.fmt == SM_LOG_JSON)
		format_json(&line, time, l, component, sm_buf_cstr(&msg), kv);
	else
		format_text(&line, time, l, component, sm_buf_cstr(&msg), kv);
	sm_buf_addch(&line, '\n');
	fwrite(line.buf, 1, line.len, out);
	fflush(out);
	sm_buf_release(&msg);
	sm_buf_release(&line);
}

void sm_vlog(enum sm_log_level l, const char *component, const char *fmt,
	     va_list ap)
{
	if (l < logger.min)
		return;
	log_line(l, component, NULL, fmt, ap);
}

void sm_log(enum sm_log_level l, const char *component, const char *fmt, ...)
{
	va_list ap;

	if (l < logger.min)
		return;
	va_start(ap, fmt);
	log_line(l, component, NULL, fmt, ap);
	va_end(ap);
}

void sm_log_kv(enum sm_log_level l, const char *component,
	       const char *const *kv, const char *fmt, ...)
{
	va_list ap;

	if (l < logger.min)
		return;
	va_start(ap, fmt);
	log_line(l, component, kv, fmt, ap);
	va_end(ap);
}
