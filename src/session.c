/* One run: acquire -> run the command with a heartbeat -> release, with self-fencing. This
 * file: acquiring and waiting, signals, the run; session_running.c: the command under the
 * lock, its end and the release.
 *
 * Safety rule (CONTRACT.md, Safety): the lock is valid on the server until at least
 * valid_from_ms + ttl, where valid_from_ms is when the last successful acquire or extend
 * was *sent*, on our monotonic clock (the server starts the TTL later than we sent, never
 * earlier). If no extension succeeds, SIGTERM goes to the command's group by
 * deadline - kill_after and SIGKILL by deadline - kill_margin, so the command is dead before
 * anyone else can be granted the lock. */
#include "session_private.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "duration.h"
#include "holdenv.h"
#include "lock.h"
#include "log.h"
#include "notify.h"
#include "quorum.h"
#include "sigwatch.h"
#include "waiter.h"

#define STARTUP_TIMEOUT_MS 2000u /* connect, and each request before the command runs */
#define ABORT_TIMEOUT_MS 1000u   /* the best-effort leave of a waiter that gives up */
/* Waiters this near the head, or in a queue this short, fork their guard while they wait. */
#define PREPARE_POSITIONS 2
#define PREPARE_QUEUE 16

/* A subset of child_touched_signals (child.c), which resets them for the command. */
static const int forwarded_signals[] = {
	SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH,
};
#define SIGNAL_COUNT (sizeof(forwarded_signals) / sizeof(forwarded_signals[0]))

static uint64_t clamp_u64(uint64_t value, uint64_t low, uint64_t high) {
	return value < low ? low : (value > high ? high : value);
}

void session_compute_timing(uint64_t ttl_ms, uint64_t heartbeat_ms, uint64_t kill_after_ms,
	struct session_timing *ret) {
	struct session_timing t;
	t.kill_margin = clamp_u64(ttl_ms / 10, 1, 250);
	/* A heartbeat later than halfway to SIGKILL would let a healthy lock look lost: it is
	 * brought forward, whatever --heartbeat says (which only has to be below the TTL). */
	uint64_t latest = (ttl_ms - t.kill_margin) / 2;
	t.heartbeat = heartbeat_ms < latest ? heartbeat_ms : latest;
	heartbeat_ms = t.heartbeat;
	/* Half a heartbeat leaves room for a second attempt before SIGTERM is due. */
	t.request_timeout = clamp_u64(heartbeat_ms / 2, 50, 2000);
	t.retry_delay = clamp_u64(heartbeat_ms / 4, 10, 250);
	/* SIGTERM goes kill_after before SIGKILL, which goes kill_margin before the deadline.
	 * It must not go out while a healthy heartbeat could still succeed: at least half of
	 * the time between the first heartbeat and SIGKILL is left for that. */
	uint64_t cap = ttl_ms > heartbeat_ms + t.kill_margin ?
		(ttl_ms - heartbeat_ms - t.kill_margin) / 2 : 0;
	t.kill_after = kill_after_ms < cap ? kill_after_ms : cap;
	*ret = t;
}

/* `seen_ago_ms`: how long ago the server described the holder, so that a message written
 * later (giving up at -w) counts the time since then too. */
static void format_holder(const struct lock_holder *raw, uint64_t seen_ago_ms, char *buf,
	size_t size) {
	struct lock_holder shown;
	const struct lock_holder *holder = &shown;
	lock_holder_printable(raw, &shown);
	uint64_t held_ms = (holder->server_now_ms > holder->since_ms ?
		holder->server_now_ms - holder->since_ms : 0) + seen_ago_ms;
	(void)error_format(buf, size, "held by %s:%ld (task '%s') for %" PRIu64 "s", holder->host,
		holder->pid, holder->task, held_ms / 1000);
}

/* ---- finishing ---------------------------------------------------------------------- */

static void close_handle(uv_handle_t *handle) {
	if (!uv_is_closing(handle)) {
		uv_close(handle, NULL);
	}
}

