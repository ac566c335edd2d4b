"""The FIFO queue: waiters are served in arrival order and woken by the server; a waiter
that gives up, is interrupted or is killed leaves nothing that delays the others by more
than one TTL; waiters ride out a server restart."""

import json
import os
import shlex
import signal
import time

import harness
from harness import Scope


def holder(sc, srv, lock, go, extra=()):
    """A holder that runs until the file `go` exists; returns once it holds the lock."""
    ready = sc.path(f"ready-{sc.counter + 1}")
    q_go, q_ready = shlex.quote(go), shlex.quote(ready)
    p = sc.start(["-r", srv.url(), *extra, lock, "--", "sh", "-c",
                  f"echo up > {q_ready}; while [ ! -e {q_go} ]; do sleep 0.02; done"])
    harness.wait_for_file(ready, 20, "the holder to start")
    return p


def waiters_queued(sc, srv, lock, count):
    def check():
        res = sc.run(["-r", srv.url(), "--status", "--json", lock])
        return res.status == 0 and json.loads(res.out)["waiters"] >= count
    harness.wait_until(check, 20, f"{count} waiter(s) to queue")


def touch(path):
    with open(path, "w") as f:
        f.write("go\n")


def test_fifo_order_of_staggered_waiters():
    with Scope("q-fifo") as sc:
        srv = sc.redis()
        lock = sc.lock("fifo")
        go, log = sc.path("go"), sc.path("order")
        first = holder(sc, srv, lock, go)
        waiters = []
        for i in range(6):
            waiters.append(sc.start(["-r", srv.url(), lock, "--", "sh", "-c",
                                     f"echo {i} >> {shlex.quote(log)}; sleep 0.05"]))
            waiters_queued(sc, srv, lock, i + 1)  # arrival order is certain
        touch(go)
        first.wait().expect(0)
        for w in waiters:
            w.wait(timeout=60).expect(0)
        order = harness.read_file(log).split()
        assert order == [str(i) for i in range(6)], f"served out of order: {order}"


def test_released_lock_passes_at_once_even_with_long_ttl():
    with Scope("q-handoff") as sc:
        srv = sc.redis()
        lock = sc.lock("handoff")
        go, started = sc.path("go"), sc.path("started")
        first = holder(sc, srv, lock, go, extra=["-t", "10s"])
        w = sc.start(["-r", srv.url(), "-t", "10s", lock, "--", "sh", "-c",
                      f"echo up > {shlex.quote(started)}"])
        waiters_queued(sc, srv, lock, 1)
        touch(go)
        released = time.monotonic()
        first.wait().expect(0)
        harness.wait_for_file(started, 20, "the waiter's command")
        took = time.monotonic() - released
        w.wait().expect(0)
        # Polling at a holder's TTL would take seconds; a wake-up takes milliseconds. 1.5 s
        # leave room for a slow machine and are still far from the 10 s TTL.
        assert took < 1.5, f"the waiter started {took:.2f} s after the release"


def run_until_queued_then(sc, srv, lock, extra, action):
    """Starts a waiter with `extra`, waits until it is queued, then does `action(p)`."""
    p = sc.start(["-r", srv.url(), *extra, lock, "--", "true"])
    waiters_queued(sc, srv, lock, 1)
    return action(p)


def check_no_residue(sc, srv, lock, go, first, gone_waiter_desc):
    """After a waiter left, a new waiter gets the lock within milliseconds of the release."""
    started = sc.path("next-started")
    nxt = sc.start(["-r", srv.url(), "-t", "10s", lock, "--", "sh", "-c",
                    f"echo up > {shlex.quote(started)}"])
    waiters_queued(sc, srv, lock, 1)
    touch(go)
    released = time.monotonic()
    first.wait().expect(0)
    harness.wait_for_file(started, 20, "the next waiter's command")
    took = time.monotonic() - released
    nxt.wait().expect(0)
    assert took < 1.5, (f"after {gone_waiter_desc}, the next waiter started {took:.2f} s after "
                        "the release (a stale queue entry delayed it)")


