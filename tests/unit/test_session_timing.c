/* session_compute_timing: the effective --kill-after, the SIGKILL margin, bounds on the
 * request timeout, and that neither SIGTERM nor SIGKILL can precede the first heartbeat. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>

#include "duration.h"
#include "session.h"

/* As session.c arms its timers, counted from the last successful extend (the "deadline" is
 * the server-side TTL): SIGKILL at ttl - kill_margin, SIGTERM kill_after before that. */
static uint64_t kill_point(uint64_t ttl, const struct session_timing *t) {
	return ttl - t->kill_margin;
}

static uint64_t term_point(uint64_t ttl, const struct session_timing *t) {
	return kill_point(ttl, t) - t->kill_after;
}

static uint64_t clamp(uint64_t value, uint64_t low, uint64_t high) {
	return value < low ? low : (value > high ? high : value);
}

/* The request timeout is a tuning choice (a whole heartbeat, or a part of one so that a
 * second attempt fits), so only its bounds are checked: at least 50 ms so that a loaded
 * server gets a fair chance, at most 2 s, and never longer than a heartbeat (above 50 ms). */
static void expect_request_timeout_bounds(
	const struct session_timing *t, uint64_t ttl, uint64_t heartbeat) {
	cr_expect_geq(t->request_timeout, 50, "ttl %llu hb %llu: request_timeout %llu",
		(unsigned long long)ttl, (unsigned long long)heartbeat,
		(unsigned long long)t->request_timeout);
	cr_expect_leq(t->request_timeout, clamp(heartbeat, 50, 2000),
		"ttl %llu hb %llu: request_timeout %llu", (unsigned long long)ttl,
		(unsigned long long)heartbeat, (unsigned long long)t->request_timeout);
}

/* Everything that must hold for one combination, whatever the exact formulas. */
static void expect_rules(uint64_t ttl, uint64_t hb, uint64_t ka) {
	struct session_timing t;
	session_compute_timing(ttl, hb, ka, &t);
	char what[128];
	(void)snprintf(what, sizeof(what), "ttl %llu hb %llu ka %llu", (unsigned long long)ttl,
		(unsigned long long)hb, (unsigned long long)ka);

	cr_expect_eq(t.kill_margin, clamp(ttl / 10, 1, 250), "%s: kill_margin %llu", what,
		(unsigned long long)t.kill_margin);
	cr_expect_leq(t.kill_after, ka, "%s: kill_after %llu above --kill-after", what,
		(unsigned long long)t.kill_after);
	expect_request_timeout_bounds(&t, ttl, hb);
	cr_expect_gt(t.retry_delay, 0, "%s", what);
	cr_expect_lt(t.retry_delay, ttl, "%s", what);
	if (t.kill_margin + t.kill_after >= ttl) {
		cr_expect_fail("%s: kill_margin %llu + kill_after %llu reach past the TTL", what,
			(unsigned long long)t.kill_margin, (unsigned long long)t.kill_after);
		return;
	}
	/* The timers are counted from the last successful extend; the first extend is due one
	 * heartbeat after acquiring. SIGTERM must not go out before it could have succeeded,
	 * whenever the margin leaves room for that at all. */
	if (kill_point(ttl, &t) > hb) {
		cr_expect_gt(term_point(ttl, &t), hb,
			"%s: SIGTERM at %llu, first heartbeat at %llu", what,
			(unsigned long long)term_point(ttl, &t), (unsigned long long)hb);
		/* And a --kill-after that is asked for is not thrown away when there is room. */
		if (ka > 0 && kill_point(ttl, &t) - hb >= 4) {
			cr_expect_gt(t.kill_after, 0, "%s: kill_after cut to 0", what);
		}
	}
}

struct timing_case {
	uint64_t ttl, heartbeat, kill_after;
	uint64_t want_kill_after, want_kill_margin;
};

