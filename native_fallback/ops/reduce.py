"""Reductions (axes as attribute before opset 18, as input after), ArgMax/ArgMin, CumSum, TopK."""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node
from ._util import axes_input

_REDUCERS = {
    "ReduceSum": lambda x, ax, kd: np.sum(x, axis=ax, keepdims=kd, dtype=x.dtype),
    "ReduceMean": lambda x, ax, kd: np.mean(x, axis=ax, keepdims=kd, dtype=x.dtype),
    "ReduceMax": lambda x, ax, kd: (np.max(x, axis=ax, keepdims=kd) if x.size
                                    else np.full(_empty_shape(x, ax, kd), _lowest(x.dtype), x.dtype)),
    "ReduceMin": lambda x, ax, kd: (np.min(x, axis=ax, keepdims=kd) if x.size
                                    else np.full(_empty_shape(x, ax, kd), np.inf, x.dtype)),
    "ReduceProd": lambda x, ax, kd: np.prod(x, axis=ax, keepdims=kd, dtype=x.dtype),
    "ReduceL1": lambda x, ax, kd: np.sum(np.abs(x), axis=ax, keepdims=kd, dtype=x.dtype),
    "ReduceL2": lambda x, ax, kd: np.sqrt(np.sum(x * x, axis=ax, keepdims=kd)).astype(x.dtype),
    "ReduceLogSum": lambda x, ax, kd: np.log(np.sum(x, axis=ax, keepdims=kd)).astype(x.dtype),
    "ReduceLogSumExp": lambda x, ax, kd: _logsumexp(x, ax, kd),
    "ReduceSumSquare": lambda x, ax, kd: np.sum(x * x, axis=ax, keepdims=kd, dtype=x.dtype),
}
#: The opset from which each reducer takes ``axes`` as an input instead of an attribute.
_AXES_INPUT_FROM = {"ReduceSum": 13}


def _lowest(dtype: np.dtype):
    """The identity of max over an empty set in ``dtype``."""
    if dtype == np.bool_:
        return False
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _empty_shape(x: np.ndarray, ax, keepdims: bool) -> tuple:
    axes = range(x.ndim) if ax is None else [a % x.ndim for a in ax]
    return tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keepdims or i not in axes)


def _logsumexp(x: np.ndarray, ax, kd: bool) -> np.ndarray:
    if x.size == 0:
        return np.full(_empty_shape(x, ax, kd), -np.inf, x.dtype)
    m = np.max(x, axis=ax, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=ax, keepdims=True)) + m
    return (out if kd else np.squeeze(out, axis=ax)).astype(x.dtype)


def _reduce(name: str, axes_as_input: bool):
    fn = _REDUCERS[name]

    def build(node: Node, opset: int):
        keepdims = bool(node.attrs.get("keepdims", 1))
        noop_empty = bool(node.attrs.get("noop_with_empty_axes", 0))

        def run(x, axes=None):
            ax = axes_input(axes) if axes_as_input else (tuple(node.attrs["axes"]) if "axes" in node.attrs else None)
            if ax is None and noop_empty:
                return (x,)
            return (np.asarray(fn(x, ax, keepdims)),)
        return run
    return build


for _name in _REDUCERS:
    _switch = _AXES_INPUT_FROM.get(_name, 18)
    registry.register(_name, 1, _switch - 1)(_reduce(_name, False))
    registry.register(_name, _switch)(_reduce(_name, True))


def _arg(fn):
    def build(node: Node, opset: int):
        axis, keepdims = node.attrs.get("axis", 0), node.attrs.get("keepdims", 1)
        last = node.attrs.get("select_last_index", 0)

        def run(x):
            # select_last_index: search the flipped array, then map the index back.
            idx = x.shape[axis] - 1 - fn(np.flip(x, axis), axis=axis) if last else fn(x, axis=axis)
            idx = idx.astype(np.int64)
            return (np.expand_dims(idx, axis) if keepdims else idx,)
        return run
    return build


registry.register("ArgMax")(_arg(np.argmax))
registry.register("ArgMin")(_arg(np.argmin))


def _cumulative(ufunc: np.ufunc):
    """CumSum/CumProd with exclusive (shifted, starting at the identity) and reverse modes."""
    def build(node: Node, opset: int):
        exclusive, reverse = node.attrs.get("exclusive", 0), node.attrs.get("reverse", 0)

        def run(x, axis):
            ax = int(axis.reshape(-1)[0])
            y = np.flip(x, ax) if reverse else x
            out = ufunc.accumulate(y, axis=ax, dtype=x.dtype)
            if exclusive:
                first = np.full_like(np.take(out, [0], axis=ax), ufunc.identity)
                out = np.concatenate([first, np.take(out, range(out.shape[ax] - 1), axis=ax)], axis=ax)
            return (np.flip(out, ax) if reverse else out,)
        return run
    return build


registry.register("CumSum", 11)(_cumulative(np.add))
registry.register("CumProd", 26)(_cumulative(np.multiply))


@registry.register("TopK", 1)
def topk(node: Node, opset: int):
    """TopK, stable: ties keep the lower index first."""
    axis = node.attrs.get("axis", -1)
    largest, want_sorted = node.attrs.get("largest", 1), node.attrs.get("sorted", 1)

    def run(x, k=None):
        kk = int(node.attrs["k"]) if k is None else int(k.reshape(-1)[0])
        if largest:  # descending, ties by lower index: stable sort of the reversed array
            n = x.shape[axis]
            idx = n - 1 - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)
        else:
            idx = np.argsort(x, axis=axis, kind="stable")
        idx = np.take(idx, range(kk), axis=axis)
        if not want_sorted:
            idx = np.sort(idx, axis=axis)
        return (np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64))
    return run
