/* --hold: rwith, which waits for its keeper and prints the shell assignments, and the
 * keeper, which holds the lock for the process the hold belongs to (see hold.h). */
#define _GNU_SOURCE /* accept4, SO_PEERCRED, F_DUPFD_CLOEXEC, dup3 */
#include "hold.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exit_codes.h"
#include "holdenv.h"
#include "log.h"
#include "reenter.h"

#ifndef SYS_close_range
#define SYS_close_range 436 /* the same number on every architecture (Linux 5.9) */
#endif

#define CLIENT_REQUEST_MS 2000u /* a --release says what it wants within this */
#define OWNER_POLL_MS 100       /* without a pidfd, rwith looks for the owner this often */
#define FALLBACK_FDS 1024       /* closed one by one when close_range is missing */
#define KEEPER_FD_HANDOFF 3
#define KEEPER_FD_OWNER 4

socklen_t hold_keeper_address(const char *token, struct sockaddr_un *ret) {
	memset(ret, 0, sizeof(*ret));
	ret->sun_family = AF_UNIX;
	int n = snprintf(ret->sun_path + 1, sizeof(ret->sun_path) - 1, "rwith/hold/%s", token);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* The signals that end a wait for the lock (CONTRACT.md, Waiting): rwith passes them on to
 * the keeper, which is the one waiting. */
static bool ends_a_wait(int sig) {
	return sig != SIGCHLD && sig != SIGPIPE && sig != SIGWINCH;
}

/* ---- the owner ------------------------------------------------------------------------ */

/* The owner's command line ("bash ./nightly.sh"), the hold's default task. */
static void owner_task(pid_t owner, char *buf, size_t size) {
	char path[64];
	(void)snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)owner);
	FILE *file = fopen(path, "re");
	size_t len = 0;
	if (file != NULL) {
		len = fread(buf, 1, size - 1, file);
		(void)fclose(file);
	}
	while (len > 0 && buf[len - 1] == '\0') {
		len--;
	}
	for (size_t i = 0; i < len; i++) {
		buf[i] = buf[i] == '\0' ? ' ' : buf[i];
	}
	buf[len] = '\0';
	if (len == 0) {
		(void)snprintf(buf, size, "hold for process %ld", (long)owner);
	}
}

/* True when rwith's parent writes into rwith's own stdout pipe: then it is the subshell of
 * the command substitution `$(...)`, which exits as soon as rwith has printed, and not the
 * shell that will run the commands under the hold. */
static bool parent_is_substitution(pid_t parent) {
	struct stat ours, theirs;
	char path[64];
	(void)snprintf(path, sizeof(path), "/proc/%ld/fd/1", (long)parent);
	return fstat(STDOUT_FILENO, &ours) == 0 && S_ISFIFO(ours.st_mode) &&
		stat(path, &theirs) == 0 && ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino;
}

/* The process the hold belongs to, and a pidfd for it (CHILD_NO_PIDFD on old kernels). */
static int find_owner(const struct rw_options *opts, pid_t *ret_owner, int *ret_fd,
	struct rw_error *err) {
	if (opts->hold_pid > 0) {
		int fd = child_open_process((pid_t)opts->hold_pid);
		if (fd == -1) {
			return error_set(err, RW_ERROR_USAGE, "--pid %ld: %s", opts->hold_pid,
				errno == ESRCH ? "no such process" : strerror(errno));
		}
		*ret_owner = (pid_t)opts->hold_pid;
		*ret_fd = fd;
		return 0;
	}
	pid_t parent = getppid();
	if (parent == 1 || parent_is_substitution(parent)) {
		return error_set(err, RW_ERROR_USAGE, "--hold: rwith's parent (process %ld) is %s, "
			"which %s; give the shell's own process with --pid $$", (long)parent,
			parent == 1 ? "init" : "the subshell of the command substitution",
			parent == 1 ? "is not the shell" : "ends as soon as rwith does, and the lock with it");
	}
	int fd = child_open_process(parent);
	/* Still our parent after the pidfd was made: the pidfd names it, not a reused pid. */
	if (fd == -1 || getppid() != parent) {
		if (fd >= 0) {
			(void)close(fd);
		}
		return error_set(err, RW_ERROR_USAGE, "--hold: rwith's parent (process %ld) has "
			"ended; nothing to hold the lock for", (long)parent);
	}
	*ret_owner = parent;
	*ret_fd = fd;
	return 0;
}

/* ---- rwith: start the keeper and wait for it ------------------------------------------- */

