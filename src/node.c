/* A Redis connection with per-command deadlines, on hiredis's async API and libuv.
 *
 * Ownership: the hiredis context belongs to hiredis from the moment it reports a failure
 * (connect callback with an error, a NULL reply, the disconnect callback) or we call
 * redisAsyncFree; from then on node->ac is NULL and we never touch it again. Requests are
 * reported by us, from our own pending list, so a failure reaches every caller exactly once
 * whatever order hiredis frees things in; hiredis's later NULL callbacks only free them.
 * The struct itself is freed from the close callback of its timer, a loop iteration after
 * node_destroy(), so hiredis callbacks still running on the stack never see freed memory.
 *
 * The glue between hiredis and libuv is ours, not hiredis's adapters/libuv.h: that adapter
 * drops poll errors on the floor (a refused connect would then be noticed only at our
 * deadline), and its 0.14 and 1.x versions differ. */
#include "node.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "compat.h"
#include "tls.h"

struct node_request {
	struct node *node;
	node_reply_cb *cb; /* NULL once reported */
	void *data;
	uint64_t deadline_ms;
	uint64_t timeout_ms;
	bool held_by_hiredis; /* hiredis still has it as privdata */
	struct node_request *next;
	char what[32];
};

struct node {
	uv_loop_t *loop;
	redisAsyncContext *ac; /* NULL once it belongs to hiredis or is gone */
	uv_timer_t deadline_timer;
	struct node_request *pending; /* in send order */
	struct rw_endpoint endpoint;
	const struct tls_context *tls; /* borrowed; NULL unless endpoint.tls */
	void *tls_session;             /* hiredis's; valid while ac is */
	char address[300];
	bool broken;
	bool destroying;
	bool reached; /* the connection was made: commands may have reached the server */
	struct rw_error failure;
};

static void arm_deadline(struct node *node);

static void request_release(struct node_request *req) {
	if (req->cb == NULL && !req->held_by_hiredis) {
		free(req);
	}
}

static void unlink_request(struct node *node, struct node_request *req) {
	for (struct node_request **p = &node->pending; *p; p = &(*p)->next) {
		if (*p == req) {
			*p = req->next;
			req->next = NULL;
			return;
		}
	}
}

/* Reports req (once) with either a reply or an error. */
static void report(struct node_request *req, const redisReply *reply, const struct rw_error *err) {
	node_reply_cb *cb = req->cb;
	if (cb == NULL) {
		return;
	}
	req->cb = NULL;
	cb(reply, err, req->data);
}

/* Marks the connection broken with `cause` and reports it to every pending request. When
 * `hiredis_frees` is false we hand the context back to hiredis here. */
static void node_fail(struct node *node, const struct rw_error *cause, bool hiredis_frees) {
	if (node->broken) {
		return;
	}
	node->broken = true;
	node->failure = *cause;
	(void)uv_timer_stop(&node->deadline_timer);
	redisAsyncContext *ac = node->ac;
	node->ac = NULL;
	node->tls_session = NULL;
	if (ac != NULL) {
		ac->data = NULL;
		if (!hiredis_frees) {
			/* Inside one of this context's reply callbacks hiredis defers the free
			 * until the callback returns; elsewhere it frees at once. Either way the
			 * pending callbacks come back to us with NULL and only free requests. */
			redisAsyncFree(ac);
		}
	}
	while (node->pending != NULL) {
		struct node_request *req = node->pending;
		node->pending = req->next;
		req->next = NULL;
		report(req, NULL, &node->failure);
		request_release(req);
	}
}

