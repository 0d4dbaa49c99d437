/*
 * events.c: see events.h.
 *
 * The event to update is found by its key (involved object's uid, reason,
 * message) in a small table of recent events: at most MAX_RECENT, the
 * oldest replaced first. An event older than ten minutes starts a new one.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
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
#include "reconciler/events.h"
#include "reconciler/store.h"

#include "common/banned.h"

#define MAX_RECENT 512
#define MAX_SIMILAR 256
/* Kubernetes' EventAggregator: past 10 similar events, one combined. */
#define SIMILAR_LIMIT 10
#define SERIES_NS (600ULL * 1000000000ULL)

struct recent {
	uint64_t key_hash;
	char ns[64];
	char name[160];
	uint64_t first_ns;
	uint64_t last_ns;
};

/* Events alike but for their message: about one object, one reason. */
struct similar {
	uint64_t key_hash;
	uint64_t first_ns;
	unsigned n;
};

struct events {
	struct store *store;
	const struct sm_clock *clock;
	const struct sm_rand *rand;
	char *component;
	struct recent recent[MAX_RECENT];
	size_t next;
	struct similar similar[MAX_SIMILAR];
	size_t next_similar;
};

struct events *events_new(struct store *s, const struct sm_clock *clock,
			  const struct sm_rand *rand, const char *component)
{
	struct events *e = xcalloc(1, sizeof(*e));

	e->store = s;
	e->clock = clock ? clock : &sm_clock_system;
	e->rand = rand ? rand : &sm_rand_system;
	e->component = xstrdup(component);
	return e;
}

void events_free(struct events *e)
{
	if (!e)
		return;
	free(e->component);
	free(e);
}

static uint64_t key_of(const json_t *obj, const char *reason, const char *msg)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	const char *uid =
		sm_json_get_str(json_object_get(obj, "metadata"), "uid");
	uint64_t h;

	sm_buf_addf(&b, "%s\n%s\n%s\n%s", uid ? uid : "",
		    store_obj_name(obj) ? store_obj_name(obj) : "", reason,
		    msg);
	h = sm_hash_fnv1a(b.buf, b.len);
	sm_buf_release(&b);
	return h;
}

/* Bumps the count of the recent event r; false when it is gone. */
static bool bump(struct events *e, struct recent *r, uint64_t now,
		 const char *stamp)
{
	const json_t *old = store_get(e->store, "Event", r->ns, r->name);
	struct sm_err err = SM_ERR_INIT;

	if (!old)
		return false;
	json_t *ev = json_deep_copy(old);
	json_t *count = json_object_get(ev, "count");
	json_object_set_new(ev, "count",
			    json_integer(json_is_integer(count)
						 ? json_integer_value(count) + 1
						 : 2));
	json_object_set_new(ev, "lastTimestamp", json_string(stamp));
	json_object_del(json_object_get(ev, "metadata"), "resourceVersion");
	int rc = store_update(e->store, ev, STORE_ALL, NULL, NULL, NULL, &err);
	if (rc < 0)
		sm_log(SM_LOG_DEBUG, "events", "update %s: %s", r->name,
		       err.nr ? err.items[0].msg : "failed");
	r->last_ns = now;
	json_decref(ev);
	sm_err_release(&err);
	return rc == 0;
}

/* Counts an event about obj of reason; true past SIMILAR_LIMIT. */
static bool similar_over_limit(struct events *e, const json_t *obj,
			       enum event_type type, const char *reason,
			       uint64_t now)
{
	uint64_t h = key_of(obj, reason, type == EVENT_WARNING ? "W" : "N");
	struct similar *free_slot = NULL;

	for (size_t i = 0; i < MAX_SIMILAR; i++) {
		struct similar *s = &e->similar[i];

		if (s->key_hash != h)
			continue;
		if (now - s->first_ns > SERIES_NS) {
			free_slot = s;
			break;
		}
		return ++s->n > SIMILAR_LIMIT;
	}
	if (!free_slot) {
		free_slot = &e->similar[e->next_similar];
		e->next_similar = (e->next_similar + 1) % MAX_SIMILAR;
	}
	free_slot->key_hash = h;
	free_slot->first_ns = now;
	free_slot->n = 1;
	return false;
}

void events_record(struct events *e, const json_t *obj, enum event_type type,
		   const char *reason, const char *fmt, ...)
{
	char msg[1024], stamp[SM_TIME_RFC3339_LEN], name[160], suffix[17];
	uint64_t now = sm_clock_realtime_ns(e->clock);
	const char *kind = store_obj_kind(obj), *oname = store_obj_name(obj);
	const char *ns = store_obj_ns(obj);
	struct sm_err err = SM_ERR_INIT;
	va_list ap;

	if (!kind || !oname)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sm_time_rfc3339(now, 0, stamp, sizeof(stamp));
	if (similar_over_limit(e, obj, type, reason, now)) {
		/*
		 * As Kubernetes' aggregator: the eleventh similar event in ten
		 * minutes and those after it become one, counted.
		 */
		char combined[sizeof(msg)];

		snprintf(combined, sizeof(combined),
			 "(combined from similar events): %.980s", msg);
		memcpy(msg, combined, sizeof(msg));
	}
	uint64_t key = key_of(obj, reason,
			      strncmp(msg, "(combined", 9) ? msg : "combined");
	/* Events of cluster-scoped objects live in "default". */
	const char *evns = *ns ? ns : "default";

	for (size_t i = 0; i < MAX_RECENT; i++) {
		struct recent *r = &e->recent[i];

		if (r->key_hash == key && now - r->first_ns < SERIES_NS &&
		    bump(e, r, now, stamp))
			return;
	}
	snprintf(suffix, sizeof(suffix), "%08" PRIx32 "%08" PRIx32,
		 sm_rand_u32(e->rand), sm_rand_u32(e->rand));
	snprintf(name, sizeof(name), "%.100s.%s", oname, suffix);
	json_t *ev = json_pack(
		"{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:O*, s:O*}, s:s, "
		"s:s, s:s, s:{s:s}, s:s, s:s, s:i}",
		"apiVersion", "v1", "kind", "Event", "metadata", "name", name,
		"namespace", evns, "involvedObject", "kind", kind, "name",
		oname, "namespace", ns, "uid",
		sm_json_get_path(obj, "metadata.uid"), "apiVersion",
		json_object_get(obj, "apiVersion"), "type",
		type == EVENT_WARNING ? "Warning" : "Normal", "reason", reason,
		"message", msg, "source", "component", e->component,
		"firstTimestamp", stamp, "lastTimestamp", stamp, "count", 1);
	if (store_create(e->store, ev, NULL, NULL, NULL, &err) < 0) {
		sm_log(SM_LOG_DEBUG, "events", "record %s %s: %s", reason,
		       oname, err.nr ? err.items[0].msg : "failed");
	} else {
		struct recent *r = &e->recent[e->next];

		e->next = (e->next + 1) % MAX_RECENT;
		r->key_hash = key;
		snprintf(r->ns, sizeof(r->ns), "%s", evns);
		snprintf(r->name, sizeof(r->name), "%s", name);
		r->first_ns = r->last_ns = now;
	}
	json_decref(ev);
	sm_err_release(&err);
}
