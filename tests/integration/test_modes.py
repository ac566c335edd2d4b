"""Lock modes: counting semaphores (-l N), readers and writers (-s / -x), --min-hold.

At most N semaphore holders at once, and really N; readers share, a writer excludes
everyone and a queued writer holds back readers that arrive after it; fences increase
across all holders of a lock; a mismatched -l is a usage error naming the stored limit;
--min-hold keeps the lock after the command ended without leaving a process behind; lock
loss, --status and --break work for every holder of every mode.
"""

import json
import os
import re
import shlex
import time

import harness
from harness import EX_CONFLICT, EX_LOST, EX_USAGE, Scope

# ---------------------------------------------------------------------------------------
# Helpers

# A section that counts how many sections are inside at once. State lives in directory
# $1 (files cur, max, log), guarded by flock(1) on $1/mutex. The section enters (count + 1,
# max updated), waits until `max` has reached $2 (at most about 6 s: if the lock lets fewer
# in, the test sees it in `max`), stays $3 more seconds, and leaves (count - 1). The count
# is raised after rwith acquired and lowered before it releases, so the recorded overlap
# is never more than the real one.
COUNTING_SECTION = r'''
d=$1; target=$2; hold=$3; me=$4
flock "$d/mutex" sh -c '
    c=$(cat "$1/cur"); c=$((c + 1)); echo $c > "$1/cur"
    m=$(cat "$1/max"); if [ $c -gt $m ]; then echo $c > "$1/max.tmp"; mv "$1/max.tmp" "$1/max"; fi
    echo "E $2 $c" >> "$1/log"' sh "$d" "$me"
i=0
while m=$(cat "$d/max"); [ "${m:-0}" -lt "$target" ] && [ $i -lt 300 ]; do
    sleep 0.02; i=$((i + 1))
done
sleep "$hold"
flock "$d/mutex" sh -c '
    c=$(cat "$1/cur"); c=$((c - 1)); echo $c > "$1/cur"
    echo "L $2 $c" >> "$1/log"' sh "$d" "$me"
'''


def counting_dir(sc, name):
    d = sc.path(name)
    os.mkdir(d)
    for f, text in (("cur", "0\n"), ("max", "0\n"), ("log", "")):
        with open(os.path.join(d, f), "w") as fh:
            fh.write(text)
    return d


def counting_args(d, target, hold, me):
    return ["sh", "-c", COUNTING_SECTION, "sh", d, str(target), str(hold), me]


def check_counting(d, contenders, expected_max, what):
    log = harness.read_file(os.path.join(d, "log"), "")
    lines = log.splitlines()
    enters = [ln for ln in lines if ln.startswith("E ")]
    leaves = [ln for ln in lines if ln.startswith("L ")]
    assert len(enters) == contenders and len(leaves) == contenders, (
        f"{what}: expected {contenders} sections entered and left, log:\n{log}")
    peak = int(harness.read_file(os.path.join(d, "max")).strip())
    counts = [int(ln.split()[2]) for ln in enters]
    assert peak == expected_max and max(counts) == expected_max, (
        f"{what}: the highest number of commands inside at once was {peak}, expected exactly "
        f"{expected_max}; log (E name count-after-enter / L name count-after-leave):\n{log}")
    assert harness.read_file(os.path.join(d, "cur")).strip() == "0", (
        f"{what}: the count did not return to 0:\n{log}")


def status_json(sc, srv, lock):
    res = sc.run(["-r", srv.url(), "--status", "--json", lock]).expect(0, "--status --json")
    try:
        return json.loads(res.out)
    except ValueError as e:
        raise AssertionError(f"--status --json did not print JSON ({e})\n{res.describe()}")


def waiters(sc, srv, lock):
    return status_json(sc, srv, lock).get("waiters")