static void fail_from_context(struct node *node, const redisAsyncContext *ac, const char *doing) {
	struct rw_error err = {0};
	char tls_why[256];
	if (tls_describe_failure(node->tls, node->tls_session, tls_why, sizeof(tls_why))) {
		/* hiredis's own text for a TLS failure is often only "connection closed". */
		if (tls_handshake_pending(node->tls, node->tls_session)) {
			doing = "cannot connect to";
		}
		error_set(&err, RW_ERROR_SERVER, "%s %s: %s", doing, node->address, tls_why);
		err.hint = TLS_FAILURE_HINT;
		node_fail(node, &err, true);
		return;
	}
	const char *why = ac->errstr[0] ? ac->errstr : "connection closed";
	if (ac->err == REDIS_ERR_OOM) {
		/* Also what hiredis 0.14 says when compat_bound_reader refuses a huge array. */
		why = "a reply too large to accept (or rwith ran out of memory)";
	}
	error_set(&err, RW_ERROR_SERVER, "%s %s: %s", doing, node->address, why);
	if (ac->err == REDIS_ERR_PROTOCOL || ac->err == REDIS_ERR_OOM) {
		err.hint = node->endpoint.tls ? "check that the URL points to a Redis server"
					      : "check that the URL points to a Redis server (rediss:// "
						"if it speaks TLS)";
	}
	node_fail(node, &err, true);
}

/* The server wants credentials that were not given: NOAUTH, or the protocol error Redis 7
 * gives an unauthenticated client that sends a command with many arguments (it then drops
 * the connection). */
static bool wants_password(const char *error) {
	return strncmp(error, "NOAUTH", 6) == 0 ||
		strstr(error, "Protocol error: unauthenticated") != NULL;
}

static void on_reply(redisAsyncContext *ac, void *reply_ptr, void *privdata) {
	struct node_request *req = privdata;
	const redisReply *reply = reply_ptr;
	if (req->cb != NULL) {
		struct node *node = req->node;
		if (reply == NULL) {
			/* hiredis is freeing the context: the connection is gone. This reports
			 * req too; it stays allocated because hiredis still holds it. */
			fail_from_context(node, ac, "lost the connection to");
		} else if (reply->type == REDIS_REPLY_ERROR && wants_password(reply->str)) {
			/* The connection is of no use without credentials: say so to everyone,
			 * rather than pass on a protocol error that names no cause. */
			unlink_request(node, req);
			struct rw_error cause = {0};
			error_set(&cause, RW_ERROR_SERVER, node->endpoint.has_password ?
				"%s requires a password, and did not take the URL's (NOAUTH)" :
				"%s requires a password, and the URL gives none", node->address);
			cause.hint = "put it in the URL: redis://:PASSWORD@HOST:PORT or "
				     "redis://USER:PASSWORD@... (a sentinel's own: ?sentinel_password=)";
			node_fail(node, &cause, false);
			report(req, NULL, &cause);
		} else {
			unlink_request(node, req);
			arm_deadline(node);
			report(req, reply, NULL);
		}
	}
	req->held_by_hiredis = false;
	request_release(req);
}

static void on_connect(const redisAsyncContext *ac, int status) {
	struct node *node = ac->data;
	if (node != NULL && status == REDIS_OK) {
		node->reached = true;
	}
	if (node == NULL || status == REDIS_OK) {
		return;
	}
	/* hiredis frees the context right after this callback. */
	fail_from_context(node, ac, "cannot connect to");
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
	struct node *node = ac->data;
	if (node == NULL) {
		return;
	}
	fail_from_context(node, ac, "lost the connection to");
}

/* ---- hiredis event glue ------------------------------------------------------------- */

struct conn_poll {
	uv_poll_t handle;
	redisAsyncContext *ac; /* NULL once hiredis has cleaned up */
	int events;
	const struct tls_context *tls; /* borrowed; NULL for a plain connection */
};

static void on_poll(uv_poll_t *handle, int status, int events) {
	struct conn_poll *poll = handle->data;
	if (poll->tls != NULL) {
		tls_clear_errors(poll->tls);
	}
	if (status < 0) {
		/* libuv stopped the handle on a socket error: let hiredis read the error. A
		 * context still connecting learns it from the write side (SO_ERROR). */
		bool connecting = poll->ac != NULL && !(poll->ac->c.flags & REDIS_CONNECTED);
		events = connecting ? UV_WRITABLE : UV_READABLE;
	}
	if (poll->ac != NULL && (events & UV_READABLE)) {
		redisAsyncHandleRead(poll->ac);
	}
	if (poll->ac != NULL && (events & UV_WRITABLE)) {
		redisAsyncHandleWrite(poll->ac);
	}
}

