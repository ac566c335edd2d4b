/* waiter_timeout_ms: how long a queued waiter blocks on its wake-up before it looks again. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>

#include "waiter.h"

#define DEFAULT_TTL_MS 30000u
#define NO_RECHECK INT64_C(-1)

static void expect_timeout(uint64_t ttl_ms, int64_t recheck_ms, bool verbose, uint64_t want) {
	uint64_t got = waiter_timeout_ms(ttl_ms, recheck_ms, verbose);
	cr_expect_eq(got, want, "ttl %llu, recheck %lld, verbose %d: %llu, want %llu",
		(unsigned long long)ttl_ms, (long long)recheck_ms, verbose,
		(unsigned long long)got, (unsigned long long)want);
}

Test(waiter, constants) {
	cr_expect_eq(WAITER_SLACK_MS, 10);
	cr_expect_eq(WAITER_MIN_MS, 5);
	cr_expect_eq(WAITER_PROGRESS_MS, 30000);
}

/* Nothing expires sooner: look again after half a TTL, well before the waiter's own place
 * in the queue (one TTL) runs out. */
Test(waiter, default_ttl_without_a_sooner_recheck_is_half_the_ttl) {
	expect_timeout(DEFAULT_TTL_MS, DEFAULT_TTL_MS, false, 15000);
	expect_timeout(DEFAULT_TTL_MS, DEFAULT_TTL_MS, true, 15000);
	expect_timeout(DEFAULT_TTL_MS, INT64_MAX, false, 15000);
	expect_timeout(DEFAULT_TTL_MS, 1000000, false, 15000);
}

Test(waiter, a_sooner_recheck_gets_the_slack) {
	expect_timeout(DEFAULT_TTL_MS, 100, false, 100 + WAITER_SLACK_MS);
	expect_timeout(DEFAULT_TTL_MS, 100, true, 110);
	expect_timeout(DEFAULT_TTL_MS, 1, false, 11);
	expect_timeout(DEFAULT_TTL_MS, 12345, false, 12355);
	expect_timeout(DEFAULT_TTL_MS, 14989, false, 14999);
}

Test(waiter, recheck_zero_is_the_slack) {
	expect_timeout(DEFAULT_TTL_MS, 0, false, WAITER_SLACK_MS);
	expect_timeout(DEFAULT_TTL_MS, 0, true, 10);
	expect_timeout(1000, 0, false, 10);
}

Test(waiter, a_recheck_past_half_the_ttl_gives_half_the_ttl) {
	expect_timeout(DEFAULT_TTL_MS, 14990, false, 15000);
	expect_timeout(DEFAULT_TTL_MS, 14995, false, 15000);
	expect_timeout(DEFAULT_TTL_MS, 15000, false, 15000);
	expect_timeout(DEFAULT_TTL_MS, 20000, false, 15000);
	expect_timeout(1000, 600, false, 500);
	expect_timeout(1000, 489, false, 499);
}

Test(waiter, a_negative_recheck_is_ignored) {
	static const int64_t negatives[] = {-1, -2, -10, -1000, INT64_MIN};
	for (size_t i = 0; i < sizeof(negatives) / sizeof(negatives[0]); i++) {
		expect_timeout(DEFAULT_TTL_MS, negatives[i], false, 15000);
		expect_timeout(1000, negatives[i], false, 500);
		expect_timeout(600000, negatives[i], true, 30000);
	}
}

Test(waiter, verbose_caps_at_the_progress_interval) {
	expect_timeout(600000, NO_RECHECK, true, WAITER_PROGRESS_MS);
	expect_timeout(600000, NO_RECHECK, false, 300000);
	expect_timeout(600000, 600000, true, 30000);
	expect_timeout(600000, 600000, false, 300000);
	expect_timeout(600000, 40000, true, 30000);
	expect_timeout(600000, 40000, false, 40010);
	expect_timeout(600000, 29990, true, 30000);
	expect_timeout(600000, 20000, true, 20010);
	expect_timeout(60000, NO_RECHECK, true, 30000);
	expect_timeout(60002, NO_RECHECK, true, 30000);
	expect_timeout(60002, NO_RECHECK, false, 30001);
	expect_timeout(UINT64_MAX, NO_RECHECK, true, 30000);
	expect_timeout(UINT64_MAX, NO_RECHECK, false, UINT64_MAX / 2);
}

Test(waiter, never_below_the_minimum) {
	static const uint64_t ttls[] = {0, 1, 2, 5, 9, 10, 11};
	static const int64_t rechecks[] = {NO_RECHECK, 0, 1, 5, 100};
	for (size_t t = 0; t < sizeof(ttls) / sizeof(ttls[0]); t++) {
		for (size_t r = 0; r < sizeof(rechecks) / sizeof(rechecks[0]); r++) {
			for (int verbose = 0; verbose <= 1; verbose++) {
				expect_timeout(ttls[t], rechecks[r], verbose, WAITER_MIN_MS);
			}
		}
	}
	expect_timeout(12, NO_RECHECK, false, 6);
	expect_timeout(30, 0, false, 10);
	expect_timeout(30, NO_RECHECK, false, 15);
}

/* Over a grid: never below WAITER_MIN_MS; otherwise never past half the TTL, never past
 * recheck + slack, never past 30 s when verbose; and a later recheck never gives an earlier
 * look. */
Test(waiter, bounds_over_a_grid) {
	static const uint64_t ttls[] = {0, 3, 20, 100, 1000, 30000, 59999, 60000, 600000,
		86400000};
	static const int64_t rechecks[] = {0, 3, 9, 10, 50, 499, 500, 14990, 29990, 30000,
		100000, INT64_MAX};
	for (size_t t = 0; t < sizeof(ttls) / sizeof(ttls[0]); t++) {
		for (int verbose = 0; verbose <= 1; verbose++) {
			uint64_t previous = 0;
			for (size_t r = 0; r < sizeof(rechecks) / sizeof(rechecks[0]); r++) {
				uint64_t ttl = ttls[t];
				int64_t recheck = rechecks[r];
				uint64_t got = waiter_timeout_ms(ttl, recheck, verbose);
				cr_expect_geq(got, WAITER_MIN_MS);
				if (got > WAITER_MIN_MS) {
					cr_expect_leq(got, ttl / 2, "ttl %llu, recheck %lld: %llu",
						(unsigned long long)ttl, (long long)recheck,
						(unsigned long long)got);
					cr_expect_leq(got, (uint64_t)recheck + WAITER_SLACK_MS,
						"ttl %llu, recheck %lld: %llu", (unsigned long long)ttl,
						(long long)recheck, (unsigned long long)got);
				}
				if (verbose) {
					cr_expect_leq(got, WAITER_PROGRESS_MS);
				}
				cr_expect_geq(got, previous, "ttl %llu, recheck %lld: %llu shrank",
					(unsigned long long)ttl, (long long)recheck,
					(unsigned long long)got);
				previous = got;
			}
			/* No recheck known is the same as a recheck far away. */
			cr_expect_eq(waiter_timeout_ms(ttls[t], -1, verbose),
				waiter_timeout_ms(ttls[t], INT64_MAX, verbose));
		}
	}
}
