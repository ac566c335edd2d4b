"""Exit statuses: the command's own, 128+N, 126, 127, and rwith's --help/--version."""

import os
import signal
import stat

import harness
from harness import Scope


def run_cmd(sc, srv, *command, name="status"):
    return sc.run(["-r", srv.url(), sc.lock(name), "--", *command])


def test_true_exits_0():
    with Scope("exit-true") as sc:
        srv = sc.redis()
        run_cmd(sc, srv, "true").expect(0)


def test_own_exit_code():
    with Scope("exit-own") as sc:
        srv = sc.redis()
        for code in (1, 7, 42, 200, 255):
            run_cmd(sc, srv, "sh", "-c", f"exit {code}").expect(code, "the command's own status")


def test_killed_by_sigterm_is_143():
    with Scope("exit-sigterm") as sc:
        srv = sc.redis()
        run_cmd(sc, srv, "sh", "-c", "kill -TERM $$").expect(143, "128 + SIGTERM")


def test_killed_by_sigkill_is_137():
    with Scope("exit-sigkill") as sc:
        srv = sc.redis()
        run_cmd(sc, srv, "sh", "-c", "kill -KILL $$").expect(137, "128 + SIGKILL")


def test_killed_by_sigsegv_is_139():
    with Scope("exit-sigsegv") as sc:
        srv = sc.redis()
        run_cmd(sc, srv, "sh", "-c", "kill -SEGV $$").expect(139, "128 + SIGSEGV")


def raw_wait_status(sc, args):
    """Runs rwith and returns its raw wait status, as its parent (a shell, systemd) sees it."""
    proc = sc.start(args)
    _, status = os.waitpid(proc.pid, 0)
    proc.proc.returncode = 0  # reaped here; Popen must not wait for it again
    return status


def test_dies_of_the_commands_signal():
    """A command killed by signal N: rwith releases the lock, then dies of N itself (as sudo
    does), without a core dump; a command that exits 130 by itself makes rwith exit 130."""
    with Scope("exit-die-of-signal") as sc:
        srv = sc.redis()
        lock = sc.lock("die")
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGSEGV):
            status = raw_wait_status(sc, ["-r", srv.url(), lock, "--", "sh", "-c",
                                          f"kill -{sig.name[3:]} $$"])
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == sig, \
                f"{sig.name}: wait status {status:#x}, want death by {sig.name}"
            assert not os.WCOREDUMP(status), f"{sig.name}: rwith dumped core"
            sc.try_lock(srv.url(), lock).expect(0, f"released before dying of {sig.name}")
        status = raw_wait_status(sc, ["-r", srv.url(), lock, "--", "sh", "-c", "exit 130"])
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 130, f"{status:#x}"


def test_dies_of_the_signal_that_ends_the_wait():
    """SIGTERM while waiting: rwith leaves the queue and dies of SIGTERM (systemd records a
    clean stop), with its one line on stderr."""
    with Scope("exit-wait-signal") as sc:
        srv = sc.redis()
        lock = sc.lock("wait")
        holder = harness.hold(sc, srv.url(), lock)
        waiter = sc.start(["-r", srv.url(), lock, "--", "true"])
        harness.wait_waiters(sc, srv.url(), lock, 1)
        waiter.signal(signal.SIGTERM)
        _, status = os.waitpid(waiter.pid, 0)
        waiter.proc.returncode = 0
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM, f"{status:#x}"
        assert waiter.stderr.startswith("rwith: "), waiter.stderr
        harness.finish(holder)


def test_not_found_is_127():
    with Scope("exit-notfound") as sc:
        srv = sc.redis()
        res = run_cmd(sc, srv, "/no/such/command")
        res.expect(127).expect_diagnostic("/no/such/command")
        res = run_cmd(sc, srv, "no-such-command-in-path-xyzzy")
        res.expect(127).expect_diagnostic("no-such-command-in-path-xyzzy")


def test_not_executable_is_126():
    with Scope("exit-noexec") as sc:
        srv = sc.redis()
        script = sc.path("not-executable.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(script, stat.S_IRUSR | stat.S_IWUSR)
        res = run_cmd(sc, srv, script)
        res.expect(126, "a file without the execute bit").expect_diagnostic()
        res = run_cmd(sc, srv, sc.dir)
        res.expect(126, "a directory").expect_diagnostic()


def test_script_without_shebang_runs_with_sh():
    """A script without "#!" runs with /bin/sh, by path or found in $PATH, as execvp(3), the
    shells, flock(1) and timeout(1) run it."""
    with Scope("exit-noshebang") as sc:
        srv = sc.redis()
        bindir = sc.path("bin")
        os.mkdir(bindir)
        script = os.path.join(bindir, "no-shebang-script")
        with open(script, "w") as f:
            f.write('echo "ran:$0:$1:$2"\nexit 9\n')
        os.chmod(script, stat.S_IRWXU)
        res = run_cmd(sc, srv, script, "a", "b c").expect(9, "the script's own status")
        assert res.out == f"ran:{script}:a:b c\n", f"by path: {res.out!r}"
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
        res = sc.run(["-r", srv.url(), sc.lock("status"), "--", "no-shebang-script", "x"],
                      env=env).expect(9, "the script's own status")
        assert res.out == f"ran:{script}:x:\n", f"found in $PATH: {res.out!r}"


def test_failed_exec_releases_lock():
    with Scope("exit-exec-release") as sc:
        srv = sc.redis()
        lock = sc.lock("l")
        sc.run(["-r", srv.url(), lock, "--", "/no/such/command"]).expect(127)
        sc.try_lock(srv.url(), lock).expect(0, "the lock is free after a command not found")


def test_shell_command_status():
    with Scope("exit-shell") as sc:
        srv = sc.redis()
        sc.run(["-r", srv.url(), sc.lock("c"), "-c", "exit 3"]).expect(3)
        res = sc.run(["-r", srv.url(), sc.lock("c"), "-c", "echo one; echo two"]).expect(0)
        assert res.out == "one\ntwo\n", f"-c output: {res.out!r}"
        sc.run(["-r", srv.url(), sc.lock("c"), "-c", "kill -TERM $$"]).expect(143)


def test_help_and_version():
    with Scope("exit-help") as sc:
        for flag in ("--help", "-h"):
            res = sc.run([flag]).expect(0)
            assert "rwith" in res.out and "--" in res.out, f"{flag} prints the usage:\n{res.describe()}"
            assert res.stderr == "", f"{flag} writes nothing to stderr\n{res.describe()}"
        res = sc.run(["--version"]).expect(0)
        assert res.out.startswith("rwith "), f"--version output: {res.out!r}"


if __name__ == "__main__":
    harness.main(globals())
