/* Holds for scripts: the keeper that --hold leaves behind, --release, and a nested rwith
 * running under a hold it finds in $RWITH_HOLD (see hold.h). */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "exit_codes.h"
#include "holdenv.h"
#include "lock.h"
#include "log.h"
#include "quorum.h"

#ifndef SYS_close_range
#define SYS_close_range 436 /* the same number on every architecture (Linux 5.9) */
#endif

#define HANDOFF_ACK_MS 2000u    /* rwith acknowledges the assignments it printed */
#define RELEASE_ANSWER_MS 10000u /* the keeper's release takes 2 s at most; then some */
#define CHECK_TIMEOUT_MS 2000u  /* a nested rwith's one check of the hold */
#define FALLBACK_FDS 1024       /* closed one by one when close_range is missing */
#define KEEPER_FD_HANDOFF 3
#define KEEPER_FD_OWNER 4

/* Signals that end a wait for the lock: rwith passes them on to the keeper, which waits. */
static const int passed_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* ---- names and text ------------------------------------------------------------------ */

/* The keeper's socket: in the abstract namespace (no file to leave behind), named by the
 * holder's token, which only the holding script knows. */
static socklen_t keeper_address(const char *token, struct sockaddr_un *ret) {
	memset(ret, 0, sizeof(*ret));
	ret->sun_family = AF_UNIX;
	int n = snprintf(ret->sun_path + 1, sizeof(ret->sun_path) - 1, "rwith/hold/%s", token);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* Writes `value` single-quoted for sh, bash and zsh: ' becomes '\''. */
static void print_quoted(FILE *out, const char *value) {
	fputc('\'', out);
	for (const char *p = value; *p; p++) {
		if (*p == '\'') {
			fputs("'\\''", out);
		} else {
			fputc(*p, out);
		}
	}
	fputc('\'', out);
}

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

/* ---- the owner ----------------------------------------------------------------------- */

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

static int find_owner(const struct rw_options *opts, pid_t *ret_owner, int *ret_fd,
	struct rw_error *err) {
	pid_t owner = opts->hold_pid > 0 ? (pid_t)opts->hold_pid : getppid();
	if (opts->hold_pid == 0 && parent_is_substitution(owner)) {
		error_set(err, RW_ERROR_USAGE, "--hold: rwith's parent (process %ld) is the subshell of "
			"the command substitution, which ends as soon as rwith does, and the lock with it; "
			"give the shell's own process with --pid $$", (long)owner);
		return -1;
	}
	int fd = child_open_process(owner);
	if (fd == -1) {
		return error_set(err, RW_ERROR_USAGE, "--pid %ld: no such process", (long)owner);
	}
	*ret_owner = owner;
	*ret_fd = fd;
	return 0;
}

/* ---- rwith: start the keeper and wait for it --------------------------------------------- */

static void print_assignments(const struct hold_keeper *keeper, uint64_t fence,
	const char *token) {
	char value[HOLDENV_VALUE_MAX];
	struct holdenv_entry entry = {
		.keeper = true,
		.mode = keeper->opts.mode == LOCK_SHARED ? 's' : 'x',
		.fence = fence,
		.identity = holdenv_identity(&keeper->opts),
	};
	(void)snprintf(entry.token, sizeof(entry.token), "%s", token);
	if (holdenv_format(&entry, keeper->opts.hold_env, value, sizeof(value)) < 0) {
		value[0] = '\0';
	}
	fputs("RWITH_LOCK=", stdout);
	print_quoted(stdout, keeper->opts.lock);
	printf("; RWITH_FENCE=%" PRIu64 "; RWITH_HOLD=", fence);
	print_quoted(stdout, value);
	puts("; export RWITH_LOCK RWITH_FENCE RWITH_HOLD");
}

/* How rwith ends when the keeper ended before it held the lock: as the keeper did, which
 * said why on the stderr they share (also when it died of a signal rwith passed on to it,
 * after it gave up waiting); a death by any other signal is news, and said. */
static void mirror_keeper_end(const struct hold_keeper *keeper, pid_t pid,
	struct session_outcome *ret) {
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	if (WIFEXITED(status)) {
		ret->command_status = WEXITSTATUS(status); /* no message of rwith's own */
		return;
	}
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
	for (size_t i = 0; i < RW_ARRAY_SIZE(passed_signals); i++) {
		if (passed_signals[i] == sig) {
			ret->command_status = EXIT_SIGNAL_BASE + sig;
			ret->command_signal = sig;
			return;
		}
	}
	error_set(&ret->err, RW_ERROR_INTERRUPTED, "the process waiting for '%s' was killed by "
		"signal %d (%s); the lock is not held", keeper->opts.lock, sig, strsignal(sig));
	ret->err.signal = sig;
	ret->err.hint = "run it again when you want to hold the lock";
}

/* Reads the keeper's "FENCE TOKEN\n", passing rwith's signals on to it meanwhile. Returns 1
 * with the line, 0 when the keeper ended without one. */
static int read_handoff(int fd, int sig_fd, pid_t keeper_pid, char *line, size_t size) {
	size_t used = 0;
	for (;;) {
		struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = sig_fd, .events = POLLIN}};
		if (poll(fds, sig_fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR) {
				continue;
			}
			return 0;
		}
		struct signalfd_siginfo info;
		if (sig_fd >= 0 && (fds[1].revents & POLLIN) &&
			read(sig_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
			(void)kill(keeper_pid, (int)info.ssi_signo);
		}
		if (fds[0].revents == 0) {
			continue;
		}
		ssize_t n = read(fd, line + used, size - 1 - used);
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
 * keeper gives the lock back when rwith could not print them). */
static void await_keeper(struct hold_keeper *keeper, pid_t pid, int fd, int sig_fd,
	struct session_outcome *ret) {
	char line[128];
	uint64_t fence;
	char token[HOLDENV_TOKEN_LEN + 1];
	if (!read_handoff(fd, sig_fd, pid, line, sizeof(line)) ||
		sscanf(line, "%" SCNu64 " %32[0-9a-f]", &fence, token) != 2) {
		mirror_keeper_end(keeper, pid, ret);
		return;
	}
	print_assignments(keeper, fence, token);
	if (fflush(stdout) != 0 || write(fd, "y", 1) != 1) {
		error_set(&ret->err, RW_ERROR_INTERNAL, "cannot write the hold of '%s' to stdout: %s; "
			"it was given back", keeper->opts.lock, strerror(errno));
		return;
	}
	log_msg(LOG_INFO, "holding '%s' (fence %" PRIu64 ") for process %ld; the keeper is process "
		"%ld", keeper->opts.lock, fence, (long)keeper->owner, (long)pid);
}

/* Blocks the signals rwith passes on (not the ones found ignored: nohup) and reads them
 * from a signalfd; -1 when there is none. The keeper inherits the mask, and its session
 * watches the same signals. */
static int watch_passed_signals(const struct child_startup *startup) {
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < RW_ARRAY_SIZE(passed_signals); i++) {
		if (!startup->ignored[passed_signals[i]]) {
			sigaddset(&set, passed_signals[i]);
		}
	}
	(void)sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

/* Moves the descriptors the keeper keeps to 3 and 4 and closes every other one it
 * inherited beyond stdio (a script's `exec 9>file`, a CI runner's pipes), which it would
 * otherwise hold open for as long as it holds the lock. */
static void keep_only_handoff(struct hold_keeper *keeper) {
	int handoff = fcntl(keeper->handoff_fd, F_DUPFD_CLOEXEC, 10);
	int owner = keeper->owner_fd >= 0 ? fcntl(keeper->owner_fd, F_DUPFD_CLOEXEC, 10) :
		keeper->owner_fd;
	(void)dup3(handoff, KEEPER_FD_HANDOFF, O_CLOEXEC);
	keeper->handoff_fd = KEEPER_FD_HANDOFF;
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
	keeper->listen_fd = -1;
	keeper->client_fd = -1;
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
	int sig_fd = watch_passed_signals(startup);
	pid_t rwith = getpid();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
		error_set(&ret->err, RW_ERROR_INTERNAL, "cannot make a socket pair: %s", strerror(errno));
		return HOLD_ROLE_RWITH;
	}
	pid_t pid = fork();
	if (pid < 0) {
		error_set(&ret->err, RW_ERROR_INTERNAL, "cannot start the keeper: %s", strerror(errno));
		return HOLD_ROLE_RWITH;
	}
	if (pid == 0) {
		/* The keeper waits only while rwith does: rwith's end (even by SIGKILL) is a
		 * SIGTERM, which ends the wait as it would end rwith's. */
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != rwith) {
			_exit(EXIT_SIGNAL_BASE + SIGTERM);
		}
		keeper->handoff_fd = pair[1];
		keep_only_handoff(keeper);
		return HOLD_ROLE_KEEPER;
	}
	(void)close(pair[1]);
	if (keeper->owner_fd >= 0) {
		(void)close(keeper->owner_fd);
	}
	await_keeper(keeper, pid, pair[0], sig_fd, ret);
	(void)close(pair[0]);
	return HOLD_ROLE_RWITH;
}

