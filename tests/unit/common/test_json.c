/*
 * Tests for common/json.c.
 *
 * The YAML tests do not trust the writer's own idea of what is safe: they
 * parse the output back with libyaml and resolve plain scalars with an
 * independent YAML 1.2 core schema resolver (POSIX regexes written from the
 * spec), then compare with the original JSON. Plain scalars that come back
 * as strings are also checked against the YAML 1.1 resolvers older readers
 * use, so both kinds of reader agree with us.
 */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/rand.h"
#include "common/banned.h"

/* ---- an independent reader ------------------------------------------ */

static bool full_match(const char *pattern, const char *s)
{
	regex_t re;
	bool m;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	m = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return m;
}

/* YAML 1.2.2, 10.3.2 (core schema). */
#define CORE_NULL "^(null|Null|NULL|~|)$"
#define CORE_BOOL "^(true|True|TRUE|false|False|FALSE)$"
#define CORE_INT10 "^[-+]?[0-9]+$"
#define CORE_INT8 "^0o[0-7]+$"
#define CORE_INT16 "^0x[0-9a-fA-F]+$"
#define CORE_FLOAT "^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$"
#define CORE_INF "^[-+]?\\.(inf|Inf|INF)$"
#define CORE_NAN "^\\.(nan|NaN|NAN)$"

/* What YAML 1.1 readers (PyYAML's resolvers, plus the spec's y/n) see. */
/* clang-format off */
static const char *const yaml11_non_strings[] = {
	"^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
	"|on|On|ON|off|Off|OFF)$",
	"^([-+]?([0-9][0-9_]*)?\\.[0-9.]*([eE][-+][0-9]+)?"
	"|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*"
	"|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN))$",
	"^([-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)"
	"|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$",
	"^(<<|=|~|null|Null|NULL|)$",
	"^[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?",
	NULL,
};
/* clang-format on */

/* A plain scalar as a 1.2 core schema reader resolves it (new ref). */
static json_t *resolve_plain(const char *s, size_t len)
{
	if (strlen(s) != len)
		return json_stringn(s, len);
	if (full_match(CORE_NULL, s))
		return json_null();
	if (full_match(CORE_BOOL, s))
		return json_boolean(s[0] == 't' || s[0] == 'T');
	if (full_match(CORE_INT10, s))
		return json_integer(strtoll(s, NULL, 10));
	if (full_match(CORE_INT8, s))
		return json_integer(strtoll(s + 2, NULL, 8));
	if (full_match(CORE_INT16, s))
		return json_integer(strtoll(s + 2, NULL, 16));
	if (full_match(CORE_FLOAT, s))
		return json_real(strtod(s, NULL));
	/* jansson cannot hold these, so the writer must never produce them. */
	if (full_match(CORE_INF, s) || full_match(CORE_NAN, s))
		return NULL;
	/* A string to a 1.2 reader must be one to a 1.1 reader too. */
	for (const char *const *p = yaml11_non_strings; *p; p++)
		if (full_match(*p, s)) {
			print_error("plain \"%s\" is no string in YAML 1.1\n",
				    s);
			return NULL;
		}
	return json_stringn(s, len);
}

struct reader {
	yaml_parser_t parser;
	int single_quoted; /* scalars libyaml chose to single-quote */
};

static bool next_event(struct reader *rd, yaml_event_t *ev)
{
	if (yaml_parser_parse(&rd->parser, ev))
		return true;
	print_error("yaml parse error: %s\n", rd->parser.problem);
	return false;
}

static json_t *read_node(struct reader *rd, yaml_event_t *ev);

static json_t *read_scalar(struct reader *rd, yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	if (ev->data.scalar.tag) {
		print_error("unexpected tag %s\n", ev->data.scalar.tag);
		return NULL;
	}
	if (ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE)
		rd->single_quoted++;
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		return resolve_plain(v, len);
	return json_stringn(v, len);
}

