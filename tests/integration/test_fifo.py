"""The waiting queue: waiters are served in arrival order and woken by the server at once;
a waiter that gives up, is interrupted or is SIGKILLed leaves nothing that delays the others
by more than one TTL; waiting costs the server next to nothing; the progress message; the
queue survives a server restart in the sense that every waiter still gets the lock.

Timings are asserted with wide margins (these cases run in parallel, under sanitizers, on
loaded machines): "at once" means well under a second or so where the TTL is 10 s or more,
which still proves nobody waited for an expiry or a polling interval.
"""

import re
import select
import signal
import socket
import time

import harness
from harness import (EX_LOST, Scope, expect_at_once, finish, hold, lock_status, queue_waiter,
                     queue_waiters, wait_waiters)


def log_lines(sc):
    return (harness.read_file(sc.path("log"), "") or "").splitlines()


def test_fifo_order_of_staggered_waiters():
    """Six waiters that queue one after the other get the lock in that order, each one at
    once after the previous one released it (TTL 10 s: no expiry is waited for)."""
    with Scope("fifo-order") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("order")
        log = sc.path("log")
        holder = hold(sc, url, lock, "H", extra=["-t", "10s"], log=log)
        # Each one queued before the next one arrives.
        waiters = queue_waiters(sc, url, lock, [f"W{i}" for i in range(1, 7)],
                                extra=["-t", "10s"], log=log)
        # Let every command end as soon as it runs: the order is the server's alone.
        finish(*waiters, holder, timeout=60)
        names = ["H"] + [w.name for w in waiters]
        want = [f"{n} {word}" for n in names for word in ("start", "end")]
        assert log_lines(sc) == want, (f"the waiters did not run one after the other in "
                                       f"arrival order:\n got {log_lines(sc)}\nwant {want}")
        fences = [holder.fence] + [w.fence for w in waiters]
        assert fences == sorted(set(fences)), f"fences do not increase strictly: {fences}"
        previous = holder
        for w in waiters:
            expect_at_once(w.start_time, previous.done_time(),
                           f"the hand-over from {previous.name} to {w.name}")
            previous = w
        assert harness.leftover_keys(srv, lock) == [], "keys left behind"


def test_slow_head_is_not_overtaken():
    """The lock is free but the waiter at the head of the queue is slow to take it
    (SIGSTOPped): a later waiter that looks again meanwhile does not overtake it, nor does a
    --nonblock newcomer; the head gets it once it continues, then the next waiter."""
    with Scope("fifo-slow-head") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("slow")
        log = sc.path("log")
        holder = hold(sc, url, lock, "H", extra=["-t", "10s"], log=log)
        head = queue_waiter(sc, url, lock, "B", 1, extra=["-t", "10s"], log=log)
        # A short TTL: C looks at the free lock several times while the head is stopped.
        later = queue_waiter(sc, url, lock, "C", 2, extra=["-t", "1s"], log=log)
        head.release()
        later.release()
        head.proc.signal(signal.SIGSTOP)
        try:
            holder.release()
            holder.wait().expect(0)
            time.sleep(1.0)
            assert not later.has_run(), (
                f"the later waiter overtook the head of the queue: {log_lines(sc)}")
            # Either the server granted it to the head when the release woke it (its acquire
            # waits behind its BLPOP on the server), or, when the head was stopped before it
            # blocked, the lock stays free and the head first in the queue.
            status = lock_status(sc, url, lock)
            granted = (status["held"] is True and status["waiters"] == 1 and
                       [h["pid"] for h in status["holders"]] == [head.proc.pid])
            reserved = status["held"] is False and status["waiters"] == 2
            assert granted or reserved, (
                f"want the lock granted to the stopped head, or free with 2 waiters: {status}")
            res = sc.try_lock(url, lock)
            res.expect(1, "a --nonblock newcomer must not take the lock past the queue")
            res.expect_diagnostic(lock)
        finally:
            head.proc.signal(signal.SIGCONT)
        head.wait(timeout=30).expect(0, "the head gets the lock once it continues")
        later.wait(timeout=30).expect(0, "then the next waiter")
        assert log_lines(sc) == ["H start", "H end", "B start", "B end", "C start", "C end"], (
            f"wrong order: {log_lines(sc)}")


