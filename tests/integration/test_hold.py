"""Locks for scripts: `eval "$(rwith --hold LOCK)"` holds LOCK across the next commands of a
script (in bash, dash and zsh), `rwith --release` lets it go (75 when it was lost), the hold
ends with the process it belongs to, a lost hold sends that process SIGTERM, and a command
under a hold (or under a wrapping rwith) that asks for the same lock runs at once under it."""

import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import time

import harness
from harness import (EX_CONFLICT, EX_LOST, EX_USAGE, RWITH, Scope, hold, lock_status,
                     wait_dead, wait_for_file, wait_until)

SHELLS = [name for name in ("bash", "dash", "zsh") if shutil.which(name)]
ASSIGNMENTS = re.compile(r"^RWITH_LOCK=(?:'[^']*'|\\')+; RWITH_FENCE=(\d+); RWITH_HOLD='([^']*)'; "
                         r"export RWITH_LOCK RWITH_FENCE RWITH_HOLD\n$")


class Script:
    """A shell script run in a session of its own, with RWITH_REDIS_URL set and rwith as
    $R; killed with its session at the end of the scope's test."""

    def __init__(self, sc, shell, body, url, env=None):
        sc.counter += 1
        self.path = sc.path(f"script-{sc.counter}.sh")
        with open(self.path, "w") as f:
            f.write(body)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("RWITH_")}
        full_env.update({"RWITH_REDIS_URL": url, "R": RWITH, "D": sc.dir}, **(env or {}))
        self.err_path = self.path + ".err"
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([shell, self.path], stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, env=full_env,
                                         start_new_session=True)
        sc.cleanups.append(self.kill)

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the script did not end within {timeout} s\n{self.output()}")

    def output(self):
        return harness.read_file(self.err_path, "")

    def kill(self):
        harness.kill_session(self.proc.pid)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


@contextlib.contextmanager
def lock_scope(name):
    """A Scope with a redis-server of its own: (scope, the server's URL, a lock name)."""
    with Scope(name) as sc:
        yield sc, sc.redis().url(), sc.lock("L")


def go(sc):
    """Lets a script waiting in WAIT_GO go on."""
    with open(sc.path("go"), "w") as f:
        f.write("go\n")


# Waits (bounded) until the test writes $D/go.
WAIT_GO = 'i=0; while [ ! -e "$D/go" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n'


def read(sc, name, timeout=20):
    return wait_for_file(sc.path(name), timeout=timeout).strip()


def holder_of(sc, url, lock):
    status = lock_status(sc, url, lock)
    assert len(status["holders"]) == 1, f"expected one holder of {lock!r}: {status}"
    return status["holders"][0]


def test_hold_across_commands():
    """In bash, dash and zsh: the lock is held from the eval to --release, across several
    commands; another rwith -n is refused meanwhile; RWITH_LOCK, RWITH_FENCE and RWITH_HOLD
    are exported to the commands; --release exits 0 and frees the lock at once."""
    assert SHELLS, "no shell to test with"
    for shell in SHELLS:
        with Scope(f"hold-{shell}") as sc:
            srv = sc.redis()
            url = srv.url()
            lock = sc.lock("L")
            script = Script(sc, shell, f"""
eval "$("$R" --hold '{lock}')" || exit 9
sh -c 'echo "$RWITH_LOCK $RWITH_FENCE"' > "$D/child"
echo step1 > "$D/step1"
{WAIT_GO}
"$R" --release '{lock}'; echo $? > "$D/released"
""", url)
            child = read(sc, "step1") and read(sc, "child")
            assert child.split()[0] == lock, f"{shell}: RWITH_LOCK not exported: {child!r}"
            holder = holder_of(sc, url, lock)
            assert child.split()[1] == str(holder["fence"]), \
                f"{shell}: RWITH_FENCE {child!r} is not the holder's {holder}"
            assert shell in holder["task"], f"{shell}: the task is the script's: {holder}"
            sc.try_lock(url, lock).expect(EX_CONFLICT, f"{shell}: held by the script")
            go(sc)
            assert script.wait() == 0, script.output()
            assert read(sc, "released") == "0", f"{shell}: --release\n{script.output()}"
            sc.try_lock(url, lock).expect(0, f"{shell}: free after --release")
            assert script.output() == "", f"{shell}: the script wrote:\n{script.output()}"


