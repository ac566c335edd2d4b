/* The lock protocol: acquire, extend and release, each one atomic Lua script on the server
 * (EVALSHA, falling back to EVAL on NOSCRIPT), plus the pure decoding of their replies.
 *
 * Server data for lock L under prefix P (every key shares the hash tag {L}):
 *   P{L}:holders  ZSET holder token -> expiry (server ms)
 *   P{L}:info     HASH holder token -> fence, host, pid, since, task
 *   P{L}:fence    counter behind RWITH_FENCE; never expires */
#ifndef RWITH_LOCK_H
#define RWITH_LOCK_H

#include <stdbool.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "conn.h"
#include "error.h"
#include "options.h"

#define LOCK_TOKEN_BYTES 16 /* 128 bits from getrandom(2) */
#define LOCK_KEY_MAX (LOCK_NAME_MAX + 300)

struct lock_holder {
	char host[256];
	long pid;
	char task[512];
	uint64_t since_ms;    /* server clock, Unix epoch */
	int64_t ttl_left_ms;
	uint64_t fence;
	uint64_t server_now_ms; /* the server's clock when it answered */
};

struct lock {
	char key_holders[LOCK_KEY_MAX];
	char key_info[LOCK_KEY_MAX];
	char key_fence[LOCK_KEY_MAX];
	char token[LOCK_TOKEN_BYTES * 2 + 1]; /* hex */
	char host[256];
	char pid[24];
	char ttl[24];
	char limit[24];
	const char *task; /* borrowed from the options */
	const char *name; /* borrowed from the options */
	uint64_t fence;   /* valid once acquired */
};

enum lock_result {
	LOCK_RESULT_ERROR = -1,
	LOCK_RESULT_NO = 0,  /* acquire: busy; extend/release: not held any more */
	LOCK_RESULT_YES = 1, /* acquire: acquired; extend: extended; release: was held */
};

/* `holder` is set for a busy acquire only; `err` for LOCK_RESULT_ERROR only. */
typedef void lock_done_cb(enum lock_result result, const struct lock_holder *holder,
	const struct rw_error *err, void *data);

/* Builds the key names and a fresh random token. Fails only if the OS has no randomness or
 * a key would be too long. */
int lock_init(struct lock *lock, const struct rw_options *opts, struct rw_error *err);

/* Each call starts one script on `conn` (borrowed; it must outlive the call's callback) and
 * reports exactly once, or fails to start, returning -1 with err set and never calling back. */
int lock_acquire(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err);
int lock_extend(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err);
int lock_release(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err);

/* Pure reply decoding, exposed for the unit tests. Both return a lock_result; on
 * LOCK_RESULT_ERROR err says what was wrong with the reply. */
enum lock_result lock_decode_acquire(const redisReply *reply, uint64_t *ret_fence,
	struct lock_holder *ret_holder, struct rw_error *err);
enum lock_result lock_decode_flag(const redisReply *reply, struct rw_error *err);

#endif
