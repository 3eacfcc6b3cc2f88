"""Shape and data movement: Reshape, Transpose, Concat, Slice, Gather, Pad, Shape, ...

These are views or single numpy calls; none loops over elements in Python.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from .. import registry
from ..ir import Node
from ._util import axes_input, bad_attr


def _ints(x: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(x).reshape(-1)]


def reshape_shape(shape: list[int], in_shape: tuple[int, ...], allowzero: bool) -> list[int]:
    """Resolve ONNX Reshape's 0 (copy) and -1 (infer) markers."""
    if not allowzero:
        shape = [in_shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return shape


@registry.register("Reshape", 5)
def reshape(node: Node, opset: int):
    """Reshape by a shape tensor."""
    allowzero = bool(node.attrs.get("allowzero", 0))
    resolved: dict[tuple, list[int]] = {}  # (input shape, shape bytes) -> target: a constant shape resolves once

    def run(x, shape):
        key = (x.shape, shape.dtype.char, shape.tobytes())
        target = resolved.get(key)
        if target is None:
            if len(resolved) > 64:  # a shape fed at run time: keep the table small
                resolved.clear()
            target = resolved[key] = reshape_shape(_ints(shape), x.shape, allowzero)
        return (x.reshape(target),)
    return run


def flatten_shape(shape: tuple[int, ...], axis: int) -> tuple[int, int]:
    """Flatten's 2-D shape: (product of dims before ``axis``, product of the rest).

    ``axis`` lies in [-rank, rank]; ``axis == rank`` is legal and gives (size, 1),
    so it must not be reduced modulo the rank (that turned axis=2 on a rank-2
    input into axis 0, the (1, N) that broke torch-exported BERT/GPT-2 Gathers).
    Both sides are explicit products so an empty tensor reshapes too.
    """
    ax = axis + len(shape) if axis < 0 else axis
    return math.prod(shape[:ax]), math.prod(shape[ax:])


@registry.register("Flatten", 1)
def flatten(node: Node, opset: int):
    """Flatten to 2-D at ``axis``."""
    axis = node.attrs.get("axis", 1)
    return lambda x: (x.reshape(flatten_shape(x.shape, axis)),)


@registry.register("Transpose", 1)
def transpose(node: Node, opset: int):
    """Transpose (reversed axes by default)."""
    perm = node.attrs.get("perm")
    return lambda x: (np.transpose(x, perm),)


@registry.register("Squeeze", 1, 12)
def squeeze_attr(node: Node, opset: int):
    """Squeeze with an ``axes`` attribute."""
    axes = node.attrs.get("axes")
    return lambda x: (np.squeeze(x, axis=tuple(axes) if axes else None),)


@registry.register("Squeeze", 13)
def squeeze(node: Node, opset: int):
    """Squeeze with an optional ``axes`` input."""
    return lambda x, axes=None: (np.squeeze(x, axis=axes_input(axes)),)


def _unsqueeze(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``x`` with size-1 dims inserted at ``axes`` (of the output's rank), as a reshape: np.expand_dims
    checks its arguments for 2 us a call."""
    rank = x.ndim + len(axes)
    inserted = {a % rank for a in axes}
    if len(inserted) != len(axes):
        raise ValueError(f"Unsqueeze axes {axes} repeat an axis")
    dims = iter(x.shape)
    return x.reshape([1 if i in inserted else next(dims) for i in range(rank)])


@registry.register("Unsqueeze", 1, 12)
def unsqueeze_attr(node: Node, opset: int):
    """Unsqueeze with an ``axes`` attribute."""
    axes = tuple(node.attrs["axes"])
    return lambda x: (_unsqueeze(x, axes),)


@registry.register("Unsqueeze", 13)
def unsqueeze(node: Node, opset: int):
    """Unsqueeze with an ``axes`` input."""
    return lambda x, axes: (_unsqueeze(x, axes_input(axes)),)


def _layout_step(step: tuple) -> Callable[[np.ndarray], np.ndarray]:
    """One step of a Relayout chain (see optimizer/layout_chain.py) as a function of the array: what the
    node's own kernel computes, its constant parameters bound."""
    op, *params = step
    if op == "Reshape":
        shape, allowzero = params
        if allowzero or 0 not in shape:
            return lambda x: x.reshape(shape)
        return lambda x: x.reshape(reshape_shape(list(shape), x.shape, allowzero))
    if op == "Transpose":
        perm = params[0]
        return lambda x: x.transpose(perm)
    if op == "Flatten":
        axis = params[0]
        return lambda x: x.reshape(flatten_shape(x.shape, axis))
    if op == "Squeeze":
        axes = params[0]
        return lambda x: x.squeeze(axes)
    if op == "Unsqueeze":
        axes = params[0]
        return lambda x: _unsqueeze(x, axes)
    axis, index = params  # Gather of one index
    return lambda x: np.take(x, index + x.shape[axis] if index < 0 else index, axis=axis)


@registry.register("Relayout", 1, domain=registry.FACADE_DOMAIN)
def relayout(node: Node, opset: int):
    """A chain of shape-only nodes fused by the optimizer, applied in order in one step."""
    steps = [_layout_step(s) for s in node.attrs["chain"]]

    def run(x):
        for step in steps:
            x = step(x)
        return (x,)
    return run


@registry.register("SplitColumns", 1, domain=registry.FACADE_DOMAIN)
def split_columns(node: Node, opset: int):
    """Consecutive column blocks of the last axis as views (optimizer/merge_linears.py's outputs)."""
    bounds = np.cumsum([0, *node.attrs["sizes"]]).tolist()
    spans = [slice(a, b) for a, b in itertools.pairwise(bounds)]
    return lambda x: tuple(x[..., s] for s in spans)


@registry.register("Concat", 1)
def concat(node: Node, opset: int):
    """Concat along ``axis``."""
    axis = node.attrs.get("axis", 1)
    return lambda *xs: (np.concatenate(xs, axis=axis),)


@registry.register("Split", 1)
def split(node: Node, opset: int):
    """Split by sizes (attribute or input) or into equal parts."""
    axis = node.attrs.get("axis", 0)
    count = len(node.outputs)

    def run(x, sizes=None):
        parts = _ints(sizes) if sizes is not None and sizes.size else node.attrs.get("split")
        if parts is None:
            n = node.attrs.get("num_outputs", count)
            step = -(-x.shape[axis] // n)
            parts = [min(step, x.shape[axis] - i * step) for i in range(n)]
        return tuple(np.split(x, np.cumsum(parts)[:-1], axis=axis))
    return run


@registry.register("Slice", 1, 9)
def slice_attr(node: Node, opset: int):
    """Slice with attribute starts/ends/axes."""
    starts, ends = node.attrs["starts"], node.attrs["ends"]
    axes = node.attrs.get("axes", list(range(len(starts))))
    return lambda x: (_slice(x, starts, ends, axes, [1] * len(starts)),)


def _slice(x: np.ndarray, starts, ends, axes, steps) -> np.ndarray:
    """ONNX Slice, with starts and ends clamped as the specification says.

    ``slice.indices`` clamps a negative step's end to -1, meaning "before index
    0"; fed back into a slice, -1 would mean the last element and give an empty
    result (torch's legacy export of ``F.pad`` reverses a list with ends=INT64_MIN+1).
    """
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        start, stop, step = slice(int(s), int(e), int(st)).indices(x.shape[a])
        index[a] = slice(start, None if stop < 0 else stop, step)
    return x[tuple(index)]


@registry.register("Slice", 10)
def slice_(node: Node, opset: int):
    """Slice with tensor starts/ends/axes/steps."""
    def run(x, starts, ends, axes=None, steps=None):
        s = _ints(starts)
        return (_slice(x, s, _ints(ends), _ints(axes) if axes is not None else range(len(s)),
                       _ints(steps) if steps is not None else [1] * len(s)),)
    return run


@registry.register("Gather", 1)
def gather(node: Node, opset: int):
    """Gather along ``axis`` with negative indices allowed."""
    axis = node.attrs.get("axis", 0)
    def run(x, idx):
        if idx.ndim == 0:  # one index (a transformer's token or head pick): no index arrays built
            i = int(idx)
            return (np.take(x, i + x.shape[axis] if i < 0 else i, axis=axis),)
        return (np.take(x, np.where(idx < 0, idx + x.shape[axis], idx), axis=axis),)
    return run


@registry.register("GatherElements", 11)
def gather_elements(node: Node, opset: int):
    """GatherElements: take_along_axis."""
    axis = node.attrs.get("axis", 0)
    return lambda x, idx: (np.take_along_axis(x, np.where(idx < 0, idx + x.shape[axis], idx), axis=axis),)


@registry.register("GatherND", 11)
def gather_nd(node: Node, opset: int):
    """GatherND with ``batch_dims``."""
    b = node.attrs.get("batch_dims", 0)

    def run(x, idx):
        batch = x.shape[:b]
        xb = x.reshape(-1, *x.shape[b:])
        ib = idx.reshape(-1, *idx.shape[b:])
        k = idx.shape[-1]
        outs = [xb[i][tuple(np.moveaxis(ib[i], -1, 0))] if k else xb[i] for i in range(xb.shape[0])]
        out = np.stack(outs) if outs else np.empty((0,), x.dtype)
        return (out.reshape(*batch, *idx.shape[b:-1], *x.shape[b + k:]),)
    return run


def _reduce_into(node: Node):
    red = node.attrs.get("reduction", "none")
    table = {"none": None, "add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}
    if red not in table:
        raise bad_attr(node, "reduction", red, "none, add, mul, max or min")
    return table[red]


@registry.register("ScatterElements", 11)
def scatter_elements(node: Node, opset: int):
    """ScatterElements with optional reduction."""
    axis = node.attrs.get("axis", 0)
    ufunc = _reduce_into(node)

    def run(x, idx, upd):
        out = x.copy()
        idx = np.where(idx < 0, idx + x.shape[axis], idx)
        grid = list(np.indices(idx.shape, sparse=True))
        grid[axis] = idx
        if ufunc is None:
            out[tuple(grid)] = upd
        else:
            ufunc.at(out, tuple(np.broadcast_arrays(*grid)), upd)
        return (out,)
    return run


registry.register("Scatter", 9, 10)(scatter_elements)


@registry.register("ScatterND", 11)
def scatter_nd(node: Node, opset: int):
    """ScatterND with optional reduction."""
    ufunc = _reduce_into(node)

    def run(x, idx, upd):
        out = x.copy()
        key = tuple(np.moveaxis(idx, -1, 0))
        if ufunc is None:
            out[key] = upd
        else:
            ufunc.at(out, key, upd)
        return (out,)
    return run


@registry.register("Expand", 8)
def expand(node: Node, opset: int):
    """Expand: bidirectional broadcast to a shape."""
    return lambda x, shape: (x * np.ones(_ints(shape), dtype=x.dtype) if x.dtype != np.bool_
                             else np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(_ints(shape)))).copy(),)


@registry.register("Tile", 6)
def tile(node: Node, opset: int):
    """Tile by repeats."""
    return lambda x, reps: (np.tile(x, _ints(reps)),)


@registry.register("Pad", 2, 10)
def pad_attr(node: Node, opset: int):
    """Pad with attribute pads (opset < 11)."""
    pads, mode, value = node.attrs["pads"], node.attrs.get("mode", "constant"), node.attrs.get("value", 0.0)
    return lambda x: (_pad(x, pads, mode, value, None),)


def _pad(x: np.ndarray, pads, mode: str, value, axes) -> np.ndarray:
    axes = list(range(x.ndim)) if axes is None else [a % x.ndim for a in axes]
    n = len(axes)
    widths = [(0, 0)] * x.ndim
    for i, a in enumerate(axes):
        widths[a] = (int(pads[i]), int(pads[n + i]))
    # Negative pads crop; numpy.pad cannot, so pad the positive parts then slice.
    pos = [(max(b, 0), max(e, 0)) for b, e in widths]
    if mode == "constant":
        y = np.pad(x, pos, mode="constant", constant_values=value)
    else:
        y = np.pad(x, pos, mode={"reflect": "reflect", "edge": "edge", "wrap": "wrap"}[mode])
    crop = tuple(slice(-min(b, 0), y.shape[i] + min(e, 0)) for i, (b, e) in enumerate(widths))
    return y[crop]


@registry.register("Pad", 11)
def pad(node: Node, opset: int):
    """Pad with tensor pads, constant value and axes."""
    mode = node.attrs.get("mode", "constant")

    def run(x, pads, value=None, axes=None):
        v = 0 if value is None or value.size == 0 else value.reshape(-1)[0]
        return (_pad(x, _ints(pads), mode, v, axes_input(axes)),)
    return run


@registry.register("Shape", 1)
def shape(node: Node, opset: int):
    """Shape with optional start/end (opset 15)."""
    start, end = node.attrs.get("start", 0), node.attrs.get("end")
    return lambda x: (np.array(x.shape[start:end], dtype=np.int64),)


@registry.register("Size", 1)
def size(node: Node, opset: int):
    """Number of elements."""
    return lambda x: (np.array(x.size, dtype=np.int64),)


@registry.register("Constant", 1)
def constant(node: Node, opset: int):
    """Constant from any of its value attributes."""
    if "value" in node.attrs:
        value = np.asarray(node.attrs["value"])
    else:
        key, raw = next(iter(node.attrs.items()))
        dtype = {"value_float": np.float32, "value_floats": np.float32, "value_int": np.int64,
                 "value_ints": np.int64}.get(key)
        value = np.array(raw, dtype=dtype)
    return lambda: (value,)


@registry.register("ConstantOfShape", 9)
def constant_of_shape(node: Node, opset: int):
    """A tensor of the given shape filled with ``value`` (float32 zero by default)."""
    fill = np.asarray(node.attrs.get("value", np.zeros(1, np.float32))).reshape(-1)
    return lambda shape: (np.full(_ints(shape), fill[0], dtype=fill.dtype),)


@registry.register("Range", 11)
def range_(node: Node, opset: int):
    """Range(start, limit, delta)."""
    def run(start, limit, delta):
        dtype = np.result_type(start, limit, delta)
        s, lim, d = (np.asarray(v).reshape(-1)[0] for v in (start, limit, delta))
        count = max(int(np.ceil((lim - s) / d)), 0)
        return ((s + np.arange(count) * d).astype(dtype),)
    return run


@registry.register("OneHot", 9)
def one_hot(node: Node, opset: int):
    """OneHot with negative indices wrapped and off/on values."""
    axis = node.attrs.get("axis", -1)

    def run(idx, depth, values):
        d = int(np.asarray(depth).reshape(-1)[0])
        idx = np.where(idx < 0, idx + d, idx).astype(np.int64)
        hot = (np.expand_dims(idx, -1) == np.arange(d)).astype(bool)
        hot = np.moveaxis(hot, -1, axis if axis >= 0 else idx.ndim + 1 + axis)
        return (np.where(hot, values[1], values[0]).astype(values.dtype),)
    return run


@registry.register("NonZero", 9)
def non_zero(node: Node, opset: int):
    """Indices of non-zero elements, one row per axis."""
    return lambda x: (np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1),)


@registry.register("Trilu", 14)
def trilu(node: Node, opset: int):
    """Upper or lower triangle of the trailing matrices."""
    upper = node.attrs.get("upper", 1)

    def run(x, k=None):
        kk = 0 if k is None else int(k.reshape(-1)[0])
        return (np.triu(x, kk) if upper else np.tril(x, kk),)
    return run


@registry.register("DepthToSpace", 1)
def depth_to_space(node: Node, opset: int):
    """DepthToSpace in DCR or CRD order."""
    b, mode = node.attrs["blocksize"], node.attrs.get("mode", "DCR")

    def run(x):
        n, c, h, w = x.shape
        if mode == "DCR":
            y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        return (y.reshape(n, c // (b * b), h * b, w * b),)
    return run


@registry.register("SpaceToDepth", 1)
def space_to_depth(node: Node, opset: int):
    """SpaceToDepth in DCR order, or CRD (opset 28)."""
    b, mode = node.attrs["blocksize"], node.attrs.get("mode", "DCR")
    order = (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)

    def run(x):
        n, c, h, w = x.shape
        y = x.reshape(n, c, h // b, b, w // b, b).transpose(*order)
        return (y.reshape(n, c * b * b, h // b, w // b),)
    return run


@registry.register("EyeLike", 9)
def eye_like(node: Node, opset: int):
    """Identity-like matrix with diagonal offset ``k``."""
    from onnx.helper import tensor_dtype_to_np_dtype

    k, to = node.attrs.get("k", 0), node.attrs.get("dtype")

    def run(x):
        dtype = x.dtype if to is None else tensor_dtype_to_np_dtype(to)
        return (np.eye(x.shape[0], x.shape[1], k, dtype=dtype),)
    return run


@registry.register("Compress", 9)
def compress(node: Node, opset: int):
    """Select slices where a boolean condition holds."""
    axis = node.attrs.get("axis")
    return lambda x, cond: (np.compress(cond.astype(bool), x, axis=axis),)


@registry.register("ReverseSequence", 10)
def reverse_sequence(node: Node, opset: int):
    """Reverse the first ``len`` steps of each batch entry."""
    bax, tax = node.attrs.get("batch_axis", 1), node.attrs.get("time_axis", 0)

    def run(x, lens):
        out = x.copy()
        for i, n in enumerate(lens):
            src = [slice(None)] * x.ndim
            src[bax], src[tax] = i, slice(0, int(n))
            dst = list(src)
            dst[tax] = slice(int(n) - 1, None, -1) if n > 0 else slice(0, 0)
            out[tuple(src)] = x[tuple(dst)]
        return (out,)
    return run


@registry.register("Unique", 11)
def unique(node: Node, opset: int):
    """Unique values, in sorted or first-occurrence order, with inverse indices and counts."""
    axis, want_sorted = node.attrs.get("axis"), node.attrs.get("sorted", 1)

    def run(x):
        y, first, inverse, counts = np.unique(x, return_index=True, return_inverse=True,
                                              return_counts=True, axis=axis)
        if not want_sorted:
            order = np.argsort(first, kind="stable")
            rank = np.argsort(order)
            y = np.take(y, order, axis=0 if axis is None else axis)
            first, counts, inverse = first[order], counts[order], rank[inverse.reshape(-1)]
        i64 = np.int64
        return (y, first.astype(i64), inverse.reshape(-1).astype(i64), counts.astype(i64))[: len(node.outputs)]
    return run


@registry.register("CenterCropPad", 18)
def center_crop_pad(node: Node, opset: int):
    """Crop or zero-pad each listed axis to its target size, centred."""
    axes_attr = node.attrs.get("axes")

    def run(x, shape):
        axes = [a % x.ndim for a in axes_attr] if axes_attr else list(range(x.ndim))
        out_shape = list(x.shape)
        for a, size in zip(axes, _ints(shape), strict=True):
            out_shape[a] = size
        out = np.zeros(out_shape, dtype=x.dtype)
        src, dst = [slice(None)] * x.ndim, [slice(None)] * x.ndim
        for a in axes:
            have, want = x.shape[a], out_shape[a]
            if want <= have:  # crop: the extra element goes to the end
                start = (have - want) // 2
                src[a] = slice(start, start + want)
            else:  # pad: the extra element goes to the end
                start = (want - have) // 2
                dst[a] = slice(start, start + have)
        out[tuple(dst)] = x[tuple(src)]
        return (out,)
    return run
