"""Normalization: BatchNormalization (inference), Instance/Layer/Group/RMS norms, LRN, Lp, MVN."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import registry
from ..ir import Node
from ._util import address, c_operands, transformer_kernels


def _channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape(1, -1, *([1] * (ndim - 2)))


@registry.register("BatchNormalization", 1)
def batch_norm(node: Node, opset: int):
    """Inference BatchNormalization with the stored statistics (every opset)."""
    eps = node.attrs.get("epsilon", 1e-5)
    momentum = node.attrs.get("momentum", 0.9)

    def run(x, scale, bias, mean, var):
        if node.attrs.get("training_mode", 0):  # opset 14+: normalize by batch statistics
            axes = (0, *range(2, x.ndim))
            batch_mean, batch_var = x.mean(axis=axes), x.var(axis=axes)
            y = (x - _channel(batch_mean, x.ndim)) / np.sqrt(_channel(batch_var, x.ndim) + eps)
            y = y * _channel(scale, x.ndim) + _channel(bias, x.ndim)
            running = (mean * momentum + batch_mean * (1 - momentum), var * momentum + batch_var * (1 - momentum))
            return (y.astype(x.dtype), *(r.astype(mean.dtype) for r in running))[: len(node.outputs)]
        k = scale / np.sqrt(var + var.dtype.type(eps))
        y = x * _channel(k, x.ndim).astype(x.dtype) + _channel(bias - mean * k, x.ndim).astype(x.dtype)
        return (y, mean, var)[: max(1, sum(1 for o in node.outputs if o))]
    return run


def _normalize(x: np.ndarray, axes: tuple[int, ...], eps: float) -> np.ndarray:
    mean = x.mean(axis=axes, keepdims=True)
    d = x - mean
    var = (d * d).mean(axis=axes, keepdims=True)
    return d / np.sqrt(var + eps)


@registry.register("InstanceNormalization", 1)
def instance_norm(node: Node, opset: int):
    """Per-sample, per-channel normalization."""
    eps = node.attrs.get("epsilon", 1e-5)
    return lambda x, s, b: ((_normalize(x, tuple(range(2, x.ndim)), eps) * _channel(s, x.ndim)
                             + _channel(b, x.ndim)).astype(x.dtype),)


def _per_row(v: np.ndarray | None, shape: tuple[int, ...], ax: int) -> bool:
    """Whether ``v`` (a LayerNorm scale or bias) is exactly one value per element of a normalized row:
    its trailing dims equal ``shape[ax:]`` (missing leading ones count as 1) and any dims before are 1.
    A scale that broadcasts within the row, or across rows, is not (numpy's path serves it)."""
    if v is None:
        return True
    tail = shape[ax:]
    cut = max(0, v.ndim - len(tail))
    trailing = (1,) * (len(tail) - (v.ndim - cut)) + v.shape[cut:]
    return v.ndim <= len(shape) and all(d == 1 for d in v.shape[:cut]) and trailing == tail


def _c_layer_norm(eps: float, stats: bool) -> Callable | None:
    """compiled/transformer.c's LayerNormalization over C-ordered rows (statistics in double), or None.

    The mean and inverse deviation are written only when ``stats`` (the node asks for them). Scale and
    bias are the node's constants in practice: see :func:`c_operands`."""
    lib = transformer_kernels()
    if lib is None:
        return None
    cache: list = [None]

    def run(x, ax, scale, bias):
        _alive, (sp, bp) = c_operands(cache, scale, bias)  # the C-ordered copies live through the call
        x = np.ascontiguousarray(x)
        size = math.prod(x.shape[ax:])
        rows = x.size // size
        y = np.empty(x.shape, np.float32)
        mean, inv = (np.empty(rows, np.float32), np.empty(rows, np.float32)) if stats else (None, None)
        stat_ptrs = (address(mean), address(inv)) if stats else (None, None)
        lib.layernorm_f32(address(x), sp, bp, address(y), *stat_ptrs, rows, size, eps)
        return y, mean, inv
    return run


def _layer_norm_numpy(x: np.ndarray, ax: int, scale: np.ndarray, bias: np.ndarray | None, eps: float) -> tuple:
    """(y, mean, inv_std) over rows of the normalized size, in place where it can: five numpy passes, not
    eleven (a transformer's LayerNorms run on small tensors, where each numpy call is the cost)."""
    xf = x.astype(np.float64) if x.dtype == np.float16 else x
    size = math.prod(x.shape[ax:])
    rows = xf.reshape(-1, size)
    mean = np.add.reduce(rows, axis=1, keepdims=True)
    mean *= 1.0 / size
    y = rows - mean
    var = np.einsum("ij,ij->i", y, y)[:, None]
    var *= 1.0 / size
    var += eps
    inv = np.sqrt(var, out=var)
    np.divide(1.0, inv, out=inv)
    y *= inv
    y = y.reshape(x.shape)
    y *= scale
    if bias is not None:
        y += bias
    return y.astype(x.dtype, copy=False), mean.astype(x.dtype, copy=False), inv.astype(x.dtype, copy=False)


@registry.register("LayerNormalization", 17)
def layer_norm(node: Node, opset: int):
    """LayerNormalization with optional Mean and InvStdDev outputs (float32 rows whose scale and bias have
    one value per element go to C, see :func:`_per_row`)."""
    axis, eps = node.attrs.get("axis", -1), node.attrs.get("epsilon", 1e-5)
    stats = len(node.outputs) > 1
    c_rows = _c_layer_norm(eps, stats)
    fits: dict[tuple, bool] = {}  # (x, scale, bias shapes and dtypes) -> whether C serves them

    def in_c(x, ax, scale, bias) -> bool:
        key = (x.shape, x.dtype, scale.shape, scale.dtype, None if bias is None else (bias.shape, bias.dtype))
        ok = fits.get(key)
        if ok is None:
            if len(fits) > 64:  # shapes that change every run: keep the table small
                fits.clear()
            ok = fits[key] = (x.dtype == scale.dtype == np.float32 and (bias is None or bias.dtype == np.float32)
                              and _per_row(scale, x.shape, ax) and _per_row(bias, x.shape, ax))
        return ok

    def run(x, scale, bias=None):
        ax = axis % x.ndim
        if c_rows is not None and x.size and in_c(x, ax, scale, bias):
            y, mean, inv = c_rows(x, ax, scale, bias)
        else:
            y, mean, inv = _layer_norm_numpy(x, ax, scale, bias, eps)
        if not stats:
            return (y,)
        kept = x.shape[:ax] + (1,) * (x.ndim - ax)
        return (y, mean.reshape(kept), inv.reshape(kept))[: len(node.outputs)]
    return run


@registry.register("RMSNormalization", 23)
def rms_norm(node: Node, opset: int):
    """RMSNormalization over axes from ``axis`` to the end."""
    axis, eps = node.attrs.get("axis", -1), node.attrs.get("epsilon", 1e-5)

    def run(x, scale):
        axes = tuple(range(axis % x.ndim, x.ndim))
        rms = np.sqrt((x.astype(np.float64) ** 2).mean(axis=axes, keepdims=True) + eps)
        return ((x / rms * scale).astype(x.dtype),)
    return run


@registry.register("GroupNormalization", 18)
def group_norm(node: Node, opset: int):
    """GroupNormalization; opset 18 scales per group, 21+ per channel."""
    eps, groups = node.attrs.get("epsilon", 1e-5), node.attrs["num_groups"]

    def run(x, scale, bias):
        n, c = x.shape[:2]
        xg = x.reshape(n, groups, -1)
        y = _normalize(xg, (2,), eps).reshape(x.shape)
        if scale.shape[0] == groups and groups != c:
            scale, bias = np.repeat(scale, c // groups), np.repeat(bias, c // groups)
        return ((y * _channel(scale, x.ndim) + _channel(bias, x.ndim)).astype(x.dtype),)
    return run


@registry.register("LRN", 1)
def lrn(node: Node, opset: int):
    """Local response normalization across channels (a windowed channel sum, batch-wise)."""
    alpha, beta = node.attrs.get("alpha", 1e-4), node.attrs.get("beta", 0.75)
    bias, size = node.attrs.get("bias", 1.0), node.attrs["size"]

    def run(x):
        sq = np.pad(x * x, [(0, 0), ((size - 1) // 2, size // 2)] + [(0, 0)] * (x.ndim - 2))
        acc = sum(sq[:, i: i + x.shape[1]] for i in range(size))
        return ((x / (bias + alpha / size * acc) ** beta).astype(x.dtype),)
    return run


@registry.register("LpNormalization", 1)
def lp_norm(node: Node, opset: int):
    """Divide by the L1 or L2 norm along ``axis``."""
    axis, p = node.attrs.get("axis", -1), node.attrs.get("p", 2)

    def run(x):
        norm = np.abs(x).sum(axis=axis, keepdims=True) if p == 1 else np.sqrt((x * x).sum(axis=axis, keepdims=True))
        safe = np.where(norm == 0, 1, norm)
        return (np.where(norm == 0, 0, x / safe).astype(x.dtype),)
    return run


@registry.register("MeanVarianceNormalization", 9)
def mvn(node: Node, opset: int):
    """(x - mean) / std over ``axes`` (default N, H, W); epsilon as onnx does it."""
    axes = tuple(node.attrs.get("axes", [0, 2, 3]))

    def run(x):
        mean = x.mean(axis=axes, keepdims=True)
        std = np.sqrt((x * x).mean(axis=axes, keepdims=True) - mean * mean)
        return (((x - mean) / (std + 1e-9)).astype(x.dtype),)
    return run
