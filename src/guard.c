/* The guard process (see guard.h): in the command's group, which it kills when rwith dies or
 * the lock's deadline passes. */
#define _GNU_SOURCE /* close_range's number, CLOCK_BOOTTIME */
#include "guard.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "compiler.h"

#ifndef SYS_close_range
#define SYS_close_range 436 /* the same number on every architecture (Linux 5.9) */
#endif

#define GUARD_FALLBACK_FDS 1024 /* closed one by one when close_range is missing */
#define GUARD_TIMER_SIGNAL SIGALRM

/* One page of memory shared with the guard (MAP_SHARED survives the fork): lock-free atomics
 * work across processes on it. */
struct guard_shared {
	_Atomic uint64_t term_at_ms;
	_Atomic uint64_t kill_at_ms;
	atomic_int term_sent; /* 0, or who sent the deadline's SIGTERM */
};

#define GUARD_TERM_BY_RWITH 1
#define GUARD_TERM_BY_GUARD 2

struct guard_step guard_next_step(uint64_t now_ms, uint64_t term_at_ms,
	uint64_t kill_at_ms, bool term_sent) {
	struct guard_step step = {false, false, 0};
	if (kill_at_ms == 0) {
		return step; /* no deadline (yet): only rwith's death matters */
	}
	if (now_ms >= kill_at_ms) {
		step.kill = true;
		return step;
	}
	if (!term_sent && now_ms >= term_at_ms) {
		step.term = true;
		term_sent = true;
	}
	step.wake_at_ms = !term_sent && term_at_ms < kill_at_ms ? term_at_ms : kill_at_ms;
	return step;
}

/* Arms the guard's CLOCK_BOOTTIME timer to signal at `at_ms` (absolute), or disarms it. */
static void arm_timer(timer_t timer, uint64_t at_ms) {
	struct itimerspec when;
	memset(&when, 0, sizeof(when));
	when.it_value.tv_sec = (time_t)(at_ms / 1000u);
	when.it_value.tv_nsec = (long)(at_ms % 1000u) * 1000000L;
	(void)timer_settime(timer, TIMER_ABSTIME, &when, NULL);
}

/* Closes every descriptor: the guard holds no connection or pipe of rwith's open. */
static void close_all(void) {
	if (syscall(SYS_close_range, 0, ~0U, 0) < 0) {
		for (int fd = 0; fd < GUARD_FALLBACK_FDS; fd++) {
			(void)close(fd);
		}
	}
}

/* The guard's whole life, in a fork of rwith. Every signal is blocked, so no handler of
 * rwith's runs here. It wakes for every signal (its timer's included), then checks whether
 * rwith is still its parent and what the deadline asks for. When rwith is gone
 * (PR_SET_PDEATHSIG wakes it), or at the kill time, it SIGKILLs its group, itself included:
 * by the group's ID, and only once it has checked that it is in that group, so a guard
 * that could not join it never signals rwith's own group. */
