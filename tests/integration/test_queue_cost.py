"""What a waiter costs the server does not grow with the queue (issue 10): N waiters queued
behind a holder, then each served once, in arrival order; the server's commands per waiter
(INFO commandstats, commands inside scripts included) are the same for a short and a long
queue, and stay within a fixed budget. Counts, not times: nothing here depends on the
machine's speed (bench/queue_cost.py measures the time)."""

import os

from harness import Holder, Resp, Scope, main, proc_stat, read_file, wait_until

BUDGET = 60  # commands per waiter served: enqueue, wake-up, acquire, release


def calls_by_command(server):
    """{command: calls} from INFO commandstats (the INFO itself not yet counted)."""
    with server.client() as c:
        text = c.call("INFO", "commandstats").decode()
    calls = {}
    for line in text.splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line[8:].partition(":")
            calls[name] = int(rest.split("calls=")[1].split(",")[0])
    return calls


def total_calls(server):
    return sum(calls_by_command(server).values())


def commands_per_waiter(sc, server, n):
    lock = sc.lock(f"cost{n}")
    ran = sc.path(f"ran-{n}")
    # A TTL far longer than the test: no waiter renews its place meanwhile.
    holder = Holder(sc, server.url(), lock, f"holder{n}", extra=["-t", "300s"])
    holder.started()
    before = total_calls(server)
    waiters = []
    with Resp(port=server.port) as r:
        for i in range(n):
            waiters.append(sc.start(["-r", server.url(), "-t", "300s", lock, "--", "sh", "-c",
                                     f"echo {i} >> {ran}"]))
            wait_until(lambda: r.call("ZCARD", f"rwith:{{{lock}}}:queue") == i + 1, 20,
                       f"waiter {i} to queue")
    holder.release()
    holder.wait().expect(0, "holder")
    for w in waiters:
        w.wait(timeout=60).expect(0, "waiter")
    calls = total_calls(server) - before - 1  # the second INFO
    served = [int(x) for x in read_file(ran).split()]
    assert served == list(range(n)), f"not served once each in arrival order: {served}"
    return calls / n


def test_commands_per_waiter_do_not_grow_with_the_queue():
    with Scope("q-cost") as sc:
        server = sc.redis(extra_args=["--maxclients", "1000"])
        short = commands_per_waiter(sc, server, 10)
        long = commands_per_waiter(sc, server, 200)
        print(f"commands per waiter: {short:.1f} with 10 queued, {long:.1f} with 200")
        assert long <= BUDGET, f"{long:.1f} commands per waiter with 200 queued (budget {BUDGET})"
        assert long <= short * 1.1, (f"{long:.1f} commands per waiter with 200 queued, "
                                     f"{short:.1f} with 10: the cost grows with the queue")


def test_a_free_lock_costs_few_commands():
    """Taking a free lock nobody waits for, and giving it back, take the scripts' short ways
    (issue 10): 16 commands in all, counting the two EVALSHA, the commands inside them and
    the pipelined CLUSTER SLOTS (23 before). Counted on a second run, the scripts cached."""
    with Scope("q-free") as sc:
        server = sc.redis()
        lock = sc.lock("free")
        sc.run(["-r", server.url(), lock, "--", "true"]).expect(0, "first run")
        before = total_calls(server)
        sc.run(["-r", server.url(), lock, "--", "true"]).expect(0, "second run")
        calls = total_calls(server) - before - 1  # the second INFO
        assert calls <= 16, f"a run on a free lock cost the server {calls} commands"


