"""General convolution: im2col in blocks of output rows, each block one GEMM."""

from __future__ import annotations

import math

import numpy as np

from ... import compiled, threads
from .cache import WeightCache, gemm_weights
from .epilogue import Epilogue, addr
from .geometry import ConvGeometry, pad_spatial, windows, windows_last

#: im2col column matrices above this many bytes are built block by block. A block this size is still in
#: cache when its GEMM reads it: ResNet-50's 7x7 stem (a 7.4 MB column matrix) runs 1.3x faster than in
#: 8 MB blocks, and smaller layers do not change (measured).
IM2COL_BLOCK_BYTES = 2 << 20
#: int64 fields of one group's im2col parameter block (conv.c's Q_* and I_* indices).
C_PARAMS = 15


def im2col_gemm(x: np.ndarray, w: np.ndarray, group: int, g: ConvGeometry, out: np.ndarray,
                 in_last: bool = False, out_last: bool = False, b: np.ndarray | None = None,
                 cache: WeightCache | None = None, epilogue: Epilogue | None = None) -> bool:
    """General convolution of the unpadded ``x``: im2col in blocks of the first output axis, then GEMM.

    The column matrix is a copy anyway, so it gets one more row of ones and the
    bias rides in the GEMM as one more weight column (returns whether it did).
    A channels-last output is the same GEMM with its operands swapped and transposed.
    A channels-last (2-D) input is copied pixel-major, one (kh, kw, c) row per
    output pixel: a kernel row's kw*C values are contiguous in N,H,W,C, so the
    copy runs over kw*C values at a time instead of one output row's OW: 4-9% less
    time for im2col + GEMM on SqueezeNet's 3x3 expansions over 27x27 and 13x13 and
    ResNet's strided 3x3s (measured; the layout pass decides where it pays).
    ``epilogue`` (the bias then rides in the GEMM anyway) runs the activation over each
    block right after its GEMM (ungrouped), or over the whole output at the end (grouped).
    With conv.c (``cache.lib``, a float32 2-D convolution) a block's columns are one C call
    from the unpadded input, zeros for taps in the padding: no padded copy, no strided view.
    """
    kernel = tuple(w.shape[2:])
    n, c = x.shape[0], x.shape[-1 if in_last else 1]
    m = w.shape[0]
    cg, mg = c // group, m // group
    k = cg * math.prod(kernel)
    biased = b is not None
    w3 = gemm_weights(w, group, b, out.dtype, cache, in_last)
    lib = None if cache is None or len(kernel) != 2 or not compiled.f32(x) or out.dtype != np.float32 else cache.lib
    if lib is None:
        xp = pad_spatial(x, g, channels_last=in_last)
        view = windows_last(xp, kernel, g) if in_last else windows(xp, kernel, g)
    else:
        params, xa = c_params(x, w, g, group, in_last, cache), addr(x)
        im2col_c = lib.im2col_nhwc if in_last else lib.im2col_nchw
    rows = g.out_shape[0]
    inner = math.prod(g.out_shape[1:])
    block = max(1, min(rows, IM2COL_BLOCK_BYTES // max(1, k * inner * x.itemsize)))
    o = out.reshape(n, rows * inner, group, mg) if out_last else out.reshape(n, group, mg, rows * inner)
    nd = len(kernel)
    after = None if epilogue is None else epilogue.without_bias() if biased else epilogue
    per_block = after if group == 1 else None

    def run(i: int, gi: int, r0: int, r1: int) -> None:
        channels = slice(gi * cg, (gi + 1) * cg)
        pixels = slice(r0 * inner, r1 * inner)
        shape = ((r1 - r0) * inner, k + biased) if in_last else (k + biased, (r1 - r0) * inner)
        cols = threads.scratch("im2col", shape, out.dtype)
        if lib is not None:
            im2col_c(xa, addr(cols), params[gi], i, r0, r1, biased)
        elif in_last:  # (pixels, K [+ ones]): GEMM operands swap sides
            patch = view[i, r0:r1, ..., channels]
            cols[:, :k].reshape(patch.shape)[...] = patch
            if biased:
                cols[:, k] = 1
        else:
            patch = view[(i, channels, *(slice(None),) * nd, slice(r0, r1))]
            cols[:k].reshape(patch.shape)[...] = patch
            if biased:
                cols[k] = 1
        lhs, rhs = (cols if in_last else cols.T), w3[gi].T
        if out_last:
            np.matmul(lhs, rhs, out=o[i, pixels, gi])
        else:
            np.matmul(rhs.T, lhs.T, out=o[i, gi, :, pixels])
        if per_block is not None:
            per_block.pixels(out[i], pixels.start, pixels.stop)

    # The engine's threads take blocks of output rows (BLAS stays at one thread): at least one block each.
    pool, count = threads.split("gemm", out.size * k, n * group * rows)
    if pool is not None:
        block = min(block, max(1, -(-n * group * rows // count) // (n * group)))
    tasks = [(i, gi, r0, min(rows, r0 + block)) for i in range(n) for gi in range(group)
             for r0 in range(0, rows, block)]
    if pool is None:
        for task in tasks:
            run(*task)
    else:
        pool.map(lambda t: run(*tasks[t]), len(tasks))
    if after is not None and per_block is None:
        after.whole(out)
    return biased or after is not None


def c_params(x: np.ndarray, w: np.ndarray, g: ConvGeometry, group: int, in_last: bool,
              cache: WeightCache) -> list[int]:
    """Per group, the address of conv.c's im2col parameter block for inputs like ``x`` (the blocks are
    rows of one array, :data:`C_PARAMS` int64 apart; built once per weight and input shape, kept alive
    by ``cache``)."""
    def make() -> tuple:
        c = x.shape[-1 if in_last else 1]
        spatial = x.shape[1:3] if in_last else x.shape[2:]
        blocks = np.array([[*spatial, c // group, *g.out_shape, *w.shape[2:], *g.strides, *g.dilations,
                             *g.pads_begin, gi * (c // group), c] for gi in range(group)], dtype=np.int64)
        return blocks, [addr(blocks) + gi * blocks.strides[0] for gi in range(group)]
    return cache.get(w, ("im2col_c", in_last, x.shape), make)[1]
