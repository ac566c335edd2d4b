/* Quorum mode: every lock step on all servers at once, judged by the majority (see
 * quorum.h). A round counts the answers of one step; it lives until its last answer has
 * come in, also after it has reported, so that a late grant can still be given back. */
#include "quorum.h"

#include <stdlib.h>
#include <string.h>

#include "conn.h"

enum round_op {
	OP_ACQUIRE,
	OP_RAISE, /* the acquire's second step: extend with the fence floor */
	OP_EXTEND,
	OP_RELEASE,
	OP_LEAVE,
	OP_STATUS,
	OP_BREAK,
	OP_TIDY, /* gives back a late grant; reports to nobody */
	OP_WAIT, /* a watcher blocks on one server for its wake-up */
	OP_HELD, /* whether the token holds the lock (a nested rwith's check) */
};

struct quorum_server {
	struct conn *conn;
	struct lock lock; /* this server's copy: same token and keys; its own fence */
	bool holding;     /* granted and not known to be gone */
	unsigned acquire_round; /* the newest acquire round sent to this server */
	unsigned cleaning;      /* releases and leaves on their way: the connection waits */
	unsigned acquiring;     /* acquires sent and not answered */
	bool blocked;           /* its connection waits in BLPOP */
	bool unblocked;         /* we cancelled that BLPOP: it counts as a wake-up */
};

struct quorum {
	uv_loop_t *loop;
	const struct rw_options *opts;
	const struct tls_context *tls;
	struct lock *lock; /* the caller's: receives the fence */
	size_t count, majority;
	unsigned acquire_rounds; /* acquire rounds started */
	unsigned closing;        /* connections being destroyed: q is not freed meanwhile */
	bool destroying;
	uv_timer_t drain_timer; /* after destroy: bounds the wait for the last cleanups */
	bool drain_timer_used;
	struct quorum_server servers[]; /* count of them */
};

struct round {
	struct quorum *q;
	enum round_op op;
	lock_done_cb *cb; /* NULL once reported */
	void *data;
	uint64_t timeout_ms;
	unsigned number; /* acquire rounds: which one */
	bool watch;      /* acquire rounds: watch when busy (the caller will wait) */
	size_t sent, pending, yes, no, failed;
	size_t joins; /* extend rounds: acquires sent to servers that did not hold the lock */
	unsigned answering; /* answers being handled: the owner may destroy everything meanwhile */
	struct rw_error first_failure;
	struct rw_error usage; /* a usage error from a server (another -l): decides at once */
	struct lock_busy busy;
	bool have_busy;
	uint64_t fence_max;
	/* OP_STATUS/OP_BREAK: the first view (in -r order) that shows holders, and the first
	 * that shows none; holders owned. The majority decides which is reported. */
	struct lock_status views[2];
	size_t view_from[2]; /* the server's index; count when none */
	size_t held_views;
};

struct request {
	struct round *round;
	size_t index;
	bool acquire; /* an acquire (also the join of an extend round) */
};

size_t quorum_majority(size_t server_count) {
	return server_count / 2 + 1;
}

struct quorum *quorum_create(uv_loop_t *loop, const struct rw_options *opts,
	const struct tls_context *tls, struct lock *lock) {
	struct quorum *q = calloc(1, sizeof(*q) + opts->server_count * sizeof(q->servers[0]));
	if (q == NULL) {
		return NULL;
	}
	q->loop = loop;
	q->opts = opts;
	q->tls = tls;
	q->lock = lock;
	q->count = opts->server_count;
	q->majority = quorum_majority(q->count);
	for (size_t i = 0; i < q->count; i++) {
		q->servers[i].lock = *lock;
	}
	return q;
}

/* The server's conn (which reconnects by itself), made at first use. */
static struct conn *server_conn(struct quorum *q, size_t i) {
	struct quorum_server *srv = &q->servers[i];
	if (srv->conn == NULL) {
		srv->conn = conn_create(q->loop, &q->opts->servers[i], q->tls);
	}
	return srv->conn;
}

static void round_free_if_done(struct round *r) {
	if (r->pending == 0 && r->cb == NULL && r->answering == 0) {
		free(r->views[0].holders);
		free(r->views[1].holders);
		free(r);
	}
}

