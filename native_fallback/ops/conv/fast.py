"""Convolutions specialised once per input shape and pool: a C pool job (a GEMM or depthwise convolution,
split across the program's threads or not) run as it is; unsplit, a 1x1 convolution as one matmul and conv.c's
bias + activation, a depthwise one as one conv.c call.

Why: a small model's convolutions take microseconds of arithmetic (MobileNetV3 at 64x64: a 16x16x1
SE convolution is a 16x8 GEMV) and ten or more of Python: the plan lookup, the algorithm dispatch,
the thread split, the bias and the activation each check and reshape their operands on every call.
Here all of that is decided at the first call for an input shape and a weight, and the closure
kept does only what must happen per run: allocate, one job, matmul or C call, one epilogue call.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ... import compiled, threads
from .c_job import c_job
from .cache import WeightCache, gemm_weights
from .depthwise import c_operands, depthwise_job
from .epilogue import Activation, Epilogue, addr
from .im2col import IM2COL_BLOCK_BYTES, c_params
from .plan import ConvPlan

Fast = Callable[[np.ndarray], np.ndarray]


def specialise(plan: ConvPlan, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, act: Activation | None,
               in_last: bool, out_last: bool, cache: WeightCache) -> Fast | None:
    """The closure computing this convolution for inputs like ``x`` (shape, float32, C-contiguous) on the
    running program's pool, or None when it needs the general path: its activation is not in C, or it is
    neither a C pool job (a GEMM convolution's, a depthwise one's) nor, unsplit, an unstrided ungrouped 1x1
    or an ungrouped 2-D im2col whose columns fit one block.

    A split job takes this path too: the general one spent about 20 us of Python per call on a 2-vCPU VM
    (a depthwise convolution over 14x14x384: 52 us a call, 30 of them in the job), which the split
    kernels of a threaded program paid and the unsplit ones of a one-thread program did not.
    """
    if act is not None and act.code is None:
        return None
    lib, n, alloc, result = cache.lib, x.shape[0], plan.alloc, plan.result
    depthwise = plan.path.startswith("depthwise")
    work = math.prod(alloc) * (1 if depthwise else math.prod(w.shape[1:]))  # as the C pool's MIN_PIECE counts
    split = threads.split("c_depthwise" if depthwise else "c_gemm", work)[0]
    job = None
    if plan.path in ("pointwise", "im2col"):
        pool = split or threads.pool(1)  # unsplit: its job runs in the caller, on any program's pool
        job = c_job(x, w, b, plan.g, plan.group, plan.path, compiled.empty(alloc), act, in_last, out_last,
                    cache, pool)
    elif depthwise:
        pool, job = depthwise_job(x, w, b, plan.g, math.prod(alloc), in_last, out_last, act, cache) or (None, None)
    if job is not None:
        def pool_job(x: np.ndarray) -> np.ndarray:
            out = compiled.empty(alloc)
            job.run(pool, x, out)
            return out.reshape(result)
        return pool_job
    if split is not None:  # the general path splits it on the Python pool
        return None
    if plan.path == "im2col":
        return _im2col(plan, x, w, b, act, in_last, out_last, cache)
    if depthwise:
        if out_last and not in_last:
            return None
        q, oh = c_operands(x, w, b, plan.g, in_last, out_last, act, cache), plan.g.out_shape[0]

        def depthwise_call(x: np.ndarray) -> np.ndarray:
            out = compiled.empty(alloc)
            xp, yp = addr(x), addr(out)
            if in_last:
                for i in range(n):
                    lib.dw_nhwc(xp, yp, q, i, 0, oh)
            else:
                lib.dw_nchw(xp, yp, q, 0, n * w.shape[0])
            return out.reshape(result)
        return depthwise_call
    if plan.path != "pointwise" or plan.group != 1 or any(s != 1 for s in plan.g.strides):
        return None
    lib, m, c = cache.lib, w.shape[0], w.shape[1]
    w2 = np.ascontiguousarray(w.reshape(m, c))
    rhs = w2.T if out_last else w2  # out (n, P, m) = x (n, P, c) @ w.T, or out (n, m, P) = w @ x (n, c, P)
    epilogue = Epilogue(lib, b, act, out_last)
    pixels = alloc[1] if out_last else alloc[2]

    def pointwise(x: np.ndarray) -> np.ndarray:
        x3 = x.reshape(n, -1, c) if in_last else x.reshape(n, c, -1)
        out = compiled.empty(alloc)
        if out_last:
            np.matmul(x3 if in_last else x3.transpose(0, 2, 1), rhs, out=out)
        else:
            np.matmul(rhs, x3.transpose(0, 2, 1) if in_last else x3, out=out)
        for oi in out:
            epilogue.pixels(oi, 0, pixels)
        return out.reshape(result)
    return pointwise


def _im2col(plan: ConvPlan, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, act: Activation | None,
            in_last: bool, out_last: bool, cache: WeightCache) -> Fast | None:
    """An ungrouped 2-D convolution as conv.c's im2col of each whole image (the bias, if any, as a ones
    row), one matmul and the epilogue: the small stems of mobile networks (MobileNetV3's 3x3 over 64x64)."""
    ones = int(b is not None)
    k = math.prod(w.shape[1:])
    pixels = math.prod(plan.g.out_shape)
    if plan.group != 1 or w.ndim != 4 or (k + ones) * pixels * x.itemsize > IM2COL_BLOCK_BYTES:
        return None
    lib, n, alloc, result, rows = cache.lib, x.shape[0], plan.alloc, plan.result, plan.g.out_shape[0]
    w3 = gemm_weights(w, 1, b, np.float32, cache, in_last)[0]  # (M, K [+ 1]): the bias as column K
    q = c_params(x, w, plan.g, 1, in_last, cache)[0]
    im2col = lib.im2col_nhwc if in_last else lib.im2col_nchw
    epilogue = Epilogue(lib, None, act, out_last)
    shape = (pixels, k + ones) if in_last else (k + ones, pixels)

    def run(x: np.ndarray) -> np.ndarray:
        out = compiled.empty(alloc)
        cols = threads.scratch("im2col", shape, np.float32)
        xp, cp = addr(x), addr(cols)
        lhs = cols if in_last else cols.T  # (pixels, K [+ 1]) either way
        for i in range(n):
            im2col(xp, cp, q, i, 0, rows, ones)
            if out_last:
                np.matmul(lhs, w3.T, out=out[i])
            else:
                np.matmul(w3, lhs.T, out=out[i])
            epilogue.pixels(out[i], 0, pixels)
        return out.reshape(result)
    return run
