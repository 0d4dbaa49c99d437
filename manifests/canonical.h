/*
 * canonical.h: the canonical form of an object, its content hash, and a
 * structural diff of two objects.
 *
 * Canonical form is what manifests/ produces after validation and defaults:
 * a jansson object. Its text (sm_json_dump_canonical: compact, keys sorted)
 * is the same for equal objects, whatever the key order or formatting of the
 * YAML they came from.
 *
 * The hash is FNV-1a 64 over the canonical text, written in Kubernetes'
 * safe alphabet ("bcdfghjklmnpqrstvwxz2456789"), 10 characters: stable across
 * runs, machines and versions, usable as a pod-template-hash label value.
 * The characters are the hash's ten lowest base-27 digits, most significant
 * first (about 47 of its 64 bits). Changing any of this changes every hash
 * in use; test_canonical.c pins one golden value.
 */
#ifndef MF_CANONICAL_H
#define MF_CANONICAL_H

#include <jansson.h>
#include <stddef.h>

struct sm_buf;

#define MF_HASH_LEN 10

/*
 * Writes the hash of j and a NUL into out (MF_HASH_LEN + 1 bytes). j NULL
 * hashes as JSON null.
 */
void mf_hash(const json_t *j, char out[MF_HASH_LEN + 1]);

enum mf_diff_op {
	MF_DIFF_ADD, /* in b only */
	MF_DIFF_REMOVE, /* in a only */
	MF_DIFF_REPLACE, /* in both, different */
};

struct mf_diff_entry {
	enum mf_diff_op op;
	char *path; /* owned: "spec.template.spec.containers[0].image" */
	json_t *old_val; /* one reference or NULL (ADD) */
	json_t *new_val; /* one reference or NULL (REMOVE) */
};

struct mf_diff {
	struct mf_diff_entry *items;
	size_t nr, alloc;
};

#define MF_DIFF_INIT       \
	{                  \
		NULL, 0, 0 \
	}

/*
 * Computes the differences from a to b into d (which must be empty): objects
 * are compared member by member (in sorted key order), arrays element by
 * element by index (a longer array gives ADD/REMOVE of the tail), anything
 * else as a whole. Paths use ".key" for members whose key is a plain
 * identifier ([A-Za-z_][A-Za-z0-9_]*), "[key]" for other keys, as kubectl
 * writes map keys ("metadata.labels[app.kubernetes.io/name]"), and "[i]"
 * for elements. The first segment has no dot ("spec.replicas"); a change of
 * the root itself has the path "". Keys are not escaped: a key containing
 * ']' makes an ambiguous path, which is fine for display. a or b NULL is
 * an absent value (the other is then one ADD or REMOVE at "").
 * Returns the number of entries (d->nr).
 */
size_t mf_diff_compute(struct mf_diff *d, const json_t *a, const json_t *b);

void mf_diff_release(struct mf_diff *d);

#endif
