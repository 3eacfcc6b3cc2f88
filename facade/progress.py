"""Progress on stderr, drawn by rich: what bench, conformance runs and slow conversions show while they work.

On a terminal rich redraws one live line in place. Anywhere else (a pipe, a CI log,
a file, a dumb terminal) nothing is redrawn: there are no ``\\r`` frames and no
escape codes, only one plain line per finished item, so a log reads top to bottom
and ``grep`` finds a target.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

from rich import progress as rp
from rich.console import Console
from rich.errors import LiveError
from rich.table import Column

DELAY_S = 1.0  # a conversion shorter than this shows nothing


def _console(stream: TextIO | None) -> Console:
    return Console(file=stream or sys.stderr, highlight=False, markup=False, emoji=False, soft_wrap=True)


def _live(console: Console) -> bool:
    """Whether ``console`` takes redrawn lines: a real terminal, not a dumb one.

    The stream itself is asked, not rich's ``is_terminal``: that one also says yes to a
    pipe when FORCE_COLOR is set, and a CI log would fill with redrawn frames.
    """
    isatty = getattr(console.file, "isatty", None)
    return bool(isatty and isatty()) and not console.is_dumb_terminal


def _display(console: Console, *columns: rp.ProgressColumn, transient: bool) -> rp.Progress:
    label = rp.TextColumn("{task.fields[label]}", table_column=Column(no_wrap=True, overflow="ellipsis"))
    return rp.Progress(*columns, label, console=console, transient=transient, redirect_stdout=False,
                       redirect_stderr=False)


def _line(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")
    stream.flush()


class Progress:
    """Counts steps out of ``total``, showing the current label; use ``with`` or call :meth:`close`.

    Args:
        total: how many steps make the whole job.
        stream: where to draw (default stderr).
        enabled: ``False`` draws nothing (``--no-progress``).
    """

    def __init__(self, total: int, *, stream: TextIO | None = None, enabled: bool = True):
        self.total, self.done = max(total, 0), 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._start = time.monotonic()
        console = _console(self.stream)
        self._bar: rp.Progress | None = None
        if enabled and _live(console):
            self._bar = _display(console, rp.BarColumn(bar_width=30), rp.MofNCompleteColumn(),
                                 rp.TimeElapsedColumn(), transient=False)
            self._task = self._bar.add_task("", total=self.total or None, label="")
            self._bar.start()

    def step(self, label: str = "") -> None:
        """One step finished: ``label`` says which (on a terminal it becomes the current label)."""
        self.done += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, label=label)
        elif self.enabled:
            _line(self.stream, f"[{self.done}/{self.total}] {label} ({time.monotonic() - self._start:.1f} s)")

    def show(self, label: str) -> None:
        """What is being worked on now, without a step; on a terminal only (a log gets the finished line)."""
        if self._bar is not None:
            self._bar.update(self._task, label=label)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def elapsed(what: str, *, stream: TextIO | None = None, delay_s: float = DELAY_S) -> Iterator[None]:
    """Show ``what`` with the elapsed time once it has run past ``delay_s``, then how long it took.

    On a terminal a spinner with a clock, replaced by the final line; elsewhere one line
    when it has taken ``delay_s`` and one when it ends, nothing in between.
    """
    out = stream or sys.stderr
    console = _console(out)
    start = time.monotonic()
    lock = threading.Lock()
    shown: list[rp.Progress | None] = []  # empty: nothing shown yet; [None]: shown as a line

    def begin() -> None:
        with lock:
            if shown:
                return
            display = None
            if _live(console):
                display = _display(console, rp.SpinnerColumn(), rp.TimeElapsedColumn(), transient=True)
                display.add_task("", total=None, label=f"facade: {what}")
                try:
                    display.start()
                except LiveError:  # another live display (a progress bar) owns the terminal
                    display = None
            if display is None:
                _line(out, f"facade: {what}...")
            shown.append(display)

    timer = threading.Timer(delay_s, begin)
    timer.daemon = True
    timer.start()
    outcome = "done"
    try:
        yield
    except BaseException:
        outcome = "failed"
        raise
    finally:
        timer.cancel()
        with lock:
            if shown:
                if shown[0] is not None:
                    shown[0].stop()
                _line(out, f"facade: {what}: {outcome} in {time.monotonic() - start:.1f} s")
            shown.append(None)  # a late timer shows nothing
