/* The command under the lock: the heartbeat and self-fencing while it runs, its end, and
 * the release (or, joining a hold, none). See session.c for the safety rule. */
#include "session_private.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "duration.h"
#include "holdenv.h"
#include "log.h"

#define RELEASE_TIMEOUT_MS 2000u
#define DRAIN_CHECK_MS 10u

static lock_done_cb on_extended;
static lock_done_cb on_released;

/* The lock steps of this phase, on the one server or on every server (quorum mode). */
static int send_extend(struct session *s, struct rw_error *err) {
	if (s->quorum != NULL) {
		return quorum_extend(s->quorum, s->timing.request_timeout, on_extended, s, err);
	}
	struct conn *conn = session_usable_conn(s);
	if (conn == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "out of memory");
	}
	return lock_extend(&s->lock, conn, s->timing.request_timeout, on_extended, s, err);
}

static int send_release(struct session *s, struct rw_error *err) {
	if (s->quorum != NULL) {
		return quorum_release(s->quorum, RELEASE_TIMEOUT_MS, on_released, s, err);
	}
	struct conn *conn = session_usable_conn(s);
	if (conn == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "out of memory");
	}
	return lock_release(&s->lock, conn, RELEASE_TIMEOUT_MS, on_released, s, err);
}

/* The command ended after the lock was lost: the outcome says how. */
static void finish_lost(struct session *s) {
	struct rw_error err = {0};
	char what[64];
	int status = s->out->command_status;
	if (status > 128) {
		(void)snprintf(what, sizeof(what), "was killed by signal %d", status - 128);
	} else {
		(void)snprintf(what, sizeof(what), "exited with status %d", status);
	}
	error_set(&err, RW_ERROR_LOST, "lost the lock '%s' while the command ran (%s); the command %s",
		s->opts->lock, s->lost_why, what);
	err.hint = "its work may be incomplete: check it, then run it again";
	session_finish(s, &err);
}

/* ---- running: heartbeat and self-fencing -------------------------------------------- */

static void declare_lost(struct session *s, bool server_said);

static void on_term_timer(uv_timer_t *timer) {
	struct session *s = timer->data;
	if (s->phase == PHASE_RUNNING && !s->lost) {
		declare_lost(s, false);
	}
}

static void on_kill_timer(uv_timer_t *timer) {
	struct session *s = timer->data;
	if (s->phase == PHASE_RUNNING && !s->lost) {
		declare_lost(s, false);
	}
	if (s->phase != PHASE_RUNNING && s->phase != PHASE_DRAINING) {
		return;
	}
	log_msg(LOG_WARN, "sending SIGKILL to the command's process group");
	child_terminate(s->child, SIGKILL);
	s->kill_sent = true;
	if (s->phase == PHASE_DRAINING) {
		finish_lost(s);
	}
}

/* (Re)arms SIGTERM and SIGKILL for the case that no further extension succeeds. */
/* rwith's own timers for the deadline, and the guard's copy of it (the guard acts even when
 * rwith cannot: see guard.h). */
static void arm_guard_timers(struct session *s) {
	uint64_t term_at, kill_at;
	session_deadline_times(s, &term_at, &kill_at);
	(void)uv_timer_start(&s->term_timer, on_term_timer, session_delay_until(term_at), 0);
	(void)uv_timer_start(&s->kill_timer, on_kill_timer, session_delay_until(kill_at), 0);
	if (s->child != NULL) {
		child_set_deadline(s->child, term_at, kill_at);
	}
}

static void declare_lost(struct session *s, bool server_said) {
	char grace[32];
	s->lost = true;
	if (s->hold != NULL) {
		s->hold->lost = true;
	}
	(void)uv_timer_stop(&s->beat_timer);
	(void)uv_timer_stop(&s->term_timer);
	uint64_t now = clock_mono_ms(), term_at, kill_at;
	session_deadline_times(s, &term_at, &kill_at);
	if (server_said) {
		(void)snprintf(s->lost_why, sizeof(s->lost_why),
			"the server no longer has it: it was broken, expired or the server restarted");
		/* The lock is gone now, so SIGTERM at once; SIGKILL --kill-after later, but never
		 * past the deadline the last extension guaranteed. */
		if (now + s->opts->kill_after_ms < kill_at) {
			kill_at = now + s->opts->kill_after_ms;
		}
		(void)uv_timer_start(&s->kill_timer, on_kill_timer, session_delay_until(kill_at), 0);
		child_set_deadline(s->child, now, kill_at);
	} else {
		char since[32], late[32];
		const char *why = s->last_failure.message[0] ? s->last_failure.message :
			"the server did not answer in time";
		if (now > term_at + s->timing.heartbeat) {
			/* The term timer fired long after its time: rwith itself did not run (the
			 * guard kept the deadline meanwhile). */
			(void)error_format(s->lost_why, sizeof(s->lost_why),
				"rwith itself could not run for %s (stopped, frozen, or the machine was "
				"suspended), so it could not be extended", duration_format(now - term_at,
				late, sizeof(late)));
		} else {
			(void)error_format(s->lost_why, sizeof(s->lost_why),
				"it could not be extended for %s: %s",
				duration_format(now - s->valid_from_ms, since, sizeof(since)), why);
		}
	}
	log_msg(LOG_WARN, "lost the lock '%s': %s; sending SIGTERM to the command, SIGKILL in %s",
		s->opts->lock, s->lost_why, duration_format(session_delay_until(kill_at), grace, sizeof(grace)));
	notify_status(&s->notify, NULL, "Lost the lock '%s': %s; terminating the command",
		s->opts->lock, s->lost_why);
	child_terminate(s->child, SIGTERM);
}

