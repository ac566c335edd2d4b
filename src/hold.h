/* Locks for scripts: `hold=$(rwith --hold LOCK) && eval "$hold"` holds LOCK across the
 * commands of a script, and `rwith --release` lets it go (release.c).
 *
 * --hold: rwith forks a keeper at once, before any event loop exists. The keeper runs an
 * ordinary session (waiting as `rwith LOCK -- ...` waits, its messages on rwith's stderr,
 * interrupted with rwith, which passes its signals on and whose death ends the keeper)
 * whose "command" is the process the hold belongs to (--pid, else rwith's parent: the shell
 * that runs the substitution). Once granted, the keeper listens for --release on a socket
 * its token names, leaves the terminal's session (setsid), closes its stdio, and hands the
 * fence and token to rwith, which prints the shell assignments, acknowledges them and
 * exits 0. The keeper then extends the lock until the owner exits (pidfd), --release ends
 * the hold, or the lock is lost: then the owner gets SIGTERM, and SIGKILL --kill-after
 * later, as a wrapped command would. The keeper signals the owner alone, never its process
 * group, which is not the keeper's: an interactive shell's group is its job's, a script's
 * may be its caller's. The keeper has no guard: frozen itself, it cannot keep the deadline
 * for the owner. */
#ifndef RWITH_HOLD_H
#define RWITH_HOLD_H

#include <sys/socket.h>
#include <sys/un.h>

#include <uv.h>

#include "child.h"
#include "error.h"
#include "options.h"
#include "session.h"
#include "tls.h"

#define HOLD_TASK_MAX 256

/* A descriptor the keeper watches on its loop; closed with its handle. */
struct hold_fd {
	uv_poll_t poll; /* first: the close callback finds the struct from the handle */
	int fd;         /* -1: none */
	bool watched;   /* poll is initialized (and not yet closed) */
};

/* The keeper's part of a hold, made by hold_start. */
struct hold_keeper {
	struct rw_options opts; /* rwith's, with the task set */
	char task[HOLD_TASK_MAX + 1];
	pid_t owner;
	int owner_fd;            /* child_open_process's, until the session adopts it */
	struct hold_fd handoff;  /* to rwith, until it has acknowledged the assignments */
	struct hold_fd listener; /* --release connects here */
	struct hold_fd client;   /* a --release waiting for its answer */
	uv_timer_t client_timer; /* drops a client that asks nothing */
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
 * stdout) or ends (then nothing goes to stdout, and rwith ends as the keeper did). */
enum hold_role hold_start(const struct rw_options *opts, struct hold_keeper *ret_keeper,
	const struct child_startup *startup, struct session_outcome *ret);

/* --hold, in the keeper: the session that waits for the lock and then holds it. */
void hold_keep(uv_loop_t *loop, const struct tls_context *tls,
	const struct child_startup *startup, struct hold_keeper *keeper,
	struct session_outcome *ret);

/* The keeper's socket for `token`: in the abstract namespace (no file to leave behind, but
 * visible in /proc/net/unix and scoped to the network namespace), so both ends check that
 * the other is the same user. Returns the address's length. */
socklen_t hold_keeper_address(const char *token, struct sockaddr_un *ret);

#endif
