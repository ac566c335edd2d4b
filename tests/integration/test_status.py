"""rwith --status [--json] LOCK: the holders (host, pid, task, since, TTL left, fence) and the
number of waiters; JSON with the contract's fields and types, strings escaped correctly;
read-only; exit 0 (also for a free lock) and 69 when the server cannot be used."""

import json
import os
import re
import socket

import harness
from harness import EX_SERVER, Scope, finish, hold, lock_status, queue_waiters

HOLDER_FIELDS = {"host": str, "pid": int, "task": str, "since_ms": int, "ttl_ms": int,
                 "fence": int}


def check_types(status, why):
    """The contract's fields with their JSON types (bool is not a number here)."""
    problems = []
    for field, kind in (("lock", str), ("held", bool), ("holders", list), ("waiters", int)):
        if field not in status:
            problems.append(f"no field {field!r}")
        elif type(status[field]) is not kind:
            problems.append(f"{field!r} is {type(status[field]).__name__}, want {kind.__name__}")
    for i, holder in enumerate(status.get("holders") or []):
        if not isinstance(holder, dict):
            problems.append(f"holders[{i}] is not an object")
            continue
        for field, kind in HOLDER_FIELDS.items():
            if field not in holder:
                problems.append(f"holders[{i}] has no field {field!r}")
            elif type(holder[field]) is not kind:
                problems.append(f"holders[{i}].{field} is {type(holder[field]).__name__}, "
                                f"want {kind.__name__}")
    if type(status.get("held")) is bool and type(status.get("holders")) is list:
        if status["held"] != bool(status["holders"]):
            problems.append("'held' disagrees with 'holders'")
    if problems:
        raise AssertionError(f"--status --json ({why}): " + "; ".join(problems) + f"\n{status}")


def status_text(sc, url, lock, extra=()):
    res = sc.run(["-r", url, "--status", *extra, lock])
    res.expect(0, "--status")
    assert res.stderr == "", f"--status wrote to stderr:\n{res.describe()}"
    return res


def test_status_free_lock():
    """A lock never used and a lock used and released: free, no holders, no waiters, and no
    JSON fields beyond the contract's; and --status itself leaves nothing on the server."""
    with Scope("status-free") as sc:
        srv = sc.redis()
        url = srv.url()
        never = sc.lock("never")
        used = sc.lock("used")
        sc.run(["-r", url, used, "--", "true"]).expect(0)
        for lock in (never, used):
            res = sc.run(["-r", url, "--status", "--json", lock])
            res.expect(0, "--status --json of a free lock")
            assert res.stderr == "", f"--status --json wrote to stderr:\n{res.describe()}"
            status = json.loads(res.stdout.decode("utf-8"))
            check_types(status, "free lock")
            assert set(status) == {"lock", "held", "holders", "waiters"}, (
                f"a free lock's status has other fields than the contract's: {status}")
            assert status["lock"] == lock and status["held"] is False, status
            assert status["holders"] == [] and status["waiters"] == 0, status
            text = status_text(sc, url, lock)
            lines = text.out.splitlines()
            assert lines and lock in lines[0] and "free" in lines[0], (
                f"the text form does not say the lock is free:\n{text.describe()}")
            assert len(lines) == 1, f"a free lock shows holder lines:\n{text.describe()}"
        assert srv.lock_keys(never) == [], (
            f"--status created keys: {srv.lock_keys(never)}")


