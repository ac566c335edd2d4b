/* The waiting policy (see waiter.h). With the default TTL of 30 s a waiter that nothing
 * wakes costs the server two requests (BLPOP, acquire) every 15 s. */
#include "waiter.h"

uint64_t waiter_timeout_ms(uint64_t ttl_ms, int64_t recheck_ms, bool verbose) {
	uint64_t timeout = ttl_ms / 2;
	if (recheck_ms >= 0 && (uint64_t)recheck_ms + WAITER_SLACK_MS < timeout) {
		timeout = (uint64_t)recheck_ms + WAITER_SLACK_MS;
	}
	if (verbose && timeout > WAITER_PROGRESS_MS) {
		timeout = WAITER_PROGRESS_MS;
	}
	return timeout < WAITER_MIN_MS ? WAITER_MIN_MS : timeout;
}
