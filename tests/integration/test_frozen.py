"""Self-fencing when rwith itself cannot run: rwith SIGSTOPped (as a debugger, a cgroup freezer
on rwith alone, or a starved process would leave it) under a running command. The guard keeps
the deadline: the command is dead before another holder can start, whatever rwith does; after
SIGCONT rwith exits 75 and nothing is left. A guard killed by a stray kill is replaced."""

import os
import shlex
import signal
import time

import harness
from harness import EX_LOST, Scope

PROMPT_S = 3  # "at once", with room for a loaded machine


def ticking_command(pidfile, ticks):
    """Ignores SIGTERM (only SIGKILL ends it) and appends a wall-clock stamp to `ticks` every
    50 ms, so the last stamp tells when it last ran."""
    q, t = shlex.quote(pidfile), shlex.quote(ticks)
    return (f"trap '' TERM; echo $$ > {q}.tmp; mv {q}.tmp {q}; "
            f"while :; do date +%s.%N >> {t}; sleep 0.05; done")


def stamps(path):
    return [float(x) for x in (harness.read_file(path, "") or "").split()]


def test_stopped_rwith_cannot_let_two_run():
    """rwith is stopped with a 2 s TTL under a command that ignores SIGTERM. The next holder
    gets the lock once the TTL ran out on the server; by then the first command must be dead
    (its last stamp before the second holder's first). After SIGCONT, rwith exits 75."""
    with Scope("frozen-two") as sc:
        srv = sc.redis()
        lock = sc.lock("two")
        pidfile, ticks = sc.path("pid"), sc.path("ticks")
        first = sc.start(["-r", srv.url(), "-t", "2s", lock, "--", "sh", "-c",
                          ticking_command(pidfile, ticks)])
        pid = int(harness.wait_for_file(pidfile))
        harness.wait_until(lambda: len(stamps(ticks)) >= 2, 10, "the command to tick")
        first.signal(signal.SIGSTOP)
        try:
            second_stamp = sc.path("second")
            second = sc.run(["-r", srv.url(), "-w", "20s", lock, "--", "sh", "-c",
                             f"date +%s.%N > {shlex.quote(second_stamp)}"], timeout=30)
            second.expect(0, "the next holder gets the lock after the TTL")
            assert not harness.pid_alive(pid), "the first command still runs"
            last_tick, started = stamps(ticks)[-1], stamps(second_stamp)[0]
            assert last_tick < started, (
                f"the first command ticked at {last_tick:.3f}, after the next holder started "
                f"at {started:.3f}: the two ran at once")
        finally:
            first.signal(signal.SIGCONT)
        res = first.wait(timeout=30)
        res.expect(EX_LOST, "rwith, continued, reports the lost lock")
        assert "could not run" in res.stderr, f"the message says why\n{res.describe()}"
        harness.wait_dead([pid], PROMPT_S, "the command")


def test_guard_forked_while_waiting_keeps_the_deadline():
    """A waiter forks its guard while it waits, long before the lock is granted and the
    guard has a deadline: the guard must still keep it. The waiter gets the lock, is
    stopped under a command that ignores SIGTERM, and its command is dead before the next
    holder starts."""
    with Scope("frozen-prepared") as sc:
        srv = sc.redis()
        lock = sc.lock("prepared")
        pidfile, ticks = sc.path("pid"), sc.path("ticks")
        holder = harness.hold(sc, srv.url(), lock)
        waiter = sc.start(["-r", srv.url(), "-t", "2s", lock, "--", "sh", "-c",
                           ticking_command(pidfile, ticks)])
        harness.wait_waiters(sc, srv.url(), lock, 1)
        time.sleep(0.5)  # its guard is forked and asleep, with no deadline yet
        harness.finish(holder)
        pid = int(harness.wait_for_file(pidfile))
        harness.wait_until(lambda: len(stamps(ticks)) >= 2, 10, "the command to tick")
        waiter.signal(signal.SIGSTOP)
        try:
            second_stamp = sc.path("second")
            sc.run(["-r", srv.url(), "-w", "20s", lock, "--", "sh", "-c",
                    f"date +%s.%N > {shlex.quote(second_stamp)}"], timeout=30).expect(0)
            assert not harness.pid_alive(pid), "the waiter's command still runs"
            assert stamps(ticks)[-1] < stamps(second_stamp)[0], "the two ran at once"
        finally:
            waiter.signal(signal.SIGCONT)
        waiter.wait(timeout=30).expect(EX_LOST)


