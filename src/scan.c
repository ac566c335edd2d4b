/* The lock names in use under a prefix, from SCAN on every master of every server (see
 * scan.h): one SCAN cursor per master, all masters at once, each step sent when the last
 * one has answered. */
#include "scan.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "lock.h"
#include "log.h"
#include "masters.h"
#include "quorum.h"

/* ---- the pure parts ----------------------------------------------------------------- */

bool scan_pattern(const char *prefix, char *buf, size_t size) {
	/* "[hq][oe]*" after "}:" matches "holders" and "qexp" but not the lock's other keys
	 * (info, fence, queue, seq, wake:*, watch): the fence key of every lock ever used
	 * stays for good, and need not come back. Names that contain "}:" may still bring
	 * other keys; scan_lock_name sorts them out. */
	static const char suffix[] = "{*}:[hq][oe]*";
	static const char glob[] = "*?[]\\";
	size_t need = sizeof(suffix);
	for (const char *p = prefix; *p; p++) {
		need += strchr(glob, *p) != NULL ? 2 : 1;
	}
	if (need > size) {
		return false;
	}
	size_t used = 0;
	for (const char *p = prefix; *p; p++) {
		if (strchr(glob, *p) != NULL) {
			buf[used++] = '\\';
		}
		buf[used++] = *p;
	}
	memcpy(buf + used, suffix, sizeof(suffix));
	return true;
}

/* True when key (len bytes) ends with "}:" and `suffix`. */
static bool ends_with(const char *key, size_t len, const char *suffix) {
	size_t suffix_len = strlen(suffix);
	return len >= suffix_len + 2 && memcmp(key + len - suffix_len, suffix, suffix_len) == 0 &&
		memcmp(key + len - suffix_len - 2, "}:", 2) == 0;
}

bool scan_lock_name(const char *prefix, const char *key, size_t len, char *ret) {
	/* The suffixes of lock.h's P{L}:holders and P{L}:qexp. */
	static const char *const suffixes[] = {"holders", "qexp"};
	size_t prefix_len = strlen(prefix);
	if (len < prefix_len + 1 || memcmp(key, prefix, prefix_len) != 0 ||
		key[prefix_len] != '{' || memchr(key, '\0', len) != NULL) {
		return false;
	}
	const char *start = key + prefix_len + 1;
	size_t rest = len - prefix_len - 1;
	for (size_t i = 0; i < RW_ARRAY_SIZE(suffixes); i++) {
		if (!ends_with(start, rest, suffixes[i])) {
			continue;
		}
		size_t name_len = rest - strlen(suffixes[i]) - 2;
		char name[LOCK_NAME_MAX + 1];
		struct rw_error ignored = {0};
		if (name_len == 0 || name_len > LOCK_NAME_MAX) {
			return false;
		}
		memcpy(name, start, name_len);
		name[name_len] = '\0';
		if (options_check_lock_name(name, &ignored) < 0) {
			return false;
		}
		memcpy(ret, name, name_len + 1);
		return true;
	}
	return false;
}

bool scan_decode(const redisReply *reply, char ret_cursor[SCAN_CURSOR_SIZE],
	const redisReply **ret_keys) {
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
		reply->element[0]->type != REDIS_REPLY_STRING ||
		reply->element[1]->type != REDIS_REPLY_ARRAY) {
		return false;
	}
	const redisReply *cursor = reply->element[0];
	const redisReply *keys = reply->element[1];
	if (cursor->len == 0 || cursor->len >= SCAN_CURSOR_SIZE) {
		return false;
	}
	for (size_t i = 0; i < cursor->len; i++) {
		if (cursor->str[i] < '0' || cursor->str[i] > '9') {
			return false;
		}
	}
	for (size_t i = 0; i < keys->elements; i++) {
		if (keys->element[i]->type != REDIS_REPLY_STRING) {
			return false;
		}
	}
	memcpy(ret_cursor, cursor->str, cursor->len);
	ret_cursor[cursor->len] = '\0';
	*ret_keys = keys;
	return true;
}

/* ---- scanning ----------------------------------------------------------------------- */

/* One master's SCAN. */
struct cursor {
	struct server *server;
	size_t index;
	char position[SCAN_CURSOR_SIZE];
};

/* One -r server, and the SCAN of each of its masters. */
struct server {
	struct scan *scan;
	struct masters *masters;
	struct cursor *cursors; /* one per master */
	bool failed;
	struct rw_error failure;
};

