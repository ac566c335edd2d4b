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

struct script {
	const char *name;
	const char *source;
	const char *sha1;
	int key_count;
};

static const struct script script_acquire = {"acquire", lua_acquire_source, lua_acquire_sha1, 3};
static const struct script script_extend = {"extend", lua_extend_source, lua_extend_sha1, 2};
static const struct script script_release = {"release", lua_release_source, lua_release_sha1, 2};

/* One script call in flight; freed after it has reported. */
struct call {
	struct lock *lock;
	struct conn *conn;
	const struct script *script;
	uint64_t timeout_ms;
	lock_done_cb *cb;
	void *data;
	bool retried_with_eval;
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

static int format_key(char *out, const char *prefix, const char *name, const char *suffix,
	struct rw_error *err) {
	int n = snprintf(out, LOCK_KEY_MAX, "%s{%s}:%s", prefix, name, suffix);
	if (n < 0 || n >= LOCK_KEY_MAX) {
		return error_set(err, RW_ERROR_USAGE, "--prefix is too long");
	}
	return 0;
}

int lock_init(struct lock *lock, const struct rw_options *opts, struct rw_error *err) {
	memset(lock, 0, sizeof(*lock));
	if (format_key(lock->key_holders, opts->prefix, opts->lock, "holders", err) < 0 ||
		format_key(lock->key_info, opts->prefix, opts->lock, "info", err) < 0 ||
		format_key(lock->key_fence, opts->prefix, opts->lock, "fence", err) < 0 ||
		fill_random_token(lock->token, err) < 0) {
		return -1;
	}
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
	lock->task = opts->task ? opts->task : "";
	lock->name = opts->lock;
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

enum lock_result lock_decode_acquire(const redisReply *reply, uint64_t *ret_fence,
	struct lock_holder *ret_holder, struct rw_error *err) {
	long long flag, fence;
	if (reply->type != REDIS_REPLY_ARRAY || !element_integer(reply, 0, &flag)) {
		error_set(err, RW_ERROR_SERVER, "unexpected answer to acquire: %s",
			reply_type_name(reply->type));
		return LOCK_RESULT_ERROR;
	}
	if (flag == 1 && reply->elements == 2 && element_integer(reply, 1, &fence) && fence > 0) {
		*ret_fence = (uint64_t)fence;
		return LOCK_RESULT_YES;
	}
	struct lock_holder holder;
	long long pid, since, ttl_left, now;
	memset(&holder, 0, sizeof(holder));
	if (flag == 0 && reply->elements == 8 &&
		element_string(reply, 1, holder.host, sizeof(holder.host)) &&
		element_integer(reply, 2, &pid) &&
		element_string(reply, 3, holder.task, sizeof(holder.task)) &&
		element_integer(reply, 4, &since) && element_integer(reply, 5, &ttl_left) &&
		element_integer(reply, 6, &fence) && element_integer(reply, 7, &now) && pid >= 0 &&
		since >= 0 && fence >= 0 && now >= 0) {
		holder.server_now_ms = (uint64_t)now;
		holder.pid = (long)pid;
		holder.since_ms = (uint64_t)since;
		holder.ttl_left_ms = ttl_left;
		holder.fence = (uint64_t)fence;
		*ret_holder = holder;
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

static int send_call(struct call *call, bool use_eval, struct rw_error *err);

static void finish_call(struct call *call, enum lock_result result, const struct lock_holder *holder,
	const struct rw_error *err) {
	lock_done_cb *cb = call->cb;
	void *data = call->data;
	free(call);
	cb(result, holder, err, data);
}

static void on_script_reply(const redisReply *reply, const struct rw_error *conn_err, void *data) {
	struct call *call = data;
	struct rw_error err = {0};
	if (conn_err != NULL) {
		finish_call(call, LOCK_RESULT_ERROR, NULL, conn_err);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		if (!call->retried_with_eval && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
			call->retried_with_eval = true;
			if (send_call(call, true, &err) < 0) {
				finish_call(call, LOCK_RESULT_ERROR, NULL, &err);
			}
			return;
		}
		error_set(&err, RW_ERROR_SERVER, "%s on %s failed: %s", call->script->name,
			conn_address(call->conn), reply->str);
		finish_call(call, LOCK_RESULT_ERROR, NULL, &err);
		return;
	}
	enum lock_result result;
	struct lock_holder holder;
	bool busy_holder = false;
	if (call->script == &script_acquire) {
		result = lock_decode_acquire(reply, &call->lock->fence, &holder, &err);
		busy_holder = result == LOCK_RESULT_NO;
	} else {
		result = lock_decode_flag(reply, &err);
	}
	if (result == LOCK_RESULT_ERROR) {
		struct rw_error wrapped = {0};
		error_set(&wrapped, RW_ERROR_SERVER, "%s on %s: %s", call->script->name,
			conn_address(call->conn), err.message);
		wrapped.hint = "check that the URL points to a Redis server (version 5 or later)";
		finish_call(call, result, NULL, &wrapped);
		return;
	}
	finish_call(call, result, busy_holder ? &holder : NULL, NULL);
}

static int send_call(struct call *call, bool use_eval, struct rw_error *err) {
	const struct lock *lock = call->lock;
	const char *argv[16];
	size_t len[16];
	int argc = 0;
	char what[32];
	argv[argc++] = use_eval ? "EVAL" : "EVALSHA";
	argv[argc++] = use_eval ? call->script->source : call->script->sha1;
	argv[argc++] = call->script->key_count == 3 ? "3" : "2";
	argv[argc++] = lock->key_holders;
	argv[argc++] = lock->key_info;
	if (call->script->key_count == 3) {
		argv[argc++] = lock->key_fence;
	}
	argv[argc++] = lock->token;
	if (call->script != &script_release) {
		argv[argc++] = lock->ttl;
	}
	if (call->script == &script_acquire) {
		argv[argc++] = lock->limit;
		argv[argc++] = lock->host;
		argv[argc++] = lock->pid;
		argv[argc++] = lock->task;
	}
	for (int i = 0; i < argc; i++) {
		len[i] = strlen(argv[i]);
	}
	(void)snprintf(what, sizeof(what), "%s %s", argv[0], call->script->name);
	return conn_command(call->conn, what, call->timeout_ms, on_script_reply, call, argc, argv,
		len, err);
}

static int start_call(struct lock *lock, const struct script *script, struct conn *conn,
	uint64_t timeout_ms, lock_done_cb *cb, void *data, struct rw_error *err) {
	struct call *call = calloc(1, sizeof(*call));
	if (call == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "out of memory");
	}
	call->lock = lock;
	call->conn = conn;
	call->script = script;
	call->timeout_ms = timeout_ms;
	call->cb = cb;
	call->data = data;
	if (send_call(call, false, err) < 0) {
		free(call);
		return -1;
	}
	return 0;
}

int lock_acquire(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err) {
	return start_call(lock, &script_acquire, conn, timeout_ms, cb, data, err);
}

int lock_extend(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err) {
	return start_call(lock, &script_extend, conn, timeout_ms, cb, data, err);
}

int lock_release(struct lock *lock, struct conn *conn, uint64_t timeout_ms, lock_done_cb *cb,
	void *data, struct rw_error *err) {
	return start_call(lock, &script_release, conn, timeout_ms, cb, data, err);
}
