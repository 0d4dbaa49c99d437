/*
 * Tests for manifests/parse.c: YAML and JSON into jansson values with the
 * position of every node, and every way a hostile or broken file can fail.
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

#include "common/buf.h"
#include "common/err.h"
#include "manifests/parse.h"
#include "common/banned.h"

/* What each test works on; released by t_release. */
struct t {
	struct mf_file f;
	struct sm_err e;
	struct mf_parse_opts opts;
	struct sm_buf out;
};

static void t_init(struct t *t)
{
	struct mf_parse_opts o = MF_PARSE_OPTS_INIT;

	memset(t, 0, sizeof(*t));
	sm_err_init(&t->e);
	t->opts = o;
	sm_buf_init(&t->out, SM_BUF_UNBOUNDED);
}

static void t_release(struct t *t)
{
	mf_file_release(&t->f);
	sm_err_release(&t->e);
	sm_buf_release(&t->out);
}

static int parse(struct t *t, const char *yaml)
{
	return mf_parse_buffer(&t->f, "m.yaml", yaml, strlen(yaml), &t->opts,
			       &t->e);
}

/* Diagnostic i as the command line shows it (borrowed until next call). */
static const char *diag(struct t *t, size_t i)
{
	assert_true(i < t->e.nr);
	sm_buf_reset(&t->out);
	assert_int_equal(sm_diag_format(&t->e.items[i], &t->out), 0);
	return sm_buf_cstr(&t->out);
}

/* Parses yaml, expects failure with exactly one error, and returns it. */
static const char *parse_error(struct t *t, const char *yaml)
{
	assert_int_equal(parse(t, yaml), -EINVAL);
	assert_int_equal(sm_err_count(&t->e, SM_ERROR), 1);
	return diag(t, 0);
}

/* The value of member "v" of the first document's root. */
static json_t *value_v(struct t *t)
{
	assert_int_equal(t->f.nr_docs, 1);
	return json_object_get(t->f.docs[0].root, "v");
}

#define assert_pos(d, ptr, l, c, kl, kc)                          \
	do {                                                      \
		const struct mf_pos *p_ = mf_doc_pos((d), (ptr)); \
		assert_non_null(p_);                              \
		assert_int_equal(p_->line, (l));                  \
		assert_int_equal(p_->col, (c));                   \
		assert_int_equal(p_->key_line, (kl));             \
		assert_int_equal(p_->key_col, (kc));              \
	} while (0)

static size_t count_nodes(const json_t *j)
{
	size_t n = 1, i;
	const char *k;
	json_t *v;

	if (json_is_object(j))
		json_object_foreach ((json_t *)j, k, v)
			n += count_nodes(v);
	else if (json_is_array(j))
		json_array_foreach (j, i, v)
			n += count_nodes(v);
	return n;
}

/* The comments number the lines the positions refer to. */
/* clang-format off */
static const char deployment[] =
	"apiVersion: apps/v1\n"                     /* 1 */
	"kind: Deployment\n"                        /* 2 */
	"metadata:\n"                               /* 3 */
	"  name: web\n"                             /* 4 */
	"  labels: {app: web, tier: \"front\"}\n"   /* 5 */
	"spec:\n"                                   /* 6 */
	"  replicas: 3\n"                           /* 7 */
	"  template:\n"                             /* 8 */
	"    spec:\n"                               /* 9 */
	"      containers:\n"                       /* 10 */
	"        - name: app\n"                     /* 11 */
	"          image: nginx\n"                  /* 12 */
	"          ports:\n"                        /* 13 */
	"            - containerPort: 80\n"         /* 14 */
	"              protocol: TCP\n"             /* 15 */
	"        - name: side\n"                    /* 16 */
	"          args: [a, \"b\"]\n";             /* 17 */
/* clang-format on */

static void test_nested_nodes_record_value_and_key_positions(void **state)
{
	struct t t;
	const struct mf_doc *d;
	json_t *port;

	t_init(&t);
	assert_int_equal(parse(&t, deployment), 0);
	assert_int_equal(t.e.nr, 0);
	assert_int_equal(t.f.nr_docs, 1);
	assert_string_equal(t.f.path, "m.yaml");
	d = &t.f.docs[0];
	assert_int_equal(d->index, 0);
	assert_int_equal(d->line, 1);
	assert_int_equal(d->col, 1);

	assert_pos(d, "", 1, 1, 1, 1);
	assert_pos(d, "/apiVersion", 1, 13, 1, 1);
	assert_pos(d, "/kind", 2, 7, 2, 1);
	assert_pos(d, "/metadata", 4, 3, 3, 1);
	assert_pos(d, "/metadata/name", 4, 9, 4, 3);
	assert_pos(d, "/metadata/labels", 5, 11, 5, 3);
	assert_pos(d, "/metadata/labels/app", 5, 17, 5, 12);
	assert_pos(d, "/metadata/labels/tier", 5, 28, 5, 22);
	assert_pos(d, "/spec/replicas", 7, 13, 7, 3);
	assert_pos(d, "/spec/template/spec/containers", 11, 9, 10, 7);
	assert_pos(d, "/spec/template/spec/containers/0", 11, 11, 11, 11);
	assert_pos(d, "/spec/template/spec/containers/0/name", 11, 17, 11, 11);
	assert_pos(d, "/spec/template/spec/containers/0/image", 12, 18, 12, 11);
	assert_pos(d, "/spec/template/spec/containers/0/ports/0", 14, 15, 14,
		   15);
	assert_pos(d, "/spec/template/spec/containers/0/ports/0/containerPort",
		   14, 30, 14, 15);
	assert_pos(d, "/spec/template/spec/containers/0/ports/0/protocol", 15,
		   25, 15, 15);
	assert_pos(d, "/spec/template/spec/containers/1/args", 17, 17, 17, 11);
	assert_pos(d, "/spec/template/spec/containers/1/args/1", 17, 21, 17,
		   21);

	/* Exactly one position per node, and none for nodes that are not. */
	assert_int_equal(d->pos.nr, count_nodes(d->root));
	assert_null(mf_doc_pos(d, "/spec/template/spec/containers/2"));
	assert_null(mf_doc_pos(d, "/nope"));
	assert_null(mf_doc_pos(d, "spec"));

	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(d->root, "spec"), "replicas")),
			 3);
	port = json_array_get(
		json_object_get(
			json_array_get(
				json_object_get(
					json_object_get(
						json_object_get(
							json_object_get(d->root,
									"spec"),
							"template"),
						"spec"),
					"containers"),
				0),
			"ports"),
		0);
	assert_true(json_is_integer(json_object_get(port, "containerPort")));
	assert_int_equal(
		json_integer_value(json_object_get(port, "containerPort")), 80);
	t_release(&t);
}

static void test_pointers_escape_tilde_and_slash_in_keys(void **state)
{
	struct t t;

	t_init(&t);
	assert_int_equal(parse(&t, "a/b: 1\nm~n: {x/~y: 2}\n"), 0);
	assert_pos(&t.f.docs[0], "/a~1b", 1, 6, 1, 1);
	assert_pos(&t.f.docs[0], "/m~0n/x~1~0y", 2, 13, 2, 7);
	assert_null(mf_doc_pos(&t.f.docs[0], "/a/b"));
	t_release(&t);
}

static void test_columns_count_characters_and_crlf_ends_a_line(void **state)
{
	struct t t;

	t_init(&t);
	assert_int_equal(
		parse(&t, "\xc3\xa9t\xc3\xa9: 1\r\nb: [\xc3\xa9, z]\r\n"), 0);
	assert_pos(&t.f.docs[0], "/\xc3\xa9t\xc3\xa9", 1, 6, 1, 1);
	assert_pos(&t.f.docs[0], "/b/1", 2, 8, 2, 8);
	t_release(&t);
}

