/*
 * store.c: the control plane's objects, their journal and their watches.
 * See store.h for the contract and reconciler/README.md for the design.
 *
 * Layout: kinds by name (a strmap; kinds are never removed); per kind an
 * open-addressing table of entries keyed by (namespace, name), a sorted
 * view of the entries for listing (rebuilt when a key comes or goes, not on
 * updates, since an update replaces the object in the same entry), its
 * watches and a ring of its last events for resuming watches.
 *
 * A write builds a new object (stored objects are never modified; new
 * objects may share unchanged members with old ones, which is safe because
 * neither is ever modified), hands it to the journal, applies it in memory
 * and queues a `struct pending`. Pendings complete in order: in journal
 * mode when the journal's callback says the record is durable, in memory
 * mode on a later loop turn (the idle handle). A completed pending pushes
 * its event into the kind's ring, delivers it to the watches and then calls
 * the write's callback.
 *
 * Re-entrancy: watch and write callbacks may write, watch and stop
 * watches. Stopped watches are only marked while callbacks run and freed
 * afterwards; a pending created by a callback is completed later (one
 * round of completions handles only pendings that existed when it began),
 * so a callback that writes again cannot starve the loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/strmap.h"
#include "common/xalloc.h"
#include "reconciler/journal.h"
#include "reconciler/store.h"
#include "common/banned.h"

#define DEFAULT_HISTORY 1000
/* generateName: Kubernetes keeps the prefix to 58 characters, plus 5. */
#define GEN_PREFIX_MAX 58
#define GEN_SUFFIX 5
#define GEN_TRIES 8

struct entry {
	char *ns, *name;
	uint64_t hash;
	json_t *obj; /* the stored object: one reference, never modified */
	char *owner; /* its controller's uid, "" when it has none */
	size_t owner_pos; /* its place in that owner's set */
};

/* The entries of one controller (by uid), in no order. */
struct owned {
	struct entry **v;
	size_t n, alloc;
};

struct hist {
	enum store_event_type type;
	uint64_t rv;
	json_t *obj, *old; /* references */
};

struct kind {
	char *name;
	struct entry **slots; /* open addressing, linear probing */
	size_t cap, nr;
	struct sm_strmap owners; /* controller uid ("" for none) -> owned */
	struct entry **sorted; /* by namespace, name; valid when sorted_ok */
	size_t asorted;
	bool sorted_ok;
	struct store_watch **watches;
	size_t nwatches, awatches;
	/* The ring: ring_len events from ring_start, oldest first. */
	struct hist *ring;
	size_t ring_cap, ring_len, ring_start;
	/* Every event of this kind above floor is in the ring or to come. */
	uint64_t floor;
	bool needs_catchup;
};

struct store_watch {
	struct store *s;
	struct kind *k;
	char *ns; /* NULL: all namespaces */
	store_watch_cb cb;
	void *ctx;
	uint64_t seen; /* events up to this rv are behind the watch */
	bool dead;
};

struct pending {
	struct pending *next;
	uint64_t seq;
	bool done;
	int status;
	struct kind *k; /* NULL: no event (an update that changed nothing) */
	struct hist ev;
	store_done_cb cb;
	void *ctx;
	struct store *s;
};

struct store {
	uv_loop_t *loop;
	struct journal *j; /* NULL in memory-only mode */
	const struct sm_clock *clock;
	const struct sm_rand *rand;
	size_t history;
	uint64_t rv, open_rv;
	struct sm_strmap kinds; /* name -> struct kind */
	struct pending *phead, *ptail;
	uint64_t seq;
	uv_idle_t idle;
	bool idle_on;
	int broken; /* -EIO once the journal failed */
	int dispatching; /* depth of callbacks running */
	bool need_sweep, catchup, snap_pending, freeing, closing;
	store_admit_fn admit; /* NULL: none */
	void *admit_ctx;
	struct sm_err *open_err; /* during store_open's replay */
	struct sm_buf text; /* scratch for a record's JSON text */
};

/* ---- small helpers ------------------------------------------------- */

static int fail(struct sm_err *err, int rc, const char *fmt, ...)
	SM_PRINTF(3, 4);
