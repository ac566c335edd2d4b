/* The lock protocol on the wire: which script, which keys, which arguments, and what the
 * answers mean. Each step is one Lua script, so each is atomic on the server. */
#include "lock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "lua_scripts.h"

enum script_args {
	ARGS_EXTEND,              /* token, ttl, fence floor */
	ARGS_TOKEN_TTL_LIMIT,     /* token, ttl, limit */
	ARGS_ACQUIRE,             /* token, ttl, limit, host, pid, task, enqueue, mode */
	ARGS_RELEASE,             /* token, ttl, limit, min_hold */
	ARGS_TTL_LIMIT,           /* ttl, limit */
	ARGS_TOKEN,               /* token */
	ARGS_NONE,
};

enum script_reply {
	REPLY_ACQUIRE,
	REPLY_FLAG,
	REPLY_LEFT,                 /* held: the ms left, 0 when not held */
	REPLY_HOLDERS,              /* break */
	REPLY_HOLDERS_WITH_WAITERS, /* status */
};

struct script {
	const char *name;
	const char *source;
	const char *sha1;
	enum script_args args;
	enum script_reply reply;
	/* conn_command's flags: CONN_RETRY_SAFE unless a second run answers differently (a
	 * release or a break that ran once finds nothing the second time). */
	unsigned conn_flags;
	bool synced; /* with --sync, waits until the online replicas have the write */
};

static const struct script script_acquire = {"acquire", lua_acquire_source, lua_acquire_sha1,
	ARGS_ACQUIRE, REPLY_ACQUIRE, CONN_RETRY_SAFE, true};
static const struct script script_extend = {"extend", lua_extend_source, lua_extend_sha1,
	ARGS_EXTEND, REPLY_FLAG, CONN_RETRY_SAFE, true};
static const struct script script_release = {"release", lua_release_source, lua_release_sha1,
	ARGS_RELEASE, REPLY_FLAG, 0, false};
static const struct script script_leave = {"leave", lua_leave_source, lua_leave_sha1,
	ARGS_TOKEN_TTL_LIMIT, REPLY_FLAG, CONN_RETRY_SAFE, false};
static const struct script script_break = {"break", lua_break_source, lua_break_sha1,
	ARGS_TTL_LIMIT, REPLY_HOLDERS, 0, false};
static const struct script script_held = {"held", lua_held_source, lua_held_sha1,
	ARGS_TOKEN, REPLY_LEFT, CONN_RETRY_SAFE, false};
static const struct script script_status = {"status", lua_status_source, lua_status_sha1,
	ARGS_NONE, REPLY_HOLDERS_WITH_WAITERS, CONN_RETRY_SAFE, false};

#define LOCK_KEY_COUNT_TEXT "8" /* LOCK_KEY_COUNT, as EVALSHA's numkeys */
_Static_assert(LOCK_KEY_COUNT == 8, "LOCK_KEY_COUNT_TEXT must match LOCK_KEY_COUNT");

static const char *const key_suffixes[LOCK_KEY_COUNT] = {
	"holders", "info", "fence", "queue", "qexp", "seq", "wake:", "watch",
};

/* One request in flight; freed after it has reported. */
struct call {
	struct lock *lock;
	struct conn *conn;
	const struct script *script; /* NULL: the BLPOP of lock_wait */
	uint64_t timeout_ms;
	lock_done_cb *cb;
	void *data;
	enum lock_try how;
	bool retried_with_eval;
	struct conn_replicas replicas; /* with lock->sync: filled for acquire and extend */
	bool giving_back;              /* --sync refused a grant: the leave script runs */
	bool after_wait;               /* the acquire of lock_wait_then_acquire */
	struct rw_error give_back_why;
};