def blocked_clients(server):
    """How many clients wait in a blocking command (BLPOP) on the server."""
    with server.client() as c:
        listing = c.call("CLIENT", "LIST").decode()
    return sum(1 for line in listing.splitlines() if " flags=b " in f" {line} ")


def test_grant_to_a_stopped_waiter_is_not_used_late():
    """A waiter's acquire waits behind its BLPOP on the server, so a release grants it the
    lock at once, even while the waiter is stopped. If it stays stopped past its TTL, the
    grant runs out and the next waiter takes the lock; when the first continues, it must not
    run its command on that stale grant (the two would run at once): it asks again, waits
    for the other, and runs after it. It stays stopped past its BLPOP's own deadline (1 s
    wait + 2 s for the answer): the answers waiting in its socket are read, not taken for a
    silent server (the loop runs its timers before it polls)."""
    with Scope("fifo-stale-grant") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("stale")
        log = sc.path("log")
        holder = hold(sc, url, lock, "H", extra=["-t", "10s"], log=log)
        stopped = queue_waiter(sc, url, lock, "B", 1, extra=["-t", "2s"], log=log)
        harness.wait_until(lambda: blocked_clients(srv) == 1, 20, "B to block in its BLPOP")
        stopped.proc.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            later = queue_waiter(sc, url, lock, "C", 2, extra=["-t", "10s"], log=log)
            holder.release()
            holder.wait().expect(0)
            # B's grant (2 s) runs out unused; C takes the lock after it.
            later.started(timeout=20)
        finally:
            time.sleep(max(0.0, stopped_at + 4.5 - time.monotonic()))
            stopped.proc.signal(signal.SIGCONT)
        time.sleep(1.5)  # time for B to act on its stale grant, were it to
        assert not stopped.has_run(), (
            f"the waiter ran its command on a grant that had run out: {log_lines(sc)}")
        later.release()
        later.wait(timeout=30).expect(0)
        stopped.release()
        stopped.wait(timeout=30).expect(0, "B asks again and runs after C")
        assert log_lines(sc) == ["H start", "H end", "C start", "C end", "B start", "B end"], (
            f"wrong order: {log_lines(sc)}")


def test_gave_up_waiters_leave_nothing_behind():
    """Three waiters ahead of D give up: SIGINT (130), SIGTERM (143), -w running out (1).
    Each leaves the queue at once, and D runs at once after the release although the TTL is
    10 s. Nothing of theirs stays on the server."""
    with Scope("fifo-gave-up") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("gaveup")
        holder = hold(sc, url, lock, "H", extra=["-t", "10s"])
        interrupted, terminated = queue_waiters(sc, url, lock, ["INT", "TERM"],
                                                extra=["-t", "10s"])
        timed_out = queue_waiter(sc, url, lock, "W", 3, extra=["-t", "10s", "-w", "10s"])
        last = queue_waiter(sc, url, lock, "D", 4, extra=["-t", "10s"])
        gave_up = [interrupted, terminated, timed_out]

        interrupted.proc.signal(signal.SIGINT)
        res = interrupted.wait(timeout=20)
        res.expect(128 + signal.SIGINT, "SIGINT while waiting").expect_diagnostic(lock)
        terminated.proc.signal(signal.SIGTERM)
        res = terminated.wait(timeout=20)
        res.expect(128 + signal.SIGTERM, "SIGTERM while waiting").expect_diagnostic(lock)
        status = lock_status(sc, url, lock)
        assert status["waiters"] == 2, (
            f"the interrupted waiters did not leave the queue at once: {status}")

        res = timed_out.wait(timeout=30)
        res.expect(1, "-w 10s ran out").expect_diagnostic(lock)
        status = lock_status(sc, url, lock)
        assert status["waiters"] == 1, f"the timed-out waiter is still counted: {status}"
        assert not any(w.has_run() for w in gave_up), "a waiter that gave up ran its command"

        holder.release()
        last.started(timeout=20)
        expect_at_once(last.start_time, holder.done_time(),
                       "the hand-over past three waiters that gave up")
        holder.wait().expect(0)
        finish(last)
        assert not any(w.has_run() for w in gave_up), "a waiter that gave up ran its command"
        status = lock_status(sc, url, lock)
        assert status["held"] is False and status["waiters"] == 0, status
        assert harness.leftover_keys(srv, lock) == [], "keys left behind"


