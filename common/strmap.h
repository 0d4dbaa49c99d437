/*
 * strmap.h: a hash map from C strings to pointers (open addressing, linear
 * probing, FNV-1a). Keys are copied and owned by the map; values are
 * borrowed unless the caller hands a free function to sm_strmap_release.
 *
 * Iteration order is the slot order: stable for one sequence of inserts, not
 * sorted. Removal is not offered (tombstones are not worth it yet).
 */
#ifndef SM_STRMAP_H
#define SM_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sm_strmap_entry {
	char *key; /* NULL for an empty slot */
	void *value;
	uint64_t hash;
};

struct sm_strmap_block;

struct sm_strmap {
	struct sm_strmap_entry *slots;
	size_t nr; /* entries in use */
	size_t cap; /* slots; 0 or a power of two */
	struct sm_strmap_block *blocks; /* key storage, newest first */
};

#define SM_STRMAP_INIT           \
	{                        \
		NULL, 0, 0, NULL \
	}

uint64_t sm_hash_fnv1a(const void *data, size_t len);

/* Frees the keys, and each value with free_value unless it is NULL. */
void sm_strmap_release(struct sm_strmap *m, void (*free_value)(void *));

/* The value for key (borrowed), or NULL when absent. */
void *sm_strmap_get(const struct sm_strmap *m, const char *key);
/* Like sm_strmap_get, for a key given with a length (need not be NUL-ended). */
void *sm_strmap_getn(const struct sm_strmap *m, const char *key, size_t len);
bool sm_strmap_has(const struct sm_strmap *m, const char *key);

/*
 * Sets key to value. If the key was present its old value is stored in *old
 * (when old is not NULL) and 1 is returned; a new key returns 0.
 */
int sm_strmap_put(struct sm_strmap *m, const char *key, void *value,
		  void **old);
int sm_strmap_putn(struct sm_strmap *m, const char *key, size_t len,
		   void *value, void **old);

/*
 * Iterates: size_t it = 0; const char *k; void *v;
 * while (sm_strmap_next(m, &it, &k, &v)) ...
 */
bool sm_strmap_next(const struct sm_strmap *m, size_t *it, const char **key,
		    void **value);

#endif
