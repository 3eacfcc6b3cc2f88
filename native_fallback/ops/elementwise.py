"""Elementwise math: unary functions, broadcasting binaries, variadic reductions, Cast."""

from __future__ import annotations

import math

import numpy as np

from .. import registry
from ..ir import Node
from ._util import binary, c_elementwise, same_dtype, transformer_kernels, unary

#: erf(x)/x in pieces of this width up to ``_ERF_LIMIT`` (where erf is 1 to double precision), each a
#: degree-9 polynomial fitted at import to math.erf: within 2.3e-15 relative of math.erf everywhere (checked
#: over 4e5 points and down to 1e-300), so the float64 oracle keeps it, and 2-3x faster than a vectorized
#: math.erf on a transformer's GELU inputs (measured), the gap growing with size.
_ERF_STEP, _ERF_DEGREE, _ERF_LIMIT = 0.25, 9, 6.0


def _erf_table() -> np.ndarray:
    """(degree + 1, pieces + 1) power-basis coefficients of erf(x)/x in t in [-1, 1] per piece."""
    nodes = np.cos(np.pi * (np.arange(48) + 0.5) / 48)  # Chebyshev nodes: a near-minimax fit
    pieces = int(_ERF_LIMIT / _ERF_STEP)
    table = np.empty((pieces + 1, _ERF_DEGREE + 1))
    for k in range(pieces + 1):
        xs = k * _ERF_STEP + (nodes + 1) * _ERF_STEP / 2
        ys = [math.erf(v) / v for v in xs]
        table[k] = np.polynomial.chebyshev.cheb2poly(np.polynomial.chebyshev.chebfit(nodes, ys, _ERF_DEGREE))
    return np.ascontiguousarray(table.T)


_ERF = _erf_table()


def erf(x: np.ndarray) -> np.ndarray:
    """Error function (numpy has none): a piecewise polynomial in float64, see ``_ERF_STEP``."""
    a = np.minimum(np.abs(x, dtype=np.float64), _ERF_LIMIT)
    k = (np.fmin(a, _ERF_LIMIT) * (1 / _ERF_STEP)).astype(np.intp)  # NaN: any piece; y stays NaN
    t = a * (2 / _ERF_STEP)
    t -= 2 * k + 1
    coeffs = _ERF[:, k]
    y = coeffs[_ERF_DEGREE].copy()
    for j in range(_ERF_DEGREE - 1, -1, -1):
        y *= t
        y += coeffs[j]
    y *= a
    np.copyto(y, 1.0, where=a >= _ERF_LIMIT)  # exactly 1 there (the last piece ends 1 ulp off): 1 + erf(-inf) = 0
    return np.copysign(y, x).astype(x.dtype, copy=False)


_UNARY = {
    "Abs": np.abs, "Neg": np.negative, "Exp": np.exp, "Log": np.log, "Sqrt": np.sqrt,
    "Reciprocal": np.reciprocal, "Floor": np.floor, "Ceil": np.ceil, "Round": np.round,
    "Sign": np.sign, "Sin": np.sin, "Cos": np.cos, "Tan": np.tan, "Asin": np.arcsin,
    "Acos": np.arccos, "Atan": np.arctan, "Sinh": np.sinh, "Cosh": np.cosh, "Asinh": np.arcsinh,
    "Acosh": np.arccosh, "Atanh": np.arctanh, "Not": np.logical_not, "IsNaN": np.isnan,
    "BitwiseNot": np.invert, "Identity": lambda x: x,
}
for _name, _fn in _UNARY.items():
    registry.register(_name)(unary(_fn))


@registry.register("Erf")
def erf_kernel(node: Node, opset: int):
    """Erf: compiled/transformer.c's float32 erf (within ~2 ulp of math.erf) or the float64 table above."""
    lib = transformer_kernels()
    return c_elementwise(lib and lib.erf_f32, erf)


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        return np.trunc(a / b).astype(a.dtype)  # ONNX integer Div truncates toward zero
    return np.divide(a, b)


def _pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.power(a, b.astype(a.dtype) if np.issubdtype(a.dtype, np.floating) else b).astype(a.dtype)


_BINARY = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": _int_div, "Pow": _pow,
    "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor, "Equal": np.equal,
    "Less": np.less, "Greater": np.greater, "LessOrEqual": np.less_equal,
    "GreaterOrEqual": np.greater_equal, "BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or,
    "BitwiseXor": np.bitwise_xor,
}
for _name, _fn in _BINARY.items():
    registry.register(_name)(binary(same_dtype(_fn) if _name in ("Add", "Sub", "Mul") else _fn))


@registry.register("IsInf", 10)
def is_inf(node: Node, opset: int):
    """IsInf with its sign filters."""
    pos, neg = node.attrs.get("detect_positive", 1), node.attrs.get("detect_negative", 1)
    return lambda x: ((np.isposinf(x) & bool(pos)) | (np.isneginf(x) & bool(neg)),)


@registry.register("Mod", 10)
def mod(node: Node, opset: int):
    """fmod=1 follows C (sign of dividend), fmod=0 follows Python (sign of divisor)."""
    fn = np.fmod if node.attrs.get("fmod", 0) else np.mod
    return lambda a, b: (fn(a, b).astype(a.dtype, copy=False),)


