"""Activations and softmax family.

Activation functions are also looked up by name from :data:`ACTIVATIONS` so the
optimizer's Conv/Gemm+activation fusion and the RNN kernels reuse one definition.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import registry
from ..ir import Node
from ._util import address, c_elementwise, transformer_kernels
from .elementwise import clamp, erf


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Split by sign so exp never overflows; exact in float64.
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _relu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return clamp(x, 0, None, out)


def _hard_swish(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """x * clip(x / 6 + 0.5, 0, 1) with one temporary (the same float ops in the same order as the
    plain expression, which made four: MobileNetV3 runs it after most convolutions)."""
    gate = x / 6
    gate += 0.5
    np.clip(gate, 0, 1, out=gate)
    return np.multiply(x, gate, out=gate if out is None else out).astype(x.dtype, copy=False)


def activation(name: str, attrs: dict) -> Callable[[np.ndarray], np.ndarray]:
    """The numpy function of activation ``name`` with its attributes bound."""
    a = attrs.get("alpha")
    b = attrs.get("beta")
    table: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "Relu": _relu,
        "Sigmoid": _sigmoid,
        "Tanh": np.tanh,
        "LeakyRelu": lambda x: np.where(x >= 0, x, x * x.dtype.type(0.01 if a is None else a)),
        "Elu": lambda x: np.where(x >= 0, x, (1.0 if a is None else a) * np.expm1(x)).astype(x.dtype),
        "Selu": lambda x: (np.float64(attrs.get("gamma", 1.0507009873554804934193349852946))
                           * np.where(x > 0, x, (1.6732632423543772848170429916717 if a is None else a)
                                      * np.expm1(x))).astype(x.dtype),
        "Celu": lambda x: (np.maximum(x, 0) + np.minimum(0, (1.0 if a is None else a)
                                                        * np.expm1(x / (1.0 if a is None else a)))).astype(x.dtype),
        "HardSigmoid": lambda x: np.clip(x * (0.2 if a is None else a) + (0.5 if b is None else b), 0, 1).astype(x.dtype),
        "HardSwish": _hard_swish,
        "Softplus": lambda x: np.logaddexp(x, 0).astype(x.dtype),
        "Softsign": lambda x: (x / (1 + np.abs(x))).astype(x.dtype),
        "ThresholdedRelu": lambda x: np.where(x > (1.0 if a is None else a), x, 0).astype(x.dtype),
        "Mish": lambda x: (x * np.tanh(np.logaddexp(x, 0))).astype(x.dtype),
        "ScaledTanh": lambda x: ((a or 1.0) * np.tanh((b or 1.0) * x)).astype(x.dtype),
        "Affine": lambda x: ((a or 1.0) * x + (b or 0.0)).astype(x.dtype),
        "Clip": lambda x: np.clip(x, attrs.get("min", -np.inf), attrs.get("max", np.inf)).astype(x.dtype),
    }
    return table[name]


def in_place_activation(name: str, attrs: dict) -> Callable[[np.ndarray], np.ndarray]:
    """Activation ``name`` applied over a freshly computed array, reusing its memory.

    Used by fused kernels, whose GEMM output nobody else holds.
    """
    if name == "Relu":
        return lambda y: clamp(y, 0, None, out=y)
    if name == "Clip":
        lo, hi = attrs.get("min"), attrs.get("max")
        return lambda y: clamp(y, lo, hi, out=y)
    if name == "HardSwish":
        return lambda y: _hard_swish(y, out=y)
    fn = activation(name, attrs)

    def generic(y):
        y[...] = fn(y)
        return y
    return generic


def _simple(name: str):
    def build(node: Node, opset: int):
        fn = activation(name, node.attrs)
        return lambda x: (fn(x),)
    return build


for _name in ("Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Selu", "Celu", "HardSigmoid",
              "HardSwish", "Softplus", "Softsign", "ThresholdedRelu", "Mish"):
    registry.register(_name)(_simple(_name))


@registry.register("PRelu", 7)
def prelu(node: Node, opset: int):
    """PRelu with a broadcast slope."""
    return lambda x, slope: (np.where(x >= 0, x, x * slope).astype(x.dtype),)


@registry.register("PRelu", 1, 6)
def prelu_per_channel(node: Node, opset: int):
    """PRelu before opset 7: a 1-D slope of size C is per channel (axis 1), not broadcast from the right."""

    def run(x, slope):
        if slope.ndim == 1 and slope.size > 1 and x.ndim >= 2:
            slope = slope.reshape((-1,) + (1,) * (x.ndim - 2))
        return (np.where(x >= 0, x, x * slope).astype(x.dtype),)
    return run


@registry.register("Shrink", 9)
def shrink(node: Node, opset: int):
    """Soft/hard shrinkage: x -+ bias outside [-lambd, lambd], 0 inside."""
    bias, lambd = node.attrs.get("bias", 0.0), node.attrs.get("lambd", 0.5)
    return lambda x: (np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0)).astype(x.dtype),)


@registry.register("Swish", 24)
def swish(node: Node, opset: int):
    """x * sigmoid(alpha * x)."""
    alpha = node.attrs.get("alpha", 1.0)
    return lambda x: ((x * _sigmoid(x * x.dtype.type(alpha))).astype(x.dtype),)


@registry.register("SwiGLU", 28)
def swiglu(node: Node, opset: int):
    """Swish(gate) * value: the gated feed-forward activation of Llama-style models."""
    alpha = node.attrs.get("alpha", 1.0)
    return lambda a, b: ((a * _sigmoid(a * a.dtype.type(alpha)) * b).astype(a.dtype),)


def _exact_gelu(x: np.ndarray) -> np.ndarray:
    """x * (1 + erf(x / sqrt 2)) / 2 with erf in float64 (the numpy path of every exact GELU)."""
    return (0.5 * x * (1 + erf(x / np.sqrt(2)))).astype(x.dtype)


def exact_gelu_kernel() -> Callable:
    """The exact GELU kernel: compiled/transformer.c's gelu_f32 for float32, else :func:`_exact_gelu`."""
    lib = transformer_kernels()
    return c_elementwise(lib and lib.gelu_f32, _exact_gelu)