static void poll_update(struct conn_poll *poll, int add, int remove) {
	poll->events = (poll->events | add) & ~remove;
	if (uv_is_closing((uv_handle_t *)&poll->handle)) {
		return;
	}
	if (poll->events != 0) {
		(void)uv_poll_start(&poll->handle, poll->events, on_poll);
	} else {
		(void)uv_poll_stop(&poll->handle);
	}
}

static void poll_add_read(void *data) {
	poll_update(data, UV_READABLE, 0);
}

static void poll_del_read(void *data) {
	poll_update(data, 0, UV_READABLE);
}

static void poll_add_write(void *data) {
	poll_update(data, UV_WRITABLE, 0);
}

static void poll_del_write(void *data) {
	poll_update(data, 0, UV_WRITABLE);
}

static void on_poll_closed(uv_handle_t *handle) {
	free(handle->data);
}

/* hiredis is done with the socket: it closes the fd right after this returns. */
static void poll_cleanup(void *data) {
	struct conn_poll *poll = data;
	poll->ac = NULL;
	uv_close((uv_handle_t *)&poll->handle, on_poll_closed);
}

static int poll_attach(redisAsyncContext *ac, uv_loop_t *loop, const struct tls_context *tls) {
	struct conn_poll *poll = calloc(1, sizeof(*poll));
	if (poll == NULL) {
		return -1;
	}
	if (uv_poll_init(loop, &poll->handle, compat_async_fd(ac)) < 0) {
		free(poll);
		return -1;
	}
	poll->handle.data = poll;
	poll->ac = ac;
	poll->tls = tls;
	ac->ev.data = poll;
	ac->ev.addRead = poll_add_read;
	ac->ev.delRead = poll_del_read;
	ac->ev.addWrite = poll_add_write;
	ac->ev.delWrite = poll_del_write;
	ac->ev.cleanup = poll_cleanup;
	return 0;
}

/* ---- requests and deadlines --------------------------------------------------------- */

/* Reads what has arrived, as the poll callback would. After rwith was stopped (SIGSTOP, a
 * frozen VM) past a deadline, the loop runs its timers before it polls: the answer may be
 * waiting in the socket, and the server is not silent for rwith's own absence. */
static void read_arrived(struct node *node) {
	if (node->ac == NULL || !(node->ac->c.flags & REDIS_CONNECTED)) {
		return;
	}
	struct pollfd ready = {.fd = node->ac->c.fd, .events = POLLIN};
	if (poll(&ready, 1, 0) == 1) {
		struct conn_poll *watch = node->ac->ev.data;
		on_poll(&watch->handle, 0, UV_READABLE);
	}
}

static void on_deadline(uv_timer_t *timer) {
	struct node *node = timer->data;
	read_arrived(node);
	if (node->broken || node->destroying) {
		return; /* what it read ended the connection, and reported it */
	}
	uint64_t now = clock_mono_ms();
	for (struct node_request *req = node->pending; req; req = req->next) {
		if (req->deadline_ms <= now) {
			struct rw_error err = {0};
			/* Still connecting TCP is not a TLS problem. */
			bool handshaking = node->ac != NULL &&
				(node->ac->c.flags & REDIS_CONNECTED) &&
				tls_handshake_pending(node->tls, node->tls_session);
			error_set(&err, RW_ERROR_SERVER, "%s on %s: no answer within %" PRIu64 " ms%s",
				req->what, node->address, req->timeout_ms,
				handshaking ? " (the TLS handshake did not finish)" : "");
			err.hint = handshaking ? TLS_FAILURE_HINT
					       : "check that the Redis server is running and not overloaded";
			node_fail(node, &err, false);
			return;
		}
	}
	arm_deadline(node);
}

