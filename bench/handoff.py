#!/usr/bin/env python3
"""Hand-off latency under contention: `rwith LOCK -- CMD` against `flock FILE CMD`, same run.

K contenders (default 6) each run S critical sections (default 10) one after another on one
lock; all contenders start together (released by a FIFO barrier). Every section is the same
tiny shell command for both tools:

    echo "S $TAG $(date +%s%N)" >> LOG; sleep HOLD; echo "E $TAG $(date +%s%N)" >> LOG

Hand-off latency is the start stamp of section n+1 minus the end stamp of section n, over all
consecutive pairs. It includes the section's own cost (sh exiting, the next sh and `date`
starting), which is the same for both tools; the "no lock" row shows that floor: one loop
running the sections back to back without any lock.

Checked, and reported loudly (exit status 1): two sections overlapping (mutual exclusion
broken), a section missing or run twice, a contender failing.

Also reported: barging, i.e. the contender that released the lock holding the next section too
while another contender still had sections to run (so was waiting for it). With FIFO hand-off
that is 0%; a fair coin among K contenders would give about 1/K.

Starts its own redis-server on a free 127.0.0.1 port (--save '' --appendonly no, in a temp
dir) and stops it by PID; every process it starts runs in a session of its own and is killed
by process group (and any stragglers by PID) at the end, also on Ctrl-C, SIGTERM or failure.

Usage: bench/handoff.py [RWITH] [-k CONTENDERS] [-s SECTIONS] [--hold SECONDS] [--rounds N]
RWITH defaults to build/rwith in the repository; it is copied into the temp dir first, so a
rebuild during the run does not change the binary under test."""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import add_rwith_arg, find_tools, pct, run_guarded, sections_from_log  # noqa: E402

STDERR_NOTES = []  # what the tools said on stderr in runs that otherwise succeeded

SECTION = ('echo "S $TAG $(date +%s%N)" >> "$LOG"; sleep "$HOLD"; '
           'echo "E $TAG $(date +%s%N)" >> "$LOG"')

# A contender: wait at the barrier (open the FIFO, say ready, read until the bench closes its
# end), then run the tool S times in a row with TAG=ID.i.  "$@" is the tool's argv.
CONTENDER = ('exec 3<"$GO" || exit 90; : > "$READY/$ID"; read _ <&3; exec 3<&-; '
             'i=0; while [ "$i" -lt "$SECTIONS" ]; do i=$((i+1)); '
             'TAG="$ID.$i" "$@" || { echo "contender $ID: section $i: exit $?" >&2; exit 91; }; '
             'done')


# ---------------------------------------------------------------- one workload

def run_workload(procs, workdir, name, tool_argv, env, contenders, sections, hold, timeout):
    """Runs CONTENDER × contenders with the tool, all released at once; returns the log lines
    and a list of failure messages."""
    run = os.path.join(workdir, name)
    os.makedirs(os.path.join(run, "ready"))
    go = os.path.join(run, "go")
    log = os.path.join(run, "log")
    os.mkfifo(go)
    open(log, "w").close()
    # Read-write open does not block; the contenders' read ends see EOF when we close it.
    gofd = os.open(go, os.O_RDWR)
    failures = []
    started = []
    try:
        for cid in range(contenders):
            cenv = dict(env, GO=go, READY=os.path.join(run, "ready"), ID=f"c{cid}",
                        SECTIONS=str(sections), LOG=log, HOLD=f"{hold:g}")
            err = open(os.path.join(run, f"c{cid}.err"), "wb")
            started.append((cid, procs.spawn(["/bin/sh", "-c", CONTENDER, "contender",
                                              *tool_argv], cenv, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=err), err))
        deadline = time.monotonic() + 30
        while len(os.listdir(os.path.join(run, "ready"))) < contenders:
            if time.monotonic() > deadline or any(p.poll() is not None for _, p, _ in started):
                raise RuntimeError(f"{name}: contenders did not reach the barrier")
            time.sleep(0.01)
    finally:
        os.close(gofd)  # go (or, on failure, let them fall through to be killed)
    t0 = time.monotonic()
    deadline = t0 + timeout
    for cid, proc, err in started:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            procs.kill_all()
            raise RuntimeError(f"{name}: TIMEOUT after {timeout:.0f} s; killed everything")
    wall = time.monotonic() - t0
    for cid, proc, err in started:
        err.close()
        text = open(err.name, errors="replace").read().strip()
        if proc.returncode not in (0, None):
            failures.append(f"{name}: contender c{cid} exited {proc.returncode}: "
                            f"{text[-500:] or '(no stderr)'}")
        elif text:
            STDERR_NOTES.append(f"{name}: c{cid}: {text.splitlines()[0][:300]}"
                                f" ({len(text.splitlines())} line(s) on stderr)")
    with open(log) as f:
        lines = f.read().splitlines()
    return lines, wall, failures


