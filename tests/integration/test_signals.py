"""Signals: forwarded to the command's process group, the command's status kept, the lock
held until the command exits and released right after; interrupted waiting; ignored
signals stay ignored; the command's own process group."""

import os
import shlex
import signal
import time

import harness
from harness import Scope

FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def start_sleeper(sc, srv, lock, extra=(), **kwargs):
    """An rwith whose command is `sleep 100`; returns (rwith, the command's pid)."""
    ready = sc.path(f"ready-{sc.counter + 1}")
    p = sc.start(["-r", srv.url(), *extra, lock, "--", "sh", "-c",
                  harness.sh_ready_then_sleep(ready)], **kwargs)
    pid = int(harness.wait_for_file(ready))
    # The pid file is written just before the exec; wait until sleep is there.
    harness.wait_until(lambda: harness.read_file(f"/proc/{pid}/comm", "").strip() == "sleep"
                       or not harness.pid_alive(pid), 10, "the command to exec sleep")
    return p, pid


def forward_case(signame):
    sig = getattr(signal, signame)
    with Scope("sig-" + signame.lower()) as sc:
        srv = sc.redis()
        lock = sc.lock("fwd")
        p, pid = start_sleeper(sc, srv, lock)
        p.signal(sig)
        res = p.wait(timeout=30)
        res.expect(128 + sig, f"the command died of the forwarded {signame}")
        assert not harness.pid_alive(pid), "the command is still alive"
        sc.try_lock(srv.url(), lock).expect(0, f"the lock is released right after rwith exits "
                                               f"on {signame}")


def test_forward_sigterm():
    forward_case("SIGTERM")


def test_forward_sigint():
    forward_case("SIGINT")


def test_forward_sighup():
    forward_case("SIGHUP")


def test_forward_sigquit():
    forward_case("SIGQUIT")


def test_forward_sigusr1():
    forward_case("SIGUSR1")


def test_forward_sigusr2():
    forward_case("SIGUSR2")


def test_forward_sigwinch():
    with Scope("sig-winch") as sc:
        srv = sc.redis()
        ready = sc.path("ready")
        p = sc.start(["-r", srv.url(), sc.lock("w"), "--", "sh", "-c",
                      f"trap 'exit 7' WINCH; touch {shlex.quote(ready)}; "
                      "while :; do sleep 0.05; done"])
        harness.wait_until(lambda: os.path.exists(ready), 20, "the command to start")
        p.signal(signal.SIGWINCH)
        p.wait(timeout=30).expect(7, "the command's WINCH trap exits 7")


def test_trapped_sigterm_gives_commands_status():
    with Scope("sig-trap") as sc:
        srv = sc.redis()
        lock = sc.lock("trap")
        ready = sc.path("ready")
        p = sc.start(["-r", srv.url(), lock, "--", "sh", "-c",
                      f"trap 'exit 42' TERM; touch {shlex.quote(ready)}; "
                      "while :; do sleep 0.05; done"])
        harness.wait_until(lambda: os.path.exists(ready), 20, "the command to start")
        p.signal(signal.SIGTERM)
        p.wait(timeout=30).expect(42, "the command trapped SIGTERM and exited 42")
        sc.try_lock(srv.url(), lock).expect(0, "the lock is released")


def test_lock_kept_until_command_exits():
    """A command that handles SIGTERM and goes on: rwith keeps the lock until it exits."""
    with Scope("sig-keep") as sc:
        srv = sc.redis()
        lock = sc.lock("keep")
        ready, got, finish = sc.path("ready"), sc.path("got"), sc.path("finish")
        p = sc.start(["-r", srv.url(), lock, "--", "sh", "-c",
                      f"trap 'touch {shlex.quote(got)}' TERM; touch {shlex.quote(ready)}; "
                      f"while [ ! -e {shlex.quote(finish)} ]; do sleep 0.05; done; exit 5"])
        harness.wait_until(lambda: os.path.exists(ready), 20, "the command to start")
        p.signal(signal.SIGTERM)
        harness.wait_until(lambda: os.path.exists(got), 20,
                           "the command to receive the forwarded SIGTERM")
        time.sleep(0.3)
        assert p.running(), f"rwith exited after SIGTERM although the command runs on:\n" \
                            f"{p.wait().describe()}"
        sc.try_lock(srv.url(), lock).expect(1, "the lock is still held while the command runs")
        with open(finish, "w"):
            pass
        p.wait(timeout=30).expect(5, "the command's own status")
        sc.try_lock(srv.url(), lock).expect(0, "the lock is released after the command exited")