static int fill_random_token(char *hex, struct rw_error *err) {
	unsigned char bytes[LOCK_TOKEN_BYTES];
	size_t got = 0;
	while (got < sizeof(bytes)) {
		ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return error_set(err, RW_ERROR_INTERNAL, "getrandom failed: %s", strerror(errno));
		}
		got += (size_t)n;
	}
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(bytes); i++) {
		hex[2 * i] = digits[bytes[i] >> 4];
		hex[2 * i + 1] = digits[bytes[i] & 15];
	}
	hex[2 * sizeof(bytes)] = '\0';
	return 0;
}

int lock_init(struct lock *lock, const struct rw_options *opts, struct rw_error *err) {
	memset(lock, 0, sizeof(*lock));
	for (size_t i = 0; i < LOCK_KEY_COUNT; i++) {
		if (error_format(lock->keys[i], sizeof(lock->keys[i]), "%s{%s}:%s", opts->prefix,
			opts->lock, key_suffixes[i])) {
			return error_set(err, RW_ERROR_USAGE, "--prefix is too long");
		}
	}
	if (fill_random_token(lock->token, err) < 0) {
		return -1;
	}
	(void)snprintf(lock->wake_key, sizeof(lock->wake_key), "%s%s", lock->keys[6], lock->token);
	if (gethostname(lock->host, sizeof(lock->host) - 1) < 0) {
		(void)snprintf(lock->host, sizeof(lock->host), "unknown");
	}
	/* A host name is one line in the server's records. */
	for (char *p = lock->host; *p; p++) {
		if (*p == '\n') {
			*p = '?';
		}
	}
	(void)snprintf(lock->pid, sizeof(lock->pid), "%ld", (long)getpid());
	(void)snprintf(lock->ttl, sizeof(lock->ttl), "%" PRIu64, opts->ttl_ms);
	(void)snprintf(lock->limit, sizeof(lock->limit), "%u", opts->limit);
	(void)snprintf(lock->min_hold, sizeof(lock->min_hold), "%" PRIu64, opts->min_hold_ms);
	lock->mode = opts->mode == LOCK_SHARED ? "s" : "x";
	lock->task = opts->task ? opts->task : "";
	lock->name = opts->lock;
	lock->sync = opts->sync;
	return 0;
}

static const char *reply_type_name(int type) {
	switch (type) {
	case REDIS_REPLY_STRING:
		return "a string";
	case REDIS_REPLY_ARRAY:
		return "an array";
	case REDIS_REPLY_INTEGER:
		return "an integer";
	case REDIS_REPLY_NIL:
		return "nil";
	case REDIS_REPLY_STATUS:
		return "a status";
	case REDIS_REPLY_ERROR:
		return "an error";
	default:
		return "an unknown type";
	}
}

static bool element_integer(const redisReply *reply, size_t index, long long *ret) {
	if (index >= reply->elements || reply->element[index]->type != REDIS_REPLY_INTEGER) {
		return false;
	}
	*ret = reply->element[index]->integer;
	return true;
}

static bool element_string(const redisReply *reply, size_t index, char *out, size_t size) {
	if (index >= reply->elements || reply->element[index]->type != REDIS_REPLY_STRING) {
		return false;
	}
	const redisReply *item = reply->element[index];
	size_t len = item->len < size - 1 ? (size_t)item->len : size - 1;
	memcpy(out, item->str, len);
	out[len] = '\0';
	return true;
}

static void printable(char *text) {
	for (unsigned char *p = (unsigned char *)text; *p; p++) {
		if (*p < 32 || *p == 127) {
			*p = '?';
		}
	}
}

void lock_holder_printable(const struct lock_holder *holder, struct lock_holder *ret) {
	*ret = *holder;
	printable(ret->host);
	printable(ret->task);
}

/* Six elements from `index` on: host, pid, task, since_ms, ttl_left_ms, fence; and the
 * mode ("x" or "s") as a seventh when with_mode. */