static int fail(struct sm_err *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		sm_err_vadd(err, SM_ERROR, NULL, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/*
 * The resource name Kubernetes' messages use for a kind ("pods",
 * "networkpolicies", "endpoints"), into buf.
 */
static const char *resource(const char *kind, char *buf, size_t len)
{
	size_t n = 0;

	for (; kind[n] && n + 4 < len; n++)
		buf[n] = (char)(kind[n] >= 'A' && kind[n] <= 'Z'
					? kind[n] - 'A' + 'a'
					: kind[n]);
	buf[n] = '\0';
	if (n == 0 || !strcmp(buf, "endpoints"))
		return buf;
	if (buf[n - 1] == 's' || buf[n - 1] == 'x')
		memcpy(buf + n, "es", 3);
	else if (buf[n - 1] == 'y' && n > 1 && !strchr("aeiou", buf[n - 2]))
		memcpy(buf + n - 1, "ies", 4);
	else
		memcpy(buf + n, "s", 2);
	return buf;
}

#define RES(kind) resource((kind), (char[80]){ 0 }, 80)

const char *store_obj_kind(const json_t *obj)
{
	const char *k = sm_json_get_str(obj, "kind");

	return k && k[0] ? k : NULL;
}

const char *store_obj_ns(const json_t *obj)
{
	const char *ns =
		sm_json_get_str(json_object_get(obj, "metadata"), "namespace");

	return ns ? ns : "";
}

const char *store_obj_name(const json_t *obj)
{
	const char *n =
		sm_json_get_str(json_object_get(obj, "metadata"), "name");

	return n && n[0] ? n : NULL;
}

uint64_t store_obj_rv(const json_t *obj)
{
	const char *s = sm_json_get_str(json_object_get(obj, "metadata"),
					"resourceVersion");
	uint64_t v = 0;

	if (!s || !s[0])
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	return v;
}

uint64_t store_rv(const struct store *s)
{
	return s->rv;
}

void store_journal_stats(const struct store *s, struct journal_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (s->j)
		journal_stats(s->j, out);
}

static char *journal_key(const char *kind, const char *ns, const char *name)
{
	return xasprintf("%s/%s/%s", kind, ns, name);
}

static void rv_text(uint64_t rv, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64, rv);
}

/*
 * Gives obj (a new object of ours) a metadata object of its own, a shallow
 * copy of what it had, so server-set fields can be changed without
 * touching an object shared with a stored one. Returns it (borrowed).
 */
static json_t *own_meta(json_t *obj)
{
	json_t *m = json_object_get(obj, "metadata");
	json_t *copy = json_is_object(m) ? json_copy(m) : json_object();

	json_object_set_new(obj, "metadata", copy);
	return copy;
}

/* True when a and b are equal outside metadata and status. */
static bool equal_outside(const json_t *a, const json_t *b)
{
	const char *key;
	json_t *v;
	size_t na = 0, nb = 0;

	json_object_foreach ((json_t *)a, key, v) {
		if (!strcmp(key, "metadata") || !strcmp(key, "status"))
			continue;
		if (!json_equal(v, json_object_get(b, key)))
			return false;
		na++;
	}
	json_object_foreach ((json_t *)b, key, v)
		if (strcmp(key, "metadata") && strcmp(key, "status"))
			nb++;
	return na == nb;
}

static bool has_finalizers(const json_t *obj)
{
	json_t *f =
		json_object_get(json_object_get(obj, "metadata"), "finalizers");

	return json_is_array(f) && json_array_size(f) > 0;
}

static bool is_marked(const json_t *obj)
{
	return json_object_get(json_object_get(obj, "metadata"),
			       "deletionTimestamp") != NULL;
}

/*
 * Copying and serialising objects: the two costs of every write. jansson's
 * copy_deep() keeps a table of parents to detect loops and
 * json_dumps() formats through callbacks and snprintf; these do neither
 * (objects built from JSON text cannot loop) and measured about twice as
 * fast on a Pod (bench/store). The text is compact JSON in insertion
 * order that json_loadb() reads back as the same value.
 */
static json_t *copy_deep(const json_t *v)
{
	json_t *c;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		c = json_object();
		for (void *it = json_object_iter((json_t *)v); it;
		     it = json_object_iter_next((json_t *)v, it))
			json_object_setn_new_nocheck(
				c, json_object_iter_key(it),
				json_object_iter_key_len(it),
				copy_deep(json_object_iter_value(it)));
		return c;
	case JSON_ARRAY:
		c = json_array();
		for (size_t i = 0; i < json_array_size(v); i++)
			json_array_append_new(c,
					      copy_deep(json_array_get(v, i)));
		return c;
	case JSON_STRING:
		return json_stringn_nocheck(json_string_value(v),
					    json_string_length(v));
	case JSON_INTEGER:
		return json_integer(json_integer_value(v));
	case JSON_REAL:
		return json_real(json_real_value(v));
	default: /* true, false and null are singletons */
		return (json_t *)v;
	}
}

static void dump_string(struct sm_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;

	sm_buf_addch(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7] = "\\u00";

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sm_buf_add(b, s + start, i - start);
		start = i + 1;
		switch (c) {
		case '"':
			sm_buf_add(b, "\\\"", 2);
			break;
		case '\\':
			sm_buf_add(b, "\\\\", 2);
			break;
		case '\n':
			sm_buf_add(b, "\\n", 2);
			break;
		case '\t':
			sm_buf_add(b, "\\t", 2);
			break;
		case '\r':
			sm_buf_add(b, "\\r", 2);
			break;
		default:
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			sm_buf_add(b, esc, 6);
		}
	}
	sm_buf_add(b, s + start, len - start);
	sm_buf_addch(b, '"');
}

static void dump_int(struct sm_buf *b, json_int_t v)
{
	char tmp[24];
	size_t n = sizeof(tmp);
	/* Negate as unsigned: INT64_MIN has no positive twin. */
	unsigned long long u =
		v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		tmp[--n] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--n] = '-';
	sm_buf_add(b, tmp + n, sizeof(tmp) - n);
}

static void dump_value(struct sm_buf *b, const json_t *v)
{
	char tmp[40];
	bool first = true;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		sm_buf_addch(b, '{');
		for (void *it = json_object_iter((json_t *)v); it;
		     it = json_object_iter_next((json_t *)v, it)) {
			if (!first)
				sm_buf_addch(b, ',');
			first = false;
			dump_string(b, json_object_iter_key(it),
				    json_object_iter_key_len(it));
			sm_buf_addch(b, ':');
			dump_value(b, json_object_iter_value(it));
		}
		sm_buf_addch(b, '}');
		break;
	case JSON_ARRAY:
		sm_buf_addch(b, '[');
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				sm_buf_addch(b, ',');
			dump_value(b, json_array_get(v, i));
		}
		sm_buf_addch(b, ']');
		break;
	case JSON_STRING:
		dump_string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		dump_int(b, json_integer_value(v));
		break;
	case JSON_REAL:
		/* As jansson does: 17 digits, and always a real when read. */
		snprintf(tmp, sizeof(tmp), "%.17g", json_real_value(v));
		sm_buf_adds(b, tmp);
		if (!strpbrk(tmp, ".eEni"))
			sm_buf_adds(b, ".0");
		break;
	case JSON_TRUE:
		sm_buf_adds(b, "true");
		break;
	case JSON_FALSE:
		sm_buf_adds(b, "false");
		break;
	default:
		sm_buf_adds(b, "null");
		break;
	}
}

/* obj as compact JSON text into b (emptied first; unbounded). */
static void dump_obj(struct sm_buf *b, const json_t *obj)
{
	sm_buf_reset(b);
	dump_value(b, obj);
}

/* ---- kinds and entries --------------------------------------------- */

static uint64_t key_hash(const char *ns, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)ns; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h = (h ^ 0xff) * 0x100000001b3ULL;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return h;
}

static struct kind *kind_get(const struct store *s, const char *name)
{
	return sm_strmap_get(&s->kinds, name);
}

static struct kind *kind_get_or_add(struct store *s, const char *name)
{
	struct kind *k = kind_get(s, name);

	if (k)
		return k;
	k = xcalloc(1, sizeof(*k));
	k->name = xstrdup(name);
	k->floor = s->open_rv;
	sm_strmap_put(&s->kinds, name, k, NULL);
	return k;
}

