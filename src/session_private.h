/* What session.c (acquiring, waiting, signals, the run) and session_running.c (the
 * command under the lock: heartbeat, self-fencing, the end and the release) share: the
 * session itself. Private to those two files. */
#ifndef RWITH_SESSION_PRIVATE_H
#define RWITH_SESSION_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "child.h"
#include "clock.h"
#include "conn.h"
#include "lock.h"
#include "notify.h"
#include "quorum.h"
#include "session.h"
#include "sigwatch.h"

enum phase {
	PHASE_ACQUIRING, /* connecting, acquiring, waiting */
	PHASE_ABORTING,  /* giving up (--wait, a signal): leaving the queue */
	PHASE_RUNNING,   /* the command runs under the lock */
	PHASE_DRAINING,  /* lost: the command is gone, its group still has processes */
	PHASE_RELEASING, /* the command exited; releasing */
	PHASE_DONE,
};

struct session {
	uv_loop_t *loop;
	const struct rw_options *opts;
	const struct tls_context *tls; /* borrowed; NULL without rediss:// */
	const struct child_startup *startup;
	struct session_outcome *out;
	struct session_hold *hold; /* --hold: NULL when running a command */
	const struct session_join *join; /* joining a hold: NULL when acquiring */
	struct session_timing timing;
	struct lock lock;
	struct conn *conn;     /* one server */
	struct quorum *quorum; /* several servers (quorum mode); conn is unused then */
	uint32_t jitter_state; /* quorum mode: random pauses between tries */
	unsigned tries;
	struct child *child;
	struct notify notify; /* systemd, when it runs us */
	enum phase phase;

	uv_timer_t wait_timer; /* -w */
	uv_timer_t beat_timer; /* heartbeat, and retries of connecting */
	uv_timer_t term_timer;
	uv_timer_t kill_timer;
	uv_timer_t line_timer; /* redraws the waiting line at a terminal */
	bool live_line;        /* it is shown */
	struct sigwatch signals; /* the forwarded ones rwith did not find ignored */

	uint64_t started_ms;
	uint64_t last_contact_ms; /* the server's last answer */
	bool ever_answered;
	uint64_t sent_ms; /* when the request in flight was sent */
	bool pipelined;   /* the acquire in flight waits behind a BLPOP */
	bool reasked;     /* a late grant was asked for once more */
	bool in_flight;
	uint64_t valid_from_ms;
	unsigned failed_beats;
	unsigned reconnects;
	struct rw_error last_failure;

	uint64_t command_end_ms;
	bool lost;
	bool kill_sent;
	bool resume_pending;
	char lost_why[512];

	struct lock_busy busy; /* the last busy answer while waiting */
	bool have_busy;
	uint64_t busy_seen_ms; /* when the server described s->busy */
	bool announced;
	uint64_t announced_fence;
	uint64_t announced_ms;
};

/* The deadline's SIGTERM and SIGKILL times, from the last grant or extension. */
static inline void session_deadline_times(const struct session *s, uint64_t *ret_term_at,
	uint64_t *ret_kill_at) {
	*ret_kill_at = s->valid_from_ms + s->opts->ttl_ms - s->timing.kill_margin;
	*ret_term_at = *ret_kill_at - s->timing.kill_after;
}

static inline uint64_t session_delay_until(uint64_t when_ms) {
	uint64_t now = clock_mono_ms();
	return when_ms > now ? when_ms - now : 0;
}

/* Records the outcome (the first error wins) and closes everything; uv_run then returns. */
void session_finish(struct session *s, const struct rw_error *err);

/* The server's conn, made at first use (session.c). */
struct conn *session_usable_conn(struct session *s);

/* Erases the waiting line at a terminal, if one is shown (session.c). */
void session_stop_waiting_line(struct session *s);

/* The lock is held: starts the command (or adopts a hold's owner) and the heartbeat. */
void session_start_command(struct session *s);

/* Joins the hold `join` names: held already, so the command starts at once. */
void session_join_hold(struct session *s, const struct session_join *join);

#endif
