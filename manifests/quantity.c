/*
 * quantity.c: Kubernetes resource quantities, exact in 128-bit nano-units.
 *
 * Parsing never goes through floating point. The digits are read as one
 * decimal string with a point somewhere in it; the suffix moves the point
 * (decimal suffixes and exponents) or multiplies by 1024^k (binary
 * suffixes). The part left of the point is accumulated with overflow checks;
 * the part right of it is folded in from its last digit (Horner's rule, so
 * every intermediate value stays below 10 * 1024^6) and any remainder rounds
 * the magnitude up by one nano-unit, as resource.ParseQuantity does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/compat.h"
#include "manifests/quantity.h"
#include "common/banned.h"

__extension__ typedef unsigned __int128 mf_u128;

/* The largest magnitude we hold; negation of any accepted value is safe. */
#define QTY_LIMIT ((mf_i128)(((mf_u128)1 << 127) - 1))
#define NANO_PER_UNIT 1000000000
/* Exponents are saturated here: far beyond anything that fits, and small
 * enough that the point position below cannot overflow an int64_t. */
#define QTY_EXP_CAP 1000000000

/*
 * Every suffix with its base and power: 10^power for decimal ones, 1024^power
 * for binary ones. Parsing looks suffixes up by text, formatting by power.
 */
static const struct qty_suffix {
	const char *text;
	enum mf_quantity_format format;
	int power;
} qty_suffixes[] = {
	{ "n", MF_QTY_DECIMAL_SI, -9 }, { "u", MF_QTY_DECIMAL_SI, -6 },
	{ "m", MF_QTY_DECIMAL_SI, -3 }, { "", MF_QTY_DECIMAL_SI, 0 },
	{ "k", MF_QTY_DECIMAL_SI, 3 },	{ "M", MF_QTY_DECIMAL_SI, 6 },
	{ "G", MF_QTY_DECIMAL_SI, 9 },	{ "T", MF_QTY_DECIMAL_SI, 12 },
	{ "P", MF_QTY_DECIMAL_SI, 15 }, { "E", MF_QTY_DECIMAL_SI, 18 },
	{ "Ki", MF_QTY_BINARY_SI, 1 },	{ "Mi", MF_QTY_BINARY_SI, 2 },
	{ "Gi", MF_QTY_BINARY_SI, 3 },	{ "Ti", MF_QTY_BINARY_SI, 4 },
	{ "Pi", MF_QTY_BINARY_SI, 5 },	{ "Ei", MF_QTY_BINARY_SI, 6 },
};

#define QTY_DEC_MAX_POWER 18
#define QTY_BIN_MAX_POWER 6

static const struct qty_suffix *suffix_by_text(const char *s)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(qty_suffixes); i++)
		if (!strcmp(qty_suffixes[i].text, s))
			return &qty_suffixes[i];
	return NULL;
}

static const char *suffix_by_power(enum mf_quantity_format f, int power)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(qty_suffixes); i++)
		if (qty_suffixes[i].format == f &&
		    qty_suffixes[i].power == power)
			return qty_suffixes[i].text;
	return NULL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Reads "e7", "E-3", "e+12" as a whole string. Returns false when s is not
 * one; the value saturates at +-QTY_EXP_CAP.
 */
static bool parse_exponent(const char *s, int64_t *exp)
{
	bool neg = false;
	int64_t e = 0;

	if (*s != 'e' && *s != 'E')
		return false;
	s++;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!is_digit(*s))
			return false;
		if (e < QTY_EXP_CAP)
			e = e * 10 + (*s - '0');
	}
	if (e > QTY_EXP_CAP)
		e = QTY_EXP_CAP;
	*exp = neg ? -e : e;
	return true;
}

/* The digits of the number: the integer part and the fraction, one string. */
struct qty_digits {
	const char *ip, *fp;
	size_t il, fl;
};

static int digit_at(const struct qty_digits *d, size_t i)
{
	return i < d->il ? d->ip[i] - '0' : d->fp[i - d->il] - '0';
}

/*
 * The magnitude of digits * 10^shift * mul, rounded up to an integer, into
 * *out. Returns false when it exceeds QTY_LIMIT.
 */
static bool scale_digits(const struct qty_digits *d, int64_t shift, mf_i128 mul,
			 mf_i128 *out)
{
	size_t n = d->il + d->fl, z = 0;
	int64_t point;
	mf_i128 whole = 0, tail = 0;
	bool inexact = false;

	/* Leading zeros neither count nor move the point. */
	while (z < n && digit_at(d, z) == 0)
		z++;
	if (z == n) {
		*out = 0;
		return true;
	}
	/* Digits [z, point) are left of the point, [point, n) right of it. */
	point = (int64_t)d->il + shift;

	for (int64_t i = (int64_t)z; i < point; i++) {
		int dg = i < (int64_t)n ? digit_at(d, (size_t)i) : 0;

		if (whole > (QTY_LIMIT - dg) / 10)
			return false;
		whole = whole * 10 + dg;
	}
	if (whole > QTY_LIMIT / mul)
		return false;
	whole *= mul;

	if (point < (int64_t)n) {
		int64_t first = point > (int64_t)z ? point : (int64_t)z;

		for (int64_t i = (int64_t)n - 1; i >= first; i--) {
			inexact |= tail % 10 != 0;
			tail = digit_at(d, (size_t)i) * mul + tail / 10;
		}
		/* Zeros between the point and the first significant digit. */
		for (int64_t i = first; i > point && tail; i--) {
			inexact |= tail % 10 != 0;
			tail /= 10;
		}
		inexact |= tail % 10 != 0;
		tail /= 10;
	}
	if (whole > QTY_LIMIT - tail - inexact)
		return false;
	*out = whole + tail + inexact;
	return true;
}

