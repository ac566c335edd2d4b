/* Spawning and supervising the command: process group, guard, terminal, exit status. */
#define _GNU_SOURCE /* clone(), execvpe(), MAP_STACK; see below for other Linux-only calls */
#include "child.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "clock.h"
#include "compiler.h"
#include "guard.h"
#include "log.h"
#include "sigwatch.h"

extern char **environ;

#define SPAWN_STACK_SIZE (64 * 1024)
#define GUARD_RESTARTS_MAX 8
#define OWNER_POLL_MS 100

struct child {
	uv_loop_t *loop;
	struct sigwatch sigchld;
	struct guard guard; /* pid 0 once reaped */
	unsigned guard_restarts;
	pid_t command_pid; /* 0 once reaped */
	pid_t group;       /* the guard's pid: the command's process group */
	int tty_fd;        /* the terminal rwith had in the foreground, or -1 */
	child_exit_cb *on_exit;
	child_resumed_cb *on_resumed;
	void *data;
	/* child_adopt: a process rwith did not start (a hold's owner); no guard, no group */
	bool adopted;
	int owner_fd;           /* its pidfd, or -1: then watched by polling */
	uv_poll_t owner_poll;   /* readable when it exits */
	uv_timer_t owner_timer; /* without a pidfd: looks every OWNER_POLL_MS */
	uv_handle_t *owner_watch; /* whichever of the two runs, or NULL */
};

const int child_touched_signals[] = {
	SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD, SIGPIPE,
};
const int child_touched_signal_count = (int)RW_ARRAY_SIZE(child_touched_signals);

void child_capture_startup(struct child_startup *ret) {
	memset(ret, 0, sizeof(*ret));
	for (int i = 0; i < child_touched_signal_count; i++) {
		int sig = child_touched_signals[i];
		struct sigaction current;
		if (sigaction(sig, NULL, &current) == 0) {
			ret->ignored[sig] = current.sa_handler == SIG_IGN;
		}
	}
	(void)sigprocmask(SIG_SETMASK, NULL, &ret->mask);
}

int child_exit_status(int wait_status) {
	if (WIFSIGNALED(wait_status)) {
		return 128 + WTERMSIG(wait_status);
	}
	return WEXITSTATUS(wait_status);
}

/* One of stdin, stdout, stderr that is a terminal whose foreground group is rwith's. */
static int find_own_tty(void) {
	for (int fd = 0; fd <= 2; fd++) {
		if (isatty(fd) && tcgetpgrp(fd) == getpgrp()) {
			return fd;
		}
	}
	return -1;
}

/* The terminal to hand to the command: rwith's own, if rwith was started as a foreground
 * job. Not at first for an asynchronous job of a shell without job control (`rwith ... &`
 * in a script): it shares the script's group, which keeps the terminal, and gets SIGINT
 * and SIGQUIT ignored and stdin from /dev/null. Taking the terminal from the script would
 * leave Ctrl-C to reach only a command that ignores it; the command gets the terminal
 * only if it turns out to need it (see on_tty_stop). */
static int find_foreground_tty(const struct child_startup *startup) {
	if (startup->ignored[SIGINT] && startup->ignored[SIGQUIT] && !isatty(STDIN_FILENO)) {
		return -1;
	}
	return find_own_tty();
}

/* Whether `entry` sets `name` (given with its '='). */
static bool sets(const char *entry, const char *name) {
	return strncmp(entry, name, strlen(name)) == 0;
}

/* environ without RWITH_LOCK, RWITH_FENCE and RWITH_HOLD, plus ours. The strings are
 * borrowed except the ones we add, which are stored behind the array's terminating NULL
 * for freeing (a NULL there ends them). */