static json_t *read_collection(struct reader *rd, bool mapping)
{
	json_t *c = mapping ? json_object() : json_array();
	yaml_event_type_t end =
		mapping ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
	yaml_event_t ev;

	for (;;) {
		json_t *key = NULL, *v;
		bool ok;

		if (!next_event(rd, &ev))
			goto fail;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			return c;
		}
		if (mapping) {
			key = ev.type == YAML_SCALAR_EVENT
				      ? read_scalar(rd, &ev)
				      : NULL;
			yaml_event_delete(&ev);
			/* A key that reads back as anything else is a bug. */
			if (!json_is_string(key) || !next_event(rd, &ev)) {
				json_decref(key);
				goto fail;
			}
		}
		v = read_node(rd, &ev);
		yaml_event_delete(&ev);
		if (!v) {
			json_decref(key);
			goto fail;
		}
		ok = mapping ? !json_object_setn_new(c, json_string_value(key),
						     json_string_length(key), v)
			     : !json_array_append_new(c, v);
		json_decref(key);
		if (!ok)
			goto fail;
	}
fail:
	json_decref(c);
	return NULL;
}

static json_t *read_node(struct reader *rd, yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return read_scalar(rd, ev);
	case YAML_SEQUENCE_START_EVENT:
		return read_collection(rd, false);
	case YAML_MAPPING_START_EVENT:
		return read_collection(rd, true);
	default:
		print_error("unexpected yaml event %d\n", ev->type);
		return NULL;
	}
}

/* Parses one YAML document into JSON (new), or NULL with a message. */
static json_t *yaml_read(const char *text, int *single_quoted)
{
	/* clang-format off */
	static const yaml_event_type_t frame[] = {
		YAML_STREAM_START_EVENT, YAML_DOCUMENT_START_EVENT,
		0, YAML_DOCUMENT_END_EVENT, YAML_STREAM_END_EVENT,
	};
	/* clang-format on */
	struct reader rd = { 0 };
	json_t *j = NULL;
	yaml_event_t ev;

	assert_true(yaml_parser_initialize(&rd.parser));
	yaml_parser_set_input_string(&rd.parser, (const unsigned char *)text,
				     strlen(text));
	for (size_t i = 0; i < SM_ARRAY_SIZE(frame); i++) {
		if (!next_event(&rd, &ev))
			goto fail;
		if (i == 2) {
			j = read_node(&rd, &ev);
		} else if (ev.type != frame[i]) {
			print_error("event %d where %d belongs\n", ev.type,
				    frame[i]);
			yaml_event_delete(&ev);
			goto fail;
		}
		yaml_event_delete(&ev);
		if (i == 2 && !j)
			goto fail;
	}
	yaml_parser_delete(&rd.parser);
	if (single_quoted)
		*single_quoted = rd.single_quoted;
	return j;
fail:
	json_decref(j);
	yaml_parser_delete(&rd.parser);
	return NULL;
}

/* Asserts that j written as YAML reads back as j, without single quotes. */
static void assert_round_trip(const json_t *j)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	int single = -1;
	json_t *back;

	assert_int_equal(sm_json_to_yaml(j, &b), 0);
	back = yaml_read(sm_buf_cstr(&b), &single);
	if (!back || !json_equal(j, back)) {
		char *want = json_dumps(j, JSON_ENCODE_ANY);

		print_error("want %s\ngot YAML:\n%s", want, sm_buf_cstr(&b));
		free(want);
	}
	assert_non_null(back);
	assert_true(json_equal(j, back));
	assert_int_equal(single, 0);
	json_decref(back);
	sm_buf_release(&b);
}

/* Writes a JSON text (parsed with JSON_DECODE_ANY) as YAML into b. */
static void yaml_of(const char *json, struct sm_buf *b)
{
	json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);

	assert_non_null(j);
	sm_buf_reset(b);
	assert_int_equal(sm_json_to_yaml(j, b), 0);
	json_decref(j);
}

/* ---- type names and descriptions ------------------------------------ */

static void test_type_name_uses_kubernetes_words(void **state)
{
	/* clang-format off */
	static const struct {
		const char *json, *name;
	} cases[] = {
		{ "\"x\"", "string" },	 { "3", "integer" },
		{ "3.5", "number" },	 { "true", "boolean" },
		{ "false", "boolean" }, { "null", "null" },
		{ "{}", "object" },	 { "[]", "array" },
	};
	/* clang-format on */

	for (size_t i = 0; i < SM_ARRAY_SIZE(cases); i++) {
		json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);

		assert_non_null(j);
		assert_string_equal(sm_json_type_name(j), cases[i].name);
		json_decref(j);
	}
}

