"""Redis Sentinel: redis+sentinel:// URLs name sentinels and a master; rwith asks them for
the master, and follows a failover as soon as they announce it (CONTRACT.md, URLs).

Each case starts a master with two replicas watched by three sentinels
(topology.SentinelSet).
"""

import threading
import time
import urllib.parse

import harness

from harness import (EX_CONFLICT, EX_SERVER, Holder, Scope, closed_port, hand_over,
                     lock_status, main, wait_waiters)
from topology import SentinelSet


def holders_key(server, lock):
    with server.client() as c:
        return c.call("EXISTS", f"rwith:{{{lock}}}:holders")


def test_url_forms_and_unknown_master():
    """-r, $RWITH_REDIS_URL (the hosts' commas do not split it) and $REDIS_URL; a first
    sentinel that is down is skipped; an unknown master and sentinels that are all down
    are 69 with a line naming the master and the sentinels asked."""
    with Scope("sen-url") as sc:
        sentinels = SentinelSet(sc)
        url = sentinels.url()
        master = sentinels.master_server
        lock = sc.lock("url")
        probe = f"redis-cli -p {master.port} --raw exists 'rwith:{{{lock}}}:holders'"
        res = sc.run(["-r", url, lock, "--", "sh", "-c", probe])
        res.expect(0, "-r redis+sentinel://")
        assert res.out.strip() == "1", res.describe()
        sc.run([lock, "--", "true"], env={"RWITH_REDIS_URL": url}).expect(0, "RWITH_REDIS_URL")
        # --sync: both replicas have the lock before the command starts.
        probe_replicas = "; ".join(
            f"redis-cli -p {r.port} --raw exists 'rwith:{{{lock}}}:holders'"
            for r in sentinels.replica_servers)
        res = sc.run(["-r", url, "--sync", lock, "--", "sh", "-c", probe_replicas])
        res.expect(0, "--sync under Sentinel")
        assert res.out.split() == ["1", "1"], res.describe()
        sc.run([lock, "--", "true"], env={"REDIS_URL": url, "RWITH_REDIS_URL": ""}).expect(
            0, "REDIS_URL")
        down = f"127.0.0.1:{closed_port()}"
        with_down = url.replace("redis+sentinel://", f"redis+sentinel://{down},")
        sc.run(["-r", with_down, "--status", lock]).expect(0, "first sentinel down")
        res = sc.run(["-r", sentinels.url(name="nosuchmaster"), lock, "--", "true"])
        res.expect(EX_SERVER, "unknown master")
        res.expect_diagnostic("nosuchmaster", "no sentinel knows",
                              f"127.0.0.1:{sentinels.sentinel_servers[2].port}")
        t0 = time.monotonic()
        res = sc.run(["-r", f"redis+sentinel://{down},127.0.0.1:{closed_port()}/mymaster",
                      lock, "--", "true"])
        res.expect(EX_SERVER, "no sentinel answers")
        res.expect_diagnostic("mymaster", down)
        assert time.monotonic() - t0 < 10


def test_failover_under_holder_and_waiter():
    """SENTINEL FAILOVER while a holder runs (for longer than the old master takes to be
    demoted) and a waiter waits: --status through the sentinels shows the lock held by the
    holder the whole time, nobody else gets it meanwhile, the holder finishes (0), the
    waiter runs after it, and new acquisitions go to the new master."""
    with Scope("sen-fail") as sc:
        sentinels = SentinelSet(sc)
        url = sentinels.url()
        old = sentinels.master_server
        lock = sc.lock("fail")
        log = sc.path("order.log")
        holder = Holder(sc, url, lock, "holder", extra=["-t", "3s", "-v"], log=log)
        holder.started()
        waiter = Holder(sc, url, lock, "waiter", extra=["-t", "3s"], log=log)
        wait_waiters(sc, url, lock, 1)
        sentinels.wait_synced()
        seen, stop = [], threading.Event()

        def watch():
            while not stop.is_set():
                status = lock_status(sc, url, lock)
                holders = [h["pid"] for h in status["holders"]]
                seen.append((time.monotonic(), holders))
                time.sleep(0.25)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            new = sentinels.failover()
            assert new is not old
            # The old master stays writable for seconds; the holder must move at once.
            sentinels.wait_demoted(old)
            time.sleep(3.5)  # longer than the TTL, on the new master only
            assert holder.proc.running(), holder.proc.wait().describe()
            assert not waiter.has_run(), "the waiter ran while the holder held the lock"
            sc.run(["-r", url, "-n", lock, "--", "true"]).expect(EX_CONFLICT, "still held")
            assert holders_key(new, lock) == 1
        finally:
            stop.set()
            watcher.join(timeout=30)
        assert len(seen) >= 10, seen
        wrong = [s for s in seen if s[1] != [holder.pid]]
        assert not wrong, f"--status did not show the holder alone: {wrong[:5]}"
        hand_over(holder, waiter, log, "across the failover")
        # A new acquisition goes to the new master.
        other = sc.lock("after")
        probe = f"redis-cli -p {new.port} --raw exists 'rwith:{{{other}}}:holders'"
        res = sc.run(["-r", url, other, "--", "sh", "-c", probe])
        res.expect(0, "after the failover")
        assert res.out.strip() == "1", res.describe()


