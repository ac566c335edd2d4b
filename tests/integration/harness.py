"""Integration-test harness for rwith: real redis-servers, rwith runs, fakes and waits.

Everything a test starts hangs off one Scope (a context manager), which stops it again by
PID, also when the test fails, and then dumps what helps to understand the failure: the
server logs and the stderr of every rwith it ran. Nothing is shared between tests: each
case runs in its own Python process (see run_case.py) with its own servers.
"""

import json
import os
import resource
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

RWITH = os.environ.get("RWITH") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "build", "rwith")

# The exit statuses of CONTRACT.md.
EX_CONFLICT = 1
EX_USAGE = 64
EX_SERVER = 69
EX_INTERNAL = 70
EX_LOST = 75
EX_CANNOT_EXEC = 126
EX_NOT_FOUND = 127

POLL_S = 0.015  # how often wait_until() looks

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer", "ERROR: UndefinedBehaviorSanitizer")


def _sane_process_state():
    """Start every rwith from a known signal state, whatever ran us.

    A shell without job control starts background jobs with SIGINT and SIGQUIT ignored,
    and rwith rightly keeps ignored signals ignored; the signal tests would then test the
    wrong thing. Caught handlers are reset by exec, ignored ones are not, so un-ignore here.
    Core dumps are switched off so that SIGQUIT tests leave nothing behind.
    """
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                signal.SIGUSR2, signal.SIGWINCH, signal.SIGALRM):
        if signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))


_sane_process_state()


def _become_subreaper():
    """Adopt and reap the orphans of the commands we run, as init would.

    When a command's shell dies, its children are re-parented to the nearest subreaper or
    to PID 1. In containers PID 1 often never reaps, so dead orphans stay zombies for ever,
    and a zombie still counts as a member of its process group: rwith, asked to wait until
    the command's group is empty, would then wait for nothing. Being the subreaper, this
    process reaps such orphans itself. It reaps only orphans (a session that is not its
    own, and not their own), never a process it started, so Popen keeps its statuses.
    """
    import ctypes
    PR_SET_CHILD_SUBREAPER = 36
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        return
    my_pid, my_sid = os.getpid(), os.getsid(0)

    def children():
        pids = []
        try:
            for tid in os.listdir(f"/proc/{my_pid}/task"):
                with open(f"/proc/{my_pid}/task/{tid}/children") as f:
                    pids += [int(x) for x in f.read().split()]
        except OSError:
            pass
        return pids

    def reap_orphans():
        while True:
            for pid in children():
                st = proc_stat(pid)
                if st and st[0] == "Z" and st[3] != pid and st[3] != my_sid:
                    try:
                        os.waitpid(pid, os.WNOHANG)
                    except ChildProcessError:
                        pass
            time.sleep(0.02)

    threading.Thread(target=reap_orphans, daemon=True, name="orphan-reaper").start()


# ---------------------------------------------------------------------------------------
# Waiting with deadlines

def wait_until(predicate, timeout, what, interval=POLL_S):
    """Polls predicate() until it returns something true, which is returned.

    Raises AssertionError naming `what` when `timeout` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def read_file(path, default=None):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return default


def wait_for_file(path, timeout=20, what=None):
    """Waits until `path` exists and is not empty; returns its text."""
    return wait_until(lambda: read_file(path, ""), timeout, what or f"file {path}")


# ---------------------------------------------------------------------------------------
# Processes

def proc_stat(pid):
    """(state, ppid, pgrp, session) of pid from /proc, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may contain anything; split after the last ')'.
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2]), int(rest[3])


def pid_alive(pid):
    """True while pid exists and is neither a zombie nor dead (a zombie has finished)."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X", "x")


def wait_dead(pids, timeout, what="processes to die"):
    pids = list(pids)
    wait_until(lambda: not any(pid_alive(p) for p in pids), timeout,
               f"{what} (still alive: {[p for p in pids if pid_alive(p)]})")


def pgrp_of(pid):
    st = proc_stat(pid)
    if st is None:
        raise AssertionError(f"process {pid} does not exist")
    return st[2]


def signal_mask(pid, field):
    """A /proc/<pid>/status signal mask (SigIgn, SigBlk, SigCgt) as an int."""
    with open(f"/proc/{pid}/status", "r", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def sig_bit(sig):
    return 1 << (int(sig) - 1)


def session_members(sid):
    """Pids of all live processes in session sid."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st is not None and st[3] == sid and st[0] not in ("Z", "X", "x"):
            pids.append(int(name))
    return pids


