"""Quantized operators against ORT: exact integer results."""

from __future__ import annotations

import numpy as np
from conftest import make_model, ort_run
from onnx import helper

from facade import native_fallback


def test_qlinear_conv_chain_is_exact(rng) -> None:
    x = rng.integers(0, 255, (1, 4, 8, 8), dtype=np.uint8)
    w = rng.integers(-60, 60, (6, 4, 3, 3), dtype=np.int8)
    inits = {"xs": np.float32(0.02), "xz": np.uint8(128), "w": w, "ws": np.full(6, 0.01, np.float32),
             "wz": np.zeros(6, np.int8), "ys": np.float32(0.05), "yz": np.uint8(100),
             "b": rng.integers(-100, 100, 6, dtype=np.int32)}
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], pads=[1] * 4)
    model = make_model([node], {"x": x}, ["y"], {k: np.asarray(v) for k, v in inits.items()})
    np.testing.assert_array_equal(native_fallback.compile(model).run({"x": x})["y"], ort_run(model, {"x": x})[0])


def test_quantize_dequantize_and_matmul_integer(rng) -> None:
    a = rng.standard_normal((3, 5)).astype(np.float32)
    b = rng.integers(-128, 127, (5, 4), dtype=np.int8)
    nodes = [helper.make_node("QuantizeLinear", ["a", "s", "z"], ["q"]),
             helper.make_node("MatMulInteger", ["q", "b", "z"], ["acc"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["back"])]
    inits = {"s": np.array(0.05, np.float32), "z": np.array(7, np.uint8), "b": b}
    model = make_model(nodes, {"a": a}, ["acc", "back"], inits)
    got = native_fallback.compile(model).run({"a": a})
    want = ort_run(model, {"a": a})
    np.testing.assert_array_equal(got["acc"], want[0])
    np.testing.assert_allclose(got["back"], want[1], rtol=1e-6)
