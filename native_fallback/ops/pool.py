"""Pooling over strided views: Max/Average/Lp pooling and their global forms.

Windows are reduced with one vectorized numpy pass per kernel tap (kh*kw passes
over the output) instead of materializing a kernel-sized copy of the input.
"""

from __future__ import annotations

import math

import numpy as np

from .. import compiled, registry, threads
from ..ir import Node
from ._util import bad_attr
from .conv import ConvGeometry, conv_geometry, layout_flags, pad_spatial
from .conv.epilogue import addr, c_ready, library

#: An N,C,H,W input plane below this many pixels pools faster in numpy: the C kernel's work per output row
#: (a few short loops) outweighs its arithmetic there (14x14 planes: 1.0-1.3x numpy's time, 7x7: 1.4-1.7x;
#: 28x28: 0.85-0.9x, 112x112: 0.45x; measured), unless the C job splits: numpy's pool runs whole below
#: 64k elements, so ShuffleNet's 28x28 -> 14x14 AveragePools ran on one core at any thread count.
#: Channels-last rows are long: C always.
C_PLANE_MIN_PIXELS = 512


def _c_pool(op: str, x: np.ndarray, node: Node, kernel: tuple[int, ...], last: bool) -> int | None:
    """conv.c's ``maxpool_piece`` / ``avgpool_piece`` address where it should pool ``x``: 2-D, float32,
    C-contiguous, channels-last, with planes of :data:`C_PLANE_MIN_PIXELS` or in a job that splits, a C
    pool here."""
    if len(kernel) != 2 or not compiled.f32(x) or threads.current().c_handle() is None:
        return None
    if not last and x.shape[2] * x.shape[3] < C_PLANE_MIN_PIXELS:
        outputs = x.size // math.prod(node.attrs.get("strides", (1, 1)))  # about: the pads are small
        if threads.c_split("c_pool", outputs, x.shape[0] * x.shape[1])[1] < 2:
            return None
    return compiled.address("conv", op)