def kill_session(sid):
    """SIGKILLs every process of session sid (an rwith started by the harness, whatever it
    started: the command cannot leave the session without setsid)."""
    for _ in range(20):
        pids = session_members(sid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def exit_description(returncode):
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"killed by {name} (a shell reports {128 - returncode})"
    return f"exit status {returncode}"


_become_subreaper()


# ---------------------------------------------------------------------------------------
# A small RESP client, for assertions on the server's data

class RespError(Exception):
    pass


class Resp:
    """A blocking RESP2 client with a timeout on every reply."""

    def __init__(self, port=None, unix_path=None, password=None, db=0, timeout=5.0):
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(unix_path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = self.sock.makefile("rb")
        if password is not None:
            self.call("AUTH", password)
        if db:
            self.call("SELECT", str(db))

    def close(self):
        try:
            self.reader.close()
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            if isinstance(arg, str):
                arg = arg.encode()
            elif isinstance(arg, int):
                arg = str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        return b"".join(out)

    def _read(self):
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError(f"connection closed by the server (read {line!r})")
        kind, body = line[:1], line[1:-2]
        if kind == b"+":
            return body.decode()
        if kind == b"-":
            return RespError(body.decode())
        if kind == b":":
            return int(body)
        if kind == b"$":
            n = int(body)
            if n < 0:
                return None
            data = self.reader.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(body)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise ConnectionError(f"unexpected reply {line!r}")

    def call(self, *args):
        self.sock.sendall(self.encode(args))
        reply = self._read()
        if isinstance(reply, RespError):
            raise reply
        return reply

    def keys(self, pattern="*"):
        found, cursor = set(), b"0"
        while True:
            cursor, batch = self.call("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
            found.update(k.decode("utf-8", "replace") for k in batch)
            if cursor == b"0":
                return sorted(found)

    def pttl(self, key):
        return self.call("PTTL", key)

    def delete(self, *keys):
        return self.call("DEL", *keys) if keys else 0


def glob_escape(text):
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def lock_pattern(lock, prefix="rwith:"):
    """A SCAN pattern for every key of `lock`: they all carry the hash tag {LOCK}."""
    return glob_escape(prefix) + "*" + glob_escape("{" + lock + "}") + "*"


# ---------------------------------------------------------------------------------------
# A real redis-server

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_held_ports = []


def closed_port():
    """A loopback port on which nothing listens, and nothing will: it stays bound (without
    listen) by this process, so a server of a parallel test cannot take it meanwhile, and
    a connection is refused at once."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    _held_ports.append(s)
    return s.getsockname()[1]


class RedisServer:
    """redis-server on a free loopback port, no persistence, its own directory.

    Stopped by PID only. `password` adds --requirepass; `unixsocket` adds a socket in the
    server's directory; `extra_args` go to the command line as they are.
    """

    READY_TIMEOUT_S = 20

    def __init__(self, workdir, name="redis", password=None, unixsocket=False, extra_args=(),
                 tls=None):
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=workdir)
        self.password = password
        self.tls = tls  # (cert, key) files: also serve TLS on tls_port
        self.tls_port = None
        self.unix_path = os.path.join(self.dir, "redis.sock") if unixsocket else None
        self.extra_args = list(extra_args)
        self.port = None
        self.proc = None
        self.paused = False
        self.log_path = os.path.join(self.dir, "redis.log")
        self.log_offsets = []

    # -- life cycle

    def start(self, port=None):
        exe = shutil.which("redis-server")
        if exe is None:
            raise AssertionError("redis-server is not installed (not found in $PATH); the "
                                 "integration tests need it: apt-get install redis-server")
        attempts = 1 if port else 5
        last_error = None
        for _ in range(attempts):
            self.port = port or free_port()
            args = self._command(exe, restarting=bool(port))
            with open(self.log_path, "ab") as log:
                self.log_offsets.append(log.tell())
                log.write(("### " + " ".join(shlex.quote(a) for a in args) + "\n").encode())
                log.flush()
                self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
            self.paused = False
            try:
                self._wait_ready()
                return self
            except AssertionError as e:
                last_error = e
                self._stop_process()
                if port:
                    break
                if "Address already in use" not in (read_file(self.log_path) or ""):
                    break
        raise AssertionError(f"redis-server did not start: {last_error}\n--- log:\n"
                             f"{read_file(self.log_path)}")

    def _command(self, exe, restarting):
        """The command line that starts this server on self.port."""
        args = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
                "--logfile", "", "--protected-mode", "no"]
        if self.password is not None:
            args += ["--requirepass", self.password]
        if self.unix_path:
            args += ["--unixsocket", self.unix_path, "--unixsocketperm", "700"]
        if self.tls:
            # The plain port stays: the harness's own client speaks plain RESP.
            if not restarting or self.tls_port is None:  # restart() keeps both ports
                self.tls_port = free_port()
            args += ["--tls-port", str(self.tls_port), "--tls-cert-file", self.tls[0],
                     "--tls-key-file", self.tls[1], "--tls-auth-clients", "no"]
        return args + self.extra_args

    def _wait_ready(self):
        """Waits under a deadline until this very server (its pid) answers PING."""
        deadline = time.monotonic() + self.READY_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited early with status "
                                     f"{self.proc.returncode}")
            try:
                with self.client(timeout=2) as c:
                    if c.call("PING") == "PONG":
                        info = c.call("INFO", "server").decode()
                        if f"process_id:{self.proc.pid}\r" in info:
                            return
                        raise AssertionError("another server answers on port "
                                             f"{self.port}")
            except (OSError, ConnectionError, RespError):
                pass
            if time.monotonic() >= deadline:
                raise AssertionError(f"redis-server did not answer PING within "
                                     f"{self.READY_TIMEOUT_S} s")
            time.sleep(POLL_S)

    def _stop_process(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        pid = self.proc.pid
        try:
            if self.paused:
                os.kill(pid, signal.SIGCONT)
                self.paused = False
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        """Stops the server by PID (SIGTERM, then SIGKILL); its data is gone."""
        self._stop_process()

    def kill(self):
        """SIGKILLs the server at once (also when paused); its data is gone."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.paused = False

    def restart(self):
        """A new, empty server on the same port (and socket)."""
        self.stop()
        self.start(port=self.port)

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # -- addresses and data

    def url(self, password=None, user=None, db=None):
        """redis://[user][:password]@127.0.0.1:port[/db]; the server's own password unless
        `password` is given (pass "" for none)."""
        if password is None:
            password = self.password or ""
        auth = ""
        if user or password:
            auth = (user or "") + (":" + password if password else "") + "@"
        return f"redis://{auth}127.0.0.1:{self.port}" + (f"/{db}" if db is not None else "")

    def tls_url(self, host="127.0.0.1"):
        return f"rediss://{host}:{self.tls_port}"

    def unix_url(self, db=None):
        return f"unix://{self.unix_path}" + (f"?db={db}" if db is not None else "")

    def client(self, db=0, timeout=5.0):
        return Resp(port=self.port, password=self.password, db=db, timeout=timeout)

    def lock_keys(self, lock, prefix="rwith:", db=0):
        with self.client(db=db) as c:
            return c.keys(lock_pattern(lock, prefix))

    def delete_lock_keys(self, lock, prefix="rwith:"):
        """Deletes every key of the lock; returns how many there were."""
        with self.client() as c:
            keys = c.keys(lock_pattern(lock, prefix))
            c.delete(*keys)
            return len(keys)

    def log_text(self):
        return read_file(self.log_path, "")


class TlsFiles:
    """A throwaway CA (made with the openssl command) and server certificates it signs."""

    def __init__(self, workdir):
        self.dir = tempfile.mkdtemp(prefix="tls-", dir=workdir)
        self.ca_cert = os.path.join(self.dir, "ca.crt")
        self.ca_key = os.path.join(self.dir, "ca.key")
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                      "-subj", "/CN=rwith test CA", "-keyout", self.ca_key, "-out", self.ca_cert)

    def _openssl(self, *args):
        exe = shutil.which("openssl")
        if exe is None:
            raise AssertionError("the openssl command is not installed; the TLS tests need "
                                 "it to make a throwaway CA: apt-get install openssl")
        subprocess.run([exe, *args], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)

    def server_cert(self, name, alt_names):
        """(cert, key) for CN=name with subjectAltName alt_names ("DNS:x,IP:y")."""
        base = os.path.join(self.dir, name)
        ext = base + ".ext"
        with open(ext, "w", encoding="ascii") as f:
            f.write(f"subjectAltName={alt_names}\n")
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                      "-keyout", base + ".key", "-out", base + ".csr")
        self._openssl("x509", "-req", "-in", base + ".csr", "-CA", self.ca_cert,
                      "-CAkey", self.ca_key, "-CAcreateserial", "-days", "2",
                      "-extfile", ext, "-out", base + ".crt")
        return base + ".crt", base + ".key"


# ---------------------------------------------------------------------------------------
# A fake server for the faults a real one will not produce

class FakeServer:
    """A loopback TCP server that speaks broken RESP. Behaviours:

    garbage  answers every request with bytes that are not RESP
    hangup   accepts, then closes the connection at once
    silent   accepts and reads, never answers
    ok       answers +OK to every request (valid RESP, wrong reply types)
    huge     announces a bulk string of absurd length, then nothing
    hugearray announces an array of 300 million elements (13 bytes), then nothing
    partial  answers half a reply, then hangs up
    """

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.stopping = threading.Event()
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def _serve(self):
        while not self.stopping.is_set():
            ready, _, _ = select.select([self.listener], [], [], 0.05)
            if not ready:
                continue
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self.conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            if self.behaviour == "hangup":
                conn.close()
                return
            conn.settimeout(0.1)
            while not self.stopping.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                if self.behaviour == "garbage":
                    conn.sendall(b"\x00\xff\xfeHTTP/1.1 400 Bad Request\r\n%%%\r\n\x01\x02\r\n")
                elif self.behaviour == "ok":
                    conn.sendall(b"+OK\r\n")
                elif self.behaviour == "huge":
                    conn.sendall(b"$99999999999999999999999\r\n")
                elif self.behaviour == "hugearray":
                    conn.sendall(b"*300000000\r\n")
                elif self.behaviour == "partial":
                    conn.sendall(b"*3\r\n$5\r\nhel")
                    conn.close()
                    return
                # silent: read and drop
        except OSError:
            pass

    def stop(self):
        self.stopping.set()
        self.listener.close()
        for conn in self.conns:
            try:
                conn.close()
            except OSError:
                pass
        self.thread.join(timeout=5)


# ---------------------------------------------------------------------------------------
# Running rwith

class Result:
    def __init__(self, argv, status, stdout, stderr, elapsed, end):
        self.argv = argv
        self.end = end            # time.monotonic() when rwith's exit was seen
        self.status = status      # Popen returncode: negative when rwith died of a signal
        self.stdout = stdout      # bytes
        self.stderr = stderr      # str
        self.elapsed = elapsed    # seconds from start to exit

    @property
    def out(self):
        return self.stdout.decode("utf-8", "replace")

    @property
    def err_lines(self):
        return [line for line in self.stderr.splitlines() if line.strip()]

    def describe(self):
        return (f"command: {shlex.join(self.argv)}\n{exit_description(self.status)} after "
                f"{self.elapsed:.2f} s\n--- stdout:\n{self.out}--- stderr:\n{self.stderr}"
                "--- end")

    def expect(self, status, why=""):
        """Asserts the exit status, with everything needed to understand a mismatch. A
        status 128+N means what it means to a shell: rwith died of signal N (Popen's -N), as
        the contract has it for a command killed by N and for a wait ended by N."""
        if 128 < status < 128 + 65:
            status = -(status - 128)
        if self.status != status:
            raise AssertionError(f"expected exit status {status}{' (' + why + ')' if why else ''}"
                                 f", got {exit_description(self.status)}\n{self.describe()}")
        return self

    def expect_diagnostic(self, *needles):
        """Asserts the contract's line: stderr has a line starting 'rwith: ', and every line
        rwith writes starts so; the final diagnostic mentions every needle."""
        lines = self.err_lines
        ours = [line for line in lines if line.startswith("rwith: ")]
        if not ours:
            raise AssertionError(f"no stderr line starts with 'rwith: '\n{self.describe()}")
        for needle in needles:
            if not any(needle in line for line in ours):
                raise AssertionError(f"no 'rwith: ' line on stderr mentions {needle!r}\n"
                                     f"{self.describe()}")
        return self


class Rwith:
    """One rwith process started in a session of its own (so it has no terminal, and the
    harness can kill it with everything it started). stdout and stderr go to files."""

    def __init__(self, scope, args, stdin=None, env=None, ignore_signals=(), pass_fds=(),
                 cwd=None, exe=None):
        scope.counter += 1
        n = scope.counter
        self.scope = scope
        self.argv = [exe or RWITH] + [str(a) for a in args]
        self.out_path = os.path.join(scope.dir, f"rwith-{n}.out")
        self.err_path = os.path.join(scope.dir, f"rwith-{n}.err")
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("RWITH_REDIS_URL", "REDIS_URL", "RWITH_LOCK", "RWITH_FENCE",
                                 "RWITH_HOLD", "RWITH_TLS_CA", "NOTIFY_SOCKET")}
        full_env.update(env or {})
        preexec = None
        if ignore_signals:
            sigs = list(ignore_signals)

            def preexec():
                for sig in sigs:
                    signal.signal(sig, signal.SIG_IGN)
        stdin_arg = subprocess.DEVNULL
        self.input = None
        if isinstance(stdin, (bytes, str)):
            self.input = stdin.encode() if isinstance(stdin, str) else stdin
            stdin_arg = subprocess.PIPE
        elif stdin is not None:
            stdin_arg = stdin
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.t0 = time.monotonic()
            self.proc = subprocess.Popen(self.argv, stdin=stdin_arg, stdout=out, stderr=err,
                                         env=full_env, start_new_session=True,
                                         preexec_fn=preexec, pass_fds=pass_fds, cwd=cwd)
        self.pid = self.proc.pid
        self.end = None
        scope.processes.append(self)
        if self.input is not None:
            threading.Thread(target=self._feed, daemon=True).start()

    def _feed(self):
        try:
            self.proc.stdin.write(self.input)
        except OSError:
            pass
        finally:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def signal(self, sig):
        os.kill(self.pid, sig)

    def poll(self):
        status = self.proc.poll()
        if status is not None and self.end is None:
            self.end = time.monotonic()
        return status

    def running(self):
        return self.poll() is None

    @property
    def stderr(self):
        return read_file(self.err_path, "")

    def wait(self, timeout=30):
        """Waits for rwith's exit; kills it (and its session) after `timeout` seconds."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"rwith did not exit within {timeout:g} s: "
                                 f"{shlex.join(self.argv)}\n--- stderr so far:\n{self.stderr}")
        self.poll()
        with open(self.out_path, "rb") as f:
            stdout = f.read()
        res = Result(self.argv, self.proc.returncode, stdout, self.stderr, self.end - self.t0,
                     self.end)
        for mark in SANITIZER_MARKS:
            if mark in res.stderr:
                raise AssertionError(f"sanitizer report in rwith's stderr\n{res.describe()}")
        return res

    def kill(self):
        """SIGKILLs rwith and everything in its session."""
        kill_session(self.pid)
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


# ---------------------------------------------------------------------------------------
# Scope: everything one test starts, and its cleanup

class Scope:
    """with Scope("name") as sc: ... — a temp dir, servers, rwith processes, fakes.

    On exit everything is stopped by PID (also on failure); on failure the server logs and
    every rwith's stderr are written to stderr first.
    """

    def __init__(self, name="test"):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"rwith-it-{name}-")
        self.servers = []
        self.processes = []
        self.cleanups = []  # callables run first at the end (processes a test started itself)
        self.fakes = []
        self.counter = 0

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is not None:
                self.dump()
        finally:
            self.cleanup()
        return False

    def dump(self):
        out = sys.stderr
        for p in self.processes:
            out.write(f"\n=== rwith pid {p.pid} ({exit_description(p.poll())}): "
                      f"{shlex.join(p.argv)}\n--- stderr:\n{p.stderr}")
        for s in self.servers:
            out.write(f"\n=== redis-server log ({s.dir}):\n{s.log_text()}")
        out.flush()

    def cleanup(self):
        for clean in self.cleanups:
            clean()
        for p in self.processes:
            p.kill()
        for s in self.servers:
            try:
                s.stop()
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                sys.stderr.write(f"cannot stop redis-server: {e}\n")
        for f in self.fakes:
            f.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- factories

    def redis(self, **kwargs):
        server = RedisServer(self.dir, **kwargs)
        self.servers.append(server)
        return server.start()

    def fake(self, behaviour):
        f = FakeServer(behaviour)
        self.fakes.append(f)
        return f

    def lock(self, name):
        """A lock name unique to this test process."""
        return f"{self.name}-{name}-{os.getpid()}"

    def path(self, name):
        return os.path.join(self.dir, name)

    def start(self, args, **kwargs):
        return Rwith(self, args, **kwargs)

    def run(self, args, timeout=30, **kwargs):
        return Rwith(self, args, **kwargs).wait(timeout=timeout)

    def try_lock(self, server_url, lock, extra=()):
        """rwith -n LOCK -- true: 0 when the lock is free, 1 when held."""
        return self.run(["-r", server_url, "-n", *extra, lock, "--", "true"], timeout=30)


# ---------------------------------------------------------------------------------------
# Shell snippets for commands

def sh_pids_command(pidfile, body="wait"):
    """sh script: starts two `sleep 100` (one as `sleep 100 &`, one in the foreground of a
    `wait`), writes "SH BG FG" pids to pidfile atomically, then runs `body`."""
    q = shlex.quote(pidfile)
    return (f"sleep 100 & bg=$!; sleep 100 & fg=$!; echo \"$$ $bg $fg\" > {q}.tmp; "
            f"mv {q}.tmp {q}; {body}")


def read_pids(pidfile, timeout=20):
    text = wait_for_file(pidfile, timeout, f"the command to start and write {pidfile}")
    return [int(x) for x in text.split()]


def sh_ready_then_sleep(readyfile, seconds=100):
    """sh script: writes its pid to readyfile, then becomes `sleep`."""
    q = shlex.quote(readyfile)
    return f"echo $$ > {q}.tmp; mv {q}.tmp {q}; exec sleep {seconds}"


# ---------------------------------------------------------------------------------------
# --status, the queue, and holders the test releases when it wants

def lock_status(sc, url, lock, extra=()):
    """`rwith --status --json LOCK` as a dict; asserts exit 0 and strictly valid JSON."""
    res = sc.run(["-r", url, "--status", "--json", *extra, lock], timeout=30)
    res.expect(0, "--status --json")
    try:
        return json.loads(res.stdout.decode("utf-8"))
    except ValueError as e:
        raise AssertionError(f"--status --json printed no valid UTF-8 JSON ({e})\n"
                             f"{res.describe()}") from None


def wait_waiters(sc, url, lock, count, timeout=20, must_wait=()):
    """Waits until --status counts `count` waiters of lock; returns that status. Fails at
    once when one of the Holders in `must_wait` runs its command instead of waiting."""
    last = {}

    def check():
        if any(h.has_run() for h in must_wait):
            return True
        last["status"] = lock_status(sc, url, lock)
        return last["status"] if last["status"].get("waiters") == count else None
    try:
        wait_until(check, timeout, f"--status to count {count} waiter(s) of {lock!r}",
                   interval=0.05)
    except AssertionError as e:
        raise AssertionError(f"{e}; last status: {last.get('status')}") from None
    ran = [h.name for h in must_wait if h.has_run()]
    assert not ran, (f"{', '.join(ran)} ran its command instead of waiting for {lock!r}; "
                     f"last status: {last.get('status')}")
    return last["status"]


def server_time_ms(server):
    """The server's clock (TIME) in Unix epoch milliseconds."""
    with server.client() as c:
        sec, usec = c.call("TIME")
        return int(sec) * 1000 + int(usec) // 1000