static bool decode_holder(const redisReply *reply, size_t index, uint64_t now, bool with_mode,
	struct lock_holder *ret) {
	struct lock_holder holder;
	long long pid, since, ttl_left, fence;
	char mode[2] = "x";
	memset(&holder, 0, sizeof(holder));
	if (with_mode && (!element_string(reply, index + 6, mode, sizeof(mode)) ||
		(strcmp(mode, "x") != 0 && strcmp(mode, "s") != 0) ||
		reply->element[index + 6]->len != 1)) {
		return false;
	}
	holder.shared = mode[0] == 's';
	if (!element_string(reply, index, holder.host, sizeof(holder.host)) ||
		!element_integer(reply, index + 1, &pid) ||
		!element_string(reply, index + 2, holder.task, sizeof(holder.task)) ||
		!element_integer(reply, index + 3, &since) ||
		!element_integer(reply, index + 4, &ttl_left) ||
		!element_integer(reply, index + 5, &fence) || pid < 0 || since < 0 || fence < 0) {
		return false;
	}
	holder.pid = (long)pid;
	holder.since_ms = (uint64_t)since;
	holder.ttl_left_ms = ttl_left;
	holder.fence = (uint64_t)fence;
	holder.server_now_ms = now;
	*ret = holder;
	return true;
}

enum lock_result lock_decode_acquire(const redisReply *reply, uint64_t *ret_fence,
	struct lock_busy *ret_busy, struct rw_error *err) {
	long long flag, fence, now, position, waiters, recheck;
	if (reply->type != REDIS_REPLY_ARRAY || !element_integer(reply, 0, &flag)) {
		error_set(err, RW_ERROR_SERVER, "unexpected answer to acquire: %s",
			reply_type_name(reply->type));
		return LOCK_RESULT_ERROR;
	}
	if (flag == 1 && reply->elements == 2 && element_integer(reply, 1, &fence) && fence > 0) {
		*ret_fence = (uint64_t)fence;
		return LOCK_RESULT_YES;
	}
	long long stored;
	if (flag == -1 && reply->elements == 2 && element_integer(reply, 1, &stored) && stored > 0) {
		error_set(err, RW_ERROR_USAGE, "the lock is a semaphore with --limit %lld (stored with "
			"its holders), but this run asked for another limit", stored);
		err->hint = "use the same --limit as the other holders";
		return LOCK_RESULT_ERROR;
	}
	struct lock_busy busy;
	memset(&busy, 0, sizeof(busy));
	/* {0, host, pid, task, since, ttl_left, fence, now, position, waiters, recheck} */
	if (flag == 0 && reply->elements == 11 && element_integer(reply, 7, &now) && now >= 0 &&
		decode_holder(reply, 1, (uint64_t)now, false, &busy.holder) &&
		element_integer(reply, 8, &position) && element_integer(reply, 9, &waiters) &&
		element_integer(reply, 10, &recheck) && position >= -1 && waiters >= 0 &&
		recheck >= 0) {
		busy.position = (long)position;
		busy.waiters = (long)waiters;
		busy.recheck_ms = recheck;
		*ret_busy = busy;
		return LOCK_RESULT_NO;
	}
	error_set(err, RW_ERROR_SERVER, "malformed answer to acquire (%zu elements)",
		(size_t)reply->elements);
	return LOCK_RESULT_ERROR;
}

enum lock_result lock_decode_flag(const redisReply *reply, struct rw_error *err) {
	if (reply->type == REDIS_REPLY_INTEGER && (reply->integer == 0 || reply->integer == 1)) {
		return reply->integer ? LOCK_RESULT_YES : LOCK_RESULT_NO;
	}
	if (reply->type == REDIS_REPLY_INTEGER) {
		error_set(err, RW_ERROR_SERVER, "unexpected answer %lld", reply->integer);
	} else {
		error_set(err, RW_ERROR_SERVER, "unexpected answer: %s", reply_type_name(reply->type));
	}
	return LOCK_RESULT_ERROR;
}

