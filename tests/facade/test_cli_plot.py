"""Bench plots: a log latency axis with 1-2-5 ticks and ms on its title; failed targets named with their reason."""

import importlib.util
import math
import re
import xml.etree.ElementTree as ET

import pytest

from facade.cli import plot

ROWS = [{"target": "onnxruntime:cpu", "ok": True, "p50_ms": 0.41, "p90_ms": 0.52},
        {"target": "ncnn:vulkan", "ok": True, "p50_ms": 310.0, "p90_ms": 355.0},
        {"target": "native:cpu", "ok": True, "p50_ms": 2.9, "p90_ms": 3.4},
        {"target": "litert:cpu", "ok": False, "error": "ConversionError: onnx2tf rejected this model: unsupported "
                                                       "op GridSample at node /grid; raw log in /tmp/x.log " * 3}]
SVG = "{http://www.w3.org/2000/svg}"


def _no_matplotlib(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))


def test_the_svg_fallback_has_a_log_axis_with_labelled_ticks(monkeypatch, tmp_path):
    _no_matplotlib(monkeypatch)
    out = plot.plot_latency(ROWS, tmp_path / "bench.svg", "conv_relu on abc")
    root = ET.fromstring(out.read_text())
    axis = root.find(f"{SVG}g[@class='axis']")
    assert axis is not None
    ticks = {float(t.text): float(t.get("x")) for t in axis.iter(f"{SVG}text") if t.get("class") == "tick"}
    assert {0.5, 1, 10, 100, 200} <= set(ticks)  # the range of the data, 0.41 to 355 ms
    assert ticks[10] - ticks[1] == pytest.approx(ticks[100] - ticks[10], abs=0.2)  # equal steps per decade: log
    assert ticks[2] - ticks[1] == pytest.approx((ticks[10] - ticks[1]) * math.log10(2), abs=0.2)
    title = " ".join(t.text for t in axis.iter(f"{SVG}text") if t.get("class") != "tick")
    assert "ms" in title and "log" in title
    texts = [t.text for t in root.iter(f"{SVG}text")]
    # fastest first; every measured target labelled with its p50
    assert [t for t in texts if t in {r["target"] for r in ROWS}] == [
        "onnxruntime:cpu", "native:cpu", "ncnn:vulkan", "litert:cpu"]
    assert "310 ms" in texts and "0.41 ms" in texts
    failed = next(t for t in texts if t.startswith("failed: "))
    assert "unsupported op GridSample" in failed and failed.endswith(" …") and len(failed) <= plot.REASON_CHARS


def test_log_ticks_cover_the_range_with_1_2_5_steps():
    assert plot.log_ticks(0.3, 40) == [0.5, 1, 2, 5, 10, 20]
    close = [{"target": "a", "ok": True, "p50_ms": 3.1, "p90_ms": 3.2}, {"target": "b", "ok": True, "p50_ms": 3.3,
                                                                        "p90_ms": 3.9}]
    assert len(plot.log_ticks(*plot._limits(close))) >= 2  # close latencies still get two labelled ticks
    assert [plot.tick_label(t) for t in (0.05, 2.0, 2000.0)] == ["0.05", "2", "2000"]


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed")
def test_matplotlib_png_has_the_targets_on_a_log_axis(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    saved = {}
    monkeypatch.setattr(plt, "close", lambda fig: saved.setdefault("fig", fig))
    out = plot.plot_latency(ROWS, tmp_path / "bench.png", "conv_relu on abc")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = saved["fig"].axes[0]
    assert ax.get_xscale() == "log" and "ms" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["onnxruntime:cpu", "native:cpu", "ncnn:vulkan",
                                                            "litert:cpu"]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert {"1", "10", "100"} <= set(labels) and all(re.fullmatch(r"[0-9.]+", t) for t in labels)