def wall_stamp():
    """Shell snippet: the wall-clock time as seconds with a fraction (compare with
    time.time(), or with another stamp)."""
    return "$(date +%s.%N)"


def leftover_keys(server, lock, prefix="rwith:"):
    """The keys of lock other than one plain counter without expiry (the fence, which the
    contract keeps for as long as the server keeps its data): what a lock that nobody holds
    or waits for should not have. Returns [(key, type, pttl)]."""
    found = []
    with server.client() as c:
        for key in c.keys(lock_pattern(lock, prefix)):
            kind, pttl = c.call("TYPE", key), c.pttl(key)
            found.append((key, kind, pttl))
    counters = [k for k in found if k[1] == "string" and k[2] == -1]
    if len(counters) == 1:
        found.remove(counters[0])
    return found


MAN_PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                        "rwith.1.scd")


def documented_acl(password):
    """The ACL rules the man page documents (SERVER DATA, Access control), read from it, so
    that the test checks exactly what users are told."""
    with open(MAN_PAGE, encoding="utf-8") as f:
        text = f.read()
    block = text.split("ACL SETUSER locker ", 1)[1].split("```", 1)[0]
    return [">" + password if rule == ">PASSWORD" else rule for rule in block.split()]


def acl_denials(srv):
    with srv.client() as c:
        return c.call("ACL", "LOG")


