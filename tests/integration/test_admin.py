"""--status [--json] and --break, as the contract describes them."""

import json
import shlex
import signal
import time

import harness
from harness import EX_LOST, Scope


def start_holder(sc, srv, lock, extra=(), task=None):
    ready = sc.path(f"ready-{sc.counter + 1}")
    args = ["-r", srv.url(), *extra]
    if task is not None:
        args += ["-T", task]
    p = sc.start([*args, lock, "--", "sh", "-c",
                  f"echo $$ > {shlex.quote(ready)}; exec sleep 100"])
    pid = int(harness.wait_for_file(ready, 20, "the holder to start"))
    return p, pid


def test_status_json_free():
    with Scope("st-free") as sc:
        srv = sc.redis()
        lock = sc.lock("free")
        res = sc.run(["-r", srv.url(), "--status", "--json", lock]).expect(0)
        doc = json.loads(res.out)
        assert doc == {"lock": lock, "held": False, "holders": [], "waiters": 0}, doc
        text = sc.run(["-r", srv.url(), "--status", lock]).expect(0).out
        assert lock in text and "free" in text, text


def test_status_json_held_fields_and_escaping():
    with Scope("st-held") as sc:
        srv = sc.redis()
        lock = sc.lock("held")
        task = 'deploy "prod" \\ back\\slash ünïcödé ✓ tab\there'
        p, _ = start_holder(sc, srv, lock, task=task)
        waiter = sc.start(["-r", srv.url(), lock, "--", "true"])
        harness.wait_until(
            lambda: json.loads(sc.run(["-r", srv.url(), "--status", "--json", lock]).out)
            ["waiters"] == 1, 20, "the waiter to queue")
        res = sc.run(["-r", srv.url(), "--status", "--json", lock]).expect(0)
        doc = json.loads(res.out)
        assert doc["lock"] == lock and doc["held"] is True and doc["waiters"] == 1, doc
        assert len(doc["holders"]) == 1, doc
        h = doc["holders"][0]
        assert h["task"] == task, f"task round trip: {h['task']!r}"
        assert h["pid"] == p.pid, f"pid is rwith's own: {h['pid']} vs {p.pid}"
        assert isinstance(h["host"], str) and h["host"], h
        for key in ("since_ms", "ttl_ms", "fence"):
            assert isinstance(h[key], int) and not isinstance(h[key], bool), (key, h)
        now_ms = time.time() * 1000
        assert abs(h["since_ms"] - now_ms) < 60000, "since_ms is Unix epoch milliseconds"
        assert 0 < h["ttl_ms"] <= 30000, h
        assert h["fence"] >= 1, h
        text = sc.run(["-r", srv.url(), "--status", lock]).expect(0).out
        assert str(p.pid) in text and "1 waiting" in text, text
        p.signal(signal.SIGTERM)
        p.wait()
        waiter.wait().expect(0)


def test_status_server_unusable_is_69():
    with Scope("st-69") as sc:
        port = harness.closed_port()
        for flag in (["--status"], ["--status", "--json"], ["--break"]):
            res = sc.run(["-r", f"redis://127.0.0.1:{port}", *flag, "L"])
            res.expect(69).expect_diagnostic()


def test_break_end_to_end():
    with Scope("brk") as sc:
        srv = sc.redis()
        lock = sc.lock("brk")
        pidfile = sc.path("pids")
        p = sc.start(["-r", srv.url(), "-t", "5s", "--heartbeat", "300ms", lock, "--", "sh",
                      "-c", harness.sh_pids_command(pidfile)])
        pids = harness.read_pids(pidfile)
        started = sc.path("next")
        w = sc.start(["-r", srv.url(), "-t", "10s", lock, "--", "sh", "-c",
                      f"echo up > {shlex.quote(started)}"])
        harness.wait_until(
            lambda: json.loads(sc.run(["-r", srv.url(), "--status", "--json", lock]).out)
            ["waiters"] == 1, 20, "the waiter to queue")
        res = sc.run(["-r", srv.url(), "--break", lock]).expect(0)
        broke = time.monotonic()
        assert "removed" in res.out and str(p.pid) in res.out, res.describe()
        # The waiter is woken by the break, not by the 10 s TTL.
        harness.wait_for_file(started, 20, "the waiter to run after the break")
        assert time.monotonic() - broke < 1.5, "the waiter was not woken at once"
        w.wait().expect(0)
        # The evicted holder notices at its next heartbeat: command group killed, 75.
        harness.wait_dead(pids, 5, "the evicted holder's command and children")
        res = p.wait(timeout=30)
        res.expect(EX_LOST, "evicted by --break").expect_diagnostic(lock)
        again = sc.run(["-r", srv.url(), "--break", lock]).expect(0)
        assert "nothing removed" in again.out, again.describe()