static void arm_deadline(struct node *node) {
	if (node->broken || node->destroying) {
		return;
	}
	uint64_t earliest = UINT64_MAX;
	for (struct node_request *req = node->pending; req; req = req->next) {
		if (req->deadline_ms < earliest) {
			earliest = req->deadline_ms;
		}
	}
	if (earliest == UINT64_MAX) {
		(void)uv_timer_stop(&node->deadline_timer);
		return;
	}
	uint64_t now = clock_mono_ms();
	/* uv_timer_start cannot fail on an initialised, open timer. */
	(void)uv_timer_start(&node->deadline_timer, on_deadline, earliest > now ? earliest - now : 0, 0);
}

/* Writes what hiredis has queued now, rather than at the loop's next turn: the server starts
 * on it one poll sooner (the release, the first thing after the command's end, is on the
 * way before the guard is reaped). Plain connections only (a TLS write may need to read),
 * and only once connected. A failed write leaves the error in the context: the write
 * interest stays, and the loop's next turn reports it as usual, never from inside a send. */
static void write_now(struct node *node) {
	redisAsyncContext *ac = node->ac;
	if (ac == NULL || !(ac->c.flags & REDIS_CONNECTED) || ac->c.err != 0) {
		return;
	}
	struct conn_poll *poll = ac->ev.data;
	if (poll == NULL || poll->tls != NULL) {
		return;
	}
	int done = 0;
	if (redisBufferWrite(&ac->c, &done) == REDIS_OK && done) {
		poll_update(poll, UV_READABLE, UV_WRITABLE); /* as hiredis does once written */
	}
}

static struct node_request *queue_request(struct node *node, const char *what, uint64_t timeout_ms,
	node_reply_cb *cb, void *data, int argc, const char **argv, const size_t *argv_len) {
	struct node_request *req = calloc(1, sizeof(*req));
	if (req == NULL) {
		return NULL;
	}
	req->node = node;
	req->cb = cb;
	req->data = data;
	req->timeout_ms = timeout_ms;
	req->deadline_ms = clock_mono_ms() + timeout_ms;
	(void)snprintf(req->what, sizeof(req->what), "%s", what);
	if (redisAsyncCommandArgv(node->ac, on_reply, req, argc, argv, argv_len) != REDIS_OK) {
		free(req);
		return NULL;
	}
	req->held_by_hiredis = true;
	struct node_request **tail = &node->pending;
	while (*tail) {
		tail = &(*tail)->next;
	}
	*tail = req;
	arm_deadline(node);
	write_now(node);
	return req;
}

/* AUTH and SELECT answers: anything but OK breaks the connection with a clear cause. */
static void on_setup_reply(const redisReply *reply, const struct rw_error *err, void *data) {
	struct node *node = data;
	if (err != NULL || reply->type != REDIS_REPLY_ERROR) {
		return; /* a transport failure is already reported to everyone */
	}
	struct rw_error cause = {0};
	if (strncmp(reply->str, "ERR DB", 6) == 0 || strncmp(reply->str, "ERR invalid DB", 14) == 0 ||
		strstr(reply->str, "SELECT") != NULL) {
		error_set(&cause, RW_ERROR_SERVER, "%s refused database %d: %s", node->address,
			node->endpoint.db, reply->str);
		cause.hint = "check the database number in the URL";
	} else {
		error_set(&cause, RW_ERROR_SERVER, "%s refused the credentials: %s", node->address,
			reply->str);
		cause.hint = "check the user name and password in the URL";
	}
	node_fail(node, &cause, false);
}

static void queue_setup(struct node *node, uint64_t timeout_ms) {
	const struct rw_endpoint *ep = &node->endpoint;
	if (ep->has_password) {
		const char *argv[3] = {"AUTH"};
		size_t len[3] = {4};
		int argc = 1;
		if (ep->user[0] != '\0') {
			argv[argc] = ep->user;
			len[argc++] = strlen(ep->user);
		}
		argv[argc] = ep->password;
		len[argc++] = strlen(ep->password);
		(void)queue_request(node, "AUTH", timeout_ms, on_setup_reply, node, argc, argv, len);
	}
	if (ep->db != 0) {
		char db[16];
		(void)snprintf(db, sizeof(db), "%d", ep->db);
		const char *argv[2] = {"SELECT", db};
		size_t len[2] = {6, strlen(db)};
		(void)queue_request(node, "SELECT", timeout_ms, on_setup_reply, node, 2, argv, len);
	}
}