class Holder:
    """rwith running a command that holds the lock until release() (or for ever).

    The command writes "$RWITH_FENCE <wall-clock time>" to <name>.fence once it runs, then
    waits for <name>.go, then writes the wall-clock time to <name>.done and exits 0. `log`,
    when given, gets "<name> start" and "<name> end" lines. started() waits for it to run,
    so a Holder also serves as a waiter whose command the test controls."""

    def __init__(self, sc, url, lock, name, extra=(), log=None, env=None):
        self.sc, self.name = sc, name
        self.fence_path = sc.path(f"{name}.fence")
        self.go_path = sc.path(f"{name}.go")
        self.done_path = sc.path(f"{name}.done")
        q = shlex.quote
        logging = (lambda word: f"echo '{name} {word}' >> {q(log)}; ") if log else (lambda w: "")
        script = (f"{logging('start')}echo \"$RWITH_FENCE\" {wall_stamp()} > "
                  f"{q(self.fence_path)}.tmp; "
                  f"mv {q(self.fence_path)}.tmp {q(self.fence_path)}; "
                  f"while [ ! -e {q(self.go_path)} ]; do sleep 0.05; done; "
                  f"{logging('end')}echo {wall_stamp()} > {q(self.done_path)}.tmp; "
                  f"mv {q(self.done_path)}.tmp {q(self.done_path)}")
        self.proc = sc.start(["-r", url, *extra, lock, "--", "sh", "-c", script], env=env)
        self.pid = self.proc.pid

    def started(self, timeout=20):
        """Waits until the command runs (it holds the lock); returns its fence."""
        wait_until(lambda: read_file(self.fence_path, "").strip() or not self.proc.running(),
                   timeout, f"holder {self.name}'s command to start")
        if not self.proc.running() and not read_file(self.fence_path, "").strip():
            raise AssertionError(f"holder {self.name} ended before its command ran:\n"
                                 f"{self.proc.wait().describe()}")
        return self.fence

    @property
    def fence(self):
        return int(read_file(self.fence_path).split()[0])

    @property
    def start_time(self):
        """The wall-clock time at which the command started (it had the lock)."""
        return float(read_file(self.fence_path).split()[1])

    def has_run(self):
        return bool(read_file(self.fence_path, "").strip())

    def release(self):
        """Lets the command end (rwith then releases the lock)."""
        with open(self.go_path, "w"):
            pass

    def done_time(self, timeout=20):
        """The wall-clock time at which the command finished."""
        return float(wait_for_file(self.done_path, timeout,
                                   f"holder {self.name}'s command to finish"))

    def wait(self, timeout=30):
        return self.proc.wait(timeout=timeout)