enum lock_result lock_decode_left(const redisReply *reply, uint64_t *ret_left_ms,
	struct rw_error *err) {
	if (reply->type != REDIS_REPLY_INTEGER || reply->integer < 0) {
		error_set(err, RW_ERROR_SERVER, "unexpected answer: %s", reply_type_name(reply->type));
		return LOCK_RESULT_ERROR;
	}
	*ret_left_ms = (uint64_t)reply->integer;
	return reply->integer > 0 ? LOCK_RESULT_YES : LOCK_RESULT_NO;
}

enum lock_result lock_decode_holders(const redisReply *reply, bool with_waiters,
	struct lock_status *ret, struct rw_error *err) {
	long long now, waiters = 0;
	size_t first = with_waiters ? 2 : 1;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < first ||
		(reply->elements - first) % 7 != 0 || !element_integer(reply, 0, &now) || now < 0 ||
		(with_waiters && (!element_integer(reply, 1, &waiters) || waiters < 0))) {
		error_set(err, RW_ERROR_SERVER, "malformed list of holders (%s)",
			reply_type_name(reply->type));
		return LOCK_RESULT_ERROR;
	}
	struct lock_status status = {
		.server_now_ms = (uint64_t)now,
		.waiters = (long)waiters,
		.holder_count = (reply->elements - first) / 7,
	};
	if (status.holder_count > 0) {
		status.holders = calloc(status.holder_count, sizeof(*status.holders));
		if (status.holders == NULL) {
			error_set(err, RW_ERROR_INTERNAL, "out of memory");
			return LOCK_RESULT_ERROR;
		}
	}
	for (size_t i = 0; i < status.holder_count; i++) {
		if (!decode_holder(reply, first + 7 * i, (uint64_t)now, true, &status.holders[i])) {
			free(status.holders);
			error_set(err, RW_ERROR_SERVER, "malformed holder %zu in the list", i + 1);
			return LOCK_RESULT_ERROR;
		}
	}
	*ret = status;
	return LOCK_RESULT_YES;
}

static int send_call(struct call *call, bool use_eval, struct rw_error *err);

static void finish_call(struct call *call, enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err) {
	lock_done_cb *cb = call->cb;
	void *data = call->data;
	free(call);
	cb(result, busy, status, err, data);
}

static bool synced(const struct call *call) {
	return call->lock->sync && call->script->synced;
}

/* --sync: a grant or an extension that not every online replica acknowledged. A grant is
 * given back (the leave script) and reported after that; an extension is reported as
 * failed. Returns false when the replicas are all there. */
static bool replicas_short(struct call *call) {
	struct rw_error err = {0};
	if (!synced(call) || (!call->replicas.failed &&
		call->replicas.acked >= call->replicas.online)) {
		return false;
	}
	/* "... replicas of HOST acknowledged it within N ms" or "... whether the replicas of
	 * HOST have it could not be learned (WHY)" */
	char what[500];
	const char *it = call->script == &script_extend ? "the extension" : "it";
	if (call->replicas.failed) {
		(void)error_format(what, sizeof(what), "whether the replicas of %s have %s could not "
			"be learned (%s)", conn_address(call->conn), it, call->replicas.failure);
	} else {
		(void)error_format(what, sizeof(what), "only %d of %d replicas of %s acknowledged %s "
			"within %" PRIu64 " ms", call->replicas.acked, call->replicas.online,
			conn_address(call->conn), it, call->timeout_ms);
	}
	if (call->script == &script_extend) {
		error_set(&err, RW_ERROR_SERVER, "extend (--sync): %s", what);
		finish_call(call, LOCK_RESULT_ERROR, NULL, NULL, &err);
		return true;
	}
	error_set(&call->give_back_why, RW_ERROR_SERVER, "'%s' was granted, but %s, so it was "
		"given back (--sync)", call->lock->name, what);
	call->give_back_why.hint = "check the replicas' link to the master (INFO replication), "
				   "or run without --sync";
	call->give_back_why.final = true;
	call->giving_back = true;
	call->script = &script_leave;
	call->retried_with_eval = false;
	if (send_call(call, false, &err) < 0) {
		struct rw_error why = call->give_back_why;
		finish_call(call, LOCK_RESULT_ERROR, NULL, NULL, &why);
	}
	return true;
}

