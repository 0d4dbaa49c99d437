/*
 * Tests for common/log.c: every test logs into a memory stream with a fake
 * clock fixed at 2026-11-25T21:58:54.123Z, and puts the logger back to its
 * defaults afterwards so no test writes into a closed stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/banned.h"

#define T0_NS (1795643934ULL * 1000000000ULL + 123456789ULL)
#define T0 "2026-11-25T21:58:54.123Z"

struct capture {
	FILE *f;
	char *text;
	size_t len;
	struct sm_fake_clock clock;
};

static int setup(void **state)
{
	struct capture *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->f = open_memstream(&c->text, &c->len);
	if (!c->f)
		return -1;
	sm_fake_clock_init(&c->clock, T0_NS);
	sm_log_setup(SM_LOG_INFO, SM_LOG_TEXT, c->f, &c->clock.clock);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct capture *c = *state;

	sm_log_setup(SM_LOG_INFO, SM_LOG_TEXT, NULL, NULL);
	fclose(c->f);
	free(c->text);
	free(c);
	return 0;
}

/* What has been logged so far (the logger flushes every line). */
static const char *logged(void **state)
{
	struct capture *c = *state;

	return c->text ? c->text : "";
}

static void use_json(void **state)
{
	struct capture *c = *state;

	sm_log_setup(SM_LOG_DEBUG, SM_LOG_JSON, c->f, &c->clock.clock);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_text_line_has_time_level_component_and_message(void **state)
{
	sm_log(SM_LOG_INFO, "manifests", "loaded %d files from \"%s\"", 3,
	       "apps");
	assert_string_equal(logged(state), T0
			    " info  manifests: loaded 3 files from \"apps\"\n");
}

static void test_text_pads_level_names_to_one_width(void **state)
{
	struct capture *c = *state;

	sm_log_setup(SM_LOG_DEBUG, SM_LOG_TEXT, c->f, &c->clock.clock);
	sm_log(SM_LOG_DEBUG, "a", "d");
	sm_log(SM_LOG_WARN, "a", "w");
	sm_log(SM_LOG_ERROR, "a", "e");
	/* clang-format off */
	assert_string_equal(logged(state), T0 " debug a: d\n"
					   T0 " warn  a: w\n"
					   T0 " error a: e\n");
	/* clang-format on */
}

static void test_messages_below_the_minimum_are_not_written(void **state)
{
	struct capture *c = *state;

	sm_log_setup(SM_LOG_WARN, SM_LOG_TEXT, c->f, &c->clock.clock);
	assert_int_equal(sm_log_min_level(), SM_LOG_WARN);
	sm_log(SM_LOG_DEBUG, "a", "hidden");
	sm_log(SM_LOG_INFO, "a", "hidden");
	sm_log_kv(SM_LOG_INFO, "a", (const char *const[]){ "k", "v", NULL },
		  "hidden");
	assert_string_equal(logged(state), "");
	sm_log(SM_LOG_WARN, "a", "shown");
	assert_string_equal(logged(state), T0 " warn  a: shown\n");
}

static void test_text_timestamp_follows_the_clock(void **state)
{
	struct capture *c = *state;

	sm_log(SM_LOG_INFO, "a", "one");
	c->clock.realtime_ns += 1500000000ULL; /* 1.5 s later */
	sm_log(SM_LOG_INFO, "a", "two");
	/* clang-format off */
	assert_string_equal(logged(state),
			    T0 " info  a: one\n"
			    "2026-11-25T21:58:55.623Z info  a: two\n");
	/* clang-format on */
}

static void test_text_without_component_shows_just_the_message(void **state)
{
	sm_log(SM_LOG_ERROR, NULL, "no component");
	assert_string_equal(logged(state), T0 " error no component\n");
}

static void test_text_kv_quotes_values_with_spaces(void **state)
{
	/* clang-format off */
	static const char *const kv[] = {
		"file", "apps/web.yaml", "reason", "bad indent",
		"empty", "", "q", "say \"hi\"", NULL,
	};
	/* clang-format on */

	sm_log_kv(SM_LOG_WARN, "manifests", kv, "skipped %s", "web");
	/* clang-format off */
	assert_string_equal(logged(state),
			    T0 " warn  manifests: skipped web"
			    " file=apps/web.yaml reason=\"bad indent\""
			    " empty=\"\" q=\"say \\\"hi\\\"\"\n");
	/* clang-format on */
}

static void test_text_escapes_newlines_so_a_record_is_one_line(void **state)
{
	static const char *const kv[] = { "v", "a\nb", NULL };

	sm_log_kv(SM_LOG_INFO, "git", kv, "first\nsecond\r\x01");
	assert_int_equal(count_lines(logged(state)), 1);
	assert_string_equal(logged(state), T0 " info  git: first\\nsecond"
					      "\\r\\x01 v=\"a\\nb\"\n");
}

static void test_kv_with_a_null_value_ends_the_list_there(void **state)
{
	/* Exactly two elements: reading a third would overflow. */
	static const char *const kv[2] = { "ref", NULL };
	json_t *j;

	sm_log_kv(SM_LOG_INFO, "git", kv, "fetched");
	assert_string_equal(logged(state),
			    T0 " info  git: fetched ref=(null)\n");
	use_json(state);
	sm_log_kv(SM_LOG_INFO, "git", kv, "fetched");
	j = json_loads(strchr(logged(state), '\n') + 1, 0, NULL);
	assert_non_null(j);
	assert_true(json_is_null(json_object_get(j, "ref")));
	json_decref(j);
}

static void test_json_line_has_fields_in_a_fixed_order(void **state)
{
	use_json(state);
	sm_log(SM_LOG_INFO, "manifests", "message");
	/* clang-format off */
	assert_string_equal(logged(state),
			    "{\"time\":\"" T0 "\",\"level\":\"info\","
			    "\"component\":\"manifests\","
			    "\"msg\":\"message\"}\n");
	/* clang-format on */
}

static void test_json_escapes_quotes_and_control_characters(void **state)
{
	const char *msg = "quote \" backslash \\ newline \n tab \t bell \a";
	json_error_t e;
	json_t *j;

	use_json(state);
	sm_log(SM_LOG_ERROR, "a", "%s", msg);
	assert_int_equal(count_lines(logged(state)), 1);
	j = json_loads(logged(state), 0, &e);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "msg")), msg);
	assert_string_equal(json_string_value(json_object_get(j, "level")),
			    "error");
	json_decref(j);
}

