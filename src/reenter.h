/* Re-entrant locks: a command running under LOCK (wrapped by rwith, or in a script that
 * holds it with --hold) gets its hold in $RWITH_HOLD; an rwith it runs for the same lock,
 * servers and prefix asks the server once whether that hold is still valid and then joins
 * it (session_join) instead of waiting for itself: the command runs at once, supervised as
 * any command (its own process group, the guard, a heartbeat that extends the hold's entry
 * and terminates the command if the lock is lost), with the hold's fence, and the hold is
 * not released at its end. */
#ifndef RWITH_REENTER_H
#define RWITH_REENTER_H

#include <uv.h>

#include "error.h"
#include "options.h"
#include "session.h"
#include "tls.h"

struct reenter {
	struct rw_options opts;   /* the caller's, with the hold's --ttl */
	struct session_join join;
};

/* Looks in opts->hold_env for a hold of the lock opts names and asks the server (in quorum
 * mode, a majority) whether it still holds it, running `loop` until it knows. Returns 1
 * with *ret filled for session_run when it does; 0 when there is no such hold or it has
 * ended (acquire the lock as usual); -1 with err set when the server could not be asked
 * or the request cannot join the hold (exclusive inside a shared hold). */
int reenter_find(uv_loop_t *loop, const struct rw_options *opts, const struct tls_context *tls,
	struct reenter *ret, struct rw_error *err);

#endif
