"""Usage errors (64): one specific 'rwith: ' line that ends by pointing at 'rwith --help',
no help dump,
nothing on stdout, decided before any server is contacted. And what must be accepted."""

import harness
from harness import Scope


def expect_usage_error(res, why):
    """The contract's usage error: status 64, first line 'rwith: ...', the pointer to
    --help, no help text, and no line from anyone else (getopt would print argv[0])."""
    res.expect(64, why)
    lines = res.err_lines
    problems = []
    if res.stdout:
        problems.append("stdout is not empty")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, want one (the help must not be dumped)")
    if not lines or not lines[0].startswith("rwith: "):
        problems.append("the stderr line does not start with 'rwith: '")
    if not lines or "try 'rwith --help'" not in lines[-1]:
        problems.append("the line does not end with \"try 'rwith --help'\"")
    if problems:
        raise AssertionError(f"usage error for {why}: " + "; ".join(problems) + "\n"
                             + res.describe())


def check_rejected(sc, cases, env=None):
    """cases: (why, args). A closed port as server: an accepted command line ends in 69,
    not 64, so the test also proves the usage check comes before connecting."""
    url = f"redis://127.0.0.1:{harness.closed_port()}"
    failures = []
    for why, args in cases:
        res = sc.run(["-r", url, *args], env=env)
        try:
            expect_usage_error(res, why)
        except AssertionError as e:
            failures.append(str(e))
    if failures:
        raise AssertionError(f"{len(failures)} of {len(cases)} command lines not rejected "
                             "as usage errors:\n\n" + "\n\n".join(failures))


def test_missing_lock_or_command():
    with Scope("usage-missing") as sc:
        check_rejected(sc, [
            ("no arguments at all", []),
            ("a lock but no command", ["L"]),
            ("a lock and -- but no command", ["L", "--"]),
            ("-c without its string", ["L", "-c"]),
            ("options only", ["-n", "-t", "5s"]),
        ])


def test_unknown_options_and_missing_values():
    with Scope("usage-options") as sc:
        check_rejected(sc, [
            ("unknown long option", ["--bogus", "L", "--", "true"]),
            ("unknown short option", ["-Z", "L", "--", "true"]),
            ("--ttl without a value after the lock", ["L", "-t"]),
            ("-t at the very end", ["-t"]),
            ("--wait without a value", ["--wait"]),
            ("-l with -s", ["-l", "2", "-s", "L", "--", "true"]),
        ])


def test_bad_durations():
    with Scope("usage-durations") as sc:
        bad = ["", "soon", "s", "ms", "1x", "-1", "-5s", "1 s", " 1s", "1s ", "1e3", "0x10",
               "1..5s", "1.5.5s", "1,5s", "1.0001s", "0.5ms", "101d", "2401h",
               "99999999999999999999", "18446744073709551617ms", "inf", "nan", "1h30m",
               "5M", "+5s"]
        cases = [(f"--ttl {d!r}", ["--ttl", d, "L", "--", "true"]) for d in bad]
        cases += [(f"--wait {d!r}", ["--wait", d, "L", "--", "true"]) for d in bad]
        cases += [(f"--heartbeat {d!r}", ["--heartbeat", d, "L", "--", "true"])
                  for d in ("", "soon", "-1")]
        cases += [(f"--kill-after {d!r}", ["--kill-after", d, "L", "--", "true"])
                  for d in ("", "soon", "-1")]
        check_rejected(sc, cases)


def test_ttl_and_heartbeat_bounds():
    with Scope("usage-ttl") as sc:
        check_rejected(sc, [
            ("--ttl below 100ms", ["-t", "99ms", "L", "--", "true"]),
            ("--ttl 0", ["-t", "0", "L", "--", "true"]),
            ("--heartbeat equal to --ttl", ["-t", "1s", "--heartbeat", "1s", "L", "--", "true"]),
            ("--heartbeat above --ttl", ["-t", "1s", "--heartbeat", "2s", "L", "--", "true"]),
            ("--heartbeat above the default ttl", ["--heartbeat", "31s", "L", "--", "true"]),
        ])


def test_bad_conflict_exit_codes():
    with Scope("usage-E") as sc:
        check_rejected(sc, [(f"-E {v!r}", ["-E", v, "L", "--", "true"])
                            for v in ("256", "-1", "x", "", "1.5", "99999999999999999999")])


