/*
 * events.h: Kubernetes Events (core v1), as controllers record them.
 *
 * An event names the object it is about (involvedObject), a type (Normal
 * or Warning), a CamelCase reason (SuccessfulCreate, Scheduled, Killing,
 * FailedScheduling, ...) and a message. The same event again within ten
 * minutes updates the first one's count and lastTimestamp instead of
 * adding one, as Kubernetes' event correlator does, so `describe` prints
 * "(x3 over 5m)" and a crash loop does not flood the store. As its
 * aggregator does, more than ten events about one object with one reason
 * but other messages within ten minutes (a ReplicaSet creating a thousand
 * pods) go on as one counted event, "(combined from similar events):
 * <the latest message>".
 *
 * Events are best effort: a failed write is logged and dropped, never an
 * error of the caller. The recorder keeps the names of recent events
 * (bounded) to find the one to update.
 */
#ifndef SM_EVENTS_H
#define SM_EVENTS_H

#include <jansson.h>

#include "common/compat.h"

struct store;
struct sm_clock;
struct sm_rand;
struct events;

void events_free(struct events *e);
/* component: the source ("deployment-controller", "default-scheduler"). */
struct events *events_new(struct store *s, const struct sm_clock *clock,
			  const struct sm_rand *rand, const char *component)
	SM_MALLOC(events_free);

enum event_type { EVENT_NORMAL, EVENT_WARNING };

/* Records an event about obj (borrowed). */
void events_record(struct events *e, const json_t *obj, enum event_type type,
		   const char *reason, const char *fmt, ...) SM_PRINTF(5, 6);

#endif