def test_a_waiter_behind_another_renews_its_place_cheaply():
    """A waiter's most frequent call is its periodic look (every half TTL, to renew its place).
    Behind a live waiter, under --limit 1, it cannot be at the head, so the acquire script
    takes a short way: at most 16 commands per look, counting its BLPOP and EVALSHA (20 on
    the general way). Its place is renewed, not lost and taken again: its arrival number is
    the same after several TTLs; then both are served, in order."""
    with Scope("q-look") as sc:
        server = sc.redis()
        lock = sc.lock("look")
        queue = f"rwith:{{{lock}}}:queue"
        ran = sc.path("ran")
        holder = Holder(sc, server.url(), lock, "holder", extra=["-t", "300s"])
        holder.started()
        waiters = []
        with Resp(port=server.port) as r:
            for i, ttl in enumerate(["300s", "2s"]):  # the second looks every second
                waiters.append(sc.start(["-r", server.url(), "-t", ttl, lock, "--", "sh", "-c",
                                         f"echo {i} >> {ran}"]))
                wait_until(lambda: r.call("ZCARD", queue) == i + 1, 20, f"waiter {i} to queue")
            places = r.call("ZRANGE", queue, 0, -1, "WITHSCORES")
            before = calls_by_command(server)
            wait_until(lambda: calls_by_command(server).get("evalsha", 0)
                       >= before.get("evalsha", 0) + 4, 30, "four looks of the second waiter")
            after = calls_by_command(server)
            # A look is a BLPOP and the EVALSHA pipelined behind it. A snapshot may fall
            # between the two, but never inside a script: count the scripts' commands per
            # EVALSHA, plus one for the BLPOP.
            looks = after["evalsha"] - before.get("evalsha", 0)
            blpops = after["blpop"] - before.get("blpop", 0)
            infos = after["info"] - before.get("info", 0)  # the polls above, and this test's last
            calls = sum(after.values()) - sum(before.values()) - infos - blpops + looks
            per_look = calls / looks
            assert per_look <= 16, f"{per_look:.1f} commands per look ({calls} for {looks})"
            assert r.call("ZRANGE", queue, 0, -1, "WITHSCORES") == places, (
                "the second waiter's place changed while it renewed it")
        holder.release()
        holder.wait().expect(0, "holder")
        for w in waiters:
            w.wait(timeout=60).expect(0, "waiter")
        served = [int(x) for x in read_file(ran).split()]
        assert served == [0, 1], f"not served once each in arrival order: {served}"


def live_children(pid):
    """The live processes whose parent is pid (from /proc: no /proc/PID/task/*/children)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None and st[1] == pid and st[0] not in ("Z", "X", "x"):
                found.append(int(name))
    return found


def test_only_waiters_near_the_head_keep_a_guard_process():
    """rwith starts its guard at start-up (issue 10: it costs less then). A waiter far back in
    a long queue ends it and keeps no process while it waits; the head keeps its guard ready.
    With 20 queued (more than the 16 that all keep one), the first has one child and the
    last none; then all are served once each, in order."""
    with Scope("q-guards") as sc:
        server = sc.redis()
        lock = sc.lock("guards")
        ran = sc.path("ran")
        holder = Holder(sc, server.url(), lock, "holder", extra=["-t", "300s"])
        holder.started()
        waiters = []
        with Resp(port=server.port) as r:
            for i in range(20):
                waiters.append(sc.start(["-r", server.url(), "-t", "300s", lock, "--", "sh",
                                         "-c", f"echo {i} >> {ran}"]))
                wait_until(lambda: r.call("ZCARD", f"rwith:{{{lock}}}:queue") == i + 1, 20,
                           f"waiter {i} to queue")
        first, last = waiters[0].pid, waiters[-1].pid
        wait_until(lambda: live_children(last) == [], 20,
                   "the last waiter to end its guard process")
        assert len(live_children(first)) == 1, (
            f"the head waiter keeps its guard ready: children {live_children(first)}")
        holder.release()
        holder.wait().expect(0, "holder")
        for w in waiters:
            w.wait(timeout=60).expect(0, "waiter")
        served = [int(x) for x in read_file(ran).split()]
        assert served == list(range(20)), f"not served once each in arrival order: {served}"


if __name__ == "__main__":
    main(globals())