/* The comments number the lines the positions refer to. */
/* clang-format off */
static const char multi[] =
	"# leading comment\n" /* 1 */
	"---\n"               /* 2: document 0 */
	"a: 1\n"              /* 3 */
	"---\n"               /* 4: document 1, only a comment */
	"# only a comment\n"  /* 5 */
	"---\n"               /* 6: document 2, nothing */
	"---\n"               /* 7: document 3, an explicit null */
	"~\n"                 /* 8 */
	"---\n"               /* 9: document 4 */
	"b: 2\n"              /* 10 */
	"...\n"               /* 11 */
	"--- null\n"          /* 12: document 5 */
	"---\n"               /* 13: document 6 */
	"c: [3]\n";           /* 14 */
/* clang-format on */

static void test_multi_document_file_skips_empty_and_null_docs(void **state)
{
	struct t t;

	t_init(&t);
	assert_int_equal(parse(&t, multi), 0);
	assert_int_equal(t.e.nr, 0);
	assert_int_equal(t.f.nr_docs, 3);
	/* index counts every document of the stream, as "---" shows them. */
	assert_int_equal(t.f.docs[0].index, 0);
	assert_int_equal(t.f.docs[0].line, 3);
	assert_int_equal(t.f.docs[1].index, 4);
	assert_int_equal(t.f.docs[1].line, 10);
	assert_int_equal(t.f.docs[2].index, 6);
	assert_int_equal(t.f.docs[2].line, 14);
	assert_int_equal(
		json_integer_value(json_object_get(t.f.docs[1].root, "b")), 2);
	assert_pos(&t.f.docs[2], "/c/0", 14, 5, 14, 5);
	/* Each document has its own positions. */
	assert_null(mf_doc_pos(&t.f.docs[2], "/a"));
	t_release(&t);
}

static void test_file_without_documents_gives_none_and_no_error(void **state)
{
	static const char *const inputs[] = {
		"",	 "# just a comment\n", "\n\n   \n",
		"---\n", "--- ~\n...\n",       "---\n---\n--- !!null\n",
	};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct t t;

		t_init(&t);
		assert_int_equal(parse(&t, inputs[i]), 0);
		assert_int_equal(t.f.nr_docs, 0);
		assert_int_equal(t.e.nr, 0);
		t_release(&t);
	}
}

static void test_a_document_that_is_a_scalar_is_kept(void **state)
{
	struct t t;

	t_init(&t);
	assert_int_equal(parse(&t, "--- hello\n--- \"\"\n"), 0);
	assert_int_equal(t.f.nr_docs, 2);
	assert_string_equal(json_string_value(t.f.docs[0].root), "hello");
	assert_int_equal(t.f.docs[0].col, 5);
	assert_string_equal(json_string_value(t.f.docs[1].root), "");
	t_release(&t);
}

static const char json_doc[] =
	"{\n"
	"\t\"apiVersion\": \"v1\",\n"
	"\t\"kind\": \"ConfigMap\",\n"
	"\t\"metadata\": {\"name\": \"cfg\", \"labels\": {\"a/b\": \"x~y\"}},\n"
	"\t\"data\": {\"n\": \"1\", \"list\": [1, 2.5, true, null, \"s\", "
	"-3e2]}\n"
	"}\n";

static void test_json_input_is_read_with_tabs_and_types_kept(void **state)
{
	struct t t;
	json_t *data, *list;

	t_init(&t);
	assert_int_equal(parse(&t, json_doc), 0);
	assert_int_equal(t.f.nr_docs, 1);
	data = json_object_get(t.f.docs[0].root, "data");
	assert_string_equal(json_string_value(json_object_get(data, "n")), "1");
	list = json_object_get(data, "list");
	assert_int_equal(json_array_size(list), 6);
	assert_true(json_is_integer(json_array_get(list, 0)));
	assert_true(json_is_real(json_array_get(list, 1)));
	assert_true(json_is_true(json_array_get(list, 2)));
	assert_true(json_is_null(json_array_get(list, 3)));
	assert_true(json_is_string(json_array_get(list, 4)));
	assert_true(json_real_value(json_array_get(list, 5)) == -300.0);
	assert_pos(&t.f.docs[0], "/metadata/labels/a~1b", 4, 48, 4, 41);
	assert_pos(&t.f.docs[0], "/data/list/4", 5, 50, 5, 50);
	t_release(&t);
}

static void test_compact_json_without_spaces_is_read(void **state)
{
	struct t t;
	json_t *want;

	t_init(&t);
	assert_int_equal(
		parse(&t, "{\"a\":1,\"b\":[true,false,{\"c\":\"d\"}]}"), 0);
	want = json_loads("{\"a\":1,\"b\":[true,false,{\"c\":\"d\"}]}", 0,
			  NULL);
	assert_true(json_equal(t.f.docs[0].root, want));
	json_decref(want);
	t_release(&t);
}

/* A plain scalar and the JSON value it must become. */
static const struct {
	const char *yaml;
	const char *json;
} scalars[] = {
	{ "null", "null" },
	{ "Null", "null" },
	{ "NULL", "null" },
	{ "~", "null" },
	{ "", "null" },
	{ "true", "true" },
	{ "True", "true" },
	{ "TRUE", "true" },
	{ "false", "false" },
	{ "False", "false" },
	{ "FALSE", "false" },
	/* YAML 1.1 booleans are strings in YAML 1.2. */
	{ "yes", "\"yes\"" },
	{ "no", "\"no\"" },
	{ "on", "\"on\"" },
	{ "off", "\"off\"" },
	{ "y", "\"y\"" },
	{ "tRUE", "\"tRUE\"" },
	{ "0", "0" },
	{ "-0", "0" },
	{ "+12", "12" },
	{ "-12", "-12" },
	/* A leading zero before octal digits is octal (YAML 1.1, as
	   Kubernetes). */
	{ "0777", "511" }, /* YAML 1.1 octal, as Kubernetes reads modes */
	{ "0644", "420" },
	{ "0800", "800" },
	{ "-0644", "-420" },
	{ "09", "9" },
	{ "00", "0" },
	{ "0o777", "511" },
	{ "0x1F", "31" },
	{ "0xff", "255" },
	{ "9223372036854775807", "9223372036854775807" },
	{ "-9223372036854775808", "-9223372036854775808" },
	{ "0x7FFFFFFFFFFFFFFF", "9223372036854775807" },
	{ "0X1F", "\"0X1F\"" },
	{ "0o8", "\"0o8\"" },
	{ "0x", "\"0x\"" },
	{ "0o", "\"0o\"" },
	{ "-0x1", "\"-0x1\"" },
	{ "0b101", "\"0b101\"" },
	{ "1_000", "\"1_000\"" },
	{ "1.5", "1.5" },
	{ "-1.5", "-1.5" },
	{ "1e3", "1000.0" },
	{ "1E3", "1000.0" },
	{ "1.", "1.0" },
	{ ".5", "0.5" },
	{ "+.5", "0.5" },
	{ "1.5e-3", "0.0015" },
	{ "6.02e+23", "6.02e23" },
	{ "1e", "\"1e\"" },
	{ "e3", "\"e3\"" },
	{ ".", "\".\"" },
	{ "1.2.3", "\"1.2.3\"" },
	{ "1:20", "\"1:20\"" },
	{ "2001-12-14", "\"2001-12-14\"" },
	{ "nan", "\"nan\"" },
	{ "inf", "\"inf\"" },
	{ "+", "\"+\"" },
	{ "~x", "\"~x\"" },
	{ "nginx:1.25", "\"nginx:1.25\"" },
	{ "500m", "\"500m\"" },
	{ "1Gi", "\"1Gi\"" },
	/* Quoted scalars are always strings. */
	{ "\"true\"", "\"true\"" },
	{ "'123'", "\"123\"" },
	{ "\"null\"", "\"null\"" },
	{ "''", "\"\"" },
	{ "\"1.5\"", "\"1.5\"" },
	{ "\"a\\tb\"", "\"a\\tb\"" },
	{ "|\n  one\n  two\n", "\"one\\ntwo\\n\"" },
	{ ">\n  one\n  two\n", "\"one two\\n\"" },
	{ "|-\n  42\n", "\"42\"" },
};

