/* The lock protocol: each step one atomic Lua script on the server (EVALSHA, falling back
 * to EVAL on NOSCRIPT), the waiter's blocking wait for its wake-up (BLPOP), and the pure
 * decoding of the answers.
 *
 * Server data for lock L under prefix P; every key shares the hash tag {L} (see
 * src/lua/common.lua for their types):
 *   P{L}:holders  P{L}:info  P{L}:fence       who holds it; the fence counter
 *   P{L}:queue  P{L}:qexp  P{L}:seq           the FIFO queue of waiters
 *   P{L}:wake:TOKEN                           one waiter's wake-up list
 *   P{L}:watch                                the watchers (quorum mode) */
#ifndef RWITH_LOCK_H
#define RWITH_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "conn.h"
#include "error.h"
#include "options.h"

#define LOCK_TOKEN_BYTES 16 /* 128 bits from getrandom(2) */
#define LOCK_KEY_MAX (LOCK_NAME_MAX + 300)
#define LOCK_KEY_COUNT 8

struct lock_holder {
	char host[256];       /* empty when the answer named no holder */
	long pid;
	char task[512];
	uint64_t since_ms;    /* server clock, Unix epoch */
	int64_t ttl_left_ms;
	uint64_t fence;
	uint64_t server_now_ms; /* the server's clock when it answered */
	bool shared;            /* holds a shared (reader) lock */
};

/* A busy acquire's answer. */
struct lock_busy {
	struct lock_holder holder;
	long position;       /* 0-based place in the queue, -1 when not queued */
	long waiters;        /* the queue's length */
	int64_t recheck_ms;  /* look again after this long at the latest */
};

struct lock_status {
	uint64_t server_now_ms;
	long waiters;
	size_t holder_count;
	struct lock_holder *holders; /* holder_count entries; owned by the decoder's caller */
};

struct lock {
	char keys[LOCK_KEY_COUNT][LOCK_KEY_MAX];
	char wake_key[LOCK_KEY_MAX + LOCK_TOKEN_BYTES * 2];
	char token[LOCK_TOKEN_BYTES * 2 + 1]; /* hex */
	char host[256];
	char pid[24];
	char ttl[24];
	char limit[24];
	char min_hold[24];
	const char *mode; /* "x" or "s" */
	const char *task; /* borrowed from the options */
	const char *name; /* borrowed from the options */
	uint64_t fence;   /* valid once acquired */
	uint64_t held_left_ms; /* lock_held: how long the token still held it when asked */
	bool sync;        /* --sync: acquire and extend wait for every online replica */
	/* lock_wait_then_acquire: why the BLPOP in front of the acquire failed, if it did */
	bool wait_failed;
	struct rw_error wait_err;
};

enum lock_try {
	LOCK_TRY_ONCE,  /* a single try (--nonblock) */
	LOCK_TRY_QUEUE, /* take or keep a place in the FIFO queue when busy */
	LOCK_TRY_WATCH, /* quorum mode: no place, but woken (lock_wait) when room appears */
};

enum lock_result {
	LOCK_RESULT_ERROR = -1,
	LOCK_RESULT_NO = 0,  /* acquire: busy; extend/release: not held; wait: timed out */
	LOCK_RESULT_YES = 1, /* acquire: acquired; extend: extended; release: was held;
	                        wait: woken; leave, status, break: done */
};

/* `busy` is set for a busy acquire only, `status` for status and break (the holders that
 * were removed) only, `err` for LOCK_RESULT_ERROR only. */
typedef void lock_done_cb(enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err, void *data);

/* Builds the key names and a fresh random token. Fails only if the OS has no randomness or
 * a key would be too long. */
int lock_init(struct lock *lock, const struct rw_options *opts, struct rw_error *err);

/* Each call starts one request on `conn` (borrowed; it must outlive the callback) and
 * reports exactly once, or fails to start, returning -1 with err set and never calling
 * back. `how`: what a busy answer leaves behind.
 *
 * With lock->sync, acquire and extend succeed only once every replica online on the
 * master has acknowledged them (WAIT). An acquire granted but not acknowledged in time is
 * given back (the leave script) and reported as an error with `final` set; an extension
 * not acknowledged is an error like any failed extension. */
int lock_acquire(struct lock *lock, struct conn *conn, uint64_t timeout_ms, enum lock_try how,
	lock_done_cb *cb, void *data, struct rw_error *err);
int lock_extend(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err);
int lock_release(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err);
int lock_leave(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err);
/* Whether lock->token still holds the lock (YES, with lock->held_left_ms set to the time
 * its entry has left on the server's clock) or not (NO); reads only. For a nested rwith
 * that joins an outer holder's hold (lock_init, then the token replaced). */
int lock_held(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err);
int lock_status(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err);
int lock_break(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err);

/* Blocks on this waiter's wake-up list for at most wait_ms (BLPOP; the connection is busy
 * meanwhile): LOCK_RESULT_YES when woken, NO when the time ran out. */
int lock_wait(struct lock *lock, struct conn *conn, uint64_t wait_ms, lock_done_cb *cb,
	void *data, struct rw_error *err);

/* lock_wait, then lock_acquire(LOCK_TRY_QUEUE) pipelined behind it on the same connection:
 * the server runs the acquire the moment the BLPOP returns, woken or timed out, so a woken
 * waiter takes the lock without another round trip. Reports the acquire's answer once
 * (`timeout_ms` is its own time after the BLPOP's wait_ms); a busy answer is reported as an
 * error when the BLPOP failed, so that a BLPOP refused at once is not retried at once. The
 * grant happened after this call: time taken now is a safe start of its validity. */
int lock_wait_then_acquire(struct lock *lock, struct conn *conn, uint64_t wait_ms,
	uint64_t timeout_ms, lock_done_cb *cb, void *data, struct rw_error *err);

/* Replaces control characters in a holder's host and task with '?', so that a task with a
 * newline stays on one line of text output (JSON output escapes them instead). */
void lock_holder_printable(const struct lock_holder *holder, struct lock_holder *ret);

/* Pure reply decoding, exposed for the unit tests. On LOCK_RESULT_ERROR err says what was
 * wrong. lock_decode_holders fills *ret (its holders array is malloc'd: free it). */
enum lock_result lock_decode_acquire(const redisReply *reply, uint64_t *ret_fence,
	struct lock_busy *ret_busy, struct rw_error *err);
enum lock_result lock_decode_flag(const redisReply *reply, struct rw_error *err);
enum lock_result lock_decode_left(const redisReply *reply, uint64_t *ret_left_ms,
	struct rw_error *err);
enum lock_result lock_decode_holders(const redisReply *reply, bool with_waiters,
	struct lock_status *ret, struct rw_error *err);

#endif
