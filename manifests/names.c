/*
 * names.c: the string formats of k8s.io/apimachinery/pkg/util/validation.
 *
 * Most formats are "a first character from one class, middle characters
 * from another, a last character from a third", with a length limit. Each
 * such format is one row of name_rules; a single matcher walks any row.
 * Where Kubernetes reports several problems at once, we return the first it
 * would list (length before charset), since callers print one message.
 */
#include <stddef.h>
#include <string.h>

#include "common/compat.h"
#include "manifests/names.h"
#include "common/banned.h"

enum char_class {
	C_LOWER = 1 << 0,
	C_UPPER = 1 << 1,
	C_DIGIT = 1 << 2,
	C_DASH = 1 << 3,
	C_DOT = 1 << 4,
	C_UNDER = 1 << 5,
};

#define C_ALPHA (C_LOWER | C_UPPER)
#define C_ALNUM (C_ALPHA | C_DIGIT)
#define C_LOWNUM (C_LOWER | C_DIGIT)

static unsigned char_class(unsigned char c)
{
	if (c >= 'a' && c <= 'z')
		return C_LOWER;
	if (c >= 'A' && c <= 'Z')
		return C_UPPER;
	if (c >= '0' && c <= '9')
		return C_DIGIT;
	if (c == '-')
		return C_DASH;
	if (c == '.')
		return C_DOT;
	if (c == '_')
		return C_UNDER;
	return 0;
}

/*
 * A format: first, middle and last character classes (a one-character
 * string must satisfy first and last), the longest allowed length (0 for
 * none) and whether the empty string is valid.
 */
struct name_rule {
	unsigned first, middle, last;
	size_t max;
	bool empty_ok;
	const char *too_long;
	const char *bad_format;
};

static const char max15[] = "must be no more than 15 characters";
static const char max63[] = "must be no more than 63 characters";
static const char max253[] = "must be no more than 253 characters";

enum {
	R_DNS1123_LABEL,
	R_DNS1123_SUB_LABEL,
	R_DNS1035_LABEL,
	R_QUALIFIED_NAME,
	R_LABEL_VALUE,
	R_ENV_VAR,
	R_CONFIG_KEY,
};

static const struct name_rule name_rules[] = {
	[R_DNS1123_LABEL] = {
		C_LOWNUM, C_LOWNUM | C_DASH, C_LOWNUM, 63, false, max63,
		"must consist of lower case alphanumeric characters or '-', "
		"and must start and end with an alphanumeric character "
		"(e.g. 'my-name')",
	},
	/* One label of a subdomain: only the whole name has a limit. */
	[R_DNS1123_SUB_LABEL] = {
		C_LOWNUM, C_LOWNUM | C_DASH, C_LOWNUM, 0, false, NULL,
		"must consist of lower case alphanumeric characters, '-' or "
		"'.', and must start and end with an alphanumeric character "
		"(e.g. 'example.com')",
	},
	[R_DNS1035_LABEL] = {
		C_LOWER, C_LOWNUM | C_DASH, C_LOWNUM, 63, false, max63,
		"must consist of lower case alphanumeric characters or '-', "
		"start with an alphabetic character, and end with an "
		"alphanumeric character (e.g. 'my-name' or 'abc-123')",
	},
	/* The name part of a qualified name; the prefix is a subdomain. */
	[R_QUALIFIED_NAME] = {
		C_ALNUM, C_ALNUM | C_DASH | C_UNDER | C_DOT, C_ALNUM, 63, false,
		"name part must be no more than 63 characters",
		"name part must consist of alphanumeric characters, '-', '_' "
		"or '.', and must start and end with an alphanumeric "
		"character (e.g. 'MyName', 'my.name' or '123-abc')",
	},
	[R_LABEL_VALUE] = {
		C_ALNUM, C_ALNUM | C_DASH | C_UNDER | C_DOT, C_ALNUM, 63, true,
		max63,
		"must be an empty string or consist of alphanumeric "
		"characters, '-', '_' or '.', and must start and end with an "
		"alphanumeric character (e.g. 'MyValue', 'my_value' or "
		"'12345')",
	},
	[R_ENV_VAR] = {
		C_ALPHA | C_DASH | C_DOT | C_UNDER,
		C_ALNUM | C_DASH | C_DOT | C_UNDER,
		C_ALNUM | C_DASH | C_DOT | C_UNDER, 0, false, NULL,
		"must consist of alphabetic characters, digits, '_', '-', or "
		"'.', and must not start with a digit (e.g. 'my.env-name', "
		"'MY_ENV.NAME' or 'MyEnvName1')",
	},
	[R_CONFIG_KEY] = {
		C_ALNUM | C_DASH | C_DOT | C_UNDER,
		C_ALNUM | C_DASH | C_DOT | C_UNDER,
		C_ALNUM | C_DASH | C_DOT | C_UNDER, 253, false, max253,
		"must consist of alphanumeric characters, '-', '_' or '.' "
		"(e.g. 'key.name', 'KEY_NAME' or 'key-name')",
	},
};

