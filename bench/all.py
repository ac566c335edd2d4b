#!/usr/bin/env python3
"""Every benchmark of issue 10 side by side, flock(1) in the same runs, as a Markdown section.

1. `--version` and `LOCK -- true`: flock, rwith, and (with --tls-rwith) a TLS-capable build,
   run in turn (RUNS each); medians, ratios to flock, peak RSS.
2. Hand-off to a queued waiter (bench/handoff.py, 6 contenders x 10 sections, 20 ms each):
   ratio of medians, the median of three runs. Throughput, no time inside the sections: 8 x 25 and 2 x 100, sections
   per second of rwith against flock's.
3. A long queue (bench/queue_cost.py, N=100 and N=3000, with a TTL longer than the run so that
   no waiter renews its place meanwhile): commands and server time per waiter; and apart, the
   cost of one periodic look, which a waiter makes every half TTL however long the queue.

Prints the section; with --write, puts it into docs/benchmarks.md between the markers
`<!-- bench/all.py -->` and `<!-- /bench/all.py -->` (added at the top when missing). Each part
starts its own redis-server and stops it by PID (see the scripts).
Usage: bench/all.py [RWITH] [--tls-rwith PATH] [--runs 300] [--write]"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import REPO, add_rwith_arg, median_p90, start_redis, stop_redis, timed_run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- bench/all.py -->", "<!-- /bench/all.py -->"


def peak_rss_kb(argv, env):
    res = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], env=env, capture_output=True,
                         text=True)
    last = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else ""
    return int(last) if last.isdigit() else None


def startup(tools, runs):
    """{name: (version_ms, run_ms, rss_kb)} for each tool, run in turn."""
    workdir = tempfile.mkdtemp(prefix="rwith-bench-all-")
    proc, port = start_redis(workdir, attempts=3)
    try:
        env = dict(os.environ, RWITH_REDIS_URL=f"redis://127.0.0.1:{port}")
        lockfile = os.path.join(workdir, "L")
        run_argv = {name: ([exe, lockfile, "true"] if name == "flock" else
                           [exe, "bench-all", "--", "true"]) for name, exe in tools.items()}
        version, run = {n: [] for n in tools}, {n: [] for n in tools}
        for _ in range(20):
            for argv in run_argv.values():
                timed_run(argv, env)
        names = list(tools)
        for i in range(runs):
            # The order turns each round, so that no tool always follows the same one (a
            # run right after an rwith run finds the server warm).
            for name in names[i % len(names):] + names[:i % len(names)]:
                version[name].append(timed_run([tools[name], "--version"], env))
                run[name].append(timed_run(run_argv[name], env))
        return {n: (median_p90(version[n])[0], median_p90(run[n])[0],
                    peak_rss_kb(run_argv[n], env)) for n in tools}
    finally:
        stop_redis(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def script(name, *args):
    res = subprocess.run([sys.executable, os.path.join(HERE, name), *args],
                         capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        raise SystemExit(f"bench: {name} {' '.join(args)} failed:\n{res.stdout}{res.stderr}")
    return res.stdout


def handoff(rwith):
    """(the median of three runs' hand-off ratios, all three, throughput rates)."""
    ratios = []
    for _ in range(3):  # one run moves by ±0.2 on a shared 2-core machine
        out = script("handoff.py", rwith, "--rounds", "3")
        ratios.append(float(re.search(r"ratio of medians rwith/flock: ([\d.]+)x", out).group(1)))
    rates = {}
    for contenders, sections in ((8, 25), (2, 100)):
        text = script("handoff.py", rwith, "-k", str(contenders), "-s", str(sections),
                      "--hold", "0", "--rounds", "3")
        per_tool = {}
        for line in text.splitlines():
            for tool, row in (("flock", "flock FILE CMD"), ("rwith", "rwith LOCK -- CMD")):
                if line.startswith(row):
                    per_tool[tool] = float(line.split()[-1])
        rates[(contenders, sections)] = per_tool
    return statistics.median(ratios), ratios, rates


def queue_cost(rwith):
    """{N: (commands, µs, served in, looks)} per waiter, and (commands, µs) per periodic look.
    With a TTL longer than the run, so that no waiter renews its place meanwhile: what a
    queue's length costs, apart from what waiting long costs (the looks, quoted apart)."""
    out = script("queue_cost.py", rwith, "--sizes", "100,3000", "--ttl", "600s")
    rows, look = {}, None
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0].isdigit():
            rows[int(parts[0])] = (float(parts[1]), float(parts[4]), parts[6],
                                   float(parts[7]))
        elif line.startswith("a periodic look"):
            look = (float(parts[-7]), float(parts[-5]))
    return rows, look