int mf_quantity_parse(const char *s, struct mf_quantity *q, const char **why)
{
	struct qty_digits d = { 0 };
	const struct qty_suffix *suf;
	enum mf_quantity_format format;
	const char *p = s, *reason;
	bool neg = false;
	int64_t exp10 = 0;
	mf_i128 mul = 1, mag;

	if (!s || !*s) {
		reason = "empty";
		goto fail;
	}
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	d.ip = p;
	while (is_digit(*p))
		p++;
	d.il = (size_t)(p - d.ip);
	if (*p == '.') {
		d.fp = ++p;
		while (is_digit(*p))
			p++;
		d.fl = (size_t)(p - d.fp);
	}
	if (!d.il && !d.fl) {
		reason = "not a number";
		goto fail;
	}

	suf = suffix_by_text(p);
	if (suf) {
		format = suf->format;
		if (format == MF_QTY_BINARY_SI) {
			for (int i = 0; i < suf->power; i++)
				mul *= 1024;
		} else {
			exp10 = suf->power;
		}
	} else if (parse_exponent(p, &exp10)) {
		format = MF_QTY_DECIMAL_EXPONENT;
	} else {
		reason = "unknown suffix";
		goto fail;
	}

	if (!scale_digits(&d, exp10 + 9, mul, &mag)) {
		reason = "too large";
		goto fail;
	}
	/*
	 * Kubernetes turns a binary quantity below one unit into a decimal
	 * one (its format only steers printing, which is decimal there anyway).
	 */
	if (format == MF_QTY_BINARY_SI && mag > 0 && mag < NANO_PER_UNIT)
		format = MF_QTY_DECIMAL_SI;
	q->nano = neg ? -mag : mag;
	q->format = format;
	return 0;
fail:
	if (why)
		*why = reason;
	return -EINVAL;
}

int mf_quantity_cmp(const struct mf_quantity *a, const struct mf_quantity *b)
{
	return (a->nano > b->nano) - (a->nano < b->nano);
}

/* nano / div, rounded away from zero, saturated to int64_t. */
static int64_t scaled(mf_i128 nano, int64_t div)
{
	mf_i128 v = nano / div;

	if (nano % div)
		v += nano < 0 ? -1 : 1;
	if (v > INT64_MAX)
		return INT64_MAX;
	if (v < INT64_MIN)
		return INT64_MIN;
	return (int64_t)v;
}

int64_t mf_quantity_milli(const struct mf_quantity *q)
{
	return scaled(q->nano, 1000000);
}

int64_t mf_quantity_value(const struct mf_quantity *q)
{
	return scaled(q->nano, NANO_PER_UNIT);
}

/* Writes neg, the digits of m (> 0) and suffix; -ENOSPC when too long. */
static int put_number(char *out, size_t len, bool neg, mf_i128 m,
		      const char *suffix)
{
	char digits[48];
	size_t nd = 0, slen = strlen(suffix), need, o = 0;

	do {
		digits[nd++] = (char)('0' + (int)(m % 10));
		m /= 10;
	} while (m);
	need = neg + nd + slen + 1;
	if (need > len)
		return -ENOSPC;
	if (neg)
		out[o++] = '-';
	while (nd)
		out[o++] = digits[--nd];
	memcpy(out + o, suffix, slen + 1);
	return 0;
}

/*
 * The decimal forms: the mantissa without trailing zeros, then the exponent
 * lowered to a multiple of three so the mantissa stays an integer.
 */
static int format_decimal(char *out, size_t len, bool neg, mf_i128 m,
			  enum mf_quantity_format f)
{
	int exp = -9;
	char ebuf[16];
	const char *suffix;

	while (m % 10 == 0) {
		m /= 10;
		exp++;
	}
	while (exp % 3) {
		m *= 10;
		exp--;
	}
	if (f == MF_QTY_DECIMAL_EXPONENT) {
		if (!exp)
			return put_number(out, len, neg, m, "");
		snprintf(ebuf, sizeof(ebuf), "e%d", exp);
		return put_number(out, len, neg, m, ebuf);
	}
	/* Past E there is no suffix; grow the mantissa instead ("1000E"). */
	while (exp > QTY_DEC_MAX_POWER) {
		m *= 1000;
		exp -= 3;
	}
	suffix = suffix_by_power(MF_QTY_DECIMAL_SI, exp);
	return put_number(out, len, neg, m, suffix ? suffix : "");
}

int mf_quantity_format(const struct mf_quantity *q, char *out, size_t len)
{
	mf_i128 m = q->nano;
	bool neg = m < 0;
	int power = 0;

	if (!m)
		return put_number(out, len, false, 0, "");
	if (neg)
		m = -m;
	/*
	 * Binary form only for whole numbers of at least 1Ki; anything else
	 * would need a fraction, so Kubernetes prints it the decimal way.
	 */
	if (q->format != MF_QTY_BINARY_SI ||
	    m < (mf_i128)1024 * NANO_PER_UNIT || m % NANO_PER_UNIT)
		return format_decimal(out, len, neg, m,
				      q->format == MF_QTY_DECIMAL_EXPONENT
					      ? MF_QTY_DECIMAL_EXPONENT
					      : MF_QTY_DECIMAL_SI);
	m /= NANO_PER_UNIT;
	while (power < QTY_BIN_MAX_POWER && m % 1024 == 0) {
		m /= 1024;
		power++;
	}
	if (!power)
		return put_number(out, len, neg, m, "");
	return put_number(out, len, neg, m,
			  suffix_by_power(MF_QTY_BINARY_SI, power));
}
