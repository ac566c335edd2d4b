"""Lock loss while the command runs: keys deleted, server paused, killed or restarted.
The command and its group are terminated (SIGTERM, then SIGKILL) before the lock's TTL
could have expired on the server, and rwith exits 75 with one clear line."""

import os
import shlex
import signal
import time

import harness
from harness import EX_LOST, Scope

# A command that handles SIGTERM by noting it and going on; only SIGKILL ends it.
def term_ignoring_command(pidfile, termfile):
    q, t = shlex.quote(pidfile), shlex.quote(termfile)
    return (f"trap 'echo TERM >> {t}' TERM; echo $$ > {q}.tmp; mv {q}.tmp {q}; "
            "while :; do sleep 0.05; done")


def check_lost_diagnostic(res, lock, exactly_one=False):
    res.expect(EX_LOST, "the lock was lost while the command ran")
    # The command's shell may add its own lines ("Terminated"); rwith's start with 'rwith: '.
    lines = [line for line in res.err_lines if line.startswith("rwith: ")]
    assert lines and lock in lines[-1], (
        f"the final 'rwith: ' line does not name the lock {lock!r}\n{res.describe()}")
    if exactly_one:
        assert len(lines) == 1, f"-q: expected exactly one 'rwith: ' line\n{res.describe()}"


def test_keys_deleted():
    with Scope("lost-deleted") as sc:
        srv = sc.redis()
        lock = sc.lock("del")
        pidfile = sc.path("pids")
        p = sc.start(["-r", srv.url(), "-t", "5s", "--heartbeat", "300ms", lock, "--", "sh",
                      "-c", harness.sh_pids_command(pidfile)])
        pids = harness.read_pids(pidfile)
        assert srv.delete_lock_keys(lock) > 0, "the lock had no keys on the server"
        deleted_at = time.monotonic()
        # The next heartbeat (300 ms) finds the lock gone, and SIGTERM goes out at once. 3 s
        # leave room for a slow machine and are still well before the 5 s TTL.
        harness.wait_dead(pids, 3, "the command and its children to die of SIGTERM")
        dead_after = time.monotonic() - deleted_at
        res = p.wait(timeout=30)
        assert res.end - deleted_at < 3.0, (
            f"rwith exited {res.end - deleted_at:.2f} s after the keys were deleted, although "
            f"the command and its children were all dead {dead_after:.2f} s after; the "
            f"heartbeat is 300 ms\n{res.describe()}")
        check_lost_diagnostic(res, lock)


def test_keys_deleted_term_ignored_gets_sigkill():
    with Scope("lost-deleted-kill") as sc:
        srv = sc.redis()
        lock = sc.lock("delk")
        pidfile, termfile = sc.path("pid"), sc.path("term")
        p = sc.start(["-r", srv.url(), "-q", "-t", "10s", "--heartbeat", "300ms", "-k", "1s",
                      lock, "--", "sh", "-c", term_ignoring_command(pidfile, termfile)])
        pid = int(harness.wait_for_file(pidfile))
        srv.delete_lock_keys(lock)
        deleted_at = time.monotonic()
        res = p.wait(timeout=30)
        check_lost_diagnostic(res, lock, exactly_one=True)
        assert not harness.pid_alive(pid), "the command survived"
        assert "TERM" in harness.read_file(termfile, ""), "SIGTERM was not sent before SIGKILL"
        assert res.end - deleted_at < 5.0, (
            f"SIGKILL came {res.end - deleted_at:.2f} s after the loss (-k 1s, heartbeat 300ms)")


