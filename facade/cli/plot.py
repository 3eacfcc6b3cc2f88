"""Latency charts for ``facade bench --plot``: matplotlib when installed, else a small SVG with the same axis.

PNG needs matplotlib (``pip install 'facade-runtime[plot]'``); SVG always works.
Latency is on a log scale, because targets on one device differ by orders of
magnitude (a CPU engine in milliseconds next to a software GPU in seconds) and a
linear axis turns all but the slowest into slivers. Each target is a dot at p50 and
a tick at p90, joined by a line, the fastest on top; failed targets are listed
under them with their reason, not left out.
"""

from __future__ import annotations

import importlib.util
import math
import textwrap
from html import escape
from pathlib import Path

from facade.cache import atomic_write
from facade.cli.options import check_output_file
from facade.errors import InputError, format_message

P50, P90, FAILED_GREY = "#4c78a8", "#e45756", "#777777"
REASON_CHARS = 90  # a failed target's reason in the plot; the table has the whole of it


def check_plot_path(out: Path) -> Path:
    """Raise now, before a benchmark runs, if ``out`` cannot be drawn: its type, its library, its folder.

    Raises:
        InputError: a suffix other than .png/.svg, .png without matplotlib, or a missing folder.
    """
    suffix = out.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise InputError(format_message("Unsupported plot file type", where=f"--plot {out}",
                                        received=out.suffix or "no suffix", expected=".png or .svg"))
    if suffix == ".png" and importlib.util.find_spec("matplotlib") is None:
        raise InputError(format_message("PNG plots need matplotlib, which is not installed", where=f"--plot {out}",
                                        received=out.suffix,
                                        expected="pip install 'facade-runtime[plot]', or an .svg path"))
    return check_output_file(out, "--plot")


def plot_latency(rows: list[dict], out: Path, title: str) -> Path:
    """Draw p50/p90 latency per target to ``out`` (.png or .svg); failed rows are named with their reason."""
    check_plot_path(out)
    ok = sorted((r for r in rows if r.get("ok")), key=lambda r: r["p50_ms"])
    failed = [r for r in rows if not r.get("ok")]
    if importlib.util.find_spec("matplotlib") is not None:
        return _matplotlib(ok, failed, out, title)
    return atomic_write(out, svg(ok, failed, title).encode(), shared=True)


def failure_label(row: dict) -> str:
    """``failed: <reason>`` (or ``refused: ...``), cut at a word boundary."""
    kind = "refused" if row.get("refused") else "failed"
    return textwrap.shorten(f"{kind}: {row.get('error', '')}", REASON_CHARS, placeholder=" …")


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values at 1, 2 and 5 times the powers of ten between ``lo`` and ``hi``."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    return [m * 10.0**e for e in decades for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]


def tick_label(value: float) -> str:
    """``0.05``, ``2``, ``500``, ``2000``: plain numbers (the unit is on the axis title)."""
    return f"{value:.10g}"


def _limits(ok: list[dict]) -> tuple[float, float]:
    """The axis: from a bit under the fastest p50 to room right of the slowest p90 for its label.

    At least one decade wide, so that at least two 1-2-5 ticks are labelled.
    """
    lo = math.log10(max(min(r["p50_ms"] for r in ok), 1e-6)) - 0.15
    hi = max(math.log10(max(max(r["p90_ms"] for r in ok), 1e-6)) + 0.45, lo + 1.0)
    return 10**lo, 10**hi


