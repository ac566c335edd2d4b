/* The guard: a tiny process in the command's process group that ends the group when rwith
 * can no longer answer for it: when rwith dies (even by SIGKILL, a crash or the OOM killer,
 * which give rwith no chance to act), and when the lock's deadline passes without a newer
 * one, even if rwith itself is stopped, frozen or starved and cannot act.
 *
 * It asks the kernel for a signal when rwith dies (PR_SET_PDEATHSIG) and then SIGKILLs its
 * group: PR_SET_PDEATHSIG on the command alone would reach only the command, not what it
 * started. It reads the deadline rwith gives it after each extension from memory it shares
 * with rwith, and keeps it on CLOCK_BOOTTIME, which counts time the machine spent
 * suspended, as the server's TTL does: SIGTERM at the term time, SIGKILL at the kill time,
 * at once after a resume past them. It blocks every signal and only waits, so signals sent
 * to the group or typed at the terminal wake it without effect.
 *
 * It is an ordinary fork() of rwith, with memory of its own, on purpose: a process that
 * shared rwith's memory (clone(CLONE_VM), which would start ten times faster) dies with rwith
 * when the OOM killer picks rwith (it kills every process using the victim's memory) or, on
 * kernels before 5.16, when rwith dumps core — exactly when the guard is needed. */
#ifndef RWITH_GUARD_H
#define RWITH_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct guard_shared; /* the deadline, in memory shared with the guard */

struct guard {
	pid_t pid;    /* 0 when none runs */
	pid_t parent; /* rwith's pid, handed to the guard */
	struct guard_shared *shared;
};

/* Prepares a guard (its shared memory) with no deadline. Returns 0, or -1 with errno set. */
int guard_init(struct guard *guard);

/* Unmaps the shared memory; the guard must be reaped. Accepts a guard that failed to init. */
void guard_finish(struct guard *guard);

/* Starts the guard process. `group` 0: it leads a new process group whose id is its pid;
 * otherwise it joins that existing group (a guard started again after a stray kill).
 * Returns 0, or -1 with errno set. */
int guard_start(struct guard *guard, pid_t group);

/* Forgets a guard process that was reaped (waitpid reported it dead). */
void guard_reaped(struct guard *guard);

/* The deadline, in clock_mono_ms() milliseconds (CLOCK_BOOTTIME): SIGTERM to the group at
 * term_at_ms, SIGKILL at kill_at_ms, unless a newer deadline comes first. kill_at_ms 0: none
 * (the guard then only watches for rwith's death). A later deadline reaches the guard at its
 * next wake-up, the old term time at the latest; the first one, and an earlier one (a
 * loss), wake it at once with a signal. */
void guard_set_deadline(struct guard *guard, uint64_t term_at_ms, uint64_t kill_at_ms);

/* The kill time last set, or 0. */
uint64_t guard_kill_at(const struct guard *guard);

/* Whoever calls this first, rwith or the guard, sends the deadline's SIGTERM; the other
 * does not, so the command never gets it twice. True for the first caller. */
bool guard_claim_term(struct guard *guard);

/* True when the guard sent the deadline's SIGTERM: the lock's time ran out. */
bool guard_sent_term(const struct guard *guard);

/* The guard's decision at `now_ms`, pure (exposed for the unit tests). */
struct guard_step {
	bool term;          /* send SIGTERM (and SIGCONT) to the group now */
	bool kill;          /* send SIGKILL to the group now */
	uint64_t wake_at_ms; /* when to look again; 0: only when a signal comes */
};
struct guard_step guard_next_step(uint64_t now_ms, uint64_t term_at_ms, uint64_t kill_at_ms,
	bool term_sent);

#endif