def hand_over(holder, waiter, log, what):
    """Releases holder, then checks the hand-off: holder exits 0, waiter's command starts
    only after holder's has finished, and exits 0; `log` (both Holders' log) shows the four
    steps in that order. `what` names the situation in failure messages."""
    holder.release()
    holder.wait().expect(0, f"holder {what}")
    waiter.started()
    assert waiter.start_time >= holder.done_time(), f"{what}: the waiter ran too early"
    waiter.release()
    waiter.wait().expect(0, f"waiter {what}")
    steps = [f"{h.name} {word}" for h in (holder, waiter) for word in ("start", "end")]
    assert read_file(log).split("\n")[:4] == steps, f"{what}: {read_file(log)!r}"


def hold(sc, url, lock, name="H", extra=(), log=None):
    """A Holder whose command runs (it holds the lock) by the time this returns."""
    holder = Holder(sc, url, lock, name, extra=extra, log=log)
    holder.started()
    return holder


def queue_waiter(sc, url, lock, name, count, extra=(), log=None):
    """A Holder that waits for the lock: returns once --status counts `count` waiters (this
    one the last of them), so that whoever comes next queues behind it. Fails at once when
    its command runs instead."""
    waiter = Holder(sc, url, lock, name, extra=extra, log=log)
    wait_waiters(sc, url, lock, count, must_wait=[waiter])
    return waiter


