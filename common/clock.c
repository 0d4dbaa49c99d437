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

static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -EINVAL;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to a proleptic Gregorian date (y, m 1-12, d). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int sm_time_parse_rfc3339_sec(const char *s, int64_t *out, uint32_t *nsec)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	const char *p = s;
	uint32_t frac = 0, scale = 1000000000u;

	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
		return -EINVAL;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) ||
	    *p++ != ':' || digits(&p, 2, &sec))
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (uint32_t)(*p - '0') * scale;
			}
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60 || oh > 23 || om > 59)
		return -EINVAL;
	if (nsec)
		*nsec = frac;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	       sign * (oh * 3600 + om * 60);
	return 0;
}

int sm_time_parse_rfc3339(const char *s, uint64_t *ns)
{
	int64_t sec;
	uint32_t frac;

	if (sm_time_parse_rfc3339_sec(s, &sec, &frac) < 0 || sec < 0)
		return -EINVAL;
	*ns = (uint64_t)sec * 1000000000ULL + frac;
	return 0;
}
