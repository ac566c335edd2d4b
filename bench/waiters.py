#!/usr/bin/env python3
"""What waiting costs the server, and 200 waiters at once.

(a) Requests per second per waiter: one holder keeps the lock HOLD seconds (default 20) while
    WAITERS rwith processes (default 20) wait for it, with rwith's default TTL (pass --ttl to
    change it). In a window in the middle of the hold (from 25% to 75% of it) the bench counts
    what the server did: `INFO stats` total_commands_processed and `INFO commandstats` deltas
    (its own INFO call taken out), and, from a MONITOR connection, which client sent each
    request and which commands ran inside Lua scripts (those are counted by INFO too, but are
    not requests). Figure: requests sent by the waiters / WAITERS / window (target < 0.2/s).
    Afterwards every waiter must get the lock once the holder is done. A blocking command
    (BLPOP) shows in MONITOR when it is sent and in INFO when it returns, so a waiter parked in
    one across the whole window costs nothing there. A longer --hold gives a longer window, for
    waiters that only refresh something every TTL/3.
(b) MANY waiters (default 200) start at the same moment (released by a FIFO barrier), each
    running a tiny section under one lock that appends its id to a file between two time
    stamps. Every id must appear exactly once and no two sections may overlap (asserted; a
    failure is reported loudly and the exit status is 1). Reports the wall time, for flock(1)
    and for rwith in the same run, with the machine's CPU count and limits.

Starts its own redis-server on a free 127.0.0.1 port (--save '' --appendonly no, in a temp
dir) and stops it by PID; every process it starts runs in a session of its own and is killed by
process group (and any stragglers by PID) at the end, also on Ctrl-C, SIGTERM, timeout or
failure. Talks to nothing else.

Usage: bench/waiters.py [RWITH] [--part a|b|both] [--waiters 20] [--hold 20] [--ttl DUR]
                        [--many 200] [--timeout 300]
RWITH defaults to build/rwith in the repository; it is copied into the temp dir first, so a
rebuild during the run does not change the binary under test."""
import argparse
import collections
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (Redis, add_rwith_arg, find_tools, pct, run_guarded,  # noqa: E402
                      sections_from_log)

LOCK_A = "bench-waiters"
LOCK_B = "bench-many"

HOLDER = ': > "$HELD"; sleep "$HOLDFOR"; date +%s%N > "$RELEASED"'
WAITER = 'echo "$ID $(date +%s%N)" >> "$RAN"'
SECTION = ('echo "S $ID $(date +%s%N)" >> "$LOG"; echo "$ID" >> "$IDS"; '
           'echo "E $ID $(date +%s%N)" >> "$LOG"')
# Wait at the barrier (open the FIFO, say ready, read until the bench closes its end), then
# become the tool ("$@").
BARRIER = 'exec 3<"$GO" || exit 90; : > "$READY/$ID"; read _ <&3; exec 3<&-; exec "$@"'


# ---------------------------------------------------------------- a redis client

def snapshot(r):
    """Counters from one INFO call: total commands, connections, calls per command."""
    info = r.call("INFO", "stats", "commandstats")
    stats, calls = {}, {}
    for line in info.splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line[8:].partition(":")
            fields = dict(kv.split("=", 1) for kv in rest.split(","))
            calls[name] = int(fields["calls"])
        elif ":" in line:
            k, _, v = line.partition(":")
            stats[k] = v
    return {"total": int(stats["total_commands_processed"]),
            "conns": int(stats["total_connections_received"]), "calls": calls}


def delta(a, b):
    calls = {k: b["calls"].get(k, 0) - a["calls"].get(k, 0) for k in set(a["calls"]) | set(b["calls"])}
    return {"total": b["total"] - a["total"], "conns": b["conns"] - a["conns"],
            "calls": {k: v for k, v in calls.items() if v}}


def client_addrs(r):
    return {dict(f.split("=", 1) for f in line.split() if "=" in f)["addr"]
            for line in r.call("CLIENT", "LIST").splitlines() if line.strip()}


MONITOR_LINE = re.compile(rb'^\+(\d+\.\d+) \[\d+ ([^\]]*)\] "((?:[^"\\]|\\.)*)"')


