/* guard_next_step: what the guard does at a given moment of CLOCK_BOOTTIME, with the clock
 * given by the test. The guard wakes at the term time, then at the kill time; a deadline that
 * moved later puts both off; after a suspend past both it kills at once. */
#include <criterion/criterion.h>

#include "guard.h"

#define TERM_AT 10000u
#define KILL_AT 12000u

Test(guard, no_deadline_waits_for_signals_only) {
	struct guard_step step = guard_next_step(5000, 0, 0, false);
	cr_assert(!step.term && !step.kill);
	cr_assert_eq(step.wake_at_ms, 0, "no timer without a deadline");
}

Test(guard, before_the_term_time_wakes_at_it) {
	struct guard_step step = guard_next_step(TERM_AT - 1, TERM_AT, KILL_AT, false);
	cr_assert(!step.term && !step.kill);
	cr_assert_eq(step.wake_at_ms, TERM_AT);
}

Test(guard, at_the_term_time_terms_then_wakes_at_the_kill_time) {
	struct guard_step step = guard_next_step(TERM_AT, TERM_AT, KILL_AT, false);
	cr_assert(step.term && !step.kill);
	cr_assert_eq(step.wake_at_ms, KILL_AT);
}

Test(guard, a_term_already_sent_is_not_sent_again) {
	struct guard_step step = guard_next_step(TERM_AT + 500, TERM_AT, KILL_AT, true);
	cr_assert(!step.term && !step.kill, "rwith (or the guard) sent SIGTERM already");
	cr_assert_eq(step.wake_at_ms, KILL_AT);
	step = guard_next_step(TERM_AT - 500, TERM_AT, KILL_AT, true);
	cr_assert(!step.term && !step.kill);
	cr_assert_eq(step.wake_at_ms, KILL_AT, "after a loss, only the kill time is left");
}

Test(guard, at_the_kill_time_kills) {
	struct guard_step step = guard_next_step(KILL_AT, TERM_AT, KILL_AT, true);
	cr_assert(step.kill);
	step = guard_next_step(KILL_AT, TERM_AT, KILL_AT, false);
	cr_assert(step.kill, "SIGKILL goes at the kill time even if SIGTERM never went");
}

Test(guard, after_a_suspend_past_the_deadline_kills_at_once) {
	/* CLOCK_BOOTTIME jumped by an hour of suspend: the guard's first look after it. */
	struct guard_step step = guard_next_step(KILL_AT + 3600u * 1000u, TERM_AT, KILL_AT, false);
	cr_assert(step.kill);
}

Test(guard, an_extension_puts_both_times_off) {
	/* Woken at the old term time, the guard finds the deadline an extension set since. */
	struct guard_step step = guard_next_step(TERM_AT, TERM_AT + 10000, KILL_AT + 10000, false);
	cr_assert(!step.term && !step.kill);
	cr_assert_eq(step.wake_at_ms, TERM_AT + 10000);
}

Test(guard, a_kill_time_before_the_term_time_is_kept) {
	/* A loss moved the kill time earlier than a term time read a moment before. */
	struct guard_step step = guard_next_step(100, 500, 300, false);
	cr_assert(!step.term && !step.kill);
	cr_assert_eq(step.wake_at_ms, 300, "the earlier of the two");
}

Test(guard, the_shared_term_is_claimed_once) {
	struct guard guard;
	cr_assert_eq(guard_init(&guard), 0);
	cr_assert(guard_claim_term(&guard), "the first claim sends SIGTERM");
	cr_assert(!guard_claim_term(&guard), "the second does not");
	guard_set_deadline(&guard, TERM_AT, KILL_AT);
	cr_assert_eq(guard_kill_at(&guard), KILL_AT);
	guard_finish(&guard);
}
