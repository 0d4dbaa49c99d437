/*
 * quantity.h: Kubernetes resource quantities ("100m", "1.5", "64Mi", "1G",
 * "2e3"), parsed exactly.
 *
 * Grammar (as k8s.io/apimachinery/pkg/api/resource): an optional sign, a
 * decimal number (digits, optional fraction; ".5" and "5." are accepted),
 * then an optional suffix: binary Ki Mi Gi Ti Pi Ei; decimal n u m "" k M G T
 * P E; or a decimal exponent e/E followed by a signed integer. No spaces.
 *
 * The value is held in nano-units in a 128-bit integer, so every quantity up
 * to 8Ei is exact; finer than 1n is rounded up (away from zero), as
 * Kubernetes does. Magnitudes beyond what the 128-bit nano count holds
 * (about 1.7e29 units) are rejected as "too large"; Kubernetes itself clamps
 * binary ones at 2^63-1, which we do not.
 */
#ifndef MF_QUANTITY_H
#define MF_QUANTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

__extension__ typedef __int128 mf_i128;

enum mf_quantity_format {
	MF_QTY_DECIMAL_SI, /* "", k, M, m, ... */
	MF_QTY_BINARY_SI, /* Ki, Mi, ... */
	MF_QTY_DECIMAL_EXPONENT, /* 1e3 */
};

struct mf_quantity {
	mf_i128 nano; /* the value times 10^9 */
	enum mf_quantity_format format;
};

/*
 * Parses s into *q. Returns 0, or -EINVAL and, when why is not NULL, sets
 * *why to a short static reason: "empty", "not a number" (no digits where
 * the number should be), "unknown suffix" (anything after the number that
 * is not a suffix or exponent above) or "too large". The caller quotes s.
 * *q is written only on success.
 */
int mf_quantity_parse(const char *s, struct mf_quantity *q, const char **why);

/* -1, 0 or 1 as a is less than, equal to or greater than b. */
int mf_quantity_cmp(const struct mf_quantity *a, const struct mf_quantity *b);

/* The value in milli-units, rounded up (CPU "100m" -> 100); saturates. */
int64_t mf_quantity_milli(const struct mf_quantity *q);
/* The value in whole units, rounded up (memory "64Mi" -> 67108864); saturates.
 */
int64_t mf_quantity_value(const struct mf_quantity *q);

/*
 * Writes the canonical string as Kubernetes prints it (largest exact suffix
 * of the parsed format: "1.5" -> "1500m", "1024Ki" -> "1Mi", "1000" -> "1k")
 * into out (len >= 64 is always enough). Binary values that are not whole
 * or are below 1Ki print the decimal way ("1.5Ki" -> "1536", "0.5Ki" ->
 * "512"); exponents stay multiples of 3 ("1.5e3" -> "1500"); zero is "0".
 * Returns 0 or -ENOSPC.
 */
int mf_quantity_format(const struct mf_quantity *q, char *out, size_t len);

#endif
