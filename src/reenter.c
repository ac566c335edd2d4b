/* A nested rwith under a hold of its own lock: one check with the server, then the
 * session joins the hold (see reenter.h). */
#include "reenter.h"

#include <inttypes.h>
#include <stdio.h>

#include "clock.h"
#include "conn.h"
#include "holdenv.h"
#include "lock.h"
#include "log.h"
#include "quorum.h"

#define CHECK_TIMEOUT_MS 2000u /* the one check, as any request before the command runs */

/* The one question to the server(s), and its answer. */
struct hold_check {
	struct conn *conn;     /* one server */
	struct quorum *quorum; /* several */
	struct lock lock;      /* with the hold's token */
	enum lock_result result;
	struct rw_error err;
};

static void on_checked(enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err, void *data) {
	struct hold_check *check = data;
	check->result = result;
	if (err != NULL) {
		check->err = *err;
	}
	conn_destroy(check->conn);
	check->conn = NULL;
	quorum_destroy(check->quorum);
	check->quorum = NULL;
}

/* Whether the hold's token still holds the lock; YES sets check->lock.held_left_ms. */
static enum lock_result ask_server(uv_loop_t *loop, const struct rw_options *opts,
	const struct tls_context *tls, const struct holdenv_entry *entry, struct hold_check *check) {
	int rc;
	(void)snprintf(check->lock.token, sizeof(check->lock.token), "%s", entry->token);
	if (opts->server_count > 1) {
		check->quorum = quorum_create(loop, opts, tls, &check->lock);
		rc = check->quorum == NULL ? -1 :
			quorum_held(check->quorum, CHECK_TIMEOUT_MS, on_checked, check, &check->err);
	} else {
		check->conn = conn_create(loop, &opts->servers[0], tls);
		rc = check->conn == NULL ? -1 :
			lock_held(&check->lock, check->conn, CHECK_TIMEOUT_MS, on_checked, check,
				&check->err);
	}
	if (rc < 0) {
		error_set(&check->err, RW_ERROR_INTERNAL, "out of memory");
		on_checked(LOCK_RESULT_ERROR, NULL, NULL, NULL, check);
	}
	(void)uv_run(loop, UV_RUN_DEFAULT);
	return check->result;
}

int reenter_find(uv_loop_t *loop, const struct rw_options *opts, const struct tls_context *tls,
	struct reenter *ret, struct rw_error *err) {
	struct holdenv_entry entry;
	struct hold_check check = {.result = LOCK_RESULT_ERROR};
	if (opts->hold_env == NULL || holdenv_find(opts->hold_env, holdenv_identity(opts), false,
		&entry) != 1) {
		return 0;
	}
	if (entry.mode == 's' && opts->mode == LOCK_EXCLUSIVE) {
		error_set(err, RW_ERROR_USAGE, "'%s' is held shared by this command's hold (fence %"
			PRIu64 "); it cannot be taken exclusively inside it: two shared holders upgrading "
			"at once would wait for each other for ever", opts->lock, entry.fence);
		err->hint = "take it exclusively from the start, or ask for it with --shared";
		return -1;
	}
	if (lock_init(&check.lock, opts, err) < 0) {
		return -1;
	}
	uint64_t asked_ms = clock_mono_ms();
	switch (ask_server(loop, opts, tls, &entry, &check)) {
	case LOCK_RESULT_YES:
		break;
	case LOCK_RESULT_NO:
		log_msg(LOG_INFO, "the hold of '%s' in $RWITH_HOLD (fence %" PRIu64 ") has ended; "
			"acquiring the lock anew", opts->lock, entry.fence);
		return 0;
	default:
		*err = check.err;
		return -1;
	}
	log_msg(LOG_INFO, "'%s' is held by this command's hold (fence %" PRIu64 "); joining it",
		opts->lock, entry.fence);
	ret->opts = *opts;
	/* The heartbeat extends the hold's entry by the hold's own TTL: a shorter one would cut
	 * the outer holder's time short. */
	ret->opts.ttl_ms = entry.ttl_ms;
	ret->opts.heartbeat_ms = entry.ttl_ms / 3;
	(void)snprintf(ret->join.token, sizeof(ret->join.token), "%s", entry.token);
	ret->join.fence = entry.fence;
	/* The server said so after the question went out: counted from then, it is safe. */
	ret->join.valid_until_ms = asked_ms + check.lock.held_left_ms;
	return 1;
}