static RW_NORETURN void guard_main(pid_t parent, pid_t group, struct guard_shared *shared) {
	sigset_t all;
	sigfillset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, NULL);
	if (group == 0) {
		group = getpid();
	}
	(void)setpgid(0, group);
	if (getpgid(0) != group) {
		_exit(EXIT_FAILURE); /* rwith sees the guard gone and says so */
	}
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	close_all();
	struct sigevent event;
	memset(&event, 0, sizeof(event));
	event.sigev_notify = SIGEV_SIGNAL;
	event.sigev_signo = GUARD_TIMER_SIGNAL;
	timer_t timer;
	bool have_timer = timer_create(CLOCK_BOOTTIME, &event, &timer) == 0;
	/* The parent may have died before the prctl took effect: hence the check first. */
	while (getppid() == parent) {
		struct guard_step step = guard_next_step(clock_mono_ms(),
			atomic_load(&shared->term_at_ms), atomic_load(&shared->kill_at_ms),
			atomic_load(&shared->term_sent) != 0);
		if (step.kill) {
			break;
		}
		if (step.term && atomic_exchange(&shared->term_sent, GUARD_TERM_BY_GUARD) == 0) {
			(void)kill(-group, SIGTERM);
			(void)kill(-group, SIGCONT); /* a stopped process handles it too */
		}
		struct timespec left;
		struct timespec *timeout = NULL;
		if (have_timer) {
			arm_timer(timer, step.wake_at_ms);
		} else if (step.wake_at_ms != 0) {
			/* No CLOCK_BOOTTIME timer: a plain timeout, which does not count a suspend
			 * but still catches a stopped rwith. */
			uint64_t now = clock_mono_ms();
			uint64_t ms = step.wake_at_ms > now ? step.wake_at_ms - now : 1;
			left.tv_sec = (time_t)(ms / 1000u);
			left.tv_nsec = (long)(ms % 1000u) * 1000000L;
			timeout = &left;
		}
		(void)sigtimedwait(&all, NULL, timeout);
	}
	(void)kill(-group, SIGKILL);
	_exit(EXIT_FAILURE);
}

int guard_init(struct guard *guard) {
	guard->pid = 0;
	void *page = mmap(NULL, sizeof(struct guard_shared), PROT_READ | PROT_WRITE,
		MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		guard->shared = NULL;
		return -1;
	}
	guard->shared = page; /* zero-filled: no deadline, no SIGTERM sent */
	return 0;
}

void guard_finish(struct guard *guard) {
	if (guard->shared != NULL) {
		(void)munmap(guard->shared, sizeof(struct guard_shared));
		guard->shared = NULL;
	}
}

int guard_start(struct guard *guard, pid_t group) {
	/* Every signal blocked across the fork, so no handler of rwith's runs in the guard
	 * before it has blocked them for good. */
	sigset_t all, old;
	sigfillset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, &old);
	guard->parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		guard_main(guard->parent, group, guard->shared);
	}
	int code = errno;
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		errno = code;
		return -1;
	}
	(void)setpgid(pid, group != 0 ? group : pid); /* also done by the guard; first one wins */
	guard->pid = pid;
	return 0;
}

void guard_reaped(struct guard *guard) {
	guard->pid = 0;
}

void guard_set_deadline(struct guard *guard, uint64_t term_at_ms, uint64_t kill_at_ms) {
	if (guard->shared == NULL) {
		return;
	}
	uint64_t old_term = atomic_load(&guard->shared->term_at_ms);
	uint64_t old_kill = atomic_load(&guard->shared->kill_at_ms);
	/* term first: a guard reading between the two sees an earlier term with the old kill,
	 * which only means it may send SIGTERM a little early on a loss, never late. */
	atomic_store(&guard->shared->term_at_ms, term_at_ms);
	atomic_store(&guard->shared->kill_at_ms, kill_at_ms);
	/* A guard reads the deadline when it wakes. One that had none sleeps until a signal
	 * (a guard forked before the lock was granted, which may well have gone to sleep before
	 * this), and one sleeping until the old term time would act late on an earlier
	 * deadline (a loss): wake it, so that it arms its timer for this one. A later deadline
	 * needs no wake-up: the guard wakes at the old term time and reads it then. */
	if (guard->pid > 0 && kill_at_ms != 0 && (old_kill == 0 || term_at_ms < old_term)) {
		(void)kill(guard->pid, GUARD_TIMER_SIGNAL);
	}
}

uint64_t guard_kill_at(const struct guard *guard) {
	return guard->shared != NULL ? atomic_load(&guard->shared->kill_at_ms) : 0;
}

bool guard_claim_term(struct guard *guard) {
	return guard->shared == NULL ||
		atomic_exchange(&guard->shared->term_sent, GUARD_TERM_BY_RWITH) == 0;
}

bool guard_sent_term(const struct guard *guard) {
	return guard->shared != NULL &&
		atomic_load(&guard->shared->term_sent) == GUARD_TERM_BY_GUARD;
}
