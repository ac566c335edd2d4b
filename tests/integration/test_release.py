"""Release: after the command ends the holder's entry is gone; a release that cannot
reach the server warns and keeps the command's status; a holder whose lock expired never
removes another holder's entry."""

import os
import signal
import time

import harness
from harness import EX_LOST, Scope


def test_no_holder_keys_after_runs():
    with Scope("rel-clean") as sc:
        srv = sc.redis()
        lock = sc.lock("clean")
        for command, status in ((["true"], 0), (["sh", "-c", "exit 7"], 7),
                                (["sh", "-c", "kill -TERM $$"], 143),
                                (["/no/such/command"], 127)):
            sc.run(["-r", srv.url(), lock, "--", *command]).expect(status)
            with srv.client() as c:
                left = c.keys("rwith:*holders*")
                everything = c.keys("*")
            assert not left, (f"holder keys remain after `{' '.join(command)}` exited: {left} "
                              f"(all keys: {everything})")
            sc.try_lock(srv.url(), lock).expect(0, "the lock is free at once")


def test_release_unreachable_keeps_status():
    """The command pauses the server (SIGSTOP) and exits 3: rwith cannot release, warns,
    and exits 3 (the lock was valid while the command ran; it frees itself by its TTL).
    Only if the TTL had passed by then would 75 be right."""
    with Scope("rel-unreachable") as sc:
        srv = sc.redis()
        lock = sc.lock("u")
        ttl_s = 10
        srv.paused = True  # the command pauses it; make sure cleanup continues it
        t0 = time.monotonic()
        res = sc.run(["-r", srv.url(), "-t", f"{ttl_s}s", lock, "--", "sh", "-c",
                      f"kill -STOP {srv.pid}; exit 3"], timeout=60)
        srv.resume()
        if res.status == EX_LOST:
            assert time.monotonic() - t0 >= ttl_s, (
                f"75 although the TTL ({ttl_s} s) had not passed\n{res.describe()}")
        else:
            res.expect(3, "the command's status is kept when only the release failed")
        res.expect_diagnostic(lock)
        assert res.elapsed < ttl_s + 5, f"rwith hung on the release for {res.elapsed:.1f} s"


def test_expired_holder_cannot_release_others():
    """A (-t 1s) is frozen until its lock expires and B takes the lock. When A runs again
    it finds its lock gone, terminates its command, exits 75, and B keeps the lock."""
    with Scope("rel-token") as sc:
        srv = sc.redis()
        lock = sc.lock("t")
        ready_a, ready_b = sc.path("ready-a"), sc.path("ready-b")
        a = sc.start(["-r", srv.url(), "-t", "1s", lock, "--", "sh", "-c",
                      harness.sh_ready_then_sleep(ready_a)])
        pid_a = int(harness.wait_for_file(ready_a))
        a.signal(signal.SIGSTOP)
        try:
            b = sc.start(["-r", srv.url(), "-t", "30s", lock, "--", "sh", "-c",
                          harness.sh_ready_then_sleep(ready_b)])
            harness.wait_for_file(ready_b, 30, "B to get the lock after A's expired")
        finally:
            a.signal(signal.SIGCONT)
        a.wait(timeout=30).expect(EX_LOST, "A's lock expired while it was stopped")
        harness.wait_dead([pid_a], 10, "A's command to be terminated")
        assert b.running(), f"B ended:\n{b.wait().describe()}"
        sc.try_lock(srv.url(), lock).expect(1, "B still holds the lock after A's exit")
        b.signal(signal.SIGTERM)
        b.wait(timeout=30).expect(143)
        sc.try_lock(srv.url(), lock).expect(0)


def test_release_is_prompt():
    """A released lock is free for the next -n at once, many times in a row."""
    with Scope("rel-prompt") as sc:
        srv = sc.redis()
        lock = sc.lock("p")
        for _ in range(20):
            sc.run(["-r", srv.url(), lock, "--", "true"]).expect(0)
            sc.try_lock(srv.url(), lock).expect(0)


if __name__ == "__main__":
    harness.main(globals())
