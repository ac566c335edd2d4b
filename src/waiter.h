/* How a busy lock is waited for. This version re-tries acquire after a short, growing,
 * jittered delay that never exceeds the holder's remaining TTL; it sits behind this small
 * interface so that FIFO wake-ups from the server can replace it (issue 3). */
#ifndef RWITH_WAITER_H
#define RWITH_WAITER_H

#include <stdint.h>

#include <uv.h>

struct waiter;

typedef void waiter_retry_cb(void *data);

/* Returns NULL when out of memory. */
struct waiter *waiter_create(uv_loop_t *loop, waiter_retry_cb *cb, void *data);

/* Calls cb once, after a delay suited to a holder with `ttl_left_ms` to go. */
void waiter_schedule(struct waiter *waiter, int64_t ttl_left_ms);

/* The next delay for a holder with ttl_left_ms left after `attempt` busy answers; pure,
 * for the unit tests. `jitter` in [0, 1). */
uint64_t waiter_delay_ms(unsigned attempt, int64_t ttl_left_ms, double jitter);

/* Cancels a scheduled retry; frees the waiter once the loop has closed its timer. */
void waiter_destroy(struct waiter *waiter);

#endif
