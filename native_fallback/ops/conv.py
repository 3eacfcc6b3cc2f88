"""Convolution: Conv, ConvTranspose and the optimizer's FusedConv.

Speed comes from never looping per element in Python: a 1x1 convolution is one
GEMM, depthwise convolution is a handful of shifted multiply-adds over strided
views, and everything else is im2col (a strided view copied once) + GEMM, split
into blocks of output rows when the column matrix would be large.

On the CPU the optimizer may hand a 2-D convolution channels-last (N,H,W,C)
tensors (see ``optimizer/channels_last.py``): the node's attributes
``channels_last_in`` / ``channels_last_out`` say which side is. Only Winograd
needs N,C,H,W on both sides.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import registry
from ..ir import Node
from ._util import bad_attr
from .activation import in_place_activation
from .padding import pad_end
from .winograd import transform_weights, winograd_conv

#: im2col column matrices above this many bytes are built block by block. A block this size is still in
#: cache when its GEMM reads it: ResNet-50's 7x7 stem (a 7.4 MB column matrix) runs 1.3x faster than in
#: 8 MB blocks, and smaller layers do not change (measured).
IM2COL_BLOCK_BYTES = 2 << 20
#: Depthwise "flat" mode keeps kh*kw expanded weight copies; only planes small enough for this budget.
DEPTHWISE_EXPANDED_BYTES = 6 << 20
#: Winograd only when both channel counts reach this and the output has this many pixels: below,
#: its transforms cost more than the multiplies they save (measured on ResNet/SqueezeNet layers).
WINOGRAD_MIN_CHANNELS = 64
WINOGRAD_MIN_PIXELS = 196
#: A 1x1 convolution folds its bias into the GEMM (a row of ones under a copy of the input, the bias
#: as one more weight column) from this many output channels per input channel: the copy then costs
#: less than a pass over the output (13-28% faster on MobileNetV2's expansions, measured).
BIAS_FOLD_MIN_EXPANSION = 2


@dataclass
class ConvGeometry:
    """Strides, dilations and padding resolved for one input shape."""

    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads_begin: tuple[int, ...]
    pads_end: tuple[int, ...]
    out_shape: tuple[int, ...]


def resolve_pads(node: Node, in_shape: tuple[int, ...], kernel: tuple[int, ...],
                 strides: tuple[int, ...], dilations: tuple[int, ...]) -> tuple[tuple, tuple]:
    """Explicit or auto_pad padding for the spatial dims ``in_shape``."""
    nd = len(kernel)
    auto = node.attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = node.attrs.get("pads", [0] * 2 * nd)
        return tuple(pads[:nd]), tuple(pads[nd:])
    if auto == "VALID":
        return (0,) * nd, (0,) * nd
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise bad_attr(node, "auto_pad", auto, "NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    begin, end = [], []
    for size, k, s, d in zip(in_shape, kernel, strides, dilations, strict=True):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return tuple(begin), tuple(end)


def conv_geometry(node: Node, in_shape: tuple[int, ...], kernel: tuple[int, ...]) -> ConvGeometry:
    """Resolve every spatial parameter of a Conv-like node for ``in_shape``."""
    nd = len(kernel)
    strides = tuple(node.attrs.get("strides", [1] * nd))
    dilations = tuple(node.attrs.get("dilations", [1] * nd))
    begin, end = resolve_pads(node, in_shape, kernel, strides, dilations)
    out = tuple((size + b + e - ((k - 1) * d + 1)) // s + 1
                for size, b, e, k, d, s in zip(in_shape, begin, end, kernel, dilations, strides, strict=True))
    return ConvGeometry(strides, dilations, begin, end, out)


def pad_spatial(x: np.ndarray, g: ConvGeometry, value: float = 0.0, channels_last: bool = False) -> np.ndarray:
    """Pad the spatial dims of an N,C,... (or N,...,C) array (no copy when there is no padding)."""
    if not any(g.pads_begin) and not any(g.pads_end):
        return x
    if channels_last:
        return pad_end(x, (*g.pads_begin, 0), (*g.pads_end, 0), value)
    return pad_end(x, g.pads_begin, g.pads_end, value)


def windows(xp: np.ndarray, kernel: tuple[int, ...], g: ConvGeometry) -> np.ndarray:
    """A read-only strided view of shape (N, C, *kernel, *out) over a padded input."""
    sp = xp.strides[2:]
    shape = (*xp.shape[:2], *kernel, *g.out_shape)
    strides = (*xp.strides[:2], *(s * d for s, d in zip(sp, g.dilations, strict=True)),
               *(s * st for s, st in zip(sp, g.strides, strict=True)))
    return _read_only_view(xp, shape, strides)


def windows_last(xp: np.ndarray, kernel: tuple[int, int], g: ConvGeometry) -> np.ndarray:
    """A read-only strided view (N, OH, OW, KH, KW, C) over a padded N,H,W,C input."""
    sn, sh, sw, sc = xp.strides
    (st_h, st_w), (dl_h, dl_w) = g.strides, g.dilations
    return _read_only_view(xp, (xp.shape[0], *g.out_shape, *kernel, xp.shape[3]),
                           (sn, sh * st_h, sw * st_w, sh * dl_h, sw * dl_w, sc))


def _read_only_view(xp: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    if not xp.flags.c_contiguous:
        return as_strided(xp, shape, strides, writeable=False)
    # A direct view of the buffer: as_strided's generality costs ~4 us a call, a third of a small conv's.
    view = np.ndarray(shape, xp.dtype, xp, 0, strides)
    view.flags.writeable = False
    return view


def _pointwise(x: np.ndarray, w: np.ndarray, group: int, g: ConvGeometry, out: np.ndarray,
               in_last: bool = False, out_last: bool = False, b: np.ndarray | None = None,
               cache: WeightCache | None = None) -> bool:
    """1x1 convolution as one (batched over groups) GEMM per image, subsampled first when strided.

    Either side may be channels-last: that only transposes a GEMM operand, which
    BLAS takes as a flag, so the layout change costs nothing here. Returns
    whether the bias was added (folded into the GEMM of an expanding convolution).
    """
    if any(s != 1 for s in g.strides):
        steps = tuple(slice(None, None, s) for s in g.strides)
        x = x[(slice(None), *steps, slice(None))] if in_last else x[(slice(None), slice(None), *steps)]
    n, m = x.shape[0], w.shape[0]
    cg, mg = w.shape[1], m // group
    w3 = w.reshape(group, mg, cg)
    if b is not None and group == 1 and m >= BIAS_FOLD_MIN_EXPANSION * cg:
        wb = _gemm_weights(w, 1, b, out.dtype, cache)[0]
        pixels = math.prod(x.shape[1:-1] if in_last else x.shape[2:])
        # The input's copy beside a ones vector, in the input's own layout: (pixels, K+1) or (K+1, pixels).
        xb = np.empty((pixels, cg + 1) if in_last else (cg + 1, pixels), dtype=out.dtype)
        data, ones, lhs = (xb[:, :cg], xb[:, cg], xb) if in_last else (xb[:cg], xb[cg], xb.T)
        ones[...] = 1
        for i in range(n):
            data.reshape(x.shape[1:])[...] = x[i]
            if out_last:
                np.matmul(lhs, wb.T, out=out[i])
            else:
                np.matmul(wb, lhs.T, out=out[i])
        return True
    for i in range(n):
        # (group, cg, pixels) either way: channels-last input is read through a transposed view.
        xs = x[i].reshape(-1, group, cg).transpose(1, 2, 0) if in_last else x[i].reshape(group, cg, -1)
        if out_last:
            np.matmul(xs.transpose(0, 2, 1), w3.transpose(0, 2, 1),
                      out=out[i].reshape(-1, group, mg).transpose(1, 0, 2))
        else:
            np.matmul(w3, xs, out=out[i].reshape(group, mg, -1))
    return False


def _gemm_weights(w: np.ndarray, group: int, b: np.ndarray | None, dtype: np.dtype,
                  cache: WeightCache | None, channels_last: bool = False) -> np.ndarray:
    """Grouped GEMM weights (group, M/group, K), with each output's bias appended as column K when
    ``b`` is given. ``channels_last`` orders K as (kh, kw, c) to match N,H,W,C windows (a copy, cached)."""
    def make() -> np.ndarray:
        w3 = (w.transpose(0, *range(2, w.ndim), 1) if channels_last else w).reshape(group, w.shape[0] // group, -1)
        if b is not None:
            w3 = np.concatenate([w3, b.reshape(group, -1, 1)], axis=2)
        return w3.astype(dtype, copy=False)
    return make() if cache is None else cache.get(w, ("gemm_weights", channels_last, b is not None), make, also=b)


def _depthwise(xp: np.ndarray, w: np.ndarray, g: ConvGeometry, out: np.ndarray,
               cache: WeightCache | None = None) -> None:
    """Depthwise 2-D convolution as kh*kw multiply-adds over long contiguous runs.

    The padded input is split into stride phases (one copy), each flattened per
    channel; a kernel tap is then a plain offset into the flat phase, so every
    multiply-add runs over a whole output plane (rows of the "wide" output carry
    a few junk columns, cropped at the end) instead of one short row at a time.
    Small planes go further: all channels form one flat run and each tap's
    weights are pre-expanded to that run (cached), so a tap is a single
    contiguous multiply with no per-channel loop inside numpy.
    """
    kh, kw = w.shape[2:]
    (sh, sw), (dh, dw) = g.strides, g.dilations
    oh, ow = g.out_shape
    n, c, hp, wp = xp.shape
    hp2, wp2 = -(-hp // sh) * sh, -(-wp // sw) * sw
    if (hp2, wp2) != (hp, wp):
        xp = pad_end(xp, (0, 0), (hp2 - hp, wp2 - wp))
    hr, wc = hp2 // sh, wp2 // sw
    plane = hr * wc
    phases = {(pr, pc): np.ascontiguousarray(xp[:, :, pr::sh, pc::sw]).reshape(n, c * plane)
              for pr in range(sh) for pc in range(sw)}
    taps = []
    for tap in range(kh * kw):
        i, j = divmod(tap, kw)
        (ro, pr), (co, pc) = divmod(i * dh, sh), divmod(j * dw, sw)
        taps.append((tap, (pr, pc), ro * wc + co))
    wk = w[:, 0].reshape(c, kh * kw)
    flat = cache is not None and kh * kw * c * plane * w.itemsize <= DEPTHWISE_EXPANDED_BYTES
    # Flat mode spans every channel at once; per-channel mode stops each run at the plane's valid part.
    span = c * plane - max(off for _, _, off in taps) if flat else (oh - 1) * wc + ow
    if flat:
        expanded = cache.get(w, ("depthwise", plane),
                             lambda: np.repeat(wk.T, plane, axis=1)[:, :span].astype(out.dtype))
    acc = np.empty((n, c * plane if flat else c * oh * wc), dtype=out.dtype)
    tmp = np.empty((n, span) if flat else (n, c, span), dtype=out.dtype)
    for tap, phase, off in taps:
        if flat:
            src, weight, dst = phases[phase][:, off: off + span], expanded[tap], acc[:, :span]
        else:
            src = phases[phase].reshape(n, c, plane)[:, :, off: off + span]
            weight, dst = wk[None, :, tap, None], acc.reshape(n, c, oh * wc)[:, :, :span]
        if tap == 0:
            np.multiply(src, weight, out=dst)
        else:
            np.multiply(src, weight, out=tmp)
            dst += tmp
    rows = acc.reshape(n, c, plane)[:, :, : oh * wc] if flat else acc.reshape(n, c, oh * wc)
    out.reshape(n, c, oh, ow)[...] = rows.reshape(n, c, oh, wc)[:, :, :, :ow]


def _depthwise_last(x: np.ndarray, w: np.ndarray, g: ConvGeometry, out: np.ndarray, in_last: bool,
                    out_last: bool, cache: WeightCache | None = None) -> None:
    """Depthwise 2-D convolution computed channels-last, whatever the layout of ``x`` and ``out``.

    In N,H,W,C a tap's weights for one output row are the C per-channel weights
    repeated OW times: a short vector every row reuses, so a tap is one
    multiply-add over (OH, OW*C) with no per-channel loop. The taps that read
    the same column phase form a regular grid, one strided view (a row stride
    is just a view stride), and a single ``einsum`` sums them in one C loop
    without temporaries: 1.2-1.5x faster than a multiply and an add per tap
    (measured on MobileNetV2's layers). An N,C,H,W input is transposed while it
    is padded, an N,C,H,W output at the end.
    """
    _depthwise_phases(_column_phases(x if in_last else x.transpose(0, 2, 3, 1), g, out.dtype), w, g, out,
                      out_last, cache)


def _depthwise_phases(phases: list[np.ndarray], w: np.ndarray, g: ConvGeometry, out: np.ndarray, out_last: bool,
                      cache: WeightCache | None) -> None:
    """:func:`_depthwise_last` from its input's zero-padded column phases (see :func:`_column_phases`)."""
    oh, ow = g.out_shape
    sh, dh = g.strides[0], g.dilations[0]
    n, c = phases[0].shape[0], phases[0].shape[-1]

    def make_plan() -> list:
        return _tap_plan(w, g, ow, out.dtype)
    plan = make_plan() if cache is None else cache.get(w, ("depthwise_last", ow), make_plan)
    acc = out.reshape(n, oh, ow * c) if out_last else np.empty((n, oh, ow * c), dtype=out.dtype)
    tmp = np.empty((oh, ow * c), dtype=out.dtype) if len(plan) > 1 else None
    for i in range(n):
        for k, (phase, (c0, dc, nc), weights) in enumerate(plan):
            whole = phases[phase]  # contiguous (n, rows, cols, c): the taps' grid as a direct strided view
            img, row, col, item = whole.strides
            src = np.ndarray((oh, weights.shape[0], nc, ow * c), whole.dtype, whole, i * img + c0 * col,
                             (sh * row, dh * row, dc * col, item))
            np.einsum("hijx,ijx->hx", src, weights, out=acc[i] if k == 0 else tmp)
            if k:
                acc[i] += tmp
    if not out_last:
        out.reshape(n, c, oh * ow)[...] = acc.reshape(n, oh * ow, c).transpose(0, 2, 1)


def _tap_plan(w: np.ndarray, g: ConvGeometry, ow: int, dtype: np.dtype) -> list:
    """Per column phase, its taps as a grid: (phase, (col0, col step, cols), weights).

    Tap (r, s) reads column phase s*dw % sw at column offset s*dw // sw (and
    padded row r*dh, every phase keeps all rows); the taps of one phase are
    evenly spaced, so one strided view covers them. ``weights`` is
    (KH, cols, OW*C): each tap's channel weights repeated per output column.
    """
    c, _, kh, kw = w.shape
    sw, dw = g.strides[1], g.dilations[1]
    per_tap = np.tile(w.reshape(c, kh, kw).transpose(1, 2, 0)[:, :, None, :], (1, 1, ow, 1))
    per_tap = per_tap.reshape(kh, kw, ow * c).astype(dtype)
    plan = []
    for b in range(sw):
        taps = [t for t in range(kw) if t * dw % sw == b]
        if taps:
            offsets = [t * dw // sw for t in taps]
            step = offsets[1] - offsets[0] if len(taps) > 1 else 0
            plan.append((b, (offsets[0], step, len(taps)), np.ascontiguousarray(per_tap[:, taps])))
    return plan


def _column_phases(xl: np.ndarray, g: ConvGeometry, dtype: np.dtype) -> list[np.ndarray]:
    """The zero-padded N,H,W,C input split by column stride phase: ``[:, :, b::sw]`` of the padded array.

    A tap must read whole rows of OW*C contiguous values, so only the columns
    are split; rows keep full resolution (a row stride is a view stride). Built
    straight from the unpadded input, one strided copy per phase, zeroing only
    the border: padding first and splitting after would cost two more passes.
    """
    n, h, wd, c = xl.shape
    (pt, _), (pb, _) = g.pads_begin, g.pads_end
    cols, parts = _phase_columns(wd, g)
    phases = []
    for q0, q1, source in parts:
        phase = np.empty((n, h + pt + pb, cols, c), dtype=dtype)
        phase[:, pt: pt + h, q0:q1] = xl[:, :, source]
        _zero_border(phase, pt, h, q0, q1)
        phases.append(phase)
    return phases


def _phase_columns(width: int, g: ConvGeometry) -> tuple[int, list[tuple[int, int, slice]]]:
    """The column phases of a zero-padded input ``width`` wide: their width, and per phase the
    columns (q0, q1) the input fills and the input columns (a slice) that fill them.

    Phase b's column q holds padded column b + sw*q, i.e. input column b + sw*q - pl.
    """
    sw, pl, pr = g.strides[1], g.pads_begin[1], g.pads_end[1]
    parts = []
    for b in range(sw):
        q0 = max(0, -(-(pl - b) // sw))
        start = b + sw * q0 - pl
        parts.append((q0, q0 + len(range(start, width, sw)), slice(start, None, sw)))
    return -(-(width + pl + pr) // sw), parts


def _zero_border(a: np.ndarray, top: int, h: int, q0: int, q1: int) -> None:
    """Zero what the input does not fill in a phase whose axes 1 and 2 are rows and columns."""
    a[:, :top] = a[:, top + h:] = 0
    a[:, top: top + h, :q0] = a[:, top: top + h, q1:] = 0


def _pointwise_phases(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, act: Callable | None, in_last: bool,
                      g: ConvGeometry, dtype: np.dtype, cache: WeightCache | None) -> list[np.ndarray]:
    """A 1x1 convolution (stride 1) computed straight into the column phases of the depthwise
    convolution with geometry ``g`` that reads it: what :func:`_column_phases` would copy its output into.

    The GEMM input is copied in each phase's pixel order (its ones row folding the bias), zeros at
    the padding, ones row included, so the GEMM writes the padding as exact zeros and the phases' copy
    of the block's largest tensor is never made. ``act`` must map 0 to 0.
    """
    n, m = x.shape[0], w.shape[0]
    cin = x.shape[-1] if in_last else x.shape[1]
    h, wd = x.shape[1:3] if in_last else x.shape[2:]
    (pt, _), (pb, _) = g.pads_begin, g.pads_end
    cols, parts = _phase_columns(wd, g)
    rows = h + pt + pb
    k = cin + (b is not None)
    wb = _gemm_weights(w, 1, b, dtype, cache)[0]
    phases = []
    for q0, q1, source in parts:
        src = x[:, :, source] if in_last else x[..., source]
        xb = np.empty((rows, cols, k) if in_last else (k, rows, cols), dtype=dtype)
        planes = xb.transpose(2, 0, 1) if in_last else xb  # (k, rows, cols) either way
        _zero_border(planes, pt, h, q0, q1)
        if b is not None:
            planes[cin, pt: pt + h, q0:q1] = 1
        lhs = xb.reshape(rows * cols, k) if in_last else xb.reshape(k, rows * cols).T
        phase = np.empty((n, rows, cols, m), dtype=dtype)
        for i in range(n):
            if in_last:
                xb[pt: pt + h, q0:q1, :cin] = src[i]
            else:
                xb[:cin, pt: pt + h, q0:q1] = src[i]
            np.matmul(lhs, wb.T, out=phase[i].reshape(rows * cols, m))
        phases.append(phase if act is None else act(phase))
    return phases


def _im2col_gemm(xp: np.ndarray, w: np.ndarray, group: int, g: ConvGeometry, out: np.ndarray,
                 in_last: bool = False, out_last: bool = False, b: np.ndarray | None = None,
                 cache: WeightCache | None = None) -> bool:
    """General convolution: im2col in blocks of the first output axis, then GEMM.

    The column matrix is a copy anyway, so it gets one more row of ones and the
    bias rides in the GEMM as one more weight column (returns whether it did).
    A channels-last output is the same GEMM with its operands swapped and transposed.
    A channels-last (2-D) input is copied pixel-major, one (kh, kw, c) row per
    output pixel: a kernel row's kw*C values are contiguous in N,H,W,C, so the
    copy runs over kw*C values at a time instead of one output row's OW: 4-9% less
    time for im2col + GEMM on SqueezeNet's 3x3 expansions over 27x27 and 13x13 and
    ResNet's strided 3x3s (measured; the layout pass decides where it pays).
    """
    kernel = tuple(w.shape[2:])
    n, c = xp.shape[0], xp.shape[-1 if in_last else 1]
    m = w.shape[0]
    cg, mg = c // group, m // group
    k = cg * math.prod(kernel)
    biased = b is not None
    w3 = _gemm_weights(w, group, b, out.dtype, cache, in_last)
    view = windows_last(xp, kernel, g) if in_last else windows(xp, kernel, g)
    rows = g.out_shape[0]
    inner = math.prod(g.out_shape[1:])
    block = max(1, min(rows, IM2COL_BLOCK_BYTES // max(1, k * inner * xp.itemsize)))
    o = out.reshape(n, rows * inner, group, mg) if out_last else out.reshape(n, group, mg, rows * inner)
    nd = len(kernel)
    for i in range(n):
        for gi in range(group):
            channels = slice(gi * cg, (gi + 1) * cg)
            for r0 in range(0, rows, block):
                r1 = min(rows, r0 + block)
                pixels = slice(r0 * inner, r1 * inner)
                if in_last:  # (pixels, K [+ ones]): GEMM operands swap sides
                    patch = view[i, r0:r1, ..., channels]
                    cols = np.empty(((r1 - r0) * inner, k + biased), dtype=out.dtype)
                    cols[:, :k].reshape(patch.shape)[...] = patch
                    if biased:
                        cols[:, k] = 1
                    lhs, rhs = cols, w3[gi].T
                else:
                    patch = view[(i, channels, *(slice(None),) * nd, slice(r0, r1))]
                    cols = np.empty((k + biased, (r1 - r0) * inner), dtype=out.dtype)
                    cols[:k].reshape(patch.shape)[...] = patch
                    if biased:
                        cols[k] = 1
                    lhs, rhs = cols.T, w3[gi].T
                if out_last:
                    np.matmul(lhs, rhs, out=o[i, pixels, gi])
                else:
                    np.matmul(rhs.T, lhs.T, out=o[i, gi, :, pixels])
    return biased


def winograd_shaped(w_shape: tuple[int, ...], group: int, strides: tuple[int, ...],
                    dilations: tuple[int, ...]) -> bool:
    """The static half of the Winograd rule: 3x3, stride 1, undilated, ungrouped, enough channels.

    The CPU layout pass uses it too: such a convolution writes N,C,H,W (Winograd's
    output transform), so it is not asked for a channels-last output.
    """
    return (tuple(w_shape[2:]) == (3, 3) and group == 1 and tuple(strides) == (1, 1)
            and tuple(dilations) == (1, 1) and w_shape[0] >= WINOGRAD_MIN_CHANNELS
            and w_shape[1] >= WINOGRAD_MIN_CHANNELS)


@dataclass(frozen=True)
class ConvPlan:
    """Everything a convolution decides from shapes alone: geometry, kernel path, output shapes."""

    g: ConvGeometry
    group: int
    path: str  # "pointwise", "depthwise_last", "depthwise", "winograd" or "im2col"
    alloc: tuple[int, ...]  # the (N, M, pixels) or (N, pixels, M) array the kernels write
    result: tuple[int, ...]  # N,M,*out or N,*out,M


def plan_conv(node: Node, x_shape: tuple[int, ...], w_shape: tuple[int, ...], float_input: bool,
              in_last: bool, out_last: bool, winograd: bool) -> ConvPlan:
    """Resolve a convolution for one input and weight shape (``winograd``: Winograd's U can be cached)."""
    group = node.attrs.get("group", 1)
    kernel = tuple(w_shape[2:])
    spatial, channels = (x_shape[1:-1], x_shape[-1]) if in_last else (x_shape[2:], x_shape[1])
    g = conv_geometry(node, spatial, kernel)
    n, m = x_shape[0], w_shape[0]
    if channels != w_shape[1] * group:
        raise ValueError(f"input shape {x_shape} has {channels} channels; weight shape {w_shape} "
                         f"with group {group} needs {w_shape[1] * group}")
    depthwise = group == channels == m and len(kernel) == 2 and w_shape[1] == 1
    if all(k == 1 for k in kernel) and not any(g.pads_begin) and not any(g.pads_end):
        path = "pointwise"
    elif depthwise and (in_last or out_last):
        path = "depthwise_last"
    elif in_last and len(kernel) != 2:
        raise ValueError(f"a channels-last input needs a 2-D convolution, not weight shape {w_shape}")
    elif depthwise:
        path = "depthwise"
    elif (winograd and not (in_last or out_last) and float_input
          and winograd_shaped(w_shape, group, g.strides, g.dilations)
          and g.out_shape[0] * g.out_shape[1] >= WINOGRAD_MIN_PIXELS):
        path = "winograd"
    else:
        path = "im2col"
    pixels = math.prod(g.out_shape)
    alloc = (n, pixels, m) if out_last else (n, m, pixels)
    return ConvPlan(g, group, path, alloc, (n, *g.out_shape, m) if out_last else (n, m, *g.out_shape))


class WeightCache:
    """Per-kernel cache of arrays derived from a weight (Winograd's U, depthwise tap plans, weights
    with a bias column), and of the plan resolved for each input shape (tens of microseconds of
    Python a call, which add up over the many small convolutions of mobile networks).

    Weight entries are dropped when a different weight array arrives (a weight fed at run time);
    an entry built from a bias too is rebuilt when a different bias array arrives.
    """

    def __init__(self) -> None:
        self._weight: np.ndarray | None = None
        self._values: dict = {}
        self._plans: dict = {}

    def plan(self, node: Node, x_shape: tuple[int, ...], dtype: np.dtype, w: np.ndarray, in_last: bool,
             out_last: bool) -> ConvPlan:
        """:func:`plan_conv` for this node, resolved once per input shape, dtype and weight shape."""
        key = (x_shape, dtype, w.shape)
        p = self._plans.get(key)
        if p is None:
            p = self._plans[key] = plan_conv(node, x_shape, w.shape, dtype.kind == "f", in_last, out_last, True)
        return p

    def get(self, w: np.ndarray, key: object, make: Callable[[], np.ndarray],
            also: np.ndarray | None = None) -> np.ndarray:
        """The array ``make()`` builds for ``w`` and ``key`` (and ``also``, e.g. a bias), built once."""
        if self._weight is not w:
            self._weight, self._values = w, {}
        hit = self._values.get(key)
        if hit is None or hit[0] is not also:  # entries hold ``also``, so its identity cannot be reused
            hit = self._values[key] = (also, make())
        return hit[1]


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, node: Node, act: Callable | None = None,
         cache: WeightCache | None = None, in_last: bool = False, out_last: bool = False,
         into: np.ndarray | None = None) -> np.ndarray:
    """Conv forward for any spatial rank, returning N,M,*out (float16 computed in float32).

    ``in_last`` / ``out_last``: the input is / the output must be channels-last
    (N,*spatial,C); only 1x1 and depthwise 2-D convolutions take them. ``into``:
    the (N, M, pixels) or (N, pixels, M) array to write, possibly a channel slice
    of a larger one (``ConvConcat``). The GEMM paths write a non-contiguous one
    directly; the others reshape their output across rows, so they write a
    temporary and copy it.
    """
    if into is not None and x.dtype != into.dtype:
        raise ValueError(f"output dtype {into.dtype} for input dtype {x.dtype}")
    if x.dtype == np.float16:
        y = conv(x.astype(np.float32), w.astype(np.float32), None if b is None else b.astype(np.float32),
                 node, act, in_last=in_last, out_last=out_last)
        if into is None:
            return y.astype(np.float16)
        into[...] = y.reshape(into.shape)  # the same element order: ``into`` has the pixels flattened
        return into.reshape(y.shape)
    p = (plan_conv(node, x.shape, w.shape, x.dtype.kind == "f", in_last, out_last, False) if cache is None
         else cache.plan(node, x.shape, x.dtype, w, in_last, out_last))
    g, path = p.g, p.path
    if into is not None and into.shape != p.alloc:
        raise ValueError(f"cannot write a convolution of shape {p.alloc} into {into.shape}")
    direct = into is not None and (into.flags.c_contiguous or path in ("pointwise", "im2col"))
    out = into if direct else np.empty(p.alloc, dtype=x.dtype if x.dtype == w.dtype else np.result_type(x, w))
    biased = False
    if path == "pointwise":
        biased = _pointwise(x, w, p.group, g, out, in_last, out_last, b, cache)
    elif path == "depthwise_last":
        _depthwise_last(x, w, g, out, in_last, out_last, cache)
    elif path == "depthwise":
        _depthwise(pad_spatial(x, g), w, g, out, cache)
    elif path == "winograd":
        winograd_conv(pad_spatial(x, g), cache.get(w, "winograd", lambda: transform_weights(w)), g.out_shape, out)
    else:
        biased = _im2col_gemm(pad_spatial(x, g, channels_last=in_last), w, p.group, g, out, in_last, out_last,
                              b, cache)
    if b is not None and not biased:
        _add_bias(out, b, g.out_shape[-1], out_last, w, cache)
    if into is not None and not direct:
        into[...] = out
        out = into
    out = out.reshape(p.result)
    return out if act is None else act(out)


def _add_bias(out: np.ndarray, b: np.ndarray, last: int, channels_last: bool, w: np.ndarray,
              cache: WeightCache | None) -> None:
    """Add the per-channel bias in one long-run pass.

    Channels-last, the bias is repeated along the last spatial axis (cached): adding
    a (C,) vector would run numpy's inner loop over only C elements, 3 to 4 times
    slower for the 32 to 96 channels of a MobileNet's early layers.
    """
    if channels_last:
        def make() -> np.ndarray:
            return np.tile(b, last)
        if not out.flags.c_contiguous:  # a channel slice of a joined output: rows cannot merge
            out += b
            return
        row = make() if cache is None else cache.get(w, ("bias_row", last), make, also=b)
        out.reshape(-1, last * b.shape[0])[...] += row
    else:
        out += b.reshape(1, -1, 1)


def layout_flags(node: Node) -> dict[str, bool]:
    """The channels-last flags the CPU layout pass set on this node (none: N,C,H,W both sides)."""
    return {"in_last": bool(node.attrs.get("channels_last_in", 0)),
            "out_last": bool(node.attrs.get("channels_last_out", 0))}


@registry.register("Conv", 1)
def conv_kernel(node: Node, opset: int):
    """ONNX Conv."""
    cache, layouts = WeightCache(), layout_flags(node)
    return lambda x, w, b=None: (conv(x, w, b, node, cache=cache, **layouts),)


def _activation(node: Node) -> Callable | None:
    """The in-place activation a FusedConv carries (None for a plain Conv)."""
    if "activation" not in node.attrs:
        return None
    return in_place_activation(node.attrs["activation"], node.attrs.get("activation_attrs", {}))


@registry.register("FusedConv", 1, domain=registry.FACADE_DOMAIN)
def fused_conv_kernel(node: Node, opset: int):
    """Conv followed by an activation, produced by the optimizer's fusion pass."""
    act, cache, layouts = _activation(node), WeightCache(), layout_flags(node)
    return lambda x, w, b=None: (conv(x, w, b, node, act, cache, **layouts),)


@registry.register("ConvConcat", 1, domain=registry.FACADE_DOMAIN)
def conv_concat_kernel(node: Node, opset: int):
    """Convolutions joined by a channel Concat (the CPU pass ``concat_convs``): each GEMM writes
    its slice of the joined output, so the Concat's copy is never made.

    Inputs are (x, w, b) per convolution, b empty when absent; ``node.attrs["convs"]``
    holds the convolution nodes, whose layout flags all agree.
    """
    parts = [(part, _activation(part), WeightCache(), layout_flags(part)) for part in node.attrs["convs"]]
    out_last = parts[0][3]["out_last"]

    def run(*args):
        plans = [cache.plan(part, x.shape, x.dtype, w, **layouts)
                 for (part, _, cache, layouts), x, w in zip(parts, args[0::3], args[1::3], strict=True)]
        n, pixels = (plans[0].alloc[0], plans[0].alloc[1 if out_last else 2])
        if any((p.alloc[0], p.alloc[1 if out_last else 2]) != (n, pixels) for p in plans):
            raise ValueError(f"joined convolutions disagree on output shape: {[p.result for p in plans]}")
        total = sum(p.alloc[2 if out_last else 1] for p in plans)
        joined = np.empty((n, pixels, total) if out_last else (n, total, pixels), dtype=args[0].dtype)
        start = 0
        for (part, act, cache, layouts), p, (x, w, b) in zip(parts, plans, zip(*[iter(args)] * 3, strict=True),
                                                             strict=True):
            m = p.alloc[2 if out_last else 1]
            into = joined[:, :, start:start + m] if out_last else joined[:, start:start + m]
            conv(x, w, b, part, act, cache, into=into, **layouts)
            start += m
        shape = plans[0].result
        return (joined.reshape(*shape[:-1], total) if out_last else joined.reshape(n, total, *shape[2:]),)
    return run


#: PointwiseDepthwise writes the padded phases only while they hold at most this many pixels per
#: input pixel, since its GEMM computes the padding too: 4% more work at 112x112 and 7% at 56x56
#: (measured: the block 14% and 2-10% faster), 15% at 28x28 (3-6% slower: the copy saved is smaller).
PHASES_MAX_PADDED_RATIO = 1.1


@registry.register("PointwiseDepthwise", 1, domain=registry.FACADE_DOMAIN)
def pointwise_depthwise_kernel(node: Node, opset: int):
    """A 1x1 convolution whose only reader is a depthwise one, both channels-last between them (the CPU
    pass ``pointwise_depthwise``): the 1x1's GEMM writes the depthwise's padded input phases.

    Inputs are (x, w, b) of the 1x1 then (w, b) of the depthwise, b empty when absent;
    ``node.attrs["convs"]`` holds both nodes. A float16 input, or padding too large for
    the spatial size, runs the two convolutions one after the other.
    """
    first, second = node.attrs["convs"]
    act1, act2 = _activation(first), _activation(second)
    cache1, cache2 = WeightCache(), WeightCache()
    flags1, flags2 = layout_flags(first), layout_flags(second)

    decided: dict[tuple, ConvPlan | None] = {}

    def depthwise_plan(x: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> ConvPlan | None:
        """The depthwise convolution's plan when the 1x1 can write its phases, else None."""
        p1 = cache1.plan(first, x.shape, x.dtype, w1, **flags1)
        (h, wd), m = p1.g.out_shape, w1.shape[0]
        p2 = cache2.plan(second, (x.shape[0], h, wd, m), x.dtype, w2, **flags2)
        cols, parts = _phase_columns(wd, p2.g)
        padded = (h + p2.g.pads_begin[0] + p2.g.pads_end[0]) * cols * len(parts)
        if (x.dtype not in (np.float32, np.float64) or w1.dtype != x.dtype or p1.path != "pointwise"
                or any(st != 1 for st in p1.g.strides) or p2.path != "depthwise_last"
                or padded > PHASES_MAX_PADDED_RATIO * h * wd):
            return None
        return p2

    def run(x, w1, b1, w2, b2):
        key = (x.shape, x.dtype, w1.shape, w1.dtype, w2.shape)
        if key not in decided:
            decided[key] = depthwise_plan(x, w1, w2)
        p2 = decided[key]
        if p2 is None:
            y = conv(x, w1, b1, first, act1, cache1, **flags1)
            return (conv(y, w2, b2, second, act2, cache2, **flags2),)
        phases = _pointwise_phases(x, w1, b1, act1, flags1["in_last"], p2.g, x.dtype, cache1)
        out = np.empty(p2.alloc, dtype=x.dtype)
        _depthwise_phases(phases, w2, p2.g, out, flags2["out_last"], cache2)
        if b2 is not None:
            _add_bias(out, b2, p2.g.out_shape[-1], flags2["out_last"], w2, cache2)
        out = out.reshape(p2.result)
        return (out if act2 is None else act2(out),)
    return run


def conv_transpose(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, node: Node) -> np.ndarray:
    """ConvTranspose as GEMM (W^T x) then a scatter-add of each kernel tap (col2im)."""
    group = node.attrs.get("group", 1)
    kernel = tuple(w.shape[2:])
    nd = len(kernel)
    strides = tuple(node.attrs.get("strides", [1] * nd))
    dil = tuple(node.attrs.get("dilations", [1] * nd))
    out_pad = tuple(node.attrs.get("output_padding", [0] * nd))
    n, c = x.shape[:2]
    in_sp = x.shape[2:]
    mg = w.shape[1]
    m = mg * group
    full = tuple((i - 1) * s + (k - 1) * d + 1 + op
                 for i, s, k, d, op in zip(in_sp, strides, kernel, dil, out_pad, strict=True))
    auto = node.attrs.get("auto_pad", "NOTSET")
    if "output_shape" in node.attrs:
        target = tuple(node.attrs["output_shape"][-nd:])
        total = [f - t for f, t in zip(full, target, strict=True)]
        begin = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in total]
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        target = tuple(i * s for i, s in zip(in_sp, strides, strict=True))
        total = [f - t for f, t in zip(full, target, strict=True)]
        begin = [t - t // 2 if auto == "SAME_LOWER" else t // 2 for t in total]
    else:
        pads = node.attrs.get("pads", [0] * 2 * nd) if auto != "VALID" else [0] * 2 * nd
        begin = list(pads[:nd])
        target = tuple(f - pads[i] - pads[nd + i] for i, f in enumerate(full))
    cg = c // group
    xs = x.reshape(n, group, cg, -1)
    wg = w.reshape(group, cg, mg * int(np.prod(kernel)))
    canvas = np.zeros((n, m, *full), dtype=np.result_type(x, w))
    for gi in range(group):
        cols = np.einsum("ck,ncp->nkp", wg[gi], xs[:, gi]).reshape(n, mg, *kernel, *in_sp)
        for tap in np.ndindex(*kernel):
            dst = tuple(slice(t * d, t * d + s * (i - 1) + 1, s)
                        for t, d, s, i in zip(tap, dil, strides, in_sp, strict=True))
            canvas[(slice(None), slice(gi * mg, (gi + 1) * mg), *dst)] += cols[(slice(None), slice(None), *tap)]
    # A requested output larger than the full result is zero-filled (negative total padding).
    grow = [(max(0, -bg), max(0, bg + t - f)) for bg, t, f in zip(begin, target, full, strict=True)]
    if any(g for pair in grow for g in pair):
        canvas = np.pad(canvas, [(0, 0), (0, 0), *grow])
        begin = [bg + g[0] for bg, g in zip(begin, grow, strict=True)]
    crop = tuple(slice(bg, bg + t) for bg, t in zip(begin, target, strict=True))
    out = canvas[(slice(None), slice(None), *crop)]
    if b is not None:
        out = out + b.reshape(1, m, *([1] * nd))
    return np.ascontiguousarray(out)


@registry.register("ConvTranspose", 1)
def conv_transpose_kernel(node: Node, opset: int):
    """ONNX ConvTranspose (16- and 8-bit floats computed in float32: numpy's einsum refuses bfloat16)."""
    from .linalg import narrow_float

    def run(x, w, b=None):
        if narrow_float(x.dtype):
            wide = conv_transpose(x.astype(np.float32), w.astype(np.float32),
                                  None if b is None else b.astype(np.float32), node)
            return (wide.astype(x.dtype),)
        return (conv_transpose(x, w, b, node),)
    return run


@registry.register("Col2Im", 18)
def col2im_kernel(node: Node, opset: int):
    """Col2Im (PyTorch's fold): scatter-add each block position's column back into the image."""
    def run(cols, image_shape, block_shape):
        image, block = [int(v) for v in image_shape], [int(v) for v in block_shape]
        nd = len(image)
        strides = node.attrs.get("strides", [1] * nd)
        dil = node.attrs.get("dilations", [1] * nd)
        pads = node.attrs.get("pads", [0] * 2 * nd)
        blocks = [(i + pads[k] + pads[nd + k] - d * (b - 1) - 1) // s + 1
                  for k, (i, b, s, d) in enumerate(zip(image, block, strides, dil, strict=True))]
        n = cols.shape[0]
        c = cols.shape[1] // int(np.prod(block))
        taps = cols.reshape(n, c, *block, *blocks)
        canvas = np.zeros((n, c, *(i + pads[k] + pads[nd + k] for k, i in enumerate(image))), dtype=cols.dtype)
        for tap in np.ndindex(*block):
            dst = tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                        for t, d, s, o in zip(tap, dil, strides, blocks, strict=True))
            canvas[(slice(None), slice(None), *dst)] += taps[(slice(None), slice(None), *tap)]
        crop = tuple(slice(pads[k], pads[k] + i) for k, i in enumerate(image))
        return (np.ascontiguousarray(canvas[(slice(None), slice(None), *crop)]),)
    return run
