/* lock_decode_acquire, lock_decode_flag, lock_decode_left and lock_decode_holders: the
 * replies the scripts give (src/lua/acquire.lua, held.lua, status.lua, break.lua), and garbage a broken or foreign server could
 * send instead, built from RESP text by hiredis's reader. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "lock.h"
#include "resp.h"
#include "untouched.h"

#define UNTOUCHED_FENCE 0x5eedull

/* ---- acquire ---------------------------------------------------------------------------- */

Test(lock_decode, acquired) {
	redisReply *reply = reply_from_resp("*2\r\n:1\r\n:42\r\n");
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_busy busy;
	struct rw_error err = {0};
	fill_sentinel(&busy, sizeof(busy));
	cr_expect_eq(lock_decode_acquire(reply, &fence, &busy, &err), LOCK_RESULT_YES, "%s",
		err.message);
	cr_expect_eq(fence, 42);
	cr_expect_eq(err.kind, RW_ERROR_NONE);
	cr_expect(is_sentinel(&busy, sizeof(busy)), "busy written for an acquired lock");
	freeReplyObject(reply);
}

Test(lock_decode, acquired_with_a_large_fence) {
	redisReply *reply = reply_from_resp("*2\r\n:1\r\n:9223372036854775807\r\n");
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_busy busy;
	struct rw_error err = {0};
	cr_expect_eq(lock_decode_acquire(reply, &fence, &busy, &err), LOCK_RESULT_YES);
	cr_expect_eq(fence, 9223372036854775807ull);
	freeReplyObject(reply);
}

/* {0, host, pid, task, since_ms, ttl_left_ms, fence, now_ms, position, waiters, recheck_ms} */
Test(lock_decode, busy_fills_the_holder_and_the_queue) {
	redisReply *reply = reply_from_resp("*11\r\n"
					    ":0\r\n"
					    "$7\r\nbuild-7\r\n"
					    ":4242\r\n"
					    "$11\r\nmake deploy\r\n"
					    ":1700000000000\r\n"
					    ":12345\r\n"
					    ":41\r\n"
					    ":1700000012000\r\n"
					    ":2\r\n"
					    ":5\r\n"
					    ":6789\r\n");
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_busy busy;
	struct rw_error err = {0};
	fill_sentinel(&busy, sizeof(busy));
	cr_assert_eq(lock_decode_acquire(reply, &fence, &busy, &err), LOCK_RESULT_NO, "%s",
		err.message);
	cr_expect_eq(err.kind, RW_ERROR_NONE);
	cr_expect_eq(fence, UNTOUCHED_FENCE, "fence written for a busy lock");
	cr_expect_str_eq(busy.holder.host, "build-7");
	cr_expect_eq(busy.holder.pid, 4242);
	cr_expect_str_eq(busy.holder.task, "make deploy");
	cr_expect_eq(busy.holder.since_ms, 1700000000000ull);
	cr_expect_eq(busy.holder.ttl_left_ms, 12345);
	cr_expect_eq(busy.holder.fence, 41);
	cr_expect_eq(busy.holder.server_now_ms, 1700000012000ull);
	cr_expect_not(busy.holder.shared, "a busy answer names no mode: exclusive");
	cr_expect_eq(busy.position, 2);
	cr_expect_eq(busy.waiters, 5);
	cr_expect_eq(busy.recheck_ms, 6789);
	freeReplyObject(reply);
}

/* A single try (--nonblock, enqueue '0'): not in the queue, so position -1. */
Test(lock_decode, busy_not_queued) {
	redisReply *reply = reply_from_resp("*11\r\n:0\r\n$4\r\nhost\r\n:17\r\n$3\r\njob\r\n"
					    ":1000\r\n:29000\r\n:3\r\n:2000\r\n"
					    ":-1\r\n:0\r\n:29000\r\n");
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_busy busy;
	struct rw_error err = {0};
	fill_sentinel(&busy, sizeof(busy));
	cr_assert_eq(lock_decode_acquire(reply, &fence, &busy, &err), LOCK_RESULT_NO, "%s",
		err.message);
	cr_expect_eq(busy.position, -1);
	cr_expect_eq(busy.waiters, 0);
	cr_expect_eq(busy.recheck_ms, 29000);
	cr_expect_str_eq(busy.holder.host, "host");
	cr_expect_eq(busy.holder.pid, 17);
	cr_expect_eq(busy.holder.fence, 3);
	cr_expect_eq(busy.holder.server_now_ms, 2000);
	cr_expect_eq(fence, UNTOUCHED_FENCE);
	freeReplyObject(reply);
}

/* A place is free but earlier waiters have it: acquire.lua names no holder ('' and zeros);
 * the waiter is at the head of the queue and must look again at once (recheck 0). */
Test(lock_decode, busy_with_a_free_place_and_others_ahead) {
	redisReply *reply = reply_from_resp("*11\r\n:0\r\n$0\r\n\r\n:0\r\n$0\r\n\r\n"
					    ":0\r\n:0\r\n:0\r\n:1700000000000\r\n"
					    ":0\r\n:1\r\n:0\r\n");
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_busy busy;
	struct rw_error err = {0};
	fill_sentinel(&busy, sizeof(busy));
	cr_assert_eq(lock_decode_acquire(reply, &fence, &busy, &err), LOCK_RESULT_NO, "%s",
		err.message);
	cr_expect_str_eq(busy.holder.host, "");
	cr_expect_eq(busy.holder.pid, 0);
	cr_expect_str_eq(busy.holder.task, "");
	cr_expect_eq(busy.holder.since_ms, 0);
	cr_expect_eq(busy.holder.ttl_left_ms, 0);
	cr_expect_eq(busy.holder.fence, 0);
	cr_expect_eq(busy.holder.server_now_ms, 1700000000000ull);
	cr_expect_not(busy.holder.shared);
	cr_expect_eq(busy.position, 0);
	cr_expect_eq(busy.waiters, 1);
	cr_expect_eq(busy.recheck_ms, 0);
	cr_expect_eq(fence, UNTOUCHED_FENCE);
	freeReplyObject(reply);
}