static bool rule_matches(const struct name_rule *r, const char *s, size_t n)
{
	if (!n)
		return r->empty_ok;
	for (size_t i = 0; i < n; i++) {
		unsigned c = char_class((unsigned char)s[i]);

		if (i == 0 && !(c & r->first))
			return false;
		if (i == n - 1 && !(c & r->last))
			return false;
		if (i > 0 && i < n - 1 && !(c & r->middle))
			return false;
	}
	return true;
}

static const char *check_rule(int rule, const char *s, size_t n)
{
	const struct name_rule *r = &name_rules[rule];

	if (r->max && n > r->max)
		return r->too_long;
	return rule_matches(r, s, n) ? NULL : r->bad_format;
}

const char *mf_check_dns1123_label(const char *s)
{
	return check_rule(R_DNS1123_LABEL, s, strlen(s));
}

/* Labels joined by single dots; the limit is on the whole name. */
static const char *check_subdomain(const char *s, size_t n)
{
	const char *end = s + n;

	if (n > 253)
		return max253;
	for (;;) {
		const char *dot = memchr(s, '.', (size_t)(end - s));
		size_t len = dot ? (size_t)(dot - s) : (size_t)(end - s);
		const char *msg = check_rule(R_DNS1123_SUB_LABEL, s, len);

		if (msg)
			return msg;
		if (!dot)
			return NULL;
		s = dot + 1;
	}
}

const char *mf_check_dns1123_subdomain(const char *s)
{
	return check_subdomain(s, strlen(s));
}

const char *mf_check_dns1035_label(const char *s)
{
	return check_rule(R_DNS1035_LABEL, s, strlen(s));
}

const char *mf_check_qualified_name(const char *s)
{
	const char *slash = strchr(s, '/'), *name = s;

	if (slash) {
		size_t plen = (size_t)(slash - s);

		if (strchr(slash + 1, '/'))
			return "a qualified name must consist of alphanumeric "
			       "characters, '-', '_' or '.', and must start "
			       "and end with an alphanumeric character, with "
			       "an optional DNS subdomain prefix and '/' "
			       "(e.g. 'example.com/MyName')";
		if (!plen)
			return "prefix part must be non-empty";
		if (plen > 253)
			return "prefix part must be no more than 253 "
			       "characters";
		if (check_subdomain(s, plen))
			return "prefix part must consist of lower case "
			       "alphanumeric characters, '-' or '.', and must "
			       "start and end with an alphanumeric character "
			       "(e.g. 'example.com')";
		name = slash + 1;
	}
	if (!*name)
		return "name part must be non-empty";
	return check_rule(R_QUALIFIED_NAME, name, strlen(name));
}

const char *mf_check_label_value(const char *s)
{
	return check_rule(R_LABEL_VALUE, s, strlen(s));
}

/*
 * IANA service names (RFC 6335): the problems are independent, so they are
 * checked in the order Kubernetes lists them.
 */
const char *mf_check_port_name(const char *s)
{
	size_t n = strlen(s);
	bool letter = false;

	if (n > 15)
		return max15;
	if (!n)
		return "must contain only alpha-numeric characters (a-z, 0-9), "
		       "and hyphens (-)";
	for (size_t i = 0; i < n; i++) {
		unsigned c = char_class((unsigned char)s[i]);

		if (!(c & (C_LOWNUM | C_DASH)))
			return "must contain only alpha-numeric characters "
			       "(a-z, 0-9), and hyphens (-)";
		letter |= c == C_LOWER;
	}
	if (!letter)
		return "must contain at least one letter (a-z)";
	if (strstr(s, "--"))
		return "must not contain consecutive hyphens";
	if (s[0] == '-' || s[n - 1] == '-')
		return "must not begin or end with a hyphen";
	return NULL;
}

/*
 * Names that become file names in a volume (and env names, which Kubernetes
 * treats alike) must not walk out of their directory.
 */
static const char *check_dot_dot(const char *s)
{
	if (!strcmp(s, "."))
		return "must not be '.'";
	if (!strcmp(s, ".."))
		return "must not be '..'";
	if (!strncmp(s, "..", 2))
		return "must not start with '..'";
	return NULL;
}

const char *mf_check_env_var_name(const char *s)
{
	const char *msg = check_rule(R_ENV_VAR, s, strlen(s));

	return msg ? msg : check_dot_dot(s);
}

const char *mf_check_config_key(const char *s)
{
	const char *msg = check_rule(R_CONFIG_KEY, s, strlen(s));

	return msg ? msg : check_dot_dot(s);
}

const char *mf_check_percent(const char *s)
{
	size_t n = strlen(s), digits = 0;
	unsigned value = 0;

	while (digits < n && s[digits] >= '0' && s[digits] <= '9') {
		/* Past 100 the exact value no longer matters. */
		if (value <= 100)
			value = value * 10 + (unsigned)(s[digits] - '0');
		digits++;
	}
	if (!digits || digits + 1 != n || s[digits] != '%')
		return "must be a numeric string followed by an ending '%' "
		       "(e.g. '1%' or '93%')";
	if (value > 100)
		return "must not be greater than 100%";
	return NULL;
}