/* The slot of ns/name, or SIZE_MAX. */
static size_t slot_find(const struct kind *k, const char *ns, const char *name,
			uint64_t h)
{
	size_t mask = k->cap - 1;

	if (!k->cap)
		return SIZE_MAX;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct entry *e = k->slots[i];

		if (!e)
			return SIZE_MAX;
		if (e->hash == h && !strcmp(e->name, name) &&
		    !strcmp(e->ns, ns))
			return i;
	}
}

static struct entry *entry_find(const struct kind *k, const char *ns,
				const char *name)
{
	size_t i;

	if (!k)
		return NULL;
	i = slot_find(k, ns, name, key_hash(ns, name));
	return i == SIZE_MAX ? NULL : k->slots[i];
}

static void slot_place(struct entry **slots, size_t cap, struct entry *e)
{
	size_t i = e->hash & (cap - 1);

	while (slots[i])
		i = (i + 1) & (cap - 1);
	slots[i] = e;
}

/* The uid of obj's controller (ownerReference with controller true). */
static const char *controller_uid(const json_t *obj)
{
	json_t *refs = json_object_get(json_object_get(obj, "metadata"),
				       "ownerReferences");
	size_t i;
	json_t *r;

	json_array_foreach (refs, i, r) {
		if (json_is_true(json_object_get(r, "controller")))
			return json_string_value(json_object_get(r, "uid"));
	}
	return NULL;
}

static void owner_link(struct kind *k, struct entry *e)
{
	const char *uid = controller_uid(e->obj);
	struct owned *set;

	e->owner = xstrdup(uid ? uid : "");
	set = sm_strmap_get(&k->owners, e->owner);
	if (!set) {
		set = xcalloc(1, sizeof(*set));
		sm_strmap_put(&k->owners, e->owner, set, NULL);
	}
	if (set->n == set->alloc) {
		set->alloc = set->alloc ? 2 * set->alloc : 4;
		set->v = xrealloc(set->v, set->alloc * sizeof(struct entry *));
	}
	e->owner_pos = set->n;
	set->v[set->n++] = e;
}

static void owner_unlink(struct kind *k, struct entry *e)
{
	struct owned *set =
		e->owner ? sm_strmap_get(&k->owners, e->owner) : NULL;

	if (set) {
		SM_BUG_ON(e->owner_pos >= set->n || set->v[e->owner_pos] != e);
		set->v[e->owner_pos] = set->v[--set->n];
		set->v[e->owner_pos]->owner_pos = e->owner_pos;
	}
	free(e->owner);
	e->owner = NULL;
}

/* Replaces e's object (the reference is taken), keeping the index. */
static void entry_set(struct kind *k, struct entry *e, json_t *obj)
{
	const char *was = e->owner;
	const char *now = controller_uid(obj);

	e->obj = obj;
	if (!strcmp(was ? was : "", now ? now : ""))
		return;
	owner_unlink(k, e);
	owner_link(k, e);
}

static struct entry *entry_add(struct kind *k, const char *ns, const char *name,
			       json_t *obj)
{
	struct entry *e = xmalloc(sizeof(*e));

	if ((k->nr + 1) * 4 > k->cap * 3) {
		size_t cap = k->cap ? k->cap * 2 : 16;
		struct entry **slots = xcalloc(cap, sizeof(struct entry *));

		for (size_t i = 0; i < k->cap; i++)
			if (k->slots[i])
				slot_place(slots, cap, k->slots[i]);
		free(k->slots);
		k->slots = slots;
		k->cap = cap;
	}
	e->ns = xstrdup(ns);
	e->name = xstrdup(name);
	e->hash = key_hash(ns, name);
	e->obj = obj;
	owner_link(k, e);
	slot_place(k->slots, k->cap, e);
	k->nr++;
	k->sorted_ok = false;
	return e;
}

static void entry_free(struct entry *e)
{
	json_decref(e->obj);
	free(e->ns);
	free(e->name);
	free(e);
}

/* Removes e (backward-shift deletion keeps probe chains whole). */
static void entry_remove(struct kind *k, struct entry *e)
{
	size_t mask = k->cap - 1;
	size_t i = slot_find(k, e->ns, e->name, e->hash);

	SM_BUG_ON(i == SIZE_MAX);
	k->slots[i] = NULL;
	for (size_t j = (i + 1) & mask; k->slots[j]; j = (j + 1) & mask) {
		size_t home = k->slots[j]->hash & mask;
		/* Moves back unless its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j)
				    : (home > i || home <= j);

		if (!stays) {
			k->slots[i] = k->slots[j];
			k->slots[j] = NULL;
			i = j;
		}
	}
	k->nr--;
	k->sorted_ok = false;
	owner_unlink(k, e);
	entry_free(e);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;
	int c = strcmp(x->ns, y->ns);

	return c ? c : strcmp(x->name, y->name);
}

static void sorted_view(struct kind *k)
{
	size_t n = 0;

	if (k->sorted_ok)
		return;
	if (k->asorted < k->nr) {
		k->asorted = k->nr * 2;
		k->sorted = xrealloc(k->sorted,
				     k->asorted * sizeof(struct entry *));
	}
	for (size_t i = 0; i < k->cap; i++)
		if (k->slots[i])
			k->sorted[n++] = k->slots[i];
	/* An empty kind has no array yet: qsort must not see NULL. */
	if (n)
		qsort(k->sorted, n, sizeof(struct entry *), cmp_entry);
	k->sorted_ok = true;
}

/* The range [*lo, *hi) of the sorted view in namespace ns (all: NULL). */
static void ns_range(struct kind *k, const char *ns, size_t *lo, size_t *hi)
{
	size_t a = 0, b;

	sorted_view(k);
	if (!ns) {
		*lo = 0;
		*hi = k->nr;
		return;
	}
	b = k->nr;
	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (strcmp(k->sorted[m]->ns, ns) < 0)
			a = m + 1;
		else
			b = m;
	}
	*lo = a;
	b = k->nr;
	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (strcmp(k->sorted[m]->ns, ns) <= 0)
			a = m + 1;
		else
			b = m;
	}
	*hi = a;
}

