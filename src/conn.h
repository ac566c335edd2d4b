/* The server of a lock, wherever it lives: one Redis server, the master of the lock's slot
 * in a Redis Cluster, or the master that Redis Sentinel names. Callers send commands to it
 * as to one server; following MOVED and ASK, waiting out TRYAGAIN and LOADING, asking the
 * sentinels and finding a new master after a failover happen here, within each command's
 * own deadline.
 *
 * All commands of one conn are for keys of one slot (one lock's keys share the hash tag
 * {LOCK}): a cluster's redirect for one is remembered for all that follow. */
#ifndef RWITH_CONN_H
#define RWITH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "error.h"
#include "tls.h"
#include "url.h"

struct conn;

/* Reports a command's outcome exactly once. On success err is NULL and reply is the
 * server's answer, which may be an error reply (REDIS_REPLY_ERROR): deciding what that
 * means is the caller's job (redirects and transient errors never get here while time is
 * left to follow them). On failure reply is NULL and err says why: RW_ERROR_SERVER
 * (refused, timed out, closed, protocol error, no sentinel answered) or RW_ERROR_INTERNAL
 * with "cancelled" when the conn was destroyed first. The reply is valid only during the
 * call. */
typedef void conn_reply_cb(const redisReply *reply, const struct rw_error *err, void *data);

/* How many replicas acknowledged a write (WAIT), of how many were online; or, with
 * `failed`, why that could not be learned (the write itself was done). */
struct conn_replicas {
	int acked;
	int online;
	bool failed;
	char failure[300];
};

/* conn_command's flags. */
enum {
	/* The command may be sent again after a connection failure that may have come after
	 * it ran (a cluster or Sentinel failover): its second run means the same as its first.
	 * Without it, such a failure is reported; a command that surely did not run (refused,
	 * redirected, READONLY) is always sent on. */
	CONN_RETRY_SAFE = 1u << 0,
	/* A blocking command (BLPOP): nothing is pipelined behind it, and a demoted master's
	 * UNBLOCKED is reported rather than followed (sent again, it would outlive its deadline). */
	CONN_BLOCKING = 1u << 1,
};

/* Makes a conn for ep (copied), under TLS verified by `tls` (borrowed; must outlive conn)
 * for rediss:// URLs. Connecting starts with the first command. Returns NULL only when out
 * of memory. */
struct conn *conn_create(uv_loop_t *loop, const struct rw_endpoint *ep,
	const struct tls_context *tls);

/* Sends a command; `what` names it in messages ("EVALSHA acquire") and is copied, so are
 * the arguments. Returns 0 and later calls cb exactly once, within timeout_ms (plus the
 * loop's latency); or returns -1 with err set and never calls cb. */
int conn_command(struct conn *conn, const char *what, uint64_t timeout_ms, unsigned flags,
	conn_reply_cb *cb, void *data, int argc, const char **argv, const size_t *argv_len,
	struct rw_error *err);

/* Like conn_command, and when the answer is not an error, also waits (Redis WAIT, within
 * the same deadline) until every replica that was online on the node that answered has
 * acknowledged the write, before calling cb. *ret_replicas (caller-owned, valid until cb)
 * is filled when reply is not NULL and not an error reply; with no replica online it costs
 * no round trip. */
int conn_command_replicated(struct conn *conn, const char *what, uint64_t timeout_ms,
	unsigned flags, conn_reply_cb *cb, void *data, int argc, const char **argv,
	const size_t *argv_len, struct conn_replicas *ret_replicas, struct rw_error *err);

/* True when the connection to the node commands go to has failed; the next command makes
 * a new one (a conn itself is never broken for good). */
bool conn_is_broken(const struct conn *conn);

/* "host:port" of the node commands go to, or the socket path, or "master 'NAME'" before a
 * Sentinel URL's master is known: for messages. */
const char *conn_address(const struct conn *conn);

/* Reports every pending command as cancelled (synchronously, before returning), closes the
 * connections and frees conn once the loop has run its close callbacks. Accepts NULL. */
void conn_destroy(struct conn *conn);

#endif