/* Records the outcome (the first error wins) and closes everything; uv_run then returns. */
void session_finish(struct session *s, const struct rw_error *err) {
	if (s->phase == PHASE_DONE) {
		return;
	}
	s->phase = PHASE_DONE;
	if (err != NULL && s->out->err.kind == RW_ERROR_NONE) {
		s->out->err = *err;
	}
	if (s->hold != NULL) {
		s->hold->child = NULL;
		s->hold->finished(s->hold);
	}
	close_handle((uv_handle_t *)&s->wait_timer);
	close_handle((uv_handle_t *)&s->beat_timer);
	close_handle((uv_handle_t *)&s->term_timer);
	close_handle((uv_handle_t *)&s->kill_timer);
	session_stop_waiting_line(s);
	close_handle((uv_handle_t *)&s->line_timer);
	sigwatch_close(&s->signals, NULL);
	conn_destroy(s->conn);
	s->conn = NULL;
	quorum_destroy(s->quorum);
	s->quorum = NULL;
	child_destroy(s->child);
	s->child = NULL;
}

/* ---- the connection ------------------------------------------------------------------- */

/* The server's conn, made at first use; it reconnects (and follows a cluster or a
 * failover) by itself. */
struct conn *session_usable_conn(struct session *s) {
	if (s->conn != NULL && conn_is_broken(s->conn)) {
		s->reconnects++;
		log_msg(LOG_DEBUG, "reconnecting to %s", conn_address(s->conn));
	}
	if (s->conn == NULL) {
		s->conn = conn_create(s->loop, &s->opts->servers[0], s->tls);
	}
	return s->conn;
}

/* ---- acquiring and waiting ----------------------------------------------------------
 *
 * acquire -> busy: block on our wake-up list (BLPOP) until woken or it is time to look
 * again -> acquire ... The acquire after a BLPOP is pipelined behind it, so the server runs
 * it the moment the waiter is woken (not with --sync or in quorum mode). A waiter that gives
 * up (--wait, a signal) leaves the queue with a script on a fresh connection, since its own
 * may be blocked in BLPOP; the connection is closed first, so the acquire behind the BLPOP
 * can no longer run, and the leave script drops any grant it made before. */

static void start_acquire(struct session *s);

static void format_waiting(const struct session *s, char *buf, size_t size) {
	const struct lock_busy *busy = &s->busy;
	if (!s->have_busy) {
		(void)error_format(buf, size, "held by another holder");
	} else if (busy->holder.host[0] == '\0') {
		(void)error_format(buf, size, "free, but %ld waiter(s) queued earlier come first",
			busy->position > 0 ? busy->position : busy->waiters);
	} else {
		format_holder(&busy->holder, clock_mono_ms() - s->busy_seen_ms, buf, size);
	}
}

/* systemd's status line tells whom we wait for at every look, whatever the verbosity. */
static void notify_waiting(struct session *s) {
	if (!s->notify.active) {
		return;
	}
	char text[900];
	format_waiting(s, text, sizeof(text));
	notify_status(&s->notify, NULL, "Waiting for the lock '%s', %s", s->opts->lock, text);
}

/* At a terminal: one line, redrawn every second, that says how long we have waited, for
 * whom, and how many wait ahead; erased once the wait ends (stop_waiting_line). */
static void draw_waiting_line(struct session *s) {
	char holder[900], line[1200], ahead[48] = "";
	format_waiting(s, holder, sizeof(holder));
	if (s->have_busy && s->busy.position > 0) {
		(void)snprintf(ahead, sizeof(ahead), ", %ld ahead", s->busy.position);
	}
	/* The plain line's words first (see announce_waiting), then what changes. */
	(void)error_format(line, sizeof(line), "rwith: waiting for '%s' %s; waited %" PRIu64 "s%s",
		s->opts->lock, holder, (clock_mono_ms() - s->started_ms) / 1000, ahead);
	log_live(line);
}

static void on_line_timer(uv_timer_t *timer) {
	struct session *s = timer->data;
	if (s->phase == PHASE_ACQUIRING) {
		draw_waiting_line(s);
	}
}

void session_stop_waiting_line(struct session *s) {
	if (s->live_line) {
		s->live_line = false;
		(void)uv_timer_stop(&s->line_timer);
		log_live_clear();
	}
}