def test_hold_prints_only_assignments():
    """stdout carries the three assignments and nothing else, quoted for the shell even for
    a lock name with a quote and spaces; the values round-trip through eval."""
    with Scope("hold-stdout") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("it's a lock")
        script = Script(sc, "sh", f"""
"$R" --pid $$ --hold "$LOCKNAME" > "$D/out"; echo $? > "$D/rc"
eval "$(cat "$D/out")"
printf '%s\\n' "$RWITH_LOCK" > "$D/lock"
{WAIT_GO}
"$R" --release
""", url, env={"LOCKNAME": lock})
        assert read(sc, "rc") == "0", script.output()
        out = harness.read_file(sc.path("out"))
        match = ASSIGNMENTS.match(out)
        assert match, f"stdout is not just the assignments: {out!r}"
        assert read(sc, "lock") == lock, "RWITH_LOCK did not round-trip through eval"
        assert match.group(1) == str(holder_of(sc, url, lock)["fence"])
        go(sc)
        assert script.wait() == 0, script.output()


def test_hold_ends_with_its_process():
    """A script that exits without --release: the lock is free within a second or so, long
    before its TTL (30 s)."""
    with lock_scope("hold-exit") as (sc, url, lock):
        script = Script(sc, "bash", f"""
eval "$("$R" --hold '{lock}')" || exit 9
echo held > "$D/held"
{WAIT_GO}
""", url)
        read(sc, "held")
        holder_of(sc, url, lock)
        go(sc)
        assert script.wait() == 0, script.output()
        ended = time.monotonic()
        wait_until(lambda: not lock_status(sc, url, lock)["held"], 10,
                   "the lock to be free after its script ended")
        assert time.monotonic() - ended < 10, "freed by the TTL, not by the script's end"


def test_hold_for_another_process_with_pid():
    """--pid: the hold belongs to that process (here a sleep), not to rwith's parent."""
    with lock_scope("hold-pid") as (sc, url, lock):
        owner = subprocess.Popen(["sleep", "60"], start_new_session=True)
        sc.cleanups.append(owner.kill)
        res = sc.run(["-r", url, "--pid", str(owner.pid), "--hold", lock])
        res.expect(0, "--hold --pid")
        assert ASSIGNMENTS.match(res.out), res.describe()
        time.sleep(0.5)
        assert lock_status(sc, url, lock)["held"], "the hold ended with rwith's parent"
        owner.kill()
        owner.wait()
        wait_until(lambda: not lock_status(sc, url, lock)["held"], 10,
                   "the lock to be free once its process ended")
        sc.run(["-r", url, "--pid", "999999999", "--hold", lock]).expect(EX_USAGE)


def test_hold_in_a_subshell_of_the_substitution_is_refused():
    """When rwith's parent is the command substitution's subshell (rwith is not its last
    command), the hold would end at once: a usage error that points to --pid $$."""
    for shell in SHELLS:
        with Scope(f"hold-subshell-{shell}") as sc:
            srv = sc.redis()
            url = srv.url()
            lock = sc.lock("L")
            script = Script(sc, shell, f"""
out="$("$R" --hold '{lock}' 2>"$D/err"; echo "rc=$?")"
echo "$out" > "$D/out"
""", url)
            assert script.wait() == 0, script.output()
            assert read(sc, "out") == "rc=64", f"{shell}: {read(sc, 'out')!r}"
            err = harness.read_file(sc.path("err"))
            assert err.startswith("rwith: ") and "--pid $$" in err, f"{shell}: {err!r}"
            assert not lock_status(sc, url, lock)["held"]


