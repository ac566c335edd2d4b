"""Quorum mode: several -r servers (or a comma-separated $RWITH_REDIS_URL), the lock held
while a majority holds it. Exclusion, waiting, a minority down (works) and a majority down
(69), losing the majority while the command runs (75), the fence still growing when the
majorities differ, and --status/--break over all servers."""

import os
import shlex
import time

import harness
from harness import EX_LOST, EX_SERVER, Holder, Scope


def servers(sc, count=3):
    return [sc.redis(name=f"redis{i}") for i in range(count)]


def args_for(srvs):
    out = []
    for s in srvs:
        out += ["-r", s.url()]
    return out


def holders_on(srv, lock):
    """Tokens holding `lock` on one server."""
    with srv.client() as c:
        return c.call("ZRANGE", f"rwith:{{{lock}}}:holders", 0, -1)


def fence_of(srv, lock):
    with srv.client() as c:
        value = c.call("GET", f"rwith:{{{lock}}}:fence")
    return int(value) if value is not None else 0


def test_runs_and_holds_on_every_server():
    with Scope("q-run") as sc:
        srvs = servers(sc)
        lock = sc.lock("run")
        ready = sc.path("ready")
        p = sc.start([*args_for(srvs), lock, "--", "sh", "-c",
                      f"echo $RWITH_FENCE > {shlex.quote(ready)}.tmp; "
                      f"mv {shlex.quote(ready)}.tmp {shlex.quote(ready)}; sleep 1; exit 6"])
        harness.wait_for_file(ready)
        for s in srvs:
            assert len(holders_on(s, lock)) == 1, f"server {s.port} does not hold the lock"
        p.wait().expect(6, "the command's own status")
        # rwith exits once a majority confirmed the release; the last server may apply it
        # a moment later.
        for s in srvs:
            harness.wait_until(lambda: harness.leftover_keys(s, lock) == [], 5,
                               f"server {s.port} to drop the lock")


def test_environment_list():
    with Scope("q-env") as sc:
        srvs = servers(sc)
        url_list = ",".join(s.url() for s in srvs)
        lock = sc.lock("env")
        holder = Holder(sc, srvs[0].url(), lock, "h", extra=[
            "-r", srvs[1].url(), "-r", srvs[2].url()])
        holder.started()
        res = sc.run(["-n", lock, "--", "true"], env={"RWITH_REDIS_URL": url_list})
        res.expect(1, "the same three servers from $RWITH_REDIS_URL see the lock held")
        holder.release()
        holder.wait().expect(0)
        sc.run(["-n", lock, "--", "true"], env={"RWITH_REDIS_URL": url_list}).expect(0)


def test_exclusion_and_waiting():
    with Scope("q-excl") as sc:
        srvs = servers(sc)
        lock = sc.lock("excl")
        log = sc.path("log")
        q = shlex.quote(log)
        # Five holders at once, each adding to the log around a pause: never two inside.
        procs = [sc.start([*args_for(srvs), lock, "--", "sh", "-c",
                           f"echo in >> {q}; sleep 0.3; echo out >> {q}"]) for _ in range(5)]
        for p in procs:
            p.wait(timeout=60).expect(0, "every waiter gets the lock in the end")
        lines = harness.read_file(log).split()
        assert lines == ["in", "out"] * 5, f"two holders overlapped: {lines}"


def test_wait_runs_out_and_signals_while_waiting():
    with Scope("q-wait") as sc:
        srvs = servers(sc)
        lock = sc.lock("wait")
        holder = Holder(sc, srvs[0].url(), lock, "h", extra=args_for(srvs[1:]))
        holder.started()
        ran = sc.path("ran")
        res = sc.run([*args_for(srvs), "-w", "1s", lock, "--", "touch", ran])
        res.expect(1, "-w 1s on a lock held by a majority").expect_diagnostic(lock)
        assert 0.95 <= res.elapsed < 8, f"-w 1s gave up after {res.elapsed:.2f} s"
        waiter = sc.start([*args_for(srvs), lock, "--", "touch", ran])
        time.sleep(0.5)
        waiter.signal(15)
        waiter.wait().expect(143, "SIGTERM while waiting")
        assert not os.path.exists(ran), "a waiter ran its command while the lock was held"
        for s in srvs:
            assert len(holders_on(s, lock)) == 1, "a waiter that gave up left a hold behind"
        holder.release()
        holder.wait().expect(0)


