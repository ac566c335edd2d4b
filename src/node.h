/* One Redis connection on the event loop: connect, AUTH and SELECT from the URL, and
 * commands that each carry a deadline. hiredis 0.14's libuv adapter has no timers, and a
 * stopped server accepts connections and never answers, so the deadlines are ours.
 *
 * A connection that fails (refused, timed out, closed, garbage) is broken for good: every
 * pending command reports the failure, and the owner makes a new connection to retry. */
#ifndef RWITH_NODE_H
#define RWITH_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "error.h"
#include "tls.h"
#include "url.h"

struct node;

/* Reports a command's outcome exactly once. On success err is NULL and reply is the
 * server's answer, which may be an error reply (REDIS_REPLY_ERROR): deciding what that
 * means is the caller's job. On failure reply is NULL and err says why: RW_ERROR_SERVER
 * (refused, timed out, closed, protocol error) or RW_ERROR_INTERNAL with "cancelled" when
 * the connection was destroyed first. The reply is valid only during the call. */
typedef void node_reply_cb(const redisReply *reply, const struct rw_error *err, void *data);

/* Starts connecting to ep (copied), under TLS verified by `tls` (borrowed; must outlive
 * node) when ep is rediss://, and queues AUTH and SELECT as the URL asks; their failure
 * fails every later command with a message that names the cause. `timeout_ms` bounds the
 * connect (and handshake) and each of those steps. Returns NULL only when out of memory. */
struct node *node_create(uv_loop_t *loop, const struct rw_endpoint *ep,
	const struct tls_context *tls, uint64_t timeout_ms);

/* Sends a command; `what` names it in messages ("EVALSHA acquire") and is copied. Returns 0
 * and later calls cb exactly once; or returns -1 with err set (the connection is already
 * broken) and never calls cb. */
int node_command(struct node *node, const char *what, uint64_t timeout_ms, node_reply_cb *cb,
	void *data, int argc, const char **argv, const size_t *argv_len, struct rw_error *err);

/* True once the connection was made: until then no command can have reached the server,
 * so one that failed may be sent again elsewhere. */
bool node_reached(const struct node *node);

/* True once the connection has failed. */
bool node_is_broken(const struct node *node);

/* "host:port" or the socket path, for messages. */
const char *node_address(const struct node *node);

/* Reports every pending command as cancelled (synchronously, before returning), closes the
 * connection and frees node once the loop has run its close callbacks. Accepts NULL. */
void node_destroy(struct node *node);

#endif