static void test_describe_quotes_strings_and_shows_the_rest_bare(void **state)
{
	/* clang-format off */
	static const struct {
		const char *json, *text;
	} cases[] = {
		{ "\"three\"", "\"three\"" }, { "42", "42" },
		{ "-7", "-7" },		      { "1.5", "1.5" },
		{ "2.0", "2.0" },	      { "true", "true" },
		{ "null", "null" },	      { "{\"a\":1}", "object" },
		{ "[1]", "array" },	      { "\"\"", "\"\"" },
	};
	/* clang-format on */
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	for (size_t i = 0; i < SM_ARRAY_SIZE(cases); i++) {
		json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);

		sm_buf_reset(&b);
		assert_int_equal(sm_json_describe(j, &b), 0);
		assert_string_equal(sm_buf_cstr(&b), cases[i].text);
		json_decref(j);
	}
	sm_buf_release(&b);
}

static void test_describe_escapes_quotes_and_newlines(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *j = json_string("say \"hi\"\nbye");

	assert_int_equal(sm_json_describe(j, &b), 0);
	assert_string_equal(sm_buf_cstr(&b), "\"say \\\"hi\\\"\\nbye\"");
	json_decref(j);
	sm_buf_release(&b);
}

static void test_describe_cuts_long_strings_between_chars(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char s[200];
	json_t *j;

	/* 59 ASCII bytes, then two-byte characters straddling byte 60. */
	memset(s, 'a', 59);
	s[59] = '\0';
	for (int i = 0; i < 20; i++)
		memcpy(s + 59 + 2 * i, "\xc3\xa9", 3);
	j = json_string(s);
	assert_non_null(j);
	assert_int_equal(sm_json_describe(j, &b), 0);
	/* The cut keeps whole characters: 59 bytes, then the dots. */
	assert_int_equal(b.len, 1 + 59 + 3 + 1);
	assert_memory_equal(b.buf + 60, "...\"", 4);
	json_decref(j);
	sm_buf_release(&b);
}

static void test_describe_into_full_buffer_keeps_contents(void **state)
{
	struct sm_buf b = SM_BUF_INIT(8);
	json_t *j = json_string("a string longer than eight bytes");

	assert_int_equal(sm_buf_adds(&b, "got "), 0);
	assert_int_equal(sm_json_describe(j, &b), -EMSGSIZE);
	assert_string_equal(sm_buf_cstr(&b), "got ");
	json_decref(j);
	sm_buf_release(&b);
}

/* ---- canonical dump -------------------------------------------------- */

static void test_dump_canonical_sorts_keys_at_every_level(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *j = json_loads("{\"b\": [1, {\"y\": 2, \"x\": 1}], "
			       "\"a\": {\"d\": null, \"c\": true}, "
			       "\"B\": \"\u00e9\"}",
			       0, NULL);

	assert_non_null(j);
	assert_int_equal(sm_json_dump_canonical(j, &b), 0);
	/* clang-format off */
	assert_string_equal(sm_buf_cstr(&b),
			    "{\"B\":\"\u00e9\",\"a\":{\"c\":true,\"d\":null},"
			    "\"b\":[1,{\"x\":1,\"y\":2}]}");
	/* clang-format on */
	json_decref(j);
	sm_buf_release(&b);
}

static void test_dump_canonical_is_equal_for_equal_values(void **state)
{
	struct sm_buf x = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct sm_buf y = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *a = json_object(), *b = json_object();
	char key[16];

	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		json_object_set_new(a, key, json_integer(i));
		snprintf(key, sizeof(key), "k%d", 49 - i);
		json_object_set_new(b, key, json_integer(49 - i));
	}
	assert_int_equal(sm_json_dump_canonical(a, &x), 0);
	assert_int_equal(sm_json_dump_canonical(b, &y), 0);
	assert_string_equal(sm_buf_cstr(&x), sm_buf_cstr(&y));
	/* Compact: no spaces and no newline anywhere. */
	assert_null(strpbrk(sm_buf_cstr(&x), " \n"));
	json_decref(a);
	json_decref(b);
	sm_buf_release(&x);
	sm_buf_release(&y);
}

