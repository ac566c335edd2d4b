"""At a terminal: the command reads the terminal as its foreground process group, Ctrl-C
reaches it, and Ctrl-Z stops the whole job and `fg` continues it, as without rwith. An
interactive bash runs in a pseudo-terminal, like a person at a shell."""

import fcntl
import os
import pty
import re
import select
import shlex
import signal
import struct
import sys
import termios
import time

import harness
from harness import Scope


class Terminal:
    """An interactive bash on a pseudo-terminal, driven by typing and reading."""

    def __init__(self, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ.update(env)
            os.environ["PS1"] = "PROMPT> "
            os.environ["TERM"] = "dumb"
            os.execvp("bash", ["bash", "--norc", "--noprofile", "--noediting", "-i"])
        self.seen = ""
        self.transcript = ""  # everything the terminal showed
        self.expect("PROMPT> ")

    def type(self, text):
        os.write(self.fd, text.encode())

    def expect(self, pattern, timeout=20):
        """Reads until `pattern` (a regex) appears in what the terminal showed since the
        last match; returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.seen)
            if found:
                self.seen = self.seen[found.end():]
                return found
            left = deadline - time.monotonic()
            assert left > 0, f"the terminal never showed {pattern!r}; it showed:\n{self.seen}"
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.1))
            if ready:
                try:
                    text = os.read(self.fd, 4096).decode(errors="replace")
                    self.seen += text
                    self.transcript += text
                except OSError:
                    pass

    def status_of_last(self):
        self.type("echo rc=$?\n")
        return int(self.expect(r"rc=(\d+)").group(1))

    def close(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def shell_terminal(srv):
    return Terminal({"RWITH_REDIS_URL": srv.url()})


def test_command_reads_terminal_in_foreground():
    with Scope("tty-read") as sc:
        srv = sc.redis()
        lock = sc.lock("read")
        term = shell_terminal(srv)
        try:
            script = ('fg=$(ps -o tpgid= -p $$ | tr -d " "); pg=$(ps -o pgid= -p $$ | tr -d " "); '
                      '[ "$fg" = "$pg" ] && echo FOREGROUND || echo BACKGROUND; '
                      'read line; echo "got:$line"')
            term.type(f"{shlex.quote(harness.RWITH)} {lock} -- sh -c {shlex.quote(script)}\n")
            term.expect("FOREGROUND")
            term.type("hello\n")
            term.expect("got:hello")
            term.expect("PROMPT> ")
            assert term.status_of_last() == 0
        finally:
            term.close()


def test_ctrl_c_reaches_command():
    with Scope("tty-int") as sc:
        srv = sc.redis()
        lock = sc.lock("int")
        started = sc.path("started")
        term = shell_terminal(srv)
        try:
            term.type(f"{shlex.quote(harness.RWITH)} {lock} -- sh -c "
                      f"{shlex.quote(f'echo up > {started}; exec sleep 60')}\n")
            harness.wait_for_file(started, 20, "the command to start")
            term.type("\x03")
            term.expect("PROMPT> ")
            assert term.status_of_last() == 130, "Ctrl-C: the command's status 130 (SIGINT)"
            # The lock was released: a non-blocking run gets it at once.
            term.type(f"{shlex.quote(harness.RWITH)} -n {lock} -- echo FREE-AGAIN\n")
            term.expect("FREE-AGAIN")
        finally:
            term.close()


def test_ctrl_c_stops_a_loop():
    """`for i in 1 2 3; do rwith L -- sleep 60; done` and Ctrl-C: the loop stops, as around
    flock (bash ends a loop only when its child died of SIGINT: rwith dies of it too), and
    the lock is free. Also Ctrl-C while waiting for the lock stops the loop."""
    with Scope("tty-loop") as sc:
        srv = sc.redis()
        lock = sc.lock("loop")
        rounds, waited = sc.path("rounds"), sc.path("waited")
        term = shell_terminal(srv)
        rwith = shlex.quote(harness.RWITH)
        # The marker as typed ('LOOP""-ENDED') differs from the marker as printed.
        ended = 'echo LOOP""-ENDED-$?\n'
        try:
            command = shlex.quote(f"echo x >> {rounds}; exec sleep 60")
            term.type(f"for i in 1 2 3; do {rwith} {lock} -- sh -c {command}; done; {ended}")
            harness.wait_for_file(rounds, 20, "the first round's command to start")
            term.type("\x03")
            assert term.status_of_last() == 130
            holder = harness.hold(sc, srv.url(), lock)
            term.type(f"for i in 1 2 3; do echo w >> {waited}; {rwith} {lock} -- true; done; "
                      f"{ended}")
            harness.wait_waiters(sc, srv.url(), lock, 1)
            term.type("\x03")
            assert term.status_of_last() == 130
            assert "LOOP-ENDED" not in term.transcript, f"a loop went on:\n{term.transcript}"
            assert harness.read_file(rounds).count("x") == 1, "a second round ran"
            assert harness.read_file(waited).count("w") == 1, "a second round waited"
            harness.finish(holder)
        finally:
            term.close()


def screen_lines(transcript):
    """What a terminal shows for `transcript`: each line as the carriage returns and the
    overwriting leave it."""
    shown = []
    for raw in transcript.replace("\r\n", "\n").split("\n"):
        line = ""
        for part in raw.split("\r"):
            line = part + line[len(part):]
        shown.append(line.rstrip())
    return shown


def test_live_waiting_line():
    """At a terminal a waiting rwith shows one line, redrawn in place (no newline) each
    second, with how long it has waited, whom it waits for and how many are ahead; once it
    gets the lock the line is gone from the screen and the command's output follows."""
    with Scope("tty-live") as sc:
        srv = sc.redis()
        url = srv.url()
        lock = sc.lock("live")
        holder = harness.hold(sc, url, lock, "H", extra=["-T", "long job"])
        ahead = harness.queue_waiter(sc, url, lock, "W", 1)
        term = shell_terminal(srv)
        # Wide enough for the whole line (it is cut to the terminal's width).
        fcntl.ioctl(term.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 300, 0, 0))
        try:
            term.type(f"{shlex.quote(harness.RWITH)} {lock} -- echo GOT-""IT\n")
            harness.wait_waiters(sc, url, lock, 2)
            term.expect(r"waited [2-9]s", timeout=20)
            harness.finish(holder, ahead)
            term.expect("GOT-IT")
            term.expect("PROMPT> ")
            assert term.status_of_last() == 0
        finally:
            term.close()
        raw = term.transcript
        drawn = re.findall(r"\rrwith: waiting for '([^']*)' held by [^\r\n]*"
                           r"\(task 'long job'\) for \d+s; waited (\d+)s, 1 ahead", raw)
        assert len(drawn) >= 3 and {lock} == {name for name, _ in drawn}, \
            f"no line redrawn in place with the holder and the one ahead:\n{raw!r}"
        seconds = [int(n) for _, n in drawn]
        assert seconds == sorted(seconds) and seconds[-1] >= 2, seconds
        shown = screen_lines(raw)
        assert not any("waiting" in line for line in shown), f"the line stayed:\n{shown}"
        assert any(line.endswith("GOT-IT") for line in shown), shown