def test_interrupted_waiter_leaves_no_residue():
    with Scope("q-int") as sc:
        srv = sc.redis()
        lock = sc.lock("int")
        go = sc.path("go")
        first = holder(sc, srv, lock, go, extra=["-t", "10s"])

        def interrupt(p):
            p.signal(signal.SIGINT)
            return p.wait()
        res = run_until_queued_then(sc, srv, lock, ["-t", "10s"], interrupt)
        res.expect(130, "SIGINT while waiting").expect_diagnostic(lock)
        status = json.loads(sc.run(["-r", srv.url(), "--status", "--json", lock]).out)
        assert status["waiters"] == 0, f"the interrupted waiter is still queued: {status}"
        check_no_residue(sc, srv, lock, go, first, "an interrupted waiter")


def test_timed_out_waiter_leaves_no_residue():
    with Scope("q-timeout") as sc:
        srv = sc.redis()
        lock = sc.lock("timeout")
        go = sc.path("go")
        first = holder(sc, srv, lock, go, extra=["-t", "10s"])
        res = sc.run(["-r", srv.url(), "-t", "10s", "-w", "1s", lock, "--", "true"])
        res.expect(1, "--wait ran out").expect_diagnostic(lock)
        status = json.loads(sc.run(["-r", srv.url(), "--status", "--json", lock]).out)
        assert status["waiters"] == 0, f"the timed-out waiter is still queued: {status}"
        check_no_residue(sc, srv, lock, go, first, "a timed-out waiter")


def test_killed_waiter_delays_others_at_most_one_ttl():
    with Scope("q-kill") as sc:
        srv = sc.redis()
        lock = sc.lock("kill")
        go, started = sc.path("go"), sc.path("started")
        first = holder(sc, srv, lock, go, extra=["-t", "2s"])

        def kill(p):
            p.signal(signal.SIGKILL)
            p.wait()
            return time.monotonic()
        killed_at = run_until_queued_then(sc, srv, lock, ["-t", "2s"], kill)
        nxt = sc.start(["-r", srv.url(), "-t", "2s", lock, "--", "sh", "-c",
                        f"echo up > {shlex.quote(started)}"])
        waiters_queued(sc, srv, lock, 2)
        touch(go)
        first.wait().expect(0)
        harness.wait_for_file(started, 20, "the waiter behind the killed one")
        waited = time.monotonic() - killed_at
        nxt.wait().expect(0)
        # The dead waiter's place expires one TTL (2 s) after its last renewal, which was
        # before the kill; the waiter behind it looks again then. Generous slack for load.
        assert waited < 2.0 + 2.5, f"the killed waiter delayed the next one {waited:.2f} s"


def test_server_restart_while_waiting():
    with Scope("q-restart") as sc:
        srv = sc.redis()
        lock = sc.lock("restart")
        ran = sc.path("ran")
        go = sc.path("go")
        first = holder(sc, srv, lock, go, extra=["-t", "3s"])
        w = sc.start(["-r", srv.url(), "-t", "3s", lock, "--", "sh", "-c",
                      f"echo ran > {shlex.quote(ran)}"])
        waiters_queued(sc, srv, lock, 1)
        srv.restart()  # the lock and the queue are gone; the waiter reconnects
        touch(go)
        res = w.wait(timeout=30)
        res.expect(0, "the waiter gets the lock after the restart")
        assert harness.read_file(ran, "").strip() == "ran"
        first.wait(timeout=30)  # its lock vanished with the restart: 75 or 0, either is fine


def total_commands(srv):
    with srv.client() as c:
        info = c.call("INFO", "stats")
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith("total_commands_processed:"):
            return int(line.split(":")[1])
    raise AssertionError(f"no total_commands_processed in INFO: {text[:200]}")


def test_waiter_does_not_poll():
    """A queued waiter blocks on its wake-up: over 3 s with the default TTL it sends nothing
    (polling every 10-200 ms would send dozens of requests)."""
    with Scope("q-nopoll") as sc:
        srv = sc.redis()
        lock = sc.lock("nopoll")
        go = sc.path("go")
        first = holder(sc, srv, lock, go)
        w = sc.start(["-r", srv.url(), lock, "--", "true"])
        waiters_queued(sc, srv, lock, 1)
        before = total_commands(srv)
        time.sleep(3)
        # INFO itself counts once; scripts count their inner commands, so allow one look.
        spent = total_commands(srv) - before - 1
        assert spent <= 15, f"the waiter made the server run {spent} commands in 3 s"
        touch(go)
        first.wait().expect(0)
        w.wait().expect(0)
