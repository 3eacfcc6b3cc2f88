"""The one way facade starts a child process: spawn, timeout, crash/hang verdict, stderr capture.

Why children at all: loading a GPU driver, an NPU simulator or a converter may
abort, segfault or hang whoever does it, so probes, converters, device detection,
conformance workers and ``facade bench`` rows run it in a child and read what
came back. Every child gets the telemetry-off environment (:mod:`facade.offline`)
and its own process group, so a hung child is killed with whatever it started.

The timeouts are named settings in :data:`TIMEOUTS`, one table; the environment
variable ``FACADE_<NAME>_TIMEOUT_S`` overrides one (``FACADE_PROBE_TIMEOUT_S=5``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from facade.offline import child_env

#: Seconds each kind of child may run before it is judged hung and killed.
TIMEOUTS: Mapping[str, float] = {
    # Listing Vulkan/OpenCL devices through the system loaders; creating one MNN backend.
    "device": 10.0,
    # Loading and running a tiny model on a crash-prone target (QNN's HTP simulator needs a few
    # seconds even for that); building and running one OpenCL kernel.
    "probe": 60.0,
    # Importing a heavy frontend (torch, onnx2torch); a conformance worker importing facade and an
    # engine before its hello; one snpe-net-run call.
    "start": 120.0,
    # QNN's searches for the nodes HTP fails on (they stop themselves after 90 s).
    "search": 150.0,
    # One ``facade bench`` row: load, convert and time one target.
    "bench": 600.0,
}


def timeout(name: str) -> float:
    """The named timeout in seconds: ``FACADE_<NAME>_TIMEOUT_S`` if set to a number, else the table's."""
    default = TIMEOUTS[name]
    try:
        return float(os.environ.get(f"FACADE_{name.upper()}_TIMEOUT_S", default))
    except ValueError:
        return default


def signal_name(returncode: int | None) -> str | None:
    """``SIGABRT`` for a child killed by signal 6 (return code -6); None for a normal exit or a hang."""
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


@dataclass(frozen=True)
class Outcome:
    """How a child ended and what it printed. ``returncode`` is None when it hung and was killed."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    timeout_s: float
    seconds: float

    @property
    def hung(self) -> bool:
        return self.returncode is None

    @property
    def signal(self) -> str | None:
        """The signal that ended the child (``SIGSEGV``), None for an exit or a hang."""
        return signal_name(self.returncode)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def how(self) -> str:
        """How it ended, as a message says it: "was killed by signal 11", "exited with 2", "hung ..."."""
        if self.hung:
            return f"hung and was stopped after {self.timeout_s:g} s"
        if self.returncode < 0:
            return f"was killed by signal {-self.returncode}"
        return f"exited with {self.returncode}"

    def last_line(self, stream: str = "stderr", limit: int = 300) -> str:
        """The last non-empty line of ``stream`` ("stderr" or "stdout"), cut to ``limit`` characters."""
        lines = [ln for ln in getattr(self, stream).splitlines() if ln.strip()]
        return lines[-1].strip()[:limit] if lines else ""


def spawn(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
          stdin: int | None = subprocess.DEVNULL, stdout: object = subprocess.PIPE,
          stderr: object = subprocess.PIPE) -> subprocess.Popen:
    """Start ``argv`` with telemetry off (plus ``env``) in its own process group; the caller talks to it.

    For children that live on (a conformance worker answering requests); :func:`run` is the usual way.
    """
    return subprocess.Popen(list(argv), cwd=cwd, env=child_env(dict(env or {})), stdin=stdin, stdout=stdout,
                            stderr=stderr, start_new_session=True)


def kill(proc: subprocess.Popen) -> None:
    """Kill a child started by :func:`spawn` and everything in its process group, and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


def run(argv: Sequence[str], *, timeout_s: float, env: Mapping[str, str] | None = None, cwd: Path | None = None,
        merge_stderr: bool = False) -> Outcome:
    """Run ``argv`` to its end or to ``timeout_s`` (then kill its group): how it ended and what it printed.

    ``merge_stderr`` sends stderr into ``stdout`` in the order written (converters' logs).
    Raises OSError when the program cannot be started at all.
    """
    start = time.perf_counter()
    proc = spawn(argv, env=env, cwd=cwd, stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout_s)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        kill(proc)
        out, err = proc.communicate()
        code = None
    except BaseException:  # an interrupt: the child must not outlive the call
        kill(proc)
        raise
    return Outcome(tuple(argv), code, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace"),
                   timeout_s, time.perf_counter() - start)
