"""Redis Cluster: any node's URL is enough; rwith follows MOVED and ASK to the master of the
lock's slot, and follows a failover under a holder and a waiter (CONTRACT.md, URLs).

Each case starts a real cluster of three masters with a replica each (topology.Cluster).
"""

import time

import harness
from harness import (EX_CONFLICT, EX_LOST, Holder, Scope, hand_over, lock_status, main,
                     read_file, wait_until, wait_waiters)
from topology import Cluster, crc16_slot


def lock_keys_on(cluster, server, lock):
    with cluster.client(server) as c:
        return c.keys(f"rwith:{{{lock}}}:*")


def test_locks_on_every_master():
    """Given one node's URL, a lock on each master's slots runs its command there, and the
    lock's keys are on that master (the entry node redirected rwith with MOVED). rwith uses
    a user with exactly the man page's ACL (and +info +wait for --sync), and no node denies it
    anything."""
    with Scope("cl-every") as sc:
        cluster = Cluster(sc)
        for node in cluster.nodes:
            with cluster.client(node) as c:
                c.call("ACL", "SETUSER", "locker", *harness.documented_acl("cl-pw-7"),
                       "+info", "+wait")  # the man page's two for --sync, used below
        entry = cluster.nodes[0].url(user="locker", password="cl-pw-7")
        for i, master in enumerate(cluster.masters()):
            lock = cluster.lock_on(master, stem=f"every{i}-")
            res = sc.run(["-r", entry, "-v", lock, "--", "sh", "-c",
                          'echo "fence=$RWITH_FENCE"; redis-cli -p ' + str(master.port) +
                          " --raw exists 'rwith:{" + lock + "}:holders'"])
            res.expect(0, f"lock {lock} on master :{master.port}")
            out = res.out
            assert "fence=1" in out, out
            # The command saw the lock's holders key on the master of its slot.
            assert out.strip().endswith("1"), f"holders key not on :{master.port}: {out}"
            # Released: only the fence counter is left, on that master and no other.
            assert lock_keys_on(cluster, master, lock) == [f"rwith:{{{lock}}}:fence"]
            for other in cluster.masters():
                if other is not master:
                    assert lock_keys_on(cluster, other, lock) == []
        # --sync with one online replica per master works there too, and so do the modes.
        master = [m for m in cluster.masters() if m.port != cluster.nodes[0].port][0]
        lock = cluster.lock_on(master, stem="sync-")
        sc.run(["-r", entry, "--sync", lock, "--", "true"]).expect(0, "--sync in a cluster")
        lock = cluster.lock_on(master, stem="modes-")
        sc.run(["-r", entry, "-s", lock, "--", harness.RWITH, "-r", entry, "-s", "-n", lock,
                "--", "true"]).expect(0, "two readers at once")
        sc.run(["-r", entry, "-l", "2", lock + "-sem", "--", harness.RWITH, "-r", entry, "-l",
                "2", "-n", lock + "-sem", "--", "true"]).expect(0, "two of a semaphore of 2")
        sc.run(["-r", entry, "--min-hold", "2s", lock, "--", "true"]).expect(0, "--min-hold")
        sc.run(["-r", cluster.url(2), "-n", lock, "--", "true"]).expect(
            EX_CONFLICT, "held by --min-hold, seen through another node")
        for node in cluster.nodes:
            assert harness.acl_denials(node) == [], (
                f"denied on :{node.port}: {harness.acl_denials(node)}")


def test_waiting_status_and_break_on_another_node():
    """Exclusion, FIFO hand-off, --status and --break for a lock whose slot is not on the
    entry node, each rwith entering through a different node."""
    with Scope("cl-wait") as sc:
        cluster = Cluster(sc)
        entry0, entry1, entry2 = cluster.url(0), cluster.url(1), cluster.url(2)
        others = [m for m in cluster.masters() if m.port != cluster.nodes[0].port]
        lock = cluster.lock_on(others[0], stem="wait-")
        log = sc.path("order.log")
        first = Holder(sc, entry0, lock, "first", extra=["-t", "3s"], log=log)
        first.started()
        sc.run(["-r", entry1, "-n", lock, "--", "true"]).expect(EX_CONFLICT, "busy lock")
        second = Holder(sc, entry1, lock, "second", extra=["-t", "3s"], log=log)
        status = wait_waiters(sc, entry2, lock, 1)
        assert status["held"] and status["holders"][0]["pid"] == first.pid, status
        assert not second.has_run()
        first.release()
        first.wait().expect(0, "first holder")
        second.started()
        assert second.start_time >= first.done_time()
        assert read_file(log).split("\n")[:3] == ["first start", "first end", "second start"]
        # --break through a third node evicts the holder: it loses the lock (75).
        res = sc.run(["-r", entry2, "--break", lock])
        res.expect(0, "--break")
        second.wait(timeout=30).expect(EX_LOST, "broken holder")
        assert lock_status(sc, entry0, lock)["held"] is False