/* Combinations where the requested --kill-after fits and must be used as given. */
Test(session_timing, kill_after_is_kept_when_it_fits) {
	static const struct timing_case cases[] = {
		/* The defaults: 30s TTL, 10s heartbeat, 5s kill-after. */
		{30000, 10000, 5000, 5000, 250},
		{30000, 10000, 0, 0, 250},
		{30000, 10000, 1, 1, 250},
		{100, 33, 10, 10, 10},
		{100, 50, 5, 5, 10},
		{1000, 333, 100, 100, 100},
		{3000, 1000, 500, 500, 250},
		{60000, 20000, 15000, 15000, 250},
		{DURATION_MAX_MS, DURATION_MAX_MS / 3, 5000, 5000, 250},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct timing_case *c = &cases[i];
		struct session_timing t;
		session_compute_timing(c->ttl, c->heartbeat, c->kill_after, &t);
		cr_expect_eq(t.kill_after, c->want_kill_after,
			"ttl %llu hb %llu ka %llu: kill_after %llu", (unsigned long long)c->ttl,
			(unsigned long long)c->heartbeat, (unsigned long long)c->kill_after,
			(unsigned long long)t.kill_after);
		cr_expect_eq(t.kill_margin, c->want_kill_margin, "ttl %llu: kill_margin %llu",
			(unsigned long long)c->ttl, (unsigned long long)t.kill_margin);
		expect_rules(c->ttl, c->heartbeat, c->kill_after);
	}
}

/* Combinations where the requested --kill-after does not fit and is cut down. */
Test(session_timing, kill_after_is_capped_by_the_ttl) {
	static const struct capped_case {
		uint64_t ttl, heartbeat, kill_after;
		uint64_t want_kill_margin;
	} cases[] = {
		{100, 33, 5000, 10},
		{100, 1, 5000, 10},
		{1000, 333, 5000, 100},
		{3000, 1000, 5000, 250},
		{10000, 2000, 5000, 250},
		{30000, 10000, 60000, 250},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct capped_case *c = &cases[i];
		struct session_timing t;
		session_compute_timing(c->ttl, c->heartbeat, c->kill_after, &t);
		cr_expect_lt(t.kill_after, c->kill_after,
			"ttl %llu hb %llu ka %llu: kill_after %llu", (unsigned long long)c->ttl,
			(unsigned long long)c->heartbeat, (unsigned long long)c->kill_after,
			(unsigned long long)t.kill_after);
		cr_expect_eq(
			t.kill_margin, c->want_kill_margin, "ttl %llu", (unsigned long long)c->ttl);
		expect_rules(c->ttl, c->heartbeat, c->kill_after);
	}
}

/* The rules hold across the range of values options_parse lets through, with the default
 * heartbeat (ttl/3) and with user-chosen ones. */
Test(session_timing, rules_hold_for_every_valid_combination) {
	static const uint64_t ttls[] = {
		100, 101, 150, 200, 333, 1000, 2500, 10000, 30000, 60000, 3600000, DURATION_MAX_MS};
	static const uint64_t kill_afters[] = {0, 1, 10, 100, 5000, 60000, DURATION_MAX_MS};
	for (size_t i = 0; i < sizeof(ttls) / sizeof(ttls[0]); i++) {
		uint64_t ttl = ttls[i];
		const uint64_t heartbeats[] = {
			1, 10, ttl / 10, ttl / 3, ttl / 2, ttl - 10, ttl - 1};
		for (size_t h = 0; h < sizeof(heartbeats) / sizeof(heartbeats[0]); h++) {
			uint64_t hb = heartbeats[h];
			if (hb == 0 || hb >= ttl) {
				continue;
			}
			for (size_t k = 0; k < sizeof(kill_afters) / sizeof(kill_afters[0]); k++) {
				expect_rules(ttl, hb, kill_afters[k]);
			}
		}
	}
}

/* A command whose lock is healthy is never killed: SIGKILL, counted from acquiring, must come
 * after the first heartbeat, for every heartbeat options_parse accepts (1 ms up to ttl - 1). */
Test(session_timing, sigkill_never_precedes_the_first_heartbeat) {
	static const struct {
		uint64_t ttl, heartbeat;
	} cases[] = {
		{100, 33},
		{100, 89},
		{100, 90},
		{100, 95},
		{100, 99},
		{1000, 950},
		{30000, 29900},
		{30000, 29999},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct session_timing t;
		session_compute_timing(cases[i].ttl, cases[i].heartbeat, 5000, &t);
		cr_expect_leq(t.heartbeat, cases[i].heartbeat);
		cr_expect_gt(kill_point(cases[i].ttl, &t), t.heartbeat,
			"ttl %llu hb %llu: SIGKILL at %llu ms, first heartbeat at %llu ms",
			(unsigned long long)cases[i].ttl, (unsigned long long)cases[i].heartbeat,
			(unsigned long long)kill_point(cases[i].ttl, &t),
			(unsigned long long)t.heartbeat);
	}
}
