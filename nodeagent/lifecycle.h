/*
 * lifecycle.h: the arithmetic of a container's life, as pure state
 * machines the agent drives with its clock: crash-loop backoff and probes.
 *
 * Backoff. The first restart of a container that died is immediate; each
 * further one waits twice as long, from `initial` up to `max`; a container
 * that ran for `reset_after` without dying starts over. Defaults 1 s, 60 s,
 * 10 min. Kubernetes' kubelet uses 10 s doubling to 300 s (the same reset):
 * stuurman is faster on purpose, so a classroom sees a crash loop recover in
 * seconds; the knobs are the same.
 *
 * Probes. Kubernetes' semantics: the first probe runs initialDelaySeconds
 * after the container started, then every periodSeconds; a probe that does
 * not answer within timeoutSeconds failed. successThreshold consecutive
 * successes make the verdict true, failureThreshold consecutive failures
 * make it false. Readiness starts false; liveness starts true (a failure
 * verdict restarts the container); startup starts false and, once true,
 * stops (liveness and readiness wait for it).
 */
#ifndef SM_LIFECYCLE_H
#define SM_LIFECYCLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct backoff {
	uint64_t initial_ms;
	uint64_t max_ms;
	uint64_t reset_after_ms;
	uint64_t next_ms; /* the delay the next failure will get after this */
	unsigned failures; /* restarts since the last reset */
};

#define BACKOFF_INIT                      \
	{                                 \
		1000, 60000, 600000, 0, 0 \
	}

/*
 * The container died after running ran_ms: returns how long to wait before
 * starting it again (0 for the first failure, or after a long run).
 */
uint64_t backoff_next(struct backoff *b, uint64_t ran_ms);

enum probe_kind { PROBE_STARTUP, PROBE_LIVENESS, PROBE_READINESS };

struct probe {
	enum probe_kind kind;
	uint64_t initial_delay_ms;
	uint64_t period_ms;
	uint64_t timeout_ms;
	unsigned success_threshold;
	unsigned failure_threshold;
	/* State. */
	bool verdict; /* ready / alive / started */
	unsigned successes; /* consecutive */
	unsigned failures; /* consecutive */
	uint64_t next_at_ms; /* when the next probe is due (monotonic) */
};

/*
 * Sets up p from a Kubernetes Probe object (defaults applied by manifests/)
 * for a container that started at started_ms.
 */
void probe_init(struct probe *p, enum probe_kind kind, const json_t *spec,
		uint64_t started_ms);

/*
 * Records the result of the probe run due at p->next_at_ms and schedules the
 * next one at now_ms + period. Returns true when the verdict changed.
 */
bool probe_record(struct probe *p, bool success, uint64_t now_ms);

#endif
