/*
 * log.h: the process's log.
 *
 * One logger per process, set up by main(). Lines go to one stream (stderr
 * by default) in one of two formats:
 *   text, for people:   2026-11-25T21:58:54.123Z info  manifests: message
 *   json, for machines:
 * {"time":"...","level":"info","component":"manifests","msg":"message"} plus
 * optional key/value fields (sm_log_kv). Messages below the minimum level cost
 * one comparison. Nothing below cli/ prints to the terminal except through this
 * module.
 *
 * Never log Secret values: callers pass names, never data.
 */
#ifndef SM_LOG_H
#define SM_LOG_H

#include <stdarg.h>
#include <stdio.h>

#include "common/compat.h"

struct sm_clock;

enum sm_log_level {
	SM_LOG_DEBUG = 0,
	SM_LOG_INFO = 1,
	SM_LOG_WARN = 2,
	SM_LOG_ERROR = 3,
};

enum sm_log_format {
	SM_LOG_TEXT = 0,
	SM_LOG_JSON = 1,
};

/*
 * Sets the minimum level, format and stream (borrowed; NULL = stderr) and the
 * clock for timestamps (borrowed; NULL = sm_clock_system). May be called
 * again; the defaults before any call are info, text, stderr.
 */
void sm_log_setup(enum sm_log_level min, enum sm_log_format fmt, FILE *out,
		  const struct sm_clock *clock);

enum sm_log_level sm_log_min_level(void);

/* Parse "debug|info|warn|error" and "text|json"; 0 or -EINVAL. */
int sm_log_level_parse(const char *s, enum sm_log_level *out);
int sm_log_format_parse(const char *s, enum sm_log_format *out);
const char *sm_log_level_name(enum sm_log_level l);

void sm_log(enum sm_log_level l, const char *component, const char *fmt, ...)
	SM_PRINTF(3, 4);
void sm_vlog(enum sm_log_level l, const char *component, const char *fmt,
	     va_list ap) SM_PRINTF(3, 0);

/*
 * Like sm_log, with extra string fields: kv is a NULL-terminated list of
 * key, value pairs. Text format appends ` key=value` (values with spaces are
 * quoted); json format adds them as members.
 */
void sm_log_kv(enum sm_log_level l, const char *component,
	       const char *const *kv, const char *fmt, ...) SM_PRINTF(4, 5);

#endif