@registry.register("Gelu", 20)
def gelu(node: Node, opset: int):
    """Gelu, exact (erf) or tanh approximation."""
    if node.attrs.get("approximate", "none") == "tanh":
        return lambda x: ((0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))))
                          .astype(x.dtype),)
    return exact_gelu_kernel()


@registry.register("Gelu", 1, domain=registry.FACADE_DOMAIN)
def fused_gelu(node: Node, opset: int):
    """The exact GELU that the optimizer's gelu_fusion pass makes of the exported Div/Erf/Add/Mul/Mul chain,
    one pass instead of five (any opset: the ONNX Gelu only exists from opset 20)."""
    return exact_gelu_kernel()


def _flatten_2d(x: np.ndarray, axis: int) -> np.ndarray:
    axis = axis % x.ndim if x.ndim else 0
    return x.reshape(math.prod(x.shape[:axis]), -1)


def softmax_last(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _softmax_family(kind: str):
    def build(node: Node, opset: int):
        if opset >= 13:
            axis = node.attrs.get("axis", -1)

            def along(x):
                return _kernel(x, axis)
        else:  # opsets < 13 coerce to 2-D at ``axis``
            axis = node.attrs.get("axis", 1)

            def along(x):
                return _kernel(_flatten_2d(x, axis), -1).reshape(x.shape)

        def _kernel(x, ax):
            if kind == "Softmax":
                return softmax_last(x, ax)
            if kind == "LogSoftmax":
                m = x - x.max(axis=ax, keepdims=True)
                return m - np.log(np.exp(m).sum(axis=ax, keepdims=True))
            idx = np.expand_dims(np.argmax(x, axis=ax), ax)
            out = np.zeros_like(x)
            np.put_along_axis(out, idx, 1, axis=ax)
            return out

        c_rows = _c_softmax(opset) if kind == "Softmax" else None

        def run(x):
            if not x.size:  # nothing to normalize (a max over an empty axis would raise)
                return (np.empty_like(x),)
            if c_rows is not None and x.dtype == np.float32 and x.ndim:
                y = c_rows(x, axis % x.ndim)
                if y is not None:
                    return (y,)
            return (along(x).astype(x.dtype, copy=False),)
        return run
    return build


def _c_softmax(opset: int) -> Callable[[np.ndarray, int], np.ndarray | None] | None:
    """compiled/transformer.c's softmax over rows, or None without it. From opset 13 only the last axis
    is rows (another axis returns None: numpy's path); before 13 the input is 2-D at ``axis``, which for
    a C-ordered tensor is rows of everything from ``axis`` on."""
    lib = transformer_kernels()
    if lib is None:
        return None
    ptr = address

    def rows(x: np.ndarray, ax: int) -> np.ndarray | None:
        if opset >= 13 and ax != x.ndim - 1:
            return None
        x = np.ascontiguousarray(x)
        size = math.prod(x.shape[ax:])
        y = np.empty(x.shape, np.float32)
        lib.softmax_f32(ptr(x), ptr(y), x.size // size, size)
        return y
    return rows


for _name in ("Softmax", "LogSoftmax", "Hardmax"):
    registry.register(_name)(_softmax_family(_name))
