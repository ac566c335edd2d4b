"""rwith's own death: when rwith is SIGKILLed, the command and everything in its process
group die at once, and the lock frees itself within one TTL."""

import os
import signal
import time

import harness
from harness import Scope

PROMPT_S = 3  # "at once", with room for a loaded machine


def check_frees_within(sc, url, lock, since, ttl_s):
    """Probes with rwith -n until the lock is free. The lock may be held until `since` +
    ttl_s; a probe that *started* later than that (plus a little for the server's script)
    and still found it held proves it was kept too long."""
    slack = 0.25
    while True:
        started = time.monotonic()
        res = sc.try_lock(url, lock)
        if res.status == 0:
            return
        if res.status != 1:
            raise AssertionError("rwith -n failed\n" + res.describe())
        late = started - since
        if late > ttl_s + slack:
            raise AssertionError(f"the lock was still held {late:.2f} s after the moment it "
                                 f"could be held until at most {ttl_s:g} s later (its TTL)")
        time.sleep(0.02)


def test_sigkill_kills_command_and_children():
    with Scope("death-kill") as sc:
        srv = sc.redis()
        lock = sc.lock("k")
        p, pids = harness.start_group_command(sc, srv.url(), lock, "2s")
        sc.try_lock(srv.url(), lock).expect(1, "the lock is held while the command runs")
        killed_at = time.monotonic()
        p.signal(signal.SIGKILL)
        harness.wait_dead(pids, PROMPT_S, "the command, its `sleep 100 &` child and its "
                          "foreground child to die after rwith's SIGKILL")
        # One TTL (2 s) after the last extension, which was before the kill.
        check_frees_within(sc, srv.url(), lock, killed_at, 2)


def test_sigkill_of_direct_command():
    """The command rwith exec'd itself (no shell in between) dies too."""
    with Scope("death-direct") as sc:
        srv = sc.redis()
        ready = sc.path("ready")
        p = sc.start(["-r", srv.url(), "-t", "2s", sc.lock("d"), "--", "sh", "-c",
                      harness.sh_ready_then_sleep(ready)])
        pid = int(harness.wait_for_file(ready))
        p.signal(signal.SIGKILL)
        harness.wait_dead([pid], PROMPT_S, "the command to die after rwith's SIGKILL")


def test_guard_holds_nothing_of_rwith_open():
    """The guard (the leader of the command's group) closes every descriptor it got from
    rwith: it must not keep rwith's server connection, pipes or terminal open after rwith
    closed them, nor keep a pipe reader waiting for an end of file, and a signal sent to it
    alone is consumed. Then SIGKILL on rwith still ends the group through it."""
    with Scope("death-guard") as sc:
        srv = sc.redis()
        ready = sc.path("ready")
        p = sc.start(["-r", srv.url(), sc.lock("g"), "--", "sh", "-c",
                      harness.sh_ready_then_sleep(ready)])
        pid = int(harness.wait_for_file(ready))
        guard = harness.pgrp_of(pid)
        assert guard not in (pid, p.pid), "the command's group is led by a guard process"
        assert harness.proc_stat(guard)[1] == p.pid, "the guard is rwith's child"

        def guard_fds():
            return sorted(os.listdir(f"/proc/{guard}/fd"))
        harness.wait_until(lambda: guard_fds() == [], 10, "the guard to close its descriptors")
        # It waits for signals with every one blocked: a stray one is consumed, not obeyed.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,
                    signal.SIGALRM, signal.SIGPIPE, signal.SIGRTMIN):
            os.kill(guard, sig)
        time.sleep(0.3)
        assert harness.pid_alive(guard) and harness.pid_alive(pid), (
            "signals sent to the guard alone end neither it nor the command")
        p.signal(signal.SIGKILL)
        harness.wait_dead([pid, guard], PROMPT_S, "the command and the guard to die after "
                          "rwith's SIGKILL")


def test_sigkill_while_waiting_leaves_nothing_behind():
    with Scope("death-waiter") as sc:
        srv = sc.redis()
        lock = sc.lock("w")
        ready = sc.path("ready")
        holder = sc.start(["-r", srv.url(), "-t", "2s", lock, "--", "sh", "-c",
                           harness.sh_ready_then_sleep(ready)])
        harness.wait_for_file(ready)
        waiter = sc.start(["-r", srv.url(), "-t", "2s", lock, "--", "true"])
        time.sleep(0.5)
        assert waiter.running(), f"the waiter did not wait:\n{waiter.wait().describe()}"
        waiter.signal(signal.SIGKILL)
        waiter.wait()
        holder.signal(signal.SIGTERM)
        holder.wait(timeout=30).expect(143)
        # Whatever the killed waiter left behind may delay the others by one TTL at most.
        check_frees_within(sc, srv.url(), lock, time.monotonic(), 2)


if __name__ == "__main__":
    harness.main(globals())
