/* GNU attributes behind macros, so the rest of the code stays plain C11. */
#ifndef RWITH_COMPILER_H
#define RWITH_COMPILER_H

#if defined(__GNUC__) || defined(__clang__)
#define RW_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define RW_UNUSED __attribute__((unused))
#define RW_NORETURN __attribute__((noreturn))
#define RW_EXPORT __attribute__((visibility("default")))
#else
#define RW_PRINTF(fmt, args)
#define RW_UNUSED
#define RW_NORETURN
#define RW_EXPORT
#endif

#define RW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
