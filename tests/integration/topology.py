"""Real Redis Clusters and Sentinel setups for the integration tests.

Cluster(scope, ...) starts redis-server nodes in cluster mode, joins them with
`redis-cli --cluster create` and waits until the cluster is whole and replicated.
SentinelSet(scope, ...) starts a master, its replicas and sentinels watching it, and waits
until every sentinel knows everything. Both register every process they start with the
scope (scope.servers), which stops it by PID and dumps its log when the test fails, like
the servers of scope.redis().

Every wait has a deadline (harness.wait_until); a timeout raises AssertionError naming what
was awaited and what was last seen. Only redis-server, redis-cli and harness.Resp are used.

Redis 7.0 behaviour measured on loopback (worth knowing when writing tests):
- Cluster start-up takes about 3 s. CLUSTER SLOTS names nodes by IP ("127.0.0.1") and
  leaves a replica out until its replication offset is not 0, i.e. until its master has
  had a write (or its 10 s replication ping): the constructor writes once on each master.
- manual_failover() takes about 0.1 s; afterwards the old master answers -MOVED, and a
  BLPOP blocked on it gets "-UNBLOCKED force unblock ... (master -> replica?)".
- kill_master() takes about 2-3 s (node timeout 1 s).
- SentinelSet start-up takes about 3 s; after SENTINEL FAILOVER every sentinel names the
  new master within about 1.2 s, but the old master stays a writable master for about
  11 s more (a sentinel converts it only after it has claimed the master role for 8 s).
  The demotion closes every normal client connection of the old master (the sentinel
  sends CLIENT KILL TYPE normal with its REPLICAOF): a blocked BLPOP sees the connection
  close, not an -UNBLOCKED error.
"""

import os
import shlex
import shutil
import subprocess
import time
import urllib.parse

from harness import RedisServer, RespError, free_port, wait_until

SLOTS = 16384

# What a query of a node that has just died, or is being reconfigured, may raise.
_UNREACHABLE = (OSError, RespError)


# ---------------------------------------------------------------------------------------
# Key slots

def _crc16(data):
    """CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def crc16_slot(key):
    """The Redis Cluster slot (0..16383) of key (str or bytes).

    When the key has a '{' followed later by a '}' with something in between, only what
    lies between the first '{' and the first '}' after it is hashed (the hash tag).
    """
    if isinstance(key, str):
        key = key.encode()
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return _crc16(key) % SLOTS


# ---------------------------------------------------------------------------------------
# Small queries shared by both topologies

def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _call(server, *args, timeout=3.0):
    """One command on a fresh connection to server; raises RespError on an error reply."""
    with server.client(timeout=timeout) as c:
        return c.call(*args)


def _info(server, section):
    """INFO section as a dict of strings."""
    fields = {}
    for line in _text(_call(server, "INFO", section)).splitlines():
        if line and not line.startswith("#") and ":" in line:
            name, value = line.split(":", 1)
            fields[name] = value
    return fields


def _role(server):
    """ROLE as ("master", None) or ("slave", master_port, link_state)."""
    reply = _call(server, "ROLE")
    kind = _text(reply[0])
    if kind == "slave":
        return kind, int(reply[2]), _text(reply[3])
    return kind, None, None


def _replicas_in_info(info):
    """{port: {"state":..., "offset": int}} of a master's INFO replication."""
    found = {}
    for name, value in info.items():
        if name.startswith("slave") and name[5:].isdigit():
            entry = dict(item.split("=", 1) for item in value.split(",") if "=" in item)
            found[int(entry.get("port", 0))] = {"state": entry.get("state"),
                                               "offset": int(entry.get("offset", -1))}
    return found


def _live(servers):
    """The servers that run and are not paused: the ones that can answer."""
    return [s for s in servers if s.running() and not s.paused]


def _await(check, timeout, what, interval=0.05):
    """Polls check() -> (value, detail) until value is true, and returns it.

    A node that cannot answer (connection refused, error reply) counts as not yet. On
    timeout the AssertionError names `what` and the last detail seen.
    """
    last = {"detail": "nothing yet"}

    def predicate():
        try:
            value, detail = check()
        except _UNREACHABLE as e:
            value, detail = None, f"{type(e).__name__}: {e}"
        last["detail"] = detail
        return value
    try:
        return wait_until(predicate, timeout, what, interval=interval)
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen: {last['detail']}") from None


