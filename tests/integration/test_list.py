"""rwith --list [--json]: every lock under the prefix that has holders or waiters, with what
--status shows for each (JSON: {"locks": [...]} of --status --json objects), sorted by name;
on every master of a Redis Cluster, on Sentinel's master, and the majority's view in quorum
mode; locks whose
entries all expired are not shown; SCAN stops at a deadline and at a number of locks and
says so; exit 0, and 69 with a 'rwith: ' line when a server (a majority) cannot be used."""

import json
import re
import socket
import threading
import time

import harness
from harness import EX_SERVER, Scope, finish, hold, queue_waiters
from test_status import check_types
from topology import Cluster, SentinelSet

ENTRY_FIELDS = {"lock", "held", "holders", "waiters"}
HOLDER_FIELDS = {"host", "pid", "task", "since_ms", "ttl_ms", "fence", "mode"}


def list_json(sc, args):
    """`rwith ARGS --list --json` as a dict; asserts exit 0, nothing on stderr, one line of
    strictly valid JSON of the contract's shape."""
    res = sc.run([*args, "--list", "--json"], timeout=30)
    res.expect(0, "--list --json")
    assert res.stderr == "", f"--list --json wrote to stderr:\n{res.describe()}"
    return parse_list(res)


def parse_list(res):
    try:
        text = res.stdout.decode("utf-8")
        listing = json.loads(text)
    except ValueError as e:
        raise AssertionError(f"--list --json printed no valid UTF-8 JSON ({e})\n"
                             f"{res.describe()}") from None
    assert text.count("\n") == 1 and text.endswith("\n"), f"not one line:\n{res.describe()}"
    assert isinstance(listing, dict) and isinstance(listing.get("locks"), list), listing
    for entry in listing["locks"]:
        check_types(entry, "--list entry")
        assert set(entry) == ENTRY_FIELDS, f"an entry's fields are not --status's: {entry}"
        for holder in entry["holders"]:
            assert set(holder) == HOLDER_FIELDS, f"a holder's fields: {holder}"
    names = [entry["lock"] for entry in listing["locks"]]
    assert names == sorted(names, key=lambda n: n.encode()), f"not sorted by name: {names}"
    return listing


def list_text(sc, args):
    res = sc.run([*args, "--list"], timeout=30)
    res.expect(0, "--list")
    assert res.stderr == "", f"--list wrote to stderr:\n{res.describe()}"
    return res.out.splitlines()


def by_name(listing):
    return {entry["lock"]: entry for entry in listing["locks"]}


def summary_lines(lines):
    """The text form's lock lines (holder lines are indented)."""
    return [line for line in lines if not line.startswith(" ")]


def server_now_ms(srv):
    return harness.server_time_ms(srv)


def test_nothing_to_list():
    """An empty server, and one with only what finished locks leave (the fence counter) and
    entries that expired (holders and qexp keys the status script filters out): nothing is
    listed; the text says so in one line, the JSON is {"locks":[]}."""
    with Scope("list-none") as sc:
        srv = sc.redis()
        url = srv.url()
        for attempt in ("empty", "leftovers"):
            res = sc.run(["-r", url, "--list", "--json"])
            res.expect(0, f"--list --json, {attempt}")
            assert res.stdout == b'{"locks":[]}\n', f"{attempt}:\n{res.describe()}"
            assert res.stderr == "", res.describe()
            lines = list_text(sc, ["-r", url])
            assert lines == ["no locks under 'rwith:'"], f"{attempt}: {lines}"
            # What a used and released lock leaves, and entries whose time ran out.
            sc.run(["-r", url, sc.lock("used"), "--", "true"]).expect(0)
            with srv.client() as c:
                c.call("ZADD", "rwith:{" + sc.lock("expired-holder") + "}:holders", "1", "t")
                c.call("ZADD", "rwith:{" + sc.lock("expired-waiter") + "}:qexp", "1", "t")
        assert srv.lock_keys(sc.lock("used")) == ["rwith:{" + sc.lock("used") + "}:fence"]