/* A round of `op` that reports to cb, or NULL when out of memory. */
static struct round *new_round(struct quorum *q, enum round_op op, uint64_t timeout_ms,
	lock_done_cb *cb, void *data) {
	struct round *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return NULL;
	}
	r->q = q;
	r->op = op;
	r->cb = cb;
	r->data = data;
	r->timeout_ms = timeout_ms;
	r->view_from[0] = r->view_from[1] = q->count;
	return r;
}

static void report(struct round *r, enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err) {
	lock_done_cb *cb = r->cb;
	if (cb == NULL) {
		return;
	}
	r->cb = NULL;
	if (!r->q->destroying) {
		cb(result, busy, status, err, r->data);
	}
}

static int send_one(struct round *r, size_t i);

/* Gives back whatever server i granted (a late or a useless grant). */
static void tidy(struct quorum *q, size_t i) {
	q->servers[i].holding = false;
	struct round *r = new_round(q, OP_TIDY, 2000, NULL, NULL);
	if (r == NULL) {
		return; /* the grant expires by itself */
	}
	if (send_one(r, i) < 0) {
		free(r);
	}
}

static void on_drain_timer_closed(uv_handle_t *handle) {
	free(handle->data);
}

/* Frees q once destroyed and every connection is gone, but not while one is being
 * destroyed further up the stack (that reports its requests from inside). */
static void free_if_closed(struct quorum *q) {
	if (!q->destroying || q->closing > 0) {
		return;
	}
	for (size_t i = 0; i < q->count; i++) {
		if (q->servers[i].conn != NULL) {
			return;
		}
	}
	if (q->drain_timer_used) {
		if (!uv_is_closing((uv_handle_t *)&q->drain_timer)) {
			uv_close((uv_handle_t *)&q->drain_timer, on_drain_timer_closed);
		}
		return; /* freed by the close callback */
	}
	free(q);
}

/* Releases, leaves and grants given back must reach the server even when the owner has
 * meanwhile destroyed the quorum (it does so right after the majority's answer): their
 * connection stays until they are answered, within their deadline. */
static bool is_cleanup(enum round_op op) {
	return op == OP_RELEASE || op == OP_LEAVE || op == OP_TIDY;
}

static void close_conn(struct quorum *q, size_t i) {
	struct conn *conn = q->servers[i].conn;
	q->servers[i].conn = NULL; /* before: destroying reports its requests at once */
	q->closing++;
	conn_destroy(conn);
	q->closing--;
}

static void close_if_clean(struct quorum *q, size_t i) {
	struct quorum_server *srv = &q->servers[i];
	if (q->destroying && srv->cleaning == 0 && srv->conn != NULL) {
		close_conn(q, i);
		free_if_closed(q);
	}
}

static void tidy_all_holding(struct quorum *q) {
	for (size_t i = 0; i < q->count; i++) {
		if (q->servers[i].holding) {
			tidy(q, i);
		}
	}
}

/* The error for "not enough servers answered". */
static const struct rw_error *failure_of(struct round *r, struct rw_error *buf) {
	if (r->first_failure.kind != RW_ERROR_NONE) {
		struct rw_error first = r->first_failure;
		error_clear(buf);
		error_set(buf, first.kind, "fewer than %zu of %zu servers answered; %s",
			r->q->majority, r->q->count, first.message);
		buf->hint = first.hint;
		return buf;
	}
	error_set(buf, RW_ERROR_SERVER, "fewer than %zu of %zu servers answered", r->q->majority,
		r->q->count);
	return buf;
}

static int start_round(struct round *r, struct rw_error *err);