static void test_plain_scalars_resolve_by_the_yaml_1_2_core_schema(void **state)
{
	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		struct t t;
		char *yaml;
		json_t *want, *got;

		t_init(&t);
		assert_true(asprintf(&yaml, "v: %s\n", scalars[i].yaml) > 0);
		want = json_loads(scalars[i].json, JSON_DECODE_ANY, NULL);
		assert_non_null(want);
		if (parse(&t, yaml))
			fail_msg("%s: %s", scalars[i].yaml, diag(&t, 0));
		got = value_v(&t);
		if (!json_equal(got, want) ||
		    json_typeof(got) != json_typeof(want))
			fail_msg("%s: got %s type %d", scalars[i].yaml,
				 json_dumps(got, JSON_ENCODE_ANY),
				 json_typeof(got));
		json_decref(want);
		free(yaml);
		t_release(&t);
	}
}

static void test_string_values_may_hold_a_nul(void **state)
{
	struct t t;

	t_init(&t);
	assert_int_equal(parse(&t, "v: \"a\\0b\"\n"), 0);
	assert_int_equal(json_string_length(value_v(&t)), 3);
	assert_memory_equal(json_string_value(value_v(&t)), "a\0b", 3);
	t_release(&t);
}

/* A value that must be refused, and the exact error. */
static const struct {
	const char *yaml;
	const char *error;
} bad_scalars[] = {
	{ "v: 9223372036854775808",
	  "m.yaml:1:4: yaml: integer \"9223372036854775808\" does not fit in "
	  "64 bits: quote it if a string is meant" },
	{ "v: -9223372036854775809",
	  "m.yaml:1:4: yaml: integer \"-9223372036854775809\" does not fit in "
	  "64 bits: quote it if a string is meant" },
	{ "v: 0x8000000000000000",
	  "m.yaml:1:4: yaml: integer \"0x8000000000000000\" does not fit in "
	  "64 bits: quote it if a string is meant" },
	{ "v: [1, 123456789012345678901234567890]",
	  "m.yaml:1:8: yaml: integer \"123456789012345678901234567890\" does "
	  "not fit in 64 bits: quote it if a string is meant" },
	{ "v: .inf",
	  "m.yaml:1:4: yaml: \".inf\" is not a finite number, which JSON "
	  "cannot hold: quote it if a string is meant" },
	{ "v: -.Inf",
	  "m.yaml:1:4: yaml: \"-.Inf\" is not a finite number, which JSON "
	  "cannot hold: quote it if a string is meant" },
	{ "v: .NaN",
	  "m.yaml:1:4: yaml: \".NaN\" is not a finite number, which JSON "
	  "cannot hold: quote it if a string is meant" },
	{ "v: 1e400",
	  "m.yaml:1:4: yaml: \"1e400\" is not a finite number, which JSON "
	  "cannot hold: quote it if a string is meant" },
};

static void test_out_of_range_numbers_are_errors_naming_the_value(void **state)
{
	for (size_t i = 0; i < sizeof(bad_scalars) / sizeof(bad_scalars[0]);
	     i++) {
		struct t t;

		t_init(&t);
		assert_string_equal(parse_error(&t, bad_scalars[i].yaml),
				    bad_scalars[i].error);
		assert_int_equal(t.f.nr_docs, 0);
		t_release(&t);
	}
}

static const struct {
	const char *yaml;
	const char *json;
} tagged[] = {
	{ "!!str 123", "\"123\"" },
	{ "!!str true", "\"true\"" },
	{ "!!str", "\"\"" },
	{ "!<tag:yaml.org,2002:str> 5", "\"5\"" },
	{ "! 12", "\"12\"" },
	{ "!!int \"42\"", "42" },
	{ "!!int 0x10", "16" },
	{ "!!int -7", "-7" },
	{ "!!float 1", "1.0" },
	{ "!!float \"2.5\"", "2.5" },
	{ "!!float 1e2", "100.0" },
	{ "!!bool \"true\"", "true" },
	{ "!!bool False", "false" },
	{ "!!null \"\"", "null" },
	{ "!!null ~", "null" },
	{ "!!map {a: 1}", "{\"a\": 1}" },
	{ "!!seq [1, x]", "[1, \"x\"]" },
	{ "! {a: 1}", "{\"a\": 1}" },
};

static void test_core_tags_are_honoured(void **state)
{
	for (size_t i = 0; i < sizeof(tagged) / sizeof(tagged[0]); i++) {
		struct t t;
		char *yaml;
		json_t *want, *got;

		t_init(&t);
		assert_true(asprintf(&yaml, "v: %s\n", tagged[i].yaml) > 0);
		want = json_loads(tagged[i].json, JSON_DECODE_ANY, NULL);
		assert_non_null(want);
		if (parse(&t, yaml))
			fail_msg("%s: %s", tagged[i].yaml, diag(&t, 0));
		got = value_v(&t);
		if (!json_equal(got, want) ||
		    json_typeof(got) != json_typeof(want))
			fail_msg("%s: got %s", tagged[i].yaml,
				 json_dumps(got, JSON_ENCODE_ANY));
		json_decref(want);
		free(yaml);
		t_release(&t);
	}
}

static const struct {
	const char *yaml;
	const char *error;
} bad_tags[] = {
	{ "v: !Ref foo",
	  "m.yaml:1:4: yaml: unknown tag \"!Ref\": only !!str, !!int, !!float, "
	  "!!bool, !!null, !!map and !!seq are understood" },
	{ "v: !!binary aGVsbG8=",
	  "m.yaml:1:4: yaml: unknown tag \"!!binary\": only !!str, !!int, "
	  "!!float, !!bool, !!null, !!map and !!seq are understood" },
	{ "v: !GetAtt [a, b]",
	  "m.yaml:1:4: yaml: unknown tag \"!GetAtt\": only !!str, !!int, "
	  "!!float, !!bool, !!null, !!map and !!seq are understood" },
	{ "!Sub k: v",
	  "m.yaml:1:1: yaml: unknown tag \"!Sub\": only !!str, !!int, "
	  "!!float, !!bool, !!null, !!map and !!seq are understood" },
	{ "v: !!int abc", "m.yaml:1:4: yaml: \"abc\" is not a valid !!int" },
	{ "v: !!int 1.5", "m.yaml:1:4: yaml: \"1.5\" is not a valid !!int" },
	{ "v: !!float x", "m.yaml:1:4: yaml: \"x\" is not a valid !!float" },
	{ "v: !!bool yes", "m.yaml:1:4: yaml: \"yes\" is not a valid !!bool" },
	{ "v: !!null 0", "m.yaml:1:4: yaml: \"0\" is not a valid !!null" },
	{ "v: !!map 1",
	  "m.yaml:1:4: yaml: tag \"!!map\" cannot be applied to a scalar" },
	{ "v: !!str {a: 1}",
	  "m.yaml:1:4: yaml: tag \"!!str\" cannot be applied to a mapping" },
	{ "v: !!map [1]",
	  "m.yaml:1:4: yaml: tag \"!!map\" cannot be applied to a sequence" },
};

static void test_tags_that_do_not_fit_are_errors_naming_the_tag(void **state)
{
	for (size_t i = 0; i < sizeof(bad_tags) / sizeof(bad_tags[0]); i++) {
		struct t t;

		t_init(&t);
		assert_string_equal(parse_error(&t, bad_tags[i].yaml),
				    bad_tags[i].error);
		t_release(&t);
	}
}

/* The comments number the lines the positions refer to. */
/* clang-format off */
static const char anchors[] =
	"base: &b\n"               /* 1 */
	"  image: nginx\n"         /* 2 */
	"  ports: [80, 443]\n"     /* 3 */
	"copy: *b\n"               /* 4 */
	"list:\n"                  /* 5 */
	"  - &s scalar\n"          /* 6 */
	"  - *s\n"                 /* 7 */
	"  - &n 8080\n"            /* 8 */
	"  - *n\n";                /* 9 */