def hold_until(go, log=None, name=None, fence=None):
    """sh script: optionally logs "<name> start", writes $RWITH_FENCE to `fence`
    atomically, waits until the file `go` exists, then logs "<name> end"."""
    parts = []
    if log:
        parts.append(f"echo '{name} start' >> {shlex.quote(log)}")
    if fence:
        q = shlex.quote(fence)
        parts.append(f"echo \"$RWITH_FENCE\" > {q}.tmp; mv {q}.tmp {q}")
    parts.append(f"while [ ! -e {shlex.quote(go)} ]; do sleep 0.02; done")
    if log:
        parts.append(f"echo '{name} end' >> {shlex.quote(log)}")
    return "; ".join(parts)


def touch(path):
    with open(path, "w"):
        pass


def processes_mentioning(text):
    """Pids of live processes whose command line contains `text`."""
    found = []
    needle = text.encode()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if needle in cmdline and harness.pid_alive(int(name)):
            found.append((int(name), cmdline.replace(b"\0", b" ").decode("utf-8", "replace")))
    return found


# ---------------------------------------------------------------------------------------
# Counting semaphore

def test_limit_3_of_7_concurrency_is_exactly_3():
    with Scope("modes-limit") as sc:
        srv = sc.redis()
        lock = sc.lock("sem")
        d = counting_dir(sc, "count")
        procs = [sc.start(["-r", srv.url(), "-l", "3", lock, "--",
                           *counting_args(d, 3, 0.5, f"c{i}")]) for i in range(7)]
        for i, p in enumerate(procs):
            p.wait(timeout=90).expect(0, f"contender c{i} under --limit 3")
        check_counting(d, 7, 3, "--limit 3 with 7 contenders")
        sc.try_lock(srv.url(), lock, ["-l", "3"]).expect(0, "the semaphore is free afterwards")


def test_limit_mismatch_is_usage_error():
    with Scope("modes-mismatch") as sc:
        srv = sc.redis()
        lock = sc.lock("mm")
        go, fence = sc.path("go"), sc.path("fence")
        holder = sc.start(["-r", srv.url(), "-l", "3", lock, "--", "sh", "-c",
                           hold_until(go, fence=fence)])
        harness.wait_for_file(fence, what="the -l 3 holder's command to start")
        ran = sc.path("ran")
        for flags, why in ((["-l", "2"], "-l 2 while the lock holds -l 3"),
                           ([], "the default -l 1 while the lock holds -l 3"),
                           (["-n", "-l", "4"], "-n -l 4 while the lock holds -l 3")):
            res = sc.run(["-r", srv.url(), *flags, lock, "--", "touch", ran])
            res.expect(EX_USAGE, why).expect_diagnostic()
            # The stored limit must be named; the lock name may contain digits itself.
            ours = [ln.replace(lock, "<LOCK>") for ln in res.err_lines
                    if ln.startswith("rwith: ")]
            assert any(re.search(r"(?<![0-9])3(?![0-9])", ln) for ln in ours), (
                f"{why}: no 'rwith: ' line names the stored limit 3\n{res.describe()}")
        assert not os.path.exists(ran), "a command with a mismatched -l ran"
        # The same limit joins (the semaphore has room for two more).
        ok = sc.path("ok")
        sc.run(["-r", srv.url(), "-n", "-l", "3", lock, "--", "touch", ok]).expect(
            0, "-n -l 3 joins a -l 3 semaphore with one holder")
        assert os.path.exists(ok)
        touch(go)
        holder.wait(timeout=30).expect(0)
        # The limit is stored only while the lock has holders.
        sc.try_lock(srv.url(), lock, ["-l", "2"]).expect(
            0, "-l 2 once the -l 3 semaphore has no holders left")


# ---------------------------------------------------------------------------------------
# Readers and writers