def test_holders_and_waiters():
    """An exclusive holder with two waiters, two shared holders, a semaphore (-l 3) with two
    holders, and waiters without a holder: each listed once, in name order, with the fields
    and counts of --status --json; the text form has a line per lock saying how many hold
    it in which mode and how many wait, then one line per holder."""
    with Scope("list-held") as sc:
        srv = sc.redis()
        url = srv.url()
        ex, sh, sem, queued = (sc.lock(n) for n in ("ex", "sh", "sem", "queued"))
        holder = hold(sc, url, ex, "H", extra=["-T", "the writer", "-t", "20s"])
        waiters = queue_waiters(sc, url, ex, ["W1", "W2"])
        readers = [hold(sc, url, sh, f"R{i}", extra=["-s"]) for i in range(2)]
        sems = [hold(sc, url, sem, f"S{i}", extra=["-l", "3"]) for i in range(2)]
        # Waiters and no holder (a moment no rwith leaves for long): made by hand.
        with srv.client() as c:
            c.call("ZADD", "rwith:{" + queued + "}:queue", "2", "tok")
            c.call("ZADD", "rwith:{" + queued + "}:qexp", str(server_now_ms(srv) + 60000), "tok")

        listing = list_json(sc, ["-r", url])
        locks = by_name(listing)
        assert sorted(locks) == sorted([ex, sh, sem, queued]), f"listed: {sorted(locks)}"
        assert len(listing["locks"]) == 4, f"a lock listed twice: {listing}"
        e = locks[ex]
        assert e["held"] and e["waiters"] == 2 and len(e["holders"]) == 1, e
        h = e["holders"][0]
        want = {"host": socket.gethostname(), "pid": holder.pid, "task": "the writer",
                "fence": holder.fence, "mode": "exclusive"}
        assert {k: h[k] for k in want} == want, f"holder fields: {h}, want {want}"
        assert 0 < h["ttl_ms"] <= 20000, h
        s = locks[sh]
        assert s["held"] and s["waiters"] == 0, s
        assert sorted(x["pid"] for x in s["holders"]) == sorted(r.pid for r in readers), s
        assert {x["mode"] for x in s["holders"]} == {"shared"}, s
        m = locks[sem]
        assert sorted(x["pid"] for x in m["holders"]) == sorted(x.pid for x in sems), m
        assert {x["mode"] for x in m["holders"]} == {"exclusive"} and m["waiters"] == 0, m
        q = locks[queued]
        assert q["held"] is False and q["holders"] == [] and q["waiters"] == 1, q
        # Each entry is what --status --json says of that lock (but for the time left, and
        # the holders' order, which follows their expiry).
        for name, entry in locks.items():
            status = harness.lock_status(sc, url, name)
            for one in (status, entry):
                for x in one["holders"]:
                    x.pop("ttl_ms")
                one["holders"].sort(key=lambda x: x["pid"])
            assert status == entry, f"--status --json {name}: {status}\n--list: {entry}"

        lines = list_text(sc, ["-r", url])
        heads = summary_lines(lines)
        assert [line.split(":")[0] for line in heads] == sorted([ex, sh, sem, queued]), lines
        expect = {ex: r"held by 1 holder \(exclusive\), 2 waiting",
                  sh: r"held by 2 holders \(shared\), 0 waiting",
                  sem: r"held by 2 holders \(exclusive\), 0 waiting",
                  queued: r"free, 1 waiting"}
        for line in heads:
            name = line.split(":")[0]
            assert re.search(expect[name], line), f"{line!r} does not match {expect[name]!r}"
        assert len(lines) == 4 + 1 + 2 + 2, f"want a line per lock and per holder: {lines}"
        for proc in [holder, *readers, *sems]:
            assert sum(f":{proc.pid} " in line for line in lines) == 1, (proc.pid, lines)
        finish(*waiters, holder, *readers, *sems)
        listing = list_json(sc, ["-r", url])
        assert by_name(listing).keys() == {queued}, f"released locks still listed: {listing}"


