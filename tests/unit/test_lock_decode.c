/* lock_decode_acquire and lock_decode_flag: the replies the scripts give, and garbage a
 * broken or foreign server could send instead, built from RESP text by hiredis's reader. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "lock.h"

#define UNTOUCHED_FENCE 0x5eedull

/* Parses one whole reply from `resp`; the caller frees it with freeReplyObject. */
static redisReply *reply_from_resp(const char *resp) {
	redisReader *reader = redisReaderCreate();
	cr_assert_not_null(reader);
	cr_assert_eq(redisReaderFeed(reader, resp, strlen(resp)), REDIS_OK);
	void *reply = NULL;
	cr_assert_eq(
		redisReaderGetReply(reader, &reply), REDIS_OK, "bad RESP in the test: %s", resp);
	cr_assert_not_null(reply, "incomplete RESP in the test: %s", resp);
	redisReaderFree(reader);
	return reply;
}

static void fill_sentinel(struct lock_holder *holder) {
	memset(holder, 0x5a, sizeof(*holder));
}

static bool is_sentinel(const struct lock_holder *holder) {
	const unsigned char *bytes = (const unsigned char *)holder;
	for (size_t i = 0; i < sizeof(*holder); i++) {
		if (bytes[i] != 0x5a) {
			return false;
		}
	}
	return true;
}

Test(lock_decode, acquired) {
	redisReply *reply = reply_from_resp("*2\r\n:1\r\n:42\r\n");
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_holder holder;
	struct rw_error err = {0};
	fill_sentinel(&holder);
	cr_expect_eq(lock_decode_acquire(reply, &fence, &holder, &err), LOCK_RESULT_YES, "%s",
		err.message);
	cr_expect_eq(fence, 42);
	cr_expect_eq(err.kind, RW_ERROR_NONE);
	cr_expect(is_sentinel(&holder), "holder written for an acquired lock");
	freeReplyObject(reply);
}

Test(lock_decode, acquired_with_a_large_fence) {
	redisReply *reply = reply_from_resp("*2\r\n:1\r\n:9223372036854775807\r\n");
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_holder holder;
	struct rw_error err = {0};
	cr_expect_eq(lock_decode_acquire(reply, &fence, &holder, &err), LOCK_RESULT_YES);
	cr_expect_eq(fence, 9223372036854775807ull);
	freeReplyObject(reply);
}

Test(lock_decode, busy_fills_the_holder) {
	redisReply *reply = reply_from_resp("*8\r\n"
					    ":0\r\n"
					    "$7\r\nbuild-7\r\n"
					    ":4242\r\n"
					    "$11\r\nmake deploy\r\n"
					    ":1700000000000\r\n"
					    ":12345\r\n"
					    ":41\r\n"
					    ":1700000012000\r\n");
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_holder holder;
	struct rw_error err = {0};
	fill_sentinel(&holder);
	cr_assert_eq(lock_decode_acquire(reply, &fence, &holder, &err), LOCK_RESULT_NO, "%s",
		err.message);
	cr_expect_eq(err.kind, RW_ERROR_NONE);
	cr_expect_eq(fence, UNTOUCHED_FENCE, "fence written for a busy lock");
	cr_expect_str_eq(holder.host, "build-7");
	cr_expect_eq(holder.pid, 4242);
	cr_expect_str_eq(holder.task, "make deploy");
	cr_expect_eq(holder.since_ms, 1700000000000ull);
	cr_expect_eq(holder.ttl_left_ms, 12345);
	cr_expect_eq(holder.fence, 41);
	cr_expect_eq(holder.server_now_ms, 1700000012000ull);
	freeReplyObject(reply);
}

/* What acquire.lua answers when a holder's info entry is missing. */
Test(lock_decode, busy_with_the_scripts_fallback_values) {
	redisReply *reply = reply_from_resp("*8\r\n:0\r\n$1\r\n?\r\n:0\r\n$0\r\n\r\n:0\r\n:500\r\n"
					    ":0\r\n:1000\r\n");
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_holder holder;
	struct rw_error err = {0};
	cr_assert_eq(lock_decode_acquire(reply, &fence, &holder, &err), LOCK_RESULT_NO, "%s",
		err.message);
	cr_expect_str_eq(holder.host, "?");
	cr_expect_eq(holder.pid, 0);
	cr_expect_str_eq(holder.task, "");
	cr_expect_eq(holder.ttl_left_ms, 500);
	cr_expect_eq(fence, UNTOUCHED_FENCE);
	freeReplyObject(reply);
}