def analyse(name, lines, contenders, sections):
    """Returns (stats dict, list of problems)."""
    secs, overlaps, other = sections_from_log(lines)
    problems = [f"{name}: MUTUAL EXCLUSION BROKEN: {o}" for o in overlaps]
    problems += [f"{name}: {o}" for o in other]
    want = {f"c{c}.{k}" for c in range(contenders) for k in range(1, sections + 1)}
    seen = {tag for tag, _, _ in secs}
    missing, extra = sorted(want - seen), sorted(seen - want)
    if missing:
        problems.append(f"{name}: {len(missing)} section(s) missing: {' '.join(missing[:10])}")
    if extra:
        problems.append(f"{name}: unknown sections: {' '.join(extra[:10])}")

    gaps, gaps_other, gaps_same = [], [], []
    barge, eligible = 0, 0
    remaining = {f"c{c}": sections for c in range(contenders)}
    for n, (tag, s, e) in enumerate(secs):
        who = tag.split(".")[0]
        if who in remaining:
            remaining[who] -= 1
        if n + 1 == len(secs):
            break
        nxt_who = secs[n + 1][0].split(".")[0]
        gap = (secs[n + 1][1] - e) / 1e6
        gaps.append(gap)
        (gaps_same if nxt_who == who else gaps_other).append(gap)
        if any(left > 0 for c, left in remaining.items() if c != who):
            eligible += 1
            barge += nxt_who == who
    span = (max(e for _, _, e in secs) - secs[0][1]) / 1e9 if secs else 0
    return {"gaps": gaps, "other": gaps_other, "same": gaps_same, "barge": barge,
            "eligible": eligible, "sections": len(secs),
            "rate": len(secs) / span if span > 0 else 0.0}, problems


