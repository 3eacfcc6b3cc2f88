"""SqueezeExcite: x times a channel scale computed from x's global mean by two 1x1 convolutions
(the CPU pass ``squeeze_excite``), one conv.c call on float32."""

from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Node
from .conv.cache import WeightCache
from .conv.epilogue import act_args, addr, c_ready
from .conv.forward import conv
from .conv.kernels import activation_of
from .pool import global_mean


def _block(x: np.ndarray, acts: list, weights: tuple) -> tuple[tuple, int]:
    """conv.c's parameter block for this block's weights and input shape (see ``S_*``): the arrays to
    keep alive, and the block's address."""
    w1, b1, w2, b2 = weights
    m, c = w1.shape[:2]
    held = [np.ascontiguousarray(w1.reshape(m, c)), None if b1 is None else np.ascontiguousarray(b1),
            np.ascontiguousarray(w2.reshape(c, m)), None if b2 is None else np.ascontiguousarray(b2)]
    fields = [c, x[0, 0].size, m, *(0 if a is None else addr(a) for a in held)]
    for act in acts:
        code, a, b = act_args(act)
        fields += [code, *np.array([a, b], np.float32).view(np.int32)]
    q = np.array(fields, dtype=np.int64)
    return (held, q), addr(q)


@registry.register("SqueezeExcite", 1, domain=registry.FACADE_DOMAIN)
def squeeze_excite_kernel(node: Node, opset: int):
    """``x * act2(conv2(act1(conv1(GlobalAveragePool(x)))))`` with 1x1 convolutions.

    Inputs are (x, w1, b1, w2, b2), b empty when absent; ``node.attrs["convs"]`` holds both
    convolution nodes. Float32 with conv.c runs as one C call per input shape (MobileNetV3's
    excite blocks were four steps of 5 us each); anything else runs the four kernels it replaced.
    """
    convs = node.attrs["convs"]
    acts = [activation_of(c) for c in convs]
    caches = [WeightCache(), WeightCache()]
    lib = caches[0].lib
    blocks: dict = {}

    def run(x, w1, b1=None, w2=None, b2=None):
        weights = (w1, b1, w2, b2)
        key = (x.shape, x.dtype, x.flags.c_contiguous, *map(id, weights))
        hit = blocks.get(key)
        if hit is None:
            blocks.clear()  # one input shape at a time; the entry holds the weights, so their ids stay theirs
            ready = (c_ready(lib, x, *weights) and x.ndim == 4 and x.size
                     and all(a is None or a.code is not None for a in acts))
            hit = blocks[key] = (weights, _block(x, acts, weights) if ready else None)
        if hit[1] is not None:
            y = np.empty_like(x)
            lib.squeeze_excite(addr(x), addr(y), hit[1][1], 0, x.shape[0])
            return (y,)
        s = global_mean(x)
        for part, act, cache, w, b in zip(convs, acts, caches, (w1, w2), (b1, b2), strict=True):
            s = conv(s, w, b, part, act, cache)
        return (x * s,)
    return run