def blocked_clients(srv):
    with srv.client() as c:
        text = c.call("CLIENT", "LIST")
    text = text.decode() if isinstance(text, bytes) else text
    return sum(1 for line in text.splitlines() if "cmd=blpop" in line)


def test_waiters_are_counted_and_woken():
    """A quorum waiter is a waiter: --status counts it, and it waits blocked on a server
    (BLPOP), woken by the release rather than polling."""
    with Scope("q-woken") as sc:
        srvs = servers(sc)
        lock = sc.lock("woken")
        log = sc.path("log")
        holder = Holder(sc, srvs[0].url(), lock, "h", extra=args_for(srvs[1:]), log=log)
        holder.started()
        waiters = [Holder(sc, srvs[0].url(), lock, f"w{i}", extra=args_for(srvs[1:]), log=log)
                   for i in range(2)]
        harness.wait_until(lambda: sum(blocked_clients(s) for s in srvs) == 2, 20,
                           "both waiters to block on a server")
        st = harness.lock_status(sc, srvs[0].url(), lock, extra=args_for(srvs[1:]))
        assert st["waiters"] == 2, f"--status counts {st['waiters']} waiters, not 2"
        holder.release()
        holder.wait().expect(0)
        first = harness.wait_until(lambda: next((w for w in waiters if w.has_run()), None), 20,
                                   "a waiter to get the lock after the release")
        first.release()
        other = [w for w in waiters if w is not first][0]
        other.started()
        other.release()
        for w in waiters:
            w.wait().expect(0)
        lines = harness.read_file(log).split("\n")
        assert lines[:2] == ["h start", "h end"], f"a waiter ran before the holder ended: {lines}"
        # Nobody polled meanwhile: each waiter was woken, not timed out (its BLPOP lasts
        # up to half the 30 s TTL, and the whole test took a few seconds).


def test_minority_down_still_works():
    with Scope("q-minority") as sc:
        srvs = servers(sc)
        lock = sc.lock("min")
        srvs[2].stop()
        res = sc.run([*args_for(srvs), lock, "--", "sh", "-c", "echo ran"])
        res.expect(0, "two of three servers are a majority")
        assert res.out.strip() == "ran"
        # A second rwith still sees the lock held while the first holds it.
        holder = Holder(sc, srvs[0].url(), lock, "h", extra=args_for(srvs[1:]))
        holder.started()
        sc.run([*args_for(srvs), "-n", lock, "--", "true"]).expect(1, "held by a majority")
        holder.release()
        holder.wait().expect(0)


def test_a_paused_server_is_not_waited_for():
    """A server that accepts connections and never answers (SIGSTOP) is a minority: each
    step goes on with the majority's answers instead of waiting for its deadline."""
    with Scope("q-paused") as sc:
        srvs = servers(sc)
        lock = sc.lock("paused")
        ready = sc.path("ready")
        srvs[1].pause()
        try:
            t0 = time.monotonic()
            p = sc.start([*args_for(srvs), "-t", "3s", lock, "--", "sh", "-c",
                          f"touch {shlex.quote(ready)}; sleep 2.5"])
            harness.wait_until(
                lambda: os.path.exists(ready) or not p.running(), 20, "the command to start")
            started = time.monotonic() - t0
            # The acquire did not wait for the paused server's 2 s deadline; with a 3 s TTL
            # the heartbeats (every second) did not either, or the lock would have been lost.
            assert started < 1.5, f"the command started {started:.2f} s after rwith"
            res = p.wait(timeout=30)
            res.expect(0, "two of three servers answer throughout")
            # Nor did the release: rwith gives the paused server a moment, not its deadline.
            assert res.elapsed < 2.5 + 1.5, f"rwith took {res.elapsed:.2f} s for a 2.5 s command"
        finally:
            srvs[1].resume()