class Monitor(threading.Thread):
    """Counts MONITOR lines between the bench's own two INFO calls (recognised by the bench
    connection's address): by source (holder, waiter, lua = inside a script) and command."""

    def __init__(self, port, bench_addr, holder_addrs):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(b"MONITOR\r\n")
        self.file = self.sock.makefile("rb")
        if not self.file.readline().startswith(b"+OK"):
            raise RuntimeError("redis: MONITOR refused")
        self.sock.settimeout(None)
        self.addr = "%s:%d" % self.sock.getsockname()[:2]
        self.bench_addr = bench_addr.encode()
        self.holder_addrs = {a.encode() for a in holder_addrs}
        self.counts = collections.Counter()
        self.waiter_addrs = set()
        self.marks = []  # server times of the bench's INFO calls
        self.done = threading.Event()
        self.error = None

    def run(self):
        try:
            for raw in self.file:
                m = MONITOR_LINE.match(raw)
                if not m:
                    continue
                ts, addr, cmd = float(m.group(1)), m.group(2), m.group(3).decode().lower()
                if addr == self.bench_addr:
                    self.marks.append(ts)
                    if len(self.marks) == 2:
                        self.done.set()
                        return
                    continue
                if len(self.marks) != 1:
                    continue
                if addr == b"lua":
                    src = "lua"
                elif addr in self.holder_addrs:
                    src = "holder"
                else:
                    src = "waiter"
                    self.waiter_addrs.add(addr)
                self.counts[(src, cmd)] += 1
        except (OSError, ValueError) as e:
            self.error = e
        finally:
            self.done.set()

    def stop(self):
        self.done.wait(5)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.join(5)
        self.file.close()
        self.sock.close()


# ---------------------------------------------------------------- helpers

def wait_all(procs_list, deadline):
    """Waits for every process until the deadline; returns False on timeout."""
    for p in procs_list:
        try:
            p.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
    return True


