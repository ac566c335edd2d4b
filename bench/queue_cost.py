#!/usr/bin/env python3
"""What a long queue costs the server: one holder, N waiters queued behind it (one at a
time, so their arrival order is known), then each served once.

For each N (default 100, 1000, 3000) the bench reads `INFO commandstats` before the waiters
start and after the last one is done, and reports per waiter: the commands the server ran
(commands inside scripts included, the bench's own INFO taken out) and the server time spent
in scripts and BLPOP (the usec of EVALSHA/EVAL/BLPOP, which include the commands they ran);
and the time per script call (EVALSHA/EVAL alone); and the periodic looks per waiter: the
BLPOPs that ran out of time (every half TTL a waiter renews its place), which grow with how
long the waiters wait (the number ahead times the time of a hand-off on this machine), not
with the queue's length as such. It checks that every waiter ran exactly once and in arrival order (exit
status 1 otherwise).

Then the cost of one periodic look on its own: behind a holder and a waiter, a waiter with a
2 s TTL renews its place every second; commands and server time per look.

Starts its own redis-server on a free 127.0.0.1 port and stops it by PID; every process it
starts is killed by process group at the end, also on Ctrl-C or failure.
Usage: bench/queue_cost.py [RWITH] [--sizes 100,1000,3000] [--ttl 30s]"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Redis, add_rwith_arg, find_tools, run_guarded  # noqa: E402

HOLDER = ': > "$HELD"; while [ ! -e "$GO" ]; do sleep 0.01; done'
WAITER = 'echo "$ID" >> "$RAN"'
SCRIPT_COMMANDS = ("evalsha", "eval", "blpop")


def commandstats(r):
    """{command: (calls, usec)} from one INFO commandstats."""
    stats = {}
    for line in r.call("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line[8:].partition(":")
            fields = dict(kv.split("=", 1) for kv in rest.split(","))
            stats[name] = (int(fields["calls"]), int(fields["usec"]))
    return stats


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.002)


def measure(procs, workdir, env, rwith, port, n, ttl):
    lock = f"bench-queue-{n}"
    queue_key = f"rwith:{{{lock}}}:queue"
    r = Redis(port)
    files = {k: os.path.join(workdir, f"{lock}.{k}") for k in ("held", "go", "ran")}
    holder_env = dict(env, HELD=files["held"], GO=files["go"])
    holder = procs.spawn([rwith, "-t", ttl, lock, "--", "sh", "-c", HOLDER], holder_env)
    wait_for(lambda: os.path.exists(files["held"]), 20, "the holder")
    before = commandstats(r)
    waiters = []
    for i in range(n):
        waiter_env = dict(env, ID=str(i), RAN=files["ran"])
        waiters.append(procs.spawn([rwith, "-t", ttl, lock, "--", "sh", "-c", WAITER],
                                   waiter_env, stdout=subprocess_devnull()))
        wait_for(lambda: r.call("ZCARD", queue_key) == i + 1, 20, f"waiter {i} to queue")
    queued = commandstats(r)
    t0 = time.monotonic()
    open(files["go"], "w").close()
    for w in waiters:
        remaining = max(1, 60 + n * 0.05 - (time.monotonic() - t0))
        if w.wait(timeout=remaining) != 0:
            raise SystemExit(f"bench: a waiter exited with status {w.returncode}")
    served_s = time.monotonic() - t0
    holder.wait(timeout=30)
    after = commandstats(r)
    r.close()
    with open(files["ran"]) as f:
        ran = [int(x) for x in f.read().split()]
    if ran != list(range(n)):
        missing = set(range(n)) - set(ran)
        raise SystemExit(f"bench: N={n}: waiters not served exactly once in arrival order "
                         f"(missing {sorted(missing)[:10]}, first out of order at "
                         f"{next((i for i, x in enumerate(ran) if x != i), None)})")
    calls = sum(after[c][0] - before.get(c, (0, 0))[0] for c in after) - 2  # our INFOs
    usec = sum(after.get(c, (0, 0))[1] - before.get(c, (0, 0))[1] for c in SCRIPT_COMMANDS)
    script_usec = sum(after.get(c, (0, 0))[1] - before.get(c, (0, 0))[1]
                      for c in ("evalsha", "eval"))
    scripts = sum(after.get(c, (0, 0))[0] - before.get(c, (0, 0))[0]
                  for c in ("evalsha", "eval"))
    enqueue_calls = sum(queued[c][0] - before.get(c, (0, 0))[0] for c in queued) - 1
    # Each waiter blocks once until it is woken; every further BLPOP is a periodic look (its
    # time ran out first: every half TTL, to renew its place), whose number grows with how
    # long it waits, not with the queue's length as such.
    blpops = after.get("blpop", (0, 0))[0] - before.get("blpop", (0, 0))[0]
    return {"n": n, "calls": calls / n, "enqueue_calls": enqueue_calls / n,
            "looks": max(0, blpops - n) / n,
            "usec": usec / n, "per_script_usec": script_usec / max(1, scripts),
            "scripts": scripts / n, "served_s": served_s}


def look_cost(procs, workdir, env, rwith, port, looks=10):
    """Commands and server µs per periodic look: a holder and a waiter with a long TTL, and
    behind them a waiter with a 2 s TTL, which looks every second; read over `looks` looks."""
    lock = "bench-look"
    r = Redis(port)
    queue_key = f"rwith:{{{lock}}}:queue"
    held = os.path.join(workdir, f"{lock}.held")
    procs.spawn([rwith, "-t", "600s", lock, "--", "sh", "-c", f': > "{held}"; sleep 600'],
                        env)
    wait_for(lambda: os.path.exists(held), 20, "the holder")
    for i, ttl in enumerate(["600s", "2s"]):
        procs.spawn([rwith, "-t", ttl, lock, "--", "true"], env)
        wait_for(lambda: r.call("ZCARD", queue_key) == i + 1, 20, f"waiter {i} to queue")
    before = commandstats(r)
    wait_for(lambda: commandstats(r).get("evalsha", (0, 0))[0]
             >= before.get("evalsha", (0, 0))[0] + looks, looks * 3 + 20, f"{looks} looks")
    after = commandstats(r)
    r.close()  # the three are left to the run's cleanup
    # A look is a BLPOP and the EVALSHA behind it. A snapshot may fall between the two, but
    # never inside a script: commands per look are those of the scripts, per EVALSHA, plus
    # one for the BLPOP.
    n = after["evalsha"][0] - before.get("evalsha", (0, 0))[0]
    blpops = after["blpop"][0] - before.get("blpop", (0, 0))[0]
    infos = after["info"][0] - before.get("info", (0, 0))[0]
    calls = (sum(v[0] for v in after.values()) - sum(v[0] for v in before.values()) - infos
             - blpops + n)
    usec = sum(after.get(c, (0, 0))[1] - before.get(c, (0, 0))[1] for c in SCRIPT_COMMANDS)
    return calls / n, usec / n


def subprocess_devnull():
    return open(os.devnull, "wb")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_rwith_arg(ap)
    ap.add_argument("--sizes", default="100,1000,3000")
    ap.add_argument("--ttl", default="30s")
    args = ap.parse_args()
    src, _ = find_tools(args.rwith)
    sizes = [int(x) for x in args.sizes.split(",")]

    def body(procs, workdir, env, rwith, url, port):
        rows = [measure(procs, workdir, env, rwith, port, n, args.ttl) for n in sizes]
        print(f"{'N':>6} {'commands/waiter':>16} {'(enqueue)':>10} {'scripts/waiter':>15} "
              f"{'server us/waiter':>17} {'us/script':>10} {'served in':>10} "
              f"{'looks/waiter':>13}")
        for row in rows:
            print(f"{row['n']:>6} {row['calls']:>16.1f} {row['enqueue_calls']:>10.1f} "
                  f"{row['scripts']:>15.2f} {row['usec']:>17.1f} {row['per_script_usec']:>10.1f} "
                  f"{row['served_s']:>9.1f}s {row['looks']:>13.2f}")
        calls, usec = look_cost(procs, workdir, env, rwith, port)
        print(f"a periodic look (a waiter behind another renews its place every half TTL): "
              f"{calls:.1f} commands, {usec:.0f} us of server time")
        first, last = rows[0], rows[-1]
        print(f"server time per waiter, N={last['n']} / N={first['n']}: "
              f"{last['usec'] / first['usec']:.2f}x (target <= 1.5x); every waiter served "
              f"once, in arrival order")
        return 0
    return run_guarded("rwith-bench-queue-", src, body)


if __name__ == "__main__":
    sys.exit(main())