/* clang-format on */

static void test_alias_copies_take_the_position_of_the_alias(void **state)
{
	struct t t;
	const struct mf_doc *d;
	json_t *base, *copy, *list;

	t_init(&t);
	assert_int_equal(parse(&t, anchors), 0);
	d = &t.f.docs[0];
	base = json_object_get(d->root, "base");
	copy = json_object_get(d->root, "copy");
	list = json_object_get(d->root, "list");
	assert_true(json_equal(base, copy));
	assert_ptr_not_equal(base, copy);
	assert_string_equal(json_string_value(json_array_get(list, 1)),
			    "scalar");
	assert_int_equal(json_integer_value(json_array_get(list, 3)), 8080);

	/* The anchored node keeps its own positions... */
	/* An anchored node starts at its anchor. */
	assert_pos(d, "/base", 1, 7, 1, 1);
	assert_pos(d, "/base/ports/1", 3, 15, 3, 15);
	/* ...and every expanded node takes the alias's. */
	assert_pos(d, "/copy", 4, 7, 4, 1);
	assert_pos(d, "/copy/image", 4, 7, 4, 7);
	assert_pos(d, "/copy/ports", 4, 7, 4, 7);
	assert_pos(d, "/copy/ports/1", 4, 7, 4, 7);
	assert_pos(d, "/list/1", 7, 5, 7, 5);
	assert_int_equal(d->pos.nr, count_nodes(d->root));
	t_release(&t);
}

static void test_alias_copies_share_nothing_with_the_anchor(void **state)
{
	struct t t;
	json_t *base, *copy;

	t_init(&t);
	assert_int_equal(parse(&t, anchors), 0);
	base = json_object_get(t.f.docs[0].root, "base");
	copy = json_object_get(t.f.docs[0].root, "copy");
	/* Later code mutates documents: one reference each, no sharing. */
	assert_int_equal(copy->refcount, 1);
	assert_int_equal(json_object_get(copy, "ports")->refcount, 1);
	assert_int_equal(json_object_get(base, "ports")->refcount, 1);
	assert_int_equal(json_object_get(copy, "image")->refcount, 1);
	json_array_append_new(json_object_get(copy, "ports"),
			      json_integer(8443));
	json_object_set_new(copy, "image", json_string("httpd"));
	assert_int_equal(json_array_size(json_object_get(base, "ports")), 2);
	assert_string_equal(json_string_value(json_object_get(base, "image")),
			    "nginx");
	t_release(&t);
}

static void test_anchors_can_be_redefined_and_used_as_keys(void **state)
{
	struct t t;
	json_t *root;

	t_init(&t);
	assert_int_equal(parse(&t, "a: &x 1\n"
				   "b: &x 2\n"
				   "c: *x\n"
				   "&k name: n\n"
				   "d: {*k : v, *x : w}\n"),
			 0);
	root = t.f.docs[0].root;
	assert_int_equal(json_integer_value(json_object_get(root, "c")), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(root, "d"), "name")),
			    "v");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(root, "d"), "2")),
			    "w");
	t_release(&t);
}

/* The comments number the lines the positions refer to. */
/* clang-format off */
static const char merge_map[] =
	"defaults: &d\n"          /* 1 */
	"  replicas: 1\n"         /* 2 */
	"  image: nginx\n"        /* 3 */
	"  env: {A: \"1\"}\n"     /* 4 */
	"web:\n"                  /* 5 */
	"  <<: *d\n"              /* 6 */
	"  replicas: 3\n"         /* 7 */
	"api:\n"                  /* 8 */
	"  replicas: 5\n"         /* 9 */
	"  <<: *d\n";             /* 10 */
/* clang-format on */

static void test_merge_key_with_a_mapping_lets_explicit_keys_win(void **state)
{
	struct t t;
	const struct mf_doc *d;
	json_t *web, *api;

	t_init(&t);
	assert_int_equal(parse(&t, merge_map), 0);
	d = &t.f.docs[0];
	web = json_object_get(d->root, "web");
	api = json_object_get(d->root, "api");
	assert_int_equal(json_object_size(web), 3);
	assert_int_equal(json_integer_value(json_object_get(web, "replicas")),
			 3);
	assert_string_equal(json_string_value(json_object_get(web, "image")),
			    "nginx");
	assert_null(json_object_get(web, "<<"));
	/* The explicit key wins also when it comes before "<<". */
	assert_int_equal(json_integer_value(json_object_get(api, "replicas")),
			 5);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(api, "env"), "A")),
			    "1");

	assert_pos(d, "/web/replicas", 7, 13, 7, 3);
	assert_pos(d, "/web/image", 6, 7, 6, 7);
	assert_pos(d, "/web/env/A", 6, 7, 6, 7);
	assert_pos(d, "/api/replicas", 9, 13, 9, 3);
	assert_null(mf_doc_pos(d, "/web/<<"));
	assert_int_equal(d->pos.nr, count_nodes(d->root));
	t_release(&t);
}

static void test_merge_of_a_sequence_prefers_earlier_mappings(void **state)
{
	struct t t;
	const struct mf_doc *d;
	json_t *c, *want;

	t_init(&t);
	assert_int_equal(parse(&t, "a: &a {x: 1, y: 1}\n"
				   "b: &b {y: 2, z: 2}\n"
				   "c:\n"
				   "  <<: [*a, *b]\n"
				   "  z: 3\n"),
			 0);
	d = &t.f.docs[0];
	c = json_object_get(d->root, "c");
	want = json_loads("{\"x\": 1, \"y\": 1, \"z\": 3}", 0, NULL);
	assert_true(json_equal(c, want));
	json_decref(want);
	assert_pos(d, "/c/x", 4, 8, 4, 8);
	assert_pos(d, "/c/y", 4, 8, 4, 8);
	assert_pos(d, "/c/z", 5, 6, 5, 3);
	assert_int_equal(d->pos.nr, count_nodes(d->root));
	t_release(&t);
}

static void test_inline_merge_keeps_the_merged_members_positions(void **state)
{
	struct t t;
	const struct mf_doc *d;
	json_t *m;

	t_init(&t);
	assert_int_equal(parse(&t, "m:\n"
				   "  <<: {p: 1, q: [1, 2]}\n"
				   "  r: 2\n"
				   "\"<<\": quoted\n"),
			 0);
	d = &t.f.docs[0];
	m = json_object_get(d->root, "m");
	assert_int_equal(json_object_size(m), 3);
	assert_pos(d, "/m/p", 2, 11, 2, 8);
	assert_pos(d, "/m/q", 2, 17, 2, 14);
	assert_pos(d, "/m/q/1", 2, 21, 2, 21);
	assert_pos(d, "/m/r", 3, 6, 3, 3);
	/* Only a plain "<<" merges; a quoted one is an ordinary key. */
	assert_string_equal(json_string_value(json_object_get(d->root, "<<")),
			    "quoted");
	assert_pos(d, "/<<", 4, 7, 4, 1);
	assert_int_equal(d->pos.nr, count_nodes(d->root));
	t_release(&t);
}

static void test_quoted_merge_key_in_a_merge_value_is_no_duplicate(void **state)
{
	struct t t;
	json_t *want;

	t_init(&t);
	assert_int_equal(parse(&t, "a:\n"
				   "  <<:\n"
				   "    \"<<\": 1\n"
				   "    <<: {b: 2}\n"
				   "  c: 3\n"),
			 0);
	want = json_loads("{\"<<\": 1, \"b\": 2, \"c\": 3}", 0, NULL);
	assert_true(json_equal(json_object_get(t.f.docs[0].root, "a"), want));
	json_decref(want);
	assert_pos(&t.f.docs[0], "/a/b", 4, 13, 4, 10);
	assert_pos(&t.f.docs[0], "/a/<<", 3, 11, 3, 5);
	assert_int_equal(t.f.docs[0].pos.nr, count_nodes(t.f.docs[0].root));
	t_release(&t);
}

