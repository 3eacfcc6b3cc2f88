"""Plain-text tables: how the CLI and ``explain()`` show rows to people, laid out by rich.

The last column holds the long text (reasons, actions). On a terminal the table is
fitted to the terminal's width by wrapping that column at word boundaries, under a
rule as wide as the table; the other columns never wrap, so a target name stays whole.
In a pipe or a log there is no width to fit: lines stay whole, so grep still finds a
reason, and there is no rule (it would be as wide as the longest reason).
The text is plain either way (no colour codes), because a table also ends up in
``str(trace)``, logs and files.
"""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

UNBOUNDED = 1_000_000  # the width a table is laid out at when lines stay whole


def terminal_width() -> int | None:
    """The terminal's width when stdout is one, else ``None`` (no wrapping in pipes and logs)."""
    stream = sys.stdout
    if not (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return shutil.get_terminal_size(fallback=(100, 24)).columns


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]], width: int | None = None) -> list[str]:
    """Left-aligned columns two spaces apart; the lines of the table, without trailing spaces.

    ``width``: fit the table to this many columns by wrapping the last one, with a rule under
    the header; default the terminal's width on a terminal. ``0`` (and a pipe): whole lines, no rule.
    """
    width = terminal_width() if width is None else width
    table = Table(box=box.SIMPLE_HEAD if width else None, show_edge=False, pad_edge=False, padding=(0, 1),
                  collapse_padding=bool(width), header_style="", expand=False)
    for i, name in enumerate(header):
        last = i == len(header) - 1
        table.add_column(str(name), no_wrap=not last, overflow="fold" if last else "ellipsis")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    out = io.StringIO()
    Console(file=out, width=width or UNBOUNDED, color_system=None, markup=False, emoji=False, highlight=False,
            legacy_windows=False).print(table)
    return [line.rstrip() for line in out.getvalue().splitlines()]
