/* --list [--json]: every lock under the prefix that has holders or waiters, on every
 * master of every server, each with what --status would show for it. */
#ifndef RWITH_LIST_H
#define RWITH_LIST_H

#include <uv.h>

#include "error.h"
#include "options.h"
#include "tls.h"

/* Runs on `loop` (nothing else may wait on it) and prints the locks to stdout, sorted by
 * name; fills err (RW_ERROR_SERVER when a server, or in quorum mode a majority of them,
 * could not be used; nothing is printed then). Stopping short of every lock (too many,
 * or out of time) prints those found and says so on stderr. */
void list_run(uv_loop_t *loop, const struct rw_options *opts, const struct tls_context *tls,
	struct rw_error *err);

#endif