static void test_json_kv_become_members_and_never_replace_msg(void **state)
{
	/* clang-format off */
	static const char *const kv[] = {
		"file", "a.yaml", "msg", "sneaky", "file", "b.yaml", NULL,
	};
	/* clang-format on */
	json_t *j;

	use_json(state);
	sm_log_kv(SM_LOG_WARN, "a", kv, "real");
	j = json_loads(logged(state), 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "msg")),
			    "real");
	assert_string_equal(json_string_value(json_object_get(j, "_msg")),
			    "sneaky");
	assert_string_equal(json_string_value(json_object_get(j, "file")),
			    "a.yaml");
	assert_string_equal(json_string_value(json_object_get(j, "_file")),
			    "b.yaml");
	assert_int_equal(json_object_size(j), 7);
	json_decref(j);
}

static void test_json_replaces_invalid_utf8_instead_of_dropping(void **state)
{
	json_t *j;

	use_json(state);
	sm_log(SM_LOG_INFO, "git", "ref %s", "bad\xff\xc3(end");
	j = json_loads(logged(state), 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "msg")),
			    "ref bad\xef\xbf\xbd\xef\xbf\xbd(end");
	json_decref(j);
}

static void test_json_without_component_leaves_it_out(void **state)
{
	json_t *j;

	use_json(state);
	sm_log(SM_LOG_DEBUG, NULL, "x");
	j = json_loads(logged(state), 0, NULL);
	assert_non_null(j);
	assert_null(json_object_get(j, "component"));
	assert_string_equal(json_string_value(json_object_get(j, "level")),
			    "debug");
	json_decref(j);
}

static void test_null_stream_means_stderr(void **state)
{
	struct capture *c = *state;
	char path[] = "/tmp/sm-test-log-XXXXXX";
	char got[256] = { 0 };
	int fd = mkstemp(path), saved;
	ssize_t n;

	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	sm_log_setup(SM_LOG_INFO, SM_LOG_TEXT, NULL, &c->clock.clock);
	sm_log(SM_LOG_INFO, "cli", "to stderr");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, got, sizeof(got) - 1, 0);
	close(fd);
	assert_true(n > 0);
	assert_string_equal(got, T0 " info  cli: to stderr\n");
}

static void test_level_and_format_names_parse_both_ways(void **state)
{
	enum sm_log_level l = SM_LOG_ERROR;
	enum sm_log_format f = SM_LOG_TEXT;

	assert_int_equal(sm_log_level_parse("debug", &l), 0);
	assert_int_equal(l, SM_LOG_DEBUG);
	assert_int_equal(sm_log_level_parse("WARN", &l), 0);
	assert_int_equal(l, SM_LOG_WARN);
	assert_int_equal(sm_log_level_parse("verbose", &l), -EINVAL);
	assert_int_equal(sm_log_level_parse("", &l), -EINVAL);
	assert_int_equal(l, SM_LOG_WARN); /* untouched on failure */
	assert_int_equal(sm_log_format_parse("json", &f), 0);
	assert_int_equal(f, SM_LOG_JSON);
	assert_int_equal(sm_log_format_parse("yaml", &f), -EINVAL);
	assert_int_equal(f, SM_LOG_JSON);
	for (int i = SM_LOG_DEBUG; i <= SM_LOG_ERROR; i++) {
		assert_int_equal(sm_log_level_parse(sm_log_level_name(i), &l),
				 0);
		assert_int_equal(l, i);
	}
	assert_string_equal(sm_log_level_name(SM_LOG_INFO), "info");
	assert_string_equal(sm_log_level_name((enum sm_log_level)9), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_text_line_has_time_level_component_and_message),
		T(test_text_pads_level_names_to_one_width),
		T(test_messages_below_the_minimum_are_not_written),
		T(test_text_timestamp_follows_the_clock),
		T(test_text_without_component_shows_just_the_message),
		T(test_text_kv_quotes_values_with_spaces),
		T(test_text_escapes_newlines_so_a_record_is_one_line),
		T(test_kv_with_a_null_value_ends_the_list_there),
		T(test_json_line_has_fields_in_a_fixed_order),
		T(test_json_escapes_quotes_and_control_characters),
		T(test_json_kv_become_members_and_never_replace_msg),
		T(test_json_replaces_invalid_utf8_instead_of_dropping),
		T(test_json_without_component_leaves_it_out),
		T(test_null_stream_means_stderr),
		T(test_level_and_format_names_parse_both_ways),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