static void conclude_acquire(struct round *r) {
	struct quorum *q = r->q;
	struct rw_error buf = {0};
	if (r->cb == NULL) {
		return; /* reported, or handed on to the raise */
	}
	if (r->usage.kind != RW_ERROR_NONE) {
		tidy_all_holding(q);
		report(r, LOCK_RESULT_ERROR, NULL, NULL, &r->usage);
		return;
	}
	if (r->yes >= q->majority) {
		/* Raise every granting server's counter to the largest fence, then report. */
		for (size_t i = 0; i < q->count; i++) {
			q->servers[i].lock.fence = r->fence_max;
		}
		q->lock->fence = r->fence_max;
		lock_done_cb *cb = r->cb;
		r->cb = NULL;
		struct rw_error err = {0};
		if (start_round(new_round(q, OP_RAISE, r->timeout_ms, cb, r->data), &err) < 0) {
			tidy_all_holding(q);
			if (!q->destroying) {
				cb(LOCK_RESULT_ERROR, NULL, NULL, &err, r->data);
			}
		}
		return;
	}
	if (r->yes + r->pending >= q->majority) {
		return; /* still possible */
	}
	tidy_all_holding(q);
	if (r->failed > q->count - q->majority) {
		report(r, LOCK_RESULT_ERROR, NULL, NULL, failure_of(r, &buf));
	} else {
		report(r, LOCK_RESULT_NO, r->have_busy ? &r->busy : NULL, NULL, NULL);
	}
}

/* extend, raise, release and held: YES with a majority (a slow server is not waited for); NO
 * when the servers that said "gone" leave too few; ERROR when silence leaves too few. */
static void conclude_extend(struct round *r) {
	struct quorum *q = r->q;
	struct rw_error buf = {0};
	if (r->cb == NULL) {
		return;
	}
	if (r->yes >= q->majority) {
		report(r, LOCK_RESULT_YES, NULL, NULL, NULL);
		return;
	}
	if (r->yes + r->pending >= q->majority) {
		return;
	}
	/* A join does not count: the lock must have been held by a majority all along. */
	bool gone = r->sent - r->joins - r->no < q->majority;
	if (r->op == OP_RAISE) {
		tidy_all_holding(q);
	}
	if (gone) {
		report(r, LOCK_RESULT_NO, NULL, NULL, NULL);
	} else {
		report(r, LOCK_RESULT_ERROR, NULL, NULL, failure_of(r, &buf));
	}
}

static void conclude_when_all_answered(struct round *r) {
	struct quorum *q = r->q;
	struct rw_error buf = {0};
	if (r->pending > 0 || r->cb == NULL) {
		return;
	}
	switch (r->op) {
	case OP_LEAVE:
		report(r, LOCK_RESULT_YES, NULL, NULL, NULL);
		break;
	default: /* status, break */
		if (r->usage.kind != RW_ERROR_NONE) {
			report(r, LOCK_RESULT_ERROR, NULL, NULL, &r->usage);
		} else if (r->yes >= q->majority) {
			/* Held when a majority shows holders (a restarted server shows none). */
			size_t pick = r->held_views >= q->majority || r->op == OP_BREAK ? 0 : 1;
			if (r->view_from[pick] == q->count) {
				pick = 1 - pick;
			}
			report(r, LOCK_RESULT_YES, NULL, &r->views[pick], NULL);
		} else {
			report(r, LOCK_RESULT_ERROR, NULL, NULL, failure_of(r, &buf));
		}
		break;
	}
}

/* Keeps the first view in -r order of each kind: with holders, without. */
static void keep_status(struct round *r, size_t index, const struct lock_status *status) {
	if (status == NULL) {
		return;
	}
	size_t kind = status->holder_count > 0 ? 0 : 1;
	r->held_views += kind == 0;
	if (index >= r->view_from[kind]) {
		return;
	}
	struct lock_holder *copy = NULL;
	if (status->holder_count > 0) {
		copy = malloc(status->holder_count * sizeof(*copy));
		if (copy == NULL) {
			return;
		}
		memcpy(copy, status->holders, status->holder_count * sizeof(*copy));
	}
	free(r->views[kind].holders);
	r->views[kind] = *status;
	r->views[kind].holders = copy;
	r->view_from[kind] = index;
}

