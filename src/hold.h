/* Locks for scripts: `eval "$(rwith --hold LOCK)"` holds LOCK across the commands of a
 * script, `rwith --release` lets it go, and a nested `rwith LOCK -- CMD` under a hold runs
 * CMD at once instead of waiting for itself.
 *
 * --hold: rwith forks a keeper at once. The keeper runs an ordinary session (waiting as
 * `rwith LOCK -- ...` waits, its messages on rwith's stderr, interrupted with rwith) whose
 * "command" is the process the hold belongs to (--pid, else rwith's parent: the shell that
 * runs `eval "$(...)"`). Once granted, the keeper leaves the terminal's session (setsid),
 * closes its stdio, listens for --release on a socket only its token names, and tells
 * rwith, which prints the shell assignments and exits 0. The keeper then extends the lock
 * until the owner exits (pidfd), --release ends the hold, or the lock is lost: then the
 * owner gets SIGTERM, and SIGKILL --kill-after later, as a wrapped command would. The
 * keeper signals the owner alone, never its process group, which is not the keeper's: the
 * group of an interactive shell is the shell's job, a script's may be its caller's. */
#ifndef RWITH_HOLD_H
#define RWITH_HOLD_H

#include <uv.h>

#include "child.h"
#include "error.h"
#include "options.h"
#include "session.h"
#include "tls.h"

#define HOLD_TASK_MAX 256

/* The keeper's part of a hold, made by hold_start. */
struct hold_keeper {
	struct rw_options opts; /* rwith's, with the task set */
	char task[HOLD_TASK_MAX + 1];
	pid_t owner;
	int owner_fd;   /* child_open_process's */
	int handoff_fd; /* to rwith, until the hold is taken */
	int listen_fd;  /* --release connects here */
	int client_fd;  /* a --release waiting for its answer, or -1 */
	uv_poll_t listen_poll, client_poll;
	uv_loop_t *loop;
	struct session_outcome *outcome;
	struct session_hold hold;
};

enum hold_role {
	HOLD_ROLE_RWITH,  /* the process that was started: done, *ret says how */
	HOLD_ROLE_KEEPER, /* the keeper: go on with hold_keep */
};

/* --hold, first half, before any event loop exists: picks the owner, forks the keeper and,
 * in rwith, waits until the keeper holds the lock (then prints the shell assignments on
 * stdout) or ends (then nothing goes to stdout, and rwith exits as the keeper did). */
enum hold_role hold_start(const struct rw_options *opts, struct hold_keeper *ret_keeper,
	const struct child_startup *startup, struct session_outcome *ret);

/* --hold, in the keeper: the session that waits for the lock and then holds it. */
void hold_keep(uv_loop_t *loop, const struct tls_context *tls,
	const struct child_startup *startup, struct hold_keeper *keeper,
	struct session_outcome *ret);

/* --release [LOCK]: ends the hold $RWITH_HOLD names for LOCK (or its newest hold). err
 * kind NONE once the lock is released, RW_ERROR_LOST when the hold had been lost. */
void hold_release(uv_loop_t *loop, const struct rw_options *opts, const struct tls_context *tls,
	struct rw_error *err);

/* Re-entrancy: when $RWITH_HOLD carries a hold of the lock opts names, checks once with the
 * server that it is still held and then replaces rwith by the command (exec), with that
 * hold's RWITH_FENCE. Returns only when it did not: 0 when there is no such hold (or it is
 * gone: acquire as usual), -1 with err set when the command cannot run under it. */
int hold_reenter(uv_loop_t *loop, const struct rw_options *opts, const struct tls_context *tls,
	const struct child_startup *startup, struct rw_error *err);

#endif