static void start_connect(struct node *node, uint64_t timeout_ms) {
	struct rw_error err = {0};
	redisAsyncContext *ac = compat_async_connect(&node->endpoint);
	if (ac == NULL) {
		error_set(&err, RW_ERROR_INTERNAL, "out of memory connecting to %s", node->address);
		node_fail(node, &err, true);
		return;
	}
	if (ac->err) {
		error_set(&err, RW_ERROR_SERVER, "cannot connect to %s: %s", node->address, ac->errstr);
		redisAsyncFree(ac);
		node_fail(node, &err, true);
		return;
	}
	compat_bound_reader(ac->c.reader);
	if (node->endpoint.tls &&
		tls_start(node->tls, ac, node->endpoint.host, &node->tls_session, &err) < 0) {
		redisAsyncFree(ac);
		struct rw_error cause = err;
		error_replace(&err, cause.kind, "cannot connect to %s: %s", node->address,
			cause.message);
		err.hint = cause.hint;
		node_fail(node, &err, true);
		return;
	}
	/* The command's process must not inherit our connection. */
	int fd = compat_async_fd(ac);
	if (fd >= 0) {
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	ac->data = node;
	if (poll_attach(ac, node->loop, node->endpoint.tls ? node->tls : NULL) < 0) {
		error_set(&err, RW_ERROR_INTERNAL, "cannot watch the connection to %s", node->address);
		redisAsyncFree(ac);
		node_fail(node, &err, true);
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	node->ac = ac;
	queue_setup(node, timeout_ms);
}

struct node *node_create(uv_loop_t *loop, const struct rw_endpoint *ep,
	const struct tls_context *tls, uint64_t timeout_ms) {
	struct node *node = calloc(1, sizeof(*node));
	if (node == NULL) {
		return NULL;
	}
	node->loop = loop;
	node->endpoint = *ep;
	node->tls = tls;
	url_format_address(ep, node->address, sizeof(node->address));
	/* uv_timer_init cannot fail on a live loop. */
	(void)uv_timer_init(loop, &node->deadline_timer);
	node->deadline_timer.data = node;
	start_connect(node, timeout_ms);
	return node;
}

int node_command(struct node *node, const char *what, uint64_t timeout_ms, node_reply_cb *cb,
	void *data, int argc, const char **argv, const size_t *argv_len, struct rw_error *err) {
	if (node->broken) {
		error_replace(err, node->failure.kind, "%s", node->failure.message);
		err->hint = node->failure.hint;
		return -1;
	}
	if (node->destroying || node->ac == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "%s on %s: connection is closing", what,
			node->address);
	}
	if (queue_request(node, what, timeout_ms, cb, data, argc, argv, argv_len) == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "%s on %s: cannot queue the command", what,
			node->address);
	}
	return 0;
}

bool node_reached(const struct node *node) {
	return node->reached;
}

bool node_is_broken(const struct node *node) {
	return node->broken;
}

const char *node_address(const struct node *node) {
	return node->address;
}

static void on_timer_closed(uv_handle_t *handle) {
	free(handle->data);
}

void node_destroy(struct node *node) {
	if (node == NULL || node->destroying) {
		return;
	}
	/* Marked first: a callback of a cancelled command may try to destroy node again. */
	node->destroying = true;
	if (!node->broken) {
		struct rw_error cancelled = {0};
		error_set(&cancelled, RW_ERROR_INTERNAL, "request to %s cancelled", node->address);
		node_fail(node, &cancelled, false);
	}
	uv_close((uv_handle_t *)&node->deadline_timer, on_timer_closed);
}
