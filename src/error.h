/* A caller-owned error record: what kind of failure, and a message that says what failed,
 * against what, and why. The core fills it; only main.c turns it into an exit status. */
#ifndef RWITH_ERROR_H
#define RWITH_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"

enum rw_error_kind {
	RW_ERROR_NONE = 0,
	RW_ERROR_USAGE,       /* bad command line: 64 */
	RW_ERROR_SERVER,      /* server unusable before the command started: 69 */
	RW_ERROR_CONFLICT,    /* lock not acquired (-n, -w): 1 or -E */
	RW_ERROR_LOST,        /* lock lost while the command ran: 75 */
	RW_ERROR_EXEC,        /* command could not be executed: 126 */
	RW_ERROR_NOT_FOUND,   /* command not found: 127 */
	RW_ERROR_INTERRUPTED, /* a signal ended rwith before the command ran: 128+N */
	RW_ERROR_INTERNAL,    /* a bug or resource failure: 70 */
};

struct rw_error {
	enum rw_error_kind kind;
	int signal;        /* RW_ERROR_INTERRUPTED: the signal number */
	const char *hint;  /* static text: what to do next, or NULL for the kind's default */
	bool final;        /* RW_ERROR_SERVER: trying again cannot help (e.g. --sync refused) */
	char message[768]; /* what happened, never a password */
};

/* Records the first error only: a later failure that is a consequence of the first must
 * not overwrite the cause. Returns -1 so callers can write `return error_set(...)`. */
int error_set(struct rw_error *err, enum rw_error_kind kind, const char *fmt, ...)
	RW_PRINTF(3, 4);

/* Like error_set, but always overwrites. */
int error_replace(struct rw_error *err, enum rw_error_kind kind, const char *fmt, ...)
	RW_PRINTF(3, 4);

void error_clear(struct rw_error *err);

/* snprintf for message text, where a long message cut short is acceptable. Returns true
 * when the text was cut. */
bool error_format(char *buf, size_t size, const char *fmt, ...) RW_PRINTF(3, 4);

#endif