def test_status_held_with_waiters():
    """One holder (-t 10s, -T task) and two waiters: every JSON field with its value, and the
    text form with one line for the holder and the waiter count. --status changes nothing."""
    with Scope("status-held") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("held")
        before_ms = harness.server_time_ms(srv)
        holder = hold(sc, url, lock, "H", extra=["-t", "10s", "-T", "nightly backup"])
        fence = holder.fence
        waiters = queue_waiters(sc, url, lock, ["W1", "W2"])
        status = lock_status(sc, url, lock)
        after_ms = harness.server_time_ms(srv)
        check_types(status, "held lock")
        assert status["lock"] == lock and status["held"] is True, status
        assert len(status["holders"]) == 1, f"want exactly one holder: {status}"
        h = status["holders"][0]
        want = {"host": socket.gethostname(), "pid": holder.pid, "task": "nightly backup",
                "fence": fence}
        wrong = {k: (h[k], v) for k, v in want.items() if h[k] != v}
        assert not wrong, f"wrong holder fields (got, want): {wrong}\n{status}"
        assert before_ms - 50 <= h["since_ms"] <= after_ms + 50, (
            f"since_ms {h['since_ms']} is not the acquisition time on the server's clock "
            f"(between {before_ms} and {after_ms})")
        assert 0 < h["ttl_ms"] <= 10000, f"ttl_ms {h['ttl_ms']} is not what is left of 10 s"

        text = status_text(sc, url, lock)
        lines = text.out.splitlines()
        assert lines and lock in lines[0] and re.search(r"\b2 wait", lines[0]), (
            f"the first line does not name the lock and the 2 waiters:\n{text.describe()}")
        assert len(lines) == 2, f"want the summary and one line per holder:\n{text.describe()}"
        line = lines[1]
        for needle in (f"{socket.gethostname()}:{holder.pid}", "nightly backup", str(fence)):
            assert needle in line, f"the holder line lacks {needle!r}:\n{text.describe()}"

        # Read-only: the holder still holds it, the waiters still wait, in the same order.
        status_again = lock_status(sc, url, lock)
        assert status_again["waiters"] == 2 and status_again["holders"][0]["fence"] == fence, (
            status_again)
        sc.try_lock(url, lock).expect(1, "the lock is still held after --status")
        assert holder.proc.running() and all(w.proc.running() for w in waiters)
        assert not any(w.has_run() for w in waiters), "a waiter ran during --status"
        finish(*waiters, holder)
        assert waiters[1].fence > waiters[0].fence > fence
        status = lock_status(sc, url, lock)
        check_types(status, "after everything")
        assert status["held"] is False and status["waiters"] == 0, status


def test_status_several_holders_and_default_task():
    """A semaphore (-l 3) with two holders: two holder objects, two holder lines; a holder
    without -T is labelled with its command line."""
    with Scope("status-several") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("sem")
        one = hold(sc, url, lock, "one", extra=["-l", "3", "-T", "first"])
        two = hold(sc, url, lock, "two", extra=["-l", "3"])
        status = lock_status(sc, url, lock)
        check_types(status, "two holders")
        assert status["held"] is True and status["waiters"] == 0, status
        by_pid = {h["pid"]: h for h in status["holders"]}
        assert set(by_pid) == {one.pid, two.pid}, f"want the holders {one.pid}, {two.pid}: {status}"
        assert by_pid[one.pid]["task"] == "first", status
        assert by_pid[one.pid]["fence"] == one.fence and by_pid[two.pid]["fence"] == two.fence
        assert by_pid[two.pid]["task"].startswith("sh -c "), (
            f"the default task is not the command line: {by_pid[two.pid]['task']!r}")
        text = status_text(sc, url, lock)
        lines = text.out.splitlines()
        assert len(lines) == 3, f"want the summary and one line per holder:\n{text.describe()}"
        for h in (one, two):
            assert sum(f":{h.pid} " in line for line in lines[1:]) == 1, text.describe()
        finish(one, two)


TRICKY_TASK = 'he said "hi" \\ back\\slash \\" ünïcödé €𝄞 🔒 tab\there /slash'
TRICKY_LOCK = 'lock "q" \\ ünï 🔒'


