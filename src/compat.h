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

/* The most elements one array of a reply may have. hiredis allocates an array's element
 * pointers as soon as it reads the header, so `*300000000` alone (13 bytes) would make it
 * allocate 2.4 GB; no reply of rwith's comes near this (CLUSTER SLOTS has at most 16384
 * ranges). */
#define COMPAT_MAX_ARRAY_ELEMENTS (1L << 20)

/* Makes the reader refuse (a protocol error, which breaks the connection) an array longer
 * than COMPAT_MAX_ARRAY_ELEMENTS, in hiredis 0.14 (which has no limit) as in 1.x (whose
 * maxelements default is 2^32 - 1). */
void compat_bound_reader(redisReader *reader);

#endif