static void print_assignments(const struct hold_keeper *keeper, uint64_t fence,
	const char *token) {
	char value[HOLDENV_VALUE_MAX];
	struct holdenv_entry entry;
	holdenv_entry_init(&entry, true, token, &keeper->opts, fence);
	if (holdenv_format(&entry, keeper->opts.hold_env, value, sizeof(value)) < 0) {
		value[0] = '\0';
	}
	fputs("RWITH_LOCK=", stdout);
	holdenv_print_quoted(stdout, keeper->opts.lock);
	printf("; RWITH_FENCE=%" PRIu64 "; RWITH_HOLD=", fence);
	holdenv_print_quoted(stdout, value);
	puts("; export RWITH_LOCK RWITH_FENCE RWITH_HOLD");
}

/* How rwith ends when the keeper ended before it handed on the hold: as the keeper did,
 * which said why on the stderr they share (also when it died of a signal rwith passed on
 * to it, after giving up the wait). A death by any other signal is news, and said. */
static void mirror_keeper_end(const struct hold_keeper *keeper, pid_t pid,
	struct session_outcome *ret) {
	int status;
	pid_t got;
	while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
	}
	if (got < 0) {
		error_set(&ret->err, RW_ERROR_INTERNAL, "cannot learn how the keeper of '%s' ended: %s",
			keeper->opts.lock, strerror(errno));
	} else if (WIFEXITED(status)) {
		ret->command_status = WEXITSTATUS(status); /* no message of rwith's own */
	} else if (WIFSIGNALED(status) && ends_a_wait(WTERMSIG(status))) {
		ret->command_status = EXIT_SIGNAL_BASE + WTERMSIG(status);
		ret->command_signal = WTERMSIG(status);
	} else {
		int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		error_set(&ret->err, RW_ERROR_INTERNAL, "the keeper process waiting for '%s' was "
			"killed by signal %d (%s); the lock is not held", keeper->opts.lock, sig,
			strsignal(sig));
	}
}

/* rwith's wait for the keeper's "FENCE TOKEN\n": passes its signals on, and stops the
 * keeper if the owner ends meanwhile. Returns 1 with the line, 0 when the keeper ended
 * without one. */
struct handoff_wait {
	int fd, sig_fd, owner_fd;
	pid_t keeper, owner;
	int stop_signal; /* what stops the keeper's wait (SIGTERM, unless it was ignored) */
};

static bool owner_gone(const struct handoff_wait *w, short owner_events) {
	return w->owner_fd >= 0 ? owner_events != 0 : (kill(w->owner, 0) < 0 && errno == ESRCH);
}

static int read_handoff(const struct handoff_wait *w, char *line, size_t size) {
	size_t used = 0;
	bool stopped = false;
	for (;;) {
		struct pollfd fds[3] = {{.fd = w->fd, .events = POLLIN},
			{.fd = w->sig_fd, .events = POLLIN}, {.fd = w->owner_fd, .events = POLLIN}};
		int rc = poll(fds, 3, w->owner_fd >= 0 ? -1 : OWNER_POLL_MS);
		if (rc < 0 && errno != EINTR) {
			return 0;
		}
		struct signalfd_siginfo info;
		if ((fds[1].revents & POLLIN) && read(w->sig_fd, &info, sizeof(info)) ==
			(ssize_t)sizeof(info)) {
			(void)kill(w->keeper, (int)info.ssi_signo);
		}
		if (!stopped && owner_gone(w, fds[2].revents)) {
			log_msg(LOG_WARN, "process %ld, which the hold was for, has ended; no longer "
				"waiting", (long)w->owner);
			(void)kill(w->keeper, w->stop_signal);
			stopped = true;
		}
		if (fds[0].revents == 0) {
			continue;
		}
		ssize_t n = read(w->fd, line + used, size - 1 - used);
		if (n <= 0) {
			return 0;
		}
		used += (size_t)n;
		line[used] = '\0';
		if (memchr(line, '\n', used) != NULL) {
			return 1;
		}
		if (used == size - 1) {
			return 0;
		}
	}
}

/* rwith's side: waits for the keeper, prints the assignments, and acknowledges them (the
 * keeper gives the lock back when rwith did not). */
