/* The guard process (see guard.h): leader of the command's group, which it kills when rwith
 * dies; made with clone(CLONE_VM) and raw system calls where it can be, fork() elsewhere. */
#define _GNU_SOURCE /* clone(), MAP_STACK */
#include "guard.h"

#include "compiler.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436 /* the same number on every architecture (Linux 5.9) */
#endif

#define GUARD_STACK_SIZE (64 * 1024)
#define GUARD_FALLBACK_FDS 1024 /* closed one by one when close_range is missing */


#if defined(__x86_64__)
#define GUARD_SHARES_MEMORY 1
RW_NO_SANITIZE static inline __attribute__((always_inline)) long sys4(long number, long a, long b, long c,
	long d) {
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
RW_NO_SANITIZE static inline __attribute__((always_inline)) long sys4(long number, long a, long b, long c,
	long d) {
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

/* The guard's whole life. `arg` carries rwith's pid (by value: nothing of rwith's is read).
 * Every signal is blocked, glibc's internal ones too, so no handler of rwith's can run here;
 * descriptors are closed so that the guard holds no connection or pipe of rwith's open. It
 * wakes for every signal and checks whether rwith is still its parent; when rwith is gone
 * (PR_SET_PDEATHSIG wakes it), it SIGKILLs its group, itself included. */
RW_NO_SANITIZE __attribute__((noinline)) static int guard_main(void *arg) {
	long parent = (long)(intptr_t)arg;
	uint64_t all = ~(uint64_t)0; /* the kernel's signal set: 64 bits on Linux */
	(void)sys4(SYS_rt_sigprocmask, SIG_BLOCK, (long)&all, 0, sizeof(all));
	(void)sys4(SYS_setpgid, 0, 0, 0, 0);
	(void)sys4(SYS_prctl, PR_SET_PDEATHSIG, SIGTERM, 0, 0);
	if (sys4(SYS_close_range, 0, ~0U, 0, 0) < 0) {
		for (long fd = 0; fd < GUARD_FALLBACK_FDS; fd++) {
			(void)sys4(SYS_close, fd, 0, 0, 0);
		}
	}
	/* The parent may have died before the prctl took effect: hence the check first. */
	while (sys4(SYS_getppid, 0, 0, 0, 0) == parent) {
		(void)sys4(SYS_rt_sigtimedwait, (long)&all, 0, 0, sizeof(all));
	}
	(void)sys4(SYS_kill, 0, SIGKILL, 0, 0);
	(void)sys4(SYS_exit_group, 1, 0, 0, 0);
	return 1;
}

int guard_start(struct guard *guard) {
	guard->parent = getpid();
	void *arg = (void *)(intptr_t)guard->parent;
	pid_t pid;
#if GUARD_SHARES_MEMORY
	void *stack = mmap(NULL, GUARD_STACK_SIZE, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		return -1;
	}
	/* Not CLONE_FILES or CLONE_SIGHAND: descriptors and dispositions are the guard's own
	 * copies; SIGCHLD: rwith reaps it like any child. */
	pid = clone(guard_main, (char *)stack + GUARD_STACK_SIZE, CLONE_VM | SIGCHLD, arg);
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
		_exit(guard_main(arg));
	}
	if (pid < 0) {
		return -1;
	}
#endif
	(void)setpgid(pid, pid); /* also done by the guard; whoever runs first wins */
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
