"""Beyond one holder: counting semaphores (--limit), readers and writers (--shared), and
--min-hold; lock loss and fences for every kind of holder."""

import json
import os
import shlex
import time

import harness
from harness import EX_LOST, EX_USAGE, Scope


def section(log, tag, seconds):
    """sh script: logs 'S tag t' and 'E tag t' (ns) around a sleep; the fence too."""
    q = shlex.quote(log)
    return (f"echo \"S {tag} $(date +%s%N) $RWITH_FENCE\" >> {q}; sleep {seconds}; "
            f"echo \"E {tag} $(date +%s%N)\" >> {q}")


def parse(log):
    starts, ends, fences = {}, {}, {}
    for line in harness.read_file(log, "").splitlines():
        parts = line.split()
        if parts[0] == "S":
            starts[parts[1]] = int(parts[2])
            fences[parts[1]] = int(parts[3])
        elif parts[0] == "E":
            ends[parts[1]] = int(parts[2])
    return starts, ends, fences


def max_overlap(starts, ends):
    events = sorted([(t, 1) for t in starts.values()] + [(t, -1) for t in ends.values()])
    inside = peak = 0
    for _, step in events:
        inside += step
        peak = max(peak, inside)
    return peak


def test_limit_3_with_7_contenders_admits_exactly_3():
    with Scope("rw-limit") as sc:
        srv = sc.redis()
        lock = sc.lock("limit")
        log = sc.path("log")
        ps = [sc.start(["-r", srv.url(), "-l", "3", lock, "--", "sh", "-c",
                        section(log, f"c{i}", 0.8)]) for i in range(7)]
        for p in ps:
            p.wait(timeout=60).expect(0)
        starts, ends, fences = parse(log)
        assert len(starts) == 7 and len(ends) == 7, harness.read_file(log)
        assert max_overlap(starts, ends) == 3, f"peak concurrency {max_overlap(starts, ends)}"
        assert len(set(fences.values())) == 7, f"fences not distinct: {fences}"


def wait_status(sc, srv, lock, pred, what):
    def check():
        res = sc.run(["-r", srv.url(), "--status", "--json", lock])
        return res.status == 0 and pred(json.loads(res.out))
    harness.wait_until(check, 20, what)


def test_three_readers_overlap():
    with Scope("rw-readers") as sc:
        srv = sc.redis()
        lock = sc.lock("readers")
        log = sc.path("log")
        ps = [sc.start(["-r", srv.url(), "-s", lock, "--", "sh", "-c",
                        section(log, f"r{i}", 1.0)]) for i in range(3)]
        for p in ps:
            p.wait(timeout=60).expect(0)
        starts, ends, _ = parse(log)
        assert max_overlap(starts, ends) == 3, "the three readers did not hold together"


def test_reader_writer_reader_run_in_arrival_order():
    with Scope("rw-order") as sc:
        srv = sc.redis()
        lock = sc.lock("order")
        log = sc.path("log")
        r1 = sc.start(["-r", srv.url(), "-s", lock, "--", "sh", "-c", section(log, "r1", 1.0)])
        wait_status(sc, srv, lock, lambda d: d["held"], "r1 to hold")
        w = sc.start(["-r", srv.url(), "-x", lock, "--", "sh", "-c", section(log, "w", 0.5)])
        wait_status(sc, srv, lock, lambda d: d["waiters"] == 1, "w to queue")
        r2 = sc.start(["-r", srv.url(), "-s", lock, "--", "sh", "-c", section(log, "r2", 0.3)])
        wait_status(sc, srv, lock, lambda d: d["waiters"] == 2, "r2 to queue")
        for p in (r1, w, r2):
            p.wait(timeout=60).expect(0)
        starts, ends, fences = parse(log)
        assert ends["r1"] <= starts["w"], "the writer started while r1 still read"
        assert ends["w"] <= starts["r2"], "r2 read while the writer wrote (or jumped ahead)"
        assert fences["r1"] < fences["w"] < fences["r2"], f"fences: {fences}"


