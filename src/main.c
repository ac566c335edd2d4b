/* argv/env -> options -> session -> one exit status. The only place that exits, and the
 * only place that maps an error kind to the contract's status and prints the final line. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "child.h"
#include "config.h"
#include "exit_codes.h"
#include "log.h"
#include "options.h"
#include "admin.h"
#include "hold.h"
#include "reenter.h"
#include "release.h"
#include "session.h"
#include "tls.h"

static const char usage_text[] =
	"Usage:\n"
	"  rwith [options] LOCK -- COMMAND [ARG...]\n"
	"  rwith [options] LOCK -c 'SHELL COMMAND'\n"
	"  rwith [options] --status [--json] LOCK\n"
	"  rwith [options] --break LOCK\n"
	"  rwith [options] --list [--json]\n"
	"  hold=$(rwith [options] --hold LOCK) && eval \"$hold\"   (in a script)\n"
	"  rwith --release [LOCK]\n"
	"  rwith --help | --version\n"
	"\n"
	"Run COMMAND while holding the lock LOCK in Redis, like flock(1) for a fleet.\n"
	"The lock's TTL is extended while the command runs; if the lock is lost, the\n"
	"command is terminated. rwith exits with the command's status.\n"
	"\n"
	"Options:\n"
	"  -r, --redis URL            server: redis://[[user][:password]@]host[:port][/db],\n"
	"                             rediss://... (TLS) or unix:///path/to/redis.sock[?db=N];\n"
	"                             any node of a Redis Cluster; or Sentinel's\n"
	"                             redis+sentinel://[[user]:pw@]host[:port][,...]/MASTER\n"
	"                             several -r: held while a majority holds it (quorum)\n"
	"                             (default: $RWITH_REDIS_URL, $REDIS_URL,\n"
	"                             redis://127.0.0.1:6379)\n"
	"  -t, --ttl DUR              lock time-to-live on the server (default 30s, min 100ms)\n"
	"      --heartbeat DUR        how often the TTL is extended (default ttl/3)\n"
	"  -w, --wait DUR             give up after waiting this long (default: forever)\n"
	"      --timeout DUR          same as --wait\n"
	"  -n, --nonblock             do not wait at all (same as -w 0; also --nb,\n"
	"                             --nonblocking, as flock)\n"
	"  -E, --conflict-exit-code N exit status when the lock was not acquired (default 1)\n"
	"  -x, -e, --exclusive        exclusive (writer) lock (the default)\n"
	"  -s, --shared               shared (reader) lock: readers share, writers exclude\n"
	"  -l, --limit N              at most N exclusive holders at once (default 1)\n"
	"      --min-hold DUR         keep the lock at least DUR after acquiring it\n"
	"  -T, --task NAME            label stored with the holder (default: the command line)\n"
	"  -c, --command STR          run STR with /bin/sh -c\n"
	"  -k, --kill-after DUR       after the lock is lost: SIGTERM, then SIGKILL this much\n"
	"                             later (default 5s, never past the TTL deadline)\n"
	"      --prefix STR           key namespace (default 'rwith:')\n"
	"      --tls-ca FILE          CA certificates (PEM) that verify a rediss:// server\n"
	"                             (default: $RWITH_TLS_CA, else the system's store)\n"
	"      --sync                 before the command starts and at every heartbeat, wait\n"
	"                             until every online replica has the lock (Redis WAIT)\n"
	"      --notify-ready WHO     under systemd (Type=notify): who sends READY=1,\n"
	"                             'rwith' once the command runs (default) or 'command'\n"
	"      --status               show the lock's holders and the number of waiters\n"
	"      --json                 with --status or --list: one JSON object\n"
	"      --break                remove every holder of LOCK and wake the waiters\n"
	"      --list                 every lock under the prefix with holders or waiters\n"
	"      --hold                 hold LOCK for the shell (a keeper process keeps it)\n"
	"                             and print RWITH_LOCK, RWITH_FENCE and RWITH_HOLD as\n"
	"                             shell assignments to eval; it is released when the\n"
	"                             shell exits, or by --release\n"
	"      --pid PID              with --hold: the process the hold belongs to\n"
	"                             (default: rwith's parent, the shell)\n"
	"      --release              end the hold $RWITH_HOLD names (75 if it was lost)\n"
	"  -v, --verbose              more messages on stderr (twice: debug)\n"
	"  -q, --quiet                fewer messages (errors are always shown)\n"
	"  -h, --help                 show this help and exit\n"
	"  -V, --version              show the version and exit\n"
	"\n"
	"DUR is 30 (seconds), 30s, 250ms, 1.5s, 5m, 1h or 2d.\n"
	"\n"
	"Exit status: the command's own; 128+N if it was killed by signal N (rwith then\n"
	"dies of N too, as sudo does); 1 (or -E N) if the lock was not acquired; 64 usage\n"
	"error; 69 server unusable; 75 lock lost while the command ran; 126/127 command\n"
	"not executable/not found; 70 internal error.\n"
	"\n"
	"The command gets RWITH_LOCK (the lock's name) and RWITH_FENCE (a number that grows\n"
	"with every acquisition) in its environment, and RWITH_HOLD: an rwith it runs for\n"
	"the same lock runs its command at once, under the same hold.\n"
	"\n"
	"See rwith(1) for details.\n";

static int status_for(const struct rw_error *err, const struct rw_options *opts) {
	switch (err->kind) {
	case RW_ERROR_NONE:
		return 0;
	case RW_ERROR_USAGE:
		return EXIT_USAGE;
	case RW_ERROR_SERVER:
		return EXIT_SERVER;
	case RW_ERROR_CONFLICT:
		return opts->conflict_exit;
	case RW_ERROR_LOST:
		return EXIT_LOST;
	case RW_ERROR_EXEC:
		return EXIT_CANNOT_EXEC;
	case RW_ERROR_NOT_FOUND:
		return EXIT_NOT_FOUND;
	case RW_ERROR_INTERRUPTED:
		return EXIT_SIGNAL_BASE + err->signal;
	case RW_ERROR_INTERNAL:
	default:
		return EXIT_INTERNAL;
	}
}

static const char *default_hint(enum rw_error_kind kind) {
	switch (kind) {
	case RW_ERROR_SERVER:
		return "check that the Redis server is running and the URL (-r, $RWITH_REDIS_URL) is right";
	case RW_ERROR_CONFLICT:
		return "try again later";
	case RW_ERROR_LOST:
		return "check the command's work, then run it again";
	case RW_ERROR_INTERNAL:
		return "this is a bug in rwith; please report it";
	default:
		return "see rwith --help";
	}
}

static int usage_error(const struct rw_error *err) {
	/* One specific line that ends with the pointer to --help; never the whole help. Every
	 * line rwith writes to stderr starts with "rwith: ", so the pointer shares the line. */
	log_msg(LOG_ERROR, "%s; try 'rwith --help'", err->message);
	return EXIT_USAGE;
}

