"""GEMM convolutions (1x1 and im2col) as one job of ``compiled/pool.c``: im2col, GEMM and epilogue in C.

Why: on the Python pool each piece of a split convolution starts only when its worker gets the GIL,
which is a sleep in the kernel: the second half of a split GEMM started 70-100 us late and ran as
long as the whole (measured on a 2-vCPU VM), and native gained 1.4x from 1 to 4 threads on a 16-core
host where ONNX Runtime gained 3-4x. As one pool.c job a convolution is a single ctypes call whose
pieces run on C threads calling BLAS (numpy's OpenBLAS, held at one thread) directly.

How a convolution is cut (decided once per input shape, thread count and weight, and cached):
by blocks of output rows when each piece keeps enough pixels for an efficient GEMM, each piece
building its own columns in its thread's scratch; else by blocks of output channels over the whole
pixel range, after a first phase that builds the shared column matrix by rows (a 1x1 convolution
reads its input directly and needs no columns). The one-thread pool runs the same job in the caller,
in cache-sized row blocks.

Where conv.c's direct tiles are compiled (AVX-512, ``compiled/direct_conv.h``), a convolution with a
window takes them instead of im2col and BLAS (no column matrix, the weights packed once here), and so
does an ungrouped 1x1 of an N,H,W,C input, split or whole, reading it in place (see :func:`_tiles`).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from ... import compiled, threads
from ...compiled import blas
from .cache import WeightCache, gemm_weights
from .epilogue import Activation, addr
from .geometry import ConvGeometry
from .im2col import C_PARAMS, IM2COL_BLOCK_BYTES, c_params

#: conv.c's context fields (``enum { G_SGEMM, ... }``), in order.
FIELDS = ("sgemm", "ilp64", "x", "y", "w", "q", "qstride", "tasks", "coltasks", "source", "c", "cg", "m", "mg",
          "kp", "p", "inner", "in_last", "out_last", "ones", "bias", "act", "a", "b", "ldy", "yimg", "res")
G = {name: k for k, name in enumerate(FIELDS)}
SRC_INPUT, SRC_OWN_COLUMNS, SRC_SHARED_COLUMNS, SRC_DIRECT, SRC_DIRECT_INPUT = 0, 1, 2, 3, 4
#: direct_conv.h's tile: output pixels by output channels (a channel-split piece starts on a panel).
DIRECT_ROWS, DIRECT_COLS = 12, 32
#: The direct tiles take a convolution with a window (a strided 1x1 reads a quarter of its slab; BLAS
#: ran ResNet-50's 1.8x faster) whose sums have at least this many terms, or whose output channels per
#: group fill whole panels of 32: a stem's 3x3x3 then skips im2col's column matrix (1.4 MB for
#: MobileNetV2's, written and read again every run). In a program on one core here, MobileNetV2's stem
#: (3 -> 32) took 0.52 against 0.81 ms and SqueezeNet's (3 -> 64) 0.62 against 0.84; ShuffleNet's (3 -> 24)
#: 0.65 against 0.50 and MobileNetV3's (3 -> 16, 64x64) 0.076 against 0.057, their panels part empty.
DIRECT_MIN_DEPTH = 64
#: A piece split by output rows keeps at least this many pixels (per image and group): below it a
#: GEMM's narrow side makes BLAS slow, and the convolution is split by output channels instead.
ROW_SPLIT_MIN_PIXELS = 256
#: A channels-last convolution in tiles splits by output rows while each piece keeps this many pixels
#: (two tiles): the next kernel's pieces (a depthwise convolution's, a pool's) take the same rows on the
#: same threads (``compiled/pool.c``'s shares), reading what their own core wrote.
TILES_ROW_SPLIT_MIN_PIXELS = 2 * DIRECT_ROWS
#: Output channels of a channel-split piece are a multiple of this (BLAS's register-block height).
CHANNEL_ALIGN = 16


def c_job(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: ConvGeometry, group: int, path: str,
          out: np.ndarray, act: Activation | None, in_last: bool, out_last: bool, cache: WeightCache,
          pool: threads.Pool) -> threads.CJob | None:
    """The cached job computing this convolution (bias and the activation, when C has it, included; its
    ``run(pool, x, out, residual)`` adds ``residual``, C-contiguous in ``out``'s layout and shape, before
    the activation),
    or None where it does not apply: no C pool or BLAS address, not float32, an input not contiguous or
    an output (N, M, pixels) or (N, pixels, M) whose rows are not (a channel slice of a joined one is), a
    strided or non-2-D convolution outside a plain 1x1, or an activation C lacks."""
    if (pool.c_handle() is None or not isinstance(blas.sgemm(), tuple) or cache.lib is None
            or not (compiled.f32(x) and compiled.f32(w) and out.dtype == np.float32 and out.strides[2] == 4)
            or (b is not None and not compiled.f32(b)) or (act is not None and act.code is None)):
        return None
    direct = path == "pointwise" and all(s == 1 for s in g.strides)
    if not direct and w.ndim != 4:
        return None
    key = ("c_job", x.shape, out.strides, in_last, out_last, pool.threads, act)
    return cache.get(w, key, lambda: _build(x, w, b, g, group, path, direct, out, act, in_last, out_last, cache,
                                            pool), also=b)


def _build(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: ConvGeometry, group: int, path: str,
           direct: bool, out: np.ndarray, act: Activation | None, in_last: bool, out_last: bool, cache: WeightCache,
           pool: threads.Pool) -> threads.CJob:
    tiles = _tiles(w, group, path, direct, in_last, cache.lib)  # a function of the cache key
    direct = direct and not tiles
    n, m, c = x.shape[0], w.shape[0], x.shape[-1 if in_last else 1]
    cg, mg = c // group, m // group
    pixels = math.prod(g.out_shape)
    keep: list = []
    ctx = np.zeros(len(FIELDS), np.int64)
    fn, ilp64 = blas.sgemm()
    ctx[G["sgemm"]], ctx[G["ilp64"]] = fn, ilp64
    if direct:  # the input is the GEMM operand: rows are pixels
        wk, ones, rows, inner, kp = np.ascontiguousarray(w.reshape(m, cg), np.float32), 0, pixels, 1, cg
    elif tiles:  # direct_conv.h: no columns, the bias in the epilogue
        wk, ones, rows, inner = direct_panels(w, group), 0, g.out_shape[0], g.out_shape[1]
        kp = wk.shape[2]
        q = c_params(x, w, g, group, in_last, cache)
        ctx[G["q"]], ctx[G["qstride"]] = q[0], C_PARAMS
    else:
        ones = int(b is not None)  # the bias rides in the GEMM as a column of the weights
        wk = np.ascontiguousarray(gemm_weights(w, group, b, np.float32, cache, in_last)).reshape(m, -1)
        rows, inner, kp = g.out_shape[0], math.prod(g.out_shape[1:]), wk.shape[1]
        q = c_params(x, w, g, group, in_last, cache)  # per group, one parameter block
        ctx[G["q"]], ctx[G["qstride"]] = q[0], C_PARAMS
    keep.append(wk)
    bias = None if b is None or ones else np.ascontiguousarray(b)
    code, a, bb = (0, 0.0, 0.0) if act is None else (act.code, act.a, act.b)
    fl = np.array([a, bb], np.float64).view(np.int64)
    source = (SRC_INPUT if direct else SRC_DIRECT if tiles == "window" else SRC_DIRECT_INPUT if tiles
              else SRC_OWN_COLUMNS)
    for name, value in (("w", addr(wk)), ("source", source), ("c", c),
                        ("cg", cg), ("m", m), ("mg", mg), ("kp", kp), ("p", pixels), ("inner", inner),
                        ("in_last", in_last), ("out_last", out_last), ("ones", ones),
                        ("bias", 0 if bias is None else addr(bias)), ("act", code), ("a", fl[0]), ("b", fl[1]),
                        ("ldy", out.strides[1] // 4), ("yimg", out.strides[0] // 4)):
        ctx[G[name]] = value
    keep.append(bias)
    work = n * m * pixels * kp
    count = min(pool.threads, max(1, work // threads.MIN_PIECE["c_gemm"]))  # as threads.c_split cuts
    col_block = max(1, min(rows, IM2COL_BLOCK_BYTES // max(1, 4 * kp * inner)))  # rows whose columns fit cache
    units = n * group
    phases: list[tuple[int, int]] = []
    scratch = shared = 0
    lib_gemm = compiled.address("conv", "conv_gemm_piece")
    # the tiles split by rows however few pixels a piece gets where their panels are fewer than the pieces
    # (a 192 -> 32 1x1 over 28x28 at 4 threads ran as one piece)
    by_rows = (count == 1 or pixels * units // count >= ROW_SPLIT_MIN_PIXELS
               or (tiles is not None and (units * -(-mg // DIRECT_COLS) < count
                                          or (out_last and pixels * units // count >= TILES_ROW_SPLIT_MIN_PIXELS))))
    if by_rows:
        # blocks of rows: cache-sized, and at least `count` of them per image, each over all groups, so
        # that thread k writes the rows which thread k's piece of the next kernel reads (pool.c's shares);
        # else (a grouped GEMM would keep too few pixels) at least `count` over all images and groups
        across = pixels * n // count >= ROW_SPLIT_MIN_PIXELS or tiles is not None
        per_unit = max(1, -(-count // (n if across else units)))
        block = max(1, min(col_block if not direct else rows, -(-rows // per_unit)))
        if direct and count == 1:
            block = rows
        tasks = [(i, gi, r0, min(rows, r0 + block), 0, mg) for i in range(n) for gi in range(group)
                 for r0 in range(0, rows, block)]
        if across:
            tasks.sort(key=lambda task: (task[0], task[2]))  # by image, then row block: its groups together
        if tiles == "window":
            scratch = _slab_floats(w, g, block, cg)
        elif not direct and not tiles:
            scratch = kp * block * inner
    else:
        # blocks of output channels over all pixels; an im2col convolution first builds its columns
        per_unit = max(1, -(-count // units))
        align = DIRECT_COLS if tiles else CHANNEL_ALIGN
        step = max(align, -(-mg // per_unit // align) * align) if mg > align else mg
        tasks = [(i, gi, 0, rows, m0, min(mg, m0 + step)) for i in range(n) for gi in range(group)
                 for m0 in range(0, mg, step)]
        if tiles == "window":
            scratch = _slab_floats(w, g, rows, cg)
        elif not direct and not tiles:
            ctx[G["source"]] = SRC_SHARED_COLUMNS
            shared = units * kp * pixels
            col_rows = max(1, -(-rows // per_unit))
            coltasks = np.array([(i, gi, r0, min(rows, r0 + col_rows)) for i in range(n) for gi in range(group)
                                 for r0 in range(0, rows, col_rows)], np.int64)
            keep.append(coltasks)
            ctx[G["coltasks"]] = addr(coltasks)
            scratch = kp * col_rows * inner
            phases.append((compiled.address("conv", "conv_columns_piece"), len(coltasks)))
    task_array = np.array(tasks, np.int64)
    keep.append(task_array)
    ctx[G["tasks"]] = addr(task_array)
    phases.append((lib_gemm, len(tasks)))
    return threads.CJob(ctx, phases, x=G["x"], y=G["y"], r=G["res"], scratch=scratch, shared=shared, keep=tuple(keep))


def _tiles(w: np.ndarray, group: int, path: str, direct: bool, in_last: bool, lib: SimpleNamespace) -> str | None:
    """Which of direct_conv.h's tiles a convolution takes instead of BLAS, where they are compiled:
    ``"window"`` (over a slab of its input rows, channels-last) for a 2-D convolution with a window and a
    deep enough sum or whole panels (:data:`DIRECT_MIN_DEPTH`); ``"input"`` (over the N,H,W,C input itself) for an ungrouped stride-1 1x1 of an
    N,H,W,C input; else None: BLAS.

    The tiles beat BLAS on every N,H,W,C 1x1 measured, on one thread as in pieces: they add the bias and
    activation in registers where BLAS zeroes its output, multiplies, then makes a pass for them, and they
    pack nothing. With OpenBLAS on one thread, as a program runs it: 144 -> 24 channels over 56x56 took
    237 against 285 us here and 282 against 308 on the 16-core host; 192 -> 32 over 28x28 66 against 105
    (host 94 / 130); 320 -> 1280 over 7x7 314 against 570; 1280 -> 1000 over 1x1 174 against 777. A program
    ran MobileNetV2 at 10.8 against 12.2 ms on one thread, ResNet-50 77.8 against 85.7 (in one process).
    Split, OpenBLAS called from several threads at once did worse still (host, four threads: 32 -> 192
    over 28x28 took 306 us in BLAS pieces, 185 in tiles). An N,C,H,W input keeps BLAS: tiles over its
    transposed slab were no faster (ResNet-50, MobileNetV2, ShuffleNet at 4 threads on the host: within
    1-3%), nor are grouped 1x1s, whose few channels per group leave a panel of 32 lanes part empty."""
    if not direct_tiles(lib) or w.ndim != 4:
        return None
    if path != "pointwise":
        whole_panels = (w.shape[0] // group) % DIRECT_COLS == 0
        return "window" if math.prod(w.shape[1:]) >= DIRECT_MIN_DEPTH or whole_panels else None
    return "input" if direct and in_last and group == 1 else None


def direct_tiles(lib: SimpleNamespace) -> bool:
    """Whether conv.c was compiled with direct_conv.h's tiles (AVX-512 here): with 256-bit vectors a
    tile would not fit in the registers, and BLAS runs every convolution."""
    return lib.direct_conv_ready() == 1


def direct_panels(w: np.ndarray, group: int) -> np.ndarray:
    """direct_conv.h's packed weights of an (M, CG, KH, KW) weight: per group, ceil(MG / 32) panels of
    (KH * KW * CG, 32) float32 values in (kh, kw, c) order, zeros past the group's last channel; shaped
    (group, panels, K, 32), its data 64-byte aligned (a panel's rows are then whole cache lines: unaligned,
    two of three layers measured 8-15% slower)."""
    m, cg, kh, kw = w.shape
    mg, k = m // group, kh * kw * cg
    panels = -(-mg // DIRECT_COLS)
    wk = np.zeros((group, k, panels * DIRECT_COLS), np.float32)
    wk[:, :, :mg] = w.reshape(group, mg, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(group, k, mg)
    return compiled.aligned(wk.reshape(group, k, panels, DIRECT_COLS).transpose(0, 2, 1, 3))


def _slab_floats(w: np.ndarray, g: ConvGeometry, rows: int, cg: int) -> int:
    """The floats of direct_conv.h's slab for ``rows`` output rows (direct_slab's rows, width, CG)."""
    (kh, kw), (sh, sw), (dh, dw) = w.shape[2:], g.strides, g.dilations
    width = -(-((g.out_shape[1] - 1) * sw + (kw - 1) * dw + 1) // sw) * sw
    return ((rows - 1) * sh + (kh - 1) * dh + 1) * width * cg