struct scan {
	const struct rw_options *opts;
	const struct scan_limits *limits;
	char pattern[2 * LOCK_KEY_MAX + 16];
	struct server *servers; /* opts->server_count of them */
	size_t pending;         /* requests in flight */
	struct scan_result result;
	size_t capacity; /* of result.names */
};

static void server_failed(struct server *server, const struct rw_error *err) {
	if (!server->failed) {
		server->failed = true;
		server->failure = *err;
	}
}

static void out_of_memory(struct server *server) {
	struct rw_error err = {0};
	error_set(&err, RW_ERROR_INTERNAL, "out of memory");
	server_failed(server, &err);
}

static bool grow_names(struct scan *scan) {
	size_t capacity = scan->capacity == 0 ? 64 : scan->capacity * 2;
	char **names = realloc(scan->result.names, capacity * sizeof(*names));
	if (names == NULL) {
		return false;
	}
	scan->result.names = names;
	scan->capacity = capacity;
	return true;
}

/* Adds name to the sorted, distinct names (a binary search, then a move: a few thousand
 * names cost milliseconds); a new one past the limit stops the scan. */
static void add_name(struct scan *scan, struct server *server, const char *name) {
	struct scan_result *r = &scan->result;
	size_t low = 0, high = r->count;
	while (low < high) {
		size_t mid = low + (high - low) / 2;
		int order = strcmp(r->names[mid], name);
		if (order == 0) {
			return;
		}
		if (order < 0) {
			low = mid + 1;
		} else {
			high = mid;
		}
	}
	if (r->count == scan->limits->max_names) {
		r->stopped = SCAN_STOPPED_COUNT;
		return;
	}
	char *copy = NULL;
	if ((r->count == scan->capacity && !grow_names(scan)) || (copy = strdup(name)) == NULL) {
		out_of_memory(server);
		return;
	}
	memmove(&r->names[low + 1], &r->names[low], (r->count - low) * sizeof(*r->names));
	r->names[low] = copy;
	r->count++;
}

/* Whether the scan must end before its next step: the names are complete or out of time.
 * Either way the names found so far stand; the result says why there may be more. */
static bool must_stop(struct scan *scan) {
	if (scan->result.stopped == SCAN_STOPPED_COUNT) {
		return true;
	}
	if (clock_mono_ms() >= scan->limits->deadline_ms) {
		scan->result.stopped = SCAN_STOPPED_TIME;
		return true;
	}
	return false;
}

/* Once nothing is in flight: closes every connection, so that uv_run() returns. */
static void maybe_finish(struct scan *scan) {
	if (scan->pending > 0) {
		return;
	}
	for (size_t i = 0; i < scan->opts->server_count; i++) {
		masters_destroy(scan->servers[i].masters);
		scan->servers[i].masters = NULL;
	}
}

static void on_scan_reply(const redisReply *reply, const struct rw_error *err, void *data);

/* Sends the next SCAN step of one master. */
static void send_step(struct cursor *cursor) {
	struct server *server = cursor->server;
	struct scan *scan = server->scan;
	struct rw_error err = {0};
	const char *argv[6] = {"SCAN", cursor->position, "MATCH", scan->pattern, "COUNT",
		SCAN_COUNT};
	size_t len[6];
	for (size_t i = 0; i < 6; i++) {
		len[i] = strlen(argv[i]);
	}
	if (masters_command(server->masters, cursor->index, "SCAN", scan->limits->timeout_ms,
		on_scan_reply, cursor, 6, argv, len, &err) < 0) {
		server_failed(server, &err);
		return;
	}
	scan->pending++;
}

