"""Depthwise 2-D convolution, N,C,H,W or channels-last: conv.c's one-pass kernel on float32
(:func:`depthwise_c`), else shifted multiply-adds over long runs in numpy."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ... import compiled, threads
from ..padding import pad_end
from .cache import WeightCache
from .epilogue import Activation, act_args, addr
from .geometry import ConvGeometry

#: Depthwise "flat" mode keeps kh*kw expanded weight copies; only planes small enough for this budget.
DEPTHWISE_EXPANDED_BYTES = 6 << 20


def depthwise_c(lib: SimpleNamespace, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: ConvGeometry,
                out: np.ndarray, in_last: bool, out_last: bool, act: Activation | None, cache: WeightCache,
                shuffle: int = 0) -> bool:
    """Depthwise 2-D convolution by conv.c: taps, bias and activation in one pass from the unpadded
    input (taps in the padding are skipped), any kernel, stride, padding and dilation. Returns
    whether it applied ``act`` (False when C lacks it: the caller runs it).

    Split across the engine's threads, the pieces run on its C pool (``compiled/pool.c``) as one job.
    Channels-last input: the engine's threads take ranges of output rows (a row of OW*C
    accumulators, the inner loop over contiguous channels); N,C,H,W: ranges of (image, channel)
    planes. An N,C,H,W input wanted channels-last (ShuffleNet's after its channel shuffles) is written
    channels-last first by the job's first phase, split or not (by numpy where the C pool is not built).
    ``shuffle`` (only with such an input, on the C pool): channel ``c`` is read from input plane
    ``(c % shuffle) * (C / shuffle) + c // shuffle`` in that copy, a channel shuffle in ``shuffle`` groups
    (optimizer/channel_shuffle.py).
    All arrays must be float32 and C-contiguous.
    """
    found = depthwise_job(x, w, b, g, out.size, in_last, out_last, act, cache, shuffle)
    if shuffle and (in_last or not out_last or found is None):
        raise ValueError("a depthwise convolution reads its input's channels shuffled only from N,C,H,W to "
                         "N,H,W,C on the C pool")
    if found is not None:  # pieces on the C pool: no GIL hand-off per piece (see compiled/pool.c)
        pool, job = found
        job.run(pool, x, out)
        return act is None or act.code is not None
    if out_last and not in_last:  # no C pool: numpy's copy
        x, in_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), True
    n, c, oh = x.shape[0], w.shape[0], g.out_shape[0]
    q = c_operands(x, w, b, g, in_last, out_last, act, cache)
    xp, yp = addr(x), addr(out)
    if in_last:  # whole in the caller, or pieces on the Python pool where the C pool is not built
        def rows(r0: int, r1: int) -> None:
            """Output rows r0..r1 counted over all images."""
            for i in range(r0 // oh, -(-r1 // oh)):
                lib.dw_nhwc(xp, yp, q, i, max(r0 - i * oh, 0), min(r1 - i * oh, oh))
        threads.over_ranges("depthwise", out.size, n * oh, rows)
    else:
        threads.over_ranges("depthwise", out.size, n * c, lambda p0, p1: lib.dw_nchw(xp, yp, q, p0, p1))
    return act is None or act.code is not None


def depthwise_job(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: ConvGeometry, outputs: int,
                  in_last: bool, out_last: bool, act: Activation | None, cache: WeightCache,
                  shuffle: int = 0) -> tuple[threads.Pool, threads.CJob] | None:
    """The running program's pool and the cached C pool job computing this depthwise convolution of
    ``outputs`` values (see :func:`depthwise_c`), when it runs as one: split across the pool's threads, or
    from N,C,H,W to channels-last (the job's first phase copies the input, split or not). None when it
    runs whole as one conv.c call, or where the C pool is not built."""
    transpose = out_last and not in_last
    n, c, oh = x.shape[0], w.shape[0], g.out_shape[0]
    units = n * oh if in_last or transpose else n * c
    pool, count = threads.c_split("c_depthwise", outputs, units)
    if (count == 1 and not transpose) or pool.c_handle() is None:
        return None
    # an N,C,H,W input goes channels-last in C even unsplit: numpy's transposing copy (a strided inner loop
    # of C values) took longer than the convolution
    q = c_operands(x.transpose(0, 2, 3, 1) if transpose else x, w, b, g, in_last or transpose, out_last, act, cache)

    def make() -> threads.CJob:
        rows = n * x.shape[2] if transpose else 0
        phases = [(compiled.address("conv", "nchw_rows_piece"), count)] if transpose else []
        return threads.CJob(np.array([q, 0, 0, units, count, in_last or transpose, oh, rows, shuffle], np.int64),
                            [*phases, (compiled.address("conv", "dw_piece"), count)], x=1, y=2,
                            shared=x.size if transpose else 0)
    return pool, cache.get(w, ("dw_job", in_last, out_last, x.shape, count, shuffle), make, also=b)


def c_operands(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: ConvGeometry, in_last: bool, out_last: bool,
               act: Activation | None, cache: WeightCache) -> int:
    """The address of conv.c's parameter block for a depthwise convolution of inputs like ``x`` (see
    ``Q_*`` in conv.c), built once per weight, bias and input shape and kept alive by ``cache``."""
    def make() -> tuple:
        c, _, kh, kw = w.shape
        wk = w.reshape(c, kh, kw)
        wk = compiled.aligned(wk.transpose(1, 2, 0) if in_last else wk)  # its 16-lane loads in one line each
        bias = None if b is None else compiled.aligned(b)
        code, a, bb = act_args(act if act is not None and act.code is not None else None)
        q = np.array([*(x.shape[1:3] if in_last else x.shape[2:]), c, *g.out_shape, kh, kw, *g.strides,
                      *g.dilations, *g.pads_begin, out_last, code, compiled.ptr(wk),
                      0 if bias is None else compiled.ptr(bias), *np.array([a, bb], np.float32).view(np.int32)],
                     dtype=np.int64)
        return (wk, bias, q), compiled.ptr(q)  # the arrays kept alive beside the block that points at them
    return cache.get(w, ("depthwise_c", in_last, out_last, x.shape), make, also=b)[1]


def depthwise(xp: np.ndarray, w: np.ndarray, g: ConvGeometry, out: np.ndarray,
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

    def run(a: int, z: int) -> None:
        """Flat run positions a..z (flat mode) or channels a..z: the engine's threads take ranges."""
        tmp = threads.scratch("depthwise", (n, z - a) if flat else (n, z - a, span), out.dtype)
        for tap, phase, off in taps:
            if flat:
                src, weight, dst = phases[phase][:, off + a: off + z], expanded[tap, a:z], acc[:, a:z]
            else:
                src = phases[phase].reshape(n, c, plane)[:, a:z, off: off + span]
                weight, dst = wk[None, a:z, tap, None], acc.reshape(n, c, oh * wc)[:, a:z, :span]
            if tap == 0:
                np.multiply(src, weight, out=dst)
            else:
                np.multiply(src, weight, out=tmp)
                dst += tmp

    threads.over_ranges("depthwise", n * c * oh * ow, span if flat else c, run)
    rows = acc.reshape(n, c, plane)[:, :, : oh * wc] if flat else acc.reshape(n, c, oh * wc)
    out.reshape(n, c, oh, ow)[...] = rows.reshape(n, c, oh, wc)[:, :, :, :ow]


def depthwise_last(x: np.ndarray, w: np.ndarray, g: ConvGeometry, out: np.ndarray, in_last: bool,
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
    depthwise_phases(column_phases(x if in_last else x.transpose(0, 2, 3, 1), g, out.dtype), w, g, out,
                      out_last, cache)


def depthwise_phases(phases: list[np.ndarray], w: np.ndarray, g: ConvGeometry, out: np.ndarray, out_last: bool,
                      cache: WeightCache | None) -> None:
    """:func:`depthwise_last` from its input's zero-padded column phases (see :func:`column_phases`)."""
    oh, ow = g.out_shape
    sh, dh = g.strides[0], g.dilations[0]
    n, c = phases[0].shape[0], phases[0].shape[-1]

    def make_plan() -> list:
        return _tap_plan(w, g, ow, out.dtype)
    plan = make_plan() if cache is None else cache.get(w, ("depthwise_last", ow), make_plan)
    acc = out.reshape(n, oh, ow * c) if out_last else np.empty((n, oh, ow * c), dtype=out.dtype)
    planes = None if out_last else out.reshape(n, c, oh * ow)

    def rows(i: int, h0: int, h1: int) -> None:
        """Output rows h0..h1 of image i, every tap (the engine's threads take ranges of rows)."""
        tmp = threads.scratch("depthwise", (h1 - h0, ow * c), out.dtype) if len(plan) > 1 else None
        dst = acc[i, h0:h1]
        for k, (phase, (c0, dc, nc), weights) in enumerate(plan):
            whole = phases[phase]  # contiguous (n, rows, cols, c): the taps' grid as a direct strided view
            img, row, col, item = whole.strides
            src = np.ndarray((h1 - h0, weights.shape[0], nc, ow * c), whole.dtype, whole,
                             i * img + h0 * sh * row + c0 * col, (sh * row, dh * row, dc * col, item))
            np.einsum("hijx,ijx->hx", src, weights, out=dst if k == 0 else tmp)
            if k:
                dst += tmp
        if planes is not None:
            planes[i, :, h0 * ow: h1 * ow] = dst.reshape((h1 - h0) * ow, c).T

    for i in range(n):
        threads.over_ranges("depthwise", oh * ow * c, oh, lambda h0, h1, i=i: rows(i, h0, h1))


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


def column_phases(xl: np.ndarray, g: ConvGeometry, dtype: np.dtype) -> list[np.ndarray]:
    """The zero-padded N,H,W,C input split by column stride phase: ``[:, :, b::sw]`` of the padded array.

    A tap must read whole rows of OW*C contiguous values, so only the columns
    are split; rows keep full resolution (a row stride is a view stride). Built
    straight from the unpadded input, one strided copy per phase, zeroing only
    the border: padding first and splitting after would cost two more passes.
    """
    n, h, wd, c = xl.shape
    (pt, _), (pb, _) = g.pads_begin, g.pads_end
    cols, parts = phase_columns(wd, g)
    phases = []
    for q0, q1, source in parts:
        phase = np.empty((n, h + pt + pb, cols, c), dtype=dtype)
        phase[:, pt: pt + h, q0:q1] = xl[:, :, source]
        zero_border(phase, pt, h, q0, q1)
        phases.append(phase)
    return phases


def phase_columns(width: int, g: ConvGeometry) -> tuple[int, list[tuple[int, int, slice]]]:
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


def zero_border(a: np.ndarray, top: int, h: int, q0: int, q1: int) -> None:
    """Zero what the input does not fill in a phase whose axes 1 and 2 are rows and columns."""
    a[:, :top] = a[:, top + h:] = 0
    a[:, top: top + h, :q0] = a[:, top: top + h, q1:] = 0