def test_prefix():
    """--list shows the locks under --prefix only; glob characters in the prefix match only
    themselves; lock names with braces, '}:holders' and spaces come back whole."""
    with Scope("list-prefix") as sc:
        srv = sc.redis()
        url = srv.url()
        plain = sc.lock("plain")
        tricky = "x}:holders {y} " + sc.lock("z")
        other = sc.lock("other")
        star, lookalike, bracket = sc.lock("star"), sc.lock("lookalike"), sc.lock("bracket")
        holders = [hold(sc, url, plain, "P"), hold(sc, url, tricky, "T"),
                   hold(sc, url, other, "O", extra=["--prefix", "other:"]),
                   hold(sc, url, star, "S", extra=["--prefix", "we*rd:"]),
                   hold(sc, url, lookalike, "L", extra=["--prefix", "weXrd:"]),
                   hold(sc, url, bracket, "B", extra=["--prefix", "br[a]ck\\?:"])]
        waiter = queue_waiters(sc, url, tricky, ["TW"])[0]
        default = by_name(list_json(sc, ["-r", url]))
        assert sorted(default) == sorted([plain, tricky]), f"under rwith: {sorted(default)}"
        assert default[tricky]["waiters"] == 1, default[tricky]
        assert default[tricky]["holders"][0]["pid"] == holders[1].pid, default[tricky]
        # Unescaped, "br[a]ck\\?:" would match only "brack" and a character: not the key.
        for prefix, want in (("other:", [other]), ("we*rd:", [star]), ("weXrd:", [lookalike]),
                             ("br[a]ck\\?:", [bracket]), ("we", []), ("*", [])):
            got = sorted(by_name(list_json(sc, ["-r", url, "--prefix", prefix])))
            assert got == want, f"--prefix {prefix!r}: {got}, want {want}"
        lines = list_text(sc, ["-r", url, "--prefix", "we"])
        assert lines == ["no locks under 'we'"], lines
        lines = list_text(sc, ["-r", url, "--prefix", "we*rd:"])
        assert summary_lines(lines)[0].startswith(star + ": held by 1 holder"), lines
        finish(waiter, *holders)


def test_cluster_every_master():
    """A cluster of three masters, entered through one node: a lock on each master, one with
    a waiter, are all listed, with their holders."""
    with Scope("list-cluster") as sc:
        cluster = Cluster(sc)
        entry = cluster.url(0)
        masters = cluster.masters()
        assert len(masters) == 3, masters
        locks = [cluster.lock_on(m, stem=f"ls{i}-") for i, m in enumerate(masters)]
        holders = [hold(sc, entry, lock, f"H{i}") for i, lock in enumerate(locks)]
        waiter = queue_waiters(sc, cluster.url(1), locks[2], ["W"])[0]
        for url in (entry, cluster.url(3)):  # through a master, and through whatever node 3 is
            found = by_name(list_json(sc, ["-r", url]))
            assert sorted(found) == sorted(locks), f"through {url}: {sorted(found)}"
            for h, lock in zip(holders, locks):
                assert [x["pid"] for x in found[lock]["holders"]] == [h.pid], found[lock]
            assert found[locks[2]]["waiters"] == 1, found[locks[2]]
        lines = list_text(sc, ["-r", entry])
        assert sorted(line.split(":")[0] for line in summary_lines(lines)) == sorted(locks), lines
        finish(waiter, *holders)


