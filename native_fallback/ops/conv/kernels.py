"""The registered Conv, FusedConv (a Conv with its activation) and ConvConcat kernels."""

from __future__ import annotations

from ... import compiled, registry
from ...ir import Node
from .cache import WeightCache
from .epilogue import Activation, fused_activation
from .forward import conv
from .geometry import layout_flags


@registry.register("Conv", 1)
def conv_kernel(node: Node, opset: int):
    """ONNX Conv."""
    cache, layouts, shuffle = WeightCache(), layout_flags(node), shuffle_of(node)
    return lambda x, w, b=None: (conv(x, w, b, node, cache=cache, **layouts, shuffle=shuffle),)


def shuffle_of(node: Node) -> int:
    """The channel-shuffle groups of a depthwise convolution's input (optimizer/channel_shuffle.py), 0: none."""
    return int(node.attrs.get("shuffle_groups", 0))


def activation_of(node: Node) -> Activation | None:
    """The activation a FusedConv carries (None for a plain Conv): in place in numpy, or in conv.c."""
    if "activation" not in node.attrs:
        return None
    return fused_activation(node.attrs["activation"], node.attrs.get("activation_attrs", {}))


@registry.register("FusedConv", 1, domain=registry.FACADE_DOMAIN)
def fused_conv_kernel(node: Node, opset: int):
    """Conv followed by an activation (the optimizer's fusion pass), or by the Add of a residual input 4
    and then the activation, if any (``residual_add``)."""
    act, cache, layouts, shuffle = activation_of(node), WeightCache(), layout_flags(node), shuffle_of(node)
    return lambda x, w, b=None, r=None: (conv(x, w, b, node, act, cache, residual=r, **layouts, shuffle=shuffle),)


@registry.register("ConvConcat", 1, domain=registry.FACADE_DOMAIN)
def conv_concat_kernel(node: Node, opset: int):
    """Convolutions joined by a channel Concat (the CPU pass ``concat_convs``): each GEMM writes
    its slice of the joined output, so the Concat's copy is never made.

    Inputs are (x, w, b) per convolution, b empty when absent; ``node.attrs["convs"]``
    holds the convolution nodes, whose layout flags all agree.
    """
    parts = [(part, activation_of(part), WeightCache(), layout_flags(part)) for part in node.attrs["convs"]]
    out_last = parts[0][3]["out_last"]

    def run(*args):
        plans = [cache.plan(part, x.shape, x.dtype, w, **layouts)
                 for (part, _, cache, layouts), x, w in zip(parts, args[0::3], args[1::3], strict=True)]
        n, pixels = (plans[0].alloc[0], plans[0].alloc[1 if out_last else 2])
        if any((p.alloc[0], p.alloc[1 if out_last else 2]) != (n, pixels) for p in plans):
            raise ValueError(f"joined convolutions disagree on output shape: {[p.result for p in plans]}")
        total = sum(p.alloc[2 if out_last else 1] for p in plans)
        joined = compiled.empty((n, pixels, total) if out_last else (n, total, pixels), args[0].dtype)
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