static void announce_waiting(struct session *s) {
	notify_waiting(s);
	if (s->opts->verbosity < 0) {
		return;
	}
	if (isatty(STDERR_FILENO)) {
		if (!s->live_line) {
			s->live_line = true;
			(void)uv_timer_start(&s->line_timer, on_line_timer, 1000, 1000);
		}
		draw_waiting_line(s);
	}
	uint64_t now = clock_mono_ms();
	bool changed = !s->announced || s->busy.holder.fence != s->announced_fence;
	/* Looks come every 30 s at most with -v; half a second of slack keeps one that comes a
	 * hair early from pushing the message to the look after. */
	bool periodic = s->opts->verbosity > 0 && now + 500 - s->announced_ms >= WAITER_PROGRESS_MS;
	if (s->opts->verbosity == 0 || !(changed || periodic)) {
		return;
	}
	char text[900];
	format_waiting(s, text, sizeof(text));
	log_msg(LOG_ERROR, "waiting for '%s' %s", s->opts->lock, text);
	s->announced = true;
	s->announced_fence = s->busy.holder.fence;
	s->announced_ms = now;
}

static void conflict_error(struct session *s, struct rw_error *err) {
	char holder[900];
	char waited[32];
	format_waiting(s, holder, sizeof(holder));
	if (s->opts->wait_ms == 0) {
		error_set(err, RW_ERROR_CONFLICT, "'%s' is %s; not waiting (--nonblock)", s->opts->lock,
			holder);
		err->hint = "try again later, or wait for it with --wait DURATION";
	} else {
		error_set(err, RW_ERROR_CONFLICT, "gave up waiting for '%s' after %s; it is %s",
			s->opts->lock, duration_format(s->opts->wait_ms, waited, sizeof(waited)), holder);
		err->hint = "try again later, or wait longer with --wait";
	}
}

static void on_left(enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err, void *data) {
	struct session *s = data;
	if (result == LOCK_RESULT_ERROR) {
		log_msg(LOG_INFO, "could not leave the queue of '%s' (%s); the place expires by itself, "
			"ignoring", s->opts->lock, err->message);
	}
	session_finish(s, NULL);
}

/* Gives up acquiring with `outcome`: leaves the queue (and drops a place an answer we
 * never read may have granted) on a fresh connection, then finishes. */
static void leave_and_finish(struct session *s, const struct rw_error *outcome) {
	struct rw_error err = {0};
	s->phase = PHASE_ABORTING;
	session_stop_waiting_line(s);
	s->out->err = *outcome;
	(void)uv_timer_stop(&s->wait_timer);
	(void)uv_timer_stop(&s->beat_timer);
	if (!s->ever_answered && !s->in_flight) {
		session_finish(s, NULL); /* nothing of ours can be on the server */
		return;
	}
	if (s->quorum != NULL) {
		/* No BLPOP in quorum mode: the leave goes after any acquire in flight. */
		if (quorum_leave(s->quorum, ABORT_TIMEOUT_MS, on_left, s, &err) < 0) {
			session_finish(s, NULL);
		}
		return;
	}
	/* Destroying the connection cancels a blocked BLPOP or an acquire in flight; their
	 * callbacks see PHASE_ABORTING and do nothing. */
	conn_destroy(s->conn);
	s->conn = conn_create(s->loop, &s->opts->servers[0], s->tls);
	if (s->conn == NULL ||
		lock_leave(&s->lock, s->conn, ABORT_TIMEOUT_MS, on_left, s, &err) < 0) {
		session_finish(s, NULL);
	}
}

static void give_up_waiting(struct session *s) {
	struct rw_error err = {0};
	conflict_error(s, &err);
	leave_and_finish(s, &err);
}

static void on_wait_expired(uv_timer_t *timer) {
	struct session *s = timer->data;
	if (s->phase == PHASE_ACQUIRING) {
		give_up_waiting(s);
	}
}

static void on_reconnect_timer(uv_timer_t *timer) {
	start_acquire(timer->data);
}

