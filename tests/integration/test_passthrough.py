"""What the command gets: stdin, stdout, stderr, arguments, cwd, file descriptors and the
environment, plus RWITH_LOCK and RWITH_FENCE (strictly increasing per lock)."""

import os
import subprocess
import time

import harness
from harness import Scope


def test_stdin_to_stdout():
    with Scope("pass-stdio") as sc:
        srv = sc.redis()
        res = sc.run(["-r", srv.url(), sc.lock("l"), "--", "cat"], stdin="hi\n").expect(0)
        assert res.out == "hi\n", f"echo hi | rwith L -- cat printed {res.out!r}"


def test_binary_data_round_trip():
    with Scope("pass-binary") as sc:
        srv = sc.redis()
        data = os.urandom(1 << 20) + bytes(range(256)) * 16
        res = sc.run(["-r", srv.url(), sc.lock("l"), "--", "cat"], stdin=data).expect(0)
        assert res.stdout == data, (f"1 MiB of binary data through cat: got {len(res.stdout)} "
                                    f"bytes back, {'same' if res.stdout == data else 'different'}")


def test_stderr_passthrough():
    with Scope("pass-stderr") as sc:
        srv = sc.redis()
        res = sc.run(["-r", srv.url(), sc.lock("l"), "--", "sh", "-c",
                      "echo to-stdout; echo to-stderr >&2; exit 5"]).expect(5)
        assert res.out == "to-stdout\n", res.describe()
        assert res.stderr == "to-stderr\n", (
            "the command's stderr arrives unchanged and rwith adds nothing on success\n"
            + res.describe())


def test_arguments_verbatim():
    with Scope("pass-args") as sc:
        srv = sc.redis()
        args = ["a b", "", "*", "$HOME", "x\ny", "--", "-n", "ü", "'\""]
        res = sc.run(["-r", srv.url(), sc.lock("l"), "--", "printf", "%s\\0", *args]).expect(0)
        got = res.stdout.split(b"\0")[:-1]
        assert got == [a.encode() for a in args], f"arguments changed: {got!r}"


def test_cwd_and_environment():
    with Scope("pass-env") as sc:
        srv = sc.redis()
        lock = "env lock/ü:1"
        res = sc.run(["-r", srv.url(), lock, "--", "sh", "-c",
                      'pwd; echo "$FOO"; echo "$RWITH_LOCK"; echo "$RWITH_FENCE"; '
                      'echo "${RWITH_REDIS_URL-unset}"'],
                     env={"FOO": "bar baz"}, cwd=sc.dir).expect(0)
        lines = res.out.split("\n")
        assert os.path.realpath(lines[0]) == os.path.realpath(sc.dir), f"cwd: {lines[0]!r}"
        assert lines[1] == "bar baz", f"FOO did not reach the command: {lines[1]!r}"
        assert lines[2] == lock, f"RWITH_LOCK={lines[2]!r}, want {lock!r}"
        assert lines[3].isdigit() and int(lines[3]) > 0, f"RWITH_FENCE={lines[3]!r}"
        assert lines[4] == "unset", "rwith invents no variables beyond the contract's"


def test_inherited_rwith_variables_are_replaced():
    with Scope("pass-env-replace") as sc:
        srv = sc.redis()
        lock = sc.lock("mine")
        res = sc.run(["-r", srv.url(), lock, "--", "sh", "-c",
                      'env | grep -c "^RWITH_LOCK="; env | grep -c "^RWITH_FENCE="; '
                      'echo "$RWITH_LOCK $RWITH_FENCE"'],
                     env={"RWITH_LOCK": "outer", "RWITH_FENCE": "999999999"}).expect(0)
        count_lock, count_fence, values = res.out.split("\n")[:3]
        assert (count_lock, count_fence) == ("1", "1"), f"duplicate variables:\n{res.out}"
        name, fence = values.rsplit(" ", 1)
        assert name == lock, f"RWITH_LOCK from the caller leaked: {name!r}"
        assert fence != "999999999", "RWITH_FENCE from the caller leaked"