static void test_dump_canonical_writes_bare_scalars(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *s = json_string("a/b\"c"), *r = json_real(1.0);

	assert_int_equal(sm_json_dump_canonical(s, &b), 0);
	assert_string_equal(sm_buf_cstr(&b), "\"a/b\\\"c\"");
	sm_buf_reset(&b);
	assert_int_equal(sm_json_dump_canonical(r, &b), 0);
	assert_string_equal(sm_buf_cstr(&b), "1.0");
	json_decref(s);
	json_decref(r);
	sm_buf_release(&b);
}

static void test_dump_canonical_when_full_keeps_contents(void **state)
{
	struct sm_buf b = SM_BUF_INIT(16);
	json_t *j = json_pack("{s:s, s:i}", "name", "a-rather-long-name",
			      "replicas", 3);

	assert_int_equal(sm_buf_adds(&b, "prefix:"), 0);
	assert_int_equal(sm_json_dump_canonical(j, &b), -EMSGSIZE);
	assert_string_equal(sm_buf_cstr(&b), "prefix:");
	assert_int_equal(b.len, 7);
	json_decref(j);
	sm_buf_release(&b);
}

/* ---- YAML ------------------------------------------------------------ */

static void test_yaml_of_a_manifest_reads_like_kubectl(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	yaml_of("{\"kind\": \"Deployment\", \"apiVersion\": \"apps/v1\","
		" \"metadata\": {\"name\": \"web\", \"labels\": {},"
		"   \"annotations\": {\"note\": \"true\"}},"
		" \"spec\": {\"replicas\": 3, \"paused\": false,"
		"   \"ratio\": 1.0, \"selector\": null,"
		"   \"args\": [\"--port\", \"8080\", []],"
		"   \"script\": \"set -e\\nrun\\n\"}}",
		&b);
	/* clang-format off */
	assert_string_equal(sm_buf_cstr(&b),
			    "apiVersion: apps/v1\n"
			    "kind: Deployment\n"
			    "metadata:\n"
			    "  annotations:\n"
			    "    note: \"true\"\n"
			    "  labels: {}\n"
			    "  name: web\n"
			    "spec:\n"
			    "  args:\n"
			    "  - --port\n"
			    "  - \"8080\"\n"
			    "  - []\n"
			    "  paused: false\n"
			    "  ratio: 1.0\n"
			    "  replicas: 3\n"
			    "  script: |\n"
			    "    set -e\n"
			    "    run\n"
			    "  selector: null\n");
	/* clang-format on */
	sm_buf_release(&b);
}

static void test_yaml_double_quotes_look_alike_strings(void **state)
{
	/* clang-format off */
	static const char *const strings[] = {
		"", "true", "False", "TRUE", "null", "Null", "NULL", "~",
		"yes", "No", "ON", "off", "y", "N", "YeS",
		"0", "123", "-5", "+5", "1.5", "1.", ".5", "-.5", "1e5",
		"1E-5", "1.0e+20", "0x1F", "0o17", "0b101", "017", "1_000",
		"1:30", ".inf", "-.Inf", ".NaN", "1.2.3",
		"2026-11-25", "2026-11-25T21:58:54Z", "<<", "=",
		" lead", "trail ", "a: b", "a #c", "#c", "- x", "-", "?",
		":", "key:", "---", "...", "--- x", "@x", "`x", "%x", "!x",
		"&x", "*x", "|", ">", "'q'", "\"q\"", "{a}", "[a]", ",",
		"tab\there", "cr\rhere", "nul\001here", "bom\xef\xbb\xbf",
		"nel\xc2\x85", "ls\xe2\x80\xa8", "emoji \xf0\x9f\x98\x80",
	};
	/* clang-format on */
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	for (size_t i = 0; i < SM_ARRAY_SIZE(strings); i++) {
		json_t *j = json_string(strings[i]);

		assert_non_null(j);
		sm_buf_reset(&b);
		assert_int_equal(sm_json_to_yaml(j, &b), 0);
		if (b.buf[0] != '"')
			print_error("not double-quoted: [%s] -> %s", strings[i],
				    sm_buf_cstr(&b));
		assert_int_equal(b.buf[0], '"');
		assert_round_trip(j);
		json_decref(j);
	}
	sm_buf_release(&b);
}

