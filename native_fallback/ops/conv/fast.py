"""Convolutions small enough to run as one piece, specialised once per input shape: a 1x1 convolution
as one matmul and conv.c's bias + activation, a depthwise one as one conv.c call.

Why: a small model's convolutions take microseconds of arithmetic (MobileNetV3 at 64x64: a 16x16x1
SE convolution is a 16x8 GEMV) and ten or more of Python: the plan lookup, the algorithm dispatch,
the thread split, the bias and the activation each check and reshape their operands on every call.
Here all of that is decided at the first call for an input shape and a weight, and the closure
kept does only what must happen per run: allocate, one matmul or C call, one epilogue call.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ... import threads
from .epilogue import Activation, Epilogue, addr
from .plan import ConvPlan

Fast = Callable[[np.ndarray], np.ndarray]


def specialise(plan: ConvPlan, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, act: Activation | None,
               in_last: bool, out_last: bool, lib, depthwise_operands: Callable[[], tuple]) -> Fast | None:
    """The closure computing this convolution for inputs like ``x`` (shape, float32, C-contiguous),
    or None when it needs the general path: it would be split across the engine's threads, its
    activation is not in C, or it is neither an unstrided ungrouped 1x1 nor a depthwise convolution.

    ``depthwise_operands()`` gives the address of conv.c's depthwise parameter block.
    """
    if act is not None and act.code is None:
        return None
    n, alloc, result = x.shape[0], plan.alloc, plan.result
    kind = "gemm" if plan.path == "pointwise" else "depthwise"
    work = math.prod(alloc) * (w.shape[1] if kind == "gemm" else 1)
    if threads.split(kind, work)[0] is not None:
        return None
    if plan.path.startswith("depthwise"):
        if out_last and not in_last:
            return None
        q, oh = depthwise_operands(), plan.g.out_shape[0]

        def depthwise(x: np.ndarray) -> np.ndarray:
            out = np.empty(alloc, np.float32)
            xp, yp = addr(x), addr(out)
            if in_last:
                for i in range(n):
                    lib.dw_nhwc(xp, yp, q, i, 0, oh)
            else:
                lib.dw_nchw(xp, yp, q, 0, n * w.shape[0])
            return out.reshape(result)
        return depthwise
    if plan.path != "pointwise" or plan.group != 1 or any(s != 1 for s in plan.g.strides):
        return None
    m, c = w.shape[:2]
    w2 = np.ascontiguousarray(w.reshape(m, c))
    rhs = w2.T if out_last else w2  # out (n, P, m) = x (n, P, c) @ w.T, or out (n, m, P) = w @ x (n, c, P)
    epilogue = Epilogue(lib, b, act, out_last)
    pixels = alloc[1] if out_last else alloc[2]

    def pointwise(x: np.ndarray) -> np.ndarray:
        x3 = x.reshape(n, -1, c) if in_last else x.reshape(n, c, -1)
        out = np.empty(alloc, np.float32)
        if out_last:
            np.matmul(x3 if in_last else x3.transpose(0, 2, 1), rhs, out=out)
        else:
            np.matmul(rhs, x3.transpose(0, 2, 1) if in_last else x3, out=out)
        for oi in out:
            epilogue.pixels(oi, 0, pixels)
        return out.reshape(result)
    return pointwise