static void test_merge_key_with_a_scalar_is_an_error(void **state)
{
	struct t t;

	t_init(&t);
	assert_string_equal(parse_error(&t, "a:\n  <<: 5\n"),
			    "m.yaml:2:7: yaml: the merge key \"<<\" needs a "
			    "mapping or a sequence of mappings, got a scalar");
	t_release(&t);
	t_init(&t);
	assert_string_equal(parse_error(&t, "x: &x {k: 1}\n"
					    "a: {<<: [*x, [1]]}\n"),
			    "m.yaml:2:9: yaml: the merge key \"<<\" needs a "
			    "mapping or a sequence of mappings, got a sequence "
			    "holding a sequence");
	t_release(&t);
}

static void test_undefined_alias_is_an_error_naming_the_anchor(void **state)
{
	struct t t;

	t_init(&t);
	assert_string_equal(parse_error(&t, "a: *nowhere\n"),
			    "m.yaml:1:4: yaml: alias *nowhere refers to no "
			    "anchor &nowhere defined before it in this "
			    "document");
	t_release(&t);

	/* Anchors do not cross documents. */
	t_init(&t);
	assert_int_equal(parse(&t, "a: &x 1\n---\nb: *x\n"), -EINVAL);
	assert_string_equal(diag(&t, 0),
			    "m.yaml:3:4: yaml: alias *x refers to no anchor &x "
			    "defined before it in this document");
	assert_int_equal(t.f.nr_docs, 1);
	t_release(&t);
}

static void test_recursive_alias_is_an_error(void **state)
{
	struct t t;

	t_init(&t);
	assert_string_equal(parse_error(&t, "a: &r [1, *r]\n"),
			    "m.yaml:1:11: yaml: alias *r is inside the node "
			    "anchored &r: JSON cannot hold a recursive "
			    "structure");
	t_release(&t);
}

static const char billion_laughs[] =
	"a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
	"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
	"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
	"h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
	"i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";

static void test_alias_bomb_fails_fast_at_the_node_cap(void **state)
{
	struct t t;

	/*
	 * Levels hold 10, 91, 820, 7381 and 66430 nodes; the aliases of a to
	 * e add 74718, so the first *e would pass 100000 and is refused
	 * before it is copied.
	 */
	t_init(&t);
	assert_string_equal(
		parse_error(&t, billion_laughs),
		"m.yaml:6:8: yaml: alias expansion exceeds 100000 "
		"nodes (an alias bomb?): reduce the use of aliases");
	assert_int_equal(t.f.nr_docs, 0);
	t_release(&t);

	t_init(&t);
	t.opts.max_alias_nodes = 100;
	assert_string_equal(
		parse_error(&t, billion_laughs),
		"m.yaml:3:8: yaml: alias expansion exceeds 100 "
		"nodes (an alias bomb?): reduce the use of aliases");
	t_release(&t);
}

static void test_alias_nodes_are_counted_per_file_not_per_document(void **state)
{
	struct t t;

	t_init(&t);
	t.opts.max_alias_nodes = 10;
	assert_int_equal(parse(&t, "a: &a [1, 2, 3]\nb: *a\nc: *a\n"
				   "---\n"
				   "a: &a [1, 2, 3]\nb: *a\nc: *a\n"),
			 -EINVAL);
	assert_string_equal(
		diag(&t, 0),
		"m.yaml:6:4: yaml: alias expansion exceeds 10 "
		"nodes (an alias bomb?): reduce the use of aliases");
	assert_int_equal(t.f.nr_docs, 1);
	t_release(&t);
}

/*
 * Appends "? " and a key of 64 KiB ("kkk...") to b: an explicit key, as
 * libyaml reads implicit ones up to 1024 characters only.
 */
static void add_long_key(struct sm_buf *b)
{
	assert_int_equal(sm_buf_adds(b, "? "), 0);
	for (int i = 0; i < 64 * 1024; i++)
		assert_int_equal(sm_buf_addch(b, 'k'), 0);
}

static void test_long_keys_over_many_nodes_meet_the_pointer_budget(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct t t;

	/*
	 * 600 items under a 64 KiB key would keep 39 MiB of pointers for a
	 * 68 KiB file; the budget is 32 MiB, reached at item 510 (line 513).
	 */
	add_long_key(&b);
	assert_int_equal(sm_buf_adds(&b, "\n:\n"), 0);
	for (int i = 0; i < 600; i++)
		assert_int_equal(sm_buf_adds(&b, "  - 1\n"), 0);
	t_init(&t);
	assert_string_equal(parse_error(&t, sm_buf_cstr(&b)),
			    "m.yaml:513:5: yaml: the JSON Pointers of this "
			    "file's nodes pass 32 MiB (long keys nested "
			    "deep?): shorten the keys or split the file");
	t_release(&t);
	sm_buf_release(&b);
}

static void test_aliases_and_merges_meet_the_pointer_budget(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct t t;

	/* 5001 copied nodes under a 64 KiB key: stopped while copying. */
	assert_int_equal(sm_buf_adds(&b, "a: &a [0"), 0);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(sm_buf_adds(&b, ", 0"), 0);
	assert_int_equal(sm_buf_adds(&b, "]\n"), 0);
	add_long_key(&b);
	assert_int_equal(sm_buf_adds(&b, "\n: *a\n"), 0);
	t_init(&t);
	assert_string_equal(parse_error(&t, sm_buf_cstr(&b)),
			    "m.yaml:3:3: yaml: the JSON Pointers of this "
			    "file's nodes pass 32 MiB (long keys nested "
			    "deep?): shorten the keys or split the file");
	assert_int_equal(t.f.nr_docs, 0);
	t_release(&t);

	/*
	 * 300 merged members: their copies (20 MiB) fit, moving them to
	 * their place does not; the mapping that merges is named.
	 */
	sm_buf_reset(&b);
	assert_int_equal(sm_buf_adds(&b, "a: &a {k0: 0"), 0);
	for (int i = 1; i < 300; i++)
		assert_int_equal(sm_buf_addf(&b, ", k%d: 0", i), 0);
	assert_int_equal(sm_buf_adds(&b, "}\n"), 0);
	add_long_key(&b);
	assert_int_equal(sm_buf_adds(&b, "\n:\n  <<: *a\n"), 0);
	t_init(&t);
	assert_string_equal(parse_error(&t, sm_buf_cstr(&b)),
			    "m.yaml:4:3: yaml: the JSON Pointers of this "
			    "file's nodes pass 32 MiB (long keys nested "
			    "deep?): shorten the keys or split the file");
	t_release(&t);
	sm_buf_release(&b);
}

static char *nested(int levels)
{
	char *s = malloc((size_t)levels * 2 + 2);

	assert_non_null(s);
	memset(s, '[', (size_t)levels);
	s[levels] = '1';
	memset(s + levels + 1, ']', (size_t)levels);
	s[levels * 2 + 1] = '\0';
	return s;
}

static void test_nesting_deeper_than_max_depth_is_an_error(void **state)
{
	struct t t;
	char *s;

	t_init(&t);
	t.opts.max_depth = 5;
	s = nested(5);
	assert_int_equal(parse(&t, s), 0);
	free(s);
	t_release(&t);

	t_init(&t);
	t.opts.max_depth = 5;
	s = nested(6);
	assert_string_equal(parse_error(&t, s),
			    "m.yaml:1:6: yaml: nesting deeper than 5 levels");
	free(s);
	t_release(&t);

	/* The default limit, and block style. */
	t_init(&t);
	s = nested(100000);
	assert_string_equal(parse_error(&t, s),
			    "m.yaml:1:257: yaml: nesting deeper than 256 "
			    "levels");
	free(s);
	t_release(&t);

	t_init(&t);
	t.opts.max_depth = 2;
	assert_string_equal(parse_error(&t, "a:\n  b:\n    c: 1\n"),
			    "m.yaml:3:5: yaml: nesting deeper than 2 levels");
	t_release(&t);
}

