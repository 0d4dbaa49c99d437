#include <stdlib.h>
#include <string.h>

#include "common/strmap.h"
#include "common/xalloc.h"
#include "common/banned.h"

/* Keys live in blocks; a key larger than a block gets a block of its own. */
#define BLOCK_BYTES 8192

struct sm_strmap_block {
	struct sm_strmap_block *next;
	size_t used, cap;
	char data[];
};

static char *key_copy(struct sm_strmap *m, const char *key, size_t len)
{
	struct sm_strmap_block *b = m->blocks;
	char *k;

	if (!b || b->cap - b->used < len + 1) {
		size_t cap = len + 1 > BLOCK_BYTES ? len + 1 : BLOCK_BYTES;

		b = xmalloc(sizeof(*b) + cap);
		b->used = 0;
		b->cap = cap;
		b->next = m->blocks;
		m->blocks = b;
	}
	k = b->data + b->used;
	memcpy(k, key, len);
	k[len] = '\0';
	b->used += len + 1;
	return k;
}

uint64_t sm_hash_fnv1a(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void sm_strmap_release(struct sm_strmap *m, void (*free_value)(void *))
{
	for (size_t i = 0; free_value && i < m->cap; i++)
		if (m->slots[i].key)
			free_value(m->slots[i].value);
	while (m->blocks) {
		struct sm_strmap_block *b = m->blocks;

		m->blocks = b->next;
		free(b);
	}
	free(m->slots);
	m->slots = NULL;
	m->nr = m->cap = 0;
}

static struct sm_strmap_entry *find(const struct sm_strmap *m, const char *key,
				    size_t len, uint64_t h)
{
	size_t mask = m->cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct sm_strmap_entry *e = &m->slots[i];

		if (!e->key)
			return e;
		if (e->hash == h && !strncmp(e->key, key, len) &&
		    e->key[len] == '\0')
			return e;
	}
}

static void rehash(struct sm_strmap *m, size_t cap)
{
	struct sm_strmap_entry *old = m->slots;
	size_t oldcap = m->cap;

	m->slots = xcalloc(cap, sizeof(*m->slots));
	m->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].key) {
			struct sm_strmap_entry *e = find(
				m, old[i].key, strlen(old[i].key), old[i].hash);
			*e = old[i];
		}
	}
	free(old);
}

void *sm_strmap_getn(const struct sm_strmap *m, const char *key, size_t len)
{
	struct sm_strmap_entry *e;

	if (!m->nr)
		return NULL;
	e = find(m, key, len, sm_hash_fnv1a(key, len));
	return e->key ? e->value : NULL;
}

void *sm_strmap_get(const struct sm_strmap *m, const char *key)
{
	return sm_strmap_getn(m, key, strlen(key));
}

bool sm_strmap_has(const struct sm_strmap *m, const char *key)
{
	size_t len = strlen(key);

	return m->nr && find(m, key, len, sm_hash_fnv1a(key, len))->key;
}

int sm_strmap_putn(struct sm_strmap *m, const char *key, size_t len,
		   void *value, void **old)
{
	uint64_t h = sm_hash_fnv1a(key, len);
	struct sm_strmap_entry *e;

	/* Keep the load factor under 3/4. */
	if ((m->nr + 1) * 4 > m->cap * 3)
		rehash(m, m->cap ? m->cap * 2 : 16);
	e = find(m, key, len, h);
	if (e->key) {
		if (old)
			*old = e->value;
		e->value = value;
		return 1;
	}
	e->key = key_copy(m, key, len);
	e->hash = h;
	e->value = value;
	m->nr++;
	return 0;
}

int sm_strmap_put(struct sm_strmap *m, const char *key, void *value, void **old)
{
	return sm_strmap_putn(m, key, strlen(key), value, old);
}

bool sm_strmap_next(const struct sm_strmap *m, size_t *it, const char **key,
		    void **value)
{
	while (*it < m->cap) {
		struct sm_strmap_entry *e = &m->slots[(*it)++];

		if (e->key) {
			if (key)
				*key = e->key;
			if (value)
				*value = e->value;
			return true;
		}
	}
	return false;
}