static void await_keeper(struct hold_keeper *keeper, const struct handoff_wait *w,
	struct session_outcome *ret) {
	char line[128];
	uint64_t fence;
	char token[HOLDENV_TOKEN_LEN + 1];
	if (!read_handoff(w, line, sizeof(line)) ||
		sscanf(line, "%" SCNu64 " %32[0-9a-f]", &fence, token) != 2) {
		mirror_keeper_end(keeper, w->keeper, ret);
		return;
	}
	print_assignments(keeper, fence, token);
	if (fflush(stdout) != 0) {
		error_set(&ret->err, RW_ERROR_INTERNAL, "cannot write the hold of '%s' to stdout: %s; "
			"it was given back", keeper->opts.lock, strerror(errno));
		ret->err.hint = "check that rwith's stdout can be written";
		return;
	}
	if (write(w->fd, "y", 1) != 1) {
		error_set(&ret->err, RW_ERROR_LOST, "the hold of '%s' ended before rwith could hand it "
			"on: the lock was lost at once; nothing is held", keeper->opts.lock);
		return;
	}
	log_msg(LOG_INFO, "holding '%s' (fence %" PRIu64 ") for process %ld; the keeper is process "
		"%ld", keeper->opts.lock, fence, (long)keeper->owner, (long)w->keeper);
}

/* Blocks the signals rwith passes on (not the ones found ignored: nohup) and reads them
 * from a signalfd; -1, with them unblocked again, when there is none. The keeper inherits
 * the mask, and its session watches the same signals. */
static int watch_passed_signals(const struct child_startup *startup) {
	sigset_t set;
	sigemptyset(&set);
	for (int i = 0; i < child_touched_signal_count; i++) {
		int sig = child_touched_signals[i];
		if (ends_a_wait(sig) && !startup->ignored[sig]) {
			sigaddset(&set, sig);
		}
	}
	(void)sigprocmask(SIG_BLOCK, &set, NULL);
	int fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (fd < 0) {
		(void)sigprocmask(SIG_UNBLOCK, &set, NULL);
	}
	return fd;
}

/* Moves the descriptors the keeper keeps (the handoff socket, the owner's pidfd) to 3 and 4
 * and closes every other one it inherited beyond stdio (a script's `exec 9>file`, a CI
 * runner's pipes), which it would otherwise hold open for as long as it holds the lock. */
static void keep_own_fds(struct hold_keeper *keeper, int handoff) {
	int moved = fcntl(handoff, F_DUPFD_CLOEXEC, 10);
	int owner = keeper->owner_fd >= 0 ? fcntl(keeper->owner_fd, F_DUPFD_CLOEXEC, 10) :
		keeper->owner_fd;
	(void)dup3(moved, KEEPER_FD_HANDOFF, O_CLOEXEC);
	keeper->handoff.fd = KEEPER_FD_HANDOFF;
	int first_closed = KEEPER_FD_OWNER;
	if (owner >= 0) {
		(void)dup3(owner, KEEPER_FD_OWNER, O_CLOEXEC);
		keeper->owner_fd = KEEPER_FD_OWNER;
		first_closed = KEEPER_FD_OWNER + 1;
	}
	if (syscall(SYS_close_range, first_closed, ~0U, 0) < 0) {
		for (int fd = first_closed; fd < FALLBACK_FDS; fd++) {
			(void)close(fd);
		}
	}
}

enum hold_role hold_start(const struct rw_options *opts, struct hold_keeper *ret_keeper,
	const struct child_startup *startup, struct session_outcome *ret) {
	struct hold_keeper *keeper = ret_keeper;
	memset(keeper, 0, sizeof(*keeper));
	memset(ret, 0, sizeof(*ret));
	keeper->opts = *opts;
	keeper->handoff.fd = keeper->listener.fd = keeper->client.fd = -1;
	/* An ignored SIGCHLD would let the kernel reap the keeper before rwith learns how it
	 * ended. */
	(void)signal(SIGCHLD, SIG_DFL);
	if (find_owner(opts, &keeper->owner, &keeper->owner_fd, &ret->err) < 0) {
		return HOLD_ROLE_RWITH;
	}
	if (opts->task != NULL) {
		(void)snprintf(keeper->task, sizeof(keeper->task), "%s", opts->task);
	} else {
		owner_task(keeper->owner, keeper->task, sizeof(keeper->task));
	}
	keeper->opts.task = keeper->task;
	int pair[2];
	pid_t rwith = getpid();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
		error_set(&ret->err, RW_ERROR_INTERNAL, "cannot make a socket pair: %s", strerror(errno));
		return HOLD_ROLE_RWITH;
	}
	int sig_fd = watch_passed_signals(startup);
	pid_t pid = fork();
	if (pid < 0) {
		error_set(&ret->err, RW_ERROR_INTERNAL, "cannot start the keeper: %s", strerror(errno));
		return HOLD_ROLE_RWITH;
	}
	if (pid == 0) {
		/* While it waits, the keeper dies with rwith, whatever rwith's signals were (a
		 * SIGKILL cannot be ignored; its place in the queue expires within one TTL). */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != rwith) {
			_exit(EXIT_INTERNAL);
		}
		keep_own_fds(keeper, pair[1]);
		return HOLD_ROLE_KEEPER;
	}
	(void)close(pair[1]);
	struct handoff_wait wait = {
		.fd = pair[0], .sig_fd = sig_fd, .owner_fd = keeper->owner_fd, .keeper = pid,
		.owner = keeper->owner, .stop_signal = startup->ignored[SIGTERM] ? SIGKILL : SIGTERM,
	};
	await_keeper(keeper, &wait, ret);
	(void)close(pair[0]);
	return HOLD_ROLE_RWITH;
}

