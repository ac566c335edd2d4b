"""Runs one integration test case and exits 0 (passed) or 1 (failed).

Usage: run_case.py test_file.py:case   (the environment variable RWITH names the binary)

A case passes when its function returns, and fails on any exception, whose reason is
printed. A watchdog turns a hung case into a failure (with cleanup) before meson's own
timeout would kill this process without letting it stop its servers.
"""

import importlib.util
import os
import signal
import sys
import time
import traceback

WATCHDOG_S = int(os.environ.get("RWITH_CASE_TIMEOUT", "110"))


class CaseTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise CaseTimeout(f"the case did not finish within {WATCHDOG_S} s")


def on_term(signum, frame):
    raise CaseTimeout(f"interrupted by signal {signum}")


def main():
    if len(sys.argv) != 2 or ":" not in sys.argv[1]:
        sys.stderr.write("usage: run_case.py test_file.py:case\n")
        return 2
    file_name, case = sys.argv[1].split(":", 1)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    spec = importlib.util.spec_from_file_location(file_name[:-3], os.path.join(here, file_name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    func = getattr(module, "test_" + case, None)
    if func is None:
        sys.stderr.write(f"FAIL {sys.argv[1]}: no function test_{case} in {file_name}\n")
        return 1
    import harness
    print(f"rwith under test: {harness.RWITH}", flush=True)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(WATCHDOG_S)
    t0 = time.monotonic()
    try:
        func()
    except BaseException as e:  # noqa: BLE001 - any exception fails the case
        signal.alarm(0)
        traceback.print_exc()
        reason = str(e).strip() or type(e).__name__
        sys.stderr.write(f"\nFAIL {sys.argv[1]} after {time.monotonic() - t0:.1f} s:\n{reason}\n")
        sys.stderr.flush()
        return 1
    signal.alarm(0)
    print(f"PASS {sys.argv[1]} ({time.monotonic() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
