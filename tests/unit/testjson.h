/*
 * testjson.h: JSON literals for unit tests, written with ' where JSON has "
 * so that they read well inside C strings.
 */
#ifndef SM_TESTJSON_H
#define SM_TESTJSON_H

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* text with every ' made " (new reference); fails the test if invalid. */
static inline json_t *test_json(const char *text)
{
	char *s = strdup(text);
	json_error_t jerr;
	json_t *j;

	assert_non_null(s);
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(s, JSON_DECODE_ANY, &jerr);
	if (!j)
		fail_msg("bad test JSON %s: %s", s, jerr.text);
	free(s);
	return j;
}

#endif