/* ---- reading ------------------------------------------------------- */

const json_t *store_get(const struct store *s, const char *kind, const char *ns,
			const char *name)
{
	struct entry *e;

	if (!kind || !name)
		return NULL;
	e = entry_find(kind_get(s, kind), ns ? ns : "", name);
	return e ? e->obj : NULL;
}

int store_list(const struct store *s, const char *kind, const char *ns,
	       store_each_cb each, void *ctx)
{
	/* The sorted view is a cache: building it changes nothing visible. */
	struct kind *k = kind ? kind_get(s, kind) : NULL;
	json_t **objs;
	size_t lo, hi, n;
	int rc = 0;

	if (!k)
		return 0;
	ns_range(k, ns, &lo, &hi);
	n = hi - lo;
	if (!n)
		return 0;
	/*
	 * each may write to the store, which can change the view and free
	 * objects: hold a reference to every object first.
	 */
	objs = xmalloc(n * sizeof(json_t *));
	for (size_t i = 0; i < n; i++)
		objs[i] = json_incref(k->sorted[lo + i]->obj);
	for (size_t i = 0; i < n && !rc; i++)
		rc = each(ctx, objs[i]);
	for (size_t i = 0; i < n; i++)
		json_decref(objs[i]);
	free(objs);
	return rc;
}

int store_list_owned(const struct store *s, const char *kind, const char *ns,
		     const char *owner_uid, store_each_cb each, void *ctx)
{
	struct kind *k = kind ? kind_get(s, kind) : NULL;
	struct owned *set;
	json_t **objs;
	size_t n = 0;
	int rc = 0;

	if (!k || !owner_uid || !(set = sm_strmap_get(&k->owners, owner_uid)) ||
	    !set->n)
		return 0;
	/* As store_list: each may write, so hold every object first. */
	objs = xmalloc(set->n * sizeof(json_t *));
	for (size_t i = 0; i < set->n; i++)
		if (!ns || !strcmp(set->v[i]->ns, ns))
			objs[n++] = json_incref(set->v[i]->obj);
	for (size_t i = 0; i < n && !rc; i++)
		rc = each(ctx, objs[i]);
	for (size_t i = 0; i < n; i++)
		json_decref(objs[i]);
	free(objs);
	return rc;
}

size_t store_count(const struct store *s, const char *kind, const char *ns)
{
	struct kind *k = kind ? kind_get(s, kind) : NULL;
	size_t lo, hi;

	if (!k)
		return 0;
	if (!ns)
		return k->nr;
	ns_range(k, ns, &lo, &hi);
	return hi - lo;
}

/* ---- watches and completions --------------------------------------- */

static void hist_release(struct hist *h)
{
	json_decref(h->obj);
	json_decref(h->old);
	h->obj = h->old = NULL;
}

static struct hist *ring_at(struct kind *k, size_t i)
{
	SM_BUG_ON(!k->ring_cap);
	return &k->ring[(k->ring_start + i) % k->ring_cap];
}

static void ring_push(struct store *s, struct kind *k, struct hist *ev)
{
	if (k->ring_len == s->history) {
		struct hist *oldest = ring_at(k, 0);

		k->floor = oldest->rv;
		hist_release(oldest);
		k->ring_start = (k->ring_start + 1) % k->ring_cap;
		k->ring_len--;
	} else if (k->ring_len == k->ring_cap) {
		/* Grow (to at most history), unrolling the ring. */
		size_t cap = k->ring_cap ? k->ring_cap * 2 : 16;
		struct hist *r;

		if (cap > s->history)
			cap = s->history;
		r = xmalloc(cap * sizeof(*r));
		for (size_t i = 0; i < k->ring_len; i++)
			r[i] = *ring_at(k, i);
		free(k->ring);
		k->ring = r;
		k->ring_cap = cap;
		k->ring_start = 0;
	}
	*ring_at(k, k->ring_len) = *ev; /* takes the references */
	k->ring_len++;
	memset(ev, 0, sizeof(*ev));
}