def test_hold_nonblock_conflict_prints_nothing():
    """-n --hold on a held lock: nothing on stdout, exit 1 (or -E), the usual message; so
    `hold=$(rwith -n --hold L) || exit 0; eval "$hold"` skips the script's work (eval of an
    empty string succeeds in every POSIX shell, so the status is taken at the assignment)."""
    with lock_scope("hold-conflict") as (sc, url, lock):
        h = hold(sc, url, lock)
        res = sc.run(["-r", url, "-n", "--hold", lock])
        res.expect(EX_CONFLICT, "-n --hold on a held lock")
        assert res.stdout == b"", res.describe()
        res.expect_diagnostic(lock)
        res = sc.run(["-r", url, "-n", "-E", "7", "--hold", lock])
        res.expect(7, "-n -E 7 --hold")
        assert res.stdout == b"", res.describe()
        script = Script(sc, "sh", f"""
hold=$("$R" -n --hold '{lock}' 2>/dev/null) || {{ echo skipped > "$D/out"; exit 0; }}
eval "$hold"
echo ran > "$D/out"
""", url)
        assert script.wait() == 0
        assert read(sc, "out") == "skipped"
        harness.finish(h)


def test_hold_lost_by_break_terminates_the_script():
    """--break under a holding script: the script gets SIGTERM (its trap runs), and its
    --release exits 75."""
    with lock_scope("hold-break") as (sc, url, lock):
        script = Script(sc, "bash", f"""
eval "$("$R" -t 3s --hold '{lock}')" || exit 9
trap '"$R" --release "{lock}" 2>"$D/release.err"; echo $? > "$D/released"; exit 3' TERM
echo held > "$D/held"
i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
echo not-terminated > "$D/late"
""", url)
        read(sc, "held")
        sc.run(["-r", url, "--break", lock]).expect(0)
        assert script.wait() == 3, f"the script's TERM trap did not run\n{script.output()}"
        assert read(sc, "released") == str(EX_LOST)
        err = harness.read_file(sc.path("release.err"))
        assert err.startswith("rwith: ") and "lost" in err, err
        assert not os.path.exists(sc.path("late"))


def test_hold_keeper_killed():
    """The keeper SIGKILLed: the lock frees itself within one TTL, the script is left alone,
    and its --release exits 75."""
    with lock_scope("hold-keeper-killed") as (sc, url, lock):
        script = Script(sc, "bash", f"""
eval "$("$R" -t 2s --hold '{lock}')" || exit 9
echo held > "$D/held"
{WAIT_GO}
"$R" --release '{lock}' 2>/dev/null; echo $? > "$D/released"
""", url)
        read(sc, "held")
        keeper = holder_of(sc, url, lock)["pid"]
        os.kill(keeper, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: not lock_status(sc, url, lock)["held"], 10,
                   "the lock of a killed keeper to expire")
        assert time.monotonic() - killed < 2 + 3, "not freed within the TTL (2 s) and a margin"
        assert script.proc.poll() is None, "the script died with the keeper"
        go(sc)
        assert script.wait() == 0
        assert read(sc, "released") == str(EX_LOST)


def test_reentrant_wrapped():
    """`rwith L -- sh -c 'rwith -w 3s L -- ...'`: the inner command runs at once under the
    outer hold and fence (it used to wait for itself until -w ran out)."""
    with lock_scope("reentrant-wrapped") as (sc, url, lock):
        inner = f'"$R" -r {url} -w 3s {lock} -- sh -c \'echo "$RWITH_FENCE" > "$D/inner"\''
        res = sc.run(["-r", url, lock, "--", "sh", "-c",
                      f'echo "$RWITH_FENCE" > "$D/outer"; {inner}; echo $? > "$D/rc"'],
                     env={"R": RWITH, "D": sc.dir})
        res.expect(0, "outer rwith")
        assert read(sc, "rc") == "0", res.describe()
        assert read(sc, "inner") == read(sc, "outer"), "the inner command had another fence"
        assert res.elapsed < 3, "the inner rwith waited for the outer one"