static void print_version(void) {
	char module[PATH_MAX + 64];
	const char *tls = "not built in";
	if (RWITH_HAVE_TLS) {
		tls = tls_module_find(module, sizeof(module)) ? "built in" :
			"built in, but its module is missing";
	}
	printf("rwith %s (hiredis %d.%d.%d%s, libuv %s%s, TLS %s)\n", RWITH_VERSION, HIREDIS_MAJOR,
		HIREDIS_MINOR, HIREDIS_PATCH, RWITH_STATIC_HIREDIS ? " static" : "",
		uv_version_string(), RWITH_STATIC_LIBUV ? " static" : "", tls);
}

static enum log_level level_for(int verbosity) {
	if (verbosity < 0) {
		return LOG_ERROR;
	}
	return verbosity == 0 ? LOG_WARN : (verbosity == 1 ? LOG_INFO : LOG_DEBUG);
}

/* The action, on the loop: a run, a hold's keeper, or one of the others. */
static void run_action(uv_loop_t *loop, const struct rw_options *opts,
	const struct tls_context *tls, const struct child_startup *startup,
	struct hold_keeper *keeper, struct session_outcome *outcome) {
	switch (opts->action) {
	case ACTION_RUN: {
		/* Under a hold of this lock ($RWITH_HOLD): join it rather than wait for it. */
		struct reenter joined;
		int found = reenter_find(loop, opts, tls, &joined, &outcome->err);
		if (found >= 0) {
			session_run(loop, found ? &joined.opts : opts, tls, startup, NULL,
				found ? &joined.join : NULL, outcome);
		}
		break;
	}
	case ACTION_HOLD:
		hold_keep(loop, tls, startup, keeper, outcome);
		break;
	case ACTION_RELEASE:
		release_run(opts, &outcome->err);
		break;
	default:
		admin_run(loop, opts, tls, &outcome->err);
		if (fflush(stdout) != 0 && outcome->err.kind == RW_ERROR_NONE) {
			error_set(&outcome->err, RW_ERROR_INTERNAL, "cannot write to stdout");
		}
		break;
	}
}

/* The outcome as the contract's status, with its one line on stderr; *ret_signal is the
 * signal rwith then dies of (0: none): the command's, or the one that ended the wait. */
