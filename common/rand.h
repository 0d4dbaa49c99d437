/*
 * rand.h: randomness behind an ops table.
 *
 * sm_rand_system reads the kernel's random source; struct sm_seeded_rand is a
 * deterministic generator (xorshift64*) for tests and reproducible chaos.
 */
#ifndef SM_RAND_H
#define SM_RAND_H

#include <stddef.h>
#include <stdint.h>

struct sm_rand_ops {
	/* Fills buf with len random bytes; never fails. */
	void (*fill)(void *ctx, void *buf, size_t len);
};

struct sm_rand {
	const struct sm_rand_ops *ops;
	void *ctx;
};

extern const struct sm_rand sm_rand_system;

struct sm_seeded_rand {
	struct sm_rand rand; /* hand &s.rand to the code under test */
	uint64_t state;
};

void sm_seeded_rand_init(struct sm_seeded_rand *s, uint64_t seed);

uint32_t sm_rand_u32(const struct sm_rand *r);
/* A uniform value in [0, n), without modulo bias; n > 0. */
uint32_t sm_rand_below(const struct sm_rand *r, uint32_t n);

/*
 * Writes len random characters from Kubernetes' name-suffix alphabet
 * ("bcdfghjklmnpqrstvwxz2456789": no vowels, no look-alikes) and a NUL;
 * out must hold len + 1 bytes. The "x2k9p" of "web-5d8f7c9b4-x2k9p".
 */
void sm_rand_name_suffix(const struct sm_rand *r, char *out, size_t len);

#endif