def section(start, ratio, ratios, rates, queue, runs):
    fl_version, fl_run, fl_rss = start["flock"]
    lines = [BEGIN, "", f"Generated by `bench/all.py` on {time.strftime('%Y-%m-%d')} "
             f"({os.cpu_count()} CPUs); flock(1) in the same runs. Targets are issue 10's.", "",
             f"`--version` and `LOCK -- true`, {runs} runs of each in turn:", "",
             "| | `--version` | `LOCK -- true` | ratio to flock (target) | peak RSS |",
             "|---|---|---|---|---|"]
    for name, (version, run, rss) in start.items():
        target = {"flock": "", "rwith": " (≤ 1.2×)", "rwith, TLS-capable build": " (≤ 1.3×)"}
        lines.append(f"| {name} | {version:.2f} ms | {run:.2f} ms | {run / fl_run:.2f}×"
                     f"{target.get(name, '')} | {rss / 1024 if rss else 0:.1f} MB |")
    lines += ["", f"Hand-off to a queued waiter (bench/handoff.py, 6 × 10 sections of 20 ms): "
              f"median **{ratio:.2f}×** flock's (target ≤ 1.25×); the median of three runs: "
              f"{', '.join(f'{r:.2f}×' for r in ratios)}.", ""]
    for (k, s), per_tool in rates.items():
        if "flock" in per_tool and "rwith" in per_tool:
            lines.append(f"- {k} workers × {s} sections, nothing inside: rwith "
                         f"{per_tool['rwith']:.1f}/s, flock {per_tool['flock']:.1f}/s: "
                         f"**{per_tool['rwith'] / per_tool['flock']:.2f}×** flock's throughput"
                         + (" (target ≥ 0.9×)" if k == 8 else ""))
    queue, look = queue
    lines += ["", "A long queue (bench/queue_cost.py, TTL 600 s: no waiter renews its place "
              "during the run): "
              + "; ".join(f"N={n}: {c:.1f} commands and {u:.0f} µs of server time per waiter"
                          f" (served in {served})"
                          for n, (c, u, served, _) in sorted(queue.items())), ""]
    if 100 in queue and 3000 in queue:
        lines[-1:] = [f"(server time per waiter, N=3000 against N=100: "
                      f"**{queue[3000][1] / queue[100][1]:.2f}×**, target ≤ 1.5×; commands "
                      f"per waiter ≤ 60).", ""]
    if look:
        lines += [f"Waiting long costs apart from that: every half TTL (15 s by default) a "
                  f"waiter renews its place with a periodic look, {look[0]:.0f} commands and "
                  f"{look[1]:.0f} µs of server time (measured on an idle server, whose first "
                  f"request after a pause is slow on this machine).", ""]
    lines.append(END)
    return "\n".join(lines)


def write(text):
    path = os.path.join(REPO, "docs", "benchmarks.md")
    with open(path, encoding="utf-8") as f:
        page = f.read()
    if BEGIN in page and END in page:
        page = page[:page.index(BEGIN)] + text + page[page.index(END) + len(END):]
    else:
        head, _, rest = page.partition("\n\n")
        page = f"{head}\n\n{text}\n\n{rest}"
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_rwith_arg(ap)
    ap.add_argument("--tls-rwith", help="a TLS-capable build of rwith, run with redis://")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args()
    tools = {"flock": shutil.which("flock"), "rwith": os.path.abspath(args.rwith)}
    if args.tls_rwith:
        tools["rwith, TLS-capable build"] = os.path.abspath(args.tls_rwith)
    start = startup(tools, args.runs)
    ratio, ratios, rates = handoff(tools["rwith"])
    queue = queue_cost(tools["rwith"])  # (rows, look)
    text = section(start, ratio, ratios, rates, queue, args.runs)
    print(text)
    if args.write:
        write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
