/*
 * parse.c: YAML and JSON manifest files into jansson values, with positions.
 *
 * The libyaml event stream drives an explicit stack of open collections
 * (struct frame), so nesting costs heap rather than C stack and the depth
 * limit is checked before anything grows. While the parser descends,
 * c->path holds the JSON Pointer of the current node: a segment is appended
 * when a node starts and the buffer is cut back when it ends, so a pointer
 * costs no work beyond its own segment and the map's copy of the key.
 *
 * Positions are recorded when a node starts, into the document's map. That
 * put also finds duplicate keys: two members with one key have one pointer.
 *
 * Merge keys ("<<") are resolved when their mapping ends, because explicit
 * keys win over merged ones wherever they appear. Until then the merge
 * value's positions live in a per-document scratch map, under a segment no
 * key can spell (MERGE_SEGMENT), so the document's map only ever holds
 * pointers of nodes that exist; merging copies each merged member's
 * positions over to its final pointer.
 *
 * Anchors map a name to the anchored value (one reference) with its node
 * count and height, so an alias is priced before it is copied: an alias bomb
 * stops at the cap instead of after exhausting memory. Each alias gets a
 * deep copy, because later code mutates documents in place.
 *
 * The one piece of global state is a C numeric locale for strtod_l(), made
 * once, so "1.5" reads as 1.5 whatever locale the process runs in.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <yaml.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/strmap.h"
#include "common/xalloc.h"
#include "manifests/parse.h"
#include "common/banned.h"

#define CORE_TAG_PREFIX "tag:yaml.org,2002:"

/*
 * The pointer segment under which a "<<" value's positions wait in scratch.
 * 0xFF never occurs in UTF-8, so no real key (libyaml checks the input) can
 * collide with it, not even a quoted "<<".
 */
#define MERGE_SEGMENT "\xff"

/*
 * Every node's position is keyed by its whole JSON Pointer, so a long key
 * over many siblings (or a deep path, or aliases copied under it) would cost
 * pointer length times node count: a few MiB of input could ask for
 * terabytes. The pointers of one file may add up to PTR_BUDGET_FACTOR times
 * its size, at least PTR_BUDGET_MIN. Real manifests use far less: 10,000
 * Deployments take 2.4 times their size.
 */
#define PTR_BUDGET_FACTOR 32
#define PTR_BUDGET_MIN ((size_t)32 << 20)

/* Messages quote at most this many bytes of a value or key. */
#define QUOTE_MAX 60

enum tag_kind {
	TAG_NONE, /* no tag: resolve by the core schema */
	TAG_NONSPECIFIC, /* "!": a scalar is a string, a collection as is */
	TAG_STR,
	TAG_INT,
	TAG_FLOAT,
	TAG_BOOL,
	TAG_NULL,
	TAG_MAP,
	TAG_SEQ,
	TAG_UNKNOWN,
};

static const struct {
	const char *name; /* after "tag:yaml.org,2002:" */
	enum tag_kind kind;
} core_tags[] = {
	{ "str", TAG_STR },   { "int", TAG_INT },   { "float", TAG_FLOAT },
	{ "bool", TAG_BOOL }, { "null", TAG_NULL }, { "map", TAG_MAP },
	{ "seq", TAG_SEQ },
};

/* The plain scalars of the YAML 1.2 core schema that are not strings. */
static const char *const null_words[] = { "", "~", "null", "Null", "NULL" };
static const char *const true_words[] = { "true", "True", "TRUE" };
static const char *const false_words[] = { "false", "False", "FALSE" };
static const char *const inf_words[] = { ".inf", ".Inf", ".INF" };
static const char *const nan_words[] = { ".nan", ".NaN", ".NAN" };

struct anchor {
	json_t *value; /* one reference; NULL while the node is being built */
	char *text; /* scalars: the source text, for use as a key */
	size_t text_len;
	size_t nodes; /* nodes in value, itself included */
	int height; /* collection levels in value: 0 for a scalar */
};

/* An open collection. */
struct frame {
	json_t *node; /* one reference */
	bool is_map;
	int line, col; /* where it starts, 1-based */
	size_t parent_len; /* c->path length to restore when it ends */
	char *anchor; /* new, or NULL */
	size_t nodes; /* nodes so far, itself included */
	int height; /* collection levels so far, itself included */
	struct sm_strmap *map; /* where its members' positions go */
	size_t index; /* sequences: the next item's index */

	/* Mappings: the key whose value comes next. */
	bool have_key;
	bool key_is_merge;
	size_t key_off, key_len; /* in c->keys, NUL-terminated there */
	int key_line, key_col;
	json_t *merges; /* the "<<" value (taken), applied at the end */
};

struct ctx {
	struct mf_file *f;
	struct mf_parse_opts opts;
	struct sm_err *err;
	const char *data;
	size_t len;
	yaml_parser_t parser;

	struct frame *frames;
	size_t nr_frames, alloc_frames;
	struct sm_buf path; /* JSON Pointer of the current node */
	struct sm_buf tmp; /* a second pointer, while merging */
	struct sm_buf keys; /* pending keys of open mappings, a stack */
	struct sm_buf quote;
	size_t alias_nodes; /* nodes added by aliases, whole file */
	size_t ptr_bytes; /* bytes of pointers recorded, whole file */
	size_t ptr_budget; /* most ptr_bytes may reach */
	int merge_depth; /* > 0 inside the value of a "<<" key */

	/* The document being built. */
	int doc_index;
	json_t *root;
	int root_line, root_col;
	struct sm_strmap doc_pos;
	struct sm_strmap scratch; /* positions inside "<<" values */
	struct sm_strmap anchors; /* name -> struct anchor * */
};

static locale_t c_numeric;
static pthread_once_t c_numeric_once = PTHREAD_ONCE_INIT;