static void acquire_failed(struct session *s, const struct rw_error *err) {
	uint64_t now = clock_mono_ms();
	if (!s->ever_answered || err->kind != RW_ERROR_SERVER || err->final) {
		session_finish(s, err);
		return;
	}
	/* The server answered before: keep waiting through a restart or a short outage, but
	 * not longer than one TTL without an answer. */
	if (now - s->last_contact_ms >= s->opts->ttl_ms) {
		struct rw_error lost = {0};
		error_set(&lost, RW_ERROR_SERVER, "no answer from the server for longer than the TTL "
			"while waiting for '%s': %s", s->opts->lock, err->message);
		lost.hint = err->hint ? err->hint : "check that the Redis server is running";
		session_finish(s, &lost);
		return;
	}
	log_msg(LOG_INFO, "%s; reconnecting", err->message);
	if (s->quorum != NULL) {
		s->reconnects++; /* a single connection counts its own in session_usable_conn() */
	}
	uint64_t backoff = clamp_u64(50u << (s->reconnects < 5 ? s->reconnects : 5), 50, 1000);
	(void)uv_timer_start(&s->beat_timer, on_reconnect_timer, backoff, 0);
}

static void on_woken(enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err, void *data) {
	struct session *s = data;
	s->in_flight = false;
	if (s->phase != PHASE_ACQUIRING) {
		return;
	}
	if (result == LOCK_RESULT_ERROR) {
		acquire_failed(s, err);
		return;
	}
	s->last_contact_ms = clock_mono_ms();
	start_acquire(s);
}

static void on_retry_timer(uv_timer_t *timer) {
	start_acquire(timer->data);
}

/* Quorum mode has no wake-ups (see quorum.h): try again after a random pause that grows
 * from 50 ms to 1 s, so that waiters do not keep colliding. */
static void retry_after_pause(struct session *s) {
	uint64_t ceiling = clamp_u64(50u << (s->tries < 5 ? s->tries : 5), 50, 1000);
	s->tries++;
	/* xorshift32: any spread will do */
	s->jitter_state ^= s->jitter_state << 13;
	s->jitter_state ^= s->jitter_state >> 17;
	s->jitter_state ^= s->jitter_state << 5;
	uint64_t pause = ceiling / 2 + s->jitter_state % (ceiling / 2 + 1);
	log_msg(LOG_DEBUG, "trying again in %" PRIu64 " ms", pause);
	(void)uv_timer_start(&s->beat_timer, on_retry_timer, pause, 0);
}

static lock_done_cb on_acquired;

static void wait_for_wake_up(struct session *s) {
	struct rw_error err = {0};
	if (s->child == NULL && s->hold == NULL && s->have_busy && s->busy.position >= 0 &&
		(s->busy.position < PREPARE_POSITIONS || s->busy.waiters <= PREPARE_QUEUE)) {
		/* In a short queue, or near the head of a long one: the guard is forked now,
		 * while there is time, rather than at the hand-off (so thousands of waiters do
		 * not keep a process each for it; should this fail, start_command tries again). */
		struct rw_error ignored = {0};
		s->child = child_prepare(s->loop, &ignored);
	} else if (s->child == NULL) {
		child_spare_drop(); /* far back in a long queue: no process kept meanwhile */
	}
	/* --wait needs no look of its own: its timer ends the wait wherever it stands. */
	uint64_t timeout = waiter_timeout_ms(s->opts->ttl_ms, s->busy.recheck_ms,
		s->opts->verbosity > 0);
	if (s->quorum != NULL) {
		s->in_flight = true;
		if (quorum_wait(s->quorum, timeout, on_woken, s, &err) < 0) {
			s->in_flight = false;
			retry_after_pause(s); /* no connection to block on: look again soon */
		}
		return;
	}
	log_msg(LOG_DEBUG, "waiting for a wake-up for up to %" PRIu64 " ms", timeout);
	s->in_flight = true;
	int rc;
	if (s->opts->sync) {
		/* --sync waits for the replicas within the acquire's own time: not pipelined. */
		rc = lock_wait(&s->lock, s->conn, timeout, on_woken, s, &err);
	} else {
		/* The acquire runs on the server as soon as the BLPOP returns; a grant is valid
		 * from now on at the earliest (and the first heartbeat comes at once when the
		 * wait was long). */
		s->sent_ms = clock_mono_ms();
		s->pipelined = true;
		rc = lock_wait_then_acquire(&s->lock, s->conn, timeout, STARTUP_TIMEOUT_MS,
			on_acquired, s, &err);
	}
	if (rc < 0) {
		s->in_flight = false;
		acquire_failed(s, &err);
	}
}

