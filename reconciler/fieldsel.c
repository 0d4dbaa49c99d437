/*
 * fieldsel.c: field selectors: a table of the field labels per kind, a
 * parser for the string form and the matcher.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "reconciler/fieldsel.h"
#include "common/banned.h"

/* The field labels Kubernetes offers, by kind (NULL: every kind). */
static const struct fieldsel_field {
	const char *kind;
	const char *key;
	const char *path;
	bool boolean;
} fields[] = {
	{ NULL, "metadata.name", "metadata.name", false },
	{ NULL, "metadata.namespace", "metadata.namespace", false },
	{ "Pod", "spec.nodeName", "spec.nodeName", false },
	{ "Pod", "spec.restartPolicy", "spec.restartPolicy", false },
	{ "Pod", "spec.schedulerName", "spec.schedulerName", false },
	{ "Pod", "spec.serviceAccountName", "spec.serviceAccountName", false },
	{ "Pod", "spec.hostNetwork", "spec.hostNetwork", true },
	{ "Pod", "status.phase", "status.phase", false },
	{ "Pod", "status.podIP", "status.podIP", false },
	{ "Pod", "status.nominatedNodeName", "status.nominatedNodeName",
	  false },
	{ "Event", "involvedObject.kind", "involvedObject.kind", false },
	{ "Event", "involvedObject.namespace", "involvedObject.namespace",
	  false },
	{ "Event", "involvedObject.name", "involvedObject.name", false },
	{ "Event", "involvedObject.uid", "involvedObject.uid", false },
	{ "Event", "involvedObject.apiVersion", "involvedObject.apiVersion",
	  false },
	{ "Event", "involvedObject.resourceVersion",
	  "involvedObject.resourceVersion", false },
	{ "Event", "involvedObject.fieldPath", "involvedObject.fieldPath",
	  false },
	{ "Event", "reason", "reason", false },
	{ "Event", "reportingComponent", "reportingComponent", false },
	{ "Event", "source", "source.component", false },
	{ "Event", "type", "type", false },
	{ "Namespace", "status.phase", "status.phase", false },
	{ "Node", "spec.unschedulable", "spec.unschedulable", true },
	{ "Secret", "type", "type", false },
};

static bool field_applies(const struct fieldsel_field *f, const char *kind)
{
	return !f->kind || !kind || !strcmp(f->kind, kind);
}

static const struct fieldsel_field *field_find(const char *key,
					       const char *kind)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(fields); i++)
		if (field_applies(&fields[i], kind) &&
		    !strcmp(fields[i].key, key))
			return &fields[i];
	return NULL;
}

/* "metadata.name, metadata.namespace, ..." for kind, each label once. */
static void field_list(const char *kind, struct sm_buf *out)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(fields); i++) {
		if (!field_applies(&fields[i], kind) ||
		    field_find(fields[i].key, kind) != &fields[i])
			continue;
		if (out->len)
			sm_buf_adds(out, ", ");
		sm_buf_adds(out, fields[i].key);
	}
}

void fieldsel_release(struct fieldsel *fs)
{
	for (size_t i = 0; i < fs->nr; i++) {
		free(fs->terms[i].key);
		free(fs->terms[i].value);
	}
	free(fs->terms);
	fs->terms = NULL;
	fs->nr = fs->alloc = 0;
}

static char *trimmed(const char *s, size_t len)
{
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	return xstrndup(s, len);
}

/* Unescapes a value (\\ \, \=) into a new string; NULL on a bad escape. */
static char *unescape(const char *s)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	for (; *s; s++) {
		if (*s == '\\') {
			if (s[1] != '\\' && s[1] != ',' && s[1] != '=') {
				sm_buf_release(&b);
				return NULL;
			}
			s++;
		}
		sm_buf_addch(&b, *s);
	}
	return sm_buf_detach(&b, NULL);
}