static void test_yaml_leaves_ordinary_strings_plain(void **state)
{
	/* clang-format off */
	static const char *const strings[] = {
		"web", "apps/v1", "--verbose", "-v", "nginx:1.25",
		"5d8f7c9b4", "1.2.3-beta", "http://x/y#z", "a:b", "a,b",
		"caf\xc3\xa9", "a b c", "1e", "0x", "yesterday", "nothing",
		"trueish", "v1.0", "x-1", "key=value", "50%",
	};
	/* clang-format on */
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	for (size_t i = 0; i < SM_ARRAY_SIZE(strings); i++) {
		json_t *j = json_string(strings[i]);

		sm_buf_reset(&b);
		assert_int_equal(sm_json_to_yaml(j, &b), 0);
		/* Plain: the text itself and a newline. */
		if (strncmp(b.buf, strings[i], strlen(strings[i])))
			print_error("not plain: [%s] -> %s", strings[i],
				    sm_buf_cstr(&b));
		assert_int_equal(b.len, strlen(strings[i]) + 1);
		assert_memory_equal(b.buf, strings[i], strlen(strings[i]));
		assert_round_trip(j);
		json_decref(j);
	}
	sm_buf_release(&b);
}

static void test_yaml_writes_multi_line_strings_as_literal_blocks(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	yaml_of("{\"a\": \"one\\ntwo\\n\", \"b\": \"one\\ntwo\","
		" \"c\": \"one\\n\\n\", \"d\": \"  indented\\nx\"}",
		&b);
	/* clang-format off */
	assert_string_equal(sm_buf_cstr(&b),
			    "a: |\n  one\n  two\n"
			    "b: |-\n  one\n  two\n"
			    "c: |+\n  one\n\n"
			    "d: |2-\n    indented\n  x\n");
	/* clang-format on */
	sm_buf_release(&b);
}

static void test_yaml_multi_line_with_tabs_is_double_quoted(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	yaml_of("{\"k\": \"a\\tb\\nc\"}", &b);
	assert_string_equal(sm_buf_cstr(&b), "k: \"a\\tb\\nc\"\n");
	sm_buf_release(&b);
}

static void test_yaml_writes_empty_collections_in_flow_style(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	yaml_of("{}", &b);
	assert_string_equal(sm_buf_cstr(&b), "{}\n");
	yaml_of("[]", &b);
	assert_string_equal(sm_buf_cstr(&b), "[]\n");
	yaml_of("[{}, [], {\"a\": []}]", &b);
	assert_string_equal(sm_buf_cstr(&b), "- {}\n- []\n- a: []\n");
	sm_buf_release(&b);
}

static void test_yaml_keeps_reals_real_and_integers_integral(void **state)
{
	/* clang-format off */
	static const struct {
		const char *json, *yaml;
	} cases[] = {
		{ "1.0", "1.0\n" },	  { "1", "1\n" },
		{ "-0.0", "-0.0\n" },	  { "0.1", "0.1\n" },
		{ "1e20", "1.0e+20\n" },  { "1.5e-7", "1.5e-07\n" },
		{ "-42", "-42\n" },	  { "true", "true\n" },
		{ "null", "null\n" },
		{ "9223372036854775807", "9223372036854775807\n" },
	};
	/* clang-format on */
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	for (size_t i = 0; i < SM_ARRAY_SIZE(cases); i++) {
		json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);

		sm_buf_reset(&b);
		assert_int_equal(sm_json_to_yaml(j, &b), 0);
		assert_string_equal(sm_buf_cstr(&b), cases[i].yaml);
		assert_round_trip(j);
		json_decref(j);
	}
	sm_buf_release(&b);
}

