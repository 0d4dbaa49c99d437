/*
 * controller.c: the work queue (see controller.h).
 *
 * Each key with something pending has a struct key_state in a map. Ready
 * keys wait in a FIFO; delayed ones in an array scanned for the earliest
 * (few keys are delayed at once). States of keys with nothing pending are
 * freed, and the map is rebuilt when it holds many more keys than live
 * states, so keys of objects long gone do not pile up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strmap.h"
#include "common/xalloc.h"
#include "reconciler/controller.h"

#include "common/banned.h"

#define SYNCS_PER_TURN 64
#define BACKOFF_FIRST_MS 10
#define BACKOFF_MAX_MS 30000
#define DEFAULT_RESYNC_MS 30000

struct key_state {
	char *key;
	bool ready; /* in the FIFO */
	bool running; /* being synced now */
	bool again; /* added while running */
	uint64_t due_ms; /* 0: not delayed */
	unsigned failures;
};

struct controller {
	uv_loop_t *loop;
	struct controller_opts o;
	char *name;
	struct sm_strmap keys; /* key -> struct key_state, or NULL */
	size_t live;
	struct key_state **fifo;
	size_t head, nr, alloc;
	struct key_state **delayed;
	size_t nr_delayed, alloc_delayed;
	uv_idle_t idle;
	uv_timer_t delay_timer;
	uv_timer_t resync_timer;
	int open_handles;
	bool freed;
	uint64_t syncs, failures;
};

static uint64_t now_ms(const struct controller *c)
{
	return uv_now(c->loop);
}

static struct key_state *state_of(struct controller *c, const char *key)
{
	struct key_state *s = sm_strmap_get(&c->keys, key);

	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->key = xstrdup(key);
		sm_strmap_put(&c->keys, key, s, NULL);
		c->live++;
	}
	return s;
}

static void state_free(void *v)
{
	struct key_state *s = v;

	if (s) {
		free(s->key);
		free(s);
	}
}

/* Rebuilds the map with the live states only. */
static void compact(struct controller *c)
{
	struct sm_strmap fresh = SM_STRMAP_INIT;
	size_t it = 0;
	void *v;

	while (sm_strmap_next(&c->keys, &it, NULL, &v))
		if (v)
			sm_strmap_put(&fresh, ((struct key_state *)v)->key, v,
				      NULL);
	sm_strmap_release(&c->keys, NULL);
	c->keys = fresh;
}

/* Frees s when nothing is pending for it any more. */
static void maybe_forget(struct controller *c, struct key_state *s)
{
	if (s->ready || s->running || s->due_ms || s->failures)
		return;
	sm_strmap_put(&c->keys, s->key, NULL, NULL);
	state_free(s);
	c->live--;
	if (c->keys.nr > 2 * c->live + 256)
		compact(c);
}

static void on_delay(uv_timer_t *t);
static void on_idle(uv_idle_t *h);

static void push_ready(struct controller *c, struct key_state *s)
{
	if (s->ready)
		return;
	if (s->running) {
		s->again = true;
		return;
	}
	s->ready = true;
	if (c->head && c->head == c->nr) {
		c->head = c->nr = 0;
	} else if (c->head > 1024 && c->head * 2 > c->nr) {
		memmove(c->fifo, c->fifo + c->head,
			(c->nr - c->head) * sizeof(struct key_state *));
		c->nr -= c->head;
		c->head = 0;
	}
	if (c->nr == c->alloc) {
		c->alloc = c->alloc ? 2 * c->alloc : 16;
		c->fifo = xrealloc(c->fifo,
				   c->alloc * sizeof(struct key_state *));
	}
	c->fifo[c->nr++] = s;
	if (!c->freed)
		uv_idle_start(&c->idle, on_idle);
}

static void arm_delay_timer(struct controller *c)
{
	uint64_t first = 0;

	for (size_t i = 0; i < c->nr_delayed; i++)
		if (!first || c->delayed[i]->due_ms < first)
			first = c->delayed[i]->due_ms;
	if (!first || c->freed) {
		uv_timer_stop(&c->delay_timer);
		return;
	}
	uint64_t now = now_ms(c);
	uv_timer_start(&c->delay_timer, on_delay, first > now ? first - now : 0,
		       0);
}

void controller_queue(struct controller *c, const char *key)
{
	if (c->freed)
		return;
	push_ready(c, state_of(c, key));
}

