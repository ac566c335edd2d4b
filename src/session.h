/* One run of rwith: acquire the lock, run the command while a heartbeat extends it,
 * terminate the command if the lock is lost, release it when the command exits. Joins the
 * connection, the lock protocol, the waiter and the child on one uv_loop_t. */
#ifndef RWITH_SESSION_H
#define RWITH_SESSION_H

#include <stdbool.h>

#include <uv.h>

#include "child.h"
#include "error.h"
#include "options.h"
#include "tls.h"

struct session_outcome {
	struct rw_error err; /* kind RW_ERROR_NONE: the command ran; see status */
	bool command_ran;
	int command_status;  /* the contract's status of the command, when it ran */
};

/* Runs the whole session on `loop` (which must have no other handles) and returns when
 * everything is closed. `opts` and `startup` are borrowed. Never exits, never prints
 * anything but warnings and progress through log.h. */
void session_run(uv_loop_t *loop, const struct rw_options *opts, const struct tls_context *tls,
	const struct child_startup *startup, struct session_outcome *ret);

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