/* Decodes a script's answer and reports it. */
static void report_script(struct call *call, const redisReply *reply) {
	struct rw_error err = {0};
	struct lock_busy busy;
	struct lock_status status = {0};
	enum lock_result result;
	switch (call->script->reply) {
	case REPLY_ACQUIRE:
		result = lock_decode_acquire(reply, &call->lock->fence, &busy, &err);
		break;
	case REPLY_FLAG:
		result = lock_decode_flag(reply, &err);
		break;
	case REPLY_LEFT:
		result = lock_decode_left(reply, &call->lock->held_left_ms, &err);
		break;
	default:
		result = lock_decode_holders(reply, call->script->reply == REPLY_HOLDERS_WITH_WAITERS,
			&status, &err);
		break;
	}
	if (result == LOCK_RESULT_ERROR && err.kind == RW_ERROR_USAGE) {
		struct rw_error named = {0};
		error_set(&named, RW_ERROR_USAGE, "'%s': %s", call->lock->name, err.message);
		named.hint = err.hint;
		finish_call(call, result, NULL, NULL, &named);
		return;
	}
	if (result == LOCK_RESULT_ERROR) {
		struct rw_error wrapped = {0};
		error_set(&wrapped, RW_ERROR_SERVER, "%s on %s: %s", call->script->name,
			conn_address(call->conn), err.message);
		wrapped.hint = "check that the URL points to a Redis server (version 6 or later)";
		finish_call(call, result, NULL, NULL, &wrapped);
		return;
	}
	if (result == LOCK_RESULT_YES && replicas_short(call)) {
		return; /* given back, or reported as a failed extension */
	}
	if (result == LOCK_RESULT_NO && call->after_wait && call->lock->wait_failed) {
		struct rw_error why = call->lock->wait_err;
		finish_call(call, LOCK_RESULT_ERROR, NULL, NULL, &why);
		return;
	}
	bool is_busy = call->script->reply == REPLY_ACQUIRE && result == LOCK_RESULT_NO;
	bool has_status = call->script->reply == REPLY_HOLDERS ||
		call->script->reply == REPLY_HOLDERS_WITH_WAITERS;
	struct lock_holder *holders = status.holders;
	finish_call(call, result, is_busy ? &busy : NULL, has_status ? &status : NULL, NULL);
	free(holders);
}

static void on_reply(const redisReply *reply, const struct rw_error *conn_err, void *data) {
	struct call *call = data;
	struct rw_error err = {0};
	if (call->giving_back && (conn_err != NULL || reply->type != REDIS_REPLY_ERROR ||
		strncmp(reply->str, "NOSCRIPT", 8) != 0 || call->retried_with_eval)) {
		/* The grant expires by itself when the leave did not reach the server. */
		struct rw_error why = call->give_back_why;
		finish_call(call, LOCK_RESULT_ERROR, NULL, NULL, &why);
		return;
	}
	if (conn_err != NULL) {
		finish_call(call, LOCK_RESULT_ERROR, NULL, NULL, conn_err);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		if (call->script != NULL && !call->retried_with_eval &&
			strncmp(reply->str, "NOSCRIPT", 8) == 0) {
			call->retried_with_eval = true;
			if (send_call(call, true, &err) < 0) {
				finish_call(call, LOCK_RESULT_ERROR, NULL, NULL, &err);
			}
			return;
		}
		error_set(&err, RW_ERROR_SERVER, "%s on %s failed: %s",
			call->script ? call->script->name : "BLPOP", conn_address(call->conn), reply->str);
		finish_call(call, LOCK_RESULT_ERROR, NULL, NULL, &err);
		return;
	}
	if (call->script != NULL) {
		report_script(call, reply);
		return;
	}
	/* BLPOP: nil when the time ran out, [key, value] when woken. */
	if (reply->type == REDIS_REPLY_NIL) {
		finish_call(call, LOCK_RESULT_NO, NULL, NULL, NULL);
	} else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
		finish_call(call, LOCK_RESULT_YES, NULL, NULL, NULL);
	} else {
		error_set(&err, RW_ERROR_SERVER, "BLPOP on %s: unexpected answer: %s",
			conn_address(call->conn), reply_type_name(reply->type));
		finish_call(call, LOCK_RESULT_ERROR, NULL, NULL, &err);
	}
}

