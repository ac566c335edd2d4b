/* Finding the locks in use under a prefix (--list): SCAN (never KEYS) on every master of
 * every server for the keys that only a lock with holders or waiters has, each key turned
 * back into its lock's name. Bounded in time and in the number of names.
 *
 * The keys of lock L under prefix P are listed in lock.h; L has holders or waiters while
 * P{L}:holders or P{L}:qexp exists (whose entries may have expired: the status script,
 * not the scan, decides). */
#ifndef RWITH_SCAN_H
#define RWITH_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "error.h"
#include "options.h"
#include "tls.h"

#define SCAN_CURSOR_SIZE 21 /* SCAN's cursor: up to 20 digits (64 bits), and the NUL */
#define SCAN_COUNT "1000"   /* keys a SCAN step looks at: few round trips, short steps */

enum scan_stop {
	SCAN_COMPLETE,      /* every master was scanned to its end */
	SCAN_STOPPED_COUNT, /* more locks than limits.max_names */
	SCAN_STOPPED_TIME,  /* limits.deadline_ms came first */
};

struct scan_limits {
	uint64_t deadline_ms; /* clock_mono_ms() after which no SCAN step starts */
	uint64_t timeout_ms;  /* of each request */
	size_t max_names;
};

struct scan_result {
	char **names; /* count of them, sorted by bytes, distinct; owned (scan_result_finish) */
	size_t count;
	enum scan_stop stopped;
};

/* Scans every server of opts (its prefix) and runs `loop` until done, so nothing else may
 * wait on it. A server that cannot be used, or whose masters cannot all be scanned, counts
 * as not answering: then, unless a majority of the servers answered (the one server, when
 * there is one), returns -1 with err set (RW_ERROR_SERVER), and *ret is untouched.
 * Otherwise returns 0 and fills *ret with the names found on the servers that answered. */
int scan_lock_names(uv_loop_t *loop, const struct rw_options *opts,
	const struct tls_context *tls, const struct scan_limits *limits, struct scan_result *ret,
	struct rw_error *err);

/* Frees the names; accepts a zeroed struct. */
void scan_result_finish(struct scan_result *result);

/* Pure parts, exposed for the unit tests and the fuzzer. */

/* SCAN's MATCH pattern for the holders and qexp keys of every lock under prefix, with the
 * glob characters of the prefix escaped. False, with buf untouched, when it does not fit. */
bool scan_pattern(const char *prefix, char *buf, size_t size);

/* The name of the lock whose holders or qexp key under prefix `key` (len bytes, not
 * terminated) is: the text between PREFIX{ and the last }:holders or }:qexp. False, with
 * ret untouched, for any other key and for a name that is not a valid lock name (a key
 * that rwith did not write). ret has room for LOCK_NAME_MAX + 1 bytes. */
bool scan_lock_name(const char *prefix, const char *key, size_t len, char *ret);

/* SCAN's answer, [cursor, [key, ...]]: true with the cursor copied to ret_cursor and the
 * array of keys (all strings; borrowed from reply) in *ret_keys; false, with both untouched,
 * for anything else. */
bool scan_decode(const redisReply *reply, char ret_cursor[SCAN_CURSOR_SIZE],
	const redisReply **ret_keys);

#endif