def test_forward_reaches_process_group():
    with Scope("sig-group") as sc:
        srv = sc.redis()
        pidfile = sc.path("pids")
        p = sc.start(["-r", srv.url(), sc.lock("grp"), "--", "sh", "-c",
                      harness.sh_pids_command(pidfile)])
        pids = harness.read_pids(pidfile)
        p.signal(signal.SIGTERM)
        harness.wait_dead(pids, 10, "the command's whole group to die of the forwarded SIGTERM")
        p.wait(timeout=30).expect(143)


def interrupt_waiting(signame):
    sig = getattr(signal, signame)
    with Scope("sig-wait-" + signame.lower()) as sc:
        srv = sc.redis()
        lock = sc.lock("wait")
        holder, _ = start_sleeper(sc, srv, lock)
        ran = sc.path("ran")
        waiter = sc.start(["-r", srv.url(), lock, "--", "touch", ran])
        # A waiter without -w waits for ever; after a second it is surely waiting.
        time.sleep(1.0)
        assert waiter.running(), f"the waiter did not wait:\n{waiter.wait().describe()}"
        waiter.signal(sig)
        res = waiter.wait(timeout=30)
        res.expect(128 + sig, f"{signame} while waiting").expect_diagnostic()
        assert not os.path.exists(ran), "the command ran although the waiter was interrupted"
        assert holder.running(), "the holder was disturbed"
        sc.try_lock(srv.url(), lock).expect(1, "the holder still holds the lock")
        holder.signal(signal.SIGTERM)
        holder.wait(timeout=30).expect(143)
        sc.try_lock(srv.url(), lock).expect(0, "the interrupted waiter left nothing behind")


def test_sigint_while_waiting_exits_130():
    interrupt_waiting("SIGINT")


def test_sigterm_while_waiting_exits_143():
    interrupt_waiting("SIGTERM")


def test_ignored_signals_stay_ignored():
    with Scope("sig-ignored") as sc:
        srv = sc.redis()
        lock = sc.lock("ign")
        p, pid = start_sleeper(sc, srv, lock, ignore_signals=(signal.SIGUSR1, signal.SIGINT))
        ignored = harness.signal_mask(pid, "SigIgn")
        for sig in (signal.SIGUSR1, signal.SIGINT):
            assert ignored & harness.sig_bit(sig), (
                f"{sig.name} was ignored when rwith started, but not in the command "
                f"(SigIgn {ignored:#x})")
        # rwith keeps ignoring it too: neither rwith nor the command react.
        p.signal(signal.SIGUSR1)
        p.signal(signal.SIGINT)
        time.sleep(0.5)
        assert p.running(), f"rwith reacted to an ignored signal:\n{p.wait().describe()}"
        assert harness.pid_alive(pid), "the command died of an ignored signal"
        p.signal(signal.SIGTERM)
        p.wait(timeout=30).expect(143, "SIGTERM, not ignored, is still forwarded")


def test_signal_state_as_if_run_directly():
    """Nothing ignored or blocked in the command that was not so when rwith started."""
    with Scope("sig-clean") as sc:
        srv = sc.redis()
        p, pid = start_sleeper(sc, srv, sc.lock("clean"))
        ignored = harness.signal_mask(pid, "SigIgn")
        blocked = harness.signal_mask(pid, "SigBlk")
        assert ignored == 0, f"signals ignored in the command: SigIgn {ignored:#x}"
        assert blocked == 0, f"signals blocked in the command: SigBlk {blocked:#x}"
        p.signal(signal.SIGTERM)
        p.wait(timeout=30).expect(143)


def test_command_has_own_process_group():
    with Scope("sig-pgrp") as sc:
        srv = sc.redis()
        p, pid = start_sleeper(sc, srv, sc.lock("pg"))
        rwith_group, command_group = harness.pgrp_of(p.pid), harness.pgrp_of(pid)
        assert command_group != rwith_group, (
            f"the command runs in rwith's process group {rwith_group} (not at a terminal it "
            "must get one of its own)")
        assert command_group != os.getpgrp(), "the command runs in the caller's process group"
        p.signal(signal.SIGTERM)
        p.wait(timeout=30).expect(143)


if __name__ == "__main__":
    harness.main(globals())
