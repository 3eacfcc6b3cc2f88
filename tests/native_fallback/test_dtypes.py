"""Narrow float types stay themselves: bfloat16 in, bfloat16 out, with float32 accuracy inside."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from conftest import make_model
from onnx import helper

from facade import native_fallback

BF16 = np.dtype(ml_dtypes.bfloat16)


@pytest.mark.parametrize(("node", "shapes"), [
    (helper.make_node("MatMul", ["a", "b"], ["y"]), [(2, 3, 8), (8, 5)]),
    (helper.make_node("Gemm", ["a", "b"], ["y"], transB=1), [(4, 8), (6, 8)]),
    (helper.make_node("Einsum", ["a", "b"], ["y"], equation="bij,bjk->bik"), [(2, 3, 8), (2, 8, 5)]),
    (helper.make_node("Attention", ["a", "b", "c"], ["y"], is_causal=1), [(1, 2, 4, 8)] * 3),
    (helper.make_node("ConvTranspose", ["a", "b"], ["y"], strides=[2, 2]), [(1, 3, 4, 4), (3, 2, 3, 3)]),
    (helper.make_node("MaxPool", ["a"], ["y"], kernel_shape=[2, 2], pads=[1, 1, 1, 1]), [(1, 2, 5, 5)]),
])
def test_bfloat16_stays_bfloat16(node, shapes, rng) -> None:
    names = list(node.input)
    feeds = {n: rng.standard_normal(s).astype(BF16) for n, s in zip(names, shapes, strict=True)}
    model = make_model([node], feeds, ["y"], opset=23)
    got = native_fallback.compile(model).run(feeds)["y"]
    assert got.dtype == BF16
    wide = native_fallback.compile(model).run({k: v.astype(np.float32) for k, v in feeds.items()})["y"]
    # One bfloat16 rounding of the float32 answer (8 bits of mantissa: relative 2**-8).
    np.testing.assert_allclose(got.astype(np.float32), wide, rtol=2 ** -7, atol=2 ** -7 * np.abs(wide).max())