static char **build_environment(const struct child_spec *spec) {
	size_t count = 0;
	bool with_hold = spec->hold_value != NULL && spec->hold_value[0] != '\0';
	for (char **e = environ; *e; e++) {
		count++;
	}
	char **env = calloc(count + 8, sizeof(*env));
	if (env == NULL) {
		return NULL;
	}
	size_t n = 0;
	for (char **e = environ; *e; e++) {
		if (!sets(*e, "RWITH_LOCK=") && !sets(*e, "RWITH_FENCE=") &&
			!(with_hold && sets(*e, "RWITH_HOLD="))) {
			env[n++] = *e;
		}
	}
	size_t lock_len = strlen(spec->lock_name) + sizeof("RWITH_LOCK=");
	size_t hold_len = with_hold ? strlen(spec->hold_value) + sizeof("RWITH_HOLD=") : 0;
	char *lock = malloc(lock_len);
	char *fence = malloc(48);
	char *hold = with_hold ? malloc(hold_len) : NULL;
	if (lock == NULL || fence == NULL || (with_hold && hold == NULL)) {
		free(lock);
		free(fence);
		free(hold);
		free(env);
		return NULL;
	}
	(void)snprintf(lock, lock_len, "RWITH_LOCK=%s", spec->lock_name);
	(void)snprintf(fence, 48, "RWITH_FENCE=%" PRIu64, spec->fence);
	env[n++] = lock;
	env[n++] = fence;
	if (hold != NULL) {
		(void)snprintf(hold, hold_len, "RWITH_HOLD=%s", spec->hold_value);
		env[n++] = hold;
	}
	env[n + 1] = lock; /* env[n] is the terminator */
	env[n + 2] = fence;
	env[n + 3] = hold;
	return env;
}

static void free_environment(char **env) {
	if (env == NULL) {
		return;
	}
	size_t n = 0;
	while (env[n]) {
		n++;
	}
	for (size_t i = n + 1; env[i] != NULL; i++) {
		free(env[i]);
	}
	free(env);
}

/* What the command's process needs between clone and exec, and what it reports. */
struct spawn_args {
	const struct child_spec *spec;
	char **env;
	pid_t group;
	volatile int exec_errno; /* written by the child when exec fails */
};

/* The command's process until exec. It shares rwith's memory and rwith waits meanwhile
 * (CLONE_VFORK), so it only changes its own process state: its group, the dispositions rwith
 * changed (back to what rwith found at startup, so an ignored signal stays ignored, and no
 * handler of rwith's can run here once signals are unblocked), the mask, then exec; execvpe
 * searches $PATH and runs a file without "#!" with /bin/sh, as execvp always did. */
RW_NO_SANITIZE static int command_main(void *data) {
	struct spawn_args *args = data;
	const struct child_spec *spec = args->spec;
	(void)setpgid(0, args->group);
	for (int i = 0; i < child_touched_signal_count; i++) {
		int sig = child_touched_signals[i];
		(void)signal(sig, spec->startup->ignored[sig] ? SIG_IGN : SIG_DFL);
	}
	(void)sigprocmask(SIG_SETMASK, &spec->startup->mask, NULL);
	if (spec->shell_command != NULL) {
		char *const sh_argv[] = {"sh", "-c", (char *)spec->shell_command, NULL};
		execve("/bin/sh", sh_argv, args->env);
	} else {
		execvpe(spec->argv[0], spec->argv, args->env);
	}
	args->exec_errno = errno;
	_exit(127);
}

/* Starts the command in the guard's group the way posix_spawn does: a process that shares
 * rwith's memory on a stack of its own, with rwith suspended until it has exec'd, so there
 * is no copy of rwith's address space to make (fork's cost). Returns 0, the exec errno
 * (> 0), or -1 with err set when the process could not be made. */
static int spawn_command(struct child *child, const struct child_spec *spec, char **env,
	struct rw_error *err) {
	size_t argc = 0;
	while (spec->argv != NULL && spec->argv[argc] != NULL) {
		argc++;
	}
	/* Room for execvp's own use: a path buffer, and a new argv for a script without "#!". */
	size_t stack_size = SPAWN_STACK_SIZE + (argc + 4) * sizeof(char *);
	void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		return error_set(err, RW_ERROR_INTERNAL, "cannot start the command: %s",
			strerror(errno));
	}
	struct spawn_args args = {.spec = spec, .env = env, .group = child->group};
	pid_t pid = clone(command_main, (char *)stack + stack_size,
		CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
	int code = errno;
	(void)munmap(stack, stack_size);
	if (pid < 0) {
		return error_set(err, RW_ERROR_INTERNAL, "cannot start the command: %s",
			strerror(code));
	}
	(void)setpgid(pid, child->group); /* also done by the command; whoever runs first wins */
	if (args.exec_errno != 0) {
		(void)waitpid(pid, NULL, 0);
		return args.exec_errno;
	}
	child->command_pid = pid;
	return 0;
}

/* Gives the terminal back to rwith's group, if the command's group has it: when the user
 * has meanwhile moved rwith to the background, the shell owns the terminal and keeps it. */