/* Reads one step's keys; returns false (the server failed) when the answer is not SCAN's. */
static bool take_step(struct cursor *cursor, const redisReply *reply) {
	struct server *server = cursor->server;
	const char *address = masters_address(server->masters, cursor->index);
	const redisReply *keys;
	struct rw_error err = {0};
	if (reply->type == REDIS_REPLY_ERROR || !scan_decode(reply, cursor->position, &keys)) {
		error_set(&err, RW_ERROR_SERVER, "SCAN on %s failed: %s", address,
			reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected answer");
		err.hint = reply->type != REDIS_REPLY_ERROR ?
			"check that the URL points to a Redis server" :
			strncmp(reply->str, "NOPERM", 6) == 0 ? "grant the user +scan, which --list needs" :
			NULL;
		server_failed(server, &err);
		return false;
	}
	char name[LOCK_NAME_MAX + 1];
	for (size_t i = 0; i < keys->elements; i++) {
		const redisReply *key = keys->element[i];
		if (scan_lock_name(server->scan->opts->prefix, key->str, key->len, name)) {
			add_name(server->scan, server, name);
		}
	}
	return true;
}

static void on_scan_reply(const redisReply *reply, const struct rw_error *err, void *data) {
	struct cursor *cursor = data;
	struct server *server = cursor->server;
	struct scan *scan = server->scan;
	scan->pending--;
	if (err != NULL) {
		server_failed(server, err);
	} else if (!server->failed && take_step(cursor, reply)) {
		/* Cursor 0: this master is done. The server may have failed meanwhile, on
		 * another master or out of memory here. */
		bool more = strcmp(cursor->position, "0") != 0 && !server->failed;
		if (more && !must_stop(scan)) {
			send_step(cursor);
		}
	}
	maybe_finish(scan);
}

static void on_masters_found(const struct rw_error *err, void *data) {
	struct server *server = data;
	struct scan *scan = server->scan;
	scan->pending--;
	size_t count = err == NULL ? masters_count(server->masters) : 0;
	if (err != NULL) {
		server_failed(server, err);
	} else if (count > 0) {
		server->cursors = calloc(count, sizeof(*server->cursors));
		if (server->cursors == NULL) {
			out_of_memory(server);
		}
	}
	for (size_t i = 0; i < count && !server->failed; i++) {
		server->cursors[i] = (struct cursor){.server = server, .index = i, .position = "0"};
		send_step(&server->cursors[i]);
	}
	maybe_finish(scan);
}

static void start_server(struct scan *scan, size_t index, const struct tls_context *tls,
	uv_loop_t *loop) {
	struct server *server = &scan->servers[index];
	struct rw_error err = {0};
	server->scan = scan;
	server->masters = masters_create(loop, &scan->opts->servers[index], tls);
	if (server->masters == NULL) {
		out_of_memory(server);
		return;
	}
	if (masters_find(server->masters, scan->limits->timeout_ms, on_masters_found, server,
		&err) < 0) {
		server_failed(server, &err);
		return;
	}
	scan->pending++;
}

/* The verdict once every server is done: enough of them answered, or the first failure
 * (in -r order) of those that did not. The failures of a minority are only told at -v. */
static int judge(const struct scan *scan, struct rw_error *err) {
	size_t count = scan->opts->server_count;
	size_t answered = 0;
	const struct rw_error *first = NULL;
	for (size_t i = 0; i < count; i++) {
		const struct server *server = &scan->servers[i];
		if (!server->failed) {
			answered++;
		} else if (first == NULL) {
			first = &server->failure;
		}
	}
	if (answered >= quorum_majority(count)) {
		for (size_t i = 0; i < count; i++) {
			if (scan->servers[i].failed) {
				log_msg(LOG_INFO, "could not scan a server (%s); a majority was "
					"scanned, ignoring", scan->servers[i].failure.message);
			}
		}
		return 0;
	}
	if (count > 1) {
		error_set(err, first->kind, "only %zu of %zu servers could be scanned, fewer than "
			"a majority; %s", answered, count, first->message);
	} else {
		error_set(err, first->kind, "%s", first->message);
	}
	err->hint = first->hint;
	return -1;
}

int scan_lock_names(uv_loop_t *loop, const struct rw_options *opts,
	const struct tls_context *tls, const struct scan_limits *limits, struct scan_result *ret,
	struct rw_error *err) {
	struct scan scan = {.opts = opts, .limits = limits};
	if (!scan_pattern(opts->prefix, scan.pattern, sizeof(scan.pattern))) {
		return error_set(err, RW_ERROR_USAGE, "--prefix is too long");
	}
	scan.servers = calloc(opts->server_count, sizeof(*scan.servers));
	if (scan.servers == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < opts->server_count; i++) {
		start_server(&scan, i, tls, loop);
	}
	maybe_finish(&scan);
	(void)uv_run(loop, UV_RUN_DEFAULT);
	int rc = judge(&scan, err);
	for (size_t i = 0; i < opts->server_count; i++) {
		free(scan.servers[i].cursors);
	}
	free(scan.servers);
	if (rc < 0) {
		scan_result_finish(&scan.result);
		return -1;
	}
	*ret = scan.result;
	return 0;
}

void scan_result_finish(struct scan_result *result) {
	for (size_t i = 0; i < result->count; i++) {
		free(result->names[i]);
	}
	free(result->names);
	memset(result, 0, sizeof(*result));
}