/* The index of the first ring event above rv (ring_len when none). */
static size_t ring_after(struct kind *k, uint64_t rv)
{
	size_t a = 0, b = k->ring_len;

	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (ring_at(k, m)->rv <= rv)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

/* Delivers to every live watch of k the ring's events it has not seen. */
static void catch_up(struct kind *k)
{
	k->needs_catchup = false;
	/* Watches added by callbacks are appended: re-read nwatches. */
	for (size_t i = 0; i < k->nwatches; i++) {
		struct store_watch *w = k->watches[i];

		for (size_t at = ring_after(k, w->seen);
		     !w->dead && at < k->ring_len; at++) {
			struct hist *h = ring_at(k, at);
			struct store_event ev = { h->type, h->rv, h->obj,
						  h->old };

			w->seen = h->rv;
			if (!w->ns || !strcmp(w->ns, store_obj_ns(h->obj)))
				w->cb(w->ctx, &ev);
		}
	}
}

static void watch_free(struct store_watch *w)
{
	free(w->ns);
	free(w);
}

/* Frees the watches stopped while callbacks ran. */
static void sweep(struct store *s)
{
	size_t it = 0;
	const char *name;
	void *v;

	if (!s->need_sweep)
		return;
	s->need_sweep = false;
	while (sm_strmap_next(&s->kinds, &it, &name, &v)) {
		struct kind *k = v;
		size_t n = 0;

		for (size_t i = 0; i < k->nwatches; i++) {
			if (k->watches[i]->dead)
				watch_free(k->watches[i]);
			else
				k->watches[n++] = k->watches[i];
		}
		k->nwatches = n;
	}
}

static void finish_free(struct store *s);

static void pending_free(struct pending *p)
{
	hist_release(&p->ev);
	free(p);
}

static void on_idle(uv_idle_t *h);

/* Whether the idle handle has work: completions or watch catch-ups. */
static void idle_update(struct store *s)
{
	bool want = !s->closing && ((s->phead && s->phead->done) || s->catchup);

	if (want && !s->idle_on)
		uv_idle_start(&s->idle, on_idle);
	else if (!want && s->idle_on)
		uv_idle_stop(&s->idle);
	s->idle_on = want;
}

/*
 * Completes the done pendings at the head of the queue, in order, that
 * existed when this began: their events go to the watches, then their
 * callbacks run.
 */
static void complete(struct store *s)
{
	uint64_t last = s->seq;

	s->dispatching++;
	while (s->phead && s->phead->done && s->phead->seq <= last) {
		struct pending *p = s->phead;

		s->phead = p->next;
		if (!s->phead)
			s->ptail = NULL;
		if (!p->status && p->k && !s->freeing) {
			/* Catch up first: the push may drop what some
			 * new watch still has to see. */
			catch_up(p->k);
			ring_push(s, p->k, &p->ev);
			catch_up(p->k);
		}
		if (p->cb)
			p->cb(p->ctx, p->status);
		pending_free(p);
	}
	s->dispatching--;
	if (!s->dispatching)
		sweep(s);
	finish_free(s);
}

static void catch_up_all(struct store *s)
{
	size_t it = 0;
	const char *name;
	void *v;

	s->catchup = false;
	s->dispatching++;
	while (sm_strmap_next(&s->kinds, &it, &name, &v)) {
		struct kind *k = v;

		if (k->needs_catchup && !s->freeing)
			catch_up(k);
	}
	s->dispatching--;
	if (!s->dispatching)
		sweep(s);
}

static void on_idle(uv_idle_t *h)
{
	struct store *s = h->data;

	if (s->catchup && !s->freeing)
		catch_up_all(s);
	complete(s);
	if (!s->closing)
		idle_update(s);
}

static void on_journal(void *ctx, int status)
{
	struct pending *p = ctx;
	struct store *s = p->s;

	p->done = true;
	if (status) {
		p->status = -EIO;
		s->broken = -EIO;
	}
	complete(s);
	if (!s->closing)
		idle_update(s);
}

int store_watch(struct store *s, const char *kind, const char *ns,
		uint64_t from_rv, store_watch_cb cb, void *ctx,
		struct store_watch **out, struct sm_err *err)
{
	struct store_watch *w;
	struct kind *k;

	if (!kind || !kind[0] || !cb)
		return fail(err, -EINVAL, "watch: no kind given");
	if (s->freeing)
		return fail(err, -ESHUTDOWN, "watch %s: the store is closing",
			    RES(kind));
	k = kind_get_or_add(s, kind);
	if (from_rv && from_rv < k->floor)
		return fail(err, -ERANGE,
			    "too old resource version: %" PRIu64 " (%" PRIu64
			    ")",
			    from_rv, k->floor);
	w = xcalloc(1, sizeof(*w));
	w->s = s;
	w->k = k;
	w->ns = ns ? xstrdup(ns) : NULL;
	w->cb = cb;
	w->ctx = ctx;
	w->seen = from_rv ? from_rv : s->rv;
	if (k->nwatches == k->awatches) {
		k->awatches = k->awatches ? k->awatches * 2 : 4;
		k->watches = xrealloc(
			k->watches, k->awatches * sizeof(struct store_watch *));
	}
	k->watches[k->nwatches++] = w;
	if (k->ring_len && ring_at(k, k->ring_len - 1)->rv > w->seen) {
		/* History to replay: from a later loop turn. */
		k->needs_catchup = true;
		s->catchup = true;
		idle_update(s);
	}
	*out = w;
	return 0;
}

void store_watch_stop(struct store_watch *w)
{
	struct kind *k;

	if (!w || w->dead)
		return;
	w->dead = true;
	if (w->s->dispatching) {
		w->s->need_sweep = true;
		return;
	}
	k = w->k;
	for (size_t i = 0; i < k->nwatches; i++) {
		if (k->watches[i] == w) {
			memmove(&k->watches[i], &k->watches[i + 1],
				(k->nwatches - i - 1) *
					sizeof(struct store_watch *));
			k->nwatches--;
			break;
		}
	}
	watch_free(w);
}

/* ---- snapshots ----------------------------------------------------- */

static void on_snapshot(void *ctx, int status)
{
	struct store *s = ctx;

	s->snap_pending = false;
	if (status)
		s->broken = -EIO;
	finish_free(s);
}

/* Writes every live object as the state at s->rv (journal.h). */
static void take_snapshot(struct store *s)
{
	struct journal_rec *recs;
	size_t n = 0, total = 0, it = 0;
	const char *name;
	void *v;
	int rc;

	while (sm_strmap_next(&s->kinds, &it, &name, &v))
		total += ((struct kind *)v)->nr;
	recs = xmalloc((total ? total : 1) * sizeof(*recs));
	it = 0;
	while (sm_strmap_next(&s->kinds, &it, &name, &v)) {
		struct kind *k = v;

		for (size_t i = 0; i < k->cap; i++) {
			struct entry *e = k->slots[i];
			size_t len;

			if (!e)
				continue;
			dump_obj(&s->text, e->obj);
			recs[n].rv = store_obj_rv(e->obj);
			recs[n].key = journal_key(k->name, e->ns, e->name);
			recs[n].value = sm_buf_detach(&s->text, &len);
			recs[n].value_len = len;
			n++;
		}
	}
	rc = journal_snapshot(s->j, s->rv, recs, n, on_snapshot, s);
	if (rc)
		sm_log(SM_LOG_ERROR, "store", "cannot start a snapshot: %s",
		       strerror(-rc));
	else
		s->snap_pending = true;
	for (size_t i = 0; i < n; i++) {
		free((char *)recs[i].key);
		free((char *)recs[i].value);
	}
	free(recs);
}

/* ---- writing ------------------------------------------------------- */

/* Queues p; in memory mode it is done at once (completed from idle). */
static void pending_queue(struct store *s, struct pending *p)
{
	p->s = s;
	p->seq = ++s->seq;
	if (s->ptail)
		s->ptail->next = p;
	else
		s->phead = p;
	s->ptail = p;
	idle_update(s);
}

static int check_writable(struct store *s, struct sm_err *err)
{
	if (s->freeing)
		return fail(err, -ESHUTDOWN, "the store is closing");
	if (s->broken)
		return fail(err, -EIO,
			    "the store's journal failed: writes are refused "
			    "until a restart");
	return 0;
}

/*
 * A write that changes nothing: *out gets the stored object and cb runs
 * with 0 once the writes before it are complete.
 */
static int write_nothing(struct store *s, const json_t *stored, json_t **out,
			 store_done_cb cb, void *ctx)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->done = true;
	p->cb = cb;
	p->ctx = ctx;
	pending_queue(s, p);
	if (out)
		*out = json_incref((json_t *)stored);
	return 0;
}