static void test_yaml_reals_round_trip_bit_for_bit(void **state)
{
	/* clang-format off */
	static const double values[] = {
		0.1, 1.0 / 3.0, 2.5e-308, 5e-324, 1.7976931348623157e308,
		123456789.0, -1e-10, 3.141592653589793,
	};
	/* clang-format on */

	for (size_t i = 0; i < SM_ARRAY_SIZE(values); i++) {
		json_t *j = json_real(values[i]);

		assert_round_trip(j);
		json_decref(j);
	}
}

static void test_yaml_quotes_keys_that_read_as_other_types(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *j;

	yaml_of("{\"y\": 1, \"on\": 2, \"10\": 3, \"\": 4, \"name\": 5}", &b);
	/* clang-format off */
	assert_string_equal(sm_buf_cstr(&b),
			    "\"\": 4\n\"10\": 3\nname: 5\n\"on\": 2\n"
			    "\"y\": 1\n");
	/* clang-format on */
	j = json_loads("{\"y\": 1, \"on\": 2, \"10\": 3, \"\": 4}", 0, NULL);
	assert_round_trip(j);
	json_decref(j);
	sm_buf_release(&b);
}

/* clang-format off */
static const char *const tricky[] = {
	"a\n---\nb", "---\n", "...\nx", "\n", "\n\n", "x\n\n\n", "\nx",
	" \n", "x \ny", "x\n y", "# not a comment\nx", "- a\n- b",
	"key: value\nother: 1", "\"quoted\"\n'single'", "\t\n", "é\nü",
	"trailing\\", "a\\nb", "line with ' and \"", "\xc2\xa0nbsp",
	"\xe2\x80\xa8", "x\xc2\x85y", "%YAML 1.2\n---", "|\n>",
	"  two leading\n  spaces", "a\r\nb",
};
/* clang-format on */

static void test_yaml_round_trips_tricky_strings_everywhere(void **state)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(tricky); i++) {
		json_t *s = json_string(tricky[i]);
		json_t *as_value = json_pack("{s:O}", "k", s);
		json_t *as_key = json_pack("{s:i}", tricky[i], 1);
		json_t *nested = json_pack("{s:{s:[O,O]}}", "a", "b", s, s);

		assert_non_null(s);
		assert_round_trip(s);
		assert_round_trip(as_value);
		assert_round_trip(as_key);
		assert_round_trip(nested);
		json_decref(s);
		json_decref(as_value);
		json_decref(as_key);
		json_decref(nested);
	}
}

static void test_yaml_round_trips_random_strings_from_a_fixed_seed(void **state)
{
	/* clang-format off */
	static const char *const parts[] = {
		" ", "\n", "\t", ":", "#", "-", "?", "'", "\"", "\\", "0",
		"1", ".", "e", "x", "y", "n", "true", "null", "~", "---",
		"...", "\xc3\xa9", "\xf0\x9f\x98\x80", "\r", "\xc2\x85",
		"\xe2\x80\xa8", "a", "%", "@", "!", "&", "*", "|", ">", "{",
		"[", ",", ".inf", "_", "+", "<<", "=", "2024-01-01", "0x",
		"0o", "on", "no", "E", "-1",
	};
	/* clang-format on */
	struct sm_seeded_rand rnd;

	sm_seeded_rand_init(&rnd, 20261125);
	for (int n = 0; n < 3000; n++) {
		struct sm_buf s = SM_BUF_INIT(SM_BUF_UNBOUNDED);
		uint32_t count = 1 + sm_rand_below(&rnd.rand, 5);
		json_t *j;

		for (uint32_t i = 0; i < count; i++)
			sm_buf_adds(&s,
				    parts[sm_rand_below(&rnd.rand,
							SM_ARRAY_SIZE(parts))]);
		j = json_pack("{s:s, s:[s], s:i}", "v", sm_buf_cstr(&s), "l",
			      sm_buf_cstr(&s), sm_buf_cstr(&s), n);
		assert_non_null(j);
		assert_round_trip(j);
		assert_round_trip(json_object_get(j, "v"));
		json_decref(j);
		sm_buf_release(&s);
	}
}