def test_ask_during_slot_migration():
    """While the lock's slot migrates (MIGRATING/IMPORTING set by hand, the lock's keys
    moved), rwith follows ASK to the importing node, and waits out the TRYAGAIN with which
    Redis refuses a script whose keys are not all on one node; once the slot is settled the
    holder goes on with its lock, and a waiter that came meanwhile is served after it."""
    with Scope("cl-ask") as sc:
        cluster = Cluster(sc)
        masters = cluster.masters()
        src, dst = masters[0], masters[1]
        lock = cluster.lock_on(src, stem="ask-")
        slot = crc16_slot(lock)
        log = sc.path("order.log")
        holder = Holder(sc, cluster.url(2), lock, "holder",
                        extra=["-t", "4s", "--heartbeat", "400ms", "-vv"], log=log)
        holder.started()
        cluster.start_migration(slot, src, dst)
        moved = cluster.migrate_keys(slot, src, dst)
        assert moved >= 2, f"only {moved} keys of the lock moved"
        assert lock_keys_on(cluster, src, lock) == []
        # The holder's heartbeat is sent on to the importing node with ASKING.
        wait_until(lambda: f"ASK {slot} 127.0.0.1:{dst.port}" in holder.proc.stderr, 10,
                   "the holder to follow ASK to the importing node")
        waiter = Holder(sc, cluster.url(0), lock, "waiter", extra=["-t", "4s"], log=log)
        wait_until(lambda: "TRYAGAIN" in holder.proc.stderr, 10, "TRYAGAIN to be waited out")
        cluster.finish_migration(slot, dst)
        assert holder.proc.running(), holder.proc.wait().describe()
        before = holder.proc.stderr.count("extending")
        wait_until(lambda: holder.proc.stderr.count("extending") >= before + 3, 10,
                   "heartbeats after the migration")
        status = lock_status(sc, cluster.url(1), lock)
        assert status["held"] and status["holders"][0]["pid"] == holder.pid, status
        assert status["waiters"] == 1, status
        holder.release()
        holder.wait().expect(0, "holder through the migration")
        waiter.started()
        assert waiter.start_time >= holder.done_time()
        waiter.release()
        waiter.wait().expect(0, "waiter")
        assert lock_keys_on(cluster, dst, lock) == [f"rwith:{{{lock}}}:fence"]


def test_manual_failover_under_holder_and_waiter():
    """CLUSTER FAILOVER of the lock's master while a holder runs and a waiter waits: the
    holder's next extension follows the redirect and succeeds, its command finishes (0),
    and the waiter runs after it, never during it."""
    with Scope("cl-manual") as sc:
        cluster = Cluster(sc)
        master = cluster.masters()[1]
        replica = cluster.replicas_of(master)[0]
        lock = cluster.lock_on(master, stem="man-")
        log = sc.path("order.log")
        # Enter through the very master that is demoted.
        entry = f"redis://127.0.0.1:{master.port}"
        holder = Holder(sc, entry, lock, "holder", extra=["-t", "2s", "-v"], log=log)
        holder.started()
        waiter = Holder(sc, entry, lock, "waiter", extra=["-t", "2s"], log=log)
        wait_waiters(sc, entry, lock, 1)
        cluster.wait_synced()
        cluster.manual_failover(replica)
        # Longer than the TTL: only extensions on the new master keep the holder alive.
        time.sleep(3.5)
        assert holder.proc.running(), holder.proc.wait().describe()
        assert not waiter.has_run(), "the waiter ran while the holder held the lock"
        status = lock_status(sc, cluster.url(2), lock)
        assert status["held"] and status["holders"][0]["pid"] == holder.pid, status
        hand_over(holder, waiter, log, "across the failover")
        # The lock's keys are on the new master.
        assert lock_keys_on(cluster, replica, lock) == [f"rwith:{{{lock}}}:fence"]


def test_killed_master_under_holder_and_waiter():
    """The lock's master is killed (SIGKILL) while a holder runs and a waiter waits, both
    entered through that very master: rwith finds the promoted replica through the nodes
    it learned, the holder keeps its replicated lock and finishes (0), nobody else gets the
    lock meanwhile, and the waiter keeps its place and runs after the holder."""
    with Scope("cl-kill") as sc:
        cluster = Cluster(sc)
        master = cluster.masters()[2]
        lock = cluster.lock_on(master, stem="kill-")
        entry = f"redis://127.0.0.1:{master.port}"
        log = sc.path("order.log")
        # The automatic failover takes 2-3 s; the TTL leaves the heartbeat room to retry.
        holder = Holder(sc, entry, lock, "holder", extra=["-t", "8s", "-v"], log=log)
        holder.started()
        waiter = Holder(sc, entry, lock, "waiter", extra=["-t", "8s", "-v"], log=log)
        wait_waiters(sc, entry, lock, 1)
        cluster.wait_synced()
        new_master = cluster.kill_master(master)
        others = [cluster.url(i) for i, n in enumerate(cluster.nodes) if n.running()]
        # Until the holder is done, nobody else gets the lock, whichever node they ask.
        deadline = time.monotonic() + 9
        while time.monotonic() < deadline:
            res = sc.run(["-r", others[0], "-n", lock, "--", "true"])
            assert res.status == EX_CONFLICT, res.describe()
            assert holder.proc.running(), holder.proc.wait().describe()
            assert not waiter.has_run(), "the waiter ran while the holder held the lock"
            time.sleep(0.5)
        status = lock_status(sc, others[1], lock)
        assert status["holders"][0]["pid"] == holder.pid and status["waiters"] == 1, status
        hand_over(holder, waiter, log, "across the automatic failover")
        assert lock_status(sc, others[1], lock)["held"] is False
        assert lock_keys_on(cluster, new_master, lock) == [f"rwith:{{{lock}}}:fence"]


if __name__ == "__main__":
    main(globals())
