/* Signals as events on the event loop, read from one signalfd.
 *
 * The watched signals are blocked, so each waits in the kernel until the loop reads it and
 * no handler ever runs: starting costs three system calls in all, where a uv_signal_t costs
 * a lock round trip through a pipe, a sigaction and two mask changes per signal to start,
 * and as many to stop (about 90 system calls per run of rwith for eight signals). Blocking
 * also closes the window in which a signal could arrive before its watcher exists. The
 * signals stay blocked after sigwatch_close: a late one is never read, where a restored
 * default action would end rwith with the wrong status. Linux-only, as rwith is; rwith has
 * no other threads, which would otherwise need the signals blocked too. */
#ifndef RWITH_SIGWATCH_H
#define RWITH_SIGWATCH_H

#include <signal.h>

#include <uv.h>

struct sigwatch;

/* One signal was read. The callback may close the watch. */
typedef void sigwatch_cb(struct sigwatch *watch, int sig, void *data);

struct sigwatch {
	uv_poll_t poll;
	int fd; /* -1 when not watching */
	sigwatch_cb *cb;
	void *data;
};

/* Blocks the signals of `set` and watches them. Returns 0, or a negative errno (then nothing
 * is watched, and the signals may be blocked); either way sigwatch_close is the way out. */
int sigwatch_start(struct sigwatch *watch, uv_loop_t *loop, const sigset_t *set,
	sigwatch_cb *cb, void *data);

/* Stops watching; `closed` runs once the loop is done with the struct (it may be NULL when
 * the struct outlives the loop). Does nothing to a watch that never started or is closed. */
void sigwatch_close(struct sigwatch *watch, uv_close_cb closed);

#endif
