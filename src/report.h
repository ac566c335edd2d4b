/* How a lock's status looks on stdout, the same for --status and --list: for people, a
 * line for the lock and one per holder (free to change); for scripts, the JSON object of
 * the contract (stable). */
#ifndef RWITH_REPORT_H
#define RWITH_REPORT_H

#include "lock.h"

/* "deploy: held by 1 holder (exclusive), 2 waiting", then one line per holder. */
void report_status_text(const char *name, const struct lock_status *status);

/* {"lock":...,"held":...,"holders":[...],"waiters":N}, with no newline after it. */
void report_status_json(const char *name, const struct lock_status *status);

#endif
