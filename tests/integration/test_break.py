"""rwith --break LOCK: removes every holder, says what it removed, wakes the next waiter at
once; an evicted holder notices at its next heartbeat, terminates its command (the whole
process group) and exits 75; exit 0, also for a free lock, and 69 when the server cannot be
used."""

import os
import signal
import socket
import time

import harness
from harness import (EX_LOST, EX_SERVER, Scope, expect_at_once, finish, hold, lock_status,
                     queue_waiter, queue_waiters, start_stuck_holder)


def run_break(sc, url, lock, extra=()):
    res = sc.run(["-r", url, "--break", *extra, lock])
    return res.expect(0, "--break")


def test_break_free_lock():
    """Nothing to remove: exit 0, says so, and leaves the server as it was."""
    with Scope("break-free") as sc:
        srv = sc.redis()
        url = srv.url()
        never = sc.lock("never")
        res = run_break(sc, url, never)
        assert never in res.out and "removed holder" not in res.out, (
            f"--break of a free lock does not say that nothing was removed:\n{res.describe()}")
        assert "nothing removed" in res.out, (
            f"--break of a free lock does not say 'nothing removed':\n{res.describe()}")
        assert srv.lock_keys(never) == [], f"--break created keys: {srv.lock_keys(never)}"
        used = sc.lock("used")
        sc.run(["-r", url, used, "--", "true"]).expect(0)
        res = run_break(sc, url, used)
        assert used in res.out and "removed holder" not in res.out, res.describe()
        assert "nothing removed" in res.out, res.describe()
        assert harness.leftover_keys(srv, used) == [], "keys left behind"
        sc.try_lock(url, used).expect(0, "free after --break")


def test_break_end_to_end():
    """A stuck holder (TTL 30 s, heartbeat 1 s) with a waiter (default TTL): --break names the
    holder and exits 0; the waiter gets the lock at once; the evicted holder's command (its
    whole process group) is terminated at its next heartbeat and rwith exits 75, long before
    its TTL would have run out."""
    with Scope("break-e2e") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("e2e")
        holder, fence, pids = start_stuck_holder(
            sc, url, lock, "A", extra=["-t", "30s", "--heartbeat", "1s", "-T", "stuck 'job'"])
        waiter = queue_waiter(sc, url, lock, "B", 1)

        res = run_break(sc, url, lock)
        broke_wall, broke_mono = time.time(), time.monotonic()
        lines = [line for line in res.out.splitlines() if line.strip()]
        assert len(lines) == 1, f"want one line for the one holder removed:\n{res.describe()}"
        for needle in (lock, "removed", f"{socket.gethostname()}:{holder.pid}", "stuck 'job'",
                       str(fence)):
            assert needle in lines[0], f"--break's report lacks {needle!r}:\n{res.describe()}"

        waiter.started(timeout=20)
        # Woken by the server; the waiter's own re-check would come after 15 s.
        expect_at_once(waiter.start_time, broke_wall, "the waiter's start after --break")
        assert waiter.fence > fence, f"fence {waiter.fence} after the evicted {fence}"

        res = holder.wait(timeout=30)
        res.expect(EX_LOST, "the evicted holder").expect_diagnostic(lock)
        noticed = res.end - broke_mono
        assert noticed < 1 + 6, (
            f"the evicted holder took {noticed:.1f} s to end (heartbeat 1 s, TTL 30 s)")
        harness.wait_dead(pids, 10, "the evicted holder's command and its process group")
        assert not os.path.exists(sc.path("A.ended")), "the evicted command ran on to its end"

        status = lock_status(sc, url, lock)
        assert [h["pid"] for h in status["holders"]] == [waiter.pid], (
            f"the waiter should hold the lock now: {status}")
        finish(waiter)
        assert harness.leftover_keys(srv, lock) == [], "keys left behind"