def queue_waiters(sc, url, lock, names, extra=(), log=None, ahead=0):
    """queue_waiter for each of `names` in turn, behind `ahead` waiters queued already: their
    order in the queue is certain. Returns the Holders."""
    return [queue_waiter(sc, url, lock, name, ahead + i + 1, extra=extra, log=log)
            for i, name in enumerate(names)]


def finish(*holders, timeout=30):
    """Lets the commands of all `holders` end (released in the order given, so that a waiter
    among them ends as soon as it runs), then asserts that each rwith exits 0."""
    for h in holders:
        h.release()
    for h in holders:
        h.wait(timeout=timeout).expect(0, f"{h.name} gets the lock and runs to its end")


def start_group_command(sc, url, lock, ttl):
    """An rwith with TTL `ttl` whose command is sh with a background and a foreground sleep
    (sh_pids_command); returns (rwith, [sh, bg sleep, fg sleep]) once they run."""
    pidfile = sc.path(f"pids-{sc.counter + 1}")
    proc = sc.start(["-r", url, "-t", ttl, lock, "--", "sh", "-c", sh_pids_command(pidfile)])
    return proc, read_pids(pidfile)


def start_stuck_holder(sc, url, lock, name, extra=()):
    """A holder whose command (sh with two sleeps in its process group) never ends by itself;
    should it end, it writes <name>.ended. Returns (rwith, fence, [sh, bg sleep, fg sleep])
    once the command runs."""
    pidfile = sc.path(f"{name}.pids")
    fencefile = sc.path(f"{name}.fence")
    q = shlex.quote
    script = (f"echo \"$RWITH_FENCE\" > {q(fencefile)}.tmp; mv {q(fencefile)}.tmp "
              f"{q(fencefile)}; " + sh_pids_command(pidfile) + f"; echo ended > "
              f"{q(sc.path(name + '.ended'))}")
    proc = sc.start(["-r", url, *extra, lock, "--", "sh", "-c", script])
    pids = read_pids(pidfile)
    fence = int(wait_for_file(fencefile).strip())
    return proc, fence, pids


AT_ONCE_S = 1.5  # "within milliseconds" (woken by the server), with room for a loaded machine


def expect_at_once(later, earlier, what):
    """Asserts that `later` came less than AT_ONCE_S seconds after `earlier` (wall clock)."""
    gap = later - earlier
    assert gap < AT_ONCE_S, (f"{what} took {gap:.2f} s (want < {AT_ONCE_S} s: the next holder "
                             "must be woken by the server, not find the lock by polling or "
                             "after an expiry)")


# ---------------------------------------------------------------------------------------
# Running test files directly: python3 test_x.py [case...]

def main(namespace):
    names = sys.argv[1:] or [n[5:] for n in namespace if n.startswith("test_")
                             and callable(namespace[n])]
    failed = []
    for name in names:
        t0 = time.monotonic()
        try:
            namespace["test_" + name]()
            print(f"PASS {name} ({time.monotonic() - t0:.1f} s)", flush=True)
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            print(f"FAIL {name} ({time.monotonic() - t0:.1f} s): {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                  flush=True)
            failed.append(name)
    sys.exit(1 if failed else 0)