def test_stopped_rwith_never_continued():
    """rwith stays stopped: the command's group dies on time anyway (by the deadline, within
    the 2 s TTL), and when rwith is then killed nothing of it is left."""
    with Scope("frozen-never") as sc:
        srv = sc.redis()
        lock = sc.lock("never")
        p, pids = harness.start_group_command(sc, srv.url(), lock, "2s")
        guard = harness.pgrp_of(pids[0])
        p.signal(signal.SIGSTOP)
        # The TTL is 2 s from the last extension, which came before the stop.
        harness.wait_dead(pids, 2 + PROMPT_S, "the command and its children to die on time "
                          "although rwith is stopped")
        harness.wait_dead([guard], PROMPT_S, "the guard, which killed its group")
        p.signal(signal.SIGKILL)
        p.wait(timeout=30)


def test_stopped_rwith_killed_takes_the_command_with_it():
    """rwith stopped, then SIGKILLed long before its deadline: the command dies at once, by
    the guard (not at the deadline)."""
    with Scope("frozen-kill") as sc:
        srv = sc.redis()
        lock = sc.lock("kill")
        p, pids = harness.start_group_command(sc, srv.url(), lock, "60s")
        p.signal(signal.SIGSTOP)
        time.sleep(0.2)
        assert all(harness.pid_alive(x) for x in pids), "a stopped rwith is not a lost lock"
        p.signal(signal.SIGKILL)
        harness.wait_dead(pids, PROMPT_S, "the command to die with rwith")


def test_stray_kill_of_the_guard_is_repaired():
    """The guard SIGKILLed by a stray `kill`: the command must not run on unguarded. A new
    guard joins the command's group at once (rwith says so), and when rwith is then killed,
    the command dies with it."""
    with Scope("frozen-guard") as sc:
        srv = sc.redis()
        lock = sc.lock("guard")
        ready = sc.path("ready")
        p = sc.start(["-r", srv.url(), lock, "--", "sh", "-c", harness.sh_ready_then_sleep(ready)])
        pid = int(harness.wait_for_file(ready))
        group = harness.pgrp_of(pid)
        os.kill(group, signal.SIGKILL)

        def new_guard():
            for entry in os.listdir("/proc"):
                if entry.isdigit() and int(entry) not in (pid, group):
                    st = harness.proc_stat(int(entry))
                    if st and st[1] == p.pid and st[2] == group and st[0] not in "ZXx":
                        return int(entry)
            return None
        harness.wait_until(lambda: new_guard() is not None, 10,
                           "a new guard in the command's group")
        assert harness.pid_alive(pid), "the command runs on"
        p.signal(signal.SIGKILL)
        harness.wait_dead([pid], PROMPT_S, "the command to die with rwith, by the new guard")
        res = p.wait(timeout=30)
        assert "guard" in res.stderr, f"rwith says the guard was replaced\n{res.describe()}"



def test_stray_kill_of_the_guard_after_the_command_left_the_group():
    """The command left its group (setsid), then the guard is killed: there is no group to
    guard any more, so no new guard is started, and nothing signals any other group (rwith's
    own included): rwith and the command run on, and the command's own exit ends rwith."""
    with Scope("frozen-setsid") as sc:
        srv = sc.redis()
        lock = sc.lock("setsid")
        ready, go = sc.path("ready"), sc.path("go")
        q = shlex.quote
        script = (f"echo $$ > {q(ready)}.tmp; mv {q(ready)}.tmp {q(ready)}; "
                  f"while [ ! -e {q(go)} ]; do sleep 0.05; done; exit 4")
        p = sc.start(["-r", srv.url(), lock, "--", "setsid", "sh", "-c", script])
        pid = int(harness.wait_for_file(ready))
        harness.wait_until(lambda: harness.proc_stat(pid)[2] == pid, 10,
                           "the command to lead a session of its own")
        guard = next(int(e) for e in os.listdir("/proc") if e.isdigit() and int(e) != pid
                     and (harness.proc_stat(int(e)) or (0, 0))[1] == p.pid)
        os.kill(guard, signal.SIGKILL)
        harness.wait_dead([guard], PROMPT_S, "the guard")
        time.sleep(0.5)
        assert p.running() and harness.pid_alive(pid), "rwith and the command run on"
        with open(go, "w"):
            pass
        res = p.wait(timeout=30)
        res.expect(4, "the command's own status")
        assert "new one" not in res.stderr, f"no new guard for an empty group\n{res.describe()}"

if __name__ == "__main__":
    harness.main(globals())