def _ceil_geometry(node: Node, shape: tuple[int, ...], kernel: tuple[int, ...]) -> ConvGeometry:
    """Pooling geometry with ceil_mode: extra end padding that windows may start in."""
    g = conv_geometry(node, shape, kernel)
    if not node.attrs.get("ceil_mode", 0):
        return g
    out, end = [], []
    for size, b, e, k, d, s in zip(shape, g.pads_begin, g.pads_end, kernel, g.dilations, g.strides, strict=True):
        o = -(-(size + b + e - ((k - 1) * d + 1)) // s) + 1
        if (o - 1) * s >= size + b:  # the last window must start inside the input or left padding
            o -= 1
        out.append(o)
        end.append(max(e, (o - 1) * s + (k - 1) * d + 1 - size - b))
    return ConvGeometry(g.strides, g.dilations, g.pads_begin, tuple(end), tuple(out))


def _taps(xp: np.ndarray, kernel: tuple[int, ...], g: ConvGeometry):
    """Yield, per kernel tap, the strided view of the inputs it sees for every output."""
    for tap in np.ndindex(*kernel):
        yield xp[(slice(None), slice(None), *(
            slice(t * d, t * d + s * (o - 1) + 1, s)
            for t, d, s, o in zip(tap, g.dilations, g.strides, g.out_shape, strict=True)))]


def channels_last(node: Node) -> bool:
    """Whether the CPU layout pass made this pool's input and output N,H,W,C (both or neither)."""
    flags = layout_flags(node)
    if flags["in_last"] != flags["out_last"]:
        raise bad_attr(node, "channels_last_in", int(flags["in_last"]), "the same as channels_last_out")
    return flags["in_last"]


def _spatial(x: np.ndarray, last: bool) -> tuple[int, ...]:
    return x.shape[1:-1] if last else x.shape[2:]


def max_pool(x: np.ndarray, node: Node, last: bool = False, memo: dict | None = None) -> np.ndarray:
    """MaxPool values (indices are produced separately, only when asked); ``last``: N,H,W,C in and out.
    ``memo``: the kernel's per-shape state (see :func:`_pool_c`). With the ``relu`` attribute (the
    optimizer's ``fold_relus_into_pools`` puts the Relu that read the pool into it) the values are Relu'd too:
    the C kernel starts each window's max at 0 instead of -inf, numpy takes one more pass."""
    kernel = tuple(node.attrs["kernel_shape"])
    piece = _c_pool("maxpool_piece", x, node, kernel, last)
    if piece is not None:
        return _pool_c(x, node, kernel, last, piece, {} if memo is None else memo)
    y = _max_pool_numpy(x, node, kernel, last)
    return np.maximum(y, 0, out=y) if node.attrs.get("relu") else y


def _max_pool_numpy(x: np.ndarray, node: Node, kernel: tuple[int, ...], last: bool) -> np.ndarray:
    """:func:`max_pool` in numpy, without the ``relu`` floor."""
    g = _ceil_geometry(node, _spatial(x, last), kernel)
    low = np.iinfo(x.dtype).min if x.dtype.kind in "iu" else -np.inf  # bfloat16 is kind 'V', yet a float
    xp = pad_spatial(x, g, low, last)
    pool, count = threads.split("pool", x.size, x.shape[-1 if last else 1])
    if pool is None:
        return _window_reduce(xp, kernel, g, np.maximum, last)
    # The engine's threads take channel ranges, each written into its slice of the output.
    channels = x.shape[-1 if last else 1]
    out = np.empty((x.shape[0], *g.out_shape, channels) if last else (*x.shape[:2], *g.out_shape), dtype=x.dtype)
    parts = threads.ranges(channels, count)

    def piece(k: int) -> None:
        sl = (Ellipsis, slice(*parts[k])) if last else (slice(None), slice(*parts[k]))
        out[sl] = _window_reduce(xp[sl], kernel, g, np.maximum, last)
    pool.map(piece, len(parts))
    return out


#: Pool jobs a kernel keeps (one per input shape and thread pool) before its memo is cleared.
POOL_JOBS_MAX = 8


def _pool_c(x: np.ndarray, node: Node, kernel: tuple[int, int], last: bool, piece: int, memo: dict,
            average: bool = False) -> np.ndarray:
    """2-D float32 MaxPool (``piece`` conv.c's ``maxpool_piece``) or, with ``average``, AveragePool
    (``avgpool_piece``, each window's divisor as count_include_pad and ceil_mode define it) from the unpadded input, as one job of
    the C pool (split into ranges of output rows or planes on the engine's threads; whole in the caller
    otherwise). The job, its geometry and divisors are built once per input shape and pool and kept in
    ``memo``. numpy's path took a padded copy and kh + kw passes, and split on the Python pool it got
    slower with a second thread (SqueezeNet's three MaxPools: 1.4 ms at one thread, 2.1 ms at two;
    ShuffleNet's AveragePools took 1.3 of its 15.7 ms at one thread; measured)."""
    pool = threads.current()
    key = (piece, x.shape, pool)
    hit = memo.get(key)
    if hit is None:
        spatial = _spatial(x, last)
        g = _ceil_geometry(node, spatial, kernel)
        counts = None
        if average:
            found = _window_counts(node, spatial, kernel, g, np.dtype(np.float32))
            counts = (np.full(g.out_shape, math.prod(kernel), np.float32) if found is None
                      else np.ascontiguousarray(found, np.float32))
        n, c = x.shape[0], x.shape[-1 if last else 1]
        (oh, ow) = g.out_shape
        units = n * oh if last else n * c
        _, count = threads.c_split("c_pool", n * c * oh * ow, units)
        ctx = np.array([*spatial, c, oh, ow, *kernel, *g.strides, *g.dilations, *g.pads_begin,
                        0, 0, last, units, count, 0 if counts is None else addr(counts),
                        bool(node.attrs.get("relu"))], np.int64)
        scratch = spatial[1] + 1 + 4 * kernel[1]  # floats: a row, then 2 int64 per window column
        job = threads.CJob(ctx, [(piece, count)], x=13, y=14, scratch=scratch, keep=(counts,))  # M_X, M_Y
        if len(memo) >= POOL_JOBS_MAX:
            memo.clear()
        hit = memo[key] = (job, (n, oh, ow, c) if last else (n, c, oh, ow))
    job, shape = hit
    out = compiled.empty(shape)
    job.run(pool, x, out)
    return out


def _window_reduce(xp: np.ndarray, kernel: tuple[int, ...], g: ConvGeometry, ufunc: np.ufunc,
                   last: bool = False) -> np.ndarray:
    """``ufunc`` (max or add) over every pooling window of the padded ``xp``.

    2-D windows are separable: kh + kw passes instead of kh * kw. Channels-last,
    every view keeps rows of C contiguous values whatever the strides, so the
    window rows go first, then the columns, as plain strided views. N,C,H,W with
    unit column stride: the window columns, then the rows. With a column
    stride, a strided column view would make numpy's inner loop gather every
    other element (4-5x slower than a contiguous one), so the rows go first
    (whole contiguous rows), then the columns as offsets into the flat result
    at full width, then one strided copy keeps the output columns.
    """
    if len(kernel) != 2:
        return _running(ufunc, list(_taps(xp, kernel, g)))
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, g.strides, g.dilations, g.out_shape
    if last:
        rows = _running(ufunc, [xp[:, i * dh: i * dh + sh * (oh - 1) + 1: sh] for i in range(kh)])
        return _running(ufunc, [rows[:, :, j * dw: j * dw + sw * (ow - 1) + 1: sw] for j in range(kw)])
    if sw == 1:
        cols = _running(ufunc, [xp[..., j * dw: j * dw + ow] for j in range(kw)])
        return _running(ufunc, [cols[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh] for i in range(kh)])
    flat = _running(ufunc, [xp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh] for i in range(kh)]).reshape(-1)
    if kw > 1:
        # A window starting at flat index k reads k + j*dw; every kept column's window ends in its own row.
        span = flat.size - (kw - 1) * dw
        wide = np.empty_like(flat)
        _running(ufunc, [flat[j * dw: j * dw + span] for j in range(kw)], out=wide[:span])
        flat = wide
    return np.ascontiguousarray(flat.reshape(*xp.shape[:2], oh, -1)[..., : sw * (ow - 1) + 1: sw])