/* Parses one term (term[0..len)) and appends it. */
static int parse_term(struct fieldsel *fs, const char *text, const char *term,
		      size_t len, const char *kind, struct sm_err *err)
{
	const struct fieldsel_field *f;
	enum fieldsel_op op = FIELDSEL_EQ;
	size_t i, oplen = 0;
	char *key, *raw, *value;

	for (i = 0; i < len; i++) {
		if (term[i] == '\\') {
			i++;
			continue;
		}
		if (i + 1 < len && term[i] == '!' && term[i + 1] == '=') {
			op = FIELDSEL_NEQ;
			oplen = 2;
		} else if (i + 1 < len && term[i] == '=' &&
			   term[i + 1] == '=') {
			oplen = 2;
		} else if (term[i] == '=') {
			oplen = 1;
		}
		if (oplen)
			break;
	}
	if (!oplen)
		return sm_error(err, NULL,
				"field selector \"%s\": invalid term \"%.*s\": "
				"expected key=value, key==value or key!=value",
				text, (int)len, term);
	key = trimmed(term, i);
	if (!*key) {
		free(key);
		return sm_error(err, NULL,
				"field selector \"%s\": invalid term \"%.*s\": "
				"missing field label",
				text, (int)len, term);
	}
	f = field_find(key, kind);
	if (!f) {
		struct sm_buf list = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		field_list(kind, &list);
		sm_error(err, NULL,
			 "field selector \"%s\": field label not supported: "
			 "\"%s\" (%s%s supports %s)",
			 text, key, kind ? kind : "stuurman",
			 kind ? "" : " only", sm_buf_cstr(&list));
		sm_buf_release(&list);
		free(key);
		return -EINVAL;
	}
	raw = trimmed(term + i + oplen, len - i - oplen);
	value = unescape(raw);
	free(raw);
	if (!value) {
		free(key);
		return sm_error(err, NULL,
				"field selector \"%s\": invalid term \"%.*s\": "
				"a backslash may only escape '\\', ',' or '='",
				text, (int)len, term);
	}
	SM_ALLOC_GROW(fs->terms, fs->nr + 1, fs->alloc);
	fs->terms[fs->nr++] = (struct fieldsel_term){
		.key = key,
		.path = f->path,
		.boolean = f->boolean,
		.op = op,
		.value = value,
	};
	return 0;
}

int fieldsel_parse(struct fieldsel *fs, const char *text, const char *kind,
		   struct sm_err *err)
{
	const char *p = text ? text : "";
	struct sm_err local = SM_ERR_INIT;
	int rc;

	while (*p) {
		size_t len = 0;

		/* A term ends at a ',' that no backslash escapes. */
		while (p[len] && p[len] != ',') {
			if (p[len] == '\\' && p[len + 1])
				len++;
			len++;
		}
		if (strspn(p, " \t") < len) {
			rc = parse_term(fs, text, p, len, kind,
					err ? err : &local);
			if (rc) {
				fieldsel_release(fs);
				sm_err_release(&local);
				return rc;
			}
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* The field's value as text: strings as they are, "" when absent. */
static const char *field_text(const struct fieldsel_term *t, const json_t *obj,
			      char *num, size_t numlen)
{
	const json_t *v = sm_json_get_path(obj, t->path);

	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING:
		return json_string_value(v);
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_INTEGER:
		snprintf(num, numlen, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		return num;
	default:
		return t->boolean ? "false" : "";
	}
}

bool fieldsel_matches(const struct fieldsel *fs, const json_t *obj)
{
	char num[32];

	for (size_t i = 0; i < fs->nr; i++) {
		const struct fieldsel_term *t = &fs->terms[i];
		bool eq =
			!strcmp(field_text(t, obj, num, sizeof(num)), t->value);

		if (eq != (t->op == FIELDSEL_EQ))
			return false;
	}
	return true;
}

const char *fieldsel_required(const struct fieldsel *fs, const char *key)
{
	for (size_t i = 0; i < fs->nr; i++)
		if (fs->terms[i].op == FIELDSEL_EQ &&
		    !strcmp(fs->terms[i].key, key))
			return fs->terms[i].value;
	return NULL;
}