Test(lock_decode, busy_with_overlong_strings_is_cut_safely) {
	char host[1000], task[2000], resp[4000];
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	memset(task, 't', sizeof(task) - 1);
	task[sizeof(task) - 1] = '\0';
	int n = snprintf(resp, sizeof(resp),
		"*8\r\n:0\r\n$%zu\r\n%s\r\n:1\r\n$%zu\r\n%s\r\n:1\r\n:1\r\n:1\r\n:1\r\n",
		strlen(host), host, strlen(task), task);
	cr_assert(n > 0 && (size_t)n < sizeof(resp));
	redisReply *reply = reply_from_resp(resp);
	uint64_t fence = UNTOUCHED_FENCE;
	struct lock_holder holder;
	struct rw_error err = {0};
	cr_assert_eq(lock_decode_acquire(reply, &fence, &holder, &err), LOCK_RESULT_NO, "%s",
		err.message);
	cr_expect_lt(strlen(holder.host), sizeof(holder.host));
	cr_expect_lt(strlen(holder.task), sizeof(holder.task));
	cr_expect_eq(strncmp(holder.host, host, strlen(holder.host)), 0);
	cr_expect_eq(strncmp(holder.task, task, strlen(holder.task)), 0);
	freeReplyObject(reply);
}

struct garbage_case {
	const char *what;
	const char *resp;
};

#define BUSY_TAIL ":1700000000000\r\n:12345\r\n:41\r\n:1700000012000\r\n"

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
		{"flag -1", "*2\r\n:-1\r\n:42\r\n"},
		{"negative fence", "*2\r\n:1\r\n:-5\r\n"},
		{"zero fence", "*2\r\n:1\r\n:0\r\n"},
		{"fence as string", "*2\r\n:1\r\n$2\r\n42\r\n"},
		{"fence nil", "*2\r\n:1\r\n$-1\r\n"},
		{"fence array", "*2\r\n:1\r\n*1\r\n:42\r\n"},
		{"acquired, 3 elements", "*3\r\n:1\r\n:42\r\n:0\r\n"},
		{"busy, 2 elements", "*2\r\n:0\r\n:42\r\n"},
		{"busy, 7 elements", "*7\r\n:0\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n:1\r\n:1\r\n:1\r\n"},
		{"busy, 9 elements", "*9\r\n:0\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n" BUSY_TAIL ":1\r\n"},
		{"busy, host integer", "*8\r\n:0\r\n:7\r\n:1\r\n$1\r\nt\r\n" BUSY_TAIL},
		{"busy, host nil", "*8\r\n:0\r\n$-1\r\n:1\r\n$1\r\nt\r\n" BUSY_TAIL},
		{"busy, pid string", "*8\r\n:0\r\n$1\r\nh\r\n$2\r\n42\r\n$1\r\nt\r\n" BUSY_TAIL},
		{"busy, negative pid", "*8\r\n:0\r\n$1\r\nh\r\n:-1\r\n$1\r\nt\r\n" BUSY_TAIL},
		{"busy, task integer", "*8\r\n:0\r\n$1\r\nh\r\n:1\r\n:5\r\n" BUSY_TAIL},
		{"busy, since string",
			"*8\r\n:0\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n$1\r\n1\r\n:1\r\n:1\r\n:1\r\n"},
		{"busy, ttl nil",
			"*8\r\n:0\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n:1\r\n$-1\r\n:1\r\n:1\r\n"},
		{"busy, negative fence",
			"*8\r\n:0\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n:1\r\n:1\r\n:-41\r\n:1\r\n"},
		{"busy, negative since",
			"*8\r\n:0\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n:-1\r\n:1\r\n:1\r\n:1\r\n"},
		{"busy, negative now",
			"*8\r\n:0\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n:1\r\n:1\r\n:1\r\n:-1\r\n"},
		{"busy, now array",
			"*8\r\n:0\r\n$1\r\nh\r\n:1\r\n$1\r\nt\r\n:1\r\n:1\r\n:1\r\n*0\r\n"},
		{"busy, as status", "*8\r\n:0\r\n+h\r\n:1\r\n$1\r\nt\r\n" BUSY_TAIL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *reply = reply_from_resp(cases[i].resp);
		uint64_t fence = UNTOUCHED_FENCE;
		struct lock_holder holder;
		struct rw_error err = {0};
		fill_sentinel(&holder);
		enum lock_result result = lock_decode_acquire(reply, &fence, &holder, &err);
		cr_expect_eq(result, LOCK_RESULT_ERROR, "%s: result %d", cases[i].what, result);
		cr_expect_eq(err.kind, RW_ERROR_SERVER, "%s: kind %d", cases[i].what, err.kind);
		cr_expect_neq(err.message[0], '\0', "%s: no message", cases[i].what);
		cr_expect_eq(fence, UNTOUCHED_FENCE, "%s: fence written", cases[i].what);
		cr_expect(is_sentinel(&holder), "%s: holder written", cases[i].what);
		freeReplyObject(reply);
	}
}

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
