"""Quantized operators against ORT: exact integer results."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from conftest import make_model, ort_run
from onnx import TensorProto, helper

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


def _one(op: str, x: np.ndarray, inits: dict[str, np.ndarray] | None = None, inputs=("x",), opset: int = 21,
         **attrs) -> np.ndarray:
    node = helper.make_node(op, [*inputs], ["y"], **attrs)
    model = make_model([node], {"x": x}, ["y"], inits, opset=opset)
    return native_fallback.compile(model).run({"x": x})["y"]


@pytest.mark.parametrize(("to", "big"), [(TensorProto.FLOAT8E4M3FN, 448), (TensorProto.FLOAT8E4M3FNUZ, 240),
                                         (TensorProto.FLOAT8E5M2, 57344), (TensorProto.FLOAT8E5M2FNUZ, 57344)])
def test_cast_to_float8_saturates_per_spec(to: int, big: float) -> None:
    x = np.array([1e6, -1e6, np.inf, -np.inf, 0.5], np.float32)
    y = _one("Cast", x, to=to)
    assert y.dtype == helper.tensor_dtype_to_np_dtype(to)
    np.testing.assert_array_equal(y.astype(np.float32), [big, -big, big, -big, 0.5])


def test_cast_to_float8_without_saturation_overflows_to_nan() -> None:
    y = _one("Cast", np.array([1e6, 2.0], np.float32), to=TensorProto.FLOAT8E4M3FN, saturate=0)
    assert np.isnan(y.astype(np.float32)[0]) and y.astype(np.float32)[1] == 2.0


@pytest.mark.parametrize(("zp", "lo", "hi"), [(ml_dtypes.int4(0), -8, 7), (ml_dtypes.uint4(0), 0, 15),
                                              (ml_dtypes.int2(0), -2, 1), (ml_dtypes.uint2(0), 0, 3)])
def test_quantize_to_narrow_integers_clamps_to_their_range(zp, lo: int, hi: int) -> None:
    x = np.array([-100.0, -1.0, 0.4, 1.6, 100.0], np.float32)
    y = _one("QuantizeLinear", x, {"s": np.array(1.0, np.float32), "zp": np.array(zp)}, ("x", "s", "zp"))
    assert y.dtype == np.array(zp).dtype
    np.testing.assert_array_equal(y.astype(np.int32), np.clip([-100, -1, 0, 2, 100], lo, hi))


def test_float8_and_float4_round_trip_through_quantize_and_dequantize() -> None:
    x = np.array([0.0, 1.0, 3.0, -6.0, 1000.0], np.float32)
    for dtype, top in ((ml_dtypes.float8_e4m3fn, 448.0), (ml_dtypes.float4_e2m1fn, 6.0)):
        zp = np.array(0, dtype)
        q = _one("QuantizeLinear", x, {"s": np.array(1.0, np.float32), "zp": zp}, ("x", "s", "zp"))
        assert q.dtype == zp.dtype
        model = make_model([helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"])], {"q": q}, ["y"],
                           {"s": np.array(2.0, np.float32), "zp": zp}, opset=21)
        y = native_fallback.compile(model).run({"q": q})["y"]
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, 2 * np.minimum(q.astype(np.float32), top))
        assert y[-1] == 2 * top  # saturated, not NaN or truncated to an integer


@pytest.mark.parametrize("dtype", [ml_dtypes.int4, ml_dtypes.uint4])
def test_packed_int4_initializer_dequantizes_as_ort_does(dtype) -> None:
    """An int4 weight is stored two to a byte in the model (numpy_helper packs it); both engines unpack it."""
    lo, hi = (-8, 7) if dtype == ml_dtypes.int4 else (0, 15)
    w = np.arange(lo, hi + 1).reshape(4, 4).astype(dtype)
    x = np.ones((2, 4), np.float32)
    nodes = [helper.make_node("DequantizeLinear", ["w", "s", "z"], ["wf"], axis=0),
             helper.make_node("MatMul", ["x", "wf"], ["y"])]
    inits = {"w": w, "s": np.array([0.5, 1.0, 2.0, 4.0], np.float32), "z": np.full(4, 1, dtype)}
    model = make_model(nodes, {"x": x}, ["y"], inits, opset=21)
    assert len(model.graph.initializer[0].raw_data) == w.size // 2  # really packed
    got = native_fallback.compile(model).run({"x": x})["y"]
    np.testing.assert_array_equal(got, ort_run(model, {"x": x})[0])


@pytest.mark.parametrize("zp", [np.array(0, np.int8), np.array(0, ml_dtypes.float8_e4m3fn)])
def test_quantize_precision_attribute_divides_in_that_type(zp) -> None:
    """Opset 23's ``precision`` (no node-suite case has it): the division in float16, as onnx.reference does."""
    from onnx.reference import ReferenceEvaluator

    x = np.array([1.45, 2.35, -2.65, 0.3, 1e-3], np.float32)  # the first three round differently in float32
    inits = {"s": np.array(0.1, np.float32), "zp": zp}
    node = helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["y"], precision=TensorProto.FLOAT16)
    model = make_model([node], {"x": x}, ["y"], inits, opset=23)
    got = native_fallback.compile(model).run({"x": x})["y"]
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.astype(np.float32), want.astype(np.float32))
