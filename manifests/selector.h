/*
 * selector.h: label selectors, in both forms Kubernetes has.
 *
 * A struct mf_selector is a list of requirements, all of which must hold
 * (AND). It is built from the string form used by kubectl -l and the API's
 * labelSelector parameter:
 *   app=web,tier!=db,env in (prod,staging),track notin (canary),release,!beta
 * ("=" and "==" are equal), or from a LabelSelector object:
 *   {"matchLabels": {...}, "matchExpressions": [{"key","operator","values"}]}
 * with operators In, NotIn, Exists, DoesNotExist.
 *
 * An empty selector matches everything (as Kubernetes' labels.Everything()).
 * Keys are checked as qualified names and values as label values. As in
 * Kubernetes, "app=" requires the empty value and "env in ()" the set {""};
 * a value set is stored sorted and without duplicates. A label whose value
 * is not a string counts as present but equal to no value.
 *
 * Ownership: the selector owns its strings; mf_selector_release frees them.
 */
#ifndef MF_SELECTOR_H
#define MF_SELECTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct sm_buf;

enum mf_sel_op {
	MF_SEL_EQ, /* key=value (one value) */
	MF_SEL_NEQ, /* key!=value (one value) */
	MF_SEL_IN, /* key in (v1,v2) */
	MF_SEL_NOTIN, /* key notin (v1,v2) */
	MF_SEL_EXISTS, /* key */
	MF_SEL_NOTEXIST, /* !key */
};

struct mf_sel_req {
	char *key;
	enum mf_sel_op op;
	char **values;
	size_t nr_values;
};

struct mf_selector {
	struct mf_sel_req *reqs;
	size_t nr, alloc;
};

#define MF_SELECTOR_INIT   \
	{                  \
		NULL, 0, 0 \
	}

void mf_selector_release(struct mf_selector *s);

/*
 * Parses the string form into s (which must be empty). On error returns
 * -EINVAL, leaves s empty and adds one error to err naming the 1-based
 * position in text, what was expected and what was found:
 *   label selector "app in web": position 8: expected '(', found 'web'
 * pos (may be NULL) is used as the diagnostic's place. An empty or blank
 * text gives an empty selector.
 */
int mf_selector_parse(struct mf_selector *s, const char *text,
		      const struct sm_pos *pos, struct sm_err *err);

/*
 * Builds s (which must be empty) from a LabelSelector object. Type and format
 * errors are added to err with `path` (e.g. "spec.selector") as the field
 * prefix, e.g. "spec.selector.matchExpressions[0].operator: unsupported
 * value ...", and -EINVAL is returned with s left empty; all problems are
 * reported, not only the first. Unknown fields are errors: a misspelt
 * "matchLabel" would otherwise select everything. obj NULL is an error
 * ("required value"); null members count as absent.
 */
int mf_selector_from_json(struct mf_selector *s, const json_t *obj,
			  const char *path, const struct sm_pos *pos,
			  struct sm_err *err);

/* Whether labels (an object of string values; NULL = no labels) match. */
bool mf_selector_matches(const struct mf_selector *s, const json_t *labels);

/* True when the selector has no requirements (it selects everything). */
bool mf_selector_empty(const struct mf_selector *s);

/*
 * Appends the string form ("app=web,tier in (a,b)"), as kubectl prints each
 * requirement, in the order given (for from_json: matchLabels by sorted
 * key, then matchExpressions). kubectl itself also sorts requirements by
 * key; keeping the given order lets parse and format round-trip. Nothing is
 * appended on failure (-EMSGSIZE when out is full).
 */
int mf_selector_format(const struct mf_selector *s, struct sm_buf *out);

#endif