/* ---- the keeper ---------------------------------------------------------------------- */

static void close_fd_handle(uv_handle_t *handle) {
	int fd = (int)(intptr_t)handle->data;
	if (fd >= 0) {
		(void)close(fd);
	}
}

static void close_poll(uv_poll_t *poll, int *fd) {
	if (*fd < 0) {
		return;
	}
	poll->data = (void *)(intptr_t)*fd;
	uv_close((uv_handle_t *)poll, close_fd_handle);
	*fd = -1;
}

static void answer_client(struct hold_keeper *keeper, const char *answer) {
	if (keeper->client_fd >= 0) {
		/* A few bytes into an empty socket buffer: never blocks. */
		(void)!write(keeper->client_fd, answer, strlen(answer));
		close_poll(&keeper->client_poll, &keeper->client_fd);
	}
}

static void on_client_readable(uv_poll_t *poll, int status, int events) {
	struct hold_keeper *keeper = poll->data;
	char request[16];
	ssize_t n = read(keeper->client_fd, request, sizeof(request) - 1);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	if (n <= 0 || (size_t)n != strlen("release\n") || memcmp(request, "release\n", (size_t)n) != 0) {
		answer_client(keeper, "?\n");
		return;
	}
	(void)uv_poll_stop(poll);
	if (keeper->hold.lost || keeper->hold.child == NULL) {
		/* The owner was sent SIGTERM: it may be its trap asking. The keeper stays until the
		 * owner ends, to send SIGKILL if it does not. */
		answer_client(keeper, "lost\n");
		return;
	}
	log_msg(LOG_INFO, "releasing '%s' as asked", keeper->opts.lock);
	child_end(keeper->hold.child); /* answered once released (keeper_finished) */
}