def _running(ufunc: np.ufunc, views: list[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """``ufunc`` folded over several same-shaped views, in one output buffer (``out``, for two or more)."""
    if len(views) == 1:
        return views[0].copy()
    out = ufunc(views[0], views[1], out=out)
    for v in views[2:]:
        ufunc(out, v, out=out)
    return out


def max_pool_indices(x: np.ndarray, node: Node, out: np.ndarray) -> np.ndarray:
    """Flat NCHW indices of each max (row-major, or column-major with storage_order=1)."""
    kernel = tuple(node.attrs["kernel_shape"])
    g = _ceil_geometry(node, x.shape[2:], kernel)
    nd = len(kernel)
    sp = x.shape[2:]
    best = np.full(out.shape, -1, dtype=np.int64)
    found = np.zeros(out.shape, dtype=bool)
    coords = np.meshgrid(*[np.arange(o) for o in g.out_shape], indexing="ij")
    for tap in np.ndindex(*kernel):
        pos = [c * s + t * d - b for c, s, t, d, b in zip(coords, g.strides, tap, g.dilations, g.pads_begin, strict=True)]
        inside = np.logical_and.reduce([(p >= 0) & (p < n) for p, n in zip(pos, sp, strict=True)])
        clipped = [np.clip(p, 0, n - 1) for p, n in zip(pos, sp, strict=True)]
        vals = x[(slice(None), slice(None), *clipped)]
        hit = inside & (vals == out) & ~found
        if node.attrs.get("storage_order", 0) and nd == 2:
            flat = clipped[0] + clipped[1] * sp[0]
        else:
            flat = np.ravel_multi_index(clipped, sp)
        best = np.where(hit, flat, best)
        found |= hit
    n, c = x.shape[:2]
    base = (np.arange(n * c).reshape(n, c) * int(np.prod(sp))).reshape(n, c, *([1] * nd))
    return best + base


@registry.register("MaxPool", 1)
def max_pool_kernel(node: Node, opset: int):
    """MaxPool with optional Indices output."""
    want_indices = len(node.outputs) > 1 and node.outputs[1]
    last = channels_last(node)
    memo: dict = {}

    def run(x):
        y = max_pool(x, node, last, memo)
        return (y, max_pool_indices(x, node, y)) if want_indices else (y,)
    return run


def _window_counts(node: Node, shape: tuple[int, ...], kernel: tuple[int, ...], g: ConvGeometry,
                   dtype: np.dtype) -> np.ndarray | None:
    """How many elements each window averages over (None when every window is full)."""
    if node.attrs.get("count_include_pad", 0):
        # Windows reaching into ceil_mode's extra padding still count only real pads.
        plain = conv_geometry(node, shape, kernel)
        ones = np.pad(np.ones(shape, dtype=dtype), list(zip(plain.pads_begin, plain.pads_end, strict=True)),
                      constant_values=1)
        ones = np.pad(ones, [(0, e - pe) for e, pe in zip(g.pads_end, plain.pads_end, strict=True)])
    elif any(g.pads_begin) or any(g.pads_end):
        ones = pad_spatial(np.ones((1, 1, *shape), dtype=dtype), g)[0, 0]
    else:
        return None
    counts = np.zeros(g.out_shape, dtype=dtype)
    for v in _taps(ones[None, None], kernel, g):
        counts += v[0, 0]
    return counts


def avg_pool(x: np.ndarray, node: Node, counts_cache: dict | None = None, last: bool = False) -> np.ndarray:
    """AveragePool; padding counted only with count_include_pad=1; counts cached per shape (with a 2-D
    float32 input's C job, :func:`_pool_c`).

    ``last``: N,H,W,C in and out.
    """
    kernel = tuple(node.attrs["kernel_shape"])
    cache = {} if counts_cache is None else counts_cache
    piece = _c_pool("avgpool_piece", x, node, kernel, last)
    if piece is not None:
        return _pool_c(x, node, kernel, last, piece, cache, True)
    spatial = _spatial(x, last)
    g = _ceil_geometry(node, spatial, kernel)
    acc = _window_reduce(pad_spatial(x, g, 0.0, last), kernel, g, np.add, last)
    key = (spatial, x.dtype)
    if key not in cache:
        cache[key] = _window_counts(node, spatial, kernel, g, x.dtype)
    counts = cache[key]
    if counts is None:
        acc /= x.dtype.type(math.prod(kernel))
    else:
        acc /= counts[..., None] if last else counts
    return acc


@registry.register("AveragePool", 1)
def avg_pool_kernel(node: Node, opset: int):
    """ONNX AveragePool."""
    counts: dict = {}
    last = channels_last(node)
    return lambda x: (avg_pool(x, node, counts, last),)


@registry.register("LpPool", 1)
def lp_pool_kernel(node: Node, opset: int):
    """LpPool: (sum |x|^p over the window)^(1/p), padding contributes zero."""
    p = node.attrs.get("p", 2)

    def run(x):
        kernel = tuple(node.attrs["kernel_shape"])
        g = _ceil_geometry(node, x.shape[2:], kernel)
        xp = pad_spatial(np.abs(x) ** p, g)
        acc = sum(_taps(xp, kernel, g))
        return ((acc ** (1.0 / p)).astype(x.dtype),)
    return run


def global_mean(x: np.ndarray) -> np.ndarray:
    """Mean over every spatial axis, keeping them as size 1.

    For BLAS floats it is one matrix-vector product with a 1/P vector: numpy's
    mean over short rows (a classifier's 7x7 or 13x13 maps, hundreds of
    channels) runs 3-4x slower than the GEMV.
    """
    rows = x.reshape(*x.shape[:2], -1)
    if x.dtype not in (np.float32, np.float64) or rows.shape[-1] == 0:
        return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True, dtype=x.dtype)
    weights = np.full(rows.shape[-1], 1 / rows.shape[-1], dtype=x.dtype)
    return (rows @ weights).reshape(*x.shape[:2], *([1] * (x.ndim - 2)))


def global_mean_c(lib, x: np.ndarray) -> np.ndarray:
    """:func:`global_mean` by conv.c (float32, C-contiguous ``x``): one call over all (image, channel)
    rows, or row ranges on the engine's threads; the GEMV's setup cost more than a small map's sum."""
    rows = x.shape[0] * x.shape[1]
    y = np.empty(x.shape[:2] + (1,) * (x.ndim - 2), dtype=x.dtype)
    xp, yp, cols = addr(x), addr(y), x.size // max(rows, 1)
    threads.over_ranges("reduce", x.size, rows, lambda r0, r1: lib.row_mean(xp, yp, r0, r1, cols))
    return y


def _global(kind: str):
    def build(node: Node, opset: int):
        lib = library() if kind == "GlobalAveragePool" else None
        if node.attrs.get("channels_last_in"):
            if kind == "GlobalLpPool":
                raise bad_attr(node, "channels_last_in", node.attrs["channels_last_in"], "0 (GlobalLpPool reads N,C,H,W)")
            return _global_last(kind)

        def run(x):
            axes = tuple(range(2, x.ndim))
            if kind == "GlobalAveragePool":
                return (global_mean_c(lib, x) if c_ready(lib, x) and x.ndim > 2 and x.size else global_mean(x),)
            if kind == "GlobalMaxPool":
                return (x.max(axis=axes, keepdims=True),)
            p = node.attrs.get("p", 2)
            return ((np.sum(np.abs(x) ** p, axis=axes, keepdims=True) ** (1.0 / p)).astype(x.dtype),)
        return run
    return build


def _global_last(kind: str):
    """A global pool of an N,H,W,C input (the CPU pass ``channels_last_regions``): its (N, C, 1, 1) output
    holds the same values in either layout. The mean is one matrix product per image of the 1/P vector
    and its (P, C) pixels, as :func:`global_mean` takes it of N,C,H,W rows; the vector is kept per P and
    dtype (making it cost 8 of 12 us on MobileNetV3's 4x4 map)."""
    means: dict[tuple, np.ndarray] = {}

    def run(x):
        n, c = x.shape[0], x.shape[-1]
        pixels = x.reshape(n, -1, c)
        if kind == "GlobalMaxPool":
            y = pixels.max(axis=1)
        elif x.dtype in (np.float32, np.float64) and pixels.shape[1]:
            key = (pixels.shape[1], x.dtype)
            if key not in means:
                means[key] = np.full(pixels.shape[1], 1 / pixels.shape[1], dtype=x.dtype)
            y = means[key] @ pixels
        else:
            y = pixels.mean(axis=1, dtype=x.dtype)
        return (y.reshape(n, c, *([1] * (x.ndim - 2))),)
    return run


for _name in ("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"):
    registry.register(_name)(_global(_name))


@registry.register("MaxUnpool", 9)
def max_unpool(node: Node, opset: int):
    """MaxUnpool: scatter values to their recorded flat indices."""
    def run(x, idx, output_shape=None):
        kernel = node.attrs["kernel_shape"]
        nd = len(kernel)
        strides = node.attrs.get("strides", [1] * nd)
        pads = node.attrs.get("pads", [0] * 2 * nd)
        sp = [(i - 1) * s + k - pads[j] - pads[nd + j]
              for j, (i, s, k) in enumerate(zip(x.shape[2:], strides, kernel, strict=True))]
        inferred = (*x.shape[:2], *sp)
        out = np.zeros(int(np.prod(inferred)), dtype=x.dtype)
        out[idx.ravel()] = x.ravel()
        out = out.reshape(inferred)
        if output_shape is not None:  # a larger requested shape is zero-filled at the end of each axis
            target = [int(v) for v in output_shape]
            out = np.pad(out, [(0, t - s) for t, s in zip(target, inferred, strict=True)])
        return (out,)
    if node.attrs.get("storage_order", 0):
        raise bad_attr(node, "storage_order", 1, "0")
    return run
