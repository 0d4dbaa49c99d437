/*
 * log.c: the process's one logger. Each line is built in a buffer first and
 * written with one fwrite, so lines from one process never interleave.
 */
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/banned.h"

static struct {
	enum sm_log_level min;
	enum sm_log_format format;
	FILE *out;
	const struct sm_clock *clock;
} logger = { SM_LOG_INFO, SM_LOG_TEXT, NULL, NULL };

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void sm_log_setup(enum sm_log_level min, enum sm_log_format fmt, FILE *out,
		  const struct sm_clock *clock)
{
	logger.min = min;
	logger.format = fmt;
	logger.out = out;
	logger.clock = clock;
}

enum sm_log_level sm_log_min_level(void)
{
	return logger.min;
}

const char *sm_log_level_name(enum sm_log_level l)
{
	return l <= SM_LOG_ERROR ? level_names[l] : "unknown";
}

int sm_log_level_parse(const char *s, enum sm_log_level *out)
{
	for (int i = 0; i <= SM_LOG_ERROR; i++) {
		if (!strcmp(s, level_names[i])) {
			*out = (enum sm_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int sm_log_format_parse(const char *s, enum sm_log_format *out)
{
	if (!strcmp(s, "text"))
		*out = SM_LOG_TEXT;
	else if (!strcmp(s, "json"))
		*out = SM_LOG_JSON;
	else
		return -EINVAL;
	return 0;
}

/* A text value needs quotes when it is empty or holds spaces or quotes. */
static void add_text_value(struct sm_buf *b, const char *v)
{
	if (*v && !strpbrk(v, " \t\n\"=")) {
		sm_buf_adds(b, v);
		return;
	}
	sm_buf_addch(b, '"');
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			sm_buf_addch(b, '\\');
		if (*v == '\n')
			sm_buf_adds(b, "\\n");
		else
			sm_buf_addch(b, *v);
	}
	sm_buf_addch(b, '"');
}

static void emit(enum sm_log_level l, const char *component,
		 const char *const *kv, const char *fmt, va_list ap)
	SM_PRINTF(4, 0);
static void emit(enum sm_log_level l, const char *component,
		 const char *const *kv, const char *fmt, va_list ap)
{
	const struct sm_clock *clock = logger.clock ? logger.clock :
						      &sm_clock_system;
	struct sm_buf msg = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf line = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char ts[SM_TIME_RFC3339_LEN];
	FILE *out = logger.out ? logger.out : stderr;

	if (sm_time_rfc3339(sm_clock_realtime_ns(clock), 1, ts, sizeof(ts)))
		ts[0] = '\0';
	sm_buf_vaddf(&msg, fmt, ap);
	if (logger.format == SM_LOG_JSON) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "time", ts,
				      "level", sm_log_level_name(l),
				      "component", component ? component : "",
				      "msg", sm_buf_cstr(&msg));
		char *text;

		for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
			json_object_set_new(o, kv[i], json_string(kv[i + 1]));
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		sm_buf_adds(&line, text ? text : "{}");
		free(text);
		json_decref(o);
	} else {
		sm_buf_addf(&line, "%s %-5s %s%s%s", ts, sm_log_level_name(l),
			    component ? component : "", component ? ": " : "",
			    sm_buf_cstr(&msg));
		for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2) {
			sm_buf_addf(&line, " %s=", kv[i]);
			add_text_value(&line, kv[i + 1]);
		}
	}
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
	emit(l, component, NULL, fmt, ap);
}

void sm_log(enum sm_log_level l, const char *component, const char *fmt, ...)
{
	va_list ap;

	if (l < logger.min)
		return;
	va_start(ap, fmt);
	emit(l, component, NULL, fmt, ap);
	va_end(ap);
}

void sm_log_kv(enum sm_log_level l, const char *component,
	       const char *const *kv, const char *fmt, ...)
{
	va_list ap;

	if (l < logger.min)
		return;
	va_start(ap, fmt);
	emit(l, component, kv, fmt, ap);
	va_end(ap);
}
