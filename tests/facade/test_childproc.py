"""facade.childproc: how a child ended (exit, crash, hang) and what it printed, with real processes."""

from __future__ import annotations

import sys
import time

from facade import childproc


def test_an_exit_is_reported_with_both_streams():
    done = childproc.run([sys.executable, "-c", "import sys; print('out'); print('bad', file=sys.stderr); sys.exit(3)"],
                         timeout_s=60)
    assert (done.returncode, done.ok, done.hung, done.signal) == (3, False, False, None)
    assert done.stdout.strip() == "out" and done.last_line() == "bad" and done.how == "exited with 3"


def test_a_crash_is_named_by_its_signal():
    done = childproc.run([sys.executable, "-c", "import os; os.abort()"], timeout_s=60)
    assert done.signal == "SIGABRT" and done.how == "was killed by signal 6"


def test_a_hang_is_killed_with_its_whole_process_group():
    # The child starts a grandchild that would outlive it; both must be gone when run() returns.
    code = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
            "time.sleep(60)']); print(p.pid, flush=True); time.sleep(60)")
    began = time.perf_counter()
    done = childproc.run([sys.executable, "-c", code], timeout_s=3)
    assert done.hung and done.returncode is None and "stopped after 3 s" in done.how
    assert time.perf_counter() - began < 30
    grandchild = int(done.stdout.split()[0])
    time.sleep(0.2)
    try:
        with open(f"/proc/{grandchild}/status") as f:
            state = next(line for line in f if line.startswith("State:"))
        assert "Z" in state  # reaped by init later; no longer running
    except FileNotFoundError:
        pass


def test_merged_output_keeps_the_order_written():
    code = "import sys; print('a', flush=True); print('b', file=sys.stderr, flush=True); print('c', flush=True)"
    done = childproc.run([sys.executable, "-c", code], timeout_s=60, merge_stderr=True)
    assert done.stdout.split() == ["a", "b", "c"] and done.stderr == ""


def test_children_run_with_telemetry_off_and_named_timeouts_can_be_overridden(monkeypatch):
    done = childproc.run([sys.executable, "-c", "import os; print(os.environ['ORT_DISABLE_TELEMETRY'])"],
                         timeout_s=60)
    assert done.stdout.strip() == "1"
    assert childproc.timeout("probe") == childproc.TIMEOUTS["probe"]
    monkeypatch.setenv("FACADE_PROBE_TIMEOUT_S", "2.5")
    assert childproc.timeout("probe") == 2.5
    monkeypatch.setenv("FACADE_PROBE_TIMEOUT_S", "soon")
    assert childproc.timeout("probe") == childproc.TIMEOUTS["probe"]