def test_ctrl_z_stops_job_and_fg_continues():
    with Scope("tty-stop") as sc:
        srv = sc.redis()
        lock = sc.lock("stop")
        started = sc.path("started")
        go = sc.path("go")
        term = shell_terminal(srv)
        try:
            # A command that never forks: dash vfork()s `sleep`, and a Ctrl-Z that stops the
            # vfork child before its exec leaves the parent sh unable to stop (it waits in the
            # kernel for the exec), so no shell, with or without rwith, would see the job stop.
            program = sc.path("command.py")
            with open(program, "w") as f:
                f.write(f"import os, sys, time\nopen({str(started)!r}, 'w').write('up')\n"
                        f"while not os.path.exists({str(go)!r}):\n    time.sleep(0.05)\n"
                        "print('FINISHED', flush=True)\nsys.exit(5)\n")
            term.type(f"{shlex.quote(harness.RWITH)} {lock} -- "
                      f"{shlex.quote(sys.executable)} {shlex.quote(str(program))}\n")
            harness.wait_for_file(started, 20, "the command to start")
            term.type("\x1a")
            term.expect(r"Stopped")
            term.expect("PROMPT> ")
            # Stopped, the job still holds its lock.
            term.type(f"{shlex.quote(harness.RWITH)} -n {lock} -- true; echo held-rc=$?\n")
            term.expect(r"held-rc=1")
            term.expect("PROMPT> ")
            with open(go, "w"):
                pass
            term.type("fg\n")
            term.expect("FINISHED")
            term.expect("PROMPT> ")
            assert term.status_of_last() == 5, "the command's own status after fg"
            term.type(f"{shlex.quote(harness.RWITH)} -n {lock} -- echo FREE-AGAIN\n")
            term.expect("FREE-AGAIN")
        finally:
            term.close()


