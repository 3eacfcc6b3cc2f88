"""Progress for conversions that take longer than a second (onnx2tf takes tens of seconds)."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

DELAY_S = 1.0


@contextlib.contextmanager
def progress(what: str, *, stream: TextIO | None = None, delay_s: float = DELAY_S) -> Iterator[None]:
    """Print ``what`` with the elapsed seconds on stderr once it has run past ``delay_s``, then every 5 s."""
    out = stream or sys.stderr
    done = threading.Event()
    start = time.monotonic()

    def report() -> None:
        wait = delay_s
        while not done.wait(wait):
            out.write(f"facade: {what}... {time.monotonic() - start:.0f} s\n")
            out.flush()
            wait = 5.0

    thread = threading.Thread(target=report, name="facade-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if time.monotonic() - start > delay_s:
            out.write(f"facade: {what}: done in {time.monotonic() - start:.1f} s\n")
            out.flush()