/* ---- the keeper ---------------------------------------------------------------------- */

static void on_fd_closed(uv_handle_t *handle) {
	struct hold_fd *watch = (struct hold_fd *)handle;
	(void)close(watch->fd);
	watch->fd = -1;
	watch->watched = false;
}

/* Watches fd (taken over: closed on failure) for reading. */
static int watch_fd(uv_loop_t *loop, struct hold_fd *watch, int fd, uv_poll_cb cb, void *data) {
	watch->fd = fd;
	int rc = uv_poll_init(loop, &watch->poll, fd);
	if (rc < 0) {
		(void)close(fd);
		watch->fd = -1;
		return rc;
	}
	watch->watched = true;
	watch->poll.data = data;
	return uv_poll_start(&watch->poll, UV_READABLE, cb);
}

/* Closes the handle, then the descriptor. Does nothing to a watch that is not open. */
static void unwatch_fd(struct hold_fd *watch) {
	if (watch->watched && !uv_is_closing((uv_handle_t *)&watch->poll)) {
		uv_close((uv_handle_t *)&watch->poll, on_fd_closed);
	}
}

static void answer_client(struct hold_keeper *keeper, const char *answer) {
	if (keeper->client.watched && !uv_is_closing((uv_handle_t *)&keeper->client.poll)) {
		/* A few bytes into an empty socket buffer: never blocks. */
		(void)!write(keeper->client.fd, answer, strlen(answer));
		(void)uv_timer_stop(&keeper->client_timer);
		unwatch_fd(&keeper->client);
	}
}

static void on_client_timer(uv_timer_t *timer) {
	answer_client(timer->data, "?\n");
}

static void on_client_readable(uv_poll_t *poll, int status, int events) {
	struct hold_keeper *keeper = poll->data;
	char request[16];
	ssize_t n = read(keeper->client.fd, request, sizeof(request) - 1);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	if (n <= 0 || (size_t)n != strlen("release\n") || memcmp(request, "release\n", (size_t)n) != 0) {
		answer_client(keeper, "?\n");
		return;
	}
	(void)uv_poll_stop(poll);
	(void)uv_timer_stop(&keeper->client_timer);
	if (keeper->hold.lost || keeper->hold.child == NULL) {
		/* The owner was sent SIGTERM: it may be its trap asking. The keeper stays until the
		 * owner ends, to send SIGKILL if it does not. */
		answer_client(keeper, "lost\n");
		return;
	}
	log_msg(LOG_INFO, "releasing '%s' as asked", keeper->opts.lock);
	child_end(keeper->hold.child); /* answered once released (keeper_finished) */
}

/* Only the user who took the hold (or root) may end it. */
static bool peer_allowed(int fd) {
	struct ucred cred;
	socklen_t len = sizeof(cred);
	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
		(cred.uid == getuid() || cred.uid == 0);
}

static void on_listener_readable(uv_poll_t *poll, int status, int events) {
	struct hold_keeper *keeper = poll->data;
	int fd = accept4(keeper->listener.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		return;
	}
	if (!peer_allowed(fd)) {
		(void)close(fd);
		return;
	}
	if (keeper->client.fd >= 0) {
		/* One release at a time; a client that asks nothing is dropped in time. */
		(void)!write(fd, "busy\n", 5);
		(void)close(fd);
		return;
	}
	if (watch_fd(poll->loop, &keeper->client, fd, on_client_readable, keeper) < 0) {
		return;
	}
	(void)uv_timer_start(&keeper->client_timer, on_client_timer, CLIENT_REQUEST_MS, 0);
}

static int listen_for_release(struct hold_keeper *keeper, const char *token,
	struct rw_error *err) {
	struct sockaddr_un address;
	socklen_t len = hold_keeper_address(token, &address);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&address, len) < 0 || listen(fd, 4) < 0) {
		error_set(err, RW_ERROR_INTERNAL, "cannot listen for --release: %s", strerror(errno));
		if (fd >= 0) {
			(void)close(fd);
		}
		return -1;
	}
	if (watch_fd(keeper->loop, &keeper->listener, fd, on_listener_readable, keeper) < 0) {
		return error_set(err, RW_ERROR_INTERNAL, "cannot watch the --release socket");
	}
	return 0;
}