/* What holder_fields in common.lua gives when a holder's info entry is missing. */
Test(lock_decode, busy_with_the_scripts_fallback_values) {
	redisReply *reply = reply_from_resp("*11\r\n:0\r\n$1\r\n?\r\n:0\r\n$0\r\n\r\n:0\r\n:500\r\n"
					    ":0\r\n:1000\r\n:3\r\n:4\r\n:500\r\n");
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_busy busy;
	struct rw_error err = {0};
	cr_assert_eq(lock_decode_acquire(reply, &fence, &busy, &err), LOCK_RESULT_NO, "%s",
		err.message);
	cr_expect_str_eq(busy.holder.host, "?");
	cr_expect_eq(busy.holder.pid, 0);
	cr_expect_str_eq(busy.holder.task, "");
	cr_expect_eq(busy.holder.ttl_left_ms, 500);
	cr_expect_eq(busy.position, 3);
	cr_expect_eq(busy.waiters, 4);
	cr_expect_eq(busy.recheck_ms, 500);
	cr_expect_eq(fence, UNTOUCHED_FENCE);
	freeReplyObject(reply);
}

Test(lock_decode, busy_with_large_queue_numbers) {
	redisReply *reply = reply_from_resp("*11\r\n:0\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n"
					    ":1\r\n:1\r\n:1\r\n:1\r\n"
					    ":2147483646\r\n:2147483647\r\n:9223372036854775807\r\n");
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_busy busy;
	struct rw_error err = {0};
	cr_assert_eq(lock_decode_acquire(reply, &fence, &busy, &err), LOCK_RESULT_NO, "%s",
		err.message);
	cr_expect_eq(busy.position, 2147483646L);
	cr_expect_eq(busy.waiters, 2147483647L);
	cr_expect_eq(busy.recheck_ms, INT64_MAX);
	freeReplyObject(reply);
}

Test(lock_decode, busy_with_overlong_strings_is_cut_safely) {
	char host[1000], task[2000], resp[4000];
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	memset(task, 't', sizeof(task) - 1);
	task[sizeof(task) - 1] = '\0';
	int n = snprintf(resp, sizeof(resp),
		"*11\r\n:0\r\n$%zu\r\n%s\r\n:1\r\n$%zu\r\n%s\r\n:1\r\n:1\r\n:1\r\n:1\r\n"
		":0\r\n:1\r\n:1\r\n",
		strlen(host), host, strlen(task), task);
	cr_assert(n > 0 && (size_t)n < sizeof(resp));
	redisReply *reply = reply_from_resp(resp);
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_busy busy;
	struct rw_error err = {0};
	cr_assert_eq(lock_decode_acquire(reply, &fence, &busy, &err), LOCK_RESULT_NO, "%s",
		err.message);
	cr_expect_lt(strlen(busy.holder.host), sizeof(busy.holder.host));
	cr_expect_lt(strlen(busy.holder.task), sizeof(busy.holder.task));
	cr_expect_eq(strlen(busy.holder.host), sizeof(busy.holder.host) - 1);
	cr_expect_eq(strlen(busy.holder.task), sizeof(busy.holder.task) - 1);
	cr_expect_eq(strncmp(busy.holder.host, host, strlen(busy.holder.host)), 0);
	cr_expect_eq(strncmp(busy.holder.task, task, strlen(busy.holder.task)), 0);
	freeReplyObject(reply);
}

/* {-1, stored_limit}: an exclusive acquirer's --limit differs from the one stored with the
 * lock. The user's mistake, not the server's: a usage error naming the stored limit. */
