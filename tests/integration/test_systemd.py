"""systemd's notification protocol: with $NOTIFY_SOCKET set, rwith says in STATUS= whom it
waits for, sends READY=1 only once the lock is held and the command has started (or leaves
READY=1 to the command with --notify-ready=command), and STOPPING=1 when the command has
exited. The socket here is the test's own, read with the sender's credentials, as systemd
reads them."""

import os
import socket
import struct
import threading
import time

import harness
from harness import Holder, Scope, wait_until

SCM_CREDENTIALS = 2
SO_PASSCRED = 16


class NotifySocket:
    """A datagram socket like systemd's: collects (pid, {key: value}, arrival) per message."""

    def __init__(self, sc, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_PASSCRED, 1)
        if abstract:
            name = f"rwith-test-notify-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = sc.path("notify.sock")
            self.sock.bind(self.address)
        self.messages = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while not self.closed:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except OSError:
                return
            pid = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == SCM_CREDENTIALS:
                    pid = struct.unpack("iII", payload[:12])[0]
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            with self.lock:
                self.messages.append((pid, fields, time.monotonic()))

    def close(self):
        self.closed = True
        self.sock.close()

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def find(self, key, value=None):
        """The first message with key (= value), or None."""
        for msg in self.snapshot():
            if key in msg[1] and (value is None or msg[1][key] == value):
                return msg
        return None

    def wait_for(self, key, value=None, timeout=20):
        return wait_until(lambda: self.find(key, value), timeout, f"a {key}= notification")

    @property
    def env(self):
        return {"NOTIFY_SOCKET": self.address}


def test_ready_only_once_the_lock_is_held_and_the_command_runs():
    with Scope("sd-ready") as sc:
        server = sc.redis()
        url, lock = server.url(), sc.lock("ready")
        notify = NotifySocket(sc)
        first = Holder(sc, url, lock, "first", extra=["-T", "nightly-billing"])
        first.started()
        ready = sc.path("ready")
        rwith = sc.start(["-r", url, lock, "--", "sh", "-c",
                          harness.sh_ready_then_sleep(ready, 100)], env=notify.env)
        # While it waits: a status that names the holder, and no READY=1.
        pid, fields, _ = notify.wait_for("STATUS")
        assert pid == rwith.pid, f"the status came from pid {pid}, not rwith ({rwith.pid})"
        assert "Waiting" in fields["STATUS"] and "nightly-billing" in fields["STATUS"], fields
        time.sleep(0.5)
        assert notify.find("READY") is None, "READY=1 while the lock was held by another"
        assert not os.path.exists(ready)

        released_at = time.monotonic()
        first.release()
        first.wait().expect(0)
        _, fields, ready_at = notify.wait_for("READY", "1")
        assert ready_at >= released_at, "READY=1 came before the lock was free"
        assert "Holding" in fields.get("STATUS", ""), f"READY=1 without the holding status: {fields}"
        harness.wait_for_file(ready)
        holders = harness.lock_status(sc, url, lock)["holders"]
        assert holders and holders[0]["pid"] == rwith.pid, f"the lock is not rwith's: {holders}"
        assert notify.find("STOPPING") is None, "STOPPING=1 while the command runs"

        # The command ends: STOPPING=1, and the command's own status.
        os.kill(int(harness.read_file(ready)), 15)
        rwith.wait().expect(128 + 15, "the command was killed by SIGTERM")
        notify.wait_for("STOPPING", "1")
        notify.close()


def test_ready_left_to_the_command():
    with Scope("sd-command-ready") as sc:
        server = sc.redis()
        notify = NotifySocket(sc)
        # A notify-aware command: sends READY=1 itself to the socket it inherited.
        sender = ("import os, socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
                  "a = os.environ['NOTIFY_SOCKET']; "
                  "s.sendto(b'READY=1\\nSTATUS=serving', '\\0' + a[1:] if a[0] == '@' else a); "
                  "open(os.environ['DONE'], 'w').close()")
        done = sc.path("done")
        rwith = sc.start(["-r", server.url(), "--notify-ready=command", sc.lock("cmd"), "--",
                          "python3", "-c", sender], env={**notify.env, "DONE": done})
        rwith.wait().expect(0)
        assert os.path.exists(done), "the command did not run"
        pid, fields, _ = notify.wait_for("READY", "1")
        assert pid != rwith.pid, "rwith sent READY=1 although --notify-ready=command"
        assert fields.get("STATUS") == "serving"
        statuses = [m for m in notify.snapshot() if m[0] == rwith.pid]
        assert any("Holding" in m[1].get("STATUS", "") for m in statuses), \
            f"rwith sent no status of its own: {notify.snapshot()}"
        assert not any("READY" in m[1] for m in statuses), "rwith sent READY=1"
        notify.close()


def test_abstract_socket():
    with Scope("sd-abstract") as sc:
        server = sc.redis()
        notify = NotifySocket(sc, abstract=True)
        rwith = sc.start(["-r", server.url(), sc.lock("abs"), "--", "true"], env=notify.env)
        rwith.wait().expect(0)
        pid, _, _ = notify.wait_for("READY", "1")
        assert pid == rwith.pid, f"READY=1 came from pid {pid}, not rwith ({rwith.pid})"
        notify.wait_for("STOPPING", "1")
        notify.close()


def test_lost_lock_status():
    with Scope("sd-lost") as sc:
        server = sc.redis()
        url, lock = server.url(), sc.lock("lost")
        notify = NotifySocket(sc)
        ready = sc.path("ready")
        rwith = sc.start(["-r", url, "--ttl", "3s", lock, "--", "sh", "-c",
                          harness.sh_ready_then_sleep(ready, 100)], env=notify.env)
        harness.wait_for_file(ready)
        notify.wait_for("READY", "1")
        sc.run(["-r", url, "--break", lock]).expect(0)
        rwith.wait(timeout=30).expect(harness.EX_LOST, "the lock was broken")
        _, fields, _ = wait_until(
            lambda: next((m for m in notify.snapshot() if "Lost" in m[1].get("STATUS", "")), None),
            20, "a status that says the lock was lost")
        assert lock in fields["STATUS"]
        assert notify.find("STOPPING") is None, "STOPPING=1 for a lost lock"
        notify.close()


def test_unusable_socket_changes_nothing():
    with Scope("sd-nobody") as sc:
        server = sc.redis()
        for address in (sc.path("no-such.sock"), "vsock:2:1234", "relative/path"):
            res = sc.run(["-r", server.url(), sc.lock("none"), "--", "sh", "-c", "exit 3"],
                         env={"NOTIFY_SOCKET": address})
            res.expect(3, f"NOTIFY_SOCKET={address}")
            assert res.stderr == "", f"rwith complained about NOTIFY_SOCKET:\n{res.describe()}"


def test_notify_socket_is_not_inherited_as_a_descriptor():
    with Scope("sd-cloexec") as sc:
        server = sc.redis()
        notify = NotifySocket(sc)
        res = sc.run(["-r", server.url(), sc.lock("fd"), "--", "sh", "-c",
                      "ls -l /proc/$$/fd | grep -c socket || true"], env=notify.env)
        res.expect(0)
        assert res.out.strip() == "0", f"the command inherited sockets:\n{res.describe()}"
        notify.close()


if __name__ == "__main__":
    harness.main(globals())
