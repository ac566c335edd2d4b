/* For the unit tests: one whole reply read from RESP text by hiredis's reader, as rwith
 * gets it from a server. The caller frees it with freeReplyObject. */
#ifndef RWITH_TEST_RESP_H
#define RWITH_TEST_RESP_H

#include <criterion/criterion.h>

#include <stddef.h>
#include <string.h>

#include <hiredis/hiredis.h>

/* `len` bytes of RESP, which may hold a NUL. */
static inline redisReply *reply_from_resp_len(const char *resp, size_t len) {
	redisReader *reader = redisReaderCreate();
	cr_assert_not_null(reader);
	cr_assert_eq(redisReaderFeed(reader, resp, len), REDIS_OK);
	void *reply = NULL;
	cr_assert_eq(
		redisReaderGetReply(reader, &reply), REDIS_OK, "bad RESP in the test: %s", resp);
	cr_assert_not_null(reply, "incomplete RESP in the test: %s", resp);
	redisReaderFree(reader);
	return reply;
}

static inline redisReply *reply_from_resp(const char *resp) {
	return reply_from_resp_len(resp, strlen(resp));
}

#endif
