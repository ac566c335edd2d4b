/* --status and --break: one script each on one connection (or on every server in quorum
 * mode), then the report on stdout; --list is list.c's. */
#include "admin.h"

#include <inttypes.h>
#include <stdio.h>

#include "conn.h"
#include "list.h"
#include "lock.h"
#include "quorum.h"
#include "report.h"

struct admin {
	const struct rw_options *opts;
	struct rw_error *err;
	struct conn *conn;     /* one server */
	struct quorum *quorum; /* several */
	struct lock lock;
};

static void print_status(const struct admin *admin, const struct lock_status *status) {
	if (admin->opts->json) {
		report_status_json(admin->opts->lock, status);
		fputc('\n', stdout);
	} else {
		report_status_text(admin->opts->lock, status);
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
	if (opts->action == ACTION_LIST) {
		list_run(loop, opts, tls, err);
		return;
	}
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