static void test_aliases_cannot_nest_past_max_depth(void **state)
{
	struct t t;

	t_init(&t);
	t.opts.max_depth = 3;
	assert_int_equal(parse(&t, "a: &a [[1]]\nb: *a\n"), 0);
	t_release(&t);

	t_init(&t);
	t.opts.max_depth = 3;
	assert_string_equal(parse_error(&t, "a: &a [[1]]\nb: [*a]\n"),
			    "m.yaml:2:5: yaml: alias *a nests deeper than 3 "
			    "levels");
	t_release(&t);
}

static void test_duplicate_keys_are_an_error_naming_both_places(void **state)
{
	struct t t;

	t_init(&t);
	assert_string_equal(
		parse_error(&t, "metadata:\n"
				"  name: a\n"
				"  labels: {}\n"
				"  name: b\n"),
		"m.yaml:4:3: yaml: duplicate key \"name\": first at "
		"2:3, again at 4:3");
	t_release(&t);

	t_init(&t);
	assert_string_equal(parse_error(&t, "{a: 1, b: 2, a: 3}"),
			    "m.yaml:1:14: yaml: duplicate key \"a\": first at "
			    "1:2, again at 1:14");
	t_release(&t);

	/* Keys are strings: 1 and "1" are one key. */
	t_init(&t);
	assert_string_equal(parse_error(&t, "1: x\n\"1\": y\n"),
			    "m.yaml:2:1: yaml: duplicate key \"1\": first at "
			    "1:1, again at 2:1");
	t_release(&t);

	t_init(&t);
	assert_string_equal(parse_error(&t, "x: &x {k: 1}\n"
					    "a:\n  <<: *x\n  <<: *x\n"),
			    "m.yaml:4:3: yaml: duplicate key \"<<\": first at "
			    "3:3, again at 4:3");
	t_release(&t);
}

static void test_keys_that_are_not_scalars_are_errors(void **state)
{
	struct t t;

	t_init(&t);
	assert_string_equal(parse_error(&t, "? [a]\n: 1\n"),
			    "m.yaml:1:3: yaml: mapping keys must be scalars, "
			    "got a sequence");
	t_release(&t);

	t_init(&t);
	assert_string_equal(parse_error(&t, "? {a: 1}\n: 1\n"),
			    "m.yaml:1:3: yaml: mapping keys must be scalars, "
			    "got a mapping");
	t_release(&t);

	t_init(&t);
	assert_string_equal(
		parse_error(&t, "a: &x {k: v}\n*x : 1\n"),
		"m.yaml:2:1: yaml: alias *x used as a key refers to "
		"a mapping; mapping keys must be scalars");
	t_release(&t);

	t_init(&t);
	assert_string_equal(parse_error(&t, "\"a\\0b\": 1\n"),
			    "m.yaml:1:1: yaml: key \"a\\x00b\" contains a NUL "
			    "character");
	t_release(&t);
}

static void test_plain_keys_stay_strings_as_written(void **state)
{
	struct t t;
	json_t *root;

	t_init(&t);
	assert_int_equal(parse(&t, "8080: a\ntrue: b\nnull: c\n~: d\n"
				   "0x1F: e\n1.5: f\n? \n: g\n"),
			 0);
	root = t.f.docs[0].root;
	assert_int_equal(json_object_size(root), 7);
	assert_string_equal(json_string_value(json_object_get(root, "8080")),
			    "a");
	assert_string_equal(json_string_value(json_object_get(root, "true")),
			    "b");
	assert_string_equal(json_string_value(json_object_get(root, "null")),
			    "c");
	assert_string_equal(json_string_value(json_object_get(root, "~")), "d");
	assert_string_equal(json_string_value(json_object_get(root, "0x1F")),
			    "e");
	assert_string_equal(json_string_value(json_object_get(root, "1.5")),
			    "f");
	assert_string_equal(json_string_value(json_object_get(root, "")), "g");
	assert_pos(&t.f.docs[0], "/8080", 1, 7, 1, 1);
	t_release(&t);
}

static void test_syntax_errors_give_libyaml_problem_at_line_col(void **state)
{
	struct t t;

	t_init(&t);
	assert_string_equal(parse_error(&t, "a: b: c\n"),
			    "m.yaml:1:5: yaml: mapping values are not allowed "
			    "in this context");
	t_release(&t);

	t_init(&t);
	assert_string_equal(
		parse_error(&t, "a: [1\nb: 2\n"),
		"m.yaml:2:2: yaml: did not find expected ',' or ']' "
		"(while parsing a flow sequence)");
	t_release(&t);

	t_init(&t);
	assert_string_equal(parse_error(&t, "key: 'unterminated\n"),
			    "m.yaml:2:1: yaml: found unexpected end of stream "
			    "(while scanning a quoted scalar)");
	t_release(&t);

	/* JSON surrogate pairs are not YAML escapes; libyaml says so. */
	t_init(&t);
	assert_string_equal(
		parse_error(&t, "{\"k\": \"\\ud83d\\ude00\"}"),
		"m.yaml:1:10: yaml: found invalid Unicode character "
		"escape code (while parsing a quoted scalar)");
	t_release(&t);
}

static void test_documents_before_an_error_are_kept(void **state)
{
	struct t t;

	t_init(&t);
	assert_int_equal(parse(&t, "a: 1\n---\nb: 2\n---\nc: [\n"), -EINVAL);
	assert_int_equal(sm_err_count(&t.e, SM_ERROR), 1);
	assert_int_equal(t.f.nr_docs, 2);
	assert_int_equal(
		json_integer_value(json_object_get(t.f.docs[1].root, "b")), 2);
	assert_pos(&t.f.docs[1], "/b", 3, 4, 3, 1);
	t_release(&t);
}

static void test_tab_indentation_is_an_error_with_a_hint(void **state)
{
	struct t t;

	t_init(&t);
	assert_string_equal(parse_error(&t, "a:\n\tb: 1\n"),
			    "m.yaml:2:1: yaml: found character that cannot "
			    "start any token (while scanning for the next "
			    "token): YAML indents with spaces, not tabs");
	t_release(&t);

	t_init(&t);
	assert_string_equal(parse_error(&t, "spec:\n  replicas: 1\n"
					    "  \ttemplate: {}\n"),
			    "m.yaml:3:3: yaml: found a tab character that "
			    "violates indentation (while scanning a plain "
			    "scalar): YAML indents with spaces, not tabs");
	t_release(&t);
}

static void test_binary_garbage_is_an_error_with_a_position(void **state)
{
	static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
	static const char elf[] = "\x7f"
				  "ELF\x02\x01\x01\0\0\0";
	struct t t;

	t_init(&t);
	assert_int_equal(mf_parse_buffer(&t.f, "m.yaml", png, sizeof(png) - 1,
					 NULL, &t.e),
			 -EINVAL);
	assert_string_equal(diag(&t, 0),
			    "m.yaml:1:1: yaml: invalid leading UTF-8 octet "
			    "0x89: manifests must be UTF-8 text");
	t_release(&t);

	t_init(&t);
	assert_int_equal(mf_parse_buffer(&t.f, "m.yaml", elf, sizeof(elf) - 1,
					 NULL, &t.e),
			 -EINVAL);
	assert_string_equal(diag(&t, 0),
			    "m.yaml:1:1: yaml: control characters are not "
			    "allowed, found U+007F: is this a binary file?");
	t_release(&t);
}

