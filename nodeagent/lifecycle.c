/*
 * lifecycle.c: backoff and probe state machines. See lifecycle.h.
 */
#include "nodeagent/lifecycle.h"
#include "common/banned.h"

uint64_t backoff_next(struct backoff *b, uint64_t ran_ms)
{
	uint64_t delay;

	if (ran_ms >= b->reset_after_ms)
		b->failures = 0;
	if (b->failures == 0) {
		delay = 0;
		b->next_ms = b->initial_ms;
	} else {
		delay = b->next_ms;
		b->next_ms =
			b->next_ms * 2 > b->max_ms ? b->max_ms : b->next_ms * 2;
	}
	b->failures++;
	return delay;
}

static uint64_t seconds_ms(const json_t *spec, const char *key,
			   uint64_t deflt_s)
{
	json_t *v = json_object_get(spec, key);
	json_int_t s = json_is_integer(v) ? json_integer_value(v) : 0;

	return (uint64_t)(s > 0 ? s : (json_int_t)deflt_s) * 1000;
}

static unsigned threshold(const json_t *spec, const char *key, unsigned deflt)
{
	json_int_t n = json_integer_value(json_object_get(spec, key));

	return n > 0 ? (unsigned)n : deflt;
}

void probe_init(struct probe *p, enum probe_kind kind, const json_t *spec,
		uint64_t started_ms)
{
	json_int_t delay = json_integer_value(
		json_object_get(spec, "initialDelaySeconds"));

	p->kind = kind;
	p->initial_delay_ms = delay > 0 ? (uint64_t)delay * 1000 : 0;
	p->period_ms = seconds_ms(spec, "periodSeconds", 10);
	p->timeout_ms = seconds_ms(spec, "timeoutSeconds", 1);
	p->success_threshold = threshold(spec, "successThreshold", 1);
	p->failure_threshold = threshold(spec, "failureThreshold", 3);
	/* Only liveness is presumed good until it fails. */
	p->verdict = kind == PROBE_LIVENESS;
	p->successes = 0;
	p->failures = 0;
	p->next_at_ms = started_ms + p->initial_delay_ms;
}

bool probe_record(struct probe *p, bool success, uint64_t now_ms)
{
	bool before = p->verdict;

	if (success) {
		p->failures = 0;
		if (++p->successes >= p->success_threshold)
			p->verdict = true;
	} else {
		p->successes = 0;
		if (++p->failures >= p->failure_threshold)
			p->verdict = false;
	}
	p->next_at_ms = now_ms + p->period_ms;
	return p->verdict != before;
}