/*
 * The one path of every change. e is the entry of kind/ns/name or NULL;
 * nobj (taken) is the new state, or NULL to remove e, whose DELETED event
 * carries last (taken). Journals the change first (nothing changes when
 * that fails), then applies it and queues its completion.
 */
static int commit(struct store *s, struct kind *k, struct entry *e,
		  const char *ns, const char *name, json_t *nobj, json_t *last,
		  uint64_t rv, json_t **out, store_done_cb cb, void *ctx,
		  struct sm_err *err)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->cb = cb;
	p->ctx = ctx;
	p->s = s;
	if (s->j) {
		char *key = journal_key(k->name, ns, name);
		struct journal_rec rec = { rv, key, NULL, 0 };
		int rc;

		if (nobj) {
			dump_obj(&s->text, nobj);
			rec.value = s->text.buf;
			rec.value_len = s->text.len;
		}
		rc = journal_append(s->j, &rec, on_journal, p);
		free(key);
		if (rc) {
			free(p);
			json_decref(nobj);
			json_decref(last);
			/*
			 * -EINVAL is a record the journal cannot take (rv
			 * order is ours to keep, so: too large); the journal
			 * is fine. Anything else means it is broken.
			 */
			if (rc == -EINVAL)
				return fail(err, -EINVAL,
					    "%s \"%s\": too large to store",
					    RES(k->name), name);
			s->broken = -EIO;
			return fail(err, -EIO, "%s \"%s\": journal: %s",
				    RES(k->name), name, strerror(-rc));
		}
	} else {
		p->done = true;
	}
	p->k = k;
	p->ev.rv = rv;
	if (nobj && e) {
		p->ev.type = STORE_MODIFIED;
		p->ev.old = e->obj; /* the entry's reference moves */
		p->ev.obj = json_incref(nobj);
		entry_set(k, e, nobj);
	} else if (nobj) {
		p->ev.type = STORE_ADDED;
		p->ev.obj = json_incref(nobj);
		entry_add(k, ns, name, nobj);
	} else {
		p->ev.type = STORE_DELETED;
		p->ev.old = json_incref(e->obj);
		p->ev.obj = last;
		entry_remove(k, e);
	}
	s->rv = rv;
	if (out)
		*out = json_incref(p->ev.obj);
	pending_queue(s, p);
	if (s->j && !s->snap_pending && journal_wants_snapshot(s->j))
		take_snapshot(s);
	return 0;
}

void store_set_admit(struct store *s, store_admit_fn fn, void *ctx)
{
	s->admit = fn;
	s->admit_ctx = ctx;
}

/*
 * Runs the admission function on nobj (taken: freed when it fails). The
 * function always gets a sink, even when the caller passed none.
 */
static int admit(struct store *s, const json_t *old, json_t *nobj,
		 struct sm_err *err)
{
	struct sm_err local = SM_ERR_INIT;
	int rc;

	if (!s->admit)
		return 0;
	rc = s->admit(s->admit_ctx, old, nobj, err ? err : &local);
	if (rc < 0) {
		json_decref(nobj);
		if (err && !sm_err_failed(err))
			fail(err, rc, "%s \"%s\": refused by admission",
			     RES(store_obj_kind(old ? old : nobj)),
			     store_obj_name(old ? old : nobj));
	}
	sm_err_release(&local);
	return rc < 0 ? rc : 0;
}

/* Checks obj's kind, metadata, namespace (and name unless gen_ok). */
static int check_obj(const json_t *obj, bool gen_ok, struct sm_err *err)
{
	const char *kind = store_obj_kind(obj);
	json_t *meta = json_object_get(obj, "metadata");
	json_t *ns = json_object_get(meta, "namespace");

	if (!json_is_object(obj) || !kind)
		return fail(err, -EINVAL, "Object 'Kind' is missing");
	if (strchr(kind, '/'))
		return fail(err, -EINVAL, "kind \"%s\": must not contain '/'",
			    kind);
	if (!json_is_object(meta))
		return fail(err, -EINVAL, "%s: metadata: Required value",
			    RES(kind));
	if (ns && !json_is_null(ns) &&
	    (!json_is_string(ns) || strchr(json_string_value(ns), '/')))
		return fail(err, -EINVAL,
			    "%s: metadata.namespace: Invalid value", RES(kind));
	if (!store_obj_name(obj) &&
	    !(gen_ok && sm_json_get_str(meta, "generateName")))
		return fail(err, -EINVAL,
			    "%s: metadata.name: Required value: name or "
			    "generateName is required",
			    RES(kind));
	return 0;
}

