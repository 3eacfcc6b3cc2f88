"""Plain-text tables: how the CLI and ``explain()`` show rows to people.

The last column holds the long text (reasons, actions). On a terminal it is
wrapped at word boundaries to the terminal's width, so a row never wraps
mid-column; in a pipe or a log lines stay whole, so grep still finds a reason.
Either way the rule under the header is never wider than the header needs.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Sequence

LAST_RULE_MAX = 40  # dashes under the last (long-text) column
LAST_MIN_WIDTH = 24  # the last column keeps at least this much room when wrapped


def terminal_width() -> int | None:
    """The terminal's width when stdout is one, else ``None`` (no wrapping in pipes and logs)."""
    stream = sys.stdout
    if not (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return shutil.get_terminal_size(fallback=(100, 24)).columns


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]], width: int | None = None) -> list[str]:
    """Left-aligned columns separated by two spaces, with a dashed rule under the header.

    ``width``: wrap the last column so lines fit; default the terminal's width on a terminal, else (and 0) no wrap.
    """
    width = terminal_width() if width is None else width
    cells = [list(map(str, header)), *([str(c) for c in r] for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    start = sum(w + 2 for w in widths[:-1])  # where the last column begins
    room = max(LAST_MIN_WIDTH, width - start) if width else None

    def line(row: Sequence[str]) -> list[str]:
        head = "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True))
        last = textwrap.wrap(row[-1], room, break_on_hyphens=False) if room and len(row[-1]) > room else [row[-1]]
        first = f"{head}  {last[0]}" if head else last[0]
        return [first.rstrip(), *((" " * start + more).rstrip() for more in last[1:])]

    rule = ["-" * w for w in widths[:-1]] + ["-" * min(widths[-1], max(len(header[-1]), LAST_RULE_MAX))]
    return [*line(cells[0]), *line(rule), *(out for r in cells[1:] for out in line(r))]
