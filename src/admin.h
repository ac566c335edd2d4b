/* The operator's commands: --status [--json] shows who holds a lock and how many wait;
 * --break removes every holder and wakes the waiters; --list [--json] shows every lock
 * under the prefix that has holders or waiters. */
#ifndef RWITH_ADMIN_H
#define RWITH_ADMIN_H

#include <uv.h>

#include "error.h"
#include "options.h"
#include "tls.h"

/* Each request of these commands must be answered within this. */
#define ADMIN_TIMEOUT_MS 2000u

/* Runs opts->action (ACTION_STATUS, ACTION_BREAK or ACTION_LIST) on `loop` and prints the
 * result to stdout; fills err (RW_ERROR_SERVER when the server could not be used). */
void admin_run(uv_loop_t *loop, const struct rw_options *opts, const struct tls_context *tls,
	struct rw_error *err);

#endif
