"""--sync: the command starts, and the heartbeat counts, only once every online replica of
the master has acknowledged the lock (Redis WAIT); a grant that the replicas do not all
acknowledge in time is given back, exit 69 (CONTRACT.md, Options)."""

import os
import time

import harness

from harness import EX_LOST, EX_SERVER, Scope, leftover_keys, main, wait_until
from topology import _wait_synced

REPLICA_ARGS = ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]


def start_replica(sc, master):
    return sc.redis(extra_args=[*REPLICA_ARGS, "--replicaof", "127.0.0.1", str(master.port)])


def replicas_have(lock, replicas):
    """sh snippet that prints, for each replica, whether it has the lock's holders key."""
    return "; ".join(f"redis-cli -p {r.port} --raw exists 'rwith:{{{lock}}}:holders'"
                     for r in replicas)


def test_sync_with_zero_one_and_two_replicas():
    """With no replica --sync costs nothing and runs; with one and with two online replicas
    each of them has the lock before the command starts."""
    with Scope("sync-n") as sc:
        master = sc.redis(extra_args=REPLICA_ARGS)
        lock = sc.lock("n")
        sc.run(["-r", master.url(), "--sync", lock, "--", "true"]).expect(0, "no replica")
        replicas = [start_replica(sc, master)]
        _wait_synced([master, *replicas], 20, expect_replicas=1)
        res = sc.run(["-r", master.url(), "--sync", lock, "--", "sh", "-c",
                      replicas_have(lock, replicas)])
        res.expect(0, "one replica")
        assert res.out.split() == ["1"], res.describe()
        replicas.append(start_replica(sc, master))
        _wait_synced([master, *replicas], 20, expect_replicas=2)
        res = sc.run(["-r", master.url(), "--sync", "-t", "2s", "--heartbeat", "300ms", lock,
                      "--", "sh", "-c", "sleep 1; " + replicas_have(lock, replicas)])
        res.expect(0, "two replicas, with heartbeats")
        assert res.out.split() == ["1", "1"], res.describe()



def test_sync_with_the_documented_acl():
    """--sync with a user that has the documented rights plus the two the man page names for
    it (+info +wait), against a master with an online replica: it runs, denied nothing."""
    with Scope("sync-acl") as sc:
        master = sc.redis(extra_args=REPLICA_ARGS)
        replica = start_replica(sc, master)
        _wait_synced([master, replica], 20, expect_replicas=1)
        with master.client() as c:
            c.call("ACL", "SETUSER", "locker", *harness.documented_acl("sync-Pw-2"), "+info", "+wait")
        url = master.url(user="locker", password="sync-Pw-2")
        lock = sc.lock("acl")
        res = sc.run(["-r", url, "--sync", lock, "--", "sh", "-c", replicas_have(lock, [replica])])
        res.expect(0, "--sync with the documented ACL")
        assert res.out.split() == ["1"], res.describe()
        assert harness.acl_denials(master) == [], f"denied: {harness.acl_denials(master)}"

def test_sync_refused_when_a_replica_does_not_answer():
    """A replica stopped (SIGSTOP) still counts as online but never acknowledges: the
    acquisition is refused (69, saying how many acknowledged), the command does not run,
    and nothing is left held."""
    with Scope("sync-stop") as sc:
        master = sc.redis(extra_args=REPLICA_ARGS)
        replicas = [start_replica(sc, master), start_replica(sc, master)]
        _wait_synced([master, *replicas], 20, expect_replicas=2)
        replicas[1].pause()
        lock = sc.lock("stop")
        marker = sc.path("ran")
        t0 = time.monotonic()
        res = sc.run(["-r", master.url(), "--sync", lock, "--", "touch", marker])
        res.expect(EX_SERVER, "a replica does not acknowledge")
        res.expect_diagnostic("only 1 of 2 replicas", "given back", lock)
        assert time.monotonic() - t0 < 10
        assert not os.path.exists(marker), "the command ran"
        assert leftover_keys(master, lock) == []
        # Without --sync the same server is fine.
        sc.run(["-r", master.url(), "-n", lock, "--", "true"]).expect(0, "without --sync")
        replicas[1].resume()  # a master waits for a lagging replica when it shuts down


def test_sync_heartbeat_fails_when_a_replica_stops():
    """A replica that stops acknowledging while the command runs makes the heartbeat fail:
    the lock counts as lost (75) before its TTL could run out, as for any failed
    extension."""
    with Scope("sync-beat") as sc:
        master = sc.redis(extra_args=REPLICA_ARGS)
        replica = start_replica(sc, master)
        _wait_synced([master, replica], 20, expect_replicas=1)
        lock = sc.lock("beat")
        ready = sc.path("ready")
        proc = sc.start(["-r", master.url(), "--sync", "-t", "1500ms", lock, "--", "sh", "-c",
                         f"touch {ready}; exec sleep 60"])
        wait_until(lambda: os.path.exists(ready), 20, "the command to start")
        replica.pause()
        res = proc.wait(timeout=20)
        res.expect(EX_LOST, "the replica stopped acknowledging")
        res.expect_diagnostic("lost the lock", "of 1 replicas")
        assert res.elapsed < 15
        replica.resume()  # a master waits for a lagging replica when it shuts down


def test_sync_on_a_replica_and_without_info():
    """--sync against a read-only replica is refused like any acquisition there (69, the
    server's READONLY named); a user who may not run INFO cannot learn the replicas: the
    grant is given back (69), and nothing is left held."""
    with Scope("sync-odd") as sc:
        master = sc.redis(extra_args=REPLICA_ARGS)
        replica = start_replica(sc, master)
        _wait_synced([master, replica], 20, expect_replicas=1)
        lock = sc.lock("odd")
        res = sc.run(["-r", replica.url(), "--sync", lock, "--", "true"])
        res.expect(EX_SERVER, "a read-only replica").expect_diagnostic("READONLY")
        with master.client() as c:
            c.call("ACL", "SETUSER", "noinfo", "on", ">pw", "~*", "&*", "+@all", "-info")
        marker = sc.path("ran")
        res = sc.run(["-r", master.url(user="noinfo", password="pw"), "--sync", lock, "--",
                      "touch", marker])
        res.expect(EX_SERVER, "INFO refused").expect_diagnostic("given back", "INFO")
        assert not os.path.exists(marker), "the command ran"
        assert leftover_keys(master, lock) == []


if __name__ == "__main__":
    main(globals())
