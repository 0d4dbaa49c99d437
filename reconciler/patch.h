/*
 * patch.h: the three PATCH body formats of the Kubernetes API, applied to a
 * live object.
 *
 *   application/merge-patch+json            RFC 7386 JSON merge patch
 *   application/json-patch+json             RFC 6902 JSON patch
 *   application/strategic-merge-patch+json  Kubernetes' strategic merge patch
 *
 * Strategic merge patch is JSON merge patch plus two things: lists that have
 * a merge key (containers by name, ports by containerPort, ...) merge item by
 * item instead of being replaced, and directives ("$patch",
 * "$setElementOrder/<list>", "$retainKeys", "$deleteFromPrimitiveList/<list>")
 * steer the merge. Merge keys come from a table of field names in context
 * (a list called "containers" anywhere, "ports" inside a container, the
 * Service's top-level spec.ports, status.conditions, ...), which covers the
 * kinds stuurman serves; every other list is replaced whole. Directives are
 * never stored in the result, and unknown "$..." keys are dropped.
 *
 * Ownership: the live object and the patch are borrowed and never changed;
 * the result shares no json_t with either (it is a deep copy), so the caller
 * may store it and still hand the live object out to readers.
 *
 * Errors: every function returns 0 with *out set (a new reference, release
 * with json_decref()) or a negative errno with *out untouched and one
 * message in err (err may be NULL):
 *   -EINVAL   the patch is malformed: not the right JSON shape, an unknown
 *             op, a bad JSON pointer, a list item without its merge key, an
 *             unknown "$patch" value           (the server answers 400)
 *   -EPROTO   the patch is well formed but does not apply to this object:
 *             a path that is not there, a failed "test"    (422)
 *   -ENOTSUP  patch_apply() only: a content type it does not know (415)
 * A failed patch changes nothing: JSON patch in particular is atomic, so
 * when operation 3 fails, operations 0 to 2 leave no trace either.
 * Messages say which operation and path failed and why, e.g.
 *   json patch operation 1 (replace /spec/x): path not found
 * Operations are numbered from 0, as their index in the patch array.
 */
#ifndef SM_PATCH_H
#define SM_PATCH_H

#include <jansson.h>

struct sm_err;

enum patch_type {
	PATCH_MERGE, /* application/merge-patch+json */
	PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
	PATCH_JSON, /* application/json-patch+json */
};

/*
 * JSON merge patch (RFC 7386): objects merge recursively, null deletes a
 * member, everything else (lists included) replaces. patch must be an
 * object (-EINVAL otherwise: a Kubernetes object cannot become a scalar).
 */
int patch_merge(const json_t *live, const json_t *patch, json_t **out,
		struct sm_err *err);

/*
 * JSON patch (RFC 6902): an array of add, remove, replace, move, copy and
 * test operations on JSON pointers (RFC 6901: "~1" is '/', "~0" is '~',
 * "-" appends to an array in add, move and copy). Applied in order to a
 * copy, which becomes *out only when every operation succeeded.
 */
int patch_json(const json_t *live, const json_t *ops, json_t **out,
	       struct sm_err *err);

/*
 * Strategic merge patch, as described above. live and patch must be
 * objects. A list item without its merge key, a merged list with items
 * that are not objects, or a malformed directive is -EINVAL.
 */
int patch_strategic(const json_t *live, const json_t *patch, json_t **out,
		    struct sm_err *err);

/*
 * Maps a Content-Type header value to a patch type. Parameters
 * ("; charset=utf-8") and case are ignored. Returns 0, or -ENOTSUP for
 * anything else (application/apply-patch+yaml included: server-side apply
 * is not supported) with a message listing the accepted types.
 */
int patch_type_from_content_type(const char *content_type,
				 enum patch_type *type, struct sm_err *err);

/*
 * Applies patch to live with the format content_type names (see
 * patch_type_from_content_type()). The result must be an object: a JSON
 * patch that replaces the root with something else is -EPROTO.
 */
int patch_apply(const char *content_type, const json_t *live,
		const json_t *patch, json_t **out, struct sm_err *err);

#endif