def test_bad_lock_names():
    with Scope("usage-names") as sc:
        check_rejected(sc, [
            ("an empty lock name", ["", "--", "true"]),
            ("a lock name with a leading '-'", ["--", "-lock", "--", "true"]),
            ("a newline in the lock name", ["a\nb", "--", "true"]),
            ("a control character (1) in the lock name", ["a\x01b", "--", "true"]),
            ("a tab in the lock name", ["a\tb", "--", "true"]),
            ("DEL (127) in the lock name", ["a\x7fb", "--", "true"]),
            ("a 257-byte lock name", ["a" * 257, "--", "true"]),
        ])


def test_bad_urls():
    with Scope("usage-urls") as sc:
        check_rejected(sc, [(f"-r {u!r}", ["-r", u, "L", "--", "true"]) for u in (
            "http://127.0.0.1:6379", "garbage", "", "redis://", "redis://127.0.0.1:99999",
            "redis://127.0.0.1:port", "redis://127.0.0.1:1/x", "redis://127.0.0.1:1/-1",
            "unix://", "unix:///tmp/x.sock?db=x")])


def test_bad_url_in_environment():
    with Scope("usage-env-url") as sc:
        for var in ("RWITH_REDIS_URL", "REDIS_URL"):
            res = sc.run(["L", "--", "true"], env={var: "http://nowhere"})
            expect_usage_error(res, f"${var}=http://nowhere")


def test_accepted_forms():
    """What the contract allows must not be a usage error: it runs, and exits 0."""
    with Scope("usage-accepted") as sc:
        srv = sc.redis()
        url = srv.url()
        forms = [
            ["x", "--", "true"],
            ["a" * 256, "--", "true"],
            ["lock with spaces/and:colons", "--", "true"],
            ["ünïcödé-lock", "--", "true"],
        ]
        for d in ("30", "30s", "250ms", "1.5s", "5m", "1h", "2d", "100ms", "100d"):
            forms.append(["-t", d, sc.lock("dur"), "--", "true"])
            forms.append(["--ttl", d, sc.lock("dur"), "--", "true"])
        for d in ("0", "1", "250ms", "1.5s", "2d"):
            forms.append(["-w", d, sc.lock("wait"), "--", "true"])
            forms.append(["--timeout", d, sc.lock("wait"), "--", "true"])
        forms += [
            ["-t", "1s", "--heartbeat", "999ms", sc.lock("hb"), "--", "true"],
            ["-E", "0", sc.lock("e"), "--", "true"],
            ["-E", "255", sc.lock("e"), "--", "true"],
            ["-n", "-x", "-q", sc.lock("f"), "--", "true"],
            ["-v", "--nonblock", "--exclusive", "--quiet", sc.lock("f"), "--", "true"],
            ["-k", "1s", "--kill-after", "250ms", sc.lock("k"), "--", "true"],
            ["-T", "my task", "--task", "other", sc.lock("t"), "--", "true"],
            ["--prefix", "other:", sc.lock("p"), "--", "true"],
            ["--redis", url, sc.lock("r"), "--", "true"],
        ]
        failures = []
        for args in forms:
            if "--redis" not in args:
                args = ["-r", url] + args
            res = sc.run(args)
            if res.status != 0:
                failures.append(f"expected 0, got {harness.exit_description(res.status)}\n"
                                + res.describe())
        if failures:
            raise AssertionError(f"{len(failures)} valid command lines failed:\n\n"
                                 + "\n\n".join(failures))


def test_operands_and_permutation():
    with Scope("usage-permute") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("p")
        # Everything after -- belongs to the command, even what looks like rwith's options.
        res = sc.run(["-r", url, lock, "--", "sh", "-c", 'echo "$@"; exit 4', "sh", "-x", "-n",
                      "--ttl", "5s"])
        res.expect(4, "the command's args are not rwith's options")
        assert res.out == "-x -n --ttl 5s\n", f"the command got other arguments: {res.out!r}"
        # Options may follow the lock name (before --), and -c may come before it.
        sc.run(["-r", url, lock, "-t", "5s", "--", "true"]).expect(0)
        sc.run(["-r", url, lock, "-c", "exit 3"]).expect(3)
        sc.run(["-r", url, "-c", "exit 3", lock]).expect(3)


if __name__ == "__main__":
    harness.main(globals())
