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

/* Code that runs in a process sharing rwith's memory (a command before its exec): a
 * sanitizer's bookkeeping there would be rwith's, so it is not instrumented. */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8)
#define RW_NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))
#else
#define RW_NO_SANITIZE
#endif

#define RW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