def test_a_server_back_joins_so_another_may_go():
    """One server down at the start, back later: it joins at the next heartbeat, so when
    another goes down afterwards a majority still holds the lock (only a minority was ever
    down at one time)."""
    with Scope("q-join") as sc:
        srvs = servers(sc)
        lock = sc.lock("join")
        ready, go = sc.path("ready"), sc.path("go")
        srvs[2].stop()
        p = sc.start([*args_for(srvs), "-t", "3s", lock, "--", "sh", "-c",
                      f"touch {shlex.quote(ready)}; "
                      f"while [ ! -e {shlex.quote(go)} ]; do sleep 0.05; done"])
        harness.wait_until(lambda: os.path.exists(ready) or not p.running(), 20,
                           "the command to start")
        srvs[2].start(port=srvs[2].port)
        harness.wait_until(lambda: len(holders_on(srvs[2], lock)) == 1, 10,
                           "the server that came back to hold the lock too")
        srvs[0].kill()
        time.sleep(3.5)  # longer than the TTL: only a majority's extensions keep it
        assert p.running(), f"the lock was lost:\n{p.wait().describe()}"
        open(go, "w").close()
        p.wait(timeout=30).expect(0, "servers 1 and 2 held it to the end")


def test_a_grant_gone_before_it_counted():
    """The majority completes only after the first grant has expired (a 200 ms TTL, one
    server answering late, one down): the raise finds it gone; rwith tries again instead
    of running on a lock a majority does not hold (or crashing)."""
    with Scope("q-raise-no") as sc:
        a, b = sc.redis(name="a"), sc.redis(name="b")
        with b.client() as c:
            c.call("CLIENT", "PAUSE", "400", "ALL")
        args = ["-r", a.url(), "-r", b.url(), "-r", f"redis://127.0.0.1:{harness.closed_port()}"]
        res = sc.run([*args, "-t", "200ms", sc.lock("raise"), "--", "echo", "ran"])
        res.expect(0, "acquired on a later try")
        assert res.out.strip() == "ran"


def test_majority_down_is_69():
    with Scope("q-majority-down") as sc:
        srv = sc.redis()
        urls = [srv.url(), f"redis://127.0.0.1:{harness.closed_port()}",
                f"redis://127.0.0.1:{harness.closed_port()}"]
        ran = sc.path("ran")
        args = []
        for u in urls:
            args += ["-r", u]
        res = sc.run([*args, sc.lock("down"), "--", "touch", ran])
        res.expect(EX_SERVER, "one of three servers is no majority").expect_diagnostic("2 of 3")
        assert not os.path.exists(ran), "the command ran without a majority"
        assert res.elapsed < 10, f"rwith took {res.elapsed:.1f} s to give up"
        assert harness.leftover_keys(srv, sc.lock("down")) == [], \
            "the server that granted kept the lock"


def test_losing_the_majority_while_running_is_75():
    with Scope("q-lost") as sc:
        srvs = servers(sc)
        lock = sc.lock("lost")
        pidfile = sc.path("pids")
        p = sc.start([*args_for(srvs), "-t", "5s", "--heartbeat", "300ms", lock, "--", "sh",
                      "-c", harness.sh_pids_command(pidfile)])
        pids = harness.read_pids(pidfile)
        # One server restarted (its data gone) leaves a majority: the command goes on.
        srvs[0].restart()
        time.sleep(1.0)
        assert p.running() and all(harness.pid_alive(x) for x in pids), \
            "a minority restart must not end the command"
        # Two at once: no majority holds it any more (the first has joined again meanwhile,
        # so it loses the lock a second time). It is not taken back, though nobody else
        # took it: the command may no longer assume it was alone.
        srvs[0].kill()
        srvs[1].kill()
        srvs[0].start(port=srvs[0].port)
        srvs[1].start(port=srvs[1].port)
        harness.wait_dead(pids, 5, "the command to be terminated after the majority was lost")
        res = p.wait(timeout=30)
        res.expect(EX_LOST, "the majority of servers no longer hold the lock")
        assert any(lock in line for line in res.err_lines if line.startswith("rwith: "))