static void test_yaml_round_trips_keys_too_long_for_simple_keys(void **state)
{
	char key[300];
	json_t *j;

	/* Past 128 characters libyaml writes "? key" on a line of its own. */
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	j = json_pack("{s:i, s:[s]}", key, 1, "short", key);
	assert_round_trip(j);
	json_decref(j);
}

static void test_yaml_of_deep_nesting_round_trips_up_to_a_limit(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *deep = json_integer(1), *tmp;

	for (int i = 0; i < 500; i++) {
		tmp = json_array();
		json_array_append_new(tmp, deep);
		deep = tmp;
	}
	assert_round_trip(deep);
	/* Far deeper than any manifest: refused, buffer unchanged. */
	for (int i = 0; i < 5000; i++) {
		tmp = json_object();
		json_object_set_new(tmp, "a", deep);
		deep = tmp;
	}
	sm_buf_adds(&b, "x");
	assert_int_equal(sm_json_to_yaml(deep, &b), -ELOOP);
	assert_string_equal(sm_buf_cstr(&b), "x");
	json_decref(deep);
	sm_buf_release(&b);
}

static void test_yaml_into_full_buffer_fails_and_keeps_contents(void **state)
{
	struct sm_buf b = SM_BUF_INIT(64);
	json_t *j = json_pack("{s:s, s:[i,i,i], s:s}", "name", "web", "ports",
			      80, 443, 8080, "description",
			      "a description long enough to overflow");

	assert_int_equal(sm_buf_adds(&b, "---\n"), 0);
	assert_int_equal(sm_json_to_yaml(j, &b), -EMSGSIZE);
	assert_string_equal(sm_buf_cstr(&b), "---\n");
	/* The same value fits once the buffer may grow. */
	b.max = SM_BUF_UNBOUNDED;
	assert_int_equal(sm_json_to_yaml(j, &b), 0);
	assert_true(b.len > 64);
	json_decref(j);
	sm_buf_release(&b);
}

static void test_yaml_appends_after_existing_contents(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *j = json_pack("{s:i}", "a", 1);

	sm_buf_adds(&b, "# head\n");
	assert_int_equal(sm_json_to_yaml(j, &b), 0);
	assert_string_equal(sm_buf_cstr(&b), "# head\na: 1\n");
	json_decref(j);
	sm_buf_release(&b);
}

/* ---- paths and pointers ---------------------------------------------- */

static void test_get_path_follows_object_keys_only(void **state)
{
	json_t *j = json_loads("{\"spec\": {\"template\": {\"metadata\":"
			       " {\"labels\": {\"app\": \"web\"}}},"
			       " \"ports\": [1], \"n\": 3}}",
			       0, NULL);

	assert_non_null(j);
	assert_string_equal(
		json_string_value(json_object_get(
			sm_json_get_path(j, "spec.template.metadata.labels"),
			"app")),
		"web");
	assert_int_equal(json_integer_value(sm_json_get_path(j, "spec.n")), 3);
	assert_ptr_equal(sm_json_get_path(j, "spec"),
			 json_object_get(j, "spec"));
	assert_null(sm_json_get_path(j, "spec.missing"));
	assert_null(sm_json_get_path(j, "spec.n.deeper"));
	assert_null(sm_json_get_path(j, "spec.ports.0"));
	assert_null(sm_json_get_path(j, "spec.template."));
	json_decref(j);
}

static void test_get_str_returns_only_strings(void **state)
{
	json_t *j = json_pack("{s:s, s:i, s:n}", "name", "web", "replicas", 3,
			      "nothing");

	assert_string_equal(sm_json_get_str(j, "name"), "web");
	assert_null(sm_json_get_str(j, "replicas"));
	assert_null(sm_json_get_str(j, "nothing"));
	assert_null(sm_json_get_str(j, "absent"));
	assert_null(sm_json_get_str(json_object_get(j, "name"), "name"));
	json_decref(j);
}

