#!/usr/bin/env python3
"""Per-run overhead of `rwith L -- true` against `flock FILE true`, in the same run.

Starts its own redis-server on a free loopback port (stopped by PID at the end), runs both
commands alternately RUNS times each, and prints medians, p90s, the ratio of medians, and
the peak RSS of one rwith run. Usage: bench/overhead.py [RWITH] [RUNS]"""
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import median_p90, start_redis, timed_run  # noqa: E402


def main():
    rwith = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/rwith")
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    flock = shutil.which("flock")
    workdir = tempfile.mkdtemp(prefix="rwith-bench-")
    proc, port = start_redis(workdir, attempts=1, new_session=False)
    try:
        env = dict(os.environ, RWITH_REDIS_URL=f"redis://127.0.0.1:{port}")
        lockfile = os.path.join(workdir, "L")
        rwith_cmd = [rwith, "bench-overhead", "--", "true"]
        flock_cmd = [flock, lockfile, "true"]
        for _ in range(20):  # warm up caches and the server's script cache
            timed_run(rwith_cmd, env)
            timed_run(flock_cmd, env)
        rw, fl = [], []
        for _ in range(runs):
            rw.append(timed_run(rwith_cmd, env))
            fl.append(timed_run(flock_cmd, env))
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rss = subprocess.run(["/usr/bin/time", "-f", "%M", *rwith_cmd], env=env,
                             capture_output=True, text=True).stderr.strip().splitlines()[-1]
        rw_med, rw_p90 = median_p90(rw)
        fl_med, fl_p90 = median_p90(fl)
        print(f"runs: {runs} each, alternating; redis-server on loopback")
        print(f"flock FILE true : median {fl_med:.2f} ms  p90 {fl_p90:.2f} ms")
        print(f"rwith L -- true : median {rw_med:.2f} ms  p90 {rw_p90:.2f} ms")
        print(f"ratio of medians: {rw_med / fl_med:.2f}x (target <= 1.5x)")
        print(f"rwith peak RSS  : {int(rss) / 1024:.1f} MB" if rss.isdigit() else
              f"rwith peak RSS  : unknown ({before})")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
