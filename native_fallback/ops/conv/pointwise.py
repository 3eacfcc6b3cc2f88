"""1x1 convolution: one GEMM per image (batched over groups), either side channels-last."""

from __future__ import annotations

import math

import numpy as np

from ... import threads
from .cache import WeightCache, gemm_weights
from .epilogue import Epilogue
from .geometry import ConvGeometry

#: A 1x1 convolution folds its bias into the GEMM (a row of ones under a copy of the input, the bias
#: as one more weight column) from this many output channels per input channel: the copy then costs
#: less than a pass over the output (13-28% faster on MobileNetV2's expansions, measured).
BIAS_FOLD_MIN_EXPANSION = 2


def pointwise(x: np.ndarray, w: np.ndarray, group: int, g: ConvGeometry, out: np.ndarray,
               in_last: bool = False, out_last: bool = False, b: np.ndarray | None = None,
               cache: WeightCache | None = None, epilogue: Epilogue | None = None) -> bool:
    """1x1 convolution as one (batched over groups) GEMM per image, subsampled first when strided.

    Either side may be channels-last: that only transposes a GEMM operand, which
    BLAS takes as a flag, so the layout change costs nothing here. Returns
    whether the bias was added (folded into the GEMM of an expanding convolution,
    or by ``epilogue``, which each piece runs over its pixels right after its GEMM;
    with one the bias is never folded, the epilogue's pass adds it for free).
    """
    if any(s != 1 for s in g.strides):
        steps = tuple(slice(None, None, s) for s in g.strides)
        x = x[(slice(None), *steps, slice(None))] if in_last else x[(slice(None), slice(None), *steps)]
    n, m = x.shape[0], w.shape[0]
    cg, mg = w.shape[1], m // group
    w3 = w.reshape(group, mg, cg)
    pixels = math.prod(x.shape[1:-1] if in_last else x.shape[2:])
    fold = epilogue is None and b is not None and group == 1 and m >= BIAS_FOLD_MIN_EXPANSION * cg
    wb = gemm_weights(w, 1, b, out.dtype, cache)[0] if fold else None

    def gemm(xi: np.ndarray, oi: np.ndarray, p0: int, p1: int) -> None:
        """Pixels p0..p1 of one image's output ``oi`` from its input ``xi``."""
        if fold:  # the input's copy beside a ones vector, in its own layout: (pixels, K+1) or (K+1, pixels)
            xb = threads.scratch("pointwise", (p1 - p0, cg + 1) if in_last else (cg + 1, p1 - p0), out.dtype)
            if in_last:
                xb[:, :cg], xb[:, cg], lhs = xi[p0:p1], 1, xb
            else:
                xb[:cg], xb[cg], lhs = xi[:, p0:p1], 1, xb.T
            if out_last:
                np.matmul(lhs, wb.T, out=oi[p0:p1])
            else:
                np.matmul(wb, lhs.T, out=oi[:, p0:p1])
            return
        # (group, cg, pixels) either way: channels-last input is read through a transposed view.
        xs = (xi[p0:p1].reshape(-1, group, cg).transpose(1, 2, 0) if in_last
              else xi[:, p0:p1].reshape(group, cg, -1))
        if out_last:
            np.matmul(xs.transpose(0, 2, 1), w3.transpose(0, 2, 1),
                      out=oi[p0:p1].reshape(-1, group, mg).transpose(1, 0, 2))
        else:
            np.matmul(w3, xs, out=oi[:, p0:p1].reshape(group, mg, -1))

    for i in range(n):
        # (pixels, C) or (C, pixels); the engine's threads take ranges of pixels (BLAS at one thread).
        xi = x[i].reshape(pixels, -1) if in_last else x[i].reshape(-1, pixels)
        oi = out[i]

        def run(p0: int, p1: int, xi: np.ndarray = xi, oi: np.ndarray = oi) -> None:
            gemm(xi, oi, p0, p1)
            if epilogue is not None:
                epilogue.pixels(oi, p0, p1)

        threads.over_ranges("gemm", oi.size * cg, pixels, run)
    return fold or (epilogue is not None and b is not None)