def test_reentrant_in_hold_and_modes():
    """Inside a hold: the same lock runs at once with the hold's fence; shared inside shared
    and shared inside exclusive too; exclusive inside shared is a usage error saying why."""
    with Scope("reentrant-modes") as sc:
        srv = sc.redis()
        url = srv.url()
        x_lock, s_lock = sc.lock("X"), sc.lock("S")
        script = Script(sc, "bash", f"""
eval "$("$R" --hold '{x_lock}')" || exit 9
"$R" -w 2s '{x_lock}' -- sh -c 'echo "$RWITH_FENCE"' > "$D/x_in_x"
"$R" -w 2s -s '{x_lock}' -- sh -c 'echo "$RWITH_FENCE"' > "$D/s_in_x"
"$R" --release '{x_lock}'
eval "$("$R" -s --hold '{s_lock}')" || exit 8
"$R" -w 2s -s '{s_lock}' -- sh -c 'echo "$RWITH_FENCE"' > "$D/s_in_s"
"$R" -w 2s '{s_lock}' -- true 2> "$D/x_in_s.err"; echo $? > "$D/x_in_s"
"$R" --release
""", url)
        assert script.wait(timeout=40) == 0, script.output()
        fences = [read(sc, name) for name in ("x_in_x", "s_in_x")]
        assert fences[0] == fences[1] and fences[0].isdigit(), fences
        assert read(sc, "s_in_s").isdigit()
        assert read(sc, "x_in_s") == str(EX_USAGE)
        err = harness.read_file(sc.path("x_in_s.err"))
        assert err.startswith("rwith: ") and "shared" in err, err


def test_reentrant_never_confused():
    """A hold is for its own lock, prefix and server only: under a hold of L, another lock,
    L under another prefix and L on another server are acquired as usual; a hold released
    (its RWITH_HOLD still in the environment) is not taken for a valid one."""
    with Scope("reentrant-confused") as sc:
        srv, other = sc.redis(), sc.redis(name="other")
        url = srv.url()
        lock, lock2 = sc.lock("L"), sc.lock("M")
        h = hold(sc, url, lock2)
        script = Script(sc, "bash", f"""
eval "$("$R" --hold '{lock}')" || exit 9
"$R" -n '{lock2}' -- true 2>/dev/null; echo $? > "$D/other_lock"
"$R" -n --prefix other: '{lock}' -- true; echo $? > "$D/other_prefix"
"$R" -r {other.url()} -n '{lock}' -- sh -c 'echo "$RWITH_FENCE"' > "$D/other_server"
"$R" --release '{lock}'
echo released > "$D/released"
{WAIT_GO}
"$R" -n '{lock}' -- true 2>/dev/null; echo $? > "$D/after_release"
""", url)
        read(sc, "released")
        outside = hold(sc, url, lock, name="outside")
        go(sc)
        assert script.wait() == 0, script.output()
        assert read(sc, "other_lock") == str(EX_CONFLICT)
        assert read(sc, "other_prefix") == "0"
        assert read(sc, "other_server") == "1", "the other server's first fence"
        assert read(sc, "after_release") == str(EX_CONFLICT), \
            "a released hold in RWITH_HOLD let the script in beside another holder"
        harness.finish(h, outside)


def test_reentrant_quorum():
    """Quorum mode: a nested rwith checks the hold on a majority and runs at once."""
    with Scope("reentrant-quorum") as sc:
        servers = [sc.redis(name=f"q{i}") for i in range(3)]
        urls = ",".join(s.url() for s in servers)
        lock = sc.lock("L")
        res = sc.run([lock, "--", "sh", "-c",
                      f'"$R" -w 3s {lock} -- true; echo $? > "$D/rc"'],
                     env={"R": RWITH, "D": sc.dir, "RWITH_REDIS_URL": urls})
        res.expect(0)
        assert read(sc, "rc") == "0", res.describe()
        assert res.elapsed < 3, "the nested rwith waited for its own lock"


def test_nested_under_a_hold_is_supervised():
    """A command that joined a script's hold (a nested rwith) runs supervised: when the
    lock is lost (--break), it is terminated and its rwith exits 75, though it is not the
    process the hold belongs to."""
    with lock_scope("hold-nested-lost") as (sc, url, lock):
        script = Script(sc, "bash", f"""
eval "$("$R" -t 3s --hold '{lock}')" || exit 9
trap 'exit 0' TERM
printf '%s' "$RWITH_HOLD" > "$D/hold"
{WAIT_GO}
""", url)
        hold_value = read(sc, "hold")
        pidfile = sc.path("cmd.pid")
        nested = sc.start(["-r", url, lock, "--", "sh", "-c",
                           f"echo $$ > {pidfile}; exec sleep 60"], env={"RWITH_HOLD": hold_value})
        cmd_pid = int(wait_for_file(pidfile, 20))
        assert holder_of(sc, url, lock)["pid"] != nested.pid, "the nested rwith acquired anew"
        sc.run(["-r", url, "--break", lock]).expect(0)
        nested.wait(timeout=30).expect(EX_LOST, "the joined command, on the loss")
        wait_dead([cmd_pid], 10, "the joined command to be terminated")
        go(sc)
        script.wait()