/* Only rwith run by the same user (or root) may end a hold. */
static bool peer_allowed(int fd) {
	struct ucred cred;
	socklen_t len = sizeof(cred);
	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
		(cred.uid == getuid() || cred.uid == 0);
}

static void on_listen_readable(uv_poll_t *poll, int status, int events) {
	struct hold_keeper *keeper = poll->data;
	int fd = accept4(keeper->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		return;
	}
	if (keeper->client_fd >= 0 || !peer_allowed(fd)) {
		(void)close(fd); /* one release at a time; the refused one sees the keeper go */
		return;
	}
	keeper->client_fd = fd;
	if (uv_poll_init(poll->loop, &keeper->client_poll, fd) < 0) {
		keeper->client_fd = -1;
		(void)close(fd);
		return;
	}
	keeper->client_poll.data = keeper;
	(void)uv_poll_start(&keeper->client_poll, UV_READABLE, on_client_readable);
}

static int listen_for_release(struct hold_keeper *keeper, uv_loop_t *loop, const char *token,
	struct rw_error *err) {
	struct sockaddr_un address;
	socklen_t len = keeper_address(token, &address);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&address, len) < 0 || listen(fd, 4) < 0 ||
		uv_poll_init(loop, &keeper->listen_poll, fd) < 0) {
		error_set(err, RW_ERROR_INTERNAL, "cannot listen for --release: %s", strerror(errno));
		if (fd >= 0) {
			(void)close(fd);
		}
		return -1;
	}
	keeper->listen_fd = fd;
	keeper->listen_poll.data = keeper;
	(void)uv_poll_start(&keeper->listen_poll, UV_READABLE, on_listen_readable);
	return 0;
}

