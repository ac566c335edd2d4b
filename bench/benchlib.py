"""What the benchmarks in bench/ share (stdlib only): their own redis-server, the processes
they start and how those are cleaned up, the frame of a run, and the reading of a section log.

- Procs: every child gets a session (so a process group) of its own and the run's marker
  (RWITH_BENCH_RUN, unique per run) in its environment; kill_all() kills the groups, then
  sweeps /proc for marked stragglers and kills those by PID.
- start_redis / stop_redis: a redis-server on a free 127.0.0.1 port (--save '' --appendonly
  no, in the run's directory), stopped by PID.
- add_rwith_arg / find_tools: the optional RWITH argument and the checks for it and flock(1).
- run_guarded: the frame of a run: a temp dir with a copy of the binary under test, the server,
  signal handling, and cleanup on success, Ctrl-C, SIGTERM, SIGHUP or failure.
- Redis: just enough of a client for INFO, CLIENT and KEYS.
- sections_from_log, pct: reading an "S TAG NS" / "E TAG NS" log, and percentiles.

The scripts import it from their own directory, so they run from anywhere:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import benchlib
"""
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK_VAR = "RWITH_BENCH_RUN"
MARK = f"{MARK_VAR}={uuid.uuid4().hex}"


# ---------------------------------------------------------------- processes and cleanup

class Procs:
    """Every child gets a session (so a process group) of its own and the run's marker in its
    environment; cleanup kills the groups, then sweeps /proc for marked stragglers (commands
    that rwith moved into process groups of their own) and kills those by PID."""

    def __init__(self):
        self.procs = []

    def spawn(self, argv, env, **kw):
        proc = subprocess.Popen(argv, env=env, start_new_session=True, **kw)
        self.procs.append(proc)
        return proc

    @staticmethod
    def marked_pids():
        me = os.getpid()
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    if MARK.encode() in f.read().split(b"\0"):
                        found.append(int(name))
            except OSError:
                pass
        return found

    def kill_all(self, grace=2.0):
        live = [p for p in self.procs if p.poll() is None]
        for p in live:  # not reaped yet, so its pid (= pgid) is still ours
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(p.poll() is None for p in live):
            time.sleep(0.05)
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for _ in range(20):
            strays = self.marked_pids()
            if not strays:
                break
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []


def on_signal(signum, _frame):
    print(f"bench: got {signal.Signals(signum).name}, cleaning up", file=sys.stderr)
    raise SystemExit(128 + signum)


def base_env(workdir):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "RWITH_REDIS_URL")}
    env[MARK_VAR] = MARK.split("=", 1)[1]
    env["TMPDIR"] = workdir
    env["LC_ALL"] = "C"
    return env


# ---------------------------------------------------------------- redis-server

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(workdir, env=None, attempts=5, new_session=True):
    """Starts redis-server on a free port and waits for its PONG; returns (proc, port). Tries
    another port (up to `attempts` in all) when one does not answer within 5 s. env None: this
    process's environment; new_session False: the server stays in our session and process
    group (so a Ctrl-C on the terminal reaches it too)."""
    for _ in range(attempts):
        port = free_port()
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            env=env, start_new_session=new_session,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return proc, port
            except OSError:
                time.sleep(0.02)
        stop_redis(proc)  # port taken meanwhile, or too slow: try another
    raise SystemExit("bench: redis-server did not start")


