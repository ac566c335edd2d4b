/* Every difference between hiredis 0.14 (Debian 12) and 1.x lives here. The async API that
 * rwith uses (connect, command, free, the libuv adapter's attach) is the same in both; what
 * differs is option-based connecting and TLS, which exist only in 1.x. */
#ifndef RWITH_COMPAT_H
#define RWITH_COMPAT_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "config.h"
#include "url.h"

#define COMPAT_HIREDIS_1X (HIREDIS_MAJOR >= 1)

#if RWITH_HAVE_TLS && !COMPAT_HIREDIS_1X
#error "TLS needs hiredis >= 1.0"
#endif

/* Starts a non-blocking connection to ep. Returns a context (check ->err), or NULL when
 * hiredis could not allocate one. */
redisAsyncContext *compat_async_connect(const struct rw_endpoint *ep);

/* The context's socket, or -1. */
int compat_async_fd(const redisAsyncContext *ac);

#endif