def lost_server_case(name, act, ttl_s=3, command="group", kill_after=None):
    """Holder with -t ttl_s; `act(srv)` makes the server unusable at moment S. The command
    (and its children) must be dead before S + ttl: the last successful extension was
    before S, so the lock's deadline on the server is at most S + ttl."""
    with Scope("lost-" + name) as sc:
        srv = sc.redis()
        lock = sc.lock(name)
        pidfile, termfile = sc.path("pids"), sc.path("term")
        if command == "group":
            script = harness.sh_pids_command(pidfile)
        else:
            script = term_ignoring_command(pidfile, termfile)
        args = ["-r", srv.url(), "-t", f"{ttl_s}s"]
        if kill_after:
            args += ["-k", kill_after]
        p = sc.start(args + [lock, "--", "sh", "-c", script])
        pids = harness.read_pids(pidfile)
        # Let at least one heartbeat succeed, so that the extension path is what is tested,
        # and act about half a heartbeat after an extension (seen as the key's PTTL being
        # renewed and then half a heartbeat down): acting right after an extension would
        # leave rwith's kill margin as the only slack for noticing the command's death.
        time.sleep(ttl_s / 3 + 0.2)
        ttl_ms = ttl_s * 1000
        half_beat_ms = ttl_ms / 6
        with srv.client() as c:
            def pttl():
                ttls = [c.pttl(k) for k in c.keys(harness.lock_pattern(lock))]
                return max(ttls, default=-2)
            harness.wait_until(lambda: pttl() > ttl_ms - half_beat_ms, 2 * ttl_s,
                               "an extension (the lock's PTTL renewed)", interval=0.005)
            harness.wait_until(lambda: 0 < pttl() <= ttl_ms - half_beat_ms, 2 * ttl_s,
                               "half a heartbeat after an extension", interval=0.005)
        assert p.running(), f"rwith ended early:\n{p.wait().describe()}"
        s = time.monotonic()
        act(srv)
        dead_at = None
        while time.monotonic() < s + ttl_s + 5:
            if not any(harness.pid_alive(x) for x in pids):
                dead_at = time.monotonic()
                break
            time.sleep(0.01)
        if srv.paused:
            srv.resume()
        assert dead_at is not None, f"the command was still alive {ttl_s + 5} s after S"
        assert dead_at < s + ttl_s, (
            f"the command died {dead_at - s:.3f} s after S, but the lock could expire on "
            f"the server {ttl_s} s after S at the latest (its last extension was before S)")
        res = p.wait(timeout=30)
        res.expect(EX_LOST).expect_diagnostic(lock)
        if command != "group":
            assert "TERM" in harness.read_file(termfile, ""), "no SIGTERM before the SIGKILL"
        print(f"{name}: command dead {dead_at - s:.3f} s after S (ttl {ttl_s} s)")


def test_server_paused():
    lost_server_case("paused", lambda srv: srv.pause())


def test_server_paused_term_ignored():
    """Default --kill-after (5s) is longer than the TTL: SIGKILL must still come before
    the deadline."""
    lost_server_case("paused-kill", lambda srv: srv.pause(), command="ignore-term")


def test_server_paused_term_ignored_kill_after_1s():
    lost_server_case("paused-k1", lambda srv: srv.pause(), command="ignore-term",
                     kill_after="1s")


def test_server_killed():
    lost_server_case("killed", lambda srv: srv.kill())


def test_server_restarted():
    lost_server_case("restarted", lambda srv: srv.restart())


def test_lost_then_command_exits_by_itself():
    """The keys vanish, then the command ends on its own before the next heartbeat: its
    lock was gone by then, so 75, and the message gives the command's own status."""
    with Scope("lost-then-exit") as sc:
        srv = sc.redis()
        lock = sc.lock("late")
        ready, go = sc.path("ready"), sc.path("go")
        p = sc.start(["-r", srv.url(), "-t", "60s", lock, "--", "sh", "-c",
                      f"touch {shlex.quote(ready)}; "
                      f"while [ ! -e {shlex.quote(go)} ]; do sleep 0.02; done; exit 42"])
        harness.wait_until(lambda: os.path.exists(ready), 20, "the command to start")
        srv.delete_lock_keys(lock)
        with open(go, "w"):
            pass
        res = p.wait(timeout=30)
        res.expect(EX_LOST, "the command ended, but its lock was gone by then")
        res.expect_diagnostic(lock, "42")


if __name__ == "__main__":
    harness.main(globals())