static void count_answer(struct round *r, size_t index, bool join, enum lock_result result,
	const struct lock_busy *busy, const struct lock_status *status, const struct rw_error *err) {
	struct quorum_server *srv = &r->q->servers[index];
	if (join) {
		/* Held here from now on, for the next rounds; this round's verdict is the
		 * extensions' alone, so that a lock a majority lost is never revived. The next
		 * extension raises this server to the command's fence. */
		if (result == LOCK_RESULT_YES) {
			srv->holding = true;
			srv->lock.fence = r->q->lock->fence;
		}
		return;
	}
	if (result == LOCK_RESULT_ERROR) {
		if (err->kind == RW_ERROR_USAGE) {
			error_set(&r->usage, err->kind, "%s", err->message);
			r->usage.hint = err->hint;
		} else if (r->first_failure.kind == RW_ERROR_NONE) {
			r->first_failure = *err;
		}
		r->failed++;
		return;
	}
	if (result == LOCK_RESULT_YES) {
		r->yes++;
	} else {
		r->no++;
	}
	switch (r->op) {
	case OP_ACQUIRE:
		if (result == LOCK_RESULT_YES && r->cb == NULL) {
			/* a grant after the success: the command's fence is set already */
			srv->holding = true;
			srv->lock.fence = r->q->lock->fence;
		} else if (result == LOCK_RESULT_YES) {
			srv->holding = true;
			if (srv->lock.fence > r->fence_max) {
				r->fence_max = srv->lock.fence;
			}
		} else if (busy != NULL && !r->have_busy) {
			r->busy = *busy;
			r->have_busy = true;
		}
		break;
	case OP_RAISE:
	case OP_EXTEND:
		srv->holding = result == LOCK_RESULT_YES;
		break;
	case OP_RELEASE:
	case OP_LEAVE:
	case OP_TIDY:
		srv->holding = false;
		break;
	case OP_WAIT:
		break; /* handled in on_answer */
	case OP_HELD:
		/* The hold lasts as long as its majority: the least time left counts. */
		if (result == LOCK_RESULT_YES && (r->yes == 1 ||
			srv->lock.held_left_ms < r->q->lock->held_left_ms)) {
			r->q->lock->held_left_ms = srv->lock.held_left_ms;
		}
		break;
	case OP_STATUS:
	case OP_BREAK:
		keep_status(r, index, status);
		break;
	}
}

static void on_answer(enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err, void *data) {
	struct request *req = data;
	struct round *r = req->round;
	size_t index = req->index;
	bool was_acquire = req->acquire;
	free(req);
	r->pending--;
	struct quorum *q = r->q;
	if (was_acquire) {
		q->servers[index].acquiring--;
	}
	if (is_cleanup(r->op)) {
		q->servers[index].cleaning--;
	}
	if (q->destroying) {
		r->cb = NULL;
		r->answering++;
		close_if_clean(q, index); /* may free q */
		r->answering--;
		round_free_if_done(r);
		return;
	}
	if (r->op == OP_TIDY) {
		round_free_if_done(r);
		return;
	}
	if (r->op == OP_WAIT) {
		q->servers[index].blocked = false;
		if (q->servers[index].unblocked) {
			q->servers[index].unblocked = false;
			result = LOCK_RESULT_YES; /* look again now rather than fail */
			err = NULL;
		}
		r->answering++;
		report(r, result, NULL, NULL, err);
		r->answering--;
		round_free_if_done(r);
		return;
	}
	/* Reporting may destroy the quorum (and so report the other requests of this round,
	 * from inside this call): r stays until this call is done with it; q may not. */
	r->answering++;
	if (r->op == OP_ACQUIRE && r->cb == NULL && result == LOCK_RESULT_YES &&
		r->yes < r->q->majority) {
		/* A grant after the round gave up: give it back (after a success it counts). Not
		 * when a newer acquire has gone to this server since: the leave would follow it
		 * and drop the grant that one reports. The newer round decides instead. */
		if (r->q->servers[index].acquire_round == r->number) {
			tidy(r->q, index);
		}
		r->answering--;
		round_free_if_done(r);
		return;
	}
	count_answer(r, index, was_acquire && r->op == OP_EXTEND, result, busy, status, err);
	switch (r->op) {
	case OP_ACQUIRE:
		conclude_acquire(r);
		break;
	case OP_RAISE:
	case OP_EXTEND:
	case OP_RELEASE:
	case OP_HELD:
		conclude_extend(r);
		break;
	case OP_TIDY:
		break;
	default:
		conclude_when_all_answered(r);
		break;
	}
	r->answering--;
	round_free_if_done(r);
}

static void close_conn(struct quorum *q, size_t i);