static int send_call(struct call *call, bool use_eval, struct rw_error *err) {
	const struct lock *lock = call->lock;
	const char *argv[12 + LOCK_KEY_COUNT];
	size_t len[12 + LOCK_KEY_COUNT];
	int argc = 0;
	char what[32];
	char fence[24];
	argv[argc++] = use_eval ? "EVAL" : "EVALSHA";
	argv[argc++] = use_eval ? call->script->source : call->script->sha1;
	argv[argc++] = LOCK_KEY_COUNT_TEXT;
	for (size_t i = 0; i < LOCK_KEY_COUNT; i++) {
		argv[argc++] = lock->keys[i];
	}
	switch (call->script->args) {
	case ARGS_ACQUIRE:
		argv[argc++] = lock->token;
		argv[argc++] = lock->ttl;
		argv[argc++] = lock->limit;
		argv[argc++] = lock->host;
		argv[argc++] = lock->pid;
		argv[argc++] = lock->task;
		argv[argc++] = call->how == LOCK_TRY_QUEUE ? "1" :
			(call->how == LOCK_TRY_WATCH ? "2" : "0");
		argv[argc++] = lock->mode;
		break;
	case ARGS_RELEASE:
		argv[argc++] = lock->token;
		argv[argc++] = lock->ttl;
		argv[argc++] = lock->limit;
		argv[argc++] = lock->min_hold;
		break;
	case ARGS_TOKEN_TTL_LIMIT:
		argv[argc++] = lock->token;
		argv[argc++] = lock->ttl;
		argv[argc++] = lock->limit;
		break;
	case ARGS_EXTEND:
		argv[argc++] = lock->token;
		argv[argc++] = lock->ttl;
		(void)snprintf(fence, sizeof(fence), "%" PRIu64, lock->fence);
		argv[argc++] = fence;
		break;
	case ARGS_TTL_LIMIT:
		argv[argc++] = lock->ttl;
		argv[argc++] = lock->limit;
		break;
	case ARGS_TOKEN:
		argv[argc++] = lock->token;
		break;
	case ARGS_NONE:
		break;
	}
	for (int i = 0; i < argc; i++) {
		len[i] = strlen(argv[i]);
	}
	(void)snprintf(what, sizeof(what), "%s %s", argv[0], call->script->name);
	return conn_command_replicated(call->conn, what, call->timeout_ms, call->script->conn_flags,
		on_reply, call, argc, argv, len, synced(call) ? &call->replicas : NULL, err);
}

static struct call *new_call(struct lock *lock, const struct script *script, struct conn *conn,
	uint64_t timeout_ms, lock_done_cb *cb, void *data, struct rw_error *err) {
	struct call *call = calloc(1, sizeof(*call));
	if (call == NULL) {
		error_set(err, RW_ERROR_INTERNAL, "out of memory");
		return NULL;
	}
	call->lock = lock;
	call->conn = conn;
	call->script = script;
	call->timeout_ms = timeout_ms;
	call->cb = cb;
	call->data = data;
	return call;
}

static int start_script(struct lock *lock, const struct script *script, struct conn *conn,
	uint64_t timeout_ms, enum lock_try how, lock_done_cb *cb, void *data, struct rw_error *err) {
	struct call *call = new_call(lock, script, conn, timeout_ms, cb, data, err);
	if (call == NULL) {
		return -1;
	}
	call->how = how;
	if (send_call(call, false, err) < 0) {
		free(call);
		return -1;
	}
	return 0;
}

