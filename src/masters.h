/* Every master of the deployment that one endpoint names, for the keyless commands that
 * must reach all of its data (SCAN): a standalone server is its own only master, Sentinel
 * names one, and a Redis Cluster has one per share of the slots. Which of these it is
 * stays in the connection layer: callers see masters numbered from 0, each with an address
 * for messages.
 *
 * A cluster's masters are the ones CLUSTER SLOTS named when masters_find() asked; a
 * failover after that is not followed (a command to a demoted or dead master reports the
 * failure). Commands to the one master of a standalone or Sentinel deployment go through a
 * conn, which follows Sentinel to the master of the moment. */
#ifndef RWITH_MASTERS_H
#define RWITH_MASTERS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "conn.h"
#include "error.h"
#include "tls.h"
#include "url.h"

struct masters;

/* Reports masters_find's outcome exactly once: err is NULL on success, else RW_ERROR_SERVER
 * (the endpoint could not be used, or refused CLUSTER SLOTS), or RW_ERROR_INTERNAL with
 * "cancelled" when the masters were destroyed first. */
typedef void masters_found_cb(const struct rw_error *err, void *data);

/* For ep (copied), under TLS verified by `tls` (borrowed; must outlive the masters). Starts
 * no connection yet. Returns NULL only when out of memory. */
struct masters *masters_create(uv_loop_t *loop, const struct rw_endpoint *ep,
	const struct tls_context *tls);

/* Asks the endpoint's node for the deployment's masters, within timeout_ms. Returns 0 and
 * later calls cb exactly once; or returns -1 with err set and never calls cb. Call once. */
int masters_find(struct masters *m, uint64_t timeout_ms, masters_found_cb *cb, void *data,
	struct rw_error *err);

/* How many masters masters_find() found (0 before it reported success; 0 also for a
 * cluster that serves no slot). */
size_t masters_count(const struct masters *m);

/* "host:port" of master `index`, for messages. */
const char *masters_address(const struct masters *m, size_t index);

/* Sends a keyless command to master `index` (< masters_count()), never elsewhere: a cursor
 * of one node means nothing to another. Callbacks, arguments and the deadline as for
 * conn_command; the command is sent again after a connection failure only where a conn
 * would (Sentinel), so it must be one that may run twice. */
int masters_command(struct masters *m, size_t index, const char *what, uint64_t timeout_ms,
	conn_reply_cb *cb, void *data, int argc, const char **argv, const size_t *argv_len,
	struct rw_error *err);

/* Reports every pending command (and a pending masters_find) as cancelled, synchronously,
 * closes the connections and frees m (the connections free themselves once the loop has
 * run their close callbacks). Accepts NULL. */
void masters_destroy(struct masters *m);

#endif
