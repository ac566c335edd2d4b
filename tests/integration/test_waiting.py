"""Waiting for a held lock: -n, -E, -w/--timeout, waiting for ever; the order of the
commands; a waiter that gives up leaves nothing behind; the server lost while waiting."""

import os
import shlex
import time

import harness
from harness import EX_LOST, EX_SERVER, Scope


def start_holder(sc, srv, lock, seconds=100, extra=()):
    """A holder whose command logs "A start"/"A end" to sc.path('log') around a sleep."""
    log = shlex.quote(sc.path("log"))
    ready = sc.path(f"holder-ready-{sc.counter + 1}")
    p = sc.start(["-r", srv.url(), *extra, lock, "--", "sh", "-c",
                  f"echo 'A start' >> {log}; touch {shlex.quote(ready)}; sleep {seconds}; "
                  f"echo 'A end' >> {log}"])
    harness.wait_until(lambda: os.path.exists(ready) or not p.running(), 20,
                       "the holder's command to start")
    assert p.running(), f"the holder ended early:\n{p.wait().describe()}"
    return p


def test_nonblock_on_held_lock():
    with Scope("wait-n") as sc:
        srv = sc.redis()
        lock = sc.lock("n")
        holder = start_holder(sc, srv, lock)
        ran = sc.path("ran")
        # flock(1)'s spellings too: --nb, --nonblocking, and -e for exclusive.
        for flags in (["-n"], ["--nonblock"], ["-w", "0"], ["--timeout", "0"], ["--nb"],
                      ["--nonblocking"], ["-e", "-n"]):
            res = sc.run(["-r", srv.url(), *flags, lock, "--", "touch", ran])
            res.expect(1, f"{' '.join(flags)} on a held lock").expect_diagnostic(lock)
            assert res.elapsed < 5, f"{flags} waited {res.elapsed:.2f} s"
        assert not os.path.exists(ran), "the command ran without the lock"
        holder.signal(15)
        holder.wait().expect(143)


def test_conflict_exit_code():
    with Scope("wait-E") as sc:
        srv = sc.redis()
        lock = sc.lock("E")
        holder = start_holder(sc, srv, lock)
        ran = sc.path("ran")
        sc.run(["-r", srv.url(), "-n", "-E", "5", lock, "--", "touch", ran]).expect(5) \
            .expect_diagnostic(lock)
        sc.run(["-r", srv.url(), "-n", "--conflict-exit-code", "200", lock, "--", "touch",
                ran]).expect(200).expect_diagnostic(lock)
        sc.run(["-r", srv.url(), "-n", "-E", "0", lock, "--", "touch", ran]).expect(0)
        assert not os.path.exists(ran), "the command ran without the lock"
        holder.signal(15)
        holder.wait().expect(143)


def test_wait_runs_out():
    with Scope("wait-w") as sc:
        srv = sc.redis()
        lock = sc.lock("w")
        holder = start_holder(sc, srv, lock)
        ran = sc.path("ran")
        res = sc.run(["-r", srv.url(), "-w", "1s", lock, "--", "touch", ran])
        res.expect(1, "-w 1s on a held lock").expect_diagnostic(lock)
        assert 0.95 <= res.elapsed < 8, f"-w 1s gave up after {res.elapsed:.2f} s"
        res = sc.run(["-r", srv.url(), "--timeout", "1500ms", "-E", "9", lock, "--", "touch",
                      ran])
        res.expect(9, "--timeout 1500ms -E 9 on a held lock").expect_diagnostic(lock)
        assert 1.45 <= res.elapsed < 8, f"--timeout 1500ms gave up after {res.elapsed:.2f} s"
        assert not os.path.exists(ran), "the command ran without the lock"
        # The waiters that gave up left nothing that delays the next one.
        holder.signal(15)
        holder.wait().expect(143)
        sc.try_lock(srv.url(), lock).expect(0, "free right after the holder")


def test_give_up_message_counts_the_whole_hold():
    """The message at -w's end says how long the holder has held the lock by then, not at
    the waiter's last look (which came right at its start)."""
    import re
    with Scope("wait-held-for") as sc:
        srv = sc.redis()
        lock = sc.lock("held")
        holder = start_holder(sc, srv, lock)
        res = sc.run(["-r", srv.url(), "-w", "3s", lock, "--", "true"])
        res.expect(1, "-w 3s on a held lock").expect_diagnostic("held by")
        held = [int(x) for x in re.findall(r"for (\d+)s", res.stderr)]
        assert held and held[-1] >= 3, f"the holder held it for 3 s at least:\n{res.describe()}"
        holder.signal(15)
        holder.wait().expect(143)


def waiter_after_holder(extra):
    with Scope("wait-forever" if not extra else "wait-within") as sc:
        srv = sc.redis()
        lock = sc.lock("f")
        holder = start_holder(sc, srv, lock, seconds=1.5)
        log = shlex.quote(sc.path("log"))
        waiter = sc.start(["-r", srv.url(), *extra, lock, "--", "sh", "-c",
                           f"echo 'B start' >> {log}; echo 'B end' >> {log}"])
        holder.wait(timeout=30).expect(0)
        waiter.wait(timeout=30).expect(0, "the waiter gets the lock after the holder")
        lines = harness.read_file(sc.path("log")).splitlines()
        assert lines == ["A start", "A end", "B start", "B end"], (
            f"the commands overlapped or ran out of order: {lines}")


def test_wait_forever_acquires_after_release():
    waiter_after_holder([])


def test_wait_within_limit_acquires():
    waiter_after_holder(["-w", "20s"])


def test_server_restart_while_waiting():
    """The server restarts (empty) while B waits: A's lock is gone (75), B reconnects and
    gets the lock."""
    with Scope("wait-restart") as sc:
        srv = sc.redis()
        lock = sc.lock("r")
        holder = start_holder(sc, srv, lock, extra=["-t", "3s"])
        ran = sc.path("ran")
        waiter = sc.start(["-r", srv.url(), "-t", "3s", lock, "--", "touch", ran])
        time.sleep(0.5)
        assert waiter.running(), f"the waiter did not wait:\n{waiter.wait().describe()}"
        srv.restart()
        holder.wait(timeout=30).expect(EX_LOST, "the holder's lock vanished with the restart")
        waiter.wait(timeout=30).expect(0, "the waiter reconnected and got the lock")
        assert os.path.exists(ran), "the waiter's command did not run"


def test_server_gone_while_waiting():
    """The server dies for good while B waits (-t 2s): no reconnect succeeds within one
    TTL, so B exits 69."""
    with Scope("wait-gone") as sc:
        srv = sc.redis()
        lock = sc.lock("g")
        holder = start_holder(sc, srv, lock, extra=["-t", "2s"])
        ran = sc.path("ran")
        waiter = sc.start(["-r", srv.url(), "-t", "2s", lock, "--", "touch", ran])
        time.sleep(0.5)
        assert waiter.running(), f"the waiter did not wait:\n{waiter.wait().describe()}"
        srv.kill()
        killed_at = time.monotonic()
        res = waiter.wait(timeout=30)
        res.expect(EX_SERVER, "the server is gone while waiting").expect_diagnostic()
        assert res.end - killed_at < 2 + 4, (
            f"the waiter gave up {res.end - killed_at:.2f} s after the server died (TTL 2 s)")
        assert not os.path.exists(ran), "the command ran without the lock"
        holder.wait(timeout=30).expect(EX_LOST)


if __name__ == "__main__":
    harness.main(globals())
