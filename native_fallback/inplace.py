"""In-place execution of elementwise operators over inputs that die at that step.

Writing a Relu or a residual Add over its own input saves one allocation and one
pass over memory per call. It is only safe when the input buffer is *owned* by
the graph (a fresh array some compute kernel allocated, never a view of a feed,
a constant or another live value) and nothing reads it afterwards; the program
decides both at compile time, and the shapes are re-checked on every call.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .ops.elementwise import clamp

#: Operators whose kernels always return a newly allocated array (never a view or an input).
FRESH_OUTPUT_OPS = frozenset({
    "Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Sigmoid",
    "Tanh", "BatchNormalization", "MaxPool", "AveragePool", "GlobalAveragePool", "Concat", "LeakyRelu",
    "HardSwish", "Softmax", "ConvTranspose", "ConvConcat", "PointwiseDepthwise", "SqueezeExcite",
})


def _binary(ufunc: np.ufunc) -> Callable[[list, int], tuple]:
    def run(args: list, target: int) -> tuple | None:
        a, b = args
        if a.shape != b.shape and np.broadcast_shapes(a.shape, b.shape) != args[target].shape:
            return None
        if a.dtype != b.dtype or a.dtype.kind != "f" or (target == 1 and ufunc not in (np.add, np.multiply)):
            return None
        other = args[1 - target]
        return (ufunc(args[target], other, out=args[target]),)
    return run


def _relu(args: list, target: int) -> tuple:
    x = args[0]
    return (clamp(x, 0, None, out=x),)


def _sum(args: list, target: int) -> tuple | None:
    acc = args[target]
    if acc.dtype.kind != "f" or any(x.shape != acc.shape or x.dtype != acc.dtype for x in args):
        return None
    for i, x in enumerate(args):
        if i != target:
            np.add(acc, x, out=acc)
    return (acc,)


#: op -> kernel(args, index of the argument to overwrite) returning outputs, or None to decline.
IN_PLACE_KERNELS: dict[str, Callable[[list, int], tuple | None]] = {
    "Relu": _relu, "Add": _binary(np.add), "Sub": _binary(np.subtract), "Mul": _binary(np.multiply),
    "Div": _binary(np.divide), "Sum": _sum,
}