def test_break_several_holders_and_waiters():
    """A semaphore (-l 2) with two stuck holders and two waiters: --break removes both
    holders (one line each), wakes both waiters at once; both holders exit 75."""
    with Scope("break-several") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("several")
        extra = ["-l", "2", "-t", "30s", "--heartbeat", "1s"]
        stuck = [start_stuck_holder(sc, url, lock, name, extra=extra + ["-T", f"job {name}"])
                 for name in ("A1", "A2")]
        waiters = queue_waiters(sc, url, lock, ["W0", "W1"], extra=["-l", "2"])
        res = run_break(sc, url, lock)
        broke_wall = time.time()
        lines = [line for line in res.out.splitlines() if line.strip()]
        assert len(lines) == 2, f"want one line per removed holder:\n{res.describe()}"
        for proc, fence, _ in stuck:
            assert sum(f":{proc.pid} " in line and str(fence) in line for line in lines) == 1, (
                f"holder {proc.pid} (fence {fence}) is not reported once:\n{res.describe()}")
        for w in waiters:
            w.started(timeout=20)
            expect_at_once(w.start_time, broke_wall, f"waiter {w.name}'s start after --break")
        for proc, _, pids in stuck:
            proc.wait(timeout=30).expect(EX_LOST, "an evicted holder").expect_diagnostic(lock)
            harness.wait_dead(pids, 10, "an evicted holder's command")
        finish(*waiters)


def test_break_holder_between_heartbeats_ignores_release():
    """The evicted holder's command ends by itself before its next heartbeat: the lock was
    gone by then, so rwith exits 75 (not the command's 0), and its release does not remove
    the next holder."""
    with Scope("break-release") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("between")
        evicted = hold(sc, url, lock, "A", extra=["-t", "60s"])  # heartbeat every 20 s
        run_break(sc, url, lock)
        nxt = hold(sc, url, lock, "B")
        evicted.release()
        res = evicted.wait(timeout=30)
        res.expect(EX_LOST, "the command ended after its lock was broken").expect_diagnostic(lock)
        status = lock_status(sc, url, lock)
        assert [h["pid"] for h in status["holders"]] == [nxt.pid], (
            f"the evicted holder's release touched the new holder: {status}")
        finish(nxt)


def test_break_server_unusable():
    """--break exits 69 with a 'rwith: ' line and nothing on stdout when the server is
    unreachable, refuses the password or does not speak RESP."""
    with Scope("break-69") as sc:
        srv = sc.redis(password="s3cret")
        garbage = sc.fake("garbage")
        lock = sc.lock("x")
        for url in (f"redis://127.0.0.1:{harness.closed_port()}", srv.url(password="wrong"),
                    garbage.url):
            res = sc.run(["-r", url, "--break", lock], timeout=30)
            res.expect(EX_SERVER, f"--break with {url}").expect_diagnostic()
            assert res.stdout == b"", f"--break reported something:\n{res.describe()}"
            assert res.elapsed < 10, f"--break took {res.elapsed:.1f} s to give up"
            assert "wrong" not in res.stderr, f"the password shows:\n{res.describe()}"


def test_break_then_waiter_with_sigstopped_holder():
    """A holder that is stopped (SIGSTOP, e.g. a hung machine) cannot react; --break frees
    the lock for the waiter anyway; once the holder continues it finds its lock gone, kills
    its command and exits 75."""
    with Scope("break-stopped") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("stopped")
        holder, fence, pids = start_stuck_holder(sc, url, lock, "A",
                                                 extra=["-t", "30s", "--heartbeat", "1s"])
        waiter = queue_waiter(sc, url, lock, "B", 1)
        holder.signal(signal.SIGSTOP)
        try:
            run_break(sc, url, lock)
            waiter.started(timeout=20)
        finally:
            holder.signal(signal.SIGCONT)
        holder.wait(timeout=30).expect(EX_LOST, "the evicted holder after SIGCONT")
        harness.wait_dead(pids, 10, "the evicted holder's command")
        finish(waiter)


if __name__ == "__main__":
    harness.main(globals())
