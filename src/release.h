/* --release [LOCK]: ends the hold $RWITH_HOLD names (see hold.h). */
#ifndef RWITH_RELEASE_H
#define RWITH_RELEASE_H

#include "error.h"
#include "options.h"

/* Ends the hold $RWITH_HOLD names for LOCK (or its newest hold): err kind NONE once the
 * lock is released, RW_ERROR_LOST when the hold had been lost or had ended. */
void release_run(const struct rw_options *opts, struct rw_error *err);

#endif