/* Leaves the terminal's session and the shell's job control, lets go of the script's
 * directory, and closes stdio: from now on the keeper says nothing (a $(...) would
 * otherwise wait for its stdout to close). */
static void detach(void) {
	(void)setsid();
	if (chdir("/") < 0) {
		log_msg(LOG_DEBUG, "cannot change to /: %s", strerror(errno));
	}
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int fd = 0; fd <= 2; fd++) {
		if (null_fd < 0 || dup2(null_fd, fd) < 0) {
			(void)close(fd);
		}
	}
	if (null_fd > 2) {
		(void)close(null_fd);
	}
}

/* rwith's acknowledgement: 'y' once it has printed the assignments. Anything else (rwith
 * ended, or could not print them) gives the hold back. */
static void on_handoff_readable(uv_poll_t *poll, int status, int events) {
	struct hold_keeper *keeper = poll->data;
	char ack = 0;
	ssize_t n = read(keeper->handoff.fd, &ack, 1);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	unwatch_fd(&keeper->handoff);
	if ((n != 1 || ack != 'y') && keeper->hold.child != NULL) {
		child_end(keeper->hold.child);
	}
}

static int keeper_granted(struct session_hold *hold, uint64_t fence, const char *token,
	struct rw_error *err) {
	struct hold_keeper *keeper = hold->data;
	char line[128];
	if (listen_for_release(keeper, token, err) < 0) {
		return -1;
	}
	/* From here the hold no longer depends on rwith, which exits once it has printed. */
	(void)prctl(PR_SET_PDEATHSIG, 0);
	detach();
	int n = snprintf(line, sizeof(line), "%" PRIu64 " %s\n", fence, token);
	if (write(keeper->handoff.fd, line, (size_t)n) != n) {
		return error_set(err, RW_ERROR_INTERNAL, "rwith ended before it could print the hold");
	}
	if (watch_fd(keeper->loop, &keeper->handoff, keeper->handoff.fd, on_handoff_readable,
		keeper) < 0) {
		return error_set(err, RW_ERROR_INTERNAL, "rwith ended before it could print the hold");
	}
	return 0;
}

static void keeper_finished(struct session_hold *hold) {
	struct hold_keeper *keeper = hold->data;
	answer_client(keeper, keeper->outcome->err.kind == RW_ERROR_LOST ? "lost\n" : "released\n");
	unwatch_fd(&keeper->client);
	unwatch_fd(&keeper->listener);
	unwatch_fd(&keeper->handoff);
	uv_close((uv_handle_t *)&keeper->client_timer, NULL);
}

/* A hold of a lock the shell holds already would wait for itself for ever. */
static int refuse_second_hold(struct hold_keeper *keeper, const struct tls_context *tls,
	struct rw_error *err) {
	struct reenter joined;
	int found = reenter_find(keeper->loop, &keeper->opts, tls, &joined, err);
	if (found > 0) {
		error_set(err, RW_ERROR_USAGE, "'%s' is held already by this shell's hold (fence %"
			PRIu64 "); a second --hold would wait for it for ever", keeper->opts.lock,
			joined.join.fence);
		err->hint = "run the commands under the hold you have, or release it first";
	}
	return found != 0 ? -1 : 0;
}

void hold_keep(uv_loop_t *loop, const struct tls_context *tls,
	const struct child_startup *startup, struct hold_keeper *keeper,
	struct session_outcome *ret) {
	keeper->outcome = ret;
	keeper->loop = loop;
	(void)uv_timer_init(loop, &keeper->client_timer);
	keeper->client_timer.data = keeper;
	keeper->hold = (struct session_hold){
		.owner = keeper->owner,
		.owner_fd = keeper->owner_fd,
		.granted = keeper_granted,
		.finished = keeper_finished,
		.data = keeper,
	};
	keeper->owner_fd = -1; /* the session's now */
	if (refuse_second_hold(keeper, tls, &ret->err) == 0) {
		session_run(loop, &keeper->opts, tls, startup, &keeper->hold, NULL, ret);
	} else {
		uv_close((uv_handle_t *)&keeper->client_timer, NULL);
		(void)uv_run(loop, UV_RUN_DEFAULT);
	}
	if (keeper->hold.owner_fd >= 0) {
		(void)close(keeper->hold.owner_fd); /* not adopted: the lock was never granted */
	}
	if (keeper->handoff.fd >= 0 && !keeper->handoff.watched) {
		(void)close(keeper->handoff.fd);
	}
}