def test_sigkilled_waiter_delays_others_at_most_one_ttl():
    """A waiter ahead of D is SIGKILLed (it cannot leave the queue): once its place expires
    (one TTL, 3 s) D gets the lock, and nothing is left behind."""
    ttl_s = 3
    with Scope("fifo-sigkill") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("killed")
        holder = hold(sc, url, lock, "H", extra=["-t", f"{ttl_s}s"])
        victim, last = queue_waiters(sc, url, lock, ["K", "D"], extra=["-t", f"{ttl_s}s"])
        victim.proc.kill()
        assert victim.proc.poll() == -signal.SIGKILL, "the victim was not SIGKILLed"
        holder.release()
        released = holder.done_time()
        last.started(timeout=30)
        delay = last.start_time - released
        assert delay < ttl_s + 3, (
            f"D got the lock {delay:.2f} s after the release; a SIGKILLed waiter ahead of it "
            f"may delay it by one TTL ({ttl_s} s) at most")
        holder.wait().expect(0)
        finish(last)
        assert not victim.has_run(), "the SIGKILLed waiter's command ran"
        status = lock_status(sc, url, lock)
        assert status["held"] is False and status["waiters"] == 0, status
        harness.wait_until(lambda: harness.leftover_keys(srv, lock) == [], ttl_s + 5,
                           "the dead waiter's keys to go away")


def test_waiter_rechecks_when_holder_expires():
    """The holder dies without releasing (SIGKILL, TTL 2 s): no event announces the expiry,
    yet a waiter with the default TTL (30 s) looks again when the holder's time runs out,
    not only at its own periodic re-check."""
    with Scope("fifo-expiry") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("expiry")
        holder = hold(sc, url, lock, "H", extra=["-t", "2s"])
        waiter = queue_waiter(sc, url, lock, "W", 1)
        holder.proc.kill()
        killed = time.time()
        waiter.started(timeout=30)
        delay = waiter.start_time - killed
        assert delay < 2 + 3, (
            f"the waiter got the lock {delay:.2f} s after the holder died; its TTL was 2 s")
        finish(waiter)


def monitor_commands(server, seconds, exclude_addrs):
    """Counts the commands clients send to server during `seconds` (MONITOR), per client
    address, leaving out exclude_addrs and the commands scripts run."""
    counts = {}
    with server.client() as c:
        my_addr = "127.0.0.1:%d" % c.sock.getsockname()[1]
        c.call("MONITOR")
        c.sock.setblocking(False)
        buf = b""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([c.sock], [], [], 0.2)
            if ready:
                try:
                    chunk = c.sock.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise AssertionError("the server closed the MONITOR connection")
                buf += chunk
    for line in buf.split(b"\r\n"):
        m = re.match(rb"\+\d+\.\d+ \[\d+ ([^\]]+)\] \"([^\"]*)\"", line)
        if not m:
            continue
        addr = m.group(1).decode()
        if addr == "lua" or addr == my_addr or addr in exclude_addrs:
            continue
        counts.setdefault(addr, []).append(m.group(2).decode())
    return counts


def client_addrs(server):
    with server.client() as c:
        mine = c.call("CLIENT", "ID")
        listing = c.call("CLIENT", "LIST").decode()
    addrs = set()
    for line in listing.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if fields.get("id") != str(mine):
            addrs.add(fields["addr"])
    return addrs