static int send_one(struct round *r, size_t i) {
	struct quorum *q = r->q;
	struct rw_error err = {0};
	if (q->servers[i].blocked) {
		/* Its connection sits in a watcher's BLPOP (a grant to give back, or the owner
		 * gives up): cancel the wait rather than queue behind it; the watcher takes that
		 * as a wake-up and looks again. */
		q->servers[i].unblocked = true;
		close_conn(q, i);
	}
	struct conn *conn = server_conn(q, i);
	struct request *req = calloc(1, sizeof(*req));
	if (conn == NULL || req == NULL) {
		free(req);
		return -1;
	}
	req->round = r;
	req->index = i;
	struct lock *lock = &q->servers[i].lock;
	int rc;
	switch (r->op) {
	case OP_ACQUIRE:
		q->servers[i].acquire_round = r->number;
		req->acquire = true;
		rc = lock_acquire(lock, conn, r->timeout_ms, r->watch ? LOCK_TRY_WATCH : LOCK_TRY_ONCE,
			on_answer, req, &err);
		break;
	case OP_WAIT:
		rc = lock_wait(lock, conn, r->timeout_ms, on_answer, req, &err);
		if (rc == 0) {
			q->servers[i].blocked = true;
		}
		break;
	case OP_EXTEND:
		if (!q->servers[i].holding) {
			/* A server that missed the acquire (it was down, or restarted) joins now,
			 * so that the lock survives a minority down at any one time, not only the
			 * minority of the start. */
			req->acquire = true;
			r->joins++;
			rc = lock_acquire(lock, conn, r->timeout_ms, LOCK_TRY_ONCE, on_answer, req, &err);
			break;
		}
		rc = lock_extend(lock, conn, r->timeout_ms, on_answer, req, &err);
		break;
	case OP_RAISE:
		rc = lock_extend(lock, conn, r->timeout_ms, on_answer, req, &err);
		break;
	case OP_RELEASE:
		rc = lock_release(lock, conn, r->timeout_ms, on_answer, req, &err);
		break;
	case OP_LEAVE:
	case OP_TIDY:
		rc = lock_leave(lock, conn, r->timeout_ms, on_answer, req, &err);
		break;
	case OP_STATUS:
		rc = lock_status(lock, conn, r->timeout_ms, on_answer, req, &err);
		break;
	case OP_HELD:
		rc = lock_held(lock, conn, r->timeout_ms, on_answer, req, &err);
		break;
	default:
		rc = lock_break(lock, conn, r->timeout_ms, on_answer, req, &err);
		break;
	}
	if (rc < 0) {
		free(req);
		if (r->first_failure.kind == RW_ERROR_NONE) {
			r->first_failure = err;
		}
		return -1;
	}
	r->pending++;
	if (req->acquire) {
		q->servers[i].acquiring++;
	}
	if (is_cleanup(r->op)) {
		q->servers[i].cleaning++;
	}
	return 0;
}

static bool goes_to(enum round_op op, const struct quorum_server *srv) {
	/* The raise only where the acquire was granted; everything else goes to all. */
	return op != OP_RAISE || srv->holding;
}

/* Sends r (from new_round; NULL when that ran out of memory) to its servers. */
static int start_round(struct round *r, struct rw_error *err) {
	if (r == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "out of memory");
	}
	struct quorum *q = r->q;
	enum round_op op = r->op;
	for (size_t i = 0; i < q->count; i++) {
		if (!goes_to(op, &q->servers[i])) {
			continue;
		}
		r->sent++;
		if (send_one(r, i) < 0) {
			r->failed++;
		}
	}
	if (r->pending == 0) {
		/* Nothing is on its way: fail now rather than report from inside this call. */
		struct rw_error buf = {0};
		bool none_holds = op == OP_RAISE && r->sent < q->majority;
		if (none_holds) {
			error_set(err, RW_ERROR_SERVER, "fewer than %zu of %zu servers still hold '%s'",
				q->majority, q->count, q->lock->name);
		} else {
			*err = *failure_of(r, &buf);
		}
		free(r);
		return -1;
	}
	return 0;
}

int quorum_acquire(struct quorum *q, uint64_t timeout_ms, bool watch, lock_done_cb *cb,
	void *data, struct rw_error *err) {
	struct round *r = new_round(q, OP_ACQUIRE, timeout_ms, cb, data);
	if (r != NULL) {
		r->number = ++q->acquire_rounds;
		r->watch = watch;
	}
	return start_round(r, err);
}

