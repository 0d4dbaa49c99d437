/*
 * clock.h: time behind an ops table, so tests and chaos can drive time.
 *
 * Production code takes a `const struct sm_clock *` and calls sm_clock_*();
 * sm_clock_system reads the real clocks. struct sm_fake_clock is a settable
 * clock for tests.
 */
#ifndef SM_CLOCK_H
#define SM_CLOCK_H

#include <stddef.h>
#include <stdint.h>

struct sm_clock_ops {
	/* Wall-clock time in nanoseconds since the Unix epoch. */
	uint64_t (*realtime_ns)(void *ctx);
	/* Monotonic time in nanoseconds from an arbitrary start. */
	uint64_t (*monotonic_ns)(void *ctx);
};

struct sm_clock {
	const struct sm_clock_ops *ops;
	void *ctx;
};

extern const struct sm_clock sm_clock_system;

static inline uint64_t sm_clock_realtime_ns(const struct sm_clock *c)
{
	return c->ops->realtime_ns(c->ctx);
}

static inline uint64_t sm_clock_monotonic_ns(const struct sm_clock *c)
{
	return c->ops->monotonic_ns(c->ctx);
}

/* A clock whose two readings are plain fields a test sets. */
struct sm_fake_clock {
	struct sm_clock clock; /* hand &fake.clock to the code under test */
	uint64_t realtime_ns;
	uint64_t monotonic_ns;
};

void sm_fake_clock_init(struct sm_fake_clock *f, uint64_t realtime_ns);

/*
 * Formats ns-since-epoch as RFC 3339 UTC, as Kubernetes timestamps are:
 * "2026-11-25T21:58:54Z", or with milliseconds "2026-11-25T21:58:54.123Z"
 * when millis is set. out must hold SM_TIME_RFC3339_LEN bytes.
 * Returns 0 or -EOVERFLOW for a time that cannot be represented.
 */
#define SM_TIME_RFC3339_LEN 32
int sm_time_rfc3339(uint64_t ns, int millis, char *out, size_t len);

/*
 * Reads an RFC 3339 time ("2026-11-25T21:58:54Z", "...54.123Z",
 * "...54+01:00"; 't' and 'z' as well) into seconds since the epoch (may be
 * negative) and, when nsec is not NULL, the fraction in ns. Returns 0 or
 * -EINVAL for anything else.
 */
int sm_time_parse_rfc3339_sec(const char *s, int64_t *sec, uint32_t *nsec);
/* The same as ns since the epoch; a time before 1970 is -EINVAL. */
int sm_time_parse_rfc3339(const char *s, uint64_t *ns);

#endif