static int report(const struct session_outcome *outcome, const struct rw_options *opts,
	int *ret_signal) {
	const struct rw_error *err = &outcome->err;
	*ret_signal = err->kind == RW_ERROR_INTERRUPTED ? err->signal :
		(err->kind == RW_ERROR_NONE ? outcome->command_signal : 0);
	if (err->kind == RW_ERROR_NONE) {
		return outcome->command_status;
	}
	int status = status_for(err, opts);
	const char *hint = err->hint ? err->hint : default_hint(err->kind);
	log_msg(status == 0 ? LOG_INFO : LOG_ERROR, "%s; %s", err->message, hint);
	return status;
}

static int run(const struct rw_options *opts, const struct child_startup *startup,
	int *ret_signal) {
	uv_loop_t loop;
	struct session_outcome outcome;
	/* --hold forks its keeper before any loop exists; rwith itself is done after that. */
	struct hold_keeper keeper;
	memset(&outcome, 0, sizeof(outcome));
	if (opts->action == ACTION_HOLD &&
		hold_start(opts, &keeper, startup, &outcome) == HOLD_ROLE_RWITH) {
		if (fflush(stdout) != 0 && outcome.err.kind == RW_ERROR_NONE) {
			error_set(&outcome.err, RW_ERROR_INTERNAL, "cannot write to stdout");
		}
		return report(&outcome, opts, ret_signal);
	}
	if (opts->action == ACTION_RUN) {
		child_spare_start(); /* now, while there is little memory to copy */
	}
	int rc = uv_loop_init(&loop);
	if (rc < 0) {
		child_spare_drop();
		log_msg(LOG_ERROR, "cannot set up the event loop: %s; %s", uv_strerror(rc),
			default_hint(RW_ERROR_INTERNAL));
		return EXIT_INTERNAL;
	}
	struct tls_context *tls = NULL;
	bool any_tls = false;
	for (size_t i = 0; i < opts->server_count; i++) {
		any_tls = any_tls || opts->servers[i].tls;
	}
	if (!any_tls || tls_context_create(opts->tls_ca, &tls, &outcome.err) == 0) {
		run_action(&loop, opts, tls, startup, &keeper, &outcome);
	}
	child_spare_drop(); /* unused: the run ended before its command */
	tls_context_destroy(tls);
	rc = uv_loop_close(&loop);
	if (rc < 0) {
		log_msg(LOG_DEBUG, "event loop closed with handles open: %s, ignoring", uv_strerror(rc));
	}
	return report(&outcome, opts, ret_signal);
}

/* Dies of `sig`, as sudo does when its command was killed by a signal: a shell then reports
 * 128+N as it would without rwith, a loop stops at Ctrl-C (bash ends a loop only when its
 * child died of SIGINT), systemd records a clean stop. Never with a core dump: the command
 * dumped its own, if any. Returns if `sig` does not end a process by default. */
static void die_of_signal(int sig) {
	struct rlimit no_core = {0, 0};
	sigset_t set;
	(void)fflush(NULL);
	(void)setrlimit(RLIMIT_CORE, &no_core);
	(void)signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	(void)sigprocmask(SIG_UNBLOCK, &set, NULL);
	(void)raise(sig);
}

int main(int argc, char **argv) {
	struct child_startup startup;
	child_capture_startup(&startup);
	/* A server that hangs up must give us EPIPE, not kill us; the command gets SIGPIPE
	 * back as it was (see child.c). */
	(void)signal(SIGPIPE, SIG_IGN);

	struct rw_env env = {
		.rwith_redis_url = getenv("RWITH_REDIS_URL"),
		.redis_url = getenv("REDIS_URL"),
		.tls_ca = getenv("RWITH_TLS_CA"),
		.notify_socket = getenv("NOTIFY_SOCKET"),
		.hold = getenv("RWITH_HOLD"),
	};
	struct rw_options opts;
	struct rw_error err = {0};
	if (options_parse(argc, argv, &env, &opts, &err) < 0) {
		return usage_error(&err);
	}
	int status;
	int sig = 0;
	switch (opts.action) {
	case ACTION_HELP:
		fputs(usage_text, stdout);
		status = fflush(stdout) == 0 ? 0 : EXIT_INTERNAL;
		break;
	case ACTION_VERSION:
		print_version();
		status = fflush(stdout) == 0 ? 0 : EXIT_INTERNAL;
		break;
	default:
		log_init(level_for(opts.verbosity));
		status = run(&opts, &startup, &sig);
		break;
	}
	options_finish(&opts);
	if (sig > 0) {
		die_of_signal(sig);
	}
	return status;
}