static void take_terminal_back(struct child *child) {
	if (child->tty_fd < 0 || tcgetpgrp(child->tty_fd) != child->group) {
		return;
	}
	sigset_t ttou, old;
	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	(void)sigprocmask(SIG_BLOCK, &ttou, &old);
	/* Fails only if the terminal is gone, and then there is nothing to give back. */
	(void)tcsetpgrp(child->tty_fd, getpgrp());
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Job control: the command stopped at the terminal (Ctrl-Z, or reading it from the
 * background). Stop rwith too, so the shell sees its job stopped; when the shell continues
 * us, the owner decides whether the command may go on. */
static void mirror_stop(struct child *child, int sig) {
	take_terminal_back(child);
	/* Stop with the command's own signal, so the shell reports "Stopped" as usual;
	 * SIGSTOP if rwith does not have the default action for it. */
	struct sigaction current;
	if (sigaction(sig, NULL, &current) < 0 || current.sa_handler != SIG_DFL) {
		sig = SIGSTOP;
	}
	(void)raise(sig);
	if (child->on_resumed != NULL) {
		child->on_resumed(child, child->data);
	} else {
		child_continue(child);
	}
}

static bool any_tty(void) {
	return isatty(STDIN_FILENO) || isatty(STDOUT_FILENO) || isatty(STDERR_FILENO);
}

/* The command stopped: Ctrl-Z, or using the terminal from a process group that is not in
 * the foreground (SIGTTIN, SIGTTOU). A command that has the terminal, or that uses it
 * while rwith itself is in the foreground without having handed it over (the script case
 * of find_foreground_tty), gets it and goes on. Otherwise rwith stops too, as a job of
 * the shell, until `fg` or `bg`. Without any terminal (systemd, cron) nobody could
 * continue a stopped rwith, so a stop there is left alone, as without rwith. */
static void on_command_stop(struct child *child, int sig) {
	if (sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU) {
		return;
	}
	if (child->tty_fd < 0 && sig != SIGTSTP) {
		child->tty_fd = find_own_tty();
		if (child->tty_fd >= 0) {
			child_continue(child); /* hands over the terminal, then SIGCONT */
			return;
		}
	}
	if (child->tty_fd >= 0 || any_tty()) {
		mirror_stop(child, sig);
	}
}

/* The guard died while the command runs: a stray kill, since rwith only kills it once the
 * command has exited. The command must not run on unguarded: a new guard joins its group
 * (which lives on as long as the command does) with the same deadline. Not after the kill
 * time, when the guard itself ended the group, and only a few times per run. */
static void replace_guard(struct child *child, int status) {
	uint64_t kill_at = guard_kill_at(&child->guard);
	if (child->command_pid <= 0 || (kill_at != 0 && clock_mono_ms() >= kill_at) ||
		child->guard_restarts >= GUARD_RESTARTS_MAX ||
		getpgid(child->command_pid) != child->group) {
		return; /* nothing to guard, or the command left the group (setsid) */
	}
	child->guard_restarts++;
	int rc = guard_start(&child->guard, child->group);
	int code = errno;
	char how[64];
	(void)snprintf(how, sizeof(how), WIFSIGNALED(status) ? "was killed by signal %d" :
		"exited with status %d", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	if (rc < 0) {
		log_msg(LOG_WARN, "the guard process %s, and no new one could be started (%s): the "
			"command now dies with rwith only if rwith can act", how, strerror(code));
	} else {
		log_msg(LOG_WARN, "the guard process %s; a new one (%d) guards the command", how,
			(int)child->guard.pid);
	}
}

/* Reaps every child that changed state: the guard, the command, and orphans of the
 * command's tree, which are ours because rwith is a child subreaper (see child_spawn). */
static void reap(struct child *child) {
	int status;
	int flags = WNOHANG | WUNTRACED;
	pid_t pid;
	while ((pid = waitpid(-1, &status, flags)) > 0) {
		if (pid == child->guard.pid) {
			if (!WIFSTOPPED(status)) {
				guard_reaped(&child->guard);
				replace_guard(child, status);
			}
			continue;
		}
		if (pid != child->command_pid) {
			continue; /* an orphan: reaped so it no longer counts as alive */
		}
		if (WIFSTOPPED(status)) {
			on_command_stop(child, WSTOPSIG(status));
			continue;
		}
		child->command_pid = 0;
		take_terminal_back(child);
		child->on_exit(child, status, child->data);
		/* The guard's work is done; it dies while the owner waits for the release's
		 * answer, not before the release leaves: woken by SIGKILL, the dying guard would
		 * take rwith's CPU first. It is reaped in child_destroy or child_group_alive. If
		 * the owner destroyed child in on_exit, the guard is already reaped (pid 0) and
		 * child is still readable: it is freed only when the loop closes this SIGCHLD
		 * watch (close_child). */
		if (child->guard.pid > 0) {
			(void)kill(child->guard.pid, SIGKILL);
		}
		return;
	}
}

static void on_sigchld(struct sigwatch *watch, int sig, void *data) {
	reap(data);
}

/* Ends a guard process, if one runs, and reaps it. */
static void kill_guard(struct guard *guard) {
	if (guard->pid > 0) {
		(void)kill(guard->pid, SIGKILL);
		/* Cannot block for long: SIGKILL cannot be caught. */
		(void)waitpid(guard->pid, NULL, 0);
		guard_reaped(guard);
	}
}

static void on_closed(uv_handle_t *handle) {
	struct sigwatch *watch = handle->data;
	free(watch->data); /* the child, which holds the watch */
}

/* Frees the child once the loop is done with its SIGCHLD watch. The guard is reaped. */
static void close_child(struct child *child) {
	guard_finish(&child->guard);
	if (child->sigchld.fd >= 0) {
		sigwatch_close(&child->sigchld, on_closed);
	} else {
		free(child);
	}
}

/* Starts the command in the guard's group (a new guard first if the one made in advance is
 * gone), with every signal blocked meanwhile (the command gets the startup mask). Returns the command's exec errno, 0 on success, or -1 with err set when
 * either could not be started. */
static int start_both(struct child *child, const struct child_spec *spec, char **env,
	struct rw_error *err) {
	sigset_t all, old;
	sigfillset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, &old);
	int code = 0;
	if (child->guard.pid == 0 && guard_start(&child->guard, 0) < 0) {
		code = -1;
		error_set(err, RW_ERROR_INTERNAL, "cannot start a process: %s", strerror(errno));
	} else {
		child->group = child->guard.pid;
		if (child->tty_fd >= 0) {
			/* Before the command exists, so it never runs without the terminal it may
			 * read at once; SIGTTOU is blocked, so a background rwith may do this. */
			(void)tcsetpgrp(child->tty_fd, child->group);
		}
		code = spawn_command(child, spec, env, err);
	}
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	return code;
}

static void fail_exec(struct child *child, const struct child_spec *spec, int code,
	struct rw_error *err) {
	const char *what = spec->shell_command ? "/bin/sh" : spec->argv[0];
	kill_guard(&child->guard); /* the command that could not exec was reaped */
	take_terminal_back(child);
	if (code == ENOENT || code == ENOTDIR) {
		error_set(err, RW_ERROR_NOT_FOUND, "cannot run '%s': %s", what, strerror(code));
		err->hint = "check the command's name and $PATH";
	} else {
		error_set(err, RW_ERROR_EXEC, "cannot execute '%s': %s", what, strerror(code));
		err->hint = "check that the command is an executable file";
	}
}

static struct guard spare = {0}; /* pid 0: none */

void child_spare_start(void) {
	/* A SIGCHLD ignored at start-up would let the kernel reap the guard unseen. */
	(void)signal(SIGCHLD, SIG_DFL);
	if (guard_init(&spare) < 0) {
		return;
	}
	if (guard_start(&spare, 0) < 0) {
		guard_finish(&spare);
	}
}

void child_spare_drop(void) {
	kill_guard(&spare);
	guard_finish(&spare);
}

/* Hands the spare guard to `child`, if one runs still; it may have died before the SIGCHLD
 * watch existed (a stray kill), which the watch would never report: it is reaped here. */
static bool take_spare(struct child *child) {
	if (spare.pid <= 0) {
		return false;
	}
	if (waitpid(spare.pid, NULL, WNOHANG) != 0) {
		guard_reaped(&spare);
		guard_finish(&spare);
		return false;
	}
	child->guard = spare;
	memset(&spare, 0, sizeof(spare));
	return true;
}

struct child *child_prepare(uv_loop_t *loop, struct rw_error *err) {
	struct child *child = calloc(1, sizeof(*child));
	if (child == NULL) {
		error_set(err, RW_ERROR_INTERNAL, "out of memory");
		return NULL;
	}
	child->loop = loop;
	child->tty_fd = -1;
	/* Orphans of the command's tree come to us rather than to init, so we reap them: a
	 * zombie would otherwise count as a live member of the group after a lost lock, in
	 * containers whose init does not reap. Linux-only, and harmless if it fails. */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	/* Watch SIGCHLD before starting anything, so that an exit at once is not missed; an
	 * ignored SIGCHLD would let the kernel reap our children before we could. */
	(void)signal(SIGCHLD, SIG_DFL);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	int rc = sigwatch_start(&child->sigchld, loop, &chld, on_sigchld, child);
	if (rc < 0) {
		error_set(err, RW_ERROR_INTERNAL, "cannot watch SIGCHLD: %s", uv_strerror(rc));
	} else if (take_spare(child)) {
		child->group = child->guard.pid;
		return child;
	} else if (guard_init(&child->guard) < 0) {
		error_set(err, RW_ERROR_INTERNAL, "cannot map memory for the guard: %s",
			strerror(errno));
	} else if (guard_start(&child->guard, 0) < 0) {
		error_set(err, RW_ERROR_INTERNAL, "cannot start a process: %s", strerror(errno));
	} else {
		child->group = child->guard.pid;
		return child;
	}
	close_child(child);
	return NULL;
}

int child_start(struct child *child, const struct child_spec *spec, struct rw_error *err) {
	char **env = build_environment(spec);
	if (env == NULL) {
		error_set(err, RW_ERROR_INTERNAL, "out of memory");
		child_destroy(child);
		return -1;
	}
	child->on_exit = spec->on_exit;
	child->on_resumed = spec->on_resumed;
	child->data = spec->data;
	child->tty_fd = find_foreground_tty(spec->startup);
	guard_set_deadline(&child->guard, spec->term_at_ms, spec->kill_at_ms);
	int code = start_both(child, spec, env, err);
	free_environment(env);
	if (code > 0) {
		fail_exec(child, spec, code, err);
	}
	if (code != 0) {
		kill_guard(&child->guard);
		close_child(child);
		return -1;
	}
	return 0;
}

struct child *child_spawn(uv_loop_t *loop, const struct child_spec *spec, struct rw_error *err) {
	struct child *child = child_prepare(loop, err);
	if (child == NULL || child_start(child, spec, err) < 0) {
		return NULL;
	}
	return child;
}

/* ---- an adopted process: the owner of a hold ------------------------------------------ */

/* pidfd_open and pidfd_send_signal by number: glibc 2.36 has no wrappers for both. */
static int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

int child_open_process(pid_t pid) {
	int fd = open_pidfd(pid);
	if (fd >= 0 || errno != ENOSYS) {
		return fd;
	}
	return kill(pid, 0) == 0 || errno == EPERM ? CHILD_NO_PIDFD : -1;
}

/* Through the pidfd, so that a pid reused after the owner's end is never signalled. */
static void signal_owner(struct child *child, int sig) {
#ifdef SYS_pidfd_send_signal
	if (child->owner_fd >= 0) {
		(void)syscall(SYS_pidfd_send_signal, child->owner_fd, sig, NULL, 0);
		return;
	}
#endif
	if (child->command_pid > 0) {
		(void)kill(child->command_pid, sig);
	}
}

static void owner_closed(uv_handle_t *handle) {
	struct child *child = handle->data;
	if (child->owner_fd >= 0) {
		(void)close(child->owner_fd);
	}
	free(child);
}

static void close_owner(struct child *child) {
	if (child->owner_watch == NULL) {
		owner_closed((uv_handle_t *)&child->owner_timer);
	} else if (!uv_is_closing(child->owner_watch)) {
		uv_close(child->owner_watch, owner_closed);
	}
}

/* The owner is gone (or a release ends the hold): reported once, as an exit with status 0,
 * since the wait status of a process that is not ours cannot be known. */
static void owner_ended(struct child *child) {
	if (child->command_pid == 0) {
		return;
	}
	child->command_pid = 0;
	if (uv_is_active(child->owner_watch)) {
		if (child->owner_watch == (uv_handle_t *)&child->owner_poll) {
			(void)uv_poll_stop(&child->owner_poll);
		} else {
			(void)uv_timer_stop(&child->owner_timer);
		}
	}
	child->on_exit(child, 0, child->data);
}

static void on_owner_readable(uv_poll_t *poll, int status, int events) {
	owner_ended(poll->data);
}

static void on_owner_timer(uv_timer_t *timer) {
	struct child *child = timer->data;
	if (kill(child->command_pid, 0) < 0 && errno == ESRCH) {
		owner_ended(child);
	}
}

struct child *child_adopt(uv_loop_t *loop, pid_t pid, int pidfd, const struct child_spec *spec,
	struct rw_error *err) {
	struct child *child = calloc(1, sizeof(*child));
	if (child == NULL) {
		error_set(err, RW_ERROR_INTERNAL, "out of memory");
		return NULL;
	}
	child->loop = loop;
	child->adopted = true;
	child->tty_fd = -1;
	child->sigchld.fd = -1;
	child->command_pid = pid;
	child->owner_fd = pidfd;
	child->on_exit = spec->on_exit;
	child->on_resumed = spec->on_resumed;
	child->data = spec->data;
	child->owner_poll.data = child;
	child->owner_timer.data = child;
	int rc;
	if (pidfd >= 0) {
		rc = uv_poll_init(loop, &child->owner_poll, pidfd);
		child->owner_watch = rc < 0 ? NULL : (uv_handle_t *)&child->owner_poll;
		rc = rc < 0 ? rc : uv_poll_start(&child->owner_poll, UV_READABLE, on_owner_readable);
	} else {
		rc = uv_timer_init(loop, &child->owner_timer);
		child->owner_watch = rc < 0 ? NULL : (uv_handle_t *)&child->owner_timer;
		rc = rc < 0 ? rc : uv_timer_start(&child->owner_timer, on_owner_timer, OWNER_POLL_MS,
			OWNER_POLL_MS);
	}
	if (rc < 0) {
		error_set(err, RW_ERROR_INTERNAL, "cannot watch process %ld: %s", (long)pid,
			uv_strerror(rc));
		close_owner(child); /* closes the pidfd too */
		return NULL;
	}
	return child;
}

void child_end(struct child *child) {
	if (child->adopted) {
		owner_ended(child);
	}
}

void child_forward_signal(struct child *child, int sig) {
	if (child->adopted) {
		signal_owner(child, sig);
	} else if (child->group > 0) {
		/* ESRCH: the group is already gone, which is fine. */
		(void)kill(-child->group, sig);
	}
}

void child_terminate(struct child *child, int sig) {
	if (sig == SIGTERM && !guard_claim_term(&child->guard)) {
		return; /* the guard sent it at the deadline */
	}
	child_forward_signal(child, sig);
	child_forward_signal(child, SIGCONT);
}

void child_set_deadline(struct child *child, uint64_t term_at_ms, uint64_t kill_at_ms) {
	guard_set_deadline(&child->guard, term_at_ms, kill_at_ms);
}

void child_continue(struct child *child) {
	if (child->adopted) {
		return; /* never stopped by rwith */
	}
	if (child->tty_fd >= 0 && tcgetpgrp(child->tty_fd) == getpgrp()) {
		sigset_t ttou, old;
		sigemptyset(&ttou);
		sigaddset(&ttou, SIGTTOU);
		(void)sigprocmask(SIG_BLOCK, &ttou, &old);
		(void)tcsetpgrp(child->tty_fd, child->group);
		(void)sigprocmask(SIG_SETMASK, &old, NULL);
	}
	child_forward_signal(child, SIGCONT);
}

bool child_guard_terminated(const struct child *child) {
	return guard_sent_term(&child->guard);
}

bool child_group_alive(struct child *child) {
	if (child->adopted) {
		return false; /* its group is not ours to wait for */
	}
	kill_guard(&child->guard);
	return child->group > 0 && (kill(-child->group, 0) == 0 || errno == EPERM);
}

void child_destroy(struct child *child) {
	if (child == NULL) {
		return;
	}
	if (child->adopted) {
		close_owner(child);
		return;
	}
	kill_guard(&child->guard);
	if (child->command_pid > 0) {
		/* Only reached on an internal error: do not leave the command behind. */
		(void)kill(-child->group, SIGKILL);
		(void)waitpid(child->command_pid, NULL, 0);
		child->command_pid = 0;
	}
	take_terminal_back(child);
	close_child(child);
}