def _sync_check(nodes, targets, expect_replicas=None):
    """One look at replication among nodes: (True, detail) when every running replica's
    link is up and its master lists it online with an acknowledged offset of at least
    targets[master] (the master's offset the first time it was seen; filled in here)."""
    live = _live(nodes)
    by_port = {s.port: s for s in nodes}
    by_port.update({s.tls_port: s for s in nodes if s.tls_port})
    pending, replicas, master_info = [], 0, {}
    for server in live:
        kind, master_port, link = _role(server)
        if kind != "slave":
            continue
        replicas += 1
        master = by_port.get(master_port)
        if master is None or master not in live:
            pending.append(f"{server.port} replicates {master_port}, which is not running")
            continue
        if master not in master_info:
            master_info[master] = _info(master, "replication")
            targets.setdefault(master, int(master_info[master]["master_repl_offset"]))
        own = _info(server, "replication")
        if link != "connected" or own.get("master_link_status") != "up":
            pending.append(f"{server.port}'s link to {master_port} is {link}/"
                           f"{own.get('master_link_status')}")
            continue
        listed = _replicas_in_info(master_info[master])
        entry = listed.get(server.port) or listed.get(server.tls_port)
        if entry is None or entry["state"] != "online":
            pending.append(f"{master_port} lists {server.port} as "
                           f"{entry['state'] if entry else 'absent'}")
        elif entry["offset"] < targets[master]:
            pending.append(f"{server.port} acknowledged {entry['offset']} of "
                           f"{master_port}'s {targets[master]}")
    if expect_replicas is not None and replicas != expect_replicas:
        pending.append(f"{replicas} replicas, expected {expect_replicas}")
    return not pending, "; ".join(pending) or "in sync"


def _wait_synced(nodes, timeout, expect_replicas=None):
    """Waits until every running replica among nodes has acknowledged what its master had
    when this was called (see _sync_check)."""
    targets = {}
    _await(lambda: _sync_check(nodes, targets, expect_replicas), timeout,
           "the replicas to acknowledge their masters' replication offsets")


def _by_port(servers, port, what):
    for server in servers:
        if port in (server.port, server.tls_port):
            return server
    raise AssertionError(f"{what} names port {port}, which is none of the servers started "
                         f"({[s.port for s in servers]})")


# ---------------------------------------------------------------------------------------
# Redis Cluster

