/* Every decoder of server replies on what hiredis's reader makes of any bytes (bounded as
 * rwith bounds it: compat_bound_reader), and the decoders of reply text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "compat.h"
#include "fuzz.h"
#include "lock.h"
#include "scan.h"
#include "topology.h"

static void count_address(const struct topology_address *address, void *data) {
	(*(size_t *)data)++;
}

static void decode_all(const redisReply *reply) {
	struct rw_error err;
	uint64_t fence = 0;
	struct lock_busy busy;
	(void)lock_decode_acquire(reply, &fence, &busy, &err);
	(void)lock_decode_flag(reply, &err);
	(void)lock_decode_left(reply, &fence, &err);
	for (int with_waiters = 0; with_waiters < 2; with_waiters++) {
		struct lock_status status;
		memset(&status, 0, sizeof(status));
		if (lock_decode_holders(reply, with_waiters, &status, &err) != LOCK_RESULT_ERROR) {
			free(status.holders);
		}
	}
	size_t addresses = 0;
	(void)topology_decode_slots(reply, count_address, &addresses);
	(void)topology_decode_masters(reply, count_address, &addresses);
	(void)topology_decode_role_master(reply);
	struct topology_address address;
	(void)topology_decode_master_address(reply, &address);
	if (reply->type == REDIS_REPLY_ERROR || reply->type == REDIS_REPLY_STATUS) {
		(void)topology_classify_error(reply->str, &address);
		(void)topology_not_a_cluster(reply->str);
	}
	char cursor[SCAN_CURSOR_SIZE];
	const redisReply *keys;
	char name[LOCK_NAME_MAX + 1];
	if (scan_decode(reply, cursor, &keys)) {
		for (size_t i = 0; i < keys->elements; i++) {
			(void)scan_lock_name("rwith:", keys->element[i]->str, keys->element[i]->len, name);
		}
	}
	if (reply->type == REDIS_REPLY_STRING) {
		(void)topology_online_replicas(reply->str, reply->len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	redisReader *reader = redisReaderCreate();
	if (reader == NULL) {
		return 0;
	}
	compat_bound_reader(reader);
	if (redisReaderFeed(reader, (const char *)data, size) == REDIS_OK) {
		void *reply = NULL;
		/* A bounded loop: every reply takes at least three bytes of the input. */
		for (size_t i = 0; i <= size && redisReaderGetReply(reader, &reply) == REDIS_OK &&
			reply != NULL; i++) {
			decode_all(reply);
			freeReplyObject(reply);
			reply = NULL;
		}
	}
	redisReaderFree(reader);
	return 0;
}
