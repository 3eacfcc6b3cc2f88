"""Latency charts for ``facade bench --plot``: matplotlib when installed, else a small hand-written SVG.

PNG needs matplotlib (``pip install 'facade-runtime[plot]'``); SVG always works.
"""

from __future__ import annotations

import importlib.util
from html import escape
from pathlib import Path

from facade.cache import atomic_write
from facade.cli.options import check_output_file
from facade.errors import InputError, format_message


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
    """Bars of p50 latency per target with a p90 tick; rows that failed are left out."""
    check_plot_path(out)
    ok = [r for r in rows if r.get("ok")]
    if importlib.util.find_spec("matplotlib") is not None:
        return _matplotlib(ok, out, title)
    return atomic_write(out, _svg(ok, title).encode(), shared=True)


def _matplotlib(rows: list[dict], out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.5))
    names = [r["target"] for r in rows]
    ax.barh(names, [r["p50_ms"] for r in rows], color="#4c78a8", label="p50")
    ax.scatter([r["p90_ms"] for r in rows], names, color="#e45756", marker="|", s=200, label="p90")
    ax.set_xlabel("latency (ms)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def _svg(rows: list[dict], title: str) -> str:
    bar_h, left, width = 22, 170, 420
    top = 40
    height = top + bar_h * len(rows) + 30
    scale = width / max([r["p90_ms"] for r in rows] + [1e-9])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<text x="10" y="20" font-size="14">{escape(title)} (bar: p50, tick: p90, ms)</text>']
    for i, r in enumerate(rows):
        y = top + i * bar_h
        w50, w90 = r["p50_ms"] * scale, r["p90_ms"] * scale
        parts += [f'<text x="10" y="{y + 15}">{escape(r["target"])}</text>',
                  f'<rect x="{left}" y="{y + 3}" width="{w50:.1f}" height="{bar_h - 6}" fill="#4c78a8"/>',
                  f'<line x1="{left + w90:.1f}" x2="{left + w90:.1f}" y1="{y}" y2="{y + bar_h}" stroke="#e45756" '
                  f'stroke-width="2"/>',
                  f'<text x="{left + w90 + 6:.1f}" y="{y + 15}">{r["p50_ms"]:.3g}</text>']
    parts.append("</svg>")
    return "\n".join(parts)