def stderr_of(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


# ---------------------------------------------------------------- (a)

def part_a(procs, workdir, env, rwith, url, port, n_waiters, hold, ttl_args, report, problems):
    run = os.path.join(workdir, "a")
    os.makedirs(run)
    held, released, ran = (os.path.join(run, n) for n in ("held", "released", "ran"))
    open(ran, "w").close()
    r = Redis(port)
    try:
        bench_addr = dict(f.split("=", 1) for f in r.call("CLIENT", "INFO").split() if "=" in f)["addr"]
        # What one snapshot costs in the counters (INFO counts itself once it has answered).
        s1, s2 = snapshot(r), snapshot(r)
        own = delta(s1, s2)
        if own["total"] < 0 or set(own["calls"]) - {"info"}:
            raise RuntimeError(f"the server is not idle before part (a): {own}")

        herr = os.path.join(run, "holder.err")
        with open(herr, "wb") as err:
            holder = procs.spawn([rwith, "-r", url, *ttl_args, LOCK_A, "--", "/bin/sh", "-c", HOLDER],
                                 dict(env, HELD=held, RELEASED=released, HOLDFOR=f"{hold:g}"),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 10
        while not os.path.exists(held):
            if time.monotonic() > deadline or holder.poll() is not None:
                raise RuntimeError(f"(a) the holder did not get the lock: {stderr_of(herr)[-500:]}")
            time.sleep(0.01)
        t_held = time.monotonic()
        holder_addrs = client_addrs(r) - {bench_addr}

        waiters = []
        for i in range(n_waiters):
            path = os.path.join(run, f"w{i}.err")
            with open(path, "wb") as err:
                waiters.append((i, path, procs.spawn(
                    [rwith, "-r", url, *ttl_args, LOCK_A, "--", "/bin/sh", "-c", WAITER],
                    dict(env, ID=f"w{i}", RAN=ran), stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=err)))

        time.sleep(max(0.0, t_held + hold * 0.25 - time.monotonic()))
        gone = [f"w{i} (exit {p.returncode})" for i, _, p in waiters if p.poll() is not None]
        if holder.poll() is not None or gone:
            raise RuntimeError(f"(a) before the window: holder exit {holder.returncode}, "
                               f"waiters gone: {' '.join(gone) or 'none'}")
        mon = Monitor(port, bench_addr, holder_addrs)
        mon.start()
        a = snapshot(r)
        ta = time.monotonic()
        time.sleep(max(0.0, t_held + hold * 0.75 - time.monotonic()))
        b = snapshot(r)
        tb = time.monotonic()
        mon.stop()
        alive_at_end = holder.poll() is None and all(p.poll() is None for _, _, p in waiters)
        clients_at_end = len(client_addrs(r) - {bench_addr, mon.addr})

        d = delta(a, b)
        d["total"] -= own["total"]
        d["calls"]["info"] = d["calls"].get("info", 0) - own["calls"].get("info", 0)
        d["calls"] = {k: v for k, v in d["calls"].items() if v}
        window = (mon.marks[1] - mon.marks[0]) if len(mon.marks) == 2 else tb - ta
        by_src = collections.Counter()
        for (src, _), n in mon.counts.items():
            by_src[src] += n

        # The rest of the hold, then every waiter must get the lock once.
        done_by = time.monotonic() + (t_held + hold - time.monotonic()) + 60 + 2 * n_waiters
        if not wait_all([holder] + [p for _, _, p in waiters], done_by):
            procs.kill_all()
            raise RuntimeError("(a) TIMEOUT: the waiters did not all get the lock within "
                               f"60 s + {2 * n_waiters} s of the holder's end; killed everything")
        if holder.returncode != 0:
            problems.append(f"(a) holder exited {holder.returncode}: {stderr_of(herr)[-300:]}")
        for i, path, p in waiters:
            if p.returncode != 0:
                problems.append(f"(a) waiter w{i} exited {p.returncode}: {stderr_of(path)[-300:]}")
        notes = [f"w{i}: {stderr_of(path).splitlines()[0][:200]}" for i, path, p in waiters
                 if p.returncode == 0 and stderr_of(path)]
        ids = collections.Counter(line.split()[0] for line in open(ran).read().splitlines() if line)
        want = {f"w{i}" for i in range(n_waiters)}
        if set(ids) != want or any(n != 1 for n in ids.values()):
            problems.append(f"(a) waiters that did not run exactly once: "
                            f"{sorted((want - set(ids)) | {k for k, n in ids.items() if n != 1})}")
        drain = None
        try:
            rel = int(open(released).read().strip())
            drain = (max(int(line.split()[1]) for line in open(ran).read().splitlines()) - rel) / 1e9
        except (OSError, ValueError):
            pass
    finally:
        r.close()

    out = report.append
    ttl_text = f"--ttl {ttl_args[1]}" if ttl_args else "default TTL"
    out(f"(a) {n_waiters} waiters behind one holder of {hold:g} s ({ttl_text}); window "
        f"{window:.2f} s in the middle of the hold (server clock, from MONITOR)")
    if not alive_at_end:
        problems.append("(a) the holder or a waiter was no longer running at the end of the window")
    waiter_req = by_src["waiter"]
    per = waiter_req / n_waiters / window
    out(f"    requests from the waiters : {waiter_req} in {window:.2f} s = "
        f"{per:.3f} requests/s per waiter   (target < 0.2)")
    wc = collections.Counter({cmd: n for (src, cmd), n in mon.counts.items() if src == "waiter"})
    out(f"      which                   : " + (", ".join(f"{c} {n}" for c, n in wc.most_common())
                                              or "none"))
    hc = collections.Counter({cmd: n for (src, cmd), n in mon.counts.items() if src == "holder"})
    out(f"    requests from the holder  : {by_src['holder']}"
        + (f" ({', '.join(f'{c} {n}' for c, n in hc.most_common())})" if hc else ""))
    lc = collections.Counter({cmd: n for (src, cmd), n in mon.counts.items() if src == "lua"})
    out(f"    commands run inside scripts: {by_src['lua']}"
        + (f" ({', '.join(f'{c} {n}' for c, n in lc.most_common())})" if lc else ""))
    out(f"    server commands processed : {d['total']} (INFO total_commands_processed delta, "
        f"own INFO taken out; includes the commands inside scripts)")
    out(f"      = {d['total'] / n_waiters / window:.3f} per waiter per second; "
        f"requests (minus script-internal) {d['total'] - by_src['lua']} vs "
        f"{sum(by_src.values()) - by_src['lua']} seen by MONITOR")
    out(f"    commandstats deltas        : " + (", ".join(
        f"{k} {v}" for k, v in sorted(d["calls"].items(), key=lambda kv: -kv[1])) or "none"))
    out(f"    new connections in window  : {d['conns']}; distinct waiter connections seen: "
        f"{len(mon.waiter_addrs)}; rwith connections at the end: {clients_at_end}")
    if drain is not None:
        out(f"    after the holder released  : all {n_waiters} waiters done {drain * 1000:.0f} ms later")
    for n in notes[:3]:
        out(f"    note: stderr of a waiter that succeeded: {n}")
    if mon.error:
        problems.append(f"(a) MONITOR connection failed: {mon.error}")


# ---------------------------------------------------------------- (b)

def part_b(procs, workdir, env, name, tool_argv, port, lock, many, timeout, report, problems):
    run = os.path.join(workdir, f"b-{name}")
    ready = os.path.join(run, "ready")
    os.makedirs(ready)
    go, log, ids = (os.path.join(run, n) for n in ("go", "log", "ids"))
    os.mkfifo(go)
    open(log, "w").close()
    open(ids, "w").close()
    r = Redis(port)
    before = snapshot(r)
    gofd = os.open(go, os.O_RDWR)  # does not block; readers see EOF when it is closed
    started = []
    try:
        for i in range(many):
            path = os.path.join(run, f"{i}.err")
            with open(path, "wb") as err:
                started.append((i, path, procs.spawn(
                    ["/bin/sh", "-c", BARRIER, "waiter", *tool_argv, "/bin/sh", "-c", SECTION],
                    dict(env, GO=go, READY=ready, ID=f"id{i}", LOG=log, IDS=ids),
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)))
        deadline = time.monotonic() + 60
        while len(os.listdir(ready)) < many:
            if time.monotonic() > deadline:
                raise RuntimeError(f"(b) {name}: only {len(os.listdir(ready))} of {many} "
                                   "processes reached the barrier in 60 s")
            time.sleep(0.01)
        load = os.getloadavg()[0]
    finally:
        os.close(gofd)
    t0 = time.monotonic()
    finished = wait_all([p for _, _, p in started], t0 + timeout)
    wall = time.monotonic() - t0
    if not finished:
        procs.kill_all()
        left = sum(1 for _, _, p in started if p.returncode is None or p.returncode < 0)
        problems.append(f"(b) {name}: TIMEOUT after {timeout:g} s with {left} of {many} "
                        "still running; killed everything")
    after = snapshot(r)
    leftover = r.call("KEYS", "*")
    r.close()

    for i, path, p in started:
        if finished and p.returncode != 0:
            problems.append(f"(b) {name}: id{i} exited {p.returncode}: {stderr_of(path)[-300:]}")
    notes = [f"id{i}: {stderr_of(path).splitlines()[0][:200]}" for i, path, p in started
             if p.returncode == 0 and stderr_of(path)]
    secs, overlaps, other = sections_from_log(open(log).read().splitlines())
    for o in overlaps:
        problems.append(f"(b) {name}: MUTUAL EXCLUSION BROKEN: {o}")
    problems += [f"(b) {name}: {o}" for o in other]
    counted = collections.Counter(line for line in open(ids).read().splitlines() if line)
    want = {f"id{i}" for i in range(many)}
    missing = sorted(want - set(counted))
    twice = sorted(k for k, n in counted.items() if n > 1 or k not in want)
    if missing:
        problems.append(f"(b) {name}: {len(missing)} id(s) missing from the file: "
                        f"{' '.join(missing[:10])}")
    if twice:
        problems.append(f"(b) {name}: id(s) more than once or unknown: {' '.join(twice[:10])}")

    gaps = [(b[1] - a[2]) / 1e6 for a, b in zip(secs, secs[1:])]
    span = (max(e for _, _, e in secs) - secs[0][1]) / 1e9 if secs else 0.0
    d = delta(before, after)
    line = (f"    {name:5}: wall {wall:6.2f} s from the barrier to the last exit; "
            f"first section start to last end {span:6.2f} s; {len(secs)} sections")
    if gaps:
        line += (f"; hand-off median {statistics.median(gaps):.2f} ms, p90 {pct(gaps, 90):.2f} ms, "
                 f"max {max(gaps):.1f} ms")
    report.append(line)
    if name == "rwith":
        own = 1  # the 'before' INFO, counted once it had answered
        report.append(f"           server commands meanwhile: {d['total'] - own} "
                      f"({(d['total'] - own) / many:.1f} per waiter, including commands inside "
                      f"scripts): " + ", ".join(f"{k} {v}" for k, v in sorted(
                          d["calls"].items(), key=lambda kv: -kv[1]) if k != "info"))
        report.append(f"           keys left on the server: {len(leftover)}"
                      + (f" ({', '.join(sorted(leftover)[:8])})" if leftover else ""))
    report.append(f"           load average (1 min) when released: {load:.2f}")
    for n in notes[:3]:
        report.append(f"           note: stderr of a run that succeeded: {n}")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_rwith_arg(ap)
    ap.add_argument("--part", choices=("a", "b", "both"), default="both")
    ap.add_argument("--waiters", type=int, default=20, help="(a) number of waiters")
    ap.add_argument("--hold", type=float, default=20.0, help="(a) seconds the holder keeps the lock")
    ap.add_argument("--ttl", help="(a) pass -t TTL to the holder and the waiters (default: none)")
    ap.add_argument("--many", type=int, default=200, help="(b) number of simultaneous waiters")
    ap.add_argument("--timeout", type=float, default=300.0, help="(b) overall limit per tool")
    args = ap.parse_args()
    if not (1 <= args.waiters <= 1000 and 4 <= args.hold <= 3600 and 2 <= args.many <= 5000
            and 1 <= args.timeout <= 3600):
        ap.error("out of range (--hold at least 4 s: the window is its middle half)")
    src, flock = find_tools(args.rwith)

    # Enough descriptors for the server (one per client) and for us; children inherit it.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(args.many, args.waiters) * 4 + 256
    if soft != resource.RLIM_INFINITY and soft < need:
        soft = need if hard == resource.RLIM_INFINITY else min(hard, need)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)

    report, problems = [], []

    def bench(procs, workdir, env, rwith, url, port):
        ttl_args = ["-t", args.ttl] if args.ttl else []
        for _ in range(3):  # load the server's script cache
            w = subprocess.run([rwith, "-r", url, *ttl_args, "bench-warmup", "--", "true"], env=env,
                               timeout=30, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if w.returncode != 0:
                raise RuntimeError(f"warm-up rwith exited {w.returncode}: {w.stderr.strip()[-500:]}")
        r = Redis(port)
        maxclients = r.call("CONFIG", "GET", "maxclients")[1]
        version = dict(l.split(":", 1) for l in r.call("INFO", "server").splitlines()
                       if ":" in l)["redis_version"]
        r.close()
        cpus = len(os.sched_getaffinity(0))
        print(f"rwith under test: {src}")
        print(f"machine: {os.cpu_count()} CPUs ({cpus} usable); RLIMIT_NOFILE {soft}; "
              f"RLIMIT_NPROC {'unlimited' if nproc[0] == resource.RLIM_INFINITY else nproc[0]}; "
              f"redis-server {version} on 127.0.0.1:{port}, maxclients {maxclients}")
        print()
        if args.part in ("a", "both"):
            part_a(procs, workdir, env, rwith, url, port, args.waiters, args.hold, ttl_args,
                   report, problems)
            print("\n".join(report))
            print()
            report.clear()
        if args.part in ("b", "both"):
            print(f"(b) {args.many} waiters released at once on one lock, each appending its id "
                  f"between two time stamps\n    section: sh -c '{SECTION}'")
            lockfile = os.path.join(workdir, "flock.lock")
            for name, argv in (("flock", [flock, lockfile]),
                               ("rwith", [rwith, "-r", url, LOCK_B, "--"])):
                part_b(procs, workdir, env, name, argv, port, LOCK_B, args.many, args.timeout,
                       report, problems)
                print("\n".join(report))
                report.clear()
            if not any(p.startswith("(b)") for p in problems):
                print(f"    every one of the {args.many} ids appears exactly once, no two sections "
                      "overlapped (both tools)")
        return 0

    status = run_guarded("rwith-bench-waiters-", src, bench)
    if problems:
        print()
        for p in problems:
            print(f"!!! {p}")
        print(f"!!! {len(problems)} problem(s): see above")
        status = status or 1
    return status


if __name__ == "__main__":
    sys.exit(main())