def test_status_json_escaping():
    """Task and lock names with quotes, backslashes, tabs, newlines, control characters and
    UTF-8 come out as valid JSON that decodes to exactly the original; a task that is not
    valid UTF-8 still gives valid JSON."""
    with Scope("status-json") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = TRICKY_LOCK + f" {os.getpid()}"
        control = "line one\nline two\r\x01\x1f\x7f end"
        invalid = os.fsdecode(b"bad \xff\xfe utf8 \xc3( end")
        holders = [hold(sc, url, lock, name, extra=["-l", "3", "-T", task])
                   for name, task in (("tricky", TRICKY_TASK), ("control", control),
                                      ("invalid", invalid))]
        res = sc.run(["-r", url, "--status", "--json", lock])
        res.expect(0)
        try:
            text = res.stdout.decode("utf-8")  # strict: the output must be valid UTF-8
            status = json.loads(text)
        except ValueError as e:
            raise AssertionError(f"--status --json is not valid UTF-8 JSON: {e}\n"
                                 f"{res.stdout!r}") from None
        assert text.count("\n") == 1 and text.endswith("\n"), (
            f"want one JSON object on one line: {res.stdout!r}")
        check_types(status, "tricky names")
        assert status["lock"] == lock, f"lock name mangled: {status['lock']!r} != {lock!r}"
        tasks = {h["pid"]: h["task"] for h in status["holders"]}
        assert tasks.get(holders[0].pid) == TRICKY_TASK, (
            f"task mangled: {tasks.get(holders[0].pid)!r} != {TRICKY_TASK!r}")
        assert tasks.get(holders[1].pid) == control, (
            f"task with control characters mangled: {tasks.get(holders[1].pid)!r} != "
            f"{control!r}")
        bad = tasks.get(holders[2].pid, "")
        assert bad.startswith("bad ") and bad.endswith(" end") and "utf8" in bad, (
            f"the valid parts of a non-UTF-8 task were lost: {bad!r}")
        finish(*holders)


def test_status_text_one_line_per_holder():
    """The text form shows one holder per line, also when a task contains a newline."""
    with Scope("status-lines") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("lines")
        one = hold(sc, url, lock, "one", extra=["-l", "2", "-T", "two\nlines"])
        two = hold(sc, url, lock, "two", extra=["-l", "2", "-T", "plain"])
        res = status_text(sc, url, lock)
        lines = res.out.splitlines()
        assert len(lines) == 3, (f"want the summary and one line per holder (2), got "
                                 f"{len(lines)} lines:\n{res.describe()}")
        for h in (one, two):
            assert sum(f":{h.pid} " in line for line in lines[1:]) == 1, res.describe()
        finish(one, two)


def test_status_prefix():
    """--status looks under --prefix."""
    with Scope("status-prefix") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("prefix")
        holder = hold(sc, url, lock, "H", extra=["--prefix", "other:"])
        assert lock_status(sc, url, lock)["held"] is False, "found under the default prefix"
        status = lock_status(sc, url, lock, extra=["--prefix", "other:"])
        assert status["held"] is True and status["holders"][0]["pid"] == holder.pid, status
        finish(holder)


def test_status_server_unusable():
    """--status (text and JSON) exits 69 with a 'rwith: ' line and prints nothing on stdout
    when the server is unreachable, refuses the password, or does not speak RESP."""
    with Scope("status-69") as sc:
        srv = sc.redis(password="s3cret")
        garbage = sc.fake("garbage")
        urls = [f"redis://127.0.0.1:{harness.closed_port()}", srv.url(password="wrong"),
                garbage.url]
        lock = sc.lock("x")
        for url in urls:
            for extra in ([], ["--json"]):
                res = sc.run(["-r", url, "--status", *extra, lock], timeout=30)
                res.expect(EX_SERVER, f"--status {' '.join(extra)} with {url}")
                res.expect_diagnostic()
                assert res.stdout == b"", f"--status printed a status:\n{res.describe()}"
                assert res.elapsed < 10, f"--status took {res.elapsed:.1f} s to give up"
                assert "wrong" not in res.stderr, f"the password shows:\n{res.describe()}"


if __name__ == "__main__":
    harness.main(globals())
