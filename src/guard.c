/* The guard process (see guard.h): in the command's group, which it kills when rwith dies or
 * the lock's deadline passes; made with clone(CLONE_VM) and raw system calls where it can be,
 * fork() elsewhere. */
#define _GNU_SOURCE /* clone(), MAP_STACK */
#include "guard.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"

#ifndef SYS_close_range
#define SYS_close_range 436 /* the same number on every architecture (Linux 5.9) */
#endif

#define GUARD_STACK_SIZE (64 * 1024)
#define GUARD_FALLBACK_FDS 1024 /* closed one by one when close_range is missing */
#define GUARD_TIMER_SIGNAL SIGALRM

/* One page of memory shared with the guard, whether it shares all of rwith's (clone) or not
 * (fork): lock-free atomics work across processes on it. */
struct guard_shared {
	_Atomic uint64_t term_at_ms;
	_Atomic uint64_t kill_at_ms;
	atomic_int term_sent;
};

#if defined(__x86_64__)
#define GUARD_SHARES_MEMORY 1
RW_NO_SANITIZE static inline __attribute__((always_inline)) long sys4(long number, long a,
	long b, long c, long d) {
	register long r10 __asm__("r10") = d;
	long ret;
	__asm__ volatile("syscall"
		: "=a"(ret)
		: "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10)
		: "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
#define GUARD_SHARES_MEMORY 1
RW_NO_SANITIZE static inline __attribute__((always_inline)) long sys4(long number, long a,
	long b, long c, long d) {
	register long x8 __asm__("x8") = number;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
}
#else
/* An ordinary fork(): the guard has memory of its own, so libc may set its errno. */
#define GUARD_SHARES_MEMORY 0
static long sys4(long number, long a, long b, long c, long d) {
	long ret = syscall(number, a, b, c, d);
	return ret < 0 ? -errno : ret;
}
#endif

RW_NO_SANITIZE struct guard_step guard_next_step(uint64_t now_ms, uint64_t term_at_ms,
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

/* CLOCK_BOOTTIME in ms: clock_mono_ms()'s clock (see clock.c). */
RW_NO_SANITIZE static inline __attribute__((always_inline)) uint64_t boot_ms(void) {
	struct timespec now = {0, 0};
	(void)sys4(SYS_clock_gettime, CLOCK_BOOTTIME, (long)&now, 0, 0);
	return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

/* Arms the guard's CLOCK_BOOTTIME timer to signal at `at_ms` (absolute), or disarms it. */
RW_NO_SANITIZE static inline __attribute__((always_inline)) void arm_timer(int timer,
	uint64_t at_ms) {
	struct itimerspec when = {{0, 0}, {0, 0}};
	when.it_value.tv_sec = (time_t)(at_ms / 1000u);
	when.it_value.tv_nsec = (long)(at_ms % 1000u) * 1000000L;
	(void)sys4(SYS_timer_settime, timer, TIMER_ABSTIME, (long)&when, 0);
}

struct guard_args {
	long parent;
	long group; /* 0: a new group of its own */
	struct guard_shared *shared;
};

/* The guard's whole life. Every signal is blocked, glibc's internal ones too, so no handler
 * of rwith's can run here; descriptors are closed so that the guard holds no connection or
 * pipe of rwith's open. It wakes for every signal (its timer's included) and then checks
 * whether rwith is still its parent and what the deadline asks for. When rwith is gone
 * (PR_SET_PDEATHSIG wakes it), or at the kill time, it SIGKILLs its group, itself included.
 * `arg` points to arguments on its own stack, copied there before it started. */
RW_NO_SANITIZE __attribute__((noinline)) static int guard_main(void *arg) {
	const struct guard_args *args = arg;
	long parent = args->parent;
	struct guard_shared *shared = args->shared;
	uint64_t all = ~(uint64_t)0; /* the kernel's signal set: 64 bits on Linux */
	(void)sys4(SYS_rt_sigprocmask, SIG_BLOCK, (long)&all, 0, sizeof(all));
	(void)sys4(SYS_setpgid, 0, args->group, 0, 0);
	(void)sys4(SYS_prctl, PR_SET_PDEATHSIG, SIGTERM, 0, 0);
	if (sys4(SYS_close_range, 0, ~0U, 0, 0) < 0) {
		for (long fd = 0; fd < GUARD_FALLBACK_FDS; fd++) {
			(void)sys4(SYS_close, fd, 0, 0, 0);
		}
	}
	struct sigevent event;
	event.sigev_notify = SIGEV_SIGNAL;
	event.sigev_signo = GUARD_TIMER_SIGNAL;
	event.sigev_value.sival_ptr = 0;
	int timer = -1;
	bool have_timer = sys4(SYS_timer_create, CLOCK_BOOTTIME, (long)&event, (long)&timer, 0) == 0;
	/* The parent may have died before the prctl took effect: hence the check first. */
	while (sys4(SYS_getppid, 0, 0, 0, 0) == parent) {
		bool term_sent = atomic_load(&shared->term_sent) != 0;
		struct guard_step step = guard_next_step(boot_ms(), atomic_load(&shared->term_at_ms),
			atomic_load(&shared->kill_at_ms), term_sent);
		if (step.kill) {
			break;
		}
		if (step.term && atomic_exchange(&shared->term_sent, 1) == 0) {
			(void)sys4(SYS_kill, 0, SIGTERM, 0, 0);
			(void)sys4(SYS_kill, 0, SIGCONT, 0, 0); /* a stopped process handles it too */
		}
		if (have_timer) {
			arm_timer(timer, step.wake_at_ms);
			(void)sys4(SYS_rt_sigtimedwait, (long)&all, 0, 0, sizeof(all));
		} else {
			/* No CLOCK_BOOTTIME timer (a kernel without it): a plain timeout, which
			 * does not count a suspend but still catches a stopped rwith. */
			uint64_t now = boot_ms();
			uint64_t left = step.wake_at_ms > now ? step.wake_at_ms - now : 1;
			struct timespec timeout = {(time_t)(left / 1000u), (long)(left % 1000u) * 1000000L};
			(void)sys4(SYS_rt_sigtimedwait, (long)&all, 0,
				step.wake_at_ms != 0 ? (long)&timeout : 0, sizeof(all));
		}
	}
	(void)sys4(SYS_kill, 0, SIGKILL, 0, 0);
	(void)sys4(SYS_exit_group, 1, 0, 0, 0);
	return 1;
}

int guard_init(struct guard *guard) {
	guard->pid = 0;
	guard->stack = NULL;
	guard->stack_size = 0;
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
	guard->parent = getpid();
	struct guard_args args = {guard->parent, group, guard->shared};
	pid_t pid;
#if GUARD_SHARES_MEMORY
	void *stack = mmap(NULL, GUARD_STACK_SIZE, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		return -1;
	}
	/* The arguments go to the top of the guard's own stack: nothing of rwith's stack, which
	 * moves on at once, is read by the guard. */
	uintptr_t top = ((uintptr_t)stack + GUARD_STACK_SIZE - sizeof(args)) & ~(uintptr_t)15;
	struct guard_args *copy = (struct guard_args *)top; /* the stack grows down from here */
	*copy = args;
	/* Not CLONE_FILES or CLONE_SIGHAND: descriptors and dispositions are the guard's own
	 * copies; SIGCHLD: rwith reaps it like any child. */
	pid = clone(guard_main, copy, CLONE_VM | SIGCHLD, copy);
	if (pid < 0) {
		int code = errno;
		(void)munmap(stack, GUARD_STACK_SIZE);
		errno = code;
		return -1;
	}
	guard->stack = stack;
	guard->stack_size = GUARD_STACK_SIZE;
#else
	pid = fork();
	if (pid == 0) {
		_exit(guard_main(&args));
	}
	if (pid < 0) {
		return -1;
	}
#endif
	(void)setpgid(pid, group != 0 ? group : pid); /* also done by the guard; first one wins */
	guard->pid = pid;
	return 0;
}

void guard_reaped(struct guard *guard) {
	if (guard->stack != NULL) {
		/* The kernel is done with it: a process lets go of its memory before it is
		 * reported dead. */
		(void)munmap(guard->stack, guard->stack_size);
	}
	guard->stack = NULL;
	guard->pid = 0;
}

void guard_set_deadline(struct guard *guard, uint64_t term_at_ms, uint64_t kill_at_ms) {
	if (guard->shared == NULL) {
		return;
	}
	/* term first: a guard reading between the two sees an earlier term with the old kill,
	 * which only means it may send SIGTERM a little early on a loss, never late. */
	atomic_store(&guard->shared->term_at_ms, term_at_ms);
	atomic_store(&guard->shared->kill_at_ms, kill_at_ms);
}

uint64_t guard_kill_at(const struct guard *guard) {
	return guard->shared != NULL ? atomic_load(&guard->shared->kill_at_ms) : 0;
}

bool guard_claim_term(struct guard *guard) {
	return guard->shared == NULL || atomic_exchange(&guard->shared->term_sent, 1) == 0;
}