/* Leaves the terminal's session and the shell's job control, and closes stdio: from now on
 * the keeper says nothing (a $(...) would otherwise wait for its stdout to close). */
static void detach(void) {
	(void)setsid();
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd >= 0) {
		for (int fd = 0; fd <= 2; fd++) {
			(void)dup2(null_fd, fd);
		}
		if (null_fd > 2) {
			(void)close(null_fd);
		}
	}
}

/* Tells rwith the fence and token, and waits for its acknowledgement that the assignments
 * were printed. */
static int hand_off(struct hold_keeper *keeper, uint64_t fence, const char *token,
	struct rw_error *err) {
	char line[128];
	int n = snprintf(line, sizeof(line), "%" PRIu64 " %s\n", fence, token);
	char ack = 0;
	struct pollfd pfd = {.fd = keeper->handoff_fd, .events = POLLIN};
	if (write(keeper->handoff_fd, line, (size_t)n) != n || poll(&pfd, 1, HANDOFF_ACK_MS) != 1 ||
		read(keeper->handoff_fd, &ack, 1) != 1 || ack != 'y') {
		return error_set(err, RW_ERROR_INTERNAL, "rwith ended before it could print the hold "
			"of '%s'; it was given back", keeper->opts.lock);
	}
	return 0;
}

static int keeper_granted(struct session_hold *hold, uint64_t fence, const char *token,
	struct rw_error *err) {
	struct hold_keeper *keeper = hold->data;
	if (listen_for_release(keeper, keeper->loop, token, err) < 0) {
		return -1;
	}
	/* From here the hold no longer depends on rwith, which exits once it has printed. */
	(void)prctl(PR_SET_PDEATHSIG, 0);
	if (hand_off(keeper, fence, token, err) < 0) {
		return -1;
	}
	(void)close(keeper->handoff_fd);
	keeper->handoff_fd = -1;
	detach();
	return 0;
}

static void keeper_finished(struct session_hold *hold) {
	struct hold_keeper *keeper = hold->data;
	answer_client(keeper, keeper->outcome->err.kind == RW_ERROR_LOST ? "lost\n" : "released\n");
	close_poll(&keeper->listen_poll, &keeper->listen_fd);
}

void hold_keep(uv_loop_t *loop, const struct tls_context *tls,
	const struct child_startup *startup, struct hold_keeper *keeper,
	struct session_outcome *ret) {
	keeper->outcome = ret;
	keeper->loop = loop;
	keeper->hold = (struct session_hold){
		.owner = keeper->owner,
		.owner_fd = keeper->owner_fd,
		.granted = keeper_granted,
		.finished = keeper_finished,
		.data = keeper,
	};
	session_run(loop, &keeper->opts, tls, startup, &keeper->hold, ret);
	if (keeper->handoff_fd >= 0) {
		(void)close(keeper->handoff_fd);
	}
}

/* ---- --release ----------------------------------------------------------------------- */

/* The hold to end: the keeper's entry for the lock named, or the newest keeper's. */
static int find_hold(const struct rw_options *opts, struct holdenv_entry *ret,
	struct rw_error *err) {
	if (opts->lock != NULL) {
		if (holdenv_find(opts->hold_env, holdenv_identity(opts), true, ret) == 1) {
			return 0;
		}
		error_set(err, RW_ERROR_USAGE, "no hold of '%s' to release: $RWITH_HOLD names none for "
			"this lock, server and prefix", opts->lock);
	} else {
		struct holdenv_entry entries[HOLDENV_MAX_ENTRIES];
		size_t count = holdenv_parse(opts->hold_env, entries, HOLDENV_MAX_ENTRIES);
		for (size_t i = 0; i < count; i++) {
			if (entries[i].keeper) {
				*ret = entries[i];
				return 0;
			}
		}
		error_set(err, RW_ERROR_USAGE, "no hold to release: $RWITH_HOLD names none");
	}
	err->hint = "take a hold with eval \"$(rwith --hold LOCK)\" in this shell first, and give "
		"--release the same -r and --prefix";
	return -1;
}

