/* waiter_delay_ms's growth, cap, jitter and TTL bounds, and a waiter's timer on a real loop. */
#include <criterion/criterion.h>

#include <limits.h>
#include <stdint.h>

#include <uv.h>

#include "waiter.h"

#define FIRST_MS 10
#define MAX_MS 200
#define FAR_TTL_MS INT64_C(1000000)

static const double jitters[] = {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999999};

/* The delay before jitter: FIRST_MS doubling per attempt, capped at MAX_MS. */
static uint64_t base_delay(unsigned attempt) {
	uint64_t delay = FIRST_MS;
	for (unsigned i = 0; i < attempt && delay < MAX_MS; i++) {
		delay *= 2;
	}
	return delay < MAX_MS ? delay : MAX_MS;
}

Test(waiter, first_delay_is_about_10ms) {
	uint64_t delay = waiter_delay_ms(0, FAR_TTL_MS, 0.5);
	cr_expect_geq(delay, 9);
	cr_expect_leq(delay, 11);
	for (size_t j = 0; j < sizeof(jitters) / sizeof(jitters[0]); j++) {
		delay = waiter_delay_ms(0, FAR_TTL_MS, jitters[j]);
		cr_expect_geq(delay, 7, "jitter %g: %llu", jitters[j], (unsigned long long)delay);
		cr_expect_leq(delay, 13, "jitter %g: %llu", jitters[j], (unsigned long long)delay);
	}
}

Test(waiter, stays_within_the_jitter_bounds) {
	for (unsigned attempt = 0; attempt < 40; attempt++) {
		uint64_t base = base_delay(attempt);
		for (size_t j = 0; j < sizeof(jitters) / sizeof(jitters[0]); j++) {
			uint64_t delay = waiter_delay_ms(attempt, FAR_TTL_MS, jitters[j]);
			cr_expect_geq(delay * 4, base * 3 - 3,
				"attempt %u, jitter %g: %llu below 0.75 x %llu", attempt,
				jitters[j], (unsigned long long)delay, (unsigned long long)base);
			cr_expect_leq(delay * 4, base * 5 + 3,
				"attempt %u, jitter %g: %llu above 1.25 x %llu", attempt,
				jitters[j], (unsigned long long)delay, (unsigned long long)base);
		}
	}
}

Test(waiter, grows_then_is_capped_at_200ms) {
	for (size_t j = 0; j < sizeof(jitters) / sizeof(jitters[0]); j++) {
		uint64_t previous = 0;
		for (unsigned attempt = 0; attempt < 64; attempt++) {
			uint64_t delay = waiter_delay_ms(attempt, FAR_TTL_MS, jitters[j]);
			cr_expect_geq(delay, previous, "jitter %g: attempt %u shrank to %llu",
				jitters[j], attempt, (unsigned long long)delay);
			cr_expect_leq(delay, MAX_MS * 5 / 4, "attempt %u: %llu", attempt,
				(unsigned long long)delay);
			previous = delay;
		}
	}
	cr_expect_gt(waiter_delay_ms(3, FAR_TTL_MS, 0.5), waiter_delay_ms(0, FAR_TTL_MS, 0.5));
	static const unsigned late[] = {5, 6, 10, 100, 1000, UINT_MAX};
	for (size_t i = 0; i < sizeof(late) / sizeof(late[0]); i++) {
		uint64_t delay = waiter_delay_ms(late[i], FAR_TTL_MS, 0.5);
		cr_expect_geq(delay, 190, "attempt %u: %llu", late[i], (unsigned long long)delay);
		cr_expect_leq(delay, 210, "attempt %u: %llu", late[i], (unsigned long long)delay);
	}
}

