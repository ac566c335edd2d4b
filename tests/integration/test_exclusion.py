"""Mutual exclusion: commands under the same exclusive lock never overlap, and nothing is
lost in read-modify-write sections; other names and other prefixes do not exclude."""

import threading

import harness
from harness import Scope

WORKERS = 6
SECTIONS = 15

# One critical section: log its begin (with the fence), read-modify-write the counter
# slowly enough that an overlap would lose an update, log its end.
SECTION = ('echo "B $$ $RWITH_FENCE" >> "$1"; n=$(cat "$2"); sleep 0.005; '
           'echo $((n + 1)) > "$2"; echo "E $$" >> "$1"')


def check_log(lines):
    """Begin/end lines must alternate B x, E x, B y, E y ...; fences increase."""
    problems = []
    open_pid, last_fence = None, 0
    for i, line in enumerate(lines):
        parts = line.split()
        if parts[0] == "B":
            if open_pid is not None:
                problems.append(f"line {i + 1}: section of {parts[1]} began while {open_pid}'s "
                                "was still running")
            open_pid = parts[1]
            if len(parts) < 3 or not parts[2].isdigit():
                problems.append(f"line {i + 1}: no RWITH_FENCE in {line!r}")
                continue
            fence = int(parts[2])
            if fence <= last_fence:
                problems.append(f"line {i + 1}: fence {fence} after {last_fence}")
            last_fence = fence
        else:
            if open_pid != parts[1]:
                problems.append(f"line {i + 1}: {parts[1]} ended, but the open section is "
                                f"{open_pid}'s")
            open_pid = None
    return problems


def test_counter_nothing_lost():
    with Scope("excl-counter") as sc:
        srv = sc.redis()
        lock = sc.lock("counter")
        counter, log = sc.path("counter"), sc.path("log")
        with open(counter, "w") as f:
            f.write("0\n")
        failures = []

        def worker():
            for _ in range(SECTIONS):
                res = sc.run(["-r", srv.url(), lock, "--", "sh", "-c", SECTION, "sh", log,
                              counter], timeout=90)
                if res.status != 0:
                    failures.append(res.describe())
                    return

        threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, "rwith runs failed:\n" + "\n\n".join(failures)
        value = int(harness.read_file(counter))
        lines = harness.read_file(log).splitlines()
        problems = check_log(lines)
        assert not problems, ("critical sections overlapped:\n" + "\n".join(problems[:20]))
        assert len(lines) == 2 * WORKERS * SECTIONS, f"{len(lines)} log lines"
        assert value == WORKERS * SECTIONS, (
            f"counter is {value}, want {WORKERS * SECTIONS}: updates were lost")


def test_long_holders_never_overlap():
    """Fewer, longer sections with a short TTL: exclusion holds while the heartbeat works."""
    with Scope("excl-long") as sc:
        srv = sc.redis()
        lock = sc.lock("long")
        log, counter = sc.path("log"), sc.path("counter")
        with open(counter, "w") as f:
            f.write("0\n")
        section = SECTION.replace("sleep 0.005", "sleep 0.4")
        procs = [sc.start(["-r", srv.url(), "-t", "1s", lock, "--", "sh", "-c", section, "sh",
                           log, counter]) for _ in range(4)]
        for p in procs:
            p.wait(timeout=60).expect(0)
        lines = harness.read_file(log).splitlines()
        problems = check_log(lines)
        assert not problems, "sections overlapped:\n" + "\n".join(problems)
        assert int(harness.read_file(counter)) == 4


def test_different_names_do_not_exclude():
    with Scope("excl-names") as sc:
        srv = sc.redis()
        a, b = sc.lock("a"), sc.lock("b")
        holder = sc.start(["-r", srv.url(), a, "--", "sh", "-c",
                           harness.sh_ready_then_sleep(sc.path("ready"))])
        harness.wait_for_file(sc.path("ready"))
        sc.try_lock(srv.url(), b).expect(0, "another lock name is free")
        sc.try_lock(srv.url(), a).expect(1, "the held name is busy")
        sc.try_lock(srv.url(), a + "x").expect(0, "a longer name is another lock")
        holder.signal(15)
        holder.wait().expect(143)


def test_prefix_separates_namespaces():
    with Scope("excl-prefix") as sc:
        srv = sc.redis()
        lock = sc.lock("p")
        holder = sc.start(["-r", srv.url(), "--prefix", "app1:", lock, "--", "sh", "-c",
                           harness.sh_ready_then_sleep(sc.path("ready"))])
        harness.wait_for_file(sc.path("ready"))
        keys = srv.lock_keys(lock, prefix="app1:")
        assert keys, "no key under --prefix app1: while the lock is held"
        assert not srv.lock_keys(lock), f"keys under the default prefix: {srv.lock_keys(lock)}"
        sc.try_lock(srv.url(), lock, ["--prefix", "app1:"]).expect(1, "same prefix: busy")
        sc.try_lock(srv.url(), lock, ["--prefix", "app2:"]).expect(0, "other prefix: free")
        sc.try_lock(srv.url(), lock).expect(0, "default prefix: free")
        holder.signal(15)
        holder.wait().expect(143)


def hash_tag(key):
    """The part of a key Redis Cluster hashes: between the first '{' and the next '}'."""
    start = key.find("{")
    end = key.find("}", start + 1)
    if start < 0 or end < 0 or end == start + 1:
        return None
    return key[start + 1:end]


def test_keys_share_the_hash_tag():
    with Scope("excl-hashtag") as sc:
        srv = sc.redis()
        lock = sc.lock("tag")
        holder = sc.start(["-r", srv.url(), lock, "--", "sh", "-c",
                           harness.sh_ready_then_sleep(sc.path("ready"))])
        harness.wait_for_file(sc.path("ready"))
        with srv.client() as c:
            all_keys = c.keys("*")
        assert all_keys, "no keys on the server while the lock is held"
        stray = [k for k in all_keys if not k.startswith("rwith:") or hash_tag(k) != lock]
        assert not stray, f"keys without the prefix and the hash tag {{{lock}}}: {stray}"
        holder.signal(15)
        holder.wait().expect(143)


if __name__ == "__main__":
    harness.main(globals())
