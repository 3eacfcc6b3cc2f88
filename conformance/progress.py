"""A progress bar on stderr: redrawn in place on a terminal, one line per tenth elsewhere (CI logs)."""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    """Counts steps out of ``total`` and shows the current label."""

    def __init__(self, total: int, *, stream: TextIO | None = None, enabled: bool = True, width: int = 30):
        self.total, self.done, self.width = max(total, 1), 0, width
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._tenth = -1

    def _bar(self, label: str) -> str:
        filled = self.width * self.done // self.total
        pct = 100 * self.done // self.total
        return f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} {pct:3d}% {label}"

    def step(self, label: str = "") -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\033[K" + self._bar(label)[:160])
        elif (tenth := 10 * self.done // self.total) != self._tenth:
            self._tenth = tenth
            self.stream.write(self._bar(label) + "\n")
        self.stream.flush()

    def show(self, label: str) -> None:
        """Redraw with a new label and no step (e.g. what is being measured now); on a terminal only."""
        if self.tty:
            self.stream.write("\r\033[K" + self._bar(label)[:160])
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