def test_hold_refuses_a_second_hold_and_sigchld_ignored():
    """--hold of a lock the shell holds already is a usage error (it would wait for itself);
    with SIGCHLD ignored, a conflict still exits 1, not 0."""
    with lock_scope("hold-second") as (sc, url, lock):
        script = Script(sc, "bash", f"""
eval "$("$R" --hold '{lock}')" || exit 9
"$R" -w 2s --hold '{lock}' > "$D/out" 2> "$D/err"; echo $? > "$D/rc"
"$R" --release '{lock}'
""", url)
        assert script.wait() == 0, script.output()
        assert read(sc, "rc") == str(EX_USAGE)
        assert harness.read_file(sc.path("out")) == ""
        assert "held already" in harness.read_file(sc.path("err"))
        h = hold(sc, url, lock)
        res = sc.run(["-r", url, "-n", "--hold", "--pid", str(os.getpid()), lock],
                     ignore_signals=[signal.SIGCHLD])
        res.expect(EX_CONFLICT, "a conflict with SIGCHLD ignored")
        assert res.stdout == b""
        harness.finish(h)


def test_hold_waits_for_its_stdout():
    """rwith hands the hold on only once it has printed it: a reader that takes its time
    (here 3 s, the pipe full meanwhile) still gets a hold that is held."""
    with lock_scope("hold-slow-reader") as (sc, url, lock):
        owner = subprocess.Popen(["sleep", "60"], start_new_session=True)
        sc.cleanups.append(owner.kill)
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        filled = 0
        try:
            while True:
                filled += os.write(write_end, b"x" * 4096)
        except BlockingIOError:
            pass
        os.set_blocking(write_end, True)
        proc = subprocess.Popen([RWITH, "-r", url, "--pid", str(owner.pid), "--hold", lock],
                                stdout=write_end, stderr=subprocess.PIPE, start_new_session=True)
        os.close(write_end)
        sc.cleanups.append(proc.kill)
        time.sleep(3)
        data = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # to the end of file: rwith closed its stdout
            if not select.select([read_end], [], [], 0.5)[0]:
                continue
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            data += chunk
        os.close(read_end)
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
        assert ASSIGNMENTS.match(data[filled:].decode()), (filled, len(data), data[-300:])
        assert lock_status(sc, url, lock)["held"], "the hold was given back meanwhile"
        owner.kill()
        owner.wait()
        wait_until(lambda: not lock_status(sc, url, lock)["held"], 10, "the lock to be free")


def test_owner_gone_while_waiting():
    """The script dies (SIGKILL) while its --hold waits: the wait ends, and the keeper leaves
    the queue, so the lock never goes to a hold nobody can use."""
    with lock_scope("hold-owner-gone") as (sc, url, lock):
        h = hold(sc, url, lock)
        script = Script(sc, "bash", f"""
eval "$("$R" --hold '{lock}')"
echo ran > "$D/ran"
""", url)
        harness.wait_waiters(sc, url, lock, 1)
        os.kill(script.proc.pid, signal.SIGKILL)
        script.proc.wait()
        harness.wait_waiters(sc, url, lock, 0, timeout=10)
        harness.finish(h)
        assert not lock_status(sc, url, lock)["held"]
        assert not os.path.exists(sc.path("ran"))


def test_release_without_hold():
    """--release with no hold in RWITH_HOLD: a usage error that says what to do."""
    with Scope("release-none") as sc:
        srv = sc.redis()
        res = sc.run(["-r", srv.url(), "--release", sc.lock("L")])
        res.expect(EX_USAGE)
        res.expect_diagnostic("--hold")


if __name__ == "__main__":
    harness.main(globals())
