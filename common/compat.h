/*
 * compat.h: compiler attributes behind macros, so the code builds with gcc
 * and with clang-14 (which libFuzzer builds need).
 *
 * SM_MALLOC(freefn) marks a constructor whose result must be released with
 * freefn. gcc 11+ checks the pairing; clang-14 rejects the two-argument form,
 * so there it is the plain malloc attribute.
 */
#ifndef SM_COMPAT_H
#define SM_COMPAT_H

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define SM_MALLOC(freefn) __attribute__((malloc, malloc(freefn, 1)))
#else
#define SM_MALLOC(freefn) __attribute__((malloc))
#endif

#define SM_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define SM_NORETURN __attribute__((noreturn))
#define SM_UNUSED __attribute__((unused))
#define SM_WARN_UNUSED __attribute__((warn_unused_result))
#define SM_CLEANUP(fn) __attribute__((cleanup(fn)))

#define SM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