def test_sentinel_master():
    """Through the sentinels: the locks on the master they name are listed (its replicas
    have the same keys, and are not asked)."""
    with Scope("list-sentinel") as sc:
        sentinels = SentinelSet(sc)
        url = sentinels.url()
        locks = [sc.lock("s1"), sc.lock("s2")]
        holders = [hold(sc, url, lock, f"H{i}") for i, lock in enumerate(locks)]
        found = by_name(list_json(sc, ["-r", url]))
        assert sorted(found) == sorted(locks), sorted(found)
        for h, lock in zip(holders, locks):
            assert [x["pid"] for x in found[lock]["holders"]] == [h.pid], found[lock]
        finish(*holders)
        assert list_json(sc, ["-r", url]) == {"locks": []}


def quorum_args(srvs):
    return [arg for s in srvs for arg in ("-r", s.url())]


def test_quorum_majority_view():
    """Quorum mode: a lock held on a majority is listed with its holder; one held on one
    server only is not (the majority sees it free). One server down: the same list. Two of
    three down: 69."""
    with Scope("list-quorum") as sc:
        srvs = [sc.redis(name=f"redis{i}") for i in range(3)]
        args = quorum_args(srvs)
        lock, minority = sc.lock("q"), sc.lock("minority")
        holder = hold(sc, srvs[0].url(), lock, "H", extra=[*quorum_args(srvs[1:]), "-T", "qt"])
        alone = hold(sc, srvs[0].url(), minority, "A")
        for down in (0, 1):
            if down:
                srvs[2].stop()
            found = by_name(list_json(sc, args))
            assert list(found) == [lock], f"{down} down: {sorted(found)}"
            assert found[lock]["holders"][0]["pid"] == holder.pid, found[lock]
            assert found[lock]["holders"][0]["task"] == "qt", found[lock]
        srvs[1].stop()
        res = sc.run([*args, "--list"], timeout=30)
        res.expect(EX_SERVER, "--list with two of three servers down").expect_diagnostic()
        assert res.stdout == b"", res.describe()
        assert res.elapsed < 10, f"--list took {res.elapsed:.1f} s to give up"
        finish(alone)


def test_server_unusable():
    """--list (text and JSON) exits 69 with a 'rwith: ' line and prints nothing when the
    server is unreachable, refuses the password, or does not speak RESP, quickly; and when
    the user may not SCAN, with a line that says what to grant."""
    with Scope("list-69") as sc:
        srv = sc.redis(password="s3cret")
        garbage = sc.fake("garbage")
        urls = [f"redis://127.0.0.1:{harness.closed_port()}", srv.url(password="wrong"),
                garbage.url]
        for url in urls:
            for extra in ([], ["--json"]):
                res = sc.run(["-r", url, "--list", *extra], timeout=30)
                res.expect(EX_SERVER, f"--list {' '.join(extra)} with {url}")
                res.expect_diagnostic()
                assert res.stdout == b"", f"--list printed something:\n{res.describe()}"
                assert res.elapsed < 10, f"--list took {res.elapsed:.1f} s to give up"
                assert "wrong" not in res.stderr, f"the password shows:\n{res.describe()}"
        # The right password works; a user with the man page's ACL needs +scan besides.
        assert list_json(sc, ["-r", srv.url()]) == {"locks": []}
        with srv.client() as c:
            c.call("ACL", "SETUSER", "locker", *harness.documented_acl("l-pw"))
        user = srv.url(user="locker", password="l-pw")
        res = sc.run(["-r", user, "--list"], timeout=30)
        res.expect(EX_SERVER, "--list without +scan").expect_diagnostic("NOPERM", "+scan")
        with srv.client() as c:
            c.call("ACL", "SETUSER", "locker", "+scan")
        assert list_json(sc, ["-r", user]) == {"locks": []}