@registry.register("BitShift", 11)
def bit_shift(node: Node, opset: int):
    """BitShift LEFT/RIGHT on unsigned integers."""
    fn = np.left_shift if node.attrs["direction"] == "LEFT" else np.right_shift
    return lambda a, b: (fn(a, b).astype(a.dtype, copy=False),)


def _variadic(fn, mean: bool = False):
    def build(node: Node, opset: int):
        def run(*xs):
            acc = xs[0]
            for x in xs[1:]:
                acc = fn(acc, x)
            if mean:
                acc = acc / len(xs)
            return (np.asarray(acc).astype(xs[0].dtype, copy=False),)
        return run
    return build


registry.register("Sum")(_variadic(np.add))
registry.register("Mean")(_variadic(np.add, mean=True))
registry.register("Max")(_variadic(np.maximum))
registry.register("Min")(_variadic(np.minimum))


@registry.register("Where", 9)
def where(node: Node, opset: int):
    """Where(cond, x, y)."""
    return lambda c, x, y: (np.where(c, x, y),)


#: The clip ufunc behind np.clip: np.clip's argument checks cost 2-3 us a call (measured, numpy 2.4),
#: as much as clipping 10,000 values, and Relu/Relu6 run after nearly every convolution.
_CLIP_UFUNC = getattr(getattr(getattr(np, "_core", None), "umath", None), "clip", np.clip)


def clamp(x: np.ndarray, lo: float | None, hi: float | None, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` bounded to [lo, hi] (None: unbounded), NaN kept, into ``out`` when given.

    Floats go through clip with both bounds set (infinity for a missing one):
    numpy 2's clip has a vectorised loop for that case, while np.maximum or
    np.minimum against a scalar runs about 4x slower (measured on float32 with
    numpy 2.4).
    """
    if x.dtype.kind != "f":
        y = x if lo is None else np.maximum(x, x.dtype.type(lo), out=out)
        return y if hi is None else np.minimum(y, x.dtype.type(hi), out=out)
    kind = x.dtype.type
    return _CLIP_UFUNC(x, kind(-np.inf if lo is None else lo), kind(np.inf if hi is None else hi), out=out)


@registry.register("Clip", 1, 10)
def clip_attr(node: Node, opset: int):
    """Clip with min/max attributes (opset < 11)."""
    lo, hi = node.attrs.get("min"), node.attrs.get("max")
    return lambda x: (clamp(x, lo, hi),)


@registry.register("Clip", 11)
def clip(node: Node, opset: int):
    """Clip with optional min/max inputs."""
    def run(x, lo=None, hi=None):
        return (np.asarray(clamp(x, None if lo is None else lo.item(), None if hi is None else hi.item()),
                           dtype=x.dtype),)
    return run


#: float8 types whose Cast saturates by default (opset 19 ``saturate=1``): out-of-range values and
#: infinities clamp to the largest finite value, where a plain astype gives NaN or inf.
_FLOAT8 = frozenset({"float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz"})
_E8M0 = "float8_e8m0fnu"


def _cast_to(x: np.ndarray, dtype: np.dtype, saturate: bool = True, round_mode: str = "up") -> np.ndarray:
    """ONNX Cast: strings parsed and printed, float8 saturated per spec (onnx.numpy_helper's helpers)."""
    if x.dtype.kind in "OUS":
        if dtype == np.bool_:
            return np.asarray([v.lower() in ("true", "1") for v in x.ravel()]).reshape(x.shape)
        return x.astype(np.float64).astype(dtype)
    if dtype.kind in "OUS":
        return np.vectorize(lambda v: str(v), otypes=[object])(x)
    if dtype.name in _FLOAT8 and saturate:
        from onnx.numpy_helper import saturate_cast

        return saturate_cast(x, dtype)
    if dtype.name == _E8M0:
        from onnx.numpy_helper import to_float8e8m0

        return to_float8e8m0(x, saturate, round_mode).astype(dtype)
    return x.astype(dtype)


def _cast_options(node: Node) -> tuple[bool, str]:
    """``saturate`` (opset 19, default on) and ``round_mode`` (opset 24, float8e8m0 only)."""
    return bool(node.attrs.get("saturate", 1)), node.attrs.get("round_mode", "up")


@registry.register("Cast", 6)
def cast(node: Node, opset: int):
    """Cast to the ``to`` element type."""
    from onnx.helper import tensor_dtype_to_np_dtype

    dtype = np.dtype(tensor_dtype_to_np_dtype(node.attrs["to"]))
    saturate, round_mode = _cast_options(node)
    return lambda x: (_cast_to(x, dtype, saturate, round_mode),)


@registry.register("CastLike", 15)
def cast_like(node: Node, opset: int):
    """Cast to the dtype of a second tensor."""
    saturate, round_mode = _cast_options(node)
    return lambda x, like: (_cast_to(x, like.dtype, saturate, round_mode),)


@registry.register("BitCast", 26)
def bit_cast(node: Node, opset: int):
    """Reinterpret the (little-endian) bytes as another type of the same width."""
    from onnx.helper import tensor_dtype_to_np_dtype

    dtype = np.dtype(tensor_dtype_to_np_dtype(node.attrs["to"])).newbyteorder("<")
    # ascontiguousarray would turn a 0-d tensor into 1-d; reshape keeps the shape.
    return lambda x: (np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("<")).view(dtype).reshape(x.shape),)
