"""The server cannot be used (69, fast, one 'rwith: ' line, no crash, the command not run):
unreachable, garbage, hang-ups, silence, refused AUTH, a wrong database. And the ways to
reach a server that work: passwords, database numbers, unix sockets, URL precedence."""

import os
import time

import harness
from harness import EX_SERVER, Scope

PASSWORD = "s3cr3t-Pw-71"
WRONG = "wr0ng-Pw-93"


def expect_unusable(sc, url, lock="srv", within=10.0, extra=(), env=None, why=""):
    ran = sc.path(f"ran-{sc.counter + 1}")
    args = ([] if url is None else ["-r", url]) + list(extra)
    res = sc.run(args + [sc.lock(lock), "--", "touch", ran], env=env, timeout=60)
    res.expect(EX_SERVER, why or f"server {url} cannot be used").expect_diagnostic()
    assert not os.path.exists(ran), "the command ran although the server was unusable"
    assert res.elapsed < within, (f"rwith took {res.elapsed:.2f} s to give up (want < "
                                  f"{within:g} s)\n{res.describe()}")
    return res


def test_unreachable_port():
    with Scope("srv-unreachable") as sc:
        expect_unusable(sc, f"redis://127.0.0.1:{harness.closed_port()}", within=3.0)


def test_unix_socket_missing():
    with Scope("srv-unix-missing") as sc:
        expect_unusable(sc, f"unix://{sc.path('no-such.sock')}", within=3.0)


def fake_case(behaviour, within=10.0):
    with Scope("srv-fake-" + behaviour) as sc:
        fake = sc.fake(behaviour)
        expect_unusable(sc, fake.url, within=within, why=f"a server that answers '{behaviour}'")
        assert fake.connections >= 1, "rwith never connected to the fake server"


def test_garbage_answers():
    fake_case("garbage")


def test_hangs_up():
    fake_case("hangup")


def test_never_answers():
    fake_case("silent", within=15.0)


def test_wrong_reply_types():
    fake_case("ok")


def test_absurd_bulk_length():
    fake_case("huge", within=15.0)


def test_absurd_array_length_is_refused_at_once():
    """`*300000000` (13 bytes) would make hiredis allocate 2.4 GB of element pointers and then
    wait for them: rwith refuses such an array as it reads the header (hiredis 0.14 and 1.x),
    so it gives up at once, for a broken answer rather than for silence."""
    with Scope("srv-fake-hugearray") as sc:
        fake = sc.fake("hugearray")
        res = expect_unusable(sc, fake.url, why="an array of 300 million elements")
        assert "no answer" not in res.stderr, (
            f"rwith waited for the array instead of refusing it\n{res.describe()}")


def test_partial_reply_then_hangup():
    fake_case("partial")


def test_paused_server_before_start():
    with Scope("srv-paused") as sc:
        srv = sc.redis()
        srv.pause()
        try:
            expect_unusable(sc, srv.url(), within=15.0, why="a SIGSTOPped server")
        finally:
            srv.resume()


def test_password_right():
    with Scope("srv-pw-right") as sc:
        srv = sc.redis(password=PASSWORD)
        sc.run(["-r", f"redis://:{PASSWORD}@127.0.0.1:{srv.port}", sc.lock("a"), "--",
                "true"]).expect(0, "the right password")
        sc.run(["-r", f"redis://default:{PASSWORD}@127.0.0.1:{srv.port}", sc.lock("a"), "--",
                "true"]).expect(0, "the right password with user 'default'")
        res = sc.run([sc.lock("a"), "--", "true"],
                     env={"RWITH_REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:{srv.port}"})
        res.expect(0, "the right password in $RWITH_REDIS_URL")


def assert_no_password(res, *secrets):
    for secret in secrets:
        assert secret not in res.stderr and secret not in res.out, (
            f"the password {secret!r} appears in rwith's output\n{res.describe()}")


def test_password_wrong():
    with Scope("srv-pw-wrong") as sc:
        srv = sc.redis(password=PASSWORD)
        res = expect_unusable(sc, f"redis://:{WRONG}@127.0.0.1:{srv.port}", why="wrong password")
        assert_no_password(res, WRONG, PASSWORD)
        res = expect_unusable(sc, f"redis://someone:{WRONG}@127.0.0.1:{srv.port}",
                              why="wrong user and password")
        assert_no_password(res, WRONG, PASSWORD)


def test_password_missing():
    """No password against a server that requires one: 69, and the message says that the
    server requires a password (not a protocol error), for a run, a single try and --status."""
    with Scope("srv-pw-missing") as sc:
        srv = sc.redis(password=PASSWORD)
        url = f"redis://127.0.0.1:{srv.port}"
        res = expect_unusable(sc, url, why="no password given")
        for r in (res, sc.run(["-r", url, "-n", sc.lock("pw"), "--", "true"]),
                  sc.run(["-r", url, "--status", sc.lock("pw")])):
            r.expect(69, "no password given")
            assert "requires a password" in r.stderr and "Protocol error" not in r.stderr, (
                f"the message names the cause\n{r.describe()}")


