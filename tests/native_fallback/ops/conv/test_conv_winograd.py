"""Winograd F(2x2, 3x3) against direct convolution."""

from __future__ import annotations

import numpy as np
from conftest import make_model
from onnx import helper

from facade import native_fallback
from facade.native_fallback.ops.conv import plan


def test_winograd_is_exact_in_float64(monkeypatch, rng) -> None:
    x = rng.standard_normal((1, 64, 14, 14))  # 64 channels, 196 pixels: the Winograd path
    w = rng.standard_normal((64, 64, 3, 3))
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 4)], {"x": x.astype(np.float32)},
                       ["y"], {"w": w.astype(np.float32)})
    fast = native_fallback.compile(model, dtype="float64").run({"x": x})["y"]
    monkeypatch.setattr(plan, "WINOGRAD_MIN_CHANNELS", 10**9)
    direct = native_fallback.compile(model, dtype="float64").run({"x": x})["y"]
    assert fast.dtype == np.float64
    assert not np.array_equal(fast, direct)  # two different algorithms ran
    assert np.abs(fast - direct).max() <= 1e-12 * np.abs(direct).max()