int quorum_wait(struct quorum *q, uint64_t wait_ms, lock_done_cb *cb, void *data,
	struct rw_error *err) {
	/* One server's wake-up is enough: a release goes to every server. */
	for (size_t i = 0; i < q->count; i++) {
		struct quorum_server *srv = &q->servers[i];
		if (srv->conn == NULL || conn_is_broken(srv->conn) || srv->blocked) {
			continue;
		}
		struct round *r = new_round(q, OP_WAIT, wait_ms, cb, data);
		if (r == NULL) {
			return error_set(err, RW_ERROR_INTERNAL, "out of memory");
		}
		r->sent = 1;
		if (send_one(r, i) == 0) {
			return 0;
		}
		free(r);
	}
	return error_set(err, RW_ERROR_SERVER, "no server connection to wait on");
}

int quorum_extend(struct quorum *q, uint64_t timeout_ms, lock_done_cb *cb, void *data,
	struct rw_error *err) {
	return start_round(new_round(q, OP_EXTEND, timeout_ms, cb, data), err);
}

int quorum_release(struct quorum *q, uint64_t timeout_ms, lock_done_cb *cb, void *data,
	struct rw_error *err) {
	return start_round(new_round(q, OP_RELEASE, timeout_ms, cb, data), err);
}

int quorum_leave(struct quorum *q, uint64_t timeout_ms, lock_done_cb *cb, void *data,
	struct rw_error *err) {
	return start_round(new_round(q, OP_LEAVE, timeout_ms, cb, data), err);
}

int quorum_held(struct quorum *q, uint64_t timeout_ms, lock_done_cb *cb, void *data,
	struct rw_error *err) {
	return start_round(new_round(q, OP_HELD, timeout_ms, cb, data), err);
}

void quorum_adopt(struct quorum *q, uint64_t fence) {
	for (size_t i = 0; i < q->count; i++) {
		q->servers[i].holding = true;
		q->servers[i].lock.fence = fence;
	}
	q->lock->fence = fence;
}

int quorum_status(struct quorum *q, uint64_t timeout_ms, lock_done_cb *cb, void *data,
	struct rw_error *err) {
	return start_round(new_round(q, OP_STATUS, timeout_ms, cb, data), err);
}

int quorum_break(struct quorum *q, uint64_t timeout_ms, lock_done_cb *cb, void *data,
	struct rw_error *err) {
	return start_round(new_round(q, OP_BREAK, timeout_ms, cb, data), err);
}

/* A server that does not answer a cleanup within this after destroy is left to expire the
 * lock by itself: rwith does not linger for a paused or unreachable minority. */
#define DRAIN_MS 250u

static void on_drain_timer(uv_timer_t *timer) {
	struct quorum *q = timer->data;
	q->closing++;
	for (size_t i = 0; i < q->count; i++) {
		if (q->servers[i].conn != NULL) {
			close_conn(q, i);
		}
	}
	q->closing--;
	free_if_closed(q);
}

void quorum_destroy(struct quorum *q) {
	if (q == NULL) {
		return;
	}
	/* Destroying a connection reports its requests at once: every round ends here, but
	 * for the connections that still release or give back a grant (see is_cleanup). */
	q->destroying = true;
	q->closing++;
	for (size_t i = 0; i < q->count; i++) {
		/* An acquire still on its way may yet be granted: a leave follows it. */
		struct quorum_server *srv = &q->servers[i];
		if (srv->acquiring > 0 && srv->conn != NULL && !conn_is_broken(srv->conn)) {
			tidy(q, i);
		}
	}
	bool draining = false;
	for (size_t i = 0; i < q->count; i++) {
		if (q->servers[i].cleaning == 0 && q->servers[i].conn != NULL) {
			close_conn(q, i);
		}
		draining = draining || q->servers[i].conn != NULL;
	}
	if (draining) {
		/* uv_timer_init cannot fail on a live loop. */
		(void)uv_timer_init(q->loop, &q->drain_timer);
		q->drain_timer.data = q;
		q->drain_timer_used = true;
		(void)uv_timer_start(&q->drain_timer, on_drain_timer, DRAIN_MS, 0);
	}
	q->closing--;
	free_if_closed(q);
}
