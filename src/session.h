/* One run of rwith: acquire the lock, run the command while a heartbeat extends it,
 * terminate the command if the lock is lost, release it when the command exits. Joins the
 * connection, the lock protocol, the waiter and the child on one uv_loop_t. */
#ifndef RWITH_SESSION_H
#define RWITH_SESSION_H

#include <stdbool.h>

#include <uv.h>

#include "child.h"
#include "lock.h"
#include "error.h"
#include "options.h"
#include "tls.h"

struct session_outcome {
	struct rw_error err; /* kind RW_ERROR_NONE: the command ran; see status */
	bool command_ran;
	int command_status;  /* the contract's status of the command, when it ran */
	int command_signal;  /* the signal that killed the command, or 0 */
};

struct session_hold;

/* A hold (--hold, see hold.h): once the lock is granted, the session adopts the process the
 * hold belongs to (child_adopt) instead of starting a command, and holds the lock with its
 * heartbeat until that process exits, the hold is ended (child_end on `child`), or the lock
 * is lost (then the owner gets SIGTERM and SIGKILL as a command would). */
typedef int session_granted_cb(struct session_hold *hold, uint64_t fence, const char *token,
	struct rw_error *err);
typedef void session_finished_cb(struct session_hold *hold);

struct session_hold {
	pid_t owner;
	int owner_fd; /* child_open_process's; taken over by the session */
	/* The lock is granted and the owner adopted: returns 0 to hold it, or -1 with err set
	 * to give it back and end with that error. */
	session_granted_cb *granted;
	/* The session ends (its outcome is set) and closes its handles: close yours. */
	session_finished_cb *finished;
	void *data;
	/* Set by the session: */
	struct child *child; /* the adopted owner, while held */
	bool lost;           /* the lock was lost (the owner has been sent SIGTERM) */
};

/* A nested rwith that joins a hold it found held (reenter.h): the lock is held already,
 * under `token`. The command starts at once; the heartbeat extends that holder's entry
 * (by opts' --ttl, which must be the holder's own), the deadline counts from what the
 * entry had left, and nothing is released at the end: the hold is the outer holder's. */
struct session_join {
	char token[LOCK_TOKEN_BYTES * 2 + 1];
	uint64_t fence;
	uint64_t valid_until_ms; /* clock_mono_ms() time until which the entry surely lasts */
};

/* Runs the whole session on `loop` (which must have no other handles but those of `hold`)
 * and returns when everything is closed. `opts` and `startup` are borrowed; `hold` is NULL
 * to run opts' command, `join` NULL to acquire the lock. Never exits, never prints
 * anything but warnings and progress through log.h. */
void session_run(uv_loop_t *loop, const struct rw_options *opts, const struct tls_context *tls,
	const struct child_startup *startup, struct session_hold *hold,
	const struct session_join *join, struct session_outcome *ret);

/* The timing rules, exposed for the unit tests. All in ms. */
struct session_timing {
	uint64_t heartbeat;       /* effective --heartbeat */
	uint64_t request_timeout; /* per extend request */
	uint64_t retry_delay;     /* after a failed extend */
	uint64_t kill_after;      /* effective --kill-after */
	uint64_t kill_margin;     /* SIGKILL goes this long before the TTL deadline */
};

void session_compute_timing(uint64_t ttl_ms, uint64_t heartbeat_ms, uint64_t kill_after_ms,
	struct session_timing *ret);

#endif
