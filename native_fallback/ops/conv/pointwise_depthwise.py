"""PointwiseDepthwise: a 1x1 convolution whose GEMM writes the padded input phases of the
depthwise convolution that reads it (the CPU pass ``pointwise_depthwise``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ... import registry, threads
from ...ir import Node
from .cache import WeightCache, gemm_weights
from .depthwise import depthwise_phases, phase_columns, zero_border
from .forward import add_bias, conv
from .geometry import ConvGeometry, layout_flags
from .kernels import activation_of
from .plan import ConvPlan


def pointwise_phases(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, act: Callable | None, in_last: bool,
                      g: ConvGeometry, dtype: np.dtype, cache: WeightCache | None) -> list[np.ndarray]:
    """A 1x1 convolution (stride 1) computed straight into the column phases of the depthwise
    convolution with geometry ``g`` that reads it: what :func:`column_phases` would copy its output into.

    The GEMM input is copied in each phase's pixel order (its ones row folding the bias), zeros at
    the padding, ones row included, so the GEMM writes the padding as exact zeros and the phases' copy
    of the block's largest tensor is never made. ``act`` must map 0 to 0.
    """
    n, m = x.shape[0], w.shape[0]
    cin = x.shape[-1] if in_last else x.shape[1]
    h, wd = x.shape[1:3] if in_last else x.shape[2:]
    (pt, _), (pb, _) = g.pads_begin, g.pads_end
    cols, parts = phase_columns(wd, g)
    rows = h + pt + pb
    k = cin + (b is not None)
    wb = gemm_weights(w, 1, b, dtype, cache)[0]
    phases = []
    for q0, q1, source in parts:
        src = x[:, :, source] if in_last else x[..., source]
        xb = np.empty((rows, cols, k) if in_last else (k, rows, cols), dtype=dtype)
        planes = xb.transpose(2, 0, 1) if in_last else xb  # (k, rows, cols) either way
        zero_border(planes, pt, h, q0, q1)
        if b is not None:
            planes[cin, pt: pt + h, q0:q1] = 1
        lhs = xb.reshape(rows * cols, k) if in_last else xb.reshape(k, rows * cols).T
        phase = np.empty((n, rows, cols, m), dtype=dtype)
        for i in range(n):
            if in_last:
                xb[pt: pt + h, q0:q1, :cin] = src[i]
            else:
                xb[:cin, pt: pt + h, q0:q1] = src[i]
            flat = phase[i].reshape(rows * cols, m)

            def gemm(p0: int, p1: int, lhs: np.ndarray = lhs, flat: np.ndarray = flat) -> None:
                np.matmul(lhs[p0:p1], wb.T, out=flat[p0:p1])  # the engine's threads take pixel ranges
            threads.over_ranges("gemm", flat.size * k, rows * cols, gemm)
        phases.append(phase if act is None else threads.in_place(act, phase))
    return phases


#: PointwiseDepthwise writes the padded phases only while they hold at most this many pixels per
#: input pixel, since its GEMM computes the padding too: 4% more work at 112x112 and 7% at 56x56
#: (measured: the block 14% and 2-10% faster), 15% at 28x28 (3-6% slower: the copy saved is smaller).
PHASES_MAX_PADDED_RATIO = 1.1


@registry.register("PointwiseDepthwise", 1, domain=registry.FACADE_DOMAIN)
def pointwise_depthwise_kernel(node: Node, opset: int):
    """A 1x1 convolution whose only reader is a depthwise one, both channels-last between them (the CPU
    pass ``pointwise_depthwise``): the 1x1's GEMM writes the depthwise's padded input phases.

    Inputs are (x, w, b) of the 1x1 then (w, b) of the depthwise, b empty when absent;
    ``node.attrs["convs"]`` holds both nodes. A float16 input, padding too large for the
    spatial size, or a float32 input with conv.c available (its depthwise kernel needs no padded
    copy, so there is none to save) runs the two convolutions one after the other.
    """
    first, second = node.attrs["convs"]
    act1, act2 = activation_of(first), activation_of(second)
    cache1, cache2 = WeightCache(), WeightCache()
    flags1, flags2 = layout_flags(first), layout_flags(second)

    decided: dict[tuple, ConvPlan | None] = {}

    def depthwise_plan(x: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> ConvPlan | None:
        """The depthwise convolution's plan when the 1x1 can write its phases, else None."""
        p1 = cache1.plan(first, x.shape, x.dtype, w1, **flags1)
        (h, wd), m = p1.g.out_shape, w1.shape[0]
        p2 = cache2.plan(second, (x.shape[0], h, wd, m), x.dtype, w2, **flags2)
        cols, parts = phase_columns(wd, p2.g)
        padded = (h + p2.g.pads_begin[0] + p2.g.pads_end[0]) * cols * len(parts)
        if cache2.lib is not None and x.dtype == np.float32:
            return None  # conv.c's depthwise reads the unpadded 1x1 output, skipping taps in the padding
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
        phases = pointwise_phases(x, w1, b1, act1, flags1["in_last"], p2.g, x.dtype, cache1)
        out = np.empty(p2.alloc, dtype=x.dtype)
        depthwise_phases(phases, w2, p2.g, out, flags2["out_last"], cache2)
        if b2 is not None:
            add_bias(out, b2, p2.g.out_shape[-1], flags2["out_last"], w2, cache2)
        out = out.reshape(p2.result)
        return (out if act2 is None else threads.in_place(act2, out),)
    return run
