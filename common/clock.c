#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/banned.h"

static uint64_t read_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t system_realtime(void *ctx)
{
	return read_clock(CLOCK_REALTIME);
}

static uint64_t system_monotonic(void *ctx)
{
	return read_clock(CLOCK_MONOTONIC);
}

static const struct sm_clock_ops system_ops = {
	.realtime_ns = system_realtime,
	.monotonic_ns = system_monotonic,
};

const struct sm_clock sm_clock_system = { &system_ops, NULL };

static uint64_t fake_realtime(void *ctx)
{
	return ((struct sm_fake_clock *)ctx)->realtime_ns;
}

static uint64_t fake_monotonic(void *ctx)
{
	return ((struct sm_fake_clock *)ctx)->monotonic_ns;
}

static const struct sm_clock_ops fake_ops = {
	.realtime_ns = fake_realtime,
	.monotonic_ns = fake_monotonic,
};

void sm_fake_clock_init(struct sm_fake_clock *f, uint64_t realtime_ns)
{
	f->clock.ops = &fake_ops;
	f->clock.ctx = f;
	f->realtime_ns = realtime_ns;
	f->monotonic_ns = 0;
}

int sm_time_rfc3339(uint64_t ns, int millis, char *out, size_t len)
{
	time_t secs = (time_t)(ns / 1000000000ULL);
	struct tm tm;
	size_t n;
	int r;

	if (!gmtime_r(&secs, &tm))
		return -EOVERFLOW;
	n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!n)
		return -EOVERFLOW;
	/* A cut-off "Z" would still look like a time: report it instead. */
	if (millis)
		r = snprintf(out + n, len - n, ".%03uZ",
			     (unsigned)(ns / 1000000ULL % 1000));
	else
		r = snprintf(out + n, len - n, "Z");
	if (r < 0 || (size_t)r >= len - n)
		return -EOVERFLOW;
	return 0;
}

int sm_time_parse_rfc3339(const char *s, uint64_t *ns)
{
	struct tm tm = { 0 };
	int n = 0;
	uint64_t frac = 0, scale = 1000000000ULL;
	time_t secs;

	if (!s ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 19)
		return -EINVAL;
	s += n;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*s - '0') * scale;
			}
		}
	}
	if (strcmp(s, "Z") && strcmp(s, "+00:00"))
		return -EINVAL;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60 || tm.tm_year < 1970)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	secs = timegm(&tm);
	if (secs < 0)
		return -EINVAL;
	*ns = (uint64_t)secs * 1000000000ULL + frac;
	return 0;
}
