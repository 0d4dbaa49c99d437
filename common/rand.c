#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/rand.h"
#include "common/xalloc.h"
#include "common/banned.h"

static void system_fill(void *ctx, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			sm_die("getrandom: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
}

static const struct sm_rand_ops system_ops = { .fill = system_fill };

const struct sm_rand sm_rand_system = { &system_ops, NULL };

static void seeded_fill(void *ctx, void *buf, size_t len)
{
	struct sm_seeded_rand *s = ctx;
	unsigned char *p = buf;

	while (len) {
		uint64_t x = s->state, v;
		size_t n = len < 8 ? len : 8;

		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		s->state = x;
		v = x * 0x2545F4914F6CDD1DULL;
		memcpy(p, &v, n);
		p += n;
		len -= n;
	}
}

static const struct sm_rand_ops seeded_ops = { .fill = seeded_fill };

void sm_seeded_rand_init(struct sm_seeded_rand *s, uint64_t seed)
{
	s->rand.ops = &seeded_ops;
	s->rand.ctx = s;
	/* xorshift must not start at zero. */
	s->state = seed ? seed : 0x9E3779B97F4A7C15ULL;
}

uint32_t sm_rand_u32(const struct sm_rand *r)
{
	uint32_t v;

	r->ops->fill(r->ctx, &v, sizeof(v));
	return v;
}

uint32_t sm_rand_below(const struct sm_rand *r, uint32_t n)
{
	uint32_t limit, v;

	/*
	 * Check before dividing: a division by zero is undefined, and the
	 * compiler may then assume n != 0 and drop the check altogether.
	 */
	SM_BUG_ON(n == 0);
	/* Reject the top partial range so every result is equally likely. */
	limit = UINT32_MAX - UINT32_MAX % n;
	do
		v = sm_rand_u32(r);
	while (v >= limit);
	return v % n;
}

void sm_rand_name_suffix(const struct sm_rand *r, char *out, size_t len)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";

	for (size_t i = 0; i < len; i++)
		out[i] = alphabet[sm_rand_below(r, sizeof(alphabet) - 1)];
	out[len] = '\0';
}
