/* Quorum mode: one lock on several independent servers, held while a majority of them hold
 * it (the Redlock idea). Each step of the lock protocol goes to every server at once and
 * reports once, with the majority's verdict, through the same callback type as lock.h.
 *
 *   acquire  YES: a majority granted it; then every granting server's fence counter is
 *            raised to the largest fence among them, so that RWITH_FENCE still grows with
 *            every acquisition (any two majorities share a server). NO: no majority; the
 *            places granted are given back at once. ERROR: a majority could not answer.
 *   extend   where granted; a server that missed the acquire (down, restarted) is asked
 *            to grant it now, so the lock survives a minority down at any one time. YES: a
 *            majority holds it. NO: so many servers said no that no majority can. ERROR:
 *            otherwise (slow or unreachable servers).
 *   release  goes to every server; YES, NO and ERROR as for extend.
 *   leave    gives up a try: drops whatever was granted; always YES.
 *   held     whether the token holds the lock: YES (lock->held_left_ms: the least time
 *            left among the servers that hold it), NO and ERROR as for extend.
 *   status   the first server's view (in -r order) among those that answered, when a
 *            majority answered; break removes the holders on every server that answers.
 *
 * Waiting in quorum mode takes no place in the servers' FIFO queues (queues on several
 * servers can leave every waiter at the head of a minority, short of a majority): a waiter
 * watches (it is counted as a waiter and woken whenever room appears) and tries again when
 * woken. FIFO order is best effort; no waiter waits while the lock is free. */
#ifndef RWITH_QUORUM_H
#define RWITH_QUORUM_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "error.h"
#include "lock.h"
#include "options.h"
#include "tls.h"

struct quorum;

/* Starts no connection yet. `lock` (borrowed) is the template for every server's copy of
 * the lock, and receives the fence on a successful acquire. Returns NULL when out of
 * memory. */
struct quorum *quorum_create(uv_loop_t *loop, const struct rw_options *opts,
	const struct tls_context *tls, struct lock *lock);

/* Each starts a round on every server and reports exactly once (callbacks as in lock.h),
 * or returns -1 with err set and never calls back. A new round may start while an older
 * one still waits for late answers; those then only tidy up. */
int quorum_acquire(struct quorum *q, uint64_t timeout_ms, bool watch, lock_done_cb *cb,
	void *data, struct rw_error *err);
int quorum_extend(struct quorum *q, uint64_t timeout_ms, lock_done_cb *cb, void *data,
	struct rw_error *err);
int quorum_release(struct quorum *q, uint64_t timeout_ms, lock_done_cb *cb, void *data,
	struct rw_error *err);
int quorum_leave(struct quorum *q, uint64_t timeout_ms, lock_done_cb *cb, void *data,
	struct rw_error *err);
int quorum_held(struct quorum *q, uint64_t timeout_ms, lock_done_cb *cb, void *data,
	struct rw_error *err);
int quorum_status(struct quorum *q, uint64_t timeout_ms, lock_done_cb *cb, void *data,
	struct rw_error *err);
int quorum_break(struct quorum *q, uint64_t timeout_ms, lock_done_cb *cb, void *data,
	struct rw_error *err);

/* Waits (BLPOP) for this watcher's wake-up on one server for at most wait_ms, after an
 * acquire with `watch` found the lock busy: YES when woken, NO when the time ran out. The
 * next round of another kind cancels it. */
int quorum_wait(struct quorum *q, uint64_t wait_ms, lock_done_cb *cb, void *data,
	struct rw_error *err);

/* Takes the lock as held on every server with `fence`, as if acquired: for a nested rwith
 * that joins a hold quorum_held found held, so that its extensions count where it is held. */
void quorum_adopt(struct quorum *q, uint64_t fence);

/* How many servers must agree. */
size_t quorum_majority(size_t server_count);

/* Cancels every request (their callbacks report nothing more) and closes the connections.
 * Accepts NULL. */
void quorum_destroy(struct quorum *q);

#endif