def test_password_never_printed():
    """Not with -vv, not from the environment, not on success, not in usage errors."""
    with Scope("srv-pw-hidden") as sc:
        srv = sc.redis(password=PASSWORD)
        wrong_url = f"redis://:{WRONG}@127.0.0.1:{srv.port}"
        res = expect_unusable(sc, wrong_url, extra=["-vv"], why="wrong password, -vv")
        assert_no_password(res, WRONG)
        res = expect_unusable(sc, None, env={"RWITH_REDIS_URL": wrong_url},
                              why="wrong password from $RWITH_REDIS_URL")
        assert_no_password(res, WRONG)
        res = sc.run(["-vv", "-r", f"redis://:{PASSWORD}@127.0.0.1:{srv.port}",
                      sc.lock("ok"), "--", "true"]).expect(0)
        assert_no_password(res, PASSWORD)
        # A malformed URL is a usage error; its password must not be echoed either.
        res = sc.run(["-r", f"redis://:{WRONG}@127.0.0.1:notaport", sc.lock("u"), "--", "true"])
        res.expect(64)
        assert_no_password(res, WRONG)
        # A server that cannot be reached: the URL in the message is masked too.
        res = expect_unusable(sc, f"redis://:{WRONG}@127.0.0.1:{harness.closed_port()}",
                              extra=["-vv"], within=3.0)
        assert_no_password(res, WRONG)


def test_wrong_database():
    with Scope("srv-db-wrong") as sc:
        srv = sc.redis()
        expect_unusable(sc, srv.url(db=99), why="database 99 of 16")


def test_database_number_selects():
    with Scope("srv-db") as sc:
        srv = sc.redis(unixsocket=True)
        for url, db in ((srv.url(db=3), 3), (srv.unix_url(db=2), 2)):
            lock = sc.lock(f"db{db}")
            ready = sc.path(f"ready{db}")
            p = sc.start(["-r", url, lock, "--", "sh", "-c",
                          harness.sh_ready_then_sleep(ready)])
            harness.wait_for_file(ready)
            assert srv.lock_keys(lock, db=db), f"no keys of the lock in database {db} ({url})"
            assert not srv.lock_keys(lock, db=0), f"keys of the lock in database 0 ({url})"
            p.signal(15)
            p.wait().expect(143)


def test_unix_socket():
    with Scope("srv-unix") as sc:
        srv = sc.redis(unixsocket=True)
        lock = sc.lock("u")
        res = sc.run(["-r", srv.unix_url(), lock, "--", "sh", "-c", 'echo "$RWITH_LOCK"'])
        res.expect(0)
        assert res.out == lock + "\n"
        # The same lock over TCP and over the socket is one lock.
        ready = sc.path("ready")
        p = sc.start(["-r", srv.unix_url(), lock, "--", "sh", "-c",
                      harness.sh_ready_then_sleep(ready)])
        harness.wait_for_file(ready)
        sc.try_lock(srv.url(), lock).expect(1, "held through the unix socket")
        p.signal(15)
        p.wait().expect(143)


def test_url_precedence():
    """-r beats $RWITH_REDIS_URL beats $REDIS_URL. "bad" is a closed port (69)."""
    with Scope("srv-precedence") as sc:
        srv = sc.redis()
        good, bad = srv.url(), f"redis://127.0.0.1:{harness.closed_port()}"
        cases = [
            ("$REDIS_URL alone", [], {"REDIS_URL": good}, 0),
            ("$RWITH_REDIS_URL alone", [], {"RWITH_REDIS_URL": good}, 0),
            ("$RWITH_REDIS_URL beats $REDIS_URL (good)", [],
             {"RWITH_REDIS_URL": good, "REDIS_URL": bad}, 0),
            ("$RWITH_REDIS_URL beats $REDIS_URL (bad)", [],
             {"RWITH_REDIS_URL": bad, "REDIS_URL": good}, EX_SERVER),
            ("-r beats both (good)", ["-r", good],
             {"RWITH_REDIS_URL": bad, "REDIS_URL": bad}, 0),
            ("-r beats both (bad)", ["-r", bad],
             {"RWITH_REDIS_URL": good, "REDIS_URL": good}, EX_SERVER),
            ("--redis beats both", ["--redis", good],
             {"RWITH_REDIS_URL": bad, "REDIS_URL": bad}, 0),
        ]
        failures = []
        for why, args, env, want in cases:
            res = sc.run(args + [sc.lock("p"), "--", "true"], env=env)
            if res.status != want:
                failures.append(f"{why}: want {want}\n{res.describe()}")
        assert not failures, "\n\n".join(failures)



def test_acl_user_with_the_documented_rights():
    """A user with exactly the documented rights can hold, wait and be woken, show the status
    and break a lock, and the server denies it nothing (its ACL LOG stays empty); the same
    user is refused a key outside the prefix, so the rights are really that narrow."""
    with Scope("srv-acl") as sc:
        srv = sc.redis()
        with srv.client() as c:
            c.call("ACL", "SETUSER", "locker", *harness.documented_acl("acl-Pw-5"))
        url = srv.url(user="locker", password="acl-Pw-5")
        lock = sc.lock("acl")
        holder = harness.Holder(sc, url, lock, "H")
        holder.started()
        waiter = sc.start(["-r", url, "-w", "30s", lock, "--", "true"])
        harness.wait_waiters(sc, url, lock, 1)
        status = harness.lock_status(sc, url, lock)
        assert status["held"] and status["waiters"] == 1, status
        holder.release()
        holder.wait().expect(0)
        waiter.wait(timeout=30).expect(0, "the waiter is woken and runs")
        broken = harness.Holder(sc, url, lock, "B")
        broken.started()
        sc.run(["-r", url, "--break", lock]).expect(0, "--break")
        broken.release()
        broken.wait(timeout=30)
        assert harness.acl_denials(srv) == [], f"the server denied something: {harness.acl_denials(srv)}"
        with harness.Resp(port=srv.port) as c:
            c.call("AUTH", "locker", "acl-Pw-5")
            try:
                c.call("SET", "elsewhere", "1")
                raise AssertionError("the user may write a key outside the prefix")
            except harness.RespError as e:
                assert "NOPERM" in str(e), e

if __name__ == "__main__":
    harness.main(globals())