def test_mismatched_limit_is_a_usage_error():
    with Scope("rw-mismatch") as sc:
        srv = sc.redis()
        lock = sc.lock("mismatch")
        ready = sc.path("ready")
        p = sc.start(["-r", srv.url(), "-l", "3", lock, "--", "sh", "-c",
                      f"echo up > {shlex.quote(ready)}; exec sleep 100"])
        harness.wait_for_file(ready, 20, "the semaphore holder")
        for extra in (["-l", "2"], []):
            res = sc.run(["-r", srv.url(), *extra, lock, "--", "true"])
            res.expect(EX_USAGE, f"{extra or 'default -l 1'} against a stored limit of 3")
            res.expect_diagnostic("3")
        sc.run(["-r", srv.url(), "-n", "-l", "3", lock, "--", "true"]).expect(0)
        p.signal(15)
        p.wait()


def test_min_hold_holds_then_frees_itself():
    with Scope("rw-minhold") as sc:
        srv = sc.redis()
        lock = sc.lock("minhold")
        res = sc.run(["-r", srv.url(), "--min-hold", "3s", lock, "--", "true"]).expect(0)
        assert res.elapsed < 2.5, f"rwith waited out the minimum hold ({res.elapsed:.2f} s)"
        ended = time.monotonic()
        sc.run(["-r", srv.url(), "-n", lock, "--", "true"]).expect(1, "held by --min-hold")
        doc = json.loads(sc.run(["-r", srv.url(), "--status", "--json", lock]).out)
        assert doc["held"] and doc["holders"][0]["pid"] > 0, doc
        harness.wait_until(
            lambda: sc.run(["-r", srv.url(), "-n", lock, "--", "true"]).status == 0, 15,
            "the minimum hold to end")
        assert time.monotonic() - ended > 0.4, "the lock was free too early"


def test_min_hold_fleet_runs_the_job_once():
    with Scope("rw-fleet") as sc:
        srv = sc.redis()
        lock = sc.lock("fleet")
        out = sc.path("runs")
        ps = []
        for _ in range(3):
            ps.append(sc.start(["-r", srv.url(), "-n", "-E", "0", "--min-hold", "3s", lock,
                                "--", "sh", "-c", f"echo x >> {shlex.quote(out)}"]))
            time.sleep(0.3)
        for p in ps:
            p.wait().expect(0)
        assert harness.read_file(out, "").count("x") == 1, "the job ran more than once"


def loss_under(sc, srv, lock, extra):
    pidfile = sc.path(f"pids-{sc.counter + 1}")
    p = sc.start(["-r", srv.url(), "-t", "5s", "--heartbeat", "300ms", *extra, lock, "--",
                  "sh", "-c", harness.sh_pids_command(pidfile)])
    return p, harness.read_pids(pidfile)


def test_lock_loss_under_semaphore_holder_and_reader():
    with Scope("rw-lost") as sc:
        srv = sc.redis()
        for extra, name in ((["-l", "2"], "sem"), (["-s"], "reader")):
            lock = sc.lock(name)
            p, pids = loss_under(sc, srv, lock, extra)
            assert srv.delete_lock_keys(lock) > 0
            harness.wait_dead(pids, 5, f"the {name}'s command and children to die")
            p.wait(timeout=30).expect(EX_LOST, f"lost under a {name}").expect_diagnostic(lock)


def test_status_and_break_with_two_readers():
    with Scope("rw-break") as sc:
        srv = sc.redis()
        lock = sc.lock("brk")
        ps = [loss_under(sc, srv, lock, ["-s"])[0] for _ in range(2)]
        doc = json.loads(sc.run(["-r", srv.url(), "--status", "--json", lock]).out)
        assert doc["held"] and len(doc["holders"]) == 2, doc
        assert all(h["mode"] == "shared" for h in doc["holders"]), doc
        res = sc.run(["-r", srv.url(), "--break", lock]).expect(0)
        assert res.out.count("removed") == 2, res.describe()
        for p in ps:
            p.wait(timeout=30).expect(EX_LOST, "evicted reader")