/* Sends "release" and reads the answer within RELEASE_ANSWER_MS; NULL when none came. */
static const char *ask_keeper(int fd, char *answer, size_t size) {
	uint64_t deadline = clock_mono_ms() + RELEASE_ANSWER_MS;
	size_t used = 0;
	if (write(fd, "release\n", 8) != 8) {
		return NULL;
	}
	while (used < size - 1) {
		uint64_t now = clock_mono_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) == 0) {
			return NULL;
		}
		ssize_t n = read(fd, answer + used, size - 1 - used);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break;
		}
		used += (size_t)n;
		if (memchr(answer, '\n', used) != NULL) {
			break;
		}
	}
	answer[used] = '\0';
	return answer;
}

void hold_release(uv_loop_t *loop, const struct rw_options *opts, const struct tls_context *tls,
	struct rw_error *err) {
	struct holdenv_entry entry;
	char what[LOCK_NAME_MAX + 64];
	if (find_hold(opts, &entry, err) < 0) {
		return;
	}
	if (opts->lock != NULL) {
		(void)snprintf(what, sizeof(what), "'%s' (fence %" PRIu64 ")", opts->lock, entry.fence);
	} else {
		(void)snprintf(what, sizeof(what), "the hold with fence %" PRIu64, entry.fence);
	}
	struct sockaddr_un address;
	socklen_t len = keeper_address(entry.token, &address);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&address, len) < 0) {
		error_set(err, RW_ERROR_LOST, "%s was lost before --release: its keeper has ended (the "
			"lock was broken, expired or could not be extended, or the keeper was killed)", what);
		err->hint = "the commands run under it may have overlapped another holder's: check them";
	} else {
		char answer[32];
		const char *got = ask_keeper(fd, answer, sizeof(answer));
		if (got == NULL || (strcmp(got, "released\n") != 0 && strcmp(got, "lost\n") != 0)) {
			error_set(err, RW_ERROR_SERVER, "the keeper of %s did not answer --release in time; "
				"the lock frees itself within its TTL once the keeper ends", what);
			err->hint = "check the keeper process (rwith --status shows its pid)";
		} else if (strcmp(got, "lost\n") == 0) {
			error_set(err, RW_ERROR_LOST, "lost %s while it was held (broken, expired, or it "
				"could not be extended); the script was sent SIGTERM", what);
			err->hint = "the commands run under it may have overlapped another holder's: "
				"check them";
		} else {
			log_msg(LOG_INFO, "released %s", what);
		}
	}
	if (fd >= 0) {
		(void)close(fd);
	}
}

/* ---- a nested rwith under a hold ----------------------------------------------------- */

struct check {
	struct conn *conn;     /* one server */
	struct quorum *quorum; /* several */
	enum lock_result result;
	struct rw_error err;
};

static void on_checked(enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err, void *data) {
	struct check *check = data;
	check->result = result;
	if (err != NULL) {
		check->err = *err;
	}
	conn_destroy(check->conn);
	check->conn = NULL;
	quorum_destroy(check->quorum);
	check->quorum = NULL;
}

/* Asks the server (in quorum mode, a majority) once whether the hold's token still holds
 * the lock. */