static void test_pointer_escapes_tilde_and_slash(void **state)
{
	struct sm_buf p = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	assert_int_equal(sm_json_pointer_add_key(&p, "metadata"), 0);
	assert_int_equal(sm_json_pointer_add_key(&p, "annotations"), 0);
	assert_int_equal(sm_json_pointer_add_key(&p, "example.com/a~b"), 0);
	assert_string_equal(sm_buf_cstr(&p),
			    "/metadata/annotations/example.com~1a~0b");
	sm_buf_reset(&p);
	/* "~1" must become "~01", not be read back as "/". */
	assert_int_equal(sm_json_pointer_add_key(&p, "~1"), 0);
	assert_int_equal(sm_json_pointer_add_key(&p, ""), 0);
	assert_string_equal(sm_buf_cstr(&p), "/~01/");
	sm_buf_release(&p);
}

static void test_pointer_index_appends_a_decimal_segment(void **state)
{
	struct sm_buf p = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	assert_int_equal(sm_json_pointer_add_key(&p, "containers"), 0);
	assert_int_equal(sm_json_pointer_add_index(&p, 0), 0);
	assert_int_equal(sm_json_pointer_add_index(&p, 12), 0);
	assert_string_equal(sm_buf_cstr(&p), "/containers/0/12");
	sm_buf_release(&p);
}

static void test_pointer_key_past_max_fails_and_keeps_pointer(void **state)
{
	struct sm_buf p = SM_BUF_INIT(10);

	assert_int_equal(sm_json_pointer_add_key(&p, "spec"), 0);
	assert_int_equal(sm_json_pointer_add_key(&p, "a/b/c"), -EMSGSIZE);
	assert_string_equal(sm_buf_cstr(&p), "/spec");
	assert_int_equal(sm_json_pointer_add_index(&p, 12345), -EMSGSIZE);
	assert_string_equal(sm_buf_cstr(&p), "/spec");
	sm_buf_release(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_name_uses_kubernetes_words),
		cmocka_unit_test(
			test_describe_quotes_strings_and_shows_the_rest_bare),
		cmocka_unit_test(test_describe_escapes_quotes_and_newlines),
		cmocka_unit_test(test_describe_cuts_long_strings_between_chars),
		cmocka_unit_test(test_describe_into_full_buffer_keeps_contents),
		cmocka_unit_test(test_dump_canonical_sorts_keys_at_every_level),
		cmocka_unit_test(test_dump_canonical_is_equal_for_equal_values),
		cmocka_unit_test(test_dump_canonical_writes_bare_scalars),
		cmocka_unit_test(test_dump_canonical_when_full_keeps_contents),
		cmocka_unit_test(test_yaml_of_a_manifest_reads_like_kubectl),
		cmocka_unit_test(test_yaml_double_quotes_look_alike_strings),
		cmocka_unit_test(test_yaml_leaves_ordinary_strings_plain),
		cmocka_unit_test(
			test_yaml_writes_multi_line_strings_as_literal_blocks),
		cmocka_unit_test(
			test_yaml_multi_line_with_tabs_is_double_quoted),
		cmocka_unit_test(
			test_yaml_writes_empty_collections_in_flow_style),
		cmocka_unit_test(
			test_yaml_keeps_reals_real_and_integers_integral),
		cmocka_unit_test(test_yaml_reals_round_trip_bit_for_bit),
		cmocka_unit_test(
			test_yaml_quotes_keys_that_read_as_other_types),
		cmocka_unit_test(
			test_yaml_round_trips_tricky_strings_everywhere),
		cmocka_unit_test(
			test_yaml_round_trips_random_strings_from_a_fixed_seed),
		cmocka_unit_test(
			test_yaml_round_trips_keys_too_long_for_simple_keys),
		cmocka_unit_test(
			test_yaml_of_deep_nesting_round_trips_up_to_a_limit),
		cmocka_unit_test(
			test_yaml_into_full_buffer_fails_and_keeps_contents),
		cmocka_unit_test(test_yaml_appends_after_existing_contents),
		cmocka_unit_test(test_get_path_follows_object_keys_only),
		cmocka_unit_test(test_get_str_returns_only_strings),
		cmocka_unit_test(test_pointer_escapes_tilde_and_slash),
		cmocka_unit_test(test_pointer_index_appends_a_decimal_segment),
		cmocka_unit_test(
			test_pointer_key_past_max_fails_and_keeps_pointer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
