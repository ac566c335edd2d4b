#!/usr/bin/env python3
"""Two builds of rwith against flock(1) in the same run: `rwith L -- true` per run, on one
standalone redis-server of its own (stopped by PID at the end).

Runs flock, the OLD build and the NEW build in turn (the order turning each round), RUNS
times each, and prints medians, p90s and the ratios to flock and between the builds; also
how many commands the server handled per run of each build (INFO commandstats), to show a
round trip more or less.
Usage: bench/before_after.py OLD_RWITH NEW_RWITH [RUNS]"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import median_p90, start_redis, timed_run  # noqa: E402


def redis_call(port, *args):
    """One command over a fresh connection; returns the raw reply bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        out = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
        s.sendall(out.encode())
        s.settimeout(5)
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if data.startswith(b"$"):
                head, _, rest = data.partition(b"\r\n")
                if len(rest) >= int(head[1:]) + 2:
                    break
            elif data.endswith(b"\r\n"):
                break
        return data


def total_calls(port):
    text = redis_call(port, "INFO", "commandstats").decode(errors="replace")
    calls = 0
    for line in text.splitlines():
        if line.startswith("cmdstat_"):
            calls += int(line.split("calls=")[1].split(",")[0])
    return calls


def calls_per_run(argv, env, port, runs=20):
    before = total_calls(port)
    for _ in range(runs):
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return (total_calls(port) - before - 1) / runs  # the INFO itself counts once


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__.split("\n")[-1] + "\n")
        return 2
    old, new = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    flock = shutil.which("flock")
    workdir = tempfile.mkdtemp(prefix="rwith-bench-")
    proc, port = start_redis(workdir, attempts=1, new_session=False)
    try:
        env = dict(os.environ, RWITH_REDIS_URL=f"redis://127.0.0.1:{port}")
        lockfile = os.path.join(workdir, "L")
        cmds = {
            "flock FILE true": [flock, lockfile, "true"],
            "old rwith L -- true": [old, "bench-before-after", "--", "true"],
            "new rwith L -- true": [new, "bench-before-after", "--", "true"],
        }
        for _ in range(20):  # warm up caches and the server's script cache
            for argv in cmds.values():
                timed_run(argv, env)
        samples = {name: [] for name in cmds}
        names = list(cmds)
        for i in range(runs):
            # The order turns each round: a run right after another rwith run finds the
            # server warm, which alone made a build look 7% faster than itself.
            for name in names[i % len(names):] + names[:i % len(names)]:
                samples[name].append(timed_run(cmds[name], env))
        medians = {}
        print(f"runs: {runs} each, in turn (the order turning); one redis-server on loopback")
        for name, values in samples.items():
            med, p90 = median_p90(values)
            medians[name] = med
            print(f"{name:20}: median {med:.2f} ms  p90 {p90:.2f} ms")
        fl = medians["flock FILE true"]
        print(f"ratio old/flock     : {medians['old rwith L -- true'] / fl:.2f}x")
        print(f"ratio new/flock     : {medians['new rwith L -- true'] / fl:.2f}x")
        print(f"ratio new/old       : "
              f"{medians['new rwith L -- true'] / medians['old rwith L -- true']:.3f}x")
        for name in ("old rwith L -- true", "new rwith L -- true"):
            print(f"server commands/run, {name.split()[0]}: "
                  f"{calls_per_run(cmds[name], env, port):.1f}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
