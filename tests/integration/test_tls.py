"""rediss:// against a real redis-server with --tls-port and a throwaway CA (TLS builds
only; test_no_tls.py covers builds without it): a trusted server works for runs, heartbeats
and --status; an untrusted certificate, a wrong host name, a server that does not speak TLS
are 69 before the command runs; a CA bundle that cannot be loaded is a usage error."""

import os

import harness
from harness import EX_SERVER, EX_USAGE, Scope, TlsFiles


def tls_server(sc, alt_names="DNS:localhost,IP:127.0.0.1", name="localhost"):
    files = TlsFiles(sc.dir)
    server = sc.redis(tls=files.server_cert(name, alt_names))
    return files, server


def expect_refused(sc, url, extra=(), env=None, needles=()):
    ran = sc.path(f"ran-{sc.counter + 1}")
    res = sc.run(["-r", url, *extra, sc.lock("tls"), "--", "touch", ran], env=env, timeout=60)
    res.expect(EX_SERVER, f"{url} must not be used").expect_diagnostic(*needles)
    assert not os.path.exists(ran), "the command ran although TLS verification failed"
    assert res.elapsed < 10, f"rwith took {res.elapsed:.1f} s to give up\n{res.describe()}"
    return res


def test_version_says_tls_is_built_in():
    with Scope("tls-version") as sc:
        res = sc.run(["--version"]).expect(0)
        assert "TLS built in" in res.out, res.describe()


def test_trusted_server_runs_the_command():
    with Scope("tls-trusted") as sc:
        files, server = tls_server(sc)
        lock = sc.lock("trusted")
        res = sc.run(["-r", server.tls_url(), "--tls-ca", files.ca_cert, lock, "--", "sh", "-c",
                      'echo "fence=$RWITH_FENCE"; exit 7'])
        res.expect(7, "the command's own status over TLS")
        assert "fence=" in res.out, res.describe()
        assert harness.leftover_keys(server, lock) == [], "the lock was not released over TLS"


def test_ca_from_environment_and_dns_name():
    with Scope("tls-env-ca") as sc:
        files, server = tls_server(sc)
        res = sc.run(["-r", server.tls_url("localhost"), sc.lock("env"), "--", "true"],
                     env={"RWITH_TLS_CA": files.ca_cert})
        res.expect(0, "$RWITH_TLS_CA names the CA, the certificate names localhost")


def test_heartbeat_and_status_over_tls():
    with Scope("tls-heartbeat") as sc:
        files, server = tls_server(sc)
        url = server.tls_url()
        lock = sc.lock("beat")
        ready = sc.path("ready")
        # A TTL of 1 s outlived three times over: only extensions over TLS keep the lock.
        holder = sc.start(["-r", url, "--tls-ca", files.ca_cert, "--ttl", "1s", lock, "--",
                           "sh", "-c", harness.sh_ready_then_sleep(ready, 3.5)])
        harness.wait_for_file(ready)
        st = harness.lock_status(sc, url, lock, extra=["--tls-ca", files.ca_cert])
        assert st["holders"], f"--status over TLS shows no holder: {st}"
        other = sc.run(["-r", url, "--tls-ca", files.ca_cert, "-n", lock, "--", "true"])
        other.expect(1, "the lock is held, extended over TLS")
        holder.wait(timeout=30).expect(0, "the holder kept its lock for 3.5 s with a 1 s TTL")


def test_untrusted_certificate_is_69():
    with Scope("tls-untrusted") as sc:
        _, server = tls_server(sc)
        # Our throwaway CA is in no system trust store.
        expect_refused(sc, server.tls_url(), needles=("certificate",))


def test_other_ca_is_69():
    with Scope("tls-other-ca") as sc:
        _, server = tls_server(sc)
        other = TlsFiles(sc.dir)
        expect_refused(sc, server.tls_url(), extra=["--tls-ca", other.ca_cert],
                       needles=("certificate",))


def test_wrong_host_name_is_69():
    with Scope("tls-wrong-host") as sc:
        files, server = tls_server(sc, alt_names="DNS:elsewhere.invalid", name="elsewhere.invalid")
        # Trusted CA, but the certificate names another host: by address and by name.
        expect_refused(sc, server.tls_url("127.0.0.1"), extra=["--tls-ca", files.ca_cert],
                       needles=("mismatch",))
        expect_refused(sc, server.tls_url("localhost"), extra=["--tls-ca", files.ca_cert],
                       needles=("mismatch",))


def test_plain_server_is_69():
    with Scope("tls-plain") as sc:
        files = TlsFiles(sc.dir)
        server = sc.redis()
        expect_refused(sc, f"rediss://127.0.0.1:{server.port}", extra=["--tls-ca", files.ca_cert],
                       needles=("TLS",))


def test_unloadable_ca_file_is_usage_error():
    with Scope("tls-bad-ca") as sc:
        files, server = tls_server(sc)
        not_pem = sc.path("not-a-ca.pem")
        with open(not_pem, "w", encoding="ascii") as f:
            f.write("this is not a certificate\n")
        for ca in (sc.path("missing.pem"), not_pem):
            ran = sc.path("ran")
            res = sc.run(["-r", server.tls_url(), "--tls-ca", ca, sc.lock("ca"), "--",
                          "touch", ran])
            res.expect(EX_USAGE, f"--tls-ca {ca}").expect_diagnostic("--tls-ca")
            assert not os.path.exists(ran)


