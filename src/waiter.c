/* Waiting by bounded re-try: 10 ms, doubling to 200 ms, +-25% jitter so that waiters do
 * not fire in lock-step, and never later than the holder's TTL runs out. */
#include "waiter.h"

#include <stdlib.h>

#include "clock.h"

#define WAITER_FIRST_MS 10
#define WAITER_MAX_MS 200

struct waiter {
	uv_timer_t timer;
	waiter_retry_cb *cb;
	void *data;
	unsigned attempt;
	uint64_t seed;
};

uint64_t waiter_delay_ms(unsigned attempt, int64_t ttl_left_ms, double jitter) {
	uint64_t delay = WAITER_FIRST_MS;
	for (unsigned i = 0; i < attempt && delay < WAITER_MAX_MS; i++) {
		delay *= 2;
	}
	if (delay > WAITER_MAX_MS) {
		delay = WAITER_MAX_MS;
	}
	delay = (uint64_t)((double)delay * (0.75 + jitter / 2));
	if (ttl_left_ms >= 0 && (uint64_t)ttl_left_ms + 1 < delay) {
		delay = (uint64_t)ttl_left_ms + 1;
	}
	return delay ? delay : 1;
}

static void on_timer(uv_timer_t *timer) {
	struct waiter *waiter = timer->data;
	waiter->cb(waiter->data);
}

struct waiter *waiter_create(uv_loop_t *loop, waiter_retry_cb *cb, void *data) {
	struct waiter *waiter = calloc(1, sizeof(*waiter));
	if (waiter == NULL) {
		return NULL;
	}
	(void)uv_timer_init(loop, &waiter->timer);
	waiter->timer.data = waiter;
	waiter->cb = cb;
	waiter->data = data;
	waiter->seed = clock_mono_ms() ^ (uint64_t)(uintptr_t)waiter;
	return waiter;
}

void waiter_schedule(struct waiter *waiter, int64_t ttl_left_ms) {
	/* xorshift: jitter only needs to differ between processes, not to be secure. */
	waiter->seed ^= waiter->seed << 13;
	waiter->seed ^= waiter->seed >> 7;
	waiter->seed ^= waiter->seed << 17;
	double jitter = (double)(waiter->seed % 1000) / 1000.0;
	uint64_t delay = waiter_delay_ms(waiter->attempt++, ttl_left_ms, jitter);
	(void)uv_timer_start(&waiter->timer, on_timer, delay, 0);
}

static void on_closed(uv_handle_t *handle) {
	free(handle->data);
}

void waiter_destroy(struct waiter *waiter) {
	if (waiter == NULL) {
		return;
	}
	uv_close((uv_handle_t *)&waiter->timer, on_closed);
}
