/* --status and --break: one script each on one connection, then the report on stdout. The
 * text form is for people; the JSON form is the stable one. */
#include "admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "json.h"
#include "lock.h"
#include "quorum.h"

#define ADMIN_TIMEOUT_MS 2000u

struct admin {
	const struct rw_options *opts;
	struct rw_error *err;
	struct conn *conn;     /* one server */
	struct quorum *quorum; /* several */
	struct lock lock;
};

static void format_time(uint64_t epoch_ms, char *buf, size_t size) {
	time_t seconds = (time_t)(epoch_ms / 1000);
	struct tm tm;
	if (gmtime_r(&seconds, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		(void)snprintf(buf, size, "%" PRIu64 " ms", epoch_ms);
	}
}

static void print_holder_text(const struct lock_holder *holder) {
	struct lock_holder shown;
	const struct lock_holder *h = &shown;
	lock_holder_printable(holder, &shown);
	char since[32];
	uint64_t held_ms = h->server_now_ms > h->since_ms ? h->server_now_ms - h->since_ms : 0;
	int64_t ttl_ms = h->ttl_left_ms > 0 ? h->ttl_left_ms : 0;
	format_time(h->since_ms, since, sizeof(since));
	printf("  %s:%ld  task '%s'  since %s (%" PRIu64 "s ago)  ttl %" PRId64 ".%" PRId64
	       "s  fence %" PRIu64 "  %s\n",
		h->host, h->pid, h->task, since, held_ms / 1000, ttl_ms / 1000, ttl_ms % 1000 / 100,
		h->fence, h->shared ? "shared" : "exclusive");
}

static void print_holder_json(const struct lock_holder *h) {
	fputs("{\"host\":", stdout);
	json_write_string(stdout, h->host);
	printf(",\"pid\":%ld,\"task\":", h->pid);
	json_write_string(stdout, h->task);
	printf(",\"since_ms\":%" PRIu64 ",\"ttl_ms\":%" PRId64 ",\"fence\":%" PRIu64
	       ",\"mode\":\"%s\"}",
		h->since_ms, h->ttl_left_ms > 0 ? h->ttl_left_ms : 0, h->fence,
		h->shared ? "shared" : "exclusive");
}

static void print_status(const struct admin *admin, const struct lock_status *status) {
	const char *name = admin->opts->lock;
	if (admin->opts->json) {
		fputs("{\"lock\":", stdout);
		json_write_string(stdout, name);
		printf(",\"held\":%s,\"holders\":[", status->holder_count > 0 ? "true" : "false");
		for (size_t i = 0; i < status->holder_count; i++) {
			if (i > 0) {
				fputc(',', stdout);
			}
			print_holder_json(&status->holders[i]);
		}
		printf("],\"waiters\":%ld}\n", status->waiters);
		return;
	}
	if (status->holder_count == 0) {
		printf("%s: free, %ld waiting\n", name, status->waiters);
		return;
	}
	printf("%s: held by %zu holder%s, %ld waiting\n", name, status->holder_count,
		status->holder_count == 1 ? "" : "s", status->waiters);
	for (size_t i = 0; i < status->holder_count; i++) {
		print_holder_text(&status->holders[i]);
	}
}

static void print_break(const struct admin *admin, const struct lock_status *removed) {
	if (removed->holder_count == 0) {
		printf("%s: had no holder; nothing removed\n", admin->opts->lock);
		return;
	}
	for (size_t i = 0; i < removed->holder_count; i++) {
		struct lock_holder shown;
		const struct lock_holder *h = &shown;
		lock_holder_printable(&removed->holders[i], &shown);
		printf("%s: removed holder %s:%ld (task '%s', fence %" PRIu64 "%s)\n",
			admin->opts->lock, h->host, h->pid, h->task, h->fence, h->shared ? ", shared" : "");
	}
}

static void on_done(enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err, void *data) {
	struct admin *admin = data;
	if (result == LOCK_RESULT_ERROR) {
		*admin->err = *err;
	} else if (admin->opts->action == ACTION_STATUS) {
		print_status(admin, status);
	} else {
		print_break(admin, status);
	}
	conn_destroy(admin->conn);
	admin->conn = NULL;
	quorum_destroy(admin->quorum);
	admin->quorum = NULL;
}

void admin_run(uv_loop_t *loop, const struct rw_options *opts, const struct tls_context *tls,
	struct rw_error *err) {
	struct admin admin = {.opts = opts, .err = err};
	if (lock_init(&admin.lock, opts, err) < 0) {
		return;
	}
	int rc;
	if (opts->server_count > 1) {
		admin.quorum = quorum_create(loop, opts, tls, &admin.lock);
		if (admin.quorum == NULL) {
			error_set(err, RW_ERROR_INTERNAL, "out of memory");
			return;
		}
		rc = opts->action == ACTION_STATUS ?
			quorum_status(admin.quorum, ADMIN_TIMEOUT_MS, on_done, &admin, err) :
			quorum_break(admin.quorum, ADMIN_TIMEOUT_MS, on_done, &admin, err);
	} else {
		admin.conn = conn_create(loop, &opts->servers[0], tls);
		if (admin.conn == NULL) {
			error_set(err, RW_ERROR_INTERNAL, "out of memory");
			return;
		}
		rc = opts->action == ACTION_STATUS ?
			lock_status(&admin.lock, admin.conn, ADMIN_TIMEOUT_MS, on_done, &admin, err) :
			lock_break(&admin.lock, admin.conn, ADMIN_TIMEOUT_MS, on_done, &admin, err);
	}
	if (rc < 0) {
		conn_destroy(admin.conn);
		admin.conn = NULL;
		quorum_destroy(admin.quorum);
		admin.quorum = NULL;
	}
	(void)uv_run(loop, UV_RUN_DEFAULT);
}