class Cluster:
    """A Redis Cluster of masters*(1+replicas) nodes on loopback, ready to use.

    Each node is a harness.RedisServer in cluster mode with its own nodes.conf and its own
    cluster bus port, a 1 s node timeout, diskless replication and replicas that may always
    be promoted (cluster-replica-validity-factor 0). The nodes are joined with
    `redis-cli --cluster create`, which needs at least 3 masters and picks which nodes
    become replicas: ask masters() and replicas_of(), never assume from the order of nodes.
    `password` sets requirepass and masterauth on every node.

    The constructor returns once every node says cluster_state:ok, all nodes report the
    same CLUSTER SLOTS, and every replica's link is up with its master's offset
    acknowledged after a write.
    """

    CREATE_TIMEOUT_S = 60
    READY_TIMEOUT_S = 60

    def __init__(self, scope, masters=3, replicas=1, extra_args=(), password=None, tls=None):
        """tls: (TlsFiles, (cert, key)) to serve TLS on each node's tls_port as well, and to
        speak it on the cluster bus and between master and replica (which then know each
        other by their TLS ports)."""
        if masters < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 masters")
        self.scope = scope
        self.password = password
        self.master_count = masters
        self.replica_count = replicas
        self.nodes = []
        if tls is not None:
            extra_args = ["--tls-cluster", "yes", "--tls-replication", "yes",
                          "--tls-ca-cert-file", tls[0].ca_cert, *extra_args]
        for i in range(masters * (1 + replicas)):
            server = RedisServer(scope.dir, name=f"cluster{i}", password=password,
                                 tls=tls[1] if tls else None)
            scope.servers.append(server)  # stopped by the scope, also when start fails
            self.nodes.append(server)
            self._start_node(server, extra_args)
        self._create()
        self._wait_ready()

    # -- start-up

    def _start_node(self, server, extra_args):
        """Starts one node; a new bus port when the one taken turned out to be in use."""
        for attempt in range(3):
            bus_port = free_port()
            server.extra_args = [
                "--cluster-enabled", "yes",
                "--cluster-config-file", os.path.join(server.dir, "nodes.conf"),
                "--cluster-node-timeout", "1000",
                "--cluster-port", str(bus_port),
                "--cluster-replica-validity-factor", "0",
                "--repl-diskless-sync", "yes",
                "--repl-diskless-sync-delay", "0",
            ] + (["--masterauth", self.password] if self.password else []) + list(extra_args)
            try:
                return server.start()
            except AssertionError:
                if attempt == 2 or "Address already in use" not in server.log_text():
                    raise

    def _create(self):
        exe = shutil.which("redis-cli")
        if exe is None:
            raise AssertionError("redis-cli is not installed (not found in $PATH); the "
                                 "cluster tests need it: apt-get install redis-tools")
        args = [exe]
        if self.password:
            args += ["-a", self.password, "--no-auth-warning"]
        args += ["--cluster", "create", *[f"127.0.0.1:{s.port}" for s in self.nodes],
                 "--cluster-replicas", str(self.replica_count), "--cluster-yes"]
        try:
            res = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=self.CREATE_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"redis-cli --cluster create did not finish within "
                                 f"{self.CREATE_TIMEOUT_S} s\n--- output:\n"
                                 f"{_text(e.output or b'')}") from None
        self.create_output = _text(res.stdout)
        if res.returncode != 0 or "[OK] All 16384 slots covered" not in self.create_output:
            raise AssertionError(f"{shlex.join(args)} failed (exit status {res.returncode})"
                                 f"\n--- output:\n{self.create_output}")

    def _joined_check(self):
        """Every node ok, knowing all nodes, agreeing on which masters serve all slots."""
        pending = []
        for server in self.nodes:
            info = _cluster_info(server)
            if info.get("cluster_state") != "ok":
                pending.append(f"{server.port}: cluster_state:{info.get('cluster_state')}")
            elif int(info.get("cluster_known_nodes", 0)) != len(self.nodes):
                pending.append(f"{server.port} knows {info.get('cluster_known_nodes')} nodes")
        if pending:
            return False, "; ".join(pending)
        maps = {s.port: _masters_of(_slot_map(s)) for s in self.nodes}
        first = maps[self.nodes[0].port]
        if any(m != first for m in maps.values()):
            return False, f"the nodes disagree on the slots' masters: {maps}"
        covered = sum(end - start + 1 for start, end, _ in first)
        owners = {master for _, _, master in first}
        if covered != SLOTS or len(owners) != self.master_count:
            return False, f"{covered} slots covered by {len(owners)} masters: {first}"
        return True, "joined"

    def _replicated_check(self, targets):
        """Every node shows the same CLUSTER SLOTS with all replicas, and every replica has
        acknowledged its master's offset."""
        maps = {s.port: _slot_map(s) for s in self.nodes}
        first = maps[self.nodes[0].port]
        if any(m != first for m in maps.values()):
            return False, f"the nodes disagree on CLUSTER SLOTS: {maps}"
        if any(len(reps) != self.replica_count for _, _, _, reps in first):
            return False, f"CLUSTER SLOTS lacks replicas: {first}"
        return _sync_check(self.nodes, targets, self.master_count * self.replica_count)

    def _wait_ready(self):
        _await(self._joined_check, self.READY_TIMEOUT_S,
               "the cluster to be ok, with every node agreeing on the slots' masters")
        # One write (and its removal) on every master: replication must really flow, and
        # CLUSTER SLOTS leaves out a replica until its replication offset is not 0.
        for master in self.masters():
            key = "topology-sync:{" + self.lock_on(master, "sync", prefix="") + "}"
            with master.client() as c:
                c.call("SET", key, "1")
                c.call("DEL", key)
        targets = {}
        _await(lambda: self._replicated_check(targets), self.READY_TIMEOUT_S,
               "every node to list all replicas in CLUSTER SLOTS, and them to acknowledge "
               "their masters' offsets")

    # -- addresses and clients

    def url(self, i=0):
        """redis://127.0.0.1:PORT of node i (with the password when there is one)."""
        return self.nodes[i].url()

    def client(self, server):
        """A harness.Resp connected to server (plain RESP: no redirects followed)."""
        return server.client()

    def node_id(self, server):
        """The node's cluster ID (CLUSTER MYID)."""
        return _text(_call(server, "CLUSTER", "MYID"))

    # -- who is what

    def masters(self):
        """The running nodes that say (ROLE) they are masters."""
        return [s for s in _live(self.nodes) if _role(s)[0] == "master"]

    def replicas_of(self, master):
        """The running nodes that say (ROLE) they replicate master."""
        ports = (master.port, master.tls_port)
        return [s for s in _live(self.nodes) if _role(s)[0] == "slave" and _role(s)[1] in ports]

    def _agreed_masters(self, timeout=20):
        """[(start, end, master port)] on which every running node agrees (waits for it)."""
        def check():
            maps = {s.port: _masters_of(_slot_map(s)) for s in _live(self.nodes)}
            views = set(maps.values())
            if len(views) != 1:
                return None, f"the nodes disagree on the slots' masters: {maps}"
            return views.pop(), "agreed"
        return _await(check, timeout, "the running nodes to agree on the slots' masters")

    def master_for_slot(self, slot, timeout=20):
        """The node that every running node names as the master of slot."""
        for start, end, port in self._agreed_masters(timeout):
            if start <= slot <= end:
                return _by_port(self.nodes, port, f"CLUSTER SLOTS for slot {slot}")
        raise AssertionError(f"no node serves slot {slot}")

    def master_for_lock(self, lock, prefix="rwith:"):
        """The master of the slot of rwith's keys for lock (the slot of its {hash tag})."""
        return self.master_for_slot(crc16_slot(prefix + "{" + lock + "}:holders"))

    def lock_on(self, master, stem="lk", prefix="rwith:"):
        """The first lock name stem0, stem1, ... whose keys live on master."""
        ranges = [(start, end) for start, end, port in self._agreed_masters()
                  if port == master.port]
        if not ranges:
            raise AssertionError(f"node {master.port} serves no slot")
        for n in range(1_000_000):
            slot = crc16_slot(prefix + "{" + stem + str(n) + "}:holders")
            if any(start <= slot <= end for start, end in ranges):
                return stem + str(n)
        raise AssertionError(f"no lock {stem}N lives on node {master.port}")

    # -- replication

    def wait_synced(self, timeout=20):
        """Waits until every running replica has acknowledged (to its master) the master's
        replication offset as it was when this was called."""
        _wait_synced(self.nodes, timeout)

    # -- failovers

    def _slots_of(self, master):
        return [(start, end) for start, end, port in self._agreed_masters()
                if port == master.port]

    def _check_owner(self, ranges, owner, also=None):
        """(True, ...) when every running node names owner for every range; `also`, when
        given, is one more check of the same shape."""
        for server in _live(self.nodes):
            masters = _masters_of(_slot_map(server))
            for start, end in ranges:
                named = {port for s, e, port in masters if s <= end and e >= start}
                if named != {owner.port}:
                    return False, (f"node {server.port} names {sorted(named)} for slots "
                                   f"{start}-{end}, not {owner.port}")
            info = _cluster_info(server)
            if info.get("cluster_state") != "ok":
                return False, f"node {server.port}: cluster_state:{info.get('cluster_state')}"
        return also() if also else (True, "done")

    def manual_failover(self, replica, timeout=20):
        """CLUSTER FAILOVER on replica; waits until it is master by its own ROLE and by every
        running node's CLUSTER SLOTS, and its old master says it is a replica. Returns
        replica, now master."""
        kind, master_port, _ = _role(replica)
        if kind != "slave":
            raise AssertionError(f"node {replica.port} is no replica, it is a {kind}")
        old = _by_port(self.nodes, master_port, f"ROLE of {replica.port}")
        ranges = self._slots_of(old)
        _call(replica, "CLUSTER", "FAILOVER")

        def roles():
            if _role(replica)[0] != "master":
                return False, f"{replica.port} is not master yet"
            kind, of, _ = _role(old)
            if kind != "slave" or of not in (replica.port, replica.tls_port):
                return False, f"the old master {old.port} is {kind} of {of}"
            return True, "done"
        _await(lambda: self._check_owner(ranges, replica, roles), timeout,
               f"the manual failover from {old.port} to {replica.port}")
        return replica

    def kill_master(self, master, timeout=30):
        """SIGKILLs master; waits until one of its replicas is promoted, every running node's
        CLUSTER SLOTS names that one for the slots master had, and every running node is
        ok again. Returns the new master."""
        candidates = self.replicas_of(master)
        if not candidates:
            raise AssertionError(f"master {master.port} has no replica to take over")
        ranges = self._slots_of(master)
        master.kill()

        def check():
            promoted = [s for s in candidates if s.running() and _role(s)[0] == "master"]
            if not promoted:
                return None, f"none of {[s.port for s in candidates]} is master yet"
            ok, detail = self._check_owner(ranges, promoted[0])
            return (promoted[0] if ok else None), detail
        return _await(check, timeout, f"a replica of the killed master {master.port} to "
                      "take over its slots")

    # -- slot migration

    def start_migration(self, slot, src, dst):
        """Marks slot IMPORTING (from src) on dst and MIGRATING (to dst) on src."""
        _call(dst, "CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(src))
        _call(src, "CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(dst))

    def migrate_keys(self, slot, src, dst, timeout=30):
        """Moves every key of slot from src to dst (GETKEYSINSLOT + MIGRATE); returns how
        many were moved."""
        moved = 0
        deadline = time.monotonic() + timeout
        while True:
            keys = _call(src, "CLUSTER", "GETKEYSINSLOT", slot, 100)
            if not keys:
                return moved
            if time.monotonic() >= deadline:
                raise AssertionError(f"slot {slot} still has keys on {src.port} after "
                                     f"{timeout:g} s of migrating: {keys[:5]}")
            args = ["MIGRATE", "127.0.0.1", dst.port, "", 0, 5000]
            if self.password:
                args += ["AUTH", self.password]
            _call(src, *args, "KEYS", *keys, timeout=10)
            moved += len(keys)

    def finish_migration(self, slot, dst, timeout=20):
        """CLUSTER SETSLOT slot NODE dst on every master, dst first; waits until every
        running node names dst for slot."""
        dst_id = self.node_id(dst)
        for server in [dst] + [m for m in self.masters() if m is not dst]:
            _call(server, "CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        _await(lambda: self._check_owner([(slot, slot)], dst), timeout,
               f"every node to name {dst.port} for slot {slot}")


def _cluster_info(server):
    fields = {}
    for line in _text(_call(server, "CLUSTER", "INFO")).splitlines():
        if ":" in line:
            name, value = line.split(":", 1)
            fields[name] = value
    return fields


def _slot_map(server):
    """CLUSTER SLOTS as a sorted tuple of (start, end, master port, (replica ports))."""
    ranges = []
    for entry in _call(server, "CLUSTER", "SLOTS"):
        start, end, master, *replicas = entry
        ranges.append((start, end, master[1], tuple(sorted(r[1] for r in replicas))))
    return tuple(sorted(ranges))


def _masters_of(slot_map):
    return tuple((start, end, master) for start, end, master, _ in slot_map)


# ---------------------------------------------------------------------------------------
# Sentinel

def _conf_quote(value):
    """A redis.conf argument in double quotes."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class SentinelServer(RedisServer):
    """`redis-server sentinel.conf --sentinel` on a free loopback port, in its own directory
    with its config file (which the sentinel rewrites as it learns). Stopped, killed,
    paused and logged like a RedisServer; restart() keeps the port and what it learnt."""

    def __init__(self, workdir, name, config_lines, password=None):
        super().__init__(workdir, name=name, password=password)
        self.conf_path = os.path.join(self.dir, "sentinel.conf")
        self.config_lines = list(config_lines)

    def _command(self, exe, restarting):
        """Writes the config file (kept on a restart: it holds what the sentinel learnt)
        and returns `redis-server FILE --sentinel`."""
        if not (restarting and os.path.exists(self.conf_path)):
            with open(self.conf_path, "w", encoding="utf-8") as f:
                f.write("\n".join([
                    f"port {self.port}", "bind 127.0.0.1", "protected-mode no",
                    "daemonize no", f"dir {_conf_quote(self.dir)}", 'logfile ""',
                    *self.config_lines]) + "\n")
        return [exe, self.conf_path, "--sentinel"]


class SentinelSet:
    """A master, `replicas` replicas of it and `sentinels` sentinels monitoring it as
    `name`, all on loopback, ready to use.

    The data nodes are harness.RedisServers with diskless replication (and, with
    master_password, requirepass and masterauth); each sentinel is a SentinelServer with
    down-after-milliseconds 1000, failover-timeout 10000 and parallel-syncs 1. The
    constructor returns once every sentinel names the master, knows every replica (none
    down) and every other sentinel, and the replicas have acknowledged the master's offset.
    """

    READY_TIMEOUT_S = 60

    def __init__(self, scope, replicas=2, sentinels=3, name="mymaster", quorum=2,
                 master_password=None, extra_args=(), sentinel_password=None, tls=None):
        """tls: (TlsFiles, (cert, key)): every node and sentinel also serves TLS on its
        tls_port, and they speak TLS to each other, so that they know each other (and name
        the master) by TLS ports; the harness keeps using the plain ports."""
        self.scope = scope
        self.name = name
        self.master_password = master_password
        self.tls = tls
        data_args = ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        tls_args = []
        if tls is not None:
            tls_args = ["--tls-replication", "yes", "--tls-ca-cert-file", tls[0].ca_cert]
        if master_password:
            data_args += ["--masterauth", master_password]
        data_args += tls_args + list(extra_args)

        def data_node(label, args):
            server = RedisServer(scope.dir, name=label, password=master_password,
                                 extra_args=args, tls=tls[1] if tls else None)
            scope.servers.append(server)
            return server.start()
        self.master_server = data_node("sentinel-master", data_args)
        master_port = self.announced_port(self.master_server)
        self.replica_servers = [
            data_node(f"sentinel-replica{i}",
                      data_args + ["--replicaof", "127.0.0.1", str(master_port)])
            for i in range(replicas)]
        _wait_synced(self.data_servers(), self.READY_TIMEOUT_S, expect_replicas=replicas)

        config = [f"sentinel monitor {name} 127.0.0.1 {master_port} {quorum}",
                  f"sentinel down-after-milliseconds {name} 1000",
                  f"sentinel failover-timeout {name} 10000",
                  f"sentinel parallel-syncs {name} 1"]
        if master_password:
            config.append(f"sentinel auth-pass {name} {_conf_quote(master_password)}")
        if sentinel_password:
            config += [f"requirepass {_conf_quote(sentinel_password)}",
                       f"sentinel sentinel-pass {_conf_quote(sentinel_password)}"]
        if tls is not None:
            cert, key = tls[1]
            config += [f"tls-cert-file {_conf_quote(cert)}", f"tls-key-file {_conf_quote(key)}",
                       f"tls-ca-cert-file {_conf_quote(tls[0].ca_cert)}",
                       "tls-auth-clients no", "tls-replication yes"]
        self.sentinel_servers = []
        for i in range(sentinels):
            own = list(config)
            tls_port = None
            if tls is not None:
                tls_port = free_port()
                own.append(f"tls-port {tls_port}")
            server = SentinelServer(scope.dir, f"sentinel{i}", own, password=sentinel_password)
            server.tls_port = tls_port
            scope.servers.append(server)
            self.sentinel_servers.append(server.start())
        _await(self._ready_check, self.READY_TIMEOUT_S,
               "every sentinel to know the master, its replicas and the other sentinels")
        self.wait_synced(timeout=self.READY_TIMEOUT_S)

    def announced_port(self, server):
        """The port by which the nodes and sentinels know server: its TLS port with tls."""
        return server.tls_port if self.tls is not None else server.port

    def _ready_check(self):
        want_replicas = {self.announced_port(s) for s in self.replica_servers}
        for sentinel in self.sentinel_servers:
            where = f"sentinel {sentinel.port}"
            addr = _call(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)
            if addr is None or int(addr[1]) != self.announced_port(self.master_server):
                return False, f"{where} names master {addr}"
            master = _fields(_call(sentinel, "SENTINEL", "MASTER", self.name))
            if master.get("flags") != "master":
                return False, f"{where}: master flags {master.get('flags')}"
            known = {}
            for entry in _call(sentinel, "SENTINEL", "REPLICAS", self.name):
                fields = _fields(entry)
                known[int(fields["port"])] = fields.get("flags", "")
            if set(known) != want_replicas or any(f != "slave" for f in known.values()):
                return False, f"{where} knows replicas {known}"
            others = [_fields(e) for e in _call(sentinel, "SENTINEL", "SENTINELS", self.name)]
            if (len(others) != len(self.sentinel_servers) - 1
                    or any(o.get("flags") != "sentinel" for o in others)):
                return False, (f"{where} knows sentinels "
                               f"{[(o.get('port'), o.get('flags')) for o in others]}")
        return True, "ready"

    # -- servers and addresses

    def data_servers(self):
        """The master as started, then the replicas as started (roles change)."""
        return [self.master_server] + self.replica_servers

    def url(self, scheme=None, name=None, params="", password=None):
        """redis+sentinel://[:PASSWORD@]127.0.0.1:S1,127.0.0.1:S2,.../NAME[?params].

        The password (the data nodes', percent-encoded) is master_password unless given
        ("" for none)."""
        if password is None:
            password = self.master_password or ""
        if scheme is None:
            scheme = "rediss+sentinel" if self.tls is not None else "redis+sentinel"
        auth = f":{urllib.parse.quote(password, safe='')}@" if password else ""
        hosts = ",".join(f"127.0.0.1:{self.announced_port(s)}" for s in self.sentinel_servers)
        return (f"{scheme}://{auth}{hosts}/{name or self.name}"
                + (f"?{params}" if params else ""))

    # -- roles

    def _named_master(self):
        """(the master port all running sentinels name, or None when they differ; detail)"""
        named = {}
        for sentinel in _live(self.sentinel_servers):
            addr = _call(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)
            named[sentinel.port] = int(addr[1]) if addr else None
        ports = set(named.values())
        if len(ports) != 1 or None in ports:
            return None, f"the sentinels name {named}"
        return ports.pop(), f"the sentinels name {named}"

    def current_master(self, timeout=20):
        """The data node every running sentinel names as master (waits until they agree)."""
        port = _await(self._named_master, timeout,
                      "the running sentinels to agree on the master")
        return _by_port(self.data_servers(), port, "the sentinels")

    def failover(self, timeout=30):
        """SENTINEL FAILOVER on a running sentinel; waits until every running sentinel names
        one and the same new master, and returns it. The old master is demoted (by a
        sentinel, some seconds later) without waiting for it: see wait_demoted()."""
        old = self.current_master()
        sentinel = _live(self.sentinel_servers)[0]

        def ask():
            try:
                _call(sentinel, "SENTINEL", "FAILOVER", self.name)
            except RespError as e:
                if not str(e).startswith("INPROG"):
                    return False, f"SENTINEL FAILOVER answered -{e}"
            return True, "started"
        _await(ask, timeout, f"sentinel {sentinel.port} to accept SENTINEL FAILOVER")

        def check():
            port, detail = self._named_master()
            return (port if port not in (None, old.port, old.tls_port) else None), detail
        port = _await(check, timeout, f"the sentinels to name a master other than {old.port}")
        return _by_port(self.data_servers(), port, "the sentinels")

    def wait_demoted(self, server, timeout=30):
        """Waits until server says (ROLE) it is a replica."""
        def check():
            kind, of, _ = _role(server)
            return kind == "slave", f"{server.port} is {kind}" + (f" of {of}" if of else "")
        _await(check, timeout, f"{server.port} to be demoted to a replica")

    def wait_synced(self, timeout=20):
        """Waits until every running replica has acknowledged (to its master) the master's
        replication offset as it was when this was called."""
        _wait_synced(self.data_servers(), timeout)


def _fields(flat):
    """A flat [name, value, ...] reply as a dict of strings."""
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


__all__ = ["Cluster", "SentinelSet", "SentinelServer", "crc16_slot", "SLOTS"]