static enum lock_result check_hold(uv_loop_t *loop, const struct rw_options *opts,
	const struct tls_context *tls, const struct holdenv_entry *entry, struct rw_error *err) {
	struct lock lock;
	struct check check = {.result = LOCK_RESULT_ERROR};
	if (lock_init(&lock, opts, err) < 0) {
		return LOCK_RESULT_ERROR;
	}
	(void)snprintf(lock.token, sizeof(lock.token), "%s", entry->token);
	int rc = -1;
	if (opts->server_count > 1) {
		check.quorum = quorum_create(loop, opts, tls, &lock);
		rc = check.quorum == NULL ? -1 :
			quorum_held(check.quorum, CHECK_TIMEOUT_MS, on_checked, &check, &check.err);
	} else {
		check.conn = conn_create(loop, &opts->servers[0], tls);
		rc = check.conn == NULL ? -1 :
			lock_held(&lock, check.conn, CHECK_TIMEOUT_MS, on_checked, &check, &check.err);
	}
	if (rc < 0) {
		error_set(&check.err, RW_ERROR_INTERNAL, "out of memory");
		on_checked(LOCK_RESULT_ERROR, NULL, NULL, NULL, &check);
	}
	(void)uv_run(loop, UV_RUN_DEFAULT);
	if (check.result == LOCK_RESULT_ERROR) {
		*err = check.err;
	}
	return check.result;
}

/* Replaces rwith by the command, under the hold: RWITH_LOCK and the hold's RWITH_FENCE,
 * the signal dispositions rwith found. Returns only when exec failed, with err set. */
static void exec_under_hold(const struct rw_options *opts, const struct child_startup *startup,
	const struct holdenv_entry *entry, struct rw_error *err) {
	char fence[24];
	(void)snprintf(fence, sizeof(fence), "%" PRIu64, entry->fence);
	if (setenv("RWITH_LOCK", opts->lock, 1) < 0 || setenv("RWITH_FENCE", fence, 1) < 0) {
		error_set(err, RW_ERROR_INTERNAL, "out of memory");
		return;
	}
	(void)signal(SIGPIPE, startup->ignored[SIGPIPE] ? SIG_IGN : SIG_DFL);
	const char *what = opts->shell_command != NULL ? "/bin/sh" : opts->command[0];
	if (opts->shell_command != NULL) {
		execl("/bin/sh", "sh", "-c", opts->shell_command, (char *)NULL);
	} else {
		execvp(opts->command[0], opts->command);
	}
	int code = errno;
	(void)signal(SIGPIPE, SIG_IGN);
	if (code == ENOENT || code == ENOTDIR) {
		error_set(err, RW_ERROR_NOT_FOUND, "cannot run '%s': %s", what, strerror(code));
		err->hint = "check the command's name and $PATH";
	} else {
		error_set(err, RW_ERROR_EXEC, "cannot execute '%s': %s", what, strerror(code));
		err->hint = "check that the command is an executable file";
	}
}

int hold_reenter(uv_loop_t *loop, const struct rw_options *opts, const struct tls_context *tls,
	const struct child_startup *startup, struct rw_error *err) {
	struct holdenv_entry entry;
	if (opts->hold_env == NULL || holdenv_find(opts->hold_env, holdenv_identity(opts), false,
		&entry) != 1) {
		return 0;
	}
	if (entry.mode == 's' && opts->mode == LOCK_EXCLUSIVE) {
		error_set(err, RW_ERROR_USAGE, "'%s' is held shared by this command's hold (fence %" PRIu64
			"); it cannot be taken exclusively inside it: two shared holders upgrading at "
			"once would wait for each other for ever", opts->lock, entry.fence);
		err->hint = "take it exclusively from the start, or ask for it with --shared";
		return -1;
	}
	enum lock_result held = check_hold(loop, opts, tls, &entry, err);
	if (held == LOCK_RESULT_ERROR) {
		return -1;
	}
	if (held == LOCK_RESULT_NO) {
		log_msg(LOG_INFO, "the hold of '%s' in $RWITH_HOLD (fence %" PRIu64 ") has ended; "
			"acquiring the lock anew", opts->lock, entry.fence);
		return 0;
	}
	log_msg(LOG_INFO, "'%s' is held already by this command's hold (fence %" PRIu64 "); "
		"running the command under it", opts->lock, entry.fence);
	exec_under_hold(opts, startup, &entry, err);
	return -1;
}