def test_passwords_of_data_nodes_and_sentinels():
    """The URL's password is the data nodes'; the sentinels' own comes from
    ?sentinel_password= (percent-escaped). Without it the sentinels refuse: 69, and no
    message shows a password."""
    with Scope("sen-auth") as sc:
        data_pw, sentinel_pw = "data@pw/1", "sen&pw%2"
        sentinels = SentinelSet(sc, replicas=1, master_password=data_pw,
                                sentinel_password=sentinel_pw)
        lock = sc.lock("auth")
        escaped = urllib.parse.quote(sentinel_pw, safe="")
        url = sentinels.url(params=f"sentinel_password={escaped}")
        res = sc.run(["-r", url, "-v", lock, "--", "true"])
        res.expect(0, "both passwords")
        res = sc.run(["-r", sentinels.url(), lock, "--", "true"])
        res.expect(EX_SERVER, "no sentinel password")
        res.expect_diagnostic("mymaster", "requires a password")
        res = sc.run(["-r", sentinels.url(password="wrong", params=f"sentinel_password={escaped}"),
                      lock, "--", "true"])
        res.expect(EX_SERVER, "a wrong data password")
        for text in (res.stderr, ):
            for secret in (data_pw, sentinel_pw, escaped, "wrong"):
                assert secret not in text, f"{secret!r} shown:\n{text}"



def test_documented_acl_for_sentinel_mode():
    """The man page's ACL with +role on the data nodes, and a sentinel user with only
    +sentinel|get-master-addr-by-name (?sentinel_user=): rwith runs, and neither the data
    nodes nor the sentinels deny it anything."""
    with Scope("sen-acl") as sc:
        data_pw, sentinel_pw = "data-pw-3", "sen-pw-4"
        sentinels = SentinelSet(sc, replicas=1, master_password=data_pw,
                                sentinel_password=sentinel_pw)
        data_nodes = [sentinels.master_server, *sentinels.replica_servers]
        for node in data_nodes:
            with node.client() as c:
                c.call("ACL", "SETUSER", "locker", *harness.documented_acl("lock-pw-5"), "+role")
        for sentinel in sentinels.sentinel_servers:
            with sentinel.client() as c:
                c.call("ACL", "SETUSER", "watcher", "on", ">watch-pw-6", "-@all",
                       "+sentinel|get-master-addr-by-name")
        hosts = ",".join(f"127.0.0.1:{sentinels.announced_port(s)}"
                         for s in sentinels.sentinel_servers)
        url = (f"redis+sentinel://locker:lock-pw-5@{hosts}/{sentinels.name}"
               "?sentinel_user=watcher&sentinel_password=watch-pw-6")
        lock = sc.lock("acl")
        sc.run(["-r", url, lock, "--", "true"]).expect(0, "with the documented ACL users")
        sc.run(["-r", url, "--status", lock]).expect(0, "--status")
        for server in [*data_nodes, *sentinels.sentinel_servers]:
            assert harness.acl_denials(server) == [], (
                f"denied on :{server.port}: {harness.acl_denials(server)}")

if __name__ == "__main__":
    main(globals())