Test(waiter, never_past_the_holders_ttl_and_never_zero) {
	static const int64_t ttls[] = {0, 1, 2, 5, 9, 50, 150, 199, 249};
	for (size_t t = 0; t < sizeof(ttls) / sizeof(ttls[0]); t++) {
		for (unsigned attempt = 0; attempt < 12; attempt++) {
			for (size_t j = 0; j < sizeof(jitters) / sizeof(jitters[0]); j++) {
				uint64_t delay = waiter_delay_ms(attempt, ttls[t], jitters[j]);
				cr_expect_geq(delay, 1, "ttl %lld, attempt %u", (long long)ttls[t],
					attempt);
				cr_expect_leq(delay, (uint64_t)ttls[t] + 1,
					"ttl %lld, attempt %u, jitter %g: %llu", (long long)ttls[t],
					attempt, jitters[j], (unsigned long long)delay);
			}
		}
	}
	/* A TTL that is negative (expired, or no expiry known) still gives a short, non-zero
	 * delay. */
	static const int64_t odd_ttls[] = {-1, -2, -1000, INT64_MIN};
	for (size_t t = 0; t < sizeof(odd_ttls) / sizeof(odd_ttls[0]); t++) {
		for (size_t j = 0; j < sizeof(jitters) / sizeof(jitters[0]); j++) {
			uint64_t delay = waiter_delay_ms(4, odd_ttls[t], jitters[j]);
			cr_expect_geq(delay, 1, "ttl %lld", (long long)odd_ttls[t]);
			cr_expect_leq(delay, MAX_MS * 5 / 4, "ttl %lld", (long long)odd_ttls[t]);
		}
	}
}

static void count_retry(void *data) {
	int *calls = data;
	(*calls)++;
}

static void destroy_on_retry(void *data) {
	struct waiter **waiter = data;
	waiter_destroy(*waiter);
	*waiter = NULL;
}

Test(waiter, schedule_calls_back_once_and_closes_cleanly) {
	uv_loop_t loop;
	cr_assert_eq(uv_loop_init(&loop), 0);
	struct waiter *waiter = NULL;
	waiter = waiter_create(&loop, destroy_on_retry, &waiter);
	cr_assert_not_null(waiter);
	uint64_t start = uv_hrtime();
	waiter_schedule(waiter, 0);
	cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	cr_expect_null(waiter, "the retry callback did not run");
	cr_expect_lt((uv_hrtime() - start) / 1000000, 1000, "a 1 ms retry took a second");
	cr_expect_eq(uv_loop_close(&loop), 0);
}

Test(waiter, destroy_cancels_a_scheduled_retry) {
	uv_loop_t loop;
	cr_assert_eq(uv_loop_init(&loop), 0);
	int calls = 0;
	struct waiter *waiter = waiter_create(&loop, count_retry, &calls);
	cr_assert_not_null(waiter);
	waiter_schedule(waiter, FAR_TTL_MS);
	waiter_destroy(waiter);
	cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	cr_expect_eq(calls, 0);
	cr_expect_eq(uv_loop_close(&loop), 0);
}

Test(waiter, destroy_without_schedule_and_null) {
	uv_loop_t loop;
	cr_assert_eq(uv_loop_init(&loop), 0);
	int calls = 0;
	struct waiter *waiter = waiter_create(&loop, count_retry, &calls);
	cr_assert_not_null(waiter);
	waiter_destroy(waiter);
	waiter_destroy(NULL);
	cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	cr_expect_eq(calls, 0);
	cr_expect_eq(uv_loop_close(&loop), 0);
}

Test(waiter, rescheduling_retries_again) {
	uv_loop_t loop;
	cr_assert_eq(uv_loop_init(&loop), 0);
	int calls = 0;
	struct waiter *waiter = waiter_create(&loop, count_retry, &calls);
	cr_assert_not_null(waiter);
	for (int round = 1; round <= 3; round++) {
		waiter_schedule(waiter, 1);
		cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
		cr_expect_eq(calls, round);
	}
	waiter_destroy(waiter);
	cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	cr_expect_eq(uv_loop_close(&loop), 0);
}
