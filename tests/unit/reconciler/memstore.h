/*
 * memstore.h: the fixture the reconciler's controller and sync tests
 * share: a libuv loop, a memory-only store, a fake clock (2025-11-25, a
 * monotonic clock at 1000 s) and a seeded random source (42). Include it
 * after <cmocka.h>; its functions assert.
 */
#ifndef SM_TESTS_RECONCILER_MEMSTORE_H
#define SM_TESTS_RECONCILER_MEMSTORE_H

#include <uv.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/rand.h"
#include "reconciler/controllers.h"
#include "reconciler/store.h"

#define MEMSTORE_NS_PER_S 1000000000ULL

struct memstore {
	uv_loop_t loop;
	struct store *store;
	struct sm_fake_clock clock;
	struct sm_seeded_rand rand;
};

static inline void memstore_open(struct memstore *m)
{
	struct sm_err err = SM_ERR_INIT;
	struct store_opts so = { 0 };

	assert_int_equal(uv_loop_init(&m->loop), 0);
	sm_fake_clock_init(&m->clock, 1764100000ULL * MEMSTORE_NS_PER_S);
	m->clock.monotonic_ns = 1000 * MEMSTORE_NS_PER_S;
	sm_seeded_rand_init(&m->rand, 42);
	so.clock = &m->clock.clock;
	so.rand = &m->rand.rand;
	assert_int_equal(store_open(&m->loop, &so, &m->store, &err), 0);
	sm_err_release(&err);
}

/* Frees the store, runs the loop dry and closes it (every handle gone). */
static inline void memstore_close(struct memstore *m)
{
	store_free(m->store);
	while (uv_run(&m->loop, UV_RUN_NOWAIT))
		;
	assert_int_equal(uv_loop_close(&m->loop), 0);
}

/* What a controller gets: this loop, store, clock and random source. */
static inline struct ctl_env memstore_env(struct memstore *m)
{
	struct ctl_env e = { .loop = &m->loop,
			     .store = m->store,
			     .clock = &m->clock.clock,
			     .rand = &m->rand.rand,
			     .resync_ms = 3600000 };
	return e;
}

#endif
