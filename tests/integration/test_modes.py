"""Lock modes: counting semaphores (-l N), readers and writers (-s / -x), --min-hold.

At most N semaphore holders at once, and really N; readers share, a writer excludes
everyone and a queued writer holds back readers that arrive after it; fences increase
across all holders of a lock; a mismatched -l is a usage error naming the stored limit;
--min-hold keeps the lock after the command ended without leaving a process behind, also
against hosts that arrive after the job ended; lock loss, --status and --break work for
every holder of every mode.
"""

import os
import re
import shlex
import time

import harness
from harness import (EX_CONFLICT, EX_LOST, EX_USAGE, Holder, Scope, finish, hold, lock_status,
                     queue_waiter, start_stuck_holder)

# ---------------------------------------------------------------------------------------
# Helpers

# A section that counts how many sections are inside at once. State lives in directory
# $1 (files cur, max, log), guarded by flock(1) on $1/mutex. The section enters (count + 1,
# max updated), waits until `max` has reached $2 (at most about 6 s: if the lock lets fewer
# in, the test sees it in `max`), stays $3 more seconds, and leaves (count - 1). The count
# is raised after rwith acquired and lowered before it releases, so the recorded overlap
# is never more than the real one. Each section logs its RWITH_FENCE with its entry.
COUNTING_SECTION = r'''
d=$1; target=$2; hold=$3; me=$4
flock "$d/mutex" sh -c '
    c=$(cat "$1/cur"); c=$((c + 1)); echo $c > "$1/cur"
    m=$(cat "$1/max"); if [ $c -gt $m ]; then echo $c > "$1/max.tmp"; mv "$1/max.tmp" "$1/max"; fi
    echo "E $2 $c $RWITH_FENCE" >> "$1/log"' sh "$d" "$me"
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
    fences = [ln.split()[3] for ln in enters if len(ln.split()) == 4]
    assert len(fences) == contenders and len(set(fences)) == contenders, (
        f"{what}: every holder needs a fence of its own (RWITH_FENCE):\n{log}")


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
        url = srv.url()
        lock = sc.lock("mm")
        holder = hold(sc, url, lock, "S", extra=["-l", "3"])
        ran = sc.path("ran")
        for flags, why in ((["-l", "2"], "-l 2 while the lock holds -l 3"),
                           ([], "the default -l 1 while the lock holds -l 3"),
                           (["-n", "-l", "4"], "-n -l 4 while the lock holds -l 3")):
            res = sc.run(["-r", url, *flags, lock, "--", "touch", ran])
            res.expect(EX_USAGE, why).expect_diagnostic()
            # The stored limit must be named; the lock name may contain digits itself.
            ours = [ln.replace(lock, "<LOCK>") for ln in res.err_lines
                    if ln.startswith("rwith: ")]
            assert any(re.search(r"(?<![0-9])3(?![0-9])", ln) for ln in ours), (
                f"{why}: no 'rwith: ' line names the stored limit 3\n{res.describe()}")
        assert not os.path.exists(ran), "a command with a mismatched -l ran"
        # The same limit joins (the semaphore has room for two more).
        ok = sc.path("ok")
        sc.run(["-r", url, "-n", "-l", "3", lock, "--", "touch", ok]).expect(
            0, "-n -l 3 joins a -l 3 semaphore with one holder")
        assert os.path.exists(ok)
        finish(holder)
        # The limit is stored only while the lock has holders.
        sc.try_lock(url, lock, ["-l", "2"]).expect(
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
        url = srv.url()
        lock = sc.lock("rw")
        log = sc.path("log")
        r1 = hold(sc, url, lock, "r1", extra=["-s"], log=log)
        # queue_waiter fails at once if the writer runs beside r1, or r2 joins r1.
        w = queue_waiter(sc, url, lock, "w", 1, extra=["-x"], log=log)
        r2 = queue_waiter(sc, url, lock, "r2", 2, extra=["-s"], log=log)
        time.sleep(0.5)  # room for a wrong join to show
        assert not r2.has_run(), (
            "reader r2 joined reader r1 although writer w was queued before it:\n"
            f"{harness.read_file(log)}")
        assert r1.proc.running() and w.proc.running() and r2.proc.running()
        r1.release()
        r1.wait(timeout=30).expect(0, "r1")
        w.started()  # the writer runs after r1
        time.sleep(0.3)
        assert not r2.has_run(), (
            f"reader r2 runs together with writer w:\n{harness.read_file(log)}")
        w.release()
        w.wait(timeout=30).expect(0, "w")
        r2.started()  # r2 runs after the writer
        finish(r2)
        lines = harness.read_file(log).splitlines()
        assert lines == ["r1 start", "r1 end", "w start", "w end", "r2 start", "r2 end"], (
            f"expected r1 -> w -> r2 without overlap, got: {lines}")
        fences = [h.fence for h in (r1, w, r2)]
        assert fences[0] < fences[1] < fences[2], f"fences r1, w, r2: {fences}"


def test_fences_increase_across_modes():
    """Semaphore holders (-l 2, one of them a waiter), then readers, then a writer, all
    on one lock: RWITH_FENCE is distinct and strictly increasing in acquisition order."""
    with Scope("modes-fences") as sc:
        srv = sc.redis()
        lock = sc.lock("fence")
        url = srv.url()
        s1 = hold(sc, url, lock, "s1", extra=["-l", "2"])
        s2 = hold(sc, url, lock, "s2", extra=["-l", "2"])
        # Fails at once should a third holder run under --limit 2.
        s3 = queue_waiter(sc, url, lock, "s3", 1, extra=["-l", "2"])
        finish(s1)
        s3.started()  # s3 acquires after s1
        finish(s2, s3)
        r1 = hold(sc, url, lock, "r1", extra=["-s"])
        r2 = hold(sc, url, lock, "r2", extra=["-s"])  # beside r1
        finish(r1, r2)
        w = Holder(sc, url, lock, "w", extra=["-x"])
        finish(w)
        holders = [s1, s2, s3, r1, r2, w]
        values = []
        for h in holders:
            text = harness.read_file(h.fence_path, "").split()
            assert text and text[0].isdigit(), f"{h.name}: RWITH_FENCE is not an integer: {text}"
            values.append(int(text[0]))
        pairs = [(h.name, v) for h, v in zip(holders, values)]
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
        rwith_pid = sc.processes[-1].pid
        left = harness.session_members(rwith_pid) + processes_mentioning(lock)
        assert not left, f"processes left behind after rwith --min-hold exited: {left}"
        since = time.monotonic() - t0
        sc.try_lock(url, lock).expect(
            EX_CONFLICT, f"the lock is still held within --min-hold 3s ({since:.2f} s after "
            "the run started)")
        st = lock_status(sc, url, lock)
        assert st.get("held") is True and len(st.get("holders", [])) == 1, (
            f"--status --json within --min-hold: {st}")
        assert st["holders"][0].get("mode") == "exclusive", f"--status --json: {st}"
        assert st["holders"][0].get("pid") == rwith_pid, (
            f"--status --json does not name the rwith ({rwith_pid}) that holds on: {st}")
        # The lock frees itself (on the server: no process is left) once the min-hold has
        # passed, long before the default 30 s TTL.
        free = harness.wait_until(
            lambda: sc.try_lock(url, lock).status == 0 and time.monotonic(), 10,
            "the lock to free itself after --min-hold 3s (default TTL 30s)", interval=0.2)
        assert free - t0 >= 2.8, (
            f"the lock was free {free - t0:.2f} s after the --min-hold 3s run started")


def test_min_hold_fleet_runs_once():
    """Three hosts run the nightly job at about the same moment: exactly one runs it,
    the others find the lock held and exit 0 (-E 0); so does a fourth that comes after the
    job has ended, within the minimum hold."""
    with Scope("modes-fleet") as sc:
        srv = sc.redis()
        lock = sc.lock("nightly")
        out = sc.path("ran")
        # rwith does not wait out --min-hold: 10 s cost no test time, and leave the late
        # host plenty of room on a loaded machine.
        args = ["-r", srv.url(), "-n", "-E", "0", "--min-hold", "10s", lock, "--",
                "sh", "-c", f"echo x >> {shlex.quote(out)}"]
        procs = [sc.start(args) for _ in range(3)]
        spread = procs[-1].t0 - procs[0].t0
        assert spread < 1.0, f"the three runs started {spread:.2f} s apart"
        for p in procs:
            p.wait(timeout=30).expect(0, "-n -E 0 --min-hold 10s")
        assert harness.read_file(out, "").splitlines() == ["x"], "the job did not run once"
        late = sc.start(args)
        assert late.t0 - procs[0].t0 < 8.0, (
            f"the late run started {late.t0 - procs[0].t0:.2f} s after the first: too late "
            "to test --min-hold 10s")
        late.wait(timeout=30).expect(0, "-n -E 0 after the job ended, within --min-hold")
        lines = harness.read_file(out, "").splitlines()
        assert lines == ["x"], f"the job ran {len(lines)} times, expected once: {lines}"


# ---------------------------------------------------------------------------------------
# Lock loss, --status and --break for every mode

def start_heartbeat_holders(sc, url, lock, flags, count=2):
    """`count` stuck holders with `flags` (TTL 5 s, heartbeat 300 ms), all holding lock at
    once. Returns (the rwiths, the pids of all their commands)."""
    procs, pids = [], []
    for i in range(count):
        proc, _, command_pids = start_stuck_holder(
            sc, url, lock, f"h{i}", extra=[*flags, "-t", "5s", "--heartbeat", "300ms"])
        procs.append(proc)
        pids += command_pids
    return procs, pids


def lost_case(name, flags):
    with Scope("modes-lost-" + name) as sc:
        srv = sc.redis()
        lock = sc.lock(name)
        procs, pids = start_heartbeat_holders(sc, srv.url(), lock, flags)
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
        url = srv.url()
        lock = sc.lock("brk")
        procs, pids = start_heartbeat_holders(sc, url, lock, ["-s"])
        st = lock_status(sc, url, lock)
        holders = st.get("holders", [])
        assert st.get("held") is True and len(holders) == 2, f"--status --json: {st}"
        assert all(h.get("mode") == "shared" for h in holders), f"--status --json: {st}"
        assert sorted(h.get("pid") for h in holders) == sorted(p.pid for p in procs), (
            f"--status --json holders are not the two readers {[p.pid for p in procs]}: {st}")
        text = sc.run(["-r", url, "--status", lock]).expect(0, "--status")
        shared_lines = [ln for ln in text.out.splitlines() if ln.rstrip().endswith("shared")]
        assert len(shared_lines) == 2, f"--status: expected two lines ending 'shared'\n" \
            f"{text.describe()}"
        res = sc.run(["-r", url, "--break", lock]).expect(0, "--break")
        broke_at = time.monotonic()
        for p in procs:
            assert re.search(rf"(?<![0-9]){p.pid}(?![0-9])", res.out), (
                f"--break does not list the reader with pid {p.pid}\n{res.describe()}")
        removed = [ln for ln in res.out.splitlines() if str(procs[0].pid) in ln
                   or str(procs[1].pid) in ln]
        assert len(removed) == 2, f"--break: expected two removed holders\n{res.describe()}"
        assert res.out.count("removed") == 2, (
            f"--break: expected 'removed' once per reader\n{res.describe()}")
        st = lock_status(sc, url, lock)
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