void controller_queue_after(struct controller *c, const char *key,
			    uint64_t delay_ms)
{
	struct key_state *s;
	uint64_t due;

	if (c->freed)
		return;
	if (!delay_ms) {
		controller_queue(c, key);
		return;
	}
	s = state_of(c, key);
	due = now_ms(c) + delay_ms;
	if (s->due_ms && s->due_ms <= due)
		return;
	if (!s->due_ms) {
		if (c->nr_delayed == c->alloc_delayed) {
			c->alloc_delayed =
				c->alloc_delayed ? 2 * c->alloc_delayed : 16;
			c->delayed = xrealloc(
				c->delayed,
				c->alloc_delayed * sizeof(struct key_state *));
		}
		c->delayed[c->nr_delayed++] = s;
	}
	s->due_ms = due;
	arm_delay_timer(c);
}

/* Moves delayed keys that are due to the FIFO. */
static void promote_due(struct controller *c)
{
	uint64_t now = now_ms(c);

	for (size_t i = 0; i < c->nr_delayed;) {
		struct key_state *s = c->delayed[i];

		if (s->due_ms > now) {
			i++;
			continue;
		}
		c->delayed[i] = c->delayed[--c->nr_delayed];
		s->due_ms = 0;
		push_ready(c, s);
	}
	arm_delay_timer(c);
}

static void on_delay(uv_timer_t *t)
{
	promote_due(t->data);
}

static void run_one(struct controller *c, struct key_state *s)
{
	int rc;

	s->ready = false;
	s->running = true;
	rc = c->o.sync(c->o.ctx, s->key);
	s->running = false;
	c->syncs++;
	if (rc < 0) {
		c->failures++;
		unsigned shift = s->failures < 12 ? s->failures : 12;
		uint64_t delay = (uint64_t)BACKOFF_FIRST_MS << shift;

		if (delay > BACKOFF_MAX_MS)
			delay = BACKOFF_MAX_MS;
		s->failures++;
		sm_log(s->failures > 3 ? SM_LOG_WARN : SM_LOG_DEBUG, c->name,
		       "sync %s failed (%s), retry %u in %llu ms", s->key,
		       strerror(-rc), s->failures, (unsigned long long)delay);
		if (s->again) {
			s->again = false;
			push_ready(c, s);
		} else {
			controller_queue_after(c, s->key, delay);
		}
		return;
	}
	s->failures = 0;
	if (s->again) {
		s->again = false;
		push_ready(c, s);
		return;
	}
	maybe_forget(c, s);
}

static size_t run_some(struct controller *c, size_t max)
{
	size_t n = 0;

	while (n < max && c->head < c->nr && !c->freed) {
		struct key_state *s = c->fifo[c->head++];

		run_one(c, s);
		n++;
	}
	if (c->head == c->nr && !c->freed)
		uv_idle_stop(&c->idle);
	return n;
}

static void on_idle(uv_idle_t *h)
{
	run_some(h->data, SYNCS_PER_TURN);
}

static void on_resync(uv_timer_t *t)
{
	struct controller *c = t->data;

	if (c->o.resync)
		c->o.resync(c->o.ctx, c);
}

struct controller *controller_new(uv_loop_t *loop,
				  const struct controller_opts *o)
{
	struct controller *c = xcalloc(1, sizeof(*c));
	uint64_t resync = o->resync_ms ? o->resync_ms : DEFAULT_RESYNC_MS;

	SM_BUG_ON(!o->sync);
	c->loop = loop;
	c->o = *o;
	c->name = xstrdup(o->name ? o->name : "controller");
	c->o.name = c->name;
	uv_idle_init(loop, &c->idle);
	uv_timer_init(loop, &c->delay_timer);
	uv_timer_init(loop, &c->resync_timer);
	c->idle.data = c->delay_timer.data = c->resync_timer.data = c;
	c->open_handles = 3;
	if (o->resync)
		uv_timer_start(&c->resync_timer, on_resync, resync, resync);
	return c;
}

size_t controller_len(const struct controller *c)
{
	return c->nr - c->head;
}

uint64_t controller_syncs(const struct controller *c)
{
	return c->syncs;
}

uint64_t controller_failures(const struct controller *c)
{
	return c->failures;
}

size_t controller_drain(struct controller *c)
{
	size_t n = 0, k;

	uv_update_time(c->loop);
	promote_due(c);
	while ((k = run_some(c, SIZE_MAX)) > 0)
		n += k;
	return n;
}

static void closed(uv_handle_t *h)
{
	struct controller *c = h->data;

	if (--c->open_handles)
		return;
	sm_strmap_release(&c->keys, state_free);
	free(c->fifo);
	free(c->delayed);
	free(c->name);
	free(c);
}

void controller_free(struct controller *c)
{
	if (!c || c->freed)
		return;
	c->freed = true;
	uv_close((uv_handle_t *)&c->idle, closed);
	uv_close((uv_handle_t *)&c->delay_timer, closed);
	uv_close((uv_handle_t *)&c->resync_timer, closed);
}