def stop_redis(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class Redis:
    """Just enough RESP2 for INFO, CLIENT, KEYS and the like on the bench's own server."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")

    def call(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += [f"${len(a)}\r\n".encode(), a, b"\r\n"]
        self.sock.sendall(b"".join(out))
        return self.read()

    def read(self):
        line = self.file.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("redis: connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(f"redis: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2].decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError(f"redis: unexpected reply {line!r}")

    def close(self):
        self.file.close()  # the socket stays open while a makefile() object does
        self.sock.close()


# ---------------------------------------------------------------- the frame of a run

def add_rwith_arg(ap):
    """The optional RWITH positional argument, defaulting to build/rwith in the repository."""
    ap.add_argument("rwith", nargs="?", default=os.path.join(REPO, "build", "rwith"),
                    help="the rwith binary (default: build/rwith in the repository)")


def find_tools(rwith_arg):
    """Returns (absolute path of the rwith binary, path of flock(1)), or exits with a message."""
    src = os.path.abspath(rwith_arg)
    flock = shutil.which("flock")
    if flock is None:
        raise SystemExit("bench: flock(1) not found")
    if not os.access(src, os.X_OK):
        raise SystemExit(f"bench: {src} is not executable (build it: ninja -C build)")
    return src, flock


def run_guarded(prefix, src, body):
    """Runs body(procs, workdir, env, rwith, url, port) with a temp dir (named with prefix), a
    copy of src in it (so a rebuild during the run does not change the binary under test), a
    redis-server of its own and RWITH_REDIS_URL pointing to it. Returns body's exit status, or
    130 on Ctrl-C, 128+N on signal N (SIGTERM, SIGHUP), a SystemExit's code, or 1 on any other
    failure (with a message on stderr); in every case kills every process started through
    procs, stops the server and removes the temp dir."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    workdir = tempfile.mkdtemp(prefix=prefix)
    procs = Procs()
    redis = None
    status = 0
    try:
        rwith = os.path.join(workdir, "rwith")
        shutil.copy2(src, rwith)
        env = base_env(workdir)
        redis, port = start_redis(workdir, env)
        url = f"redis://127.0.0.1:{port}"
        env["RWITH_REDIS_URL"] = url
        status = body(procs, workdir, env, rwith, url, port)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("bench: interrupted, cleaning up", file=sys.stderr)
        status = 130
    except SystemExit as e:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        status = e.code if isinstance(e.code, int) else 1
        if not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
    except Exception as e:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(f"bench: failed: {e}", file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        procs.kill_all()
        stop_redis(redis)
        shutil.rmtree(workdir, ignore_errors=True)
    return status


# ---------------------------------------------------------------- reading the results

def timed_run(argv, env):
    """Runs argv to its end (it must exit 0); returns how long that took, in ms."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def median_p90(samples):
    """(median, nearest-rank p90) of samples."""
    return statistics.median(samples), pct(samples, 90)


def pct(samples, q):
    """Nearest-rank percentile."""
    s = sorted(samples)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, -(-len(s) * q // 100) - 1))
    return s[int(k)]


def sections_from_log(lines):
    """Pairs the S and E lines of each tag into sections, sorted by start. Returns
    (sections [(tag, start_ns, end_ns)], overlaps, other problems). Under mutual exclusion the
    log alternates S x / E x, and every start stamp is after the previous section's end stamp,
    since each stamp is taken inside the section that writes it."""
    starts, ends, other = {}, {}, []
    order_breaks = 0
    prev = None
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if len(parts) != 3 or parts[0] not in ("S", "E") or not parts[2].isdigit():
            other.append(f"malformed log line {n}: {line!r}")
            continue
        kind, tag, ts = parts[0], parts[1], int(parts[2])
        book = starts if kind == "S" else ends
        if tag in book:
            other.append(f"{kind} {tag} logged twice: the section ran more than once")
        book[tag] = ts
        if kind == "S" and prev is not None and prev[0] == "S":
            order_breaks += 1
        if kind == "E" and (prev is None or prev != ("S", tag)):
            order_breaks += 1
        prev = (kind, tag)
    for tag in sorted(set(starts) ^ set(ends)):
        other.append(f"section {tag} logged {'a start' if tag in starts else 'an end'} only")
    secs = sorted((t, starts[t], ends[t]) for t in set(starts) & set(ends))
    secs.sort(key=lambda s: s[1])
    overlaps = []
    last = None  # the section that ends latest so far
    for sec in secs:
        if last is not None and sec[1] < last[2]:
            overlaps.append(f"section {sec[0]} started {(last[2] - sec[1]) / 1e6:.3f} ms before "
                            f"section {last[0]} ended")
        if last is None or sec[2] > last[2]:
            last = sec
    if order_breaks and not overlaps:
        overlaps.append(f"the log's S/E lines interleave in {order_breaks} place(s)")
    if len(overlaps) > 5:
        overlaps[5:] = [f"... and {len(overlaps) - 5} more overlapping section(s)"]
    return secs, overlaps, other