static void on_acquired(enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err, void *data) {
	struct session *s = data;
	s->in_flight = false;
	if (s->phase != PHASE_ACQUIRING) {
		return; /* giving up: the leave script drops a place this may have granted */
	}
	if (result == LOCK_RESULT_ERROR) {
		acquire_failed(s, err);
		return;
	}
	s->ever_answered = true;
	s->last_contact_ms = clock_mono_ms();
	s->reconnects = 0;
	if (result == LOCK_RESULT_YES) {
		uint64_t now = clock_mono_ms(), term_at, kill_at;
		s->valid_from_ms = s->sent_ms;
		session_deadline_times(s, &term_at, &kill_at);
		bool late = s->pipelined && now - s->sent_ms > s->timing.heartbeat;
		if ((late || now >= term_at) && !s->reasked) {
			/* Granted long after the request went out (woken late in a long wait behind
			 * the BLPOP, or rwith was stopped): counted from the sending, as it must be,
			 * the grant may have little time left, or none. Ask once more: the server
			 * grants a holder again with a fresh expiry, or queues it anew if the grant
			 * ran out, and the command never starts on time that is already gone. */
			s->reasked = true;
			start_acquire(s);
			return;
		}
		if (now >= term_at) {
			struct rw_error late_err = {0};
			error_set(&late_err, RW_ERROR_SERVER, "'%s' was granted, but the answer came "
				"after the lock's time had run out, twice; the command was not run",
				s->opts->lock);
			late_err.hint = "a longer --ttl, or a server that answers sooner";
			leave_and_finish(s, &late_err); /* the leave script drops the grant */
			return;
		}
		s->reasked = false;
		session_start_command(s);
		return;
	}
	if (busy != NULL) { /* quorum mode: a grant that vanished before it counted has none */
		s->busy = *busy;
		s->busy_seen_ms = clock_mono_ms();
		s->have_busy = true;
	}
	if (!s->opts->wait_forever && s->opts->wait_ms == 0) {
		struct rw_error conflict = {0};
		conflict_error(s, &conflict);
		session_finish(s, &conflict); /* a single try never joined the queue */
		return;
	}
	announce_waiting(s);
	wait_for_wake_up(s);
}

/* The lock steps, on the one server or on every server (quorum mode): each starts one
 * request that reports to its callback, or returns -1 with err set. */
static int send_acquire(struct session *s, struct rw_error *err) {
	bool waits = s->opts->wait_forever || s->opts->wait_ms > 0;
	if (s->quorum != NULL) {
		return quorum_acquire(s->quorum, STARTUP_TIMEOUT_MS, waits, on_acquired, s, err);
	}
	struct conn *conn = session_usable_conn(s);
	if (conn == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "out of memory");
	}
	return lock_acquire(&s->lock, conn, STARTUP_TIMEOUT_MS,
		waits ? LOCK_TRY_QUEUE : LOCK_TRY_ONCE, on_acquired, s, err);
}

static void start_acquire(struct session *s) {
	struct rw_error err = {0};
	s->sent_ms = clock_mono_ms();
	s->pipelined = false;
	s->in_flight = true;
	if (send_acquire(s, &err) < 0) {
		s->in_flight = false;
		acquire_failed(s, &err);
	}
}

/* ---- interrupted while acquiring ---------------------------------------------------- */

static void abort_acquiring(struct session *s, int sig) {
	struct rw_error err = {0};
	error_set(&err, RW_ERROR_INTERRUPTED, "interrupted by signal %d (%s) while waiting for '%s'; "
		"the command was not run", sig, strsignal(sig), s->opts->lock);
	err.signal = sig;
	err.hint = "run it again when you want it to wait for the lock";
	leave_and_finish(s, &err);
}

/* ---- signals ------------------------------------------------------------------------ */

