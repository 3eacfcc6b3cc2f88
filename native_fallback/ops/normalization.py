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


_F32 = np.dtype(np.float32)


def _c_layer_norm(axis: int, eps: float, stats: bool) -> Callable | None:
    """compiled/transformer.c's LayerNormalization over C-ordered rows (statistics in double), as a function
    returning (y, mean, inv_std) or None where it does not apply (see :func:`_per_row`); None without C.

    The mean and inverse deviation are written only when ``stats`` (the node asks for them). As in
    linalg.c_linear, a call's checks and addresses serve the next one with the same input shape and the
    same scale and bias objects (a node's constants; see :func:`c_operands`)."""
    lib = transformer_kernels()
    if lib is None:
        return None
    call = lib.layernorm_f32
    last: list = [None]

    def plan(x, scale, bias) -> tuple | None:
        """(x's shape, scale, bias, their C-ordered arrays, their addresses, rows, size, axis)."""
        if not x.size or x.dtype != _F32 or scale.dtype != _F32 or (bias is not None and bias.dtype != _F32):
            return None
        ax = axis % x.ndim
        if not (_per_row(scale, x.shape, ax) and _per_row(bias, x.shape, ax)):
            return None
        kept, (sp, bp), reusable = c_operands(scale, bias)
        size = math.prod(x.shape[ax:])
        found = (x.shape, scale, bias, kept, sp, bp, x.size // size, size, ax)
        if reusable:
            last[0] = found
        return found

    def run(x, scale, bias):
        p = last[0]
        if p is None or p[0] != x.shape or p[1] is not scale or p[2] is not bias or x.dtype is not _F32:
            p = plan(x, scale, bias)
            if p is None:
                return None
        x = x if x.flags.c_contiguous else np.ascontiguousarray(x)
        y = np.empty(x.shape, _F32)
        rows = p[6]
        mean, inv = (np.empty(rows, _F32), np.empty(rows, _F32)) if stats else (None, None)
        stat_ptrs = (address(mean), address(inv)) if stats else (None, None)
        call(address(x), p[4], p[5], address(y), *stat_ptrs, rows, p[7], eps)
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
    c_rows = _c_layer_norm(axis, eps, stats)

    def run(x, scale, bias=None):
        ax = axis % x.ndim
        done = c_rows(x, scale, bias) if c_rows is not None else None
        y, mean, inv = done if done is not None else _layer_norm_numpy(x, ax, scale, bias, eps)
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
