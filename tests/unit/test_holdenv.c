/* $RWITH_HOLD: entries formatted, parsed back, matched by identity; malformed text skipped;
 * identities that differ for another server, prefix or lock. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "holdenv.h"
#include "url.h"

#define TOKEN_A "0123456789abcdef0123456789abcdef"
#define TOKEN_B "fedcba9876543210fedcba9876543210"

static struct holdenv_entry entry(bool keeper, const char *token, char mode, uint64_t fence,
	uint64_t identity) {
	struct holdenv_entry e = {.keeper = keeper, .mode = mode, .fence = fence, .ttl_ms = 30000,
		.identity = identity};
	(void)snprintf(e.token, sizeof(e.token), "%s", token);
	return e;
}

Test(holdenv, format_then_parse_round_trips_newest_first) {
	char outer[HOLDENV_VALUE_MAX], value[HOLDENV_VALUE_MAX];
	struct holdenv_entry a = entry(true, TOKEN_A, 'x', 42, 0x1234), b = entry(false, TOKEN_B,
		's', UINT64_MAX, UINT64_MAX);
	cr_assert_eq(holdenv_format(&a, NULL, outer, sizeof(outer)), 0);
	cr_expect_str_eq(outer, "k:" TOKEN_A ":x:42:30000:0000000000001234");
	cr_assert_eq(holdenv_format(&b, outer, value, sizeof(value)), 0);
	struct holdenv_entry got[HOLDENV_MAX_ENTRIES];
	cr_assert_eq(holdenv_parse(value, got, HOLDENV_MAX_ENTRIES), 2);
	cr_expect(!got[0].keeper && got[0].mode == 's' && got[0].fence == UINT64_MAX &&
		got[0].ttl_ms == 30000 && got[0].identity == UINT64_MAX &&
		strcmp(got[0].token, TOKEN_B) == 0);
	cr_expect(got[1].keeper && got[1].mode == 'x' && got[1].fence == 42 &&
		got[1].identity == 0x1234 && strcmp(got[1].token, TOKEN_A) == 0);
}

Test(holdenv, malformed_entries_are_skipped) {
	static const char *const bad[] = {
		"", "   ", "garbage", "k:" TOKEN_A ":x:42:0000000000001234",
		"k:" TOKEN_A ":x:42:30000",
		"q:" TOKEN_A ":x:42:30000:0000000000001234",
		"k:" TOKEN_A ":y:42:30000:0000000000001234",
		"k:" TOKEN_A ":x::30000:0000000000001234",
		"k:" TOKEN_A ":x:42::0000000000001234",
		"k:" TOKEN_A ":x:42:0:0000000000001234",
		"k:" TOKEN_A ":x:-1:30000:0000000000001234",
		"k:" TOKEN_A ":x:4a:30000:0000000000001234",
		"k:0123:x:42:30000:0000000000001234",
		"k:" TOKEN_A ":x:42:30000:00000000000012345",
		"k:" TOKEN_A ":x:42:30000:000000000000123G",
		"K:" TOKEN_A ":x:42:30000:0000000000001234",
		"k:" TOKEN_A ":x:99999999999999999999:30000:0000000000001234",
		"k:" TOKEN_A ":x:42:30000:0000000000001234:",
		"k;" TOKEN_A ":x:42:30000:0000000000001234",
		"kk:" TOKEN_A ":x:42:30000:0000000000001234",
	};
	struct holdenv_entry got[HOLDENV_MAX_ENTRIES];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(holdenv_parse(bad[i], got, HOLDENV_MAX_ENTRIES), 0, "%s", bad[i]);
	}
	cr_expect_eq(holdenv_parse("junk w:" TOKEN_B ":s:7:500:00000000000000ff junk", got, 8), 1);
	cr_expect_eq(got[0].fence, 7);
	cr_expect_eq(got[0].ttl_ms, 500);
	cr_expect_eq(holdenv_parse(NULL, got, 8), 0);
}

Test(holdenv, at_most_max_entries_the_oldest_dropped) {
	char value[HOLDENV_VALUE_MAX] = "", next[HOLDENV_VALUE_MAX];
	for (uint64_t fence = 1; fence <= HOLDENV_MAX_ENTRIES + 3; fence++) {
		struct holdenv_entry e = entry(true, TOKEN_A, 'x', fence, fence);
		cr_assert_eq(holdenv_format(&e, value, next, sizeof(next)), 0);
		memcpy(value, next, sizeof(value));
	}
	struct holdenv_entry got[HOLDENV_MAX_ENTRIES + 4];
	cr_assert_eq(holdenv_parse(value, got, HOLDENV_MAX_ENTRIES + 4), HOLDENV_MAX_ENTRIES);
	cr_expect_eq(got[0].fence, HOLDENV_MAX_ENTRIES + 3);
	cr_expect_eq(got[HOLDENV_MAX_ENTRIES - 1].fence, 4);
	struct holdenv_entry e = entry(true, TOKEN_A, 'x', 1, 1);
	cr_expect_eq(holdenv_format(&e, NULL, next, 10), -1, "too small a buffer");
}

Test(holdenv, find_takes_the_newest_of_the_identity) {
	const char *value = "w:" TOKEN_A ":x:5:100:0000000000000001 "
		"k:" TOKEN_B ":s:3:100:0000000000000002 k:" TOKEN_A ":x:1:100:0000000000000001";
	struct holdenv_entry got;
	cr_assert_eq(holdenv_find(value, 1, false, &got), 1);
	cr_expect(!got.keeper && got.fence == 5);
	cr_assert_eq(holdenv_find(value, 1, true, &got), 1);
	cr_expect(got.keeper && got.fence == 1);
	cr_expect_eq(holdenv_find(value, 3, false, &got), 0);
	cr_expect_eq(holdenv_find(NULL, 1, false, &got), 0);
}

static uint64_t identity_of(const char *url, const char *prefix, const char *lock) {
	struct rw_endpoint server;
	struct rw_error err = {0};
	cr_assert_eq(url_parse(url, &server, &err), 0, "%s", err.message);
	struct rw_options opts = {.servers = &server, .server_count = 1, .prefix = prefix,
		.lock = lock};
	return holdenv_identity(&opts);
}

Test(holdenv, identity_tells_servers_prefixes_and_locks_apart) {
	uint64_t base = identity_of("redis://127.0.0.1:6379", "rwith:", "deploy");
	cr_expect_eq(base, identity_of("redis://127.0.0.1:6379", "rwith:", "deploy"));
	cr_expect_neq(base, identity_of("redis://127.0.0.1:6380", "rwith:", "deploy"));
	cr_expect_neq(base, identity_of("redis://127.0.0.1:6379/1", "rwith:", "deploy"));
	cr_expect_neq(base, identity_of("redis://10.0.0.1:6379", "rwith:", "deploy"));
	cr_expect_neq(base, identity_of("redis://127.0.0.1:6379", "other:", "deploy"));
	cr_expect_neq(base, identity_of("redis://127.0.0.1:6379", "rwith:", "deploy2"));
	/* The parts are kept apart: moving a byte from prefix to lock changes it. */
	cr_expect_neq(identity_of("redis://h:1", "ab", "c"), identity_of("redis://h:1", "a", "bc"));
	/* A password is not part of it (it is masked), so a changed one does not matter. */
	cr_expect_eq(identity_of("redis://:one@h:1", "p", "l"), identity_of("redis://:two@h:1", "p",
		"l"));
}