def test_three_readers_overlap():
    with Scope("modes-readers") as sc:
        srv = sc.redis()
        lock = sc.lock("rd")
        d = counting_dir(sc, "count")
        procs = [sc.start(["-r", srv.url(), "-s", lock, "--",
                           *counting_args(d, 3, 0.3, f"r{i}")]) for i in range(3)]
        for i, p in enumerate(procs):
            p.wait(timeout=60).expect(0, f"reader r{i}")
        check_counting(d, 3, 3, "three readers (-s)")


def test_queued_writer_blocks_later_reader():
    """r1 reads; w (writer) queues behind r1; r2 (reader) arrives after w: r2 must not
    join r1 while w waits. Order: r1, then w, then r2."""
    with Scope("modes-rw-order") as sc:
        srv = sc.redis()
        lock = sc.lock("rw")
        log = sc.path("log")
        go1, gow, go2 = sc.path("go-r1"), sc.path("go-w"), sc.path("go-r2")
        f1, fw, f2 = sc.path("fence-r1"), sc.path("fence-w"), sc.path("fence-r2")
        r1 = sc.start(["-r", srv.url(), "-s", lock, "--", "sh", "-c",
                       hold_until(go1, log, "r1", f1)])
        harness.wait_for_file(f1, what="r1 to start")
        w = sc.start(["-r", srv.url(), "-x", lock, "--", "sh", "-c",
                      hold_until(gow, log, "w", fw)])
        harness.wait_until(lambda: waiters(sc, srv, lock) == 1 or os.path.exists(fw), 20,
                           "the writer to queue")
        assert not os.path.exists(fw), (
            f"the writer ran while reader r1 held the lock:\n{harness.read_file(log)}")
        r2 = sc.start(["-r", srv.url(), "-s", lock, "--", "sh", "-c",
                       hold_until(go2, log, "r2", f2)])
        harness.wait_until(lambda: waiters(sc, srv, lock) == 2 or os.path.exists(f2), 20,
                           "r2 to queue behind the writer")
        time.sleep(0.5)  # room for a wrong join to show
        assert not os.path.exists(f2), (
            "reader r2 joined reader r1 although writer w was queued before it:\n"
            f"{harness.read_file(log)}")
        assert r1.running() and w.running() and r2.running()
        touch(go1)
        r1.wait(timeout=30).expect(0, "r1")
        harness.wait_for_file(fw, what="the writer to run after r1")
        time.sleep(0.3)
        assert not os.path.exists(f2), (
            f"reader r2 runs together with writer w:\n{harness.read_file(log)}")
        touch(gow)
        w.wait(timeout=30).expect(0, "w")
        harness.wait_for_file(f2, what="r2 to run after the writer")
        touch(go2)
        r2.wait(timeout=30).expect(0, "r2")
        lines = harness.read_file(log).splitlines()
        assert lines == ["r1 start", "r1 end", "w start", "w end", "r2 start", "r2 end"], (
            f"expected r1 -> w -> r2 without overlap, got: {lines}")
        fences = [int(harness.read_file(f).strip()) for f in (f1, fw, f2)]
        assert fences[0] < fences[1] < fences[2], f"fences r1, w, r2: {fences}"


