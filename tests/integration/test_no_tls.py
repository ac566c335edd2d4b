"""A build without TLS (meson -Dtls=disabled, or hiredis 0.14) says so in --version and
refuses rediss:// as a usage error that names the reason, before connecting anywhere."""

import os

import harness
from harness import EX_USAGE, Scope


def test_version_says_tls_is_not_built_in():
    with Scope("notls-version") as sc:
        res = sc.run(["--version"]).expect(0)
        assert "TLS not built in" in res.out, res.describe()


def test_rediss_is_a_usage_error():
    with Scope("notls-rediss") as sc:
        server = sc.redis()
        ran = sc.path("ran")
        for args in (["-r", f"rediss://127.0.0.1:{server.port}"], []):
            env = {} if args else {"RWITH_REDIS_URL": f"rediss://127.0.0.1:{server.port}"}
            res = sc.run([*args, sc.lock("l"), "--", "touch", ran], env=env)
            res.expect(EX_USAGE, "rediss:// without TLS").expect_diagnostic("without TLS")
            assert not os.path.exists(ran)


if __name__ == "__main__":
    harness.main(globals())