def test_background_job_of_a_script_leaves_the_terminal_to_the_script():
    """`rwith ... &` in a script: the shell (without job control) ignores SIGINT and SIGQUIT
    for it and keeps the terminal. rwith must not take the terminal for the command, or
    Ctrl-C would reach nobody: the script's own process group must stay in the foreground."""
    with Scope("tty-async") as sc:
        srv = sc.redis()
        lock = sc.lock("async")
        pidfile = sc.path("cmd.pid")
        term = shell_terminal(srv)
        try:
            command = f"echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; exec sleep 60"
            script = (f"{shlex.quote(harness.RWITH)} -q {lock} -- sh -c {shlex.quote(command)} & "
                      "wait; echo SCRIPT-DONE")
            term.type(f"sh -c {shlex.quote(script)}\n")
            cmd_pid = int(harness.wait_for_file(pidfile, 20, "the command to start"))
            try:
                # Ctrl-C goes to the terminal's foreground group: the script's, which dies.
                term.type("\x03")
                term.expect("PROMPT> ", timeout=10)
                assert term.status_of_last() == 130, "Ctrl-C ended the script"
                # The background job goes on, as without rwith (SIGINT ignored).
                assert harness.pid_alive(cmd_pid), "the background command died of Ctrl-C"
            finally:
                os.kill(cmd_pid, signal.SIGKILL)
            # rwith released the lock when its command ended.
            harness.wait_until(lambda: sc.try_lock(srv.url(), lock).status == 0, 20,
                               "the background rwith to release the lock")
        finally:
            term.close()


def test_background_job_of_a_script_gets_the_terminal_when_it_reads_it():
    """The script case above, but the command reads the terminal: it must get it (as it
    would without rwith, in the script's foreground group), not stop for ever."""
    with Scope("tty-async-read") as sc:
        srv = sc.redis()
        lock = sc.lock("async-read")
        term = shell_terminal(srv)
        try:
            command = "echo ASK''ING; read answer < /dev/tty; echo \"GOT $answer\""
            script = (f"{shlex.quote(harness.RWITH)} -q {lock} -- sh -c {shlex.quote(command)} & "
                      "wait $!; echo SCRIPT-DONE-$?")
            term.type(f"sh -c {shlex.quote(script)}\n")
            term.expect("ASKING")
            time.sleep(0.3)  # let it block on the terminal
            term.type("hel""lo\n")
            term.expect("GOT hello")
            term.expect("SCRIPT-DONE-0")
            term.expect("PROMPT> ")
            sc.try_lock(srv.url(), lock).expect(0, "released after the command")
        finally:
            term.close()


def test_background_job_that_reads_the_terminal_stops_until_fg():
    """`rwith ... &` at an interactive shell: a command that reads the terminal stops the
    job (the shell says so), and `fg` lets it read, as without rwith."""
    with Scope("tty-bg-read") as sc:
        srv = sc.redis()
        lock = sc.lock("bg-read")
        term = shell_terminal(srv)
        try:
            command = "echo ASK''ING; read answer; echo \"GOT $answer\"; exit 4"
            term.type(f"{shlex.quote(harness.RWITH)} -q {lock} -- sh -c {shlex.quote(command)} &\n")
            term.expect("ASKING")
            # The shell notices the stop a moment later: ask until it says so.
            deadline = time.monotonic() + 20
            while True:
                term.type("jobs\n")
                state = term.expect(r"\[1\]\+\s+(Stopped|Running)").group(1)
                term.expect("PROMPT> ")
                if state == "Stopped":
                    break
                assert time.monotonic() < deadline, "the job never stopped to read the terminal"
                time.sleep(0.2)
            term.type("fg\n")
            time.sleep(0.3)
            term.type("hel""lo\n")
            term.expect("GOT hello")
            term.expect("PROMPT> ")
            assert term.status_of_last() == 4, "the command's own status after fg"
            sc.try_lock(srv.url(), lock).expect(0, "released after the command")
        finally:
            term.close()


if __name__ == "__main__":
    harness.main(globals())