def test_fences_increase_across_modes():
    """Semaphore holders (-l 2, one of them a waiter), then readers, then a writer, all
    on one lock: RWITH_FENCE is distinct and strictly increasing in acquisition order."""
    with Scope("modes-fences") as sc:
        srv = sc.redis()
        lock = sc.lock("fence")
        url = srv.url()
        names = ["s1", "s2", "s3", "r1", "r2", "w"]
        go = {n: sc.path("go-" + n) for n in names}
        fence = {n: sc.path("fence-" + n) for n in names}

        def start(name, flags):
            return sc.start(["-r", url, *flags, lock, "--", "sh", "-c",
                             hold_until(go[name], fence=fence[name])])

        s1 = start("s1", ["-l", "2"])
        harness.wait_for_file(fence["s1"], what="s1 to start")
        s2 = start("s2", ["-l", "2"])
        harness.wait_for_file(fence["s2"], what="s2 to start")
        s3 = start("s3", ["-l", "2"])
        harness.wait_until(lambda: waiters(sc, srv, lock) == 1 or os.path.exists(fence["s3"]),
                           20, "s3 to queue")
        assert not os.path.exists(fence["s3"]), "a third holder ran under --limit 2"
        touch(go["s1"])
        s1.wait(timeout=30).expect(0, "s1")
        harness.wait_for_file(fence["s3"], what="s3 to acquire after s1")
        touch(go["s2"])
        touch(go["s3"])
        s2.wait(timeout=30).expect(0, "s2")
        s3.wait(timeout=30).expect(0, "s3")
        r1 = start("r1", ["-s"])
        harness.wait_for_file(fence["r1"], what="r1 to start")
        r2 = start("r2", ["-s"])
        harness.wait_for_file(fence["r2"], what="r2 to start (beside r1)")
        touch(go["r1"])
        touch(go["r2"])
        r1.wait(timeout=30).expect(0, "r1")
        r2.wait(timeout=30).expect(0, "r2")
        touch(go["w"])
        start("w", ["-x"]).wait(timeout=30).expect(0, "w")
        values = []
        for n in names:
            text = harness.read_file(fence[n], "").strip()
            assert text.isdigit(), f"{n}: RWITH_FENCE is not an integer: {text!r}"
            values.append(int(text))
        pairs = list(zip(names, values))
        assert all(a < b for a, b in zip(values, values[1:])), (
            f"fences not strictly increasing in acquisition order: {pairs}")


# ---------------------------------------------------------------------------------------
# --min-hold

def test_min_hold_keeps_lock_without_process():
    with Scope("modes-minhold") as sc:
        srv = sc.redis()
        lock = sc.lock("mh")
        url = srv.url()
        t0 = time.monotonic()
        res = sc.run(["-r", url, "--min-hold", "3s", lock, "--", "true"])
        res.expect(0, "--min-hold 3s with a command that ends at once")
        assert res.elapsed < 2.0, (
            f"rwith --min-hold 3s took {res.elapsed:.2f} s to exit; it must not wait out the "
            f"min-hold\n{res.describe()}")
        left = harness.session_members(sc.processes[-1].pid) + processes_mentioning(lock)
        assert not left, f"processes left behind after rwith --min-hold exited: {left}"
        since = time.monotonic() - t0
        sc.try_lock(url, lock).expect(
            EX_CONFLICT, f"the lock is still held within --min-hold 3s ({since:.2f} s after "
            "the run started)")
        st = status_json(sc, srv, lock)
        assert st.get("held") is True and len(st.get("holders", [])) == 1, (
            f"--status --json within --min-hold: {st}")
        assert st["holders"][0].get("mode") == "exclusive", f"--status --json: {st}"
        # The lock frees itself (on the server: no process is left) once the min-hold has
        # passed, long before the default 30 s TTL.
        free = harness.wait_until(
            lambda: sc.try_lock(url, lock).status == 0 and time.monotonic(), 10,
            "the lock to free itself after --min-hold 3s (default TTL 30s)", interval=0.2)
        assert free - t0 >= 2.8, (
            f"the lock was free {free - t0:.2f} s after the --min-hold 3s run started")


def test_min_hold_fleet_runs_once():
    """Three hosts run the nightly job at about the same moment: exactly one runs it,
    the others find the lock held and exit 0 (-E 0)."""
    with Scope("modes-fleet") as sc:
        srv = sc.redis()
        lock = sc.lock("nightly")
        out = sc.path("ran")
        procs = [sc.start(["-r", srv.url(), "-n", "-E", "0", "--min-hold", "2s", lock, "--",
                           "sh", "-c", f"echo x >> {shlex.quote(out)}"]) for _ in range(3)]
        spread = procs[-1].t0 - procs[0].t0
        assert spread < 1.0, f"the three runs started {spread:.2f} s apart"
        for p in procs:
            p.wait(timeout=30).expect(0, "-n -E 0 --min-hold 2s")
        lines = harness.read_file(out, "").splitlines()
        assert lines == ["x"], f"the job ran {len(lines)} times, expected once: {lines}"