def test_waiting_is_cheap_and_reports_progress():
    """Waiters with the default TTL cost the server under 0.2 requests/s each (the server
    wakes them; they do not poll), and a waiter with -v repeats its progress message every
    30 s."""
    window_s = 30
    with Scope("fifo-cheap") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("cheap")
        holder = hold(sc, url, lock, "H", extra=["-T", "long job"])
        holder_addrs = client_addrs(srv)
        verbose = queue_waiter(sc, url, lock, "V", 1, extra=["-v"])
        queued_at = time.monotonic()
        others = queue_waiters(sc, url, lock, ["W0", "W1"], ahead=1)
        counts = monitor_commands(srv, window_s, holder_addrs)
        total = sum(len(v) for v in counts.values())
        budget = 0.2 * window_s * 3
        assert total <= budget, (
            f"3 waiters sent {total} requests in {window_s} s (budget {budget:g}: under 0.2/s "
            f"each): {counts}")

        pattern = re.compile(r"^rwith: waiting for '%s' held by (.+):(\d+) \(task 'long job'\)"
                             r" for \d+s$" % re.escape(lock))

        def progress_lines():
            return [line for line in verbose.proc.stderr.splitlines() if pattern.match(line)]
        harness.wait_until(lambda: len(progress_lines()) >= 2,
                           max(1.0, queued_at + 45 - time.monotonic()),
                           "a second progress message from the -v waiter within 45 s")
        for line in progress_lines():
            m = pattern.match(line)
            assert m.group(2) == str(holder.pid), f"wrong holder pid in {line!r}"

        finish(verbose, *others, holder)


def test_progress_message_names_holder_and_changes():
    """With -v a waiter says whom it waits for when it starts waiting and again when the
    holder changes; without -v (stderr not a terminal) a waiter says nothing."""
    with Scope("fifo-progress") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("progress")
        first = hold(sc, url, lock, "A", extra=["-T", "make deploy"])
        second = queue_waiter(sc, url, lock, "B", 1, extra=["-T", 'say "hi" \\ ünï'])
        # -t 6s: it looks again (and notices the new holder) within 3 s, not 15 s.
        verbose = sc.start(["-r", url, "-v", "-t", "6s", lock, "--", "true"])
        wait_waiters(sc, url, lock, 2)
        host = socket.gethostname()

        def lines_about(pid, task):
            want = (f"rwith: waiting for '{lock}' held by {host}:{pid} (task '{task}') for ")
            return [line for line in verbose.stderr.splitlines()
                    if line.startswith(want) and re.fullmatch(r"\d+s", line[len(want):])]
        harness.wait_until(lambda: lines_about(first.pid, "make deploy"), 20,
                           "the -v waiter to name the first holder")
        first.release()
        second.started()
        harness.wait_until(lambda: lines_about(second.pid, 'say "hi" \\ ünï'), 20,
                           "the -v waiter to name the new holder")
        second.release()
        verbose.wait(timeout=30).expect(0)
        first.wait().expect(0)
        res = second.wait()
        res.expect(0)
        assert "waiting for" not in res.stderr, (
            f"a waiter without -v and without a terminal printed a progress message:\n"
            f"{res.describe()}")


def test_server_restart_while_waiters_wait():
    """The server restarts (empty) while three waiters wait: the holder's lock is gone (75),
    and every waiter reconnects, keeps waiting and gets the lock in the end, one at a time."""
    with Scope("fifo-restart") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("restart")
        log = sc.path("log")
        holder = hold(sc, url, lock, "H", extra=["-t", "3s"])
        waiters = queue_waiters(sc, url, lock, ["W0", "W1", "W2"], extra=["-t", "3s"], log=log)
        srv.restart()
        holder.wait(timeout=30).expect(EX_LOST, "the holder's lock vanished with the restart")
        # Every waiter keeps waiting and gets the lock in the end.
        finish(*waiters, timeout=60)
        lines = log_lines(sc)
        assert len(lines) == 6 and all(
            lines[i].split()[0] == lines[i + 1].split()[0] and lines[i].endswith("start")
            and lines[i + 1].endswith("end") for i in range(0, 6, 2)), (
            f"the waiters' commands overlapped after the restart: {lines}")


if __name__ == "__main__":
    harness.main(globals())
