"""Shell completions: every long option of `rwith --help` is offered by the bash and zsh
completions, bash completes options, durations and (after --) commands, and the zsh file
is valid zsh."""

import os
import re
import subprocess

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASH_FILE = os.path.join(ROOT, "completions", "rwith.bash")
ZSH_FILE = os.path.join(ROOT, "completions", "_rwith")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"


def long_options():
    out = subprocess.run([harness.RWITH, "--help"], capture_output=True, text=True, check=True)
    return sorted(set(re.findall(r"(--[a-z][a-z-]+)", out.stdout)))


def bash_complete(words):
    """COMPREPLY for the command line `words` (the last one being completed)."""
    line = " ".join(words)
    script = (f"source {BASH_COMPLETION}; source {BASH_FILE}; "
              "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); "
              f"COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}; _rwith 2>/dev/null; "
              "printf '%s\\n' \"${COMPREPLY[@]}\"")
    out = subprocess.run(["bash", "-c", script, "bash", *words], capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def test_every_long_option_is_offered():
    options = long_options()
    assert "--status" in options and "--min-hold" in options, options
    with open(BASH_FILE) as f:
        bash = f.read()
    with open(ZSH_FILE) as f:
        zsh = f.read()
    missing = [o for o in options if o not in bash.split() and o not in re.split(r"[\s']", bash)]
    assert not missing, f"bash completion lacks {missing}"
    missing = [o for o in options if o not in zsh]
    assert not missing, f"zsh completion lacks {missing}"


def test_bash_completes_options_durations_and_commands():
    assert os.path.exists(BASH_COMPLETION), "bash-completion is not installed"
    assert bash_complete(["rwith", "--min"]) == ["--min-hold"]
    assert "--timeout" in bash_complete(["rwith", "--ti"])
    assert "30s" in bash_complete(["rwith", "-t", ""])
    assert bash_complete(["rwith", "--notify-ready", ""]) == ["rwith", "command"]
    # After --, the command is completed as a command: `ech` gives echo.
    assert "echo" in bash_complete(["rwith", "L", "--", "ech"])
    # The lock name is free text: nothing is offered for it.
    assert bash_complete(["rwith", "dep"]) == []


def test_zsh_file_is_valid():
    res = subprocess.run(["zsh", "-n", ZSH_FILE], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    with open(ZSH_FILE) as f:
        assert f.readline().startswith("#compdef rwith")
