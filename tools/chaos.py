#!/usr/bin/env python3
"""A chaos soak: many workers run critical sections under one rwith lock against a fenced
resource while the script SIGKILLs and SIGSTOPs rwith processes and their commands, restarts
and pauses the server, and cuts connections. Then it reports the sections completed, the
overlaps (two commands running at once: must be 0), the stale writes the resource refused, and
the exit statuses by kind. Exit status 1 when any two sections overlapped or nothing ran.

Each section (a small Python program run by `rwith -t TTL -w 30s LOCK -- ...`) appends
"S fence time" when it starts, "T fence time" every 20 ms while it runs, "E fence time" when
it ends, to one log; and writes its fence to the resource, a file that refuses (and counts) a
fence not larger than the last one written ("W fence ok|stale"). Two sections overlap when the
stamps of two fences interleave: whatever rwith does, a command that still runs leaves
stamps, a stopped or dead one none.

The server runs with appendfsync always, so a restart (SIGKILL, then the same port) keeps
the fence counter, as a production server with persistence would. Connection cuts drop the
server port's packets one way or both (nft) in a network namespace of the script's own (it
re-executes itself under `unshare -n`, or `unshare -rn` without root), so only loopback is
touched; without nft or namespaces they are skipped and the report says so. Every process it
starts is stopped by PID at the end, and every loop is bounded in time.

With --without-lock the sections run without rwith: the checker must then find overlaps
(and the script exits 0 only if it does), which shows that it can.

Usage: tools/chaos.py [RWITH] [--duration SECONDS] [--workers N] [--ttl 2s] [--seed N]
       [--without-lock]"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
INSIDE = "RWITH_CHAOS_NETNS"

SECTION = r"""
import fcntl, os, random, sys, time
log, store = sys.argv[1], sys.argv[2]
fence = int(os.environ["RWITH_FENCE"])
def stamp(kind, extra=""):
    line = f"{kind} {fence} {time.time():.6f}{extra}\n".encode()
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, line)
    os.close(fd)
stamp("S")
end = time.monotonic() + random.uniform(0.05, 0.4)
while time.monotonic() < end:
    time.sleep(0.02)
    stamp("T")
