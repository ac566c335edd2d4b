"""The heartbeat: a command may run far longer than the TTL; the lock stays held (and its
keys keep a TTL of at most --ttl) the whole time, and is free again afterwards."""

import os
import shlex
import time

import harness
from harness import Scope


def hold_and_probe(sc, srv, lock, ttl_ms, extra, seconds):
    """Runs a holder for `seconds` under `-t ttl_ms`; meanwhile probes with `rwith -n` and
    samples the PTTL of the lock's keys. Returns (holder result, probes, pttls)."""
    start, end = sc.path("start"), sc.path("end")
    script = f"touch {shlex.quote(start)}; sleep {seconds}; touch {shlex.quote(end)}"
    holder = sc.start(["-r", srv.url(), "-t", f"{ttl_ms}ms", *extra, lock, "--", "sh", "-c",
                       script])
    harness.wait_until(lambda: os.path.exists(start) or not holder.running(), 20,
                       "the holder's command to start")
    probes, pttls, violations = 0, [], []
    while not os.path.exists(end) and holder.running():
        with srv.client() as c:
            for key in c.keys(harness.lock_pattern(lock)):
                ttl = c.pttl(key)
                if ttl > 0:
                    pttls.append(ttl)
        res = sc.try_lock(srv.url(), lock)
        ended = os.path.exists(end)
        if res.status == 0 and not ended:
            violations.append("rwith -n acquired the lock while the holder's command ran\n"
                              + res.describe())
        elif res.status not in (0, 1):
            violations.append("rwith -n: unexpected status\n" + res.describe())
        elif res.status == 1 and not ended:
            probes += 1
        time.sleep(0.05)
    result = holder.wait(timeout=30)
    assert not violations, "\n\n".join(violations)
    return result, probes, pttls


def test_ttl_500ms_held_for_3s():
    with Scope("hb-3s") as sc:
        srv = sc.redis()
        lock = sc.lock("hb")
        res, probes, pttls = hold_and_probe(sc, srv, lock, 500, [], 3)
        res.expect(0, "the heartbeat kept the 500 ms lock for the 3 s command")
        assert probes >= 5, f"only {probes} probes ran while the command held the lock"
        assert pttls, "the lock's keys never had a TTL while held"
        assert max(pttls) <= 500, (f"a key of the lock had a PTTL of {max(pttls)} ms, above "
                                   "--ttl 500ms")
        sc.try_lock(srv.url(), lock).expect(0, "the lock is free after the holder exited")


def test_explicit_heartbeat():
    with Scope("hb-explicit") as sc:
        srv = sc.redis()
        lock = sc.lock("hb")
        res, probes, pttls = hold_and_probe(sc, srv, lock, 1000, ["--heartbeat", "200ms"], 2.5)
        res.expect(0)
        assert probes >= 5, f"only {probes} probes ran while the command held the lock"
        assert pttls and max(pttls) <= 1000, f"PTTLs seen: {pttls[:5]}...{pttls[-5:]}"
        sc.try_lock(srv.url(), lock).expect(0, "the lock is free after the holder exited")


def test_extension_renews_the_ttl():
    """With -t 2s and --heartbeat 300ms, the lock's TTL on the server never falls far:
    after the first second it is always above 2s - 2 heartbeats - slack, and never 0."""
    with Scope("hb-renew") as sc:
        srv = sc.redis()
        lock = sc.lock("hb")
        ready = sc.path("ready")
        holder = sc.start(["-r", srv.url(), "-t", "2s", "--heartbeat", "300ms", lock, "--",
                           "sh", "-c", harness.sh_ready_then_sleep(ready, 3)])
        harness.wait_for_file(ready)
        t0 = time.monotonic()
        lowest = None
        while time.monotonic() - t0 < 2.5 and holder.running():
            with srv.client() as c:
                ttls = [c.pttl(k) for k in c.keys(harness.lock_pattern(lock))]
            live = [t for t in ttls if t > 0]
            assert live, f"the lock has no key with a TTL while held (PTTLs {ttls})"
            lowest = min(live + ([lowest] if lowest is not None else []))
            time.sleep(0.1)
        holder.wait(timeout=30).expect(0)
        # Without extension the TTL would have run down to 0 within these 2.5 s; with one
        # every 300 ms it stays well above 0 even when the machine is slow.
        assert lowest is not None and lowest > 300, (
            f"the lock's PTTL fell to {lowest} ms: the TTL is not being extended")


if __name__ == "__main__":
    harness.main(globals())