# ---------------------------------------------------------------------------------------
# Lock loss, --status and --break for every mode

def lost_case(name, flags):
    with Scope("modes-lost-" + name) as sc:
        srv = sc.redis()
        lock = sc.lock(name)
        procs, pids = [], []
        for i in range(2):
            pidfile = sc.path(f"pids-{i}")
            procs.append(sc.start(["-r", srv.url(), *flags, "-t", "5s", "--heartbeat", "300ms",
                                   lock, "--", "sh", "-c", harness.sh_pids_command(pidfile)]))
            pids += harness.read_pids(pidfile)
        assert srv.delete_lock_keys(lock) > 0, "the lock had no keys on the server"
        deleted_at = time.monotonic()
        harness.wait_dead(pids, 3.5, "both commands and their children to die (lock lost)")
        for p in procs:
            res = p.wait(timeout=30)
            res.expect(EX_LOST, f"{' '.join(flags)}: the lock was lost").expect_diagnostic(lock)
            assert res.end - deleted_at < 4.0, (
                f"rwith exited {res.end - deleted_at:.2f} s after the keys were deleted "
                f"(heartbeat 300ms, TTL 5s)\n{res.describe()}")


def test_lost_semaphore_holders():
    lost_case("sem", ["-l", "2"])


def test_lost_readers():
    lost_case("shared", ["-s"])


def test_status_and_break_readers():
    with Scope("modes-break") as sc:
        srv = sc.redis()
        lock = sc.lock("brk")
        procs, pids = [], []
        for i in range(2):
            pidfile = sc.path(f"pids-{i}")
            procs.append(sc.start(["-r", srv.url(), "-s", "-t", "5s", "--heartbeat", "300ms",
                                   lock, "--", "sh", "-c", harness.sh_pids_command(pidfile)]))
            pids += harness.read_pids(pidfile)
        st = status_json(sc, srv, lock)
        holders = st.get("holders", [])
        assert st.get("held") is True and len(holders) == 2, f"--status --json: {st}"
        assert all(h.get("mode") == "shared" for h in holders), f"--status --json: {st}"
        assert sorted(h.get("pid") for h in holders) == sorted(p.pid for p in procs), (
            f"--status --json holders are not the two readers {[p.pid for p in procs]}: {st}")
        text = sc.run(["-r", srv.url(), "--status", lock]).expect(0, "--status")
        shared_lines = [ln for ln in text.out.splitlines() if ln.rstrip().endswith("shared")]
        assert len(shared_lines) == 2, f"--status: expected two lines ending 'shared'\n" \
            f"{text.describe()}"
        res = sc.run(["-r", srv.url(), "--break", lock]).expect(0, "--break")
        broke_at = time.monotonic()
        for p in procs:
            assert re.search(rf"(?<![0-9]){p.pid}(?![0-9])", res.out), (
                f"--break does not list the reader with pid {p.pid}\n{res.describe()}")
        removed = [ln for ln in res.out.splitlines() if str(procs[0].pid) in ln
                   or str(procs[1].pid) in ln]
        assert len(removed) == 2, f"--break: expected two removed holders\n{res.describe()}"
        st = status_json(sc, srv, lock)
        assert st.get("held") is False and not st.get("holders"), (
            f"--status --json after --break: {st}")
        harness.wait_dead(pids, 3.5, "both readers' commands to die after --break")
        for p in procs:
            r = p.wait(timeout=30)
            r.expect(EX_LOST, "the reader's lock was broken").expect_diagnostic(lock)
            assert r.end - broke_at < 4.0, (
                f"reader exited {r.end - broke_at:.2f} s after --break (heartbeat 300ms)")


if __name__ == "__main__":
    harness.main(globals())
