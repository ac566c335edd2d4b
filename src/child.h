/* The command: spawned in a process group of its own, watched by a guard process so that
 * the whole group dies with rwith, given the terminal when rwith had it, signalled as a
 * group, and reaped into the contract's exit status.
 *
 * Processes: rwith -> guard (leader of the new group; a fork, see guard.h) and rwith ->
 * command (member of the guard's group), made as posix_spawn makes it: it shares rwith's
 * memory until its exec, rwith waiting meanwhile, so no copy of rwith's address space is
 * made for it. rwith does this itself rather than with uv_spawn or posix_spawn: it needs
 * two processes in one group, dispositions handed on exactly as rwith found them (glibc's
 * posix_spawn leaves two of its own signals ignored), and job-control stops (WUNTRACED),
 * which uv_spawn does not offer. */
#ifndef RWITH_CHILD_H
#define RWITH_CHILD_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "error.h"

#define CHILD_MAX_SIGNAL 65

/* Signal state rwith found at startup, to hand on to the command unchanged. Only the
 * signals rwith itself handles or ignores (child_touched_signals) can differ from it. */
struct child_startup {
	bool ignored[CHILD_MAX_SIGNAL]; /* SIG_IGN at startup: stays ignored for the command */
	sigset_t mask;                  /* the blocked set rwith inherited */
};

/* Every signal whose disposition rwith changes: the forwarded ones, SIGCHLD, SIGPIPE. */
extern const int child_touched_signals[];
extern const int child_touched_signal_count;

/* Reads the current dispositions and mask. Call before installing any handler. */
void child_capture_startup(struct child_startup *ret);

struct child;

/* The command exited (or was killed): `wait_status` as from waitpid. */
typedef void child_exit_cb(struct child *child, int wait_status, void *data);
/* The command was stopped by job control at the terminal, and rwith stopped with it; it has
 * just been continued. The owner decides when the command may go on: child_continue(). */
typedef void child_resumed_cb(struct child *child, void *data);

struct child_spec {
	char *const *argv;         /* NULL-terminated; or NULL with shell_command */
	const char *shell_command; /* run with /bin/sh -c */
	const char *lock_name;     /* -> RWITH_LOCK */
	uint64_t fence;            /* -> RWITH_FENCE */
	const char *hold_value;    /* -> RWITH_HOLD (holdenv.h); NULL or empty: left as it is */
	uint64_t term_at_ms, kill_at_ms; /* the deadline the guard keeps (child_set_deadline) */
	const struct child_startup *startup;
	child_exit_cb *on_exit;
	child_resumed_cb *on_resumed;
	void *data;
};

/* Starts a spare guard (no deadline, no command) at start-up, before the event loop and the
 * connections exist: a fork then copies a small address space, and rwith takes few
 * copy-on-write faults afterwards, so the guard costs a fraction of what it costs once the
 * lock is granted. The next child_prepare (or child_spawn) takes it over; child_spare_drop
 * ends it unused. Failing is harmless: child_prepare then forks a guard as usual. */
void child_spare_start(void);

/* Ends the spare guard if nobody took it: a run that ends before its command, or a waiter
 * far back in a long queue, which keeps no process for its guard meanwhile. */
void child_spare_drop(void);

/* Makes the guard (with no deadline yet) and the SIGCHLD watch, with no command: done while
 * rwith waits for the lock, so that starting the command once it is granted costs less.
 * Returns a child for child_start or child_destroy, or NULL with err set. */
struct child *child_prepare(uv_loop_t *loop, struct rw_error *err);

/* Starts the command of a prepared child. Returns 0, or -1 with err set as child_spawn's;
 * then the child is destroyed and nothing is left running. */
int child_start(struct child *child, const struct child_spec *spec, struct rw_error *err);

/* child_prepare, then child_start. Returns a child, or NULL with err set:
 * RW_ERROR_NOT_FOUND (127), RW_ERROR_EXEC (126) or RW_ERROR_INTERNAL; then nothing is left
 * running. */
struct child *child_spawn(uv_loop_t *loop, const struct child_spec *spec, struct rw_error *err);

/* child_open_process's answer when the kernel has no pidfds but the process exists. */
#define CHILD_NO_PIDFD (-2)

/* A pidfd for process `pid` (which need not be ours), to hand to child_adopt: it names that
 * process even after its pid is reused. CHILD_NO_PIDFD when the kernel has none (before
 * Linux 5.3) but the process exists; -1 with errno set when it does not. */
int child_open_process(pid_t pid);

/* Watches process `pid` (not rwith's child; `pidfd` from child_open_process, taken over
 * also on failure, or -1) as if it were the command, for a hold (hold.h): spec's on_exit reports its end (as
 * status 0), signals go to it alone, and it has no guard, no group and no terminal.
 * Returns a child, or NULL with err set. */
struct child *child_adopt(uv_loop_t *loop, pid_t pid, int pidfd, const struct child_spec *spec,
	struct rw_error *err);

/* An adopted process's hold ends now (a release was asked for): on_exit reports, as when it
 * exits. Does nothing to a command rwith started. */
void child_end(struct child *child);

/* Sends sig to the command's whole process group, as a signal rwith got is passed on.
 * Safe to call after the command has exited. */
void child_forward_signal(struct child *child, int sig);

/* Sends sig (SIGTERM or SIGKILL) to the whole group, then SIGCONT, so that a stopped
 * process handles it too. The deadline's SIGTERM goes once: not again if the guard sent it
 * already (and the guard does not send it after this). */
void child_terminate(struct child *child, int sig);

/* The new deadline, in clock_mono_ms() time, for the guard to keep on its own: SIGTERM to
 * the group at term_at_ms, SIGKILL at kill_at_ms, unless a newer deadline comes first. So a
 * stopped or frozen rwith cannot let the command outlive its lock. */
void child_set_deadline(struct child *child, uint64_t term_at_ms, uint64_t kill_at_ms);

/* Lets a job-control-stopped command go on: gives it back the terminal if rwith is in the
 * foreground again, and sends SIGCONT to its group. */
void child_continue(struct child *child);

/* True when the guard sent the deadline's SIGTERM (the lock's time ran out). */
bool child_guard_terminated(const struct child *child);

/* True while any process is left in the command's group, guard excluded. */
bool child_group_alive(struct child *child);

/* Reaps the guard, gives the terminal back to rwith's own group, closes the handles; the
 * struct is freed once the loop has run the close callbacks. Accepts NULL. */
void child_destroy(struct child *child);

/* The contract's status for a wait status: the exit code, or 128+N for signal N. */
int child_exit_status(int wait_status);

#endif
