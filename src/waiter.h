/* The waiting policy: how long a queued waiter blocks on its wake-up before it looks at the
 * lock again. A release or --break wakes the head of the queue at once; the time limit
 * covers what raises no event: a holder's or an earlier waiter's time running out, and the
 * waiter's own place in the queue, which it must renew before it expires (one TTL). */
#ifndef RWITH_WAITER_H
#define RWITH_WAITER_H

#include <stdbool.h>
#include <stdint.h>

#define WAITER_SLACK_MS 10 /* look just after an expiry, not just before it */
#define WAITER_MIN_MS 5
#define WAITER_PROGRESS_MS 30000

/* `recheck_ms` is the server's "look again after this long at the latest"; `verbose` adds
 * the 30 s progress message. Pure. */
uint64_t waiter_timeout_ms(uint64_t ttl_ms, int64_t recheck_ms, bool verbose);

#endif