def fmt_ms(v):
    return "    -   " if v != v else f"{v:7.2f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_rwith_arg(ap)
    ap.add_argument("-k", "--contenders", type=int, default=6)
    ap.add_argument("-s", "--sections", type=int, default=10, help="sections per contender")
    ap.add_argument("--hold", type=float, default=0.02, help="seconds inside each section")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the workloads, in a turning order, and pool the samples")
    args = ap.parse_args()
    if not (1 <= args.contenders <= 200 and 1 <= args.sections <= 10000
            and 0 <= args.hold <= 10 and 1 <= args.rounds <= 100):
        ap.error("out of range")
    if args.contenders * args.sections < 2:
        ap.error("need at least two sections in all")
    src, flock = find_tools(args.rwith)

    def bench(procs, workdir, env, rwith, url, port):
        lockfile = os.path.join(workdir, "flock.lock")
        section = ["/bin/sh", "-c", SECTION]
        tools = {
            "no lock (1 loop)": [],
            "flock FILE CMD": [flock, lockfile, *section],
            "rwith LOCK -- CMD": [rwith, "-r", url, "bench-handoff", "--", *section],
        }
        for _ in range(5):  # warm caches and the server's script cache
            for argv in (tools["rwith LOCK -- CMD"][:4] + ["--", "true"], [flock, lockfile, "true"]):
                w = subprocess.run(argv, env=env, timeout=30, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if w.returncode != 0:
                    raise RuntimeError(f"warm-up {' '.join(argv)} exited {w.returncode}: "
                                       f"{w.stderr.strip()[-500:]}")
                if w.stderr.strip():
                    STDERR_NOTES.append(f"warm-up {os.path.basename(argv[0])}: "
                                        f"{w.stderr.strip().splitlines()[0][:300]}")
        per_run = args.contenders * args.sections * (args.hold + 1.0) + 60
        results = {name: {"gaps": [], "other": [], "same": [], "barge": 0, "eligible": 0,
                          "sections": 0, "rate": []} for name in tools}
        walls = {name: [] for name in tools}
        problems = []
        for rnd in range(args.rounds):
            # The order turns each round: what runs first meets a machine warmed differently.
            order = list(tools.items())
            order = order[rnd % len(order):] + order[:rnd % len(order)]
            for name, argv in order:
                if name.startswith("no lock"):
                    k, s, tool = 1, min(args.sections * 2, 50), []
                else:
                    k, s, tool = args.contenders, args.sections, argv
                if not tool:
                    tool = section
                lines, wall, fails = run_workload(
                    procs, workdir, f"r{rnd}-{len(walls[name])}-{name.split()[0]}", tool, env,
                    k, s, args.hold, per_run)
                st, probs = analyse(name, lines, k, s)
                problems += fails + probs
                walls[name].append(wall)
                agg = results[name]
                for key in ("gaps", "other", "same"):
                    agg[key] += st[key]
                for key in ("barge", "eligible", "sections"):
                    agg[key] += st[key]
                agg["rate"].append(st["rate"])

        print(f"hand-off: {args.contenders} contenders x {args.sections} sections on one lock, "
              f"{args.hold * 1000:g} ms inside each, {args.rounds} round(s); "
              f"{os.cpu_count()} CPUs; redis-server on 127.0.0.1:{port}")
        print(f"rwith under test: {src}")
        print(f"section: sh -c '{SECTION}'")
        print()
        print(f"{'':18} {'hand-offs':>9} {'median':>10} {'p90':>10} {'max':>10} "
              f"{'to another':>11} {'barging':>16} {'sections/s':>10}")
        for name, r in results.items():
            g = r["gaps"]
            barging = ("-" if name.startswith("no lock") or not r["eligible"] else
                       f"{r['barge']}/{r['eligible']} {100 * r['barge'] / r['eligible']:4.0f}%")
            print(f"{name:18} {len(g):9d} {fmt_ms(statistics.median(g) if g else float('nan'))} "
                  f"{fmt_ms(pct(g, 90))} {fmt_ms(max(g) if g else float('nan'))} "
                  f"{fmt_ms(statistics.median(r['other']) if r['other'] else float('nan')):>11} "
                  f"{barging:>16} {statistics.median(r['rate']) if r['rate'] else 0:10.1f}")
        fl, rw = results["flock FILE CMD"]["gaps"], results["rwith LOCK -- CMD"]["gaps"]
        print()
        print("median/p90/max: over all consecutive pairs of sections (start of the next minus "
              "end of the previous);\n'to another': median over the pairs where the lock went to "
              "a different contender;\nbarging: the releaser took the next section too while "
              "another contender still had sections to run")
        if fl and rw:
            print(f"ratio of medians rwith/flock: {statistics.median(rw) / statistics.median(fl):.2f}x "
                  f"(target <= 1.5x); p90 ratio {pct(rw, 90) / pct(fl, 90):.2f}x")
        print(f"wall time per run: " + ", ".join(
            f"{n.split()[0]} {statistics.median(w):.2f} s" for n, w in walls.items()))
        if STDERR_NOTES:
            print()
            print(f"note: the tools wrote to stderr in {len(STDERR_NOTES)} run(s) that succeeded:")
            for n in STDERR_NOTES[:10]:
                print(f"  {n}")
        if problems:
            print()
            for p in problems:
                print(f"!!! {p}")
            print(f"!!! {len(problems)} problem(s): see above")
            return 1
        total = sum(r["sections"] for r in results.values())
        print(f"mutual exclusion: OK (no overlapping sections among {total}; every section "
              "ran exactly once)")
        return 0

    return run_guarded("rwith-bench-handoff-", src, bench)


if __name__ == "__main__":
    sys.exit(main())
