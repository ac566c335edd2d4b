/* child_exit_status on real wait statuses: an exit code passes through, a signal N gives
 * 128+N. */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"

/* Forks a child that exits with `code`, or kills itself with `sig` when sig != 0, and
 * returns its wait status from waitpid. */
static int wait_status_of(int code, int sig) {
	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (sig != 0) {
			struct sigaction dfl = {0};
			dfl.sa_handler = SIG_DFL;
			/* Criterion's own handlers must not catch the signal. */
			(void)sigaction(sig, &dfl, NULL);
			sigset_t set;
			sigemptyset(&set);
			sigaddset(&set, sig);
			(void)sigprocmask(SIG_UNBLOCK, &set, NULL);
			(void)raise(sig);
			pause();
		}
		_exit(code);
	}
	int status;
	pid_t got;
	while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
	}
	cr_assert_eq(got, pid, "waitpid: %s", strerror(errno));
	return status;
}

Test(child_status, exit_codes_pass_through) {
	static const int codes[] = {0, 1, 7, 64, 126, 127, 255};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		int status = wait_status_of(codes[i], 0);
		cr_assert(WIFEXITED(status));
		cr_expect_eq(child_exit_status(status), codes[i], "exit %d", codes[i]);
	}
}

Test(child_status, signals_give_128_plus_n) {
	static const struct {
		int sig;
		int want;
	} cases[] = {
		{SIGTERM, 143},
		{SIGKILL, 137},
		{SIGINT, 130},
		{SIGHUP, 129},
		{SIGUSR1, 128 + SIGUSR1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status = wait_status_of(0, cases[i].sig);
		cr_assert(WIFSIGNALED(status), "signal %d", cases[i].sig);
		cr_assert_eq(WTERMSIG(status), cases[i].sig);
		cr_expect_eq(child_exit_status(status), cases[i].want, "signal %d", cases[i].sig);
	}
}