static void test_nul_byte_is_an_error_at_its_position(void **state)
{
	static const char data[] = "a: 1\nb: x\0y\n";
	struct t t;

	t_init(&t);
	assert_int_equal(mf_parse_buffer(&t.f, "m.yaml", data, sizeof(data) - 1,
					 NULL, &t.e),
			 -EINVAL);
	assert_string_equal(diag(&t, 0),
			    "m.yaml:2:5: yaml: control characters are not "
			    "allowed, found U+0000: is this a binary file?");
	t_release(&t);
}

static void test_invalid_utf8_is_an_error_at_its_line_and_column(void **state)
{
	struct t t;

	t_init(&t);
	assert_string_equal(parse_error(&t, "a: ok\nb: caf\xc3\x28\n"),
			    "m.yaml:2:8: yaml: invalid trailing UTF-8 octet "
			    "0x28: manifests must be UTF-8 text");
	t_release(&t);

	t_init(&t);
	assert_string_equal(parse_error(&t, "a: \xff\n"),
			    "m.yaml:1:4: yaml: invalid leading UTF-8 octet "
			    "0xFF: manifests must be UTF-8 text");
	t_release(&t);

	/* An encoded surrogate is not a character. */
	t_init(&t);
	assert_string_equal(
		parse_error(&t, "a: \xed\xa0\x80\n"),
		"m.yaml:1:4: yaml: invalid Unicode character, found "
		"U+D800: manifests must be UTF-8 text");
	t_release(&t);
}

/* xorshift32: the same bytes on every run. */
static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_random_bytes_fail_cleanly_or_parse(void **state)
{
	static const char alphabet[] = "ab:- \n[]{},&*!|>'\"#?~%@`\t0.";
	uint32_t seed = 12345;
	size_t failed = 0;

	for (int round = 0; round < 400; round++) {
		char data[200];
		struct t t;
		int r;

		for (size_t i = 0; i < sizeof(data); i++) {
			uint32_t x = next_rand(&seed);

			/* Half raw bytes, half YAML punctuation. */
			data[i] =
				round % 2
					? (char)(x & 0xff)
					: alphabet[x % (sizeof(alphabet) - 1)];
		}
		t_init(&t);
		r = mf_parse_buffer(&t.f, "m.yaml", data, sizeof(data), NULL,
				    &t.e);
		if (r) {
			assert_int_equal(r, -EINVAL);
			assert_true(sm_err_count(&t.e, SM_ERROR) >= 1);
			assert_true(t.e.items[0].line >= 1);
			assert_true(t.e.items[0].col >= 1);
			failed++;
		} else {
			assert_int_equal(t.e.nr, 0);
		}
		t_release(&t);
	}
	/* Every raw-bytes round is invalid UTF-8 or has control bytes. */
	assert_true(failed >= 200);
}

static void test_data_need_not_be_nul_terminated(void **state)
{
	/* No NUL after the 4 bytes: ASan would catch a read past them. */
	char *data = malloc(4);
	struct t t;

	assert_non_null(data);
	memcpy(data, "a: 1", 4);
	t_init(&t);
	assert_int_equal(mf_parse_buffer(&t.f, "m.yaml", data, 4, NULL, &t.e),
			 0);
	assert_int_equal(
		json_integer_value(json_object_get(t.f.docs[0].root, "a")), 1);
	t_release(&t);
	free(data);
}

static void test_oversized_buffer_is_refused_with_efbig(void **state)
{
	size_t len = 9u << 20;
	char *big = malloc(len);
	struct t t;

	assert_non_null(big);
	memset(big, 'a', len);
	t_init(&t);
	assert_int_equal(
		mf_parse_buffer(&t.f, "big.yaml", big, len, NULL, &t.e),
		-EFBIG);
	assert_int_equal(sm_err_count(&t.e, SM_ERROR), 1);
	assert_string_equal(
		diag(&t, 0),
		"big.yaml: file is 9.0 MiB, over the 8 MiB limit for "
		"manifests: split it or raise --max-file-size");
	assert_int_equal(t.f.nr_docs, 0);
	t_release(&t);

	/* Just over: the exact size, not a rounded one that looks equal. */
	t_init(&t);
	assert_int_equal(mf_parse_buffer(&t.f, "big.yaml", big,
					 MF_PARSE_MAX_BYTES + 1, NULL, &t.e),
			 -EFBIG);
	assert_string_equal(diag(&t, 0),
			    "big.yaml: file is 8388609 bytes, over the 8 MiB "
			    "limit for manifests: split it or raise "
			    "--max-file-size");
	t_release(&t);

	/* At the limit is fine. */
	t_init(&t);
	t.opts.max_bytes = 16;
	assert_int_equal(mf_parse_buffer(&t.f, "m.yaml", "a: 1234567890123", 16,
					 &t.opts, &t.e),
			 0);
	t_release(&t);
	t_init(&t);
	t.opts.max_bytes = 16;
	assert_int_equal(mf_parse_buffer(&t.f, "m.yaml", "a: 12345678901234",
					 17, &t.opts, &t.e),
			 -EFBIG);
	assert_string_equal(diag(&t, 0),
			    "m.yaml: file is 17 bytes, over the 16 bytes limit "
			    "for manifests: split it or raise --max-file-size");
	t_release(&t);
	free(big);
}

