"""Pooling over strided views against ORT: padding, ceil mode, dilation, count_include_pad."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback

POOLS = [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2])),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[2, 2], dilations=[2, 2])),
    ("MaxPool", dict(kernel_shape=[3, 2], strides=[1, 3], dilations=[1, 2])),  # column stride, rows unstrided
    ("MaxPool", dict(kernel_shape=[1, 3], strides=[2, 2], pads=[0, 1, 0, 2])),
    ("MaxPool", dict(kernel_shape=[3, 1], strides=[1, 2])),  # one window column: the strided copy alone
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[2, 3], strides=[3, 2], dilations=[2, 1], pads=[1, 0, 0, 1])),
    ("GlobalAveragePool", {}),
    ("GlobalMaxPool", {}),
]


@pytest.mark.parametrize(("op", "attrs"), POOLS)
def test_pool_matches_ort(op: str, attrs: dict, rng) -> None:
    x = rng.standard_normal((2, 3, 10, 11)).astype(np.float32)
    model = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], {"x": x}, ["y"], opset=19)
    np.testing.assert_allclose(native_fallback.compile(model).run({"x": x})["y"], ort_run(model, {"x": x})[0],
                               rtol=1e-5, atol=1e-6)