Test(lock_decode, limit_mismatch_is_a_usage_error_naming_the_stored_limit) {
	static const struct {
		const char *resp;
		const char *needle;
	} cases[] = {
		{"*2\r\n:-1\r\n:3\r\n", "--limit 3"},
		{"*2\r\n:-1\r\n:1\r\n", "--limit 1"},
		{"*2\r\n:-1\r\n:30\r\n", "--limit 30"},
		{"*2\r\n:-1\r\n:1000000\r\n", "--limit 1000000"},
		{"*2\r\n:-1\r\n:9223372036854775807\r\n", "--limit 9223372036854775807"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *reply = reply_from_resp(cases[i].resp);
		uint64_t fence = UNTOUCHED_FENCE;
		struct lock_busy busy;
		struct rw_error err = {0};
		fill_sentinel(&busy, sizeof(busy));
		enum lock_result result = lock_decode_acquire(reply, &fence, &busy, &err);
		cr_expect_eq(result, LOCK_RESULT_ERROR, "%s: result %d", cases[i].needle, result);
		cr_expect_eq(err.kind, RW_ERROR_USAGE, "%s: kind %d", cases[i].needle, err.kind);
		cr_expect_not_null(strstr(err.message, cases[i].needle),
			"message '%s' lacks '%s'", err.message, cases[i].needle);
		cr_expect_eq(fence, UNTOUCHED_FENCE, "%s: fence written", cases[i].needle);
		cr_expect(is_sentinel(&busy, sizeof(busy)), "%s: busy written", cases[i].needle);
		freeReplyObject(reply);
	}
}

/* "--limit 3" must not also match a stored limit of 30 or 31: the number stands alone. */
Test(lock_decode, limit_mismatch_names_exactly_the_stored_limit) {
	redisReply *reply = reply_from_resp("*2\r\n:-1\r\n:3\r\n");
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_busy busy;
	struct rw_error err = {0};
	cr_assert_eq(lock_decode_acquire(reply, &fence, &busy, &err), LOCK_RESULT_ERROR);
	const char *at = strstr(err.message, "--limit 3");
	cr_assert_not_null(at, "%s", err.message);
	cr_expect(at[9] < '0' || at[9] > '9', "'%s' names another limit", err.message);
	freeReplyObject(reply);
}

struct garbage_case {
	const char *what;
	const char *resp;
};

/* The pieces of a valid busy answer, so that each garbage case below breaks one thing. */
#define BUSY_HEAD "*11\r\n:0\r\n"
#define HOLDER_HPT "$1\r\nh\r\n:1\r\n$1\r\nt\r\n"          /* host, pid, task */
#define HOLDER_SLF ":1700000000000\r\n:12345\r\n:41\r\n"   /* since, ttl_left, fence */
#define BUSY_NOW ":1700000012000\r\n"                      /* now */
#define BUSY_QUEUE ":0\r\n:3\r\n:12345\r\n"                /* position, waiters, recheck */
#define BUSY_TAIL HOLDER_SLF BUSY_NOW BUSY_QUEUE
#define BUSY_VALID BUSY_HEAD HOLDER_HPT BUSY_TAIL

/* The base the garbage cases are built from is itself good: each case fails for its own
 * reason. */
Test(lock_decode, garbage_base_is_valid) {
	redisReply *reply = reply_from_resp(BUSY_VALID);
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_busy busy;
	struct rw_error err = {0};
	cr_assert_eq(lock_decode_acquire(reply, &fence, &busy, &err), LOCK_RESULT_NO, "%s",
		err.message);
	cr_expect_eq(busy.position, 0);
	cr_expect_eq(busy.waiters, 3);
	cr_expect_eq(busy.recheck_ms, 12345);
	freeReplyObject(reply);
}

Test(lock_decode, acquire_rejects_garbage) {
	static const struct garbage_case cases[] = {
		{"status", "+OK\r\n"},
		{"nil", "$-1\r\n"},
		{"error", "-ERR boom\r\n"},
		{"integer", ":1\r\n"},
		{"string", "$2\r\nhi\r\n"},
		{"nil array", "*-1\r\n"},
		{"empty array", "*0\r\n"},
		{"flag only", "*1\r\n:1\r\n"},
		{"flag as string", "*2\r\n$1\r\n1\r\n:42\r\n"},
		{"flag nil", "*2\r\n$-1\r\n:42\r\n"},
		{"flag 2", "*2\r\n:2\r\n:42\r\n"},
		{"flag -2", "*2\r\n:-2\r\n:3\r\n"},
		{"flag very negative", "*2\r\n:-9223372036854775808\r\n:3\r\n"},
		{"negative fence", "*2\r\n:1\r\n:-5\r\n"},
		{"zero fence", "*2\r\n:1\r\n:0\r\n"},
		{"fence as string", "*2\r\n:1\r\n$2\r\n42\r\n"},
		{"fence nil", "*2\r\n:1\r\n$-1\r\n"},
		{"fence array", "*2\r\n:1\r\n*1\r\n:42\r\n"},
		{"acquired, 3 elements", "*3\r\n:1\r\n:42\r\n:0\r\n"},
		{"acquired flag with the busy shape", "*11\r\n:1\r\n" HOLDER_HPT BUSY_TAIL},
		{"busy flag with the acquired shape", "*2\r\n:0\r\n:42\r\n"},
		{"busy flag as string", "*11\r\n$1\r\n0\r\n" HOLDER_HPT BUSY_TAIL},
		{"busy, 1 element", "*1\r\n:0\r\n"},
		{"busy, 7 elements", "*7\r\n:0\r\n" HOLDER_HPT HOLDER_SLF},
		{"busy, old 8-element shape", "*8\r\n:0\r\n" HOLDER_HPT HOLDER_SLF BUSY_NOW},
		{"busy, 10 elements", "*10\r\n:0\r\n" HOLDER_HPT HOLDER_SLF BUSY_NOW ":0\r\n:3\r\n"},
		{"busy, 12 elements", "*12\r\n:0\r\n" HOLDER_HPT BUSY_TAIL ":1\r\n"},
		{"busy, host integer", BUSY_HEAD ":7\r\n:1\r\n$1\r\nt\r\n" BUSY_TAIL},
		{"busy, host nil", BUSY_HEAD "$-1\r\n:1\r\n$1\r\nt\r\n" BUSY_TAIL},
		{"busy, host as status", BUSY_HEAD "+h\r\n:1\r\n$1\r\nt\r\n" BUSY_TAIL},
		{"busy, pid string", BUSY_HEAD "$1\r\nh\r\n$2\r\n42\r\n$1\r\nt\r\n" BUSY_TAIL},
		{"busy, negative pid", BUSY_HEAD "$1\r\nh\r\n:-1\r\n$1\r\nt\r\n" BUSY_TAIL},
		{"busy, task integer", BUSY_HEAD "$1\r\nh\r\n:1\r\n:5\r\n" BUSY_TAIL},
		{"busy, since string",
			BUSY_HEAD HOLDER_HPT "$1\r\n1\r\n:12345\r\n:41\r\n" BUSY_NOW BUSY_QUEUE},
		{"busy, negative since",
			BUSY_HEAD HOLDER_HPT ":-1\r\n:12345\r\n:41\r\n" BUSY_NOW BUSY_QUEUE},
		{"busy, ttl nil",
			BUSY_HEAD HOLDER_HPT ":1\r\n$-1\r\n:41\r\n" BUSY_NOW BUSY_QUEUE},
		{"busy, fence string",
			BUSY_HEAD HOLDER_HPT ":1\r\n:12345\r\n$2\r\n41\r\n" BUSY_NOW BUSY_QUEUE},
		{"busy, negative fence",
			BUSY_HEAD HOLDER_HPT ":1\r\n:12345\r\n:-41\r\n" BUSY_NOW BUSY_QUEUE},
		{"busy, negative now", BUSY_HEAD HOLDER_HPT HOLDER_SLF ":-1\r\n" BUSY_QUEUE},
		{"busy, now array", BUSY_HEAD HOLDER_HPT HOLDER_SLF "*0\r\n" BUSY_QUEUE},
		{"busy, now string", BUSY_HEAD HOLDER_HPT HOLDER_SLF "$1\r\n1\r\n" BUSY_QUEUE},
		{"busy, position -2",
			BUSY_HEAD HOLDER_HPT HOLDER_SLF BUSY_NOW ":-2\r\n:3\r\n:12345\r\n"},
		{"busy, position very negative",
			BUSY_HEAD HOLDER_HPT HOLDER_SLF BUSY_NOW
			":-9223372036854775808\r\n:3\r\n:12345\r\n"},
		{"busy, position string",
			BUSY_HEAD HOLDER_HPT HOLDER_SLF BUSY_NOW "$1\r\n0\r\n:3\r\n:12345\r\n"},
		{"busy, position nil",
			BUSY_HEAD HOLDER_HPT HOLDER_SLF BUSY_NOW "$-1\r\n:3\r\n:12345\r\n"},
		{"busy, negative waiters",
			BUSY_HEAD HOLDER_HPT HOLDER_SLF BUSY_NOW ":0\r\n:-1\r\n:12345\r\n"},
		{"busy, waiters string",
			BUSY_HEAD HOLDER_HPT HOLDER_SLF BUSY_NOW ":0\r\n$1\r\n3\r\n:12345\r\n"},
		{"busy, waiters array",
			BUSY_HEAD HOLDER_HPT HOLDER_SLF BUSY_NOW ":0\r\n*1\r\n:3\r\n:12345\r\n"},
		{"busy, negative recheck",
			BUSY_HEAD HOLDER_HPT HOLDER_SLF BUSY_NOW ":0\r\n:3\r\n:-1\r\n"},
		{"busy, recheck string",
			BUSY_HEAD HOLDER_HPT HOLDER_SLF BUSY_NOW ":0\r\n:3\r\n$3\r\n100\r\n"},
		{"busy, recheck nil", BUSY_HEAD HOLDER_HPT HOLDER_SLF BUSY_NOW ":0\r\n:3\r\n$-1\r\n"},
		{"busy, recheck as status",
			BUSY_HEAD HOLDER_HPT HOLDER_SLF BUSY_NOW ":0\r\n:3\r\n+100\r\n"},
		{"busy with a mode field, 12 elements",
			"*12\r\n:0\r\n" HOLDER_HPT HOLDER_SLF "$1\r\nx\r\n" BUSY_NOW BUSY_QUEUE},
		{"busy with a mode field instead of recheck",
			BUSY_HEAD HOLDER_HPT HOLDER_SLF BUSY_NOW ":0\r\n:3\r\n$1\r\ns\r\n"},
		/* {-1, stored_limit} needs a stored limit above 0, as an integer */
		{"limit mismatch, 1 element", "*1\r\n:-1\r\n"},
		{"limit mismatch, stored 0", "*2\r\n:-1\r\n:0\r\n"},
		{"limit mismatch, stored -2", "*2\r\n:-1\r\n:-2\r\n"},
		{"limit mismatch, stored very negative",
			"*2\r\n:-1\r\n:-9223372036854775808\r\n"},
		{"limit mismatch, stored as string", "*2\r\n:-1\r\n$1\r\n3\r\n"},
		{"limit mismatch, stored as status", "*2\r\n:-1\r\n+3\r\n"},
		{"limit mismatch, stored nil", "*2\r\n:-1\r\n$-1\r\n"},
		{"limit mismatch, stored array", "*2\r\n:-1\r\n*1\r\n:3\r\n"},
		{"limit mismatch, 3 elements", "*3\r\n:-1\r\n:3\r\n:3\r\n"},
		{"limit mismatch flag as string", "*2\r\n$2\r\n-1\r\n:3\r\n"},
		{"limit mismatch flag with the busy shape", "*11\r\n:-1\r\n" HOLDER_HPT BUSY_TAIL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *reply = reply_from_resp(cases[i].resp);
		uint64_t fence = UNTOUCHED_FENCE;
		struct lock_busy busy;
		struct rw_error err = {0};
		fill_sentinel(&busy, sizeof(busy));
		enum lock_result result = lock_decode_acquire(reply, &fence, &busy, &err);
		cr_expect_eq(result, LOCK_RESULT_ERROR, "%s: result %d", cases[i].what, result);
		cr_expect_eq(err.kind, RW_ERROR_SERVER, "%s: kind %d", cases[i].what, err.kind);
		cr_expect_neq(err.message[0], '\0', "%s: no message", cases[i].what);
		cr_expect_eq(fence, UNTOUCHED_FENCE, "%s: fence written", cases[i].what);
		cr_expect(is_sentinel(&busy, sizeof(busy)), "%s: busy written", cases[i].what);
		freeReplyObject(reply);
	}
}

/* ---- extend, release, leave ------------------------------------------------------------- */

Test(lock_decode, flag) {
	static const struct {
		const char *resp;
		enum lock_result result;
	} good[] = {
		{":1\r\n", LOCK_RESULT_YES},
		{":0\r\n", LOCK_RESULT_NO},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		redisReply *reply = reply_from_resp(good[i].resp);
		struct rw_error err = {0};
		cr_expect_eq(lock_decode_flag(reply, &err), good[i].result, "%s", good[i].resp);
		cr_expect_eq(err.kind, RW_ERROR_NONE);
		freeReplyObject(reply);
	}
}

Test(lock_decode, flag_rejects_garbage) {
	static const struct garbage_case cases[] = {
		{"integer 2", ":2\r\n"},
		{"integer -1", ":-1\r\n"},
		{"large integer", ":9223372036854775807\r\n"},
		{"status", "+OK\r\n"},
		{"nil", "$-1\r\n"},
		{"string 1", "$1\r\n1\r\n"},
		{"error", "-ERR boom\r\n"},
		{"array", "*1\r\n:1\r\n"},
		{"empty array", "*0\r\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *reply = reply_from_resp(cases[i].resp);
		struct rw_error err = {0};
		enum lock_result result = lock_decode_flag(reply, &err);
		cr_expect_eq(result, LOCK_RESULT_ERROR, "%s: result %d", cases[i].what, result);
		cr_expect_eq(err.kind, RW_ERROR_SERVER, "%s: kind %d", cases[i].what, err.kind);
		cr_expect_neq(err.message[0], '\0', "%s: no message", cases[i].what);
		freeReplyObject(reply);
	}
}

/* held: the ms the holder's entry has left, 0 when it holds the lock no more. */
Test(lock_decode, left) {
	static const struct {
		const char *resp;
		enum lock_result result;
		uint64_t left;
	} cases[] = {
		{":0\r\n", LOCK_RESULT_NO, 0},
		{":1\r\n", LOCK_RESULT_YES, 1},
		{":29876\r\n", LOCK_RESULT_YES, 29876},
		{":9223372036854775807\r\n", LOCK_RESULT_YES, 9223372036854775807ull},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *reply = reply_from_resp(cases[i].resp);
		struct rw_error err = {0};
		uint64_t left = 12345;
		cr_expect_eq(lock_decode_left(reply, &left, &err), cases[i].result, "%s", cases[i].resp);
		cr_expect_eq(left, cases[i].left, "%s", cases[i].resp);
		freeReplyObject(reply);
	}
	static const char *const garbage[] = {":-1\r\n", "+OK\r\n", "$-1\r\n", "$1\r\n1\r\n",
		"-ERR boom\r\n", "*1\r\n:1\r\n"};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		redisReply *reply = reply_from_resp(garbage[i]);
		struct rw_error err = {0};
		uint64_t left = 12345;
		cr_expect_eq(lock_decode_left(reply, &left, &err), LOCK_RESULT_ERROR, "%s", garbage[i]);
		cr_expect_eq(left, 12345, "untouched on garbage");
		cr_expect_eq(err.kind, RW_ERROR_SERVER);
		freeReplyObject(reply);
	}
}

/* ---- status and break ------------------------------------------------------------------- */

/* Decodes `resp`, which must succeed; the caller frees status->holders. */
static void decode_holders_ok(const char *resp, bool with_waiters, struct lock_status *status) {
	redisReply *reply = reply_from_resp(resp);
	struct rw_error err = {0};
	fill_sentinel(status, sizeof(*status));
	cr_assert_eq(lock_decode_holders(reply, with_waiters, status, &err), LOCK_RESULT_YES,
		"%s", err.message);
	cr_expect_eq(err.kind, RW_ERROR_NONE);
	freeReplyObject(reply);
}

static void expect_holder(const struct lock_holder *holder, const char *host, long pid,
	const char *task, uint64_t since_ms, int64_t ttl_left_ms, uint64_t fence, uint64_t now,
	bool shared) {
	cr_expect_str_eq(holder->host, host);
	cr_expect_eq(holder->pid, pid, "%s: pid %ld", host, holder->pid);
	cr_expect_str_eq(holder->task, task);
	cr_expect_eq(holder->since_ms, since_ms, "%s: since", host);
	cr_expect_eq(holder->ttl_left_ms, ttl_left_ms, "%s: ttl_left", host);
	cr_expect_eq(holder->fence, fence, "%s: fence", host);
	cr_expect_eq(holder->server_now_ms, now, "%s: server_now", host);
	cr_expect_eq(holder->shared, shared, "%s: shared %d, want %d", host, holder->shared, shared);
}

/* {now_ms, waiters, then per holder: host, pid, task, since_ms, ttl_left_ms, fence, mode} */
Test(lock_decode_holders, status_with_no_holder) {
	struct lock_status status;
	decode_holders_ok("*2\r\n:1700000000000\r\n:0\r\n", true, &status);
	cr_expect_eq(status.server_now_ms, 1700000000000ull);
	cr_expect_eq(status.waiters, 0);
	cr_expect_eq(status.holder_count, 0);
	cr_expect_null(status.holders);
	free(status.holders);
}

Test(lock_decode_holders, status_with_no_holder_but_waiters) {
	struct lock_status status;
	decode_holders_ok("*2\r\n:5\r\n:7\r\n", true, &status);
	cr_expect_eq(status.server_now_ms, 5);
	cr_expect_eq(status.waiters, 7);
	cr_expect_eq(status.holder_count, 0);
	cr_expect_null(status.holders);
	free(status.holders);
}

Test(lock_decode_holders, status_with_one_holder) {
	struct lock_status status;
	decode_holders_ok("*9\r\n:1700000012000\r\n:2\r\n"
			  "$7\r\nbuild-7\r\n:4242\r\n$11\r\nmake deploy\r\n"
			  ":1700000000000\r\n:12345\r\n:41\r\n$1\r\nx\r\n",
		true, &status);
	cr_expect_eq(status.server_now_ms, 1700000012000ull);
	cr_expect_eq(status.waiters, 2);
	cr_assert_eq(status.holder_count, 1);
	cr_assert_not_null(status.holders);
	expect_holder(&status.holders[0], "build-7", 4242, "make deploy", 1700000000000ull, 12345,
		41, 1700000012000ull, false);
	free(status.holders);
}

Test(lock_decode_holders, status_with_one_shared_holder) {
	struct lock_status status;
	decode_holders_ok("*9\r\n:1700000012000\r\n:0\r\n"
			  "$6\r\nreader\r\n:77\r\n$6\r\nbackup\r\n"
			  ":1700000000000\r\n:5000\r\n:12\r\n$1\r\ns\r\n",
		true, &status);
	cr_assert_eq(status.holder_count, 1);
	cr_assert_not_null(status.holders);
	expect_holder(&status.holders[0], "reader", 77, "backup", 1700000000000ull, 5000, 12,
		1700000012000ull, true);
	free(status.holders);
}

/* Readers share: several holders, all 's'. */
Test(lock_decode_holders, status_with_three_shared_holders) {
	struct lock_status status;
	decode_holders_ok("*23\r\n:9000\r\n:11\r\n"
			  "$1\r\na\r\n:1\r\n$6\r\ntask a\r\n:1000\r\n:100\r\n:7\r\n$1\r\ns\r\n"
			  "$1\r\nb\r\n:2\r\n$0\r\n\r\n:2000\r\n:200\r\n:8\r\n$1\r\ns\r\n"
			  "$1\r\nc\r\n:3\r\n$1\r\nt\r\n:3000\r\n:300\r\n:9\r\n$1\r\ns\r\n",
		true, &status);
	cr_expect_eq(status.server_now_ms, 9000);
	cr_expect_eq(status.waiters, 11);
	cr_assert_eq(status.holder_count, 3);
	cr_assert_not_null(status.holders);
	expect_holder(&status.holders[0], "a", 1, "task a", 1000, 100, 7, 9000, true);
	expect_holder(&status.holders[1], "b", 2, "", 2000, 200, 8, 9000, true);
	expect_holder(&status.holders[2], "c", 3, "t", 3000, 300, 9, 9000, true);
	free(status.holders);
}

/* A semaphore (--limit 3): several exclusive holders. */
Test(lock_decode_holders, status_with_three_exclusive_holders) {
	struct lock_status status;
	decode_holders_ok("*23\r\n:9000\r\n:11\r\n"
			  "$1\r\na\r\n:1\r\n$6\r\ntask a\r\n:1000\r\n:100\r\n:7\r\n$1\r\nx\r\n"
			  "$1\r\nb\r\n:2\r\n$0\r\n\r\n:2000\r\n:200\r\n:8\r\n$1\r\nx\r\n"
			  "$1\r\n?\r\n:0\r\n$0\r\n\r\n:0\r\n:300\r\n:0\r\n$1\r\nx\r\n",
		true, &status);
	cr_expect_eq(status.server_now_ms, 9000);
	cr_expect_eq(status.waiters, 11);
	cr_assert_eq(status.holder_count, 3);
	cr_assert_not_null(status.holders);
	expect_holder(&status.holders[0], "a", 1, "task a", 1000, 100, 7, 9000, false);
	expect_holder(&status.holders[1], "b", 2, "", 2000, 200, 8, 9000, false);
	/* holder_fields' fallback for a missing info entry, mode 'x' included */
	expect_holder(&status.holders[2], "?", 0, "", 0, 300, 0, 9000, false);
	free(status.holders);
}

/* The decoder takes each holder's mode as given, in order; it does not judge the mix. */
Test(lock_decode_holders, each_holder_keeps_its_own_mode) {
	struct lock_status status;
	decode_holders_ok("*22\r\n:9000\r\n"
			  "$1\r\na\r\n:1\r\n$0\r\n\r\n:1\r\n:1\r\n:1\r\n$1\r\ns\r\n"
			  "$1\r\nb\r\n:2\r\n$0\r\n\r\n:2\r\n:2\r\n:2\r\n$1\r\nx\r\n"
			  "$1\r\nc\r\n:3\r\n$0\r\n\r\n:3\r\n:3\r\n:3\r\n$1\r\ns\r\n",
		false, &status);
	cr_assert_eq(status.holder_count, 3);
	expect_holder(&status.holders[0], "a", 1, "", 1, 1, 1, 9000, true);
	expect_holder(&status.holders[1], "b", 2, "", 2, 2, 2, 9000, false);
	expect_holder(&status.holders[2], "c", 3, "", 3, 3, 3, 9000, true);
	free(status.holders);
}

/* {now_ms, then per removed holder: host, pid, task, since_ms, ttl_left_ms, fence, mode} */
Test(lock_decode_holders, break_with_nothing_removed) {
	struct lock_status status;
	decode_holders_ok("*1\r\n:1700000000000\r\n", false, &status);
	cr_expect_eq(status.server_now_ms, 1700000000000ull);
	cr_expect_eq(status.waiters, 0);
	cr_expect_eq(status.holder_count, 0);
	cr_expect_null(status.holders);
	free(status.holders);
}

Test(lock_decode_holders, break_with_two_removed) {
	struct lock_status status;
	decode_holders_ok("*15\r\n:50000\r\n"
			  "$5\r\nhost1\r\n:100\r\n$5\r\nsleep\r\n:40000\r\n:20000\r\n:9\r\n"
			  "$1\r\nx\r\n"
			  "$5\r\nhost2\r\n:200\r\n$4\r\nmake\r\n:45000\r\n:25000\r\n"
			  ":9223372036854775807\r\n$1\r\nx\r\n",
		false, &status);
	cr_expect_eq(status.server_now_ms, 50000);
	cr_expect_eq(status.waiters, 0, "break tells no waiters");
	cr_assert_eq(status.holder_count, 2);
	cr_assert_not_null(status.holders);
	expect_holder(&status.holders[0], "host1", 100, "sleep", 40000, 20000, 9, 50000, false);
	expect_holder(&status.holders[1], "host2", 200, "make", 45000, 25000,
		9223372036854775807ull, 50000, false);
	free(status.holders);
}

Test(lock_decode_holders, break_with_two_readers_removed) {
	struct lock_status status;
	decode_holders_ok("*15\r\n:50000\r\n"
			  "$5\r\nhost1\r\n:100\r\n$4\r\nread\r\n:40000\r\n:20000\r\n:9\r\n"
			  "$1\r\ns\r\n"
			  "$5\r\nhost2\r\n:200\r\n$4\r\nread\r\n:45000\r\n:-5\r\n:10\r\n"
			  "$1\r\ns\r\n",
		false, &status);
	cr_assert_eq(status.holder_count, 2);
	cr_assert_not_null(status.holders);
	expect_holder(&status.holders[0], "host1", 100, "read", 40000, 20000, 9, 50000, true);
	expect_holder(&status.holders[1], "host2", 200, "read", 45000, -5, 10, 50000, true);
	free(status.holders);
}

Test(lock_decode_holders, overlong_strings_are_cut_safely) {
	char host[1000], task[2000], resp[4000];
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	memset(task, 't', sizeof(task) - 1);
	task[sizeof(task) - 1] = '\0';
	int n = snprintf(resp, sizeof(resp),
		"*8\r\n:1\r\n$%zu\r\n%s\r\n:1\r\n$%zu\r\n%s\r\n:1\r\n:1\r\n:1\r\n$1\r\ns\r\n",
		strlen(host), host, strlen(task), task);
	cr_assert(n > 0 && (size_t)n < sizeof(resp));
	struct lock_status status;
	decode_holders_ok(resp, false, &status);
	cr_assert_eq(status.holder_count, 1);
	cr_expect_eq(strlen(status.holders[0].host), sizeof(status.holders[0].host) - 1);
	cr_expect_eq(strlen(status.holders[0].task), sizeof(status.holders[0].task) - 1);
	cr_expect_eq(strncmp(status.holders[0].host, host, strlen(status.holders[0].host)), 0);
	cr_expect_eq(strncmp(status.holders[0].task, task, strlen(status.holders[0].task)), 0);
	cr_expect(status.holders[0].shared);
	free(status.holders);
}

/* One valid holder of each mode, to build the garbage cases from. */
#define H_FIELDS "$1\r\nh\r\n:1\r\n$1\r\nt\r\n:1000\r\n:100\r\n:7\r\n" /* all but the mode */
#define H_OK H_FIELDS "$1\r\nx\r\n"
#define H_SHARED H_FIELDS "$1\r\ns\r\n"

struct holders_garbage_case {
	const char *what;
	bool with_waiters;
	const char *resp;
};

Test(lock_decode_holders, garbage_bases_are_valid) {
	static const struct holders_garbage_case bases[] = {
		{"status base", true, "*16\r\n:1\r\n:0\r\n" H_OK H_OK},
		{"break base", false, "*15\r\n:1\r\n" H_OK H_OK},
		{"status shared base", true, "*16\r\n:1\r\n:0\r\n" H_SHARED H_SHARED},
		{"break shared base", false, "*15\r\n:1\r\n" H_SHARED H_SHARED},
	};
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		struct lock_status status;
		decode_holders_ok(bases[i].resp, bases[i].with_waiters, &status);
		cr_expect_eq(status.holder_count, 2, "%s", bases[i].what);
		free(status.holders);
	}
}

/* Decodes `reply`, which must be rejected as the server's fault without touching *status. */
static void expect_holders_rejected(const char *what, const redisReply *reply, bool with_waiters) {
	struct lock_status status;
	struct rw_error err = {0};
	fill_sentinel(&status, sizeof(status));
	enum lock_result result = lock_decode_holders(reply, with_waiters, &status, &err);
	cr_expect_eq(result, LOCK_RESULT_ERROR, "%s: result %d", what, result);
	cr_expect_eq(err.kind, RW_ERROR_SERVER, "%s: kind %d", what, err.kind);
	cr_expect_neq(err.message[0], '\0', "%s: no message", what);
	cr_expect(is_sentinel(&status, sizeof(status)), "%s: status written", what);
	if (result != LOCK_RESULT_ERROR && !is_sentinel(&status, sizeof(status))) {
		free(status.holders);
	}
}

Test(lock_decode_holders, rejects_garbage) {
	static const struct holders_garbage_case cases[] = {
		/* not an array */
		{"status: status", true, "+OK\r\n"},
		{"status: nil", true, "$-1\r\n"},
		{"status: error", true, "-ERR boom\r\n"},
		{"status: integer", true, ":1\r\n"},
		{"status: string", true, "$2\r\nhi\r\n"},
		{"status: nil array", true, "*-1\r\n"},
		{"break: status", false, "+OK\r\n"},
		{"break: nil", false, "$-1\r\n"},
		{"break: integer", false, ":1\r\n"},
		{"break: string", false, "$2\r\nhi\r\n"},
		{"break: nil array", false, "*-1\r\n"},
		/* element count not first + 7k */
		{"status: empty array", true, "*0\r\n"},
		{"status: now only", true, "*1\r\n:1\r\n"},
		{"status: 3 elements", true, "*3\r\n:1\r\n:0\r\n$1\r\nh\r\n"},
		{"status: old 6-field holder", true, "*8\r\n:1\r\n:0\r\n" H_FIELDS},
		{"status: old 6-field holders, 2", true, "*14\r\n:1\r\n:0\r\n" H_FIELDS H_FIELDS},
		{"status: 10 elements", true, "*10\r\n:1\r\n:0\r\n" H_OK ":1\r\n"},
		{"status: 15 elements", true, "*15\r\n:1\r\n:0\r\n" H_OK H_FIELDS},
		{"break: empty array", false, "*0\r\n"},
		{"break: 2 elements", false, "*2\r\n:1\r\n$1\r\nh\r\n"},
		{"break: old 6-field holder", false, "*7\r\n:1\r\n" H_FIELDS},
		{"break: old 6-field holders, 2", false, "*13\r\n:1\r\n" H_FIELDS H_FIELDS},
		{"break: 9 elements", false, "*9\r\n:1\r\n" H_OK ":1\r\n"},
		{"break: 14 elements", false, "*14\r\n:1\r\n" H_OK H_FIELDS},
		/* 7 old 6-field holders make 42 elements, a multiple of 7: the count fits, the
		 * fields do not (the first "mode" is the second holder's host) */
		{"status: old 6-field holders, 7", true,
			"*44\r\n:1\r\n:0\r\n" H_FIELDS H_FIELDS H_FIELDS H_FIELDS H_FIELDS H_FIELDS
			H_FIELDS},
		{"break: old 6-field holders, 7", false,
			"*43\r\n:1\r\n" H_FIELDS H_FIELDS H_FIELDS H_FIELDS H_FIELDS H_FIELDS H_FIELDS},
		/* a status answer read as a break answer and the other way round */
		{"status answer as break, no holder", false, "*2\r\n:1\r\n:0\r\n"},
		{"status answer as break, 1 holder", false, "*9\r\n:1\r\n:0\r\n" H_OK},
		{"break answer as status, no holder", true, "*1\r\n:1\r\n"},
		{"break answer as status, 1 holder", true, "*8\r\n:1\r\n" H_OK},
		/* now and waiters */
		{"status: negative now", true, "*2\r\n:-1\r\n:0\r\n"},
		{"status: now string", true, "*2\r\n$1\r\n1\r\n:0\r\n"},
		{"status: now nil", true, "*2\r\n$-1\r\n:0\r\n"},
		{"status: negative waiters", true, "*2\r\n:1\r\n:-1\r\n"},
		{"status: waiters string", true, "*2\r\n:1\r\n$1\r\n0\r\n"},
		{"status: waiters nil", true, "*2\r\n:1\r\n$-1\r\n"},
		{"status: waiters array", true, "*2\r\n:1\r\n*0\r\n"},
		{"status: negative waiters with a holder", true, "*9\r\n:1\r\n:-3\r\n" H_OK},
		{"break: negative now", false, "*1\r\n:-1\r\n"},
		{"break: now string", false, "*1\r\n$1\r\n1\r\n"},
		{"break: negative now with a holder", false, "*8\r\n:-1\r\n" H_OK},
		/* a bad holder: the first, or a later one once the array is allocated */
		{"status: host integer", true, "*9\r\n:1\r\n:0\r\n:7\r\n:1\r\n$1\r\nt\r\n"
					      ":1000\r\n:100\r\n:7\r\n$1\r\nx\r\n"},
		{"status: host nil", true, "*9\r\n:1\r\n:0\r\n$-1\r\n:1\r\n$1\r\nt\r\n"
					  ":1000\r\n:100\r\n:7\r\n$1\r\nx\r\n"},
		{"status: negative pid", true, "*9\r\n:1\r\n:0\r\n$1\r\nh\r\n:-1\r\n$1\r\nt\r\n"
					      ":1000\r\n:100\r\n:7\r\n$1\r\nx\r\n"},
		{"status: pid string", true, "*9\r\n:1\r\n:0\r\n$1\r\nh\r\n$1\r\n1\r\n$1\r\nt\r\n"
					    ":1000\r\n:100\r\n:7\r\n$1\r\nx\r\n"},
		{"status: task integer", true, "*9\r\n:1\r\n:0\r\n$1\r\nh\r\n:1\r\n:5\r\n"
					      ":1000\r\n:100\r\n:7\r\n$1\r\nx\r\n"},
		{"status: negative since", true, "*9\r\n:1\r\n:0\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n"
						":-1000\r\n:100\r\n:7\r\n$1\r\nx\r\n"},
		{"status: ttl_left string", true, "*9\r\n:1\r\n:0\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n"
						 ":1000\r\n$3\r\n100\r\n:7\r\n$1\r\nx\r\n"},
		{"status: negative fence", true, "*9\r\n:1\r\n:0\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n"
						":1000\r\n:100\r\n:-7\r\n$1\r\nx\r\n"},
		{"status: fence nil", true, "*9\r\n:1\r\n:0\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n"
					   ":1000\r\n:100\r\n$-1\r\n$1\r\nx\r\n"},
		{"status: third holder's pid negative", true,
			"*23\r\n:1\r\n:0\r\n" H_OK H_OK
			"$1\r\nh\r\n:-1\r\n$1\r\nt\r\n:1000\r\n:100\r\n:7\r\n$1\r\nx\r\n"},
		{"status: second holder's task nil", true,
			"*23\r\n:1\r\n:0\r\n" H_OK
			"$1\r\nh\r\n:1\r\n$-1\r\n:1000\r\n:100\r\n:7\r\n$1\r\nx\r\n" H_OK},
		{"break: negative pid", false,
			"*8\r\n:1\r\n$1\r\nh\r\n:-1\r\n$1\r\nt\r\n:1000\r\n:100\r\n:7\r\n$1\r\nx\r\n"},
		{"break: negative fence", false,
			"*8\r\n:1\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n:1000\r\n:100\r\n:-7\r\n$1\r\nx\r\n"},
		{"break: host as status", false,
			"*8\r\n:1\r\n+h\r\n:1\r\n$1\r\nt\r\n:1000\r\n:100\r\n:7\r\n$1\r\nx\r\n"},
		{"break: second holder's fence negative", false,
			"*15\r\n:1\r\n" H_OK
			"$1\r\nh\r\n:1\r\n$1\r\nt\r\n:1000\r\n:100\r\n:-1\r\n$1\r\nx\r\n"},
		{"break: second holder's since string", false,
			"*15\r\n:1\r\n" H_OK
			"$1\r\nh\r\n:1\r\n$1\r\nt\r\n$1\r\n1\r\n:100\r\n:7\r\n$1\r\nx\r\n"},
		/* the mode: exactly "x" or "s" */
		{"status: mode X", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$1\r\nX\r\n"},
		{"status: mode S", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$1\r\nS\r\n"},
		{"status: mode e", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$1\r\ne\r\n"},
		{"status: mode ?", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$1\r\n?\r\n"},
		{"status: mode 0", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$1\r\n0\r\n"},
		{"status: mode xs", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$2\r\nxs\r\n"},
		{"status: mode sx", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$2\r\nsx\r\n"},
		{"status: mode xx", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$2\r\nxx\r\n"},
		{"status: mode x and space", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$2\r\nx \r\n"},
		{"status: mode space and s", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$2\r\n s\r\n"},
		{"status: mode s and newline", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$2\r\ns\n\r\n"},
		{"status: mode shared", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$6\r\nshared\r\n"},
		{"status: mode exclusive", true,
			"*9\r\n:1\r\n:0\r\n" H_FIELDS "$9\r\nexclusive\r\n"},
		{"status: mode empty", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$0\r\n\r\n"},
		{"status: mode integer 0", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS ":0\r\n"},
		{"status: mode integer 1", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS ":1\r\n"},
		{"status: mode nil", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$-1\r\n"},
		{"status: mode as status", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "+x\r\n"},
		{"status: mode as error", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "-s\r\n"},
		{"status: mode array", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "*1\r\n$1\r\nx\r\n"},
		{"status: mode empty array", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "*0\r\n"},
		{"status: second holder's mode bad", true,
			"*16\r\n:1\r\n:0\r\n" H_SHARED H_FIELDS "$1\r\nr\r\n"},
		{"status: third holder's mode nil", true,
			"*23\r\n:1\r\n:0\r\n" H_OK H_OK H_FIELDS "$-1\r\n"},
		{"break: mode xs", false, "*8\r\n:1\r\n" H_FIELDS "$2\r\nxs\r\n"},
		{"break: mode integer", false, "*8\r\n:1\r\n" H_FIELDS ":1\r\n"},
		{"break: mode nil", false, "*8\r\n:1\r\n" H_FIELDS "$-1\r\n"},
		{"break: mode w", false, "*8\r\n:1\r\n" H_FIELDS "$1\r\nw\r\n"},
		{"break: second holder's mode empty", false,
			"*15\r\n:1\r\n" H_OK H_FIELDS "$0\r\n\r\n"},
		/* the mode in another place than last */
		{"status: mode first", true, "*9\r\n:1\r\n:0\r\n$1\r\nx\r\n" H_FIELDS},
		{"break: mode before the fence", false,
			"*8\r\n:1\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n:1000\r\n:100\r\n$1\r\ns\r\n:7\r\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *reply = reply_from_resp(cases[i].resp);
		expect_holders_rejected(cases[i].what, reply, cases[i].with_waiters);
		freeReplyObject(reply);
	}
}

/* A mode with a NUL byte after its letter ("x\0", "s\0") is no mode: a C string compare
 * alone would take it for "x" or "s". RESP carries the length, so the bytes come in as is. */
Test(lock_decode_holders, rejects_a_mode_with_a_nul_byte) {
	static const struct {
		const char *what;
		bool with_waiters;
		const char *resp;
		size_t len;
	} cases[] = {
#define NUL_CASE(what, with_waiters, resp) {what, with_waiters, resp, sizeof(resp) - 1}
		NUL_CASE("status: mode x NUL", true,
			"*9\r\n:1\r\n:0\r\n" H_FIELDS "$2\r\nx\0\r\n"),
		NUL_CASE("status: mode s NUL", true,
			"*9\r\n:1\r\n:0\r\n" H_FIELDS "$2\r\ns\0\r\n"),
		NUL_CASE("status: mode NUL x", true,
			"*9\r\n:1\r\n:0\r\n" H_FIELDS "$2\r\n\0x\r\n"),
		NUL_CASE("status: mode NUL", true, "*9\r\n:1\r\n:0\r\n" H_FIELDS "$1\r\n\0\r\n"),
		NUL_CASE("break: mode s NUL s", false, "*8\r\n:1\r\n" H_FIELDS "$3\r\ns\0s\r\n"),
#undef NUL_CASE
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *reply = reply_from_resp_len(cases[i].resp, cases[i].len);
		expect_holders_rejected(cases[i].what, reply, cases[i].with_waiters);
		freeReplyObject(reply);
	}
}