def _matplotlib(ok: list[dict], failed: list[dict], out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    n = len(ok) + len(failed)
    fig, ax = plt.subplots(figsize=(9, 0.42 * n + 1.8))
    ys = list(range(n))[::-1]  # the fastest on top
    names = [r["target"] for r in ok] + [r["target"] for r in failed]
    if ok:
        lo, hi = _limits(ok)
        y_ok = ys[:len(ok)]
        ax.hlines(y_ok, [r["p50_ms"] for r in ok], [r["p90_ms"] for r in ok], color="#bbbbbb", linewidth=2)
        ax.scatter([r["p50_ms"] for r in ok], y_ok, color=P50, s=45, zorder=3, label="p50")
        ax.scatter([r["p90_ms"] for r in ok], y_ok, color=P90, marker="|", s=220, linewidths=2, zorder=3,
                   label="p90")
        for y, r in zip(y_ok, ok, strict=True):
            ax.annotate(f"{r['p50_ms']:.3g} ms", (r["p90_ms"], y), xytext=(8, 0), textcoords="offset points",
                        va="center", fontsize=9)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.xaxis.set_major_locator(FixedLocator(log_ticks(lo, hi)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: tick_label(v)))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(axis="x", which="major", color="#e5e5e5")
        ax.set_axisbelow(True)
        ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=2, fontsize=9, frameon=False)  # above the data
    for y, r in zip(ys[len(ok):], failed, strict=True):
        ax.annotate(failure_label(r), (0, y), xycoords=("axes fraction", "data"), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=9, color=FAILED_GREY, style="italic")
    ax.set_yticks(ys, names, fontsize=10)
    for label, r in zip(ax.get_yticklabels(), ok + failed, strict=True):
        label.set_color("#222222" if r.get("ok") else FAILED_GREY)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("latency per run, ms (log scale); dot: p50, tick: p90")
    ax.set_title(title, fontsize=11, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def svg(ok: list[dict], failed: list[dict], title: str) -> str:
    """The chart without matplotlib: the same log axis with 1-2-5 ticks, labels in ms, and failures listed."""
    row_h, left, plot_w, top = 24, 190, 520, 44
    names = [*(r["target"] for r in ok), *(r["target"] for r in failed)]
    left = max(left, 12 + 7 * max(map(len, names), default=0))
    width = left + plot_w + 90
    axis_y = top + row_h * len(ok) + 6
    height = axis_y + 46 + row_h * len(failed)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="#fff"/>',
             f'<text x="10" y="20" font-size="14">{escape(title)}</text>']
    if ok:
        lo, hi = _limits(ok)
        span = math.log10(hi) - math.log10(lo)

        def x(ms: float) -> float:
            return left + (math.log10(ms) - math.log10(lo)) / span * plot_w

        parts.append(f'<g class="axis"><line x1="{left}" x2="{left + plot_w}" y1="{axis_y}" y2="{axis_y}" '
                     'stroke="#444"/>')
        for t in log_ticks(lo, hi):
            parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top - 6}" y2="{axis_y + 4}" stroke="#e5e5e5"/>'
                         f'<text class="tick" x="{x(t):.1f}" y="{axis_y + 17}" text-anchor="middle">'
                         f'{tick_label(t)}</text>')
        parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{axis_y + 36}" text-anchor="middle">latency per run, '
                     'ms (log scale); dot: p50, tick: p90</text></g>')
        for i, r in enumerate(ok):
            y = top + i * row_h + row_h / 2
            x50, x90 = x(r["p50_ms"]), x(r["p90_ms"])
            parts += [f'<text x="{left - 10}" y="{y + 4:.1f}" text-anchor="end">{escape(r["target"])}</text>',
                      f'<line x1="{x50:.1f}" x2="{x90:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#bbb" stroke-width="2"/>',
                      f'<circle cx="{x50:.1f}" cy="{y:.1f}" r="5" fill="{P50}"/>',
                      f'<line x1="{x90:.1f}" x2="{x90:.1f}" y1="{y - 8:.1f}" y2="{y + 8:.1f}" stroke="{P90}" '
                      'stroke-width="2"/>',
                      f'<text x="{x90 + 8:.1f}" y="{y + 4:.1f}">{r["p50_ms"]:.3g} ms</text>']
    for i, r in enumerate(failed):
        y = axis_y + 46 + i * row_h + row_h / 2 - 6
        parts += [f'<text x="{left - 10}" y="{y + 4:.1f}" text-anchor="end" fill="{FAILED_GREY}">'
                  f'{escape(r["target"])}</text>',
                  f'<text x="{left}" y="{y + 4:.1f}" fill="{FAILED_GREY}" font-style="italic">'
                  f'{escape(failure_label(r))}</text>']
    parts.append("</svg>")
    return "\n".join(parts)