with open(store, "a+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.seek(0)
    text = f.read().strip()
    last = int(text) if text else 0
    if fence > last:
        f.seek(0)
        f.truncate()
        f.write(str(fence))
        f.flush()
        stamp("W", " ok")
    else:
        stamp("W", " stale")
stamp("E")
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(port, timeout=0.3):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Server:
    """redis-server with appendfsync always, restartable on the same port."""

    def __init__(self, workdir, port):
        self.workdir, self.port, self.proc = workdir, port, None
        self.output = open(os.path.join(workdir, "redis.log"), "ab")

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", self.workdir],
            stdout=self.output, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            if ping(self.port):
                return
            time.sleep(0.02)
        self.output.flush()
        with open(os.path.join(self.workdir, "redis.log"), errors="replace") as f:
            tail = "".join(f.readlines()[-15:])
        raise SystemExit(f"chaos: redis-server did not start; its log ends:\n{tail}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def signal(self, sig):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)


class Cutter:
    """Drops the server port's packets in our own network namespace, with nft."""

    def __init__(self, port):
        self.port = port
        self.nft = shutil.which("nft") if os.environ.get(INSIDE) else None
        self.why_not = ("" if self.nft else
                        "no nft" if os.environ.get(INSIDE) else "no network namespace")

    def cut(self, direction):
        rules = {"in": [f"tcp dport {self.port} drop"], "out": [f"tcp sport {self.port} drop"],
                 "both": [f"tcp dport {self.port} drop", f"tcp sport {self.port} drop"]}
        script = ["add table inet chaos",
                  "add chain inet chaos out { type filter hook output priority 0 ; }"]
        script += [f"add rule inet chaos out {r}" for r in rules[direction]]
        subprocess.run([self.nft, "-f", "-"], input="\n".join(script) + "\n", text=True,
                       check=True, timeout=10)

    def heal(self):
        subprocess.run([self.nft, "delete", "table", "inet", "chaos"], timeout=10,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Workers:
    """N threads, each running sections under the lock one after another until told to stop."""

    def __init__(self, args, url, log, store):
        self.args, self.url, self.log, self.store = args, url, log, store
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.procs = {}  # worker index -> the rwith process running now
        self.fences = 0  # --without-lock: the fences handed out
        self.statuses = {}
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(args.workers)]

    def start(self):
        for t in self.threads:
            t.start()

    def run(self, index):
        section = [sys.executable, "-c", SECTION, self.log, self.store]
        argv = [self.args.rwith, "-r", self.url, "-t", self.args.ttl, "-w", "30s", "-q",
                "chaos", "--", *section]
        while not self.stopping.is_set():
            env = None
            if self.args.without_lock:
                with self.lock:
                    self.fences += 1
                    env = dict(os.environ, RWITH_FENCE=str(self.fences))
            proc = subprocess.Popen(section if self.args.without_lock else argv, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            with self.lock:
                self.procs[index] = proc
            try:
                code = proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
                code = "hung"
            with self.lock:
                self.procs.pop(index, None)
                self.statuses[code] = self.statuses.get(code, 0) + 1
            if code == 69:
                time.sleep(0.2)  # the server is away: do not spin

    def running(self):
        with self.lock:
            return [p for p in self.procs.values() if p.poll() is None]

    def stop(self, timeout):
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        for p in self.running():
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        for t in self.threads:
            t.join(10)


def command_of(rwith_pid):
    """The pid of the command rwith runs (its child that is not the guard), or None."""
    try:
        children = open(f"/proc/{rwith_pid}/task/{rwith_pid}/children").read().split()
    except OSError:
        return None
    for child in children:
        try:
            if "python" in open(f"/proc/{child}/comm").read():
                return int(child)
        except OSError:
            pass
    return None


def chaos(rng, workers, server, cutter, stop_at, counts):
    """Acts every 0.3-1.5 s until stop_at; everything it stops it continues within 3 s."""
    # Faults of processes three times as often as faults of the server, which stop everyone.
    actions = ["kill rwith", "stop rwith", "kill command", "stop command"] * 3 + [
        "restart server", "pause server"]
    if cutter.nft:
        actions.append("cut connections")
    pending = []  # (when, what to undo)
    while time.monotonic() < stop_at:
        time.sleep(rng.uniform(0.3, 1.5))
        now = time.monotonic()
        for when, undo in [p for p in pending if p[0] <= now]:
            pending.remove((when, undo))
            try:
                undo()
            except OSError:
                pass  # the process ended meanwhile
        action = rng.choice(actions)
        running = workers.running()
        # Mostly the holder: the one whose fate matters to the others.
        holders = [p for p in running if command_of(p.pid) is not None]
        pause = rng.uniform(0.5, 3.0)
        try:
            if action in ("kill rwith", "stop rwith") and running:
                p = rng.choice(holders if holders and rng.random() < 0.7 else running)
                if action == "kill rwith":
                    p.send_signal(signal.SIGKILL)
                else:
                    p.send_signal(signal.SIGSTOP)
                    pending.append((now + pause, lambda p=p: p.poll() is None and
                                    p.send_signal(signal.SIGCONT)))
            elif action in ("kill command", "stop command") and holders:
                pid = command_of(rng.choice(holders).pid)
                if pid is None:
                    continue
                if action == "kill command":
                    os.kill(pid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGSTOP)
                    pending.append((now + pause, lambda pid=pid: os.kill(pid, signal.SIGCONT)))
            elif action == "restart server":
                if cutter.nft:
                    cutter.heal()  # the new server must answer our PING
                    pending[:] = [p for p in pending if p[1] != cutter.heal]
                server.kill()
                server.start()
            elif action == "pause server":
                server.signal(signal.SIGSTOP)
                pending.append((now + pause, lambda: server.signal(signal.SIGCONT)))
            elif action == "cut connections":
                cutter.cut(rng.choice(["in", "out", "both"]))
                pending.append((now + pause, cutter.heal))
            else:
                continue
        except OSError:
            continue  # the process ended meanwhile
        counts[action] = counts.get(action, 0) + 1
    for _, undo in pending:
        try:
            undo()
        except OSError:
            pass


def analyse(log, show=True):
    """(sections completed, overlaps, stale writes refused, sections started); `show`: print
    the first overlaps found."""
    spans, ended, stale, started = {}, 0, 0, 0
    with open(log, errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or not parts[1].isdigit():
                continue  # a line cut short by a SIGKILL
            try:
                fence, t = int(parts[1]), float(parts[2])
            except ValueError:
                continue
            lo, hi = spans.get(fence, (t, t))
            spans[fence] = (min(lo, t), max(hi, t))
            if parts[0] == "E":
                ended += 1
            elif parts[0] == "S":
                started += 1
            elif parts[0] == "W" and parts[3:4] == ["stale"]:
                stale += 1
    overlaps = 0
    ordered = sorted(spans.items(), key=lambda item: item[1][0])
    latest_end, latest_fence = None, None
    for fence, (lo, hi) in ordered:
        if latest_end is not None and lo < latest_end:
            overlaps += 1
            if show and overlaps <= 5:
                print(f"chaos: OVERLAP: fence {fence} started at {lo:.6f}, fence {latest_fence} "
                      f"was still running until {latest_end:.6f}", file=sys.stderr)
        if latest_end is None or hi > latest_end:
            latest_end, latest_fence = hi, fence
    return ended, overlaps, stale, started


def enter_namespace():
    """Re-executes this script in a network namespace of its own (loopback only), when it
    can; returns only when it runs without one."""
    if os.environ.get(INSIDE) or not shutil.which("unshare") or not shutil.which("ip"):
        return
    env = dict(os.environ, **{INSIDE: "1"})
    for flags in (["-n"], ["-rn"]):
        probe = subprocess.run(["unshare", *flags, "true"], capture_output=True)
        if probe.returncode == 0:
            cmd = ["unshare", *flags, "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
                   sys.executable, *sys.argv]
            os.execvpe("unshare", cmd, env)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rwith", nargs="?", default=os.path.join(REPO, "build", "rwith"))
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--ttl", default="2s")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--without-lock", action="store_true",
                    help="run the sections without rwith, to see the checker find overlaps "
                         "(exit 0 only if it does)")
    args = ap.parse_args()
    args.rwith = os.path.abspath(args.rwith)
    enter_namespace()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    workdir = tempfile.mkdtemp(prefix="rwith-chaos-")
    server = Server(workdir, free_port())
    server.start()
    cutter = Cutter(server.port)
    log, store = os.path.join(workdir, "log"), os.path.join(workdir, "store")
    workers = Workers(args, f"redis://127.0.0.1:{server.port}", log, store)
    counts = {}
    began = time.monotonic()
    try:
        workers.start()
        chaos(rng, workers, server, cutter, began + args.duration, counts)
        workers.stop(timeout=40)
    finally:
        if cutter.nft:
            cutter.heal()
        server.signal(signal.SIGCONT)
        server.kill()
    ended, overlaps, stale, started = (analyse(log, show=not args.without_lock)
                                       if os.path.exists(log) else (0, 0, 0, 0))
    elapsed = time.monotonic() - began
    print(f"chaos: {elapsed:.0f} s, {args.workers} workers, TTL {args.ttl}, seed {seed}")
    print(f"  sections started {started}, completed {ended}; overlaps {overlaps}; "
          f"stale writes refused {stale}")
    print("  chaos: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) +
          ("" if cutter.nft else f"; connection cuts skipped ({cutter.why_not})"))
    names = {0: "ok", 1: "gave up waiting", 69: "server unusable", 75: "lock lost",
             137: "command SIGKILLed", -9: "rwith SIGKILLed", "hung": "hung (killed after 120 s)"}
    print("  rwith exit statuses: " + ", ".join(
        f"{names.get(k, k)} {v}" for k, v in sorted(workers.statuses.items(), key=str)))
    shutil.rmtree(workdir, ignore_errors=True)
    if args.without_lock:
        return 0 if overlaps else 1
    return 1 if overlaps or ended == 0 or "hung" in workers.statuses else 0


if __name__ == "__main__":
    sys.exit(main())