static void beat(struct session *s);

static void on_beat_timer(uv_timer_t *timer) {
	beat(timer->data);
}

static void extend_failed(struct session *s, const struct rw_error *err) {
	s->last_failure = *err;
	s->failed_beats++;
	log_msg(s->failed_beats == 1 ? LOG_WARN : LOG_INFO, "cannot extend the lock '%s': %s; retrying",
		s->opts->lock, err->message);
	(void)uv_timer_start(&s->beat_timer, on_beat_timer, s->timing.retry_delay, 0);
}

static void on_extended(enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err, void *data) {
	struct session *s = data;
	s->in_flight = false;
	if (s->phase != PHASE_RUNNING || s->lost) {
		return;
	}
	if (result == LOCK_RESULT_ERROR) {
		extend_failed(s, err);
		return;
	}
	if (result == LOCK_RESULT_NO) {
		declare_lost(s, true);
		return;
	}
	if (s->failed_beats > 0) {
		log_msg(LOG_INFO, "extending the lock '%s' works again", s->opts->lock);
	}
	s->failed_beats = 0;
	s->valid_from_ms = s->sent_ms;
	arm_guard_timers(s);
	(void)uv_timer_start(&s->beat_timer, on_beat_timer,
		session_delay_until(s->sent_ms + s->timing.heartbeat), 0);
	if (s->resume_pending) {
		s->resume_pending = false;
		child_continue(s->child);
	}
}

static void beat(struct session *s) {
	struct rw_error err = {0};
	if (s->phase != PHASE_RUNNING || s->lost || s->in_flight) {
		return;
	}
	s->sent_ms = clock_mono_ms();
	s->in_flight = true;
	log_msg(LOG_DEBUG, "extending '%s'", s->opts->lock);
	if (send_extend(s, &err) < 0) {
		s->in_flight = false;
		extend_failed(s, &err);
	}
}

/* rwith was stopped with the command at the terminal and has just been continued: the lock
 * may have expired meanwhile, so the command goes on only after a fresh extension. */
static void on_child_resumed(struct child *child, void *data) {
	struct session *s = data;
	if (s->phase != PHASE_RUNNING || s->lost) {
		child_continue(child);
		return;
	}
	s->resume_pending = true;
	(void)uv_timer_stop(&s->beat_timer);
	beat(s);
}

/* ---- the command's end and the release ---------------------------------------------- */

static void on_released(enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err, void *data) {
	struct session *s = data;
	if (s->phase != PHASE_RELEASING) {
		return;
	}
	/* Whether the lock outlived the command is judged at the command's end, not at the
	 * end of a slow release. */
	bool expired = s->command_end_ms >= s->valid_from_ms + s->opts->ttl_ms;
	if (result == LOCK_RESULT_NO || (result == LOCK_RESULT_ERROR && expired)) {
		(void)snprintf(s->lost_why, sizeof(s->lost_why), "%s",
			result == LOCK_RESULT_NO ?
				"it was gone when the command ended: broken, expired or the server restarted" :
				"it expired before the command ended, while the server did not answer");
		finish_lost(s);
		return;
	}
	if (result == LOCK_RESULT_ERROR) {
		char ttl[32];
		log_msg(LOG_WARN, "could not release the lock '%s' (%s); it frees itself within %s, "
			"ignoring", s->opts->lock, err->message,
			duration_format(s->opts->ttl_ms, ttl, sizeof(ttl)));
	} else {
		log_msg(LOG_INFO, "released the lock '%s'", s->opts->lock);
	}
	session_finish(s, NULL);
}

static void start_release(struct session *s, const struct rw_error *after) {
	struct rw_error err = {0};
	if (after != NULL) {
		s->out->err = *after; /* reported once the release is done */
	}
	s->phase = PHASE_RELEASING;
	if (s->join != NULL) {
		session_finish(s, NULL); /* the hold, and its release, are the outer holder's */
		return;
	}
	if (send_release(s, &err) < 0) {
		on_released(LOCK_RESULT_ERROR, NULL, NULL, &err, s);
	}
}

/* Draining: the command's leftovers may end by themselves after SIGTERM; check often, so
 * that rwith exits soon after the last one rather than at SIGKILL time. */
static void on_drain_check(uv_timer_t *timer) {
	struct session *s = timer->data;
	if (s->phase == PHASE_DRAINING && !child_group_alive(s->child)) {
		finish_lost(s);
	}
}

