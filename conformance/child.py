"""The parent's side of a column's child process: start, ask, time out, notice a crash, restart."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from facade import childproc


@dataclass
class ChildFailure:
    """The child died (``signal`` set, or a non-zero exit) or went silent past the timeout."""

    error: str
    signal: str | None = None


class ColumnProcess:
    """One ``facade.conformance.worker`` child for a (target, precision) column."""

    def __init__(self, target: str, precision: str, log: Path):
        self.target, self.precision, self.log = target, precision, log
        self.proc: subprocess.Popen | None = None
        self._buffer = b""

    def _tail(self) -> str:
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def start(self) -> dict | ChildFailure:
        """Start the child and return its hello (availability of the target in a fresh process)."""
        self.stop()
        with self.log.open("ab") as err:
            self.proc = childproc.spawn([sys.executable, "-m", "facade.conformance.worker", self.target,
                                         self.precision], stdin=subprocess.PIPE, stderr=err)
        self._buffer = b""
        return self._read(childproc.timeout("start"))

    def ask(self, request: dict, timeout: float) -> dict | ChildFailure:
        """Send one request; the reply, or how the child failed. A failed child is gone afterwards."""
        if self.proc is None or self.proc.poll() is not None:
            hello = self.start()
            if isinstance(hello, ChildFailure):
                return hello
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return self._died("while receiving the case")
        return self._read(timeout)

    def _read(self, timeout: float) -> dict | ChildFailure:
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.kill()
                    return ChildFailure(f"timed out after {timeout:g} s (child killed)", None)
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return self._died("while running the case")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def _died(self, when: str) -> ChildFailure:
        code = self.proc.wait()
        self.proc = None
        sig = childproc.signal_name(code)
        what = f"killed by {sig}" if sig else f"exited with status {code}"
        tail = self._tail()
        return ChildFailure(f"child process {what} {when}" + (f"; last stderr line: {tail}" if tail else ""), sig)

    def kill(self) -> None:
        """Kill the child this object started, now (it hung)."""
        if self.proc is not None:
            proc, self.proc = self.proc, None
            childproc.kill(proc)

    def stop(self) -> None:
        """End the child this object started (close stdin, then kill if it lingers)."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                childproc.kill(proc)