def test_cluster_over_tls():
    """rediss:// to any node of a cluster that speaks TLS: the redirects name the nodes'
    TLS ports, each verified against --tls-ca; a manual failover under a holder is followed
    over TLS too."""
    from topology import Cluster
    with Scope("tls-cluster") as sc:
        files = TlsFiles(sc.dir)
        cert = files.server_cert("localhost", "DNS:localhost,IP:127.0.0.1")
        cluster = Cluster(sc, tls=(files, cert))
        entry = f"rediss://127.0.0.1:{cluster.nodes[0].tls_port}"
        ca = ["--tls-ca", files.ca_cert]
        for i, master in enumerate(cluster.masters()):
            lock = cluster.lock_on(master, stem=f"tls{i}-")
            probe = f"redis-cli -p {master.port} --raw exists 'rwith:{{{lock}}}:holders'"
            res = sc.run(["-r", entry, *ca, lock, "--", "sh", "-c", probe])
            res.expect(0, f"a lock on master :{master.port} over TLS")
            assert res.out.strip() == "1", res.describe()
        master = cluster.masters()[1]
        lock = cluster.lock_on(master, stem="tls-failover-")
        ready = sc.path("ready")
        holder = sc.start(["-r", entry, *ca, "-t", "2s", lock, "--", "sh", "-c",
                           harness.sh_ready_then_sleep(ready, 4)])
        harness.wait_for_file(ready)
        cluster.wait_synced()
        cluster.manual_failover(cluster.replicas_of(master)[0])
        holder.wait(timeout=30).expect(0, "the holder kept its lock across the failover")


def test_sentinel_over_tls():
    """rediss+sentinel://: TLS to the sentinels and to the master they name, both verified
    against --tls-ca; a failover is followed over TLS too."""
    from topology import SentinelSet
    with Scope("tls-sentinel") as sc:
        files = TlsFiles(sc.dir)
        cert = files.server_cert("localhost", "DNS:localhost,IP:127.0.0.1")
        sentinels = SentinelSet(sc, replicas=1, tls=(files, cert))
        url = sentinels.url()
        assert url.startswith("rediss+sentinel://"), url
        lock = sc.lock("sentinel")
        master = sentinels.master_server
        probe = f"redis-cli -p {master.port} --raw exists 'rwith:{{{lock}}}:holders'"
        res = sc.run(["-r", url, "--tls-ca", files.ca_cert, lock, "--", "sh", "-c", probe])
        res.expect(0, "rediss+sentinel://")
        assert res.out.strip() == "1", res.describe()
        # Another CA: the sentinels are not trusted, and rwith says so.
        other = TlsFiles(sc.dir)
        res = sc.run(["-r", url, "--tls-ca", other.ca_cert, lock, "--", "true"])
        res.expect(EX_SERVER, "untrusted sentinels").expect_diagnostic("mymaster", "certificate")
        ready = sc.path("ready")
        # A TTL well above a failover's length (about a second, more on a loaded machine):
        # the lock must outlive the time in which nobody can extend it.
        holder = sc.start(["-r", url, "--tls-ca", files.ca_cert, "-t", "6s", lock, "--", "sh",
                           "-c", harness.sh_ready_then_sleep(ready, 5)])
        harness.wait_for_file(ready)
        sentinels.wait_synced()
        new = sentinels.failover()
        holder.wait(timeout=30).expect(0, "the holder kept its lock across the failover")
        probe = f"redis-cli -p {new.port} --raw exists 'rwith:{{{lock}}}:holders'"
        res = sc.run(["-r", url, "--tls-ca", files.ca_cert, lock, "--", "sh", "-c", probe])
        res.expect(0, "on the new master")
        assert res.out.strip() == "1", res.describe()


def test_tls_module_is_loaded_only_for_rediss():
    """OpenSSL lives in rwith's TLS module, loaded only for a rediss:// URL: a copy of rwith
    without the module next to it (nor installed) runs redis:// as ever, says so in
    --version, and refuses rediss:// with exit 69 naming the module."""
    import shutil
    import subprocess
    with Scope("tls-module") as sc:
        files, server = tls_server(sc)
        alone = os.path.join(sc.path("alone"), "rwith")
        os.makedirs(os.path.dirname(alone))
        shutil.copy2(harness.RWITH, alone)
        # The copy finds the libraries the original was linked with (a build's RUNPATH may
        # be relative to the executable).
        libs = subprocess.run(["ldd", harness.RWITH], capture_output=True, text=True).stdout
        dirs = {os.path.dirname(line.split("=>")[1].split()[0]) for line in libs.splitlines()
                if "=>" in line and "/" in line.split("=>")[1]}
        env = {"LD_LIBRARY_PATH": ":".join(sorted(dirs))}
        plain = sc.redis()
        res = sc.run(["-r", plain.url(), sc.lock("plain"), "--", "true"], exe=alone, env=env)
        res.expect(0, "redis:// without the TLS module")
        res = sc.run(["--version"], exe=alone, env=env).expect(0)
        assert "module is missing" in res.out, res.describe()
        res = sc.run(["-r", server.tls_url(), "--tls-ca", files.ca_cert, sc.lock("tls"), "--",
                      "true"], exe=alone, env=env)
        res.expect(EX_SERVER, "rediss:// without the TLS module")
        res.expect_diagnostic("TLS module", "rwith-tls.so")
        # With the module beside it: redis:// maps no OpenSSL (the command's parent is a
        # fork of rwith), rediss:// does.
        probe = 'if grep -q libssl /proc/$PPID/maps; then echo ssl; else echo none; fi'
        res = sc.run(["-r", plain.url(), sc.lock("maps"), "--", "sh", "-c", probe])
        assert res.expect(0).out.strip() == "none", res.describe()
        res = sc.run(["-r", server.tls_url(), "--tls-ca", files.ca_cert, sc.lock("maps-tls"),
                      "--", "sh", "-c", probe])
        assert res.expect(0).out.strip() == "ssl", res.describe()


if __name__ == "__main__":
    harness.main(globals())