def test_stops_at_ten_thousand_locks():
    """More locks than --list shows (10000): it shows that many, sorted, and says on stderr
    that it stopped; the JSON says "truncated"."""
    with Scope("list-many") as sc:
        srv = sc.redis()
        url = srv.url()
        expiry = server_now_ms(srv) + 120000
        with srv.client(timeout=30) as c:
            c.call("EVAL", "for i = 1, tonumber(ARGV[1]) do redis.call('ZADD', "
                   "'rwith:{many' .. i .. '}:holders', ARGV[2], 't') end", "0", "10050",
                   str(expiry))
        res = sc.run(["-r", url, "--list", "--json"], timeout=60)
        res.expect(0, "--list --json of 10050 locks")
        res.expect_diagnostic("stopped after 10000 locks")
        listing = parse_list(res)
        assert listing.get("truncated") is True, f"no truncated flag: {list(listing)}"
        assert len(listing["locks"]) == 10000, len(listing["locks"])
        assert all(e["held"] and e["lock"].startswith("many") for e in listing["locks"])
        res = sc.run(["-r", url, "--list", "-q"], timeout=60)
        res.expect(0)
        assert len(res.out.splitlines()) == 2 * 10000, "want a line per lock and holder"


class EndlessScan:
    """A fake server that is not a cluster, whose SCAN never ends: each step answers 0.2 s
    late with one more lock, and the status script (EVAL; EVALSHA says NOSCRIPT) says each
    is held. Stopped by the Scope like its other fakes."""

    STEP_S = 0.2

    def __init__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.1)
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}"
        self.steps = 0
        self.stopping = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_command(reader):
        line = reader.readline()
        if not line.startswith(b"*"):
            return None
        args = []
        for _ in range(int(line[1:])):
            size = int(reader.readline()[1:])
            args.append(reader.read(size + 2)[:-2])
        return args

    def _answer(self, args):
        name = args[0].upper()
        if name == b"CLUSTER":
            return b"-ERR This instance has cluster support disabled\r\n"
        if name == b"SCAN":
            time.sleep(self.STEP_S)
            self.steps += 1
            key = b"rwith:{endless%d}:holders" % self.steps
            return b"*2\r\n$1\r\n7\r\n*1\r\n$%d\r\n%s\r\n" % (len(key), key)
        if name == b"EVALSHA":
            return b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
        if name == b"EVAL":
            now = int(time.time() * 1000)
            return (b"*9\r\n:%d\r\n:0\r\n$4\r\nfake\r\n:1\r\n$4\r\ntask\r\n:%d\r\n:30000\r\n"
                    b":1\r\n$1\r\nx\r\n" % (now, now))
        return b"-ERR unknown command\r\n"

    def _handle(self, conn):
        with conn, conn.makefile("rb") as reader:
            while not self.stopping.is_set():
                try:
                    args = self._read_command(reader)
                    if args is None:
                        return
                    conn.sendall(self._answer(args))
                except (OSError, ValueError):
                    return

    def stop(self):
        self.stopping.set()
        self.listener.close()


def test_stops_scanning_at_the_deadline():
    """A SCAN that never ends: --list stops scanning after 5 s, lists the locks found so far
    and says that there may be more; the JSON says "truncated"."""
    with Scope("list-deadline") as sc:
        fake = EndlessScan()
        sc.fakes.append(fake)
        for extra in (["--json"], []):
            before = fake.steps
            res = sc.run(["-r", fake.url, "--list", *extra], timeout=30)
            res.expect(0, "--list on an endless SCAN")
            res.expect_diagnostic("stopped scanning after 5 s")
            assert 4.5 < res.elapsed < 10, f"--list took {res.elapsed:.1f} s"
            steps = fake.steps - before
            assert steps >= 10, f"only {steps} SCAN steps in {res.elapsed:.1f} s"
            if extra:
                listing = parse_list(res)
                assert listing.get("truncated") is True, listing
                names = [e["lock"] for e in listing["locks"]]
            else:
                names = [line.split(":")[0] for line in summary_lines(res.out.splitlines())]
            # Every step's lock was read (the last may have come after the deadline).
            assert steps - 1 <= len(names) <= steps, f"{len(names)} locks for {steps} steps"
            assert all(n.startswith("endless") for n in names), names


if __name__ == "__main__":
    harness.main(globals())
