"""Blocked im2col + GEMM: blocks of any size give the unblocked result, in both layouts."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model
from conv_cases import CASES, to_last
from onnx import helper

from facade import native_fallback
from facade.native_fallback.ops.conv import WeightCache, conv, im2col


def test_blocked_im2col_matches_unblocked(monkeypatch, rng) -> None:
    x = rng.standard_normal((1, 4, 20, 20)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    model = make_model([helper.make_node("Conv", ["x", "w", "b"], ["y"], strides=[2, 2])], {"x": x}, ["y"],
                       {"w": w, "b": b})
    whole = native_fallback.compile(model).run({"x": x})["y"]
    monkeypatch.setattr(im2col, "IM2COL_BLOCK_BYTES", 1024)
    np.testing.assert_allclose(native_fallback.compile(model).run({"x": x})["y"], whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["winograd", "im2col_strided", "im2col_7x7"])
def test_ungrouped_convolutions_write_channels_last(name: str, monkeypatch, rng) -> None:
    """Ungrouped convolutions write N,H,W,C through im2col, blocked or not (a Winograd-shaped one too)."""
    p = CASES[name]
    x = rng.standard_normal((2, p["c"], 16, 16)).astype(np.float32)
    w = rng.standard_normal((p["m"], p["c"], p["k"], p["k"])).astype(np.float32)
    node = native_fallback.ir.Node("Conv", ["x", "w"], ["y"], attrs=dict(strides=[p["s"]] * 2, pads=[p["p"]] * 4))
    want = conv(x, w, None, node, cache=WeightCache())
    got = conv(x, w, None, node, cache=WeightCache(), out_last=True)
    np.testing.assert_allclose(got, to_last(want), rtol=1e-4, atol=1e-4)
    monkeypatch.setattr(im2col, "IM2COL_BLOCK_BYTES", 1024)
    blocked = conv(x, w, None, node, out_last=True)
    np.testing.assert_allclose(blocked, to_last(want), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("out_last", [False, True])
def test_blocked_im2col_reads_channels_last(out_last: bool, monkeypatch, rng) -> None:
    """A channels-last input's column matrix built in blocks of output rows, per group, bias folded."""
    x = rng.standard_normal((2, 8, 11, 11)).astype(np.float32)
    w = rng.standard_normal((12, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)
    node = native_fallback.ir.Node("Conv", ["x", "w", "b"], ["y"], attrs=dict(pads=[1, 0, 2, 1], group=2,
                                                                              strides=[2, 1]))
    want = conv(x, w, b, node)
    monkeypatch.setattr(im2col, "IM2COL_BLOCK_BYTES", 1024)
    got = conv(to_last(x), w, b, node, cache=WeightCache(), in_last=True,
                           out_last=out_last)
    np.testing.assert_allclose(got, to_last(want) if out_last else want, rtol=1e-5, atol=1e-5)