static void on_signal(struct sigwatch *watch, int sig, void *data) {
	struct session *s = data;
	switch (s->phase) {
	case PHASE_ACQUIRING:
		if (sig != SIGWINCH) {
			abort_acquiring(s, sig);
		}
		break;
	case PHASE_RUNNING:
	case PHASE_DRAINING:
		log_msg(LOG_DEBUG, "forwarding signal %d to the command", sig);
		child_forward_signal(s->child, sig);
		if (sig == SIGTERM || sig == SIGHUP) {
			/* A stopped command would hold the signal, and the lock, for ever. */
			child_forward_signal(s->child, SIGCONT);
		}
		break;
	default:
		break; /* releasing or finishing: done within a deadline anyway */
	}
}

static void watch_signals(struct session *s) {
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < SIGNAL_COUNT; i++) {
		/* A signal ignored at startup stays ignored (nohup): not watched. */
		if (!s->startup->ignored[forwarded_signals[i]]) {
			sigaddset(&set, forwarded_signals[i]);
		}
	}
	int rc = sigwatch_start(&s->signals, s->loop, &set, on_signal, s);
	if (rc < 0) {
		/* Cannot happen short of running out of descriptors; rwith then runs on with the
		 * default actions, as before it watched signals at all. */
		log_msg(LOG_WARN, "cannot watch signals: %s", uv_strerror(rc));
		(void)sigprocmask(SIG_UNBLOCK, &set, NULL);
	}
}

/* ---- the run ------------------------------------------------------------------------ */

static void init_timer(struct session *s, uv_timer_t *timer) {
	(void)uv_timer_init(s->loop, timer);
	timer->data = s;
}

void session_run(uv_loop_t *loop, const struct rw_options *opts, const struct tls_context *tls,
	const struct child_startup *startup, struct session_hold *hold,
	const struct session_join *join, struct session_outcome *ret) {
	struct session s;
	struct rw_error err = {0};
	memset(&s, 0, sizeof(s));
	memset(ret, 0, sizeof(*ret));
	s.loop = loop;
	s.opts = opts;
	s.tls = tls;
	s.startup = startup;
	s.out = ret;
	s.hold = hold;
	s.join = join;
	s.started_ms = clock_mono_ms();
	session_compute_timing(opts->ttl_ms, opts->heartbeat_ms, opts->kill_after_ms, &s.timing);
	init_timer(&s, &s.wait_timer);
	init_timer(&s, &s.beat_timer);
	init_timer(&s, &s.term_timer);
	init_timer(&s, &s.kill_timer);
	init_timer(&s, &s.line_timer);
	watch_signals(&s);

	notify_init(&s.notify, opts->notify_socket);
	char server[400];
	for (size_t i = 0; i < opts->server_count; i++) {
		log_msg(LOG_INFO, "server %s", url_format_masked(&opts->servers[i], server,
			sizeof(server)));
	}
	int rc = lock_init(&s.lock, opts, &err);
	if (rc == 0 && join != NULL) {
		(void)snprintf(s.lock.token, sizeof(s.lock.token), "%s", join->token);
		s.lock.fence = join->fence;
	}
	if (rc < 0) {
		session_finish(&s, &err);
	} else if (opts->server_count > 1 &&
		(s.quorum = quorum_create(loop, opts, tls, &s.lock)) == NULL) {
		error_set(&err, RW_ERROR_INTERNAL, "out of memory");
		session_finish(&s, &err);
	} else {
		for (const char *c = s.lock.token; *c; c++) {
			s.jitter_state = s.jitter_state * 31 + (uint32_t)*c;
		}
		s.jitter_state |= 1;
		if (join != NULL) {
			session_join_hold(&s, join);
		} else {
			if (!opts->wait_forever && opts->wait_ms > 0) {
				(void)uv_timer_start(&s.wait_timer, on_wait_expired, opts->wait_ms, 0);
			}
			start_acquire(&s);
		}
	}
	(void)uv_run(loop, UV_RUN_DEFAULT);
	if (s.phase != PHASE_DONE) {
		/* Nothing was left to wake the loop: a bug, but never a hang or a stray child. */
		error_set(&err, RW_ERROR_INTERNAL, "the event loop ran out of work in phase %d", s.phase);
		session_finish(&s, &err);
		(void)uv_run(loop, UV_RUN_DEFAULT);
	}
	notify_finish(&s.notify);
}