static void new_uid(const struct sm_rand *r, char *out, size_t len)
{
	unsigned char b[16];

	r->ops->fill(r->ctx, b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, len,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void now_text(const struct store *s, char *out)
{
	if (sm_time_rfc3339(sm_clock_realtime_ns(s->clock), 0, out,
			    SM_TIME_RFC3339_LEN))
		snprintf(out, SM_TIME_RFC3339_LEN, "1970-01-01T00:00:00Z");
}

int store_create(struct store *s, const json_t *obj, json_t **out,
		 store_done_cb cb, void *ctx, struct sm_err *err)
{
	char name[GEN_PREFIX_MAX + GEN_SUFFIX + 1];
	char uid[40], ts[SM_TIME_RFC3339_LEN], rv[24];
	const char *kind, *ns;
	struct kind *k;
	json_t *nobj, *meta;
	int rc;

	rc = check_writable(s, err);
	if (!rc)
		rc = check_obj(obj, true, err);
	if (rc)
		return rc;
	kind = store_obj_kind(obj);
	ns = store_obj_ns(obj);
	k = kind_get_or_add(s, kind);
	if (store_obj_name(obj)) {
		if (entry_find(k, ns, store_obj_name(obj)))
			return fail(err, -EEXIST, "%s \"%s\" already exists",
				    RES(kind), store_obj_name(obj));
	} else {
		const char *gen = sm_json_get_str(
			json_object_get(obj, "metadata"), "generateName");
		size_t plen = strlen(gen);
		int tries = 0;

		if (plen > GEN_PREFIX_MAX)
			plen = GEN_PREFIX_MAX;
		memcpy(name, gen, plen);
		do {
			if (tries++ == GEN_TRIES)
				return fail(err, -EEXIST,
					    "%s \"%s\" already exists: no "
					    "free name after %d tries",
					    RES(kind), name, GEN_TRIES);
			sm_rand_name_suffix(s->rand, name + plen, GEN_SUFFIX);
		} while (entry_find(k, ns, name));
	}

	nobj = copy_deep(obj);
	meta = json_object_get(nobj, "metadata");
	if (!store_obj_name(obj))
		json_object_set_new(meta, "name", json_string(name));
	if ((rc = admit(s, NULL, nobj, err)) < 0)
		return rc;
	/* The admission function may have replaced it. */
	meta = own_meta(nobj);
	new_uid(s->rand, uid, sizeof(uid));
	now_text(s, ts);
	rv_text(s->rv + 1, rv, sizeof(rv));
	json_object_set_new(meta, "uid", json_string(uid));
	json_object_set_new(meta, "creationTimestamp", json_string(ts));
	json_object_set_new(meta, "generation", json_integer(1));
	json_object_set_new(meta, "resourceVersion", json_string(rv));
	json_object_del(meta, "deletionTimestamp");
	json_object_del(meta, "deletionGracePeriodSeconds");
	if (json_is_null(json_object_get(meta, "namespace")))
		json_object_del(meta, "namespace");
	return commit(s, k, NULL, ns, store_obj_name(nobj), nobj, NULL,
		      s->rv + 1, out, cb, ctx, err);
}

/* Metadata fields only the store sets, kept from the stored object. */
static const char *const server_meta[] = {
	"name",
	"namespace",
	"uid",
	"resourceVersion",
	"generation",
	"creationTimestamp",
	"deletionTimestamp",
	"deletionGracePeriodSeconds",
};

/* A stored object's resourceVersion text ("" if it has none). */
static const char *rv_of(const json_t *obj)
{
	const char *rv = sm_json_get_str(json_object_get(obj, "metadata"),
					 "resourceVersion");

	return rv ? rv : "";
}

static int conflict(struct sm_err *err, const char *kind, const char *name)
{
	return fail(err, -ESTALE,
		    "Operation cannot be fulfilled on %s \"%s\": the object "
		    "has been modified; please apply your changes to the "
		    "latest version and try again",
		    RES(kind), name);
}

int store_update(struct store *s, const json_t *obj,
		 enum store_update_part part, json_t **out, store_done_cb cb,
		 void *ctx, struct sm_err *err)
{
	const char *kind, *ns, *name, *want_rv;
	json_t *stored, *smeta, *nobj, *meta;
	struct entry *e;
	struct kind *k;
	char rv[24];
	int rc;

	rc = check_writable(s, err);
	if (!rc)
		rc = check_obj(obj, false, err);
	if (rc)
		return rc;
	kind = store_obj_kind(obj);
	ns = store_obj_ns(obj);
	name = store_obj_name(obj);
	k = kind_get(s, kind);
	e = entry_find(k, ns, name);
	if (!e)
		return fail(err, -ENOENT, "%s \"%s\" not found", RES(kind),
			    name);
	stored = e->obj;
	smeta = json_object_get(stored, "metadata");
	want_rv = sm_json_get_str(json_object_get(obj, "metadata"),
				  "resourceVersion");
	if (want_rv && want_rv[0] && strcmp(want_rv, rv_of(stored)))
		return conflict(err, kind, name);

	if (part == STORE_STATUS) {
		json_t *st = json_object_get(obj, "status");

		nobj = json_copy(stored);
		if (st)
			json_object_set_new(nobj, "status", copy_deep(st));
		else
			json_object_del(nobj, "status");
		meta = own_meta(nobj);
	} else {
		nobj = copy_deep(obj);
		if (part == STORE_MAIN) {
			json_t *st = json_object_get(stored, "status");

			if (st)
				json_object_set(nobj, "status", st);
			else
				json_object_del(nobj, "status");
		}
		if ((rc = admit(s, stored, nobj, err)) < 0)
			return rc;
		meta = own_meta(nobj);
		for (size_t i = 0; i < SM_ARRAY_SIZE(server_meta); i++) {
			json_t *v = json_object_get(smeta, server_meta[i]);

			if (v)
				json_object_set(meta, server_meta[i], v);
			else
				json_object_del(meta, server_meta[i]);
		}
	}
	if (json_equal(nobj, stored)) {
		json_decref(nobj);
		return write_nothing(s, stored, out, cb, ctx);
	}
	if (!equal_outside(nobj, stored)) {
		json_t *g = json_object_get(smeta, "generation");

		json_object_set_new(
			meta, "generation",
			json_integer((json_is_integer(g) ? json_integer_value(g)
							 : 0) +
				     1));
	}
	rv_text(s->rv + 1, rv, sizeof(rv));
	json_object_set_new(meta, "resourceVersion", json_string(rv));
	if (is_marked(stored) && has_finalizers(stored) &&
	    !has_finalizers(nobj))
		/* The last finalizer went: the object goes with it. */
		return commit(s, k, e, ns, name, NULL, nobj, s->rv + 1, out, cb,
			      ctx, err);
	return commit(s, k, e, ns, name, nobj, NULL, s->rv + 1, out, cb, ctx,
		      err);
}

int store_delete(struct store *s, const char *kind, const char *ns,
		 const char *name, bool graceful, int64_t grace_s,
		 const char *precondition_rv, json_t **out, store_done_cb cb,
		 void *ctx, struct sm_err *err)
{
	json_t *stored, *nobj, *meta;
	struct entry *e;
	struct kind *k;
	char rv[24], ts[SM_TIME_RFC3339_LEN];
	int rc;

	rc = check_writable(s, err);
	if (rc)
		return rc;
	if (!kind || !kind[0] || !name || !name[0])
		return fail(err, -EINVAL, "delete: no kind or name given");
	ns = ns ? ns : "";
	k = kind_get(s, kind);
	e = entry_find(k, ns, name);
	if (!e)
		return fail(err, -ENOENT, "%s \"%s\" not found", RES(kind),
			    name);
	stored = e->obj;
	if (precondition_rv && precondition_rv[0] &&
	    strcmp(precondition_rv, rv_of(stored)))
		return conflict(err, kind, name);

	nobj = json_copy(stored);
	meta = own_meta(nobj);
	rv_text(s->rv + 1, rv, sizeof(rv));
	json_object_set_new(meta, "resourceVersion", json_string(rv));
	if (graceful || has_finalizers(stored)) {
		if (is_marked(stored)) {
			json_decref(nobj);
			return write_nothing(s, stored, out, cb, ctx);
		}
		now_text(s, ts);
		json_object_set_new(meta, "deletionTimestamp", json_string(ts));
		json_object_set_new(meta, "deletionGracePeriodSeconds",
				    json_integer(graceful ? grace_s : 0));
		return commit(s, k, e, ns, name, nobj, NULL, s->rv + 1, out, cb,
			      ctx, err);
	}
	return commit(s, k, e, ns, name, NULL, nobj, s->rv + 1, out, cb, ctx,
		      err);
}

/* ---- opening and closing ------------------------------------------- */

static void store_destroy(struct store *s);

static int on_replay(void *ctx, const struct journal_rec *rec)
{
	struct store *s = ctx;
	const char *kind, *ns, *name;
	struct entry *e;
	struct kind *k;
	json_error_t jerr;
	json_t *obj;

	if (!rec->value) {
		/* A removal: the key is kind/namespace/name. */
		const char *a = strchr(rec->key, '/');
		const char *b = a ? strchr(a + 1, '/') : NULL;
		char *kn, *nn;

		if (!b)
			return fail(s->open_err, -EPROTO,
				    "journal: bad key \"%s\"", rec->key);
		kn = xstrndup(rec->key, (size_t)(a - rec->key));
		nn = xstrndup(a + 1, (size_t)(b - a - 1));
		k = kind_get(s, kn);
		e = entry_find(k, nn, b + 1);
		if (e)
			entry_remove(k, e);
		free(kn);
		free(nn);
		return 0;
	}
	obj = json_loadb(rec->value, rec->value_len, 0, &jerr);
	kind = obj ? store_obj_kind(obj) : NULL;
	name = obj ? store_obj_name(obj) : NULL;
	if (!json_is_object(obj) || !kind || !name) {
		json_decref(obj);
		return fail(s->open_err, -EPROTO,
			    "journal: record \"%s\" at resourceVersion %" PRIu64
			    " is not an object",
			    rec->key, rec->rv);
	}
	ns = store_obj_ns(obj);
	k = kind_get_or_add(s, kind);
	e = entry_find(k, ns, name);
	if (e) {
		json_decref(e->obj);
		entry_set(k, e, obj);
	} else {
		entry_add(k, ns, name, obj);
	}
	return 0;
}

int store_open(uv_loop_t *loop, const struct store_opts *o, struct store **out,
	       struct sm_err *err)
{
	struct store *s = xcalloc(1, sizeof(*s));
	uint64_t last = 0;

	sm_buf_init(&s->text, SM_BUF_UNBOUNDED);
	s->loop = loop;
	s->clock = o && o->clock ? o->clock : &sm_clock_system;
	s->rand = o && o->rand ? o->rand : &sm_rand_system;
	s->history = o && o->history ? o->history : DEFAULT_HISTORY;
	if (o && o->dir) {
		struct journal_opts jo = { o->dir, o->snapshot_bytes };
		int rc;

		s->open_err = err;
		rc = journal_open(loop, &jo, on_replay, s, &s->j, &last, err);
		s->open_err = NULL;
		if (rc) {
			store_destroy(s); /* frees what the replay built */
			return rc;
		}
	}
	s->rv = s->open_rv = last;
	{
		/* Kinds the replay made: no history before now. */
		size_t it = 0;
		const char *name;
		void *v;

		while (sm_strmap_next(&s->kinds, &it, &name, &v))
			((struct kind *)v)->floor = last;
	}
	uv_idle_init(loop, &s->idle);
	s->idle.data = s;
	*out = s;
	return 0;
}

static void owned_free(void *v)
{
	struct owned *set = v;

	free(set->v);
	free(set);
}

static void kind_free(void *v)
{
	struct kind *k = v;

	for (size_t i = 0; i < k->cap; i++)
		if (k->slots[i]) {
			free(k->slots[i]->owner);
			entry_free(k->slots[i]);
		}
	sm_strmap_release(&k->owners, owned_free);
	for (size_t i = 0; i < k->ring_len; i++)
		hist_release(ring_at(k, i));
	for (size_t i = 0; i < k->nwatches; i++)
		watch_free(k->watches[i]);
	free(k->slots);
	free(k->sorted);
	free(k->ring);
	free(k->watches);
	free(k->name);
	free(k);
}

static void store_destroy(struct store *s)
{
	sm_strmap_release(&s->kinds, kind_free);
	sm_buf_release(&s->text);
	free(s);
}

static void on_idle_closed(uv_handle_t *h)
{
	store_destroy(h->data);
}

/*
 * The end of store_free(), once nothing is left to complete: frees the
 * journal (idle now) and the store from the idle handle's close callback.
 */
static void finish_free(struct store *s)
{
	if (!s->freeing || s->dispatching || s->phead || s->snap_pending ||
	    s->closing)
		return;
	s->closing = true;
	journal_free(s->j);
	s->j = NULL;
	if (s->idle_on)
		uv_idle_stop(&s->idle);
	s->idle_on = false;
	uv_close((uv_handle_t *)&s->idle, on_idle_closed);
}

void store_free(struct store *s)
{
	size_t it = 0;
	const char *name;
	void *v;

	if (!s || s->freeing)
		return;
	s->freeing = true;
	while (sm_strmap_next(&s->kinds, &it, &name, &v)) {
		struct kind *k = v;

		for (size_t i = 0; i < k->nwatches; i++)
			k->watches[i]->dead = true;
	}
	s->need_sweep = true;
	if (!s->dispatching)
		sweep(s);
	finish_free(s);
}