/* Writes data to a new temporary file; returns its path (free()). */
static char *temp_file(const void *data, size_t len, off_t size)
{
	char *path = strdup("/tmp/stuurman-test-parse-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	if (size)
		assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
	return path;
}

static void test_parse_file_reads_and_parses(void **state)
{
	char *path = temp_file(deployment, strlen(deployment), 0);
	struct t t;

	t_init(&t);
	assert_int_equal(mf_parse_file(&t.f, path, NULL, &t.e), 0);
	assert_string_equal(t.f.path, path);
	assert_int_equal(t.f.nr_docs, 1);
	assert_pos(&t.f.docs[0], "/spec/template/spec/containers/0/image", 12,
		   18, 12, 11);
	t_release(&t);
	unlink(path);
	free(path);
}

static void test_parse_file_errors_name_the_file(void **state)
{
	char *path = temp_file("a: 1\nb: [\n", 10, 0);
	char *want;
	struct t t;

	t_init(&t);
	assert_int_equal(mf_parse_file(&t.f, path, NULL, &t.e), -EINVAL);
	assert_true(asprintf(&want,
			     "%s:3:1: yaml: did not find expected node content "
			     "(while parsing a flow node)",
			     path) > 0);
	assert_string_equal(diag(&t, 0), want);
	free(want);
	t_release(&t);
	unlink(path);
	free(path);
}

static void test_parse_file_on_a_missing_file_reports_cannot_read(void **state)
{
	char *path = temp_file("", 0, 0);
	char *want;
	struct t t;

	unlink(path);
	t_init(&t);
	assert_int_equal(mf_parse_file(&t.f, path, NULL, &t.e), -ENOENT);
	assert_int_equal(sm_err_count(&t.e, SM_ERROR), 1);
	assert_true(asprintf(&want,
			     "%s: cannot read: No such file or directory",
			     path) > 0);
	assert_string_equal(diag(&t, 0), want);
	assert_int_equal(t.f.nr_docs, 0);
	free(want);
	t_release(&t);

	t_init(&t);
	assert_int_equal(mf_parse_file(&t.f, "/tmp", NULL, &t.e), -EISDIR);
	assert_string_equal(diag(&t, 0), "/tmp: cannot read: Is a directory");
	t_release(&t);
	free(path);
}

static void test_parse_file_on_an_oversized_file_reports_its_size(void **state)
{
	/* Sparse: 9 MiB that cost no disk and are refused unread. */
	char *path = temp_file("a: 1\n", 5, 9 << 20);
	char *want;
	struct t t;

	t_init(&t);
	assert_int_equal(mf_parse_file(&t.f, path, NULL, &t.e), -EFBIG);
	assert_true(asprintf(&want,
			     "%s: file is 9.0 MiB, over the 8 MiB limit for "
			     "manifests: split it or raise --max-file-size",
			     path) > 0);
	assert_string_equal(diag(&t, 0), want);
	free(want);
	t_release(&t);

	t_init(&t);
	t.opts.max_bytes = 1024;
	assert_int_equal(mf_parse_file(&t.f, path, &t.opts, &t.e), -EFBIG);
	assert_true(asprintf(&want,
			     "%s: file is 9.0 MiB, over the 1 KiB limit for "
			     "manifests: split it or raise --max-file-size",
			     path) > 0);
	assert_string_equal(diag(&t, 0), want);
	free(want);
	t_release(&t);
	unlink(path);
	free(path);
}

static void test_release_leaves_a_reusable_empty_file(void **state)
{
	struct mf_file f = MF_FILE_INIT;
	struct sm_err e = SM_ERR_INIT;

	mf_file_release(&f);
	assert_int_equal(mf_parse_buffer(&f, "a.yaml", "x: 1", 4, NULL, &e), 0);
	mf_file_release(&f);
	assert_null(f.path);
	assert_null(f.docs);
	assert_int_equal(f.nr_docs, 0);
	assert_int_equal(mf_parse_buffer(&f, "b.yaml", "y: 2", 4, NULL, &e), 0);
	assert_string_equal(f.path, "b.yaml");
	assert_int_equal(e.nr, 0);
	mf_file_release(&f);
	sm_err_release(&e);
}

static void test_many_documents_get_a_position_for_each_node(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	struct t t;

	for (int i = 0; i < 1000; i++)
		assert_int_equal(sm_buf_addf(&b, "---\n%s", deployment), 0);
	t_init(&t);
	assert_int_equal(
		mf_parse_buffer(&t.f, "m.yaml", b.buf, b.len, NULL, &t.e), 0);
	assert_int_equal(t.f.nr_docs, 1000);
	assert_int_equal(t.f.docs[999].index, 999);
	assert_int_equal(t.f.docs[999].line, 999 * 18 + 2);
	assert_pos(&t.f.docs[999], "/spec/replicas", 999 * 18 + 8, 13,
		   999 * 18 + 8, 3);
	assert_int_equal(t.f.docs[999].pos.nr, count_nodes(t.f.docs[999].root));
	t_release(&t);
	sm_buf_release(&b);
}

static void
test_without_positions_values_are_the_same_and_duplicates_fail(void **state)
{
	static const char yaml[] = "a:\n  b: [1, 2]\n  c: x\nbase: &b {k: 1}\n"
				   "m:\n  <<: *b\n  k: 2\n";
	static const char dup[] = "a: 1\nb: 2\na: 3\n";
	struct mf_parse_opts fast = MF_PARSE_OPTS_INIT;
	struct mf_file with = MF_FILE_INIT, without = MF_FILE_INIT;
	struct sm_err err = SM_ERR_INIT;

	fast.no_positions = true;
	assert_int_equal(mf_parse_buffer(&with, "f.yaml", yaml, strlen(yaml),
					 NULL, &err),
			 0);
	assert_int_equal(mf_parse_buffer(&without, "f.yaml", yaml, strlen(yaml),
					 &fast, &err),
			 0);
	assert_int_equal(err.nr, 0);
	assert_true(json_equal(with.docs[0].root, without.docs[0].root));
	assert_non_null(mf_doc_pos(&with.docs[0], "/a/b/1"));
	assert_null(mf_doc_pos(&without.docs[0], "/a/b/1"));
	/* The explicit key still wins over the merged one. */
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(without.docs[0].root, "m"), "k")),
		2);
	mf_file_release(&with);
	mf_file_release(&without);

	assert_int_equal(mf_parse_buffer(&without, "d.yaml", dup, strlen(dup),
					 &fast, &err),
			 -EINVAL);
	assert_int_equal(err.nr, 1);
	assert_int_equal(err.items[0].line, 3);
	assert_non_null(strstr(err.items[0].msg, "duplicate key"));
	mf_file_release(&without);
	sm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_nested_nodes_record_value_and_key_positions),
		cmocka_unit_test(
			test_without_positions_values_are_the_same_and_duplicates_fail),
		cmocka_unit_test(test_pointers_escape_tilde_and_slash_in_keys),
		cmocka_unit_test(
			test_columns_count_characters_and_crlf_ends_a_line),
		cmocka_unit_test(
			test_multi_document_file_skips_empty_and_null_docs),
		cmocka_unit_test(
			test_file_without_documents_gives_none_and_no_error),
		cmocka_unit_test(test_a_document_that_is_a_scalar_is_kept),
		cmocka_unit_test(
			test_json_input_is_read_with_tabs_and_types_kept),
		cmocka_unit_test(test_compact_json_without_spaces_is_read),
		cmocka_unit_test(
			test_plain_scalars_resolve_by_the_yaml_1_2_core_schema),
		cmocka_unit_test(test_string_values_may_hold_a_nul),
		cmocka_unit_test(
			test_out_of_range_numbers_are_errors_naming_the_value),
		cmocka_unit_test(test_core_tags_are_honoured),
		cmocka_unit_test(
			test_tags_that_do_not_fit_are_errors_naming_the_tag),
		cmocka_unit_test(
			test_alias_copies_take_the_position_of_the_alias),
		cmocka_unit_test(
			test_alias_copies_share_nothing_with_the_anchor),
		cmocka_unit_test(
			test_anchors_can_be_redefined_and_used_as_keys),
		cmocka_unit_test(
			test_merge_key_with_a_mapping_lets_explicit_keys_win),
		cmocka_unit_test(
			test_merge_of_a_sequence_prefers_earlier_mappings),
		cmocka_unit_test(
			test_inline_merge_keeps_the_merged_members_positions),
		cmocka_unit_test(
			test_quoted_merge_key_in_a_merge_value_is_no_duplicate),
		cmocka_unit_test(test_merge_key_with_a_scalar_is_an_error),
		cmocka_unit_test(
			test_undefined_alias_is_an_error_naming_the_anchor),
		cmocka_unit_test(test_recursive_alias_is_an_error),
		cmocka_unit_test(test_alias_bomb_fails_fast_at_the_node_cap),
		cmocka_unit_test(
			test_alias_nodes_are_counted_per_file_not_per_document),
		cmocka_unit_test(
			test_nesting_deeper_than_max_depth_is_an_error),
		cmocka_unit_test(test_aliases_cannot_nest_past_max_depth),
		cmocka_unit_test(
			test_long_keys_over_many_nodes_meet_the_pointer_budget),
		cmocka_unit_test(
			test_aliases_and_merges_meet_the_pointer_budget),
		cmocka_unit_test(
			test_duplicate_keys_are_an_error_naming_both_places),
		cmocka_unit_test(test_keys_that_are_not_scalars_are_errors),
		cmocka_unit_test(test_plain_keys_stay_strings_as_written),
		cmocka_unit_test(
			test_syntax_errors_give_libyaml_problem_at_line_col),
		cmocka_unit_test(test_documents_before_an_error_are_kept),
		cmocka_unit_test(test_tab_indentation_is_an_error_with_a_hint),
		cmocka_unit_test(
			test_binary_garbage_is_an_error_with_a_position),
		cmocka_unit_test(test_nul_byte_is_an_error_at_its_position),
		cmocka_unit_test(
			test_invalid_utf8_is_an_error_at_its_line_and_column),
		cmocka_unit_test(test_random_bytes_fail_cleanly_or_parse),
		cmocka_unit_test(test_data_need_not_be_nul_terminated),
		cmocka_unit_test(test_oversized_buffer_is_refused_with_efbig),
		cmocka_unit_test(test_parse_file_reads_and_parses),
		cmocka_unit_test(test_parse_file_errors_name_the_file),
		cmocka_unit_test(
			test_parse_file_on_a_missing_file_reports_cannot_read),
		cmocka_unit_test(
			test_parse_file_on_an_oversized_file_reports_its_size),
		cmocka_unit_test(test_release_leaves_a_reusable_empty_file),
		cmocka_unit_test(
			test_many_documents_get_a_position_for_each_node),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