static void c_numeric_init(void)
{
	c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* strtod() that always reads "." as the decimal point. */
static double strtod_c(const char *s)
{
	pthread_once(&c_numeric_once, c_numeric_init);
	if (c_numeric)
		return strtod_l(s, NULL, c_numeric);
	return strtod(s, NULL);
}

static void buf_put(struct sm_buf *b, const void *data, size_t len)
{
	int r = sm_buf_add(b, data, len);

	/* Only unbounded buffers come here: failing means size_t overflow. */
	SM_BUG_ON(r);
}

static void ptr_add_key(struct sm_buf *ptr, const char *key)
{
	int r = sm_json_pointer_add_key(ptr, key);

	SM_BUG_ON(r);
}

static void ptr_add_index(struct sm_buf *ptr, size_t index)
{
	int r = sm_json_pointer_add_index(ptr, index);

	SM_BUG_ON(r);
}

/* jansson returns NULL only when out of memory for the values made here. */
static json_t *jcheck(json_t *j)
{
	if (!j)
		sm_die("out of memory building a JSON value");
	return j;
}

static bool word_in(const char *s, size_t len, const char *const *words,
		    size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		if (strlen(words[i]) == len && !memcmp(words[i], s, len))
			return true;
	return false;
}

#define WORD_IN(s, len, words) word_in(s, len, words, SM_ARRAY_SIZE(words))

/*
 * Quotes s for a message into c->quote and returns it (borrowed, valid
 * until the next call): "text" with quotes, backslashes and control
 * characters escaped, cut at a character boundary after QUOTE_MAX bytes.
 */
static const char *quote(struct ctx *c, const char *s, size_t len)
{
	struct sm_buf *q = &c->quote;
	size_t n = len;
	int r = 0;

	sm_buf_reset(q);
	if (n > QUOTE_MAX) {
		n = QUOTE_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	r |= sm_buf_addch(q, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			r |= sm_buf_addf(q, "\\%c", ch);
		else if (ch == '\n')
			r |= sm_buf_adds(q, "\\n");
		else if (ch == '\t')
			r |= sm_buf_adds(q, "\\t");
		else if (ch < 0x20 || ch == 0x7f)
			r |= sm_buf_addf(q, "\\x%02x", ch);
		else
			r |= sm_buf_addch(q, (char)ch);
	}
	r |= sm_buf_adds(q, n < len ? "...\"" : "\"");
	SM_BUG_ON(r);
	return sm_buf_cstr(q);
}

/* Writes a tag as a person would: "!!int" for the core ones, else as is. */
static const char *quote_tag(struct ctx *c, const char *tag)
{
	size_t plen = strlen(CORE_TAG_PREFIX);
	char *s;
	const char *q;

	if (strncmp(tag, CORE_TAG_PREFIX, plen))
		return quote(c, tag, strlen(tag));
	s = xasprintf("!!%s", tag + plen);
	q = quote(c, s, strlen(s));
	free(s);
	return q;
}

static enum tag_kind tag_kind(const yaml_char_t *utag)
{
	const char *tag = (const char *)utag;
	size_t plen = strlen(CORE_TAG_PREFIX);

	if (!tag)
		return TAG_NONE;
	if (!strcmp(tag, "!"))
		return TAG_NONSPECIFIC;
	if (strncmp(tag, CORE_TAG_PREFIX, plen))
		return TAG_UNKNOWN;
	for (size_t i = 0; i < SM_ARRAY_SIZE(core_tags); i++)
		if (!strcmp(tag + plen, core_tags[i].name))
			return core_tags[i].kind;
	return TAG_UNKNOWN;
}

static int verror(struct ctx *c, int line, int col, const char *fmt, va_list ap)
	SM_PRINTF(4, 0);

static int verror(struct ctx *c, int line, int col, const char *fmt, va_list ap)
{
	struct sm_pos pos = { c->f->path, line, col };
	char *msg = xvasprintf(fmt, ap);
	int r = sm_error(c->err, &pos, "yaml: %s", msg);

	free(msg);
	return r;
}

/* Adds "FILE:LINE:COL: yaml: MSG" to the sink; returns -EINVAL. */
static int yerror(struct ctx *c, int line, int col, const char *fmt, ...)
	SM_PRINTF(4, 5);

static int yerror(struct ctx *c, int line, int col, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = verror(c, line, col, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * Integers of the YAML 1.2 core schema: [-+]?[0-9]+, 0o[0-7]+,
 * 0x[0-9a-fA-F]+, plus one YAML 1.1 rule Kubernetes relies on: a leading
 * zero followed by octal digits is octal, so `defaultMode: 0644` is 420, as
 * kubectl and the API server read it (the Kubernetes docs write file modes
 * that way; reading them as decimal would give other permissions).
 */
enum num_result { NUM_NO, NUM_OK, NUM_RANGE };

static int digit_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static enum num_result parse_int(const char *s, size_t len, json_int_t *out)
{
	uint64_t v = 0, limit = INT64_MAX;
	unsigned base = 10;
	bool neg = false, range = false;
	size_t i = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
		base = s[1] == 'o' ? 8 : 16;
		i = 2;
	} else if (len > 0 && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		limit = (uint64_t)INT64_MAX + 1;
		i = 1;
	}
	if (i == len)
		return NUM_NO;
	if (base == 10 && s[i] == '0' && len - i > 1 &&
	    strspn(s + i, "01234567") == len - i) {
		base = 8;
		i++;
	}
	for (; i < len; i++) {
		int d = digit_value(s[i]);

		if (d < 0 || (unsigned)d >= base)
			return NUM_NO;
		/* Keep checking the syntax after an overflow. */
		if (range || v > (limit - (unsigned)d) / base)
			range = true;
		else
			v = v * base + (unsigned)d;
	}
	if (range)
		return NUM_RANGE;
	if (!neg)
		*out = (json_int_t)v;
	else if (v == (uint64_t)INT64_MAX + 1)
		*out = INT64_MIN;
	else
		*out = -(json_int_t)v;
	return NUM_OK;
}

/* The finite floats of the core schema:
 * [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_finite_float(const char *s, size_t len)
{
	size_t i = 0, ipart = 0, fpart = 0, epart = 0;

	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		ipart++;
	if (i < len && s[i] == '.')
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			fpart++;
	if (!ipart && !fpart)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '-' || s[i] == '+'))
			i++;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			epart++;
		if (!epart)
			return false;
	}
	return i == len;
}

/* [-+]?\.(inf|Inf|INF) and \.(nan|NaN|NAN) */
static bool is_special_float(const char *s, size_t len)
{
	if (WORD_IN(s, len, nan_words))
		return true;
	if (len > 0 && (s[0] == '-' || s[0] == '+')) {
		s++;
		len--;
	}
	return WORD_IN(s, len, inf_words);
}

static int make_string(struct ctx *c, const char *s, size_t len, int line,
		       int col, json_t **out)
{
	/* libyaml hands out valid UTF-8; checking again costs little. */
	*out = json_stringn(s, len);
	if (!*out)
		return yerror(c, line, col, "string %s is not valid UTF-8",
			      quote(c, s, len));
	return 0;
}

/* s must be NUL-terminated at len (libyaml's scalars are). */
static int make_float(struct ctx *c, const char *s, size_t len, int line,
		      int col, json_t **out)
{
	double d = is_special_float(s, len) ? NAN : strtod_c(s);

	if (!isfinite(d))
		return yerror(c, line, col,
			      "%s is not a finite number, which JSON cannot "
			      "hold: quote it if a string is meant",
			      quote(c, s, len));
	*out = jcheck(json_real(d));
	return 0;
}

static int int_range_error(struct ctx *c, const char *s, size_t len, int line,
			   int col)
{
	return yerror(c, line, col,
		      "integer %s does not fit in 64 bits: quote it if a "
		      "string is meant",
		      quote(c, s, len));
}

static int tag_value_error(struct ctx *c, const char *s, size_t len,
			   const char *tag, int line, int col)
{
	return yerror(c, line, col, "%s is not a valid %s", quote(c, s, len),
		      tag);
}

/* Resolves an untagged plain scalar by the YAML 1.2 core schema. */
static int resolve_plain(struct ctx *c, const char *s, size_t len, int line,
			 int col, json_t **out)
{
	json_int_t i;

	if (WORD_IN(s, len, null_words)) {
		*out = json_null();
		return 0;
	}
	if (WORD_IN(s, len, true_words) || WORD_IN(s, len, false_words)) {
		*out = json_boolean(WORD_IN(s, len, true_words));
		return 0;
	}
	switch (parse_int(s, len, &i)) {
	case NUM_OK:
		*out = jcheck(json_integer(i));
		return 0;
	case NUM_RANGE:
		return int_range_error(c, s, len, line, col);
	case NUM_NO:
		break;
	}
	if (is_finite_float(s, len) || is_special_float(s, len))
		return make_float(c, s, len, line, col, out);
	return make_string(c, s, len, line, col, out);
}

/* The value of a scalar node, by its tag, style and text. */
static int scalar_value(struct ctx *c, const yaml_event_t *ev, int line,
			int col, json_t **out)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	enum tag_kind kind = tag_kind(ev->data.scalar.tag);
	json_int_t i;
	enum num_result nr;

	if (kind == TAG_NONE &&
	    ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		kind = TAG_STR;
	switch (kind) {
	case TAG_NONE:
		return resolve_plain(c, s, len, line, col, out);
	case TAG_NONSPECIFIC:
	case TAG_STR:
		return make_string(c, s, len, line, col, out);
	case TAG_INT:
		nr = parse_int(s, len, &i);
		if (nr == NUM_RANGE)
			return int_range_error(c, s, len, line, col);
		if (nr == NUM_NO)
			return tag_value_error(c, s, len, "!!int", line, col);
		*out = jcheck(json_integer(i));
		return 0;
	case TAG_FLOAT:
		if (parse_int(s, len, &i) == NUM_OK) {
			*out = jcheck(json_real((double)i));
			return 0;
		}
		if (is_finite_float(s, len) || is_special_float(s, len))
			return make_float(c, s, len, line, col, out);
		return tag_value_error(c, s, len, "!!float", line, col);
	case TAG_BOOL:
		if (WORD_IN(s, len, true_words) ||
		    WORD_IN(s, len, false_words)) {
			*out = json_boolean(WORD_IN(s, len, true_words));
			return 0;
		}
		return tag_value_error(c, s, len, "!!bool", line, col);
	case TAG_NULL:
		if (WORD_IN(s, len, null_words)) {
			*out = json_null();
			return 0;
		}
		return tag_value_error(c, s, len, "!!null", line, col);
	case TAG_MAP:
	case TAG_SEQ:
		return yerror(c, line, col,
			      "tag %s cannot be applied to a scalar",
			      quote_tag(c, (const char *)ev->data.scalar.tag));
	case TAG_UNKNOWN:
		break;
	}
	return yerror(c, line, col,
		      "unknown tag %s: only !!str, !!int, !!float, !!bool, "
		      "!!null, !!map and !!seq are understood",
		      quote_tag(c, (const char *)ev->data.scalar.tag));
}

static struct frame *top(struct ctx *c)
{
	return c->nr_frames ? &c->frames[c->nr_frames - 1] : NULL;
}

/* Where positions go now: the document, or scratch inside a "<<" value. */
static struct sm_strmap *cur_map(struct ctx *c)
{
	return c->merge_depth > 0 ? &c->scratch : &c->doc_pos;
}

/*
 * Records a copy of p under the pointer in ptr. Fails with -E2BIG, recording
 * nothing, when the file's pointers would pass their budget. A replaced
 * position goes to *old (new, free()) or, when old is NULL, is freed.
 */
static int pos_put(struct ctx *c, struct sm_strmap *map,
		   const struct sm_buf *ptr, const struct mf_pos *p,
		   struct mf_pos **old)
{
	struct mf_pos *n;
	void *prev = NULL;

	if (c->opts.no_positions) {
		if (old)
			*old = NULL;
		return 0;
	}
	if (ptr->len + 1 > c->ptr_budget - c->ptr_bytes)
		return -E2BIG;
	c->ptr_bytes += ptr->len + 1;
	n = xmalloc(sizeof(*n));
	*n = *p;
	sm_strmap_putn(map, sm_buf_cstr(ptr), ptr->len, n, &prev);
	if (old)
		*old = prev;
	else
		free(prev);
	return 0;
}

static int ptr_budget_error(struct ctx *c, int line, int col)
{
	return yerror(c, line, col,
		      "the JSON Pointers of this file's nodes pass %zu MiB "
		      "(long keys nested deep?): shorten the keys or split "
		      "the file",
		      c->ptr_budget >> 20);
}

static void anchor_free(void *p)
{
	struct anchor *a = p;

	if (!a)
		return;
	json_decref(a->value);
	free(a->text);
	free(a);
}

/* Defines (or redefines: YAML allows it) an anchor; a is taken. */
static void anchor_put(struct ctx *c, const char *name, struct anchor *a)
{
	void *old = NULL;

	if (sm_strmap_put(&c->anchors, name, a, &old))
		anchor_free(old);
}

static void anchor_scalar(struct ctx *c, const char *name, json_t *v,
			  const char *text, size_t len)
{
	struct anchor *a = xcalloc(1, sizeof(*a));

	a->value = json_incref(v);
	a->text = xmalloc(len + 1);
	memcpy(a->text, text, len);
	a->text[len] = '\0';
	a->text_len = len;
	a->nodes = 1;
	anchor_put(c, name, a);
}

/*
 * Begins a value node at its mark: appends its pointer segment to c->path
 * and records its position. *parent_len gets the path length to restore
 * when the node ends. Fails only on a duplicate key.
 */
static int node_begin(struct ctx *c, const yaml_mark_t *m, size_t *parent_len)
{
	struct frame *f = top(c);
	struct mf_pos p, *old = NULL;
	const char *key;

	p.line = p.key_line = (int)m->line + 1;
	p.col = p.key_col = (int)m->column + 1;
	*parent_len = c->path.len;
	if (!f) {
		c->root_line = p.line;
		c->root_col = p.col;
	} else if (!f->is_map) {
		/* Without positions, pointers serve nothing: skip them. */
		if (!c->opts.no_positions)
			ptr_add_index(&c->path, f->index);
	} else {
		key = c->keys.buf + f->key_off;
		p.key_line = f->key_line;
		p.key_col = f->key_col;
		if (f->key_is_merge)
			c->merge_depth++;
		if (!c->opts.no_positions)
			ptr_add_key(&c->path,
				    f->key_is_merge ? MERGE_SEGMENT : key);
	}
	if (pos_put(c, cur_map(c), &c->path, &p, &old))
		return ptr_budget_error(c, p.line, p.col);
	/*
	 * Without positions the members built so far tell: "<<" values are
	 * merged only when the mapping ends, so these are all explicit keys.
	 */
	if (c->opts.no_positions && f && f->is_map && !f->key_is_merge &&
	    json_object_getn(f->node, c->keys.buf + f->key_off, f->key_len)) {
		key = c->keys.buf + f->key_off;
		return yerror(c, p.key_line, p.key_col, "duplicate key %s",
			      quote(c, key, f->key_len));
	}
	if (!old || !f || !f->is_map) {
		free(old);
		return 0;
	}
	/* Two members with one key share one pointer: that is the check. */
	key = c->keys.buf + f->key_off;
	yerror(c, p.key_line, p.key_col,
	       "duplicate key %s: first at %d:%d, again at %d:%d",
	       quote(c, key, f->key_len), old->key_line, old->key_col,
	       p.key_line, p.key_col);
	free(old);
	return -EINVAL;
}

static void fold(struct frame *f, size_t nodes, int height)
{
	f->nodes += nodes;
	if (height + 1 > f->height)
		f->height = height + 1;
}

static const char *yaml_kind_name(const json_t *v)
{
	if (json_is_object(v))
		return "a mapping";
	if (json_is_array(v))
		return "a sequence";
	return "a scalar";
}

/*
 * Keeps the value of a "<<" key (taken) until the mapping ends: a mapping,
 * or a sequence of mappings.
 */
static int take_merge(struct ctx *c, struct frame *f, json_t *v, int line,
		      int col)
{
	size_t i;
	json_t *item;
	const char *bad = NULL;

	if (json_is_array(v)) {
		json_array_foreach (v, i, item)
			if (!json_is_object(item) && !bad)
				bad = yaml_kind_name(item);
	} else if (!json_is_object(v)) {
		bad = yaml_kind_name(v);
	}
	if (bad) {
		const char *in = json_is_array(v) ? "a sequence holding " : "";

		json_decref(v);
		return yerror(c, line, col,
			      "the merge key \"<<\" needs a mapping or a "
			      "sequence of mappings, got %s%s",
			      in, bad);
	}
	/* A second "<<" in one mapping is a duplicate key, found before. */
	SM_BUG_ON(f->merges);
	f->merges = v;
	return 0;
}

/*
 * Hands a finished node (taken) to the innermost open collection, or makes
 * it the document's root. nodes and height describe the node's subtree.
 */
static int attach(struct ctx *c, json_t *v, size_t nodes, int height, int line,
		  int col)
{
	struct frame *f = top(c);
	int r = 0;

	if (!f) {
		c->root = v;
		return 0;
	}
	if (!f->is_map) {
		if (json_array_append_new(f->node, v))
			sm_die("out of memory building a JSON array");
		f->index++;
		fold(f, nodes, height);
		return 0;
	}
	if (f->key_is_merge) {
		c->merge_depth--;
		r = take_merge(c, f, v, line, col);
	} else {
		if (json_object_setn_new(f->node, c->keys.buf + f->key_off,
					 f->key_len, v))
			r = yerror(
				c, f->key_line, f->key_col, "cannot use key %s",
				quote(c, c->keys.buf + f->key_off, f->key_len));
		else
			fold(f, nodes, height);
	}
	sm_buf_truncate(&c->keys, f->key_off);
	f->have_key = false;
	f->key_is_merge = false;
	return r;
}

/*
 * Takes a scalar (or an alias to one) as the key of the innermost mapping.
 * Keys stay strings as written: "8080:" is the key "8080", "true:" is
 * "true", and "<<" (plain, untagged) is the merge key.
 */
static int take_key(struct ctx *c, const char *s, size_t len, int line, int col,
		    bool merge)
{
	struct frame *f = top(c);

	if (memchr(s, '\0', len))
		return yerror(c, line, col, "key %s contains a NUL character",
			      quote(c, s, len));
	f->have_key = true;
	f->key_is_merge = merge;
	f->key_off = c->keys.len;
	f->key_len = len;
	f->key_line = line;
	f->key_col = col;
	buf_put(&c->keys, s, len);
	buf_put(&c->keys, "", 1);
	return 0;
}

static int on_key_scalar(struct ctx *c, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	int line = (int)ev->start_mark.line + 1;
	int col = (int)ev->start_mark.column + 1;
	const char *tag = (const char *)ev->data.scalar.tag;
	bool merge;

	switch (tag_kind(ev->data.scalar.tag)) {
	case TAG_MAP:
	case TAG_SEQ:
		return yerror(c, line, col,
			      "tag %s cannot be applied to a scalar",
			      quote_tag(c, tag));
	case TAG_UNKNOWN:
		return yerror(c, line, col,
			      "unknown tag %s: only !!str, !!int, !!float, "
			      "!!bool, !!null, !!map and !!seq are understood",
			      quote_tag(c, tag));
	default:
		break;
	}
	merge = !tag && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		len == 2 && !memcmp(s, "<<", 2);
	if (ev->data.scalar.anchor) {
		json_t *v;
		int r = make_string(c, s, len, line, col, &v);

		if (r)
			return r;
		anchor_scalar(c, (const char *)ev->data.scalar.anchor, v, s,
			      len);
		json_decref(v);
	}
	return take_key(c, s, len, line, col, merge);
}

static bool expecting_key(struct ctx *c)
{
	struct frame *f = top(c);

	return f && f->is_map && !f->have_key;
}

static int on_scalar(struct ctx *c, const yaml_event_t *ev)
{
	int line = (int)ev->start_mark.line + 1;
	int col = (int)ev->start_mark.column + 1;
	size_t parent_len;
	json_t *v = NULL;
	int r;

	if (expecting_key(c))
		return on_key_scalar(c, ev);
	r = node_begin(c, &ev->start_mark, &parent_len);
	if (!r)
		r = scalar_value(c, ev, line, col, &v);
	if (r)
		return r;
	if (ev->data.scalar.anchor)
		anchor_scalar(c, (const char *)ev->data.scalar.anchor, v,
			      (const char *)ev->data.scalar.value,
			      ev->data.scalar.length);
	r = attach(c, v, 1, 0, line, col);
	sm_buf_truncate(&c->path, parent_len);
	return r;
}

/*
 * Deep-copies v for an alias, recording each node below the alias at the
 * alias's position (value and key alike) under c->path. Returns a new
 * reference, or NULL when the pointer budget runs out (c->path is then left
 * longer; the caller cuts it back). The recursion is bounded by the
 * anchor's height, which the depth limit bounds.
 */
static json_t *copy_for_alias(struct ctx *c, json_t *v, struct sm_strmap *map,
			      const struct mf_pos *at)
{
	size_t len = c->path.len, i;
	const char *key;
	json_t *copy, *item, *sub;

	if (json_is_object(v)) {
		copy = jcheck(json_object());
		json_object_foreach (v, key, item) {
			ptr_add_key(&c->path, key);
			if (pos_put(c, map, &c->path, at, NULL) ||
			    !(sub = copy_for_alias(c, item, map, at))) {
				json_decref(copy);
				return NULL;
			}
			if (json_object_set_new_nocheck(copy, key, sub))
				sm_die("out of memory building a JSON object");
			sm_buf_truncate(&c->path, len);
		}
		return copy;
	}
	if (json_is_array(v)) {
		copy = jcheck(json_array());
		json_array_foreach (v, i, item) {
			ptr_add_index(&c->path, i);
			if (pos_put(c, map, &c->path, at, NULL) ||
			    !(sub = copy_for_alias(c, item, map, at))) {
				json_decref(copy);
				return NULL;
			}
			if (json_array_append_new(copy, sub))
				sm_die("out of memory building a JSON array");
			sm_buf_truncate(&c->path, len);
		}
		return copy;
	}
	/* true, false and null are jansson singletons: copying is a no-op. */
	return jcheck(json_copy(v));
}

static int on_alias(struct ctx *c, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	int line = (int)ev->start_mark.line + 1;
	int col = (int)ev->start_mark.column + 1;
	struct anchor *a = sm_strmap_get(&c->anchors, name);
	struct mf_pos at = { line, col, line, col };
	size_t parent_len;
	json_t *v;
	int r;

	if (!a)
		return yerror(c, line, col,
			      "alias *%s refers to no anchor &%s defined "
			      "before it in this document",
			      name, name);
	if (!a->value)
		return yerror(c, line, col,
			      "alias *%s is inside the node anchored &%s: "
			      "JSON cannot hold a recursive structure",
			      name, name);
	if (expecting_key(c)) {
		if (!a->text)
			return yerror(c, line, col,
				      "alias *%s used as a key refers to %s; "
				      "mapping keys must be scalars",
				      name, yaml_kind_name(a->value));
		return take_key(c, a->text, a->text_len, line, col, false);
	}
	/* Price the copy before making it. */
	if (a->nodes > c->opts.max_alias_nodes - c->alias_nodes)
		return yerror(c, line, col,
			      "alias expansion exceeds %zu nodes (an alias "
			      "bomb?): reduce the use of aliases",
			      c->opts.max_alias_nodes);
	if (a->height > c->opts.max_depth - (int)c->nr_frames)
		return yerror(c, line, col,
			      "alias *%s nests deeper than %d levels", name,
			      c->opts.max_depth);
	c->alias_nodes += a->nodes;
	r = node_begin(c, &ev->start_mark, &parent_len);
	if (r)
		return r;
	v = copy_for_alias(c, a->value, cur_map(c), &at);
	if (!v)
		return ptr_budget_error(c, line, col);
	r = attach(c, v, a->nodes, a->height, line, col);
	sm_buf_truncate(&c->path, parent_len);
	return r;
}

static int on_collection_start(struct ctx *c, const yaml_event_t *ev,
			       bool is_map)
{
	const yaml_char_t *utag = is_map ? ev->data.mapping_start.tag
					 : ev->data.sequence_start.tag;
	const yaml_char_t *anchor = is_map ? ev->data.mapping_start.anchor
					   : ev->data.sequence_start.anchor;
	const char *what = is_map ? "a mapping" : "a sequence";
	int line = (int)ev->start_mark.line + 1;
	int col = (int)ev->start_mark.column + 1;
	enum tag_kind kind = tag_kind(utag);
	struct frame *f;
	size_t parent_len;
	int r;

	if (expecting_key(c))
		return yerror(c, line, col,
			      "mapping keys must be scalars, got %s", what);
	if (kind == TAG_UNKNOWN)
		return yerror(c, line, col,
			      "unknown tag %s: only !!str, !!int, !!float, "
			      "!!bool, !!null, !!map and !!seq are understood",
			      quote_tag(c, (const char *)utag));
	if (kind != TAG_NONE && kind != TAG_NONSPECIFIC &&
	    kind != (is_map ? TAG_MAP : TAG_SEQ))
		return yerror(c, line, col, "tag %s cannot be applied to %s",
			      quote_tag(c, (const char *)utag), what);
	/* Depth counts open collections; scalars add no level. */
	if (c->nr_frames >= (size_t)c->opts.max_depth)
		return yerror(c, line, col, "nesting deeper than %d levels",
			      c->opts.max_depth);
	r = node_begin(c, &ev->start_mark, &parent_len);
	if (r)
		return r;
	SM_ALLOC_GROW(c->frames, c->nr_frames + 1, c->alloc_frames);
	f = &c->frames[c->nr_frames++];
	memset(f, 0, sizeof(*f));
	f->node = jcheck(is_map ? json_object() : json_array());
	f->is_map = is_map;
	f->line = line;
	f->col = col;
	f->parent_len = parent_len;
	f->nodes = 1;
	f->height = 1;
	f->map = cur_map(c);
	if (anchor) {
		/* Pending until the end, so an alias inside it is caught. */
		f->anchor = xstrdup((const char *)anchor);
		anchor_put(c, f->anchor, xcalloc(1, sizeof(struct anchor)));
	}
	return 0;
}

/*
 * Records positions for a merged member: each node below c->tmp (in
 * scratch) gets the same position under c->path (in map); a node scratch
 * lacks takes fallback. Adds the subtree's node count and height. Fails
 * with -E2BIG when the pointer budget runs out, leaving the paths longer.
 */
static int move_positions(struct ctx *c, json_t *v, struct sm_strmap *map,
			  const struct mf_pos *fallback, size_t *nodes,
			  int *height)
{
	size_t dlen = c->path.len, slen = c->tmp.len, i, n = 0;
	const struct mf_pos *p;
	const char *key;
	json_t *item;
	int h = 0, sub;

	p = sm_strmap_getn(&c->scratch, sm_buf_cstr(&c->tmp), c->tmp.len);
	if (pos_put(c, map, &c->path, p ? p : fallback, NULL))
		return -E2BIG;
	if (json_is_object(v)) {
		json_object_foreach (v, key, item) {
			ptr_add_key(&c->path, key);
			ptr_add_key(&c->tmp, key);
			if (move_positions(c, item, map, fallback, &n, &sub))
				return -E2BIG;
			h = sub + 1 > h ? sub + 1 : h;
			sm_buf_truncate(&c->path, dlen);
			sm_buf_truncate(&c->tmp, slen);
		}
		h = h ? h : 1;
	} else if (json_is_array(v)) {
		json_array_foreach (v, i, item) {
			ptr_add_index(&c->path, i);
			ptr_add_index(&c->tmp, i);
			if (move_positions(c, item, map, fallback, &n, &sub))
				return -E2BIG;
			h = sub + 1 > h ? sub + 1 : h;
			sm_buf_truncate(&c->path, dlen);
			sm_buf_truncate(&c->tmp, slen);
		}
		h = h ? h : 1;
	}
	*nodes += n + 1;
	*height = h;
	return 0;
}

/*
 * Merges the members of src (at c->tmp in scratch) that f lacks. Fails with
 * -E2BIG when the pointer budget runs out.
 */
static int merge_one(struct ctx *c, struct frame *f, json_t *src)
{
	size_t dlen = c->path.len, slen = c->tmp.len;
	const struct mf_pos *p;
	struct mf_pos fallback = { f->line, f->col, f->line, f->col };
	const char *key;
	json_t *v;

	p = sm_strmap_getn(&c->scratch, sm_buf_cstr(&c->tmp), c->tmp.len);
	if (p)
		fallback = *p;
	json_object_foreach (src, key, v) {
		size_t nodes = 0;
		int height;

		if (json_object_get(f->node, key))
			continue;
		ptr_add_key(&c->path, key);
		ptr_add_key(&c->tmp, key);
		if (move_positions(c, v, f->map, &fallback, &nodes, &height))
			return -E2BIG;
		if (json_object_set_nocheck(f->node, key, v))
			sm_die("out of memory building a JSON object");
		fold(f, nodes, height);
		sm_buf_truncate(&c->path, dlen);
		sm_buf_truncate(&c->tmp, slen);
	}
	return 0;
}

/*
 * Applies a mapping's "<<" value: explicit keys win, then earlier mappings
 * of a merged sequence win over later ones. Members move from the merge
 * value, which is dropped, so nothing ends up shared. Fails with -E2BIG
 * when the pointer budget runs out; f still owns all it holds then.
 */
static int apply_merges(struct ctx *c, struct frame *f)
{
	size_t i, base;
	json_t *item;

	sm_buf_reset(&c->tmp);
	buf_put(&c->tmp, sm_buf_cstr(&c->path), c->path.len);
	ptr_add_key(&c->tmp, MERGE_SEGMENT);
	if (json_is_object(f->merges)) {
		if (merge_one(c, f, f->merges))
			return -E2BIG;
	} else {
		base = c->tmp.len;
		json_array_foreach (f->merges, i, item) {
			ptr_add_index(&c->tmp, i);
			if (merge_one(c, f, item))
				return -E2BIG;
			sm_buf_truncate(&c->tmp, base);
		}
	}
	json_decref(f->merges);
	f->merges = NULL;
	return 0;
}

static void frame_release(struct frame *f)
{
	json_decref(f->node);
	json_decref(f->merges);
	free(f->anchor);
}

static int on_collection_end(struct ctx *c)
{
	struct frame *f = top(c);
	struct frame done;
	struct anchor *a;

	SM_BUG_ON(!f);
	if (f->merges && apply_merges(c, f))
		return ptr_budget_error(c, f->line, f->col);
	if (f->anchor) {
		/* Unless the name was redefined inside, which then wins. */
		a = sm_strmap_get(&c->anchors, f->anchor);
		if (a && !a->value) {
			a->value = json_incref(f->node);
			a->nodes = f->nodes;
			a->height = f->height;
		}
	}
	done = *f;
	c->nr_frames--;
	free(done.anchor);
	sm_buf_truncate(&c->path, done.parent_len);
	return attach(c, done.node, done.nodes, done.height, done.line,
		      done.col);
}

static void doc_reset(struct ctx *c)
{
	json_decref(c->root);
	c->root = NULL;
	sm_strmap_release(&c->doc_pos, free);
	sm_strmap_release(&c->scratch, free);
	sm_strmap_release(&c->anchors, anchor_free);
	while (c->nr_frames)
		frame_release(&c->frames[--c->nr_frames]);
	sm_buf_reset(&c->path);
	sm_buf_reset(&c->keys);
	c->merge_depth = 0;
}

/*
 * Ends a document: keeps it unless it is empty. A document with no content
 * ("---" alone) or whose root is null is what "kubectl apply" skips too.
 * The index counts every document of the stream, skipped ones included, so
 * it matches what a reader counts by the "---" separators.
 */
static void on_document_end(struct ctx *c)
{
	struct mf_file *f = c->f;
	struct mf_doc *d;

	if (c->root && !json_is_null(c->root)) {
		SM_ALLOC_GROW(f->docs, f->nr_docs + 1, f->alloc_docs);
		d = &f->docs[f->nr_docs++];
		d->root = c->root;
		d->index = c->doc_index;
		d->line = c->root_line;
		d->col = c->root_col;
		d->pos = c->doc_pos;
		c->root = NULL;
		memset(&c->doc_pos, 0, sizeof(c->doc_pos));
	}
	doc_reset(c);
	c->doc_index++;
}

/*
 * Converts a byte offset of the input to a 1-based line and column, the
 * column counting characters as libyaml does. Line breaks are LF, CRLF and
 * a lone CR.
 */
static void offset_to_pos(const char *data, size_t len, size_t off, int *line,
			  int *col)
{
	int l = 1, cl = 1;

	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		unsigned char ch = (unsigned char)data[i];

		if (ch == '\n' ||
		    (ch == '\r' && !(i + 1 < len && data[i + 1] == '\n'))) {
			l++;
			cl = 1;
		} else if (ch != '\r' && (ch & 0xC0) != 0x80) {
			cl++;
		}
	}
	*line = l;
	*col = cl;
}

/* The byte at a libyaml mark (0-based line and character column), or -1. */
static int byte_at_mark(const char *data, size_t len, const yaml_mark_t *m)
{
	size_t i = 0, line = 0, col = 0;

	while (i < len && line < m->line) {
		if (data[i] == '\n' ||
		    (data[i] == '\r' && !(i + 1 < len && data[i + 1] == '\n')))
			line++;
		i++;
	}
	for (; i < len; i++) {
		if (((unsigned char)data[i] & 0xC0) == 0x80)
			continue;
		if (col++ == m->column)
			return (unsigned char)data[i];
	}
	return -1;
}

/* Reports the error libyaml stopped with. */
static int yaml_failed(struct ctx *c)
{
	yaml_parser_t *p = &c->parser;
	const char *problem = p->problem ? p->problem : "unknown error";
	const char *hint = "";
	int line, col;

	switch (p->error) {
	case YAML_READER_ERROR:
		/* The reader knows only a byte offset; its mark is unset. */
		offset_to_pos(c->data, c->len, p->problem_offset, &line, &col);
		if (strstr(problem, "control characters"))
			hint = ": is this a binary file?";
		else if (p->problem_value != -1 || strstr(problem, "UTF-8"))
			hint = ": manifests must be UTF-8 text";
		if (p->problem_value == -1)
			return yerror(c, line, col, "%s%s", problem, hint);
		if (strstr(problem, "octet"))
			return yerror(c, line, col, "%s 0x%02X%s", problem,
				      (unsigned)p->problem_value, hint);
		return yerror(c, line, col, "%s, found U+%04X%s", problem,
			      (unsigned)p->problem_value, hint);
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		line = (int)p->problem_mark.line + 1;
		col = (int)p->problem_mark.column + 1;
		if (byte_at_mark(c->data, c->len, &p->problem_mark) == '\t')
			hint = ": YAML indents with spaces, not tabs";
		if (p->context)
			return yerror(c, line, col, "%s (%s)%s", problem,
				      p->context, hint);
		return yerror(c, line, col, "%s%s", problem, hint);
	case YAML_MEMORY_ERROR:
		return yerror(c, 0, 0, "out of memory");
	default:
		return yerror(c, 0, 0, "%s", problem);
	}
}

static int on_event(struct ctx *c, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return on_scalar(c, ev);
	case YAML_ALIAS_EVENT:
		return on_alias(c, ev);
	case YAML_MAPPING_START_EVENT:
		return on_collection_start(c, ev, true);
	case YAML_SEQUENCE_START_EVENT:
		return on_collection_start(c, ev, false);
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		return on_collection_end(c);
	case YAML_DOCUMENT_END_EVENT:
		on_document_end(c);
		return 0;
	default:
		return 0;
	}
}

static int parse_events(struct ctx *c)
{
	yaml_event_t ev;
	bool end;
	int r;

	for (;;) {
		if (!yaml_parser_parse(&c->parser, &ev))
			return yaml_failed(c);
		r = on_event(c, &ev);
		end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (r || end)
			return r;
	}
}

/*
 * Options with zero fields replaced by the defaults, so a zeroed struct
 * means "the defaults" rather than "refuse every file".
 */
static struct mf_parse_opts opts_or_defaults(const struct mf_parse_opts *o)
{
	struct mf_parse_opts d = MF_PARSE_OPTS_INIT, r = o ? *o : d;

	if (!r.max_bytes)
		r.max_bytes = d.max_bytes;
	if (!r.max_alias_nodes)
		r.max_alias_nodes = d.max_alias_nodes;
	if (r.max_depth <= 0)
		r.max_depth = d.max_depth;
	return r;
}

/* A limit for a message: "8 MiB", "64 KiB" or "1000 bytes". */
static void format_limit(char *out, size_t n, size_t size)
{
	if (size >= (1u << 20) && size % (1u << 20) == 0)
		snprintf(out, n, "%zu MiB", size >> 20);
	else if (size >= 1024 && size % 1024 == 0)
		snprintf(out, n, "%zu KiB", size >> 10);
	else
		snprintf(out, n, "%zu bytes", size);
}

/*
 * A size over max for a message: "9.0 MiB", "70.5 KiB", or the exact byte
 * count when rounding would make it look no larger than the limit ("8.0 MiB,
 * over the 8 MiB limit" would read as a contradiction).
 */
static void format_over(char *out, size_t n, size_t size, size_t max)
{
	double unit = size >= (1u << 20) ? 1024.0 * 1024.0
		      : size >= 1024	 ? 1024.0
					 : 0;
	double tenths;

	if (unit) {
		tenths = floor((double)size / unit * 10 + 0.5);
		if (tenths * unit > (double)max * 10) {
			snprintf(out, n, "%.1f %s", tenths / 10,
				 unit > 1024 ? "MiB" : "KiB");
			return;
		}
	}
	snprintf(out, n, "%zu bytes", size);
}

/* Reports a file over the size limit; size 0 when it is not known. */
static int too_big(const char *path, size_t size, size_t max,
		   struct sm_err *err)
{
	struct sm_pos pos = { path, 0, 0 };
	char have[48], limit[48];

	format_limit(limit, sizeof(limit), max);
	if (!size) {
		sm_error(err, &pos,
			 "file is over the %s limit for manifests: split it "
			 "or raise --max-file-size",
			 limit);
		return -EFBIG;
	}
	format_over(have, sizeof(have), size, max);
	sm_error(err, &pos,
		 "file is %s, over the %s limit for manifests: split it or "
		 "raise --max-file-size",
		 have, limit);
	return -EFBIG;
}

static int parse(struct mf_file *f, const char *data, size_t len,
		 const struct mf_parse_opts *opts, struct sm_err *err)
{
	struct ctx c = {
		.f = f,
		.opts = *opts,
		.err = err,
		.data = data,
		.len = len,
		.path = SM_BUF_INIT(SM_BUF_UNBOUNDED),
		.tmp = SM_BUF_INIT(SM_BUF_UNBOUNDED),
		.keys = SM_BUF_INIT(SM_BUF_UNBOUNDED),
		.quote = SM_BUF_INIT(SM_BUF_UNBOUNDED),
	};
	int r;

	c.ptr_budget = len > PTR_BUDGET_MIN / PTR_BUDGET_FACTOR
			       ? len * PTR_BUDGET_FACTOR
			       : PTR_BUDGET_MIN;
	if (!yaml_parser_initialize(&c.parser))
		sm_die("out of memory starting the YAML parser");
	yaml_parser_set_input_string(&c.parser, (const unsigned char *)data,
				     len);
	r = parse_events(&c);
	/* On error, the document being built is dropped; earlier ones stay. */
	doc_reset(&c);
	free(c.frames);
	sm_buf_release(&c.path);
	sm_buf_release(&c.tmp);
	sm_buf_release(&c.keys);
	sm_buf_release(&c.quote);
	yaml_parser_delete(&c.parser);
	return r;
}

int mf_parse_buffer(struct mf_file *f, const char *path, const char *data,
		    size_t len, const struct mf_parse_opts *opts,
		    struct sm_err *err)
{
	struct mf_parse_opts o = opts_or_defaults(opts);

	if (!f->path)
		f->path = xstrdup(path);
	if (len > o.max_bytes)
		return too_big(path, len, o.max_bytes, err);
	return parse(f, data, len, &o, err);
}

int mf_parse_file(struct mf_file *f, const char *path,
		  const struct mf_parse_opts *opts, struct sm_err *err)
{
	struct mf_parse_opts o = opts_or_defaults(opts);
	struct sm_buf b = SM_BUF_INIT(o.max_bytes);
	struct sm_pos pos = { path, 0, 0 };
	struct stat st;
	char ebuf[128];
	int r;

	if (!f->path)
		f->path = xstrdup(path);
	/* sm_buf_read_file checks the size with fstat before reading. */
	r = sm_buf_read_file(&b, path);
	if (r == -EFBIG) {
		/* A pipe or a file that grew while read has no size to show. */
		bool known = !stat(path, &st) && S_ISREG(st.st_mode) &&
			     (uint64_t)st.st_size > o.max_bytes;

		r = too_big(path, known ? (size_t)st.st_size : 0, o.max_bytes,
			    err);
	} else if (r) {
		sm_error(err, &pos, "cannot read: %s",
			 strerror_r(-r, ebuf, sizeof(ebuf)));
	} else {
		r = parse(f, sm_buf_cstr(&b), b.len, &o, err);
	}
	sm_buf_release(&b);
	return r;
}

void mf_file_release(struct mf_file *f)
{
	for (size_t i = 0; i < f->nr_docs; i++) {
		json_decref(f->docs[i].root);
		sm_strmap_release(&f->docs[i].pos, free);
	}
	free(f->docs);
	free(f->path);
	memset(f, 0, sizeof(*f));
}

const struct mf_pos *mf_doc_pos(const struct mf_doc *d, const char *pointer)
{
	return sm_strmap_get(&d->pos, pointer);
}