def test_fence_grows_when_majorities_differ():
    with Scope("q-fence") as sc:
        srvs = servers(sc)
        lock = sc.lock("fence")
        # Server 2 has handed out many fences (say, to an earlier run of its own).
        with srvs[2].client() as c:
            c.call("SET", f"rwith:{{{lock}}}:fence", "100")
        srvs[0].stop()  # the first acquisition gets servers 1 and 2
        first = sc.run([*args_for(srvs), lock, "--", "sh", "-c", "echo $RWITH_FENCE"])
        first.expect(0)
        assert int(first.out) == 101, f"the largest fence of the majority: {first.out!r}"
        srvs[0].start(port=srvs[0].port)
        srvs[2].stop()  # the second gets servers 0 and 1: 0 is new, 1 had 1
        second = sc.run([*args_for(srvs), lock, "--", "sh", "-c", "echo $RWITH_FENCE"])
        second.expect(0)
        assert int(second.out) > int(first.out), (
            f"the fence went from {first.out.strip()} to {second.out.strip()}")
        assert fence_of(srvs[1], lock) >= int(second.out)


def test_status_and_break():
    with Scope("q-admin") as sc:
        srvs = servers(sc)
        lock = sc.lock("admin")
        holder = Holder(sc, srvs[0].url(), lock, "h", extra=["-T", "quorum-task", "-t", "3s",
                                                              *args_for(srvs[1:])])
        holder.started()
        st = harness.lock_status(sc, srvs[0].url(), lock, extra=args_for(srvs[1:]))
        assert st["holders"] and st["holders"][0]["task"] == "quorum-task", st
        sc.run([*args_for(srvs), "--break", lock]).expect(0)
        holder.wait(timeout=30).expect(EX_LOST, "its lock was broken on every server")
        for s in srvs:
            assert holders_on(s, lock) == [], f"server {s.port} still has a holder"


def test_status_follows_the_majority():
    """The first server lost its data (restarted): --status still shows the holder that a
    majority knows, with the fence its command got."""
    with Scope("q-status-majority") as sc:
        srvs = servers(sc)
        lock = sc.lock("smaj")
        with srvs[2].client() as c:
            c.call("SET", f"rwith:{{{lock}}}:fence", "100")
        srvs[0].stop()  # servers 1 and 2 grant it: the fence is 101, raised on server 1
        holder = Holder(sc, srvs[0].url(), lock, "h", extra=["-T", "majority-task",
                                                              *args_for(srvs[1:])])
        fence = holder.started()
        assert fence == 101, f"RWITH_FENCE {fence}"
        srvs[0].start(port=srvs[0].port)  # back, empty
        st = harness.lock_status(sc, srvs[0].url(), lock, extra=args_for(srvs[1:]))
        assert st["held"] and st["holders"][0]["task"] == "majority-task", st
        assert st["holders"][0]["fence"] == fence, f"--status shows fence {st['holders']}"
        holder.release()
        holder.wait().expect(0)


def test_status_with_a_majority_down_is_69():
    with Scope("q-admin-down") as sc:
        srv = sc.redis()
        args = ["-r", srv.url(), "-r", f"redis://127.0.0.1:{harness.closed_port()}",
                "-r", f"redis://127.0.0.1:{harness.closed_port()}"]
        sc.run([*args, "--status", sc.lock("s")]).expect(EX_SERVER).expect_diagnostic()
        sc.run([*args, "--break", sc.lock("s")]).expect(EX_SERVER).expect_diagnostic()


if __name__ == "__main__":
    harness.main(globals())