static void on_child_exit(struct child *child, int wait_status, void *data) {
	struct session *s = data;
	s->out->command_ran = true;
	s->out->command_status = child_exit_status(wait_status);
	s->out->command_signal = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
	s->command_end_ms = clock_mono_ms();
	uint64_t term_at, kill_at;
	session_deadline_times(s, &term_at, &kill_at);
	if (!s->lost && (s->command_end_ms >= term_at || child_guard_terminated(child))) {
		/* The deadline's SIGTERM time passed without an extension, or the guard sent it
		 * (its clock counts a suspend; rwith's timers do not), and the command ended:
		 * the lock is lost all the same. */
		declare_lost(s, false);
	}
	(void)uv_timer_stop(&s->beat_timer);
	(void)uv_timer_stop(&s->term_timer);
	if (!s->lost) {
		(void)uv_timer_stop(&s->kill_timer);
		notify_status(&s->notify, "STOPPING=1", "The command exited; releasing the lock '%s'",
			s->opts->lock);
		start_release(s, NULL);
		return;
	}
	/* Lost: whatever the command left in its group goes too, by SIGKILL at the latest. */
	if (!s->kill_sent && child_group_alive(child)) {
		s->phase = PHASE_DRAINING;
		(void)uv_timer_start(&s->beat_timer, on_drain_check, DRAIN_CHECK_MS, DRAIN_CHECK_MS);
		return;
	}
	finish_lost(s);
}

/* RWITH_HOLD for the command: this holder first, then the holds rwith runs under, so that a
 * nested rwith for the same lock joins this hold (see holdenv.h). */
static void format_hold_value(const struct session *s, char *buf, size_t size) {
	struct holdenv_entry entry;
	if (s->join != NULL) {
		buf[0] = '\0'; /* the joined hold is in the environment already: left as it is */
		return;
	}
	holdenv_entry_init(&entry, false, s->lock.token, s->opts, s->lock.fence);
	if (holdenv_format(&entry, s->opts->hold_env, buf, size) < 0) {
		buf[0] = '\0';
	}
}

/* The lock is held: the command starts, or a hold adopts its owner (hold.h). */
static struct child *start_holding(struct session *s, const struct child_spec *spec,
	struct rw_error *err) {
	if (s->hold != NULL) {
		struct child *owner = child_adopt(s->loop, s->hold->owner, s->hold->owner_fd, spec, err);
		s->hold->owner_fd = -1;
		s->hold->child = owner;
		if (owner != NULL && s->hold->granted(s->hold, s->lock.fence, s->lock.token, err) < 0) {
			s->hold->child = NULL;
			child_destroy(owner);
			return NULL;
		}
		return owner;
	}
	if (s->child != NULL) {
		/* Prepared while waiting: only the command is left to start. */
		return child_start(s->child, spec, err) < 0 ? NULL : s->child;
	}
	return child_spawn(s->loop, spec, err);
}

void session_start_command(struct session *s) {
	struct rw_error err = {0};
	char hold_value[HOLDENV_VALUE_MAX];
	(void)uv_timer_stop(&s->wait_timer);
	session_stop_waiting_line(s);
	s->phase = PHASE_RUNNING;
	log_msg(LOG_INFO, "%s the lock '%s' (fence %" PRIu64 ")", s->join ? "joined the hold of" :
		"acquired", s->opts->lock, s->lock.fence);
	format_hold_value(s, hold_value, sizeof(hold_value));
	struct child_spec spec = {
		.argv = s->opts->command,
		.shell_command = s->opts->shell_command,
		.lock_name = s->opts->lock,
		.fence = s->lock.fence,
		.hold_value = hold_value,
		.startup = s->startup,
		.on_exit = on_child_exit,
		.on_resumed = on_child_resumed,
		.data = s,
	};
	session_deadline_times(s, &spec.term_at_ms, &spec.kill_at_ms);
	arm_guard_timers(s);
	s->child = start_holding(s, &spec, &err);
	if (s->child == NULL) {
		(void)uv_timer_stop(&s->term_timer);
		(void)uv_timer_stop(&s->kill_timer);
		start_release(s, &err);
		return;
	}
	(void)uv_timer_start(&s->beat_timer, on_beat_timer,
		session_delay_until(s->valid_from_ms + s->timing.heartbeat), 0);
	/* The lock is held and the command exists: ready, unless the command says so itself. */
	notify_status(&s->notify, s->opts->ready_by_command ? NULL : "READY=1",
		"Holding the lock '%s' (fence %" PRIu64 "), running the command", s->opts->lock,
		s->lock.fence);
}

/* Joins the hold `join` names: held already, so the command starts at once. */
void session_join_hold(struct session *s, const struct session_join *join) {
	uint64_t ttl = s->opts->ttl_ms;
	s->valid_from_ms = join->valid_until_ms > ttl ? join->valid_until_ms - ttl : 0;
	if (s->quorum != NULL) {
		quorum_adopt(s->quorum, join->fence);
	}
	session_start_command(s);
}