int lock_acquire(struct lock *lock, struct conn *conn, uint64_t timeout_ms, enum lock_try how,
	lock_done_cb *cb, void *data, struct rw_error *err) {
	return start_script(lock, &script_acquire, conn, timeout_ms, how, cb, data, err);
}

int lock_extend(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err) {
	return start_script(lock, &script_extend, conn, timeout_ms, LOCK_TRY_ONCE, cb, data, err);
}

int lock_release(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err) {
	return start_script(lock, &script_release, conn, timeout_ms, LOCK_TRY_ONCE, cb, data, err);
}

int lock_leave(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err) {
	return start_script(lock, &script_leave, conn, timeout_ms, LOCK_TRY_ONCE, cb, data, err);
}

int lock_held(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err) {
	return start_script(lock, &script_held, conn, timeout_ms, LOCK_TRY_ONCE, cb, data, err);
}

int lock_status(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err) {
	return start_script(lock, &script_status, conn, timeout_ms, LOCK_TRY_ONCE, cb, data, err);
}

int lock_break(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err) {
	return start_script(lock, &script_break, conn, timeout_ms, LOCK_TRY_ONCE, cb, data, err);
}

/* The server answers BLPOP after wait_ms at the latest; the request's own deadline allows
 * that plus the usual time for an answer. */
#define WAIT_ANSWER_MS 2000u

int lock_wait(struct lock *lock, struct conn *conn, uint64_t wait_ms, lock_done_cb *cb,
	void *data, struct rw_error *err) {
	struct call *call = new_call(lock, NULL, conn, wait_ms + WAIT_ANSWER_MS, cb, data, err);
	if (call == NULL) {
		return -1;
	}
	/* BLPOP takes seconds; 0 would mean "for ever", so never send less than 1 ms. */
	char timeout[32];
	uint64_t ms = wait_ms > 0 ? wait_ms : 1;
	(void)snprintf(timeout, sizeof(timeout), "%" PRIu64 ".%03" PRIu64, ms / 1000, ms % 1000);
	const char *argv[3] = {"BLPOP", lock->wake_key, timeout};
	size_t len[3] = {5, strlen(lock->wake_key), strlen(timeout)};
	/* Not retry-safe: a BLPOP sent again may take a wake-up a second time, or outlive its
	 * deadline; its failure is reported, and the waiter looks again. */
	if (conn_command(conn, "BLPOP wake-up", call->timeout_ms, CONN_BLOCKING, on_reply, call, 3,
		argv, len, err) < 0) {
		free(call);
		return -1;
	}
	return 0;
}

/* The BLPOP in front of lock_wait_then_acquire: only a failure matters (the acquire behind
 * it reports); it is kept in the lock, which outlives both requests. */
static void on_wait_in_front(enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err, void *data) {
	struct lock *lock = data;
	if (result == LOCK_RESULT_ERROR) {
		lock->wait_failed = true;
		lock->wait_err = *err;
	}
}

int lock_wait_then_acquire(struct lock *lock, struct conn *conn, uint64_t wait_ms,
	uint64_t timeout_ms, lock_done_cb *cb, void *data, struct rw_error *err) {
	lock->wait_failed = false;
	if (lock_wait(lock, conn, wait_ms, on_wait_in_front, lock, err) < 0) {
		return -1;
	}
	struct call *call = new_call(lock, &script_acquire, conn, wait_ms + WAIT_ANSWER_MS +
		timeout_ms, cb, data, err);
	if (call == NULL) {
		return -1;
	}
	call->how = LOCK_TRY_QUEUE;
	call->after_wait = true;
	if (send_call(call, false, err) < 0) {
		free(call);
		return -1;
	}
	return 0;
}