def test_fence_strictly_increasing():
    with Scope("pass-fence") as sc:
        srv = sc.redis()
        lock, other = sc.lock("a"), sc.lock("b")
        fences = []
        for i in range(8):
            res = sc.run(["-r", srv.url(), lock, "--", "sh", "-c", 'echo "$RWITH_FENCE"']).expect(0)
            fences.append(int(res.out))
            if i % 2:
                sc.run(["-r", srv.url(), other, "--", "true"]).expect(0)
        # A run that is refused (-n on a held lock) must not be counted as an acquisition
        # that could hand out a lower fence later.
        holder = sc.start(["-r", srv.url(), lock, "--", "sh", "-c",
                           'echo "$RWITH_FENCE" > "$0"; sleep 100', sc.path("holder-fence")])
        fences.append(int(harness.wait_for_file(sc.path("holder-fence"))))
        sc.try_lock(srv.url(), lock).expect(1)
        holder.signal(15)
        holder.wait()
        res = sc.run(["-r", srv.url(), lock, "--", "sh", "-c", 'echo "$RWITH_FENCE"']).expect(0)
        fences.append(int(res.out))
        assert all(a < b for a, b in zip(fences, fences[1:])), (
            f"RWITH_FENCE must strictly increase with every acquisition: {fences}")


def open_fds(pid):
    return sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid):
    """The fds of pid once the same three readings in a row, 0.1 s apart: just after the exec
    that renames it, the dynamic loader of the new program still has files open (as fd 3),
    for a moment that a slow machine stretches. A leaked fd stays; those go."""
    readings = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        readings = (readings + [open_fds(pid)])[-3:]
        if len(readings) == 3 and readings[0] == readings[1] == readings[2]:
            return readings[0]
        time.sleep(0.1)
    raise AssertionError(f"the fds of {pid} never settled: {readings}")


def test_file_descriptors_as_if_run_directly():
    """The command gets exactly the descriptors rwith got (here 0, 1, 2 and an inherited
    pipe on another fd), none of rwith's own (its Redis socket, event-loop fds). The
    command writes to the inherited fd, then becomes `sleep`, whose fds are listed."""
    with Scope("pass-fds") as sc:
        srv = sc.redis()
        read_end, write_end = os.pipe()
        os.set_inheritable(write_end, True)
        direct = None
        try:
            def script(ready):
                return (f"echo via-fd >&{write_end}; " + harness.sh_ready_then_sleep(ready))

            with open(sc.path("direct.out"), "wb") as out:
                direct = subprocess.Popen(["sh", "-c", script(sc.path("ready-direct"))],
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                          pass_fds=(write_end,), start_new_session=True)
            direct_pid = int(harness.wait_for_file(sc.path("ready-direct")))
            p = sc.start(["-r", srv.url(), sc.lock("fds"), "--", "sh", "-c",
                          script(sc.path("ready-rwith"))], pass_fds=(write_end,))
            rwith_pid = int(harness.wait_for_file(sc.path("ready-rwith")))
            for pid in (direct_pid, rwith_pid):
                harness.wait_until(lambda: harness.read_file(f"/proc/{pid}/comm", "").strip()
                                   == "sleep", 10, "the command to exec sleep")
            want, got = settled_fds(direct_pid), settled_fds(rwith_pid)
            p.signal(15)
            p.wait().expect(143)
            direct.kill()
            direct.wait()
            os.close(write_end)
            write_end = -1
            via_fd = b""
            while True:
                chunk = os.read(read_end, 4096)
                if not chunk:
                    break
                via_fd += chunk
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
            if direct is not None and direct.poll() is None:
                direct.kill()
                direct.wait()
        assert got == want, (f"open fds of the command: {got}, run directly: {want} "
                             "(extra ones are rwith's leaking into the command)")
        assert via_fd == b"via-fd\nvia-fd\n", f"the inherited fd did not work: {via_fd!r}"


def test_stdin_not_consumed_while_waiting():
    with Scope("pass-stdin-wait") as sc:
        srv = sc.redis()
        lock = sc.lock("l")
        holder = sc.start(["-r", srv.url(), lock, "--", "sh", "-c",
                           harness.sh_ready_then_sleep(sc.path("ready"), 1)])
        harness.wait_for_file(sc.path("ready"))
        res = sc.run(["-r", srv.url(), lock, "--", "cat"], stdin="waited for\n").expect(0)
        holder.wait().expect(0)
        assert res.out == "waited for\n", f"stdin was touched while waiting: {res.out!r}"


if __name__ == "__main__":
    harness.main(globals())
