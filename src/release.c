/* --release [LOCK]: asks the keeper of a hold (hold.h) to release the lock, and says
 * whether it was still held until then. */
#define _GNU_SOURCE /* SO_PEERCRED */
#include "release.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "hold.h"
#include "holdenv.h"
#include "log.h"

#define RELEASE_ANSWER_MS 10000u /* the keeper's release takes 2 s at most; then some */

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
	err->hint = "take a hold with hold=$(rwith --hold LOCK) && eval \"$hold\" first, and give "
		"--release the same -r and --prefix";
	return -1;
}

/* Sends "release" and reads the one-line answer within RELEASE_ANSWER_MS into answer
 * (empty when the keeper closed the connection without one); -1 when none came in time. */
static int ask_keeper(int fd, char *answer, size_t size) {
	uint64_t deadline = clock_mono_ms() + RELEASE_ANSWER_MS;
	size_t used = 0;
	answer[0] = '\0';
	if (write(fd, "release\n", 8) != 8) {
		return 0; /* it hung up first: as an empty answer */
	}
	while (used < size - 1 && memchr(answer, '\n', used) == NULL) {
		uint64_t now = clock_mono_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (now >= deadline) {
			return -1;
		}
		int rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc < 0 && errno != EINTR) {
			return -1;
		}
		if (rc <= 0) {
			continue;
		}
		ssize_t n = read(fd, answer + used, size - 1 - used);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break;
		}
		used += (size_t)n;
		answer[used] = '\0';
	}
	return 0;
}

/* The keeper must be the same user: an abstract socket's name is visible to everyone, and
 * once the keeper has ended anyone could bind it. */
static bool same_user(int fd) {
	struct ucred cred;
	socklen_t len = sizeof(cred);
	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == getuid();
}

/* Connects to the keeper of `entry`; -1 when there is none (it has ended). */
static int connect_keeper(const struct holdenv_entry *entry) {
	struct sockaddr_un address;
	socklen_t len = hold_keeper_address(entry->token, &address);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && (connect(fd, (struct sockaddr *)&address, len) < 0 || !same_user(fd))) {
		(void)close(fd);
		fd = -1;
	}
	return fd;
}

static void report_answer(const char *what, int asked, const char *answer, struct rw_error *err) {
	if (asked < 0) {
		error_set(err, RW_ERROR_SERVER, "the keeper of %s did not answer --release in time; "
			"the lock frees itself within its TTL once the keeper ends", what);
		err->hint = "check the keeper process (rwith --status shows its pid)";
	} else if (strcmp(answer, "released\n") == 0) {
		log_msg(LOG_INFO, "released %s", what);
	} else if (strcmp(answer, "lost\n") == 0) {
		error_set(err, RW_ERROR_LOST, "lost %s while it was held (broken, expired, or it "
			"could not be extended); the script was sent SIGTERM", what);
		err->hint = "the commands run under it may have overlapped another holder's: check them";
	} else if (strcmp(answer, "busy\n") == 0) {
		error_set(err, RW_ERROR_SERVER, "another rwith --release of %s is in progress", what);
		err->hint = "release a hold once";
	} else {
		error_set(err, RW_ERROR_SERVER, "the keeper of %s gave no answer to --release", what);
		err->hint = "check the keeper process (rwith --status shows its pid)";
	}
}

void release_run(const struct rw_options *opts, struct rw_error *err) {
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
	int fd = connect_keeper(&entry);
	if (fd < 0) {
		error_set(err, RW_ERROR_LOST, "%s is no longer held: its keeper has ended (the lock was "
			"released already, lost, or the keeper was killed)", what);
		err->hint = "if it was not released before, the commands run under it may have "
			"overlapped another holder's: check them";
		return;
	}
	char answer[32];
	int asked = ask_keeper(fd, answer, sizeof(answer));
	(void)close(fd);
	report_answer(what, asked, answer, err);
}
