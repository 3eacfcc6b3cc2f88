"""Quantized operators: (De)QuantizeLinear, DynamicQuantizeLinear, *Integer and QLinear*.

Integer arithmetic runs in int32/int64 (exact), requantization in float32 with
round-half-to-even and saturation, as the ONNX specification states.
"""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node
from .conv import conv

_FLOAT32 = np.dtype(np.float32)


def _per_axis(v: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """Broadcast a per-tensor scalar or a per-axis 1-D parameter against an ``ndim`` tensor."""
    if v.ndim == ndim and ndim > 1:  # blocked: already expanded by _unblock
        return v
    if v.ndim == 0 or v.size == 1 or ndim == 0:
        return v.reshape(())
    shape = [1] * ndim
    shape[axis % ndim] = v.size
    return v.reshape(shape)


def _integer_range(dtype: np.dtype) -> tuple[int, int]:
    """(min, max) of an integer type, ml_dtypes' int4/uint4/int2/uint2 included (np.iinfo knows none)."""
    import ml_dtypes

    info = ml_dtypes.iinfo(dtype)
    return int(info.min), int(info.max)


def _is_float(dtype: np.dtype) -> bool:
    """Floating quantized types: float8 and float4 are ml_dtypes with numpy kind 'V', not 'f'."""
    return dtype.kind == "f" or dtype.name.startswith(("float8", "float4", "float6"))


def saturate(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round half to even and clamp into an integer dtype."""
    lo, hi = _integer_range(dtype)
    return np.clip(np.rint(x), lo, hi).astype(dtype)


def quantize(x: np.ndarray, scale: np.ndarray, zp: np.ndarray | None, axis: int,
             dtype: np.dtype | None = None, saturating: bool = True,
             compute: np.dtype = _FLOAT32) -> np.ndarray:
    """x / scale + zero_point, saturated into the zero point's type.

    The division runs in ``compute`` (float32, or the opset-23 ``precision``
    attribute). Integer targets round half to even and clamp to their range;
    float8 targets saturate to their largest finite value unless ``saturate=0``
    (onnx's ``saturate_cast``); float4 (no inf or NaN) saturates in its own cast.
    """
    dtype = np.dtype(zp.dtype if zp is not None else (dtype or np.uint8))
    s = _per_axis(scale, x.ndim, axis).astype(compute)
    if _is_float(dtype):
        y = (x.astype(compute) / s).astype(np.float32)
        if dtype.name.startswith("float8"):
            if saturating:
                from onnx.numpy_helper import saturate_cast

                return saturate_cast(y, dtype)
            return y.astype(dtype)
        return (y if zp is None else y + _per_axis(zp, x.ndim, axis).astype(np.float32)).astype(dtype)
    z = 0 if zp is None else _per_axis(zp, x.ndim, axis).astype(np.float32)
    return saturate(np.rint((x.astype(compute) / s).astype(np.float32)) + z, dtype)


def dequantize(x: np.ndarray, scale: np.ndarray, zp: np.ndarray | None, axis: int,
               dtype: np.dtype | None = None) -> np.ndarray:
    """(x - zero_point) * scale in the scale's float type (or ``output_dtype``).

    Float inputs (float8, float4) are widened to float32, not truncated to
    integers; a float8 zero point must be zero, as the specification requires.
    """
    out = np.dtype(dtype or scale.dtype)
    if _is_float(x.dtype):
        if zp is not None and x.dtype.name.startswith("float8") and np.any(zp.astype(np.float32) != 0):
            raise ValueError(f"a {x.dtype} zero point must be 0 (got {zp.astype(np.float32).ravel()[:4]})")
        dx = x.astype(np.float32)
        return (dx * _per_axis(scale, x.ndim, axis)).astype(out)
    z = 0 if zp is None else _per_axis(zp, x.ndim, axis).astype(np.int32)
    return ((x.astype(np.int32) - z) * _per_axis(scale, x.ndim, axis)).astype(out)


def _unblock(node: Node, x: np.ndarray, v: np.ndarray | None) -> np.ndarray | None:
    """Blocked quantization (opset 21): repeat each block's parameter over its block."""
    block = node.attrs.get("block_size", 0)
    if not block or v is None or v.ndim != x.ndim:
        return v
    axis = node.attrs.get("axis", 1) % x.ndim
    return np.repeat(v, block, axis=axis)[tuple(slice(0, n) for n in x.shape)]


def _output_dtype(node: Node) -> np.dtype | None:
    from onnx.helper import tensor_dtype_to_np_dtype

    out = node.attrs.get("output_dtype", 0)
    return np.dtype(tensor_dtype_to_np_dtype(out)) if out else None


@registry.register("QuantizeLinear", 10)
def quantize_linear(node: Node, opset: int):
    """QuantizeLinear to 16/8/4/2-bit integers, float8 and float4 (ml_dtypes types)."""
    from onnx.helper import tensor_dtype_to_np_dtype

    axis, dtype = node.attrs.get("axis", 1), _output_dtype(node)
    saturating = bool(node.attrs.get("saturate", 1))
    precision = node.attrs.get("precision", 0)  # opset 23: the division in another float type
    compute = np.dtype(tensor_dtype_to_np_dtype(precision)) if precision else _FLOAT32
    return lambda x, s, zp=None: (quantize(x, _unblock(node, x, s), _unblock(node, x, zp), axis, dtype,
                                           saturating, compute),)


@registry.register("DequantizeLinear", 10)
def dequantize_linear(node: Node, opset: int):
    """DequantizeLinear from integer, float8 and float4 types."""
    axis, dtype = node.attrs.get("axis", 1), _output_dtype(node)
    return lambda x, s, zp=None: (dequantize(x, _unblock(node, x, s), _unblock(node, x, zp), axis, dtype),)


@registry.register("DynamicQuantizeLinear", 11)
def dynamic_quantize_linear(node: Node, opset: int):
    """uint8 quantization with scale and zero point taken from the data range (including 0)."""
    def run(x):
        lo, hi = min(0.0, float(x.min())), max(0.0, float(x.max()))
        scale = np.float32((hi - lo) / 255.0) if hi > lo else np.float32(1.0)
        zp = saturate(np.rint(np.float32(-lo) / scale), np.uint8)
        y = saturate(np.rint(x / scale) + zp, np.uint8)
        return (y, np.array(scale, np.float32), np.array(zp, np.uint8))
    return run


def _centered(x: np.ndarray, zp: np.ndarray | None, axis: int | None = None) -> np.ndarray:
    """An integer tensor minus its zero point, in int32."""
    if zp is None:
        return x.astype(np.int32)
    z = zp.astype(np.int32)
    if axis is not None and z.size > 1:
        z = _per_axis(z, x.ndim, axis)
    return x.astype(np.int32) - z


@registry.register("MatMulInteger", 10)
def matmul_integer(node: Node, opset: int):
    """int32 MatMul of zero-point-centred integer tensors (b's zero point per column)."""
    def run(a, b, azp=None, bzp=None):
        za = _centered(a, azp.reshape(-1, 1) if azp is not None and azp.size > 1 else azp)
        return (np.matmul(za, _centered(b, bzp)).astype(np.int32),)
    return run


@registry.register("ConvInteger", 10)
def conv_integer(node: Node, opset: int):
    """int32 Conv of zero-point-centred integer tensors (computed exactly in int64)."""
    def run(x, w, xzp=None, wzp=None):
        xc = _centered(x, xzp).astype(np.int64)
        wc = _centered(w, wzp, axis=0).astype(np.int64)
        return (conv(xc, wc, None, node).astype(np.int32),)
    return run


@registry.register("QLinearMatMul", 10)
def qlinear_matmul(node: Node, opset: int):
    """Integer MatMul, then requantized to the output scale and zero point."""
    def run(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp):
        acc = np.matmul(_centered(a, a_zp).astype(np.int64), _centered(b, b_zp).astype(np.int64))
        real = acc.astype(np.float64) * (a_s.astype(np.float64) * b_s.astype(np.float64).reshape(-1))
        return (saturate(np.rint(real / np.float64(y_s)) + y_zp.astype(np.float64), y_zp.dtype),)
    return run


@registry.register("QLinearConv", 10)
def qlinear_conv(node: Node, opset: int):
    """Integer Conv with int32 bias, then requantized (per-output-channel weight scales allowed)."""
    def run(x, x_s, x_zp, w, w_s, w_zp, y_s, y_zp, b=None):
        acc = conv(_centered(x, x_zp).astype(np.int64), _centered(w, w_zp, axis=0).astype(np.int64), None, node)
        if b is not None:
            acc = acc + b.astype(np.int64).reshape(1, -1, *([1] * (acc.ndim - 2)))
        scale = (np.float64(x_s) * w_s.astype(np.float64)).reshape(1, -1, *([1] * (acc.ndim - 2)))
        real = acc.astype(np.float64) * scale
        return (saturate(np.rint(real / np.float64(y_s)) + y_zp.astype(np.float64), y_zp.dtype),)
    return run
