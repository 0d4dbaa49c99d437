/*
 * fieldsel.h: field selectors, the fieldSelector parameter of list and
 * watch requests.
 *
 * A selector is terms joined by ',' (all must hold): key=value, key==value
 * (the same) or key!=value. Values may be empty ("spec.nodeName=" selects
 * unscheduled pods) and may escape '\', ',' and '=' with a backslash, as
 * Kubernetes' fields.EscapeValue writes them. The text given is already
 * URL-decoded (common/url.h).
 *
 * Only the field labels Kubernetes offers are known, per kind:
 *   every kind  metadata.name, metadata.namespace
 *   Pod         spec.nodeName, spec.restartPolicy, spec.schedulerName,
 *               spec.serviceAccountName, spec.hostNetwork, status.phase,
 *               status.podIP, status.nominatedNodeName
 *   Event       involvedObject.{kind,namespace,name,uid,apiVersion,
 *               resourceVersion,fieldPath}, reason, reportingComponent,
 *               source (source.component), type
 *   Namespace   status.phase
 *   Node        spec.unschedulable
 *   Secret      type
 * A field the object lacks reads as "" (booleans as "false"), as in
 * Kubernetes, so "spec.nodeName=" matches a pod with no node.
 *
 * Ownership: the selector owns its strings; fieldsel_release() frees them.
 */
#ifndef SM_FIELDSEL_H
#define SM_FIELDSEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct sm_err;

enum fieldsel_op {
	FIELDSEL_EQ, /* key=value, key==value */
	FIELDSEL_NEQ, /* key!=value */
};

struct fieldsel_term {
	char *key; /* the field label, e.g. "source" */
	const char *path; /* where it lives, e.g. "source.component" */
	bool boolean; /* absent reads as "false", not "" */
	enum fieldsel_op op;
	char *value; /* unescaped */
};

struct fieldsel {
	struct fieldsel_term *terms;
	size_t nr, alloc;
};

#define FIELDSEL_INIT      \
	{                  \
		NULL, 0, 0 \
	}

void fieldsel_release(struct fieldsel *fs);

/*
 * Parses text into fs (which must be empty) for objects of the given kind
 * ("Pod", "Event", ...; NULL accepts the labels of every kind). An empty
 * text selects everything. On error returns -EINVAL, leaves fs empty and
 * adds one message to err (may be NULL); the server answers 400:
 *   field selector "spec.foo=x": field label not supported: "spec.foo"
 *   (Pod supports metadata.name, metadata.namespace, spec.nodeName, ...)
 */
int fieldsel_parse(struct fieldsel *fs, const char *text, const char *kind,
		   struct sm_err *err);

/* Whether obj (a Kubernetes object) satisfies every term. */
bool fieldsel_matches(const struct fieldsel *fs, const json_t *obj);

/*
 * The value an equality term requires of key (borrowed from fs), or NULL
 * when no key=value term names it: lets a caller use an index
 * (metadata.name, spec.nodeName) instead of scanning.
 */
const char *fieldsel_required(const struct fieldsel *fs, const char *key);

static inline bool fieldsel_empty(const struct fieldsel *fs)
{
	return fs->nr == 0;
}

/*
 * What a watcher with a selector (field, label or both) sees when an
 * object changes, as Kubernetes' filtered watches show it: old_match is
 * whether the state before matched (false when there was none), new_match
 * whether the state after does (false for a deletion). A pod that gets
 * bound to node n1 is ADDED for the watch spec.nodeName=n1, and one that
 * leaves the selection is DELETED for it, although the store saw both as
 * modifications. Returns "ADDED", "MODIFIED", "DELETED" or NULL (nothing to
 * send).
 */
static inline const char *fieldsel_watch_event(bool old_match, bool new_match)
{
	if (old_match && new_match)
		return "MODIFIED";
	if (new_match)
		return "ADDED";
	return old_match ? "DELETED" : NULL;
}

#endif
